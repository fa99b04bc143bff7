/* callback.c - membership-change callbacks: being written (issue 6); this file only keeps the
 * build linking until the delivery engine lands. */
#include <stdlib.h>
#include "callback.h"

struct callbacks {
    int unused;
};

int callbacks_start(struct callbacks **cb, const struct cfg *cfg, struct etcd *etcd,
                    struct mdo_err *err)
{
    (void)cfg, (void)etcd;
    *cb = calloc(1, sizeof(**cb));
    return *cb ? 0 : err_set(err, MDO_ENOMEM, "out of memory");
}

void callbacks_stop(struct callbacks *cb)
{
    free(cb);
}

void callbacks_changed(void *ctx, const char *service)
{
    (void)ctx, (void)service;
}

void callbacks_routes(struct callbacks *cb, struct server *srv)
{
    (void)cb, (void)srv;
}

void callbacks_metrics(struct callbacks *cb, struct buf *out)
{
    (void)cb, (void)out;
}
