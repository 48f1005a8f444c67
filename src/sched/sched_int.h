/* sched_int.h: what the scheduler's files share (and the unit tests, which run two
 * schedulers — two "nodes" — on one database with an injected clock and explicit ticks). */
#ifndef SHOULI_SCHED_INT_H
#define SHOULI_SCHED_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "db/db.h"
#include "sched/sched.h"

#define SCHED_NAME_MAX    64
#define SCHED_CRON_MAX    100
#define SCHED_MSG_MAX     1000 /* sched_runs.message is cut to this many bytes */
#define SCHED_BY_MAX      64   /* operator name of a manual run */
#define SCHED_RUNS_MAX    500  /* most runs one history page returns */
#define SCHED_TIMEOUT_MAX 86400
#define SCHED_RETRIES_MAX 10
#define SCHED_DB_WAIT_MS  5000

/* Scheduler settings; zero fields take the defaults. */
struct sched_config {
	const char *node;       /* identity (copied); default "<hostname>:<pid>:<8 random hex>" */
	int64_t tick_ms;        /* how often the thread looks for due work; default 1000 */
	int64_t lease_ms;       /* a claim holds this long unless renewed; default 60000 */
	int64_t backoff_ms;     /* wait before the first retry, doubled for each next; 30000 */
	int64_t backoff_max_ms; /* cap of that wait; default 600000 */
	/* Clock for due times, leases, deadlines and backoff (tests inject one); default
	 * time_now_ms. */
	int64_t (*now_ms)(void *clock_ctx);
	void *clock_ctx;
};

/* A stopped scheduler for srv (srv->db open; srv->bus may be NULL: no alerts published).
 * cfg may be NULL (copied). sched_register creates srv->sched this way when it is NULL; a
 * test creates its own first and stores it in srv->sched. */
enum err sched_create(struct server *srv, const struct sched_config *cfg, struct sched **out);
/* Start the thread that ticks every tick_ms (and at once when woken). ERR_CONFLICT when it
 * runs already or the scheduler was stopped. */
enum err sched_start(struct sched *s);
/* One pass in the calling thread: collect finished and timed-out attempts (recording them,
 * retrying or alerting), start due retries, renew leases, then claim and start what is due
 * (scheduled times, manual requests, runs of nodes whose lease ran out). Handlers run on
 * threads of their own; their outcome is recorded by a later pass. */
enum err sched_tick(struct sched *s);
/* Wait until no handler thread of s is running, up to timeout_ms; false on timeout. */
bool sched_wait_idle(struct sched *s, int timeout_ms);
/* Wake the scheduler thread now (after a manual request). NULL is a no-op. */
void sched_wake(struct sched *s);
int64_t sched_now(const struct sched *s);
const char *sched_node(const struct sched *s);
/* Does this process have a handler for job? */
bool sched_has_handler(struct sched *s, const char *job);

/* ---- operator actions: inside the caller's write transaction on c ---- */

/* Changes of a job; fields left at their "unchanged" value are kept. */
struct sched_job_patch {
	const char *cron; /* NULL = unchanged */
	int enabled;      /* -1 = unchanged, 0, 1 */
	int timeout_s;    /* 0 = unchanged */
	int retries;      /* -1 = unchanged */
};

/* Apply p to job (customized = 1; a new cron or re-enabling recomputes next_run_at from now).
 * ERR_NOT_FOUND, ERR_BAD_FIELD (ei names the field; for cron the message names the cron
 * field), ERR_DB.... */
enum err sched_job_update(struct db_conn *c, struct arena *a, const char *job,
                          const struct sched_job_patch *p, int64_t now, struct errinfo *ei);
/* Queue a manual run of job requested by `by` at now. ERR_NOT_FOUND, ERR_CONFLICT (one is
 * queued already). */
enum err sched_job_request_run(struct db_conn *c, struct arena *a, const char *job, const char *by,
                               int64_t now);

/* ---- SQL (sched_store.c): the caller runs the transactions ---- */

/* The columns of sched_store_due rows, in order. */
enum sched_due_col {
	DUE_NAME,
	DUE_ENABLED,
	DUE_CRON,
	DUE_TIMEOUT,
	DUE_RETRIES,
	DUE_NEXT,
	DUE_LEASE_OWNER,
	DUE_LEASE_UNTIL,
	DUE_LEASE_FOR,
	DUE_LEASE_ATTEMPT,
	DUE_LEASE_MANUAL,
	DUE_LEASE_BY,
	DUE_MANUAL_AT,
	DUE_MANUAL_BY,
};

/* Rows that may need work at now: due, lease run out, or a manual run queued. */
enum err sched_store_due(struct db_conn *c, struct arena *a, int64_t now, struct db_rows **rows);

/* The claim of a due time: the compare-and-swap on next_run_at (free lease, enabled).
 * *won = exactly this caller moved next_run_at from due to next. */
enum err sched_store_claim_due(struct db_conn *c, struct arena *a, const char *job, int64_t due,
                               int64_t next, const char *node, int64_t lease_until, int64_t now,
                               bool *won);
/* The claim of a queued manual run (compare-and-swap on manual_at, free lease). */
enum err sched_store_claim_manual(struct db_conn *c, struct arena *a, const char *job,
                                  int64_t manual_at, const char *by, const char *node,
                                  int64_t lease_until, int64_t now, bool *won);
/* Take over a lease that ran out (compare-and-swap on lease_owner and lease_until), counting
 * the next attempt. */
enum err sched_store_takeover(struct db_conn *c, struct arena *a, const char *job,
                              const char *old_owner, int64_t old_until, int attempt,
                              const char *node, int64_t lease_until, int64_t now, bool *won);
/* Extend node's lease to lease_until; attempt > 0 also records a new attempt. *held = the
 * lease was still node's. */
enum err sched_store_renew(struct db_conn *c, struct arena *a, const char *job, const char *node,
                           int64_t lease_until, int attempt, int64_t now, bool *held);
/* End node's lease: cleared (the run is over), or, with handover, left to run out at now
 * so that another node takes the run over at once. */
enum err sched_store_release(struct db_conn *c, struct arena *a, const char *job, const char *node,
                             bool handover, int64_t now);
/* Insert a running sched_runs row; *id receives its id. */
enum err sched_store_run_insert(struct db_conn *c, struct arena *a, const char *job,
                                int64_t scheduled_for, const char *node, int64_t started,
                                int attempt, bool manual, const char *by, int64_t *id);
/* Record the outcome ("ok", "failed", "timeout") of a run still running. */
enum err sched_store_run_finish(struct db_conn *c, struct arena *a, int64_t id, const char *outcome,
                                int64_t finished, const char *message);
/* Mark the running rows of job by node as failed with message (the node was lost). */
enum err sched_store_runs_abandon(struct db_conn *c, struct arena *a, const char *job,
                                  const char *node, int64_t now, const char *message);

/* Register-time upsert of a job row from the code's defaults (see sched_register). */
enum err sched_store_register(struct db_conn *c, struct arena *a, const char *job,
                              const struct sched_defaults *d, int64_t next, int64_t now);

/* Columns of sched_store_list rows. */
enum sched_list_col {
	LS_NAME,
	LS_TITLE,
	LS_OWNER,
	LS_CRON,
	LS_DEFAULT_CRON,
	LS_ENABLED,
	LS_TIMEOUT,
	LS_RETRIES,
	LS_CUSTOMIZED,
	LS_NEXT,
	LS_LEASE_OWNER,
	LS_LEASE_UNTIL,
	LS_MANUAL_AT,
	LS_MANUAL_BY,
	LS_UPDATED_AT,
	LS_RUN_ID, /* the last run; NULL when none */
};
/* Every job with its last run (columns as sched_store_runs from LS_RUN_ID on); name NULL =
 * all, ordered by owner and name. */
enum err sched_store_list(struct db_conn *c, struct arena *a, const char *name,
                          struct db_rows **rows);

/* Columns of sched_store_runs rows. */
enum sched_run_col {
	RUN_ID,
	RUN_SCHEDULED_FOR,
	RUN_NODE,
	RUN_STARTED_AT,
	RUN_FINISHED_AT,
	RUN_OUTCOME,
	RUN_ATTEMPT,
	RUN_MANUAL,
	RUN_TRIGGERED_BY,
	RUN_MESSAGE,
	RUN_NCOLS
};
/* Runs of job, newest first, id < before (0 = no bound), at most limit. */
enum err sched_store_runs(struct db_conn *c, struct arena *a, const char *job, int64_t before,
                          int limit, struct db_rows **rows);

/* ---- built-in jobs (sched_jobs.c) ---- */

/* Register the jobs of the platform modules this process runs. */
enum err sched_jobs_register_builtin(struct server *srv);

#endif
