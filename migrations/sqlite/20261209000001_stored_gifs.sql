-- The GIFs the uploads store holds (a directory, or an S3 bucket), one row per stored GIF. A GIF is named by its
-- content, so two messages may show the same one: its row is what the quota counts (once), and it goes, with its
-- files, when no message shows it and no upload is on its way with it. The store itself is never listed to learn
-- what it holds, except by the sweep that removes what a crash left there. (See chat/src/service/gifs.rs.)
CREATE TABLE stored_gifs (
    -- The GIF's name: 32 hex digits (of a keyed hash of its content) and '.gif'. Its still is '<hex>.still.gif'.
    name        TEXT   PRIMARY KEY,
    -- The bytes the GIF and its still take in the store. 0 until measured, for GIFs stored before this table.
    bytes       INTEGER NOT NULL CHECK (bytes >= 0),
    -- Uploads of it on their way to their message (claimed before their files are written), and when the last
    -- one claimed it (Unix ms): a claim older than the uploads' grace is one whose process died.
    claims      INTEGER NOT NULL DEFAULT 0 CHECK (claims >= 0),
    claimed_at  INTEGER NOT NULL,
    -- Set while its files are being removed (Unix ms): an upload claiming it then waits before writing them.
    released_at INTEGER
) WITHOUT ROWID;

-- What the messages show already (their sizes are measured by the next sweep).
INSERT INTO stored_gifs (name, bytes, claimed_at)
SELECT DISTINCT body, 0, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM messages WHERE kind = 'gif' AND deleted_by IS NULL;

-- Whether a GIF is still shown by some message: asked whenever one goes.
CREATE INDEX messages_gif_files ON messages (body) WHERE kind = 'gif';
