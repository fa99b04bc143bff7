/* registry.h - the etcd registry of DESIGN §5: keys, instance records, listing, and the diff that
 * turns "what the scheduler runs" + "what the registry says" into guarded writes.
 *
 *   <prefix>/<env>/services/<service>/instances/<container>  -> instance record (JSON)
 *   <prefix>/<env>/specs/<service>                           -> no longer written (it held env
 *                                                               values); launch and stop delete it
 *   <prefix>/<env>/callbacks/<service>/<id>                  -> a callback registration
 *   <prefix>/<env>/secrets/callbacks/<id>                    -> its HMAC secret
 *   <prefix>/<env>/leader                                    -> the subscriber leader
 *
 * A struct reg_record owns all its strings and arrays; reg_record_release() frees them and leaves
 * a zeroed record. Arrays of records are freed with reg_records_free(). Ports keep the order of
 * the service's config (Marathon's portMappings order).
 */
#ifndef MDO_REGISTRY_H
#define MDO_REGISTRY_H

#include <stdint.h>
#include <cjson/cJSON.h>
#include "buf.h"
#include "config.h"
#include "err.h"
#include "etcd.h"

struct reg_port {
    char *name;
    int internal; /* container port */
    int external; /* host port, 0 when not published */
    char proto[4];
};

struct reg_record {
    char *service, *container, *environment;
    char *host;    /* address peers use: the docker bridge gateway / the Mesos agent */
    char *address; /* the container's own address, or NULL */
    struct reg_port *ports;
    unsigned nports;
    struct cfg_kv *labels;
    unsigned nlabels;
    char *state;      /* "running" | "healthy" | "unhealthy" */
    char *started_at; /* RFC 3339 */
    char *app_version;
    char *backend;        /* "docker" | "marathon" */
    int64_t mod_revision; /* when read from etcd, else 0 */
};

/* Keys (DESIGN §5), all built here. prefix is as reg_prefix_norm() made it: "" or "/a/b", no
 * trailing '/'. env and service follow name_ok() (env may also be "local"), container and id
 * segment_ok() (names.h). Each returns 0, -MDO_EUSAGE when a name breaks its rule (nothing is
 * added that could escape the prefix), or -MDO_ENOMEM. */
/* "/a//b/" -> "/a/b", "/" -> "": repeated and trailing '/' dropped; -MDO_EUSAGE without a
 * leading '/'. *out is the caller's to free. */
int reg_prefix_norm(const char *in, char **out);
/* "<prefix>/<env>/services/<service>/instances/" (service NULL: ".../services/"). */
int reg_prefix(struct buf *b, const char *prefix, const char *env, const char *service);
/* "<prefix>/<env>/services/<service>/instances/<container>" */
int reg_key(struct buf *b, const char *prefix, const struct reg_record *r);
/* The reverse, for a key past reg_prefix(service NULL): whether rest is
 * "<service>/instances/<container>", both parts non-empty; *service_len and *container then.
 * The names are not checked against their rules (a key from etcd may hold anything). */
int reg_key_split(const char *rest, size_t *service_len, const char **container);
/* "<prefix>/<env>/specs/<service>": only to delete what an older mdo stored there */
int reg_spec_key(struct buf *b, const char *prefix, const char *env, const char *service);
/* "<prefix>/<env>/callbacks/<service>/" (service NULL: ".../callbacks/") */
int reg_callbacks_prefix(struct buf *b, const char *prefix, const char *env, const char *service);
/* "<prefix>/<env>/callbacks/<service>/<id>" */
int reg_callback_key(struct buf *b, const char *prefix, const char *env, const char *service,
                     const char *id);
/* "<prefix>/<env>/secrets/callbacks/<id>" */
int reg_secret_key(struct buf *b, const char *prefix, const char *env, const char *id);
/* "<prefix>/<env>/leader" */
int reg_leader_key(struct buf *b, const char *prefix, const char *env);
/* "<prefix>/<env>/secrets/marathon_callback": the secret path segment of the callback URL the
 * subscriber registers with Marathon (callback mode); only the subscriber reads or writes it */
int reg_callback_path_key(struct buf *b, const char *prefix, const char *env);

/* Canonical JSON of DESIGN §5; caller frees. Same record, same bytes (the diff relies on it). */
char *reg_record_json(const struct reg_record *r);
/* The same as a cJSON tree, for documents that embed records; caller cJSON_Delete()s it.
 * NULL on ENOMEM. */
cJSON *reg_record_cjson(const struct reg_record *r);
/* Fills r (zeroed first) from JSON; -MDO_EPROTO names what is missing. */
int reg_record_parse(const char *json, size_t len, struct reg_record *r, struct mdo_err *err);
/* Same canonical JSON (mod_revision aside). */
int reg_record_equal(const struct reg_record *a, const struct reg_record *b);
void reg_record_release(struct reg_record *r);
void reg_records_free(struct reg_record *r, unsigned n);
/* The port named name, or NULL. */
const struct reg_port *reg_record_port(const struct reg_record *r, const char *name);
/* Label value, or NULL. */
const char *reg_record_label(const struct reg_record *r, const char *key);

/* Every record of env (service NULL: every service), sorted by service then container.
 * Records that do not parse are skipped and counted in *bad (may be NULL). *rev is the store
 * revision of the listing (may be NULL). */
int reg_list(struct etcd *e, const char *prefix, const char *env, const char *service,
             struct reg_record **out, unsigned *n, int64_t *rev, unsigned *bad,
             struct mdo_err *err);

/* Like reg_list over every service, for a reconcile: a value that does not parse is kept as a
 * record holding only its service and container (and mod_revision), so the diff rewrites or
 * removes it instead of leaving it there forever. */
int reg_list_all(struct etcd *e, const char *prefix, const char *env, struct reg_record **out,
                 unsigned *n, unsigned *bad, struct mdo_err *err);

/* One change the diff found. */
struct reg_change {
    enum { REG_PUT, REG_DEL } type;
    const struct reg_record *rec; /* the wanted record (PUT) or the stale one (DEL): borrowed */
    int64_t guard;                /* mod_revision the key must still have (0 = must not exist) */
};

/* want: what the scheduler runs; have: what the registry holds (with mod_revisions). Both
 * sorted as reg_list sorts. Writes the changes into *out (caller frees the array, not the
 * records): PUT where a record is missing or differs, DEL where the registry has one the
 * scheduler does not run. */
int reg_diff(const struct reg_record *want, unsigned nwant, const struct reg_record *have,
             unsigned nhave, struct reg_change **out, unsigned *n);
/* Applies changes in guarded transactions of at most ETCD_TXN_MAX; when a transaction's guard
 * fails (someone wrote in between), its changes are retried one by one so that one stale key
 * never holds back the others. *failed counts changes not applied. */
int reg_apply(struct etcd *e, const char *prefix, const struct reg_change *c, unsigned n,
              unsigned *failed, struct mdo_err *err);

/* The safety rule for scheduler listings that come back (nearly) empty, e.g. during a Marathon
 * leader failover: for each service where the changes would delete more than half of the
 * registered instances (and at least 2), the DELs are dropped from c (n shrinks) and their
 * names ("service/container") make up held (emptied first) — unless prev, the set held back by
 * the previous pass, already has every one of them: a second listing agreeing is applied.
 * prev and held are distinct sets. Returns how many DELs were held back. */
struct strset;
unsigned reg_hold_mass_removals(struct reg_change *c, unsigned *n, const struct reg_record *have,
                                unsigned nhave, const struct strset *prev, struct strset *held);

/* Sort order of reg_list: service, then container. */
int reg_record_cmp(const void *a, const void *b);

/* ---- membership: what "the service changed" means (the watch applet and the callbacks) ----
 * Two records are membership-equal when their container, host, ports (name, internal, external,
 * protocol, in order) and labels (in order; reg_record_parse gives them sorted) agree. State,
 * start time and version are left out: a health flip or a restart that keeps the instance's
 * name, host and ports is not a membership change; a new port is. */
int reg_member_equal(const struct reg_record *a, const struct reg_record *b);

struct reg_members_diff {
    unsigned count;                   /* records in cur */
    unsigned added, removed, changed; /* by container; changed: same name, not member-equal */
    /* container names in container order, borrowed from cur (added, changed) and old
     * (removed): valid while those arrays are; the arrays are the diff's own */
    const char **names_added, **names_removed, **names_changed;
};

#define REG_MEMBERS_DIFF_INIT                                                                      \
    {                                                                                              \
        0, 0, 0, 0, NULL, NULL, NULL                                                               \
    }

/* One merge over two memberships of a service, each sorted by container (reg_list's order
 * within a service). Returns 1 when they differ, 0 when equal, -MDO_ENOMEM (d empty). The
 * caller releases d with reg_members_diff_release() before freeing old or cur. */
int reg_members_diff(const struct reg_record *old, unsigned nold, const struct reg_record *cur,
                     unsigned ncur, struct reg_members_diff *d);
void reg_members_diff_release(struct reg_members_diff *d);

/* A record and its value as stored: get_node_list --json prints records as they are. */
struct reg_stored {
    struct reg_record rec;
    char *json; /* the value, NUL-terminated: owned */
};

/* Every instance of one service, sorted by container, each with its value as stored. Values
 * that are not records are skipped and handed to skipped(ctx, key, why) when it is given (else
 * logged); keys below an instance's are not instances and are left out. On success err is clear
 * (etcd.c may leave a failed endpoint's error after failing over to the next). Caller frees *out
 * with reg_stored_free(). */
int reg_list_stored(struct etcd *e, const char *prefix, const char *env, const char *service,
                    struct reg_stored **out, unsigned *n,
                    void (*skipped)(void *ctx, const char *key, const char *why), void *ctx,
                    struct mdo_err *err);
void reg_stored_free(struct reg_stored *v, unsigned n);

#endif
