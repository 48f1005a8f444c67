/* forms_fixture.h: the shipped catalog and a PDF read back, for the forms unit tests
 * (header-only, static; test_forms.c and test_fixed.c).
 *
 * State: `set` (the catalog of SHOULI_SOURCE_DIR/catalog), `catdir` (that directory) and
 * `tmpdir` (SHOULI_TEST_TMP, created), filled by forms_setup and freed by forms_teardown,
 * the group setup and teardown of a test file (or called from its own).
 * Reading back: pdf_save writes a rendered PDF, pdf_file_text / output_of run poppler-utils
 * (pdftotext, pdfinfo, pdfimages) on it. The expected text of a value (`expected`) is made
 * from the spec of docs/forms.md, not by the module's formatter.
 * Include it as "forms_fixture.h" (it is not a test itself: the CMake glob takes only
 * tests/unit/<module>/test_*.c). */
#ifndef SHOULI_TEST_FORMS_FIXTURE_H
#define SHOULI_TEST_FORMS_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "catalog/catalog.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "forms_sample.h"

#define TODAY "2026-03-02"

static struct catalog_set *set;
static char tmpdir[1024], catdir[1024];

static inline int forms_setup(void **state)
{
	(void)state;
	const char *src = getenv("SHOULI_SOURCE_DIR");
	const char *tmp = getenv("SHOULI_TEST_TMP");
	char cmd[1100];
	snprintf(catdir, sizeof(catdir), "%s/catalog", src ? src : ".");
	snprintf(tmpdir, sizeof(tmpdir), "%s", tmp ? tmp : "/tmp");
	snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", tmpdir);
	if (system(cmd) != 0)
		return -1;
	return sample_catalog_load(catdir, &set) ? -1 : 0;
}

static inline int forms_teardown(void **state)
{
	(void)state;
	catalog_set_destroy(set);
	return 0;
}

static inline const json_t *find_sub(const char *code, const json_t **item_out)
{
	size_t i, j;
	json_t *it, *s;
	json_array_foreach (set->items, i, it)
		json_array_foreach (json_object_get(it, "sub_items"), j, s)
			if (!strcmp(json_get_str(s, "code"), code)) {
				*item_out = it;
				return s;
			}
	return NULL;
}

/* ---- the PDF read back ---- */

static inline void pdf_save(const struct buf *pdf, const char *path)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(pdf->p, 1, pdf->len, f), pdf->len);
	fclose(f);
}

/* The output of cmd, with every white-space byte removed unless keep_space. Heap; free it. */
static inline char *output_of(const char *cmd, bool keep_space)
{
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	struct buf out;
	buf_init(&out, 16u << 20);
	int c;
	while ((c = fgetc(p)) != EOF)
		if (keep_space || (c != ' ' && c != '\n' && c != '\t' && c != '\r' && c != '\f'))
			buf_putc(&out, (char)c);
	int rc = pclose(p);
	if (rc != 0)
		fail_msg("%s failed (%d): is poppler-utils installed? (scripts/install-deps.sh "
		         "--test)",
		         cmd, rc);
	char *s = buf_detach(&out, NULL);
	return s ? s : strdup("");
}

/* The text of the PDF file's pages first..last (0, 0 = all) with every white-space byte
 * removed: a value wrapped over two lines still reads as one string. Heap; free it. */
static inline char *pdf_file_text(const char *path, int first, int last)
{
	char cmd[2400];
	if (first)
		snprintf(cmd, sizeof(cmd), "pdftotext -q -raw -enc UTF-8 -f %d -l %d '%s' -", first,
		         last, path);
	else
		snprintf(cmd, sizeof(cmd), "pdftotext -q -raw -enc UTF-8 '%s' -", path);
	return output_of(cmd, false);
}

/* Removes the white space pdf_file_text removes (in place). */
static inline void strip(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++)
		if (*r != ' ' && *r != '\n' && *r != '\t' && *r != '\r')
			*w++ = *r;
	*w = 0;
}

static inline int count_of(const char *text, const char *needle)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- what the spec says a value reads as (docs/forms.md "Values") ---- */

static inline const char *name_of(const char *table, const char *code)
{
	const char *n = json_get_str(catalog_ref_code_entry(set->ref, table, code), "name");
	return n ? n : code;
}

/* Appends to o the text of value v of field def. A date reads YYYY年MM月DD日 on a generated
 * form; on a fixed one only its numbers, as the template prints 年 月 日. */
static inline void expected(struct buf *o, const json_t *def, const json_t *v, bool fixed)
{
	const char *type = json_get_str(def, "type");
	const char *table = json_get_str(def, "code_table");
	if (catalog_value_empty(v))
		return;
	if (!strcmp(type, "boolean")) {
		buf_puts(o, json_is_true(v) ? "是" : "否");
	} else if (!strcmp(type, "date")) {
		int y, m, d;
		assert_true(time_date_parse(json_string_value(v), 1, 9999, &y, &m, &d));
		if (fixed)
			buf_printf(o, "%04d%02d%02d", y, m, d);
		else
			buf_printf(o, "%04d年%02d月%02d日", y, m, d);
	} else if (!strcmp(type, "enum") && json_is_array(v)) {
		size_t i;
		json_t *c;
		json_array_foreach (v, i, c)
			buf_printf(o, "%s%s", i ? "、" : "", name_of(table, json_string_value(c)));
	} else if (!strcmp(type, "enum")) {
		buf_puts(o, name_of(table, json_string_value(v)));
	} else if (!strcmp(type, "id_document")) {
		buf_printf(o, "%s%s", name_of("id_doc_type", json_get_str(v, "type")),
		           json_get_str(v, "number"));
	} else if (!strcmp(type, "address")) {
		const char *dist = json_get_str(v, "district");
		buf_printf(o, "%s%s%s%s", dist ? name_of("district", dist) : "",
		           json_get_str(v, "street") ? json_get_str(v, "street") : "",
		           json_get_str(v, "neighbourhood") ? json_get_str(v, "neighbourhood") : "",
		           json_get_str(v, "detail") ? json_get_str(v, "detail") : "");
	} else if (!strcmp(type, "bank_account")) {
		const char *acc = json_get_str(v, "account");
		size_t n = strlen(acc);
		buf_puts(o, name_of("bank", json_get_str(v, "bank")));
		for (size_t i = 0; i + 4 < n; i++)
			buf_putc(o, '*');
		buf_printf(o, "%s户名：%s", acc + (n > 4 ? n - 4 : 0), json_get_str(v, "holder"));
	} else if (!strcmp(type, "money")) {
		buf_printf(o, "%.2f", json_number_value(v));
	} else if (json_is_integer(v)) {
		buf_printf(o, "%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		buf_printf(o, "%.15g", json_real_value(v));
	} else if (json_is_string(v)) {
		buf_puts(o, json_string_value(v));
	}
}

static inline const json_t *def_of(const json_t *fields, const char *id)
{
	size_t i;
	json_t *f;
	json_array_foreach (fields, i, f)
		if (!strcmp(json_get_str(f, "id"), id))
			return f;
	return NULL;
}

static inline bool in_list(const json_t *list, const char *s)
{
	size_t i;
	json_t *v;
	json_array_foreach (list, i, v)
		if (!strcmp(json_string_value(v), s))
			return true;
	return false;
}

/* Whether the `when` expression src (NULL: always) holds for data on TODAY. */
static inline bool holds(const char *src, const json_t *data)
{
	if (!src)
		return true;
	struct arena a;
	struct catalog_expr *x;
	const char *why;
	arena_init(&a, 0);
	assert_int_equal(catalog_expr_parse(src, &a, &x, &why), ERR_OK);
	json_t *v = catalog_expr_eval(x, data, NULL, TODAY);
	bool on = catalog_expr_truthy(v);
	json_decref(v);
	arena_release(&a);
	return on;
}

/* The images of a PDF (pdfimages -list), not counting PNG alpha masks. */
static inline int images_in(const char *path)
{
	char cmd[1400];
	snprintf(cmd, sizeof(cmd), "pdfimages -list '%s'", path);
	char *list = output_of(cmd, true);
	int n = 0, page, num;
	char type[16];
	/* "page num type …" after two lines of header; a PNG's alpha is a second "smask" */
	for (char *line = strchr(list, '\n'); line; line = strchr(line + 1, '\n'))
		if (sscanf(line + 1, "%d %d %15s", &page, &num, type) == 3 &&
		    !strcmp(type, "image"))
			n++;
	free(list);
	return n;
}

#endif
