/* fuzz_marathon_events.c - Marathon's /v2/events stream as mar_events reads it (lib/sse.c framing,
 * lib/marathon_events.c's events, lib/marathon_cache.c, the worker's app reads): only names that
 * pass the rules reach the sink. http_stream and http_request are wrapped.
 * Input: the stream's bytes, a NUL byte, the app answer (GET /v2/apps/...?embed=app.tasks). */
#include "marathon_fake.h"
#include "sink.h"

static struct sched *sched;
static const char *stream_p;
static size_t stream_n;

int __wrap_http_stream(const struct http_conn *c, const char *method, const char *url,
                       const char *body, const char *accept, http_data_fn on_data, void *ctx,
                       const volatile int *stop, long idle_s, struct mdo_err *err);

int __wrap_http_stream(const struct http_conn *c, const char *method, const char *url,
                       const char *body, const char *accept, http_data_fn on_data, void *ctx,
                       const volatile int *stop, long idle_s, struct mdo_err *err)
{
    size_t off = 0, n;
    unsigned k = 0;

    (void)c, (void)method, (void)url, (void)body, (void)accept, (void)stop, (void)idle_s;
    (void)err;
    while (off < stream_n) { /* reads of 1..53 bytes */
        n = (size_t)(k++ * 11 % 53) + 1;
        if (n > stream_n - off)
            n = stream_n - off;
        if (on_data(ctx, stream_p + off, n))
            break;
        off += n;
    }
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    sched = marathon_open("events");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mdo_err err = MDO_ERR_INIT;
    const uint8_t *rest;
    size_t nrest;
    char *s = fuzz_split(data, size, &rest, &nrest);
    int stop = 0;

    app_set(rest, nrest);
    stream_p = s;
    stream_n = strlen(s);
    sched_marathon.events(sched, &sink, &stop, &err); /* stops its worker before it returns */
    free(s);
    return 0;
}
