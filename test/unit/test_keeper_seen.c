/* test_keeper_seen.c - the writer does not rewrite a key with the value it last wrote: an
 * unchanged event writes nothing, a changed one, one after a delete, after a failed write, or
 * under another fence writes again; a reconcile's entries are always written (real etcd) */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "etcd_fixture.c"
#include "keeper.h"
#include "sched_fake.c"

#define ENV    "ts"
#define PREFIX "/mdo"
#define KEYS   PREFIX "/" ENV "/services/"

static struct keeper_fixture kf;

/* mod_revision of web/<c>, 0 when absent */
static int64_t modrev(const char *c)
{
    char key[256];
    int64_t r;

    snprintf(key, sizeof(key), KEYS "web/instances/%s", c);
    free(etcd_fixture_get(&kf.fx, key, &r));
    return r;
}

/* an up event for web/<c> started at second s (no writer thread: written before it returns) */
static void up(const char *c, int s)
{
    char at[32];

    snprintf(at, sizeof(at), "2026-01-01T00:00:%02dZ", s);
    keeper_fixture_up(&kf, "web", c, at);
}

static void test_unchanged(void)
{
    int64_t r1, r2;
    unsigned long same = kf.k.st.unchanged, txns;

    up("a", 1);
    r1 = modrev("a");
    CHECK(r1 > 0);
    txns = kf.k.st.txns;
    up("a", 1); /* the same bytes again: nothing written */
    CHECK_INT(modrev("a"), r1);
    CHECK_INT(kf.k.st.unchanged, same + 1);
    CHECK_INT(kf.k.st.txns, txns);
    up("a", 2); /* a new value is written */
    r2 = modrev("a");
    CHECK(r2 > r1);
    CHECK_INT(kf.k.st.unchanged, same + 1);
    keeper_down(&kf.k, "web", "a");
    CHECK_INT(modrev("a"), 0);
    up("a", 2); /* after a delete: the old value is news again */
    CHECK(modrev("a") > r2);
}

/* what etcd holds can change behind the writer's back: events trust what it wrote, the
 * reconcile does not (its entries come from a diff against etcd) */
static void test_behind_its_back(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    int64_t r;

    up("b", 1);
    etcd_delete(&kf.fx.e, KEYS "web/instances/b", &err);
    up("b", 1); /* same value as written: skipped, the registry stays without it */
    CHECK_INT(modrev("b"), 0);
    CHECK_INT(keeper_enqueue(&kf.k, KEYS "web/instances/b", "{\"x\":1}", "web", "b", ETCD_ANY, 0),
              0);
    keeper_drain(&kf.k);
    r = modrev("b");
    CHECK(r > 0);
    CHECK_INT(keeper_enqueue(&kf.k, KEYS "web/instances/b", "{\"x\":1}", "web", "b", ETCD_ANY, 0),
              0);
    keeper_drain(&kf.k); /* a reconcile's entry: written even when equal to the last */
    CHECK(modrev("b") > r);
    r = modrev("b");
    CHECK_INT(keeper_enqueue(&kf.k, KEYS "web/instances/b", "{\"x\":1}", "web", "b", ETCD_ANY, 1),
              0);
    keeper_drain(&kf.k); /* an event of the value the reconcile wrote: skipped */
    CHECK_INT(modrev("b"), r);
}

/* a guarded write that loses its race forgets the key: the next event writes */
static void test_failed_write(void)
{
    int64_t r;

    up("c", 1);
    r = modrev("c");
    /* guard 1: the key must still be at mod_revision 1, which it is not: refused */
    CHECK_INT(keeper_enqueue(&kf.k, KEYS "web/instances/c", "{\"y\":1}", "web", "c", 1, 0), 0);
    keeper_drain(&kf.k);
    CHECK_INT(modrev("c"), r);
    up("c", 1);
    CHECK(modrev("c") > r); /* written: the writer no longer claims to know the value */
}

static int64_t fence_now = 7;
static int64_t fence(void *ctx)
{
    (void)ctx;
    return fence_now;
}

/* another term (fence) forgets everything: a new leader writes what it is told */
static void test_new_fence(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    const char *lkey = PREFIX "/" ENV "/leader-seen-test";
    int64_t r;

    fence_now = etcd_fixture_put(&kf.fx, lkey, "me", 0);
    keeper_set_fence(&kf.k, lkey, fence, NULL);
    up("d", 1);
    r = modrev("d");
    CHECK(r > 0);
    up("d", 1);
    CHECK_INT(modrev("d"), r); /* same term, same value */
    etcd_delete(&kf.fx.e, lkey, &err);
    fence_now = etcd_fixture_put(&kf.fx, lkey, "me again", 0);
    up("d", 1);
    CHECK(modrev("d") > r); /* another term: written */
    keeper_set_fence(&kf.k, NULL, NULL, NULL);
    etcd_delete(&kf.fx.e, lkey, &err);
}

/* many keys: the map grows, deletes keep every other key findable */
static void test_many(void)
{
    char c[32];
    int64_t r[300];
    unsigned long same = kf.k.st.unchanged;
    int kept = 0;

    for (int i = 0; i < 300; i++) {
        snprintf(c, sizeof(c), "m%d", i);
        up(c, 1);
        r[i] = modrev(c);
    }
    for (int i = 0; i < 300; i += 3) {
        snprintf(c, sizeof(c), "m%d", i);
        keeper_down(&kf.k, "web", c);
    }
    for (int i = 0; i < 300; i++) {
        snprintf(c, sizeof(c), "m%d", i);
        up(c, 1);
        kept += i % 3 ? modrev(c) == r[i] : modrev(c) > r[i];
    }
    CHECK_INT(kept, 300);
    CHECK_INT(kf.k.st.unchanged, same + 200);
}

int main(void)
{
    struct sched *s = fake_new(ENV);

    if (!s || keeper_fixture_start(&kf, ENV, &sched_fake, s))
        return 1;
    test_unchanged();
    test_behind_its_back();
    test_failed_write();
    test_new_fence();
    test_many();
    keeper_fixture_stop(&kf);
    fake_free(s);
    return check_done("test_keeper_seen");
}
