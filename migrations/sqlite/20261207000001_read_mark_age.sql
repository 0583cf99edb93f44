-- When each read mark was last written (Unix milliseconds): marks nobody renewed for 30 days are removed (their
-- person's session is gone by then), and a room keeps only its most recent ones (see `db::prune_read_marks`).
-- Marks from before this migration count as written now.
ALTER TABLE read_marks ADD COLUMN marked_at INTEGER NOT NULL DEFAULT 0;
UPDATE read_marks SET marked_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000;
CREATE INDEX read_marks_by_age ON read_marks (room_id, marked_at);
