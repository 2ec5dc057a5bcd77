-- NanoMDM's tables (storage/mysql/schema.sql, storage/pgsql/schema.sql), in SQLite.
--
-- Same tables, columns, keys and checks, with these differences:
-- * STRICT tables with SQLite's types: TEXT for strings and timestamps (CURRENT_TIMESTAMP,
--   UTC 'YYYY-MM-DD HH:MM:SS'), INTEGER for booleans and counters.
-- * Raw property lists (authenticate, token_update, user_authenticate*, command, result) are
--   BLOB, not TEXT: binary property lists are stored and returned byte-exact. NanoMDM's
--   "starts with <?xml" checks are dropped for the same reason.
-- * enrollment_queue has `seq`, an INTEGER PRIMARY KEY (the rowid), as the FIFO order.
--   NanoMDM orders by created_at, whose one-second resolution leaves commands enqueued in the
--   same second in no defined order. (id, command_uuid) stays unique, as NanoMDM's key.
-- * `active` also turns 0 when the enrollment answers a command with a final status, so the
--   next-command lookup walks only commands still waiting (the partial index below); NanoMDM
--   leaves it 1 and filters answered rows through a join. "Cleared" and "answered" still differ:
--   an answered row has a final result in command_results.
-- * No view_queue: the next-command query reads the tables through indexes.
-- * updated_at is set by the statements that update a row, not by triggers.
-- * Extra indexes for lookups and foreign-key actions NanoMDM's PostgreSQL schema leaves to
--   full scans (MySQL creates most of them implicitly for its foreign keys).

CREATE TABLE devices (
    id                  TEXT NOT NULL,

    identity_cert       TEXT NULL,
    serial_number       TEXT NULL,

    unlock_token        BLOB NULL,
    unlock_token_at     TEXT NULL,

    authenticate        BLOB NOT NULL,
    authenticate_at     TEXT NOT NULL,
    token_update        BLOB NULL,
    token_update_at     TEXT NULL,

    bootstrap_token_b64 TEXT NULL,
    bootstrap_token_at  TEXT NULL,

    created_at          TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at          TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY (id),

    CHECK (identity_cert IS NULL OR substr(identity_cert, 1, 27) = '-----BEGIN CERTIFICATE-----'),
    CHECK (serial_number IS NULL OR serial_number != ''),
    CHECK (unlock_token IS NULL OR length(unlock_token) > 0),
    CHECK (length(authenticate) > 0),
    CHECK (token_update IS NULL OR length(token_update) > 0),
    CHECK (bootstrap_token_b64 IS NULL OR bootstrap_token_b64 != '')
) STRICT;
CREATE INDEX devices_serial_number ON devices (serial_number);

CREATE TABLE users (
    id                          TEXT NOT NULL,
    device_id                   TEXT NOT NULL,

    user_short_name             TEXT NULL,
    user_long_name              TEXT NULL,

    token_update                BLOB NULL,
    token_update_at             TEXT NULL,

    user_authenticate           BLOB NULL,
    user_authenticate_at        TEXT NULL,
    user_authenticate_digest    BLOB NULL,
    user_authenticate_digest_at TEXT NULL,

    created_at                  TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at                  TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY (id, device_id),
    UNIQUE (id),

    FOREIGN KEY (device_id)
        REFERENCES devices (id)
        ON DELETE CASCADE ON UPDATE CASCADE,

    CHECK (user_short_name IS NULL OR user_short_name != ''),
    CHECK (user_long_name IS NULL OR user_long_name != ''),
    CHECK (token_update IS NULL OR length(token_update) > 0),
    CHECK (user_authenticate IS NULL OR length(user_authenticate) > 0),
    CHECK (user_authenticate_digest IS NULL OR length(user_authenticate_digest) > 0)
) STRICT;
-- Foreign-key actions from devices.
CREATE INDEX users_device_id ON users (device_id);

CREATE TABLE enrollments (
    id                 TEXT    NOT NULL,
    device_id          TEXT    NOT NULL,
    user_id            TEXT    NULL,

    type               TEXT    NOT NULL,

    topic              TEXT    NOT NULL,
    push_magic         TEXT    NOT NULL,
    token_hex          TEXT    NOT NULL,

    enabled            INTEGER NOT NULL DEFAULT 1,
    token_update_tally INTEGER NOT NULL DEFAULT 1,

    last_seen_at       TEXT    NOT NULL,

    created_at         TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at         TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY (id),
    CHECK (id != ''),

    FOREIGN KEY (device_id)
        REFERENCES devices (id)
        ON DELETE CASCADE ON UPDATE CASCADE,

    FOREIGN KEY (user_id)
        REFERENCES users (id)
        ON DELETE CASCADE ON UPDATE CASCADE,
    UNIQUE (user_id),

    CHECK (type != ''),
    CHECK (topic != ''),
    CHECK (push_magic != ''),
    CHECK (token_hex != ''),
    CHECK (enabled IN (0, 1))
) STRICT;
CREATE INDEX enrollments_type ON enrollments (type);
-- Disable and clear-queue reach a device's channels through device_id.
CREATE INDEX enrollments_device_id ON enrollments (device_id);

CREATE TABLE commands (
    command_uuid TEXT NOT NULL,
    request_type TEXT NOT NULL,
    command      BLOB NOT NULL,

    created_at   TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at   TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY (command_uuid),

    CHECK (command_uuid != ''),
    CHECK (request_type != ''),
    CHECK (length(command) > 0)
) STRICT;

CREATE TABLE command_results (
    id            TEXT    NOT NULL,
    command_uuid  TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    result        BLOB    NOT NULL,

    not_now_at    TEXT    NULL,
    not_now_tally INTEGER NOT NULL DEFAULT 0,

    created_at    TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at    TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY (id, command_uuid),

    FOREIGN KEY (id)
        REFERENCES enrollments (id)
        ON DELETE CASCADE ON UPDATE CASCADE,

    FOREIGN KEY (command_uuid)
        REFERENCES commands (command_uuid)
        ON DELETE CASCADE ON UPDATE CASCADE,

    CHECK (status != '')
) STRICT;
CREATE INDEX command_results_status ON command_results (status);
-- Foreign-key actions from commands, and "does any result still need this command".
CREATE INDEX command_results_command_uuid ON command_results (command_uuid);

CREATE TABLE enrollment_queue (
    seq          INTEGER,
    id           TEXT    NOT NULL,
    command_uuid TEXT    NOT NULL,

    active       INTEGER NOT NULL DEFAULT 1,
    priority     INTEGER NOT NULL DEFAULT 0,

    created_at   TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at   TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY (seq),
    UNIQUE (id, command_uuid),

    FOREIGN KEY (id)
        REFERENCES enrollments (id)
        ON DELETE CASCADE ON UPDATE CASCADE,

    FOREIGN KEY (command_uuid)
        REFERENCES commands (command_uuid)
        ON DELETE CASCADE ON UPDATE CASCADE,

    CHECK (active IN (0, 1)),
    CHECK (priority BETWEEN -128 AND 127)
) STRICT;
-- The next-command lookup: an enrollment's waiting commands, in delivery order, and nothing
-- else (answered and cleared rows leave the index).
CREATE INDEX enrollment_queue_next ON enrollment_queue (id, priority DESC, seq, command_uuid)
    WHERE active = 1;
-- Foreign-key actions from commands, and "is this command still queued anywhere".
CREATE INDEX enrollment_queue_command_uuid ON enrollment_queue (command_uuid);

CREATE TABLE push_certs (
    topic       TEXT    NOT NULL,

    cert_pem    TEXT    NOT NULL,
    key_pem     TEXT    NOT NULL,

    stale_token INTEGER NOT NULL,

    created_at  TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at  TEXT    NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY (topic),
    CHECK (topic != ''),

    CHECK (substr(cert_pem, 1, 27) = '-----BEGIN CERTIFICATE-----'),
    CHECK (substr(key_pem, 1, 5) = '-----')
) STRICT;

CREATE TABLE cert_auth_associations (
    id         TEXT NOT NULL,
    sha256     TEXT NOT NULL,

    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,

    PRIMARY KEY (id, sha256),

    CHECK (id != ''),
    CHECK (sha256 != '')
) STRICT;
CREATE INDEX cert_auth_associations_sha256 ON cert_auth_associations (sha256);
