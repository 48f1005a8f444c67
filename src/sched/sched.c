/* sched.c: the handler registry, the scheduler thread, claims, attempts, timeouts, retries and
 * alerts (the contract is in sched.h; the SQL in sched_store.c).
 *
 * Threads. One scheduler thread per process runs sched_tick every tick_ms and whenever an
 * attempt finishes or an operator queues a manual run. Each attempt runs on a detached
 * handler thread of its own; the only state it shares with the scheduler is its struct
 * attempt (result, done flag, cancel flag) under s->mu. Everything about the runs this node
 * holds a lease for (struct job's run fields) belongs to whoever ticks, under tick_mu.
 *
 * A run, on the node that claimed it: claim (CAS + its sched_runs row, one transaction) →
 * handler thread → outcome recorded by the next tick → done, or retry after a backoff
 * (lease renewed meanwhile, next attempt counted in the row), or, after the last attempt,
 * an alert → lease cleared. A timed-out attempt is recorded at its deadline; its thread is
 * waited for (the lease is kept) before anything else of that job starts. */
#include "sched/sched_int.h"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "events/events.h"
#include "server/server.h"

#define DEFAULT_TICK_MS        1000
#define DEFAULT_LEASE_MS       60000
#define DEFAULT_BACKOFF_MS     30000
#define DEFAULT_BACKOFF_MAX_MS 600000
#define DEFAULT_TIMEOUT_S      600
#define STOP_LOG_EVERY_MS      5000
#define ALERT_TOPIC            "system:alerts"

struct job;

/* One attempt: shared between the scheduler and the handler thread. */
struct attempt {
	struct sched *s;
	struct job *job;
	int refs;  /* under s->mu: the scheduler's and the thread's */
	bool done; /* under s->mu */
	enum err result;
	char msg[SCHED_MSG_MAX + 1];
	atomic_bool cancel;
	struct sched_run_ctx ctx;
	char by[SCHED_BY_MAX + 1];
	int64_t run_id;
	int64_t deadline;
	bool recorded; /* scheduler only: its outcome (timeout) is written already */
};

/* A registered job. The registry part is immutable after sched_register; the run part is
 * owned by whoever holds tick_mu. */
struct job {
	char *name, *title;
	sched_run_fn run;

	bool held;       /* this node holds the job's lease */
	int64_t run_for; /* the run's due time (or manual request time) */
	bool run_manual;
	char run_by[SCHED_BY_MAX + 1];
	int attempt;            /* attempts started of this run */
	int timeout_s, retries; /* as read when the run was claimed */
	int64_t lease_until;
	int64_t retry_at;    /* > 0: start the next attempt then */
	bool over;           /* the run has ended: clear the lease once cur has returned */
	struct attempt *cur; /* the attempt whose thread has not been collected */
	bool bad_cron_logged;
};

struct sched {
	struct server *srv;
	struct sched_config cfg;
	char *node;

	pthread_mutex_t mu; /* registry, attempts' done/refs, nthreads, wake_seq, running */
	pthread_cond_t cv;  /* monotonic; wake_seq changed, a thread ended, or stop */
	pthread_mutex_t tick_mu;
	struct job **jobs;
	int njobs, ajobs;
	int nthreads; /* handler threads alive */
	uint64_t wake_seq;
	bool running, stopped;
	pthread_t thread;
	atomic_bool stop;
};

static int64_t wall_clock(void *ctx)
{
	(void)ctx;
	return time_now_ms();
}

int64_t sched_now(const struct sched *s)
{
	return s->cfg.now_ms(s->cfg.clock_ctx);
}

const char *sched_node(const struct sched *s)
{
	return s->node;
}

bool sched_run_cancelled(const struct sched_run_ctx *ctx)
{
	const struct attempt *at = ctx->impl;
	if (ctx->cancel && atomic_load(ctx->cancel))
		return true;
	return at && sched_now(at->s) >= ctx->deadline_ms;
}

/* ---- lifecycle ---- */

enum err sched_create(struct server *srv, const struct sched_config *cfg, struct sched **out)
{
	enum err e = ERR_OK;
	struct sched *s = NULL;
	pthread_condattr_t ca;
	bool ca_ok = false, mu_ok = false, tmu_ok = false;

	*out = NULL;
	if (!srv || !srv->db)
		return ERR_INTERNAL;
	if (!(s = calloc(1, sizeof(*s))))
		return ERR_NOMEM;
	s->srv = srv;
	if (cfg)
		s->cfg = *cfg;
	if (s->cfg.tick_ms <= 0)
		s->cfg.tick_ms = DEFAULT_TICK_MS;
	if (s->cfg.lease_ms <= 0)
		s->cfg.lease_ms = DEFAULT_LEASE_MS;
	if (s->cfg.backoff_ms <= 0)
		s->cfg.backoff_ms = DEFAULT_BACKOFF_MS;
	if (s->cfg.backoff_max_ms <= 0)
		s->cfg.backoff_max_ms = DEFAULT_BACKOFF_MAX_MS;
	if (!s->cfg.now_ms) {
		s->cfg.now_ms = wall_clock;
		s->cfg.clock_ctx = NULL;
	}
	if (s->cfg.node && s->cfg.node[0]) {
		s->node = strdup(s->cfg.node);
	} else {
		/* Host and pid say where; the random part tells a restarted process (same pid in
		 * a container) from the one whose lease it may have to take over. */
		char host[256] = "", rnd[9];
		if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
			snprintf(host, sizeof(host), "%s", "localhost");
		if (id_random_hex(rnd, 4) != ERR_OK)
			snprintf(rnd, sizeof(rnd), "%08lx", (unsigned long)time_mono_ns());
		if (asprintf(&s->node, "%.64s:%ld:%s", host, (long)getpid(), rnd) < 0)
			s->node = NULL;
	}
	s->cfg.node = s->node;
	if (!s->node) {
		e = ERR_NOMEM;
		goto out;
	}
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		e = ERR_INTERNAL;
		goto out;
	}
	mu_ok = true;
	if (pthread_mutex_init(&s->tick_mu, NULL) != 0) {
		e = ERR_INTERNAL;
		goto out;
	}
	tmu_ok = true;
	if (pthread_condattr_init(&ca) != 0) {
		e = ERR_INTERNAL;
		goto out;
	}
	ca_ok = true;
	/* A monotonic wait: a wall-clock step must not stall or spin the thread. */
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&s->cv, &ca) != 0) {
		e = ERR_INTERNAL;
		goto out;
	}
	*out = s;
	s = NULL;
out:
	if (ca_ok)
		pthread_condattr_destroy(&ca);
	if (s) {
		if (tmu_ok)
			pthread_mutex_destroy(&s->tick_mu);
		if (mu_ok)
			pthread_mutex_destroy(&s->mu);
		free(s->node);
		free(s);
	}
	return e;
}

static struct job *find_job(struct sched *s, const char *name)
{
	for (int k = 0; k < s->njobs; k++)
		if (!strcmp(s->jobs[k]->name, name))
			return s->jobs[k];
	return NULL;
}

bool sched_has_handler(struct sched *s, const char *job)
{
	if (!s || !job)
		return false;
	pthread_mutex_lock(&s->mu);
	bool found = find_job(s, job) != NULL;
	pthread_mutex_unlock(&s->mu);
	return found;
}

void sched_wake(struct sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->wake_seq++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

/* ---- registration ---- */

static bool name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 3 || n > SCHED_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (size_t k = 1; k < n; k++)
		if (!((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= '0' && s[k] <= '9') || s[k] == '_' ||
		      s[k] == '.'))
			return false;
	return true;
}

static bool text_valid(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n <= max && utf8_valid(s, n);
}

enum err sched_register(struct server *srv, const char *name, sched_run_fn run,
                        const struct sched_defaults *defaults)
{
	enum err e;
	struct arena a;
	struct db_conn *c = NULL;
	struct job *j = NULL;
	struct sched_cron cron;
	char msg[256];
	struct sched_defaults d;

	if (!srv || !defaults || !run || !name_valid(name)) {
		log_error("sched.register", "job name %s or its handler is malformed",
		          name ? name : "(null)");
		return ERR_BAD_FIELD;
	}
	d = *defaults;
	if (d.timeout_s == 0)
		d.timeout_s = DEFAULT_TIMEOUT_S;
	if (!d.cron || sched_cron_parse(d.cron, &cron, msg, sizeof(msg)) || d.timeout_s < 1 ||
	    d.timeout_s > SCHED_TIMEOUT_MAX || d.retries < 0 || d.retries > SCHED_RETRIES_MAX ||
	    !text_valid(d.owner, 32) || !text_valid(d.title, 200)) {
		log_error("sched.register", "defaults of job %s are malformed", name);
		return ERR_BAD_FIELD;
	}
	if (!srv->sched && (e = sched_create(srv, NULL, &srv->sched)))
		return e;
	struct sched *s = srv->sched;
	if (sched_has_handler(s, name)) {
		log_error("sched.register", "job %s is registered twice", name);
		return ERR_EXISTS;
	}

	arena_init(&a, 0);
	int64_t now = sched_now(s);
	if ((e = db_acquire(srv->db, SCHED_DB_WAIT_MS, &c)) || (e = db_begin_write(c)))
		goto out;
	if ((e = sched_store_register(c, &a, name, &d, sched_cron_next(&cron, now), now)) ||
	    (e = db_commit(c)))
		goto out;

	if (!(j = calloc(1, sizeof(*j))) || !(j->name = strdup(name)) ||
	    !(j->title = strdup(d.title))) {
		e = ERR_NOMEM;
		goto out;
	}
	j->run = run;
	pthread_mutex_lock(&s->mu);
	if (find_job(s, name)) {
		e = ERR_EXISTS;
	} else if (s->njobs == s->ajobs) {
		int na = s->ajobs ? s->ajobs * 2 : 16;
		struct job **nj = realloc(s->jobs, sizeof(*nj) * (size_t)na);
		if (nj) {
			s->jobs = nj;
			s->ajobs = na;
		} else {
			e = ERR_NOMEM;
		}
	}
	if (!e) {
		s->jobs[s->njobs++] = j;
		j = NULL;
	}
	pthread_mutex_unlock(&s->mu);
out:
	if (c)
		db_release(c); /* rolls back an unfinished transaction */
	arena_release(&a);
	if (j) {
		free(j->name);
		free(j->title);
		free(j);
	}
	if (e)
		log_error("sched.register", "job %s could not be registered (%s)", name,
		          err_code(e));
	return e;
}

/* ---- attempts ---- */

static void attempt_unref_locked(struct attempt *at)
{
	if (--at->refs == 0)
		free(at);
}

static void attempt_unref(struct sched *s, struct attempt *at)
{
	pthread_mutex_lock(&s->mu);
	attempt_unref_locked(at);
	pthread_mutex_unlock(&s->mu);
}

static void *attempt_main(void *arg)
{
	struct attempt *at = arg;
	struct sched *s = at->s;
	char msg[SCHED_MSG_MAX + 1] = "";
	enum err e = at->job->run(s->srv, &at->ctx, msg, sizeof(msg));
	msg[sizeof(msg) - 1] = 0;

	pthread_mutex_lock(&s->mu);
	at->result = e;
	memcpy(at->msg, msg, sizeof(msg));
	at->done = true;
	attempt_unref_locked(at);
	s->nthreads--;
	s->wake_seq++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

/* Start attempt j->attempt of j's run (its row id run_id) on a thread of its own. A thread
 * that cannot be created is an attempt that failed at once (collected by the next tick). */
static void spawn(struct sched *s, struct job *j, int64_t run_id, int64_t now)
{
	struct attempt *at = calloc(1, sizeof(*at));
	if (!at) {
		/* Without memory for the attempt there is nothing to collect: end the run now
		 * as failed; the lease runs out and another node takes it over. */
		log_error("sched.spawn", "no memory to start job %s", j->name);
		j->held = false;
		return;
	}
	at->s = s;
	at->job = j;
	at->refs = 2;
	at->run_id = run_id;
	at->deadline = now + (int64_t)j->timeout_s * 1000;
	atomic_init(&at->cancel, false);
	snprintf(at->by, sizeof(at->by), "%s", j->run_by);
	at->ctx = (struct sched_run_ctx){
	    .job = j->name,
	    .scheduled_for = j->run_for,
	    .attempt = j->attempt,
	    .manual = j->run_manual,
	    .triggered_by = j->run_manual && at->by[0] ? at->by : NULL,
	    .node = s->node,
	    .deadline_ms = at->deadline,
	    .cancel = &at->cancel,
	    .impl = at,
	};
	j->cur = at;

	pthread_attr_t attr;
	pthread_t th;
	bool ok = pthread_attr_init(&attr) == 0;
	if (ok) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_mutex_lock(&s->mu);
		s->nthreads++;
		ok = pthread_create(&th, &attr, attempt_main, at) == 0;
		if (!ok)
			s->nthreads--;
		pthread_mutex_unlock(&s->mu);
		pthread_attr_destroy(&attr);
	}
	if (!ok) {
		pthread_mutex_lock(&s->mu);
		at->refs = 1;
		at->done = true;
		at->result = ERR_INTERNAL;
		snprintf(at->msg, sizeof(at->msg), "%s", "无法创建任务执行线程");
		pthread_mutex_unlock(&s->mu);
	}
	log_debug("sched.run", "job %s attempt %d started on %s%s", j->name, j->attempt, s->node,
	          j->run_manual ? " (manual)" : "");
}

/* ---- alerts ---- */

/* A message cut to SCHED_MSG_MAX bytes at a character boundary; invalid UTF-8 dropped (the
 * database would refuse it on PostgreSQL). */
static const char *clean_msg(struct arena *a, const char *msg)
{
	size_t n = msg ? strlen(msg) : 0;
	if (n == 0 || !utf8_valid(msg, n))
		return NULL;
	if (n <= SCHED_MSG_MAX)
		return msg;
	n = SCHED_MSG_MAX;
	while (n > 0 && ((unsigned char)msg[n] & 0xC0) == 0x80)
		n--;
	return arena_strndup(a, msg, n);
}

static void alert(struct sched *s, struct job *j, const char *outcome, const char *message)
{
	char at[32], due[32];
	json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:b,s:s,s:s,s:s}", "source", "sched",
	                       "job", j->name, "title", j->title, "outcome", outcome, "message",
	                       message ? message : "", "attempts", j->attempt, "manual",
	                       j->run_manual, "scheduled_for", time_iso(j->run_for, due), "node",
	                       s->node, "at", time_iso(time_now_ms(), at));
	char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	log_event(LOG_ERROR, "sched.alert", ev ? json_incref(ev) : NULL,
	          "job %s (%s) failed after %d attempts (%s): %s", j->name, j->title, j->attempt,
	          outcome, message ? message : "");
	if (text && s->srv->bus)
		event_bus_publish(s->srv->bus, ALERT_TOPIC, text);
	free(text);
	json_decref(ev);
}

/* ---- the runs this node holds ---- */

static int64_t backoff(const struct sched *s, int attempt)
{
	int64_t d = s->cfg.backoff_ms;
	for (int k = 1; k < attempt && d < s->cfg.backoff_max_ms; k++)
		d *= 2;
	return d > s->cfg.backoff_max_ms ? s->cfg.backoff_max_ms : d;
}

static bool final_error(enum err e)
{
	return e == ERR_INVALID || e == ERR_INTEGRITY;
}

/* End a short write transaction begun when open: commit when all went well, else roll
 * back (also after a failed commit, which SQLite leaves open). */
static enum err write_end(struct db_conn *c, enum err e, bool open)
{
	if (!e)
		e = db_commit(c);
	if (e && open)
		db_rollback(c);
	return e;
}

/* Record the outcome of j's current attempt and decide what comes next: done, a retry after
 * a backoff, or (after the last attempt) an alert. thread_done: the attempt's thread has
 * returned, so a run that is over gives its lease back in the same transaction. */
static enum err record(struct sched *s, struct db_conn *c, struct arena *a, struct job *j,
                       const char *outcome, const char *message, enum err result, int64_t now,
                       bool thread_done)
{
	bool ok = !strcmp(outcome, "ok");
	bool over = ok || final_error(result) || j->attempt >= j->retries + 1;
	enum err e = db_begin_write(c);
	bool open = !e;
	if (!e)
		e = sched_store_run_finish(c, a, j->cur->run_id, outcome, now,
		                           clean_msg(a, message));
	if (!e && over && thread_done)
		e = sched_store_release(c, a, j->name, s->node, false, now);
	if ((e = write_end(c, e, open))) {
		log_warn("sched.record", "outcome of job %s could not be recorded (%s); retrying",
		         j->name, err_code(e));
		return e;
	}
	if (ok) {
		log_info("sched.ok", "job %s attempt %d ok%s%s", j->name, j->attempt,
		         message && message[0] ? ": " : "", message ? message : "");
	} else if (over) {
		alert(s, j, outcome, message);
	} else {
		j->retry_at = now + backoff(s, j->attempt);
		log_warn("sched.retry", "job %s attempt %d %s (%s); next attempt in %lld ms",
		         j->name, j->attempt, outcome, message ? message : "",
		         (long long)(j->retry_at - now));
	}
	j->over = over;
	if (over && thread_done) {
		j->held = false;
		j->over = false;
	}
	return ERR_OK;
}

static void release(struct sched *s, struct db_conn *c, struct arena *a, struct job *j,
                    bool handover, int64_t now)
{
	enum err e = db_begin_write(c);
	bool open = !e;
	if (!e)
		e = sched_store_release(c, a, j->name, s->node, handover, now);
	if ((e = write_end(c, e, open))) {
		/* The lease runs out by itself; another node then takes over (a finished run
		 * would run once more: logged so that an operator can tell). */
		log_warn("sched.release", "lease of job %s could not be released (%s)", j->name,
		         err_code(e));
	} else if (handover) {
		log_info("sched.handover", "job %s handed over to other nodes at attempt %d",
		         j->name, j->attempt);
	}
	j->held = false;
	j->over = false;
	j->retry_at = 0;
}

/* Start the next attempt of a run this node holds (after a retry backoff). */
static void next_attempt(struct sched *s, struct db_conn *c, struct arena *a, struct job *j,
                         int64_t now)
{
	bool held = false;
	int64_t id = 0, until = now + s->cfg.lease_ms;
	enum err e = db_begin_write(c);
	bool open = !e;
	if (!e)
		e = sched_store_renew(c, a, j->name, s->node, until, j->attempt + 1, now, &held);
	if (!e && held)
		e = sched_store_run_insert(c, a, j->name, j->run_for, s->node, now, j->attempt + 1,
		                           j->run_manual, j->run_manual ? j->run_by : NULL, &id);
	if ((e = write_end(c, e, open)))
		return; /* tried again next tick */
	if (!held) {
		log_warn("sched.lease_lost", "job %s: another node took the run over", j->name);
		j->held = false;
		j->retry_at = 0;
		return;
	}
	j->attempt++;
	j->retry_at = 0;
	j->lease_until = until;
	spawn(s, j, id, now);
}

/* Everything about a run this node holds: collect, time out, retry, renew, release. */
static void service(struct sched *s, struct db_conn *c, struct arena *a, struct job *j, int64_t now,
                    bool stopping)
{
	struct attempt *at = j->cur;
	if (at) {
		pthread_mutex_lock(&s->mu);
		bool done = at->done;
		pthread_mutex_unlock(&s->mu);
		if (done) {
			if (!at->recorded &&
			    record(s, c, a, j, at->result ? "failed" : "ok",
			           at->result && !at->msg[0] ? err_message(at->result) : at->msg,
			           at->result, now, true))
				return;
			if (at->recorded)
				log_info("sched.late",
				         "job %s attempt %d returned after its timeout (%s)",
				         j->name, j->attempt, err_code(at->result));
			j->cur = NULL;
			attempt_unref(s, at);
		} else if (!at->recorded && now >= at->deadline) {
			char why[200];
			snprintf(why, sizeof(why), "执行超过 %d 秒未结束，已记为超时并通知任务停止",
			         j->timeout_s);
			if (record(s, c, a, j, "timeout", why, ERR_TIMEOUT, now, false))
				return;
			at->recorded = true;
			atomic_store(&at->cancel, true);
		}
	}
	if (!j->held)
		return; /* the run ended with the outcome just recorded */
	if (!j->cur) {
		if (j->over) {
			release(s, c, a, j, false, now);
			return;
		}
		if (stopping) {
			release(s, c, a, j, true, now);
			return;
		}
		if (j->retry_at && now >= j->retry_at) {
			next_attempt(s, c, a, j, now);
			return;
		}
	}
	if (j->held && j->lease_until - now < s->cfg.lease_ms / 2) {
		bool held = false;
		int64_t until = now + s->cfg.lease_ms;
		enum err e = sched_store_renew(c, a, j->name, s->node, until, 0, now, &held);
		if (!e && held) {
			j->lease_until = until;
		} else if (!e) {
			/* Lost (this node stalled past its lease): the other node runs it now.
			 * What still runs here ends unrecorded for the job row. */
			log_warn("sched.lease_lost", "job %s: lease lost to another node", j->name);
			if (!j->cur)
				j->held = false;
			j->over = true;
		}
	}
}

/* ---- claims ---- */

enum claim_kind { CLAIM_DUE, CLAIM_MANUAL, CLAIM_TAKEOVER };

/* Claim the run a due row describes and start its first (or, on takeover, next) attempt. */
static void claim(struct sched *s, struct db_conn *c, struct arena *a, struct job *j,
                  const struct db_rows *rs, int r, enum claim_kind kind, int64_t now)
{
	bool won = false, exhausted = false;
	int64_t id = 0, until = now + s->cfg.lease_ms, next = 0;
	const char *old = db_text(rs, r, DUE_LEASE_OWNER);
	int timeout_s = (int)db_int(rs, r, DUE_TIMEOUT);
	int retries = (int)db_int(rs, r, DUE_RETRIES);
	int64_t run_for = 0;
	int attempt = 1;
	bool manual = false;
	const char *by = NULL;
	struct sched_cron cron;
	char why[300];

	switch (kind) {
	case CLAIM_DUE:
		if (sched_cron_parse(db_text(rs, r, DUE_CRON), &cron, why, sizeof(why))) {
			if (!j->bad_cron_logged)
				log_error("sched.cron",
				          "job %s has a malformed cron in the database: %s",
				          j->name, why);
			j->bad_cron_logged = true;
			return;
		}
		run_for = db_int(rs, r, DUE_NEXT);
		next = sched_cron_next(&cron, now);
		break;
	case CLAIM_MANUAL:
		run_for = db_int(rs, r, DUE_MANUAL_AT);
		manual = true;
		by = db_text(rs, r, DUE_MANUAL_BY);
		break;
	case CLAIM_TAKEOVER:
		run_for = db_int(rs, r, DUE_LEASE_FOR);
		manual = db_int(rs, r, DUE_LEASE_MANUAL) != 0;
		by = db_text(rs, r, DUE_LEASE_BY);
		attempt = (int)db_int(rs, r, DUE_LEASE_ATTEMPT) + 1;
		exhausted = attempt > retries + 1;
		break;
	}

	enum err e = db_begin_write(c);
	bool open = !e;
	if (!e && kind == CLAIM_DUE)
		e = sched_store_claim_due(c, a, j->name, run_for, next, s->node, until, now, &won);
	else if (!e && kind == CLAIM_MANUAL)
		e = sched_store_claim_manual(c, a, j->name, run_for, by, s->node, until, now, &won);
	else if (!e)
		e = sched_store_takeover(c, a, j->name, old, db_int(rs, r, DUE_LEASE_UNTIL),
		                         exhausted ? attempt - 1 : attempt, s->node, until, now,
		                         &won);
	if (!e && won && kind == CLAIM_TAKEOVER) {
		snprintf(why, sizeof(why), "执行节点 %s 失联（租约过期），本次执行由节点 %s 接管",
		         old, s->node);
		e = sched_store_runs_abandon(c, a, j->name, old, now, why);
		if (!e && exhausted)
			e = sched_store_release(c, a, j->name, s->node, false, now);
	}
	if (!e && won && !exhausted)
		e = sched_store_run_insert(c, a, j->name, run_for, s->node, now, attempt, manual,
		                           by, &id);
	if ((e = write_end(c, e, open))) {
		if (e != ERR_DB_BUSY && e != ERR_CONFLICT)
			log_warn("sched.claim", "job %s could not be claimed (%s)", j->name,
			         err_code(e));
		return;
	}
	if (!won)
		return; /* another node was first */

	j->run_for = run_for;
	j->run_manual = manual;
	snprintf(j->run_by, sizeof(j->run_by), "%s", by ? by : "");
	j->attempt = exhausted ? attempt - 1 : attempt;
	j->timeout_s = timeout_s > 0 ? timeout_s : DEFAULT_TIMEOUT_S;
	j->retries = retries;
	if (kind == CLAIM_TAKEOVER)
		log_warn("sched.takeover", "job %s: lease of %s ran out; taken over by %s", j->name,
		         old, s->node);
	if (exhausted) {
		alert(s, j, "failed", why);
		return;
	}
	j->held = true;
	j->over = false;
	j->retry_at = 0;
	j->lease_until = until;
	spawn(s, j, id, now);
}

/* ---- the tick ---- */

static struct job **snapshot_jobs(struct sched *s, struct arena *a, int *n)
{
	pthread_mutex_lock(&s->mu);
	*n = s->njobs;
	struct job **js = *n ? arena_alloc(a, sizeof(*js) * (size_t)*n) : NULL;
	if (js)
		memcpy(js, s->jobs, sizeof(*js) * (size_t)*n);
	else
		*n = 0;
	pthread_mutex_unlock(&s->mu);
	return js;
}

static enum err tick_locked(struct sched *s, bool stopping)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	int n = 0;
	arena_init(&a, 0);
	enum err e = db_acquire(s->srv->db, SCHED_DB_WAIT_MS, &c);
	if (e)
		goto out;
	struct job **js = snapshot_jobs(s, &a, &n);
	int64_t now = sched_now(s);
	for (int k = 0; k < n; k++)
		if (js[k]->held)
			service(s, c, &a, js[k], now, stopping);
	if (stopping || !n)
		goto out;

	if ((e = sched_store_due(c, &a, now, &rs)))
		goto out;
	for (int r = 0; r < rs->nrows && !atomic_load(&s->stop); r++) {
		const char *name = db_text(rs, r, DUE_NAME);
		struct job *j = NULL;
		for (int k = 0; name && k < n && !j; k++)
			if (!strcmp(js[k]->name, name))
				j = js[k];
		if (!j || j->held)
			continue; /* no handler here, or this node runs it already */
		if (!db_is_null(rs, r, DUE_LEASE_OWNER)) {
			if (db_int(rs, r, DUE_LEASE_UNTIL) <= now)
				claim(s, c, &a, j, rs, r, CLAIM_TAKEOVER, now);
		} else if (db_int(rs, r, DUE_ENABLED) && db_int(rs, r, DUE_NEXT) <= now) {
			claim(s, c, &a, j, rs, r, CLAIM_DUE, now);
		} else if (!db_is_null(rs, r, DUE_MANUAL_AT)) {
			claim(s, c, &a, j, rs, r, CLAIM_MANUAL, now);
		}
	}
out:
	if (c)
		db_release(c);
	arena_release(&a);
	return e;
}

enum err sched_tick(struct sched *s)
{
	pthread_mutex_lock(&s->tick_mu);
	enum err e = s->stopped ? ERR_OK : tick_locked(s, false);
	pthread_mutex_unlock(&s->tick_mu);
	return e;
}

bool sched_wait_idle(struct sched *s, int timeout_ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->mu);
	while (s->nthreads > 0)
		if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) != 0)
			break;
	bool idle = s->nthreads == 0;
	pthread_mutex_unlock(&s->mu);
	return idle;
}

static void *sched_main(void *arg)
{
	struct sched *s = arg;
	enum err last = ERR_OK;
	while (!atomic_load(&s->stop)) {
		pthread_mutex_lock(&s->mu);
		uint64_t seen = s->wake_seq;
		pthread_mutex_unlock(&s->mu);

		enum err e = sched_tick(s);
		/* Say when the database starts and stops failing, not on every tick between. */
		if (e && e != last)
			log_error("sched.tick",
			          "scheduler pass failed (%s); retrying every %lld ms", err_code(e),
			          (long long)s->cfg.tick_ms);
		else if (!e && last)
			log_info("sched.tick", "scheduler passes work again");
		last = e;

		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		int64_t ns = dl.tv_nsec + (s->cfg.tick_ms % 1000) * 1000000;
		dl.tv_sec += (time_t)(s->cfg.tick_ms / 1000 + ns / 1000000000);
		dl.tv_nsec = (long)(ns % 1000000000);
		pthread_mutex_lock(&s->mu);
		while (!atomic_load(&s->stop) && s->wake_seq == seen)
			if (pthread_cond_timedwait(&s->cv, &s->mu, &dl) != 0)
				break;
		pthread_mutex_unlock(&s->mu);
	}
	return NULL;
}

enum err sched_start(struct sched *s)
{
	enum err e = ERR_OK;
	pthread_mutex_lock(&s->mu);
	if (s->running || s->stopped) {
		e = ERR_CONFLICT;
	} else if (pthread_create(&s->thread, NULL, sched_main, s) != 0) {
		e = ERR_INTERNAL;
	} else {
		s->running = true;
	}
	int n = s->njobs;
	pthread_mutex_unlock(&s->mu);
	if (e)
		log_error("sched.start", "the scheduler could not be started (%s)", err_code(e));
	else
		log_info("sched.start", "scheduler on %s: %d jobs with handlers here", s->node, n);
	return e;
}

void sched_stop(struct sched *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	bool running = s->running;
	atomic_store(&s->stop, true);
	pthread_cond_broadcast(&s->cv);
	s->running = false;
	pthread_mutex_unlock(&s->mu);
	if (running)
		pthread_join(s->thread, NULL);

	pthread_mutex_lock(&s->tick_mu);
	if (s->stopped) {
		pthread_mutex_unlock(&s->tick_mu);
		return;
	}
	s->stopped = true;
	/* Ask every handler to stop, wait for all of them (a handler that never returns would
	 * use the database after it closes), then record and hand over what they leave. */
	pthread_mutex_lock(&s->mu);
	for (int k = 0; k < s->njobs; k++)
		if (s->jobs[k]->cur)
			atomic_store(&s->jobs[k]->cur->cancel, true);
	pthread_mutex_unlock(&s->mu);
	int64_t t0 = time_mono_ns();
	while (!sched_wait_idle(s, STOP_LOG_EVERY_MS))
		log_warn("sched.stop", "waiting for running jobs to return (%lld s)",
		         (long long)((time_mono_ns() - t0) / 1000000000));
	bool any = false;
	for (int k = 0; k < s->njobs; k++)
		any |= s->jobs[k]->held;
	if (any)
		tick_locked(s, true);
	pthread_mutex_unlock(&s->tick_mu);
	log_info("sched.stop", "scheduler stopped");
}

void sched_destroy(struct sched *s)
{
	if (!s)
		return;
	sched_stop(s);
	for (int k = 0; k < s->njobs; k++) {
		struct job *j = s->jobs[k];
		if (j->cur)
			attempt_unref(s, j->cur);
		free(j->name);
		free(j->title);
		free(j);
	}
	free(s->jobs);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->tick_mu);
	pthread_mutex_destroy(&s->mu);
	free(s->node);
	free(s);
}

/* ---- operator actions ---- */

enum err sched_job_update(struct db_conn *c, struct arena *a, const char *job,
                          const struct sched_job_patch *p, int64_t now, struct errinfo *ei)
{
	struct db_rows *rs = NULL;
	struct sched_cron cron;
	char msg[300];
	enum err e = db_exec(
	    c, a, &rs, "SELECT cron, enabled, timeout_s, retries FROM sched_jobs WHERE name = ?",
	    "s", job);
	if (e)
		return e;
	if (rs->nrows == 0) {
		ei->field = "name";
		ei->msg = "任务不存在";
		return ERR_NOT_FOUND;
	}
	const char *cron_s = p->cron ? p->cron : db_text(rs, 0, 0);
	if (sched_cron_parse(cron_s, &cron, msg, sizeof(msg))) {
		ei->field = "cron";
		ei->msg = arena_strdup(a, msg);
		return ERR_BAD_FIELD;
	}
	if (p->timeout_s && (p->timeout_s < 1 || p->timeout_s > SCHED_TIMEOUT_MAX)) {
		ei->field = "timeout_s";
		ei->msg = "超时时间应为 1–86400 秒";
		return ERR_BAD_FIELD;
	}
	if (p->retries != -1 && (p->retries < 0 || p->retries > SCHED_RETRIES_MAX)) {
		ei->field = "retries";
		ei->msg = "重试次数应为 0–10";
		return ERR_BAD_FIELD;
	}
	bool was_enabled = db_int(rs, 0, 1) != 0;
	bool enabled = p->enabled == -1 ? was_enabled : p->enabled != 0;
	int timeout_s = p->timeout_s ? p->timeout_s : (int)db_int(rs, 0, 2);
	int retries = p->retries != -1 ? p->retries : (int)db_int(rs, 0, 3);
	bool cron_changed = p->cron && strcmp(p->cron, db_text(rs, 0, 0));
	/* A new schedule, or one switched back on, counts from now: no burst of old due
	 * times. */
	if (cron_changed || (enabled && !was_enabled))
		return db_exec(c, a, NULL,
		               "UPDATE sched_jobs SET cron = ?, enabled = ?, timeout_s = ?, "
		               "retries = ?, customized = 1, next_run_at = ?, updated_at = ? "
		               "WHERE name = ?",
		               "siiiiis", cron_s, (int64_t)enabled, (int64_t)timeout_s,
		               (int64_t)retries, sched_cron_next(&cron, now), now, job);
	return db_exec(c, a, NULL,
	               "UPDATE sched_jobs SET enabled = ?, timeout_s = ?, retries = ?, "
	               "customized = 1, updated_at = ? WHERE name = ?",
	               "iiiis", (int64_t)enabled, (int64_t)timeout_s, (int64_t)retries, now, job);
}

enum err sched_job_request_run(struct db_conn *c, struct arena *a, const char *job, const char *by,
                               int64_t now)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "UPDATE sched_jobs SET manual_at = ?, manual_by = ?, updated_at = ? "
	                     "WHERE name = ? AND manual_at IS NULL",
	                     "isis", now, by, now, job);
	if (e || rs->changes == 1)
		return e;
	if ((e = db_exec(c, a, &rs, "SELECT 1 FROM sched_jobs WHERE name = ?", "s", job)))
		return e;
	return rs->nrows ? ERR_CONFLICT : ERR_NOT_FOUND;
}
