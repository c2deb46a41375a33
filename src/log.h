/* log.h - one-line log messages to stderr, with time and level.
 * Safe from any thread (each line is one write). Never pass secrets. */
#ifndef NS_LOG_H
#define NS_LOG_H

void ns_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ns_log_info(...) ns_log("info", __VA_ARGS__)
#define ns_log_warn(...) ns_log("warn", __VA_ARGS__)
#define ns_log_error(...) ns_log("error", __VA_ARGS__)

#endif
