/* cases_bjk.c: the 办件库 (city case library) reports after acceptance — stage handle at each
 * step of the department's work, finish at completion (docs/handoff.md "办件库 stages").
 *
 * The acceptance itself is reported by the sub-item's submit flow (its report step). Every
 * later transition is a timeline row (case_events); the after-commit hooks of those actions
 * (cases_hook_on) write, in one write unit, a case_reports row and an outbox event of kind
 * bjk.report with the key "bjk:<case_no>:<timeline row id>" for each reportable row not yet
 * recorded — one event per transition, whoever runs the hook how often. The outbox handler
 * sends the stage through the flow bjk.case_update (PUT /bjk/cases/{case_no}) and records
 * the outcome on the row, which the case shows as bjk.stages.
 *
 * Order: a stage waits (retried with backoff) while the case has not been delivered — the
 * 办件库 has no record before the submit flow's accept report — and while an earlier stage of
 * the case is still pending. A case withdrawn before delivery never reached the 办件库: its
 * stages are skipped. The codes are mapped through catalog_code_map at the time of the report,
 * so a case opened under a code changed since is reported with the new code from the change's
 * effective date on (seed row 29). */
#include <stdlib.h>
#include <string.h>

#include "cases/cases_int.h"
#include "catalog/catalog.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "events/events.h"
#include "gateway/gateway.h"
#include "server/server.h"

#define DB_WAIT_MS   5000
#define REPORT_KIND  "bjk.report"
#define REPORT_FLOW  "bjk.case_update"
#define MAX_ATTEMPTS 30

const char *cases_bjk_stage_of(const char *action, const char *from, const char *to)
{
	if (!action || !from)
		return NULL;
	if (!strcmp(action, "start"))
		return "handle";
	if (!strcmp(action, "complete"))
		return "finish";
	if (!strcmp(from, "draft"))
		return NULL; /* before acceptance the 办件库 knows nothing of the case */
	if (!strcmp(action, "request_correction"))
		return "handle";
	if (!strcmp(action, "resume"))
		return to && strcmp(to, "draft") ? "handle" : NULL;
	if (!strcmp(action, "withdraw"))
		return "finish";
	return NULL;
}

/* ---- the hooks: one report per reportable timeline row ------------------------------------- */

struct sync_ctx {
	struct arena *a;
	const char *case_no;
	int n; /* events written */
};

static enum err sync_unit(struct db_conn *c, void *ctx)
{
	struct sync_ctx *x = ctx;
	struct db_rows *rs = NULL;
	enum err e = db_exec(
	    c, x->a, &rs,
	    "SELECT c.id, ev.id, ev.action, ev.from_state, ev.to_state, c.state, c.dept_case_no"
	    " FROM cases c JOIN case_events ev ON ev.case_id = c.id"
	    " WHERE c.case_no = ? AND ev.action IN ('start', 'request_correction', 'resume',"
	    " 'complete', 'withdraw') AND NOT EXISTS (SELECT 1 FROM case_reports r"
	    " WHERE r.case_id = c.id AND r.seq = ev.id) ORDER BY ev.id",
	    "s", x->case_no);
	x->n = 0;
	if (e)
		return e;
	int64_t now = time_now_ms();
	for (int64_t i = 0; i < rs->nrows; i++) {
		int64_t case_id = db_int(rs, i, 0), seq = db_int(rs, i, 1);
		const char *action = db_text(rs, i, 2);
		const char *stage =
		    cases_bjk_stage_of(action, db_text(rs, i, 3), db_text(rs, i, 4));
		if (!strcmp(action, "withdraw") && !strcmp(db_text(rs, i, 5), "withdrawn") &&
		    !db_is_null(rs, i, 6) &&
		    (e = cases_dept_cancel_enqueue(c, x->a, case_id, x->case_no)))
			return e;
		if (!stage)
			continue;
		json_t *pl = json_pack("{s:i,s:s,s:I}", "v", 1, "case_no", x->case_no, "seq",
		                       (json_int_t)seq);
		const char *plt = pl ? json_dump_arena(pl, x->a) : NULL;
		json_decref(pl);
		if (!plt)
			return ERR_NOMEM;
		if ((e = db_exec(c, x->a, NULL,
		                 "INSERT INTO case_reports (case_id, seq, stage, action, state,"
		                 " created_at) VALUES (?, ?, ?, ?, 'pending', ?)",
		                 "iissi", case_id, seq, stage, action, now)) ||
		    (e = outbox_enqueue(
		         c, x->a, REPORT_KIND, arena_printf(x->a, "case:%lld", (long long)case_id),
		         plt, arena_printf(x->a, "bjk:%s:%lld", x->case_no, (long long)seq), NULL)))
			return e;
		x->n++;
	}
	return ERR_OK;
}

static enum err on_transition(struct server *srv, const char *case_no, void *ctx)
{
	struct arena a;
	(void)ctx;
	arena_init(&a, 1u << 20);
	struct sync_ctx x = {.a = &a, .case_no = case_no};
	enum err e = db_write_unit(srv->db, sync_unit, &x, DB_WAIT_MS);
	if (!e)
		outbox_notify(srv->outbox);
	arena_release(&a);
	return e;
}

/* ---- the report (outbox handler) ------------------------------------------------------------- */

struct outcome_ctx {
	struct arena *a;
	int64_t case_id, seq, now;
	const char *state, *error;
	int attempts;
};

static enum err outcome_unit(struct db_conn *c, void *ctx)
{
	struct outcome_ctx *x = ctx;
	return db_exec(c, x->a, NULL,
	               "UPDATE case_reports SET state = ?, attempts = ?, error = ?,"
	               " reported_at = CASE WHEN ? = 'ok' THEN ? ELSE reported_at END"
	               " WHERE case_id = ? AND seq = ? AND state = 'pending'",
	               "sissiii", x->state, (int64_t)x->attempts, x->error, x->state, x->now,
	               x->case_id, x->seq);
}

static void record_outcome(struct server *srv, struct arena *a, int64_t case_id, int64_t seq,
                           const char *state, const char *error, int attempts)
{
	struct outcome_ctx x = {.a = a,
	                        .case_id = case_id,
	                        .seq = seq,
	                        .now = time_now_ms(),
	                        .state = state,
	                        .error = error,
	                        .attempts = attempts};
	enum err e = db_write_unit(srv->db, outcome_unit, &x, DB_WAIT_MS);
	if (e)
		log_warn("cases.bjk.record", "report %lld of case %lld: %s", (long long)seq,
		         (long long)case_id, err_code(e));
}

/* The HTTP status of the failing call step of a run (0 when unknown). */
static int failed_status(struct server *srv, struct arena *a, int64_t run_id)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	int st = 0;
	if (!run_id || db_acquire(srv->db, DB_WAIT_MS, &c))
		return 0;
	if (!db_exec(c, a, &rs,
	             "SELECT http_status FROM gateway_run_steps WHERE run_id = ? AND kind = 'call'"
	             " AND outcome <> 'ok' ORDER BY seq DESC",
	             "i", run_id) &&
	    rs->nrows > 0)
		st = (int)db_int(rs, 0, 0);
	db_release(c);
	return st;
}

static const char *iso_of(struct arena *a, struct db_rows *rs, int64_t row, int col)
{
	char t[32];
	if (db_is_null(rs, row, col))
		return NULL;
	return arena_strdup(a, time_iso(db_int(rs, row, col), t));
}

static enum err report(void *ctx, struct server *srv, const struct outbox_event *ev, char *errmsg,
                       size_t errmsg_sz)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL, *prior = NULL;
	json_t *payload = NULL, *params = NULL, *result = NULL, *detail = NULL;
	const char *item_code = NULL, *sub_code = NULL;
	struct errinfo ei = {0};
	int64_t run_id = 0, case_id = 0, seq = 0;
	enum err e;
	(void)ctx;
	arena_init(&a, 8u << 20);
	const char *case_no = NULL;
	if (json_parse(ev->payload, strlen(ev->payload), &payload, &a, NULL) ||
	    !(case_no = json_get_str(payload, "case_no")) ||
	    (seq = json_get_int(payload, "seq", 0)) <= 0) {
		snprintf(errmsg, errmsg_sz, "事件内容不是可识别的办件库环节报送");
		e = ERR_INVALID;
		goto out;
	}
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)) ||
	    (e = db_exec(c, &a, &rs,
	                 "SELECT c.id, c.state, c.delivered_at, c.item_code, c.sub_item_code,"
	                 " c.result, c.result_opinion, c.cert_no, c.completed_at, c.closed_at,"
	                 " c.closed_reason, r.stage, r.action, r.state, ev.at, ev.actor_name,"
	                 " ev.detail, c.dept_case_no FROM cases c"
	                 " JOIN case_reports r ON r.case_id = c.id AND r.seq = ?"
	                 " JOIN case_events ev ON ev.id = r.seq WHERE c.case_no = ?",
	                 "is", seq, case_no)))
		goto out;
	if (rs->nrows != 1) {
		snprintf(errmsg, errmsg_sz, "办件 %s 的环节 %lld 不存在", case_no, (long long)seq);
		e = ERR_INVALID;
		goto out;
	}
	case_id = db_int(rs, 0, 0);
	if (strcmp(db_text(rs, 0, 13), "pending"))
		goto out; /* reported (or settled) before: only the done mark was lost */
	if (db_is_null(rs, 0, 2)) {
		if (!strcmp(db_text(rs, 0, 1), "withdrawn")) {
			db_release(c);
			c = NULL;
			record_outcome(srv, &a, case_id, seq, "skipped", NULL, ev->attempts);
			goto out; /* withdrawn before delivery: the 办件库 never had it */
		}
		snprintf(errmsg, errmsg_sz, "办件尚未报送部门和办件库（受理环节），稍后再报送");
		e = ERR_UNAVAILABLE;
		goto wait;
	}
	if ((e = db_exec(c, &a, &prior,
	                 "SELECT COUNT(*) FROM case_reports WHERE case_id = ? AND seq < ?"
	                 " AND state = 'pending'",
	                 "ii", case_id, seq)))
		goto out;
	if (db_int(prior, 0, 0) > 0) {
		snprintf(errmsg, errmsg_sz, "前一环节尚未报送办件库，稍后再报送");
		e = ERR_UNAVAILABLE;
		goto wait;
	}
	if ((e = catalog_code_map(c, &a, db_text(rs, 0, 3), &item_code)) ||
	    (e = catalog_code_map(c, &a, db_text(rs, 0, 4), &sub_code)))
		goto out;
	db_release(c);
	c = NULL;
	const char *stage = db_text(rs, 0, 11), *action = db_text(rs, 0, 12);
	const char *dt = db_text(rs, 0, 16);
	json_error_t je;
	detail = dt ? json_loads(dt, 0, &je) : NULL;
	json_t *step = json_pack("{s:s,s:s,s:s?,s:s?,s:O?}", "action", action, "name",
	                         cases_action_label(action), "actor", db_text(rs, 0, 15), "at",
	                         iso_of(&a, rs, 0, 14), "detail", detail);
	params = json_pack("{s:s,s:s,s:s?,s:s?,s:o*,s:s?}", "case_no", case_no, "stage", stage,
	                   "item_code", item_code, "sub_item_code", sub_code, "step", step,
	                   "dept_case_no", db_text(rs, 0, 17));
	if (params && !strcmp(action, "complete")) {
		json_object_set_new(params, "result", json_string(db_text(rs, 0, 5)));
		if (db_text(rs, 0, 6))
			json_object_set_new(params, "opinion", json_string(db_text(rs, 0, 6)));
		if (db_text(rs, 0, 7))
			json_object_set_new(params, "cert_no", json_string(db_text(rs, 0, 7)));
		json_object_set_new(params, "finished_at", json_string(iso_of(&a, rs, 0, 8)));
	} else if (params && !strcmp(action, "withdraw")) {
		json_object_set_new(params, "result", json_string("withdrawn"));
		if (db_text(rs, 0, 10))
			json_object_set_new(params, "opinion", json_string(db_text(rs, 0, 10)));
		json_object_set_new(params, "finished_at", json_string(iso_of(&a, rs, 0, 9)));
	}
	if (!params) {
		e = ERR_NOMEM;
		goto out;
	}
	struct gateway_caller caller = {.module = "cases", .user = "system"};
	e = gateway_flow_run(srv, REPORT_FLOW, params, &caller, false, &a, &result, NULL, &run_id,
	                     &ei);
	if (!e) {
		record_outcome(srv, &a, case_id, seq, "ok", NULL, ev->attempts);
		goto out;
	}
	int http = e == ERR_UPSTREAM ? failed_status(srv, &a, run_id) : 0;
	/* 404: the accept record may not have arrived yet; other 4xx answers do not change */
	bool good = e == ERR_NOT_FOUND || e == ERR_INVALID || e == ERR_CONFIG ||
	            (http >= 400 && http < 500 && http != 404 && http != 408 && http != 429);
	snprintf(errmsg, errmsg_sz, "报送流程 %s 运行 %lld 失败（%s%s%.0d）%s", REPORT_FLOW,
	         (long long)run_id, err_code(e), http ? "，HTTP " : "", http,
	         good ? "，重试无法解决，请运维人员核查" : "");
	if (good)
		e = ERR_INVALID;
wait:
	db_release(c);
	c = NULL;
	record_outcome(srv, &a, case_id, seq,
	               e == ERR_INVALID || ev->attempts >= MAX_ATTEMPTS ? "dead" : "pending",
	               errmsg, ev->attempts);
out:
	db_release(c);
	json_decref(payload);
	json_decref(params);
	json_decref(detail);
	arena_release(&a);
	return e;
}

/* ---- what the case shows ----------------------------------------------------------------------
 */

static const char *accept_state(bool delivered, const char *reported, const char *case_state)
{
	if (!delivered)
		return case_state && !strcmp(case_state, "withdrawn") ? "skipped" : "pending";
	if (!reported)
		return "unknown"; /* the submit flow has no report step */
	return !strcmp(reported, "ok") ? "ok" : "failed";
}

enum err cases_bjk_stages(struct db_conn *c, struct arena *a, const char *case_no, json_t **out)
{
	struct db_rows *cs = NULL, *rs = NULL;
	char at[32];
	*out = NULL;
	enum err e = db_exec(c, a, &cs,
	                     "SELECT id, state, delivered_at, delivery_reported, accepted_at"
	                     " FROM cases WHERE case_no = ?",
	                     "s", case_no);
	if (e)
		return e;
	if (cs->nrows != 1)
		return ERR_NOT_FOUND;
	if (db_is_null(cs, 0, 4)) {
		*out = json_null(); /* never accepted: nothing is reported */
		return ERR_OK;
	}
	if ((e = db_exec(c, a, &rs,
	                 "SELECT stage, action, state, created_at, reported_at, error, attempts"
	                 " FROM case_reports WHERE case_id = ? ORDER BY seq",
	                 "i", db_int(cs, 0, 0))))
		return e;
	json_t *stages = json_array();
	bool delivered = !db_is_null(cs, 0, 2);
	const char *as = accept_state(delivered, db_text(cs, 0, 3), db_text(cs, 0, 1));
	json_array_append_new(stages, json_pack("{s:s,s:s,s:s,s:s?,s:n}", "stage", "accept",
	                                        "action", "accept", "state", as, "at",
	                                        delivered ? time_iso(db_int(cs, 0, 2), at) : NULL,
	                                        "error"));
	for (int64_t i = 0; stages && i < rs->nrows; i++) {
		bool ok = !strcmp(db_text(rs, i, 2), "ok");
		json_array_append_new(
		    stages, json_pack("{s:s,s:s,s:s,s:s,s:I,s:s?}", "stage", db_text(rs, i, 0),
		                      "action", db_text(rs, i, 1), "state", db_text(rs, i, 2), "at",
		                      time_iso(db_int(rs, i, ok ? 4 : 3), at), "attempts",
		                      (json_int_t)db_int(rs, i, 6), "error", db_text(rs, i, 5)));
	}
	*out = stages ? json_pack("{s:o}", "stages", stages) : NULL;
	return *out ? ERR_OK : ERR_NOMEM;
}

enum err cases_bjk_start(struct server *srv)
{
	static const char *const actions[] = {"start", "request_correction", "resume", "complete",
	                                      "withdraw"};
	struct outbox_policy pol = {
	    .max_attempts = MAX_ATTEMPTS, .base_backoff_ms = 1000, .max_backoff_ms = 600000};
	enum err e = ERR_OK;
	if (srv->outbox && (e = outbox_register(srv->outbox, REPORT_KIND, report, NULL, &pol)) &&
	    e != ERR_EXISTS)
		return e;
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if ((e = cases_hook_on(srv, actions[i], on_transition, NULL)))
			return e;
	return ERR_OK;
}
