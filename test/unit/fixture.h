/* fixture.h - the unit tests' temporary files. Fixture I/O is not what a test checks: when it
 * fails, the test program stops (exit 2) instead of counting a check. */
#ifndef MDO_FIXTURE_H
#define MDO_FIXTURE_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fixture_dir[] = "/tmp/mdo-test-XXXXXX";

__attribute__((noreturn)) static inline void fixture_fail(const char *what, const char *path)
{
    fprintf(stderr, "fixture: %s %s: %s\n", what, path, strerror(errno));
    exit(2);
}

/* Makes fixture_dir (once). */
static inline const char *fixture_tmpdir(void)
{
    if (!strstr(fixture_dir, "XXXXXX"))
        return fixture_dir;
    if (!mkdtemp(fixture_dir))
        fixture_fail("mkdtemp", fixture_dir);
    return fixture_dir;
}

/* "<fixture_dir>/name" in a static buffer. */
static inline const char *fixture_path(const char *name)
{
    static char path[256];

    if (snprintf(path, sizeof(path), "%s/%s", fixture_tmpdir(), name) >= (int)sizeof(path))
        fixture_fail("path too long:", name);
    return path;
}

static inline void fixture_write(const char *path, const void *text, size_t len)
{
    FILE *f = fopen(path, "wb");

    if (!f)
        fixture_fail("cannot create", path);
    if (fwrite(text, 1, len, f) != len || fclose(f))
        fixture_fail("cannot write", path);
}

#endif
