/* fuzz_registry.c - the registry's record parsers on any value etcd may hold: reg_record_parse
 * (instance records, lib/registry.c) and cbreg_parse (callback registrations, lib/cbreg.c). A
 * record that parses prints canonically, and that print parses back to the same bytes.
 * Input: the callback key's rest ("<service>/<id>"), a NUL byte, the value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cbreg.h"
#include "fuzz.h"
#include "registry.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    return 0;
}

static void record(const char *p, size_t n)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct reg_record r, back;
    char *a, *b;

    if (reg_record_parse(p, n, &r, &err)) {
        if (!err.msg[0])
            abort();
        reg_record_release(&r);
        return;
    }
    a = reg_record_json(&r);
    if (!a || reg_record_parse(a, strlen(a), &back, &err)) {
        fprintf(stderr, "fuzz_registry: the canonical print does not parse: %s\n", err.msg);
        abort();
    }
    b = reg_record_json(&back);
    if (!b || strcmp(a, b) || !reg_record_equal(&r, &back)) {
        fprintf(stderr, "fuzz_registry: not canonical:\n%s\n%s\n", a, b ? b : "(null)");
        abort();
    }
    free(a);
    free(b);
    reg_record_release(&back);
    reg_record_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mdo_err err = MDO_ERR_INIT;
    const uint8_t *val;
    size_t nval;
    char *rest = fuzz_split(data, size, &val, &nval);
    struct cbreg cb;

    record((const char *)val, nval);
    record((const char *)data, size);
    if (!cbreg_parse(rest, (const char *)val, nval, &cb, &err)) {
        if (!cb.id || !cb.service || !cb.url)
            abort();
    }
    cbreg_release(&cb);
    free(rest);
    return 0;
}
