/* register_callback.c - register_callback: have the subscriber POST a service's membership
 * changes to a URL, through the subscriber's API (never etcd: only the subscriber writes
 * callbacks/ and secrets/, DESIGN §10)
 *
 * usage: register_callback SERVICE URL [--secret S] [--owner NAME] [--remove]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include "applet.h"
#include "cbreg.h"
#include "json.h"
#include "names.h"
#include "url.h"

const char guest_usage_register_callback[] =
    "usage: register_callback SERVICE URL [--secret S] [--owner NAME] [--remove]\n"
    "\n"
    "Registers URL with the subscriber: each time the membership of SERVICE changes, the\n"
    "subscriber POSTs {\"environment\",\"service\",\"revision\",\"instances\",\"added\",\n"
    "\"removed\",\"changed\"} to it (with X-Mdo-Signature: sha256=<hex HMAC-SHA256 of the\n"
    "body, keyed with S> when --secret is given), retrying with backoff. Prints the\n"
    "registration's id. Registering the same SERVICE, URL and owner again rewrites the same\n"
    "registration (a start script may run it at every start).\n"
    "\n"
    "It calls POST (--remove: DELETE) $MDO_SUBSCRIBER_URL/v1/callbacks with\n"
    "\"Authorization: Bearer $MDO_SUBSCRIBER_TOKEN\"; mdo sets both in its containers.\n"
    "The owner is this container ($MDO_CONTAINER_NAME, else $MESOS_TASK_ID): when it leaves\n"
    "the registry, the subscriber removes its registrations.\n"
    "\n"
    "  --secret S    sign the deliveries (S is kept apart from the record, see guest/README.md)\n"
    "  --owner NAME  another owner ('' for none: the registration then stays until removed)\n"
    "  --remove      remove the registration instead\n"
    "\n"
    "Exit 0 done, 1 no such registration (--remove), 2 usage (or the subscriber refused the\n"
    "request), 3 subscriber unreachable or refusing MDO_SUBSCRIBER_TOKEN.\n";

struct rc_opts {
    const char *secret, *owner;
    int remove;
};

static const struct cli_opt options[] = {
    {.type = CLI_STRING, .long_name = "secret", .off = offsetof(struct rc_opts, secret)},
    {.type = CLI_STRING, .long_name = "owner", .off = offsetof(struct rc_opts, owner)},
    {.type = CLI_BOOL, .long_name = "remove", .off = offsetof(struct rc_opts, remove)},
    {0},
};

/* POST /v1/callbacks {"service","url"[,"secret"][,"owner"][,"environment"]}: the environment
 * the container belongs to, which the subscriber checks against its own. Prints the id. */
static int rc_register(struct guest_api *api, const char *svc, const char *url, const char *secret,
                       const char *owner, struct mdo_err *err)
{
    struct http_resp resp = HTTP_RESP_INIT;
    const char *env = guest_env("MDO_ENVIRONMENT", NULL), *id;
    cJSON *o = cJSON_CreateObject(), *a = NULL;
    char *body = NULL;
    int ret;

    if (o && cJSON_AddStringToObject(o, "service", svc) && cJSON_AddStringToObject(o, "url", url) &&
        (!secret || cJSON_AddStringToObject(o, "secret", secret)) &&
        (!owner || cJSON_AddStringToObject(o, "owner", owner)) &&
        (!env || cJSON_AddStringToObject(o, "environment", env)))
        body = json_print(o);
    ret = body ? guest_api_request(api, "POST", "/v1/callbacks", body, &resp, err)
               : err_set(err, MDO_ENOMEM, "out of memory");
    if (ret == -MDO_ENOTFOUND) /* no such route: MDO_SUBSCRIBER_URL is not a subscriber's */
        ret = err_set(err, MDO_EHTTP,
                      "MDO_SUBSCRIBER_URL answers 404 to /v1/callbacks: not mdo's "
                      "subscriber?");
    if (!ret) {
        a = cJSON_ParseWithLength(resp.body.ptr ? resp.body.ptr : "", resp.body.len);
        id = json_str(a, "id");
        if (id && segment_ok(id))
            guest_print(id);
        else
            ret = err_set(err, MDO_EPROTO, "the subscriber answered no registration id");
    }
    if (body)
        OPENSSL_cleanse(body, strlen(body)); /* it holds the secret */
    free(body);
    cJSON_Delete(a);
    cJSON_Delete(o);
    http_resp_release(&resp);
    return ret;
}

/* DELETE /v1/callbacks/ID, the id the subscriber gave SERVICE, URL and owner (cbreg_id). */
static int rc_remove(struct guest_api *api, const char *svc, const char *url, const char *owner,
                     struct mdo_err *err)
{
    struct http_resp resp = HTTP_RESP_INIT;
    struct buf path = BUF_INIT(0);
    char id[CBREG_ID_LEN + 1];
    int ret;

    cbreg_id(svc, url, owner, id);
    buf_adds(&path, "/v1/callbacks/");
    ret = url_add_segment(&path, id) ? err_set(err, MDO_ENOMEM, "out of memory")
                                     : guest_api_request(api, "DELETE", path.ptr, NULL, &resp, err);
    if (ret == -MDO_ENOTFOUND)
        ret = err_set(err, MDO_ENOTFOUND, "no registration of '%s' to that URL%s%s (id %s)", svc,
                      owner ? " owned by " : "", owner ? owner : "", id);
    if (!ret)
        guest_print(id);
    buf_release(&path);
    http_resp_release(&resp);
    return ret;
}

int guest_register_callback(int argc, char **argv)
{
    struct guest_api api = GUEST_API_INIT;
    struct mdo_err err = MDO_ERR_INIT;
    const char *name = argv[0], *usage = guest_usage_register_callback;
    const struct cli c = {name, usage, options, 0, "%s wants a value"};
    struct rc_opts o = {.owner = guest_env("MDO_CONTAINER_NAME", "MESOS_TASK_ID")};
    struct cli_args args;
    const char *svc, *url, *secret, *owner;
    int remove, too_many, ret;

    if (cli_wants_help(argc, argv, usage))
        return GUEST_FOUND;
    ret = cli_parse(&c, argc, argv, &o, &args);
    if (ret)
        return ret;
    svc = args.n > 0 ? args.v[0] : NULL; /* argv's strings: they outlive the array */
    url = args.n > 1 ? args.v[1] : NULL;
    too_many = args.n > 2;
    cli_args_release(&args);
    secret = o.secret;
    owner = o.owner;
    remove = o.remove;
    if (too_many)
        return guest_usage_error(name, usage, "too many arguments");
    if (!svc || !url)
        return guest_usage_error(name, usage, "expected SERVICE URL");
    if (guest_check_name("service", svc, &err) || name_check("service", svc, &err))
        return guest_usage_error(name, usage, "%s", err.msg);
    if ((strncmp(url, "http://", 7) && strncmp(url, "https://", 8)) || strpbrk(url, " \t\r\n"))
        return guest_usage_error(name, usage, "URL must be http:// or https://, not '%s'", url);
    if (secret && !*secret)
        return guest_usage_error(name, usage, "--secret is empty");
    if (owner && !*owner)
        owner = NULL;
    if (owner && (guest_check_name("owner", owner, &err) || segment_check("owner", owner, &err)))
        return guest_usage_error(name, usage, "%s", err.msg);
    ret = guest_api_open(&api, &err);
    if (!ret && remove)
        ret = rc_remove(&api, svc, url, owner, &err);
    else if (!ret)
        ret = rc_register(&api, svc, url, secret, owner, &err);
    guest_api_close(&api);
    return guest_report(name, &err);
}
