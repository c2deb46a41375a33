-- storage-init.sql - the table a storage node holds for the coordinator.
--
-- Run on the storage node, in database nostr_ts_relay, as the role
-- nostr_ts_relay (docker/storage-db/entrypoint.sh does it on every start; it
-- is idempotent). The coordinator reaches `events_data` through postgres_fdw
-- as a foreign partition of its `events` table (scripts/add-storage-node.sh),
-- so the columns are exactly those of the coordinator's `events`
-- (migrations/0001_events.sql): same names, types, NOT NULLs and defaults.
--
-- The unique index on event_id is what deduplicates
-- `INSERT ... ON CONFLICT DO NOTHING` sent through postgres_fdw (the
-- coordinator cannot have a unique index across partitions). The other
-- indexes are those of the coordinator's events_hot, so queries pushed down
-- by postgres_fdw find the same access paths here.

CREATE TABLE IF NOT EXISTS events_data (
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    event_id            bytea NOT NULL,
    event_pubkey        bytea NOT NULL,
    event_kind          integer NOT NULL,
    event_created_at    integer NOT NULL,
    event_content       text NOT NULL,
    event_tags          jsonb NOT NULL DEFAULT '[]'::jsonb,
    event_signature     bytea NOT NULL,
    first_seen          timestamp without time zone NOT NULL DEFAULT now(),
    deleted_at          timestamp without time zone,
    event_deduplication jsonb,
    remote_address      inet,
    expires_at          integer
);

CREATE UNIQUE INDEX IF NOT EXISTS events_data_event_id_idx ON events_data (event_id);
-- authors (+kinds) newest first, kinds newest first, everything newest first
CREATE INDEX IF NOT EXISTS events_data_pubkey_kind_created_idx
    ON events_data (event_pubkey, event_kind, event_created_at DESC);
CREATE INDEX IF NOT EXISTS events_data_pubkey_created_idx
    ON events_data (event_pubkey, event_created_at DESC);
CREATE INDEX IF NOT EXISTS events_data_kind_created_idx
    ON events_data (event_kind, event_created_at DESC);
CREATE INDEX IF NOT EXISTS events_data_created_idx ON events_data (event_created_at DESC);
-- the current version of a replaceable or addressable event
CREATE INDEX IF NOT EXISTS events_data_replaceable_idx
    ON events_data (event_pubkey, event_kind, event_deduplication)
    WHERE event_deduplication IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_data_expires_idx ON events_data (expires_at)
    WHERE expires_at IS NOT NULL;

-- A no-op when run as nostr_ts_relay; hands the table over when a superuser
-- runs this file by hand.
ALTER TABLE events_data OWNER TO nostr_ts_relay;
