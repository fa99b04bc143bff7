/* test_keeper_health.c - what the keeper decides from an error's origin: /health's reasons, the
 * etcd error count; keys refused before any request; a dead etcd counted as etcd */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "clock.h"
#include "keeper.h"

static int listed;

static int fake_list(struct sched *s, const char *service, struct reg_record **out, unsigned *n,
                     struct mdo_err *err)
{
    (void)s, (void)service, (void)err;
    listed++;
    *out = NULL;
    *n = 0;
    return 0;
}

static int has_reason(const struct keeper_reasons *r, const char *text)
{
    for (unsigned i = 0; i < r->n; i++)
        if (!strcmp(r->text[i], text))
            return 1;
    return 0;
}

static struct keeper_stats healthy(void)
{
    struct keeper_stats st;

    memset(&st, 0, sizeof(st));
    st.etcd_ok = st.sched_ok = st.stream_connected = st.writer = 1;
    st.last_reconcile_ok_ms = 1;
    return st;
}

static void test_classify(void)
{
    struct keeper_stats st = healthy();
    struct keeper_reasons r;
    struct mdo_err err = MDO_ERR_INIT;

    keeper_reasons(&st, 0, &r);
    CHECK_INT(r.n, 0);

    /* a Docker timeout whose text names etcd (an image name): docker's fault, not etcd's */
    err_set(&err, MDO_ENET, "docker: pulling quay.io/coreos/etcd: timed out");
    err_from(&err, MDO_SRC_DOCKER);
    keeper_note_error(&st, &err);
    CHECK_INT(st.etcd_errors, 0);
    CHECK_INT(st.etcd_ok, 1);
    keeper_reasons(&st, 0, &r);
    CHECK_INT(r.n, 1);
    CHECK(has_reason(&r, "docker unreachable"));
    CHECK(!has_reason(&r, "etcd unreachable"));
    CHECK_STR(st.last_error, "docker: pulling quay.io/coreos/etcd: timed out");

    /* Marathon answering an error is not "unreachable" */
    st = healthy();
    err_clear(&err);
    err_set(&err, MDO_EHTTP, "marathon: HTTP 500");
    err_from(&err, MDO_SRC_MARATHON);
    keeper_note_error(&st, &err);
    keeper_reasons(&st, 0, &r);
    CHECK_INT(r.n, 0);
    CHECK_STR(st.last_error, "marathon: HTTP 500");

    /* Marathon unreachable is named */
    err_clear(&err);
    err_set(&err, MDO_ENET, "cannot connect");
    err_from(&err, MDO_SRC_MARATHON);
    keeper_note_error(&st, &err);
    keeper_reasons(&st, 0, &r);
    CHECK(has_reason(&r, "marathon unreachable"));

    /* an etcd error, whatever its code or text, is etcd's and counted */
    st = healthy();
    err_clear(&err);
    err_set(&err, MDO_EHTTP, "HTTP 503 from the cluster");
    err_from(&err, MDO_SRC_ETCD);
    keeper_note_error(&st, &err);
    CHECK_INT(st.etcd_errors, 1);
    CHECK_INT(st.etcd_ok, 0);
    keeper_reasons(&st, 0, &r);
    CHECK_INT(r.n, 1);
    CHECK(has_reason(&r, "etcd unreachable"));

    /* no origin: the old rule (MDO_ENET, or "etcd" in the text) counted it; now nothing does */
    st = healthy();
    err_clear(&err);
    err_set(&err, MDO_ENET, "etcd-ish text, no origin");
    keeper_note_error(&st, &err);
    CHECK_INT(st.etcd_errors, 0);
    keeper_reasons(&st, 0, &r);
    CHECK_INT(r.n, 0);

    /* the other reasons, in /health's order */
    st = healthy();
    st.stream_connected = 0;
    st.last_reconcile_ok_ms = 0;
    keeper_reasons(&st, 2, &r);
    CHECK_INT(r.n, 3);
    CHECK_STR(r.text[0], "scheduler event stream disconnected");
    CHECK_STR(r.text[1], "no reconcile has succeeded yet");
    CHECK_STR(r.text[2], "mass removal held back until a second listing agrees");
    st.writer = 0; /* a follower does not reconcile */
    keeper_reasons(&st, 0, &r);
    CHECK_INT(r.n, 1);

    /* a scheduler call that has not answered for longer than KEEPER_SLOW_MS names it */
    st = healthy();
    st.sched_src = MDO_SRC_MARATHON;
    st.listing_since_ms = clock_now_ms() - 200;
    keeper_reasons(&st, 0, &r);
    CHECK_INT(r.n, 0);
    st.listing_since_ms = clock_now_ms() - KEEPER_SLOW_MS - 1000;
    keeper_reasons(&st, 0, &r);
    CHECK_INT(r.n, 1);
    CHECK_STR(r.text[0], "marathon not answering");
}

/* Against an etcd that is not there (a closed loopback port): the keeper's errors are etcd's. */
static void test_dead_etcd(void)
{
    char *eps[] = {"http://127.0.0.1:1"};
    struct sched_ops ops = {0};
    struct cfg cfg;
    struct etcd e;
    struct keeper k;
    struct keeper_stats st;
    struct strset held = STRSET_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    struct reg_record rec;

    memset(&cfg, 0, sizeof(cfg));
    cfg.environment = "local";
    cfg.etcd.prefix = "/mdo";
    ops.name = "docker";
    ops.list = fake_list;
    if (etcd_open(&e, eps, 1, NULL, NULL, NULL, NULL, NULL, &err)) {
        fprintf(stderr, "etcd_open: %s\n", err.msg);
        CHECK(0);
        return;
    }
    keeper_init(&k, &cfg, &e, &ops, NULL);

    CHECK(keeper_reconcile(&k, &err) != 0);
    CHECK_INT(err.origin, MDO_SRC_ETCD);
    CHECK_INT(listed, 0); /* registry first: the scheduler is not asked */
    keeper_snapshot(&k, &st, &held);
    CHECK_INT(st.etcd_errors, 1);
    CHECK_INT(st.etcd_ok, 0);
    CHECK_INT(st.reconcile_errors, 1);
    CHECK_INT(held.n, 0);

    /* a name that makes no key is refused before any request: not an etcd error */
    keeper_down(&k, "web", "../x");
    keeper_snapshot(&k, &st, NULL);
    CHECK_INT(st.event_errors, 1);
    CHECK_INT(st.etcd_errors, 1);
    CHECK(strstr(st.last_error, "container '../x'") != NULL);
    CHECK_INT(st.dirty, 1);

    memset(&rec, 0, sizeof(rec));
    rec.service = strdup("a/b");
    rec.container = strdup("c-1");
    rec.environment = strdup("local");
    keeper_up(&k, &rec); /* takes rec; skipped (logged once): neither an error nor a write */
    keeper_snapshot(&k, &st, NULL);
    CHECK_INT(st.event_errors, 1);
    CHECK_INT(st.etcd_errors, 1);
    CHECK_INT(k.refused.n, 1);

    /* a good name reaches etcd, which is not there */
    keeper_down(&k, "web", "web-1");
    keeper_snapshot(&k, &st, NULL);
    CHECK_INT(st.etcd_errors, 2);

    /* a follower writes nothing, so nothing fails */
    keeper_set_writer(&k, 0);
    CHECK_INT(keeper_reconcile(&k, &err), 0);
    keeper_down(&k, "web", "web-1");
    keeper_snapshot(&k, &st, NULL);
    CHECK_INT(st.etcd_errors, 2);

    keeper_release(&k);
    etcd_close(&e);
}

/* /health's start gate: 503 until leadership is decided and a leader has reconciled; once
 * passed, a promotion does not close it again (the marathon.sh flap: 200 as a follower, then
 * 503 right after, once the first lease tick made it leader before its first pass) */
static int64_t fence_val;
static int64_t fake_fence(void *ctx)
{
    (void)ctx;
    return fence_val;
}

static void test_start_gate(void)
{
    struct sched_ops ops = {0};
    struct cfg cfg;
    struct keeper k;
    struct keeper_stats st;
    struct keeper_reasons r;

    memset(&cfg, 0, sizeof(cfg));
    ops.name = "docker";
    keeper_init(&k, &cfg, NULL, &ops, NULL);
    k.st.stream_connected = 1;
    keeper_set_fence(&k, "/mdo/x/leader", fake_fence, NULL);
    fence_val = 0;
    keeper_snapshot(&k, &st, NULL);
    keeper_reasons(&st, 0, &r);
    CHECK_INT(r.n, 1);
    CHECK(has_reason(&r, "leadership not decided yet"));
    fence_val = 7; /* the first tick made it leader */
    keeper_lease_decided(&k);
    keeper_snapshot(&k, &st, NULL);
    keeper_reasons(&st, 0, &r);
    CHECK(has_reason(&r, "no reconcile has succeeded yet"));
    CHECK_INT(st.ready, 0);
    k.st.last_reconcile_ok_ms = clock_now_ms();
    keeper_snapshot(&k, &st, NULL);
    keeper_reasons(&st, 0, &r);
    CHECK_INT(r.n, 0);
    CHECK_INT(st.ready, 1);

    /* a follower is ready once decided; promoted later, it stays ready */
    keeper_release(&k);
    keeper_init(&k, &cfg, NULL, &ops, NULL);
    k.st.stream_connected = 1;
    keeper_set_fence(&k, "/mdo/x/leader", fake_fence, NULL);
    fence_val = 0;
    keeper_lease_decided(&k);
    keeper_snapshot(&k, &st, NULL);
    keeper_reasons(&st, 0, &r);
    CHECK_INT(r.n, 0);
    fence_val = 9;
    keeper_snapshot(&k, &st, NULL);
    keeper_reasons(&st, 0, &r);
    CHECK_INT(st.writer, 1);
    CHECK_INT(r.n, 0);
    k.st.stream_connected = 0; /* a peer at fault still says so */
    keeper_snapshot(&k, &st, NULL);
    keeper_reasons(&st, 0, &r);
    CHECK_INT(r.n, 1);
    keeper_release(&k);
}

int main(void)
{
    test_classify();
    test_start_gate();
    test_dead_etcd();
    return check_done("test_keeper_health");
}
