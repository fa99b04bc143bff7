/* validate.c - `mdo validate`: load the config file and print every problem in it */
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

const struct cli_opt options_validate[] = {
    {.type = CLI_STRING,
     .short_name = 'c',
     .long_name = "config",
     .off = offsetof(struct cmd_args, config),
     .missing = "option '%s' needs a FILE"},
    {0},
};

int args_validate(const struct cmd *c, const struct cmd_args *a)
{
    if (a->npos)
        return cmd_usage_error(c->name, c->usage, "unexpected argument '%s'", a->pos[0]);
    return 0;
}

int cmd_validate(struct cmd_env *ce, const struct cmd_args *a)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *cfg = NULL;
    const char *path = cfg_default_path(a->config);
    size_t plen;

    (void)ce; /* nothing opened: loading the config is what this command is about */
    if (!cmd_config(a->config, &cfg, &err)) {
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
