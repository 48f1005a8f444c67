/* catalog_search.c: the immutable snapshot of the published catalog and its search index.
 *
 * The index is a flat array of entries with every search key pre-normalised (lower-case
 * ASCII, pinyin with and without spaces). At the catalog's size (a few hundred items) one
 * pass over it with a handful of prefix and substring tests per entry answers in
 * microseconds, with no structure to keep consistent; bench/catalog_search.c measures it. */
#include "catalog/catalog_admin_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- normalisation ---------------------------------------------------------------------- */

/* Decode one UTF-8 sequence at p (valid input assumed, as the HTTP layer guarantees); *len
 * gets its byte length. */
static unsigned decode(const unsigned char *p, size_t *len)
{
	if (p[0] < 0x80) {
		*len = 1;
		return p[0];
	}
	if ((p[0] & 0xE0) == 0xC0 && p[1]) {
		*len = 2;
		return ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
	}
	if ((p[0] & 0xF0) == 0xE0 && p[1] && p[2]) {
		*len = 3;
		return ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
	}
	if ((p[0] & 0xF8) == 0xF0 && p[1] && p[2] && p[3]) {
		*len = 4;
		return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) |
		       (p[3] & 0x3Fu);
	}
	*len = 1;
	return 0xFFFD;
}

void catalog_search_normalize(const char *q, char *out, size_t outsz)
{
	size_t o = 0;
	if (outsz == 0)
		return;
	const unsigned char *p = (const unsigned char *)(q ? q : "");
	while (*p) {
		size_t len;
		unsigned cp = decode(p, &len);
		char one[4];
		size_t n = 0;
		if (cp >= 0xFF01 && cp <= 0xFF5E)
			cp -= 0xFEE0; /* full-width ASCII block */
		else if (cp == 0x3000)
			cp = ' ';
		if (cp < 0x80) {
			one[0] = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
			if (one[0] == '\t' || one[0] == '\r' || one[0] == '\n')
				one[0] = ' ';
			n = 1;
		} else {
			memcpy(one, p, len);
			n = len;
		}
		/* Collapse runs of spaces: "jing  lao" is "jing lao". */
		if (!(n == 1 && one[0] == ' ' && (o == 0 || out[o - 1] == ' '))) {
			if (o + n >= outsz)
				break;
			memcpy(out + o, one, n);
			o += n;
		}
		p += len;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = 0;
}

/* ---- building ------------------------------------------------------------------------- */

static char *lower_dup(struct arena *a, const char *s)
{
	char buf[512];
	catalog_search_normalize(s ? s : "", buf, sizeof(buf));
	return arena_strdup(a, buf);
}

static char *no_spaces(struct arena *a, const char *s)
{
	size_t n = strlen(s);
	char *o = arena_alloc(a, n + 1);
	if (!o)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ')
			o[k++] = s[i];
	o[k] = 0;
	return o;
}

static const char *str_or(const json_t *o, const char *key, const char *def)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : def;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct catalog_entry *x = a, *y = b;
	return strcmp(x->code, y->code);
}

static enum err fill_entry(struct catalog_snapshot *s, struct catalog_entry *e, const json_t *row)
{
	struct arena *a = &s->mem;
	json_t *doc = json_object_get(row, "doc");
	if (!json_is_object(doc))
		return ERR_INVALID;
	e->doc = json_incref(doc);
	e->item_id = json_integer_value(json_object_get(row, "item_id"));
	e->version_id = json_integer_value(json_object_get(row, "version_id"));
	e->version = (int)json_integer_value(json_object_get(row, "version"));
	e->published_at = json_integer_value(json_object_get(row, "published_at"));
	e->effective_from = arena_strdup(a, str_or(row, "effective_from", ""));
	e->code = arena_strdup(a, str_or(doc, "basic_code", ""));
	e->name = arena_strdup(a, str_or(doc, "name", ""));
	e->short_name = arena_strdup(a, str_or(doc, "short_name", ""));
	e->department = arena_strdup(a, str_or(doc, "department", ""));
	e->vwin_mode = arena_strdup(a, str_or(doc, "vwin_mode", ""));
	e->case_type = (int)json_integer_value(json_object_get(doc, "case_type"));
	e->citywide = json_is_true(json_object_get(doc, "citywide"));
	e->department_name = e->department;
	e->dept_order = 1 << 20;
	size_t idx;
	json_t *d;
	json_array_foreach (s->dept_list, idx, d) {
		if (!strcmp(str_or(d, "id", ""), e->department)) {
			e->department_name = arena_strdup(a, str_or(d, "name", e->department));
			e->dept_order = (int)idx;
			break;
		}
	}
	e->k_code = lower_dup(a, e->code);
	e->k_impl = lower_dup(a, str_or(doc, "impl_code", ""));
	e->k_name = lower_dup(a, e->name);
	e->k_short = lower_dup(a, e->short_name);
	e->k_pinyin = lower_dup(a, str_or(doc, "pinyin", ""));
	e->k_pinyin_ns = e->k_pinyin ? no_spaces(a, e->k_pinyin) : NULL;
	e->k_initials = lower_dup(a, str_or(doc, "initials", ""));
	e->name_chars = utf8_len(e->name ? e->name : "", e->name ? strlen(e->name) : 0);

	struct buf codes, names;
	buf_init(&codes, 1 << 20);
	buf_init(&names, 1 << 20);
	enum err err = ERR_OK;
	json_t *sub;
	json_array_foreach (json_object_get(doc, "sub_items"), idx, sub) {
		char k[128];
		catalog_search_normalize(str_or(sub, "code", ""), k, sizeof(k));
		if ((idx && (err = buf_putc(&codes, '\n'))) || (err = buf_puts(&codes, k)))
			break;
		catalog_search_normalize(str_or(sub, "name", ""), k, sizeof(k));
		if ((idx && (err = buf_putc(&names, '\n'))) || (err = buf_puts(&names, k)))
			break;
		e->nsub++;
	}
	if (!err) {
		e->k_subcodes = arena_strdup(a, codes.p ? codes.p : "");
		e->k_subnames = arena_strdup(a, names.p ? names.p : "");
	}
	buf_release(&codes);
	buf_release(&names);
	if (err)
		return err;
	if (!e->effective_from || !e->code || !e->name || !e->short_name || !e->department ||
	    !e->vwin_mode || !e->k_code || !e->k_impl || !e->k_name || !e->k_short ||
	    !e->k_pinyin || !e->k_pinyin_ns || !e->k_initials || !e->k_subcodes || !e->k_subnames ||
	    !e->department_name)
		return ERR_NOMEM;
	return ERR_OK;
}

static void snapshot_free(struct catalog_snapshot *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nitems; i++)
		json_decref(s->items[i].doc);
	free(s->items);
	catalog_ref_destroy(s->ref);
	json_decref(s->departments);
	json_decref(s->code_tables);
	arena_release(&s->mem);
	free(s);
}

void catalog_snapshot_ref(struct catalog_snapshot *s)
{
	atomic_fetch_add(&s->refs, 1);
}

void catalog_snapshot_unref(struct catalog_snapshot *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		snapshot_free(s);
}

enum err catalog_snapshot_build(const json_t *departments, const json_t *code_tables,
                                const json_t *items, const json_t *redirects, const char *today,
                                int64_t generation, struct catalog_snapshot **out)
{
	enum err e = ERR_OK;
	*out = NULL;
	struct catalog_snapshot *s = calloc(1, sizeof(*s));
	if (!s)
		return ERR_NOMEM;
	atomic_init(&s->refs, 1);
	arena_init(&s->mem, 0);
	snprintf(s->today, sizeof(s->today), "%s", today);
	s->generation = generation;
	s->departments = departments ? json_deep_copy(departments) : json_object();
	s->code_tables = code_tables ? json_deep_copy(code_tables) : json_object();
	if (!s->departments || !s->code_tables) {
		e = ERR_NOMEM;
		goto out;
	}
	s->dept_list = json_object_get(s->departments, "departments");
	if (!json_is_array(s->dept_list))
		s->dept_list = NULL;
	if (s->dept_list && (e = catalog_ref_from_json(s->departments, s->code_tables, &s->ref)))
		goto out;
	size_t n = json_array_size(items);
	s->items = calloc(n ? n : 1, sizeof(*s->items));
	if (!s->items) {
		e = ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		e = fill_entry(s, &s->items[s->nitems], json_array_get(items, i));
		if (s->items[s->nitems].doc)
			s->nitems++;
		if (e)
			goto out;
		s->nsub += (size_t)s->items[s->nitems - 1].nsub;
	}
	qsort(s->items, s->nitems, sizeof(*s->items), entry_cmp);
	size_t nr = json_array_size(redirects);
	s->redirect_old = arena_zalloc(&s->mem, (nr ? nr : 1) * sizeof(*s->redirect_old));
	s->redirect_item = arena_zalloc(&s->mem, (nr ? nr : 1) * sizeof(*s->redirect_item));
	if (!s->redirect_old || !s->redirect_item) {
		e = ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < nr; i++) {
		const json_t *pair = json_array_get(redirects, i);
		const char *old = json_string_value(json_array_get(pair, 0));
		const char *cur = json_string_value(json_array_get(pair, 1));
		const struct catalog_entry *to = cur ? catalog_snapshot_find(s, cur) : NULL;
		if (!old || !to)
			continue;
		if (!(s->redirect_old[s->nredirects] = arena_strdup(&s->mem, old))) {
			e = ERR_NOMEM;
			goto out;
		}
		s->redirect_item[s->nredirects++] = (size_t)(to - s->items);
	}
	*out = s;
	s = NULL;
out:
	snapshot_free(s);
	return e;
}

/* ---- lookups -------------------------------------------------------------------------- */

const struct catalog_entry *catalog_snapshot_find(const struct catalog_snapshot *s,
                                                  const char *code)
{
	if (!s || !code)
		return NULL;
	size_t lo = 0, hi = s->nitems;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(code, s->items[mid].code);
		if (c == 0)
			return &s->items[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

const struct catalog_entry *catalog_snapshot_resolve(const struct catalog_snapshot *s,
                                                     const char *code, const char **redirected_from)
{
	*redirected_from = NULL;
	const struct catalog_entry *e = catalog_snapshot_find(s, code);
	if (e || !s)
		return e;
	for (size_t i = 0; i < s->nredirects; i++)
		if (!strcmp(s->redirect_old[i], code)) {
			*redirected_from = code;
			return &s->items[s->redirect_item[i]];
		}
	return NULL;
}

const json_t *catalog_entry_sub_item(const struct catalog_entry *e, const char *code)
{
	size_t i;
	json_t *sub;
	if (!e)
		return NULL;
	json_array_foreach (json_object_get(e->doc, "sub_items"), i, sub) {
		const char *c = json_string_value(json_object_get(sub, "code"));
		if (c && !strcmp(c, code))
			return sub;
	}
	return NULL;
}

/* ---- search --------------------------------------------------------------------------- */

static bool has_prefix(const char *s, const char *p, size_t pn)
{
	return strncmp(s, p, pn) == 0;
}

/* Is q one whole line of a "\n"-joined list? */
static bool in_lines(const char *lines, const char *q, size_t qn)
{
	for (const char *p = lines; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n == qn && !memcmp(p, q, n))
			return true;
		if (!nl)
			break;
		p = nl + 1;
	}
	return false;
}

static int score(const struct catalog_entry *e, const char *q, size_t qn, const char *qns,
                 size_t qnsn)
{
	if (!strcmp(e->k_code, q) || !strcmp(e->k_impl, q) || in_lines(e->k_subcodes, q, qn))
		return CATALOG_MATCH_CODE;
	if (e->k_initials[0] && has_prefix(e->k_initials, q, qn))
		return CATALOG_MATCH_INITIALS;
	if (e->k_short[0] && has_prefix(e->k_short, q, qn))
		return CATALOG_MATCH_SHORT;
	if (has_prefix(e->k_name, q, qn))
		return CATALOG_MATCH_NAME;
	if (e->k_pinyin[0] &&
	    (has_prefix(e->k_pinyin, q, qn) || (qnsn && has_prefix(e->k_pinyin_ns, qns, qnsn))))
		return CATALOG_MATCH_PINYIN;
	if (strstr(e->k_name, q) || strstr(e->k_short, q) || strstr(e->k_subnames, q) ||
	    strstr(e->k_code, q) || strstr(e->k_impl, q) || strstr(e->k_subcodes, q) ||
	    strstr(e->k_pinyin, q) || (qnsn && strstr(e->k_pinyin_ns, qns)) ||
	    strstr(e->k_initials, q))
		return CATALOG_MATCH_SUBSTRING;
	return 0;
}

static int hit_cmp(const void *a, const void *b)
{
	const struct catalog_hit *x = a, *y = b;
	if (x->score != y->score)
		return y->score - x->score;
	if (x->e->name_chars != y->e->name_chars)
		return x->e->name_chars < y->e->name_chars ? -1 : 1;
	return strcmp(x->e->code, y->e->code);
}

static int browse_cmp(const void *a, const void *b)
{
	const struct catalog_hit *x = a, *y = b;
	if (x->e->dept_order != y->e->dept_order)
		return x->e->dept_order < y->e->dept_order ? -1 : 1;
	return strcmp(x->e->code, y->e->code);
}

/* Keep the best max hits in out (a bounded insertion: max is small, matches may be many). */
static void keep(struct catalog_hit *out, size_t max, size_t *n, struct catalog_hit h,
                 int (*cmp)(const void *, const void *))
{
	if (max == 0)
		return;
	if (*n == max && cmp(&h, &out[max - 1]) >= 0)
		return;
	size_t i = *n < max ? (*n)++ : max - 1;
	while (i > 0 && cmp(&h, &out[i - 1]) < 0) {
		out[i] = out[i - 1];
		i--;
	}
	out[i] = h;
}

size_t catalog_search(const struct catalog_snapshot *s, const char *q, const char *dept,
                      struct catalog_hit *out, size_t max, size_t *total)
{
	char nq[256], nqs[256];
	size_t n = 0, matches = 0;
	*total = 0;
	if (!s)
		return 0;
	catalog_search_normalize(q, nq, sizeof(nq));
	size_t k = 0;
	for (const char *p = nq; *p; p++)
		if (*p != ' ')
			nqs[k++] = *p;
	nqs[k] = 0;
	size_t qn = strlen(nq);
	for (size_t i = 0; i < s->nitems; i++) {
		const struct catalog_entry *e = &s->items[i];
		if (dept && dept[0] && strcmp(e->department, dept))
			continue;
		if (qn == 0) {
			matches++;
			keep(out, max, &n, (struct catalog_hit){e, 0}, browse_cmp);
			continue;
		}
		int sc = score(e, nq, qn, nqs, k);
		if (!sc)
			continue;
		matches++;
		keep(out, max, &n, (struct catalog_hit){e, sc}, hit_cmp);
	}
	*total = matches;
	return n;
}
