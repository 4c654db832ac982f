-- The apply ledger: one append-only record per run. The record itself is
-- JSON (`record`); env, started_at and outcome are columns for listing and
-- for closing an open record conditionally (WHERE outcome = 'open').
CREATE TABLE ledger (
    id         TEXT PRIMARY KEY NOT NULL,
    env        TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    outcome    TEXT NOT NULL,
    record     TEXT NOT NULL
);
CREATE INDEX ledger_env ON ledger (env, started_at);
CREATE INDEX ledger_started ON ledger (started_at);
