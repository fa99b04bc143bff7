/* fuzz.h - what the libFuzzer targets of test/fuzz share (fuzz_common.c): a config from YAML
 * text, quiet logs, and fakes of the network layer that the targets link in with the linker's
 * --wrap (test/fuzz/CMakeLists.txt says which target wraps what), so that the real parsers run on
 * hostile answers without a socket.
 */
#ifndef MDO_FUZZ_H
#define MDO_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "config.h"
#include "err.h"
#include "etcd.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Logs at "error" unless $MDO_LOG says otherwise. */
void fuzz_quiet(void);
/* A config loaded from yaml (through a memfd, no file on disk); aborts when it does not load. */
struct cfg *fuzz_cfg(const char *yaml);
/* cfg_load of n bytes: the result of cfg_load; *out as cfg_load leaves it. */
int fuzz_cfg_load(const char *p, size_t n, struct cfg **out, struct mdo_err *err);
/* An etcd client whose endpoint is never contacted (etcd_call is wrapped). */
void fuzz_etcd(struct etcd *e);

/* The fake etcd_call (--wrap=etcd_call): answers the queued bodies in order, the last one again
 * and again once the queue is used up (a peer that always answers the same is hostile too); a
 * body that is not JSON is -MDO_EPROTO as etcd_call makes it. With a handler set, it answers
 * instead: it returns a body to parse (NULL: -MDO_ENET). More than FUZZ_CALLS_MAX calls for one
 * input is a loop: abort. */
#define FUZZ_CALLS_MAX 1000
void fuzz_etcd_queue(const char *const *bodies, const size_t *lens, size_t n);
void fuzz_etcd_handler(const char *(*fn)(const char *path, const char *body));
unsigned fuzz_etcd_calls(void);

/* The fake http_request (--wrap=http_request): every request answered by fn (status and body
 * into resp); NULL = 404 with an empty body. */
void fuzz_http_handler(void (*fn)(const char *method, const char *url, struct http_resp *resp));

/* Splits data at the first NUL byte: *a (NUL-terminated copy, caller frees) and the rest. */
char *fuzz_split(const uint8_t *data, size_t size, const uint8_t **rest, size_t *nrest);

#endif
