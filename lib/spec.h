/* spec.h - what a service becomes, whatever the backend: its spec (the config of one service as
 * JSON, stored at /mdo/<env>/specs/<service> and shown by --dry-run), its app_version (a hash of
 * the spec: a changed image or env gives a new version, a changed instance count does not), and
 * the environment mdo injects into each of its containers (DESIGN §4).
 */
#ifndef MDO_SPEC_H
#define MDO_SPEC_H

#include <cjson/cJSON.h>
#include "config.h"
#include "err.h"

/* The spec; caller deletes. NULL on ENOMEM. */
cJSON *spec_json(const struct cfg *cfg, const struct cfg_service *svc);
/* First 12 hex digits of SHA-256 over the spec without its instance count. */
int spec_version(const struct cfg *cfg, const struct cfg_service *svc, char out[13]);

/* "KEY=VALUE" strings, NULL-terminated; caller frees with spec_env_free(). The user's
 * environment comes first, then mdo's (which wins where a name repeats). host_address rewrites
 * loopback etcd endpoints (a container cannot reach the host's loopback); container and
 * host_address may be NULL (Marathon: Mesos sets MESOS_TASK_ID and HOST). */
char **spec_env(const struct cfg *cfg, const struct cfg_service *svc, const char *host_address,
                const char *container);
void spec_env_free(char **env);
/* Whether an environment variable name looks secret (PASSWORD, SECRET, TOKEN, KEY...): its value
 * is redacted in --dry-run output. */
int spec_env_secret(const char *name);

/* The endpoint list as containers see it: loopback hosts replaced by host_address. Caller frees. */
char *spec_etcd_for_guests(const struct cfg *cfg, const char *host_address);

#endif
