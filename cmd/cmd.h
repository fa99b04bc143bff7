/* cmd.h - the subcommands and what they share: option parsing helpers and config loading */
#ifndef MDO_CMD_H
#define MDO_CMD_H

#include <stdarg.h>
#include "config.h"
#include "err.h"
#include "etcd.h"
#include "scheduler.h"

struct cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
    const char *usage; /* full --help text */
};

/* One row per command; each cmd/<name>.c defines its cmd_<name>() and usage_<name>[]. */
#define MDO_COMMANDS(X)                                                                            \
    X(guest, "run a guest applet (lookups inside containers)")                                     \
    X(launch, "create or update services (idempotent)")                                            \
    X(restart, "rolling restart, one instance at a time")                                          \
    X(scale, "set a service's instance count")                                                     \
    X(status, "scheduler and registry, side by side")                                              \
    X(stop, "remove services and their instances")                                                 \
    X(subscribe, "run the registry keeper (daemon)")                                               \
    X(validate, "check the config file and print what is wrong")

#define X(n, s)                                                                                    \
    int cmd_##n(int argc, char **argv);                                                            \
    extern const char usage_##n[];
MDO_COMMANDS(X)
#undef X

/* The options the subcommands share; cmd_parse() fills what `allowed` permits. */
enum {
    ARG_ALL = 1 << 0,     /* --all */
    ARG_WAIT = 1 << 1,    /* --wait[=SECS] */
    ARG_DRY_RUN = 1 << 2, /* --dry-run */
    ARG_JSON = 1 << 3,    /* --json */
    ARG_FORCE = 1 << 4,   /* --force */
    ARG_LISTEN = 1 << 5,  /* --listen ADDR:PORT */
    ARG_PAUSE = 1 << 6,   /* --pause SECS */
    ARG_LEASE = 1 << 7,   /* --lease SECS */
};

struct cmd_args {
    const char *config; /* -c FILE / --config FILE */
    int all, wait, dry_run, json, force;
    unsigned wait_s; /* 0 = the default */
    const char *listen;
    unsigned pause_s; /* --pause, when pause_set */
    int pause_set;
    unsigned lease_s; /* --lease, 0 = the default */
    char **pos;       /* positional arguments (points into argv) */
    int npos;
};

/* Parses argv (argv[0] is the command name). Arguments that look like negative numbers are
 * positional, so `mdo scale web -1` reaches the range check. Returns 0, or prints the usage
 * error and returns 2. a->pos is allocated: free(a->pos). */
int cmd_parse(const char *name, const char *usage, int argc, char **argv, unsigned allowed,
              struct cmd_args *a);

/* What a command works with: the config, the registry, the scheduler backend. */
struct cmd_env {
    struct cfg *cfg;
    struct etcd etcd; /* open when has_etcd */
    int has_etcd;
    const struct sched_ops *ops;
    struct sched *sched; /* open when not NULL */
};

enum { NEED_ETCD = 1, NEED_SCHED = 2 };

/* Loads the config and opens what `need` says; on failure everything is closed again. */
int cmd_env_open(struct cmd_env *ce, const char *config, unsigned need, struct mdo_err *err);
void cmd_env_close(struct cmd_env *ce);
/* -MDO_ENOTFOUND "unknown service 'x' (FILE has: a, b)" for the first name not in the config. */
int cmd_check_services(const struct cfg *cfg, char *const *names, int n, struct mdo_err *err);

/* True when argv has -h/--help: prints usage to stdout. Commands call it first. */
int cmd_wants_help(int argc, char **argv, const char *usage);
/* Prints "mdo NAME: msg" and the usage's first line to stderr; returns 2. */
/* The same with the whole prefix given ("get_port"): applets share it. */
int cmd_usage_verror(const char *who, const char *usage, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
int cmd_usage_error(const char *name, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Loads the config from -c FILE (path may be NULL) or the default places. */
int cmd_config(const char *path, struct cfg **out, struct mdo_err *err);
/* Parses a non-negative integer with range check (no atoi). Returns 0 or -1. */
int cmd_parse_uint(const char *s, unsigned max, unsigned *out);

#endif
