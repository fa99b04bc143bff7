/* bench.c - mdo's benchmark driver: each subcommand measures one thing and prints table rows.
 *
 *   bench ceiling   ETCD N M                   sequential puts, then M txns of 128 puts
 *   bench stream    ETCD MDO DIR docker|marathon TASKS PAIRS RATE SECS
 *                   a real `mdo subscribe` on a fake scheduler with one app of TASKS tasks,
 *                   fed PAIRS restarts (die + start: 2 events each) at RATE events/s (0: as
 *                   fast as it reads), observed in etcd by a watch
 *   bench reconcile ETCD MDO DIR APPS TASKS    empty, equal and 1%-different registry
 *   bench nodelist  ETCD MDO DIR               get_node_list for 10 and 1,000 instances
 *   bench algo2014  ETCD TASKS EVENTS SECS     the 2014 tool's per-event algorithm
 *
 * Everything it drives goes through real inputs: the subscriber binary, a fake engine on a unix
 * socket or a fake Marathon on a loopback port, and etcd's v3 gateway. */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"
#include "etcd.h"
#include "http.h"
#include "watch.h"

#define BASE_TIME 1767225600

long long now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct etcd E;
const char *etcd_url, *mdo_bin;
static const char *dir;

void die(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(1);
}

void open_etcd(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    char *ep[1] = {(char *)etcd_url};
    if (etcd_open(&E, ep, 1, NULL, NULL, NULL, NULL, NULL, &err))
        die(err.msg);
}

static int64_t etcd_rev(void)
{
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    int64_t r;
    if (etcd_get(&E, "/bench-rev-probe", &kvs, &err))
        die(err.msg);
    r = kvs.revision;
    etcd_kvs_release(&kvs);
    return r;
}

int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t l = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0), p;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    getsockname(fd, (struct sockaddr *)&sa, &l);
    p = ntohs(sa.sin_port);
    close(fd);
    return p;
}

int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* ---- the observer: a watch on the environment's services prefix ---- */

static struct {
    struct watch *w;
    pthread_t t;
    volatile int stop;
    long long *t_sent, *t_vis; /* per restart pair p (task p % n, generation p / n + 1) */
    size_t npairs;
    unsigned cycle; /* tasks restarted in turn; the last task is the end-of-stream sentinel */
    int *seen_gen;  /* per task: newest generation visible */
    char *present;
    long present_n, puts, dels, visible;
    long long t_last;
} O;

static void obs_event(const struct watch_event *ev, long long t)
{
    const char *seg = strrchr(ev->key, '/'), *sa;
    long k = seg ? fake_task_of(seg + 1) : -1;
    if (k < 0)
        return;
    O.t_last = t;
    if (ev->del) {
        O.dels++;
        if (O.present[k])
            O.present_n--;
        O.present[k] = 0;
        return;
    }
    O.puts++;
    if (!O.present[k])
        O.present_n++;
    O.present[k] = 1;
    if ((sa = strstr(ev->value, "\"started_at\":\""))) {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        if (strptime(sa + 14, "%Y-%m-%dT%H:%M:%S", &tm)) { /* any fraction and zone: UTC */
            int g = (int)(timegm(&tm) - BASE_TIME);
            for (int x = O.seen_gen[k] + 1; x <= g; x++) {
                size_t p = (size_t)(x - 1) * O.cycle + (size_t)k;
                if (p < O.npairs && !O.t_vis[p]) {
                    O.t_vis[p] = t;
                    __atomic_add_fetch(&O.visible, 1, __ATOMIC_RELEASE);
                }
            }
            if (g > O.seen_gen[k])
                O.seen_gen[k] = g;
        }
    }
}

static void *obs_main(void *arg)
{
    (void)arg;
    while (!O.stop) {
        struct watch_batch b;
        if (watch_next(O.w, 100, &b) != 1)
            continue;
        long long t = now_us();
        for (size_t i = 0; i < b.n; i++)
            obs_event(&b.ev[i], t);
        watch_batch_release(&b);
    }
    return NULL;
}

static void obs_start(size_t npairs)
{
    struct mdo_err err = MDO_ERR_INIT;
    char prefix[128];
    O.npairs = npairs;
    O.cycle = F.n > 1 ? F.n - 1 : 1;
    O.t_sent = calloc(npairs + 1, sizeof(long long));
    O.t_vis = calloc(npairs + 1, sizeof(long long));
    O.seen_gen = calloc(F.n, sizeof(int));
    O.present = calloc(F.n, 1);
    snprintf(prefix, sizeof(prefix), "/mdo/%s/services/", F.env);
    if (watch_start(&O.w, &E, prefix, &err))
        die(err.msg);
    pthread_create(&O.t, NULL, obs_main, NULL);
}

static void obs_stop(void)
{
    O.stop = 1;
    pthread_join(O.t, NULL);
    watch_stop(O.w);
}

/* ---- the subscriber under test ---- */

static int sub_port;
static pid_t sub_pid;

static void write_config(const char *sched_where)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/config.yaml", dir);
    f = fopen(path, "w");
    if (!f)
        die("cannot write the config");
    sub_port = free_port();
    fprintf(f,
            "environment: %s\nscheduler: %s\netcd: {endpoints: [\"%s\"]}\n"
            "subscriber: {listen: \"127.0.0.1:%d\", resync: 3600}\n",
            F.env, F.marathon ? "marathon" : "docker", etcd_url, sub_port);
    if (F.marathon)
        fprintf(f, "marathon: {url: \"http://127.0.0.1:%s\"}\n", sched_where);
    else
        fprintf(f, "docker: {socket: \"%s\", host_address: 127.0.0.1}\n", sched_where);
    fprintf(f, "services:\n  s0:\n    image: bench:1\n    ports: {http: 80}\n");
    fclose(f);
}

static void sub_start(void)
{
    char cfg[512], log[512];
    snprintf(cfg, sizeof(cfg), "%s/config.yaml", dir);
    snprintf(log, sizeof(log), "%s/subscriber.log", dir);
    sub_pid = fork();
    if (sub_pid == 0) {
        FILE *l = fopen(log, "a");
        if (l) {
            dup2(fileno(l), 1);
            dup2(fileno(l), 2);
        }
        execl(mdo_bin, mdo_bin, "subscribe", "-c", cfg, (char *)NULL);
        _exit(127);
    }
}

static int sub_status; /* the last subscriber's exit status, -1 when killed */

static void sub_stop(void)
{
    /* BENCH_STOP_S: under valgrind the exit (and its leak check) takes longer */
    long secs = getenv("BENCH_STOP_S") ? atol(getenv("BENCH_STOP_S")) : 8;
    long long end = now_us() + secs * 1000000;
    int st = 0;
    kill(sub_pid, SIGTERM);
    while (waitpid(sub_pid, &st, WNOHANG) == 0) {
        if (now_us() > end) {
            fprintf(stderr, "bench: subscriber ignored SIGTERM for %ld s, killed\n", secs);
            kill(sub_pid, SIGKILL);
            waitpid(sub_pid, &st, 0);
            break;
        }
        usleep(10000);
    }
    sub_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    if (sub_status)
        fprintf(stderr, "bench: subscriber exited %d\n", sub_status);
    sub_pid = 0;
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* a counter from the subscriber's /metrics, or -1 */
static double metric(const char *name)
{
    struct http_conn c = {0};
    struct http_resp r = HTTP_RESP_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    char url[128];
    double v = -1;
    const char *p;
    c.timeout_ms = 2000;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", sub_port);
    if (!http_request(&c, "GET", url, NULL, 0, NULL, &r, &err) && r.status == 200) {
        size_t nl = strlen(name);
        for (p = buf_str(&r.body); (p = strstr(p, name)); p += nl)
            if ((p == r.body.ptr || p[-1] == '\n') && p[nl] == ' ') {
                v = strtod(p + nl + 1, NULL);
                break;
            }
    }
    http_resp_release(&r);
    return v;
}

/* etcd's own count of the requests it served (its /metrics, grpc_server_handled_total):
 * reads = Range, writes = Txn + Put + DeleteRange */
static void etcd_ops(long *reads, long *writes)
{
    struct http_conn c = {0};
    struct http_resp r = HTTP_RESP_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    char url[512];
    *reads = *writes = 0;
    c.timeout_ms = 5000;
    snprintf(url, sizeof(url), "%s/metrics", etcd_url);
    if (!http_request(&c, "GET", url, NULL, 0, NULL, &r, &err) && r.status == 200) {
        char *save = NULL, *txt = (buf_str(&r.body), r.body.ptr);
        for (char *line = strtok_r(txt, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            const char *sp = strrchr(line, ' ');
            if (strncmp(line, "grpc_server_handled_total{", 26) || !strstr(line, "code=\"OK\"") ||
                !sp)
                continue;
            if (strstr(line, "method=\"Range\""))
                *reads += atol(sp + 1);
            else if (strstr(line, "method=\"Txn\"") || strstr(line, "method=\"Put\"") ||
                     strstr(line, "method=\"DeleteRange\""))
                *writes += atol(sp + 1);
        }
    }
    http_resp_release(&r);
}

/* waits until the subscriber has connected its stream and the registry holds every task */
static int wait_ready(long secs)
{
    long long end = now_us() + secs * 1000000;
    while (now_us() < end) {
        if (F.streams > 0 && O.present_n == (long)F.n && metric("mdo_reconciles_total") >= 1)
            return 0;
        usleep(20000);
    }
    return -1;
}

/* ---- 2, 3, 5: the event stream ---- */

static int cmd_stream(const char *kind, unsigned tasks, size_t pairs, long rate, long secs)
{
    char where[512], port[16];
    struct buf b = BUF_INIT(0);
    long long t0, send_end, drain_end, tfirst = 0, t_sentinel = 0, t_end = 0;
    size_t sent = 0;
    long rss0, rss1;
    unsigned long reads0;
    long er0, ew0, er1, ew1;

    open_etcd();
    F.env = getenv("BENCH_ENV") ? getenv("BENCH_ENV") : "bench";
    if (!strcmp(kind, "marathon")) {
        snprintf(port, sizeof(port), "%d", free_port());
        snprintf(where, sizeof(where), "%s", port);
    } else {
        snprintf(where, sizeof(where), "%s/docker.sock", dir);
    }
    if (fake_start(!strcmp(kind, "marathon"), where, 1, tasks))
        die("cannot start the fake scheduler");
    obs_start(pairs);
    write_config(where);
    sub_start();
    if (wait_ready(60)) {
        sub_stop();
        die("the subscriber did not register the initial tasks within 60 s");
    }
    usleep(300000);
    rss0 = rss_kb(sub_pid);
    reads0 = F.reads;
    etcd_ops(&er0, &ew0);
    t0 = now_us();
    send_end = t0 + secs * 1000000LL;
    /* BENCH_PROGRESS=N: a line on stderr every N events sent, so a long run (the 1,000,000 under
     * memcheck) says how it goes: handled = 2 x the inspects made since the first event (each
     * handled restart costs one), the rate over the last step, the subscriber's RSS */
    long every = getenv("BENCH_PROGRESS") ? atol(getenv("BENCH_PROGRESS")) : 0;
    size_t next_at = every > 0 ? (size_t)every / 2 : (size_t)-1;
    long long t_step = t0;
    unsigned long r_step = reads0;
    /* as fast as it reads: chunks of 64 restarts; paced: every millisecond what is due */
    while (sent < pairs && now_us() < send_end) {
        size_t due = pairs;
        if (rate > 0) {
            due = (size_t)((now_us() - t0) * (rate / 2.0) / 1e6) + 1;
            if (due > pairs)
                due = pairs;
            if (due <= sent) {
                usleep(500);
                continue;
            }
        }
        if (due > sent + 64) /* behind (or unpaced): catch up in chunks of 64 restarts */
            due = sent + 64;
        buf_reset(&b);
        size_t from = sent;
        long long ts = now_us(); /* before the fake's state changes: a read cannot precede it */
        for (; sent < due; sent++) {
            /* paced: when the event was due, so a subscriber that reads slower than the rate
             * is charged the wait in the scheduler's socket too (no coordinated omission) */
            O.t_sent[sent] = rate > 0 ? t0 + (long long)((double)sent * 2e6 / (double)rate) : ts;
            fake_restart(&b, (unsigned)(sent % O.cycle), (int)(sent / O.cycle) + 1);
        }
        if (!tfirst)
            tfirst = ts;
        if (fake_send(&b, send_end)) {
            sent = from; /* not (all) written: not counted */
            break;
        }
        if (sent >= next_at) {
            long long tn = now_us();
            unsigned long r = F.reads;
            fprintf(stderr,
                    "progress: sent=%zu handled=%lu s=%.0f rate=%.0f/s rss=%ldKB load=%.2f\n",
                    2 * sent, 2 * (r - reads0), (tn - t0) / 1e6,
                    2.0 * (double)(r - r_step) / ((double)(tn - t_step) / 1e6), rss_kb(sub_pid),
                    loadavg());
            t_step = tn;
            r_step = r;
            next_at += (size_t)every / 2;
        }
    }
    /* the end: the sentinel task dies. A removal needs no scheduler read and the stream is
     * read in order, so once it is gone from etcd every event before it has been handled (a
     * registry that shows the newest state early, from a read made ahead, does not end it) */
    drain_end = now_us() + secs * 1000000LL;
    buf_reset(&b);
    fake_event(&b, tasks - 1, 0);
    t_sentinel = now_us();
    if (fake_send(&b, drain_end))
        t_sentinel = 0;
    while (t_sentinel && __atomic_load_n(&O.present[tasks - 1], __ATOMIC_ACQUIRE) &&
           now_us() < drain_end)
        usleep(1000);
    if (t_sentinel && !O.present[tasks - 1])
        t_end = now_us();
    rss1 = rss_kb(sub_pid);
    etcd_ops(&er1, &ew1);
    {
        long vis = 0; /* of the restarts sent (a chunk cut short by the bound is not sent) */
        long long tmax = 0, *lag = calloc(sent + 1, sizeof(long long));
        size_t nl = 0;
        for (size_t p = 0; p < sent; p++)
            if (O.t_vis[p]) {
                vis++;
                lag[nl++] = O.t_vis[p] - O.t_sent[p];
                if (O.t_vis[p] > tmax)
                    tmax = O.t_vis[p];
            }
        qsort(lag, nl, sizeof(*lag), cmp_ll);
        double el = t_end > tfirst ? (t_end - tfirst) / 1e6 : 0;
        double tput = el > 0 ? (2.0 * (double)sent + 1) / el : 0;
        (void)tmax;
        char tp[32];
        /* the end not seen: not all events were handled by now. Each restart costs exactly
         * one scheduler read once handled (sched/e 0.50), so the reads estimate how many were */
        if (!t_end)
            tput = 2.0 * (double)(F.reads - reads0) / ((now_us() - tfirst) / 1e6);
        snprintf(tp, sizeof(tp), "%s%.0f", t_end ? "" : "~", tput);
        double ne = 2.0 * (double)sent + 1;
        printf("%-9s %6u %8zu %6ld %9s %8.1f %8.1f %8.1f %6.2f %6.2f %6.2f %5ld %5ld %s\n", kind,
               tasks, 2 * sent, rate, tp, nl ? lag[nl / 2] / 1000.0 : -1,
               nl ? lag[nl * 99 / 100] / 1000.0 : -1, nl ? lag[nl - 1] / 1000.0 : -1,
               sent ? (double)(F.reads - reads0) / (2.0 * (double)sent) : 0,
               (double)(er1 - er0) / ne, (double)(ew1 - ew0) / ne, rss0 / 1024, rss1 / 1024,
               !t_end               ? "(end not seen in time)"
               : (size_t)vis < sent ? "(some starts never visible)"
               : sent < pairs       ? "(sent fewer: time bound)"
                                    : "");
        printf("STREAM kind=%s tasks=%u events=%zu rate=%ld tput=%.0f p50=%.1f p99=%.1f max=%.1f "
               "rss0=%ld rss1=%ld visible=%ld\n",
               kind, tasks, 2 * sent, rate, t_end ? tput : -tput, nl ? lag[nl / 2] / 1000.0 : -1,
               nl ? lag[nl * 99 / 100] / 1000.0 : -1, nl ? lag[nl - 1] / 1000.0 : -1, rss0, rss1,
               2 * vis);
        free(lag);
    }
    fflush(stdout);
    sub_stop();
    printf("STREAM_EXIT status=%d\n", sub_status);
    obs_stop();
    buf_release(&b);
    return 0;
}

/* ---- 4: reconcile ---- */

static long R0, W0; /* etcd's request counts when the row's subscriber started */

static void rec_row(const char *what, long long t_spawn, int64_t rev0, long puts0, long dels0,
                    long want_changes)
{
    long long end = now_us() + 60000000, t_done;
    double base = -1;
    long r1, w1;
    while (now_us() < end && (base = metric("mdo_reconciles_total")) < 1)
        usleep(2000);
    while (now_us() < end && O.puts + O.dels - puts0 - dels0 < want_changes)
        usleep(2000);
    t_done = now_us();
    if (want_changes && O.t_last > F.t_list)
        t_done = O.t_last;
    usleep(500000); /* anything late still counts as a write */
    etcd_ops(&r1, &w1);
    printf("%-16s %9.0f %9.0f %8ld %8ld %9lld %9ld %9ld\n", what, (t_done - t_spawn) / 1000.0,
           (t_done - F.t_list) / 1000.0, O.puts - puts0, O.dels - dels0,
           (long long)(etcd_rev() - rev0), r1 - R0, w1 - W0);
    printf("RECONCILE what=%s ms_pass=%.0f puts=%ld dels=%ld revs=%lld\n", what,
           (t_done - F.t_list) / 1000.0, O.puts - puts0, O.dels - dels0,
           (long long)(etcd_rev() - rev0));
    fflush(stdout);
    (void)base;
}

static int cmd_reconcile(unsigned apps, unsigned tasks)
{
    char where[512];
    struct mdo_err err = MDO_ERR_INIT;
    long long t;
    int64_t rev0;
    long p0, d0;

    open_etcd();
    F.env = getenv("BENCH_ENV") ? getenv("BENCH_ENV") : "brec";
    snprintf(where, sizeof(where), "%s/docker.sock", dir);
    if (fake_start(0, where, apps, tasks))
        die("cannot start the fake engine");
    obs_start(0);
    write_config(where);

    rev0 = etcd_rev();
    etcd_ops(&R0, &W0);
    t = now_us();
    sub_start();
    rec_row("empty registry", t, rev0, 0, 0, (long)F.n);
    sub_stop();

    usleep(200000);
    rev0 = etcd_rev();
    p0 = O.puts, d0 = O.dels;
    etcd_ops(&R0, &W0);
    t = now_us();
    sub_start();
    rec_row("equal registry", t, rev0, p0, d0, 0);
    sub_stop();

    /* 1% different: half removed, half changed */
    usleep(200000);
    for (unsigned i = 0; i < F.n / 100; i++) {
        char name[64], key[256];
        unsigned k = i * 100 + 7;
        fake_task_name(name, sizeof(name), k);
        snprintf(key, sizeof(key), "/mdo/%s/services/s%u/instances/%s", F.env, k / F.tasks, name);
        if (i % 2 ? etcd_delete(&E, key, &err)
                  : etcd_put(&E, key,
                             "{\"service\":\"stale\",\"container\":\"x\",\"state\":\"unhealthy\"}",
                             0, &err))
            die(err.msg);
    }
    usleep(300000);
    rev0 = etcd_rev();
    p0 = O.puts, d0 = O.dels;
    etcd_ops(&R0, &W0);
    t = now_us();
    sub_start();
    rec_row("1% different", t, rev0, p0, d0, (long)F.n / 100);
    printf("RECONCILE_RSS_KB=%ld\n", rss_kb(sub_pid));
    sub_stop();
    obs_stop();
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 3)
        die("usage: see the comment at the top of test/bench/bench.c");
    etcd_url = argv[2];
    if (!strcmp(argv[1], "ceiling") && argc == 5)
        return cmd_ceiling(atoi(argv[3]), atoi(argv[4]));
    if (!strcmp(argv[1], "algo2014") && argc == 6)
        return cmd_algo2014((unsigned)atoi(argv[3]), atol(argv[4]), atol(argv[5]));
    if (argc < 5)
        die("usage: see the comment at the top of test/bench/bench.c");
    mdo_bin = argv[3];
    dir = argv[4];
    if (!strcmp(argv[1], "stream") && argc == 10)
        return cmd_stream(argv[5], (unsigned)atoi(argv[6]), (size_t)atol(argv[7]), atol(argv[8]),
                          atol(argv[9]));
    if (!strcmp(argv[1], "reconcile") && argc == 7)
        return cmd_reconcile((unsigned)atoi(argv[5]), (unsigned)atoi(argv[6]));
    if (!strcmp(argv[1], "nodelist") && argc == 6)
        return cmd_nodelist(atoi(argv[5]));
    die("usage: see the comment at the top of test/bench/bench.c");
    return 1;
}
