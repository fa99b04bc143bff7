/* metrics.c - Prometheus text lines, written in one place */
#include "metrics.h"

int metrics_add(struct buf *b, const char *name, const char *type, const char *help, double v)
{
    return buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}
