/* sched_store.c: the SQL of the scheduler (tables sched_jobs and sched_runs, migration 0009).
 * One text per statement, the same on SQLite and PostgreSQL. */
#include "sched/sched_int.h"

#define RUN_COLS                                                                                   \
	"id, scheduled_for, node, started_at, finished_at, outcome, attempt, manual, "             \
	"triggered_by, message"

/* Did the statement change exactly one row? */
static enum err one_row(enum err e, const struct db_rows *rows, bool *yes)
{
	*yes = !e && rows && rows->changes == 1;
	return e;
}

enum err sched_store_due(struct db_conn *c, struct arena *a, int64_t now, struct db_rows **rows)
{
	return db_exec(c, a, rows,
	               "SELECT name, enabled, cron, timeout_s, retries, next_run_at, lease_owner, "
	               "lease_until, lease_for, lease_attempt, lease_manual, lease_by, manual_at, "
	               "manual_by FROM sched_jobs "
	               "WHERE next_run_at <= ? OR lease_until <= ? OR manual_at IS NOT NULL",
	               "ii", now, now);
}

enum err sched_store_claim_due(struct db_conn *c, struct arena *a, const char *job, int64_t due,
                               int64_t next, const char *node, int64_t lease_until, int64_t now,
                               bool *won)
{
	struct db_rows *rows = NULL;
	enum err e = db_exec(c, a, &rows,
	                     "UPDATE sched_jobs SET next_run_at = ?, lease_owner = ?, "
	                     "lease_until = ?, lease_for = ?, lease_attempt = 1, lease_manual = 0, "
	                     "lease_by = NULL, updated_at = ? "
	                     "WHERE name = ? AND next_run_at = ? AND enabled = 1 "
	                     "AND lease_owner IS NULL",
	                     "isiiisi", next, node, lease_until, due, now, job, due);
	return one_row(e, rows, won);
}

enum err sched_store_claim_manual(struct db_conn *c, struct arena *a, const char *job,
                                  int64_t manual_at, const char *by, const char *node,
                                  int64_t lease_until, int64_t now, bool *won)
{
	struct db_rows *rows = NULL;
	enum err e = db_exec(c, a, &rows,
	                     "UPDATE sched_jobs SET manual_at = NULL, manual_by = NULL, "
	                     "lease_owner = ?, lease_until = ?, lease_for = ?, lease_attempt = 1, "
	                     "lease_manual = 1, lease_by = ?, updated_at = ? "
	                     "WHERE name = ? AND manual_at = ? AND lease_owner IS NULL",
	                     "siisisi", node, lease_until, manual_at, by, now, job, manual_at);
	return one_row(e, rows, won);
}

enum err sched_store_takeover(struct db_conn *c, struct arena *a, const char *job,
                              const char *old_owner, int64_t old_until, int attempt,
                              const char *node, int64_t lease_until, int64_t now, bool *won)
{
	struct db_rows *rows = NULL;
	enum err e =
	    db_exec(c, a, &rows,
	            "UPDATE sched_jobs SET lease_owner = ?, lease_until = ?, "
	            "lease_attempt = ?, updated_at = ? "
	            "WHERE name = ? AND lease_owner = ? AND lease_until = ?",
	            "siiissi", node, lease_until, (int64_t)attempt, now, job, old_owner, old_until);
	return one_row(e, rows, won);
}

enum err sched_store_renew(struct db_conn *c, struct arena *a, const char *job, const char *node,
                           int64_t lease_until, int attempt, int64_t now, bool *held)
{
	struct db_rows *rows = NULL;
	enum err e;
	if (attempt > 0)
		e = db_exec(
		    c, a, &rows,
		    "UPDATE sched_jobs SET lease_until = ?, lease_attempt = ?, updated_at = ? "
		    "WHERE name = ? AND lease_owner = ?",
		    "iiiss", lease_until, (int64_t)attempt, now, job, node);
	else
		e = db_exec(
		    c, a, &rows,
		    "UPDATE sched_jobs SET lease_until = ? WHERE name = ? AND lease_owner = ?",
		    "iss", lease_until, job, node);
	return one_row(e, rows, held);
}

enum err sched_store_release(struct db_conn *c, struct arena *a, const char *job, const char *node,
                             bool handover, int64_t now)
{
	if (handover)
		return db_exec(c, a, NULL,
		               "UPDATE sched_jobs SET lease_until = ?, updated_at = ? "
		               "WHERE name = ? AND lease_owner = ?",
		               "iiss", now, now, job, node);
	return db_exec(c, a, NULL,
	               "UPDATE sched_jobs SET lease_owner = NULL, lease_until = NULL, "
	               "lease_for = NULL, lease_attempt = 0, lease_manual = 0, lease_by = NULL, "
	               "updated_at = ? WHERE name = ? AND lease_owner = ?",
	               "iss", now, job, node);
}

enum err sched_store_run_insert(struct db_conn *c, struct arena *a, const char *job,
                                int64_t scheduled_for, const char *node, int64_t started,
                                int attempt, bool manual, const char *by, int64_t *id)
{
	struct db_rows *rows = NULL;
	enum err e = db_exec(c, a, &rows,
	                     "INSERT INTO sched_runs (job, scheduled_for, node, started_at, "
	                     "outcome, attempt, manual, triggered_by) "
	                     "VALUES (?, ?, ?, ?, 'running', ?, ?, ?) RETURNING id",
	                     "sisiiis", job, scheduled_for, node, started, (int64_t)attempt,
	                     (int64_t)(manual ? 1 : 0), by);
	if (e)
		return e;
	if (rows->nrows != 1)
		return ERR_INTERNAL;
	*id = db_int(rows, 0, 0);
	return ERR_OK;
}

enum err sched_store_run_finish(struct db_conn *c, struct arena *a, int64_t id, const char *outcome,
                                int64_t finished, const char *message)
{
	return db_exec(c, a, NULL,
	               "UPDATE sched_runs SET outcome = ?, finished_at = ?, message = ? "
	               "WHERE id = ? AND outcome = 'running'",
	               "sisi", outcome, finished, message && message[0] ? message : NULL, id);
}

enum err sched_store_runs_abandon(struct db_conn *c, struct arena *a, const char *job,
                                  const char *node, int64_t now, const char *message)
{
	return db_exec(c, a, NULL,
	               "UPDATE sched_runs SET outcome = 'failed', finished_at = ?, message = ? "
	               "WHERE job = ? AND node = ? AND outcome = 'running'",
	               "isss", now, message, job, node);
}

enum err sched_store_register(struct db_conn *c, struct arena *a, const char *job,
                              const struct sched_defaults *d, int64_t next, int64_t now)
{
	struct db_rows *rows = NULL;
	enum err e = db_exec(c, a, &rows,
	                     "SELECT customized, cron, timeout_s, retries, title, owner, "
	                     "default_cron, default_timeout_s, default_retries "
	                     "FROM sched_jobs WHERE name = ?",
	                     "s", job);
	if (e)
		return e;
	if (rows->nrows == 0)
		/* Another node registering at the same moment inserts the same defaults. */
		return db_exec(
		    c, a, NULL,
		    "INSERT INTO sched_jobs (name, title, owner, cron, enabled, timeout_s, "
		    "retries, customized, default_cron, default_timeout_s, "
		    "default_retries, next_run_at, created_at, updated_at) "
		    "VALUES (?, ?, ?, ?, 1, ?, ?, 0, ?, ?, ?, ?, ?, ?) "
		    "ON CONFLICT (name) DO NOTHING",
		    "ssssiisiiiii", job, d->title, d->owner, d->cron, (int64_t)d->timeout_s,
		    (int64_t)d->retries, d->cron, (int64_t)d->timeout_s, (int64_t)d->retries, next,
		    now, now);

	bool customized = db_int(rows, 0, 0) != 0;
	bool same_defaults = !strcmp(db_text(rows, 0, 4) ? db_text(rows, 0, 4) : "", d->title) &&
	                     !strcmp(db_text(rows, 0, 5) ? db_text(rows, 0, 5) : "", d->owner) &&
	                     !strcmp(db_text(rows, 0, 6) ? db_text(rows, 0, 6) : "", d->cron) &&
	                     db_int(rows, 0, 7) == d->timeout_s && db_int(rows, 0, 8) == d->retries;
	bool same_cron = !strcmp(db_text(rows, 0, 1) ? db_text(rows, 0, 1) : "", d->cron);
	bool same_values =
	    same_cron && db_int(rows, 0, 2) == d->timeout_s && db_int(rows, 0, 3) == d->retries;
	if (same_defaults && (customized || same_values))
		return ERR_OK; /* nothing to write: the usual restart */
	if ((e = db_exec(c, a, NULL,
	                 "UPDATE sched_jobs SET title = ?, owner = ?, default_cron = ?, "
	                 "default_timeout_s = ?, default_retries = ?, updated_at = ? "
	                 "WHERE name = ?",
	                 "sssiiis", d->title, d->owner, d->cron, (int64_t)d->timeout_s,
	                 (int64_t)d->retries, now, job)))
		return e;
	if (customized || same_values)
		return ERR_OK;
	/* Nobody changed the job: a new release's defaults apply. */
	if (same_cron)
		return db_exec(c, a, NULL,
		               "UPDATE sched_jobs SET timeout_s = ?, retries = ? WHERE name = ? "
		               "AND customized = 0",
		               "iis", (int64_t)d->timeout_s, (int64_t)d->retries, job);
	return db_exec(
	    c, a, NULL,
	    "UPDATE sched_jobs SET cron = ?, timeout_s = ?, retries = ?, next_run_at = ? "
	    "WHERE name = ? AND customized = 0",
	    "siiis", d->cron, (int64_t)d->timeout_s, (int64_t)d->retries, next, job);
}

/* The last run of each job through its max id (index sched_runs_job). */
#define LIST_SQL                                                                                   \
	"SELECT j.name, j.title, j.owner, j.cron, j.default_cron, j.enabled, j.timeout_s, "        \
	"j.retries, j.customized, j.next_run_at, j.lease_owner, j.lease_until, j.manual_at, "      \
	"j.manual_by, j.updated_at, r.id, r.scheduled_for, r.node, r.started_at, "                 \
	"r.finished_at, r.outcome, r.attempt, r.manual, r.triggered_by, r.message "                \
	"FROM sched_jobs j LEFT JOIN sched_runs r ON r.id = "                                      \
	"(SELECT max(x.id) FROM sched_runs x WHERE x.job = j.name) "

enum err sched_store_list(struct db_conn *c, struct arena *a, const char *name,
                          struct db_rows **rows)
{
	if (name)
		return db_exec(c, a, rows, LIST_SQL "WHERE j.name = ?", "s", name);
	return db_exec(c, a, rows, LIST_SQL "ORDER BY j.owner, j.name", "");
}

enum err sched_store_runs(struct db_conn *c, struct arena *a, const char *job, int64_t before,
                          int limit, struct db_rows **rows)
{
	return db_exec(c, a, rows,
	               "SELECT " RUN_COLS " FROM sched_runs WHERE job = ? AND id < ? "
	               "ORDER BY id DESC LIMIT ?",
	               "sii", job, before > 0 ? before : INT64_MAX, (int64_t)limit);
}
