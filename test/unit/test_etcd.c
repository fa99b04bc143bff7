/* test_etcd.c - the etcd client: base64, prefix ranges, endpoint parsing, and put/get/txn/delete/
 * lease against a real etcd of its own (etcd_fixture.c) */
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>
#include "check.h"
#include "clock.h"
#include "etcd.h"
#include "etcd_fixture.c"
#include "fixture.h"

extern char **environ;

/* 0 when p, n survives etcd_b64 then etcd_unb64 byte for byte; else 1, and says how. */
static int b64_round_trip(const char *p, size_t n)
{
    char *enc = etcd_b64(p, n), *dec = NULL;
    size_t len = 99;
    int bad = !enc || strlen(enc) != 4 * ((n + 2) / 3);

    if (!bad)
        dec = etcd_unb64(enc, &len);
    bad = bad || !dec || len != n || memcmp(dec, p, n) || dec[n] != '\0';
    if (bad)
        fprintf(stderr, "base64 round trip of %zu bytes: '%s' -> %zu bytes\n", n,
                enc ? enc : "(null)", dec ? len : 0);
    free(dec);
    free(enc);
    return bad;
}

static void test_b64(void)
{
    static const char *const bad[] = {
        "====",     "YQ=a",     "YQ==YQ==",     "YQ=",  "Y",    "=YQ=",      "Y===",
        "YQ==\n",   "YQ== ",    " YQ==",        "Y-Q=", "YQ=-", "Zm9v-Zm9v", "Zm\n9v",
        "Zm9v\r\n", "Zm9v!===", "Zg==Zg==Zg==",
    };
    static const char *const vec[][2] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    char bytes[1000];
    int failed = 0;
    size_t len;
    char *s;

    for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) { /* RFC 4648 section 10 */
        s = etcd_b64(vec[i][0], strlen(vec[i][0]));
        CHECK_STR(s, vec[i][1]);
        free(s);
        s = etcd_unb64(vec[i][1], &len);
        CHECK_STR(s, vec[i][0]);
        CHECK_INT(len, strlen(vec[i][0]));
        free(s);
    }
    for (size_t i = 0; i < sizeof(bytes); i++)
        bytes[i] = (char)((i * 37 + 11) & 0xff); /* NULs and high bytes included */
    for (size_t n = 0; n < 70; n++) /* every padding, and across EVP's 64-character blocks */
        failed += b64_round_trip(bytes, n);
    CHECK_INT(failed, 0);
    CHECK_INT(b64_round_trip(bytes, sizeof(bytes)), 0);
    s = etcd_unb64("AGEA", &len); /* "\0a\0": values may hold NULs */
    CHECK(s && len == 3 && !s[0] && s[1] == 'a' && !s[2]);
    free(s);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        len = 12345;
        s = etcd_unb64(bad[i], &len);
        if (s)
            fprintf(stderr, "etcd_unb64 accepted '%s' (%zu bytes)\n", bad[i], len);
        CHECK(s == NULL);
        CHECK_INT(len, 12345); /* untouched on failure */
        free(s);
    }
}

static void test_prefix_end(void)
{
    char *p;

    p = etcd_prefix_end("/mdo/prod/");
    CHECK_STR(p, "/mdo/prod0");
    free(p);
    p = etcd_prefix_end("a\xff");
    CHECK_STR(p, "b");
    free(p);
    p = etcd_prefix_end("\xff\xff");
    CHECK_STR(p, "");
    free(p);
}

/* etcd_open on one endpoint string; 0 or the error, with *e open on success */
static int open1(struct etcd *e, const char *ep, struct mdo_err *err)
{
    char *copy = strdup(ep);
    char *eps[] = {copy};
    int ret = etcd_open(e, eps, 1, NULL, NULL, NULL, NULL, NULL, err);

    free(copy);
    return ret;
}

static void bad_endpoint(const char *ep)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct etcd e;

    CHECK_INT(open1(&e, ep, &err), -MDO_ECONFIG);
    CHECK_INT(err.origin, MDO_SRC_ETCD);
    CHECK_HAS(err.msg, "etcd endpoint");
    CHECK_LACKS(err.msg, "s3cret");
}

static void test_endpoints(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct etcd e;
    char a[] = "127.0.0.1:2379, http://a:1/", b[] = "https://b:2";
    char *eps[] = {a, b};

    CHECK_INT(etcd_open(&e, eps, 2, NULL, NULL, NULL, NULL, NULL, &err), 0);
    CHECK_INT(e.nendpoints, 3);
    if (e.nendpoints == 3) {
        CHECK_STR(e.endpoints[0], "http://127.0.0.1:2379");
        CHECK_STR(e.endpoints[1], "http://a:1");
        CHECK_STR(e.endpoints[2], "https://b:2");
    }
    etcd_close(&e);

    /* a trailing comma: the last part is empty, not a read past the string */
    CHECK_INT(open1(&e, "h:1,", &err), 0);
    CHECK_INT(e.nendpoints, 1);
    etcd_close(&e);
    CHECK_INT(open1(&e, ",,localhost:2379,,", &err), 0);
    CHECK_INT(e.nendpoints, 1);
    if (e.nendpoints == 1)
        CHECK_STR(e.endpoints[0], "http://localhost:2379");
    etcd_close(&e);
    CHECK_INT(open1(&e, "[::1]:2379", &err), 0);
    if (e.nendpoints == 1)
        CHECK_STR(e.endpoints[0], "http://[::1]:2379");
    etcd_close(&e);
    CHECK_INT(open1(&e, "http://gw:80/etcd/", &err), 0); /* a path behind a proxy stays */
    if (e.nendpoints == 1)
        CHECK_STR(e.endpoints[0], "http://gw:80/etcd");
    etcd_close(&e);

    bad_endpoint("ftp://h:1");
    bad_endpoint("h:1/path");
    bad_endpoint("h:99999");
    bad_endpoint("http://");
    bad_endpoint("http://a b:1");
    bad_endpoint("u:s3cret@h:bad");
    bad_endpoint("http://u:s3cret@h:bad");
    bad_endpoint("h:1,ftp://x:2"); /* one bad endpoint refuses the list */

    CHECK_INT(etcd_open(&e, eps, 0, NULL, NULL, NULL, NULL, NULL, &err), -MDO_ECONFIG);
    CHECK_INT(err.origin, MDO_SRC_ETCD);
    CHECK_INT(open1(&e, " , ", &err), -MDO_ECONFIG);
}

static void test_client(struct etcd *e)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct etcd_op ops[ETCD_TXN_MAX + 1];
    char keys[ETCD_TXN_MAX][32];
    int64_t rev, lease = 0;
    int applied = -1;

    /* put, get */
    CHECK_INT(etcd_put(e, "/t/a", "one", 0, &err), 0);
    CHECK_INT(etcd_get(e, "/t/a", &kvs, &err), 0);
    CHECK_INT(kvs.n, 1);
    if (kvs.n == 1) {
        CHECK_STR(kvs.kv[0].key, "/t/a");
        CHECK_STR(kvs.kv[0].value, "one");
        CHECK_INT(kvs.kv[0].len, 3);
        CHECK_INT(kvs.kv[0].version, 1);
        CHECK(kvs.kv[0].mod_revision > 0);
        CHECK_INT(kvs.kv[0].mod_revision, kvs.revision);
    }
    rev = kvs.n ? kvs.kv[0].mod_revision : 0;
    etcd_kvs_release(&kvs);
    CHECK_INT(etcd_put(e, "/t/empty", "", 0, &err), 0);
    CHECK_INT(etcd_get(e, "/t/empty", &kvs, &err), 0);
    CHECK(kvs.n == 1 && kvs.kv[0].len == 0 && !strcmp(kvs.kv[0].value, ""));
    etcd_kvs_release(&kvs);
    CHECK_INT(etcd_get(e, "/t/missing", &kvs, &err), 0);
    CHECK_INT(kvs.n, 0);
    etcd_kvs_release(&kvs);

    /* txn: guards hold, then fail and change nothing */
    ops[0] = (struct etcd_op){ETCD_PUT, "/t/a", "two", rev, 0};
    ops[1] = (struct etcd_op){ETCD_PUT, "/t/b", "new", 0, 0};
    CHECK_INT(etcd_txn(e, ops, 2, &applied, &err), 0);
    CHECK_INT(applied, 1);
    CHECK_INT(etcd_txn(e, ops, 2, &applied, &err), 0); /* /t/a moved on, /t/b exists */
    CHECK_INT(applied, 0);
    ops[0] = (struct etcd_op){ETCD_DEL, "/t/b", NULL, ETCD_ANY, 0};
    CHECK_INT(etcd_txn(e, ops, 1, &applied, &err), 0);
    CHECK_INT(applied, 1);
    CHECK_INT(etcd_get(e, "/t/a", &kvs, &err), 0);
    CHECK(kvs.n == 1 && !strcmp(kvs.kv[0].value, "two"));
    etcd_kvs_release(&kvs);
    CHECK_INT(etcd_get(e, "/t/b", &kvs, &err), 0);
    CHECK_INT(kvs.n, 0);
    etcd_kvs_release(&kvs);
    CHECK_INT(etcd_txn(e, ops, ETCD_TXN_MAX + 1, &applied, &err), -MDO_EFAIL);
    CHECK_INT(err.origin, MDO_SRC_ETCD);

    /* etcd's own refusal: its reason lands in why, the origin is etcd */
    ops[0] = (struct etcd_op){ETCD_PUT, "/t/dup", "1", ETCD_ANY, 0};
    ops[1] = (struct etcd_op){ETCD_PUT, "/t/dup", "2", ETCD_ANY, 0};
    CHECK_INT(etcd_txn(e, ops, 2, &applied, &err), -MDO_EHTTP);
    CHECK_INT(err.origin, MDO_SRC_ETCD);
    CHECK_HAS(err.why, "duplicate key");
    CHECK(err.http_status >= 400);

    /* a listing in pages (500 per page) at one revision */
    for (int t = 0; t < 5; t++) {
        for (int i = 0; i < ETCD_TXN_MAX; i++) {
            snprintf(keys[i], sizeof(keys[i]), "/t/many/%04d", t * ETCD_TXN_MAX + i);
            ops[i] = (struct etcd_op){ETCD_PUT, keys[i], keys[i] + 8, ETCD_ANY, 0};
        }
        CHECK_INT(etcd_txn(e, ops, ETCD_TXN_MAX, &applied, &err), 0);
    }
    CHECK_INT(etcd_get_prefix(e, "/t/many/", &kvs, &err), 0);
    CHECK_INT(kvs.n, 5 * ETCD_TXN_MAX);
    if (kvs.n == 5 * ETCD_TXN_MAX) {
        CHECK_STR(kvs.kv[0].key, "/t/many/0000");
        CHECK_STR(kvs.kv[500].key, "/t/many/0500");
        CHECK_STR(kvs.kv[639].value, "0639");
        CHECK(kvs.revision >= kvs.kv[639].mod_revision);
    }
    etcd_kvs_release(&kvs);
    CHECK_INT(etcd_get_prefix(e, "/t/", &kvs, &err), 0);
    CHECK_INT(kvs.n, 5 * ETCD_TXN_MAX + 2); /* /t/a, /t/empty */
    etcd_kvs_release(&kvs);

    /* delete */
    CHECK_INT(etcd_delete(e, "/t/a", &err), 0);
    CHECK_INT(etcd_get(e, "/t/a", &kvs, &err), 0);
    CHECK_INT(kvs.n, 0);
    etcd_kvs_release(&kvs);
    CHECK_INT(etcd_delete(e, "/t/a", &err), 0); /* deleting nothing is no error */

    /* lease: a key under it, kept alive, gone with it */
    CHECK_INT(etcd_lease_grant(e, 30, &lease, &err), 0);
    CHECK(lease != 0);
    CHECK_INT(etcd_put(e, "/t/leased", "x", lease, &err), 0);
    CHECK_INT(etcd_get(e, "/t/leased", &kvs, &err), 0);
    CHECK(kvs.n == 1 && kvs.kv[0].lease == lease);
    etcd_kvs_release(&kvs);
    CHECK_INT(etcd_lease_keepalive(e, lease, &err), 0);
    CHECK_INT(etcd_lease_revoke(e, lease, &err), 0);
    CHECK_INT(etcd_get(e, "/t/leased", &kvs, &err), 0);
    CHECK_INT(kvs.n, 0);
    etcd_kvs_release(&kvs);
    CHECK_INT(etcd_lease_keepalive(e, lease, &err), -MDO_ENOTFOUND);
    CHECK_INT(err.origin, MDO_SRC_ETCD);
    CHECK(etcd_put(e, "/t/leased", "x", lease, &err) < 0); /* a revoked lease */
    CHECK_INT(err.origin, MDO_SRC_ETCD);
    CHECK(err.why[0] != '\0');
}

/* Transport failures: tagged etcd, curl's reason in why, no password in the message; a dead
 * first endpoint fails over to the live one. */
static void test_unreachable(const char *live)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct etcd e;
    char dead[64], both[160];

    snprintf(dead, sizeof(dead), "http://u:s3cret@127.0.0.1:%d", fixture_free_port());
    CHECK_INT(open1(&e, dead, &err), 0);
    CHECK_INT(etcd_get(&e, "/t/a", &kvs, &err), -MDO_ENET);
    CHECK_INT(err.origin, MDO_SRC_ETCD);
    CHECK_HAS(err.msg, "etcd unreachable");
    CHECK_LACKS(err.msg, "s3cret");
    CHECK(err.why[0] != '\0');
    CHECK_LACKS(err.why, "s3cret");
    etcd_kvs_release(&kvs);
    etcd_close(&e);

    if (!live) {
        CHECK_SKIP("failover: no etcd");
        return;
    }
    snprintf(both, sizeof(both), "%s,%s", dead, live);
    CHECK_INT(open1(&e, both, &err), 0);
    CHECK_INT(etcd_put(&e, "/t/failover", "ok", 0, &err), 0);
    CHECK_INT(e.cur % e.nendpoints, 1);
    CHECK_INT(etcd_get(&e, "/t/failover", &kvs, &err), 0);
    CHECK(kvs.n == 1 && !strcmp(kvs.kv[0].value, "ok"));
    etcd_kvs_release(&kvs);
    etcd_close(&e);
}

/* etcdctl ARGS... (NULL-terminated, at most 6) against url as root (which only counts once auth
 * is on); 0 when it exits 0. */
static int ctl(const char *url, ...)
{
    char ep[96];
    const char *argv[12] = {"etcdctl", ep, "--user", "root:rootpw"};
    posix_spawn_file_actions_t fa;
    va_list ap;
    pid_t pid;
    int st = -1, n = 4;

    snprintf(ep, sizeof(ep), "--endpoints=%s", url);
    va_start(ap, url);
    while (n < 11 && (argv[n] = va_arg(ap, const char *)))
        n++;
    va_end(ap);
    argv[n] = NULL;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawnp(&pid, "etcdctl", &fa, NULL, (char *const *)argv, environ) ||
        waitpid(pid, &st, 0) != pid)
        st = -1;
    posix_spawn_file_actions_destroy(&fa);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int open_as(struct etcd *e, const char *eps, const char *user, const char *pw,
                   struct mdo_err *err)
{
    char *copy = strdup(eps);
    char *v[] = {copy};
    int ret = etcd_open(e, v, 1, user, pw, NULL, NULL, NULL, err);

    free(copy);
    return ret;
}

struct slow_get {
    struct etcd *e;
    int ret;
};

static void *slow_get(void *arg)
{
    struct slow_get *g = arg;
    struct mdo_err err = MDO_ERR_INIT;
    struct etcd_kvs kvs = ETCD_KVS_INIT;

    g->ret = etcd_get(g->e, "/t/auth/b", &kvs, &err);
    etcd_kvs_release(&kvs);
    http_thread_cleanup();
    return NULL;
}

/* Authentication outside the lock: the first endpoint accepts connections and never answers,
 * so authenticating there takes the whole timeout; meanwhile the lock is free (other threads
 * are not held up), and the call then fails over to the live endpoint. */
static void test_auth_unlocked(const char *live)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct slow_get g = {NULL, -1};
    char both[160];
    struct etcd e;
    pthread_t t;
    int port, fd = fixture_loopback(8, &port), locked = -1;

    snprintf(both, sizeof(both), "http://127.0.0.1:%d,%s", port, live);
    CHECK_INT(open_as(&e, both, "u", "upw", &err), 0);
    e.timeout_ms = 1500;
    g.e = &e;
    if (pthread_create(&t, NULL, slow_get, &g)) {
        CHECK_SKIP("no thread: auth-outside-the-lock test not run");
    } else {
        clock_nap_ms(500, NULL); /* the thread is waiting for the silent endpoint now */
        locked = pthread_mutex_trylock(&e.lock);
        if (!locked)
            pthread_mutex_unlock(&e.lock);
        pthread_join(t, NULL);
        CHECK_INT(locked, 0);
        CHECK_INT(g.ret, 0);
        CHECK_INT(e.cur % e.nendpoints, 1);
    }
    etcd_close(&e);
    close(fd);
}

/* Auth (F6): credentials before auth is on work, and keep working when it goes on; once it is
 * on, a dead first endpoint is skipped for authentication too, a token etcd refuses is renewed
 * and the call retried once, a wrong password is etcd's refusal (and not printed), no
 * credentials are refused. Runs last: it leaves auth on. */
static void test_auth(const char *live)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct etcd e, early;
    char both[160];

    snprintf(both, sizeof(both), "http://127.0.0.1:%d,%s", fixture_free_port(), live);
    /* a client with credentials while auth is still off (ops/etcd-auth enables it last) */
    CHECK_INT(open_as(&early, live, "u", "upw", &err), 0);
    CHECK_INT(etcd_put(&early, "/t/auth/a", "1", 0, &err), 0);
    CHECK(early.token && !*early.token);
    if (ctl(live, "user", "add", "root:rootpw", NULL) || ctl(live, "user", "add", "u:upw", NULL) ||
        ctl(live, "role", "add", "r", NULL) ||
        ctl(live, "role", "grant-permission", "--prefix=true", "r", "readwrite", "/t/auth/",
            NULL) ||
        ctl(live, "user", "grant-role", "u", "r", NULL) || ctl(live, "auth", "enable", NULL)) {
        CHECK_SKIP("etcdctl could not enable auth: auth tests not run");
        etcd_close(&early);
        return;
    }
    /* the "auth is off" token is refused now: renewed, and the call goes through */
    CHECK_INT(etcd_get(&early, "/t/auth/a", &kvs, &err), 0);
    CHECK(kvs.n == 1 && !strcmp(kvs.kv[0].value, "1"));
    CHECK(early.token && *early.token);
    etcd_kvs_release(&kvs);
    etcd_close(&early);

    /* dead first endpoint: authentication fails over with the request */
    CHECK_INT(open_as(&e, both, "u", "upw", &err), 0);
    CHECK_INT(etcd_put(&e, "/t/auth/b", "2", 0, &err), 0);
    CHECK_INT(e.cur % e.nendpoints, 1);
    CHECK(e.token && *e.token);
    /* a token etcd no longer knows ("invalid auth token"): renewed once, the call succeeds */
    free(e.token);
    e.token = strdup("bogus.token");
    CHECK_INT(etcd_get(&e, "/t/auth/b", &kvs, &err), 0);
    CHECK(kvs.n == 1 && !strcmp(kvs.kv[0].value, "2"));
    etcd_kvs_release(&kvs);
    CHECK(e.token && strcmp(e.token, "bogus.token"));
    /* outside the role: etcd's permission denied, no endless renewal */
    CHECK_INT(etcd_put(&e, "/t/other", "x", 0, &err), -MDO_EHTTP);
    CHECK_INT(err.origin, MDO_SRC_ETCD);
    CHECK_HAS(err.why, "permission denied");
    etcd_close(&e);
    test_auth_unlocked(live);

    /* a wrong password: etcd's refusal, the password in no message */
    CHECK_INT(open_as(&e, both, "u", "wr0ngpw", &err), 0);
    CHECK_INT(etcd_get(&e, "/t/auth/b", &kvs, &err), -MDO_EHTTP);
    CHECK_INT(err.origin, MDO_SRC_ETCD);
    CHECK_HAS(err.msg, "authentication as 'u' failed");
    CHECK_LACKS(err.msg, "wr0ngpw");
    CHECK_LACKS(err.why, "wr0ngpw");
    etcd_kvs_release(&kvs);
    etcd_close(&e);

    /* no credentials: refused */
    CHECK_INT(open1(&e, live, &err), 0);
    CHECK_INT(etcd_get(&e, "/t/auth/b", &kvs, &err), -MDO_EHTTP);
    CHECK_INT(err.origin, MDO_SRC_ETCD);
    etcd_kvs_release(&kvs);
    etcd_close(&e);
}

int main(void)
{
    struct etcd_fixture srv;
    struct mdo_err err = MDO_ERR_INIT;
    struct etcd e;

    test_b64();
    test_prefix_end();
    test_endpoints();
    if (etcd_fixture_start(&srv)) {
        CHECK_SKIP("etcd did not start (is etcd-server installed?): client tests not run");
        test_unreachable(NULL);
    } else {
        CHECK_INT(open1(&e, srv.url, &err), 0);
        test_client(&e);
        etcd_close(&e);
        test_unreachable(srv.url);
        test_auth(srv.url);
        etcd_fixture_stop(&srv);
    }
    http_thread_cleanup();
    return check_done("test_etcd");
}
