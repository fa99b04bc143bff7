/* subscribe_callbacks.c - `mdo subscribe`'s /v1/callbacks: auth, validation, JSON answers
 *
 *   POST   /v1/callbacks      {"service","url"[,"secret"][,"owner"]} -> 201 {"id","service","url"}
 *   GET    /v1/callbacks      -> {"callbacks":[{"id","service","url","signed","created","owner"}]}
 *   DELETE /v1/callbacks/ID   -> {"deleted":"ID"}
 * subscriber.token allows all three; subscriber.guest_token (the containers') only POST and
 * DELETE, for this environment (cbauth.h). Errors are {"error":"..."}. Secrets are never answered
 * nor logged; URLs are logged without credentials and query (url_shown).
 */
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "cbauth.h"
#include "cbreg.h"
#include "json.h"
#include "log.h"
#include "names.h"
#include "subscribe_callbacks.h"
#include "timefmt.h"
#include "url.h"

#define URL_MAX 2000 /* longer callback URLs are refused */

/* Sends o (taken) as the answer's body; a tree that could not be built answers 500. */
static void reply(struct server_resp *resp, int status, cJSON *o)
{
    char *s = o ? json_print(o) : NULL;

    resp->status = s ? status : 500;
    buf_reset(&resp->body);
    buf_adds(&resp->body, s ? s : "{\"error\":\"out of memory\"}");
    buf_addc(&resp->body, '\n');
    free(s);
    cJSON_Delete(o);
}

static void answer(struct server_resp *resp, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();

    if (o && !cJSON_AddStringToObject(o, "error", msg)) {
        cJSON_Delete(o);
        o = NULL;
    }
    reply(resp, status, o);
}

static int url_ok(const char *s)
{
    struct mdo_err err = MDO_ERR_INIT;

    return s && strlen(s) <= URL_MAX && !url_check("callback url", s, &err);
}

static void route_post(struct callbacks *cb, enum cbauth_role role, const struct server_req *req,
                       struct server_resp *resp)
{
    struct mdo_err err = MDO_ERR_INIT;
    cJSON *o = cJSON_ParseWithLength(req->body, req->body_len), *a;
    const char *svc = json_str(o, "service"), *url = json_str(o, "url"),
               *secret = json_str(o, "secret"), *owner = json_str(o, "owner");
    const cJSON *env = cJSON_GetObjectItemCaseSensitive(o, "environment");
    char id[CBREG_ID_LEN + 1], *shown;
    int st;

    if (!cJSON_IsObject(o))
        answer(resp, 400,
               "the body must be a JSON object {\"service\",\"url\"[,\"secret\"]"
               "[,\"owner\"][,\"environment\"]}");
    else if (env && !cJSON_IsString(env))
        answer(resp, 400, "'environment' must be a string");
    else if ((st = cbauth_check_env(role, env ? env->valuestring : NULL, callbacks_cfg(cb)->environment)))
        answer(resp, st,
               st == 403 ? "the guest token registers only in this subscriber's environment"
                         : "this subscriber serves another environment");
    else if (!svc || !name_ok(svc))
        answer(resp, 400, "'service' must be a service name");
    else if (!url_ok(url))
        answer(resp, 400, "'url' must be an http:// or https:// URL");
    else if (owner && !segment_ok(owner))
        answer(resp, 400, "'owner' must be a container name");
    else if (secret && !*secret)
        answer(resp, 400, "'secret' must not be empty");
    else if ((st = callbacks_register(cb, svc, url, secret, owner, id, &err)))
        answer(resp, st, err.msg);
    else {
        a = cJSON_CreateObject();
        if (a &&
            !(cJSON_AddStringToObject(a, "id", id) && cJSON_AddStringToObject(a, "service", svc) &&
              cJSON_AddStringToObject(a, "url", url))) {
            cJSON_Delete(a);
            a = NULL;
        }
        reply(resp, 201, a);
        shown = url_shown(url, URL_NO_QUERY);
        log_info("callbacks", "registered", "id=%s service=%s url=%s signed=%d", id, svc,
                 shown ? shown : "", secret != NULL);
        free(shown);
        callbacks_recount(cb);
    }
    cJSON_Delete(o);
}

/* One registration as GET answers it (no secret, only whether there is one). */
static cJSON *listed(const struct cbreg *r)
{
    cJSON *o = cJSON_CreateObject();
    char ts[RFC3339_LEN];

    rfc3339_format(r->created, ts);
    if (o && cJSON_AddStringToObject(o, "id", r->id) &&
        cJSON_AddStringToObject(o, "service", r->service) &&
        cJSON_AddStringToObject(o, "url", r->url) &&
        cJSON_AddBoolToObject(o, "signed", r->secret_ref != NULL) &&
        cJSON_AddStringToObject(o, "created", ts) &&
        (r->owner ? cJSON_AddStringToObject(o, "owner", r->owner)
                  : cJSON_AddNullToObject(o, "owner")))
        return o;
    cJSON_Delete(o);
    return NULL;
}

static void route_list(struct callbacks *cb, struct server_resp *resp)
{
    const struct cfg *cfg = callbacks_cfg(cb);
    struct mdo_err err = MDO_ERR_INIT;
    struct cbreg *r = NULL;
    size_t n = 0;
    cJSON *o, *a;
    int ok;

    /* service and id come from the keys, checked with names.h by cbreg_list */
    if (cbreg_list(callbacks_etcd(cb), cfg->etcd.prefix, cfg->environment, NULL, &r, &n, &err)) {
        answer(resp, 503, err.msg);
        return;
    }
    callbacks_registered(cb, (long)n);
    o = cJSON_CreateObject();
    ok = o && (a = cJSON_AddArrayToObject(o, "callbacks"));
    for (size_t i = 0; ok && i < n; i++) {
        cJSON *e = listed(&r[i]);
        ok = e && cJSON_AddItemToArray(a, e);
        if (!ok)
            cJSON_Delete(e);
    }
    if (!ok) {
        cJSON_Delete(o);
        o = NULL;
    }
    reply(resp, 200, o);
    cbreg_free(r, n);
}

static void route_delete(struct callbacks *cb, const char *id, struct server_resp *resp)
{
    const struct cfg *cfg = callbacks_cfg(cb);
    struct mdo_err err = MDO_ERR_INIT;
    cJSON *o;

    if (!segment_ok(id)) {
        answer(resp, 404, "no such callback");
    } else if (cbreg_unregister(callbacks_etcd(cb), cfg->etcd.prefix, cfg->environment, id, &err)) {
        answer(resp, err.code == MDO_ENOTFOUND ? 404 : 503, err.msg);
    } else {
        o = cJSON_CreateObject();
        if (o && !cJSON_AddStringToObject(o, "deleted", id)) {
            cJSON_Delete(o);
            o = NULL;
        }
        reply(resp, 200, o);
        callbacks_recount(cb);
    }
}

static void route_callbacks(void *ctx, const struct server_req *req, struct server_resp *resp)
{
    struct callbacks *cb = ctx;
    const char *id = !strncmp(req->path, "/v1/callbacks/", 14) ? req->path + 14 : NULL;
    const struct cfg *cfg = callbacks_cfg(cb);
    enum cbauth_role role =
        cbauth_role(cfg->subscriber.token, cfg->subscriber.guest_token, req->authorization);
    int st;

    if (id && !*id)
        id = NULL;
    st = cbauth_check(role, req->method, id != NULL);
    if (st == 401)
        answer(resp, 401,
               "a bearer token is required (subscriber.token or subscriber.guest_token)");
    else if (strcmp(req->path, "/v1/callbacks") && strcmp(req->path, "/v1/callbacks/") && !id)
        answer(resp, 404, "no such resource");
    else if (st)
        answer(resp, st,
               "the guest token (subscriber.guest_token) allows only POST /v1/callbacks and "
               "DELETE /v1/callbacks/ID");
    else if (!strcmp(req->method, "POST") && !id)
        route_post(cb, role, req, resp);
    else if (!strcmp(req->method, "GET") && !id)
        route_list(cb, resp);
    else if (!strcmp(req->method, "DELETE") && id)
        route_delete(cb, id, resp);
    else
        answer(resp, 405,
               "method not allowed (POST or GET /v1/callbacks, DELETE "
               "/v1/callbacks/ID)");
}

int subscribe_callbacks_routes(struct server *srv, struct callbacks *cb)
{
    server_route_methods(srv, "/v1/callbacks", "GET, POST, DELETE", route_callbacks, cb, 0);
    return 0;
}
