/* mdo.c - main(): dispatch on basename(argv[0]) (an applet symlink) or argv[1] (a subcommand) */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "cmd.h"
#include "guest.h"
#include "log.h"

static const struct cmd commands[] = {
#define X(n, s) {#n, cmd_##n, s, usage_##n},
    MDO_COMMANDS(X)
#undef X
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

static int run(const struct cmd *c, int argc, char **argv)
{
    int ret = c->fn(argc, argv);

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
