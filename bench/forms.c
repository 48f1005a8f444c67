/* bench/forms.c: generated application forms rendered to PDF (src/forms/), no server.
 *
 *   bench_forms [catalog dir] [rounds]     (defaults: ./catalog, 10; run it from the repo)
 *
 * Loads the catalog, takes up to 20 sub-items whose application form is `generated` (every
 * one of them today, in catalog order), fills each with its sample data and renders it
 * rounds times after one warm-up render (the first render of a thread loads the fonts:
 * printed apart). Prints per form the median ms, pages and bytes, then p50/p95 over all
 * renders and where the time went (evaluate / layout / draw). It prints figures; it does
 * not pass or fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "forms/forms.h"

#define MAX_FORMS 20
#define TODAY     "2026-03-02"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static bool generated(const json_t *sub)
{
	const char *kind = json_get_str(json_object_get(sub, "application_form"), "kind");
	return kind && !strcmp(kind, "generated");
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "catalog";
	int64_t rounds = 10;
	if (argc > 2 && !cstr_to_i64(argv[2], 1, 10000, &rounds)) {
		fprintf(stderr, "usage: bench_forms [catalog dir] [rounds]\n");
		return 2;
	}
	struct arena a;
	struct catalog_problems pr;
	struct catalog_set *set = NULL;
	arena_init(&a, 0);
	catalog_problems_init(&pr, &a);
	if (catalog_load_dir(dir, &set, &pr)) {
		catalog_problems_print(&pr, stderr);
		return 1;
	}
	const json_t *items[MAX_FORMS], *subs[MAX_FORMS];
	size_t n = 0, i, j;
	json_t *it, *s;
	json_array_foreach (set->items, i, it)
		json_array_foreach (json_object_get(it, "sub_items"), j, s)
			if (n < MAX_FORMS && generated(s)) {
				items[n] = it;
				subs[n++] = s;
			}
	int64_t *all = calloc((size_t)(n * (size_t)rounds), sizeof(*all));
	int64_t *mine = calloc((size_t)rounds, sizeof(*mine));
	int64_t ev = 0, lay = 0, draw = 0, first_ns = 0;
	size_t na = 0;
	if (!all || !mine)
		return 1;
	printf("%-18s %8s %6s %9s  %s\n", "sub-item", "ms p50", "pages", "bytes", "name");
	for (size_t k = 0; k < n; k++) {
		json_t *data = catalog_form_sample(set->ref, subs[k], TODAY);
		struct forms_timing t = {0};
		struct forms_opts o = {.today = TODAY,
		                       .case_no = "310104014C1-20260302-000042",
		                       .org_name = "徐汇区湖南路街道社区事务受理服务中心",
		                       .timing = &t};
		struct buf pdf;
		struct errinfo ei = {0};
		for (int64_t r = -1; r < rounds; r++) {
			buf_init(&pdf, 32u << 20);
			int64_t t0 = time_mono_ns();
			enum err e = forms_render_generated(set->ref, items[k], subs[k], data, &o,
			                                    &pdf, &ei);
			int64_t dt = time_mono_ns() - t0;
			buf_release(&pdf);
			if (e) {
				fprintf(stderr, "%s: %s %s\n", json_get_str(subs[k], "code"),
				        err_code(e), ei.msg ? ei.msg : "");
				return 1;
			}
			if (r < 0) {
				if (k == 0)
					first_ns = dt;
				continue;
			}
			mine[r] = dt;
			all[na++] = dt;
			ev += t.evaluate_ns;
			lay += t.layout_ns;
			draw += t.draw_ns;
		}
		qsort(mine, (size_t)rounds, sizeof(*mine), cmp_i64);
		printf("%-18s %8.2f %6d %9zu  %s\n", json_get_str(subs[k], "code"),
		       mine[rounds / 2] / 1e6, t.pages, t.bytes, json_get_str(subs[k], "name"));
		json_decref(data);
	}
	qsort(all, na, sizeof(*all), cmp_i64);
	int64_t total = ev + lay + draw;
	printf("\n%zu forms × %lld renders: p50 %.2f ms, p95 %.2f ms, max %.2f ms\n", n,
	       (long long)rounds, all[na / 2] / 1e6, all[na * 95 / 100] / 1e6, all[na - 1] / 1e6);
	printf("first render of the thread (fonts loaded): %.2f ms\n", first_ns / 1e6);
	if (total > 0)
		printf("time: evaluate %.0f%%, layout (pango) %.0f%%, draw + PDF (cairo, font "
		       "subsets) %.0f%%\n",
		       100.0 * ev / total, 100.0 * lay / total, 100.0 * draw / total);
	free(all);
	free(mine);
	catalog_set_destroy(set);
	catalog_problems_release(&pr);
	arena_release(&a);
	return 0;
}
