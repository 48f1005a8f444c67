/* test_check.c: the catalog checker. The good fixture catalog passes with no problem at
 * all; each class of mistake, made one at a time in a copy of a good item, is reported with
 * the right path and message (and nothing else is); the bad fixture directory shows the
 * whole-catalog problems (collisions, file names, folders, tables, code changes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "catalog/catalog.h"
#include "core/json.h"

static char good_dir[1024], bad_dir[1024];
static struct catalog_ref *ref;
static json_t *jlk;  /* items/gongan/310004015000.json: 敬老卡 */
static json_t *meal; /* items/minzheng/310003002000.json: 助餐补贴, with a group */

static json_t *load(const char *dir, const char *rel)
{
	char path[2048];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	json_error_t je;
	json_t *v = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!v)
		fail_msg("%s: %s", path, je.text);
	return v;
}

static int setup(void **state)
{
	(void)state;
	const char *src = getenv("SHOULI_SOURCE_DIR");
	snprintf(good_dir, sizeof(good_dir), "%s/tests/unit/catalog/fixtures/good",
	         src ? src : ".");
	snprintf(bad_dir, sizeof(bad_dir), "%s/tests/unit/catalog/fixtures/bad", src ? src : ".");
	struct arena a;
	struct catalog_problems pr;
	arena_init(&a, 0);
	catalog_problems_init(&pr, &a);
	enum err e = catalog_ref_load_dir(good_dir, &ref, &pr);
	catalog_problems_print(&pr, stderr);
	catalog_problems_release(&pr);
	arena_release(&a);
	if (e)
		return -1;
	jlk = load(good_dir, "items/gongan/310004015000.json");
	meal = load(good_dir, "items/minzheng/310003002000.json");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	catalog_ref_destroy(ref);
	json_decref(jlk);
	json_decref(meal);
	return 0;
}

/* Navigate "a.b[2].c" in root; returns the parent container and the last step (key, or
 * index when *key is NULL). */
static json_t *walk(json_t *root, const char *path, char *key, size_t keysz, long *idx)
{
	json_t *cur = root;
	const char *p = path;
	for (;;) {
		char seg[128];
		size_t n = strcspn(p, ".[");
		memcpy(seg, p, n);
		seg[n] = 0;
		p += n;
		long sub = -1;
		json_t *next = n ? json_object_get(cur, seg) : cur;
		if (*p == '[') {
			sub = strtol(p + 1, (char **)&p, 10);
			p++; /* ] */
			if (!*p) {
				snprintf(key, keysz, "%s", "");
				*idx = sub;
				return next;
			}
			next = json_array_get(next, (size_t)sub);
		} else if (!*p) {
			snprintf(key, keysz, "%s", seg);
			*idx = -1;
			return cur;
		}
		if (*p == '.')
			p++;
		cur = next;
		if (!cur)
			fail_msg("no %s in the fixture", path);
	}
}

/* Set path to the JSON text value (NULL: delete; "+" prefix on the value: append to the
 * array at path). */
static void mutate(json_t *root, const char *path, const char *value)
{
	char key[128];
	long idx;
	json_t *parent = walk(root, path, key, sizeof(key), &idx);
	if (!parent)
		fail_msg("no parent for %s", path);
	json_t *v = NULL;
	bool append = value && value[0] == '+';
	if (value) {
		json_error_t je;
		v = json_loads(append ? value + 1 : value, JSON_DECODE_ANY, &je);
		if (!v)
			fail_msg("bad JSON %s: %s", value, je.text);
	}
	if (append) {
		json_t *arr =
		    idx >= 0 ? json_array_get(parent, (size_t)idx) : json_object_get(parent, key);
		assert_true(json_is_array(arr));
		json_array_append_new(arr, v);
	} else if (idx >= 0) {
		if (v)
			json_array_set_new(parent, (size_t)idx, v);
		else
			json_array_remove(parent, (size_t)idx);
	} else if (v) {
		json_object_set_new(parent, key, v);
	} else {
		json_object_del(parent, key);
	}
}

struct want {
	const char *path, *msg;
	bool warning;
};

/* Check a mutated copy of item; the problems must be exactly the wanted ones (any order;
 * message matched as a substring). */
static void expect(const json_t *item, const char *const *muts, const struct want *w, size_t nw)
{
	json_t *copy = json_deep_copy(item);
	for (size_t i = 0; muts[i]; i += 2)
		mutate(copy, muts[i], muts[i + 1]);
	struct arena a;
	struct catalog_problems pr;
	arena_init(&a, 0);
	catalog_problems_init(&pr, &a);
	catalog_item_check(ref, copy, "x.json", &pr);
	bool ok = pr.n == nw;
	for (size_t i = 0; i < nw && ok; i++) {
		bool found = false;
		for (size_t j = 0; j < pr.n && !found; j++)
			found = !strcmp(pr.v[j].path, w[i].path) &&
			        strstr(pr.v[j].message, w[i].msg) &&
			        pr.v[j].warning == w[i].warning && !strcmp(pr.v[j].file, "x.json");
		ok = found;
	}
	if (!ok) {
		fprintf(stderr, "after mutating %s, got:\n", muts[0] ? muts[0] : "(nothing)");
		catalog_problems_print(&pr, stderr);
		fprintf(stderr, "wanted:\n");
		for (size_t i = 0; i < nw; i++)
			fprintf(stderr, "  %s%s: %s\n", w[i].warning ? "warning: " : "", w[i].path,
			        w[i].msg);
		fail();
	}
	size_t errors = 0;
	for (size_t i = 0; i < nw; i++)
		errors += !w[i].warning;
	assert_int_equal(pr.errors, errors);
	catalog_problems_release(&pr);
	arena_release(&a);
	json_decref(copy);
}

#define MUTS(...) ((const char *const[]){__VA_ARGS__, NULL, NULL})
#define WANT(...)                                                                                  \
	((const struct want[]){__VA_ARGS__}),                                                      \
	    sizeof((const struct want[]){__VA_ARGS__}) / sizeof(struct want)

#define F0 "sub_items[0].form.fields"
#define S0 "sub_items[0]"
#define AF "sub_items[0].application_form"

static void test_good_items_have_no_problem(void **state)
{
	(void)state;
	const char *const none[] = {NULL, NULL};
	expect(jlk, none, NULL, 0);
	expect(meal, none, NULL, 0);
}

static void test_unknown_keys(void **state)
{
	(void)state;
	expect(jlk, MUTS("requird", "true"), WANT({"requird", "不认识的键“requird”", false}));
	expect(jlk, MUTS(F0 "[0].lable", "\"x\""),
	       WANT({F0 "[0].lable", "不认识的键“lable”（是否应为“label”？）", false}));
	expect(jlk, MUTS(S0 ".materials[0].sorces", "[]"),
	       WANT({S0 ".materials[0].sorces", "是否应为“sources”", false}));
	expect(jlk, MUTS(S0 ".signatures.multisign", "true"),
	       WANT({S0 ".signatures.multisign", "是否应为“multi_sign”", false}));
	expect(jlk, MUTS(S0 ".application_form.fields", "[]"),
	       WANT({S0 ".application_form.fields", "不认识的键“fields”", false}));
	/* a key of another field type */
	expect(jlk, MUTS(F0 "[0].min", "1"),
	       WANT({F0 "[0].min", "“min”不适用于文本类型的字段", false}));
	expect(jlk, MUTS(F0 "[15].code_table", "\"gender\""),
	       WANT({F0 "[15].code_table", "“code_table”不适用于数字类型的字段", false}));
}

static void test_required_keys_and_types(void **state)
{
	(void)state;
	expect(jlk, MUTS("name", NULL), WANT({"", "缺少必填的键“name”", false}));
	expect(jlk, MUTS("case_type", "\"2\""), WANT({"case_type", "“case_type”应为整数", false}));
	expect(jlk, MUTS("citywide", "1"), WANT({"citywide", "“citywide”应为布尔值", false}));
	expect(jlk, MUTS("short_name", "\"  \""),
	       WANT({"short_name", "“short_name”不能为空", false}));
	expect(jlk, MUTS(S0 ".submit_flow", NULL), WANT({S0, "缺少必填的键“submit_flow”", false}));
	expect(jlk, MUTS(F0 "[0].type", NULL), WANT({F0 "[0]", "缺少必填的键“type”", false}));
	expect(jlk, MUTS(F0 "[0].type", "\"string\""),
	       WANT({F0 "[0].type", "字段类型“string”不存在", false}));
	expect(jlk, MUTS("sub_items", "[]"), WANT({"sub_items", "至少需要一个子项", false}));
	expect(jlk, MUTS(S0, "\"x\""), WANT({S0, "子项应为 JSON 对象", false}));

	/* not an object at all */
	struct arena a;
	struct catalog_problems pr;
	arena_init(&a, 0);
	catalog_problems_init(&pr, &a);
	json_t *arr = json_array();
	catalog_item_check(ref, arr, "y.json", &pr);
	catalog_item_check(ref, NULL, "z.json", &pr);
	assert_int_equal(pr.errors, 2);
	assert_string_equal(pr.v[0].message, "事项文件的内容应为 JSON 对象");
	assert_string_equal(pr.v[1].file, "z.json");
	json_decref(arr);
	catalog_problems_release(&pr);
	arena_release(&a);
}

static void test_codes(void **state)
{
	(void)state;
	/* impl_code: a wrong check character of the credit code (and so not the department's) */
	expect(jlk, MUTS("impl_code", "\"11310000002420391X6310004015000\""),
	       WANT({"impl_code", "校验位错误，应为“P”", false},
	            {"impl_code", "应为部门“gongan”的统一社会信用代码 11310000002420391P", false}));
	expect(jlk, MUTS("impl_code", "\"11310000002420391P5310004015000\""),
	       WANT({"impl_code", "实施编码第 19 位应为行使层级 6", false}));
	expect(jlk, MUTS("impl_code", "\"11310000002420391P6310004016000\""),
	       WANT({"impl_code", "实施编码后 12 位应为基本编码 310004015000", false}));
	expect(jlk, MUTS("impl_code", "\"11310000002420391P631000401500\""),
	       WANT({"impl_code", "实施编码应为 31 位", false}));
	expect(jlk, MUTS("impl_code", "\"11310000002420391p6310004015000\""),
	       WANT({"impl_code", "不超过 50 位的数字或大写字母", false}));
	/* basic_code: the department number and layout */
	expect(jlk,
	       MUTS("basic_code", "\"310005015000\"", "impl_code",
	            "\"11310000002420391P6310005015000\"", S0 ".code", "\"310005015000-01\""),
	       WANT({"basic_code", "基本编码应以“310004”开头", false}));
	expect(jlk,
	       MUTS("basic_code", "\"310004015001\"", "impl_code",
	            "\"11310000002420391P6310004015001\"", S0 ".code", "\"310004015001-01\""),
	       WANT({"basic_code", "加 3 位事项序号（001 起）加“000”", false}));
	expect(jlk, MUTS("basic_code", "\"31000401500\""),
	       WANT({"basic_code", "基本编码应为 12 位数字或大写字母", false},
	            {"impl_code", "实施编码后 12 位应为基本编码 31000401500", false}));
	/* sub-item code = basic_code + "-NN" */
	expect(jlk, MUTS(S0 ".code", "\"310004016000-01\""),
	       WANT({S0 ".code", "子项编码应为“310004015000-NN”", false}));
	expect(jlk, MUTS(S0 ".code", "\"310004015000-02\""),
	       WANT({S0 ".code", "子项编码序号通常按顺序编为 01", true}));
	expect(jlk, MUTS("department", "\"police\""),
	       WANT({"department", "部门“police”不在 departments.json 中", false}));
	expect(jlk, MUTS("item_type", "\"11\""), WANT({"item_type", "不在 GB/T 39046 中", false}));
}

static void test_item_attributes(void **state)
{
	(void)state;
	expect(jlk, MUTS("promised_days", NULL),
	       WANT({"", "承诺件（case_type 2）缺少承诺办结时限“promised_days”", false}));
	expect(jlk, MUTS("case_type", "1"),
	       WANT({"promised_days", "即办件（case_type 1）不需要承诺办结时限", true}));
	expect(jlk, MUTS("case_type", "3"), WANT({"case_type", "办件类型应为 1", false}));
	expect(jlk, MUTS("promised_days", "0"), WANT({"promised_days", "1 到 365", false}));
	expect(jlk, MUTS("exercise_level", "7"),
	       WANT({"exercise_level", "行使层级应为 1", false},
	            {"impl_code", "实施编码第 19 位应为行使层级 7", false}));
	expect(jlk, MUTS("channels", "[1, 5]"),
	       WANT({"channels[1]", "办理形式应为 1 窗口", false}));
	expect(jlk, MUTS("channels", "[1, 1]"), WANT({"channels[1]", "办理形式 1 重复", false}));
	expect(jlk, MUTS("vwin_mode", "\"remote\""),
	       WANT({"vwin_mode", "original、virtual 或 dual", false}));
	expect(jlk, MUTS("citywide", "false"),
	       WANT({"separated", "收受分离是全市通办的一种方式", true}));
	expect(jlk, MUTS("bundles", "[\"Yang Lao\"]"), WANT({"bundles[0]", "“一件事”名称", false}));
	expect(jlk, MUTS("fees.amount", "3"), WANT({"fees.amount", "不认识的键“amount”", false}));
	expect(jlk, MUTS("consult.faqs[0].a", NULL),
	       WANT({"consult.faqs[0]", "缺少必填的键“a”", false}));
	expect(jlk, MUTS("legal_basis", "[]"), WANT({"legal_basis", "没有列出设定依据", true}));
	expect(jlk, MUTS("initials", "\"jlk\""),
	       WANT({"initials", "首字母“jlk”与拼音不一致，应为“jlksq”", false}));
	expect(jlk, MUTS("pinyin", "\"Jing lao ka shen qing\""),
	       WANT({"pinyin", "拼音应为小写字母音节", false}));
	expect(jlk, MUTS("pinyin", "\"jing lao ka shen\"", "initials", "\"jlks\""),
	       WANT({"pinyin", "拼音有 4 个音节，名称有 5 个汉字", true}));
}

static void test_references(void **state)
{
	(void)state;
	/* broken reference */
	expect(jlk, MUTS(F0 "[9].visible_when", "\"agent.presnt\""),
	       WANT({F0 "[9].visible_when", "表达式引用了不存在的字段“agent.presnt”", false}));
	/* a bad expression */
	expect(jlk, MUTS(F0 "[10].required_when", "\"agent.present = true\""),
	       WANT({F0 "[10].required_when", "第 15 个字符处：比较是否相等请用“==”", false}));
	expect(jlk, MUTS(F0 "[10].required_when", "true"),
	       WANT({F0 "[10].required_when", "“required_when”应为字符串", false}));
	/* rule naming a missing field, and reading one */
	expect(jlk, MUTS(S0 ".form.rules[0].field", "\"applicant.agee\""),
	       WANT({S0 ".form.rules[0].field", "规则所属的字段“applicant.agee”不存在", false}));
	expect(jlk, MUTS(S0 ".form.rules[0].assert", "\"applicant.agee >= 65\""),
	       WANT({S0 ".form.rules[0].assert", "不存在的字段“applicant.agee”", false}));
	/* members of compound values and namespaces resolve; unknown members do not */
	expect(jlk,
	       MUTS(S0 ".form.rules[0].assert",
	            "\"!empty(applicant) && applicant.address.district != null\""),
	       NULL, 0);
	expect(jlk, MUTS(S0 ".form.rules[0].assert", "\"applicant.address.zip != null\""),
	       WANT({S0 ".form.rules[0].assert", "不存在的字段“applicant.address.zip”", false}));
	/* a literal compared with an enum field must be a code of its table */
	expect(jlk, MUTS(F0 "[13].visible_when", "\"payment_channel == \\\"bnak\\\"\""),
	       WANT({F0 "[13].visible_when",
	             "表达式把“payment_channel”与“bnak”比较，但“bnak”不在代码表“payment_channel”中",
	             false}));
	expect(jlk,
	       MUTS(F0 "[13].visible_when", "\"payment_channel in [\\\"bank\\\", \\\"cash\\\"]\""),
	       WANT({F0 "[13].visible_when", "“cash”不在代码表“payment_channel”中", false}));
	expect(jlk, MUTS(F0 "[13].visible_when", "\"\\\"ZZ\\\" != applicant.id_doc.type\""),
	       WANT({F0 "[13].visible_when", "“ZZ”不在代码表“id_doc_type”中", false}));
	expect(meal, MUTS(F0 "[2].fields[3].visible_when", "\"row.relation == \\\"99x\\\"\""),
	       WANT({F0 "[2].fields[3].visible_when", "“99x”不在代码表“relation”中", false}));
	expect(jlk,
	       MUTS(F0 "[13].visible_when",
	            "\"payment_channel == \\\"bank\\\" && applicant.name != \\\"x\\\"\""),
	       NULL, 0);
	/* row / rows only inside a group */
	expect(
	    jlk,
	    MUTS(S0 ".form.rules", "+{\"id\":\"r3\",\"assert\":\"row.x > 1\",\"message\":\"m\"}"),
	    WANT({S0 ".form.rules[2].assert", "只有表格内的字段和规则才能使用 row / rows", false}));
	expect(meal, MUTS(S0 ".form.rules[1].assert", "\"row.nam != applicant.name\""),
	       WANT({S0 ".form.rules[1].assert", "表格“members”中不存在的字段“nam”", false}));
	expect(meal, MUTS(S0 ".form.rules[0].assert", "\"members.income > 0\""),
	       WANT({S0 ".form.rules[0].assert", "引用了表格“members”内的字段“members.income”",
	             false}));
	expect(meal, MUTS(S0 ".form.rules[0].assert", "\"sum(members, \\\"incom\\\") < 1\""),
	       WANT({S0 ".form.rules[0].assert", "sum 引用了表格“members”中不存在的字段“incom”",
	             false}));
	expect(meal, MUTS(S0 ".form.rules[0].assert", "\"sum(applicant, \\\"name\\\") < 1\""),
	       WANT({S0 ".form.rules[0].assert",
	             "sum 的第一个参数应为表格（group）字段，“applicant”不是", false}));
	/* a row field's visible_when may use row and top-level fields */
	expect(
	    meal,
	    MUTS(F0 "[2].fields[3].visible_when", "\"row.income > 0 && applicant.name != null\""),
	    NULL, 0);
	/* application form and materials name fields that exist */
	expect(jlk, MUTS(S0 ".application_form.sections[0].fields", "+\"nobody\""),
	       WANT({S0 ".application_form.sections[0].fields[4]",
	             "申请表引用了不存在的字段“nobody”", false}));
	expect(meal, MUTS(S0 ".application_form.fields[0].field", "\"applicant.nam\""),
	       WANT({S0 ".application_form.fields[0].field",
	             "申请表引用了不存在的字段“applicant.nam”", false}));
	expect(jlk, MUTS(S0 ".materials[1].when", "\"applicant.hukou == 1\""),
	       WANT({S0 ".materials[1].when", "不存在的字段“applicant.hukou”", false}));
	expect(jlk, MUTS(S0 ".signatures.signers[1].when", "\"agent.here\""),
	       WANT({S0 ".signatures.signers[1].when", "不存在的字段“agent.here”", false}));
}

static void test_fields(void **state)
{
	(void)state;
	expect(jlk, MUTS(F0 "[4].default", "\"martian\""),
	       WANT({F0 "[4].default", "默认值“martian”不在代码表“household_type”中", false}));
	expect(jlk, MUTS(F0 "[17].default", "\"10\""),
	       WANT({F0 "[17].default", "默认值应为代码数组（多选）", false}));
	expect(jlk, MUTS(F0 "[2].code_table", "\"genderx\""),
	       WANT({F0 "[2].code_table", "代码表“genderx”不存在", false}));
	expect(jlk, MUTS(F0 "[2].code_table", NULL),
	       WANT({F0 "[2]", "选项（enum）字段缺少“code_table”", false}));
	expect(jlk, MUTS(F0, "+{\"id\":\"applicant.name\",\"label\":\"姓名\",\"type\":\"text\"}"),
	       WANT({F0 "[21].id", "字段 id“applicant.name”重复", false}));
	expect(jlk, MUTS(F0 "[20].id", "\"Applicant.Sign\""),
	       WANT({F0 "[20].id", "字段 id“Applicant.Sign”格式不正确", false}));
	expect(jlk, MUTS(F0, "+{\"id\":\"agent\",\"label\":\"代理\",\"type\":\"boolean\"}"),
	       WANT({F0 "[21]", "字段“agent”与字段“agent.id_doc”等 4 个字段冲突", false}));
	expect(jlk, MUTS(F0 "[7].pattern", "\"^[0-9{6}$\""),
	       WANT({F0 "[7].pattern", "正则表达式“^[0-9{6}$”不正确", false}));
	expect(jlk, MUTS(F0 "[7].pattern", "\"^\\\\d{6}$\""),
	       WANT({F0 "[7].pattern", "请写成“[0-9]”", false}));
	expect(jlk, MUTS(F0 "[7].pattern_message", NULL),
	       WANT({F0 "[7].pattern", "没有“pattern_message”", true}));
	expect(jlk, MUTS(F0 "[9].min_length", "40"),
	       WANT({F0 "[9].min_length", "最小长度 40 大于最大长度 30", false}));
	expect(jlk, MUTS(F0 "[14].min", "\"2020-13-01\""),
	       WANT({F0 "[14].min", "日期下限应为“YYYY-MM-DD”或“today”", false}));
	expect(jlk, MUTS(F0 "[15].min", "30"), WANT({F0 "[15].min", "下限大于上限", false}));
	expect(jlk, MUTS(F0 "[16].default", "1.005"),
	       WANT({F0 "[16].default", "默认值金额最多两位小数", false}));
	expect(jlk, MUTS(F0 "[8].default", "\"no\""),
	       WANT({F0 "[8].default", "默认值应为 true 或 false", false}));
	expect(jlk, MUTS(F0 "[6].default", "{}"),
	       WANT({F0 "[6].default", "地址类型的字段不能设置默认值", false}));
	expect(jlk, MUTS(F0 "[3].required", "true"),
	       WANT({F0 "[3].required", "计算字段不需要设为必填", true}));
	expect(jlk, MUTS(F0 "[20].required", "true"),
	       WANT({F0 "[20].required", "签名字段由签署环节填写", true}));
	expect(jlk, MUTS(F0 "[19].compute", "\"1\""),
	       WANT({F0 "[19].compute", "附件类型的字段不能是计算字段", false}));
	expect(jlk, MUTS(F0 "[0].prefill[0].path", "\"nickname\""),
	       WANT({F0 "[0].prefill[0].path", "读卡结果中没有“nickname”", true}));
	expect(jlk, MUTS(F0 "[0].prefill", "+{\"source\":\"e_cert\",\"path\":\"name\"}"),
	       WANT({F0 "[0].prefill[1]", "预填来源“e_cert”需要“cert”", false}));
	expect(jlk, MUTS(F0 "[0].prefill", "+{\"source\":\"lookup\",\"flow\":\"http://x\"}"),
	       WANT({F0 "[0].prefill[1].flow", "流程名“http://x”格式不正确", false}));
	expect(jlk, MUTS(F0 "[0].prefill", "+{\"source\":\"gossip\"}"),
	       WANT({F0 "[0].prefill[1].source", "预填来源“gossip”不存在", false}));
	/* groups */
	expect(
	    meal,
	    MUTS(F0 "[2].fields[0].fields", "[{\"id\":\"x\",\"label\":\"x\",\"type\":\"text\"}]"),
	    WANT({F0 "[2].fields[0].fields", "“fields”不适用于文本类型的字段", false}));
	expect(meal,
	       MUTS(F0 "[2].fields",
	            "+{\"id\":\"kids\",\"label\":\"子女\",\"type\":\"group\","
	            "\"fields\":[{\"id\":\"n\",\"label\":\"n\",\"type\":\"text\"}]}"),
	       WANT({F0 "[2].fields[5]", "表格（group）内不能再嵌套表格", false}));
	expect(meal, MUTS(F0 "[2].min_rows", "6"),
	       WANT({F0 "[2].min_rows", "最少行数大于最多行数", false}));
	expect(meal, MUTS(F0 "[2].fields", "[]"),
	       WANT({F0 "[2].fields", "表格至少需要一个字段", false},
	            {F0 "[3].compute", "sum 引用了表格“members”中不存在的字段“income”", false},
	            {S0 ".form.rules[1].field", "规则所属的字段“members.name”不存在", false},
	            {S0 ".form.rules[1].assert", "使用了“row.name”，但它不属于表格", false},
	            {AF ".fields[2].field", "申请表引用了表格“members”中不存在的字段“name”", false},
	            {AF ".fields[3].field", "表格“members”中不存在的字段“relation”", false},
	            {AF ".fields[4].field", "申请表引用了不存在的字段“members.income”", false}));
}

static void test_rules_materials_signatures_forms(void **state)
{
	(void)state;
	expect(jlk, MUTS(S0 ".prereview[0].severity", "\"fatal\""),
	       WANT({S0 ".prereview[0].severity",
	             "预审规则的 severity 应为 block 或 warn，而不是“fatal”", false}));
	expect(jlk, MUTS(S0 ".prereview[0].severity", NULL),
	       WANT({S0 ".prereview[0]", "预审规则缺少“severity”", false}));
	expect(jlk, MUTS(S0 ".form.rules[0].severity", "\"warn\""),
	       WANT({S0 ".form.rules[0].severity", "severity 只能是 block", false}));
	expect(jlk, MUTS(S0 ".form.rules[1].id", "\"age_65\""),
	       WANT({S0 ".form.rules[1].id", "规则 id“age_65”重复", false}));
	expect(jlk, MUTS(S0 ".form.rules[0].message", NULL),
	       WANT({S0 ".form.rules[0]", "缺少必填的键“message”", false}));
	/* materials */
	expect(jlk, MUTS(S0 ".materials[1].when", NULL),
	       WANT({S0 ".materials[1]", "条件性材料（conditional）需要“when”", false}));
	expect(
	    jlk, MUTS(S0 ".materials[0].when", "\"agent.present\""),
	    WANT({S0 ".materials[0].when", "只有 need 为 conditional 的材料才使用“when”", false}));
	expect(jlk, MUTS(S0 ".materials[1].e_cert", NULL),
	       WANT({S0 ".materials[1]", "来源含 e_cert 时需要“e_cert”", false}));
	expect(jlk, MUTS(S0 ".materials[0].sources", "[\"fax\"]"),
	       WANT({S0 ".materials[0].sources[0]", "材料来源“fax”不存在", false}));
	expect(
	    jlk, MUTS(S0 ".materials[0].need", "\"must\""),
	    WANT({S0 ".materials[0].need", "“need”应为 required、optional 或 conditional", false}));
	expect(jlk, MUTS(S0 ".materials[1].retention", "\"5y\""),
	       WANT({S0 ".materials[1].retention", "保管期限应为 permanent、30y 或 10y", false}));
	expect(jlk, MUTS(S0 ".materials[1].id", "\"photo\""),
	       WANT({S0 ".materials[1].id", "材料 id“photo”重复", false}));
	/* signatures */
	expect(jlk, MUTS(S0 ".signatures.signers", "+{\"role\":\"boss\",\"label\":\"老板\"}"),
	       WANT({S0 ".signatures.signers[2].role", "签署角色“boss”不存在", false}));
	expect(jlk, MUTS(S0 ".signatures.signers[1].role", "\"applicant\""),
	       WANT({S0 ".signatures.signers[1].role", "签署角色“applicant”重复", false}));
	expect(jlk, MUTS(S0 ".application_form", "{\"kind\":\"none\"}"),
	       WANT({S0 ".signatures.multi_sign", "一表多签需要申请表", false}));
	expect(meal, MUTS(S0 ".signatures.multi_sign", "true"),
	       WANT({S0 ".signatures.multi_sign", "只有 1 个", true}));
	expect(meal,
	       MUTS(S0 ".signatures.signers", "[]", S0 ".signatures.commitments",
	            "[{\"id\":\"a\",\"text\":\"t\"}]"),
	       WANT({S0 ".signatures.commitments", "承诺无人确认", false},
	            {S0 ".application_form.signature_boxes[0].signer",
	             "签名框的签署角色“applicant”不在签署方案中", false}));
	expect(jlk, MUTS(S0 ".second_read", "[\"spouse\"]"),
	       WANT({S0 ".second_read[0]", "二次读卡的当事人“spouse”不在签署方案中", true}));
	expect(jlk, MUTS(S0 ".second_read", "[\"cat\"]"),
	       WANT({S0 ".second_read[0]", "二次读卡的当事人“cat”不是签署角色", false}));
	/* application forms */
	expect(jlk, MUTS(S0 ".application_form.kind", "\"pdf\""),
	       WANT({S0 ".application_form.kind", "申请表类型“pdf”不存在", false}));
	expect(meal, MUTS(S0 ".application_form.template", "\"../x.pdf\""),
	       WANT({S0 ".application_form.template", "模板路径应为“templates/<名称>.pdf”", false},
	            {S0 ".application_form.template", "按约定命名为“templates/310003002000-01.pdf”",
	             true}));
	expect(jlk, MUTS(S0 ".application_form.sections", "[]"),
	       WANT({S0 ".application_form.sections", "生成的申请表至少需要一个栏目", false}));
	/* the rest of a sub-item */
	expect(jlk, MUTS(S0 ".id_docs", "[\"111\", \"XYZ\", \"111\"]"),
	       WANT({S0 ".id_docs[1]", "证件类型“XYZ”不在代码表“id_doc_type”中", false},
	            {S0 ".id_docs[2]", "证件类型“111”重复", false}));
	expect(jlk, MUTS(S0 ".id_docs", "[]"),
	       WANT({S0 ".id_docs", "至少需要接受一种身份证件", false}));
	expect(jlk, MUTS(S0 ".handler_rule", "\"clerk\""),
	       WANT({S0 ".handler_rule", "办理人规则“clerk”不存在", false}));
	expect(jlk, MUTS(S0 ".handler_rule", "\"disabled_helper\""),
	       WANT({S0 ".handler_rule", "disabled_helper 是残联事项的办理人规则", true}));
	expect(jlk, MUTS(S0 ".archive.retention", "\"forever\""),
	       WANT({S0 ".archive.retention", "保管期限应为 permanent、30y 或 10y", false}));
	expect(jlk, MUTS(S0 ".submit_flow", "\"https://shebao.example/submit\""),
	       WANT({S0 ".submit_flow", "提交流程名“https://shebao.example/submit”格式不正确",
	             false}));
	expect(jlk, MUTS("sub_items", "+null"),
	       WANT({"sub_items[1]", "子项应为 JSON 对象", false}));
}

static void test_ecert_names(void **state)
{
	(void)state;
	/* materials and prefills name certificates of the e_cert table, with a "did you mean"
	 * for a synonym (same first word) or a near miss */
	expect(jlk, MUTS(S0 ".materials[1].e_cert", "\"hukou_book\""),
	       WANT({S0 ".materials[1].e_cert",
	             "证照类型“hukou_book”不在代码表“e_cert”中（是否应为“hukou”？）", false}));
	expect(jlk, MUTS(S0 ".materials[1].e_cert", "\"hukuo\""),
	       WANT({S0 ".materials[1].e_cert", "（是否应为“hukou”？）", false}));
	expect(jlk,
	       MUTS(F0 "[9].prefill", "[{\"source\":\"e_cert\",\"cert\":\"death_medical\","
	                              "\"path\":\"name\"}]"),
	       WANT({F0 "[9].prefill[0].cert",
	             "证照类型“death_medical”不在代码表“e_cert”中（是否应为“death_certificate”？）",
	             false}));
	expect(jlk,
	       MUTS(F0 "[9].prefill", "[{\"source\":\"e_cert\",\"cert\":\"marriage\","
	                              "\"path\":\"spouse_name\"}]"),
	       NULL, 0);

	/* nothing close: no suggestion */
	json_t *copy = json_deep_copy(jlk);
	mutate(copy, S0 ".materials[1].e_cert", "\"passport\"");
	struct arena a;
	struct catalog_problems pr;
	arena_init(&a, 0);
	catalog_problems_init(&pr, &a);
	catalog_item_check(ref, copy, "x.json", &pr);
	assert_int_equal(pr.n, 1);
	assert_string_equal(pr.v[0].path, S0 ".materials[1].e_cert");
	assert_string_equal(pr.v[0].message, "证照类型“passport”不在代码表“e_cert”中");
	catalog_problems_release(&pr);
	arena_release(&a);
	json_decref(copy);
}

static void test_vwin_mode(void **state)
{
	(void)state;
	expect(jlk, MUTS("separated", "false", "vwin_mode", "\"virtual\""),
	       WANT({"vwin_mode", "没有收受分离的事项只分 original", true}));
	expect(jlk, MUTS("vwin_mode", "\"virtual\""), NULL, 0);
	expect(jlk, MUTS("vwin_mode", "\"original\""),
	       WANT({"home_service", "vwin_mode 为 original 的事项不能上门办", true}));
	expect(jlk, MUTS("vwin_mode", "\"original\"", "home_service", "false"), NULL, 0);
}

/* A fixed form for jlk (a boolean, a signature and an attachment field). */
#define JLK_FIXED                                                                                  \
	"{\"kind\":\"fixed\",\"template\":\"templates/"                                            \
	"310004015000-01.pdf\",\"title\":\"敬老卡申请表\","                                  \
	"\"fields\":[{\"field\":\"agent.present\",\"page\":1,\"x\":100,\"y\":500,\"w\":100,\"h\":" \
	"18,"                                                                                      \
	"\"choices\":[{\"code\":\"true\",\"x\":102,\"y\":504,\"w\":9,\"h\":9},"                    \
	"{\"code\":\"false\",\"x\":140,\"y\":504,\"w\":9,\"h\":9}]}],"                             \
	"\"signature_boxes\":[{\"signer\":\"applicant\",\"page\":1,\"x\":100,\"y\":100,\"w\":100," \
	"\"h\":30},"                                                                               \
	"{\"signer\":\"agent\",\"page\":1,\"x\":300,\"y\":100,\"w\":100,\"h\":30}]}"

static void test_form_positions(void **state)
{
	(void)state;
	/* sizes and the A4 page (595.3 × 842 pt from the bottom-left corner) */
	expect(meal, MUTS(AF ".fields[0].w", "0"),
	       WANT({AF ".fields[0].w", "宽度应大于 0", false}));
	expect(meal, MUTS(AF ".fields[0].h", "-3"),
	       WANT({AF ".fields[0].h", "高度应大于 0", false}));
	expect(meal, MUTS(AF ".fields[0].size", "0"),
	       WANT({AF ".fields[0].size", "字号应大于 0", false}));
	expect(meal, MUTS(AF ".fields[0].x", "400"),
	       WANT({AF ".fields[0]", "位置超出 A4 页面", false}));
	expect(meal, MUTS(AF ".fields[0].y", "-1"),
	       WANT({AF ".fields[0]", "这里 x 120、y -1、w 200、h 18", false}));
	expect(meal, MUTS(AF ".fields[0].y", "824"), NULL, 0); /* 824 + 18 = 842: on the edge */
	expect(meal, MUTS(AF ".fields[4].y", "842.5"),
	       WANT({AF ".fields[4]", "位置超出 A4 页面", false}));
	expect(meal, MUTS(AF ".signature_boxes[0].x", "500"),
	       WANT({AF ".signature_boxes[0]", "位置超出 A4 页面", false}));
	expect(meal, MUTS(AF ".fields[3].choices[1].y", "840"),
	       WANT({AF ".fields[3].choices[1]", "位置超出 A4 页面", false}));
	expect(meal, MUTS(AF ".fields[0].width", "3"),
	       WANT({AF ".fields[0].width", "不认识的键“width”", false}));
	expect(meal, MUTS(AF ".fields[3].choices[0].h", NULL),
	       WANT({AF ".fields[3].choices[0]", "缺少必填的键“h”", false}));

	/* rows of a group: "<group>[n].<field>", n from 0 and below max_rows (5) */
	expect(meal, MUTS(AF ".fields[2].field", "\"members[5].name\""),
	       WANT({AF ".fields[2].field", "表格“members”最多 5 行，第 5 行（从 0 起）不存在",
	             false}));
	expect(meal, MUTS(AF ".fields[2].field", "\"members[x].name\""),
	       WANT({AF ".fields[2].field", "表格行的位置应写成“<表格>[行号].<字段>”", false}));
	expect(meal, MUTS(AF ".fields[2].field", "\"members[01].name\""),
	       WANT({AF ".fields[2].field", "表格行的位置应写成", false}));
	expect(meal, MUTS(AF ".fields[2].field", "\"members[1]name\""),
	       WANT({AF ".fields[2].field", "表格行的位置应写成", false}));
	expect(
	    meal, MUTS(AF ".fields[2].field", "\"members[0].nick\""),
	    WANT({AF ".fields[2].field", "申请表引用了表格“members”中不存在的字段“nick”", false}));
	expect(meal, MUTS(AF ".fields[2].field", "\"applicant[0].name\""),
	       WANT({AF ".fields[2].field", "不存在的表格（group）字段“applicant”", false}));
	expect(meal, MUTS(AF ".fields[2].field", "\"total_income[0].name\""),
	       WANT({AF ".fields[2].field", "不存在的表格（group）字段“total_income”", false}));

	/* tick boxes: codes of the field's table, once each; only enum and boolean fields */
	expect(
	    meal, MUTS(AF ".fields[3].choices[1].code", "\"98\""),
	    WANT({AF ".fields[3].choices[1].code", "勾选框代码“98”不在代码表“relation”中", false}));
	expect(meal, MUTS(AF ".fields[3].choices[1].code", "\"10\""),
	       WANT({AF ".fields[3].choices[1].code", "勾选框代码“10”重复", false}));
	expect(meal, MUTS(AF ".fields[0].choices", "[]"),
	       WANT({AF ".fields[0].choices",
	             "只有选项（enum）和是/"
	             "否（boolean）字段才有勾选框（choices），“applicant.name”是文本字段",
	             false}));
	expect(meal, MUTS(AF ".fields[1].choices", "[]"),
	       WANT({AF ".fields[1].choices", "只有选项（enum）和是/否（boolean）字段才有勾选框",
	             false}));
	expect(jlk, MUTS(S0 ".application_form", JLK_FIXED), NULL, 0);
	expect(jlk,
	       MUTS(S0 ".application_form", JLK_FIXED, AF ".fields[0].choices[0].code", "\"yes\""),
	       WANT({AF ".fields[0].choices[0].code",
	             "是/否字段的勾选框代码应为“true”或“false”，而不是“yes”", false}));

	/* signature and attachment fields have no position; every signer has a signature box */
	expect(jlk,
	       MUTS(S0 ".application_form", JLK_FIXED, AF ".fields",
	            "+{\"field\":\"applicant_sign\",\"page\":1,\"x\":1,\"y\":1}"),
	       WANT({AF ".fields[1].field", "签名字段“applicant_sign”不印值", false}));
	expect(jlk,
	       MUTS(S0 ".application_form", JLK_FIXED, AF ".fields",
	            "+{\"field\":\"photo\",\"page\":1,\"x\":1,\"y\":1}"),
	       WANT({AF ".fields[1].field", "附件字段“photo”不印在申请表上", false}));
	expect(jlk, MUTS(S0 ".application_form", JLK_FIXED, AF ".signature_boxes[1]", NULL),
	       WANT({AF ".signature_boxes", "签署人“agent”在申请表上没有签名框", true}));
	expect(meal, MUTS(S0 ".signatures.signers", "+{\"role\":\"spouse\",\"label\":\"配偶\"}"),
	       WANT({AF ".signature_boxes", "签署人“spouse”在申请表上没有签名框", true}));
	/* a form whose positions are not generated yet: no box is expected */
	expect(meal,
	       MUTS(S0 ".signatures.signers", "+{\"role\":\"spouse\",\"label\":\"配偶\"}",
	            AF ".fields", NULL, AF ".signature_boxes", NULL),
	       NULL, 0);
}

/* A catalog directory in a temporary folder made of the good fixture (departments, code
 * tables and the gongan item linked), the meal item as given and one template file. */
static void make_dir(char *dir, size_t dirsz, const json_t *meal_item, const char *tpl,
                     size_t tpl_len)
{
	char path[1400];
	snprintf(dir, dirsz, "%s", "/tmp/catalog_check_XXXXXX");
	assert_non_null(mkdtemp(dir));
	char good[PATH_MAX];
	assert_non_null(realpath(good_dir, good));
	snprintf(path, sizeof(path), "%s/items", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	static const char *const links[] = {"departments.json", "code_tables", "code_changes.json",
	                                    "items/gongan", NULL};
	for (const char *const *l = links; *l; l++) {
		char from[PATH_MAX + 64];
		snprintf(from, sizeof(from), "%s/%s", good, *l);
		snprintf(path, sizeof(path), "%s/%s", dir, *l);
		assert_int_equal(symlink(from, path), 0);
	}
	snprintf(path, sizeof(path), "%s/items/minzheng", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/templates", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/items/minzheng/310003002000.json", dir);
	assert_int_equal(json_dump_file(meal_item, path, 0), 0);
	snprintf(path, sizeof(path), "%s/templates/310003002000-01.pdf", dir);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(tpl, 1, tpl_len, f), tpl_len);
	fclose(f);
}

static void remove_dir(const char *dir)
{
	static const char *const parts[] = {"departments.json",
	                                    "code_tables",
	                                    "code_changes.json",
	                                    "items/gongan",
	                                    "items/minzheng/310003002000.json",
	                                    "items/minzheng",
	                                    "items",
	                                    "templates/310003002000-01.pdf",
	                                    "templates",
	                                    NULL};
	char path[1400];
	for (const char *const *p = parts; *p; p++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *p);
		assert_int_equal(remove(path), 0);
	}
	assert_int_equal(rmdir(dir), 0);
}

/* Check dir: exactly one problem (an error), or none when file is NULL. */
static void expect_dir(const char *dir, const char *file, const char *path, const char *msg)
{
	struct arena a;
	struct catalog_problems pr;
	arena_init(&a, 0);
	catalog_problems_init(&pr, &a);
	enum err e = catalog_check_dir(dir, &pr);
	bool ok = file ? pr.n == 1 && pr.errors == 1 && !strcmp(pr.v[0].file, file) &&
	                     !strcmp(pr.v[0].path, path) && strstr(pr.v[0].message, msg)
	               : pr.n == 0;
	if (!ok) {
		catalog_problems_print(&pr, stderr);
		fprintf(stderr, "wanted: %s: %s: %s\n", file ? file : "(nothing)", path ? path : "",
		        msg ? msg : "");
		fail();
	}
	assert_int_equal(e, file ? ERR_INVALID : ERR_OK);
	catalog_problems_release(&pr);
	arena_release(&a);
}

/* A PDF of n pages with a "/Type /Page" object every 997 bytes (so that some of them cross
 * any read boundary of the checker), "/Type /Pages" between them and "/Type/Page" without a
 * blank for the last one. Free the result. */
static char *fake_pdf(int n, size_t *len)
{
	char *out = NULL;
	FILE *f = open_memstream(&out, len);
	fputs("%PDF-1.4\n1 0 obj << /Type /Pages /Count 0 >> endobj\n", f);
	for (int i = 0; i < n; i++) {
		char obj[64];
		int m = snprintf(obj, sizeof(obj), "%d 0 obj << /Type%s/Page >> endobj\n", i + 2,
		                 i == n - 1 ? "" : " \n ");
		fputs(obj, f);
		for (int k = m; k < 997; k++)
			fputc(k % 64 ? ' ' : '\n', f);
		fputs("/Type /Pages", f);
	}
	fputs("\n%%EOF\n", f);
	fclose(f);
	return out;
}

static void test_templates(void **state)
{
	(void)state;
	char dir[64];
	json_t *item = json_deep_copy(meal);
	static const char one_page[] =
	    "%PDF-1.4\n1 0 obj << /Type /Pages /Kids [2 0 R] /Count 1 >> endobj\n"
	    "2 0 obj << /Type /Page /Parent 1 0 R >> endobj\n%%EOF\n";

	/* one page: positions on page 1 are fine, on page 2 not */
	make_dir(dir, sizeof(dir), item, one_page, sizeof(one_page) - 1);
	expect_dir(dir, NULL, NULL, NULL);
	remove_dir(dir);
	mutate(item, AF ".fields[3].page", "2");
	make_dir(dir, sizeof(dir), item, one_page, sizeof(one_page) - 1);
	expect_dir(dir, "items/minzheng/310003002000.json", AF ".fields[3].page",
	           "第 2 页超出模板“templates/310003002000-01.pdf”的页数（1 页）");
	remove_dir(dir);
	/* the highest page is reported, signature boxes included */
	mutate(item, AF ".signature_boxes[0].page", "3");
	make_dir(dir, sizeof(dir), item, one_page, sizeof(one_page) - 1);
	expect_dir(dir, "items/minzheng/310003002000.json", AF ".signature_boxes[0].page",
	           "第 3 页超出模板");
	remove_dir(dir);

	/* not a PDF */
	make_dir(dir, sizeof(dir), meal, "<html>", 6);
	expect_dir(dir, "templates/310003002000-01.pdf", "", "不是 PDF 文件（文件头应为“%PDF-”）");
	remove_dir(dir);
	make_dir(dir, sizeof(dir), meal, "", 0);
	expect_dir(dir, "templates/310003002000-01.pdf", "", "不是 PDF 文件");
	remove_dir(dir);

	/* a long file: every page counted once, across read boundaries */
	size_t len;
	char *pdf = fake_pdf(300, &len);
	assert_true(len > 290000);
	mutate(item, AF ".signature_boxes[0].page", "300");
	make_dir(dir, sizeof(dir), item, pdf, len);
	expect_dir(dir, NULL, NULL, NULL);
	remove_dir(dir);
	mutate(item, AF ".signature_boxes[0].page", "301");
	make_dir(dir, sizeof(dir), item, pdf, len);
	expect_dir(dir, "items/minzheng/310003002000.json", AF ".signature_boxes[0].page",
	           "第 301 页超出模板“templates/310003002000-01.pdf”的页数（300 页）");
	remove_dir(dir);
	free(pdf);
	json_decref(item);
}

/* One expected line of the bad directory. */
struct dwant {
	const char *file, *path, *msg;
	bool warning;
};

static void test_bad_dir(void **state)
{
	(void)state;
	static const struct dwant w[] = {
	    {"departments.json", "departments[4].credit_code", "统一社会信用代码校验位应为“R”",
	     true},
	    {"departments.json", "departments[13].id", "部门 id“gongan”重复", false},
	    {"departments.json", "departments[13].credit_code",
	     "统一社会信用代码“11310000425010968E”重复", false},
	    {"code_tables/extra.json", "id", "代码表 id“other”应与文件名“extra”一致", false},
	    {"code_tables/gender.json", "entries[4].code", "代码“1”重复", false},
	    {"code_tables/gender.json", "entries[3].aliases[0]", "名称或别名“男”重复（代码“1”）",
	     false},
	    {"code_tables/gender.json", "entries[3].aliases[1]", "别名应为非空字符串", false},
	    {"code_tables", "", "缺少内置代码表“marital_status.json”", false},
	    {"items/gongan/310003002000.json", "department",
	     "事项属于部门“minzheng”，却放在 items/gongan/ 下", false},
	    {"items/gongan/310004099000.json", "basic_code",
	     "文件名应为基本编码：“310004015000.json”", false},
	    {"items/gongan/310004099000.json", "basic_code",
	     "基本编码“310004015000”与 items/gongan/310004015000.json 重复", false},
	    {"items/gongan/310004099000.json", "impl_code",
	     "实施编码“11310000002420391P6310004015000”与 items/gongan/310004015000.json 重复",
	     false},
	    {"items/gongan/310004099000.json", "sub_items[0].code",
	     "子项编码“310004015000-01”与 items/gongan/310004015000.json 重复", false},
	    {"items/gongan/310004099000.json", "name",
	     "事项名称“敬老卡申请”与 items/gongan/310004015000.json 相同", true},
	    {"items/gongan/broken.json", "", "不是合法的 JSON 文件：JSON 不完整", false},
	    {"items/gongan/notes.txt", "", "不是 .json 文件，已忽略", true},
	    {"items/nowhere", "", "目录名“nowhere”不是 departments.json 中的部门 id", false},
	    {"items/nowhere/readme.txt", "", "不是 .json 文件，已忽略", true},
	    {"code_changes.json", "changes[0].effective", "生效日期应为“YYYY-MM-DD”", false},
	    {"code_changes.json", "changes[0]",
	     "变更的编码“310099999000”和“310099999001”都不在目录中", false},
	    {"templates", "",
	     "1 个制式申请表模板还不存在（由模板生成器产生），如“templates/310003002000-01.pdf”",
	     true},
	};
	size_t nw = sizeof(w) / sizeof(w[0]);
	struct arena a;
	struct catalog_problems pr;
	arena_init(&a, 0);
	catalog_problems_init(&pr, &a);
	struct catalog_check_counts counts;
	assert_int_equal(catalog_check_dir_counts(bad_dir, &pr, &counts), ERR_INVALID);
	bool ok = pr.n == nw;
	for (size_t i = 0; i < nw && ok; i++) {
		bool found = false;
		for (size_t j = 0; j < pr.n && !found; j++)
			found =
			    !strcmp(pr.v[j].file, w[i].file) && !strcmp(pr.v[j].path, w[i].path) &&
			    strstr(pr.v[j].message, w[i].msg) && pr.v[j].warning == w[i].warning;
		if (!found)
			fprintf(stderr, "missing: %s: %s: %s\n", w[i].file, w[i].path, w[i].msg);
		ok = found;
	}
	if (!ok) {
		catalog_problems_print(&pr, stderr);
		fail();
	}
	assert_int_equal(pr.errors, 16);
	assert_int_equal(counts.items, 3);
	assert_int_equal(counts.departments, 14);

	/* the load refuses it */
	struct catalog_set *set = (struct catalog_set *)1;
	catalog_problems_release(&pr);
	assert_int_equal(catalog_load_dir(bad_dir, &set, &pr), ERR_INVALID);
	assert_null(set);
	catalog_problems_release(&pr);

	/* a directory that is not there */
	assert_int_equal(catalog_check_dir("/nonexistent/catalog", &pr), ERR_IO);
	assert_int_equal(pr.errors, 1);
	catalog_problems_release(&pr);
	arena_release(&a);
}

static void test_good_dir_and_load(void **state)
{
	(void)state;
	struct arena a;
	struct catalog_problems pr;
	arena_init(&a, 0);
	catalog_problems_init(&pr, &a);
	assert_int_equal(catalog_check_dir(good_dir, &pr), ERR_OK);
	catalog_problems_print(&pr, stderr);
	assert_int_equal(pr.n, 0);
	struct catalog_set *set = NULL;
	assert_int_equal(catalog_load_dir(good_dir, &set, &pr), ERR_OK);
	assert_non_null(set);
	assert_int_equal(json_array_size(set->items), 2);
	/* sorted by basic_code */
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(set->items, 0), "basic_code")),
	    "310003002000");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(set->items, 1), "basic_code")),
	    "310004015000");
	assert_true(json_is_array(json_object_get(set->code_changes, "changes")));
	assert_non_null(json_object_get(set->code_tables, "district"));
	/* code, name or alias → code */
	assert_string_equal(catalog_ref_code_of(set->ref, "gender", "1"), "1");
	assert_string_equal(catalog_ref_code_of(set->ref, "gender", "女"), "2");
	assert_string_equal(catalog_ref_code_of(set->ref, "gender", "男性"), "1");
	assert_null(catalog_ref_code_of(set->ref, "gender", "男士"));
	assert_null(catalog_ref_code_of(set->ref, "no_such_table", "1"));
	assert_int_equal(json_array_size(json_object_get(set->departments, "departments")), 13);
	/* reference lookups */
	const json_t *d = catalog_ref_department(set->ref, "gongan");
	assert_string_equal(json_string_value(json_object_get(d, "credit_code")),
	                    "11310000002420391P");
	assert_null(catalog_ref_department(set->ref, "nobody"));
	assert_non_null(catalog_ref_code_table(set->ref, "gender"));
	const json_t *e = catalog_ref_code_entry(set->ref, "district", "310115");
	assert_string_equal(json_string_value(json_object_get(e, "name")), "浦东新区");
	assert_null(catalog_ref_code_entry(set->ref, "district", "310100"));
	assert_null(catalog_ref_code_entry(set->ref, "nope", "1"));
	catalog_set_destroy(set);

	/* catalog_ref_from_json on wrong shapes */
	struct catalog_ref *r = (struct catalog_ref *)1;
	json_t *deps = json_pack("{s:[{s:s}]}", "departments", "id", "x");
	json_t *arr = json_array();
	assert_int_equal(catalog_ref_from_json(deps, arr, &r), ERR_INVALID);
	assert_null(r);
	json_t *tables = json_object();
	assert_int_equal(catalog_ref_from_json(deps, tables, &r), ERR_OK);
	assert_non_null(catalog_ref_department(r, "x"));
	catalog_ref_destroy(r);
	json_decref(deps);
	json_decref(arr);
	json_decref(tables);
	catalog_problems_release(&pr);
	arena_release(&a);
}

static void test_credit_code(void **state)
{
	(void)state;
	char c;
	assert_true(catalog_credit_code_valid("91350100M000100Y43", &c));
	assert_int_equal(c, '3');
	assert_true(catalog_credit_code_valid("11310000002420391P", NULL));
	assert_false(catalog_credit_code_valid("11310000002420391X", &c));
	assert_int_equal(c, 'P');
	assert_false(catalog_credit_code_valid("1131000000242039IP", &c)); /* I is not allowed */
	assert_int_equal(c, '?');
	assert_false(catalog_credit_code_valid("113100", &c));
	assert_false(catalog_credit_code_valid(NULL, NULL));
}

static void test_problems_print(void **state)
{
	(void)state;
	struct arena a;
	struct catalog_problems pr;
	arena_init(&a, 0);
	catalog_problems_init(&pr, &a);
	for (int i = 0; i < 100; i++)
		catalog_problems_add(&pr, "f.json", i % 2 ? "a.b" : "", i % 3 == 0, "问题 %d", i);
	assert_int_equal(pr.n, 100);
	assert_int_equal(pr.errors, 66);
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);
	catalog_problems_print(&pr, f);
	fclose(f);
	assert_non_null(strstr(out, "warning: f.json: 问题 0\n"));
	assert_non_null(strstr(out, "f.json: a.b: 问题 1\n"));
	free(out);
	catalog_problems_release(&pr);
	assert_int_equal(pr.n, 0);
	arena_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_items_have_no_problem),
	    cmocka_unit_test(test_unknown_keys),
	    cmocka_unit_test(test_required_keys_and_types),
	    cmocka_unit_test(test_codes),
	    cmocka_unit_test(test_item_attributes),
	    cmocka_unit_test(test_references),
	    cmocka_unit_test(test_fields),
	    cmocka_unit_test(test_rules_materials_signatures_forms),
	    cmocka_unit_test(test_ecert_names),
	    cmocka_unit_test(test_vwin_mode),
	    cmocka_unit_test(test_form_positions),
	    cmocka_unit_test(test_templates),
	    cmocka_unit_test(test_bad_dir),
	    cmocka_unit_test(test_good_dir_and_load),
	    cmocka_unit_test(test_credit_code),
	    cmocka_unit_test(test_problems_print),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
