-- Rootstock's additions to NanoMDM's tables, continued. Additive only: NanoMDM ignores the index.

-- Retention (InspectionStore::delete_answered_commands_batch) picks the oldest commands enqueued
-- before a cut-off, a bounded batch at a time: this index lets each batch walk them in created_at
-- order from the oldest, instead of scanning and sorting every command. Plain CREATE INDEX (the
-- migration runs in a transaction, so not CONCURRENTLY): on a large existing commands table,
-- writes to it wait while the index builds, once.
CREATE INDEX IF NOT EXISTS rootstock_commands_created_at ON commands (created_at);
