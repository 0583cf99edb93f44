-- A stored GIF also travels as a looping video, made after the GIF is posted (see chat/src/video.rs). The GIF and
-- its still stay: the video is what pages play, the GIF their fallback.

-- The stored GIF's video: its file name ('<hex>.mp4', beside the GIF), '' when it has none for good (the video
-- would not be smaller, or could not be made), NULL while none was made yet. `bytes` counts it once it is stored.
ALTER TABLE stored_gifs ADD COLUMN video TEXT;

-- The video a GIF message shows (the file name, as in stored_gifs), once it was made: set on the messages of the
-- GIF when the video is stored, and on a new message of a GIF that has one already.
ALTER TABLE messages ADD COLUMN video TEXT;

-- The switch of a GIF message to its video is a change in the room's sequence like an edit, so that a page that
-- was away learns of it when it catches up. SQLite cannot change a CHECK constraint: the table is made again.
CREATE TABLE message_changes_new (
    room_id    INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    target     INTEGER NOT NULL,
    actor_id   TEXT    NOT NULL,
    what       TEXT    NOT NULL CHECK (what IN ('react', 'unreact', 'edit', 'delete', 'video')),
    emoji      TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (room_id, seq)
) WITHOUT ROWID;
INSERT INTO message_changes_new SELECT room_id, seq, target, actor_id, what, emoji, created_at FROM message_changes;
DROP TABLE message_changes;
ALTER TABLE message_changes_new RENAME TO message_changes;
CREATE TRIGGER message_changes_advance_room_seq AFTER INSERT ON message_changes
BEGIN
    UPDATE rooms SET last_seq = NEW.seq WHERE id = NEW.room_id;
END;
