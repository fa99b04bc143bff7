/* cbauth.c - the bearer-token rule of the subscriber's /v1/callbacks: operator or guest */
#include <string.h>
#include <strings.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "cbauth.h"

/* Whether a equals b, in time that depends on neither (both hashed first). */
static int same_secret(const char *a, const char *b)
{
    unsigned char da[EVP_MAX_MD_SIZE], db[EVP_MAX_MD_SIZE];
    unsigned int na = 0, nb = 0;

    if (!EVP_Digest(a, strlen(a), da, &na, EVP_sha256(), NULL) ||
        !EVP_Digest(b, strlen(b), db, &nb, EVP_sha256(), NULL) || na != nb)
        return 0;
    return !CRYPTO_memcmp(da, db, na);
}

enum cbauth_role cbauth_role(const char *token, const char *guest_token, const char *authorization)
{
    const char *h = authorization;
    int admin, guest;

    if (!token || !*token)
        return CBAUTH_ADMIN;
    /* RFC 6750: the scheme is case-insensitive; one space before the token */
    if (!h || strncasecmp(h, "Bearer ", 7) || !h[7])
        return CBAUTH_NONE;
    h += 7;
    admin = same_secret(h, token);
    guest = guest_token && *guest_token && same_secret(h, guest_token);
    return admin ? CBAUTH_ADMIN : guest ? CBAUTH_GUEST : CBAUTH_NONE;
}

int cbauth_check(enum cbauth_role role, const char *method, int has_id)
{
    if (role == CBAUTH_ADMIN)
        return 0;
    if (role != CBAUTH_GUEST)
        return 401;
    if ((!strcmp(method, "POST") && !has_id) || (!strcmp(method, "DELETE") && has_id))
        return 0;
    return 403;
}

int cbauth_check_env(enum cbauth_role role, const char *body_env, const char *env)
{
    if (!body_env || !strcmp(body_env, env))
        return 0;
    return role == CBAUTH_GUEST ? 403 : 400;
}
