/* test_cbview.c - the callbacks' copy of the instances kept from watch batches: each change
 * taken against what was delivered gives the diff a full read of the service would give */
#include <stdlib.h>
#include "cbview.h"
#include "check.h"
#include "log.h"

#define PFX  "/mdo/prod/services/"
#define NSVC 2
#define NCTR 12

static const char *svcs[NSVC] = {"web", "db"};

/* The model: what etcd holds (value or NULL) per key, and what was delivered per service. */
static char *held[NSVC][NCTR];
static char *delivered[NSVC][NCTR]; /* the values as last delivered */

static char *value(const char *svc, const char *ctr, int host, int ext, int state)
{
    struct reg_port port = {(char *)"http", 80, ext ? 32001 : 32000, "tcp"};
    struct reg_record r = {0};

    r.service = (char *)svc;
    r.container = (char *)ctr;
    r.environment = (char *)"prod";
    r.host = (char *)(host ? "10.0.0.2" : "10.0.0.1");
    r.ports = &port;
    r.nports = 1;
    r.state = (char *)(state ? "healthy" : "running");
    r.started_at = (char *)"2026-01-01T00:00:00Z";
    r.backend = (char *)"docker";
    return reg_record_json(&r);
}

/* A batch of n events, keys and values copied. */
struct ev {
    const char *svc, *ctr, *val; /* val NULL: delete */
};

static struct watch_batch batch(int reset, int64_t rev, const struct ev *e, size_t n)
{
    struct watch_batch b = {reset, rev, calloc(n + 1, sizeof(struct watch_event)), n};
    char key[128];

    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), PFX "%s/instances/%s", e[i].svc, e[i].ctr);
        b.ev[i].key = strdup(key);
        b.ev[i].del = !e[i].val;
        b.ev[i].value = strdup(e[i].val ? e[i].val : "");
        b.ev[i].len = strlen(b.ev[i].value);
        b.ev[i].mod_revision = rev;
    }
    return b;
}

static int apply(struct cbview *v, int reset, int baseline, int64_t rev, const struct ev *e,
                 size_t n, struct strset *dirty)
{
    struct watch_batch b = batch(reset, rev, e, n);
    struct cbview_in *in = cbview_in_parse(&b, PFX);
    int ret = in ? cbview_apply(v, in, baseline, dirty) : -1;

    watch_batch_release(&b);
    return ret;
}

/* The membership a full read gives (reg_list's): records sorted by container. */
static unsigned members(char *const vals[NCTR], struct reg_record *out)
{
    struct mdo_err err = MDO_ERR_INIT;
    unsigned n = 0;
    char name[24];

    for (int c = 0; c < NCTR; c++) { /* containers are named in sorted order */
        if (!vals[c] || reg_record_parse(vals[c], strlen(vals[c]), &out[n], &err))
            continue;
        snprintf(name, sizeof(name), "prod-%02u", (unsigned)c % 100);
        if (strcmp(out[n].container, name)) /* under another's key: no member */
            reg_record_release(&out[n]);
        else
            n++;
    }
    return n;
}

static int names_equal(const char **a, const char **b, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (strcmp(a[i], b[i]))
            return 0;
    return 1;
}

static int recs_equal(const struct reg_record *a, const struct reg_record *b, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (!reg_record_equal(&a[i], &b[i]))
            return 0;
    return 1;
}

static unsigned rnd(unsigned n)
{
    return (unsigned)(random() % n);
}

static void ctr_name(char *b, int c)
{
    snprintf(b, 16, "prod-%02u", (unsigned)c % 100);
}

static void test_model(void)
{
    struct cbview v = CBVIEW_INIT;
    struct strset dirty = STRSET_INIT;
    struct ev e[16];
    char *own[16] = {0};
    char names[NSVC][NCTR][16];
    int mismatch = 0, takes = 0, differs_seen = 0, equal_seen = 0, abandoned = 0, resets = 0;
    int64_t rev = 1;

    srandom(10);
    for (int s = 0; s < NSVC; s++)
        for (int c = 0; c < NCTR; c++) {
            ctr_name(names[s][c], c);
            held[s][c] = c % 3 ? value(svcs[s], names[s][c], 0, 0, 0) : NULL;
            delivered[s][c] = held[s][c] ? strdup(held[s][c]) : NULL;
        }
    { /* the baseline: the listing */
        size_t n = 0;
        for (int s = 0; s < NSVC; s++)
            for (int c = 0; c < NCTR; c++)
                if (held[s][c])
                    e[n % 16] = (struct ev){svcs[s], names[s][c], held[s][c]}, n++;
        CHECK(n <= 16);
        CHECK_INT(apply(&v, 1, 1, rev, e, n, &dirty), 0);
        CHECK_INT(dirty.n, 0); /* a baseline is nothing to deliver */
    }
    for (int step = 0; step < 3000; step++) {
        size_t n = 1 + rnd(5);
        int reset = rnd(20) == 0;
        rev++;
        if (reset) { /* a gap: the whole prefix listed again (with changes nobody saw) */
            n = 0;
            resets++;
            for (int s = 0; s < NSVC; s++)
                for (int c = 0; c < NCTR; c++) {
                    if (rnd(4) == 0) {
                        free(held[s][c]);
                        held[s][c] =
                            rnd(3) ? value(svcs[s], names[s][c], rnd(2), rnd(2), rnd(2)) : NULL;
                    }
                    if (held[s][c] && n < 16)
                        e[n++] = (struct ev){svcs[s], names[s][c], held[s][c]};
                    else if (held[s][c]) { /* the batch holds 16: the rest is not there */
                        free(held[s][c]);
                        held[s][c] = NULL;
                    }
                }
        } else {
            for (size_t i = 0; i < n; i++) {
                int s = (int)rnd(NSVC), c = (int)rnd(NCTR), k = (int)rnd(10);
                free(held[s][c]);
                held[s][c] = k < 3   ? NULL
                             : k < 4 ? strdup("{not a record") /* no member */
                             : k < 5
                                 ? value(svcs[s], names[s][(c + 1) % NCTR], 0, 0, 0) /* foreign */
                                 : value(svcs[s], names[s][c], rnd(2), rnd(2), rnd(2));
                own[i] = held[s][c] ? strdup(held[s][c]) : NULL; /* a key may come twice */
                e[i] = (struct ev){svcs[s], names[s][c], own[i]};
            }
        }
        if (apply(&v, reset, 0, rev, e, n, &dirty))
            mismatch++;
        for (size_t i = 0; i < 16; i++) {
            free(own[i]);
            own[i] = NULL;
        }
        if (rnd(3) == 0)
            continue; /* changes pile up before the dispatcher takes them */
        for (size_t i = 0; i < dirty.n; i++) {
            struct cbview_change ch;
            struct reg_record was[NCTR], now[NCTR];
            struct reg_members_diff d;
            int s = !strcmp(dirty.v[i], "web") ? 0 : 1;
            unsigned nw = members(delivered[s], was), nn = members(held[s], now);
            int want = reg_members_diff(was, nw, now, nn, &d),
                got = cbview_take(&v, dirty.v[i], &ch);
            takes++;
            if (got != want || (got >= 0 && ch.d.count != nn))
                mismatch++;
            if (got == 1 && want == 1) {
                differs_seen++;
                if (ch.d.added != d.added || ch.d.removed != d.removed ||
                    ch.d.changed != d.changed ||
                    !names_equal(ch.d.names_added, d.names_added, d.added) ||
                    !names_equal(ch.d.names_removed, d.names_removed, d.removed) ||
                    !names_equal(ch.d.names_changed, d.names_changed, d.changed) || ch.ncur != nn ||
                    !recs_equal(ch.cur, now, nn))
                    mismatch++;
            } else if (got == 0) {
                equal_seen++;
            }
            if (got >= 0 && rnd(5) == 0) { /* delivery failed: the changes stay */
                cbview_abandon(&ch);
                abandoned++;
            } else if (got >= 0) {
                struct cbview_svc *sv = ch.s;
                cbview_commit(&ch);
                for (int c = 0; c < NCTR; c++) {
                    free(delivered[s][c]);
                    delivered[s][c] = held[s][c] ? strdup(held[s][c]) : NULL;
                }
                /* what is held is the newest of every field, not only the membership's */
                if (sv && (sv->nd || sv->n != nn || !recs_equal(sv->recs, now, nn)))
                    mismatch++;
            }
            reg_members_diff_release(&d);
            for (unsigned k = 0; k < nw; k++)
                reg_record_release(&was[k]);
            for (unsigned k = 0; k < nn; k++)
                reg_record_release(&now[k]);
        }
        strset_clear(&dirty);
    }
    CHECK_INT(mismatch, 0);
    /* the run went through every case it is meant to */
    CHECK(differs_seen > 100);
    CHECK(equal_seen > 100);
    CHECK(abandoned > 50);
    CHECK(resets > 50);
    CHECK(takes > 1000);
    printf("# model: %d takes, %d differing, %d equal, %d abandoned, %d resets\n", takes,
           differs_seen, equal_seen, abandoned, resets);
    for (int s = 0; s < NSVC; s++)
        for (int c = 0; c < NCTR; c++) {
            free(held[s][c]);
            free(delivered[s][c]);
        }
    strset_release(&dirty);
    cbview_release(&v);
}

static void test_cases(void)
{
    struct cbview v = CBVIEW_INIT;
    struct strset dirty = STRSET_INIT;
    struct cbview_change ch;
    char *a = value("web", "prod-01", 0, 0, 0), *a_state = value("web", "prod-01", 0, 0, 1),
         *a_port = value("web", "prod-01", 0, 1, 1), *b = value("web", "prod-02", 0, 0, 0);
    struct ev base[] = {{"web", "prod-01", a}};

    CHECK_INT(apply(&v, 1, 1, 5, base, 1, &dirty), 0);
    CHECK_INT(v.rev, 5);
    CHECK_INT(cbview_take(&v, "web", &ch), 0); /* nothing changed since the baseline */
    cbview_commit(&ch);

    /* the same value again, then a health flip: no membership change, the newer kept */
    {
        struct ev e[] = {{"web", "prod-01", a}, {"web", "prod-01", a_state}};
        CHECK_INT(apply(&v, 0, 0, 6, e, 2, &dirty), 0);
        CHECK_INT(dirty.n, 1);
        CHECK_INT(cbview_take(&v, "web", &ch), 0);
        cbview_commit(&ch);
        CHECK_STR(v.svcs->recs[0].state, "healthy");
        CHECK_INT(v.svcs->recs[0].mod_revision, 6);
    }
    /* a new port is a change; a new container an addition; both in one take */
    {
        struct ev e[] = {{"web", "prod-01", a_port}, {"web", "prod-02", b}};
        CHECK_INT(apply(&v, 0, 0, 7, e, 2, &dirty), 0);
        CHECK_INT(cbview_take(&v, "web", &ch), 1);
        CHECK_INT(ch.d.count, 2);
        CHECK_INT(ch.d.added, 1);
        CHECK_INT(ch.d.changed, 1);
        CHECK_STR(ch.d.names_added[0], "prod-02");
        CHECK_STR(ch.d.names_changed[0], "prod-01");
        CHECK_INT(ch.ncur, 2);
        cbview_abandon(&ch); /* not delivered: taken again, the same */
        CHECK_INT(cbview_take(&v, "web", &ch), 1);
        CHECK_INT(ch.d.added + ch.d.changed, 2);
        cbview_commit(&ch);
        CHECK_INT(v.svcs->n, 2);
    }
    /* a delete and a value that is no record: both removals; keys that are no instance's and
     * other services' names that cannot be keys are left out */
    {
        struct ev e[] = {{"web", "prod-01", NULL},
                         {"web", "prod-02", "{]"},
                         {"web", "prod-03/x", a},
                         {"a/b", "prod-04", a}};
        strset_clear(&dirty);
        CHECK_INT(apply(&v, 0, 0, 8, e, 4, &dirty), 0);
        CHECK_INT(dirty.n, 1);
        CHECK_INT(cbview_take(&v, "web", &ch), 1);
        CHECK_INT(ch.d.removed, 2);
        CHECK_INT(ch.d.count, 0);
        cbview_commit(&ch);
        CHECK_INT(v.svcs->n, 0);
    }
    /* an unknown service: nothing to take */
    CHECK_INT(cbview_take(&v, "nope", &ch), 0);
    cbview_commit(&ch);
    strset_release(&dirty);
    cbview_release(&v);
    free(a);
    free(a_state);
    free(a_port);
    free(b);
}

int main(void)
{
    setenv("MDO_LOG", "error", 1); /* the bad records' warnings are expected */
    log_init();
    test_cases();
    test_model();
    return check_done("test_cbview");
}
