/* fuzz_config.c - cfg_load (lib/config*.c: libcyaml, the schema, the checks, ${VAR} expansion)
 * on any bytes as the config file: loads or fails with a message, never crashes or leaks. */
#include <stdlib.h>
#include <string.h>
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_quiet();
    setenv("MDO_TEST_TOKEN", "tok", 1);
    setenv("MDO_TEST_ETCD_PASSWORD", "pw", 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mdo_err err = MDO_ERR_INIT;
    struct cfg *cfg = NULL;
    int ret = fuzz_cfg_load((const char *)data, size, &cfg, &err);

    if (ret && (cfg || !err.msg[0]))
        abort(); /* a failure has a message and no config */
    if (!ret && (!cfg || !cfg->environment))
        abort(); /* a config has its defaults */
    cfg_free(cfg);
    return 0;
}
