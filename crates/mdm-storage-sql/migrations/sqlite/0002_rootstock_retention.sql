-- Retention (InspectionStore::delete_answered_commands_batch) picks the oldest commands enqueued
-- before a cut-off: this index lets it walk them in created_at order from the oldest, instead of
-- scanning and sorting every command on each batch. Additive only.
CREATE INDEX IF NOT EXISTS commands_created_at ON commands (created_at);
