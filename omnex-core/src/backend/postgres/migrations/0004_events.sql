-- Events (the change feed and every record's history), webhook subscriptions and
-- the job queue. Memories gain a version, as contexts have.
ALTER TABLE memories ADD COLUMN IF NOT EXISTS version BIGINT NOT NULL DEFAULT 1;

-- One row per change, written in the same transaction as the change, under the
-- change-log lock: positions become visible in order.
CREATE TABLE IF NOT EXISTS events (
    seq        BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         TIMESTAMPTZ NOT NULL,
    tenant     TEXT        NOT NULL,
    kind       TEXT        NOT NULL,
    namespace  TEXT        NOT NULL,
    entity_id  TEXT        NOT NULL,
    key        TEXT,
    user_id    TEXT,
    agent_id   TEXT,
    session_id TEXT,
    version    BIGINT      NOT NULL,
    actor      TEXT,
    data       JSONB
);
CREATE INDEX IF NOT EXISTS events_tenant ON events (tenant, seq);
CREATE INDEX IF NOT EXISTS events_entity ON events (entity_id, seq);
CREATE INDEX IF NOT EXISTS events_key ON events (tenant, namespace, key, seq) WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_at ON events (at);

-- Webhook subscriptions. The secret signs deliveries, so it is kept as given.
CREATE TABLE IF NOT EXISTS webhooks (
    id           TEXT        PRIMARY KEY,
    tenant       TEXT        NOT NULL,
    url          TEXT        NOT NULL,
    kinds        TEXT[]      NOT NULL,
    namespaces   TEXT[],
    secret       TEXT        NOT NULL,
    include_data BOOLEAN     NOT NULL,
    since        BIGINT      NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);

-- The job queue: background work and webhook deliveries. Workers claim jobs with
-- FOR UPDATE SKIP LOCKED.
CREATE TABLE IF NOT EXISTS jobs (
    id           TEXT        PRIMARY KEY,
    tenant       TEXT        NOT NULL,
    kind         TEXT        NOT NULL,
    status       TEXT        NOT NULL,
    input        JSONB       NOT NULL,
    output       JSONB,
    done         BIGINT      NOT NULL DEFAULT 0,
    total        BIGINT,
    attempts     INTEGER     NOT NULL DEFAULT 0,
    max_attempts INTEGER     NOT NULL,
    error        TEXT,
    cancel       BOOLEAN     NOT NULL DEFAULT false,
    webhook_id   TEXT,
    worker       TEXT,
    lease_until  TIMESTAMPTZ,
    run_at       TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    finished_at  TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS jobs_ready ON jobs (run_at) WHERE status = 'queued';
CREATE INDEX IF NOT EXISTS jobs_leased ON jobs (lease_until) WHERE status = 'running';
CREATE INDEX IF NOT EXISTS jobs_tenant ON jobs (tenant, id);
CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_webhook ON jobs (webhook_id, id) WHERE webhook_id IS NOT NULL;
