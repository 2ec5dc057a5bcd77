-- Rootstock's additions, continued (see migrations/postgres/0003 for why). Plain CREATE INDEX
-- without IF NOT EXISTS, which MySQL 8 lacks: this migration runs once per database.
-- Retention walks the oldest commands enqueued before a cut-off through this index.
CREATE INDEX rootstock_commands_created_at ON commands (created_at);
