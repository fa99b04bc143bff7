/* redact.c - one list of secrets, and every listed value cut out of a string (redact.h) */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "redact.h"
#include "url.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char **vals;  /* longest first */
static size_t *lens; /* strlen(vals[i]) */
static unsigned nvals;

/* Inserts v keeping the list longest first. Caller holds the lock. */
static int insert(const char *v)
{
    size_t n = strlen(v), at = 0;
    char **nv;
    size_t *nl;

    if (n < REDACT_MIN)
        return 0;
    for (unsigned i = 0; i < nvals; i++)
        if (lens[i] == n && !memcmp(vals[i], v, n))
            return 0;
    nv = realloc(vals, (nvals + 1) * sizeof(*nv));
    if (!nv)
        return -MDO_ENOMEM;
    vals = nv;
    nl = realloc(lens, (nvals + 1) * sizeof(*nl));
    if (!nl)
        return -MDO_ENOMEM;
    lens = nl;
    while (at < nvals && lens[at] >= n)
        at++;
    memmove(vals + at + 1, vals + at, (nvals - at) * sizeof(*vals));
    memmove(lens + at + 1, lens + at, (nvals - at) * sizeof(*lens));
    vals[at] = strdup(v);
    lens[at] = n;
    if (!vals[at]) { /* close the gap again */
        memmove(vals + at, vals + at + 1, (nvals - at) * sizeof(*vals));
        memmove(lens + at, lens + at + 1, (nvals - at) * sizeof(*lens));
        return -MDO_ENOMEM;
    }
    nvals++;
    return 0;
}

int redact_add(const char *value)
{
    struct buf esc = BUF_INIT(0);
    int ret;

    if (!value || strlen(value) < REDACT_MIN)
        return 0;
    /* the form it takes inside a JSON string, for text printed before it reaches us */
    ret = buf_add_json_escaped(&esc, value);
    pthread_mutex_lock(&lock);
    if (!ret)
        ret = insert(value);
    if (!ret && strcmp(buf_str(&esc), value))
        ret = insert(buf_str(&esc));
    pthread_mutex_unlock(&lock);
    if (esc.ptr)
        explicit_bzero(esc.ptr, esc.len);
    buf_release(&esc);
    return ret;
}

/* A URL's password as written and percent-decoded. */
static int add_url_password(const char *url)
{
    char *p = url_password(url, 0), *d = url_password(url, 1);
    int ret = redact_add(p);

    if (!ret)
        ret = redact_add(d);
    if (p)
        explicit_bzero(p, strlen(p));
    if (d)
        explicit_bzero(d, strlen(d));
    free(p);
    free(d);
    return ret;
}

int redact_cfg(const struct cfg *cfg)
{
    const char *keys[] = {cfg->etcd.password,     cfg->etcd.guest.password,
                          cfg->marathon.password, cfg->marathon.token,
                          cfg->subscriber.token,  cfg->subscriber.guest_token};
    int ret = 0;

    for (unsigned i = 0; !ret && i < cfg->nsecrets; i++)
        if (!cfg->environment || strcmp(cfg->secrets[i], cfg->environment))
            ret = redact_add(cfg->secrets[i]);
    for (size_t i = 0; !ret && i < sizeof(keys) / sizeof(keys[0]); i++)
        ret = redact_add(keys[i]);
    for (unsigned i = 0; !ret && i < cfg->etcd.nendpoints; i++)
        ret = add_url_password(cfg->etcd.endpoints[i]);
    if (!ret && cfg->marathon.url)
        ret = add_url_password(cfg->marathon.url);
    if (!ret && cfg->subscriber.public_url)
        ret = add_url_password(cfg->subscriber.public_url);
    return ret;
}

void redact_reset(void)
{
    pthread_mutex_lock(&lock);
    for (unsigned i = 0; i < nvals; i++) {
        explicit_bzero(vals[i], lens[i]);
        free(vals[i]);
    }
    free(vals);
    free(lens);
    vals = NULL;
    lens = NULL;
    nvals = 0;
    pthread_mutex_unlock(&lock);
}

/* The length of the listed value that starts at s, longest first; 0 for none. Caller holds the
 * lock. */
static size_t match(const char *s)
{
    for (unsigned i = 0; i < nvals; i++)
        if (s[0] == vals[i][0] && !strncmp(s, vals[i], lens[i]))
            return lens[i];
    return 0;
}

int redact_buf(struct buf *out, const char *s)
{
    const char *lit;
    int n = 0, ret = 0;

    if (!s)
        return 0;
    pthread_mutex_lock(&lock);
    if (!nvals) {
        pthread_mutex_unlock(&lock);
        return buf_adds(out, s);
    }
    for (lit = s; !ret && *s;) {
        size_t m = match(s);

        if (!m) {
            s++;
            continue;
        }
        ret = buf_add(out, lit, (size_t)(s - lit));
        if (!ret)
            ret = buf_adds(out, REDACTED);
        s += m;
        lit = s;
        n++;
    }
    if (!ret)
        ret = buf_add(out, lit, (size_t)(s - lit));
    pthread_mutex_unlock(&lock);
    return ret ? ret : n;
}

char *redact_dup(const char *s)
{
    struct buf b = BUF_INIT(0);

    if (!s || redact_buf(&b, s) < 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_detach(&b);
}

int redact_fixed(char *s, size_t size)
{
    struct buf b = BUF_INIT(0);
    int n;

    if (!s || !size)
        return 0;
    n = redact_buf(&b, s);
    if (n > 0) {
        size_t k = b.len < size ? b.len : size - 1;
        memcpy(s, b.ptr, k);
        s[k] = '\0';
    } else if (n < 0) { /* no memory for the copy: cut at the first secret instead */
        pthread_mutex_lock(&lock);
        for (size_t i = 0; s[i]; i++)
            if (match(s + i)) {
                s[i] = '\0';
                break;
            }
        pthread_mutex_unlock(&lock);
        n = 0;
    }
    buf_release(&b);
    return n;
}

int redact_inplace(struct buf *b)
{
    struct buf r = BUF_INIT(b->cap);
    int n = redact_buf(&r, buf_str(b));

    if (n > 0) {
        buf_release(b);
        *b = r;
        return n;
    }
    if (n < 0) /* no memory for the copy: nothing rather than a secret */
        buf_reset(b);
    buf_release(&r);
    return n;
}

/* Redacts one string item: 1 when it changed, 0, or -MDO_ENOMEM. */
static int one_string(cJSON *item)
{
    struct buf b = BUF_INIT(0);
    int k = redact_buf(&b, item->valuestring);

    if (k > 0 && !cJSON_SetValuestring(item, buf_str(&b)))
        k = -MDO_ENOMEM;
    buf_release(&b);
    return k > 0 ? 1 : k;
}

int redact_json(cJSON *item)
{
    int n = 0;

    if (!item)
        return 0;
    if (cJSON_IsString(item))
        return item->valuestring ? one_string(item) : 0;
    for (cJSON *c = item->child; c; c = c->next) {
        int k = redact_json(c);
        if (k < 0)
            return k;
        n += k;
    }
    return n;
}
