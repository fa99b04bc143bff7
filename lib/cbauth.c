/* cbauth.c - the bearer-token rule of the subscriber's /v1/callbacks: operator or guest */
#include <string.h>
#include "cbauth.h"
#include "server.h"

enum cbauth_role cbauth_role(const char *token, const char *guest_token, const char *authorization)
{
    int admin, guest;

    if (!token || !*token)
        return CBAUTH_ADMIN;
    admin = server_bearer_ok(authorization, token); /* both compared: no timing of which */
    guest = server_bearer_ok(authorization, guest_token);
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
