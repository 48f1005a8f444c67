/* test_expr.c: the catalog expression language — values of every operator and function,
 * run-time type errors (NULL, read as false), the step bound, references, and every error
 * path of the parser with its zh-CN message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "catalog/catalog.h"
#include "core/json.h"
#include "core/log.h"

static json_t *parse_json(const char *s)
{
	json_error_t je;
	json_t *v = json_loads(s, JSON_DECODE_ANY, &je);
	if (!v)
		fail_msg("bad test JSON %s: %s", s, je.text);
	return v;
}

static const char *DATA = "{\"a\":{\"b\":5,\"c\":\"\",\"s\":\"敬老卡\"},"
                          "\"m\":[{\"v\":1},{\"v\":2.5},{\"v\":null},{}],"
                          "\"id\":{\"type\":\"111\",\"number\":\"11010519491231002X\"},"
                          "\"flag\":true,\"list\":[\"x\",\"y\"],\"obj\":{\"k\":{\"z\":\"\"}}}";

/* Evaluate src on DATA with today "2024-06-01" (and row/rows when given) and compare the
 * compact JSON of the result with want ("ERROR" for NULL). */
static void check_eval(const char *src, const char *row, const char *rows, const char *want)
{
	struct arena a;
	arena_init(&a, 0);
	struct catalog_expr *e;
	const char *msg = NULL;
	if (catalog_expr_parse(src, &a, &e, &msg) != ERR_OK)
		fail_msg("parse %s: %s", src, msg);
	json_t *data = parse_json(DATA);
	json_t *r = row ? parse_json(row) : NULL, *rs = rows ? parse_json(rows) : NULL;
	json_t *v = catalog_expr_eval_rows(e, data, r, rs, "2024-06-01");
	char *got = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : strdup("ERROR");
	if (strcmp(got, want))
		fail_msg("%s: got %s, want %s", src, got, want);
	free(got);
	json_decref(v);
	json_decref(data);
	json_decref(r);
	json_decref(rs);
	arena_release(&a);
}

static void test_literals_and_arithmetic(void **state)
{
	(void)state;
	check_eval("1 + 2 * 3", NULL, NULL, "7");
	check_eval("(1 + 2) * 3", NULL, NULL, "9");
	check_eval("7 / 2", NULL, NULL, "3.5");
	check_eval("10 - 4 - 3", NULL, NULL, "3");
	check_eval("-3 + 1", NULL, NULL, "-2");
	check_eval("- -2", NULL, NULL, "2");
	check_eval("1.5 * 2", NULL, NULL, "3.0");
	check_eval("\"a\" + \"b\"", NULL, NULL, "\"ab\"");
	check_eval("\"\\u656c\\\"\\n\"", NULL, NULL, "\"敬\\\"\\n\"");
	check_eval("\"\\ud83d\\ude00\"", NULL, NULL, "\"😀\"");
	check_eval("[1, \"x\", null, true]", NULL, NULL, "[1,\"x\",null,true]");
	check_eval("[]", NULL, NULL, "[]");
	check_eval("null", NULL, NULL, "null");
	check_eval("9223372036854775807 + 1", NULL, NULL, "9.2233720368547758e18");
}

static void test_comparison_logic_in(void **state)
{
	(void)state;
	check_eval("1 == 1.0", NULL, NULL, "true");
	check_eval("1 != 2", NULL, NULL, "true");
	check_eval("\"1\" == 1", NULL, NULL, "false");
	check_eval("null == a.missing", NULL, NULL, "true");
	check_eval("a.b >= 5 && a.b < 6", NULL, NULL, "true");
	check_eval("a.b > 5 || a.b <= 4", NULL, NULL, "false");
	check_eval("\"2024-01-02\" > \"2024-01-01\"", NULL, NULL, "true");
	check_eval("!true", NULL, NULL, "false");
	check_eval("!a.c", NULL, NULL, "true");
	check_eval("\"x\" in list", NULL, NULL, "true");
	check_eval("\"z\" in [\"a\", \"b\"]", NULL, NULL, "false");
	check_eval("2 in [1, 2.0]", NULL, NULL, "true");
	check_eval("\"老卡\" in a.s", NULL, NULL, "true");
	check_eval("\"x\" in a.missing", NULL, NULL, "false");
	/* && and || short-circuit: the right side's error is never reached */
	check_eval("false && 1 / 0 > 1", NULL, NULL, "false");
	check_eval("true || 1 / 0 > 1", NULL, NULL, "true");
	check_eval("a.b && \"yes\"", NULL, NULL, "true");
	check_eval("flag", NULL, NULL, "true");
	check_eval("a", NULL, NULL, "{\"b\":5,\"c\":\"\",\"s\":\"敬老卡\"}");
}

static void test_functions(void **state)
{
	(void)state;
	check_eval("today()", NULL, NULL, "\"2024-06-01\"");
	check_eval("age(\"11010519491231002X\")", NULL, NULL, "74");
	check_eval("age(id)", NULL, NULL, "74");
	check_eval("age(\"1959-06-01\")", NULL, NULL, "65");
	check_eval("age(\"1959-06-02\")", NULL, NULL, "64");
	check_eval("age(\"932682198501010017\")", NULL, NULL, "39");
	check_eval("age(\"KAZ110090123105\")", NULL, NULL, "33");
	check_eval("id_sex(\"11010519491231002X\")", NULL, NULL, "\"2\"");
	check_eval("id_sex(\"932682198501010017\")", NULL, NULL, "\"1\"");
	check_eval("id_sex(id)", NULL, NULL, "\"2\"");
	check_eval("len(a.s)", NULL, NULL, "3");
	check_eval("len(list)", NULL, NULL, "2");
	check_eval("len(a.missing)", NULL, NULL, "0");
	check_eval("empty(a.c)", NULL, NULL, "true");
	check_eval("empty(obj)", NULL, NULL, "true");
	check_eval("empty(a)", NULL, NULL, "false");
	check_eval("empty(0)", NULL, NULL, "false");
	check_eval("count(m)", NULL, NULL, "4");
	check_eval("count(nothing)", NULL, NULL, "0");
	check_eval("sum(m, \"v\")", NULL, NULL, "3.5");
	check_eval("sum(nothing, \"v\")", NULL, NULL, "0");
	check_eval("days_between(\"2024-01-01\", \"2024-03-01\")", NULL, NULL, "60");
	check_eval("days_between(\"2024-03-01\", \"2024-01-01\")", NULL, NULL, "-60");
	check_eval("matches(\"200030\", \"^[0-9]{6}$\")", NULL, NULL, "true");
	check_eval("matches(\"20003\", \"^[0-9]{6}$\")", NULL, NULL, "false");
	check_eval("matches(a.missing, \"^x$\")", NULL, NULL, "false");
}

static void test_rows(void **state)
{
	(void)state;
	const char *rows = "[{\"x\":1},{\"x\":4}]";
	check_eval("row.x * 2", "{\"x\":4}", rows, "8");
	check_eval("row.x / sum(rows, \"x\")", "{\"x\":4}", rows, "0.80000000000000004");
	check_eval("count(rows)", "{\"x\":1}", rows, "2");
	check_eval("row.missing == null", "{\"x\":1}", rows, "true");
	check_eval("row", "{\"x\":1}", rows, "{\"x\":1}");
	/* outside a row, row and rows are empty */
	check_eval("row.x", NULL, NULL, "null");
	check_eval("count(rows)", NULL, NULL, "0");
}

static void test_type_errors_are_null(void **state)
{
	(void)state;
	check_eval("1 + \"a\"", NULL, NULL, "ERROR");
	check_eval("1 / 0", NULL, NULL, "ERROR");
	check_eval("\"a\" < 1", NULL, NULL, "ERROR");
	check_eval("a.missing < 1", NULL, NULL, "ERROR");
	check_eval("-\"x\"", NULL, NULL, "ERROR");
	check_eval("age(\"abc\")", NULL, NULL, "ERROR");
	check_eval("age(\"2030-01-01\")", NULL, NULL, "ERROR");
	check_eval("count(1)", NULL, NULL, "ERROR");
	check_eval("len(3)", NULL, NULL, "ERROR");
	check_eval("sum(list, \"v\")", NULL, NULL, "0");
	check_eval("sum(a, \"v\")", NULL, NULL, "ERROR");
	check_eval("days_between(\"2024-02-30\", \"2024-03-01\")", NULL, NULL, "ERROR");
	check_eval("matches(5, \"5\")", NULL, NULL, "ERROR");
	check_eval("1 in 5", NULL, NULL, "ERROR");
	/* a real overflowing to infinity */
	char huge[700];
	size_t n = 0;
	huge[n++] = '1';
	for (int i = 0; i < 300; i++)
		huge[n++] = '0';
	n += (size_t)snprintf(huge + n, sizeof(huge) - n, " * ");
	huge[n++] = '1';
	for (int i = 0; i < 300; i++)
		huge[n++] = '0';
	huge[n] = 0;
	check_eval(huge, NULL, NULL, "ERROR");
	assert_false(catalog_expr_truthy(NULL));
}

static void test_truthy(void **state)
{
	(void)state;
	const char *f[] = {"null", "false", "0", "0.0", "\"\"", "[]", "{}"};
	const char *t[] = {"true", "1", "-0.5", "\"0\"", "[0]", "{\"a\":null}"};
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		json_t *v = parse_json(f[i]);
		assert_false(catalog_expr_truthy(v));
		json_decref(v);
	}
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		json_t *v = parse_json(t[i]);
		assert_true(catalog_expr_truthy(v));
		json_decref(v);
	}
}

static void test_step_bound(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	struct catalog_expr *e;
	const char *msg;
	assert_int_equal(catalog_expr_parse("sum(big, \"v\")", &a, &e, &msg), ERR_OK);
	json_t *big = json_array();
	for (int i = 0; i < CATALOG_EXPR_MAX_STEPS + 10; i++)
		json_array_append_new(big, json_pack("{s:i}", "v", 1));
	json_t *data = json_pack("{s:o}", "big", big);
	assert_null(catalog_expr_eval(e, data, NULL, "2024-06-01"));
	/* the same with fewer rows succeeds */
	json_t *small = json_pack("{s:[{s:i},{s:i}]}", "big", "v", 1, "v", 2);
	json_t *v = catalog_expr_eval(e, small, NULL, "2024-06-01");
	assert_int_equal(json_integer_value(v), 3);
	json_decref(v);
	json_decref(small);
	json_decref(data);
	arena_release(&a);
}

static void test_type_error_logged_once(void **state)
{
	(void)state;
	FILE *f = tmpfile();
	assert_non_null(f);
	log_setup(LOG_WARN, f);
	struct arena a;
	arena_init(&a, 0);
	struct catalog_expr *e;
	const char *msg;
	assert_int_equal(catalog_expr_parse("a.b + a.s > 1", &a, &e, &msg), ERR_OK);
	json_t *data = parse_json(DATA);
	for (int i = 0; i < 3; i++)
		assert_null(catalog_expr_eval(e, data, NULL, "2024-06-01"));
	/* an error from an empty field is the normal state of a form: not logged */
	struct catalog_expr *e2;
	assert_int_equal(catalog_expr_parse("a.missing > 1", &a, &e2, &msg), ERR_OK);
	assert_null(catalog_expr_eval(e2, data, NULL, "2024-06-01"));
	log_setup(LOG_ERROR, stderr);
	char out[8192];
	rewind(f);
	size_t n = fread(out, 1, sizeof(out) - 1, f);
	out[n] = 0;
	fclose(f);
	const char *first = strstr(out, "catalog.expr_type_error");
	assert_non_null(first);
	assert_non_null(strstr(out, "a.b + a.s > 1"));
	assert_null(strstr(first + 1, "catalog.expr_type_error"));
	json_decref(data);
	arena_release(&a);
}

struct refs {
	char names[16][64];
	int n;
};

static void collect_ref(void *ctx, const char *ref)
{
	struct refs *r = ctx;
	if (r->n < 16)
		snprintf(r->names[r->n++], 64, "%s", ref);
}

static bool has_ref(const struct refs *r, const char *name)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->names[i], name))
			return true;
	return false;
}

static void test_refs(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	struct catalog_expr *e;
	const char *msg;
	assert_int_equal(catalog_expr_parse("a.b + row.c > sum(m, \"v\") && age(applicant.id) > 0 "
	                                    "&& \"a.b.c\" == \"x\"",
	                                    &a, &e, &msg),
	                 ERR_OK);
	struct refs r = {0};
	catalog_expr_refs(e, collect_ref, &r);
	assert_int_equal(r.n, 5);
	assert_true(has_ref(&r, "a.b"));
	assert_true(has_ref(&r, "row.c"));
	assert_true(has_ref(&r, "m"));
	assert_true(has_ref(&r, "m.v"));
	assert_true(has_ref(&r, "applicant.id"));
	assert_true(catalog_expr_uses_row(e));
	assert_int_equal(catalog_expr_parse("count(rows) > 1", &a, &e, &msg), ERR_OK);
	assert_true(catalog_expr_uses_row(e));
	assert_int_equal(catalog_expr_parse("a.b > 1", &a, &e, &msg), ERR_OK);
	assert_false(catalog_expr_uses_row(e));
	arena_release(&a);
}

/* Each parser error: the source and a piece of the message (with the position). */
static void check_parse_error(const char *src, const char *want)
{
	struct arena a;
	arena_init(&a, 0);
	struct catalog_expr *e = (struct catalog_expr *)1;
	const char *msg = NULL;
	enum err rc = catalog_expr_parse(src, &a, &e, &msg);
	if (rc != ERR_INVALID)
		fail_msg("%s: parsed, expected error %s", src, want);
	assert_null(e);
	if (!msg || !strstr(msg, want))
		fail_msg("%s: message \"%s\" lacks \"%s\"", src, msg ? msg : "(null)", want);
	arena_release(&a);
}

static void test_parse_errors(void **state)
{
	(void)state;
	check_parse_error("", "表达式为空");
	check_parse_error("   \t", "表达式为空");
	check_parse_error(NULL, "表达式为空");
	check_parse_error("a \xff", "非法的 UTF-8");
	check_parse_error("a = 1", "第 3 个字符处：比较是否相等请用“==”");
	check_parse_error("a & b", "第 3 个字符处：“并且”请用“&&”");
	check_parse_error("a | b", "第 3 个字符处：“或者”请用“||”");
	check_parse_error("(a", "第 1 个字符处：左括号“(”缺少对应的右括号“)”");
	check_parse_error("(a b", "第 4 个字符处：缺少右括号“)”");
	check_parse_error("[1, 2", "第 1 个字符处：左方括号“[”缺少对应的右方括号“]”");
	check_parse_error("[1 2]", "第 4 个字符处：列表的各项之间应以逗号分隔");
	check_parse_error("\"abc", "第 1 个字符处：字符串缺少结尾的引号");
	check_parse_error("\"a\\q\"", "第 3 个字符处：字符串中的转义“\\q”不正确");
	check_parse_error("\"\\u12\"", "“\\u”后应为 4 位十六进制数");
	check_parse_error("\"\\u0000\"", "“\\u”转义不是合法字符");
	check_parse_error("\"\\udc00\"", "“\\u”转义不是合法字符");
	check_parse_error("1.2.3", "第 1 个字符处：数字“1.2.3”格式不正确");
	check_parse_error("12abc", "数字“12abc”格式不正确");
	check_parse_error("1e5", "数字“1e5”格式不正确");
	check_parse_error("1.", "数字“1.”格式不正确");
	{
		char big[420];
		memset(big, '9', 400);
		big[400] = 0;
		check_parse_error(big, "超出范围");
	}
	check_parse_error("a ==", "第 5 个字符处：表达式不完整，缺少运算对象");
	check_parse_error("1 +", "表达式不完整");
	check_parse_error("== a", "第 1 个字符处：“=”前缺少运算对象");
	check_parse_error(")", "“)”前缺少运算对象");
	check_parse_error("in [1]", "“in”前缺少运算对象");
	check_parse_error("foo(1)", "第 1 个字符处：不认识的函数“foo”");
	check_parse_error("a.b(1)", "不认识的函数“a.b”");
	check_parse_error("age(1, 2)", "函数“age”需要 1 个参数，实际为 2 个");
	check_parse_error("today(1)", "函数“today”需要 0 个参数，实际为 1 个");
	check_parse_error("age(", "表达式不完整");
	check_parse_error("age(1", "函数“age”的参数缺少右括号“)”");
	check_parse_error("age(1 2)", "函数“age”的参数之间应以逗号分隔");
	check_parse_error("sum(m, v)", "函数“sum”的第二个参数应为表格内的字段名字符串");
	check_parse_error("sum(m, \"Bad Name\")", "函数“sum”的第二个参数");
	check_parse_error("matches(x, y)", "函数“matches”的第二个参数应为正则表达式字符串");
	check_parse_error("matches(x, \"[a\")", "正则表达式“[a”不正确：方括号“[]”不配对");
	check_parse_error("matches(x, \"\\\\d+\")", "请写成“[0-9]”");
	check_parse_error("matches(x, \"(a)\\\\1\")", "不支持反向引用");
	check_parse_error("a < b < c", "比较运算不能连写");
	check_parse_error("a == b != c", "比较运算不能连写");
	check_parse_error("Abc > 1", "字段名“Abc”格式不正确");
	check_parse_error("a..b", "字段名“a..b”格式不正确");
	check_parse_error("a. > 1", "字段名“a.”格式不正确");
	check_parse_error("rows.x > 1", "“rows”表示表格的全部行");
	check_parse_error("a b", "第 3 个字符处：多余的内容“b”");
	check_parse_error("1 2 3 4 5 6 7 8 9 10 11 12", "多余的内容“2 3 4 5 6 …”");
	check_parse_error("'x'", "字符串请用双引号");
	check_parse_error("#", "第 1 个字符处：不认识的字符“#”");
	check_parse_error("a > 中", "第 5 个字符处：不认识的字符“中”");

	char deep[300];
	size_t n = 0;
	for (int i = 0; i < 70; i++)
		deep[n++] = '(';
	deep[n++] = '1';
	for (int i = 0; i < 70; i++)
		deep[n++] = ')';
	deep[n] = 0;
	check_parse_error(deep, "表达式嵌套过深（最多 64 层）");
	n = 0;
	for (int i = 0; i < 70; i++)
		deep[n++] = '!';
	deep[n++] = 'a';
	deep[n] = 0;
	check_parse_error(deep, "表达式嵌套过深");
	char chain[1200];
	n = 0;
	for (int i = 0; i < 300; i++) {
		chain[n++] = '1';
		chain[n++] = '+';
	}
	chain[n++] = '1';
	chain[n] = 0;
	check_parse_error(chain, "表达式过于复杂");
	char *longsrc = malloc(CATALOG_EXPR_MAX_LEN + 2);
	memset(longsrc, 'a', CATALOG_EXPR_MAX_LEN + 1);
	longsrc[CATALOG_EXPR_MAX_LEN + 1] = 0;
	check_parse_error(longsrc, "表达式过长");
	free(longsrc);
	char list[1400];
	n = 0;
	list[n++] = '[';
	for (int i = 0; i < 300; i++) {
		list[n++] = '1';
		list[n++] = ',';
	}
	list[n++] = '1';
	list[n++] = ']';
	list[n] = 0;
	check_parse_error(list, "列表过长");
}

static void test_limits_accepted(void **state)
{
	(void)state;
	/* 64 levels of parentheses (the parser counts the whole expression as one) parse */
	char deep[200];
	size_t n = 0;
	for (int i = 0; i < 63; i++)
		deep[n++] = '(';
	deep[n++] = '1';
	for (int i = 0; i < 63; i++)
		deep[n++] = ')';
	deep[n] = 0;
	check_eval(deep, NULL, NULL, "1");
	char *src = malloc(CATALOG_EXPR_MAX_LEN + 1);
	memset(src, ' ', CATALOG_EXPR_MAX_LEN);
	src[0] = '1';
	src[CATALOG_EXPR_MAX_LEN] = 0;
	check_eval(src, NULL, NULL, "1");
	free(src);
}

int main(void)
{
	log_setup(LOG_ERROR, stderr);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_literals_and_arithmetic),
	    cmocka_unit_test(test_type_error_logged_once),
	    cmocka_unit_test(test_comparison_logic_in),
	    cmocka_unit_test(test_functions),
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_type_errors_are_null),
	    cmocka_unit_test(test_truthy),
	    cmocka_unit_test(test_step_bound),
	    cmocka_unit_test(test_refs),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_limits_accepted),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
