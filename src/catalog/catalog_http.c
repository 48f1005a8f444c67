/* catalog_http.c: the catalog's routes.
 *
 * Clerk-facing routes (any signed-in user) read the published snapshot only: search, browse,
 * item and sub-item schemas, code tables and form evaluation never touch the database.
 * Admin routes (catalog.edit; publication, code changes and imports need catalog.publish)
 * work on versions in the database through catalog.c. */
#include "catalog/catalog_admin_int.h"

#include "audit/audit.h"
#include "core/log.h"
#include "db/db.h"

#define SEARCH_LIMIT_MAX 500

/* The failure ei describes, as the error envelope (message and field kept). */
static enum err fail_ei(struct req *r, enum err e, const struct errinfo *ei)
{
	if (ei->code == e && ei->msg)
		r->err = *ei;
	return e;
}

/* 422 with the list of problems next to the usual error object. */
static enum err fail_problems(struct req *r, struct resp *w, const char *msg, json_t *problems)
{
	json_t *err =
	    json_pack("{s:s, s:s, s:s}", "code", err_code(ERR_INVALID), "message",
	              msg ? msg : err_message(ERR_INVALID), "trace_id", r->trace.trace_id);
	resp_json(
	    w, err_status(ERR_INVALID),
	    json_pack("{s:o, s:O}", "error", err, "problems", problems ? problems : json_array()));
	return ERR_OK;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static enum err snapshot(struct req *r, struct catalog_snapshot **s)
{
	return catalog_snapshot_get(r->srv, s);
}

/* ---- clerk-facing --------------------------------------------------------------------- */

static json_t *entry_summary(const struct catalog_entry *e)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:i, s:s, s:b, s:i}", "code", e->code,
	                 "name", e->name, "short_name", e->short_name, "department", e->department,
	                 "department_name", e->department_name, "sub_items", e->nsub, "case_type",
	                 e->case_type, "vwin_mode", e->vwin_mode, "citywide", e->citywide,
	                 "version", e->version);
}

/* GET /api/v1/catalog/items?q=&dept=&limit=20 */
static enum err h_items(struct req *r, struct resp *w)
{
	struct catalog_snapshot *s = NULL;
	int64_t limit;
	size_t total = 0;
	enum err e = req_query_int(r, "limit", 1, SEARCH_LIMIT_MAX, 20, &limit);
	const char *q = req_query(r, "q");
	const char *dept = req_query(r, "dept");
	if (e)
		return e;
	if (q && strlen(q) > 200)
		return req_fail(r, ERR_BAD_FIELD, "q", "搜索内容不能超过 200 个字符");
	struct catalog_hit *hits = arena_alloc(r->arena, (size_t)limit * sizeof(*hits));
	if (!hits)
		return ERR_NOMEM;
	if ((e = snapshot(r, &s)))
		return e;
	size_t n = catalog_search(s, q, dept, hits, (size_t)limit, &total);
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < n; i++)
		json_array_append_new(arr, entry_summary(hits[i].e));
	resp_json(w, 200, json_pack("{s:o, s:I}", "items", arr, "total", (json_int_t)total));
	catalog_snapshot_unref(s);
	return ERR_OK;
}

/* GET /api/v1/catalog/summary */
static enum err h_summary(struct req *r, struct resp *w)
{
	struct catalog_snapshot *s = NULL;
	enum err e = snapshot(r, &s);
	if (e)
		return e;
	json_t *by = json_array();
	size_t i;
	json_t *d;
	json_array_foreach (s->dept_list, i, d) {
		const char *id = json_string_value(json_object_get(d, "id"));
		int items = 0, subs = 0;
		for (size_t k = 0; id && k < s->nitems; k++)
			if (!strcmp(s->items[k].department, id)) {
				items++;
				subs += s->items[k].nsub;
			}
		json_array_append_new(by, json_pack("{s:s?, s:O?, s:i, s:i}", "id", id, "name",
		                                    json_object_get(d, "name"), "items", items,
		                                    "sub_items", subs));
	}
	resp_json(w, 200,
	          json_pack("{s:I, s:I, s:I, s:o}", "departments",
	                    (json_int_t)json_array_size(s->dept_list), "items",
	                    (json_int_t)s->nitems, "sub_items", (json_int_t)s->nsub,
	                    "by_department", by));
	catalog_snapshot_unref(s);
	return ERR_OK;
}

/* GET /api/v1/catalog/departments */
static enum err h_departments(struct req *r, struct resp *w)
{
	struct catalog_snapshot *s = NULL;
	enum err e = snapshot(r, &s);
	if (e)
		return e;
	json_t *arr = json_array();
	size_t i;
	json_t *d;
	json_array_foreach (s->dept_list, i, d) {
		const char *id = json_string_value(json_object_get(d, "id"));
		int items = 0;
		for (size_t k = 0; id && k < s->nitems; k++)
			items += !strcmp(s->items[k].department, id);
		json_array_append_new(arr,
		                      json_pack("{s:s?, s:O?, s:O?, s:i}", "id", id, "name",
		                                json_object_get(d, "name"), "short_name",
		                                json_object_get(d, "short_name"), "items", items));
	}
	resp_json(w, 200, json_pack("{s:o}", "departments", arr));
	catalog_snapshot_unref(s);
	return ERR_OK;
}

/* GET /api/v1/catalog/items/{code} */
static enum err h_item(struct req *r, struct resp *w)
{
	struct catalog_snapshot *s = NULL;
	const char *code = req_param(r, "code"), *from = NULL;
	enum err e = snapshot(r, &s);
	if (e)
		return e;
	const struct catalog_entry *en = catalog_snapshot_resolve(s, code, &from);
	if (!en) {
		catalog_snapshot_unref(s);
		return req_fail(r, ERR_NOT_FOUND, "code", "事项 %s 不存在或尚未生效", code);
	}
	json_t *body =
	    json_pack("{s:O, s:i, s:s, s:I, s:s}", "item", en->doc, "version", en->version,
	              "effective_from", en->effective_from, "published_at",
	              (json_int_t)en->published_at, "department_name", en->department_name);
	if (body && from)
		json_object_set_new(body, "redirected_from", json_string(from));
	resp_json(w, 200, body);
	catalog_snapshot_unref(s);
	return ERR_OK;
}

/* The sub-item of code in s (an old code goes through the item's code change). */
static const json_t *find_sub(struct req *r, const struct catalog_snapshot *s, const char *code,
                              const struct catalog_entry **entry, const char **from)
{
	*entry = NULL;
	*from = NULL;
	if (!catalog_sub_code_ok(code))
		return NULL;
	const char *basic = arena_strndup(r->arena, code, 12);
	const struct catalog_entry *en = basic ? catalog_snapshot_resolve(s, basic, from) : NULL;
	if (!en)
		return NULL;
	const char *cur = *from ? arena_printf(r->arena, "%s%s", en->code, code + 12) : code;
	if (*from)
		*from = code;
	*entry = en;
	return cur ? catalog_entry_sub_item(en, cur) : NULL;
}

/* GET /api/v1/catalog/subitems/{code} */
static enum err h_subitem(struct req *r, struct resp *w)
{
	struct catalog_snapshot *s = NULL;
	const struct catalog_entry *en;
	const char *code = req_param(r, "code"), *from;
	enum err e = snapshot(r, &s);
	if (e)
		return e;
	const json_t *sub = find_sub(r, s, code, &en, &from);
	if (!sub) {
		catalog_snapshot_unref(s);
		return req_fail(r, ERR_NOT_FOUND, "code", "子项 %s 不存在或尚未生效", code);
	}
	json_t *item =
	    json_pack("{s:s, s:s, s:s, s:s, s:i, s:O?, s:s}", "code", en->code, "name", en->name,
	              "short_name", en->short_name, "department", en->department, "case_type",
	              en->case_type, "promised_days", json_object_get(en->doc, "promised_days"),
	              "department_name", en->department_name);
	json_t *body = json_pack("{s:O, s:o, s:i, s:s}", "sub_item", sub, "item", item, "version",
	                         en->version, "effective_from", en->effective_from);
	if (body && from)
		json_object_set_new(body, "redirected_from", json_string(from));
	resp_json(w, 200, body);
	catalog_snapshot_unref(s);
	return ERR_OK;
}

/* GET /api/v1/catalog/code-tables/{id} */
static enum err h_code_table(struct req *r, struct resp *w)
{
	struct catalog_snapshot *s = NULL;
	const char *id = req_param(r, "id");
	enum err e = snapshot(r, &s);
	if (e)
		return e;
	json_t *t = json_object_get(s->code_tables, id);
	if (!t) {
		catalog_snapshot_unref(s);
		return req_fail(r, ERR_NOT_FOUND, "id", "代码表 %s 不存在", id);
	}
	resp_json(w, 200, json_deep_copy(t));
	catalog_snapshot_unref(s);
	return ERR_OK;
}

/* POST /api/v1/catalog/subitems/{code}/evaluate {"data":{…}} */
static enum err h_evaluate(struct req *r, struct resp *w)
{
	struct catalog_snapshot *s = NULL;
	struct catalog_form_result res;
	const struct catalog_entry *en;
	const char *code = req_param(r, "code"), *from;
	char today[11];
	enum err e = snapshot(r, &s);
	if (e)
		return e;
	memset(&res, 0, sizeof(res));
	const json_t *sub = find_sub(r, s, code, &en, &from);
	if (!sub || !s->ref) {
		e = req_fail(r, ERR_NOT_FOUND, "code", "子项 %s 不存在或尚未生效", code);
		goto out;
	}
	catalog_today(today);
	e = catalog_form_evaluate(s->ref, sub, json_object_get(r->json, "data"), today, &res);
	if (e == ERR_INVALID) {
		e = req_fail(r, ERR_INTERNAL, NULL, "子项 %s 的表单定义有误，无法校验", code);
		goto out;
	}
	if (e)
		goto out;
	resp_json(w, 200,
	          json_pack("{s:b, s:b, s:O, s:O, s:O, s:O, s:O, s:i}", "valid", res.valid,
	                    "blocked", res.blocked, "violations", res.violations, "prereview",
	                    res.prereview, "visible", res.visible, "required", res.required,
	                    "computed", res.computed, "version", en->version));
out:
	catalog_form_result_release(&res);
	catalog_snapshot_unref(s);
	return e;
}

/* The engine works on checked documents only: check sub (a sub-item of a draft) inside a
 * shell item. ERR_OK with *answered false when it has no errors; with errors the 422 answer
 * listing them has been written and *answered is true. */
static enum err check_draft_sub(struct req *r, struct resp *w, const struct catalog_snapshot *s,
                                json_t *sub, bool *answered)
{
	struct catalog_problems pr, mine;
	char basic[13] = "000000000000";
	enum err e = ERR_OK;
	*answered = false;
	catalog_problems_init(&pr, r->arena);
	catalog_problems_init(&mine, r->arena);
	const char *code = json_string_value(json_object_get(sub, "code"));
	if (catalog_sub_code_ok(code))
		memcpy(basic, code, 12);
	json_t *shell = json_arena_own(
	    r->arena, json_pack("{s:s, s:[O]}", "basic_code", basic, "sub_items", sub));
	if (!shell) {
		e = ERR_NOMEM;
		goto out;
	}
	catalog_item_check(s->ref, shell, "", &pr);
	for (size_t i = 0; i < pr.n; i++)
		if (!strncmp(pr.v[i].path, "sub_items[0]", 12))
			catalog_problems_add(&mine, "",
			                     pr.v[i].path + 12 + (pr.v[i].path[12] == '.'),
			                     pr.v[i].warning, "%s", pr.v[i].message);
	if (mine.errors) {
		*answered = true;
		e = fail_problems(
		    r, w, arena_printf(r->arena, "情形定义有 %zu 个问题，无法预览", mine.errors),
		    json_arena_own(r->arena, catalog_problems_json(&mine, false)));
	}
out:
	catalog_problems_release(&mine);
	catalog_problems_release(&pr);
	return e;
}

/* POST /api/v1/admin/catalog/evaluate {"sub_item":{…},"data":{…}}: the live preview of the
 * draft editor. The sub-item is checked first; with errors the answer is 422 with the
 * problems. */
static enum err h_admin_evaluate(struct req *r, struct resp *w)
{
	struct catalog_snapshot *s = NULL;
	struct catalog_form_result res;
	char today[11];
	bool answered = false;
	json_t *sub = json_object_get(r->json, "sub_item");
	enum err e = snapshot(r, &s);
	if (e)
		return e;
	memset(&res, 0, sizeof(res));
	if (!s->ref) {
		e = req_fail(r, ERR_UNAVAILABLE, NULL, "事项目录尚未导入部门和代码表");
		goto out;
	}
	if ((e = check_draft_sub(r, w, s, sub, &answered)) || answered)
		goto out;
	catalog_today(today);
	if ((e = catalog_form_evaluate(s->ref, sub, json_object_get(r->json, "data"), today, &res)))
		goto out;
	resp_json(w, 200,
	          json_pack("{s:b, s:b, s:O, s:O, s:O, s:O, s:O}", "valid", res.valid, "blocked",
	                    res.blocked, "violations", res.violations, "prereview", res.prereview,
	                    "visible", res.visible, "required", res.required, "computed",
	                    res.computed));
out:
	catalog_form_result_release(&res);
	catalog_snapshot_unref(s);
	return e;
}

/* POST /api/v1/admin/catalog/sample {"sub_item":{…}} → {"data":{…}}: sample data for the
 * draft editor's preview (catalog_form_sample), after the same check as evaluate. */
static enum err h_admin_sample(struct req *r, struct resp *w)
{
	struct catalog_snapshot *s = NULL;
	char today[11];
	json_t *data = NULL;
	bool answered = false;
	json_t *sub = json_object_get(r->json, "sub_item");
	enum err e = snapshot(r, &s);
	if (e)
		return e;
	if (!s->ref) {
		e = req_fail(r, ERR_UNAVAILABLE, NULL, "事项目录尚未导入部门和代码表");
		goto out;
	}
	if ((e = check_draft_sub(r, w, s, sub, &answered)) || answered)
		goto out;
	catalog_today(today);
	data = catalog_form_sample(s->ref, sub, today);
	if (!data) {
		e = ERR_NOMEM;
		goto out;
	}
	resp_json(w, 200, json_pack("{s:o}", "data", data));
out:
	catalog_snapshot_unref(s);
	return e;
}

/* GET /api/v1/admin/catalog/subitems/{code}/sample → {"data":{…}}: sample data for the
 * sub-item of the current published version (an old code is followed to the new one). */
static enum err h_subitem_sample(struct req *r, struct resp *w)
{
	struct catalog_snapshot *s = NULL;
	const struct catalog_entry *en;
	const char *code = req_param(r, "code"), *from;
	char today[11];
	json_t *data = NULL;
	enum err e = snapshot(r, &s);
	if (e)
		return e;
	const json_t *sub = find_sub(r, s, code, &en, &from);
	if (!sub || !s->ref) {
		e = req_fail(r, ERR_NOT_FOUND, "code", "子项 %s 不存在或尚未生效", code);
		goto out;
	}
	catalog_today(today);
	data = catalog_form_sample(s->ref, sub, today);
	if (!data) {
		e = ERR_NOMEM;
		goto out;
	}
	resp_json(w, 200, json_pack("{s:o}", "data", data));
out:
	catalog_snapshot_unref(s);
	return e;
}

/* ---- admin: items and versions -------------------------------------------------------- */

static bool contains_ci(const char *hay, const char *needle)
{
	char h[512];
	catalog_search_normalize(hay, h, sizeof(h));
	return strstr(h, needle) != NULL;
}

/* GET /api/v1/admin/catalog/items?q=&dept=&status=draft|published */
static enum err h_admin_items(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct catalog_snapshot *s = NULL;
	const char *q = req_query(r, "q"), *dept = req_query(r, "dept");
	const char *status = req_query(r, "status");
	char nq[256];
	if (status && status[0] && strcmp(status, "draft") && strcmp(status, "published"))
		return req_fail(r, ERR_BAD_FIELD, "status", "状态只能是 draft 或 published");
	catalog_search_normalize(q, nq, sizeof(nq));
	enum err e = snapshot(r, &s);
	if (e)
		return e;
	if ((e = db_acquire(r->srv->db, CATALOG_DB_WAIT_MS, &c)) ||
	    (e = catalog_store_admin_items(c, r->arena, dept && dept[0] ? dept : NULL, &rs)))
		goto out;
	json_t *arr = json_array();
	for (int i = 0; arr && i < rs->nrows; i++) {
		const char *code = db_text(rs, i, 1), *name = db_text(rs, i, 3);
		bool published = !db_is_null(rs, i, 4), draft = !db_is_null(rs, i, 5);
		if (nq[0] && !contains_ci(code, nq) && !contains_ci(name ? name : "", nq))
			continue;
		if (status && !strcmp(status, "draft") && !draft)
			continue;
		if (status && !strcmp(status, "published") && !published)
			continue;
		const char *dep = db_text(rs, i, 2);
		const char *dep_name = dep;
		size_t k;
		json_t *d;
		json_array_foreach (s->dept_list, k, d) {
			const char *id = json_string_value(json_object_get(d, "id"));
			const char *dn = json_string_value(json_object_get(d, "name"));
			if (id && dn && !strcmp(id, dep))
				dep_name = dn;
		}
		json_t *o =
		    json_pack("{s:s, s:s, s:s, s:s, s:b, s:I}", "code", code, "name",
		              name ? name : "", "department", dep, "department_name", dep_name,
		              "has_draft", draft, "updated_at", (json_int_t)db_int(rs, i, 7));
		json_object_set_new(o, "latest_version",
		                    published ? json_integer(db_int(rs, i, 4)) : json_null());
		json_object_set_new(o, "draft_rev",
		                    draft ? json_integer(db_int(rs, i, 5)) : json_null());
		json_object_set_new(o, "effective_from",
		                    str_or_null(db_is_null(rs, i, 6) ? NULL : db_text(rs, i, 6)));
		json_array_append_new(arr, o);
	}
	resp_json(w, 200,
	          json_pack("{s:o, s:I}", "items", arr, "total", (json_int_t)json_array_size(arr)));
out:
	if (c)
		db_release(c);
	catalog_snapshot_unref(s);
	return e;
}

/* Resolve {code} for admin routes (old codes go to the item). */
static enum err admin_item(struct req *r, struct db_conn *c, struct catalog_item_row *item)
{
	const char *code = req_param(r, "code");
	enum err e = catalog_store_item_resolve(c, r->arena, code, item, NULL);
	if (e == ERR_NOT_FOUND)
		return req_fail(r, e, "code", "事项 %s 不存在", code);
	return e;
}

/* GET /api/v1/admin/catalog/items/{code}/versions */
static enum err h_versions(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct catalog_item_row item;
	enum err e = db_acquire(r->srv->db, CATALOG_DB_WAIT_MS, &c);
	if (e || (e = admin_item(r, c, &item)) ||
	    (e = catalog_store_versions(c, r->arena, item.id, &rs)))
		goto out;
	json_t *arr = json_array();
	for (int i = 0; arr && i < rs->nrows; i++) {
		bool draft = !strcmp(db_text(rs, i, 1), "draft");
		json_t *o = json_pack(
		    "{s:I, s:s, s:o, s:I, s:o, s:o, s:o, s:s}", "version",
		    (json_int_t)db_int(rs, i, 0), "status", db_text(rs, i, 1), "effective_from",
		    str_or_null(db_is_null(rs, i, 2) ? NULL : db_text(rs, i, 2)), "created_at",
		    (json_int_t)db_int(rs, i, 3), "created_by",
		    str_or_null(db_is_null(rs, i, 4) ? NULL : db_text(rs, i, 4)), "published_at",
		    draft ? json_null() : json_integer(db_int(rs, i, 5)), "published_by",
		    str_or_null(db_is_null(rs, i, 6) ? NULL : db_text(rs, i, 6)), "hash",
		    db_text(rs, i, 7));
		if (o && draft)
			json_object_set_new(o, "rev", json_integer(db_int(rs, i, 8)));
		json_array_append_new(arr, o);
	}
	resp_json(w, 200, json_pack("{s:s, s:o}", "code", item.code, "versions", arr));
out:
	if (c)
		db_release(c);
	return e;
}

/* "draft" or a version number. */
static enum err version_arg(struct req *r, const char *name, const char *v, bool *draft, int *n)
{
	int64_t x = 0;
	*draft = v && !strcmp(v, "draft");
	*n = 0;
	if (*draft)
		return ERR_OK;
	if (!v || !cstr_to_i64(v, 1, 1000000, &x))
		return req_fail(r, ERR_BAD_FIELD, name, "版本应为版本号或 draft");
	*n = (int)x;
	return ERR_OK;
}

static enum err load_version(struct req *r, struct db_conn *c, int64_t item_id, bool draft, int n,
                             struct catalog_version_row *v)
{
	enum err e = catalog_store_version(c, r->arena, item_id, draft ? "draft" : NULL, n, v);
	if (e == ERR_NOT_FOUND)
		return draft ? req_fail(r, e, "version", "该事项没有草稿")
		             : req_fail(r, e, "version", "该事项没有第 %d 版", n);
	return e;
}

/* GET /api/v1/admin/catalog/items/{code}/versions/{n} */
static enum err h_version(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct catalog_item_row item;
	struct catalog_version_row v;
	bool draft;
	int n;
	enum err e = version_arg(r, "n", req_param(r, "n"), &draft, &n);
	if (e || (e = db_acquire(r->srv->db, CATALOG_DB_WAIT_MS, &c)))
		return e;
	if ((e = admin_item(r, c, &item)) || (e = load_version(r, c, item.id, draft, n, &v)))
		goto out;
	json_t *doc = json_loads(v.doc, 0, NULL);
	if (!doc) {
		e = ERR_INTEGRITY;
		goto out;
	}
	json_t *body =
	    json_pack("{s:o, s:i, s:s, s:o, s:s}", "item", doc, "version", v.version, "status",
	              v.status, "effective_from", str_or_null(v.effective_from), "hash", v.hash);
	if (body && draft)
		json_object_set_new(body, "rev", json_integer(v.rev));
	resp_json(w, 200, body);
out:
	db_release(c);
	return e;
}

/* GET /api/v1/admin/catalog/items/{code}/diff?from=N&to=M|draft */
static enum err h_diff(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct catalog_item_row item;
	struct catalog_version_row va, vb;
	const char *qf = req_query(r, "from"), *qt = req_query(r, "to");
	bool fdraft = false, tdraft = false;
	int fn = 0, tn = 0;
	json_t *a = NULL, *b = NULL;
	enum err e = db_acquire(r->srv->db, CATALOG_DB_WAIT_MS, &c);
	if (e || (e = admin_item(r, c, &item)))
		goto out;
	/* Defaults: the draft (else the latest version) against what it was made from. */
	if (qt && qt[0]) {
		if ((e = version_arg(r, "to", qt, &tdraft, &tn)))
			goto out;
	} else {
		e = catalog_store_version(c, r->arena, item.id, "draft", 0, &vb);
		tdraft = e == ERR_OK;
		if (e == ERR_NOT_FOUND &&
		    (e = catalog_store_max_version(c, r->arena, item.id, false, &tn)))
			goto out;
	}
	if ((e = load_version(r, c, item.id, tdraft, tn, &vb)))
		goto out;
	if (qf && qf[0]) {
		if ((e = version_arg(r, "from", qf, &fdraft, &fn)))
			goto out;
	} else {
		fn = tdraft ? vb.base_version : vb.version - 1;
		if (fn < 1) {
			e = req_fail(r, ERR_BAD_FIELD, "from", "请指定比较的起始版本（from）");
			goto out;
		}
	}
	if ((e = load_version(r, c, item.id, fdraft, fn, &va)))
		goto out;
	a = json_loads(va.doc, 0, NULL);
	b = json_loads(vb.doc, 0, NULL);
	json_t *changes = a && b ? catalog_doc_diff(a, b) : NULL;
	if (!changes) {
		e = ERR_NOMEM;
		goto out;
	}
	resp_json(w, 200,
	          json_pack("{s:o, s:o, s:o}", "from",
	                    fdraft ? json_string("draft") : json_integer(va.version), "to",
	                    tdraft ? json_string("draft") : json_integer(vb.version), "changes",
	                    changes));
out:
	if (c)
		db_release(c);
	json_decref(a);
	json_decref(b);
	return e;
}

/* ---- admin: drafts, new items, publication -------------------------------------------- */

static json_t *draft_body(const struct catalog_draft *d)
{
	return json_pack("{s:O, s:I, s:i, s:i, s:O}", "item", d->doc, "rev", (json_int_t)d->rev,
	                 "version", d->version, "base_version", d->base_version, "problems",
	                 d->problems);
}

/* POST (create or return) and GET …/items/{code}/draft */
static enum err draft_open(struct req *r, struct resp *w, bool create)
{
	struct catalog_draft d;
	struct errinfo ei = {0};
	struct catalog_actor who = catalog_actor_of(r);
	bool created = false;
	enum err e = catalog_draft_open(r->srv, r->arena, req_param(r, "code"), create, &who, &d,
	                                &created, &ei);
	if (e)
		return fail_ei(r, e, &ei);
	resp_json(w, created ? 201 : 200, draft_body(&d));
	return ERR_OK;
}

static enum err h_draft_post(struct req *r, struct resp *w)
{
	return draft_open(r, w, true);
}

static enum err h_draft_get(struct req *r, struct resp *w)
{
	return draft_open(r, w, false);
}

/* PUT …/items/{code}/draft {"item":{…},"rev":N} */
static enum err h_draft_put(struct req *r, struct resp *w)
{
	struct catalog_draft d;
	struct errinfo ei = {0};
	struct catalog_actor who = catalog_actor_of(r);
	json_t *doc = json_object_get(r->json, "item");
	int64_t rev = json_integer_value(json_object_get(r->json, "rev"));
	enum err e =
	    catalog_draft_save(r->srv, r->arena, req_param(r, "code"), doc, rev, &who, &d, &ei);
	if (e)
		return fail_ei(r, e, &ei);
	resp_json(w, 200,
	          json_pack("{s:I, s:O, s:i}", "rev", (json_int_t)d.rev, "problems", d.problems,
	                    "version", d.version));
	return ERR_OK;
}

/* DELETE …/items/{code}/draft */
static enum err h_draft_delete(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	struct catalog_actor who = catalog_actor_of(r);
	enum err e = catalog_draft_discard(r->srv, r->arena, req_param(r, "code"), &who, &ei);
	if (e)
		return fail_ei(r, e, &ei);
	resp_json(w, 200, json_pack("{s:b}", "discarded", 1));
	return ERR_OK;
}

/* POST /api/v1/admin/catalog/items {"item":{…}}: a new item, first version as a draft. */
static enum err h_item_create(struct req *r, struct resp *w)
{
	struct catalog_draft d;
	struct errinfo ei = {0};
	struct catalog_actor who = catalog_actor_of(r);
	enum err e =
	    catalog_item_create(r->srv, r->arena, json_object_get(r->json, "item"), &who, &d, &ei);
	if (e)
		return fail_ei(r, e, &ei);
	resp_json(w, 201, draft_body(&d));
	return ERR_OK;
}

/* POST …/items/{code}/publish {"rev":N,"effective_from":"YYYY-MM-DD"} */
static enum err h_publish(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	struct catalog_actor who = catalog_actor_of(r);
	json_t *problems = NULL;
	int version = 0;
	char today[11];
	const char *eff = json_get_str(r->json, "effective_from");
	int64_t rev = json_integer_value(json_object_get(r->json, "rev"));
	enum err e = catalog_publish(r->srv, r->arena, req_param(r, "code"), rev, eff, &who,
	                             &version, &problems, &ei);
	if (e == ERR_INVALID)
		return fail_problems(r, w, ei.msg, problems);
	if (e)
		return fail_ei(r, e, &ei);
	catalog_today(today);
	resp_json(w, 200,
	          json_pack("{s:i, s:s}", "version", version, "effective_from",
	                    eff && eff[0] ? eff : today));
	return ERR_OK;
}

/* ---- admin: code changes and pins ----------------------------------------------------- */

static enum err count_open_pins(struct db_conn *c, struct arena *a, int64_t item_id,
                                const char *old_code, int64_t *n)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT count(*) FROM catalog_pins WHERE item_id = ? AND item_code = ?"
	                     " AND state = 'open'",
	                     "is", item_id, old_code);
	if (!e)
		*n = db_int(rs, 0, 0);
	return e;
}

/* GET /api/v1/admin/catalog/code-changes */
static enum err h_changes(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_acquire(r->srv->db, CATALOG_DB_WAIT_MS, &c);
	if (e || (e = catalog_store_changes(c, r->arena, &rs)))
		goto out;
	json_t *arr = json_array();
	for (int i = 0; arr && i < rs->nrows; i++) {
		int64_t n = 0;
		if ((e = count_open_pins(c, r->arena, db_int(rs, i, 9), db_text(rs, i, 1), &n))) {
			json_decref(arr);
			goto out;
		}
		json_t *o = catalog_change_json(rs, i);
		json_object_set_new(o, "in_flight", json_integer(n));
		json_array_append_new(arr, o);
	}
	resp_json(w, 200, json_pack("{s:o}", "code_changes", arr));
out:
	if (c)
		db_release(c);
	return e;
}

/* POST /api/v1/admin/catalog/code-changes {"old","new","effective","reason"} */
static enum err h_change_add(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	struct catalog_actor who = catalog_actor_of(r);
	json_t *ch = NULL;
	enum err e = catalog_code_change_add(
	    r->srv, r->arena, json_get_str(r->json, "old"), json_get_str(r->json, "new"),
	    json_get_str(r->json, "effective"), json_get_str(r->json, "reason"), &who, &ch, &ei);
	if (e)
		return fail_ei(r, e, &ei);
	resp_json(w, 201, json_pack("{s:O}", "code_change", ch));
	return ERR_OK;
}

/* GET /api/v1/admin/catalog/code-changes/{id}/affected: in-flight cases pinned under the old
 * code, with the code they are reported under. */
static enum err h_change_affected(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *ch = NULL, *rs = NULL;
	int64_t id = 0;
	const char *sid = req_param(r, "id");
	if (!sid || !cstr_to_i64(sid, 1, INT64_MAX, &id))
		return req_fail(r, ERR_NOT_FOUND, "id", "编码变更不存在");
	enum err e = db_acquire(r->srv->db, CATALOG_DB_WAIT_MS, &c);
	if (e || (e = catalog_store_change(c, r->arena, id, &ch)))
		goto out;
	if (ch->nrows != 1) {
		e = req_fail(r, ERR_NOT_FOUND, "id", "编码变更不存在");
		goto out;
	}
	const char *old = db_text(ch, 0, 1), *new = db_text(ch, 0, 2);
	if ((e = catalog_store_pins_affected(c, r->arena, db_int(ch, 0, 9), old, &rs)))
		goto out;
	json_t *arr = json_array();
	for (int i = 0; arr && i < rs->nrows; i++) {
		const char *sub = db_text(rs, i, 1);
		const char *mapped =
		    strlen(sub) > 12 ? arena_printf(r->arena, "%s%s", new, sub + 12) : new;
		json_array_append_new(
		    arr, json_pack("{s:s, s:s, s:I, s:I, s:s}", "case_ref", db_text(rs, i, 0),
		                   "sub_item", sub, "version", (json_int_t)db_int(rs, i, 2),
		                   "opened_at", (json_int_t)db_int(rs, i, 3), "new_code", mapped));
	}
	resp_json(w, 200,
	          json_pack("{s:o, s:o}", "code_change", catalog_change_json(ch, 0), "pins", arr));
out:
	if (c)
		db_release(c);
	return e;
}

/* POST /api/v1/admin/catalog/pins {"case_ref","sub_item"}: register an in-flight case (tests,
 * the data migration tool). */
static enum err h_pin(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct catalog_actor who = catalog_actor_of(r);
	const char *case_ref = json_get_str(r->json, "case_ref");
	const char *sub = json_get_str(r->json, "sub_item");
	int64_t vid = 0;
	enum err e = db_acquire(r->srv->db, CATALOG_DB_WAIT_MS, &c);
	if (e || (e = db_begin_write(c)))
		goto out;
	e = catalog_pin(r->srv, c, r->arena, case_ref, sub, r->who->org_id, &vid);
	if (e == ERR_NOT_FOUND) {
		e = req_fail(r, e, "sub_item", "子项 %s 不存在或尚未生效", sub);
		goto out;
	}
	if (e == ERR_EXISTS) {
		e = req_fail(r, e, "case_ref", "办件 %s 已固定了子项 %s 的版本", case_ref, sub);
		goto out;
	}
	if (e ||
	    (e = db_exec(c, r->arena, &rs,
	                 "SELECT p.sub_item_code, p.item_code, v.version FROM catalog_pins p"
	                 " JOIN catalog_versions v ON v.id = p.version_id"
	                 " WHERE p.case_ref = ? AND p.version_id = ? ORDER BY p.id DESC LIMIT 1",
	                 "si", case_ref, vid)) ||
	    (e = catalog_audit(c, r->arena, &who, "catalog.pin",
	                       arena_printf(r->arena, "case:%s", case_ref),
	                       arena_printf(r->arena, "{\"sub_item\":\"%s\",\"version\":%lld}",
	                                    db_text(rs, 0, 0), (long long)db_int(rs, 0, 2)))) ||
	    (e = db_commit(c)))
		goto out;
	resp_json(w, 201,
	          json_pack("{s:{s:s, s:s, s:s, s:I, s:I}}", "pin", "case_ref", case_ref,
	                    "sub_item", db_text(rs, 0, 0), "item_code", db_text(rs, 0, 1),
	                    "version", (json_int_t)db_int(rs, 0, 2), "version_id",
	                    (json_int_t)vid));
out:
	if (c)
		db_release(c);
	return e;
}

/* DELETE /api/v1/admin/catalog/pins/{case_ref}: the case ended. */
static enum err h_unpin(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct catalog_actor who = catalog_actor_of(r);
	const char *case_ref = req_param(r, "case_ref");
	enum err e = db_acquire(r->srv->db, CATALOG_DB_WAIT_MS, &c);
	if (e || (e = db_begin_write(c)) || (e = catalog_unpin(r->srv, c, r->arena, case_ref)) ||
	    (e = catalog_audit(c, r->arena, &who, "catalog.unpin",
	                       arena_printf(r->arena, "case:%s", case_ref), NULL)) ||
	    (e = db_commit(c)))
		goto out;
	resp_json(w, 200, json_pack("{s:b}", "closed", 1));
out:
	if (c)
		db_release(c);
	return e;
}

/* ---- admin: import and export --------------------------------------------------------- */

/* GET /api/v1/admin/catalog/export */
static enum err h_export(struct req *r, struct resp *w)
{
	json_t *bundle = NULL;
	enum err e = catalog_export_bundle(r->srv, r->arena, &bundle);
	if (e)
		return e;
	size_t n = json_array_size(json_object_get(bundle, "items"));
	resp_json(w, 200, bundle);
	audit_record(r->srv, r, "catalog.export", "catalog",
	             arena_printf(r->arena, "{\"items\":%zu}", n));
	return ERR_OK;
}

/* POST /api/v1/admin/catalog/import (the export's bundle; all or nothing) */
static enum err h_import(struct req *r, struct resp *w)
{
	struct catalog_problems pr;
	struct catalog_import_result res;
	struct catalog_actor who = catalog_actor_of(r);
	json_t *bundle = NULL;
	const char *ct = req_header(r, "Content-Type");
	struct str ctype;
	if (ct)
		str_cut(str_from(ct), ';', &ctype);
	if (!ct || !str_case_eq(str_trim(ctype), "application/json"))
		return req_fail(r, ERR_UNSUPPORTED_MEDIA, NULL,
		                "请求体的内容类型应为 application/json");
	if (!r->body || !r->body_len)
		return req_fail(r, ERR_BAD_JSON, NULL, "请求体不能为空，应为导出的目录 JSON");
	enum err e = json_parse(r->body, r->body_len, &bundle, r->arena, &r->err);
	if (e)
		return e;
	json_arena_own(r->arena, bundle);
	catalog_problems_init(&pr, r->arena);
	e = catalog_import_bundle(r->srv, bundle, &who, &res, &pr);
	json_t *problems = json_arena_own(r->arena, catalog_problems_json(&pr, true));
	if (e == ERR_INVALID) {
		e = fail_problems(
		    r, w,
		    arena_printf(r->arena, "导入内容有 %zu 个问题，未导入任何数据", pr.errors),
		    problems);
	} else if (!e) {
		resp_json(w, 200,
		          json_pack("{s:i, s:i, s:i, s:O}", "created", res.created, "unchanged",
		                    res.unchanged, "code_changes", res.code_changes, "problems",
		                    problems));
	}
	catalog_problems_release(&pr);
	return e;
}

/* ---- route table ---------------------------------------------------------------------- */

/* No members: an empty body or {} (what a browser's fetch wrapper sends). */
static const struct json_field empty_body[] = {
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field evaluate_body[] = {
    {"data", JF_OBJECT, JF_REQUIRED, 0, 0, "表单数据"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field admin_evaluate_body[] = {
    {"sub_item", JF_OBJECT, JF_REQUIRED, 0, 0, "情形"},
    {"data", JF_OBJECT, JF_REQUIRED, 0, 0, "表单数据"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field admin_sample_body[] = {
    {"sub_item", JF_OBJECT, JF_REQUIRED, 0, 0, "情形"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field item_body[] = {
    {"item", JF_OBJECT, JF_REQUIRED, 0, 0, "事项"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field draft_body_schema[] = {
    {"item", JF_OBJECT, JF_REQUIRED, 0, 0, "事项"},
    {"rev", JF_INT, JF_REQUIRED, 1, INT64_MAX, "修订号"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field publish_body[] = {
    {"rev", JF_INT, JF_REQUIRED, 1, INT64_MAX, "修订号"},
    {"effective_from", JF_STRING, JF_NULLABLE, 0, 10, "生效日期"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field change_body[] = {
    {"old", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, CATALOG_CODE_MAX, "原编码"},
    {"new", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, CATALOG_CODE_MAX, "新编码"},
    {"effective", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 10, "生效日期"},
    {"reason", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, CATALOG_REASON_MAX, "变更原因"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field pin_body[] = {
    {"case_ref", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 100, "办件编号"},
    {"sub_item", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, CATALOG_CODE_MAX, "子项编码"},
    {NULL, 0, 0, 0, 0, NULL},
};

#define EDIT    "catalog.edit"
#define PUBLISH "catalog.publish"
#define ITEM    "/api/v1/admin/catalog/items/{code}"

static const struct route catalog_routes[] = {
    {"GET", "/api/v1/catalog/items", h_items, NULL, 0, NULL},
    {"GET", "/api/v1/catalog/summary", h_summary, NULL, 0, NULL},
    {"GET", "/api/v1/catalog/departments", h_departments, NULL, 0, NULL},
    {"GET", "/api/v1/catalog/items/{code}", h_item, NULL, 0, NULL},
    {"GET", "/api/v1/catalog/subitems/{code}", h_subitem, NULL, 0, NULL},
    {"GET", "/api/v1/catalog/code-tables/{id}", h_code_table, NULL, 0, NULL},
    {"POST", "/api/v1/catalog/subitems/{code}/evaluate", h_evaluate, NULL, 0, evaluate_body},
    {"POST", "/api/v1/admin/catalog/evaluate", h_admin_evaluate, EDIT, 0, admin_evaluate_body},
    {"POST", "/api/v1/admin/catalog/sample", h_admin_sample, EDIT, 0, admin_sample_body},
    {"GET", "/api/v1/admin/catalog/subitems/{code}/sample", h_subitem_sample, EDIT, 0, NULL},
    {"GET", "/api/v1/admin/catalog/items", h_admin_items, EDIT, 0, NULL},
    {"POST", "/api/v1/admin/catalog/items", h_item_create, EDIT, 0, item_body},
    {"GET", ITEM "/versions", h_versions, EDIT, 0, NULL},
    {"GET", ITEM "/versions/{n}", h_version, EDIT, 0, NULL},
    {"GET", ITEM "/diff", h_diff, EDIT, 0, NULL},
    {"POST", ITEM "/draft", h_draft_post, EDIT, 0, empty_body},
    {"GET", ITEM "/draft", h_draft_get, EDIT, 0, NULL},
    {"PUT", ITEM "/draft", h_draft_put, EDIT, 0, draft_body_schema},
    {"DELETE", ITEM "/draft", h_draft_delete, EDIT, 0, NULL},
    {"POST", ITEM "/publish", h_publish, PUBLISH, 0, publish_body},
    {"GET", "/api/v1/admin/catalog/code-changes", h_changes, EDIT, 0, NULL},
    {"POST", "/api/v1/admin/catalog/code-changes", h_change_add, PUBLISH, 0, change_body},
    {"GET", "/api/v1/admin/catalog/code-changes/{id}/affected", h_change_affected, EDIT, 0, NULL},
    {"POST", "/api/v1/admin/catalog/pins", h_pin, EDIT, 0, pin_body},
    {"DELETE", "/api/v1/admin/catalog/pins/{case_ref}", h_unpin, EDIT, 0, NULL},
    {"GET", "/api/v1/admin/catalog/export", h_export, EDIT, ROUTE_SLOW, NULL},
    {"POST", "/api/v1/admin/catalog/import", h_import, PUBLISH, ROUTE_RAW | ROUTE_SLOW, NULL},
};

const struct module catalog_module = {
    .name = "catalog",
    .init = catalog_module_init,
    .release = catalog_module_release,
    .routes = catalog_routes,
    .nroutes = sizeof(catalog_routes) / sizeof(catalog_routes[0]),
};
