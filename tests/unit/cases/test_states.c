/* test_states.c: the state machine of cases — every (state, action) pair against the table
 * of docs/cases.md, written out here independently of the code's table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cases/cases.h"

/* The contract: action, from-state, to-state ("" = back to the state before the correction). */
static const struct {
	const char *action, *from, *to;
} legal[] = {
    {"accept", "draft", "accepted"},
    {"refuse", "draft", "refused"},
    {"request_correction", "draft", "correction"},
    {"request_correction", "accepted", "correction"},
    {"request_correction", "in_progress", "correction"},
    {"resume", "correction", ""},
    {"start", "accepted", "in_progress"},
    {"complete", "accepted", "completed"},
    {"complete", "in_progress", "completed"},
    {"withdraw", "draft", "withdrawn"},
    {"withdraw", "accepted", "withdrawn"},
    {"withdraw", "correction", "withdrawn"},
    {"withdraw", "in_progress", "withdrawn"},
    /* 收受分离: a forwarded case is a draft at the responsible centre */
    {"forward", "draft", "forwarded"},
    {"accept", "forwarded", "accepted"},
    {"refuse", "forwarded", "refused"},
    {"request_correction", "forwarded", "correction"},
    {"withdraw", "forwarded", "withdrawn"},
};
#define NLEGAL (sizeof(legal) / sizeof(legal[0]))

static const char *const states[] = {"draft",     "accepted", "in_progress", "correction",
                                     "completed", "refused",  "withdrawn",   "forwarded"};
static const char *const actions[] = {"accept", "refuse",   "request_correction", "resume",
                                      "start",  "complete", "withdraw",           "forward"};

static int legal_index(const char *state, const char *action)
{
	for (size_t i = 0; i < NLEGAL; i++)
		if (!strcmp(legal[i].from, state) && !strcmp(legal[i].action, action))
			return (int)i;
	return -1;
}

static void test_every_pair(void **st)
{
	int checked = 0, allowed = 0;
	(void)st;
	for (size_t s = 0; s < sizeof(states) / sizeof(states[0]); s++)
		for (size_t a = 0; a < sizeof(actions) / sizeof(actions[0]); a++) {
			const char *to = "unset";
			int li = legal_index(states[s], actions[a]);
			bool ok = cases_transition(states[s], actions[a], &to);
			if (li >= 0) {
				if (!ok)
					fail_msg("%s from %s should be allowed", actions[a],
					         states[s]);
				assert_string_equal(to, legal[li].to);
				allowed++;
			} else {
				if (ok)
					fail_msg("%s from %s should be refused", actions[a],
					         states[s]);
				assert_null(to);
			}
			checked++;
		}
	assert_int_equal(checked, 64);
	assert_int_equal(allowed, (int)NLEGAL);
}

static void test_terminal_states_are_dead_ends(void **st)
{
	static const char *const terminal[] = {"completed", "refused", "withdrawn"};
	(void)st;
	for (size_t s = 0; s < 3; s++)
		for (size_t a = 0; a < sizeof(actions) / sizeof(actions[0]); a++)
			assert_false(cases_transition(terminal[s], actions[a], NULL));
}

static void test_lists_match_contract(void **st)
{
	size_t n = 0;
	(void)st;
	for (; cases_states[n]; n++)
		assert_string_equal(cases_states[n], states[n]);
	assert_int_equal(n, 8);
	for (n = 0; cases_actions[n]; n++)
		assert_string_equal(cases_actions[n], actions[n]);
	assert_int_equal(n, 8);
}

static void test_unknown_and_labels(void **st)
{
	(void)st;
	assert_false(cases_transition("draft", "approve", NULL));
	assert_false(cases_transition("archived", "accept", NULL));
	assert_false(cases_transition(NULL, "accept", NULL));
	assert_false(cases_transition("draft", NULL, NULL));
	assert_string_equal(cases_state_label("accepted"), "已受理");
	assert_string_equal(cases_state_label("correction"), "补正中");
	assert_string_equal(cases_action_label("refuse"), "不予受理");
	assert_string_equal(cases_action_label("resume"), "补正完成");
	assert_string_equal(cases_state_label("mystery"), "mystery");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_pair),
	    cmocka_unit_test(test_terminal_states_are_dead_ends),
	    cmocka_unit_test(test_lists_match_contract),
	    cmocka_unit_test(test_unknown_and_labels),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
