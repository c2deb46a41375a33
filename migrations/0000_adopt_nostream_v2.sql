-- 0000_adopt_nostream_v2.sql - take over a database made by nostream (TypeScript).
--
-- nostream's knex migrations leave a plain (unpartitioned) `events` table,
-- a trigger that rewrites `event_tags` on every insert, update and delete of
-- an event, and a btree index on event_tags(tag_name, tag_value) that
-- refuses values longer than about 2.7 kB. This step moves the old table
-- aside, so that 0001 creates the partitioned one, and 0003 copies the rows
-- over. The trigger is dropped first: with it, moving rows would delete
-- their tags (a defect NOTES records in the public attempt at this).
-- On a new, empty database this does nothing.
DO $adopt$
BEGIN
    -- (no ::regclass cast here: PL/pgSQL does not short-circuit AND, and the
    -- cast fails on a new database)
    IF coalesce((SELECT relkind FROM pg_class WHERE oid = to_regclass('public.events')), '-') = 'r' THEN
        RAISE NOTICE 'adopting a nostream database: converting events to a partitioned table';
        DROP TRIGGER IF EXISTS insert_event_tags ON public.events;
        ALTER TABLE public.events RENAME TO events_nostream_v2;
        IF to_regclass('public.event_tags') IS NOT NULL THEN
            -- Foreign keys from event_tags to the old table (early versions).
            PERFORM 1;
            EXECUTE (
                SELECT coalesce(string_agg(format('ALTER TABLE public.event_tags DROP CONSTRAINT %I',
                                                  conname), '; '), 'SELECT 1')
                  FROM pg_constraint
                 WHERE conrelid = 'public.event_tags'::regclass AND contype = 'f');
            DROP INDEX IF EXISTS public.event_tags_tag_name_tag_value_index;
        END IF;
    END IF;
END
$adopt$;
