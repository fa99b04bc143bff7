/* callback.c - membership-change callbacks: registrations in etcd, change detection, signed
 * deliveries with one worker per target URL.
 *
 * Threads: the keeper's writers call callbacks_changed(), which only queues the service name.
 * One dispatcher thread reads the service's instances, diffs them against the membership it
 * delivered last (kept in memory, first read from the registry at start), reads the service's
 * registrations and queues one job per registration on the target's worker. Each target URL
 * has its own worker thread and FIFO queue, so a hanging target holds back only its own
 * deliveries: never the registry (the hook returns at once) nor another target.
 * One mutex guards all shared state; no thread holds it across I/O.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <cjson/cJSON.h>
#include "callback.h"
#include "http.h"
#include "json.h"
#include "log.h"

#define CB_ATTEMPTS   5    /* tries per delivery before giving up */
#define CB_BACKOFF_MS 500  /* first retry delay; doubles */
#define CB_TIMEOUT_MS 5000 /* one POST, connect included */
#define CB_QUEUE_MAX  256  /* per target: past this the oldest job is dropped */
#define CB_SWEEP_S    10   /* how often registrations of vanished owners are looked for */
#define CB_OWNER_GRACE                                                                             \
    60                   /* a registration's owner may be unregistered this long (it               \
                          * registers its callback before the subscriber registers it) */
#define CB_RETRY_MS 1000 /* a change that could not be read is retried after this */

struct cb_job {
    char *body;
    char *secret; /* or NULL */
    char id[CALLBACKS_ID_LEN + 1];
    char service[128];
    struct cb_job *next;
};

struct cb_target {
    struct callbacks *cb;
    char *url;
    pthread_t th;
    pthread_cond_t cond;
    struct cb_job *head, *tail;
    unsigned qlen;
    int busy; /* a delivery is in flight */
    struct cb_target *next;
};

struct cb_members {
    char *service;
    char *text; /* membership text last delivered (watch_member_line lines) */
    struct cb_members *next;
};

struct callbacks {
    const struct cfg *cfg;
    struct etcd *etcd;
    char *prefix; /* cfg->etcd.prefix without a trailing '/' */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* the dispatcher's wake-up */
    int stop;
    struct buf pending; /* "service\n" lines waiting for the dispatcher */
    int have_baseline;
    struct cb_members *members;
    struct cb_target *targets;
    pthread_t dispatcher;
    int have_dispatcher;
    unsigned long sent, failed, retries, dropped, owner_removed, changes;
    long registered; /* -1 until first counted */
};

/* ---- small helpers ---- */

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct timespec deadline(long ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void cond_init(pthread_cond_t *c)
{
    pthread_condattr_t ca;

    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
}

static char *trimmed_prefix(const char *p)
{
    size_t n = strlen(p);

    while (n > 1 && p[n - 1] == '/')
        n--;
    return strndup(p, n);
}

static void rfc3339_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;

    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static time_t parse_rfc3339(const char *s)
{
    struct tm tm = {0};

    if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return timegm(&tm);
}

/* 1 when text ("a\nb\n" lines) has the line name. */
static int has_line(const char *text, const char *name)
{
    size_t n = strlen(name);

    for (const char *p = text; n && (p = strstr(p, name)); p += n)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

/* ---- pure parts ---- */

int callbacks_sign(const char *secret, const char *body, size_t len, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len, md,
              &mdlen) ||
        mdlen != 32) {
        hex[0] = '\0';
        return -MDO_EFAIL;
    }
    for (unsigned i = 0; i < mdlen; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return 0;
}

void callbacks_id(const char *service, const char *url, const char *owner,
                  char id[CALLBACKS_ID_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();

    /* NUL-separated, so ("a","bc") and ("ab","c") differ */
    if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
        EVP_DigestUpdate(c, service, strlen(service) + 1) &&
        EVP_DigestUpdate(c, url, strlen(url) + 1) &&
        EVP_DigestUpdate(c, owner ? owner : "", strlen(owner ? owner : "") + 1) &&
        EVP_DigestFinal_ex(c, md, &mdlen) && mdlen >= CALLBACKS_ID_LEN / 2) {
        for (unsigned i = 0; i < CALLBACKS_ID_LEN / 2; i++)
            snprintf(id + 2 * i, 3, "%02x", md[i]);
    } else {
        snprintf(id, CALLBACKS_ID_LEN + 1, "%016lx", (unsigned long)random());
    }
    EVP_MD_CTX_free(c);
}

static int add_names(struct buf *b, const char *key, const struct buf *names)
{
    const char *p = buf_str(names);
    int ret = buf_addf(b, ",\"%s\":[", key), first = 1;

    while (!ret && *p) {
        const char *sp = strchr(p, ' ');
        size_t n = sp ? (size_t)(sp - p) : strlen(p);
        char *name = strndup(p, n);
        if (!name)
            return -MDO_ENOMEM;
        ret = buf_adds(b, first ? "\"" : ",\"");
        if (!ret)
            ret = buf_add_json_escaped(b, name);
        if (!ret)
            ret = buf_addc(b, '"');
        free(name);
        first = 0;
        p += n + (sp ? 1 : 0);
    }
    return ret ? ret : buf_addc(b, ']');
}

char *callbacks_body(const char *env, const char *service, int64_t revision,
                     const struct reg_record *recs, unsigned n, const struct watch_diff *d)
{
    struct buf b = BUF_INIT(0);
    int ret = buf_adds(&b, "{\"environment\":\"");

    if (!ret)
        ret = buf_add_json_escaped(&b, env);
    if (!ret)
        ret = buf_adds(&b, "\",\"service\":\"");
    if (!ret)
        ret = buf_add_json_escaped(&b, service);
    if (!ret)
        ret = buf_addf(&b, "\",\"revision\":%lld,\"instances\":[", (long long)revision);
    for (unsigned i = 0; !ret && i < n; i++) {
        char *j = reg_record_json(&recs[i]);
        ret = j ? 0 : -MDO_ENOMEM;
        if (!ret && i)
            ret = buf_addc(&b, ',');
        if (!ret)
            ret = buf_adds(&b, j);
        free(j);
    }
    if (!ret)
        ret = buf_addc(&b, ']');
    if (!ret)
        ret = add_names(&b, "added", &d->names_added);
    if (!ret)
        ret = add_names(&b, "removed", &d->names_removed);
    if (!ret)
        ret = add_names(&b, "changed", &d->names_changed);
    if (!ret)
        ret = buf_addc(&b, '}');
    if (ret) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b);
}

/* ---- registrations in etcd ---- */

/* The prefix's length without trailing '/': "/mdo/" and "/mdo" make the same keys. */
static int plen(const char *prefix)
{
    size_t n = strlen(prefix);

    while (n > 1 && prefix[n - 1] == '/')
        n--;
    return (int)n;
}

static int cb_prefix(struct buf *b, const char *prefix, const char *env, const char *service)
{
    return service ? buf_addf(b, "%.*s/%s/callbacks/%s/", plen(prefix), prefix, env, service)
                   : buf_addf(b, "%.*s/%s/callbacks/", plen(prefix), prefix, env);
}

static int secret_key(struct buf *b, const char *prefix, const char *env, const char *id)
{
    return buf_addf(b, "%.*s/%s/secrets/callbacks/%s", plen(prefix), prefix, env, id);
}

int callbacks_register(struct etcd *e, const char *prefix, const char *env, const char *service,
                       const char *url, const char *secret, const char *owner,
                       char id[CALLBACKS_ID_LEN + 1], struct mdo_err *err)
{
    struct buf key = BUF_INIT(4096), skey = BUF_INIT(4096), ref = BUF_INIT(4200);
    char created[32], *body = NULL;
    cJSON *o = cJSON_CreateObject();
    struct etcd_op ops[2];
    size_t nops = 0;
    int ret, applied = 0;

    callbacks_id(service, url, owner, id);
    rfc3339_now(created);
    ret = cb_prefix(&key, prefix, env, service) || buf_adds(&key, id) ||
                  secret_key(&skey, prefix, env, id) || buf_addf(&ref, "etcd:%s", skey.ptr)
              ? err_set(err, MDO_EUSAGE, "service name or prefix is too long")
              : 0;
    if (!ret && o) {
        cJSON_AddStringToObject(o, "id", id);
        cJSON_AddStringToObject(o, "service", service);
        cJSON_AddStringToObject(o, "url", url);
        if (secret)
            cJSON_AddStringToObject(o, "secret_ref", ref.ptr);
        else
            cJSON_AddNullToObject(o, "secret_ref");
        cJSON_AddStringToObject(o, "created", created);
        if (owner)
            cJSON_AddStringToObject(o, "owner", owner);
        else
            cJSON_AddNullToObject(o, "owner");
        body = json_print(o);
    }
    if (!ret && !body)
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    if (!ret) {
        ops[nops++] = (struct etcd_op){ETCD_PUT, key.ptr, body, ETCD_ANY, 0};
        /* no secret now: an old one must not linger for a record that says none */
        ops[nops++] = secret ? (struct etcd_op){ETCD_PUT, skey.ptr, secret, ETCD_ANY, 0}
                             : (struct etcd_op){ETCD_DEL, skey.ptr, NULL, ETCD_ANY, 0};
        ret = etcd_txn(e, ops, nops, &applied, err);
    }
    cJSON_Delete(o);
    free(body);
    buf_release(&key);
    buf_release(&skey);
    buf_release(&ref);
    return ret;
}

/* The key of registration id, found in the listing of every registration. */
static int find_registration(struct etcd *e, const char *prefix, const char *env, const char *id,
                             char **key, struct mdo_err *err)
{
    struct buf p = BUF_INIT(4096);
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    size_t idlen = strlen(id);
    int ret = cb_prefix(&p, prefix, env, NULL) ? err_set(err, MDO_EUSAGE, "prefix too long") : 0;

    *key = NULL;
    if (!ret)
        ret = etcd_get_prefix(e, p.ptr, &kvs, err);
    for (size_t i = 0; !ret && i < kvs.n && !*key; i++) {
        size_t kl = strlen(kvs.kv[i].key);
        if (kl > idlen && kvs.kv[i].key[kl - idlen - 1] == '/' &&
            !strcmp(kvs.kv[i].key + kl - idlen, id))
            *key = strdup(kvs.kv[i].key);
    }
    if (!ret && !*key)
        ret = err_set(err, MDO_ENOTFOUND, "no callback '%s' in environment '%s'", id, env);
    etcd_kvs_release(&kvs);
    buf_release(&p);
    return ret;
}

static int delete_registration(struct etcd *e, const char *prefix, const char *env, const char *key,
                               struct mdo_err *err)
{
    struct buf skey = BUF_INIT(4096);
    const char *slash = strrchr(key, '/');
    struct etcd_op ops[2];
    int applied, ret = secret_key(&skey, prefix, env, slash ? slash + 1 : key);

    if (ret)
        return err_set(err, MDO_EUSAGE, "prefix too long");
    ops[0] = (struct etcd_op){ETCD_DEL, key, NULL, ETCD_ANY, 0};
    ops[1] = (struct etcd_op){ETCD_DEL, skey.ptr, NULL, ETCD_ANY, 0};
    ret = etcd_txn(e, ops, 2, &applied, err);
    buf_release(&skey);
    return ret;
}

int callbacks_unregister(struct etcd *e, const char *prefix, const char *env, const char *id,
                         struct mdo_err *err)
{
    char *key = NULL;
    int ret = find_registration(e, prefix, env, id, &key, err);

    if (!ret)
        ret = delete_registration(e, prefix, env, key, err);
    free(key);
    return ret;
}

/* One registration as read from etcd. */
struct cb_reg {
    char *key, *id, *url, *secret_ref, *owner;
    time_t created;
};

static void regs_free(struct cb_reg *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++) {
        free(r[i].key);
        free(r[i].id);
        free(r[i].url);
        free(r[i].secret_ref);
        free(r[i].owner);
    }
    free(r);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Registrations of service (NULL: of every service). Bad records are logged and skipped. */
static int regs_read(struct callbacks *cb, const char *service, struct cb_reg **out, size_t *n,
                     struct mdo_err *err)
{
    struct buf p = BUF_INIT(4096);
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct cb_reg *r = NULL;
    size_t m = 0;
    int ret = cb_prefix(&p, cb->prefix, cb->cfg->environment, service)
                  ? err_set(err, MDO_EUSAGE, "service name too long")
                  : 0;

    *out = NULL;
    *n = 0;
    if (!ret)
        ret = etcd_get_prefix(cb->etcd, p.ptr, &kvs, err);
    if (!ret && kvs.n && !(r = calloc(kvs.n, sizeof(*r))))
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    for (size_t i = 0; !ret && i < kvs.n; i++) {
        cJSON *o = cJSON_ParseWithLength(kvs.kv[i].value, kvs.kv[i].len);
        const char *url = json_str(o, "url"), *slash = strrchr(kvs.kv[i].key, '/');
        if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))) {
            log_warn("callbacks", "bad registration skipped", "key=%s", kvs.kv[i].key);
            cJSON_Delete(o);
            continue;
        }
        r[m].key = strdup(kvs.kv[i].key);
        r[m].id = strdup(slash ? slash + 1 : kvs.kv[i].key);
        r[m].url = strdup(url);
        r[m].secret_ref = dup_or_null(json_str(o, "secret_ref"));
        r[m].owner = dup_or_null(json_str(o, "owner"));
        r[m].created = parse_rfc3339(json_str(o, "created"));
        cJSON_Delete(o);
        m++;
        if (!r[m - 1].key || !r[m - 1].id || !r[m - 1].url)
            ret = err_set(err, MDO_ENOMEM, "out of memory");
    }
    if (ret) {
        regs_free(r, m);
    } else {
        *out = r;
        *n = m;
    }
    if (!ret && !service) {
        pthread_mutex_lock(&cb->lock);
        cb->registered = (long)m;
        pthread_mutex_unlock(&cb->lock);
    }
    etcd_kvs_release(&kvs);
    buf_release(&p);
    return ret;
}

/* The secret a registration names, or NULL (none, or unreadable: logged). Caller frees. */
static char *secret_of(struct callbacks *cb, const struct cb_reg *r)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    char *s = NULL;

    if (!r->secret_ref)
        return NULL;
    if (!strncmp(r->secret_ref, "env:", 4)) {
        const char *v = getenv(r->secret_ref + 4);
        if (!v)
            log_warn("callbacks", "secret variable not set: sending unsigned", "id=%s var=%s",
                     r->id, r->secret_ref + 4);
        return v ? strdup(v) : NULL;
    }
    if (strncmp(r->secret_ref, "etcd:", 5)) {
        log_warn("callbacks", "unknown secret_ref kind: sending unsigned", "id=%s", r->id);
        return NULL;
    }
    if (etcd_get(cb->etcd, r->secret_ref + 5, &kvs, &err) || !kvs.n)
        log_warn("callbacks", "secret unreadable: sending unsigned", "id=%s err=\"%s\"", r->id,
                 err.code ? err.msg : "no such key");
    else
        s = strdup(kvs.kv[0].value);
    etcd_kvs_release(&kvs);
    return s;
}

/* ---- delivery workers ---- */

static void job_free(struct cb_job *j)
{
    if (!j)
        return;
    free(j->body);
    if (j->secret) {
        OPENSSL_cleanse(j->secret, strlen(j->secret));
        free(j->secret);
    }
    free(j);
}

/* One POST. 0 when the target answered 2xx. */
static int post(const struct cb_target *t, const struct cb_job *j, struct mdo_err *err)
{
    struct http_conn c = {0};
    struct http_resp resp = HTTP_RESP_INIT;
    char sig[128], hex[65];
    const char *headers[] = {sig, NULL};
    int ret;

    c.connect_timeout_ms = CB_TIMEOUT_MS < 3000 ? CB_TIMEOUT_MS : 3000;
    c.timeout_ms = CB_TIMEOUT_MS;
    if (j->secret && !callbacks_sign(j->secret, j->body, strlen(j->body), hex)) {
        snprintf(sig, sizeof(sig), "X-Mdo-Signature: sha256=%s", hex);
        c.headers = headers;
    }
    ret =
        http_request(&c, "POST", t->url, j->body, strlen(j->body), "application/json", &resp, err);
    if (!ret)
        ret = http_check(&resp, 200, 299, "POST", t->url, err);
    http_resp_release(&resp);
    return ret;
}

static void *worker_main(void *arg)
{
    struct cb_target *t = arg;
    struct callbacks *cb = t->cb;

    pthread_mutex_lock(&cb->lock);
    while (!cb->stop) {
        struct cb_job *j;
        int done = 0;

        if (!t->head) {
            pthread_cond_wait(&t->cond, &cb->lock);
            continue;
        }
        j = t->head;
        t->head = j->next;
        if (!t->head)
            t->tail = NULL;
        t->qlen--;
        t->busy = 1;
        for (unsigned attempt = 0; !done && !cb->stop; attempt++) {
            struct mdo_err err = MDO_ERR_INIT;
            long long t0 = now_ms();
            int ret;

            pthread_mutex_unlock(&cb->lock);
            ret = post(t, j, &err);
            pthread_mutex_lock(&cb->lock);
            if (!ret) {
                cb->sent++;
                log_info("callbacks", "delivered", "id=%s service=%s url=%s ms=%lld tries=%u",
                         j->id, j->service, t->url, now_ms() - t0, attempt + 1);
                done = 1;
            } else if (attempt + 1 >= CB_ATTEMPTS) {
                cb->failed++;
                log_warn("callbacks", "gave up", "id=%s service=%s url=%s tries=%u err=\"%s\"",
                         j->id, j->service, t->url, attempt + 1, err.msg);
                done = 1;
            } else {
                struct timespec until = deadline(CB_BACKOFF_MS << attempt);
                cb->retries++;
                log_debug("callbacks", "retrying", "id=%s url=%s err=\"%s\"", j->id, t->url,
                          err.msg);
                while (!cb->stop &&
                       pthread_cond_timedwait(&t->cond, &cb->lock, &until) != ETIMEDOUT)
                    ; /* woken for a new job: keep sleeping until the backoff is over */
            }
        }
        if (!done)
            cb->dropped++; /* stopping mid-retry */
        t->busy = 0;
        pthread_mutex_unlock(&cb->lock);
        job_free(j);
        pthread_mutex_lock(&cb->lock);
    }
    pthread_mutex_unlock(&cb->lock);
    http_thread_cleanup();
    return NULL;
}

/* Queues j on url's worker (started on first use). Called with cb->lock held; takes j. */
static void enqueue(struct callbacks *cb, const char *url, struct cb_job *j)
{
    struct cb_target *t;

    for (t = cb->targets; t && strcmp(t->url, url); t = t->next)
        ;
    if (!t) {
        t = calloc(1, sizeof(*t));
        if (t && !(t->url = strdup(url))) {
            free(t);
            t = NULL;
        }
        if (t) {
            t->cb = cb;
            cond_init(&t->cond);
            if (pthread_create(&t->th, NULL, worker_main, t)) {
                pthread_cond_destroy(&t->cond);
                free(t->url);
                free(t);
                t = NULL;
            }
        }
        if (!t) {
            log_error("callbacks", "cannot start a delivery worker", "url=%s", url);
            cb->dropped++;
            job_free(j);
            return;
        }
        t->next = cb->targets;
        cb->targets = t;
    }
    if (t->qlen >= CB_QUEUE_MAX) { /* a target that cannot keep up loses its oldest news */
        struct cb_job *old = t->head;
        t->head = old->next;
        if (!t->head)
            t->tail = NULL;
        t->qlen--;
        cb->dropped++;
        log_warn("callbacks", "queue full, oldest delivery dropped", "url=%s id=%s", url, old->id);
        job_free(old);
    }
    if (t->tail)
        t->tail->next = j;
    else
        t->head = j;
    t->tail = j;
    t->qlen++;
    pthread_cond_signal(&t->cond);
}

/* ---- the dispatcher ---- */

static struct cb_members *members_of(struct callbacks *cb, const char *service, int create)
{
    struct cb_members *m;

    for (m = cb->members; m && strcmp(m->service, service); m = m->next)
        ;
    if (!m && create && (m = calloc(1, sizeof(*m)))) {
        if (!(m->service = strdup(service))) {
            free(m);
            return NULL;
        }
        m->next = cb->members;
        cb->members = m;
    }
    return m;
}

/* Membership text of recs[from, to). */
static char *members_text(const struct reg_record *recs, unsigned from, unsigned to)
{
    struct buf b = BUF_INIT(0);

    for (unsigned i = from; i < to; i++)
        if (watch_member_line(&b, &recs[i])) {
            buf_release(&b);
            return NULL;
        }
    return buf_detach(&b);
}

/* The baseline: every service's membership as the registry holds it now. */
static int baseline(struct callbacks *cb, struct mdo_err *err)
{
    struct reg_record *recs = NULL;
    unsigned n = 0, i = 0;
    int ret =
        reg_list(cb->etcd, cb->prefix, cb->cfg->environment, NULL, &recs, &n, NULL, NULL, err);

    if (ret)
        return ret;
    pthread_mutex_lock(&cb->lock);
    while (i < n) {
        unsigned j = i;
        struct cb_members *m;
        while (j < n && !strcmp(recs[j].service, recs[i].service))
            j++;
        m = members_of(cb, recs[i].service, 1);
        if (m) {
            free(m->text);
            m->text = members_text(recs, i, j);
        }
        i = j;
    }
    cb->have_baseline = 1;
    pthread_mutex_unlock(&cb->lock);
    reg_records_free(recs, n);
    return 0;
}

/* Deletes the registrations owned by the containers named in names (space-separated). */
static void remove_owned(struct callbacks *cb, const char *names)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cb_reg *r = NULL;
    size_t n = 0;

    if (!*names || regs_read(cb, NULL, &r, &n, &err))
        return;
    for (size_t i = 0; i < n; i++) {
        size_t ol = r[i].owner ? strlen(r[i].owner) : 0;
        const char *p = names;
        int gone = 0;
        while (ol && !gone && (p = strstr(p, r[i].owner))) {
            gone = (p == names || p[-1] == ' ') && (p[ol] == ' ' || !p[ol]);
            p += ol;
        }
        if (!gone)
            continue;
        if (delete_registration(cb->etcd, cb->prefix, cb->cfg->environment, r[i].key, &err)) {
            log_warn("callbacks", "cannot remove a vanished owner's callback", "id=%s err=\"%s\"",
                     r[i].id, err.msg);
            continue;
        }
        log_info("callbacks", "removed: its owner is gone", "id=%s owner=%s url=%s", r[i].id,
                 r[i].owner, r[i].url);
        pthread_mutex_lock(&cb->lock);
        cb->owner_removed++;
        if (cb->registered > 0)
            cb->registered--;
        pthread_mutex_unlock(&cb->lock);
    }
    regs_free(r, n);
}

/* Registrations whose owner is in no service (for longer than the grace): removed. Catches
 * owners that went away while no subscriber watched. */
static void sweep(struct callbacks *cb)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct reg_record *recs = NULL;
    struct cb_reg *r = NULL;
    struct buf gone = BUF_INIT(0);
    unsigned nrec = 0;
    size_t n = 0, old = 0;
    time_t now = time(NULL);

    if (regs_read(cb, NULL, &r, &n, &err))
        return; /* also recounts the registrations for /metrics */
    for (size_t i = 0; i < n; i++)
        old += r[i].owner && now - r[i].created >= CB_OWNER_GRACE;
    if (!old || reg_list(cb->etcd, cb->prefix, cb->cfg->environment, NULL, &recs, &nrec, NULL, NULL,
                         &err)) {
        regs_free(r, n);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        if (!r[i].owner || now - r[i].created < CB_OWNER_GRACE)
            continue;
        for (unsigned k = 0; k < nrec && !found; k++)
            found = !strcmp(recs[k].container, r[i].owner);
        if (!found) {
            if (gone.len)
                buf_addc(&gone, ' ');
            buf_adds(&gone, r[i].owner);
        }
    }
    regs_free(r, n);
    reg_records_free(recs, nrec);
    remove_owned(cb, buf_str(&gone));
    buf_release(&gone);
}

/* One service that may have changed. 0 when handled (delivered or nothing to do). */
static int process(struct callbacks *cb, const char *service)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct reg_record *recs = NULL;
    struct watch_diff d = WATCH_DIFF_INIT;
    struct cb_reg *r = NULL;
    struct cb_members *m;
    char *text = NULL, *body = NULL, *old = NULL;
    unsigned n = 0;
    size_t nr = 0;
    int64_t rev = 0;
    int ret, differs;

    ret =
        reg_list(cb->etcd, cb->prefix, cb->cfg->environment, service, &recs, &n, &rev, NULL, &err);
    if (ret) {
        log_warn("callbacks", "cannot read the service, will retry", "service=%s err=\"%s\"",
                 service, err.msg);
        return ret;
    }
    text = members_text(recs, 0, n);
    pthread_mutex_lock(&cb->lock);
    m = members_of(cb, service, 0);
    old = m && m->text ? strdup(m->text) : NULL;
    pthread_mutex_unlock(&cb->lock);
    differs = text ? watch_members_diff(old, text, &d) : -MDO_ENOMEM;
    if (differs <= 0) {
        ret = differs;
        goto out;
    }
    /* the owners that left lose their registrations before anything is sent to them */
    remove_owned(cb, buf_str(&d.names_removed));
    ret = regs_read(cb, service, &r, &nr, &err);
    if (ret) {
        log_warn("callbacks", "cannot read registrations, will retry", "service=%s err=\"%s\"",
                 service, err.msg);
        goto out;
    }
    body = callbacks_body(cb->cfg->environment, service, rev, recs, n, &d);
    if (!body) {
        ret = -MDO_ENOMEM;
        goto out;
    }
    log_info("callbacks", "membership changed",
             "service=%s instances=%u added=%u removed=%u "
             "changed=%u targets=%zu revision=%lld",
             service, d.count, d.added, d.removed, d.changed, nr, (long long)rev);
    for (size_t i = 0; i < nr; i++) {
        struct cb_job *j = calloc(1, sizeof(*j));
        if (j && !(j->body = strdup(body))) {
            free(j);
            j = NULL;
        }
        if (!j) {
            ret = -MDO_ENOMEM;
            break;
        }
        j->secret = secret_of(cb, &r[i]);
        snprintf(j->id, sizeof(j->id), "%s", r[i].id);
        snprintf(j->service, sizeof(j->service), "%s", service);
        pthread_mutex_lock(&cb->lock);
        enqueue(cb, r[i].url, j);
        pthread_mutex_unlock(&cb->lock);
    }
    pthread_mutex_lock(&cb->lock);
    cb->changes++;
    m = members_of(cb, service, 1);
    if (m) {
        free(m->text);
        m->text = text;
        text = NULL;
    }
    pthread_mutex_unlock(&cb->lock);
out:
    free(body);
    free(text);
    free(old);
    regs_free(r, nr);
    watch_diff_release(&d);
    reg_records_free(recs, n);
    return ret;
}

static void *dispatcher_main(void *arg)
{
    struct callbacks *cb = arg;
    long long next_sweep = now_ms() + 2000, retry_at = 0;
    struct buf retry = BUF_INIT(0); /* services whose change could not be read yet */

    pthread_mutex_lock(&cb->lock);
    while (!cb->stop) {
        struct buf todo = BUF_INIT(0);
        long long now = now_ms(), wait_until = next_sweep;
        struct timespec until;

        if (retry.len && retry_at < wait_until)
            wait_until = retry_at;
        if (!cb->pending.len && now < wait_until) {
            until = deadline((long)(wait_until - now));
            pthread_cond_timedwait(&cb->cond, &cb->lock, &until);
            continue;
        }
        todo = cb->pending;
        cb->pending = (struct buf)BUF_INIT(0);
        pthread_mutex_unlock(&cb->lock);
        if (retry.len && now >= retry_at) { /* merged: a name may be in both */
            buf_add(&todo, retry.ptr, retry.len);
            buf_reset(&retry);
        }
        if (!cb->have_baseline) {
            struct mdo_err err = MDO_ERR_INIT;
            if (baseline(cb, &err))
                log_warn("callbacks", "cannot read the registry yet", "err=\"%s\"", err.msg);
        }
        for (char *p = todo.ptr, *nl; cb->have_baseline && p && (nl = strchr(p, '\n'));
             p = nl + 1) {
            *nl = '\0';
            if (!has_line(buf_str(&retry), p) && process(cb, p)) {
                buf_adds(&retry, p);
                buf_addc(&retry, '\n');
                retry_at = now_ms() + CB_RETRY_MS;
            }
        }
        if (!cb->have_baseline && todo.len) { /* keep them for when the registry answers */
            buf_add(&retry, todo.ptr, todo.len);
            retry_at = now_ms() + CB_RETRY_MS;
        }
        buf_release(&todo);
        if (now_ms() >= next_sweep) {
            sweep(cb);
            next_sweep = now_ms() + CB_SWEEP_S * 1000L;
        }
        pthread_mutex_lock(&cb->lock);
    }
    pthread_mutex_unlock(&cb->lock);
    buf_release(&retry);
    http_thread_cleanup();
    return NULL;
}

/* ---- the interface ---- */

int callbacks_start(struct callbacks **out, const struct cfg *cfg, struct etcd *etcd,
                    struct mdo_err *err)
{
    struct callbacks *cb = calloc(1, sizeof(*cb));
    struct mdo_err berr = MDO_ERR_INIT;

    *out = NULL;
    if (!cb || !(cb->prefix = trimmed_prefix(cfg->etcd.prefix ? cfg->etcd.prefix : "/mdo"))) {
        free(cb);
        return err_set(err, MDO_ENOMEM, "out of memory");
    }
    cb->cfg = cfg;
    cb->etcd = etcd;
    cb->registered = -1;
    cb->pending = (struct buf)BUF_INIT(0);
    pthread_mutex_init(&cb->lock, NULL);
    cond_init(&cb->cond);
    /* before the keeper's first pass, so the changes that pass makes are seen as changes;
     * when etcd does not answer yet, the dispatcher takes it later */
    if (baseline(cb, &berr))
        log_warn("callbacks", "cannot read the registry yet, will retry", "err=\"%s\"", berr.msg);
    if (pthread_create(&cb->dispatcher, NULL, dispatcher_main, cb)) {
        int e = errno;
        callbacks_stop(cb);
        return err_set(err, MDO_EFAIL, "cannot start the callbacks thread: %s", strerror(e));
    }
    cb->have_dispatcher = 1;
    *out = cb;
    return 0;
}

void callbacks_stop(struct callbacks *cb)
{
    struct cb_target *t;
    struct cb_members *m;

    if (!cb)
        return;
    pthread_mutex_lock(&cb->lock);
    cb->stop = 1;
    pthread_cond_broadcast(&cb->cond);
    for (t = cb->targets; t; t = t->next)
        pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&cb->lock);
    if (cb->have_dispatcher)
        pthread_join(cb->dispatcher, NULL);
    for (t = cb->targets; t; t = t->next)
        pthread_join(t->th, NULL);
    while ((t = cb->targets)) {
        cb->targets = t->next;
        while (t->head) {
            struct cb_job *j = t->head;
            t->head = j->next;
            cb->dropped++;
            job_free(j);
        }
        pthread_cond_destroy(&t->cond);
        free(t->url);
        free(t);
    }
    if (cb->dropped)
        log_info("callbacks", "stopped", "dropped=%lu", cb->dropped);
    while ((m = cb->members)) {
        cb->members = m->next;
        free(m->service);
        free(m->text);
        free(m);
    }
    buf_release(&cb->pending);
    pthread_cond_destroy(&cb->cond);
    pthread_mutex_destroy(&cb->lock);
    free(cb->prefix);
    free(cb);
}

void callbacks_changed(void *ctx, const char *service)
{
    struct callbacks *cb = ctx;

    if (!cb || !*service || strchr(service, '\n'))
        return;
    pthread_mutex_lock(&cb->lock);
    if (!has_line(buf_str(&cb->pending), service) && !buf_adds(&cb->pending, service))
        buf_addc(&cb->pending, '\n');
    pthread_cond_signal(&cb->cond);
    pthread_mutex_unlock(&cb->lock);
}

/* ---- HTTP routes ---- */

/* Counts the registrations again for /metrics (regs_read does it). */
static void recount(struct callbacks *cb)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cb_reg *r = NULL;
    size_t n = 0;

    if (!regs_read(cb, NULL, &r, &n, &err))
        regs_free(r, n);
}

static void answer(struct server_resp *resp, int status, const char *msg)
{
    resp->status = status;
    buf_adds(&resp->body, "{\"error\":\"");
    buf_add_json_escaped(&resp->body, msg);
    buf_adds(&resp->body, "\"}\n");
}

/* Constant-time check of "Bearer <token>" when a token is configured. */
static int authorized(const struct callbacks *cb, const struct server_req *req)
{
    const char *tok = cb->cfg->subscriber.token, *h = req->authorization;
    size_t n;

    if (!tok || !*tok)
        return 1;
    if (!h || strncmp(h, "Bearer ", 7))
        return 0;
    h += 7;
    n = strlen(tok);
    return strlen(h) == n && !CRYPTO_memcmp(h, tok, n);
}

static int valid_name(const char *s)
{
    return s && *s && !strchr(s, '/') && !strchr(s, '\n') && strlen(s) < 128;
}

static int valid_url(const char *s)
{
    if (!s || strlen(s) > 2000 || (strncmp(s, "http://", 7) && strncmp(s, "https://", 8)))
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ')
            return 0;
    return 1;
}

static void route_post(struct callbacks *cb, const struct server_req *req, struct server_resp *resp)
{
    struct mdo_err err = MDO_ERR_INIT;
    cJSON *o = cJSON_ParseWithLength(req->body, req->body_len);
    const char *svc = json_str(o, "service"), *url = json_str(o, "url"),
               *secret = json_str(o, "secret"), *owner = json_str(o, "owner");
    char id[CALLBACKS_ID_LEN + 1];

    if (!cJSON_IsObject(o))
        answer(resp, 400,
               "the body must be a JSON object {\"service\",\"url\"[,\"secret\"]"
               "[,\"owner\"]}");
    else if (!valid_name(svc))
        answer(resp, 400, "'service' must be a service name");
    else if (!valid_url(url))
        answer(resp, 400, "'url' must be an http:// or https:// URL");
    else if (owner && !valid_name(owner))
        answer(resp, 400, "'owner' must be a container name");
    else if (secret && !*secret)
        answer(resp, 400, "'secret' must not be empty");
    else if (callbacks_register(cb->etcd, cb->prefix, cb->cfg->environment, svc, url, secret, owner,
                                id, &err))
        answer(resp, 503, err.msg);
    else {
        resp->status = 201;
        buf_addf(&resp->body, "{\"id\":\"%s\",\"service\":\"", id);
        buf_add_json_escaped(&resp->body, svc);
        buf_adds(&resp->body, "\",\"url\":\"");
        buf_add_json_escaped(&resp->body, url);
        buf_adds(&resp->body, "\"}\n");
        log_info("callbacks", "registered", "id=%s service=%s url=%s signed=%d", id, svc, url,
                 secret != NULL);
        recount(cb);
    }
    cJSON_Delete(o);
}

static void route_list(struct callbacks *cb, struct server_resp *resp)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cb_reg *r = NULL;
    size_t n = 0;
    char ts[32];

    if (regs_read(cb, NULL, &r, &n, &err)) {
        answer(resp, 503, err.msg);
        return;
    }
    buf_adds(&resp->body, "{\"callbacks\":[");
    for (size_t i = 0; i < n; i++) {
        const char *svc_end = strrchr(r[i].key, '/'), *svc = svc_end;
        struct tm tm;
        while (svc > r[i].key && svc[-1] != '/')
            svc--;
        gmtime_r(&r[i].created, &tm);
        strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
        buf_addf(&resp->body, "%s{\"id\":\"", i ? "," : "");
        buf_add_json_escaped(&resp->body, r[i].id);
        buf_adds(&resp->body, "\",\"service\":\"");
        buf_add(&resp->body, svc, (size_t)(svc_end - svc));
        buf_adds(&resp->body, "\",\"url\":\"");
        buf_add_json_escaped(&resp->body, r[i].url);
        buf_addf(&resp->body, "\",\"signed\":%s,\"created\":\"%s\",\"owner\":",
                 r[i].secret_ref ? "true" : "false", ts);
        if (r[i].owner) {
            buf_addc(&resp->body, '"');
            buf_add_json_escaped(&resp->body, r[i].owner);
            buf_adds(&resp->body, "\"}");
        } else {
            buf_adds(&resp->body, "null}");
        }
    }
    buf_adds(&resp->body, "]}\n");
    regs_free(r, n);
}

static void route_callbacks(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    struct callbacks *cb = ctx;
    const char *id = !strncmp(req->path, "/v1/callbacks/", 14) ? req->path + 14 : NULL;
    struct mdo_err err = MDO_ERR_INIT;

    if (id && !*id)
        id = NULL;
    if (!authorized(cb, req)) {
        answer(resp, 401, "a bearer token is required (subscriber.token)");
        return;
    }
    if (strcmp(req->path, "/v1/callbacks") && strcmp(req->path, "/v1/callbacks/") && !id) {
        answer(resp, 404, "no such resource");
    } else if (!strcmp(req->method, "POST") && !id) {
        route_post(cb, req, resp);
    } else if (!strcmp(req->method, "GET") && !id) {
        route_list(cb, resp);
    } else if (!strcmp(req->method, "DELETE") && id) {
        if (strchr(id, '/') || strlen(id) > 64) {
            answer(resp, 404, "no such callback");
        } else if (callbacks_unregister(cb->etcd, cb->prefix, cb->cfg->environment, id, &err)) {
            answer(resp, err.code == MDO_ENOTFOUND ? 404 : 503, err.msg);
        } else {
            buf_adds(&resp->body, "{\"deleted\":\"");
            buf_add_json_escaped(&resp->body, id);
            buf_adds(&resp->body, "\"}\n");
            recount(cb);
        }
    } else {
        answer(resp, 405,
               "method not allowed (POST or GET /v1/callbacks, DELETE "
               "/v1/callbacks/ID)");
    }
}

void callbacks_routes(struct callbacks *cb, struct server *srv)
{
    server_route(srv, "/v1/callbacks", route_callbacks, cb);
}

static void metric(struct buf *b, const char *name, const char *type, const char *help, double v)
{
    buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

void callbacks_metrics(struct callbacks *cb, struct buf *out)
{
    unsigned long sent, failed, retries, dropped, removed, changes, pending = 0;
    long registered;

    if (!cb)
        return;
    pthread_mutex_lock(&cb->lock);
    sent = cb->sent;
    failed = cb->failed;
    retries = cb->retries;
    dropped = cb->dropped;
    removed = cb->owner_removed;
    changes = cb->changes;
    registered = cb->registered;
    for (struct cb_target *t = cb->targets; t; t = t->next)
        pending += t->qlen + (unsigned)t->busy;
    pthread_mutex_unlock(&cb->lock);
    metric(out, "mdo_callbacks_sent_total", "counter", "Callback deliveries answered 2xx.",
           (double)sent);
    metric(out, "mdo_callbacks_failed_total", "counter",
           "Callback deliveries given up after every retry (or dropped).",
           (double)(failed + dropped));
    metric(out, "mdo_callbacks_retries_total", "counter", "Callback delivery retries.",
           (double)retries);
    metric(out, "mdo_callbacks_dropped_total", "counter",
           "Deliveries dropped unsent (queue full, or stopping).", (double)dropped);
    metric(out, "mdo_callbacks_registered", "gauge",
           "Callback registrations in etcd (-1 until counted).", (double)registered);
    metric(out, "mdo_callbacks_pending", "gauge", "Deliveries queued or in flight.",
           (double)pending);
    metric(out, "mdo_callbacks_owner_removed_total", "counter",
           "Registrations removed because their owner container is gone.", (double)removed);
    metric(out, "mdo_membership_changes_total", "counter",
           "Service membership changes seen by the callbacks.", (double)changes);
}
