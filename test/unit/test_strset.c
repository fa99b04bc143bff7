/* test_strset.c - the sorted string set: add, has, del, contains_all, swap, copy */
#include "check.h"
#include "strset.h"

static int sorted(const struct strset *s)
{
    for (size_t i = 1; i < s->n; i++)
        if (strcmp(s->v[i - 1], s->v[i]) >= 0)
            return 0;
    return 1;
}

int main(void)
{
    struct strset a = STRSET_INIT, b = STRSET_INIT, c = STRSET_INIT;
    char name[16];
    int fails = 0;

    CHECK(!strset_has(&a, "x"));
    CHECK(strset_contains_all(&a, &b)); /* empty in empty */
    CHECK_INT(strset_add(&a, "web-2"), 0);
    CHECK_INT(strset_add(&a, "web-10"), 0);
    CHECK_INT(strset_add(&a, "web-1"), 0);
    CHECK_INT(strset_add(&a, "web-2"), 0); /* already there */
    CHECK_INT(a.n, 3);
    CHECK(sorted(&a));
    CHECK_STR(a.v[0], "web-1");
    CHECK_STR(a.v[1], "web-10");
    CHECK(strset_has(&a, "web-10"));
    CHECK(!strset_has(&a, "web")); /* not a substring search */
    CHECK(!strset_has(&a, "web-1\n"));
    CHECK_INT(strset_add(&a, "a\nb"), 0); /* the old separator is just a byte */
    CHECK(strset_has(&a, "a\nb"));
    CHECK(!strset_has(&a, "a"));

    for (int i = 99; i >= 0; i--) { /* growth past the first allocation, reverse order */
        snprintf(name, sizeof(name), "n%03d", i);
        fails += strset_add(&b, name) != 0;
    }
    CHECK_INT(fails, 0);
    CHECK_INT(b.n, 100);
    CHECK(sorted(&b));
    CHECK_INT(strset_del(&b, "n050"), 1);
    CHECK_INT(strset_del(&b, "n050"), 0);
    CHECK_INT(strset_del(&b, "n000"), 1);
    CHECK_INT(strset_del(&b, "n099"), 1);
    CHECK_INT(b.n, 97);
    CHECK(sorted(&b));
    CHECK(!strset_has(&b, "n050") && strset_has(&b, "n051"));

    CHECK_INT(strset_copy(&c, &a), 0);
    CHECK_INT(c.n, a.n);
    CHECK(strset_contains_all(&c, &a) && strset_contains_all(&a, &c));
    CHECK(c.v[0] != a.v[0]); /* deep */
    CHECK_INT(strset_add(&c, "zz"), 0);
    CHECK(strset_contains_all(&c, &a));
    CHECK(!strset_contains_all(&a, &c));

    strset_swap(&a, &b); /* a becomes b, b empty */
    CHECK_INT(a.n, 97);
    CHECK_INT(b.n, 0);
    CHECK(b.v == NULL);
    CHECK_INT(strset_add(&b, "again"), 0);
    CHECK_INT(strset_copy(&c, &b), 0); /* into a used set: released first */
    CHECK_INT(c.n, 1);
    strset_clear(&a);
    CHECK_INT(a.n, 0);
    CHECK_INT(strset_add(&a, "after-clear"), 0);
    CHECK(strset_has(&a, "after-clear"));
    CHECK_INT(strset_copy(&c, &(struct strset)STRSET_INIT), 0);
    CHECK_INT(c.n, 0);
    strset_release(&a);
    strset_release(&b);
    strset_release(&c);
    strset_release(&c); /* twice is fine */
    return check_done("test_strset");
}
