/* test_decide.c: department decisions (docs/handoff.md "Decisions"): how a department's
 * status maps to a decision and the decision to the case's action and body, the poll backoff,
 * which timeline rows the 办件库 gets as a stage, and the 办理人 of the police's 人户分离登记. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cases/cases_int.h"

static void test_status_mapping(void **state)
{
	(void)state;
	static const struct {
		const char *status;
		enum cases_decision want;
	} rows[] = {
	    {"received", CASES_DECISION_PENDING},      {"processing", CASES_DECISION_PENDING},
	    {"受理", CASES_DECISION_PENDING},          {"办理中", CASES_DECISION_PENDING},
	    {"approved", CASES_DECISION_APPROVED},     {"通过", CASES_DECISION_APPROVED},
	    {"rejected", CASES_DECISION_REJECTED},     {"不通过", CASES_DECISION_REJECTED},
	    {"correction", CASES_DECISION_CORRECTION}, {"补正", CASES_DECISION_CORRECTION},
	    {"cancelled", CASES_DECISION_CANCELLED},   {"撤销", CASES_DECISION_CANCELLED},
	    {"Approved", CASES_DECISION_UNKNOWN},      {"", CASES_DECISION_UNKNOWN},
	    {"done", CASES_DECISION_UNKNOWN},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		if (cases_decision_of(rows[i].status) != rows[i].want)
			fail_msg("status %s", rows[i].status);
	}
	assert_int_equal(cases_decision_of(NULL), CASES_DECISION_UNKNOWN);
}

static void test_backoff(void **state)
{
	(void)state;
	/* soon after delivery, doubling, capped at an hour; never shrinking */
	assert_int_equal(cases_decision_backoff_ms(0), 30000);
	assert_int_equal(cases_decision_backoff_ms(1), 60000);
	assert_int_equal(cases_decision_backoff_ms(2), 120000);
	assert_int_equal(cases_decision_backoff_ms(6), 1920000);
	assert_int_equal(cases_decision_backoff_ms(7), 3600000);
	assert_int_equal(cases_decision_backoff_ms(1000), 3600000);
	for (int i = 0; i < 40; i++)
		assert_true(cases_decision_backoff_ms(i + 1) >= cases_decision_backoff_ms(i));
}

static json_t *answer(const char *text)
{
	json_error_t je;
	json_t *v = json_loads(text, 0, &je);
	assert_non_null(v);
	return v;
}

static void test_actions(void **state)
{
	(void)state;
	const char *action;
	json_t *body, *a;

	a = answer(
	    "{\"status\":\"approved\",\"decision\":\" 符合条件，准予发放 \",\"cert_no\":\"C1\"}");
	assert_int_equal(cases_decision_action(CASES_DECISION_APPROVED, a, 7, &action, &body),
	                 ERR_OK);
	assert_string_equal(action, "complete");
	assert_int_equal(json_integer_value(json_object_get(body, "version")), 7);
	assert_string_equal(json_string_value(json_object_get(body, "result")), "approved");
	assert_string_equal(json_string_value(json_object_get(body, "opinion")),
	                    "符合条件，准予发放");
	assert_string_equal(json_string_value(json_object_get(body, "cert_no")), "C1");
	json_decref(body);
	json_decref(a);

	/* no text: the default opinion; no cert */
	a = answer("{\"status\":\"rejected\",\"decision\":null}");
	assert_int_equal(cases_decision_action(CASES_DECISION_REJECTED, a, 3, &action, &body),
	                 ERR_OK);
	assert_string_equal(action, "complete");
	assert_string_equal(json_string_value(json_object_get(body, "result")), "rejected");
	assert_string_equal(json_string_value(json_object_get(body, "opinion")), "不予办理");
	assert_null(json_object_get(body, "cert_no"));
	json_decref(body);
	json_decref(a);

	/* correction: strings and objects become items; empty notes are dropped */
	a = answer(
	    "{\"status\":\"correction\",\"decision\":\"请补正\",\"items\":[\"补充户口簿首页\","
	    "{\"note\":\"租赁合同须备案\",\"material\":\"lease\"},{\"note\":\"  \"},7]}");
	assert_int_equal(cases_decision_action(CASES_DECISION_CORRECTION, a, 9, &action, &body),
	                 ERR_OK);
	assert_string_equal(action, "request_correction");
	json_t *items = json_object_get(body, "items");
	assert_int_equal(json_array_size(items), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "note")),
	                    "补充户口簿首页");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(items, 1), "material")), "lease");
	assert_string_equal(json_string_value(json_object_get(body, "note")), "请补正");
	json_decref(body);
	json_decref(a);

	/* correction without items: the decision text is the one item */
	a = answer("{\"status\":\"补正\",\"decision\":\"房屋证明不清晰\"}");
	assert_int_equal(cases_decision_action(CASES_DECISION_CORRECTION, a, 2, &action, &body),
	                 ERR_OK);
	items = json_object_get(body, "items");
	assert_int_equal(json_array_size(items), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(items, 0), "note")),
	                    "房屋证明不清晰");
	json_decref(body);

	/* a text longer than the case keeps is cut at a character boundary */
	char big[4000];
	size_t n = (size_t)snprintf(big, sizeof(big), "{\"decision\":\"");
	for (int i = 0; i < 1100; i++, n += 3)
		memcpy(big + n, "准", 3);
	snprintf(big + n, sizeof(big) - n, "\"}");
	json_decref(a);
	a = answer(big);
	assert_int_equal(cases_decision_action(CASES_DECISION_APPROVED, a, 2, &action, &body),
	                 ERR_OK);
	const char *op = json_string_value(json_object_get(body, "opinion"));
	assert_int_equal(strlen(op), 1000 * 3);
	json_decref(body);

	/* nothing to do for pending, cancelled, unknown */
	enum cases_decision none[] = {CASES_DECISION_PENDING, CASES_DECISION_CANCELLED,
	                              CASES_DECISION_UNKNOWN};
	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(cases_decision_action(none[i], a, 2, &action, &body), ERR_OK);
		assert_null(action);
		assert_null(body);
	}
	json_decref(a);
}

static void test_bjk_stages(void **state)
{
	(void)state;
	static const struct {
		const char *action, *from, *to, *want;
	} rows[] = {
	    {"start", "accepted", "in_progress", "handle"},
	    {"request_correction", "in_progress", "correction", "handle"},
	    {"request_correction", "accepted", "correction", "handle"},
	    {"request_correction", "draft", "correction", NULL},
	    {"resume", "correction", "in_progress", "handle"},
	    {"resume", "correction", "draft", NULL},
	    {"complete", "in_progress", "completed", "finish"},
	    {"withdraw", "in_progress", "withdrawn", "finish"},
	    {"withdraw", "accepted", "withdrawn", "finish"},
	    {"withdraw", "draft", "withdrawn", NULL},
	    {"accept", "draft", "accepted", NULL},
	    {"refuse", "draft", "refused", NULL},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const char *got = cases_bjk_stage_of(rows[i].action, rows[i].from, rows[i].to);
		if (rows[i].want ? !got || strcmp(got, rows[i].want) : got != NULL)
			fail_msg("%s from %s: %s", rows[i].action, rows[i].from,
			         got ? got : "NULL");
	}
}

/* 人户分离登记 (handler_rule "guardian" in the catalog): whoever registers on the person's
 * behalf is 办理人 — the guardian, else the agent — as the police require (seed row 28); the
 * catalog's rule and the 办件库's agree, so nothing is logged as a deviation. */
static void test_police_rule(void **state)
{
	(void)state;
	bool dev = true;
	assert_int_equal(cases_handler_pick("guardian", false, false, false, false, &dev),
	                 CASES_HANDLER_APPLICANT);
	assert_false(dev);
	assert_int_equal(cases_handler_pick("guardian", false, true, false, false, &dev),
	                 CASES_HANDLER_AGENT);
	assert_false(dev);
	assert_int_equal(cases_handler_pick("guardian", false, false, true, false, &dev),
	                 CASES_HANDLER_GUARDIAN);
	assert_false(dev);
	assert_int_equal(cases_handler_pick("guardian", false, true, true, false, &dev),
	                 CASES_HANDLER_GUARDIAN);
	assert_false(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_status_mapping), cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_actions),        cmocka_unit_test(test_bjk_stages),
	    cmocka_unit_test(test_police_rule),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
