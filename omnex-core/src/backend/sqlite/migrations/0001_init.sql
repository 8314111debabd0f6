CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS contexts (
    namespace  TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    tags       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS contexts_expires ON contexts (expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS memories (
    id         TEXT    PRIMARY KEY,
    namespace  TEXT    NOT NULL,
    user_id    TEXT,
    agent_id   TEXT,
    session_id TEXT,
    content    TEXT    NOT NULL,
    metadata   TEXT    NOT NULL,
    embedding  BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    expires_at INTEGER
);
CREATE INDEX IF NOT EXISTS memories_namespace ON memories (namespace, id);
CREATE INDEX IF NOT EXISTS memories_user ON memories (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_agent ON memories (agent_id, id) WHERE agent_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_session ON memories (session_id, id) WHERE session_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS memories_expires ON memories (expires_at) WHERE expires_at IS NOT NULL;

-- Every memory write appends here in the same transaction; indexes tail it.
CREATE TABLE IF NOT EXISTS memory_changes (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    memory_id TEXT    NOT NULL,
    at        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS memory_changes_at ON memory_changes (at);
