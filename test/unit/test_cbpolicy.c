/* test_cbpolicy.c - callback targets: the rule table (v4, v6, CIDR edges), host:port equality
 * with the configured endpoints, the allow list, URLs judged by what they resolve to, and the
 * registration caps (cbreg_count, and cbreg_admit against a real etcd) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "cbpolicy.h"
#include "cbreg.h"
#include "check.h"
#include "etcd_fixture.c"

/* The rule denying addr:port under p ("" when allowed). */
static const char *judge(const struct cbpolicy *p, const char *addr, unsigned port)
{
    struct sockaddr_in a4 = {.sin_family = AF_INET};
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6};
    const char *r;

    if (inet_pton(AF_INET, addr, &a4.sin_addr) == 1)
        r = cbpolicy_addr(p, (struct sockaddr *)&a4, port);
    else if (inet_pton(AF_INET6, addr, &a6.sin6_addr) == 1)
        r = cbpolicy_addr(p, (struct sockaddr *)&a6, port);
    else
        return "bad test address";
    return r ? r : "";
}

static void cidr_tests(void)
{
    struct cbpolicy_net n;
    struct sockaddr_in a = {.sin_family = AF_INET};
    struct sockaddr_in6 b = {.sin6_family = AF_INET6};

    CHECK_INT(cbpolicy_cidr_parse("10.0.0.0/8", &n), 0);
    CHECK_INT(n.family, AF_INET);
    CHECK_INT(n.bits, 8);
    inet_pton(AF_INET, "10.255.255.255", &a.sin_addr);
    CHECK(cbpolicy_net_has(&n, (struct sockaddr *)&a));
    inet_pton(AF_INET, "11.0.0.0", &a.sin_addr);
    CHECK(!cbpolicy_net_has(&n, (struct sockaddr *)&a));
    inet_pton(AF_INET, "9.255.255.255", &a.sin_addr);
    CHECK(!cbpolicy_net_has(&n, (struct sockaddr *)&a));
    CHECK_INT(cbpolicy_cidr_parse("127.0.0.1", &n), 0); /* an address alone: /32 */
    CHECK_INT(n.bits, 32);
    CHECK_INT(cbpolicy_cidr_parse("0.0.0.0/0", &n), 0);
    inet_pton(AF_INET, "203.0.113.9", &a.sin_addr);
    CHECK(cbpolicy_net_has(&n, (struct sockaddr *)&a));
    CHECK(!cbpolicy_net_has(&n, (struct sockaddr *)&b)); /* families never mix */
    CHECK_INT(cbpolicy_cidr_parse("172.16.0.0/12", &n), 0);
    inet_pton(AF_INET, "172.31.255.255", &a.sin_addr);
    CHECK(cbpolicy_net_has(&n, (struct sockaddr *)&a));
    inet_pton(AF_INET, "172.32.0.0", &a.sin_addr);
    CHECK(!cbpolicy_net_has(&n, (struct sockaddr *)&a));
    CHECK_INT(cbpolicy_cidr_parse("fd00::/8", &n), 0);
    CHECK_INT(n.family, AF_INET6);
    inet_pton(AF_INET6, "fdff:ffff::1", &b.sin6_addr);
    CHECK(cbpolicy_net_has(&n, (struct sockaddr *)&b));
    inet_pton(AF_INET6, "fe00::1", &b.sin6_addr);
    CHECK(!cbpolicy_net_has(&n, (struct sockaddr *)&b));
    CHECK_INT(cbpolicy_cidr_parse("::1", &n), 0);
    CHECK_INT(n.bits, 128);
    CHECK_INT(cbpolicy_cidr_parse("2001:db8::/127", &n), 0);
    /* refused: host bits past the prefix, bad lengths, names, junk */
    CHECK_INT(cbpolicy_cidr_parse("10.0.0.1/8", &n), -1);
    CHECK_INT(cbpolicy_cidr_parse("10.0.0.0/33", &n), -1);
    CHECK_INT(cbpolicy_cidr_parse("10.0.0.0/", &n), -1);
    CHECK_INT(cbpolicy_cidr_parse("10.0.0.0/08", &n), -1);
    CHECK_INT(cbpolicy_cidr_parse("10.0.0.0/-1", &n), -1);
    CHECK_INT(cbpolicy_cidr_parse("10.0.0.0/8x", &n), -1);
    CHECK_INT(cbpolicy_cidr_parse("::/129", &n), -1);
    CHECK_INT(cbpolicy_cidr_parse("2001:db8::1/64", &n), -1);
    CHECK_INT(cbpolicy_cidr_parse("localhost", &n), -1);
    CHECK_INT(cbpolicy_cidr_parse("10.0.0", &n), -1);
    CHECK_INT(cbpolicy_cidr_parse("", &n), -1);
    CHECK_INT(cbpolicy_cidr_parse("/8", &n), -1);
}

static void rule_tests(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cbpolicy *p = NULL;

    CHECK_INT(cbpolicy_new(&p, NULL, &err), 0);
    /* the fixed rules, at their edges */
    CHECK_STR(judge(p, "127.0.0.1", 80), "loopback");
    CHECK_STR(judge(p, "127.255.255.255", 80), "loopback");
    CHECK_STR(judge(p, "126.255.255.255", 80), "");
    CHECK_STR(judge(p, "128.0.0.0", 80), "");
    CHECK_STR(judge(p, "169.254.169.254", 80), "link-local");
    CHECK_STR(judge(p, "169.254.0.0", 80), "link-local");
    CHECK_STR(judge(p, "169.253.255.255", 80), "");
    CHECK_STR(judge(p, "169.255.0.0", 80), "");
    CHECK_STR(judge(p, "0.0.0.0", 80), "unspecified");
    CHECK_STR(judge(p, "0.255.255.255", 80), "unspecified");
    CHECK_STR(judge(p, "1.0.0.0", 80), "");
    CHECK_STR(judge(p, "172.17.0.1", 5000), ""); /* the Docker bridge stays allowed */
    CHECK_STR(judge(p, "10.1.2.3", 2379), "");
    CHECK_STR(judge(p, "::1", 80), "loopback");
    CHECK_STR(judge(p, "::", 80), "unspecified");
    CHECK_STR(judge(p, "::2", 80), "");
    CHECK_STR(judge(p, "fe80::1", 80), "link-local");
    CHECK_STR(judge(p, "febf:ffff::1", 80), "link-local");
    CHECK_STR(judge(p, "fec0::1", 80), "");
    CHECK_STR(judge(p, "fe7f::1", 80), "");
    CHECK_STR(judge(p, "2001:db8::1", 80), "");
    /* IPv4-mapped IPv6 is judged as the IPv4 it carries */
    CHECK_STR(judge(p, "::ffff:127.0.0.1", 80), "loopback");
    CHECK_STR(judge(p, "::ffff:169.254.169.254", 80), "link-local");
    CHECK_STR(judge(p, "::ffff:10.0.0.1", 80), "");

    /* host:port equality: that port of that address only */
    CHECK_INT(cbpolicy_deny(p, "etcd endpoint", "10.0.0.5", 2379), 0);
    CHECK_INT(cbpolicy_deny(p, "Marathon URL", "2001:db8::8", 8080), 0);
    CHECK_STR(judge(p, "10.0.0.5", 2379), "the etcd endpoint 10.0.0.5:2379");
    CHECK_STR(judge(p, "::ffff:10.0.0.5", 2379), "the etcd endpoint 10.0.0.5:2379");
    CHECK_STR(judge(p, "10.0.0.5", 2380), "");
    CHECK_STR(judge(p, "10.0.0.6", 2379), "");
    CHECK_STR(judge(p, "2001:db8::8", 8080), "the Marathon URL [2001:db8::8]:8080");
    CHECK_STR(judge(p, "2001:db8::8", 8081), "");

    /* the allow list opens exactly what it lists, whatever rule it would break */
    CHECK_INT(cbpolicy_allow(p, "127.0.0.1", &err), 0);
    CHECK_INT(cbpolicy_allow(p, "10.0.0.4/31", &err), 0);
    CHECK_INT(cbpolicy_allow(p, "fe80::/64", &err), 0);
    CHECK_STR(judge(p, "127.0.0.1", 80), "");
    CHECK_STR(judge(p, "127.0.0.2", 80), "loopback");
    CHECK_STR(judge(p, "10.0.0.5", 2379), "");
    CHECK_STR(judge(p, "fe80::1", 80), "");
    CHECK_STR(judge(p, "fe80:0:0:1::1", 80), "link-local");
    CHECK_STR(judge(p, "::1", 80), "loopback");
    CHECK_INT(cbpolicy_allow(p, "10.0.0.1/8", &err), -MDO_ECONFIG);
    CHECK_HAS(err.msg, "callback_allow");
    cbpolicy_free(p);
}

static void cfg_tests(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cbpolicy *p = NULL;
    struct cfg cfg;
    char e1[] = "http://10.9.0.1:2379", e2[] = "https://localhost:2379";
    char m[] = "http://10.9.0.2:8080", l1[] = "10.9.0.3:5000", l2[] = "0.0.0.0:5000";
    char pu[] = "http://10.9.0.4/", a1[] = "192.0.2.0/24", b1[] = "192.0.2.1/24";
    char *eps[] = {e1, e2}, *allow[] = {a1}, *bad[] = {b1};

    memset(&cfg, 0, sizeof(cfg));
    cfg.etcd.endpoints = eps;
    cfg.etcd.nendpoints = 2;
    cfg.marathon.url = m;
    cfg.subscriber.listen = l1;
    cfg.subscriber.public_url = pu;
    cfg.subscriber.callback_allow = allow;
    cfg.subscriber.ncallback_allow = 1;
    CHECK_INT(cbpolicy_new(&p, &cfg, &err), 0);
    CHECK_STR(judge(p, "10.9.0.1", 2379), "the etcd endpoint 10.9.0.1:2379");
    CHECK_STR(judge(p, "10.9.0.2", 8080), "the Marathon URL 10.9.0.2:8080");
    CHECK_STR(judge(p, "10.9.0.3", 5000), "the subscriber's listen address 10.9.0.3:5000");
    CHECK_STR(judge(p, "10.9.0.4", 80), "the subscriber's public_url 10.9.0.4:80");
    CHECK_STR(judge(p, "10.9.0.4", 443), "");
    CHECK_STR(judge(p, "192.0.2.1", 80), "");
    /* URLs: judged by every address the host resolves to, and by name for a name configured */
    CHECK_INT(cbpolicy_check_url(p, "http://10.9.0.1:2379/v3/kv/put", 1000, NULL, &err),
              -MDO_EUSAGE);
    CHECK_HAS(err.msg, "etcd endpoint");
    CHECK_HAS(err.msg, "callback_allow");
    CHECK_INT(cbpolicy_check_url(p, "https://LOCALHOST:2379/", 1000, NULL, &err), -MDO_EUSAGE);
    CHECK_HAS(err.msg, "is the etcd endpoint localhost:2379");
    CHECK_INT(cbpolicy_check_url(p, "http://10.9.0.1:2380/", 1000, NULL, &err), 0);
    /* allowed, the endpoint's address opens its URL too (matched by name and by address) */
    CHECK_INT(cbpolicy_allow(p, "10.9.0.1/32", &err), 0);
    CHECK_INT(cbpolicy_check_url(p, "http://10.9.0.1:2379/v3/kv/put", 1000, NULL, &err), 0);
    CHECK_INT(cbpolicy_check_url(p, "https://localhost:2379/", 1000, NULL, &err), -MDO_EUSAGE);
    cbpolicy_free(p);

    /* listening on every address: each local address at that port is the subscriber */
    cfg.subscriber.listen = l2;
    CHECK_INT(cbpolicy_new(&p, &cfg, &err), 0);
    CHECK_STR(judge(p, "127.0.0.1", 5000), "the subscriber's listen address 0.0.0.0:5000");
    CHECK_STR(judge(p, "127.0.0.1", 5001), "loopback");
    CHECK_INT(cbpolicy_allow(p, "127.0.0.1", &err), 0);
    CHECK_STR(judge(p, "127.0.0.1", 5000), "");
    cbpolicy_free(p);

    cfg.subscriber.callback_allow = bad;
    p = NULL;
    CHECK_INT(cbpolicy_new(&p, &cfg, &err), -MDO_ECONFIG);
    CHECK(p == NULL);
}

static void url_tests(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cbpolicy *p = NULL;
    struct cbpolicy_pin pin;

    CHECK_INT(cbpolicy_new(&p, NULL, &err), 0);
    CHECK_INT(cbpolicy_check_url(p, "http://127.0.0.1:8080/cb", 1000, &pin, &err), -MDO_EUSAGE);
    CHECK_HAS(err.msg, "loopback");
    CHECK_HAS(err.msg, "127.0.0.1");
    CHECK_INT(cbpolicy_check_url(p, "http://169.254.169.254/latest/meta-data/", 1000, &pin, &err),
              -MDO_EUSAGE);
    CHECK_HAS(err.msg, "link-local");
    CHECK_INT(cbpolicy_check_url(p, "http://[::1]:80/", 1000, &pin, &err), -MDO_EUSAGE);
    CHECK_INT(cbpolicy_check_url(p, "http://[::ffff:127.0.0.1]/", 1000, &pin, &err), -MDO_EUSAGE);
    CHECK_INT(cbpolicy_check_url(p, "http://0.0.0.0:5000/", 1000, &pin, &err), -MDO_EUSAGE);
    CHECK_HAS(err.msg, "unspecified");
    /* numeric forms inet_aton reads: judged as the address they are */
    CHECK_INT(cbpolicy_check_url(p, "http://2130706433/", 1000, &pin, &err), -MDO_EUSAGE);
    CHECK_INT(cbpolicy_check_url(p, "http://0x7f.1/", 1000, &pin, &err), -MDO_EUSAGE);
    /* a name that resolves to loopback is refused: the name is no way around the rule */
    CHECK_INT(cbpolicy_check_url(p, "http://localhost:8080/cb", 1000, &pin, &err), -MDO_EUSAGE);
    CHECK_HAS(err.msg, "localhost");
    CHECK_HAS(err.msg, "loopback");
    CHECK_INT(cbpolicy_check_url(p, "ftp://x/", 1000, &pin, &err), -MDO_EUSAGE);
    /* allowed: the pin is the address checked, in CURLOPT_CONNECT_TO's form */
    CHECK_INT(cbpolicy_check_url(p, "http://192.0.2.7:8080/cb", 1000, &pin, &err), 0);
    CHECK_STR(pin.connect_to, "::192.0.2.7:8080");
    CHECK_STR(pin.addr, "192.0.2.7");
    CHECK_INT(pin.port, 8080);
    CHECK_INT(cbpolicy_check_url(p, "https://[2001:db8::7]/cb", 1000, &pin, &err), 0);
    CHECK_STR(pin.connect_to, "::[2001:db8::7]:443");
    CHECK_INT(cbpolicy_allow(p, "127.0.0.0/8", &err), 0);
    CHECK_INT(cbpolicy_check_url(p, "http://127.0.0.1:8080/cb", 1000, &pin, &err), 0);
    CHECK_STR(pin.connect_to, "::127.0.0.1:8080");
    cbpolicy_free(p);
}

static struct cbreg reg(const char *id, const char *service, const char *owner)
{
    struct cbreg r = {0};

    r.id = (char *)id;
    r.service = (char *)service;
    r.owner = (char *)owner;
    return r;
}

static void count_tests(void)
{
    struct cbreg rs[] = {reg("a", "web", "web-1"), reg("b", "web", "web-2"),
                         reg("c", "db", "web-1"), reg("d", "web", NULL), reg("e", "db", NULL)};
    size_t svc, own;
    int exists;

    cbreg_count(rs, 5, "web", "web-1", "x", &svc, &own, &exists);
    CHECK_INT(svc, 3);
    CHECK_INT(own, 2);
    CHECK_INT(exists, 0);
    cbreg_count(rs, 5, "web", "web-1", "a", &svc, &own, &exists); /* a again: a rewrite */
    CHECK_INT(svc, 2);
    CHECK_INT(own, 1);
    CHECK_INT(exists, 1);
    cbreg_count(rs, 5, "db", NULL, "x", &svc, &own, &exists); /* no owner: one group */
    CHECK_INT(svc, 2);
    CHECK_INT(own, 2);
    cbreg_count(rs, 0, "db", NULL, "x", &svc, &own, &exists);
    CHECK_INT(svc + own + (size_t)exists, 0);
}

/* The caps where registrations are written: a real etcd. */
static void admit_tests(void)
{
    struct etcd_fixture fx;
    struct mdo_err err = MDO_ERR_INIT;
    char id[CBREG_ID_LEN + 1], url[64];
    int ret = 0, n = 0;

    if (etcd_fixture_start(&fx)) {
        CHECK(!"etcd started");
        return;
    }
    for (n = 0; n < 10 && !ret; n++) { /* owner o1, service s: cap 4 per service */
        snprintf(url, sizeof(url), "http://192.0.2.1/%d", n);
        ret = cbreg_admit(&fx.e, "/t", "e", "s", url, "o1", 4, 6, 0, &err);
        if (!ret)
            ret = cbreg_register(&fx.e, "/t", "e", "s", url, NULL, "o1", id, &err);
    }
    CHECK_INT(n, 5); /* four written, the fifth refused */
    CHECK_INT(ret, -MDO_ECONFLICT);
    CHECK_HAS(err.msg, "callback_max_per_service (4)");
    /* the same registration again is a rewrite: within the cap */
    CHECK_INT(cbreg_admit(&fx.e, "/t", "e", "s", "http://192.0.2.1/0", "o1", 4, 6, 0, &err), 0);
    /* the owner's cap counts across services: 4 + 2 = 6 */
    CHECK_INT(cbreg_admit(&fx.e, "/t", "e", "t", "http://192.0.2.1/a", "o1", 4, 6, 0, &err), 0);
    CHECK_INT(cbreg_register(&fx.e, "/t", "e", "t", "http://192.0.2.1/a", NULL, "o1", id, &err), 0);
    CHECK_INT(cbreg_admit(&fx.e, "/t", "e", "t", "http://192.0.2.1/b", "o1", 4, 6, 0, &err), 0);
    CHECK_INT(cbreg_register(&fx.e, "/t", "e", "t", "http://192.0.2.1/b", NULL, "o1", id, &err), 0);
    CHECK_INT(cbreg_admit(&fx.e, "/t", "e", "t", "http://192.0.2.1/c", "o1", 4, 6, 0, &err),
              -MDO_ECONFLICT);
    CHECK_HAS(err.msg, "callback_max_per_owner (6)");
    CHECK_INT(cbreg_admit(&fx.e, "/t", "e", "t", "http://192.0.2.1/c", "o2", 4, 6, 0, &err), 0);
    /* registrations in flight elsewhere count too */
    CHECK_INT(cbreg_admit(&fx.e, "/t", "e", "t", "http://192.0.2.1/c", "o2", 4, 6, 2, &err),
              -MDO_ECONFLICT);
    etcd_fixture_stop(&fx);
}

int main(void)
{
    cidr_tests();
    rule_tests();
    cfg_tests();
    url_tests();
    count_tests();
    admit_tests();
    return check_done("test_cbpolicy");
}
