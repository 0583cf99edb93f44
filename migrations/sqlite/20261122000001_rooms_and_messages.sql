-- Rooms and their messages: the durable truth of the chat (presence lives in memory only).

-- One row per open room. Deleting a room deletes its messages (and the server deletes their GIF files).
-- AUTOINCREMENT so that an id is never reused: a client holding an old room id can never land in a new room.
CREATE TABLE rooms (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    title         TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 80),
    max_members   INTEGER NOT NULL CHECK (max_members BETWEEN 2 AND 100),
    -- argon2 PHC string; NULL for a room without a password. Never leaves the server.
    password_hash TEXT,
    -- The owner's visitor id (a random id stored in their session, never the session id itself).
    owner_id      TEXT    NOT NULL,
    -- Unix time in milliseconds.
    created_at    INTEGER NOT NULL,
    -- The sequence number of the room's latest message; the next message takes last_seq + 1.
    last_seq      INTEGER NOT NULL DEFAULT 0
);

-- Messages, ordered within a room by a strictly increasing sequence number.
CREATE TABLE messages (
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('text', 'gif', 'system', 'whisper')),
    -- The sender's visitor id; NULL for system messages.
    author_id   TEXT,
    -- For a whisper, the only other person who may ever read it; NULL otherwise.
    recipient_id TEXT CHECK ((kind = 'whisper') = (recipient_id IS NOT NULL)),
    -- Text for 'text', 'system' and 'whisper' messages, the stored file name for 'gif'.
    body        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    -- The sender's own id for this message: a retried send with the same id finds this row instead of
    -- creating a second one.
    client_id   TEXT,
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
CREATE UNIQUE INDEX messages_idempotency ON messages (room_id, author_id, client_id) WHERE client_id IS NOT NULL;

-- A message takes its room's next number in the statement that inserts it (INSERT … SELECT last_seq + 1), and
-- this moves the room's counter on in the same statement: one round trip per send, atomic under SQLite's single
-- writer lock, which a writing statement takes before it reads.
CREATE TRIGGER messages_advance_room_seq AFTER INSERT ON messages
BEGIN
    UPDATE rooms SET last_seq = NEW.seq WHERE id = NEW.room_id;
END;

-- Who may enter a password room: the owner, and everyone who gave the right password. Keyed by visitor id, so the
-- grant lasts as long as the session (and the room).
CREATE TABLE room_grants (
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    visitor_id  TEXT    NOT NULL,
    granted_at  INTEGER NOT NULL,
    PRIMARY KEY (room_id, visitor_id)
) WITHOUT ROWID;

-- People the owner kicked: they cannot enter the room again while it exists.
CREATE TABLE room_bans (
    room_id     INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    visitor_id  TEXT    NOT NULL,
    banned_at   INTEGER NOT NULL,
    PRIMARY KEY (room_id, visitor_id)
) WITHOUT ROWID;

-- How far each person has read each room they entered: the room list shows what came after.
CREATE TABLE read_marks (
    room_id       INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    visitor_id    TEXT    NOT NULL,
    last_read_seq INTEGER NOT NULL,
    PRIMARY KEY (room_id, visitor_id)
) WITHOUT ROWID;
CREATE INDEX read_marks_by_visitor ON read_marks (visitor_id);
