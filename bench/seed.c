/* seed.c - a realistic, signed event database for benchmarks.
 *
 * Generates N events (default 1,000,000) the way a busy relay holds them,
 * signs them (BIP-340, on several threads) and writes them in one of:
 *   sql          a psql script (the default): COPY blocks for `events` and
 *                then `event_tags`, in the relay's schema (nostream's; see
 *                migrations/0001_events.sql), to pipe into
 *                `psql -v ON_ERROR_STOP=1 -f -`;
 *   copy-events  the bare COPY text of `events`, for
 *                psql -c "\copy events (<columns>) from pstdin";
 *   copy-tags    the bare COPY text of `event_tags` (no signing needed);
 *   jsonl        one ["EVENT",{...}] message per line, to feed any relay.
 * The same --seed, -n, --authors and --now give the same events, so
 * copy-events and copy-tags can be run one after the other.
 *
 * The distributions (see the README of bench/):
 *   - authors (default 10,000) with a Zipf-like activity (exponent --zipf,
 *     0.9): the busiest author writes about 6% of the events;
 *   - one kind 0 (metadata) and one kind 3 (follow list, 20-300 p tags) for
 *     each of the first min(authors, N/20) authors, then kind 1 (70%),
 *     7 (20%), 6 (7%) and 30023 (3%, unique `d` tags, so nothing replaces);
 *   - kind 1 content from 20 bytes to 2 KB, replies with e/p tags to
 *     earlier events, mentions (p), hashtags (t);
 *   - created_at spread evenly over --days (90) up to an hour before --now,
 *     growing with the event's index, so references point to the past.
 * Nothing expires and nothing is deleted. Rows written directly bypass
 * nostream_put_event(), which is why the replaceable kinds are generated
 * at most once per author: the database stays what the relay would keep.
 *
 * Side outputs: --authors-out FILE (every author's public key, busiest
 * first: the set `loadgen req` draws from) and --ids-out FILE (a sample of
 * --ids-sample event ids, for `loadgen req --shape ids`).
 *
 * Memory: 36 bytes per event (ids and authors, for references), plus the
 * output of one batch per thread.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "evgen.h"
#include "hex.h"

enum { SD_SQL, SD_COPY_EVENTS, SD_COPY_TAGS, SD_JSONL };

#define SD_EVENT_COLUMNS                                                                   \
    "event_id, event_pubkey, event_kind, event_created_at, event_content, event_tags, " \
    "event_signature, event_deduplication, expires_at"
#define SD_TAG_COLUMNS "event_id, tag_name, tag_value, event_created_at"
#define SD_BATCH 8192
#define SD_MAX_THREADS 64

typedef struct sd_opts {
    uint64_t n;
    uint32_t nauthors;
    double zipf;
    uint64_t seed;
    int threads;
    int format;
    int64_t now;
    int days;
    const char *authors_out;
    const char *ids_out;
    uint64_t ids_sample;
} sd_opts;

/* Shared, read-only while a batch is generated, except that each event's
 * slot in ids/author_of is written by the one thread that makes it. */
typedef struct sd_state {
    const sd_opts *o;
    eg_author *authors;
    eg_zipf zipf;
    uint8_t (*ids)[32];
    uint32_t *author_of;
    uint64_t n_meta;       /* events 0..n_meta-1 are kinds 0 and 3 */
    int64_t t_first;       /* created_at of event 0 */
    double t_step;         /* seconds between consecutive events */
} sd_state;

typedef struct sd_worker {
    sd_state *st;
    uint64_t lo, hi;       /* events [lo, hi) of this batch */
    uint64_t batch_lo;     /* first event of the batch: references go below it */
    secp256k1_context *ctx;
    eg_draft d;
    ns_buf scratch, content, tmp;
    ns_buf out_events;     /* rows or lines for stdout */
    ns_buf out_tags;       /* event_tags rows */
    uint64_t ntag_rows;
    uint64_t kind_count[6];
    int rc;
} sd_worker;

static void sd_usage(FILE *f)
{
    fprintf(f,
            "usage: seed [options] > OUTPUT\n"
            "  -n, --events N        events to generate (1000000)\n"
            "      --authors N       distinct authors (10000)\n"
            "      --zipf S          activity exponent: author k writes ~1/k^S (0.9)\n"
            "      --seed X          random seed (1): same seed, same events\n"
            "      --now T           unix time the newest events approach (now, rounded down to\n"
            "                        the hour: give it explicitly when running twice)\n"
            "      --days D          span of created_at (90)\n"
            "      --threads T       signing threads (number of CPUs)\n"
            "      --format F        sql (default) | copy-events | copy-tags | jsonl\n"
            "      --authors-out F   write the authors' public keys (hex, busiest first)\n"
            "      --ids-out F       write a sample of event ids (hex)\n"
            "      --ids-sample N    size of that sample (100000)\n"
            "loading:\n"
            "  seed | psql -v ON_ERROR_STOP=1 -q -f -\n"
            "  seed --format copy-events | psql -c \"\\copy events (" SD_EVENT_COLUMNS
            ") from pstdin\"\n"
            "  seed --format copy-tags   | psql -c \"\\copy event_tags (" SD_TAG_COLUMNS
            ") from pstdin\"\n");
}

/* Appends s as a COPY text-format field: backslash, newline, CR and tab
 * escaped (every other byte stands for itself). */
static void sd_copy_str(ns_buf *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i], e = 0;
        switch (c) {
        case '\\': e = '\\'; break;
        case '\n': e = 'n'; break;
        case '\r': e = 'r'; break;
        case '\t': e = 't'; break;
        default: continue;
        }
        ns_buf_add(b, s + run, i - run);
        ns_buf_addc(b, '\\');
        ns_buf_addc(b, e);
        run = i + 1;
    }
    ns_buf_add(b, s + run, n - run);
}

/* A bytea field in hex format, as COPY text: \\x then the digits. */
static void sd_copy_bytea(ns_buf *b, const uint8_t *p, size_t n)
{
    ns_buf_adds(b, "\\\\x");
    ns_buf_add_hex(b, p, n);
}

/* The index of an earlier event to refer to (reply, reaction, repost):
 * mostly recent ones. Returns UINT64_MAX when there is none yet. */
static uint64_t sd_pick_ref(sd_worker *w, eg_rng *r)
{
    uint64_t below = w->batch_lo, floor = w->st->n_meta;
    if (below <= floor)
        return UINT64_MAX;
    uint64_t span = below - floor;
    uint64_t back = eg_below(r, 4) ? (uint64_t)eg_below(r, span < 20000 ? (uint32_t)span : 20000)
                                   : (uint64_t)(eg_unit(r) * (double)span);
    return below - 1 - back;
}

/* Writes the draft of event i into w->d and its content into w->content. */
static uint32_t sd_draft(sd_worker *w, uint64_t i, eg_rng *r, uint32_t *kind_slot)
{
    sd_state *st = w->st;
    uint32_t author, kind;
    ns_buf_reset(&w->content);
    if (i < st->n_meta) {
        author = (uint32_t)(i / 2);
        kind = i % 2 == 0 ? 0 : 3;
    } else {
        author = (uint32_t)eg_zipf_draw(&st->zipf, r);
        uint32_t roll = eg_below(r, 100);
        kind = roll < 70 ? 1 : roll < 90 ? 7 : roll < 97 ? 6 : 30023;
    }
    int64_t created = st->t_first + (int64_t)((double)i * st->t_step) +
                      (int64_t)(eg_unit(r) * st->t_step);
    eg_draft *d = &w->d;
    const eg_author *a = &st->authors[author];
    eg_draft_begin(d, a->hex, created, kind);
    char hex[65], idhex[65];
    uint64_t ref;

    switch (kind) {
    case 0: {
        ns_buf *c = &w->content;
        ns_buf_reset(&w->tmp);
        eg_text(r, 40 + eg_below(r, 160), &w->tmp);
        ns_buf_addf(c, "{\"name\":\"user%u\",\"display_name\":\"User %u\",\"about\":", author,
                    author);
        ns_buf_add_json_str(c, w->tmp.data, w->tmp.len);
        ns_buf_addf(c,
                    ",\"picture\":\"https://example.com/avatar/%u.png\",\"nip05\":"
                    "\"user%u@example.com\",\"lud16\":\"user%u@example.com\"}",
                    author, author, author);
        *kind_slot = 0;
        break;
    }
    case 3: {
        uint32_t nf = 20 + eg_below(r, 281);
        for (uint32_t k = 0; k < nf; k++)
            eg_draft_tag(d, "p", st->authors[eg_zipf_draw(&st->zipf, r)].hex, NULL);
        *kind_slot = 1;
        break;
    }
    case 1: {
        uint32_t roll = eg_below(r, 100);
        size_t len = roll < 60 ? 20 + eg_below(r, 180) : roll < 90 ? 200 + eg_below(r, 400)
                                                                  : 600 + eg_below(r, 1400);
        eg_text(r, len, &w->content);
        uint32_t shape = eg_below(r, 100);
        if (shape < 40 && (ref = sd_pick_ref(w, r)) != UINT64_MAX) {
            ns_hex_encode(st->ids[ref], 32, idhex);
            eg_draft_tagv(d, 4, (const char *const[]){"e", idhex, "wss://relay.example.com", "root"});
            eg_draft_tag(d, "p", st->authors[st->author_of[ref]].hex, NULL);
        } else if (shape < 60) {
            uint32_t np = 1 + eg_below(r, 3);
            for (uint32_t k = 0; k < np; k++)
                eg_draft_tag(d, "p", st->authors[eg_zipf_draw(&st->zipf, r)].hex, NULL);
        }
        if (eg_below(r, 100) < 25) {
            uint32_t nt = 1 + eg_below(r, 3);
            for (uint32_t k = 0; k < nt; k++)
                eg_draft_tag(d, "t", eg_topic(r), NULL);
        }
        *kind_slot = 2;
        break;
    }
    case 7:
    case 6:
        if ((ref = sd_pick_ref(w, r)) != UINT64_MAX) {
            ns_hex_encode(st->ids[ref], 32, idhex);
            ns_hex_encode(st->authors[st->author_of[ref]].pub, 32, hex);
        } else {
            eg_hex32(r, idhex);
            eg_hex32(r, hex);
        }
        if (kind == 6) {
            eg_draft_tag(d, "e", idhex, "wss://relay.example.com");
            eg_draft_tag(d, "p", hex, NULL);
            *kind_slot = 4;
        } else {
            eg_draft_tag(d, "e", idhex, NULL);
            eg_draft_tag(d, "p", hex, NULL);
            eg_draft_tag(d, "k", "1", NULL);
            ns_buf_adds(&w->content, eg_below(r, 10) < 7 ? "+" : "\xf0\x9f\xa4\x99");
            *kind_slot = 3;
        }
        break;
    default: { /* 30023: long-form article, its own address */
        char dval[32], pub[24];
        snprintf(dval, sizeof dval, "post-%" PRIu64, i);
        snprintf(pub, sizeof pub, "%" PRId64, created);
        eg_draft_tag(d, "d", dval, NULL);
        ns_buf_reset(&w->tmp);
        eg_text(r, 20 + eg_below(r, 40), &w->tmp);
        ns_buf_addc(&w->tmp, '\0');
        for (char *p = w->tmp.data; *p; p++)
            if (*p == '\n')
                *p = ' ';
        eg_draft_tag(d, "title", w->tmp.data, NULL);
        eg_draft_tag(d, "published_at", pub, NULL);
        eg_draft_tag(d, "t", eg_topic(r), NULL);
        eg_draft_tag(d, "t", eg_topic(r), NULL);
        eg_text(r, 2000 + eg_below(r, 4000), &w->content);
        *kind_slot = 5;
        break;
    }
    }
    return author;
}

/* Appends the outputs of one signed event. */
static void sd_emit(sd_worker *w, const ns_event *ev)
{
    int fmt = w->st->o->format;
    if (fmt == SD_JSONL) {
        eg_event_message(ev, &w->out_events);
        ns_buf_addc(&w->out_events, '\n');
        return;
    }
    if (fmt == SD_SQL || fmt == SD_COPY_EVENTS) {
        ns_buf *b = &w->out_events;
        sd_copy_bytea(b, ev->id, 32);
        ns_buf_addc(b, '\t');
        sd_copy_bytea(b, ev->pubkey, 32);
        ns_buf_addf(b, "\t%u\t%" PRId64 "\t", ev->kind, ev->created_at);
        sd_copy_str(b, ev->content.ptr, ev->content.len);
        ns_buf_addc(b, '\t');
        ns_buf_reset(&w->tmp);
        ns_event_tags_to_json(ev, &w->tmp);
        sd_copy_str(b, w->tmp.data, w->tmp.len);
        ns_buf_addc(b, '\t');
        sd_copy_bytea(b, ev->sig, 64);
        ns_buf_addc(b, '\t');
        ns_buf_reset(&w->tmp);
        if (ns_event_dedup_key(ev, &w->tmp))
            sd_copy_str(b, w->tmp.data, w->tmp.len);
        else
            ns_buf_adds(b, "\\N");
        ns_buf_adds(b, "\t\\N\n");
    }
    if (fmt == SD_SQL || fmt == SD_COPY_TAGS) {
        /* As nostream_put_event(): single-letter names, at least a value. */
        ns_buf *b = fmt == SD_SQL ? &w->out_tags : &w->out_events;
        for (uint32_t t = 0; t < ev->ntags; t++) {
            const ns_tag *tg = &ev->tags[t];
            char c = tg->v[0].ptr[0];
            if (tg->n < 2 || tg->v[0].len != 1 || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
                continue;
            bool repeat = false; /* one row per name and value, as nostream_put_event() */
            for (uint32_t u = 0; u < t && !repeat; u++) {
                const ns_tag *o = &ev->tags[u];
                repeat = o->n >= 2 && o->v[0].len == 1 && o->v[0].ptr[0] == c && o->v[1].len == tg->v[1].len &&
                         memcmp(o->v[1].ptr, tg->v[1].ptr, tg->v[1].len) == 0;
            }
            if (repeat)
                continue;
            sd_copy_bytea(b, ev->id, 32);
            ns_buf_addc(b, '\t');
            ns_buf_addc(b, c);
            ns_buf_addc(b, '\t');
            sd_copy_str(b, tg->v[1].ptr, tg->v[1].len);
            ns_buf_addf(b, "\t%" PRId64 "\n", ev->created_at);
            w->ntag_rows++;
        }
    }
}

static void *sd_worker_main(void *arg)
{
    sd_worker *w = arg;
    sd_state *st = w->st;
    bool sign = st->o->format != SD_COPY_TAGS;
    for (uint64_t i = w->lo; i < w->hi; i++) {
        eg_rng r;
        eg_rng_seed(&r, st->o->seed * 0x100000001b3ull + i);
        uint32_t slot = 0;
        uint32_t author = sd_draft(w, i, &r, &slot);
        ns_event *ev;
        int rc;
        if (sign) {
            rc = eg_draft_sign(&w->d, w->content.data ? w->content.data : "", w->content.len, w->ctx,
                               &st->authors[author], &w->scratch, &ev);
        } else {
            /* The tags table needs ids only: hash, do not sign. */
            ns_buf_adds(&w->d.b, "],\"content\":");
            ns_buf_add_json_str(&w->d.b, w->content.data ? w->content.data : "", w->content.len);
            ns_buf_addf(&w->d.b, ",\"sig\":\"%0128d\"}", 0);
            rc = ns_buf_ok(&w->d.b) ? ns_event_parse(w->d.b.data, w->d.b.len, &ev, NULL, 0) : NS_ENOMEM;
            if (rc == 0 && (rc = ns_event_compute_id(ev, false, &w->scratch, ev->id)) != 0)
                free(ev);
        }
        if (rc != 0) {
            w->rc = rc;
            return NULL;
        }
        memcpy(st->ids[i], ev->id, 32);
        st->author_of[i] = author;
        w->kind_count[slot]++;
        sd_emit(w, ev);
        free(ev);
    }
    if (!ns_buf_ok(&w->out_events) || !ns_buf_ok(&w->out_tags))
        w->rc = NS_ENOMEM;
    return NULL;
}

static int sd_write(FILE *f, const ns_buf *b)
{
    if (b->len > 0 && fwrite(b->data, 1, b->len, f) != b->len)
        return -1;
    return 0;
}

static int sd_parse_args(int argc, char **argv, sd_opts *o)
{
    static const struct option lo[] = {
        {"events", required_argument, NULL, 'n'},   {"authors", required_argument, NULL, 'a'},
        {"zipf", required_argument, NULL, 'z'},     {"seed", required_argument, NULL, 's'},
        {"now", required_argument, NULL, 'N'},      {"days", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 't'},  {"format", required_argument, NULL, 'f'},
        {"authors-out", required_argument, NULL, 'A'}, {"ids-out", required_argument, NULL, 'I'},
        {"ids-sample", required_argument, NULL, 'S'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    long nproc = sysconf(_SC_NPROCESSORS_ONLN);
    *o = (sd_opts){.n = 1000000, .nauthors = 10000, .zipf = 0.9, .seed = 1, .threads = nproc > 0 ? (int)nproc : 1,
                   .format = SD_SQL, .now = (int64_t)time(NULL) / 3600 * 3600, .days = 90,
                   .ids_sample = 100000};
    int c;
    while ((c = getopt_long(argc, argv, "n:h", lo, NULL)) != -1) {
        char *end = NULL;
        errno = 0;
        switch (c) {
        case 'n': o->n = strtoull(optarg, &end, 10); break;
        case 'a': o->nauthors = (uint32_t)strtoul(optarg, &end, 10); break;
        case 'z': o->zipf = strtod(optarg, &end); break;
        case 's': o->seed = strtoull(optarg, &end, 0); break;
        case 'N': o->now = strtoll(optarg, &end, 10); break;
        case 'd': o->days = (int)strtol(optarg, &end, 10); break;
        case 't': o->threads = (int)strtol(optarg, &end, 10); break;
        case 'S': o->ids_sample = strtoull(optarg, &end, 10); break;
        case 'A': o->authors_out = optarg; break;
        case 'I': o->ids_out = optarg; break;
        case 'f':
            if (strcmp(optarg, "sql") == 0)
                o->format = SD_SQL;
            else if (strcmp(optarg, "copy-events") == 0)
                o->format = SD_COPY_EVENTS;
            else if (strcmp(optarg, "copy-tags") == 0)
                o->format = SD_COPY_TAGS;
            else if (strcmp(optarg, "jsonl") == 0)
                o->format = SD_JSONL;
            else {
                fprintf(stderr, "seed: unknown format '%s'\n", optarg);
                return -1;
            }
            break;
        case 'h': sd_usage(stdout); exit(0);
        default: sd_usage(stderr); return -1;
        }
        if (end != NULL && (*end != '\0' || errno != 0 || end == optarg)) {
            fprintf(stderr, "seed: bad number '%s'\n", optarg);
            return -1;
        }
    }
    if (optind != argc || o->n == 0 || o->nauthors == 0 || o->threads < 1 ||
        o->threads > SD_MAX_THREADS || o->days < 1 || o->zipf < 0 || o->now < 86400 * 400) {
        sd_usage(stderr);
        return -1;
    }
    return 0;
}

static double sd_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    sd_opts o;
    if (sd_parse_args(argc, argv, &o) != 0)
        return 2;
    if (isatty(STDOUT_FILENO)) {
        fprintf(stderr, "seed: refusing to write to a terminal; redirect or pipe the output\n");
        return 2;
    }
    double t0 = sd_now_s();
    sd_state st = {.o = &o};
    secp256k1_context *ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    eg_rng r;
    eg_rng_seed(&r, o.seed ^ 0xa5a5a5a5ull);
    st.authors = eg_authors_new(ctx, &r, o.nauthors);
    st.ids = malloc(o.n * sizeof *st.ids);
    st.author_of = malloc(o.n * sizeof *st.author_of);
    if (st.authors == NULL || st.ids == NULL || st.author_of == NULL ||
        eg_zipf_init(&st.zipf, o.nauthors, o.zipf) != 0) {
        fprintf(stderr, "seed: out of memory\n");
        return 1;
    }
    uint64_t meta_authors = o.nauthors < o.n / 20 ? o.nauthors : o.n / 20;
    st.n_meta = 2 * meta_authors;
    int64_t span = (int64_t)o.days * 86400;
    st.t_first = o.now - 3600 - span;
    st.t_step = (double)span / (double)o.n;

    FILE *tags_tmp = NULL;
    if (o.format == SD_SQL) {
        tags_tmp = tmpfile();
        if (tags_tmp == NULL) {
            perror("seed: tmpfile");
            return 1;
        }
        printf("-- generated by bench/seed: %" PRIu64 " events, %u authors, seed %" PRIu64
               ", now %" PRId64 "\n"
               "COPY events (" SD_EVENT_COLUMNS ") FROM stdin;\n",
               o.n, o.nauthors, o.seed, o.now);
    }

    sd_worker w[SD_MAX_THREADS];
    memset(w, 0, sizeof w);
    for (int k = 0; k < o.threads; k++) {
        w[k].st = &st;
        w[k].ctx = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    }
    uint64_t tag_rows = 0, kinds[6] = {0};
    double last_report = t0;
    for (uint64_t lo = 0; lo < o.n; lo += SD_BATCH) {
        uint64_t hi = lo + SD_BATCH < o.n ? lo + SD_BATCH : o.n;
        uint64_t per = (hi - lo + (uint64_t)o.threads - 1) / (uint64_t)o.threads;
        pthread_t th[SD_MAX_THREADS];
        for (int k = 0; k < o.threads; k++) {
            w[k].lo = lo + (uint64_t)k * per < hi ? lo + (uint64_t)k * per : hi;
            w[k].hi = w[k].lo + per < hi ? w[k].lo + per : hi;
            w[k].batch_lo = lo;
            ns_buf_reset(&w[k].out_events);
            ns_buf_reset(&w[k].out_tags);
            if (pthread_create(&th[k], NULL, sd_worker_main, &w[k]) != 0) {
                fprintf(stderr, "seed: cannot start a thread\n");
                return 1;
            }
        }
        for (int k = 0; k < o.threads; k++)
            pthread_join(th[k], NULL);
        for (int k = 0; k < o.threads; k++) {
            if (w[k].rc != 0) {
                fprintf(stderr, "seed: event generation failed: %s\n", ns_strerror(w[k].rc));
                return 1;
            }
            if (sd_write(stdout, &w[k].out_events) != 0 ||
                (tags_tmp && sd_write(tags_tmp, &w[k].out_tags) != 0)) {
                fprintf(stderr, "seed: write failed: %s\n", strerror(errno));
                return 1;
            }
        }
        double now = sd_now_s();
        if (now - last_report >= 10) {
            last_report = now;
            fprintf(stderr, "seed: %" PRIu64 "/%" PRIu64 " events, %.0f/s\n", hi, o.n,
                    (double)hi / (now - t0));
        }
    }
    for (int k = 0; k < o.threads; k++) {
        tag_rows += w[k].ntag_rows;
        for (int s = 0; s < 6; s++)
            kinds[s] += w[k].kind_count[s];
    }

    if (o.format == SD_SQL) {
        printf("\\.\nCOPY event_tags (" SD_TAG_COLUMNS ") FROM stdin;\n");
        fflush(stdout);
        rewind(tags_tmp);
        char buf[1 << 16];
        size_t got;
        while ((got = fread(buf, 1, sizeof buf, tags_tmp)) > 0)
            if (fwrite(buf, 1, got, stdout) != got) {
                fprintf(stderr, "seed: write failed: %s\n", strerror(errno));
                return 1;
            }
        fclose(tags_tmp);
        printf("\\.\n");
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "seed: write failed: %s\n", strerror(errno));
        return 1;
    }

    if (o.authors_out) {
        FILE *f = fopen(o.authors_out, "w");
        if (f == NULL) {
            fprintf(stderr, "seed: %s: %s\n", o.authors_out, strerror(errno));
            return 1;
        }
        for (uint32_t a = 0; a < o.nauthors; a++)
            fprintf(f, "%s\n", st.authors[a].hex);
        if (fclose(f) != 0)
            return 1;
    }
    if (o.ids_out) {
        FILE *f = fopen(o.ids_out, "w");
        if (f == NULL) {
            fprintf(stderr, "seed: %s: %s\n", o.ids_out, strerror(errno));
            return 1;
        }
        uint64_t want = o.ids_sample < o.n ? o.ids_sample : o.n;
        eg_rng pick;
        eg_rng_seed(&pick, o.seed + 77);
        char hex[65];
        for (uint64_t k = 0; k < want; k++) {
            /* evenly spread, with a random offset within each stride */
            uint64_t stride = o.n / want;
            uint64_t i = k * stride + (stride > 1 ? eg_rand(&pick) % stride : 0);
            ns_hex_encode(st.ids[i], 32, hex);
            fprintf(f, "%s\n", hex);
        }
        if (fclose(f) != 0)
            return 1;
    }
    double el = sd_now_s() - t0;
    fprintf(stderr,
            "seed: %" PRIu64 " events in %.1f s (%.0f/s, %d threads): kind 0 %" PRIu64 ", 3 %" PRIu64
            ", 1 %" PRIu64 ", 7 %" PRIu64 ", 6 %" PRIu64 ", 30023 %" PRIu64 "; %" PRIu64
            " tag rows\n",
            o.n, el, (double)o.n / el, o.threads, kinds[0], kinds[1], kinds[2], kinds[3], kinds[4],
            kinds[5], tag_rows);

    for (int k = 0; k < o.threads; k++) {
        secp256k1_context_destroy(w[k].ctx);
        eg_draft_free(&w[k].d);
        ns_buf_free(&w[k].scratch);
        ns_buf_free(&w[k].content);
        ns_buf_free(&w[k].tmp);
        ns_buf_free(&w[k].out_events);
        ns_buf_free(&w[k].out_tags);
    }
    secp256k1_context_destroy(ctx);
    eg_zipf_free(&st.zipf);
    free(st.authors);
    free(st.ids);
    free(st.author_of);
    return 0;
}
