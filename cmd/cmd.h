/* cmd.h - the subcommands and what they share: option parsing helpers and config loading */
#ifndef MDO_CMD_H
#define MDO_CMD_H

#include "config.h"
#include "err.h"

struct cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
    const char *usage; /* full --help text */
};

/* One row per command; each cmd/<name>.c defines its cmd_<name>() and usage_<name>[]. */
#define MDO_COMMANDS(X)                                                                            \
    X(guest, "run a guest applet (lookups inside containers)")                                   \
    X(launch, "create or update services (idempotent)")                                          \
    X(scale, "set a service's instance count")                                                   \
    X(status, "scheduler and registry, side by side")                                            \
    X(stop, "remove services and their instances")                                               \
    X(subscribe, "run the registry keeper (daemon)")                                              \
    X(validate, "check the config file and print what is wrong")

#define X(n, s)                                                                                    \
    int cmd_##n(int argc, char **argv);                                                            \
    extern const char usage_##n[];
MDO_COMMANDS(X)
#undef X

/* True when argv has -h/--help: prints usage to stdout. Commands call it first. */
int cmd_wants_help(int argc, char **argv, const char *usage);
/* Prints "mdo NAME: msg" and the usage's first line to stderr; returns 2. */
int cmd_usage_error(const char *name, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Loads the config from -c FILE (path may be NULL) or the default places. */
int cmd_config(const char *path, struct cfg **out, struct mdo_err *err);
/* Parses a non-negative integer with range check (no atoi). Returns 0 or -1. */
int cmd_parse_uint(const char *s, unsigned max, unsigned *out);

#endif
