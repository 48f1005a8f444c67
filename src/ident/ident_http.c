/* ident_http.c: the routes of identity documents — POST /api/v1/ident/check, /card, /manual,
 * /evoucher — and the module (route table, init). The resident routes are in
 * ident_residents.c.
 *
 * Every read of a document (card, manual entry, e-voucher) is one write unit (db_write_unit,
 * group commit): the resident created or updated, an ident_reads row with the payload
 * sealed, the card photo in the file store, and the audit entry; the clerk sees the resident
 * only after it committed (the profile is read back after the commit). The e-voucher flow
 * and the photo's files_prepare run before the unit. Numbers never reach the audit log or
 * the process log. */
#include "ident/ident_int.h"

#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "db/db.h"
#include "files/files.h"
#include "gateway/gateway.h"
#include "http/http.h"
#include "server/server.h"

#define EVOUCHER_FLOW    "yibao.evoucher_verify"
#define EVOUCHER_EXPIRED "医保电子凭证已过期，请居民刷新后重新出示"

enum err ident_acquire(struct req *r, struct db_conn **c)
{
	enum err e = db_acquire(r->srv->db, IDENT_DB_WAIT_MS, c);
	if (e == ERR_DB_BUSY)
		return req_fail(r, e, NULL, "数据库繁忙，请稍后再试");
	return e;
}

enum err ident_audit(struct req *r, struct db_conn *c, const char *action, int64_t resident_id,
                     json_t *detail)
{
	struct audit_entry ae = {
	    .actor_id = r->who ? r->who->user_id : 0,
	    .actor_name = r->who ? r->who->username : NULL,
	    .action = action,
	    .target = arena_printf(r->arena, "resident:%lld", (long long)resident_id),
	    .detail = detail ? json_dump_arena(detail, r->arena) : NULL,
	    .client_ip = r->client_ip,
	    .trace_id = r->trace.trace_id,
	};
	json_decref(detail);
	if (!ae.target)
		return ERR_NOMEM;
	return audit_append(c, r->arena, &ae);
}

enum err ident_fail_ei(struct req *r, enum err e, const struct errinfo *ei, const char *prefix)
{
	const char *field = ei->field;
	if (field && prefix)
		field = arena_printf(r->arena, "%s%s", prefix, field);
	if (ei->msg)
		return req_fail(r, e, field, "%s", ei->msg);
	return req_fail(r, e, field, NULL);
}

/* ---- POST /api/v1/ident/check ---- */

static const struct json_field check_body[] = {
    {"type", JF_STRING, JF_NULLABLE, 1, 10, "证件类型"},
    {"number", JF_STRING, JF_REQUIRED, 0, IDENT_NUMBER_MAX, "证件号码"},
    {NULL, 0, 0, 0, 0, NULL},
};

static enum err h_check(struct req *r, struct resp *w)
{
	struct ident_doc d;
	const char *type = json_get_str(r->json, "type");
	if (type && !ident_type_name(type))
		return req_fail(r, ERR_INVALID, "type", "不支持的证件类型“%s”", type);
	enum err e = ident_check(type, json_get_str(r->json, "number"), NULL, r->arena, &d);
	if (e && e != ERR_INVALID)
		return e;
	json_t *o = ident_doc_json(&d, false);
	if (!o)
		return ERR_NOMEM;
	resp_json(w, 200, o);
	return ERR_OK;
}

/* ---- recording a read ---- */

/* One read of a document, recorded by record_read. */
struct read_job {
	const char *method; /* card | manual | evoucher */
	const char *action; /* ident.card_read | ident.manual_entry | ident.evoucher */
	json_t *profile;    /* for ident_resident_upsert (borrowed) */
	bool keep_name;     /* manual entry: an existing resident keeps the name on record */
	const char *id_type;
	const json_t *card; /* payload to seal in ident_reads (borrowed; may be NULL) */
	const char *reader, *flag, *reason;
	const void *photo; /* decoded card photo, or NULL */
	size_t photo_n;
	json_t *detail;     /* audit detail members (borrowed; copied) */
	const char *prefix; /* for field names in errors, e.g. "card." */
	/* results */
	int64_t resident_id, read_id;
	bool created;
	const char *name_on_record; /* keep_name: the stored name when it differs */
	json_t *profile_out;        /* PROFILE after the commit (arena) */
};

/* The write unit of a read. photo: the card photo made durable by files_prepare before the
 * unit (NULL when the read has none). */
struct read_unit {
	struct req *r;
	struct read_job *j;
	const struct files_prepared *photo;
	struct errinfo ei;
};

static enum err record_once(struct db_conn *c, void *ctx)
{
	struct read_unit *x = ctx;
	struct req *r = x->r;
	struct read_job *j = x->j;
	struct errinfo *ei = &x->ei;
	struct server *srv = r->srv;
	struct file_info fi = {0};
	struct ident_row row;
	int64_t found = 0;
	enum err e = ident_resident_find(srv, c, r->arena, j->id_type,
	                                 json_get_str(j->profile, "id_number"), &found);
	if (e && e != ERR_NOT_FOUND)
		return e;
	j->created = !found;
	j->name_on_record = NULL;
	if (found && j->keep_name) {
		if ((e = ident_store_load(srv, c, r->arena, found, &row)))
			return e;
		const char *typed = json_get_str(j->profile, "name");
		if (typed && row.name && strcmp(typed, row.name) != 0)
			j->name_on_record = row.name;
		json_object_del(j->profile, "name");
	}
	if ((e = ident_resident_upsert(srv, c, r->arena, j->profile,
	                               !strcmp(j->method, "evoucher") ? "evoucher" : j->method,
	                               &j->resident_id, ei)))
		return e;
	if (x->photo) {
		/* One reference for the read, one for the resident's current photo. */
		if ((e = files_commit(srv, c, r->arena, x->photo, FILES_REF, &fi))) {
			ei->field = "photo";
			return e;
		}
		if ((e = ident_store_load(srv, c, r->arena, j->resident_id, &row)))
			return e;
		if (row.photo_file_id != fi.id) {
			if ((e = files_ref(c, fi.id)) ||
			    (row.photo_file_id > 0 && (e = files_unref(c, row.photo_file_id))) ||
			    (e = ident_store_photo(c, r->arena, j->resident_id, fi.id)))
				return e;
		}
	}
	struct ident_read_rec rec = {
	    .resident_id = j->resident_id,
	    .method = j->method,
	    .id_type = j->id_type,
	    .reader = j->reader,
	    .type_flag = j->flag,
	    .reason = j->reason,
	    .card = j->card,
	    .photo_file_id = fi.id,
	    .clerk_id = r->who ? r->who->user_id : 0,
	    .org_id = r->who ? r->who->org_id : 0,
	};
	if ((e = ident_store_read_insert(srv, c, r->arena, &rec, &j->read_id)))
		return e;
	json_t *detail = json_deep_copy(j->detail);
	if (!detail || json_object_set_new(detail, "read_id", json_integer(j->read_id)) ||
	    json_object_set_new(detail, "created", json_boolean(j->created))) {
		json_decref(detail);
		return ERR_NOMEM;
	}
	return ident_audit(r, c, j->action, j->resident_id, detail);
}

/* Record j as one write unit, once more when a concurrent read of the same new resident won
 * the race (unique index) or PostgreSQL asks for a retry; then read the stored profile back
 * for the answer. The card photo's blob is made durable first, with no transaction and no
 * connection held. */
static enum err record_read(struct req *r, struct read_job *j)
{
	struct db_conn *c = NULL;
	struct read_unit x = {.r = r, .j = j};
	struct files_prepared photo = {.size = 0};
	json_t *keep = json_deep_copy(j->profile);
	enum err e = keep ? ERR_OK : ERR_NOMEM;
	if (!e && j->photo &&
	    (e = files_prepare(r->srv, r->arena, j->photo, j->photo_n, "image/jpeg", 0, &photo,
	                       &x.ei)))
		x.ei.field = "photo";
	x.photo = j->photo ? &photo : NULL;
	for (int attempt = 0; !e && attempt < 2; attempt++) {
		memset(&x.ei, 0, sizeof(x.ei));
		e = db_write_unit(r->srv->db, record_once, &x, IDENT_DB_WAIT_MS);
		if (e == ERR_DB_BUSY && !x.ei.msg) {
			e = req_fail(r, e, NULL, "数据库繁忙，请稍后再试");
			break;
		}
		if (!e || (e != ERR_EXISTS && e != ERR_CONFLICT) || attempt == 1)
			break;
		json_object_update(j->profile, keep); /* keep_name may have removed the name */
		e = ERR_OK;
	}
	if (!e && !(e = ident_acquire(r, &c)))
		e = ident_resident_get(r->srv, c, r->arena, j->resident_id, &j->profile_out);
	db_release(c);
	json_decref(keep);
	if (e && (x.ei.msg || x.ei.field))
		return ident_fail_ei(r, e, &x.ei, j->prefix);
	return e;
}

/* The answer of a read: {"resident", "read_id", "doc", "warnings", "created"}. */
static enum err answer(struct req *r, struct resp *w, struct read_job *j, const struct ident_doc *d,
                       json_t *warnings, int status)
{
	json_t *view = ident_view(r->arena, req_has_perm(r, "ident.read"), j->profile_out);
	json_t *doc = ident_doc_json(d, false);
	json_t *o = view && doc ? json_pack("{s:O,s:I,s:o,s:O,s:b}", "resident", view, "read_id",
	                                    (json_int_t)j->read_id, "doc", doc, "warnings",
	                                    warnings, "created", j->created)
	                        : NULL;
	if (!o)
		return ERR_NOMEM;
	resp_json(w, status, o);
	return ERR_OK;
}

/* ---- POST /api/v1/ident/card ---- */

static const struct json_field card_body[] = {
    {"reader", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 64, "读卡器编号"},
    {"type_flag", JF_STRING, JF_NULLABLE, 0, 8, "证件类型标志"},
    {"card", JF_OBJECT, JF_REQUIRED, 0, 0, "证件信息"},
    {NULL, 0, 0, 0, 0, NULL},
};

/* What a reader may send: the members of the card types it reads (docs/cases.md). */
static const struct json_field card_fields[] = {
    {"name", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 50, "姓名"},
    {"english_name", JF_STRING, JF_NULLABLE, 0, 120, "英文姓名"},
    {"sex", JF_STRING, JF_NULLABLE, 1, 1, "性别"},
    {"nation", JF_STRING, JF_NULLABLE, 1, 2, "民族"},
    {"birth_date", JF_STRING, JF_NULLABLE, 8, 10, "出生日期"},
    {"address", JF_STRING, JF_NULLABLE, 0, 200, "住址"},
    {"id_number", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 32, "证件号码"},
    {"issuer", JF_STRING, JF_NULLABLE, 0, 100, "签发机关"},
    {"valid_from", JF_STRING, JF_NULLABLE, 0, 10, "有效期起始日期"},
    {"valid_to", JF_STRING, JF_NULLABLE, 0, 10, "有效期截止日期"},
    {"photo", JF_STRING, JF_NULLABLE, 0, 1400000, "照片"},
    {"card_no", JF_STRING, JF_NULLABLE, 0, 40, "卡号"},
    {"card_version", JF_STRING, JF_NULLABLE, 0, 10, "证件版本"},
    {"region", JF_STRING, JF_NULLABLE, 0, 12, "发卡地区"},
    {"pass_no", JF_STRING, JF_NULLABLE, 0, 20, "通行证号码"},
    {"nationality", JF_STRING, JF_NULLABLE, 0, 3, "国籍"},
    {NULL, 0, 0, 0, 0, NULL},
};

static int b64val(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+' || ch == '-')
		return 62;
	if (ch == '/' || ch == '_')
		return 63;
	return -1;
}

/* Decode base64 (standard or URL alphabet; white space, line breaks and a missing padding
 * tolerated, as reader SDKs differ) into arena memory. false on any other character. */
static bool b64_decode(struct arena *a, const char *s, const unsigned char **out, size_t *n)
{
	size_t len = strlen(s), k = 0;
	unsigned char *p = arena_alloc(a, len / 4 * 3 + 3);
	uint32_t acc = 0;
	int bits = 0;
	bool pad = false;
	if (!p)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == ' ' || ch == '\n' || ch == '\r' || ch == '\t')
			continue;
		if (ch == '=') {
			pad = true;
			continue;
		}
		int v = b64val(ch);
		if (v < 0 || pad)
			return false;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			p[k++] = (unsigned char)(acc >> bits);
		}
	}
	*out = p;
	*n = k;
	return true;
}

/* The card payload to seal: the card without the photo, with the document type. */
static json_t *sealed_card(const json_t *card, const char *type)
{
	json_t *o = json_deep_copy(card);
	if (!o)
		return NULL;
	json_object_del(o, "photo");
	if (json_object_set_new(o, "type", json_string(type))) {
		json_decref(o);
		return NULL;
	}
	return o;
}

enum err ident_card_check(struct server *srv, const char *type_flag, const json_t *card,
                          struct arena *a, const char **type, struct ident_doc *d,
                          struct errinfo *ei)
{
	*type = ident_flags_lookup(srv->cfg.ident_reader_flags, type_flag);
	enum err e = json_check(card, card_fields, true, a, ei);
	if (e) {
		if (ei->field)
			ei->field = arena_printf(a, "card.%s", ei->field);
		return e;
	}
	if (!*type) {
		ei->field = "type_flag";
		ei->msg = arena_printf(
		    a, "未知的读卡器证件类型标志“%s”（可在配置 ident_reader_flags 中设置）",
		    type_flag ? type_flag : "");
		return ERR_INVALID;
	}
	e = ident_check(*type, json_get_str(card, "id_number"), NULL, a, d);
	if (e == ERR_INVALID) {
		ei->field = "card.id_number";
		ei->msg = arena_printf(a, "%s号码不正确：%s", d->type_name ? d->type_name : "证件",
		                       d->reason);
	}
	return e;
}

static enum err h_card(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	struct ident_doc d;
	char today[11];
	const json_t *card = json_object_get(r->json, "card");
	const char *flag = json_get_str(r->json, "type_flag");
	const char *type = NULL;
	enum err e = ident_card_check(r->srv, flag, card, r->arena, &type, &d, &ei);
	if (e && ei.msg)
		return req_fail(r, e, ei.field, "%s", ei.msg);
	if (e)
		return e;
	json_t *warnings = json_arena_own(r->arena, json_array());
	json_t *profile = json_arena_own(r->arena, json_object());
	json_t *payload = json_arena_own(r->arena, sealed_card(card, type));
	json_t *detail =
	    json_arena_own(r->arena, json_pack("{s:s,s:s,s:s?}", "type", type, "reader",
	                                       json_get_str(r->json, "reader"), "type_flag", flag));
	if (!warnings || !profile || !payload || !detail)
		return ERR_NOMEM;

	/* What the card says beyond the number: the reader's fields, checked as profile
	 * members (so a bad date is named card.valid_to). */
	static const char *const copy[][2] = {
	    {"name", "name"},
	    {"sex", "sex"},
	    {"birth_date", "birth_date"},
	    {"nation", "nation"},
	    {"address", "hukou_address"},
	    {"valid_to", "card_valid_to"},
	    {"nationality", "nationality"},
	};
	int rc = json_object_set_new(profile, "id_type", json_string(type));
	rc |= json_object_set_new(profile, "id_number", json_string(d.number));
	for (size_t i = 0; i < sizeof(copy) / sizeof(copy[0]); i++) {
		const char *v = json_get_str(card, copy[i][0]);
		if (v && *v)
			rc |= json_object_set_new(profile, copy[i][1], json_string(v));
	}
	if (rc)
		return ERR_NOMEM;
	/* A reader writes dates its own way (19491231); the profile keeps ISO dates. */
	const char *bd = json_get_str(card, "birth_date");
	if (bd && strlen(bd) == 8 && d.birth_date[0] && !memcmp(bd, d.birth_date, 4) &&
	    !memcmp(bd + 4, d.birth_date + 5, 2) && !memcmp(bd + 6, d.birth_date + 8, 2))
		json_object_set_new(profile, "birth_date", json_string(d.birth_date));
	bd = json_get_str(profile, "birth_date");
	if (bd && d.birth_date[0] && strcmp(bd, d.birth_date) != 0)
		json_array_append_new(warnings,
		                      json_string("卡内出生日期与证件号码不一致，请核对证件"));
	const char *sex = json_get_str(profile, "sex");
	if (sex && d.sex[0] && strcmp(sex, d.sex) != 0)
		json_array_append_new(warnings,
		                      json_string("卡内性别与证件号码不一致，请核对证件"));
	const char *vt = json_get_str(card, "valid_to");
	if (vt && strcmp(vt, "长期") != 0 && strlen(vt) == 10 && strcmp(vt, ident_today(today)) < 0)
		json_array_append_new(warnings, json_string("证件已过期"));

	struct read_job j = {
	    .method = "card",
	    .action = "ident.card_read",
	    .profile = profile,
	    .id_type = type,
	    .card = payload,
	    .reader = json_get_str(r->json, "reader"),
	    .flag = flag,
	    .detail = detail,
	    .prefix = "card.",
	};
	const char *photo = json_get_str(card, "photo");
	if (photo && *photo) {
		const unsigned char *bytes;
		if (!b64_decode(r->arena, photo, &bytes, &j.photo_n) || j.photo_n == 0)
			return req_fail(r, ERR_INVALID, "card.photo",
			                "照片应为 Base64 编码的 JPEG 图片");
		j.photo = bytes;
	}
	/* the profile's field names are mapped back to the card's for errors */
	if ((e = record_read(r, &j))) {
		if (r->err.field && !strcmp(r->err.field, "card.hukou_address"))
			r->err.field = "card.address";
		else if (r->err.field && !strcmp(r->err.field, "card.card_valid_to"))
			r->err.field = "card.valid_to";
		return e;
	}
	return answer(r, w, &j, &d, warnings, 200);
}

/* ---- POST /api/v1/ident/manual ---- */

static const struct json_field manual_body[] = {
    {"type", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 10, "证件类型"},
    {"number", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 32, "证件号码"},
    {"name", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 50, "姓名"},
    {"reason", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 2, 200, "手工录入原因"},
    {NULL, 0, 0, 0, 0, NULL},
};

static enum err h_manual(struct req *r, struct resp *w)
{
	struct ident_doc d;
	const char *type = json_get_str(r->json, "type");
	if (!ident_type_name(type))
		return req_fail(r, ERR_INVALID, "type", "不支持的证件类型“%s”", type);
	if (!strcmp(type, IDENT_MEDQR))
		return req_fail(r, ERR_INVALID, "type", "医保电子凭证请扫码核验，不能手工录入");
	enum err e = ident_check(type, json_get_str(r->json, "number"), NULL, r->arena, &d);
	if (e == ERR_INVALID)
		return req_fail(r, e, "number", "%s号码不正确：%s", d.type_name, d.reason);
	if (e)
		return e;
	struct str reason = str_trim(str_from(json_get_str(r->json, "reason")));
	json_t *warnings = json_arena_own(r->arena, json_array());
	json_t *profile =
	    json_arena_own(r->arena, json_pack("{s:s,s:s,s:s}", "id_type", type, "id_number",
	                                       d.number, "name", json_get_str(r->json, "name")));
	json_t *payload =
	    json_arena_own(r->arena, json_pack("{s:s,s:s,s:s}", "type", type, "id_number", d.number,
	                                       "name", json_get_str(r->json, "name")));
	json_t *detail = json_arena_own(
	    r->arena, json_pack("{s:s,s:s%}", "type", type, "reason", reason.p, reason.n));
	if (!warnings || !profile || !payload || !detail)
		return ERR_NOMEM;
	struct read_job j = {
	    .method = "manual",
	    .action = "ident.manual_entry",
	    .profile = profile,
	    .keep_name = true,
	    .id_type = type,
	    .card = payload,
	    .reason = arena_strndup(r->arena, reason.p, reason.n),
	    .detail = detail,
	};
	if ((e = record_read(r, &j)))
		return e;
	if (j.name_on_record)
		json_array_append_new(
		    warnings,
		    json_string("录入的姓名与居民档案不一致，档案保留原姓名，请核对证件"));
	return answer(r, w, &j, &d, warnings, 200);
}

/* ---- POST /api/v1/ident/evoucher ---- */

static const struct json_field evoucher_body[] = {
    {"qr", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, IDENT_NUMBER_MAX, "电子凭证二维码"},
    {NULL, 0, 0, 0, 0, NULL},
};

static enum err h_evoucher(struct req *r, struct resp *w)
{
	struct ident_doc q, d;
	struct errinfo ei = {0};
	json_t *result = NULL;
	enum err e = ident_check(IDENT_MEDQR, json_get_str(r->json, "qr"), NULL, r->arena, &q);
	if (e == ERR_INVALID)
		return req_fail(r, e, "qr", "%s", q.reason);
	if (e)
		return e;
	json_t *params = json_arena_own(r->arena, json_pack("{s:s}", "qr", q.number));
	if (!params)
		return ERR_NOMEM;
	struct gateway_caller caller = {
	    .module = "ident",
	    .user = r->who ? r->who->username : NULL,
	    .user_id = r->who ? r->who->user_id : 0,
	    .trace_id = r->trace.trace_id,
	};
	/* The flow runs before any transaction: the medical-insurance system may be slow. */
	e = gateway_flow_run(r->srv, EVOUCHER_FLOW, params, &caller, false, r->arena, &result, NULL,
	                     NULL, &ei);
	if (e)
		return req_fail(r, e, "qr", "医保电子凭证核验失败：%s",
		                ei.msg ? ei.msg : err_message(e));
	if (!json_is_true(json_object_get(result, "valid"))) {
		const char *code = json_get_str(result, "code");
		const char *why = json_get_str(result, "reason");
		if ((code && !strcmp(code, "EC_EXPIRED")) || (why && strstr(why, "过期")))
			return req_fail(r, ERR_INVALID, "qr", EVOUCHER_EXPIRED);
		return req_fail(r, ERR_INVALID, "qr", "医保电子凭证无效%s%s，请居民重新出示",
		                why ? "：" : "", why ? why : "");
	}
	const char *number = json_get_str(result, "id_number");
	const char *name = json_get_str(result, "name");
	if (ident_check(NULL, number, NULL, r->arena, &d) != ERR_OK || !name || !d.holder_type) {
		log_warn("ident.evoucher", "the e-voucher answer has no usable document or name");
		return req_fail(r, ERR_UPSTREAM, "qr",
		                "医保系统返回的身份信息不完整，请改用读卡或手工录入");
	}
	const char *region = json_get_str(result, "insured_region");
	json_t *profile = json_arena_own(r->arena, json_pack("{s:s,s:s,s:s}", "id_type", d.type,
	                                                     "id_number", d.number, "name", name));
	json_t *payload =
	    json_arena_own(r->arena, json_pack("{s:s,s:s,s:s?}", "type", d.type, "name", name,
	                                       "insured_region", region));
	json_t *detail = json_arena_own(
	    r->arena, json_pack("{s:s,s:s?}", "type", d.type, "insured_region", region));
	json_t *warnings = json_arena_own(r->arena, json_array());
	if (!profile || !payload || !detail || !warnings)
		return ERR_NOMEM;
	struct read_job j = {
	    .method = "evoucher",
	    .action = "ident.evoucher",
	    .profile = profile,
	    .id_type = d.type,
	    .card = payload,
	    .detail = detail,
	};
	if ((e = record_read(r, &j)) || (e = answer(r, w, &j, &d, warnings, 200)))
		return e;
	const char *ec = json_get_str(result, "ec_token");
	json_object_set_new(w->json, "ec_token", ec ? json_string(ec) : json_null());
	json_object_set_new(w->json, "insured_region", region ? json_string(region) : json_null());
	return ERR_OK;
}

/* ---- the module ---- */

static enum err ident_init(struct server *srv)
{
	char msg[200];
	enum err e = ident_flags_check(srv->cfg.ident_reader_flags, msg, sizeof(msg));
	if (e)
		log_error("config", "%s", msg);
	return e;
}

#define P "/api/v1"

static const struct route ident_routes[] = {
    {"POST", P "/ident/check", h_check, NULL, 0, check_body},
    {"POST", P "/ident/card", h_card, "ident.read", 0, card_body},
    {"POST", P "/ident/manual", h_manual, "ident.read", 0, manual_body},
    {"POST", P "/ident/evoucher", h_evoucher, "ident.read", ROUTE_SLOW, evoucher_body},
    {"GET", P "/residents", ident_h_find, "case.read", 0, NULL},
    {"GET", P "/residents/{id}", ident_h_get, "case.read", 0, NULL},
    {"PUT", P "/residents/{id}", ident_h_update, "case.accept", 0, ident_update_body},
    {"GET", P "/residents/{id}/photo", ident_h_photo, "case.read", 0, NULL},
    {"GET", P "/residents/{id}/relations", ident_h_relations, "case.read", 0, NULL},
    {"POST", P "/residents/{id}/relations", ident_h_relation_add, "case.accept", 0,
     ident_relation_body},
    {"DELETE", P "/residents/{id}/relations/{rid}", ident_h_relation_delete, "case.accept", 0,
     NULL},
};

const struct module ident_module = {
    .name = "ident",
    .init = ident_init,
    .release = NULL,
    .routes = ident_routes,
    .nroutes = sizeof(ident_routes) / sizeof(ident_routes[0]),
};
