/* config.c - loads the config file of DESIGN §3 into struct cfg, and says everything wrong with it
 * as "FILE:LINE:COL: KEY: what was expected", one problem per line.
 *
 * Why libyaml walks and libcyaml's tables define:
 *
 * libcyaml maps fixed-shape YAML onto C structs from a static schema, but
 *  (a) it cannot load a mapping whose keys are not known up front (its issue #66): services, ports,
 *      host_ports, ports-hard, environment and labels are such maps;
 *  (b) it refuses a list of variable-length lists (CYAML_ERR_SEQUENCE_IN_SEQUENCE): constraints;
 *  (c) it stops at the first problem, and gives its line/column only in a log backtrace, in its own
 *      words, while the user should get every problem, each naming the key;
 *  (d) its scalars are lenient: strtoll with base 0 reads "3x" as 3 and "010" as 8, and any bool
 *      that is not one of its false words is true.
 * Its schema tables are still the best description of the fixed-shape parts: keys, types, enum
 * words, required keys and where each value goes in struct cfg (data_offset). So they stay the
 * one source of truth (config_schema.c), and libyaml, which libcyaml is built on and which gives
 * every node a line and column, does the reading. A load is two passes over the text:
 *  1. libyaml events (here): syntax errors at libyaml's mark, nesting depth (hostile input), a
 *     single document, and aliases, which are refused: the walker would visit a shared node once
 *     per reference (a "billion laughs" file is small and takes forever), a problem in it would be
 *     reported at the anchor for every user, and neither library implements merge keys.
 *  2. libyaml document (config_check.c, config_services.c): the checker walks the node tree by the
 *     schema tables and the rules beside them (ranges, formats, secrets, defaults), reports
 *     unknown keys (with a did-you-mean, suggest.c), duplicate keys, wrong types and out-of-range
 *     values at each node's mark, keeps going, and fills struct cfg from each value it has
 *     checked: by the field's data_offset and type for the fixed-shape parts, by hand for the open
 *     maps and constraints.
 * Then the seed form's host/port become URLs (lib/url.h) and etcd.prefix is normalised once
 * (reg_prefix_norm), so every user of cfg->etcd.prefix builds the same keys. Messages carry
 * libyaml marks, made 1-based. ${VAR} in string values is expanded by expand.c; every value it
 * puts in is kept in cfg->secrets.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "buf.h"
#include "config_internal.h"
#include "redact.h"
#include "expand.h"
#include "registry.h"
#include "url.h"

#define CFG_MAX_FILE  (1 << 20) // a config file; anything bigger is a mistake
#define CFG_MAX_DEPTH 64        // libyaml's loader has no depth limit of its own

/* ---- the problem list ---- */

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

void ck_prob(struct ld *ld, const yaml_node_t *n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    prob_vadd(ld, n ? n->start_mark.line + 1 : 1, n ? n->start_mark.column + 1 : 1, fmt, ap);
    va_end(ap);
}

void ck_prob_at(struct ld *ld, size_t line, size_t col, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    prob_vadd(ld, line, col, fmt, ap);
    va_end(ap);
}

char *ck_sdup(struct ld *ld, const char *s)
{
    char *d = s ? strdup(s) : NULL;

    if (s && !d)
        ld->nomem = true;
    return d;
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
    ck_prob_at(ld, line, col, "YAML syntax error: %s", p->problem ? p->problem : "unknown");
}

static void parser_open(yaml_parser_t *p, const struct ld *ld)
{
    yaml_parser_set_input_string(p, ld->text, ld->len);
    // a config is UTF-8 text (syntax_problem counts columns so); no guessing from a BOM
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
            ck_prob_at(ld, ev.start_mark.line + 1, ev.start_mark.column + 1,
                       "YAML aliases are not supported, write the value out");
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (++depth > CFG_MAX_DEPTH) {
                ck_prob_at(ld, ev.start_mark.line + 1, ev.start_mark.column + 1,
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
                ck_prob_at(ld, ev.start_mark.line + 1, ev.start_mark.column + 1,
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

/* ---- after the checker ---- */

/* "http://host:port" of a seed form section (host and port checked by the walker), or NULL
 * when the section has neither and there is no default host. */
static char *seed_url(struct ld *ld, const char *sect, const char *defhost, unsigned defport)
{
    yaml_node_t *root = yaml_document_get_root_node(&ld->doc);
    yaml_node_t *m = ck_map_get(ld, root, sect);
    yaml_node_t *h = ck_map_get(ld, m, "host"), *p = ck_map_get(ld, m, "port");
    char *host = h ? ck_expand(ld, h, "", ck_sval(h)) : ck_sdup(ld, defhost), *url = NULL;
    long long port = defport;

    if (!host)
        return NULL;
    if (p)
        cfg_parse_int(ck_sval(p), &port);
    url = url_make("http", host, (unsigned)port);
    if (!url)
        ld->nomem = true; // the walker made sure it is a host url_make takes
    free(host);
    return url;
}

/* What the walker cannot fill from one node: URLs of the seed form, the normalised prefix. */
static void finish(struct ld *ld)
{
    yaml_node_t *root = yaml_document_get_root_node(&ld->doc);
    yaml_node_t *m = ck_map_get(ld, root, "marathon");
    struct cfg *c = ld->cfg;
    char *prefix;

    if (!c->etcd.nendpoints) {
        free(c->etcd.endpoints);
        c->etcd.endpoints = calloc(1, sizeof(char *));
        if (!c->etcd.endpoints || !(c->etcd.endpoints[0] = seed_url(ld, "etcd", "127.0.0.1", 2379)))
            ld->nomem = true;
        else
            c->etcd.nendpoints = 1;
    }
    if (!c->marathon.url && (ck_map_get(ld, m, "host") || ck_map_get(ld, m, "port")))
        c->marathon.url = seed_url(ld, "marathon", "127.0.0.1", 8080);
    if (reg_prefix_norm(c->etcd.prefix, &prefix)) { // the walker checked the leading '/'
        ld->nomem = true;
        return;
    }
    free(c->etcd.prefix);
    c->etcd.prefix = prefix;
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

int cfg_load(const char *path, struct cfg **out, struct mdo_err *err)
{
    struct ld ld = {.path = path};
    int ret;

    *out = NULL;
    ret = read_file(path, &ld, err);
    if (ret)
        return ret;
    ld.cfg = calloc(1, sizeof(*ld.cfg));
    if (ld.cfg)
        ld.cfg->path = strdup(path);
    if (!ld.cfg || !ld.cfg->path || !cfg_defaults(ld.cfg, cfg_top_fields)) {
        ret = err_set(err, MDO_ENOMEM, "out of memory loading %s", path);
        goto out;
    }
    if (!scan_events(&ld) && !load_doc(&ld)) {
        ck_walk_top(&ld, yaml_document_get_root_node(&ld.doc));
        if (!ld.nprobs && !ld.nomem)
            finish(&ld);
    }
    if (ld.nprobs || ld.nomem) {
        ret = report(&ld, err);
        goto out;
    }
    if (redact_cfg(ld.cfg)) { /* from here on no output shows them (redact.h) */
        ret = err_set(err, MDO_ENOMEM, "out of memory loading %s", path);
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
    free(ld.text);
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
    for (unsigned i = 0; i < s->nvolumes; i++) {
        free(s->volumes[i].host);
        free(s->volumes[i].path);
    }
    free(s->volumes);
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
    free(cfg->etcd.guest.username);
    free_secret(cfg->etcd.guest.password);
    free(cfg->etcd.guest.cert);
    free(cfg->etcd.guest.key);
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
    free_secret(cfg->subscriber.guest_token);
    for (unsigned i = 0; i < cfg->subscriber.ncallback_allow; i++)
        free(cfg->subscriber.callback_allow[i]);
    free(cfg->subscriber.callback_allow);
    free(cfg->docker.socket);
    free(cfg->docker.host_address);
    for (unsigned i = 0; cfg->services && i < cfg->nservices; i++)
        service_release(&cfg->services[i]);
    free(cfg->services);
    expand_vals_free(cfg->secrets, cfg->nsecrets);
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

const struct cfg_port *cfg_health_port(const struct cfg_service *svc)
{
    if (!svc || !svc->nports)
        return NULL;
    if (!svc->health.port)
        return &svc->ports[0];
    for (unsigned i = 0; i < svc->nports; i++)
        if (!strcmp(svc->ports[i].name, svc->health.port))
            return &svc->ports[i];
    return NULL;
}

const struct cfg_port *cfg_service_fixed_ports(const struct cfg_service *svc)
{
    for (unsigned i = 0; svc && i < svc->nports; i++)
        if (svc->ports[i].host_port)
            return &svc->ports[i];
    return NULL;
}
