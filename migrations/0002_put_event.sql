-- 0002_put_event.sql - the one write path for events.
--
-- nostream_put_event() stores one event with every NIP-01/09 rule applied
-- atomically, and says what happened:
--   'stored'     the event is now stored (and, for a kind 5, its deletions done)
--   'duplicate'  an event with this id is already stored
--   'deleted'    the event was deleted by its author (NIP-09): refused
--   'stale'      a newer version of this replaceable/addressable event exists
-- Replaceable and addressable events are decided under a transaction-level
-- advisory lock on (pubkey, kind, key), so concurrent writers, even from
-- several relay processes, never leave two survivors or lose an update: the
-- newest created_at wins, on a tie the lowest id.

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
        -- NIP-09: only the author's own events, never other deletions.
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
    END IF;
    RETURN 'stored';
END
$fn$;
