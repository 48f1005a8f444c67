/* cases_store.c: loading and saving a case's row (cases_int.h): the sealed form, the pinned
 * catalog version, the timeline; and the read side of cases.h: detail, lists, receipt. The
 * SQL of the actions lives next to their logic in cases.c. */
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "cases/cases_int.h"
#include "catalog/catalog.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "sensitive/sensitive.h"
#include "server/server.h"

#define SEAL_MAX (8u << 20) /* a form is a few KB; 8 MiB is far past any real one */

enum err case_seal_json(struct server *srv, struct arena *a, const char *context, const json_t *v,
                        const void **blob, size_t *n)
{
	struct buf b;
	enum err e = ERR_NOMEM;
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!text)
		return ERR_NOMEM;
	buf_init(&b, SEAL_MAX);
	e = keyring_encrypt(srv->keys, context, text, strlen(text), &b);
	if (!e) {
		*blob = arena_memdup(a, b.p, b.len);
		*n = b.len;
		if (!*blob)
			e = ERR_NOMEM;
	}
	buf_release(&b);
	free(text);
	return e;
}

enum err case_open_json(struct server *srv, struct arena *a, const char *context, const void *blob,
                        size_t n, json_t **out)
{
	struct buf b;
	json_error_t je;
	(void)a;
	*out = NULL;
	buf_init(&b, SEAL_MAX);
	enum err e = keyring_decrypt(srv->keys, context, blob, n, &b);
	if (!e) {
		*out = json_loadb(b.p ? b.p : "", b.len, JSON_DECODE_ANY, &je);
		if (!*out)
			e = ERR_INTEGRITY;
	}
	if (b.p)
		memset(b.p, 0, b.len);
	buf_release(&b);
	return e;
}

void case_row_release(struct case_row *row)
{
	if (!row)
		return;
	json_decref(row->form);
	json_decref(row->sources);
	json_decref(row->prefill_errors);
	row->form = row->sources = row->prefill_errors = NULL;
}

/* Open a sealed column into *out, or make def when the column is NULL. */
static enum err open_col(struct server *srv, struct arena *a, const struct db_rows *rs, int col,
                         const char *context, json_t *(*def)(void), json_t **out)
{
	const struct db_val *v = db_cell(rs, 0, col);
	if (v->type == DB_NULL) {
		*out = def();
		return *out ? ERR_OK : ERR_NOMEM;
	}
	if (v->type != DB_BLOB && v->type != DB_TEXT)
		return ERR_INTEGRITY;
	return case_open_json(srv, a, context, v->p, v->n, out);
}

#define ROW_COLS                                                                                   \
	"c.id, c.case_no, c.org_id, o.path, c.resident_id, c.sub_item_code, c.item_code,"          \
	" c.version_id, c.case_type, c.promised_days, c.state, c.version, c.channel, c.form_enc,"  \
	" c.sources_enc, c.prefill_errors_enc, c.created_by, c.created_at, c.updated_at,"          \
	" c.mode, c.entry, c.receiving_org_id, rc.path"

enum err case_load(struct server *srv, struct db_conn *c, struct arena *a,
                   const struct principal *who, const char *case_no, struct case_row *out)
{
	struct db_rows *rs = NULL;
	enum err e;
	memset(out, 0, sizeof(*out));
	if (!case_no || !case_no[0] || strlen(case_no) > 64)
		return ERR_NOT_FOUND;
	/* the receiving centre of a forwarded case (收受分离) sees it too, read-only */
	if (who)
		e = db_exec(c, a, &rs,
		            "SELECT " ROW_COLS ", CASE WHEN o.path LIKE ? THEN 0 ELSE 1 END"
		            " FROM cases c JOIN orgs o ON o.id = c.org_id"
		            " LEFT JOIN orgs rc ON rc.id = c.receiving_org_id"
		            " WHERE c.case_no = ? AND (o.path LIKE ? OR rc.path LIKE ?)",
		            "ssss", auth_scope_like(who, a), case_no, auth_scope_like(who, a),
		            auth_scope_like(who, a));
	else
		e = db_exec(c, a, &rs,
		            "SELECT " ROW_COLS ", 0 FROM cases c JOIN orgs o ON o.id = c.org_id"
		            " LEFT JOIN orgs rc ON rc.id = c.receiving_org_id"
		            " WHERE c.case_no = ?",
		            "s", case_no);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	out->id = db_int(rs, 0, 0);
	out->case_no = db_text(rs, 0, 1);
	out->org_id = db_int(rs, 0, 2);
	out->org_path = db_text(rs, 0, 3);
	out->resident_id = db_int(rs, 0, 4);
	out->sub_item_code = db_text(rs, 0, 5);
	out->item_code = db_text(rs, 0, 6);
	out->version_id = db_int(rs, 0, 7);
	out->case_type = (int)db_int(rs, 0, 8);
	out->promised_days = (int)db_int(rs, 0, 9);
	out->state = db_text(rs, 0, 10);
	out->version = db_int(rs, 0, 11);
	out->channel = (int)db_int(rs, 0, 12);
	out->created_by = db_int(rs, 0, 16);
	out->created_at = db_int(rs, 0, 17);
	out->updated_at = db_int(rs, 0, 18);
	out->mode = db_text(rs, 0, 19);
	out->entry = db_text(rs, 0, 20);
	out->receiving_org_id = db_int(rs, 0, 21);
	out->receiving_org_path = db_text(rs, 0, 22);
	out->view_only = db_int(rs, 0, 23) != 0;
	if ((e = open_col(srv, a, rs, 13, "cases.form", json_object, &out->form)) ||
	    (e = open_col(srv, a, rs, 14, "cases.sources", json_object, &out->sources)) ||
	    (e = open_col(srv, a, rs, 15, "cases.prefill_errors", json_array,
	                  &out->prefill_errors))) {
		if (e == ERR_INTEGRITY)
			log_error("cases.integrity", "case %lld: a sealed column does not open",
			          (long long)out->id);
		case_row_release(out);
		return e;
	}
	if (!json_is_object(out->form) || !json_is_object(out->sources) ||
	    !json_is_array(out->prefill_errors)) {
		case_row_release(out);
		return ERR_INTEGRITY;
	}
	return ERR_OK;
}

enum err case_load_more(struct db_conn *c, struct arena *a, int64_t case_id, struct case_more *out)
{
	struct db_rows *rs = NULL;
	memset(out, 0, sizeof(*out));
	enum err e =
	    db_exec(c, a, &rs,
	            "SELECT prev_state, promised_date, paused_day, correction, prereview,"
	            " override, item_name, sub_item_name, applicant_mask, applicant_id_mask,"
	            " accepted_at, accepted_by, paused_days FROM cases WHERE id = ?",
	            "i", case_id);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	out->prev_state = db_text(rs, 0, 0);
	out->promised_date = db_text(rs, 0, 1);
	out->paused_day = db_text(rs, 0, 2);
	out->correction = db_text(rs, 0, 3);
	out->prereview = db_text(rs, 0, 4);
	out->override = db_text(rs, 0, 5);
	out->item_name = db_text(rs, 0, 6);
	out->sub_item_name = db_text(rs, 0, 7);
	out->applicant_mask = db_text(rs, 0, 8);
	out->applicant_id_mask = db_text(rs, 0, 9);
	out->accepted_at = db_int(rs, 0, 10);
	out->accepted_by = db_int(rs, 0, 11);
	out->paused_days = (int)db_int(rs, 0, 12);
	return ERR_OK;
}

enum err case_catalog_get(struct server *srv, struct db_conn *c, struct arena *a,
                          const struct case_row *row, struct case_catalog *out)
{
	struct cases_state *st = cases_state_of(srv);
	struct catalog_ref_hold hold = {0};
	struct db_conn *own = NULL;
	json_t *item = NULL;
	enum err e;
	memset(out, 0, sizeof(*out));
	if (!c) {
		if ((e = db_acquire(srv->db, 5000, &own)))
			return e;
		c = own;
	}
	e = catalog_version_doc(st ? st->docs : NULL, c, a, row->version_id, &item);
	db_release(own);
	if (e)
		return e;
	const json_t *sub = catalog_item_sub_item(item, row->sub_item_code);
	if (!sub) {
		log_error("cases.catalog", "case %s: sub-item %s not in its pinned version %lld",
		          row->case_no ? row->case_no : "?", row->sub_item_code,
		          (long long)row->version_id);
		json_decref(item);
		return ERR_INTEGRITY;
	}
	if ((e = catalog_ref_hold_get(srv, &hold))) {
		json_decref(item);
		return e;
	}
	out->item = item;
	out->sub_item = sub;
	out->ref = hold.ref;
	out->snap = hold.snap;
	return ERR_OK;
}

void case_catalog_release(struct case_catalog *cc)
{
	if (!cc)
		return;
	struct catalog_ref_hold hold = {.ref = cc->ref, .snap = cc->snap};
	catalog_ref_hold_release(&hold);
	json_decref(cc->item);
	memset(cc, 0, sizeof(*cc));
}

enum err case_seal_form(struct server *srv, struct arena *a, const struct case_row *row,
                        struct case_sealed_form *out)
{
	enum err e;
	memset(out, 0, sizeof(*out));
	if ((e = case_seal_json(srv, a, "cases.form", row->form, &out->form, &out->form_n)) ||
	    (e = case_seal_json(srv, a, "cases.sources", row->sources, &out->sources,
	                        &out->sources_n)) ||
	    (e = case_seal_json(srv, a, "cases.prefill_errors", row->prefill_errors,
	                        &out->prefill_errors, &out->prefill_errors_n)))
		return e;
	return ERR_OK;
}

enum err case_store_form(struct db_conn *c, struct arena *a, struct case_row *row,
                         const struct case_sealed_form *s)
{
	struct db_rows *rs = NULL;
	enum err e;
	int64_t now = time_now_ms();
	if (row->view_only) /* the receiving centre after forwarding (收受分离) */
		return ERR_FORBIDDEN;
	if ((e = db_exec(c, a, &rs,
	                 "UPDATE cases SET form_enc = ?, sources_enc = ?, prefill_errors_enc = ?,"
	                 " version = version + 1, updated_at = ?"
	                 " WHERE id = ? AND version = ? AND state IN ('draft', 'correction')",
	                 "bbbiii", s->form, s->form_n, s->sources, s->sources_n, s->prefill_errors,
	                 s->prefill_errors_n, now, row->id, row->version)))
		return e;
	if (rs->changes != 1) {
		if ((e = db_exec(c, a, &rs, "SELECT version, state FROM cases WHERE id = ?", "i",
		                 row->id)))
			return e;
		if (rs->nrows != 1)
			return ERR_NOT_FOUND;
		return db_int(rs, 0, 0) != row->version ? ERR_CONFLICT : ERR_BAD_STATE;
	}
	row->version++;
	row->updated_at = now;
	return ERR_OK;
}

enum err case_save_form(struct server *srv, struct db_conn *c, struct arena *a,
                        struct case_row *row)
{
	struct case_sealed_form s;
	enum err e = case_seal_form(srv, a, row, &s);
	return e ? e : case_store_form(c, a, row, &s);
}

enum err case_store_event(struct db_conn *c, struct arena *a, int64_t case_id,
                          const struct principal *who, const char *action, const char *from,
                          const char *to, const char *detail)
{
	const char *name = who && who->username ? who->username : "system";
	if (who && who->user_id)
		return db_exec(c, a, NULL,
		               "INSERT INTO case_events (case_id, at, actor_id, actor_name, action,"
		               " from_state, to_state, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		               "iiisssss", case_id, time_now_ms(), who->user_id, name, action, from,
		               to, detail);
	return db_exec(c, a, NULL,
	               "INSERT INTO case_events (case_id, at, actor_id, actor_name, action,"
	               " from_state, to_state, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
	               "iinsssss", case_id, time_now_ms(), name, action, from, to, detail);
}

/* ---- detail ------------------------------------------------------------------------------ */

static bool has_perm(const struct principal *p, const char *perm)
{
	for (int i = 0; p && i < p->nperms; i++)
		if (!strcmp(p->perms[i], perm))
			return true;
	return false;
}

static json_t *parse_or_null(const char *text)
{
	json_error_t je;
	json_t *v = text ? json_loads(text, JSON_DECODE_ANY, &je) : NULL;
	return v ? v : json_null();
}

static bool overdue(const char *state, const char *promised, const char *today)
{
	return promised && (!strcmp(state, "accepted") || !strcmp(state, "in_progress")) &&
	       strcmp(promised, today) < 0;
}

/* Open a sealed party column; masked with kind unless full. */
static json_t *party_value(struct server *srv, struct arena *a, const struct db_rows *rs, int r,
                           int col, const char *column, const char *kind, bool full)
{
	const struct db_val *v = db_cell(rs, r, col);
	const char *plain = NULL;
	if (v->type != DB_BLOB && v->type != DB_TEXT)
		return json_null();
	if (sensitive_open(srv->keys, column, v->p, v->n, a, &plain))
		return json_string("（无法解密）");
	if (!full)
		plain = sensitive_mask(kind, plain, a);
	return plain ? json_string(plain) : json_null();
}

static enum err parties_json(struct server *srv, struct db_conn *c, struct arena *a,
                             int64_t case_id, bool full, json_t **out)
{
	struct db_rows *rs = NULL;
	*out = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT role, id_type, id_number_enc, name_enc, phone_enc"
	                     " FROM case_parties WHERE case_id = ? ORDER BY id",
	                     "i", case_id);
	if (e)
		return e;
	json_t *arr = json_array();
	for (int r = 0; arr && r < rs->nrows; r++)
		json_array_append_new(
		    arr,
		    json_pack(
		        "{s:s,s:s?,s:o,s:o,s:o}", "role", db_text(rs, r, 0), "id_type",
		        db_text(rs, r, 1), "id_number",
		        party_value(srv, a, rs, r, 2, "case_parties.id_number", "id_number", full),
		        "name", party_value(srv, a, rs, r, 3, "case_parties.name", "name", full),
		        "phone",
		        party_value(srv, a, rs, r, 4, "case_parties.phone", "phone", full)));
	*out = arr;
	return arr ? ERR_OK : ERR_NOMEM;
}

static enum err events_json(struct db_conn *c, struct arena *a, int64_t case_id, json_t **out)
{
	struct db_rows *rs = NULL;
	char at[32];
	*out = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT at, actor_name, action, from_state, to_state, detail"
	                     " FROM case_events WHERE case_id = ? ORDER BY id",
	                     "i", case_id);
	if (e)
		return e;
	json_t *arr = json_array();
	for (int r = 0; arr && r < rs->nrows; r++) {
		const char *action = db_text(rs, r, 2);
		json_array_append_new(
		    arr, json_pack("{s:s,s:s,s:s,s:s,s:s?,s:s?,s:o}", "at",
		                   time_iso(db_int(rs, r, 0), at), "actor", db_text(rs, r, 1),
		                   "action", action, "action_label",
		                   !strcmp(action, "open") ? "新建" : cases_action_label(action),
		                   "from", db_text(rs, r, 3), "to", db_text(rs, r, 4), "detail",
		                   parse_or_null(db_text(rs, r, 5))));
	}
	*out = arr;
	return arr ? ERR_OK : ERR_NOMEM;
}

/* {"complete","missing":[names]} of the materials, or null when they cannot be told. */
static json_t *materials_summary(struct server *srv, struct db_conn *c, struct arena *a,
                                 const struct case_row *row, const char *today)
{
	struct case_catalog cc = {0};
	json_t *missing = NULL, *names = NULL, *v;
	size_t i;
	if (case_catalog_get(srv, c, a, row, &cc))
		return json_null();
	if (!cases_materials_missing(srv, c, a, &cc, row, today, &missing) &&
	    (names = json_array()))
		json_array_foreach (missing, i, v)
			json_array_append(names, json_object_get(v, "name"));
	case_catalog_release(&cc);
	json_decref(missing);
	if (!names)
		return json_null();
	return json_pack("{s:b,s:o}", "complete", json_array_size(names) == 0, "missing", names);
}

static const char *user_name(struct db_conn *c, struct arena *a, int64_t id)
{
	struct db_rows *rs = NULL;
	if (!id || db_exec(c, a, &rs, "SELECT name FROM users WHERE id = ?", "i", id) ||
	    rs->nrows != 1)
		return NULL;
	return db_text(rs, 0, 0);
}

static json_t *ms_or_null(int64_t ms)
{
	char at[32];
	return ms ? json_string(time_iso(ms, at)) : json_null();
}

/* "vwin": where a case opened inside a virtual-window session came from ({session_id, point,
 * point_kind}), null for a window case (migration 0024). */
static enum err vwin_origin(struct db_conn *c, struct arena *a, int64_t id, json_t *o)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT vwin_session_id, vwin_point, vwin_point_kind FROM cases"
	                     " WHERE id = ?",
	                     "i", id);
	if (e)
		return e;
	json_object_set_new(o, "vwin",
	                    rs->nrows == 1 && !db_is_null(rs, 0, 0)
	                        ? json_pack("{s:I,s:s?,s:s?}", "session_id",
	                                    (json_int_t)db_int(rs, 0, 0), "point",
	                                    db_text(rs, 0, 1), "point_kind", db_text(rs, 0, 2))
	                        : json_null());
	return ERR_OK;
}

enum err cases_get(struct server *srv, const struct cases_caller *by, struct arena *a,
                   const char *case_no, json_t **out)
{
	struct db_conn *c = NULL;
	struct case_row row = {0};
	struct case_more m;
	struct db_rows *rs = NULL, *org = NULL;
	json_t *parties = NULL, *events = NULL, *delivery = NULL;
	char today[11];
	enum err e;
	*out = NULL;
	if ((e = db_acquire(srv->db, 5000, &c)))
		return e;
	/* The delivery before the case: both are read without a snapshot, and the hand-off
	 * records "delivered" and moves the case to in progress in one commit, so reading the
	 * delivery first never shows it delivered next to a case still "accepted". (Its result
	 * is dropped when the case is out of scope: case_load says so.) */
	if ((e = cases_handoff_delivery(c, a, case_no, &delivery)) && e != ERR_NOT_FOUND)
		goto out;
	if ((e = case_load(srv, c, a, by->who, case_no, &row)) ||
	    (e = case_load_more(c, a, row.id, &m)))
		goto out;
	if ((e = db_exec(c, a, &org, "SELECT code, name FROM orgs WHERE id = ?", "i",
	                 row.org_id)) ||
	    (e = db_exec(c, a, &rs,
	                 "SELECT result, result_opinion, cert_no, closed_reason, completed_at,"
	                 " closed_at FROM cases WHERE id = ?",
	                 "i", row.id)))
		goto out;
	if ((e = parties_json(srv, c, a, row.id, has_perm(by->who, "ident.read"), &parties)) ||
	    (e = events_json(c, a, row.id, &events)))
		goto out;
	cases_today(today);
	json_t *o = json_pack(
	    "{s:I,s:s,s:s,s:s,s:I,s:{s:I,s:s,s:s},s:{s:s,s:s},s:{s:s,s:s},s:i,s:i,s:s?,s:b,s:i,"
	    "s:I,s:{s:s,s:s}}",
	    "id", (json_int_t)row.id, "case_no", row.case_no, "state", row.state, "state_label",
	    cases_state_label(row.state), "version", (json_int_t)row.version, "org", "id",
	    (json_int_t)row.org_id, "code", org->nrows ? db_text(org, 0, 0) : "", "name",
	    org->nrows ? db_text(org, 0, 1) : "", "item", "code", row.item_code, "name",
	    m.item_name ? m.item_name : "", "sub_item", "code", row.sub_item_code, "name",
	    m.sub_item_name ? m.sub_item_name : "", "case_type", row.case_type, "promised_days",
	    row.promised_days, "promised_date", m.promised_date, "overdue",
	    overdue(row.state, m.promised_date, today), "channel", row.channel, "resident_id",
	    (json_int_t)row.resident_id, "applicant", "name",
	    m.applicant_mask ? m.applicant_mask : "", "id_number",
	    m.applicant_id_mask ? m.applicant_id_mask : "");
	if (!o) {
		e = ERR_NOMEM;
		goto out;
	}
	json_object_set(o, "form", row.form);
	json_object_set(o, "sources", row.sources);
	json_object_set(o, "prefill_errors", row.prefill_errors);
	json_object_set_new(o, "prereview", parse_or_null(m.prereview));
	json_object_set_new(o, "override", parse_or_null(m.override));
	json_object_set_new(o, "correction", parse_or_null(m.correction));
	json_object_set_new(o, "prev_state",
	                    m.prev_state ? json_string(m.prev_state) : json_null());
	json_object_set_new(o, "paused_days", json_integer(m.paused_days));
	json_object_set(o, "parties", parties);
	json_object_set_new(o, "materials", materials_summary(srv, c, a, &row, today));
	json_object_set_new(o, "result",
	                    db_is_null(rs, 0, 0) ? json_null() : json_string(db_text(rs, 0, 0)));
	json_object_set_new(o, "result_opinion",
	                    db_is_null(rs, 0, 1) ? json_null() : json_string(db_text(rs, 0, 1)));
	json_object_set_new(o, "cert_no",
	                    db_is_null(rs, 0, 2) ? json_null() : json_string(db_text(rs, 0, 2)));
	json_object_set_new(o, "closed_reason",
	                    db_is_null(rs, 0, 3) ? json_null() : json_string(db_text(rs, 0, 3)));
	json_object_set_new(o, "completed_at", ms_or_null(db_int(rs, 0, 4)));
	json_object_set_new(o, "closed_at", ms_or_null(db_int(rs, 0, 5)));
	json_object_set_new(o, "accepted_at", ms_or_null(m.accepted_at));
	const char *acc = user_name(c, a, m.accepted_by);
	json_object_set_new(o, "accepted_by", acc ? json_string(acc) : json_null());
	const char *cre = user_name(c, a, row.created_by);
	json_object_set_new(o, "created_by", cre ? json_string(cre) : json_null());
	json_object_set_new(o, "created_at", ms_or_null(row.created_at));
	json_object_set_new(o, "updated_at", ms_or_null(row.updated_at));
	json_object_set(o, "events", events);
	json_object_set_new(o, "delivery", delivery ? delivery : json_null());
	delivery = NULL;
	json_t *bjk = NULL; /* the 办件库 stage reports (cases_bjk.c) */
	json_object_set_new(o, "bjk", !cases_bjk_stages(c, a, case_no, &bjk) ? bjk : json_null());
	/* What the state allows now (the console offers only these; the server still checks
	 * every action and its permission). */
	json_t *acts = json_array();
	for (size_t i = 0; acts && cases_actions[i]; i++)
		if (cases_action_offered(&row, by->who, cases_actions[i]))
			json_array_append_new(acts, json_string(cases_actions[i]));
	json_object_set_new(o, "actions", acts ? acts : json_array());
	if ((e = cases_forward_describe(c, a, &row, o)) || (e = vwin_origin(c, a, row.id, o))) {
		json_decref(o);
		goto out;
	}
	/* The pinned sub-item (the version the case was opened under), so that the form is
	 * shown and filled by the schema it is checked against, not by a later version. */
	struct case_catalog cc = {0};
	if (case_catalog_get(srv, c, a, &row, &cc) == ERR_OK && json_is_object(cc.sub_item)) {
		json_t *sub = json_object_get(o, "sub_item");
		const char *k;
		json_t *v;
		json_object_foreach ((json_t *)cc.sub_item, k, v)
			if (!json_object_get(sub, k))
				json_object_set(sub, k, v);
	}
	case_catalog_release(&cc);
	*out = o;
out:
	json_decref(parties);
	json_decref(events);
	json_decref(delivery);
	case_row_release(&row);
	db_release(c);
	return e;
}

/* ---- lists ----------------------------------------------------------------------------- */

static bool state_known(const char *s)
{
	for (size_t i = 0; cases_states[i]; i++)
		if (!strcmp(cases_states[i], s))
			return true;
	return false;
}

/* q is a case number prefix ([0-9A-Z-]) or a document number (15 or 18 characters, no '-'). */
static bool q_is_id_number(const char *q)
{
	size_t n = strlen(q);
	return (n == 15 || n == 18) && !strchr(q, '-');
}

static bool q_ok(const char *q)
{
	size_t n = strlen(q);
	if (!n || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((q[i] >= '0' && q[i] <= '9') || (q[i] >= 'A' && q[i] <= 'Z') ||
		      (q[i] >= 'a' && q[i] <= 'z') || q[i] == '-'))
			return false;
	return true;
}

#define MAX_PARAMS 12

struct sqlq {
	struct buf sql;
	struct db_val p[MAX_PARAMS];
	int n;
};

static void bind_s(struct sqlq *q, const char *s)
{
	q->p[q->n++] =
	    (struct db_val){.type = s ? DB_TEXT : DB_NULL, .p = s, .n = s ? strlen(s) : 0};
}

static void bind_i(struct sqlq *q, int64_t i)
{
	q->p[q->n++] = (struct db_val){.type = DB_INT, .i = i};
}

enum err cases_list(struct server *srv, const struct cases_caller *by, struct arena *a,
                    const struct cases_list_query *in, json_t **out, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct sqlq q = {0};
	char today[11], at[32];
	const char *view = in->view && in->view[0] ? in->view : "all";
	int limit = in->limit ? in->limit : 50;
	enum err e = ERR_OK;
	*out = NULL;
	if (limit < 1 || limit > 200)
		return ei ? (ei->field = "limit", ei->msg = "每页条数应为 1–200", ERR_BAD_FIELD)
		          : ERR_BAD_FIELD;
	if (in->state && in->state[0] && !state_known(in->state)) {
		if (ei) {
			ei->field = "state";
			ei->msg =
			    "办件状态应为 draft、forwarded、accepted、in_progress、correction、"
			    "completed、refused 或 withdrawn";
		}
		return ERR_BAD_FIELD;
	}
	if (in->q && in->q[0] && !q_ok(in->q)) {
		if (ei) {
			ei->field = "q";
			ei->msg = "查询条件应为办件编号（或其开头部分）或证件号码";
		}
		return ERR_BAD_FIELD;
	}
	cases_today(today);
	buf_init(&q.sql, 8192);
	/* the receiving centre of a forwarded case (收受分离) lists it too */
	buf_puts(&q.sql, "SELECT c.id, c.case_no, c.state, c.sub_item_code, c.sub_item_name,"
	                 " c.applicant_mask, c.applicant_id_mask, c.case_type, c.promised_date,"
	                 " c.created_at, u.name, c.item_name, c.mode,"
	                 " CASE WHEN o.path LIKE ? THEN 0 ELSE 1 END, o.code, o.name"
	                 " FROM cases c JOIN orgs o ON o.id = c.org_id"
	                 " LEFT JOIN orgs rc ON rc.id = c.receiving_org_id"
	                 " LEFT JOIN users u ON u.id = c.created_by"
	                 " WHERE (o.path LIKE ? OR rc.path LIKE ?)");
	bind_s(&q, auth_scope_like(by->who, a));
	bind_s(&q, auth_scope_like(by->who, a));
	bind_s(&q, auth_scope_like(by->who, a));
	if (!strcmp(view, "today")) {
		int64_t now = time_now_ms();
		int64_t start = now - ((now / 1000 + 8 * 3600) % 86400) * 1000 - now % 1000;
		buf_puts(&q.sql, " AND c.created_at >= ?");
		bind_i(&q, start);
	} else if (!strcmp(view, "mine")) {
		buf_puts(&q.sql, " AND c.created_by = ?");
		bind_i(&q, by->who->user_id);
	} else if (!strcmp(view, "correction")) {
		buf_puts(&q.sql, " AND c.state = 'correction'");
	} else if (!strcmp(view, "overdue")) {
		buf_puts(&q.sql, " AND c.state IN ('accepted', 'in_progress')"
		                 " AND c.promised_date IS NOT NULL AND c.promised_date < ?");
		bind_s(&q, today);
	} else if (!strcmp(view, "forwarded_out")) {
		/* 已转出: forwarded by a centre of the caller's scope to one outside it */
		buf_puts(&q.sql, " AND c.org_id <> c.receiving_org_id AND rc.path LIKE ?"
		                 " AND o.path NOT LIKE ?");
		bind_s(&q, auth_scope_like(by->who, a));
		bind_s(&q, auth_scope_like(by->who, a));
	} else if (!strcmp(view, "forwarded_in")) {
		/* 待接收: forwarded to a centre of the caller's scope, not yet accepted */
		buf_puts(&q.sql, " AND c.state = 'forwarded' AND o.path LIKE ?");
		bind_s(&q, auth_scope_like(by->who, a));
	} else if (strcmp(view, "all")) {
		buf_release(&q.sql);
		if (ei) {
			ei->field = "view";
			ei->msg =
			    "视图应为 today、mine、correction、overdue、forwarded_out（已转出）、"
			    "forwarded_in（待接收）或 all";
		}
		return ERR_BAD_FIELD;
	}
	if (in->state && in->state[0]) {
		buf_puts(&q.sql, " AND c.state = ?");
		bind_s(&q, in->state);
	}
	if (in->q && in->q[0]) {
		if (q_is_id_number(in->q)) {
			buf_puts(&q.sql,
			         " AND (c.applicant_id_bidx = ? OR c.id IN (SELECT case_id FROM"
			         " case_parties WHERE id_number_bidx = ?))");
			bind_s(&q,
			       sensitive_bidx(srv->keys, "cases.applicant_id_number", in->q, a));
			bind_s(&q, sensitive_bidx(srv->keys, "case_parties.id_number", in->q, a));
		} else {
			char *up = arena_printf(a, "%s%%", in->q);
			for (char *p = up; p && *p; p++)
				if (*p >= 'a' && *p <= 'z')
					*p = (char)(*p - 'a' + 'A');
			buf_puts(&q.sql, " AND c.case_no LIKE ?");
			bind_s(&q, up);
		}
	}
	if (in->before > 0) {
		buf_puts(&q.sql, " AND c.id < ?");
		bind_i(&q, in->before);
	}
	if (buf_printf(&q.sql, " ORDER BY c.id DESC LIMIT %d", limit + 1)) {
		e = ERR_NOMEM;
		goto out;
	}
	if ((e = db_acquire(srv->db, 5000, &c)) || (e = db_execv(c, a, &rs, q.sql.p, q.p, q.n)))
		goto out;
	json_t *arr = json_array();
	int n = rs->nrows > limit ? limit : rs->nrows;
	for (int r = 0; arr && r < n; r++) {
		const char *state = db_text(rs, r, 2), *promised = db_text(rs, r, 8);
		json_array_append_new(
		    arr,
		    json_pack("{s:I,s:s,s:s,s:s,s:{s:s,s:s},s:s,s:{s:s,s:s},s:i,s:s?,s:b,s:s,s:s?}",
		              "id", (json_int_t)db_int(rs, r, 0), "case_no", db_text(rs, r, 1),
		              "state", state, "state_label", cases_state_label(state), "sub_item",
		              "code", db_text(rs, r, 3), "name", db_text(rs, r, 4), "item_name",
		              db_text(rs, r, 11), "applicant", "name", db_text(rs, r, 5),
		              "id_number", db_text(rs, r, 6), "case_type", (int)db_int(rs, r, 7),
		              "promised_date", promised, "overdue", overdue(state, promised, today),
		              "created_at", time_iso(db_int(rs, r, 9), at), "created_by",
		              db_text(rs, r, 10)));
		json_t *it = json_array_get(arr, json_array_size(arr) - 1);
		json_object_set_new(it, "mode", json_string(db_text(rs, r, 12)));
		json_object_set_new(it, "view_only", json_boolean(db_int(rs, r, 13)));
		json_object_set_new(
		    it, "org",
		    json_pack("{s:s,s:s}", "code", db_text(rs, r, 14), "name", db_text(rs, r, 15)));
	}
	*out = json_pack("{s:o,s:o}", "cases", arr ? arr : json_array(), "next_before",
	                 rs->nrows > limit ? json_integer(db_int(rs, n - 1, 0)) : json_null());
	if (!*out)
		e = ERR_NOMEM;
out:
	buf_release(&q.sql);
	db_release(c);
	return e;
}

/* ---- the receipt -------------------------------------------------------------------------- */

enum err cases_receipt(struct server *srv, const struct cases_caller *by, struct arena *a,
                       const char *case_no, json_t **out, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct case_row row = {0};
	struct case_more m;
	struct case_catalog cc = {0};
	struct db_rows *org = NULL, *rs = NULL;
	json_t *lines = NULL, *o = NULL;
	char at[32];
	enum err e;
	*out = NULL;
	if ((e = db_acquire(srv->db, 5000, &c)))
		return e;
	if ((e = case_load(srv, c, a, by->who, case_no, &row)) ||
	    (e = case_load_more(c, a, row.id, &m)))
		goto out;
	const char *kind = NULL, *title = NULL;
	if (!strcmp(row.state, "refused")) {
		kind = "refused";
		title = "不予受理告知书";
	} else if (!strcmp(row.state, "correction")) {
		kind = "correction";
		title = "补正告知书";
	} else if (!strcmp(row.state, "accepted") || !strcmp(row.state, "in_progress") ||
	           !strcmp(row.state, "completed")) {
		kind = "accepted";
		title = "受理回执";
	} else if (!strcmp(row.state, "forwarded")) {
		/* 收受分离: what the receiving centre took in, and where it went */
		kind = "forwarded";
		title = "收件回执（收受分离）";
	} else {
		if (ei) {
			ei->field = "state";
			ei->msg = arena_printf(a, "办件当前状态为“%s”，没有可打印的回执或告知书",
			                       cases_state_label(row.state));
		}
		e = ERR_BAD_STATE;
		goto out;
	}
	if ((e = db_exec(
	         c, a, &org, "SELECT code, name, phone, address FROM orgs WHERE id = ?", "i",
	         strcmp(kind, "forwarded") || !row.receiving_org_id ? row.org_id
	                                                            : row.receiving_org_id)) ||
	    (e = db_exec(c, a, &rs, "SELECT closed_reason, closed_at FROM cases WHERE id = ?", "i",
	                 row.id)))
		goto out;
	o = json_pack(
	    "{s:s,s:s,s:{s:s,s:s,s:s?,s:s?},s:s,s:{s:s,s:s},s:{s:s,s:s},s:{s:s,s:s},s:i,s:s,"
	    "s:s?,s:s}",
	    "kind", kind, "title", title, "centre", "code", org->nrows ? db_text(org, 0, 0) : "",
	    "name", org->nrows ? db_text(org, 0, 1) : "", "phone",
	    org->nrows ? db_text(org, 0, 2) : NULL, "address",
	    org->nrows ? db_text(org, 0, 3) : NULL, "case_no", row.case_no, "item", "code",
	    row.item_code, "name", m.item_name ? m.item_name : "", "sub_item", "code",
	    row.sub_item_code, "name", m.sub_item_name ? m.sub_item_name : "", "applicant", "name",
	    m.applicant_mask ? m.applicant_mask : "", "id_number",
	    m.applicant_id_mask ? m.applicant_id_mask : "", "case_type", row.case_type,
	    "case_type_label", row.case_type == 2 ? "承诺件" : "即办件", "promised_date",
	    m.promised_date, "query_hint", "凭办件编号查询办理进度");
	if (!o) {
		e = ERR_NOMEM;
		goto out;
	}
	const char *clerk = NULL;
	if (m.accepted_by) {
		struct db_rows *u = NULL;
		if (!db_exec(c, a, &u, "SELECT name FROM users WHERE id = ?", "i", m.accepted_by) &&
		    u->nrows == 1)
			clerk = db_text(u, 0, 0);
	}
	json_object_set_new(o, "accepted_at",
	                    m.accepted_at ? json_string(time_iso(m.accepted_at, at)) : json_null());
	json_object_set_new(o, "accepted_by", clerk ? json_string(clerk) : json_null());
	if (!strcmp(kind, "accepted") || !strcmp(kind, "forwarded")) {
		if ((e = case_catalog_get(srv, c, a, &row, &cc)) ||
		    (e = cases_materials_received(srv, c, a, &cc, &row, &lines)))
			goto out;
		json_object_set(o, "materials", lines);
		if (!strcmp(kind, "forwarded") &&
		    (e = db_exec(c, a, &rs, "SELECT code, name, phone FROM orgs WHERE id = ?", "i",
		                 row.org_id)))
			goto out;
		if (!strcmp(kind, "forwarded") && rs->nrows == 1)
			json_object_set_new(o, "responsible_centre",
			                    json_pack("{s:s,s:s,s:s?}", "code", db_text(rs, 0, 0),
			                              "name", db_text(rs, 0, 1), "phone",
			                              db_text(rs, 0, 2)));
	} else if (!strcmp(kind, "refused")) {
		json_object_set_new(o, "reason",
		                    json_string(db_text(rs, 0, 0) ? db_text(rs, 0, 0) : ""));
		json_object_set_new(o, "refused_at", ms_or_null(db_int(rs, 0, 1)));
	} else {
		json_t *corr = parse_or_null(m.correction);
		static const char *const keys[][2] = {
		    {"items", "items"}, {"note", "note"}, {"requested_day", "day"}};
		for (size_t k = 0; k < 3; k++) {
			json_t *v = json_object_get(corr, keys[k][1]);
			json_object_set_new(o, keys[k][0],
			                    v ? json_incref(v) : (k ? json_null() : json_array()));
		}
		json_decref(corr);
	}
	*out = o;
	o = NULL;
out:
	json_decref(o);
	json_decref(lines);
	case_catalog_release(&cc);
	case_row_release(&row);
	db_release(c);
	return e;
}
