/* log.h: JSON-lines logging.
 *
 * One object per line on the log stream (stderr by default): ts, level, event, msg, and the
 * calling thread's trace_id/span_id when a trace is set. Safe from any thread. */
#ifndef SHOULI_LOG_H
#define SHOULI_LOG_H

#include <jansson.h>
#include <stdio.h>

#include "core/id.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Minimum level and output stream (not owned). Call before starting threads. */
void log_setup(enum log_level min, FILE *out);
/* Parse "debug"/"info"/"warn"/"error"; -1 when unknown. */
int log_level_parse(const char *s);
/* The trace of the current thread (NULL clears). The struct is borrowed until cleared. */
void log_set_trace(const struct trace_ctx *t);
const struct trace_ctx *log_trace(void);

/* Write one line. fields (may be NULL) is an object whose members are added to the line;
 * the reference is stolen. */
void log_event(enum log_level lvl, const char *event, json_t *fields, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(event, ...) log_event(LOG_DEBUG, event, NULL, __VA_ARGS__)
#define log_info(event, ...)  log_event(LOG_INFO, event, NULL, __VA_ARGS__)
#define log_warn(event, ...)  log_event(LOG_WARN, event, NULL, __VA_ARGS__)
#define log_error(event, ...) log_event(LOG_ERROR, event, NULL, __VA_ARGS__)

#endif
