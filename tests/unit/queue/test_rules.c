/* test_rules.c: the pure rules of queues — group codes and ticket numbers, the Shanghai day,
 * the state table (written out here independently of the code's table) and the wait
 * estimate (docs/queue.md). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "queue/queue.h"

static void test_numbers(void **state)
{
	(void)state;
	char out[16];
	assert_true(queue_group_code_valid("A"));
	assert_true(queue_group_code_valid("AB"));
	assert_false(queue_group_code_valid("a"));
	assert_false(queue_group_code_valid("ABC"));
	assert_false(queue_group_code_valid(""));
	assert_false(queue_group_code_valid("A1"));
	assert_false(queue_group_code_valid(NULL));
	assert_true(queue_ticket_label("A", 1, out, sizeof(out)));
	assert_string_equal(out, "A001");
	assert_true(queue_ticket_label("B", 120, out, sizeof(out)));
	assert_string_equal(out, "B120");
	assert_true(queue_ticket_label("AB", 1000, out, sizeof(out)));
	assert_string_equal(out, "AB1000");
	assert_false(queue_ticket_label("A", 0, out, sizeof(out)));
	assert_false(queue_ticket_label("a", 1, out, sizeof(out)));
	assert_false(queue_ticket_label("A", 1, out, 8));
}

static void test_day(void **state)
{
	(void)state;
	char d[11];
	/* 2026-11-29 15:59:59.999 UTC is 23:59:59.999 in Shanghai; one ms later the next day */
	int64_t ms = 1795967999999LL;
	queue_day_of(ms, d);
	assert_string_equal(d, "2026-11-29");
	queue_day_of(ms + 1, d);
	assert_string_equal(d, "2026-11-30");
	queue_day_of(0, d);
	assert_string_equal(d, "1970-01-01");
	/* 2024-02-29 in Shanghai */
	queue_day_of(1709136000000LL, d);
	assert_string_equal(d, "2024-02-29");
}

static const struct {
	const char *action, *from, *to;
} legal[] = {
    {"call", "waiting", "called"},          {"recall", "called", "called"},
    {"skip", "called", "skipped"},          {"start", "called", "serving"},
    {"finish", "serving", "done"},          {"transfer", "called", "waiting"},
    {"transfer", "serving", "waiting"},     {"suspend", "called", "suspended"},
    {"suspend", "serving", "suspended"},    {"resume", "suspended", ""},
    {"force_skip", "called", "skipped"},    {"force_skip", "serving", "skipped"},
    {"force_skip", "suspended", "skipped"}, {"move", "waiting", "waiting"},
    {"move", "called", "waiting"},          {"move", "serving", "waiting"},
    {"cancel", "waiting", "cancelled"},     {"expire", "waiting", "expired"},
    {"expire", "called", "expired"},        {"expire", "serving", "expired"},
    {"expire", "suspended", "expired"},
};

static void test_states(void **state)
{
	(void)state;
	int n = 0;
	for (int s = 0; queue_states[s]; s++)
		for (int a = 0; queue_actions[a]; a++) {
			const char *to = NULL, *want = NULL;
			for (size_t i = 0; i < sizeof(legal) / sizeof(legal[0]); i++)
				if (!strcmp(legal[i].action, queue_actions[a]) &&
				    !strcmp(legal[i].from, queue_states[s]))
					want = legal[i].to;
			bool ok = queue_transition(queue_states[s], queue_actions[a], &to);
			if (want) {
				assert_true(ok);
				assert_string_equal(to, want);
				n++;
			} else {
				assert_false(ok);
				assert_null(to);
			}
		}
	assert_int_equal(n, (int)(sizeof(legal) / sizeof(legal[0])));
	/* nothing leaves a final state */
	for (int s = 0; queue_states[s]; s++)
		if (queue_state_final(queue_states[s]))
			for (int a = 0; queue_actions[a]; a++)
				assert_false(
				    queue_transition(queue_states[s], queue_actions[a], NULL));
	assert_false(queue_transition("waiting", "fly", NULL));
	assert_string_equal(queue_state_label("skipped"), "已过号");
	assert_string_equal(queue_action_label("move"), "更换中心");
}

static void test_wait(void **state)
{
	(void)state;
	struct queue_wait w;
	/* too few samples: the default 6 minutes, range 4..10 per ticket */
	int64_t few[] = {60000, 60000};
	queue_wait_estimate(few, 2, 3, 1, &w);
	assert_int_equal(w.samples, 0);
	assert_int_equal(w.mean_service_ms, QUEUE_DEFAULT_SERVICE_MS);
	assert_int_equal(w.minutes, 18);
	assert_int_equal(w.low, 12);
	assert_int_equal(w.high, 30);
	/* 8 samples 1..8 minutes: mean 4.5, q1 = 2, q3 = 6 (nearest rank) */
	int64_t d[] = {8, 1, 7, 2, 6, 3, 5, 4};
	for (int i = 0; i < 8; i++)
		d[i] *= 60000;
	queue_wait_estimate(d, 8, 4, 2, &w);
	assert_int_equal(w.samples, 8);
	assert_int_equal(w.mean_service_ms, 270000);
	assert_int_equal(w.minutes, 9); /* 4 * 4.5 / 2 */
	assert_int_equal(w.low, 4);     /* 4 * 2 / 2 */
	assert_int_equal(w.high, 12);   /* 4 * 6 / 2 */
	assert_int_equal(d[0], 480000); /* the input is not sorted in place */
	/* nobody ahead: no wait; no window open counts as one */
	queue_wait_estimate(d, 8, 0, 0, &w);
	assert_int_equal(w.minutes + w.low + w.high, 0);
	queue_wait_estimate(d, 8, 1, 0, &w);
	assert_int_equal(w.minutes, 5);
	assert_true(w.low <= w.minutes && w.minutes <= w.high);
	/* zero and negative durations are ignored */
	int64_t bad[] = {0, -5, 0, 0, 0, 0};
	queue_wait_estimate(bad, 6, 1, 1, &w);
	assert_int_equal(w.samples, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_numbers),
	    cmocka_unit_test(test_day),
	    cmocka_unit_test(test_states),
	    cmocka_unit_test(test_wait),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
