/* marathon_fake.h - the Marathon the two Marathon targets talk to: a config for the marathon
 * backend, and every request (the events worker's app reads) answered 200 with the app body the
 * input gives, kept in a locked copy since the worker thread reads it. */
#ifndef MDO_FUZZ_MARATHON_FAKE_H
#define MDO_FUZZ_MARATHON_FAKE_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"
#include "marathon.h"

static pthread_mutex_t app_lock = PTHREAD_MUTEX_INITIALIZER;
static struct buf app_body = BUF_INIT(0);

static inline void app_set(const uint8_t *p, size_t n)
{
    pthread_mutex_lock(&app_lock);
    buf_reset(&app_body);
    buf_add(&app_body, (const char *)p, n);
    pthread_mutex_unlock(&app_lock);
}

static inline void app_answer(const char *method, const char *url, struct http_resp *resp)
{
    (void)method, (void)url;
    pthread_mutex_lock(&app_lock);
    resp->status = 200;
    buf_add(&resp->body, app_body.ptr ? app_body.ptr : "", app_body.len);
    pthread_mutex_unlock(&app_lock);
}

static inline struct sched *marathon_open(const char *mode)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct sched *s;
    struct buf y = BUF_INIT(0);
    struct cfg *cfg;

    buf_addf(&y,
             "environment: prod\nscheduler: marathon\nmarathon: {url: \"http://127.0.0.1:9\"}\n"
             "subscriber: {mode: %s, public_url: \"http://127.0.0.1:5050\"}\n"
             "services:\n  web: {image: example/web:1, ports: {http: 80, admin: 8081/udp}}\n",
             mode);
    cfg = fuzz_cfg(y.ptr);
    buf_release(&y);
    if (sched_marathon.open(&s, cfg, &err)) {
        fprintf(stderr, "fuzz: marathon open: %s\n", err.msg);
        abort();
    }
    fuzz_http_handler(app_answer);
    return s;
}

#endif
