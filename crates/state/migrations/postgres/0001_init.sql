-- terrace state store schema (PostgreSQL).
CREATE TABLE states (
    env        TEXT PRIMARY KEY NOT NULL,
    serial     BIGINT NOT NULL,
    lineage    TEXT NOT NULL,
    payload    TEXT NOT NULL,
    written_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE state_versions (
    id         BIGSERIAL PRIMARY KEY,
    env        TEXT NOT NULL,
    serial     BIGINT NOT NULL,
    lineage    TEXT NOT NULL,
    payload    TEXT NOT NULL,
    written_at TIMESTAMPTZ NOT NULL,
    operation  TEXT NOT NULL,
    who        TEXT NOT NULL
);
CREATE INDEX state_versions_env ON state_versions (env, serial);

CREATE TABLE locks (
    env        TEXT PRIMARY KEY NOT NULL,
    lock_id    TEXT NOT NULL,
    operation  TEXT NOT NULL,
    who        TEXT NOT NULL,
    pid        BIGINT NOT NULL,
    host       TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE journal (
    id                TEXT PRIMARY KEY NOT NULL,
    env               TEXT NOT NULL,
    address           TEXT NOT NULL,
    action            TEXT NOT NULL,
    idempotency_token TEXT NOT NULL,
    resource_type     TEXT NOT NULL,
    recorded_at       TIMESTAMPTZ NOT NULL,
    status            TEXT NOT NULL,
    detail            TEXT NOT NULL
);
CREATE INDEX journal_env_status ON journal (env, status);

CREATE TABLE drift_runs (
    id          TEXT PRIMARY KEY NOT NULL,
    env         TEXT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    changed     BIGINT NOT NULL,
    missing     BIGINT NOT NULL,
    unmanaged   BIGINT NOT NULL,
    pending     BIGINT NOT NULL,
    report      TEXT NOT NULL
);
CREATE INDEX drift_runs_env ON drift_runs (env, started_at);

CREATE TABLE environments (
    name       TEXT PRIMARY KEY NOT NULL,
    record     TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
