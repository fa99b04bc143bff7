/* test_suggest.c - "did you mean": the edit distance and which candidate is offered */
#include <stdint.h>
#include "check.h"
#include "suggest.h"

static const char *best(const char *word, const char *const *cands)
{
    struct suggest s = SUGGEST_INIT(word);

    for (; *cands; cands++)
        suggest_try(&s, *cands);
    return s.best;
}

int main(void)
{
    static const char *const keys[] = {"image", "instances", "cpus", "mem", "ports", NULL};
    static const char *const top[] = {"environment", "scheduler", "etcd", "services", NULL};
    static const char *const tie[] = {"abcd", "abce", NULL};
    static const char *const pair[] = {"xy", NULL}, *const near[] = {"xy", "xb", NULL};
    char long_word[40];

    CHECK_INT(suggest_distance("", ""), 0);
    CHECK_INT(suggest_distance("image", "image"), 0);
    CHECK_INT(suggest_distance("imgae", "image"), 1); // a swap is one edit
    CHECK_INT(suggest_distance("cpu", "cpus"), 1);
    CHECK_INT(suggest_distance("cpus", "cpu"), 1);
    CHECK_INT(suggest_distance("kitten", "sitting"), 3);
    CHECK_INT(suggest_distance("", "abc"), 3);
    memset(long_word, 'a', sizeof(long_word) - 1);
    long_word[sizeof(long_word) - 1] = '\0';
    CHECK(suggest_distance(long_word, "a") == SIZE_MAX);

    CHECK_STR(best("imgae", keys), "image");
    CHECK_STR(best("cpu", keys), "cpus");
    CHECK_STR(best("instance", keys), "instances");
    CHECK_STR(best("scheduller", top), "scheduler");
    CHECK_STR(best("registry", top), NULL); // nothing close
    CHECK_STR(best("me", keys), "mem");
    CHECK_STR(best("xy", keys), NULL); // nothing within 2 edits
    CHECK_STR(best("ab", pair), NULL); // 2 edits, but "xy" has only 2 letters
    CHECK_STR(best("ab", near), "xb");
    CHECK_STR(best("abcx", tie), "abcd"); // a tie keeps the first
    CHECK_STR(best("image", keys), "image");
    return check_done("test_suggest");
}
