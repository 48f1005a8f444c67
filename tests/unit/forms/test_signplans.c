/* Every signature plan of the catalog prints (seed: e-signatures for at least 100 items of 8
 * departments, 一表多签 and 承诺确认 on the items the seed names): for each sub-item that has an
 * application form and signers, the form is rendered from its sample data with a signature
 * image for every signer of the plan, and read back: one image per signer whose `when` holds
 * on the data, and the text of every commitment. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "forms/forms.h"
#include "forms_fixture.h"

/* The commitment's first characters up to the first punctuation: pdftotext breaks long
 * lines where the layout wraps them, so the whole text is not one run of the output. */
static void head_of(const char *text, char *out, size_t outsz)
{
	size_t n = 0;
	const char *p = text;
	while (*p && n + 4 < outsz) {
		if (!strncmp(p, "，", 3) || !strncmp(p, "。", 3) || !strncmp(p, "、", 3) ||
		    !strncmp(p, "；", 3))
			break;
		size_t len = ((unsigned char)*p >= 0xE0) ? 3 : ((unsigned char)*p >= 0xC0 ? 2 : 1);
		if (n >= 18) /* six CJK characters are enough to be sure, and fit on a line */
			break;
		memcpy(out + n, p, len);
		n += len;
		p += len;
	}
	out[n] = '\0';
}

static void test_every_signature_plan_prints(void **state)
{
	(void)state;
	size_t i, j, k;
	json_t *it, *s, *c;
	int forms = 0, multi = 0, committed = 0, items_signed = 0;
	char depts[32][24];
	int ndepts = 0;
	struct buf pdf;
	buf_init(&pdf, 32u << 20);
	json_array_foreach (set->items, i, it) {
		bool item_counted = false;
		json_array_foreach (json_object_get(it, "sub_items"), j, s) {
			const char *kind =
			    json_get_str(json_object_get(s, "application_form"), "kind");
			const json_t *plan = json_object_get(s, "signatures");
			const json_t *signers = json_object_get(plan, "signers");
			if (!kind || !strcmp(kind, "none") || !json_array_size(signers))
				continue;
			json_t *data = catalog_form_sample(set->ref, s, TODAY);
			assert_non_null(data);
			struct forms_signature sig[16];
			size_t n = 0;
			int want = 0;
			json_array_foreach (signers, k, c) {
				assert_true(n < 16);
				sig[n++] = (struct forms_signature){json_get_str(c, "role"),
				                                    (const char *)PNG, sizeof(PNG)};
				if (holds(json_get_str(c, "when"), data))
					want++;
			}
			struct forms_opts o = {.today = TODAY,
			                       .catalog_dir = catdir,
			                       .signatures = sig,
			                       .nsignatures = n,
			                       .case_no = "310104014C1-20260302-000001"};
			struct errinfo ei = {0};
			buf_reset(&pdf);
			const char *code = json_get_str(s, "code");
			enum err e = forms_render(set->ref, it, s, data, &o, &pdf, &ei);
			if (e)
				fail_msg("%s: %s (%s: %s)", code, err_code(e),
				         ei.field ? ei.field : "", ei.msg ? ei.msg : "");
			char path[1200];
			snprintf(path, sizeof(path), "%s/signplan-%s.pdf", tmpdir, code);
			pdf_save(&pdf, path);
			int got = images_in(path);
			if (got != want)
				fail_msg("%s: %d signature images, %d signers sign on this data",
				         code, got, want);
			const json_t *commitments = json_object_get(plan, "commitments");
			if (json_array_size(commitments)) {
				char *text = pdf_file_text(path, 0, 0);
				strip(text);
				json_array_foreach (commitments, k, c) {
					char head[64];
					head_of(json_get_str(c, "text"), head, sizeof(head));
					if (!strstr(text, head))
						fail_msg("%s: commitment “%s” not in the form",
						         code, head);
				}
				free(text);
				committed++;
			}
			if (json_is_true(json_object_get(plan, "multi_sign")))
				multi++;
			unlink(path);
			json_decref(data);
			forms++;
			if (!item_counted) {
				item_counted = true;
				items_signed++;
				const char *dept = json_get_str(it, "department");
				int d = 0;
				while (d < ndepts && strcmp(depts[d], dept))
					d++;
				if (d == ndepts && ndepts < 32)
					snprintf(depts[ndepts++], sizeof(depts[0]), "%s", dept);
			}
		}
	}
	buf_release(&pdf);
	/* the seed's floor: e-signatures on at least 100 items of 8 departments */
	assert_true(items_signed >= 100);
	assert_true(ndepts >= 8);
	assert_true(multi >= 20);
	assert_true(committed >= 100);
	print_message("%d forms (%d items, %d departments, %d 一表多签, %d with commitments)\n",
	              forms, items_signed, ndepts, multi, committed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_signature_plan_prints),
	};
	return cmocka_run_group_tests(tests, forms_setup, forms_teardown);
}
