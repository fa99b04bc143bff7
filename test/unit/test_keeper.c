/* test_keeper.c - keeper_reconcile against a real etcd and the in-memory scheduler: writes what
 * is missing, nothing when equal, PUTs a change, DELs a removal, holds a mass removal until a
 * second listing agrees, keeps what the recheck finds alive, survives a service named "a/b";
 * and the one writer: batches of at most KEEPER_BATCH, coalescing by key, the leader fence
 * (a deposed leader's write is refused by etcd), the writer thread */
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <time.h>
#include "check.h"
#include "clock.h"
#include "etcd_fixture.c"
#include "keeper.h"
#include "strset.h"
#include "sched_fake.c"

#define ENV    "t"
#define PREFIX "/mdo"
#define KEYS   PREFIX "/" ENV "/services/"

static struct keeper_fixture kf;
static struct sched *s;

/* the registry as "service/container" lines, sorted; and its store revision */
static char *registry(int64_t *rev)
{
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    struct buf b = BUF_INIT(0);
    char *out;

    if (etcd_get_prefix(&kf.fx.e, KEYS, &kvs, &err)) {
        fprintf(stderr, "test_keeper: listing the registry: %s\n", err.msg);
        exit(1); /* fixture I/O: not a check */
    }
    for (size_t i = 0; i < kvs.n; i++) {
        const char *key = kvs.kv[i].key + strlen(KEYS), *inst = strstr(key, "/instances/");
        if (inst)
            buf_addf(&b, "%.*s/%s\n", (int)(inst - key), key, inst + strlen("/instances/"));
        else
            buf_addf(&b, "?%s\n", key);
    }
    if (rev)
        *rev = kvs.revision;
    etcd_kvs_release(&kvs);
    out = strdup(buf_str(&b));
    buf_release(&b);
    return out;
}

/* the stored value of service/container, or NULL */
static char *value(const char *service, const char *container)
{
    char key[256];

    snprintf(key, sizeof(key), KEYS "%s/instances/%s", service, container);
    return etcd_fixture_get(&kf.fx, key, NULL);
}

static void put_raw(const char *service, const char *container, const char *val)
{
    struct mdo_err err = MDO_ERR_INIT;
    char key[256];

    snprintf(key, sizeof(key), KEYS "%s/instances/%s", service, container);
    if (etcd_put(&kf.fx.e, key, val, 0, &err)) {
        fprintf(stderr, "test_keeper: put %s: %s\n", key, err.msg);
        exit(1);
    }
}

static void run(struct sched *sc, const char *service, const char *container, int ext)
{
    if (fake_run(sc, service, container, ext)) {
        fprintf(stderr, "test_keeper: out of memory\n");
        exit(1);
    }
}

#define CHECK_REGISTRY(want)                                                                       \
    do {                                                                                           \
        char *got_ = registry(NULL);                                                               \
        CHECK_STR(got_, want);                                                                     \
        free(got_);                                                                                \
    } while (0)

static int reconcile(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    int ret = keeper_reconcile(&kf.k, &err);

    if (ret)
        fprintf(stderr, "(keeper_reconcile: %d %s)\n", ret, err.msg);
    return ret;
}

/* an empty registry: every record written, byte for byte the canonical JSON */
static void test_fill(void)
{
    char *v, *want;

    run(s, "web", "t-web-1", 31001);
    run(s, "web", "t-web-2", 31002);
    run(s, "web", "t-web-3", 31003);
    run(s, "web", "t-web-4", 31004);
    run(s, "db", "t-db-1", 32001);
    CHECK_INT(reconcile(), 0);
    CHECK_REGISTRY("db/t-db-1\nweb/t-web-1\nweb/t-web-2\nweb/t-web-3\nweb/t-web-4\n");
    CHECK_INT(kf.k.st.reconcile_puts, 5);
    CHECK_INT(kf.k.st.reconcile_dels, 0);
    v = value("web", "t-web-3");
    want = reg_record_json(&fake_find(s, "t-web-3")->rec);
    CHECK_STR(v, want);
    free(v);
    free(want);
}

/* an equal registry: the pass writes nothing (the store revision does not move) */
static void test_equal(void)
{
    int64_t before, after;
    unsigned long puts = kf.k.st.reconcile_puts, lists = s->lists;

    free(registry(&before));
    CHECK_INT(reconcile(), 0);
    free(registry(&after));
    CHECK_INT(after, before);
    CHECK_INT(kf.k.st.reconcile_puts, puts);
    CHECK_INT(s->lists, lists + 1); /* it did look */
}

/* a changed record is PUT, and only it */
static void test_changed(void)
{
    int64_t before, after;
    unsigned long puts = kf.k.st.reconcile_puts;
    char *v;

    free(registry(&before));
    fake_find(s, "t-web-1")->rec.ports[0].external = 40001;
    CHECK_INT(reconcile(), 0);
    free(registry(&after));
    CHECK_INT(kf.k.st.reconcile_puts, puts + 1);
    CHECK_INT(after, before + 1); /* one write */
    v = value("web", "t-web-1");
    CHECK(v && strstr(v, "\"external\":40001"));
    free(v);
}

/* an instance that no longer runs is DELeted, after the recheck asked about it */
static void test_removed(void)
{
    unsigned long dels = kf.k.st.reconcile_dels, alives = s->alives;

    fake_drop(s, "t-web-4");
    CHECK_INT(reconcile(), 0);
    CHECK_REGISTRY("db/t-db-1\nweb/t-web-1\nweb/t-web-2\nweb/t-web-3\n");
    CHECK_INT(kf.k.st.reconcile_dels, dels + 1);
    CHECK_INT(s->alives, alives + 1);
}

/* a listing that would remove most of a service is held back once, applied when the next
 * listing agrees; and released without removing anything when the next one disagrees */
static void test_mass_removal(void)
{
    struct keeper_stats st;
    struct strset held = STRSET_INIT;
    unsigned long heldback = kf.k.st.held_back, dels = kf.k.st.reconcile_dels;

    /* disagreeing: 2 of web's 3 vanish from one listing, then come back */
    fake_find(s, "t-web-2")->unlisted = 1;
    fake_find(s, "t-web-3")->unlisted = 1;
    s->alive_mode = FAKE_ALIVE_NO; /* the recheck must not be what saves them */
    CHECK_INT(reconcile(), 0);
    CHECK_REGISTRY("db/t-db-1\nweb/t-web-1\nweb/t-web-2\nweb/t-web-3\n");
    CHECK_INT(kf.k.st.held_back, heldback + 2);
    keeper_snapshot(&kf.k, &st, &held);
    CHECK_INT(held.n, 2);
    CHECK(strset_has(&held, "web/t-web-2") && strset_has(&held, "web/t-web-3"));
    strset_clear(&held);
    fake_find(s, "t-web-2")->unlisted = 0;
    fake_find(s, "t-web-3")->unlisted = 0;
    CHECK_INT(reconcile(), 0);
    CHECK_REGISTRY("db/t-db-1\nweb/t-web-1\nweb/t-web-2\nweb/t-web-3\n");
    keeper_snapshot(&kf.k, &st, &held);
    CHECK_INT(held.n, 0);
    strset_clear(&held);
    CHECK_INT(kf.k.st.reconcile_dels, dels);

    /* agreeing: they are really gone; held once, removed by the second pass */
    s->alive_mode = FAKE_ALIVE_BY_ARRAY;
    fake_drop(s, "t-web-2");
    fake_drop(s, "t-web-3");
    CHECK_INT(reconcile(), 0);
    CHECK_REGISTRY("db/t-db-1\nweb/t-web-1\nweb/t-web-2\nweb/t-web-3\n");
    CHECK_INT(kf.k.st.held_back, heldback + 4);
    CHECK_INT(reconcile(), 0);
    CHECK_REGISTRY("db/t-db-1\nweb/t-web-1\n");
    CHECK_INT(kf.k.st.reconcile_dels, dels + 2);
    keeper_snapshot(&kf.k, &st, &held);
    CHECK_INT(held.n, 0);
    strset_release(&held);
}

/* an instance the listing misses but the scheduler says runs (it started after the listing):
 * kept; one it cannot tell about: kept for the next pass; once it is gone: removed */
static void test_recheck(void)
{
    unsigned long dels = kf.k.st.reconcile_dels, alives = s->alives;
    char *json;

    run(s, "web", "t-web-9", 31009);
    fake_find(s, "t-web-9")->unlisted = 1;
    json = reg_record_json(&fake_find(s, "t-web-9")->rec);
    put_raw("web", "t-web-9", json); /* registered by its event */
    free(json);
    CHECK_INT(reconcile(), 0);
    CHECK_REGISTRY("db/t-db-1\nweb/t-web-1\nweb/t-web-9\n");
    CHECK_INT(s->alives, alives + 1);
    s->alive_mode = FAKE_ALIVE_UNKNOWN;
    CHECK_INT(reconcile(), 0);
    CHECK_REGISTRY("db/t-db-1\nweb/t-web-1\nweb/t-web-9\n");
    s->alive_mode = FAKE_ALIVE_BY_ARRAY;
    fake_drop(s, "t-web-9");
    CHECK_INT(reconcile(), 0);
    CHECK_REGISTRY("db/t-db-1\nweb/t-web-1\n");
    CHECK_INT(kf.k.st.reconcile_dels, dels + 1);
}

/* a scheduler that cannot list: the pass fails and removes nothing */
static void test_list_fails(void)
{
    unsigned long errors = kf.k.st.reconcile_errors;

    s->list_error = MDO_ENET;
    CHECK(reconcile() < 0);
    CHECK_REGISTRY("db/t-db-1\nweb/t-web-1\n");
    CHECK_INT(kf.k.st.reconcile_errors, errors + 1);
    s->list_error = 0;
}

/* a follower's pass writes nothing */
static void test_follower(void)
{
    int64_t before, after;

    free(registry(&before));
    run(s, "db", "t-db-2", 32002);
    keeper_set_writer(&kf.k, 0);
    CHECK_INT(reconcile(), 0);
    free(registry(&after));
    CHECK_INT(after, before);
    keeper_set_writer(&kf.k, 1);
    CHECK_INT(reconcile(), 0);
    CHECK_REGISTRY("db/t-db-1\ndb/t-db-2\nweb/t-web-1\n");
}

/* F8: a container labelled mdo.service=a/b. The outcome that must hold in any keeper: each pass
 * returns (one scheduler listing per pass, no loop inside), and no key is written for it, so
 * nothing lands where the next listing cannot read it back. */
static void test_bad_service_name(void)
{
    unsigned long lists = s->lists, errors = kf.k.st.reconcile_errors;
    char *v;
    int ret[3];

    run(s, "a/b", "t-ab-1", 33001);
    fake_find(s, "t-web-1")->rec.ports[0].external = 40002; /* a good change in the same pass */
    for (int i = 0; i < 3; i++)
        ret[i] = reconcile();
    CHECK_INT(s->lists, lists + 3);
    CHECK_REGISTRY("db/t-db-1\ndb/t-db-2\nweb/t-web-1\n"); /* nothing under services/a/ */
    /* the bad record is skipped (logged once) and the rest is written: the pass succeeds */
    for (int i = 0; i < 3; i++)
        CHECK_INT(ret[i], 0);
    CHECK_INT(kf.k.st.reconcile_errors, errors);
    v = value("web", "t-web-1");
    CHECK(v && strstr(v, "\"external\":40002"));
    free(v);
    fake_find(s, "t-web-1")->rec.ports[0].external = 40003;
    /* once the bad one is gone, the next pass writes the rest */
    fake_drop(s, "t-ab-1");
    CHECK_INT(reconcile(), 0);
    v = value("web", "t-web-1");
    CHECK(v && strstr(v, "\"external\":40003"));
    free(v);
}

/* ---- the writer ---- */

#define WKEYS "/t-writer/"

/* key's value, "(none)" when absent */
static char *raw(const char *key)
{
    char *v = etcd_fixture_get(&kf.fx, key, NULL);

    return v ? v : strdup("(none)");
}

#define CHECK_RAW(key, want)                                                                       \
    do {                                                                                           \
        char *v_ = raw(key);                                                                       \
        CHECK_STR(v_, want);                                                                       \
        free(v_);                                                                                  \
    } while (0)

static size_t count(const char *prefix)
{
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    size_t n;

    if (etcd_get_prefix(&kf.fx.e, prefix, &kvs, &err)) {
        fprintf(stderr, "test_keeper: list %s: %s\n", prefix, err.msg);
        exit(1);
    }
    n = kvs.n;
    etcd_kvs_release(&kvs);
    return n;
}

/* 300 queued writes go out as 3 txns (127 + 127 + 46); the keys all land */
static void test_batching(void)
{
    unsigned long txns = kf.k.st.txns;
    char key[64], val[16];
    int queued = 0;

    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), WKEYS "batch/%03d", i);
        snprintf(val, sizeof(val), "v%d", i);
        queued += keeper_enqueue(&kf.k, key, val, "web", "c", ETCD_ANY, 1) == 0;
    }
    CHECK_INT(queued, 300);
    CHECK_INT(kf.k.qn, 300);
    keeper_drain(&kf.k);
    CHECK_INT(kf.k.st.txns - txns, 3);
    CHECK_INT(kf.k.qn, 0);
    CHECK_INT(count(WKEYS "batch/"), 300);
    CHECK_RAW(WKEYS "batch/299", "v299");
    /* 300 deletes: 3 txns again, nothing left */
    for (int i = 0; i < 300; i++) {
        snprintf(key, sizeof(key), WKEYS "batch/%03d", i);
        keeper_enqueue(&kf.k, key, NULL, "web", "c", ETCD_ANY, 1);
    }
    keeper_drain(&kf.k);
    CHECK_INT(kf.k.st.txns - txns, 6);
    CHECK_INT(count(WKEYS "batch/"), 0);
}

/* the newest wanted state of a key wins; a reconcile's change never replaces an event's */
static void test_coalescing(void)
{
    unsigned long txns = kf.k.st.txns;

    keeper_enqueue(&kf.k, WKEYS "co/a", "1", "web", "a", ETCD_ANY, 1);
    keeper_enqueue(&kf.k, WKEYS "co/a", "2", "web", "a", ETCD_ANY, 1);
    keeper_enqueue(&kf.k, WKEYS "co/a", NULL, "web", "a", ETCD_ANY, 1);
    keeper_enqueue(&kf.k, WKEYS "co/b", "b1", "web", "b", ETCD_ANY, 1);
    keeper_enqueue(&kf.k, WKEYS "co/a", "3", "web", "a", ETCD_ANY, 1);
    keeper_enqueue(&kf.k, WKEYS "co/b", "from-a-listing", "web", "b", 0, 0);
    keeper_enqueue(&kf.k, WKEYS "co/c", "c-listing", "web", "c", 0, 0);
    keeper_enqueue(&kf.k, WKEYS "co/c", "c-event", "web", "c", ETCD_ANY, 1);
    CHECK_INT(kf.k.qn, 3);
    keeper_drain(&kf.k);
    CHECK_INT(kf.k.st.txns - txns, 1);
    CHECK_RAW(WKEYS "co/a", "3");
    CHECK_RAW(WKEYS "co/b", "b1");
    CHECK_RAW(WKEYS "co/c", "c-event");
    /* one stale guard in a batch: the rest is still written (one txn each after the first) */
    keeper_enqueue(&kf.k, WKEYS "co/a", "4", "web", "a", 1, 0); /* mod_revision 1: long gone */
    keeper_enqueue(&kf.k, WKEYS "co/d", "d", "web", "d", 0, 0);
    keeper_drain(&kf.k);
    CHECK_RAW(WKEYS "co/a", "3");
    CHECK_RAW(WKEYS "co/d", "d");
    CHECK_INT(kf.k.st.dirty, 1);
    kf.k.st.dirty = 0;
}

static int64_t test_fence_rev;
static int64_t test_fence(void *ctx)
{
    (void)ctx;
    return test_fence_rev;
}

/* F3: a leader's writes compare the leader key's create_revision. Once the lease is taken away
 * (the key goes), a write with the old fence is refused by etcd and the key stays unchanged;
 * a new leader's key (another create_revision) does not revive the old fence either. */
static void test_fence_refused(void)
{
    const char *lkey = PREFIX "/" ENV "/leader";
    struct mdo_err err = MDO_ERR_INIT;
    int64_t lease = 0;
    unsigned long fenced = kf.k.st.fenced_out;

    if (etcd_lease_grant(&kf.fx.e, 30, &lease, &err)) {
        fprintf(stderr, "test_keeper: lease: %s\n", err.msg);
        exit(1);
    }
    test_fence_rev = etcd_fixture_put(&kf.fx, lkey, "{}", lease);
    keeper_set_fence(&kf.k, lkey, test_fence, NULL);
    CHECK(keeper_leading(&kf.k) == test_fence_rev);
    keeper_enqueue(&kf.k, WKEYS "fence", "while-leading", "web", "f", ETCD_ANY, 1);
    keeper_drain(&kf.k);
    CHECK_RAW(WKEYS "fence", "while-leading");

    /* the lease is taken away: the leader key is gone, this one does not know yet */
    if (etcd_lease_revoke(&kf.fx.e, lease, &err)) {
        fprintf(stderr, "test_keeper: revoke: %s\n", err.msg);
        exit(1);
    }
    CHECK(keeper_leading(&kf.k) > 0); /* it still believes */
    keeper_enqueue(&kf.k, WKEYS "fence", "deposed", "web", "f", ETCD_ANY, 1);
    keeper_enqueue(&kf.k, WKEYS "fence-new", "deposed", "web", "g", ETCD_ANY, 1);
    keeper_drain(&kf.k);
    CHECK_RAW(WKEYS "fence", "while-leading");
    CHECK_RAW(WKEYS "fence-new", "(none)");
    CHECK_INT(kf.k.st.fenced_out, fenced + 1);
    CHECK_INT(keeper_leading(&kf.k), 0); /* it knows now: it writes nothing more */

    /* another leader's key: the old fence still fails, in etcd itself */
    etcd_fixture_put(&kf.fx, lkey, "{\"id\":\"other\"}", 0);
    {
        struct etcd_op ops[2] = {{ETCD_CMP_CREATE, lkey, NULL, test_fence_rev, 0},
                                 {ETCD_PUT, WKEYS "fence", "old-fence", ETCD_ANY, 0}};
        int applied = 1;
        CHECK_INT(etcd_txn(&kf.fx.e, ops, 2, &applied, &err), 0);
        CHECK_INT(applied, 0);
        CHECK_RAW(WKEYS "fence", "while-leading");
    }
    etcd_delete(&kf.fx.e, lkey, &err);
    keeper_set_fence(&kf.k, NULL, NULL, NULL);
    kf.k.deposed = 0;
    CHECK(keeper_leading(&kf.k) == -1);
}

/* the writer thread: events from two producer threads land; the keeper stops within a bound */
struct producer {
    int from, to;
};

static void *produce(void *arg)
{
    struct producer *p = arg;

    for (int i = p->from; i < p->to; i++) {
        char c[32];
        snprintf(c, sizeof(c), "t-thr-%d", i);
        keeper_fixture_up(&kf, "thr", c, NULL);
    }
    return NULL;
}

static void test_thread(void)
{
    struct producer p[2] = {{0, 500}, {500, 1000}};
    pthread_t t[2];
    unsigned long txns = kf.k.st.txns;
    struct timespec t0, t1;
    int started = 0;

    CHECK_INT(keeper_start(&kf.k), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 2; i++)
        started += pthread_create(&t[i], NULL, produce, &p[i]) == 0;
    CHECK_INT(started, 2);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    CHECK_INT(keeper_wait_idle(&kf.k, clock_deadline_ms(20000)), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    CHECK_INT(count(KEYS "thr/instances/"), 1000);
    CHECK(kf.k.st.txns - txns >= 8); /* at least 1000 / 127 */
    printf("# figure: 1000 events through the writer thread: %.0f ms, %lu txns\n",
           (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
           kf.k.st.txns - txns);
    CHECK_INT(keeper_stop(&kf.k, 2000), 0);
    kf.k.stop = 0;
    for (int i = 0; i < 1000; i++) {
        char c[32];
        snprintf(c, sizeof(c), "t-thr-%d", i);
        keeper_down(&kf.k, "thr", c);
    }
    CHECK_INT(count(KEYS "thr/instances/"), 0);
}

int main(void)
{
    s = fake_new(ENV);
    if (!s || keeper_fixture_start(&kf, ENV, &sched_fake, s))
        return 1;
    test_fill();
    test_equal();
    test_changed();
    test_removed();
    test_mass_removal();
    test_recheck();
    test_list_fails();
    test_follower();
    test_bad_service_name();
    test_batching();
    test_coalescing();
    test_fence_refused();
    test_thread();
    keeper_fixture_stop(&kf);
    fake_free(s);
    return check_done("test_keeper");
}
