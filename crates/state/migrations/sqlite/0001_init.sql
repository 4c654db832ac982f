-- terrace state store schema (SQLite). Timestamps are RFC 3339 text in UTC.
CREATE TABLE states (
    env        TEXT PRIMARY KEY NOT NULL,
    serial     INTEGER NOT NULL,
    lineage    TEXT NOT NULL,
    payload    TEXT NOT NULL,
    written_at TEXT NOT NULL
);

CREATE TABLE state_versions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    env        TEXT NOT NULL,
    serial     INTEGER NOT NULL,
    lineage    TEXT NOT NULL,
    payload    TEXT NOT NULL,
    written_at TEXT NOT NULL,
    operation  TEXT NOT NULL,
    who        TEXT NOT NULL
);
CREATE INDEX state_versions_env ON state_versions (env, serial);

CREATE TABLE locks (
    env        TEXT PRIMARY KEY NOT NULL,
    lock_id    TEXT NOT NULL,
    operation  TEXT NOT NULL,
    who        TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    host       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

CREATE TABLE journal (
    id                TEXT PRIMARY KEY NOT NULL,
    env               TEXT NOT NULL,
    address           TEXT NOT NULL,
    action            TEXT NOT NULL,
    idempotency_token TEXT NOT NULL,
    resource_type     TEXT NOT NULL,
    recorded_at       TEXT NOT NULL,
    status            TEXT NOT NULL,
    detail            TEXT NOT NULL
);
CREATE INDEX journal_env_status ON journal (env, status);

CREATE TABLE drift_runs (
    id          TEXT PRIMARY KEY NOT NULL,
    env         TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    changed     INTEGER NOT NULL,
    missing     INTEGER NOT NULL,
    unmanaged   INTEGER NOT NULL,
    pending     INTEGER NOT NULL,
    report      TEXT NOT NULL
);
CREATE INDEX drift_runs_env ON drift_runs (env, started_at);

CREATE TABLE environments (
    name       TEXT PRIMARY KEY NOT NULL,
    record     TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
