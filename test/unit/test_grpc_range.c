/* test_grpc_range.c - a range over etcd's gRPC API gives what the gateway's gives (keys, values
 * with any byte, revisions, only keys under the prefix), on a real etcd; a malformed or
 * truncated answer is refused, and a refusal means "read through the gateway" */
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include "check.h"
#include "etcd_fixture.c"
#include "grpc_range.h"
#include "registry.h"

static int same(const struct etcd_kvs *a, const struct etcd_kvs *b)
{
    if (a->n != b->n || a->revision != b->revision)
        return 0;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->kv[i].key, b->kv[i].key) || a->kv[i].len != b->kv[i].len ||
            memcmp(a->kv[i].value, b->kv[i].value, a->kv[i].len) ||
            a->kv[i].mod_revision != b->kv[i].mod_revision ||
            a->kv[i].create_revision != b->kv[i].create_revision ||
            a->kv[i].version != b->kv[i].version)
            return 0;
    return 1;
}

static void test_pure(void)
{
    struct etcd_kvs kvs;
    size_t n;
    unsigned char *req = grpc_range_request("/a/", "/a0", &n);
    /* a RangeResponse: header{revision: 7}, kvs{key "/a/x", value "v", mod_revision 5} */
    static const unsigned char good[] = {0,    0, 0,   0,   17,  0x0a, 2,    0x18, 7,    0x12, 11,
                                         0x0a, 4, '/', 'a', '/', 'x',  0x18, 5,    0x2a, 1,    'v'};
    unsigned char bad[sizeof(good)];

    CHECK(req != NULL);
    CHECK_INT(n, 5 + 2 + 3 + 2 + 3);
    CHECK(req && req[0] == 0 && req[4] == n - 5 && req[5] == 0x0a && req[6] == 3 &&
          !memcmp(req + 7, "/a/", 3) && req[10] == 0x12);
    free(req);
    CHECK_INT(grpc_range_decode(good, sizeof(good), "/a/", &kvs), 0);
    CHECK_INT(kvs.n, 1);
    CHECK_INT(kvs.revision, 7);
    CHECK_STR(kvs.n ? kvs.kv[0].key : NULL, "/a/x");
    CHECK_STR(kvs.n ? kvs.kv[0].value : NULL, "v");
    CHECK_INT(kvs.n ? kvs.kv[0].mod_revision : 0, 5);
    etcd_kvs_release(&kvs);
    /* a key outside the prefix is dropped */
    CHECK_INT(grpc_range_decode(good, sizeof(good), "/b/", &kvs), 0);
    CHECK_INT(kvs.n, 0);
    etcd_kvs_release(&kvs);
    /* truncated, a wrong frame length, compressed, a length past the end: refused */
    CHECK_INT(grpc_range_decode(good, sizeof(good) - 1, "/a/", &kvs), -1);
    memcpy(bad, good, sizeof(good));
    bad[0] = 1;
    CHECK_INT(grpc_range_decode(bad, sizeof(bad), "/a/", &kvs), -1);
    memcpy(bad, good, sizeof(good));
    bad[10] = 100;
    CHECK_INT(grpc_range_decode(bad, sizeof(bad), "/a/", &kvs), -1);
    CHECK_INT(kvs.n, 0);
    CHECK_INT(grpc_range_decode(good, 4, "/a/", &kvs), -1);
    /* "more" (a limit nobody asked for) is no complete answer */
    {
        unsigned char more[sizeof(good) + 2];
        memcpy(more, good, sizeof(good));
        more[4] = 19;
        more[sizeof(good)] = 0x18;
        more[sizeof(good) + 1] = 1;
        CHECK_INT(grpc_range_decode(more, sizeof(more), "/a/", &kvs), -1);
    }
}

int main(void)
{
    struct etcd_fixture fx;
    struct mdo_err err = MDO_ERR_INIT;
    struct etcd_kvs g = ETCD_KVS_INIT, j = ETCD_KVS_INIT;
    char key[128], val[512];
    int applied;

    test_pure();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (etcd_fixture_start(&fx))
        return 2;
    for (int i = 0; i < 700; i++) { /* more than a gateway page (500) */
        struct etcd_op op = {ETCD_PUT, key, val, ETCD_ANY, 0};
        snprintf(key, sizeof(key), "/mdo/t/services/web/instances/t-web-%d", i);
        snprintf(val, sizeof(val), "{\"n\":%d,\"s\":\"%0*d\"}", i, 100 + i % 200, i);
        if (i % 100 == 0 && etcd_txn(&fx.e, &op, 1, &applied, &err))
            return 2;
        if (i % 100 && etcd_put(&fx.e, key, val, 0, &err))
            return 2;
    }
    etcd_put(&fx.e, "/mdo/t/services/web/instances/t-web-1", "binary\001\377 value", 0, &err);
    etcd_put(&fx.e, "/mdo/t/services/webx/instances/other", "{}", 0, &err); /* beside, not under */
    etcd_put(&fx.e, "/mdo/t/services/web/instances/t-web-2", "again", 0, &err); /* version 2 */
    CHECK_INT(err.code, 0);

    CHECK_INT(grpc_range_prefix(&fx.e, "/mdo/t/services/web/instances/", &g), 0);
    CHECK_INT(etcd_get_prefix(&fx.e, "/mdo/t/services/web/instances/", &j, &err), 0);
    CHECK_INT(g.n, 700);
    CHECK(same(&g, &j));
    etcd_kvs_release(&g);
    etcd_kvs_release(&j);
    /* an empty prefix: no keys, a revision */
    CHECK_INT(grpc_range_prefix(&fx.e, "/mdo/t/services/none/", &g), 0);
    CHECK_INT(g.n, 0);
    CHECK(g.revision > 0);
    etcd_kvs_release(&g);
    /* with an etcd user set, the gateway path is the way (it authenticates): refused here */
    fx.e.user = (char *)"guest";
    CHECK_INT(grpc_range_prefix(&fx.e, "/mdo/t/services/web/instances/", &g), -1);
    fx.e.user = NULL;
    /* a peer that speaks no gRPC (etcd gone): refused, nothing held */
    etcd_fixture_stop(&fx);
    CHECK_INT(grpc_range_prefix(&fx.e, "/mdo/t/services/web/instances/", &g), -1);
    CHECK_INT(g.n, 0);
    etcd_close(&fx.e);
    curl_global_cleanup();
    return check_done("test_grpc_range");
}
