/* sched_fake.c - the in-memory struct sched_ops of sched_fake.h */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sched_fake.h"

static char *fake_strdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

struct sched *fake_new(const char *env)
{
    struct sched *s = calloc(1, sizeof(*s));

    if (s && !(s->env = strdup(env))) {
        free(s);
        s = NULL;
    }
    return s;
}

void fake_free(struct sched *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->n; i++)
        reg_record_release(&s->v[i].rec);
    free(s->v);
    free(s->env);
    free(s);
}

/* a deep copy through the canonical JSON: the copy is equal by reg_record_equal's rule */
static int fake_copy(const struct reg_record *from, struct reg_record *to)
{
    struct mdo_err err = MDO_ERR_INIT;
    char *json = reg_record_json(from);
    int ret = json ? reg_record_parse(json, strlen(json), to, &err) : -MDO_ENOMEM;

    free(json);
    return ret;
}

int fake_run(struct sched *s, const char *service, const char *container, int ext)
{
    struct fake_inst *v = realloc(s->v, (s->n + 1) * sizeof(*v));
    struct reg_record *r;

    if (!v)
        return -MDO_ENOMEM;
    s->v = v;
    r = &v[s->n].rec;
    memset(&v[s->n], 0, sizeof(v[s->n]));
    r->service = fake_strdup(service);
    r->container = fake_strdup(container);
    r->environment = fake_strdup(s->env);
    r->host = fake_strdup("10.0.0.1");
    r->ports = calloc(1, sizeof(*r->ports));
    r->state = fake_strdup("running");
    r->started_at = fake_strdup("2026-12-01T09:00:00Z");
    r->app_version = fake_strdup("v1");
    r->backend = fake_strdup("fake");
    s->n++;
    if (!r->service || !r->container || !r->environment || !r->host || !r->ports || !r->state ||
        !r->started_at || !r->app_version || !r->backend || !(r->ports[0].name = strdup("http")))
        return -MDO_ENOMEM; /* the half-made record is freed with the fake */
    r->nports = 1;
    r->ports[0].internal = 8080;
    r->ports[0].external = ext;
    memcpy(r->ports[0].proto, "tcp", 4);
    return 0;
}

struct fake_inst *fake_find(struct sched *s, const char *container)
{
    for (unsigned i = 0; i < s->n; i++)
        if (!strcmp(s->v[i].rec.container, container))
            return &s->v[i];
    return NULL;
}

int fake_drop(struct sched *s, const char *container)
{
    struct fake_inst *f = fake_find(s, container);

    if (!f)
        return -1;
    reg_record_release(&f->rec);
    memmove(f, f + 1, (size_t)(s->v + s->n - (f + 1)) * sizeof(*f));
    s->n--;
    return 0;
}

static int fake_open(struct sched **s, const struct cfg *cfg, struct mdo_err *err)
{
    if (!(*s = fake_new(cfg->environment)))
        return err_set(err, MDO_ENOMEM, "out of memory");
    return 0;
}

static int fake_list(struct sched *s, const char *service, struct reg_record **out, unsigned *n,
                     struct mdo_err *err)
{
    struct reg_record *v = calloc(s->n ? s->n : 1, sizeof(*v));
    unsigned k = 0;

    s->lists++;
    *out = NULL;
    *n = 0;
    if (s->list_error) {
        free(v);
        return err_set(err, s->list_error, "fake scheduler: listing failed");
    }
    if (!v)
        return err_set(err, MDO_ENOMEM, "out of memory");
    for (unsigned i = 0; i < s->n; i++) {
        if (s->v[i].unlisted || (service && strcmp(service, s->v[i].rec.service)))
            continue;
        if (fake_copy(&s->v[i].rec, &v[k])) {
            reg_records_free(v, k);
            return err_set(err, MDO_ENOMEM, "out of memory");
        }
        k++;
    }
    qsort(v, k, sizeof(*v), reg_record_cmp);
    *out = v;
    *n = k;
    return 0;
}

static int fake_alive(struct sched *s, const struct reg_record *rec, struct mdo_err *err)
{
    s->alives++;
    if (s->alive_mode == FAKE_ALIVE_UNKNOWN)
        return err_set(err, MDO_ENET, "fake scheduler: cannot tell");
    return s->alive_mode == FAKE_ALIVE_BY_ARRAY && fake_find(s, rec->container) != NULL;
}

/* n instances of svc: the newest go first, new ones take the lowest free "<env>-<svc>-<i>" */
static int scale_to(struct sched *s, const struct cfg_service *svc, unsigned n, struct mdo_err *err)
{
    unsigned have = 0;
    char name[128];

    for (unsigned i = 0; i < s->n; i++)
        have += !strcmp(s->v[i].rec.service, svc->name);
    for (unsigned i = s->n; i-- > 0 && have > n;)
        if (!strcmp(s->v[i].rec.service, svc->name)) {
            fake_drop(s, s->v[i].rec.container);
            have--;
        }
    for (unsigned i = 1; have < n; i++) {
        snprintf(name, sizeof(name), "%s-%s-%u", s->env, svc->name, i);
        if (fake_find(s, name))
            continue;
        if (fake_run(s, svc->name, name, (int)(31000 + i)))
            return err_set(err, MDO_ENOMEM, "out of memory");
        have++;
    }
    return 0;
}

static int fake_scale(struct sched *s, const struct cfg_service *svc, unsigned n,
                      const struct sched_opts *o, struct mdo_err *err)
{
    (void)o;
    s->scales++;
    return scale_to(s, svc, n, err);
}

static int fake_launch(struct sched *s, const struct cfg_service *svc, const struct sched_opts *o,
                       struct mdo_err *err)
{
    (void)o;
    s->launches++;
    return scale_to(s, svc, svc->instances, err);
}

static int fake_stop(struct sched *s, const char *service, const struct sched_opts *o,
                     struct mdo_err *err)
{
    (void)o;
    (void)err;
    s->stops++;
    for (unsigned i = s->n; i-- > 0;)
        if (!strcmp(s->v[i].rec.service, service))
            fake_drop(s, s->v[i].rec.container);
    return 0;
}

const struct sched_ops sched_fake = {
    .name = "fake",
    .open = fake_open,
    .close = fake_free,
    .launch = fake_launch,
    .scale = fake_scale,
    .stop = fake_stop,
    .list = fake_list,
    .alive = fake_alive,
};
