-- Rootstock's additions (see migrations/postgres/0002 for why each exists). Plain ALTER/CREATE
-- INDEX without IF NOT EXISTS, which MySQL 8 lacks: this migration runs once per database.
-- seq: insertion order, the FIFO tie-break (MySQL TIMESTAMPs have one-second resolution).
ALTER TABLE enrollment_queue
    ADD COLUMN seq BIGINT NOT NULL AUTO_INCREMENT,
    ADD UNIQUE KEY rootstock_queue_seq (seq);
ALTER TABLE commands ADD COLUMN command_bytes MEDIUMBLOB NULL;
CREATE INDEX rootstock_queue_next ON enrollment_queue (id, active, priority DESC, created_at, seq);
CREATE INDEX rootstock_cert_auth_sha256 ON cert_auth_associations (sha256);
