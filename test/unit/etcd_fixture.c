/* etcd_fixture.c - start and stop a throwaway etcd for a unit test, and a keeper over it (see
 * etcd_fixture.h) */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "etcd_fixture.h"
#include "fixture.h"

static int fixture_run(char *const argv[])
{
    int st;
    pid_t pid = fork();

    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int etcd_fixture_start(struct etcd_fixture *f)
{
    char data[96], logf[96], curl_[64], purl[64], cluster[80];
    char *eps[1];
    struct mdo_err err = MDO_ERR_INIT;
    int cport = fixture_free_port(), pport = fixture_free_port();

    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/mdo-unit-etcd.XXXXXX");
    if (cport == pport || !mkdtemp(f->dir)) {
        fprintf(stderr, "etcd_fixture: no free port or temp dir\n");
        return -1;
    }
    snprintf(data, sizeof(data), "%s/data", f->dir);
    snprintf(logf, sizeof(logf), "%s/etcd.log", f->dir);
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d", cport);
    snprintf(curl_, sizeof(curl_), "http://127.0.0.1:%d", cport);
    snprintf(purl, sizeof(purl), "http://127.0.0.1:%d", pport);
    snprintf(cluster, sizeof(cluster), "t=%s", purl);
    f->pid = fork();
    if (f->pid == 0) {
        FILE *log = freopen(logf, "w", stdout);
        if (log)
            dup2(fileno(log), 2);
        execlp("etcd", "etcd", "--name", "t", "--data-dir", data, "--listen-client-urls", curl_,
               "--advertise-client-urls", curl_, "--listen-peer-urls", purl,
               "--initial-advertise-peer-urls", purl, "--initial-cluster", cluster, (char *)NULL);
        _exit(127);
    }
    if (f->pid < 0) {
        fprintf(stderr, "etcd_fixture: fork: failed\n");
        return -1;
    }
    eps[0] = f->url;
    if (etcd_open(&f->e, eps, 1, NULL, NULL, NULL, NULL, NULL, &err)) {
        fprintf(stderr, "etcd_fixture: %s\n", err.msg);
        etcd_fixture_stop(f);
        return -1;
    }
    for (int i = 0; i < 200; i++) { /* 20 s */
        struct etcd_kvs kvs = ETCD_KVS_INIT;
        struct timespec nap = {0, 100 * 1000 * 1000};
        int st;
        if (!etcd_get(&f->e, "/fixture-ready", &kvs, &err)) {
            etcd_kvs_release(&kvs);
            return 0;
        }
        if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
            fprintf(stderr, "etcd_fixture: etcd exited; see %s\n", logf);
            f->pid = 0;
            etcd_fixture_stop(f);
            return -1;
        }
        nanosleep(&nap, NULL);
    }
    fprintf(stderr, "etcd_fixture: etcd did not answer at %s in 20 s: %s\n", f->url, err.msg);
    etcd_fixture_stop(f);
    return -1;
}

void etcd_fixture_stop(struct etcd_fixture *f)
{
    char rm0[] = "rm", rm1[] = "-rf", *rm[] = {rm0, rm1, f->dir, NULL};

    if (f->e.endpoints)
        etcd_close(&f->e);
    memset(&f->e, 0, sizeof(f->e));
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, NULL, 0);
        f->pid = 0;
    }
    if (f->dir[0] && strcmp(f->dir, "/") && fixture_run(rm) != 0)
        fprintf(stderr, "etcd_fixture: could not remove %s\n", f->dir);
    f->dir[0] = '\0';
}

char *etcd_fixture_get(struct etcd_fixture *f, const char *key, int64_t *mod_revision)
{
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    char *v = NULL;

    if (etcd_get(&f->e, key, &kvs, &err)) {
        fprintf(stderr, "etcd_fixture: get %s: %s\n", key, err.msg);
        exit(2); /* fixture I/O: not a check */
    }
    if (kvs.n && !(v = strdup(kvs.kv[0].value))) {
        fprintf(stderr, "etcd_fixture: out of memory\n");
        exit(2);
    }
    if (mod_revision)
        *mod_revision = kvs.n ? kvs.kv[0].mod_revision : 0;
    etcd_kvs_release(&kvs);
    return v;
}

int64_t etcd_fixture_put(struct etcd_fixture *f, const char *key, const char *value, int64_t lease)
{
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    int64_t rev;

    if (etcd_put(&f->e, key, value, lease, &err) || etcd_get(&f->e, key, &kvs, &err) ||
        kvs.n != 1) {
        fprintf(stderr, "etcd_fixture: put %s: %s\n", key, err.msg);
        exit(2);
    }
    rev = kvs.kv[0].create_revision;
    etcd_kvs_release(&kvs);
    return rev;
}

int keeper_fixture_start(struct keeper_fixture *kf, const char *env, const struct sched_ops *ops,
                         struct sched *s)
{
    memset(kf, 0, sizeof(*kf));
    if (etcd_fixture_start(&kf->fx))
        return -1;
    snprintf(kf->env, sizeof(kf->env), "%s", env);
    snprintf(kf->prefix, sizeof(kf->prefix), "/mdo");
    kf->cfg.environment = kf->env;
    kf->cfg.etcd.prefix = kf->prefix;
    keeper_init(&kf->k, &kf->cfg, &kf->fx.e, ops, s);
    return 0;
}

void keeper_fixture_stop(struct keeper_fixture *kf)
{
    keeper_release(&kf->k);
    etcd_fixture_stop(&kf->fx);
}

void keeper_fixture_up(struct keeper_fixture *kf, const char *service, const char *container,
                       const char *started_at)
{
    struct reg_record r;

    memset(&r, 0, sizeof(r));
    r.service = strdup(service);
    r.container = strdup(container);
    r.environment = strdup(kf->env);
    r.host = strdup("127.0.0.1");
    r.started_at = started_at ? strdup(started_at) : NULL;
    if (!r.service || !r.container || !r.environment || !r.host || (started_at && !r.started_at)) {
        fprintf(stderr, "etcd_fixture: out of memory\n");
        exit(2);
    }
    keeper_up(&kf->k, &r); /* takes r */
}
