/* cbpolicy.c - callback targets: the address rules, bounded name lookups, the connection pin */
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cbpolicy.h"
#include "clock.h"
#include "url.h"

#define LOOKUPS_MAX 16 /* name lookups in flight at once (each has a thread of its own) */

/* An address as the rules compare it: IPv4 as 4 bytes, IPv6 as 16, ::ffff:a.b.c.d as IPv4. */
struct addr {
    int family;
    unsigned char a[16];
};

struct deny {
    char *rule; /* "the etcd endpoint HOST:PORT" */
    char *name; /* the host as configured, for a match by name */
    unsigned port;
    struct addr *addrs; /* what it resolved to when the policy was built */
    size_t naddrs;
};

struct cbpolicy {
    struct cbpolicy_net *allow;
    size_t nallow;
    struct deny *deny;
    size_t ndeny;
};

/* ---- addresses and CIDRs ---- */

static int addr_of(const struct sockaddr *sa, struct addr *out)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        out->family = AF_INET;
        memcpy(out->a, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return 0;
    }
    if (sa->sa_family != AF_INET6)
        return -1;
    memcpy(out->a, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
    out->family = AF_INET6;
    if (!memcmp(out->a, mapped, 12)) {
        memmove(out->a, out->a + 12, 4);
        memset(out->a + 4, 0, 12);
        out->family = AF_INET;
    }
    return 0;
}

static int prefix_has(const unsigned char *net, unsigned bits, const unsigned char *a)
{
    unsigned whole = bits / 8, rest = bits % 8;

    if (memcmp(net, a, whole))
        return 0;
    return !rest || !((net[whole] ^ a[whole]) & (0xff << (8 - rest)));
}

static int in_net(const struct cbpolicy_net *n, const struct addr *a)
{
    return n->family == a->family && prefix_has(n->addr, n->bits, a->a);
}

int cbpolicy_cidr_parse(const char *s, struct cbpolicy_net *out)
{
    char host[64], *end;
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    unsigned long bits;
    unsigned max;

    memset(out, 0, sizeof(*out));
    if (!n || n >= sizeof(host))
        return -1;
    memcpy(host, s, n);
    host[n] = '\0';
    if (inet_pton(AF_INET, host, out->addr) == 1)
        out->family = AF_INET;
    else if (inet_pton(AF_INET6, host, out->addr) == 1)
        out->family = AF_INET6;
    else
        return -1;
    max = out->family == AF_INET ? 32 : 128;
    bits = max;
    if (slash) {
        if (slash[1] < '0' || slash[1] > '9' || (slash[1] == '0' && slash[2]))
            return -1;
        errno = 0;
        bits = strtoul(slash + 1, &end, 10);
        if (errno || *end || bits > max)
            return -1;
    }
    out->bits = (unsigned)bits;
    for (unsigned i = out->bits; i < max; i++) /* no host bits past the prefix */
        if (out->addr[i / 8] & (0x80 >> (i % 8)))
            return -1;
    return 0;
}

int cbpolicy_net_has(const struct cbpolicy_net *n, const struct sockaddr *sa)
{
    struct addr a;

    return !addr_of(sa, &a) && in_net(n, &a);
}

/* The rules that need no configuration. */
static const struct {
    const char *cidr, *rule;
} fixed[] = {
    {"127.0.0.0/8", "loopback"}, {"::1/128", "loopback"},      {"169.254.0.0/16", "link-local"},
    {"fe80::/10", "link-local"}, {"0.0.0.0/8", "unspecified"}, {"::/128", "unspecified"},
};

const char *cbpolicy_addr(const struct cbpolicy *p, const struct sockaddr *sa, unsigned port)
{
    struct addr a;

    if (addr_of(sa, &a))
        return "not an IP address";
    for (size_t i = 0; p && i < p->nallow; i++)
        if (in_net(&p->allow[i], &a))
            return NULL;
    for (size_t i = 0; p && i < p->ndeny; i++) { /* the more precise rules first */
        const struct deny *d = &p->deny[i];
        for (size_t k = 0; d->port == port && k < d->naddrs; k++)
            if (d->addrs[k].family == a.family &&
                !memcmp(d->addrs[k].a, a.a, a.family == AF_INET ? 4 : 16))
                return d->rule;
    }
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        struct cbpolicy_net n;
        if (!cbpolicy_cidr_parse(fixed[i].cidr, &n) && in_net(&n, &a))
            return fixed[i].rule;
    }
    return NULL;
}

/* ---- bounded name lookups ---- */

/* One getaddrinfo() on a thread of its own, so its caller can stop waiting: whoever of the two
 * lets go last frees it. */
struct lookup {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int refs, done, rc;
    struct addrinfo *res;
    char host[];
};

static atomic_int lookups; /* in flight */

static void lookup_put(struct lookup *l) /* called with l->lock held; releases it */
{
    int last = --l->refs == 0;

    pthread_mutex_unlock(&l->lock);
    if (!last)
        return;
    if (l->res)
        freeaddrinfo(l->res);
    pthread_cond_destroy(&l->cond);
    pthread_mutex_destroy(&l->lock);
    free(l);
}

static const struct addrinfo hints_any = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC};

static void *lookup_main(void *arg)
{
    struct lookup *l = arg;
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(l->host, NULL, &hints_any, &res);

    pthread_mutex_lock(&l->lock);
    l->rc = rc;
    l->res = res;
    l->done = 1;
    pthread_cond_signal(&l->cond);
    lookup_put(l);
    atomic_fetch_sub(&lookups, 1);
    return NULL;
}

/* getaddrinfo(host) that gives up after timeout_ms. 0 and *res (freeaddrinfo), -MDO_ENOTFOUND,
 * -MDO_ENET (timed out, too many lookups in flight, or a temporary failure), -MDO_ENOMEM. */
static int lookup(const char *host, long timeout_ms, struct addrinfo **res, struct mdo_err *err)
{
    struct addrinfo numeric = hints_any;
    struct timespec until;
    struct lookup *l;
    pthread_attr_t attr;
    pthread_t th;
    size_t n = strlen(host);
    int rc, started;

    *res = NULL;
    numeric.ai_flags = AI_NUMERICHOST; /* an address: no lookup, no thread */
    if (!getaddrinfo(host, NULL, &numeric, res))
        return 0;
    if (atomic_fetch_add(&lookups, 1) >= LOOKUPS_MAX) {
        atomic_fetch_sub(&lookups, 1);
        return err_set(err, MDO_ENET, "too many name lookups in flight to look up '%s'", host);
    }
    if (!(l = calloc(1, sizeof(*l) + n + 1))) {
        atomic_fetch_sub(&lookups, 1);
        return err_set(err, MDO_ENOMEM, "out of memory");
    }
    memcpy(l->host, host, n + 1);
    pthread_mutex_init(&l->lock, NULL);
    clock_cond_init(&l->cond);
    l->refs = 2;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    started = !pthread_create(&th, &attr, lookup_main, l);
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&l->lock);
    if (!started) {
        l->refs--;
        atomic_fetch_sub(&lookups, 1);
        lookup_put(l);
        return err_set(err, MDO_ENET, "cannot start a name lookup for '%s'", host);
    }
    until = clock_timespec(clock_deadline_ms(timeout_ms));
    while (!l->done && pthread_cond_timedwait(&l->cond, &l->lock, &until) != ETIMEDOUT)
        ;
    if (!l->done) {
        lookup_put(l);
        return err_set(err, MDO_ENET, "looking up '%s' took over %ld ms", host, timeout_ms);
    }
    rc = l->rc;
    *res = l->res;
    l->res = NULL;
    lookup_put(l);
    if (!rc)
        return 0;
    if (rc == EAI_NONAME || rc == EAI_NODATA || rc == EAI_FAIL)
        return err_set(err, MDO_ENOTFOUND, "'%s' does not resolve: %s", host, gai_strerror(rc));
    return err_set(err, MDO_ENET, "cannot look up '%s': %s", host, gai_strerror(rc));
}

/* ---- the policy ---- */

int cbpolicy_allow(struct cbpolicy *p, const char *cidr, struct mdo_err *err)
{
    struct cbpolicy_net n, *a;

    if (cbpolicy_cidr_parse(cidr, &n))
        return err_set(err, MDO_ECONFIG, "subscriber.callback_allow: '%s' is not a CIDR", cidr);
    if (!(a = realloc(p->allow, (p->nallow + 1) * sizeof(*a))))
        return err_set(err, MDO_ENOMEM, "out of memory");
    p->allow = a;
    p->allow[p->nallow++] = n;
    return 0;
}

static int deny_add_addr(struct deny *d, const struct sockaddr *sa)
{
    struct addr a, *v;

    if (addr_of(sa, &a))
        return 0;
    if (!(v = realloc(d->addrs, (d->naddrs + 1) * sizeof(*v))))
        return -MDO_ENOMEM;
    d->addrs = v;
    d->addrs[d->naddrs++] = a;
    return 0;
}

/* A new, empty entry for rule "<what> <host>:<port>"; NULL on ENOMEM. */
static struct deny *deny_entry(struct cbpolicy *p, const char *what, const char *host,
                               unsigned port)
{
    struct deny *v = realloc(p->deny, (p->ndeny + 1) * sizeof(*v)), *d;
    size_t n = strlen(what) + strlen(host) + 32;

    if (!v)
        return NULL;
    p->deny = v;
    d = &p->deny[p->ndeny];
    memset(d, 0, sizeof(*d));
    d->port = port;
    d->name = strdup(host);
    d->rule = malloc(n);
    if (!d->name || !d->rule) {
        free(d->name);
        free(d->rule);
        return NULL;
    }
    snprintf(d->rule, n, strchr(host, ':') ? "the %s [%s]:%u" : "the %s %s:%u", what, host, port);
    p->ndeny++;
    return d;
}

int cbpolicy_deny(struct cbpolicy *p, const char *what, const char *host, unsigned port)
{
    struct deny *d = deny_entry(p, what, host, port);
    struct addrinfo *res = NULL;
    int ret = 0;

    if (!d)
        return -MDO_ENOMEM;
    if (lookup(host, CBPOLICY_LOOKUP_MS, &res, NULL) == -MDO_ENOMEM)
        return -MDO_ENOMEM;
    for (struct addrinfo *ai = res; !ret && ai; ai = ai->ai_next)
        ret = deny_add_addr(d, ai->ai_addr);
    if (res)
        freeaddrinfo(res);
    return ret;
}

/* listen is "ADDRESS:PORT" ("[v6]:PORT"); on all addresses ("0.0.0.0", "::", "" or "*"), every
 * address of this host's interfaces at PORT is the subscriber. */
static int deny_listen(struct cbpolicy *p, const char *listen)
{
    const char *colon = strrchr(listen, ':');
    char host[256];
    size_t n = colon ? (size_t)(colon - listen) : 0;
    unsigned long port = colon ? strtoul(colon + 1, NULL, 10) : 0;
    struct ifaddrs *ifs = NULL;
    struct deny *d;
    int ret = 0;

    if (!colon || !port || port > 65535 || n >= sizeof(host))
        return 0;
    if (n >= 2 && listen[0] == '[' && listen[n - 1] == ']') {
        listen++;
        n -= 2;
    }
    memcpy(host, listen, n);
    host[n] = '\0';
    if (n && strcmp(host, "0.0.0.0") && strcmp(host, "::") && strcmp(host, "*"))
        return cbpolicy_deny(p, "subscriber's listen address", host, (unsigned)port);
    if (!(d = deny_entry(p, "subscriber's listen address", n ? host : "*", (unsigned)port)))
        return -MDO_ENOMEM;
    if (getifaddrs(&ifs))
        return 0;
    for (struct ifaddrs *i = ifs; !ret && i; i = i->ifa_next)
        if (i->ifa_addr)
            ret = deny_add_addr(d, i->ifa_addr);
    freeifaddrs(ifs);
    return ret;
}

static int deny_url(struct cbpolicy *p, const char *what, const char *url)
{
    char *host = NULL;
    unsigned port = 0;
    int ret = 0;

    if (url && !url_host_port(url, &host, &port))
        ret = cbpolicy_deny(p, what, host, port);
    free(host);
    return ret;
}

int cbpolicy_new(struct cbpolicy **out, const struct cfg *cfg, struct mdo_err *err)
{
    struct cbpolicy *p = calloc(1, sizeof(*p));
    int ret = p ? 0 : -MDO_ENOMEM;

    *out = NULL;
    for (unsigned i = 0; !ret && cfg && i < cfg->subscriber.ncallback_allow; i++)
        ret = cbpolicy_allow(p, cfg->subscriber.callback_allow[i], err);
    if (!ret && cfg && cfg->subscriber.listen)
        ret = deny_listen(p, cfg->subscriber.listen);
    if (!ret && cfg)
        ret = deny_url(p, "subscriber's public_url", cfg->subscriber.public_url);
    for (unsigned i = 0; !ret && cfg && i < cfg->etcd.nendpoints; i++)
        ret = deny_url(p, "etcd endpoint", cfg->etcd.endpoints[i]);
    if (!ret && cfg)
        ret = deny_url(p, "Marathon URL", cfg->marathon.url);
    if (ret) {
        cbpolicy_free(p);
        return ret == -MDO_ENOMEM ? err_set(err, MDO_ENOMEM, "out of memory") : ret;
    }
    *out = p;
    return 0;
}

void cbpolicy_free(struct cbpolicy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ndeny; i++) {
        free(p->deny[i].rule);
        free(p->deny[i].name);
        free(p->deny[i].addrs);
    }
    free(p->deny);
    free(p->allow);
    free(p);
}

/* Whether sa is in a callback_allow CIDR. */
static int allowed(const struct cbpolicy *p, const struct sockaddr *sa)
{
    struct addr a;

    for (size_t i = 0; p && !addr_of(sa, &a) && i < p->nallow; i++)
        if (in_net(&p->allow[i], &a))
            return 1;
    return 0;
}

/* A configured name (an endpoint given by name) denies that name at its port, whatever it
 * resolves to now, unless every address it resolves to is allowed. */
static const char *denied_by_name(const struct cbpolicy *p, const char *host, unsigned port)
{
    for (size_t i = 0; p && i < p->ndeny; i++)
        if (p->deny[i].port == port && !strcasecmp(p->deny[i].name, host))
            return p->deny[i].rule;
    return NULL;
}

static void pin_of(const struct sockaddr *sa, unsigned port, struct cbpolicy_pin *pin)
{
    char a[INET6_ADDRSTRLEN] = "";
    struct addr x;

    addr_of(sa, &x);
    inet_ntop(x.family, x.a, a, sizeof(a));
    snprintf(pin->addr, sizeof(pin->addr), "%s", a);
    snprintf(pin->connect_to, sizeof(pin->connect_to),
             x.family == AF_INET6 ? "::[%s]:%u" : "::%s:%u", a, port);
    pin->port = port;
}

int cbpolicy_check_url(const struct cbpolicy *p, const char *url, long timeout_ms,
                       struct cbpolicy_pin *pin, struct mdo_err *err)
{
    struct addrinfo *res = NULL;
    char *host = NULL;
    unsigned port = 0;
    const char *rule = NULL;
    int ret;

    if (url_host_port(url, &host, &port))
        return err_set(err, MDO_EUSAGE, "not an http:// or https:// URL with a host");
    ret = lookup(host, timeout_ms, &res, err);
    if ((rule = denied_by_name(p, host, port))) { /* unless every address is listed as allowed */
        int listed = !ret && res;
        for (struct addrinfo *ai = res; listed && ai; ai = ai->ai_next)
            listed = allowed(p, ai->ai_addr);
        if (!listed)
            ret = err_set(err, MDO_EUSAGE,
                          "callback target %s:%u is %s: denied unless subscriber.callback_allow "
                          "lists it",
                          host, port, rule);
    }
    for (struct addrinfo *ai = res; !ret && ai; ai = ai->ai_next) {
        if ((rule = cbpolicy_addr(p, ai->ai_addr, port))) {
            char a[INET6_ADDRSTRLEN] = "";
            struct addr x;
            addr_of(ai->ai_addr, &x);
            inet_ntop(x.family, x.a, a, sizeof(a));
            ret = err_set(err, MDO_EUSAGE,
                          "callback target %s (%s) is %s: denied unless "
                          "subscriber.callback_allow lists it",
                          host, a, rule);
        }
    }
    if (!ret && !res)
        ret = err_set(err, MDO_ENOTFOUND, "'%s' resolves to no address", host);
    if (!ret && pin)
        pin_of(res->ai_addr, port, pin);
    if (res)
        freeaddrinfo(res);
    free(host);
    return ret;
}
