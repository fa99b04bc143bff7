/* etcd.c - etcd v3 over its JSON gateway (etcd 3.4 serves it at /v3/): endpoints, failover,
 * authentication and the one request path; the key/value, txn and lease calls are etcd_kv.c */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "etcd.h"
#include "etcd_internal.h"
#include "json.h"
#include "url.h"

static char *xstrdup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
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
                return err_tag(ret, err, MDO_SRC_ETCD);
            }
            s = comma ? comma + 1 : NULL;
        }
    }
    if (!e->nendpoints) {
        etcd_close(e);
        return err_tag(err_set(err, MDO_ECONFIG, "no etcd endpoint given"), err, MDO_SRC_ETCD);
    }
    e->user = xstrdup_or_null(user);
    e->password = xstrdup_or_null(password);
    e->ca = xstrdup_or_null(ca);
    e->cert = xstrdup_or_null(cert);
    e->key = xstrdup_or_null(key);
    if ((user && !e->user) || (password && !e->password) || (ca && !e->ca) || (cert && !e->cert) ||
        (key && !e->key)) {
        etcd_close(e);
        return err_tag(err_set(err, MDO_ENOMEM, "out of memory"), err, MDO_SRC_ETCD);
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

static int b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* One EVP_DecodeBlock call over a string checked first: only the alphabet, a multiple of 4
 * long, and at most two '=' that end it (EVP_DecodeBlock itself would skip whitespace and count
 * padding as zero bytes, so both are settled here). No EVP context per value: a listing
 * decodes two strings per key. */
char *etcd_unb64(const char *s, size_t *len)
{
    size_t n = 0, pad = 0;
    unsigned char *out;
    int m;

    while (b64_char((unsigned char)s[n]))
        n++;
    while (s[n + pad] == '=' && pad < 3)
        pad++;
    n += pad;
    if (s[n] || pad > 2 || n % 4 || n > INT_MAX)
        return NULL;
    if (!(out = malloc(3 * (n / 4) + 4)))
        return NULL;
    m = n ? EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) : 0;
    if (m < 0 || (size_t)m != 3 * (n / 4)) {
        free(out);
        return NULL;
    }
    m -= (int)pad;
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
int etcd_call(struct etcd *e, const char *path, const char *body, cJSON **out, struct mdo_err *err)
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
    return err_tag(ret, err, MDO_SRC_ETCD);
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
