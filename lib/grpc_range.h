/* grpc_range.h - one etcd range over etcd's own gRPC API (HTTP/2 + protobuf) instead of its
 * JSON gateway, for the guest's reads (get_node_list): the gateway spends ~8-12 us per key
 * marshalling JSON and base64 (1,000 instances: a 12.6 ms range, 517 KB; over gRPC 7.1 ms,
 * 341 KB, and no base64 or JSON to decode here; issue 10's get_node_list target).
 *
 * Only the unary KV/Range call, and only where it needs nothing the gateway path does for it:
 * no etcd user (the gateway path authenticates), no proxy in the environment. A caller that
 * gets -1 reads through the gateway (etcd.h) as before: this is a faster way, never the only.
 */
#ifndef MDO_GRPC_RANGE_H
#define MDO_GRPC_RANGE_H

#include "etcd.h"

/* Every key under prefix, in one Range at one revision: 0 and *out filled as etcd_get_prefix()
 * fills it (keys outside prefix dropped), or -1 (out empty): not spoken, refused, an error, or
 * an answer that is not what it should be. */
int grpc_range_prefix(struct etcd *e, const char *prefix, struct etcd_kvs *out);

/* The pure parts, for tests: a RangeRequest for [key, end) in gRPC's frame (caller frees; NULL on
 * ENOMEM), and a framed RangeResponse decoded into out (0, or -1: malformed). */
unsigned char *grpc_range_request(const char *key, const char *end, size_t *len);
int grpc_range_decode(const unsigned char *p, size_t n, const char *prefix, struct etcd_kvs *out);

#endif
