/* cbpolicy.h - where a callback may be delivered (DESIGN §6): the address policy, the bounded
 * name lookup, and the pin that keeps the connection on the address that was checked.
 *
 * Denied unless subscriber.callback_allow lists the address: loopback (127.0.0.0/8, ::1),
 * link-local (169.254.0.0/16, fe80::/10), unspecified (0.0.0.0/8, ::), and the host:port of the
 * subscriber's own listen address (every local interface address when it listens on all) and
 * public_url, of each etcd endpoint and of Marathon's URL. Everything else is allowed; the
 * Docker bridge address in particular (containers publish their ports there). An address in an
 * allowed CIDR is allowed whatever rule it would break. IPv4-mapped IPv6 addresses
 * (::ffff:a.b.c.d) are judged as the IPv4 address they carry.
 *
 * A URL is judged by every address its host resolves to (all must pass); the lookup is bounded by
 * a timeout (a name that does not answer in time is an error, never a wait). cbpolicy_check_url()
 * gives the checked address as a CURLOPT_CONNECT_TO entry: with it the transfer connects to that
 * address and nothing else (no second lookup, so no DNS rebinding between check and connect).
 *
 * struct cbpolicy is immutable once built and owned by whoever built it (cbpolicy_new /
 * cbpolicy_free); reading it is thread-safe.
 */
#ifndef MDO_CBPOLICY_H
#define MDO_CBPOLICY_H

#include <stddef.h>
#include <sys/socket.h>
#include "config.h"
#include "err.h"

#define CBPOLICY_LOOKUP_MS 2000 /* one name lookup, at registration and at each delivery */

/* A CIDR: family AF_INET or AF_INET6, the address (network byte order, 4 or 16 bytes used) and
 * the prefix length. */
struct cbpolicy_net {
    int family;
    unsigned char addr[16];
    unsigned bits;
};

struct cbpolicy;

/* The policy cfg says (cfg NULL: the default rules with no endpoints, for tests). The endpoints'
 * names are looked up now (each bounded by CBPOLICY_LOOKUP_MS; one that does not resolve is still
 * denied by name). -MDO_ECONFIG for a callback_allow entry that is not a CIDR, -MDO_ENOMEM. */
int cbpolicy_new(struct cbpolicy **out, const struct cfg *cfg, struct mdo_err *err);
void cbpolicy_free(struct cbpolicy *p);
/* Adds to a policy being built: an allowed CIDR; a denied "host:port" (what names the rule in
 * messages: "etcd endpoint"). 0, -MDO_ECONFIG, -MDO_ENOMEM. */
int cbpolicy_allow(struct cbpolicy *p, const char *cidr, struct mdo_err *err);
int cbpolicy_deny(struct cbpolicy *p, const char *what, const char *host, unsigned port);

/* "a.b.c.d/n", "a.b.c.d" (/32), "v6/n", "v6" (/128). 0, or -1 when s is not one; host bits set
 * past the prefix are refused ("10.0.0.1/8"), so an entry means what it says. */
int cbpolicy_cidr_parse(const char *s, struct cbpolicy_net *out);
/* Whether sa (AF_INET or AF_INET6) lies in n. */
int cbpolicy_net_has(const struct cbpolicy_net *n, const struct sockaddr *sa);

/* NULL when a connection to sa:port is allowed, else the rule that denies it ("loopback",
 * "link-local", "unspecified", "the etcd endpoint 10.0.0.5:2379", ...). The string is static or
 * lives as long as p. */
const char *cbpolicy_addr(const struct cbpolicy *p, const struct sockaddr *sa, unsigned port);

/* A checked URL: connect_to is "::ADDRESS:PORT" (IPv6 bracketed) for CURLOPT_CONNECT_TO, addr the
 * address alone (for logs). */
struct cbpolicy_pin {
    char connect_to[80];
    char addr[64];
    unsigned port;
};

/* Resolves url's host (at most timeout_ms) and judges every address. 0 and *pin (may be NULL);
 * -MDO_EUSAGE when url is no http(s) URL or a rule denies it (err names the rule and the
 * address), -MDO_ENOTFOUND when the name does not resolve, -MDO_ENET when the lookup timed out or
 * failed for now. */
int cbpolicy_check_url(const struct cbpolicy *p, const char *url, long timeout_ms,
                       struct cbpolicy_pin *pin, struct mdo_err *err);

#endif
