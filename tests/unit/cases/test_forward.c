/* test_forward.c: 收受分离 — the entry control for every vwin_mode × entry × mode × item
 * separated (the table of docs/catalog.md, written out here), who may act on a forwarded
 * case, and the actions a case offers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "cases/cases_int.h"
#include "core/err.h"
#include "http/http.h"

/* The contract, one row per combination: item separated, vwin_mode, mode, entry → result
 * (0 open, 422 refused as a value, 409 entry closed) and the message when refused. */
static const struct {
	bool separated;
	const char *vwin, *mode, *entry;
	int status;
	const char *msg;
} table[] = {
    /* the traditional window entry */
    {true, "original", "separated", "window", 0, NULL},
    {true, "dual", "separated", "window", 0, NULL},
    {true, "virtual", "separated", "window", 409,
     "该事项收受分离已改为虚拟窗口模式，原收受分离入口已关闭"},
    {true, "original", "direct", "window", 0, NULL},
    {true, "dual", "direct", "window", 0, NULL},
    {true, "virtual", "direct", "window", 0, NULL}, /* a centre serves its own items */
    {false, "original", "direct", "window", 0, NULL},
    {false, "dual", "direct", "window", 0, NULL},
    {false, "virtual", "direct", "window", 0, NULL},
    {false, "original", "separated", "window", 422, "该事项不支持收受分离"},
    {false, "dual", "separated", "window", 422, "该事项不支持收受分离"},
    {false, "virtual", "separated", "window", 422, "该事项不支持收受分离"},
    /* the virtual window */
    {true, "original", "separated", "virtual", 409, "该事项不支持虚拟窗口收受分离"},
    {true, "dual", "separated", "virtual", 0, NULL},
    {true, "virtual", "separated", "virtual", 0, NULL},
    {true, "original", "direct", "virtual", 409,
     "该事项不在远程虚拟窗口办理，请到受理中心窗口办理"},
    {true, "dual", "direct", "virtual", 0, NULL},
    {true, "virtual", "direct", "virtual", 0, NULL},
    {false, "original", "direct", "virtual", 409,
     "该事项不在远程虚拟窗口办理，请到受理中心窗口办理"},
    {false, "dual", "direct", "virtual", 0, NULL},
    {false, "virtual", "direct", "virtual", 0, NULL},
    {false, "original", "separated", "virtual", 422, "该事项不支持收受分离"},
    {false, "dual", "separated", "virtual", 422, "该事项不支持收受分离"},
    {false, "virtual", "separated", "virtual", 422, "该事项不支持收受分离"},
};

static int status_of(enum err e)
{
	return e == ERR_OK ? 0 : e == ERR_INVALID ? 422 : e == ERR_BAD_STATE ? 409 : -1;
}

static void test_entry_table(void **st)
{
	(void)st;
	assert_int_equal(sizeof(table) / sizeof(table[0]), 24); /* 2 × 3 × 2 × 2 */
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		struct errinfo ei = {0};
		enum err e = cases_entry_check(table[i].separated, table[i].vwin, table[i].mode,
		                               table[i].entry, &ei);
		if (status_of(e) != table[i].status)
			fail_msg("row %zu (%d %s %s %s): %s", i, table[i].separated, table[i].vwin,
			         table[i].mode, table[i].entry, err_code(e));
		if (table[i].msg) {
			assert_non_null(ei.msg);
			assert_string_equal(ei.msg, table[i].msg);
			assert_string_equal(ei.field, table[i].status == 422 ? "mode" : "entry");
		}
	}
}

static void test_entry_values(void **st)
{
	struct errinfo ei = {0};
	(void)st;
	assert_int_equal(cases_entry_check(true, "dual", "both", "window", &ei), ERR_INVALID);
	assert_string_equal(ei.field, "mode");
	assert_int_equal(cases_entry_check(true, "dual", NULL, "window", &ei), ERR_INVALID);
	assert_int_equal(cases_entry_check(true, "dual", "direct", "kiosk", &ei), ERR_INVALID);
	assert_string_equal(ei.field, "entry");
	assert_int_equal(cases_entry_check(true, "dual", "direct", NULL, &ei), ERR_INVALID);
	/* an unknown or missing vwin_mode is read as original: no virtual window */
	assert_int_equal(cases_entry_check(true, "sometimes", "separated", "virtual", &ei),
	                 ERR_BAD_STATE);
	assert_int_equal(cases_entry_check(true, NULL, "separated", "window", &ei), ERR_OK);
	assert_int_equal(cases_entry_check(true, NULL, "direct", "virtual", &ei), ERR_BAD_STATE);
}

/* Centre A (receiving, /1/2/10/) and B (responsible, /1/3/20/). */
static const struct principal clerk_a = {.user_id = 5, .scope_path = "/1/2/10/"};
static const struct principal clerk_b = {.user_id = 6, .scope_path = "/1/3/20/"};
static const struct principal city = {.user_id = 7, .scope_path = "/1/"};

static void test_guard(void **st)
{
	struct errinfo ei = {0};
	static const char *const writes[] = {"accept", "refuse", "request_correction",
	                                     "resume", "form",   "complete"};
	(void)st;
	/* A, read-only after forwarding: only the withdrawal of a case not yet accepted */
	assert_int_equal(
	    cases_forward_guard(&clerk_a, "forwarded", "withdraw", true, "/1/2/10/", &ei), ERR_OK);
	for (size_t i = 0; i < sizeof(writes) / sizeof(writes[0]); i++) {
		ei = (struct errinfo){0};
		assert_int_equal(
		    cases_forward_guard(&clerk_a, "forwarded", writes[i], true, "/1/2/10/", &ei),
		    ERR_FORBIDDEN);
		assert_non_null(strstr(ei.msg, "收件中心只能查看"));
	}
	assert_int_equal(
	    cases_forward_guard(&clerk_a, "accepted", "withdraw", true, "/1/2/10/", &ei),
	    ERR_FORBIDDEN);
	assert_int_equal(cases_forward_guard(&clerk_a, "correction", "form", true, "/1/2/10/", &ei),
	                 ERR_FORBIDDEN);
	/* B: its own case, except that the receiving centre withdraws a forwarded one */
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(
		    cases_forward_guard(&clerk_b, "forwarded", writes[i], false, "/1/2/10/", &ei),
		    ERR_OK);
	assert_int_equal(
	    cases_forward_guard(&clerk_b, "forwarded", "withdraw", false, "/1/2/10/", &ei),
	    ERR_FORBIDDEN);
	assert_non_null(strstr(ei.msg, "只能由收件中心撤回"));
	assert_int_equal(
	    cases_forward_guard(&clerk_b, "accepted", "withdraw", false, "/1/2/10/", &ei), ERR_OK);
	/* a scope over both (the city) may */
	assert_int_equal(
	    cases_forward_guard(&city, "forwarded", "withdraw", false, "/1/2/10/", &ei), ERR_OK);
	/* a direct case: nothing changes */
	assert_int_equal(cases_forward_guard(&clerk_a, "draft", "withdraw", false, "/1/2/10/", &ei),
	                 ERR_OK);
}

static void test_actions_offered(void **st)
{
	struct case_row sep = {
	    .state = "draft", .mode = "separated", .receiving_org_path = "/1/2/10/"};
	struct case_row dir = {
	    .state = "draft", .mode = "direct", .receiving_org_path = "/1/2/10/"};
	struct case_row fwd = {
	    .state = "forwarded", .mode = "separated", .receiving_org_path = "/1/2/10/"};
	(void)st;
	assert_true(cases_action_offered(&sep, &clerk_a, "forward"));
	assert_false(cases_action_offered(&sep, &clerk_a, "accept")); /* it forwards */
	assert_true(cases_action_offered(&dir, &clerk_a, "accept"));
	assert_false(cases_action_offered(&dir, &clerk_a, "forward"));
	/* the same rule refuses the action itself, naming the mode */
	struct errinfo ei = {0};
	assert_int_equal(cases_mode_check(&dir, "forward", &ei), ERR_BAD_STATE);
	assert_string_equal(ei.field, "mode");
	ei = (struct errinfo){0};
	assert_int_equal(cases_mode_check(&sep, "accept", &ei), ERR_BAD_STATE);
	assert_non_null(strstr(ei.msg, "转交受理中心"));
	assert_int_equal(cases_mode_check(&fwd, "accept", NULL), ERR_OK);
	assert_int_equal(cases_mode_check(&sep, "forward", NULL), ERR_OK);
	/* forwarded, seen by B */
	assert_true(cases_action_offered(&fwd, &clerk_b, "accept"));
	assert_true(cases_action_offered(&fwd, &clerk_b, "refuse"));
	assert_true(cases_action_offered(&fwd, &clerk_b, "request_correction"));
	assert_false(cases_action_offered(&fwd, &clerk_b, "withdraw"));
	assert_false(cases_action_offered(&fwd, &clerk_b, "forward"));
	assert_false(cases_action_offered(&fwd, &clerk_b, "start"));
	/* forwarded, seen by A */
	fwd.view_only = true;
	assert_true(cases_action_offered(&fwd, &clerk_a, "withdraw"));
	assert_false(cases_action_offered(&fwd, &clerk_a, "accept"));
	assert_false(cases_action_offered(&fwd, &clerk_a, "refuse"));
}

static void test_transitions(void **st)
{
	const char *to = NULL;
	(void)st;
	assert_true(cases_transition("draft", "forward", &to));
	assert_string_equal(to, "forwarded");
	assert_false(cases_transition("forwarded", "forward", NULL));
	assert_false(cases_transition("accepted", "forward", NULL));
	assert_true(cases_transition("forwarded", "accept", &to));
	assert_string_equal(to, "accepted");
	assert_false(cases_transition("forwarded", "start", NULL));
	assert_false(cases_transition("forwarded", "complete", NULL));
	assert_string_equal(cases_state_label("forwarded"), "已转交，待受理中心受理");
	assert_string_equal(cases_action_label("forward"), "转交受理中心");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_entry_table), cmocka_unit_test(test_entry_values),
	    cmocka_unit_test(test_guard),       cmocka_unit_test(test_actions_offered),
	    cmocka_unit_test(test_transitions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
