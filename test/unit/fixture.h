/* fixture.h - the unit tests' temporary files, stderr captured for a test to read, loopback
 * sockets and fake peers. Fixture
 * I/O is not what a test checks: when it fails, the test program stops (exit 2) instead of
 * counting a check. Header only (static inline): the CMake glob links just the test's own file. */
#ifndef MDO_FIXTURE_H
#define MDO_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char fixture_dir[] = "/tmp/mdo-test-XXXXXX";

__attribute__((noreturn)) static inline void fixture_fail(const char *what, const char *path)
{
    fprintf(stderr, "fixture: %s %s: %s\n", what, path, strerror(errno));
    exit(2);
}

/* Makes fixture_dir (once). */
static inline const char *fixture_tmpdir(void)
{
    if (!strstr(fixture_dir, "XXXXXX"))
        return fixture_dir;
    if (!mkdtemp(fixture_dir))
        fixture_fail("mkdtemp", fixture_dir);
    return fixture_dir;
}

/* "<fixture_dir>/name" in a static buffer. */
static inline const char *fixture_path(const char *name)
{
    static char path[256];

    if (snprintf(path, sizeof(path), "%s/%s", fixture_tmpdir(), name) >= (int)sizeof(path))
        fixture_fail("path too long:", name);
    return path;
}

static inline void fixture_write(const char *path, const void *text, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (!f)
        fixture_fail("cannot create", path);
    if (fwrite(text, 1, len, f) != len || fclose(f))
        fixture_fail("cannot write", path);
}

/* ---- stderr captured: fixture_capture(), the code under test logs, fixture_captured() ---- */

static char fixture_got[16384];
static int fixture_cap_fd = -1, fixture_cap_saved = -1;

/* stderr into an unlinked temp file until fixture_captured() */
static inline void fixture_capture(void)
{
    char path[] = "/tmp/mdo-test-stderr.XXXXXX";

    fflush(stderr);
    fixture_cap_fd = mkstemp(path);
    if (fixture_cap_fd < 0)
        fixture_fail("mkstemp", path);
    unlink(path);
    fixture_cap_saved = dup(STDERR_FILENO);
    if (fixture_cap_saved < 0 || dup2(fixture_cap_fd, STDERR_FILENO) < 0)
        fixture_fail("dup2", "stderr");
}

/* stderr back; what was written to it since fixture_capture(), in fixture_got (the first
 * sizeof(fixture_got) - 1 bytes, NUL-terminated) */
static inline const char *fixture_captured(void)
{
    ssize_t n;

    fflush(stderr);
    dup2(fixture_cap_saved, STDERR_FILENO);
    close(fixture_cap_saved);
    lseek(fixture_cap_fd, 0, SEEK_SET);
    n = read(fixture_cap_fd, fixture_got, sizeof(fixture_got) - 1);
    close(fixture_cap_fd);
    fixture_cap_fd = fixture_cap_saved = -1;
    fixture_got[n > 0 ? n : 0] = '\0';
    return fixture_got;
}

/* A TCP socket bound to 127.0.0.1 on a port the kernel picks (*port), listening with backlog
 * (0: only bound). */
static inline int fixture_loopback(int backlog, int *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) || (backlog && listen(fd, backlog)) ||
        getsockname(fd, (struct sockaddr *)&a, &len))
        fixture_fail("a loopback socket", "127.0.0.1:0");
    *port = ntohs(a.sin_port);
    return fd;
}

/* A loopback port nobody listens on right now (the kernel's pick, released). */
static inline int fixture_free_port(void)
{
    int port;

    close(fixture_loopback(0, &port));
    return port;
}

/* A fake peer: fixture_serve(lfd, conn) accepts on the listening socket lfd from a detached
 * thread and runs conn((void *)(long)fd) on a detached thread per connection (conn closes fd).
 * One per test program; the program stops (exit 2) when the thread cannot start. */
static void *(*fixture_conn)(void *);
static int fixture_lfd = -1;

static inline void *fixture_accept_main(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept(fixture_lfd, NULL, NULL);
        pthread_t t;
        if (fd < 0)
            return NULL;
        if (pthread_create(&t, NULL, fixture_conn, (void *)(long)fd))
            close(fd);
        else
            pthread_detach(t);
    }
}

static inline void fixture_serve(int lfd, void *(*conn)(void *))
{
    pthread_t t;

    fixture_lfd = lfd, fixture_conn = conn;
    if (pthread_create(&t, NULL, fixture_accept_main, NULL))
        fixture_fail("a thread for the fake peer", "");
    pthread_detach(t);
}

/* Reads fd into req (cap bytes; *len already there, kept NUL-terminated) until it holds a whole
 * request: the head and its Content-Length body. That request's length; 0 when fd ends first
 * or it does not fit. What follows it (a pipelined request) stays in req past it. */
static inline size_t fixture_request(int fd, char *req, size_t cap, size_t *len)
{
    for (req[*len] = '\0';;) {
        char *end = strstr(req, "\r\n\r\n"), *cl;
        ssize_t r;
        if (end) {
            size_t head = (size_t)(end + 4 - req), body;
            end[2] = '\0'; /* the head's headers only */
            cl = strcasestr(req, "\ncontent-length:");
            end[2] = '\r';
            body = cl ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
            if (*len >= head + body)
                return head + body;
        }
        if (*len + 1 >= cap || (r = read(fd, req + *len, cap - 1 - *len)) <= 0)
            return 0;
        *len += (size_t)r;
        req[*len] = '\0';
    }
}

#endif
