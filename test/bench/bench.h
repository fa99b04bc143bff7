/* bench.h - what the bench's parts share: the fake scheduler's state, the observer, timing */
#ifndef MDO_BENCH_H
#define MDO_BENCH_H

#include <pthread.h>
#include <stddef.h>
#include "buf.h"

struct fake {
    int marathon;
    const char *env;
    unsigned apps, tasks, n; /* n = apps * tasks */
    int *gen;                /* per task: its restart generation (StartedAt = BASE + gen s) */
    struct buf *app;         /* marathon: each app's JSON */
    pthread_mutex_t *app_lock;
    size_t *ts_off; /* marathon: where task k's startedAt sits in its app's JSON */
    int lfd, ev_fd, streams;
    pthread_mutex_t ev_lock;
    long long t_list; /* when the last full listing was asked for (us) */
    unsigned long lists, reads;
};
extern struct fake F;

long long now_us(void);
int fake_start(int marathon, const char *where, unsigned apps, unsigned tasks);
void fake_task_name(char *out, size_t n, unsigned k);
long fake_task_of(const char *seg);
void fake_event(struct buf *b, unsigned k, int up);
void fake_restart(struct buf *b, unsigned k, int gen);
int fake_send(const struct buf *b, long long deadline_us);

/* bench.c: the shared etcd client and helpers */
struct etcd;
extern struct etcd E;
extern const char *etcd_url, *mdo_bin;
void die(const char *what) __attribute__((noreturn));
void open_etcd(void);
int free_port(void);
int cmp_ll(const void *a, const void *b);

/* clients.c */
int cmd_ceiling(int n, int m);
int cmd_nodelist(int reps);
int cmd_algo2014(unsigned tasks, long events, long secs);

#endif
