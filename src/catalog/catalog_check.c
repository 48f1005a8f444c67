/* catalog_check.c: checking and loading catalog files (docs/catalog.md).
 *
 * The checker reports every problem it can find with the file, a JSON path and a zh-CN
 * sentence, and never stops at the first: an engineer fixing a file wants the whole list.
 * Objects are checked against closed key tables (unknown keys are errors: a typo must not
 * silently drop a rule). A sub-item is checked in two passes: first its field ids are
 * collected (with their group), then every expression, rule, material, signer and form
 * layout is checked against them. */
#include "catalog/catalog_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/str.h"

#define MAX_FILE_BYTES (8u << 20)
#define MAX_FIELDS     1000

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

/* ------------------------------------------------------------------ the reference data */

struct catalog_ref {
	json_t *departments; /* the departments.json document */
	json_t *depts;       /* id → department object */
	json_t *tables;      /* id → table document */
	json_t *codes;       /* table id → (code → entry) */
};

void catalog_ref_destroy(struct catalog_ref *ref)
{
	if (!ref)
		return;
	json_decref(ref->departments);
	json_decref(ref->depts);
	json_decref(ref->tables);
	json_decref(ref->codes);
	free(ref);
}

enum err catalog_ref_from_json(const json_t *departments, const json_t *code_tables,
                               struct catalog_ref **out)
{
	*out = NULL;
	const json_t *list = json_object_get(departments, "departments");
	if (!json_is_array(list) || !json_is_object(code_tables))
		return ERR_INVALID;
	struct catalog_ref *ref = calloc(1, sizeof(*ref));
	if (!ref)
		return ERR_NOMEM;
	ref->departments = json_incref((json_t *)departments);
	ref->depts = json_object();
	ref->tables = json_object();
	ref->codes = json_object();
	if (!ref->depts || !ref->tables || !ref->codes)
		goto nomem;
	size_t i;
	json_t *d;
	json_array_foreach (list, i, d) {
		const char *id = json_get_str(d, "id");
		/* the first definition wins; the checker reports the duplicate */
		if (id && !json_object_get(ref->depts, id) && json_object_set(ref->depts, id, d))
			goto nomem;
	}
	const char *tid;
	json_t *t;
	json_object_foreach ((json_t *)code_tables, tid, t) {
		json_t *codes = json_object();
		if (!codes || json_object_set(ref->tables, tid, t) ||
		    json_object_set_new(ref->codes, tid, codes))
			goto nomem;
		const json_t *entries = json_object_get(t, "entries");
		json_t *e;
		size_t j;
		json_array_foreach (entries, j, e) {
			const char *code = json_get_str(e, "code");
			if (code && !json_object_get(codes, code) &&
			    json_object_set(codes, code, e))
				goto nomem;
		}
	}
	*out = ref;
	return ERR_OK;
nomem:
	catalog_ref_destroy(ref);
	return ERR_NOMEM;
}

const json_t *catalog_ref_code_table(const struct catalog_ref *ref, const char *id)
{
	return ref && id ? json_object_get(ref->tables, id) : NULL;
}

const json_t *catalog_ref_department(const struct catalog_ref *ref, const char *id)
{
	return ref && id ? json_object_get(ref->depts, id) : NULL;
}

const json_t *catalog_ref_code_entry(const struct catalog_ref *ref, const char *table,
                                     const char *code)
{
	if (!ref || !table || !code)
		return NULL;
	return json_object_get(json_object_get(ref->codes, table), code);
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

static bool all_chars(const char *s, const char *set)
{
	for (; *s; s++)
		if (!strchr(set, *s))
			return false;
	return true;
}

static bool is_ident(const char *s)
{
	/* ^[a-z][a-z0-9_]{1,31}$ */
	size_t n = s ? strlen(s) : 0;
	if (n < 2 || n > 32 || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	return all_chars(s, "abcdefghijklmnopqrstuvwxyz0123456789_");
}

/* A dotted flow name such as "shebao.submit" or "minzheng.elder_allowance.submit". */
static bool is_flow_name(const char *s)
{
	return s && catalog_field_id_valid(s) && strchr(s, '.') != NULL;
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

struct fld {
	const char *id;    /* full id; a group's row field is "<group id>.<row field id>" */
	const char *sub;   /* the id inside its group (== id for top-level fields) */
	const char *label; /* may be NULL in a broken document */
	const json_t *def;
	enum catalog_ftype type;
	int group; /* index of the group field in the table, -1 at top level */
};

struct ck {
	const struct catalog_ref *ref;
	struct catalog_problems *pr;
	const char *file;
	struct arena a; /* scratch for one item: parsed expressions, names */
	char path[1024];
	size_t plen;
	/* the item being checked */
	const char *basic_code;
	const json_t *dept;
	const char *dept_id;
	/* the sub-item being checked */
	struct fld *flds;
	int nflds;
	const json_t *signers; /* role → true */
	const char *appform_kind;
	/* templates referenced by fixed forms: filled for catalog_check_dir */
	json_t *templates;
};

static size_t push_key(struct ck *c, const char *key)
{
	size_t old = c->plen;
	int n =
	    snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "%s%s", c->plen ? "." : "", key);
	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n
		                                                : sizeof(c->path) - 1;
	return old;
}

static size_t push_idx(struct ck *c, size_t i)
{
	size_t old = c->plen;
	int n = snprintf(c->path + c->plen, sizeof(c->path) - c->plen, "[%zu]", i);
	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof(c->path) ? c->plen + (size_t)n
		                                                : sizeof(c->path) - 1;
	return old;
}

static void pop(struct ck *c, size_t old)
{
	c->plen = old;
	c->path[old] = 0;
}

static void __attribute__((format(printf, 3, 4)))
report(struct ck *c, bool warning, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	problems_vadd(c->pr, c->file, c->path, warning, fmt, ap);
	va_end(ap);
}

#define ERR(c, ...)  report((c), false, __VA_ARGS__)
#define WARN(c, ...) report((c), true, __VA_ARGS__)

/* The same at path + "." + key. */
static void __attribute__((format(printf, 4, 5)))
report_at(struct ck *c, const char *key, bool warning, const char *fmt, ...)
{
	size_t old = push_key(c, key);
	va_list ap;
	va_start(ap, fmt);
	problems_vadd(c->pr, c->file, c->path, warning, fmt, ap);
	va_end(ap);
	pop(c, old);
}

/* ------------------------------------------------------------------ closed key tables */

enum kt { K_STR, K_NESTR, K_INT, K_NUM, K_BOOL, K_OBJ, K_ARR, K_ANY };

#define KREQ 1u

struct kspec {
	const char *name;
	enum kt type;
	unsigned flags;
};

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

/* Check obj against a closed key table; returns false when obj is not an object. what is
 * the zh-CN name of the object for the not-an-object message. Keys listed in also (may be
 * NULL) are known but checked by the caller (type-dependent keys). */
static bool check_keys(struct ck *c, const json_t *obj, const struct kspec *spec, const char *what)
{
	if (!json_is_object(obj)) {
		ERR(c, "%s应为 JSON 对象", what);
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
				report_at(c, key, false, "不认识的键“%s”（是否应为“%s”？）", key,
				          best);
			else
				report_at(c, key, false, "不认识的键“%s”", key);
			continue;
		}
		if (!kt_ok(v, s->type))
			report_at(c, key, false, "“%s”应为%s", key, kt_name(s->type));
		else if (s->type == K_NESTR &&
		         str_trim((struct str){json_string_value(v), json_string_length(v)}).n == 0)
			report_at(c, key, false, "“%s”不能为空", key);
	}
	for (const struct kspec *s = spec; s->name; s++)
		if ((s->flags & KREQ) && !json_object_get(obj, s->name))
			ERR(c, "缺少必填的键“%s”", s->name);
	return true;
}

/* The member key of obj when it is a string (type problems were reported by check_keys). */
static const char *str_of(const json_t *obj, const char *key)
{
	return json_get_str(obj, key);
}

/* ------------------------------------------------------------------ expressions */

struct refctx {
	struct ck *c;
	int scope; /* group index or -1 */
	const char *what;
	bool bad;
};

static int find_fld(const struct ck *c, const char *id)
{
	for (int i = 0; i < c->nflds; i++)
		if (!strcmp(c->flds[i].id, id))
			return i;
	return -1;
}

/* Does ref name a member of a compound field (applicant.id_doc.number) among fields of
 * group g (-1: top level), with names relative to that scope? */
static bool compound_member(const struct ck *c, int g, const char *ref)
{
	const char *dot = strrchr(ref, '.');
	if (!dot)
		return false;
	for (int i = 0; i < c->nflds; i++) {
		if (c->flds[i].group != g)
			continue;
		const char *name = c->flds[i].sub;
		size_t n = strlen(name);
		if ((size_t)(dot - ref) != n || strncmp(ref, name, n))
			continue;
		const char *const *m = catalog_ftype_members(c->flds[i].type);
		for (; m && *m; m++)
			if (!strcmp(*m, dot + 1))
				return true;
	}
	return false;
}

/* Is ref a namespace (a proper prefix at a dot) of some field in scope g? */
static bool namespace_of(const struct ck *c, int g, const char *ref)
{
	size_t n = strlen(ref);
	for (int i = 0; i < c->nflds; i++)
		if (c->flds[i].group == g && !strncmp(c->flds[i].sub, ref, n) &&
		    c->flds[i].sub[n] == '.')
			return true;
	return false;
}

static int find_in_scope(const struct ck *c, int g, const char *sub)
{
	for (int i = 0; i < c->nflds; i++)
		if (c->flds[i].group == g && !strcmp(c->flds[i].sub, sub))
			return i;
	return -1;
}

static bool resolves(const struct ck *c, int g, const char *name)
{
	return find_in_scope(c, g, name) >= 0 || compound_member(c, g, name) ||
	       namespace_of(c, g, name);
}

static void check_ref(void *ctx, const char *ref, bool sum_field)
{
	struct refctx *r = ctx;
	struct ck *c = r->c;
	const char *rowname = c->flds && r->scope >= 0 ? c->flds[r->scope].id : NULL;
	if (!strcmp(ref, "row") || !strncmp(ref, "row.", 4) || !strcmp(ref, "rows") ||
	    !strncmp(ref, "rows.", 5)) {
		if (r->scope < 0) {
			ERR(c,
			    "%s使用了“%s”，但它不属于表格（group）：只有表格内的字段和规则才能使用 "
			    "row / rows",
			    r->what, ref);
			r->bad = true;
			return;
		}
		const char *rest = strchr(ref, '.');
		if (rest && !resolves(c, r->scope, rest + 1)) {
			ERR(c, "%s引用了表格“%s”中不存在的字段“%s”", r->what, rowname, rest + 1);
			r->bad = true;
		}
		return;
	}
	if (sum_field) {
		/* "g.f": g must be a group and f one of its row fields. */
		for (int i = 0; i < c->nflds; i++) {
			size_t n = strlen(c->flds[i].id);
			if (c->flds[i].type == CF_GROUP && c->flds[i].group < 0 &&
			    !strncmp(ref, c->flds[i].id, n) && ref[n] == '.') {
				if (!resolves(c, i, ref + n + 1)) {
					ERR(c, "%s中 sum 引用了表格“%s”中不存在的字段“%s”", r->what,
					    c->flds[i].id, ref + n + 1);
					r->bad = true;
				}
				return;
			}
		}
		ERR(c, "%s中 sum 的第一个参数应为表格（group）字段，“%.*s”不是", r->what,
		    (int)(strrchr(ref, '.') - ref), ref);
		r->bad = true;
		return;
	}
	if (resolves(c, -1, ref))
		return;
	int i = find_fld(c, ref);
	if (i >= 0 && c->flds[i].group >= 0) {
		ERR(c, "%s引用了表格“%s”内的字段“%s”：表格内的字段请在该表格的规则中用 row.%s 引用",
		    r->what, c->flds[c->flds[i].group].id, ref, c->flds[i].sub);
		r->bad = true;
		return;
	}
	ERR(c, "%s引用了不存在的字段“%s”", r->what, ref);
	r->bad = true;
}

/* The code table that values of ref come from, if any: an enum field, or the member of a
 * compound value that holds a code (id_doc.type, address.district, bank_account.bank). */
static const char *table_of(const struct ck *c, int scope, const char *ref)
{
	int g = -1;
	if (!strncmp(ref, "row.", 4)) {
		g = scope;
		ref += 4;
	}
	if (g < 0 && !strncmp(ref, "row", 3))
		return NULL;
	int i = find_in_scope(c, g, ref);
	if (i >= 0)
		return c->flds[i].type == CF_ENUM ? str_of(c->flds[i].def, "code_table") : NULL;
	const char *dot = strrchr(ref, '.');
	if (!dot)
		return NULL;
	for (i = 0; i < c->nflds; i++) {
		const struct fld *f = &c->flds[i];
		size_t n = strlen(f->sub);
		if (f->group != g || (size_t)(dot - ref) != n || strncmp(ref, f->sub, n))
			continue;
		if (f->type == CF_ID_DOCUMENT && !strcmp(dot + 1, "type"))
			return "id_doc_type";
		if (f->type == CF_ADDRESS && !strcmp(dot + 1, "district"))
			return "district";
		if (f->type == CF_ADDRESS && !strcmp(dot + 1, "street"))
			return "street";
		if (f->type == CF_BANK_ACCOUNT && !strcmp(dot + 1, "bank"))
			return "bank";
	}
	return NULL;
}

static void check_compare(void *ctx, const char *ref, const char *literal)
{
	struct refctx *r = ctx;
	const char *table = table_of(r->c, r->scope, ref);
	if (table && catalog_ref_code_table(r->c->ref, table) &&
	    !catalog_ref_code_entry(r->c->ref, table, literal))
		ERR(r->c, "表达式把“%s”与“%s”比较，但“%s”不在代码表“%s”中", ref, literal, literal,
		    table);
}

/* Parse the expression at obj[key] (a string) and check its references in scope. */
static const struct catalog_expr *check_expr_at(struct ck *c, const json_t *obj, const char *key,
                                                int scope)
{
	const json_t *v = json_object_get(obj, key);
	if (!v)
		return NULL;
	size_t old = push_key(c, key);
	struct catalog_expr *e = NULL;
	if (!json_is_string(v))
		goto out; /* the key table said so already */
	const char *msg;
	if (catalog_expr_parse(json_string_value(v), &c->a, &e, &msg)) {
		ERR(c, "表达式“%s”有误：%s", json_string_value(v), msg);
		e = NULL;
		goto out;
	}
	struct refctx r = {c, scope, "表达式", false};
	catalog_expr_refs_ex(e, check_ref, &r);
	if (!r.bad)
		catalog_expr_compares(e, check_compare, &r);
out:
	pop(c, old);
	return e;
}

/* ------------------------------------------------------------------ fields */

static const struct kspec field_keys[] = {
    {"id", K_NESTR, KREQ},
    {"label", K_NESTR, KREQ},
    {"type", K_NESTR, KREQ},
    {"required", K_BOOL, 0},
    {"required_when", K_STR, 0},
    {"visible_when", K_STR, 0},
    {"min_length", K_INT, 0},
    {"max_length", K_INT, 0},
    {"pattern", K_NESTR, 0},
    {"pattern_message", K_NESTR, 0},
    {"min", K_ANY, 0},
    {"max", K_ANY, 0},
    {"code_table", K_NESTR, 0},
    {"multiple", K_BOOL, 0},
    {"default", K_ANY, 0},
    {"compute", K_STR, 0},
    {"prefill", K_ARR, 0},
    {"help", K_STR, 0},
    {"sensitive", K_BOOL, 0},
    {"fields", K_ARR, 0},
    {"min_rows", K_INT, 0},
    {"max_rows", K_INT, 0},
    {NULL, 0, 0},
};

static const struct kspec prefill_keys[] = {
    {"source", K_NESTR, KREQ}, {"path", K_NESTR, 0}, {"cert", K_NESTR, 0},
    {"flow", K_NESTR, 0},      {NULL, 0, 0},
};

/* Which type-specific keys each type accepts. */
static bool key_allowed(enum catalog_ftype t, const char *key)
{
	static const char *const text[] = {"min_length", "max_length", "pattern", "pattern_message",
	                                   NULL};
	static const char *const range[] = {"min", "max", NULL};
	static const char *const en[] = {"code_table", "multiple", NULL};
	static const char *const grp[] = {"fields", "min_rows", "max_rows", NULL};
	const char *const *lists[] = {text, range, en, grp};
	bool specific = false;
	for (size_t l = 0; l < 4; l++)
		for (const char *const *k = lists[l]; *k; k++)
			if (!strcmp(*k, key))
				specific = true;
	if (!specific)
		return true;
	const char *const *mine = NULL;
	switch (t) {
	case CF_TEXT:
	case CF_TEXTAREA: mine = text; break;
	case CF_NUMBER:
	case CF_MONEY:
	case CF_DATE: mine = range; break;
	case CF_ENUM: mine = en; break;
	case CF_GROUP: mine = grp; break;
	default: return false;
	}
	for (; *mine; mine++)
		if (!strcmp(*mine, key))
			return true;
	return false;
}

static bool money_ok(double v)
{
	double cents = v * 100.0;
	return cents - (double)(long long)cents < 1e-6 && cents - (double)(long long)cents > -1e-6;
}

/* A bound of a number/money/date field, or the default of a date: reported problems. */
static bool date_or_today(const json_t *v)
{
	int y, m, d;
	const char *s = json_string_value(v);
	return s && (!strcmp(s, "today") || catalog_date_parse(s, &y, &m, &d));
}

/* Value v (a default) against the field definition; what names it in messages. */
static void check_value_for_type(struct ck *c, const struct fld *f, const json_t *v,
                                 const char *what)
{
	const char *table = str_of(f->def, "code_table");
	switch (f->type) {
	case CF_TEXT:
	case CF_TEXTAREA:
	case CF_PHONE:
		if (!json_is_string(v))
			ERR(c, "%s应为字符串", what);
		break;
	case CF_NUMBER:
		if (!json_is_number(v))
			ERR(c, "%s应为数字", what);
		break;
	case CF_MONEY:
		if (!json_is_number(v))
			ERR(c, "%s应为数字（元）", what);
		else if (!money_ok(json_number_value(v)))
			ERR(c, "%s金额最多两位小数", what);
		break;
	case CF_DATE:
		if (!date_or_today(v))
			ERR(c, "%s应为“YYYY-MM-DD”格式的日期或“today”", what);
		break;
	case CF_BOOLEAN:
		if (!json_is_boolean(v))
			ERR(c, "%s应为 true 或 false", what);
		break;
	case CF_ENUM: {
		bool multiple = json_get_bool(f->def, "multiple", false);
		const json_t *tbl = catalog_ref_code_table(c->ref, table);
		if (multiple && !json_is_array(v)) {
			ERR(c, "%s应为代码数组（多选）", what);
			break;
		}
		if (!multiple && !json_is_string(v)) {
			ERR(c, "%s应为代码表“%s”中的代码（字符串）", what, table ? table : "?");
			break;
		}
		size_t i, n = multiple ? json_array_size(v) : 1;
		for (i = 0; i < n; i++) {
			const json_t *x = multiple ? json_array_get(v, i) : v;
			const char *code = json_string_value(x);
			if (!code)
				ERR(c, "%s的第 %zu 项应为字符串", what, i + 1);
			else if (tbl && !catalog_ref_code_entry(c->ref, table, code))
				ERR(c, "%s“%s”不在代码表“%s”中", what, code, table);
		}
		break;
	}
	default: ERR(c, "%s类型的字段不能设置%s", catalog_ftype_label(f->type), what);
	}
}

static void check_prefill(struct ck *c, const json_t *list, const struct fld *f)
{
	size_t i;
	json_t *p;
	json_array_foreach (list, i, p) {
		size_t old = push_idx(c, i);
		if (check_keys(c, p, prefill_keys, "预填来源")) {
			const char *src = str_of(p, "source");
			static const char *const idcard[] = {"name",   "sex",     "birth_date",
			                                     "nation", "address", "id_number",
			                                     "photo",  NULL};
			if (!src) {
				;
			} else if (!strcmp(src, "resident") || !strcmp(src, "id_card")) {
				if (!json_object_get(p, "path"))
					ERR(c, "预填来源“%s”需要“path”", src);
				if (json_object_get(p, "cert") || json_object_get(p, "flow"))
					ERR(c, "预填来源“%s”不使用“cert”或“flow”", src);
				const char *path = str_of(p, "path");
				if (path && !strcmp(src, "id_card")) {
					bool ok = false;
					for (const char *const *k = idcard; *k; k++)
						ok |= !strcmp(*k, path);
					if (!ok)
						report_at(c, "path", true,
						          "读卡结果中没有“%s”（可用：name、sex、"
						          "birth_date、nation、address、id_number、"
						          "photo）",
						          path);
				}
			} else if (!strcmp(src, "previous_case")) {
				if (json_object_get(p, "cert") || json_object_get(p, "flow"))
					ERR(c, "预填来源“previous_case”不使用“cert”或“flow”");
			} else if (!strcmp(src, "e_cert")) {
				if (!json_object_get(p, "cert"))
					ERR(c, "预填来源“e_cert”需要“cert”（证照类型）");
				if (json_object_get(p, "flow"))
					ERR(c, "预填来源“e_cert”不使用“flow”");
			} else if (!strcmp(src, "lookup")) {
				const char *flow = str_of(p, "flow");
				if (!json_object_get(p, "flow"))
					ERR(c, "预填来源“lookup”需要“flow”（网关流程名）");
				else if (flow && !is_flow_name(flow))
					report_at(c, "flow", false,
					          "流程名“%s”格式不正确（如 minzheng.elder_query）",
					          flow);
				if (json_object_get(p, "cert"))
					ERR(c, "预填来源“lookup”不使用“cert”");
			} else {
				report_at(
				    c, "source", false,
				    "预填来源“%s”不存在（可用：resident、id_card、previous_case、"
				    "e_cert、lookup）",
				    src);
			}
		}
		pop(c, old);
	}
	(void)f;
}

/* Pass 1: collect the fields of a form (recursing once into groups). */
static void collect_fields(struct ck *c, const json_t *fields, int group)
{
	size_t i;
	json_t *f;
	json_array_foreach (fields, i, f) {
		const char *id = str_of(f, "id");
		if (!id || !catalog_field_id_valid(id) || c->nflds >= MAX_FIELDS)
			continue;
		struct fld *x = &c->flds[c->nflds];
		x->sub = id;
		x->id = group < 0 ? id : arena_printf(&c->a, "%s.%s", c->flds[group].id, id);
		if (!x->id)
			continue;
		x->label = str_of(f, "label");
		x->def = f;
		x->type = catalog_ftype_parse(str_of(f, "type"));
		x->group = group;
		int me = c->nflds++;
		if (x->type == CF_GROUP && group < 0)
			collect_fields(c, json_object_get(f, "fields"), me);
	}
}

static int fld_index(const struct ck *c, const json_t *def)
{
	for (int i = 0; i < c->nflds; i++)
		if (c->flds[i].def == def)
			return i;
	return -1;
}

static void check_field(struct ck *c, const json_t *f, int group, json_t *seen, size_t idx);

static void check_fields(struct ck *c, const json_t *fields, int group)
{
	json_t *seen = json_object();
	size_t i;
	json_t *f;
	if (!json_is_array(fields)) {
		ERR(c, "“fields”应为数组");
		json_decref(seen);
		return;
	}
	if (json_array_size(fields) == 0 && group >= 0)
		ERR(c, "表格至少需要一个字段");
	json_array_foreach (fields, i, f) {
		size_t old = push_idx(c, i);
		check_field(c, f, group, seen, i);
		pop(c, old);
	}
	/* A field can't also be the parent of another: data.agent can't be both a value and
	 * the object holding agent.name. Reported once, at the parent. */
	const char *p;
	json_t *vp;
	json_object_foreach (seen, p, vp) {
		size_t n = strlen(p), kids = 0;
		const char *first = NULL, *k;
		json_t *vk;
		json_object_foreach (seen, k, vk) {
			if (!strncmp(k, p, n) && k[n] == '.') {
				if (!first || strcmp(k, first) < 0)
					first = k;
				kids++;
			}
		}
		if (kids) {
			size_t old = push_idx(c, (size_t)json_integer_value(vp));
			ERR(c, "字段“%s”与字段“%s”%s冲突：一个字段不能同时是另一个字段的上级", p,
			    first, kids > 1 ? arena_printf(&c->a, "等 %zu 个字段", kids) : "");
			pop(c, old);
		}
	}
	json_decref(seen);
}

static void check_field(struct ck *c, const json_t *f, int group, json_t *seen, size_t idx)
{
	if (!check_keys(c, f, field_keys, "字段"))
		return;
	const char *id = str_of(f, "id");
	const char *type = str_of(f, "type");
	enum catalog_ftype t = catalog_ftype_parse(type);
	if (id && !catalog_field_id_valid(id))
		report_at(c, "id", false,
		          "字段 id“%s”格式不正确（小写字母开头，小写字母、数字、下划线，以点分隔）",
		          id);
	if (id && catalog_field_id_valid(id)) {
		if (!strcmp(id, "row") || !strcmp(id, "rows") || !strncmp(id, "row.", 4) ||
		    !strncmp(id, "rows.", 5))
			report_at(c, "id", false,
			          "字段 id 不能以“row”或“rows”开头（它们是表格规则的保留字）");
		if (json_object_get(seen, id))
			report_at(c, "id", false, "字段 id“%s”重复", id);
		else
			json_object_set_new(seen, id, json_integer((json_int_t)idx));
	}
	if (type && t == CF__UNKNOWN) {
		report_at(c, "type", false,
		          "字段类型“%s”不存在（可用：text、textarea、number、money、date、enum、"
		          "boolean、id_document、phone、address、bank_account、group、signature、"
		          "attachment）",
		          type);
		return;
	}
	if (!type)
		return;
	const char *key;
	json_t *v;
	json_object_foreach ((json_t *)f, key, v) {
		if (!key_allowed(t, key))
			report_at(c, key, false, "“%s”不适用于%s类型的字段", key,
			          catalog_ftype_label(t));
	}
	int me = fld_index(c, f);
	struct fld self = {.id = id, .sub = id, .def = f, .type = t, .group = group};
	const struct fld *fl = me >= 0 ? &c->flds[me] : &self;
	bool computed = json_object_get(f, "compute") != NULL;

	check_expr_at(c, f, "visible_when", group);
	check_expr_at(c, f, "required_when", group);
	const struct catalog_expr *ce = check_expr_at(c, f, "compute", group);
	(void)ce;
	if (computed) {
		if (json_object_get(f, "prefill"))
			report_at(c, "prefill", true, "计算字段的值由公式得出，预填不会生效");
		if (json_get_bool(f, "required", false) || json_object_get(f, "required_when"))
			report_at(c, "required", true, "计算字段不需要设为必填");
		if (t == CF_GROUP || t == CF_SIGNATURE || t == CF_ATTACHMENT)
			report_at(c, "compute", false, "%s类型的字段不能是计算字段",
			          catalog_ftype_label(t));
	}
	if (t == CF_SIGNATURE &&
	    (json_get_bool(f, "required", false) || json_object_get(f, "required_when")))
		report_at(c, "required", true, "签名字段由签署环节填写，表单不要求必填");

	/* text */
	json_t *mn = json_object_get(f, "min_length"), *mx = json_object_get(f, "max_length");
	if (json_is_integer(mn) && json_integer_value(mn) < 0)
		report_at(c, "min_length", false, "最小长度不能为负数");
	if (json_is_integer(mx) && (json_integer_value(mx) < 1 || json_integer_value(mx) > 100000))
		report_at(c, "max_length", false, "最大长度应在 1 到 100000 之间");
	if (json_is_integer(mn) && json_is_integer(mx) &&
	    json_integer_value(mn) > json_integer_value(mx))
		report_at(c, "min_length", false, "最小长度 %lld 大于最大长度 %lld",
		          (long long)json_integer_value(mn), (long long)json_integer_value(mx));
	const char *pattern = str_of(f, "pattern");
	if (pattern) {
		const char *why;
		if (!catalog_regex_valid(pattern, &why))
			report_at(c, "pattern", false, "正则表达式“%s”不正确：%s", pattern, why);
		if (!json_object_get(f, "pattern_message"))
			report_at(
			    c, "pattern", true,
			    "设置了“pattern”但没有“pattern_message”，不符合时只能显示笼统的提示");
	} else if (json_object_get(f, "pattern_message")) {
		report_at(c, "pattern_message", false, "没有“pattern”时不需要“pattern_message”");
	}

	/* ranges */
	json_t *lo = json_object_get(f, "min"), *hi = json_object_get(f, "max");
	if (t == CF_DATE) {
		if (lo && !date_or_today(lo))
			report_at(c, "min", false, "日期下限应为“YYYY-MM-DD”或“today”");
		if (hi && !date_or_today(hi))
			report_at(c, "max", false, "日期上限应为“YYYY-MM-DD”或“today”");
		if (lo && hi && date_or_today(lo) && date_or_today(hi) &&
		    strcmp(json_string_value(lo), "today") &&
		    strcmp(json_string_value(hi), "today") &&
		    strcmp(json_string_value(lo), json_string_value(hi)) > 0)
			report_at(c, "min", false, "日期下限晚于上限");
	} else if (t == CF_NUMBER || t == CF_MONEY) {
		if (lo && !json_is_number(lo))
			report_at(c, "min", false, "下限应为数字");
		if (hi && !json_is_number(hi))
			report_at(c, "max", false, "上限应为数字");
		if (json_is_number(lo) && json_is_number(hi) &&
		    json_number_value(lo) > json_number_value(hi))
			report_at(c, "min", false, "下限大于上限");
	}

	/* enum */
	if (t == CF_ENUM) {
		const char *table = str_of(f, "code_table");
		if (!json_object_get(f, "code_table"))
			ERR(c, "选项（enum）字段缺少“code_table”");
		else if (table && !catalog_ref_code_table(c->ref, table))
			report_at(c, "code_table", false, "代码表“%s”不存在", table);
	}

	/* group */
	if (t == CF_GROUP) {
		if (group >= 0) {
			ERR(c, "表格（group）内不能再嵌套表格");
		} else if (!json_object_get(f, "fields")) {
			ERR(c, "表格（group）字段缺少“fields”");
		} else {
			size_t old = push_key(c, "fields");
			check_fields(c, json_object_get(f, "fields"), me);
			pop(c, old);
		}
		json_t *r0 = json_object_get(f, "min_rows"), *r1 = json_object_get(f, "max_rows");
		if (json_is_integer(r0) && json_integer_value(r0) < 0)
			report_at(c, "min_rows", false, "最少行数不能为负数");
		if (json_is_integer(r1) &&
		    (json_integer_value(r1) < 1 || json_integer_value(r1) > 1000))
			report_at(c, "max_rows", false, "最多行数应在 1 到 1000 之间");
		if (json_is_integer(r0) && json_is_integer(r1) &&
		    json_integer_value(r0) > json_integer_value(r1))
			report_at(c, "min_rows", false, "最少行数大于最多行数");
		if (json_object_get(f, "default"))
			report_at(c, "default", false, "表格字段不能设置默认值");
	}

	json_t *def = json_object_get(f, "default");
	if (def && t != CF_GROUP) {
		size_t old = push_key(c, "default");
		check_value_for_type(c, fl, def, "默认值");
		pop(c, old);
	}
	json_t *pf = json_object_get(f, "prefill");
	if (json_is_array(pf)) {
		size_t old = push_key(c, "prefill");
		check_prefill(c, pf, fl);
		pop(c, old);
	}
}

/* ------------------------------------------------------------------ rules */

static const struct kspec rule_keys[] = {
    {"id", K_NESTR, KREQ}, {"when", K_STR, 0},       {"assert", K_STR, KREQ},
    {"field", K_NESTR, 0}, {"severity", K_NESTR, 0}, {"message", K_NESTR, KREQ},
    {NULL, 0, 0},
};

/* The group a rule's field puts it in: the group itself, or the group of a row field. */
static int rule_scope(struct ck *c, const char *field, bool *exists)
{
	*exists = false;
	if (!field)
		return -1;
	int i = find_fld(c, field);
	if (i < 0) {
		*exists = resolves(c, -1, field);
		return -1;
	}
	*exists = true;
	if (c->flds[i].type == CF_GROUP && c->flds[i].group < 0)
		return i;
	return c->flds[i].group;
}

static void check_rules(struct ck *c, const json_t *rules, bool prereview, json_t *ids)
{
	size_t i;
	json_t *r;
	if (!json_is_array(rules)) {
		ERR(c, "规则列表应为数组");
		return;
	}
	json_array_foreach (rules, i, r) {
		size_t old = push_idx(c, i);
		if (!check_keys(c, r, rule_keys, prereview ? "预审规则" : "规则")) {
			pop(c, old);
			continue;
		}
		const char *id = str_of(r, "id");
		if (id && !catalog_field_id_valid(id))
			report_at(c, "id", false, "规则 id“%s”格式不正确（小写字母、数字、下划线）",
			          id);
		else if (id && json_object_get(ids, id))
			report_at(c, "id", false, "规则 id“%s”重复", id);
		else if (id)
			json_object_set_new(ids, id, json_true());
		const char *field = str_of(r, "field");
		bool exists;
		int scope = rule_scope(c, field, &exists);
		if (field && !exists)
			report_at(c, "field", false, "规则所属的字段“%s”不存在", field);
		const char *sev = str_of(r, "severity");
		if (prereview) {
			if (!json_object_get(r, "severity"))
				ERR(c, "预审规则缺少“severity”（block 或 warn）");
			else if (sev && strcmp(sev, "block") && strcmp(sev, "warn"))
				report_at(c, "severity", false,
				          "预审规则的 severity 应为 block 或 warn，而不是“%s”",
				          sev);
		} else if (sev && strcmp(sev, "block")) {
			report_at(c, "severity", false,
			          "表单规则总是阻止提交，severity 只能是 block；提示性的规则请放在 "
			          "prereview 中");
		}
		check_expr_at(c, r, "when", scope);
		check_expr_at(c, r, "assert", scope);
		pop(c, old);
	}
}

/* ------------------------------------------------------------------ materials */

static const struct kspec material_keys[] = {
    {"id", K_NESTR, KREQ},     {"name", K_NESTR, KREQ},  {"need", K_NESTR, KREQ},
    {"when", K_STR, 0},        {"sources", K_ARR, KREQ}, {"e_cert", K_NESTR, 0},
    {"count", K_INT, 0},       {"original", K_BOOL, 0},  {"copies", K_INT, 0},
    {"retention", K_NESTR, 0}, {"note", K_STR, 0},       {NULL, 0, 0},
};

static bool one_of(const char *s, const char *const *set)
{
	for (; s && *set; set++)
		if (!strcmp(s, *set))
			return true;
	return false;
}

static const char *const retentions[] = {"permanent", "30y", "10y", NULL};

static void check_materials(struct ck *c, const json_t *list)
{
	static const char *const needs[] = {"required", "optional", "conditional", NULL};
	static const char *const sources[] = {"scan", "kiosk_photo", "e_cert", "library", NULL};
	json_t *ids = json_object();
	size_t i;
	json_t *m;
	json_array_foreach (list, i, m) {
		size_t old = push_idx(c, i);
		if (!check_keys(c, m, material_keys, "材料")) {
			pop(c, old);
			continue;
		}
		const char *id = str_of(m, "id");
		if (id && !catalog_field_id_valid(id))
			report_at(c, "id", false, "材料 id“%s”格式不正确（小写字母、数字、下划线）",
			          id);
		else if (id && json_object_get(ids, id))
			report_at(c, "id", false, "材料 id“%s”重复", id);
		else if (id)
			json_object_set_new(ids, id, json_true());
		const char *need = str_of(m, "need");
		if (need && !one_of(need, needs))
			report_at(c, "need", false,
			          "“need”应为 required、optional 或 conditional，而不是“%s”", need);
		if (need && !strcmp(need, "conditional") && !json_object_get(m, "when"))
			ERR(c, "条件性材料（conditional）需要“when”");
		if (need && strcmp(need, "conditional") && json_object_get(m, "when"))
			report_at(c, "when", false, "只有 need 为 conditional 的材料才使用“when”");
		check_expr_at(c, m, "when", -1);
		json_t *src = json_object_get(m, "sources");
		bool has_ecert = false;
		if (json_is_array(src)) {
			if (json_array_size(src) == 0)
				report_at(c, "sources", false, "至少需要一种材料来源");
			size_t j;
			json_t *s;
			json_array_foreach (src, j, s) {
				const char *sv = json_string_value(s);
				size_t o2 = push_key(c, "sources");
				size_t o3 = push_idx(c, j);
				if (!one_of(sv, sources))
					ERR(c,
					    "材料来源“%s”不存在（可用：scan、kiosk_photo、e_"
					    "cert、library）",
					    sv ? sv : "?");
				pop(c, o3);
				pop(c, o2);
				has_ecert |= sv && !strcmp(sv, "e_cert");
			}
		}
		if (has_ecert && !json_object_get(m, "e_cert"))
			ERR(c, "来源含 e_cert 时需要“e_cert”（证照类型）");
		if (!has_ecert && json_object_get(m, "e_cert"))
			report_at(c, "e_cert", false, "来源不含 e_cert 时不需要“e_cert”");
		json_t *cnt = json_object_get(m, "count"), *cp = json_object_get(m, "copies");
		if (json_is_integer(cnt) &&
		    (json_integer_value(cnt) < 1 || json_integer_value(cnt) > 100))
			report_at(c, "count", false, "份数应在 1 到 100 之间");
		if (json_is_integer(cp) &&
		    (json_integer_value(cp) < 0 || json_integer_value(cp) > 100))
			report_at(c, "copies", false, "复印件份数应在 0 到 100 之间");
		const char *ret = str_of(m, "retention");
		if (ret && !one_of(ret, retentions))
			report_at(c, "retention", false,
			          "保管期限应为 permanent、30y 或 10y，而不是“%s”", ret);
		pop(c, old);
	}
	json_decref(ids);
}

/* ------------------------------------------------------------------ signatures */

static const char *const roles[] = {"applicant", "agent",          "guardian",     "spouse",
                                    "helper",    "household_head", "co_applicant", NULL};

static const struct kspec signplan_keys[] = {
    {"signers", K_ARR, KREQ},
    {"multi_sign", K_BOOL, 0},
    {"commitments", K_ARR, 0},
    {NULL, 0, 0},
};
static const struct kspec signer_keys[] = {
    {"role", K_NESTR, KREQ}, {"label", K_NESTR, KREQ}, {"when", K_STR, 0}, {NULL, 0, 0}};
static const struct kspec commitment_keys[] = {
    {"id", K_NESTR, KREQ}, {"text", K_NESTR, KREQ}, {NULL, 0, 0}};

static void check_signatures(struct ck *c, const json_t *sp, json_t *signers)
{
	if (!check_keys(c, sp, signplan_keys, "签署方案"))
		return;
	const json_t *list = json_object_get(sp, "signers");
	size_t i;
	json_t *s;
	size_t o1 = push_key(c, "signers");
	json_array_foreach (list, i, s) {
		size_t old = push_idx(c, i);
		if (check_keys(c, s, signer_keys, "签署人")) {
			const char *role = str_of(s, "role");
			if (role && !one_of(role, roles))
				report_at(
				    c, "role", false,
				    "签署角色“%s”不存在（可用：applicant、agent、guardian、spouse、"
				    "helper、household_head、co_applicant）",
				    role);
			else if (role && json_object_get(signers, role))
				report_at(c, "role", false, "签署角色“%s”重复", role);
			else if (role)
				json_object_set_new(signers, role, json_true());
			check_expr_at(c, s, "when", -1);
		}
		pop(c, old);
	}
	pop(c, o1);
	bool multi = json_get_bool(sp, "multi_sign", false);
	if (multi && json_array_size(list) < 2)
		report_at(c, "multi_sign", true,
		          "一表多签（multi_sign）通常有两个以上签署人，这里只有 %zu 个",
		          json_array_size(list));
	if (multi && c->appform_kind && !strcmp(c->appform_kind, "none"))
		report_at(c, "multi_sign", false,
		          "一表多签需要申请表，但 application_form 为 none");
	const json_t *cm = json_object_get(sp, "commitments");
	if (json_array_size(cm) > 0 && json_array_size(list) == 0)
		report_at(c, "commitments", false,
		          "有承诺事项（commitments）却没有签署人，承诺无人确认");
	json_t *ids = json_object();
	size_t o2 = push_key(c, "commitments");
	json_array_foreach (cm, i, s) {
		size_t old = push_idx(c, i);
		if (check_keys(c, s, commitment_keys, "承诺")) {
			const char *id = str_of(s, "id");
			if (id && !catalog_field_id_valid(id))
				report_at(c, "id", false, "承诺 id“%s”格式不正确", id);
			else if (id && json_object_get(ids, id))
				report_at(c, "id", false, "承诺 id“%s”重复", id);
			else if (id)
				json_object_set_new(ids, id, json_true());
		}
		pop(c, old);
	}
	pop(c, o2);
	json_decref(ids);
}

/* ------------------------------------------------------------------ application form */

static const struct kspec appform_none_keys[] = {{"kind", K_NESTR, KREQ}, {NULL, 0, 0}};
static const struct kspec appform_gen_keys[] = {
    {"kind", K_NESTR, KREQ}, {"title", K_NESTR, KREQ}, {"sections", K_ARR, KREQ}, {NULL, 0, 0}};
static const struct kspec appform_fixed_keys[] = {
    {"kind", K_NESTR, KREQ}, {"template", K_NESTR, KREQ},   {"title", K_NESTR, 0},
    {"fields", K_ARR, 0},    {"signature_boxes", K_ARR, 0}, {NULL, 0, 0}};
static const struct kspec section_keys[] = {
    {"title", K_NESTR, KREQ}, {"fields", K_ARR, KREQ}, {"when", K_STR, 0}, {NULL, 0, 0}};
static const struct kspec place_keys[] = {{"field", K_NESTR, KREQ}, {"page", K_INT, KREQ},
                                          {"x", K_NUM, KREQ},       {"y", K_NUM, KREQ},
                                          {"size", K_NUM, 0},       {NULL, 0, 0}};
static const struct kspec box_keys[] = {
    {"signer", K_NESTR, KREQ}, {"page", K_INT, KREQ}, {"x", K_NUM, KREQ}, {"y", K_NUM, KREQ},
    {"w", K_NUM, KREQ},        {"h", K_NUM, KREQ},    {NULL, 0, 0}};

static void check_form_field_name(struct ck *c, const char *name)
{
	if (!name)
		return;
	if (find_fld(c, name) < 0 && !compound_member(c, -1, name))
		ERR(c, "申请表引用了不存在的字段“%s”", name);
}

static void check_appform(struct ck *c, const json_t *af, const char *code)
{
	if (!json_is_object(af)) {
		ERR(c, "申请表（application_form）应为对象");
		return;
	}
	const char *kind = str_of(af, "kind");
	if (!kind) {
		ERR(c, "申请表缺少“kind”（none、generated 或 fixed）");
		return;
	}
	size_t i;
	json_t *x;
	if (!strcmp(kind, "none")) {
		check_keys(c, af, appform_none_keys, "申请表");
	} else if (!strcmp(kind, "generated")) {
		if (!check_keys(c, af, appform_gen_keys, "申请表"))
			return;
		const json_t *secs = json_object_get(af, "sections");
		size_t o1 = push_key(c, "sections");
		if (json_is_array(secs) && json_array_size(secs) == 0)
			ERR(c, "生成的申请表至少需要一个栏目");
		json_array_foreach (secs, i, x) {
			size_t old = push_idx(c, i);
			if (check_keys(c, x, section_keys, "申请表栏目")) {
				const json_t *fs = json_object_get(x, "fields");
				size_t j;
				json_t *fn;
				size_t o2 = push_key(c, "fields");
				json_array_foreach (fs, j, fn) {
					size_t o3 = push_idx(c, j);
					if (!json_is_string(fn))
						ERR(c, "应为字段 id（字符串）");
					else
						check_form_field_name(c, json_string_value(fn));
					pop(c, o3);
				}
				pop(c, o2);
				check_expr_at(c, x, "when", -1);
			}
			pop(c, old);
		}
		pop(c, o1);
	} else if (!strcmp(kind, "fixed")) {
		if (!check_keys(c, af, appform_fixed_keys, "申请表"))
			return;
		const char *tpl = str_of(af, "template");
		if (tpl) {
			size_t n = strlen(tpl);
			if (strncmp(tpl, "templates/", 10) || n < 15 ||
			    strcmp(tpl + n - 4, ".pdf") || strstr(tpl, "..") ||
			    strchr(tpl + 10, '/'))
				report_at(c, "template", false,
				          "模板路径应为“templates/<名称>.pdf”，而不是“%s”", tpl);
			else if (c->templates)
				json_object_set_new(c->templates, tpl, json_string(c->path));
			char want[80];
			snprintf(want, sizeof(want), "templates/%s.pdf", code ? code : "");
			if (code && strcmp(tpl, want))
				report_at(c, "template", true, "制式申请表模板按约定命名为“%s”",
				          want);
		}
		if (!json_object_get(af, "title"))
			WARN(c, "制式申请表缺少“title”");
		const json_t *pl = json_object_get(af, "fields");
		size_t o1 = push_key(c, "fields");
		json_array_foreach (pl, i, x) {
			size_t old = push_idx(c, i);
			if (check_keys(c, x, place_keys, "字段位置")) {
				size_t o2 = push_key(c, "field");
				check_form_field_name(c, str_of(x, "field"));
				pop(c, o2);
				if (json_get_int(x, "page", 1) < 1)
					report_at(c, "page", false, "页码从 1 开始");
			}
			pop(c, old);
		}
		pop(c, o1);
		const json_t *bx = json_object_get(af, "signature_boxes");
		o1 = push_key(c, "signature_boxes");
		json_array_foreach (bx, i, x) {
			size_t old = push_idx(c, i);
			if (check_keys(c, x, box_keys, "签名框")) {
				const char *signer = str_of(x, "signer");
				if (signer && c->signers && !json_object_get(c->signers, signer))
					report_at(c, "signer", false,
					          "签名框的签署角色“%s”不在签署方案中", signer);
				if (json_get_int(x, "page", 1) < 1)
					report_at(c, "page", false, "页码从 1 开始");
			}
			pop(c, old);
		}
		pop(c, o1);
	} else {
		report_at(c, "kind", false, "申请表类型“%s”不存在（可用：none、generated、fixed）",
		          kind);
	}
}

/* ------------------------------------------------------------------ sub-items */

static const struct kspec sub_keys[] = {
    {"code", K_NESTR, KREQ},
    {"name", K_NESTR, KREQ},
    {"id_docs", K_ARR, KREQ},
    {"second_read", K_ARR, 0},
    {"form", K_OBJ, KREQ},
    {"materials", K_ARR, KREQ},
    {"application_form", K_OBJ, KREQ},
    {"signatures", K_OBJ, KREQ},
    {"prereview", K_ARR, 0},
    {"handler_rule", K_NESTR, KREQ},
    {"archive", K_OBJ, 0},
    {"submit_flow", K_NESTR, KREQ},
    {NULL, 0, 0},
};
static const struct kspec form_keys[] = {
    {"fields", K_ARR, KREQ}, {"rules", K_ARR, 0}, {NULL, 0, 0}};
static const struct kspec archive_keys[] = {{"required", K_BOOL, KREQ},
                                            {"category", K_NESTR, KREQ},
                                            {"retention", K_NESTR, KREQ},
                                            {"package", K_NESTR, 0},
                                            {NULL, 0, 0}};

static void check_sub_item(struct ck *c, const json_t *s, size_t idx)
{
	if (!check_keys(c, s, sub_keys, "子项"))
		return;
	const char *code = str_of(s, "code");
	if (code && c->basic_code) {
		size_t bl = strlen(c->basic_code);
		if (strlen(code) != bl + 3 || strncmp(code, c->basic_code, bl) || code[bl] != '-' ||
		    !(code[bl + 1] >= '0' && code[bl + 1] <= '9') ||
		    !(code[bl + 2] >= '0' && code[bl + 2] <= '9'))
			report_at(c, "code", false,
			          "子项编码应为“%s-NN”（基本编码加两位序号），而不是“%s”",
			          c->basic_code, code);
		else {
			char want[24];
			snprintf(want, sizeof(want), "%02zu", idx + 1);
			if (strcmp(code + bl + 1, want))
				report_at(c, "code", true, "子项编码序号通常按顺序编为 %s", want);
		}
	}

	/* identity documents */
	const json_t *docs = json_object_get(s, "id_docs");
	if (json_is_array(docs)) {
		size_t o1 = push_key(c, "id_docs");
		if (json_array_size(docs) == 0)
			ERR(c, "至少需要接受一种身份证件");
		json_t *seen = json_object();
		size_t i;
		json_t *d;
		json_array_foreach (docs, i, d) {
			size_t o2 = push_idx(c, i);
			const char *dv = json_string_value(d);
			if (!dv)
				ERR(c, "应为证件类型代码（字符串）");
			else if (!catalog_ref_code_entry(c->ref, "id_doc_type", dv))
				ERR(c, "证件类型“%s”不在代码表“id_doc_type”中", dv);
			else if (json_object_get(seen, dv))
				ERR(c, "证件类型“%s”重复", dv);
			else
				json_object_set_new(seen, dv, json_true());
			pop(c, o2);
		}
		pop(c, o1);
		json_decref(seen);
	}

	/* pass 1: fields */
	const json_t *form = json_object_get(s, "form");
	c->flds = arena_zalloc(&c->a, sizeof(struct fld) * MAX_FIELDS);
	c->nflds = 0;
	if (!c->flds) {
		ERR(c, "内存不足");
		return;
	}
	const char *kind = str_of(json_object_get(s, "application_form"), "kind");
	c->appform_kind = kind;
	json_t *signers = json_object();
	c->signers = signers;
	if (json_is_object(form))
		collect_fields(c, json_object_get(form, "fields"), -1);

	size_t o1 = push_key(c, "form");
	if (json_is_object(form) && check_keys(c, form, form_keys, "表单")) {
		const json_t *fields = json_object_get(form, "fields");
		if (json_is_array(fields)) {
			size_t o2 = push_key(c, "fields");
			if (json_array_size(fields) >= MAX_FIELDS)
				ERR(c, "字段过多（最多 %d 个）", MAX_FIELDS - 1);
			check_fields(c, fields, -1);
			pop(c, o2);
		}
		json_t *ids = json_object();
		if (json_object_get(form, "rules")) {
			size_t o2 = push_key(c, "rules");
			check_rules(c, json_object_get(form, "rules"), false, ids);
			pop(c, o2);
		}
		json_decref(ids);
	}
	pop(c, o1);

	/* signatures before the form layouts and second reads, which name signers */
	o1 = push_key(c, "signatures");
	if (json_object_get(s, "signatures"))
		check_signatures(c, json_object_get(s, "signatures"), signers);
	pop(c, o1);

	if (json_object_get(s, "materials")) {
		o1 = push_key(c, "materials");
		check_materials(c, json_object_get(s, "materials"));
		pop(c, o1);
	}
	if (json_object_get(s, "application_form")) {
		o1 = push_key(c, "application_form");
		check_appform(c, json_object_get(s, "application_form"), code);
		pop(c, o1);
	}
	if (json_object_get(s, "prereview")) {
		json_t *ids = json_object();
		o1 = push_key(c, "prereview");
		check_rules(c, json_object_get(s, "prereview"), true, ids);
		pop(c, o1);
		json_decref(ids);
	}
	const json_t *sr = json_object_get(s, "second_read");
	if (json_is_array(sr)) {
		size_t i;
		json_t *p;
		o1 = push_key(c, "second_read");
		json_array_foreach (sr, i, p) {
			size_t o2 = push_idx(c, i);
			const char *role = json_string_value(p);
			if (!role || !one_of(role, roles))
				ERR(c,
				    "二次读卡的当事人“%"
				    "s”不是签署角色（applicant、agent、guardian…）",
				    role ? role : "?");
			else if (!json_object_get(signers, role))
				WARN(c, "二次读卡的当事人“%s”不在签署方案中", role);
			pop(c, o2);
		}
		pop(c, o1);
	}
	const char *hr = str_of(s, "handler_rule");
	static const char *const handler_rules[] = {"applicant", "agent", "guardian",
	                                            "disabled_helper", NULL};
	if (hr && !one_of(hr, handler_rules))
		report_at(
		    c, "handler_rule", false,
		    "办理人规则“%s”不存在（可用：applicant、agent、guardian、disabled_helper）",
		    hr);
	else if (hr && !strcmp(hr, "disabled_helper") && c->dept_id &&
	         strcmp(c->dept_id, "canlian"))
		report_at(c, "handler_rule", true, "disabled_helper 是残联事项的办理人规则");
	const json_t *ar = json_object_get(s, "archive");
	if (ar) {
		o1 = push_key(c, "archive");
		if (check_keys(c, ar, archive_keys, "电子归档")) {
			const char *ret = str_of(ar, "retention");
			if (ret && !one_of(ret, retentions))
				report_at(c, "retention", false,
				          "保管期限应为 permanent、30y 或 10y，而不是“%s”", ret);
		}
		pop(c, o1);
	}
	const char *flow = str_of(s, "submit_flow");
	if (flow && !is_flow_name(flow))
		report_at(c, "submit_flow", false,
		          "提交流程名“%s”格式不正确（如 shebao.submit：小写，以点分隔）", flow);
	json_decref(signers);
	c->signers = NULL;
	c->flds = NULL;
	c->nflds = 0;
}

/* ------------------------------------------------------------------ items */

static const struct kspec item_keys[] = {
    {"basic_code", K_NESTR, KREQ},
    {"impl_code", K_NESTR, KREQ},
    {"name", K_NESTR, KREQ},
    {"short_name", K_NESTR, KREQ},
    {"pinyin", K_NESTR, KREQ},
    {"initials", K_NESTR, KREQ},
    {"department", K_NESTR, KREQ},
    {"item_type", K_NESTR, KREQ},
    {"case_type", K_INT, KREQ},
    {"promised_days", K_INT, 0},
    {"exercise_level", K_INT, KREQ},
    {"fees", K_OBJ, KREQ},
    {"legal_basis", K_ARR, KREQ},
    {"channels", K_ARR, KREQ},
    {"citywide", K_BOOL, KREQ},
    {"separated", K_BOOL, KREQ},
    {"vwin_mode", K_NESTR, KREQ},
    {"home_service", K_BOOL, KREQ},
    {"bundles", K_ARR, 0},
    {"note", K_STR, 0},
    {"consult", K_OBJ, KREQ},
    {"sub_items", K_ARR, KREQ},
    {NULL, 0, 0},
};
static const struct kspec fees_keys[] = {
    {"charged", K_BOOL, KREQ}, {"text", K_NESTR, KREQ}, {NULL, 0, 0}};
static const struct kspec consult_keys[] = {
    {"guide", K_NESTR, KREQ}, {"faqs", K_ARR, 0}, {"checklist", K_ARR, 0}, {NULL, 0, 0}};
static const struct kspec faq_keys[] = {{"q", K_NESTR, KREQ}, {"a", K_NESTR, KREQ}, {NULL, 0, 0}};

/* Number of Han characters (CJK unified ideographs) in s. */
static size_t han_count(const char *s)
{
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if ((p[0] & 0xF0) == 0xE0 && p[1] && p[2]) {
			unsigned cp =
			    ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
			n += cp >= 0x4E00 && cp <= 0x9FFF;
			p += 3;
		} else {
			p++;
		}
	}
	return n;
}

static void check_pinyin(struct ck *c, const json_t *item)
{
	const char *py = str_of(item, "pinyin"), *ini = str_of(item, "initials");
	const char *name = str_of(item, "name");
	if (!py)
		return;
	char want[256];
	size_t wn = 0, syl = 0;
	bool ok = *py != ' ';
	for (const char *p = py; *p; p++) {
		if (*p == ' ') {
			if (p[1] == ' ' || p[1] == 0)
				ok = false;
			continue;
		}
		if (!(*p >= 'a' && *p <= 'z')) {
			ok = false;
			break;
		}
		if (p == py || p[-1] == ' ') {
			syl++;
			if (wn + 1 < sizeof(want))
				want[wn++] = *p;
		}
	}
	want[wn] = 0;
	if (!ok) {
		report_at(c, "pinyin", false,
		          "拼音应为小写字母音节，以单个空格分隔，不带声调（如“jing lao ka”）");
		return;
	}
	if (ini && strcmp(ini, want))
		report_at(c, "initials", false, "首字母“%s”与拼音不一致，应为“%s”", ini, want);
	if (name && han_count(name) != syl)
		report_at(c, "pinyin", true, "拼音有 %zu 个音节，名称有 %zu 个汉字", syl,
		          han_count(name));
}

static void check_codes(struct ck *c, const json_t *item)
{
	const char *bc = str_of(item, "basic_code");
	c->basic_code = NULL;
	if (bc) {
		if (strlen(bc) != 12 || !all_chars(bc, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")) {
			report_at(c, "basic_code", false,
			          "基本编码应为 12 位数字或大写字母，而不是“%s”", bc);
		} else {
			c->basic_code = bc;
			const char *no = c->dept ? str_of(c->dept, "no") : NULL;
			char prefix[16];
			snprintf(prefix, sizeof(prefix), "3100%s", no ? no : "");
			if (no && strncmp(bc, prefix, 6))
				report_at(c, "basic_code", false,
				          "基本编码应以“%s”开头（3100 加%s的部门编号 %s）", prefix,
				          str_of(c->dept, "short_name")
				              ? str_of(c->dept, "short_name")
				              : c->dept_id,
				          no);
			else if (no && (!all_chars(bc, "0123456789") || strcmp(bc + 9, "000") ||
			                !strncmp(bc + 6, "000", 3)))
				report_at(c, "basic_code", false,
				          "基本编码应为“%s”加 3 位事项序号（001 起）加“000”",
				          prefix);
		}
	}
	const char *ic = str_of(item, "impl_code");
	if (!ic)
		return;
	size_t n = strlen(ic);
	if (n > 50 || !all_chars(ic, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")) {
		report_at(c, "impl_code", false, "实施编码应为不超过 50 位的数字或大写字母");
		return;
	}
	if (n != 31) {
		report_at(
		    c, "impl_code", false,
		    "实施编码应为 31 位（统一社会信用代码 18 位 + 行使层级 1 位 + 基本编码 12 "
		    "位），这里是 %zu 位",
		    n);
		return;
	}
	char head[19];
	memcpy(head, ic, 18);
	head[18] = 0;
	char expect;
	if (!catalog_credit_code_valid(head, &expect)) {
		if (expect == '?')
			report_at(
			    c, "impl_code", false,
			    "实施编码前 18 位“%s”不是统一社会信用代码（不能含 I、O、Z、S、V）",
			    head);
		else
			report_at(c, "impl_code", false,
			          "实施编码前 18 位（统一社会信用代码 %s）校验位错误，应为“%c”",
			          head, expect);
	}
	const char *credit = c->dept ? str_of(c->dept, "credit_code") : NULL;
	if (credit && strcmp(head, credit))
		report_at(c, "impl_code", false,
		          "实施编码前 18 位应为部门“%s”的统一社会信用代码 %s", c->dept_id, credit);
	json_int_t level = json_integer_value(json_object_get(item, "exercise_level"));
	if (json_is_integer(json_object_get(item, "exercise_level")) && ic[18] != '0' + level)
		report_at(c, "impl_code", false, "实施编码第 19 位应为行使层级 %lld，而不是“%c”",
		          (long long)level, ic[18]);
	if (bc && strcmp(ic + 19, bc))
		report_at(c, "impl_code", false, "实施编码后 12 位应为基本编码 %s", bc);
}

static void check_item(struct ck *c, const json_t *item)
{
	if (!check_keys(c, item, item_keys, "事项文件的内容"))
		return;
	c->dept_id = str_of(item, "department");
	c->dept = catalog_ref_department(c->ref, c->dept_id);
	if (c->dept_id && !c->dept)
		report_at(c, "department", false, "部门“%s”不在 departments.json 中", c->dept_id);
	check_codes(c, item);
	check_pinyin(c, item);

	const char *it = str_of(item, "item_type");
	static const char *const item_types[] = {"00", "01", "02", "03", "04", "05", "06",
	                                         "07", "08", "09", "10", "20", NULL};
	if (it && !one_of(it, item_types))
		report_at(
		    c, "item_type", false,
		    "事项类型“%s”不在 GB/T 39046 中（00 行政权力、01 许可…10 其他、20 公共服务）",
		    it);
	json_t *ct = json_object_get(item, "case_type");
	json_t *pd = json_object_get(item, "promised_days");
	if (json_is_integer(ct)) {
		json_int_t v = json_integer_value(ct);
		if (v != 1 && v != 2)
			report_at(c, "case_type", false, "办件类型应为 1（即办件）或 2（承诺件）");
		else if (v == 2 && !pd)
			ERR(c, "承诺件（case_type 2）缺少承诺办结时限“promised_days”");
		else if (v == 1 && pd)
			report_at(c, "promised_days", true,
			          "即办件（case_type 1）不需要承诺办结时限");
	}
	if (json_is_integer(pd) && (json_integer_value(pd) < 1 || json_integer_value(pd) > 365))
		report_at(c, "promised_days", false, "承诺办结时限应在 1 到 365 个工作日之间");
	json_t *lv = json_object_get(item, "exercise_level");
	if (json_is_integer(lv) && (json_integer_value(lv) < 1 || json_integer_value(lv) > 6))
		report_at(c, "exercise_level", false, "行使层级应为 1（国家）到 6（村、社区）");
	if (json_object_get(item, "fees")) {
		size_t o = push_key(c, "fees");
		check_keys(c, json_object_get(item, "fees"), fees_keys, "收费信息");
		pop(c, o);
	}
	size_t i;
	json_t *x;
	json_t *lb = json_object_get(item, "legal_basis");
	if (json_is_array(lb) && json_array_size(lb) == 0)
		report_at(c, "legal_basis", true, "没有列出设定依据");
	json_array_foreach (lb, i, x) {
		if (!json_is_string(x) || !json_string_length(x)) {
			size_t o = push_key(c, "legal_basis");
			size_t o2 = push_idx(c, i);
			ERR(c, "设定依据应为非空字符串");
			pop(c, o2);
			pop(c, o);
		}
	}
	json_t *ch = json_object_get(item, "channels");
	if (json_is_array(ch)) {
		size_t o = push_key(c, "channels");
		unsigned seen = 0;
		if (json_array_size(ch) == 0)
			ERR(c, "至少需要一种办理形式");
		json_array_foreach (ch, i, x) {
			json_int_t v = json_is_integer(x) ? json_integer_value(x) : -1;
			size_t o2 = push_idx(c, i);
			if (v != 1 && v != 2 && v != 3 && v != 4 && v != 9)
				ERR(c, "办理形式应为 1 窗口、2 PC、3 移动、4 快递或 9 其他");
			else if (seen & (1u << v))
				ERR(c, "办理形式 %lld 重复", (long long)v);
			else
				seen |= 1u << v;
			pop(c, o2);
		}
		pop(c, o);
	}
	if (json_is_false(json_object_get(item, "citywide")) &&
	    json_is_true(json_object_get(item, "separated")))
		report_at(c, "separated", true,
		          "收受分离是全市通办的一种方式，但 citywide 为 false");
	const char *vm = str_of(item, "vwin_mode");
	static const char *const vmodes[] = {"original", "virtual", "dual", NULL};
	if (vm && !one_of(vm, vmodes))
		report_at(c, "vwin_mode", false,
		          "虚拟窗口模式应为 original、virtual 或 dual，而不是“%s”", vm);
	json_t *bd = json_object_get(item, "bundles");
	json_array_foreach (bd, i, x) {
		if (!json_is_string(x) || !is_ident(json_string_value(x))) {
			size_t o = push_key(c, "bundles");
			size_t o2 = push_idx(c, i);
			ERR(c, "“一件事”名称应为小写字母开头的标识符（如 yanglao）");
			pop(c, o2);
			pop(c, o);
		}
	}
	json_t *cs = json_object_get(item, "consult");
	if (cs) {
		size_t o = push_key(c, "consult");
		if (check_keys(c, cs, consult_keys, "咨询信息")) {
			json_t *faqs = json_object_get(cs, "faqs");
			size_t o2 = push_key(c, "faqs");
			json_array_foreach (faqs, i, x) {
				size_t o3 = push_idx(c, i);
				check_keys(c, x, faq_keys, "常见问题");
				pop(c, o3);
			}
			pop(c, o2);
			json_t *cl = json_object_get(cs, "checklist");
			json_array_foreach (cl, i, x) {
				if (!json_is_string(x) || !json_string_length(x)) {
					size_t o3 = push_key(c, "checklist");
					size_t o4 = push_idx(c, i);
					ERR(c, "清单项应为非空字符串");
					pop(c, o4);
					pop(c, o3);
				}
			}
		}
		pop(c, o);
	}
	json_t *subs = json_object_get(item, "sub_items");
	if (json_is_array(subs)) {
		size_t o = push_key(c, "sub_items");
		if (json_array_size(subs) == 0)
			ERR(c, "至少需要一个子项");
		json_t *codes = json_object();
		json_array_foreach (subs, i, x) {
			size_t o2 = push_idx(c, i);
			const char *code = str_of(x, "code");
			if (code && json_object_get(codes, code))
				report_at(c, "code", false, "子项编码“%s”在本事项中重复", code);
			else if (code)
				json_object_set_new(codes, code, json_true());
			check_sub_item(c, x, i);
			pop(c, o2);
		}
		json_decref(codes);
		pop(c, o);
	}
}

void catalog_item_check(const struct catalog_ref *ref, const json_t *item, const char *file,
                        struct catalog_problems *pr)
{
	struct ck c = {.ref = ref, .pr = pr, .file = file};
	arena_init(&c.a, 0);
	check_item(&c, item);
	arena_release(&c.a);
}

/* ------------------------------------------------------------------ files */

/* Read and parse dir/rel; problems are reported against rel. NULL when it failed (and
 * *missing set when the file does not exist). */
static json_t *load_file(const char *dir, const char *rel, struct catalog_problems *pr,
                         bool *missing)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	if (missing)
		*missing = false;
	FILE *f = fopen(path, "rb");
	if (!f) {
		if (errno == ENOENT && missing)
			*missing = true;
		else
			catalog_problems_add(pr, rel, "", false, "无法读取文件：%s",
			                     strerror(errno));
		return NULL;
	}
	struct buf b;
	buf_init(&b, MAX_FILE_BYTES);
	char chunk[65536];
	size_t n;
	enum err e = ERR_OK;
	while (!e && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		e = buf_append(&b, chunk, n);
	bool rerr = ferror(f);
	fclose(f);
	json_t *v = NULL;
	if (e || rerr) {
		catalog_problems_add(pr, rel, "", false,
		                     e ? "文件过大（最多 %u MB）" : "读取文件失败",
		                     MAX_FILE_BYTES >> 20);
		goto out;
	}
	struct arena a;
	arena_init(&a, 0);
	struct errinfo ei = {0};
	if (json_parse(b.p ? b.p : "", b.len, &v, &a, &ei)) {
		const char *msg = ei.msg ? ei.msg : err_message(ei.code);
		/* json_parse speaks of a request body; a catalog file is not one. */
		const char *tail = strstr(msg, "JSON");
		catalog_problems_add(pr, rel, "", false, "不是合法的 JSON 文件：%s",
		                     tail && ei.code == ERR_BAD_JSON ? tail : msg);
		v = NULL;
	}
	arena_release(&a);
out:
	buf_release(&b);
	return v;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir (no dot files); *n gets the count. NULL with *n 0 when unreadable
 * (*unreadable set) or empty. Free each name and the array. */
static char **list_dir(const char *dir, size_t *n, bool *unreadable)
{
	*n = 0;
	*unreadable = false;
	DIR *d = opendir(dir);
	if (!d) {
		*unreadable = true;
		return NULL;
	}
	char **v = NULL;
	size_t alloc = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (*n == alloc) {
			size_t na = alloc ? alloc * 2 : 64;
			char **nv = realloc(v, na * sizeof(*v));
			if (!nv)
				break;
			v = nv;
			alloc = na;
		}
		if (!(v[*n] = strdup(de->d_name)))
			break;
		(*n)++;
	}
	closedir(d);
	if (v)
		qsort(v, *n, sizeof(*v), name_cmp);
	return v;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && !strcmp(s + n - m, suffix);
}

/* ------------------------------------------------------------------ departments, tables */

static const struct kspec dept_file_keys[] = {{"departments", K_ARR, KREQ}, {NULL, 0, 0}};
static const struct kspec dept_keys[] = {{"id", K_NESTR, KREQ},
                                         {"no", K_NESTR, KREQ},
                                         {"name", K_NESTR, KREQ},
                                         {"short_name", K_NESTR, KREQ},
                                         {"credit_code", K_NESTR, KREQ},
                                         {"connectors", K_ARR, KREQ},
                                         {"note", K_STR, 0},
                                         {NULL, 0, 0}};
static const struct kspec table_keys[] = {{"id", K_NESTR, KREQ},    {"name", K_NESTR, KREQ},
                                          {"source", K_STR, 0},     {"note", K_STR, 0},
                                          {"entries", K_ARR, KREQ}, {NULL, 0, 0}};
static const struct kspec entry_keys[] = {{"code", K_NESTR, KREQ},
                                          {"name", K_NESTR, KREQ},
                                          {"parent", K_NESTR, 0},
                                          {"luhn", K_BOOL, 0},
                                          {NULL, 0, 0}};

static void check_departments(struct ck *c, const json_t *doc)
{
	if (!check_keys(c, doc, dept_file_keys, "departments.json 的内容"))
		return;
	json_t *ids = json_object(), *nos = json_object(), *credits = json_object();
	const json_t *list = json_object_get(doc, "departments");
	size_t i;
	json_t *d;
	size_t o = push_key(c, "departments");
	json_array_foreach (list, i, d) {
		size_t o2 = push_idx(c, i);
		if (check_keys(c, d, dept_keys, "部门")) {
			const char *id = str_of(d, "id"), *no = str_of(d, "no");
			const char *cc = str_of(d, "credit_code");
			if (id && !is_ident(id))
				report_at(c, "id", false,
				          "部门 id“%s”格式不正确（小写字母开头，2–32 "
				          "位小写字母、数字、下划线）",
				          id);
			else if (id && json_object_get(ids, id))
				report_at(c, "id", false, "部门 id“%s”重复", id);
			else if (id)
				json_object_set_new(ids, id, json_true());
			if (no && (strlen(no) != 2 || !all_chars(no, "0123456789")))
				report_at(c, "no", false, "部门编号应为 2 位数字");
			else if (no && json_object_get(nos, no))
				report_at(c, "no", false, "部门编号“%s”重复", no);
			else if (no)
				json_object_set_new(nos, no, json_true());
			char expect;
			if (cc && !catalog_credit_code_valid(cc, &expect)) {
				if (expect == '?')
					report_at(c, "credit_code", false,
					          "统一社会信用代码应为 18 "
					          "位，由数字和大写字母组成（不含 I、O、Z、S、V）");
				else
					report_at(c, "credit_code", true,
					          "统一社会信用代码校验位应为“%"
					          "c”（少数早期代码校验不通过，请核对）",
					          expect);
			}
			if (cc && json_object_get(credits, cc))
				report_at(c, "credit_code", false, "统一社会信用代码“%s”重复", cc);
			else if (cc)
				json_object_set_new(credits, cc, json_true());
			const json_t *cn = json_object_get(d, "connectors");
			size_t j;
			json_t *x;
			json_array_foreach (cn, j, x) {
				if (!json_is_string(x) || !is_ident(json_string_value(x))) {
					size_t o3 = push_key(c, "connectors");
					size_t o4 = push_idx(c, j);
					ERR(c, "连接器名应为小写标识符（如 shebao），不能是网址");
					pop(c, o4);
					pop(c, o3);
				}
			}
		}
		pop(c, o2);
	}
	pop(c, o);
	json_decref(ids);
	json_decref(nos);
	json_decref(credits);
}

static void check_table(struct ck *c, const json_t *t, const char *stem)
{
	if (!check_keys(c, t, table_keys, "代码表"))
		return;
	const char *id = str_of(t, "id");
	if (id && strcmp(id, stem))
		report_at(c, "id", false, "代码表 id“%s”应与文件名“%s”一致", id, stem);
	json_t *codes = json_object();
	const json_t *list = json_object_get(t, "entries");
	size_t i;
	json_t *e;
	size_t o = push_key(c, "entries");
	if (json_is_array(list) && json_array_size(list) == 0)
		ERR(c, "代码表没有条目");
	json_array_foreach (list, i, e) {
		size_t o2 = push_idx(c, i);
		if (check_keys(c, e, entry_keys, "代码表条目")) {
			const char *code = str_of(e, "code");
			if (code && json_object_get(codes, code))
				report_at(c, "code", false, "代码“%s”重复", code);
			else if (code)
				json_object_set_new(codes, code, json_true());
		}
		pop(c, o2);
	}
	pop(c, o);
	json_decref(codes);
}

/* Checks that need all tables: parents of hierarchical tables (street → district) and the
 * built-in tables every item may use. */
static void check_tables_together(struct catalog_problems *pr, const json_t *tables)
{
	static const char *const builtin[] = {
	    "gender",         "id_doc_type",    "relation",        "district", "bank",
	    "marital_status", "household_type", "payment_channel", NULL};
	for (const char *const *b = builtin; *b; b++)
		if (!json_object_get(tables, *b))
			catalog_problems_add(pr, "code_tables", "", false,
			                     "缺少内置代码表“%s.json”", *b);
	static const char *const docs[] = {"111", "PR2023", "PR2017", "HMT",
	                                   "SSC", "SHRP",   "MEDQR",  NULL};
	const json_t *idt = json_object_get(tables, "id_doc_type");
	if (idt) {
		for (const char *const *d = docs; *d; d++) {
			bool found = false;
			size_t i;
			json_t *e;
			json_array_foreach (json_object_get(idt, "entries"), i, e) {
				const char *code = json_get_str(e, "code");
				found |= code && !strcmp(code, *d);
			}
			if (!found)
				catalog_problems_add(pr, "code_tables/id_doc_type.json", "entries",
				                     false, "证件类型表缺少“%s”", *d);
		}
	}
	/* street entries name their district */
	const json_t *street = json_object_get(tables, "street");
	const json_t *district = json_object_get(tables, "district");
	if (street && district) {
		size_t i;
		json_t *e;
		json_array_foreach (json_object_get(street, "entries"), i, e) {
			const char *parent = json_get_str(e, "parent");
			bool found = false;
			size_t j;
			json_t *d;
			json_array_foreach (json_object_get(district, "entries"), j, d) {
				const char *code = json_get_str(d, "code");
				found |= parent && code && !strcmp(code, parent);
			}
			if (!found) {
				char path[64];
				snprintf(path, sizeof(path), "entries[%zu].parent", i);
				catalog_problems_add(pr, "code_tables/street.json", path, false,
				                     "街道（镇）条目的上级区“%s”不在 district 表中",
				                     parent ? parent : "");
			}
		}
	}
}

/* Load departments.json and code_tables/ into *deps / *tables (both set, possibly empty). */
static enum err load_ref_docs(const char *dir, json_t **deps, json_t **tables,
                              struct catalog_problems *pr)
{
	size_t before = pr->errors;
	bool missing;
	struct ck c = {.pr = pr};
	*tables = json_object();
	*deps = load_file(dir, "departments.json", pr, &missing);
	if (missing)
		catalog_problems_add(pr, "departments.json", "", false, "缺少 departments.json");
	if (*deps) {
		c.file = "departments.json";
		check_departments(&c, *deps);
	}
	if (!json_is_array(json_object_get(*deps, "departments"))) {
		json_decref(*deps);
		*deps = json_pack("{s:[]}", "departments");
	}
	char tdir[4096];
	snprintf(tdir, sizeof(tdir), "%s/code_tables", dir);
	size_t n;
	bool unreadable;
	char **names = list_dir(tdir, &n, &unreadable);
	if (unreadable)
		catalog_problems_add(pr, "code_tables", "", false,
		                     "无法读取代码表目录 code_tables/");
	for (size_t i = 0; i < n; i++) {
		char rel[600];
		snprintf(rel, sizeof(rel), "code_tables/%s", names[i]);
		if (!ends_with(names[i], ".json")) {
			catalog_problems_add(pr, rel, "", true, "不是 .json 文件，已忽略");
			continue;
		}
		json_t *t = load_file(dir, rel, pr, NULL);
		if (!t)
			continue;
		char stem[512];
		snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(names[i]) - 5), names[i]);
		c.file = rel;
		check_table(&c, t, stem);
		if (json_is_object(t) && json_is_array(json_object_get(t, "entries")))
			json_object_set(*tables, stem, t);
		json_decref(t);
	}
	free_list(names, n);
	check_tables_together(pr, *tables);
	if (!*deps || !*tables)
		return ERR_NOMEM;
	return pr->errors > before ? ERR_INVALID : ERR_OK;
}

enum err catalog_ref_load_dir(const char *dir, struct catalog_ref **out,
                              struct catalog_problems *pr)
{
	*out = NULL;
	if (!is_dir(dir)) {
		catalog_problems_add(pr, dir, "", false, "目录不存在或无法读取");
		return ERR_IO;
	}
	json_t *deps = NULL, *tables = NULL;
	enum err e = load_ref_docs(dir, &deps, &tables, pr);
	if (deps && tables) {
		enum err e2 = catalog_ref_from_json(deps, tables, out);
		if (e2)
			e = e2;
	}
	json_decref(deps);
	json_decref(tables);
	return e;
}

/* ------------------------------------------------------------------ the whole directory */

static const struct kspec changes_file_keys[] = {{"changes", K_ARR, KREQ}, {NULL, 0, 0}};
static const struct kspec change_keys[] = {{"old", K_NESTR, KREQ},
                                           {"new", K_NESTR, KREQ},
                                           {"effective", K_NESTR, KREQ},
                                           {"reason", K_NESTR, KREQ},
                                           {NULL, 0, 0}};

/* Record code → file in map; report a collision. */
static void claim(struct catalog_problems *pr, json_t *map, const char *code, const char *file,
                  const char *path, const char *what)
{
	if (!code)
		return;
	const char *other = json_string_value(json_object_get(map, code));
	if (other)
		catalog_problems_add(pr, file, path, false, "%s“%s”与 %s 重复", what, code, other);
	else
		json_object_set_new(map, code, json_string(file));
}

static void check_code_changes(struct catalog_problems *pr, const json_t *doc, const json_t *basic,
                               const json_t *subs)
{
	struct ck c = {.pr = pr, .file = "code_changes.json"};
	if (!check_keys(&c, doc, changes_file_keys, "code_changes.json 的内容"))
		return;
	json_t *olds = json_object();
	size_t i;
	json_t *ch;
	size_t o = push_key(&c, "changes");
	json_array_foreach (json_object_get(doc, "changes"), i, ch) {
		size_t o2 = push_idx(&c, i);
		if (check_keys(&c, ch, change_keys, "编码变更")) {
			const char *old = str_of(ch, "old"), *nw = str_of(ch, "new");
			const char *eff = str_of(ch, "effective");
			int y, m, d;
			if (eff && !catalog_date_parse(eff, &y, &m, &d))
				report_at(&c, "effective", false, "生效日期应为“YYYY-MM-DD”");
			if (old && nw && !strcmp(old, nw))
				report_at(&c, "new", false, "新编码与旧编码相同");
			if (old && json_object_get(olds, old))
				report_at(&c, "old", false, "编码“%s”已有一条变更", old);
			else if (old)
				json_object_set_new(olds, old, json_true());
			bool known_old =
			    old && (json_object_get(basic, old) || json_object_get(subs, old));
			bool known_new =
			    nw && (json_object_get(basic, nw) || json_object_get(subs, nw));
			if (old && nw && !known_old && !known_new)
				ERR(&c, "变更的编码“%s”和“%s”都不在目录中", old, nw);
			if (old && nw && strlen(old) != strlen(nw))
				report_at(&c, "new", false,
				          "新旧编码的类型不一致（基本编码与子项编码不能互换）");
		}
		pop(&c, o2);
	}
	pop(&c, o);
	json_decref(olds);
}

struct scan {
	struct catalog_check_counts counts;
	json_t *items; /* array of item documents when loading, else NULL */
	json_t *deps, *tables, *changes;
	struct catalog_ref *ref;
};

static enum err scan_dir(const char *dir, struct catalog_problems *pr, struct scan *sc)
{
	enum err e = ERR_OK;
	json_t *basic = json_object(), *impl = json_object(), *subs = json_object();
	json_t *templates = json_object(), *names = json_object();
	if (!is_dir(dir)) {
		catalog_problems_add(pr, dir, "", false, "目录不存在或无法读取");
		e = ERR_IO;
		goto out;
	}
	load_ref_docs(dir, &sc->deps, &sc->tables, pr);
	if (!sc->deps || !sc->tables ||
	    catalog_ref_from_json(sc->deps, sc->tables, &sc->ref) != ERR_OK) {
		e = ERR_NOMEM;
		goto out;
	}

	sc->counts.departments = json_array_size(json_object_get(sc->deps, "departments"));
	sc->counts.code_tables = json_object_size(sc->tables);
	char idir[4096];
	snprintf(idir, sizeof(idir), "%s/items", dir);
	size_t nd;
	bool unreadable;
	char **depts = list_dir(idir, &nd, &unreadable);
	if (unreadable)
		catalog_problems_add(pr, "items", "", true, "没有事项目录 items/");
	for (size_t i = 0; i < nd; i++) {
		char ddir[4700], rel0[600];
		snprintf(ddir, sizeof(ddir), "%s/%s", idir, depts[i]);
		snprintf(rel0, sizeof(rel0), "items/%s", depts[i]);
		if (!is_dir(ddir)) {
			catalog_problems_add(
			    pr, rel0, "", false,
			    "items/ 下应只有部门目录（items/<部门 id>/<基本编码>.json）");
			continue;
		}
		if (!catalog_ref_department(sc->ref, depts[i]))
			catalog_problems_add(pr, rel0, "", false,
			                     "目录名“%s”不是 departments.json 中的部门 id",
			                     depts[i]);
		size_t nf;
		char **files = list_dir(ddir, &nf, &unreadable);
		for (size_t j = 0; j < nf; j++) {
			char rel[1200];
			snprintf(rel, sizeof(rel), "items/%s/%s", depts[i], files[j]);
			if (!ends_with(files[j], ".json")) {
				catalog_problems_add(pr, rel, "", true, "不是 .json 文件，已忽略");
				continue;
			}
			json_t *item = load_file(dir, rel, pr, NULL);
			if (!item)
				continue;
			struct ck c = {
			    .ref = sc->ref, .pr = pr, .file = rel, .templates = templates};
			arena_init(&c.a, 0);
			check_item(&c, item);
			arena_release(&c.a);
			const char *bc = json_get_str(item, "basic_code");
			const char *dep = json_get_str(item, "department");
			char stem[512];
			snprintf(stem, sizeof(stem), "%.*s", (int)(strlen(files[j]) - 5), files[j]);
			if (bc && strcmp(bc, stem))
				catalog_problems_add(pr, rel, "basic_code", false,
				                     "文件名应为基本编码：“%s.json”", bc);
			if (dep && strcmp(dep, depts[i]))
				catalog_problems_add(pr, rel, "department", false,
				                     "事项属于部门“%s”，却放在 items/%s/ 下", dep,
				                     depts[i]);
			claim(pr, basic, bc, rel, "basic_code", "基本编码");
			const char *name = json_get_str(item, "name");
			const char *same =
			    name ? json_string_value(json_object_get(names, name)) : NULL;
			if (same)
				catalog_problems_add(pr, rel, "name", true,
				                     "事项名称“%s”与 %s 相同，检索时难以区分", name,
				                     same);
			else if (name)
				json_object_set_new(names, name, json_string(rel));
			claim(pr, impl, json_get_str(item, "impl_code"), rel, "impl_code",
			      "实施编码");
			size_t k;
			json_t *s;
			json_array_foreach (json_object_get(item, "sub_items"), k, s) {
				char path[64];
				snprintf(path, sizeof(path), "sub_items[%zu].code", k);
				claim(pr, subs, json_get_str(s, "code"), rel, path, "子项编码");
			}
			if (sc->items && json_is_object(item))
				json_array_append(sc->items, item);
			sc->counts.items++;
			sc->counts.sub_items += json_array_size(json_object_get(item, "sub_items"));
			json_decref(item);
		}
		free_list(files, nf);
	}
	free_list(depts, nd);

	bool missing;
	sc->changes = load_file(dir, "code_changes.json", pr, &missing);
	if (sc->changes)
		check_code_changes(pr, sc->changes, basic, subs);
	if (!sc->changes || !json_is_array(json_object_get(sc->changes, "changes"))) {
		json_decref(sc->changes);
		sc->changes = json_pack("{s:[]}", "changes");
	}

	/* The template PDFs come from a generator later: one line for all that are missing. */
	const char *tpl, *first = NULL;
	json_t *where;
	size_t missing_tpl = 0;
	json_object_foreach (templates, tpl, where) {
		char path[4700];
		snprintf(path, sizeof(path), "%s/%s", dir, tpl);
		struct stat st;
		if (stat(path, &st) != 0) {
			if (!first || strcmp(tpl, first) < 0)
				first = tpl;
			missing_tpl++;
		}
	}
	if (missing_tpl)
		catalog_problems_add(pr, "templates", "", true,
		                     "%zu 个制式申请表模板还不存在（由模板生成器产生），如“%s”",
		                     missing_tpl, first);
	e = pr->errors ? ERR_INVALID : ERR_OK;
out:
	json_decref(basic);
	json_decref(impl);
	json_decref(subs);
	json_decref(templates);
	json_decref(names);
	return e;
}

static void scan_release(struct scan *sc);

enum err catalog_check_dir(const char *dir, struct catalog_problems *pr)
{
	return catalog_check_dir_counts(dir, pr, NULL);
}

static void scan_release(struct scan *sc)
{
	json_decref(sc->items);
	json_decref(sc->deps);
	json_decref(sc->tables);
	json_decref(sc->changes);
	catalog_ref_destroy(sc->ref);
	memset(sc, 0, sizeof(*sc));
}

enum err catalog_check_dir_counts(const char *dir, struct catalog_problems *pr,
                                  struct catalog_check_counts *counts)
{
	struct scan sc = {0};
	size_t before = pr->errors;
	enum err e = scan_dir(dir, pr, &sc);
	if (counts)
		*counts = sc.counts;
	scan_release(&sc);
	if (e == ERR_INVALID || e == ERR_OK)
		e = pr->errors > before ? ERR_INVALID : ERR_OK;
	return e;
}

static int item_cmp(const void *a, const void *b)
{
	const char *x = json_get_str(*(json_t *const *)a, "basic_code");
	const char *y = json_get_str(*(json_t *const *)b, "basic_code");
	return strcmp(x ? x : "", y ? y : "");
}

enum err catalog_load_dir(const char *dir, struct catalog_set **out, struct catalog_problems *pr)
{
	struct scan sc = {.items = json_array()};
	*out = NULL;
	size_t before = pr->errors;
	enum err e = sc.items ? scan_dir(dir, pr, &sc) : ERR_NOMEM;
	if (!e && pr->errors > before)
		e = ERR_INVALID;
	if (e)
		goto out;
	struct catalog_set *s = calloc(1, sizeof(*s));
	size_t n = json_array_size(sc.items);
	json_t **v = calloc(n ? n : 1, sizeof(*v));
	json_t *sorted = json_array();
	if (!s || !v || !sorted) {
		free(s);
		free(v);
		json_decref(sorted);
		e = ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = json_array_get(sc.items, i);
	qsort(v, n, sizeof(*v), item_cmp);
	for (size_t i = 0; i < n; i++)
		json_array_append(sorted, v[i]);
	free(v);
	s->ref = sc.ref;
	s->departments = sc.deps;
	s->code_tables = sc.tables;
	s->code_changes = sc.changes;
	s->items = sorted;
	sc.ref = NULL;
	sc.deps = sc.tables = sc.changes = NULL;
	*out = s;
out:
	scan_release(&sc);
	return e;
}

void catalog_set_destroy(struct catalog_set *s)
{
	if (!s)
		return;
	catalog_ref_destroy(s->ref);
	json_decref(s->departments);
	json_decref(s->code_tables);
	json_decref(s->items);
	json_decref(s->code_changes);
	free(s);
}
