/* envname.c - names inside environment variable keys: upper-case, non-alphanumeric to '_' */
#include <string.h>
#include "envname.h"
#include "err.h"

/* Not toupper()/isalnum(): they follow the locale, and the launch side and a container may run
 * under different ones; the key must come out the same everywhere. */
static char env_char(unsigned char c)
{
    if (c >= 'a' && c <= 'z')
        return (char)(c - 'a' + 'A');
    if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return (char)c;
    return '_';
}

int envname(struct buf *out, const char *prefix, const char *name)
{
    size_t start = out->len;
    int ret = buf_adds(out, prefix);

    for (const char *p = name; !ret && *p; p++)
        ret = buf_addc(out, env_char((unsigned char)*p));
    if (ret) { /* all or nothing: a half-written key would name the wrong variable */
        out->len = start;
        if (out->ptr)
            out->ptr[start] = '\0';
        return -MDO_ENOMEM;
    }
    return 0;
}
