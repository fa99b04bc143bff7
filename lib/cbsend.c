/* cbsend.c - callback deliveries: the body, its signature, a fixed pool of workers over
 * per-target queues */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <cjson/cJSON.h>
#include "cbpolicy.h"
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
#define CB_IDLE_MS        60000 /* a target with nothing queued for this long is forgotten */
#define CB_STOP_MS        CBSEND_STOP_MS

struct cb_job {
    char *body;
    char *secret; /* or NULL */
    char id[CBREG_ID_LEN + 1];
    char service[128];
    unsigned attempts; /* made so far */
    struct cb_job *next;
};

/* One target URL: its FIFO, and whether a worker has it (one delivery per target at a time). */
struct cb_target {
    char *url, *shown; /* shown: for logs (url_shown) */
    struct cb_job *head, *tail;
    unsigned qlen;
    int busy;
    int64_t not_before; /* retry backoff: the head waits until then (monotonic ms) */
    int64_t idle_since;
    struct cb_target *next;
};

struct cbsend {
    pthread_mutex_t lock;
    pthread_cond_t work; /* a job was queued, or stop */
    pthread_cond_t gone; /* a worker left */
    int stop;
    unsigned refs; /* the owner and each running worker: the last one out frees */
    struct cbpolicy *policy;
    struct cb_target *targets; /* served round-robin: a target served moves to the end */
    unsigned nworkers;
    pthread_t th[CBSEND_WORKERS_MAX];
    int exited[CBSEND_WORKERS_MAX];
    unsigned long sent, failed, retries, dropped, denied, coalesced;
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

static void target_free(struct cb_target *t)
{
    while (t->head) {
        struct cb_job *j = t->head;
        t->head = j->next;
        job_free(j);
    }
    free(t->url);
    free(t->shown);
    free(t);
}

static void destroy(struct cbsend *s)
{
    struct cb_target *t;

    while ((t = s->targets)) {
        s->targets = t->next;
        target_free(t);
    }
    cbpolicy_free(s->policy);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->gone);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* One attempt: the target's address checked and pinned (cbpolicy.h), then one POST. 0 when the
 * target answered 2xx; *denied when the policy refuses it (no retry can help). */
static int attempt(struct cbsend *s, const struct cb_target *t, const struct cb_job *j, int *denied,
                   struct mdo_err *err)
{
    struct http_conn c = {0};
    struct http_resp resp = HTTP_RESP_INIT;
    struct cbpolicy_pin pin;
    char sig[128], hex[65];
    const char *headers[] = {sig, NULL};
    int ret = cbpolicy_check_url(s->policy, t->url, CBPOLICY_LOOKUP_MS, &pin, err);

    *denied = ret == -MDO_EUSAGE;
    if (ret)
        return err_from(err, MDO_SRC_CALLBACK);
    c.connect_timeout_ms = CB_CONNECT_MS < CB_TIMEOUT_MS ? CB_CONNECT_MS : CB_TIMEOUT_MS;
    c.timeout_ms = CB_TIMEOUT_MS;
    c.connect_to = pin.connect_to; /* no second lookup: the address checked is the one used */
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

/* A target with a job due, moved to the end of the list (round-robin); idle targets are freed
 * on the way. NULL when none is due: *wake is when the next one will be. Called with s->lock. */
static struct cb_target *pick(struct cbsend *s, int64_t now, int64_t *wake)
{
    struct cb_target **pp = &s->targets, *t, *found = NULL, **at = NULL;

    *wake = now + CB_STOP_MS; /* also how often idle targets are looked for */
    while ((t = *pp)) {
        if (!t->head && !t->busy && now - t->idle_since >= CB_IDLE_MS) {
            *pp = t->next;
            target_free(t);
            continue;
        }
        if (!found && t->head && !t->busy && t->not_before <= now) {
            found = t;
            at = pp;
        } else if (t->head && !t->busy && t->not_before < *wake) {
            *wake = t->not_before;
        }
        pp = &t->next;
    }
    if (found && found->next) { /* to the end: *pp is the list's last next pointer now */
        *at = found->next;
        found->next = NULL;
        for (pp = &s->targets; *pp; pp = &(*pp)->next)
            ;
        *pp = found;
    }
    return found;
}

/* A job of id queued on t (a newer one than the job in flight)? */
static int has_newer(const struct cb_target *t, const char *id)
{
    for (const struct cb_job *q = t->head; q; q = q->next)
        if (!strcmp(q->id, id))
            return 1;
    return 0;
}

static void *worker_main(void *arg)
{
    struct cbsend *s = arg;

    pthread_mutex_lock(&s->lock);
    while (!s->stop) {
        struct mdo_err err = MDO_ERR_INIT;
        int64_t now = clock_now_ms(), wake, t0;
        struct cb_target *t = pick(s, now, &wake);
        struct cb_job *j;
        char id[CBREG_ID_LEN + 1], service[128], *shown;
        unsigned tries;
        int ret, denied = 0;
        enum { SENT, DENIED, GAVE_UP, RETRY, SUPERSEDED } outcome;

        if (!t) {
            struct timespec until = clock_timespec(wake);
            pthread_cond_timedwait(&s->work, &s->lock, &until);
            continue;
        }
        j = t->head; /* off the queue while in flight: a newer job of its id queues behind */
        t->head = j->next;
        if (!t->head)
            t->tail = NULL;
        j->next = NULL;
        t->qlen--;
        t->busy = 1;
        pthread_mutex_unlock(&s->lock);

        t0 = clock_now_ms();
        ret = attempt(s, t, j, &denied, &err);
        j->attempts++;

        pthread_mutex_lock(&s->lock);
        t->busy = 0;
        t->idle_since = clock_now_ms();
        if (s->stop) { /* what came back is counted; nothing is tried again */
            if (ret)
                s->dropped++;
            else
                s->sent++;
            pthread_mutex_unlock(&s->lock);
            job_free(j);
            pthread_mutex_lock(&s->lock);
            break;
        }
        outcome = !ret                             ? SENT
                  : denied                         ? DENIED
                  : j->attempts >= CBSEND_ATTEMPTS ? GAVE_UP
                  : has_newer(t, j->id)            ? SUPERSEDED
                                                   : RETRY;
        switch (outcome) {
        case SENT:
            s->sent++;
            t->not_before = 0;
            break;
        case DENIED:
            s->denied++;
            s->failed++;
            break;
        case GAVE_UP:
            s->failed++;
            t->not_before = 0;
            break;
        case SUPERSEDED: /* the newer membership goes instead, after the backoff */
        case RETRY:
            t->not_before =
                t->idle_since + clock_backoff_ms(j->attempts - 1, CB_BACKOFF_MS, CB_BACKOFF_CAP_MS);
            if (outcome == SUPERSEDED) {
                s->coalesced++;
            } else { /* back at the head: deliveries to a target keep their order */
                s->retries++;
                j->next = t->head;
                t->head = j;
                if (!t->tail)
                    t->tail = j;
                t->qlen++;
            }
            break;
        }
        /* for the log, unlocked: a job queued again is another worker's from now on */
        memcpy(id, j->id, sizeof(id));
        memcpy(service, j->service, sizeof(service));
        tries = j->attempts;
        shown = strdup(t->shown);
        if (outcome == RETRY)
            j = NULL;
        pthread_mutex_unlock(&s->lock);
        job_free(j);
        if (outcome == SENT)
            log_info("callbacks", "delivered", "id=%s service=%s url=%s ms=%lld tries=%u", id,
                     service, shown ? shown : "", (long long)(clock_now_ms() - t0), tries);
        else if (outcome == DENIED)
            log_warn("callbacks", "target refused by the callback policy",
                     "id=%s service=%s err=\"%s\"", id, service, err.msg);
        else if (outcome == GAVE_UP)
            log_warn("callbacks", "gave up", "id=%s service=%s url=%s tries=%u err=\"%s\"", id,
                     service, shown ? shown : "", tries, err.msg);
        else
            log_debug("callbacks",
                      outcome == RETRY ? "retrying" : "retry superseded by a newer delivery",
                      "id=%s url=%s err=\"%s\"", id, shown ? shown : "", err.msg);
        free(shown);
        pthread_mutex_lock(&s->lock);
    }
    /* leaving: say so, and free everything when the owner has gone already */
    for (unsigned i = 0; i < s->nworkers; i++)
        if (pthread_equal(s->th[i], pthread_self()))
            s->exited[i] = 1;
    pthread_cond_broadcast(&s->gone);
    if (--s->refs) {
        pthread_mutex_unlock(&s->lock);
    } else {
        pthread_mutex_unlock(&s->lock);
        destroy(s);
    }
    http_thread_cleanup();
    return NULL;
}

/* url's target, made on first use; NULL on ENOMEM. Called with s->lock held. */
static struct cb_target *target_of(struct cbsend *s, const char *url)
{
    struct cb_target *t;

    for (t = s->targets; t && strcmp(t->url, url); t = t->next)
        ;
    if (t)
        return t;
    if (!(t = calloc(1, sizeof(*t))))
        return NULL;
    t->url = strdup(url);
    t->shown = url_shown(url, URL_NO_QUERY);
    if (!t->url || !t->shown) {
        free(t->url);
        free(t->shown);
        free(t);
        return NULL;
    }
    t->next = s->targets;
    s->targets = t;
    return t;
}

/* Queues j on url's target: in place of a queued job of the same registration (the newer
 * membership replaces the older, undelivered one), else at the tail, the oldest dropped past
 * CBSEND_QUEUE_MAX. Called with s->lock held; takes j; returns what the caller frees unlocked. */
static struct cb_job *enqueue(struct cbsend *s, const char *url, struct cb_job *j)
{
    struct cb_target *t = target_of(s, url);
    struct cb_job **pp, *old = NULL;

    if (!t) {
        s->dropped++;
        return j;
    }
    for (pp = &t->head; *pp && strcmp((*pp)->id, j->id); pp = &(*pp)->next)
        ;
    if (*pp) {
        old = *pp;
        j->next = old->next;
        *pp = j;
        if (t->tail == old)
            t->tail = j;
        s->coalesced++;
    } else {
        if (t->qlen >= CBSEND_QUEUE_MAX) { /* a target that cannot keep up loses its oldest */
            old = t->head;
            t->head = old->next;
            if (!t->head)
                t->tail = NULL;
            t->qlen--;
            s->dropped++;
        }
        if (t->tail)
            t->tail->next = j;
        else
            t->head = j;
        t->tail = j;
        t->qlen++;
    }
    pthread_cond_signal(&s->work);
    return old;
}

int cbsend_queue(struct cbsend *s, const char *url, const char *id, const char *service,
                 const char *body, char *secret)
{
    struct cb_job *j = calloc(1, sizeof(*j)), *old;

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
    old = enqueue(s, url, j);
    pthread_mutex_unlock(&s->lock);
    if (old == j) {
        char *shown = url_shown(url, URL_NO_QUERY);
        log_error("callbacks", "cannot queue a delivery", "url=%s", shown ? shown : "");
        free(shown);
        job_free(j);
        return -MDO_ENOMEM;
    }
    job_free(old);
    return 0;
}

struct cbsend *cbsend_new(struct cbpolicy *policy, unsigned workers)
{
    struct cbsend *s = calloc(1, sizeof(*s));

    if (!s || (!policy && cbpolicy_new(&policy, NULL, NULL))) {
        free(s);
        cbpolicy_free(policy);
        return NULL;
    }
    s->policy = policy;
    pthread_mutex_init(&s->lock, NULL);
    clock_cond_init(&s->work);
    clock_cond_init(&s->gone);
    s->refs = 1;
    if (!workers)
        workers = CBSEND_WORKERS;
    if (workers > CBSEND_WORKERS_MAX)
        workers = CBSEND_WORKERS_MAX;
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < workers; i++) {
        if (pthread_create(&s->th[s->nworkers], NULL, worker_main, s))
            break;
        s->nworkers++;
        s->refs++;
    }
    pthread_mutex_unlock(&s->lock);
    if (!s->nworkers) {
        log_error("callbacks", "cannot start a delivery worker", "workers=%u", workers);
        destroy(s);
        return NULL;
    }
    return s;
}

void cbsend_free(struct cbsend *s)
{
    struct timespec until;
    unsigned long dropped = 0;
    unsigned left = 0;
    int last;

    if (!s)
        return;
    until = clock_timespec(clock_deadline_ms(CB_STOP_MS));
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_broadcast(&s->work);
    /* a delivery in flight has CB_STOP_MS to end; past that it is abandoned (its worker frees
     * what is left when it comes back) */
    while (s->refs > 1 && pthread_cond_timedwait(&s->gone, &s->lock, &until) != ETIMEDOUT)
        ;
    for (struct cb_target *t = s->targets; t; t = t->next)
        dropped += t->qlen;
    s->dropped += dropped;
    dropped = s->dropped;
    for (unsigned i = 0; i < s->nworkers; i++) {
        if (s->exited[i]) {
            pthread_mutex_unlock(&s->lock);
            pthread_join(s->th[i], NULL);
            pthread_mutex_lock(&s->lock);
        } else {
            pthread_detach(s->th[i]);
            left++;
        }
    }
    last = --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (dropped || left)
        log_info("callbacks", "stopped", "dropped=%lu abandoned=%u", dropped, left);
    if (last)
        destroy(s);
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
    out->denied = s->denied;
    out->coalesced = s->coalesced;
    out->workers = s->nworkers;
    for (struct cb_target *t = s->targets; t; t = t->next) {
        out->pending += t->qlen + (unsigned)t->busy;
        out->targets++;
    }
    pthread_mutex_unlock(&s->lock);
}
