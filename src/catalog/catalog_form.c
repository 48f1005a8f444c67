/* catalog_form.c: validating form data against one sub-item (docs/catalog.md "FIELD").
 *
 * The order of work matters and is fixed:
 *   1. bounds on the data (depth, size) and unknown keys;
 *   2. computed fields, on a working copy (submitted values of computed fields are ignored);
 *   3. visibility in document order; a hidden field is removed from the working copy, so
 *      later expressions see it as empty, and it is neither required nor validated;
 *   4. computed fields again (they may have read a value that is now hidden);
 *   5. required and type checks of each visible field (every violation, not the first);
 *   6. form rules, then 预审 rules. A rule is skipped when a field it reads already has a
 *      violation (the clerk sees one message per mistake, not a cascade) or when the field
 *      it belongs to is hidden. A rule whose field is a group, or a field inside one, and
 *      which reads `row` runs once per row.
 * The sub-item is trusted to have passed the checker, but nothing here crashes if it did
 * not: bad parts are skipped. */
#include "catalog/catalog_int.h"

#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <string.h>

#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "ident/ident.h"

#define MAX_DATA_DEPTH   16
#define MAX_DATA_NODES   20000
#define MAX_STRING_BYTES 65536
#define MAX_FORM_FIELDS  1000
#define DEFAULT_MAX_ROWS 1000

/* snprintf for field paths: ids are at most 128 bytes, so the buffers fit them; a longer
 * path from a broken document is cut, which only shortens a message. */
static void __attribute__((format(printf, 3, 4))) pathf(char *buf, size_t n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, n, fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------ identity numbers */

bool catalog_id_number_valid(const char *type, const char *number, const char *today,
                             const char **why)
{
	/* The reason is formatted by ident_check into a scratch arena; it is copied here so
	 * that it outlives the call (valid until this thread's next call). */
	static _Thread_local char reason[320];
	struct arena a;
	struct ident_doc d;
	const char *dummy;
	if (!why)
		why = &dummy;
	*why = NULL;
	if (!type) {
		*why = "请选择证件类型";
		return false;
	}
	arena_init(&a, 64 * 1024);
	enum err e = ident_check(type, number, today, &a, &d);
	if (e != ERR_OK) {
		const char *r = e == ERR_NOMEM ? "服务器内存不足，无法校验号码"
		                               : (d.reason ? d.reason : "号码不正确");
		size_t n = strlen(r);
		if (n >= sizeof(reason)) {
			/* cut at a UTF-8 boundary */
			n = sizeof(reason) - 1;
			while (n && ((unsigned char)r[n] & 0xC0) == 0x80)
				n--;
		}
		memcpy(reason, r, n);
		reason[n] = '\0';
		*why = reason;
	}
	arena_release(&a);
	return e == ERR_OK;
}

/* ------------------------------------------------------------------ the form */

struct ffld {
	const char *id;    /* full id ("members.name" for a row field) */
	const char *sub;   /* id inside its group */
	const char *label; /* never NULL */
	const json_t *def;
	enum catalog_ftype type;
	int group; /* -1 at top level */
	const struct catalog_expr *visible, *required_when, *compute;
	bool required;
};

struct fctx {
	const struct catalog_ref *ref;
	const json_t *sub_item;
	const char *today;
	struct arena a;
	json_t *work; /* working copy of the data */
	struct ffld *f;
	int nf;
	json_t *bad;    /* field path → true: paths with a violation */
	json_t *hidden; /* field path → true */
	struct catalog_form_result *out;
	enum err e;
};

static void __attribute__((format(printf, 4, 5)))
violation(struct fctx *c, const char *field, const char *rule, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = arena_vprintf(&c->a, fmt, ap);
	va_end(ap);
	json_t *v = json_pack("{s:s, s:s, s:s}", "field", field ? field : "", "message",
	                      msg ? msg : "数据有误", "rule", rule);
	if (!v || json_array_append_new(c->out->violations, v))
		c->e = ERR_NOMEM;
	if (field)
		json_object_set_new(c->bad, field, json_true());
}

/* ---- paths in the working copy ---- */

bool catalog_value_empty(const json_t *v)
{
	if (!v || json_is_null(v))
		return true;
	if (json_is_string(v))
		return str_trim((struct str){json_string_value(v), json_string_length(v)}).n == 0;
	if (json_is_array(v))
		return json_array_size(v) == 0;
	if (json_is_object(v)) {
		const char *k;
		json_t *x;
		json_object_foreach ((json_t *)v, k, x) {
			if (!catalog_value_empty(x))
				return false;
		}
		return true;
	}
	return false;
}

/* ---- collecting the fields ---- */

static const struct catalog_expr *parse_at(struct fctx *c, const json_t *obj, const char *key)
{
	const char *src = json_get_str(obj, key);
	struct catalog_expr *e = NULL;
	const char *msg;
	if (src && catalog_expr_parse(src, &c->a, &e, &msg)) {
		log_warn("catalog.form_bad_expr", "unchecked sub-item: %s: %s", src, msg);
		return NULL;
	}
	return e;
}

static void collect(struct fctx *c, const json_t *fields, int group)
{
	size_t i;
	json_t *d;
	json_array_foreach (fields, i, d) {
		const char *id = json_get_str(d, "id");
		if (!id || !catalog_field_id_valid(id) || c->nf >= MAX_FORM_FIELDS)
			continue;
		struct ffld *f = &c->f[c->nf];
		f->sub = id;
		f->id = group < 0 ? id : arena_printf(&c->a, "%s.%s", c->f[group].id, id);
		if (!f->id)
			continue;
		f->label = json_get_str(d, "label") ? json_get_str(d, "label") : id;
		f->def = d;
		f->type = catalog_ftype_parse(json_get_str(d, "type"));
		f->group = group;
		f->visible = parse_at(c, d, "visible_when");
		f->required_when = parse_at(c, d, "required_when");
		f->compute = parse_at(c, d, "compute");
		f->required = json_get_bool(d, "required", false);
		int me = c->nf++;
		if (f->type == CF_GROUP && group < 0)
			collect(c, json_object_get(d, "fields"), me);
	}
}

/* ---- bounds and unknown keys ---- */

/* false when v exceeds the depth/size limits (counted in *nodes). */
static bool within_bounds(const json_t *v, int depth, size_t *nodes)
{
	if (++*nodes > MAX_DATA_NODES || depth > MAX_DATA_DEPTH)
		return false;
	if (json_is_string(v))
		return json_string_length(v) <= MAX_STRING_BYTES;
	if (json_is_object(v)) {
		const char *k;
		json_t *x;
		json_object_foreach ((json_t *)v, k, x) {
			if (!within_bounds(x, depth + 1, nodes))
				return false;
		}
	} else if (json_is_array(v)) {
		size_t i;
		json_t *x;
		json_array_foreach (v, i, x) {
			if (!within_bounds(x, depth + 1, nodes))
				return false;
		}
	}
	return true;
}

/* Field in scope g whose id is exactly name, or -1. */
static int field_named(const struct fctx *c, int g, const char *name)
{
	for (int i = 0; i < c->nf; i++)
		if (c->f[i].group == g && !strcmp(c->f[i].sub, name))
			return i;
	return -1;
}

static bool is_namespace(const struct fctx *c, int g, const char *name)
{
	size_t n = strlen(name);
	for (int i = 0; i < c->nf; i++)
		if (c->f[i].group == g && !strncmp(c->f[i].sub, name, n) && c->f[i].sub[n] == '.')
			return true;
	return false;
}

/* Walk obj (at dotted prefix within scope g; shown as display prefix) for keys that are
 * neither fields nor namespaces of fields. */
static void unknown_keys(struct fctx *c, const json_t *obj, int g, const char *prefix,
                         const char *shown)
{
	const char *k;
	json_t *x;
	json_object_foreach ((json_t *)obj, k, x) {
		char name[300], disp[400];
		pathf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", k);
		pathf(disp, sizeof(disp), "%s%s%s", shown, *shown ? "." : "", k);
		int fi = field_named(c, g, name);
		if (fi >= 0) {
			if (c->f[fi].type == CF_GROUP && json_is_array(x)) {
				size_t i;
				json_t *row;
				json_array_foreach (x, i, row) {
					char rp[420];
					pathf(rp, sizeof(rp), "%s[%zu]", disp, i);
					if (json_is_object(row))
						unknown_keys(c, row, fi, "", rp);
				}
			}
			continue;
		}
		if (is_namespace(c, g, name)) {
			if (json_is_object(x))
				unknown_keys(c, x, g, name, disp);
			else if (!json_is_null(x))
				violation(c, disp, "unknown_field", "“%s”应为包含各项内容的对象",
				          disp);
			continue;
		}
		violation(c, disp, "unknown_field", "不认识的字段“%s”", disp);
	}
}

/* ---- computed fields and visibility ---- */

static void add_path(json_t *list, const char *path)
{
	json_array_append_new(list, json_string(path));
}

static void compute_all(struct fctx *c)
{
	json_object_clear(c->out->computed);
	for (int i = 0; i < c->nf; i++) {
		struct ffld *f = &c->f[i];
		if (json_object_get(c->hidden, f->id))
			continue;
		if (f->type == CF_GROUP && f->group < 0) {
			json_t *rows = json_path_get(c->work, f->id);
			if (!json_is_array(rows))
				continue;
			for (int j = 0; j < c->nf; j++) {
				struct ffld *s = &c->f[j];
				if (s->group != i || !s->compute)
					continue;
				size_t r;
				json_t *row;
				json_array_foreach (rows, r, row) {
					if (!json_is_object(row))
						continue;
					char path[400];
					pathf(path, sizeof(path), "%s[%zu].%s", f->id, r, s->sub);
					if (json_object_get(c->hidden, path)) {
						json_path_del(row, s->sub);
						continue;
					}
					json_t *v = catalog_expr_eval_rows(s->compute, c->work, row,
					                                   rows, c->today);
					if (!v)
						v = json_null();
					json_object_set(c->out->computed, path, v);
					json_path_set_new(row, s->sub, v);
				}
			}
			continue;
		}
		if (f->group >= 0 || !f->compute)
			continue;
		json_t *v = catalog_expr_eval(f->compute, c->work, NULL, c->today);
		if (!v)
			v = json_null();
		json_object_set(c->out->computed, f->id, v);
		json_path_set_new(c->work, f->id, v);
	}
}

static bool visible_now(const struct ffld *f, struct fctx *c, const json_t *row, const json_t *rows)
{
	if (!f->visible)
		return true;
	json_t *v = catalog_expr_eval_rows(f->visible, c->work, row, rows, c->today);
	bool t = catalog_expr_truthy(v);
	json_decref(v);
	return t;
}

static void visibility(struct fctx *c)
{
	for (int i = 0; i < c->nf; i++) {
		struct ffld *f = &c->f[i];
		if (f->group >= 0)
			continue;
		if (!visible_now(f, c, NULL, NULL)) {
			json_object_set_new(c->hidden, f->id, json_true());
			json_path_del(c->work, f->id);
			continue;
		}
		add_path(c->out->visible, f->id);
		if (f->type != CF_GROUP)
			continue;
		json_t *rows = json_path_get(c->work, f->id);
		size_t r;
		json_t *row;
		json_array_foreach (rows, r, row) {
			if (!json_is_object(row) || r >= DEFAULT_MAX_ROWS)
				continue;
			for (int j = 0; j < c->nf; j++) {
				struct ffld *s = &c->f[j];
				if (s->group != i)
					continue;
				char path[400];
				pathf(path, sizeof(path), "%s[%zu].%s", f->id, r, s->sub);
				if (visible_now(s, c, row, rows)) {
					add_path(c->out->visible, path);
				} else {
					json_object_set_new(c->hidden, path, json_true());
					json_path_del(row, s->sub);
				}
			}
		}
	}
}

/* ---- type checks ---- */

static bool has_control(const char *s, bool multiline)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if ((*p < 0x20 && !(multiline && (*p == '\n' || *p == '\t' || *p == '\r'))) ||
		    *p == 0x7F)
			return true;
	return false;
}

static const char *fmt_num(struct fctx *c, double v)
{
	return arena_printf(&c->a, "%.15g", v);
}

static void check_text(struct fctx *c, const struct ffld *f, const char *path, const json_t *v)
{
	if (!json_is_string(v)) {
		violation(c, path, "type", "“%s”应为文字", f->label);
		return;
	}
	const char *s = json_string_value(v);
	size_t bytes = json_string_length(v);
	bool multi = f->type == CF_TEXTAREA;
	if (memchr(s, 0, bytes) || has_control(s, multi)) {
		violation(c, path, "type", "“%s”含有不允许的控制字符%s", f->label,
		          multi ? "" : "（不能换行）");
		return;
	}
	int64_t len = (int64_t)utf8_len(s, bytes);
	int64_t mn = json_get_int(f->def, "min_length", 0);
	int64_t mx = json_get_int(f->def, "max_length", multi ? 5000 : 200);
	if (len < mn) {
		violation(c, path, "min_length", "“%s”至少需要 %lld 个字", f->label, (long long)mn);
		return;
	}
	if (len > mx) {
		violation(c, path, "max_length", "“%s”最多 %lld 个字，现在有 %lld 个", f->label,
		          (long long)mx, (long long)len);
		return;
	}
	const char *pat = json_get_str(f->def, "pattern");
	const char *why;
	if (pat && catalog_regex_valid(pat, &why)) {
		regex_t re;
		if (regcomp(&re, pat, REG_EXTENDED | REG_NOSUB) == 0) {
			bool ok = regexec(&re, s, 0, NULL, 0) == 0;
			regfree(&re);
			if (!ok) {
				const char *pm = json_get_str(f->def, "pattern_message");
				if (pm)
					violation(c, path, "pattern", "%s", pm);
				else
					violation(c, path, "pattern", "“%s”的格式不正确", f->label);
			}
		}
	}
}

static void check_range(struct fctx *c, const struct ffld *f, const char *path, double x,
                        const char *unit)
{
	json_t *lo = json_object_get(f->def, "min"), *hi = json_object_get(f->def, "max");
	if (json_is_number(lo) && x < json_number_value(lo))
		violation(c, path, "min", "“%s”不能小于 %s%s", f->label,
		          fmt_num(c, json_number_value(lo)), unit);
	else if (json_is_number(hi) && x > json_number_value(hi))
		violation(c, path, "max", "“%s”不能大于 %s%s", f->label,
		          fmt_num(c, json_number_value(hi)), unit);
}

static void check_date(struct fctx *c, const struct ffld *f, const char *path, const json_t *v)
{
	int y, m, d;
	const char *s = json_string_value(v);
	if (!s || !catalog_date_parse(s, &y, &m, &d)) {
		violation(c, path, "type", "“%s”应为有效日期（如 2024-05-01）", f->label);
		return;
	}
	const char *lo = json_get_str(f->def, "min"), *hi = json_get_str(f->def, "max");
	const char *lo_v = lo && !strcmp(lo, "today") ? c->today : lo;
	const char *hi_v = hi && !strcmp(hi, "today") ? c->today : hi;
	if (lo_v && strcmp(s, lo_v) < 0)
		violation(c, path, "min", "“%s”不能早于%s", f->label,
		          !strcmp(lo, "today") ? "今天" : lo);
	else if (hi_v && strcmp(s, hi_v) > 0)
		violation(c, path, "max", "“%s”不能晚于%s", f->label,
		          !strcmp(hi, "today") ? "今天" : hi);
}

static void check_enum(struct fctx *c, const struct ffld *f, const char *path, const json_t *v)
{
	const char *table = json_get_str(f->def, "code_table");
	bool multiple = json_get_bool(f->def, "multiple", false);
	if (!multiple) {
		const char *code = json_string_value(v);
		if (!code)
			violation(c, path, "type", "“%s”应从选项中选择", f->label);
		else if (!catalog_ref_code_entry(c->ref, table, code))
			violation(c, path, "code_table", "“%s”的选项“%s”无效", f->label, code);
		return;
	}
	if (!json_is_array(v)) {
		violation(c, path, "type", "“%s”应为选项列表（可多选）", f->label);
		return;
	}
	size_t i;
	json_t *x;
	json_array_foreach (v, i, x) {
		const char *code = json_string_value(x);
		if (!code) {
			violation(c, path, "type", "“%s”应从选项中选择", f->label);
			return;
		}
		if (!catalog_ref_code_entry(c->ref, table, code)) {
			violation(c, path, "code_table", "“%s”的选项“%s”无效", f->label, code);
			return;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(code, json_string_value(json_array_get(v, j)))) {
				violation(c, path, "code_table", "“%s”的选项“%s”重复", f->label,
				          code);
				return;
			}
	}
}

/* Members of a compound value that the type does not know. */
static bool members_known(struct fctx *c, const struct ffld *f, const char *path, const json_t *v)
{
	if (!json_is_object(v)) {
		violation(c, path, "type", "“%s”的格式不正确", f->label);
		return false;
	}
	const char *k;
	json_t *x;
	bool ok = true;
	json_object_foreach ((json_t *)v, k, x) {
		const char *const *m = catalog_ftype_members(f->type);
		bool known = false;
		for (; m && *m; m++)
			known |= !strcmp(*m, k);
		if (!known) {
			violation(c, path, "unknown_field", "“%s”中有不认识的项“%s”", f->label, k);
			ok = false;
		}
	}
	return ok;
}

static void check_id_document(struct fctx *c, const struct ffld *f, const char *path,
                              const json_t *v)
{
	if (!members_known(c, f, path, v))
		return;
	const char *type = json_get_str(v, "type");
	const json_t *num = json_object_get(v, "number");
	if (!type) {
		violation(c, path, "required", "请选择“%s”的证件类型", f->label);
		return;
	}
	const json_t *entry = catalog_ref_code_entry(c->ref, "id_doc_type", type);
	if (!entry) {
		violation(c, path, "code_table", "“%s”的证件类型“%s”无效", f->label, type);
		return;
	}
	const char *docname = json_get_str(entry, "name") ? json_get_str(entry, "name") : type;
	const json_t *accepted = json_object_get(c->sub_item, "id_docs");
	if (json_is_array(accepted) && json_array_size(accepted) > 0) {
		bool ok = false;
		size_t i;
		json_t *x;
		json_array_foreach (accepted, i, x) {
			ok |= json_is_string(x) && !strcmp(json_string_value(x), type);
		}
		if (!ok) {
			violation(c, path, "id_docs", "本事项不接受以“%s”作为“%s”", docname,
			          f->label);
			return;
		}
	}
	if (catalog_value_empty(num)) {
		violation(c, path, "required", "请填写“%s”的证件号码", f->label);
		return;
	}
	if (!json_is_string(num)) {
		violation(c, path, "type", "“%s”的证件号码应为文字", f->label);
		return;
	}
	const char *why;
	if (!catalog_id_number_valid(type, json_string_value(num), c->today, &why))
		violation(c, path, "id_number", "“%s”不是有效的%s号码：%s", f->label, docname, why);
}

static bool phone_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 11 && s[0] == '1' && s[1] >= '3' && s[1] <= '9') {
		for (size_t i = 2; i < n; i++)
			if (s[i] < '0' || s[i] > '9')
				return false;
		return true;
	}
	/* landline 0\d{2,3}-?\d{7,8} */
	if (s[0] != '0')
		return false;
	const char *dash = strchr(s, '-');
	size_t area, local;
	if (dash) {
		area = (size_t)(dash - s);
		local = n - area - 1;
	} else {
		/* Without a dash the split is ambiguous; any split of 3–4 + 7–8 will do. */
		if (n < 10 || n > 12)
			return false;
		area = 3;
		local = n - 3;
		if (local > 8) {
			area = 4;
			local = n - 4;
		}
	}
	if (area < 3 || area > 4 || local < 7 || local > 8)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s + i != dash && (s[i] < '0' || s[i] > '9'))
			return false;
	return true;
}

static void check_address(struct fctx *c, const struct ffld *f, const char *path, const json_t *v)
{
	if (!members_known(c, f, path, v))
		return;
	const char *district = json_get_str(v, "district");
	const json_t *street = json_object_get(v, "street");
	const json_t *nb = json_object_get(v, "neighbourhood");
	const json_t *detail = json_object_get(v, "detail");
	if (catalog_value_empty(json_object_get(v, "district")))
		violation(c, path, "required", "请选择“%s”所在的区", f->label);
	else if (!district || !catalog_ref_code_entry(c->ref, "district", district))
		violation(c, path, "code_table", "“%s”的区“%s”无效", f->label,
		          district ? district : "");
	if (!catalog_value_empty(street)) {
		const char *st = json_string_value(street);
		if (!st) {
			violation(c, path, "type", "“%s”的街道（镇）应为文字", f->label);
		} else if (catalog_ref_code_table(c->ref, "street")) {
			const json_t *e = catalog_ref_code_entry(c->ref, "street", st);
			const char *parent = json_get_str(e, "parent");
			if (!e)
				violation(c, path, "code_table", "“%s”的街道（镇）“%s”无效",
				          f->label, st);
			else if (district && parent && strcmp(parent, district))
				violation(c, path, "code_table", "“%s”的街道（镇）不属于所选的区",
				          f->label);
		} else if (utf8_len(st, strlen(st)) > 50) {
			violation(c, path, "max_length", "“%s”的街道（镇）最多 50 个字", f->label);
		}
	}
	if (!catalog_value_empty(nb) && (!json_is_string(nb) || json_string_length(nb) > 200))
		violation(c, path, "type", "“%s”的居（村）委应为不超过 50 个字的文字", f->label);
	if (catalog_value_empty(detail))
		violation(c, path, "required", "请填写“%s”的详细地址", f->label);
	else if (!json_is_string(detail) ||
	         utf8_len(json_string_value(detail), json_string_length(detail)) > 200 ||
	         has_control(json_string_value(detail), false))
		violation(c, path, "type", "“%s”的详细地址应为不超过 200 个字的文字", f->label);
}

static bool luhn_ok(const char *s)
{
	size_t n = strlen(s);
	int sum = 0;
	for (size_t i = 0; i < n; i++) {
		int d = s[n - 1 - i] - '0';
		if (i % 2 == 1) {
			d *= 2;
			if (d > 9)
				d -= 9;
		}
		sum += d;
	}
	return sum % 10 == 0;
}

static void check_bank(struct fctx *c, const struct ffld *f, const char *path, const json_t *v)
{
	if (!members_known(c, f, path, v))
		return;
	const char *bank = json_get_str(v, "bank");
	const json_t *acct = json_object_get(v, "account");
	const json_t *holder = json_object_get(v, "holder");
	const json_t *entry = NULL;
	if (catalog_value_empty(json_object_get(v, "bank")))
		violation(c, path, "required", "请选择“%s”的开户银行", f->label);
	else if (!bank || !(entry = catalog_ref_code_entry(c->ref, "bank", bank)))
		violation(c, path, "code_table", "“%s”的开户银行“%s”无效", f->label,
		          bank ? bank : "");
	if (catalog_value_empty(acct)) {
		violation(c, path, "required", "请填写“%s”的账号", f->label);
	} else {
		const char *s = json_string_value(acct);
		size_t n = s ? strlen(s) : 0;
		bool digits = s && n >= 12 && n <= 30;
		for (size_t i = 0; digits && i < n; i++)
			digits = s[i] >= '0' && s[i] <= '9';
		if (!digits)
			violation(c, path, "bank_account", "“%s”的账号应为 12 至 30 位数字",
			          f->label);
		else if (json_get_bool(entry, "luhn", false) && n >= 16 && n <= 19 &&
		         !strncmp(s, "62", 2) && !luhn_ok(s))
			violation(c, path, "bank_account", "“%s”的银行卡号校验不通过，请核对",
			          f->label);
	}
	if (catalog_value_empty(holder))
		violation(c, path, "required", "请填写“%s”的账户户名", f->label);
	else if (!json_is_string(holder) ||
	         utf8_len(json_string_value(holder), json_string_length(holder)) > 100)
		violation(c, path, "type", "“%s”的账户户名应为不超过 100 个字的文字", f->label);
}

/* Type check of a non-empty value. */
static void check_value(struct fctx *c, const struct ffld *f, const char *path, const json_t *v)
{
	switch (f->type) {
	case CF_TEXT:
	case CF_TEXTAREA: check_text(c, f, path, v); break;
	case CF_NUMBER:
		if (!json_is_number(v))
			violation(c, path, "type", "“%s”应为数字", f->label);
		else
			check_range(c, f, path, json_number_value(v), "");
		break;
	case CF_MONEY: {
		if (!json_is_number(v)) {
			violation(c, path, "type", "“%s”应为金额（元）", f->label);
			break;
		}
		double x = json_number_value(v), cents = x * 100.0;
		if (fabs(cents - round(cents)) > 1e-6 || fabs(x) > 1e13)
			violation(c, path, "money", "“%s”最多保留两位小数（精确到分）", f->label);
		else
			check_range(c, f, path, x, " 元");
		break;
	}
	case CF_DATE: check_date(c, f, path, v); break;
	case CF_ENUM: check_enum(c, f, path, v); break;
	case CF_BOOLEAN:
		if (!json_is_boolean(v))
			violation(c, path, "type", "“%s”应为“是”或“否”", f->label);
		break;
	case CF_ID_DOCUMENT: check_id_document(c, f, path, v); break;
	case CF_PHONE:
		if (!json_is_string(v) || !phone_ok(json_string_value(v)))
			violation(c, path, "phone", "“%s”应为 11 位手机号码或固定电话", f->label);
		break;
	case CF_ADDRESS: check_address(c, f, path, v); break;
	case CF_BANK_ACCOUNT: check_bank(c, f, path, v); break;
	case CF_ATTACHMENT:
		if (!(json_is_string(v) && json_string_length(v) <= 200) && !json_is_object(v))
			violation(c, path, "type", "“%s”应为已上传材料的引用", f->label);
		break;
	default: break;
	}
}

static bool required_now(struct fctx *c, const struct ffld *f, const json_t *row,
                         const json_t *rows)
{
	if (f->compute || f->type == CF_SIGNATURE)
		return false;
	if (f->required)
		return true;
	if (!f->required_when)
		return false;
	json_t *v = catalog_expr_eval_rows(f->required_when, c->work, row, rows, c->today);
	bool t = catalog_expr_truthy(v);
	json_decref(v);
	return t;
}

static void check_field(struct fctx *c, const struct ffld *f, const char *path, const json_t *v,
                        const json_t *row, const json_t *rows)
{
	if (f->type == CF_SIGNATURE || f->compute)
		return;
	bool req = required_now(c, f, row, rows);
	if (req)
		add_path(c->out->required, path);
	if (catalog_value_empty(v) && !(f->type == CF_GROUP && json_is_array(v))) {
		if (req)
			violation(c, path, "required",
			          f->type == CF_ENUM || f->type == CF_BOOLEAN ? "请选择“%s”"
			                                                      : "请填写“%s”",
			          f->label);
		return;
	}
	check_value(c, f, path, v);
}

static void check_group(struct fctx *c, int gi)
{
	const struct ffld *g = &c->f[gi];
	json_t *rows = json_path_get(c->work, g->id);
	bool req = required_now(c, g, NULL, NULL);
	if (req)
		add_path(c->out->required, g->id);
	if (rows && !json_is_null(rows) && !json_is_array(rows)) {
		violation(c, g->id, "type", "“%s”应为表格行的列表", g->label);
		return;
	}
	size_t n = json_array_size(rows);
	int64_t mn = json_get_int(g->def, "min_rows", 0);
	int64_t mx = json_get_int(g->def, "max_rows", DEFAULT_MAX_ROWS);
	if (mx > DEFAULT_MAX_ROWS)
		mx = DEFAULT_MAX_ROWS;
	if (req && mn < 1)
		mn = 1;
	if ((int64_t)n < mn) {
		if (n == 0 && req)
			violation(c, g->id, "required", "请填写“%s”", g->label);
		else
			violation(c, g->id, "min_rows", "“%s”至少需要 %lld 行", g->label,
			          (long long)mn);
	}
	if ((int64_t)n > mx) {
		violation(c, g->id, "max_rows", "“%s”最多 %lld 行，现在有 %zu 行", g->label,
		          (long long)mx, n);
		return;
	}
	size_t r;
	json_t *row;
	json_array_foreach (rows, r, row) {
		char rp[300];
		pathf(rp, sizeof(rp), "%s[%zu]", g->id, r);
		if (!json_is_object(row)) {
			violation(c, rp, "type", "“%s”第 %zu 行的格式不正确", g->label, r + 1);
			continue;
		}
		for (int j = 0; j < c->nf; j++) {
			const struct ffld *s = &c->f[j];
			if (s->group != gi)
				continue;
			char path[400];
			pathf(path, sizeof(path), "%s.%s", rp, s->sub);
			if (json_object_get(c->hidden, path))
				continue;
			/* Row messages name the row: "“同住家庭成员”第 2 行的“姓名”". */
			struct ffld named = *s;
			named.label =
			    arena_printf(&c->a, "%s”第 %zu 行的“%s", g->label, r + 1, s->label);
			if (!named.label)
				named.label = s->label;
			check_field(c, &named, path, json_path_get(row, s->sub), row, rows);
		}
	}
}

static void check_fields(struct fctx *c)
{
	for (int i = 0; i < c->nf && !c->e; i++) {
		const struct ffld *f = &c->f[i];
		if (f->group >= 0 || json_object_get(c->hidden, f->id))
			continue;
		if (f->type == CF_GROUP)
			check_group(c, i);
		else
			check_field(c, f, f->id, json_path_get(c->work, f->id), NULL, NULL);
	}
}

/* ---- rules ---- */

struct refscan {
	struct fctx *c;
	const char *row_prefix; /* "members[1]" when evaluating a row, else NULL */
	bool bad;
};

static bool path_bad(const struct fctx *c, const char *path)
{
	if (json_object_get(c->bad, path))
		return true;
	size_t n = strlen(path);
	const char *k;
	json_t *v;
	json_object_foreach (c->bad, k, v) {
		/* a violation inside a compound value or a row of a group the rule reads */
		if (!strncmp(k, path, n) && (k[n] == '.' || k[n] == '['))
			return true;
	}
	return false;
}

static void scan_ref(void *ctx, const char *ref)
{
	struct refscan *s = ctx;
	char path[400];
	if (!strncmp(ref, "row.", 4)) {
		if (!s->row_prefix)
			return;
		pathf(path, sizeof(path), "%s.%s", s->row_prefix, ref + 4);
	} else if (!strcmp(ref, "row") || !strcmp(ref, "rows")) {
		return;
	} else {
		pathf(path, sizeof(path), "%s", ref);
	}
	/* applicant.id_doc.number → the field applicant.id_doc */
	for (;;) {
		if (path_bad(s->c, path)) {
			s->bad = true;
			return;
		}
		char *dot = strrchr(path, '.');
		if (!dot)
			return;
		*dot = 0;
	}
}

/* Does the rule read a field that already has a violation? */
static bool reads_bad(struct fctx *c, const struct catalog_expr *e, const char *row_prefix)
{
	struct refscan s = {c, row_prefix, false};
	catalog_expr_refs(e, scan_ref, &s);
	return s.bad;
}

/* A computed value made from a field with a violation is no better than that field: mark it
 * so that rules reading it are skipped too. */
static void taint_computed(struct fctx *c)
{
	for (int i = 0; i < c->nf; i++) {
		const struct ffld *f = &c->f[i];
		if (!f->compute)
			continue;
		if (f->group < 0) {
			if (reads_bad(c, f->compute, NULL))
				json_object_set_new(c->bad, f->id, json_true());
			continue;
		}
		const char *gid = c->f[f->group].id;
		size_t n = json_array_size(json_path_get(c->work, gid));
		for (size_t r = 0; r < n && r < DEFAULT_MAX_ROWS; r++) {
			char rp[300], path[400];
			pathf(rp, sizeof(rp), "%s[%zu]", gid, r);
			pathf(path, sizeof(path), "%s.%s", rp, f->sub);
			if (reads_bad(c, f->compute, rp))
				json_object_set_new(c->bad, path, json_true());
		}
	}
}

static void run_rule(struct fctx *c, const json_t *r, bool prereview)
{
	const char *id = json_get_str(r, "id");
	const char *field = json_get_str(r, "field");
	const char *msg = json_get_str(r, "message");
	const char *sev = json_get_str(r, "severity");
	const struct catalog_expr *when = parse_at(c, r, "when"), *as = parse_at(c, r, "assert");
	if (!as)
		return;
	if (field && json_object_get(c->hidden, field))
		return;
	/* The group the rule belongs to, if any. */
	int g = -1;
	for (int i = 0; field && i < c->nf; i++)
		if (!strcmp(c->f[i].id, field)) {
			g = c->f[i].type == CF_GROUP && c->f[i].group < 0 ? i : c->f[i].group;
			break;
		}
	const json_t *rows = g >= 0 ? json_path_get(c->work, c->f[g].id) : NULL;
	bool per_row = g >= 0 && (catalog_expr_uses_row(as) || catalog_expr_uses_row(when));
	size_t n = per_row ? json_array_size(rows) : 1;
	if (n > DEFAULT_MAX_ROWS)
		n = DEFAULT_MAX_ROWS;
	for (size_t i = 0; i < n; i++) {
		const json_t *row = per_row ? json_array_get(rows, i) : NULL;
		char rp[300], fp[400];
		if (per_row) {
			if (!json_is_object(row))
				continue;
			pathf(rp, sizeof(rp), "%s[%zu]", c->f[g].id, i);
			if (field && strcmp(field, c->f[g].id))
				pathf(fp, sizeof(fp), "%s.%s", rp, field + strlen(c->f[g].id) + 1);
			else
				pathf(fp, sizeof(fp), "%s", rp);
			if (json_object_get(c->hidden, fp))
				continue;
		} else {
			pathf(fp, sizeof(fp), "%s", field ? field : "");
		}
		const char *prefix = per_row ? rp : NULL;
		if (when) {
			json_t *w = catalog_expr_eval_rows(when, c->work, row, rows, c->today);
			bool go = catalog_expr_truthy(w);
			json_decref(w);
			if (!go)
				continue;
		}
		if (reads_bad(c, as, prefix) || (when && reads_bad(c, when, prefix)))
			continue;
		json_t *v = catalog_expr_eval_rows(as, c->work, row, rows, c->today);
		bool ok = catalog_expr_truthy(v);
		json_decref(v);
		if (ok)
			continue;
		if (prereview) {
			bool block = !sev || strcmp(sev, "warn");
			json_t *x = json_pack("{s:s, s:s, s:s, s:s}", "id", id ? id : "",
			                      "severity", block ? "block" : "warn", "message",
			                      msg ? msg : "预审未通过", "field", fp);
			if (!x || json_array_append_new(c->out->prereview, x))
				c->e = ERR_NOMEM;
			if (block)
				c->out->blocked = true;
		} else {
			violation(c, fp[0] ? fp : NULL, id ? id : "rule", "%s",
			          msg ? msg : "数据不符合规则");
		}
	}
}

/* ---- entry ---- */

void catalog_form_result_release(struct catalog_form_result *r)
{
	json_decref(r->violations);
	json_decref(r->prereview);
	json_decref(r->visible);
	json_decref(r->required);
	json_decref(r->computed);
	memset(r, 0, sizeof(*r));
}

enum err catalog_form_evaluate(const struct catalog_ref *ref, const json_t *sub_item,
                               const json_t *data, const char *today,
                               struct catalog_form_result *out)
{
	struct fctx c = {.ref = ref, .sub_item = sub_item, .today = today, .out = out};
	memset(out, 0, sizeof(*out));
	out->violations = json_array();
	out->prereview = json_array();
	out->visible = json_array();
	out->required = json_array();
	out->computed = json_object();
	arena_init(&c.a, 0);
	c.bad = json_object();
	c.hidden = json_object();
	if (!out->violations || !out->prereview || !out->visible || !out->required ||
	    !out->computed || !c.bad || !c.hidden) {
		c.e = ERR_NOMEM;
		goto out;
	}
	const json_t *form = json_object_get(sub_item, "form");
	const json_t *fields = json_object_get(form, "fields");
	if (!json_is_array(fields)) {
		c.e = ERR_INVALID;
		goto out;
	}
	int y, m, d;
	if (!today || !catalog_date_parse(today, &y, &m, &d)) {
		c.e = ERR_INVALID;
		goto out;
	}
	if (!json_is_object(data)) {
		violation(&c, NULL, "data", "表单数据应为 JSON 对象");
		goto done;
	}
	size_t nodes = 0;
	if (!within_bounds(data, 0, &nodes)) {
		violation(&c, NULL, "data",
		          "表单数据过大或层次过深（最多 %d 层、%d 项，单项文字最多 %d 字节）",
		          MAX_DATA_DEPTH, MAX_DATA_NODES, MAX_STRING_BYTES);
		goto done;
	}
	c.f = arena_zalloc(&c.a, sizeof(struct ffld) * MAX_FORM_FIELDS);
	c.work = json_deep_copy(data);
	if (!c.f || !c.work) {
		c.e = ERR_NOMEM;
		goto out;
	}
	collect(&c, fields, -1);
	unknown_keys(&c, data, -1, "", "");
	compute_all(&c);
	visibility(&c);
	compute_all(&c);
	check_fields(&c);
	taint_computed(&c);
	size_t i;
	json_t *r;
	json_array_foreach (json_object_get(form, "rules"), i, r) {
		run_rule(&c, r, false);
	}
	json_array_foreach (json_object_get(sub_item, "prereview"), i, r) {
		run_rule(&c, r, true);
	}
done:
	out->valid = json_array_size(out->violations) == 0;
out:
	json_decref(c.work);
	json_decref(c.bad);
	json_decref(c.hidden);
	arena_release(&c.a);
	if (c.e == ERR_NOMEM) {
		catalog_form_result_release(out);
		out->violations = json_array();
		out->prereview = json_array();
		out->visible = json_array();
		out->required = json_array();
		out->computed = json_object();
	}
	return c.e;
}

/* ------------------------------------------------------------------ samples */

/* Valid 居民身份证 numbers, oldest first: the first identity field (usually the applicant)
 * gets a person of 74, later ones younger people, so samples of two parties differ. */
static const char *const mainland_samples[] = {"11010519491231002X", "310104195001010013",
                                               "310115195806150039", "310104199003071512"};

static const char *sample_id_number(const char *type)
{
	static const struct {
		const char *type, *number;
	} samples[] = {
	    {"111", "11010519491231002X"},    {"SSC", "11010519491231002X"},
	    {"SHRP", "11010519491231002X"},   {"HMT", "810000199001011230"},
	    {"PR2023", "932682198501010017"}, {"PR2017", "KAZ110090123105"},
	    {"MEDQR", "ecqr-sample-0001"},
	};
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
		if (!strcmp(samples[i].type, type))
			return samples[i].number;
	return NULL;
}

static const char *first_code(const struct catalog_ref *ref, const char *table)
{
	const json_t *t = catalog_ref_code_table(ref, table);
	return json_get_str(json_array_get(json_object_get(t, "entries"), 0), "code");
}

static bool pattern_ok(const char *pat, const char *s)
{
	regex_t re;
	const char *why;
	if (!catalog_regex_valid(pat, &why) || regcomp(&re, pat, REG_EXTENDED | REG_NOSUB))
		return false;
	bool ok = regexec(&re, s, 0, NULL, 0) == 0;
	regfree(&re);
	return ok;
}

static json_t *sample_text(const json_t *def)
{
	int64_t mn = json_get_int(def, "min_length", 0), mx = json_get_int(def, "max_length", 200);
	const char *pat = json_get_str(def, "pattern");
	/* The label, where it fits: different fields get different values, so rules such as
	 * "the agent is not the applicant" are not tripped by identical samples. */
	const char *label = json_get_str(def, "label");
	if (label && !pat) {
		int64_t n = (int64_t)utf8_len(label, strlen(label));
		if (n >= mn && n <= mx && !has_control(label, false))
			return json_string(label);
	}
	if (pat) {
		/* Common shapes of patterns in the catalog: codes, dates, months, numbers. */
		static const char *const shapes[] = {
		    "示例",
		    "200030",
		    "13812345678",
		    "021-64381234",
		    "A1234567",
		    "12345678",
		    "1234",
		    "310104",
		    "11010519491231002X",
		    "91310000132149237G",
		    "2024-06-01",
		    "2024-06",
		    "2024-2025",
		    "202406",
		    "2024",
		    "12",
		    "1",
		    "A",
		    "a",
		    "0",
		    "user_01",
		    "abc123",
		    "123456789012",
		    "A123456789",
		    "11010519491231002X11",
		    "沪A12345",
		    "example@example.com",
		    "示例有限公司",
		};
		for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
			int64_t n = (int64_t)utf8_len(shapes[i], strlen(shapes[i]));
			if (n >= mn && n <= mx && pattern_ok(pat, shapes[i]))
				return json_string(shapes[i]);
		}
	}
	/* "示例" padded with "示" to the minimum length, cut to the maximum */
	struct buf b;
	buf_init(&b, 4 * 1024 * 1024);
	int64_t n = mn > 2 ? mn : 2;
	if (n > mx)
		n = mx > 0 ? mx : 1;
	for (int64_t i = 0; i < n; i++)
		buf_puts(&b, i == 1 ? "例" : "示");
	json_t *v = json_stringn(b.p ? b.p : "", b.len);
	buf_release(&b);
	return v;
}

static json_t *sample_number(const json_t *def, bool money)
{
	json_t *lo = json_object_get(def, "min"), *hi = json_object_get(def, "max");
	double v = money ? 100 : 1;
	if (json_is_number(lo) && v < json_number_value(lo))
		v = json_number_value(lo);
	if (json_is_number(hi) && v > json_number_value(hi))
		v = json_number_value(hi);
	if (money)
		v = ceil(v * 100.0) / 100.0;
	if (v == floor(v) && fabs(v) < 1e15)
		return json_integer((json_int_t)v);
	return json_real(v);
}

static json_t *sample_value(const struct catalog_ref *ref, const json_t *sub_item,
                            const struct ffld *f, const char *today, unsigned *nth_id)
{
	const json_t *def = f->def;
	json_t *dflt = json_object_get(def, "default");
	switch (f->type) {
	case CF_TEXT:
	case CF_TEXTAREA: return sample_text(def);
	case CF_NUMBER: return sample_number(def, false);
	case CF_MONEY: return sample_number(def, true);
	case CF_DATE: {
		const char *lo = json_get_str(def, "min"), *hi = json_get_str(def, "max");
		const char *v = today;
		if (hi && strcmp(hi, "today") && strcmp(v, hi) > 0)
			v = hi;
		if (lo && strcmp(lo, "today") && strcmp(v, lo) < 0)
			v = lo;
		return json_string(v);
	}
	case CF_ENUM: {
		const char *table = json_get_str(def, "code_table");
		if (dflt)
			return json_deep_copy(dflt);
		const char *code = first_code(ref, table);
		if (!code)
			return json_null();
		return json_get_bool(def, "multiple", false) ? json_pack("[s]", code)
		                                             : json_string(code);
	}
	case CF_BOOLEAN: return json_is_boolean(dflt) ? json_incref(dflt) : json_false();
	case CF_ID_DOCUMENT: {
		const json_t *docs = json_object_get(sub_item, "id_docs");
		const char *type = NULL;
		size_t i;
		json_t *x;
		json_array_foreach (docs, i, x) {
			const char *t = json_string_value(x);
			if (t && sample_id_number(t) && (!type || !strcmp(t, "111")))
				type = t;
		}
		if (!type)
			type = "111";
		const char *number = sample_id_number(type);
		if (!strcmp(type, "111") || !strcmp(type, "SSC") || !strcmp(type, "SHRP"))
			number = mainland_samples[(*nth_id)++ % 4];
		return json_pack("{s:s, s:s}", "type", type, "number", number);
	}
	case CF_PHONE: return json_string("13812345678");
	case CF_ADDRESS: {
		const char *district = first_code(ref, "district");
		json_t *v = json_pack("{s:s, s:s}", "district", district ? district : "310101",
		                      "detail", "示例路 1 号");
		const json_t *streets =
		    json_object_get(catalog_ref_code_table(ref, "street"), "entries");
		size_t i;
		json_t *e;
		json_array_foreach (streets, i, e) {
			const char *parent = json_get_str(e, "parent");
			if (district && parent && !strcmp(parent, district)) {
				json_object_set_new(v, "street",
				                    json_string(json_get_str(e, "code")));
				break;
			}
		}
		return v;
	}
	case CF_BANK_ACCOUNT: {
		const char *bank = first_code(ref, "bank");
		return json_pack("{s:s, s:s, s:s}", "bank", bank ? bank : "", "account",
		                 "6222021001122334458", "holder", "示例");
	}
	case CF_ATTACHMENT: return json_string("file:sample");
	default: return NULL;
	}
}

json_t *catalog_form_sample(const struct catalog_ref *ref, const json_t *sub_item,
                            const char *today)
{
	struct fctx c = {.ref = ref, .sub_item = sub_item, .today = today};
	const json_t *fields = json_object_get(json_object_get(sub_item, "form"), "fields");
	int y, m, d;
	if (!json_is_array(fields) || !today || !catalog_date_parse(today, &y, &m, &d))
		return NULL;
	arena_init(&c.a, 0);
	json_t *out = json_object();
	c.f = arena_zalloc(&c.a, sizeof(struct ffld) * MAX_FORM_FIELDS);
	if (!out || !c.f) {
		json_decref(out);
		out = NULL;
		goto done;
	}
	collect(&c, fields, -1);
	unsigned nth_id = 0;
	for (int i = 0; i < c.nf; i++) {
		const struct ffld *f = &c.f[i];
		if (f->group >= 0 || f->compute || f->type == CF_SIGNATURE)
			continue;
		if (f->type != CF_GROUP) {
			json_t *v = sample_value(ref, sub_item, f, today, &nth_id);
			if (v)
				json_path_set_new(out, f->id, v);
			continue;
		}
		int64_t rows = json_get_int(f->def, "min_rows", 0);
		int64_t mx = json_get_int(f->def, "max_rows", DEFAULT_MAX_ROWS);
		if (rows < 1)
			rows = 1;
		if (rows > mx)
			rows = mx;
		if (rows > 50)
			rows = 50;
		json_t *arr = json_array();
		for (int64_t r = 0; arr && r < rows; r++) {
			json_t *row = json_object();
			for (int j = 0; row && j < c.nf; j++) {
				const struct ffld *s = &c.f[j];
				if (s->group != i || s->compute || s->type == CF_SIGNATURE)
					continue;
				json_t *v = sample_value(ref, sub_item, s, today, &nth_id);
				if (v)
					json_path_set_new(row, s->sub, v);
			}
			json_array_append_new(arr, row);
		}
		json_path_set_new(out, f->id, arr);
	}
done:
	arena_release(&c.a);
	return out;
}
