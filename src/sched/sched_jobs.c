/* sched_jobs.c: the scheduled jobs of the platform modules that exist today — outbox
 * retention, expired sessions, the daily audit-chain check and the catalog's day change.
 * Each handler calls its module's public function; the scheduler module registers them
 * for the modules this process runs (docs/scheduled-tasks.md lists every job). */
#include "sched/sched_int.h"

#include "audit/audit.h"
#include "auth/auth.h"
#include "catalog/catalog.h"
#include "core/timeutil.h"
#include "events/events.h"
#include "server/server.h"

#define DAY_MS             (24 * 3600 * 1000LL)
#define OUTBOX_KEEP_DAYS   30
#define OUTBOX_PURGE_BATCH 5000

/* outbox.purge_done: delivered events older than OUTBOX_KEEP_DAYS go, in batches. */
static enum err outbox_purge(struct server *srv, const struct sched_run_ctx *ctx, char *msg,
                             size_t msgsz)
{
	int64_t before = time_now_ms() - OUTBOX_KEEP_DAYS * DAY_MS, total = 0, n = 0;
	enum err e;
	do {
		if ((e = outbox_purge_done(srv, before, OUTBOX_PURGE_BATCH, &n)))
			break;
		total += n;
	} while (n == OUTBOX_PURGE_BATCH && !sched_run_cancelled(ctx));
	snprintf(msg, msgsz, "删除已投递超过 %d 天的事件 %lld 条", OUTBOX_KEEP_DAYS,
	         (long long)total);
	return e;
}

/* auth.sessions_purge */
static enum err sessions_purge(struct server *srv, const struct sched_run_ctx *ctx, char *msg,
                               size_t msgsz)
{
	int64_t n = 0;
	enum err e = auth_sessions_purge(srv, time_now_ms(), &n);
	if (!e)
		snprintf(msg, msgsz, "删除过期会话 %lld 个", (long long)n);
	return e;
}

/* audit.verify_daily: a broken chain is final (no retry) and so alerts at once. */
static enum err audit_daily(struct server *srv, const struct sched_run_ctx *ctx, char *msg,
                            size_t msgsz)
{
	int64_t checked = 0, bad = 0;
	char why[400] = "";
	enum err e = audit_verify(srv->db, &checked, &bad, why, sizeof(why));
	if (e == ERR_INTEGRITY)
		snprintf(msg, msgsz, "审计日志完整性校验未通过（第 %lld 条起）：%s", (long long)bad,
		         why);
	else if (!e)
		snprintf(msg, msgsz, "审计日志 %lld 条，完整性校验通过", (long long)checked);
	return e;
}

/* catalog.daily: the day's code changes and version retirements. */
static enum err catalog_daily(struct server *srv, const struct sched_run_ctx *ctx, char *msg,
                              size_t msgsz)
{
	char iso[32], today[11];
	bool changed = false;
	time_iso(time_now_ms(), iso);
	memcpy(today, iso, 10);
	today[10] = 0;
	enum err e = catalog_maintain(srv, today, &changed);
	if (!e)
		snprintf(msg, msgsz, "%s：%s", today,
		         changed ? "已应用到期的编码变更" : "没有到期的编码变更");
	return e;
}

enum err sched_jobs_register_builtin(struct server *srv)
{
	enum err e = ERR_OK;
	if (srv->outbox &&
	    (e = sched_register(srv, "outbox.purge_done", outbox_purge,
	                        &(struct sched_defaults){"30 3 * * *", 1800, 2, "events",
	                                                 "清理已投递的外发事件（保留 30 天）"})))
		return e;
	if (srv->auth && (e = sched_register(srv, "auth.sessions_purge", sessions_purge,
	                                     &(struct sched_defaults){"*/10 * * * *", 300, 1,
	                                                              "auth", "清理过期登录会话"})))
		return e;
	if ((e = sched_register(srv, "audit.verify_daily", audit_daily,
	                        &(struct sched_defaults){"30 2 * * *", 3600, 1, "audit",
	                                                 "审计日志完整性每日校验"})))
		return e;
	if (srv->catalog && (e = sched_register(srv, "catalog.daily", catalog_daily,
	                                        &(struct sched_defaults){
	                                            "0 0 * * *", 600, 3, "catalog",
	                                            "事项目录每日维护（到期编码变更、版本更替）"})))
		return e;
	return ERR_OK;
}
