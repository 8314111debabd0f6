-- Omnex schema for PostgreSQL. Applied at startup or by `omnex migrate`.

CREATE TABLE IF NOT EXISTS omnex_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- "C" collation: listings page in byte order, the same on every server.
CREATE TABLE IF NOT EXISTS contexts (
    namespace  TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    id         UUID        NOT NULL,
    value      JSONB       NOT NULL,
    tags       TEXT[]      NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    version    BIGINT      NOT NULL,
    expires_at TIMESTAMPTZ,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS contexts_tags ON contexts USING GIN (tags);
CREATE INDEX IF NOT EXISTS contexts_updated ON contexts (updated_at);
CREATE INDEX IF NOT EXISTS contexts_expires ON contexts (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS memories (
    id         UUID        PRIMARY KEY,
    namespace  TEXT        NOT NULL,
    user_id    TEXT,
    agent_id   TEXT,
    session_id TEXT,
    content    TEXT        NOT NULL,
    metadata   JSONB       NOT NULL DEFAULT '{}',
    -- Little-endian f32s: the store keeps the embedding, indexes are rebuilt from it.
    embedding  BYTEA       NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS memories_namespace ON memories (namespace, id);
CREATE INDEX IF NOT EXISTS memories_user ON memories (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_agent ON memories (agent_id, id) WHERE agent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_session ON memories (session_id, id) WHERE session_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_metadata ON memories USING GIN (metadata jsonb_path_ops);
CREATE INDEX IF NOT EXISTS memories_created ON memories (created_at);
CREATE INDEX IF NOT EXISTS memories_expires ON memories (expires_at) WHERE expires_at IS NOT NULL;

-- The outbox: every memory write appends here in the same transaction, under one
-- advisory lock, so sequence order is commit order. Vector indexes tail it.
CREATE TABLE IF NOT EXISTS memory_changes (
    seq       BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    memory_id UUID        NOT NULL,
    at        TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS memory_changes_at ON memory_changes (at);
