-- Rootstock's additions to NanoMDM's tables. Additive only: NanoMDM ignores the new columns
-- (it names its columns in every INSERT, so their defaults apply) and the indexes.

-- enrollment_queue.seq: insertion order, the FIFO tie-break. NanoMDM orders by created_at alone,
-- which ties for every id of one enqueue and for commands enqueued in one transaction.
-- Added as a nullable column with the default set afterwards, not as BIGSERIAL: that would
-- rewrite the whole table (filling every existing row) under an exclusive lock, while this is a
-- catalog change only. Rows queued before the migration keep NULL, which sorts after any number
-- and only matters between rows with the same created_at.
CREATE SEQUENCE IF NOT EXISTS enrollment_queue_seq_seq;
ALTER TABLE enrollment_queue ADD COLUMN IF NOT EXISTS seq BIGINT NULL;
ALTER TABLE enrollment_queue ALTER COLUMN seq SET DEFAULT nextval('enrollment_queue_seq_seq');
ALTER SEQUENCE enrollment_queue_seq_seq OWNED BY enrollment_queue.seq;

-- commands.command_bytes: the exact bytes of a command enqueued as a binary property list
-- (NanoMDM's `command` is TEXT and must start with `<?xml`; it holds the XML rendering, which is
-- what a NanoMDM server sharing the database would send). NULL for XML commands.
ALTER TABLE commands ADD COLUMN IF NOT EXISTS command_bytes BYTEA NULL;

-- Plain CREATE INDEX (migrations run in a transaction, so not CONCURRENTLY): on a large
-- existing queue, writes to these tables wait while an index builds, once.
-- The next-command lookup walks this partial index in delivery order: rows cleared or answered
-- (active = false) are not in it, so the lookup does not grow with an enrollment's history.
CREATE INDEX IF NOT EXISTS rootstock_queue_next
    ON enrollment_queue (id, priority DESC, created_at, seq) WHERE active;
-- Foreign-key actions and the delete-mode orphan check look rows up by command alone.
CREATE INDEX IF NOT EXISTS rootstock_queue_command ON enrollment_queue (command_uuid);
CREATE INDEX IF NOT EXISTS rootstock_results_command ON command_results (command_uuid);
-- Disable, ClearQueue and Authenticate reach a device's channels by device_id.
CREATE INDEX IF NOT EXISTS rootstock_enrollments_device ON enrollments (device_id);
-- certauth looks associations up by hash.
CREATE INDEX IF NOT EXISTS rootstock_cert_auth_sha256 ON cert_auth_associations (sha256);
