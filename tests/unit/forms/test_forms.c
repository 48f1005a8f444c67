/* Generated application forms (src/forms/): every generated sub-item of the shipped catalog,
 * filled with its sample data, is rendered and read back with pdftotext; every label and
 * every value as a person reads it must be there. The expected texts are made here from
 * the spec of docs/forms.md (code-table names, 是/否, YYYY年MM月DD日, masked accounts), not by
 * the module's own formatter. Then: a long form breaks into pages numbered "第 p 页 共 n 页",
 * a long group repeats its header, a false `when` drops a section and a signer, signatures
 * are checked PNGs, and a fixed form is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forms/forms.h"
#include "forms_fixture.h"

/* ---- the PDF read back ---- */

/* pdf saved as <tmpdir>/forms-<name>.pdf, its text as pdf_file_text reads it. Heap; free it. */
static char *pdf_text(const struct buf *pdf, const char *name, int first, int last)
{
	char path[1200];
	snprintf(path, sizeof(path), "%s/forms-%s.pdf", tmpdir, name);
	pdf_save(pdf, path);
	return pdf_file_text(path, first, last);
}

/* Assert that text contains want (white space ignored). */
static void expect_in(const char *text, const char *what, const char *want, const char *code)
{
	char *w = strdup(want);
	assert_non_null(w);
	strip(w);
	if (*w && !strstr(text, w))
		fail_msg("%s: %s “%s” is not in the PDF text", code, what, want);
	free(w);
}

/* The data as the evaluation sees it: hidden fields gone, computed ones set. */
static json_t *evaluated(const json_t *sub, const json_t *data, json_t **visible)
{
	struct catalog_form_result r;
	assert_int_equal(catalog_form_evaluate(set->ref, sub, data, TODAY, &r), ERR_OK);
	json_t *work = json_deep_copy(data);
	size_t i;
	json_t *f;
	json_array_foreach (json_object_get(json_object_get(sub, "form"), "fields"), i, f)
		if (!in_list(r.visible, json_get_str(f, "id")))
			json_path_del(work, json_get_str(f, "id"));
	const char *k;
	json_t *v;
	json_object_foreach (r.computed, k, v)
		if (!strchr(k, '['))
			json_path_set_new(work, k, json_incref(v));
	*visible = json_incref(r.visible);
	catalog_form_result_release(&r);
	return work;
}

/* Every label and value of sub's layout, every commitment and signer label is in text. */
static void check_text(const json_t *item, const json_t *sub, const json_t *data, const char *text)
{
	const char *code = json_get_str(sub, "code");
	const json_t *fields = json_object_get(json_object_get(sub, "form"), "fields");
	const json_t *layout = json_object_get(sub, "application_form");
	json_t *visible;
	json_t *work = evaluated(sub, data, &visible);
	expect_in(text, "title", json_get_str(layout, "title"), code);
	expect_in(text, "code", code, code);
	expect_in(text, "department",
	          json_get_str(catalog_ref_department(set->ref, json_get_str(item, "department")),
	                       "name"),
	          code);
	size_t i, j, r;
	json_t *s, *f;
	json_array_foreach (json_object_get(layout, "sections"), i, s) {
		if (!holds(json_get_str(s, "when"), work))
			continue;
		json_array_foreach (json_object_get(s, "fields"), j, f) {
			const char *id = json_string_value(f);
			const json_t *def = def_of(fields, id);
			if (!def) /* a member of a compound field */
				continue;
			const char *type = json_get_str(def, "type");
			if (!in_list(visible, id) || !strcmp(type, "signature") ||
			    !strcmp(type, "attachment"))
				continue;
			expect_in(text, "label", json_get_str(def, "label"), code);
			if (!strcmp(type, "group")) {
				json_t *sf;
				size_t k;
				json_array_foreach (json_object_get(def, "fields"), k, sf)
					expect_in(text, "column", json_get_str(sf, "label"), code);
				json_t *row;
				json_array_foreach (json_path_get(work, id), r, row)
					json_array_foreach (json_object_get(def, "fields"), k, sf) {
						struct buf o;
						buf_init(&o, 1 << 20);
						expected(
						    &o, sf,
						    json_object_get(row, json_get_str(sf, "id")),
						    false);
						expect_in(text, "cell", o.p ? o.p : "", code);
						buf_release(&o);
					}
				continue;
			}
			struct buf o;
			buf_init(&o, 1 << 20);
			expected(&o, def, json_path_get(work, id), false);
			expect_in(text, id, o.p ? o.p : "", code);
			buf_release(&o);
		}
	}
	const json_t *plan = json_object_get(sub, "signatures");
	json_array_foreach (json_object_get(plan, "commitments"), i, s) {
		char *box = NULL;
		assert_true(asprintf(&box, "□%s", json_get_str(s, "text")) > 0);
		expect_in(text, "commitment", box, code);
		free(box);
	}
	json_array_foreach (json_object_get(plan, "signers"), i, s) {
		char label[300];
		snprintf(label, sizeof(label), "%s签名", json_get_str(s, "label"));
		if (holds(json_get_str(s, "when"), work))
			expect_in(text, "signer", label, code);
		else if (strstr(text, label))
			fail_msg("%s: signer %s shown though its when is false", code, label);
	}
	json_decref(work);
	json_decref(visible);
}

static struct buf render(const json_t *item, const json_t *sub, const json_t *data,
                         const struct forms_opts *o)
{
	struct buf pdf;
	struct errinfo ei = {0};
	buf_init(&pdf, 32u << 20);
	enum err e = forms_render_generated(set->ref, item, sub, data, o, &pdf, &ei);
	if (e)
		fail_msg("%s: render failed: %s %s", json_get_str(sub, "code"), err_code(e),
		         ei.msg ? ei.msg : "");
	assert_memory_equal(pdf.p, "%PDF-", 5);
	return pdf;
}

/* ---- tests ---- */

static void test_every_generated_sample(void **state)
{
	(void)state;
	size_t i, j, n = 0;
	json_t *it, *s;
	struct forms_opts o = {.today = TODAY, .case_no = "310104014C1-20260302-000042"};
	json_array_foreach (set->items, i, it) {
		json_array_foreach (json_object_get(it, "sub_items"), j, s) {
			const char *kind =
			    json_get_str(json_object_get(s, "application_form"), "kind");
			if (strcmp(kind, "generated"))
				continue;
			json_t *data = catalog_form_sample(set->ref, s, TODAY);
			assert_non_null(data);
			struct buf pdf = render(it, s, data, &o);
			char *text = pdf_text(&pdf, json_get_str(s, "code"), 0, 0);
			check_text(it, s, data, text);
			expect_in(text, "case number", o.case_no, json_get_str(s, "code"));
			expect_in(text, "page number", "第 1 页 共 1 页", json_get_str(s, "code"));
			/* the face is embedded as a subset (a tag before the name), not the whole
			 * font: Shouli Sans, or the system face when scripts/make-font.sh has not
			 * run (test_fixed.c checks which draws 如) */
			assert_true(memmem(pdf.p, pdf.len, "+ShouliSans-Regular", 19) ||
			            memmem(pdf.p, pdf.len, "+NotoSansCJK", 12));
			assert_true(pdf.len < 120 * 1024);
			free(text);
			buf_release(&pdf);
			json_decref(data);
			n++;
		}
	}
	assert_true(n >= 20); /* the catalog's generated forms were all seen */
}

/* A long textarea breaks over two pages; each page says which it is of how many. */
static void test_two_pages(void **state)
{
	(void)state;
	const json_t *item = NULL;
	const json_t *sub = find_sub("310004001000-04", &item);
	assert_non_null(sub);
	json_t *data = catalog_form_sample(set->ref, sub, TODAY);
	const json_t *f;
	size_t i;
	const char *area = NULL;
	json_array_foreach (json_object_get(json_object_get(sub, "form"), "fields"), i, f)
		if (!strcmp(json_get_str(f, "type"), "textarea"))
			area = json_get_str(f, "id");
	assert_non_null(area);
	struct buf long_text;
	buf_init(&long_text, 1 << 20);
	for (int k = 0; k < 40; k++)
		buf_printf(&long_text, "第%02d句：住所情况说明，房屋由亲属提供居住，无租金。", k);
	json_path_set_new(data, area, json_string(long_text.p));
	/* visible only when asked for: make sure the layout prints it */
	struct forms_timing t = {0};
	struct forms_opts o = {.today = TODAY, .timing = &t};
	struct buf pdf = render(item, sub, data, &o);
	assert_int_equal(t.pages, 2);
	char *all = pdf_text(&pdf, "two-pages", 0, 0);
	char *p1 = pdf_text(&pdf, "two-pages", 1, 1);
	char *p2 = pdf_text(&pdf, "two-pages", 2, 2);
	check_text(item, sub, data, all);
	expect_in(p1, "page 1", "第 1 页 共 2 页", "p1");
	expect_in(p2, "page 2", "第 2 页 共 2 页", "p2");
	assert_null(strstr(p1, "第2页共2页"));
	free(all);
	free(p1);
	free(p2);
	buf_release(&pdf);
	buf_release(&long_text);
	json_decref(data);
}

/* A group longer than a page: the column headers come again on the next page, and every
 * row is printed once. A false `when` drops the section and the signer it guards. */
static void test_group_and_when(void **state)
{
	(void)state;
	const json_t *item = NULL;
	const json_t *sub = find_sub("310007001000-01", &item);
	assert_non_null(sub);
	json_t *data = catalog_form_sample(set->ref, sub, TODAY);
	json_t *rows = json_array();
	for (int k = 0; k < 60; k++)
		json_array_append_new(rows, json_pack("{s:s, s:s, s:s}", "name",
		                                      k % 2 ? "王小明" : "李小红", "birth_date",
		                                      "2015-06-01", "gender", k % 2 ? "1" : "2"));
	json_object_set_new(data, "children", rows);
	json_path_set_new(data, "couple.married", json_true());
	struct forms_timing t = {0};
	struct forms_opts o = {.today = TODAY, .timing = &t};
	struct buf pdf = render(item, sub, data, &o);
	assert_true(t.pages >= 2);
	char *all = pdf_text(&pdf, "group", 0, 0);
	char *p2 = pdf_text(&pdf, "group", 2, 2);
	check_text(item, sub, data, all);
	assert_int_equal(count_of(all, "2015年06月01日"), 60);
	expect_in(p2, "repeated header", "现有子女（续）", "p2");
	expect_in(p2, "repeated header", "序号姓名出生日期性别证件", "p2");
	expect_in(all, "spouse section", "配偶信息", "married");
	expect_in(all, "spouse signer", "配偶签名", "married");
	free(all);
	free(p2);
	buf_release(&pdf);

	json_path_set_new(data, "couple.married", json_false());
	json_object_set_new(data, "children", json_array());
	pdf = render(item, sub, data, &o);
	all = pdf_text(&pdf, "unmarried", 0, 0);
	check_text(item, sub, data, all);
	assert_null(strstr(all, "配偶信息"));
	assert_null(strstr(all, "配偶签名"));
	expect_in(all, "empty group", "（无）", "unmarried");
	assert_int_equal(t.pages, 1);
	free(all);
	buf_release(&pdf);
	json_decref(data);
}

/* Values as a person reads them: the account masked, enum names, 是/否, dates. */
static void test_values(void **state)
{
	(void)state;
	const json_t *item = NULL;
	const json_t *sub = find_sub("310003001000-01", &item);
	assert_non_null(sub);
	json_t *data = catalog_form_sample(set->ref, sub, TODAY);
	const json_t *f, *bank = NULL;
	size_t i;
	json_array_foreach (json_object_get(json_object_get(sub, "form"), "fields"), i, f)
		if (!strcmp(json_get_str(f, "type"), "bank_account"))
			bank = f;
	assert_non_null(bank);
	const char *id = json_get_str(bank, "id");
	json_t *acc = json_path_get(data, id);
	assert_non_null(acc);
	struct forms_opts o = {.today = TODAY};
	struct buf pdf = render(item, sub, data, &o);
	char *text = pdf_text(&pdf, "values", 0, 0);
	check_text(item, sub, data, text);
	const char *number = json_get_str(acc, "account");
	json_t *visible;
	json_t *ev = evaluated(sub, data, &visible);
	if (in_list(visible, id)) {
		assert_null(strstr(text, number)); /* never the whole number */
		expect_in(text, "last four", number + strlen(number) - 4, "values");
	}
	json_decref(ev);
	json_decref(visible);
	free(text);
	buf_release(&pdf);
	json_decref(data);
}

static void test_signatures_and_refusals(void **state)
{
	(void)state;
	const json_t *item = NULL;
	const json_t *sub = find_sub("310001012000-01", &item);
	assert_non_null(sub);
	json_t *data = catalog_form_sample(set->ref, sub, TODAY);
	struct forms_signature sig = {"applicant", PNG, sizeof(PNG)};
	struct forms_opts o = {.today = TODAY, .signatures = &sig, .nsignatures = 1};
	struct buf pdf = render(item, sub, data, &o);
	assert_non_null(memmem(pdf.p, pdf.len, "/Subtype /Image", 15));
	buf_release(&pdf);
	struct forms_opts plain = {.today = TODAY};
	pdf = render(item, sub, data, &plain);
	assert_null(memmem(pdf.p, pdf.len, "/Subtype /Image", 15));
	buf_release(&pdf);

	/* not a PNG, or a PNG claiming to be huge: refused, nothing written */
	unsigned char huge[sizeof(PNG)];
	memcpy(huge, PNG, sizeof(PNG));
	huge[18] = 0x7f; /* width 0x7f0001 */
	const struct forms_signature bad[] = {{"applicant", "GIF89a....", 10},
	                                      {"applicant", huge, sizeof(huge)}};
	for (size_t k = 0; k < 2; k++) {
		struct forms_opts ob = {.today = TODAY, .signatures = &bad[k], .nsignatures = 1};
		struct errinfo ei = {0};
		buf_init(&pdf, 1u << 20);
		assert_int_equal(forms_render_generated(set->ref, item, sub, data, &ob, &pdf, &ei),
		                 ERR_BAD_FIELD);
		assert_string_equal(ei.field, "signatures");
		assert_non_null(strstr(ei.msg, "PNG"));
		assert_int_equal(pdf.len, 0);
		buf_release(&pdf);
	}

	/* a PDF bigger than the buffer's cap: ERR_TOO_LARGE, not a truncated file */
	struct errinfo ei = {0};
	buf_init(&pdf, 2000);
	assert_int_equal(forms_render_generated(set->ref, item, sub, data, &plain, &pdf, &ei),
	                 ERR_TOO_LARGE);
	assert_int_equal(pdf.len, 0);
	buf_release(&pdf);
	json_decref(data);

	/* a fixed (制式) form is not generated */
	size_t i, j;
	json_t *it, *s;
	const json_t *fixed = NULL, *fixed_item = NULL;
	json_array_foreach (set->items, i, it)
		json_array_foreach (json_object_get(it, "sub_items"), j, s)
			if (!fixed &&
			    !strcmp(json_get_str(json_object_get(s, "application_form"), "kind"),
			            "fixed")) {
				fixed = s;
				fixed_item = it;
			}
	assert_non_null(fixed);
	buf_init(&pdf, 1u << 20);
	ei = (struct errinfo){0};
	assert_int_equal(forms_render_generated(set->ref, fixed_item, fixed, NULL, NULL, &pdf, &ei),
	                 ERR_BAD_STATE);
	assert_string_equal(ei.field, "application_form");
	assert_non_null(strstr(ei.msg, "制式"));
	buf_release(&pdf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_generated_sample),  cmocka_unit_test(test_two_pages),
	    cmocka_unit_test(test_group_and_when),          cmocka_unit_test(test_values),
	    cmocka_unit_test(test_signatures_and_refusals),
	};
	return cmocka_run_group_tests(tests, forms_setup, forms_teardown);
}
