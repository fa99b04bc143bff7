/* docker_inspect.c - the containers of a listing inspected by a small pool of threads, each on
 * its own connection to the engine (a reconcile of 10,000 containers is 10,000 inspects: in
 * order they took ~0.9 s, issue 10) */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "docker.h"
#include "http.h"

#define DK_INSPECT_MIN 16 /* fewer containers: inspected in the calling thread alone */

struct pool {
    struct dk_sched *d;
    const struct dk_ctr *c;
    unsigned nc;
    struct reg_record *recs;
    unsigned char *filled;
    pthread_mutex_t lock; /* guards the fields below */
    unsigned next;        /* the next container to inspect */
    unsigned failed_at;   /* the first (in listing order) that failed; nc when none */
    int ret;
    struct mdo_err err; /* its error */
};

/* One container: 0 (its record filled, or nothing to register, or removed since the listing),
 * or the error in err. */
static int one(struct pool *p, unsigned i, struct mdo_err *err)
{
    cJSON *in = NULL;
    int r = dk_inspect(p->d, p->c[i].id, &in, err);

    if (r == -MDO_ENOTFOUND) { /* removed since the listing */
        err_clear(err);
        return 0;
    }
    if (!r) {
        r = dk_record(p->d, in, &p->recs[i], err);
        p->filled[i] = !r;
        if (r > 0)
            r = 0;
    }
    cJSON_Delete(in);
    return r;
}

/* Takes containers in listing order until none is left or one failed: after a failure none
 * later is started, so the error kept is the first in order, as a loop in order would give. */
static void work(struct pool *p, struct mdo_err *err)
{
    for (;;) {
        unsigned i;
        int r;
        pthread_mutex_lock(&p->lock);
        if (p->next >= p->nc || p->next > p->failed_at) {
            pthread_mutex_unlock(&p->lock);
            return;
        }
        i = p->next++;
        pthread_mutex_unlock(&p->lock);
        if (!(r = one(p, i, err)))
            continue;
        pthread_mutex_lock(&p->lock);
        if (i < p->failed_at) {
            p->failed_at = i;
            p->ret = r;
            p->err = *err;
        }
        pthread_mutex_unlock(&p->lock);
        err_clear(err);
    }
}

static void *worker(void *arg)
{
    struct pool *p = arg;
    struct mdo_err *err = calloc(1, sizeof(*err));

    if (err)
        work(p, err);
    free(err);
    http_thread_cleanup(); /* this thread's curl handle and its connection */
    return NULL;
}

int dk_inspect_all(struct dk_sched *d, const struct dk_ctr *c, unsigned nc, struct reg_record *recs,
                   unsigned char *filled, struct mdo_err *err)
{
    struct pool p = {d, c, nc, recs, filled, PTHREAD_MUTEX_INITIALIZER, 0, nc, 0, MDO_ERR_INIT};
    pthread_t t[DK_INSPECT_POOL - 1];
    unsigned nt = 0;

    memset(filled, 0, nc);
    for (; nc >= DK_INSPECT_MIN && nt < DK_INSPECT_POOL - 1; nt++)
        if (pthread_create(&t[nt], NULL, worker, &p))
            break; /* fewer helpers: the calling thread does the rest */
    work(&p, err);
    for (unsigned i = 0; i < nt; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&p.lock);
    if (p.ret)
        *err = p.err;
    else
        err_clear(err);
    return p.ret;
}
