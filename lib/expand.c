/* expand.c - ${VAR} expansion from the environment, remembering each value it put in (expand.h) */
#include <stdlib.h>
#include <string.h>
#include "buf.h"
#include "expand.h"

/* Appends val to the list unless it is empty or listed already. 0 or -MDO_ENOMEM. */
static int remember(const char *val, char ***vals, unsigned *nvals)
{
    char **v;

    if (!vals || !*val)
        return 0;
    for (unsigned i = 0; i < *nvals; i++)
        if (!strcmp((*vals)[i], val))
            return 0;
    v = realloc(*vals, (*nvals + 1) * sizeof(*v));
    if (!v)
        return -MDO_ENOMEM;
    *vals = v;
    v[*nvals] = strdup(val);
    if (!v[*nvals])
        return -MDO_ENOMEM;
    (*nvals)++;
    return 0;
}

static int is_name_char(char c, int first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

int expand_vars(const char *s, char **out, struct expand_bad *bad, char ***vals, unsigned *nvals)
{
    struct buf b = BUF_INIT(0);
    int ret = 0;

    *out = NULL;
    while (!ret && *s) {
        const char *d = strchr(s, '$');
        size_t n = d ? (size_t)(d - s) : strlen(s);

        ret = buf_add(&b, s, n);
        s += n;
        if (ret || !d)
            break;
        if (d[1] == '$') {
            ret = buf_addc(&b, '$');
            s = d + 2;
        } else if (d[1] == '{') {
            const char *name = d + 2, *e = name;
            char var[128];
            const char *val;

            while (is_name_char(*e, e == name))
                e++;
            bad->at = d;
            bad->namelen = 0;
            if (e == name || *e != '}' || (size_t)(e - name) >= sizeof(var)) {
                ret = -MDO_ECONFIG;
                break;
            }
            memcpy(var, name, (size_t)(e - name));
            var[e - name] = '\0';
            val = getenv(var);
            if (!val) {
                bad->namelen = (size_t)(e - name);
                ret = -MDO_ECONFIG;
                break;
            }
            ret = buf_adds(&b, val);
            if (!ret)
                ret = remember(val, vals, nvals);
            s = e + 1;
        } else {
            ret = buf_addc(&b, '$');
            s = d + 1;
        }
    }
    if (!ret) {
        *out = buf_detach(&b);
        if (!*out)
            ret = -MDO_ENOMEM;
    }
    if (b.ptr)
        explicit_bzero(b.ptr, b.len); // it may hold a secret
    buf_release(&b);
    return ret;
}

void expand_vals_free(char **vals, unsigned n)
{
    for (unsigned i = 0; vals && i < n; i++) {
        explicit_bzero(vals[i], strlen(vals[i]));
        free(vals[i]);
    }
    free(vals);
}
