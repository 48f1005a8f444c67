/* sign.c: signing rounds of a case's application form — the plan as it applies to the form,
 * loading a round, and the three writes: start (the unsigned PDF, bound to the materials),
 * a signature (and, after the last one, the seal), void (docs/sign.md).
 *
 * Each write renders, hashes, encrypts and fsyncs before its write unit (the PDF and PNG
 * through files_prepare, the seal's SM2 signature), then one db_write_unit stores it whole.
 * The unit re-checks what the checks relied on: the case's version and state (a guarded
 * UPDATE, which on PostgreSQL also takes the row lock a form save or an acceptance takes)
 * and the round's state and signature count. */
#include <string.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "catalog/catalog.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "events/events.h"
#include "files/files.h"
#include "forms/forms.h"
#include "server/server.h"
#include "sign/sign_int.h"

/* ---- the plan ------------------------------------------------------------------------- */

static void today_cst(char out[11])
{
	char iso[32];
	time_iso(time_now_ms(), iso);
	memcpy(out, iso, 10);
	out[10] = 0;
}

enum err sign_plan_of(const struct case_catalog *cc, const struct case_row *row, struct arena *a,
                      struct sign_plan *out)
{
	const json_t *plan = json_object_get(cc->sub_item, "signatures");
	const json_t *signers = json_object_get(plan, "signers");
	const char *kind = json_get_str(json_object_get(cc->sub_item, "application_form"), "kind");
	struct catalog_form_result res = {0};
	json_t *data = NULL;
	char today[11];
	size_t i;
	const json_t *s;
	enum err e = ERR_NOMEM;
	memset(out, 0, sizeof(*out));
	out->kind = kind ? kind : "none";
	out->multi_sign = json_is_true(json_object_get(plan, "multi_sign"));
	out->commitments = json_object_get(plan, "commitments");
	if (!json_is_array(out->commitments))
		out->commitments = json_arena_own(a, json_array());
	out->signers = arena_zalloc(a, (json_array_size(signers) + 1) * sizeof(*out->signers));
	if (!out->signers || !out->commitments)
		goto out;
	/* `when` sees the form as the conditions of materials do: computed fields filled in */
	today_cst(today);
	if (!(data = row->form ? json_deep_copy(row->form) : json_object()))
		goto out;
	if (catalog_form_evaluate(cc->ref, cc->sub_item, row->form, today, &res) == ERR_OK &&
	    json_is_object(res.computed)) {
		const char *k;
		json_t *v;
		json_object_foreach (res.computed, k, v)
			if (!strchr(k, '['))
				json_path_set_new(data, k, json_incref(v));
	}
	json_array_foreach (signers, i, s) {
		const char *role = json_get_str(s, "role"), *when = json_get_str(s, "when");
		if (!role)
			continue;
		if (when) {
			struct catalog_expr *ex = NULL;
			const char *why = NULL;
			if (catalog_expr_parse(when, a, &ex, &why)) {
				log_warn("sign.plan", "signer %s: condition does not parse", role);
				continue;
			}
			json_t *v = catalog_expr_eval(ex, data, NULL, today);
			bool on = catalog_expr_truthy(v);
			json_decref(v);
			if (!on)
				continue;
		}
		struct sign_signer *g = &out->signers[out->nsigners++];
		g->role = role;
		g->label = json_get_str(s, "label") ? json_get_str(s, "label") : role;
	}
	e = ERR_OK;
out:
	catalog_form_result_release(&res);
	json_decref(data);
	return e;
}

enum err sign_form_sm3(const json_t *form, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[CRYPTO_SM3_LEN];
	json_t *empty = form ? NULL : json_object();
	char *text = json_dumps(form ? form : empty, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(empty);
	if (!text)
		return ERR_NOMEM;
	crypto_sm3(text, strlen(text), d);
	free(text);
	for (int i = 0; i < CRYPTO_SM3_LEN; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = 0;
	return ERR_OK;
}

/* ---- loading --------------------------------------------------------------------------- */

#define ROUND_COLS                                                                                 \
	"id, round, state, form_sm3, base_file_id, final_file_id, pdf_created_ms, sealed_at,"      \
	" seal_digest, seal_signature, seal_key_id, voided_reason, voided_at, created_at"

enum err sign_round_latest(struct db_conn *c, struct arena *a, int64_t case_id,
                           struct sign_round *r, bool *found)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT " ROUND_COLS " FROM case_signings WHERE case_id = ?"
	                     " ORDER BY CASE WHEN state = 'voided' THEN 1 ELSE 0 END, round DESC"
	                     " LIMIT 1",
	                     "i", case_id);
	*found = false;
	memset(r, 0, sizeof(*r));
	if (e || rs->nrows != 1)
		return e;
	*found = true;
	r->id = db_int(rs, 0, 0);
	r->no = (int)db_int(rs, 0, 1);
	r->state = db_text(rs, 0, 2);
	r->form_sm3 = db_text(rs, 0, 3);
	r->base_file_id = db_int(rs, 0, 4);
	r->final_file_id = db_int(rs, 0, 5);
	r->pdf_created_ms = db_int(rs, 0, 6);
	r->sealed_at = db_int(rs, 0, 7);
	r->digest = db_text(rs, 0, 8);
	r->signature = db_text(rs, 0, 9);
	r->key_id = db_text(rs, 0, 10);
	r->voided_reason = db_text(rs, 0, 11);
	r->voided_at = db_int(rs, 0, 12);
	r->created_at = db_int(rs, 0, 13);
	return ERR_OK;
}

enum err sign_open_text(struct server *srv, struct arena *a, const char *context, const void *blob,
                        size_t n, const char **out)
{
	struct buf b;
	enum err e;
	*out = NULL;
	if (!blob)
		return ERR_OK;
	buf_init(&b, 4u << 20);
	e = keyring_decrypt(srv->keys, context, blob, n, &b);
	if (!e && !(*out = arena_strndup(a, b.p ? b.p : "", b.len)))
		e = ERR_NOMEM;
	if (b.p)
		crypto_wipe(b.p, b.len);
	buf_release(&b);
	return e;
}

static enum err seal_text(struct server *srv, struct arena *a, const char *context,
                          const char *text, const void **blob, size_t *n)
{
	struct buf b;
	enum err e;
	*blob = NULL;
	*n = 0;
	if (!text)
		return ERR_OK;
	buf_init(&b, 8u << 20);
	e = keyring_encrypt(srv->keys, context, text, strlen(text), &b);
	if (!e && !(*blob = arena_memdup(a, b.p, b.len)))
		e = ERR_NOMEM;
	*n = b.len;
	buf_release(&b);
	return e;
}

enum err sign_sigs_load(struct server *srv, struct db_conn *c, struct arena *a, int64_t round_id,
                        struct sign_sig **out, size_t *n)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT s.seq, s.role, s.label, s.signer_name_enc, s.png_file_id,"
	                     " s.png_sm3, s.strokes_enc, s.strokes_sm3, s.commitments, s.device,"
	                     " COALESCE(u.name, u.username), s.signed_at"
	                     " FROM case_signatures s LEFT JOIN users u ON u.id = s.captured_by"
	                     " WHERE s.signing_id = ? ORDER BY s.seq",
	                     "i", round_id);
	*out = NULL;
	*n = 0;
	if (e)
		return e;
	struct sign_sig *v = arena_zalloc(a, sizeof(*v) * (size_t)(rs->nrows + 1));
	if (!v)
		return ERR_NOMEM;
	for (int i = 0; i < rs->nrows; i++) {
		const struct db_val *name = db_cell(rs, i, 3), *strokes = db_cell(rs, i, 6);
		v[i].seq = (int)db_int(rs, i, 0);
		v[i].role = db_text(rs, i, 1);
		v[i].label = db_text(rs, i, 2);
		v[i].png_file_id = db_int(rs, i, 4);
		v[i].png_sm3 = db_text(rs, i, 5);
		v[i].strokes_enc = strokes->type == DB_BLOB ? strokes->p : NULL;
		v[i].strokes_enc_n = strokes->n;
		v[i].strokes_sm3 = db_text(rs, i, 7);
		v[i].commitments = json_arena_own(a, json_loads(db_text(rs, i, 8), 0, NULL));
		v[i].device = db_text(rs, i, 9);
		v[i].captured_by = db_text(rs, i, 10);
		v[i].signed_at = db_int(rs, i, 11);
		if (name->type == DB_BLOB && name->n &&
		    (e = sign_open_text(srv, a, "sign.signer_name", name->p, name->n, &v[i].name)))
			return e;
	}
	*out = v;
	*n = (size_t)rs->nrows;
	return ERR_OK;
}

enum err sign_ctx_load(struct server *srv, struct db_conn *c, struct arena *a,
                       const struct principal *who, const char *case_no, struct sign_ctx *x,
                       struct errinfo *ei)
{
	struct db_rows *rs = NULL;
	enum err e = case_load(srv, c, a, who, case_no, &x->row);
	if (e == ERR_NOT_FOUND)
		return err_fail(ei, e, "no",
		                arena_printf(a, "办件不存在：%s", case_no ? case_no : ""));
	if (e || (e = case_catalog_get(srv, c, a, &x->row, &x->cc)) ||
	    (e = sign_plan_of(&x->cc, &x->row, a, &x->plan)) ||
	    (e = sign_form_sm3(x->row.form, x->form_sm3)) ||
	    (e = sign_round_latest(c, a, x->row.id, &x->rd, &x->has_round)))
		return e;
	if (x->has_round && (e = sign_sigs_load(srv, c, a, x->rd.id, &x->sigs, &x->nsigs)))
		return e;
	if ((e = db_exec(c, a, &rs, "SELECT code FROM orgs WHERE id = ?", "i", x->row.org_id)))
		return e;
	x->org_code = rs->nrows == 1 ? db_text(rs, 0, 0) : NULL;
	return ERR_OK;
}

void sign_ctx_release(struct sign_ctx *x)
{
	case_catalog_release(&x->cc);
	case_row_release(&x->row);
}

void sign_records_of(const struct sign_ctx *x, struct sign_record *recs)
{
	for (size_t i = 0; i < x->nsigs; i++)
		recs[i] = (struct sign_record){.seq = x->sigs[i].seq,
		                               .role = x->sigs[i].role,
		                               .label = x->sigs[i].label,
		                               .signer_name = x->sigs[i].name,
		                               .png_sm3 = x->sigs[i].png_sm3,
		                               .strokes_sm3 = x->sigs[i].strokes_sm3,
		                               .commitments = x->sigs[i].commitments,
		                               .signed_at = x->sigs[i].signed_at,
		                               .device = x->sigs[i].device};
}

enum err sign_state_ok(struct arena *a, const struct case_row *row, struct errinfo *ei)
{
	if (row->view_only) /* the receiving centre after forwarding (收受分离) */
		return err_fail(ei, ERR_FORBIDDEN, "state",
		                "该办件已转交受理中心，收件中心只能查看");
	if (!strcmp(row->state, "draft") || !strcmp(row->state, "correction"))
		return ERR_OK;
	return err_fail(ei, ERR_BAD_STATE, "state",
	                arena_printf(a, "办件当前状态为“%s”，只有待受理或补正中的办件可以签名",
	                             cases_state_label(row->state)));
}

enum err sign_render(struct server *srv, const struct principal *who, struct arena *a,
                     const struct sign_ctx *x, const struct forms_signature *extra, struct buf *pdf,
                     struct errinfo *ei)
{
	struct forms_signature *sg = arena_zalloc(a, sizeof(*sg) * (x->nsigs + 2));
	struct db_conn *c = NULL;
	size_t n = 0;
	enum err e;
	if (!sg)
		return ERR_NOMEM;
	if (x->nsigs && (e = db_acquire(srv->db, SIGN_DB_WAIT, &c)))
		return e;
	for (size_t i = 0; i < x->nsigs; i++) {
		const void *png = NULL;
		size_t png_n = 0;
		if ((e = files_read(srv, c, a, x->sigs[i].png_file_id, &png, &png_n, NULL))) {
			db_release(c);
			if (e == ERR_INTEGRITY)
				return err_fail(
				    ei, e, "signatures",
				    arena_printf(a, "%s的签名图片校验失败（已损坏或被篡改）",
				                 x->sigs[i].label));
			return e;
		}
		sg[n++] = (struct forms_signature){x->sigs[i].role, png, png_n};
	}
	db_release(c);
	if (extra)
		sg[n++] = *extra;
	struct forms_opts o = {
	    .signatures = sg, .nsignatures = n, .created_ms = x->rd.pdf_created_ms};
	return forms_render_case(srv, who, a, x->row.case_no, &o, pdf, ei);
}

/* ---- shared pieces of the write units ---------------------------------------------------- */

/* The case is still at version (or, version 0, in any version) and in draft or correction;
 * the UPDATE takes the row lock on PostgreSQL. */
static enum err guard_case(struct db_conn *c, struct arena *a, const struct case_row *row,
                           int64_t version, struct errinfo *ei)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "UPDATE cases SET updated_at = updated_at WHERE id = ?"
	                     " AND (version = ? OR ? = 0) AND state IN ('draft', 'correction')",
	                     "iii", row->id, version, version);
	if (e)
		return e;
	if (rs->changes != 1)
		return err_fail(ei, ERR_CONFLICT, "version",
		                "办件刚被修改（表单或状态已变化），请刷新后重试");
	return ERR_OK;
}

/* The live round's id and signature count now (0, 0 when none). */
static enum err live_now(struct db_conn *c, struct arena *a, int64_t case_id, int64_t *id,
                         const char **state, int64_t *nsigs)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT s.id, s.state, (SELECT COUNT(*) FROM case_signatures g"
	                     " WHERE g.signing_id = s.id) FROM case_signings s"
	                     " WHERE s.case_id = ? AND s.state <> 'voided'",
	                     "i", case_id);
	*id = 0;
	*nsigs = 0;
	*state = NULL;
	if (e || rs->nrows != 1)
		return e;
	*id = db_int(rs, 0, 0);
	*state = db_text(rs, 0, 1);
	*nsigs = db_int(rs, 0, 2);
	return ERR_OK;
}

/* Remove the server-made entries of the application_form slot whose source is in sources
 * (SQL list), giving back their references. */
static enum err drop_entries(struct db_conn *c, struct arena *a, int64_t case_id, bool sealed_too)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT id, file_id FROM case_materials WHERE case_id = ?"
	                     " AND material_id = ? AND (source = 'generated' OR (source = 'e_sign'"
	                     " AND ? = 1))",
	                     "isi", case_id, SIGN_SLOT, (int64_t)sealed_too);
	for (int i = 0; !e && i < rs->nrows; i++)
		if (!(e = db_exec(c, a, NULL, "DELETE FROM case_materials WHERE id = ?", "i",
		                  db_int(rs, i, 0))))
			e = files_unref(c, db_int(rs, i, 1));
	return e;
}

static enum err add_entry(struct db_conn *c, struct arena *a, const struct sign_caller *by,
                          int64_t case_id, int64_t file_id, const char *source, const char *title,
                          int64_t now)
{
	enum err e = files_ref(c, file_id);
	if (!e)
		e = db_exec(
		    c, a, NULL,
		    "INSERT INTO case_materials (case_id, material_id, file_id, source, title,"
		    " added_by, added_by_name, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		    "isissisi", case_id, SIGN_SLOT, file_id, source, title, by->who->user_id,
		    by->who->name && *by->who->name ? by->who->name : by->who->username, now);
	return e;
}

static enum err audit(struct db_conn *c, struct arena *a, const struct sign_caller *by,
                      const char *case_no, const char *action, json_t *detail)
{
	struct audit_entry ae = {.actor_id = by->who->user_id,
	                         .actor_name = by->who->username,
	                         .action = action,
	                         .target = arena_printf(a, "case:%s", case_no),
	                         .detail = detail ? json_dump_arena(detail, a) : NULL,
	                         .client_ip = by->client_ip,
	                         .trace_id = by->trace_id};
	json_decref(detail);
	return audit_append(c, a, &ae);
}

/* After a commit: tell the centre's open case lists (as the cases module's events do). */
static void announce(struct server *srv, struct arena *a, const struct case_row *row,
                     const char *event)
{
	char topic[200];
	if (!srv->bus || !row->org_path ||
	    snprintf(topic, sizeof(topic), "scope:%s:cases", row->org_path) >= (int)sizeof(topic))
		return;
	json_t *p = json_pack("{s:s,s:s,s:I,s:s,s:s,s:s}", "case_no", row->case_no, "state",
	                      row->state, "org_id", (json_int_t)row->org_id, "org_path",
	                      row->org_path, "sub_item_code", row->sub_item_code, "event", event);
	const char *text = p ? json_dump_arena(p, a) : NULL;
	json_decref(p);
	if (text)
		event_bus_publish(srv->bus, topic, text);
}

/* ---- start -------------------------------------------------------------------------------- */

struct start_ctx {
	struct server *srv;
	const struct sign_caller *by;
	struct arena *a;
	struct errinfo *ei;
	struct sign_ctx *x;
	struct files_prepared prep;
	int64_t now, restart_id; /* restart_id: the open round replaced (0 = a new round) */
	int round;
};

static enum err start_unit(struct db_conn *c, void *ctx)
{
	struct start_ctx *s = ctx;
	struct sign_ctx *x = s->x;
	struct db_rows *rs = NULL;
	struct file_info fi;
	int64_t live = 0, nsigs = 0;
	const char *state = NULL;
	enum err e;
	if ((e = guard_case(c, s->a, &x->row, x->row.version, s->ei)) ||
	    (e = live_now(c, s->a, x->row.id, &live, &state, &nsigs)))
		return e;
	if (live != s->restart_id || nsigs)
		return err_fail(s->ei, ERR_CONFLICT, "signing", "签名状态刚被修改，请刷新后重试");
	if ((e = files_commit(s->srv, c, s->a, &s->prep, FILES_REF, &fi)))
		return e;
	if (s->restart_id) {
		if ((e = db_exec(c, s->a, &rs,
		                 "SELECT base_file_id, round FROM case_signings"
		                 " WHERE id = ?",
		                 "i", s->restart_id)) ||
		    (e = files_unref(c, db_int(rs, 0, 0))))
			return e;
		s->round = (int)db_int(rs, 0, 1);
		e = db_exec(c, s->a, NULL,
		            "UPDATE case_signings SET form_sm3 = ?, base_file_id = ?,"
		            " pdf_created_ms = ?, created_by = ?, updated_at = ? WHERE id = ?",
		            "siiiii", x->form_sm3, fi.id, s->now, s->by->who->user_id, s->now,
		            s->restart_id);
	} else {
		if ((e = db_exec(c, s->a, &rs,
		                 "SELECT COALESCE(MAX(round), 0) + 1 FROM case_signings"
		                 " WHERE case_id = ?",
		                 "i", x->row.id)))
			return e;
		s->round = (int)db_int(rs, 0, 0);
		e = db_exec(
		    c, s->a, NULL,
		    "INSERT INTO case_signings (case_id, round, state, form_sm3, base_file_id,"
		    " pdf_created_ms, created_by, created_at, updated_at)"
		    " VALUES (?, ?, 'open', ?, ?, ?, ?, ?, ?)",
		    "iisiiiii", x->row.id, (int64_t)s->round, x->form_sm3, fi.id, s->now,
		    s->by->who->user_id, s->now, s->now);
	}
	if (e || (e = drop_entries(c, s->a, x->row.id, false)) ||
	    (e = add_entry(c, s->a, s->by, x->row.id, fi.id, "generated", "申请表（待签名）",
	                   s->now)))
		return e;
	return audit(c, s->a, s->by, x->row.case_no, "sign.start",
	             json_pack("{s:i,s:s,s:b,s:I}", "round", s->round, "form_sm3", x->form_sm3,
	                       "restart", s->restart_id != 0, "file_id", (json_int_t)fi.id));
}

/* Why the case cannot be signed at all (ERR_BAD_STATE), or ERR_OK. */
static enum err signable(struct arena *a, const struct sign_ctx *x, struct errinfo *ei)
{
	if (!strcmp(x->plan.kind, "none"))
		return err_fail(ei, ERR_BAD_STATE, "application_form",
		                "该事项没有申请表，无需签名");
	if (!x->plan.nsigners)
		return err_fail(
		    ei, ERR_BAD_STATE, "application_form",
		    arena_printf(a, "该事项%s的申请表无需签名（签名方案中没有适用的签名人）",
		                 x->plan.multi_sign ? "" : "当前情形"));
	return ERR_OK;
}

/* Loads the signing context of case_no as who sees it into x (the caller releases it) and
 * checks that the case is in a state to sign and its form has signers; the connection is back
 * in the pool on return, as the signing that follows renders and hashes without it. */
static enum err load_signable(struct server *srv, const struct principal *who, struct arena *a,
                              const char *case_no, struct sign_ctx *x, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	enum err e;
	if (!(e = db_acquire(srv->db, SIGN_DB_WAIT, &c)) &&
	    !(e = sign_ctx_load(srv, c, a, who, case_no, x, ei)) &&
	    !(e = sign_state_ok(a, &x->row, ei)))
		e = signable(a, x, ei);
	db_release(c);
	return e;
}

enum err sign_start(struct server *srv, const struct sign_caller *by, struct arena *a,
                    const char *case_no, json_t **out, struct errinfo *ei)
{
	struct sign_ctx x = {0};
	struct buf pdf;
	enum err e;
	*out = NULL;
	buf_init(&pdf, SIGN_PDF_MAX);
	if ((e = load_signable(srv, by->who, a, case_no, &x, ei)))
		goto out;
	struct start_ctx s = {
	    .srv = srv, .by = by, .a = a, .ei = ei, .x = &x, .now = time_now_ms()};
	bool live = x.has_round && strcmp(x.rd.state, "voided");
	if (live && !strcmp(x.rd.state, "sealed")) {
		e = err_fail(ei, ERR_BAD_STATE, "signing",
		             "申请表已完成签名并签章；如需重新签名，请先作废本轮签名");
		goto out;
	}
	if (live && !strcmp(x.rd.form_sm3, x.form_sm3))
		goto view; /* the same form: the same round */
	if (live && x.nsigs) {
		e = err_fail(ei, ERR_BAD_STATE, "signing",
		             "申请表已有签名，表单变更后不能继续；请先作废本轮签名再重新开始");
		goto out;
	}
	s.restart_id = live ? x.rd.id : 0;
	/* the unsigned PDF, dated now: later renderings of this round use the same date */
	x.rd.pdf_created_ms = s.now;
	x.nsigs = 0;
	if ((e = sign_render(srv, by->who, a, &x, NULL, &pdf, ei)))
		goto out;
	if ((e = files_prepare(srv, a, pdf.p, pdf.len, "application/pdf", FILES_SERVER_MADE,
	                       &s.prep, ei)) ||
	    (e = db_write_unit(srv->db, start_unit, &s, SIGN_DB_WAIT)))
		goto out;
	announce(srv, a, &x.row, "sign.start");
view:
	e = sign_view(srv, by->who, a, case_no, out, ei);
out:
	buf_release(&pdf);
	sign_ctx_release(&x);
	return e;
}

/* ---- a signature, and the seal after the last one ---------------------------------------- */

struct add_ctx {
	struct server *srv;
	const struct sign_caller *by;
	struct arena *a;
	struct errinfo *ei;
	struct sign_ctx *x;
	const struct sign_signer *who; /* the signer */
	struct files_prepared png, final;
	const char *png_sm3, *strokes_sm3, *commitments, *device;
	const void *name_enc, *strokes_enc;
	size_t name_enc_n, strokes_enc_n;
	int64_t now;
	bool last;
	/* the seal (last) */
	const char *digest, *signature, *key_id, *pub_hex;
	int64_t sealed_at;
};

static enum err add_unit(struct db_conn *c, void *ctx)
{
	struct add_ctx *s = ctx;
	struct sign_ctx *x = s->x;
	struct file_info png, fin;
	int64_t live = 0, nsigs = 0;
	const char *state = NULL;
	struct db_rows *rs = NULL;
	enum err e;
	if ((e = guard_case(c, s->a, &x->row, x->row.version, s->ei)) ||
	    (e = live_now(c, s->a, x->row.id, &live, &state, &nsigs)))
		return e;
	if (live != x->rd.id || strcmp(state, "open") || nsigs != (int64_t)x->nsigs)
		return err_fail(s->ei, ERR_CONFLICT, "signing", "签名状态刚被修改，请刷新后重试");
	if ((e = files_commit(s->srv, c, s->a, &s->png, FILES_REF, &png)) ||
	    (e = db_exec(c, s->a, NULL,
	                 "INSERT INTO case_signatures (signing_id, seq, role, label,"
	                 " signer_name_enc, png_file_id, png_sm3, strokes_enc, strokes_sm3,"
	                 " commitments, device, captured_by, signed_at)"
	                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                 "iissbisbsssii", x->rd.id, (int64_t)x->nsigs + 1, s->who->role,
	                 s->who->label, s->name_enc, s->name_enc_n, png.id, s->png_sm3,
	                 s->strokes_enc, s->strokes_enc_n, s->strokes_sm3, s->commitments,
	                 s->device, s->by->who->user_id, s->now)) ||
	    (e = audit(c, s->a, s->by, x->row.case_no, "sign.signature",
	               json_pack("{s:i,s:i,s:s,s:s,s:s,s:I}", "round", x->rd.no, "seq",
	                         (int)x->nsigs + 1, "role", s->who->role, "device", s->device,
	                         "png_sm3", s->png_sm3, "file_id", (json_int_t)png.id))))
		return e;
	if (!s->last)
		return ERR_OK;
	if ((e = files_commit(s->srv, c, s->a, &s->final, FILES_REF, &fin)) ||
	    (e = db_exec(c, s->a, &rs,
	                 "UPDATE case_signings SET state = 'sealed', final_file_id = ?,"
	                 " seal_digest = ?, seal_signature = ?, seal_key_id = ?, sealed_at = ?,"
	                 " updated_at = ? WHERE id = ? AND state = 'open'",
	                 "isssiii", fin.id, s->digest, s->signature, s->key_id, s->sealed_at,
	                 s->now, x->rd.id)))
		return e;
	if (rs->changes != 1)
		return err_fail(s->ei, ERR_CONFLICT, "signing", "签名状态刚被修改，请刷新后重试");
	if ((e = db_exec(c, s->a, NULL,
	                 "INSERT INTO seal_keys (org_id, key_id, public_key, created_at)"
	                 " VALUES (?, ?, ?, ?) ON CONFLICT (key_id) DO NOTHING",
	                 "issi", x->row.org_id, s->key_id, s->pub_hex, s->now)) ||
	    (e = add_entry(c, s->a, s->by, x->row.id, fin.id, "e_sign", "申请表（电子签名）",
	                   s->now)))
		return e;
	return audit(c, s->a, s->by, x->row.case_no, "sign.seal",
	             json_pack("{s:i,s:s,s:s,s:s,s:I}", "round", x->rd.no, "digest", s->digest,
	                       "key_id", s->key_id, "pdf_sm3", fin.sm3, "file_id",
	                       (json_int_t)fin.id));
}

/* The commitments ticked, as stored: every commitment of the plan, in plan order, each
 * with the time; ERR_BAD_FIELD for an id the plan does not have, ERR_INVALID naming the
 * texts not ticked. */
static enum err ticks_of(struct arena *a, const struct sign_plan *p, const json_t *ticked,
                         int64_t now, const char **out, struct errinfo *ei)
{
	json_t *list = json_arena_own(a, json_array());
	struct buf missing;
	char at[32];
	size_t i, j;
	const json_t *v, *cm;
	enum err e = ERR_OK;
	if (!list)
		return ERR_NOMEM;
	time_iso(now, at);
	json_array_foreach (ticked, i, v) {
		bool known = false;
		json_array_foreach (p->commitments, j, cm)
			known |= json_is_string(v) && json_get_str(cm, "id") &&
			         !strcmp(json_get_str(cm, "id"), json_string_value(v));
		if (!known)
			return err_fail(
			    ei, ERR_BAD_FIELD, "commitments",
			    arena_printf(a, "承诺事项编号不正确：%s",
			                 json_is_string(v) ? json_string_value(v) : "（非文本）"));
	}
	buf_init(&missing, 64000);
	json_array_foreach (p->commitments, j, cm) {
		const char *id = json_get_str(cm, "id"), *text = json_get_str(cm, "text");
		bool yes = false;
		json_array_foreach (ticked, i, v)
			yes |= id && !strcmp(json_string_value(v), id);
		if (!yes)
			buf_printf(&missing, "%s“%s”", missing.len ? "、" : "", text ? text : "");
		else
			json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "id", id, "text",
			                                      text ? text : "", "ticked_at", at));
	}
	if (missing.len)
		e = err_fail(ei, ERR_INVALID, "commitments",
		             arena_printf(a, "签名前请逐项确认承诺事项，尚未勾选：%s", missing.p));
	buf_release(&missing);
	if (!e && !(*out = json_dump_arena(list, a)))
		e = ERR_NOMEM;
	return e;
}

static enum err sm3_hex(struct arena *a, const void *p, size_t n, const char **out)
{
	unsigned char d[CRYPTO_SM3_LEN];
	struct buf h;
	crypto_sm3(p, n, d);
	buf_init(&h, 80);
	enum err e = buf_hex(&h, d, sizeof(d));
	if (!e && !(*out = arena_strndup(a, h.p, h.len)))
		e = ERR_NOMEM;
	buf_release(&h);
	return e;
}

/* The centre's seal key (made on first use) and its id and public point in hex. */
static enum err seal_key(struct server *srv, struct arena *a, const char *org_code,
                         struct crypto_sm2_key **key, const char **key_id, const char **pub_hex)
{
	char dir[4096], name[200], id[SIGN_KEY_ID_HEX_LEN + 1];
	unsigned char pub[CRYPTO_SM2_PUB_LEN];
	struct buf h;
	enum err e;
	*key = NULL;
	if (!org_code || !*org_code ||
	    strspn(org_code, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                     "abcdefghijklmnopqrstuvwxyz_-") != strlen(org_code))
		return ERR_CONFIG;
	if (!srv->cfg.data_dir ||
	    snprintf(dir, sizeof(dir), "%s/keys", srv->cfg.data_dir) >= (int)sizeof(dir) ||
	    snprintf(name, sizeof(name), "seal-%s.pem", org_code) >= (int)sizeof(name))
		return ERR_CONFIG;
	if ((e = crypto_sm2_keyfile_load(dir, name, true, key)) ||
	    (e = crypto_sm2_public_raw(*key, pub)))
		return e;
	sign_key_id(pub, id);
	buf_init(&h, 2 * CRYPTO_SM2_PUB_LEN + 1);
	if (!(e = buf_hex(&h, pub, sizeof(pub))) &&
	    (!(*pub_hex = arena_strndup(a, h.p, h.len)) || !(*key_id = arena_strdup(a, id))))
		e = ERR_NOMEM;
	buf_release(&h);
	return e;
}

/* Render the final PDF with every signature and seal it (outside any transaction). */
static enum err seal(struct server *srv, struct arena *a, struct add_ctx *s,
                     const struct forms_signature *mine, struct buf *pdf)
{
	struct sign_ctx *x = s->x;
	struct crypto_sm2_key *key = NULL;
	struct sign_record *recs = arena_zalloc(a, sizeof(*recs) * (x->nsigs + 1));
	unsigned char d[CRYPTO_SM3_LEN];
	struct buf sig, h;
	enum err e;
	if (!recs)
		return ERR_NOMEM;
	if ((e = sign_render(srv, s->by->who, a, x, mine, pdf, s->ei)))
		return e;
	if ((e = seal_key(srv, a, x->org_code, &key, &s->key_id, &s->pub_hex))) {
		err_fail(s->ei, e, NULL, "中心签章密钥不可用，请联系运维人员");
		return e;
	}
	sign_records_of(x, recs);
	recs[x->nsigs] = (struct sign_record){.seq = (int)x->nsigs + 1,
	                                      .role = s->who->role,
	                                      .label = s->who->label,
	                                      .signer_name = NULL,
	                                      .png_sm3 = s->png_sm3,
	                                      .strokes_sm3 = s->strokes_sm3,
	                                      .commitments = NULL,
	                                      .signed_at = s->now,
	                                      .device = s->device};
	/* the record as it will be read back: the name and the ticks as stored */
	json_t *cm = json_arena_own(a, json_loads(s->commitments, 0, NULL));
	recs[x->nsigs].commitments = cm;
	if (s->name_enc && (e = sign_open_text(srv, a, "sign.signer_name", s->name_enc,
	                                       s->name_enc_n, &recs[x->nsigs].signer_name)))
		goto out;
	s->sealed_at = s->now;
	struct sign_sealed sd = {.case_no = x->row.case_no,
	                         .round = x->rd.no,
	                         .form_sm3 = x->rd.form_sm3,
	                         .recs = recs,
	                         .nrecs = x->nsigs + 1,
	                         .sealed_at = s->sealed_at};
	buf_init(&sig, 256);
	buf_init(&h, 80);
	if (!(e = sign_seal_digest(&sd, pdf->p, pdf->len, d)) &&
	    !(e = sign_seal_sign(key, d, &sig)) && !(e = buf_hex(&h, d, sizeof(d))) &&
	    (!(s->digest = arena_strndup(a, h.p, h.len)) ||
	     !(s->signature = arena_strndup(a, sig.p, sig.len))))
		e = ERR_NOMEM;
	buf_release(&sig);
	buf_release(&h);
	if (!e)
		e = files_prepare(srv, a, pdf->p, pdf->len, "application/pdf", FILES_SERVER_MADE,
		                  &s->final, s->ei);
out:
	crypto_sm2_destroy(key);
	return e;
}

static const char *default_name(const json_t *form, const char *role, struct arena *a)
{
	char path[64];
	snprintf(path, sizeof(path), "%s.name", role);
	const char *v = json_string_value(json_path_get(form, path));
	return v && *v ? arena_strdup(a, v) : NULL;
}

enum err sign_add(struct server *srv, const struct sign_caller *by, struct arena *a,
                  const char *case_no, const struct sign_input *in, json_t **out,
                  struct errinfo *ei)
{
	struct sign_ctx x = {0};
	struct buf png, pdf;
	const char *why = NULL;
	enum err e;
	*out = NULL;
	buf_init(&png, SIGN_PNG_MAX);
	buf_init(&pdf, SIGN_PDF_MAX);
	struct add_ctx s = {.srv = srv, .by = by, .a = a, .ei = ei, .x = &x, .now = time_now_ms()};
	s.device = in->device ? in->device : "window";
	if (strcmp(s.device, "window") && strcmp(s.device, "kiosk") && strcmp(s.device, "pad")) {
		e = err_fail(
		    ei, ERR_BAD_FIELD, "device",
		    "签名设备（device）应为 window（窗口）、kiosk（自助终端）或 pad（上门办平板）");
		goto out;
	}
	e = base64_decode(in->png_b64, strlen(in->png_b64), BASE64_SPACE, &png);
	if (e == ERR_TOO_LARGE) {
		e = err_fail(ei, ERR_TOO_LARGE, "png", "签名图片过大（最多 512 KB）");
		goto out;
	}
	if (e || !sign_png_ok(png.p, png.len, NULL, NULL)) {
		e = err_fail(ei, ERR_BAD_FIELD, "png",
		             "签名图片（png）应为 base64 编码的 PNG 图片，宽高不超过 4000 像素");
		goto out;
	}
	if ((e = sign_strokes_check(in->strokes, NULL, &why))) {
		e = err_fail(ei, e, "strokes", why);
		goto out;
	}
	const char *strokes = json_dump_arena(in->strokes, a);
	if (!strokes) {
		e = ERR_NOMEM;
		goto out;
	}
	if ((e = load_signable(srv, by->who, a, case_no, &x, ei)))
		goto out;
	if (!x.has_round || !strcmp(x.rd.state, "voided")) {
		e = err_fail(ei, ERR_BAD_STATE, "signing", "尚未开始签名，请先生成待签名的申请表");
		goto out;
	}
	if (!strcmp(x.rd.state, "sealed")) {
		e = err_fail(ei, ERR_BAD_STATE, "signing", "申请表已完成签名并签章");
		goto out;
	}
	if (strcmp(x.rd.form_sm3, x.form_sm3)) {
		e = err_fail(ei, ERR_BAD_STATE, "signing",
		             x.nsigs ? "签名开始后表单已被修改；请作废本轮签名后重新开始"
		                     : "签名开始后表单已被修改；请重新生成待签名的申请表");
		goto out;
	}
	bool planned = false;
	for (size_t i = 0; i < x.plan.nsigners; i++)
		planned |= !strcmp(x.plan.signers[i].role, in->role);
	if (!planned) {
		e = err_fail(ei, ERR_BAD_FIELD, "role",
		             arena_printf(a, "签名人角色不在本办件的签名方案中：%s", in->role));
		goto out;
	}
	if (x.nsigs >= x.plan.nsigners) {
		e = err_fail(ei, ERR_BAD_STATE, "role", "所有签名人均已签名");
		goto out;
	}
	s.who = &x.plan.signers[x.nsigs];
	if (strcmp(s.who->role, in->role)) {
		e = err_fail(ei, ERR_BAD_STATE, "role",
		             arena_printf(a, "签名须按顺序进行，当前应由%s签名", s.who->label));
		goto out;
	}
	if ((e = ticks_of(a, &x.plan, in->commitments, s.now, &s.commitments, ei)))
		goto out;
	const char *name = in->signer_name && *in->signer_name
	                       ? in->signer_name
	                       : default_name(x.row.form, in->role, a);
	s.last = x.nsigs + 1 == x.plan.nsigners;
	if ((e = sm3_hex(a, png.p, png.len, &s.png_sm3)) ||
	    (e = sm3_hex(a, strokes, strokes ? strlen(strokes) : 0, &s.strokes_sm3)) ||
	    (e = seal_text(srv, a, "sign.signer_name", name, &s.name_enc, &s.name_enc_n)) ||
	    (e = seal_text(srv, a, "sign.strokes", strokes, &s.strokes_enc, &s.strokes_enc_n)))
		goto out;
	if ((e = files_prepare(srv, a, png.p, png.len, "image/png", 0, &s.png, ei)))
		goto out;
	struct forms_signature mine = {s.who->role, png.p, png.len};
	if (s.last && (e = seal(srv, a, &s, &mine, &pdf)))
		goto out;
	if ((e = db_write_unit(srv->db, add_unit, &s, SIGN_DB_WAIT)))
		goto out;
	announce(srv, a, &x.row, s.last ? "sign.seal" : "sign.signature");
	e = sign_view(srv, by->who, a, case_no, out, ei);
out:
	buf_release(&png);
	buf_release(&pdf);
	sign_ctx_release(&x);
	return e;
}

/* ---- void ---------------------------------------------------------------------------------- */

struct void_ctx {
	const struct sign_caller *by;
	struct arena *a;
	struct errinfo *ei;
	struct sign_ctx *x;
	const char *reason;
	int64_t now;
};

static enum err void_unit(struct db_conn *c, void *ctx)
{
	struct void_ctx *s = ctx;
	struct db_rows *rs = NULL;
	enum err e;
	if ((e = guard_case(c, s->a, &s->x->row, 0, s->ei)) ||
	    (e = db_exec(c, s->a, &rs,
	                 "UPDATE case_signings SET state = 'voided', voided_reason = ?,"
	                 " voided_by = ?, voided_at = ?, updated_at = ?"
	                 " WHERE id = ? AND state IN ('open', 'sealed')",
	                 "siiii", s->reason, s->by->who->user_id, s->now, s->now, s->x->rd.id)))
		return e;
	if (rs->changes != 1)
		return err_fail(s->ei, ERR_CONFLICT, "signing", "签名状态刚被修改，请刷新后重试");
	if ((e = drop_entries(c, s->a, s->x->row.id, true)))
		return e;
	return audit(c, s->a, s->by, s->x->row.case_no, "sign.void",
	             json_pack("{s:i,s:s,s:s,s:I}", "round", s->x->rd.no, "state", s->x->rd.state,
	                       "reason", s->reason, "signatures", (json_int_t)s->x->nsigs));
}

enum err sign_void(struct server *srv, const struct sign_caller *by, struct arena *a,
                   const char *case_no, const char *reason, json_t **out, struct errinfo *ei)
{
	struct sign_ctx x = {0};
	struct db_conn *c = NULL;
	enum err e;
	size_t n = reason ? strlen(reason) : 0;
	*out = NULL;
	if (!reason || !utf8_valid(reason, n) || utf8_len(reason, n) < 5 ||
	    utf8_len(reason, n) > 200 || str_trim(str_from(reason)).n == 0)
		return err_fail(ei, ERR_BAD_FIELD, "reason", "作废理由应为 5 至 200 个字");
	if ((e = db_acquire(srv->db, SIGN_DB_WAIT, &c)) ||
	    (e = sign_ctx_load(srv, c, a, by->who, case_no, &x, ei)) ||
	    (e = sign_state_ok(a, &x.row, ei)))
		goto out;
	db_release(c);
	c = NULL;
	if (!x.has_round || !strcmp(x.rd.state, "voided")) {
		e = err_fail(ei, ERR_BAD_STATE, "signing", "没有可作废的签名");
		goto out;
	}
	struct void_ctx s = {
	    .by = by, .a = a, .ei = ei, .x = &x, .reason = reason, .now = time_now_ms()};
	if ((e = db_write_unit(srv->db, void_unit, &s, SIGN_DB_WAIT)))
		goto out;
	announce(srv, a, &x.row, "sign.void");
	e = sign_view(srv, by->who, a, case_no, out, ei);
out:
	db_release(c);
	sign_ctx_release(&x);
	return e;
}
