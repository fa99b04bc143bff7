/* names.h - the name rules for everything that becomes a registry key, a URL path or a page.
 *
 * Two rules, one per kind of name:
 * - name_ok(): a service or environment name, Marathon's app id segment
 *   ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$, at most NAME_MAX_LEN bytes (the config's own rule).
 * - segment_ok(): an instance's container name or an id (Docker container names, Mesos task ids,
 *   callback ids): 1..SEGMENT_MAX_LEN bytes of [A-Za-z0-9._-], not starting with '.', so it is
 *   one key or path segment that can never be "." or "..".
 * Names from outside (scheduler labels and ids, etcd keys and values, HTTP paths) are checked
 * with these before use; anything that fails is refused, never repaired.
 */
#ifndef MDO_NAMES_H
#define MDO_NAMES_H

#include <stdbool.h>
#include "err.h"

#define NAME_MAX_LEN    63
#define SEGMENT_MAX_LEN 255

bool name_ok(const char *s);
bool segment_ok(const char *s);
/* -MDO_EUSAGE "<what> 'x' is not a valid name ..." when the rule fails, else 0. The value is
 * shown escaped and cut, so hostile input cannot forge the message. */
int name_check(const char *what, const char *s, struct mdo_err *err);
int segment_check(const char *what, const char *s, struct mdo_err *err);

#endif
