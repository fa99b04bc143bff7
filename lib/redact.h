/* redact.h - the secrets mdo knows, cut out of everything it prints, logs, serves and stores
 * (DESIGN §3, §10: a value that came from ${VAR} is a secret wherever it goes).
 *
 * One process-wide list, filled by cfg_load() (redact_cfg(): every ${VAR} value, every R_SECRET
 * key's value, the password of every URL in the config) and read by the writers of output: the
 * logger (lib/log.c), err_report() (lib/err.c), --dry-run (spec_redacted()), the labels read
 * back from the scheduler (spec_record_labels(): so records in etcd, /v1/services and /info hold
 * none), the subscriber's last_error (/health). Each occurrence of a listed value becomes
 * REDACTED, longest value first at each position, so a secret that contains another leaves no
 * part behind. A value's JSON-escaped form is listed too (a body already printed).
 *
 * Values shorter than REDACT_MIN bytes are not listed: replacing every "1" or "on" of every line
 * would garble all output and still hide nothing (a 3-byte secret is guessed in microseconds).
 * The environment's own name is not listed either when it came from ${VAR}: it is in every key,
 * container name and app id, which the schedulers show anyway.
 *
 * Thread-safe: a mutex guards the list (added to at start, read by every thread that logs).
 */
#ifndef MDO_REDACT_H
#define MDO_REDACT_H

#include <cjson/cJSON.h>
#include "buf.h"
#include "config.h"

#define REDACT_MIN 4
#define REDACTED   "<redacted>"

/* Lists value (a copy) unless it is shorter than REDACT_MIN or listed already. 0 or
 * -MDO_ENOMEM. */
int redact_add(const char *value);
/* Lists every secret of cfg (see above). 0 or -MDO_ENOMEM. */
int redact_cfg(const struct cfg *cfg);
/* Forgets (and wipes) every value: for tests. */
void redact_reset(void);

/* Appends s to out with each listed value replaced by REDACTED. Returns how many were replaced,
 * or -MDO_ENOMEM. */
int redact_buf(struct buf *out, const char *s);
/* s redacted, the caller's to free; NULL on ENOMEM (or s NULL). */
char *redact_dup(const char *s);
/* Redacts the NUL-terminated text in s[size] in place; a longer result is cut to fit. Returns how
 * many were replaced. */
int redact_fixed(char *s, size_t size);
/* Redacts b's contents in place (a reply body before it is sent). Returns how many were
 * replaced, or -MDO_ENOMEM: b is then emptied, nothing rather than a secret. */
int redact_inplace(struct buf *b);
/* Redacts every string value in the tree (not object keys) in place. Returns how many strings
 * changed, or -MDO_ENOMEM. */
int redact_json(cJSON *item);

#endif
