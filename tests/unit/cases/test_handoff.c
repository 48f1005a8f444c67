/* test_handoff.c: the 办理人 rule of the 办件库 (spec 6.0) for every handler_rule of the
 * catalog, with and without agent, guardian and helper, 残联 and other items; the parties as
 * the submit flows take them; the delivery state a case shows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cases/cases_int.h"

#define A CASES_HANDLER_APPLICANT
#define G CASES_HANDLER_GUARDIAN
#define T CASES_HANDLER_AGENT

/* One row per combination: rule, 残联, agent, guardian, helper → 办理人, does the catalog's
 * rule on its own disagree with the 办件库. */
static const struct {
	const char *rule;
	bool canlian, agent, guardian, helper;
	enum cases_handler_role want;
	bool deviates;
} rows[] = {
    /* applicant: the resident comes in person; an agent or guardian on the record still
     * makes them 办理人 (the 办件库 refuses the applicant then) */
    {"applicant", false, false, false, false, A, false},
    {"applicant", false, true, false, false, T, true},
    {"applicant", false, false, true, false, G, true},
    {"applicant", false, true, true, false, G, true},
    {"applicant", true, false, false, true, A, false},
    {"applicant", false, false, false, true, A, false},
    /* agent: the agent when there is one */
    {"agent", false, false, false, false, A, false},
    {"agent", false, true, false, false, T, false},
    {"agent", false, false, true, false, G, true},
    {"agent", false, true, true, false, G, true},
    {"agent", true, true, false, false, T, false},
    {"agent", true, true, false, true, A, true},
    /* guardian: guardian, else agent, else applicant */
    {"guardian", false, false, false, false, A, false},
    {"guardian", false, false, true, false, G, false},
    {"guardian", false, true, false, false, T, false},
    {"guardian", false, true, true, false, G, false},
    {"guardian", true, false, true, false, G, false},
    /* a 残联 item with a guardian and a helper: the disabled person */
    {"guardian", true, false, true, true, A, true},
    /* disabled_helper on 残联: the helper makes the applicant 办理人, never the helper */
    {"disabled_helper", true, false, false, false, A, false},
    {"disabled_helper", true, false, false, true, A, false},
    {"disabled_helper", true, false, true, true, A, false},
    {"disabled_helper", true, true, true, true, A, false},
    {"disabled_helper", true, false, true, false, G, false},
    {"disabled_helper", true, true, false, false, T, false},
    /* disabled_helper outside 残联 (a catalog warning): the helper counts for nothing */
    {"disabled_helper", false, false, false, true, A, false},
    {"disabled_helper", false, false, true, true, G, false},
    {"disabled_helper", false, true, false, true, T, false},
    /* no rule, or one the catalog does not know: the general rule */
    {NULL, false, true, true, false, G, false},
    {NULL, false, true, false, false, T, false},
    {"unknown", false, false, false, false, A, false},
    {NULL, true, true, false, true, A, false},
};

static void test_handler_rules(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		bool dev = !rows[i].deviates;
		enum cases_handler_role got =
		    cases_handler_pick(rows[i].rule, rows[i].canlian, rows[i].agent,
		                       rows[i].guardian, rows[i].helper, &dev);
		if (got != rows[i].want || dev != rows[i].deviates)
			fail_msg("row %zu (%s canlian=%d agent=%d guardian=%d helper=%d): got %s "
			         "deviates=%d, want %s deviates=%d",
			         i, rows[i].rule ? rows[i].rule : "NULL", rows[i].canlian,
			         rows[i].agent, rows[i].guardian, rows[i].helper,
			         cases_handler_role_name(got), dev,
			         cases_handler_role_name(rows[i].want), rows[i].deviates);
	}
	/* deviates may be NULL */
	assert_int_equal(cases_handler_pick("agent", false, true, false, false, NULL), T);
	assert_string_equal(cases_handler_role_name(A), "applicant");
	assert_string_equal(cases_handler_role_name(G), "guardian");
	assert_string_equal(cases_handler_role_name(T), "agent");
}

static json_t *form_of(const char *text)
{
	json_error_t je;
	json_t *f = json_loads(text, 0, &je);
	assert_non_null(f);
	return f;
}

static void test_persons(void **state)
{
	(void)state;
	json_t *form = form_of(
	    "{\"applicant\":{\"id_number\":{\"type\":\"111\",\"number\":\"11010519491231002X\"},"
	    "\"name\":\"张三\",\"phone\":\"13800000000\"},"
	    "\"agent\":{\"present\":false,\"name\":\"李四\"},"
	    "\"guardian\":{\"present\":true,\"id_number\":\"110105194912310029\",\"name\":\"王五\"}"
	    ","
	    "\"helper\":{\"present\":true,\"name\":\"赵六\",\"staff_no\":\"ZC0012\"}}");
	json_t *ap = cases_handoff_person(form, "applicant", NULL);
	assert_non_null(ap);
	assert_string_equal(json_string_value(json_object_get(ap, "id_type")), "111");
	assert_string_equal(json_string_value(json_object_get(ap, "id_number")),
	                    "11010519491231002X");
	assert_string_equal(json_string_value(json_object_get(ap, "name")), "张三");
	assert_string_equal(json_string_value(json_object_get(ap, "phone")), "13800000000");
	/* present: false wins over a leftover name */
	assert_null(cases_handoff_person(form, "agent", NULL));
	json_t *gu = cases_handoff_person(form, "guardian", NULL);
	assert_non_null(gu);
	assert_string_equal(json_string_value(json_object_get(gu, "id_number")),
	                    "110105194912310029");
	assert_string_equal(json_string_value(json_object_get(gu, "id_type")), "111");
	assert_true(json_is_null(json_object_get(gu, "phone")));
	json_t *he = cases_handoff_person(form, "helper", NULL);
	assert_non_null(he);
	assert_string_equal(json_string_value(json_object_get(he, "id_type")), "staff_no");
	assert_string_equal(json_string_value(json_object_get(he, "id_number")), "ZC0012");
	/* a form without the applicant's document: the resident's record completes it */
	json_t *bare = form_of("{\"applicant\":{\"phone\":\"13900000000\"}}");
	json_t *profile = form_of("{\"id_type\":\"PR2023\",\"id_number\":\"932682198501010017\","
	                          "\"name\":\"安娜\",\"phone\":\"13700000000\"}");
	json_t *ap2 = cases_handoff_person(bare, "applicant", profile);
	assert_non_null(ap2);
	assert_string_equal(json_string_value(json_object_get(ap2, "id_type")), "PR2023");
	assert_string_equal(json_string_value(json_object_get(ap2, "name")), "安娜");
	assert_string_equal(json_string_value(json_object_get(ap2, "phone")), "13900000000");
	assert_null(cases_handoff_person(bare, "applicant", NULL));
	assert_null(cases_handoff_person(bare, "guardian", NULL));
	json_decref(ap);
	json_decref(gu);
	json_decref(he);
	json_decref(ap2);
	json_decref(bare);
	json_decref(profile);
	json_decref(form);
}

static void test_delivery_states(void **state)
{
	(void)state;
	assert_null(cases_delivery_state("draft", NULL, 0, false));
	assert_string_equal(cases_delivery_state("accepted", "pending", 0, false), "pending");
	assert_string_equal(cases_delivery_state("accepted", "pending", 3, false), "failed");
	assert_string_equal(cases_delivery_state("accepted", "delivering", 1, false), "delivering");
	assert_string_equal(cases_delivery_state("accepted", "dead", 30, false), "dead");
	assert_string_equal(cases_delivery_state("withdrawn", "done", 1, false), "cancelled");
	/* recorded wins over whatever the event says (its done mark may still be missing) */
	assert_string_equal(cases_delivery_state("in_progress", "delivering", 1, true),
	                    "delivered");
	/* a purged event leaves the record */
	assert_string_equal(cases_delivery_state("completed", NULL, 0, true), "delivered");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_handler_rules),
	    cmocka_unit_test(test_persons),
	    cmocka_unit_test(test_delivery_states),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
