/* url.c - libcurl's URL API behind a few calls: check, show without secrets, re-host, escape */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <curl/curl.h>
#include "url.h"

/* Parsed handle for an absolute http(s) URL with a host, or NULL. */
static CURLU *parse(const char *s)
{
    CURLU *u = s ? curl_url() : NULL;
    char *scheme = NULL, *host = NULL;
    int ok;

    if (!u)
        return NULL;
    ok = !curl_url_set(u, CURLUPART_URL, s, 0) && !curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) &&
         (!strcmp(scheme, "http") || !strcmp(scheme, "https")) &&
         !curl_url_get(u, CURLUPART_HOST, &host, 0) && host[0];
    curl_free(scheme);
    curl_free(host);
    if (!ok) {
        curl_url_cleanup(u);
        return NULL;
    }
    return u;
}

/* curl's string as our own (malloc'd) string */
static char *own(char *c)
{
    char *s = c ? strdup(c) : NULL;

    curl_free(c);
    return s;
}

int url_check(const char *what, const char *s, struct mdo_err *err)
{
    CURLU *u = parse(s);

    if (!u)
        return err_set(err, MDO_EUSAGE, "%s is not an http:// or https:// URL with a host", what);
    curl_url_cleanup(u);
    return 0;
}

char *url_shown(const char *s, unsigned flags)
{
    CURLU *u = parse(s);
    char *out = NULL;

    if (!u)
        return strdup("<invalid url>");
    curl_url_set(u, CURLUPART_USER, NULL, 0);
    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
    curl_url_set(u, CURLUPART_OPTIONS, NULL, 0);
    if (flags & (URL_NO_QUERY | URL_NO_PATH)) {
        curl_url_set(u, CURLUPART_QUERY, NULL, 0);
        curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0);
    }
    if (flags & URL_NO_PATH)
        curl_url_set(u, CURLUPART_PATH, "/", 0);
    if (curl_url_get(u, CURLUPART_URL, &out, 0))
        out = NULL;
    curl_url_cleanup(u);
    out = own(out);
    if (out && (flags & URL_NO_PATH)) { /* "http://h:1/" -> "http://h:1" */
        size_t n = strlen(out);
        if (n && out[n - 1] == '/')
            out[n - 1] = '\0';
    }
    return out;
}

/* "::1" -> "[::1]" for CURLUPART_HOST; others as they are. Caller frees. */
static char *bracketed(const char *host)
{
    size_t n = strlen(host);
    char *b;

    if (!strchr(host, ':') || host[0] == '[')
        return strdup(host);
    if (!(b = malloc(n + 3)))
        return NULL;
    b[0] = '[';
    memcpy(b + 1, host, n);
    b[n + 1] = ']';
    b[n + 2] = '\0';
    return b;
}

char *url_rehost(const char *s, const char *host)
{
    CURLU *u = parse(s);
    char *h = host ? bracketed(host) : NULL, *out = NULL;

    if (u && h && !curl_url_set(u, CURLUPART_HOST, h, 0) && curl_url_get(u, CURLUPART_URL, &out, 0))
        out = NULL;
    free(h);
    curl_url_cleanup(u);
    out = own(out);
    if (out) { /* curl adds the root path "/": keep the input's form */
        size_t n = strlen(out), m = strlen(s);
        if (n && out[n - 1] == '/' && m && s[m - 1] != '/')
            out[n - 1] = '\0';
    }
    return out;
}

char *url_make(const char *scheme, const char *host, unsigned port)
{
    CURLU *u = curl_url();
    char *h = host ? bracketed(host) : NULL, *out = NULL, p[8];

    snprintf(p, sizeof(p), "%u", port);
    if (u && h && !curl_url_set(u, CURLUPART_SCHEME, scheme, 0) &&
        !curl_url_set(u, CURLUPART_HOST, h, 0) && !curl_url_set(u, CURLUPART_PORT, p, 0) &&
        curl_url_get(u, CURLUPART_URL, &out, 0))
        out = NULL;
    free(h);
    curl_url_cleanup(u);
    out = own(out);
    if (out) { /* curl adds the root path: the seed form is scheme://host:port */
        size_t n = strlen(out);
        if (n && out[n - 1] == '/')
            out[n - 1] = '\0';
    }
    if (out && url_check("url", out, NULL)) {
        free(out);
        out = NULL;
    }
    return out;
}

int url_host_port(const char *s, char **host, unsigned *port)
{
    CURLU *u = parse(s);
    char *h = NULL, *p = NULL;
    int ret = -MDO_EUSAGE;

    *host = NULL;
    if (u && !curl_url_get(u, CURLUPART_HOST, &h, 0) &&
        !curl_url_get(u, CURLUPART_PORT, &p, CURLU_DEFAULT_PORT)) {
        size_t n = strlen(h);
        char *end;
        unsigned long v = strtoul(p, &end, 10);
        if (h[0] == '[' && n > 2 && h[n - 1] == ']') { /* IPv6: without brackets */
            memmove(h, h + 1, n - 2);
            h[n - 2] = '\0';
        }
        if (!*end && v > 0 && v < 65536) {
            *port = (unsigned)v;
            *host = strdup(h);
            ret = *host ? 0 : -MDO_ENOMEM;
        }
    }
    curl_free(h);
    curl_free(p);
    curl_url_cleanup(u);
    return ret;
}

int url_host_is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;

    if (!host)
        return 0;
    if (!strcasecmp(host, "localhost") || !strcasecmp(host, "localhost."))
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6) || (IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127);
    return 0;
}

int url_add_segment(struct buf *b, const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    int ret = e ? buf_adds(b, e) : -MDO_ENOMEM;

    curl_free(e);
    return ret;
}

int url_has_credentials(const char *s)
{
    CURLU *u = parse(s);
    char *user = NULL, *pass = NULL;
    int has;

    if (!u)
        return 0;
    has = !curl_url_get(u, CURLUPART_USER, &user, 0) ||
          !curl_url_get(u, CURLUPART_PASSWORD, &pass, 0);
    curl_free(user);
    curl_free(pass);
    curl_url_cleanup(u);
    return has;
}

char *url_password(const char *s, int decode)
{
    CURLU *u = parse(s);
    char *pass = NULL;

    if (!u)
        return NULL;
    if (curl_url_get(u, CURLUPART_PASSWORD, &pass, decode ? CURLU_URLDECODE : 0))
        pass = NULL;
    curl_url_cleanup(u);
    return own(pass);
}

char *url_for_log(const char *s)
{
    return url_shown(s, URL_NO_QUERY);
}
