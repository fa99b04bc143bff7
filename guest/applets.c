/* applets.c - the guest applet table, its dispatch, and `mdo guest` (--list, --install) */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "applet.h"
#include "guest.h"

const char guest_usage[] =
    "usage: mdo guest APPLET [ARGS...]\n"
    "       mdo guest --list\n"
    "       mdo guest --install DIR\n"
    "\n"
    "Runs a guest applet: a lookup made inside a container, from the environment mdo injects\n"
    "and the etcd registry. Each applet is also reachable through a symlink named after it\n"
    "(APPLET -> mdo), and answers `APPLET --help`.\n"
    "\n"
    "  --list         print the applet names, one per line\n"
    "  --install DIR  create DIR/APPLET -> this mdo binary for every applet (replaces links\n"
    "                 that point elsewhere; DIR must exist)\n"
    "\n"
    "Exit codes: 0 found, 1 not found (and no default), 2 usage, 3 registry unreachable,\n"
    "4 fewer than --minimum.\n";

struct guest_applet {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *usage;
};

static const struct guest_applet applets[] = {
#define X(n) {#n, guest_##n, guest_usage_##n},
    GUEST_APPLETS(X)
#undef X
};
#define NAPPLETS (sizeof(applets) / sizeof(applets[0]))

static int applet_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct guest_applet *)elem)->name);
}

static const struct guest_applet *find(const char *name)
{
    return bsearch(name, applets, NAPPLETS, sizeof(applets[0]), applet_cmp);
}

int guest_find(const char *name)
{
    return find(name) != NULL;
}

int guest_main(const char *name, int argc, char **argv)
{
    const struct guest_applet *a = find(name);
    int ret;

    if (!a) {
        fprintf(stderr, "mdo guest: unknown applet '%s' (see `mdo guest --list`)\n", name);
        return GUEST_USAGE;
    }
    /* messages say "get_port: ...", however the applet was reached (./get_port, a full path):
     * argv[0] is the name from here on, and never written through */
    if (argc > 0)
        argv[0] = (char *)a->name;
    ret = a->fn(argc, argv);
    /* a full pipe or disk must not look like an answer: "found" with half a list is worse
     * than an error */
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "%s: write error on stdout\n", name);
        return GUEST_NOT_FOUND;
    }
    return ret;
}

/* One link DIR/name -> exe, replaced atomically (rename) when it points elsewhere, so a start
 * script running the applet meanwhile never finds it missing. */
static int install_one(const char *dir, const char *name, const char *exe)
{
    char path[PATH_MAX], tmp[PATH_MAX], cur[PATH_MAX];
    struct stat st;
    ssize_t n;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path) ||
        snprintf(tmp, sizeof(tmp), "%s/.%s.%ld.tmp", dir, name, (long)getpid()) >=
            (int)sizeof(tmp)) {
        fprintf(stderr, "mdo guest: path '%s/%s' is too long\n", dir, name);
        return -1;
    }
    if (!lstat(path, &st)) {
        if (!S_ISLNK(st.st_mode)) {
            fprintf(stderr, "mdo guest: '%s' exists and is not a symlink: left alone\n", path);
            return -1;
        }
        n = readlink(path, cur, sizeof(cur) - 1);
        if (n >= 0 && (size_t)n < sizeof(cur) - 1) {
            cur[n] = '\0';
            if (!strcmp(cur, exe))
                return 0;
        }
    } else if (errno != ENOENT) {
        fprintf(stderr, "mdo guest: cannot check '%s': %s\n", path, strerror(errno));
        return -1;
    }
    unlink(tmp); /* a leftover of an interrupted run with our pid */
    if (symlink(exe, tmp) || rename(tmp, path)) {
        fprintf(stderr, "mdo guest: cannot create '%s': %s\n", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int install(const char *dir)
{
    char exe[PATH_MAX];
    struct stat st;
    ssize_t n;
    int failed = 0;

    if (stat(dir, &st)) {
        fprintf(stderr, "mdo guest: cannot install into '%s': %s\n", dir, strerror(errno));
        return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
        fprintf(stderr, "mdo guest: cannot install into '%s': not a directory\n", dir);
        return 1;
    }
    /* the running binary, not argv[0]: the links must work from any directory and PATH */
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n < 0 || (size_t)n >= sizeof(exe) - 1) {
        fprintf(stderr, "mdo guest: cannot find this binary (/proc/self/exe): %s\n",
                n < 0 ? strerror(errno) : "path too long");
        return 1;
    }
    exe[n] = '\0';
    for (size_t i = 0; i < NAPPLETS; i++)
        if (install_one(dir, applets[i].name, exe))
            failed = 1;
    return failed;
}

int guest_command(int argc, char **argv)
{
    if (argc < 2)
        return guest_usage_error("mdo guest", guest_usage,
                                 "which applet? (see `mdo guest --list`)");
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(guest_usage, stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--list")) {
        if (argc > 2)
            return guest_usage_error("mdo guest", guest_usage, "--list takes no argument");
        for (size_t i = 0; i < NAPPLETS; i++)
            puts(applets[i].name);
        return 0;
    }
    if (!strcmp(argv[1], "--install")) {
        if (argc != 3)
            return guest_usage_error("mdo guest", guest_usage, "--install takes one directory");
        return install(argv[2]);
    }
    if (argv[1][0] == '-')
        return guest_usage_error("mdo guest", guest_usage, "unknown option '%s'", argv[1]);
    return guest_main(argv[1], argc - 1, argv + 1);
}
