/* docker.h - inside the docker backend (lib/docker.c, docker_ctr.c, docker_deploy.c,
 * docker_events.c): its state
 * and the pure parts unit tests reach (container names, the label filter, the create body,
 * the record of an inspected container).
 *
 * Containers are named <env>-<service>-<n> and carry mdo's labels (spec_labels) and mdo.ports,
 * the service's ports as JSON, [{"name":"web","port":80,"protocol":"tcp"}, ...] in config order:
 * the engine keeps no port names. Everything registered is read back from the engine (inspect),
 * never from the config, so the registry shows what runs.
 *
 * cJSON trees returned are the caller's (cJSON_Delete); records filled are the caller's
 * (reg_record_release).
 */
#ifndef MDO_DOCKER_H
#define MDO_DOCKER_H

#include <pthread.h>
#include <cjson/cJSON.h>
#include "buf.h"
#include "config.h"
#include "err.h"
#include "http.h"
#include "registry.h"
#include "scheduler.h"
#include "strset.h"

#define DK_API         "http://docker/v1.41"
#define DK_PORTS_LABEL "mdo.ports"

/* The backend's state behind the opaque struct sched of the ops. */
struct dk_sched {
    const struct cfg *cfg;
    struct http_conn conn;
    char host_address[64];
    pthread_mutex_t lock;  /* guards refused (the list and events threads both log) */
    struct strset refused; /* containers already logged as refused: one line each */
};

/* ---- pure (docker_ctr.c) ---- */

/* "<env>-<service>-<n>" into b (reset first). */
int dkr_instance_name(struct buf *b, const char *env, const char *service, unsigned n);
/* n of "<env>-<service>-<n>", 0 when name is not of that form. */
unsigned dkr_name_index(const char *name, const char *env, const char *service);
/* Docker's filters JSON {"type":[type],"label":["mdo.environment=E"(,"mdo.service=S")]}
 * (type and service may be NULL), added to b percent-encoded for a query string. */
int dkr_filters(struct buf *b, const char *type, const char *env, const char *service);
/* The mdo.ports label of svc; caller frees. NULL on ENOMEM. */
char *dkr_ports_label(const struct cfg_service *svc);
/* The POST /containers/create body of instance `name` of svc at version. NULL on ENOMEM. */
cJSON *dkr_create_body(const struct cfg *cfg, const struct cfg_service *svc,
                       const char *host_address, const char *name, const char *version);
/* The record of an inspected container (GET /containers/<id>/json) of environment env whose
 * peers reach it at host_address: 0 and rec filled; 1 when there is nothing to register (not
 * running, not mdo's, another environment); -MDO_EPROTO when it carries mdo's labels but a
 * name or label is not acceptable (err says which: a service label that is no valid name, a
 * container name that is no key segment, a bad mdo.ports label); -MDO_ENOMEM. */
int dkr_record(const char *env, const char *host_address, const cJSON *in, struct reg_record *rec,
               struct mdo_err *err);

/* 1 when a POST /images/create answer (one JSON object a line) holds a failure
 * ({"error": ...}, or {"message": ...} for a refused request), its text put in why; else 0. */
int dkr_pull_failed(const char *body, size_t len, struct buf *why);

/* ---- the client (docker.c) ---- */

static inline struct dk_sched *dk_of(struct sched *s)
{
    return (struct dk_sched *)(void *)s;
}

/* One call to the engine; answers outside [lo, hi] are errors (404 -MDO_ENOTFOUND, 409
 * -MDO_ECONFLICT, else -MDO_EHTTP, Docker's message in err->why). On success *out is the JSON
 * answer (NULL when empty). Errors are tagged MDO_SRC_DOCKER. */
int dk_call(struct dk_sched *d, const char *method, const char *path, const char *body, long lo,
            long hi, cJSON **out, struct mdo_err *err);
/* GET /containers/<id>/json */
int dk_inspect(struct dk_sched *d, const char *id, cJSON **out, struct mdo_err *err);
/* dkr_record() for this engine; a refused container is logged once and reported as 1. */
int dk_record(struct dk_sched *d, const cJSON *in, struct reg_record *rec, struct mdo_err *err);

/* A container of a service as GET /containers/json lists it. */
struct dk_ctr {
    char *id, *name, *version, *state;
    unsigned index; /* n of <env>-<service>-<n>, 0 if the name is not ours */
};

/* Every container of the service (all: running or not); *out freed with dk_ctrs_free(). */
int dk_ctrs_list(struct dk_sched *d, const char *service, int all, struct dk_ctr **out, unsigned *n,
                 struct mdo_err *err);
void dk_ctrs_free(struct dk_ctr *c, unsigned n);
/* Inspects c[0, nc) and makes their records (docker_inspect.c): DK_INSPECT_POOL requests at a
 * time, each thread on its own connection. filled[i] is 1 where recs[i] is a record (not: removed
 * since the listing, or nothing to register). 0, or the error of the first container in
 * listing order that failed (its records filled so far are the caller's to free). */
#define DK_INSPECT_POOL 4
int dk_inspect_all(struct dk_sched *d, const struct dk_ctr *c, unsigned nc, struct reg_record *recs,
                   unsigned char *filled, struct mdo_err *err);
/* b = head, segment percent-encoded as one path segment, tail ("/containers/<id>/json"). */
int dk_path(struct buf *b, const char *head, const char *segment, const char *tail);

/* ---- changing what runs (docker_deploy.c) ---- */

/* Brings the service to n instances of the current version. */
int dk_converge(struct dk_sched *d, const struct cfg_service *svc, unsigned n,
                const struct sched_opts *o, struct mdo_err *err);
/* Replaces every instance with a fresh container, one at a time, in instance order. */
int dk_restart_all(struct dk_sched *d, const struct cfg_service *svc, unsigned pause_s,
                   const struct sched_opts *o, struct mdo_err *err);
/* Removes every container of the service. */
int dk_stop_all(struct dk_sched *d, const char *service, const struct sched_opts *o,
                struct mdo_err *err);

/* ---- events (docker_events.c) ---- */

int dk_events(struct sched *s, const struct sched_sink *sink, const volatile int *stop,
              struct mdo_err *err);

#endif
