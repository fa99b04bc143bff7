/* config_internal.h - what the config loader's files share; no module outside them includes it.
 *
 *   config.c           loads: reads the file, pass 1 (libyaml events), runs the checker, reports
 *   config_schema.c    the libcyaml schema tables and the rules beside them (ranges, formats)
 *   config_check.c     the checker: walks the libyaml nodes, validates and fills struct cfg
 *   config_services.c  the checker's part for services and their open-keyed maps
 */
#ifndef MDO_CONFIG_INTERNAL_H
#define MDO_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <cyaml/cyaml.h>
#include <yaml.h>
#include "config.h"

#define CFG_MAX_ENTRIES 4096 // keeps the quadratic duplicate-key check cheap

/* ---- config_schema.c ---- */

/* The fixed-shape mappings. Each field's data_offset is where its value goes in struct cfg (for
 * the top level), struct cfg_etcd, ..., struct cfg_service, struct cfg_health. */
extern const cyaml_schema_field_t cfg_top_fields[], cfg_service_fields[];

/* What libcyaml's types do not say: formats of strings, ranges of numbers, secrets, defaults. */
enum chk {
    CHK_NONE,
    CHK_NAME,
    CHK_HOST,
    CHK_URL,
    CHK_LISTEN,
    CHK_PREFIX,
    CHK_PATH,
    CHK_IMAGE,
    CHK_WORDS,        // one of rule.words (struct cfg keeps the word itself)
    CHK_MARATHON_API, // marathon.api: "v2", "legacy" or a Marathon version X.Y[.Z]
    CHK_CIDR,         // an IPv4 or IPv6 CIDR (cbpolicy_cidr_parse)
};

#define R_SECRET 1 // never echo the value
#define R_NOEXP  2 // a reference to a name or a keyword: not expanded, as names are not
#define R_SEED   4 // the seed form's host/port: not in struct cfg, the loader makes a URL of it

struct rule {
    const cyaml_schema_field_t *fields;
    const char *key;
    enum chk chk;
    double min, max; // integers: min..max; floats: > min and <= max
    unsigned flags;
    const char *def;          // default, written as in the file, or NULL
    const char *const *words; // CHK_WORDS: NULL-terminated
};

/* The rule for key of fields (a rule with no check and the full unsigned range when none). */
const struct rule *cfg_rule(const cyaml_schema_field_t *fields, const char *key);
/* "expected ..." text for a value of v under r. */
void cfg_expected(const cyaml_schema_value_t *v, const struct rule *r, char *dst, size_t len);
/* s (expanded) passes r's format check. */
bool cfg_chk_ok(const struct rule *r, const char *s);
/* Writes scalar s, parsed by v's type (INT, UINT, FLOAT, BOOL, ENUM), at `at`. Strings are not
 * handled here. false when s does not parse or is out of r's range. */
bool cfg_put_scalar(void *at, const cyaml_schema_value_t *v, const struct rule *r, const char *s);
/* Applies every default of fields (and the mappings inside) at base. false on ENOMEM. */
bool cfg_defaults(void *base, const cyaml_schema_field_t *fields);

bool cfg_parse_int(const char *s, long long *out);
bool cfg_parse_port(const char *s, unsigned *port, char proto[4]);
bool cfg_is_port_name(const char *s);
bool cfg_is_env_name(const char *s);
/* A name mdo sets in every container (DESIGN §4: MDO_*, and the seed's SERVICE_NAME and
 * ETCD_HOST_ADDRESS): a user variable of that name would shadow mdo's (Docker keeps both of a
 * repeated name and getenv() returns the first), so the loader refuses it. */
bool cfg_env_reserved(const char *s);

/* ---- config.c: one load's state, and its problem list ---- */

struct prob {
    size_t line, col, seq; // 1-based; seq keeps the order of problems at one place
    char *text;
};

struct ld {
    const char *path;
    unsigned char *text; // the file, NUL-terminated
    size_t len;
    yaml_document_t doc;
    bool have_doc;
    struct cfg *cfg; // being filled; cfg->secrets collects what ${VAR} put in
    struct prob *probs;
    size_t nprobs, aprobs;
    bool nomem;
};

/* A problem at node n (NULL: 1:1), "FILE:LINE:COL: " added. */
__attribute__((format(printf, 3, 4))) void ck_prob(struct ld *ld, const yaml_node_t *n,
                                                   const char *fmt, ...);
__attribute__((format(printf, 4, 5))) void ck_prob_at(struct ld *ld, size_t line, size_t col,
                                                      const char *fmt, ...);
char *ck_sdup(struct ld *ld, const char *s);

/* ---- config_check.c: libyaml node helpers, message text, the fixed-shape walker ---- */

yaml_node_t *ck_node(struct ld *ld, int i);
const char *ck_sval(const yaml_node_t *n);
bool ck_is_text(const yaml_node_t *n);
size_t ck_npairs(const yaml_node_t *n);
size_t ck_nitems(const yaml_node_t *n);
yaml_node_t *ck_map_get(struct ld *ld, const yaml_node_t *m, const char *key);
bool ck_size_ok(struct ld *ld, const yaml_node_t *n, const char *path);
const char *ck_pair_key(struct ld *ld, const yaml_node_t *m, const yaml_node_pair_t *p,
                        const char *path);
/* Message text: control characters as '?', cut with "..."; "parent.key"; "parent[i]". */
void ck_clean(char *dst, size_t n, const char *s);
void ck_path_key(char *dst, size_t n, const char *parent, const char *key);
void ck_path_index(char *dst, size_t n, const char *parent, size_t i);
const char *ck_describe(const yaml_node_t *n, bool secret, char *dst, size_t len);
/* s expanded (${VAR}) for node n at path; NULL after reporting what is wrong. */
char *ck_expand(struct ld *ld, const yaml_node_t *n, const char *path, const char *s);
/* A fixed-shape mapping: checks every key of m against fields and fills base by data_offset. */
void ck_walk_fixed(struct ld *ld, const yaml_node_t *m, const char *path,
                   const cyaml_schema_field_t *fields, void *base);
/* The whole document. */
void ck_walk_top(struct ld *ld, yaml_node_t *root);

/* ---- config_services.c ---- */

void ck_walk_services(struct ld *ld, yaml_node_t *m);

#endif
