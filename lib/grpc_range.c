/* grpc_range.c - etcd's KV/Range over gRPC (HTTP/2 with curl, protobuf by its wire rules) */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include "grpc_range.h"

#define GRPC_BODY_CAP (64u << 20) /* as the gateway path's answer cap (HTTP_BODY_CAP) */

/* ---- protobuf's wire format: varints and length-delimited fields ---- */

static size_t put_varint(unsigned char *p, uint64_t v)
{
    size_t n = 0;

    do {
        p[n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

unsigned char *grpc_range_request(const char *key, const char *end, size_t *len)
{
    size_t kl = strlen(key), el = strlen(end) ? strlen(end) : 1; /* "" is the byte \0 */
    unsigned char *m = malloc(5 + 2 * (1 + 10) + kl + el), *p;

    if (!m)
        return NULL;
    p = m + 5;
    *p++ = 0x0a; /* 1: key, bytes */
    p += put_varint(p, kl);
    memcpy(p, key, kl);
    p += kl;
    *p++ = 0x12; /* 2: range_end, bytes */
    p += put_varint(p, el);
    memcpy(p, strlen(end) ? end : "", el);
    p += el;
    *len = (size_t)(p - m);
    m[0] = 0; /* not compressed */
    m[1] = (unsigned char)((*len - 5) >> 24);
    m[2] = (unsigned char)((*len - 5) >> 16);
    m[3] = (unsigned char)((*len - 5) >> 8);
    m[4] = (unsigned char)(*len - 5);
    return m;
}

struct pb {
    const unsigned char *p, *end;
};

static int get_varint(struct pb *b, uint64_t *v)
{
    uint64_t r = 0;

    for (unsigned s = 0; s < 64 && b->p < b->end; s += 7) {
        unsigned char c = *b->p++;
        r |= (uint64_t)(c & 0x7f) << s;
        if (!(c & 0x80)) {
            *v = r;
            return 0;
        }
    }
    return -1;
}

/* The next field: its number, and its varint value or its bytes (sub). 0, 1 at the end, -1. */
static int next_field(struct pb *b, unsigned *num, uint64_t *v, struct pb *sub)
{
    uint64_t key;

    if (b->p == b->end)
        return 1;
    if (get_varint(b, &key))
        return -1;
    *num = (unsigned)(key >> 3);
    *v = 0;
    switch (key & 7) {
    case 0:
        return get_varint(b, v);
    case 1:
        if (b->end - b->p < 8)
            return -1;
        b->p += 8;
        return 0;
    case 2:
        if (get_varint(b, v) || *v > (uint64_t)(b->end - b->p))
            return -1;
        sub->p = b->p;
        sub->end = b->p + *v;
        b->p += *v;
        return 0;
    case 5:
        if (b->end - b->p < 4)
            return -1;
        b->p += 4;
        return 0;
    default:
        return -1;
    }
}

static char *dup_bytes(const struct pb *s)
{
    size_t n = (size_t)(s->end - s->p);
    char *c = malloc(n + 1);

    if (c) {
        memcpy(c, s->p, n);
        c[n] = '\0';
    }
    return c;
}

/* One KeyValue: 1 key, 2 create_revision, 3 mod_revision, 4 version, 5 value, 6 lease. */
static int decode_kv(struct pb b, struct etcd_kv *x)
{
    struct pb sub = {NULL, NULL}, key = {NULL, NULL}, val = {NULL, NULL};
    unsigned num;
    uint64_t v;
    int r;

    memset(x, 0, sizeof(*x));
    while (!(r = next_field(&b, &num, &v, &sub))) {
        if (num == 1)
            key = sub;
        else if (num == 5)
            val = sub;
        else if (num == 2)
            x->create_revision = (int64_t)v;
        else if (num == 3)
            x->mod_revision = (int64_t)v;
        else if (num == 4)
            x->version = (int64_t)v;
        else if (num == 6)
            x->lease = (int64_t)v;
    }
    if (r < 0 || !key.p || memchr(key.p, '\0', (size_t)(key.end - key.p)))
        return -1;
    x->key = dup_bytes(&key);
    x->value = val.p ? dup_bytes(&val) : strdup("");
    x->len = val.p ? (size_t)(val.end - val.p) : 0;
    if (!x->key || !x->value) {
        free(x->key);
        free(x->value);
        memset(x, 0, sizeof(*x));
        return -1;
    }
    return 0;
}

/* RangeResponse: 1 header (ResponseHeader: 3 revision), 2 kvs, 3 more, 4 count. */
int grpc_range_decode(const unsigned char *p, size_t n, const char *prefix, struct etcd_kvs *out)
{
    struct pb b, sub = {NULL, NULL};
    size_t len, plen = strlen(prefix), cap = 0;
    unsigned num;
    uint64_t v;
    int r, more = 0;

    memset(out, 0, sizeof(*out));
    if (n < 5 || p[0]) /* one frame, not compressed (none was asked for) */
        return -1;
    len = (size_t)p[1] << 24 | (size_t)p[2] << 16 | (size_t)p[3] << 8 | p[4];
    if (len != n - 5)
        return -1;
    b = (struct pb){p + 5, p + n};
    while (!(r = next_field(&b, &num, &v, &sub))) {
        if (num == 1) {
            struct pb h = sub, hs;
            unsigned hn;
            uint64_t hv;
            int hr;
            while (!(hr = next_field(&h, &hn, &hv, &hs)))
                if (hn == 3)
                    out->revision = (int64_t)hv;
            if (hr < 0)
                break;
        } else if (num == 2) {
            struct etcd_kv x;
            if (out->n == cap) {
                void *q = realloc(out->kv, (cap = cap ? 2 * cap : 64) * sizeof(*out->kv));
                if (!q)
                    break;
                out->kv = q;
            }
            if (decode_kv(sub, &x))
                break;
            if (strncmp(x.key, prefix, plen)) { /* not asked for: dropped, as the gateway path */
                free(x.key);
                free(x.value);
                continue;
            }
            out->kv[out->n++] = x;
        } else if (num == 3) {
            more = v != 0;
        }
    }
    if (r != 1 || more || !out->revision) { /* no limit was asked: "more" is not an answer */
        etcd_kvs_release(out);
        out->revision = 0;
        return -1;
    }
    return 0;
}

/* ---- the call ---- */

struct answer {
    unsigned char *p;
    size_t n, cap;
    int status;   /* grpc-status, -1 until seen (a header or a trailer) */
    int complete; /* the one message is here: the transfer was ended at once */
};

static size_t on_body(char *d, size_t sz, size_t nm, void *ctx)
{
    struct answer *a = ctx;
    size_t n = sz * nm;

    if (a->n + n > GRPC_BODY_CAP)
        return 0;
    if (a->n + n > a->cap) {
        size_t cap = a->cap ? a->cap : 65536;
        void *q;
        while (cap < a->n + n)
            cap *= 2;
        if (!(q = realloc(a->p, cap)))
            return 0;
        a->p = q;
        a->cap = cap;
    }
    memcpy(a->p + a->n, d, n);
    a->n += n;
    /* The answer's one message is complete: end the transfer now. curl 7.88 (Debian 12) acts on
     * the trailers that follow only at its next 200 ms timer, which was most of the call's time.
     * A message is only sent on success (an error is trailers alone), and the caller decodes it
     * whole, so the trailers add nothing. */
    if (a->n >= 5 && a->n == 5 + ((size_t)a->p[1] << 24 | (size_t)a->p[2] << 16 |
                                  (size_t)a->p[3] << 8 | a->p[4])) {
        a->complete = 1;
        return 0;
    }
    return n;
}

static size_t on_header(char *d, size_t sz, size_t nm, void *ctx)
{
    struct answer *a = ctx;
    size_t n = sz * nm;

    if (n > 12 && !strncasecmp(d, "grpc-status:", 12))
        a->status = (int)strtol(d + 12, NULL, 10);
    return n;
}

/* curl_easy_perform(), but waking every few ms: curl 7.88's HTTP/2 may hold received data in
 * its buffers until its next 200 ms timer when the socket has nothing more to say (seen here in
 * 1 call of 3); another curl_multi_perform() hands it on at once. Bounded by the handle's
 * CURLOPT_TIMEOUT_MS. */
static CURLcode perform(CURL *h)
{
    CURLM *m = curl_multi_init();
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    int running = 1;

    if (!m || curl_multi_add_handle(m, h) != CURLM_OK) {
        curl_multi_cleanup(m);
        return rc;
    }
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            break;
        if (running && curl_multi_poll(m, NULL, 0, 5, NULL) != CURLM_OK)
            break;
    }
    for (CURLMsg *msg; (msg = curl_multi_info_read(m, &running));)
        if (msg->msg == CURLMSG_DONE)
            rc = msg->data.result;
    curl_multi_remove_handle(m, h);
    curl_multi_cleanup(m);
    return rc;
}

static int proxied(void)
{
    static const char *const vars[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                       "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};

    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        if (getenv(vars[i]) && *getenv(vars[i]))
            return 1;
    return 0;
}

int grpc_range_prefix(struct etcd *e, const char *prefix, struct etcd_kvs *out)
{
    struct answer a = {NULL, 0, 0, -1, 0};
    CURLcode rc;
    struct curl_slist *hdr = NULL, *h2;
    unsigned char *req;
    char *end = etcd_prefix_end(prefix), url[1100];
    size_t rlen = 0;
    long status = 0, version = 0;
    CURL *h = NULL;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    if (!end || e->user || proxied() || !e->nendpoints) {
        free(end);
        return -1;
    }
    req = grpc_range_request(prefix, end, &rlen);
    free(end);
    pthread_mutex_lock(&e->lock);
    snprintf(url, sizeof(url), "%.1000s/etcdserverpb.KV/Range",
             e->endpoints[e->cur % e->nendpoints]);
    pthread_mutex_unlock(&e->lock);
    if (!req || !(h = curl_easy_init()) ||
        !(hdr = curl_slist_append(NULL, "Content-Type: application/grpc")) ||
        !(h2 = curl_slist_append(hdr, "TE: trailers")))
        goto out;
    hdr = h2;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                     strncmp(url, "https:", 6) ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE
                                               : (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, e->timeout_ms > 0 ? e->timeout_ms : 10000L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)req);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)rlen);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &a);
    if (e->ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, e->ca);
    if (e->cert)
        curl_easy_setopt(h, CURLOPT_SSLCERT, e->cert);
    if (e->key)
        curl_easy_setopt(h, CURLOPT_SSLKEY, e->key);
    rc = perform(h);
    if (!(rc == CURLE_OK && a.status == 0) && !(rc == CURLE_WRITE_ERROR && a.complete))
        goto out;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &version);
    if (status == 200 && version == CURL_HTTP_VERSION_2_0 && (a.status == 0 || a.status == -1))
        ret = grpc_range_decode(a.p, a.n, prefix, out);
out:
    curl_slist_free_all(hdr);
    if (h)
        curl_easy_cleanup(h);
    free(req);
    free(a.p);
    return ret;
}
