/* test_search.c: the published-catalog snapshot — query normalisation, search ranking and
 * its tie-break, department filter and browse order, old-code redirects — and the document
 * helpers of versioning: content hash, code rewrite for a code change, structural diff. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "catalog/catalog_admin_int.h"
#include "crypto/crypto.h"

static json_t *parse_json(const char *s)
{
	json_error_t je;
	json_t *v = json_loads(s, JSON_DECODE_ANY, &je);
	if (!v)
		fail_msg("bad test JSON %s: %s", s, je.text);
	return v;
}

static void expect_norm(const char *in, size_t outsz, const char *want)
{
	char out[256];
	assert_true(outsz <= sizeof(out));
	catalog_search_normalize(in, out, outsz);
	if (strcmp(out, want))
		fail_msg("normalize \"%s\": got \"%s\", want \"%s\"", in, out, want);
}

static void test_normalize(void **state)
{
	(void)state;
	expect_norm("  JLK ", 256, "jlk");
	expect_norm("ＪＬＫ", 256, "jlk");                          /* full-width letters */
	expect_norm("３１０００４", 256, "310004");                 /* full-width digits */
	expect_norm("jing\u3000\u3000lao  ka", 256, "jing lao ka"); /* ideographic spaces, runs */
	expect_norm("\t敬老卡\n", 256, "敬老卡");
	expect_norm("", 256, "");
	expect_norm(NULL, 256, "");
	/* The cut never splits a character: 5 bytes hold one 3-byte character. */
	expect_norm("敬老卡", 5, "敬");
	expect_norm("abc", 3, "ab");
}

/* Department order: gongan before minzheng (as in departments.json), whatever the codes. */
static const char *DEPTS =
    "{\"departments\":["
    "{\"id\":\"gongan\",\"name\":\"上海市公安局\",\"short_name\":\"公安\"},"
    "{\"id\":\"minzheng\",\"name\":\"上海市民政局\",\"short_name\":\"民政\"}]}";

static json_t *item(const char *code, const char *dept, const char *name, const char *shortn,
                    const char *pinyin, const char *initials, const char *subname)
{
	json_t *doc =
	    json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:b,"
	              " s:[{s:s, s:s}]}",
	              "basic_code", code, "impl_code", "", "name", name, "short_name", shortn,
	              "pinyin", pinyin, "initials", initials, "department", dept, "case_type", 2,
	              "vwin_mode", "dual", "citywide", 1, "sub_items", "code", "", "name", subname);
	char sub[32];
	snprintf(sub, sizeof(sub), "%s-01", code);
	json_object_set_new(json_array_get(json_object_get(doc, "sub_items"), 0), "code",
	                    json_string(sub));
	char impl[64];
	snprintf(impl, sizeof(impl), "11310000002420391P6%s", code);
	json_object_set_new(doc, "impl_code", json_string(impl));
	static int id;
	id++;
	return json_pack("{s:o, s:i, s:i, s:i, s:s, s:i}", "doc", doc, "item_id", id, "version_id",
	                 id, "version", 1, "effective_from", "2026-01-01", "published_at", 0);
}

static struct catalog_snapshot *fixture(void)
{
	json_t *deps = parse_json(DEPTS);
	json_t *items = json_array();
	json_array_append_new(items,
	                      item("310004015000", "gongan", "敬老卡申请", "敬老卡",
	                           "jing lao ka shen qing", "jlksq", "敬老卡申请（首次申领）"));
	json_array_append_new(items, item("310004016000", "gongan", "敬老卡补办证明开具",
	                                  "敬老卡补办", "jing lao ka bu ban zheng ming kai ju",
	                                  "jlkbbzmkj", "敬老卡补办"));
	json_array_append_new(items, item("310004001000", "gongan", "居住证办理", "居住证",
	                                  "ju zhu zheng ban li", "jzzbl", "居住证新办"));
	json_array_append_new(items,
	                      item("310003001000", "minzheng", "敬老服务补贴申请", "老年补贴",
	                           "jing lao fu wu bu tie shen qing", "jlfwbtsq", "补贴新办"));
	json_array_append_new(items, item("310003002000", "minzheng", "老年综合津贴申请",
	                                  "综合津贴", "lao nian zong he jin tie shen qing",
	                                  "lnzhjtsq", "发放渠道变更"));
	json_t *redirects = parse_json("[[\"310004099000\", \"310004001000\"]]");
	struct catalog_snapshot *s = NULL;
	assert_int_equal(catalog_snapshot_build(deps, NULL, items, redirects, "2026-11-29", 7, &s),
	                 ERR_OK);
	json_decref(deps);
	json_decref(items);
	json_decref(redirects);
	assert_int_equal(s->nitems, 5);
	assert_int_equal(s->nsub, 5);
	assert_int_equal(s->generation, 7);
	return s;
}

/* The codes of the hits for q, comma-separated, and the total. */
static void expect_search(const struct catalog_snapshot *s, const char *q, const char *dept,
                          size_t max, const char *want, size_t want_total)
{
	struct catalog_hit hits[16];
	size_t total = 0;
	size_t n = catalog_search(s, q, dept, hits, max, &total);
	char got[512] = "";
	size_t o = 0;
	for (size_t i = 0; i < n; i++)
		o += (size_t)snprintf(got + o, sizeof(got) - o, "%s%s", i ? "," : "",
		                      hits[i].e->code);
	if (strcmp(got, want) || total != want_total)
		fail_msg("search \"%s\": got %s (%zu), want %s (%zu)", q ? q : "(null)", got, total,
		         want, want_total);
}

static void test_ranking(void **state)
{
	(void)state;
	struct catalog_snapshot *s = fixture();
	/* initials prefix, ties by the length of the name */
	expect_search(s, "jlk", NULL, 16, "310004015000,310004016000", 2);
	expect_search(s, "ＪＬＫ", NULL, 16, "310004015000,310004016000", 2);
	/* exact sub-item code beats everything; a code fragment is only a substring match */
	expect_search(s, "310004001000-01", NULL, 16, "310004001000", 1);
	expect_search(s, "310004015000", NULL, 16, "310004015000", 1);
	expect_search(s, "11310000002420391p6310004001000", NULL, 16, "310004001000", 1);
	/* short-name prefix (老年补贴) beats a name prefix (老年综合津贴申请, as long) */
	expect_search(s, "老年", NULL, 16, "310003001000,310003002000", 2);
	/* name prefix beats pinyin; pinyin without spaces; pinyin with spaces */
	expect_search(s, "jinglaoka", NULL, 16, "310004015000,310004016000", 2);
	expect_search(s, "jing lao ka", NULL, 16, "310004015000,310004016000", 2);
	/* substring of a sub-item name */
	expect_search(s, "渠道", NULL, 16, "310003002000", 1);
	/* initials prefix (jl…) ranks above a pinyin prefix of another item (jing…)? both
	 * are initials here: jlksq, jlkbbzmkj, jlfwbtsq — shortest names first */
	expect_search(s, "jl", NULL, 16, "310004015000,310003001000,310004016000", 3);
	/* a limit keeps the best and still counts every match */
	expect_search(s, "jl", NULL, 1, "310004015000", 3);
	expect_search(s, "nothing-like-this", NULL, 16, "", 0);
	/* department filter and browsing (no query): department order, then code */
	expect_search(s, "jl", "minzheng", 16, "310003001000", 1);
	expect_search(s, "", NULL, 16,
	              "310004001000,310004015000,310004016000,310003001000,310003002000", 5);
	expect_search(s, NULL, "minzheng", 16, "310003001000,310003002000", 2);
	catalog_snapshot_unref(s);
}

static void test_lookup_and_redirect(void **state)
{
	(void)state;
	struct catalog_snapshot *s = fixture();
	const char *from = NULL;
	const struct catalog_entry *e = catalog_snapshot_resolve(s, "310004015000", &from);
	assert_non_null(e);
	assert_null(from);
	assert_string_equal(e->name, "敬老卡申请");
	assert_string_equal(e->department_name, "上海市公安局");
	assert_non_null(catalog_entry_sub_item(e, "310004015000-01"));
	assert_null(catalog_entry_sub_item(e, "310004015000-02"));
	e = catalog_snapshot_resolve(s, "310004099000", &from);
	assert_non_null(e);
	assert_string_equal(from, "310004099000");
	assert_string_equal(e->code, "310004001000");
	assert_null(catalog_snapshot_resolve(s, "310004098000", &from));
	assert_null(catalog_snapshot_find(s, "310004099000")); /* old codes only via resolve */
	/* a reference survives the snapshot's owner letting go */
	catalog_snapshot_ref(s);
	catalog_snapshot_unref(s);
	assert_string_equal(s->items[0].code, "310003001000");
	catalog_snapshot_unref(s);
}

static void test_hash_and_recode(void **state)
{
	(void)state;
	char h1[65], h2[65], h3[65];
	json_t *a = parse_json("{\"a\":1,\"b\":[1,2],\"c\":{\"x\":\"敬\",\"y\":null}}");
	json_t *b = parse_json("{\"c\":{\"y\":null,\"x\":\"敬\"},\"b\":[1,2],\"a\":1}");
	json_t *c = parse_json("{\"a\":1,\"b\":[2,1],\"c\":{\"x\":\"敬\",\"y\":null}}");
	assert_int_equal(catalog_doc_hash(a, h1), ERR_OK);
	assert_int_equal(catalog_doc_hash(b, h2), ERR_OK);
	assert_int_equal(catalog_doc_hash(c, h3), ERR_OK);
	assert_int_equal(strlen(h1), 64);
	assert_string_equal(h1, h2);     /* key order is formatting */
	assert_string_not_equal(h1, h3); /* array order is content */
	json_decref(a);
	json_decref(b);
	json_decref(c);

	json_t *doc = parse_json("{\"basic_code\":\"310004015000\","
	                         "\"impl_code\":\"11310000002420391P6310004015000\","
	                         "\"sub_items\":[{\"code\":\"310004015000-01\"},"
	                         "{\"code\":\"310004015000-02\"},{\"code\":\"999999999999-01\"}]}");
	catalog_doc_recode(doc, "310004015000", "310004020000");
	char *got = json_dumps(doc, JSON_COMPACT);
	assert_string_equal(got, "{\"basic_code\":\"310004020000\","
	                         "\"impl_code\":\"11310000002420391P6310004020000\","
	                         "\"sub_items\":[{\"code\":\"310004020000-01\"},"
	                         "{\"code\":\"310004020000-02\"},{\"code\":\"999999999999-01\"}]}");
	free(got);
	json_decref(doc);
	assert_true(catalog_basic_code_ok("310004015000"));
	assert_false(catalog_basic_code_ok("31000401500"));
	assert_false(catalog_basic_code_ok("31000401500a"));
	assert_true(catalog_sub_code_ok("310004015000-01"));
	assert_false(catalog_sub_code_ok("310004015000-1"));
	assert_false(catalog_sub_code_ok("310004015000_01"));
	assert_true(catalog_date_ok("2024-02-29"));
	assert_false(catalog_date_ok("2026-02-29"));
	char today[11];
	catalog_today(today);
	assert_true(catalog_date_ok(today));
}

static void expect_diff(const char *from, const char *to, const char *want)
{
	json_t *a = parse_json(from), *b = parse_json(to);
	json_t *d = catalog_doc_diff(a, b);
	assert_non_null(d);
	char *got = json_dumps(d, JSON_COMPACT);
	if (strcmp(got, want))
		fail_msg("diff:\n got  %s\n want %s", got, want);
	free(got);
	json_decref(a);
	json_decref(b);
	json_decref(d);
}

static void test_diff(void **state)
{
	(void)state;
	expect_diff("{\"a\":1}", "{\"a\":1}", "[]");
	expect_diff("{\"a\":1,\"b\":2}", "{\"a\":3,\"c\":4}",
	            "[{\"op\":\"change\",\"path\":\"a\",\"from\":1,\"to\":3},"
	            "{\"op\":\"remove\",\"path\":\"b\",\"from\":2},"
	            "{\"op\":\"add\",\"path\":\"c\",\"to\":4}]");
	/* objects with an id are matched by id, not by position */
	expect_diff("{\"f\":[{\"id\":\"a\",\"l\":\"甲\"},{\"id\":\"b\",\"l\":\"乙\"}]}",
	            "{\"f\":[{\"id\":\"n\",\"l\":\"新\"},{\"id\":\"a\",\"l\":\"甲\"},"
	            "{\"id\":\"b\",\"l\":\"丙\"}]}",
	            "[{\"op\":\"change\",\"path\":\"f[2].l\",\"from\":\"乙\",\"to\":\"丙\"},"
	            "{\"op\":\"add\",\"path\":\"f[0]\",\"to\":{\"id\":\"n\",\"l\":\"新\"}}]");
	/* ... or by code; a removed one is named by its old index */
	expect_diff("{\"s\":[{\"code\":\"x-01\"},{\"code\":\"x-02\",\"n\":1}]}",
	            "{\"s\":[{\"code\":\"x-02\",\"n\":1}]}",
	            "[{\"op\":\"remove\",\"path\":\"s[0]\",\"from\":{\"code\":\"x-01\"}}]");
	/* plain arrays by index; a type change is one change */
	expect_diff("{\"c\":[1,2,3],\"t\":\"1\"}", "{\"c\":[1,5],\"t\":1}",
	            "[{\"op\":\"change\",\"path\":\"c[1]\",\"from\":2,\"to\":5},"
	            "{\"op\":\"remove\",\"path\":\"c[2]\",\"from\":3},"
	            "{\"op\":\"change\",\"path\":\"t\",\"from\":\"1\",\"to\":1}]");
	expect_diff("{\"a\":{\"b\":{\"c\":[{\"id\":\"z\",\"v\":null}]}}}",
	            "{\"a\":{\"b\":{\"c\":[{\"id\":\"z\",\"v\":false}]}}}",
	            "[{\"op\":\"change\",\"path\":\"a.b.c[0].v\",\"from\":null,\"to\":false}]");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_normalize),
	    cmocka_unit_test(test_ranking),
	    cmocka_unit_test(test_lookup_and_redirect),
	    cmocka_unit_test(test_hash_and_recode),
	    cmocka_unit_test(test_diff),
	};
	if (crypto_init())
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
