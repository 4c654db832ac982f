-- History that costs what changed (see crates/state/src/history.rs): a
-- version is a full envelope (base_ref = 0, every row written before this
-- migration) or a delta on the row written before it, in the chain that
-- starts at the full row base_ref. chain counts the deltas from the base
-- (this one included), chain_bytes their payload bytes: the writer decides
-- from them when to start a new full version, and pruning from base_ref
-- which rows a kept delta still needs — without reading any payload.
ALTER TABLE state_versions ADD COLUMN base_ref BIGINT NOT NULL DEFAULT 0;
ALTER TABLE state_versions ADD COLUMN chain BIGINT NOT NULL DEFAULT 0;
ALTER TABLE state_versions ADD COLUMN chain_bytes BIGINT NOT NULL DEFAULT 0;
CREATE INDEX state_versions_base ON state_versions (env, base_ref);
