/* validate.c - `mdo validate`: load the config file and print every problem in it */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include "cmd.h"

const char usage_validate[] =
    "usage: mdo validate [-c FILE]\n"
    "\n"
    "Loads the config file and checks all of it: syntax, known keys, types, ranges, ports,\n"
    "names and ${VAR} references. Prints \"ok\" when the file is good; otherwise prints every\n"
    "problem found on stderr, one per line, as\n"
    "\n"
    "    FILE:LINE:COLUMN: KEY: what was expected\n"
    "\n"
    "so that editors can jump to each one. Secrets are never printed.\n"
    "\n"
    "    -c, --config FILE   the config file (default: $MDO_CONFIG, else ./mdo.yaml,\n"
    "                        else ./config.yaml)\n"
    "    -h, --help          show this help\n"
    "\n"
    "Exit status: 0 the file is good, 1 problems found, 2 usage error.\n";

int cmd_validate(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *cfg = NULL;
    const char *file = NULL, *path;
    size_t plen;
    int c;

    if (cmd_wants_help(argc, argv, usage_validate))
        return 0;
    opterr = 0; // our own message, in our own words
    optind = 0; // GNU getopt: start afresh, whoever parsed before us
    for (;;) {
        c = getopt_long(argc, argv, "+c:", opts, NULL);
        if (c == -1)
            break;
        if (c == 'c')
            file = optarg;
        else if (optopt == 'c')
            return cmd_usage_error("validate", usage_validate, "option '%s' needs a FILE",
                                   argv[optind - 1]);
        else if (optopt)
            return cmd_usage_error("validate", usage_validate, "unknown option '-%c'", optopt);
        else
            return cmd_usage_error("validate", usage_validate, "unknown option '%s'",
                                   argv[optind - 1]);
    }
    if (optind < argc)
        return cmd_usage_error("validate", usage_validate, "unexpected argument '%s'",
                               argv[optind]);

    path = cfg_default_path(file);
    if (!cmd_config(file, &cfg, &err)) {
        cfg_free(cfg);
        puts("ok");
        return 0;
    }
    /* Problems in the file read as a compiler's ("FILE:LINE:COL: ..."), one per line, with no
     * prefix so that editors and `grep` take them as they are; anything else (an unreadable
     * file, no memory) is an ordinary command error. */
    plen = strlen(path);
    if (err.code == MDO_ECONFIG && !strncmp(err.msg, path, plen) && err.msg[plen] == ':') {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    return err_report("validate", &err);
}
