/* catalog_check.c: the checker's shared machinery (docs/catalog.md).
 *
 * The checker reports every problem it can find with the file, a JSON path and a zh-CN
 * sentence, and never stops at the first: an engineer fixing a file wants the whole list.
 * Objects are checked against closed key tables (unknown keys are errors: a typo must not
 * silently drop a rule). This file holds the problem list, the check context (the JSON path
 * being checked, reporting), the closed key tables, the field types and small validators;
 * catalog_check_form.c checks the form and what hangs off it, catalog_check_item.c items and
 * sub-items, catalog_load.c the files, the reference data and whole directories. */
#include "catalog/catalog_int.h"

#include <stdarg.h>
#include <string.h>

#include "core/json.h"
#include "core/str.h"

/* ------------------------------------------------------------------ problems */

void catalog_problems_init(struct catalog_problems *pr, struct arena *a)
{
	memset(pr, 0, sizeof(*pr));
	pr->a = a;
}

void catalog_problems_release(struct catalog_problems *pr)
{
	free(pr->v);
	pr->v = NULL;
	pr->n = pr->alloc = pr->errors = 0;
}

static void problems_vadd(struct catalog_problems *pr, const char *file, const char *path,
                          bool warning, const char *fmt, va_list ap)
{
	if (!warning)
		pr->errors++;
	if (pr->n == pr->alloc) {
		size_t na = pr->alloc ? pr->alloc * 2 : 32;
		struct catalog_problem *v = realloc(pr->v, na * sizeof(*v));
		if (!v)
			return;
		pr->v = v;
		pr->alloc = na;
	}
	struct catalog_problem *p = &pr->v[pr->n];
	p->file = arena_strdup(pr->a, file ? file : "");
	p->path = arena_strdup(pr->a, path ? path : "");
	p->message = arena_vprintf(pr->a, fmt, ap);
	p->warning = warning;
	if (p->file && p->path && p->message)
		pr->n++;
}

void catalog_problems_add(struct catalog_problems *pr, const char *file, const char *path,
                          bool warning, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	problems_vadd(pr, file, path, warning, fmt, ap);
	va_end(ap);
}

void catalog_problems_print(const struct catalog_problems *pr, FILE *f)
{
	for (size_t i = 0; i < pr->n; i++) {
		const struct catalog_problem *p = &pr->v[i];
		fprintf(f, "%s%s: %s%s%s\n", p->warning ? "warning: " : "", p->file, p->path,
		        p->path[0] ? ": " : "", p->message);
	}
}

/* ------------------------------------------------------------------ small validators */

static const char credit_alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

bool catalog_credit_code_valid(const char *s, char *expect)
{
	static const int w[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
	if (expect)
		*expect = '?';
	if (!s || strlen(s) != 18)
		return false;
	int sum = 0;
	for (int i = 0; i < 17; i++) {
		const char *q = strchr(credit_alphabet, s[i]);
		if (!q || !s[i])
			return false;
		sum += (int)(q - credit_alphabet) * w[i];
	}
	int c = (31 - sum % 31) % 31;
	if (expect)
		*expect = credit_alphabet[c];
	return s[17] == credit_alphabet[c];
}

bool ck_all_chars(const char *s, const char *set)
{
	for (; *s; s++)
		if (!strchr(set, *s))
			return false;
	return true;
}

bool ck_is_ident(const char *s)
{
	/* ^[a-z][a-z0-9_]{1,31}$ */
	size_t n = s ? strlen(s) : 0;
	if (n < 2 || n > 32 || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	return ck_all_chars(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
}

bool ck_is_flow_name(const char *s)
{
	return s && catalog_field_id_valid(s) && strchr(s, '.') != NULL;
}

bool ck_one_of(const char *s, const char *const *set)
{
	for (; s && *set; set++)
		if (!strcmp(s, *set))
			return true;
	return false;
}

/* ------------------------------------------------------------------ field types */

static const struct {
	const char *name, *label;
} ftypes[] = {
    [CF_TEXT] = {"text", "文本"},
    [CF_TEXTAREA] = {"textarea", "多行文本"},
    [CF_NUMBER] = {"number", "数字"},
    [CF_MONEY] = {"money", "金额"},
    [CF_DATE] = {"date", "日期"},
    [CF_ENUM] = {"enum", "选项"},
    [CF_BOOLEAN] = {"boolean", "是/否"},
    [CF_ID_DOCUMENT] = {"id_document", "证件"},
    [CF_PHONE] = {"phone", "电话"},
    [CF_ADDRESS] = {"address", "地址"},
    [CF_BANK_ACCOUNT] = {"bank_account", "银行账户"},
    [CF_GROUP] = {"group", "表格"},
    [CF_SIGNATURE] = {"signature", "签名"},
    [CF_ATTACHMENT] = {"attachment", "附件"},
};

enum catalog_ftype catalog_ftype_parse(const char *s)
{
	for (int i = 0; s && i < CF__UNKNOWN; i++)
		if (!strcmp(ftypes[i].name, s))
			return (enum catalog_ftype)i;
	return CF__UNKNOWN;
}

const char *catalog_ftype_label(enum catalog_ftype t)
{
	return t < CF__UNKNOWN ? ftypes[t].label : "未知类型";
}

const char *const *catalog_ftype_members(enum catalog_ftype t)
{
	static const char *const id_doc[] = {"type", "number", NULL};
	static const char *const addr[] = {"district", "street", "neighbourhood", "detail", NULL};
	static const char *const bank[] = {"bank", "account", "holder", NULL};
	switch (t) {
	case CF_ID_DOCUMENT: return id_doc;
	case CF_ADDRESS: return addr;
	case CF_BANK_ACCOUNT: return bank;
	default: return NULL;
	}
}

/* ------------------------------------------------------------------ check context */

size_t ck_push_key(struct ck *c, const char *key)
{
	size_t old = c->plen;
	int n =
	    snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s", c->plen ? "." : "", key);
	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n
		                                                : sizeof(c->path) - 1;
	return old;
}

size_t ck_push_idx(struct ck *c, size_t i)
{
	size_t old = c->plen;
	int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%zu]", i);
	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n
		                                                : sizeof(c->path) - 1;
	return old;
}

void ck_pop(struct ck *c, size_t old)
{
	c->plen = old;
	c->path[old] = 0;
}

void ck_report(struct ck *c, bool warning, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	problems_vadd(c->pr, c->file, c->path, warning, fmt, ap);
	va_end(ap);
}

void ck_report_at(struct ck *c, const char *key, bool warning, const char *fmt, ...)
{
	size_t old = ck_push_key(c, key);
	va_list ap;
	va_start(ap, fmt);
	problems_vadd(c->pr, c->file, c->path, warning, fmt, ap);
	va_end(ap);
	ck_pop(c, old);
}

/* ------------------------------------------------------------------ closed key tables */

static const char *kt_name(enum kt t)
{
	switch (t) {
	case K_STR:
	case K_NESTR: return "字符串";
	case K_INT: return "整数";
	case K_NUM: return "数字";
	case K_BOOL: return "布尔值（true 或 false）";
	case K_OBJ: return "对象";
	case K_ARR: return "数组";
	default: return "值";
	}
}

static bool kt_ok(const json_t *v, enum kt t)
{
	switch (t) {
	case K_STR:
	case K_NESTR: return json_is_string(v);
	case K_INT: return json_is_integer(v);
	case K_NUM: return json_is_number(v);
	case K_BOOL: return json_is_boolean(v);
	case K_OBJ: return json_is_object(v);
	case K_ARR: return json_is_array(v);
	default: return true;
	}
}

/* Levenshtein distance of two short ASCII keys, capped: for "did you mean". */
static int distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 40 || lb > 40)
		return 99;
	int d[41][41];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = (int)j;
	for (size_t i = 1; i <= la; i++)
		for (size_t j = 1; j <= lb; j++) {
			int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

const char *ck_near_code(const struct ck *c, const char *table, const char *s)
{
	const json_t *t = catalog_ref_code_table(c->ref, table);
	const char *best = NULL, *same_word = NULL;
	int bd = 3, words = 0;
	size_t wn = s ? strcspn(s, "_") : 0;
	size_t i;
	json_t *e;
	if (!s)
		return NULL;
	json_array_foreach (json_object_get(t, "entries"), i, e) {
		const char *code = json_get_str(e, "code");
		if (!code)
			continue;
		int d = distance(s, code);
		if (d < bd) {
			bd = d;
			best = code;
		}
		/* Synonyms tend to keep the first word and vary the rest
		 * (marriage_certificate, death_medical). */
		if (!strncmp(code, s, wn) && (code[wn] == 0 || code[wn] == '_')) {
			same_word = code;
			words++;
		}
	}
	return best ? best : words == 1 ? same_word : NULL;
}

/* Type-dependent keys (a field's min_length, code_table, …) are in the table for every type;
 * the caller checks that they fit the type. */
bool ck_check_keys(struct ck *c, const json_t *obj, const struct kspec *spec, const char *what)
{
	if (!json_is_object(obj)) {
		CK_ERR(c, "%s应为 JSON 对象", what);
		return false;
	}
	const char *key;
	json_t *v;
	json_object_foreach ((json_t *)obj, key, v) {
		const struct kspec *s = spec;
		while (s->name && strcmp(s->name, key))
			s++;
		if (!s->name) {
			const char *best = NULL;
			int bd = 3;
			for (s = spec; s->name; s++) {
				int d = distance(key, s->name);
				if (d < bd) {
					bd = d;
					best = s->name;
				}
			}
			if (best)
				ck_report_at(c, key, false, "不认识的键“%s”（是否应为“%s”？）", key,
				             best);
			else
				ck_report_at(c, key, false, "不认识的键“%s”", key);
			continue;
		}
		if (!kt_ok(v, s->type))
			ck_report_at(c, key, false, "“%s”应为%s", key, kt_name(s->type));
		else if (s->type == K_NESTR &&
		         str_trim((struct str){json_string_value(v), json_string_length(v)}).n == 0)
			ck_report_at(c, key, false, "“%s”不能为空", key);
	}
	for (const struct kspec *s = spec; s->name; s++)
		if ((s->flags & KREQ) && !json_object_get(obj, s->name))
			CK_ERR(c, "缺少必填的键“%s”", s->name);
	return true;
}

/* The member key of obj when it is a string (type problems were reported by ck_check_keys). */
const char *ck_str(const json_t *obj, const char *key)
{
	return json_get_str(obj, key);
}
