/* cases_materials.c: the materials of a case (docs/cases.md "Materials") — the slots of the
 * pinned sub-item's material list, the files attached to them (scans, uploads, kiosk photos,
 * e-certificates pulled from the big-data centre), verification verdicts, completeness, and
 * the routes.
 *
 * Rules kept here:
 *  - Materials change only while the case is a draft or awaits correction; the state is
 *    checked inside the write transaction that makes the change (ERR_BAD_STATE otherwise).
 *  - A change is one write unit (db_write_unit, group commit): the file's row and
 *    reference, the case_materials row, and the audit entry. The file's blob is made durable
 *    before it, with no transaction (files_prepare: hashing, encrypting and fsyncing a 20 MiB
 *    scan must not hold the write lock every other clerk's writes wait for). The case's
 *    version is not bumped: a clerk editing the form while another scans a material must not
 *    conflict.
 *  - Flows (e-certificate, verification) run with no transaction and no connection held;
 *    the result is stored in a short write unit afterwards that re-checks the state.
 *  - A case outside the caller's scope is 404, whatever the route. */
#include "cases/cases_int.h"

#include <string.h>

#include "audit/audit.h"
#include "catalog/catalog.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "files/files.h"
#include "gateway/gateway.h"
#include "http/http.h"
#include "server/server.h"

#define DB_WAIT_MS       5000
#define SLOT_MAX_ENTRIES 20 /* files per material slot */
#define TITLE_MAX_CHARS  100
#define ECERT_FLOW       "dsj.ecert_query"
#define VERIFY_FLOW      "dsj.material_verify"
#define ENTRY_COLS                                                                                 \
	"m.id, m.material_id, m.file_id, f.mime, f.size, f.sm3, m.source, m.title, m.e_cert_no,"   \
	" m.verdict, m.reasons, m.added_by_name, m.added_at, m.verified_at"

enum {
	E_ID,
	E_MID,
	E_FILE,
	E_MIME,
	E_SIZE,
	E_SM3,
	E_SOURCE,
	E_TITLE,
	E_CERT,
	E_VERDICT,
	E_REASONS,
	E_BY,
	E_AT,
	E_VERIFIED_AT
};

static void today_of(char out[11])
{
	char iso[32];
	time_iso(time_now_ms(), iso);
	memcpy(out, iso, 10);
	out[10] = 0;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *entry_json(const struct db_rows *rs, int r)
{
	json_t *reasons = NULL;
	const char *rt = db_text(rs, r, E_REASONS);
	if (rt)
		reasons = json_loads(rt, 0, NULL);
	if (!reasons)
		reasons = json_array();
	json_t *o = json_object();
	if (!o) {
		json_decref(reasons);
		return NULL;
	}
	json_object_set_new(o, "id", json_integer(db_int(rs, r, E_ID)));
	json_object_set_new(o, "material_id", str_or_null(db_text(rs, r, E_MID)));
	json_object_set_new(o, "file_id", json_integer(db_int(rs, r, E_FILE)));
	json_object_set_new(o, "mime", str_or_null(db_text(rs, r, E_MIME)));
	json_object_set_new(o, "size", json_integer(db_int(rs, r, E_SIZE)));
	json_object_set_new(o, "sm3", str_or_null(db_text(rs, r, E_SM3)));
	json_object_set_new(o, "source", str_or_null(db_text(rs, r, E_SOURCE)));
	json_object_set_new(o, "title", str_or_null(db_text(rs, r, E_TITLE)));
	json_object_set_new(o, "e_cert_no", str_or_null(db_text(rs, r, E_CERT)));
	json_object_set_new(o, "verdict", str_or_null(db_text(rs, r, E_VERDICT)));
	json_object_set_new(o, "reasons", reasons);
	json_object_set_new(o, "verified_at",
	                    db_is_null(rs, r, E_VERIFIED_AT)
	                        ? json_null()
	                        : json_integer(db_int(rs, r, E_VERIFIED_AT)));
	json_object_set_new(o, "added_by", str_or_null(db_text(rs, r, E_BY)));
	json_object_set_new(o, "added_at", json_integer(db_int(rs, r, E_AT)));
	return o;
}

static enum err entries_of(struct db_conn *c, struct arena *a, int64_t case_id, struct db_rows **rs)
{
	return db_exec(c, a, rs,
	               "SELECT " ENTRY_COLS
	               " FROM case_materials m JOIN files f ON f.id = m.file_id"
	               " WHERE m.case_id = ? ORDER BY m.id",
	               "i", case_id);
}

static enum err entry_get(struct db_conn *c, struct arena *a, int64_t case_id, const char *mid,
                          int64_t eid, struct db_rows **rs)
{
	enum err e =
	    db_exec(c, a, rs,
	            "SELECT " ENTRY_COLS " FROM case_materials m JOIN files f ON f.id = m.file_id"
	            " WHERE m.id = ? AND m.case_id = ? AND m.material_id = ?",
	            "iis", eid, case_id, mid);
	if (!e && (*rs)->nrows != 1)
		e = ERR_NOT_FOUND;
	return e;
}

/* ---- slots and completeness ---- */

static const json_t *slots_of(const struct case_catalog *cc)
{
	const json_t *m = json_object_get(cc->sub_item, "materials");
	return json_is_array(m) ? m : NULL;
}

static const json_t *slot_find(const struct case_catalog *cc, const char *mid)
{
	const json_t *list = slots_of(cc);
	size_t i;
	const json_t *m;
	if (!mid)
		return NULL;
	json_array_foreach (list, i, m) {
		const char *id = json_get_str(m, "id");
		if (id && !strcmp(id, mid))
			return m;
	}
	return NULL;
}

/* The slots other modules add (struct cases_ext.slots): *out is an array owned by a (empty
 * when none). */
static enum err ext_slots(struct server *srv, struct db_conn *c, struct arena *a,
                          const struct case_catalog *cc, const struct case_row *row,
                          const json_t **out)
{
	struct cases_state *st = cases_state_of(srv);
	json_t *all = json_arena_own(a, json_array());
	enum err e = ERR_OK;
	*out = all;
	if (!all)
		return ERR_NOMEM;
	for (int i = 0; st && i < st->next && !e; i++) {
		json_t *more = NULL;
		if (st->ext[i].slots &&
		    !(e = st->ext[i].slots(st->ext[i].ctx, srv, c, a, cc, row, &more)) && more &&
		    json_array_extend(all, more))
			e = ERR_NOMEM;
		json_decref(more);
	}
	return e;
}

/* The form as conditions see it: the stored data with the computed fields filled in.
 * New reference. */
static json_t *form_for_conditions(const struct case_catalog *cc, const struct case_row *row,
                                   const char *today)
{
	json_t *data = row->form ? json_deep_copy(row->form) : json_object();
	struct catalog_form_result res;
	if (!data)
		return NULL;
	if (catalog_form_evaluate(cc->ref, cc->sub_item, row->form, today, &res) == ERR_OK &&
	    json_is_object(res.computed)) {
		const char *k;
		json_t *v;
		json_object_foreach (res.computed, k, v)
			if (!strchr(k, '[')) /* cells of group rows are not conditions' business */
				json_path_set_new(data, k, json_incref(v));
	}
	catalog_form_result_release(&res);
	return data;
}

static bool required_now(struct arena *a, const json_t *slot, const json_t *data, const char *today)
{
	const char *need = json_get_str(slot, "need");
	if (!need || !strcmp(need, "required"))
		return true;
	if (strcmp(need, "conditional"))
		return false;
	const char *when = json_get_str(slot, "when");
	struct catalog_expr *ex = NULL;
	const char *why = NULL;
	if (!when || catalog_expr_parse(when, a, &ex, &why)) {
		/* a checked catalog never gets here; asking for the material is the safe side */
		log_warn("cases.material_when", "material %s: condition does not parse",
		         json_get_str(slot, "id"));
		return true;
	}
	json_t *v = catalog_expr_eval(ex, data, NULL, today);
	bool yes = catalog_expr_truthy(v);
	json_decref(v);
	return yes;
}

static int count_entries(const struct db_rows *rs, const char *mid)
{
	int n = 0;
	for (int i = 0; rs && i < rs->nrows; i++)
		if (!strcmp(db_text(rs, i, E_MID), mid))
			n++;
	return n;
}

/* The slots view: {"slots":[…],"complete","missing":[names]}; with missing_ids (may be
 * NULL) also [{"id","name"}] of required-now slots without entries. New reference. */
static enum err slots_view(struct server *srv, struct db_conn *c, struct arena *a,
                           const struct case_catalog *cc, const struct case_row *row,
                           const char *today, json_t **view, json_t **missing_ids)
{
	struct db_rows *rs = NULL;
	const json_t *extra = NULL;
	json_t *data = NULL, *slots = json_array(), *missing = json_array(), *mids = json_array();
	enum err e = ERR_NOMEM;
	bool complete = true;
	if (!slots || !missing || !mids)
		goto out;
	if ((e = entries_of(c, a, row->id, &rs)) || (e = ext_slots(srv, c, a, cc, row, &extra)))
		goto out;
	e = ERR_NOMEM;
	if (!(data = form_for_conditions(cc, row, today)))
		goto out;
	size_t i, nplain = json_array_size(slots_of(cc));
	const json_t *m;
	for (i = 0; i < nplain + json_array_size(extra); i++) {
		/* a module's slot says itself whether it is required and complete */
		bool ext = i >= nplain;
		m = ext ? json_array_get(extra, i - nplain) : json_array_get(slots_of(cc), i);
		const char *id = json_get_str(m, "id");
		const char *name = json_get_str(m, "name");
		if (!id)
			continue;
		bool req = ext ? json_is_true(json_object_get(m, "required_now"))
		               : required_now(a, m, data, today);
		json_t *files = json_array();
		for (int k = 0; files && k < rs->nrows; k++)
			if (!strcmp(db_text(rs, k, E_MID), id))
				json_array_append_new(files, entry_json(rs, k));
		bool ok = ext ? json_is_true(json_object_get(m, "complete"))
		              : !req || json_array_size(files) > 0;
		json_t *s = json_object();
		if (!files || !s) {
			json_decref(files);
			json_decref(s);
			goto out;
		}
		json_object_set_new(s, "id", json_string(id));
		json_object_set_new(s, "name", str_or_null(name));
		json_object_set_new(s, "need", str_or_null(json_get_str(m, "need")));
		json_object_set_new(s, "when", str_or_null(json_get_str(m, "when")));
		json_object_set_new(s, "required_now", json_boolean(req));
		json_t *src = json_object_get(m, "sources");
		json_object_set_new(s, "sources", src ? json_deep_copy(src) : json_array());
		json_object_set_new(s, "e_cert", str_or_null(json_get_str(m, "e_cert")));
		json_object_set_new(s, "count", json_integer(json_get_int(m, "count", 1)));
		json_object_set_new(s, "original",
		                    json_boolean(json_get_bool(m, "original", false)));
		json_object_set_new(s, "copies", json_integer(json_get_int(m, "copies", 0)));
		json_object_set_new(s, "note", str_or_null(json_get_str(m, "note")));
		json_object_set_new(s, "files", files);
		json_object_set_new(s, "complete", json_boolean(ok));
		json_array_append_new(slots, s);
		if (!ok) {
			complete = false;
			json_array_append_new(missing, str_or_null(name ? name : id));
			if (!ext)
				json_array_append_new(
				    mids, json_pack("{s:s,s:s?}", "id", id, "name", name));
		}
	}
	*view =
	    json_pack("{s:o,s:b,s:o}", "slots", slots, "complete", complete, "missing", missing);
	slots = missing = NULL;
	e = *view ? ERR_OK : ERR_NOMEM;
	if (!e && missing_ids) {
		*missing_ids = mids;
		mids = NULL;
	}
out:
	json_decref(data);
	json_decref(slots);
	json_decref(missing);
	json_decref(mids);
	return e;
}

enum err cases_materials_missing(struct server *srv, struct db_conn *c, struct arena *a,
                                 const struct case_catalog *cc, const struct case_row *row,
                                 const char *today, json_t **missing)
{
	json_t *view = NULL;
	struct db_conn *own = NULL;
	enum err e;
	if (!c) {
		if ((e = db_acquire(srv->db, DB_WAIT_MS, &own)))
			return e;
		c = own;
	}
	e = slots_view(srv, c, a, cc, row, today, &view, missing);
	json_decref(view);
	db_release(own);
	return e;
}

enum err cases_materials_received(struct server *srv, struct db_conn *c, struct arena *a,
                                  const struct case_catalog *cc, const struct case_row *row,
                                  json_t **lines)
{
	struct db_rows *rs = NULL;
	struct db_conn *own = NULL;
	enum err e;
	*lines = NULL;
	if (!c) {
		if ((e = db_acquire(srv->db, DB_WAIT_MS, &own)))
			return e;
		c = own;
	}
	e = entries_of(c, a, row->id, &rs);
	db_release(own);
	if (e)
		return e;
	json_t *out = json_array();
	size_t i;
	const json_t *m;
	json_array_foreach (slots_of(cc), i, m) {
		const char *id = json_get_str(m, "id");
		int n = id ? count_entries(rs, id) : 0;
		if (!n || !out)
			continue;
		json_array_append_new(
		    out, json_pack("{s:s,s:s?,s:I,s:b,s:I,s:i}", "id", id, "name",
		                   json_get_str(m, "name"), "count",
		                   (json_int_t)json_get_int(m, "count", 1), "original",
		                   json_get_bool(m, "original", false), "copies",
		                   (json_int_t)json_get_int(m, "copies", 0), "entries", n));
	}
	*lines = out;
	return out ? ERR_OK : ERR_NOMEM;
}

/* ---- shared handler steps ---- */

/* Load the case of the route (404 outside the caller's scope) and, when mid is given, its
 * slot; on failure r->err is set. cc is released by the caller (also on failure). */
static enum err load_case(struct req *r, struct db_conn *c, struct case_row *row,
                          struct case_catalog *cc, const char *mid, const json_t **slot)
{
	const char *no = req_param(r, "no");
	enum err e = case_load(r->srv, c, r->arena, r->who, no, row);
	if (e == ERR_NOT_FOUND)
		return req_fail(r, e, "case_no", "办件不存在：%s", no ? no : "");
	if (e)
		return e;
	if ((e = case_catalog_get(r->srv, c, r->arena, row, cc)))
		return e;
	if (mid && !(*slot = slot_find(cc, mid))) {
		const json_t *extra = NULL, *m;
		size_t i;
		if ((e = ext_slots(r->srv, c, r->arena, cc, row, &extra)))
			return e;
		json_array_foreach (extra, i, m)
			if (json_get_str(m, "id") && !strcmp(json_get_str(m, "id"), mid))
				*slot = m;
	}
	if (mid && !*slot)
		return req_fail(r, ERR_NOT_FOUND, "material", "该事项情形没有此材料：%s", mid);
	return ERR_OK;
}

static enum err check_state(struct req *r, const struct case_row *row)
{
	if (row->view_only) /* the receiving centre after forwarding (收受分离) */
		return req_fail(r, ERR_FORBIDDEN, "state",
		                "该办件已转交受理中心，收件中心只能查看");
	if (!strcmp(row->state, "draft") || !strcmp(row->state, "correction"))
		return ERR_OK;
	static const struct {
		const char *code, *name;
	} names[] = {{"accepted", "已受理"},
	             {"in_progress", "办理中"},
	             {"completed", "已办结"},
	             {"refused", "不予受理"},
	             {"withdrawn", "已撤回"}};
	const char *name = row->state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(names[i].code, row->state))
			name = names[i].name;
	return req_fail(r, ERR_BAD_STATE, "state",
	                "办件当前状态为“%s”，材料只能在草稿或补正状态下修改", name);
}

static enum err audit(struct req *r, struct db_conn *c, const struct case_row *row,
                      const char *action, json_t *detail)
{
	struct audit_entry ae = {
	    .actor_id = r->who ? r->who->user_id : 0,
	    .actor_name = r->who ? r->who->username : NULL,
	    .action = action,
	    .target = arena_printf(r->arena, "case:%s", row->case_no),
	    .detail = detail ? json_dump_arena(detail, r->arena) : NULL,
	    .client_ip = r->client_ip,
	    .trace_id = r->trace.trace_id,
	};
	json_decref(detail);
	return audit_append(c, r->arena, &ae);
}

static enum err parse_eid(struct req *r, int64_t *eid)
{
	const char *s = req_param(r, "eid");
	if (!s || !cstr_to_i64(s, 1, INT64_MAX, eid))
		return req_fail(r, ERR_NOT_FOUND, "eid", "材料文件不存在");
	return ERR_OK;
}

/* Insert an entry for file fi (already referenced) and audit it; the caller's write tx. */
static enum err add_entry(struct req *r, struct db_conn *c, const struct case_row *row,
                          const char *mid, const struct file_info *fi, const char *source,
                          const char *title, const char *cert_no, int64_t *eid)
{
	struct db_rows *rs = NULL;
	enum err e =
	    db_exec(c, r->arena, &rs,
	            "INSERT INTO case_materials (case_id, material_id, file_id, source, title,"
	            " e_cert_no, added_by, added_by_name, added_at)"
	            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
	            "isisssisi", row->id, mid, fi->id, source, title, cert_no, r->who->user_id,
	            r->who->name && *r->who->name ? r->who->name : r->who->username, time_now_ms());
	if (e)
		return e;
	*eid = db_int(rs, 0, 0);
	return audit(
	    r, c, row, !strcmp(source, "e_cert") ? "case.material.ecert" : "case.material.add",
	    json_pack("{s:s,s:I,s:I,s:s,s:s,s:I,s:s?}", "material", mid, "entry", (json_int_t)*eid,
	              "file_id", (json_int_t)fi->id, "source", source, "mime", fi->mime, "size",
	              (json_int_t)fi->size, "e_cert_no", cert_no));
}

/* Respond with entry eid as the list shows it. */
static enum err respond_entry(struct req *r, struct resp *w, int status, int64_t case_id,
                              const char *mid, int64_t eid)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_acquire(r->srv->db, DB_WAIT_MS, &c);
	if (!e)
		e = entry_get(c, r->arena, case_id, mid, eid, &rs);
	db_release(c);
	if (e)
		return e;
	json_t *o = entry_json(rs, 0);
	if (!o)
		return ERR_NOMEM;
	resp_json(w, status, o);
	return ERR_OK;
}

/* Run fn as a write unit (db_write_unit: its commit shared with the other clerks' writes).
 * The case, its slot and its state are loaded and checked first on a pool connection (a
 * refusal writes nothing); the unit then re-checks the state with a guarded UPDATE of the
 * case's row, which on PostgreSQL also takes the row lock an acceptance takes, so a material
 * cannot change under an acceptance that already counted the materials. fn runs in the unit
 * (possibly on the writer thread: only statements, r->arena and r->err). One retry on
 * ERR_CONFLICT without a message (a PostgreSQL serialisation or deadlock). */
struct change_ctx {
	const char *mid;
	void *arg;
	int64_t case_id;
	enum err (*fn)(struct req *r, struct db_conn *c, const struct case_row *row,
	               const struct case_catalog *cc, const json_t *slot, void *arg);
	/* set by run_change for the unit */
	struct req *r;
	const struct case_row *row;
	const struct case_catalog *cc;
	const json_t *slot;
};

static enum err change_unit(struct db_conn *c, void *ctx)
{
	struct change_ctx *ch = ctx;
	struct req *r = ch->r;
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, r->arena, &rs,
	                     "UPDATE cases SET updated_at = updated_at"
	                     " WHERE id = ? AND state IN ('draft', 'correction')",
	                     "i", ch->row->id);
	if (e)
		return e;
	if (rs->changes != 1) {
		if ((e = db_exec(c, r->arena, &rs, "SELECT state FROM cases WHERE id = ?", "i",
		                 ch->row->id)))
			return e;
		if (rs->nrows != 1)
			return req_fail(r, ERR_NOT_FOUND, "case_no", "办件不存在：%s",
			                ch->row->case_no);
		struct case_row now = *ch->row;
		now.state = db_text(rs, 0, 0);
		return check_state(r, &now);
	}
	return ch->fn(r, c, ch->row, ch->cc, ch->slot, ch->arg);
}

static enum err run_change(struct req *r, struct change_ctx *ch)
{
	struct db_conn *c = NULL;
	struct case_row row = {0};
	struct case_catalog cc = {0};
	const json_t *slot = NULL;
	enum err e = db_acquire(r->srv->db, DB_WAIT_MS, &c);
	if (e || (e = load_case(r, c, &row, &cc, ch->mid, &slot)) || (e = check_state(r, &row)))
		goto out;
	db_release(c);
	c = NULL;
	ch->r = r;
	ch->row = &row;
	ch->cc = &cc;
	ch->slot = slot;
	ch->case_id = row.id;
	for (int t = 0; t < 2; t++) {
		r->err = (struct errinfo){0};
		e = db_write_unit(r->srv->db, change_unit, ch, DB_WAIT_MS);
		if (!(e == ERR_CONFLICT && !r->err.msg))
			break;
	}
out:
	db_release(c);
	case_catalog_release(&cc);
	case_row_release(&row);
	return e;
}

/* ---- GET /api/v1/cases/{no}/materials ---- */

static enum err list_materials(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct case_row row = {0};
	struct case_catalog cc = {0};
	json_t *view = NULL;
	char today[11];
	today_of(today);
	enum err e = db_acquire(r->srv->db, DB_WAIT_MS, &c);
	if (!e && !(e = load_case(r, c, &row, &cc, NULL, NULL)))
		e = slots_view(r->srv, c, r->arena, &cc, &row, today, &view, NULL);
	if (!e) {
		json_object_set_new(view, "case_no", json_string(row.case_no));
		json_object_set_new(view, "state", json_string(row.state));
		json_object_set_new(
		    view, "editable",
		    json_boolean(!strcmp(row.state, "draft") || !strcmp(row.state, "correction")));
		resp_json(w, 200, view);
	}
	db_release(c);
	case_catalog_release(&cc);
	case_row_release(&row);
	return e;
}

/* ---- POST /api/v1/cases/{no}/materials/{mid}/files?source=&title= (raw body) ---- */

struct upload {
	const char *source, *title;
	int64_t eid;
	struct files_prepared prep;
};

static enum err put_file(struct req *r, struct db_conn *c, const struct case_row *row,
                         const struct case_catalog *cc, const json_t *slot, void *arg)
{
	(void)cc;
	struct upload *up = arg;
	struct db_rows *rs = NULL;
	struct file_info fi;
	const char *mid = json_get_str(slot, "id");
	enum err e =
	    db_exec(c, r->arena, &rs,
	            "SELECT COUNT(*) FROM case_materials WHERE case_id = ? AND material_id = ?",
	            "is", row->id, mid);
	if (e)
		return e;
	if (db_int(rs, 0, 0) >= SLOT_MAX_ENTRIES)
		return req_fail(r, ERR_INVALID, "material", "每项材料最多上传 %d 个文件",
		                SLOT_MAX_ENTRIES);
	if ((e = files_commit(r->srv, c, r->arena, &up->prep, FILES_REF, &fi)))
		return e;
	if ((e = db_exec(c, r->arena, &rs,
	                 "SELECT id FROM case_materials WHERE case_id = ? AND material_id = ?"
	                 " AND file_id = ?",
	                 "isi", row->id, mid, fi.id)))
		return e;
	if (rs->nrows)
		return req_fail(r, ERR_DUPLICATE, "file", "同一文件已添加到此材料，无需重复上传");
	return add_entry(r, c, row, mid, &fi, up->source, up->title, NULL, &up->eid);
}

/* The case, the slot and the state, read only: a request that will be refused writes no
 * blob. The write transaction checks them again. */
static enum err check_case(struct req *r, const char *mid)
{
	struct db_conn *c = NULL;
	struct case_row row = {0};
	struct case_catalog cc = {0};
	const json_t *slot = NULL;
	enum err e = db_acquire(r->srv->db, DB_WAIT_MS, &c);
	if (!e && !(e = load_case(r, c, &row, &cc, mid, &slot)))
		e = check_state(r, &row);
	db_release(c);
	case_catalog_release(&cc);
	case_row_release(&row);
	return e;
}

static enum err upload_into(struct req *r, struct upload *up, int64_t *case_id);

static enum err upload_file(struct req *r, struct resp *w)
{
	struct upload up = {.source = req_query(r, "source"), .title = req_query(r, "title")};
	int64_t case_id = 0;
	enum err e = upload_into(r, &up, &case_id);
	if (e)
		return e;
	return respond_entry(r, w, 201, case_id, req_param(r, "mid"), up.eid);
}

enum err cases_materials_upload(struct req *r, const char *case_no, const char *mid,
                                const char *source, const char *title, int64_t *eid)
{
	struct upload up = {.source = source, .title = title};
	int64_t case_id = 0;
	if (r->nparams + 2 > HTTP_MAX_PARAMS)
		return ERR_INTERNAL;
	r->param_name[r->nparams] = "no";
	r->param_value[r->nparams++] = case_no;
	r->param_name[r->nparams] = "mid";
	r->param_value[r->nparams++] = mid;
	enum err e = upload_into(r, &up, &case_id);
	r->nparams -= 2;
	*eid = up.eid;
	return e;
}

/* The upload of the request's raw body into the route's case ("no") and material ("mid"). */
static enum err upload_into(struct req *r, struct upload *upp, int64_t *case_id)
{
	struct upload up = *upp;
	struct errinfo ei = {0};
	if (!up.source || !*up.source)
		up.source = "upload";
	if (strcmp(up.source, "scan") && strcmp(up.source, "upload") &&
	    strcmp(up.source, "kiosk_photo"))
		return req_fail(
		    r, ERR_BAD_FIELD, "source",
		    "来源应为 scan（高拍仪）、upload（上传）或 kiosk_photo（终端拍照）");
	if (up.title && !*up.title)
		up.title = NULL;
	if (up.title) {
		size_t n = strlen(up.title);
		if (!utf8_valid(up.title, n) || utf8_len(up.title, n) > TITLE_MAX_CHARS)
			return req_fail(r, ERR_BAD_FIELD, "title", "标题应为不超过 %d 个字的文字",
			                TITLE_MAX_CHARS);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)up.title[i] < 0x20)
				return req_fail(r, ERR_BAD_FIELD, "title", "标题不能包含控制字符");
	}
	if (!r->body || r->body_len == 0)
		return req_fail(r, ERR_MISSING_FIELD, "file", "请求体为空：请上传文件内容");
	enum err e = check_case(r, req_param(r, "mid"));
	if (e)
		return e;
	e = files_prepare(r->srv, r->arena, r->body, r->body_len, req_header(r, "Content-Type"), 0,
	                  &up.prep, &ei);
	if (e)
		return ei.msg ? req_fail(r, e, "file", "%s", ei.msg) : e;
	struct change_ctx ch = {.mid = req_param(r, "mid"), .arg = &up, .fn = put_file};
	if ((e = run_change(r, &ch)))
		return e;
	*case_id = ch.case_id;
	*upp = up;
	return ERR_OK;
}

/* ---- DELETE /api/v1/cases/{no}/materials/{mid}/files/{eid} ---- */

static enum err drop_file(struct req *r, struct db_conn *c, const struct case_row *row,
                          const struct case_catalog *cc, const json_t *slot, void *arg)
{
	(void)cc;
	int64_t eid = *(int64_t *)arg;
	const char *mid = json_get_str(slot, "id");
	struct db_rows *rs = NULL;
	enum err e = entry_get(c, r->arena, row->id, mid, eid, &rs);
	if (e == ERR_NOT_FOUND)
		return req_fail(r, e, "eid", "材料文件不存在");
	if (e)
		return e;
	int64_t file_id = db_int(rs, 0, E_FILE);
	const char *source = db_text(rs, 0, E_SOURCE);
	if (!strcmp(source, "generated") || !strcmp(source, "e_sign"))
		return req_fail(r, ERR_BAD_STATE, "eid",
		                "系统生成的申请表不能删除；如需重签，请先作废签名");
	if ((e = db_exec(c, r->arena, NULL, "DELETE FROM case_materials WHERE id = ?", "i", eid)) ||
	    (e = files_unref(c, file_id)))
		return e;
	return audit(r, c, row, "case.material.remove",
	             json_pack("{s:s,s:I,s:I,s:s?}", "material", mid, "entry", (json_int_t)eid,
	                       "file_id", (json_int_t)file_id, "source", source));
}

static enum err delete_file(struct req *r, struct resp *w)
{
	int64_t eid = 0;
	enum err e = parse_eid(r, &eid);
	if (e)
		return e;
	struct change_ctx ch = {.mid = req_param(r, "mid"), .arg = &eid, .fn = drop_file};
	if ((e = run_change(r, &ch)))
		return e;
	resp_json(w, 200, json_pack("{s:I,s:b}", "id", (json_int_t)eid, "deleted", 1));
	return ERR_OK;
}

/* ---- GET /api/v1/cases/{no}/materials/{mid}/files/{eid}/content ---- */

static enum err file_content(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct case_row row = {0};
	struct case_catalog cc = {0};
	struct db_rows *rs = NULL;
	const json_t *slot = NULL;
	const void *data = NULL;
	size_t n = 0;
	struct file_info fi;
	int64_t eid = 0;
	enum err e = parse_eid(r, &eid);
	if (e)
		return e;
	if ((e = db_acquire(r->srv->db, DB_WAIT_MS, &c)) ||
	    (e = load_case(r, c, &row, &cc, req_param(r, "mid"), &slot)))
		goto out;
	e = entry_get(c, r->arena, row.id, req_param(r, "mid"), eid, &rs);
	if (e == ERR_NOT_FOUND)
		e = req_fail(r, e, "eid", "材料文件不存在");
	if (e || (e = files_read(r->srv, c, r->arena, db_int(rs, 0, E_FILE), &data, &n, &fi)))
		goto out;
	w->status = 200;
	w->body = data;
	w->body_len = n;
	w->content_type = arena_strdup(r->arena, fi.mime);
	resp_header(w, "Content-Disposition", "inline");
	resp_header(w, "Cache-Control", "private, no-store");
	resp_header(w, "Content-Security-Policy", "default-src 'none'; sandbox");
out:
	db_release(c);
	case_catalog_release(&cc);
	case_row_release(&row);
	if (e == ERR_INTEGRITY)
		return req_fail(r, e, "file",
		                "材料文件校验失败（存储的内容已损坏或被篡改），请重新扫描上传");
	return e;
}

/* ---- flows: the person a slot is about, and the calls ---- */

/* The party a slot belongs to by its id (agent_id → agent, guardian_id → guardian, …) when
 * the form has that party, else the applicant. */
static const char *slot_role(const json_t *form, const char *mid)
{
	static const char *const roles[] = {"agent", "guardian", "helper", "spouse", NULL};
	for (int i = 0; mid && roles[i]; i++) {
		size_t n = strlen(roles[i]);
		if (!strncmp(mid, roles[i], n) && mid[n] == '_' &&
		    json_is_object(json_object_get(form, roles[i])))
			return roles[i];
	}
	return "applicant";
}

static const char *role_label(const char *role)
{
	return !strcmp(role, "agent")      ? "代理人"
	       : !strcmp(role, "guardian") ? "监护人"
	       : !strcmp(role, "helper")   ? "协助人"
	       : !strcmp(role, "spouse")   ? "配偶"
	                                   : "申请人";
}

/* {id_type, id_number, name} of role from the form (new reference), or NULL when the form
 * has no document number for it. */
static json_t *slot_person(const json_t *form, const char *role)
{
	const json_t *p = json_object_get(form, role);
	const json_t *idn = json_object_get(p, "id_number");
	const char *type = NULL, *number = NULL;
	if (json_is_object(idn)) {
		type = json_get_str(idn, "type");
		number = json_get_str(idn, "number");
	} else if (json_is_string(idn)) {
		number = json_string_value(idn);
		type = json_get_str(p, "id_type");
	}
	if (!number || !*number)
		return NULL;
	return json_pack("{s:s,s:s,s:s?}", "id_type", type ? type : "111", "id_number", number,
	                 "name", json_get_str(p, "name"));
}

/* Read what a flow call needs from the case (outside any transaction): the slot (copied:
 * the catalog is released) and the person. */
struct flow_prep {
	json_t *slot;
	json_t *person;
	const char *role; /* static */
	int64_t case_id;
	const char *sm3;    /* verify: the entry's file */
	const char *source; /* verify: the entry's source */
};

static void flow_prep_release(struct flow_prep *fp)
{
	json_decref(fp->slot);
	json_decref(fp->person);
	memset(fp, 0, sizeof(*fp));
}

static enum err prepare_flow(struct req *r, int64_t eid, struct flow_prep *fp)
{
	struct db_conn *c = NULL;
	struct case_row row = {0};
	struct case_catalog cc = {0};
	struct db_rows *rs = NULL;
	const json_t *slot = NULL;
	const char *mid = req_param(r, "mid");
	enum err e = db_acquire(r->srv->db, DB_WAIT_MS, &c);
	if (e || (e = load_case(r, c, &row, &cc, mid, &slot)) || (e = check_state(r, &row)))
		goto out;
	if (eid) {
		e = entry_get(c, r->arena, row.id, mid, eid, &rs);
		if (e == ERR_NOT_FOUND)
			e = req_fail(r, e, "eid", "材料文件不存在");
		if (e)
			goto out;
		fp->sm3 = db_text(rs, 0, E_SM3);
		fp->source = db_text(rs, 0, E_SOURCE);
	}
	fp->case_id = row.id;
	fp->slot = json_deep_copy(slot);
	fp->role = slot_role(row.form, mid);
	fp->person = slot_person(row.form, fp->role);
	if (!fp->slot)
		e = ERR_NOMEM;
	else if (!fp->person)
		e = req_fail(r, ERR_INVALID, arena_printf(r->arena, "%s.id_number", fp->role),
		             "请先在表单中填写%s的证件号码", role_label(fp->role));
out:
	db_release(c);
	case_catalog_release(&cc);
	case_row_release(&row);
	return e;
}

static void caller_of(struct req *r, struct gateway_caller *gc)
{
	*gc = (struct gateway_caller){
	    .module = "cases",
	    .user = r->who ? r->who->username : NULL,
	    .user_id = r->who ? r->who->user_id : 0,
	    .trace_id = r->trace.trace_id,
	};
}

static enum err flow_failed(struct req *r, enum err e, const struct errinfo *ei, const char *what)
{
	if (e == ERR_NOT_FOUND && ei->field && !strcmp(ei->field, "flow"))
		return req_fail(r, ERR_CONFIG, NULL, "%s的接口流程未配置，请联系运维人员", what);
	if (ei->msg)
		return req_fail(r, e, NULL, "%s失败：%s", what, ei->msg);
	return req_fail(r, e, NULL, "%s失败：%s", what, err_message(e));
}

/* ---- POST /api/v1/cases/{no}/materials/{mid}/ecert {"cert_no"?} ---- */

/* The certificates of a flow result, whatever its envelope: {"certs":[…]}, {"cert":{…}} or
 * one certificate. Borrowed from result, or NULL. */
static json_t *certs_of(json_t *result, json_t **single)
{
	json_t *list = json_object_get(result, "certs");
	if (json_is_array(list))
		return list;
	json_t *one = json_object_get(result, "cert");
	if (!json_is_object(one) && json_get_str(result, "cert_no"))
		one = result;
	if (!json_is_object(one))
		return NULL;
	*single = json_array();
	json_array_append(*single, one);
	return *single;
}

struct ecert_store {
	const json_t *cert;
	const char *cert_no;
	int64_t eid;
	struct files_prepared prep; /* the certificate's JSON, made durable before the tx */
};

static enum err store_ecert(struct req *r, struct db_conn *c, const struct case_row *row,
                            const struct case_catalog *cc, const json_t *slot, void *arg)
{
	(void)cc;
	struct ecert_store *es = arg;
	struct db_rows *rs = NULL;
	struct file_info fi;
	const char *mid = json_get_str(slot, "id");
	enum err e = db_exec(c, r->arena, &rs,
	                     "SELECT id FROM case_materials WHERE case_id = ? AND material_id = ?"
	                     " AND e_cert_no = ?",
	                     "iss", row->id, mid, es->cert_no);
	if (e)
		return e;
	if (rs->nrows)
		return req_fail(r, ERR_DUPLICATE, "cert_no", "该电子证照（%s）已添加到此材料",
		                es->cert_no);
	if ((e = files_commit(r->srv, c, r->arena, &es->prep, FILES_REF, &fi)))
		return e;
	const char *title = json_get_str(es->cert, "title");
	return add_entry(r, c, row, mid, &fi, "e_cert", title ? title : json_get_str(slot, "name"),
	                 es->cert_no, &es->eid);
}

static enum err pull_ecert(struct req *r, struct resp *w)
{
	struct flow_prep fp = {0};
	struct gateway_caller gc;
	struct errinfo ei = {0};
	json_t *result = NULL, *params = NULL, *single = NULL;
	const char *want = json_get_str(r->json, "cert_no");
	const char *mid = req_param(r, "mid");
	enum err e = prepare_flow(r, 0, &fp);
	if (e)
		goto out;
	const char *cert_type = json_get_str(fp.slot, "e_cert");
	if (!cert_type) {
		e = req_fail(r, ERR_INVALID, "material", "材料“%s”没有对应的电子证照，请扫描或上传",
		             json_get_str(fp.slot, "name"));
		goto out;
	}
	params = json_pack("{s:O,s:s,s:s?}", "applicant", fp.person, "cert_type", cert_type,
	                   "cert_no", want);
	if (!params) {
		e = ERR_NOMEM;
		goto out;
	}
	caller_of(r, &gc);
	e = gateway_flow_run(r->srv, ECERT_FLOW, params, &gc, false, r->arena, &result, NULL, NULL,
	                     &ei);
	if (e) {
		e = flow_failed(r, e, &ei, "调取电子证照");
		goto out;
	}
	json_t *certs = certs_of(result, &single);
	const json_t *pick = NULL;
	size_t i;
	json_t *cert;
	json_array_foreach (certs, i, cert) {
		const char *no = json_get_str(cert, "cert_no");
		if (!no || !json_is_object(cert))
			continue;
		if (want ? !strcmp(no, want) : !pick)
			pick = cert;
	}
	if (!pick) {
		e = want ? req_fail(r, ERR_NOT_FOUND, "cert_no", "证照库中没有编号为 %s 的%s的证照",
		                    want, role_label(fp.role))
		         : req_fail(r, ERR_NOT_FOUND, "material", "证照库中没有%s的“%s”电子证照",
		                    role_label(fp.role), json_get_str(fp.slot, "name"));
		goto out;
	}
	struct ecert_store es = {.cert = pick, .cert_no = json_get_str(pick, "cert_no")};
	/* sorted keys: the same certificate is the same bytes, so the store dedupes it */
	char *doc = json_dumps(pick, JSON_COMPACT | JSON_SORT_KEYS);
	if (!doc) {
		e = ERR_NOMEM;
		goto out;
	}
	struct errinfo fei = {0};
	e = files_prepare(r->srv, r->arena, doc, strlen(doc), "application/json", FILES_SERVER_MADE,
	                  &es.prep, &fei);
	free(doc);
	if (e) {
		e = fei.msg ? req_fail(r, e, "cert", "%s", fei.msg) : e;
		goto out;
	}
	struct change_ctx ch = {.mid = mid, .arg = &es, .fn = store_ecert};
	if ((e = run_change(r, &ch)))
		goto out;
	e = respond_entry(r, w, 201, ch.case_id, mid, es.eid);
out:
	json_decref(params);
	json_decref(single);
	flow_prep_release(&fp);
	return e;
}

/* ---- POST /api/v1/cases/{no}/materials/{mid}/files/{eid}/verify ---- */

struct verdict_store {
	int64_t eid;
	const char *verdict;
	json_t *reasons;
};

static enum err store_verdict(struct req *r, struct db_conn *c, const struct case_row *row,
                              const struct case_catalog *cc, const json_t *slot, void *arg)
{
	(void)cc;
	struct verdict_store *vs = arg;
	struct db_rows *rs = NULL;
	const char *mid = json_get_str(slot, "id");
	enum err e = db_exec(c, r->arena, &rs,
	                     "UPDATE case_materials SET verdict = ?, reasons = ?, verified_at = ?,"
	                     " verified_by = ? WHERE id = ? AND case_id = ? AND material_id = ?",
	                     "ssiiiis", vs->verdict, json_dump_arena(vs->reasons, r->arena),
	                     time_now_ms(), r->who->user_id, vs->eid, row->id, mid);
	if (e)
		return e;
	if (rs->changes != 1)
		return req_fail(r, ERR_NOT_FOUND, "eid", "材料文件不存在（可能已被删除）");
	return audit(r, c, row, "case.material.verify",
	             json_pack("{s:s,s:I,s:s,s:I}", "material", mid, "entry", (json_int_t)vs->eid,
	                       "verdict", vs->verdict, "reasons",
	                       (json_int_t)json_array_size(vs->reasons)));
}

static enum err verify_file(struct req *r, struct resp *w)
{
	struct flow_prep fp = {0};
	struct gateway_caller gc;
	struct errinfo ei = {0};
	json_t *result = NULL, *params = NULL;
	const char *mid = req_param(r, "mid");
	int64_t eid = 0;
	enum err e = parse_eid(r, &eid);
	if (e || (e = prepare_flow(r, eid, &fp)))
		goto out;
	const char *code = json_get_str(fp.slot, "e_cert");
	params = json_pack("{s:s,s:s,s:s,s:s?}", "id_number", json_get_str(fp.person, "id_number"),
	                   "material_code", code ? code : mid, "file_sm3", fp.sm3, "name",
	                   json_get_str(fp.person, "name"));
	if (!params) {
		e = ERR_NOMEM;
		goto out;
	}
	caller_of(r, &gc);
	e = gateway_flow_run(r->srv, VERIFY_FLOW, params, &gc, false, r->arena, &result, NULL, NULL,
	                     &ei);
	if (e) {
		e = flow_failed(r, e, &ei, "材料核验");
		goto out;
	}
	/* the flow answers the check that applies to the material, or none: {"checks":[…]} */
	const json_t *check = NULL;
	json_t *checks = json_object_get(result, "checks");
	size_t i;
	json_t *x;
	json_array_foreach (checks, i, x)
		if (!check && json_is_object(x))
			check = x;
	if (!check && json_get_str(result, "verdict"))
		check = result;
	if (!check) {
		e = req_fail(r, ERR_INVALID, "material",
		             "大数据中心不提供“%s”的联网核验，请人工核验原件",
		             json_get_str(fp.slot, "name"));
		goto out;
	}
	const char *verdict = json_get_str(check, "verdict");
	if (!verdict ||
	    (strcmp(verdict, "pass") && strcmp(verdict, "fail") && strcmp(verdict, "manual"))) {
		log_warn("cases.material_verify", "flow %s answered verdict %s", VERIFY_FLOW,
		         verdict ? verdict : "(none)");
		e = req_fail(r, ERR_UPSTREAM, NULL,
		             "材料核验失败：大数据中心返回了无法识别的核验结论");
		goto out;
	}
	struct verdict_store vs = {eid, verdict, json_array()};
	json_array_foreach (json_object_get(check, "reasons"), i, x)
		if (json_is_string(x))
			json_array_append(vs.reasons, x);
	struct change_ctx ch = {.mid = mid, .arg = &vs, .fn = store_verdict};
	e = run_change(r, &ch);
	json_decref(vs.reasons);
	if (!e)
		e = respond_entry(r, w, 200, ch.case_id, mid, eid);
out:
	json_decref(params);
	flow_prep_release(&fp);
	return e;
}

/* ---- the module ---- */

static const struct json_field ecert_body[] = {
    {"cert_no", JF_STRING, JF_NONEMPTY | JF_NULLABLE, 1, 64, "证照编号"},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct json_field empty_body[] = {
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct route routes[] = {
    {"GET", "/api/v1/cases/{no}/materials", list_materials, "case.read", 0, NULL},
    {"POST", "/api/v1/cases/{no}/materials/{mid}/files", upload_file, "case.accept",
     ROUTE_RAW | ROUTE_SLOW, NULL},
    {"DELETE", "/api/v1/cases/{no}/materials/{mid}/files/{eid}", delete_file, "case.accept", 0,
     NULL},
    {"GET", "/api/v1/cases/{no}/materials/{mid}/files/{eid}/content", file_content, "case.read",
     ROUTE_SLOW, NULL},
    {"POST", "/api/v1/cases/{no}/materials/{mid}/ecert", pull_ecert, "case.accept", ROUTE_SLOW,
     ecert_body},
    {"POST", "/api/v1/cases/{no}/materials/{mid}/files/{eid}/verify", verify_file, "case.accept",
     ROUTE_SLOW, empty_body},
};

const struct module cases_materials_module = {
    "cases_materials", NULL, NULL, routes, sizeof(routes) / sizeof(routes[0]),
};
