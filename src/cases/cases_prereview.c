/* cases_prereview.c: 预审 — every prereview rule of the pinned sub-item with its verdict.
 *
 * catalog_form_evaluate lists failed prereview rules only; the clerk (and accept) need every
 * rule's outcome, and one more: `unknown`, for a rule that reads a field whose prefill from a
 * department lookup or an e-certificate failed (row->prefill_errors). So this file runs the
 * rules itself with the public expression API, on the same working copy the form engine
 * uses: catalog_form_evaluate gives the visible paths, the computed values and the
 * violations, from which the copy is rebuilt (hidden fields dropped, computed values set)
 * and the fields with a violation are known. The rule semantics are the engine's
 * (docs/catalog.md "RULE"): skipped when its field is hidden, when its `when` is false, or
 * when it reads a field with a violation; a group rule that reads `row` runs once per row.
 *
 * Order of the checks for one rule (one row of a per-row rule):
 *   1. its field hidden                                  → skipped
 *   2. `when` false: if `when` reads an unverified field → unknown, else skipped
 *   3. `when` or `assert` reads an unverified field      → unknown
 *   4. reads a field that has a form violation           → skipped
 *   5. `assert` true → pass; false (or a type error)     → the rule's severity (warn/block)
 * Unverified fields: the fields of every lookup / e_cert entry of row->prefill_errors, and
 * computed fields made from them. A per-row rule gives one verdict, the worst of its rows
 * (block > warn > unknown > pass > skipped), naming the first row with that verdict. */
#include <string.h>

#include "cases/cases_int.h"
#include "catalog/catalog.h"
#include "core/json.h"
#include "core/log.h"

#define MAX_ROWS 1000 /* rows of a group the form engine looks at */

enum verdict { V_SKIPPED, V_PASS, V_UNKNOWN, V_WARN, V_BLOCK };

static const char *const verdict_names[] = {"skipped", "pass", "unknown", "warn", "block"};

struct pctx {
	struct arena a;
	const char *today;
	json_t *work;       /* the form as the rules see it */
	json_t *hidden;     /* path → true: declared fields that are not visible now */
	json_t *bad;        /* path → true: paths with a form violation */
	json_t *unverified; /* field id → zh-CN message of the failed prefill */
	const json_t *fields;
};

/* ---- paths in the working copy ---- */

/* ---- the working copy ---- */

static bool listed(const json_t *list, const char *path)
{
	size_t i;
	json_t *v;
	json_array_foreach (list, i, v) {
		if (json_is_string(v) && !strcmp(json_string_value(v), path))
			return true;
	}
	return false;
}

/* Drop what the form engine hid and record it in c->hidden. */
static void apply_visibility(struct pctx *c, const json_t *visible)
{
	size_t i;
	json_t *f;
	json_array_foreach (c->fields, i, f) {
		const char *id = json_get_str(f, "id");
		if (!id)
			continue;
		if (!listed(visible, id)) {
			json_object_set_new(c->hidden, id, json_true());
			json_path_del(c->work, id);
			continue;
		}
		const char *type = json_get_str(f, "type");
		if (!type || strcmp(type, "group"))
			continue;
		json_t *rows = json_path_get(c->work, id);
		size_t r;
		json_t *row;
		json_array_foreach (rows, r, row) {
			if (!json_is_object(row) || r >= MAX_ROWS)
				continue;
			size_t j;
			json_t *s;
			json_array_foreach (json_object_get(f, "fields"), j, s) {
				const char *sid = json_get_str(s, "id");
				char path[400];
				if (!sid)
					continue;
				snprintf(path, sizeof(path), "%s[%zu].%s", id, r, sid);
				if (!listed(visible, path)) {
					json_object_set_new(c->hidden, path, json_true());
					json_path_del(row, sid);
				}
			}
		}
	}
}

/* Put the computed values ("a.b" or "g[3].x") into the working copy. */
static void apply_computed(struct pctx *c, const json_t *computed)
{
	const char *path;
	json_t *v;
	json_object_foreach ((json_t *)computed, path, v) {
		const char *br = strchr(path, '[');
		if (!br) {
			json_path_set_new(c->work, path, json_incref(v));
			continue;
		}
		char gid[260];
		size_t n = (size_t)(br - path);
		char *end = NULL;
		unsigned long r = strtoul(br + 1, &end, 10);
		if (n >= sizeof(gid) || !end || strncmp(end, "].", 2))
			continue;
		memcpy(gid, path, n);
		gid[n] = 0;
		json_t *row = json_array_get(json_path_get(c->work, gid), r);
		if (json_is_object(row))
			json_path_set_new(row, end + 2, json_incref(v));
	}
}

/* ---- what a rule reads ---- */

struct refscan {
	struct pctx *c;
	const json_t *set;      /* bad or unverified */
	const char *row_prefix; /* "members[1]" for a per-row run, else NULL */
	const char *group;      /* the group id of the rule, else NULL */
	const char *hit;        /* the first matching key */
};

/* Is path, or something inside it (a member, a row), in set? Returns the key. */
static const char *in_set(const json_t *set, const char *path)
{
	/* The key as the set stores it: path itself is the caller's scratch buffer. */
	void *it = json_object_iter_at((json_t *)set, path);
	if (it)
		return json_object_iter_key(it);
	size_t n = strlen(path);
	const char *k;
	json_t *v;
	json_object_foreach ((json_t *)set, k, v) {
		if (!strncmp(k, path, n) && (k[n] == '.' || k[n] == '['))
			return k;
	}
	return NULL;
}

/* Is path a declared field: a top-level field id, or a group's row field written as a cell
 * ("members[1].age") or as "members.age"? */
static bool is_field_path(const struct pctx *c, const char *path)
{
	char norm[400];
	size_t o = 0;
	for (const char *p = path; *p && o + 1 < sizeof(norm); p++) {
		if (*p == '[') { /* drop a row index */
			while (*p && *p != ']')
				p++;
			if (!*p)
				break;
			continue;
		}
		norm[o++] = *p;
	}
	norm[o] = 0;
	size_t i, j;
	json_t *f, *sub;
	json_array_foreach (c->fields, i, f) {
		const char *id = json_get_str(f, "id");
		if (!id)
			continue;
		if (!strcmp(id, norm))
			return true;
		size_t n = strlen(id);
		if (strncmp(norm, id, n) || norm[n] != '.')
			continue;
		json_array_foreach (json_object_get(f, "fields"), j, sub) {
			const char *sid = json_get_str(sub, "id");
			if (sid && !strcmp(sid, norm + n + 1))
				return true;
		}
	}
	return false;
}

static void scan_ref(void *ctx, const char *ref)
{
	struct refscan *s = ctx;
	char path[400];
	if (s->hit)
		return;
	if (!strncmp(ref, "row.", 4)) {
		if (s->row_prefix)
			snprintf(path, sizeof(path), "%s.%s", s->row_prefix, ref + 4);
		else if (s->group)
			snprintf(path, sizeof(path), "%s.%s", s->group, ref + 4);
		else
			return;
	} else if (!strcmp(ref, "row")) {
		if (!s->row_prefix)
			return;
		snprintf(path, sizeof(path), "%s", s->row_prefix);
	} else if (!strcmp(ref, "rows")) {
		if (!s->group)
			return;
		snprintf(path, sizeof(path), "%s", s->group);
	} else {
		snprintf(path, sizeof(path), "%s", ref);
	}
	/* applicant.id_number.number → the field applicant.id_number; never further up than the
	 * field (applicant.id_number must not become applicant, which would match a problem
	 * of its sibling applicant.phone). */
	for (;;) {
		const char *k = in_set(s->set, path);
		if (k) {
			s->hit = k;
			return;
		}
		if (is_field_path(s->c, path))
			return;
		char *dot = strrchr(path, '.');
		if (!dot)
			return;
		*dot = 0;
	}
}

static const char *reads(struct pctx *c, const struct catalog_expr *e, const json_t *set,
                         const char *row_prefix, const char *group)
{
	if (!e)
		return NULL;
	struct refscan s = {c, set, row_prefix, group, NULL};
	catalog_expr_refs(e, scan_ref, &s);
	return s.hit;
}

static const struct catalog_expr *parse(struct pctx *c, const json_t *obj, const char *key)
{
	const char *src = json_get_str(obj, key);
	struct catalog_expr *e = NULL;
	const char *msg;
	if (src && catalog_expr_parse(src, &c->a, &e, &msg)) {
		log_warn("cases.prereview_bad_expr", "unchecked sub-item: %s: %s", src, msg);
		return NULL;
	}
	return e;
}

/* Computed fields made from an unverified (or bad) field are no better than it. */
static void taint_computed(struct pctx *c)
{
	size_t i;
	json_t *f;
	json_array_foreach (c->fields, i, f) {
		const char *id = json_get_str(f, "id");
		const struct catalog_expr *e = parse(c, f, "compute");
		const char *hit;
		if (!id || !e)
			continue;
		if ((hit = reads(c, e, c->unverified, NULL, NULL)))
			json_object_set(c->unverified, id, json_object_get(c->unverified, hit));
		if (reads(c, e, c->bad, NULL, NULL))
			json_object_set_new(c->bad, id, json_true());
	}
}

/* ---- one rule ---- */

struct outcome {
	enum verdict v;
	const char *field;   /* the cell or field the verdict names */
	const char *message; /* for unknown and skipped: why */
};

static const char *fail_message(struct pctx *c, const char *hit)
{
	const char *m = json_string_value(json_object_get(c->unverified, hit));
	return m ? m : "无法核验：预填数据获取失败";
}

static void run_one(struct pctx *c, const struct catalog_expr *when, const struct catalog_expr *as,
                    const json_t *row, const json_t *rows, const char *prefix, const char *group,
                    struct outcome *o)
{
	const char *hit;
	if (when) {
		json_t *w = catalog_expr_eval_rows(when, c->work, row, rows, c->today);
		bool go = catalog_expr_truthy(w);
		json_decref(w);
		if (!go) {
			if ((hit = reads(c, when, c->unverified, prefix, group))) {
				o->v = V_UNKNOWN;
				o->message = fail_message(c, hit);
			} else {
				o->v = V_SKIPPED;
				o->message = "不适用（条件不满足）";
			}
			return;
		}
	}
	if ((hit = reads(c, as, c->unverified, prefix, group)) ||
	    (hit = reads(c, when, c->unverified, prefix, group))) {
		o->v = V_UNKNOWN;
		o->message = fail_message(c, hit);
		return;
	}
	if (reads(c, as, c->bad, prefix, group) || reads(c, when, c->bad, prefix, group)) {
		o->v = V_SKIPPED;
		o->message = "相关字段填写有误，改正后再核验";
		return;
	}
	json_t *v = catalog_expr_eval_rows(as, c->work, row, rows, c->today);
	bool ok = catalog_expr_truthy(v);
	json_decref(v);
	o->v = ok ? V_PASS : V_WARN; /* the caller turns V_WARN into the rule's severity */
	o->message = NULL;
}

/* The group a rule belongs to (its field is the group or a row field of it), or NULL. */
static const json_t *group_of(const struct pctx *c, const char *field)
{
	size_t i;
	json_t *f;
	if (!field)
		return NULL;
	json_array_foreach (c->fields, i, f) {
		const char *id = json_get_str(f, "id");
		const char *type = json_get_str(f, "type");
		if (!id || !type || strcmp(type, "group"))
			continue;
		size_t n = strlen(id);
		if (!strcmp(field, id) || (!strncmp(field, id, n) && field[n] == '.'))
			return f;
	}
	return NULL;
}

static json_t *verdict_json(const json_t *r, enum verdict v, bool block, const char *field,
                            const char *why, json_t *rows)
{
	const char *id = json_get_str(r, "id");
	const char *msg = json_get_str(r, "message");
	if (v == V_WARN && block)
		v = V_BLOCK;
	if (v == V_UNKNOWN || v == V_SKIPPED)
		msg = why;
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id ? id : "", "severity",
	                      block ? "block" : "warn", "verdict", verdict_names[v], "message",
	                      msg ? msg : "预审未通过", "field", field ? field : "");
	if (o && rows)
		json_object_set(o, "rows", rows);
	return o;
}

static json_t *run_rule(struct pctx *c, const json_t *r)
{
	const char *field = json_get_str(r, "field");
	const char *sev = json_get_str(r, "severity");
	bool block = !sev || strcmp(sev, "warn");
	const struct catalog_expr *when = parse(c, r, "when"), *as = parse(c, r, "assert");
	if (!as)
		return verdict_json(r, V_SKIPPED, block, field, "规则无法解析，未核验", NULL);
	if (field && json_object_get(c->hidden, field))
		return verdict_json(r, V_SKIPPED, block, field, "不适用（相关字段未显示）", NULL);
	const json_t *g = group_of(c, field);
	const char *gid = g ? json_get_str(g, "id") : NULL;
	const json_t *rows = gid ? json_path_get(c->work, gid) : NULL;
	bool per_row = g && (catalog_expr_uses_row(as) || (when && catalog_expr_uses_row(when)));
	if (!per_row) {
		struct outcome o = {V_SKIPPED, field, NULL};
		run_one(c, when, as, NULL, rows, NULL, gid, &o);
		return verdict_json(r, o.v, block, field, o.message, NULL);
	}
	/* once per row; the worst row speaks for the rule */
	struct outcome worst = {V_SKIPPED, field, "不适用（没有需要核验的行）"};
	json_t *failed = json_array();
	size_t n = json_array_size(rows);
	for (size_t i = 0; i < n && i < MAX_ROWS; i++) {
		const json_t *row = json_array_get(rows, i);
		char rp[300], fp[400];
		if (!json_is_object(row))
			continue;
		snprintf(rp, sizeof(rp), "%s[%zu]", gid, i);
		if (strcmp(field, gid))
			snprintf(fp, sizeof(fp), "%s.%s", rp, field + strlen(gid) + 1);
		else
			snprintf(fp, sizeof(fp), "%s", rp);
		if (json_object_get(c->hidden, fp))
			continue;
		struct outcome o = {V_SKIPPED, NULL, NULL};
		run_one(c, when, as, row, rows, rp, gid, &o);
		if (o.v == V_WARN && failed)
			json_array_append_new(failed, json_integer((json_int_t)i));
		if (o.v > worst.v) {
			worst = o;
			worst.field = arena_strdup(&c->a, fp);
		}
	}
	json_t *out = verdict_json(r, worst.v, block, worst.field, worst.message,
	                           worst.v == V_WARN ? failed : NULL);
	json_decref(failed);
	return out;
}

/* ---- entry ---- */

/* Unverified fields from the failed lookups / e-certificates of the last prefill. */
static void collect_unverified(struct pctx *c, const json_t *errors)
{
	size_t i;
	json_t *e;
	json_array_foreach (errors, i, e) {
		const char *src = json_get_str(e, "source");
		if (!src || (strcmp(src, "lookup") && strcmp(src, "e_cert")))
			continue;
		const char *label = json_get_str(e, "label");
		const char *reason = json_get_str(e, "reason");
		const char *msg;
		if (reason && !strcmp(reason, "value"))
			msg = arena_printf(&c->a, "无法核验：%s返回的数据无法识别",
			                   label ? label : "外部系统");
		else
			msg =
			    arena_printf(&c->a, "无法核验：%s暂不可用", label ? label : "外部系统");
		size_t j;
		json_t *f;
		json_array_foreach (json_object_get(e, "fields"), j, f) {
			if (json_is_string(f))
				json_object_set_new(c->unverified, json_string_value(f),
				                    json_string(msg ? msg : "无法核验"));
		}
	}
}

enum err cases_prereview_eval(const struct case_catalog *cc, const struct case_row *row,
                              const char *today, json_t **verdicts, bool *blocked)
{
	struct catalog_form_result res;
	struct pctx c = {.today = today};
	json_t *list = NULL;
	enum err e;
	*verdicts = NULL;
	*blocked = false;
	arena_init(&c.a, 0);
	e = catalog_form_evaluate(cc->ref, cc->sub_item, row->form, today, &res);
	if (e)
		goto out;
	c.fields = json_object_get(json_object_get(cc->sub_item, "form"), "fields");
	c.work = json_is_object(row->form) ? json_deep_copy(row->form) : json_object();
	c.hidden = json_object();
	c.bad = json_object();
	c.unverified = json_object();
	list = json_array();
	if (!c.work || !c.hidden || !c.bad || !c.unverified || !list) {
		e = ERR_NOMEM;
		goto out;
	}
	apply_visibility(&c, res.visible);
	apply_computed(&c, res.computed);
	size_t i;
	json_t *v;
	json_array_foreach (res.violations, i, v) {
		const char *f = json_get_str(v, "field");
		if (f && *f)
			json_object_set_new(c.bad, f, json_true());
	}
	collect_unverified(&c, row->prefill_errors);
	taint_computed(&c);
	json_t *r;
	json_array_foreach (json_object_get(cc->sub_item, "prereview"), i, r) {
		json_t *x = run_rule(&c, r);
		if (!x || json_array_append_new(list, x)) {
			e = ERR_NOMEM;
			goto out;
		}
		const char *vd = json_get_str(x, "verdict");
		if (vd && !strcmp(vd, "block"))
			*blocked = true;
	}
	*verdicts = list;
	list = NULL;
out:
	catalog_form_result_release(&res);
	json_decref(list);
	json_decref(c.work);
	json_decref(c.hidden);
	json_decref(c.bad);
	json_decref(c.unverified);
	arena_release(&c.a);
	return e;
}
