/* watch.c - watch: run a command each time a service's membership changes
 *
 * usage: watch [SERVICE[,SERVICE...]] [--settle MS] [--initial] [--exit-on-failure]
 *              -- CMD [ARGS...]
 */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "applet.h"
#include "names.h"
#include "watch.h"

extern char **environ;

const char guest_usage_watch[] =
    "usage: watch [SERVICE[,SERVICE...]] [--settle MS] [--initial] [--exit-on-failure]\n"
    "             -- CMD [ARGS...]\n"
    "\n"
    "Follows the registry with an etcd watch (no polling) and runs CMD once each time the\n"
    "membership of one of the SERVICEs changes: an instance came, went, or moved (new host or\n"
    "ports). A burst of changes is run once, when it has settled. CMD runs with:\n"
    "  MDO_CHANGED   the service that changed\n"
    "  MDO_DELTA     the change in its instance count: +1, -2, +0 (an instance moved)\n"
    "  MDO_COUNT     its instance count now\n"
    "  MDO_NODES     its instances now, one \"host:port:port...\" line each (every port, in the\n"
    "                service's order), sorted by container; MDO_NODES_SEP: the same joined by ','\n"
    "  MDO_ADDED, MDO_REMOVED, MDO_MOVED   container names, space-separated\n"
    "  MDO_INITIAL   1 for the --initial run, else 0\n"
    "Without SERVICE, the seed's $WATCHES (comma-separated) names them. The watch survives\n"
    "etcd restarts: it resumes after the last change it saw, so none is missed or repeated.\n"
    "\n"
    "  --settle MS        quiet time that ends a burst (default 500); a burst runs CMD after\n"
    "                     at most 10 x MS however busy the registry is\n"
    "  --initial          also run CMD once at start, for each SERVICE (MDO_DELTA=+COUNT)\n"
    "  --exit-on-failure  exit with CMD's status when it fails (default: report it, go on)\n"
    "\n"
    "SIGTERM/SIGINT: passed on to a running CMD, then exit 0. Exit 2 usage, 3 no registry\n"
    "configured.\n";

#define MAX_SERVICES 32

struct svc {
    const char *name;
    struct reg_record *delivered; /* membership CMD last saw, sorted by container */
    unsigned ndelivered;
    int known; /* the first listing came */
};

struct wopts {
    struct svc s[MAX_SERVICES];
    unsigned n;
    long settle_ms;
    unsigned settle; /* --settle, as parsed */
    int initial, exit_on_failure;
    char **cmd;  /* the words after "--" (argv's, in cli_args' NULL-terminated array) */
    char *names; /* our copy of the SERVICE list, split in place */
};

/* The registry copy: key -> value, sorted by key (the etcd listing's order). */
struct kv {
    char *key, *value;
};

struct store {
    struct kv *v;
    size_t n, alloc;
};

static volatile sig_atomic_t got_signal;
static volatile pid_t child;

static void on_signal(int sig)
{
    got_signal = sig;
    if (child > 0)
        kill(child, sig);
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const struct cli_opt options[] = {
    {.type = CLI_UINT,
     .long_name = "settle",
     .off = offsetof(struct wopts, settle),
     .max = 600000,
     .bad = "--settle wants milliseconds, not '%s'",
     .missing = "%s wants milliseconds, not ''"},
    {.type = CLI_BOOL, .long_name = "initial", .off = offsetof(struct wopts, initial)},
    {.type = CLI_BOOL,
     .long_name = "exit-on-failure",
     .off = offsetof(struct wopts, exit_on_failure)},
    {0},
};

static int parse(int argc, char **argv, struct wopts *o, struct cli_args *args)
{
    const char *name = argv[0], *usage = guest_usage_watch, *list;
    const struct cli c = {name, usage, options, 0, "%s wants a value"};
    int ret;

    memset(o, 0, sizeof(*o));
    o->settle = 500;
    ret = cli_parse(&c, argc, argv, o, args);
    if (ret)
        return ret;
    o->settle_ms = (long)o->settle;
    if (args->ndash > 1)
        return guest_usage_error(name, usage, "one SERVICE list (comma-separated), then --");
    if (!args->dashdash || args->n == args->ndash)
        return guest_usage_error(name, usage, "which command? (watch SERVICE -- CMD)");
    o->cmd = args->v + args->ndash;
    list = args->ndash ? args->v[0] : guest_env("WATCHES", NULL);
    if (!list)
        return guest_usage_error(name, usage, "which service? (neither SERVICE nor $WATCHES)");
    o->names = strdup(list);
    if (!o->names) {
        fprintf(stderr, "%s: out of memory\n", name);
        return GUEST_NOT_FOUND;
    }
    for (char *p = o->names, *comma; p; p = comma ? comma + 1 : NULL) {
        struct mdo_err err = MDO_ERR_INIT;
        comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        while (*p == ' ')
            p++;
        if (!*p)
            continue;
        if (strchr(p, '/'))
            return guest_usage_error(name, usage, "service name '%s' has a '/'", p);
        if (name_check("service", p, &err)) /* it could never be registered */
            return guest_usage_error(name, usage, "%s", err.msg);
        if (o->n == MAX_SERVICES)
            return guest_usage_error(name, usage, "at most %d services", MAX_SERVICES);
        o->s[o->n++].name = p;
    }
    if (!o->n)
        return guest_usage_error(name, usage, "which service? ('%s' names none)", list);
    return 0;
}

static int kv_find(const struct store *st, const char *key, size_t *at)
{
    size_t lo = 0, hi = st->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(st->v[mid].key, key);
        if (!c) {
            *at = mid;
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return 0;
}

static void store_clear(struct store *st)
{
    for (size_t i = 0; i < st->n; i++) {
        free(st->v[i].key);
        free(st->v[i].value);
    }
    st->n = 0;
}

/* Applies one event, taking its key and value. */
static int store_apply(struct store *st, struct watch_event *ev)
{
    size_t at;
    int have = kv_find(st, ev->key, &at);

    if (ev->del) {
        if (have) {
            free(st->v[at].key);
            free(st->v[at].value);
            memmove(&st->v[at], &st->v[at + 1], (st->n - at - 1) * sizeof(*st->v));
            st->n--;
        }
        return 0;
    }
    if (have) {
        free(st->v[at].value);
        st->v[at].value = ev->value;
        ev->value = NULL;
        return 0;
    }
    if (st->n == st->alloc) {
        size_t na = st->alloc ? 2 * st->alloc : 64;
        struct kv *nv = realloc(st->v, na * sizeof(*nv));
        if (!nv)
            return -MDO_ENOMEM;
        st->v = nv;
        st->alloc = na;
    }
    memmove(&st->v[at + 1], &st->v[at], (st->n - at) * sizeof(*st->v));
    st->v[at].key = ev->key;
    st->v[at].value = ev->value;
    ev->key = ev->value = NULL;
    st->n++;
    return 0;
}

/* The membership (records sorted by container: the copy's key order) and node lines of one
 * service from the copy. *recs is the caller's (reg_records_free). */
static int service_view(const struct store *st, const struct guest_reg *g, const char *svc,
                        struct reg_record **recs, unsigned *nrecs, struct buf *nodes,
                        const char *prog)
{
    struct buf p = BUF_INIT(0);
    size_t at, alloc = 0;
    int ret = reg_prefix(&p, g->prefix, g->env, svc);

    if (ret)
        return ret;
    kv_find(st, p.ptr, &at);
    for (; !ret && at < st->n && !strncmp(st->v[at].key, p.ptr, p.len); at++) {
        struct mdo_err perr = MDO_ERR_INIT;
        struct reg_record r;
        if (strchr(st->v[at].key + p.len, '/'))
            continue; /* not <prefix>/<container> */
        if (reg_record_parse(st->v[at].value, strlen(st->v[at].value), &r, &perr)) {
            fprintf(stderr, "%s: bad record '%s' skipped: %s\n", prog, st->v[at].key, perr.msg);
            continue;
        }
        if (*nrecs == alloc) {
            size_t na = alloc ? 2 * alloc : 8;
            struct reg_record *nv = realloc(*recs, na * sizeof(*nv));
            if (!nv) {
                reg_record_release(&r);
                ret = -MDO_ENOMEM;
                break;
            }
            *recs = nv;
            alloc = na;
        }
        ret = buf_adds(nodes, r.host);
        for (unsigned i = 0; !ret && i < r.nports; i++)
            ret = buf_addf(nodes, ":%d", r.ports[i].external);
        if (!ret)
            ret = buf_addc(nodes, '\n');
        (*recs)[(*nrecs)++] = r; /* taken */
    }
    buf_release(&p);
    return ret;
}

/* "NAME=value" for the child's environment: ours, freed by the caller. */
static char *env_entry(const char *name, const char *value)
{
    char *s = NULL;

    if (asprintf(&s, "%s=%s", name, value) < 0)
        return NULL;
    return s;
}

/* Runs CMD for a change of svc; returns its exit status (128+N when killed by signal N). */
/* "a b c": the names for MDO_ADDED and its kin. */
static char *names_env(const char *name, const char *const *v, unsigned n)
{
    struct buf b = BUF_INIT(0);
    char *s = NULL;
    int ret = buf_addf(&b, "%s=", name);

    for (unsigned i = 0; !ret && i < n; i++)
        ret = buf_addf(&b, "%s%s", i ? " " : "", v[i]);
    if (!ret)
        s = buf_detach(&b);
    buf_release(&b);
    return s;
}

static int run(const struct wopts *o, const char *prog, const char *svc,
               const struct reg_members_diff *d, int delta, const char *nodes, int initial)
{
    static const char *ours[] = {"MDO_CHANGED", "MDO_DELTA",     "MDO_COUNT",
                                 "MDO_NODES",   "MDO_NODES_SEP", "MDO_ADDED",
                                 "MDO_REMOVED", "MDO_MOVED",     "MDO_INITIAL"};
    size_t nenv = 0, k = 0;
    char **envp, dstr[16], cstr[16], *sep = strdup(nodes);
    pid_t pid;
    int status = 0, rc;

    for (char **e = environ; *e; e++)
        nenv++;
    envp = calloc(nenv + 10, sizeof(*envp));
    if (!envp || !sep) {
        free(envp);
        free(sep);
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    for (size_t i = 0; sep[i]; i++)
        if (sep[i] == '\n')
            sep[i] = sep[i + 1] ? ',' : '\0';
    for (char **e = environ; *e; e++) {
        int mine = 0;
        for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]) && !mine; i++) {
            size_t n = strlen(ours[i]);
            mine = !strncmp(*e, ours[i], n) && (*e)[n] == '=';
        }
        if (!mine)
            envp[k++] = *e; /* borrowed */
    }
    snprintf(dstr, sizeof(dstr), "%+d", delta);
    snprintf(cstr, sizeof(cstr), "%u", d->count);
    {
        size_t first = k;
        envp[k++] = env_entry("MDO_CHANGED", svc);
        envp[k++] = env_entry("MDO_DELTA", dstr);
        envp[k++] = env_entry("MDO_COUNT", cstr);
        envp[k++] = env_entry("MDO_NODES", nodes);
        envp[k++] = env_entry("MDO_NODES_SEP", sep);
        envp[k++] = names_env("MDO_ADDED", d->names_added, d->added);
        envp[k++] = names_env("MDO_REMOVED", d->names_removed, d->removed);
        envp[k++] = names_env("MDO_MOVED", d->names_changed, d->changed);
        envp[k++] = env_entry("MDO_INITIAL", initial ? "1" : "0");
        envp[k] = NULL;
        fprintf(stderr, "%s: %s changed (%s, now %u): running %s\n", prog, svc, dstr, d->count,
                o->cmd[0]);
        fflush(stderr);
        fflush(stdout);
        rc = posix_spawnp(&pid, o->cmd[0], NULL, NULL, o->cmd, envp);
        for (size_t i = first; i < k; i++)
            free(envp[i]);
    }
    free(envp);
    free(sep);
    if (rc) {
        fprintf(stderr, "%s: cannot run '%s': %s\n", prog, o->cmd[0], strerror(rc));
        return 127;
    }
    child = pid;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    child = 0;
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* Compares each service with what CMD last saw; runs CMD for each that changed. Returns
 * nonzero (CMD's status) when watch must exit. */
static int deliver(struct wopts *o, const struct store *st, const struct guest_reg *g,
                   const char *prog, int initial)
{
    for (unsigned i = 0; i < o->n && !got_signal; i++) {
        struct buf nodes = BUF_INIT(0);
        struct reg_members_diff d = REG_MEMBERS_DIFF_INIT;
        struct reg_record *recs = NULL;
        unsigned nrecs = 0;
        int differs, rc = 0;

        if (service_view(st, g, o->s[i].name, &recs, &nrecs, &nodes, prog)) {
            fprintf(stderr, "%s: out of memory\n", prog);
            reg_records_free(recs, nrecs);
            buf_release(&nodes);
            return 1;
        }
        differs = reg_members_diff(o->s[i].delivered, o->s[i].ndelivered, recs, nrecs, &d);
        int first = !o->s[i].known;

        if (first) { /* the first listing: the baseline */
            o->s[i].known = 1;
            differs = initial;
        }
        if (differs > 0) {
            int delta = (int)d.added - (int)d.removed;
            rc = run(o, prog, o->s[i].name, &d, delta, buf_str(&nodes), first);
            if (rc)
                fprintf(stderr, "%s: '%s' exited with status %d%s\n", prog, o->cmd[0], rc,
                        o->exit_on_failure ? "" : " (going on)");
        }
        reg_members_diff_release(&d); /* it borrows from both memberships */
        if (differs >= 0) {
            reg_records_free(o->s[i].delivered, o->s[i].ndelivered);
            o->s[i].delivered = recs;
            o->s[i].ndelivered = nrecs;
            recs = NULL;
            nrecs = 0;
        }
        reg_records_free(recs, nrecs);
        buf_release(&nodes);
        if (rc && o->exit_on_failure)
            return rc;
    }
    return 0;
}

int guest_watch(int argc, char **argv)
{
    struct guest_reg g = GUEST_REG_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    struct watch *w = NULL;
    struct store st = {0};
    struct buf prefix = BUF_INIT(0);
    struct sigaction sa;
    struct wopts o;
    struct cli_args args;
    long long first = 0, last = 0;
    int ret, dirty = 0, listed = 0;

    if (cli_wants_help(argc, argv, guest_usage_watch))
        return GUEST_FOUND;
    ret = parse(argc, argv, &o, &args);
    if (ret)
        goto out;
    if (guest_reg_open(&g, &err)) {
        ret = guest_report(argv[0], &err);
        goto out;
    }
    /* one stream over every service of the environment: the gateway takes one watch per
     * stream, and the services' keys share this prefix */
    if (reg_prefix(&prefix, g.prefix, g.env, NULL) || watch_start(&w, &g.etcd, prefix.ptr, &err)) {
        if (!err.code)
            err_set(&err, MDO_ENOMEM, "out of memory");
        ret = guest_report(argv[0], &err);
        goto out;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    while (!got_signal) {
        struct watch_batch b;
        long wait = 500;

        if (dirty) {
            wait = watch_settle_left(first, last, now_ms(), o.settle_ms, o.settle_ms * 10);
            if (wait <= 0) {
                dirty = 0;
                ret = deliver(&o, &st, &g, argv[0], o.initial && !listed);
                listed = 1;
                if (ret)
                    goto out;
                continue;
            }
        }
        if (!watch_next(w, wait, &b))
            continue;
        if (b.reset)
            store_clear(&st);
        for (size_t i = 0; i < b.n; i++)
            if (store_apply(&st, &b.ev[i])) {
                fprintf(stderr, "%s: out of memory\n", argv[0]);
                watch_batch_release(&b);
                ret = 1;
                goto out;
            }
        watch_batch_release(&b);
        last = now_ms();
        if (!dirty)
            first = last;
        dirty = 1;
        if (!listed) /* the first listing is the baseline: no need to wait for it to settle */
            first = last - o.settle_ms * 10;
    }
    ret = 0;
out:
    watch_stop(w);
    store_clear(&st);
    free(st.v);
    for (unsigned i = 0; i < o.n; i++)
        reg_records_free(o.s[i].delivered, o.s[i].ndelivered);
    free(o.names);
    cli_args_release(&args);
    buf_release(&prefix);
    guest_reg_close(&g);
    return ret;
}
