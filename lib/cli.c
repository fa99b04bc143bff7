/* cli.c - the command line of commands and applets: --help, usage errors, numbers, options */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

int cli_wants_help(int argc, char **argv, const char *usage)
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

int cli_usage_verror(const char *who, const char *usage, const char *fmt, va_list ap)
{
    const char *nl = strchr(usage, '\n');

    fprintf(stderr, "%s: ", who);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n%.*s\n", nl ? (int)(nl - usage) : (int)strlen(usage), usage);
    return 2;
}

int cli_usage_error(const char *who, const char *usage, const char *fmt, ...)
{
    va_list ap;
    int ret;

    va_start(ap, fmt);
    ret = cli_usage_verror(who, usage, fmt, ap);
    va_end(ap);
    return ret;
}

int cli_parse_uint(const char *s, unsigned max, unsigned *out)
{
    char *end;
    long v;

    if (!s || *s < '0' || *s > '9') /* no sign, no leading space: strtol would take them */
        return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < 0 || (unsigned long)v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* A table's message with its one "%s" replaced by arg: the text is data, never a format. */
static int usage_with(const struct cli *c, const char *msg, const char *arg)
{
    const char *at = msg ? strstr(msg, "%s") : NULL;

    if (!msg)
        return cli_usage_error(c->who, c->usage, "bad value '%s'", arg);
    if (!at)
        return cli_usage_error(c->who, c->usage, "%s", msg);
    return cli_usage_error(c->who, c->usage, "%.*s%s%s", (int)(at - msg), msg, arg, at + 2);
}

static const struct cli_opt *find_long(const struct cli_opt *o, const char *name, size_t len)
{
    for (; o->type != CLI_END; o++)
        if (o->long_name && strlen(o->long_name) == len && !strncmp(o->long_name, name, len))
            return o;
    return NULL;
}

static const struct cli_opt *find_short(const struct cli_opt *o, char ch)
{
    for (; o->type != CLI_END; o++)
        if (o->short_name && o->short_name == ch)
            return o;
    return NULL;
}

static void *field(void *out, size_t off)
{
    return (char *)out + off;
}

/* Stores val (NULL: an CLI_OPTARG option given without one) where o says. 0 or 2. */
static int store(const struct cli *c, const struct cli_opt *o, const char *val, void *out)
{
    struct cli_list *l;
    unsigned v;

    switch (o->type) {
    case CLI_BOOL:
        *(int *)field(out, o->off) = 1;
        break;
    case CLI_STRING:
        if (val)
            *(const char **)field(out, o->off) = val;
        break;
    case CLI_UINT:
        if (val && (cli_parse_uint(val, o->max, &v) || v < o->min))
            return usage_with(c, o->bad, val);
        if (val)
            *(unsigned *)field(out, o->off) = v;
        break;
    case CLI_LIST:
        if (val && (o->flags & CLI_KV) && (!strchr(val, '=') || val[0] == '='))
            return usage_with(c, o->bad, val);
        l = field(out, o->off);
        if (val)
            l->v[l->n++] = val;
        break;
    case CLI_END:
        break;
    }
    if (o->seen)
        *(int *)field(out, o->seen - 1) = 1;
    return 0;
}

/* Points every CLI_LIST of out at its slice of mem (or at nothing). */
static void lists_init(const struct cli_opt *o, void *out, const char **mem, size_t per)
{
    for (unsigned k = 1; o->type != CLI_END; o++) {
        struct cli_list *l;
        if (o->type != CLI_LIST)
            continue;
        l = field(out, o->off);
        l->v = mem ? mem + per * k++ : NULL;
        l->n = 0;
    }
}

int cli_parse(const struct cli *c, int argc, char **argv, void *out, struct cli_args *args)
{
    size_t per = (size_t)(argc > 0 ? argc : 0) + 1, nlists = 0;
    int ret = 0;

    memset(args, 0, sizeof(*args));
    for (const struct cli_opt *o = c->opts; o->type != CLI_END; o++)
        nlists += o->type == CLI_LIST;
    args->mem = calloc(per * (1 + nlists), sizeof(char *));
    if (!args->mem) {
        fprintf(stderr, "%s: out of memory\n", c->who);
        return 1;
    }
    args->v = args->mem;
    lists_init(c->opts, out, args->mem, per);
    for (int i = 1; i < argc && !ret; i++) {
        const char *arg = argv[i], *val = NULL, *eq;
        const struct cli_opt *o;

        if (args->dashdash || arg[0] != '-' || !arg[1] ||
            ((c->flags & CLI_NUMBERS) && arg[1] >= '0' && arg[1] <= '9')) {
            args->v[args->n++] = argv[i];
            continue;
        }
        if (!strcmp(arg, "--")) {
            args->dashdash = 1;
            args->ndash = args->n;
            continue;
        }
        if (arg[1] == '-') {
            eq = strchr(arg + 2, '=');
            o = find_long(c->opts, arg + 2, eq ? (size_t)(eq - arg - 2) : strlen(arg + 2));
            val = o && eq ? eq + 1 : NULL;
        } else {
            o = find_short(c->opts, arg[1]);
            val = o && arg[2] ? arg + 2 + (arg[2] == '=') : NULL;
        }
        if (!o || (val && o->type == CLI_BOOL)) {
            ret = cli_usage_error(c->who, c->usage, "unknown option '%s'", arg);
            break;
        }
        if (!val && o->type != CLI_BOOL && !(o->flags & CLI_OPTARG)) {
            if (i + 1 >= argc) {
                ret = usage_with(c, o->missing ? o->missing : c->missing, arg);
                break;
            }
            val = argv[++i];
        }
        ret = store(c, o, val, out);
    }
    if (!args->dashdash)
        args->ndash = args->n;
    if (ret) {
        lists_init(c->opts, out, NULL, 0);
        cli_args_release(args);
    }
    return ret;
}

void cli_args_release(struct cli_args *args)
{
    free(args->mem);
    memset(args, 0, sizeof(*args));
}
