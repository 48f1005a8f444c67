/* fuzz_catalog.c: libFuzzer harness for the catalog engine's untrusted inputs — expression
 * sources, item documents and form data.
 *
 * Each input is used three ways:
 *   - as an expression source: parsed, and when it parses, evaluated against fixed data
 *     with and without a row, its references walked;
 *   - as JSON (strict parser): checked as an item document against a small fixed reference
 *     catalog, and each of its sub-items (up to 4) evaluated as a form on empty data and on
 *     the document itself;
 *   - as JSON form data for a fixed sub-item that uses every field type, a group, row rules
 *     and computed fields.
 * Properties that must hold for every input (the harness aborts otherwise):
 *   - a parse failure has a message; a success has none and evaluates without crashing;
 *   - every reported problem has a file, a path and a message, and errors ≤ problems;
 *   - a form result has all its members, and valid == (no violations). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "core/arena.h"
#include "core/json.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *DEPARTMENTS =
    "{\"departments\":[{\"id\":\"gongan\",\"no\":\"04\",\"name\":\"上海市公安局\",\"short_name\":"
    "\"公安\","
    "\"credit_code\":\"11310000002420391P\",\"connectors\":[\"gongan\"]}]}";

static const char *TABLES = "{\"gender\":{\"id\":\"gender\",\"name\":\"性别\",\"entries\":[{"
                            "\"code\":\"1\",\"name\":\"男\"},"
                            "{\"code\":\"2\",\"name\":\"女\"}]},"
                            "\"id_doc_type\":{\"id\":\"id_doc_type\",\"name\":\"证件\",\"entries\":"
                            "[{\"code\":\"111\",\"name\":\"居民身份证\"},"
                            "{\"code\":\"PR2023\",\"name\":\"PR\"},{\"code\":\"PR2017\",\"name\":"
                            "\"PR\"},{\"code\":\"HMT\",\"name\":\"HMT\"},"
                            "{\"code\":\"SSC\",\"name\":\"SSC\"},{\"code\":\"SHRP\",\"name\":"
                            "\"SHRP\"},{\"code\":\"MEDQR\",\"name\":\"MEDQR\"}]},"
                            "\"relation\":{\"id\":\"relation\",\"name\":\"关系\",\"entries\":[{"
                            "\"code\":\"10\",\"name\":\"配偶\"},"
                            "{\"code\":\"20\",\"name\":\"子\"}]},"
                            "\"district\":{\"id\":\"district\",\"name\":\"区\",\"entries\":[{"
                            "\"code\":\"310104\",\"name\":\"徐汇区\"}]},"
                            "\"street\":{\"id\":\"street\",\"name\":\"街道\",\"entries\":[{"
                            "\"code\":\"310104001\",\"name\":\"天平路街道\","
                            "\"parent\":\"310104\"}]},"
                            "\"bank\":{\"id\":\"bank\",\"name\":\"银行\",\"entries\":[{\"code\":"
                            "\"102\",\"name\":\"工行\",\"luhn\":true}]},"
                            "\"payment_channel\":{\"id\":\"payment_channel\",\"name\":\"渠道\","
                            "\"entries\":[{\"code\":\"bank\",\"name\":\"银行\"}]}}";

static const char *SUB_ITEM =
    "{\"code\":\"310004015000-01\",\"name\":\"测试\",\"id_docs\":[\"111\",\"PR2017\",\"HMT\"],"
    "\"form\":{\"fields\":["
    "{\"id\":\"applicant.name\",\"label\":\"姓名\",\"type\":\"text\",\"required\":true,\"max_"
    "length\":20,"
    "\"pattern\":\"^[^0-9]+$\",\"pattern_message\":\"姓名不能含数字\"},"
    "{\"id\":\"applicant.id_doc\",\"label\":\"证件\",\"type\":\"id_document\",\"required\":true},"
    "{\"id\":\"applicant.age\",\"label\":\"年龄\",\"type\":\"number\",\"compute\":\"age(applicant."
    "id_doc)\"},"
    "{\"id\":\"applicant.sex\",\"label\":\"性别\",\"type\":\"enum\",\"code_table\":\"gender\","
    "\"compute\":\"id_sex(applicant.id_doc)\"},"
    "{\"id\":\"applicant.phone\",\"label\":\"电话\",\"type\":\"phone\",\"required_when\":"
    "\"applicant.age >= 60\"},"
    "{\"id\":\"applicant.address\",\"label\":\"地址\",\"type\":\"address\"},"
    "{\"id\":\"agent.present\",\"label\":\"代办\",\"type\":\"boolean\"},"
    "{\"id\":\"agent.name\",\"label\":\"代理人\",\"type\":\"textarea\",\"visible_when\":\"agent."
    "present\","
    "\"required_when\":\"agent.present\"},"
    "{\"id\":\"channel\",\"label\":\"渠道\",\"type\":\"enum\",\"code_table\":\"payment_channel\"},"
    "{\"id\":\"bank\",\"label\":\"账户\",\"type\":\"bank_account\",\"visible_when\":\"channel == "
    "\\\"bank\\\"\"},"
    "{\"id\":\"when\",\"label\":\"日期\",\"type\":\"date\",\"min\":\"2000-01-01\",\"max\":"
    "\"today\"},"
    "{\"id\":\"amount\",\"label\":\"金额\",\"type\":\"money\",\"min\":0,\"max\":100000},"
    "{\"id\":\"count\",\"label\":\"数量\",\"type\":\"number\",\"min\":1},"
    "{\"id\":\"tags\",\"label\":\"标签\",\"type\":\"enum\",\"code_table\":\"relation\","
    "\"multiple\":true},"
    "{\"id\":\"scan\",\"label\":\"附件\",\"type\":\"attachment\"},"
    "{\"id\":\"sign\",\"label\":\"签名\",\"type\":\"signature\"},"
    "{\"id\":\"members\",\"label\":\"成员\",\"type\":\"group\",\"max_rows\":20,\"fields\":["
    "{\"id\":\"name\",\"label\":\"姓名\",\"type\":\"text\",\"required\":true},"
    "{\"id\":\"relation\",\"label\":\"关系\",\"type\":\"enum\",\"code_table\":\"relation\"},"
    "{\"id\":\"income\",\"label\":\"收入\",\"type\":\"money\"},"
    "{\"id\":\"note\",\"label\":\"备注\",\"type\":\"text\",\"visible_when\":\"row.income > 0\"},"
    "{\"id\":\"share\",\"label\":\"占比\",\"type\":\"number\",\"compute\":\"row.income / "
    "(sum(rows, \\\"income\\\") + 1)\"}]},"
    "{\"id\":\"total\",\"label\":\"合计\",\"type\":\"money\",\"compute\":\"sum(members, "
    "\\\"income\\\")\"}],"
    "\"rules\":[{\"id\":\"r1\",\"assert\":\"total <= "
    "100000\",\"field\":\"total\",\"message\":\"m1\"},"
    "{\"id\":\"r2\",\"assert\":\"row.name != "
    "applicant.name\",\"field\":\"members.name\",\"message\":\"m2\"},"
    "{\"id\":\"r3\",\"when\":\"agent.present\",\"assert\":\"len(agent.name) > 1 && "
    "matches(agent.name, \\\"^[^x]\\\")\","
    "\"field\":\"agent.name\",\"message\":\"m3\"}]},"
    "\"prereview\":[{\"id\":\"p1\",\"assert\":\"days_between(when, today()) < 30 || empty(when)\","
    "\"severity\":\"block\",\"message\":\"p\"}]}";

static struct catalog_ref *ref;
static json_t *sub_item, *fixed_data, *fixed_rows;

static void init(void)
{
	log_setup(LOG_ERROR, stderr);
	json_t *d = json_loads(DEPARTMENTS, 0, NULL), *t = json_loads(TABLES, 0, NULL);
	sub_item = json_loads(SUB_ITEM, 0, NULL);
	fixed_data = json_loads(
	    "{\"applicant\":{\"name\":\"王\",\"id_doc\":{\"type\":\"111\","
	    "\"number\":\"11010519491231002X\"}},\"members\":[{\"income\":1},{\"income\":2.5}],"
	    "\"s\":\"abc\",\"n\":3,\"f\":true}",
	    0, NULL);
	fixed_rows = json_object_get(fixed_data, "members");
	if (!d || !t || !sub_item || !fixed_data || catalog_ref_from_json(d, t, &ref))
		abort();
	json_decref(d);
	json_decref(t);
}

static void count_ref(void *ctx, const char *r)
{
	if (!r || !*r)
		abort();
	++*(size_t *)ctx;
}

static void check_result(const struct catalog_form_result *r)
{
	if (!r->violations || !r->prereview || !r->visible || !r->required || !r->computed)
		abort();
	if (r->valid != (json_array_size(r->violations) == 0))
		abort();
}

static void form(const json_t *sub, const json_t *d)
{
	struct catalog_form_result r;
	enum err e = catalog_form_evaluate(ref, sub, d, "2024-06-01", &r);
	if (e == ERR_OK)
		check_result(&r);
	else if (e != ERR_INVALID)
		abort();
	catalog_form_result_release(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ref)
		init();
	if (size > 200000)
		return 0;
	struct arena a;
	arena_init(&a, 0);

	/* 1. an expression source */
	char *src = arena_strndup(&a, (const char *)data, size);
	if (src && strlen(src) == size) {
		struct catalog_expr *e = NULL;
		const char *msg = NULL;
		enum err rc = catalog_expr_parse(src, &a, &e, &msg);
		if (rc == ERR_OK) {
			if (!e || msg)
				abort();
			size_t n = 0;
			catalog_expr_refs(e, count_ref, &n);
			json_t *v = catalog_expr_eval(e, fixed_data, NULL, "2024-06-01");
			(void)catalog_expr_truthy(v);
			json_decref(v);
			v = catalog_expr_eval_rows(e, fixed_data, json_array_get(fixed_rows, 1),
			                           fixed_rows, "2024-06-01");
			json_decref(v);
		} else if (!msg || e) {
			abort();
		}
	}

	/* 2. an item document, and 3. form data */
	json_t *doc = NULL;
	if (json_parse((const char *)data, size, &doc, &a, NULL) == ERR_OK) {
		struct catalog_problems pr;
		catalog_problems_init(&pr, &a);
		catalog_item_check(ref, doc, "fuzz.json", &pr);
		if (pr.errors > pr.n)
			abort();
		for (size_t i = 0; i < pr.n; i++)
			if (!pr.v[i].file || !pr.v[i].path || !pr.v[i].message ||
			    !pr.v[i].message[0])
				abort();
		catalog_problems_release(&pr);
		const json_t *subs = json_object_get(doc, "sub_items");
		json_t *empty = json_object();
		for (size_t i = 0; i < json_array_size(subs) && i < 4; i++) {
			form(json_array_get(subs, i), empty);
			form(json_array_get(subs, i), doc);
		}
		json_decref(empty);
		form(sub_item, doc);
		json_decref(doc);
	}
	arena_release(&a);
	return 0;
}
