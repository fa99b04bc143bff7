/* fake.c - the bench's fake schedulers: a Docker engine on a unix socket (/containers/json,
 * /containers/<id>/json, /events) or a Marathon on a loopback port (/v2/apps, /v2/events SSE),
 * holding A apps of T tasks each, and the event generator that feeds the stream.
 *
 * Task k is app k / T, index k % T. Its "generation" g (a restart counter) is its StartedAt:
 * BASE + g seconds, so every restart gives the subscriber new bytes to write and the observer
 * can tell which event a registry value reflects. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"

#define BASE_TIME 1767225600 /* 2026-01-01T00:00:00Z */

struct fake F;

static void started_at(char out[21], int gen)
{
    time_t t = BASE_TIME + gen;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void fake_task_name(char *out, size_t n, unsigned k)
{
    if (F.marathon)
        snprintf(out, n, "s%u.t%u", k / F.tasks, k);
    else
        snprintf(out, n, "%s-s%u-%u", F.env, k / F.tasks, k % F.tasks);
}

/* the task index a registry key's last segment names, or -1 */
long fake_task_of(const char *seg)
{
    const char *p = strrchr(seg, F.marathon ? 't' : '-');
    char *end;
    long k;

    if (!p)
        return -1;
    k = strtol(p + 1, &end, 10);
    if (*end)
        return -1;
    if (!F.marathon) {
        const char *s = strstr(seg, "-s");
        long a = s ? strtol(s + 2, NULL, 10) : -1;
        if (a < 0)
            return -1;
        k += a * (long)F.tasks;
    }
    return k >= 0 && (unsigned long)k < F.n ? k : -1;
}

/* ---- Docker ---- */

static void dk_inspect(struct buf *b, unsigned k)
{
    char name[64], ts[21];
    fake_task_name(name, sizeof(name), k);
    started_at(ts, __atomic_load_n(&F.gen[k], __ATOMIC_ACQUIRE));
    buf_addf(
        b,
        "{\"Id\":\"%064x\",\"Name\":\"/%s\",\"State\":{\"Status\":\"running\",\"Running\":true,"
        "\"Restarting\":false,\"StartedAt\":\"%s\"},\"Config\":{\"Image\":\"bench:1\","
        "\"Labels\":{\"mdo.environment\":\"%s\",\"mdo.service\":\"s%u\",\"mdo.app_version\":"
        "\"v1\",\"mdo.ports\":\"[{\\\"name\\\":\\\"http\\\",\\\"port\\\":80,\\\"protocol\\\":"
        "\\\"tcp\\\"}]\"}},\"NetworkSettings\":{\"IPAddress\":\"172.17.%u.%u\",\"Ports\":"
        "{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"%u\"}]}}}",
        k, name, ts, F.env, k / F.tasks, (k >> 8) & 255, k & 255, 20000 + k % 40000);
}

static void dk_list(struct buf *b)
{
    buf_addc(b, '[');
    for (unsigned k = 0; k < F.n; k++) {
        char name[64];
        fake_task_name(name, sizeof(name), k);
        buf_addf(b,
                 "%s{\"Id\":\"%064x\",\"Names\":[\"/%s\"],\"Image\":\"bench:1\",\"State\":"
                 "\"running\",\"Labels\":{\"mdo.environment\":\"%s\",\"mdo.service\":\"s%u\","
                 "\"mdo.app_version\":\"v1\"}}",
                 k ? "," : "", k, name, F.env, k / F.tasks);
    }
    buf_addc(b, ']');
}

static void dk_event(struct buf *b, unsigned k, int up)
{
    char name[64];
    fake_task_name(name, sizeof(name), k);
    buf_addf(b,
             "{\"status\":\"%s\",\"id\":\"%064x\",\"from\":\"bench:1\",\"Type\":\"container\","
             "\"Action\":\"%s\",\"Actor\":{\"ID\":\"%064x\",\"Attributes\":{\"name\":\"%s\","
             "\"mdo.environment\":\"%s\",\"mdo.service\":\"s%u\"}},\"time\":%ld}\n",
             up ? "start" : "die", k, up ? "start" : "die", k, name, F.env, k / F.tasks,
             (long)time(NULL));
}

/* ---- Marathon: each app pre-rendered once; a restart patches its task's startedAt in place
 * (fixed width), so serving an app costs a copy, never a render ---- */

static void mar_render(unsigned a)
{
    struct buf *b = &F.app[a];
    buf_addf(b,
             "{\"id\":\"/%s/s%u\",\"instances\":%u,\"labels\":{\"mdo.environment\":\"%s\","
             "\"mdo.service\":\"s%u\",\"mdo.app_version\":\"v1\"},\"container\":{\"type\":"
             "\"DOCKER\",\"portMappings\":[{\"containerPort\":80,\"hostPort\":0,\"name\":\"http\","
             "\"protocol\":\"tcp\"}]},\"version\":\"v1\",\"tasks\":[",
             F.env, a, F.tasks, F.env, a);
    for (unsigned i = 0; i < F.tasks; i++) {
        unsigned k = a * F.tasks + i;
        char ts[21];
        started_at(ts, 0);
        buf_addf(b,
                 "%s{\"id\":\"s%u.t%u\",\"appId\":\"/%s/s%u\",\"host\":\"127.0.0.1\",\"state\":"
                 "\"TASK_RUNNING\",\"ports\":[%u],\"ipAddresses\":[{\"ipAddress\":\"10.0.%u.%u\","
                 "\"protocol\":\"IPv4\"}],\"version\":\"v1\",\"startedAt\":\"",
                 i ? "," : "", a, k, F.env, a, 20000 + k % 40000, (k >> 8) & 255, k & 255);
        F.ts_off[k] = b->len;
        buf_addf(b, "%s\"}", ts);
    }
    buf_adds(b, "]}");
}

static void mar_patch(unsigned k, int gen)
{
    unsigned a = k / F.tasks;
    char ts[21];
    started_at(ts, gen);
    pthread_mutex_lock(&F.app_lock[a]);
    memcpy(F.app[a].ptr + F.ts_off[k], ts, 20);
    pthread_mutex_unlock(&F.app_lock[a]);
}

static void mar_copy(struct buf *b, unsigned a)
{
    pthread_mutex_lock(&F.app_lock[a]);
    buf_add(b, F.app[a].ptr, F.app[a].len);
    pthread_mutex_unlock(&F.app_lock[a]);
}

/* The event's timestamp is the task's StartedAt too: a subscriber that registers from the
 * event's own fields sees each restart's generation there. */
static void mar_event(struct buf *b, unsigned k, int up)
{
    char ts[21];
    started_at(ts, __atomic_load_n(&F.gen[k], __ATOMIC_ACQUIRE));
    buf_addf(b,
             "event: status_update_event\ndata: {\"eventType\":\"status_update_event\","
             "\"timestamp\":\"%.19s.000Z\",\"slaveId\":\"a1\",\"taskId\":"
             "\"s%u.t%u\",\"taskStatus\":\"%s\",\"message\":\"\",\"appId\":\"/%s/s%u\",\"host\":"
             "\"127.0.0.1\",\"ipAddresses\":[{\"ipAddress\":\"10.0.%u.%u\",\"protocol\":\"IPv4\"}],"
             "\"ports\":[%u],\"version\":\"v1\"}\n\n",
             ts, k / F.tasks, k, up ? "TASK_RUNNING" : "TASK_KILLED", F.env, k / F.tasks,
             (k >> 8) & 255, k & 255, 20000 + k % 40000);
}

void fake_event(struct buf *b, unsigned k, int up)
{
    if (F.marathon)
        mar_event(b, k, up);
    else
        dk_event(b, k, up);
}

/* ---- the server: one thread per connection, keep-alive ---- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int answer(int fd, int status, const char *type, const struct buf *body)
{
    char head[256];
    struct iovec iov[2];
    ssize_t w;
    size_t left;
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Api-Version: 1.41\r\n\r\n",
                     status, status == 200 ? "OK" : "Not Found", type, body->len);
    /* head and body in one write: two small writes meet Nagle and delayed ACK (40 ms) */
    iov[0] = (struct iovec){head, (size_t)n};
    static char none[1];
    iov[1] = (struct iovec){body->ptr ? body->ptr : none, body->len};
    w = writev(fd, iov, 2);
    if (w < 0)
        return -1;
    left = (size_t)n + body->len - (size_t)w;
    if (!left)
        return 0;
    if ((size_t)w < (size_t)n)
        return write_all(fd, head + w, (size_t)n - (size_t)w) ||
               write_all(fd, body->ptr ? body->ptr : "", body->len);
    return write_all(fd, body->ptr + ((size_t)w - (size_t)n), left);
}

/* the event stream: registered as the sink, then held open until the peer leaves */
static void stream(int fd)
{
    static const char dk_head[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                  "Api-Version: 1.41\r\nConnection: close\r\n\r\n";
    static const char mar_head[] =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
        "event: event_stream_attached\ndata: {\"remoteAddress\":\"127.0.0.1\","
        "\"eventType\":\"event_stream_attached\",\"timestamp\":\"2026-01-01T00:00:00.000Z\"}\n\n";
    char c;

    if (F.marathon ? write_all(fd, mar_head, sizeof(mar_head) - 1)
                   : write_all(fd, dk_head, sizeof(dk_head) - 1))
        return;
    pthread_mutex_lock(&F.ev_lock);
    F.ev_fd = fd;
    F.streams++;
    pthread_mutex_unlock(&F.ev_lock);
    while (read(fd, &c, 1) > 0) /* the subscriber never sends on it: this waits for close */
        ;
    pthread_mutex_lock(&F.ev_lock);
    if (F.ev_fd == fd)
        F.ev_fd = -1;
    pthread_mutex_unlock(&F.ev_lock);
}

static void route(int fd, const char *path, int *keep)
{
    struct buf b = BUF_INIT(0);
    const char *p = path, *q;
    int status = 200;

    if (!strncmp(p, "/v1.", 4) && (q = strchr(p + 1, '/')))
        p = q; /* Docker's API version prefix */
    if (!strncmp(p, "/events", 7) || !strncmp(p, "/v2/events", 10)) {
        stream(fd);
        *keep = 0;
        return;
    }
    if (!F.marathon && !strncmp(p, "/containers/json", 16)) {
        __atomic_store_n(&F.t_list, now_us(), __ATOMIC_RELEASE);
        __atomic_add_fetch(&F.lists, 1, __ATOMIC_RELAXED);
        dk_list(&b);
    } else if (!F.marathon && !strncmp(p, "/containers/", 12)) {
        unsigned long k = strtoul(p + 12, NULL, 16);
        __atomic_add_fetch(&F.reads, 1, __ATOMIC_RELAXED);
        if (k < F.n)
            dk_inspect(&b, (unsigned)k);
        else
            status = 404;
    } else if (!F.marathon && (!strncmp(p, "/_ping", 6) || !strncmp(p, "/version", 8))) {
        buf_adds(&b, "{\"ApiVersion\":\"1.41\",\"Version\":\"20.10.0\"}");
    } else if (F.marathon && !strncmp(p, "/v2/apps?", 9)) {
        __atomic_store_n(&F.t_list, now_us(), __ATOMIC_RELEASE);
        __atomic_add_fetch(&F.lists, 1, __ATOMIC_RELAXED);
        buf_adds(&b, "{\"apps\":[");
        for (unsigned a = 0; a < F.apps; a++) {
            if (a)
                buf_addc(&b, ',');
            mar_copy(&b, a);
        }
        buf_adds(&b, "]}");
    } else if (F.marathon && !strncmp(p, "/v2/apps/", 9) && !strncmp(p + 9, F.env, strlen(F.env)) &&
               p[9 + strlen(F.env)] == '/' && p[10 + strlen(F.env)] == 's') {
        unsigned long a = strtoul(p + 11 + strlen(F.env), NULL, 10);
        __atomic_add_fetch(&F.reads, 1, __ATOMIC_RELAXED);
        if (a < F.apps) {
            buf_adds(&b, "{\"app\":");
            mar_copy(&b, (unsigned)a);
            buf_addc(&b, '}');
        } else {
            status = 404;
        }
    } else if (F.marathon && (!strncmp(p, "/v2/info", 8) || !strncmp(p, "/ping", 5))) {
        buf_adds(&b, "{\"name\":\"marathon\",\"version\":\"1.10.0\"}");
    } else {
        status = 404;
    }
    if (status == 404)
        buf_adds(&b, "{\"message\":\"not found\"}");
    if (answer(fd, status, "application/json", &b))
        *keep = 0;
    buf_release(&b);
}

static void *conn_main(void *arg)
{
    int fd = (int)(long)arg, keep = 1;
    struct buf in = BUF_INIT(1u << 20);

    while (keep) {
        char chunk[8192], *end, path[2048];
        ssize_t r;
        size_t hl, cl = 0;
        const char *h;
        while (!in.ptr || !(end = memmem(in.ptr, in.len, "\r\n\r\n", 4))) {
            r = read(fd, chunk, sizeof(chunk));
            if (r <= 0 || buf_add(&in, chunk, (size_t)r))
                goto out;
        }
        hl = (size_t)(end - in.ptr) + 4;
        buf_addc(&in, '\0');
        in.len--;
        if (sscanf(in.ptr, "%*s %2047s", path) != 1)
            break;
        if ((h = strcasestr(in.ptr, "\ncontent-length:")) && h < end)
            cl = strtoul(h + 16, NULL, 10);
        while (in.len < hl + cl) {
            r = read(fd, chunk, sizeof(chunk));
            if (r <= 0 || buf_add(&in, chunk, (size_t)r))
                goto out;
        }
        buf_consume(&in, hl + cl);
        route(fd, path, &keep);
    }
out:
    buf_release(&in);
    close(fd);
    return NULL;
}

static void *accept_main(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(F.lfd, NULL, NULL);
        pthread_t t;
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return NULL;
        }
        if (F.marathon) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        if (pthread_create(&t, NULL, conn_main, (void *)(long)fd))
            close(fd);
        else
            pthread_detach(t);
    }
}

int fake_start(int marathon, const char *where, unsigned apps, unsigned tasks)
{
    pthread_t t;

    signal(SIGPIPE, SIG_IGN);
    F.marathon = marathon;
    F.apps = apps;
    F.tasks = tasks;
    F.n = apps * tasks;
    F.ev_fd = -1;
    if (!F.env)
        F.env = "bench";
    pthread_mutex_init(&F.ev_lock, NULL);
    F.gen = calloc(F.n, sizeof(*F.gen));
    if (marathon) {
        F.app = calloc(apps, sizeof(*F.app));
        F.app_lock = calloc(apps, sizeof(*F.app_lock));
        F.ts_off = calloc(F.n, sizeof(*F.ts_off));
        for (unsigned a = 0; a < apps; a++) {
            F.app[a] = (struct buf)BUF_INIT(0);
            pthread_mutex_init(&F.app_lock[a], NULL);
            mar_render(a);
        }
        F.lfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(where))};
        int one = 1;
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        setsockopt(F.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(F.lfd, (struct sockaddr *)&sa, sizeof(sa)))
            return -1;
    } else {
        struct sockaddr_un su = {.sun_family = AF_UNIX};
        snprintf(su.sun_path, sizeof(su.sun_path), "%s", where);
        unlink(where);
        F.lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (bind(F.lfd, (struct sockaddr *)&su, sizeof(su)))
            return -1;
    }
    if (listen(F.lfd, 256))
        return -1;
    return pthread_create(&t, NULL, accept_main, NULL) ? -1 : (pthread_detach(t), 0);
}

/* A restart of task k to generation gen: the scheduler's state first, then the event. */
void fake_restart(struct buf *b, unsigned k, int gen)
{
    fake_event(b, k, 0);
    __atomic_store_n(&F.gen[k], gen, __ATOMIC_RELEASE);
    if (F.marathon)
        mar_patch(k, gen);
    fake_event(b, k, 1);
}

/* Writes b to the event stream, waiting at most until deadline_us; -1 when no stream or the
 * deadline passed. */
int fake_send(const struct buf *b, long long deadline_us)
{
    size_t off = 0;
    int fd;

    pthread_mutex_lock(&F.ev_lock);
    fd = F.ev_fd;
    pthread_mutex_unlock(&F.ev_lock);
    if (fd < 0)
        return -1;
    while (off < b->len) {
        struct pollfd p = {fd, POLLOUT, 0};
        long long left = deadline_us - now_us();
        ssize_t w;
        if (left <= 0 || poll(&p, 1, (int)(left / 1000) + 1) < 0)
            return -1;
        if (!(p.revents & POLLOUT))
            continue;
        w = send(fd, b->ptr + off, b->len - off, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}
