/* marathon.h - the pure parts of the Marathon backend (lib/marathon.c), apart so that unit tests
 * reach them: the app definition mdo sends (DESIGN §8), its comparison with what Marathon stores,
 * and the mapping of Marathon's tasks to registry records.
 *
 * cJSON trees returned are the caller's (cJSON_Delete); records filled are the caller's
 * (reg_record_release). Nothing here does I/O.
 */
#ifndef MDO_MARATHON_H
#define MDO_MARATHON_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "buf.h"
#include "config.h"
#include "registry.h"

/* "/<env>/<service>" */
int mar_app_id(struct buf *b, const char *env, const char *service);
/* The service of an app id "/<env>/<service>" of this environment, copied into out; NULL when
 * the id is not of that form (another environment, a deeper group, too long). */
const char *mar_service_of(const char *env, const char *app_id, char *out, size_t n);

/* The app definition of svc with the config's instance count. legacy: Marathon 1.4 and earlier
 * (container.docker.network BRIDGE + container.docker.portMappings, no networks). NULL on ENOMEM.
 */
cJSON *mar_app_json(const struct cfg *cfg, const struct cfg_service *svc, int legacy);
/* 1 when the stored app `have` (GET /v2/apps/<id> "app") already is what `want` asks: every field
 * of want is in have with the same value (Marathon adds defaults and servicePorts, so have may
 * hold more), and env and labels (with mdo.app_version) are exactly equal. */
int mar_app_same(const cJSON *want, const cJSON *have);
/* The definition as --dry-run shows it: pretty, env values with secret-looking names redacted.
 * Caller frees; NULL on ENOMEM. */
char *mar_app_redacted(const cJSON *app);

/* The registry record of one task of app (as GET /v2/apps?embed=apps.tasks gives them): 0 and
 * rec filled; 1 when there is nothing to register (not TASK_RUNNING, or an app without mdo's
 * labels or of another environment); -MDO_ENOMEM. */
int mar_task_record(const char *env, const cJSON *app, const cJSON *task, struct reg_record *rec);

#endif
