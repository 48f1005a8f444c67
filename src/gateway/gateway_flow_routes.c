/* gateway_flow_routes.c: the flow module — its start (seeding gateway/flows/, the outbox
 * handler of kind gateway.flow) and its admin routes: flow documents (list, get, create,
 * update with the revision, delete, validate), debug runs, and the run records. */
#include "gateway/gateway_int.h"

#include "audit/audit.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "events/events.h"
#include "server/server_int.h"

#define DB_WAIT_MS    5000
#define RUNS_LIST_MAX 500
#define MANAGE        "gateway.manage"
#define READ          "gateway.read"

/* ---- the registry of the running server: connectors in the database ------------------ */

static int server_lookup(void *ctx, const char *connector, const char *method)
{
	struct server *srv = ctx;
	struct gw_conf *conf = NULL;
	struct errinfo ei = {0};
	struct arena a;
	int r = 1;
	if (!srv->gateway)
		return 0; /* the gateway module is not running here: nothing to check against */
	struct gw_conn *cn = gw_conn_lookup(srv->gateway, connector);
	if (!cn)
		return 0;
	arena_init(&a, 1u << 20);
	if (!gw_conn_conf(srv, cn, &conf, &ei, &a)) {
		r = gw_conf_method(conf, method) ? 0 : 2;
		gw_conf_put(conf);
	}
	arena_release(&a);
	return r;
}

void gw_flow_registry_server(struct server *srv, struct gw_flow_registry *reg)
{
	reg->lookup = server_lookup;
	reg->ctx = srv;
}

/* ---- helpers ------------------------------------------------------------------------- */

static enum err fail_ei(struct req *r, enum err e, const struct errinfo *ei)
{
	if (ei->msg || ei->field) {
		r->err = *ei;
		r->err.code = e;
	}
	return e;
}

/* 422 with the list of problems next to the usual error object. */
static enum err fail_problems(struct req *r, struct resp *w, json_t *problems)
{
	json_t *err = json_pack("{s:s, s:s, s:s}", "code", err_code(ERR_INVALID), "message",
	                        "流程定义有误，请按问题列表修改", "trace_id", r->trace.trace_id);
	resp_json(w, err_status(ERR_INVALID),
	          json_pack("{s:o, s:O}", "error", err, "problems", problems));
	return ERR_OK;
}

static const char *actor(const struct req *r)
{
	return r->who && r->who->username ? r->who->username : "system";
}

/* Validate a document from a request: 422 with the problems, or ERR_OK. *bad tells. */
static enum err check_doc(struct req *r, struct resp *w, const json_t *doc, bool *bad)
{
	struct gw_flow_registry reg;
	json_t *problems = json_arena_own(r->arena, json_array());
	*bad = false;
	if (!problems)
		return ERR_NOMEM;
	gw_flow_registry_server(r->srv, &reg);
	if (gw_flow_validate(doc, &reg, problems)) {
		*bad = true;
		return fail_problems(r, w, problems);
	}
	return ERR_OK;
}

/* Run fn inside a write transaction with an audit entry; retried once on a PostgreSQL
 * serialisation conflict of the audit chain. */
struct write_op {
	const json_t *doc;
	const char *name;
	int64_t rev; /* expected (update, delete), then the new one */
	int kind;    /* 0 create, 1 update, 2 delete */
};

static enum err write_flow(struct req *r, struct write_op *op)
{
	static const char *const actions[] = {"gateway.flow.create", "gateway.flow.update",
	                                      "gateway.flow.delete"};
	struct db_conn *c = NULL;
	enum err e;
	int64_t now = time_now_ms();
	if ((e = db_acquire(r->srv->db, DB_WAIT_MS, &c)))
		return e;
	for (int t = 0; t < 2; t++) {
		bool open = false;
		int64_t rev = 0;
		if ((e = db_begin_write(c)))
			break;
		open = true;
		if (op->kind == 0)
			e = gw_flow_store_create(c, r->arena, op->doc, "admin", actor(r), now,
			                         &rev);
		else if (op->kind == 1)
			e = gw_flow_store_update(c, r->arena, op->doc, op->rev, actor(r), now,
			                         &rev);
		else
			e = gw_flow_store_delete(c, r->arena, op->name, op->rev, actor(r), now);
		if (!e) {
			struct audit_entry ae = {
			    .actor_id = r->who ? r->who->user_id : 0,
			    .actor_name = actor(r),
			    .action = actions[op->kind],
			    .target = arena_printf(r->arena, "flow:%s", op->name),
			    .detail = arena_printf(r->arena, "{\"rev\":%lld}", (long long)rev),
			    .client_ip = r->client_ip,
			    .trace_id = r->trace.trace_id,
			};
			e = audit_append(c, r->arena, &ae);
		}
		if (!e) {
			e = db_commit(c);
			open = false;
		}
		if (e && open)
			db_rollback(c);
		if (!e)
			op->rev = rev;
		if (e != ERR_CONFLICT || op->kind != 0)
			break;
	}
	db_release(c);
	return e;
}

/* ---- flow documents ------------------------------------------------------------------ */

static json_t *summary(const struct gw_flow_row *f)
{
	json_t *params = json_array();
	const char *k;
	const json_t *v;
	json_object_foreach (json_object_get(f->doc, "params"), k, v)
		json_array_append_new(params, json_string(k));
	json_t *conns = json_array();
	size_t i;
	const json_t *s;
	json_array_foreach (json_object_get(f->doc, "steps"), i, s) {
		const char *cn = json_string_value(json_object_get(s, "connector"));
		bool seen = false;
		size_t j;
		const json_t *x;
		json_array_foreach (conns, j, x)
			seen = seen || (cn && !strcmp(json_string_value(x), cn));
		if (cn && !seen)
			json_array_append_new(conns, json_string(cn));
	}
	const char *policy = json_string_value(json_object_get(f->doc, "on_error"));
	return json_pack("{s:s, s:s, s:I, s:s, s:I, s:s?, s:o, s:o, s:s, s:I}", "name", f->name,
	                 "title", f->title, "rev", (json_int_t)f->rev, "source", f->source,
	                 "updated_at", (json_int_t)f->updated_at, "updated_by", f->updated_by,
	                 "params", params, "connectors", conns, "on_error",
	                 policy ? policy : "stop", "steps",
	                 (json_int_t)json_array_size(json_object_get(f->doc, "steps")));
}

/* GET /api/v1/admin/flows?q= */
static enum err h_list(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct gw_flow_row *rows = NULL;
	int n = 0;
	const char *q = req_query(r, "q");
	if (q && strlen(q) > 100)
		return req_fail(r, ERR_BAD_FIELD, "q", "搜索内容不能超过 100 个字符");
	enum err e = db_acquire(r->srv->db, DB_WAIT_MS, &c);
	if (!e)
		e = gw_flow_store_list(c, r->arena, q, &rows, &n);
	if (c)
		db_release(c);
	if (e)
		return e;
	json_t *arr = json_array();
	for (int i = 0; arr && i < n; i++)
		json_array_append_new(arr, summary(&rows[i]));
	resp_json(w, 200, json_pack("{s:o, s:i}", "flows", arr, "total", n));
	return ERR_OK;
}

/* GET /api/v1/admin/flows/{name} */
static enum err h_get(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct gw_flow_row f;
	const char *name = req_param(r, "name");
	if (!gw_flow_name_valid(name))
		return req_fail(r, ERR_NOT_FOUND, "name", "流程不存在");
	enum err e = db_acquire(r->srv->db, DB_WAIT_MS, &c);
	if (!e)
		e = gw_flow_store_get(c, r->arena, name, &f);
	if (c)
		db_release(c);
	if (e == ERR_NOT_FOUND)
		return req_fail(r, e, "name", "流程“%s”不存在", name);
	if (e)
		return e;
	resp_json(w, 200,
	          json_pack("{s:O, s:I, s:s, s:I, s:I, s:s?}", "flow", f.doc, "rev",
	                    (json_int_t)f.rev, "source", f.source, "created_at",
	                    (json_int_t)f.created_at, "updated_at", (json_int_t)f.updated_at,
	                    "updated_by", f.updated_by));
	return ERR_OK;
}

/* POST /api/v1/admin/flows {"flow":{…}} */
static enum err h_create(struct req *r, struct resp *w)
{
	const json_t *doc = json_object_get(r->json, "flow");
	bool bad;
	enum err e = check_doc(r, w, doc, &bad);
	if (e || bad)
		return e;
	struct write_op op = {.doc = doc, .name = json_string_value(json_object_get(doc, "name"))};
	e = write_flow(r, &op);
	if (e == ERR_EXISTS)
		return req_fail(r, e, "flow.name", "流程“%s”已存在", op.name);
	if (e)
		return e;
	resp_json(w, 201, json_pack("{s:s, s:I}", "name", op.name, "rev", (json_int_t)op.rev));
	return ERR_OK;
}

/* PUT /api/v1/admin/flows/{name} {"flow":{…},"rev":N} */
static enum err h_update(struct req *r, struct resp *w)
{
	const char *name = req_param(r, "name");
	const json_t *doc = json_object_get(r->json, "flow");
	const char *doc_name = json_string_value(json_object_get(doc, "name"));
	bool bad;
	if (!gw_flow_name_valid(name))
		return req_fail(r, ERR_NOT_FOUND, "name", "流程不存在");
	if (!doc_name || strcmp(doc_name, name))
		return req_fail(r, ERR_BAD_FIELD, "flow.name", "流程名称不能修改（应为“%s”）",
		                name);
	enum err e = check_doc(r, w, doc, &bad);
	if (e || bad)
		return e;
	struct write_op op = {.doc = doc,
	                      .name = name,
	                      .rev = json_integer_value(json_object_get(r->json, "rev")),
	                      .kind = 1};
	e = write_flow(r, &op);
	if (e == ERR_NOT_FOUND)
		return req_fail(r, e, "name", "流程“%s”不存在", name);
	if (e == ERR_CONFLICT)
		return req_fail(r, e, "rev", "流程已被他人修改（修订号不是 %lld），请刷新后重试",
		                (long long)json_integer_value(json_object_get(r->json, "rev")));
	if (e)
		return e;
	resp_json(w, 200, json_pack("{s:s, s:I}", "name", name, "rev", (json_int_t)op.rev));
	return ERR_OK;
}

/* DELETE /api/v1/admin/flows/{name}?rev=N (rev optional) */
static enum err h_delete(struct req *r, struct resp *w)
{
	const char *name = req_param(r, "name");
	int64_t rev = 0;
	enum err e = req_query_int(r, "rev", 1, INT64_MAX, 0, &rev);
	if (e)
		return e;
	if (!gw_flow_name_valid(name))
		return req_fail(r, ERR_NOT_FOUND, "name", "流程不存在");
	struct write_op op = {.name = name, .rev = rev, .kind = 2};
	e = write_flow(r, &op);
	if (e == ERR_NOT_FOUND)
		return req_fail(r, e, "name", "流程“%s”不存在", name);
	if (e == ERR_CONFLICT)
		return req_fail(r, e, "rev", "流程已被他人修改，请刷新后重试");
	if (e)
		return e;
	resp_json(w, 200, json_pack("{s:s, s:b}", "name", name, "deleted", 1));
	return ERR_OK;
}

/* POST /api/v1/admin/flows/validate {"flow":{…}}: the editor's check, nothing stored. */
static enum err h_validate(struct req *r, struct resp *w)
{
	struct gw_flow_registry reg;
	json_t *problems = json_array();
	if (!problems)
		return ERR_NOMEM;
	gw_flow_registry_server(r->srv, &reg);
	size_t n = gw_flow_validate(json_object_get(r->json, "flow"), &reg, problems);
	resp_json(w, 200, json_pack("{s:b, s:o}", "valid", n == 0, "problems", problems));
	return ERR_OK;
}

/* POST /api/v1/admin/flows/{name}/run {"params":{…},"debug":true,"mock":false}: a run from
 * the admin UI. The answer is 200 whenever the flow ran, failed or not (status tells); the
 * error envelope only when it could not start (unknown flow, parameters refused). */
static enum err h_run(struct req *r, struct resp *w)
{
	struct gw_flow_hooks h;
	struct gw_flow_outcome o;
	struct errinfo ei = {0};
	int64_t run_id = 0;
	const char *name = req_param(r, "name");
	bool debug = json_is_true(json_object_get(r->json, "debug"));
	struct gw_flow_run_opts opts = {.mode = debug ? "debug" : "sync"};
	struct gateway_caller caller = {
	    .module = "admin",
	    .user = actor(r),
	    .user_id = r->who ? r->who->user_id : 0,
	    .trace_id = r->trace.trace_id,
	    .force_mock = json_is_true(json_object_get(r->json, "mock")),
	};
	gw_flow_hooks_default(&h);
	enum err e = gw_flow_run_ex(r->srv, &h, &opts, name, json_object_get(r->json, "params"),
	                            &caller, r->arena, &o, &run_id, &ei);
	if (e)
		return fail_ei(r, e, &ei);
	audit_record(r->srv, r, "gateway.flow.run", arena_printf(r->arena, "flow:%s", name),
	             arena_printf(r->arena, "{\"run_id\":%lld,\"status\":\"%s\"}",
	                          (long long)run_id, o.status));
	json_t *body = json_pack("{s:I, s:s, s:O?}", "run_id", (json_int_t)run_id, "status",
	                         o.status, "result", o.result);
	if (!body)
		return ERR_NOMEM;
	if (o.err)
		json_object_set_new(body, "error",
		                    json_pack("{s:s, s:s, s:s?}", "code", err_code(o.err),
		                              "message", o.ei.msg ? o.ei.msg : err_message(o.err),
		                              "step", o.failed_step));
	if (debug)
		json_object_set_new(body, "trace", gw_flow_trace(&o, name, o.rev, run_id));
	resp_json(w, 200, body);
	return ERR_OK;
}

/* POST /api/v1/admin/flows/{name}/enqueue {"params":{…},"idempotency_key":"…"}: an
 * asynchronous run through the outbox, as a domain module would start it (the operator's
 * "run in the background", and the way to exercise retries). The event and its audit entry
 * commit together. */
static enum err h_enqueue(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	const char *name = req_param(r, "name");
	const char *key = json_get_str(r->json, "idempotency_key");
	enum err e;
	if (!gw_flow_name_valid(name))
		return req_fail(r, ERR_NOT_FOUND, "name", "流程不存在");
	if (!key)
		key = arena_printf(r->arena, "admin:%s:%s", name, r->trace.trace_id);
	if ((e = db_acquire(r->srv->db, DB_WAIT_MS, &c)))
		return e;
	if ((e = db_begin_write(c))) {
		db_release(c);
		return e;
	}
	e = gateway_flow_enqueue(r->srv, c, r->arena, name, json_object_get(r->json, "params"),
	                         key);
	if (!e) {
		struct audit_entry ae = {
		    .actor_id = r->who ? r->who->user_id : 0,
		    .actor_name = actor(r),
		    .action = "gateway.flow.enqueue",
		    .target = arena_printf(r->arena, "flow:%s", name),
		    .client_ip = r->client_ip,
		    .trace_id = r->trace.trace_id,
		};
		e = audit_append(c, r->arena, &ae);
	}
	if (!e)
		e = db_commit(c);
	else
		db_rollback(c);
	db_release(c);
	if (e == ERR_EXISTS)
		return req_fail(r, e, "idempotency_key", "该幂等键已经提交过");
	if (e == ERR_TOO_LARGE)
		return req_fail(r, e, "params", "流程参数过大");
	if (e)
		return e;
	outbox_notify(r->srv->outbox);
	resp_json(w, 202, json_pack("{s:s, s:s}", "flow", name, "idempotency_key", key));
	return ERR_OK;
}

/* ---- run records --------------------------------------------------------------------- */

static const char *const run_statuses[] = {
    "running", "ok", "partial", "failed", "compensated", "compensation_failed", NULL};

/* A bound of the runs list: ms since the epoch, or a date YYYY-MM-DD (China Standard Time;
 * as "to" the whole day is included). */
static enum err time_arg(struct req *r, const char *name, bool end_of_day, int64_t *out)
{
	const char *s = req_query(r, name);
	int64_t y, m, d;
	*out = 0;
	if (!s || !*s)
		return ERR_OK;
	if (cstr_to_i64(s, 0, INT64_MAX / 2, out))
		return ERR_OK;
	if (strlen(s) == 10 && s[4] == '-' && s[7] == '-' &&
	    str_to_i64((struct str){s, 4}, 1970, 9999, &y) &&
	    str_to_i64((struct str){s + 5, 2}, 1, 12, &m) &&
	    str_to_i64((struct str){s + 8, 2}, 1, 31, &d)) {
		/* days from civil (Howard Hinnant's algorithm) */
		int64_t yy = y - (m <= 2);
		int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
		int64_t yoe = yy - era * 400;
		int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
		int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
		int64_t days = era * 146097 + doe - 719468 + (end_of_day ? 1 : 0);
		*out = days * 86400000LL - 8 * 3600000LL;
		return ERR_OK;
	}
	return req_fail(r, ERR_BAD_FIELD, name, "时间应为日期（YYYY-MM-DD）或毫秒时间戳");
}

/* GET /api/v1/admin/flow-runs?flow=&status=&from=&to=&key=&limit=50&before=<id> */
static enum err h_runs(struct req *r, struct resp *w)
{
	struct gw_flow_run_filter f = {0};
	struct db_conn *c = NULL;
	json_t *runs = NULL;
	int64_t limit, before;
	enum err e;
	f.flow = req_query(r, "flow");
	f.status = req_query(r, "status");
	f.idempotency_key = req_query(r, "key");
	if (f.flow && !*f.flow)
		f.flow = NULL;
	if (f.status && !*f.status)
		f.status = NULL;
	if (f.idempotency_key && !*f.idempotency_key)
		f.idempotency_key = NULL;
	if (f.flow && !gw_flow_name_valid(f.flow))
		return req_fail(r, ERR_BAD_FIELD, "flow", "流程名称不正确");
	if (f.status) {
		bool ok = false;
		for (size_t i = 0; run_statuses[i]; i++)
			ok = ok || !strcmp(run_statuses[i], f.status);
		if (!ok)
			return req_fail(r, ERR_BAD_FIELD, "status",
			                "状态只能是 running、ok、partial、failed、compensated、"
			                "compensation_failed 之一");
	}
	if (f.idempotency_key && strlen(f.idempotency_key) > 200)
		return req_fail(r, ERR_BAD_FIELD, "key", "幂等键过长");
	if ((e = req_query_int(r, "limit", 1, RUNS_LIST_MAX, 50, &limit)) ||
	    (e = req_query_int(r, "before", 1, INT64_MAX, 0, &before)) ||
	    (e = time_arg(r, "from", false, &f.from)) || (e = time_arg(r, "to", true, &f.to)))
		return e;
	f.limit = (int)limit;
	f.before_id = before;
	if ((e = db_acquire(r->srv->db, DB_WAIT_MS, &c)))
		return e;
	e = gw_flow_store_runs(c, r->arena, &f, &runs);
	db_release(c);
	if (e)
		return e;
	size_t n = json_array_size(runs);
	json_t *next = n == (size_t)limit
	                   ? json_incref(json_object_get(json_array_get(runs, n - 1), "id"))
	                   : json_null();
	resp_json(w, 200, json_pack("{s:o, s:o}", "runs", runs, "next_before", next));
	return ERR_OK;
}

/* GET /api/v1/admin/flow-runs/{id}: the run and its steps. */
static enum err h_run_get(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	json_t *run = NULL;
	int64_t id;
	const char *sid = req_param(r, "id");
	if (!sid || !cstr_to_i64(sid, 1, INT64_MAX, &id))
		return req_fail(r, ERR_NOT_FOUND, "id", "流程运行记录不存在");
	enum err e = db_acquire(r->srv->db, DB_WAIT_MS, &c);
	if (!e)
		e = gw_flow_store_run_get(c, r->arena, id, &run);
	if (c)
		db_release(c);
	if (e == ERR_NOT_FOUND)
		return req_fail(r, e, "id", "流程运行记录不存在");
	if (e)
		return e;
	json_t *steps = json_incref(json_object_get(run, "step_records"));
	json_object_del(run, "step_records");
	resp_json(w, 200, json_pack("{s:o, s:o}", "run", run, "steps", steps));
	return ERR_OK;
}

/* ---- the module ---------------------------------------------------------------------- */

static enum err flow_init(struct server *srv)
{
	struct gw_flow_registry reg;
	int added = 0;
	char *dir = NULL;
	if (srv->gateway && srv->gateway->seed_dir)
		dir = strdup(srv->gateway->seed_dir);
	if (dir) {
		char *full = NULL;
		if (asprintf(&full, "%s/flows", dir) < 0)
			full = NULL;
		free(dir);
		dir = full;
	} else {
		dir = server_find_path("gateway/flows");
	}
	if (!dir)
		return ERR_NOMEM;
	gw_flow_registry_server(srv, &reg);
	enum err e = gw_flow_seed(srv, dir, &reg, &added);
	if (added)
		log_info("gateway.flow.seed", "%d flows seeded from %s", added, dir);
	free(dir);
	if (e)
		return e;
	if (srv->outbox) {
		/* Retries: 1 s, 2 s, 4 s … capped at 10 minutes, 30 tries (about 4 hours), then
		 * dead for an operator. */
		struct outbox_policy pol = {
		    .max_attempts = 30, .base_backoff_ms = 1000, .max_backoff_ms = 600000};
		e = outbox_register(srv->outbox, GATEWAY_FLOW_EVENT_KIND, gw_flow_deliver, NULL,
		                    &pol);
		if (e == ERR_EXISTS)
			e = ERR_OK;
	}
	return e;
}

static const struct json_field flow_body[] = {
    {"flow", JF_OBJECT, JF_REQUIRED, 0, 0, "流程"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field update_body[] = {
    {"flow", JF_OBJECT, JF_REQUIRED, 0, 0, "流程"},
    {"rev", JF_INT, JF_REQUIRED, 1, INT64_MAX, "修订号"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field run_body[] = {
    {"params", JF_OBJECT, JF_NULLABLE, 0, 0, "流程参数"},
    {"debug", JF_BOOL, 0, 0, 0, "调试运行"},
    {"mock", JF_BOOL, 0, 0, 0, "使用模拟数据"},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct json_field enqueue_body[] = {
    {"params", JF_OBJECT, JF_NULLABLE, 0, 0, "流程参数"},
    {"idempotency_key", JF_STRING, JF_NONEMPTY, 1, 200, "幂等键"},
    {NULL, 0, 0, 0, 0, NULL},
};

#define FLOWS "/api/v1/admin/flows"

static const struct route flow_routes[] = {
    {"GET", FLOWS, h_list, READ, 0, NULL},
    {"POST", FLOWS, h_create, MANAGE, 0, flow_body},
    {"POST", FLOWS "/validate", h_validate, MANAGE, 0, flow_body},
    {"GET", FLOWS "/{name}", h_get, READ, 0, NULL},
    {"PUT", FLOWS "/{name}", h_update, MANAGE, 0, update_body},
    {"DELETE", FLOWS "/{name}", h_delete, MANAGE, 0, NULL},
    {"POST", FLOWS "/{name}/run", h_run, MANAGE, ROUTE_SLOW, run_body},
    {"POST", FLOWS "/{name}/enqueue", h_enqueue, MANAGE, 0, enqueue_body},
    {"GET", "/api/v1/admin/flow-runs", h_runs, READ, 0, NULL},
    {"GET", "/api/v1/admin/flow-runs/{id}", h_run_get, READ, 0, NULL},
};

const struct module flow_module = {
    .name = "flow",
    .init = flow_init,
    .routes = flow_routes,
    .nroutes = sizeof(flow_routes) / sizeof(flow_routes[0]),
};
