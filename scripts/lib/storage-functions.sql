-- storage-functions.sql - session-local helpers of the storage scripts.
--
-- scripts/lib/storage-common.sh sends this file at the start of every psql
-- session it opens (coordinator database, as DB_USER). Everything here is
-- created in pg_temp, so it vanishes with the session and never becomes
-- part of the schema. Only pg_temp.ns_move_begin() creates permanent
-- objects, for the duration of a move (see docs/distributed-scripts.md):
--   nostream_storage_move       one row per unfinished move (at most one)
--   nostream_storage_move_log   ids of events_hot rows written during a move
--   nostream_storage_move_capture()  and its trigger on events_hot
-- pg_temp.ns_switch() drops the trigger and the state row when the move
-- completes, pg_temp.ns_move_abort() when it is cancelled.
--
-- Bounds are bigint: MINVALUE is -2147483648 and MAXVALUE 2147483648, which
-- for an integer column mean the same as the SQL keywords.

SET client_min_messages = warning;
SET check_function_bodies = off;   -- the move tables may not exist yet
SET standard_conforming_strings = on;

-- Partitions of events with numeric bounds.
CREATE FUNCTION pg_temp.ns_parts(OUT part text, OUT kind "char", OUT lo bigint,
                                 OUT hi bigint, OUT is_default boolean,
                                 OUT detach_pending boolean)
RETURNS SETOF record LANGUAGE sql STABLE AS $f$
    SELECT c.relname::text, c.relkind,
           CASE WHEN b.lo_t IS NULL THEN NULL
                WHEN b.lo_t = 'MINVALUE' THEN -2147483648
                ELSE btrim(b.lo_t, '''')::bigint END,
           CASE WHEN b.hi_t IS NULL THEN NULL
                WHEN b.hi_t = 'MAXVALUE' THEN 2147483648
                ELSE btrim(b.hi_t, '''')::bigint END,
           x.e = 'DEFAULT', i.inhdetachpending
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
     CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, c.oid) AS e) x
     CROSS JOIN LATERAL (
           SELECT substring(x.e from '^FOR VALUES FROM \(([^()]*)\) TO \([^()]*\)$') AS lo_t,
                  substring(x.e from '^FOR VALUES FROM \([^()]*\) TO \(([^()]*)\)$') AS hi_t) b
     WHERE i.inhparent = 'events'::regclass
     ORDER BY 3 NULLS LAST, 1
$f$;

-- 'FROM (x) TO (y)' with the keywords for the extremes.
CREATE FUNCTION pg_temp.ns_bound_sql(lo bigint, hi bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $f$
    SELECT format('FROM (%s) TO (%s)',
                  CASE WHEN lo <= -2147483648 THEN 'MINVALUE' ELSE lo::text END,
                  CASE WHEN hi >= 2147483648 THEN 'MAXVALUE' ELSE hi::text END)
$f$;

-- The CHECK expression that says "inside [lo, hi)".
CREATE FUNCTION pg_temp.ns_range_check(lo bigint, hi bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $f$
    SELECT coalesce(nullif(concat_ws(' AND ',
               CASE WHEN lo > -2147483648 THEN format('event_created_at >= %s', lo) END,
               CASE WHEN hi < 2147483648 THEN format('event_created_at < %s', hi) END), ''),
           'true')
$f$;

-- The columns of events, quoted, in order.
CREATE FUNCTION pg_temp.ns_cols() RETURNS text LANGUAGE sql STABLE AS $f$
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum)
      FROM pg_attribute
     WHERE attrelid = 'events'::regclass AND attnum > 0 AND NOT attisdropped
$f$;

-- The same columns as a select list from events_hot, deleted_at replaced
-- by the move marker. When the node's partition is already attached (an
-- archive), a row copied to it before the switch carries deleted_at
-- '-infinity' unless it is really deleted: the node's foreign scan returns
-- every row of events_data, whatever the partition's range, and the relay
-- skips deleted rows, so it never sees the copy and the original both.
-- ns_switch clears the marker. An unattached node needs no marker.
CREATE FUNCTION pg_temp.ns_cols_marked() RETURNS text LANGUAGE sql STABLE AS $f$
    SELECT string_agg(CASE WHEN attname = 'deleted_at'
                           THEN 'coalesce(deleted_at, ''-infinity''::timestamp)'
                           ELSE quote_ident(attname) END, ', ' ORDER BY attnum)
      FROM pg_attribute
     WHERE attrelid = 'events'::regclass AND attnum > 0 AND NOT attisdropped
$f$;

-- ns_put_copies(ft, ids, marked): replaces the node's rows with these ids
-- by the current events_hot rows (marked or not), then checks them there.
-- Returns the count.
CREATE FUNCTION pg_temp.ns_put_copies(ft text, ids bytea[], marked boolean) RETURNS bigint
LANGUAGE plpgsql AS $f$
DECLARE
    loc bigint; locvis bigint; rem bigint; remvis bigint;
BEGIN
    EXECUTE format('DELETE FROM %I WHERE event_id = ANY($1)', ft) USING ids;
    EXECUTE format('INSERT INTO %I (%s) SELECT %s FROM events_hot WHERE event_id = ANY($1)',
                   ft, pg_temp.ns_cols(),
                   CASE WHEN marked THEN pg_temp.ns_cols_marked() ELSE pg_temp.ns_cols() END)
       USING ids;
    SELECT count(*), count(*) FILTER (WHERE deleted_at IS NULL) INTO loc, locvis
      FROM events_hot WHERE event_id = ANY(ids);
    EXECUTE format('SELECT count(*), count(*) FILTER (WHERE deleted_at %s) FROM %I WHERE event_id = ANY($1)',
                   CASE WHEN marked THEN '= ''-infinity''' ELSE 'IS NULL' END, ft)
       INTO rem, remvis USING ids;
    IF loc <> rem OR locvis <> remvis THEN
        RAISE EXCEPTION 'verification failed: % rows (% not deleted) here, % (% marked) on the node; nothing is deleted locally',
            loc, locvis, rem, remvis;
    END IF;
    RETURN rem;
END
$f$;

-- Is this relation attached to events?
CREATE FUNCTION pg_temp.ns_attached(rel text) RETURNS boolean
LANGUAGE sql STABLE AS $f$
    SELECT EXISTS (SELECT 1 FROM pg_inherits
                    WHERE inhparent = 'events'::regclass
                      AND inhrelid = to_regclass(quote_ident(rel)))
$f$;

-- Foreign server: created, or its options set (re-run with a new address).
CREATE FUNCTION pg_temp.ns_server(srv text, host text, port text, dbname text)
RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    opts text[][] := ARRAY[['host', host], ['port', port], ['dbname', dbname],
                           ['async_capable', 'true'], ['fetch_size', '1000'],
                           ['batch_size', '500'], ['connect_timeout', '10']];
    have text[];
    parts text[] := '{}';
    i int;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_foreign_server WHERE srvname = srv) THEN
        FOR i IN 1 .. array_length(opts, 1) LOOP
            parts := parts || format('%s %L', opts[i][1], opts[i][2]);
        END LOOP;
        EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER postgres_fdw OPTIONS (%s)',
                       srv, array_to_string(parts, ', '));
        RETURN 'created';
    END IF;
    SELECT coalesce(array_agg(option_name), '{}') INTO have
      FROM pg_foreign_server s, pg_options_to_table(s.srvoptions)
     WHERE s.srvname = srv;
    FOR i IN 1 .. array_length(opts, 1) LOOP
        parts := parts || format('%s %s %L',
                                 CASE WHEN opts[i][1] = ANY(have) THEN 'SET' ELSE 'ADD' END,
                                 opts[i][1], opts[i][2]);
    END LOOP;
    EXECUTE format('ALTER SERVER %I OPTIONS (%s)', srv, array_to_string(parts, ', '));
    RETURN 'updated';
END
$f$;

-- User mappings for the current role and for the owner of events (the
-- relay's role) when that is another role. Replaced when they exist: the
-- password may have changed.
CREATE FUNCTION pg_temp.ns_user_mappings(srv text, ruser text, rpass text)
RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    r name;
    done text[] := '{}';
BEGIN
    FOR r IN SELECT DISTINCT x FROM unnest(ARRAY[current_user::name,
                 (SELECT pg_get_userbyid(relowner) FROM pg_class
                   WHERE oid = 'events'::regclass)]) x LOOP
        EXECUTE format('DROP USER MAPPING IF EXISTS FOR %I SERVER %I', r, srv);
        EXECUTE format('CREATE USER MAPPING FOR %I SERVER %I OPTIONS (user %L, password %L)',
                       r, srv, ruser, rpass);
        done := done || r::text;
    END LOOP;
    RETURN array_to_string(done, ', ');
END
$f$;

-- The foreign table, with the columns, NOT NULLs and defaults of events.
-- An existing one that is not attached is made again (cheap, and it then
-- surely matches events); an attached one is left as it is.
CREATE FUNCTION pg_temp.ns_foreign_table(ft text, srv text, remote_schema text,
                                         remote_table text)
RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    cols text;
    existed boolean := to_regclass(quote_ident(ft)) IS NOT NULL;
BEGIN
    IF existed THEN
        IF (SELECT relkind FROM pg_class WHERE oid = to_regclass(quote_ident(ft))) <> 'f' THEN
            RAISE EXCEPTION '% exists and is not a foreign table', ft;
        END IF;
        IF pg_temp.ns_attached(ft) THEN
            RETURN 'attached';
        END IF;
        EXECUTE format('DROP FOREIGN TABLE %I', ft);
    END IF;
    SELECT string_agg(format('%I %s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                             CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                             coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')),
                      ', ' ORDER BY a.attnum)
      INTO cols
      FROM pg_attribute a
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = 'events'::regclass AND a.attnum > 0 AND NOT a.attisdropped;
    EXECUTE format('CREATE FOREIGN TABLE %I (%s) SERVER %I OPTIONS (schema_name %L, table_name %L)',
                   ft, cols, srv, remote_schema, remote_table);
    RETURN CASE WHEN existed THEN 'recreated' ELSE 'created' END;
END
$f$;

-- Reads every column of the foreign table once (no row needs to exist):
-- fails unless the node answers and has a matching events_data.
CREATE FUNCTION pg_temp.ns_probe(ft text) RETURNS text LANGUAGE plpgsql AS $f$
DECLARE r record;
BEGIN
    EXECUTE format('SELECT %s FROM %I WHERE event_created_at < -2147483647 LIMIT 1',
                   pg_temp.ns_cols(), ft) INTO r;
    RETURN 'ok';
END
$f$;

-- --- moving rows from events_hot to a node --------------------------------

-- Starts a move, or checks that the unfinished one is this one.
-- Returns 'started' or 'resumed'.
CREATE FUNCTION pg_temp.ns_move_begin(p_node text, p_ft text,
                                      p_move_lo bigint, p_move_hi bigint,
                                      p_node_lo bigint, p_node_hi bigint,
                                      p_hot_lo bigint, p_hot_hi bigint,
                                      p_marked boolean)
RETURNS text LANGUAGE plpgsql AS $f$
DECLARE m record;
BEGIN
    CREATE TABLE IF NOT EXISTS nostream_storage_move (
        node        text PRIMARY KEY,
        foreign_table text NOT NULL,
        move_lo     bigint NOT NULL,   -- events_hot rows in [move_lo, move_hi)
        move_hi     bigint NOT NULL,   -- go to the node,
        node_lo     bigint NOT NULL,   -- whose partition becomes [node_lo, node_hi)
        node_hi     bigint NOT NULL,
        hot_lo      bigint NOT NULL,   -- and events_hot [hot_lo, hot_hi)
        hot_hi      bigint NOT NULL,
        marked      boolean NOT NULL,  -- copies carry the move marker
        cursor_ts   bigint NOT NULL DEFAULT -2147483649,
        cursor_id   bytea NOT NULL DEFAULT '\x'::bytea,
        copied      bigint NOT NULL DEFAULT 0,
        started_at  timestamptz NOT NULL DEFAULT now());
    CREATE TABLE IF NOT EXISTS nostream_storage_move_log (
        seq              bigserial PRIMARY KEY,
        event_id         bytea NOT NULL,
        event_created_at integer NOT NULL);
    -- Remembers the id of every events_hot row written (inserted, updated,
    -- deleted) inside the range of a move while its rows are copied, so the
    -- copy on the node can be brought up to date before the switch.
    -- SECURITY DEFINER: the relay's role may not own these tables.
    CREATE OR REPLACE FUNCTION nostream_storage_move_capture() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $t$
    BEGIN
        IF current_setting('nostream.storage_mover', true) = 'on' THEN
            RETURN NULL;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            INSERT INTO public.nostream_storage_move_log (event_id, event_created_at)
            SELECT OLD.event_id, OLD.event_created_at
             WHERE EXISTS (SELECT 1 FROM public.nostream_storage_move m
                            WHERE OLD.event_created_at >= m.move_lo
                              AND OLD.event_created_at < m.move_hi);
        END IF;
        IF TG_OP IN ('UPDATE', 'INSERT') THEN
            INSERT INTO public.nostream_storage_move_log (event_id, event_created_at)
            SELECT NEW.event_id, NEW.event_created_at
             WHERE EXISTS (SELECT 1 FROM public.nostream_storage_move m
                            WHERE NEW.event_created_at >= m.move_lo
                              AND NEW.event_created_at < m.move_hi);
        END IF;
        RETURN NULL;
    END
    $t$;

    SELECT * INTO m FROM nostream_storage_move;
    IF FOUND THEN
        IF m.node = p_node AND m.foreign_table = p_ft
           AND m.move_lo = p_move_lo AND m.move_hi = p_move_hi
           AND m.node_lo = p_node_lo AND m.node_hi = p_node_hi
           AND m.hot_lo = p_hot_lo AND m.hot_hi = p_hot_hi THEN
            IF NOT EXISTS (SELECT 1 FROM pg_trigger
                            WHERE tgrelid = 'events_hot'::regclass
                              AND tgname = 'nostream_storage_move_capture') THEN
                -- Writes since the trigger vanished are unknown: copy again.
                CREATE TRIGGER nostream_storage_move_capture
                    AFTER INSERT OR UPDATE OR DELETE ON events_hot
                    FOR EACH ROW EXECUTE FUNCTION nostream_storage_move_capture();
                UPDATE nostream_storage_move SET cursor_ts = -2147483649, cursor_id = '\x', copied = 0;
                RETURN 'restarted';
            END IF;
            RETURN 'resumed';
        END IF;
        RAISE EXCEPTION 'an unfinished move exists: events_hot rows % go to node % (partition %); finish it by running the same command again, or cancel it with narrow-hot.sh --abort',
            pg_temp.ns_bound_sql(m.move_lo, m.move_hi), m.node, m.foreign_table
            USING ERRCODE = 'object_in_use';
    END IF;
    DELETE FROM nostream_storage_move_log;
    INSERT INTO nostream_storage_move (node, foreign_table, move_lo, move_hi,
                                       node_lo, node_hi, hot_lo, hot_hi, marked)
    VALUES (p_node, p_ft, p_move_lo, p_move_hi, p_node_lo, p_node_hi, p_hot_lo, p_hot_hi,
            p_marked);
    -- Waits for writers of events_hot in flight; every later write is seen.
    DROP TRIGGER IF EXISTS nostream_storage_move_capture ON events_hot;
    CREATE TRIGGER nostream_storage_move_capture
        AFTER INSERT OR UPDATE OR DELETE ON events_hot
        FOR EACH ROW EXECUTE FUNCTION nostream_storage_move_capture();
    RETURN 'started';
END
$f$;

-- One batch of the copy: the next p_n rows of events_hot in the move range
-- after the cursor (keyset order event_created_at, event_id) up to p_hi,
-- put on the node (replacing what is there with these ids) and checked
-- there. Advances the cursor in the state row. Run inside REPEATABLE READ
-- so that every statement sees one snapshot of events_hot.
CREATE FUNCTION pg_temp.ns_copy_batch(p_hi bigint, p_n integer,
                                      OUT n integer, OUT last_ts bigint,
                                      OUT total bigint)
LANGUAGE plpgsql AS $f$
DECLARE
    m record;
    ids bytea[];
    last_id bytea;
BEGIN
    SELECT * INTO STRICT m FROM nostream_storage_move;
    SELECT array_agg(event_id ORDER BY event_created_at, event_id), count(*)
      INTO ids, n
      FROM (SELECT event_id, event_created_at FROM events_hot
             WHERE event_created_at >= greatest(m.move_lo, m.cursor_ts)
               AND event_created_at < least(m.move_hi, p_hi)
               AND (event_created_at, event_id) > (m.cursor_ts, m.cursor_id)
             ORDER BY event_created_at, event_id
             LIMIT p_n) s;
    IF n = 0 THEN
        last_ts := m.cursor_ts;
        total := m.copied;
        RETURN;
    END IF;
    SELECT event_created_at, event_id INTO last_ts, last_id
      FROM events_hot WHERE event_id = ids[n];
    PERFORM pg_temp.ns_put_copies(m.foreign_table, ids, m.marked);
    UPDATE nostream_storage_move SET cursor_ts = last_ts, cursor_id = last_id,
                                     copied = copied + n
     RETURNING copied INTO total;
END
$f$;

-- Brings the node's copy of the rows named in the log up to date (up to
-- p_lim entries): the node's rows with those ids are replaced by the
-- current events_hot rows (none if deleted there), then checked. Returns
-- the number of log entries done. REPEATABLE READ outside the switch.
CREATE FUNCTION pg_temp.ns_drain(p_lim integer) RETURNS integer
LANGUAGE plpgsql AS $f$
DECLARE
    m record;
    seqs bigint[];
    ids bytea[];
BEGIN
    SELECT * INTO STRICT m FROM nostream_storage_move;
    SELECT array_agg(seq), array_agg(DISTINCT event_id) INTO seqs, ids
      FROM (SELECT seq, event_id FROM nostream_storage_move_log ORDER BY seq LIMIT p_lim) s;
    IF seqs IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM set_config('nostream.storage_mover', 'on', true);
    PERFORM pg_temp.ns_put_copies(m.foreign_table, ids, m.marked);
    DELETE FROM nostream_storage_move_log WHERE seq = ANY(seqs);
    RETURN array_length(seqs, 1);
END
$f$;

CREATE FUNCTION pg_temp.ns_log_size() RETURNS bigint LANGUAGE sql STABLE AS $f$
    SELECT count(*) FROM nostream_storage_move_log
$f$;

-- The switch, in the caller's transaction, which must already hold
-- ACCESS EXCLUSIVE on events: replays the rest of the log, checks the
-- counts, deletes the moved rows from events_hot, re-bounds events_hot
-- (a CHECK constraint proves the new bound, so ATTACH does not scan
-- again), attaches the node with its new range, ends the move.
-- Returns 'rows_deleted|local_rows|remote_rows'.
CREATE FUNCTION pg_temp.ns_switch() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE
    m record;
    loc bigint; rem bigint; deleted bigint;
    hot_bound text;
BEGIN
    SELECT * INTO STRICT m FROM nostream_storage_move;
    PERFORM set_config('nostream.storage_mover', 'on', true);
    WHILE pg_temp.ns_drain(100000) > 0 LOOP END LOOP;
    IF m.marked THEN
        EXECUTE format('UPDATE %I SET deleted_at = NULL WHERE deleted_at = ''-infinity''
                         AND event_created_at >= $1 AND event_created_at < $2', m.foreign_table)
          USING m.move_lo, m.move_hi;
    END IF;

    SELECT count(*) INTO loc FROM events_hot
     WHERE event_created_at >= m.move_lo AND event_created_at < m.move_hi;
    EXECUTE format('SELECT count(*) FROM %I WHERE event_created_at >= $1 AND event_created_at < $2',
                   m.foreign_table) INTO rem USING m.move_lo, m.move_hi;
    IF rem < loc THEN
        RAISE EXCEPTION 'verification failed: events_hot has % rows in %, the node only %',
            loc, pg_temp.ns_bound_sql(m.move_lo, m.move_hi), rem;
    END IF;
    -- Every row of the range must have been copied: the copy went through
    -- the whole range (cursor) and everything written since is in the log
    -- (replayed above), so rows after the cursor are only possible if the
    -- copy did not finish.
    IF EXISTS (SELECT 1 FROM events_hot
                WHERE event_created_at >= greatest(m.move_lo, m.cursor_ts)
                  AND event_created_at < m.move_hi
                  AND (event_created_at, event_id) > (m.cursor_ts, m.cursor_id)) THEN
        RAISE EXCEPTION 'the copy has not reached the end of the range';
    END IF;

    DELETE FROM events_hot WHERE event_created_at >= m.move_lo AND event_created_at < m.move_hi;
    GET DIAGNOSTICS deleted = ROW_COUNT;

    ALTER TABLE events DETACH PARTITION events_hot;
    IF pg_temp.ns_attached(m.foreign_table) THEN
        EXECUTE format('ALTER TABLE events DETACH PARTITION %I', m.foreign_table);
    END IF;
    hot_bound := pg_temp.ns_range_check(m.hot_lo, m.hot_hi);
    ALTER TABLE events_hot DROP CONSTRAINT IF EXISTS events_hot_nostream_bound;
    EXECUTE format('ALTER TABLE events_hot ADD CONSTRAINT events_hot_nostream_bound CHECK (%s)',
                   hot_bound);
    EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES %s',
                   m.foreign_table, pg_temp.ns_bound_sql(m.node_lo, m.node_hi));
    EXECUTE format('ALTER TABLE events ATTACH PARTITION events_hot FOR VALUES %s',
                   pg_temp.ns_bound_sql(m.hot_lo, m.hot_hi));
    ALTER TABLE events_hot DROP CONSTRAINT events_hot_nostream_bound;
    DROP TRIGGER IF EXISTS nostream_storage_move_capture ON events_hot;
    DELETE FROM nostream_storage_move;
    DELETE FROM nostream_storage_move_log;
    RETURN format('%s|%s|%s', deleted, loc, rem);
END
$f$;

-- Cancels an unfinished move: the trigger and the state go; events_hot is
-- unchanged. ns_move_abort_remote() first deletes the marked copies on an
-- attached node (they would stay hidden, but take room). Copies on a node
-- that is not attached are left: they cannot be told apart from rows the
-- node held before, are unreachable, and a later move replaces them.
-- Returns the node's name.
CREATE FUNCTION pg_temp.ns_move_abort_remote() RETURNS bigint LANGUAGE plpgsql AS $f$
DECLARE m record; n bigint := 0;
BEGIN
    IF to_regclass('nostream_storage_move') IS NULL THEN
        RETURN 0;
    END IF;
    FOR m IN SELECT * FROM nostream_storage_move WHERE marked LOOP
        IF to_regclass(quote_ident(m.foreign_table)) IS NOT NULL THEN
            EXECUTE format('DELETE FROM %I WHERE deleted_at = ''-infinity''
                             AND event_created_at >= $1 AND event_created_at < $2', m.foreign_table)
              USING m.move_lo, m.move_hi;
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$f$;

CREATE FUNCTION pg_temp.ns_move_abort() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE n text := '';
BEGIN
    IF to_regclass('nostream_storage_move') IS NOT NULL THEN
        SELECT coalesce(string_agg(node, ', '), '') INTO n FROM nostream_storage_move;
        DELETE FROM nostream_storage_move;
    END IF;
    IF to_regclass('nostream_storage_move_log') IS NOT NULL THEN
        DELETE FROM nostream_storage_move_log;
    END IF;
    DROP TRIGGER IF EXISTS nostream_storage_move_capture ON events_hot;
    RETURN n;
END
$f$;

-- The unfinished move, if any: node|foreign_table|move_lo|move_hi|node_lo|node_hi|hot_lo|hot_hi|copied|marked
CREATE FUNCTION pg_temp.ns_move_pending() RETURNS text LANGUAGE plpgsql AS $f$
DECLARE r text;
BEGIN
    IF to_regclass('nostream_storage_move') IS NULL THEN
        RETURN '';
    END IF;
    SELECT concat_ws('|', node, foreign_table, move_lo, move_hi, node_lo, node_hi,
                     hot_lo, hot_hi, copied, marked)
      INTO r FROM nostream_storage_move LIMIT 1;
    RETURN coalesce(r, '');
END
$f$;
