/* test_metrics.c - the Prometheus text writer: HELP, TYPE and the sample, in that order */
#include "check.h"
#include "metrics.h"

int main(void)
{
    struct buf b = BUF_INIT(0);

    CHECK_INT(metrics_add(&b, "mdo_events_total", "counter", "Events applied.", 3), 0);
    CHECK_INT(metrics_add(&b, "mdo_lag_seconds", "gauge", "Lag.", 0.25), 0);
    CHECK_STR(buf_str(&b), "# HELP mdo_events_total Events applied.\n"
                           "# TYPE mdo_events_total counter\n"
                           "mdo_events_total 3\n"
                           "# HELP mdo_lag_seconds Lag.\n"
                           "# TYPE mdo_lag_seconds gauge\n"
                           "mdo_lag_seconds 0.25\n");
    buf_release(&b);
    /* a buffer at its cap refuses the line and keeps what it had */
    {
        struct buf small = BUF_INIT(16);
        CHECK(metrics_add(&small, "mdo_x", "gauge", "x", 1) < 0);
        CHECK_INT(small.len, 0);
        buf_release(&small);
    }
    return check_done("test_metrics");
}
