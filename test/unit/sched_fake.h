/* sched_fake.h - an in-memory scheduler for unit tests: a struct sched_ops over an array of
 * instances, so the keeper's reconcile, the mass-removal hold and the recheck run without Docker.
 *
 * The test edits the array (fake_run, fake_drop, fake_set_port...) and reads the call counters.
 * An instance that runs but is "unlisted" is missing from list() yet alive() answers 1 for it: an
 * instance that started after the listing, or one the listing missed. list() and alive() hand out
 * copies (the receiver owns them, as scheduler.h says). Events are not modelled.
 * #include "sched_fake.c" from the test (the CMake glob links only the test's own file).
 */
#ifndef MDO_SCHED_FAKE_H
#define MDO_SCHED_FAKE_H

#include "scheduler.h"

struct fake_inst {
    struct reg_record rec; /* owned */
    int unlisted;          /* runs, but list() does not show it */
};

struct sched {
    char *env;
    struct fake_inst *v;
    unsigned n;
    int list_error; /* list() fails with -list_error (e.g. MDO_ENET) when set */
    /* alive()'s answer. BY_ARRAY: 1 for an instance in the array (listed or not), else 0;
     * NO: always 0; UNKNOWN: always "cannot tell" (-MDO_ENET) */
    enum { FAKE_ALIVE_BY_ARRAY, FAKE_ALIVE_NO, FAKE_ALIVE_UNKNOWN } alive_mode;
    unsigned lists, alives, launches, scales, stops; /* calls */
};

extern const struct sched_ops sched_fake;

/* A fake for env, empty (as open() makes one from a cfg). */
struct sched *fake_new(const char *env);
void fake_free(struct sched *s);
/* Runs one more instance of service named container, its port "http" published at ext. */
int fake_run(struct sched *s, const char *service, const char *container, int ext);
/* The instance named container (any service), or NULL. */
struct fake_inst *fake_find(struct sched *s, const char *container);
/* Stops it: gone from list() and alive(). 0, or -1 when there is none. */
int fake_drop(struct sched *s, const char *container);

#endif
