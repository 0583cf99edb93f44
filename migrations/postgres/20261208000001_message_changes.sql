-- What happens to a message after it is sent: reactions, edits, unsends (and removals by the room's owner).
-- Each change takes its room's next sequence number, as a message does, so that a page that was away catches up
-- on changes the way it catches up on messages: in order, each once (see docs/protocol.md, "Catching up").

-- A room's changes to its messages: `seq` is the change's own number in the room's sequence, `target` the
-- message's. Rows are the log; the messages and reactions tables hold the state the log led to.
CREATE TABLE message_changes (
    room_id    BIGINT NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    target     BIGINT NOT NULL,
    actor_id   TEXT   NOT NULL,
    what       TEXT   NOT NULL CHECK (what IN ('react', 'unreact', 'edit', 'delete')),
    -- The emoji, for a reaction's change.
    emoji      TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq)
);

-- A change takes the room's next number in the statement that inserts it, like a message (which the room list
-- counts as activity: a change does not). The writer's transaction holds the room's row lock first.
CREATE FUNCTION message_changes_advance_room_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rooms SET last_seq = NEW.seq WHERE id = NEW.room_id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER message_changes_advance_room_seq AFTER INSERT ON message_changes
    FOR EACH ROW EXECUTE FUNCTION message_changes_advance_room_seq();

-- Who reacted to which message with which emoji (one of a fixed set, checked by the server).
CREATE TABLE reactions (
    room_id    BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    visitor_id TEXT   NOT NULL,
    emoji      TEXT   NOT NULL,
    reacted_at BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq, emoji, visitor_id),
    FOREIGN KEY (room_id, seq) REFERENCES messages (room_id, seq) ON DELETE CASCADE
);

-- The message a reply answers (its number in the same room; it is never deleted before the room, only
-- tombstoned).
ALTER TABLE messages ADD COLUMN reply_to BIGINT;
-- When the author last changed the text (Unix ms).
ALTER TABLE messages ADD COLUMN edited_at BIGINT;
-- Who took the message back: its author ('author') or the room's owner ('owner'). Its body is then empty (a GIF's
-- file is deleted) and its reactions are gone.
ALTER TABLE messages ADD COLUMN deleted_by TEXT CHECK (deleted_by IN ('author', 'owner'));
