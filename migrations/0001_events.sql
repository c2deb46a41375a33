-- 0001_events.sql - the event store: nostream's tables, partitioned.
--
-- `events` keeps nostream's columns so that operators' tools and queries keep
-- working, but is range-partitioned by event_created_at from the start, with
-- one local partition `events_hot` covering everything. Distributed storage
-- (scripts/add-storage-node.sh) only ever narrows events_hot and attaches
-- more partitions. Hence:
--   * no unique index or primary key on the parent (it would have to include
--     event_created_at and would block attaching foreign partitions); event_id
--     is unique per partition, and globally because an id hashes its
--     created_at, so one id always routes to one partition;
--   * replaceable writes do not use ON CONFLICT on the parent (it cannot work
--     there, see NOTES): nostream_put_event() below decides under an
--     advisory lock instead.
-- `event_tags` stays local and holds the single-letter tags of every stored
-- event, so tag queries never need a remote scan to find candidates.

CREATE TABLE IF NOT EXISTS events (
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
) PARTITION BY RANGE (event_created_at);

CREATE TABLE IF NOT EXISTS events_hot PARTITION OF events
    FOR VALUES FROM (MINVALUE) TO (MAXVALUE);

CREATE UNIQUE INDEX IF NOT EXISTS events_hot_event_id_idx ON events_hot (event_id);
-- authors (+kinds) newest first, kinds newest first, everything newest first
CREATE INDEX IF NOT EXISTS events_hot_pubkey_kind_created_idx
    ON events_hot (event_pubkey, event_kind, event_created_at DESC);
CREATE INDEX IF NOT EXISTS events_hot_pubkey_created_idx
    ON events_hot (event_pubkey, event_created_at DESC);
CREATE INDEX IF NOT EXISTS events_hot_kind_created_idx
    ON events_hot (event_kind, event_created_at DESC);
CREATE INDEX IF NOT EXISTS events_hot_created_idx ON events_hot (event_created_at DESC);
-- the current version of a replaceable or addressable event
CREATE INDEX IF NOT EXISTS events_hot_replaceable_idx
    ON events_hot (event_pubkey, event_kind, event_deduplication)
    WHERE event_deduplication IS NOT NULL;
CREATE INDEX IF NOT EXISTS events_hot_expires_idx ON events_hot (expires_at)
    WHERE expires_at IS NOT NULL;

CREATE TABLE IF NOT EXISTS event_tags (
    id        uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    event_id  bytea NOT NULL,
    tag_name  text NOT NULL,
    tag_value text NOT NULL
);
-- Tag values can be longer than a btree entry may be (about 2.7 kB), so the
-- index holds the first 200 bytes and queries compare both the prefix (to use
-- the index) and the whole value (to be exact).
CREATE INDEX IF NOT EXISTS event_tags_name_value_idx
    ON event_tags (tag_name, left(tag_value, 200));
CREATE INDEX IF NOT EXISTS event_tags_event_id_idx ON event_tags (event_id);
