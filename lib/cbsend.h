/* cbsend.h - the callbacks' delivery engine (DESIGN §6): the POST body, its HMAC signature,
 * and a fixed pool of workers serving one FIFO queue per target URL.
 *
 * CBSEND_WORKERS threads (never one per URL) serve the targets round-robin, one delivery per
 * target at a time, so a hanging target holds one worker for at most one POST's timeout and
 * never its caller. A delivery is tried up to CBSEND_ATTEMPTS times; between tries its target
 * waits out a capped exponential backoff (clock.h) while the workers serve other targets. A newer
 * delivery for the same registration (id) replaces a queued, undelivered one (the body carries
 * the whole membership); past CBSEND_QUEUE_MAX queued jobs a target loses its oldest; a target
 * idle for a minute is forgotten. Before each try the target's address is checked and the
 * connection pinned to it (cbpolicy.h); a refused target is given up at once (counted denied).
 * One mutex guards the engine; no thread holds it across I/O. URLs are logged as
 * url_shown(URL_NO_QUERY) makes them (no credentials, no query).
 *
 * struct cbsend is owned by whoever made it (cbsend_new/cbsend_free); all calls are thread-safe.
 */
#ifndef MDO_CBSEND_H
#define MDO_CBSEND_H

#include <stddef.h>
#include <stdint.h>
#include "cbpolicy.h"
#include "registry.h"

#define CBSEND_ATTEMPTS    5   /* tries per delivery before giving up */
#define CBSEND_QUEUE_MAX   256 /* per target: past this the oldest job is dropped */
#define CBSEND_WORKERS     4   /* delivery threads, whatever the number of targets */
#define CBSEND_WORKERS_MAX 16
#define CBSEND_STOP_MS     1000 /* cbsend_free waits this long for deliveries in flight */

struct cbsend;

struct cbsend_stats {
    unsigned long sent, failed, retries, dropped;
    unsigned long pending;   /* queued or in flight */
    unsigned long denied;    /* given up because cbpolicy refused the target (also in failed) */
    unsigned long coalesced; /* replaced by a newer delivery for the same registration */
    unsigned long targets;   /* known now (idle ones are forgotten) */
    unsigned workers;
};

/* Starts `workers` delivery threads (0: CBSEND_WORKERS; at most CBSEND_WORKERS_MAX). Takes
 * policy (NULL: cbpolicy's default rules). NULL when no thread could start, or on ENOMEM. */
struct cbsend *cbsend_new(struct cbpolicy *policy, unsigned workers);
/* Stops the workers and frees everything, in about a second at most: queued deliveries are
 * dropped (counted, logged) and deliveries still in flight after CBSEND_STOP_MS are abandoned
 * (their workers free what is left when their POST ends). NULL ok. */
void cbsend_free(struct cbsend *s);
/* Queues one delivery of body to url; id (the registration) and service name it in logs. Takes
 * secret (NULL: unsigned; cleansed and freed when done). 0, or -MDO_ENOMEM (the delivery is
 * counted as dropped). */
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
