-- Presence lives in the database, shared by every server process using it: who is in which room, through which
-- process, and each room's presence timers. A process holds a lease it renews every second; the people of a
-- process whose lease ran out (it crashed, or lost the database) are taken out by the others.

-- Orders announcements of who is in the room: bumped by every change of who is here or who owns the room.
-- Starts from the time in microseconds, so that versions a client saw before this migration stay older.
ALTER TABLE rooms ADD COLUMN presence_version INTEGER NOT NULL DEFAULT 0;
UPDATE rooms SET presence_version = CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER);
-- When the owner left the room empty (Unix ms): they keep it for the room's grace, then whoever is here takes
-- over (or the next to arrive). NULL while the owner is here or someone took over.
ALTER TABLE rooms ADD COLUMN owner_away_since INTEGER;
-- When the room, empty now, is removed (Unix ms) unless someone arrives first. NULL while anyone is here.
ALTER TABLE rooms ADD COLUMN remove_at INTEGER;
CREATE INDEX rooms_removal ON rooms (remove_at) WHERE remove_at IS NOT NULL;
CREATE INDEX rooms_owner_away ON rooms (owner_away_since) WHERE owner_away_since IS NOT NULL;

-- The server processes alive now: each renews its lease every second.
CREATE TABLE instances (
    id          TEXT    PRIMARY KEY,
    -- Unix ms; past it, the others count the process as gone.
    lease_until INTEGER NOT NULL,
    started_at  INTEGER NOT NULL
);

-- One row per person, room and process they are connected through. A person is in the room while any row of
-- theirs is: two tabs count once, on one process or two.
CREATE TABLE presence (
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    visitor_id  TEXT    NOT NULL,
    instance_id TEXT    NOT NULL,
    -- Live connections of this person to this room through this process.
    connections INTEGER NOT NULL CHECK (connections >= 0),
    -- The room's presence version when they arrived: orders people by arrival (the longest present takes over).
    arrival     INTEGER NOT NULL,
    -- Set (Unix ms) when the last of these connections closed or their process went; the row goes after the
    -- leave grace unless they come back. NULL while connected.
    left_at     INTEGER,
    PRIMARY KEY (room_id, visitor_id, instance_id)
);
CREATE INDEX presence_leaving ON presence (left_at) WHERE left_at IS NOT NULL;
CREATE INDEX presence_by_instance ON presence (instance_id);
