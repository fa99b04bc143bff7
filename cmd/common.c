/* common.c - what the subcommands share: --help, usage errors, config loading, number parsing */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cmd.h"

int cmd_wants_help(int argc, char **argv, const char *usage)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 1;
        }
    }
    return 0;
}

int cmd_usage_error(const char *name, const char *usage, const char *fmt, ...)
{
    const char *nl = strchr(usage, '\n');
    va_list ap;

    fprintf(stderr, "mdo %s: ", name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%.*s\n", nl ? (int)(nl - usage) : (int)strlen(usage), usage);
    return 2;
}

int cmd_config(const char *path, struct cfg **out, struct mdo_err *err)
{
    return cfg_load(cfg_default_path(path), out, err);
}

int cmd_parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    long v;

    if (!s || !*s || *s == '-' || *s == '+')
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || (unsigned long)v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}
