/* clock.h - the one monotonic clock, deadlines, naps that watch a stop flag, and backoff.
 *
 * Everything that measures an interval (timeouts, idle streams, lease ticks, retries) uses
 * clock_now_ms(), never the wall clock: an NTP step must not stop a lease or a stream rule.
 */
#ifndef MDO_CLOCK_H
#define MDO_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Milliseconds on CLOCK_MONOTONIC. */
int64_t clock_now_ms(void);
/* now + ms. */
int64_t clock_deadline_ms(int64_t ms);
/* Milliseconds left until deadline (0 when past). */
int64_t clock_left_ms(int64_t deadline);
/* Sleeps ms, in slices of at most 100 ms, returning early (1) as soon as *stop is set (stop may
 * be NULL); 0 when the whole time was slept. */
int clock_nap_ms(int64_t ms, const volatile int *stop);
/* Capped exponential backoff with jitter: a value in [d/2, d] where d = min(cap_ms,
 * base_ms * 2^attempt). attempt counts from 0. Thread-safe. */
int64_t clock_backoff_ms(unsigned attempt, int64_t base_ms, int64_t cap_ms);

/* For threads that wait on a condition until a deadline: clock_cond_init() makes c measure
 * timeouts on CLOCK_MONOTONIC, and clock_timespec() turns a clock_deadline_ms() value into the
 * absolute time pthread_cond_timedwait(c, ...) takes. */
int clock_cond_init(pthread_cond_t *c);
struct timespec clock_timespec(int64_t deadline_ms);

#endif
