/* sink.h - the sched_sink the event targets hand to the backends: every name it is given must
 * already pass the name rules (lib/names.h), since the keeper makes registry keys of them. */
#ifndef MDO_FUZZ_SINK_H
#define MDO_FUZZ_SINK_H

#include <stdio.h>
#include <stdlib.h>
#include "names.h"
#include "registry.h"
#include "scheduler.h"

static unsigned long sink_ups, sink_downs;

static inline void sink_connected(void *ctx)
{
    (void)ctx;
}

static inline void sink_up(void *ctx, struct reg_record *rec)
{
    (void)ctx;
    if (!rec->service || !name_ok(rec->service) || !rec->container || !segment_ok(rec->container)) {
        fprintf(stderr, "fuzz: up() with a name that breaks the rules\n");
        abort();
    }
    sink_ups++;
    reg_record_release(rec);
}

static inline void sink_down(void *ctx, const char *service, const char *container)
{
    (void)ctx;
    if (!service || !name_ok(service) || !container || !segment_ok(container)) {
        fprintf(stderr, "fuzz: down() with a name that breaks the rules\n");
        abort();
    }
    sink_downs++;
}

static struct sched_sink sink = {NULL, sink_connected, sink_up, sink_down};

#endif
