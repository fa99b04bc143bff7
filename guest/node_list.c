/* node_list.c - get_node_list: the instances of a service, as "host:port:port" lines
 *
 * usage: get_node_list SERVICE [PORT...] [--minimum N] [--wait SECS] [--label K=V]... [--json]
 *                      [--sep S]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <signal.h>
#include <sys/time.h>
#include <cjson/cJSON.h>
#include "applet.h"
#include "clock.h"
#include "json.h"
#include "names.h"
#include "watch.h"

const char guest_usage_get_node_list[] =
    "usage: get_node_list SERVICE [PORT...] [--minimum N] [--wait SECS] [--label K=V]...\n"
    "                     [--json] [--sep S]\n"
    "\n"
    "Prints one line per instance of SERVICE in this environment, sorted by container name:\n"
    "its host address, then the external (published) port of each named PORT in the order\n"
    "given, joined with ':' (\"10.0.0.5:31005:31006\"; just the host without PORT).\n"
    "\n"
    "  --minimum N   exit 4, printing nothing, when fewer than N instances match (default 0:\n"
    "                an empty list is an answer; 1 with --wait)\n"
    "  --wait SECS   wait until --minimum instances match or SECS pass (an etcd watch: it\n"
    "                answers as soon as they are registered; exit 4 at the end of the wait)\n"
    "  --label K=V   only instances whose label K is V (repeat: all must match)\n"
    "  --json        print the matching records as stored, as one JSON array\n"
    "  --sep S       join the entries with S on one line instead of one per line\n"
    "\n"
    "An instance without a named PORT is an error (exit 1), as in maestro-ng: a typo in a port\n"
    "name must not silently shrink the list.\n";

struct node_opts {
    const char *service;
    char **ports; /* the arguments after SERVICE (argv's strings) */
    unsigned nports;
    struct cli_list labels; /* "K=V" */
    unsigned minimum;
    int has_minimum;
    unsigned wait_s;
    int has_wait;
    int json;
    const char *sep; /* NULL: one entry per line */
};

static const struct cli_opt options[] = {
    {.type = CLI_UINT,
     .long_name = "minimum",
     .off = offsetof(struct node_opts, minimum),
     .seen = CLI_SEEN(struct node_opts, has_minimum),
     .max = 100000,
     .bad = "--minimum wants a count, not '%s'"},
    {.type = CLI_UINT,
     .long_name = "wait",
     .off = offsetof(struct node_opts, wait_s),
     .seen = CLI_SEEN(struct node_opts, has_wait),
     .max = 86400,
     .bad = "--wait wants seconds, not '%s'"},
    {.type = CLI_LIST,
     .long_name = "label",
     .flags = CLI_KV,
     .off = offsetof(struct node_opts, labels),
     .bad = "--label wants K=V, not '%s'"},
    {.type = CLI_BOOL, .long_name = "json", .off = offsetof(struct node_opts, json)},
    {.type = CLI_STRING, .long_name = "sep", .off = offsetof(struct node_opts, sep)},
    {0},
};

static int parse(int argc, char **argv, struct node_opts *o, struct cli_args *args)
{
    const char *name = argv[0], *usage = guest_usage_get_node_list;
    const struct cli c = {name, usage, options, 0, "%s wants a value"};
    int ret;

    memset(o, 0, sizeof(*o));
    ret = cli_parse(&c, argc, argv, o, args);
    if (ret)
        return ret;
    if (!args->n)
        return guest_usage_error(name, usage, "which service?");
    o->service = args->v[0];
    o->ports = args->v + 1;
    o->nports = args->n - 1;
    for (unsigned i = 0; i < o->nports; i++)
        if (!o->ports[i][0])
            return guest_usage_error(name, usage, "port name is empty");
    if (o->has_wait && !o->has_minimum)
        o->minimum = 1; /* waiting for "at least none" would return at once */
    return 0;
}

static int labels_match(const struct reg_record *r, const struct node_opts *o)
{
    for (unsigned i = 0; i < o->labels.n; i++) {
        const char *eq = strchr(o->labels.v[i], '='), *v;
        size_t klen = (size_t)(eq - o->labels.v[i]);
        int found = 0;

        for (unsigned j = 0; j < r->nlabels && !found; j++) {
            v = r->labels[j].key;
            found = strlen(v) == klen && !memcmp(v, o->labels.v[i], klen) &&
                    !strcmp(r->labels[j].value, eq + 1);
        }
        if (!found)
            return 0;
    }
    return 1;
}

/* Keeps the instances that match the labels at the front of v; returns how many. */
static unsigned filter(struct reg_stored *v, unsigned n, const struct node_opts *o)
{
    unsigned m = 0;

    for (unsigned i = 0; i < n; i++) {
        if (!labels_match(&v[i].rec, o)) {
            reg_record_release(&v[i].rec);
            free(v[i].json);
            continue;
        }
        if (m != i)
            v[m] = v[i];
        m++;
    }
    return m;
}

static void skipped(void *ctx, const char *key, const char *why)
{
    fprintf(stderr, "%s: bad record '%s' skipped: %s\n", (const char *)ctx, key, why);
}

/* One read: the matching instances in *out. */
static int read_once(struct guest_reg *g, const char *name, const struct node_opts *o,
                     struct reg_stored **out, unsigned *n, struct mdo_err *err)
{
    int ret;

    reg_stored_free(*out, *n);
    *out = NULL;
    *n = 0;
    err_clear(err);
    if (!name_ok(o->service)) /* never registered: an empty list, as for any unknown service */
        return 0;
    ret = reg_list_stored(&g->etcd, g->prefix, g->env, o->service, out, n, skipped, (void *)name,
                          err);
    if (!ret)
        *n = filter(*out, *n, o);
    return ret;
}

static volatile sig_atomic_t timed_out; /* the --wait deadline passed (SIGALRM) */

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
}

struct waiter {
    struct guest_reg *g;
    const char *name;
    const struct node_opts *o;
    struct reg_stored **out;
    unsigned *n;
    struct mdo_err *err;
    int ret;
};

/* Each batch of the watch only says "read again": the read gives the records exactly as
 * get_node_list prints them. Nonzero (enough) ends the watch at once. */
static int on_batch(void *ctx, struct watch_batch *b)
{
    struct waiter *wt = ctx;

    (void)b;
    wt->ret = read_once(wt->g, wt->name, wt->o, wt->out, wt->n, wt->err);
    return !wt->ret && *wt->n >= wt->o->minimum;
}

/* Reads the registry until the minimum is met or the wait is over. On success *out holds the
 * matching instances (at least o->minimum of them). */
static int collect(struct guest_reg *g, const char *name, const struct node_opts *o,
                   struct reg_stored **out, unsigned *n, struct mdo_err *err)
{
    struct waiter wt = {g, name, o, out, n, err, 0};
    struct buf prefix = BUF_INIT(4096);
    int ret = read_once(g, name, o, out, n, err);

    if (!ret && *n >= o->minimum)
        return 0;
    /* a registry that is down may come up within the wait (etcd starting with the app) */
    if (ret && ret != -MDO_ENET && ret != -MDO_EHTTP && ret != -MDO_EPROTO)
        return ret;
    /* An etcd watch on the service's prefix, not polling: it lists the prefix first and then
     * streams each change, so a change between the read above and the watch's start is still
     * seen, and the answer comes as soon as the instance is registered. It runs in this thread
     * so that the answer ends the stream at once; the deadline is a timer signal. */
    wt.ret = ret;
    if (o->wait_s && !name_ok(o->service)) { /* no key to watch: it can never come */
        clock_nap_ms((int64_t)o->wait_s * 1000, NULL);
    } else if (o->wait_s && !reg_prefix(&prefix, g->prefix, g->env, o->service)) {
        struct mdo_err werr = MDO_ERR_INIT;
        struct itimerval it = {{0, 0}, {(time_t)o->wait_s, 0}};
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_alarm;
        sigaction(SIGALRM, &sa, NULL);
        setitimer(ITIMER_REAL, &it, NULL);
        /* sig_atomic_t is int here: the watch's stop flag */
        watch_run(&g->etcd, prefix.ptr, on_batch, &wt, (const volatile int *)&timed_out, &werr);
        memset(&it, 0, sizeof(it));
        setitimer(ITIMER_REAL, &it, NULL);
    }
    buf_release(&prefix);
    ret = wt.ret;
    if (ret || *n >= o->minimum)
        return ret;
    return err_set(err, MDO_ETOOFEW,
                   "service '%s' has %u matching instance%s in environment '%s', fewer than the "
                   "%u asked for%s",
                   o->service, *n, *n == 1 ? "" : "s", g->env, o->minimum,
                   o->has_wait ? " (waited for them)" : "");
}

/* Before any output, in both formats: --json with a PORT must fail the same way as without.
 * An error, not a skipped instance: maestro-ng's get_specific_port raises too, and a typo in a
 * port name must not silently shrink the list. */
static int check_ports(const struct reg_stored *v, unsigned n, const struct node_opts *o,
                       struct mdo_err *err)
{
    for (unsigned i = 0; i < n; i++) {
        for (unsigned j = 0; j < o->nports; j++) {
            if (!reg_record_port(&v[i].rec, o->ports[j]))
                return err_set(err, MDO_ENOTFOUND, "service '%s' has no port '%s' (instance '%s')",
                               o->service, o->ports[j], v[i].rec.container);
        }
    }
    return 0;
}

static int format_lines(const struct reg_stored *v, unsigned n, const struct node_opts *o,
                        struct buf *out, struct mdo_err *err)
{
    int ret = 0;

    for (unsigned i = 0; !ret && i < n; i++) {
        if (i)
            ret = buf_adds(out, o->sep ? o->sep : "\n");
        if (!ret)
            ret = buf_adds(out, v[i].rec.host);
        for (unsigned j = 0; !ret && j < o->nports; j++) {
            const struct reg_port *p = reg_record_port(&v[i].rec, o->ports[j]);
            ret = p ? buf_addf(out, ":%d", p->external) : -MDO_ENOTFOUND; /* checked before */
        }
    }
    if (!ret && n)
        ret = buf_addc(out, '\n');
    return ret ? err_set(err, MDO_ENOMEM, "out of memory") : 0;
}

static int format_json(const struct reg_stored *v, unsigned n, struct buf *out, struct mdo_err *err)
{
    cJSON *arr = cJSON_CreateArray();
    char *s = NULL;
    int ret = arr ? 0 : -MDO_ENOMEM;

    for (unsigned i = 0; !ret && i < n; i++) {
        cJSON *o = cJSON_Parse(v[i].json); /* parsed once already: it is an object */
        if (!o || !cJSON_AddItemToArray(arr, o)) {
            cJSON_Delete(o);
            ret = -MDO_ENOMEM;
        }
    }
    if (!ret && !(s = json_print(arr)))
        ret = -MDO_ENOMEM;
    if (!ret)
        ret = buf_adds(out, s);
    if (!ret)
        ret = buf_addc(out, '\n');
    free(s);
    cJSON_Delete(arr);
    return ret ? err_set(err, MDO_ENOMEM, "out of memory") : 0;
}

int guest_get_node_list(int argc, char **argv)
{
    struct guest_reg g = GUEST_REG_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    struct reg_stored *v = NULL;
    struct buf out = BUF_INIT(0); /* printed whole, or not at all */
    struct node_opts o;
    struct cli_args args;
    unsigned n = 0;
    int ret;

    if (cli_wants_help(argc, argv, guest_usage_get_node_list))
        return GUEST_FOUND;
    ret = parse(argc, argv, &o, &args);
    if (ret)
        goto out;
    if (guest_check_name("service", o.service, &err) || guest_reg_open(&g, &err) ||
        collect(&g, argv[0], &o, &v, &n, &err) || check_ports(v, n, &o, &err))
        goto report;
    if (o.json)
        format_json(v, n, &out, &err);
    else
        format_lines(v, n, &o, &out, &err);
    if (!err.code)
        fwrite(out.ptr ? out.ptr : "", 1, out.len, stdout);
report:
    ret = guest_report(argv[0], &err);
out:
    reg_stored_free(v, n);
    guest_reg_close(&g);
    buf_release(&out);
    cli_args_release(&args);
    return ret;
}
