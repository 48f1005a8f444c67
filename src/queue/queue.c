/* queue.c: the pure rules of queues — group codes, ticket numbers, the Shanghai day, the
 * state table and the wait estimate (docs/queue.md). No database, no state. */
#include <stdlib.h>
#include <string.h>

#include "core/timeutil.h"
#include "queue/queue.h"

bool queue_group_code_valid(const char *code)
{
	size_t n = code ? strlen(code) : 0;
	if (n < 1 || n > 2)
		return false;
	for (size_t i = 0; i < n; i++)
		if (code[i] < 'A' || code[i] > 'Z')
			return false;
	return true;
}

bool queue_ticket_label(const char *code, int64_t n, char *out, size_t outsz)
{
	if (!queue_group_code_valid(code) || n < 1 || n > 999999999 || outsz < 16)
		return false;
	snprintf(out, outsz, "%s%03lld", code, (long long)n);
	return true;
}

void queue_day_of(int64_t ms, char out[11])
{
	/* China has had no daylight saving since 1991: a fixed +8 h. */
	int64_t s = ms / 1000 + 8 * 3600;
	int64_t dn = s >= 0 ? s / 86400 : (s - 86399) / 86400;
	int64_t y;
	int m, d;
	time_civil_from_days(dn, &y, &m, &d);
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)(y % 10000), (unsigned)m % 100u,
	         (unsigned)d % 100u);
}

/* ---- the state table ------------------------------------------------------------------ */

const char *const queue_states[] = {"waiting", "called",    "serving", "suspended", "done",
                                    "skipped", "cancelled", "expired", NULL};
const char *const queue_actions[] = {"call",     "recall",  "skip",   "start",      "finish",
                                     "transfer", "suspend", "resume", "force_skip", "move",
                                     "cancel",   "expire",  NULL};

static const struct transition {
	const char *action;
	const char *from[4];
	const char *to;
} transitions[] = {
    {"call", {"waiting"}, "called"},
    {"recall", {"called"}, "called"},
    {"skip", {"called"}, "skipped"},
    {"start", {"called"}, "serving"},
    {"finish", {"serving"}, "done"},
    {"transfer", {"called", "serving"}, "waiting"},
    {"suspend", {"called", "serving"}, "suspended"},
    {"resume", {"suspended"}, ""},
    {"force_skip", {"called", "serving", "suspended"}, "skipped"},
    {"move", {"waiting", "called", "serving"}, "waiting"},
    {"cancel", {"waiting"}, "cancelled"},
    {"expire", {"waiting", "called", "serving", "suspended"}, "expired"},
};

bool queue_transition(const char *state, const char *action, const char **to)
{
	if (to)
		*to = NULL;
	for (size_t i = 0; state && action && i < sizeof(transitions) / sizeof(transitions[0]);
	     i++) {
		if (strcmp(transitions[i].action, action))
			continue;
		for (size_t k = 0; k < 4 && transitions[i].from[k]; k++)
			if (!strcmp(transitions[i].from[k], state)) {
				if (to)
					*to = transitions[i].to;
				return true;
			}
		return false;
	}
	return false;
}

bool queue_state_final(const char *state)
{
	return state && (!strcmp(state, "done") || !strcmp(state, "skipped") ||
	                 !strcmp(state, "cancelled") || !strcmp(state, "expired"));
}

static const char *label(const char *const *keys, const char *const *names, const char *k)
{
	for (size_t i = 0; k && keys[i]; i++)
		if (!strcmp(keys[i], k))
			return names[i];
	return k;
}

const char *queue_state_label(const char *state)
{
	static const char *const names[] = {"等候中", "已叫号", "办理中", "已挂起",
	                                    "已完成", "已过号", "已取消", "已失效"};
	return label(queue_states, names, state);
}

const char *queue_action_label(const char *action)
{
	static const char *const names[] = {"叫号", "重呼", "过号",     "开始办理", "办结", "转移",
	                                    "挂起", "恢复", "强制过号", "更换中心", "取消", "失效"};
	return label(queue_actions, names, action);
}

/* ---- wait estimate ---------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int64_t div_ceil(int64_t a, int64_t b)
{
	return a <= 0 ? 0 : (a + b - 1) / b;
}

void queue_wait_estimate(const int64_t *durations, int n, int64_t ahead, int windows,
                         struct queue_wait *out)
{
	int64_t sorted[QUEUE_WAIT_MAX_SAMPLES];
	int k = 0;
	for (int i = 0; durations && i < n && k < QUEUE_WAIT_MAX_SAMPLES; i++)
		if (durations[i] > 0)
			sorted[k++] = durations[i];
	int64_t m, q1, q3;
	if (k < QUEUE_WAIT_MIN_SAMPLES) {
		m = QUEUE_DEFAULT_SERVICE_MS;
		q1 = m * 2 / 3;
		q3 = m * 5 / 3;
		k = 0;
	} else {
		qsort(sorted, (size_t)k, sizeof(sorted[0]), cmp_i64);
		int64_t sum = 0;
		for (int i = 0; i < k; i++)
			sum += sorted[i];
		m = sum / k;
		/* nearest rank: ceil(p * k) - 1 */
		q1 = sorted[(k + 3) / 4 - 1];
		q3 = sorted[(3 * k + 3) / 4 - 1];
	}
	if (ahead < 0)
		ahead = 0;
	int64_t w = windows > 0 ? windows : 1;
	const int64_t minute = 60000;
	out->mean_service_ms = m;
	out->samples = k;
	out->minutes = div_ceil(ahead * m, w * minute);
	out->low = ahead * q1 / (w * minute);
	out->high = div_ceil(ahead * q3, w * minute);
	if (out->low > out->minutes)
		out->low = out->minutes;
	if (out->high < out->minutes)
		out->high = out->minutes;
}
