/* fuzz_http.c - the subscriber's HTTP routes (cmd/subscribe_http.c, cmd/subscribe_callbacks.c)
 * called as lib/server.c's dispatch calls them, with a made-up request and no socket: any method,
 * path, Authorization and body, over a registry whose range answers the input gives too. JSON
 * answers parse; HTML answers hold no markup from the registry; the status is an HTTP status.
 * server_route_methods is wrapped to collect the handlers; etcd_call and http_request too, and
 * getaddrinfo: a callback URL's name must not become a DNS query off the host (CI's fuzz run sent
 * them, and LeakSanitizer caught a lookup thread inside glibc's res_send as the input ended).
 * Input: a method byte, the path, '\n', the Authorization header ("" = none), '\n', the body,
 * a NUL byte, the etcd range answer (absent: an empty registry). */
#include <ctype.h>
#include <netdb.h>
#include <string.h>
#include "../../cmd/subscribe.h"
#include "../../cmd/subscribe_callbacks.h"
#include "marathon_fake.h"
#include "sink.h"

#define ROUTES_MAX 16

struct route {
    const char *uri;
    server_fn fn;
    void *ctx;
    unsigned flags;
};
static struct route routes[ROUTES_MAX];
static unsigned nroutes;
static char *range_answer;
static struct sched *sched;

void __wrap_server_route_methods(struct server *s, const char *uri, const char *methods,
                                 server_fn fn, void *ctx, unsigned flags);

void __wrap_server_route_methods(struct server *s, const char *uri, const char *methods,
                                 server_fn fn, void *ctx, unsigned flags)
{
    (void)s;
    (void)methods; /* the handlers are fuzzed whatever the method: they must cope */
    if (nroutes == ROUTES_MAX)
        abort();
    routes[nroutes++] = (struct route){uri, fn, ctx, flags};
}

int __real_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res);
int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res);

/* Addresses as glibc parses them, "localhost" as 127.0.0.1, any other name unknown. */
int __wrap_getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res)
{
    struct addrinfo numeric = hints ? *hints : (struct addrinfo){0};

    numeric.ai_flags |= AI_NUMERICHOST;
    if (node && !strcmp(node, "localhost"))
        node = "127.0.0.1";
    return __real_getaddrinfo(node, service, &numeric, res);
}

static const struct route *match(const char *path)
{
    const struct route *best = NULL;

    for (unsigned i = 0; i < nroutes; i++) {
        size_t n = strlen(routes[i].uri);
        if (strncmp(path, routes[i].uri, n) ||
            (path[n] && path[n] != '/' && routes[i].uri[n - 1] != '/'))
            continue;
        if (!best || n > strlen(best->uri))
            best = &routes[i];
    }
    return best;
}

static const char *etcd_answer(const char *path, const char *body)
{
    (void)body;
    if (!strcmp(path, "/v3/kv/range"))
        return range_answer && *range_answer ? range_answer : "{\"header\":{\"revision\":\"3\"}}";
    if (!strcmp(path, "/v3/kv/txn"))
        return "{\"header\":{\"revision\":\"4\"},\"succeeded\":true}";
    return "{\"header\":{\"revision\":\"4\"}}";
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static struct etcd etcd;
    static struct keeper k;
    static struct sub_face face;
    struct callbacks *cb;
    struct mdo_err err = MDO_ERR_INIT;
    struct sched *s;

    (void)argc, (void)argv;
    fuzz_quiet();
    s = marathon_open("callback");
    fuzz_etcd(&etcd);
    fuzz_etcd_handler(etcd_answer);
    sched = s;
    face.cfg = mar_of(s)->cfg;
    keeper_init(&k, face.cfg, &etcd, &sched_marathon, s);
    face.etcd = &etcd;
    face.k = &k;
    face.ops = &sched_marathon;
    face.sched = s;
    face.sink = &sink;
    if (callbacks_start(&cb, face.cfg, &etcd, &err)) {
        fprintf(stderr, "fuzz: callbacks_start: %s\n", err.msg);
        abort();
    }
    face.cb = cb;
    sub_http_routes(NULL, &face, 1);
    subscribe_callbacks_routes(NULL, cb);
    return 0;
}

static int has_markup(const char *p, size_t n)
{
    static const char bad[] = "<script";

    for (size_t i = 0; i + sizeof(bad) - 1 <= n; i++) {
        size_t j = 0;
        while (j < sizeof(bad) - 1 && tolower((unsigned char)p[i + j]) == bad[j])
            j++;
        if (j == sizeof(bad) - 1)
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const methods[] = {"GET", "POST", "DELETE", "PUT", "HEAD", "OPTIONS"};
    struct server_req req = {0};
    struct server_resp resp = {200, "application/json", BUF_INIT(64u << 20)};
    const struct route *r;
    const uint8_t *rest;
    size_t nrest;
    char *in, *path, *auth, *body, *nl;

    if (!size)
        return 0;
    in = fuzz_split(data + 1, size - 1, &rest, &nrest);
    range_answer = fuzz_split(rest, nrest, &rest, &nrest);
    path = in;
    auth = (nl = strchr(path, '\n')) ? (*nl = '\0', nl + 1) : path + strlen(path);
    body = (nl = strchr(auth, '\n')) ? (*nl = '\0', nl + 1) : auth + strlen(auth);
    req.method = methods[data[0] % 6];
    req.head = !strcmp(req.method, "HEAD");
    if (req.head)
        req.method = "GET";
    req.path = *path ? path : "/";
    req.query = strchr(path, '?') ? strchr(path, '?') + 1 : NULL;
    req.authorization = *auth ? auth : NULL;
    req.body = body;
    req.body_len = strlen(body);
    r = match(req.path);
    fuzz_etcd_handler(etcd_answer); /* counts this input's calls afresh */
    if (r) {
        r->fn(r->ctx, &req, &resp);
        if (resp.status < 100 || resp.status > 599)
            abort();
        if (!strcmp(resp.content_type, "application/json") && resp.body.len) {
            cJSON *o = cJSON_ParseWithLength(resp.body.ptr, resp.body.len);
            if (!o) {
                fprintf(stderr, "fuzz_http: %s %s: not JSON\n", req.method, req.path);
                abort();
            }
            cJSON_Delete(o);
        }
        if (!strncmp(resp.content_type, "text/html", 9) && has_markup(resp.body.ptr, resp.body.len))
            abort();
    }
    mar_events_stop(mar_of(sched)); /* a callback's worker ends with its input */
    buf_release(&resp.body);
    free(range_answer);
    range_answer = NULL;
    free(in);
    return 0;
}
