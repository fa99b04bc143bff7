/* cbview.h - the callbacks dispatcher's copy of one environment's instances, kept from an etcd
 * watch (watch.h) on <prefix>/<env>/services/: per service, the membership last delivered and
 * the keys changed since, so that a batch of changes costs what it changed, not the size of
 * the service (issue 10: the dispatcher read the whole service per batch).
 *
 * The feeder (the watch's thread) turns each watch batch into a struct cbview_in with
 * cbview_in_parse(); the dispatcher, the only user of a struct cbview, applies it with
 * cbview_apply() and, per service, takes the difference with cbview_take() and then commits it
 * (delivered) or abandons it (retried later: the changes stay).
 *
 * What is a member is what reg_list(service) lists: a key <service>/instances/<container>
 * (no '/' in the container) whose value is a record. A value that is not a record, or whose
 * service or container is not its key's, is no member (the reconcile rewrites it).
 */
#ifndef MDO_CBVIEW_H
#define MDO_CBVIEW_H

#include <stddef.h>
#include <stdint.h>
#include "registry.h"
#include "strset.h"
#include "watch.h"

/* One key of a watch batch, parsed. */
struct cbview_item {
    char *service, *container; /* owned */
    int gone;                  /* deleted, or its value is no member */
    struct reg_record rec;     /* owned when !gone */
};

/* One watch batch, parsed (by the feeder, outside the dispatcher). */
struct cbview_in {
    int reset;        /* the whole prefix as listed at revision (watch.h) */
    int64_t revision; /* watch_batch's */
    struct cbview_item *it;
    size_t n;
    unsigned gen;           /* the caller's: which watch it came from */
    struct cbview_in *next; /* the caller's list */
};

/* b's keys under wprefix (reg_prefix(..., NULL)) parsed; NULL on ENOMEM. b is left as it is. */
struct cbview_in *cbview_in_parse(const struct watch_batch *b, const char *wprefix);
void cbview_in_free(struct cbview_in *in);

struct cbview_delta {
    char *container; /* owned */
    int gone;
    struct reg_record rec; /* owned when !gone and not yet moved into the membership */
    unsigned long seq;     /* arrival order */
};

struct cbview_svc {
    char *service;
    struct reg_record *recs; /* delivered, sorted by container */
    unsigned n;
    struct cbview_delta *d; /* changes since, in arrival order until cbview_take() */
    size_t nd, capd;
    struct cbview_svc *next;
};

struct cbview {
    struct cbview_svc *svcs;
    unsigned long seq;
    int64_t rev; /* the newest revision applied */
};

#define CBVIEW_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void cbview_release(struct cbview *v);
/* Applies in (taken: freed here). A reset with baseline set replaces everything and leaves no
 * change to deliver (a fresh baseline); any other reset becomes, per service, the changes from
 * what is held to the listing (changes not yet taken are superseded). Each service with a
 * change is added to dirty. 0 or -MDO_ENOMEM (the view is then to be rebuilt: a reset). */
int cbview_apply(struct cbview *v, struct cbview_in *in, int baseline, struct strset *dirty);

/* The difference cbview_take() found for one service. */
struct cbview_change {
    struct cbview_svc *s;
    struct reg_record *cur; /* the membership with the changes (when it differs): borrowed */
    unsigned ncur;
    struct reg_members_diff d;
    struct reg_record *old_sub, *new_sub; /* the changed part, before and after: borrowed */
    unsigned *at;                         /* per change: its index in s->recs, or -1u */
};

/* 1: the service's membership with its changes differs from the one delivered (c->d says how,
 * c->cur is the whole new membership); 0: it does not (or nothing changed); -MDO_ENOMEM. Either
 * way (but ENOMEM) the caller ends c with cbview_commit() or cbview_abandon(). */
int cbview_take(struct cbview *v, const char *service, struct cbview_change *c);
/* The changes become the membership delivered. */
void cbview_commit(struct cbview_change *c);
/* The changes stay for the next cbview_take(). */
void cbview_abandon(struct cbview_change *c);

#endif
