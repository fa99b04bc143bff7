/* fuzz_docker_events.c - the docker backend's event stream (lib/docker_events.c: lines of JSON,
 * cut anywhere) and the inspect answers it asks for (lib/docker.c dk_record): whatever the engine
 * sends, only names that pass the rules reach the sink. http_stream_open and http_request are
 * wrapped; pthread_create too (fails), so the stream runs without its ping watchdog.
 * Input: the event bytes, a NUL byte, the inspect answer. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include "fuzz.h"
#include "sink.h"

static struct sched *sched;
static const char *inspect_p;
static size_t inspect_n;
static const uint8_t *events_p;
static size_t events_n;

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg);
int __wrap_http_stream_open(const struct http_conn *c, const char *method, const char *url,
                            const char *body, const char *accept, http_open_fn on_open,
                            http_data_fn on_data, void *ctx, const volatile int *stop, long idle_s,
                            struct mdo_err *err);

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    (void)t, (void)a, (void)fn, (void)arg;
    return EAGAIN;
}

int __wrap_http_stream_open(const struct http_conn *c, const char *method, const char *url,
                            const char *body, const char *accept, http_open_fn on_open,
                            http_data_fn on_data, void *ctx, const volatile int *stop, long idle_s,
                            struct mdo_err *err)
{
    size_t off = 0, n;
    unsigned k = 0;

    (void)c, (void)method, (void)url, (void)body, (void)accept, (void)stop, (void)idle_s;
    (void)err;
    if (on_open)
        on_open(ctx, 200);
    while (off < events_n) { /* reads of 1..61 bytes */
        n = (size_t)(k++ * 7 % 61) + 1;
        if (n > events_n - off)
            n = events_n - off;
        if (on_data(ctx, (const char *)events_p + off, n))
            break;
        off += n;
    }
    return 0;
}

static void answer(const char *method, const char *url, struct http_resp *resp)
{
    (void)method;
    if (strstr(url, "/containers/")) {
        resp->status = 200;
        buf_add(&resp->body, inspect_p, inspect_n);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *cfg;

    (void)argc, (void)argv;
    fuzz_quiet();
    cfg = fuzz_cfg("environment: prod\nscheduler: docker\n"
                   "docker: {socket: /nonexistent/docker.sock, host_address: 172.17.0.1}\n"
                   "services:\n  web: {image: example/web:1, ports: {http: 80}}\n");
    if (sched_docker.open(&sched, cfg, &err)) {
        fprintf(stderr, "fuzz: docker open: %s\n", err.msg);
        abort();
    }
    fuzz_http_handler(answer);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mdo_err err = MDO_ERR_INIT;
    const uint8_t *rest;
    size_t nrest;
    char *ev = fuzz_split(data, size, &rest, &nrest);
    int stop = 0;

    events_p = (const uint8_t *)ev;
    events_n = strlen(ev);
    inspect_p = (const char *)rest;
    inspect_n = nrest;
    sched_docker.events(sched, &sink, &stop, &err);
    free(ev);
    return 0;
}
