/* sign_view.c: what the signing shows — the round's view, its PDF so far, the verification
 * of a seal — and the hooks into cases: the form guard, the acceptance gate and the
 * application_form material slot (docs/sign.md). */
#include <string.h>

#include "auth/auth.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "files/files.h"
#include "sensitive/sensitive.h"
#include "server/server.h"
#include "sign/sign_int.h"

static json_t *iso_or_null(int64_t ms)
{
	char at[32];
	return ms ? json_string(time_iso(ms, at)) : json_null();
}

static bool may_see_names(const struct principal *who)
{
	for (int i = 0; who && i < who->nperms; i++)
		if (!strcmp(who->perms[i], "ident.read"))
			return true;
	return !who; /* jobs */
}

static json_t *name_json(const struct principal *who, struct arena *a, const char *name)
{
	if (!name)
		return json_null();
	return json_string(may_see_names(who) ? name : sensitive_mask("name", name, a));
}

static json_t *commitment_texts(const json_t *commitments)
{
	json_t *out = json_array();
	size_t i;
	const json_t *c;
	json_array_foreach (commitments, i, c)
		json_array_append_new(out, json_pack("{s:s?,s:s?}", "id", json_get_str(c, "id"),
		                                     "text", json_get_str(c, "text")));
	return out;
}

static bool live(const struct sign_ctx *x)
{
	return x->has_round && strcmp(x->rd.state, "voided");
}

static json_t *view_json(const struct sign_ctx *x, const struct principal *who, struct arena *a)
{
	const char *state = x->has_round ? x->rd.state : "none";
	json_t *signers = json_array();
	bool open = live(x) && !strcmp(x->rd.state, "open");
	const char *next = NULL;
	for (size_t i = 0; signers && i < x->plan.nsigners; i++) {
		const struct sign_signer *g = &x->plan.signers[i];
		const struct sign_sig *s = NULL;
		for (size_t k = 0; live(x) && k < x->nsigs; k++)
			if (!strcmp(x->sigs[k].role, g->role))
				s = &x->sigs[k];
		const char *status = s ? "signed" : "waiting";
		if (!s && open && !next && i == x->nsigs) {
			status = "next";
			next = g->role;
		}
		json_array_append_new(
		    signers,
		    json_pack(
		        "{s:s,s:s,s:s,s:o,s:o,s:s?,s:s?,s:o,s:O}", "role", g->role, "label",
		        g->label, "status", status, "signed_at", iso_or_null(s ? s->signed_at : 0),
		        "signer_name", name_json(who, a, s ? s->name : NULL), "device",
		        s ? s->device : NULL, "captured_by", s ? s->captured_by : NULL,
		        "commitments", commitment_texts(x->plan.commitments), "ticked",
		        s && s->commitments ? s->commitments : json_arena_own(a, json_array())));
	}
	bool stale = live(x) && !x->nsigs && strcmp(x->rd.form_sm3, x->form_sm3);
	json_t *seal = json_null();
	if (x->has_round && x->rd.sealed_at)
		seal = json_pack("{s:o,s:s?,s:s?}", "sealed_at", iso_or_null(x->rd.sealed_at),
		                 "key_id", x->rd.key_id, "digest", x->rd.digest);
	json_t *voided = json_null();
	if (x->has_round && !strcmp(x->rd.state, "voided"))
		voided = json_pack("{s:s?,s:o}", "reason", x->rd.voided_reason, "at",
		                   iso_or_null(x->rd.voided_at));
	return json_pack("{s:s,s:s,s:o,s:s,s:b,s:o,s:o,s:o,s:s,s:b,s:o,s:o,s:s?,s:b,s:b,s:o}",
	                 "case_no", x->row.case_no, "state", state, "round",
	                 x->has_round ? json_integer(x->rd.no) : json_null(), "form_kind",
	                 x->plan.kind, "multi_sign", x->plan.multi_sign, "signers", signers,
	                 "commitments", commitment_texts(x->plan.commitments), "form_sm3",
	                 x->has_round ? json_string(x->rd.form_sm3) : json_null(),
	                 "current_form_sm3", x->form_sm3, "stale", stale, "seal", seal, "voided",
	                 voided, "next", next, "editable",
	                 !strcmp(x->row.state, "draft") || !strcmp(x->row.state, "correction"),
	                 "required", strcmp(x->plan.kind, "none") && x->plan.nsigners > 0,
	                 "started_at", iso_or_null(x->has_round ? x->rd.created_at : 0));
}

enum err sign_view(struct server *srv, const struct principal *who, struct arena *a,
                   const char *case_no, json_t **out, struct errinfo *ei)
{
	struct sign_ctx x = {0};
	struct db_conn *c = NULL;
	enum err e = db_acquire(srv->db, SIGN_DB_WAIT, &c);
	if (!e && !(e = sign_ctx_load(srv, c, a, who, case_no, &x, ei)) &&
	    !(*out = view_json(&x, who, a)))
		e = ERR_NOMEM;
	db_release(c);
	sign_ctx_release(&x);
	return e;
}

enum err sign_pdf(struct server *srv, const struct principal *who, struct arena *a,
                  const char *case_no, struct buf *pdf, struct errinfo *ei)
{
	struct sign_ctx x = {0};
	struct db_conn *c = NULL;
	const void *data = NULL;
	size_t n = 0;
	enum err e;
	if ((e = db_acquire(srv->db, SIGN_DB_WAIT, &c)) ||
	    (e = sign_ctx_load(srv, c, a, who, case_no, &x, ei)))
		goto out;
	if (!live(&x)) {
		e = err_fail(ei, ERR_NOT_FOUND, "signing", "尚未开始签名");
		goto out;
	}
	/* sealed: the stored document byte for byte; unsigned: the stored one too */
	int64_t fid = !strcmp(x.rd.state, "sealed") ? x.rd.final_file_id
	              : x.nsigs                     ? 0
	                                            : x.rd.base_file_id;
	if (fid) {
		e = files_read(srv, c, a, fid, &data, &n, NULL);
		if (e == ERR_INTEGRITY)
			e = err_fail(ei, e, "file",
			             "申请表文件校验失败（存储的内容已损坏或被篡改）");
		if (!e)
			e = buf_append(pdf, data, n);
		goto out;
	}
	db_release(c);
	c = NULL;
	e = sign_render(srv, who, a, &x, NULL, pdf, ei);
out:
	db_release(c);
	sign_ctx_release(&x);
	return e;
}

/* ---- verification ---------------------------------------------------------------------- */

static void reason(json_t *reasons, const char *msg)
{
	json_array_append_new(reasons, json_string(msg));
}

enum err sign_verify(struct server *srv, const struct principal *who, struct arena *a,
                     const char *case_no, json_t **out, struct errinfo *ei)
{
	struct sign_ctx x = {0};
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct crypto_sm2_key *key = NULL;
	struct file_info fi = {0};
	json_t *reasons = json_arena_own(a, json_array());
	const char *pub_hex = NULL;
	const void *pdf = NULL;
	size_t pdf_n = 0;
	bool pdf_ok = false;
	enum err e;
	*out = NULL;
	if (!reasons)
		return ERR_NOMEM;
	if ((e = db_acquire(srv->db, SIGN_DB_WAIT, &c)) ||
	    (e = sign_ctx_load(srv, c, a, who, case_no, &x, ei)))
		goto out;
	if (!x.has_round || strcmp(x.rd.state, "sealed")) {
		e = err_fail(ei, ERR_NOT_FOUND, "signature", "该办件没有已签章的申请表");
		goto out;
	}
	/* the key recorded for the seal, not whatever key file this node has */
	if ((e = db_exec(c, a, &rs, "SELECT public_key FROM seal_keys WHERE key_id = ?", "s",
	                 x.rd.key_id)))
		goto out;
	unsigned char pub[CRYPTO_SM2_PUB_LEN];
	pub_hex = rs->nrows == 1 ? db_text(rs, 0, 0) : NULL;
	if (!pub_hex || strlen(pub_hex) != 2 * CRYPTO_SM2_PUB_LEN ||
	    !hex_decode(pub_hex, strlen(pub_hex), pub, sizeof(pub)) ||
	    crypto_sm2_from_public_raw(pub, &key))
		reason(reasons, arena_printf(a, "签章密钥 %s 未登记或记录有误",
		                             x.rd.key_id ? x.rd.key_id : ""));
	else {
		char id[SIGN_KEY_ID_HEX_LEN + 1];
		sign_key_id(pub, id);
		if (strcmp(id, x.rd.key_id))
			reason(reasons, "登记的签章公钥与密钥编号不符");
	}
	e = files_read(srv, c, a, x.rd.final_file_id, &pdf, &pdf_n, &fi);
	if (e == ERR_INTEGRITY || e == ERR_NOT_FOUND)
		reason(reasons, "签章后的申请表文件校验失败（文件已损坏或被篡改）");
	else if (e)
		goto out;
	else
		pdf_ok = true;
	if (!pdf_ok && fi.id == 0)
		files_info(c, a, x.rd.final_file_id, &fi);
	/* each record against what it describes: the PNG's file and the sealed strokes */
	for (size_t i = 0; i < x.nsigs; i++) {
		struct file_info pf;
		const char *strokes = NULL;
		unsigned char d[CRYPTO_SM3_LEN];
		char hex[65];
		const struct sign_sig *s = &x.sigs[i];
		if (files_info(c, a, s->png_file_id, &pf) || !s->png_sm3 ||
		    strcmp(pf.sm3, s->png_sm3))
			reason(reasons, arena_printf(a, "%s的签名图片与签名记录不一致", s->label));
		if (sign_open_text(srv, a, "sign.strokes", s->strokes_enc, s->strokes_enc_n,
		                   &strokes) ||
		    !strokes) {
			reason(reasons,
			       arena_printf(a, "%s的签名笔迹记录无法解密（已被篡改）", s->label));
			continue;
		}
		crypto_sm3(strokes, strlen(strokes), d);
		for (int k = 0; k < CRYPTO_SM3_LEN; k++)
			snprintf(hex + 2 * k, 3, "%02x", d[k]);
		if (!s->strokes_sm3 || strcmp(hex, s->strokes_sm3))
			reason(reasons, arena_printf(a, "%s的签名笔迹与签名记录不一致", s->label));
	}
	db_release(c);
	c = NULL;
	if (pdf_ok) {
		struct sign_record *recs = arena_zalloc(a, sizeof(*recs) * (x.nsigs + 1));
		unsigned char d[CRYPTO_SM3_LEN];
		char hex[65];
		if (!recs) {
			e = ERR_NOMEM;
			goto out;
		}
		sign_records_of(&x, recs);
		struct sign_sealed sd = {.case_no = x.row.case_no,
		                         .round = x.rd.no,
		                         .form_sm3 = x.rd.form_sm3,
		                         .recs = recs,
		                         .nrecs = x.nsigs,
		                         .sealed_at = x.rd.sealed_at};
		if ((e = sign_seal_digest(&sd, pdf, pdf_n, d)))
			goto out;
		for (int k = 0; k < CRYPTO_SM3_LEN; k++)
			snprintf(hex + 2 * k, 3, "%02x", d[k]);
		if (!x.rd.digest || strcmp(hex, x.rd.digest))
			reason(reasons, "申请表或签名记录与签章时不一致（摘要不符）");
		if (key && sign_seal_verify(key, d, x.rd.signature))
			reason(reasons,
			       "签章签名值验证失败（签章后内容被改动，或签名值、密钥不符）");
	}
	json_t *signers = json_array();
	for (size_t i = 0; signers && i < x.nsigs; i++) {
		const struct sign_sig *s = &x.sigs[i];
		json_array_append_new(
		    signers,
		    json_pack("{s:i,s:s,s:s,s:o,s:o,s:s,s:s,s:s,s:O}", "seq", s->seq, "role",
		              s->role, "label", s->label, "signer_name", name_json(who, a, s->name),
		              "signed_at", iso_or_null(s->signed_at), "device", s->device,
		              "png_sm3", s->png_sm3, "strokes_sm3", s->strokes_sm3, "commitments",
		              s->commitments ? s->commitments : json_arena_own(a, json_array())));
	}
	*out = json_pack("{s:s,s:b,s:O,s:i,s:o,s:s?,s:s?,s:s?,s:s?,s:s?,s:o}", "case_no",
	                 x.row.case_no, "valid", json_array_size(reasons) == 0, "reasons", reasons,
	                 "round", x.rd.no, "sealed_at", iso_or_null(x.rd.sealed_at), "key_id",
	                 x.rd.key_id, "public_key", pub_hex, "digest", x.rd.digest, "signature",
	                 x.rd.signature, "pdf_sm3", fi.id ? fi.sm3 : NULL, "signers",
	                 signers ? signers : json_array());
	e = *out ? ERR_OK : ERR_NOMEM;
out:
	crypto_sm2_destroy(key);
	db_release(c);
	sign_ctx_release(&x);
	return e;
}

/* ---- hooks into cases -------------------------------------------------------------------- */

/* Does the application_form slot hold a scan or upload of a paper-signed form? */
static enum err has_paper(struct db_conn *c, struct arena *a, int64_t case_id, bool *yes)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT COUNT(*) FROM case_materials WHERE case_id = ?"
	                     " AND material_id = ? AND source IN ('scan', 'upload', 'kiosk_photo')",
	                     "is", case_id, SIGN_SLOT);
	*yes = !e && db_int(rs, 0, 0) > 0;
	return e;
}

/* The gate: signed (a sealed round for the form as it is now) or a paper-signed scan.
 * *why is NULL when the form counts as signed. */
static enum err gate(struct server *srv, struct db_conn *c, struct arena *a,
                     const struct case_catalog *cc, const struct case_row *row, bool *applies,
                     bool *done, const char **why)
{
	struct sign_plan p;
	struct sign_round rd;
	char sm3[65];
	bool found = false, paper = false;
	enum err e;
	*applies = *done = false;
	*why = NULL;
	if ((e = sign_plan_of(cc, row, a, &p)))
		return e;
	if (!strcmp(p.kind, "none") || !p.nsigners)
		return ERR_OK;
	*applies = srv->cfg.accept_requires_signature;
	if ((e = has_paper(c, a, row->id, &paper)) ||
	    (e = sign_round_latest(c, a, row->id, &rd, &found)) ||
	    (e = sign_form_sm3(row->form, sm3)))
		return e;
	if (paper) {
		*done = true;
		return ERR_OK;
	}
	if (found && !strcmp(rd.state, "sealed")) {
		if (!strcmp(rd.form_sm3, sm3)) {
			*done = true;
			return ERR_OK;
		}
		*why = "申请表签名后表单已被修改，请作废签名后重新签名";
		return ERR_OK;
	}
	*why = "申请表尚未完成签名（电子签名或上传签字后的申请表扫描件）";
	return ERR_OK;
}

static enum err hook_accept(void *ctx, struct server *srv, struct db_conn *c, struct arena *a,
                            const struct case_catalog *cc, const struct case_row *row,
                            json_t *problems)
{
	(void)ctx;
	bool applies, done;
	const char *why;
	enum err e = gate(srv, c, a, cc, row, &applies, &done, &why);
	if (!e && applies && !done)
		json_array_append_new(problems, json_pack("{s:s,s:s,s:s}", "kind", "signature",
		                                          "field", SIGN_SLOT, "message", why));
	return e;
}

static enum err hook_form(void *ctx, struct db_conn *c, struct arena *a, const struct case_row *row,
                          struct errinfo *ei)
{
	(void)ctx;
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT COUNT(*) FROM case_signings s WHERE s.case_id = ?"
	                     " AND (s.state = 'sealed' OR (s.state = 'open' AND EXISTS (SELECT 1"
	                     " FROM case_signatures g WHERE g.signing_id = s.id)))",
	                     "i", row->id);
	if (e)
		return e;
	if (db_int(rs, 0, 0))
		return err_fail(ei, ERR_BAD_STATE, "form", "申请表已签名，如需修改请先作废签名");
	return ERR_OK;
}

static enum err hook_slots(void *ctx, struct server *srv, struct db_conn *c, struct arena *a,
                           const struct case_catalog *cc, const struct case_row *row,
                           json_t **slots)
{
	(void)ctx;
	bool applies, done;
	const char *why;
	const char *kind = json_get_str(json_object_get(cc->sub_item, "application_form"), "kind");
	*slots = NULL;
	if (!kind || !strcmp(kind, "none"))
		return ERR_OK;
	enum err e = gate(srv, c, a, cc, row, &applies, &done, &why);
	if (e)
		return e;
	json_t *slot = json_pack(
	    "{s:s,s:s,s:s,s:b,s:b,s:[sss],s:i,s:b,s:i,s:s,s:s?}", "id", SIGN_SLOT, "name", "申请表",
	    "need", "required", "required_now", applies, "complete", done || !applies, "sources",
	    "e_sign", "scan", "upload", "count", 1, "original", 0, "copies", 0, "note",
	    "电子签名完成后自动归入；纸质签字的，请上传签字后的申请表扫描件", "status", why);
	*slots = slot ? json_pack("[o]", slot) : NULL;
	return *slots ? ERR_OK : ERR_NOMEM;
}

enum err sign_hooks_register(struct server *srv)
{
	const struct cases_ext ext = {
	    .ctx = NULL, .form_guard = hook_form, .accept_check = hook_accept, .slots = hook_slots};
	if (!cases_state_of(srv)) {
		log_warn("sign.hooks", "the cases module is not running: signing is not wired");
		return ERR_OK;
	}
	return cases_ext_register(srv, &ext);
}
