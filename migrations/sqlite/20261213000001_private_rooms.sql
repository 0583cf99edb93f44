-- Private conversations (see chat/src/service/private.rs): a room for exactly two people, made when one invites the
-- other, not on the room list, that nobody else may enter (to anyone else it does not exist).

-- The room's two people: who invited whom, and the pair in a fixed order (the smaller id first), so that a pair has
-- at most one open private room. The row goes with its room.
CREATE TABLE private_rooms (
    room_id    INTEGER PRIMARY KEY REFERENCES rooms (id) ON DELETE CASCADE,
    inviter_id TEXT    NOT NULL,
    invitee_id TEXT    NOT NULL CHECK (invitee_id <> inviter_id),
    first_id   TEXT    NOT NULL,
    second_id  TEXT    NOT NULL,
    UNIQUE (first_id, second_id)
);
