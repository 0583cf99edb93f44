-- Hand-overs are decided and written in one transaction since presence moved into the database
-- (20261124000001_shared_presence), ordered by `presence_version`: nothing reads or writes `owner_version` any more.
ALTER TABLE rooms DROP COLUMN owner_version;
