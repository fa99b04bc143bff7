/* mdo.c - main(): dispatch on basename(argv[0]) (an applet symlink) or argv[1] (a subcommand) */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "cmd.h"
#include "guest.h"
#include "log.h"

/* `mdo guest` keeps its own argv: `mdo guest get_port --help` is the applet's help. */
static int cmd_guest(struct cmd_env *env, const struct cmd_args *a)
{
    (void)env;
    return guest_command(a->argc, a->argv);
}

/* Sorted by name, as `mdo help` lists them. */
static const struct cmd commands[] = {
    {"guest", cmd_guest, CMD_RAW, "run a guest applet (lookups inside containers)", guest_usage,
     NULL, NULL},
    {"launch", cmd_launch, NEED_ETCD | NEED_SCHED | ARGS_SERVICES,
     "create or update services (idempotent)", usage_launch, options_launch, args_launch},
    {"restart", cmd_restart, NEED_SCHED | ARGS_SERVICES, "rolling restart, one instance at a time",
     usage_restart, options_restart, args_restart},
    {"scale", cmd_scale, NEED_SCHED | ARG1_SERVICE, "set a service's instance count", usage_scale,
     options_scale, args_scale},
    {"status", cmd_status, NEED_ETCD | NEED_SCHED | ARGS_SERVICES,
     "scheduler and registry, side by side", usage_status, options_status, args_status},
    {"stop", cmd_stop, NEED_ETCD | NEED_SCHED, "remove services and their instances", usage_stop,
     options_stop, args_stop},
    /* no NEED_*: the daemon keeps its environment in its own state, for its threads */
    {"subscribe", cmd_subscribe, 0, "run the registry keeper (daemon)", usage_subscribe,
     options_subscribe, cmd_args_none},
    /* no NEED_CONFIG: loading the config, and reporting how it fails, is its story */
    {"validate", cmd_validate, 0, "check the config file and print what is wrong", usage_validate,
     options_validate, args_validate},
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char usage_mdo[] =
    "usage: mdo COMMAND [ARGS...]\n"
    "       APPLET [ARGS...]          (through a symlink named after a guest applet)\n"
    "\n"
    "Runs Dockerized services on the local Docker engine or Marathon, and keeps an etcd\n"
    "registry of their instances that containers query with the guest applets.\n"
    "\n"
    "Commands:\n";

static void print_usage(FILE *f)
{
    fputs(usage_mdo, f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("  help       show this, or `mdo help COMMAND`\n"
          "  version    print the version\n"
          "\nConfig: -c FILE, else $MDO_CONFIG, else ./mdo.yaml, else ./config.yaml.\n"
          "Guest applets: `mdo guest --list`.\n",
          f);
}

static const struct cmd *find_cmd(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

/* What the row asks for, the command, and what it leaves: argv[0] is the command's name. */
static int call(const struct cmd *c, int argc, char **argv)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cmd_args a = {.argc = argc, .argv = argv};
    struct cli_args pos;
    struct cmd_env env;
    char who[64];
    struct cli cli = {who, c->usage, c->opts, CLI_NUMBERS, "option '%s' needs a value"};
    int ret;

    if (c->flags & CMD_RAW)
        return c->fn(NULL, &a);
    if (cli_wants_help(argc, argv, c->usage))
        return 0;
    snprintf(who, sizeof(who), "mdo %s", c->name);
    ret = cli_parse(&cli, argc, argv, &a, &pos);
    if (ret)
        return ret;
    a.pos = pos.v;
    a.npos = (int)pos.n;
    ret = c->check ? c->check(c, &a) : 0;
    if (!ret && cmd_env_open(&env, &a, c->flags, &err))
        ret = err_report(c->name, &err);
    else if (!ret) {
        ret = c->fn(&env, &a);
        cmd_env_close(&env);
    }
    cli_args_release(&pos);
    return ret;
}

static int run(const struct cmd *c, int argc, char **argv)
{
    int ret = call(c, argc, argv);

    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "mdo %s: write error on stdout\n", c->name);
        return 1;
    }
    return ret;
}

int main(int argc, char **argv)
{
    const char *self = argc > 0 ? basename(argv[0]) : "mdo";
    const struct cmd *c;
    int ret;

    log_init();
    if (guest_find(self)) /* through a symlink: get_port, get_node_list, ... */
        return guest_main(self, argc, argv);
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("mdo %s\n", MDO_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        if (argc > 2 && (c = find_cmd(argv[2]))) {
            fputs(c->usage, stdout);
            return 0;
        }
        if (argc > 2) {
            fprintf(stderr, "mdo help: unknown command '%s'\n", argv[2]);
            return 2;
        }
        print_usage(stdout);
        return 0;
    }
    c = find_cmd(argv[1]);
    if (!c) {
        fprintf(stderr, "mdo: unknown command '%s'\n\n", argv[1]);
        print_usage(stderr);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    ret = run(c, argc - 1, argv + 1);
    curl_global_cleanup();
    return ret;
}
