-- Tenants, API keys and the audit log. Every record made before this migration
-- belongs to the tenant `default`; nothing else changes about it.
ALTER TABLE memories ADD COLUMN IF NOT EXISTS tenant TEXT COLLATE "C" NOT NULL DEFAULT 'default';
CREATE INDEX IF NOT EXISTS memories_tenant ON memories (tenant, namespace, id);

ALTER TABLE contexts ADD COLUMN IF NOT EXISTS tenant TEXT COLLATE "C" NOT NULL DEFAULT 'default';
ALTER TABLE contexts DROP CONSTRAINT IF EXISTS contexts_pkey;
ALTER TABLE contexts ADD PRIMARY KEY (tenant, namespace, key);

-- API keys: only a SHA-256 of each key is kept.
CREATE TABLE IF NOT EXISTS api_keys (
    id            TEXT        PRIMARY KEY,
    prefix        TEXT        NOT NULL,
    hash          TEXT        NOT NULL UNIQUE,
    name          TEXT        NOT NULL,
    tenant        TEXT        NOT NULL,
    permission    TEXT        NOT NULL,
    namespaces    TEXT[],
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ,
    revoked_at    TIMESTAMPTZ,
    first_used_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys (tenant, created_at);

-- Security events; never secrets, never memory or context content.
CREATE TABLE IF NOT EXISTS audit_log (
    seq     BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      TIMESTAMPTZ NOT NULL,
    tenant  TEXT,
    action  TEXT        NOT NULL,
    subject TEXT,
    target  TEXT,
    detail  TEXT
);
CREATE INDEX IF NOT EXISTS audit_log_tenant ON audit_log (tenant, seq);
