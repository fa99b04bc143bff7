/* cbsend.c - callback deliveries: the body, its signature, one worker and queue per target */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <cjson/cJSON.h>
#include "cbreg.h"
#include "cbsend.h"
#include "clock.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "url.h"

#define CB_BACKOFF_MS     500  /* first retry delay; doubles */
#define CB_BACKOFF_CAP_MS 8000 /* CB_BACKOFF_MS << (CBSEND_ATTEMPTS - 1) */
#define CB_TIMEOUT_MS     5000 /* one POST, connect included */
#define CB_CONNECT_MS     3000

struct cb_job {
    char *body;
    char *secret; /* or NULL */
    char id[CBREG_ID_LEN + 1];
    char service[128];
    struct cb_job *next;
};

struct cb_target {
    struct cbsend *s;
    char *url, *shown; /* shown: for logs (url_shown) */
    pthread_t th;
    pthread_cond_t cond;
    struct cb_job *head, *tail;
    unsigned qlen;
    int busy; /* a delivery is in flight */
    struct cb_target *next;
};

struct cbsend {
    pthread_mutex_t lock;
    int stop;
    struct cb_target *targets;
    unsigned long sent, failed, retries, dropped;
};

/* ---- pure parts ---- */

int cbsend_sign(const char *secret, const char *body, size_t len, char hex[65])
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

static int add_names(cJSON *o, const char *key, const char *const *names, unsigned n)
{
    cJSON *a = cJSON_AddArrayToObject(o, key);

    for (unsigned i = 0; a && i < n; i++) {
        cJSON *s = cJSON_CreateString(names[i]);
        if (!s || !cJSON_AddItemToArray(a, s)) {
            cJSON_Delete(s);
            return 0;
        }
    }
    return a != NULL;
}

char *cbsend_body(const char *env, const char *service, int64_t revision,
                  const struct reg_record *recs, unsigned n, const struct reg_members_diff *d)
{
    cJSON *o = cJSON_CreateObject(), *inst;
    char *s = NULL;
    int ok = o && cJSON_AddStringToObject(o, "environment", env) &&
             cJSON_AddStringToObject(o, "service", service) &&
             cJSON_AddNumberToObject(o, "revision", (double)revision) &&
             (inst = cJSON_AddArrayToObject(o, "instances"));

    for (unsigned i = 0; ok && i < n; i++) {
        cJSON *r = reg_record_cjson(&recs[i]);
        if (!r || !cJSON_AddItemToArray(inst, r)) {
            cJSON_Delete(r);
            ok = 0;
        }
    }
    ok = ok && add_names(o, "added", d->names_added, d->added) &&
         add_names(o, "removed", d->names_removed, d->removed) &&
         add_names(o, "changed", d->names_changed, d->changed);
    if (ok)
        s = json_print(o);
    cJSON_Delete(o);
    return s;
}

/* ---- workers ---- */

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

    c.connect_timeout_ms = CB_CONNECT_MS < CB_TIMEOUT_MS ? CB_CONNECT_MS : CB_TIMEOUT_MS;
    c.timeout_ms = CB_TIMEOUT_MS;
    if (j->secret && !cbsend_sign(j->secret, j->body, strlen(j->body), hex)) {
        snprintf(sig, sizeof(sig), "X-Mdo-Signature: sha256=%s", hex);
        c.headers = headers;
    }
    ret =
        http_request(&c, "POST", t->url, j->body, strlen(j->body), "application/json", &resp, err);
    if (!ret)
        ret = http_check(&resp, 200, 299, "POST", t->shown, err);
    http_resp_release(&resp);
    return ret ? err_from(err, MDO_SRC_CALLBACK) : 0;
}

static void *worker_main(void *arg)
{
    struct cb_target *t = arg;
    struct cbsend *s = t->s;

    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        struct cb_job *j;
        int done = 0;

        if (!t->head) {
            pthread_cond_wait(&t->cond, &s->lock);
            continue;
        }
        j = t->head;
        t->head = j->next;
        if (!t->head)
            t->tail = NULL;
        t->qlen--;
        t->busy = 1;
        for (unsigned attempt = 0; !done && !s->stop; attempt++) {
            struct mdo_err err = MDO_ERR_INIT;
            int64_t t0 = clock_now_ms();
            int ret;

            pthread_mutex_unlock(&s->lock);
            ret = post(t, j, &err);
            pthread_mutex_lock(&s->lock);
            if (!ret) {
                s->sent++;
                log_info("callbacks", "delivered", "id=%s service=%s url=%s ms=%lld tries=%u",
                         j->id, j->service, t->shown, (long long)(clock_now_ms() - t0),
                         attempt + 1);
                done = 1;
            } else if (attempt + 1 >= CBSEND_ATTEMPTS) {
                s->failed++;
                log_warn("callbacks", "gave up", "id=%s service=%s url=%s tries=%u err=\"%s\"",
                         j->id, j->service, t->shown, attempt + 1, err.msg);
                done = 1;
            } else {
                struct timespec until = clock_timespec(
                    clock_deadline_ms(clock_backoff_ms(attempt, CB_BACKOFF_MS, CB_BACKOFF_CAP_MS)));
                s->retries++;
                log_debug("callbacks", "retrying", "id=%s url=%s err=\"%s\"", j->id, t->shown,
                          err.msg);
                while (!s->stop && pthread_cond_timedwait(&t->cond, &s->lock, &until) != ETIMEDOUT)
                    ; /* woken for a new job: keep sleeping until the backoff is over */
            }
        }
        if (!done)
            s->dropped++; /* stopping mid-retry */
        t->busy = 0;
        pthread_mutex_unlock(&s->lock);
        job_free(j);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    http_thread_cleanup();
    return NULL;
}

static void target_free(struct cb_target *t)
{
    pthread_cond_destroy(&t->cond);
    free(t->url);
    free(t->shown);
    free(t);
}

/* url's target, started on first use; NULL when it cannot be. Called with s->lock held. */
static struct cb_target *target_of(struct cbsend *s, const char *url)
{
    struct cb_target *t;

    for (t = s->targets; t && strcmp(t->url, url); t = t->next)
        ;
    if (t)
        return t;
    if (!(t = calloc(1, sizeof(*t))))
        return NULL;
    t->s = s;
    t->url = strdup(url);
    t->shown = url_shown(url, URL_NO_QUERY);
    if (!t->url || !t->shown || clock_cond_init(&t->cond)) {
        free(t->url);
        free(t->shown);
        free(t);
        return NULL;
    }
    if (pthread_create(&t->th, NULL, worker_main, t)) {
        target_free(t);
        return NULL;
    }
    t->next = s->targets;
    s->targets = t;
    return t;
}

/* Queues j on url's worker. Called with s->lock held; takes j. */
static void enqueue(struct cbsend *s, const char *url, struct cb_job *j)
{
    struct cb_target *t = target_of(s, url);

    if (!t) {
        char *shown = url_shown(url, URL_NO_QUERY);
        log_error("callbacks", "cannot start a delivery worker", "url=%s", shown ? shown : "");
        free(shown);
        s->dropped++;
        job_free(j);
        return;
    }
    if (t->qlen >= CBSEND_QUEUE_MAX) { /* a target that cannot keep up loses its oldest news */
        struct cb_job *old = t->head;
        t->head = old->next;
        if (!t->head)
            t->tail = NULL;
        t->qlen--;
        s->dropped++;
        log_warn("callbacks", "queue full, oldest delivery dropped", "url=%s id=%s", t->shown,
                 old->id);
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

int cbsend_queue(struct cbsend *s, const char *url, const char *id, const char *service,
                 const char *body, char *secret)
{
    struct cb_job *j = calloc(1, sizeof(*j));

    if (j && !(j->body = strdup(body))) {
        free(j);
        j = NULL;
    }
    if (!j) {
        if (secret) {
            OPENSSL_cleanse(secret, strlen(secret));
            free(secret);
        }
        pthread_mutex_lock(&s->lock);
        s->dropped++;
        pthread_mutex_unlock(&s->lock);
        return -MDO_ENOMEM;
    }
    j->secret = secret;
    snprintf(j->id, sizeof(j->id), "%s", id);
    snprintf(j->service, sizeof(j->service), "%s", service);
    pthread_mutex_lock(&s->lock);
    enqueue(s, url, j);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

struct cbsend *cbsend_new(void)
{
    struct cbsend *s = calloc(1, sizeof(*s));

    if (s && pthread_mutex_init(&s->lock, NULL)) {
        free(s);
        s = NULL;
    }
    return s;
}

void cbsend_free(struct cbsend *s)
{
    struct cb_target *t;

    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    for (t = s->targets; t; t = t->next)
        pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&s->lock);
    for (t = s->targets; t; t = t->next)
        pthread_join(t->th, NULL);
    while ((t = s->targets)) {
        s->targets = t->next;
        while (t->head) {
            struct cb_job *j = t->head;
            t->head = j->next;
            s->dropped++;
            job_free(j);
        }
        target_free(t);
    }
    if (s->dropped)
        log_info("callbacks", "stopped", "dropped=%lu", s->dropped);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void cbsend_stats(struct cbsend *s, struct cbsend_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    out->sent = s->sent;
    out->failed = s->failed;
    out->retries = s->retries;
    out->dropped = s->dropped;
    for (struct cb_target *t = s->targets; t; t = t->next)
        out->pending += t->qlen + (unsigned)t->busy;
    pthread_mutex_unlock(&s->lock);
}
