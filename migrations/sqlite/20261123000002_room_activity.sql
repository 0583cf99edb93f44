-- The room list shows the most recently active rooms first, a page at a time (10,000 rooms must not make a
-- 10 MB page). A room's activity is its latest message's time (its creation time until then), kept by the
-- trigger that numbers messages, in the same statement.
ALTER TABLE rooms ADD COLUMN last_active_at INTEGER NOT NULL DEFAULT 0;
UPDATE rooms SET last_active_at = COALESCE((SELECT MAX(created_at) FROM messages WHERE room_id = rooms.id), created_at);
CREATE INDEX rooms_by_activity ON rooms (last_active_at DESC, id DESC);

DROP TRIGGER messages_advance_room_seq;
CREATE TRIGGER messages_advance_room_seq AFTER INSERT ON messages
BEGIN
    UPDATE rooms SET last_seq = NEW.seq, last_active_at = NEW.created_at WHERE id = NEW.room_id;
END;
