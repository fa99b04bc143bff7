/* cli.h - the command line, the same for commands and guest applets: --help, usage errors,
 * numbers, and one table-driven option parser (git's parse-options in small).
 *
 * An option table is an array of struct cli_opt ending with a zeroed row (CLI_END). Each row says
 * where its value goes as an offset into the caller's struct (offsetof, as libcyaml's schemas
 * do), so a table is static const data that mdo.c's run() can parse into a struct it owns.
 *
 *   --name              CLI_BOOL: the int at off becomes 1; "--name=x" is an unknown option
 *   --name V, --name=V  CLI_STRING (const char *, borrowed from argv), CLI_UINT (unsigned,
 *                       min..max, else the row's `bad` message), CLI_LIST (struct cli_list,
 *                       every value in order: --label K=V ...)
 *   --name[=V]          CLI_OPTARG: the value is optional and only comes after '='
 *   -c V, -cV, -c=V     the short name of a row
 *   --                  ends the options: the rest are arguments (cli_args.ndash counts those
 *                       before it: watch's `-- CMD ARGS`)
 *   -                   an argument; "-1" too when the parser has CLI_NUMBERS, so that
 *                       `mdo scale web -1` reaches the range check
 * A value is the next word whatever it looks like (`--minimum -1` gives "-1" to the range check).
 * Options and arguments may come in any order. Messages are "WHO: message" and the usage's first
 * line on stderr, exit code 2, the message texts coming from the table (one %s in each, replaced
 * by the value or the option as typed: never interpreted as a format).
 */
#ifndef MDO_CLI_H
#define MDO_CLI_H

#include <stdarg.h>
#include <stddef.h>

enum cli_type {
    CLI_END = 0,
    CLI_BOOL,
    CLI_STRING,
    CLI_UINT,
    CLI_LIST,
};

enum {
    CLI_OPTARG = 1 << 0, /* --name or --name=VALUE, never --name VALUE */
    CLI_KV = 1 << 1,     /* the value must be K=V with a non-empty K, else `bad` */
};

struct cli_opt {
    enum cli_type type;
    char short_name;       /* 'c', or 0 */
    const char *long_name; /* "config" (without "--"), or NULL */
    unsigned flags;        /* CLI_OPTARG, CLI_KV */
    size_t off;            /* where the value goes, an offset into the caller's struct */
    size_t seen;           /* CLI_SEEN(): an int set to 1 when the option is given; 0: none */
    unsigned min, max;     /* CLI_UINT */
    const char *bad;       /* message for a bad value, %s: the value */
    const char *missing;   /* message for a missing value, %s: the option as typed (NULL: the
                            * parser's own) */
};

/* Offset + 1, so that 0 means "no flag". */
#define CLI_SEEN(type, field) (offsetof(type, field) + 1)

/* Repeated values of a CLI_LIST option; the strings are argv's, the array is cli_args'. */
struct cli_list {
    const char **v;
    unsigned n;
};

struct cli {
    const char *who;            /* "mdo launch", "get_node_list": each message starts with it */
    const char *usage;          /* the --help text: its first line follows each usage error */
    const struct cli_opt *opts; /* ends with a zeroed row */
    unsigned flags;             /* CLI_NUMBERS */
    const char *missing;        /* an option without its value, %s: the option as typed */
};

enum { CLI_NUMBERS = 1 << 0 }; /* "-1", "-5x": arguments, not options */

/* The arguments that are not options, in order. Owns v and every cli_list array the parse
 * filled: cli_args_release() frees them (the strings are argv's). */
struct cli_args {
    char **v;
    unsigned n;
    unsigned ndash; /* how many came before "--" (n when there was none) */
    int dashdash;   /* "--" was given */
    void *mem;      /* the one allocation behind v and the lists */
};

/* Parses argv[1..argc) into out (per c->opts) and *args. Returns 0; or prints the usage error
 * and returns 2; or prints "WHO: out of memory" and returns 1. *args is released on failure. */
int cli_parse(const struct cli *c, int argc, char **argv, void *out, struct cli_args *args);
void cli_args_release(struct cli_args *args);

/* True when argv[1..] has -h or --help before any "--": prints usage on stdout. Run it first. */
int cli_wants_help(int argc, char **argv, const char *usage);
/* Prints "WHO: msg" and the usage's first line on stderr; returns 2. */
int cli_usage_verror(const char *who, const char *usage, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
int cli_usage_error(const char *who, const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* A non-negative decimal integer up to max (no sign, no space, nothing after). 0 or -1. */
int cli_parse_uint(const char *s, unsigned max, unsigned *out);

#endif
