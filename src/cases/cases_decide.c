/* cases_decide.c: department decisions come back (docs/handoff.md "Decisions").
 *
 * A delivered case (in_progress with the department's dept_case_no) is polled by the job
 * cases.decisions through the declarative flow <dept_system>.application_status, where
 * dept_system is the connector that took the application (read from the delivering run).
 * Each run takes a bounded batch of cases whose next poll is due, oldest due first, and polls
 * them one by one outside any transaction. The answer becomes the clerk's own action, run by
 * the same code (cases_act_system): approved / rejected → complete, correction →
 * request_correction with the department's items; anything else only moves the next poll out
 * (30 s after delivery, doubling, at most an hour). A department that is down (the
 * connector's breaker open, a timeout, a 5xx) is not asked again in the same run: its other
 * due cases are put back by the same backoff, and the other departments go on.
 *
 * Applying is idempotent: the unit re-reads the case and acts only on an in_progress case
 * still carrying the same dept_case_no, at its current version, and remembers the decision it
 * applied (dept_status "<status>@<decided_at>") so that a correction the department still
 * shows after the clerk resumed the case is not requested twice. The scheduler runs a job on
 * one node at a time; two runs that did overlap would meet at the case's version.
 *
 * A case withdrawn after delivery is told to its department through the outbox (kind
 * case.dept_cancel, key "cancel:<case_no>", written by the after-commit hook of withdraw in
 * cases_bjk.c, or by the hand-off's recording unit when the withdrawal came first) by the
 * flow <dept_system>.application_cancel. */
#include <stdlib.h>
#include <string.h>

#include "cases/cases_int.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "events/events.h"
#include "gateway/gateway.h"
#include "sched/sched.h"
#include "server/server.h"

#define DB_WAIT_MS      5000
#define JOB             "cases.decisions"
#define BATCH           200
#define FIRST_CHECK_MS  30000LL
#define MAX_CHECK_MS    3600000LL
#define CANCEL_KIND     "case.dept_cancel"
#define MAX_DOWN        16 /* departments remembered as down within one run */
#define OPINION_MAX     1000
#define ITEM_NOTE_MAX   500
#define ITEMS_MAX       50
#define DECISION_KEY_SZ 200

/* ---- the pure part ----------------------------------------------------------------------- */

enum cases_decision cases_decision_of(const char *s)
{
	static const struct {
		const char *status;
		enum cases_decision d;
	} map[] = {
	    {"received", CASES_DECISION_PENDING},      {"processing", CASES_DECISION_PENDING},
	    {"受理", CASES_DECISION_PENDING},          {"办理中", CASES_DECISION_PENDING},
	    {"approved", CASES_DECISION_APPROVED},     {"通过", CASES_DECISION_APPROVED},
	    {"准予", CASES_DECISION_APPROVED},         {"rejected", CASES_DECISION_REJECTED},
	    {"不通过", CASES_DECISION_REJECTED},       {"不予", CASES_DECISION_REJECTED},
	    {"correction", CASES_DECISION_CORRECTION}, {"补正", CASES_DECISION_CORRECTION},
	    {"cancelled", CASES_DECISION_CANCELLED},   {"撤销", CASES_DECISION_CANCELLED},
	};
	for (size_t i = 0; s && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(map[i].status, s))
			return map[i].d;
	return CASES_DECISION_UNKNOWN;
}

int64_t cases_decision_backoff_ms(int checks)
{
	int64_t ms = FIRST_CHECK_MS;
	for (int i = 0; i < checks && ms < MAX_CHECK_MS; i++)
		ms *= 2;
	return ms < MAX_CHECK_MS ? ms : MAX_CHECK_MS;
}

/* s trimmed and cut to at most max characters (UTF-8), as a new JSON string; NULL when
 * nothing is left. A department's text can be longer than the case keeps. */
static json_t *text_cut(const char *s, size_t max)
{
	if (!s)
		return NULL;
	struct str t = str_trim(str_from(s));
	if (!t.n || !utf8_valid(t.p, t.n))
		return NULL;
	size_t i = 0, chars = 0;
	while (i < t.n && chars < max) {
		i++;
		while (i < t.n && ((unsigned char)t.p[i] & 0xC0) == 0x80)
			i++;
		chars++;
	}
	return json_stringn(t.p, i);
}

/* The department's items as request_correction takes them. */
static json_t *items_of(const json_t *answer)
{
	const json_t *in = json_object_get(answer, "items"), *it;
	json_t *out = json_array();
	size_t i;
	json_array_foreach (in, i, it) {
		if (!out || json_array_size(out) >= ITEMS_MAX)
			break;
		const char *note = json_string_value(it);
		if (!note)
			note = json_get_str(it, "note");
		if (!note)
			note = json_get_str(it, "name");
		if (!note)
			note = json_get_str(it, "text");
		json_t *n = text_cut(note, ITEM_NOTE_MAX);
		if (!n)
			continue;
		json_t *one = json_pack("{s:o}", "note", n);
		json_t *m = text_cut(json_get_str(it, "material"), 64);
		json_t *f = text_cut(json_get_str(it, "field"), 200);
		if (one && m)
			json_object_set_new(one, "material", m);
		else
			json_decref(m);
		if (one && f)
			json_object_set_new(one, "field", f);
		else
			json_decref(f);
		json_array_append_new(out, one);
	}
	if (out && !json_array_size(out)) {
		json_t *n = text_cut(json_get_str(answer, "decision"), ITEM_NOTE_MAX);
		json_array_append_new(
		    out, json_pack("{s:o}", "note",
		                   n ? n : json_string("部门要求补正材料，详见部门意见")));
	}
	return out;
}

enum err cases_decision_action(enum cases_decision d, const json_t *answer, int64_t version,
                               const char **action, json_t **body)
{
	*action = NULL;
	*body = NULL;
	if (d == CASES_DECISION_APPROVED || d == CASES_DECISION_REJECTED) {
		bool ok = d == CASES_DECISION_APPROVED;
		json_t *op = text_cut(json_get_str(answer, "decision"), OPINION_MAX);
		json_t *cert = text_cut(json_get_str(answer, "cert_no"), 100);
		*body =
		    json_pack("{s:I,s:s,s:o,s:o*}", "version", (json_int_t)version, "result",
		              ok ? "approved" : "rejected", "opinion",
		              op ? op : json_string(ok ? "准予办理" : "不予办理"), "cert_no", cert);
		*action = "complete";
	} else if (d == CASES_DECISION_CORRECTION) {
		json_t *items = items_of(answer);
		json_t *note = text_cut(json_get_str(answer, "decision"), ITEM_NOTE_MAX);
		*body = items ? json_pack("{s:I,s:o,s:o}", "version", (json_int_t)version, "items",
		                          items, "note", note ? note : json_string("部门要求补正"))
		              : NULL;
		*action = "request_correction";
	} else {
		return ERR_OK;
	}
	if (!*body) {
		*action = NULL;
		return ERR_NOMEM;
	}
	return ERR_OK;
}

/* ---- the department of a delivered case ---------------------------------------------------- */

enum err cases_dept_system_of_run(struct db_conn *c, struct arena *a, int64_t run_id,
                                  const char **sys)
{
	struct db_rows *rs = NULL;
	*sys = NULL;
	if (!run_id)
		return ERR_OK;
	enum err e =
	    db_exec(c, a, &rs,
	            "SELECT connector FROM gateway_run_steps WHERE run_id = ?"
	            " AND kind = 'call' AND outcome IN ('ok', 'mock') AND connector <> 'bjk'"
	            " AND response LIKE '%dept_case_no%' ORDER BY seq DESC",
	            "i", run_id);
	if (!e && rs->nrows > 0)
		*sys = db_text(rs, 0, 0);
	return e;
}

/* ---- one poll ------------------------------------------------------------------------------- */

struct due {
	int64_t id, run_id;
	int checks;
	const char *case_no, *dept_case_no, *sys, *dept_status;
};

/* What a poll decided, for its write unit. */
struct poll_ctx {
	struct server *srv;
	struct arena *a;
	const struct due *d;
	const char *sys;      /* resolved department system (may differ from d->sys: NULL) */
	const char *status;   /* the department's status (NULL on error) */
	const char *key;      /* "<status>@<decided_at>" of an applied decision */
	const char *error;    /* the poll's error (no personal data) */
	const json_t *answer; /* the flow's result */
	enum cases_decision dec;
	int64_t now;
	bool applied; /* the case moved */
	struct errinfo ei;
};

/* Record a poll that moved nothing: the next one after the backoff. */
static enum err later(struct db_conn *c, struct poll_ctx *x)
{
	return db_exec(c, x->a, NULL,
	               "UPDATE cases SET dept_system = COALESCE(?, dept_system),"
	               " decision_checks = decision_checks + 1, decision_check_at = ?,"
	               " decision_error = ?, dept_status = COALESCE(?, dept_status)"
	               " WHERE id = ? AND dept_case_no = ?",
	               "sissis", x->sys, x->now + cases_decision_backoff_ms(x->d->checks + 1),
	               x->error, x->dec == CASES_DECISION_CORRECTION ? NULL : x->status, x->d->id,
	               x->d->dept_case_no);
}

static enum err poll_unit(struct db_conn *c, void *ctx)
{
	struct poll_ctx *x = ctx;
	struct db_rows *rs = NULL;
	const char *action = NULL;
	json_t *body = NULL;
	x->applied = false;
	if (!x->status)
		return later(c, x);
	enum err e = db_exec(c, x->a, &rs,
	                     "SELECT state, version, dept_status FROM cases"
	                     " WHERE id = ? AND dept_case_no = ?",
	                     "is", x->d->id, x->d->dept_case_no);
	if (e || rs->nrows != 1 || strcmp(db_text(rs, 0, 0), "in_progress"))
		return e; /* moved meanwhile (a clerk, or a run before): nothing to do */
	const char *seen = db_text(rs, 0, 2);
	if (x->dec == CASES_DECISION_CORRECTION && seen && !strcmp(seen, x->key))
		/* the correction was applied and resumed; the department has not decided again */
		return db_exec(c, x->a, NULL,
		               "UPDATE cases SET decision_checks = decision_checks + 1,"
		               " decision_check_at = ?, decision_error = NULL WHERE id = ?",
		               "ii", x->now + cases_decision_backoff_ms(x->d->checks + 1),
		               x->d->id);
	if ((e = cases_decision_action(x->dec, x->answer, db_int(rs, 0, 1), &action, &body)))
		return e;
	if (!action)
		return later(c, x);
	e = cases_act_system(x->srv, c, x->a, x->d->case_no, action, body, &x->ei);
	json_decref(body);
	if (e)
		return e;
	x->applied = true;
	/* correction: polled again once resumed (due at once); complete: never again */
	return db_exec(c, x->a, NULL,
	               "UPDATE cases SET dept_system = COALESCE(?, dept_system), dept_status = ?,"
	               " decision_checks = decision_checks + 1, decision_check_at = NULL,"
	               " decision_error = NULL WHERE id = ?",
	               "ssi", x->sys, x->key, x->d->id);
}

/* Is e a sign that the department (or the way to it) is down, so that its other cases
 * should wait for the next run? */
static bool down_error(enum err e)
{
	return e == ERR_UNAVAILABLE || e == ERR_TIMEOUT || e == ERR_UPSTREAM;
}

/* Poll one case; *down set when its department did not answer. */
static enum err poll_one(struct server *srv, struct arena *a, const struct due *d,
                         const char *const *down, int ndown, bool *is_down, bool *applied)
{
	struct db_conn *c = NULL;
	json_t *params = NULL, *result = NULL;
	int64_t run_id = 0;
	struct errinfo ei = {0};
	struct poll_ctx x = {.srv = srv, .a = a, .d = d, .sys = d->sys, .now = time_now_ms()};
	enum err e = ERR_OK;
	*is_down = false;
	*applied = false;
	if (!x.sys) {
		if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)))
			return e;
		e = cases_dept_system_of_run(c, a, d->run_id, &x.sys);
		db_release(c);
		if (e)
			return e;
	}
	if (!x.sys) {
		x.error = "无法确定接收办件的部门系统（报送流程运行记录缺失），请运维人员核查";
		goto record;
	}
	for (int i = 0; i < ndown; i++)
		if (!strcmp(down[i], x.sys)) {
			x.error = arena_printf(a, "部门系统 %s 本轮不可用，稍后再查询", x.sys);
			*is_down = true;
			goto record;
		}
	const char *flow = arena_printf(a, "%s.application_status", x.sys);
	params = json_pack("{s:s,s:s}", "dept_case_no", d->dept_case_no, "case_no", d->case_no);
	struct gateway_caller caller = {.module = "cases", .user = "system"};
	e = params ? gateway_flow_run(srv, flow, params, &caller, false, a, &result, NULL, &run_id,
	                              &ei)
	           : ERR_NOMEM;
	if (e) {
		/* the department's words may quote personal data: name the flow, run and kind */
		x.error = arena_printf(a, "查询流程 %s 运行 %lld 失败（%s）", flow,
		                       (long long)run_id, err_code(e));
		*is_down = down_error(e);
		e = ERR_OK;
		goto record;
	}
	x.answer = result;
	x.status = json_get_str(result, "status");
	x.dec = cases_decision_of(x.status);
	x.key = arena_printf(a, "%s@%s", x.status ? x.status : "",
	                     json_get_str(result, "decided_at") ? json_get_str(result, "decided_at")
	                                                        : "");
	if (x.key && strlen(x.key) > DECISION_KEY_SZ)
		x.key = arena_strndup(a, x.key, DECISION_KEY_SZ);
	if (x.dec == CASES_DECISION_UNKNOWN) {
		x.error = arena_printf(a, "部门返回了无法识别的办理状态（流程运行 %lld）",
		                       (long long)run_id);
		x.status = NULL;
	} else if (x.dec == CASES_DECISION_CANCELLED) {
		x.error = "部门已撤销该申请，请核查";
	}
record:
	e = db_write_unit(srv->db, poll_unit, &x, DB_WAIT_MS);
	if (e && e != ERR_DB_BUSY && e != ERR_DB && e != ERR_NOMEM && e != ERR_UNAVAILABLE) {
		/* the decision did not fit the case (its state, its data): say so, poll later */
		log_warn("cases.decide.apply", "case %s: decision %s not applied: %s", d->case_no,
		         x.status ? x.status : "-", x.ei.msg ? x.ei.msg : err_code(e));
		x.status = NULL;
		x.error = arena_printf(a, "部门决定未能应用到办件（%s）",
		                       x.ei.msg ? x.ei.msg : err_code(e));
		e = db_write_unit(srv->db, poll_unit, &x, DB_WAIT_MS);
	}
	*applied = !e && x.applied;
	json_decref(params);
	return e;
}

/* ---- the job ----------------------------------------------------------------------------------
 */

static enum err decisions_job(struct server *srv, const struct sched_run_ctx *ctx, char *msg,
                              size_t msgsz)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	const char *down[MAX_DOWN];
	int ndown = 0, checked = 0, applied_n = 0, failed = 0, skipped = 0;
	enum err e;
	arena_init(&a, 64u << 20);
	/* An operator's run now asks about every case in progress (up to the batch), due or
	 * not: it is how one looks at once after a department said it decided. */
	int64_t now = time_now_ms(), due = ctx->manual ? INT64_MAX : now;
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)))
		goto out;
	e = db_exec(c, &a, &rs,
	            "SELECT id, case_no, dept_case_no, dept_system, delivery_run_id,"
	            " decision_checks, dept_status FROM cases"
	            " WHERE state = 'in_progress' AND dept_case_no IS NOT NULL"
	            " AND (decision_check_at IS NULL OR decision_check_at <= ?)"
	            " ORDER BY COALESCE(decision_check_at, 0), id LIMIT ?",
	            "ii", due, (int64_t)BATCH);
	db_release(c);
	c = NULL;
	if (e)
		goto out;
	for (int64_t i = 0; i < rs->nrows && !sched_run_cancelled(ctx); i++) {
		struct due d = {.id = db_int(rs, i, 0),
		                .case_no = db_text(rs, i, 1),
		                .dept_case_no = db_text(rs, i, 2),
		                .sys = db_text(rs, i, 3),
		                .run_id = db_int(rs, i, 4),
		                .checks = (int)db_int(rs, i, 5),
		                .dept_status = db_text(rs, i, 6)};
		bool is_down = false, applied = false;
		enum err pe = poll_one(srv, &a, &d, down, ndown, &is_down, &applied);
		checked++;
		if (pe) {
			failed++;
			log_warn("cases.decide.poll", "case %s: %s", d.case_no, err_code(pe));
			continue;
		}
		applied_n += applied;
		if (is_down) {
			skipped++;
			/* remember the department; sys is resolved the same way next time */
			const char *sys = d.sys;
			if (!sys) {
				struct db_conn *c2 = NULL;
				if (!db_acquire(srv->db, DB_WAIT_MS, &c2)) {
					cases_dept_system_of_run(c2, &a, d.run_id, &sys);
					db_release(c2);
				}
			}
			bool known = false;
			for (int k = 0; sys && k < ndown; k++)
				known |= !strcmp(down[k], sys);
			if (sys && !known && ndown < MAX_DOWN)
				down[ndown++] = sys;
		}
	}
	if (applied_n)
		outbox_notify(srv->outbox);
	snprintf(msg, msgsz, "查询 %d 件：已应用部门决定 %d 件，部门不可用 %d 件，失败 %d 件",
	         checked, applied_n, skipped, failed);
out:
	db_release(c);
	arena_release(&a);
	return e;
}

/* ---- withdrawn after delivery: tell the department --------------------------------------------
 */

enum err cases_dept_cancel_enqueue(struct db_conn *c, struct arena *a, int64_t case_id,
                                   const char *case_no)
{
	json_t *pl = json_pack("{s:i,s:s}", "v", 1, "case_no", case_no);
	const char *plt = pl ? json_dump_arena(pl, a) : NULL;
	json_decref(pl);
	if (!plt)
		return ERR_NOMEM;
	enum err e =
	    outbox_enqueue(c, a, CANCEL_KIND, arena_printf(a, "case:%lld", (long long)case_id), plt,
	                   arena_printf(a, "cancel:%s", case_no), NULL);
	return e == ERR_EXISTS ? ERR_OK : e;
}

struct cancelled_ctx {
	struct arena *a;
	const char *case_no, *sys;
};

static enum err cancelled_unit(struct db_conn *c, void *ctx)
{
	struct cancelled_ctx *x = ctx;
	return db_exec(c, x->a, NULL,
	               "UPDATE cases SET dept_status = 'cancelled', dept_system ="
	               " COALESCE(dept_system, ?), decision_check_at = NULL, decision_error = NULL"
	               " WHERE case_no = ?",
	               "ss", x->sys, x->case_no);
}

static enum err cancel_deliver(void *ctx, struct server *srv, const struct outbox_event *ev,
                               char *errmsg, size_t errmsg_sz)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	json_t *payload = NULL, *params = NULL, *result = NULL;
	struct errinfo ei = {0};
	int64_t run_id = 0;
	const char *sys = NULL;
	enum err e;
	(void)ctx;
	arena_init(&a, 8u << 20);
	const char *case_no = NULL;
	if (json_parse(ev->payload, strlen(ev->payload), &payload, &a, NULL) ||
	    !(case_no = json_get_str(payload, "case_no"))) {
		snprintf(errmsg, errmsg_sz, "事件内容不是可识别的撤回通知");
		e = ERR_INVALID;
		goto out;
	}
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)) ||
	    (e = db_exec(c, &a, &rs,
	                 "SELECT dept_case_no, dept_system, delivery_run_id, closed_reason,"
	                 " dept_status FROM cases WHERE case_no = ?",
	                 "s", case_no)))
		goto out;
	if (rs->nrows != 1 || db_is_null(rs, 0, 0)) {
		snprintf(errmsg, errmsg_sz, "办件 %s 不存在或未报送部门", case_no);
		e = ERR_INVALID;
		goto out;
	}
	if (db_text(rs, 0, 4) && !strcmp(db_text(rs, 0, 4), "cancelled"))
		goto out; /* told before; only the done mark was lost */
	sys = db_text(rs, 0, 1);
	if (!sys && (e = cases_dept_system_of_run(c, &a, db_int(rs, 0, 2), &sys)))
		goto out;
	db_release(c);
	c = NULL;
	if (!sys) {
		snprintf(errmsg, errmsg_sz, "无法确定接收办件 %s 的部门系统", case_no);
		e = ERR_INVALID;
		goto out;
	}
	const char *flow = arena_printf(&a, "%s.application_cancel", sys);
	params = json_pack("{s:s,s:s,s:s?}", "dept_case_no", db_text(rs, 0, 0), "case_no", case_no,
	                   "reason", db_text(rs, 0, 3));
	struct gateway_caller caller = {.module = "cases", .user = "system"};
	e = params ? gateway_flow_run(srv, flow, params, &caller, false, &a, &result, NULL, &run_id,
	                              &ei)
	           : ERR_NOMEM;
	if (e) {
		/* 404 / 409 (decided meanwhile) are answers no retry changes: an operator looks */
		bool good = e == ERR_NOT_FOUND || e == ERR_INVALID || e == ERR_CONFIG;
		snprintf(errmsg, errmsg_sz, "撤销流程 %s 运行 %lld 失败（%s）%s", flow,
		         (long long)run_id, err_code(e), good ? "，请运维人员核查" : "");
		e = good ? ERR_INVALID : e;
		goto out;
	}
	struct cancelled_ctx x = {.a = &a, .case_no = case_no, .sys = sys};
	if ((e = db_write_unit(srv->db, cancelled_unit, &x, DB_WAIT_MS)))
		snprintf(errmsg, errmsg_sz, "部门已撤销（流程运行 %lld），记录失败（%s）",
		         (long long)run_id, err_code(e));
out:
	db_release(c);
	json_decref(payload);
	json_decref(params);
	arena_release(&a);
	return e;
}

enum err cases_decide_start(struct server *srv)
{
	enum err e;
	struct outbox_policy pol = {
	    .max_attempts = 30, .base_backoff_ms = 1000, .max_backoff_ms = 600000};
	if (srv->outbox &&
	    (e = outbox_register(srv->outbox, CANCEL_KIND, cancel_deliver, NULL, &pol)) &&
	    e != ERR_EXISTS)
		return e;
	e = sched_register(srv, JOB, decisions_job,
	                   &(struct sched_defaults){"* * * * *", 300, 0, "cases",
	                                            "查询部门办理结果（办结、补正）"});
	return e == ERR_EXISTS ? ERR_OK : e;
}
