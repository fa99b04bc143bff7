/* fuzz_etcd.c - what mdo makes of the etcd gateway's answers: range (one key, a prefix in pages),
 * txn, lease grant and keep-alive (lib/etcd_kv.c), the registry listings built on them
 * (lib/registry.c, lib/cbreg.c) and a watch stream's responses (watch_resp_parse, lib/watch.c).
 * etcd_call is wrapped (fuzz_common.c): it answers the input's bodies in turn.
 * Input: one byte choosing the call, then the answers, separated by NUL bytes. */
#include <stdlib.h>
#include <string.h>
#include "cbreg.h"
#include "fuzz.h"
#include "registry.h"
#include "watch.h"

#define ANSWERS_MAX 16

static struct etcd etcd;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    fuzz_etcd(&etcd);
    return 0;
}

static void skipped(void *ctx, const char *key, const char *why)
{
    (void)ctx;
    if (!key || !why)
        abort();
}

/* only what was asked comes back: callers cut the prefix off without looking again */
static void check_kvs(const struct etcd_kvs *kvs, const char *want, int exact)
{
    for (size_t i = 0; i < kvs->n; i++) {
        const struct etcd_kv *kv = &kvs->kv[i];
        if (!kv->key || !kv->value || kv->value[kv->len] != '\0' ||
            (exact ? strcmp(kv->key, want) : strncmp(kv->key, want, strlen(want))))
            abort();
    }
}

static void call(unsigned op, const char *p, size_t n)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct etcd_op ops[2] = {{ETCD_PUT, "/mdo/a", "v", 3, 0}, {ETCD_DEL, "/mdo/b", NULL, 0, 0}};
    struct reg_record *recs = NULL;
    struct reg_stored *st = NULL;
    struct cbreg *cbs = NULL;
    struct watch_resp wr;
    unsigned nrec = 0, bad = 0;
    size_t ncb = 0;
    int64_t id = 0, rev = 0;
    int applied = 0;

    switch (op % 10) {
    case 0:
        if (!etcd_get_prefix(&etcd, "/mdo/prod/services/", &kvs, &err))
            check_kvs(&kvs, "/mdo/prod/services/", 0);
        etcd_kvs_release(&kvs);
        break;
    case 1:
        if (!etcd_get(&etcd, "/mdo/prod/leader", &kvs, &err))
            check_kvs(&kvs, "/mdo/prod/leader", 1);
        etcd_kvs_release(&kvs);
        break;
    case 2:
        etcd_txn(&etcd, ops, 2, &applied, &err);
        break;
    case 3:
        etcd_lease_grant(&etcd, 10, &id, &err);
        break;
    case 4:
        etcd_lease_keepalive(&etcd, 42, &err);
        break;
    case 5:
        if (!watch_resp_parse(p, n, &wr, &err))
            watch_resp_release(&wr);
        break;
    case 6:
        reg_list(&etcd, "/mdo", "prod", (op & 16) ? "web" : NULL, &recs, &nrec, &rev, &bad, &err);
        reg_records_free(recs, nrec);
        break;
    case 7:
        reg_list_all(&etcd, "/mdo", "prod", &recs, &nrec, &bad, &err);
        reg_records_free(recs, nrec);
        break;
    case 8:
        reg_list_stored(&etcd, "/mdo", "prod", "web", &st, &nrec, skipped, NULL, &err);
        reg_stored_free(st, nrec);
        break;
    case 9:
        cbreg_list(&etcd, "/mdo", "prod", (op & 16) ? "web" : NULL, &cbs, &ncb, &err);
        cbreg_free(cbs, ncb);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *bodies[ANSWERS_MAX];
    size_t lens[ANSWERS_MAX], n = 0;
    const char *p, *end, *nul;

    if (!size)
        return 0;
    p = (const char *)data + 1;
    end = (const char *)data + size;
    while (n < ANSWERS_MAX) {
        nul = memchr(p, 0, (size_t)(end - p));
        bodies[n] = p;
        lens[n] = (size_t)((nul ? nul : end) - p);
        n++;
        if (!nul)
            break;
        p = nul + 1;
    }
    fuzz_etcd_queue(bodies, lens, n);
    call(data[0], (const char *)data + 1, size - 1);
    fuzz_etcd_queue(NULL, NULL, 0);
    return 0;
}
