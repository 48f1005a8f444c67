/* forms.c: from a sub-item and its form data to the document forms_pdf.c prints.
 *
 * The form is evaluated first (catalog_form_evaluate) so that what is printed is what the
 * clerk sees: computed fields computed, hidden fields left out. Every value is then turned
 * into the text a person reads (docs/forms.md "Values"); the layout never sees a code. */
#include "forms/forms_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cases/cases_int.h"
#include "catalog/catalog.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "http/http.h"
#include "server/server.h"

#define DB_WAIT_MS 5000

/* Everything the builder needs while it walks the layout. */
struct build {
	struct arena *a;
	const struct catalog_ref *ref;
	const json_t *fields; /* form.fields of the sub-item */
	json_t *work;         /* the data as evaluated: hidden fields dropped, computed set */
	json_t *visible;      /* object: visible field path → true */
	const char *today;
	struct errinfo *ei;
};

static void today_cst(char out[11])
{
	int64_t y;
	int m, d;
	time_civil_from_days((time_now_ms() + 8 * 3600 * 1000LL) / 86400000LL, &y, &m, &d);
	snprintf(out, 11, "%04d-%02d-%02d", (int)y, m, d);
}

/* ---- values as a person reads them ---- */

static const char *code_name(const struct build *b, const char *table, const char *code)
{
	const json_t *e = catalog_ref_code_entry(b->ref, table, code);
	const char *name = json_get_str(e, "name");
	return name ? name : code;
}

static const char *number_text(struct arena *a, const json_t *v)
{
	if (json_is_integer(v))
		return arena_printf(a, "%lld", (long long)json_integer_value(v));
	return arena_printf(a, "%.15g", json_number_value(v));
}

/* "2026-01-05" → "2026年01月05日"; anything else as it is. */
static const char *date_text(struct arena *a, const char *s)
{
	int y, m, d;
	if (s && time_date_parse(s, 1, 9999, &y, &m, &d))
		return arena_printf(a, "%04d年%02d月%02d日", y, m, d);
	return s ? s : "";
}

/* Every character but the last four replaced by '*'. */
static const char *masked_account(struct arena *a, const char *s)
{
	size_t n = strlen(s);
	char *out = arena_alloc(a, n + 1);
	if (!out)
		return "";
	for (size_t i = 0; i < n; i++)
		out[i] = i + 4 < n ? '*' : s[i];
	out[n] = 0;
	return out;
}

static const char *str_or_empty(const json_t *v)
{
	return json_is_string(v) ? json_string_value(v) : "";
}

static void join(struct buf *o, const char *sep, const char *s)
{
	if (!s || !*s)
		return;
	if (o->len && sep)
		buf_puts(o, sep);
	buf_puts(o, s);
}

static const char *buf_to_arena(struct arena *a, struct buf *o)
{
	const char *s = arena_strndup(a, o->p ? o->p : "", o->len);
	buf_release(o);
	return s ? s : "";
}

/* A member of a compound value: its label and text. */
static const char *member_label(const char *type, const char *member)
{
	static const char *const names[][3] = {
	    {"address", "district", "区"},
	    {"address", "street", "街道（镇）"},
	    {"address", "neighbourhood", "居（村）委"},
	    {"address", "detail", "详细地址"},
	    {"bank_account", "bank", "开户银行"},
	    {"bank_account", "account", "账号"},
	    {"bank_account", "holder", "户名"},
	    {"id_document", "type", "证件类型"},
	    {"id_document", "number", "证件号码"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(names[i][0], type) && !strcmp(names[i][1], member))
			return names[i][2];
	return member;
}

static const char *member_text(const struct build *b, const char *type, const char *member,
                               const json_t *v)
{
	if (catalog_value_empty(v))
		return "";
	const char *s = str_or_empty(v);
	if (!strcmp(type, "address") && !strcmp(member, "district"))
		return code_name(b, "district", s);
	if (!strcmp(type, "bank_account") && !strcmp(member, "bank"))
		return code_name(b, "bank", s);
	if (!strcmp(type, "bank_account") && !strcmp(member, "account"))
		return masked_account(b->a, s);
	if (!strcmp(type, "id_document") && !strcmp(member, "type"))
		return code_name(b, "id_doc_type", s);
	return s;
}

/* The text of value v of the field def ("" when not filled in). */
static const char *value_text(const struct build *b, const json_t *def, const json_t *v)
{
	const char *type = json_get_str(def, "type");
	struct buf o;
	if (!type || catalog_value_empty(v))
		return "";
	if (!strcmp(type, "boolean"))
		return json_is_true(v) ? "是" : json_is_false(v) ? "否" : "";
	if (!strcmp(type, "date"))
		return date_text(b->a, json_string_value(v));
	if (!strcmp(type, "number") && json_is_number(v))
		return number_text(b->a, v);
	if (!strcmp(type, "money") && json_is_number(v)) {
		/* the label usually says （元） already */
		const char *label = json_get_str(def, "label");
		bool unit = !(label && strstr(label, "元"));
		return arena_printf(b->a, "%.2f%s", json_number_value(v), unit ? " 元" : "");
	}
	const char *table = json_get_str(def, "code_table");
	if (!strcmp(type, "enum") && table) {
		if (json_is_string(v))
			return code_name(b, table, json_string_value(v));
		buf_init(&o, 64 * 1024);
		size_t i;
		const json_t *c;
		json_array_foreach (v, i, c)
			if (json_is_string(c))
				join(&o, "、", code_name(b, table, json_string_value(c)));
		return buf_to_arena(b->a, &o);
	}
	if (!strcmp(type, "id_document")) {
		buf_init(&o, 4096);
		join(&o, NULL, member_text(b, type, "type", json_object_get(v, "type")));
		join(&o, " ", str_or_empty(json_object_get(v, "number")));
		return buf_to_arena(b->a, &o);
	}
	if (!strcmp(type, "address")) {
		static const char *const parts[] = {"district", "street", "neighbourhood",
		                                    "detail"};
		buf_init(&o, 4096);
		for (size_t i = 0; i < 4; i++)
			join(&o, NULL,
			     member_text(b, type, parts[i], json_object_get(v, parts[i])));
		return buf_to_arena(b->a, &o);
	}
	if (!strcmp(type, "bank_account")) {
		buf_init(&o, 4096);
		join(&o, NULL, member_text(b, type, "bank", json_object_get(v, "bank")));
		join(&o, " ", member_text(b, type, "account", json_object_get(v, "account")));
		const char *holder = str_or_empty(json_object_get(v, "holder"));
		if (*holder)
			join(&o, " ", arena_printf(b->a, "户名：%s", holder));
		return buf_to_arena(b->a, &o);
	}
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_number(v))
		return number_text(b->a, v);
	/* a value of the wrong shape (the form was stored unchecked): show what it is */
	const char *dump = json_dump_arena(v, b->a);
	return dump ? dump : "";
}

static bool printable(const json_t *def)
{
	const char *type = json_get_str(def, "type");
	return type && strcmp(type, "signature") && strcmp(type, "attachment");
}

/* ---- the form data as evaluated ---- */

static const json_t *field_def(const json_t *fields, const char *id)
{
	size_t i;
	const json_t *f;
	json_array_foreach (fields, i, f) {
		const char *fid = json_get_str(f, "id");
		if (fid && !strcmp(fid, id))
			return f;
	}
	return NULL;
}

static bool is_visible(const struct build *b, const char *path)
{
	return json_object_get(b->visible, path) != NULL;
}

/* The working copy of the data: hidden fields removed (they read as null to `when`, as in
 * the evaluation), computed values set. */
static enum err evaluate(struct build *b, const json_t *sub_item, const json_t *data)
{
	struct catalog_form_result r;
	enum err e = catalog_form_evaluate(b->ref, sub_item, data, b->today, &r);
	if (e) {
		catalog_form_result_release(&r);
		return e == ERR_INVALID
		           ? err_fail(b->ei, e, "form", "事项子项的表单定义有误，无法生成申请表")
		           : e;
	}
	b->work = json_is_object(data) ? json_deep_copy(data) : json_object();
	b->visible = json_object();
	if (!b->work || !b->visible) {
		catalog_form_result_release(&r);
		return ERR_NOMEM;
	}
	size_t i;
	json_t *p;
	json_array_foreach (r.visible, i, p)
		if (json_is_string(p))
			json_object_set_new(b->visible, json_string_value(p), json_true());
	const json_t *f;
	json_array_foreach (b->fields, i, f) {
		const char *id = json_get_str(f, "id");
		if (id && !is_visible(b, id))
			json_path_del(b->work, id);
	}
	const char *path;
	json_t *v;
	json_object_foreach (r.computed, path, v) {
		const char *br = strchr(path, '[');
		if (!br) {
			json_path_set_new(b->work, path, json_incref(v));
			continue;
		}
		/* "<group>[n].<field>" */
		int64_t n;
		const char *close = strchr(br, ']');
		char *group = arena_strndup(b->a, path, (size_t)(br - path));
		char *num = close ? arena_strndup(b->a, br + 1, (size_t)(close - br - 1)) : NULL;
		if (!group || !num || close[1] != '.' || !cstr_to_i64(num, 0, 100000, &n))
			continue;
		json_t *row = json_array_get(json_path_get(b->work, group), (size_t)n);
		if (json_is_object(row))
			json_object_set(row, close + 2, v);
	}
	catalog_form_result_release(&r);
	return ERR_OK;
}

/* Does expression src hold on the evaluated data? (no `when` = true) */
static enum err holds(struct build *b, const char *src, bool *out)
{
	struct catalog_expr *x;
	const char *why;
	*out = true;
	if (!src)
		return ERR_OK;
	/* ei must outlive this call: a static message (the catalog check names the problem) */
	if (catalog_expr_parse(src, b->a, &x, &why))
		return err_fail(b->ei, ERR_INVALID, "application_form",
		                "申请表版式中的条件表达式有误");
	json_t *v = catalog_expr_eval(x, b->work, NULL, b->today);
	*out = catalog_expr_truthy(v);
	json_decref(v);
	return ERR_OK;
}

/* ---- the document ---- */

static enum err group_item(struct build *b, const json_t *def, struct forms_item *it)
{
	const char *id = json_get_str(def, "id");
	const json_t *subs = json_object_get(def, "fields");
	const json_t *rows = json_path_get(b->work, id);
	const json_t **cdef = arena_zalloc(b->a, (json_array_size(subs) + 1) * sizeof(*cdef));
	size_t i, r, nc = 0;
	const json_t *s;
	it->kind = FORMS_GROUP;
	it->label = json_get_str(def, "label");
	it->cols = arena_zalloc(b->a, (json_array_size(subs) + 1) * sizeof(*it->cols));
	if (!cdef || !it->cols)
		return ERR_NOMEM;
	json_array_foreach (subs, i, s) {
		if (!printable(s))
			continue;
		cdef[nc] = s;
		it->cols[nc++] = json_get_str(s, "label");
	}
	it->ncols = nc;
	it->nrows = json_is_array(rows) ? json_array_size(rows) : 0;
	it->cells = arena_zalloc(b->a, (it->nrows * nc + 1) * sizeof(*it->cells));
	if (!it->cells)
		return ERR_NOMEM;
	for (r = 0; r < it->nrows; r++) {
		const json_t *row = json_array_get(rows, r);
		for (i = 0; i < nc; i++) {
			const char *sub = json_get_str(cdef[i], "id");
			const char *path = arena_printf(b->a, "%s[%zu].%s", id, r, sub);
			bool shown = path && is_visible(b, path);
			it->cells[r * nc + i] =
			    shown ? value_text(b, cdef[i], json_object_get(row, sub)) : "";
		}
	}
	return ERR_OK;
}

/* One entry of a section's `fields`: a field id or a member of a compound field. false
 * when there is nothing to print (hidden, a signature, unknown). */
static enum err section_item(struct build *b, const char *ref, struct forms_item *it, bool *printed)
{
	*printed = false;
	const json_t *def = field_def(b->fields, ref);
	const char *member = NULL;
	if (!def) {
		const char *dot = strrchr(ref, '.');
		char *head = dot ? arena_strndup(b->a, ref, (size_t)(dot - ref)) : NULL;
		def = head ? field_def(b->fields, head) : NULL;
		if (!def)
			return ERR_OK;
		member = dot + 1;
	}
	const char *id = json_get_str(def, "id");
	const char *type = json_get_str(def, "type");
	if (!printable(def) || !is_visible(b, id))
		return ERR_OK;
	*printed = true;
	if (!strcmp(type, "group"))
		return group_item(b, def, it);
	it->kind = FORMS_FIELD;
	const json_t *v = json_path_get(b->work, id);
	if (member) {
		it->label = arena_printf(b->a, "%s（%s）", json_get_str(def, "label"),
		                         member_label(type, member));
		it->value = member_text(b, type, member, json_object_get(v, member));
		it->wide = !strcmp(member, "detail");
	} else {
		it->label = json_get_str(def, "label");
		it->value = value_text(b, def, v);
		it->wide = !strcmp(type, "textarea") || !strcmp(type, "address");
	}
	return it->label && it->value ? ERR_OK : ERR_NOMEM;
}

static enum err sections(struct build *b, const json_t *layout, struct forms_doc *d)
{
	const json_t *secs = json_object_get(layout, "sections");
	size_t i, j;
	const json_t *s, *f;
	enum err e;
	d->sections = arena_zalloc(b->a, (json_array_size(secs) + 1) * sizeof(*d->sections));
	if (!d->sections)
		return ERR_NOMEM;
	json_array_foreach (secs, i, s) {
		bool on;
		if ((e = holds(b, json_get_str(s, "when"), &on)))
			return e;
		if (!on)
			continue;
		const json_t *refs = json_object_get(s, "fields");
		struct forms_section *sec = &d->sections[d->nsections];
		sec->title = json_get_str(s, "title");
		sec->items = arena_zalloc(b->a, (json_array_size(refs) + 1) * sizeof(*sec->items));
		if (!sec->items)
			return ERR_NOMEM;
		json_array_foreach (refs, j, f) {
			bool printed;
			if (!json_is_string(f))
				continue;
			if ((e = section_item(b, json_string_value(f), &sec->items[sec->nitems],
			                      &printed)))
				return e;
			sec->nitems += printed;
		}
		if (sec->nitems)
			d->nsections++;
	}
	return ERR_OK;
}

static enum err signatures(struct build *b, const json_t *plan, const struct forms_opts *o,
                           struct forms_doc *d)
{
	const json_t *signers = json_object_get(plan, "signers");
	const json_t *commits = json_object_get(plan, "commitments");
	size_t i, k;
	const json_t *s;
	enum err e;
	d->commitments = arena_zalloc(b->a, (json_array_size(commits) + 1) * sizeof(char *));
	d->signers = arena_zalloc(b->a, (json_array_size(signers) + 1) * sizeof(*d->signers));
	if (!d->commitments || !d->signers)
		return ERR_NOMEM;
	json_array_foreach (commits, i, s)
		if (json_get_str(s, "text"))
			d->commitments[d->ncommitments++] = json_get_str(s, "text");
	json_array_foreach (signers, i, s) {
		bool on;
		const char *role = json_get_str(s, "role");
		if ((e = holds(b, json_get_str(s, "when"), &on)))
			return e;
		if (!on || !role)
			continue;
		struct forms_signer *g = &d->signers[d->nsigners++];
		g->role = role;
		g->label = json_get_str(s, "label") ? json_get_str(s, "label") : role;
		for (k = 0; o && k < o->nsignatures; k++)
			if (o->signatures[k].role && !strcmp(o->signatures[k].role, role)) {
				g->png = o->signatures[k].png;
				g->png_n = o->signatures[k].png_n;
			}
	}
	return ERR_OK;
}

/* What both kinds start with: the form's kind checked, today, the form evaluated. */
static enum err begin(struct build *b, const json_t *sub_item, const json_t *data,
                      const struct forms_opts *opts, const char *want, char today[11])
{
	const json_t *layout = json_object_get(sub_item, "application_form");
	const char *kind = json_get_str(layout, "kind");
	if (!kind || strcmp(kind, want))
		return err_fail(b->ei, ERR_BAD_STATE, "application_form",
		                !kind || !strcmp(kind, "none") ? "该事项没有申请表"
		                : !strcmp(kind, "fixed")
		                    ? "该事项使用制式申请表，不按生成式版式打印"
		                    : "该事项的申请表不是制式申请表");
	b->fields = json_object_get(json_object_get(sub_item, "form"), "fields");
	if (!json_is_array(b->fields))
		return err_fail(b->ei, ERR_INVALID, "form", "事项子项没有表单定义，无法生成申请表");
	if (opts && opts->today)
		b->today = opts->today;
	else {
		today_cst(today);
		b->today = today;
	}
	return evaluate(b, sub_item, data);
}

enum err forms_render_generated(const struct catalog_ref *ref, const json_t *item,
                                const json_t *sub_item, const json_t *data,
                                const struct forms_opts *opts, struct buf *pdf_out,
                                struct errinfo *ei)
{
	struct arena a;
	struct build b = {.a = &a, .ref = ref, .ei = ei};
	struct forms_doc d = {0};
	char today[11];
	int64_t t0 = time_mono_ns();
	enum err e;
	arena_init(&a, 0);
	const json_t *layout = json_object_get(sub_item, "application_form");
	if ((e = begin(&b, sub_item, data, opts, "generated", today)))
		goto out;
	const json_t *dept = catalog_ref_department(ref, json_get_str(item, "department"));
	d.title = json_get_str(layout, "title") ? json_get_str(layout, "title")
	                                        : json_get_str(sub_item, "name");
	d.sub_item_name = json_get_str(sub_item, "name");
	d.department = json_get_str(dept, "name");
	d.code = json_get_str(sub_item, "code");
	d.case_no = opts ? opts->case_no : NULL;
	d.org_name = opts ? opts->org_name : NULL;
	d.created_ms = opts && opts->created_ms ? opts->created_ms : time_now_ms();
	if ((e = sections(&b, layout, &d)) ||
	    (e = signatures(&b, json_object_get(sub_item, "signatures"), opts, &d)))
		goto out;
	int64_t t1 = time_mono_ns();
	struct forms_timing *t = opts ? opts->timing : NULL;
	e = forms_pdf_write(&d, pdf_out, t, ei);
	if (t)
		t->evaluate_ns = t1 - t0;
out:
	json_decref(b.work);
	json_decref(b.visible);
	arena_release(&a);
	return e;
}

/* ---- fixed (制式) forms: what goes where on the template ---- */

static double num(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	return json_is_number(v) ? json_number_value(v) : 0;
}

static struct forms_place *place_add(struct build *b, struct forms_fixed_doc *d, size_t *alloc,
                                     enum forms_place_kind kind, const json_t *pos)
{
	if (d->nplaces == *alloc) {
		size_t na = *alloc ? *alloc * 2 : 64;
		struct forms_place *nv = arena_alloc(b->a, na * sizeof(*nv));
		if (!nv)
			return NULL;
		if (d->nplaces)
			memcpy(nv, d->places, d->nplaces * sizeof(*nv));
		d->places = nv;
		*alloc = na;
	}
	struct forms_place *p = &d->places[d->nplaces++];
	json_int_t page = json_integer_value(json_object_get(pos, "page"));
	*p = (struct forms_place){.kind = kind,
	                          .page = page > 0 && page < 1000 ? (int)page : 1,
	                          .x = num(pos, "x"),
	                          .y = num(pos, "y"),
	                          .w = num(pos, "w"),
	                          .h = num(pos, "h"),
	                          .size = num(pos, "size") > 0 ? num(pos, "size") : 11};
	if (p->page > d->pages)
		d->pages = p->page;
	return p;
}

/* Is choice code among the codes value v holds (an enum code, a multi-select's codes, a
 * boolean as "true"/"false")? */
static bool chosen(const json_t *v, const char *code)
{
	size_t i;
	const json_t *c;
	if (json_is_boolean(v))
		return !strcmp(code, json_is_true(v) ? "true" : "false");
	if (json_is_string(v))
		return !strcmp(code, json_string_value(v));
	json_array_foreach (v, i, c)
		if (json_is_string(c) && !strcmp(code, json_string_value(c)))
			return true;
	return false;
}

/* Where position pos points: the definition, the value and whether it is shown. A field id,
 * a member of a compound field, a group cell "<group>[n].<field>", or the older
 * "<group>.<field>" whose n-th occurrence is row n (rows counts them). */
struct target {
	const json_t *def, *v;
	const char *member; /* of def's compound value, or NULL */
	bool shown;
};

static void target_cell(struct build *b, const json_t *gdef, size_t n, const char *sub,
                        struct target *t)
{
	const char *gid = json_get_str(gdef, "id");
	t->def = field_def(json_object_get(gdef, "fields"), sub);
	const json_t *row = json_array_get(json_path_get(b->work, gid), n);
	t->v = json_object_get(row, sub);
	const char *path = arena_printf(b->a, "%s[%zu].%s", gid, n, sub);
	t->shown = t->def && path && is_visible(b, path);
}

static void target_of(struct build *b, const char *ref, json_t *rows, struct target *t)
{
	*t = (struct target){0};
	const char *br = strchr(ref, '[');
	if (br) {
		int64_t n;
		const char *close = strchr(br, ']');
		char *group = arena_strndup(b->a, ref, (size_t)(br - ref));
		char *idx = close ? arena_strndup(b->a, br + 1, (size_t)(close - br - 1)) : NULL;
		const json_t *gdef = group ? field_def(b->fields, group) : NULL;
		if (gdef && idx && close[1] == '.' && cstr_to_i64(idx, 0, 100000, &n))
			target_cell(b, gdef, (size_t)n, close + 2, t);
		return;
	}
	if ((t->def = field_def(b->fields, ref))) {
		t->v = json_path_get(b->work, ref);
		t->shown = is_visible(b, ref);
		return;
	}
	const char *dot = strrchr(ref, '.');
	char *head = dot ? arena_strndup(b->a, ref, (size_t)(dot - ref)) : NULL;
	const json_t *hdef = head ? field_def(b->fields, head) : NULL;
	const char *htype = json_get_str(hdef, "type");
	if (!htype)
		return;
	if (!strcmp(htype, "group")) {
		json_int_t n = json_integer_value(json_object_get(rows, ref));
		json_object_set_new(rows, ref, json_integer(n + 1));
		target_cell(b, hdef, (size_t)n, dot + 1, t);
		return;
	}
	t->def = hdef;
	t->member = dot + 1;
	t->v = json_object_get(json_path_get(b->work, head), t->member);
	t->shown = is_visible(b, head);
}

static enum err fixed_field(struct build *b, const json_t *pos, json_t *rows,
                            struct forms_fixed_doc *d, size_t *alloc)
{
	struct target t;
	const char *ref = json_get_str(pos, "field");
	if (!ref)
		return ERR_OK;
	target_of(b, ref, rows, &t);
	if (!t.def || !t.shown || !printable(t.def) || catalog_value_empty(t.v))
		return ERR_OK;
	const char *type = json_get_str(t.def, "type");
	const json_t *choices = json_object_get(pos, "choices");
	size_t i, ticks = 0;
	const json_t *c;
	json_array_foreach (choices, i, c) {
		const char *code = json_get_str(c, "code");
		if (!t.member && code && chosen(t.v, code)) {
			struct forms_place *p = place_add(b, d, alloc, FORMS_PLACE_TICK, pos);
			if (!p)
				return ERR_NOMEM;
			p->x = num(c, "x"); /* the □ of the option, on the position's page */
			p->y = num(c, "y");
			p->w = num(c, "w");
			p->h = num(c, "h");
			ticks++;
		}
	}
	if (ticks) /* the template prints the options: the ticks say which */
		return ERR_OK;
	const char *text =
	    t.member ? member_text(b, type, t.member, t.v) : value_text(b, t.def, t.v);
	if (!text)
		return ERR_NOMEM;
	if (!*text)
		return ERR_OK;
	bool date = !t.member && !strcmp(type, "date");
	struct forms_place *p =
	    place_add(b, d, alloc, date ? FORMS_PLACE_DATE : FORMS_PLACE_TEXT, pos);
	if (!p)
		return ERR_NOMEM;
	p->text = text;
	return ERR_OK;
}

/* The catalog directory next to the binary's directory, as `serve` finds catalog/. */
static const char *default_catalog_dir(struct arena *a)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	if (n <= 0)
		return "catalog";
	exe[n] = 0;
	if ((slash = strrchr(exe, '/')))
		*slash = 0;
	const char *dir = arena_printf(a, "%s/../catalog", exe);
	return dir && access(dir, R_OK) == 0 ? dir : "catalog";
}

static enum err fixed_template(struct build *b, const json_t *layout, const struct forms_opts *o,
                               struct forms_fixed_doc *d)
{
	const char *tpl = json_get_str(layout, "template");
	if (!tpl || strncmp(tpl, "templates/", 10) || strstr(tpl, ".."))
		return err_fail(b->ei, ERR_INVALID, "application_form", "制式申请表的模板路径有误");
	const char *dir = o && o->catalog_dir ? o->catalog_dir : default_catalog_dir(b->a);
	d->template_path = arena_printf(b->a, "%s/%s", dir, tpl);
	if (!d->template_path)
		return ERR_NOMEM;
	if (access(d->template_path, R_OK) != 0) {
		log_warn("forms.template_missing", "fixed form template %s missing",
		         d->template_path);
		return err_fail(
		    b->ei, ERR_BAD_STATE, "application_form",
		    "该事项的制式申请表模板文件缺失，无法生成申请表，请联系管理员补充模板");
	}
	return ERR_OK;
}

enum err forms_render_fixed(const struct catalog_ref *ref, const json_t *item,
                            const json_t *sub_item, const json_t *data,
                            const struct forms_opts *opts, struct buf *pdf_out, struct errinfo *ei)
{
	struct arena a;
	struct build b = {.a = &a, .ref = ref, .ei = ei};
	struct forms_doc sig = {0};
	struct forms_fixed_doc d = {.pages = 1};
	json_t *rows = json_object();
	char today[11];
	size_t alloc = 0, i, k;
	const json_t *pos;
	int64_t t0 = time_mono_ns();
	enum err e;
	arena_init(&a, 0);
	(void)item;
	const json_t *layout = json_object_get(sub_item, "application_form");
	if (!rows) {
		e = ERR_NOMEM;
		goto out;
	}
	if ((e = begin(&b, sub_item, data, opts, "fixed", today)) ||
	    (e = fixed_template(&b, layout, opts, &d)))
		goto out;
	d.title = json_get_str(layout, "title") ? json_get_str(layout, "title")
	                                        : json_get_str(sub_item, "name");
	d.case_no = opts ? opts->case_no : NULL;
	json_array_foreach (json_object_get(layout, "fields"), i, pos)
		if ((e = fixed_field(&b, pos, rows, &d, &alloc)))
			goto out;
	/* the signers whose `when` holds, with the images given for them */
	if ((e = signatures(&b, json_object_get(sub_item, "signatures"), opts, &sig)))
		goto out;
	json_array_foreach (json_object_get(layout, "signature_boxes"), i, pos) {
		const char *role = json_get_str(pos, "signer");
		for (k = 0; role && k < sig.nsigners; k++) {
			if (strcmp(sig.signers[k].role, role) || !sig.signers[k].png)
				continue;
			struct forms_place *p = place_add(&b, &d, &alloc, FORMS_PLACE_IMAGE, pos);
			if (!p) {
				e = ERR_NOMEM;
				goto out;
			}
			p->role = role;
			p->png = sig.signers[k].png;
			p->png_n = sig.signers[k].png_n;
		}
	}
	struct forms_timing *t = opts ? opts->timing : NULL;
	int64_t t1 = time_mono_ns();
	e = forms_fixed_write(&d, pdf_out, t, ei);
	if (t)
		t->evaluate_ns = t1 - t0;
out:
	json_decref(rows);
	json_decref(b.work);
	json_decref(b.visible);
	arena_release(&a);
	return e;
}

enum err forms_render(const struct catalog_ref *ref, const json_t *item, const json_t *sub_item,
                      const json_t *data, const struct forms_opts *opts, struct buf *pdf_out,
                      struct errinfo *ei)
{
	const char *kind = json_get_str(json_object_get(sub_item, "application_form"), "kind");
	if (kind && !strcmp(kind, "fixed"))
		return forms_render_fixed(ref, item, sub_item, data, opts, pdf_out, ei);
	return forms_render_generated(ref, item, sub_item, data, opts, pdf_out, ei);
}

enum err forms_render_case(struct server *srv, const struct principal *who, struct arena *a,
                           const char *case_no, const struct forms_opts *opts, struct buf *pdf_out,
                           struct errinfo *ei)
{
	struct case_row row = {0};
	struct case_catalog cc = {0};
	struct db_conn *c = NULL;
	struct db_rows *org = NULL;
	struct forms_opts o = opts ? *opts : (struct forms_opts){0};
	enum err e;
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)))
		return e;
	if ((e = case_load(srv, c, a, who, case_no, &row))) {
		if (e == ERR_NOT_FOUND)
			err_fail(ei, e, "no", "办件不存在");
		goto out;
	}
	if ((e = case_catalog_get(srv, c, a, &row, &cc)))
		goto out;
	if (!o.org_name &&
	    !(e = db_exec(c, a, &org, "SELECT name FROM orgs WHERE id = ?", "i", row.org_id)) &&
	    org->nrows == 1)
		o.org_name = db_text(org, 0, 0);
	if (e)
		goto out;
	/* rendering is CPU only: give the connection back first */
	db_release(c);
	c = NULL;
	o.case_no = row.case_no;
	e = forms_render(cc.ref, cc.item, cc.sub_item, row.form, &o, pdf_out, ei);
out:
	db_release(c);
	case_row_release(&row);
	case_catalog_release(&cc);
	return e;
}
