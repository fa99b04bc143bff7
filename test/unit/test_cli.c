/* test_cli.c - lib/cli: every option kind, negative numbers, "--", bad input and its messages */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "cli.h"

struct opts {
    const char *config, *sep;
    int all, wait, json, has_min;
    unsigned wait_s, min, settle;
    struct cli_list labels;
};

static const struct cli_opt table[] = {
    {.type = CLI_STRING,
     .short_name = 'c',
     .long_name = "config",
     .off = offsetof(struct opts, config)},
    {.type = CLI_BOOL, .long_name = "all", .off = offsetof(struct opts, all)},
    {.type = CLI_BOOL, .short_name = 'j', .long_name = "json", .off = offsetof(struct opts, json)},
    {.type = CLI_UINT,
     .long_name = "wait",
     .flags = CLI_OPTARG,
     .off = offsetof(struct opts, wait_s),
     .seen = CLI_SEEN(struct opts, wait),
     .min = 1,
     .max = 86400,
     .bad = "--wait takes seconds 1..86400, got '%s'"},
    {.type = CLI_UINT,
     .long_name = "minimum",
     .off = offsetof(struct opts, min),
     .seen = CLI_SEEN(struct opts, has_min),
     .max = 100,
     .bad = "--minimum wants a count, not '%s'"},
    {.type = CLI_UINT,
     .long_name = "settle",
     .off = offsetof(struct opts, settle),
     .max = 600000,
     .bad = "--settle wants milliseconds, not '%s'",
     .missing = "%s wants milliseconds, not ''"},
    {.type = CLI_LIST,
     .long_name = "label",
     .flags = CLI_KV,
     .off = offsetof(struct opts, labels),
     .bad = "--label wants K=V, not '%s'"},
    {.type = CLI_STRING, .long_name = "sep", .off = offsetof(struct opts, sep)},
    {0},
};

static const char usage[] = "usage: t [--all] ARGS...\n\nmore text\n";

/* Runs cli_parse on the words (NULL-terminated, argv[0] "t") with stderr in a file; returns
 * its result, what it printed in msg. */
static int parse(unsigned flags, struct opts *o, struct cli_args *a, char *msg, size_t cap,
                 const char *const *words)
{
    char *argv[32];
    int argc = 0, saved, ret;
    FILE *f = tmpfile();
    size_t n;
    const struct cli c = {"t", usage, table, flags, "option '%s' needs a value"};

    argv[argc++] = (char *)"t";
    for (; *words; words++)
        argv[argc++] = (char *)*words;
    argv[argc] = NULL;
    memset(o, 0, sizeof(*o));
    fflush(stderr);
    saved = dup(2);
    dup2(fileno(f), 2);
    ret = cli_parse(&c, argc, argv, o, a);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    n = fread(msg, 1, cap - 1, f);
    msg[n] = '\0';
    fclose(f);
    return ret;
}

#define W(...) ((const char *const[]){__VA_ARGS__, NULL})

int main(void)
{
    struct opts o;
    struct cli_args a;
    char msg[1024];
    unsigned u;

    /* numbers */
    CHECK_INT(cli_parse_uint("0", 10, &u), 0);
    CHECK_INT(u, 0);
    CHECK_INT(cli_parse_uint("10", 10, &u), 0);
    CHECK_INT(u, 10);
    CHECK_INT(cli_parse_uint("11", 10, &u), -1);
    CHECK_INT(cli_parse_uint("-1", 10, &u), -1);
    CHECK_INT(cli_parse_uint("+1", 10, &u), -1);
    CHECK_INT(cli_parse_uint(" 1", 10, &u), -1);
    CHECK_INT(cli_parse_uint("1x", 10, &u), -1);
    CHECK_INT(cli_parse_uint("", 10, &u), -1);
    CHECK_INT(cli_parse_uint(NULL, 10, &u), -1);
    CHECK_INT(cli_parse_uint("99999999999999999999", 4000000000u, &u), -1);

    /* every kind, options among arguments */
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg),
                    W("x", "--all", "-c", "f.yaml", "y", "--wait=5", "--label", "a=1", "--minimum",
                      "3", "--label=b=2", "--sep=,", "-j")),
              0);
    CHECK_STR(msg, "");
    CHECK_STR(o.config, "f.yaml");
    CHECK_INT(o.all, 1);
    CHECK_INT(o.json, 1);
    CHECK_INT(o.wait, 1);
    CHECK_INT(o.wait_s, 5);
    CHECK_INT(o.min, 3);
    CHECK_INT(o.has_min, 1);
    CHECK_STR(o.sep, ",");
    CHECK_INT(o.labels.n, 2);
    CHECK_STR(o.labels.v[0], "a=1");
    CHECK_STR(o.labels.v[1], "b=2");
    CHECK_INT(a.n, 2);
    CHECK_STR(a.v[0], "x");
    CHECK_STR(a.v[1], "y");
    CHECK(a.v[2] == NULL);
    CHECK_INT(a.ndash, 2);
    CHECK_INT(a.dashdash, 0);
    cli_args_release(&a);

    /* the forms of a value: -cV, -c=V, --config=V, --config V; the next word whatever it is */
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("-cf1")), 0);
    CHECK_STR(o.config, "f1");
    cli_args_release(&a);
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("-c=f2")), 0);
    CHECK_STR(o.config, "f2");
    cli_args_release(&a);
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--config=")), 0);
    CHECK_STR(o.config, "");
    cli_args_release(&a);
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--config", "--all")), 0);
    CHECK_STR(o.config, "--all");
    CHECK_INT(o.all, 0);
    cli_args_release(&a);

    /* --wait without a value: seen, the default kept; "--wait 5" leaves 5 an argument */
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--wait", "5")), 0);
    CHECK_INT(o.wait, 1);
    CHECK_INT(o.wait_s, 0);
    CHECK_INT(a.n, 1);
    CHECK_STR(a.v[0], "5");
    cli_args_release(&a);

    /* negative numbers: arguments with CLI_NUMBERS (scale web -1), options without */
    CHECK_INT(parse(CLI_NUMBERS, &o, &a, msg, sizeof(msg), W("web", "-1", "-5x")), 0);
    CHECK_INT(a.n, 3);
    CHECK_STR(a.v[1], "-1");
    CHECK_STR(a.v[2], "-5x");
    cli_args_release(&a);
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("web", "-1")), 2);
    CHECK_STR(msg, "t: unknown option '-1'\nusage: t [--all] ARGS...\n");
    CHECK(a.v == NULL);
    /* a value option takes "-1" and the range check refuses it */
    CHECK_INT(parse(CLI_NUMBERS, &o, &a, msg, sizeof(msg), W("--minimum", "-1")), 2);
    CHECK_STR(msg, "t: --minimum wants a count, not '-1'\nusage: t [--all] ARGS...\n");
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--minimum=101")), 2);
    CHECK_STR(msg, "t: --minimum wants a count, not '101'\nusage: t [--all] ARGS...\n");
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--wait=0")), 2);
    CHECK_STR(msg, "t: --wait takes seconds 1..86400, got '0'\nusage: t [--all] ARGS...\n");
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--wait=")), 2);
    CHECK_STR(msg, "t: --wait takes seconds 1..86400, got ''\nusage: t [--all] ARGS...\n");

    /* "-" is an argument; "--" ends the options, and is counted */
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("-", "db", "--", "--all", "-x", "--")), 0);
    CHECK_INT(o.all, 0);
    CHECK_INT(a.dashdash, 1);
    CHECK_INT(a.ndash, 2);
    CHECK_INT(a.n, 5);
    CHECK_STR(a.v[0], "-");
    CHECK_STR(a.v[2], "--all");
    CHECK_STR(a.v[4], "--");
    CHECK(a.v[5] == NULL);
    cli_args_release(&a);
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--")), 0);
    CHECK_INT(a.dashdash, 1);
    CHECK_INT(a.n, 0);
    cli_args_release(&a);

    /* bad input */
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--frob")), 2);
    CHECK_STR(msg, "t: unknown option '--frob'\nusage: t [--all] ARGS...\n");
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--all=1")), 2);
    CHECK_STR(msg, "t: unknown option '--all=1'\nusage: t [--all] ARGS...\n");
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("-jx")), 2);
    CHECK_STR(msg, "t: unknown option '-jx'\nusage: t [--all] ARGS...\n");
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--al")), 2); /* no abbreviations */
    CHECK_STR(msg, "t: unknown option '--al'\nusage: t [--all] ARGS...\n");
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--=x")), 2);
    CHECK_STR(msg, "t: unknown option '--=x'\nusage: t [--all] ARGS...\n");
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("x", "-c")), 2);
    CHECK_STR(msg, "t: option '-c' needs a value\nusage: t [--all] ARGS...\n");
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--config")), 2);
    CHECK_STR(msg, "t: option '--config' needs a value\nusage: t [--all] ARGS...\n");
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--settle")), 2); /* the row's own message */
    CHECK_STR(msg, "t: --settle wants milliseconds, not ''\nusage: t [--all] ARGS...\n");
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--label", "rack")), 2);
    CHECK_STR(msg, "t: --label wants K=V, not 'rack'\nusage: t [--all] ARGS...\n");
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--label", "=v")), 2);
    CHECK_STR(msg, "t: --label wants K=V, not '=v'\nusage: t [--all] ARGS...\n");
    CHECK(o.labels.v == NULL && o.labels.n == 0); /* emptied on failure */
    /* a value is never a format */
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--minimum=%s%n")), 2);
    CHECK_STR(msg, "t: --minimum wants a count, not '%s%n'\nusage: t [--all] ARGS...\n");
    /* the first error ends the parse: later words are not looked at */
    CHECK_INT(parse(0, &o, &a, msg, sizeof(msg), W("--frob", "--nope")), 2);
    CHECK_STR(msg, "t: unknown option '--frob'\nusage: t [--all] ARGS...\n");

    /* usage errors and help */
    {
        const char *h[] = {"t", "x", "--", "-h", NULL};
        const char *h2[] = {"t", "x", "--help", NULL};
        FILE *f = tmpfile();
        int saved = dup(1);
        size_t n;
        fflush(stdout);
        dup2(fileno(f), 1);
        CHECK_INT(cli_wants_help(4, (char **)h, usage), 0); /* after "--": CMD's own */
        CHECK_INT(cli_wants_help(3, (char **)h2, usage), 1);
        fflush(stdout);
        dup2(saved, 1);
        close(saved);
        rewind(f);
        n = fread(msg, 1, sizeof(msg) - 1, f);
        msg[n] = '\0';
        fclose(f);
        CHECK_STR(msg, usage);
    }
    return check_done("test_cli");
}
