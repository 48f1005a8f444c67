/* Fixed (制式) application forms and the face they are printed in (src/forms/).
 *
 * Fixed forms: real catalog sub-items with their sample data are printed into their
 * templates and read back with pdftotext and pdfimages: every value at a position is there
 * (the expected text made here from docs/forms.md, not by the module's formatter), each
 * chosen option of a listed enum or boolean is a ✓ (as many ✓ as chosen options shown), the
 * template's own text is all still there in its order, one image per signature box of a
 * signer given a signature. A missing template is ERR_BAD_STATE on application_form.
 *
 * The face: cairo 1.16 drew 如 blank in the system Noto Sans CJK SC (docs/forms.md). Forms
 * whose title is one character are rasterised with pdftoppm and the title's box must have
 * ink — 如 among other characters, and 堃, which the face lacks and the system face draws.
 * With the system face (SHOULI_FORMS_FONT=/nonexistent) this test fails on 如. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "forms/forms.h"
#include "forms_fixture.h"

static int run(const char *cmd)
{
	int rc = system(cmd);
	return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static int setup(void **state)
{
	const char *src = getenv("SHOULI_SOURCE_DIR");
	char cmd[4200], exe[1024];
	/* the face next to this binary, as `make build` makes it next to shouli (a no-op when
	 * it is up to date); SHOULI_FORMS_FONT, when set, is what is tested instead */
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = 0;
	*strrchr(exe, '/') = 0;
	snprintf(cmd, sizeof(cmd), "bash '%s/scripts/make-font.sh' '%s/fonts'", src ? src : ".",
	         exe);
	if (!getenv("SHOULI_FORMS_FONT") && run(cmd) != 0)
		return -1;
	return forms_setup(state);
}

static int pages_of(const char *path)
{
	char cmd[1400];
	int n = 0;
	snprintf(cmd, sizeof(cmd), "pdfinfo '%s'", path);
	char *info = output_of(cmd, false);
	const char *p = strstr(info, "Pages:");
	if (p)
		n = (int)strtol(p + 6, NULL, 10);
	free(info);
	return n;
}

/* What a fixed form of sub filled with data must show. */
struct expect {
	struct buf values; /* each value, NUL-separated */
	int nvalues, ticks, images;
};

static void expect_of(const json_t *sub, const json_t *data, struct expect *x)
{
	struct catalog_form_result r;
	const json_t *fields = json_object_get(json_object_get(sub, "form"), "fields");
	const json_t *layout = json_object_get(sub, "application_form");
	size_t i, k;
	const json_t *pos, *c;
	buf_init(&x->values, 1u << 20);
	assert_int_equal(catalog_form_evaluate(set->ref, sub, data, TODAY, &r), ERR_OK);
	json_array_foreach (json_object_get(layout, "fields"), i, pos) {
		const char *ref = json_get_str(pos, "field");
		const char *br = strchr(ref, '[');
		const json_t *def, *v;
		if (br) { /* "<group>[n].<field>" */
			char group[200];
			int n;
			snprintf(group, sizeof(group), "%.*s", (int)(br - ref), ref);
			assert_int_equal(sscanf(br, "[%d]", &n), 1);
			const char *sub_id = strchr(br, '.') + 1;
			def = def_of(json_object_get(def_of(fields, group), "fields"), sub_id);
			v = json_object_get(json_array_get(json_path_get(data, group), (size_t)n),
			                    sub_id);
			const json_t *cv = json_object_get(r.computed, ref);
			if (cv)
				v = cv;
		} else {
			def = def_of(fields, ref);
			v = json_object_get(r.computed, ref) ? json_object_get(r.computed, ref)
			                                     : json_path_get(data, ref);
		}
		if (!def) /* a member of a compound value: not in the catalog's fixed forms */
			fail_msg("%s: position %s is not a field", json_get_str(sub, "code"), ref);
		if (!in_list(r.visible, ref) || catalog_value_empty(v))
			continue;
		const json_t *choices = json_object_get(pos, "choices");
		int ticks = 0;
		json_array_foreach (choices, k, c) {
			const char *code = json_get_str(c, "code");
			bool on = json_is_boolean(v)
			              ? !strcmp(code, json_is_true(v) ? "true" : "false")
			          : json_is_string(v) ? !strcmp(code, json_string_value(v))
			                              : in_list(v, code);
			ticks += on;
		}
		x->ticks += ticks;
		if (ticks)
			continue;
		size_t at = x->values.len;
		expected(&x->values, def, v, true);
		if (x->values.len > at) {
			buf_putc(&x->values, 0);
			x->nvalues++;
		}
	}
	const json_t *signers = json_object_get(json_object_get(sub, "signatures"), "signers");
	json_array_foreach (json_object_get(layout, "signature_boxes"), i, pos)
		json_array_foreach (signers, k, c)
			if (!strcmp(json_get_str(c, "role"), json_get_str(pos, "signer")) &&
			    holds(json_get_str(c, "when"), data))
				x->images++;
	catalog_form_result_release(&r);
}

/* ---- fixed forms ---- */

static void check_fixed(const json_t *item, const json_t *sub, int *values_seen)
{
	const char *code = json_get_str(sub, "code");
	const json_t *layout = json_object_get(sub, "application_form");
	json_t *data = catalog_form_sample(set->ref, sub, TODAY);
	struct forms_signature sigs[16];
	size_t nsig = 0, i;
	const json_t *g;
	json_array_foreach (json_object_get(json_object_get(sub, "signatures"), "signers"), i, g)
		if (nsig < 16)
			sigs[nsig++] =
			    (struct forms_signature){json_get_str(g, "role"), PNG, sizeof(PNG)};
	struct forms_opts o = {.today = TODAY,
	                       .case_no = "310104014C1-20260302-000042",
	                       .signatures = sigs,
	                       .nsignatures = nsig,
	                       .catalog_dir = catdir};
	struct buf pdf;
	struct errinfo ei = {0};
	buf_init(&pdf, 32u << 20);
	enum err e = forms_render(set->ref, item, sub, data, &o, &pdf, &ei);
	if (e)
		fail_msg("%s: render failed: %s %s", code, err_code(e), ei.msg ? ei.msg : "");
	assert_memory_equal(pdf.p, "%PDF-", 5);

	char path[1200], tpl[2200];
	snprintf(path, sizeof(path), "%s/fixed-%s.pdf", tmpdir, code);
	snprintf(tpl, sizeof(tpl), "%s/%s", catdir, json_get_str(layout, "template"));
	pdf_save(&pdf, path);
	/* each page: the template's text, all of it and in its order, then ours */
	int pages = pages_of(tpl);
	struct buf overlay;
	buf_init(&overlay, 1u << 20);
	assert_true(pages >= 1);
	assert_int_equal(pages_of(path), pages);
	for (int p = 1; p <= pages; p++) {
		char *text = pdf_file_text(path, p, p), *orig = pdf_file_text(tpl, p, p);
		assert_true(strlen(orig) > 10);
		if (strncmp(text, orig, strlen(orig)))
			fail_msg("%s: the template's own text of page %d is not kept", code, p);
		buf_puts(&overlay, text + strlen(orig));
		free(text);
		free(orig);
	}
	const char *ours = overlay.p ? overlay.p : "";

	struct expect x = {0};
	expect_of(sub, data, &x);
	const char *v = x.values.p;
	for (int k = 0; k < x.nvalues; k++, v += strlen(v) + 1) {
		char *w = strdup(v);
		strip(w);
		if (!strstr(ours, w))
			fail_msg("%s: value “%s” is not printed", code, v);
		free(w);
	}
	if (count_of(ours, "✓") != x.ticks)
		fail_msg("%s: %d ✓ printed, %d options chosen", code, count_of(ours, "✓"), x.ticks);
	if (images_in(path) != x.images)
		fail_msg("%s: %d images, %d signature boxes of signers", code, images_in(path),
		         x.images);
	assert_non_null(strstr(ours, "310104014C1-20260302-000042"));
	*values_seen += x.nvalues + x.ticks;
	buf_release(&overlay);
	buf_release(&x.values);
	buf_release(&pdf);
	json_decref(data);
}

/* Every fourth fixed sub-item of the catalog, in catalog order: a spread over the
 * departments (all 125 take four times as long; their positions are generated alike). */
static void test_fixed_samples(void **state)
{
	(void)state;
	size_t i, j, seen = 0;
	json_t *it, *s;
	int forms = 0, values = 0;
	json_array_foreach (set->items, i, it)
		json_array_foreach (json_object_get(it, "sub_items"), j, s) {
			const char *kind =
			    json_get_str(json_object_get(s, "application_form"), "kind");
			if (strcmp(kind, "fixed") || seen++ % 4)
				continue;
			check_fixed(it, s, &values);
			forms++;
		}
	assert_true(forms >= 30);
	assert_true(values >= forms * 5);
}

/* The dates of a form go into the template's 年 月 日: the numbers only, once each. */
static void test_fixed_dates_and_missing_template(void **state)
{
	(void)state;
	size_t i, j, k;
	json_t *it, *s, *pos;
	const json_t *item = NULL, *sub = NULL;
	const char *date_field = NULL;
	json_array_foreach (set->items, i, it)
		json_array_foreach (json_object_get(it, "sub_items"), j, s) {
			const json_t *layout = json_object_get(s, "application_form");
			if (sub || strcmp(json_get_str(layout, "kind"), "fixed"))
				continue;
			json_array_foreach (json_object_get(layout, "fields"), k, pos) {
				const json_t *def =
				    def_of(json_object_get(json_object_get(s, "form"), "fields"),
				           json_get_str(pos, "field"));
				if (!sub && def && !strcmp(json_get_str(def, "type"), "date")) {
					item = it;
					sub = s;
					date_field = json_get_str(pos, "field");
				}
			}
		}
	assert_non_null(sub);
	json_t *data = catalog_form_sample(set->ref, sub, TODAY);
	json_path_set_new(data, date_field, json_string("2019-07-04"));
	struct forms_opts o = {.today = TODAY, .catalog_dir = catdir};
	struct buf pdf;
	struct errinfo ei = {0};
	buf_init(&pdf, 32u << 20);
	assert_int_equal(forms_render_fixed(set->ref, item, sub, data, &o, &pdf, &ei), ERR_OK);
	char path[1200];
	snprintf(path, sizeof(path), "%s/fixed-date.pdf", tmpdir);
	pdf_save(&pdf, path);
	char *text = pdf_file_text(path, 0, 0);
	assert_non_null(strstr(text, "2019"));
	assert_non_null(strstr(text, "07"));
	assert_null(strstr(text, "2019年07月04日")); /* the template's 年月日 are not doubled */
	free(text);
	buf_release(&pdf);

	/* no template file: refused on application_form, nothing written */
	char empty[1100];
	snprintf(empty, sizeof(empty), "%s/no-catalog", tmpdir);
	o.catalog_dir = empty;
	buf_init(&pdf, 32u << 20);
	ei = (struct errinfo){0};
	assert_int_equal(forms_render(set->ref, item, sub, data, &o, &pdf, &ei), ERR_BAD_STATE);
	assert_string_equal(ei.field, "application_form");
	assert_non_null(strstr(ei.msg, "模板"));
	assert_int_equal(pdf.len, 0);

	/* a bad signature is refused as on generated forms */
	const struct forms_signature bad = {
	    json_get_str(
	        json_array_get(json_object_get(json_object_get(sub, "signatures"), "signers"), 0),
	        "role"),
	    "GIF89a....", 10};
	o.catalog_dir = catdir;
	o.signatures = &bad;
	o.nsignatures = 1;
	ei = (struct errinfo){0};
	assert_int_equal(forms_render_fixed(set->ref, item, sub, data, &o, &pdf, &ei),
	                 ERR_BAD_FIELD);
	assert_string_equal(ei.field, "signatures");
	assert_int_equal(pdf.len, 0);

	/* forms_render_fixed on a generated form is refused */
	const json_t *gitem = NULL;
	const json_t *gen = find_sub("310001012000-01", &gitem);
	assert_non_null(gen);
	ei = (struct errinfo){0};
	assert_int_equal(forms_render_fixed(set->ref, gitem, gen, NULL, &o, &pdf, &ei),
	                 ERR_BAD_STATE);
	assert_string_equal(ei.field, "application_form");
	buf_release(&pdf);
	json_decref(data);
}

/* ---- the face: 如 and others have ink ---- */

/* Dark pixels of the title box (the centre of the top of page 1, where a one-character
 * title is drawn at 17 pt) rasterised at 150 dpi. */
static int title_ink(const char *pdf_path, const char *name)
{
	char cmd[2600], pgm[1200];
	/* A4 at 150 dpi: 1240 px wide; the title's line is 48–72 pt from the top */
	snprintf(pgm, sizeof(pgm), "%s/ink-%s", tmpdir, name);
	snprintf(cmd, sizeof(cmd),
	         "pdftoppm -q -r 150 -gray -f 1 -l 1 -x 560 -y 96 -W 120 -H 56 -singlefile '%s' "
	         "'%s'",
	         pdf_path, pgm);
	assert_int_equal(run(cmd), 0);
	char file[1300];
	snprintf(file, sizeof(file), "%s.pgm", pgm);
	FILE *f = fopen(file, "rb");
	assert_non_null(f);
	int w, h, max;
	assert_int_equal(fscanf(f, "P5 %d %d %d", &w, &h, &max), 3);
	fgetc(f);
	int dark = 0, c;
	while ((c = fgetc(f)) != EOF)
		dark += c < 128;
	fclose(f);
	return dark;
}

static void test_glyphs_have_ink(void **state)
{
	(void)state;
	/* one character per form, drawn as the title: 如 was the blank one */
	static const char *const chars[] = {"如", "有", "虚", "假", "申", "请", "签", "A", "堃"};
	json_t *item = json_pack("{s:s}", "department", "mz");
	for (size_t i = 0; i < sizeof(chars) / sizeof(chars[0]); i++) {
		json_t *sub = json_pack(
		    "{s:s, s:s, s:{s:[]}, s:{s:s, s:s, s:[]}, s:{s:[], s:[{s:s, s:s}]}}", "code",
		    "000000000000-01", "name", chars[i], "form", "fields", "application_form",
		    "kind", "generated", "title", chars[i], "sections", "signatures", "signers",
		    "commitments", "id", "truth", "text", "本人承诺如有虚假愿承担相应责任。");
		assert_non_null(sub);
		struct buf pdf;
		struct errinfo ei = {0};
		struct forms_opts o = {.today = TODAY};
		buf_init(&pdf, 8u << 20);
		enum err e = forms_render_generated(set->ref, item, sub, NULL, &o, &pdf, &ei);
		if (e)
			fail_msg("render failed: %s %s", err_code(e), ei.msg ? ei.msg : "");
		char path[1200], name[32];
		snprintf(name, sizeof(name), "glyph-%zu", i);
		snprintf(path, sizeof(path), "%s/%s.pdf", tmpdir, name);
		pdf_save(&pdf, path);
		char *text = pdf_file_text(path, 0, 0);
		assert_non_null(strstr(text, "如有虚假"));
		int ink = title_ink(path, name);
		if (ink < 40)
			fail_msg("“%s” is drawn blank (%d dark pixels): the face's glyph is broken",
			         chars[i], ink);
		/* 堃 is in neither GB 2312 nor the catalog: not in Shouli Sans, it comes from the
		 * system face (embedded as well) */
		if (!strcmp(chars[i], "堃") && memmem(pdf.p, pdf.len, "+ShouliSans-Regular", 19))
			assert_non_null(memmem(pdf.p, pdf.len, "+NotoSansCJK", 12));
		free(text);
		buf_release(&pdf);
		json_decref(sub);
	}
	json_decref(item);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_glyphs_have_ink),
	    cmocka_unit_test(test_fixed_samples),
	    cmocka_unit_test(test_fixed_dates_and_missing_template),
	};
	return cmocka_run_group_tests(tests, setup, forms_teardown);
}
