/* db_write.c: group commit — write units (db.h, "group commit: write units").
 *
 * On SQLite every durable commit costs an fsync of the WAL (a few hundred microseconds on
 * the machines we target), and only one connection writes at a time: clerks accepting cases
 * at once queue on the write lock and each pays a whole fsync. Here one writer thread owns a
 * write connection and runs the units that wait together in one transaction, each inside a
 * savepoint, and commits them with one fsync. A caller still returns only after its unit's
 * commit is durable.
 *
 * PostgreSQL groups concurrent commits in the server (commit_delay aside, its WAL flush
 * serves every backend waiting on it), so a unit there is simply its own transaction on a
 * pool connection in the caller's thread. */
#include <assert.h>
#include <errno.h>
#include <signal.h>
#include <time.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "db/db_int.h"

#define BATCH_MAX_DEFAULT 64
#define BATCH_MAX_LIMIT   256
#define LINGER_MAX_US     10000

/* The last bucket's bound is never printed (it is +Inf). */
const int db_write_batch_le[DB_WRITE_BATCH_BUCKETS] = {1, 2, 4, 8, 16, 32, 64, 0};

enum unit_state { UNIT_QUEUED, UNIT_RUNNING, UNIT_DONE };

/* A unit lives on its caller's stack from submission to its result. */
struct db_unit {
	enum err (*fn)(struct db_conn *c, void *ctx);
	void *ctx;
	const struct trace_ctx *trace; /* the caller's, borrowed while it waits */
	int64_t submitted;             /* time_mono_ns */
	enum unit_state state;
	enum err result;
	pthread_cond_t cv; /* signalled when state becomes UNIT_DONE */
	struct db_unit *next;
};

/* The database whose unit's fn runs on this thread: a unit that submits another unit would
 * wait for itself (SQLite) or hold two pool connections (PostgreSQL). */
static _Thread_local const struct db *unit_of;

static void deadline_after(struct timespec *ts, int64_t us)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(us / 1000000);
	ts->tv_nsec += (long)(us % 1000000) * 1000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static void count_batch(struct db_writer *w, int n)
{
	int k = 0;
	while (k < DB_WRITE_BATCH_BUCKETS - 1 && n > db_write_batch_le[k])
		k++;
	atomic_fetch_add(&w->hist[k], 1);
	atomic_fetch_add(&w->batches, 1);
	atomic_fetch_add(&w->batch_units, (uint64_t)n);
	int top = atomic_load(&w->batch_top);
	while (n > top && !atomic_compare_exchange_weak(&w->batch_top, &top, n))
		;
}

/* ---- the writer thread (SQLite) ---- */

/* Run one unit inside its savepoint. Returns true when the transaction itself was lost (the
 * engine rolled it back, or fn ended it against the contract): the units before it in the
 * transaction are lost too. u->result is set either way. */
static bool run_unit(struct db *db, struct db_conn *c, struct db_unit *u)
{
	struct db_writer *w = &db->w;
	enum err e;
	atomic_fetch_add(&w->wait_ns, (uint64_t)(time_mono_ns() - u->submitted));
	if ((e = db_exec(c, NULL, NULL, "SAVEPOINT unit", ""))) {
		u->result = e;
		return !db->ops->in_tx(c);
	}
	int64_t t0 = time_mono_ns();
	log_set_trace(u->trace);
	unit_of = db;
	e = u->fn(c, u->ctx);
	unit_of = NULL;
	log_set_trace(NULL);
	atomic_fetch_add(&w->run_ns, (uint64_t)(time_mono_ns() - t0));
	if (!db->ops->in_tx(c)) {
		log_error("db_write_unit",
		          "a write unit ended its transaction (%s): the units "
		          "before it in the batch are not stored",
		          err_code(e));
		u->result = e ? e : ERR_INTERNAL;
		return true;
	}
	u->result = e;
	if (e) {
		/* Undo this unit only; the savepoint stays open until RELEASE. */
		enum err r = db_exec(c, NULL, NULL, "ROLLBACK TO unit", "");
		if (!r)
			r = db_exec(c, NULL, NULL, "RELEASE unit", "");
		return r != ERR_OK;
	}
	if ((e = db_exec(c, NULL, NULL, "RELEASE unit", ""))) {
		u->result = e;
		return true;
	}
	return false;
}

/* Run n units: one transaction, one commit. Should the transaction be lost midway, the units
 * run so far fail and the rest go on in a new transaction. */
static void run_batch(struct db *db, struct db_unit **u, int n)
{
	struct db_writer *w = &db->w;
	struct db_conn *c = w->conn;
	int i = 0;
	while (i < n) {
		int first = i;
		enum err e = db_begin_write(c);
		if (e) {
			for (; i < n; i++)
				u[i]->result = e;
			break;
		}
		bool lost = false;
		while (i < n && !lost)
			lost = run_unit(db, c, u[i++]);
		count_batch(w, i - first);
		if (!lost) {
			int64_t t0 = time_mono_ns();
			e = db_commit(c);
			atomic_fetch_add(&w->commit_ns, (uint64_t)(time_mono_ns() - t0));
			if (!e)
				continue;
			atomic_fetch_add(&w->commit_failures, 1);
			log_error("db_write_unit", "the commit of %d write unit(s) failed (%s)",
			          i - first, err_code(e));
		} else {
			e = ERR_DB;
		}
		if (db->ops->in_tx(c))
			db_rollback(c);
		for (int k = first; k < i; k++)
			if (!u[k]->result)
				u[k]->result = e;
	}
}

static void *writer_main(void *arg)
{
	struct db *db = arg;
	struct db_writer *w = &db->w;
	struct db_unit *batch[BATCH_MAX_LIMIT];
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!(w->head && !w->busy) && !(w->stopping && !w->head))
			pthread_cond_wait(&w->work, &w->mu);
		if (!w->head)
			break; /* stopping, and the queue is drained */
		if (w->linger_us > 0 && w->queued == 1 && !w->stopping) {
			struct timespec ts;
			deadline_after(&ts, w->linger_us);
			while (w->queued == 1 && !w->stopping &&
			       pthread_cond_timedwait(&w->work, &w->mu, &ts) != ETIMEDOUT)
				;
			if (!w->head)
				continue; /* its caller gave up waiting meanwhile */
		}
		int n = 0;
		while (w->head && n < w->batch_max) {
			struct db_unit *u = w->head;
			w->head = u->next;
			u->next = NULL;
			u->state = UNIT_RUNNING;
			batch[n++] = u;
		}
		if (!w->head)
			w->tail = NULL;
		w->queued -= n;
		w->busy = true;
		pthread_mutex_unlock(&w->mu);
		run_batch(db, batch, n);
		pthread_mutex_lock(&w->mu);
		w->busy = false;
		/* After this, a unit's memory belongs to its caller again. Only the callers of
		 * this batch are woken, not those still queued. */
		for (int k = 0; k < n; k++) {
			batch[k]->state = UNIT_DONE;
			pthread_cond_signal(&batch[k]->cv);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* Open the write connection and start the thread; under w->mu. */
static enum err writer_start(struct db *db)
{
	struct db_writer *w = &db->w;
	char msg[256];
	sigset_t all, old;
	enum err e = db_conn_create(db, &w->conn, msg, sizeof(msg));
	if (e) {
		log_error("db_write_unit", "cannot open the write connection: %s", msg);
		return e;
	}
	if (db->ops->writer_setup_sql &&
	    (e = db->ops->exec_script(w->conn, db->ops->writer_setup_sql, "writer setup"))) {
		db_conn_destroy(w->conn);
		w->conn = NULL;
		return e;
	}
	/* Signals belong to the threads that wait for them, never to the writer. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&w->thread, NULL, writer_main, db);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		log_error("db_write_unit", "cannot start the writer thread: %s", strerror(rc));
		db_conn_destroy(w->conn);
		w->conn = NULL;
		return ERR_INTERNAL;
	}
	pthread_setname_np(w->thread, "db-writer");
	w->started = true;
	return ERR_OK;
}

/* ---- PostgreSQL: the unit in its own transaction ---- */

static enum err unit_direct(struct db *db, enum err (*fn)(struct db_conn *c, void *ctx), void *ctx,
                            int wait_ms)
{
	struct db_writer *w = &db->w;
	struct db_conn *c = NULL;
	int64_t t0 = time_mono_ns();
	enum err e = db_acquire(db, wait_ms > 0 ? wait_ms : -1, &c);
	if (e)
		goto out;
	atomic_fetch_add(&w->wait_ns, (uint64_t)(time_mono_ns() - t0));
	if ((e = db_begin_write(c)))
		goto out;
	count_batch(w, 1);
	t0 = time_mono_ns();
	unit_of = db;
	e = fn(c, ctx);
	unit_of = NULL;
	atomic_fetch_add(&w->run_ns, (uint64_t)(time_mono_ns() - t0));
	if (e)
		goto out;
	t0 = time_mono_ns();
	e = db_commit(c);
	atomic_fetch_add(&w->commit_ns, (uint64_t)(time_mono_ns() - t0));
	if (e)
		atomic_fetch_add(&w->commit_failures, 1);
out:
	if (c && db->ops->in_tx(c))
		db_rollback(c);
	db_release(c);
	return e;
}

/* ---- the API ---- */

/* SQLite: queue the unit for the writer and wait for its result. */
static enum err unit_queued(struct db *db, enum err (*fn)(struct db_conn *c, void *ctx), void *ctx,
                            int wait_ms)
{
	struct db_writer *w = &db->w;
	struct db_unit u = {.fn = fn,
	                    .ctx = ctx,
	                    .trace = log_trace(),
	                    .submitted = time_mono_ns(),
	                    .state = UNIT_QUEUED};
	struct timespec deadline;
	pthread_condattr_t ca;
	enum err e = ERR_OK;
	if (wait_ms > 0)
		deadline_after(&deadline, (int64_t)wait_ms * 1000);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&u.cv, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		atomic_fetch_add(&w->units, 1);
		atomic_fetch_add(&w->failed, 1);
		return ERR_INTERNAL;
	}
	pthread_mutex_lock(&w->mu);
	if (w->stopping || (!w->started && (e = writer_start(db)))) {
		if (w->stopping)
			e = ERR_UNAVAILABLE;
		atomic_fetch_add(&w->units, 1);
		atomic_fetch_add(&w->failed, 1);
		pthread_mutex_unlock(&w->mu);
		pthread_cond_destroy(&u.cv);
		return e;
	}
	w->callers++;
	if (!w->busy && !w->head && w->linger_us == 0) {
		/* Nobody else is writing: run the unit on this thread, sparing the two thread
		 * switches of a hand-over (a clerk alone at the window pays no queueing). */
		struct db_unit *one = &u;
		w->busy = true;
		u.state = UNIT_RUNNING;
		pthread_mutex_unlock(&w->mu);
		run_batch(db, &one, 1);
		pthread_mutex_lock(&w->mu);
		w->busy = false;
		u.state = UNIT_DONE;
		if (w->head || w->stopping)
			pthread_cond_signal(&w->work);
		goto done;
	}
	if (w->tail)
		w->tail->next = &u;
	else
		w->head = &u;
	w->tail = &u;
	w->queued++;
	pthread_cond_signal(&w->work);
	while (u.state != UNIT_DONE) {
		if (u.state == UNIT_RUNNING || wait_ms <= 0) {
			pthread_cond_wait(&u.cv, &w->mu);
			continue;
		}
		if (pthread_cond_timedwait(&u.cv, &w->mu, &deadline) == ETIMEDOUT &&
		    u.state == UNIT_QUEUED) {
			/* Not started: take it out of the queue; fn never runs. */
			struct db_unit **pp = &w->head, *prev = NULL;
			while (*pp != &u) {
				prev = *pp;
				pp = &(*pp)->next;
			}
			*pp = u.next;
			if (w->tail == &u)
				w->tail = prev;
			w->queued--;
			u.result = ERR_DB_BUSY;
			log_warn("db_write_unit", "a write unit waited %d ms without starting",
			         wait_ms);
			break;
		}
	}
done:
	e = u.result;
	/* Counted before leaving: db_close may free w once callers drops to 0. */
	atomic_fetch_add(&w->units, 1);
	if (e)
		atomic_fetch_add(&w->failed, 1);
	if (--w->callers == 0 && w->stopping)
		pthread_cond_broadcast(&w->done);
	pthread_mutex_unlock(&w->mu);
	pthread_cond_destroy(&u.cv);
	return e;
}

enum err db_write_unit(struct db *db, enum err (*fn)(struct db_conn *c, void *ctx), void *ctx,
                       int wait_ms)
{
	struct db_writer *w = &db->w;
	if (unit_of == db) {
		assert(!"db_write_unit called from inside a write unit");
		return ERR_INTERNAL;
	}
	if (db->ops->group_commit)
		return unit_queued(db, fn, ctx, wait_ms);
	enum err e = unit_direct(db, fn, ctx, wait_ms);
	atomic_fetch_add(&w->units, 1);
	if (e)
		atomic_fetch_add(&w->failed, 1);
	return e;
}

void db_write_tune(struct db *db, int batch_max, int linger_us)
{
	struct db_writer *w = &db->w;
	pthread_mutex_lock(&w->mu);
	w->batch_max = batch_max < 1                 ? 1
	               : batch_max > BATCH_MAX_LIMIT ? BATCH_MAX_LIMIT
	                                             : batch_max;
	w->linger_us = linger_us < 0 ? 0 : linger_us > LINGER_MAX_US ? LINGER_MAX_US : linger_us;
	pthread_mutex_unlock(&w->mu);
}

/* ---- lifecycle and counters ---- */

enum err db_writer_init(struct db *db)
{
	struct db_writer *w = &db->w;
	pthread_condattr_t ca;
	memset(w, 0, sizeof(*w));
	w->batch_max = BATCH_MAX_DEFAULT;
	if (pthread_mutex_init(&w->mu, NULL) != 0)
		return ERR_INTERNAL;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&w->work, &ca);
	if (rc == 0 && (rc = pthread_cond_init(&w->done, &ca)) != 0)
		pthread_cond_destroy(&w->work);
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		pthread_mutex_destroy(&w->mu);
		return ERR_INTERNAL;
	}
	return ERR_OK;
}

void db_writer_stop(struct db *db)
{
	struct db_writer *w = &db->w;
	pthread_mutex_lock(&w->mu);
	w->stopping = true;
	pthread_cond_broadcast(&w->work);
	bool started = w->started;
	pthread_mutex_unlock(&w->mu);
	if (started)
		pthread_join(w->thread, NULL);
	pthread_mutex_lock(&w->mu);
	/* Callers woken by the last batch may still be on their way out. */
	while (w->callers)
		pthread_cond_wait(&w->done, &w->mu);
	w->started = false;
	pthread_mutex_unlock(&w->mu);
	db_conn_destroy(w->conn);
	w->conn = NULL;
	pthread_cond_destroy(&w->work);
	pthread_cond_destroy(&w->done);
	pthread_mutex_destroy(&w->mu);
}

void db_writer_stats(struct db *db, struct db_stats *out)
{
	struct db_writer *w = &db->w;
	out->wu_units = atomic_load(&w->units);
	out->wu_failed = atomic_load(&w->failed);
	out->wu_batches = atomic_load(&w->batches);
	out->wu_batch_units = atomic_load(&w->batch_units);
	out->wu_commit_failures = atomic_load(&w->commit_failures);
	out->wu_wait_ns = atomic_load(&w->wait_ns);
	out->wu_run_ns = atomic_load(&w->run_ns);
	out->wu_commit_ns = atomic_load(&w->commit_ns);
	for (int k = 0; k < DB_WRITE_BATCH_BUCKETS; k++)
		out->wu_batch_hist[k] = atomic_load(&w->hist[k]);
	out->wu_batch_max = atomic_load(&w->batch_top);
	pthread_mutex_lock(&w->mu);
	out->wu_queued = w->queued;
	pthread_mutex_unlock(&w->mu);
}
