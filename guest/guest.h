/* guest.h - the guest applets of DESIGN §7: lookups that run inside containers.
 *
 * Reached as `mdo guest NAME ARGS...` or through a symlink NAME -> mdo (busybox style). Applets
 * read no config file: only the environment mdo injects (DESIGN §4) and the registry in etcd.
 * Exit codes (contract): 0 found, 1 not found (and no default), 2 usage, 3 registry unreachable,
 * 4 fewer than --minimum.
 */
#ifndef MDO_GUEST_H
#define MDO_GUEST_H

/* Non-zero when name is an applet (the dispatch in mdo.c asks before anything else). */
int guest_find(const char *name);
/* Runs applet `name`; argv[0] is the applet name. Returns the exit code. */
int guest_main(const char *name, int argc, char **argv);
/* `mdo guest APPLET ARGS... | --list | --install DIR`; argv[0] is "guest". Its --help text: */
int guest_command(int argc, char **argv);
extern const char guest_usage[];

#endif
