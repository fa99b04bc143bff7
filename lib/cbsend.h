/* cbsend.h - the callbacks' delivery engine (DESIGN §6): the POST body, its HMAC signature,
 * and one worker thread with a FIFO queue per target URL.
 *
 * Each target URL has its own worker (started on first use) and queue, so a hanging target
 * holds back only its own deliveries: never its caller nor another target. A delivery is tried
 * up to CBSEND_ATTEMPTS times with capped exponential backoff (clock.h); past CBSEND_QUEUE_MAX
 * queued jobs a target loses its oldest. One mutex guards the engine; no thread holds it across
 * I/O. URLs are logged as url_shown(URL_NO_QUERY) makes them (no credentials, no query).
 *
 * struct cbsend is owned by whoever made it (cbsend_new/cbsend_free); all calls are thread-safe.
 */
#ifndef MDO_CBSEND_H
#define MDO_CBSEND_H

#include <stddef.h>
#include <stdint.h>
#include "registry.h"

#define CBSEND_ATTEMPTS  5   /* tries per delivery before giving up */
#define CBSEND_QUEUE_MAX 256 /* per target: past this the oldest job is dropped */

struct cbsend;

struct cbsend_stats {
    unsigned long sent, failed, retries, dropped;
    unsigned long pending; /* queued or in flight */
};

/* NULL on ENOMEM. */
struct cbsend *cbsend_new(void);
/* Stops the workers (pending deliveries are dropped, counted, logged) and frees everything.
 * NULL ok. */
void cbsend_free(struct cbsend *s);
/* Queues one delivery of body to url; id and service name it in logs. Takes secret (NULL:
 * unsigned; cleansed and freed when done). 0, or -MDO_ENOMEM (the delivery is counted as
 * dropped). */
int cbsend_queue(struct cbsend *s, const char *url, const char *id, const char *service,
                 const char *body, char *secret);
void cbsend_stats(struct cbsend *s, struct cbsend_stats *out);

/* ---- pure parts ---- */
/* hex = lowercase hex HMAC-SHA256 of body keyed with secret. */
int cbsend_sign(const char *secret, const char *body, size_t len, char hex[65]);
/* The POST body of DESIGN §6: {"environment","service","revision","instances","added",
 * "removed","changed"} ("changed": instances whose membership changed in place); recs sorted
 * by container. Caller frees; NULL on ENOMEM. */
char *cbsend_body(const char *env, const char *service, int64_t revision,
                  const struct reg_record *recs, unsigned n, const struct reg_members_diff *d);

#endif
