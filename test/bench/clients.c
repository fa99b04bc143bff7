/* clients.c - the benchmarks that run no subscriber: the raw etcd ceiling, get_node_list beside
 * a raw range and the process-start floor, and the 2014 tool's per-event algorithm */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "bench.h"
#include "etcd.h"
#include "http.h"

/* ---- 1: the raw etcd ceiling ---- */

int cmd_ceiling(int n, int m)
{
    struct mdo_err err = MDO_ERR_INIT;
    char val[400], key[128];
    struct etcd_op ops[ETCD_TXN_MAX];
    char keys[ETCD_TXN_MAX][128];
    long long t0;
    double puts, keyss;
    int applied;

    open_etcd();
    memset(val, 'x', 300);
    val[300] = 0;
    t0 = now_us();
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "/bench-ceiling/put/%d", i);
        if (etcd_put(&E, key, val, 0, &err))
            die(err.msg);
    }
    puts = n / ((now_us() - t0) / 1e6);
    t0 = now_us();
    for (int j = 0; j < m; j++) {
        for (int i = 0; i < ETCD_TXN_MAX; i++) {
            snprintf(keys[i], sizeof(keys[i]), "/bench-ceiling/txn/%d", j * ETCD_TXN_MAX + i);
            ops[i] = (struct etcd_op){ETCD_PUT, keys[i], val, ETCD_ANY, 0};
        }
        if (etcd_txn(&E, ops, ETCD_TXN_MAX, &applied, &err) || !applied)
            die(err.msg);
    }
    keyss = (double)m * ETCD_TXN_MAX / ((now_us() - t0) / 1e6);
    printf("%-40s %12.0f\n", "sequential puts/s (1 key each)", puts);
    printf("%-40s %12.0f\n", "keys/s in txns of 128 puts", keyss);
    printf("%-40s %12.0f\n", "txns/s (128 ops each)", keyss / ETCD_TXN_MAX);
    printf("CEILING_PUTS=%.0f CEILING_KEYS=%.0f\n", puts, keyss);
    etcd_close(&E);
    return 0;
}

/* ---- 6: get_node_list ---- */

static long long run_ms(char *const argv[])
{
    long long t = now_us();
    int st;
    pid_t p = fork();
    if (p == 0) {
        int null = open("/dev/null", 1);
        dup2(null, 1);
        execv(argv[0], argv);
        _exit(127);
    }
    waitpid(p, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        fprintf(stderr, "bench: %s exited %d\n", argv[0], WEXITSTATUS(st));
    return now_us() - t;
}

static double median_of(long long *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_ll);
    return v[n / 2] / 1000.0;
}

int cmd_nodelist(int reps)
{
    struct mdo_err err = MDO_ERR_INIT;
    static const unsigned sizes[] = {10, 1000};
    char gnl[512], etcdv[512];
    long long v[200];
    double floor_ms;

    open_etcd();
    F.env = "bnl";
    snprintf(gnl, sizeof(gnl), "%s", mdo_bin);
    snprintf(etcdv, sizeof(etcdv), "MDO_ETCD=%s", etcd_url);
    putenv(etcdv);
    setenv("MDO_ENVIRONMENT", F.env, 1);
    {
        char version[] = "version", *argv[] = {gnl, version, NULL};
        for (int i = 0; i < reps; i++)
            v[i] = run_ms(argv);
        floor_ms = median_of(v, reps);
    }
    for (size_t s = 0; s < 2; s++) {
        unsigned n = sizes[s];
        char svc[32], prefix[128];
        struct etcd_op ops[ETCD_TXN_MAX];
        char keys[ETCD_TXN_MAX][160], vals[ETCD_TXN_MAX][400];
        int applied;
        snprintf(svc, sizeof(svc), "n%u", n);
        for (unsigned i = 0; i < n;) {
            unsigned m = 0;
            for (; m < ETCD_TXN_MAX && i < n; m++, i++) {
                snprintf(keys[m], sizeof(keys[m]), "/mdo/%s/services/%s/instances/%s-%s-%u", F.env,
                         svc, F.env, svc, i);
                snprintf(vals[m], sizeof(vals[m]),
                         "{\"service\":\"%s\",\"container\":\"%s-%s-%u\",\"environment\":\"%s\","
                         "\"host\":\"127.0.0.1\",\"address\":\"172.17.0.2\",\"ports\":{\"http\":"
                         "{\"internal\":80,\"external\":%u,\"protocol\":\"tcp\"}},\"labels\":{},"
                         "\"state\":\"running\",\"started_at\":\"2026-01-01T00:00:00Z\","
                         "\"app_version\":\"v1\",\"backend\":\"docker\"}",
                         svc, F.env, svc, i, F.env, 20000 + i);
                ops[m] = (struct etcd_op){ETCD_PUT, keys[m], vals[m], ETCD_ANY, 0};
            }
            if (etcd_txn(&E, ops, m, &applied, &err))
                die(err.msg);
        }
        char guest[] = "guest", applet[] = "get_node_list", port[] = "http";
        char *argv[] = {gnl, guest, applet, svc, port, NULL};
        double gnl_ms, range_ms;
        for (int i = 0; i < reps; i++)
            v[i] = run_ms(argv);
        gnl_ms = median_of(v, reps);
        snprintf(prefix, sizeof(prefix), "/mdo/%s/services/%s/instances/", F.env, svc);
        for (int i = 0; i < reps; i++) {
            struct etcd_kvs kvs = ETCD_KVS_INIT;
            long long t = now_us();
            if (etcd_get_prefix(&E, prefix, &kvs, &err) || kvs.n != n)
                die("the range did not return every key");
            v[i] = now_us() - t;
            etcd_kvs_release(&kvs);
        }
        range_ms = median_of(v, reps);
        printf("%-10u %14.2f %14.2f %14.2f %14.2f\n", n, gnl_ms, range_ms, floor_ms,
               gnl_ms - floor_ms);
        printf("NODELIST n=%u gnl=%.2f range=%.2f floor=%.2f\n", n, gnl_ms, range_ms, floor_ms);
    }
    return 0;
}

/* ---- 7: the 2014 tool's algorithm: per event, list every task of the app, read the
 * service's whole value, rewrite it (updater.py against etcd v2, here against v3) ---- */

int cmd_algo2014(unsigned tasks, long events, long secs)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct http_conn c = {0};
    char port[16], url[256], key[128];
    struct buf ev = BUF_INIT(0);
    long long t0, end;
    long done = 0;

    open_etcd();
    F.env = "b2014";
    snprintf(port, sizeof(port), "%d", free_port());
    if (fake_start(1, port, 1, tasks))
        die("cannot start the fake Marathon");
    c.timeout_ms = 60000;
    snprintf(key, sizeof(key), "/mdo2014/%s/s0", F.env);
    t0 = now_us();
    end = t0 + secs * 1000000LL;
    for (; done < events && now_us() < end; done++) {
        struct http_resp r = HTTP_RESP_INIT;
        struct etcd_kvs kvs = ETCD_KVS_INIT;
        cJSON *e, *ans, *list, *t, *old;
        char *val;
        buf_reset(&ev);
        fake_event(&ev, (unsigned)(done % tasks), 1);
        e = cJSON_Parse(strstr(ev.ptr, "data: ") + 6); /* the event, as its callback got it */
        snprintf(url, sizeof(url), "http://127.0.0.1:%s/v2/apps%s?embed=app.tasks", port,
                 cJSON_GetObjectItem(e, "appId")->valuestring);
        if (http_request(&c, "GET", url, NULL, 0, NULL, &r, &err) || r.status != 200)
            die("GET app failed");
        ans = cJSON_ParseWithLength(r.body.ptr, r.body.len);
        if (etcd_get(&E, key, &kvs, &err))
            die(err.msg);
        old = kvs.n ? cJSON_Parse(kvs.kv[0].value) : NULL; /* the whole value, read back */
        list = cJSON_CreateArray();
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(cJSON_GetObjectItem(ans, "app"), "tasks"))
        {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "host", cJSON_GetObjectItem(t, "host")->valuestring);
            cJSON_AddItemToObject(o, "ports", cJSON_Duplicate(cJSON_GetObjectItem(t, "ports"), 1));
            cJSON_AddStringToObject(o, "id", cJSON_GetObjectItem(t, "id")->valuestring);
            cJSON_AddItemToArray(list, o);
        }
        val = cJSON_PrintUnformatted(list);
        if (etcd_put(&E, key, val, 0, &err))
            die(err.msg);
        free(val);
        cJSON_Delete(list);
        cJSON_Delete(old);
        cJSON_Delete(ans);
        cJSON_Delete(e);
        etcd_kvs_release(&kvs);
        http_resp_release(&r);
    }
    double el = (now_us() - t0) / 1e6;
    printf("%-10u %10ld %10.2f %12.1f\n", tasks, done, el, done / el);
    printf("ALGO2014 tasks=%u events=%ld eps=%.1f\n", tasks, done, done / el);
    buf_release(&ev);
    return 0;
}
