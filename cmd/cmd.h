/* cmd.h - the subcommands: the table's row, the options they share, the environment they get.
 *
 * mdo.c's run() does what a row asks, in this order: --help; the options (the row's table, into
 * struct cmd_args); the row's check of the arguments (usage errors come before any file is read);
 * the config; the services the arguments name; etcd; the scheduler (struct cmd_env). Then it
 * calls the command, closes the environment and checks that stdout was written. A command is
 * the user's story only, and ends with `return err_report(NAME, &err);`.
 */
#ifndef MDO_CMD_H
#define MDO_CMD_H

#include <stddef.h>
#include "cli.h"
#include "config.h"
#include "err.h"
#include "etcd.h"
#include "scheduler.h"

/* Every command's options, filled by run() per the command's table (unused ones stay 0). */
struct cmd_args {
    const char *config; /* -c FILE / --config FILE */
    int all, wait, dry_run, json, force;
    unsigned wait_s; /* --wait=SECS; 0 = the default */
    const char *listen;
    unsigned pause_s; /* --pause, when pause_set */
    int pause_set;
    unsigned lease_s; /* --lease, 0 = the default */
    char **pos;       /* the arguments (argv's strings; run() owns the array) */
    int npos;
    int argc; /* CMD_RAW: the command's own argv (argv[0] its name) */
    char **argv;
};

/* What a command works with: the config, the registry, the scheduler backend. */
struct cmd_env {
    struct cfg *cfg;
    struct etcd etcd; /* open when has_etcd */
    int has_etcd;
    const struct sched_ops *ops;
    struct sched *sched; /* open when not NULL */
};

/* A row's flags: what run() prepares before the command runs. */
enum {
    NEED_CONFIG = 1 << 0,   /* the config file, loaded */
    NEED_ETCD = 1 << 1,     /* + the etcd client (no request is made yet) */
    NEED_SCHED = 1 << 2,    /* + the scheduler backend, open */
    ARGS_SERVICES = 1 << 3, /* + every argument names a service of the config */
    ARG1_SERVICE = 1 << 4,  /* + the first argument does (scale SERVICE N) */
    CMD_RAW = 1 << 5,       /* none of it: the command parses argc/argv itself (mdo guest) */
};

struct cmd {
    const char *name;
    int (*fn)(struct cmd_env *env, const struct cmd_args *a);
    unsigned flags;
    const char *summary;
    const char *usage;          /* the --help text */
    const struct cli_opt *opts; /* ends with a zeroed row */
    /* the arguments: 0, or prints why and returns the exit code (NULL: any will do) */
    int (*check)(const struct cmd *c, const struct cmd_args *a);
};

/* Each cmd/<name>.c: the command, its --help text and its option table. */
#define CMD_DECLARE(n)                                                                             \
    int cmd_##n(struct cmd_env *env, const struct cmd_args *a);                                    \
    extern const char usage_##n[];                                                                 \
    extern const struct cli_opt options_##n[];
CMD_DECLARE(launch)
CMD_DECLARE(restart)
CMD_DECLARE(scale)
CMD_DECLARE(status)
CMD_DECLARE(stop)
CMD_DECLARE(subscribe)
CMD_DECLARE(validate)
#undef CMD_DECLARE
/* The commands' checks of their arguments (the rows' check). */
int args_launch(const struct cmd *c, const struct cmd_args *a);
int args_restart(const struct cmd *c, const struct cmd_args *a);
int args_scale(const struct cmd *c, const struct cmd_args *a);
int args_status(const struct cmd *c, const struct cmd_args *a);
int args_stop(const struct cmd *c, const struct cmd_args *a);
int args_validate(const struct cmd *c, const struct cmd_args *a);
/* For commands without arguments: "takes no arguments". */
int cmd_args_none(const struct cmd *c, const struct cmd_args *a);

/* Rows of the option tables that several commands share. */
#define CMD_OPT_CONFIG                                                                             \
    {                                                                                              \
        .type = CLI_STRING, .short_name = 'c', .long_name = "config",                              \
        .off = offsetof(struct cmd_args, config)                                                   \
    }
#define CMD_OPT_BOOL(name, field)                                                                  \
    {                                                                                              \
        .type = CLI_BOOL, .long_name = name, .off = offsetof(struct cmd_args, field)               \
    }
#define CMD_OPT_WAIT                                                                               \
    {                                                                                              \
        .type = CLI_UINT, .long_name = "wait", .flags = CLI_OPTARG,                                \
        .off = offsetof(struct cmd_args, wait_s), .seen = CLI_SEEN(struct cmd_args, wait),         \
        .min = 1, .max = 86400, .bad = "--wait takes seconds 1..86400, got '%s'"                   \
    }
#define CMD_OPT_FORCE CMD_OPT_BOOL("force", force)

/* Loads the config (a->config, else the default places) and opens what need says, checking the
 * services the arguments name (ARGS_SERVICES, ARG1_SERVICE) before anything is opened. On
 * failure everything is closed again. need 0: nothing, ce is zeroed. */
int cmd_env_open(struct cmd_env *ce, const struct cmd_args *a, unsigned need, struct mdo_err *err);
/* Closes what is open; takes a zeroed env. */
void cmd_env_close(struct cmd_env *ce);
/* -MDO_ENOTFOUND "unknown service 'x' (FILE has: a, b)" for the first name not in the config. */
int cmd_check_services(const struct cfg *cfg, char *const *names, int n, struct mdo_err *err);
/* "mdo NAME: msg" and the usage's first line on stderr; returns 2. */
int cmd_usage_error(const char *name, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Loads the config from -c FILE (path may be NULL) or the default places. */
int cmd_config(const char *path, struct cfg **out, struct mdo_err *err);
/* An older mdo stored each service's spec (env values in clear) at <prefix>/<env>/specs/<svc>:
 * launch and stop delete it, best effort, after the scheduler did its part. Launching and
 * stopping need no etcd (ops/one-host launches and stops etcd itself with mdo), so an etcd that
 * does not answer is no error here; another failure is a warning on stderr. */
void cmd_drop_old_spec(struct cmd_env *ce, const char *svc, const char *cmd);

#endif
