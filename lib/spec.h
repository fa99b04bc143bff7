/* spec.h - what a service becomes, whatever the backend: its spec (the config of one service as
 * JSON, hashed into the app_version; never stored: it holds secrets), its app_version (a hash of
 * the spec: a changed image or env gives a new version, a changed instance count does not), the
 * environment mdo injects into each of its containers (DESIGN §4), the labels it puts on them and
 * reads back, and what both backends ask of a service's ports. One copy for docker and marathon.
 */
#ifndef MDO_SPEC_H
#define MDO_SPEC_H

#include <cjson/cJSON.h>
#include "config.h"
#include "err.h"
#include "registry.h"

/* The spec; caller deletes. NULL on ENOMEM. */
cJSON *spec_json(const struct cfg *cfg, const struct cfg_service *svc);
/* First 12 hex digits of SHA-256 over the spec without its instance count. */
int spec_version(const struct cfg *cfg, const struct cfg_service *svc, char out[13]);

/* "KEY=VALUE" strings, NULL-terminated, no name twice; caller frees with spec_env_free(). The
 * user's environment comes first, then mdo's; a user variable of a name mdo sets is dropped
 * (mdo's value wins: Docker keeps both of a repeated name, getenv() returns the first).
 * host_address rewrites loopback etcd endpoints (a container cannot reach the host's loopback);
 * container and host_address may be NULL (Marathon: Mesos sets MESOS_TASK_ID and HOST).
 * With etcd.guest, MDO_ETCD_USERNAME/MDO_ETCD_PASSWORD are the guest's (never etcd.username's),
 * and MDO_ETCD_CA is SPEC_ETCD_CA when spec_etcd_ca() says containers need it (and
 * MDO_ETCD_CERT/MDO_ETCD_KEY when spec_etcd_guest_cert()). MDO_SUBSCRIBER_URL is
 * spec_subscriber_url()'s, MDO_SUBSCRIBER_TOKEN subscriber.guest_token (never subscriber.token).
 */
char **spec_env(const struct cfg *cfg, const struct cfg_service *svc, const char *host_address,
                const char *container);
void spec_env_free(char **env);
/* Whether an environment variable name looks secret (PASSWORD, SECRET, TOKEN, KEY...): its value
 * is redacted in --dry-run output. */
int spec_env_secret(const char *name);

/* Where containers find etcd's CA (MDO_ETCD_CA): the Docker backend bind-mounts etcd.ca there
 * read-only; on Marathon the agents must provide it (a host volume, see guest/README.md). */
#define SPEC_ETCD_CA "/run/mdo/etcd-ca.pem"
/* etcd.ca when containers need it (some endpoint is https://), else NULL. */
const char *spec_etcd_ca(const struct cfg *cfg);

/* Where containers find their etcd client certificate and key (MDO_ETCD_CERT, MDO_ETCD_KEY):
 * etcd.guest.cert and .key, bind-mounted read-only by the Docker backend as the CA is; on
 * Marathon the agents provide them (see guest/README.md). */
#define SPEC_ETCD_CERT "/run/mdo/etcd-cert.pem"
#define SPEC_ETCD_KEY  "/run/mdo/etcd-key.pem"
/* Whether containers get etcd.guest.cert/key: both set and some endpoint is https://. */
int spec_etcd_guest_cert(const struct cfg *cfg);

/* MDO_SUBSCRIBER_URL: where containers reach the subscriber's API (register_callback).
 * subscriber.public_url when set; else, on Docker (host_address not NULL), http:// and
 * subscriber.listen's port on listen's address, or on host_address when listen is a wildcard
 * (0.0.0.0, ::); NULL when listen is a loopback address (containers cannot reach the host's
 * loopback) or on Marathon without public_url. Caller frees. */
char *spec_subscriber_url(const struct cfg *cfg, const char *host_address);
/* Why containers get no MDO_SUBSCRIBER_URL although subscriber.guest_token says they should
 * call the subscriber (a warning's text, for `mdo launch` to print once), or NULL. docker: the
 * backend is Docker (else Marathon). */
const char *spec_subscriber_unreachable(const struct cfg *cfg, int docker);

/* The endpoint list as containers see it: loopback hosts replaced by host_address. Caller frees. */
char *spec_etcd_for_guests(const struct cfg *cfg, const char *host_address);

/* The prefix of a service label's key on a container or app: mdo.label.<key>. */
#define SPEC_LABEL "mdo.label."

/* mdo's labels of a container (Docker) or app (Marathon): mdo.environment, mdo.service,
 * mdo.app_version = version, and mdo.label.<k> for each of the service's labels. Caller deletes;
 * NULL on ENOMEM. */
cJSON *spec_labels(const struct cfg *cfg, const struct cfg_service *svc, const char *version);
/* Reads the mdo.label.<k> string labels of a scheduler's label object back into rec->labels
 * (rec->labels must be empty), secrets redacted (redact.h: a record goes to etcd, /v1/services,
 * /info and logs). 0, or -MDO_ENOMEM (what was read stays in rec for
 * reg_record_release). */
int spec_record_labels(struct reg_record *rec, const cJSON *labels);
/* A request body as --dry-run shows it: pretty-printed, the values of secret-looking variables
 * (spec_env_secret) replaced by "<redacted>", in Docker's "Env" list and in Marathon's "env"
 * object, and every listed secret (redact.h) replaced wherever it is. Caller frees; NULL on
 * ENOMEM. */
char *spec_redacted(const cJSON *body);

#endif
