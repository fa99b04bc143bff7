/* config.h - the config file of DESIGN §3, loaded into plain C structs.
 *
 * cfg_load() owns everything it returns: every string and array below is heap memory owned by the
 * struct cfg and freed by cfg_free() (which takes NULL). Callers never keep pointers past
 * cfg_free(). After a successful load the defaults are applied and every field is valid: strings
 * that have a default are never NULL; optional ones (marked "or NULL") may be.
 */
#ifndef MDO_CONFIG_H
#define MDO_CONFIG_H

#include <stdbool.h>
#include "err.h"

/* CFG_SCHED_SWARM is a word of DESIGN §3 that cfg_load() refuses until the backend exists: a
 * loaded config never has it. */
enum cfg_sched { CFG_SCHED_DOCKER, CFG_SCHED_MARATHON, CFG_SCHED_SWARM };
enum cfg_pull { CFG_PULL_MISSING, CFG_PULL_ALWAYS, CFG_PULL_NEVER };

struct cfg_kv {
    char *key;
    char *value; /* scalars as written: integers of the seed (MIN_NODES: 2) become "2" */
};

struct cfg_port {
    char *name;         /* as written in the config, e.g. "native" */
    unsigned port;      /* container port, 1..65535 */
    char proto[4];      /* "tcp" or "udp" */
    unsigned host_port; /* fixed host port (host_ports / ports-hard), 0 = scheduler picks */
};

struct cfg_constraint {
    char *field;
    char *op;
    char *value; /* or NULL */
};

struct cfg_health {
    char *cmd;                         /* or NULL */
    char *http;                        /* path, or NULL; at most one of cmd/http is set */
    char *port;                        /* port name for http, or NULL = first port */
    unsigned interval, timeout, grace; /* seconds; defaults 10, 5, 60 */
};

/* A host path bind-mounted into each instance: "HOST:PATH" or "HOST:PATH:ro" in the config. */
struct cfg_volume {
    char *host; /* absolute path on the host (Docker: the engine's host; Marathon: the agent) */
    char *path; /* absolute path in the container, unique in the service */
    bool ro;    /* ":ro"; ":rw" or nothing is read-write */
};

struct cfg_service {
    char *name;
    char *image;
    struct cfg_port *ports; /* in file order */
    unsigned nports;
    unsigned instances; /* default 1, at most CFG_MAX_INSTANCES */
    double cpus;        /* default 0.3 */
    unsigned mem;       /* MiB, default 512 */
    struct cfg_kv *env; /* in file order */
    unsigned nenv;
    struct cfg_kv *labels;
    unsigned nlabels;
    struct cfg_constraint *constraints;
    unsigned nconstraints;
    bool has_health;
    struct cfg_health health;
    char **args; /* or NULL when nargs == 0 */
    unsigned nargs;
    unsigned upgrade_pause; /* seconds, default 0 */
    struct cfg_volume *volumes; /* in file order */
    unsigned nvolumes;
};

/* The read-only identity containers use (DESIGN §4, §10): the backends inject it as
 * MDO_ETCD_USERNAME/MDO_ETCD_PASSWORD, never the subscriber's etcd.username/password. */
struct cfg_etcd_guest {
    char *username, *password; /* or NULL */
    /* A client certificate for containers (etcd --client-cert-auth), files on the host, or
     * NULL; both or neither. The docker backend mounts them read-only at SPEC_ETCD_CERT and
     * SPEC_ETCD_KEY (spec.h). */
    char *cert, *key;
};

struct cfg_etcd {
    char **endpoints; /* at least one, "http://host:port" (seed host/port becomes one of these) */
    unsigned nendpoints;
    char *prefix; /* default "/mdo"; normalised by reg_prefix_norm(): "/mdo/" loads as "/mdo",
                   * "/a//b" as "/a/b", "/" as "" */
    char *username, *password, *ca, *cert, *key; /* or NULL: the subscriber's and commands' */
    struct cfg_etcd_guest guest;
};

struct cfg_marathon {
    char *url; /* "http://host:port" from the seed form, or url; NULL when absent */
    char *api; /* "v2" (default) or "legacy" */
    char *username, *password, *token, *ca; /* or NULL */
    bool insecure;
};

struct cfg_subscriber {
    char *listen;     /* default "127.0.0.1:5000" */
    char *public_url; /* or NULL */
    char *token;      /* or NULL */
    char *mode;       /* "events" (default) or "callback" */
    unsigned resync;  /* seconds, default 60 */
    /* The containers' token (MDO_SUBSCRIBER_TOKEN): POST and DELETE /v1/callbacks of this
     * environment only. Or NULL; never without token, never equal to it. */
    char *guest_token;
    /* Callback targets (cbpolicy.h) opened despite the default rules: CIDRs, v4 or v6, checked by
     * the loader; or NULL when ncallback_allow == 0. */
    char **callback_allow;
    unsigned ncallback_allow;
    unsigned callback_max_per_service; /* registrations, default 16 */
    unsigned callback_max_per_owner;   /* default 64 */
    bool insecure;    /* a listen off loopback without a token is allowed (default false) */
};

struct cfg_docker {
    char *socket;       /* default "/var/run/docker.sock" */
    char *host_address; /* default "auto" */
    enum cfg_pull pull; /* default missing */
};

struct cfg {
    char *path;        /* the file loaded */
    char *environment; /* default "local" */
    enum cfg_sched scheduler;
    struct cfg_etcd etcd;
    struct cfg_marathon marathon;
    struct cfg_subscriber subscriber;
    struct cfg_docker docker;
    struct cfg_service *services; /* in file order */
    unsigned nservices;
    /* Every value ${VAR} expansion took from the environment (DESIGN §3: how secrets get in),
     * each distinct non-empty value once, in the order first used, wherever it went (a password,
     * an env value, part of an image name). Whatever shows config values (--dry-run, /info, the
     * stored specs) redacts these. cfg_free() wipes them. */
    char **secrets; /* or NULL when nsecrets == 0 */
    unsigned nsecrets;
};

#define CFG_MAX_INSTANCES 1000

/* The file to use: `explicit` if not NULL, else $MDO_CONFIG, else ./mdo.yaml, else ./config.yaml.
 * Returns a static string or `explicit`; never NULL (falls back to "mdo.yaml" for the error). */
const char *cfg_default_path(const char *explicit);

/* Loads and checks path. On failure *out is NULL and err->msg holds every problem found, one per
 * line, each "FILE:LINE:COL: ..." naming the key and what was expected (code MDO_ECONFIG), or
 * "cannot read FILE: why". ${VAR} in strings is expanded from the environment (unset = error; see
 * expand.h), and what it put in is listed in cfg->secrets. */
int cfg_load(const char *path, struct cfg **out, struct mdo_err *err);
void cfg_free(struct cfg *cfg);

/* The service named `name`, or NULL. */
const struct cfg_service *cfg_service(const struct cfg *cfg, const char *name);
/* Value of label/env `key` in a kv array, or NULL. */
const char *cfg_kv_get(const struct cfg_kv *kv, unsigned n, const char *key);
/* The port an http health check of svc probes: the one health.port names, else the first port;
 * NULL when svc has no ports. (Whether svc has a health check over http is svc->has_health and
 * svc->health.http.) */
const struct cfg_port *cfg_health_port(const struct cfg_service *svc);
/* Whether any port of svc has a fixed host port (host_ports or ports-hard). */
const struct cfg_port *cfg_service_fixed_ports(const struct cfg_service *svc);

#endif
