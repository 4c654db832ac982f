-- When a blob was last stored (Unix seconds): a put of the same text
-- renews it. `env gc` deletes blobs no ledger record names once this is
-- older than the grace period; blobs stored before this migration count as
-- stored now, so they get the whole grace period.
ALTER TABLE blobs ADD COLUMN touched_at BIGINT NOT NULL DEFAULT 0;
UPDATE blobs SET touched_at = CAST(EXTRACT(EPOCH FROM now()) AS BIGINT);
CREATE INDEX blobs_touched ON blobs (touched_at);
