/* cbreg.h - callback registrations in etcd (DESIGN §5, §6): records, ids, secrets.
 *
 * A registration is <prefix>/<env>/callbacks/<service>/<id> -> {"id","service","url",
 * "secret_ref","created","owner"}. The id is a hash of service, url and owner: registering the
 * same thing again (a container's start script after a restart) rewrites one key.
 * The secret itself is never in the record: a secret is stored at
 * <prefix>/<env>/secrets/callbacks/<id> and secret_ref is "etcd:<that key>" (so listings, logs
 * and GET /v1/callbacks never show it, and etcd RBAC can guard the secrets/ prefix); an
 * operator may instead write secret_ref "env:NAME": the subscriber's $NAME.
 *
 * Every key is built by registry.h's builders from a prefix as reg_prefix_norm() makes it
 * (cfg->etcd.prefix). This is all the register_callback applet needs; delivery is cbsend.h's,
 * the membership dispatcher cbwatch.h's.
 */
#ifndef MDO_CBREG_H
#define MDO_CBREG_H

#include <stddef.h>
#include <time.h>
#include "err.h"
#include "etcd.h"

#define CBREG_ID_LEN 16

/* One registration as read from etcd; owns its strings (cbreg_free() frees an array). */
struct cbreg {
    char *id, *service, *url; /* service and id as the key names them, checked (names.h) */
    char *secret_ref, *owner; /* or NULL */
    time_t created;           /* 0 when the record has none that parses */
};

void cbreg_id(const char *service, const char *url, const char *owner, char id[CBREG_ID_LEN + 1]);
/* Writes the record (and the secret, when not NULL; else removes an old one) in one
 * transaction. owner may be NULL. -MDO_EUSAGE when a name breaks its rule (names.h). */
int cbreg_register(struct etcd *e, const char *prefix, const char *env, const char *service,
                   const char *url, const char *secret, const char *owner,
                   char id[CBREG_ID_LEN + 1], struct mdo_err *err);
/* Removes registration id (of any service) and its secret; -MDO_ENOTFOUND when none. */
int cbreg_unregister(struct etcd *e, const char *prefix, const char *env, const char *id,
                     struct mdo_err *err);
/* Removes r and its secret. */
int cbreg_delete(struct etcd *e, const char *prefix, const char *env, const struct cbreg *r,
                 struct mdo_err *err);

/* Registrations of service (NULL: of every service). Bad records are logged and skipped.
 * *out is the caller's (cbreg_free). */
int cbreg_list(struct etcd *e, const char *prefix, const char *env, const char *service,
               struct cbreg **out, size_t *n, struct mdo_err *err);
void cbreg_free(struct cbreg *r, size_t n);

/* The pure part of cbreg_list: rest is the key after "<prefix>/<env>/callbacks/", i.e.
 * "<service>/<id>". Fills r (zeroed first); -MDO_EPROTO when the key or value is not a
 * registration (service, id or url breaking their rules), -MDO_ENOMEM. */
int cbreg_parse(const char *rest, const char *json, size_t len, struct cbreg *r,
                struct mdo_err *err);
void cbreg_release(struct cbreg *r);

/* The secret r names, or NULL (none, or unreadable: logged). Caller frees (after
 * OPENSSL_cleanse, as cbsend does). */
char *cbreg_secret(struct etcd *e, const struct cbreg *r);

/* Caps (subscriber.callback_max_per_service/_per_owner). cbreg_count: among rs[0, n), how many
 * registrations service has and owner has (owner NULL: those without an owner), leaving out
 * registration id of service, which *exists says is there (registering it again rewrites it).
 * cbreg_admit: whether registering (service, url, owner) stays within both caps with `extra`
 * registrations in flight elsewhere counted too; 0, -MDO_ECONFLICT naming the cap, or what reading
 * the registrations failed with. */
void cbreg_count(const struct cbreg *rs, size_t n, const char *service, const char *owner,
                 const char *id, size_t *of_service, size_t *of_owner, int *exists);
int cbreg_admit(struct etcd *e, const char *prefix, const char *env, const char *service,
                const char *url, const char *owner, unsigned max_service, unsigned max_owner,
                unsigned extra, struct mdo_err *err);

#endif
