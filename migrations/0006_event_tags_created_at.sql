-- 0006_event_tags_created_at.sql - tag queries newest first, from the index.
--
-- A REQ such as {"#p": [key], "limit": 20} (a client's notifications) used
-- to collect the id of every event mentioning the key from event_tags, look
-- each one up in `events` and sort them all, to keep 20: fine for a key
-- mentioned a hundred times, not for a popular one (p99 438 ms at 10M events
-- in bench/run.sh's growth mode, docs/performance.md). With the event's
-- created_at in event_tags and in its index, the mentions are read newest
-- first and the lookups stop at the limit (src/query.c).
--
-- The column is our addition to nostream's table. nostream_put_event()
-- fills it; rows that tools insert without it get it from their event by a
-- trigger (below), so a tag row inserted before its event stays without
-- one and is not found by the newest-first path: insert events first. The
-- backfill reads `events` whole, foreign partitions included: every storage
-- node must answer while this migration runs (the relay refuses to start
-- otherwise, naming the node, and applies it at the next start).

ALTER TABLE event_tags ADD COLUMN IF NOT EXISTS event_created_at integer;

-- One row per tag name and value of an event: the newest-first join in
-- src/query.c would otherwise return an event once per repeated tag (nostream
-- stored ["p", X] twice as two rows). Existing repeats go; of each, the row
-- with the lowest id stays.
DELETE FROM event_tags a
 USING event_tags b
 WHERE a.event_id = b.event_id AND a.tag_name = b.tag_name AND a.tag_value = b.tag_value
   AND a.id > b.id;

UPDATE event_tags t SET event_created_at = e.event_created_at
  FROM events e
 WHERE e.event_id = t.event_id AND t.event_created_at IS NULL;

-- Replaces event_tags_name_value_idx: the same leading columns, so every
-- lookup by tag value that used it (the deletion checks in
-- nostream_put_event) uses this one.
CREATE INDEX IF NOT EXISTS event_tags_name_value_created_idx
    ON event_tags (tag_name, left(tag_value, 200), event_created_at DESC);
DROP INDEX IF EXISTS event_tags_name_value_idx;

-- Rows inserted without the column (by tools, or by hand) get it from their
-- event, if it is stored; the relay's own inserts give it, so the trigger
-- function is not even called for them. events_hot first: a lookup by id
-- alone in `events` asks every storage node.
CREATE OR REPLACE FUNCTION nostream_event_tags_created_at()
RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    SELECT event_created_at INTO NEW.event_created_at
      FROM events_hot WHERE event_id = NEW.event_id;
    IF NEW.event_created_at IS NULL THEN
        SELECT event_created_at INTO NEW.event_created_at
          FROM events WHERE event_id = NEW.event_id LIMIT 1;
    END IF;
    RETURN NEW;
END
$fn$;
DROP TRIGGER IF EXISTS event_tags_created_at ON event_tags;
CREATE TRIGGER event_tags_created_at BEFORE INSERT ON event_tags
    FOR EACH ROW WHEN (NEW.event_created_at IS NULL)
    EXECUTE FUNCTION nostream_event_tags_created_at();

-- The write path of 0005, unchanged but for its tag rows: with the event's
-- created_at, and one per distinct single-letter name and value. (Inline:
-- calling a function for them cost a fifth of the publish rate, measured
-- with loadgen publish, 12.4k against 9.5k events/s.)
CREATE OR REPLACE FUNCTION nostream_put_event(
    p_id bytea, p_pubkey bytea, p_kind integer, p_created_at integer,
    p_content text, p_tags jsonb, p_sig bytea, p_dedup jsonb,
    p_remote inet, p_expires_at integer)
RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    v_id_hex text := encode(p_id, 'hex');
    v_pk_hex text := encode(p_pubkey, 'hex');
    v_deleted timestamp;
    v_cur record;
    v_n integer;
BEGIN
    IF p_dedup IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(
            hashtextextended(v_pk_hex || ':' || p_kind || ':' || p_dedup::text, 0));
    END IF;

    SELECT deleted_at INTO v_deleted FROM events
     WHERE event_id = p_id AND event_created_at = p_created_at;
    IF FOUND THEN
        RETURN CASE WHEN v_deleted IS NULL THEN 'duplicate' ELSE 'deleted' END;
    END IF;

    -- Deleted before it arrived: a kind 5 by the same author naming its id.
    IF p_kind <> 5 AND EXISTS (
        SELECT 1 FROM event_tags t JOIN events d ON d.event_id = t.event_id
         WHERE t.tag_name = 'e' AND left(t.tag_value, 200) = left(v_id_hex, 200)
           AND t.tag_value = v_id_hex
           AND d.event_kind = 5 AND d.event_pubkey = p_pubkey AND d.deleted_at IS NULL)
    THEN
        RETURN 'deleted';
    END IF;

    IF p_dedup IS NOT NULL THEN
        -- Deleted through an `a` tag that covers this version.
        IF p_kind >= 30000 AND p_kind < 40000 AND EXISTS (
            SELECT 1 FROM event_tags t JOIN events d ON d.event_id = t.event_id
             WHERE t.tag_name = 'a'
               AND left(t.tag_value, 200) = left(p_kind || ':' || v_pk_hex || ':' || (p_dedup->>0), 200)
               AND t.tag_value = p_kind || ':' || v_pk_hex || ':' || (p_dedup->>0)
               AND d.event_kind = 5 AND d.event_pubkey = p_pubkey AND d.deleted_at IS NULL
               AND d.event_created_at >= p_created_at)
        THEN
            RETURN 'deleted';
        END IF;

        SELECT event_id, event_created_at INTO v_cur FROM events
         WHERE event_pubkey = p_pubkey AND event_kind = p_kind
           AND event_deduplication = p_dedup AND deleted_at IS NULL
         ORDER BY event_created_at DESC, event_id ASC
         LIMIT 1;
        IF FOUND AND (v_cur.event_created_at > p_created_at OR
                      (v_cur.event_created_at = p_created_at AND v_cur.event_id < p_id)) THEN
            RETURN 'stale';
        END IF;
        -- The new version wins: older versions go, with their tags.
        DELETE FROM event_tags WHERE event_id IN (
            SELECT event_id FROM events
             WHERE event_pubkey = p_pubkey AND event_kind = p_kind
               AND event_deduplication = p_dedup AND deleted_at IS NULL);
        DELETE FROM events
         WHERE event_pubkey = p_pubkey AND event_kind = p_kind
           AND event_deduplication = p_dedup AND deleted_at IS NULL;
    END IF;

    INSERT INTO events (event_id, event_pubkey, event_kind, event_created_at,
                        event_content, event_tags, event_signature,
                        event_deduplication, remote_address, expires_at)
    VALUES (p_id, p_pubkey, p_kind, p_created_at, p_content, p_tags, p_sig,
            p_dedup, p_remote, p_expires_at)
    ON CONFLICT DO NOTHING;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    IF v_n = 0 THEN
        RETURN 'duplicate';
    END IF;

    INSERT INTO event_tags (event_id, tag_name, tag_value, event_created_at)
    SELECT DISTINCT p_id, t->>0, t->>1, p_created_at
      FROM jsonb_array_elements(p_tags) AS t
     WHERE jsonb_array_length(t) >= 2 AND (t->>0) ~ '^[a-zA-Z]$';

    IF p_kind = 5 THEN
        PERFORM nostream_apply_deletion(p_pubkey, p_tags, p_created_at);
    END IF;
    IF (p_kind = 5 OR p_dedup IS NOT NULL)
       AND EXISTS (SELECT 1 FROM nostream_storage_outage) THEN
        INSERT INTO nostream_storage_replay (event_id, event_created_at)
        VALUES (p_id, p_created_at);
    END IF;
    RETURN 'stored';
END
$fn$;
