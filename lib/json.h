/* json.h - small readers over cJSON trees: typed lookups that tolerate absent keys.
 * Pointers returned point into the tree: valid until the tree is deleted by its owner. */
#ifndef MDO_JSON_H
#define MDO_JSON_H

#include <cjson/cJSON.h>

/* String member `key`, or NULL when absent or not a string. */
const char *json_str(const cJSON *o, const char *key);
/* Integer member `key` given as a number or a decimal string (etcd's gateway sends int64 as
 * strings); def when absent, malformed or out of range (numbers are cut towards zero). */
long long json_int(const cJSON *o, const char *key, long long def);
/* Bool member, def when absent. */
int json_bool(const cJSON *o, const char *key, int def);
/* Prints compactly; caller frees with free(). NULL on ENOMEM. */
char *json_print(const cJSON *o);

#endif
