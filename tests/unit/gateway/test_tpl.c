/* test_tpl.c: the template language (whole-value placeholders, text interpolation, missing
 * paths, built-ins, escaping for XML and URLs) and the masking of call-log payloads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gateway/gateway_int.h"

static json_t *ctx;

static int setup(void **state)
{
	(void)state;
	ctx = json_loads("{\"params\":{\"case_no\":\"SL2026001\",\"n\":3,\"ok\":true,"
	                 "\"applicant\":{\"id_number\":\"11010519491231002X\",\"name\":\"张三\"},"
	                 "\"tags\":[\"a\",\"b\"]},"
	                 "\"globals\":{\"channel\":\"1\"},"
	                 "\"steps\":{\"query\":{\"status\":\"ok\",\"response\":{\"eligible\":true,"
	                 "\"items\":[{\"code\":\"X1\"},{\"code\":\"X2\"}]}}},"
	                 "\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\"}",
	                 0, NULL);
	return ctx ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	json_decref(ctx);
	return 0;
}

static void render_eq(const char *tpl, const char *want)
{
	json_t *t = json_loads(tpl, JSON_DECODE_ANY, NULL);
	json_t *w = json_loads(want, JSON_DECODE_ANY, NULL);
	assert_non_null(t);
	assert_non_null(w);
	json_t *got = gateway_tpl_render(t, ctx);
	assert_non_null(got);
	if (!json_equal(got, w)) {
		char *s = json_dumps(got, JSON_ENCODE_ANY);
		fail_msg("template %s rendered %s, want %s", tpl, s, want);
	}
	json_decref(t);
	json_decref(w);
	json_decref(got);
}

static void test_whole_value_keeps_type(void **state)
{
	(void)state;
	render_eq("\"{{params.applicant}}\"",
	          "{\"id_number\":\"11010519491231002X\",\"name\":\"张三\"}");
	render_eq("\"{{params.n}}\"", "3");
	render_eq("\"{{ params.ok }}\"", "true");
	render_eq("\"{{steps.query.response.eligible}}\"", "true");
	render_eq("\"{{params.tags}}\"", "[\"a\",\"b\"]");
	render_eq("\"{{steps.query.response.items.1.code}}\"", "\"X2\"");
}

static void test_text_interpolation(void **state)
{
	(void)state;
	render_eq("\"case {{params.case_no}} via {{globals.channel}}\"",
	          "\"case SL2026001 via 1\"");
	render_eq("\"n={{params.n}}, ok={{params.ok}}\"", "\"n=3, ok=true\"");
	render_eq("\"tags={{params.tags}}\"", "\"tags=[\\\"a\\\",\\\"b\\\"]\"");
	/* An unclosed placeholder stays as text. */
	render_eq("\"open {{params.case_no\"", "\"open {{params.case_no\"");
}

static void test_missing_paths(void **state)
{
	(void)state;
	render_eq("\"{{params.nope}}\"", "null");
	render_eq("\"x{{params.nope}}y\"", "\"xy\"");
	render_eq("\"{{steps.query.response.items.9.code}}\"", "null");
	render_eq("\"{{params.case_no.deeper}}\"", "null");
	render_eq("\"{{params.tags.x}}\"", "null");
}

static void test_structures_and_builtins(void **state)
{
	(void)state;
	render_eq("{\"a\":[\"{{params.case_no}}\",1,null,{\"b\":\"{{globals.channel}}\"}]}",
	          "{\"a\":[\"SL2026001\",1,null,{\"b\":\"1\"}]}");
	render_eq("\"{{trace_id}}\"", "\"0af7651916cd43dd8448eb211c80319c\"");

	json_t *t = json_string("{{uuid}}");
	json_t *u1 = gateway_tpl_render(t, ctx), *u2 = gateway_tpl_render(t, ctx);
	assert_int_equal(strlen(json_string_value(u1)), 36);
	assert_int_equal(json_string_value(u1)[14], '4');
	assert_string_not_equal(json_string_value(u1), json_string_value(u2));
	json_decref(u1);
	json_decref(u2);
	json_decref(t);

	t = json_string("{{now}}");
	json_t *now = gateway_tpl_render(t, ctx);
	assert_true(strstr(json_string_value(now), "+08:00") != NULL);
	json_decref(now);
	json_decref(t);
}

static void text_eq(const char *tpl, enum gw_escape esc, const char *want)
{
	struct buf b;
	buf_init(&b, 4096);
	json_t *c = json_loads("{\"request\":{\"v\":\"a<b>&\\\"c'\",\"p\":\"x y/z?\",\"n\":12,"
	                       "\"o\":{\"k\":\"<\"}}}",
	                       0, NULL);
	assert_int_equal(gw_tpl_text(tpl, c, esc, &b), ERR_OK);
	assert_string_equal(b.p, want);
	json_decref(c);
	buf_release(&b);
}

static void test_escaping(void **state)
{
	(void)state;
	text_eq("<x>{{request.v}}</x>", GW_ESC_XML, "<x>a&lt;b&gt;&amp;&quot;c&apos;</x>");
	text_eq("<x>{{request.o}}</x>", GW_ESC_XML, "<x>{&quot;k&quot;:&quot;&lt;&quot;}</x>");
	text_eq("/items/{{request.p}}", GW_ESC_URL, "/items/x%20y%2Fz%3F");
	text_eq("/n/{{request.n}}/{{request.missing}}", GW_ESC_URL, "/n/12/");
	text_eq("{{request.v}}", GW_ESC_NONE, "a<b>&\"c'");
}

static void test_mask_paths_and_known_keys(void **state)
{
	(void)state;
	json_t *v = json_loads(
	    "{\"applicant\":{\"id_number\":\"11010519491231002X\","
	    "\"phone\":\"13812345678\",\"name\":\"王小芳\"},"
	    "\"bank\":{\"account\":\"6222020200112233445\"},"
	    "\"members\":[{\"card\":\"A1\",\"x\":1},{\"card\":\"A2\"}],"
	    "\"password\":\"p@ss\",\"case_no\":\"SL1\",\"deep\":{\"Mobile\":13900001111}}",
	    0, NULL);
	json_t *paths = json_loads("[\"members.card\",\"case_no\",\"absent.path\"]", 0, NULL);
	json_t *m = gw_mask_json(v, paths);
	assert_non_null(m);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(m, "applicant"), "id_number")),
	    "1101**********002X");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(m, "applicant"), "phone")),
	    "138****5678");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(m, "applicant"), "name")), "王*芳");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(m, "bank"), "account")), "****3445");
	json_t *mem = json_object_get(m, "members");
	assert_string_equal(json_string_value(json_object_get(json_array_get(mem, 0), "card")),
	                    "***");
	assert_string_equal(json_string_value(json_object_get(json_array_get(mem, 1), "card")),
	                    "***");
	assert_int_equal(json_integer_value(json_object_get(json_array_get(mem, 0), "x")), 1);
	assert_string_equal(json_string_value(json_object_get(m, "password")), "***");
	assert_string_equal(json_string_value(json_object_get(m, "case_no")), "***");
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(m, "deep"), "Mobile")),
	    "139****1111");
	/* The original is untouched. */
	assert_string_equal(json_string_value(json_object_get(v, "password")), "p@ss");
	assert_null(gw_mask_json(NULL, paths));
	json_decref(m);
	json_decref(v);
	json_decref(paths);
}

static void test_json_subset(void **state)
{
	(void)state;
	json_t *req = json_loads("{\"id_number\":\"1\",\"a\":{\"b\":2,\"c\":3},\"n\":1}", 0, NULL);
	json_t *m1 = json_loads("{}", 0, NULL), *m2 = json_loads("{\"a\":{\"b\":2}}", 0, NULL);
	json_t *m3 = json_loads("{\"a\":{\"b\":3}}", 0, NULL),
	       *m4 = json_loads("{\"n\":\"1\"}", 0, NULL);
	json_t *m5 = json_loads("{\"zz\":null}", 0, NULL);
	assert_true(gw_json_subset(m1, req));
	assert_true(gw_json_subset(m2, req));
	assert_false(gw_json_subset(m3, req));
	assert_false(gw_json_subset(m4, req));
	assert_false(gw_json_subset(m5, req));
	json_decref(req);
	json_decref(m1);
	json_decref(m2);
	json_decref(m3);
	json_decref(m4);
	json_decref(m5);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_whole_value_keeps_type),
	    cmocka_unit_test(test_text_interpolation),
	    cmocka_unit_test(test_missing_paths),
	    cmocka_unit_test(test_structures_and_builtins),
	    cmocka_unit_test(test_escaping),
	    cmocka_unit_test(test_mask_paths_and_known_keys),
	    cmocka_unit_test(test_json_subset),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
