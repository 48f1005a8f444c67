/* gateway_open_routes.c: the open APIs (/api/open/v1/..., signed by a credential) and their
 * administration (/api/v1/admin/open/..., gateway.manage; the call log gateway.read).
 *
 * An open API is a static definition here (name, route, where its live data comes from,
 * default mock) and a row in open_apis that the operator edits (title, mock, enabled). The
 * live data of the catalog APIs is the catalog module's own handlers, found in the module
 * table by route, so an open caller gets exactly what the clerk UI gets. */
#include "gateway/gateway_open_int.h"

#include "audit/audit.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"

#define MANAGE "gateway.manage"
#define READ   "gateway.read"

static enum err h_ping(struct req *r, struct resp *w);

const struct open_api_def open_api_defs[] = {
    {"ping", "GET", "/api/open/v1/ping", "连通性测试",
     "返回 pong、调用方的 Key ID 和服务器时间，用于联调签名。",
     "{\"pong\":true,\"key_id\":\"ak_mock\",\"owner\":\"模拟调用方\","
     "\"time\":\"2026-01-05T09:00:00.000+08:00\"}",
     NULL, NULL, h_ping},
    {"catalog.search", "GET", "/api/open/v1/catalog/items", "事项目录检索",
     "按名称、简称、拼音首字母或编码检索已发布的事项（参数 q、dept、limit）。",
     "{\"items\":[{\"code\":\"310001001000\",\"name\":\"（模拟数据）示例事项\","
     "\"short_name\":\"示例事项\",\"department\":\"rensha\",\"department_name\":\"人社\","
     "\"sub_items\":1,\"case_type\":1,\"vwin_mode\":\"remote\",\"citywide\":true,"
     "\"version\":1}],\"total\":1}",
     "GET", "/api/v1/catalog/items", NULL},
    {"catalog.item", "GET", "/api/open/v1/catalog/items/{code}", "事项详情",
     "按基本编码取已发布事项的当前版本（含子项、表单、材料）。",
     "{\"item\":{\"basic_code\":\"310001001000\",\"name\":\"（模拟数据）示例事项\","
     "\"sub_items\":[]},\"version\":1,\"effective_from\":\"2026-01-01\","
     "\"published_at\":0,\"department_name\":\"人社\"}",
     "GET", "/api/v1/catalog/items/{code}", NULL},
};
const size_t open_api_ndefs = sizeof(open_api_defs) / sizeof(open_api_defs[0]);

/* ---- the open APIs ----------------------------------------------------------------------- */

static enum err h_ping(struct req *r, struct resp *w)
{
	char iso[32];
	resp_json(w, 200,
	          json_pack("{s:b, s:s, s:s?, s:s}", "pong", 1, "key_id", r->who->username, "owner",
	                    r->who->name, "time", time_iso(time_now_ms(), iso)));
	return ERR_OK;
}

/* Every open route: the mock for a debug credential, else the live handler; then the call
 * log. */
static enum err h_open(struct req *r, struct resp *w)
{
	struct gateway_open_state *st = r->srv->gateway_open;
	struct open_call *oc = r->who ? r->who->ext : NULL;
	const char *outcome = "ok", *code = NULL, *message = NULL, *response = NULL;
	enum err e;
	int status;
	if (!st || !oc)
		return ERR_INTERNAL;
	if (oc->debug) {
		outcome = "mock";
		json_t *v = oc->mock ? json_loads(oc->mock, 0, NULL) : NULL;
		if (v) {
			resp_json(w, (int)oc->mock_status, v);
			resp_header(w, "X-Shouli-Mock", "1");
			e = ERR_OK;
		} else {
			e = req_fail(r, ERR_CONFIG, NULL, "接口 %s 的模拟数据不是合法的 JSON",
			             oc->api);
		}
	} else {
		http_handler live = st->live[oc->api_idx];
		e = live ? live(r, w) : req_fail(r, ERR_UNAVAILABLE, NULL, "该接口暂不可用");
	}
	if (e == ERR_OK && r->err.code && w->status == 0)
		e = r->err.code;
	if (e) {
		outcome = "error";
		status = err_status(e);
		code = err_code(e);
		message = r->err.code == e && r->err.msg ? r->err.msg : err_message(e);
	} else {
		status = w->status ? w->status : 200;
		response = w->json ? json_dump_arena(w->json, r->arena) : NULL;
	}
	open_log_call(r, oc, status, outcome, code, message, response);
	return e;
}

/* ---- admin helpers ----------------------------------------------------------------------- */

static enum err tx_begin(struct req *r, struct db_conn **c)
{
	enum err e = db_acquire(r->srv->db, OPEN_DB_WAIT_MS, c);
	if (!e && (e = db_begin_write(*c))) {
		db_release(*c);
		*c = NULL;
	}
	return e;
}

/* Audit inside the open transaction, then commit. */
static enum err audit_commit(struct req *r, struct db_conn *c, const char *action,
                             const char *target, json_t *detail)
{
	struct audit_entry ae = {
	    .actor_id = r->who->user_id,
	    .actor_name = r->who->username,
	    .action = action,
	    .target = target,
	    .detail = detail ? json_dump_arena(detail, r->arena) : NULL,
	    .client_ip = r->client_ip,
	    .trace_id = r->trace.trace_id,
	};
	json_decref(detail);
	enum err e = audit_append(c, r->arena, &ae);
	return e ? e : db_commit(c);
}

static bool param_id(struct req *r, int64_t *id)
{
	return cstr_to_i64(req_param(r, "id"), 1, INT64_MAX, id);
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static const char *hhmm(struct arena *a, int minutes)
{
	return arena_printf(a, "%02d:%02d", minutes / 60, minutes % 60);
}

/* The version the client read, when it sent one: a stale one is a conflict. */
static enum err check_version(struct req *r, int64_t have)
{
	json_t *v = json_object_get(r->json, "version");
	if (v && json_integer_value(v) != have)
		return req_fail(r, ERR_CONFLICT, "version", "数据已被他人修改，请刷新后重试");
	return ERR_OK;
}

/* ---- credentials ------------------------------------------------------------------------- */

static json_t *cred_json(const struct open_cred_rec *c)
{
	json_t *o = json_pack("{s:I, s:s, s:s, s:s, s:o, s:b, s:b, s:I, s:I, s:o, s:I, s:I}", "id",
	                      (json_int_t)c->id, "key_id", c->key_id, "kind", c->kind, "owner",
	                      c->owner, "description", str_or_null(c->description), "debug",
	                      c->debug, "enabled", c->enabled, "grants", (json_int_t)c->grants,
	                      "version", (json_int_t)c->version, "created_by",
	                      str_or_null(c->created_by), "created_at", (json_int_t)c->created_at,
	                      "updated_at", (json_int_t)c->updated_at);
	if (o && !strcmp(c->kind, "sm2"))
		json_object_set_new(o, "public_key", str_or_null(c->public_key));
	if (o && !strcmp(c->kind, "hmac_sm3"))
		json_object_set_new(o, "secret_rotated_at",
		                    c->secret_rotated_at ? json_integer(c->secret_rotated_at)
		                                         : json_null());
	return o;
}

static const struct json_field cred_create_body[] = {
    {"owner", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 64, "所属系统"},
    {"kind", JF_STRING, JF_REQUIRED, 1, 16, "签名方式"},
    {"public_key", JF_STRING, JF_NULLABLE, 0, 4000, "SM2 公钥"},
    {"description", JF_STRING, JF_NULLABLE, 0, 200, "说明"},
    {"debug", JF_BOOL, 0, 0, 0, "调试凭据"},
    {"enabled", JF_BOOL, 0, 0, 0, "启用"},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct json_field cred_patch_body[] = {
    {"owner", JF_STRING, JF_NONEMPTY, 1, 64, "所属系统"},
    {"public_key", JF_STRING, 0, 1, 4000, "SM2 公钥"},
    {"description", JF_STRING, JF_NULLABLE, 0, 200, "说明"},
    {"debug", JF_BOOL, 0, 0, 0, "调试凭据"},
    {"enabled", JF_BOOL, 0, 0, 0, "启用"},
    {"version", JF_INT, 0, 1, INT32_MAX, "版本"},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct json_field empty_body[] = {{NULL, 0, 0, 0, 0, NULL}};

/* A public SM2 key in canonical PEM (from a), or a refusal naming the field. */
static enum err sm2_public_pem(struct req *r, const char *pem, const char **out)
{
	struct crypto_sm2_key *k = NULL;
	struct buf b;
	enum err e;
	if (!pem || !*pem)
		return req_fail(r, ERR_MISSING_FIELD, "public_key", "SM2 凭据需要提供调用方的公钥");
	if (crypto_sm2_load_pem(pem, strlen(pem), &k) != ERR_OK)
		return req_fail(r, ERR_BAD_FIELD, "public_key", "公钥不是有效的 SM2 公钥（PEM）");
	if (crypto_sm2_has_private(k)) {
		crypto_sm2_destroy(k);
		return req_fail(r, ERR_BAD_FIELD, "public_key",
		                "请只提交 SM2 公钥：私钥应由调用方自行保管");
	}
	buf_init(&b, 8192);
	e = crypto_sm2_save_pem(k, false, &b);
	crypto_sm2_destroy(k);
	if (!e && !(*out = arena_strndup(r->arena, b.p, b.len)))
		e = ERR_NOMEM;
	buf_release(&b);
	return e;
}

/* A fresh secret (64 hex digits, shown once) sealed for key_id. */
static enum err new_secret(struct req *r, const char *key_id, char secret[65], struct buf *sealed)
{
	enum err e = id_random_hex(secret, 32);
	const char *context = arena_printf(r->arena, "open_credentials.secret:%s", key_id);
	if (!e)
		e = context ? keyring_encrypt(r->srv->keys, context, secret, 64, sealed)
		            : ERR_NOMEM;
	return e;
}

static enum err h_creds_list(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct open_cred_rec *v = NULL;
	int n = 0;
	enum err e = db_acquire(r->srv->db, OPEN_DB_WAIT_MS, &c);
	if (!e)
		e = open_store_creds_list(c, r->arena, &v, &n);
	db_release(c);
	if (e)
		return e;
	json_t *arr = json_array();
	for (int i = 0; arr && i < n; i++)
		json_array_append_new(arr, cred_json(&v[i]));
	resp_json(w, 200, json_pack("{s:o}", "credentials", arr));
	return ERR_OK;
}

static enum err h_cred_get(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct open_cred_rec rec = {0};
	int64_t id;
	if (!param_id(r, &id))
		return req_fail(r, ERR_NOT_FOUND, "id", "凭据不存在");
	enum err e = db_acquire(r->srv->db, OPEN_DB_WAIT_MS, &c);
	if (!e)
		e = open_store_cred_get(c, r->arena, id, &rec);
	db_release(c);
	if (e == ERR_NOT_FOUND)
		return req_fail(r, e, "id", "凭据不存在");
	if (e)
		return e;
	resp_json(w, 200, cred_json(&rec));
	return ERR_OK;
}

static enum err h_cred_create(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct buf sealed;
	char key_id[19] = "ak", secret[65] = "";
	struct open_cred_rec rec = {
	    .owner = json_get_str(r->json, "owner"),
	    .kind = json_get_str(r->json, "kind"),
	    .description = json_get_str(r->json, "description"),
	    .debug = json_get_bool(r->json, "debug", false),
	    .enabled = json_get_bool(r->json, "enabled", true),
	    .created_by = r->who->username,
	};
	const char *pem = json_get_str(r->json, "public_key");
	bool hmac = !strcmp(rec.kind, "hmac_sm3");
	enum err e;
	if (!hmac && strcmp(rec.kind, "sm2") != 0)
		return req_fail(r, ERR_BAD_FIELD, "kind", "签名方式应为 hmac_sm3 或 sm2");
	if (hmac && pem && *pem)
		return req_fail(r, ERR_BAD_FIELD, "public_key",
		                "HMAC-SM3 凭据不使用公钥：密钥由系统生成");
	if (!hmac && (e = sm2_public_pem(r, pem, &rec.public_key)))
		return e;
	buf_init(&sealed, 256);
	if ((e = id_random_hex(key_id + 2, 8)))
		goto out;
	rec.key_id = key_id;
	if (hmac && (e = new_secret(r, key_id, secret, &sealed)))
		goto out;
	if ((e = tx_begin(r, &c)) ||
	    (e = open_store_cred_insert(c, r->arena, &rec, hmac ? sealed.p : NULL, sealed.len)))
		goto out;
	e = audit_commit(r, c, "gateway.open.credential.create",
	                 arena_printf(r->arena, "open_credential:%s", key_id),
	                 json_pack("{s:s, s:s, s:s, s:b}", "key_id", key_id, "kind", rec.kind,
	                           "owner", rec.owner, "debug", rec.debug));
	if (e)
		goto out;
	json_t *body = cred_json(&rec);
	if (body && hmac) {
		/* The only time the secret leaves the server. */
		json_object_set_new(body, "secret", json_string(secret));
		json_object_set_new(
		    body, "secret_notice",
		    json_string("请立即妥善保存密钥：关闭后无法再次查看，遗失只能重置"));
	}
	resp_json(w, 201, body);
out:
	db_release(c);
	crypto_wipe(secret, sizeof(secret));
	buf_release(&sealed);
	return e;
}

static enum err h_cred_patch(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct open_cred_rec rec = {0};
	int64_t id;
	enum err e;
	if (!param_id(r, &id))
		return req_fail(r, ERR_NOT_FOUND, "id", "凭据不存在");
	if (json_object_size(r->json) == 0)
		return req_fail(r, ERR_BAD_REQUEST, NULL, "没有要修改的内容");
	if ((e = tx_begin(r, &c)))
		return e;
	if ((e = open_store_cred_get(c, r->arena, id, &rec))) {
		if (e == ERR_NOT_FOUND)
			req_fail(r, e, "id", "凭据不存在");
		goto out;
	}
	if ((e = check_version(r, rec.version)))
		goto out;
	const char *owner = json_get_str(r->json, "owner");
	const char *pem = json_get_str(r->json, "public_key");
	json_t *desc = json_object_get(r->json, "description");
	if (owner)
		rec.owner = owner;
	if (desc)
		rec.description = json_string_value(desc);
	rec.debug = json_get_bool(r->json, "debug", rec.debug);
	rec.enabled = json_get_bool(r->json, "enabled", rec.enabled);
	if (pem && strcmp(rec.kind, "sm2") != 0) {
		e = req_fail(r, ERR_BAD_FIELD, "public_key", "只有 SM2 凭据才有公钥");
		goto out;
	}
	if (pem && (e = sm2_public_pem(r, pem, &rec.public_key)))
		goto out;
	if ((e = open_store_cred_update(c, r->arena, &rec)))
		goto out;
	json_t *detail = json_deep_copy(r->json);
	if (detail && pem)
		json_object_set_new(detail, "public_key", json_string("changed"));
	e = audit_commit(r, c, "gateway.open.credential.update",
	                 arena_printf(r->arena, "open_credential:%s", rec.key_id), detail);
	if (!e)
		resp_json(w, 200, cred_json(&rec));
out:
	db_release(c);
	return e;
}

static enum err h_cred_rotate(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct open_cred_rec rec = {0};
	struct buf sealed;
	char secret[65] = "";
	int64_t id;
	enum err e;
	if (!param_id(r, &id))
		return req_fail(r, ERR_NOT_FOUND, "id", "凭据不存在");
	buf_init(&sealed, 256);
	if ((e = tx_begin(r, &c)))
		goto out;
	if ((e = open_store_cred_get(c, r->arena, id, &rec))) {
		if (e == ERR_NOT_FOUND)
			req_fail(r, e, "id", "凭据不存在");
		goto out;
	}
	if (strcmp(rec.kind, "hmac_sm3") != 0) {
		e = req_fail(r, ERR_INVALID, "kind",
		             "SM2 凭据没有系统生成的密钥：请由调用方生成新密钥对并更新公钥");
		goto out;
	}
	int64_t now = time_now_ms();
	if ((e = new_secret(r, rec.key_id, secret, &sealed)) ||
	    (e = open_store_cred_set_secret(c, r->arena, id, sealed.p, sealed.len, now)))
		goto out;
	e = audit_commit(r, c, "gateway.open.credential.rotate",
	                 arena_printf(r->arena, "open_credential:%s", rec.key_id), NULL);
	if (e)
		goto out;
	rec.secret_rotated_at = rec.updated_at = now;
	rec.version++;
	json_t *body = cred_json(&rec);
	if (body) {
		json_object_set_new(body, "secret", json_string(secret));
		json_object_set_new(
		    body, "secret_notice",
		    json_string(
		        "新密钥已生效，旧密钥立即失效。请立即妥善保存：关闭后无法再次查看"));
	}
	resp_json(w, 200, body);
out:
	db_release(c);
	crypto_wipe(secret, sizeof(secret));
	buf_release(&sealed);
	return e;
}

static enum err h_cred_delete(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct open_cred_rec rec = {0};
	int64_t id;
	enum err e;
	if (!param_id(r, &id))
		return req_fail(r, ERR_NOT_FOUND, "id", "凭据不存在");
	if ((e = tx_begin(r, &c)))
		return e;
	if ((e = open_store_cred_get(c, r->arena, id, &rec))) {
		if (e == ERR_NOT_FOUND)
			req_fail(r, e, "id", "凭据不存在");
		goto out;
	}
	if ((e = open_store_cred_delete(c, r->arena, id)))
		goto out;
	e = audit_commit(r, c, "gateway.open.credential.delete",
	                 arena_printf(r->arena, "open_credential:%s", rec.key_id),
	                 json_pack("{s:s, s:s}", "key_id", rec.key_id, "owner", rec.owner));
	if (!e)
		resp_json(w, 200, json_pack("{s:b}", "deleted", 1));
out:
	db_release(c);
	return e;
}

/* ---- grants ------------------------------------------------------------------------------ */

static json_t *grant_json(struct arena *a, const struct open_grant_rec *g, int64_t used_today)
{
	json_t *days = json_array();
	for (int d = 1; days && d <= 7; d++)
		if (g->g.win.weekdays & (1u << (d - 1)))
			json_array_append_new(days, json_integer(d));
	const char *win = open_window_describe(&g->g.win, a);
	return json_pack("{s:I, s:I, s:s, s:s, s:o, s:s, s:s, s:s, s:I, s:I, s:b, s:I, s:I, s:I, "
	                 "s:I}",
	                 "id", (json_int_t)g->g.id, "credential_id", (json_int_t)g->credential_id,
	                 "key_id", g->key_id ? g->key_id : "", "api", g->api, "weekdays", days,
	                 "time_from", hhmm(a, g->g.win.from_min), "time_to",
	                 hhmm(a, g->g.win.to_min), "window", win ? win : "", "daily_quota",
	                 (json_int_t)g->g.daily_quota, "rate_per_min",
	                 (json_int_t)g->g.rate_per_min, "enabled", g->g.enabled, "used_today",
	                 (json_int_t)used_today, "version", (json_int_t)g->version, "created_at",
	                 (json_int_t)g->created_at, "updated_at", (json_int_t)g->updated_at);
}

static const struct json_field grant_create_body[] = {
    {"credential_id", JF_INT, JF_REQUIRED, 1, INT32_MAX, "凭据"},
    {"api", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 64, "接口"},
    {"weekdays", JF_ARRAY, 0, 1, 7, "授权星期"},
    {"time_from", JF_STRING, 0, 5, 5, "开始时间"},
    {"time_to", JF_STRING, 0, 5, 5, "结束时间"},
    {"daily_quota", JF_INT, 0, 0, 1000000000, "每日调用上限"},
    {"rate_per_min", JF_INT, 0, 0, 1000000, "每分钟调用上限"},
    {"enabled", JF_BOOL, 0, 0, 0, "启用"},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct json_field grant_patch_body[] = {
    {"weekdays", JF_ARRAY, 0, 1, 7, "授权星期"},
    {"time_from", JF_STRING, 0, 5, 5, "开始时间"},
    {"time_to", JF_STRING, 0, 5, 5, "结束时间"},
    {"daily_quota", JF_INT, 0, 0, 1000000000, "每日调用上限"},
    {"rate_per_min", JF_INT, 0, 0, 1000000, "每分钟调用上限"},
    {"enabled", JF_BOOL, 0, 0, 0, "启用"},
    {"version", JF_INT, 0, 1, INT32_MAX, "版本"},
    {NULL, 0, 0, 0, 0, NULL},
};

/* Apply the window, quota, rate and enabled members of the body to g. */
static enum err grant_apply(struct req *r, struct open_grant *g)
{
	json_t *days = json_object_get(r->json, "weekdays");
	const char *from = json_get_str(r->json, "time_from");
	const char *to = json_get_str(r->json, "time_to");
	if (days) {
		unsigned mask = 0;
		size_t i;
		json_t *d;
		json_array_foreach (days, i, d) {
			json_int_t v = json_is_integer(d) ? json_integer_value(d) : 0;
			if (v < 1 || v > 7 || (mask & (1u << (v - 1))))
				return req_fail(
				    r, ERR_BAD_FIELD, "weekdays",
				    "授权星期应为 1（周一）到 7（周日）之间不重复的数字");
			mask |= 1u << (v - 1);
		}
		g->win.weekdays = mask;
	}
	if (from && !open_parse_hhmm(from, false, &g->win.from_min))
		return req_fail(r, ERR_BAD_FIELD, "time_from", "开始时间应为 HH:MM（00:00–23:59）");
	if (to && !open_parse_hhmm(to, true, &g->win.to_min))
		return req_fail(r, ERR_BAD_FIELD, "time_to", "结束时间应为 HH:MM（00:01–24:00）");
	if (g->win.to_min == 0)
		g->win.to_min = 1440; /* "00:00" as an end is midnight at the end of the day */
	if (g->win.from_min == g->win.to_min)
		return req_fail(r, ERR_BAD_FIELD, "time_to", "开始时间与结束时间不能相同");
	g->daily_quota = json_get_int(r->json, "daily_quota", g->daily_quota);
	g->rate_per_min = json_get_int(r->json, "rate_per_min", g->rate_per_min);
	g->enabled = json_get_bool(r->json, "enabled", g->enabled);
	return ERR_OK;
}

static enum err h_grants_list(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct open_grant_rec *v = NULL;
	int n = 0;
	int64_t cred = 0;
	char day[11];
	enum err e = req_query_int(r, "credential", 1, INT64_MAX, 0, &cred);
	if (e)
		return e;
	open_local_day(time_now_ms(), day);
	if ((e = db_acquire(r->srv->db, OPEN_DB_WAIT_MS, &c)))
		return e;
	e = open_store_grants_list(c, r->arena, cred, &v, &n);
	json_t *arr = json_array();
	for (int i = 0; !e && arr && i < n; i++)
		json_array_append_new(
		    arr, grant_json(r->arena, &v[i],
		                    open_store_quota_used(c, r->arena, v[i].g.id, day)));
	db_release(c);
	if (e) {
		json_decref(arr);
		return e;
	}
	resp_json(w, 200, json_pack("{s:o}", "grants", arr));
	return ERR_OK;
}

/* The API named in the body must exist. */
static enum err grant_api_known(struct req *r, struct db_conn *c, const char *api)
{
	struct open_api_rec ar;
	enum err e = open_store_api_get(c, r->arena, api, &ar);
	if (e == ERR_NOT_FOUND)
		return req_fail(r, ERR_BAD_FIELD, "api", "没有名为 %s 的开放接口", api);
	return e;
}

static enum err h_grant_create(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct open_cred_rec cred = {0};
	struct open_grant_rec rec = {
	    .g = {.enabled = true, .win = {OPEN_WEEKDAYS_ALL, 0, 1440}},
	    .credential_id = json_get_int(r->json, "credential_id", 0),
	    .api = json_get_str(r->json, "api"),
	};
	bool exists = false;
	enum err e = grant_apply(r, &rec.g);
	if (e)
		return e;
	if ((e = tx_begin(r, &c)))
		return e;
	if ((e = open_store_cred_get(c, r->arena, rec.credential_id, &cred))) {
		if (e == ERR_NOT_FOUND)
			req_fail(r, ERR_BAD_FIELD, "credential_id", "凭据不存在");
		e = e == ERR_NOT_FOUND ? ERR_BAD_FIELD : e;
		goto out;
	}
	if ((e = grant_api_known(r, c, rec.api)) ||
	    (e = open_store_grant_exists(c, r->arena, rec.credential_id, rec.api, 0, &exists)))
		goto out;
	if (exists) {
		e = req_fail(r, ERR_EXISTS, "api", "凭据 %s 已有接口 %s 的授权", cred.key_id,
		             rec.api);
		goto out;
	}
	rec.key_id = cred.key_id;
	if ((e = open_store_grant_insert(c, r->arena, &rec)))
		goto out;
	e = audit_commit(r, c, "gateway.open.grant.create",
	                 arena_printf(r->arena, "open_grant:%lld", (long long)rec.g.id),
	                 json_deep_copy(r->json));
	if (!e)
		resp_json(w, 201, grant_json(r->arena, &rec, 0));
out:
	db_release(c);
	return e;
}

static enum err h_grant_patch(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct open_grant_rec rec = {0};
	int64_t id;
	char day[11];
	enum err e;
	if (!param_id(r, &id))
		return req_fail(r, ERR_NOT_FOUND, "id", "授权不存在");
	if (json_object_size(r->json) == 0)
		return req_fail(r, ERR_BAD_REQUEST, NULL, "没有要修改的内容");
	if ((e = tx_begin(r, &c)))
		return e;
	if ((e = open_store_grant_get(c, r->arena, id, &rec))) {
		if (e == ERR_NOT_FOUND)
			req_fail(r, e, "id", "授权不存在");
		goto out;
	}
	if ((e = check_version(r, rec.version)) || (e = grant_apply(r, &rec.g)) ||
	    (e = open_store_grant_update(c, r->arena, &rec)))
		goto out;
	e = audit_commit(r, c, "gateway.open.grant.update",
	                 arena_printf(r->arena, "open_grant:%lld", (long long)id),
	                 json_deep_copy(r->json));
	if (e)
		goto out;
	open_local_day(time_now_ms(), day);
	resp_json(w, 200, grant_json(r->arena, &rec, open_store_quota_used(c, r->arena, id, day)));
out:
	db_release(c);
	return e;
}

static enum err h_grant_delete(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct open_grant_rec rec = {0};
	int64_t id;
	enum err e;
	if (!param_id(r, &id))
		return req_fail(r, ERR_NOT_FOUND, "id", "授权不存在");
	if ((e = tx_begin(r, &c)))
		return e;
	if ((e = open_store_grant_get(c, r->arena, id, &rec))) {
		if (e == ERR_NOT_FOUND)
			req_fail(r, e, "id", "授权不存在");
		goto out;
	}
	if ((e = open_store_grant_delete(c, r->arena, id)))
		goto out;
	e = audit_commit(r, c, "gateway.open.grant.delete",
	                 arena_printf(r->arena, "open_grant:%lld", (long long)id),
	                 json_pack("{s:s, s:s}", "key_id", rec.key_id, "api", rec.api));
	if (!e)
		resp_json(w, 200, json_pack("{s:b}", "deleted", 1));
out:
	db_release(c);
	return e;
}

/* ---- APIs and their mocks ---------------------------------------------------------------- */

static json_t *api_json(const struct open_api_rec *p)
{
	json_t *mock = p->mock ? json_loads(p->mock, JSON_DECODE_ANY, NULL) : NULL;
	return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:I, s:b, s:I, s:I}", "name", p->name,
	                 "method", p->method, "route", p->route, "title", p->title, "description",
	                 str_or_null(p->description), "mock", mock ? mock : json_null(),
	                 "mock_status", (json_int_t)p->mock_status, "enabled", p->enabled,
	                 "version", (json_int_t)p->version, "updated_at",
	                 (json_int_t)p->updated_at);
}

static const struct json_field api_patch_body[] = {
    {"title", JF_STRING, JF_NONEMPTY, 1, 100, "名称"},
    {"description", JF_STRING, JF_NULLABLE, 0, 500, "说明"},
    {"mock", JF_ANY, 0, 0, 0, "模拟数据"},
    {"mock_status", JF_INT, 0, 200, 599, "模拟状态码"},
    {"enabled", JF_BOOL, 0, 0, 0, "启用"},
    {"version", JF_INT, 0, 1, INT32_MAX, "版本"},
    {NULL, 0, 0, 0, 0, NULL},
};

static enum err h_apis_list(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct open_api_rec *v = NULL;
	int n = 0;
	enum err e = db_acquire(r->srv->db, OPEN_DB_WAIT_MS, &c);
	if (!e)
		e = open_store_apis_list(c, r->arena, &v, &n);
	db_release(c);
	if (e)
		return e;
	json_t *arr = json_array();
	for (int i = 0; arr && i < n; i++)
		json_array_append_new(arr, api_json(&v[i]));
	resp_json(w, 200, json_pack("{s:o}", "apis", arr));
	return ERR_OK;
}

static enum err h_api_patch(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct open_api_rec rec = {0};
	const char *name = req_param(r, "name");
	enum err e;
	if (json_object_size(r->json) == 0)
		return req_fail(r, ERR_BAD_REQUEST, NULL, "没有要修改的内容");
	json_t *mock = json_object_get(r->json, "mock");
	if (mock && !json_is_object(mock) && !json_is_array(mock))
		return req_fail(r, ERR_BAD_FIELD, "mock", "模拟数据应为 JSON 对象或数组");
	if ((e = tx_begin(r, &c)))
		return e;
	if ((e = open_store_api_get(c, r->arena, name, &rec))) {
		if (e == ERR_NOT_FOUND)
			req_fail(r, e, "name", "开放接口不存在");
		goto out;
	}
	if ((e = check_version(r, rec.version)))
		goto out;
	const char *title = json_get_str(r->json, "title");
	json_t *desc = json_object_get(r->json, "description");
	if (title)
		rec.title = title;
	if (desc)
		rec.description = json_string_value(desc);
	if (mock && !(rec.mock = json_dump_arena(mock, r->arena))) {
		e = ERR_NOMEM;
		goto out;
	}
	rec.mock_status = json_get_int(r->json, "mock_status", rec.mock_status);
	rec.enabled = json_get_bool(r->json, "enabled", rec.enabled);
	if ((e = open_store_api_update(c, r->arena, &rec)))
		goto out;
	e = audit_commit(r, c, "gateway.open.api.update",
	                 arena_printf(r->arena, "open_api:%s", name), json_deep_copy(r->json));
	if (!e)
		resp_json(w, 200, api_json(&rec));
out:
	db_release(c);
	return e;
}

/* ---- the call log ------------------------------------------------------------------------ */

/* GET /api/v1/admin/open/calls?credential=<id or key id>&api=&outcome=&before=&limit=50 */
static enum err h_calls(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct open_calls_query q = {
	    .api = req_query(r, "api"),
	    .outcome = req_query(r, "outcome"),
	};
	const char *cred = req_query(r, "credential");
	json_t *arr = NULL;
	enum err e;
	if ((e = req_query_int(r, "limit", 1, 500, 50, &q.limit)) ||
	    (e = req_query_int(r, "before", 1, INT64_MAX, 0, &q.before)))
		return e;
	if (cred && *cred && !cstr_to_i64(cred, 1, INT64_MAX, &q.credential_id))
		q.key_id = cred;
	/* Rows of this node still queued would be missing from a log just read back. */
	if (r->srv->gateway_open && r->srv->gateway_open->logq)
		open_logq_flush(r->srv->gateway_open->logq);
	if ((e = db_acquire(r->srv->db, OPEN_DB_WAIT_MS, &c)))
		return e;
	e = open_store_calls(c, r->arena, &q, &arr);
	db_release(c);
	if (e)
		return e;
	resp_json(w, 200, json_pack("{s:o}", "calls", arr));
	return ERR_OK;
}

/* ---- the module -------------------------------------------------------------------------- */

#define ADMIN "/api/v1/admin/open"

static const struct route open_routes[] = {
    {"GET", "/api/open/v1/ping", h_open, "ping", ROUTE_OPEN, NULL},
    {"GET", "/api/open/v1/catalog/items", h_open, "catalog.search", ROUTE_OPEN, NULL},
    {"GET", "/api/open/v1/catalog/items/{code}", h_open, "catalog.item", ROUTE_OPEN, NULL},
    {"GET", ADMIN "/apis", h_apis_list, MANAGE, 0, NULL},
    {"PATCH", ADMIN "/apis/{name}", h_api_patch, MANAGE, 0, api_patch_body},
    {"GET", ADMIN "/credentials", h_creds_list, MANAGE, 0, NULL},
    {"POST", ADMIN "/credentials", h_cred_create, MANAGE, 0, cred_create_body},
    {"GET", ADMIN "/credentials/{id}", h_cred_get, MANAGE, 0, NULL},
    {"PATCH", ADMIN "/credentials/{id}", h_cred_patch, MANAGE, 0, cred_patch_body},
    {"DELETE", ADMIN "/credentials/{id}", h_cred_delete, MANAGE, 0, NULL},
    {"POST", ADMIN "/credentials/{id}/rotate", h_cred_rotate, MANAGE, 0, empty_body},
    {"GET", ADMIN "/grants", h_grants_list, MANAGE, 0, NULL},
    {"POST", ADMIN "/grants", h_grant_create, MANAGE, 0, grant_create_body},
    {"PATCH", ADMIN "/grants/{id}", h_grant_patch, MANAGE, 0, grant_patch_body},
    {"DELETE", ADMIN "/grants/{id}", h_grant_delete, MANAGE, 0, NULL},
    {"GET", ADMIN "/calls", h_calls, READ, 0, NULL},
};

/* The handler of method + pattern in some module's route table (NULL when none). */
static http_handler find_handler(const char *method, const char *pattern)
{
	for (const struct module *const *mp = server_modules; *mp; mp++)
		for (size_t i = 0; i < (*mp)->nroutes; i++) {
			const struct route *rt = &(*mp)->routes[i];
			if (!strcmp(rt->method, method) && !strcmp(rt->pattern, pattern))
				return rt->handler;
		}
	return NULL;
}

static enum err open_module_init(struct server *srv)
{
	struct gateway_open_state *st = NULL;
	enum err e = open_state_create(&st);
	if (e)
		return e;
	for (size_t i = 0; i < open_api_ndefs; i++) {
		const struct open_api_def *d = &open_api_defs[i];
		st->live[i] = d->local ? d->local : find_handler(d->target_method, d->target_route);
		if (!st->live[i]) {
			log_error("open.init", "open API %s: no route %s %s serves its data",
			          d->name, d->target_method, d->target_route);
			open_state_destroy(st);
			return ERR_CONFIG;
		}
	}
	if ((e = open_logq_start(srv, &st->logq))) {
		open_state_destroy(st);
		return e;
	}
	if ((e = open_store_seed_apis(srv))) {
		log_error("open.init", "cannot record the open APIs (%s)", err_code(e));
		open_state_destroy(st);
		return e;
	}
	srv->gateway_open = st;
	return ERR_OK;
}

static void open_module_release(struct server *srv)
{
	open_state_destroy(srv->gateway_open);
	srv->gateway_open = NULL;
}

const struct module open_module = {
    .name = "open",
    .init = open_module_init,
    .release = open_module_release,
    .routes = open_routes,
    .nroutes = sizeof(open_routes) / sizeof(open_routes[0]),
};
