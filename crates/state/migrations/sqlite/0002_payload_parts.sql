-- Payloads larger than one part (SQLite refuses strings above 1e9 bytes) are
-- split: the first part stays in `payload`, the rest go to payload_parts,
-- keyed by an owner id unique to the write and shared by the current row and
-- its history row (parts are never changed once written), and sequence.
ALTER TABLE states ADD COLUMN parts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE states ADD COLUMN parts_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE state_versions ADD COLUMN parts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE state_versions ADD COLUMN parts_owner TEXT NOT NULL DEFAULT '';
CREATE TABLE payload_parts (
    owner TEXT NOT NULL,
    seq   INTEGER NOT NULL,
    part  TEXT NOT NULL,
    PRIMARY KEY (owner, seq)
);
