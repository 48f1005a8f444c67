/* test_sched.c: the scheduler with two "nodes" — two schedulers with their own connection
 * pools on one database (a SQLite file under SHOULI_TEST_TMP; and PostgreSQL, in a schema of
 * its own, when SHOULI_TEST_PG holds a libpq conninfo) — driven by explicit ticks and an
 * injected clock: each due time runs once, a dead node's lease is taken over, timeouts,
 * retries with backoff and the alert after the last one, manual runs, disable/enable,
 * operator changes against code defaults, and the hand-over at shutdown. */
#include "../common/db_fixture.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "events/events.h"
#include "sched/sched.h"
#include "sched/sched_int.h"
#include "server/server.h"

#define DAY_MS    (24 * 3600 * 1000LL)
#define MINUTE_MS 60000LL
#define LEASE_MS  60000LL
#define MAX_HITS  4096

struct fx {
	_Atomic int64_t now; /* the injected clock */
};

static struct fx fx;

/* A node: its own server state, database pool, bus and scheduler. */
struct node {
	struct server srv;
	struct sched *s;
	char alert[2048];
	int alerts;
};

static struct node A, B;

/* What the handlers saw. */
struct hit {
	char job[64];
	char node[8];
	int64_t scheduled_for;
	int attempt;
	bool manual;
	char by[64];
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct hit hits[MAX_HITS];
	int nhits;
	bool release; /* blocked handlers may return */
	int blocked;  /* handlers waiting for release */
	bool saw_cancel;
} H = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* ---- fixture ---- */

static int64_t test_clock(void *ctx)
{
	return atomic_load(&((struct fx *)ctx)->now);
}

static void advance(int64_t ms)
{
	atomic_fetch_add(&fx.now, ms);
}

/* The database for the whole group (dbfx.srv.db, a small pool for the checks; each node
 * opens pools of its own on dbfx.url), and a fixed start far from the wall clock: only the
 * injected clock counts. */
static int group_setup(void **state)
{
	if (dbfx_setup(state))
		return -1;
	atomic_store(&fx.now, (int64_t)1893456000 * 1000); /* 2030-01-01T00:00Z */
	return 0;
}

static void on_alert(void *ctx, const char *topic, const char *json)
{
	struct node *n = ctx;
	(void)topic;
	pthread_mutex_lock(&H.mu);
	snprintf(n->alert, sizeof(n->alert), "%s", json);
	n->alerts++;
	pthread_mutex_unlock(&H.mu);
}

static int node_open(struct node *n, const char *name)
{
	char msg[256];
	memset(n, 0, sizeof(*n));
	struct sched_config cfg = {
	    .node = name,
	    .lease_ms = LEASE_MS,
	    .backoff_ms = 1000,
	    .backoff_max_ms = 4000,
	    .now_ms = test_clock,
	    .clock_ctx = &fx,
	};
	if (db_open(dbfx.url, 4, &n->srv.db, msg, sizeof(msg)) || event_bus_create(&n->srv.bus) ||
	    event_bus_subscribe(n->srv.bus, "system:alerts", on_alert, n) ||
	    sched_create(&n->srv, &cfg, &n->s))
		return -1;
	n->srv.sched = n->s;
	return 0;
}

static void node_close(struct node *n)
{
	sched_destroy(n->s);
	n->s = n->srv.sched = NULL;
	event_bus_destroy(n->srv.bus);
	n->srv.bus = NULL;
	db_close(n->srv.db);
	n->srv.db = NULL;
}

/* Each test: two fresh nodes, a clock a day later at hh:mm:30, no hits. */
static int test_setup(void **state)
{
	(void)state;
	int64_t t = atomic_load(&fx.now) + DAY_MS;
	atomic_store(&fx.now, t - t % MINUTE_MS + 30000);
	pthread_mutex_lock(&H.mu);
	H.nhits = 0;
	H.release = false;
	H.blocked = 0;
	H.saw_cancel = false;
	pthread_mutex_unlock(&H.mu);
	return node_open(&A, "A") || node_open(&B, "B") ? -1 : 0;
}

static int test_teardown(void **state)
{
	(void)state;
	pthread_mutex_lock(&H.mu);
	H.release = true;
	pthread_cond_broadcast(&H.cv);
	pthread_mutex_unlock(&H.mu);
	node_close(&A);
	node_close(&B);
	return 0;
}

/* ---- the handler: what it does depends on the job's name ---- */

static void block_until_released(void)
{
	pthread_mutex_lock(&H.mu);
	H.blocked++;
	pthread_cond_broadcast(&H.cv);
	while (!H.release)
		pthread_cond_wait(&H.cv, &H.mu);
	H.blocked--;
	pthread_mutex_unlock(&H.mu);
}

static enum err handler(struct server *srv, const struct sched_run_ctx *ctx, char *msg,
                        size_t msgsz)
{
	(void)srv;
	pthread_mutex_lock(&H.mu);
	if (H.nhits < MAX_HITS) {
		struct hit *h = &H.hits[H.nhits++];
		snprintf(h->job, sizeof(h->job), "%s", ctx->job);
		snprintf(h->node, sizeof(h->node), "%s", ctx->node);
		h->scheduled_for = ctx->scheduled_for;
		h->attempt = ctx->attempt;
		h->manual = ctx->manual;
		snprintf(h->by, sizeof(h->by), "%s", ctx->triggered_by ? ctx->triggered_by : "");
	}
	pthread_mutex_unlock(&H.mu);

	bool on_a = !strcmp(ctx->node, "A");
	if (!strncmp(ctx->job, "t.crash", 7) && on_a) {
		block_until_released(); /* a node that hangs, or died: it never reports */
	} else if (!strcmp(ctx->job, "t.slow")) {
		block_until_released();
		pthread_mutex_lock(&H.mu);
		H.saw_cancel = sched_run_cancelled(ctx);
		pthread_mutex_unlock(&H.mu);
	} else if (!strcmp(ctx->job, "t.stop") && on_a) {
		while (!sched_run_cancelled(ctx))
			usleep(1000);
		snprintf(msg, msgsz, "%s", "服务停止，执行被中断");
		return ERR_UNAVAILABLE;
	} else if (!strcmp(ctx->job, "t.flaky") && ctx->attempt <= 2) {
		snprintf(msg, msgsz, "第 %d 次失败", ctx->attempt);
		return ERR_UPSTREAM;
	} else if (!strcmp(ctx->job, "t.broken")) {
		snprintf(msg, msgsz, "%s", "对方系统返回 503");
		return ERR_UPSTREAM;
	} else if (!strcmp(ctx->job, "t.invalid")) {
		snprintf(msg, msgsz, "%s", "数据不合法");
		return ERR_INVALID;
	}
	snprintf(msg, msgsz, "%s", "完成");
	return ERR_OK;
}

static void wait_blocked(int n)
{
	pthread_mutex_lock(&H.mu);
	for (int k = 0; k < 500 && H.blocked < n; k++) {
		pthread_mutex_unlock(&H.mu);
		usleep(10000);
		pthread_mutex_lock(&H.mu);
	}
	int got = H.blocked;
	pthread_mutex_unlock(&H.mu);
	assert_int_equal(got, n);
}

static void release_blocked(void)
{
	pthread_mutex_lock(&H.mu);
	H.release = true;
	pthread_cond_broadcast(&H.cv);
	pthread_mutex_unlock(&H.mu);
}

static int hits_of(const char *job)
{
	int n = 0;
	pthread_mutex_lock(&H.mu);
	for (int k = 0; k < H.nhits; k++)
		n += !strcmp(H.hits[k].job, job);
	pthread_mutex_unlock(&H.mu);
	return n;
}

static void wait_hits(const char *job, int n)
{
	for (int k = 0; k < 500 && hits_of(job) < n; k++)
		usleep(10000);
	assert_int_equal(hits_of(job), n);
}

/* ---- helpers ---- */

static void register_on(struct node *n, const char *job, const char *cron, int timeout_s,
                        int retries)
{
	struct sched_defaults d = {cron, timeout_s, retries, "test", "测试任务"};
	assert_int_equal(sched_register(&n->srv, job, handler, &d), ERR_OK);
}

static void register_both(const char *job, const char *cron, int timeout_s, int retries)
{
	register_on(&A, job, cron, timeout_s, retries);
	register_on(&B, job, cron, timeout_s, retries);
}

static pthread_barrier_t tick_barrier;

static void *tick_thread(void *arg)
{
	pthread_barrier_wait(&tick_barrier);
	sched_tick(arg);
	return NULL;
}

/* Tick both nodes at the same moment, from two threads, so that their claims race (both
 * read the due row, both try the compare-and-swap). */
static void tick_both(void)
{
	pthread_t t;
	pthread_barrier_init(&tick_barrier, NULL, 2);
	assert_int_equal(pthread_create(&t, NULL, tick_thread, B.s), 0);
	pthread_barrier_wait(&tick_barrier);
	assert_int_equal(sched_tick(A.s), ERR_OK);
	pthread_join(t, NULL);
	pthread_barrier_destroy(&tick_barrier);
}

/* Let every started attempt finish and be recorded (the clock does not move). */
static void settle(void)
{
	for (int k = 0; k < 3; k++) {
		assert_true(sched_wait_idle(A.s, 10000));
		assert_true(sched_wait_idle(B.s, 10000));
		tick_both();
	}
}

/* First column of the first row of a query (0 when no row). */
static int64_t q_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t q_int(const char *fmt, ...)
{
	char sql[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 5000, &c), ERR_OK);
	assert_int_equal(db_exec(c, &a, &rs, sql, ""), ERR_OK);
	int64_t v = rs->nrows ? db_int(rs, 0, 0) : 0;
	db_release(c);
	arena_release(&a);
	return v;
}

static char *q_text(char *out, size_t outsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static char *q_text(char *out, size_t outsz, const char *fmt, ...)
{
	char sql[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 5000, &c), ERR_OK);
	assert_int_equal(db_exec(c, &a, &rs, sql, ""), ERR_OK);
	snprintf(out, outsz, "%s", rs->nrows && db_text(rs, 0, 0) ? db_text(rs, 0, 0) : "");
	db_release(c);
	arena_release(&a);
	return out;
}

static enum err update_job(const char *job, const struct sched_job_patch *p, struct errinfo *ei)
{
	struct arena a;
	struct db_conn *c = NULL;
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 5000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	enum err e = sched_job_update(c, &a, job, p, atomic_load(&fx.now), ei);
	if (!e)
		assert_int_equal(db_commit(c), ERR_OK);
	else
		db_rollback(c);
	db_release(c);
	/* ei->msg may point into a: keep the message for the caller. */
	static char keep[300];
	if (ei->msg) {
		snprintf(keep, sizeof(keep), "%s", ei->msg);
		ei->msg = keep;
	}
	arena_release(&a);
	return e;
}

static enum err request_run(const char *job, const char *by)
{
	struct arena a;
	struct db_conn *c = NULL;
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 5000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	enum err e = sched_job_request_run(c, &a, job, by, atomic_load(&fx.now));
	if (!e)
		assert_int_equal(db_commit(c), ERR_OK);
	else
		db_rollback(c);
	db_release(c);
	arena_release(&a);
	return e;
}

/* ---- tests ---- */

static void each_due_time_runs_once_on_two_nodes(void **state)
{
	(void)state;
	const int minutes = 30;
	register_both("t.once", "* * * * *", 60, 0);
	int64_t first = q_int("SELECT next_run_at FROM sched_jobs WHERE name = 't.once'");
	assert_int_equal(first % MINUTE_MS, 0);
	assert_true(first > atomic_load(&fx.now));

	/* Not due yet: nothing runs. */
	tick_both();
	settle();
	assert_int_equal(hits_of("t.once"), 0);

	for (int m = 0; m < minutes; m++) {
		advance(MINUTE_MS);
		tick_both();
		settle();
	}
	assert_int_equal(hits_of("t.once"), minutes);
	assert_int_equal(q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.once'"), minutes);
	assert_int_equal(q_int("SELECT COUNT(DISTINCT scheduled_for) FROM sched_runs "
	                       "WHERE job = 't.once'"),
	                 minutes);
	assert_int_equal(q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.once' AND "
	                       "(outcome <> 'ok' OR attempt <> 1 OR manual <> 0)"),
	                 0);
	/* Each scheduled_for is a whole minute, the first one the registered next_run_at. */
	assert_int_equal(q_int("SELECT MIN(scheduled_for) FROM sched_runs WHERE job = 't.once'"),
	                 first);
	assert_int_equal(q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.once' AND "
	                       "scheduled_for %% 60000 <> 0"),
	                 0);
	int64_t on_a = q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.once' AND node = 'A'");
	print_message("[ info ] %s: %d due times, node A ran %lld, node B %lld\n",
	              dbfx.pg ? "postgres" : "sqlite", minutes, (long long)on_a,
	              (long long)(minutes - on_a));
	/* The lease is free between runs. */
	assert_int_equal(
	    q_int("SELECT COUNT(*) FROM sched_jobs WHERE name = 't.once' AND lease_owner IS NULL"),
	    1);

	/* Ten minutes with no node running: one late run, not ten, then back on schedule. */
	advance(10 * MINUTE_MS);
	tick_both();
	settle();
	assert_int_equal(hits_of("t.once"), minutes + 1);
	int64_t next = q_int("SELECT next_run_at FROM sched_jobs WHERE name = 't.once'");
	assert_true(next > atomic_load(&fx.now) && next - atomic_load(&fx.now) <= MINUTE_MS);
}

/* The three compare-and-swap claims, played out step by step on two connections that read
 * the same row: the second writer always loses. */
static void compare_and_swap_has_one_winner(void **state)
{
	(void)state;
	struct arena a;
	struct db_conn *ca = NULL, *cb = NULL;
	bool won = false;
	arena_init(&a, 0);
	register_both("t.cas", "* * * * *", 60, 0);
	int64_t due = q_int("SELECT next_run_at FROM sched_jobs WHERE name = 't.cas'");
	int64_t now = due + 1000, next = due + MINUTE_MS;
	assert_int_equal(db_acquire(A.srv.db, 5000, &ca), ERR_OK);
	assert_int_equal(db_acquire(B.srv.db, 5000, &cb), ERR_OK);

	assert_int_equal(db_begin_write(ca), ERR_OK);
	assert_int_equal(
	    sched_store_claim_due(ca, &a, "t.cas", due, next, "A", now + LEASE_MS, now, &won),
	    ERR_OK);
	assert_true(won);
	assert_int_equal(db_commit(ca), ERR_OK);
	assert_int_equal(db_begin_write(cb), ERR_OK);
	assert_int_equal(
	    sched_store_claim_due(cb, &a, "t.cas", due, next, "B", now + LEASE_MS, now, &won),
	    ERR_OK);
	assert_false(won);
	assert_int_equal(db_rollback(cb), ERR_OK);

	/* Two nodes find A's lease run out at the same value: one takes it over. */
	int64_t until = now + LEASE_MS;
	assert_int_equal(db_begin_write(cb), ERR_OK);
	assert_int_equal(sched_store_takeover(cb, &a, "t.cas", "A", until, 2, "B", until + LEASE_MS,
	                                      until, &won),
	                 ERR_OK);
	assert_true(won);
	assert_int_equal(db_commit(cb), ERR_OK);
	assert_int_equal(db_begin_write(ca), ERR_OK);
	assert_int_equal(sched_store_takeover(ca, &a, "t.cas", "A", until, 2, "C", until + LEASE_MS,
	                                      until, &won),
	                 ERR_OK);
	assert_false(won);
	assert_int_equal(db_rollback(ca), ERR_OK);
	/* Only the holder renews; a manual run waits for the lease to be free. */
	assert_int_equal(sched_store_renew(ca, &a, "t.cas", "A", until, 0, until, &won), ERR_OK);
	assert_false(won);
	assert_int_equal(sched_store_renew(ca, &a, "t.cas", "B", until + 1, 0, until, &won),
	                 ERR_OK);
	assert_true(won);
	assert_int_equal(sched_store_release(ca, &a, "t.cas", "B", false, until), ERR_OK);
	assert_int_equal(request_run("t.cas", "ops"), ERR_OK);
	int64_t at = q_int("SELECT manual_at FROM sched_jobs WHERE name = 't.cas'");
	assert_int_equal(db_begin_write(ca), ERR_OK);
	assert_int_equal(sched_store_claim_manual(ca, &a, "t.cas", at, "ops", "A", until + LEASE_MS,
	                                          until, &won),
	                 ERR_OK);
	assert_true(won);
	assert_int_equal(db_commit(ca), ERR_OK);
	assert_int_equal(db_begin_write(cb), ERR_OK);
	assert_int_equal(sched_store_claim_manual(cb, &a, "t.cas", at, "ops", "B", until + LEASE_MS,
	                                          until, &won),
	                 ERR_OK);
	assert_false(won);
	assert_int_equal(db_rollback(cb), ERR_OK);
	/* And the database refuses a second row for one (job, due time, attempt). */
	int64_t id = 0;
	assert_int_equal(db_begin_write(ca), ERR_OK);
	assert_int_equal(
	    sched_store_run_insert(ca, &a, "t.cas", due, "A", now, 1, false, NULL, &id), ERR_OK);
	assert_int_equal(
	    sched_store_run_insert(ca, &a, "t.cas", due, "B", now, 1, false, NULL, &id),
	    ERR_EXISTS);
	db_rollback(ca);
	db_release(ca);
	db_release(cb);
	arena_release(&a);
	/* Both rows were rolled back. */
	assert_int_equal(q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.cas'"), 0);
}

static void dead_node_lease_is_taken_over(void **state)
{
	(void)state;
	register_both("t.crash", "0 * * * *", 3600, 2);
	advance(60 * MINUTE_MS);
	/* A claims the due time and hangs (as if it died: it will never report). */
	assert_int_equal(sched_tick(A.s), ERR_OK);
	wait_blocked(1);
	char owner[64];
	assert_string_equal(q_text(owner, sizeof(owner),
	                           "SELECT lease_owner FROM sched_jobs WHERE name = 't.crash'"),
	                    "A");
	/* While the lease holds, B does nothing. */
	advance(LEASE_MS / 2);
	assert_int_equal(sched_tick(B.s), ERR_OK);
	assert_int_equal(hits_of("t.crash"), 1);
	/* A never renews; once its lease has run out B takes the run over as attempt 2. */
	advance(LEASE_MS);
	assert_int_equal(sched_tick(B.s), ERR_OK);
	assert_true(sched_wait_idle(B.s, 10000));
	assert_int_equal(sched_tick(B.s), ERR_OK);
	assert_int_equal(hits_of("t.crash"), 2);
	int64_t due = q_int("SELECT MIN(scheduled_for) FROM sched_runs WHERE job = 't.crash'");
	assert_int_equal(q_int("SELECT COUNT(DISTINCT scheduled_for) FROM sched_runs "
	                       "WHERE job = 't.crash'"),
	                 1);
	char msg[400], outcome[16];
	q_text(outcome, sizeof(outcome),
	       "SELECT outcome FROM sched_runs WHERE job = 't.crash' AND node = 'A'");
	assert_string_equal(outcome, "failed");
	q_text(msg, sizeof(msg),
	       "SELECT message FROM sched_runs WHERE job = 't.crash' AND node = 'A'");
	assert_non_null(strstr(msg, "失联"));
	assert_non_null(strstr(msg, "B"));
	q_text(
	    outcome, sizeof(outcome),
	    "SELECT outcome FROM sched_runs WHERE job = 't.crash' AND node = 'B' AND attempt = 2");
	assert_string_equal(outcome, "ok");
	assert_int_equal(
	    q_int("SELECT COUNT(*) FROM sched_jobs WHERE name = 't.crash' AND lease_owner IS NULL"),
	    1);
	assert_int_equal(B.alerts, 0);

	/* A comes back: its late result changes nothing, and the next hour runs once. */
	release_blocked();
	assert_true(sched_wait_idle(A.s, 10000));
	tick_both();
	q_text(outcome, sizeof(outcome),
	       "SELECT outcome FROM sched_runs WHERE job = 't.crash' AND node = 'A'");
	assert_string_equal(outcome, "failed");
	advance(60 * MINUTE_MS);
	tick_both();
	settle();
	assert_int_equal(q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.crash' AND "
	                       "scheduled_for > %lld",
	                       (long long)due),
	                 1);
}

static void takeover_without_attempts_left_alerts(void **state)
{
	(void)state;
	register_both("t.crash0", "0 * * * *", 3600, 0);
	advance(60 * MINUTE_MS);
	assert_int_equal(sched_tick(A.s), ERR_OK);
	wait_blocked(1);
	advance(LEASE_MS + 1000);
	assert_int_equal(sched_tick(B.s), ERR_OK);
	assert_true(sched_wait_idle(B.s, 5000));
	/* No second attempt (retries 0): the run is over as failed and ops are told. */
	assert_int_equal(hits_of("t.crash0"), 1);
	assert_int_equal(B.alerts, 1);
	assert_non_null(strstr(B.alert, "\"job\":\"t.crash0\""));
	assert_non_null(strstr(B.alert, "失联"));
	assert_int_equal(
	    q_int(
	        "SELECT COUNT(*) FROM sched_jobs WHERE name = 't.crash0' AND lease_owner IS NULL"),
	    1);
	assert_int_equal(q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.crash0' AND "
	                       "outcome = 'failed'"),
	                 1);
}

static void timeout_is_recorded_and_the_job_waits_for_the_thread(void **state)
{
	(void)state;
	register_both("t.slow", "*/5 * * * *", 5, 0);
	advance(5 * MINUTE_MS);
	assert_int_equal(sched_tick(A.s), ERR_OK);
	wait_blocked(1);
	advance(4000);
	assert_int_equal(sched_tick(A.s), ERR_OK);
	char outcome[16], msg[400];
	q_text(outcome, sizeof(outcome), "SELECT outcome FROM sched_runs WHERE job = 't.slow'");
	assert_string_equal(outcome, "running");

	/* Past timeout_s: recorded as timeout at once, alert (no retries left). */
	advance(2000);
	assert_int_equal(sched_tick(A.s), ERR_OK);
	q_text(outcome, sizeof(outcome), "SELECT outcome FROM sched_runs WHERE job = 't.slow'");
	assert_string_equal(outcome, "timeout");
	q_text(msg, sizeof(msg), "SELECT message FROM sched_runs WHERE job = 't.slow'");
	assert_non_null(strstr(msg, "超过 5 秒"));
	assert_true(q_int("SELECT finished_at FROM sched_runs WHERE job = 't.slow'") > 0);
	assert_int_equal(A.alerts, 1);
	assert_non_null(strstr(A.alert, "\"outcome\":\"timeout\""));

	/* The thread still runs: the job stays leased (A renews it), nobody starts it again,
	 * even when due. */
	advance(5 * MINUTE_MS);
	assert_int_equal(sched_tick(A.s), ERR_OK);
	assert_int_equal(sched_tick(B.s), ERR_OK);
	assert_int_equal(hits_of("t.slow"), 1);
	char owner[16];
	q_text(owner, sizeof(owner), "SELECT lease_owner FROM sched_jobs WHERE name = 't.slow'");
	assert_string_equal(owner, "A");
	assert_true(q_int("SELECT lease_until FROM sched_jobs WHERE name = 't.slow'") >
	            atomic_load(&fx.now));

	/* The handler returns (it saw the cancel flag). The next tick collects it, clears the
	 * lease and runs the due time that came meanwhile, late, once. */
	release_blocked();
	assert_true(sched_wait_idle(A.s, 10000));
	assert_true(H.saw_cancel);
	pthread_mutex_lock(&H.mu);
	H.release = false;
	pthread_mutex_unlock(&H.mu);
	assert_int_equal(sched_tick(A.s), ERR_OK);
	wait_blocked(1);
	assert_int_equal(hits_of("t.slow"), 2);
	q_text(outcome, sizeof(outcome),
	       "SELECT outcome FROM sched_runs WHERE job = 't.slow' ORDER BY id LIMIT 1");
	assert_string_equal(outcome, "timeout"); /* the late success does not overwrite it */
	assert_int_equal(q_int("SELECT COUNT(DISTINCT scheduled_for) FROM sched_runs "
	                       "WHERE job = 't.slow' AND attempt = 1"),
	                 2);
	release_blocked();
}

static void failures_are_retried_with_backoff(void **state)
{
	(void)state;
	register_both("t.flaky", "0 3 * * *", 60, 3);
	advance(DAY_MS);
	tick_both();
	settle();
	assert_int_equal(hits_of("t.flaky"), 1);
	/* Attempt 1 failed; the retry waits 1 s (backoff_ms) and the lease is kept meanwhile. */
	char owner[16];
	q_text(owner, sizeof(owner), "SELECT lease_owner FROM sched_jobs WHERE name = 't.flaky'");
	assert_true(!strcmp(owner, "A") || !strcmp(owner, "B"));
	advance(900);
	tick_both();
	settle();
	assert_int_equal(hits_of("t.flaky"), 1);
	advance(100);
	tick_both();
	settle();
	assert_int_equal(hits_of("t.flaky"), 2);
	/* Then 2 s (doubled). */
	advance(1999);
	tick_both();
	settle();
	assert_int_equal(hits_of("t.flaky"), 2);
	advance(1);
	tick_both();
	settle();
	assert_int_equal(hits_of("t.flaky"), 3);

	/* Same due time, attempts 1..3, the same node, failed, failed, ok; no alert. */
	assert_int_equal(q_int("SELECT COUNT(DISTINCT scheduled_for) FROM sched_runs "
	                       "WHERE job = 't.flaky'"),
	                 1);
	assert_int_equal(q_int("SELECT COUNT(DISTINCT node) FROM sched_runs WHERE job = 't.flaky'"),
	                 1);
	assert_int_equal(q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.flaky' AND "
	                       "outcome = 'failed' AND attempt IN (1, 2)"),
	                 2);
	assert_int_equal(q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.flaky' AND "
	                       "outcome = 'ok' AND attempt = 3"),
	                 1);
	char msg[200];
	q_text(msg, sizeof(msg),
	       "SELECT message FROM sched_runs WHERE job = 't.flaky' AND attempt = 2");
	assert_string_equal(msg, "第 2 次失败");
	assert_int_equal(A.alerts + B.alerts, 0);
	assert_int_equal(
	    q_int("SELECT COUNT(*) FROM sched_jobs WHERE name = 't.flaky' AND lease_owner IS NULL"),
	    1);
}

static void last_failure_alerts_and_invalid_is_final(void **state)
{
	(void)state;
	register_both("t.broken", "0 4 * * *", 60, 1);
	register_both("t.invalid", "0 4 * * *", 60, 3);
	advance(DAY_MS);
	tick_both();
	settle();
	advance(1000);
	tick_both();
	settle();
	advance(10000);
	tick_both();
	settle();
	/* broken: 2 attempts (retries 1), then one alert; invalid: 1 attempt, one alert. */
	assert_int_equal(hits_of("t.broken"), 2);
	assert_int_equal(hits_of("t.invalid"), 1);
	assert_int_equal(A.alerts + B.alerts, 2);
	assert_int_equal(q_int("SELECT COUNT(*) FROM sched_runs WHERE job IN ('t.broken', "
	                       "'t.invalid') AND outcome = 'failed'"),
	                 3);
	char msg[200];
	q_text(msg, sizeof(msg),
	       "SELECT message FROM sched_runs WHERE job = 't.broken' AND attempt = 2");
	assert_string_equal(msg, "对方系统返回 503");
	/* The alert names the job, its title and the reason. */
	bool found = false;
	for (struct node *n = &A; n; n = n == &A ? &B : NULL)
		if (strstr(n->alert, "t.broken") || strstr(n->alert, "t.invalid")) {
			found = true;
			assert_non_null(strstr(n->alert, "\"title\":\"测试任务\""));
			assert_non_null(strstr(n->alert, "\"source\":\"sched\""));
		}
	assert_true(found);
	assert_int_equal(q_int("SELECT COUNT(*) FROM sched_jobs WHERE name IN ('t.broken', "
	                       "'t.invalid') AND lease_owner IS NULL"),
	                 2);
}

static void manual_run_runs_once_even_when_disabled(void **state)
{
	(void)state;
	register_both("t.manual", "0 0 1 1 *", 60, 0);
	struct errinfo ei = {0};
	struct sched_job_patch off = {.cron = NULL, .enabled = 0, .timeout_s = 0, .retries = -1};
	assert_int_equal(update_job("t.manual", &off, &ei), ERR_OK);

	assert_int_equal(request_run("t.manual", "ops"), ERR_OK);
	/* One request at a time. */
	assert_int_equal(request_run("t.manual", "ops"), ERR_CONFLICT);
	assert_int_equal(request_run("t.nosuchjob", "ops"), ERR_NOT_FOUND);
	tick_both();
	settle();
	advance(MINUTE_MS);
	tick_both();
	settle();
	assert_int_equal(hits_of("t.manual"), 1);
	pthread_mutex_lock(&H.mu);
	struct hit h = H.hits[0];
	pthread_mutex_unlock(&H.mu);
	assert_true(h.manual);
	assert_string_equal(h.by, "ops");
	assert_int_equal(
	    q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.manual' AND manual = 1 "
	          "AND triggered_by = 'ops' AND outcome = 'ok'"),
	    1);
	assert_int_equal(
	    q_int("SELECT COUNT(*) FROM sched_jobs WHERE name = 't.manual' AND manual_at IS NULL"),
	    1);
	/* Queued again once the first has been claimed. */
	assert_int_equal(request_run("t.manual", "admin"), ERR_OK);
	tick_both();
	settle();
	assert_int_equal(hits_of("t.manual"), 2);
}

static void disable_enable_and_cron_changes(void **state)
{
	(void)state;
	register_both("t.toggle", "* * * * *", 60, 0);
	advance(MINUTE_MS);
	tick_both();
	settle();
	assert_int_equal(hits_of("t.toggle"), 1);

	struct errinfo ei = {0};
	struct sched_job_patch off = {.cron = NULL, .enabled = 0, .timeout_s = 0, .retries = -1};
	assert_int_equal(update_job("t.toggle", &off, &ei), ERR_OK);
	for (int m = 0; m < 3; m++) {
		advance(MINUTE_MS);
		tick_both();
		settle();
	}
	assert_int_equal(hits_of("t.toggle"), 1);

	/* Back on: counted from now, so the three missed minutes do not run. */
	struct sched_job_patch on = {.cron = NULL, .enabled = 1, .timeout_s = 0, .retries = -1};
	assert_int_equal(update_job("t.toggle", &on, &ei), ERR_OK);
	tick_both();
	settle();
	assert_int_equal(hits_of("t.toggle"), 1);
	advance(MINUTE_MS);
	tick_both();
	settle();
	assert_int_equal(hits_of("t.toggle"), 2);

	/* A bad cron is refused with a message naming the field; nothing changes. */
	struct sched_job_patch badc = {
	    .cron = "0 25 * * *", .enabled = -1, .timeout_s = 0, .retries = -1};
	ei = (struct errinfo){0};
	assert_int_equal(update_job("t.toggle", &badc, &ei), ERR_BAD_FIELD);
	assert_string_equal(ei.field, "cron");
	assert_non_null(strstr(ei.msg, "第 2 个字段（小时）"));
	struct sched_job_patch badt = {
	    .cron = NULL, .enabled = -1, .timeout_s = 90000, .retries = -1};
	ei = (struct errinfo){0};
	assert_int_equal(update_job("t.toggle", &badt, &ei), ERR_BAD_FIELD);
	assert_string_equal(ei.field, "timeout_s");
	ei = (struct errinfo){0};
	assert_int_equal(update_job("t.nosuchjob", &on, &ei), ERR_NOT_FOUND);

	/* A new cron moves next_run_at at once. */
	struct sched_job_patch hourly = {
	    .cron = "@hourly", .enabled = -1, .timeout_s = 120, .retries = 2};
	assert_int_equal(update_job("t.toggle", &hourly, &ei), ERR_OK);
	int64_t now = atomic_load(&fx.now);
	int64_t next = q_int("SELECT next_run_at FROM sched_jobs WHERE name = 't.toggle'");
	assert_true(next > now && next - now <= 3600000 && next % 3600000 == 0);
	assert_int_equal(q_int("SELECT timeout_s * 100 + retries + customized * 10 FROM sched_jobs "
	                       "WHERE name = 't.toggle'"),
	                 12012);
	atomic_store(&fx.now, next - 1000);
	tick_both();
	settle();
	assert_int_equal(hits_of("t.toggle"), 2);
	advance(1000);
	tick_both();
	settle();
	assert_int_equal(hits_of("t.toggle"), 3);
}

static void code_defaults_never_overwrite_operator_changes(void **state)
{
	(void)state;
	char cron[64];
	register_on(&A, "t.defaults", "0 1 * * *", 60, 0);
	register_on(&A, "t.untouched", "0 1 * * *", 60, 0);
	struct sched_defaults d = {"0 1 * * *", 60, 0, "test", "测试任务"};
	assert_int_equal(sched_register(&A.srv, "t.defaults", handler, &d), ERR_EXISTS);
	struct sched_defaults badd = {"0 1 * *", 60, 0, "test", "测试任务"};
	assert_int_equal(sched_register(&A.srv, "t.badcron", handler, &badd), ERR_BAD_FIELD);
	assert_int_equal(sched_register(&A.srv, "Bad Name", handler, &d), ERR_BAD_FIELD);

	struct errinfo ei = {0};
	struct sched_job_patch p = {
	    .cron = "15 2 * * *", .enabled = -1, .timeout_s = 0, .retries = -1};
	assert_int_equal(update_job("t.defaults", &p, &ei), ERR_OK);

	/* A new release with new defaults (node B plays it). */
	register_on(&B, "t.defaults", "0 5 * * *", 300, 2);
	register_on(&B, "t.untouched", "0 5 * * *", 300, 2);
	assert_string_equal(
	    q_text(cron, sizeof(cron), "SELECT cron FROM sched_jobs WHERE name = 't.defaults'"),
	    "15 2 * * *");
	assert_string_equal(q_text(cron, sizeof(cron),
	                           "SELECT default_cron FROM sched_jobs WHERE name = 't.defaults'"),
	                    "0 5 * * *");
	assert_int_equal(q_int("SELECT timeout_s FROM sched_jobs WHERE name = 't.defaults'"), 60);
	assert_string_equal(
	    q_text(cron, sizeof(cron), "SELECT cron FROM sched_jobs WHERE name = 't.untouched'"),
	    "0 5 * * *");
	assert_int_equal(q_int("SELECT timeout_s * 10 + retries FROM sched_jobs "
	                       "WHERE name = 't.untouched'"),
	                 3002);
	int64_t next = q_int("SELECT next_run_at FROM sched_jobs WHERE name = 't.untouched'");
	assert_int_equal((next / 1000 + 8 * 3600) % 86400, 5 * 3600);
}

static void stop_hands_the_run_over(void **state)
{
	(void)state;
	register_both("t.stop", "0 6 * * *", 600, 1);
	advance(DAY_MS);
	assert_int_equal(sched_tick(A.s), ERR_OK);
	wait_hits("t.stop", 1);
	/* Shutdown: the handler is cancelled, returns, is recorded; a retry is left, so the
	 * lease is handed over (runs out now) rather than kept or cleared. */
	sched_stop(A.s);
	char outcome[16];
	q_text(outcome, sizeof(outcome),
	       "SELECT outcome FROM sched_runs WHERE job = 't.stop' AND node = 'A'");
	assert_string_equal(outcome, "failed");
	assert_int_equal(q_int("SELECT lease_until FROM sched_jobs WHERE name = 't.stop'"),
	                 atomic_load(&fx.now));
	assert_int_equal(sched_tick(B.s), ERR_OK);
	assert_true(sched_wait_idle(B.s, 5000));
	assert_int_equal(sched_tick(B.s), ERR_OK);
	assert_int_equal(q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.stop' AND "
	                       "node = 'B' AND attempt = 2 AND outcome = 'ok'"),
	                 1);
	assert_int_equal(
	    q_int("SELECT COUNT(*) FROM sched_jobs WHERE name = 't.stop' AND lease_owner IS NULL"),
	    1);
	/* A stopped scheduler ticks no more. */
	assert_int_equal(sched_tick(A.s), ERR_OK);
	assert_int_equal(hits_of("t.stop"), 2);
}

static void the_thread_runs_jobs_on_its_own(void **state)
{
	(void)state;
	register_both("t.thread", "* * * * *", 60, 0);
	assert_int_equal(sched_start(A.s), ERR_OK);
	assert_int_equal(sched_start(A.s), ERR_CONFLICT);
	assert_int_equal(sched_start(B.s), ERR_OK);
	advance(MINUTE_MS);
	for (int k = 0; k < 300 && q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.thread' "
	                                 "AND outcome = 'ok'") < 1;
	     k++)
		usleep(10000);
	assert_int_equal(
	    q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.thread' AND outcome = 'ok'"), 1);
	/* A manual request wakes the thread at once rather than at its next tick. */
	assert_int_equal(request_run("t.thread", "ops"), ERR_OK);
	sched_wake(A.s);
	sched_wake(B.s);
	for (int k = 0; k < 300 && q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.thread' "
	                                 "AND manual = 1 AND outcome = 'ok'") < 1;
	     k++)
		usleep(10000);
	assert_int_equal(q_int("SELECT COUNT(*) FROM sched_runs WHERE job = 't.thread' AND "
	                       "manual = 1 AND outcome = 'ok'"),
	                 1);
	assert_int_equal(hits_of("t.thread"), 2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, test_setup, test_teardown)

static const struct CMUnitTest tests[] = {
    T(each_due_time_runs_once_on_two_nodes),
    T(compare_and_swap_has_one_winner),
    T(dead_node_lease_is_taken_over),
    T(takeover_without_attempts_left_alerts),
    T(timeout_is_recorded_and_the_job_waits_for_the_thread),
    T(failures_are_retried_with_backoff),
    T(last_failure_alerts_and_invalid_is_final),
    T(manual_run_runs_once_even_when_disabled),
    T(disable_enable_and_cron_changes),
    T(code_defaults_never_overwrite_operator_changes),
    T(stop_hands_the_run_over),
    T(the_thread_runs_jobs_on_its_own),
};

int main(void)
{
	const struct dbfx_opts opts = {.pool = 2};
	int failed;
	FILE *quiet = fopen("/dev/null", "w");
	/* Alerts are logged at error level on purpose here: keep the test output readable. */
	log_setup(LOG_ERROR, getenv("SHOULI_TEST_VERBOSE") || !quiet ? stderr : quiet);
	failed = dbfx_run("sched", &opts, tests, sizeof(tests) / sizeof(tests[0]), group_setup,
	                  dbfx_teardown);
	if (quiet)
		fclose(quiet);
	return failed ? 1 : 0;
}
