-- Tenants, API keys and the audit log. Every record made before this migration
-- belongs to the tenant `default`; nothing else changes about it.
ALTER TABLE memories ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
CREATE INDEX IF NOT EXISTS memories_tenant ON memories (tenant, namespace, id);

-- Contexts are keyed by (tenant, namespace, key): the table is rebuilt with that key.
CREATE TABLE contexts_by_tenant (
    tenant     TEXT    NOT NULL,
    namespace  TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    id         TEXT    NOT NULL,
    value      TEXT    NOT NULL,
    tags       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (tenant, namespace, key)
) WITHOUT ROWID;
INSERT INTO contexts_by_tenant
    SELECT 'default', namespace, key, id, value, tags, created_at, updated_at, version, expires_at
    FROM contexts;
DROP TABLE contexts;
ALTER TABLE contexts_by_tenant RENAME TO contexts;
CREATE INDEX IF NOT EXISTS contexts_expires ON contexts (expires_at) WHERE expires_at IS NOT NULL;

-- API keys: only a SHA-256 of each key is kept.
CREATE TABLE IF NOT EXISTS api_keys (
    id            TEXT    PRIMARY KEY,
    prefix        TEXT    NOT NULL,
    hash          TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    tenant        TEXT    NOT NULL,
    permission    TEXT    NOT NULL,
    namespaces    TEXT,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER,
    revoked_at    INTEGER,
    first_used_at INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant, created_at);

-- Security events; never secrets, never memory or context content.
CREATE TABLE IF NOT EXISTS audit_log (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    tenant  TEXT,
    action  TEXT    NOT NULL,
    subject TEXT,
    target  TEXT,
    detail  TEXT
);
CREATE INDEX IF NOT EXISTS audit_log_tenant ON audit_log (tenant, seq);
