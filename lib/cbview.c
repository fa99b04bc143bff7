/* cbview.c - the callbacks' copy of the instances, kept from the watch: batches applied as
 * per-key changes, and per service the difference from the membership delivered */
#include <stdlib.h>
#include <string.h>
#include "cbview.h"
#include "log.h"
#include "names.h"

/* ---- parsing (the feeder's thread) ---- */

static void item_release(struct cbview_item *it)
{
    free(it->service);
    free(it->container);
    reg_record_release(&it->rec);
    memset(it, 0, sizeof(*it));
}

void cbview_in_free(struct cbview_in *in)
{
    for (size_t i = 0; in && i < in->n; i++)
        item_release(&in->it[i]);
    if (in)
        free(in->it);
    free(in);
}

/* 0: it is filled; 1: not an instance's key (left out, as reg_list leaves it); -MDO_ENOMEM */
static int parse_event(const struct watch_event *ev, size_t plen, struct cbview_item *it)
{
    struct mdo_err err = MDO_ERR_INIT;
    const char *rest = ev->key + plen, *c;
    size_t ls;

    memset(it, 0, sizeof(*it));
    if (reg_key_split(rest, &ls, &c) || strchr(c, '/'))
        return 1;
    it->service = strndup(rest, ls);
    it->container = strdup(c);
    if (!it->service || !it->container || !name_ok(it->service)) {
        int ret = it->service && it->container ? 1 : -MDO_ENOMEM;
        item_release(it);
        return ret;
    }
    it->gone = 1;
    if (ev->del)
        return 0;
    if (reg_record_parse(ev->value, ev->len, &it->rec, &err)) {
        log_warn("callbacks", "bad record: not a member", "key=%s err=\"%s\"", ev->key, err.msg);
        return 0;
    }
    if (strcmp(it->rec.service, it->service) || strcmp(it->rec.container, it->container)) {
        log_warn("callbacks", "record under a foreign key: not a member", "key=%s", ev->key);
        reg_record_release(&it->rec);
        return 0;
    }
    it->rec.mod_revision = ev->mod_revision;
    it->gone = 0;
    return 0;
}

struct cbview_in *cbview_in_parse(const struct watch_batch *b, const char *wprefix)
{
    struct cbview_in *in = calloc(1, sizeof(*in));
    size_t plen = strlen(wprefix);

    if (!in)
        return NULL;
    in->reset = b->reset;
    in->revision = b->revision;
    if (b->n && !(in->it = calloc(b->n, sizeof(*in->it)))) {
        free(in);
        return NULL;
    }
    for (size_t i = 0; i < b->n; i++) {
        int r =
            strncmp(b->ev[i].key, wprefix, plen) ? 1 : parse_event(&b->ev[i], plen, &in->it[in->n]);
        if (r < 0) {
            cbview_in_free(in);
            return NULL;
        }
        in->n += !r;
    }
    return in;
}

/* ---- the view (the dispatcher's thread) ---- */

static void delta_release(struct cbview_delta *d)
{
    free(d->container);
    reg_record_release(&d->rec);
    memset(d, 0, sizeof(*d));
}

static void clear_deltas(struct cbview_svc *s)
{
    for (size_t i = 0; i < s->nd; i++)
        delta_release(&s->d[i]);
    s->nd = 0;
}

static void svc_free(struct cbview_svc *s)
{
    clear_deltas(s);
    free(s->d);
    reg_records_free(s->recs, s->n);
    free(s->service);
    free(s);
}

void cbview_release(struct cbview *v)
{
    struct cbview_svc *s;

    while ((s = v->svcs)) {
        v->svcs = s->next;
        svc_free(s);
    }
    v->seq = 0;
    v->rev = 0;
}

static struct cbview_svc *svc_of(struct cbview *v, const char *service, int create)
{
    struct cbview_svc *s;

    for (s = v->svcs; s && strcmp(s->service, service); s = s->next)
        ;
    if (!s && create && (s = calloc(1, sizeof(*s)))) {
        if (!(s->service = strdup(service))) {
            free(s);
            return NULL;
        }
        s->next = v->svcs;
        v->svcs = s;
    }
    return s;
}

/* Appends a change; container (and rec, when given) are taken on success. */
static int add_delta(struct cbview *v, struct cbview_svc *s, char *container,
                     struct reg_record *rec)
{
    struct cbview_delta *d;

    if (s->nd == s->capd) {
        size_t cap = s->capd ? 2 * s->capd : 8;
        void *p = realloc(s->d, cap * sizeof(*s->d));
        if (!p)
            return -MDO_ENOMEM;
        s->d = p;
        s->capd = cap;
    }
    d = &s->d[s->nd++];
    memset(d, 0, sizeof(*d));
    d->container = container;
    d->gone = !rec;
    d->seq = ++v->seq;
    if (rec) {
        d->rec = *rec;
        memset(rec, 0, sizeof(*rec));
    }
    return 0;
}

/* The item's change (its strings taken). */
static int add_item(struct cbview *v, struct cbview_item *it, struct strset *dirty)
{
    struct cbview_svc *s = svc_of(v, it->service, 1);
    int ret = s ? add_delta(v, s, it->container, it->gone ? NULL : &it->rec) : -MDO_ENOMEM;

    if (ret)
        return ret;
    it->container = NULL;
    it->gone = 1;
    return strset_add(dirty, it->service);
}

/* The position of container in s->recs, or -1. */
static long find(const struct cbview_svc *s, const char *container)
{
    unsigned lo = 0, hi = s->n;

    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        int c = strcmp(s->recs[mid].container, container);
        if (!c)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static int item_cmp(const void *a, const void *b)
{
    const struct cbview_item *x = a, *y = b;
    int c = strcmp(x->service, y->service);

    return c ? c : strcmp(x->container, y->container);
}

/* A fresh baseline: the listing is the membership delivered. */
static int install(struct cbview *v, struct cbview_in *in)
{
    struct cbview_svc *s;

    while ((s = v->svcs)) {
        v->svcs = s->next;
        svc_free(s);
    }
    if (in->n)
        qsort(in->it, in->n, sizeof(*in->it), item_cmp);
    for (size_t i = 0, j; i < in->n; i = j) {
        unsigned k = 0;
        for (j = i; j < in->n && !strcmp(in->it[j].service, in->it[i].service); j++)
            ;
        if (!(s = svc_of(v, in->it[i].service, 1)) || !(s->recs = calloc(j - i, sizeof(*s->recs))))
            return -MDO_ENOMEM;
        for (size_t x = i; x < j; x++) {
            if (in->it[x].gone)
                continue;
            s->recs[k++] = in->it[x].rec; /* moved */
            memset(&in->it[x].rec, 0, sizeof(in->it[x].rec));
            in->it[x].gone = 1;
        }
        s->n = k;
    }
    return 0;
}

/* A listing after a gap (compaction, lost batch): per service, the changes from what is held
 * to what is listed; changes not taken yet are superseded. */
static int relisted(struct cbview *v, struct cbview_in *in, struct strset *dirty)
{
    int ret = 0;

    if (in->n)
        qsort(in->it, in->n, sizeof(*in->it), item_cmp);
    for (struct cbview_svc *s = v->svcs; !ret && s; s = s->next) {
        size_t lo = 0, hi = in->n, j;
        clear_deltas(s);
        while (lo < hi) { /* the first item of s's service */
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(in->it[mid].service, s->service) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        j = lo;
        for (unsigned i = 0; !ret && i < s->n; i++) { /* held, not listed: gone */
            int c = 1;
            while (j < in->n && !strcmp(in->it[j].service, s->service) &&
                   (c = strcmp(in->it[j].container, s->recs[i].container)) < 0)
                j++;
            if (j >= in->n || strcmp(in->it[j].service, s->service) || c > 0) {
                char *name = strdup(s->recs[i].container);
                ret = name ? add_delta(v, s, name, NULL) : -MDO_ENOMEM;
                if (ret)
                    free(name);
                else
                    ret = strset_add(dirty, s->service);
            }
        }
    }
    for (size_t i = 0; !ret && i < in->n; i++)
        ret = add_item(v, &in->it[i], dirty);
    return ret;
}

int cbview_apply(struct cbview *v, struct cbview_in *in, int baseline, struct strset *dirty)
{
    int ret = 0;

    if (in->revision > v->rev)
        v->rev = in->revision;
    if (in->reset)
        ret = baseline ? install(v, in) : relisted(v, in, dirty);
    else
        for (size_t i = 0; !ret && i < in->n; i++)
            ret = add_item(v, &in->it[i], dirty);
    cbview_in_free(in);
    return ret;
}

static int delta_cmp(const void *a, const void *b)
{
    const struct cbview_delta *x = a, *y = b;
    int c = strcmp(x->container, y->container);

    return c ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* s->d sorted by container, only the latest change of each. */
static void dedupe(struct cbview_svc *s)
{
    size_t m = 0;

    qsort(s->d, s->nd, sizeof(*s->d), delta_cmp);
    for (size_t i = 0; i < s->nd; i++) {
        if (i + 1 < s->nd && !strcmp(s->d[i].container, s->d[i + 1].container))
            delta_release(&s->d[i]);
        else
            s->d[m++] = s->d[i];
    }
    s->nd = m;
}

static void change_free(struct cbview_change *c)
{
    reg_members_diff_release(&c->d);
    free(c->cur);
    free(c->old_sub);
    free(c->new_sub);
    free(c->at);
    memset(c, 0, sizeof(*c));
}

int cbview_take(struct cbview *v, const char *service, struct cbview_change *c)
{
    struct cbview_svc *s = svc_of(v, service, 0);
    unsigned nold = 0, nnew = 0, m = 0;
    size_t i, j;
    int differs;

    memset(c, 0, sizeof(*c));
    c->s = s;
    if (!s || !s->nd)
        return 0;
    dedupe(s);
    c->old_sub = calloc(s->nd, sizeof(*c->old_sub));
    c->new_sub = calloc(s->nd, sizeof(*c->new_sub));
    c->at = calloc(s->nd, sizeof(*c->at));
    if (!c->old_sub || !c->new_sub || !c->at) {
        change_free(c);
        return -MDO_ENOMEM;
    }
    for (i = 0; i < s->nd; i++) { /* the changed part, before and after (shallow copies) */
        long k = find(s, s->d[i].container);
        c->at[i] = k < 0 ? -1u : (unsigned)k;
        if (k >= 0)
            c->old_sub[nold++] = s->recs[k];
        if (!s->d[i].gone)
            c->new_sub[nnew++] = s->d[i].rec;
    }
    differs = reg_members_diff(c->old_sub, nold, c->new_sub, nnew, &c->d);
    if (differs < 0) {
        change_free(c);
        return differs;
    }
    c->d.count = s->n - nold + nnew; /* records in the whole membership after */
    if (!differs)
        return 0;
    if (!(c->cur = calloc((size_t)c->d.count + 1, sizeof(*c->cur)))) {
        change_free(c);
        return -MDO_ENOMEM;
    }
    for (i = 0, j = 0; i < s->n || j < s->nd;) { /* merged: both sorted by container */
        int cmp = i >= s->n ? 1 : j >= s->nd ? -1 : strcmp(s->recs[i].container, s->d[j].container);
        if (cmp < 0) {
            c->cur[m++] = s->recs[i++];
            continue;
        }
        if (!s->d[j].gone)
            c->cur[m++] = s->d[j].rec;
        i += !cmp;
        j++;
    }
    c->ncur = m;
    return 1;
}

void cbview_commit(struct cbview_change *c)
{
    struct cbview_svc *s = c->s;

    reg_members_diff_release(&c->d); /* it borrows names from both */
    for (size_t i = 0; s && i < s->nd; i++) {
        struct cbview_delta *d = &s->d[i];
        if (c->cur) { /* the old record of a replaced or removed one goes; the new one is in cur */
            if (c->at[i] != -1u)
                reg_record_release(&s->recs[c->at[i]]);
            memset(&d->rec, 0, sizeof(d->rec));
        } else if (!d->gone && c->at[i] != -1u) { /* same membership: the newer record kept */
            reg_record_release(&s->recs[c->at[i]]);
            s->recs[c->at[i]] = d->rec;
            memset(&d->rec, 0, sizeof(d->rec));
        }
        delta_release(d);
    }
    if (s)
        s->nd = 0;
    if (s && c->cur) {
        free(s->recs);
        s->recs = c->cur;
        s->n = c->ncur;
        c->cur = NULL;
    }
    change_free(c);
}

void cbview_abandon(struct cbview_change *c)
{
    change_free(c);
}
