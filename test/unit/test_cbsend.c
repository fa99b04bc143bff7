/* test_cbsend.c - callback delivery: HMAC signature, the POST body (and reg_record_cjson, which
 * the body embeds), and the engine against a loopback receiver (lib/server.c): the policy and the
 * pin, the fixed pool (no thread per target), retries that hold back no other target, coalescing,
 * and a stop bounded in time with a delivery hanging */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "cbsend.h"
#include "check.h"
#include "clock.h"
#include "http.h"
#include "json.h"
#include "server.h"

static void sign_tests(void)
{
    char hex[65];

    /* RFC 4231 test case 2 */
    CHECK_INT(cbsend_sign("Jefe", "what do ya want for nothing?", 28, hex), 0);
    CHECK_STR(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK_INT(cbsend_sign("s3cret", "", 0, hex), 0);
    CHECK_INT(strlen(hex), 64);
    /* RFC 4231 test case 1: a 20-byte key of 0x0b */
    CHECK_INT(cbsend_sign("\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b"
                          "\x0b\x0b",
                          "Hi There", 8, hex),
              0);
    CHECK_STR(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

static struct reg_record web(const char *container)
{
    struct reg_record r = {0};

    r.service = strdup("web");
    r.container = strdup(container);
    r.environment = strdup("prod");
    r.host = strdup("10.0.0.1");
    r.ports = calloc(1, sizeof(*r.ports));
    r.nports = 1;
    r.ports[0].name = strdup("http");
    r.ports[0].internal = 8080;
    r.ports[0].external = 31000;
    snprintf(r.ports[0].proto, sizeof(r.ports[0].proto), "tcp");
    r.labels = calloc(2, sizeof(*r.labels));
    r.nlabels = 2;
    r.labels[0].key = strdup("zone"); /* out of order: the JSON sorts them */
    r.labels[0].value = strdup("b");
    r.labels[1].key = strdup("rack");
    r.labels[1].value = strdup("r\"1");
    r.state = strdup("running");
    r.started_at = strdup("2026-01-01T00:00:00Z");
    r.app_version = strdup("v1");
    r.backend = strdup("docker");
    return r;
}

static void cjson_tests(void)
{
    struct reg_record r = web("web-1");
    cJSON *o = reg_record_cjson(&r);
    char *printed = json_print(o), *json = reg_record_json(&r);

    CHECK(o != NULL);
    CHECK_STR(printed, json); /* one encoding: reg_record_json prints this tree */
    CHECK_STR(json, "{\"service\":\"web\",\"container\":\"web-1\",\"environment\":\"prod\","
                    "\"host\":\"10.0.0.1\",\"ports\":{\"http\":{\"internal\":8080,"
                    "\"external\":31000,\"protocol\":\"tcp\"}},\"labels\":{\"rack\":\"r\\\"1\","
                    "\"zone\":\"b\"},\"state\":\"running\",\"started_at\":"
                    "\"2026-01-01T00:00:00Z\",\"app_version\":\"v1\",\"backend\":\"docker\"}");
    CHECK_STR(json_str(o, "container"), "web-1");
    cJSON_Delete(o);
    free(printed);
    free(json);
    reg_record_release(&r);
}

static void body_tests(void)
{
    struct reg_record recs[2] = {web("web-1"), web("web-\"2")};
    const char *added[] = {"web-\"2"}, *removed[] = {"web-3", "web-4"};
    struct reg_members_diff d = REG_MEMBERS_DIFF_INIT;
    cJSON *o, *inst;
    char *body;

    d.count = 2;
    d.added = 1;
    d.names_added = added;
    d.removed = 2;
    d.names_removed = removed;
    body = cbsend_body("prod", "web", 42, recs, 2, &d);
    o = cJSON_Parse(body);
    CHECK(o != NULL);
    CHECK_STR(json_str(o, "environment"), "prod");
    CHECK_STR(json_str(o, "service"), "web");
    CHECK_INT(json_int(o, "revision", 0), 42);
    inst = cJSON_GetObjectItem(o, "instances");
    CHECK_INT(cJSON_GetArraySize(inst), 2);
    CHECK_STR(json_str(cJSON_GetArrayItem(inst, 1), "container"), "web-\"2");
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "added"), 0)->valuestring, "web-\"2");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "removed")), 2);
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "removed"), 1)->valuestring, "web-4");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(o, "changed")), 0);
    cJSON_Delete(o);
    free(body);

    /* the bytes of today's body: keys in this order, no spaces, records as reg_record_json */
    d.added = 0;
    d.removed = 1;
    body = cbsend_body("e", "s", 1, recs, 1, &d);
    {
        char *rec = reg_record_json(&recs[0]), want[2048];
        snprintf(want, sizeof(want),
                 "{\"environment\":\"e\",\"service\":\"s\",\"revision\":1,\"instances\":[%s],"
                 "\"added\":[],\"removed\":[\"web-3\"],\"changed\":[]}",
                 rec);
        CHECK_STR(body, want);
        free(rec);
    }
    free(body);

    d = (struct reg_members_diff)REG_MEMBERS_DIFF_INIT;
    body = cbsend_body("e", "s", 1, NULL, 0, &d);
    CHECK_STR(body, "{\"environment\":\"e\",\"service\":\"s\",\"revision\":1,\"instances\":[],"
                    "\"added\":[],\"removed\":[],\"changed\":[]}");
    free(body);
    /* etcd revisions past 2^31 stay integers */
    body = cbsend_body("e", "s", 5000000000LL, NULL, 0, &d);
    CHECK(body && strstr(body, "\"revision\":5000000000,"));
    free(body);
    reg_record_release(&recs[0]);
    reg_record_release(&recs[1]);
}

/* ---- the engine ---- */

/* The receiver: counts POSTs per path; /hang holds each for hang_ms. */
static pthread_mutex_t rx_lock = PTHREAD_MUTEX_INITIALIZER;
static int rx_ok, rx_hang, rx_other;
static char rx_last[256];
static volatile int hang_ms = 3000;

static void receive(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    (void)ctx;
    pthread_mutex_lock(&rx_lock);
    if (!strcmp(req->path, "/hook/ok"))
        rx_ok++;
    else if (!strcmp(req->path, "/hook/hang"))
        rx_hang++;
    else
        rx_other++;
    snprintf(rx_last, sizeof(rx_last), "%s", req->body);
    pthread_mutex_unlock(&rx_lock);
    if (!strcmp(req->path, "/hook/hang"))
        clock_nap_ms(hang_ms, NULL);
    buf_adds(&resp->body, "{}");
}

static int rx(int *counter)
{
    int n;

    pthread_mutex_lock(&rx_lock);
    n = *counter;
    pthread_mutex_unlock(&rx_lock);
    return n;
}

/* Waits up to ms for *counter to reach want; the count then. */
static int rx_wait(int *counter, int want, long ms)
{
    int64_t until = clock_deadline_ms(ms);

    while (rx(counter) < want && clock_left_ms(until))
        clock_nap_ms(20, NULL);
    return rx(counter);
}

static struct cbsend_stats stats_wait(struct cbsend *s, unsigned long want_done, long ms)
{
    struct cbsend_stats st;
    int64_t until = clock_deadline_ms(ms);

    for (;;) {
        cbsend_stats(s, &st);
        if (st.sent + st.failed + st.dropped + st.coalesced >= want_done || !clock_left_ms(until))
            return st;
        clock_nap_ms(20, NULL);
    }
}

static int threads_now(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    int n = -1;

    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, "Threads:", 8))
            n = atoi(line + 8);
    if (f)
        fclose(f);
    return n;
}

static struct cbpolicy *allowing(const char *cidr)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cbpolicy *p = NULL;

    if (cbpolicy_new(&p, NULL, &err) || (cidr && cbpolicy_allow(p, cidr, &err))) {
        cbpolicy_free(p);
        return NULL;
    }
    return p;
}

static void engine_tests(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct server *srv = NULL;
    struct cbsend *s;
    struct cbsend_stats st;
    char url[128], hang[128], dead[128];
    int port, base, most, ok0 = rx(&rx_ok);
    int64_t t0;

    if (server_start(&srv, "127.0.0.1:0", &err)) {
        CHECK(!"the receiver started");
        return;
    }
    server_route(srv, "/hook", receive, NULL);
    port = server_port(srv);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/hook/ok", port);
    snprintf(hang, sizeof(hang), "http://127.0.0.1:%d/hook/hang", port);
    snprintf(dead, sizeof(dead), "http://127.0.0.1:1/hook/dead"); /* refused at once */

    /* the default policy refuses a loopback target: given up at once, never sent */
    s = cbsend_new(NULL, 2);
    CHECK(s != NULL);
    cbsend_queue(s, url, "id1", "web", "{\"n\":1}", NULL);
    /* ... also when it is named: localhost resolves to loopback */
    snprintf(hang, sizeof(hang), "http://localhost:%d/hook/ok", port);
    cbsend_queue(s, hang, "id2", "web", "{\"n\":2}", strdup("k"));
    st = stats_wait(s, 2, 5000);
    CHECK_INT(st.denied, 2);
    CHECK_INT(st.failed, 2);
    CHECK_INT(st.sent, 0);
    CHECK_INT(st.retries, 0);
    CHECK_INT(rx(&rx_ok), ok0);
    cbsend_free(s);

    /* allowed by the policy: delivered */
    snprintf(hang, sizeof(hang), "http://127.0.0.1:%d/hook/hang", port);
    s = cbsend_new(allowing("127.0.0.1"), 1);
    cbsend_queue(s, url, "id1", "web", "{\"n\":1}", NULL);
    CHECK_INT(rx_wait(&rx_ok, ok0 + 1, 5000), ok0 + 1);
    st = stats_wait(s, 1, 2000);
    CHECK_INT(st.sent, 1);
    CHECK_INT(st.workers, 1);

    /* one worker: a dead target backing off between retries holds back no other target */
    cbsend_queue(s, dead, "id3", "web", "{\"n\":3}", NULL);
    clock_nap_ms(100, NULL); /* its first try fails, its backoff starts */
    t0 = clock_now_ms();
    cbsend_queue(s, url, "id1", "web", "{\"n\":4}", NULL);
    CHECK_INT(rx_wait(&rx_ok, ok0 + 2, 5000), ok0 + 2);
    CHECK(clock_now_ms() - t0 < 400); /* well before the dead target's next try is over */
    cbsend_stats(s, &st);
    CHECK(st.retries >= 1);
    CHECK(st.pending >= 1); /* the dead one, waiting to be tried again */
    cbsend_free(s);

    /* coalescing: while a delivery to a target hangs, newer deliveries of one registration
     * replace the queued one; another registration on the same target keeps its own */
    s = cbsend_new(allowing("127.0.0.0/8"), 4);
    cbsend_queue(s, hang, "idh", "slow", "{\"rev\":1}", NULL);
    CHECK_INT(rx_wait(&rx_hang, 1, 3000), 1);
    cbsend_queue(s, hang, "idh", "slow", "{\"rev\":2}", NULL);
    cbsend_queue(s, hang, "idh", "slow", "{\"rev\":3}", NULL);
    cbsend_queue(s, hang, "idx", "slow", "{\"rev\":3}", NULL);
    cbsend_stats(s, &st);
    CHECK_INT(st.coalesced, 1);
    CHECK_INT(st.pending, 3); /* one in flight, rev 3 of idh, idx */
    /* a fixed pool: 300 targets start no thread each */
    base = threads_now();
    most = base;
    for (int i = 0; i < 300; i++) {
        char u[128];
        snprintf(u, sizeof(u), "http://127.0.0.%d:1/t%d", 2 + i % 200, i);
        cbsend_queue(s, u, "idt", "web", "{}", NULL);
        if (threads_now() > most)
            most = threads_now();
    }
    cbsend_stats(s, &st);
    CHECK_INT(st.workers, 4);
    CHECK(st.targets >= 300);
    CHECK(most - base <= 0);
    printf("# figure: 300 targets queued: %d threads before, at most %d during (%u workers)\n",
           base, most, st.workers);
    /* the stop is bounded: the hanging POST is abandoned */
    t0 = clock_now_ms();
    cbsend_free(s);
    t0 = clock_now_ms() - t0;
    CHECK(t0 < CBSEND_STOP_MS + 500);
    printf("# figure: cbsend_free with a delivery hanging: %lld ms\n", (long long)t0);
    clock_nap_ms(hang_ms, NULL); /* the abandoned worker ends, frees, and goes */
    server_stop(srv);
}

/* The pin: a connection goes to the address checked, whatever the URL's name would resolve to
 * (here a name that resolves to nothing at all: were it looked up, the request would fail). */
static void pin_tests(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct server *srv = NULL;
    struct http_conn c = {0};
    struct http_resp resp = HTTP_RESP_INIT;
    char url[128], pin[64];
    int before;

    if (server_start(&srv, "127.0.0.1:0", &err)) {
        CHECK(!"the receiver started");
        return;
    }
    server_route(srv, "/hook", receive, NULL);
    snprintf(url, sizeof(url), "http://pinned.invalid:%d/hook/ok", server_port(srv));
    snprintf(pin, sizeof(pin), "::127.0.0.1:%d", server_port(srv));
    before = rx(&rx_ok);
    c.connect_to = pin;
    CHECK_INT(http_request(&c, "POST", url, "{}", 2, "application/json", &resp, &err), 0);
    CHECK_INT(resp.status, 200);
    CHECK_INT(rx(&rx_ok), before + 1);
    http_resp_release(&resp);
    http_thread_cleanup();
    server_stop(srv);
}

int main(void)
{
    sign_tests();
    cjson_tests();
    body_tests();
    pin_tests();
    engine_tests();
    return check_done("test_cbsend");
}
