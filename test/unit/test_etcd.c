/* test_etcd.c - pure parts of the etcd client: prefix ranges and endpoint parsing */
#include <stdlib.h>
#include "check.h"
#include "etcd.h"

int main(void)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct etcd e;
    char *eps[] = {"127.0.0.1:2379, http://a:1/", "https://b:2"};
    char *p;

    p = etcd_prefix_end("/mdo/prod/");
    CHECK_STR(p, "/mdo/prod0");
    free(p);
    p = etcd_prefix_end("a\xff");
    CHECK_STR(p, "b");
    free(p);
    CHECK_INT(etcd_open(&e, eps, 2, NULL, NULL, NULL, NULL, NULL, &err), 0);
    CHECK_INT(e.nendpoints, 3);
    CHECK_STR(e.endpoints[0], "http://127.0.0.1:2379");
    CHECK_STR(e.endpoints[1], "http://a:1");
    CHECK_STR(e.endpoints[2], "https://b:2");
    etcd_close(&e);
    CHECK_INT(etcd_open(&e, eps, 0, NULL, NULL, NULL, NULL, NULL, &err), -MDO_ECONFIG);
    return check_done("test_etcd");
}
