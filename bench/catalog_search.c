/* bench/catalog_search.c: latency of the catalog search index (prints figures; never a test).
 *
 *   bench_catalog_search [--catalog DIR] [--queries N] [--scale K]
 *
 * Loads the catalog directory (default catalog/) with catalog_load_dir, builds the snapshot
 * the server builds (catalog_snapshot_build) and runs N random queries (default 10,000)
 * drawn from what clerks type: initials and their prefixes, name and short-name prefixes,
 * pinyin with and without spaces, basic and sub-item codes, substrings of names, and a few
 * misses. Each query asks for the top 20, as GET /api/v1/catalog/items does. Prints the
 * build time and p50/p99/max per query in microseconds. --scale K multiplies the catalog K
 * times (copies with other codes) to show how the linear scan grows. */
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog_admin_int.h"
#include "core/str.h"
#include "core/timeutil.h"

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* A prefix of s of between 1 and all of its characters (UTF-8 aware). */
static void utf8_prefix(const char *s, char *out, size_t outsz, unsigned *seed)
{
	size_t chars = utf8_len(s, strlen(s));
	size_t want = chars ? 1 + (size_t)rand_r(seed) % chars : 0;
	size_t i = 0, k = 0;
	while (s[i] && k < want) {
		i++;
		while ((s[i] & 0xC0) == 0x80)
			i++;
		k++;
	}
	snprintf(out, outsz, "%.*s", (int)i, s);
}

static const char *str_of(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

static void make_query(const json_t *items, char *q, size_t qn, unsigned *seed)
{
	const json_t *it = json_array_get(items, (size_t)rand_r(seed) % json_array_size(items));
	const json_t *subs = json_object_get(it, "sub_items");
	const json_t *sub =
	    json_array_get(subs, (size_t)rand_r(seed) % (json_array_size(subs) + 1));
	char tmp[256];
	switch (rand_r(seed) % 10) {
	case 0: snprintf(q, qn, "%s", str_of(it, "initials")); break;
	case 1: utf8_prefix(str_of(it, "initials"), q, qn, seed); break;
	case 2: utf8_prefix(str_of(it, "name"), q, qn, seed); break;
	case 3: utf8_prefix(str_of(it, "short_name"), q, qn, seed); break;
	case 4: utf8_prefix(str_of(it, "pinyin"), q, qn, seed); break;
	case 5: {
		size_t k = 0;
		utf8_prefix(str_of(it, "pinyin"), tmp, sizeof(tmp), seed);
		for (size_t i = 0; tmp[i] && k + 1 < qn; i++)
			if (tmp[i] != ' ')
				q[k++] = tmp[i];
		q[k] = 0;
		break;
	}
	case 6: snprintf(q, qn, "%s", sub ? str_of(sub, "code") : str_of(it, "basic_code")); break;
	case 7: {
		/* a substring from the middle of the name */
		const char *name = str_of(it, "name");
		size_t skip = (size_t)rand_r(seed) % 3, i = 0;
		for (size_t k = 0; name[i] && k < skip; k++) {
			i++;
			while ((name[i] & 0xC0) == 0x80)
				i++;
		}
		utf8_prefix(name + i, q, qn, seed);
		break;
	}
	case 8: utf8_prefix(sub ? str_of(sub, "name") : str_of(it, "name"), q, qn, seed); break;
	default:
		snprintf(q, qn, "zq%dx", rand_r(seed) % 1000); /* a miss scans everything */
		break;
	}
}

int main(int argc, char **argv)
{
	const char *dir = "catalog";
	long nq = 10000, scale = 1;
	for (int i = 1; i < argc; i++) {
		int64_t v;
		if (!strcmp(argv[i], "--catalog") && i + 1 < argc)
			dir = argv[++i];
		else if (!strcmp(argv[i], "--queries") && i + 1 < argc &&
		         cstr_to_i64(argv[++i], 1, 10000000, &v))
			nq = (long)v;
		else if (!strcmp(argv[i], "--scale") && i + 1 < argc &&
		         cstr_to_i64(argv[++i], 1, 1000, &v))
			scale = (long)v;
		else {
			fprintf(stderr, "usage: bench_catalog_search [--catalog DIR] [--queries N] "
			                "[--scale K]\n");
			return 2;
		}
	}
	struct arena a;
	struct catalog_problems pr;
	struct catalog_set *set = NULL;
	struct catalog_snapshot *snap = NULL;
	arena_init(&a, 0);
	catalog_problems_init(&pr, &a);
	if (catalog_load_dir(dir, &set, &pr)) {
		catalog_problems_print(&pr, stderr);
		fprintf(stderr, "bench_catalog_search: %s has %zu errors\n", dir, pr.errors);
		return 1;
	}
	size_t n0 = json_array_size(set->items);
	if (n0 == 0) {
		fprintf(stderr, "bench_catalog_search: %s has no items\n", dir);
		return 1;
	}
	json_t *rows = json_array();
	for (long k = 0; k < scale; k++)
		for (size_t i = 0; i < n0; i++) {
			json_t *doc = json_deep_copy(json_array_get(set->items, i));
			if (k) {
				/* another code per copy: K + the original code's tail */
				char code[48];
				const char *orig = str_of(doc, "basic_code");
				snprintf(code, sizeof(code), "9%03d%.8s", (int)(k % 1000),
				         orig + 4);
				catalog_doc_recode(doc, orig, code);
			}
			json_array_append_new(
			    rows, json_pack("{s:o, s:I, s:I, s:i, s:s, s:I}", "doc", doc, "item_id",
			                    (json_int_t)i, "version_id", (json_int_t)i, "version",
			                    1, "effective_from", "2026-01-01", "published_at",
			                    (json_int_t)0));
		}
	char today[11];
	catalog_today(today);
	int64_t t0 = time_mono_ns();
	json_t *no_redirects = json_array();
	enum err e = catalog_snapshot_build(set->departments, set->code_tables, rows, no_redirects,
	                                    today, 0, &snap);
	json_decref(no_redirects);
	int64_t t1 = time_mono_ns();
	if (e) {
		fprintf(stderr, "bench_catalog_search: building the index failed (%s)\n",
		        err_code(e));
		return 1;
	}
	printf("catalog %s: %zu items, %zu sub-items (scale %ld); index built in %.2f ms\n", dir,
	       snap->nitems, snap->nsub, scale, (double)(t1 - t0) / 1e6);

	int64_t *lat = calloc((size_t)nq, sizeof(*lat));
	struct catalog_hit hits[20];
	unsigned seed = 20261129;
	size_t found = 0, total = 0;
	char q[256];
	/* warm-up: page in the index */
	for (int i = 0; i < 200; i++) {
		make_query(set->items, q, sizeof(q), &seed);
		catalog_search(snap, q, NULL, hits, 20, &total);
	}
	for (long i = 0; i < nq; i++) {
		make_query(set->items, q, sizeof(q), &seed);
		int64_t s = time_mono_ns();
		size_t n = catalog_search(snap, q, NULL, hits, 20, &total);
		lat[i] = time_mono_ns() - s;
		found += n > 0;
	}
	qsort(lat, (size_t)nq, sizeof(*lat), cmp_i64);
	int64_t sum = 0;
	for (long i = 0; i < nq; i++)
		sum += lat[i];
	printf(
	    "%ld queries (%.1f%% with hits): mean %.1f us, p50 %.1f us, p99 %.1f us, max %.1f us\n",
	    nq, 100.0 * (double)found / (double)nq, (double)sum / (double)nq / 1e3,
	    (double)lat[nq / 2] / 1e3, (double)lat[nq * 99 / 100] / 1e3, (double)lat[nq - 1] / 1e3);
	/* the acceptance example */
	size_t n = catalog_search(snap, "jlk", NULL, hits, 20, &total);
	printf("\"jlk\": %zu matches, first: %s %s\n", total, n ? hits[0].e->code : "-",
	       n ? hits[0].e->name : "(none)");
	free(lat);
	json_decref(rows);
	catalog_snapshot_unref(snap);
	catalog_set_destroy(set);
	catalog_problems_release(&pr);
	arena_release(&a);
	return 0;
}
