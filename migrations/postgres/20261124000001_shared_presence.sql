-- Presence lives in the database, shared by every server process using it (see the SQLite migration of the
-- same name for what each column means).
ALTER TABLE rooms ADD COLUMN presence_version BIGINT NOT NULL DEFAULT 0;
UPDATE rooms SET presence_version = (extract(epoch FROM clock_timestamp()) * 1000000)::BIGINT;
ALTER TABLE rooms ADD COLUMN owner_away_since BIGINT;
ALTER TABLE rooms ADD COLUMN remove_at BIGINT;
CREATE INDEX rooms_removal ON rooms (remove_at) WHERE remove_at IS NOT NULL;
CREATE INDEX rooms_owner_away ON rooms (owner_away_since) WHERE owner_away_since IS NOT NULL;

CREATE TABLE instances (
    id          TEXT   PRIMARY KEY,
    lease_until BIGINT NOT NULL,
    started_at  BIGINT NOT NULL
);

CREATE TABLE presence (
    room_id     BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    visitor_id  TEXT   NOT NULL,
    instance_id TEXT   NOT NULL,
    connections BIGINT NOT NULL CHECK (connections >= 0),
    arrival     BIGINT NOT NULL,
    left_at     BIGINT,
    PRIMARY KEY (room_id, visitor_id, instance_id)
);
CREATE INDEX presence_leaving ON presence (left_at) WHERE left_at IS NOT NULL;
CREATE INDEX presence_by_instance ON presence (instance_id);
