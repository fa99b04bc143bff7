/* fuzz_marathon_callback.c - the body of a Marathon http callback (POST /marathon/callback) as
 * mar_feed takes it (lib/marathon_events.c): rejected with a message or applied, only names that
 * pass the rules reach the sink. http_request is wrapped (the worker's app reads).
 * Input: the body, a NUL byte, the app answer. */
#include "marathon_fake.h"
#include "sink.h"

static struct sched *sched;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    sched = marathon_open("callback");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mdo_err err = MDO_ERR_INIT;
    const uint8_t *rest;
    size_t nrest;
    char *body = fuzz_split(data, size, &rest, &nrest);

    app_set(rest, nrest);
    if (sched_marathon.feed(sched, &sink, body, strlen(body), &err) && !err.msg[0])
        abort();
    mar_events_stop(mar_of(sched)); /* the worker's reads end with this input */
    free(body);
    return 0;
}
