/* sched.h: the scheduler — cron jobs run exactly once across all nodes.
 *
 * A module registers a handler for a named job in its init (sched_register). The job's
 * schedule is data: a row of sched_jobs, created from the code's defaults when absent, that
 * an operator may change through the API (cron, enabled, timeout, retries). Once an operator
 * has changed a job (customized = 1) the code's defaults no longer touch those fields; until
 * then a new release's defaults replace the old ones.
 *
 * Time. Cron expressions are evaluated in Asia/Shanghai time, taken as a fixed UTC+08:00:
 * China has had no daylight saving since 1991, so there are no skipped or repeated hours and
 * "0 2 * * *" fires once every day. The machine's TZ setting plays no part.
 *
 * Exactly once. Every node runs one scheduler thread that wakes each second and reads the
 * due rows (one cheap query). A node claims a due time with a compare-and-swap update
 *
 *	UPDATE sched_jobs SET next_run_at = <next>, lease_owner = <node>, lease_until = <t>
 *	 WHERE name = ? AND next_run_at = <the due time it read> AND lease_owner IS NULL ...
 *
 * which exactly one node wins, in the same transaction as the sched_runs row of the run. The
 * handler runs outside any transaction, on a thread of its own. The winner holds a lease on
 * the job (renewed while it works) until the run is over, retries included; no two runs of
 * one job overlap anywhere. When a node dies, its lease runs out (lease_ms, default 60 s)
 * and another node takes the run over as its next attempt (the dead node's run is recorded
 * as failed). Due times missed while no node ran (or while the job was still running) are
 * run once, late, not once each. The nodes' clocks are assumed to agree (NTP): due times and
 * leases are compared with each node's wall clock.
 *
 * Runs, retries, timeouts, alerts. Each attempt is a sched_runs row (job, scheduled_for,
 * node, started_at, finished_at, outcome running/ok/failed/timeout, attempt, manual,
 * message). A failed attempt is retried after a backoff (30 s, doubling, at most 10 min) up
 * to `retries` times; ERR_INVALID and ERR_INTEGRITY are final at once. An attempt still
 * running timeout_s after it started is recorded as `timeout` and its cancel flag is set:
 * the thread is NOT killed (C cannot stop a thread safely), so a handler that can take long
 * must poll sched_run_cancelled(ctx) and return. The next attempt, and any other run of the
 * job, waits until that thread has returned. After the last attempt fails, an ops alert is
 * published on the bus topic "system:alerts" and logged at error level.
 *
 * Manual runs (an operator's "run now") are queued in the job row and claimed the same way
 * by whichever node has the handler; they run once, also when the job is disabled, and are
 * recorded with manual = 1 and the operator's name. Disabling a job stops its scheduled runs;
 * a run in progress finishes. */
#ifndef SHOULI_SCHED_H
#define SHOULI_SCHED_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct server;
struct module;
struct sched;

/* ---- cron expressions (sched_cron.c) ---- */

/* A parsed expression: one bit per allowed value of each field. */
struct sched_cron {
	uint64_t minutes; /* bits 0..59 */
	uint32_t hours;   /* bits 0..23 */
	uint32_t doms;    /* bits 1..31 */
	uint16_t months;  /* bits 1..12 */
	uint8_t dows;     /* bits 0..6, Sunday = 0 (7 is accepted for Sunday) */
	/* The day-of-month / day-of-week field began with '*'. As in Vixie cron, when neither
	 * does, a day matches if EITHER field matches ("0 0 1,15 * MON": the 1st, the 15th and
	 * every Monday); otherwise both must. Note "*\/2" begins with '*' too. */
	bool dom_star, dow_star;
};

/* Parse "m h dom mon dow" — each field a list of values, ranges a-b and steps (*\/n, a-b/n,
 * a/n = a to the end by n); months JAN..DEC and weekdays SUN..SAT by name, any case — or one
 * of @hourly @daily (@midnight) @weekly @monthly @yearly (@annually). Fields are separated
 * by blanks. An expression that can never fire (0 0 30 2 *) is refused. On failure returns
 * ERR_BAD_FIELD with a zh-CN sentence in msg (msgsz bytes) naming the field, e.g.
 * "第 2 个字段（小时）的值 24 超出范围 0–23". */
enum err sched_cron_parse(const char *expr, struct sched_cron *out, char *msg, size_t msgsz);

/* The first minute strictly after after_ms (ms since the epoch) that c matches, in UTC+08:00,
 * as ms since the epoch; -1 when there is none within 10 years (not for a parsed c). */
int64_t sched_cron_next(const struct sched_cron *c, int64_t after_ms);

/* ---- jobs ---- */

/* What a handler is told about its run. Strings are valid for the call. */
struct sched_run_ctx {
	const char *job;
	int64_t scheduled_for; /* the due time (ms); for a manual run, when it was requested */
	int attempt;           /* 1 for the first try, up to retries + 1 */
	bool manual;
	const char *triggered_by;  /* the operator of a manual run; NULL for scheduled runs */
	const char *node;          /* this node's identity */
	int64_t deadline_ms;       /* wall-clock ms past which the attempt counts as timed out */
	const atomic_bool *cancel; /* set at the deadline and when the server stops */
	void *impl;                /* the scheduler's own; do not touch */
};

/* Should the handler stop now (deadline passed or server stopping)? Poll it between units of
 * work; after it turns true, return soon (the outcome is already recorded as timeout when it
 * was the deadline). */
bool sched_run_cancelled(const struct sched_run_ctx *ctx);

/* The handler. Return ERR_OK on success; anything else fails the attempt (ERR_INVALID and
 * ERR_INTEGRITY: no retry). msg (msgsz bytes, starts empty) may receive a short zh-CN summary
 * for operators ("删除 120 条过期会话") or the reason of a failure; it is stored with the
 * run and must hold no personal data. Runs on a thread of its own, outside any transaction,
 * never concurrently with itself. */
typedef enum err (*sched_run_fn)(struct server *srv, const struct sched_run_ctx *ctx, char *msg,
                                 size_t msgsz);

/* The code's defaults of a job (strings copied). */
struct sched_defaults {
	const char *cron;  /* see sched_cron_parse */
	int timeout_s;     /* 1..86400; 0 = 600 */
	int retries;       /* 0..10 retries after the first attempt */
	const char *owner; /* the owning module, e.g. "auth" */
	const char *title; /* zh-CN, shown to operators, e.g. "清理过期会话" */
};

/* Register the handler of job (name: [a-z][a-z0-9_.]{2,63}, by convention "<module>.<what>")
 * for this process, and create its row from defaults when absent (or refresh the defaults of
 * a row no operator has changed). Call from a module's init, before or after the scheduler
 * module's; a process runs only jobs it has a handler for. Errors: ERR_BAD_FIELD (malformed
 * name or defaults, logged), ERR_EXISTS (registered twice), ERR_DB..., ERR_NOMEM. */
enum err sched_register(struct server *srv, const char *job, sched_run_fn run,
                        const struct sched_defaults *defaults);

/* Stop the scheduler thread and cancel and wait for the runs in progress (their outcomes are
 * recorded; a run with retries left is handed over to other nodes). Called by server_close
 * before the outbox, bus and HTTP are torn down; idempotent; NULL is a no-op. */
void sched_stop(struct sched *s);
/* Stop, then free. NULL is a no-op. */
void sched_destroy(struct sched *s);

/* The scheduler module (src/server/modules.c): its init registers the jobs of the platform
 * modules that exist (outbox.purge_done, auth.sessions_purge, audit.verify_daily,
 * catalog.daily) and starts the scheduler thread. Routes (permission sched.manage):
 *   GET   /api/v1/admin/jobs                   jobs with next run and last run
 *   PATCH /api/v1/admin/jobs/{name}            {cron, enabled, timeout_s, retries}
 *   POST  /api/v1/admin/jobs/{name}/run        queue a manual run (202)
 *   GET   /api/v1/admin/jobs/{name}/runs?limit=&before=   run history, newest first */
extern const struct module sched_module;

#endif
