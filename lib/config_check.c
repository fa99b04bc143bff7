/* config_check.c - the config checker: walks the libyaml node tree by the schema tables of
 * config_schema.c, reports every problem at its node's line and column, and fills struct cfg
 * from the values it has checked (each value is read once, here). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config_internal.h"
#include "expand.h"
#include "suggest.h"

/* ---- libyaml nodes ---- */

yaml_node_t *ck_node(struct ld *ld, int i)
{
    return yaml_document_get_node(&ld->doc, i);
}

const char *ck_sval(const yaml_node_t *n)
{
    return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n)
{
    const char *v = ck_sval(n);

    return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
            !strcmp(v, "NULL"));
}

/* A scalar usable as a C string: not a null, no NUL inside. */
bool ck_is_text(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE && !is_null(n) &&
           strlen(ck_sval(n)) == n->data.scalar.length;
}

size_t ck_npairs(const yaml_node_t *n)
{
    return (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

size_t ck_nitems(const yaml_node_t *n)
{
    return (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* The value of key in mapping m (its first occurrence), or NULL. */
yaml_node_t *ck_map_get(struct ld *ld, const yaml_node_t *m, const char *key)
{
    if (!m || m->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ck_node(ld, p->key);

        if (k && ck_is_text(k) && !strcmp(ck_sval(k), key))
            return ck_node(ld, p->value);
    }
    return NULL;
}

/* ---- message text ---- */

void ck_clean(char *dst, size_t n, const char *s)
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

void ck_path_key(char *dst, size_t n, const char *parent, const char *key)
{
    char k[72];

    ck_clean(k, sizeof(k), key);
    if (snprintf(dst, n, "%s%s%s", parent, *parent ? "." : "", k) >= (int)n)
        dst[n - 1] = '\0'; // only ever shown: a cut path still points the way
}

void ck_path_index(char *dst, size_t n, const char *parent, size_t i)
{
    if (snprintf(dst, n, "%s[%zu]", parent, i) >= (int)n)
        dst[n - 1] = '\0';
}

/* "parent: " or "" for the top level, to start a message. */
static const char *colon(const char *path)
{
    return *path ? ": " : "";
}

/* How a value looks, for "got ...". */
const char *ck_describe(const yaml_node_t *n, bool secret, char *dst, size_t len)
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
    ck_clean(v, sizeof(v), ck_sval(n));
    snprintf(dst, len, "'%s'", v);
    return dst;
}

char *ck_expand(struct ld *ld, const yaml_node_t *n, const char *path, const char *s)
{
    struct expand_bad bad = {NULL, 0};
    char *out;
    int ret = expand_vars(s, &out, &bad, &ld->cfg->secrets, &ld->cfg->nsecrets);

    if (ret == -MDO_ENOMEM)
        ld->nomem = true;
    else if (ret && bad.namelen)
        ck_prob(ld, n, "%s%senvironment variable '%.*s' is not set", path, colon(path),
                (int)bad.namelen, bad.at + 2);
    else if (ret)
        ck_prob(ld, n, "%s%sexpected ${NAME} after '$' (write $$ for a '$')", path, colon(path));
    return out;
}

/* ---- mappings ---- */

/* Checks a mapping's size; false (after reporting) when it is too big to walk. */
bool ck_size_ok(struct ld *ld, const yaml_node_t *n, const char *path)
{
    size_t c = n->type == YAML_MAPPING_NODE ? ck_npairs(n) : ck_nitems(n);

    if (c <= CFG_MAX_ENTRIES)
        return true;
    ck_prob(ld, n, "%s%sexpected at most %d entries", path, colon(path), CFG_MAX_ENTRIES);
    return false;
}

/* The key of pair p of mapping m, or NULL after reporting a key that is not text or repeats. */
const char *ck_pair_key(struct ld *ld, const yaml_node_t *m, const yaml_node_pair_t *p,
                        const char *path)
{
    yaml_node_t *k = ck_node(ld, p->key);
    char got[64];

    if (!k)
        return NULL;
    if (!ck_is_text(k)) {
        ck_prob(ld, k, "%s%sexpected a name as key, got %s", path, colon(path),
                ck_describe(k, false, got, sizeof(got)));
        return NULL;
    }
    for (const yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
        yaml_node_t *e = ck_node(ld, q->key);

        if (e && ck_is_text(e) && !strcmp(ck_sval(e), ck_sval(k))) {
            char kp[256];

            ck_path_key(kp, sizeof(kp), path, ck_sval(k));
            ck_prob(ld, k, "%s: duplicate key (first at line %zu)", kp, e->start_mark.line + 1);
            return NULL;
        }
    }
    return ck_sval(k);
}

/* ---- the fixed-shape walker ---- */

/* A string value: text, ${VAR} expanded, long enough, in the rule's format. Returns it (the
 * caller's) or NULL after reporting. */
static char *check_string(struct ld *ld, const yaml_node_t *v, const char *path,
                          const cyaml_schema_value_t *sv, const struct rule *r)
{
    char exp[200], got[64], *s;
    bool secret = r->flags & R_SECRET;

    cfg_expected(sv, r, exp, sizeof(exp));
    if (!ck_is_text(v)) {
        ck_prob(ld, v, "%s: expected %s, got %s", path, exp,
                ck_describe(v, secret, got, sizeof(got)));
        return NULL;
    }
    s = r->flags & R_NOEXP ? ck_sdup(ld, ck_sval(v)) : ck_expand(ld, v, path, ck_sval(v));
    if (s && (strlen(s) < sv->string.min || !cfg_chk_ok(r, s))) {
        char shown[48];

        /* as written: what ${VAR} put in is a secret (redact.h), and not yet listed */
        ck_clean(shown, sizeof(shown), ck_sval(v));
        if (secret)
            ck_prob(ld, v, "%s: expected %s", path, exp);
        else
            ck_prob(ld, v, "%s: expected %s, got '%s'", path, exp, shown);
        free(s);
        s = NULL;
    }
    return s;
}

/* A list of strings (endpoints, args) into the char ** at `at` and its count. */
static void check_list(struct ld *ld, const yaml_node_t *v, const char *path,
                       const cyaml_schema_field_t *f, const struct rule *r, void *base)
{
    const cyaml_schema_value_t *sv = &f->value;
    char ***list = (char ***)((char *)base + f->data_offset);
    unsigned *count = (unsigned *)((char *)base + f->count_offset);
    char exp[200], got[64];

    cfg_expected(sv, r, exp, sizeof(exp));
    if (v->type != YAML_SEQUENCE_NODE) {
        ck_prob(ld, v, "%s: expected %s, got %s", path, exp,
                ck_describe(v, false, got, sizeof(got)));
        return;
    }
    if (ck_nitems(v) < sv->sequence.min) {
        ck_prob(ld, v, "%s: expected at least %u entry", path, sv->sequence.min);
        return;
    }
    if (!ck_size_ok(ld, v, path) || !ck_nitems(v))
        return;
    *list = calloc(ck_nitems(v), sizeof(char *));
    if (!*list) {
        ld->nomem = true;
        return;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top;
         it++) {
        char ip[256], *s;
        yaml_node_t *e = ck_node(ld, *it);

        ck_path_index(ip, sizeof(ip), path, (size_t)(it - v->data.sequence.items.start));
        s = e ? check_string(ld, e, ip, sv->sequence.entry, r) : NULL;
        if (s)
            (*list)[(*count)++] = s;
    }
}

/* One value of a fixed-shape mapping, by its libcyaml type, stored at base + data_offset. */
static void check_value(struct ld *ld, const yaml_node_t *v, const char *path,
                        const cyaml_schema_field_t *f, const struct rule *r, void *base)
{
    const cyaml_schema_value_t *sv = &f->value;
    char *at = (char *)base + f->data_offset, exp[200], got[64], *s;
    union {
        long long i;
        double d;
        bool b;
    } scratch; // R_SEED values are checked, not kept

    switch (sv->type) {
    case CYAML_INT:
    case CYAML_UINT:
    case CYAML_FLOAT:
    case CYAML_BOOL:
    case CYAML_ENUM:
        if (!ck_is_text(v) ||
            !cfg_put_scalar(r->flags & R_SEED ? (void *)&scratch : at, sv, r, ck_sval(v))) {
            cfg_expected(sv, r, exp, sizeof(exp));
            ck_prob(ld, v, "%s: expected %s, got %s", path, exp,
                    ck_describe(v, false, got, sizeof(got)));
        }
        return;
    case CYAML_STRING:
        s = check_string(ld, v, path, sv, r);
        if (s && r->flags & R_SEED) {
            free(s);
        } else if (s) {
            free(*(char **)at); // the default
            *(char **)at = s;
        }
        return;
    case CYAML_MAPPING:
        if (v->type != YAML_MAPPING_NODE)
            ck_prob(ld, v, "%s: expected a mapping, got %s", path,
                    ck_describe(v, false, got, sizeof(got)));
        else
            ck_walk_fixed(ld, v, path, sv->mapping.fields, at);
        return;
    case CYAML_SEQUENCE:
        check_list(ld, v, path, f, r, base);
        return;
    default: // CYAML_IGNORE: the caller walks these itself
        return;
    }
}

static const char *suggest_key(const char *key, const cyaml_schema_field_t *fields)
{
    struct suggest s = SUGGEST_INIT(key);

    for (; fields->key; fields++)
        suggest_try(&s, fields->key);
    return s.best;
}

/* True when an unknown key of m was already reported as a likely misspelling of key: saying that
 * key is missing as well would only repeat it. */
static bool misspelt(struct ld *ld, const yaml_node_t *m, const cyaml_schema_field_t *fields,
                     const char *key)
{
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ck_node(ld, p->key);
        const char *s;

        if (!k || !ck_is_text(k))
            continue;
        s = suggest_key(ck_sval(k), fields);
        if (s && !strcmp(s, key) && strcmp(ck_sval(k), key))
            return true;
    }
    return false;
}

void ck_walk_fixed(struct ld *ld, const yaml_node_t *m, const char *path,
                   const cyaml_schema_field_t *fields, void *base)
{
    if (!ck_size_ok(ld, m, path))
        return;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *key = ck_pair_key(ld, m, p, path);
        const cyaml_schema_field_t *f = fields;
        yaml_node_t *v = ck_node(ld, p->value);
        char kp[256];

        if (!key || !v)
            continue;
        ck_path_key(kp, sizeof(kp), path, key);
        while (f->key && strcmp(f->key, key))
            f++;
        if (!f->key) {
            const char *s = suggest_key(key, fields);

            if (s)
                ck_prob(ld, ck_node(ld, p->key), "%s: unknown key (did you mean '%s'?)", kp, s);
            else
                ck_prob(ld, ck_node(ld, p->key), "%s: unknown key", kp);
            continue;
        }
        check_value(ld, v, kp, f, cfg_rule(fields, key), base);
    }
    for (const cyaml_schema_field_t *f = fields; f->key; f++)
        if (!(f->value.flags & CYAML_FLAG_OPTIONAL) && !ck_map_get(ld, m, f->key) &&
            !misspelt(ld, m, fields, f->key))
            ck_prob(ld, m, "%s%smissing required key '%s'", path, colon(path), f->key);
}

/* etcd and marathon: the seed's {host, port} or the newer endpoints / url, not both. */
static void check_seed_form(struct ld *ld, yaml_node_t *root, const char *sect, const char *newer)
{
    yaml_node_t *m = ck_map_get(ld, root, sect), *n = ck_map_get(ld, m, newer);

    if (n && (ck_map_get(ld, m, "host") || ck_map_get(ld, m, "port")))
        ck_prob(ld, n, "%s.%s: expected either host/port or %s, not both", sect, newer, newer);
}

/* marathon.api as a Marathon version (X.Y[.Z]): what that Marathon cannot do for mdo, by its
 * source at the release tags (fidelity audit F1, F9): /v2/deployments from 0.7, app labels
 * from 0.8, /v2/events from 0.9, http callbacks up to 1.4. mdo copes without the rest (no task
 * state before 1.1.2, no port names before 0.16, no tasksHealthy before 0.9). */
static void check_marathon_floors(struct ld *ld, yaml_node_t *root)
{
    yaml_node_t *m = ck_map_get(ld, root, "marathon"), *a, *sub, *mode = NULL, *svcs;
    unsigned maj, min, v;
    int callback;

    a = m && m->type == YAML_MAPPING_NODE ? ck_map_get(ld, m, "api") : NULL;
    if (!a || !ck_is_text(a) || sscanf(ck_sval(a), "%u.%u", &maj, &min) != 2)
        return;
    v = maj * 1000 + min;
    sub = ck_map_get(ld, root, "subscriber");
    if (sub && sub->type == YAML_MAPPING_NODE)
        mode = ck_map_get(ld, sub, "mode");
    callback = mode && ck_is_text(mode) && !strcmp(ck_sval(mode), "callback");
    if (v < 7)
        ck_prob(ld, a,
                "marathon.api: Marathon %s has no deployments (/v2/deployments, from 0.7): mdo "
                "needs 0.7 or later",
                ck_sval(a));
    if (callback && v >= 1005)
        ck_prob(ld, mode,
                "subscriber.mode: callback: Marathon %s has no http callbacks (removed in 1.5): "
                "use subscriber.mode: events",
                ck_sval(a));
    if (!callback && v < 9)
        ck_prob(ld, mode ? mode : a,
                "subscriber.mode: events needs /v2/events, which Marathon %s lacks (from 0.9): "
                "use subscriber.mode: callback",
                ck_sval(a));
    svcs = ck_map_get(ld, root, "services");
    if (v < 8 && svcs && svcs->type == YAML_MAPPING_NODE) {
        for (yaml_node_pair_t *p = svcs->data.mapping.pairs.start; p < svcs->data.mapping.pairs.top;
             p++) {
            yaml_node_t *svc = yaml_document_get_node(&ld->doc, p->value), *l;
            l = svc && svc->type == YAML_MAPPING_NODE ? ck_map_get(ld, svc, "labels") : NULL;
            if (l)
                ck_prob(ld, l,
                        "labels: Marathon %s keeps no app labels (from 0.8), so the records "
                        "would have none: remove them or use Marathon 0.8+",
                        ck_sval(a));
        }
    }
}

/* subscriber.guest_token grants less than subscriber.token: it needs one to be less than, and
 * one equal to it would grant everything. etcd.guest's certificate comes with its key. Values
 * as expanded (the walker filled them); the messages never quote a secret. */
static void check_guest_creds(struct ld *ld, yaml_node_t *root)
{
    yaml_node_t *sub = ck_map_get(ld, root, "subscriber"), *e = ck_map_get(ld, root, "etcd"), *g;
    const struct cfg *c = ld->cfg;

    g = sub && sub->type == YAML_MAPPING_NODE ? ck_map_get(ld, sub, "guest_token") : NULL;
    if (g && c->subscriber.guest_token && !c->subscriber.token)
        ck_prob(ld, g,
                "subscriber.guest_token: needs subscriber.token (without one every client may "
                "do everything, and the guest token would limit nothing)");
    else if (g && c->subscriber.guest_token &&
             !strcmp(c->subscriber.guest_token, c->subscriber.token))
        ck_prob(ld, g,
                "subscriber.guest_token: must differ from subscriber.token (containers hold it)");
    g = e && e->type == YAML_MAPPING_NODE ? ck_map_get(ld, e, "guest") : NULL;
    if (g && g->type == YAML_MAPPING_NODE && !c->etcd.guest.cert != !c->etcd.guest.key)
        ck_prob(ld, g, "etcd.guest: expected both cert and key, or neither");
}

void ck_walk_top(struct ld *ld, yaml_node_t *root)
{
    yaml_node_t *v, *m;
    char got[64];

    if (!root) {
        ck_prob_at(ld, 1, 1, "missing required key 'services'");
        return;
    }
    if (root->type != YAML_MAPPING_NODE) {
        ck_prob(ld, root, "expected a mapping at the top level, got %s",
                ck_describe(root, false, got, sizeof(got)));
        return;
    }
    ck_walk_fixed(ld, root, "", cfg_top_fields, ld->cfg);
    check_seed_form(ld, root, "etcd", "endpoints");
    check_seed_form(ld, root, "marathon", "url");
    v = ck_map_get(ld, root, "scheduler");
    m = ck_map_get(ld, root, "marathon");
    if (v && ck_is_text(v) && !strcmp(ck_sval(v), "swarm"))
        ck_prob(ld, v, "scheduler: swarm is not built yet: use docker or marathon");
    if (v && ck_is_text(v) && !strcmp(ck_sval(v), "marathon") &&
        (!m ||
         (m->type == YAML_MAPPING_NODE && !ck_map_get(ld, m, "url") && !ck_map_get(ld, m, "host"))))
        ck_prob(ld, v, "scheduler: marathon needs marathon.url or marathon.host");
    check_marathon_floors(ld, root);
    check_guest_creds(ld, root);
    v = ck_map_get(ld, root, "services");
    if (v)
        ck_walk_services(ld, v);
}
