/* envname.h - the one spelling of names inside environment variable keys (DESIGN §4).
 *
 * Both sides must agree byte for byte: the launch side writes MDO_PORT_<NAME> into a container,
 * the guest applets read it back from a name the user typed (get_port peer-x). The rule is ASCII
 * only and locale-free: letters are upper-cased, digits kept, every other byte becomes '_'
 * ("peer-x" -> "PEER_X", "é" -> "__": two bytes, two underscores).
 */
#ifndef MDO_ENVNAME_H
#define MDO_ENVNAME_H

#include "buf.h"

/* Appends prefix (verbatim) and then name mangled as above to out. Returns 0 or -MDO_ENOMEM
 * (out's cap reached; out is then as it was before the call). */
int envname(struct buf *out, const char *prefix, const char *name);

#endif
