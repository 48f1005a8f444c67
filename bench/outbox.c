/* bench/outbox.c: throughput of the transactional outbox (prints figures; never a test).
 *
 *   bench_outbox [events]          SQLite in $SHOULI_TEST_TMP (or /tmp), default 20000 events
 *   SHOULI_TEST_PG=... bench_outbox   the same on PostgreSQL too (a schema of its own)
 *
 * Scenarios, each on an empty table, handler = no-op (measures the outbox, not a receiver):
 *   drain: a backlog of N events enqueued beforehand (500 per transaction) is delivered by
 *          2 workers, batch 8 (the default) and batch 32; events/s = N / time to empty;
 *   live:  one producer commits one event per transaction and calls outbox_notify, while 2
 *          workers deliver; reports the producer's commit rate and the mean enqueue-to-done
 *          lag. */
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/id.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "events/events.h"
#include "server/server.h"

struct counter {
	atomic_long n;
};

static enum err noop_deliver(void *ctx, struct server *srv, const struct outbox_event *ev,
                             char *errmsg, size_t errmsg_sz)
{
	struct counter *k = ctx;
	atomic_fetch_add(&k->n, 1);
	return ERR_OK;
}

static int fail(const char *what, enum err e)
{
	fprintf(stderr, "bench_outbox: %s failed (%s)\n", what, err_code(e));
	return 1;
}

static enum err sql(struct db *db, const char *text)
{
	struct db_conn *c = NULL;
	enum err e = db_acquire(db, 5000, &c);
	if (!e)
		e = db_exec(c, NULL, NULL, text, "");
	db_release(c);
	return e;
}

static enum err fill(struct db *db, long n)
{
	struct db_conn *c = NULL;
	struct arena a;
	char payload[64];
	enum err e = db_acquire(db, 5000, &c);
	arena_init(&a, 0);
	for (long k = 0; !e && k < n; k++) {
		if (k % 500 == 0)
			e = db_begin_write(c);
		snprintf(payload, sizeof(payload), "{\"n\":%ld}", k);
		if (!e)
			e = outbox_enqueue(c, &a, "bench", "bench:1", payload, NULL, NULL);
		if (!e && (k % 500 == 499 || k == n - 1))
			e = db_commit(c);
		if (k % 500 == 499)
			arena_release(&a);
	}
	if (c)
		db_release(c);
	arena_release(&a);
	return e;
}

static void wait_for(struct counter *k, long n, int64_t limit_ns)
{
	int64_t t0 = time_mono_ns();
	while (atomic_load(&k->n) < n && time_mono_ns() - t0 < limit_ns)
		usleep(2000);
}

static int drain(struct server *srv, const char *engine, long n, int batch)
{
	struct outbox *o = NULL;
	struct counter k = {0};
	struct outbox_config cfg = {.workers = 2, .batch = batch, .poll_ms = 50};
	enum err e;
	if ((e = sql(srv->db, "DELETE FROM events")) || (e = fill(srv->db, n)))
		return fail("filling the backlog", e);
	if ((e = outbox_create(srv, &cfg, &o)) ||
	    (e = outbox_register(o, "bench", noop_deliver, &k, NULL)))
		return fail("outbox setup", e);
	int64_t t0 = time_mono_ns();
	if ((e = outbox_start(o)))
		return fail("outbox_start", e);
	wait_for(&k, n, 300 * 1000000000LL);
	double s = (double)(time_mono_ns() - t0) / 1e9;
	outbox_destroy(o);
	printf("%-8s drain  2 workers batch %-3d %7ld events in %6.2f s = %8.0f events/s%s\n",
	       engine, batch, atomic_load(&k.n), s, (double)atomic_load(&k.n) / s,
	       atomic_load(&k.n) < n ? "  (INCOMPLETE: stopped after 300 s)" : "");
	return 0;
}

static int live(struct server *srv, const char *engine, long n)
{
	struct outbox *o = NULL;
	struct counter k = {0};
	struct outbox_config cfg = {.workers = 2};
	struct db_conn *c = NULL;
	struct arena a;
	struct buf m;
	enum err e;
	if ((e = sql(srv->db, "DELETE FROM events")))
		return fail("emptying the table", e);
	if ((e = outbox_create(srv, &cfg, &o)) ||
	    (e = outbox_register(o, "bench", noop_deliver, &k, NULL)) || (e = outbox_start(o)))
		return fail("outbox setup", e);
	arena_init(&a, 0);
	int64_t t0 = time_mono_ns();
	for (long i = 0; !e && i < n; i++) {
		if (!(e = db_acquire(srv->db, 5000, &c))) {
			e = db_begin_write(c);
			if (!e)
				e = outbox_enqueue(c, &a, "bench", "bench:2", "{}", NULL, NULL);
			if (!e)
				e = db_commit(c);
			db_release(c);
		}
		outbox_notify(o);
		arena_release(&a);
	}
	double produce_s = (double)(time_mono_ns() - t0) / 1e9;
	wait_for(&k, n, 120 * 1000000000LL);
	double total_s = (double)(time_mono_ns() - t0) / 1e9;
	buf_init(&m, 1 << 20);
	outbox_metrics(o, &m);
	outbox_destroy(o);
	if (e)
		return fail("producing", e);
	/* Mean lag from the metrics text: the outbox's own accounting. */
	double lag_sum = 0, lag_n = 0;
	const char *p = m.p ? strstr(m.p, "shouli_outbox_lag_seconds_sum ") : NULL;
	if (p)
		lag_sum = strtod(p + strlen("shouli_outbox_lag_seconds_sum "), NULL);
	p = m.p ? strstr(m.p, "shouli_outbox_lag_seconds_count ") : NULL;
	if (p)
		lag_n = strtod(p + strlen("shouli_outbox_lag_seconds_count "), NULL);
	buf_release(&m);
	printf("%-8s live   1 producer (1 event/commit) %ld events: %6.0f commits/s, all delivered "
	       "after %.2f s, mean lag %.1f ms\n",
	       engine, n, (double)n / produce_s, total_s, lag_n > 0 ? lag_sum / lag_n * 1e3 : -1.0);
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int run(const char *url, const char *engine, long n)
{
	struct server srv;
	char msg[512] = "", migdir[600];
	const char *src = getenv("SHOULI_SOURCE_DIR");
	int rc = 1;
	memset(&srv, 0, sizeof(srv));
	snprintf(migdir, sizeof(migdir), "%s/migrations", src && *src ? src : ".");
	if (db_open(url, 8, &srv.db, msg, sizeof(msg)) ||
	    db_migrate(srv.db, migdir, msg, sizeof(msg))) {
		fprintf(stderr,
		        "bench_outbox: %s (run from the source tree or set "
		        "SHOULI_SOURCE_DIR)\n",
		        msg);
		goto out;
	}
	rc = drain(&srv, engine, n, 8) || drain(&srv, engine, n, 32) ||
	     live(&srv, engine, n / 10 > 2000 ? 2000 : n / 10);
out:
	db_close(srv.db);
	return rc;
}

static enum err pg_admin(const char *base, const char *text)
{
	char url[700], msg[256];
	struct db *db = NULL;
	snprintf(url, sizeof(url), "postgres:%s", base);
	enum err e = db_open(url, 1, &db, msg, sizeof(msg));
	if (!e)
		e = sql(db, text);
	db_close(db);
	return e;
}

int main(int argc, char **argv)
{
	int64_t n = 20000;
	int rc = 0;
	char hex[9], dir[512], url[1024], text[200];
	const char *tmp = getenv("SHOULI_TEST_TMP");
	const char *pg = getenv("SHOULI_TEST_PG");
	if (argc > 1 && !cstr_to_i64(argv[1], 100, 10000000, &n)) {
		fprintf(stderr, "usage: bench_outbox [events 100..10000000]\n");
		return 2;
	}
	log_setup(LOG_WARN, stderr);
	if (id_random_hex(hex, 4))
		return 1;
	snprintf(dir, sizeof(dir), "%s/bench-outbox-%s", tmp && *tmp ? tmp : "/tmp", hex);
	if (mkdir(dir, 0700) != 0) {
		fprintf(stderr, "bench_outbox: cannot create %s\n", dir);
		return 1;
	}
	snprintf(url, sizeof(url), "sqlite:%s/outbox.db", dir);
	rc |= run(url, "sqlite", (long)n);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	if (pg && *pg) {
		char schema[64];
		snprintf(schema, sizeof(schema), "bench_outbox_%s", hex);
		snprintf(text, sizeof(text), "CREATE SCHEMA %s", schema);
		if (pg_admin(pg, text)) {
			fprintf(stderr, "bench_outbox: cannot create schema on PostgreSQL\n");
			return 1;
		}
		snprintf(url, sizeof(url), "postgres:%s options='-csearch_path=%s'", pg, schema);
		rc |= run(url, "postgres", (long)n);
		snprintf(text, sizeof(text), "DROP SCHEMA %s CASCADE", schema);
		pg_admin(pg, text);
	}
	return rc;
}
