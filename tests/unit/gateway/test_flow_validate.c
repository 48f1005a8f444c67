/* test_flow_validate.c: the flow document check. A good flow passes with no problem; each
 * class of mistake, made once in a copy of it, is reported at the right path with the right
 * message (and nothing else is); hostile shapes never crash the check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/json.h"
#include "gateway/gateway_int.h"

/* Connectors: minzheng {query, submit, cancel}, bjk {case_report}. */
static int fake_lookup(void *ctx, const char *connector, const char *method)
{
	(void)ctx;
	if (!strcmp(connector, "minzheng"))
		return !strcmp(method, "query") || !strcmp(method, "submit") ||
		               !strcmp(method, "cancel")
		           ? 0
		           : 2;
	if (!strcmp(connector, "bjk"))
		return !strcmp(method, "case_report") ? 0 : 2;
	return 1;
}

static const struct gw_flow_registry reg = {.lookup = fake_lookup};

static const char *good_text =
    "{\"name\": \"minzheng.elder_allowance.submit\", \"title\": \"老年综合津贴申请提交\","
    " \"params\": {\"case_no\": {\"required\": true, \"type\": \"string\"},"
    "              \"applicant\": {\"required\": true, \"type\": \"object\"},"
    "              \"channel\": {\"type\": \"string\", \"default\": \"1\"}},"
    " \"globals\": {\"source\": \"shouli\", \"case\": \"{{params.case_no}}\"},"
    " \"on_error\": \"compensate\","
    " \"steps\": ["
    "  {\"id\": \"query\", \"connector\": \"minzheng\", \"method\": \"query\","
    "   \"request\": {\"id_number\": \"{{params.applicant.id_number}}\", \"at\": \"{{now}}\"}},"
    "  {\"id\": \"submit\", \"title\": \"提交申请\", \"connector\": \"minzheng\", \"method\": "
    "\"submit\","
    "   \"when\": {\"all\": [{\"path\": \"steps.query.response.eligible\", \"op\": \"eq\", "
    "\"value\": true},"
    "                      {\"not\": {\"path\": \"steps.query.status\", \"op\": \"in\", \"value\": "
    "[404, 410]}}]},"
    "   \"expect\": {\"path\": \"steps.submit.response.dept_case_no\", \"op\": \"exists\"},"
    "   \"expect_message\": \"部门未返回编号（{{steps.submit.response.code}}）\","
    "   \"request\": {\"case_no\": \"{{params.case_no}}\", \"who\": \"{{params.applicant}}\","
    "                \"source\": \"{{globals.source}}\", \"key\": \"{{run.idempotency_key}}\","
    "                \"name\": \"{{ steps.query.response.items.0.name }}\"},"
    "   \"compensate\": {\"connector\": \"minzheng\", \"method\": \"cancel\","
    "                   \"request\": {\"dept_case_no\": "
    "\"{{steps.submit.response.dept_case_no}}\"}}},"
    "  {\"id\": \"report\", \"connector\": \"bjk\", \"method\": \"case_report\", \"on_error\": "
    "\"continue\","
    "   \"request\": {\"case_no\": \"{{globals.case}}\", \"trace\": \"{{trace_id}}\"}}],"
    " \"result\": {\"dept_case_no\": \"{{steps.submit.response.dept_case_no}}\","
    "             \"reported\": \"{{steps.report.outcome}}\"}}";

static json_t *good(void)
{
	json_error_t je;
	json_t *v = json_loads(good_text, JSON_REJECT_DUPLICATES, &je);
	if (!v)
		fail_msg("good flow: %s (col %d)", je.text, je.column);
	return v;
}

static json_t *at(json_t *doc, const char *path)
{
	return (json_t *)gw_tpl_lookup(doc, path, strlen(path));
}

/* Validate doc; exactly one problem expected, at path, whose message contains needle. */
static void expect_one(json_t *doc, const char *path, const char *needle)
{
	json_t *pr = json_array();
	size_t n = gw_flow_validate(doc, &reg, pr);
	if (n != 1 || json_array_size(pr) != 1) {
		char *s = json_dumps(pr, JSON_INDENT(1));
		fail_msg("expected one problem at %s, got %zu: %s", path, n, s);
	}
	const char *p = json_string_value(json_object_get(json_array_get(pr, 0), "path"));
	const char *m = json_string_value(json_object_get(json_array_get(pr, 0), "message"));
	assert_string_equal(p, path);
	if (!strstr(m, needle))
		fail_msg("message \"%s\" lacks \"%s\"", m, needle);
	json_decref(pr);
	json_decref(doc);
}

static void test_good_flow_passes(void **state)
{
	(void)state;
	json_t *doc = good(), *pr = json_array();
	size_t n = gw_flow_validate(doc, &reg, pr);
	if (n) {
		char *s = json_dumps(pr, JSON_INDENT(1));
		fail_msg("good flow has problems: %s", s);
	}
	assert_int_equal(json_array_size(pr), 0);
	/* Without a registry the connector methods are not checked, the rest is. */
	assert_int_equal(gw_flow_validate(doc, NULL, pr), 0);
	json_decref(pr);
	json_decref(doc);
}

static void test_names(void **state)
{
	(void)state;
	assert_true(gw_flow_name_valid("gongan.hukou.submit"));
	assert_true(gw_flow_name_valid("test"));
	assert_true(gw_flow_name_valid("jiuye.cert_issue2"));
	assert_false(gw_flow_name_valid(""));
	assert_false(gw_flow_name_valid(NULL));
	assert_false(gw_flow_name_valid("Gongan.submit"));
	assert_false(gw_flow_name_valid("gongan..submit"));
	assert_false(gw_flow_name_valid("gongan.submit."));
	assert_false(gw_flow_name_valid(".gongan"));
	assert_false(gw_flow_name_valid("gongan.1submit"));
	assert_false(gw_flow_name_valid("gongan/submit"));
	char longname[GW_FLOW_NAME_MAX + 2];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_false(gw_flow_name_valid(longname));
	longname[GW_FLOW_NAME_MAX] = 0;
	assert_true(gw_flow_name_valid(longname));

	json_t *d = good();
	json_object_set_new(d, "name", json_string("Minzheng Submit"));
	expect_one(d, "name", "流程名称");
	d = good();
	json_object_del(d, "title");
	expect_one(d, "title", "缺少流程标题");
	d = good();
	json_object_set_new(d, "title", json_string("   "));
	expect_one(d, "title", "不能为空");
}

static void test_unknown_keys(void **state)
{
	(void)state;
	json_t *d = good();
	json_object_set_new(d, "colour", json_string("red"));
	expect_one(d, "colour", "流程不支持字段“colour”");
	d = good();
	json_object_set_new(at(d, "steps.1"), "retry", json_integer(3));
	expect_one(d, "steps[1].retry", "步骤不支持字段“retry”");
	d = good();
	json_object_set_new(at(d, "steps.1.compensate"), "when", json_object());
	expect_one(d, "steps[1].compensate.when", "回退调用不支持字段");
	d = good();
	json_object_set_new(at(d, "params.case_no"), "pattern", json_string("x"));
	expect_one(d, "params.case_no.pattern", "参数说明不支持字段");
	d = good();
	json_object_set_new(at(d, "steps.1.expect"), "severity", json_string("x"));
	expect_one(d, "steps[1].expect.severity", "条件不支持字段");
}

static void test_steps_shape(void **state)
{
	(void)state;
	json_t *d = good();
	json_object_set_new(d, "steps", json_array());
	json_object_del(d, "result"); /* it referred to the steps */
	expect_one(d, "steps", "至少要有一个步骤");
	d = good();
	json_object_set_new(at(d, "steps.2"), "id", json_string("query"));
	json_object_del(at(d, "result"), "reported"); /* it referred to the renamed step */
	expect_one(d, "steps[2].id", "与第 1 步重复");
	d = good();
	json_object_set_new(at(d, "steps.2"), "id", json_string("Report-1"));
	json_object_del(at(d, "result"), "reported");
	expect_one(d, "steps[2].id", "步骤标识“Report-1”不合法");
	d = good();
	json_object_del(at(d, "steps.2"), "id");
	json_object_del(at(d, "result"), "reported"); /* it referred to that step */
	expect_one(d, "steps[2].id", "缺少“id”");
	d = good();
	json_object_set_new(at(d, "steps.0"), "connector", json_string("shebao"));
	expect_one(d, "steps[0].connector", "接口源“shebao”不存在");
	d = good();
	json_object_set_new(at(d, "steps.0"), "method", json_string("delete_all"));
	expect_one(d, "steps[0].method", "接口源“minzheng”没有方法“delete_all”");
	d = good();
	json_object_set_new(at(d, "steps.1.compensate"), "method", json_string("undo"));
	expect_one(d, "steps[1].compensate.method", "没有方法“undo”");
	d = good();
	json_object_del(at(d, "steps.2"), "method");
	expect_one(d, "steps[2].method", "缺少“method”");
	d = good();
	json_object_set_new(at(d, "steps.2"), "on_error", json_string("retry"));
	expect_one(d, "steps[2].on_error", "stop（终止）、compensate（回退）或 continue（继续）");
	d = good();
	json_object_set_new(d, "on_error", json_string("rollback"));
	expect_one(d, "on_error", "出错处理方式");
	d = good();
	json_object_set_new(at(d, "steps.1"), "compensate", json_string("cancel"));
	expect_one(d, "steps[1].compensate", "应为对象");

	json_t *many = good();
	json_t *steps = json_object_get(many, "steps");
	for (int i = 0; i < GW_FLOW_STEPS_MAX; i++)
		json_array_append(steps, json_array_get(steps, 2));
	expect_one(many, "steps", "步骤不能超过 50 个");
}

static void test_references(void **state)
{
	(void)state;
	json_t *d = good();
	json_object_set_new(at(d, "steps.0.request"), "x", json_string("{{params.case_number}}"));
	expect_one(d, "steps[0].request.x", "未声明的参数“case_number”");
	d = good();
	json_object_set_new(at(d, "steps.0.request"), "x",
	                    json_string("编号 {{steps.submit.response.dept_case_no}}"));
	expect_one(d, "steps[0].request.x", "步骤“submit”在此处之后才执行");
	d = good();
	/* A step's own request cannot see its own response (its expect and compensate can). */
	json_object_set_new(at(d, "steps.1.request"), "self",
	                    json_string("{{steps.submit.response.x}}"));
	expect_one(d, "steps[1].request.self", "之后才执行");
	d = good();
	json_object_set_new(at(d, "steps.2.request"), "x", json_string("{{steps.approve.status}}"));
	expect_one(d, "steps[2].request.x", "不存在的步骤“approve”");
	d = good();
	json_object_set_new(at(d, "steps.2.request"), "x", json_string("{{steps.query.body}}"));
	expect_one(d, "steps[2].request.x", "response、status、outcome");
	d = good();
	json_object_set_new(at(d, "steps.2.request"), "x", json_string("{{globals.channel}}"));
	expect_one(d, "steps[2].request.x", "未定义的全局参数“channel”");
	d = good();
	json_object_set_new(at(d, "steps.2.request"), "x", json_string("{{env.HOME}}"));
	expect_one(d, "steps[2].request.x", "未知的引用“env.HOME”");
	d = good();
	json_object_set_new(at(d, "steps.2.request"), "x", json_string("{{run.secret}}"));
	expect_one(d, "steps[2].request.x", "“run”只有");
	d = good();
	json_object_set_new(at(d, "steps.2.request"), "x", json_string("{{now.year}}"));
	expect_one(d, "steps[2].request.x", "没有下级字段");
	d = good();
	json_object_set_new(at(d, "steps.2.request"), "x", json_string("开头 {{params.case_no"));
	expect_one(d, "steps[2].request.x", "缺少与“{{”配对的“}}”");
	d = good();
	json_object_set_new(at(d, "steps.2.request"), "x", json_string("{{ }}"));
	expect_one(d, "steps[2].request.x", "引用为空");
	d = good();
	json_object_set_new(at(d, "steps.2.request"), "x", json_string("{{params..case_no}}"));
	expect_one(d, "steps[2].request.x", "写法不正确");
	d = good();
	/* Globals are rendered before any step: params only. */
	json_object_set_new(at(d, "globals"), "q", json_string("{{steps.query.response}}"));
	expect_one(d, "globals.q", "步骤“query”在此处之后才执行");
	d = good();
	json_object_set_new(at(d, "globals"), "g", json_string("{{globals.source}}"));
	expect_one(d, "globals.g", "此处不能引用“globals”");
	d = good();
	json_object_set_new(at(d, "globals"), "Bad", json_integer(1));
	expect_one(d, "globals.Bad", "全局参数名“Bad”不合法");
	d = good();
	json_object_set_new(at(d, "result"), "x", json_string("{{steps.nothing.response}}"));
	expect_one(d, "result.x", "不存在的步骤“nothing”");
	d = good();
	/* Deep inside arrays and objects: the path says where. */
	json_object_set_new(at(d, "steps.2.request"), "list",
	                    json_pack("[{s:[s, s]}]", "v", "ok", "{{params.nope}}"));
	expect_one(d, "steps[2].request.list[0].v[1]", "未声明的参数“nope”");
}

static void test_conditions(void **state)
{
	(void)state;
	json_t *d = good();
	json_object_set_new(at(d, "steps.1"), "when",
	                    json_pack("{s:s, s:s, s:b}", "path", "steps.query.response.eligible",
	                              "op", "equals", "value", 1));
	expect_one(d, "steps[1].when.op", "eq、ne、exists、missing、in、gt、lt");
	d = good();
	json_object_set_new(at(d, "steps.1"), "when",
	                    json_pack("{s:s, s:s}", "path", "steps.query.status", "op", "eq"));
	expect_one(d, "steps[1].when.value", "缺少“value”");
	d = good();
	json_object_set_new(
	    at(d, "steps.1"), "when",
	    json_pack("{s:s, s:s, s:i}", "path", "steps.query.status", "op", "exists", "value", 1));
	expect_one(d, "steps[1].when.value", "不需要“value”");
	d = good();
	json_object_set_new(
	    at(d, "steps.1"), "when",
	    json_pack("{s:s, s:s, s:i}", "path", "steps.query.status", "op", "in", "value", 200));
	expect_one(d, "steps[1].when.value", "应为数组");
	d = good();
	json_object_set_new(
	    at(d, "steps.1"), "when",
	    json_pack("{s:s, s:s, s:b}", "path", "steps.query.status", "op", "gt", "value", 1));
	expect_one(d, "steps[1].when.value", "应为数字或字符串");
	d = good();
	json_object_set_new(at(d, "steps.1"), "when",
	                    json_pack("{s:s, s:s}", "path", "{{params.case_no}}", "op", "exists"));
	expect_one(d, "steps[1].when.path", "不加“{{ }}”");
	d = good();
	json_object_set_new(at(d, "steps.1"), "when",
	                    json_pack("{s:s, s:s}", "path", "now", "op", "exists"));
	expect_one(d, "steps[1].when.path", "此处不能引用“now”");
	d = good();
	json_object_set_new(
	    at(d, "steps.0"), "when",
	    json_pack("{s:s, s:s}", "path", "steps.report.outcome", "op", "exists"));
	expect_one(d, "steps[0].when.path", "之后才执行");
	d = good();
	json_object_set_new(at(d, "steps.1"), "when", json_pack("{s:[]}", "any"));
	expect_one(d, "steps[1].when.any", "1 到 20 个条件");
	d = good();
	json_object_set_new(at(d, "steps.1"), "when",
	                    json_pack("{s:[{s:s}], s:[]}", "all", "op", "eq", "any"));
	expect_one(d, "steps[1].when", "不能再带其他字段");
	d = good();
	json_object_set_new(
	    at(d, "steps.1"), "when",
	    json_pack("{s:[{s:s, s:s}]}", "any", "path", "params.case_no", "op", "missing"));
	json_t *pr = json_array();
	assert_int_equal(gw_flow_validate(d, &reg, pr), 0);
	json_decref(pr);
	json_decref(d);
	d = good();
	json_object_set_new(at(d, "steps.1"), "expect_message", json_integer(3));
	expect_one(d, "steps[1].expect_message", "应为文字");
	d = good();
	json_object_set_new(at(d, "steps.1"), "expect_message",
	                    json_string("{{steps.report.response.x}}"));
	expect_one(d, "steps[1].expect_message", "之后才执行");
	d = good();
	json_object_set_new(at(d, "steps.0"), "expect_message", json_string("x"));
	expect_one(d, "steps[0].expect_message", "没有“expect”条件时");
	d = good();
	json_object_set_new(at(d, "steps.1"), "when", json_string("eligible == true"));
	expect_one(d, "steps[1].when", "条件应为对象");

	/* Nesting deeper than the limit. */
	json_t *deep = json_pack("{s:s, s:s}", "path", "params.case_no", "op", "exists");
	for (int i = 0; i < 10; i++)
		deep = json_pack("{s:o}", "not", deep);
	d = good();
	json_object_set_new(at(d, "steps.1"), "when", deep);
	expect_one(d, "steps[1].when.not.not.not.not.not.not.not.not.not", "嵌套超过 8 层");
}

static void test_params(void **state)
{
	(void)state;
	json_t *d = good();
	json_object_set_new(at(d, "params.case_no"), "type", json_string("text"));
	expect_one(d, "params.case_no.type", "参数类型只能是");
	d = good();
	json_object_set_new(at(d, "params.channel"), "default", json_integer(1));
	expect_one(d, "params.channel.default", "默认值与参数类型 string 不符");
	d = good();
	json_object_set_new(at(d, "params.case_no"), "required", json_string("yes"));
	expect_one(d, "params.case_no.required", "true 或 false");
	d = good();
	json_object_set_new(at(d, "params"), "CaseNo", json_object());
	expect_one(d, "params.CaseNo", "参数名“CaseNo”不合法");
	d = good();
	json_object_set_new(at(d, "params"), "note", json_true());
	expect_one(d, "params.note", "参数说明应为对象");
	d = good();
	json_object_set_new(d, "params", json_array());
	/* params gone: every reference to a parameter is now a problem too. */
	json_t *pr = json_array();
	assert_true(gw_flow_validate(d, &reg, pr) > 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(pr, 0), "path")),
	                    "params");
	json_decref(pr);
	json_decref(d);
}

static void test_hostile_shapes(void **state)
{
	(void)state;
	json_t *pr = json_array();
	json_t *shapes[] = {
	    json_null(),
	    json_integer(5),
	    json_string("flow"),
	    json_array(),
	    json_object(),
	    json_pack("{s:i, s:i, s:i, s:i, s:i}", "name", 1, "title", 2, "steps", 3, "params", 4,
	              "globals", 5),
	    json_pack("{s:s, s:s, s:[i, s, n, []]}", "name", "a.b", "title", "t", "steps", 1, "x"),
	    json_pack("{s:s, s:s, s:[{s:i, s:i, s:i, s:i, s:i, s:i, s:i}]}", "name", "a.b", "title",
	              "t", "steps", "id", 1, "connector", 2, "method", 3, "request", 4, "when", 5,
	              "expect", 6, "compensate", 7),
	};
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		json_array_clear(pr);
		assert_true(gw_flow_validate(shapes[i], &reg, pr) > 0);
		assert_true(json_array_size(pr) > 0);
		json_decref(shapes[i]);
	}
	/* The problem list is capped; the count is not. */
	json_t *d = good();
	for (int i = 0; i < 300; i++) {
		char k[16];
		snprintf(k, sizeof(k), "extra%d", i);
		json_object_set_new(d, k, json_true());
	}
	json_array_clear(pr);
	assert_int_equal(gw_flow_validate(d, &reg, pr), 300);
	assert_int_equal(json_array_size(pr), GW_FLOW_PROBLEMS_MAX);
	json_decref(d);
	json_decref(pr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_flow_passes), cmocka_unit_test(test_names),
	    cmocka_unit_test(test_unknown_keys),     cmocka_unit_test(test_steps_shape),
	    cmocka_unit_test(test_references),       cmocka_unit_test(test_conditions),
	    cmocka_unit_test(test_params),           cmocka_unit_test(test_hostile_shapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
