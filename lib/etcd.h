/* etcd.h - etcd v3 client over the JSON gateway (/v3/kv/range, put, deleterange, txn, /v3/lease,
 * /v3/watch, /v3/auth/authenticate). Keys and values are base64 on the wire; here they are C
 * strings (values may hold NULs: see len).
 *
 * struct etcd owns its copies of the endpoints and credentials; etcd_close() frees them. One
 * struct etcd may be used by several threads: the token and the current endpoint are guarded by
 * lock, which is never held across network I/O (authentication included); everything else is
 * fixed by etcd_open(). Requests fail over to the next endpoint on a transport error, whether of
 * the request or of the authentication before it. With user set, the client authenticates
 * (/v3/auth/authenticate) when it has no token, and a token etcd refuses (expired, revoked, an old
 * auth revision) is renewed and the request sent once more. TLS: ca verifies the server, cert and
 * key are a client certificate (etcd --client-cert-auth).
 *
 * Every error these functions return is tagged MDO_SRC_ETCD (err->origin), with etcd's own
 * reason (its JSON "message"/"error", or curl's text for a transport failure) in err->why.
 */
#ifndef MDO_ETCD_H
#define MDO_ETCD_H

#include <pthread.h>
#include <stdint.h>
#include <stddef.h>
#include "err.h"
#include "http.h"

struct etcd {
    char **endpoints; /* base URLs without trailing '/' */
    unsigned nendpoints;
    unsigned cur;
    char *user, *password, *ca, *cert, *key; /* or NULL */
    char *token; /* from auth/authenticate, or NULL; "" = etcd said auth is not enabled */
    long timeout_ms;
    pthread_mutex_t lock;
};

struct etcd_kv {
    char *key;
    char *value; /* NUL-terminated; len excludes the NUL */
    size_t len;
    int64_t create_revision, mod_revision, version, lease;
};

struct etcd_kvs {
    struct etcd_kv *kv;
    size_t n;
    int64_t revision; /* store revision the listing was taken at */
};

#define ETCD_KVS_INIT                                                                              \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* ETCD_CMP_CREATE is no write but a compare only: the key's create_revision must be
 * mod_revision (0: the key must not exist). It is how a leader fences its writes (etcd's
 * election recipe: the leader key still is the one this leader created). */
enum etcd_op_type { ETCD_PUT, ETCD_DEL, ETCD_CMP_CREATE };

/* One write in a transaction. mod_revision guards it: ETCD_ANY = no guard, 0 = the key must not
 * exist, N > 0 = the key's mod_revision must still be N. */
struct etcd_op {
    enum etcd_op_type type;
    const char *key;
    const char *value; /* ETCD_PUT only */
    int64_t mod_revision;
    int64_t lease; /* ETCD_PUT: 0 = none */
};

#define ETCD_ANY     (-1)
#define ETCD_TXN_MAX 128 /* etcd's default --max-txn-ops */

/* endpoints: "http(s)://h:p[/path]" or bare "h:p", comma-separated lists allowed in each string,
 * each checked with curl's URL parser (lib/url.h): -MDO_ECONFIG for one that is neither. */
int etcd_open(struct etcd *e, char *const *endpoints, unsigned n, const char *user,
              const char *password, const char *ca, const char *cert, const char *key,
              struct mdo_err *err);
void etcd_close(struct etcd *e);

/* Every key under prefix, sorted, read in pages at one revision. out is the caller's:
 * etcd_kvs_release(). */
int etcd_get_prefix(struct etcd *e, const char *prefix, struct etcd_kvs *out, struct mdo_err *err);
/* One key: out->n is 0 or 1. */
int etcd_get(struct etcd *e, const char *key, struct etcd_kvs *out, struct mdo_err *err);
int etcd_put(struct etcd *e, const char *key, const char *value, int64_t lease,
             struct mdo_err *err);
int etcd_delete(struct etcd *e, const char *key, struct mdo_err *err);
/* Applies ops atomically if every guard holds. *applied is 1 when it did, 0 when a guard failed
 * (then nothing changed). At most ETCD_TXN_MAX writes and ETCD_TXN_MAX compares (guards and
 * ETCD_CMP_CREATE entries): etcd's limit counts each list on its own. */
int etcd_txn(struct etcd *e, const struct etcd_op *ops, size_t n, int *applied,
             struct mdo_err *err);

int etcd_lease_grant(struct etcd *e, long ttl_s, int64_t *id, struct mdo_err *err);
int etcd_lease_keepalive(struct etcd *e, int64_t id, struct mdo_err *err);
int etcd_lease_revoke(struct etcd *e, int64_t id, struct mdo_err *err);

void etcd_kvs_release(struct etcd_kvs *kvs);
/* The gateway's base64 (standard, padded), through libcrypto; caller frees. etcd_unb64 returns
 * NULL when s is malformed, else a NUL-terminated copy whose length (NULs allowed) is *len. */
char *etcd_b64(const char *p, size_t n);
char *etcd_unb64(const char *s, size_t *len);
/* The end of the range of every key starting with prefix (etcd's prefix_end): caller frees. */
char *etcd_prefix_end(const char *prefix);

#endif
