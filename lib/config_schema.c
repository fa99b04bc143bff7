/* config_schema.c - the config's shape: libcyaml schema tables over struct cfg (keys, types, enum
 * words, required keys, where each value goes) and the rules beside them (ranges, formats,
 * secrets, defaults), so each key is described once. config_check.c walks the file by them. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "buf.h"
#include "cbpolicy.h"
#include "config_internal.h"
#include "names.h"
#include "url.h"

#define OPT CYAML_FLAG_OPTIONAL
/* Strings are never empty (min 1); args may be "" on purpose. */
#define STR(k, s, m)  CYAML_FIELD_STRING_PTR(k, OPT, s, m, 1, CYAML_UNLIMITED)
#define UINT(k, s, m) CYAML_FIELD_UINT(k, OPT, s, m)
/* The seed's {host, port}: no member of its own in struct cfg (R_SEED: config.c makes the URL of
 * it), so no data_offset either; the type is what the checker needs. */
#define SEED_HOST                                                                                  \
    {                                                                                              \
        .key = "host",                                                                             \
        .value = {CYAML_VALUE_STRING(OPT | CYAML_FLAG_POINTER, char, 1, CYAML_UNLIMITED)},         \
    }
#define SEED_PORT                                                                                  \
    {                                                                                              \
        .key = "port", .value = {CYAML_VALUE_UINT(OPT, unsigned)},                                 \
    }

static const cyaml_schema_value_t str_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 1, CYAML_UNLIMITED),
};
static const cyaml_schema_value_t arg_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_strval_t sched_words[] = {
    {"docker", CFG_SCHED_DOCKER},
    {"marathon", CFG_SCHED_MARATHON},
    {"swarm", CFG_SCHED_SWARM}, // a word of DESIGN §3, refused at load until the backend exists
};
static const cyaml_strval_t pull_words[] = {
    {"missing", CFG_PULL_MISSING},
    {"always", CFG_PULL_ALWAYS},
    {"never", CFG_PULL_NEVER},
};
/* struct cfg keeps these as words, so they are strings with a list of allowed words. */
static const char *const api_words[] = {"v2", "legacy", NULL};
static const char *const mode_words[] = {"events", "callback", NULL};

static const cyaml_schema_field_t guest_fields[] = {
    STR("username", struct cfg_etcd_guest, username),
    STR("password", struct cfg_etcd_guest, password),
    STR("cert", struct cfg_etcd_guest, cert),
    STR("key", struct cfg_etcd_guest, key),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t etcd_fields[] = {
    SEED_HOST,
    SEED_PORT,
    CYAML_FIELD_SEQUENCE_COUNT("endpoints", CYAML_FLAG_POINTER | OPT, struct cfg_etcd, endpoints,
                               nendpoints, &str_entry, 1, CYAML_UNLIMITED),
    STR("username", struct cfg_etcd, username),
    STR("password", struct cfg_etcd, password),
    STR("ca", struct cfg_etcd, ca),
    STR("cert", struct cfg_etcd, cert),
    STR("key", struct cfg_etcd, key),
    STR("prefix", struct cfg_etcd, prefix),
    CYAML_FIELD_MAPPING("guest", OPT, struct cfg_etcd, guest, guest_fields),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t marathon_fields[] = {
    SEED_HOST,
    SEED_PORT,
    STR("url", struct cfg_marathon, url),
    STR("username", struct cfg_marathon, username),
    STR("password", struct cfg_marathon, password),
    STR("token", struct cfg_marathon, token),
    STR("ca", struct cfg_marathon, ca),
    CYAML_FIELD_BOOL("insecure", OPT, struct cfg_marathon, insecure),
    STR("api", struct cfg_marathon, api),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t subscriber_fields[] = {
    STR("listen", struct cfg_subscriber, listen),
    STR("public_url", struct cfg_subscriber, public_url),
    STR("token", struct cfg_subscriber, token),
    UINT("resync", struct cfg_subscriber, resync),
    STR("mode", struct cfg_subscriber, mode),
    STR("guest_token", struct cfg_subscriber, guest_token),
    CYAML_FIELD_SEQUENCE_COUNT("callback_allow", CYAML_FLAG_POINTER | OPT, struct cfg_subscriber,
                               callback_allow, ncallback_allow, &str_entry, 0, CYAML_UNLIMITED),
    UINT("callback_max_per_service", struct cfg_subscriber, callback_max_per_service),
    UINT("callback_max_per_owner", struct cfg_subscriber, callback_max_per_owner),
    CYAML_FIELD_BOOL("insecure", OPT, struct cfg_subscriber, insecure),
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t docker_fields[] = {
    STR("socket", struct cfg_docker, socket),
    STR("host_address", struct cfg_docker, host_address),
    CYAML_FIELD_ENUM("pull", OPT | CYAML_FLAG_STRICT, struct cfg_docker, pull, pull_words,
                     CYAML_ARRAY_LEN(pull_words)),
    CYAML_FIELD_END,
};

const cyaml_schema_field_t cfg_top_fields[] = {
    STR("environment", struct cfg, environment),
    CYAML_FIELD_ENUM("scheduler", OPT | CYAML_FLAG_STRICT, struct cfg, scheduler, sched_words,
                     CYAML_ARRAY_LEN(sched_words)),
    CYAML_FIELD_MAPPING("etcd", OPT, struct cfg, etcd, etcd_fields),
    CYAML_FIELD_MAPPING("marathon", OPT, struct cfg, marathon, marathon_fields),
    CYAML_FIELD_MAPPING("subscriber", OPT, struct cfg, subscriber, subscriber_fields),
    CYAML_FIELD_MAPPING("docker", OPT, struct cfg, docker, docker_fields),
    CYAML_FIELD_IGNORE("services", CYAML_FLAG_DEFAULT), // open-keyed: config_services.c
    CYAML_FIELD_END,
};

static const cyaml_schema_field_t health_fields[] = {
    STR("cmd", struct cfg_health, cmd),
    STR("http", struct cfg_health, http),
    STR("port", struct cfg_health, port),
    UINT("interval", struct cfg_health, interval),
    UINT("timeout", struct cfg_health, timeout),
    UINT("grace", struct cfg_health, grace),
    CYAML_FIELD_END,
};

/* upgrade: {pause} lands in cfg_service.upgrade_pause: a mapping of one member at offset 0. */
struct upgrade {
    unsigned pause;
};
static const cyaml_schema_field_t upgrade_fields[] = {
    UINT("pause", struct upgrade, pause),
    CYAML_FIELD_END,
};

const cyaml_schema_field_t cfg_service_fields[] = {
    CYAML_FIELD_STRING_PTR("image", CYAML_FLAG_DEFAULT, struct cfg_service, image, 1,
                           CYAML_UNLIMITED),
    CYAML_FIELD_IGNORE("ports", OPT),
    CYAML_FIELD_IGNORE("host_ports", OPT),
    CYAML_FIELD_IGNORE("ports-hard", OPT), // the seed's name
    UINT("instances", struct cfg_service, instances),
    CYAML_FIELD_FLOAT("cpus", OPT, struct cfg_service, cpus),
    UINT("mem", struct cfg_service, mem),
    CYAML_FIELD_IGNORE("environment", OPT),
    CYAML_FIELD_IGNORE("labels", OPT),
    CYAML_FIELD_IGNORE("constraints", OPT),
    CYAML_FIELD_MAPPING("health", OPT, struct cfg_service, health, health_fields),
    CYAML_FIELD_SEQUENCE_COUNT("args", CYAML_FLAG_POINTER | OPT, struct cfg_service, args, nargs,
                               &arg_entry, 0, CYAML_UNLIMITED),
    CYAML_FIELD_MAPPING("upgrade", OPT, struct cfg_service, upgrade_pause, upgrade_fields),
    CYAML_FIELD_IGNORE("volumes", OPT), // open-keyed: config_services.c
    CYAML_FIELD_END,
};

static const struct rule rules[] = {
    {.fields = cfg_top_fields, .key = "environment", .chk = CHK_NAME, .def = "local"},
    {.fields = etcd_fields, .key = "host", .chk = CHK_HOST, .flags = R_SEED},
    {.fields = etcd_fields, .key = "port", .min = 1, .max = 65535, .flags = R_SEED},
    {.fields = etcd_fields, .key = "endpoints", .chk = CHK_URL},
    {.fields = etcd_fields, .key = "password", .flags = R_SECRET},
    {.fields = etcd_fields, .key = "prefix", .chk = CHK_PREFIX, .def = "/mdo"},
    {.fields = guest_fields, .key = "password", .flags = R_SECRET},
    {.fields = marathon_fields, .key = "host", .chk = CHK_HOST, .flags = R_SEED},
    {.fields = marathon_fields, .key = "port", .min = 1, .max = 65535, .flags = R_SEED},
    {.fields = marathon_fields, .key = "url", .chk = CHK_URL},
    {.fields = marathon_fields, .key = "password", .flags = R_SECRET},
    {.fields = marathon_fields, .key = "token", .flags = R_SECRET},
    {.fields = marathon_fields,
     .key = "api",
     .chk = CHK_MARATHON_API,
     .flags = R_NOEXP,
     .def = "v2",
     .words = api_words},
    {.fields = subscriber_fields, .key = "listen", .chk = CHK_LISTEN, .def = "127.0.0.1:5000"},
    {.fields = subscriber_fields, .key = "public_url", .chk = CHK_URL},
    {.fields = subscriber_fields, .key = "token", .flags = R_SECRET},
    {.fields = subscriber_fields, .key = "guest_token", .flags = R_SECRET},
    {.fields = subscriber_fields, .key = "resync", .min = 1, .max = 86400, .def = "60"},
    {.fields = subscriber_fields,
     .key = "mode",
     .chk = CHK_WORDS,
     .flags = R_NOEXP,
     .def = "events",
     .words = mode_words},
    {.fields = subscriber_fields, .key = "callback_allow", .chk = CHK_CIDR},
    {.fields = subscriber_fields,
     .key = "callback_max_per_service",
     .min = 1,
     .max = 100000,
     .def = "16"},
    {.fields = subscriber_fields,
     .key = "callback_max_per_owner",
     .min = 1,
     .max = 100000,
     .def = "64"},
    {.fields = docker_fields, .key = "socket", .def = "/var/run/docker.sock"},
    {.fields = docker_fields, .key = "host_address", .def = "auto"},
    {.fields = cfg_service_fields, .key = "image", .chk = CHK_IMAGE},
    {.fields = cfg_service_fields,
     .key = "instances",
     .min = 0,
     .max = CFG_MAX_INSTANCES,
     .def = "1"},
    {.fields = cfg_service_fields, .key = "cpus", .min = 0, .max = 1024, .def = "0.3"},
    {.fields = cfg_service_fields,
     .key = "mem",
     .min = 32,
     .max = 1048576,
     .def = "512"}, // MiB; Mesos' minimum: 32
    {.fields = health_fields, .key = "http", .chk = CHK_PATH},
    {.fields = health_fields, .key = "port", .chk = CHK_NAME, .flags = R_NOEXP},
    {.fields = health_fields, .key = "interval", .min = 1, .max = 86400, .def = "10"},
    {.fields = health_fields, .key = "timeout", .min = 1, .max = 86400, .def = "5"},
    {.fields = health_fields, .key = "grace", .min = 0, .max = 86400, .def = "60"},
    {.fields = upgrade_fields, .key = "pause", .min = 0, .max = 86400},
};

const struct rule *cfg_rule(const cyaml_schema_field_t *fields, const char *key)
{
    static const struct rule none = {NULL, NULL, CHK_NONE, 0, 4294967295.0, 0, NULL, NULL};

    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
        if (rules[i].fields == fields && !strcmp(rules[i].key, key))
            return &rules[i];
    return &none;
}

/* "a, b or c" */
static void words_text(struct buf *b, const char *const *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        buf_addf(b, "%s%s", i ? (i + 1 == n ? " or " : ", ") : "", w[i]);
}

void cfg_expected(const cyaml_schema_value_t *v, const struct rule *r, char *dst, size_t len)
{
    static const char *const chk_text[] = {
        [CHK_NONE] = "a string",
        [CHK_NAME] = "a name of lowercase letters, digits and '-' (not first or last)",
        [CHK_HOST] = "a host name or address",
        [CHK_URL] = "an http:// or https:// URL",
        [CHK_LISTEN] = "ADDRESS:PORT",
        [CHK_PREFIX] = "a key prefix starting with '/' (not '/' alone)",
        [CHK_PATH] = "a path starting with '/'",
        [CHK_IMAGE] = "an image name",
        [CHK_WORDS] = "",
        [CHK_MARATHON_API] = "v2, legacy, or the Marathon version (e.g. 1.4 or 1.1.2)",
        [CHK_CIDR] = "a CIDR (10.0.0.0/8, 127.0.0.1, fd00::/8)",
    };
    struct buf b = BUF_INIT(256);
    const char *w[8];
    size_t n = 0;

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
        for (; n < v->enumeration.count && n < 8; n++)
            w[n] = v->enumeration.strings[n].str;
        words_text(&b, w, n);
        break;
    case CYAML_MAPPING:
        snprintf(dst, len, "a mapping");
        return;
    case CYAML_SEQUENCE:
        snprintf(dst, len, "a list of %s",
                 r->chk == CHK_URL    ? "URLs"
                 : r->chk == CHK_CIDR ? "CIDRs"
                                      : "strings");
        return;
    default:
        if (r->chk != CHK_WORDS) {
            snprintf(dst, len, "%s", chk_text[r->chk]);
            return;
        }
        for (; r->words[n]; n++)
            ;
        words_text(&b, r->words, n);
        break;
    }
    snprintf(dst, len, "%s", buf_str(&b));
    buf_release(&b);
}

/* Strict decimal: no sign but '-', no leading zeros, nothing after ("010" and "3x" refused,
 * which libcyaml's strtoll with base 0 would read as 8 and 3). */
bool cfg_parse_int(const char *s, long long *out)
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

/* YAML 1.1's words for true and false, as libcyaml reads them; anything else is refused. */
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
bool cfg_parse_port(const char *s, unsigned *port, char proto[4])
{
    const char *slash = strchr(s, '/');
    char num[8];
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    long long v;

    if (!n || n >= sizeof(num))
        return false;
    memcpy(num, s, n);
    num[n] = '\0';
    if (!cfg_parse_int(num, &v) || v < 1 || v > 65535)
        return false;
    if (slash && strcmp(slash + 1, "tcp") && strcmp(slash + 1, "udp"))
        return false;
    *port = (unsigned)v;
    memcpy(proto, slash ? slash + 1 : "tcp", 4);
    return true;
}

/* Marathon's portMappings name (schema/AppDefinition.json): ^[a-z][a-z0-9-]*$ */
bool cfg_is_port_name(const char *s)
{
    return *s >= 'a' && *s <= 'z' && name_ok(s);
}

bool cfg_is_env_name(const char *s)
{
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

bool cfg_env_reserved(const char *s)
{
    return !strncmp(s, "MDO_", 4) || !strcmp(s, "SERVICE_NAME") || !strcmp(s, "ETCD_HOST_ADDRESS");
}

/* A host the seed form can make a URL of (curl's URL API accepts it as a host). */
static bool host_ok(const char *s)
{
    char *u;

    if (strpbrk(s, "/ \t"))
        return false;
    u = url_make("http", s, 1);
    free(u);
    return u != NULL;
}

bool cfg_chk_ok(const struct rule *r, const char *s)
{
    const char *colon_at;
    long long port;

    switch (r->chk) {
    case CHK_NAME:
        return name_ok(s);
    case CHK_HOST:
        return host_ok(s);
    case CHK_URL:
        return !url_check("url", s, NULL);
    case CHK_LISTEN:
        colon_at = strrchr(s, ':');
        return colon_at && cfg_parse_int(colon_at + 1, &port) && port >= 1 && port <= 65535;
    case CHK_PREFIX: /* "/" alone would make keys of "" + "/<env>/...": not the root, refused */
        return s[0] == '/' && s[strspn(s, "/")];
    case CHK_PATH:
        return s[0] == '/';
    case CHK_IMAGE:
        return !strpbrk(s, " \t\n");
    case CHK_WORDS:
        for (const char *const *w = r->words; *w; w++)
            if (!strcmp(s, *w))
                return true;
        return false;
    case CHK_MARATHON_API: /* a word, or a version: digits '.' digits [ '.' digits ] */
        for (const char *const *w = r->words; *w; w++)
            if (!strcmp(s, *w))
                return true;
        for (int part = 0; part < 3; part++) {
            size_t n = strspn(s, "0123456789");
            if (!n || n > 4)
                return false;
            s += n;
            if (!*s)
                return part >= 1;
            if (*s++ != '.')
                return false;
        }
        return false;
    case CHK_CIDR: {
        struct cbpolicy_net n;
        return !cbpolicy_cidr_parse(s, &n);
    }
    default:
        return true;
    }
}

/* An integer of data_size bytes, whatever the host's byte order. */
static void put_int(void *at, uint32_t size, long long v)
{
    int8_t i8 = (int8_t)v;
    int16_t i16 = (int16_t)v;
    int32_t i32 = (int32_t)v;
    int64_t i64 = v;

    if (size == 1)
        memcpy(at, &i8, 1);
    else if (size == 2)
        memcpy(at, &i16, 2);
    else if (size == 4)
        memcpy(at, &i32, 4);
    else
        memcpy(at, &i64, 8);
}

bool cfg_put_scalar(void *at, const cyaml_schema_value_t *v, const struct rule *r, const char *s)
{
    long long i;
    double d;
    int b;

    switch (v->type) {
    case CYAML_INT:
    case CYAML_UINT:
        if (!cfg_parse_int(s, &i) || i < r->min || i > r->max)
            return false;
        put_int(at, v->data_size, i);
        return true;
    case CYAML_FLOAT:
        if (!parse_double(s, &d) || d <= r->min || d > r->max)
            return false;
        memcpy(at, &d, sizeof(d)); // struct cfg's floats are doubles
        return true;
    case CYAML_BOOL:
        b = parse_bool(s);
        if (b < 0)
            return false;
        *(bool *)at = b;
        return true;
    case CYAML_ENUM:
        for (uint32_t k = 0; k < v->enumeration.count; k++) {
            if (!strcmp(s, v->enumeration.strings[k].str)) {
                put_int(at, v->data_size, v->enumeration.strings[k].val);
                return true;
            }
        }
        return false;
    default:
        return false;
    }
}

bool cfg_defaults(void *base, const cyaml_schema_field_t *fields)
{
    for (const cyaml_schema_field_t *f = fields; f->key; f++) {
        const struct rule *r = cfg_rule(fields, f->key);
        char *at = (char *)base + f->data_offset;

        if (f->value.type == CYAML_MAPPING) {
            if (!cfg_defaults(at, f->value.mapping.fields))
                return false;
        } else if (r->def && f->value.type == CYAML_STRING) {
            *(char **)at = strdup(r->def);
            if (!*(char **)at)
                return false;
        } else if (r->def && !cfg_put_scalar(at, &f->value, r, r->def)) {
            return false; // a default that breaks its own rule: caught by test_config
        }
    }
    return true;
}
