/* bench/forms.c: application forms rendered to PDF (src/forms/), no server.
 *
 *   bench_forms [catalog dir] [rounds]     (defaults: ./catalog, 10; run it from the repo)
 *
 * Loads the catalog and, for each kind — `generated`, then `fixed` (制式: the template with
 * the values laid over it) — takes up to 20 sub-items of that kind in catalog order, fills
 * each with its sample data (fixed forms also get a signature image for every signer) and
 * renders it rounds times after one warm-up render (the first render of a thread loads the
 * fonts: printed apart). Prints per form the median ms, pages and bytes, then p50/p95 over
 * all renders and where the time went. It prints figures; it does not pass or fail.
 * SHOULI_FORMS_FONT=/nonexistent measures the system Noto face instead of Shouli Sans. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/timeutil.h"
#include "forms/forms.h"
#include "../tests/unit/forms/forms_sample.h"

#define MAX_FORMS 20
#define TODAY     "2026-03-02"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static bool of_kind(const json_t *sub, const char *want)
{
	const char *kind = json_get_str(json_object_get(sub, "application_form"), "kind");
	return kind && !strcmp(kind, want);
}

static int bench_kind(const struct catalog_set *set, const char *dir, const char *kind,
                      int64_t rounds);

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "catalog";
	int64_t rounds = 10;
	if (argc > 2 && !cstr_to_i64(argv[2], 1, 10000, &rounds)) {
		fprintf(stderr, "usage: bench_forms [catalog dir] [rounds]\n");
		return 2;
	}
	struct catalog_set *set = NULL;
	if (sample_catalog_load(dir, &set))
		return 1;
	int rc = bench_kind(set, dir, "generated", rounds);
	if (!rc)
		rc = bench_kind(set, dir, "fixed", rounds);
	catalog_set_destroy(set);
	return rc;
}

static int bench_kind(const struct catalog_set *set, const char *dir, const char *kind,
                      int64_t rounds)
{
	const json_t *items[MAX_FORMS], *subs[MAX_FORMS];
	size_t n = 0, i, j;
	json_t *it, *s;
	json_array_foreach (set->items, i, it)
		json_array_foreach (json_object_get(it, "sub_items"), j, s)
			if (n < MAX_FORMS && of_kind(s, kind)) {
				items[n] = it;
				subs[n++] = s;
			}
	int64_t *all = calloc((size_t)(n * (size_t)rounds), sizeof(*all));
	int64_t *mine = calloc((size_t)rounds, sizeof(*mine));
	int64_t ev = 0, lay = 0, draw = 0, first_ns = 0;
	size_t na = 0;
	if (!all || !mine)
		return 1;
	printf("\n== %s forms\n%-18s %8s %6s %9s  %s\n", kind, "sub-item", "ms p50", "pages",
	       "bytes", "name");
	for (size_t k = 0; k < n; k++) {
		json_t *data = catalog_form_sample(set->ref, subs[k], TODAY);
		struct forms_timing t = {0};
		struct forms_signature sigs[16];
		size_t nsig = 0, q;
		json_t *g;
		json_array_foreach (
		    json_object_get(json_object_get(subs[k], "signatures"), "signers"), q, g)
			if (nsig < 16 && !strcmp(kind, "fixed"))
				sigs[nsig++] = (struct forms_signature){json_get_str(g, "role"),
				                                        PNG, sizeof(PNG)};
		struct forms_opts o = {.today = TODAY,
		                       .case_no = "310104014C1-20260302-000042",
		                       .org_name = "徐汇区湖南路街道社区事务受理服务中心",
		                       .signatures = sigs,
		                       .nsignatures = nsig,
		                       .timing = &t,
		                       .catalog_dir = dir};
		struct buf pdf;
		struct errinfo ei = {0};
		for (int64_t r = -1; r < rounds; r++) {
			buf_init(&pdf, 32u << 20);
			int64_t t0 = time_mono_ns();
			enum err e = forms_render(set->ref, items[k], subs[k], data, &o, &pdf, &ei);
			int64_t dt = time_mono_ns() - t0;
			buf_release(&pdf);
			if (e) {
				fprintf(stderr, "%s: %s %s\n", json_get_str(subs[k], "code"),
				        err_code(e), ei.msg ? ei.msg : "");
				json_decref(data);
				free(all);
				free(mine);
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
	if (total > 0 && !strcmp(kind, "generated"))
		printf("time: evaluate %.0f%%, layout (pango) %.0f%%, draw + PDF (cairo, font "
		       "subsets) %.0f%%\n",
		       100.0 * ev / total, 100.0 * lay / total, 100.0 * draw / total);
	else if (total > 0)
		printf(
		    "time: evaluate %.0f%%, overlay (pango + cairo) %.0f%%, merge (qpdf) %.0f%%\n",
		    100.0 * ev / total, 100.0 * lay / total, 100.0 * draw / total);
	free(all);
	free(mine);
	return 0;
}
