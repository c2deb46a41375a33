-- 0003_adopt_nostream_v2_rows.sql - copy a nostream database's events into
-- the partitioned table (see 0000). Every row is kept, deleted ones too (so
-- that a deleted event cannot be published again). Columns that an older
-- nostream schema lacks are left NULL. event_tags rows stay where they are;
-- the single-letter tags nostream did not index (empty values, or all of
-- them in versions without event_tags) are added.
DO $copy$
DECLARE
    cols text;
BEGIN
    IF to_regclass('public.events_nostream_v2') IS NULL THEN
        RETURN;
    END IF;
    SELECT string_agg(quote_ident(column_name), ', ') INTO cols
      FROM information_schema.columns
     WHERE table_schema = 'public' AND table_name = 'events_nostream_v2'
       AND column_name IN ('event_id', 'event_pubkey', 'event_kind', 'event_created_at',
                           'event_content', 'event_tags', 'event_signature', 'first_seen',
                           'deleted_at', 'event_deduplication', 'remote_address', 'expires_at');
    EXECUTE format('INSERT INTO events (%s) SELECT %s FROM events_nostream_v2 ON CONFLICT DO NOTHING',
                   cols, cols);
    INSERT INTO event_tags (event_id, tag_name, tag_value)
    SELECT e.event_id, t->>0, t->>1
      FROM events_nostream_v2 e, jsonb_array_elements(e.event_tags) AS t
     WHERE jsonb_typeof(e.event_tags) = 'array' AND jsonb_typeof(t) = 'array'
       AND jsonb_array_length(t) >= 2 AND (t->>0) ~ '^[a-zA-Z]$'
       AND NOT EXISTS (SELECT 1 FROM event_tags x
                        WHERE x.event_id = e.event_id AND x.tag_name = t->>0
                          AND x.tag_value = t->>1);
    DROP TABLE events_nostream_v2;
    RAISE NOTICE 'adopted the nostream events table';
END
$copy$;
