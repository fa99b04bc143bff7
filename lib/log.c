/* log.c - key=value lines on stderr, one write(2) each so threads do not interleave */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "log.h"
#include "redact.h"
#include "timefmt.h"

#define LOG_LINE_MAX  8192 /* a longer line is cut, and ends in "..." */
#define LOG_VALUE_MAX 1024 /* bytes of one value before escaping; longer ones are cut */

static enum log_level level = LOG_INFO;

void log_init(void)
{
    const char *s = getenv("MDO_LOG");
    static const char *const names[] = {"error", "warn", "info", "debug"};

    if (!s)
        return;
    for (int i = 0; i < 4; i++)
        if (!strcasecmp(s, names[i]))
            level = (enum log_level)i;
}

int log_enabled(enum log_level lvl)
{
    return lvl <= level;
}

/* A value that would not read back as one key=value token gets quotes. */
static int needs_quotes(const char *s)
{
    if (!*s)
        return 1;
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == '"' || *s == '=' || *s == '\\' || *s == 0x7f)
            return 1;
    return 0;
}

/* Adds one formatted value: escaped always (a peer's quotes, backslashes and newlines cannot
 * forge a field or a line), quoted when it stands right after '=' (not '="') and needs it. */
static void add_value(struct buf *b, const char *v, int after_eq)
{
    struct buf cut = BUF_INIT(0), red = BUF_INIT(0);
    int quote;

    if (redact_buf(&red, v) > 0) /* before the cut: no secret leaves half of itself */
        v = red.ptr;
    if (strlen(v) > LOG_VALUE_MAX && !buf_add(&cut, v, LOG_VALUE_MAX) && !buf_adds(&cut, "..."))
        v = cut.ptr;
    quote = after_eq && needs_quotes(v);
    if (quote)
        buf_addc(b, '"');
    buf_add_json_escaped(b, v);
    if (quote)
        buf_addc(b, '"');
    buf_release(&cut);
    buf_release(&red);
}

/* One conversion of fmt ("%-8.3lld", "%s", ...), formatted alone: its spec is copied from the
 * caller's format string, which the compiler checked against the arguments (log_msg's format
 * attribute). Returns the number of fmt bytes used, 0 when the spec is not one we know (the rest
 * of fmt is then written as it is). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static size_t one_conversion(struct buf *out, const char *fmt, int after_eq, va_list *ap)
{
    char spec[32];
    size_t n = 1;
    int star[2] = {0, 0}, nstar = 0, w[2] = {0, 0};
    enum { INT, LONG, LLONG, SIZE, INTMAX, PTRDIFF, DBL, LDBL } type = INT;
    struct buf v = BUF_INIT(0);
    char c;

    while (fmt[n] && strchr("-+ #0", fmt[n]))
        n++;
    for (int part = 0; part < 2; part++) { /* width, then precision */
        if (part && fmt[n] != '.')
            break;
        if (part)
            n++;
        if (fmt[n] == '*')
            star[part] = 1, n++, nstar++;
        else
            while (fmt[n] >= '0' && fmt[n] <= '9')
                n++;
    }
    if (fmt[n] == 'h') {
        n += fmt[n + 1] == 'h' ? 2 : 1;
    } else if (fmt[n] == 'l') {
        type = fmt[n + 1] == 'l' ? LLONG : LONG;
        n += fmt[n + 1] == 'l' ? 2 : 1;
    } else if (fmt[n] == 'z' || fmt[n] == 'j' || fmt[n] == 't' || fmt[n] == 'L') {
        type = fmt[n] == 'z' ? SIZE : fmt[n] == 'j' ? INTMAX : fmt[n] == 't' ? PTRDIFF : LDBL;
        n++;
    }
    c = fmt[n++];
    if (!c || !strchr("diouxXcsp%fFeEgGaA", c) || n >= sizeof(spec))
        return 0;
    memcpy(spec, fmt, n);
    spec[n] = '\0';
    for (int i = 0, k = 0; i < 2; i++)
        if (star[i])
            w[k++] = va_arg(*ap, int);
    if (strchr("fFeEgGaA", c) && type != LDBL)
        type = DBL;
#define PUT(x)                                                                                     \
    (nstar == 2 ? buf_addf(&v, spec, w[0], w[1], x)                                                \
     : nstar    ? buf_addf(&v, spec, w[0], x)                                                      \
                : buf_addf(&v, spec, x))
    if (c == '%')
        buf_addc(out, '%');
    else if (c == 's')
        PUT(va_arg(*ap, const char *));
    else if (c == 'p')
        PUT(va_arg(*ap, void *));
    else if (type == DBL)
        PUT(va_arg(*ap, double));
    else if (type == LDBL)
        PUT(va_arg(*ap, long double));
    else if (type == LONG)
        PUT(va_arg(*ap, long));
    else if (type == LLONG)
        PUT(va_arg(*ap, long long));
    else if (type == SIZE)
        PUT(va_arg(*ap, size_t));
    else if (type == INTMAX)
        PUT(va_arg(*ap, intmax_t));
    else if (type == PTRDIFF)
        PUT(va_arg(*ap, ptrdiff_t));
    else
        PUT(va_arg(*ap, int)); /* int, char, short: promoted */
#undef PUT
    if (c != '%')
        add_value(out, buf_str(&v), after_eq);
    buf_release(&v);
    return n;
}
#pragma GCC diagnostic pop

void log_msg(enum log_level lvl, const char *mod, const char *msg, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    struct buf line = BUF_INIT(0);
    char ts[RFC3339_LEN];
    va_list ap;

    if (lvl > level)
        return;
    rfc3339_format(time(NULL), ts); /* a timestamp is wall-clock time: what people compare */
    buf_addf(&line, "ts=%s level=%s mod=", ts, names[lvl]);
    add_value(&line, mod, 1);
    buf_adds(&line, " msg=\"");
    add_value(&line, msg, 0);
    buf_addc(&line, '"');
    if (fmt && *fmt) {
        buf_addc(&line, ' ');
        va_start(ap, fmt);
        for (const char *p = fmt; *p;) {
            size_t lit = strcspn(p, "%"), used;

            buf_add(&line, p, lit);
            p += lit;
            if (!*p)
                break;
            used = one_conversion(&line, p, p > fmt && p[-1] == '=', &ap);
            if (!used) { /* not a conversion we know: the rest as written */
                buf_adds(&line, p);
                break;
            }
            p += used;
        }
        va_end(ap);
    }
    if (line.len > LOG_LINE_MAX) {
        line.len = LOG_LINE_MAX - 3;
        buf_adds(&line, "...");
    }
    buf_addc(&line, '\n');
    if (line.ptr && write(STDERR_FILENO, line.ptr, line.len) < 0)
        line.len = 0; /* nowhere to report it */
    buf_release(&line);
}
