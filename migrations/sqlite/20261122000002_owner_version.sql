-- Orders hand-overs: the presence version at which the owner was decided. Two hand-overs decided in one order but
-- written in another (each write follows an await) keep the later decision: a write with an older version does
-- nothing. Presence versions start from the boot time (in microseconds), so they also grow across restarts.
ALTER TABLE rooms ADD COLUMN owner_version INTEGER NOT NULL DEFAULT 0;
