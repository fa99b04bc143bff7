/* config_services.c - the checker's part for `services`: each service's fixed-shape keys through
 * ck_walk_fixed(), and the maps libcyaml cannot describe (their keys are the user's: ports,
 * host_ports, ports-hard, environment, labels) and constraints (a list of lists), checked and
 * filled into struct cfg_service here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config_internal.h"
#include "names.h"

static struct cfg_port *find_port(struct cfg_service *s, const char *name)
{
    for (unsigned i = 0; i < s->nports; i++)
        if (!strcmp(s->ports[i].name, name))
            return &s->ports[i];
    return NULL;
}

/* ports (name: 9042 or "9042/udp") and the seed's ports-hard (the same, fixed on the host). */
static void walk_ports(struct ld *ld, const yaml_node_t *m, const char *path, const char *svc,
                       struct cfg_service *s, bool hard)
{
    struct cfg_port *ports;
    char got[64];

    if (m->type != YAML_MAPPING_NODE) {
        ck_prob(ld, m, "%s: expected a mapping of port names to ports, got %s", path,
                ck_describe(m, false, got, sizeof(got)));
        return;
    }
    if (!ck_size_ok(ld, m, path))
        return;
    ports = realloc(s->ports, (s->nports + ck_npairs(m) + 1) * sizeof(*ports));
    if (!ports) {
        ld->nomem = true;
        return;
    }
    s->ports = ports;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *key = ck_pair_key(ld, m, p, path);
        yaml_node_t *v = ck_node(ld, p->value);
        struct cfg_port *port;
        char kp[256];

        if (!key || !v)
            continue;
        ck_path_key(kp, sizeof(kp), path, key);
        if (!cfg_is_port_name(key)) {
            char shown[72];

            ck_clean(shown, sizeof(shown), key);
            ck_prob(ld, ck_node(ld, p->key),
                    "%s: expected a port name: a lowercase letter, then lowercase letters, digits "
                    "and '-' (not last), got '%s'",
                    kp, shown);
            continue;
        }
        if (find_port(s, key)) {
            ck_prob(ld, ck_node(ld, p->key), "%s: port name already used in %s", kp, svc);
            continue;
        }
        port = &s->ports[s->nports];
        memset(port, 0, sizeof(*port));
        port->name = ck_sdup(ld, key);
        if (!port->name)
            return;
        s->nports++;
        // kept even when the number is wrong, so host_ports and health do not also complain
        if (!ck_is_text(v) || !cfg_parse_port(ck_sval(v), &port->port, port->proto))
            ck_prob(ld, v, "%s: expected a port 1..65535, optionally with /tcp or /udp, got %s", kp,
                    ck_describe(v, false, got, sizeof(got)));
        else if (hard)
            port->host_port = port->port;
    }
}

static void walk_host_ports(struct ld *ld, const yaml_node_t *m, const char *path, const char *svc,
                            struct cfg_service *s)
{
    char got[64];

    if (m->type != YAML_MAPPING_NODE) {
        ck_prob(ld, m, "%s: expected a mapping of port names to host ports, got %s", path,
                ck_describe(m, false, got, sizeof(got)));
        return;
    }
    if (!ck_size_ok(ld, m, path))
        return;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *key = ck_pair_key(ld, m, p, path);
        yaml_node_t *v = ck_node(ld, p->value);
        struct cfg_port *port;
        long long hp;
        char kp[256], shown[72];

        if (!key || !v)
            continue;
        ck_path_key(kp, sizeof(kp), path, key);
        port = find_port(s, key);
        if (!port) {
            ck_clean(shown, sizeof(shown), key);
            ck_prob(ld, ck_node(ld, p->key), "%s: no port named '%s' in %s.ports", kp, shown, svc);
            continue;
        }
        if (!ck_is_text(v) || !cfg_parse_int(ck_sval(v), &hp) || hp < 1 || hp > 65535) {
            ck_prob(ld, v, "%s: expected a port 1..65535, got %s", kp,
                    ck_describe(v, false, got, sizeof(got)));
            continue;
        }
        if (port->host_port) {
            ck_prob(ld, ck_node(ld, p->key), "%s: already fixed by %s.ports-hard", kp, svc);
            continue;
        }
        port->host_port = (unsigned)hp;
    }
}

/* environment and labels: name -> scalar, kept as written (MIN_NODES: 2 gives "2"). */
static void walk_kv(struct ld *ld, const yaml_node_t *m, const char *path, struct cfg_kv **kvp,
                    unsigned *np, bool env)
{
    struct cfg_kv *kv;
    char got[64];

    if (m->type != YAML_MAPPING_NODE) {
        ck_prob(ld, m, "%s: expected a mapping of names to values, got %s", path,
                ck_describe(m, false, got, sizeof(got)));
        return;
    }
    if (!ck_size_ok(ld, m, path))
        return;
    kv = calloc(ck_npairs(m) + 1, sizeof(*kv));
    if (!kv) {
        ld->nomem = true;
        return;
    }
    *kvp = kv;
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *key = ck_pair_key(ld, m, p, path);
        yaml_node_t *v = ck_node(ld, p->value);
        char kp[256], shown[72];
        char *val;

        if (!key || !v)
            continue;
        ck_path_key(kp, sizeof(kp), path, key);
        if (env && !cfg_is_env_name(key)) {
            ck_clean(shown, sizeof(shown), key);
            ck_prob(ld, ck_node(ld, p->key),
                    "%s: expected a variable name of letters, digits and '_', got '%s'", kp, shown);
            continue;
        }
        if (env && cfg_env_reserved(key)) {
            ck_prob(ld, ck_node(ld, p->key),
                    "%s: '%s' is set by mdo in every container (MDO_*, SERVICE_NAME, "
                    "ETCD_HOST_ADDRESS): choose another name",
                    kp, key);
            continue;
        }
        if (v->type != YAML_SCALAR_NODE || strlen(ck_sval(v)) != v->data.scalar.length) {
            ck_prob(ld, v, "%s: expected a string or number, got %s", kp,
                    ck_describe(v, false, got, sizeof(got)));
            continue;
        }
        val = ck_expand(ld, v, kp, ck_sval(v));
        if (!val)
            continue;
        kv[*np].key = ck_sdup(ld, key);
        kv[*np].value = val;
        (*np)++;
    }
}

/* One constraint [field, OP] or [field, OP, value] as Marathon has them, into *out. */
static void constraint(struct ld *ld, const yaml_node_t *c, const char *ip,
                       struct cfg_constraint *out, unsigned *n)
{
    static const char *const ops[] = {"UNIQUE", "CLUSTER", "GROUP_BY", "LIKE",
                                      "UNLIKE", "MAX_PER", "IS"};
    const char *shape = "[field, OPERATOR] or [field, OPERATOR, value]";
    yaml_node_t *part[3] = {NULL, NULL, NULL};
    char got[64], pp[256], *text[3] = {NULL, NULL, NULL};
    size_t len = c->type == YAML_SEQUENCE_NODE ? ck_nitems(c) : 0, op;
    bool ok = true;

    if (c->type != YAML_SEQUENCE_NODE || len < 2 || len > 3) {
        if (c->type == YAML_SEQUENCE_NODE)
            snprintf(got, sizeof(got), "a list of %zu", len);
        ck_prob(ld, c, "%s: expected %s, got %s", ip, shape,
                c->type == YAML_SEQUENCE_NODE ? got : ck_describe(c, false, got, sizeof(got)));
        return;
    }
    for (size_t k = 0; k < len; k++) {
        part[k] = ck_node(ld, c->data.sequence.items.start[k]);
        ck_path_index(pp, sizeof(pp), ip, k);
        if (!part[k] || !ck_is_text(part[k])) {
            if (part[k])
                ck_prob(ld, part[k], "%s: expected a string, got %s", pp,
                        ck_describe(part[k], false, got, sizeof(got)));
            ok = false;
        }
    }
    if (!ok)
        return;
    for (op = 0; op < sizeof(ops) / sizeof(ops[0]); op++)
        if (!strcmp(ck_sval(part[1]), ops[op]))
            break;
    ck_path_index(pp, sizeof(pp), ip, 1);
    if (op == sizeof(ops) / sizeof(ops[0])) {
        ck_prob(ld, part[1],
                "%s: expected UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER or IS, got %s", pp,
                ck_describe(part[1], false, got, sizeof(got)));
        return;
    }
    if (len == 3 && op == 0) { // Marathon refuses a value for UNIQUE
        ck_prob(ld, c, "%s: operator UNIQUE takes no value", ip);
        return;
    }
    if (len == 2 && op != 0 && op != 2) { // only UNIQUE and GROUP_BY stand alone
        ck_prob(ld, c, "%s: operator %s needs a value", ip, ops[op]);
        return;
    }
    for (size_t k = 0; k < len; k++) {
        ck_path_index(pp, sizeof(pp), ip, k);
        text[k] = ck_expand(ld, part[k], pp, ck_sval(part[k]));
        if (!text[k])
            ok = false;
    }
    if (!ok) {
        for (size_t k = 0; k < 3; k++)
            free(text[k]);
        return;
    }
    out->field = text[0];
    out->op = text[1];
    out->value = text[2];
    (*n)++;
}

static void walk_constraints(struct ld *ld, const yaml_node_t *l, const char *path,
                             struct cfg_service *s)
{
    char got[64];

    if (l->type != YAML_SEQUENCE_NODE) {
        ck_prob(ld, l,
                "%s: expected a list of [field, OPERATOR] or [field, OPERATOR, value] lists, "
                "got %s",
                path, ck_describe(l, false, got, sizeof(got)));
        return;
    }
    if (!ck_size_ok(ld, l, path))
        return;
    s->constraints = calloc(ck_nitems(l) + 1, sizeof(*s->constraints));
    if (!s->constraints) {
        ld->nomem = true;
        return;
    }
    for (yaml_node_item_t *it = l->data.sequence.items.start; it < l->data.sequence.items.top;
         it++) {
        yaml_node_t *c = ck_node(ld, *it);
        char ip[256];

        ck_path_index(ip, sizeof(ip), path, (size_t)(it - l->data.sequence.items.start));
        if (c)
            constraint(ld, c, ip, &s->constraints[s->nconstraints], &s->nconstraints);
    }
}

/* An absolute path with no "." or ".." segment, no ':' (Docker's bind syntax splits on it) and no
 * control character. */
static bool volume_path_ok(const char *p)
{
    if (*p != '/')
        return false;
    for (const char *s = p; *s; s++)
        if (*s == ':' || (unsigned char)*s < 0x20 || *s == 0x7f)
            return false;
    for (const char *seg = p; seg; seg = strchr(seg + 1, '/')) {
        size_t n = strcspn(seg + 1, "/");
        if ((n == 1 && seg[1] == '.') || (n == 2 && seg[1] == '.' && seg[2] == '.'))
            return false;
    }
    return true;
}

/* volumes: ["HOST:PATH", "HOST:PATH:ro", ...] */
static void walk_volumes(struct ld *ld, const yaml_node_t *l, const char *path,
                         struct cfg_service *s)
{
    char got[64];

    if (l->type != YAML_SEQUENCE_NODE) {
        ck_prob(ld, l, "%s: expected a list of \"HOST:PATH[:ro]\" strings, got %s", path,
                ck_describe(l, false, got, sizeof(got)));
        return;
    }
    if (!ck_size_ok(ld, l, path))
        return;
    s->volumes = calloc(ck_nitems(l) + 1, sizeof(*s->volumes));
    if (!s->volumes) {
        ld->nomem = true;
        return;
    }
    for (yaml_node_item_t *it = l->data.sequence.items.start; it < l->data.sequence.items.top;
         it++) {
        yaml_node_t *v = ck_node(ld, *it);
        struct cfg_volume *vol = &s->volumes[s->nvolumes];
        char ip[256], shown[72], *text, *c1, *c2;

        ck_path_index(ip, sizeof(ip), path, (size_t)(it - l->data.sequence.items.start));
        if (!v)
            continue;
        if (!ck_is_text(v)) {
            ck_prob(ld, v, "%s: expected \"HOST:PATH[:ro]\", got %s", ip,
                    ck_describe(v, false, got, sizeof(got)));
            continue;
        }
        text = ck_expand(ld, v, ip, ck_sval(v));
        if (!text)
            continue;
        c1 = strchr(text, ':');
        c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (c1)
            *c1 = 0;
        if (c2)
            *c2 = 0;
        ck_clean(shown, sizeof(shown), ck_sval(v));
        if (!c1 || !volume_path_ok(text) || !volume_path_ok(c1 + 1)) {
            ck_prob(ld, v,
                    "%s: expected \"HOST:PATH\" or \"HOST:PATH:ro\" with absolute paths "
                    "(no '.' or '..' segments), got '%s'",
                    ip, shown);
        } else if (c2 && strcmp(c2 + 1, "ro") && strcmp(c2 + 1, "rw")) {
            ck_prob(ld, v, "%s: expected the mode 'ro' or 'rw' after the second ':', got '%s'", ip,
                    shown);
        } else {
            bool dup = false;
            for (unsigned i = 0; i < s->nvolumes; i++)
                dup = dup || !strcmp(s->volumes[i].path, c1 + 1);
            if (dup) {
                ck_prob(ld, v, "%s: %s is mounted twice in this service", ip, c1 + 1);
            } else {
                vol->host = ck_sdup(ld, text);
                vol->path = ck_sdup(ld, c1 + 1);
                vol->ro = c2 && !strcmp(c2 + 1, "ro");
                s->nvolumes++;
            }
        }
        free(text);
    }
}

/* Rules spanning several keys of a service's health check. */
static void check_health(struct ld *ld, const yaml_node_t *h, const char *path,
                         struct cfg_service *s)
{
    yaml_node_t *cmd = ck_map_get(ld, h, "cmd"), *http = ck_map_get(ld, h, "http");
    yaml_node_t *port = ck_map_get(ld, h, "port");
    char shown[72];

    if (cmd && http)
        ck_prob(ld, h, "%s.health: expected either 'cmd' or 'http', not both", path);
    else if (!cmd && !http)
        ck_prob(ld, h, "%s.health: expected 'cmd' or 'http'", path);
    if (port && !http) {
        ck_prob(ld, port, "%s.health.port: only used with 'http'", path);
    } else if (port && ck_is_text(port) && name_ok(ck_sval(port)) && !find_port(s, ck_sval(port))) {
        ck_clean(shown, sizeof(shown), ck_sval(port));
        ck_prob(ld, port, "%s.health.port: no port named '%s' in %s.ports", path, shown, path);
    } else if (http && !port && !s->nports) {
        ck_prob(ld, http, "%s.health.http: needs a port, and the service has none", path);
    }
}

/* Walks one of the open-keyed values of service m when present. */
static yaml_node_t *open_key(struct ld *ld, const yaml_node_t *m, const char *path, const char *key,
                             char *kp, size_t n)
{
    yaml_node_t *v = ck_map_get(ld, m, key);

    if (v)
        ck_path_key(kp, n, path, key);
    return v;
}

static void walk_service(struct ld *ld, const yaml_node_t *m, const char *path,
                         struct cfg_service *s)
{
    yaml_node_t *v;
    char kp[256];

    if (!cfg_defaults(s, cfg_service_fields)) {
        ld->nomem = true;
        return;
    }
    ck_walk_fixed(ld, m, path, cfg_service_fields, s);
    // ports and ports-hard in file order, as cfg_service.ports promises
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = ck_node(ld, p->key), *pv = ck_node(ld, p->value);
        bool hard;

        if (!k || !pv || !ck_is_text(k))
            continue;
        hard = !strcmp(ck_sval(k), "ports-hard");
        if ((hard || !strcmp(ck_sval(k), "ports")) && ck_map_get(ld, m, ck_sval(k)) == pv) {
            ck_path_key(kp, sizeof(kp), path, ck_sval(k));
            walk_ports(ld, pv, kp, path, s, hard);
        }
    }
    if ((v = open_key(ld, m, path, "host_ports", kp, sizeof(kp))))
        walk_host_ports(ld, v, kp, path, s);
    if ((v = open_key(ld, m, path, "environment", kp, sizeof(kp))))
        walk_kv(ld, v, kp, &s->env, &s->nenv, true);
    if ((v = open_key(ld, m, path, "labels", kp, sizeof(kp))))
        walk_kv(ld, v, kp, &s->labels, &s->nlabels, false);
    if ((v = open_key(ld, m, path, "constraints", kp, sizeof(kp))))
        walk_constraints(ld, v, kp, s);
    if ((v = open_key(ld, m, path, "volumes", kp, sizeof(kp))))
        walk_volumes(ld, v, kp, s);
    v = ck_map_get(ld, m, "health");
    if (v && v->type == YAML_MAPPING_NODE) {
        s->has_health = true;
        check_health(ld, v, path, s);
    }
}

void ck_walk_services(struct ld *ld, yaml_node_t *m)
{
    struct cfg *c = ld->cfg;
    char got[64];

    if (m->type != YAML_MAPPING_NODE) {
        ck_prob(ld, m, "services: expected a mapping of service names to services, got %s",
                ck_describe(m, false, got, sizeof(got)));
        return;
    }
    if (!ck_npairs(m)) {
        ck_prob(ld, m, "services: expected at least one service");
        return;
    }
    if (!ck_size_ok(ld, m, "services"))
        return;
    c->services = calloc(ck_npairs(m), sizeof(*c->services));
    if (!c->services) {
        ld->nomem = true;
        return;
    }
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const char *key = ck_pair_key(ld, m, p, "services");
        yaml_node_t *v = ck_node(ld, p->value);
        struct cfg_service *s;
        char kp[256], shown[72];

        if (!key || !v)
            continue;
        ck_path_key(kp, sizeof(kp), "services", key);
        if (!name_ok(key)) {
            ck_clean(shown, sizeof(shown), key);
            ck_prob(ld, ck_node(ld, p->key),
                    "%s: expected a service name of lowercase letters, digits and '-' (not first "
                    "or last), got '%s'",
                    kp, shown);
        }
        if (v->type != YAML_MAPPING_NODE) {
            ck_prob(ld, v, "%s: expected a mapping, got %s", kp,
                    ck_describe(v, false, got, sizeof(got)));
            continue;
        }
        s = &c->services[c->nservices++];
        s->name = ck_sdup(ld, key);
        if (!s->name)
            return;
        walk_service(ld, v, kp, s);
    }
}
