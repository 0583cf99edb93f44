-- What happens to a message after it is sent: reactions, edits, unsends (and removals by the room's owner).
-- Each change takes its room's next sequence number, as a message does, so that a page that was away catches up
-- on changes the way it catches up on messages: in order, each once (see docs/protocol.md, "Catching up").

-- A room's changes to its messages: `seq` is the change's own number in the room's sequence, `target` the
-- message's. Rows are the log; the messages and reactions tables hold the state the log led to.
CREATE TABLE message_changes (
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    target     INTEGER NOT NULL,
    actor_id   TEXT    NOT NULL,
    what       TEXT    NOT NULL CHECK (what IN ('react', 'unreact', 'edit', 'delete')),
    -- The emoji, for a reaction's change.
    emoji      TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;

-- A change takes the room's next number in the statement that inserts it, like a message (which the room list
-- counts as activity: a change does not).
CREATE TRIGGER message_changes_advance_room_seq AFTER INSERT ON message_changes
BEGIN
    UPDATE rooms SET last_seq = NEW.seq WHERE id = NEW.room_id;
END;

-- Who reacted to which message with which emoji (one of a fixed set, checked by the server).
CREATE TABLE reactions (
    room_id    INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    visitor_id TEXT    NOT NULL,
    emoji      TEXT    NOT NULL,
    reacted_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, seq, emoji, visitor_id),
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
) WITHOUT ROWID;

-- The message a reply answers (its number in the same room; it is never deleted before the room, only
-- tombstoned).
ALTER TABLE messages ADD COLUMN reply_to INTEGER;
-- When the author last changed the text (Unix ms).
ALTER TABLE messages ADD COLUMN edited_at INTEGER;
-- Who took the message back: its author ('author') or the room's owner ('owner'). Its body is then empty (a GIF's
-- file is deleted) and its reactions are gone.
ALTER TABLE messages ADD COLUMN deleted_by TEXT CHECK (deleted_by IN ('author', 'owner'));
