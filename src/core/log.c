#include "core/log.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/timeutil.h"

static enum log_level min_level = LOG_INFO;
static FILE *log_out;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local const struct trace_ctx *cur_trace;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_setup(enum log_level min, FILE *out)
{
	min_level = min;
	log_out = out;
	/* Lines go to the descriptor with write(2): whatever stdio still holds must go first. */
	if (out)
		fflush(out);
}

/* All of p[0..n) to fd. A regular file or a pipe may take less than asked (a full disk, a
 * signal, a non-blocking pipe that is full): carry on from where it stopped rather than
 * drop the rest of the line. Gives up only on a hard error. */
static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EINTR) {
			continue;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pf = {.fd = fd, .events = POLLOUT};
			poll(&pf, 1, 100);
		} else {
			return;
		}
	}
}

int log_level_parse(const char *s)
{
	for (int i = 0; i < 4; i++)
		if (s && strcmp(s, level_names[i]) == 0)
			return i;
	return -1;
}

void log_set_trace(const struct trace_ctx *t)
{
	cur_trace = t;
}

const struct trace_ctx *log_trace(void)
{
	return cur_trace;
}

void log_event(enum log_level lvl, const char *event, json_t *fields, const char *fmt, ...)
{
	if (lvl < min_level) {
		json_decref(fields);
		return;
	}
	char ts[32], msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	struct buf b;
	buf_init(&b, 64 * 1024);
	buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"event\":\"", time_iso(time_now_ms(), ts),
	           level_names[lvl]);
	buf_json_escape(&b, event, strlen(event));
	buf_puts(&b, "\",\"msg\":\"");
	buf_json_escape(&b, msg, strlen(msg));
	buf_putc(&b, '"');
	if (cur_trace)
		buf_printf(&b, ",\"trace_id\":\"%s\",\"span_id\":\"%s\"", cur_trace->trace_id,
		           cur_trace->span_id);
	if (fields) {
		char *extra = json_dumps(fields, JSON_COMPACT | JSON_ENSURE_ASCII);
		/* Splice the members of the object in: drop its braces. */
		if (extra && strlen(extra) > 2) {
			buf_putc(&b, ',');
			buf_append(&b, extra + 1, strlen(extra) - 2);
		}
		free(extra);
		json_decref(fields);
	}
	buf_puts(&b, "}\n");
	/* One write(2) of the whole line, no stdio buffer to flush. The lock keeps lines whole
	 * when the kernel takes a line in pieces (a file on a full disk, a full non-blocking
	 * pipe); a line under PIPE_BUF written to a pipe is atomic across processes too. b.p is
	 * NULL only when the line could not be allocated at all. */
	if (b.p) {
		int fd = fileno(log_out ? log_out : stderr);
		pthread_mutex_lock(&log_lock);
		write_all(fd, b.p, b.len);
		pthread_mutex_unlock(&log_lock);
	}
	buf_release(&b);
}
