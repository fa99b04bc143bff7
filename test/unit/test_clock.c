/* test_clock.c - monotonic time, deadlines, naps that watch a flag, backoff with jitter */
#include <pthread.h>
#include "check.h"
#include "clock.h"

static volatile int flag;

static void *set_flag(void *arg)
{
    (void)arg;
    clock_nap_ms(150, NULL);
    flag = 1;
    return NULL;
}

int main(void)
{
    int64_t t0 = clock_now_ms(), t1, d;
    volatile int stop = 1;
    pthread_t th;
    int lo_seen = 0, hi_seen = 0;

    CHECK(t0 > 0);
    CHECK(clock_now_ms() >= t0); /* never backwards */
    d = clock_deadline_ms(1000);
    CHECK(d >= t0 + 1000 && d <= clock_now_ms() + 1000);
    CHECK(clock_left_ms(d) > 900 && clock_left_ms(d) <= 1000);
    CHECK_INT(clock_left_ms(t0 - 5), 0);
    CHECK(clock_deadline_ms(-50) <= clock_now_ms()); /* a negative interval is now */

    /* naps */
    t0 = clock_now_ms();
    CHECK_INT(clock_nap_ms(120, NULL), 0);
    t1 = clock_now_ms();
    printf("# figure: clock_nap_ms(120) took %lld ms\n", (long long)(t1 - t0));
    CHECK(t1 - t0 >= 120);
    CHECK_INT(clock_nap_ms(5000, &stop), 1); /* a set flag: at once */
    CHECK(clock_now_ms() - t1 < 1000);
    CHECK_INT(clock_nap_ms(0, NULL), 0);
    flag = 0;
    pthread_create(&th, NULL, set_flag, NULL);
    t0 = clock_now_ms();
    CHECK_INT(clock_nap_ms(10000, &flag), 1); /* another thread sets it */
    t1 = clock_now_ms();
    pthread_join(th, NULL);
    printf("# figure: nap stopped %lld ms after it began (flag set at 150 ms)\n",
           (long long)(t1 - t0));
    CHECK(t1 - t0 < 5000);

    /* backoff: within [d/2, d], d doubling from base up to the cap */
    for (unsigned a = 0; a < 20; a++) {
        int64_t want = 100;
        for (unsigned i = 0; i < a && want < 5000; i++)
            want *= 2;
        if (want > 5000)
            want = 5000;
        for (int k = 0; k < 50; k++) {
            int64_t v = clock_backoff_ms(a, 100, 5000);
            if (v < want / 2 || v > want)
                CHECK_INT(v, want); /* prints the offending value */
            lo_seen += v < want * 3 / 4;
            hi_seen += v >= want * 3 / 4;
        }
    }
    CHECK(lo_seen > 0 && hi_seen > 0);                 /* jitter spreads the values */
    CHECK_INT(clock_backoff_ms(0, 0, 10), 1);          /* base 0 means 1 ms */
    CHECK_INT(clock_backoff_ms(1000000, 1, 1), 1);     /* a huge attempt stays at the cap */
    CHECK(clock_backoff_ms(70, 1000, 60000) <= 60000); /* no overflow past 2^63 */
    return check_done("test_clock");
}
