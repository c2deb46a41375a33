-- 0005_storage_outage.sql - riding out a storage node that is down.
--
-- postgres_fdw fails a whole statement when one foreign partition cannot
-- be reached, so with `events` as specified one dead node would fail every
-- REQ that does not prune it away, and every write (nostream_put_event()
-- looks at all partitions for deletions and replaceable versions).
--
-- The relay's storage monitor (src/storage.c) probes every foreign
-- partition of `events`. When one does not answer it calls
-- nostream_storage_hold(), which swaps the foreign table out of `events`
-- and a local "held" table (same columns and indexes as events_hot) in, for
-- the same range. Everything then works on what is reachable: writes in the
-- node's range land in the held table (durably, so OK true stays true),
-- reads return what every other partition has, and the relay tells clients
-- whose REQ touches the range with a NOTICE. When the node answers again,
-- nostream_storage_restore() copies the held rows to it (ON CONFLICT DO
-- NOTHING: an event the node already had is not duplicated), swaps the
-- foreign table back in and replays, against the whole table again, the
-- deletions and replaceable versions that arrived in the meantime.
--
-- The state lives in two tables, so a relay restart, or a second relay on
-- the same database, carries on from it:
--   nostream_storage_outage  one row per foreign table swapped out;
--   nostream_storage_replay  kind 5 and replaceable events stored while any
--                            node was out, replayed when the last returns.
-- scripts/storage-status.sh shows both.

CREATE TABLE IF NOT EXISTS nostream_storage_outage (
    foreign_table text PRIMARY KEY,
    server        text NOT NULL,
    bound         text NOT NULL,     -- pg_get_expr() of the partition bound
    range_lo      bigint,            -- NULL: MINVALUE
    range_hi      bigint,            -- NULL: MAXVALUE
    held_table    text NOT NULL,
    since         timestamptz NOT NULL DEFAULT now(),
    reason        text
);

CREATE TABLE IF NOT EXISTS nostream_storage_replay (
    seq              bigserial PRIMARY KEY,
    event_id         bytea NOT NULL,
    event_created_at integer NOT NULL
);

-- NIP-09 for one stored kind 5: marks the author's own events it names (by
-- `e` id, or by `a` address up to the deletion's created_at) as deleted.
CREATE OR REPLACE FUNCTION nostream_apply_deletion(
    p_pubkey bytea, p_tags jsonb, p_created_at integer)
RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    v_pk_hex text := encode(p_pubkey, 'hex');
BEGIN
    UPDATE events SET deleted_at = now()
     WHERE event_pubkey = p_pubkey AND event_kind <> 5 AND deleted_at IS NULL
       AND event_id IN (
           SELECT decode(t->>1, 'hex') FROM jsonb_array_elements(p_tags) AS t
            WHERE t->>0 = 'e' AND (t->>1) ~ '^[0-9a-f]{64}$');
    UPDATE events e SET deleted_at = now()
      FROM (SELECT split_part(t->>1, ':', 1)::integer AS kind,
                   substr(t->>1, length(split_part(t->>1, ':', 1)) + 67) AS d
              FROM jsonb_array_elements(p_tags) AS t
             WHERE t->>0 = 'a'
               AND (t->>1) ~ ('^(3[0-9]{4}|1[0-9]{4}|0|3|41):' || v_pk_hex || ':')) AS a
     WHERE e.event_pubkey = p_pubkey AND e.event_kind = a.kind AND e.deleted_at IS NULL
       AND e.event_created_at <= p_created_at
       AND e.event_deduplication = CASE
             WHEN a.kind >= 30000 THEN jsonb_build_array(a.d)
             ELSE jsonb_build_array(v_pk_hex, a.kind) END;
END
$fn$;

-- Keeps only the newest version (latest created_at, then lowest id) of one
-- replaceable or addressable event; removes the others with their tags.
CREATE OR REPLACE FUNCTION nostream_keep_newest(p_pubkey bytea, p_kind integer, p_dedup jsonb)
RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    v_keep bytea;
BEGIN
    SELECT event_id INTO v_keep FROM events
     WHERE event_pubkey = p_pubkey AND event_kind = p_kind
       AND event_deduplication = p_dedup AND deleted_at IS NULL
     ORDER BY event_created_at DESC, event_id ASC
     LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    DELETE FROM event_tags WHERE event_id IN (
        SELECT event_id FROM events
         WHERE event_pubkey = p_pubkey AND event_kind = p_kind
           AND event_deduplication = p_dedup AND deleted_at IS NULL AND event_id <> v_keep);
    DELETE FROM events
     WHERE event_pubkey = p_pubkey AND event_kind = p_kind
       AND event_deduplication = p_dedup AND deleted_at IS NULL AND event_id <> v_keep;
END
$fn$;

-- The write path of 0002, unchanged in behaviour, with its deletion step
-- moved into nostream_apply_deletion() and one addition: while a node is
-- out, deletions and replaceable versions are noted for replay.
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

    INSERT INTO event_tags (event_id, tag_name, tag_value)
    SELECT p_id, t->>0, t->>1
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

-- Asks one foreign partition for nothing (no row needs to exist): NULL when
-- the node answered, else the error. Works attached or swapped out.
CREATE OR REPLACE FUNCTION nostream_storage_probe(p_ft text)
RETURNS text
LANGUAGE plpgsql AS $fn$
BEGIN
    EXECUTE format('SELECT 1 FROM %I WHERE event_created_at < -2147483647 LIMIT 1', p_ft);
    RETURN NULL;
EXCEPTION WHEN OTHERS THEN
    RETURN SQLERRM;
END
$fn$;

-- The names of the held table for a foreign table (at most 63 bytes).
CREATE OR REPLACE FUNCTION nostream_storage_held_name(p_ft text)
RETURNS text
LANGUAGE sql IMMUTABLE AS $fn$
    SELECT left(p_ft, 50) || '_held_' || substr(md5(p_ft), 1, 6)
$fn$;

-- Swaps the foreign partition p_ft out of `events` and a local held table in
-- for its range. Returns 'held', 'already held' or 'not a foreign
-- partition'. Runs under the storage lock, so relays never race.
CREATE OR REPLACE FUNCTION nostream_storage_hold(p_ft text, p_reason text)
RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    v_bound text;
    v_srv text;
    v_held text := nostream_storage_held_name(p_ft);
    v_lo text;
    v_hi text;
BEGIN
    PERFORM pg_advisory_xact_lock(7170002);
    IF EXISTS (SELECT 1 FROM nostream_storage_outage WHERE foreign_table = p_ft) THEN
        RETURN 'already held';
    END IF;
    SELECT pg_get_expr(c.relpartbound, c.oid), s.srvname INTO v_bound, v_srv
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      JOIN pg_foreign_table f ON f.ftrelid = c.oid
      JOIN pg_foreign_server s ON s.oid = f.ftserver
     WHERE i.inhparent = 'events'::regclass AND c.oid = to_regclass(quote_ident(p_ft));
    IF NOT FOUND THEN
        RETURN 'not a foreign partition';
    END IF;
    v_lo := substring(v_bound FROM 'FROM \(([^)]*)\)');
    v_hi := substring(v_bound FROM 'TO \(([^)]*)\)');
    EXECUTE format('ALTER TABLE events DETACH PARTITION %I', p_ft);
    -- Columns, defaults and indexes of events_hot, not its constraints: a
    -- move by the scripts may have left a CHECK for events_hot's own range.
    EXECUTE format('CREATE TABLE IF NOT EXISTS %I (LIKE events_hot INCLUDING DEFAULTS INCLUDING INDEXES)',
                   v_held);
    EXECUTE format('ALTER TABLE events ATTACH PARTITION %I %s', v_held, v_bound);
    INSERT INTO nostream_storage_outage (foreign_table, server, bound, range_lo, range_hi,
                                         held_table, reason)
    VALUES (p_ft, v_srv, v_bound,
            CASE WHEN v_lo ~ '^-?[0-9]+$' THEN v_lo::bigint END,
            CASE WHEN v_hi ~ '^-?[0-9]+$' THEN v_hi::bigint END,
            v_held, p_reason);
    RETURN 'held';
END
$fn$;

-- Replays one event noted while a node was out: its deletions, or keeping
-- only the newest version of it, now over every partition.
CREATE OR REPLACE FUNCTION nostream_storage_replay_one(p_id bytea, p_created_at integer)
RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    e record;
BEGIN
    SELECT event_pubkey, event_kind, event_tags, event_deduplication INTO e FROM events
     WHERE event_id = p_id AND event_created_at = p_created_at AND deleted_at IS NULL;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF e.event_kind = 5 THEN
        PERFORM nostream_apply_deletion(e.event_pubkey, e.event_tags, p_created_at);
    END IF;
    IF e.event_deduplication IS NOT NULL THEN
        PERFORM nostream_keep_newest(e.event_pubkey, e.event_kind, e.event_deduplication);
    END IF;
END
$fn$;

-- Once no node is out any more: replays, in arrival order, what was noted
-- while some were, and forgets it.
CREATE OR REPLACE FUNCTION nostream_storage_replay_all()
RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    r record;
BEGIN
    IF EXISTS (SELECT 1 FROM nostream_storage_outage) THEN
        RETURN;
    END IF;
    FOR r IN SELECT event_id, event_created_at FROM nostream_storage_replay ORDER BY seq LOOP
        PERFORM nostream_storage_replay_one(r.event_id, r.event_created_at);
    END LOOP;
    DELETE FROM nostream_storage_replay;
END
$fn$;

-- The node behind p_ft answers again: copies the held rows to it, swaps the
-- foreign table back in and, when no node is out any more, replays what was
-- noted. All in one transaction (the copy commits on the node with it), so
-- a failure anywhere leaves the outage as it was, to be retried; a copy
-- that reached the node twice is harmless (ON CONFLICT DO NOTHING).
-- The held table is detached first: that takes the lock on `events` before
-- the copy, so no writer can commit a row into the held table after the
-- copy read it and before it is dropped (found by tests/soak). `events` is
-- therefore locked while the held rows travel: milliseconds for the usual
-- handful of back-dated events, longer after a long outage with many.
-- Returns the number of held rows delivered, or NULL when p_ft is not held.
CREATE OR REPLACE FUNCTION nostream_storage_restore(p_ft text)
RETURNS bigint
LANGUAGE plpgsql AS $fn$
DECLARE
    o record;
    v_cols text;
    v_n bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(7170002);
    SELECT * INTO o FROM nostream_storage_outage WHERE foreign_table = p_ft;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO v_cols
      FROM pg_attribute
     WHERE attrelid = 'events'::regclass AND attnum > 0 AND NOT attisdropped;
    EXECUTE format('ALTER TABLE events DETACH PARTITION %I', o.held_table);
    EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM %I ON CONFLICT DO NOTHING',
                   p_ft, v_cols, v_cols, o.held_table);
    EXECUTE format('SELECT count(*) FROM %I', o.held_table) INTO v_n;
    EXECUTE format('ALTER TABLE events ATTACH PARTITION %I %s', p_ft, o.bound);
    EXECUTE format('DROP TABLE %I', o.held_table);
    DELETE FROM nostream_storage_outage WHERE foreign_table = p_ft;
    PERFORM nostream_storage_replay_all();
    RETURN v_n;
END
$fn$;

-- For an operator giving up on a node that will not come back (its disk is
-- gone): ends the outage of p_ft without delivering anything. The held
-- table stays attached as an ordinary local partition for the node's range
-- (renamed <p_ft>_local), keeping every event accepted during the outage;
-- the detached foreign table can then go with remove-storage-node.sh.
-- Returns the new name of the local partition, or NULL when p_ft is not held.
CREATE OR REPLACE FUNCTION nostream_storage_forget(p_ft text)
RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE
    o record;
    v_local text := left(p_ft, 57) || '_local';
BEGIN
    PERFORM pg_advisory_xact_lock(7170002);
    SELECT * INTO o FROM nostream_storage_outage WHERE foreign_table = p_ft;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    EXECUTE format('ALTER TABLE %I RENAME TO %I', o.held_table, v_local);
    DELETE FROM nostream_storage_outage WHERE foreign_table = p_ft;
    PERFORM nostream_storage_replay_all();
    RETURN v_local;
END
$fn$;
