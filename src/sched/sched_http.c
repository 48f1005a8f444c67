/* sched_http.c: the scheduler module — its lifecycle in the server and the operator routes
 * (job list, changes, manual runs, run history). Every change commits with its audit entry. */
#include "sched/sched_int.h"

#include "audit/audit.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "http/http.h"
#include "server/server.h"

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *int_or_null(const struct db_rows *rs, int r, int col)
{
	return db_is_null(rs, r, col) ? json_null() : json_integer(db_int(rs, r, col));
}

/* A run from row r of rs whose run columns start at col. */
static json_t *run_json(const struct db_rows *rs, int r, int col)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "id", json_integer(db_int(rs, r, col + RUN_ID)));
	json_object_set_new(o, "scheduled_for",
	                    json_integer(db_int(rs, r, col + RUN_SCHEDULED_FOR)));
	json_object_set_new(o, "node", str_or_null(db_text(rs, r, col + RUN_NODE)));
	json_object_set_new(o, "started_at", json_integer(db_int(rs, r, col + RUN_STARTED_AT)));
	json_object_set_new(o, "finished_at", int_or_null(rs, r, col + RUN_FINISHED_AT));
	json_object_set_new(o, "outcome", str_or_null(db_text(rs, r, col + RUN_OUTCOME)));
	json_object_set_new(o, "attempt", json_integer(db_int(rs, r, col + RUN_ATTEMPT)));
	json_object_set_new(o, "manual", json_boolean(db_int(rs, r, col + RUN_MANUAL) != 0));
	json_object_set_new(o, "triggered_by", str_or_null(db_text(rs, r, col + RUN_TRIGGERED_BY)));
	json_object_set_new(o, "message", str_or_null(db_text(rs, r, col + RUN_MESSAGE)));
	return o;
}

static json_t *job_json(struct server *srv, const struct db_rows *rs, int r, int64_t now)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	bool enabled = db_int(rs, r, LS_ENABLED) != 0;
	bool running = !db_is_null(rs, r, LS_LEASE_OWNER) && db_int(rs, r, LS_LEASE_UNTIL) > now;
	const char *name = db_text(rs, r, LS_NAME);
	json_object_set_new(o, "name", str_or_null(name));
	json_object_set_new(o, "title", str_or_null(db_text(rs, r, LS_TITLE)));
	json_object_set_new(o, "owner", str_or_null(db_text(rs, r, LS_OWNER)));
	json_object_set_new(o, "cron", str_or_null(db_text(rs, r, LS_CRON)));
	json_object_set_new(o, "default_cron", str_or_null(db_text(rs, r, LS_DEFAULT_CRON)));
	json_object_set_new(o, "enabled", json_boolean(enabled));
	json_object_set_new(o, "timeout_s", json_integer(db_int(rs, r, LS_TIMEOUT)));
	json_object_set_new(o, "retries", json_integer(db_int(rs, r, LS_RETRIES)));
	json_object_set_new(o, "customized", json_boolean(db_int(rs, r, LS_CUSTOMIZED) != 0));
	/* A disabled job has no next run, whatever its row remembers. */
	json_object_set_new(o, "next_run_at",
	                    enabled ? json_integer(db_int(rs, r, LS_NEXT)) : json_null());
	json_object_set_new(o, "running", json_boolean(running));
	json_object_set_new(o, "running_on",
	                    running ? str_or_null(db_text(rs, r, LS_LEASE_OWNER)) : json_null());
	json_object_set_new(o, "manual_requested_at", int_or_null(rs, r, LS_MANUAL_AT));
	json_object_set_new(o, "manual_requested_by", str_or_null(db_text(rs, r, LS_MANUAL_BY)));
	json_object_set_new(o, "handler_here", json_boolean(sched_has_handler(srv->sched, name)));
	json_object_set_new(o, "updated_at", json_integer(db_int(rs, r, LS_UPDATED_AT)));
	json_object_set_new(
	    o, "last_run", db_is_null(rs, r, LS_RUN_ID) ? json_null() : run_json(rs, r, LS_RUN_ID));
	return o;
}

/* GET /api/v1/admin/jobs */
static enum err list_jobs(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	json_t *list = NULL;
	enum err e = db_acquire(r->srv->db, SCHED_DB_WAIT_MS, &c);
	if (e || (e = sched_store_list(c, r->arena, NULL, &rs)))
		goto out;
	int64_t now = time_now_ms();
	if (!(list = json_array())) {
		e = ERR_NOMEM;
		goto out;
	}
	for (int i = 0; i < rs->nrows; i++)
		if (json_array_append_new(list, job_json(r->srv, rs, i, now))) {
			e = ERR_NOMEM;
			goto out;
		}
	resp_json(w, 200, json_pack("{s:o,s:s}", "jobs", list, "timezone", "Asia/Shanghai"));
	list = NULL;
out:
	if (c)
		db_release(c);
	json_decref(list);
	return e;
}

/* Answer with job as the list shows it. */
static enum err respond_job(struct req *r, struct resp *w, int status, const char *name)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_acquire(r->srv->db, SCHED_DB_WAIT_MS, &c);
	if (!e)
		e = sched_store_list(c, r->arena, name, &rs);
	if (c)
		db_release(c);
	if (e)
		return e;
	if (rs->nrows == 0)
		return req_fail(r, ERR_NOT_FOUND, "name", "任务不存在");
	json_t *o = job_json(r->srv, rs, 0, time_now_ms());
	if (!o)
		return ERR_NOMEM;
	resp_json(w, status, o);
	return ERR_OK;
}

/* Run change(c, ...) and its audit entry in one write transaction; on PostgreSQL the audit
 * chain's head may refuse under contention (ERR_CONFLICT): one more try. */
struct change {
	enum err (*apply)(struct req *r, struct db_conn *c, void *arg, struct errinfo *ei);
	void *arg;
	const char *action;
	const char *detail;
};

static enum err commit_change(struct req *r, const struct change *ch, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	const char *name = req_param(r, "name");
	enum err e = db_acquire(r->srv->db, SCHED_DB_WAIT_MS, &c);
	if (e)
		return e;
	for (int t = 0; t < 2; t++) {
		bool open = false;
		*ei = (struct errinfo){0};
		if ((e = db_begin_write(c)))
			break;
		open = true;
		e = ch->apply(r, c, ch->arg, ei);
		if (!e) {
			struct audit_entry ae = {
			    .actor_id = r->who ? r->who->user_id : 0,
			    .actor_name = r->who ? r->who->username : NULL,
			    .action = ch->action,
			    .target = arena_printf(r->arena, "job:%s", name),
			    .detail = ch->detail,
			    .client_ip = r->client_ip,
			    .trace_id = r->trace.trace_id,
			};
			e = audit_append(c, r->arena, &ae);
		}
		if (!e) {
			e = db_commit(c);
			open = e != ERR_OK;
		}
		if (e && open)
			db_rollback(c);
		if (!(e == ERR_CONFLICT && !ei->msg))
			break;
	}
	db_release(c);
	return e;
}

static const struct json_field patch_body[] = {
    {"cron", JF_STRING, JF_NONEMPTY, 1, SCHED_CRON_MAX, "执行计划（cron 表达式）"},
    {"enabled", JF_BOOL, 0, 0, 0, "启用"},
    {"timeout_s", JF_INT, 0, 1, SCHED_TIMEOUT_MAX, "超时时间（秒）"},
    {"retries", JF_INT, 0, 0, SCHED_RETRIES_MAX, "重试次数"},
    {NULL, 0, 0, 0, 0, NULL},
};

static enum err apply_patch(struct req *r, struct db_conn *c, void *arg, struct errinfo *ei)
{
	return sched_job_update(c, r->arena, req_param(r, "name"), arg, time_now_ms(), ei);
}

/* PATCH /api/v1/admin/jobs/{name} */
static enum err patch_job(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	json_t *en = json_object_get(r->json, "enabled");
	json_t *to = json_object_get(r->json, "timeout_s");
	json_t *re = json_object_get(r->json, "retries");
	struct sched_job_patch p = {
	    .cron = json_get_str(r->json, "cron"),
	    .enabled = en ? json_is_true(en) : -1,
	    .timeout_s = to ? (int)json_integer_value(to) : 0,
	    .retries = re ? (int)json_integer_value(re) : -1,
	};
	if (!p.cron && !en && !to && !re)
		return req_fail(r, ERR_BAD_REQUEST, NULL, "没有要修改的内容");
	struct change ch = {apply_patch, &p, "sched.job.update",
	                    json_dump_arena(r->json, r->arena)};
	enum err e = commit_change(r, &ch, &ei);
	if (e && ei.msg)
		return req_fail(r, e, ei.field, "%s", ei.msg);
	if (e)
		return e;
	log_info("sched.job_update", "job %s changed by %s", req_param(r, "name"),
	         r->who && r->who->username ? r->who->username : "?");
	sched_wake(r->srv->sched);
	return respond_job(r, w, 200, req_param(r, "name"));
}

static enum err apply_run(struct req *r, struct db_conn *c, void *arg, struct errinfo *ei)
{
	const char *by = r->who && r->who->username ? r->who->username : "?";
	enum err e = sched_job_request_run(c, r->arena, req_param(r, "name"), by, *(int64_t *)arg);
	if (e == ERR_NOT_FOUND) {
		ei->field = "name";
		ei->msg = "任务不存在";
	} else if (e == ERR_CONFLICT) {
		ei->field = "name";
		ei->msg = "该任务已有一次手动执行在排队，请稍后再试";
	}
	return e;
}

static const struct json_field empty_body[] = {
    {NULL, 0, 0, 0, 0, NULL},
};

/* POST /api/v1/admin/jobs/{name}/run: queued; the first node with the handler runs it. */
static enum err run_job(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	int64_t now = time_now_ms();
	struct change ch = {apply_run, &now, "sched.job.run", NULL};
	enum err e = commit_change(r, &ch, &ei);
	if (e && ei.msg)
		return req_fail(r, e, ei.field, "%s", ei.msg);
	if (e)
		return e;
	log_info("sched.job_run", "manual run of job %s requested by %s", req_param(r, "name"),
	         r->who && r->who->username ? r->who->username : "?");
	sched_wake(r->srv->sched);
	resp_json(w, 202,
	          json_pack("{s:s,s:I,s:b}", "job", req_param(r, "name"), "requested_at",
	                    (json_int_t)now, "queued", 1));
	return ERR_OK;
}

/* GET /api/v1/admin/jobs/{name}/runs?limit=50&before=<id> */
static enum err list_runs(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL, *job = NULL;
	json_t *list = NULL;
	int64_t limit = 0, before = 0;
	const char *name = req_param(r, "name");
	enum err e;
	if ((e = req_query_int(r, "limit", 1, SCHED_RUNS_MAX, 50, &limit)) ||
	    (e = req_query_int(r, "before", 1, INT64_MAX, 0, &before)))
		return e;
	if ((e = db_acquire(r->srv->db, SCHED_DB_WAIT_MS, &c)))
		return e;
	if ((e = db_exec(c, r->arena, &job, "SELECT 1 FROM sched_jobs WHERE name = ?", "s", name)))
		goto out;
	if (job->nrows == 0) {
		e = req_fail(r, ERR_NOT_FOUND, "name", "任务不存在");
		goto out;
	}
	if ((e = sched_store_runs(c, r->arena, name, before, (int)limit, &rs)))
		goto out;
	if (!(list = json_array())) {
		e = ERR_NOMEM;
		goto out;
	}
	for (int i = 0; i < rs->nrows; i++)
		if (json_array_append_new(list, run_json(rs, i, 0))) {
			e = ERR_NOMEM;
			goto out;
		}
	resp_json(w, 200,
	          json_pack("{s:s,s:o,s:o}", "job", name, "runs", list, "next_before",
	                    rs->nrows == limit ? json_integer(db_int(rs, rs->nrows - 1, RUN_ID))
	                                       : json_null()));
	list = NULL;
out:
	db_release(c);
	json_decref(list);
	return e;
}

static enum err sched_init(struct server *srv)
{
	enum err e = ERR_OK;
	if (!srv->sched && (e = sched_create(srv, NULL, &srv->sched)))
		return e;
	if ((e = sched_jobs_register_builtin(srv)))
		return e;
	return sched_start(srv->sched);
}

static const struct route routes[] = {
    {"GET", "/api/v1/admin/jobs", list_jobs, "sched.manage", 0, NULL},
    {"PATCH", "/api/v1/admin/jobs/{name}", patch_job, "sched.manage", 0, patch_body},
    {"POST", "/api/v1/admin/jobs/{name}/run", run_job, "sched.manage", 0, empty_body},
    {"GET", "/api/v1/admin/jobs/{name}/runs", list_runs, "sched.manage", 0, NULL},
};

/* No release: server_close stops the scheduler early (before the outbox, bus and HTTP go)
 * and destroys it at the end, also when this module is not run and other modules created
 * srv->sched by registering jobs. */
const struct module sched_module = {
    .name = "sched",
    .init = sched_init,
    .routes = routes,
    .nroutes = sizeof(routes) / sizeof(routes[0]),
};
