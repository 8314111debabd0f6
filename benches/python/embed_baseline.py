#!/usr/bin/env python3
"""Baseline embedding throughput/latency: sentence-transformers on PyTorch CPU.

Measures all-MiniLM-L6-v2 sentences/second at batch sizes 1, 8, 32, 128 on short
(~12 tokens) and paragraph (~120 tokens) inputs, plus single short-query latency
(p50/p99 over 200 runs after warm-up), with torch.set_num_threads(2). Prints one
JSON object on stdout.

Inputs come from benches/data/short.txt and benches/data/paragraph.txt (one input per
line; the Rust benchmark reads the same files). If they are missing they are generated
deterministically from the word lists below and written there.

Usage (sentence-transformers and torch are NOT project requirements):
    python3 -m venv /tmp/st-venv && /tmp/st-venv/bin/pip install sentence-transformers torch
    /tmp/st-venv/bin/python benches/python/embed_baseline.py MODEL_DIR
"""

import json
import os
import sys
import time

N_INPUTS = 256
BATCH_SIZES = (1, 8, 32, 128)
MIN_SECONDS = 3.0  # repeat each throughput measurement until at least this long
QUERY_WARMUP = 20
QUERY_RUNS = 200

BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA_DIR = os.path.join(BENCH_DIR, "data")

SUBJECTS = ["my neighbour", "the old baker", "our teacher", "a young cyclist", "the night nurse",
            "her brother", "the postman", "a tired student", "the shop owner", "my aunt",
            "the gardener", "a quiet child", "the bus driver", "his cousin", "the librarian", "our guest"]
VERBS = ["painted", "repaired", "carried", "found", "cleaned", "sold", "borrowed", "cooked",
         "moved", "photographed", "planted", "wrapped", "described", "measured", "opened", "ordered"]
ADJS = ["red", "heavy", "wooden", "broken", "fresh", "tiny", "noisy", "shiny", "warm", "old",
        "striped", "empty", "soft", "bright", "rusty", "narrow"]
NOUNS = ["bicycle", "kettle", "garden gate", "basket", "window", "lamp", "bookshelf", "umbrella",
         "teapot", "fence", "blanket", "suitcase", "ladder", "mirror", "cabinet", "wheelbarrow"]
PLACES = ["before lunch", "after the rain", "on Sunday morning", "near the station", "by the river",
          "in the kitchen", "at the market", "behind the school", "late last night", "during the storm",
          "next to the church", "in the back yard", "on the balcony", "at the corner shop",
          "before sunset", "in early spring"]


class Lcg:
    """Tiny deterministic PRNG (64-bit LCG) so the inputs never depend on a library version."""

    def __init__(self, seed):
        self.state = seed & 0xFFFFFFFFFFFFFFFF

    def pick(self, items):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) & 0xFFFFFFFFFFFFFFFF
        return items[(self.state >> 33) % len(items)]


def sentence(rng):
    return "%s %s the %s %s %s." % (rng.pick(SUBJECTS).capitalize(), rng.pick(VERBS), rng.pick(ADJS),
                                     rng.pick(NOUNS), rng.pick(PLACES))


def generate(kind):
    rng = Lcg(12345 if kind == "short" else 67890)
    seen, out = set(), []
    while len(out) < N_INPUTS:
        text = sentence(rng) if kind == "short" else " ".join(sentence(rng) for _ in range(11))
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def load_inputs(kind):
    path = os.path.join(DATA_DIR, kind + ".txt")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            lines = [line.rstrip("\n") for line in f if line.strip()]
        return lines
    lines = generate(kind)
    os.makedirs(DATA_DIR, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return lines


def throughput(model, texts, batch_size):
    model.encode(texts[: batch_size * 2], batch_size=batch_size, show_progress_bar=False)  # warm-up
    done, elapsed = 0, 0.0
    while elapsed < MIN_SECONDS:
        t0 = time.perf_counter()
        model.encode(texts, batch_size=batch_size, show_progress_bar=False)
        elapsed += time.perf_counter() - t0
        done += len(texts)
    return round(done / elapsed, 2)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: embed_baseline.py MODEL_DIR")
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    model = SentenceTransformer(sys.argv[1], device="cpu")
    model.max_seq_length = 256
    inputs = {kind: load_inputs(kind) for kind in ("short", "paragraph")}

    result = {}
    with torch.inference_mode():
        for kind, texts in inputs.items():
            toks = [len(model.tokenizer(t)["input_ids"]) for t in texts]
            result[kind + "_mean_tokens"] = round(sum(toks) / len(toks), 1)
            result[kind] = {str(bs): throughput(model, texts, bs) for bs in BATCH_SIZES}
        queries = inputs["short"]
        for i in range(QUERY_WARMUP):
            model.encode(queries[i], show_progress_bar=False)
        times = []
        for i in range(QUERY_RUNS):
            t0 = time.perf_counter()
            model.encode(queries[i % len(queries)], show_progress_bar=False)
            times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    result["single_query_ms"] = {
        "p50": round(times[len(times) // 2], 3),
        "p99": round(times[min(len(times) - 1, int(len(times) * 0.99))], 3),
    }
    result["torch"] = torch.__version__
    result["threads"] = torch.get_num_threads()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
