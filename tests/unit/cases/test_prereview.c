/* test_prereview.c: 预审 verdicts (cases_prereview_eval) on a hand-made sub-item — pass,
 * warn and block by severity, unknown for a rule reading a field whose department lookup
 * failed (also through a computed field, and for a `when` that is false only because of
 * the failure), skipped by `when`, by a hidden field and by a form violation, and group
 * rules run once per row (worst row named) or once for the group. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cases/cases_int.h"
#include "catalog/catalog.h"
#include "core/json.h"

#define TODAY "2024-06-01"

/* Born 1949-12-31 (74 on TODAY) and 1990-03-07 (34). */
#define OLD   "11010519491231002X"
#define YOUNG "310104199003071512"

static struct catalog_ref *ref;
static json_t *sub_item;

static json_t *jparse(const char *s)
{
	json_error_t je;
	json_t *v = json_loads(s, JSON_DECODE_ANY, &je);
	if (!v)
		fail_msg("bad test JSON: %s: %s", je.text, s);
	return v;
}

static const char *SUB_ITEM =
    "{\"code\":\"310003001000-01\",\"name\":\"测试子项\",\"id_docs\":[\"111\"],"
    "\"form\":{\"fields\":["
    "{\"id\":\"applicant.id_number\",\"label\":\"证件\",\"type\":\"id_document\","
    "\"required\":true},"
    "{\"id\":\"applicant.name\",\"label\":\"姓名\",\"type\":\"text\",\"required\":true},"
    "{\"id\":\"allowance.status\",\"label\":\"领取状态\",\"type\":\"enum\","
    "\"code_table\":\"minzheng_allowance_status\",\"prefill\":[{\"source\":\"lookup\","
    "\"flow\":\"minzheng.elder_allowance_query\",\"path\":\"status\"}]},"
    "{\"id\":\"allowance.receiving\",\"label\":\"正在领取\",\"type\":\"boolean\","
    "\"compute\":\"allowance.status == \\\"1\\\"\"},"
    "{\"id\":\"card.previous_no\",\"label\":\"原卡号\",\"type\":\"text\",\"prefill\":"
    "[{\"source\":\"lookup\",\"flow\":\"gongan.elder_card_query\",\"path\":\"card_no\"}]},"
    "{\"id\":\"agent.present\",\"label\":\"代理\",\"type\":\"boolean\"},"
    "{\"id\":\"agent.name\",\"label\":\"代理人\",\"type\":\"text\","
    "\"visible_when\":\"agent.present\"},"
    "{\"id\":\"members\",\"label\":\"家庭成员\",\"type\":\"group\",\"fields\":["
    "{\"id\":\"name\",\"label\":\"姓名\",\"type\":\"text\"},"
    "{\"id\":\"age\",\"label\":\"年龄\",\"type\":\"number\"}]}]},"
    "\"prereview\":["
    "{\"id\":\"age_65\",\"assert\":\"age(applicant.id_number) >= 65\","
    "\"field\":\"applicant.id_number\",\"severity\":\"block\",\"message\":\"须年满65周岁\"},"
    "{\"id\":\"not_receiving\",\"when\":\"!empty(allowance.status)\","
    "\"assert\":\"allowance.status != \\\"1\\\"\",\"field\":\"allowance.status\","
    "\"severity\":\"block\",\"message\":\"已在领取\"},"
    "{\"id\":\"not_receiving_computed\",\"assert\":\"allowance.receiving != true\","
    "\"field\":\"allowance.receiving\",\"severity\":\"warn\",\"message\":\"已在领取（计算）\"},"
    "{\"id\":\"no_card\",\"assert\":\"empty(card.previous_no)\",\"field\":\"card.previous_no\","
    "\"severity\":\"warn\",\"message\":\"已有敬老卡\"},"
    "{\"id\":\"agent_named\",\"assert\":\"len(agent.name) >= 2\",\"field\":\"agent.name\","
    "\"severity\":\"warn\",\"message\":\"代理人姓名过短\"},"
    "{\"id\":\"member_adult\",\"field\":\"members.age\",\"assert\":\"row.age >= 18\","
    "\"severity\":\"warn\",\"message\":\"成员应成年\"},"
    "{\"id\":\"members_few\",\"field\":\"members\",\"assert\":\"count(members) <= 3\","
    "\"severity\":\"block\",\"message\":\"成员过多\"}]}";

static int setup(void **state)
{
	(void)state;
	json_t *depts = jparse("{\"departments\":[]}");
	json_t *tables =
	    jparse("{\"minzheng_allowance_status\":{\"id\":\"minzheng_allowance_status\",\"name\":"
	           "\"状态\","
	           "\"entries\":[{\"code\":\"0\",\"name\":\"未领取\"},{\"code\":\"1\",\"name\":"
	           "\"正常领取\"}]},"
	           "\"id_doc_type\":{\"id\":\"id_doc_type\",\"name\":\"证件类型\",\"entries\":"
	           "[{\"code\":\"111\",\"name\":\"居民身份证\"}]}}");
	enum err e = catalog_ref_from_json(depts, tables, &ref);
	json_decref(depts);
	json_decref(tables);
	sub_item = jparse(SUB_ITEM);
	return e ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	catalog_ref_destroy(ref);
	json_decref(sub_item);
	return 0;
}

/* Run the pre-review on form (and prefill errors, may be NULL); *blocked gets the flag. */
static json_t *run(const char *form, const char *errors, bool *blocked)
{
	struct case_catalog cc = {.item = NULL, .sub_item = sub_item, .ref = ref, .snap = NULL};
	struct case_row row = {0};
	json_t *verdicts = NULL;
	row.form = jparse(form);
	row.sources = json_object();
	row.prefill_errors = jparse(errors ? errors : "[]");
	assert_int_equal(cases_prereview_eval(&cc, &row, TODAY, &verdicts, blocked), ERR_OK);
	json_decref(row.form);
	json_decref(row.sources);
	json_decref(row.prefill_errors);
	assert_non_null(verdicts);
	assert_int_equal(json_array_size(verdicts), 7); /* one per rule, in order */
	return verdicts;
}

static const json_t *verdict_of(const json_t *list, const char *id)
{
	size_t i;
	json_t *v;
	json_array_foreach (list, i, v) {
		if (!strcmp(json_get_str(v, "id"), id))
			return v;
	}
	fail_msg("no verdict for %s", id);
	return NULL;
}

#define assert_verdict(list, id, want)                                                             \
	assert_string_equal(json_get_str(verdict_of((list), (id)), "verdict"), (want))

static const char *form_with(const char *id, const char *status, const char *card,
                             const char *extra)
{
	static char buf[2048];
	snprintf(buf, sizeof(buf),
	         "{\"applicant\":{\"id_number\":{\"type\":\"111\",\"number\":\"%s\"},"
	         "\"name\":\"王小芳\"}%s%s%s%s%s%s%s}",
	         id, status ? ",\"allowance\":{\"status\":\"" : "", status ? status : "",
	         status ? "\"}" : "", card ? ",\"card\":{\"previous_no\":\"" : "", card ? card : "",
	         card ? "\"}" : "", extra ? extra : "");
	return buf;
}

static void test_all_pass(void **state)
{
	(void)state;
	bool blocked = true;
	json_t *v = run(form_with(OLD, "0", NULL,
	                          ",\"members\":[{\"name\":\"甲\",\"age\":40},{\"name\":\"乙\","
	                          "\"age\":18}]"),
	                NULL, &blocked);
	assert_false(blocked);
	assert_verdict(v, "age_65", "pass");
	assert_verdict(v, "not_receiving", "pass");
	assert_verdict(v, "not_receiving_computed", "pass");
	assert_verdict(v, "no_card", "pass");
	assert_verdict(v, "member_adult", "pass");
	assert_verdict(v, "members_few", "pass");
	const json_t *age = verdict_of(v, "age_65");
	assert_string_equal(json_get_str(age, "severity"), "block");
	assert_string_equal(json_get_str(age, "field"), "applicant.id_number");
	assert_string_equal(json_get_str(age, "message"), "须年满65周岁");
	json_decref(v);
}

static void test_warn_and_block(void **state)
{
	(void)state;
	bool blocked = false;
	json_t *v = run(form_with(YOUNG, "1", "JL0001", NULL), NULL, &blocked);
	assert_true(blocked);
	assert_verdict(v, "age_65", "block");
	assert_verdict(v, "not_receiving", "block");
	assert_verdict(v, "not_receiving_computed", "warn");
	assert_verdict(v, "no_card", "warn");
	assert_string_equal(json_get_str(verdict_of(v, "no_card"), "message"), "已有敬老卡");
	json_decref(v);
	/* warnings alone do not block */
	v = run(form_with(OLD, "0", "JL0001", NULL), NULL, &blocked);
	assert_false(blocked);
	assert_verdict(v, "no_card", "warn");
	json_decref(v);
}

static const char *MINZHENG_DOWN =
    "[{\"source\":\"lookup\",\"flow\":\"minzheng.elder_allowance_query\",\"label\":"
    "\"民政业务中台\",\"reason\":\"unavailable\",\"fields\":[\"allowance.status\"],"
    "\"message\":\"民政业务中台暂不可用：外部系统响应超时\"},"
    "{\"source\":\"lookup\",\"flow\":\"gongan.elder_card_query\",\"label\":\"公安人口库\","
    "\"reason\":\"value\",\"fields\":[\"card.previous_no\"],\"message\":\"x\"},"
    "{\"source\":\"resident\",\"label\":\"居民档案\",\"reason\":\"value\","
    "\"fields\":[\"applicant.id_number\"],\"message\":\"y\"}]";

static void test_unknown_from_failed_lookup(void **state)
{
	(void)state;
	bool blocked = true;
	/* status empty because 民政 was down: the guarded rule is not "skipped" but unknown,
	 * and so is the rule on the computed field made from it; the guard-less rule on the card
	 * number would pass on the empty field, but it could not be verified either */
	json_t *v = run(form_with(OLD, NULL, NULL, NULL), MINZHENG_DOWN, &blocked);
	assert_false(blocked);
	assert_verdict(v, "not_receiving", "unknown");
	assert_string_equal(json_get_str(verdict_of(v, "not_receiving"), "message"),
	                    "无法核验：民政业务中台暂不可用");
	assert_verdict(v, "not_receiving_computed", "unknown");
	assert_verdict(v, "no_card", "unknown");
	assert_string_equal(json_get_str(verdict_of(v, "no_card"), "message"),
	                    "无法核验：公安人口库返回的数据无法识别");
	/* a failed local source (resident) does not make a rule unknown */
	assert_verdict(v, "age_65", "pass");
	json_decref(v);
	/* a value typed in by the clerk meanwhile still is not verified */
	v = run(form_with(YOUNG, "1", NULL, NULL), MINZHENG_DOWN, &blocked);
	assert_verdict(v, "not_receiving", "unknown");
	assert_verdict(v, "age_65", "block");
	assert_true(blocked);
	json_decref(v);
}

static void test_skipped(void **state)
{
	(void)state;
	bool blocked = true;
	/* `when` false (no status, nothing failed); agent.name hidden (no agent); no rows */
	json_t *v =
	    run(form_with(OLD, NULL, NULL, ",\"agent\":{\"present\":false}"), NULL, &blocked);
	assert_false(blocked);
	assert_verdict(v, "not_receiving", "skipped");
	assert_verdict(v, "agent_named", "skipped");
	assert_verdict(v, "member_adult", "skipped");
	json_decref(v);
	/* shown: the same rule runs */
	v = run(form_with(OLD, NULL, NULL, ",\"agent\":{\"present\":true,\"name\":\"王\"}"), NULL,
	        &blocked);
	assert_verdict(v, "agent_named", "warn");
	json_decref(v);
	/* a field with a form violation: the rule is skipped, not blocked on a bad number */
	v = run(form_with("110105194912310021", "0", NULL, NULL), NULL, &blocked);
	assert_verdict(v, "age_65", "skipped");
	assert_false(blocked);
	json_decref(v);
	/* a problem of a sibling field (applicant.name missing) does not skip a rule of
	 * applicant.id_number: the rule still blocks a resident who is too young */
	v = run("{\"applicant\":{\"id_number\":{\"type\":\"111\",\"number\":\"" YOUNG "\"}}}", NULL,
	        &blocked);
	assert_verdict(v, "age_65", "block");
	assert_true(blocked);
	json_decref(v);
}

static void test_group_rules(void **state)
{
	(void)state;
	bool blocked = false;
	json_t *v = run(form_with(OLD, "0", NULL,
	                          ",\"members\":[{\"name\":\"甲\",\"age\":40},{\"name\":\"乙\","
	                          "\"age\":12},{\"name\":\"丙\",\"age\":9},{\"name\":\"丁\","
	                          "\"age\":50}]"),
	                NULL, &blocked);
	const json_t *adult = verdict_of(v, "member_adult");
	assert_string_equal(json_get_str(adult, "verdict"), "warn");
	assert_string_equal(json_get_str(adult, "field"), "members[1].age");
	const json_t *rows = json_object_get(adult, "rows");
	assert_int_equal(json_array_size(rows), 2);
	assert_int_equal(json_integer_value(json_array_get(rows, 0)), 1);
	assert_int_equal(json_integer_value(json_array_get(rows, 1)), 2);
	/* a group rule without row runs once for the group */
	const json_t *few = verdict_of(v, "members_few");
	assert_string_equal(json_get_str(few, "verdict"), "block");
	assert_string_equal(json_get_str(few, "field"), "members");
	assert_true(blocked);
	json_decref(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all_pass),
	    cmocka_unit_test(test_warn_and_block),
	    cmocka_unit_test(test_unknown_from_failed_lookup),
	    cmocka_unit_test(test_skipped),
	    cmocka_unit_test(test_group_rules),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
