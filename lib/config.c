/* config.c - loads the config file of DESIGN §3 into struct cfg, and says everything wrong with it
 * as "FILE:LINE:COL: KEY: what was expected", one problem per line.
 *
 * How libcyaml and libyaml share the work, and why:
 *
 * libcyaml maps fixed-shape YAML onto C structs from a static schema, but
 *  (a) it cannot load a mapping whose keys are not known up front (its issue #66): services, ports,
 *      host_ports, ports-hard, environment and labels are such maps;
 *  (b) it refuses a list of variable-length lists (CYAML_ERR_SEQUENCE_IN_SEQUENCE): constraints;
 *  (c) it stops at the first problem, and gives its line/column only in a log backtrace, in its own
 *      words, while the user should get every problem, each naming the key;
 *  (d) its scalars are lenient: strtoll with base 0 reads "3x" as 3 and "010" as 8, and any bool
 *      that is not one of its false words is true.
 *
 * So a load is three passes over the same text, libyaml underneath all of them:
 *  1. libyaml events: syntax errors at libyaml's mark, nesting depth (hostile input), a single
 *     document, and aliases, which are refused (pass 3 loads a service's text alone, where an
 *     anchor elsewhere would be unknown; and neither library implements merge keys).
 *  2. libyaml document: the checker walks the node tree. For fixed-shape mappings it is driven
 *     by the libcyaml schema tables of pass 3 themselves (known keys, value types, enum words,
 *     required keys) plus the `rules` table (ranges, formats, secrets), so each key is listed
 *     once. It reports unknown keys (with a did-you-mean), duplicate keys, wrong types and
 *     out-of-range values at each node's libyaml mark, and keeps going. It also extracts what
 *     libcyaml cannot load (the open maps and constraints) straight from the nodes.
 *  3. libcyaml, only when pass 2 found nothing: loads the fixed-shape parts into C structs,
 *     which are then copied into struct cfg with defaults and ${VAR} applied. The top level is
 *     loaded from the text as is, with `services` declared CYAML_IGNORE; each service from a
 *     copy of the text where all before the service's node is replaced by as many newlines and
 *     spaces, so libcyaml's lines and columns stay the user's. If libcyaml still refuses
 *     something (pass 2 being less strict than libcyaml would be a bug here), its own message
 *     and position are reported.
 * Messages therefore carry libyaml marks, made 1-based.
 *
 * ${VAR}: in string values (string fields and their lists, environment and labels values,
 * constraints), ${NAME} is replaced by the environment variable NAME: unset is an error, set but
 * empty gives "". "$$" is a literal "$"; a "$" not followed by "{" or "$" is kept as is, so most
 * passwords need no escaping. Numbers, booleans, ports and names are never expanded (libcyaml reads
 * numbers from the text as written).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cyaml/cyaml.h>
#include <yaml.h>
#include "buf.h"
#include "config.h"

#define CFG_MAX_FILE    (1 << 20) // a config file; anything bigger is a mistake
#define CFG_MAX_DEPTH   64        // libyaml's loader has no depth limit of its own
#define CFG_MAX_ENTRIES 4096      // keeps the quadratic duplicate-key check cheap
#define CFG_NAME_MAX    63        // a DNS label: names end up in host names and app ids

/* ---- libcyaml schemas: the fixed-shape parts (pass 3), also read by the checker (pass 2) ---- */

struct raw_etcd {
    char *host;
    unsigned *port;
    char **endpoints;
    unsigned endpoints_count;
    char *username, *password, *ca, *cert, *key, *prefix;
};

struct raw_marathon {
    char *host;
    unsigned *port;
    char *url;
    char *username, *password, *token, *ca;
    bool insecure;
    int api;
};

struct raw_subscriber {
    char *listen, *public_url, *token;
    unsigned *resync;
    int mode;
};

struct raw_docker {
    char *socket, *host_address;
    enum cfg_pull pull;
};

struct raw_top {
    char *environment;
    enum cfg_sched scheduler;
    struct raw_etcd *etcd;
    struct raw_marathon *marathon;
    struct raw_subscriber *subscriber;
    struct raw_docker *docker;
};

struct raw_health {
    char *cmd, *http, *port;
    unsigned *interval, *timeout, *grace;
};

struct raw_upgrade {
    unsigned *pause;
};

struct raw_service {
    char *image;
    unsigned *instances;
    double *cpus;
    unsigned *mem;
    struct raw_health *health;
    char **args;
    unsigned args_count;
    struct raw_upgrade *upgrade;
};

#define OPT CYAML_FLAG_OPTIONAL
/* Strings are never empty (min 1); args may be "" on purpose. */
#define STR(k, s, m)  CYAML_FIELD_STRING_PTR(k, OPT, s, m, 1, CYAML_UNLIMITED)
#define UINT(k, s, m) CYAML_FIELD_UINT_PTR(k, OPT, s, m)

static const cyaml_schema_value_t str_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 1, CYAML_UNLIMITED),
};
static const cyaml_schema_value_t arg_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_strval_t sched_words[] = {
    {"docker", CFG_SCHED_DOCKER},
    {"marathon", CFG_SCHED_MARATHON},
    {"swarm", CFG_SCHED_SWARM},
};
static const cyaml_strval_t pull_words[] = {
    {"missing", CFG_PULL_MISSING},
    {"always", CFG_PULL_ALWAYS},
    {"never", CFG_PULL_NEVER},
};
static const cyaml_strval_t api_words[] = {{"v2", 0}, {"legacy", 1}};
static const cyaml_strval_t mode_words[] = {{"events", 0}, {"callback", 1}};

static const cyaml_schema_field_t etcd_fields[] = {
    STR("host", struct raw_etcd, host),
    UINT("port", struct raw_etcd, port),
    CYAML_FIELD_SEQUENCE("endpoints", CYAML_FLAG_POINTER | OPT, struct raw_etcd, endpoints,
                         &str_entry, 1, CYAML_UNLIMITED),
    STR("username", struct raw_etcd, username),
    STR("password", struct raw_etcd, password),
    STR("ca", struct raw_etcd, ca),
    STR("cert", struct raw_etcd, cert),
    STR("key", struct raw_etcd, key),
    STR("prefix", struct raw_etcd, prefix),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t marathon_fields[] = {
    STR("host", struct raw_marathon, host),
    UINT("port", struct raw_marathon, port),
    STR("url", struct raw_marathon, url),
    STR("username", struct raw_marathon, username),
    STR("password", struct raw_marathon, password),
    STR("token", struct raw_marathon, token),
    STR("ca", struct raw_marathon, ca),
    CYAML_FIELD_BOOL("insecure", OPT, struct raw_marathon, insecure),
    CYAML_FIELD_ENUM("api", OPT | CYAML_FLAG_STRICT, struct raw_marathon, api, api_words,
                     CYAML_ARRAY_LEN(api_words)),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t subscriber_fields[] = {
    STR("listen", struct raw_subscriber, listen),
    STR("public_url", struct raw_subscriber, public_url),
    STR("token", struct raw_subscriber, token),
    UINT("resync", struct raw_subscriber, resync),
    CYAML_FIELD_ENUM("mode", OPT | CYAML_FLAG_STRICT, struct raw_subscriber, mode, mode_words,
                     CYAML_ARRAY_LEN(mode_words)),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t docker_fields[] = {
    STR("socket", struct raw_docker, socket),
    STR("host_address", struct raw_docker, host_address),
    CYAML_FIELD_ENUM("pull", OPT | CYAML_FLAG_STRICT, struct raw_docker, pull, pull_words,
                     CYAML_ARRAY_LEN(pull_words)),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t top_fields[] = {
    STR("environment", struct raw_top, environment),
    CYAML_FIELD_ENUM("scheduler", OPT | CYAML_FLAG_STRICT, struct raw_top, scheduler, sched_words,
                     CYAML_ARRAY_LEN(sched_words)),
    CYAML_FIELD_MAPPING_PTR("etcd", OPT, struct raw_top, etcd, etcd_fields),
    CYAML_FIELD_MAPPING_PTR("marathon", OPT, struct raw_top, marathon, marathon_fields),
    CYAML_FIELD_MAPPING_PTR("subscriber", OPT, struct raw_top, subscriber, subscriber_fields),
    CYAML_FIELD_MAPPING_PTR("docker", OPT, struct raw_top, docker, docker_fields),
    CYAML_FIELD_IGNORE("services", CYAML_FLAG_DEFAULT), // open-keyed: pass 2 loads it
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t health_fields[] = {
    STR("cmd", struct raw_health, cmd),
    STR("http", struct raw_health, http),
    STR("port", struct raw_health, port),
    UINT("interval", struct raw_health, interval),
    UINT("timeout", struct raw_health, timeout),
    UINT("grace", struct raw_health, grace),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t upgrade_fields[] = {
    UINT("pause", struct raw_upgrade, pause),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t service_fields[] = {
    CYAML_FIELD_STRING_PTR("image", CYAML_FLAG_DEFAULT, struct raw_service, image, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_IGNORE("ports", OPT),
    CYAML_FIELD_IGNORE("host_ports", OPT),
    CYAML_FIELD_IGNORE("ports-hard", OPT), // the seed's name
    UINT("instances", struct raw_service, instances),
    CYAML_FIELD_FLOAT_PTR("cpus", OPT, struct raw_service, cpus),
    UINT("mem", struct raw_service, mem),
    CYAML_FIELD_IGNORE("environment", OPT),
    CYAML_FIELD_IGNORE("labels", OPT),
    CYAML_FIELD_IGNORE("constraints", OPT),
    CYAML_FIELD_MAPPING_PTR("health", OPT, struct raw_service, health, health_fields),
    CYAML_FIELD_SEQUENCE("args", CYAML_FLAG_POINTER | OPT, struct raw_service, args, &arg_entry, 0,
                         CYAML_UNLIMITED),
    CYAML_FIELD_MAPPING_PTR("upgrade", OPT, struct raw_service, upgrade, upgrade_fields),
    CYAML_FIELD_END,
};

static const cyaml_schema_value_t top_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_top, top_fields),
};
static const cyaml_schema_value_t service_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_service, service_fields),
};

/* What libcyaml's types do not say: formats of strings, ranges of numbers, secrets. */
enum chk { CHK_NONE, CHK_NAME, CHK_HOST, CHK_URL, CHK_LISTEN, CHK_PREFIX, CHK_PATH, CHK_IMAGE };

#define R_SECRET 1 // never echo the value
#define R_NOEXP  2 // a reference to a name: not expanded, as names are not

struct rule {
    const cyaml_schema_field_t *fields;
    const char *key;
    enum chk chk;
    double min, max; // integers: min..max; floats: > min and <= max
    unsigned flags;
};

static const struct rule rules[] = {
    {top_fields, "environment", CHK_NAME, 0, 0, 0},
    {etcd_fields, "host", CHK_HOST, 0, 0, 0},
    {etcd_fields, "port", CHK_NONE, 1, 65535, 0},
    {etcd_fields, "endpoints", CHK_URL, 0, 0, 0},
    {etcd_fields, "password", CHK_NONE, 0, 0, R_SECRET},
    {etcd_fields, "prefix", CHK_PREFIX, 0, 0, 0},
    {marathon_fields, "host", CHK_HOST, 0, 0, 0},
    {marathon_fields, "port", CHK_NONE, 1, 65535, 0},
    {marathon_fields, "url", CHK_URL, 0, 0, 0},
    {marathon_fields, "password", CHK_NONE, 0, 0, R_SECRET},
    {marathon_fields, "token", CHK_NONE, 0, 0, R_SECRET},
    {subscriber_fields, "listen", CHK_LISTEN, 0, 0, 0},
    {subscriber_fields, "public_url", CHK_URL, 0, 0, 0},
    {subscriber_fields, "token", CHK_NONE, 0, 0, R_SECRET},
    {subscriber_fields, "resync", CHK_NONE, 1, 86400, 0},
    {service_fields, "image", CHK_IMAGE, 0, 0, 0},
    {service_fields, "instances", CHK_NONE, 0, CFG_MAX_INSTANCES, 0},
    {service_fields, "cpus", CHK_NONE, 0, 1024, 0},
    {service_fields, "mem", CHK_NONE, 32, 1048576, 0}, // MiB; Mesos' own minimum is 32
    {health_fields, "http", CHK_PATH, 0, 0, 0},
    {health_fields, "port", CHK_NAME, 0, 0, R_NOEXP},
    {health_fields, "interval", CHK_NONE, 1, 86400, 0},
    {health_fields, "timeout", CHK_NONE, 1, 86400, 0},
    {health_fields, "grace", CHK_NONE, 0, 86400, 0},
    {upgrade_fields, "pause", CHK_NONE, 0, 86400, 0},
};

static const struct rule *rule_for(const cyaml_schema_field_t *fields, const char *key)
{
    static const struct rule none = {NULL, NULL, CHK_NONE, 0, 4294967295.0, 0};

    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (rules[i].fields == fields && !strcmp(rules[i].key, key))
            return &rules[i];
    return &none;
}

/* ---- one load's state ---- */

struct prob {
    size_t line, col, seq; // 1-based; seq keeps the order of problems at one place
    char *text;
};

struct ld {
    const char *path;
    unsigned char *text; // the file, NUL-terminated
    size_t len;
    yaml_document_t doc;
    bool have_doc;
    struct cfg *cfg;
    yaml_node_t **svc_nodes; // value node of cfg->services[i]
    struct prob *probs;
    size_t nprobs, aprobs;
    bool nomem;
    struct buf cylog;         // libcyaml's error lines of the current load
    size_t cur_idx, cur_byte; // char index -> byte offset cursor (libyaml counts characters)
};

__attribute__((format(printf, 4, 0))) static void prob_vadd(struct ld *ld, size_t line, size_t col,
                                                            const char *fmt, va_list ap)
{
    char msg[1024]; // paths and shown values are cut short, so messages fit
    struct prob *p;
    size_t n;

    if (ld->nprobs == ld->aprobs) {
        n = ld->aprobs ? 2 * ld->aprobs : 16;
        p = realloc(ld->probs, n * sizeof(*p));
        if (!p) {
            ld->nomem = true;
            return;
        }
        ld->probs = p;
        ld->aprobs = n;
    }
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(ld->path) + strlen(msg) + 48;
    p = &ld->probs[ld->nprobs];
    p->text = malloc(n);
    if (!p->text) {
        ld->nomem = true;
        return;
    }
    snprintf(p->text, n, "%s:%zu:%zu: %s", ld->path, line, col, msg);
    p->line = line;
    p->col = col;
    p->seq = ld->nprobs++;
}

__attribute__((format(printf, 3, 4))) static void prob(struct ld *ld, const yaml_node_t *n,
                                                       const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    prob_vadd(ld, n ? n->start_mark.line + 1 : 1, n ? n->start_mark.column + 1 : 1, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 4, 5))) static void prob_at(struct ld *ld, size_t line, size_t col,
                                                          const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    prob_vadd(ld, line, col, fmt, ap);
    va_end(ap);
}

static char *sdup(struct ld *ld, const char *s)
{
    char *d = s ? strdup(s) : NULL;

    if (s && !d)
        ld->nomem = true;
    return d;
}

/* ---- text helpers ---- */

/* Copies s for a message: control characters become '?', long text is cut with "...". */
static void clean(char *dst, size_t n, const char *s)
{
    size_t i = 0, max = n > 4 ? n - 4 : 0;

    for (; *s && i < max; s++)
        dst[i++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    if (*s && n >= 4) {
        while (i > 0 && ((unsigned char)dst[i - 1] & 0xc0) == 0x80)
            i--; // do not cut a UTF-8 character in two
        if (i > 0 && (unsigned char)dst[i - 1] >= 0xc0)
            i--;
        memcpy(dst + i, "...", 3);
        i += 3;
    }
    dst[n ? (i < n ? i : n - 1) : 0] = '\0';
}

static void path_key(char *dst, size_t n, const char *parent, const char *key)
{
    char k[72];

    clean(k, sizeof(k), key);
    if (snprintf(dst, n, "%s%s%s", parent, *parent ? "." : "", k) >= (int)n)
        dst[n - 1] = '\0'; // only ever shown: a cut path still points the way
}

static void path_index(char *dst, size_t n, const char *parent, size_t i)
{
    if (snprintf(dst, n, "%s[%zu]", parent, i) >= (int)n)
        dst[n - 1] = '\0';
}

/* "parent: " or "" for the top level, to start a message. */
static const char *colon(const char *path)
{
    return *path ? ": " : "";
}

/* Marathon's app id segment: ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ (and at most a DNS label long). */
static bool is_name(const char *s)
{
    size_t n = strlen(s);

    if (!n || n > CFG_NAME_MAX || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* Marathon's portMappings name (schema/AppDefinition.json): ^[a-z][a-z0-9-]*$ */
static bool is_port_name(const char *s)
{
    return *s >= 'a' && *s <= 'z' && is_name(s);
}

static bool is_env_name(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

/* Strict decimal: no sign but '-', no leading zeros, nothing after. libcyaml's strtoll(base 0)
 * would read "010" as 8 and "3x" as 3, so those are refused here before it sees them. */
static bool parse_int(const char *s, long long *out)
{
    const char *d = *s == '-' ? s + 1 : s;
    char *end;

    if (*d < '0' || *d > '9' || (d[0] == '0' && d[1]))
        return false;
    errno = 0;
    *out = strtoll(s, &end, 10);
    return !errno && !*end;
}

static bool parse_double(const char *s, double *out)
{
    char *end;

    if (!*s || *s == ' ' || *s == '\t')
        return false;
    errno = 0;
    *out = strtod(s, &end);
    return !errno && !*end && isfinite(*out) && !strpbrk(s, "xX");
}

/* The words libcyaml reads as false are its whole "false" list; anything else it reads as true,
 * so only these are let through. */
static int parse_bool(const char *s)
{
    static const char *const t[] = {"true", "yes", "on"}, *const f[] = {"false", "no", "off"};

    for (size_t i = 0; i < 3; i++) {
        if (!strcasecmp(s, t[i]))
            return 1;
        if (!strcasecmp(s, f[i]))
            return 0;
    }
    return -1;
}

/* "9042", "9042/tcp" or "9042/udp". */
static bool parse_port(const char *s, unsigned *port, char proto[4])
{
    const char *slash = strchr(s, '/');
    char num[8];
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    long long v;

    if (!n || n >= sizeof(num))
        return false;
    memcpy(num, s, n);
    num[n] = '\0';
    if (!parse_int(num, &v) || v < 1 || v > 65535)
        return false;
    if (slash && strcmp(slash + 1, "tcp") && strcmp(slash + 1, "udp"))
        return false;
    *port = (unsigned)v;
    memcpy(proto, slash ? slash + 1 : "tcp", 4);
    return true;
}

/* Optimal string alignment distance (edits, a swap counting once), for "did you mean". */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), d[33][33];

    if (la > 32 || lb > 32)
        return SIZE_MAX;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

/* The closest known key at most 2 edits away (and closer than the key is long), or NULL. */
static const char *suggest(const char *key, const cyaml_schema_field_t *fields)
{
    const char *best = NULL;
    size_t bestd = 3;

    for (; fields->key; fields++) {
        size_t d = edit_distance(key, fields->key);

        if (d < bestd && d < strlen(fields->key)) {
            best = fields->key;
            bestd = d;
        }
    }
    return best;
}

/* ${VAR} expansion (see the top of the file). Returns 0 with *out (caller frees), -MDO_ENOMEM,
 * or -MDO_ECONFIG with *bad pointing at the offending "${..." and *badlen its length (0 when the
 * syntax is wrong rather than the variable unset). */
static int expand(const char *s, char **out, const char **bad, size_t *badlen)
{
    struct buf b = BUF_INIT(0);
    int ret = 0;

    *out = NULL;
    while (!ret && *s) {
        const char *d = strchr(s, '$');
        size_t n = d ? (size_t)(d - s) : strlen(s);

        ret = buf_add(&b, s, n);
        s += n;
        if (ret || !d)
            break;
        if (d[1] == '$') {
            ret = buf_addc(&b, '$');
            s = d + 2;
        } else if (d[1] == '{') {
            const char *name = d + 2, *e = name;
            char var[128];
            const char *val;

            while ((*e >= 'A' && *e <= 'Z') || (*e >= 'a' && *e <= 'z') || *e == '_' ||
                   (e > name && *e >= '0' && *e <= '9'))
                e++;
            *bad = d;
            if (e == name || *e != '}' || (size_t)(e - name) >= sizeof(var)) {
                *badlen = 0;
                ret = -MDO_ECONFIG;
                break;
            }
            memcpy(var, name, (size_t)(e - name));
            var[e - name] = '\0';
            val = getenv(var);
            if (!val) {
                *badlen = (size_t)(e - name);
                ret = -MDO_ECONFIG;
                break;
            }
            ret = buf_adds(&b, val);
            s = e + 1;
        } else {
            ret = buf_addc(&b, '$');
            s = d + 1;
        }
    }
    if (!ret) {
        *out = buf_detach(&b);
        if (!*out)
            ret = -MDO_ENOMEM;
    }
    buf_release(&b);
    return ret;
}

/* Expands s for the node n at path; reports a problem and returns NULL when it cannot. */
static char *expand_at(struct ld *ld, const yaml_node_t *n, const char *path, const char *s)
{
    const char *bad = NULL;
    size_t badlen = 0;
    char *out;
    int ret = expand(s, &out, &bad, &badlen);

    if (ret == -MDO_ENOMEM)
        ld->nomem = true;
    else if (ret && badlen)
        prob(ld, n, "%s%senvironment variable '%.*s' is not set", path, colon(path), (int)badlen,
             bad + 2);
    else if (ret)
        prob(ld, n, "%s%sexpected ${NAME} after '$' (write $$ for a '$')", path, colon(path));
    return out;
}

/* ---- libyaml tree helpers ---- */

static yaml_node_t *node(struct ld *ld, int i)
{
    return yaml_document_get_node(&ld->doc, i);
}

static const char *sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
    const char *v = sval(n);

    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
            !strcmp(v, "NULL"));
}

/* A scalar usable as a C string: not a null, no NUL inside. */
static bool is_text(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && !is_null(n) && strlen(sval(n)) == n->data.scalar.length;
}

/* How a value looks, for "got ...". */
static const char *describe(const yaml_node_t *n, bool secret, char *dst, size_t len)
{
    char v[48];

    if (n->type == YAML_MAPPING_NODE)
        return "a mapping";
    if (n->type == YAML_SEQUENCE_NODE)
        return "a list";
    if (is_null(n))
        return "nothing";
    if (secret)
        return "a value not shown (secret)";
    clean(v, sizeof(v), sval(n));
    snprintf(dst, len, "'%s'", v);
    return dst;
}

static size_t npairs(const yaml_node_t *n)
{
    return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

static size_t nitems(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* The value of key in mapping m (its first occurrence), or NULL. */
static yaml_node_t *map_get(struct ld *ld, const yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(ld, p->key);

        if (k && is_text(k) && !strcmp(sval(k), key))
            return node(ld, p->value);
    }
    return NULL;
}

/* Checks a mapping's size; false (after reporting) when it is too big to walk. */
static bool size_ok(struct ld *ld, const yaml_node_t *n, const char *path)
{
    size_t c = n->type == YAML_MAPPING_NODE ? npairs(n) : nitems(n);

    if (c <= CFG_MAX_ENTRIES)
        return true;
    prob(ld, n, "%s%sexpected at most %d entries", path, colon(path), CFG_MAX_ENTRIES);
    return false;
}

/* The key of pair p of mapping m, or NULL after reporting a key that is not text or repeats. */
static const char *pair_key(struct ld *ld, const yaml_node_t *m, const yaml_node_pair_t *p,
                            const char *path)
{
    yaml_node_t *k = node(ld, p->key);
    char got[64];

    if (!k)
        return NULL;
    if (!is_text(k)) {
        prob(ld, k, "%s%sexpected a name as key, got %s", path, colon(path),
             describe(k, false, got, sizeof(got)));
        return NULL;
    }
    for (const yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
        yaml_node_t *e = node(ld, q->key);

        if (e && is_text(e) && !strcmp(sval(e), sval(k))) {
            char kp[256];

            path_key(kp, sizeof(kp), path, sval(k));
            prob(ld, k, "%s: duplicate key (first at line %zu)", kp, e->start_mark.line + 1);
            return NULL;
        }
    }
    return sval(k);
}

/* ---- pass 2: the checker ---- */

static void expected_text(const cyaml_schema_value_t *v, const struct rule *r, char *dst,
                          size_t len)
{
    static const char *const chk_text[] = {
        [CHK_NONE] = "a string",
        [CHK_NAME] = "a name of lowercase letters, digits and '-' (not first or last)",
        [CHK_HOST] = "a host name or address",
        [CHK_URL] = "an http:// or https:// URL",
        [CHK_LISTEN] = "ADDRESS:PORT",
        [CHK_PREFIX] = "a key prefix starting with '/'",
        [CHK_PATH] = "a path starting with '/'",
        [CHK_IMAGE] = "an image name",
    };
    struct buf b = BUF_INIT(256);

    switch (v->type) {
    case CYAML_INT:
    case CYAML_UINT:
        snprintf(dst, len, "an integer %.0f..%.0f", r->min, r->max);
        return;
    case CYAML_FLOAT:
        snprintf(dst, len, "a number greater than %g and at most %g", r->min, r->max);
        return;
    case CYAML_BOOL:
        snprintf(dst, len, "true or false");
        return;
    case CYAML_ENUM:
        for (uint32_t i = 0; i < v->enumeration.count; i++) {
            const char *sep = i + 1 == v->enumeration.count ? " or " : ", ";

            buf_addf(&b, "%s%s", i ? sep : "", v->enumeration.strings[i].str);
        }
        snprintf(dst, len, "%s", buf_str(&b));
        buf_release(&b);
        return;
    case CYAML_MAPPING:
        snprintf(dst, len, "a mapping");
        return;
    case CYAML_SEQUENCE:
        snprintf(dst, len, "a list of %s", r->chk == CHK_URL ? "URLs" : "strings");
        return;
    default:
        snprintf(dst, len, "%s", chk_text[r->chk]);
        return;
    }
}

static bool chk_ok(enum chk c, const char *s)
{
    const char *colon_at;
    long long port;

    switch (c) {
    case CHK_NAME:
        return is_name(s);
    case CHK_HOST:
        return !strpbrk(s, "/ \t");
    case CHK_URL:
        return (!strncmp(s, "http://", 7) && s[7]) || (!strncmp(s, "https://", 8) && s[8]);
    case CHK_LISTEN:
        colon_at = strrchr(s, ':');
        return colon_at && parse_int(colon_at + 1, &port) && port >= 1 && port <= 65535;
    case CHK_PREFIX:
    case CHK_PATH:
        return s[0] == '/';
    case CHK_IMAGE:
        return !strpbrk(s, " \t\n");
    default:
        return true;
    }
}

/* A string value: text, ${VAR} expanded, long enough, in the rule's format. */
static void check_string(struct ld *ld, const yaml_node_t *v, const char *path,
                         const cyaml_schema_value_t *sv, const struct rule *r)
{
    char exp[200], got[64], *s;
    bool secret = r->flags & R_SECRET;

    expected_text(sv, r, exp, sizeof(exp));
    if (!is_text(v)) {
        prob(ld, v, "%s: expected %s, got %s", path, exp, describe(v, secret, got, sizeof(got)));
        return;
    }
    s = r->flags & R_NOEXP ? sdup(ld, sval(v)) : expand_at(ld, v, path, sval(v));
    if (!s)
        return;
    if (strlen(s) < sv->string.min || !chk_ok(r->chk, s)) {
        char shown[48];

        clean(shown, sizeof(shown), s);
        if (secret)
            prob(ld, v, "%s: expected %s", path, exp);
        else
            prob(ld, v, "%s: expected %s, got '%s'", path, exp, shown);
    }
    free(s);
}

static void walk_fixed(struct ld *ld, const yaml_node_t *m, const char *path,
                       const cyaml_schema_field_t *fields);

/* One value of a fixed-shape mapping, by its libcyaml type. */
static void check_value(struct ld *ld, const yaml_node_t *v, const char *path,
                        const cyaml_schema_value_t *sv, const struct rule *r)
{
    char exp[200], got[64];
    bool scalar = is_text(v);
    long long i;
    double d;

    expected_text(sv, r, exp, sizeof(exp));
    switch (sv->type) {
    case CYAML_INT:
    case CYAML_UINT:
        if (!scalar || !parse_int(sval(v), &i) || i < r->min || i > r->max)
            prob(ld, v, "%s: expected %s, got %s", path, exp, describe(v, false, got, sizeof(got)));
        return;
    case CYAML_FLOAT:
        if (!scalar || !parse_double(sval(v), &d) || d <= r->min || d > r->max)
            prob(ld, v, "%s: expected %s, got %s", path, exp, describe(v, false, got, sizeof(got)));
        return;
    case CYAML_BOOL:
        if (!scalar || parse_bool(sval(v)) < 0)
            prob(ld, v, "%s: expected %s, got %s", path, exp, describe(v, false, got, sizeof(got)));
        return;
    case CYAML_ENUM:
        for (uint32_t k = 0; scalar && k < sv->enumeration.count; k++)
            if (!strcmp(sval(v), sv->enumeration.strings[k].str))
                return;
        prob(ld, v, "%s: expected %s, got %s", path, exp, describe(v, false, got, sizeof(got)));
        return;
    case CYAML_STRING:
        check_string(ld, v, path, sv, r);
        return;
    case CYAML_MAPPING:
        if (v->type != YAML_MAPPING_NODE)
            prob(ld, v, "%s: expected a mapping, got %s", path,
                 describe(v, false, got, sizeof(got)));
        else
            walk_fixed(ld, v, path, sv->mapping.fields);
        return;
    case CYAML_SEQUENCE:
        if (v->type != YAML_SEQUENCE_NODE) {
            prob(ld, v, "%s: expected %s, got %s", path, exp, describe(v, false, got, sizeof(got)));
            return;
        }
        if (nitems(v) < sv->sequence.min) {
            prob(ld, v, "%s: expected at least %u entry", path, sv->sequence.min);
            return;
        }
        if (!size_ok(ld, v, path))
            return;
        for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
             it++) {
            char ip[256];
            yaml_node_t *e = node(ld, *it);

            path_index(ip, sizeof(ip), path, (size_t)(it - v->data.sequence.items.start));
            if (e)
                check_string(ld, e, ip, sv->sequence.entry, r);
        }
        return;
    default: // CYAML_IGNORE: the caller walks these itself
        return;
    }
}

/* True when an unknown key of m was already reported as a likely misspelling of key: saying that
 * key is missing as well would only repeat it. */
static bool misspelt(struct ld *ld, const yaml_node_t *m, const cyaml_schema_field_t *fields,
                     const char *key)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(ld, p->key);
        const char *s;

        if (!k || !is_text(k))
            continue;
        s = suggest(sval(k), fields);
        if (s && !strcmp(s, key) && strcmp(sval(k), key))
            return true;
    }
    return false;
}

/* A fixed-shape mapping: known keys (from the libcyaml schema), no duplicates, values by type,
 * required keys present. The open-keyed fields (CYAML_IGNORE) are left to the caller. */
static void walk_fixed(struct ld *ld, const yaml_node_t *m, const char *path,
                       const cyaml_schema_field_t *fields)
{
    if (!size_ok(ld, m, path))
        return;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *key = pair_key(ld, m, p, path);
        const cyaml_schema_field_t *f = fields;
        yaml_node_t *v = node(ld, p->value);
        char kp[256];

        if (!key || !v)
            continue;
        path_key(kp, sizeof(kp), path, key);
        while (f->key && strcmp(f->key, key))
            f++;
        if (!f->key) {
            const char *s = suggest(key, fields);

            if (s)
                prob(ld, node(ld, p->key), "%s: unknown key (did you mean '%s'?)", kp, s);
            else
                prob(ld, node(ld, p->key), "%s: unknown key", kp);
            continue;
        }
        check_value(ld, v, kp, &f->value, rule_for(fields, key));
    }
    for (const cyaml_schema_field_t *f = fields; f->key; f++)
        if (!(f->value.flags & CYAML_FLAG_OPTIONAL) && !map_get(ld, m, f->key) &&
            !misspelt(ld, m, fields, f->key))
            prob(ld, m, "%s%smissing required key '%s'", path, colon(path), f->key);
}

static struct cfg_port *find_port(struct cfg_service *s, const char *name)
{
    for (unsigned i = 0; i < s->nports; i++)
        if (!strcmp(s->ports[i].name, name))
            return &s->ports[i];
    return NULL;
}

/* ports (name: 9042 or "9042/udp") and the seed's ports-hard (the same, fixed on the host). */
static void walk_ports(struct ld *ld, const yaml_node_t *m, const char *path, const char *svc,
                       struct cfg_service *s, bool hard)
{
    struct cfg_port *ports;
    char got[64];

    if (m->type != YAML_MAPPING_NODE) {
        prob(ld, m, "%s: expected a mapping of port names to ports, got %s", path,
             describe(m, false, got, sizeof(got)));
        return;
    }
    if (!size_ok(ld, m, path))
        return;
    ports = realloc(s->ports, (s->nports + npairs(m) + 1) * sizeof(*ports));
    if (!ports) {
        ld->nomem = true;
        return;
    }
    s->ports = ports;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *key = pair_key(ld, m, p, path);
        yaml_node_t *v = node(ld, p->value);
        struct cfg_port *port;
        char kp[256];

        if (!key || !v)
            continue;
        path_key(kp, sizeof(kp), path, key);
        if (!is_port_name(key)) {
            char shown[72];

            clean(shown, sizeof(shown), key);
            prob(ld, node(ld, p->key),
                 "%s: expected a port name: a lowercase letter, then lowercase letters, digits "
                 "and '-' (not last), got '%s'",
                 kp, shown);
            continue;
        }
        if (find_port(s, key)) {
            prob(ld, node(ld, p->key), "%s: port name already used in %s", kp, svc);
            continue;
        }
        port = &s->ports[s->nports];
        memset(port, 0, sizeof(*port));
        port->name = sdup(ld, key);
        if (!port->name)
            return;
        s->nports++;
        // kept even when the number is wrong, so host_ports and health do not also complain
        if (!is_text(v) || !parse_port(sval(v), &port->port, port->proto))
            prob(ld, v, "%s: expected a port 1..65535, optionally with /tcp or /udp, got %s", kp,
                 describe(v, false, got, sizeof(got)));
        else if (hard)
            port->host_port = port->port;
    }
}

static void walk_host_ports(struct ld *ld, const yaml_node_t *m, const char *path, const char *svc,
                            struct cfg_service *s)
{
    char got[64];

    if (m->type != YAML_MAPPING_NODE) {
        prob(ld, m, "%s: expected a mapping of port names to host ports, got %s", path,
             describe(m, false, got, sizeof(got)));
        return;
    }
    if (!size_ok(ld, m, path))
        return;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *key = pair_key(ld, m, p, path);
        yaml_node_t *v = node(ld, p->value);
        struct cfg_port *port;
        long long hp;
        char kp[256], shown[72];

        if (!key || !v)
            continue;
        path_key(kp, sizeof(kp), path, key);
        port = find_port(s, key);
        if (!port) {
            clean(shown, sizeof(shown), key);
            prob(ld, node(ld, p->key), "%s: no port named '%s' in %s.ports", kp, shown, svc);
            continue;
        }
        if (!is_text(v) || !parse_int(sval(v), &hp) || hp < 1 || hp > 65535) {
            prob(ld, v, "%s: expected a port 1..65535, got %s", kp,
                 describe(v, false, got, sizeof(got)));
            continue;
        }
        if (port->host_port) {
            prob(ld, node(ld, p->key), "%s: already fixed by %s.ports-hard", kp, svc);
            continue;
        }
        port->host_port = (unsigned)hp;
    }
}

/* environment and labels: name -> scalar, kept as written (MIN_NODES: 2 gives "2"). */
static void walk_kv(struct ld *ld, const yaml_node_t *m, const char *path, struct cfg_kv **kvp,
                    unsigned *np, bool env)
{
    struct cfg_kv *kv;
    char got[64];

    if (m->type != YAML_MAPPING_NODE) {
        prob(ld, m, "%s: expected a mapping of names to values, got %s", path,
             describe(m, false, got, sizeof(got)));
        return;
    }
    if (!size_ok(ld, m, path))
        return;
    kv = calloc(npairs(m) + 1, sizeof(*kv));
    if (!kv) {
        ld->nomem = true;
        return;
    }
    *kvp = kv;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *key = pair_key(ld, m, p, path);
        yaml_node_t *v = node(ld, p->value);
        char kp[256], shown[72];
        char *val;

        if (!key || !v)
            continue;
        path_key(kp, sizeof(kp), path, key);
        if (env && !is_env_name(key)) {
            clean(shown, sizeof(shown), key);
            prob(ld, node(ld, p->key),
                 "%s: expected a variable name of letters, digits and '_', got '%s'", kp, shown);
            continue;
        }
        if (v->type != YAML_SCALAR_NODE || strlen(sval(v)) != v->data.scalar.length) {
            prob(ld, v, "%s: expected a string or number, got %s", kp,
                 describe(v, false, got, sizeof(got)));
            continue;
        }
        val = expand_at(ld, v, kp, sval(v));
        if (!val)
            continue;
        kv[*np].key = sdup(ld, key);
        kv[*np].value = val;
        (*np)++;
    }
}

/* constraints: [[field, OP], [field, OP, value], ...] as Marathon has them. */
static void walk_constraints(struct ld *ld, const yaml_node_t *l, const char *path,
                             struct cfg_service *s)
{
    static const char *const ops[] = {"UNIQUE", "CLUSTER", "GROUP_BY", "LIKE",
                                      "UNLIKE", "MAX_PER", "IS"};
    const char *shape = "[field, OPERATOR] or [field, OPERATOR, value]";
    char got[64];

    if (l->type != YAML_SEQUENCE_NODE) {
        prob(ld, l, "%s: expected a list of %s lists, got %s", path, shape,
             describe(l, false, got, sizeof(got)));
        return;
    }
    if (!size_ok(ld, l, path))
        return;
    s->constraints = calloc(nitems(l) + 1, sizeof(*s->constraints));
    if (!s->constraints) {
        ld->nomem = true;
        return;
    }
    for (yaml_node_item_t *it = l->data.sequence.items.start; it < l->data.sequence.items.top;
         it++) {
        yaml_node_t *c = node(ld, *it), *part[3] = {NULL, NULL, NULL};
        char ip[256], pp[256], *text[3] = {NULL, NULL, NULL};
        size_t n = 0, op;
        bool ok = true;

        path_index(ip, sizeof(ip), path, (size_t)(it - l->data.sequence.items.start));
        if (!c)
            continue;
        if (c->type == YAML_SEQUENCE_NODE)
            n = nitems(c);
        if (c->type != YAML_SEQUENCE_NODE || n < 2 || n > 3) {
            if (c->type == YAML_SEQUENCE_NODE)
                snprintf(got, sizeof(got), "a list of %zu", n);
            prob(ld, c, "%s: expected %s, got %s", ip, shape,
                 c->type == YAML_SEQUENCE_NODE ? got : describe(c, false, got, sizeof(got)));
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            part[k] = node(ld, c->data.sequence.items.start[k]);
            path_index(pp, sizeof(pp), ip, k);
            if (!part[k] || !is_text(part[k])) {
                if (part[k])
                    prob(ld, part[k], "%s: expected a string, got %s", pp,
                         describe(part[k], false, got, sizeof(got)));
                ok = false;
            }
        }
        if (!ok)
            continue;
        for (op = 0; op < sizeof(ops) / sizeof(ops[0]); op++)
            if (!strcmp(sval(part[1]), ops[op]))
                break;
        path_index(pp, sizeof(pp), ip, 1);
        if (op == sizeof(ops) / sizeof(ops[0])) {
            prob(ld, part[1],
                 "%s: expected UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER or IS, got %s", pp,
                 describe(part[1], false, got, sizeof(got)));
            continue;
        }
        if (n == 3 && op == 0) { // Marathon refuses a value for UNIQUE
            prob(ld, c, "%s: operator UNIQUE takes no value", ip);
            continue;
        }
        if (n == 2 && op != 0 && op != 2) { // only UNIQUE and GROUP_BY stand alone
            prob(ld, c, "%s: operator %s needs a value", ip, ops[op]);
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            path_index(pp, sizeof(pp), ip, k);
            text[k] = expand_at(ld, part[k], pp, sval(part[k]));
            if (!text[k])
                ok = false;
        }
        if (!ok) {
            for (size_t k = 0; k < 3; k++)
                free(text[k]);
            continue;
        }
        s->constraints[s->nconstraints].field = text[0];
        s->constraints[s->nconstraints].op = text[1];
        s->constraints[s->nconstraints].value = text[2];
        s->nconstraints++;
    }
}

/* Rules spanning several keys of a service's health check. */
static void check_health(struct ld *ld, const yaml_node_t *h, const char *path,
                         struct cfg_service *s)
{
    yaml_node_t *cmd = map_get(ld, h, "cmd"), *http = map_get(ld, h, "http");
    yaml_node_t *port = map_get(ld, h, "port");
    char shown[72];

    if (cmd && http)
        prob(ld, h, "%s.health: expected either 'cmd' or 'http', not both", path);
    else if (!cmd && !http)
        prob(ld, h, "%s.health: expected 'cmd' or 'http'", path);
    if (port && !http) {
        prob(ld, port, "%s.health.port: only used with 'http'", path);
    } else if (port && is_text(port) && is_name(sval(port)) && !find_port(s, sval(port))) {
        clean(shown, sizeof(shown), sval(port));
        prob(ld, port, "%s.health.port: no port named '%s' in %s.ports", path, shown, path);
    } else if (http && !port && !s->nports) {
        prob(ld, http, "%s.health.http: needs a port, and the service has none", path);
    }
}

static void walk_service(struct ld *ld, const yaml_node_t *m, const char *path,
                         struct cfg_service *s)
{
    yaml_node_t *v;
    char kp[256];

    walk_fixed(ld, m, path, service_fields);
    // ports and ports-hard in file order, as cfg_service.ports promises
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(ld, p->key), *pv = node(ld, p->value);
        bool hard;

        if (!k || !pv || !is_text(k))
            continue;
        hard = !strcmp(sval(k), "ports-hard");
        if ((hard || !strcmp(sval(k), "ports")) && map_get(ld, m, sval(k)) == pv) {
            path_key(kp, sizeof(kp), path, sval(k));
            walk_ports(ld, pv, kp, path, s, hard);
        }
    }
    v = map_get(ld, m, "host_ports");
    if (v) {
        path_key(kp, sizeof(kp), path, "host_ports");
        walk_host_ports(ld, v, kp, path, s);
    }
    v = map_get(ld, m, "environment");
    if (v) {
        path_key(kp, sizeof(kp), path, "environment");
        walk_kv(ld, v, kp, &s->env, &s->nenv, true);
    }
    v = map_get(ld, m, "labels");
    if (v) {
        path_key(kp, sizeof(kp), path, "labels");
        walk_kv(ld, v, kp, &s->labels, &s->nlabels, false);
    }
    v = map_get(ld, m, "constraints");
    if (v) {
        path_key(kp, sizeof(kp), path, "constraints");
        walk_constraints(ld, v, kp, s);
    }
    v = map_get(ld, m, "health");
    if (v && v->type == YAML_MAPPING_NODE)
        check_health(ld, v, path, s);
}

static void walk_services(struct ld *ld, yaml_node_t *m)
{
    struct cfg *c = ld->cfg;
    char got[64];

    if (m->type != YAML_MAPPING_NODE) {
        prob(ld, m, "services: expected a mapping of service names to services, got %s",
             describe(m, false, got, sizeof(got)));
        return;
    }
    if (!npairs(m)) {
        prob(ld, m, "services: expected at least one service");
        return;
    }
    if (!size_ok(ld, m, "services"))
        return;
    c->services = calloc(npairs(m), sizeof(*c->services));
    ld->svc_nodes = calloc(npairs(m), sizeof(*ld->svc_nodes));
    if (!c->services || !ld->svc_nodes) {
        ld->nomem = true;
        return;
    }
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *key = pair_key(ld, m, p, "services");
        yaml_node_t *v = node(ld, p->value);
        struct cfg_service *s;
        char kp[256], shown[72];

        if (!key || !v)
            continue;
        path_key(kp, sizeof(kp), "services", key);
        if (!is_name(key)) {
            clean(shown, sizeof(shown), key);
            prob(ld, node(ld, p->key),
                 "%s: expected a service name of lowercase letters, digits and '-' (not first or "
                 "last), got '%s'",
                 kp, shown);
        }
        if (v->type != YAML_MAPPING_NODE) {
            prob(ld, v, "%s: expected a mapping, got %s", kp, describe(v, false, got, sizeof(got)));
            continue;
        }
        s = &c->services[c->nservices];
        s->name = sdup(ld, key);
        if (!s->name)
            return;
        ld->svc_nodes[c->nservices++] = v;
        walk_service(ld, v, kp, s);
    }
}

/* etcd and marathon: the seed's {host, port} or the newer endpoints / url, not both. */
static void check_seed_form(struct ld *ld, yaml_node_t *root, const char *sect, const char *newer)
{
    yaml_node_t *m = map_get(ld, root, sect), *n = map_get(ld, m, newer);

    if (n && (map_get(ld, m, "host") || map_get(ld, m, "port")))
        prob(ld, n, "%s.%s: expected either host/port or %s, not both", sect, newer, newer);
}

static void walk_top(struct ld *ld, yaml_node_t *root)
{
    yaml_node_t *v, *m;
    char got[64];

    if (!root) {
        prob_at(ld, 1, 1, "missing required key 'services'");
        return;
    }
    if (root->type != YAML_MAPPING_NODE) {
        prob(ld, root, "expected a mapping at the top level, got %s",
             describe(root, false, got, sizeof(got)));
        return;
    }
    walk_fixed(ld, root, "", top_fields);
    check_seed_form(ld, root, "etcd", "endpoints");
    check_seed_form(ld, root, "marathon", "url");
    v = map_get(ld, root, "scheduler");
    m = map_get(ld, root, "marathon");
    if (v && is_text(v) && !strcmp(sval(v), "marathon") &&
        (!m || (m->type == YAML_MAPPING_NODE && !map_get(ld, m, "url") && !map_get(ld, m, "host"))))
        prob(ld, v, "scheduler: marathon needs marathon.url or marathon.host");
    v = map_get(ld, root, "services");
    if (v)
        walk_services(ld, v);
}

/* ---- pass 1: events ---- */

static void syntax_problem(struct ld *ld, const yaml_parser_t *p)
{
    size_t line = p->problem_mark.line + 1, col = p->problem_mark.column + 1;

    if (p->error == YAML_MEMORY_ERROR) {
        ld->nomem = true;
        return;
    }
    if (p->error == YAML_READER_ERROR) { // the reader has only a byte offset
        line = 1;
        col = 1;
        for (size_t i = 0; i < p->problem_offset && i < ld->len; i++) {
            if (ld->text[i] == '\n') {
                line++;
                col = 1;
            } else if ((ld->text[i] & 0xc0) != 0x80) {
                col++;
            }
        }
    }
    prob_at(ld, line, col, "YAML syntax error: %s", p->problem ? p->problem : "unknown");
}

static void parser_open(yaml_parser_t *p, const struct ld *ld)
{
    yaml_parser_set_input_string(p, ld->text, ld->len);
    // libyaml counts characters; the byte offsets of pass 3 assume UTF-8, so insist on it
    yaml_parser_set_encoding(p, YAML_UTF8_ENCODING);
}

/* Returns 0 when the text can go on to pass 2. */
static int scan_events(struct ld *ld)
{
    yaml_parser_t p;
    yaml_event_t ev;
    int depth = 0, docs = 0, ret = 0;
    bool done = false;

    if (!yaml_parser_initialize(&p)) {
        ld->nomem = true;
        return -1;
    }
    parser_open(&p, ld);
    while (!done && !ret) {
        if (!yaml_parser_parse(&p, &ev)) {
            syntax_problem(ld, &p);
            ret = -1;
            break;
        }
        switch (ev.type) {
        case YAML_ALIAS_EVENT:
            prob_at(ld, ev.start_mark.line + 1, ev.start_mark.column + 1,
                    "YAML aliases are not supported, write the value out");
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (++depth > CFG_MAX_DEPTH) {
                prob_at(ld, ev.start_mark.line + 1, ev.start_mark.column + 1,
                        "expected at most %d levels of nesting", CFG_MAX_DEPTH);
                ret = -1;
            }
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            depth--;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (++docs > 1) {
                prob_at(ld, ev.start_mark.line + 1, ev.start_mark.column + 1,
                        "expected one YAML document, found a second");
                ret = -1;
            }
            break;
        case YAML_STREAM_END_EVENT:
            done = true;
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    return ret || ld->nprobs ? -1 : 0;
}

static int load_doc(struct ld *ld)
{
    yaml_parser_t p;
    int ret = 0;

    if (!yaml_parser_initialize(&p)) {
        ld->nomem = true;
        return -1;
    }
    parser_open(&p, ld);
    if (!yaml_parser_load(&p, &ld->doc)) {
        syntax_problem(ld, &p); // pass 1 read the same text: not expected
        ret = -1;
    } else {
        ld->have_doc = true;
    }
    yaml_parser_delete(&p);
    return ret;
}

/* ---- pass 3: libcyaml ---- */

__attribute__((format(printf, 3, 0))) static void cy_log(cyaml_log_t level, void *ctx,
                                                         const char *fmt, va_list args)
{
    struct ld *ld = ctx;
    char line[512];

    if (level < CYAML_LOG_ERROR)
        return;
    vsnprintf(line, sizeof(line), fmt, args);
    buf_adds(&ld->cylog, line); // capped; a cut log still has its first line
}

static cyaml_config_t cy_config(struct ld *ld)
{
    cyaml_config_t c = {
        .log_fn = cy_log,
        .log_ctx = ld,
        .mem_fn = cyaml_mem,
        .mem_ctx = NULL,
        .log_level = CYAML_LOG_ERROR,
        .flags = CYAML_CFG_NO_ALIAS,
    };
    return c;
}

/* Byte offset of libyaml's character index i. With the encoding set (parser_open) libyaml reads a
 * BOM as one character like any other, so there is no special case for it. */
static size_t byte_of(struct ld *ld, size_t i)
{
    if (i < ld->cur_idx) {
        ld->cur_idx = 0;
        ld->cur_byte = 0;
    }
    while (ld->cur_idx < i && ld->cur_byte < ld->len) {
        ld->cur_byte++;
        while (ld->cur_byte < ld->len && (ld->text[ld->cur_byte] & 0xc0) == 0x80)
            ld->cur_byte++;
        ld->cur_idx++;
    }
    return ld->cur_byte;
}

/* Loads node n's text (the whole file when n is NULL) with libcyaml. */
static int cy_load(struct ld *ld, const yaml_node_t *n, const cyaml_schema_value_t *schema,
                   void **out)
{
    cyaml_config_t cc = cy_config(ld);
    const unsigned char *in = ld->text;
    size_t len = ld->len;
    unsigned char *copy = NULL;
    cyaml_err_t e;

    if (n) {
        /* Newlines and spaces before the node's first character keep libcyaml's line and column
         * equal to the file's; the text of the other services never reaches it. */
        size_t a = byte_of(ld, n->start_mark.index), b = byte_of(ld, n->end_mark.index);
        size_t pre = n->start_mark.line + n->start_mark.column;

        len = pre + (b - a);
        copy = malloc(len + 1);
        if (!copy) {
            ld->nomem = true;
            return -1;
        }
        memset(copy, '\n', n->start_mark.line);
        memset(copy + n->start_mark.line, ' ', n->start_mark.column);
        memcpy(copy + pre, ld->text + a, b - a);
        copy[len] = '\0';
        in = copy;
    }
    buf_reset(&ld->cylog);
    *out = NULL;
    e = cyaml_load_data(in, len, &cc, schema, (cyaml_data_t **)out, NULL);
    free(copy);
    if (e == CYAML_ERR_OOM) {
        ld->nomem = true;
        return -1;
    }
    if (e != CYAML_OK) {
        const char *log = buf_str(&ld->cylog), *at = strstr(log, "(line: ");
        size_t line = n ? n->start_mark.line + 1 : 1, col = n ? n->start_mark.column + 1 : 1;
        size_t mlen = strcspn(log, "\n");
        unsigned long l, c;

        if (at && sscanf(at, "(line: %lu, column: %lu)", &l, &c) == 2) {
            line = l;
            col = c;
        }
        if (!strncmp(log, "Load: ", 6)) {
            log += 6;
            mlen -= 6;
        }
        prob_at(ld, line, col, "libcyaml: %.*s", (int)mlen, mlen ? log : cyaml_strerror(e));
        return -1;
    }
    return 0;
}

/* s with ${VAR} expanded, or def copied, or NULL. Pass 2 expanded the same text already, so a
 * failure here means the environment changed under us (or memory ran out). */
static char *xstr(struct ld *ld, const char *s, const char *def)
{
    const char *bad;
    size_t badlen;
    char *out;
    int ret;

    if (!s)
        return sdup(ld, def);
    ret = expand(s, &out, &bad, &badlen);
    if (ret == -MDO_ENOMEM)
        ld->nomem = true;
    else if (ret)
        prob_at(ld, 1, 1, "the environment changed while loading");
    return out;
}

static char *make_url(struct ld *ld, const char *host, unsigned port)
{
    struct buf b = BUF_INIT(0);
    char *h = xstr(ld, host, NULL), *url = NULL;
    // an IPv6 address needs brackets in a URL
    bool v6 = h && strchr(h, ':') && h[0] != '[';

    if (h && !buf_addf(&b, v6 ? "http://[%s]:%u" : "http://%s:%u", h, port))
        url = buf_detach(&b);
    if (h && !url)
        ld->nomem = true;
    buf_release(&b);
    free(h);
    return url;
}

static void fill_top(struct ld *ld, const struct raw_top *t)
{
    struct cfg *c = ld->cfg;
    const struct raw_etcd *e = t ? t->etcd : NULL;
    const struct raw_marathon *m = t ? t->marathon : NULL;
    const struct raw_subscriber *s = t ? t->subscriber : NULL;
    const struct raw_docker *d = t ? t->docker : NULL;

    c->environment = xstr(ld, t ? t->environment : NULL, "local");
    c->scheduler = t ? t->scheduler : CFG_SCHED_DOCKER;

    c->etcd.nendpoints = e && e->endpoints_count ? e->endpoints_count : 1;
    c->etcd.endpoints = calloc(c->etcd.nendpoints, sizeof(char *));
    if (!c->etcd.endpoints) {
        c->etcd.nendpoints = 0;
        ld->nomem = true;
    } else if (e && e->endpoints_count) {
        for (unsigned i = 0; i < e->endpoints_count; i++)
            c->etcd.endpoints[i] = xstr(ld, e->endpoints[i], NULL);
    } else {
        c->etcd.endpoints[0] =
            make_url(ld, e && e->host ? e->host : "127.0.0.1", e && e->port ? *e->port : 2379);
    }
    c->etcd.prefix = xstr(ld, e ? e->prefix : NULL, "/mdo");
    if (e) {
        c->etcd.username = xstr(ld, e->username, NULL);
        c->etcd.password = xstr(ld, e->password, NULL);
        c->etcd.ca = xstr(ld, e->ca, NULL);
        c->etcd.cert = xstr(ld, e->cert, NULL);
        c->etcd.key = xstr(ld, e->key, NULL);
    }

    if (m) {
        if (m->url)
            c->marathon.url = xstr(ld, m->url, NULL);
        else if (m->host || m->port)
            c->marathon.url =
                make_url(ld, m->host ? m->host : "127.0.0.1", m->port ? *m->port : 8080);
        c->marathon.username = xstr(ld, m->username, NULL);
        c->marathon.password = xstr(ld, m->password, NULL);
        c->marathon.token = xstr(ld, m->token, NULL);
        c->marathon.ca = xstr(ld, m->ca, NULL);
        c->marathon.insecure = m->insecure;
    }
    c->marathon.api = sdup(ld, api_words[m ? m->api : 0].str);

    c->subscriber.listen = xstr(ld, s ? s->listen : NULL, "127.0.0.1:5000");
    c->subscriber.public_url = xstr(ld, s ? s->public_url : NULL, NULL);
    c->subscriber.token = xstr(ld, s ? s->token : NULL, NULL);
    c->subscriber.mode = sdup(ld, mode_words[s ? s->mode : 0].str);
    c->subscriber.resync = s && s->resync ? *s->resync : 60;

    c->docker.socket = xstr(ld, d ? d->socket : NULL, "/var/run/docker.sock");
    c->docker.host_address = xstr(ld, d ? d->host_address : NULL, "auto");
    c->docker.pull = d ? d->pull : CFG_PULL_MISSING;
}

static void fill_service(struct ld *ld, struct cfg_service *s, const struct raw_service *r)
{
    const struct raw_health *h = r->health;

    s->image = xstr(ld, r->image, NULL);
    s->instances = r->instances ? *r->instances : 1;
    s->cpus = r->cpus ? *r->cpus : 0.3;
    s->mem = r->mem ? *r->mem : 512;
    s->has_health = h != NULL;
    s->health.interval = h && h->interval ? *h->interval : 10;
    s->health.timeout = h && h->timeout ? *h->timeout : 5;
    s->health.grace = h && h->grace ? *h->grace : 60;
    if (h) {
        s->health.cmd = xstr(ld, h->cmd, NULL);
        s->health.http = xstr(ld, h->http, NULL);
        s->health.port = sdup(ld, h->port); // a port name: not expanded
    }
    if (r->args_count) {
        s->args = calloc(r->args_count, sizeof(char *));
        if (!s->args) {
            ld->nomem = true;
        } else {
            for (unsigned i = 0; i < r->args_count; i++)
                s->args[i] = xstr(ld, r->args[i], NULL);
            s->nargs = r->args_count;
        }
    }
    s->upgrade_pause = r->upgrade && r->upgrade->pause ? *r->upgrade->pause : 0;
}

static void load_fixed(struct ld *ld)
{
    cyaml_config_t cc = cy_config(ld);
    void *data;

    if (cy_load(ld, NULL, &top_schema, &data))
        return;
    fill_top(ld, data);
    cyaml_free(&cc, &top_schema, data, 0);
    for (unsigned i = 0; i < ld->cfg->nservices; i++) {
        if (cy_load(ld, ld->svc_nodes[i], &service_schema, &data))
            continue;
        if (data)
            fill_service(ld, &ld->cfg->services[i], data);
        cyaml_free(&cc, &service_schema, data, 0);
    }
}

/* ---- the rest ---- */

static int read_file(const char *path, struct ld *ld, struct mdo_err *err)
{
    struct buf b = BUF_INIT(CFG_MAX_FILE + 1);
    struct stat st;
    char chunk[8192];
    int fd = open(path, O_RDONLY | O_CLOEXEC), ret = 0;

    if (fd < 0)
        return err_set(err, MDO_ECONFIG, "cannot read %s: %s", path, strerror(errno));
    if (!fstat(fd, &st) && S_ISDIR(st.st_mode)) {
        close(fd);
        return err_set(err, MDO_ECONFIG, "cannot read %s: %s", path, strerror(EISDIR));
    }
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof(chunk));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ret = err_set(err, MDO_ECONFIG, "cannot read %s: %s", path, strerror(errno));
            break;
        }
        if (!n)
            break;
        if (buf_add(&b, chunk, (size_t)n)) {
            ret = err_set(err, MDO_ECONFIG, "cannot read %s: larger than %d bytes", path,
                          CFG_MAX_FILE);
            break;
        }
    }
    close(fd);
    if (!ret) {
        ld->len = b.len;
        ld->text = (unsigned char *)buf_detach(&b);
        if (!ld->text)
            ret = err_set(err, MDO_ENOMEM, "out of memory reading %s", path);
    }
    buf_release(&b);
    return ret;
}

static int prob_cmp(const void *a, const void *b)
{
    const struct prob *x = a, *y = b;

    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* All problems, in file order, one per line, as many as err->msg holds. */
static int report(struct ld *ld, struct mdo_err *err)
{
    size_t used = 0, i;

    if (ld->nomem)
        return err_set(err, MDO_ENOMEM, "out of memory loading %s", ld->path);
    qsort(ld->probs, ld->nprobs, sizeof(*ld->probs), prob_cmp);
    err_set(err, MDO_ECONFIG, "%s", "");
    for (i = 0; i < ld->nprobs; i++) {
        size_t n = strlen(ld->probs[i].text) + 1;

        if (used + n + 80 > sizeof(err->msg)) // room for the "more" line below
            break;
        used += (size_t)snprintf(err->msg + used, sizeof(err->msg) - used, "%s%s", i ? "\n" : "",
                                 ld->probs[i].text);
    }
    if (i < ld->nprobs)
        snprintf(err->msg + used, sizeof(err->msg) - used, "\n%s: %zu more problems not shown",
                 ld->path, ld->nprobs - i);
    return -MDO_ECONFIG;
}

int cfg_load(const char *path, struct cfg **out, struct mdo_err *err)
{
    struct ld ld = {.path = path, .cylog = BUF_INIT(8192)};
    int ret;

    *out = NULL;
    ret = read_file(path, &ld, err);
    if (ret)
        return ret;
    ld.cfg = calloc(1, sizeof(*ld.cfg));
    if (ld.cfg)
        ld.cfg->path = strdup(path);
    if (!ld.cfg || !ld.cfg->path) {
        ret = err_set(err, MDO_ENOMEM, "out of memory loading %s", path);
        goto out;
    }
    if (!scan_events(&ld) && !load_doc(&ld)) {
        walk_top(&ld, yaml_document_get_root_node(&ld.doc));
        if (!ld.nprobs && !ld.nomem)
            load_fixed(&ld);
    }
    if (ld.nprobs || ld.nomem) {
        ret = report(&ld, err);
        goto out;
    }
    *out = ld.cfg;
    ld.cfg = NULL;
out:
    if (ld.have_doc)
        yaml_document_delete(&ld.doc);
    for (size_t i = 0; i < ld.nprobs; i++)
        free(ld.probs[i].text);
    free(ld.probs);
    free(ld.svc_nodes);
    free(ld.text);
    buf_release(&ld.cylog);
    cfg_free(ld.cfg);
    return ret;
}

const char *cfg_default_path(const char *explicit)
{
    const char *env;

    if (explicit)
        return explicit;
    env = getenv("MDO_CONFIG");
    if (env && *env)
        return env;
    if (!access("mdo.yaml", F_OK))
        return "mdo.yaml";
    if (!access("config.yaml", F_OK)) // the seed's name
        return "config.yaml";
    return "mdo.yaml";
}

/* Secrets are wiped before their memory goes back to malloc. */
static void free_secret(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
    free(s);
}

static void kv_free(struct cfg_kv *kv, unsigned n)
{
    for (unsigned i = 0; kv && i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

static void service_release(struct cfg_service *s)
{
    free(s->name);
    free(s->image);
    for (unsigned i = 0; s->ports && i < s->nports; i++)
        free(s->ports[i].name);
    free(s->ports);
    kv_free(s->env, s->nenv);
    kv_free(s->labels, s->nlabels);
    for (unsigned i = 0; s->constraints && i < s->nconstraints; i++) {
        free(s->constraints[i].field);
        free(s->constraints[i].op);
        free(s->constraints[i].value);
    }
    free(s->constraints);
    free(s->health.cmd);
    free(s->health.http);
    free(s->health.port);
    for (unsigned i = 0; s->args && i < s->nargs; i++)
        free(s->args[i]);
    free(s->args);
}

void cfg_free(struct cfg *cfg)
{
    if (!cfg)
        return;
    free(cfg->path);
    free(cfg->environment);
    for (unsigned i = 0; cfg->etcd.endpoints && i < cfg->etcd.nendpoints; i++)
        free(cfg->etcd.endpoints[i]);
    free(cfg->etcd.endpoints);
    free(cfg->etcd.prefix);
    free(cfg->etcd.username);
    free_secret(cfg->etcd.password);
    free(cfg->etcd.ca);
    free(cfg->etcd.cert);
    free(cfg->etcd.key);
    free(cfg->marathon.url);
    free(cfg->marathon.api);
    free(cfg->marathon.username);
    free_secret(cfg->marathon.password);
    free_secret(cfg->marathon.token);
    free(cfg->marathon.ca);
    free(cfg->subscriber.listen);
    free(cfg->subscriber.public_url);
    free_secret(cfg->subscriber.token);
    free(cfg->subscriber.mode);
    free(cfg->docker.socket);
    free(cfg->docker.host_address);
    for (unsigned i = 0; cfg->services && i < cfg->nservices; i++)
        service_release(&cfg->services[i]);
    free(cfg->services);
    free(cfg);
}

const struct cfg_service *cfg_service(const struct cfg *cfg, const char *name)
{
    for (unsigned i = 0; cfg && name && i < cfg->nservices; i++)
        if (!strcmp(cfg->services[i].name, name))
            return &cfg->services[i];
    return NULL;
}

const char *cfg_kv_get(const struct cfg_kv *kv, unsigned n, const char *key)
{
    for (unsigned i = 0; kv && key && i < n; i++)
        if (!strcmp(kv[i].key, key))
            return kv[i].value;
    return NULL;
}
