/* metrics.h - the one Prometheus text-format writer (exposition format 0.0.4) */
#ifndef MDO_METRICS_H
#define MDO_METRICS_H

#include "buf.h"

/* "# HELP name help\n# TYPE name type\nname value\n"; type is "counter" or "gauge". */
int metrics_add(struct buf *b, const char *name, const char *type, const char *help, double v);

#endif
