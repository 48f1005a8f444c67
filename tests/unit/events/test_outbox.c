/* test_outbox.c: the transactional outbox, run against SQLite (a temporary file under
 * SHOULI_TEST_TMP) and, when SHOULI_TEST_PG holds a libpq conninfo (scripts/pg-test.sh),
 * against PostgreSQL too, in a schema of its own dropped at the end.
 *
 * Time is an injected clock that starts a day ahead of the wall clock (enqueue stamps rows
 * with the wall clock, so they are due at once) and moves only when a test moves it. */
#include "../common/db_fixture.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "events/events.h"
#include "events/outbox_int.h"
#include "server/server.h"

#define DAY_MS (24 * 3600 * 1000LL)
#define MANY   500

struct fx {
	_Atomic int64_t now; /* the injected clock */
};

static struct fx fx;

/* ---- fixture ---- */

static int64_t test_clock(void *ctx)
{
	return atomic_load(&((struct fx *)ctx)->now);
}

static void advance(int64_t ms)
{
	atomic_fetch_add(&fx.now, ms);
}

/* Every test starts from an empty table and a fresh clock. */
static int test_setup(void **state)
{
	(void)state;
	struct db_conn *c = NULL;
	if (db_acquire(dbfx.srv.db, 2000, &c))
		return -1;
	enum err e = db_exec(c, NULL, NULL, "DELETE FROM events", "");
	db_release(c);
	atomic_store(&fx.now, time_now_ms() + DAY_MS);
	return e ? -1 : 0;
}

static struct outbox_config test_config(void)
{
	return (struct outbox_config){
	    .workers = 1,
	    .batch = 8,
	    .poll_ms = 50,
	    .lease_ms = 60000,
	    .node = "test",
	    .now_ms = test_clock,
	    .clock_ctx = &fx,
	};
}

static struct outbox *new_outbox(void)
{
	struct outbox *o = NULL;
	struct outbox_config cfg = test_config();
	assert_int_equal(outbox_create(&dbfx.srv, &cfg, &o), ERR_OK);
	dbfx.srv.outbox = o;
	return o;
}

static void free_outbox(struct outbox *o)
{
	outbox_destroy(o);
	dbfx.srv.outbox = NULL;
}

/* Enqueue one event in a transaction of its own and commit it. */
static int64_t enqueue(const char *kind, const char *aggregate, const char *payload,
                       const char *key)
{
	struct db_conn *c = NULL;
	struct arena a;
	int64_t id = 0;
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	assert_int_equal(outbox_enqueue(c, &a, kind, aggregate, payload, key, &id), ERR_OK);
	assert_int_equal(db_commit(c), ERR_OK);
	db_release(c);
	arena_release(&a);
	assert_true(id > 0);
	return id;
}

/* One event's row, as the operator sees it. */
struct row {
	char status[16];
	int64_t attempts, next_attempt_at, done_at;
	char last_error[600];
	char key[256];
	bool found;
};

static struct row get_row(int64_t id)
{
	struct row r;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct arena a;
	memset(&r, 0, sizeof(r));
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_exec(c, &a, &rs,
	                         "SELECT status, attempts, next_attempt_at, done_at, last_error, "
	                         "idempotency_key FROM events WHERE id = ?",
	                         "i", id),
	                 ERR_OK);
	if (rs->nrows == 1) {
		r.found = true;
		snprintf(r.status, sizeof(r.status), "%s", db_text(rs, 0, 0));
		r.attempts = db_int(rs, 0, 1);
		r.next_attempt_at = db_int(rs, 0, 2);
		r.done_at = db_int(rs, 0, 3);
		snprintf(r.last_error, sizeof(r.last_error), "%s",
		         db_text(rs, 0, 4) ? db_text(rs, 0, 4) : "");
		snprintf(r.key, sizeof(r.key), "%s", db_text(rs, 0, 5));
	}
	db_release(c);
	arena_release(&a);
	return r;
}

static int64_t count_where(const char *cond)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct arena a;
	char sql[256];
	arena_init(&a, 0);
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM events WHERE %s", cond);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_exec(c, &a, &rs, sql, ""), ERR_OK);
	int64_t n = db_int(rs, 0, 0);
	db_release(c);
	arena_release(&a);
	return n;
}

/* ---- a recording handler ---- */

struct rec {
	pthread_mutex_t mu;
	int calls;
	int fail_first;  /* fail this many calls with ERR_UPSTREAM, then succeed */
	enum err always; /* when set, every call returns it */
	int64_t last_id;
	int last_attempts;
	char last_kind[80], last_aggregate[256], last_payload[256], last_key[256];
	struct server *last_srv;
	/* Many-event test: deliveries per payload number, and who is delivering right now. */
	int count[MANY];
	atomic_int in_flight[MANY];
	atomic_int overlaps;
	atomic_int delivered;
	/* Stop test: the first call blocks until released. */
	bool block;
	bool entered, released;
	pthread_cond_t cv;
};

static void rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
}

static void rec_release(struct rec *r)
{
	pthread_cond_destroy(&r->cv);
	pthread_mutex_destroy(&r->mu);
}

static enum err rec_deliver(void *ctx, struct server *srv, const struct outbox_event *ev,
                            char *errmsg, size_t errmsg_sz)
{
	struct rec *r = ctx;
	enum err e = ERR_OK;
	pthread_mutex_lock(&r->mu);
	r->calls++;
	r->last_id = ev->id;
	r->last_attempts = ev->attempts;
	r->last_srv = srv;
	snprintf(r->last_kind, sizeof(r->last_kind), "%s", ev->kind);
	snprintf(r->last_aggregate, sizeof(r->last_aggregate), "%s",
	         ev->aggregate ? ev->aggregate : "(null)");
	snprintf(r->last_payload, sizeof(r->last_payload), "%s", ev->payload);
	snprintf(r->last_key, sizeof(r->last_key), "%s", ev->idempotency_key);
	if (r->always) {
		e = r->always;
		snprintf(errmsg, errmsg_sz, "%s", "接收方拒绝");
	} else if (r->calls <= r->fail_first) {
		e = ERR_UPSTREAM;
		snprintf(errmsg, errmsg_sz, "%s", "部门接口返回 503");
	}
	if (r->block && r->calls == 1) {
		r->entered = true;
		pthread_cond_broadcast(&r->cv);
		while (!r->released)
			pthread_cond_wait(&r->cv, &r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return e;
}

/* Counts deliveries per payload number {"n":N} and detects two deliveries of one event at
 * the same time. Runs on worker threads: records, never asserts. */
static enum err many_deliver(void *ctx, struct server *srv, const struct outbox_event *ev,
                             char *errmsg, size_t errmsg_sz)
{
	struct rec *r = ctx;
	int64_t n = -1;
	const char *p = strstr(ev->payload, "\"n\":");
	if (p) {
		p += 4;
		struct str digits = {p, strspn(p, "0123456789")};
		if (!str_to_i64(digits, 0, MANY - 1, &n))
			n = -1;
	}
	if (n < 0 || n >= MANY) {
		atomic_fetch_add(&r->overlaps, 1000);
		return ERR_INVALID;
	}
	if (atomic_fetch_add(&r->in_flight[n], 1) != 0)
		atomic_fetch_add(&r->overlaps, 1);
	usleep(200); /* widen the window a second claimer would need */
	pthread_mutex_lock(&r->mu);
	r->count[n]++;
	pthread_mutex_unlock(&r->mu);
	atomic_fetch_sub(&r->in_flight[n], 1);
	atomic_fetch_add(&r->delivered, 1);
	return ERR_OK;
}

/* ---- bus capture ---- */

struct capture {
	pthread_mutex_t mu;
	int n;
	char topic[160];
	char json[512];
};

static void capture_fn(void *ctx, const char *topic, const char *json)
{
	struct capture *cap = ctx;
	pthread_mutex_lock(&cap->mu);
	cap->n++;
	snprintf(cap->topic, sizeof(cap->topic), "%s", topic);
	snprintf(cap->json, sizeof(cap->json), "%s", json);
	pthread_mutex_unlock(&cap->mu);
}

/* ---- tests ---- */

static void rolled_back_is_never_delivered(void **state)
{
	(void)state;
	struct rec r;
	struct db_conn *c = NULL;
	struct arena a;
	int64_t id = 0;
	int delivered = -1;
	rec_init(&r);
	arena_init(&a, 0);
	struct outbox *o = new_outbox();
	assert_int_equal(outbox_register(o, "case.submit", rec_deliver, &r, NULL), ERR_OK);

	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	assert_int_equal(outbox_enqueue(c, &a, "case.submit", "case:1", "{\"a\":1}", NULL, &id),
	                 ERR_OK);
	assert_true(id > 0);
	assert_int_equal(db_rollback(c), ERR_OK);
	db_release(c);

	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 0);
	assert_int_equal(r.calls, 0);
	assert_int_equal(count_where("1 = 1"), 0);
	free_outbox(o);
	arena_release(&a);
	rec_release(&r);
}

static void committed_is_delivered_once(void **state)
{
	(void)state;
	struct rec r;
	struct capture cap = {.mu = PTHREAD_MUTEX_INITIALIZER};
	int delivered = -1;
	char want[256];
	rec_init(&r);
	assert_int_equal(event_bus_create(&dbfx.srv.bus), ERR_OK);
	assert_int_equal(event_bus_subscribe(dbfx.srv.bus, "outbox:", capture_fn, &cap), ERR_OK);
	struct outbox *o = new_outbox();
	assert_int_equal(outbox_register(o, "case.submit", rec_deliver, &r, NULL), ERR_OK);

	int64_t id = enqueue("case.submit", "case:123", "{\"case\":123}", "case:123:submit");
	assert_string_equal(get_row(id).status, "pending");
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.last_id, id);
	assert_int_equal(r.last_attempts, 1);
	assert_ptr_equal(r.last_srv, &dbfx.srv);
	assert_string_equal(r.last_kind, "case.submit");
	assert_string_equal(r.last_aggregate, "case:123");
	assert_string_equal(r.last_payload, "{\"case\":123}");
	assert_string_equal(r.last_key, "case:123:submit");

	struct row row = get_row(id);
	assert_string_equal(row.status, "done");
	assert_int_equal(row.attempts, 1);
	assert_int_equal(row.done_at, atomic_load(&fx.now));

	/* Nothing more to deliver: the handler is not called again. */
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 0);
	assert_int_equal(r.calls, 1);

	assert_int_equal(cap.n, 1);
	assert_string_equal(cap.topic, "outbox:case.submit");
	snprintf(want, sizeof(want),
	         "{\"id\":%lld,\"kind\":\"case.submit\",\"aggregate\":\"case:123\"}",
	         (long long)id);
	assert_string_equal(cap.json, want);

	free_outbox(o);
	event_bus_destroy(dbfx.srv.bus);
	dbfx.srv.bus = NULL;
	rec_release(&r);
}

static void failures_back_off_then_succeed(void **state)
{
	(void)state;
	struct rec r;
	int delivered = -1;
	rec_init(&r);
	r.fail_first = 2;
	struct outbox *o = new_outbox();
	struct outbox_policy pol = {
	    .max_attempts = 5, .base_backoff_ms = 1000, .max_backoff_ms = 60000};
	assert_int_equal(outbox_register(o, "dept.submit", rec_deliver, &r, &pol), ERR_OK);
	int64_t id = enqueue("dept.submit", "case:7", "{}", NULL);

	/* First try fails: due again 500..1000 ms later (1000 ms with jitter in [d/2, d]). */
	int64_t t1 = atomic_load(&fx.now);
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 0);
	assert_int_equal(r.calls, 1);
	struct row row = get_row(id);
	assert_string_equal(row.status, "pending");
	assert_int_equal(row.attempts, 1);
	assert_string_equal(row.last_error, "upstream_error: 部门接口返回 503");
	assert_in_range(row.next_attempt_at, t1 + 500, t1 + 1000);

	/* Not before it is due. */
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	advance(row.next_attempt_at - atomic_load(&fx.now) - 1);
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(r.calls, 1);

	/* Second try fails: the wait doubles, to 1000..2000 ms. */
	advance(1);
	int64_t t2 = atomic_load(&fx.now);
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(r.calls, 2);
	row = get_row(id);
	assert_string_equal(row.status, "pending");
	assert_int_equal(row.attempts, 2);
	assert_in_range(row.next_attempt_at, t2 + 1000, t2 + 2000);
	advance(row.next_attempt_at - t2 - 1);
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(r.calls, 2);

	/* Third try succeeds. */
	advance(1);
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 1);
	assert_int_equal(r.calls, 3);
	assert_int_equal(r.last_attempts, 3);
	row = get_row(id);
	assert_string_equal(row.status, "done");
	assert_int_equal(row.attempts, 3);
	free_outbox(o);
	rec_release(&r);
}

static void backoff_is_capped(void **state)
{
	(void)state;
	struct rec r;
	rec_init(&r);
	r.always = ERR_TIMEOUT;
	struct outbox *o = new_outbox();
	struct outbox_policy pol = {
	    .max_attempts = 20, .base_backoff_ms = 1000, .max_backoff_ms = 4000};
	assert_int_equal(outbox_register(o, "slow.dept", rec_deliver, &r, &pol), ERR_OK);
	int64_t id = enqueue("slow.dept", NULL, NULL, NULL);
	for (int k = 1; k <= 6; k++) {
		int64_t t = atomic_load(&fx.now);
		assert_int_equal(outbox_run_once(o, NULL), ERR_OK);
		assert_int_equal(r.calls, k);
		struct row row = get_row(id);
		int64_t d = k >= 3 ? 4000 : 1000LL << (k - 1);
		assert_in_range(row.next_attempt_at, t + d / 2, t + d);
		advance(row.next_attempt_at - t);
	}
	assert_string_equal(r.last_aggregate, "(null)");
	assert_string_equal(r.last_payload, "{}");
	free_outbox(o);
	rec_release(&r);
}

static void max_attempts_dead_then_retry(void **state)
{
	(void)state;
	struct rec r, bad;
	struct buf m;
	int delivered = -1;
	rec_init(&r);
	rec_init(&bad);
	r.fail_first = 1000;
	bad.always = ERR_INVALID;
	struct outbox *o = new_outbox();
	struct outbox_policy pol = {
	    .max_attempts = 3, .base_backoff_ms = 100, .max_backoff_ms = 100};
	assert_int_equal(outbox_register(o, "archive.push", rec_deliver, &r, &pol), ERR_OK);
	assert_int_equal(outbox_register(o, "never.ok", rec_deliver, &bad, &pol), ERR_OK);
	int64_t id = enqueue("archive.push", "case:9", "{}", NULL);
	int64_t bad_id = enqueue("never.ok", "case:9", "{}", NULL);

	for (int k = 0; k < 3; k++) {
		assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
		assert_int_equal(delivered, 0);
		advance(100);
	}
	assert_int_equal(r.calls, 3);
	struct row row = get_row(id);
	assert_string_equal(row.status, "dead");
	assert_int_equal(row.attempts, 3);
	assert_string_equal(row.last_error, "upstream_error: 部门接口返回 503");
	/* ERR_INVALID from the handler: dead after its first try. */
	assert_int_equal(bad.calls, 1);
	row = get_row(bad_id);
	assert_string_equal(row.status, "dead");
	assert_int_equal(row.attempts, 1);
	assert_string_equal(row.last_error, "invalid: 接收方拒绝");

	/* Dead events are left alone. */
	advance(DAY_MS);
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(r.calls, 3);

	buf_init(&m, 1 << 20);
	outbox_metrics(o, &m);
	assert_non_null(strstr(m.p, "shouli_outbox_depth{status=\"dead\"} 2\n"));
	assert_non_null(strstr(m.p, "shouli_outbox_depth{status=\"pending\"} 0\n"));
	assert_non_null(strstr(m.p, "shouli_outbox_failures_total{kind=\"archive.push\"} 3\n"));
	assert_non_null(strstr(m.p, "shouli_outbox_failures_total{kind=\"never.ok\"} 1\n"));
	assert_non_null(strstr(m.p, "shouli_outbox_dead_total 2\n"));
	assert_non_null(strstr(m.p, "shouli_outbox_delivered_total{kind=\"archive.push\"} 0\n"));

	/* The operator retries: pending, attempts reset, and the receiver is back. */
	assert_int_equal(outbox_retry(&dbfx.srv, id), ERR_OK);
	row = get_row(id);
	assert_string_equal(row.status, "pending");
	assert_int_equal(row.attempts, 0);
	assert_int_equal(outbox_retry(&dbfx.srv, id), ERR_CONFLICT);
	assert_int_equal(outbox_retry(&dbfx.srv, id + bad_id + 1000), ERR_NOT_FOUND);
	r.fail_first = 0;
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 1);
	row = get_row(id);
	assert_string_equal(row.status, "done");
	assert_int_equal(row.attempts, 1);
	assert_int_equal(outbox_retry(&dbfx.srv, id), ERR_CONFLICT);

	buf_reset(&m);
	outbox_metrics(o, &m);
	assert_non_null(strstr(m.p, "shouli_outbox_delivered_total{kind=\"archive.push\"} 1\n"));
	assert_non_null(strstr(m.p, "shouli_outbox_depth{status=\"dead\"} 1\n"));
	assert_non_null(strstr(m.p, "shouli_outbox_delivery_seconds_count 5\n"));
	assert_non_null(strstr(m.p, "shouli_outbox_lag_seconds_count 1\n"));
	buf_release(&m);
	free_outbox(o);
	rec_release(&r);
	rec_release(&bad);
}

static void expired_lease_is_redelivered(void **state)
{
	(void)state;
	struct rec r;
	struct arena a;
	struct outbox_event *evs = NULL;
	int n = 0, delivered = -1;
	rec_init(&r);
	arena_init(&a, 0);
	struct outbox *o = new_outbox(); /* lease 60 s */
	assert_int_equal(outbox_register(o, "notify.sms", rec_deliver, &r, NULL), ERR_OK);
	int64_t id = enqueue("notify.sms", "case:5", "{}", "sms:5");

	/* A worker claims it and stalls (or dies) before it reports back. */
	const char *token = NULL;
	assert_int_equal(outbox_claim_abandon(o, &a, &evs, &n, &token), ERR_OK);
	assert_non_null(token);
	assert_int_equal(n, 1);
	assert_int_equal(evs[0].id, id);
	assert_int_equal(evs[0].attempts, 1);
	assert_string_equal(get_row(id).status, "delivering");

	/* While the lease holds, nobody else gets it. */
	advance(59999);
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 0);
	assert_int_equal(r.calls, 0);

	/* Once it runs out, the event is delivered again, with the same key. */
	advance(1);
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.last_attempts, 2);
	assert_string_equal(r.last_key, "sms:5");
	struct row row = get_row(id);
	assert_string_equal(row.status, "done");
	assert_int_equal(row.attempts, 2);

	/* The stalled worker wakes up and reports a failure: its lease is gone, so the
	 * outcome is dropped and the row stays done. */
	struct db_conn *c = NULL;
	bool held = true;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	assert_int_equal(outbox_store_finish(c, &a, id, token, OUTBOX_OUT_RETRY,
	                                     atomic_load(&fx.now), atomic_load(&fx.now) + 1000,
	                                     "timeout", &held),
	                 ERR_OK);
	assert_int_equal(db_commit(c), ERR_OK);
	db_release(c);
	assert_false(held);
	row = get_row(id);
	assert_string_equal(row.status, "done");
	assert_string_equal(row.last_error, OUTBOX_WHY_LEASE_EXPIRED);
	free_outbox(o);
	arena_release(&a);
	rec_release(&r);
}

static void lease_expiring_every_time_goes_dead(void **state)
{
	(void)state;
	struct rec r;
	struct arena a;
	struct outbox_event *evs = NULL;
	int n = 0;
	rec_init(&r);
	arena_init(&a, 0);
	struct outbox *o = new_outbox();
	struct outbox_policy pol = {.max_attempts = 2};
	assert_int_equal(outbox_register(o, "poison", rec_deliver, &r, &pol), ERR_OK);
	int64_t id = enqueue("poison", NULL, "[1,2]", NULL);
	for (int k = 1; k <= 2; k++) {
		assert_int_equal(outbox_claim_abandon(o, &a, &evs, &n, NULL), ERR_OK);
		assert_int_equal(n, 1);
		assert_int_equal(evs[0].attempts, k);
		advance(60000);
	}
	/* The third claim finds no attempt left: dead without calling the handler. */
	assert_int_equal(outbox_run_once(o, NULL), ERR_OK);
	assert_int_equal(r.calls, 0);
	struct row row = get_row(id);
	assert_string_equal(row.status, "dead");
	assert_string_equal(row.last_error, OUTBOX_WHY_LEASE_EXHAUSTED);
	free_outbox(o);
	arena_release(&a);
	rec_release(&r);
}

static void idempotency_key_is_unique(void **state)
{
	(void)state;
	struct db_conn *c = NULL;
	struct arena a;
	int64_t id1 = 0, id2 = 0, id3 = 0;
	arena_init(&a, 0);
	enqueue("case.submit", "case:1", "{}", "case:1:submit");

	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	assert_int_equal(
	    outbox_enqueue(c, &a, "case.submit", "case:1", "{}", "case:1:submit", &id1),
	    ERR_EXISTS);
	/* The caller's transaction is still usable after the duplicate (on PostgreSQL too). */
	assert_int_equal(outbox_enqueue(c, &a, "case.submit", "case:1", "{}", "case:1:other", &id2),
	                 ERR_OK);
	assert_int_equal(outbox_enqueue(c, &a, "case.submit", "case:1", "{}", NULL, &id3), ERR_OK);
	assert_int_equal(db_commit(c), ERR_OK);
	db_release(c);
	assert_true(id2 > 0 && id3 > id2);
	assert_int_equal(count_where("1 = 1"), 3);
	assert_int_equal(count_where("idempotency_key = 'case:1:submit'"), 1);
	/* Generated keys: "ob-" and 32 hex digits, different each time. */
	struct row r3 = get_row(id3);
	assert_int_equal(strlen(r3.key), 35);
	assert_memory_equal(r3.key, "ob-", 3);
	int64_t id4 = enqueue("case.submit", NULL, NULL, NULL);
	assert_string_not_equal(get_row(id4).key, r3.key);
	arena_release(&a);
}

static void bad_arguments_are_refused(void **state)
{
	(void)state;
	struct db_conn *c = NULL;
	struct arena a;
	struct rec r;
	char big[300];
	rec_init(&r);
	arena_init(&a, 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	assert_int_equal(outbox_enqueue(c, &a, "Case Submit", NULL, "{}", NULL, NULL),
	                 ERR_BAD_FIELD);
	assert_int_equal(outbox_enqueue(c, &a, "", NULL, "{}", NULL, NULL), ERR_BAD_FIELD);
	assert_int_equal(outbox_enqueue(c, &a, NULL, NULL, "{}", NULL, NULL), ERR_BAD_FIELD);
	assert_int_equal(outbox_enqueue(c, &a, "x", NULL, "{\"a\":", NULL, NULL), ERR_BAD_JSON);
	assert_int_equal(outbox_enqueue(c, &a, "x", NULL, "{\"a\":1,\"a\":2}", NULL, NULL),
	                 ERR_BAD_JSON);
	assert_int_equal(outbox_enqueue(c, &a, "x", big, "{}", NULL, NULL), ERR_BAD_FIELD);
	assert_int_equal(outbox_enqueue(c, &a, "x", NULL, "{}", big, NULL), ERR_BAD_FIELD);
	assert_int_equal(outbox_enqueue(c, &a, "x", NULL, "{}", "", NULL), ERR_BAD_FIELD);
	assert_int_equal(outbox_enqueue(c, &a, "x", "\xff\xfe", "{}", NULL, NULL), ERR_BAD_FIELD);
	assert_int_equal(db_commit(c), ERR_OK);
	db_release(c);
	assert_int_equal(count_where("1 = 1"), 0);

	struct outbox *o = new_outbox();
	struct outbox_policy neg = {.max_attempts = -1};
	struct outbox_policy inverted = {.base_backoff_ms = 5000, .max_backoff_ms = 1000};
	assert_int_equal(outbox_register(o, "a.b", rec_deliver, &r, NULL), ERR_OK);
	assert_int_equal(outbox_register(o, "a.b", rec_deliver, &r, NULL), ERR_EXISTS);
	assert_int_equal(outbox_register(o, "A", rec_deliver, &r, NULL), ERR_BAD_FIELD);
	assert_int_equal(outbox_register(o, "c", NULL, &r, NULL), ERR_BAD_FIELD);
	assert_int_equal(outbox_register(o, "c", rec_deliver, &r, &neg), ERR_BAD_FIELD);
	assert_int_equal(outbox_register(o, "c", rec_deliver, &r, &inverted), ERR_BAD_FIELD);
	assert_int_equal(outbox_start(o), ERR_OK);
	assert_int_equal(outbox_start(o), ERR_CONFLICT);
	outbox_stop(o);
	outbox_stop(o);
	free_outbox(o);
	arena_release(&a);
	rec_release(&r);
}

static void unhandled_kind_stays_pending(void **state)
{
	(void)state;
	struct rec r;
	int delivered = -1;
	rec_init(&r);
	struct outbox *o = new_outbox();
	int64_t orphan = enqueue("nobody.listens", NULL, "{}", NULL);
	/* No handler at all: nothing is claimed. */
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 0);
	assert_int_equal(outbox_register(o, "case.submit", rec_deliver, &r, NULL), ERR_OK);
	int64_t id = enqueue("case.submit", NULL, "{}", NULL);
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 1);
	assert_int_equal(r.last_id, id);
	struct row row = get_row(orphan);
	assert_string_equal(row.status, "pending");
	assert_int_equal(row.attempts, 0);
	/* A handler registered later (while running) picks it up. */
	assert_int_equal(outbox_register(o, "nobody.listens", rec_deliver, &r, NULL), ERR_OK);
	assert_int_equal(outbox_run_once(o, &delivered), ERR_OK);
	assert_int_equal(delivered, 1);
	assert_string_equal(get_row(orphan).status, "done");
	free_outbox(o);
	rec_release(&r);
}

static bool wait_until(atomic_int *v, int want, int ms)
{
	for (int k = 0; k < ms / 10 && atomic_load(v) < want; k++)
		usleep(10000);
	return atomic_load(v) >= want;
}

static void notify_wakes_idle_workers(void **state)
{
	(void)state;
	struct rec r;
	struct outbox *o = NULL;
	struct outbox_config cfg = test_config();
	rec_init(&r);
	cfg.poll_ms = 60000; /* only a notification can wake them within the test */
	assert_int_equal(outbox_create(&dbfx.srv, &cfg, &o), ERR_OK);
	dbfx.srv.outbox = o;
	assert_int_equal(outbox_register(o, "wake.up", many_deliver, &r, NULL), ERR_OK);
	assert_int_equal(outbox_start(o), ERR_OK);
	usleep(100000); /* let the worker finish its first (empty) round and sleep */
	enqueue("wake.up", NULL, "{\"n\":1}", NULL);
	int64_t t0 = time_mono_ns();
	outbox_notify(o);
	assert_true(wait_until(&r.delivered, 1, 5000));
	assert_true(time_mono_ns() - t0 < 5000000000LL);
	outbox_stop(o);
	assert_int_equal(r.count[1], 1);
	free_outbox(o);
	rec_release(&r);
}

struct stopper {
	struct outbox *o;
	atomic_bool done;
};

static void *stop_thread(void *arg)
{
	struct stopper *s = arg;
	outbox_stop(s->o);
	atomic_store(&s->done, true);
	return NULL;
}

static void stop_waits_for_in_flight_delivery(void **state)
{
	(void)state;
	struct rec r;
	pthread_t th;
	int64_t ids[3];
	rec_init(&r);
	r.block = true;
	for (int k = 0; k < 3; k++)
		ids[k] = enqueue("slow.handler", NULL, "{}", NULL);
	struct outbox *o = new_outbox();
	assert_int_equal(outbox_register(o, "slow.handler", rec_deliver, &r, NULL), ERR_OK);
	assert_int_equal(outbox_start(o), ERR_OK);

	pthread_mutex_lock(&r.mu);
	while (!r.entered)
		pthread_cond_wait(&r.cv, &r.mu);
	pthread_mutex_unlock(&r.mu);

	struct stopper s = {.o = o};
	assert_int_equal(pthread_create(&th, NULL, stop_thread, &s), 0);
	usleep(200000);
	assert_false(atomic_load(&s.done)); /* waits for the delivery in progress */

	pthread_mutex_lock(&r.mu);
	r.released = true;
	pthread_cond_broadcast(&r.cv);
	pthread_mutex_unlock(&r.mu);
	pthread_join(th, NULL);
	assert_true(atomic_load(&s.done));

	/* The delivery in progress was recorded; the two not started went back untouched. */
	assert_int_equal(r.calls, 1);
	struct row row = get_row(ids[0]);
	assert_string_equal(row.status, "done");
	for (int k = 1; k < 3; k++) {
		row = get_row(ids[k]);
		assert_string_equal(row.status, "pending");
		assert_int_equal(row.attempts, 0);
	}
	free_outbox(o);
	rec_release(&r);
}

static void two_nodes_never_deliver_one_event_twice(void **state)
{
	(void)state;
	struct rec r;
	struct server srv2;
	struct outbox *o1 = NULL, *o2 = NULL;
	struct outbox_config cfg = test_config();
	struct db_conn *c = NULL;
	struct arena a;
	char msg[256], payload[32];
	rec_init(&r);
	arena_init(&a, 0);

	/* Enqueue in a few transactions, as many business changes would. */
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	for (int k = 0; k < MANY; k++) {
		if (k % 50 == 0)
			assert_int_equal(db_begin_write(c), ERR_OK);
		snprintf(payload, sizeof(payload), "{\"n\":%d}", k);
		assert_int_equal(outbox_enqueue(c, &a, "bulk", NULL, payload, NULL, NULL), ERR_OK);
		if (k % 50 == 49)
			assert_int_equal(db_commit(c), ERR_OK);
	}
	db_release(c);

	/* Two "nodes", each with its own connection pool and two workers. */
	memset(&srv2, 0, sizeof(srv2));
	assert_int_equal(db_open(dbfx.url, 4, &srv2.db, msg, sizeof(msg)), ERR_OK);
	cfg.workers = 2;
	cfg.node = "node-a";
	assert_int_equal(outbox_create(&dbfx.srv, &cfg, &o1), ERR_OK);
	cfg.node = "node-b";
	assert_int_equal(outbox_create(&srv2, &cfg, &o2), ERR_OK);
	assert_int_equal(outbox_register(o1, "bulk", many_deliver, &r, NULL), ERR_OK);
	assert_int_equal(outbox_register(o2, "bulk", many_deliver, &r, NULL), ERR_OK);
	int64_t t0 = time_mono_ns();
	assert_int_equal(outbox_start(o1), ERR_OK);
	assert_int_equal(outbox_start(o2), ERR_OK);
	bool all = wait_until(&r.delivered, MANY, 120000);
	int64_t dt = time_mono_ns() - t0;
	outbox_stop(o1);
	outbox_stop(o2);
	assert_true(all);
	print_message("[ info ] %s: %d events delivered by 2 nodes x 2 workers in %.2f s\n",
	              dbfx.pg ? "postgres" : "sqlite", MANY, (double)dt / 1e9);

	assert_int_equal(atomic_load(&r.overlaps), 0);
	for (int k = 0; k < MANY; k++)
		assert_int_equal(r.count[k], 1);
	assert_int_equal(atomic_load(&r.delivered), MANY);
	assert_int_equal(count_where("status = 'done' AND attempts = 1"), MANY);

	outbox_destroy(o1);
	outbox_destroy(o2);
	db_close(srv2.db);
	arena_release(&a);
	rec_release(&r);
}

#define T(f) cmocka_unit_test_setup(f, test_setup)

static const struct CMUnitTest tests[] = {
    T(rolled_back_is_never_delivered),
    T(committed_is_delivered_once),
    T(failures_back_off_then_succeed),
    T(backoff_is_capped),
    T(max_attempts_dead_then_retry),
    T(expired_lease_is_redelivered),
    T(lease_expiring_every_time_goes_dead),
    T(idempotency_key_is_unique),
    T(bad_arguments_are_refused),
    T(unhandled_kind_stays_pending),
    T(notify_wakes_idle_workers),
    T(stop_waits_for_in_flight_delivery),
    T(two_nodes_never_deliver_one_event_twice),
};

int main(void)
{
	const struct dbfx_opts opts = {.pool = 6};
	log_setup(LOG_ERROR, stderr);
	return dbfx_run("outbox", &opts, tests, sizeof(tests) / sizeof(tests[0]), dbfx_setup,
	                dbfx_teardown);
}
