/* etcd_kv.c - etcd v3's key/value, txn and lease calls (DESIGN §5), over etcd_call() */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "etcd.h"
#include "etcd_internal.h"
#include "json.h"

#define RANGE_PAGE 500

static int add_b64(cJSON *o, const char *name, const char *p, size_t n)
{
    char *s = etcd_b64(p, n);

    if (!s)
        return -MDO_ENOMEM;
    cJSON_AddStringToObject(o, name, s);
    free(s);
    return 0;
}

/* int64 as a JSON string: lease ids pass 2^53, where a double would round them. */
static void add_i64(cJSON *o, const char *name, int64_t v)
{
    char s[24];

    snprintf(s, sizeof(s), "%lld", (long long)v);
    cJSON_AddStringToObject(o, name, s);
}

char *etcd_prefix_end(const char *prefix)
{
    size_t n = strlen(prefix);
    char *end = malloc(n + 1);

    if (!end)
        return NULL;
    memcpy(end, prefix, n + 1);
    while (n) {
        if ((unsigned char)end[n - 1] < 0xff) {
            end[n - 1]++;
            end[n] = '\0';
            return end;
        }
        n--;
    }
    end[0] = '\0'; /* all 0xff: the range goes to the end of the keyspace, "\0" */
    return end;
}

/* Appends the answer's kvs to out: only keys in what was asked (the key itself when exact, else
 * those starting with want), since callers cut their prefix off a key without looking again. */
static int parse_kvs(const cJSON *ans, const char *want, int exact, struct etcd_kvs *out,
                     struct mdo_err *err)
{
    size_t wlen = strlen(want);
    const cJSON *kvs = cJSON_GetObjectItemCaseSensitive(ans, "kvs"), *kv;
    size_t n = (size_t)cJSON_GetArraySize(kvs);
    struct etcd_kv *p;

    if (!n)
        return 0;
    p = realloc(out->kv, (out->n + n) * sizeof(*p));
    if (!p)
        return err_set(err, MDO_ENOMEM, "out of memory");
    out->kv = p;
    cJSON_ArrayForEach(kv, kvs)
    {
        struct etcd_kv *x = &out->kv[out->n];
        const char *k = json_str(kv, "key"), *v = json_str(kv, "value");
        size_t klen;

        memset(x, 0, sizeof(*x));
        x->key = k ? etcd_unb64(k, &klen) : NULL;
        x->value = etcd_unb64(v ? v : "", &x->len);
        if (!x->key || !x->value) {
            free(x->key);
            free(x->value);
            return err_set(err, MDO_EPROTO, "etcd sent a key or value that is not base64");
        }
        if (exact ? strcmp(x->key, want) : strncmp(x->key, want, wlen)) {
            free(x->key); /* not asked for (a broken gateway): dropped */
            free(x->value);
            continue;
        }
        x->create_revision = json_int(kv, "create_revision", 0);
        x->mod_revision = json_int(kv, "mod_revision", 0);
        x->version = json_int(kv, "version", 0);
        x->lease = json_int(kv, "lease", 0);
        out->n++;
    }
    return 0;
}

/* Reads [key, end) in pages of RANGE_PAGE at the revision of the first page, so a listing is
 * one consistent snapshot however long it is. end NULL = the single key. */
static int range(struct etcd *e, const char *key, const char *end, struct etcd_kvs *out,
                 struct mdo_err *err)
{
    struct buf from = BUF_INIT(0); /* may end in a NUL byte: (ptr, len) */
    int64_t rev = 0;
    int ret = buf_adds(&from, key), more = 1;
    size_t n0;

    while (!ret && more) {
        cJSON *req = cJSON_CreateObject(), *ans = NULL;
        char *body;

        add_b64(req, "key", from.ptr, from.len);
        if (end) {
            add_b64(req, "range_end", end, strlen(end) ? strlen(end) : 1);
            cJSON_AddNumberToObject(req, "limit", RANGE_PAGE);
        }
        if (rev)
            add_i64(req, "revision", rev);
        body = json_print(req);
        cJSON_Delete(req);
        if (!body) {
            ret = err_set(err, MDO_ENOMEM, "out of memory");
            break;
        }
        ret = etcd_call(e, "/v3/kv/range", body, &ans, err);
        free(body);
        if (ret)
            break;
        if (!rev)
            rev = json_int(cJSON_GetObjectItemCaseSensitive(ans, "header"), "revision", 0);
        n0 = out->n;
        ret = parse_kvs(ans, key, !end, out, err);
        more = end && json_bool(ans, "more", 0);
        cJSON_Delete(ans);
        /* a next page must start past this one: a peer saying "more" without moving on would
         * keep this loop (and out) growing forever */
        if (!ret && more && (out->n == n0 || strcmp(out->kv[out->n - 1].key, from.ptr) <= 0))
            ret = err_set(err, MDO_EPROTO,
                          "etcd's range answer says more but its page does not "
                          "advance past the last key");
        if (!ret && more) { /* the next page starts just after the last key: key + "\0" */
            buf_reset(&from);
            ret = buf_adds(&from, out->kv[out->n - 1].key);
            if (!ret)
                ret = buf_addc(&from, '\0');
        }
    }
    buf_release(&from);
    out->revision = rev;
    return ret;
}

int etcd_get_prefix(struct etcd *e, const char *prefix, struct etcd_kvs *out, struct mdo_err *err)
{
    char *end = etcd_prefix_end(prefix);
    int ret;

    if (!end)
        return err_tag(err_set(err, MDO_ENOMEM, "out of memory"), err, MDO_SRC_ETCD);
    ret = range(e, prefix, end, out, err);
    free(end);
    return err_tag(ret, err, MDO_SRC_ETCD);
}

int etcd_get(struct etcd *e, const char *key, struct etcd_kvs *out, struct mdo_err *err)
{
    return err_tag(range(e, key, NULL, out, err), err, MDO_SRC_ETCD);
}

void etcd_kvs_release(struct etcd_kvs *kvs)
{
    for (size_t i = 0; i < kvs->n; i++) {
        free(kvs->kv[i].key);
        free(kvs->kv[i].value);
    }
    free(kvs->kv);
    kvs->kv = NULL;
    kvs->n = 0;
}

/* Sends body to path and discards the answer. */
static int call_void(struct etcd *e, const char *path, cJSON *req, cJSON **ans, struct mdo_err *err)
{
    char *body = json_print(req);
    cJSON *a = NULL;
    int ret;

    cJSON_Delete(req);
    if (!body)
        return err_tag(err_set(err, MDO_ENOMEM, "out of memory"), err, MDO_SRC_ETCD);
    ret = etcd_call(e, path, body, &a, err);
    free(body);
    if (ans)
        *ans = a;
    else
        cJSON_Delete(a);
    return ret;
}

int etcd_put(struct etcd *e, const char *key, const char *value, int64_t lease, struct mdo_err *err)
{
    cJSON *req = cJSON_CreateObject();

    add_b64(req, "key", key, strlen(key));
    add_b64(req, "value", value, strlen(value));
    if (lease)
        add_i64(req, "lease", lease);
    return call_void(e, "/v3/kv/put", req, NULL, err);
}

int etcd_delete(struct etcd *e, const char *key, struct mdo_err *err)
{
    cJSON *req = cJSON_CreateObject();

    add_b64(req, "key", key, strlen(key));
    return call_void(e, "/v3/kv/deleterange", req, NULL, err);
}

int etcd_txn(struct etcd *e, const struct etcd_op *ops, size_t n, int *applied, struct mdo_err *err)
{
    cJSON *req, *cmp, *succ, *ans = NULL;
    int ret;

    size_t nwrites = 0, ncmps = 0;

    *applied = 0;
    for (size_t i = 0; i < n; i++) {
        nwrites += ops[i].type != ETCD_CMP_CREATE;
        ncmps += ops[i].type == ETCD_CMP_CREATE || ops[i].mod_revision != ETCD_ANY;
    }
    if (nwrites > ETCD_TXN_MAX || ncmps > ETCD_TXN_MAX)
        return err_tag(err_set(err, MDO_EFAIL, "transaction of %zu operations is over etcd's %d", n,
                               ETCD_TXN_MAX),
                       err, MDO_SRC_ETCD);
    req = cJSON_CreateObject();
    cmp = cJSON_AddArrayToObject(req, "compare");
    succ = cJSON_AddArrayToObject(req, "success");
    for (size_t i = 0; i < n; i++) {
        cJSON *op, *inner;

        if (ops[i].type == ETCD_CMP_CREATE) { /* a fence: compare only, nothing to do */
            cJSON *c = cJSON_CreateObject();
            add_b64(c, "key", ops[i].key, strlen(ops[i].key));
            cJSON_AddStringToObject(c, "target", "CREATE");
            cJSON_AddStringToObject(c, "result", "EQUAL");
            add_i64(c, "create_revision", ops[i].mod_revision);
            cJSON_AddItemToArray(cmp, c);
            continue;
        }
        op = cJSON_CreateObject();
        if (ops[i].mod_revision != ETCD_ANY) {
            cJSON *c = cJSON_CreateObject();
            add_b64(c, "key", ops[i].key, strlen(ops[i].key));
            cJSON_AddStringToObject(c, "target", "MOD");
            cJSON_AddStringToObject(c, "result", "EQUAL");
            add_i64(c, "mod_revision", ops[i].mod_revision);
            cJSON_AddItemToArray(cmp, c);
        }
        if (ops[i].type == ETCD_PUT) {
            inner = cJSON_AddObjectToObject(op, "request_put");
            add_b64(inner, "value", ops[i].value, strlen(ops[i].value));
            if (ops[i].lease)
                add_i64(inner, "lease", ops[i].lease);
        } else {
            inner = cJSON_AddObjectToObject(op, "request_delete_range");
        }
        add_b64(inner, "key", ops[i].key, strlen(ops[i].key));
        cJSON_AddItemToArray(succ, op);
    }
    ret = call_void(e, "/v3/kv/txn", req, &ans, err);
    if (!ret)
        *applied = json_bool(ans, "succeeded", 0); /* the gateway omits false */
    cJSON_Delete(ans);
    return err_tag(ret, err, MDO_SRC_ETCD);
}

int etcd_lease_grant(struct etcd *e, long ttl_s, int64_t *id, struct mdo_err *err)
{
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    int ret;

    add_i64(req, "TTL", ttl_s);
    ret = call_void(e, "/v3/lease/grant", req, &ans, err);
    if (!ret) {
        *id = json_int(ans, "ID", 0);
        if (!*id) {
            const char *why = json_str(ans, "error");
            ret = err_set(err, MDO_EPROTO, "etcd granted no lease: %s", why ? why : "no ID");
            if (why)
                err_why(err, "%s", why);
        }
    }
    cJSON_Delete(ans);
    return err_tag(ret, err, MDO_SRC_ETCD);
}

int etcd_lease_keepalive(struct etcd *e, int64_t id, struct mdo_err *err)
{
    cJSON *req = cJSON_CreateObject(), *ans = NULL, *res;
    int ret;

    add_i64(req, "ID", id);
    /* The gateway's keepalive is a stream: it answers one {"result":{...}} per request line. */
    ret = call_void(e, "/v3/lease/keepalive", req, &ans, err);
    res = cJSON_GetObjectItemCaseSensitive(ans, "result");
    if (!ret && json_int(res ? res : ans, "TTL", 0) <= 0)
        ret = err_set(err, MDO_ENOTFOUND, "etcd lease %lld expired", (long long)id);
    cJSON_Delete(ans);
    return err_tag(ret, err, MDO_SRC_ETCD);
}

int etcd_lease_revoke(struct etcd *e, int64_t id, struct mdo_err *err)
{
    cJSON *req = cJSON_CreateObject();

    add_i64(req, "ID", id);
    return call_void(e, "/v3/lease/revoke", req, NULL, err);
}
