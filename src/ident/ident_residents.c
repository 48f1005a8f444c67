/* ident_residents.c: the resident routes — GET /api/v1/residents?type=&number=, GET/PUT
 * /api/v1/residents/{id}, GET /api/v1/residents/{id}/photo and the relations.
 *
 * Reading needs case.read; what a caller sees of a resident depends on ident.read (without
 * it: masked number, name and phone, no addresses — ident_view). Changing needs
 * case.accept; every change is one write unit (db_write_unit, group commit) with its audit
 * entry: checks and loads happen before it on a pool connection, the unit re-checks what it
 * relies on (the version by the guarded UPDATE, the relation by its DELETE), and the answer
 * is read after the commit. Residents are city-wide (全市通办): no organisation scope applies
 * to them. */
#include "ident/ident_int.h"

#include <string.h>

#include "core/json.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "files/files.h"
#include "http/http.h"
#include "server/server.h"

static bool full_view(const struct req *r)
{
	return req_has_perm(r, "ident.read");
}

/* {id} of the route; false (404 recorded) when it is not a resident id. */
static bool resident_id(struct req *r, int64_t *id)
{
	if (cstr_to_i64(req_param(r, "id"), 1, INT64_MAX, id))
		return true;
	req_fail(r, ERR_NOT_FOUND, "id", "居民档案不存在");
	return false;
}

static enum err not_found(struct req *r, enum err e)
{
	if (e == ERR_NOT_FOUND && !r->err.code)
		return req_fail(r, e, "id", "居民档案不存在");
	return e;
}

/* Answer the resident id as the caller may see it. */
static enum err show(struct req *r, struct resp *w, struct db_conn *c, int64_t id, int status)
{
	json_t *profile = NULL;
	enum err e = ident_resident_get(r->srv, c, r->arena, id, &profile);
	if (e)
		return not_found(r, e);
	json_t *v = ident_view(r->arena, full_view(r), profile);
	if (!v)
		return ERR_NOMEM;
	resp_json(w, status, json_incref(v));
	return ERR_OK;
}

/* GET /residents?type=&number= */
enum err ident_h_find(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	int64_t id = 0;
	const char *type = req_query(r, "type"), *number = req_query(r, "number");
	if (!number || !*number)
		return req_fail(r, ERR_MISSING_FIELD, "number", "请提供证件号码（number）");
	if (type && !*type)
		type = NULL;
	if (type && !ident_type_name(type))
		return req_fail(r, ERR_BAD_FIELD, "type", "不支持的证件类型“%s”", type);
	if (type && !strcmp(type, IDENT_MEDQR))
		return req_fail(r, ERR_BAD_FIELD, "type",
		                "医保电子凭证请扫码核验，不能用于查找居民");
	enum err e = ident_acquire(r, &c);
	if (!e)
		e = ident_resident_find(r->srv, c, r->arena, type, number, &id);
	if (!e)
		e = show(r, w, c, id, 200);
	else if (e == ERR_NOT_FOUND)
		req_fail(r, e, "number", "没有该证件的居民档案");
	db_release(c);
	return e;
}

/* GET /residents/{id} */
enum err ident_h_get(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	int64_t id;
	if (!resident_id(r, &id))
		return ERR_NOT_FOUND;
	enum err e = ident_acquire(r, &c);
	if (!e)
		e = show(r, w, c, id, 200);
	db_release(c);
	return e;
}

/* PUT /residents/{id} {"version", "phone"?, "address"?} */
const struct json_field ident_update_body[] = {
    {"version", JF_INT, JF_REQUIRED, 1, INT64_MAX, "版本号"},
    {"phone", JF_STRING, JF_NULLABLE, 0, 20, "联系电话"},
    {"address", JF_OBJECT, JF_NULLABLE, 0, 0, "居住地址"},
    {NULL, 0, 0, 0, 0, NULL},
};

struct update_ctx {
	struct req *r;
	const struct ident_row *row;
	json_t *fields;
};

static enum err update_unit(struct db_conn *c, void *ctx)
{
	struct update_ctx *x = ctx;
	struct req *r = x->r;
	enum err e = ident_store_update(r->srv, c, r->arena, x->row);
	if (e == ERR_CONFLICT)
		return req_fail(r, e, "version", "居民档案已被他人修改，请刷新后重试");
	if (e)
		return e;
	json_t *detail = json_pack("{s:O,s:I}", "fields", x->fields, "version",
	                           (json_int_t)(x->row->version + 1));
	if (!detail)
		return ERR_NOMEM;
	return ident_audit(r, c, "ident.contact_change", x->row->id, detail);
}

/* Run fn as a write unit; the queue timeout answers like ident_acquire. */
static enum err write_unit(struct req *r, enum err (*fn)(struct db_conn *c, void *ctx), void *ctx)
{
	enum err e = db_write_unit(r->srv->db, fn, ctx, IDENT_DB_WAIT_MS);
	if (e == ERR_DB_BUSY && !r->err.msg)
		return req_fail(r, e, NULL, "数据库繁忙，请稍后再试");
	return e;
}

enum err ident_h_update(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct ident_row row;
	struct errinfo ei = {0};
	bool changed = false;
	int64_t id, version = json_get_int(r->json, "version", 0);
	if (!resident_id(r, &id))
		return ERR_NOT_FOUND;
	json_t *fields = json_arena_own(r->arena, json_array());
	json_t *apply = json_arena_own(r->arena, json_deep_copy(r->json));
	if (!fields || !apply)
		return ERR_NOMEM;
	enum err e = ident_acquire(r, &c);
	if (e || (e = ident_store_load(r->srv, c, r->arena, id, &row)))
		goto out;
	if (row.version != version) {
		e = req_fail(r, ERR_CONFLICT, "version",
		             "居民档案已被他人修改（当前版本 %lld），请刷新后重试",
		             (long long)row.version);
		goto out;
	}
	/* "phone": "" removes the number on record */
	const char *phone = json_get_str(apply, "phone");
	if (phone && str_trim(str_from(phone)).n == 0) {
		json_object_del(apply, "phone");
		changed |= row.phone != NULL;
		row.phone = NULL;
		json_array_append_new(fields, json_string("phone"));
	}
	const char *key;
	json_t *v;
	json_object_foreach (apply, key, v) {
		if (strcmp(key, "version") && !json_is_null(v))
			json_array_append_new(fields, json_string(key));
	}
	if ((e = ident_row_apply(r->srv, r->arena, &row, apply, NULL, &changed, &ei))) {
		e = ident_fail_ei(r, e, &ei, NULL);
		goto out;
	}
	if (changed) {
		/* the unit's guarded UPDATE re-checks the version loaded here */
		db_release(c);
		c = NULL;
		row.updated_at = time_now_ms();
		struct update_ctx x = {.r = r, .row = &row, .fields = fields};
		if ((e = write_unit(r, update_unit, &x)) || (e = ident_acquire(r, &c)))
			goto out;
	}
	e = show(r, w, c, id, 200);
out:
	db_release(c);
	return not_found(r, e);
}

/* GET /residents/{id}/photo: the card photo (the caller needs ident.read as well). */
enum err ident_h_photo(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct ident_row row;
	struct file_info fi;
	const void *data = NULL;
	size_t n = 0;
	int64_t id;
	if (!resident_id(r, &id))
		return ERR_NOT_FOUND;
	if (!full_view(r))
		return req_fail(r, ERR_FORBIDDEN, NULL, "查看证件照片需要“读取身份证件信息”权限");
	enum err e = ident_acquire(r, &c);
	if (!e)
		e = ident_store_load(r->srv, c, r->arena, id, &row);
	if (!e && row.photo_file_id <= 0)
		e = req_fail(r, ERR_NOT_FOUND, "photo", "该居民没有证件照片");
	if (!e)
		e = files_read(r->srv, c, r->arena, row.photo_file_id, &data, &n, &fi);
	db_release(c);
	if (e)
		return not_found(r, e);
	w->status = 200;
	w->body = data;
	w->body_len = n;
	w->content_type = arena_strdup(r->arena, fi.mime);
	resp_header(w, "Cache-Control", "no-store");
	return ERR_OK;
}

/* ---- relations ---- */

/* A short view of the other party of a relation. */
static json_t *party(struct req *r, struct db_conn *c, int64_t id)
{
	json_t *profile = NULL;
	if (ident_resident_get(r->srv, c, r->arena, id, &profile))
		return NULL;
	json_t *v = ident_view(r->arena, full_view(r), profile);
	if (!v)
		return NULL;
	return json_pack("{s:O,s:O,s:O,s:O,s:O,s:O}", "id", json_object_get(v, "id"), "id_type",
	                 json_object_get(v, "id_type"), "id_type_name",
	                 json_object_get(v, "id_type_name"), "id_number",
	                 json_object_get(v, "id_number"), "name", json_object_get(v, "name"),
	                 "masked", json_object_get(v, "masked"));
}

/* GET /residents/{id}/relations → {"relations": [{…, "direction", "other"}]}: direction
 * "related" when the other party is the resident's guardian/agent/family member, "principal"
 * when the resident is the other's. */
enum err ident_h_relations(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct ident_row row;
	json_t *list = NULL;
	int64_t id;
	if (!resident_id(r, &id))
		return ERR_NOT_FOUND;
	enum err e = ident_acquire(r, &c);
	if (e || (e = ident_store_load(r->srv, c, r->arena, id, &row)) ||
	    (e = ident_store_relations(c, r->arena, id, &list)))
		goto out;
	size_t i;
	json_t *rel;
	json_array_foreach (list, i, rel) {
		bool mine = json_integer_value(json_object_get(rel, "resident_id")) == id;
		int64_t other =
		    json_integer_value(json_object_get(rel, mine ? "related_id" : "resident_id"));
		json_t *p = party(r, c, other);
		if (!p || json_object_set_new(rel, "other", p) ||
		    json_object_set_new(rel, "direction",
		                        json_string(mine ? "related" : "principal"))) {
			e = ERR_NOMEM;
			goto out;
		}
	}
	resp_json(w, 200, json_pack("{s:O}", "relations", list));
out:
	db_release(c);
	return not_found(r, e);
}

const struct json_field ident_relation_body[] = {
    {"related_id", JF_INT, JF_REQUIRED, 1, INT64_MAX, "关系人"},
    {"relation", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 4, "关系"},
    {"kind", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 10, "关系类别"},
    {"valid_to", JF_STRING, JF_NULLABLE, 10, 10, "有效期至"},
    {NULL, 0, 0, 0, 0, NULL},
};

/* A relation added or removed in a write unit. */
struct relation_ctx {
	struct req *r;
	int64_t id, related, rel_id;
	const char *relation, *kind, *valid_to;
};

static enum err relation_add_unit(struct db_conn *c, void *ctx)
{
	struct relation_ctx *x = ctx;
	struct req *r = x->r;
	enum err e =
	    ident_store_relation_add(c, r->arena, x->id, x->related, x->relation, x->kind,
	                             x->valid_to, r->who ? r->who->user_id : 0, &x->rel_id);
	if (e == ERR_EXISTS)
		return req_fail(r, e, "related_id", "已登记过该关系人的这一类关系");
	if (e)
		return e;
	json_t *detail = json_pack("{s:I,s:I,s:s,s:s,s:s?}", "relation_id", (json_int_t)x->rel_id,
	                           "related_id", (json_int_t)x->related, "relation", x->relation,
	                           "kind", x->kind, "valid_to", x->valid_to);
	if (!detail)
		return ERR_NOMEM;
	return ident_audit(r, c, "ident.relation_add", x->id, detail);
}

/* POST /residents/{id}/relations */
enum err ident_h_relation_add(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct ident_row row;
	char today[11];
	int64_t id, rel_id = 0, related = json_get_int(r->json, "related_id", 0);
	const char *relation = json_get_str(r->json, "relation");
	const char *kind = json_get_str(r->json, "kind");
	const char *valid_to = json_get_str(r->json, "valid_to");
	int y, m, d;
	if (!resident_id(r, &id))
		return ERR_NOT_FOUND;
	if (related == id)
		return req_fail(r, ERR_INVALID, "related_id", "不能与本人建立关系");
	if (strcmp(kind, "guardian") && strcmp(kind, "agent") && strcmp(kind, "family"))
		return req_fail(
		    r, ERR_INVALID, "kind",
		    "关系类别应为 guardian（监护人）、agent（代理人）或 family（家庭成员）");
	if (!ident_code_known(r->srv, "relation", relation))
		return req_fail(r, ERR_INVALID, "relation",
		                "关系代码“%s”不在“与申请人关系”代码表中", relation);
	if (valid_to && !ident_date_parse(valid_to, &y, &m, &d))
		return req_fail(r, ERR_INVALID, "valid_to", "有效期应为 YYYY-MM-DD 格式的日期");
	if (valid_to && strcmp(valid_to, ident_today(today)) < 0)
		return req_fail(r, ERR_INVALID, "valid_to", "有效期不能早于今天");
	enum err e = ident_acquire(r, &c);
	if (e || (e = ident_store_load(r->srv, c, r->arena, id, &row)))
		goto out;
	if ((e = ident_store_load(r->srv, c, r->arena, related, &row))) {
		if (e == ERR_NOT_FOUND)
			e = req_fail(r, ERR_INVALID, "related_id", "关系人的居民档案不存在");
		goto out;
	}
	/* residents are never deleted (and the foreign keys stand guard): the unit only adds */
	db_release(c);
	c = NULL;
	struct relation_ctx x = {.r = r,
	                         .id = id,
	                         .related = related,
	                         .relation = relation,
	                         .kind = kind,
	                         .valid_to = valid_to};
	if ((e = write_unit(r, relation_add_unit, &x)))
		goto out;
	rel_id = x.rel_id;
	resp_json(w, 201,
	          json_pack("{s:I,s:I,s:I,s:s,s:s,s:s?}", "id", (json_int_t)rel_id, "resident_id",
	                    (json_int_t)id, "related_id", (json_int_t)related, "relation", relation,
	                    "kind", kind, "valid_to", valid_to));
out:
	db_release(c);
	return not_found(r, e);
}

/* DELETE's unit: the relation (either side) and the audit entry. */
static enum err relation_delete_unit(struct db_conn *c, void *ctx)
{
	struct relation_ctx *x = ctx;
	struct req *r = x->r;
	enum err e = ident_store_relation_delete(c, r->arena, x->id, x->rel_id, &x->related);
	if (e == ERR_NOT_FOUND)
		return req_fail(r, e, "rid", "该关系不存在");
	if (e)
		return e;
	json_t *detail = json_pack("{s:I,s:I}", "relation_id", (json_int_t)x->rel_id, "related_id",
	                           (json_int_t)x->related);
	if (!detail)
		return ERR_NOMEM;
	return ident_audit(r, c, "ident.relation_delete", x->id, detail);
}

/* DELETE /residents/{id}/relations/{rid} */
enum err ident_h_relation_delete(struct req *r, struct resp *w)
{
	int64_t id, rid;
	if (!resident_id(r, &id))
		return ERR_NOT_FOUND;
	if (!cstr_to_i64(req_param(r, "rid"), 1, INT64_MAX, &rid))
		return req_fail(r, ERR_NOT_FOUND, "rid", "该关系不存在");
	struct relation_ctx x = {.r = r, .id = id, .rel_id = rid};
	enum err e = write_unit(r, relation_delete_unit, &x);
	if (e)
		return e;
	resp_json(w, 200, json_pack("{s:I,s:b}", "id", (json_int_t)rid, "deleted", 1));
	return ERR_OK;
}
