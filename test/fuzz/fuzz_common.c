/* fuzz_common.c - the fuzz targets' shared config, quiet logs and network fakes (fuzz.h) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "fuzz.h"
#include "log.h"

int __wrap_etcd_call(struct etcd *e, const char *path, const char *body, cJSON **out,
                     struct mdo_err *err);
int __wrap_http_request(const struct http_conn *c, const char *method, const char *url,
                        const char *body, size_t body_len, const char *content_type,
                        struct http_resp *resp, struct mdo_err *err);

void fuzz_quiet(void)
{
    setenv("MDO_LOG", "error", 0);
    log_init();
}

int fuzz_cfg_load(const char *p, size_t n, struct cfg **out, struct mdo_err *err)
{
    char path[64];
    int fd = memfd_create("mdo-fuzz.yaml", 0), ret;

    *out = NULL;
    if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n)) {
        perror("fuzz: memfd");
        abort();
    }
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ret = cfg_load(path, out, err);
    close(fd);
    return ret;
}

struct cfg *fuzz_cfg(const char *yaml)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *cfg;

    if (fuzz_cfg_load(yaml, strlen(yaml), &cfg, &err)) {
        fprintf(stderr, "fuzz: the target's config does not load: %s\n", err.msg);
        abort();
    }
    return cfg;
}

void fuzz_etcd(struct etcd *e)
{
    static char ep[] = "http://127.0.0.1:9";
    char *eps[] = {ep};
    struct mdo_err err = MDO_ERR_INIT;

    if (etcd_open(e, eps, 1, NULL, NULL, NULL, NULL, NULL, &err)) {
        fprintf(stderr, "fuzz: etcd_open: %s\n", err.msg);
        abort();
    }
}

static const char *const *q_bodies;
static const size_t *q_lens;
static size_t q_n, q_next;
static unsigned calls;
static const char *(*handler)(const char *path, const char *body);

void fuzz_etcd_queue(const char *const *bodies, const size_t *lens, size_t n)
{
    q_bodies = bodies;
    q_lens = lens;
    q_n = n;
    q_next = 0;
    calls = 0;
}

void fuzz_etcd_handler(const char *(*fn)(const char *path, const char *body))
{
    handler = fn;
    calls = 0;
}

unsigned fuzz_etcd_calls(void)
{
    return calls;
}

int __wrap_etcd_call(struct etcd *e, const char *path, const char *body, cJSON **out,
                     struct mdo_err *err)
{
    const char *ans;
    size_t len;

    (void)e;
    *out = NULL;
    if (++calls > FUZZ_CALLS_MAX) {
        fprintf(stderr, "fuzz: over %d etcd calls for one input (%s): a loop\n", FUZZ_CALLS_MAX,
                path);
        abort();
    }
    if (handler) {
        ans = handler(path, body);
        len = ans ? strlen(ans) : 0;
    } else if (q_n) {
        size_t i = q_next < q_n ? q_next++ : q_n - 1;
        ans = q_bodies[i];
        len = q_lens[i];
    } else {
        ans = NULL;
        len = 0;
    }
    if (!ans)
        return err_tag(err_set(err, MDO_ENET, "etcd unreachable (fuzz)"), err, MDO_SRC_ETCD);
    *out = cJSON_ParseWithLength(ans, len);
    if (!*out)
        return err_tag(err_set(err, MDO_EPROTO, "POST %s: answer is not JSON", path), err,
                       MDO_SRC_ETCD);
    return 0;
}

static void (*http_fn)(const char *method, const char *url, struct http_resp *resp);

void fuzz_http_handler(void (*fn)(const char *method, const char *url, struct http_resp *resp))
{
    http_fn = fn;
}

int __wrap_http_request(const struct http_conn *c, const char *method, const char *url,
                        const char *body, size_t body_len, const char *content_type,
                        struct http_resp *resp, struct mdo_err *err)
{
    (void)c, (void)body, (void)body_len, (void)content_type, (void)err;
    buf_reset(&resp->body);
    resp->status = 404;
    if (http_fn)
        http_fn(method, url, resp);
    return 0;
}

char *fuzz_split(const uint8_t *data, size_t size, const uint8_t **rest, size_t *nrest)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t n = nul ? (size_t)(nul - data) : size;
    char *a = malloc(n + 1);

    if (!a)
        abort();
    memcpy(a, data, n);
    a[n] = '\0';
    *rest = nul ? nul + 1 : data + size;
    *nrest = nul ? size - n - 1 : 0;
    return a;
}
