-- The chat's schema on PostgreSQL: the same tables, columns and rules as the SQLite migrations
-- (../sqlite) add up to, in PostgreSQL's types and syntax. Presence lives in memory only.

-- One row per open room. Deleting a room deletes its messages (and the server deletes their GIF files).
-- An identity column never reuses an id: a client holding an old room id can never land in a new room.
CREATE TABLE rooms (
    id             BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title          TEXT    NOT NULL CHECK (char_length(title) BETWEEN 1 AND 80),
    max_members    BIGINT  NOT NULL CHECK (max_members BETWEEN 2 AND 100),
    -- argon2 PHC string; NULL for a room without a password. Never leaves the server.
    password_hash  TEXT,
    -- The owner's visitor id (a random id stored in their session, never the session id itself).
    owner_id       TEXT    NOT NULL,
    -- Unix time in milliseconds.
    created_at     BIGINT  NOT NULL,
    -- The sequence number of the room's latest message; the next message takes last_seq + 1.
    last_seq       BIGINT  NOT NULL DEFAULT 0,
    -- Orders hand-overs: the presence version at which the owner was decided (a write with an older version
    -- does nothing).
    owner_version  BIGINT  NOT NULL DEFAULT 0,
    -- The latest message's time (the creation time until then): the room list shows the most active first.
    last_active_at BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX rooms_by_activity ON rooms (last_active_at DESC, id DESC);

-- Messages, ordered within a room by a strictly increasing sequence number.
CREATE TABLE messages (
    room_id      BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq          BIGINT NOT NULL,
    kind         TEXT   NOT NULL CHECK (kind IN ('text', 'gif', 'system', 'whisper')),
    -- The sender's visitor id; NULL for system messages.
    author_id    TEXT,
    -- For a whisper, the only other person who may ever read it; NULL otherwise.
    recipient_id TEXT CHECK ((kind = 'whisper') = (recipient_id IS NOT NULL)),
    -- Text for 'text', 'system' and 'whisper' messages, the stored file name for 'gif'.
    body         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    -- The sender's own id for this message: a retried send with the same id finds this row instead of
    -- creating a second one.
    client_id    TEXT,
    PRIMARY KEY (room_id, seq)
);
CREATE UNIQUE INDEX messages_idempotency ON messages (room_id, author_id, client_id) WHERE client_id IS NOT NULL;

-- A message takes its room's next number in the statement that inserts it (INSERT … SELECT last_seq + 1), and
-- this moves the room's counter on in the same statement. The sender's transaction holds the room's row lock
-- first (see `LockRoom` in app/src/server/store.rs), so concurrent senders take their numbers one after another.
CREATE FUNCTION messages_advance_room_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rooms SET last_seq = NEW.seq, last_active_at = NEW.created_at WHERE id = NEW.room_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER messages_advance_room_seq AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION messages_advance_room_seq();

-- Who may enter a password room: the owner, and everyone who gave the right password. Keyed by visitor id, so the
-- grant lasts as long as the session (and the room).
CREATE TABLE room_grants (
    room_id    BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    visitor_id TEXT   NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, visitor_id)
);

-- People the owner kicked: they cannot enter the room again while it exists.
CREATE TABLE room_bans (
    room_id    BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    visitor_id TEXT   NOT NULL,
    banned_at  BIGINT NOT NULL,
    PRIMARY KEY (room_id, visitor_id)
);

-- How far each person has read each room they entered: the room list shows what came after.
CREATE TABLE read_marks (
    room_id       BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    visitor_id    TEXT   NOT NULL,
    last_read_seq BIGINT NOT NULL,
    PRIMARY KEY (room_id, visitor_id)
);
CREATE INDEX read_marks_by_visitor ON read_marks (visitor_id);

-- Secrets every instance sharing this database must agree on, made once by whichever starts first.
-- `visitor_cookie_key`: signs the cookie that carries a reader's identity before they have a session.
CREATE TABLE server_secrets (
    name  TEXT  PRIMARY KEY,
    value BYTEA NOT NULL
);
