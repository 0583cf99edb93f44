-- The GIF picker (see chat/src/service/picker.rs): a person's own GIFs, and a library of GIFs people chose to share
-- with everyone on this server. Both point at stored GIFs by name; posting one again adds no file.

-- Who uploaded which GIF, newest last: a person's "Mine" tab. An entry only shows while its GIF is stored (it does
-- not keep the GIF); the sweep forgets entries whose GIF went.
CREATE TABLE gif_uploads (
    visitor_id  TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    uploaded_at INTEGER NOT NULL,
    PRIMARY KEY (visitor_id, name)
) WITHOUT ROWID;
CREATE INDEX gif_uploads_newest ON gif_uploads (visitor_id, uploaded_at);

-- The library: GIFs shared with everyone, with a few words to find each by. An entry keeps its GIF stored (the
-- quota counts the GIF once) even when no message shows it any more.
CREATE TABLE gif_library (
    -- The full-text index's key (an alias of the rowid, so that no VACUUM renumbers it).
    id       INTEGER PRIMARY KEY,
    name     TEXT    NOT NULL UNIQUE,
    words    TEXT    NOT NULL,
    added_by TEXT    NOT NULL,
    added_at INTEGER NOT NULL
);
CREATE INDEX gif_library_newest ON gif_library (added_at);

-- Its words, searched by prefix with FTS5 (an external-content index over gif_library, kept by the triggers).
CREATE VIRTUAL TABLE gif_library_words USING fts5(
    words, content = 'gif_library', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER gif_library_added AFTER INSERT ON gif_library BEGIN
    INSERT INTO gif_library_words (rowid, words) VALUES (NEW.id, NEW.words);
END;
CREATE TRIGGER gif_library_removed AFTER DELETE ON gif_library BEGIN
    INSERT INTO gif_library_words (gif_library_words, rowid, words) VALUES ('delete', OLD.id, OLD.words);
END;
CREATE TRIGGER gif_library_changed AFTER UPDATE OF words ON gif_library BEGIN
    INSERT INTO gif_library_words (gif_library_words, rowid, words) VALUES ('delete', OLD.id, OLD.words);
    INSERT INTO gif_library_words (rowid, words) VALUES (NEW.id, NEW.words);
END;
