/* etcd.c - etcd v3 over its JSON gateway (etcd 3.4 serves it at /v3/) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "etcd.h"
#include "json.h"

#define RANGE_PAGE 500

static char *xstrdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int add_endpoint(struct etcd *e, const char *s, size_t n)
{
    char **p;
    char *url;
    size_t len;

    while (n && (*s == ' '))
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '/'))
        n--;
    if (!n)
        return 0;
    len = n + (memmem(s, n, "://", 3) ? 0 : 7) + 1;
    url = malloc(len);
    p = realloc(e->endpoints, (e->nendpoints + 1) * sizeof(*p));
    if (!url || !p) {
        free(url);
        if (p)
            e->endpoints = p;
        return -MDO_ENOMEM;
    }
    e->endpoints = p;
    snprintf(url, len, "%s%.*s", memmem(s, n, "://", 3) ? "" : "http://", (int)n, s);
    e->endpoints[e->nendpoints++] = url;
    return 0;
}

int etcd_open(struct etcd *e, char *const *endpoints, unsigned n, const char *user,
              const char *password, const char *ca, const char *cert, const char *key,
              struct mdo_err *err)
{
    memset(e, 0, sizeof(*e));
    pthread_mutex_init(&e->lock, NULL);
    e->timeout_ms = 5000;
    for (unsigned i = 0; i < n; i++) {
        const char *s = endpoints[i], *comma;
        do {
            comma = strchr(s, ',');
            if (add_endpoint(e, s, comma ? (size_t)(comma - s) : strlen(s))) {
                etcd_close(e);
                return err_set(err, MDO_ENOMEM, "out of memory");
            }
            s = comma + 1;
        } while (comma);
    }
    if (!e->nendpoints) {
        etcd_close(e);
        return err_set(err, MDO_ECONFIG, "no etcd endpoint given");
    }
    e->user = xstrdup_or_null(user);
    e->password = xstrdup_or_null(password);
    e->ca = xstrdup_or_null(ca);
    e->cert = xstrdup_or_null(cert);
    e->key = xstrdup_or_null(key);
    return 0;
}

void etcd_close(struct etcd *e)
{
    for (unsigned i = 0; i < e->nendpoints; i++)
        free(e->endpoints[i]);
    free(e->endpoints);
    free(e->user);
    free(e->password);
    free(e->ca);
    free(e->cert);
    free(e->key);
    free(e->token);
    pthread_mutex_destroy(&e->lock);
    memset(e, 0, sizeof(*e));
}

/* base64 through libcrypto; etcd's gateway wants standard base64 with padding. */
char *etcd_b64(const char *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);

    if (out)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)p, (int)n);
    return out;
}

char *etcd_unb64(const char *s, size_t *len)
{
    size_t n = strlen(s), pad = 0;
    unsigned char *out;
    int m;

    if (n % 4)
        return NULL;
    out = malloc(3 * (n / 4) + 1);
    if (!out)
        return NULL;
    m = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    if (m < 0) {
        free(out);
        return NULL;
    }
    while (pad < 2 && n > pad && s[n - 1 - pad] == '=')
        pad++; /* EVP_DecodeBlock counts padding as data bytes */
    m -= (int)pad;
    out[m] = '\0';
    *len = (size_t)m;
    return (char *)out;
}

static int authenticate(struct etcd *e, const char *base, struct mdo_err *err);

/* POSTs body to path on the current endpoint, failing over on transport errors.
 * On success *out is the parsed answer (caller deletes). */
static int call(struct etcd *e, const char *path, const char *body, cJSON **out,
                struct mdo_err *err)
{
    struct http_resp resp = HTTP_RESP_INIT;
    struct http_conn c = {0};
    char url[1024];
    int ret = -MDO_ENET;

    *out = NULL;
    c.ca = e->ca;
    c.cert = e->cert;
    c.key = e->key;
    c.timeout_ms = e->timeout_ms;
    c.connect_timeout_ms = 2000;
    for (unsigned tries = 0; tries < e->nendpoints; tries++) {
        unsigned cur;
        char *token = NULL;

        pthread_mutex_lock(&e->lock);
        cur = e->cur % e->nendpoints;
        if (e->user && !e->token) {
            ret = authenticate(e, e->endpoints[cur], err);
            if (ret) {
                pthread_mutex_unlock(&e->lock);
                break;
            }
        }
        token = e->token ? strdup(e->token) : NULL;
        snprintf(url, sizeof(url), "%s%s", e->endpoints[cur], path);
        pthread_mutex_unlock(&e->lock);
        c.auth_header = token;
        ret = http_request(&c, "POST", url, body, strlen(body), "application/json", &resp, err);
        free(token);
        if (ret == -MDO_ENET) {
            pthread_mutex_lock(&e->lock);
            if (e->cur % e->nendpoints == cur)
                e->cur = cur + 1;
            pthread_mutex_unlock(&e->lock);
            continue;
        }
        if (!ret && resp.status == 401 && e->user) {
            pthread_mutex_lock(&e->lock); /* token expired: authenticate again next time */
            free(e->token);
            e->token = NULL;
            pthread_mutex_unlock(&e->lock);
        }
        if (!ret)
            ret = http_check(&resp, 200, 299, "POST", url, err);
        break;
    }
    if (!ret) {
        err_clear(err); /* an earlier endpoint's failure is not this call's */
        *out = cJSON_ParseWithLength(resp.body.ptr ? resp.body.ptr : "", resp.body.len);
        if (!*out)
            ret = err_set(err, MDO_EPROTO, "POST %s: answer is not JSON", url);
    }
    if (ret == -MDO_ENET)
        err_wrap(err, "etcd unreachable (is etcd running at %s?)", e->endpoints[0]);
    http_resp_release(&resp);
    return ret;
}

/* Called with e->lock held. */
static int authenticate(struct etcd *e, const char *base, struct mdo_err *err)
{
    struct http_resp resp = HTTP_RESP_INIT;
    struct http_conn c = {0};
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    char url[1024], *body;
    const char *tok;
    int ret;

    cJSON_AddStringToObject(req, "name", e->user);
    cJSON_AddStringToObject(req, "password", e->password ? e->password : "");
    body = json_print(req);
    cJSON_Delete(req);
    if (!body)
        return err_set(err, MDO_ENOMEM, "out of memory");
    c.ca = e->ca;
    c.cert = e->cert;
    c.key = e->key;
    c.timeout_ms = e->timeout_ms;
    snprintf(url, sizeof(url), "%s/v3/auth/authenticate", base);
    ret = http_request(&c, "POST", url, body, strlen(body), "application/json", &resp, err);
    free(body);
    if (!ret && resp.status != 200) {
        ret = err_set(err, MDO_EHTTP,
                      "etcd authentication as '%s' failed (HTTP %ld): check "
                      "etcd.username and etcd.password",
                      e->user, resp.status);
    }
    if (!ret) {
        ans = cJSON_ParseWithLength(buf_str(&resp.body), resp.body.len);
        tok = json_str(ans, "token");
        if (tok)
            e->token = strdup(tok);
        else
            ret = err_set(err, MDO_EPROTO, "etcd authentication: no token in the answer");
        cJSON_Delete(ans);
    }
    http_resp_release(&resp);
    return ret;
}

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

static int parse_kvs(const cJSON *ans, struct etcd_kvs *out, struct mdo_err *err)
{
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
        ret = call(e, "/v3/kv/range", body, &ans, err);
        free(body);
        if (ret)
            break;
        if (!rev)
            rev = json_int(cJSON_GetObjectItemCaseSensitive(ans, "header"), "revision", 0);
        ret = parse_kvs(ans, out, err);
        more = end && json_bool(ans, "more", 0) && out->n;
        cJSON_Delete(ans);
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
        return err_set(err, MDO_ENOMEM, "out of memory");
    ret = range(e, prefix, end, out, err);
    free(end);
    return ret;
}

int etcd_get(struct etcd *e, const char *key, struct etcd_kvs *out, struct mdo_err *err)
{
    return range(e, key, NULL, out, err);
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
        return err_set(err, MDO_ENOMEM, "out of memory");
    ret = call(e, path, body, &a, err);
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

    *applied = 0;
    if (n > ETCD_TXN_MAX)
        return err_set(err, MDO_EFAIL, "transaction of %zu operations is over etcd's %d", n,
                       ETCD_TXN_MAX);
    req = cJSON_CreateObject();
    cmp = cJSON_AddArrayToObject(req, "compare");
    succ = cJSON_AddArrayToObject(req, "success");
    for (size_t i = 0; i < n; i++) {
        cJSON *op = cJSON_CreateObject(), *inner;

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
    return ret;
}

int etcd_lease_grant(struct etcd *e, long ttl_s, int64_t *id, struct mdo_err *err)
{
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    int ret;

    add_i64(req, "TTL", ttl_s);
    ret = call_void(e, "/v3/lease/grant", req, &ans, err);
    if (!ret) {
        *id = json_int(ans, "ID", 0);
        if (!*id)
            ret = err_set(err, MDO_EPROTO, "etcd granted no lease: %s",
                          json_str(ans, "error") ? json_str(ans, "error") : "no ID");
    }
    cJSON_Delete(ans);
    return ret;
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
    return ret;
}

int etcd_lease_revoke(struct etcd *e, int64_t id, struct mdo_err *err)
{
    cJSON *req = cJSON_CreateObject();

    add_i64(req, "ID", id);
    return call_void(e, "/v3/lease/revoke", req, NULL, err);
}
