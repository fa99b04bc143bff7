/* names.c - the name rules of names.h (services, environments, container names, ids) */
#include <stdio.h>
#include <string.h>
#include "names.h"

bool name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (!n || n > NAME_MAX_LEN || s[0] == '-' || s[n - 1] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

bool segment_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;

    if (!n || n > SEGMENT_MAX_LEN || s[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

/* The value as it may be shown: printable ASCII kept, the rest as '?', at most 64 bytes. */
static void shown(char *dst, size_t n, const char *s)
{
    size_t i = 0;

    for (; s && s[i] && i + 1 < n && i < 64; i++)
        dst[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'') ? s[i] : '?';
    dst[i] = '\0';
}

static int refuse(const char *what, const char *s, const char *rule, struct mdo_err *err)
{
    char v[80];

    shown(v, sizeof(v), s);
    return err_set(err, MDO_EUSAGE, "%s '%s%s' is not a valid name (%s)", what, v,
                   s && strlen(s) > 64 ? "..." : "", rule);
}

int name_check(const char *what, const char *s, struct mdo_err *err)
{
    if (name_ok(s))
        return 0;
    return refuse(what, s, "lowercase letters, digits and inner '-', at most 63", err);
}

int segment_check(const char *what, const char *s, struct mdo_err *err)
{
    if (segment_ok(s))
        return 0;
    return refuse(what, s, "letters, digits, '.', '_', '-', not starting with '.', at most 255",
                  err);
}
