/* test_docker_inspect.c - a listing's inspects made a few at a time (docker_inspect.c), against
 * a fake engine on a unix socket: every record made, containers removed since the listing
 * skipped, requests in flight together, and on failures the error of the first in order */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include "check.h"
#include "docker.h"
#include "fixture.h"
#include "http.h"
#include "log.h"

#define NCTR 100

static int lfd;
static pthread_mutex_t flock_ = PTHREAD_MUTEX_INITIALIZER;
static int inflight, max_inflight, requests;
static const char *fail_ids[3]; /* answered 500 */

static const char inspect_fmt[] =
    "{\"Id\":\"%s\",\"Name\":\"/prod-web-%d\","
    "\"State\":{\"Running\":true,\"Restarting\":false,\"StartedAt\":"
    "\"2026-12-01T09:05:20Z\"},"
    "\"Config\":{\"Labels\":{\"mdo.environment\":\"prod\",\"mdo.service\":\"web\","
    "\"mdo.app_version\":\"v1\",\"mdo.ports\":\"[]\"}},"
    "\"NetworkSettings\":{\"IPAddress\":\"172.17.0.5\",\"Ports\":{}}}";

static void answer(int fd, int status, const char *body)
{
    char head[256];
    int n =
        snprintf(head, sizeof(head),
                 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                 status, strlen(body));
    if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0)
        return;
}

static void *conn_main(void *arg)
{
    int fd = (int)(long)arg;
    char req[4096];
    size_t len = 0, n;

    while ((n = fixture_request(fd, req, sizeof(req), &len))) {
        char id[64], body[1024];
        int k = -1;
        struct timespec ts = {0, 2000000}; /* 2 ms an answer: room for others in flight */
        pthread_mutex_lock(&flock_);
        requests++;
        if (++inflight > max_inflight)
            max_inflight = inflight;
        pthread_mutex_unlock(&flock_);
        nanosleep(&ts, NULL);
        if (sscanf(req, "GET /v1.41/containers/%63[^/]/json", id) == 1)
            sscanf(id, "c%d", &k);
        if (k < 0 || !strncmp(id, "gone", 4)) {
            answer(fd, 404, "{\"message\":\"No such container\"}");
        } else if ((fail_ids[0] && !strcmp(id, fail_ids[0])) ||
                   (fail_ids[1] && !strcmp(id, fail_ids[1]))) {
            snprintf(body, sizeof(body), "{\"message\":\"boom %s\"}", id);
            answer(fd, 500, body);
        } else {
            snprintf(body, sizeof(body), inspect_fmt, id, k);
            answer(fd, 200, body);
        }
        pthread_mutex_lock(&flock_);
        inflight--;
        pthread_mutex_unlock(&flock_);
        len -= n;
        memmove(req, req + n, len);
    }
    close(fd);
    return NULL;
}

static void engine_start(const char *path)
{
    struct sockaddr_un a = {0};

    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
    lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 64))
        fixture_fail("fake engine on", path);
    fixture_serve(lfd, conn_main);
}

/* The listing: c000.. with every 10th "gone" (removed since the listing). */
static struct dk_ctr ctrs[NCTR];
static char ids[NCTR][16];

static int run(struct dk_sched *d, struct reg_record *recs, unsigned char *filled,
               struct mdo_err *err, unsigned *made)
{
    int ret = dk_inspect_all(d, ctrs, NCTR, recs, filled, err);

    *made = 0;
    for (unsigned i = 0; i < NCTR; i++)
        if (filled[i]) {
            (*made)++;
            reg_record_release(&recs[i]);
        }
    return ret;
}

int main(void)
{
    struct cfg cfg;
    struct dk_sched d;
    struct reg_record recs[NCTR], one[NCTR];
    unsigned char filled[NCTR];
    struct mdo_err err = MDO_ERR_INIT;
    unsigned made = 0, in_order = 1;
    int ret;

    setenv("MDO_LOG", "error", 1);
    log_init();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    engine_start(fixture_path("docker.sock"));
    memset(&cfg, 0, sizeof(cfg));
    cfg.environment = (char *)"prod";
    memset(&d, 0, sizeof(d));
    d.cfg = &cfg;
    d.conn.unix_socket = fixture_path("docker.sock");
    d.conn.timeout_ms = 5000;
    snprintf(d.host_address, sizeof(d.host_address), "172.17.0.1");
    pthread_mutex_init(&d.lock, NULL);
    for (unsigned i = 0; i < NCTR; i++) {
        snprintf(ids[i], sizeof(ids[i]), i % 10 == 3 ? "gone%03u" : "c%03u", i);
        ctrs[i].id = ids[i];
    }

    /* every record made, in its listing slot; the removed ones skipped without an error */
    memset(recs, 0, sizeof(recs));
    ret = dk_inspect_all(&d, ctrs, NCTR, recs, filled, &err);
    CHECK_INT(ret, 0);
    CHECK_STR(err.msg, "");
    for (unsigned i = 0; i < NCTR; i++) {
        char want[32];
        snprintf(want, sizeof(want), "prod-web-%u", i);
        made += filled[i];
        if (filled[i] != (i % 10 != 3) || (filled[i] && strcmp(recs[i].container, want)))
            in_order = 0;
        if (filled[i])
            reg_record_release(&recs[i]);
    }
    CHECK_INT(made, 90);
    CHECK(in_order);
    CHECK_INT(requests, NCTR); /* one inspect each */
    /* they were made a few at a time: more than one in flight, at most the pool */
    CHECK(max_inflight > 1);
    CHECK(max_inflight <= DK_INSPECT_POOL);
    printf("# figure: %d inspects, at most %d in flight\n", requests, max_inflight);

    /* two failures: the error is the first in listing order, whichever failed first */
    fail_ids[0] = "c080";
    fail_ids[1] = "c041";
    ret = run(&d, one, filled, &err, &made);
    CHECK_INT(ret, -MDO_EHTTP);
    CHECK(strstr(err.msg, "c041") != NULL);
    CHECK_INT(err.http_status, 500);
    CHECK(made <= 80); /* none after the later failure was needed, records made before are kept */

    /* a short listing: all in the calling thread, the same answers */
    fail_ids[0] = fail_ids[1] = NULL;
    max_inflight = 0;
    ret = dk_inspect_all(&d, ctrs, 5, recs, filled, &err);
    CHECK_INT(ret, 0);
    CHECK_INT(filled[0] + filled[1] + filled[2] + filled[3] + filled[4], 4);
    CHECK_INT(max_inflight, 1);
    for (unsigned i = 0; i < 5; i++)
        if (filled[i])
            reg_record_release(&recs[i]);

    /* an engine that is not there: the transport's error, once */
    d.conn.unix_socket = fixture_path("nothing.sock");
    ret = run(&d, one, filled, &err, &made);
    CHECK_INT(ret, -MDO_ENET);
    CHECK_INT(made, 0);
    CHECK(strstr(err.msg, "cannot reach Docker") != NULL);

    http_thread_cleanup();
    pthread_mutex_destroy(&d.lock);
    strset_release(&d.refused);
    curl_global_cleanup();
    unlink(fixture_path("docker.sock"));
    rmdir(fixture_tmpdir());
    return check_done("test_docker_inspect");
}
