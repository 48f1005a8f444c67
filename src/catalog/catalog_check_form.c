/* catalog_check_form.c: checking a sub-item's form and what hangs off it — fields,
 * expressions (syntax, references to fields that exist, with group scoping, literals
 * compared with coded values), form and prereview rules, materials, the signing plan and
 * the application form layouts (docs/catalog.md).
 *
 * A sub-item is checked in two passes: catalog_check_item.c first collects its field ids
 * (ck_collect_fields, with their group), then every expression, rule, material, signer and
 * form layout here is checked against them. */
#include "catalog/catalog_int.h"

#include <string.h>

#include "core/json.h"

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

/* The compound field (index) of which ref names a member (applicant.id_doc.number), among
 * fields of group g (-1: top level), with names relative to that scope; -1 when none. */
static int compound_of(const struct ck *c, int g, const char *ref)
{
	const char *dot = strrchr(ref, '.');
	if (!dot)
		return -1;
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
				return i;
	}
	return -1;
}

static bool compound_member(const struct ck *c, int g, const char *ref)
{
	return compound_of(c, g, ref) >= 0;
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
			CK_ERR(
			    c,
			    "%s使用了“%s”，但它不属于表格（group）：只有表格内的字段和规则才能使用 "
			    "row / rows",
			    r->what, ref);
			r->bad = true;
			return;
		}
		const char *rest = strchr(ref, '.');
		if (rest && !resolves(c, r->scope, rest + 1)) {
			CK_ERR(c, "%s引用了表格“%s”中不存在的字段“%s”", r->what, rowname, rest + 1);
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
					CK_ERR(c, "%s中 sum 引用了表格“%s”中不存在的字段“%s”",
					       r->what, c->flds[i].id, ref + n + 1);
					r->bad = true;
				}
				return;
			}
		}
		CK_ERR(c, "%s中 sum 的第一个参数应为表格（group）字段，“%.*s”不是", r->what,
		       (int)(strrchr(ref, '.') - ref), ref);
		r->bad = true;
		return;
	}
	if (resolves(c, -1, ref))
		return;
	int i = find_fld(c, ref);
	if (i >= 0 && c->flds[i].group >= 0) {
		CK_ERR(c,
		       "%s引用了表格“%s”内的字段“%s”：表格内的字段请在该表格的规则中用 row.%s 引用",
		       r->what, c->flds[c->flds[i].group].id, ref, c->flds[i].sub);
		r->bad = true;
		return;
	}
	CK_ERR(c, "%s引用了不存在的字段“%s”", r->what, ref);
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
		return c->flds[i].type == CF_ENUM ? ck_str(c->flds[i].def, "code_table") : NULL;
	const char *dot = strrchr(ref, '.');
	if (!dot)
		return NULL;
	for (i = 0; i < c->nflds; i++) {
		const struct ck_field *f = &c->flds[i];
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
		CK_ERR(r->c, "表达式把“%s”与“%s”比较，但“%s”不在代码表“%s”中", ref, literal,
		       literal, table);
}

/* Parse the expression at obj[key] (a string) and check its references in scope. */
static const struct catalog_expr *check_expr_at(struct ck *c, const json_t *obj, const char *key,
                                                int scope)
{
	const json_t *v = json_object_get(obj, key);
	if (!v)
		return NULL;
	size_t old = ck_push_key(c, key);
	struct catalog_expr *e = NULL;
	if (!json_is_string(v))
		goto out; /* the key table said so already */
	const char *msg;
	if (catalog_expr_parse(json_string_value(v), &c->a, &e, &msg)) {
		CK_ERR(c, "表达式“%s”有误：%s", json_string_value(v), msg);
		e = NULL;
		goto out;
	}
	struct refctx r = {c, scope, "表达式", false};
	catalog_expr_refs_ex(e, check_ref, &r);
	if (!r.bad)
		catalog_expr_compares(e, check_compare, &r);
out:
	ck_pop(c, old);
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
static void check_value_for_type(struct ck *c, const struct ck_field *f, const json_t *v,
                                 const char *what)
{
	const char *table = ck_str(f->def, "code_table");
	switch (f->type) {
	case CF_TEXT:
	case CF_TEXTAREA:
	case CF_PHONE:
		if (!json_is_string(v))
			CK_ERR(c, "%s应为字符串", what);
		break;
	case CF_NUMBER:
		if (!json_is_number(v))
			CK_ERR(c, "%s应为数字", what);
		break;
	case CF_MONEY:
		if (!json_is_number(v))
			CK_ERR(c, "%s应为数字（元）", what);
		else if (!money_ok(json_number_value(v)))
			CK_ERR(c, "%s金额最多两位小数", what);
		break;
	case CF_DATE:
		if (!date_or_today(v))
			CK_ERR(c, "%s应为“YYYY-MM-DD”格式的日期或“today”", what);
		break;
	case CF_BOOLEAN:
		if (!json_is_boolean(v))
			CK_ERR(c, "%s应为 true 或 false", what);
		break;
	case CF_ENUM: {
		bool multiple = json_get_bool(f->def, "multiple", false);
		const json_t *tbl = catalog_ref_code_table(c->ref, table);
		if (multiple && !json_is_array(v)) {
			CK_ERR(c, "%s应为代码数组（多选）", what);
			break;
		}
		if (!multiple && !json_is_string(v)) {
			CK_ERR(c, "%s应为代码表“%s”中的代码（字符串）", what, table ? table : "?");
			break;
		}
		size_t i, n = multiple ? json_array_size(v) : 1;
		for (i = 0; i < n; i++) {
			const json_t *x = multiple ? json_array_get(v, i) : v;
			const char *code = json_string_value(x);
			if (!code)
				CK_ERR(c, "%s的第 %zu 项应为字符串", what, i + 1);
			else if (tbl && !catalog_ref_code_entry(c->ref, table, code))
				CK_ERR(c, "%s“%s”不在代码表“%s”中", what, code, table);
		}
		break;
	}
	default: CK_ERR(c, "%s类型的字段不能设置%s", catalog_ftype_label(f->type), what);
	}
}

/* A certificate name of the e-certificate library (a prefill's cert, a material's e_cert) at
 * obj[key]: a code of the e_cert table. */
static void check_ecert_name(struct ck *c, const json_t *obj, const char *key)
{
	const char *name = ck_str(obj, key);
	if (!name || catalog_ref_code_entry(c->ref, "e_cert", name))
		return;
	const char *near = ck_near_code(c, "e_cert", name);
	if (near)
		ck_report_at(c, key, false, "证照类型“%s”不在代码表“e_cert”中（是否应为“%s”？）",
		             name, near);
	else
		ck_report_at(c, key, false, "证照类型“%s”不在代码表“e_cert”中", name);
}

static void check_prefill(struct ck *c, const json_t *list, const struct ck_field *f)
{
	size_t i;
	json_t *p;
	json_array_foreach (list, i, p) {
		size_t old = ck_push_idx(c, i);
		if (ck_check_keys(c, p, prefill_keys, "预填来源")) {
			const char *src = ck_str(p, "source");
			static const char *const idcard[] = {"name",   "sex",     "birth_date",
			                                     "nation", "address", "id_number",
			                                     "photo",  NULL};
			if (!src) {
				;
			} else if (!strcmp(src, "resident") || !strcmp(src, "id_card")) {
				if (!json_object_get(p, "path"))
					CK_ERR(c, "预填来源“%s”需要“path”", src);
				if (json_object_get(p, "cert") || json_object_get(p, "flow"))
					CK_ERR(c, "预填来源“%s”不使用“cert”或“flow”", src);
				const char *path = ck_str(p, "path");
				if (path && !strcmp(src, "id_card")) {
					bool ok = false;
					for (const char *const *k = idcard; *k; k++)
						ok |= !strcmp(*k, path);
					if (!ok)
						ck_report_at(
						    c, "path", true,
						    "读卡结果中没有“%s”（可用：name、sex、"
						    "birth_date、nation、address、id_number、"
						    "photo）",
						    path);
				}
			} else if (!strcmp(src, "previous_case")) {
				if (json_object_get(p, "cert") || json_object_get(p, "flow"))
					CK_ERR(c, "预填来源“previous_case”不使用“cert”或“flow”");
			} else if (!strcmp(src, "e_cert")) {
				if (!json_object_get(p, "cert"))
					CK_ERR(c, "预填来源“e_cert”需要“cert”（证照类型）");
				else
					check_ecert_name(c, p, "cert");
				if (json_object_get(p, "flow"))
					CK_ERR(c, "预填来源“e_cert”不使用“flow”");
			} else if (!strcmp(src, "lookup")) {
				const char *flow = ck_str(p, "flow");
				if (!json_object_get(p, "flow"))
					CK_ERR(c, "预填来源“lookup”需要“flow”（网关流程名）");
				else if (flow && !ck_is_flow_name(flow))
					ck_report_at(
					    c, "flow", false,
					    "流程名“%s”格式不正确（如 minzheng.elder_query）",
					    flow);
				if (json_object_get(p, "cert"))
					CK_ERR(c, "预填来源“lookup”不使用“cert”");
			} else {
				ck_report_at(
				    c, "source", false,
				    "预填来源“%s”不存在（可用：resident、id_card、previous_case、"
				    "e_cert、lookup）",
				    src);
			}
		}
		ck_pop(c, old);
	}
	(void)f;
}

/* Pass 1: collect the fields of a form (recursing once into groups). */
void ck_collect_fields(struct ck *c, const json_t *fields, int group)
{
	size_t i;
	json_t *f;
	json_array_foreach (fields, i, f) {
		const char *id = ck_str(f, "id");
		if (!id || !catalog_field_id_valid(id) || c->nflds >= CK_MAX_FIELDS)
			continue;
		struct ck_field *x = &c->flds[c->nflds];
		x->sub = id;
		x->id = group < 0 ? id : arena_printf(&c->a, "%s.%s", c->flds[group].id, id);
		if (!x->id)
			continue;
		x->label = ck_str(f, "label");
		x->def = f;
		x->type = catalog_ftype_parse(ck_str(f, "type"));
		x->group = group;
		int me = c->nflds++;
		if (x->type == CF_GROUP && group < 0)
			ck_collect_fields(c, json_object_get(f, "fields"), me);
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

void ck_check_fields(struct ck *c, const json_t *fields, int group)
{
	json_t *seen = json_object();
	size_t i;
	json_t *f;
	if (!json_is_array(fields)) {
		CK_ERR(c, "“fields”应为数组");
		json_decref(seen);
		return;
	}
	if (json_array_size(fields) == 0 && group >= 0)
		CK_ERR(c, "表格至少需要一个字段");
	json_array_foreach (fields, i, f) {
		size_t old = ck_push_idx(c, i);
		check_field(c, f, group, seen, i);
		ck_pop(c, old);
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
			size_t old = ck_push_idx(c, (size_t)json_integer_value(vp));
			CK_ERR(c, "字段“%s”与字段“%s”%s冲突：一个字段不能同时是另一个字段的上级", p,
			       first, kids > 1 ? arena_printf(&c->a, "等 %zu 个字段", kids) : "");
			ck_pop(c, old);
		}
	}
	json_decref(seen);
}

static void check_field(struct ck *c, const json_t *f, int group, json_t *seen, size_t idx)
{
	if (!ck_check_keys(c, f, field_keys, "字段"))
		return;
	const char *id = ck_str(f, "id");
	const char *type = ck_str(f, "type");
	enum catalog_ftype t = catalog_ftype_parse(type);
	if (id && !catalog_field_id_valid(id))
		ck_report_at(
		    c, "id", false,
		    "字段 id“%s”格式不正确（小写字母开头，小写字母、数字、下划线，以点分隔）", id);
	if (id && catalog_field_id_valid(id)) {
		if (!strcmp(id, "row") || !strcmp(id, "rows") || !strncmp(id, "row.", 4) ||
		    !strncmp(id, "rows.", 5))
			ck_report_at(c, "id", false,
			             "字段 id 不能以“row”或“rows”开头（它们是表格规则的保留字）");
		if (json_object_get(seen, id))
			ck_report_at(c, "id", false, "字段 id“%s”重复", id);
		else
			json_object_set_new(seen, id, json_integer((json_int_t)idx));
	}
	if (type && t == CF__UNKNOWN) {
		ck_report_at(
		    c, "type", false,
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
			ck_report_at(c, key, false, "“%s”不适用于%s类型的字段", key,
			             catalog_ftype_label(t));
	}
	int me = fld_index(c, f);
	struct ck_field self = {.id = id, .sub = id, .def = f, .type = t, .group = group};
	const struct ck_field *fl = me >= 0 ? &c->flds[me] : &self;
	bool computed = json_object_get(f, "compute") != NULL;

	check_expr_at(c, f, "visible_when", group);
	check_expr_at(c, f, "required_when", group);
	const struct catalog_expr *ce = check_expr_at(c, f, "compute", group);
	(void)ce;
	if (computed) {
		if (json_object_get(f, "prefill"))
			ck_report_at(c, "prefill", true, "计算字段的值由公式得出，预填不会生效");
		if (json_get_bool(f, "required", false) || json_object_get(f, "required_when"))
			ck_report_at(c, "required", true, "计算字段不需要设为必填");
		if (t == CF_GROUP || t == CF_SIGNATURE || t == CF_ATTACHMENT)
			ck_report_at(c, "compute", false, "%s类型的字段不能是计算字段",
			             catalog_ftype_label(t));
	}
	if (t == CF_SIGNATURE &&
	    (json_get_bool(f, "required", false) || json_object_get(f, "required_when")))
		ck_report_at(c, "required", true, "签名字段由签署环节填写，表单不要求必填");

	/* text */
	json_t *mn = json_object_get(f, "min_length"), *mx = json_object_get(f, "max_length");
	if (json_is_integer(mn) && json_integer_value(mn) < 0)
		ck_report_at(c, "min_length", false, "最小长度不能为负数");
	if (json_is_integer(mx) && (json_integer_value(mx) < 1 || json_integer_value(mx) > 100000))
		ck_report_at(c, "max_length", false, "最大长度应在 1 到 100000 之间");
	if (json_is_integer(mn) && json_is_integer(mx) &&
	    json_integer_value(mn) > json_integer_value(mx))
		ck_report_at(c, "min_length", false, "最小长度 %lld 大于最大长度 %lld",
		             (long long)json_integer_value(mn), (long long)json_integer_value(mx));
	const char *pattern = ck_str(f, "pattern");
	if (pattern) {
		const char *why;
		if (!catalog_regex_valid(pattern, &why))
			ck_report_at(c, "pattern", false, "正则表达式“%s”不正确：%s", pattern, why);
		if (!json_object_get(f, "pattern_message"))
			ck_report_at(
			    c, "pattern", true,
			    "设置了“pattern”但没有“pattern_message”，不符合时只能显示笼统的提示");
	} else if (json_object_get(f, "pattern_message")) {
		ck_report_at(c, "pattern_message", false, "没有“pattern”时不需要“pattern_message”");
	}

	/* ranges */
	json_t *lo = json_object_get(f, "min"), *hi = json_object_get(f, "max");
	if (t == CF_DATE) {
		if (lo && !date_or_today(lo))
			ck_report_at(c, "min", false, "日期下限应为“YYYY-MM-DD”或“today”");
		if (hi && !date_or_today(hi))
			ck_report_at(c, "max", false, "日期上限应为“YYYY-MM-DD”或“today”");
		if (lo && hi && date_or_today(lo) && date_or_today(hi) &&
		    strcmp(json_string_value(lo), "today") &&
		    strcmp(json_string_value(hi), "today") &&
		    strcmp(json_string_value(lo), json_string_value(hi)) > 0)
			ck_report_at(c, "min", false, "日期下限晚于上限");
	} else if (t == CF_NUMBER || t == CF_MONEY) {
		if (lo && !json_is_number(lo))
			ck_report_at(c, "min", false, "下限应为数字");
		if (hi && !json_is_number(hi))
			ck_report_at(c, "max", false, "上限应为数字");
		if (json_is_number(lo) && json_is_number(hi) &&
		    json_number_value(lo) > json_number_value(hi))
			ck_report_at(c, "min", false, "下限大于上限");
	}

	/* enum */
	if (t == CF_ENUM) {
		const char *table = ck_str(f, "code_table");
		if (!json_object_get(f, "code_table"))
			CK_ERR(c, "选项（enum）字段缺少“code_table”");
		else if (table && !catalog_ref_code_table(c->ref, table))
			ck_report_at(c, "code_table", false, "代码表“%s”不存在", table);
	}

	/* group */
	if (t == CF_GROUP) {
		if (group >= 0) {
			CK_ERR(c, "表格（group）内不能再嵌套表格");
		} else if (!json_object_get(f, "fields")) {
			CK_ERR(c, "表格（group）字段缺少“fields”");
		} else {
			size_t old = ck_push_key(c, "fields");
			ck_check_fields(c, json_object_get(f, "fields"), me);
			ck_pop(c, old);
		}
		json_t *r0 = json_object_get(f, "min_rows"), *r1 = json_object_get(f, "max_rows");
		if (json_is_integer(r0) && json_integer_value(r0) < 0)
			ck_report_at(c, "min_rows", false, "最少行数不能为负数");
		if (json_is_integer(r1) &&
		    (json_integer_value(r1) < 1 || json_integer_value(r1) > 1000))
			ck_report_at(c, "max_rows", false, "最多行数应在 1 到 1000 之间");
		if (json_is_integer(r0) && json_is_integer(r1) &&
		    json_integer_value(r0) > json_integer_value(r1))
			ck_report_at(c, "min_rows", false, "最少行数大于最多行数");
		if (json_object_get(f, "default"))
			ck_report_at(c, "default", false, "表格字段不能设置默认值");
	}

	json_t *def = json_object_get(f, "default");
	if (def && t != CF_GROUP) {
		size_t old = ck_push_key(c, "default");
		check_value_for_type(c, fl, def, "默认值");
		ck_pop(c, old);
	}
	json_t *pf = json_object_get(f, "prefill");
	if (json_is_array(pf)) {
		size_t old = ck_push_key(c, "prefill");
		check_prefill(c, pf, fl);
		ck_pop(c, old);
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

void ck_check_rules(struct ck *c, const json_t *rules, bool prereview, json_t *ids)
{
	size_t i;
	json_t *r;
	if (!json_is_array(rules)) {
		CK_ERR(c, "规则列表应为数组");
		return;
	}
	json_array_foreach (rules, i, r) {
		size_t old = ck_push_idx(c, i);
		if (!ck_check_keys(c, r, rule_keys, prereview ? "预审规则" : "规则")) {
			ck_pop(c, old);
			continue;
		}
		const char *id = ck_str(r, "id");
		if (id && !catalog_field_id_valid(id))
			ck_report_at(c, "id", false,
			             "规则 id“%s”格式不正确（小写字母、数字、下划线）", id);
		else if (id && json_object_get(ids, id))
			ck_report_at(c, "id", false, "规则 id“%s”重复", id);
		else if (id)
			json_object_set_new(ids, id, json_true());
		const char *field = ck_str(r, "field");
		bool exists;
		int scope = rule_scope(c, field, &exists);
		if (field && !exists)
			ck_report_at(c, "field", false, "规则所属的字段“%s”不存在", field);
		const char *sev = ck_str(r, "severity");
		if (prereview) {
			if (!json_object_get(r, "severity"))
				CK_ERR(c, "预审规则缺少“severity”（block 或 warn）");
			else if (sev && strcmp(sev, "block") && strcmp(sev, "warn"))
				ck_report_at(c, "severity", false,
				             "预审规则的 severity 应为 block 或 warn，而不是“%s”",
				             sev);
		} else if (sev && strcmp(sev, "block")) {
			ck_report_at(
			    c, "severity", false,
			    "表单规则总是阻止提交，severity 只能是 block；提示性的规则请放在 "
			    "prereview 中");
		}
		check_expr_at(c, r, "when", scope);
		check_expr_at(c, r, "assert", scope);
		ck_pop(c, old);
	}
}

/* ------------------------------------------------------------------ materials */

static const struct kspec material_keys[] = {
    {"id", K_NESTR, KREQ},     {"name", K_NESTR, KREQ},  {"need", K_NESTR, KREQ},
    {"when", K_STR, 0},        {"sources", K_ARR, KREQ}, {"e_cert", K_NESTR, 0},
    {"count", K_INT, 0},       {"original", K_BOOL, 0},  {"copies", K_INT, 0},
    {"retention", K_NESTR, 0}, {"note", K_STR, 0},       {NULL, 0, 0},
};

const char *const ck_retentions[] = {"permanent", "30y", "10y", NULL};

void ck_check_materials(struct ck *c, const json_t *list)
{
	static const char *const needs[] = {"required", "optional", "conditional", NULL};
	static const char *const sources[] = {"scan", "kiosk_photo", "e_cert", "library", NULL};
	json_t *ids = json_object();
	size_t i;
	json_t *m;
	json_array_foreach (list, i, m) {
		size_t old = ck_push_idx(c, i);
		if (!ck_check_keys(c, m, material_keys, "材料")) {
			ck_pop(c, old);
			continue;
		}
		const char *id = ck_str(m, "id");
		if (id && !catalog_field_id_valid(id))
			ck_report_at(c, "id", false,
			             "材料 id“%s”格式不正确（小写字母、数字、下划线）", id);
		else if (id && json_object_get(ids, id))
			ck_report_at(c, "id", false, "材料 id“%s”重复", id);
		else if (id)
			json_object_set_new(ids, id, json_true());
		const char *need = ck_str(m, "need");
		if (need && !ck_one_of(need, needs))
			ck_report_at(c, "need", false,
			             "“need”应为 required、optional 或 conditional，而不是“%s”",
			             need);
		if (need && !strcmp(need, "conditional") && !json_object_get(m, "when"))
			CK_ERR(c, "条件性材料（conditional）需要“when”");
		if (need && strcmp(need, "conditional") && json_object_get(m, "when"))
			ck_report_at(c, "when", false,
			             "只有 need 为 conditional 的材料才使用“when”");
		check_expr_at(c, m, "when", -1);
		json_t *src = json_object_get(m, "sources");
		bool has_ecert = false;
		if (json_is_array(src)) {
			if (json_array_size(src) == 0)
				ck_report_at(c, "sources", false, "至少需要一种材料来源");
			size_t j;
			json_t *s;
			json_array_foreach (src, j, s) {
				const char *sv = json_string_value(s);
				size_t o2 = ck_push_key(c, "sources");
				size_t o3 = ck_push_idx(c, j);
				if (!ck_one_of(sv, sources))
					CK_ERR(c,
					       "材料来源“%s”不存在（可用：scan、kiosk_photo、e_"
					       "cert、library）",
					       sv ? sv : "?");
				ck_pop(c, o3);
				ck_pop(c, o2);
				has_ecert |= sv && !strcmp(sv, "e_cert");
			}
		}
		if (has_ecert && !json_object_get(m, "e_cert"))
			CK_ERR(c, "来源含 e_cert 时需要“e_cert”（证照类型）");
		if (!has_ecert && json_object_get(m, "e_cert"))
			ck_report_at(c, "e_cert", false, "来源不含 e_cert 时不需要“e_cert”");
		else
			check_ecert_name(c, m, "e_cert");
		json_t *cnt = json_object_get(m, "count"), *cp = json_object_get(m, "copies");
		if (json_is_integer(cnt) &&
		    (json_integer_value(cnt) < 1 || json_integer_value(cnt) > 100))
			ck_report_at(c, "count", false, "份数应在 1 到 100 之间");
		if (json_is_integer(cp) &&
		    (json_integer_value(cp) < 0 || json_integer_value(cp) > 100))
			ck_report_at(c, "copies", false, "复印件份数应在 0 到 100 之间");
		const char *ret = ck_str(m, "retention");
		if (ret && !ck_one_of(ret, ck_retentions))
			ck_report_at(c, "retention", false,
			             "保管期限应为 permanent、30y 或 10y，而不是“%s”", ret);
		ck_pop(c, old);
	}
	json_decref(ids);
}

/* ------------------------------------------------------------------ signatures */

const char *const ck_roles[] = {"applicant", "agent",          "guardian",     "spouse",
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

void ck_check_signatures(struct ck *c, const json_t *sp, json_t *signers)
{
	if (!ck_check_keys(c, sp, signplan_keys, "签署方案"))
		return;
	const json_t *list = json_object_get(sp, "signers");
	size_t i;
	json_t *s;
	size_t o1 = ck_push_key(c, "signers");
	json_array_foreach (list, i, s) {
		size_t old = ck_push_idx(c, i);
		if (ck_check_keys(c, s, signer_keys, "签署人")) {
			const char *role = ck_str(s, "role");
			if (role && !ck_one_of(role, ck_roles))
				ck_report_at(
				    c, "role", false,
				    "签署角色“%s”不存在（可用：applicant、agent、guardian、spouse、"
				    "helper、household_head、co_applicant）",
				    role);
			else if (role && json_object_get(signers, role))
				ck_report_at(c, "role", false, "签署角色“%s”重复", role);
			else if (role)
				json_object_set_new(signers, role, json_true());
			check_expr_at(c, s, "when", -1);
		}
		ck_pop(c, old);
	}
	ck_pop(c, o1);
	bool multi = json_get_bool(sp, "multi_sign", false);
	if (multi && json_array_size(list) < 2)
		ck_report_at(c, "multi_sign", true,
		             "一表多签（multi_sign）通常有两个以上签署人，这里只有 %zu 个",
		             json_array_size(list));
	if (multi && c->appform_kind && !strcmp(c->appform_kind, "none"))
		ck_report_at(c, "multi_sign", false,
		             "一表多签需要申请表，但 application_form 为 none");
	const json_t *cm = json_object_get(sp, "commitments");
	if (json_array_size(cm) > 0 && json_array_size(list) == 0)
		ck_report_at(c, "commitments", false,
		             "有承诺事项（commitments）却没有签署人，承诺无人确认");
	json_t *ids = json_object();
	size_t o2 = ck_push_key(c, "commitments");
	json_array_foreach (cm, i, s) {
		size_t old = ck_push_idx(c, i);
		if (ck_check_keys(c, s, commitment_keys, "承诺")) {
			const char *id = ck_str(s, "id");
			if (id && !catalog_field_id_valid(id))
				ck_report_at(c, "id", false, "承诺 id“%s”格式不正确", id);
			else if (id && json_object_get(ids, id))
				ck_report_at(c, "id", false, "承诺 id“%s”重复", id);
			else if (id)
				json_object_set_new(ids, id, json_true());
		}
		ck_pop(c, old);
	}
	ck_pop(c, o2);
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
/* A position's field: a field id, a member of a compound field, or a group's row field as
 * "<group>.<field>" (one entry per printed row, in row order) or "<group>[n].<field>". */
static const struct kspec place_keys[] = {
    {"field", K_NESTR, KREQ}, {"page", K_INT, KREQ}, {"x", K_NUM, KREQ},
    {"y", K_NUM, KREQ},       {"w", K_NUM, 0},       {"h", K_NUM, 0},
    {"size", K_NUM, 0},       {"choices", K_ARR, 0}, {NULL, 0, 0}};
static const struct kspec choice_keys[] = {{"code", K_NESTR, KREQ}, {"x", K_NUM, KREQ},
                                           {"y", K_NUM, KREQ},      {"w", K_NUM, KREQ},
                                           {"h", K_NUM, KREQ},      {NULL, 0, 0}};
static const struct kspec box_keys[] = {
    {"signer", K_NESTR, KREQ}, {"page", K_INT, KREQ}, {"x", K_NUM, KREQ}, {"y", K_NUM, KREQ},
    {"w", K_NUM, KREQ},        {"h", K_NUM, KREQ},    {NULL, 0, 0}};

/* The page in points: A4 is 595.28 × 841.89, Chromium prints 594.96 × 841.92; rounded up so
 * that a box touching the edge of either passes. */
#define PAGE_W 595.3
#define PAGE_H 842.0

static void check_form_field_name(struct ck *c, const char *name)
{
	if (!name)
		return;
	if (find_fld(c, name) < 0 && !compound_member(c, -1, name))
		CK_ERR(c, "申请表引用了不存在的字段“%s”", name);
}

/* The box at c->path (x, y and, when present, w, h in points from the bottom-left corner of
 * its page): a positive size, inside the page. */
static void check_box(struct ck *c, const json_t *b)
{
	const json_t *jw = json_object_get(b, "w"), *jh = json_object_get(b, "h");
	double x = json_number_value(json_object_get(b, "x"));
	double y = json_number_value(json_object_get(b, "y"));
	double w = json_is_number(jw) ? json_number_value(jw) : 0;
	double h = json_is_number(jh) ? json_number_value(jh) : 0;
	bool sized = true;
	if (json_is_number(jw) && w <= 0) {
		ck_report_at(c, "w", false, "宽度应大于 0");
		sized = false;
	}
	if (json_is_number(jh) && h <= 0) {
		ck_report_at(c, "h", false, "高度应大于 0");
		sized = false;
	}
	if (sized && (x < 0 || y < 0 || x + w > PAGE_W || y + h > PAGE_H))
		CK_ERR(c,
		       "位置超出 A4 页面：x、y 不能为负数，x + w 不超过 %.1f，y + h 不超过 %.0f"
		       "（这里 x %g、y %g、w %g、h %g）",
		       PAGE_W, PAGE_H, x, y, w, h);
}

/* The field a position names (its index; *member when it is a member of that compound field),
 * or -1 after reporting at c->path. Rows of a group are numbered from 0 and must be below
 * the group's max_rows. */
static int placement_field(struct ck *c, const char *name, bool *member)
{
	*member = false;
	const char *br = strchr(name, '[');
	int i;
	if (!br) {
		if ((i = find_fld(c, name)) >= 0)
			return i;
		if ((i = compound_of(c, -1, name)) >= 0) {
			*member = true;
			return i;
		}
		CK_ERR(c, "申请表引用了不存在的字段“%s”", name);
		return -1;
	}
	size_t gl = (size_t)(br - name);
	const char *p = br + 1;
	int64_t n = 0;
	size_t digits = 0;
	for (; *p >= '0' && *p <= '9' && digits < 9; p++, digits++)
		n = n * 10 + (*p - '0');
	if (!digits || (digits > 1 && br[1] == '0') || p[0] != ']' || p[1] != '.') {
		CK_ERR(c, "表格行的位置应写成“<表格>[行号].<字段>”（行号从 0 起），而不是“%s”",
		       name);
		return -1;
	}
	int g = -1;
	for (i = 0; i < c->nflds; i++)
		if (c->flds[i].group < 0 && c->flds[i].type == CF_GROUP &&
		    strlen(c->flds[i].id) == gl && !strncmp(c->flds[i].id, name, gl))
			g = i;
	if (g < 0) {
		CK_ERR(c, "申请表引用了不存在的表格（group）字段“%.*s”", (int)gl, name);
		return -1;
	}
	const char *rest = p + 2;
	if ((i = find_in_scope(c, g, rest)) < 0 && (i = compound_of(c, g, rest)) >= 0)
		*member = true;
	if (i < 0) {
		CK_ERR(c, "申请表引用了表格“%s”中不存在的字段“%s”", c->flds[g].id, rest);
		return -1;
	}
	int64_t max = json_get_int(c->flds[g].def, "max_rows", 1000);
	if (n >= max)
		CK_ERR(c, "表格“%s”最多 %lld 行，第 %lld 行（从 0 起）不存在", c->flds[g].id,
		       (long long)max, (long long)n);
	return i;
}

/* The tick boxes of a position whose field is f (NULL: a member of a compound field):
 * codes of the field's table, or "true" / "false" for a boolean, each once. */
static void check_choices(struct ck *c, const json_t *list, const struct ck_field *f)
{
	if (f && f->type != CF_ENUM && f->type != CF_BOOLEAN) {
		CK_ERR(c,
		       "只有选项（enum）和是/否（boolean）字段才有勾选框（choices），“%s”是%s字段",
		       f->id, catalog_ftype_label(f->type));
		return;
	}
	if (!f) {
		CK_ERR(c, "只有选项（enum）和是/否（boolean）字段才有勾选框（choices）");
		return;
	}
	const char *table = f->type == CF_ENUM ? ck_str(f->def, "code_table") : NULL;
	json_t *seen = json_object();
	size_t i;
	json_t *x;
	json_array_foreach (list, i, x) {
		size_t old = ck_push_idx(c, i);
		if (ck_check_keys(c, x, choice_keys, "勾选框")) {
			const char *code = ck_str(x, "code");
			if (!code)
				;
			else if (f->type == CF_BOOLEAN && strcmp(code, "true") &&
			         strcmp(code, "false"))
				ck_report_at(c, "code", false,
				             "是/否字段的勾选框代码应为“true”或“false”，而不是“%s”",
				             code);
			else if (table && catalog_ref_code_table(c->ref, table) &&
			         !catalog_ref_code_entry(c->ref, table, code))
				ck_report_at(c, "code", false, "勾选框代码“%s”不在代码表“%s”中",
				             code, table);
			else if (json_object_get(seen, code))
				ck_report_at(c, "code", false, "勾选框代码“%s”重复", code);
			else
				json_object_set_new(seen, code, json_true());
			check_box(c, x);
		}
		ck_pop(c, old);
	}
	json_decref(seen);
}

/* One entry of a fixed form's fields (keys already checked). */
static void check_placement(struct ck *c, const json_t *pl)
{
	const char *name = ck_str(pl, "field");
	bool member = false;
	int fi = -1;
	if (name) {
		size_t old = ck_push_key(c, "field");
		fi = placement_field(c, name, &member);
		enum catalog_ftype t = fi >= 0 && !member ? c->flds[fi].type : CF__UNKNOWN;
		if (t == CF_SIGNATURE)
			CK_ERR(c, "签名字段“%s”不印值：签名的位置记在 signature_boxes 中", name);
		else if (t == CF_ATTACHMENT)
			CK_ERR(c, "附件字段“%s”不印在申请表上，不需要位置", name);
		ck_pop(c, old);
	}
	if (json_get_int(pl, "page", 1) < 1)
		ck_report_at(c, "page", false, "页码从 1 开始");
	const json_t *size = json_object_get(pl, "size");
	if (json_is_number(size) && json_number_value(size) <= 0)
		ck_report_at(c, "size", false, "字号应大于 0");
	check_box(c, pl);
	const json_t *ch = json_object_get(pl, "choices");
	if (json_is_array(ch) && fi >= 0) {
		size_t old = ck_push_key(c, "choices");
		check_choices(c, ch, member ? NULL : &c->flds[fi]);
		ck_pop(c, old);
	}
}

/* Remember the highest page a position of this form uses (with where it is) for the
 * directory check, which compares it with the template's page count. */
static void note_page(struct ck *c, const json_t *x, int64_t *max, const char **where)
{
	int64_t page = json_get_int(x, "page", 0);
	if (page > *max) {
		*max = page;
		*where = arena_printf(&c->a, "%s.page", c->path);
	}
}

static void note_template(struct ck *c, const char *tpl, int64_t page, const char *where)
{
	json_t *prev = json_object_get(c->templates, tpl);
	if (prev && json_get_int(prev, "page", 0) >= page)
		return;
	json_object_set_new(c->templates, tpl,
	                    json_pack("{s:I,s:s,s:s}", "page", (json_int_t)page, "file",
	                              c->file ? c->file : "", "path", where ? where : c->path));
}

/* The fixed (制式) form at c->path (keys already checked). */
static void check_fixed(struct ck *c, const json_t *af, const char *code)
{
	const char *tpl = ck_str(af, "template");
	bool tpl_ok = false;
	if (tpl) {
		size_t n = strlen(tpl);
		if (strncmp(tpl, "templates/", 10) || n < 15 || strcmp(tpl + n - 4, ".pdf") ||
		    strstr(tpl, "..") || strchr(tpl + 10, '/'))
			ck_report_at(c, "template", false,
			             "模板路径应为“templates/<名称>.pdf”，而不是“%s”", tpl);
		else
			tpl_ok = true;
		char want[80];
		snprintf(want, sizeof(want), "templates/%s.pdf", code ? code : "");
		if (code && strcmp(tpl, want))
			ck_report_at(c, "template", true, "制式申请表模板按约定命名为“%s”", want);
	}
	if (!json_object_get(af, "title"))
		CK_WARN(c, "制式申请表缺少“title”");
	int64_t maxpage = 0;
	const char *where = NULL;
	size_t i;
	json_t *x;
	const json_t *pl = json_object_get(af, "fields");
	size_t o1 = ck_push_key(c, "fields");
	json_array_foreach (pl, i, x) {
		size_t old = ck_push_idx(c, i);
		if (ck_check_keys(c, x, place_keys, "字段位置")) {
			check_placement(c, x);
			note_page(c, x, &maxpage, &where);
		}
		ck_pop(c, old);
	}
	ck_pop(c, o1);
	const json_t *bx = json_object_get(af, "signature_boxes");
	json_t *boxed = json_object();
	o1 = ck_push_key(c, "signature_boxes");
	json_array_foreach (bx, i, x) {
		size_t old = ck_push_idx(c, i);
		if (ck_check_keys(c, x, box_keys, "签名框")) {
			const char *signer = ck_str(x, "signer");
			if (signer && c->signers && !json_object_get(c->signers, signer))
				ck_report_at(c, "signer", false,
				             "签名框的签署角色“%s”不在签署方案中", signer);
			else if (signer)
				json_object_set_new(boxed, signer, json_true());
			if (json_get_int(x, "page", 1) < 1)
				ck_report_at(c, "page", false, "页码从 1 开始");
			check_box(c, x);
			note_page(c, x, &maxpage, &where);
		}
		ck_pop(c, old);
	}
	/* Positions not generated yet are the missing template's warning; once they are, a
	 * signer without a box would have nowhere to sign. */
	if ((pl || bx) && c->signers) {
		const char *role;
		json_t *v;
		json_object_foreach ((json_t *)c->signers, role, v) {
			if (!json_object_get(boxed, role))
				CK_WARN(c, "签署人“%s”在申请表上没有签名框", role);
		}
	}
	ck_pop(c, o1);
	json_decref(boxed);
	if (tpl_ok && c->templates)
		note_template(c, tpl, maxpage, where);
}

void ck_check_appform(struct ck *c, const json_t *af, const char *code)
{
	if (!json_is_object(af)) {
		CK_ERR(c, "申请表（application_form）应为对象");
		return;
	}
	const char *kind = ck_str(af, "kind");
	if (!kind) {
		CK_ERR(c, "申请表缺少“kind”（none、generated 或 fixed）");
		return;
	}
	size_t i;
	json_t *x;
	if (!strcmp(kind, "none")) {
		ck_check_keys(c, af, appform_none_keys, "申请表");
	} else if (!strcmp(kind, "generated")) {
		if (!ck_check_keys(c, af, appform_gen_keys, "申请表"))
			return;
		const json_t *secs = json_object_get(af, "sections");
		size_t o1 = ck_push_key(c, "sections");
		if (json_is_array(secs) && json_array_size(secs) == 0)
			CK_ERR(c, "生成的申请表至少需要一个栏目");
		json_array_foreach (secs, i, x) {
			size_t old = ck_push_idx(c, i);
			if (ck_check_keys(c, x, section_keys, "申请表栏目")) {
				const json_t *fs = json_object_get(x, "fields");
				size_t j;
				json_t *fn;
				size_t o2 = ck_push_key(c, "fields");
				json_array_foreach (fs, j, fn) {
					size_t o3 = ck_push_idx(c, j);
					if (!json_is_string(fn))
						CK_ERR(c, "应为字段 id（字符串）");
					else
						check_form_field_name(c, json_string_value(fn));
					ck_pop(c, o3);
				}
				ck_pop(c, o2);
				check_expr_at(c, x, "when", -1);
			}
			ck_pop(c, old);
		}
		ck_pop(c, o1);
	} else if (!strcmp(kind, "fixed")) {
		if (ck_check_keys(c, af, appform_fixed_keys, "申请表"))
			check_fixed(c, af, code);
	} else {
		ck_report_at(c, "kind", false,
		             "申请表类型“%s”不存在（可用：none、generated、fixed）", kind);
	}
}
