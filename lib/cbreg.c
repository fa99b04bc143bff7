/* cbreg.c - callback registrations: ids, records and secrets in etcd, keys from registry.c */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <cjson/cJSON.h>
#include "cbreg.h"
#include "json.h"
#include "log.h"
#include "names.h"
#include "registry.h"
#include "timefmt.h"
#include "url.h"

#define CBREG_URL_MAX 2000 /* a URL longer than this is refused (as the routes refuse it) */

void cbreg_id(const char *service, const char *url, const char *owner, char id[CBREG_ID_LEN + 1])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();

    /* NUL-separated, so ("a","bc") and ("ab","c") differ */
    if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
        EVP_DigestUpdate(c, service, strlen(service) + 1) &&
        EVP_DigestUpdate(c, url, strlen(url) + 1) &&
        EVP_DigestUpdate(c, owner ? owner : "", strlen(owner ? owner : "") + 1) &&
        EVP_DigestFinal_ex(c, md, &mdlen) && mdlen >= CBREG_ID_LEN / 2) {
        for (unsigned i = 0; i < CBREG_ID_LEN / 2; i++)
            snprintf(id + 2 * i, 3, "%02x", md[i]);
    } else {
        snprintf(id, CBREG_ID_LEN + 1, "%016lx", (unsigned long)random());
    }
    EVP_MD_CTX_free(c);
}

/* The record's JSON; caller frees. NULL on ENOMEM. */
static char *record_json(const char *id, const char *service, const char *url, const char *ref,
                         const char *owner)
{
    char created[RFC3339_LEN], *s = NULL;
    cJSON *o = cJSON_CreateObject();
    int ok;

    rfc3339_format(time(NULL), created);
    ok = o && cJSON_AddStringToObject(o, "id", id) &&
         cJSON_AddStringToObject(o, "service", service) && cJSON_AddStringToObject(o, "url", url) &&
         (ref ? cJSON_AddStringToObject(o, "secret_ref", ref)
              : cJSON_AddNullToObject(o, "secret_ref")) &&
         cJSON_AddStringToObject(o, "created", created) &&
         (owner ? cJSON_AddStringToObject(o, "owner", owner) : cJSON_AddNullToObject(o, "owner"));
    if (ok)
        s = json_print(o);
    cJSON_Delete(o);
    return s;
}

int cbreg_register(struct etcd *e, const char *prefix, const char *env, const char *service,
                   const char *url, const char *secret, const char *owner,
                   char id[CBREG_ID_LEN + 1], struct mdo_err *err)
{
    struct buf key = BUF_INIT(4096), skey = BUF_INIT(4096), ref = BUF_INIT(4200);
    char *body = NULL;
    struct etcd_op ops[2];
    int ret, applied = 0;

    cbreg_id(service, url, owner, id);
    ret = reg_callback_key(&key, prefix, env, service, id);
    if (!ret)
        ret = reg_secret_key(&skey, prefix, env, id);
    if (!ret)
        ret = buf_addf(&ref, "etcd:%s", skey.ptr);
    if (ret == -MDO_EUSAGE)
        ret = err_set(err, MDO_EUSAGE, "service '%s' or environment '%s' is not a valid name",
                      service, env);
    else if (ret)
        ret = err_set(err, MDO_EUSAGE, "service name or prefix is too long");
    if (!ret && owner && !segment_ok(owner))
        ret = err_set(err, MDO_EUSAGE, "owner '%s' is not a container name", owner);
    if (!ret && !(body = record_json(id, service, url, secret ? ref.ptr : NULL, owner)))
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    if (!ret) {
        ops[0] = (struct etcd_op){ETCD_PUT, key.ptr, body, ETCD_ANY, 0};
        /* no secret now: an old one must not linger for a record that says none */
        ops[1] = secret ? (struct etcd_op){ETCD_PUT, skey.ptr, secret, ETCD_ANY, 0}
                        : (struct etcd_op){ETCD_DEL, skey.ptr, NULL, ETCD_ANY, 0};
        ret = etcd_txn(e, ops, 2, &applied, err);
    }
    free(body);
    buf_release(&key);
    buf_release(&skey);
    buf_release(&ref);
    return ret;
}

int cbreg_delete(struct etcd *e, const char *prefix, const char *env, const struct cbreg *r,
                 struct mdo_err *err)
{
    struct buf key = BUF_INIT(4096), skey = BUF_INIT(4096);
    struct etcd_op ops[2];
    int applied, ret = reg_callback_key(&key, prefix, env, r->service, r->id);

    if (!ret)
        ret = reg_secret_key(&skey, prefix, env, r->id);
    if (ret) {
        ret = err_set(err, MDO_EUSAGE, "no key for callback '%s'", r->id);
    } else {
        ops[0] = (struct etcd_op){ETCD_DEL, key.ptr, NULL, ETCD_ANY, 0};
        ops[1] = (struct etcd_op){ETCD_DEL, skey.ptr, NULL, ETCD_ANY, 0};
        ret = etcd_txn(e, ops, 2, &applied, err);
    }
    buf_release(&key);
    buf_release(&skey);
    return ret;
}

void cbreg_release(struct cbreg *r)
{
    free(r->id);
    free(r->service);
    free(r->url);
    free(r->secret_ref);
    free(r->owner);
    memset(r, 0, sizeof(*r));
}

void cbreg_free(struct cbreg *r, size_t n)
{
    for (size_t i = 0; r && i < n; i++)
        cbreg_release(&r[i]);
    free(r);
}

/* strdup of a string member that may be absent (then NULL, and *ok stays) */
static char *dup_opt(const cJSON *o, const char *k, int *ok)
{
    const char *s = json_str(o, k);
    char *d = s ? strdup(s) : NULL;

    if (s && !d)
        *ok = 0;
    return d;
}

/* r's service and id from rest, "<service>/<id>" (the key after ".../callbacks/"). */
static int key_parts(const char *rest, struct cbreg *r, struct mdo_err *err)
{
    const char *slash = strchr(rest, '/');

    if (!slash)
        return err_set(err, MDO_EPROTO, "not a registration key");
    if (!(r->service = strndup(rest, (size_t)(slash - rest))) || !(r->id = strdup(slash + 1)))
        return err_set(err, MDO_ENOMEM, "out of memory");
    if (!name_ok(r->service) || !segment_ok(r->id))
        return err_set(err, MDO_EPROTO, "not a registration key");
    return 0;
}

int cbreg_unregister(struct etcd *e, const char *prefix, const char *env, const char *id,
                     struct mdo_err *err)
{
    struct buf base = BUF_INIT(4096);
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct cbreg r = {0};
    int ret = reg_callbacks_prefix(&base, prefix, env, NULL), found = 0;

    if (ret)
        ret = err_set(err, MDO_EUSAGE, "environment '%s' is not a valid name", env);
    if (!ret)
        ret = etcd_get_prefix(e, base.ptr, &kvs, err);
    /* by key, not by record: a registration whose value is broken can still be removed */
    for (size_t i = 0; !ret && !found && i < kvs.n; i++) {
        struct mdo_err kerr = MDO_ERR_INIT;
        cbreg_release(&r);
        if (key_parts(kvs.kv[i].key + base.len, &r, &kerr) == -MDO_ENOMEM)
            ret = err_set(err, MDO_ENOMEM, "out of memory");
        else
            found = !kerr.code && !strcmp(r.id, id);
    }
    if (!ret && !found)
        ret = err_set(err, MDO_ENOTFOUND, "no callback '%s' in environment '%s'", id, env);
    if (!ret)
        ret = cbreg_delete(e, prefix, env, &r, err);
    cbreg_release(&r);
    etcd_kvs_release(&kvs);
    buf_release(&base);
    return ret;
}

int cbreg_parse(const char *rest, const char *json, size_t len, struct cbreg *r,
                struct mdo_err *err)
{
    cJSON *o;
    const char *url;
    int ok = 1, ret;

    memset(r, 0, sizeof(*r));
    ret = key_parts(rest, r, err);
    if (ret) {
        cbreg_release(r);
        return ret;
    }
    o = cJSON_ParseWithLength(json, len);
    url = json_str(o, "url");
    if (!url || strlen(url) > CBREG_URL_MAX || url_check("callback url", url, err)) {
        cJSON_Delete(o);
        cbreg_release(r);
        return err_set(err, MDO_EPROTO, "no http:// or https:// url");
    }
    r->url = strdup(url);
    r->secret_ref = dup_opt(o, "secret_ref", &ok);
    r->owner = dup_opt(o, "owner", &ok);
    if (rfc3339_parse(json_str(o, "created"), &r->created))
        r->created = 0;
    cJSON_Delete(o);
    if (!ok || !r->url) {
        cbreg_release(r);
        return err_set(err, MDO_ENOMEM, "out of memory");
    }
    return 0;
}

int cbreg_list(struct etcd *e, const char *prefix, const char *env, const char *service,
               struct cbreg **out, size_t *n, struct mdo_err *err)
{
    struct buf base = BUF_INIT(4096), p = BUF_INIT(4096);
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    struct cbreg *r = NULL;
    size_t m = 0;
    int ret = reg_callbacks_prefix(&base, prefix, env, NULL);

    *out = NULL;
    *n = 0;
    if (!ret)
        ret = reg_callbacks_prefix(&p, prefix, env, service);
    if (ret)
        ret = err_set(err, MDO_EUSAGE, "no callbacks key for service '%s'", service ? service : "");
    if (!ret)
        ret = etcd_get_prefix(e, p.ptr, &kvs, err);
    if (!ret && kvs.n && !(r = calloc(kvs.n, sizeof(*r))))
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    for (size_t i = 0; !ret && i < kvs.n; i++) {
        struct mdo_err perr = MDO_ERR_INIT;
        int pr =
            cbreg_parse(kvs.kv[i].key + base.len, kvs.kv[i].value, kvs.kv[i].len, &r[m], &perr);
        if (pr == -MDO_ENOMEM)
            ret = err_set(err, MDO_ENOMEM, "out of memory");
        else if (pr)
            log_warn("callbacks", "bad registration skipped", "key=%s", kvs.kv[i].key);
        else
            m++;
    }
    if (ret) {
        cbreg_free(r, m);
    } else {
        *out = r;
        *n = m;
    }
    etcd_kvs_release(&kvs);
    buf_release(&base);
    buf_release(&p);
    return ret;
}

char *cbreg_secret(struct etcd *e, const struct cbreg *r)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct etcd_kvs kvs = ETCD_KVS_INIT;
    char *s = NULL;

    if (!r->secret_ref)
        return NULL;
    if (!strncmp(r->secret_ref, "env:", 4)) {
        const char *v = getenv(r->secret_ref + 4);
        if (!v)
            log_warn("callbacks", "secret variable not set: sending unsigned", "id=%s var=%s",
                     r->id, r->secret_ref + 4);
        return v ? strdup(v) : NULL;
    }
    if (strncmp(r->secret_ref, "etcd:", 5)) {
        log_warn("callbacks", "unknown secret_ref kind: sending unsigned", "id=%s", r->id);
        return NULL;
    }
    if (etcd_get(e, r->secret_ref + 5, &kvs, &err) || !kvs.n)
        log_warn("callbacks", "secret unreadable: sending unsigned", "id=%s err=\"%s\"", r->id,
                 err.code ? err.msg : "no such key");
    else
        s = strdup(kvs.kv[0].value);
    etcd_kvs_release(&kvs);
    return s;
}

void cbreg_count(const struct cbreg *rs, size_t n, const char *service, const char *owner,
                 const char *id, size_t *of_service, size_t *of_owner, int *exists)
{
    *of_service = *of_owner = 0;
    *exists = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cbreg *r = &rs[i];
        if (!strcmp(r->id, id) && !strcmp(r->service, service)) {
            *exists = 1; /* rewritten, not added */
            continue;
        }
        if (!strcmp(r->service, service))
            (*of_service)++;
        if (owner ? r->owner && !strcmp(r->owner, owner) : !r->owner)
            (*of_owner)++;
    }
}

int cbreg_admit(struct etcd *e, const char *prefix, const char *env, const char *service,
                const char *url, const char *owner, unsigned max_service, unsigned max_owner,
                unsigned extra, struct mdo_err *err)
{
    struct cbreg *r = NULL;
    size_t n = 0, svc, own;
    char id[CBREG_ID_LEN + 1];
    int exists, ret = cbreg_list(e, prefix, env, NULL, &r, &n, err);

    if (ret)
        return ret;
    cbreg_id(service, url, owner, id);
    cbreg_count(r, n, service, owner, id, &svc, &own, &exists);
    cbreg_free(r, n);
    if (exists)
        return 0;
    if (svc + extra >= max_service)
        return err_set(err, MDO_ECONFLICT,
                       "service '%s' has %zu callback registrations, the most "
                       "subscriber.callback_max_per_service (%u) allows",
                       service, svc, max_service);
    if (own + extra >= max_owner)
        return err_set(err, MDO_ECONFLICT,
                       "owner '%s' has %zu callback registrations, the most "
                       "subscriber.callback_max_per_owner (%u) allows",
                       owner ? owner : "(none)", own, max_owner);
    return 0;
}
