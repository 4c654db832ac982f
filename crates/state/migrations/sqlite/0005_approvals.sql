-- Approvals of saved plan files for protected environments: one row per
-- environment, plan (SHA-256 of the plan file's bytes) and approving
-- principal. Rows are only ever inserted.
CREATE TABLE approvals (
    id TEXT PRIMARY KEY NOT NULL,
    env TEXT NOT NULL,
    plan_sha256 TEXT NOT NULL,
    principal TEXT NOT NULL,
    created_at TEXT NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (env, plan_sha256, principal)
);
CREATE INDEX approvals_env ON approvals (env, plan_sha256);
