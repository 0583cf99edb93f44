-- The GIF picker (see chat/src/service/picker.rs): a person's own GIFs, and a library of GIFs people chose to share
-- with everyone on this server. Both point at stored GIFs by name; posting one again adds no file.

-- Who uploaded which GIF, newest last: a person's "Mine" tab. An entry only shows while its GIF is stored (it does
-- not keep the GIF); the sweep forgets entries whose GIF went.
CREATE TABLE gif_uploads (
    visitor_id  TEXT   NOT NULL,
    name        TEXT   NOT NULL,
    uploaded_at BIGINT NOT NULL,
    PRIMARY KEY (visitor_id, name)
);
CREATE INDEX gif_uploads_newest ON gif_uploads (visitor_id, uploaded_at);

-- The library: GIFs shared with everyone, with a few words to find each by. An entry keeps its GIF stored (the
-- quota counts the GIF once) even when no message shows it any more.
CREATE TABLE gif_library (
    name     TEXT   PRIMARY KEY,
    words    TEXT   NOT NULL,
    added_by TEXT   NOT NULL,
    added_at BIGINT NOT NULL,
    -- Its words, searched by prefix (`simple`: no language's stemming, names and slang stay as written).
    search   tsvector GENERATED ALWAYS AS (to_tsvector('simple', words)) STORED
);
CREATE INDEX gif_library_newest ON gif_library (added_at);
CREATE INDEX gif_library_search ON gif_library USING GIN (search);
