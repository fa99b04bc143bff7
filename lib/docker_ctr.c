/* docker_ctr.c - the docker backend's pure parts: instance names, label filters, the create
 * body with mdo's labels, and the registry record of an inspected container (no I/O here) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "docker.h"
#include "http.h"
#include "json.h"
#include "names.h"
#include "spec.h"
#include "timefmt.h"

#define DK_MAX_PORTS 1024 /* more entries than any service has: a label from elsewhere */

int dkr_instance_name(struct buf *b, const char *env, const char *service, unsigned n)
{
    buf_reset(b);
    return buf_addf(b, "%s-%s-%u", env, service, n);
}

unsigned dkr_name_index(const char *name, const char *env, const char *service)
{
    size_t le = strlen(env), ls = strlen(service);
    unsigned n = 0;
    const char *p;

    if (strncmp(name, env, le) || name[le] != '-' || strncmp(name + le + 1, service, ls) ||
        name[le + 1 + ls] != '-')
        return 0;
    for (p = name + le + ls + 2; *p >= '0' && *p <= '9' && n < 100000; p++)
        n = n * 10 + (unsigned)(*p - '0');
    return *p ? 0 : n;
}

/* "key=value" added to array a */
static void add_pair(cJSON *a, struct buf *b, const char *key, const char *value)
{
    buf_reset(b);
    buf_addf(b, "%s=%s", key, value);
    cJSON_AddItemToArray(a, cJSON_CreateString(buf_str(b)));
}

int dkr_filters(struct buf *b, const char *type, const char *env, const char *service)
{
    cJSON *f = cJSON_CreateObject(), *labels;
    struct buf pair = BUF_INIT(0);
    char *s;
    int ret;

    if (type)
        cJSON_AddItemToArray(cJSON_AddArrayToObject(f, "type"), cJSON_CreateString(type));
    labels = cJSON_AddArrayToObject(f, "label");
    add_pair(labels, &pair, "mdo.environment", env);
    if (service)
        add_pair(labels, &pair, "mdo.service", service);
    s = json_print(f);
    ret = s ? http_escape(b, s) : -MDO_ENOMEM;
    free(s);
    cJSON_Delete(f);
    buf_release(&pair);
    return ret;
}

char *dkr_ports_label(const struct cfg_service *svc)
{
    cJSON *a = cJSON_CreateArray();
    char *s;

    for (unsigned i = 0; i < svc->nports; i++) {
        cJSON *p = cJSON_CreateObject();
        cJSON_AddStringToObject(p, "name", svc->ports[i].name);
        cJSON_AddNumberToObject(p, "port", svc->ports[i].port);
        cJSON_AddStringToObject(p, "protocol", svc->ports[i].proto);
        cJSON_AddItemToArray(a, p);
    }
    s = json_print(a);
    cJSON_Delete(a);
    return s;
}

static void add_healthcheck(cJSON *o, const struct cfg_service *svc)
{
    cJSON *h = cJSON_AddObjectToObject(o, "Healthcheck"), *t = cJSON_AddArrayToObject(h, "Test");
    struct buf b = BUF_INIT(0);

    cJSON_AddItemToArray(t, cJSON_CreateString("CMD-SHELL"));
    if (svc->health.cmd) {
        buf_adds(&b, svc->health.cmd);
    } else {
        const struct cfg_port *p = cfg_health_port(svc);
        buf_addf(&b, "wget -q -O /dev/null http://127.0.0.1:%u%s || exit 1", p ? p->port : 80,
                 svc->health.http);
    }
    cJSON_AddItemToArray(t, cJSON_CreateString(buf_str(&b)));
    cJSON_AddNumberToObject(h, "Interval", svc->health.interval * 1e9);
    cJSON_AddNumberToObject(h, "Timeout", svc->health.timeout * 1e9);
    cJSON_AddNumberToObject(h, "StartPeriod", svc->health.grace * 1e9);
    cJSON_AddNumberToObject(h, "Retries", 3);
    buf_release(&b);
}

/* A file of the host, read-only at target inside the container. A Mounts entry, not a Binds
 * string, so any path works (Binds splits on ':'); Docker resolves the source on the engine's
 * host, so a relative path is made absolute here (one that does not exist is left as it is:
 * Docker's refusal names it). */
static void add_file_mount(cJSON *hc, const char *src, const char *target)
{
    char *abs = realpath(src, NULL);
    cJSON *mounts = cJSON_GetObjectItemCaseSensitive(hc, "Mounts"), *m = cJSON_CreateObject();

    if (!mounts)
        mounts = cJSON_AddArrayToObject(hc, "Mounts");
    cJSON_AddStringToObject(m, "Type", "bind");
    cJSON_AddStringToObject(m, "Source", abs ? abs : src);
    cJSON_AddStringToObject(m, "Target", target);
    cJSON_AddBoolToObject(m, "ReadOnly", 1);
    if (!cJSON_AddItemToArray(mounts, m))
        cJSON_Delete(m);
    free(abs);
}

/* etcd's CA at SPEC_ETCD_CA, where MDO_ETCD_CA points (spec_env): the applets verify etcd with
 * it; and the guest's client certificate and key (etcd.guest.cert/key) beside it, for an etcd
 * that asks clients for one (--client-cert-auth). */
static void add_ca_mount(cJSON *hc, const struct cfg *cfg)
{
    const char *ca = spec_etcd_ca(cfg);

    if (ca)
        add_file_mount(hc, ca, SPEC_ETCD_CA);
    if (spec_etcd_guest_cert(cfg)) {
        add_file_mount(hc, cfg->etcd.guest.cert, SPEC_ETCD_CERT);
        add_file_mount(hc, cfg->etcd.guest.key, SPEC_ETCD_KEY);
    }
}

/* The service's volumes: bind Mounts beside the CA's. */
static void add_volume_mounts(cJSON *hc, const struct cfg_service *svc)
{
    cJSON *ms = cJSON_GetObjectItemCaseSensitive(hc, "Mounts");

    if (!svc->nvolumes)
        return;
    if (!ms)
        ms = cJSON_AddArrayToObject(hc, "Mounts");
    for (unsigned i = 0; i < svc->nvolumes; i++) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "Type", "bind");
        cJSON_AddStringToObject(m, "Source", svc->volumes[i].host);
        cJSON_AddStringToObject(m, "Target", svc->volumes[i].path);
        cJSON_AddBoolToObject(m, "ReadOnly", svc->volumes[i].ro);
        cJSON_AddItemToArray(ms, m);
    }
}

cJSON *dkr_create_body(const struct cfg *cfg, const struct cfg_service *svc,
                       const char *host_address, const char *name, const char *version)
{
    cJSON *o = cJSON_CreateObject(), *env, *labels, *exposed, *hc, *bind, *a;
    char **vars = spec_env(cfg, svc, host_address, name);
    char *ports = dkr_ports_label(svc);
    struct buf b = BUF_INIT(0);

    if (!o || !vars || !ports || !(labels = spec_labels(cfg, svc, version))) {
        cJSON_Delete(o);
        spec_env_free(vars);
        free(ports);
        return NULL;
    }
    cJSON_AddStringToObject(o, "Image", svc->image);
    env = cJSON_AddArrayToObject(o, "Env");
    for (size_t i = 0; vars[i]; i++)
        cJSON_AddItemToArray(env, cJSON_CreateString(vars[i]));
    spec_env_free(vars);
    if (svc->nargs) {
        a = cJSON_AddArrayToObject(o, "Cmd");
        for (unsigned i = 0; i < svc->nargs; i++)
            cJSON_AddItemToArray(a, cJSON_CreateString(svc->args[i]));
    }
    cJSON_AddStringToObject(labels, DK_PORTS_LABEL, ports);
    free(ports);
    cJSON_AddItemToObject(o, "Labels", labels);
    exposed = cJSON_AddObjectToObject(o, "ExposedPorts");
    hc = cJSON_CreateObject();
    bind = cJSON_AddObjectToObject(hc, "PortBindings");
    for (unsigned i = 0; i < svc->nports; i++) {
        cJSON *one = cJSON_CreateObject(), *list = cJSON_CreateArray();
        char hp[12] = "";
        buf_reset(&b);
        buf_addf(&b, "%u/%s", svc->ports[i].port, svc->ports[i].proto);
        cJSON_AddItemToObject(exposed, b.ptr, cJSON_CreateObject());
        if (svc->ports[i].host_port)
            snprintf(hp, sizeof(hp), "%u", svc->ports[i].host_port);
        cJSON_AddStringToObject(one, "HostIp", host_address);
        cJSON_AddStringToObject(one, "HostPort", hp); /* "" = Docker picks */
        cJSON_AddItemToArray(list, one);
        cJSON_AddItemToObject(bind, b.ptr, list);
    }
    cJSON_AddItemToObject(cJSON_AddObjectToObject(hc, "RestartPolicy"), "Name",
                          cJSON_CreateString("unless-stopped"));
    cJSON_AddNumberToObject(hc, "NanoCpus", (double)(long long)(svc->cpus * 1e9));
    cJSON_AddNumberToObject(hc, "Memory", (double)svc->mem * 1024 * 1024);
    cJSON_AddBoolToObject(hc, "Init", 1); /* signals reach the service; zombies are reaped */
    add_ca_mount(hc, cfg);
    add_volume_mounts(hc, svc);
    cJSON_AddItemToObject(o, "HostConfig", hc);
    if (svc->has_health)
        add_healthcheck(o, svc);
    buf_release(&b);
    return o;
}

/* A port number 1..65535 from a JSON number, or 0. */
static int port_of(const cJSON *n)
{
    if (!cJSON_IsNumber(n) || n->valuedouble < 1 || n->valuedouble > 65535 ||
        n->valuedouble != (double)(int)n->valuedouble)
        return 0;
    return (int)n->valuedouble;
}

/* The host port Docker bound to internal/proto ("HostPort" is a decimal string), 0 if none. */
static int host_port(const cJSON *bindings, int internal, const char *proto)
{
    char key[32], *end;
    const char *hp;
    long v;

    snprintf(key, sizeof(key), "%d/%s", internal, proto);
    hp = json_str(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(bindings, key), 0),
                  "HostPort");
    if (!hp || !*hp)
        return 0;
    v = strtol(hp, &end, 10);
    return *end || v < 1 || v > 65535 ? 0 : (int)v;
}

/* rec->ports from the mdo.ports label: every entry must have a name, a port and tcp/udp.
 * Containers created before the label became JSON carry "name:port/proto,...": read that
 * too, as strictly, until they are replaced. */
static int read_ports(struct reg_record *rec, const char *label, const cJSON *bindings,
                      struct mdo_err *err)
{
    cJSON *a = label[0] == '[' ? cJSON_Parse(label) : NULL, *p;
    int n = cJSON_GetArraySize(a), ret = 0;

    if (label[0] == '\0')
        return 0;
    if (label[0] != '[') { /* the old form: one "name:port/proto" per comma */
        a = cJSON_CreateArray();
        for (const char *s = label; a && *s;) {
            size_t len = strcspn(s, ",");
            const char *colon = memchr(s, ':', len), *slash = memchr(s, '/', len);
            char num[8] = "", *end;
            long v = 0;
            cJSON *o = cJSON_CreateObject();
            if (colon && slash && slash > colon + 1 && (size_t)(slash - colon) < sizeof(num)) {
                memcpy(num, colon + 1, (size_t)(slash - colon - 1));
                v = strtol(num, &end, 10);
                if (!*end && colon > s) {
                    char *nm = strndup(s, (size_t)(colon - s)),
                         *pr = strndup(slash + 1, (size_t)(s + len - slash - 1));
                    cJSON_AddStringToObject(o, "name", nm ? nm : "");
                    cJSON_AddNumberToObject(o, "port", (double)v);
                    cJSON_AddStringToObject(o, "protocol", pr ? pr : "");
                    free(nm);
                    free(pr);
                }
            }
            cJSON_AddItemToArray(a, o);
            s += len;
            if (*s == ',')
                s++;
        }
        n = cJSON_GetArraySize(a);
    }
    if (!cJSON_IsArray(a) || n > DK_MAX_PORTS) {
        cJSON_Delete(a);
        return err_set(err, MDO_EPROTO, "label %s is not a JSON list of ports", DK_PORTS_LABEL);
    }
    if (n && !(rec->ports = calloc((size_t)n, sizeof(*rec->ports))))
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    cJSON_ArrayForEach(p, a)
    {
        const char *name = json_str(p, "name"), *proto = json_str(p, "protocol");
        int port = port_of(cJSON_GetObjectItemCaseSensitive(p, "port"));
        struct reg_port *rp;
        if (ret)
            break;
        if (!name || !name_ok(name) || !port || !proto ||
            (strcmp(proto, "tcp") && strcmp(proto, "udp"))) {
            ret = err_set(err, MDO_EPROTO, "label %s has a bad entry (entry %u)", DK_PORTS_LABEL,
                          rec->nports + 1);
            break;
        }
        rp = &rec->ports[rec->nports++];
        rp->internal = port;
        snprintf(rp->proto, sizeof(rp->proto), "%s", proto);
        rp->external = host_port(bindings, port, proto);
        if (!(rp->name = strdup(name)))
            ret = err_set(err, MDO_ENOMEM, "out of memory");
    }
    cJSON_Delete(a);
    return ret;
}

static char *dup_or_null(const char *s, int *oom)
{
    char *d = s ? strdup(s) : NULL;

    if (s && !d)
        *oom = 1;
    return d;
}

int dkr_record(const char *env, const char *host_address, const cJSON *in, struct reg_record *rec,
               struct mdo_err *err)
{
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(in, "Config"), *labels, *state, *net;
    const char *service, *lenv, *ports, *name = json_str(in, "Name"), *health, *ip, *started;
    const char *ver;
    time_t t;
    int oom = 0, ret;

    memset(rec, 0, sizeof(*rec));
    labels = cJSON_GetObjectItemCaseSensitive(config, "Labels");
    state = cJSON_GetObjectItemCaseSensitive(in, "State");
    net = cJSON_GetObjectItemCaseSensitive(in, "NetworkSettings");
    service = json_str(labels, "mdo.service");
    lenv = json_str(labels, "mdo.environment");
    if (!service || !lenv || !name || strcmp(lenv, env))
        return 1;
    if (!json_bool(state, "Running", 0) || json_bool(state, "Restarting", 0))
        return 1;
    if (*name == '/')
        name++;
    if (!name_ok(service))
        return err_set(err, MDO_EPROTO, "label mdo.service is not a valid service name");
    if (!segment_ok(name))
        return err_set(err, MDO_EPROTO, "the container name is not a valid instance name");
    ip = json_str(net, "IPAddress");
    health = json_str(cJSON_GetObjectItemCaseSensitive(state, "Health"), "Status");
    started = json_str(state, "StartedAt");
    if (started && rfc3339_parse(started, &t))
        started = NULL; /* not a time: leave it out rather than pass it on */
    ver = json_str(labels, "mdo.app_version");
    rec->service = dup_or_null(service, &oom);
    rec->container = dup_or_null(name, &oom);
    rec->environment = dup_or_null(lenv, &oom);
    rec->host = dup_or_null(host_address, &oom);
    rec->address = dup_or_null(ip && *ip ? ip : NULL, &oom);
    rec->state = dup_or_null(!health || !strcmp(health, "starting") ? "running"
                             : !strcmp(health, "healthy")           ? "healthy"
                                                                    : "unhealthy",
                             &oom);
    rec->started_at = dup_or_null(started, &oom);
    rec->app_version = dup_or_null(ver ? ver : "", &oom);
    rec->backend = dup_or_null("docker", &oom);
    ports = json_str(labels, DK_PORTS_LABEL);
    ret = oom ? err_set(err, MDO_ENOMEM, "out of memory") : 0;
    if (!ret && ports)
        ret = read_ports(rec, ports, cJSON_GetObjectItemCaseSensitive(net, "Ports"), err);
    if (!ret && spec_record_labels(rec, labels))
        ret = err_set(err, MDO_ENOMEM, "out of memory");
    if (ret)
        reg_record_release(rec);
    return ret;
}

int dkr_pull_failed(const char *body, size_t len, struct buf *why)
{
    const char *p = body, *end = body + len;

    while (body && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        cJSON *o = cJSON_ParseWithLength(p, n);
        const char *e = json_str(o, "error") ? json_str(o, "error") : json_str(o, "message");
        if (e) {
            buf_reset(why);
            buf_adds(why, e);
            cJSON_Delete(o);
            return 1;
        }
        cJSON_Delete(o);
        p += n + 1;
    }
    return 0;
}
