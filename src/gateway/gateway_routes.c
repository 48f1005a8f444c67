/* gateway_routes.c: the gateway module — connectors, test calls, breakers, mocks, the call
 * log and statistics under /api/v1/admin/gateway/.
 *
 * Permissions: gateway.manage for configuration (and test calls, which reach real systems),
 * gateway.read for the call log, breaker states and statistics. Every change is audited. */
#include <stdio.h>

#include "audit/audit.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "gateway/gateway_int.h"
#include "server/server_int.h"

#define DB_WAIT_MS 5000
#define MANAGE     "gateway.manage"
#define READ       "gateway.read"
#define P          "/api/v1/admin/gateway"

static enum err failed(struct req *r, enum err e, const struct errinfo *ei)
{
	if (ei && ei->msg) {
		r->err.code = e;
		r->err.field = ei->field;
		r->err.msg = ei->msg;
	}
	return e;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* The node's view of a connector's breaker and load. */
static json_t *breaker_json(struct server *srv, const char *name, const struct gw_conf *cf)
{
	struct gw_conn *cn = gw_conn_lookup(srv->gateway, name);
	if (!cn)
		return json_null();
	int64_t now_mono = time_mono_ns() / 1000000, now = time_now_ms();
	pthread_mutex_lock(&cn->mu);
	struct gw_breaker b = cn->br;
	int inflight = cn->inflight;
	int64_t open_ms = cf ? cf->breaker.open_ms : (cn->conf ? cn->conf->breaker.open_ms : 0);
	pthread_mutex_unlock(&cn->mu);
	json_t *o =
	    json_pack("{s:s,s:i,s:i,s:I}", "state", gw_breaker_state_name(b.state), "failures",
	              b.failures, "inflight", inflight, "opens", (json_int_t)b.opens);
	if (o && b.state != GW_BR_CLOSED) {
		int64_t left = b.opened_at_ms + open_ms - now_mono;
		json_object_set_new(o, "opened_at",
		                    json_integer(now - (now_mono - b.opened_at_ms)));
		json_object_set_new(o, "retry_in_ms", json_integer(left > 0 ? left : 0));
	}
	return o ? o : json_null();
}

static enum err acquire(struct req *r, struct db_conn **c)
{
	return db_acquire(r->srv->db, DB_WAIT_MS, c);
}

/* ---- connectors ------------------------------------------------------------------------ */

/* GET /connectors */
static enum err h_list(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e;
	if ((e = acquire(r, &c)) || (e = gw_store_connector_list(c, r->arena, &rs)))
		goto out;
	json_t *list = json_array();
	for (int i = 0; list && i < rs->nrows; i++) {
		json_t *d = json_loads(db_text(rs, i, 2), 0, NULL);
		const json_t *auth = json_object_get(d, "auth"), *cr = json_object_get(d, "crypto");
		const char *name = db_text(rs, i, 0);
		json_t *o = json_pack(
		    "{s:s,s:s,s:o,s:s,s:s,s:s,s:s,s:s,s:i,s:I,s:I,s:o,s:b,s:o}", "name", name,
		    "title", db_text(rs, i, 1), "description",
		    str_or_null(json_get_str(d, "description")), "protocol",
		    json_get_str(d, "protocol") ? json_get_str(d, "protocol") : "rest", "base_url",
		    json_get_str(d, "base_url") ? json_get_str(d, "base_url") : "", "mode",
		    json_get_str(d, "mode") ? json_get_str(d, "mode") : "live", "auth",
		    json_get_str(auth, "kind") ? json_get_str(auth, "kind") : "none", "crypto",
		    json_get_str(cr, "kind") ? json_get_str(cr, "kind") : "none", "methods",
		    (int)json_array_size(json_object_get(d, "methods")), "rev",
		    (json_int_t)db_int(rs, i, 3), "updated_at", (json_int_t)db_int(rs, i, 4),
		    "updated_by", str_or_null(db_text(rs, i, 5)), "secret_set",
		    db_int(rs, i, 6) != 0, "breaker", breaker_json(r->srv, name, NULL));
		json_decref(d);
		if (!o || json_array_append_new(list, o)) {
			json_decref(list);
			list = NULL;
		}
	}
	if (!list) {
		e = ERR_NOMEM;
		goto out;
	}
	resp_json(w, 200, json_pack("{s:o}", "connectors", list));
out:
	db_release(c);
	return e;
}

/* GET /connectors/{name} */
static enum err h_get(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	json_t *doc = NULL, *secrets = NULL;
	int64_t rev = 0, updated = 0;
	const char *name = req_param(r, "name");
	enum err e;
	if ((e = acquire(r, &c)) || (e = gw_store_connector_load(r->srv, c, r->arena, name, &doc,
	                                                         &secrets, &rev, &updated)))
		goto out;
	json_t *pub = gw_connector_public(doc, secrets);
	resp_json(w, 200,
	          json_pack("{s:o,s:I,s:I,s:o}", "connector", pub, "rev", (json_int_t)rev,
	                    "updated_at", (json_int_t)updated, "breaker",
	                    breaker_json(r->srv, name, NULL)));
out:
	if (e == ERR_NOT_FOUND)
		req_fail(r, e, "name", "接口系统“%s”不存在", name);
	db_release(c);
	json_decref(doc);
	json_decref(secrets);
	return e;
}

/* POST /connectors and PUT /connectors/{name} */
static enum err save(struct req *r, struct resp *w, bool create)
{
	struct db_conn *c = NULL;
	struct errinfo ei = {0};
	json_t *body = json_deep_copy(r->json), *stored = NULL, *given = NULL, *old = NULL,
	       *secrets = NULL;
	struct gw_conf *cf = NULL;
	int64_t expect = 0, cur = 0, rev = 0;
	const char *name = NULL;
	enum err e;
	if (!body)
		return ERR_NOMEM;
	if (!create) {
		expect = json_get_int(body, "rev", 0);
		json_object_del(body, "rev");
		name = req_param(r, "name");
		const char *in = json_get_str(body, "name");
		if (in && strcmp(in, name) != 0) {
			e = req_fail(r, ERR_BAD_FIELD, "name", "不能修改接口系统的名称");
			goto out;
		}
		if (!in)
			json_object_set_new(body, "name", json_string(name));
	}
	if ((e = gw_connector_validate(body, &ei, r->arena))) {
		e = failed(r, e, &ei);
		goto out;
	}
	name = json_get_str(body, "name");
	gw_connector_split(body, &stored, &given);
	if (!stored || !given) {
		e = ERR_NOMEM;
		goto out;
	}
	if ((e = acquire(r, &c)) || (e = db_begin_write(c)))
		goto out;
	if (!create) {
		if ((e = gw_store_connector_load(r->srv, c, r->arena, name, NULL, &old, &cur,
		                                 NULL)))
			goto out;
		if (cur != expect) {
			e = req_fail(r, ERR_CONFLICT, "rev",
			             "接口系统已被他人修改（当前修订号 %lld），请刷新后重试",
			             (long long)cur);
			goto out;
		}
	}
	secrets = gw_secrets_merge(old, given);
	if (!secrets) {
		e = ERR_NOMEM;
		goto out;
	}
	/* A document that cannot run (bad key, bad PEM) is refused here, not at the first call. */
	if ((e = gw_conf_build(stored, secrets, 0, &cf, &ei, r->arena))) {
		ei.field = ei.field ? ei.field : "auth";
		e = failed(r, ERR_INVALID, &ei);
		goto out;
	}
	if ((e = gw_store_connector_put(r->srv, c, r->arena, stored, secrets, create, expect,
	                                r->who ? r->who->username : NULL, &rev))) {
		if (e == ERR_EXISTS)
			req_fail(r, e, "name", "接口系统“%s”已存在", name);
		else if (e == ERR_CONFLICT)
			req_fail(r, e, "rev", "接口系统已被他人修改，请刷新后重试");
		goto out;
	}
	struct audit_entry ae = {
	    .actor_id = r->who ? r->who->user_id : 0,
	    .actor_name = r->who ? r->who->username : NULL,
	    .action = create ? "gateway.connector.create" : "gateway.connector.update",
	    .target = arena_printf(r->arena, "connector:%s", name),
	    .detail = arena_printf(r->arena, "{\"rev\":%lld}", (long long)rev),
	    .client_ip = r->client_ip,
	    .trace_id = r->trace.trace_id,
	};
	if ((e = audit_append(c, r->arena, &ae)) || (e = db_commit(c)))
		goto out;
	gw_conn_invalidate(r->srv->gateway, name, false);
	resp_json(w, create ? 201 : 200,
	          json_pack("{s:s,s:I}", "name", name, "rev", (json_int_t)rev));
out:
	if (e == ERR_NOT_FOUND && !r->err.code)
		req_fail(r, e, "name", "接口系统“%s”不存在", name ? name : "");
	if (c && e)
		db_rollback(c);
	db_release(c);
	gw_conf_put(cf);
	json_decref(body);
	json_decref(stored);
	json_decref(given);
	json_decref(old);
	json_decref(secrets);
	return e;
}

static enum err h_create(struct req *r, struct resp *w)
{
	return save(r, w, true);
}

static enum err h_update(struct req *r, struct resp *w)
{
	return save(r, w, false);
}

/* DELETE /connectors/{name} */
static enum err h_delete(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	const char *name = req_param(r, "name");
	enum err e;
	if ((e = acquire(r, &c)) || (e = db_begin_write(c)) ||
	    (e = gw_store_connector_delete(c, r->arena, name)))
		goto out;
	struct audit_entry ae = {
	    .actor_id = r->who ? r->who->user_id : 0,
	    .actor_name = r->who ? r->who->username : NULL,
	    .action = "gateway.connector.delete",
	    .target = arena_printf(r->arena, "connector:%s", name),
	    .client_ip = r->client_ip,
	    .trace_id = r->trace.trace_id,
	};
	if ((e = audit_append(c, r->arena, &ae)) || (e = db_commit(c)))
		goto out;
	gw_conn_invalidate(r->srv->gateway, name, true);
	resp_json(w, 200, json_pack("{s:s,s:b}", "name", name, "deleted", 1));
out:
	if (e == ERR_NOT_FOUND)
		req_fail(r, e, "name", "接口系统“%s”不存在", name);
	if (c && e)
		db_rollback(c);
	db_release(c);
	return e;
}

/* POST /connectors/{name}/test {method, request, force_mock}: a real call, logged. The
 * answer is 200 whatever the system said: the outcome is the result of the test. */
static enum err h_test(struct req *r, struct resp *w)
{
	struct gateway_call_result res;
	struct errinfo ei = {0};
	const char *name = req_param(r, "name");
	const char *method = json_get_str(r->json, "method");
	struct gateway_caller caller = {
	    .module = "gateway.test",
	    .user = r->who ? r->who->username : NULL,
	    .user_id = r->who ? r->who->user_id : 0,
	    .trace_id = r->trace.trace_id,
	    .force_mock = json_get_bool(r->json, "force_mock", false),
	};
	enum err e = gateway_call(r->srv, name, method, json_object_get(r->json, "request"),
	                          &caller, r->arena, &res, &ei);
	if (e == ERR_NOT_FOUND || e == ERR_BAD_FIELD)
		return failed(r, e, &ei);
	json_t *err = e ? json_pack("{s:s,s:s}", "code", err_code(e), "message",
	                            ei.msg ? ei.msg : err_message(e))
	                : json_null();
	resp_json(w, 200,
	          json_pack("{s:b,s:s,s:i,s:f,s:I,s:i,s:I,s:O?,s:o,s:s}", "ok", e == ERR_OK,
	                    "outcome", res.outcome, "http_status", res.http_status, "latency_ms",
	                    (double)res.latency_us / 1000.0, "latency_us",
	                    (json_int_t)res.latency_us, "attempts", res.attempts, "call_id",
	                    (json_int_t)res.call_id, "response", res.response, "error", err,
	                    "trace_id", r->trace.trace_id));
	audit_record(r->srv, r, "gateway.connector.test",
	             arena_printf(r->arena, "connector:%s", name),
	             arena_printf(r->arena, "{\"method\":\"%s\",\"outcome\":\"%s\"}",
	                          method ? method : "", res.outcome));
	return ERR_OK;
}

/* GET /connectors/{name}/breaker */
static enum err h_breaker(struct req *r, struct resp *w)
{
	resp_json(w, 200, breaker_json(r->srv, req_param(r, "name"), NULL));
	return ERR_OK;
}

/* POST /connectors/{name}/breaker/reset (this node's breaker) */
static enum err h_breaker_reset(struct req *r, struct resp *w)
{
	const char *name = req_param(r, "name");
	struct gw_conn *cn = gw_conn_lookup(r->srv->gateway, name);
	if (!cn)
		return req_fail(r, ERR_NOT_FOUND, "name", "接口系统“%s”不存在", name);
	pthread_mutex_lock(&cn->mu);
	gw_breaker_reset(&cn->br);
	pthread_mutex_unlock(&cn->mu);
	audit_record(r->srv, r, "gateway.breaker.reset",
	             arena_printf(r->arena, "connector:%s", name), NULL);
	resp_json(w, 200, breaker_json(r->srv, name, NULL));
	return ERR_OK;
}

/* ---- mocks ----------------------------------------------------------------------------- */

static json_t *mock_json(const struct db_rows *rs, int i)
{
	json_t *d = json_loads(db_text(rs, i, 4), 0, NULL);
	if (!d)
		d = json_object();
	json_object_set_new(d, "id", json_integer(db_int(rs, i, 0)));
	json_object_set_new(d, "updated_at", json_integer(db_int(rs, i, 5)));
	return d;
}

/* GET /mocks?connector=&method= */
static enum err h_mocks(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	const char *conn = req_query(r, "connector"), *method = req_query(r, "method");
	enum err e;
	if ((e = acquire(r, &c)) ||
	    (e = gw_store_mock_list(c, r->arena, conn && conn[0] ? conn : NULL,
	                            method && method[0] ? method : NULL, &rs)))
		goto out;
	json_t *list = json_array();
	for (int i = 0; list && i < rs->nrows; i++)
		json_array_append_new(list, mock_json(rs, i));
	resp_json(w, 200, json_pack("{s:o}", "mocks", list));
out:
	db_release(c);
	return e;
}

static enum err id_param(struct req *r, int64_t *id)
{
	if (!cstr_to_i64(req_param(r, "id"), 1, INT64_MAX, id))
		return req_fail(r, ERR_NOT_FOUND, "id", "记录不存在");
	return ERR_OK;
}

/* GET /mocks/{id} */
static enum err h_mock_get(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	int64_t id;
	enum err e;
	if ((e = id_param(r, &id)) || (e = acquire(r, &c)) ||
	    (e = gw_store_mock_get(c, r->arena, id, &rs)))
		goto out;
	resp_json(w, 200, mock_json(rs, 0));
out:
	db_release(c);
	return e;
}

static enum err mock_save(struct req *r, struct resp *w, int64_t id)
{
	struct db_conn *c = NULL;
	int64_t out_id = 0;
	enum err e;
	if ((e = gw_mock_validate(r->json, &r->err, r->arena)))
		return e;
	if ((e = acquire(r, &c)) || (e = db_begin_write(c)) ||
	    (e = gw_store_mock_put(c, r->arena, id, r->json, &out_id)))
		goto out;
	struct audit_entry ae = {
	    .actor_id = r->who ? r->who->user_id : 0,
	    .actor_name = r->who ? r->who->username : NULL,
	    .action = id ? "gateway.mock.update" : "gateway.mock.create",
	    .target = arena_printf(r->arena, "mock:%lld", (long long)out_id),
	    .detail =
	        arena_printf(r->arena, "{\"connector\":\"%s\",\"method\":\"%s\"}",
	                     json_get_str(r->json, "connector"), json_get_str(r->json, "method")),
	    .client_ip = r->client_ip,
	    .trace_id = r->trace.trace_id,
	};
	if ((e = audit_append(c, r->arena, &ae)) || (e = db_commit(c)))
		goto out;
	resp_json(w, id ? 200 : 201, json_pack("{s:I}", "id", (json_int_t)out_id));
out:
	if (c && e)
		db_rollback(c);
	db_release(c);
	return e;
}

static enum err h_mock_create(struct req *r, struct resp *w)
{
	return mock_save(r, w, 0);
}

static enum err h_mock_update(struct req *r, struct resp *w)
{
	int64_t id;
	enum err e = id_param(r, &id);
	return e ? e : mock_save(r, w, id);
}

/* DELETE /mocks/{id} */
static enum err h_mock_delete(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	int64_t id;
	enum err e;
	if ((e = id_param(r, &id)) || (e = acquire(r, &c)) || (e = db_begin_write(c)) ||
	    (e = gw_store_mock_delete(c, r->arena, id)))
		goto out;
	struct audit_entry ae = {
	    .actor_id = r->who ? r->who->user_id : 0,
	    .actor_name = r->who ? r->who->username : NULL,
	    .action = "gateway.mock.delete",
	    .target = arena_printf(r->arena, "mock:%lld", (long long)id),
	    .client_ip = r->client_ip,
	    .trace_id = r->trace.trace_id,
	};
	if ((e = audit_append(c, r->arena, &ae)) || (e = db_commit(c)))
		goto out;
	resp_json(w, 200, json_pack("{s:I,s:b}", "id", (json_int_t)id, "deleted", 1));
out:
	if (c && e)
		db_rollback(c);
	db_release(c);
	return e;
}

/* ---- the call log ---------------------------------------------------------------------- */

/* A from/to bound: "YYYY-MM-DD" (China Standard Time; to includes that day) or ms. */
static enum err time_bound(struct req *r, const char *name, bool upper, int64_t *out)
{
	const char *s = req_query(r, name);
	int day;
	*out = 0;
	if (!s || !s[0])
		return ERR_OK;
	if (gw_parse_date(s, &day)) {
		*out = gw_day_start_ms(upper ? gw_day_add(day, 1) : day);
		return ERR_OK;
	}
	if (cstr_to_i64(s, 1, INT64_MAX, out))
		return ERR_OK;
	return req_fail(r, ERR_BAD_FIELD, name, "时间应为 YYYY-MM-DD 格式的日期或毫秒时间戳");
}

static json_t *call_json(const struct db_rows *rs, int i)
{
	return json_pack("{s:I,s:o,s:s,s:s,s:o,s:o,s:I,s:I,s:I,s:f,s:s,s:b,s:i,s:i,s:o}", "id",
	                 (json_int_t)db_int(rs, i, 0), "trace_id", str_or_null(db_text(rs, i, 1)),
	                 "connector", db_text(rs, i, 2), "method", db_text(rs, i, 3),
	                 "caller_module", str_or_null(db_text(rs, i, 4)), "caller_user",
	                 str_or_null(db_text(rs, i, 5)), "caller_user_id",
	                 (json_int_t)db_int(rs, i, 6), "started_at", (json_int_t)db_int(rs, i, 7),
	                 "latency_us", (json_int_t)db_int(rs, i, 8), "latency_ms",
	                 (double)db_int(rs, i, 8) / 1000.0, "outcome", db_text(rs, i, 9), "mocked",
	                 db_int(rs, i, 10) != 0, "http_status", (int)db_int(rs, i, 11), "attempts",
	                 (int)db_int(rs, i, 12), "error", str_or_null(db_text(rs, i, 13)));
}

/* GET /calls?connector=&method=&outcome=&trace_id=&from=&to=&limit=&before= */
static enum err h_calls(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct gw_call_filter f = {0};
	int64_t limit = 0;
	enum err e;
	const char *q[4] = {req_query(r, "connector"), req_query(r, "method"),
	                    req_query(r, "outcome"), req_query(r, "trace_id")};
	for (int i = 0; i < 4; i++)
		if (q[i] && !q[i][0])
			q[i] = NULL;
	f.connector = q[0];
	f.method = q[1];
	f.outcome = q[2];
	f.trace_id = q[3];
	if ((e = time_bound(r, "from", false, &f.from_ms)) ||
	    (e = time_bound(r, "to", true, &f.to_ms)) ||
	    (e = req_query_int(r, "limit", 1, 200, 50, &limit)) ||
	    (e = req_query_int(r, "before", 1, INT64_MAX, 0, &f.before)))
		return e;
	f.limit = (int)limit;
	/* This node's own recent calls are still in the writer's queue: let them land first. */
	gw_log_flush_now(r->srv->gateway->log);
	if ((e = acquire(r, &c)) || (e = gw_store_calls(c, r->arena, &f, &rs)))
		goto out;
	json_t *list = json_array();
	for (int i = 0; list && i < rs->nrows; i++)
		json_array_append_new(list, call_json(rs, i));
	resp_json(w, 200,
	          json_pack("{s:o,s:o}", "calls", list, "next_before",
	                    rs->nrows == f.limit ? json_integer(db_int(rs, rs->nrows - 1, 0))
	                                         : json_null()));
out:
	db_release(c);
	return e;
}

static json_t *text_json(const char *s)
{
	if (!s)
		return json_null();
	json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
	return v ? v : json_string(s);
}

/* GET /calls/{id} */
static enum err h_call(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	int64_t id;
	enum err e;
	if ((e = id_param(r, &id)))
		return e;
	gw_log_flush_now(r->srv->gateway->log);
	if ((e = acquire(r, &c)) || (e = gw_store_call_get(c, r->arena, id, &rs)))
		goto out;
	json_t *o = call_json(rs, 0);
	json_object_set_new(o, "request", text_json(db_text(rs, 0, 14)));
	json_object_set_new(o, "response", text_json(db_text(rs, 0, 15)));
	resp_json(w, 200, o);
out:
	if (e == ERR_NOT_FOUND)
		req_fail(r, e, "id", "调用记录不存在");
	db_release(c);
	return e;
}

/* POST /calls/{id}/mock {match?, title?}: save a logged answer as a mock (values masked in
 * the log stay masked). */
static enum err h_call_to_mock(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	int64_t id, mock_id = 0;
	enum err e;
	if ((e = id_param(r, &id)))
		return e;
	gw_log_flush_now(r->srv->gateway->log);
	if ((e = acquire(r, &c)) || (e = gw_store_call_get(c, r->arena, id, &rs)))
		goto out;
	json_t *match = json_object_get(r->json, "match");
	int st = (int)db_int(rs, 0, 11);
	json_t *mock = json_pack(
	    "{s:s,s:s,s:s,s:o,s:i,s:o}", "connector", db_text(rs, 0, 2), "method",
	    db_text(rs, 0, 3), "title",
	    json_get_str(r->json, "title") ? json_get_str(r->json, "title") : "由调用记录保存",
	    "match", match ? json_incref(match) : json_object(), "status",
	    st >= 100 && st <= 599 ? st : 200, "response", text_json(db_text(rs, 0, 15)));
	json_arena_own(r->arena, mock);
	if (!mock) {
		e = ERR_NOMEM;
		goto out;
	}
	if ((e = db_begin_write(c)) || (e = gw_store_mock_put(c, r->arena, 0, mock, &mock_id)) ||
	    (e = db_commit(c)))
		goto out;
	resp_json(w, 201, json_pack("{s:I}", "id", (json_int_t)mock_id));
out:
	if (e == ERR_NOT_FOUND)
		req_fail(r, e, "id", "调用记录不存在");
	if (c && e)
		db_rollback(c);
	db_release(c);
	return e;
}

/* ---- statistics ------------------------------------------------------------------------ */

static enum err stats_range(struct req *r, int *from, int *to)
{
	const char *f = req_query(r, "from"), *t = req_query(r, "to");
	*to = gw_day_of(time_now_ms());
	if (t && t[0] && !gw_parse_date(t, to))
		return req_fail(r, ERR_BAD_FIELD, "to", "日期应为 YYYY-MM-DD 格式");
	*from = gw_day_add(*to, -6);
	if (f && f[0] && !gw_parse_date(f, from))
		return req_fail(r, ERR_BAD_FIELD, "from", "日期应为 YYYY-MM-DD 格式");
	if (*from > *to)
		return req_fail(r, ERR_BAD_FIELD, "from", "开始日期不能晚于结束日期");
	if (gw_day_start_ms(*to) - gw_day_start_ms(*from) > 366LL * 86400000)
		return req_fail(r, ERR_BAD_FIELD, "from", "统计区间最长一年");
	return ERR_OK;
}

/* GET /stats?from=&to=&connector= */
static enum err h_stats(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct gw_stats_row *rows = NULL;
	size_t n = 0;
	int from, to;
	char fs[11], ts[11];
	const char *conn = req_query(r, "connector");
	enum err e;
	if ((e = stats_range(r, &from, &to)))
		return e;
	gw_log_flush_now(r->srv->gateway->log);
	if ((e = acquire(r, &c)) ||
	    (e = gw_stats_compute(c, r->arena, from, to, conn && conn[0] ? conn : NULL, &rows, &n)))
		goto out;
	gw_day_text(from, fs);
	gw_day_text(to, ts);
	resp_json(w, 200,
	          json_pack("{s:s,s:s,s:o}", "from", fs, "to", ts, "rows", gw_stats_json(rows, n)));
out:
	db_release(c);
	return e;
}

/* GET /stats.xlsx?from=&to=&connector= */
static enum err h_stats_xlsx(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct gw_stats_row *rows = NULL;
	size_t n = 0, len = 0;
	const void *data = NULL;
	int from, to;
	char fs[11], ts[11];
	const char *conn = req_query(r, "connector");
	enum err e;
	if ((e = stats_range(r, &from, &to)))
		return e;
	gw_log_flush_now(r->srv->gateway->log);
	if ((e = acquire(r, &c)) ||
	    (e = gw_stats_compute(c, r->arena, from, to, conn && conn[0] ? conn : NULL, &rows, &n)))
		goto out;
	db_release(c);
	c = NULL;
	if ((e = gw_stats_xlsx(rows, n, from, to, r->srv->cfg.data_dir, r->arena, &data, &len)))
		goto out;
	gw_day_text(from, fs);
	gw_day_text(to, ts);
	w->status = 200;
	w->body = data;
	w->body_len = len;
	w->content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
	resp_header(w, "Content-Disposition",
	            arena_printf(r->arena,
	                         "attachment; filename=\"gateway-stats-%s-%s.xlsx\"; "
	                         "filename*=UTF-8''%%E6%%8E%%A5%%E5%%8F%%A3%%E8%%B0%%83%%E7%%94%%"
	                         "A8%%E7%%BB%%9F%%E8%%AE%%A1-%s-%s.xlsx",
	                         fs, ts, fs, ts));
	audit_record(r->srv, r, "gateway.stats.export", "gateway",
	             arena_printf(r->arena, "{\"from\":\"%s\",\"to\":\"%s\"}", fs, ts));
out:
	db_release(c);
	return e;
}

/* ---- module ---------------------------------------------------------------------------- */

static enum err gateway_init(struct server *srv)
{
	char *dir = server_find_path("gateway");
	enum err e = gw_state_create(srv, dir);
	free(dir);
	return e;
}

static void gateway_release(struct server *srv)
{
	gw_state_destroy(srv);
}

#define ANY(n, label)                                                                              \
	{                                                                                          \
		n, JF_ANY, JF_NULLABLE, 0, 0, label                                                \
	}

static const struct json_field connector_body[] = {
    ANY("name", "名称"),     ANY("title", "标题"),           ANY("description", "说明"),
    ANY("protocol", "协议"), ANY("base_url", "基础地址"),    ANY("auth", "认证"),
    ANY("crypto", "加密"),   ANY("timeout_ms", "超时"),      ANY("retry", "重试"),
    ANY("breaker", "熔断"),  ANY("concurrency", "并发上限"), ANY("mode", "模式"),
    ANY("methods", "方法"),  {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field connector_put_body[] = {
    {"rev", JF_INT, JF_REQUIRED, 1, INT64_MAX, "修订号"},
    ANY("name", "名称"),
    ANY("title", "标题"),
    ANY("description", "说明"),
    ANY("protocol", "协议"),
    ANY("base_url", "基础地址"),
    ANY("auth", "认证"),
    ANY("crypto", "加密"),
    ANY("timeout_ms", "超时"),
    ANY("retry", "重试"),
    ANY("breaker", "熔断"),
    ANY("concurrency", "并发上限"),
    ANY("mode", "模式"),
    ANY("methods", "方法"),
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field test_body[] = {
    {"method", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 64, "方法"},
    {"request", JF_OBJECT, JF_NULLABLE, 0, 0, "请求"},
    {"force_mock", JF_BOOL, JF_NULLABLE, 0, 0, "使用模拟数据"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field mock_body[] = {
    ANY("connector", "接口系统"), ANY("method", "方法"),    ANY("title", "标题"),
    ANY("match", "匹配条件"),     ANY("status", "状态码"),  ANY("delay_ms", "延迟"),
    ANY("response", "响应"),      {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field to_mock_body[] = {
    {"match", JF_OBJECT, JF_NULLABLE, 0, 0, "匹配条件"},
    {"title", JF_STRING, JF_NULLABLE, 0, 200, "标题"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field empty_body[] = {{NULL, 0, 0, 0, 0, NULL}};

static const struct route gateway_routes[] = {
    {"GET", P "/connectors", h_list, MANAGE, 0, NULL},
    {"POST", P "/connectors", h_create, MANAGE, 0, connector_body},
    {"GET", P "/connectors/{name}", h_get, MANAGE, 0, NULL},
    {"PUT", P "/connectors/{name}", h_update, MANAGE, 0, connector_put_body},
    {"DELETE", P "/connectors/{name}", h_delete, MANAGE, 0, NULL},
    {"POST", P "/connectors/{name}/test", h_test, MANAGE, ROUTE_SLOW, test_body},
    {"GET", P "/connectors/{name}/breaker", h_breaker, READ, 0, NULL},
    {"POST", P "/connectors/{name}/breaker/reset", h_breaker_reset, MANAGE, 0, empty_body},
    {"GET", P "/mocks", h_mocks, MANAGE, 0, NULL},
    {"POST", P "/mocks", h_mock_create, MANAGE, 0, mock_body},
    {"GET", P "/mocks/{id}", h_mock_get, MANAGE, 0, NULL},
    {"PUT", P "/mocks/{id}", h_mock_update, MANAGE, 0, mock_body},
    {"DELETE", P "/mocks/{id}", h_mock_delete, MANAGE, 0, NULL},
    {"GET", P "/calls", h_calls, READ, 0, NULL},
    {"GET", P "/calls/{id}", h_call, READ, 0, NULL},
    {"POST", P "/calls/{id}/mock", h_call_to_mock, MANAGE, 0, to_mock_body},
    {"GET", P "/stats", h_stats, READ, ROUTE_SLOW, NULL},
    {"GET", P "/stats.xlsx", h_stats_xlsx, READ, ROUTE_SLOW, NULL},
};

const struct module gateway_module = {
    .name = "gateway",
    .init = gateway_init,
    .release = gateway_release,
    .routes = gateway_routes,
    .nroutes = sizeof(gateway_routes) / sizeof(gateway_routes[0]),
};
