/* settings.c - reads nostream's settings.yaml (see settings.h).
 *
 * Three steps. libyaml's event stream is turned into a small tree of
 * scalars, lists and mappings, with the line of each (this is where the
 * size, depth and alias rules are applied). The tree is then walked against
 * a table of nostream's keys: each known key has a type, bounds and the
 * offset of its field in ns_settings; keys nostream knows that we do not
 * implement, and keys nobody knows, are noted with their dotted path.
 * Everything the result keeps (strings, lists) is copied into blocks owned
 * by the ns_settings; the tree is thrown away. Defaults are static data, so
 * a default ns_settings owns nothing.
 *
 * The second half holds what the relay needs to apply the settings: kind,
 * pubkey, content and IP checks, the client address behind a proxy, the
 * NIP-11 limitation values, and the embedded default file.
 */
#include "settings.h"
#include "err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define NS_JS_MAX_SAFE 9007199254740991ull /* Number.MAX_SAFE_INTEGER: nostream's numbers */
#define NS_MEM_LIMIT ((size_t)64 << 20)     /* bytes held for one load, tree included */
#define NS_MEM_BLOCK ((size_t)16 << 10)

/* ---- memory blocks ------------------------------------------------------ */

/* A chain of blocks handed out front to back and freed all at once: the
 * settings own one chain (s->mem), the tree another. */
typedef struct ns_mblk {
    struct ns_mblk *next;
    size_t used, cap;
    max_align_t data[];
} ns_mblk;

typedef struct ns_mem {
    ns_mblk *head;
    size_t total;
} ns_mem;

/* Returns n bytes aligned for any type, or NULL when out of memory or past
 * NS_MEM_LIMIT. Freed by ns_mem_release. */
static void *ns_mem_alloc(ns_mem *m, size_t n)
{
    const size_t a = _Alignof(max_align_t);
    if (n > NS_MEM_LIMIT)
        return NULL;
    n = n == 0 ? a : (n + a - 1) & ~(a - 1);
    ns_mblk *b = m->head;
    if (b == NULL || b->cap - b->used < n) {
        size_t cap = n > NS_MEM_BLOCK ? n : NS_MEM_BLOCK;
        if (cap > NS_MEM_LIMIT - m->total)
            return NULL;
        b = malloc(sizeof *b + cap);
        if (b == NULL)
            return NULL;
        b->next = m->head;
        b->used = 0;
        b->cap = cap;
        m->head = b;
        m->total += cap;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

static void ns_mem_release(ns_mblk *b)
{
    while (b) {
        ns_mblk *next = b->next;
        free(b);
        b = next;
    }
}

/* ---- defaults (resources/default-settings.yaml) ------------------------ */

#define NS_V4(a, b, c, d) {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d}, 128}
#define NS_V6_LOOPBACK {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128}

static const ns_ipnet ns_def_whitelist[] = {NS_V6_LOOPBACK, NS_V4(10, 10, 10, 1), NS_V4(10, 10, 10, 1)};
static const ns_ipnet ns_def_proxies[] = {NS_V4(127, 0, 0, 1), NS_V6_LOOPBACK};

static const ns_rate_limit ns_def_conn_rates[] = {
    {.period_ms = 1000, .rate = 12},
    {.period_ms = 60000, .rate = 48},
};

static const ns_kind_range ns_def_content0[] = {{0, 10}, {40, 49}};
static const ns_kind_range ns_def_content1[] = {{11, 39}, {50, NS_JS_MAX_SAFE}};
static const ns_content_limit ns_def_content[] = {
    {"64 KB for event kind ranges 0-10 and 40-49", true, {ns_def_content0, 2}, 102400},
    {"96 KB for event kind ranges 11-39 and 50-max", true, {ns_def_content1, 2}, 102400},
};

static const ns_kind_range ns_def_rate0[] = {{0, 0}, {3, 3}, {40, 40}, {41, 41}};
static const ns_kind_range ns_def_rate1[] = {{1, 1}, {2, 2}, {4, 4}, {42, 42}};
static const ns_kind_range ns_def_rate2[] = {{5, 7}, {43, 49}};
static const ns_kind_range ns_def_rate3[] = {{10000, 19999}, {30000, 39999}};
static const ns_kind_range ns_def_rate4[] = {{20000, 29999}};
static const ns_rate_limit ns_def_event_rates[] = {
    {"6 events/min for event kinds 0, 3, 40 and 41", true, {ns_def_rate0, 4}, 60000, 6},
    {"12 events/min for event kinds 1, 2, 4 and 42", true, {ns_def_rate1, 4}, 60000, 12},
    {"30 events/min for event kind ranges 5-7 and 43-49", true, {ns_def_rate2, 2}, 60000, 30},
    {"24 events/min for replaceable events and parameterized replaceable events", true,
     {ns_def_rate3, 2}, 60000, 24},
    {"60 events/min for ephemeral events", true, {ns_def_rate4, 1}, 60000, 60},
    {"720 events/hour for all events", false, {NULL, 0}, 3600000, 720},
};

static const ns_rate_limit ns_def_msg_rates[] = {
    {"240 raw messages/min", false, {NULL, 0}, 60000, 240},
};

#define NS_LIST(a) {a, sizeof a / sizeof a[0]}

void ns_settings_defaults(ns_settings *s)
{
    memset(s, 0, sizeof *s);
    s->info.relay_url = "wss://nostream.your-domain.com";
    s->info.name = "nostream.your-domain.com";
    s->info.description = "A nostr relay written in Typescript.";
    s->info.pubkey = "replace-with-your-pubkey-in-hex";
    s->info.contact = "mailto:operator@your-domain.com";
    s->network.max_payload_size = 524288;
    s->network.remote_ip_header = "x-forwarded-for";
    s->network.trusted_proxies = (ns_iplist)NS_LIST(ns_def_proxies);
    s->network.handshake_timeout_seconds = 10;
    s->network.compression.enabled = true;
    s->network.compression.server_max_window_bits = 12;
    s->network.compression.server_no_context_takeover = true;
    s->workers.count = 0;
    s->limits.connection.rate_limits = (ns_rate_limits)NS_LIST(ns_def_conn_rates);
    s->limits.connection.max_per_ip = 256;
    s->limits.connection.ip_whitelist = (ns_iplist)NS_LIST(ns_def_whitelist);
    s->limits.event.created_at_max_positive_delta = 900;
    s->limits.event.content = (ns_content_limits)NS_LIST(ns_def_content);
    s->limits.event.rate_limits = (ns_rate_limits)NS_LIST(ns_def_event_rates);
    s->limits.event.whitelist_ip_addresses = (ns_iplist)NS_LIST(ns_def_whitelist);
    s->limits.subscription.max_subscriptions = 10;
    s->limits.subscription.max_filters = 10;
    s->limits.subscription.max_filter_values = 2500;
    s->limits.subscription.max_subscription_id_length = 256;
    s->limits.subscription.max_limit = 5000;
    s->limits.subscription.min_prefix_length = 4;
    s->limits.message.rate_limits = (ns_rate_limits)NS_LIST(ns_def_msg_rates);
    s->limits.message.ip_whitelist = (ns_iplist)NS_LIST(ns_def_whitelist);
}

void ns_settings_free(ns_settings *s)
{
    ns_mem_release(s->mem);
    ns_settings_defaults(s);
}

/* ---- the YAML tree ------------------------------------------------------ */

typedef enum { NS_Y_SCALAR, NS_Y_SEQ, NS_Y_MAP } ns_ytype;

/* A value in the file. A mapping's children alternate key, value. */
typedef struct ns_ynode {
    ns_ytype type;
    bool quoted; /* scalar written quoted, as a block, or tagged !!str: a string */
    bool null;   /* scalar that is empty, ~ or null, unquoted */
    size_t line; /* 1-based */
    const char *str;
    size_t len;
    struct ns_ynode *first, *last, *next;
    size_t count;
} ns_ynode;

/* A noted key path (unimplemented, unknown, deprecated). */
typedef struct ns_note {
    struct ns_note *next;
    const char *path;
} ns_note;

typedef struct ns_notes {
    ns_note *first, *last;
    size_t n;
} ns_notes;

/* State of one load. */
typedef struct ns_ld {
    const char *name; /* the file, for messages */
    char *err;
    size_t errlen;
    ns_mem tree; /* the tree and the notes */
    ns_mem mem;  /* what the settings keep */
    ns_settings *s;
    char path[320]; /* dotted path of the value being read */
    size_t plen;
    ns_notes unimpl, unknown, deprec;
} ns_ld;

/* Formats "<name>:<line>: <message>" into the error buffer; returns code. */
static int ns_ld_fail(ns_ld *L, int code, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int ns_ld_fail(ns_ld *L, int code, size_t line, const char *fmt, ...)
{
    if (L->err == NULL || L->errlen == 0)
        return code;
    int k = line ? snprintf(L->err, L->errlen, "%s:%zu: ", L->name, line)
                 : snprintf(L->err, L->errlen, "%s: ", L->name);
    if (k < 0 || (size_t)k >= L->errlen)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->err + k, L->errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return code;
}

static int ns_ld_nomem(ns_ld *L)
{
    return ns_ld_fail(L, NS_ENOMEM, 0, "out of memory while reading the settings");
}

/* Writes s[0..len) for a message: printable ASCII kept, other bytes as
 * \xNN, '"' and '\' escaped, cut after `max` source bytes with "...". */
static void ns_quote(char *out, size_t outlen, const char *s, size_t len, size_t max)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 8 < outlen; i++) {
        if (i == max) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c >= 0x20 && c < 0x7f) {
            out[o++] = (char)c;
        } else {
            o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
        }
    }
    if (outlen > 0)
        out[o < outlen ? o : outlen - 1] = '\0';
}

/* How a value reads in "must be X, not <this>". */
static void ns_node_desc(const ns_ynode *n, char *out, size_t outlen)
{
    if (n->type == NS_Y_SEQ) {
        snprintf(out, outlen, "a list");
    } else if (n->type == NS_Y_MAP) {
        snprintf(out, outlen, "a mapping");
    } else if (n->null) {
        snprintf(out, outlen, "empty");
    } else {
        char q[160];
        ns_quote(q, sizeof q, n->str, n->len, 40);
        snprintf(out, outlen, "%s\"%s\"", n->quoted ? "the string " : "", q);
    }
}

/* "<path> must be <what>, not <value>" at the value's line. */
static int ns_bad(ns_ld *L, const ns_ynode *n, const char *what)
{
    char d[200];
    ns_node_desc(n, d, sizeof d);
    return ns_ld_fail(L, NS_ECONFIG, n->line, "%s must be %s, not %s", L->path, what, d);
}

/* ---- building the tree from libyaml events ----------------------------- */

static ns_ynode *ns_y_new(ns_ld *L, ns_ytype t, size_t line)
{
    ns_ynode *n = ns_mem_alloc(&L->tree, sizeof *n);
    if (n) {
        memset(n, 0, sizeof *n);
        n->type = t;
        n->line = line;
    }
    return n;
}

static void ns_y_append(ns_ynode *parent, ns_ynode *kid)
{
    if (parent->last)
        parent->last->next = kid;
    else
        parent->first = kid;
    parent->last = kid;
    parent->count++;
}

/* The line of byte `off` of text. */
static size_t ns_line_at(const char *text, size_t len, size_t off)
{
    size_t line = 1;
    for (size_t i = 0; i < off && i < len; i++)
        line += text[i] == '\n';
    return line;
}

static int ns_y_syntax(ns_ld *L, const yaml_parser_t *p, const char *text, size_t len)
{
    if (p->error == YAML_MEMORY_ERROR)
        return ns_ld_nomem(L);
    const char *problem = p->problem ? p->problem : "unreadable YAML";
    size_t line = p->error == YAML_READER_ERROR ? ns_line_at(text, len, p->problem_offset)
                                                : p->problem_mark.line + 1;
    if (p->context)
        return ns_ld_fail(L, NS_ECONFIG, line, "YAML syntax error: %s (%s, line %zu)", problem,
                          p->context, (size_t)p->context_mark.line + 1);
    return ns_ld_fail(L, NS_ECONFIG, line, "YAML syntax error: %s", problem);
}

/* Applies an explicit tag to a node being built. Standard YAML tags are
 * allowed (!!str makes a scalar a string); anything else is refused. */
static int ns_y_tag(ns_ld *L, ns_ynode *n, const yaml_char_t *tagp)
{
    if (tagp == NULL)
        return 0;
    const char *tag = (const char *)tagp;
    static const char core[] = "tag:yaml.org,2002:";
    if (strcmp(tag, "!") == 0 || strcmp(tag, "tag:yaml.org,2002:str") == 0) {
        if (n->type == NS_Y_SCALAR) {
            n->quoted = true;
            n->null = false;
        }
        return 0;
    }
    if (strncmp(tag, core, sizeof core - 1) == 0) {
        const char *t = tag + sizeof core - 1;
        bool scalar_tag = !strcmp(t, "int") || !strcmp(t, "float") || !strcmp(t, "bool") ||
                          !strcmp(t, "null");
        if ((n->type == NS_Y_SCALAR && scalar_tag) || (n->type == NS_Y_SEQ && !strcmp(t, "seq")) ||
            (n->type == NS_Y_MAP && !strcmp(t, "map"))) {
            if (!strcmp(t, "null") && n->len == 0)
                n->null = true;
            return 0;
        }
    }
    char q[96];
    ns_quote(q, sizeof q, tag, strlen(tag), 60);
    return ns_ld_fail(L, NS_ECONFIG, n->line, "the YAML tag \"%s\" is not supported here", q);
}

/* Parses text into a tree. Out: *root, NULL when the file holds no
 * document (empty, or comments only). */
static int ns_y_build(ns_ld *L, const char *text, size_t len, ns_ynode **root)
{
    yaml_parser_t p;
    *root = NULL;
    if (!yaml_parser_initialize(&p))
        return ns_ld_nomem(L);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    ns_ynode *stack[NS_SETTINGS_MAX_DEPTH];
    size_t depth = 0, nodes = 0;
    int docs = 0, rc = 0;
    bool done = false;
    while (!done && rc == 0) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            rc = ns_y_syntax(L, &p, text, len);
            break;
        }
        size_t line = ev.start_mark.line + 1;
        ns_ynode *n = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1)
                rc = ns_ld_fail(L, NS_ECONFIG, line,
                                "a second YAML document starts here; the settings must be one document");
            break;
        case YAML_ALIAS_EVENT: {
            char q[96];
            const char *a = (const char *)ev.data.alias.anchor;
            ns_quote(q, sizeof q, a ? a : "", a ? strlen(a) : 0, 40);
            rc = ns_ld_fail(L, NS_ECONFIG, line,
                            "YAML aliases (*%s) are not supported: write the value out in full", q);
            break;
        }
        case YAML_SCALAR_EVENT:
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT: {
            if (++nodes > NS_SETTINGS_MAX_NODES) {
                rc = ns_ld_fail(L, NS_ECONFIG, line, "the settings hold more than %d values",
                                NS_SETTINGS_MAX_NODES);
                break;
            }
            ns_ytype t = ev.type == YAML_SCALAR_EVENT          ? NS_Y_SCALAR
                         : ev.type == YAML_SEQUENCE_START_EVENT ? NS_Y_SEQ
                                                                : NS_Y_MAP;
            if ((n = ns_y_new(L, t, line)) == NULL) {
                rc = ns_ld_nomem(L);
                break;
            }
            const yaml_char_t *tag;
            if (t == NS_Y_SCALAR) {
                size_t vl = ev.data.scalar.length;
                char *v = ns_mem_alloc(&L->tree, vl + 1);
                if (v == NULL) {
                    rc = ns_ld_nomem(L);
                    break;
                }
                memcpy(v, ev.data.scalar.value, vl);
                v[vl] = '\0';
                n->str = v;
                n->len = vl;
                n->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
                n->null = !n->quoted && (vl == 0 || !strcmp(v, "~") || !strcmp(v, "null") ||
                                         !strcmp(v, "Null") || !strcmp(v, "NULL"));
                tag = ev.data.scalar.tag;
            } else {
                tag = t == NS_Y_SEQ ? ev.data.sequence_start.tag : ev.data.mapping_start.tag;
            }
            if ((rc = ns_y_tag(L, n, tag)) != 0)
                break;
            if (depth == 0) {
                if (*root == NULL)
                    *root = n;
            } else {
                ns_y_append(stack[depth - 1], n);
            }
            if (t != NS_Y_SCALAR) {
                if (depth == NS_SETTINGS_MAX_DEPTH) {
                    rc = ns_ld_fail(L, NS_ECONFIG, line, "values are nested more than %d levels deep",
                                    NS_SETTINGS_MAX_DEPTH);
                    break;
                }
                stack[depth++] = n;
            }
            break;
        }
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT:
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return rc;
}

/* ---- paths and notes ---------------------------------------------------- */

/* Appends ".key" (or "key" at the root) to the path, bytes outside
 * printable ASCII as \xNN and long keys cut. Returns the length to restore. */
static size_t ns_path_key(ns_ld *L, const char *key, size_t len)
{
    size_t old = L->plen;
    char q[160];
    ns_quote(q, sizeof q, key, len, 64);
    int k = snprintf(L->path + L->plen, sizeof L->path - L->plen, "%s%s", L->plen ? "." : "", q);
    if (k > 0)
        L->plen += (size_t)k < sizeof L->path - L->plen ? (size_t)k : sizeof L->path - L->plen - 1;
    return old;
}

static size_t ns_path_index(ns_ld *L, size_t i)
{
    size_t old = L->plen;
    int k = snprintf(L->path + L->plen, sizeof L->path - L->plen, "[%zu]", i);
    if (k > 0)
        L->plen += (size_t)k < sizeof L->path - L->plen ? (size_t)k : sizeof L->path - L->plen - 1;
    return old;
}

static void ns_path_restore(ns_ld *L, size_t old)
{
    L->plen = old;
    L->path[old] = '\0';
}

/* Notes the current path (plus `suffix`) in a list. */
static int ns_note_add(ns_ld *L, ns_notes *list, const char *suffix)
{
    size_t n = L->plen + strlen(suffix);
    ns_note *note = ns_mem_alloc(&L->tree, sizeof *note);
    char *p = ns_mem_alloc(&L->tree, n + 1);
    if (note == NULL || p == NULL)
        return ns_ld_nomem(L);
    memcpy(p, L->path, L->plen);
    memcpy(p + L->plen, suffix, n - L->plen + 1);
    note->path = p;
    note->next = NULL;
    if (list->last)
        list->last->next = note;
    else
        list->first = note;
    list->last = note;
    list->n++;
    return 0;
}

/* Copies a note list into the settings' memory. */
static int ns_notes_keep(ns_ld *L, const ns_notes *list, ns_strlist *out)
{
    out->v = NULL;
    out->n = 0;
    if (list->n == 0)
        return 0;
    const char **v = ns_mem_alloc(&L->mem, list->n * sizeof *v);
    if (v == NULL)
        return ns_ld_nomem(L);
    size_t i = 0;
    for (const ns_note *n = list->first; n; n = n->next) {
        size_t len = strlen(n->path);
        char *p = ns_mem_alloc(&L->mem, len + 1);
        if (p == NULL)
            return ns_ld_nomem(L);
        memcpy(p, n->path, len + 1);
        v[i++] = p;
    }
    out->v = v;
    out->n = list->n;
    return 0;
}

/* ---- scalars ------------------------------------------------------------ */

static const char *ns_int_what(uint64_t lo, uint64_t hi, char *buf, size_t n)
{
    if (lo == 0 && hi >= NS_JS_MAX_SAFE)
        return "a non-negative integer";
    if (lo == 1 && hi >= NS_JS_MAX_SAFE)
        return "a positive integer";
    snprintf(buf, n, "an integer from %llu to %llu", (unsigned long long)lo, (unsigned long long)hi);
    return buf;
}

/* Reads an unquoted decimal integer into *v. False when n is anything
 * else (quoted, a list, negative, fractional, too large). */
static bool ns_scan_uint(const ns_ynode *n, uint64_t *v)
{
    if (n->type != NS_Y_SCALAR || n->quoted || n->null)
        return false;
    const char *s = n->str, *end = n->str + n->len;
    if (s < end && *s == '+')
        s++;
    if (s == end)
        return false;
    uint64_t x = 0;
    for (; s < end; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (x > (UINT64_MAX - d) / 10)
            return false;
        x = x * 10 + d;
    }
    *v = x;
    return true;
}

/* An integer lo..hi; empty counts as 0 (nostream then skips the check). */
static int ns_get_uint(ns_ld *L, const ns_ynode *n, uint64_t lo, uint64_t hi, uint64_t *out)
{
    uint64_t v = 0;
    bool ok = (n->type == NS_Y_SCALAR && n->null) || ns_scan_uint(n, &v);
    if (!ok || v < lo || v > hi) {
        char buf[80];
        return ns_bad(L, n, ns_int_what(lo, hi, buf, sizeof buf));
    }
    *out = v;
    return 0;
}

/* A YAML 1.2 boolean: unquoted true/True/TRUE or false/False/FALSE. A
 * quoted "true" is a string and refused, as are yes/no/on/off (YAML 1.1
 * spellings that other readers take differently). */
static int ns_get_bool(ns_ld *L, const ns_ynode *n, bool *out)
{
    static const char *const yes[] = {"true", "True", "TRUE"}, *const no[] = {"false", "False", "FALSE"};
    if (n->type == NS_Y_SCALAR && !n->quoted && !n->null)
        for (size_t i = 0; i < 3; i++) {
            if (n->len == strlen(yes[i]) && memcmp(n->str, yes[i], n->len) == 0) {
                *out = true;
                return 0;
            }
            if (n->len == strlen(no[i]) && memcmp(n->str, no[i], n->len) == 0) {
                *out = false;
                return 0;
            }
        }
    return ns_bad(L, n, "true or false");
}

/* A copy of a string value in the settings' memory; NULL when empty or
 * null. Refuses lists, mappings and NUL characters. */
static int ns_get_str(ns_ld *L, const ns_ynode *n, const char **out)
{
    if (n->type != NS_Y_SCALAR)
        return ns_bad(L, n, "a string");
    if (n->null || n->len == 0) {
        *out = NULL;
        return 0;
    }
    if (memchr(n->str, '\0', n->len))
        return ns_bad(L, n, "a string without NUL characters");
    char *p = ns_mem_alloc(&L->mem, n->len + 1);
    if (p == NULL)
        return ns_ld_nomem(L);
    memcpy(p, n->str, n->len + 1);
    *out = p;
    return 0;
}

/* An HTTP header name (RFC 9110 token), stored lower-case; NULL when empty. */
static int ns_get_header(ns_ld *L, const ns_ynode *n, const char **out)
{
    const char *s;
    int rc = ns_get_str(L, n, &s);
    if (rc != 0 || s == NULL) {
        *out = NULL;
        return rc;
    }
    size_t len = strlen(s);
    bool ok = len <= 128;
    for (size_t i = 0; ok && i < len; i++)
        ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
             (s[i] >= '0' && s[i] <= '9') || strchr("!#$%&'*+-.^_`|~", s[i]) != NULL;
    if (!ok)
        return ns_bad(L, n, "an HTTP header name such as x-forwarded-for");
    for (char *p = (char *)s; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    *out = s;
    return 0;
}

static int ns_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Hex of min..max digits (any case), stored lower-case. */
static int ns_get_hex(ns_ld *L, const ns_ynode *n, size_t min, size_t max, const char *what,
                      const char **out)
{
    bool ok = n->type == NS_Y_SCALAR && !n->null && n->len >= min && n->len <= max;
    for (size_t i = 0; ok && i < n->len; i++)
        ok = ns_hexval(n->str[i]) >= 0;
    if (!ok)
        return ns_bad(L, n, what);
    char *p = ns_mem_alloc(&L->mem, n->len + 1);
    if (p == NULL)
        return ns_ld_nomem(L);
    for (size_t i = 0; i < n->len; i++)
        p[i] = "0123456789abcdef"[ns_hexval(n->str[i])];
    p[n->len] = '\0';
    *out = p;
    return 0;
}

/* Parses an IPv4 or IPv6 address (no prefix) into IPv4-mapped form. */
static bool ns_ip_parse(const char *s, size_t len, uint8_t out[16])
{
    char buf[64];
    if (len == 0 || len >= sizeof buf || memchr(s, '\0', len))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, buf, &a4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, &a4, 4);
        return true;
    }
    if (inet_pton(AF_INET6, buf, &a6) == 1) {
        memcpy(out, &a6, 16);
        return true;
    }
    return false;
}

static bool ns_ip_is_v4(const uint8_t a[16])
{
    static const uint8_t pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, pre, 12) == 0;
}

/* "address" or "address/bits". */
static bool ns_ipnet_parse(const char *s, size_t len, ns_ipnet *out)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    if (!ns_ip_parse(s, alen, out->addr))
        return false;
    bool v4 = ns_ip_is_v4(out->addr) && memchr(s, ':', alen) == NULL;
    unsigned bits = 128;
    if (slash) {
        const char *b = slash + 1, *end = s + len;
        if (b == end || end - b > 3)
            return false;
        bits = 0;
        for (; b < end; b++) {
            if (*b < '0' || *b > '9')
                return false;
            bits = bits * 10 + (unsigned)(*b - '0');
        }
        if (bits > (v4 ? 32u : 128u))
            return false;
        if (v4)
            bits += 96;
    }
    out->bits = (uint8_t)bits;
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
        out->addr[i] &= (uint8_t)(0xff00u >> keep);
    }
    return true;
}

static bool ns_ipnet_has(const ns_ipnet *net, const uint8_t a[16])
{
    unsigned full = net->bits / 8, rest = net->bits % 8;
    if (memcmp(net->addr, a, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff00u >> rest);
    return (a[full] & mask) == net->addr[full];
}

static bool ns_iplist_has(const ns_iplist *l, const uint8_t a[16])
{
    for (size_t i = 0; i < l->n; i++)
        if (ns_ipnet_has(&l->v[i], a))
            return true;
    return false;
}

/* ---- lists -------------------------------------------------------------- */

/* A list value: a sequence, or empty (an empty list). Out: *count. */
static int ns_get_seq(ns_ld *L, const ns_ynode *n, size_t *count)
{
    if (n->type == NS_Y_SCALAR && n->null) {
        *count = 0;
        return 0;
    }
    if (n->type != NS_Y_SEQ)
        return ns_bad(L, n, "a list");
    *count = n->count;
    return 0;
}

/* An event kind, or an inclusive [min, max] range of kinds. */
static int ns_get_kind(ns_ld *L, const ns_ynode *n, ns_kind_range *r)
{
    static const char what[] = "an event kind (a non-negative integer) or a [min, max] pair of kinds";
    uint64_t a, b;
    if (n->type == NS_Y_SCALAR) {
        if (!ns_scan_uint(n, &a))
            return ns_bad(L, n, what);
        r->min = r->max = a;
        return 0;
    }
    if (n->type != NS_Y_SEQ || n->count != 2 || !ns_scan_uint(n->first, &a) ||
        !ns_scan_uint(n->first->next, &b))
        return ns_bad(L, n, what);
    if (a > b)
        return ns_ld_fail(L, NS_ECONFIG, n->line,
                          "%s is the range [%llu, %llu]: its first kind must not be greater than its last",
                          L->path, (unsigned long long)a, (unsigned long long)b);
    r->min = a;
    r->max = b;
    return 0;
}

static int ns_get_kinds(ns_ld *L, const ns_ynode *n, ns_kindlist *out)
{
    size_t count = 0;
    int rc = ns_get_seq(L, n, &count);
    if (rc != 0)
        return rc;
    ns_kind_range *v = count ? ns_mem_alloc(&L->mem, count * sizeof *v) : NULL;
    if (count && v == NULL)
        return ns_ld_nomem(L);
    size_t i = 0;
    for (const ns_ynode *it = count ? n->first : NULL; it; it = it->next, i++) {
        size_t old = ns_path_index(L, i);
        rc = ns_get_kind(L, it, &v[i]);
        ns_path_restore(L, old);
        if (rc != 0)
            return rc;
    }
    out->v = v;
    out->n = count;
    return 0;
}

static int ns_get_ips(ns_ld *L, const ns_ynode *n, ns_iplist *out)
{
    size_t count = 0;
    int rc = ns_get_seq(L, n, &count);
    if (rc != 0)
        return rc;
    ns_ipnet *v = count ? ns_mem_alloc(&L->mem, count * sizeof *v) : NULL;
    if (count && v == NULL)
        return ns_ld_nomem(L);
    size_t i = 0;
    for (const ns_ynode *it = count ? n->first : NULL; it; it = it->next, i++) {
        if (it->type != NS_Y_SCALAR || it->null || !ns_ipnet_parse(it->str, it->len, &v[i])) {
            size_t old = ns_path_index(L, i);
            rc = ns_bad(L, it, "an IP address or network such as 10.0.0.1, ::1 or 10.0.0.0/8");
            ns_path_restore(L, old);
            return rc;
        }
    }
    out->v = v;
    out->n = count;
    return 0;
}

/* A list of hex strings of min..max digits. */
static int ns_get_hexlist(ns_ld *L, const ns_ynode *n, size_t min, size_t max, const char *what,
                          ns_strlist *out)
{
    size_t count = 0;
    int rc = ns_get_seq(L, n, &count);
    if (rc != 0)
        return rc;
    const char **v = count ? ns_mem_alloc(&L->mem, count * sizeof *v) : NULL;
    if (count && v == NULL)
        return ns_ld_nomem(L);
    size_t i = 0;
    for (const ns_ynode *it = count ? n->first : NULL; it; it = it->next, i++) {
        size_t old = ns_path_index(L, i);
        rc = ns_get_hex(L, it, min, max, what, &v[i]);
        ns_path_restore(L, old);
        if (rc != 0)
            return rc;
    }
    out->v = v;
    out->n = count;
    return 0;
}

/* ---- the schema --------------------------------------------------------- */

typedef enum {
    NS_K_MAP,        /* a mapping: `sub` lists its keys */
    NS_K_STR,        /* const char * */
    NS_K_U32,        /* uint32_t within lo..hi */
    NS_K_U64,        /* uint64_t within lo..hi */
    NS_K_BOOL,       /* bool: true or false */
    NS_K_HEADER,     /* const char *, an HTTP header name */
    NS_K_IPS,        /* ns_iplist */
    NS_K_PREFIXES,   /* ns_strlist of 1..64 hex digits */
    NS_K_PUBKEYS,    /* ns_strlist of exactly 64 hex digits */
    NS_K_KINDS,      /* ns_kindlist */
    NS_K_RATES,      /* ns_rate_limits, items without kinds */
    NS_K_RATES_MSG,  /* ns_rate_limits of limits.message (items may carry `type`) */
    NS_K_RATES_KIND, /* ns_rate_limits, items may carry kinds */
    NS_K_CONTENT,    /* ns_content_limits: one mapping or a list of them */
    NS_K_UNIMPL,     /* nostream's, not implemented here: noted, not read */
    NS_K_ALIAS,      /* a deprecated name of `sub`, used when `sub` is absent */
} ns_ktype;

typedef struct ns_key {
    const char *name;
    ns_ktype type;
    size_t off; /* of the field in ns_settings */
    uint64_t lo, hi;
    const struct ns_key *sub;
} ns_key;

#define NS_OFF(f) offsetof(ns_settings, f)
#define NS_INT32_MAX 2147483647ull

static const ns_key ns_k_info[] = {
    {.name = "relay_url", .type = NS_K_STR, .off = NS_OFF(info.relay_url)},
    {.name = "name", .type = NS_K_STR, .off = NS_OFF(info.name)},
    {.name = "description", .type = NS_K_STR, .off = NS_OFF(info.description)},
    {.name = "pubkey", .type = NS_K_STR, .off = NS_OFF(info.pubkey)},
    {.name = "contact", .type = NS_K_STR, .off = NS_OFF(info.contact)},
    {.name = "banner", .type = NS_K_STR, .off = NS_OFF(info.banner)},
    {.name = "icon", .type = NS_K_STR, .off = NS_OFF(info.icon)},
    {.name = "self", .type = NS_K_STR, .off = NS_OFF(info.self)},
    {.name = "terms_of_service", .type = NS_K_STR, .off = NS_OFF(info.terms_of_service)},
    {0},
};

/* permessage-deflate (RFC 7692); zlib takes raw window bits 9..15. */
static const ns_key ns_k_compression[] = {
    {.name = "enabled", .type = NS_K_BOOL, .off = NS_OFF(network.compression.enabled)},
    {.name = "serverMaxWindowBits", .type = NS_K_U32, .off = NS_OFF(network.compression.server_max_window_bits),
     .lo = 9, .hi = 15},
    {.name = "serverNoContextTakeover", .type = NS_K_BOOL,
     .off = NS_OFF(network.compression.server_no_context_takeover)},
    {0},
};

static const ns_key ns_k_network[] = {
    {.name = "maxPayloadSize", .type = NS_K_U64, .off = NS_OFF(network.max_payload_size), .lo = 1,
     .hi = 1u << 30},
    {.name = "remoteIpHeader", .type = NS_K_HEADER, .off = NS_OFF(network.remote_ip_header)},
    {.name = "trustedProxies", .type = NS_K_IPS, .off = NS_OFF(network.trusted_proxies)},
    {.name = "max_payload_size", .type = NS_K_ALIAS, .sub = &ns_k_network[0]},
    {.name = "remote_ip_header", .type = NS_K_ALIAS, .sub = &ns_k_network[1]},
    {.name = "handshakeTimeoutSeconds", .type = NS_K_U32, .off = NS_OFF(network.handshake_timeout_seconds),
     .lo = 1, .hi = 3600},
    {.name = "compression", .type = NS_K_MAP, .sub = ns_k_compression},
    {0},
};

static const ns_key ns_k_workers[] = {
    {.name = "count", .type = NS_K_U32, .off = NS_OFF(workers.count), .lo = 0, .hi = 1024},
    {0},
};

static const ns_key ns_k_connection[] = {
    {.name = "rateLimits", .type = NS_K_RATES, .off = NS_OFF(limits.connection.rate_limits)},
    {.name = "ipWhitelist", .type = NS_K_IPS, .off = NS_OFF(limits.connection.ip_whitelist)},
    {.name = "ipBlacklist", .type = NS_K_IPS, .off = NS_OFF(limits.connection.ip_blacklist)},
    {.name = "maxConnectionsPerIp", .type = NS_K_U32, .off = NS_OFF(limits.connection.max_per_ip), .lo = 0,
     .hi = 1000000},
    {0},
};

static const ns_key ns_k_event_id[] = {
    {.name = "minLeadingZeroBits", .type = NS_K_U32,
     .off = NS_OFF(limits.event.event_id_min_leading_zero_bits), .lo = 0, .hi = 256},
    {0},
};

static const ns_key ns_k_event_kind[] = {
    {.name = "whitelist", .type = NS_K_KINDS, .off = NS_OFF(limits.event.kind_whitelist)},
    {.name = "blacklist", .type = NS_K_KINDS, .off = NS_OFF(limits.event.kind_blacklist)},
    {0},
};

static const ns_key ns_k_event_pubkey[] = {
    {.name = "minBalance", .type = NS_K_UNIMPL},
    {.name = "minLeadingZeroBits", .type = NS_K_U32,
     .off = NS_OFF(limits.event.pubkey_min_leading_zero_bits), .lo = 0, .hi = 256},
    {.name = "whitelist", .type = NS_K_PREFIXES, .off = NS_OFF(limits.event.pubkey_whitelist)},
    {.name = "blacklist", .type = NS_K_PREFIXES, .off = NS_OFF(limits.event.pubkey_blacklist)},
    {0},
};

static const ns_key ns_k_event_created[] = {
    {.name = "maxPositiveDelta", .type = NS_K_U64,
     .off = NS_OFF(limits.event.created_at_max_positive_delta), .lo = 0, .hi = NS_JS_MAX_SAFE},
    {.name = "maxNegativeDelta", .type = NS_K_U64,
     .off = NS_OFF(limits.event.created_at_max_negative_delta), .lo = 0, .hi = NS_JS_MAX_SAFE},
    {0},
};

static const ns_key ns_k_event_wl[] = {
    {.name = "pubkeys", .type = NS_K_PUBKEYS, .off = NS_OFF(limits.event.whitelist_pubkeys)},
    {.name = "ipAddresses", .type = NS_K_IPS, .off = NS_OFF(limits.event.whitelist_ip_addresses)},
    {0},
};

static const ns_key ns_k_event[] = {
    {.name = "eventId", .type = NS_K_MAP, .sub = ns_k_event_id},
    {.name = "kind", .type = NS_K_MAP, .sub = ns_k_event_kind},
    {.name = "pubkey", .type = NS_K_MAP, .sub = ns_k_event_pubkey},
    {.name = "createdAt", .type = NS_K_MAP, .sub = ns_k_event_created},
    {.name = "content", .type = NS_K_CONTENT, .off = NS_OFF(limits.event.content)},
    {.name = "rateLimits", .type = NS_K_RATES_KIND, .off = NS_OFF(limits.event.rate_limits)},
    {.name = "whitelists", .type = NS_K_MAP, .sub = ns_k_event_wl},
    {.name = "retention", .type = NS_K_UNIMPL},
    {0},
};

static const ns_key ns_k_subscription[] = {
    {.name = "maxSubscriptions", .type = NS_K_U32, .off = NS_OFF(limits.subscription.max_subscriptions),
     .lo = 0, .hi = NS_INT32_MAX},
    {.name = "maxFilters", .type = NS_K_U32, .off = NS_OFF(limits.subscription.max_filters), .lo = 0,
     .hi = NS_INT32_MAX},
    {.name = "maxFilterValues", .type = NS_K_U32, .off = NS_OFF(limits.subscription.max_filter_values),
     .lo = 0, .hi = NS_INT32_MAX},
    {.name = "maxSubscriptionIdLength", .type = NS_K_U32,
     .off = NS_OFF(limits.subscription.max_subscription_id_length), .lo = 0, .hi = NS_INT32_MAX},
    {.name = "maxLimit", .type = NS_K_U32, .off = NS_OFF(limits.subscription.max_limit), .lo = 0,
     .hi = NS_INT32_MAX},
    {.name = "minPrefixLength", .type = NS_K_U32, .off = NS_OFF(limits.subscription.min_prefix_length),
     .lo = 0, .hi = 64},
    {0},
};

static const ns_key ns_k_client[] = {
    {.name = "subscription", .type = NS_K_MAP, .sub = ns_k_subscription},
    {0},
};

static const ns_key ns_k_message[] = {
    {.name = "rateLimits", .type = NS_K_RATES_MSG, .off = NS_OFF(limits.message.rate_limits)},
    {.name = "ipWhitelist", .type = NS_K_IPS, .off = NS_OFF(limits.message.ip_whitelist)},
    {0},
};

static const ns_key ns_k_limits[] = {
    {.name = "rateLimiter", .type = NS_K_UNIMPL},
    {.name = "invoice", .type = NS_K_UNIMPL},
    {.name = "admissionCheck", .type = NS_K_UNIMPL},
    {.name = "admin", .type = NS_K_UNIMPL},
    {.name = "connection", .type = NS_K_MAP, .sub = ns_k_connection},
    {.name = "event", .type = NS_K_MAP, .sub = ns_k_event},
    {.name = "client", .type = NS_K_MAP, .sub = ns_k_client},
    {.name = "message", .type = NS_K_MAP, .sub = ns_k_message},
    {0},
};

static const ns_key ns_k_root[] = {
    {.name = "info", .type = NS_K_MAP, .sub = ns_k_info},
    {.name = "payments", .type = NS_K_UNIMPL},
    {.name = "paymentsProcessors", .type = NS_K_UNIMPL},
    {.name = "network", .type = NS_K_MAP, .sub = ns_k_network},
    {.name = "workers", .type = NS_K_MAP, .sub = ns_k_workers},
    {.name = "mirroring", .type = NS_K_UNIMPL},
    {.name = "limits", .type = NS_K_MAP, .sub = ns_k_limits},
    {.name = "nip05", .type = NS_K_UNIMPL},
    {.name = "nip45", .type = NS_K_UNIMPL},
    {.name = "nip50", .type = NS_K_UNIMPL},
    {.name = "nip66", .type = NS_K_UNIMPL},
    {.name = "wot", .type = NS_K_UNIMPL},
    {.name = "admin", .type = NS_K_UNIMPL},
    {0},
};

/* The keys of one item of a rate limit or content list. */
typedef enum { NS_ITEM_RATE, NS_ITEM_RATE_MSG, NS_ITEM_RATE_KIND, NS_ITEM_CONTENT } ns_item_kind;

static int ns_walk_map(ns_ld *L, const ns_ynode *map, const ns_key *table);

static bool ns_key_is(const ns_ynode *k, const char *name)
{
    return k->type == NS_Y_SCALAR && k->len == strlen(name) && memcmp(k->str, name, k->len) == 0;
}

/* Checks a mapping's keys: scalars, not empty, not repeated, not too many. */
static int ns_check_keys(ns_ld *L, const ns_ynode *map)
{
    if (map->count / 2 > NS_SETTINGS_MAX_KEYS)
        return ns_ld_fail(L, NS_ECONFIG, map->line, "%s has more than %d keys",
                          L->plen ? L->path : "the file", NS_SETTINGS_MAX_KEYS);
    for (const ns_ynode *k = map->first; k && k->next; k = k->next->next) {
        if (k->type != NS_Y_SCALAR)
            return ns_ld_fail(L, NS_ECONFIG, k->line, "%s has a key that is a list or mapping",
                              L->plen ? L->path : "the file");
        if (k->null || k->len == 0)
            return ns_ld_fail(L, NS_ECONFIG, k->line, "%s has an empty key",
                              L->plen ? L->path : "the file");
        for (const ns_ynode *p = map->first; p != k; p = p->next->next) {
            if (p->len == k->len && memcmp(p->str, k->str, k->len) == 0) {
                size_t old = ns_path_key(L, k->str, k->len);
                int rc = ns_ld_fail(L, NS_ECONFIG, k->line, "%s is given twice (first on line %zu)",
                                    L->path, p->line);
                ns_path_restore(L, old);
                return rc;
            }
        }
    }
    return 0;
}

/* One item of a rate limit or content list. */
static int ns_walk_item(ns_ld *L, const ns_ynode *n, ns_item_kind kind, ns_rate_limit *rate,
                        ns_content_limit *content)
{
    if (n->type != NS_Y_MAP)
        return ns_bad(L, n, kind == NS_ITEM_CONTENT ? "a mapping with maxLength (and kinds)"
                                                    : "a mapping with period and rate");
    int rc = ns_check_keys(L, n);
    if (rc != 0)
        return rc;
    bool has_period = false, has_rate = false;
    for (const ns_ynode *k = n->first; k && k->next && rc == 0; k = k->next->next) {
        const ns_ynode *v = k->next;
        size_t old = ns_path_key(L, k->str, k->len);
        bool kinds_ok = kind == NS_ITEM_RATE_KIND || kind == NS_ITEM_CONTENT;
        if (ns_key_is(k, "description")) {
            rc = ns_get_str(L, v, kind == NS_ITEM_CONTENT ? &content->description : &rate->description);
        } else if (ns_key_is(k, "kinds") && kinds_ok) {
            /* as nostream: kinds that are not a list (empty) limit every kind */
            bool has = !(v->type == NS_Y_SCALAR && v->null);
            ns_kindlist *kl = kind == NS_ITEM_CONTENT ? &content->kinds : &rate->kinds;
            rc = ns_get_kinds(L, v, kl);
            if (kind == NS_ITEM_CONTENT)
                content->has_kinds = has;
            else
                rate->has_kinds = has;
        } else if (ns_key_is(k, "maxLength") && kind == NS_ITEM_CONTENT) {
            rc = ns_get_uint(L, v, 0, NS_JS_MAX_SAFE, &content->max_length);
        } else if (ns_key_is(k, "period") && kind != NS_ITEM_CONTENT) {
            rc = ns_get_uint(L, v, 1, NS_JS_MAX_SAFE, &rate->period_ms);
            has_period = true;
        } else if (ns_key_is(k, "rate") && kind != NS_ITEM_CONTENT) {
            rc = ns_get_uint(L, v, 0, NS_JS_MAX_SAFE, &rate->rate);
            has_rate = true;
        } else if (ns_key_is(k, "type") && kind == NS_ITEM_RATE_MSG) {
            rc = ns_note_add(L, &L->unimpl, "");
        } else {
            rc = ns_note_add(L, &L->unknown, "");
        }
        ns_path_restore(L, old);
    }
    if (rc == 0 && kind != NS_ITEM_CONTENT && (!has_period || !has_rate))
        return ns_ld_fail(L, NS_ECONFIG, n->line, "%s needs both period (ms) and rate, it lacks %s",
                          L->path, has_period ? "rate" : has_rate ? "period" : "both");
    return rc;
}

static int ns_walk_rates(ns_ld *L, const ns_ynode *n, ns_item_kind kind, ns_rate_limits *out)
{
    size_t count = 0;
    int rc = ns_get_seq(L, n, &count);
    if (rc != 0)
        return rc;
    ns_rate_limit *v = count ? ns_mem_alloc(&L->mem, count * sizeof *v) : NULL;
    if (count && v == NULL)
        return ns_ld_nomem(L);
    size_t i = 0;
    for (const ns_ynode *it = count ? n->first : NULL; it; it = it->next, i++) {
        memset(&v[i], 0, sizeof v[i]);
        size_t old = ns_path_index(L, i);
        rc = ns_walk_item(L, it, kind, &v[i], NULL);
        ns_path_restore(L, old);
        if (rc != 0)
            return rc;
    }
    out->v = v;
    out->n = count;
    return 0;
}

/* limits.event.content: one mapping or a list of them, as nostream. */
static int ns_walk_content(ns_ld *L, const ns_ynode *n, ns_content_limits *out)
{
    if (n->type == NS_Y_MAP) {
        ns_content_limit *v = ns_mem_alloc(&L->mem, sizeof *v);
        if (v == NULL)
            return ns_ld_nomem(L);
        memset(v, 0, sizeof *v);
        int rc = ns_walk_item(L, n, NS_ITEM_CONTENT, NULL, v);
        if (rc != 0)
            return rc;
        out->v = v;
        out->n = 1;
        return 0;
    }
    if (n->type == NS_Y_SCALAR && !n->null)
        return ns_bad(L, n, "a mapping with maxLength (and kinds), or a list of them");
    size_t count = 0;
    int rc = ns_get_seq(L, n, &count);
    if (rc != 0)
        return rc;
    ns_content_limit *v = count ? ns_mem_alloc(&L->mem, count * sizeof *v) : NULL;
    if (count && v == NULL)
        return ns_ld_nomem(L);
    size_t i = 0;
    for (const ns_ynode *it = count ? n->first : NULL; it; it = it->next, i++) {
        memset(&v[i], 0, sizeof v[i]);
        size_t old = ns_path_index(L, i);
        rc = ns_walk_item(L, it, NS_ITEM_CONTENT, NULL, &v[i]);
        ns_path_restore(L, old);
        if (rc != 0)
            return rc;
    }
    out->v = v;
    out->n = count;
    return 0;
}

/* Reads value v of key e into its field. */
static int ns_walk_value(ns_ld *L, const ns_key *e, const ns_ynode *v)
{
    char *field = (char *)L->s + e->off;
    uint64_t x;
    int rc;
    switch (e->type) {
    case NS_K_MAP:
        if (v->type == NS_Y_SCALAR && v->null)
            return 0; /* an empty section changes nothing */
        if (v->type != NS_Y_MAP)
            return ns_bad(L, v, "a mapping (indented keys)");
        return ns_walk_map(L, v, e->sub);
    case NS_K_STR:
        return ns_get_str(L, v, (const char **)field);
    case NS_K_HEADER:
        return ns_get_header(L, v, (const char **)field);
    case NS_K_U32:
        if ((rc = ns_get_uint(L, v, e->lo, e->hi, &x)) == 0)
            *(uint32_t *)field = (uint32_t)x;
        return rc;
    case NS_K_U64:
        if ((rc = ns_get_uint(L, v, e->lo, e->hi, &x)) == 0)
            *(uint64_t *)field = x;
        return rc;
    case NS_K_BOOL:
        return ns_get_bool(L, v, (bool *)field);
    case NS_K_IPS:
        return ns_get_ips(L, v, (ns_iplist *)field);
    case NS_K_PREFIXES:
        return ns_get_hexlist(L, v, 1, 64, "a hex public key or prefix (1 to 64 hex digits)",
                              (ns_strlist *)field);
    case NS_K_PUBKEYS:
        return ns_get_hexlist(L, v, 64, 64, "a public key in hex (64 hex digits)", (ns_strlist *)field);
    case NS_K_KINDS:
        return ns_get_kinds(L, v, (ns_kindlist *)field);
    case NS_K_RATES:
        return ns_walk_rates(L, v, NS_ITEM_RATE, (ns_rate_limits *)field);
    case NS_K_RATES_MSG:
        return ns_walk_rates(L, v, NS_ITEM_RATE_MSG, (ns_rate_limits *)field);
    case NS_K_RATES_KIND:
        return ns_walk_rates(L, v, NS_ITEM_RATE_KIND, (ns_rate_limits *)field);
    case NS_K_CONTENT:
        return ns_walk_content(L, v, (ns_content_limits *)field);
    case NS_K_UNIMPL:
    case NS_K_ALIAS:
        break;
    }
    return 0;
}

static const ns_key *ns_find_key(const ns_key *table, const ns_ynode *k)
{
    for (const ns_key *e = table; e->name; e++)
        if (ns_key_is(k, e->name))
            return e;
    return NULL;
}

static bool ns_map_has(const ns_ynode *map, const char *name)
{
    for (const ns_ynode *k = map->first; k && k->next; k = k->next->next)
        if (ns_key_is(k, name))
            return true;
    return false;
}

static int ns_walk_map(ns_ld *L, const ns_ynode *map, const ns_key *table)
{
    int rc = ns_check_keys(L, map);
    for (const ns_ynode *k = map->first; rc == 0 && k && k->next; k = k->next->next) {
        const ns_key *e = ns_find_key(table, k);
        size_t old = ns_path_key(L, k->str, k->len);
        if (e == NULL) {
            rc = ns_note_add(L, &L->unknown, "");
        } else if (e->type == NS_K_UNIMPL) {
            rc = ns_note_add(L, &L->unimpl, "");
        } else if (e->type == NS_K_ALIAS) {
            char use[96];
            snprintf(use, sizeof use, " (use %s)", e->sub->name);
            rc = ns_note_add(L, &L->deprec, use);
            if (rc == 0 && !ns_map_has(map, e->sub->name))
                rc = ns_walk_value(L, e->sub, k->next);
        } else {
            rc = ns_walk_value(L, e, k->next);
        }
        ns_path_restore(L, old);
    }
    return rc;
}

/* ---- loading ------------------------------------------------------------ */

int ns_settings_parse(const char *name, const char *text, size_t len, ns_settings *out, char *err,
                      size_t errlen)
{
    ns_settings_defaults(out);
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    ns_ld L;
    memset(&L, 0, sizeof L);
    L.name = name ? name : "settings";
    L.err = err;
    L.errlen = errlen;
    L.s = out;
    if (len > NS_SETTINGS_MAX_FILE)
        return ns_ld_fail(&L, NS_ECONFIG, 0, "larger than %u bytes: not a settings file",
                          NS_SETTINGS_MAX_FILE);
    ns_ynode *root = NULL;
    int rc = ns_y_build(&L, text ? text : "", text ? len : 0, &root);
    if (rc == 0 && root != NULL && !(root->type == NS_Y_SCALAR && root->null)) {
        if (root->type != NS_Y_MAP)
            rc = ns_ld_fail(&L, NS_ECONFIG, root->line,
                            "the settings must be a mapping of keys (info:, limits:, ...), not %s",
                            root->type == NS_Y_SEQ ? "a list" : "a single value");
        else
            rc = ns_walk_map(&L, root, ns_k_root);
    }
    if (rc == 0)
        rc = ns_notes_keep(&L, &L.unimpl, &out->unimplemented);
    if (rc == 0)
        rc = ns_notes_keep(&L, &L.unknown, &out->unknown);
    if (rc == 0)
        rc = ns_notes_keep(&L, &L.deprec, &out->deprecated);
    ns_mem_release(L.tree.head);
    if (rc != 0) {
        ns_mem_release(L.mem.head);
        ns_settings_defaults(out);
        return rc;
    }
    out->mem = L.mem.head;
    return 0;
}

int ns_settings_load(const char *path, ns_settings *out, char *err, size_t errlen)
{
    ns_settings_defaults(out);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block us */
    if (fd < 0)
        return ns_fail(err, errlen, NS_EIO, "cannot read settings file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ns_fail(err, errlen, NS_EIO, "cannot read settings file %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ns_fail(err, errlen, NS_EIO, "cannot read settings file %s: %s", path,
                       S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file");
    }
    if (st.st_size > (off_t)NS_SETTINGS_MAX_FILE) {
        close(fd);
        return ns_fail(err, errlen, NS_ECONFIG, "%s: larger than %u bytes: not a settings file", path,
                       NS_SETTINGS_MAX_FILE);
    }
    size_t cap = (size_t)st.st_size + 1, len = 0;
    char *text = malloc(cap);
    if (text == NULL) {
        close(fd);
        return ns_fail(err, errlen, NS_ENOMEM, "out of memory reading %s", path);
    }
    for (;;) {
        if (len == cap) { /* the file grew while we read it */
            free(text);
            close(fd);
            return ns_fail(err, errlen, NS_EIO, "cannot read settings file %s: it changed while read",
                           path);
        }
        ssize_t r = read(fd, text + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(text);
            close(fd);
            return ns_fail(err, errlen, NS_EIO, "cannot read settings file %s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    int rc = ns_settings_parse(path, text, len, out, err, errlen);
    free(text);
    return rc;
}

/* ---- writing the default file ------------------------------------------ */

extern const char ns_settings_default_yaml[];
extern const size_t ns_settings_default_yaml_len;

const char *ns_settings_default_text(size_t *len)
{
    if (len)
        *len = ns_settings_default_yaml_len;
    return ns_settings_default_yaml;
}

/* mkdir -p of dir, new directories with mode 0700. */
static int ns_mkdirs(char *dir, char *err, size_t errlen)
{
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        struct stat st;
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            int e = errno;
            *p = c;
            return ns_fail(err, errlen, NS_EIO, "cannot create directory %s: %s", dir, strerror(e));
        }
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            int rc = ns_fail(err, errlen, NS_EIO, "cannot create directory %s: %s", dir,
                             "a file of that name is in the way");
            *p = c;
            return rc;
        }
        *p = c;
        if (c == '\0')
            return 0;
    }
}

static int ns_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int ns_settings_write_default(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return 0;
    if (errno != ENOENT)
        return ns_fail(err, errlen, NS_EIO, "cannot check %s: %s", path, strerror(errno));
    size_t plen = strlen(path);
    if (plen == 0 || plen + 16 > PATH_MAX)
        return ns_fail(err, errlen, NS_EIO, "cannot write settings file \"%s\": bad path", path);
    char dir[PATH_MAX];
    memcpy(dir, path, plen + 1);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        int rc = ns_mkdirs(dir, err, errlen);
        if (rc != 0)
            return rc;
    }
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return ns_fail(err, errlen, NS_EIO, "cannot write settings file %s: %s", path, strerror(errno));
    if (ns_write_all(fd, ns_settings_default_yaml, ns_settings_default_yaml_len) != 0 ||
        fchmod(fd, 0644) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return ns_fail(err, errlen, NS_EIO, "cannot write settings file %s: %s", path, strerror(e));
    }
    close(fd);
    int rc = 1;
    if (link(tmp, path) != 0) {
        int e = errno;
        if (e == EEXIST)
            rc = 0; /* someone else made it meanwhile: theirs stays */
        else if (e == EPERM || e == ENOTSUP || e == EOPNOTSUPP) {
            /* no hard links here (some network or FUSE file systems) */
            int fd2 = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            if (fd2 < 0 && errno == EEXIST) {
                rc = 0;
            } else if (fd2 < 0 || ns_write_all(fd2, ns_settings_default_yaml,
                                               ns_settings_default_yaml_len) != 0) {
                e = errno;
                if (fd2 >= 0) {
                    close(fd2);
                    unlink(path);
                }
                unlink(tmp);
                return ns_fail(err, errlen, NS_EIO, "cannot write settings file %s: %s", path,
                               strerror(e));
            } else {
                close(fd2);
            }
        } else {
            unlink(tmp);
            return ns_fail(err, errlen, NS_EIO, "cannot write settings file %s: %s", path, strerror(e));
        }
    }
    unlink(tmp);
    return rc;
}

/* ---- applying the settings ---------------------------------------------- */

bool ns_settings_kind_in_list(const ns_kindlist *l, uint64_t kind)
{
    for (size_t i = 0; i < l->n; i++)
        if (kind >= l->v[i].min && kind <= l->v[i].max)
            return true;
    return false;
}

bool ns_settings_kind_allowed(const ns_settings *s, uint32_t kind)
{
    const ns_kindlist *w = &s->limits.event.kind_whitelist, *b = &s->limits.event.kind_blacklist;
    if (w->n > 0 && !ns_settings_kind_in_list(w, kind))
        return false;
    if (b->n > 0 && ns_settings_kind_in_list(b, kind))
        return false;
    return true;
}

static bool ns_prefix_any(const ns_strlist *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strncmp(s, l->v[i], strlen(l->v[i])) == 0)
            return true;
    return false;
}

bool ns_settings_pubkey_allowed(const ns_settings *s, const char *pubkey_hex)
{
    if (pubkey_hex == NULL)
        return false;
    const ns_strlist *w = &s->limits.event.pubkey_whitelist, *b = &s->limits.event.pubkey_blacklist;
    if (w->n > 0 && !ns_prefix_any(w, pubkey_hex))
        return false;
    if (b->n > 0 && ns_prefix_any(b, pubkey_hex))
        return false;
    return true;
}

static bool ns_content_applies(const ns_content_limit *c, uint64_t kind)
{
    return !c->has_kinds || ns_settings_kind_in_list(&c->kinds, kind);
}

size_t ns_settings_content_limit(const ns_settings *s, uint32_t kind)
{
    uint64_t best = 0;
    const ns_content_limits *l = &s->limits.event.content;
    for (size_t i = 0; i < l->n; i++) {
        const ns_content_limit *c = &l->v[i];
        if (c->max_length > 0 && (best == 0 || c->max_length < best) && ns_content_applies(c, kind))
            best = c->max_length;
    }
    return best > SIZE_MAX ? SIZE_MAX : (size_t)best;
}

bool ns_settings_ip_in_list(const char *ip, const ns_iplist *l)
{
    uint8_t a[16];
    return ip != NULL && ns_ip_parse(ip, strlen(ip), a) && ns_iplist_has(l, a);
}

bool ns_settings_event_rate_exempt(const ns_settings *s, const char *pubkey_hex, const char *ip)
{
    const ns_strlist *pk = &s->limits.event.whitelist_pubkeys;
    for (size_t i = 0; pubkey_hex && i < pk->n; i++)
        if (strcmp(pubkey_hex, pk->v[i]) == 0)
            return true;
    return ip != NULL && ns_settings_ip_in_list(ip, &s->limits.event.whitelist_ip_addresses);
}

/* Writes a in canonical text (IPv4-mapped as IPv4). */
static int ns_ip_format(const uint8_t a[16], char *out, size_t outlen)
{
    char buf[INET6_ADDRSTRLEN];
    bool ok = ns_ip_is_v4(a) ? inet_ntop(AF_INET, a + 12, buf, sizeof buf) != NULL
                             : inet_ntop(AF_INET6, a, buf, sizeof buf) != NULL;
    if (!ok || strlen(buf) >= outlen)
        return NS_ERANGE;
    memcpy(out, buf, strlen(buf) + 1);
    return 0;
}

int ns_settings_client_ip(const ns_settings *s, const char *peer, const char *header, char *out,
                          size_t outlen)
{
    uint8_t pa[16], best[16];
    bool peer_ok = peer != NULL && ns_ip_parse(peer, strlen(peer), pa);
    bool from_header = false;
    const ns_iplist *trusted = &s->network.trusted_proxies;
    if (peer_ok && header != NULL && s->network.remote_ip_header != NULL && ns_iplist_has(trusted, pa)) {
        const char *end = header + strlen(header);
        while (end > header) {
            const char *start = end;
            while (start > header && start[-1] != ',')
                start--;
            const char *a = start, *b = end;
            while (a < b && (*a == ' ' || *a == '\t'))
                a++;
            while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
                b--;
            uint8_t h[16];
            if (!ns_ip_parse(a, (size_t)(b - a), h))
                break; /* not an address: keep the last one reached */
            memcpy(best, h, 16);
            from_header = true;
            if (!ns_iplist_has(trusted, h))
                break; /* the first address, from the right, that no proxy of ours wrote */
            end = start > header ? start - 1 : header;
        }
    }
    if (from_header)
        return ns_ip_format(best, out, outlen) == 0 ? 1 : NS_ERANGE;
    if (peer_ok)
        return ns_ip_format(pa, out, outlen);
    const char *p = peer ? peer : "";
    if (strlen(p) >= outlen)
        return NS_ERANGE;
    memcpy(out, p, strlen(p) + 1);
    return 0;
}

/* NIP-19 npub: bech32 (BIP-173) with prefix "npub", 32 bytes of data. */
static int ns_npub_decode(const char *s, uint8_t key[32])
{
    static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
    static const uint32_t gen[5] = {0x3b6a57b2u, 0x26508e6du, 0x1ea119fau, 0x3d4233ddu, 0x2a1462b3u};
    size_t n = strlen(s);
    if (n != 63)
        return NS_EINVAL;
    bool lower = false, upper = false;
    char t[64];
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        lower |= c >= 'a' && c <= 'z';
        upper |= c >= 'A' && c <= 'Z';
        t[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    t[n] = '\0';
    if ((lower && upper) || memcmp(t, "npub1", 5) != 0)
        return NS_EINVAL;
    uint32_t chk = 1;
    uint8_t vals[58];
    /* the checksum covers the expanded prefix, then the data */
    for (int pass = 0; pass < 3; pass++) {
        size_t count = pass == 2 ? 58 : pass == 1 ? 5 : 4;
        for (size_t i = 0; i < count; i++) {
            uint32_t v;
            if (pass == 0)
                v = (uint32_t)t[i] >> 5;
            else if (pass == 1)
                v = i == 0 ? 0 : (uint32_t)t[i - 1] & 31;
            else {
                const char *c = strchr(charset, t[5 + i]);
                if (c == NULL || t[5 + i] == '\0')
                    return NS_EINVAL;
                v = vals[i] = (uint8_t)(c - charset);
            }
            uint32_t top = chk >> 25;
            chk = ((chk & 0x1ffffffu) << 5) ^ v;
            for (int g = 0; g < 5; g++)
                if ((top >> g) & 1)
                    chk ^= gen[g];
        }
    }
    if (chk != 1)
        return NS_EINVAL;
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < 52; i++) { /* the last 6 values are the checksum */
        acc = (acc << 5) | vals[i];
        bits += 5;
        while (bits >= 8) {
            bits -= 8;
            if (o == 32)
                return NS_EINVAL;
            key[o++] = (uint8_t)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    return o == 32 && acc == 0 ? 0 : NS_EINVAL;
}

int ns_settings_info_pubkey(const ns_settings *s, char out[65])
{
    out[0] = '\0';
    const char *p = s->info.pubkey;
    if (p == NULL)
        return NS_EINVAL;
    size_t n = strlen(p);
    if (n == 64) {
        for (size_t i = 0; i < 64; i++) {
            int v = ns_hexval(p[i]);
            if (v < 0) {
                out[0] = '\0';
                return NS_EINVAL;
            }
            out[i] = "0123456789abcdef"[v];
        }
        out[64] = '\0';
        return 0;
    }
    uint8_t key[32];
    if (ns_npub_decode(p, key) != 0)
        return NS_EINVAL;
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = "0123456789abcdef"[key[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[key[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

static int ns_cmp_content(const void *a, const void *b)
{
    uint64_t x = (*(const ns_content_limit *const *)a)->max_length;
    uint64_t y = (*(const ns_content_limit *const *)b)->max_length;
    return x < y ? -1 : x > y;
}

static uint32_t ns_dsu_find(uint32_t *next, uint32_t k)
{
    while (next[k] != k) {
        next[k] = next[next[k]];
        k = next[k];
    }
    return k;
}

/* The largest content limit any kind 0..65535 has, or 0 when some kind
 * has none. Entries are taken smallest limit first; each kind keeps the
 * first (smallest) limit that reaches it, found through a "next kind not
 * yet limited" forest so every kind is visited once. */
static uint64_t ns_content_max(const ns_content_limits *l)
{
    enum { K = 65536 };
    const ns_content_limit **order = malloc((l->n ? l->n : 1) * sizeof *order);
    uint32_t *next = malloc((K + 1) * sizeof *next);
    uint64_t result = 0;
    if (order == NULL || next == NULL) { /* nostream's own guess: the first entry */
        free(order);
        free(next);
        return l->n > 0 ? l->v[0].max_length : 0;
    }
    size_t m = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].max_length > 0)
            order[m++] = &l->v[i];
    qsort(order, m, sizeof *order, ns_cmp_content);
    for (uint32_t k = 0; k <= K; k++)
        next[k] = k;
    size_t limited = 0;
    for (size_t i = 0; i < m && limited < K; i++) {
        const ns_content_limit *c = order[i];
        static const ns_kind_range all = {0, K - 1};
        size_t nr = c->has_kinds ? c->kinds.n : 1;
        for (size_t r = 0; r < nr; r++) {
            const ns_kind_range *kr = c->has_kinds ? &c->kinds.v[r] : &all;
            if (kr->min >= K)
                continue;
            uint32_t hi = kr->max >= K ? K - 1 : (uint32_t)kr->max;
            for (uint32_t k = ns_dsu_find(next, (uint32_t)kr->min); k <= hi;
                 k = ns_dsu_find(next, k + 1)) {
                next[k] = k + 1;
                limited++;
                result = c->max_length;
            }
        }
    }
    free(order);
    free(next);
    return limited == K ? result : 0;
}

void ns_settings_limitation(const ns_settings *s, ns_nip11_limitation *o)
{
    const struct ns_settings_event *ev = &s->limits.event;
    memset(o, 0, sizeof *o);
    o->max_message_length = s->network.max_payload_size;
    o->max_subscriptions = s->limits.subscription.max_subscriptions;
    o->max_filters = s->limits.subscription.max_filters;
    o->max_limit = s->limits.subscription.max_limit;
    o->max_subid_length = s->limits.subscription.max_subscription_id_length;
    o->min_prefix = s->limits.subscription.min_prefix_length;
    o->max_content_length = ns_content_max(&ev->content);
    o->min_pow_difficulty = ev->event_id_min_leading_zero_bits;
    o->created_at_lower_limit = ev->created_at_max_negative_delta;
    o->created_at_upper_limit = ev->created_at_max_positive_delta;
    o->restricted_writes = ev->event_id_min_leading_zero_bits > 0 || ev->pubkey_min_leading_zero_bits > 0 ||
                           ev->pubkey_whitelist.n > 0 || ev->pubkey_blacklist.n > 0 ||
                           ev->kind_whitelist.n > 0 || ev->kind_blacklist.n > 0;
}

/* ---- describing --------------------------------------------------------- */

static void ns_d_str(ns_buf *b, const char *s)
{
    if (s == NULL)
        ns_buf_adds(b, "null");
    else
        ns_buf_add_json_str(b, s, strlen(s));
}

static void ns_d_kinds(ns_buf *b, const ns_kindlist *l)
{
    ns_buf_addc(b, '[');
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            ns_buf_adds(b, ", ");
        if (l->v[i].min == l->v[i].max)
            ns_buf_addf(b, "%llu", (unsigned long long)l->v[i].min);
        else
            ns_buf_addf(b, "[%llu, %llu]", (unsigned long long)l->v[i].min,
                        (unsigned long long)l->v[i].max);
    }
    ns_buf_addc(b, ']');
}

static void ns_d_ips(ns_buf *b, const ns_iplist *l)
{
    ns_buf_addc(b, '[');
    for (size_t i = 0; i < l->n; i++) {
        char ip[INET6_ADDRSTRLEN];
        if (ns_ip_format(l->v[i].addr, ip, sizeof ip) != 0)
            snprintf(ip, sizeof ip, "?");
        unsigned bits = l->v[i].bits;
        bool v4 = ns_ip_is_v4(l->v[i].addr) && bits >= 96;
        ns_buf_addf(b, "%s%s", i ? ", " : "", ip);
        if (bits != 128)
            ns_buf_addf(b, "/%u", v4 ? bits - 96 : bits);
    }
    ns_buf_addc(b, ']');
}

static void ns_d_strs(ns_buf *b, const ns_strlist *l)
{
    ns_buf_addc(b, '[');
    for (size_t i = 0; i < l->n; i++) {
        if (i)
            ns_buf_adds(b, ", ");
        ns_d_str(b, l->v[i]);
    }
    ns_buf_addc(b, ']');
}

/* The part rate-limit and content entries share: "{description: ..,
 * kinds: [..], " (each when present), after ", " for all but the first. */
static void ns_d_entry_head(ns_buf *b, size_t i, const char *description, bool has_kinds,
                            const ns_kindlist *kinds)
{
    ns_buf_adds(b, i ? ", {" : "{");
    if (description) {
        ns_buf_adds(b, "description: ");
        ns_d_str(b, description);
        ns_buf_adds(b, ", ");
    }
    if (has_kinds) {
        ns_buf_adds(b, "kinds: ");
        ns_d_kinds(b, kinds);
        ns_buf_adds(b, ", ");
    }
}

static void ns_d_rates(ns_buf *b, const ns_rate_limits *l)
{
    ns_buf_addc(b, '[');
    for (size_t i = 0; i < l->n; i++) {
        const ns_rate_limit *r = &l->v[i];
        ns_d_entry_head(b, i, r->description, r->has_kinds, &r->kinds);
        ns_buf_addf(b, "period: %llu, rate: %llu}", (unsigned long long)r->period_ms,
                    (unsigned long long)r->rate);
    }
    ns_buf_addc(b, ']');
}

static void ns_d_content(ns_buf *b, const ns_content_limits *l)
{
    ns_buf_addc(b, '[');
    for (size_t i = 0; i < l->n; i++) {
        const ns_content_limit *c = &l->v[i];
        ns_d_entry_head(b, i, c->description, c->has_kinds, &c->kinds);
        ns_buf_addf(b, "maxLength: %llu}", (unsigned long long)c->max_length);
    }
    ns_buf_addc(b, ']');
}

void ns_settings_describe(const ns_settings *s, ns_buf *b)
{
    const struct ns_settings_limits *l = &s->limits;
#define NS_D_STR(key, v) (ns_buf_adds(b, key " = "), ns_d_str(b, v), ns_buf_addc(b, '\n'))
#define NS_D_NUM(key, v) ns_buf_addf(b, key " = %llu\n", (unsigned long long)(v))
#define NS_D_BOOL(key, v) ns_buf_adds(b, (v) ? key " = true\n" : key " = false\n")
#define NS_D_LIST(key, fn, v) (ns_buf_adds(b, key " = "), fn(b, v), ns_buf_addc(b, '\n'))
    NS_D_STR("info.relay_url", s->info.relay_url);
    NS_D_STR("info.name", s->info.name);
    NS_D_STR("info.description", s->info.description);
    NS_D_STR("info.pubkey", s->info.pubkey);
    NS_D_STR("info.contact", s->info.contact);
    NS_D_STR("info.banner", s->info.banner);
    NS_D_STR("info.icon", s->info.icon);
    NS_D_STR("info.self", s->info.self);
    NS_D_STR("info.terms_of_service", s->info.terms_of_service);
    NS_D_NUM("network.maxPayloadSize", s->network.max_payload_size);
    NS_D_STR("network.remoteIpHeader", s->network.remote_ip_header);
    NS_D_LIST("network.trustedProxies", ns_d_ips, &s->network.trusted_proxies);
    NS_D_NUM("network.handshakeTimeoutSeconds", s->network.handshake_timeout_seconds);
    NS_D_BOOL("network.compression.enabled", s->network.compression.enabled);
    NS_D_NUM("network.compression.serverMaxWindowBits", s->network.compression.server_max_window_bits);
    NS_D_BOOL("network.compression.serverNoContextTakeover", s->network.compression.server_no_context_takeover);
    NS_D_NUM("workers.count", s->workers.count);
    NS_D_LIST("limits.connection.rateLimits", ns_d_rates, &l->connection.rate_limits);
    NS_D_LIST("limits.connection.ipWhitelist", ns_d_ips, &l->connection.ip_whitelist);
    NS_D_LIST("limits.connection.ipBlacklist", ns_d_ips, &l->connection.ip_blacklist);
    NS_D_NUM("limits.connection.maxConnectionsPerIp", l->connection.max_per_ip);
    NS_D_NUM("limits.event.eventId.minLeadingZeroBits", l->event.event_id_min_leading_zero_bits);
    NS_D_LIST("limits.event.kind.whitelist", ns_d_kinds, &l->event.kind_whitelist);
    NS_D_LIST("limits.event.kind.blacklist", ns_d_kinds, &l->event.kind_blacklist);
    NS_D_NUM("limits.event.pubkey.minLeadingZeroBits", l->event.pubkey_min_leading_zero_bits);
    NS_D_LIST("limits.event.pubkey.whitelist", ns_d_strs, &l->event.pubkey_whitelist);
    NS_D_LIST("limits.event.pubkey.blacklist", ns_d_strs, &l->event.pubkey_blacklist);
    NS_D_NUM("limits.event.createdAt.maxPositiveDelta", l->event.created_at_max_positive_delta);
    NS_D_NUM("limits.event.createdAt.maxNegativeDelta", l->event.created_at_max_negative_delta);
    NS_D_LIST("limits.event.content", ns_d_content, &l->event.content);
    NS_D_LIST("limits.event.rateLimits", ns_d_rates, &l->event.rate_limits);
    NS_D_LIST("limits.event.whitelists.pubkeys", ns_d_strs, &l->event.whitelist_pubkeys);
    NS_D_LIST("limits.event.whitelists.ipAddresses", ns_d_ips, &l->event.whitelist_ip_addresses);
    NS_D_NUM("limits.client.subscription.maxSubscriptions", l->subscription.max_subscriptions);
    NS_D_NUM("limits.client.subscription.maxFilters", l->subscription.max_filters);
    NS_D_NUM("limits.client.subscription.maxFilterValues", l->subscription.max_filter_values);
    NS_D_NUM("limits.client.subscription.maxSubscriptionIdLength",
             l->subscription.max_subscription_id_length);
    NS_D_NUM("limits.client.subscription.maxLimit", l->subscription.max_limit);
    NS_D_NUM("limits.client.subscription.minPrefixLength", l->subscription.min_prefix_length);
    NS_D_LIST("limits.message.rateLimits", ns_d_rates, &l->message.rate_limits);
    NS_D_LIST("limits.message.ipWhitelist", ns_d_ips, &l->message.ip_whitelist);
#undef NS_D_STR
#undef NS_D_NUM
#undef NS_D_BOOL
#undef NS_D_LIST
}

/* ---- the default file ---------------------------------------------------- */

/* resources/default-settings.yaml, byte for byte (tests/unit/test_settings.c
 * compares the two). Edit the file, then regenerate this literal. */
const char ns_settings_default_yaml[] =
/* NS_DEFAULT_YAML_BEGIN */
    "# settings.yaml for nostream in C: nostream's own default settings (2.x),\n"
    "# key for key, plus network.trustedProxies and the keys marked \"our addition\"\n"
    "# below. Every key is described in docs/settings.md, with its type, default\n"
    "# and whether this relay enforces it.\n"
    "# Sections this relay does not implement (payments, paymentsProcessors,\n"
    "# mirroring, limits.invoice, limits.event.pubkey.minBalance) are accepted and\n"
    "# named once in the log at startup.\n"
    "info:\n"
    "  relay_url: wss://nostream.your-domain.com\n"
    "  name: nostream.your-domain.com\n"
    "  description: A nostr relay written in Typescript.\n"
    "  pubkey: replace-with-your-pubkey-in-hex\n"
    "  contact: mailto:operator@your-domain.com\n"
    "payments:\n"
    "  enabled: false\n"
    "  processor: zebedee\n"
    "  feeSchedules:\n"
    "    admission:\n"
    "      - enabled: false\n"
    "        description: Admission fee charged per public key in msats (1000 msats = 1 satoshi)\n"
    "        amount: 1000000\n"
    "        whitelists:\n"
    "          pubkeys:\n"
    "            - replace-with-your-pubkey-in-hex\n"
    "          event_kinds:\n"
    "            - 9735 # Nip-57 Lightning Zap Receipts\n"
    "paymentsProcessors:\n"
    "  zebedee:\n"
    "    baseURL: https://api.zebedee.io/\n"
    "    callbackBaseURL: https://nostream.your-domain.com/callbacks/zebedee\n"
    "    ipWhitelist:\n"
    "      - \"3.225.112.64\"\n"
    "      - \"::ffff:3.225.112.64\"\n"
    "  lnbits:\n"
    "    baseURL: https://lnbits.your-domain.com/\n"
    "    callbackBaseURL: https://nostream.your-domain.com/callbacks/lnbits\n"
    "  lnurl:\n"
    "    invoiceURL: https://getalby.com/lnurlp/your-username\n"
    "  nodeless:\n"
    "    baseURL: https://nodeless.io\n"
    "    storeId: your-nodeless-io-store-id\n"
    "  opennode:\n"
    "    baseURL: api.opennode.com\n"
    "    callbackBaseURL: https://nostream.your-domain.com/callbacks/opennode\n"
    "network:\n"
    "  maxPayloadSize: 524288\n"
    "  # Comment the next line if using CloudFlare proxy\n"
    "  remoteIpHeader: x-forwarded-for\n"
    "  # Uncomment the next line if using CloudFlare proxy\n"
    "  # remoteIpHeader: cf-connecting-ip\n"
    "  # The header above is believed only on connections from these addresses\n"
    "  # (IPs or CIDRs such as 10.0.0.0/8): list your reverse proxy here. From\n"
    "  # any other address it is ignored, so clients cannot choose their own IP.\n"
    "  trustedProxies:\n"
    "    - \"127.0.0.1\"\n"
    "    - \"::1\"\n"
    "  # Our additions (nostream has no such keys; docs/settings.md). A client\n"
    "  # must finish its WebSocket handshake within this many seconds.\n"
    "  handshakeTimeoutSeconds: 10\n"
    "  # permessage-deflate. The relay resets its compressor after each message\n"
    "  # (serverNoContextTakeover) with a 2^serverMaxWindowBits-byte window, so an\n"
    "  # idle connection holds no compressor; a client that compresses costs\n"
    "  # about 40 KiB for its decompressor. enabled: false turns it off.\n"
    "  compression:\n"
    "    enabled: true\n"
    "    serverMaxWindowBits: 12\n"
    "    serverNoContextTakeover: true\n"
    "workers:\n"
    "  count: 0\n"
    "mirroring:\n"
    "  static: []\n"
    "limits:\n"
    "  invoice:\n"
    "    rateLimits:\n"
    "      - period: 60000\n"
    "        rate: 12\n"
    "      - period: 3600000\n"
    "        rate: 30\n"
    "    ipWhitelist:\n"
    "      - \"::1\"\n"
    "      - \"10.10.10.1\"\n"
    "      - \"::ffff:10.10.10.1\"\n"
    "  connection:\n"
    "    rateLimits:\n"
    "      - period: 1000\n"
    "        rate: 12\n"
    "      - period: 60000\n"
    "        rate: 48\n"
    "    ipWhitelist:\n"
    "      - \"::1\"\n"
    "      - \"10.10.10.1\"\n"
    "      - \"::ffff:10.10.10.1\"\n"
    "    # Our addition: open connections per client address (an IPv6 client\n"
    "    # counts by its /64), handshakes included; 0: no limit.\n"
    "    maxConnectionsPerIp: 256\n"
    "  event:\n"
    "    eventId:\n"
    "      minLeadingZeroBits: 0\n"
    "    kind:\n"
    "      whitelist: []\n"
    "      blacklist: []\n"
    "    pubkey:\n"
    "      minBalance: 0\n"
    "      minLeadingZeroBits: 0\n"
    "      whitelist: []\n"
    "      blacklist: []\n"
    "    createdAt:\n"
    "      maxPositiveDelta: 900\n"
    "      maxNegativeDelta: 0\n"
    "    content:\n"
    "      - description: 64 KB for event kind ranges 0-10 and 40-49\n"
    "        maxLength: 102400\n"
    "        kinds:\n"
    "          - - 0\n"
    "            - 10\n"
    "          - - 40\n"
    "            - 49\n"
    "      - description: 96 KB for event kind ranges 11-39 and 50-max\n"
    "        maxLength: 102400\n"
    "        kinds:\n"
    "          - - 11\n"
    "            - 39\n"
    "          - - 50\n"
    "            - 9007199254740991\n"
    "    rateLimits:\n"
    "      - description: 6 events/min for event kinds 0, 3, 40 and 41\n"
    "        kinds:\n"
    "          - 0\n"
    "          - 3\n"
    "          - 40\n"
    "          - 41\n"
    "        period: 60000\n"
    "        rate: 6\n"
    "      - description: 12 events/min for event kinds 1, 2, 4 and 42\n"
    "        kinds:\n"
    "          - 1\n"
    "          - 2\n"
    "          - 4\n"
    "          - 42\n"
    "        period: 60000\n"
    "        rate: 12\n"
    "      - description: 30 events/min for event kind ranges 5-7 and 43-49\n"
    "        kinds:\n"
    "          - - 5\n"
    "            - 7\n"
    "          - - 43\n"
    "            - 49\n"
    "        period: 60000\n"
    "        rate: 30\n"
    "      - description: 24 events/min for replaceable events and parameterized replaceable\n"
    "          events\n"
    "        kinds:\n"
    "          - - 10000\n"
    "            - 19999\n"
    "          - - 30000\n"
    "            - 39999\n"
    "        period: 60000\n"
    "        rate: 24\n"
    "      - description: 60 events/min for ephemeral events\n"
    "        kinds:\n"
    "          - - 20000\n"
    "            - 29999\n"
    "        period: 60000\n"
    "        rate: 60\n"
    "      - description: 720 events/hour for all events\n"
    "        period: 3600000\n"
    "        rate: 720\n"
    "    whitelists:\n"
    "      pubkeys: []\n"
    "      ipAddresses:\n"
    "        - \"::1\"\n"
    "        - \"10.10.10.1\"\n"
    "        - \"::ffff:10.10.10.1\"\n"
    "  client:\n"
    "    subscription:\n"
    "      maxSubscriptions: 10\n"
    "      maxFilters: 10\n"
    "      maxFilterValues: 2500\n"
    "      maxSubscriptionIdLength: 256\n"
    "      maxLimit: 5000\n"
    "      minPrefixLength: 4\n"
    "  message:\n"
    "    rateLimits:\n"
    "      - description: 240 raw messages/min\n"
    "        period: 60000\n"
    "        rate: 240\n"
    "    ipWhitelist:\n"
    "      - \"::1\"\n"
    "      - \"10.10.10.1\"\n"
    "      - \"::ffff:10.10.10.1\"\n"
/* NS_DEFAULT_YAML_END */
    ;
const size_t ns_settings_default_yaml_len = sizeof ns_settings_default_yaml - 1;
