/* etcd_internal.h - what etcd.c and etcd_kv.c share; nothing else includes it */
#ifndef MDO_ETCD_INTERNAL_H
#define MDO_ETCD_INTERNAL_H

#include <cjson/cJSON.h>
#include "err.h"
#include "etcd.h"

/* POSTs body to path on the current endpoint (authenticating, failing over, renewing a refused
 * token once); *out is the parsed answer, the caller's to cJSON_Delete. */
int etcd_call(struct etcd *e, const char *path, const char *body, cJSON **out, struct mdo_err *err);

#endif
