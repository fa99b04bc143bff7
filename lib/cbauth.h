/* cbauth.h - who may do what on the subscriber's /v1/callbacks (DESIGN §6, §10).
 *
 * Two bearer tokens: subscriber.token (the operator's) allows every route; subscriber.guest_token
 * (the containers', MDO_SUBSCRIBER_TOKEN) allows only POST /v1/callbacks and DELETE
 * /v1/callbacks/ID, for the subscriber's own environment. With no token configured every
 * client may do everything (a loopback listen; the config refuses a guest_token without a
 * token). Tokens are compared in constant time, through their SHA-256 so that not even their
 * length shows in the timing.
 */
#ifndef MDO_CBAUTH_H
#define MDO_CBAUTH_H

enum cbauth_role {
    CBAUTH_NONE,  /* no or a wrong token: 401 */
    CBAUTH_GUEST, /* subscriber.guest_token */
    CBAUTH_ADMIN, /* subscriber.token, or no token configured */
};

/* The role of a request's Authorization header (NULL when absent). token and guest_token are
 * the config's (either may be NULL). */
enum cbauth_role cbauth_role(const char *token, const char *guest_token, const char *authorization);
/* 0 when role may call method on /v1/callbacks (has_id: /v1/callbacks/ID), else the status to
 * answer: 401 for CBAUTH_NONE, 403 for a guest outside POST /v1/callbacks and DELETE
 * /v1/callbacks/ID. Whether the route serves the method at all (405) is the route's business. */
int cbauth_check(enum cbauth_role role, const char *method, int has_id);
/* 0 when a request body's "environment" (NULL: absent, which means the subscriber's own) is
 * env, else the status to answer: 403 for a guest, 400 for the operator (this subscriber
 * serves one environment). */
int cbauth_check_env(enum cbauth_role role, const char *body_env, const char *env);

#endif
