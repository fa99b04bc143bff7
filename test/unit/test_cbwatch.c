/* test_cbwatch.c - the callbacks dispatcher fed by its watch, on a real etcd and a local target:
 * the promotion's baseline is not delivered, an added and a removed instance are, a health flip
 * is not, a promotion after a demotion takes a fresh baseline, and the stop is bounded */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include "cbwatch.h"
#include "check.h"
#include "clock.h"
#include "etcd_fixture.c"
#include "fixture.h"
#include "log.h"
#include "registry.h"

/* ---- the target: answers 200, keeps the bodies ---- */

static int lfd, port;
static pthread_mutex_t tlock = PTHREAD_MUTEX_INITIALIZER;
static char *bodies[64];
static int nbodies;

static void *target_conn(void *arg)
{
    int fd = (int)(long)arg;
    char buf[1 << 16];
    size_t len = 0, n = fixture_request(fd, buf, sizeof(buf), &len);

    if (n) {
        const char *body = strstr(buf, "\r\n\r\n") + 4;
        pthread_mutex_lock(&tlock);
        if (nbodies < 64)
            bodies[nbodies++] = strndup(body, n - (size_t)(body - buf));
        pthread_mutex_unlock(&tlock);
        if (write(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 57) !=
            57)
            fprintf(stderr, "test_cbwatch: the target could not answer\n");
    }
    close(fd);
    return NULL;
}

static void target_start(void)
{
    lfd = fixture_loopback(16, &port);
    fixture_serve(lfd, target_conn);
}

/* Waits up to ms for delivery number k (1-based); its body, or NULL. */
static const char *delivery(int k, long ms)
{
    int64_t deadline = clock_deadline_ms(ms);
    const char *b = NULL;

    do {
        pthread_mutex_lock(&tlock);
        b = nbodies >= k ? bodies[k - 1] : NULL;
        pthread_mutex_unlock(&tlock);
        if (b)
            return b;
        clock_nap_ms(20, NULL);
    } while (clock_left_ms(deadline) > 0);
    return NULL;
}

static int delivered(void)
{
    int n;

    pthread_mutex_lock(&tlock);
    n = nbodies;
    pthread_mutex_unlock(&tlock);
    return n;
}

/* ---- the registry ---- */

static struct etcd_fixture fx;

static void put(int i, const char *state)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct reg_port p = {(char *)"http", 80, 31000 + i, "tcp"};
    struct reg_record r = {0};
    char ctr[32], key[128], *v;

    snprintf(ctr, sizeof(ctr), "t-web-%d", i);
    snprintf(key, sizeof(key), "/mdo/t/services/web/instances/%s", ctr);
    r.service = (char *)"web";
    r.container = ctr;
    r.environment = (char *)"t";
    r.host = (char *)"10.0.0.1";
    r.ports = &p;
    r.nports = 1;
    r.state = (char *)state;
    r.started_at = (char *)"2026-01-01T00:00:00Z";
    r.backend = (char *)"docker";
    v = reg_record_json(&r);
    if (!v || etcd_put(&fx.e, key, v, 0, &err))
        exit(2);
    free(v);
}

static void del(int i)
{
    struct mdo_err err = MDO_ERR_INIT;
    char key[128];

    snprintf(key, sizeof(key), "/mdo/t/services/web/instances/t-web-%d", i);
    if (etcd_delete(&fx.e, key, &err))
        exit(2);
}

int main(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg cfg;
    struct callbacks *cb = NULL;
    char *allow[] = {(char *)"127.0.0.1/32"}, url[64], id[CBREG_ID_LEN + 1];
    const char *b;
    int64_t t0;

    setenv("MDO_LOG", "error", 1);
    log_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    target_start();
    if (etcd_fixture_start(&fx))
        return 2;
    memset(&cfg, 0, sizeof(cfg));
    cfg.environment = (char *)"t";
    cfg.etcd.prefix = (char *)"/mdo";
    cfg.subscriber.callback_allow = allow;
    cfg.subscriber.ncallback_allow = 1;
    put(1, "running");
    put(2, "running");

    CHECK_INT(callbacks_start(&cb, &cfg, &fx.e, &err), 0);
    CHECK_INT(callbacks_lead(cb, 1, 5000), 0); /* the watch's listing is the baseline */
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook", port);
    CHECK_INT(callbacks_register(cb, "web", url, NULL, NULL, id, &err), 0);
    clock_nap_ms(300, NULL);
    CHECK_INT(delivered(), 0); /* what was there at the promotion is not a change */

    put(3, "running"); /* an instance added */
    b = delivery(1, 5000);
    CHECK(b && strstr(b, "\"added\":[\"t-web-3\"]"));
    CHECK(b && strstr(b, "\"removed\":[]"));
    CHECK(b && strstr(b, "t-web-1") && strstr(b, "t-web-2")); /* the whole membership */

    put(3, "healthy"); /* a health flip: no membership change */
    clock_nap_ms(600, NULL);
    CHECK_INT(delivered(), 1);

    del(1); /* an instance removed; the record sent is the newest (healthy) */
    b = delivery(2, 5000);
    CHECK(b && strstr(b, "\"removed\":[\"t-web-1\"]"));
    CHECK(b && strstr(b, "\"added\":[]"));
    CHECK(b && strstr(b, "healthy") && !strstr(b, "\"container\":\"t-web-1\""));

    /* demoted: nothing delivered; promoted again: a fresh baseline (web-4 is in it) */
    callbacks_lead(cb, 0, 0);
    clock_nap_ms(200, NULL);
    put(4, "running");
    clock_nap_ms(400, NULL);
    CHECK_INT(delivered(), 2);
    CHECK_INT(callbacks_lead(cb, 1, 5000), 0);
    clock_nap_ms(300, NULL);
    CHECK_INT(delivered(), 2);
    put(5, "running");
    b = delivery(3, 5000);
    CHECK(b && strstr(b, "\"added\":[\"t-web-5\"]"));
    CHECK(b && strstr(b, "t-web-4"));

    t0 = clock_now_ms();
    callbacks_stop(cb); /* its watch ends within about a second */
    printf("# figure: callbacks_stop while leading took %lld ms\n",
           (long long)(clock_now_ms() - t0));
    CHECK(clock_now_ms() - t0 < 2500);
    etcd_fixture_stop(&fx);
    etcd_close(&fx.e);
    for (int i = 0; i < nbodies; i++)
        free(bodies[i]);
    curl_global_cleanup();
    return check_done("test_cbwatch");
}
