/* queue_jobs.c: the scheduled work of queues — the sweeper that leaves no ticket stuck
 * (queue.sweep) and the day's reset (queue.daily_reset, job 16 of docs/scheduled-tasks.md),
 * and the demo groups and windows. */
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "queue/queue_int.h"
#include "sched/sched.h"
#include "server/server.h"

#define SWEEP_BATCH 200

/* The rules of the sweeper, in order: which rows, what they become, why. */
static const struct rule {
	const char *reason;
	const char *where; /* over queue_tickets, binds (limit point, today) */
	const char *to;    /* new state; NULL = the evaluation only */
} rules[] = {
    {"past_day", "day < ? AND state IN ('waiting', 'called', 'serving', 'suspended')", "expired"},
    {"called_timeout", "state = 'called' AND called_at < ? AND day >= ?", "skipped"},
    {"serving_timeout", "state = 'serving' AND last_activity_at < ? AND day >= ?", "done"},
    {"suspended_timeout", "state = 'suspended' AND suspended_at < ? AND day >= ?", "skipped"},
    {"evaluation_timeout", "eval_state = 'pending' AND finished_at < ? AND day >= ?", NULL},
};

struct sweep_ctx {
	struct arena *a;
	int64_t now;
	char today[11];
	int64_t resolved;
	int64_t orgs[SWEEP_BATCH];
	int norgs;
	bool more;
};

static void note_org(struct sweep_ctx *x, int64_t org)
{
	for (int i = 0; i < x->norgs; i++)
		if (x->orgs[i] == org)
			return;
	if (x->norgs < SWEEP_BATCH)
		x->orgs[x->norgs++] = org;
}

static enum err sweep_unit(struct db_conn *c, void *ctx)
{
	struct sweep_ctx *x = ctx;
	struct arena *a = x->a;
	const int64_t limits[] = {0, QUEUE_CALLED_LIMIT_MS, QUEUE_SERVING_LIMIT_MS,
	                          QUEUE_SUSPEND_LIMIT_MS, QUEUE_EVAL_LIMIT_MS};
	struct queue_caller sys = {0};
	enum err e;
	x->more = false;
	for (size_t k = 0; k < sizeof(rules) / sizeof(rules[0]); k++) {
		struct db_rows *rs = NULL;
		const char *sql =
		    arena_printf(a,
		                 "SELECT id, org_id, ticket_no, state FROM queue_tickets"
		                 " WHERE %s ORDER BY id LIMIT %d",
		                 rules[k].where, SWEEP_BATCH);
		if (k == 0)
			e = db_exec(c, a, &rs, sql, "s", x->today);
		else
			e = db_exec(c, a, &rs, sql, "is", x->now - limits[k], x->today);
		if (e)
			return e;
		x->more = x->more || rs->nrows == SWEEP_BATCH;
		for (int r = 0; r < rs->nrows; r++) {
			int64_t id = db_int(rs, r, 0);
			const char *from = db_text(rs, r, 3);
			if (rules[k].to)
				e = db_exec(c, a, NULL,
				            "UPDATE queue_tickets SET state = ?, end_reason = ?, "
				            "finished_at ="
				            " COALESCE(finished_at, ?), prev_state = NULL, version "
				            "= version +"
				            " 1, updated_at = ? WHERE id = ? AND state = ?",
				            "ssiiis", rules[k].to, rules[k].reason, x->now, x->now,
				            id, from);
			else
				e = db_exec(c, a, NULL,
				            "UPDATE queue_tickets SET eval_state = 'expired', "
				            "updated_at = ?"
				            " WHERE id = ? AND eval_state = 'pending'",
				            "ii", x->now, id);
			if (e)
				return e;
			json_t *d =
			    json_pack("{s:s,s:s,s:s?,s:s}", "ticket_no", db_text(rs, r, 2), "from",
			              from, "to", rules[k].to, "reason", rules[k].reason);
			e = queue_audit(c, a, &sys, "queue.ticket.sweep",
			                arena_printf(a, "queue_ticket:%lld", (long long)id), d);
			json_decref(d);
			if (e)
				return e;
			note_org(x, db_int(rs, r, 1));
			x->resolved++;
		}
	}
	return ERR_OK;
}

enum err queue_sweep(struct server *srv, int64_t now_ms, int64_t *resolved)
{
	struct arena a;
	struct sweep_ctx x = {.a = &a, .now = now_ms};
	enum err e;
	queue_day_of(now_ms, x.today);
	if (resolved)
		*resolved = 0;
	/* batches until nothing is left; the bound only guards against a runaway */
	for (int round = 0; round < 1000; round++) {
		arena_init(&a, 0);
		x.norgs = 0;
		int64_t before = x.resolved;
		e = db_write_unit(srv->db, sweep_unit, &x, QUEUE_DB_WAIT_MS);
		if (e)
			x.resolved = before;
		arena_release(&a);
		if (e)
			return e;
		for (int i = 0; i < x.norgs; i++)
			queue_board_publish(srv, x.orgs[i], "swept", NULL);
		if (!x.more)
			break;
	}
	if (resolved)
		*resolved = x.resolved;
	return ERR_OK;
}

static enum err sweep_job(struct server *srv, const struct sched_run_ctx *ctx, char *msg,
                          size_t msgsz)
{
	int64_t n = 0;
	(void)ctx;
	enum err e = queue_sweep(srv, time_now_ms(), &n);
	if (!e)
		snprintf(msg, msgsz, "处理滞留的排队号与评价 %lld 个", (long long)n);
	return e;
}

static enum err purge_seq_unit(struct db_conn *c, void *ctx)
{
	const char *keep_from = ctx;
	struct arena a;
	arena_init(&a, 0);
	enum err e = db_exec(c, &a, NULL, "DELETE FROM queue_seq WHERE day < ?", "s", keep_from);
	arena_release(&a);
	return e;
}

/* Numbers restart by themselves (they are keyed by day); the reset closes what the previous
 * days left open and drops old counters. */
static enum err reset_job(struct server *srv, const struct sched_run_ctx *ctx, char *msg,
                          size_t msgsz)
{
	int64_t n = 0, now = time_now_ms();
	char keep[11];
	(void)ctx;
	enum err e = queue_sweep(srv, now, &n);
	queue_day_of(now - 7 * 86400000LL, keep);
	if (!e)
		e = db_write_unit(srv->db, purge_seq_unit, keep, QUEUE_DB_WAIT_MS);
	if (!e)
		snprintf(msg, msgsz, "关闭往日未结束的排队号 %lld 个", (long long)n);
	return e;
}

enum err queue_jobs_register(struct server *srv)
{
	enum err e = sched_register(
	    srv, "queue.sweep", sweep_job,
	    &(struct sched_defaults){"*/5 * * * *", 240, 1, "queue", "处理滞留的排队号与过期评价"});
	if (e && e != ERR_EXISTS)
		return e;
	e = sched_register(srv, "queue.daily_reset", reset_job,
	                   &(struct sched_defaults){"0 0 * * *", 300, 3, "queue",
	                                            "排队号按日重置并关闭往日未结束的号"});
	return e == ERR_EXISTS ? ERR_OK : e;
}

/* ---- demo data ------------------------------------------------------------------------ */

static enum err seed_unit(struct db_conn *c, void *ctx)
{
	int *made = ctx;
	struct arena a;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	static const struct {
		const char *code, *name, *dept;
	} groups[] = {{"A", "社会保障", "rensha"},
	              {"B", "民政救助", "minzheng"},
	              {"C", "医保与其他", "yibao"}};
	static const struct {
		const char *code, *name, *groups;
	} windows[] = {{"01", "1号窗口", "AC"}, {"02", "2号窗口", "AB"}, {"03", "3号窗口", "BC"}};
	arena_init(&a, 0);
	enum err e =
	    db_exec(c, &a, &rs,
	            "SELECT o.id FROM orgs o WHERE o.level = 'centre' AND o.code LIKE '%C1'"
	            " AND NOT EXISTS (SELECT 1 FROM queue_groups g WHERE g.org_id = o.id)",
	            "");
	for (int r = 0; !e && r < rs->nrows; r++) {
		int64_t org = db_int(rs, r, 0), gid[3] = {0};
		for (int g = 0; !e && g < 3; g++) {
			struct db_rows *ins = NULL;
			e = db_exec(
			    c, &a, &ins,
			    "INSERT INTO queue_groups (org_id, code, name, created_at, updated_at)"
			    " VALUES (?, ?, ?, ?, ?) RETURNING id",
			    "issii", org, groups[g].code, groups[g].name, now, now);
			if (!e) {
				gid[g] = db_int(ins, 0, 0);
				e = db_exec(
				    c, &a, NULL,
				    "INSERT INTO queue_group_covers (group_id, org_id, kind, code)"
				    " VALUES (?, ?, 'department', ?)",
				    "iis", gid[g], org, groups[g].dept);
			}
		}
		for (int w = 0; !e && w < 3; w++) {
			struct db_rows *ins = NULL;
			e = db_exec(
			    c, &a, &ins,
			    "INSERT INTO queue_windows (org_id, code, name, created_at, updated_at)"
			    " VALUES (?, ?, ?, ?, ?) RETURNING id",
			    "issii", org, windows[w].code, windows[w].name, now, now);
			for (const char *g = windows[w].groups; !e && *g; g++)
				e = db_exec(c, &a, NULL,
				            "INSERT INTO queue_window_groups (window_id, group_id) "
				            "VALUES (?, ?)",
				            "ii", db_int(ins, 0, 0), gid[*g - 'A']);
		}
		if (!e)
			(*made)++;
	}
	arena_release(&a);
	return e;
}

enum err queue_seed_demo(struct server *srv, FILE *report)
{
	int made = 0;
	enum err e = db_write_unit(srv->db, seed_unit, &made, QUEUE_DB_WAIT_MS);
	if (!e && made && report)
		fprintf(report, "排队叫号：为 %d 个演示中心建立了排队组 A/B/C 和窗口 01–03\n",
		        made);
	return e;
}
