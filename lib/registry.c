/* registry.c - instance records <-> JSON, registry keys, listing and the reconcile diff */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"
#include "log.h"
#include "names.h"
#include "registry.h"
#include "strset.h"

/* Every DESIGN §5 key is built here, from a prefix reg_prefix_norm() made ("" or "/a/b"). */
int reg_prefix_norm(const char *in, char **out)
{
    struct buf b = BUF_INIT(1024);
    int ret = 0;

    *out = NULL;
    if (!in || in[0] != '/')
        return -MDO_EUSAGE;
    for (const char *p = in; *p && !ret; p++)
        if (!(*p == '/' && (p[1] == '/' || p[1] == '\0')))
            ret = buf_addc(&b, *p);
    if (!ret && !(*out = buf_detach(&b)))
        ret = -MDO_ENOMEM;
    buf_release(&b);
    return ret;
}

static int env_part(struct buf *b, const char *prefix, const char *env)
{
    if (!name_ok(env))
        return -MDO_EUSAGE;
    return buf_addf(b, "%s/%s/", prefix, env);
}

int reg_prefix(struct buf *b, const char *prefix, const char *env, const char *service)
{
    int ret = env_part(b, prefix, env);

    if (!ret && service && !name_ok(service))
        return -MDO_EUSAGE;
    if (!ret)
        ret = service ? buf_addf(b, "services/%s/instances/", service) : buf_adds(b, "services/");
    return ret;
}

int reg_key(struct buf *b, const char *prefix, const struct reg_record *r)
{
    int ret = reg_prefix(b, prefix, r->environment, r->service);

    if (!ret && !segment_ok(r->container))
        return -MDO_EUSAGE;
    return ret ? ret : buf_adds(b, r->container);
}

int reg_key_split(const char *rest, size_t *service_len, const char **container)
{
    const char *slash = strchr(rest, '/');

    if (!slash || slash == rest || strncmp(slash, "/instances/", 11) || !slash[11])
        return -1;
    *service_len = (size_t)(slash - rest);
    *container = slash + 11;
    return 0;
}

int reg_spec_key(struct buf *b, const char *prefix, const char *env, const char *service)
{
    int ret = env_part(b, prefix, env);

    if (!ret && !name_ok(service))
        return -MDO_EUSAGE;
    return ret ? ret : buf_addf(b, "specs/%s", service);
}

int reg_callbacks_prefix(struct buf *b, const char *prefix, const char *env, const char *service)
{
    int ret = env_part(b, prefix, env);

    if (!ret && service && !name_ok(service))
        return -MDO_EUSAGE;
    if (!ret)
        ret = service ? buf_addf(b, "callbacks/%s/", service) : buf_adds(b, "callbacks/");
    return ret;
}

int reg_callback_key(struct buf *b, const char *prefix, const char *env, const char *service,
                     const char *id)
{
    int ret = reg_callbacks_prefix(b, prefix, env, service);

    if (!ret && !segment_ok(id))
        return -MDO_EUSAGE;
    return ret ? ret : buf_adds(b, id);
}

int reg_secret_key(struct buf *b, const char *prefix, const char *env, const char *id)
{
    int ret = env_part(b, prefix, env);

    if (!ret && !segment_ok(id))
        return -MDO_EUSAGE;
    return ret ? ret : buf_addf(b, "secrets/callbacks/%s", id);
}

int reg_leader_key(struct buf *b, const char *prefix, const char *env)
{
    int ret = env_part(b, prefix, env);

    return ret ? ret : buf_adds(b, "leader");
}

static int kv_cmp(const void *a, const void *b)
{
    return strcmp(((const struct cfg_kv *)a)->key, ((const struct cfg_kv *)b)->key);
}

/* 1 when added (or nothing to add), 0 on ENOMEM */
static int add_str(cJSON *o, const char *k, const char *v)
{
    return !v || cJSON_AddStringToObject(o, k, v) != NULL;
}

char *reg_record_json(const struct reg_record *r)
{
    cJSON *o = reg_record_cjson(r);
    char *s = o ? json_print(o) : NULL;

    cJSON_Delete(o);
    return s;
}

static char *dup_member(const cJSON *o, const char *k)
{
    const char *s = json_str(o, k);

    return s ? strdup(s) : NULL;
}

int reg_record_parse(const char *json, size_t len, struct reg_record *r, struct mdo_err *err)
{
    cJSON *o = cJSON_ParseWithLength(json, len), *ports, *labels, *it;
    int ret = 0;

    memset(r, 0, sizeof(*r));
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return err_set(err, MDO_EPROTO, "record is not a JSON object");
    }
    r->service = dup_member(o, "service");
    r->container = dup_member(o, "container");
    r->environment = dup_member(o, "environment");
    r->host = dup_member(o, "host");
    r->address = dup_member(o, "address");
    r->state = dup_member(o, "state");
    r->started_at = dup_member(o, "started_at");
    r->app_version = dup_member(o, "app_version");
    r->backend = dup_member(o, "backend");
    if (!r->service || !r->container || !r->host)
        ret = err_set(err, MDO_EPROTO, "record lacks %s",
                      !r->service     ? "service"
                      : !r->container ? "container"
                                      : "host");
    ports = cJSON_GetObjectItemCaseSensitive(o, "ports");
    if (!ret && cJSON_GetArraySize(ports) > 0) {
        r->ports = calloc((size_t)cJSON_GetArraySize(ports), sizeof(*r->ports));
        if (!r->ports)
            ret = err_set(err, MDO_ENOMEM, "out of memory");
        cJSON_ArrayForEach(it, ports)
        {
            struct reg_port *p;
            const char *proto = json_str(it, "protocol");
            if (ret || !it->string || !cJSON_IsObject(it))
                continue;
            p = &r->ports[r->nports++];
            p->name = strdup(it->string);
            p->internal = (int)json_int(it, "internal", 0);
            p->external = (int)json_int(it, "external", 0);
            snprintf(p->proto, sizeof(p->proto), "%s",
                     proto && !strcmp(proto, "udp") ? "udp" : "tcp");
        }
    }
    labels = cJSON_GetObjectItemCaseSensitive(o, "labels");
    if (!ret && cJSON_GetArraySize(labels) > 0) {
        r->labels = calloc((size_t)cJSON_GetArraySize(labels), sizeof(*r->labels));
        if (!r->labels)
            ret = err_set(err, MDO_ENOMEM, "out of memory");
        cJSON_ArrayForEach(it, labels)
        {
            if (ret || !it->string || !cJSON_IsString(it))
                continue;
            r->labels[r->nlabels].key = strdup(it->string);
            r->labels[r->nlabels++].value = strdup(it->valuestring);
        }
    }
    cJSON_Delete(o);
    if (ret)
        reg_record_release(r);
    return ret;
}

void reg_record_release(struct reg_record *r)
{
    free(r->service);
    free(r->container);
    free(r->environment);
    free(r->host);
    free(r->address);
    for (unsigned i = 0; i < r->nports; i++)
        free(r->ports[i].name);
    free(r->ports);
    for (unsigned i = 0; i < r->nlabels; i++) {
        free(r->labels[i].key);
        free(r->labels[i].value);
    }
    free(r->labels);
    free(r->state);
    free(r->started_at);
    free(r->app_version);
    free(r->backend);
    memset(r, 0, sizeof(*r));
}

void reg_records_free(struct reg_record *r, unsigned n)
{
    for (unsigned i = 0; r && i < n; i++)
        reg_record_release(&r[i]);
    free(r);
}

const struct reg_port *reg_record_port(const struct reg_record *r, const char *name)
{
    for (unsigned i = 0; i < r->nports; i++)
        if (!strcmp(r->ports[i].name, name))
            return &r->ports[i];
    return NULL;
}

const char *reg_record_label(const struct reg_record *r, const char *key)
{
    for (unsigned i = 0; i < r->nlabels; i++)
        if (!strcmp(r->labels[i].key, key))
            return r->labels[i].value;
    return NULL;
}

int reg_record_cmp(const void *a, const void *b)
{
    const struct reg_record *x = a, *y = b;
    int c = strcmp(x->service, y->service);

    return c ? c : strcmp(x->container, y->container);
}

/* The stand-in for a value that does not parse: only what its key says. It differs from any
 * real record, so a reconcile rewrites it (the instance runs) or removes it (it does not). */
static int record_from_key(const char *env, const char *rest, struct reg_record *r)
{
    const char *container;
    size_t ls;

    memset(r, 0, sizeof(*r));
    if (reg_key_split(rest, &ls, &container))
        return -1;
    r->service = strndup(rest, ls);
    r->container = strdup(container);
    r->environment = strdup(env);
    if (!r->service || !r->container || !r->environment) {
        reg_record_release(r);
        return -1;
    }
    return 0;
}

/* Whether rest, "<service>/instances/<container>", is r's key. */
static int key_matches(const char *rest, const struct reg_record *r)
{
    const char *container;
    size_t ls;

    return !reg_key_split(rest, &ls, &container) && ls == strlen(r->service) &&
           !strncmp(rest, r->service, ls) && !strcmp(container, r->container);
}

static int list(struct etcd *e, const char *prefix, const char *env, const char *service,
                int keep_bad, struct reg_record **out, unsigned *n, int64_t *rev, unsigned *bad,
                struct mdo_err *err)
{
    struct buf p = BUF_INIT(4096);
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct reg_record *recs = NULL;
    unsigned m = 0, nbad = 0;
    int ret = reg_prefix(&p, prefix, env, service);
    struct mdo_err perr = MDO_ERR_INIT; /* once: 8.7 KiB to zero, per record it was 8 MB a read */

    *out = NULL;
    *n = 0;
    if (!ret)
        ret = etcd_get_prefix(e, p.ptr, &kvs, err);
    if (!ret && kvs.n && !(recs = calloc(kvs.n, sizeof(*recs))))
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    for (size_t i = 0; !ret && i < kvs.n; i++) {
        err_clear(&perr);
        /* only .../services/<svc>/instances/<container>: other keys may share the prefix */
        const char *rest = kvs.kv[i].key + p.len, *container;
        size_t ls;
        if (!service && reg_key_split(rest, &ls, &container))
            continue;
        if (reg_record_parse(kvs.kv[i].value, kvs.kv[i].len, &recs[m], &perr)) {
            log_warn("registry",
                     keep_bad ? "bad record, to be rewritten or removed" : "bad record skipped",
                     "key=%s err=\"%s\"", kvs.kv[i].key, perr.msg);
            nbad++;
            if (!keep_bad || service || record_from_key(env, rest, &recs[m]))
                continue;
        } else if (keep_bad && !service && !key_matches(rest, &recs[m])) {
            /* a record filed under another instance's key: the key is what the diff acts on */
            log_warn("registry", "record under a foreign key, to be rewritten or removed", "key=%s",
                     kvs.kv[i].key);
            reg_record_release(&recs[m]);
            nbad++;
            if (record_from_key(env, rest, &recs[m]))
                continue;
        }
        recs[m++].mod_revision = kvs.kv[i].mod_revision;
    }
    if (!ret) {
        if (m)
            qsort(recs, m, sizeof(*recs), reg_record_cmp);
        *out = recs;
        *n = m;
        if (rev)
            *rev = kvs.revision;
        if (bad)
            *bad = nbad;
    } else {
        reg_records_free(recs, m);
    }
    etcd_kvs_release(&kvs);
    buf_release(&p);
    return ret;
}

int reg_list(struct etcd *e, const char *prefix, const char *env, const char *service,
             struct reg_record **out, unsigned *n, int64_t *rev, unsigned *bad, struct mdo_err *err)
{
    return list(e, prefix, env, service, 0, out, n, rev, bad, err);
}

int reg_list_all(struct etcd *e, const char *prefix, const char *env, struct reg_record **out,
                 unsigned *n, unsigned *bad, struct mdo_err *err)
{
    return list(e, prefix, env, NULL, 1, out, n, NULL, bad, err);
}

int reg_record_equal(const struct reg_record *a, const struct reg_record *b)
{
    char *x = reg_record_json(a), *y = reg_record_json(b);
    int same = x && y && !strcmp(x, y);

    free(x);
    free(y);
    return same;
}

int reg_diff(const struct reg_record *want, unsigned nwant, const struct reg_record *have,
             unsigned nhave, struct reg_change **out, unsigned *n)
{
    struct reg_change *c = calloc((size_t)nwant + nhave + 1, sizeof(*c));
    unsigned i = 0, j = 0, m = 0;

    *out = NULL;
    *n = 0;
    if (!c)
        return -MDO_ENOMEM;
    while (i < nwant || j < nhave) {
        int cmp = i >= nwant ? 1 : j >= nhave ? -1 : reg_record_cmp(&want[i], &have[j]);
        if (cmp < 0) {
            c[m++] = (struct reg_change){REG_PUT, &want[i++], 0};
        } else if (cmp > 0) {
            c[m++] = (struct reg_change){REG_DEL, &have[j], have[j].mod_revision};
            j++;
        } else {
            if (!reg_record_equal(&want[i], &have[j]))
                c[m++] = (struct reg_change){REG_PUT, &want[i], have[j].mod_revision};
            i++, j++;
        }
    }
    *out = c;
    *n = m;
    return 0;
}

/* Builds the etcd ops of changes [from, to); keys and values owned by the bufs/strs arrays. */
static int apply_some(struct etcd *e, const char *prefix, const struct reg_change *c, unsigned n,
                      int *applied, struct mdo_err *err)
{
    struct etcd_op ops[ETCD_TXN_MAX];
    struct buf keys[ETCD_TXN_MAX];
    char *vals[ETCD_TXN_MAX];
    int ret = 0;

    for (unsigned i = 0; i < n; i++) {
        keys[i] = (struct buf)BUF_INIT(0);
        vals[i] = NULL;
    }
    for (unsigned i = 0; !ret && i < n; i++) {
        ret = reg_key(&keys[i], prefix, c[i].rec);
        ops[i].type = c[i].type == REG_PUT ? ETCD_PUT : ETCD_DEL;
        ops[i].key = buf_str(&keys[i]);
        ops[i].mod_revision = c[i].guard;
        ops[i].lease = 0;
        ops[i].value = NULL;
        if (!ret && c[i].type == REG_PUT && !(ops[i].value = vals[i] = reg_record_json(c[i].rec)))
            ret = -MDO_ENOMEM;
    }
    if (ret)
        err_set(err, MDO_ENOMEM, "out of memory");
    else
        ret = etcd_txn(e, ops, n, applied, err);
    for (unsigned i = 0; i < n; i++) {
        buf_release(&keys[i]);
        free(vals[i]);
    }
    return ret;
}

int reg_apply(struct etcd *e, const char *prefix, const struct reg_change *c, unsigned n,
              unsigned *failed, struct mdo_err *err)
{
    int ret = 0;

    *failed = 0;
    for (unsigned at = 0; at < n; at += ETCD_TXN_MAX) {
        unsigned k = n - at < ETCD_TXN_MAX ? n - at : ETCD_TXN_MAX;
        int applied = 0;

        ret = apply_some(e, prefix, c + at, k, &applied, err);
        if (ret)
            return ret; /* etcd is unreachable: the caller retries the whole pass later */
        if (applied || k == 1) {
            if (!applied) {
                log_info("registry", "guarded write lost a race, left for the next pass",
                         "service=%s container=%s", c[at].rec->service, c[at].rec->container);
                (*failed)++;
            }
            continue;
        }
        for (unsigned i = 0; i < k; i++) { /* one stale guard must not hold back the rest */
            ret = apply_some(e, prefix, c + at + i, 1, &applied, err);
            if (ret)
                return ret;
            if (!applied) {
                log_info("registry", "guarded write lost a race, left for the next pass",
                         "service=%s container=%s", c[at + i].rec->service,
                         c[at + i].rec->container);
                (*failed)++;
            }
        }
    }
    return 0;
}

/* "service/container": how a held-back key is named in the sets (and on /health). */
static int hold_name(struct buf *b, const struct reg_record *r)
{
    buf_reset(b);
    return buf_addf(b, "%s/%s", r->service, r->container);
}

unsigned reg_hold_mass_removals(struct reg_change *c, unsigned *n, const struct reg_record *have,
                                unsigned nhave, const struct strset *prev, struct strset *held)
{
    struct buf name = BUF_INIT(0);
    unsigned kept = 0, nheld = 0;

    strset_clear(held);
    for (unsigned i = 0; i < *n; i++) {
        const char *svc = c[i].rec->service;
        unsigned registered = 0, dels = 0, confirmed = 1;
        if (c[i].type != REG_DEL) {
            c[kept++] = c[i];
            continue;
        }
        for (unsigned j = 0; j < nhave; j++)
            registered += !strcmp(have[j].service, svc);
        for (unsigned j = 0; j < *n; j++)
            if (c[j].type == REG_DEL && !strcmp(c[j].rec->service, svc)) {
                dels++;
                confirmed &= !hold_name(&name, c[j].rec) && strset_has(prev, name.ptr);
            }
        /* held even when the set cannot grow (ENOMEM): holding back is the safe side */
        if (dels >= 2 && 2 * dels > registered && !confirmed) {
            if (!hold_name(&name, c[i].rec))
                strset_add(held, name.ptr);
            nheld++;
            continue;
        }
        c[kept++] = c[i];
    }
    *n = kept;
    buf_release(&name);
    return nheld;
}

/* The tree reg_record_json prints (labels sorted, so the same record prints the same bytes). */
cJSON *reg_record_cjson(const struct reg_record *r)
{
    cJSON *o = cJSON_CreateObject(), *ports, *labels;
    struct cfg_kv *sorted = NULL;
    int ok = o != NULL;

    ok &= add_str(o, "service", r->service);
    ok &= add_str(o, "container", r->container);
    ok &= add_str(o, "environment", r->environment);
    ok &= add_str(o, "host", r->host);
    ok &= add_str(o, "address", r->address);
    ports = cJSON_AddObjectToObject(o, "ports");
    ok &= ports != NULL;
    for (unsigned i = 0; ok && i < r->nports; i++) {
        cJSON *p = cJSON_AddObjectToObject(ports, r->ports[i].name);
        ok &= p && cJSON_AddNumberToObject(p, "internal", r->ports[i].internal) &&
              cJSON_AddNumberToObject(p, "external", r->ports[i].external) &&
              cJSON_AddStringToObject(p, "protocol",
                                      r->ports[i].proto[0] ? r->ports[i].proto : "tcp");
    }
    labels = cJSON_AddObjectToObject(o, "labels");
    ok &= labels != NULL;
    if (ok && r->nlabels) { /* sorted: the same labels always encode to the same bytes */
        sorted = malloc(r->nlabels * sizeof(*sorted));
        ok &= sorted != NULL;
        if (sorted) {
            memcpy(sorted, r->labels, r->nlabels * sizeof(*sorted));
            qsort(sorted, r->nlabels, sizeof(*sorted), kv_cmp);
            for (unsigned i = 0; ok && i < r->nlabels; i++)
                ok &= cJSON_AddStringToObject(labels, sorted[i].key, sorted[i].value) != NULL;
        }
        free(sorted);
    }
    ok &= add_str(o, "state", r->state);
    ok &= add_str(o, "started_at", r->started_at);
    ok &= add_str(o, "app_version", r->app_version);
    ok &= add_str(o, "backend", r->backend);
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- membership ---- */

static int str_same(const char *a, const char *b)
{
    return !strcmp(a ? a : "", b ? b : "");
}

int reg_member_equal(const struct reg_record *a, const struct reg_record *b)
{
    if (!str_same(a->container, b->container) || !str_same(a->host, b->host) ||
        a->nports != b->nports || a->nlabels != b->nlabels)
        return 0;
    for (unsigned i = 0; i < a->nports; i++) {
        const struct reg_port *p = &a->ports[i], *q = &b->ports[i];
        if (!str_same(p->name, q->name) || p->internal != q->internal ||
            p->external != q->external || strcmp(p->proto, q->proto))
            return 0;
    }
    for (unsigned i = 0; i < a->nlabels; i++)
        if (!str_same(a->labels[i].key, b->labels[i].key) ||
            !str_same(a->labels[i].value, b->labels[i].value))
            return 0;
    return 1;
}

int reg_members_diff(const struct reg_record *old, unsigned nold, const struct reg_record *cur,
                     unsigned ncur, struct reg_members_diff *d)
{
    unsigned i = 0, j = 0;

    memset(d, 0, sizeof(*d));
    /* added + changed <= ncur, removed <= nold; +1 so that none is a zero-size calloc */
    d->names_added = calloc((size_t)ncur + 1, sizeof(*d->names_added));
    d->names_changed = calloc((size_t)ncur + 1, sizeof(*d->names_changed));
    d->names_removed = calloc((size_t)nold + 1, sizeof(*d->names_removed));
    if (!d->names_added || !d->names_changed || !d->names_removed) {
        reg_members_diff_release(d);
        return -MDO_ENOMEM;
    }
    while (i < nold || j < ncur) {
        int c = i >= nold ? 1 : j >= ncur ? -1 : strcmp(old[i].container, cur[j].container);
        if (c < 0) { /* only in old */
            d->names_removed[d->removed++] = old[i++].container;
        } else if (c > 0) { /* only in cur */
            d->names_added[d->added++] = cur[j++].container;
            d->count++;
        } else {
            if (!reg_member_equal(&old[i], &cur[j]))
                d->names_changed[d->changed++] = cur[j].container;
            d->count++;
            i++, j++;
        }
    }
    return d->added || d->removed || d->changed;
}

void reg_members_diff_release(struct reg_members_diff *d)
{
    free(d->names_added);
    free(d->names_removed);
    free(d->names_changed);
    memset(d, 0, sizeof(*d));
}

static int stored_cmp(const void *a, const void *b)
{
    const struct reg_stored *x = a, *y = b;

    return strcmp(x->rec.container, y->rec.container);
}

void reg_stored_free(struct reg_stored *v, unsigned n)
{
    for (unsigned i = 0; v && i < n; i++) {
        reg_record_release(&v[i].rec);
        free(v[i].json);
    }
    free(v);
}

int reg_list_stored(struct etcd *e, const char *prefix, const char *env, const char *service,
                    struct reg_stored **out, unsigned *n,
                    void (*skipped)(void *ctx, const char *key, const char *why), void *ctx,
                    struct mdo_err *err)
{
    struct buf p = BUF_INIT(4096); /* cap: keys are short */
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct reg_stored *v = NULL;
    struct mdo_err perr = MDO_ERR_INIT; /* once, not per record (8.7 KiB each) */
    unsigned m = 0;
    int ret = name_check("environment", env, err);

    *out = NULL;
    *n = 0;
    if (!ret)
        ret = name_check("service", service, err);
    if (!ret && reg_prefix(&p, prefix, env, service))
        ret = err_set(err, MDO_ENOMEM, "registry key too long");
    if (!ret)
        ret = etcd_get_prefix(e, p.ptr, &kvs, err);
    if (!ret)
        err_clear(err);
    if (!ret && kvs.n && !(v = calloc(kvs.n, sizeof(*v))))
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    for (size_t i = 0; !ret && i < kvs.n; i++) {
        err_clear(&perr);
        if (strchr(kvs.kv[i].key + p.len, '/'))
            continue; /* not <prefix>/<container>: someone else's key below ours */
        if (reg_record_parse(kvs.kv[i].value, kvs.kv[i].len, &v[m].rec, &perr)) {
            if (skipped)
                skipped(ctx, kvs.kv[i].key, perr.msg);
            else
                log_warn("registry", "bad record skipped", "key=%s err=\"%s\"", kvs.kv[i].key,
                         perr.msg);
            continue;
        }
        v[m].json = strdup(kvs.kv[i].value);
        if (!v[m].json) {
            reg_record_release(&v[m].rec);
            ret = err_set(err, MDO_ENOMEM, "out of memory");
            break;
        }
        v[m++].rec.mod_revision = kvs.kv[i].mod_revision;
    }
    if (!ret) {
        if (m) /* qsort's base must not be NULL, even for no element */
            qsort(v, m, sizeof(*v), stored_cmp);
        *out = v;
        *n = m;
    } else {
        reg_stored_free(v, m);
    }
    etcd_kvs_release(&kvs);
    buf_release(&p);
    return ret;
}

int reg_callback_path_key(struct buf *b, const char *prefix, const char *env)
{
    int ret = env_part(b, prefix, env);

    return ret ? ret : buf_adds(b, "secrets/marathon_callback");
}
