/* log.h - the one logger: one key=value line per event on stderr.
 *
 *   log_warn("etcd", "put failed", "key=%s err=%s", key, why);
 *   -> ts=2026-11-25T08:00:00Z level=warn mod=etcd msg="put failed" key=/mdo/x err=timeout
 *
 * Every value (msg and each conversion of the format) is escaped as in a JSON string ('"', '\\',
 * control bytes), so a peer's text cannot forge a field or a line; a value right after '=' that
 * is empty or holds a space, '"', '=' or '\\' is also quoted (write key=%s, not key="%s", unless
 * it must always be quoted). A value over 1 KiB and a line over 8 KiB are cut and end in "...".
 * Every secret redact.h lists is replaced by "<redacted>" in every value (and msg) before it is
 * cut or escaped. ts is RFC 3339 UTC (lib/timefmt.h).
 *
 * Level from $MDO_LOG (error|warn|info|debug, default info), read once by log_init() before
 * threads. Never pass tokens or passwords all the same: the list holds only what the config had.
 */
#ifndef MDO_LOG_H
#define MDO_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

void log_init(void);
int log_enabled(enum log_level lvl);
void log_msg(enum log_level lvl, const char *mod, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_error(mod, msg, ...) log_msg(LOG_ERROR, mod, msg, __VA_ARGS__)
#define log_warn(mod, msg, ...)  log_msg(LOG_WARN, mod, msg, __VA_ARGS__)
#define log_info(mod, msg, ...)  log_msg(LOG_INFO, mod, msg, __VA_ARGS__)
#define log_debug(mod, msg, ...) log_msg(LOG_DEBUG, mod, msg, __VA_ARGS__)

#endif
