/* etcd.c - etcd v3 over its JSON gateway (etcd 3.4 serves it at /v3/) */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "etcd.h"
#include "json.h"
#include "url.h"

#define RANGE_PAGE 500

static char *xstrdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Every error this module returns names etcd as its origin (lib/err.h), whatever layer set it. */
static int tag(int ret, struct mdo_err *err)
{
    if (ret)
        err_from(err, MDO_SRC_ETCD);
    return ret;
}

/* An endpoint as people may see it: no user:password, no trailing '/'. Caller frees. */
static char *shown(const char *url)
{
    char *s = url_shown(url, 0);
    size_t n = s ? strlen(s) : 0;

    if (n && s[n - 1] == '/')
        s[n - 1] = '\0';
    return s;
}

/* 1 when url, http:// and a bare endpoint, is http://host[:port] and nothing more, as curl's
 * parser sees it: "ftp://h:1" with http:// prepended parses as host "ftp" and path "//h:1". */
static int bare_ok(const char *url)
{
    char *root = url_shown(url, URL_NO_PATH);
    int ok = root && !url_check("etcd endpoint", url, NULL) && !strcmp(root, url);

    free(root);
    return ok;
}

/* One endpoint, "http(s)://host:port[/path]" or bare "host:port" (which means http://), checked
 * with curl's URL parser (lib/url.h). */
static int add_endpoint(struct etcd *e, const char *s, size_t n, struct mdo_err *err)
{
    struct buf url = BUF_INIT(0);
    char **p;
    int ret;

    while (n && *s == ' ')
        s++, n--;
    while (n && (s[n - 1] == ' ' || s[n - 1] == '/'))
        n--;
    if (!n)
        return 0;
    ret = buf_add(&url, s, n);
    if (!ret && url_check("etcd endpoint", url.ptr, NULL)) {
        buf_reset(&url);
        ret = buf_addf(&url, "http://%.*s", (int)n, s);
        if (!ret && !bare_ok(url.ptr)) {
            int secret = memchr(s, '@', n) != NULL; /* never print a password */
            buf_release(&url);
            return err_set(err, MDO_ECONFIG,
                           "etcd endpoint '%.*s' is not host:port nor an http:// or https:// URL "
                           "with a host",
                           secret ? 8 : (int)n, secret ? "<hidden>" : s);
        }
    }
    p = ret ? NULL : realloc(e->endpoints, (e->nendpoints + 1) * sizeof(*p));
    if (!p) {
        buf_release(&url);
        return err_set(err, MDO_ENOMEM, "out of memory");
    }
    e->endpoints = p;
    e->endpoints[e->nendpoints++] = buf_detach(&url);
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
        for (const char *s = endpoints[i]; s;) {
            const char *comma = strchr(s, ',');
            int ret = add_endpoint(e, s, comma ? (size_t)(comma - s) : strlen(s), err);

            if (ret) {
                etcd_close(e);
                return tag(ret, err);
            }
            s = comma ? comma + 1 : NULL;
        }
    }
    if (!e->nendpoints) {
        etcd_close(e);
        return tag(err_set(err, MDO_ECONFIG, "no etcd endpoint given"), err);
    }
    e->user = xstrdup_or_null(user);
    e->password = xstrdup_or_null(password);
    e->ca = xstrdup_or_null(ca);
    e->cert = xstrdup_or_null(cert);
    e->key = xstrdup_or_null(key);
    if ((user && !e->user) || (password && !e->password) || (ca && !e->ca) || (cert && !e->cert) ||
        (key && !e->key)) {
        etcd_close(e);
        return tag(err_set(err, MDO_ENOMEM, "out of memory"), err);
    }
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

/* base64 through libcrypto; etcd's gateway wants standard base64 with padding, on one line
 * (EVP_EncodeBlock; EVP_EncodeUpdate would break lines every 64 characters). */
char *etcd_b64(const char *p, size_t n)
{
    char *out;

    if (n > (size_t)INT_MAX / 4 * 3)
        return NULL;
    out = malloc(4 * ((n + 2) / 3) + 1);
    if (out)
        EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)p, (int)n);
    return out;
}

/* EVP_DecodeUpdate/EVP_DecodeFinal count the bytes exactly and refuse data after padding or more
 * than two '='. They also skip whitespace and stop quietly at '-', which the gateway never sends:
 * the alphabet and the length are checked first, so any such byte is malformed here. */
char *etcd_unb64(const char *s, size_t *len)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    size_t n = strlen(s);
    EVP_ENCODE_CTX *ctx;
    unsigned char *out;
    int m = 0, tail = 0, ok;

    if (n % 4 || s[strspn(s, alphabet)] || n > INT_MAX)
        return NULL;
    out = malloc(3 * (n / 4) + 4);
    ctx = EVP_ENCODE_CTX_new();
    ok = out && ctx;
    if (ok) {
        EVP_DecodeInit(ctx);
        ok = EVP_DecodeUpdate(ctx, out, &m, (const unsigned char *)s, (int)n) >= 0 &&
             EVP_DecodeFinal(ctx, out + m, &tail) == 1;
    }
    EVP_ENCODE_CTX_free(ctx);
    if (!ok) {
        free(out);
        return NULL;
    }
    m += tail;
    out[m] = '\0';
    *len = (size_t)m;
    return (char *)out;
}

static int authenticate(struct etcd *e, const char *base, char **token, struct mdo_err *err);

/* etcd's own reason for a non-2xx answer: the gateway sends {"error":..., "message":...}. */
static void peer_why(const struct http_resp *resp, struct mdo_err *err)
{
    cJSON *ans = cJSON_ParseWithLength(buf_str(&resp->body), resp->body.len);
    const char *why = json_str(ans, "message");

    if (!why)
        why = json_str(ans, "error");
    if (why)
        err_why(err, "%s", why);
    cJSON_Delete(ans);
}

/* Whether etcd refused the token itself (so a fresh one may pass): HTTP 401, or gRPC's
 * Unauthenticated (code 16) that the gateway maps to it ("etcdserver: invalid auth token", a
 * simple token past --auth-token-ttl or a JWT past its exp), or the auth store's revision moving
 * on after the token was issued ("etcdserver: revision of auth store is old", code 3 with HTTP
 * 400): etcd's own client re-authenticates on exactly these. "user name is empty" is the answer
 * to no token once auth is on (the "" of auth_off()). */
static int token_refused(const struct http_resp *resp)
{
    cJSON *ans;
    const char *why;
    int refused;

    if (resp->status == 401)
        return 1;
    if (resp->status < 400)
        return 0;
    ans = cJSON_ParseWithLength(buf_str(&resp->body), resp->body.len);
    why = json_str(ans, "error");
    refused = json_int(ans, "code", 0) == 16 ||
              (why && (strstr(why, "invalid auth token") || strstr(why, "auth store is old") ||
                       strstr(why, "user name is empty")));
    cJSON_Delete(ans);
    return refused;
}

/* etcd's answer to authenticate when auth is disabled: "etcdserver: authentication is not
 * enabled" (FailedPrecondition, HTTP 400 through the gateway). */
static int auth_off(const struct http_resp *resp)
{
    cJSON *ans = cJSON_ParseWithLength(buf_str(&resp->body), resp->body.len);
    const char *why = json_str(ans, "error");
    int off = why && strstr(why, "authentication is not enabled");

    cJSON_Delete(ans);
    return off;
}

/* The next endpoint for every thread, unless another thread moved on already. */
static void next_endpoint(struct etcd *e, unsigned cur)
{
    pthread_mutex_lock(&e->lock);
    if (e->cur % e->nendpoints == cur)
        e->cur = cur + 1;
    pthread_mutex_unlock(&e->lock);
}

/* Forgets the token `used` (if it is still the client's): the next call authenticates. */
static void drop_token(struct etcd *e, const char *used)
{
    pthread_mutex_lock(&e->lock);
    if (e->token && used && !strcmp(e->token, used)) {
        free(e->token);
        e->token = NULL;
    }
    pthread_mutex_unlock(&e->lock);
}

/* The client's token for endpoint base, authenticating first when it has none. The lock guards
 * only the copy: authentication is a network round trip, and every thread sharing the client
 * would wait for it (and for the connect timeout of a dead endpoint). Two threads may both
 * authenticate; the first token stored is kept, the other is just used once. *token is the
 * caller's (NULL without credentials). */
static int token_for(struct etcd *e, const char *base, char **token, struct mdo_err *err)
{
    char *fresh = NULL;
    int ret;

    *token = NULL;
    if (!e->user)
        return 0;
    pthread_mutex_lock(&e->lock);
    if (e->token && !(*token = strdup(e->token)))
        ret = -MDO_ENOMEM;
    else
        ret = 0;
    pthread_mutex_unlock(&e->lock);
    if (ret)
        return err_set(err, MDO_ENOMEM, "out of memory");
    if (*token)
        return 0;
    ret = authenticate(e, base, &fresh, err);
    if (ret)
        return ret;
    pthread_mutex_lock(&e->lock);
    if (!e->token)
        e->token = strdup(fresh); /* NULL on OOM: the next call authenticates again */
    pthread_mutex_unlock(&e->lock);
    *token = fresh;
    return 0;
}

/* POSTs body to path on the current endpoint, failing over on transport errors (of the request
 * or of the authentication before it). A token etcd refuses is renewed and the request sent
 * once more. On success *out is the parsed answer (caller deletes). */
static int call(struct etcd *e, const char *path, const char *body, cJSON **out,
                struct mdo_err *err)
{
    struct http_resp resp = HTTP_RESP_INIT;
    struct http_conn c = {0};
    struct buf url = BUF_INIT(0);
    int ret = -MDO_ENET, renewed = 0;

    *out = NULL;
    c.ca = e->ca;
    c.cert = e->cert;
    c.key = e->key;
    c.timeout_ms = e->timeout_ms;
    c.connect_timeout_ms = 2000;
    for (unsigned tries = 0; tries < e->nendpoints; tries++) {
        unsigned cur;
        char *token = NULL;

        /* e->endpoints is fixed after etcd_open(): only cur needs the lock */
        pthread_mutex_lock(&e->lock);
        cur = e->cur % e->nendpoints;
        pthread_mutex_unlock(&e->lock);
        ret = token_for(e, e->endpoints[cur], &token, err);
        if (ret == -MDO_ENET) { /* a dead endpoint: authenticate against the next one */
            next_endpoint(e, cur);
            continue;
        }
        if (ret)
            break;
        buf_reset(&url);
        if (buf_addf(&url, "%s%s", e->endpoints[cur], path)) {
            free(token);
            ret = err_set(err, MDO_ENOMEM, "out of memory");
            break;
        }
        c.auth_header = token && *token ? token : NULL;
        ret = http_request(&c, "POST", url.ptr, body, strlen(body), "application/json", &resp, err);
        if (ret == -MDO_ENET) {
            free(token);
            next_endpoint(e, cur);
            continue;
        }
        if (!ret && e->user && !renewed && token_refused(&resp)) {
            drop_token(e, token); /* expired or revoked: a fresh one, and this request again */
            free(token);
            renewed = 1;
            tries--;
            continue;
        }
        free(token);
        if (!ret && (ret = http_check(&resp, 200, 299, "POST", url.ptr, err)))
            peer_why(&resp, err);
        break;
    }
    if (!ret) {
        err_clear(err); /* an earlier endpoint's failure is not this call's */
        *out = cJSON_ParseWithLength(buf_str(&resp.body), resp.body.len);
        if (!*out) {
            char *u = url_shown(url.ptr, 0);
            ret = err_set(err, MDO_EPROTO, "POST %s: answer is not JSON", u ? u : path);
            free(u);
        }
    }
    if (ret == -MDO_ENET) {
        char *u = shown(e->endpoints[0]);
        err_wrap(err, "etcd unreachable (is etcd running at %s?)", u ? u : "its endpoints");
        free(u);
    }
    http_resp_release(&resp);
    buf_release(&url);
    return tag(ret, err);
}

/* A token for e->user from base's /v3/auth/authenticate into *token (the caller's). Called
 * without e->lock: it only reads what etcd_open() fixed. */
static int authenticate(struct etcd *e, const char *base, char **token, struct mdo_err *err)
{
    struct http_resp resp = HTTP_RESP_INIT;
    struct http_conn c = {0};
    cJSON *req = cJSON_CreateObject(), *ans = NULL;
    struct buf url = BUF_INIT(0);
    char *body;
    const char *tok;
    int ret;

    *token = NULL;
    cJSON_AddStringToObject(req, "name", e->user);
    cJSON_AddStringToObject(req, "password", e->password ? e->password : "");
    body = json_print(req);
    cJSON_Delete(req);
    if (!body || buf_addf(&url, "%s/v3/auth/authenticate", base)) {
        free(body);
        buf_release(&url);
        return err_set(err, MDO_ENOMEM, "out of memory");
    }
    c.ca = e->ca;
    c.cert = e->cert;
    c.key = e->key;
    c.timeout_ms = e->timeout_ms;
    c.connect_timeout_ms = 2000;
    ret = http_request(&c, "POST", url.ptr, body, strlen(body), "application/json", &resp, err);
    OPENSSL_cleanse(body, strlen(body)); /* it holds the password */
    free(body);
    buf_release(&url);
    if (!ret && resp.status != 200 && auth_off(&resp)) {
        /* credentials for a cluster whose auth is not on (yet: ops/etcd-auth enables it last):
         * "" until etcd says otherwise ("user name is empty", token_refused()) */
        if (!(*token = strdup("")))
            ret = err_set(err, MDO_ENOMEM, "out of memory");
        http_resp_release(&resp);
        return ret;
    }
    if (!ret && resp.status != 200) {
        struct mdo_err why = MDO_ERR_INIT; /* etcd's reason, said in the message too */
        peer_why(&resp, &why);
        ret = err_set(err, MDO_EHTTP,
                      "etcd authentication as '%s' failed (HTTP %ld%s%s): check "
                      "the user name, password and client certificate",
                      e->user, resp.status, why.why[0] ? ": " : "", why.why);
        if (err)
            err->http_status = resp.status;
        peer_why(&resp, err);
    }
    if (!ret) {
        ans = cJSON_ParseWithLength(buf_str(&resp.body), resp.body.len);
        tok = json_str(ans, "token");
        if (tok && !(*token = strdup(tok)))
            ret = err_set(err, MDO_ENOMEM, "out of memory");
        else if (!tok)
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
        return tag(err_set(err, MDO_ENOMEM, "out of memory"), err);
    ret = range(e, prefix, end, out, err);
    free(end);
    return tag(ret, err);
}

int etcd_get(struct etcd *e, const char *key, struct etcd_kvs *out, struct mdo_err *err)
{
    return tag(range(e, key, NULL, out, err), err);
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
        return tag(err_set(err, MDO_ENOMEM, "out of memory"), err);
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

    size_t nwrites = 0, ncmps = 0;

    *applied = 0;
    for (size_t i = 0; i < n; i++) {
        nwrites += ops[i].type != ETCD_CMP_CREATE;
        ncmps += ops[i].type == ETCD_CMP_CREATE || ops[i].mod_revision != ETCD_ANY;
    }
    if (nwrites > ETCD_TXN_MAX || ncmps > ETCD_TXN_MAX)
        return tag(err_set(err, MDO_EFAIL, "transaction of %zu operations is over etcd's %d", n,
                           ETCD_TXN_MAX),
                   err);
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
    return tag(ret, err);
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
    return tag(ret, err);
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
    return tag(ret, err);
}

int etcd_lease_revoke(struct etcd *e, int64_t id, struct mdo_err *err)
{
    cJSON *req = cJSON_CreateObject();

    add_i64(req, "ID", id);
    return call_void(e, "/v3/lease/revoke", req, NULL, err);
}
