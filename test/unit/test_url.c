/* test_url.c - URLs through curl_url: check, shown without credentials, re-host, make, host and
 * port, loopback, path segments */
#include <stdlib.h>
#include "check.h"
#include "url.h"

static char got[512];

/* f's answer copied to a static buffer and freed ("(null)" for NULL) */
static const char *s(char *p)
{
    snprintf(got, sizeof(got), "%s", p ? p : "(null)");
    free(p);
    return got;
}

int main(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct buf b = BUF_INIT(0);
    char *host = NULL;
    unsigned port = 0;

    CHECK_INT(url_check("marathon.url", "http://m:8080", &err), 0);
    CHECK_INT(url_check("x", "https://[::1]:2379/v3", &err), 0);
    CHECK_INT(url_check("x", "http://u:p@h/", &err), 0);
    CHECK_INT(url_check("callback url", "ftp://h/", &err), -MDO_EUSAGE);
    CHECK_STR(err.msg, "callback url is not an http:// or https:// URL with a host");
    CHECK_INT(url_check("x", "file:///etc/passwd", &err), -MDO_EUSAGE);
    CHECK_INT(url_check("x", "h:1", &err), -MDO_EUSAGE);
    CHECK_INT(url_check("x", "http://", &err), -MDO_EUSAGE);
    CHECK_INT(url_check("x", "http://h:99999", &err), -MDO_EUSAGE);
    CHECK_INT(url_check("x", "http://a b", &err), -MDO_EUSAGE);
    CHECK_INT(url_check("x", "", &err), -MDO_EUSAGE);
    CHECK_INT(url_check("x", NULL, &err), -MDO_EUSAGE);
    CHECK_INT(url_check("x", "gopher://h", NULL), -MDO_EUSAGE);

    CHECK_STR(s(url_shown("http://admin:hunter2@m:8080/v2/apps?x=1#f", 0)),
              "http://m:8080/v2/apps?x=1#f");
    CHECK_STR(s(url_shown("http://admin:hunter2@m:8080/v2/apps?token=t#f", URL_NO_QUERY)),
              "http://m:8080/v2/apps");
    CHECK_STR(s(url_shown("https://admin@m:8443/a/b?q", URL_NO_PATH)), "https://m:8443");
    CHECK_STR(s(url_shown("http://[::1]:1/x", URL_NO_PATH)), "http://[::1]:1");
    CHECK_STR(s(url_shown("not a url with a p4ssword", 0)), "<invalid url>");
    CHECK_STR(s(url_shown(NULL, 0)), "<invalid url>");

    CHECK_STR(s(url_rehost("http://u:p@localhost:2379", "172.17.0.1")),
              "http://u:p@172.17.0.1:2379");
    CHECK_STR(s(url_rehost("http://127.0.0.1:2379/v3/", "fd00::1")), "http://[fd00::1]:2379/v3/");
    CHECK_STR(s(url_rehost("nope", "h")), "(null)");
    CHECK_STR(s(url_rehost("http://h:1", NULL)), "(null)");

    CHECK_STR(s(url_make("http", "m", 8080)), "http://m:8080");
    CHECK_STR(s(url_make("https", "::1", 443)), "https://[::1]:443");
    CHECK_STR(s(url_make("http", "bad host", 80)), "(null)");
    CHECK_STR(s(url_make("ftp", "h", 21)), "(null)");

    CHECK_INT(url_host_port("http://m:8080/x", &host, &port), 0);
    CHECK_STR(host, "m");
    CHECK_INT(port, 8080);
    free(host);
    CHECK_INT(url_host_port("https://[::1]/", &host, &port), 0);
    CHECK_STR(host, "::1");
    CHECK_INT(port, 443);
    free(host);
    CHECK_INT(url_host_port("http://h", &host, &port), 0);
    CHECK_INT(port, 80);
    free(host);
    CHECK_INT(url_host_port("h:1", &host, &port), -MDO_EUSAGE);
    CHECK(host == NULL);

    CHECK(url_host_is_loopback("localhost"));
    CHECK(url_host_is_loopback("LOCALHOST."));
    CHECK(url_host_is_loopback("127.0.0.1"));
    CHECK(url_host_is_loopback("127.255.0.9"));
    CHECK(url_host_is_loopback("::1"));
    CHECK(url_host_is_loopback("::ffff:127.0.0.1"));
    CHECK(!url_host_is_loopback("128.0.0.1"));
    CHECK(!url_host_is_loopback("::ffff:10.0.0.1"));
    CHECK(!url_host_is_loopback("localhost.example"));
    CHECK(!url_host_is_loopback("10.0.0.5"));
    CHECK(!url_host_is_loopback(NULL));

    CHECK_INT(url_add_segment(&b, "a/b c%"), 0);
    CHECK_STR(buf_str(&b), "a%2Fb%20c%25");
    buf_reset(&b);
    CHECK_INT(url_add_segment(&b, ".."), 0);
    CHECK_STR(buf_str(&b), "..");
    buf_release(&b);
    return check_done("test_url");
}
