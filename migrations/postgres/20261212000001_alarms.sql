-- Alarms: what concerns one person, told to them wherever they are (see chat/src/service/alarms.rs). A person's
-- alarms change in a numbered order of their own (an alarm raised, one that gathered another actor, alarms
-- withdrawn, "read up to here"): a page follows the numbers, and one that missed some loads the list again.

-- Where each person's numbering stands: the number of their latest change, and the number up to which they read
-- (an alarm changed after it is unread). Its row also orders a person's changes: each change writes it first.
CREATE TABLE alarm_heads (
    person_id  TEXT    PRIMARY KEY,
    last_seq   BIGINT  NOT NULL,
    read_seq   BIGINT  NOT NULL,
    changed_at BIGINT  NOT NULL
);

-- One alarm per person, kind, room and subject (the message it is about; 0 when it is about the room): a second
-- actor updates it ("Ann and 2 others reacted") rather than adding one. No foreign key to the room: an alarm
-- outlives its room and says it was removed.
CREATE TABLE alarms (
    id         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    person_id  TEXT    NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('reaction', 'reply', 'mention', 'whisper', 'invitation', 'declined')),
    room_id    BIGINT  NOT NULL,
    -- The room's title when the alarm was raised.
    room_title TEXT    NOT NULL,
    subject    BIGINT  NOT NULL,
    -- The message to show (the latest reply or whisper), if any.
    message    BIGINT,
    -- The latest actor, and how many different people acted.
    actor_id   TEXT    NOT NULL,
    actors     BIGINT  NOT NULL CHECK (actors >= 1),
    -- The latest reaction's emoji.
    emoji      TEXT,
    -- Whether the message it is about is a GIF.
    on_gif     BOOLEAN NOT NULL DEFAULT FALSE,
    -- The person's change that last touched it.
    seq        BIGINT  NOT NULL,
    changed_at BIGINT  NOT NULL
);
CREATE UNIQUE INDEX alarms_one_per_subject ON alarms (person_id, room_id, kind, subject);
CREATE INDEX alarms_newest ON alarms (person_id, seq);
CREATE INDEX alarms_age ON alarms (changed_at);

-- Who acted on an alarm (counted once each).
CREATE TABLE alarm_actors (
    alarm_id BIGINT  NOT NULL REFERENCES alarms (id) ON DELETE CASCADE,
    actor_id TEXT    NOT NULL,
    PRIMARY KEY (alarm_id, actor_id)
);

-- People a person muted: nothing they do raises an alarm for them. A mute lasts the session's life.
CREATE TABLE alarm_mutes (
    person_id TEXT    NOT NULL,
    muted_id  TEXT    NOT NULL,
    muted_at  BIGINT  NOT NULL,
    PRIMARY KEY (person_id, muted_id)
);
