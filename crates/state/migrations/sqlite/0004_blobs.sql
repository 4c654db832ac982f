-- Content-addressed text blobs: configuration snapshots of the apply
-- ledger (the snapshot manifests and the files they name), keyed by the
-- SHA-256 of their text, so a file shared by many records is stored once.
CREATE TABLE blobs (
    hash TEXT PRIMARY KEY NOT NULL,
    data TEXT NOT NULL
);
