/* url.h - URLs parsed, checked, re-hosted and shown without credentials, by libcurl's URL API
 * (curl_url), never by searching for "://" or ':'.
 *
 * Every returned string is the caller's to free(). Functions that return a string return NULL
 * when the input is not an absolute http(s) URL with a host (or on ENOMEM).
 */
#ifndef MDO_URL_H
#define MDO_URL_H

#include "buf.h"
#include "err.h"

enum {
    URL_NO_QUERY = 1, /* url_shown(): drop ?query and #fragment too (tokens live there) */
    URL_NO_PATH = 2,  /* url_shown(): scheme://host:port only */
};

/* 0 when s is an absolute http:// or https:// URL with a host; else -MDO_EUSAGE with why in err
 * (what names it in the message: "etcd endpoint", "callback url", ...). */
int url_check(const char *what, const char *s, struct mdo_err *err);
/* s without user:password@ (and without what flags say): safe to print and log. For a string
 * that is not a URL, "<invalid url>" (never the input, which may hold a secret). */
char *url_shown(const char *s, unsigned flags);
/* s with its host replaced by host (a name, an IPv4 or an IPv6 address without brackets). */
char *url_rehost(const char *s, const char *host);
/* "scheme://host:port" (IPv6 hosts bracketed). */
char *url_make(const char *scheme, const char *host, unsigned port);
/* The URL's host (IPv6 without brackets) and port (the scheme's default when absent). 0, or
 * -MDO_EUSAGE. *host is the caller's to free. */
int url_host_port(const char *s, char **host, unsigned *port);
/* 1 when host is a loopback name or address: "localhost", 127.0.0.0/8, ::1. */
int url_host_is_loopback(const char *host);
/* Adds s percent-encoded as one path segment ('/' becomes %2F). 0 or -MDO_ENOMEM. */
int url_add_segment(struct buf *b, const char *s);

/* 1 when the URL holds a user or password (user:password@host): text quoting it is secret. */
int url_has_credentials(const char *s);

/* The URL's password (percent-decoded when decode), or NULL when it has none: what redact_cfg()
 * lists. Caller frees (and should wipe). */
char *url_password(const char *s, int decode);
/* s as a log line may show it: without user:password@, ?query and #fragment (tokens live
 * there): url_shown(s, URL_NO_QUERY). */
char *url_for_log(const char *s);

#endif
