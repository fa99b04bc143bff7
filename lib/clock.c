/* clock.c - monotonic time, deadlines, naps that watch a flag, backoff with jitter */
#include <time.h>
#include "clock.h"

int64_t clock_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t clock_deadline_ms(int64_t ms)
{
    return clock_now_ms() + (ms > 0 ? ms : 0);
}

int64_t clock_left_ms(int64_t deadline)
{
    int64_t left = deadline - clock_now_ms();

    return left > 0 ? left : 0;
}

int clock_nap_ms(int64_t ms, const volatile int *stop)
{
    int64_t end = clock_deadline_ms(ms);

    for (;;) {
        int64_t left = clock_left_ms(end);
        struct timespec ts;

        if (stop && *stop)
            return 1;
        if (!left)
            return 0;
        if (left > 100)
            left = 100;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)left * 1000000L;
        nanosleep(&ts, NULL);
    }
}

/* xorshift64*, one state per thread, seeded from the clock and the state's address */
static uint64_t jitter(void)
{
    static _Thread_local uint64_t x;

    if (!x) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        x = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)&x;
        x |= 1;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    return x * 2685821657736338717ULL;
}

int64_t clock_backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms)
{
    int64_t d = base_ms > 0 ? base_ms : 1;

    for (unsigned i = 0; i < attempt && d < cap_ms; i++)
        d *= 2;
    if (d > cap_ms)
        d = cap_ms;
    if (d < 2)
        return d;
    return d / 2 + (int64_t)(jitter() % (uint64_t)(d / 2 + 1));
}

int clock_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t ca;
    int ret = pthread_condattr_init(&ca);

    if (ret)
        return ret;
    ret = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (!ret)
        ret = pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
    return ret;
}

struct timespec clock_timespec(int64_t deadline_ms)
{
    struct timespec ts;

    if (deadline_ms < 0)
        deadline_ms = 0;
    ts.tv_sec = (time_t)(deadline_ms / 1000);
    ts.tv_nsec = (long)(deadline_ms % 1000) * 1000000L;
    return ts;
}
