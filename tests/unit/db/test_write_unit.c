/* test_write_unit.c: group commit (db_write_unit) on SQLite and, when SHOULI_TEST_PG holds a
 * libpq conninfo (scripts/pg-test.sh), on PostgreSQL, each pass on a fresh database of the
 * shared fixture (tests/unit/common/db_fixture.h; no migrations: the tests make their own
 * tables).
 *
 * On SQLite a "gate" unit holds the writer until the other units are queued, so that they
 * run as one batch whatever the scheduler does: failures inside a batch, a failed COMMIT and
 * queue timeouts are then deterministic. The audit chain test runs the real audit_append
 * (migrations/0003_audit.sql, found through SHOULI_SOURCE_DIR) inside units. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "audit/audit.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"

#include "../common/db_fixture.h"

/* ---- fixture: dbfx (tests/unit/common/db_fixture.h) and the tables of the tests ---- */

static const char schema_sql[][200] = {
    "CREATE TABLE w (thread INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (thread, n))",
    "CREATE TABLE counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)",
    "INSERT INTO counter (id, n) VALUES (1, 0)",
    /* an audit-like chain: every link names the one before it */
    "CREATE TABLE head (id INTEGER PRIMARY KEY, last_n BIGINT NOT NULL, last_hash BIGINT NOT "
    "NULL)",
    "INSERT INTO head (id, last_n, last_hash) VALUES (1, 0, 0)",
    "CREATE TABLE chain (n BIGINT PRIMARY KEY, prev BIGINT NOT NULL, hash BIGINT NOT NULL,"
    " payload BIGINT NOT NULL)",
    /* COMMIT checks deferred foreign keys: a way to make a commit fail */
    "CREATE TABLE parent (id INTEGER PRIMARY KEY)",
    "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id)"
    " DEFERRABLE INITIALLY DEFERRED)",
};

static int group_setup(void **state)
{
	struct db_conn *c = NULL;
	if (dbfx_setup(state))
		return -1;
	if (db_acquire(dbfx.srv.db, 2000, &c))
		goto fail;
	for (size_t k = 0; k < sizeof(schema_sql) / sizeof(schema_sql[0]); k++)
		if (db_exec(c, NULL, NULL, schema_sql[k], "")) {
			fprintf(stderr, "db_write: cannot create the test tables (%s)\n",
			        dbfx.engine);
			goto fail;
		}
	db_release(c);
	return 0;
fail:
	db_release(c);
	dbfx_teardown(state);
	return -1;
}

static int group_teardown(void **state)
{
	return dbfx_teardown(state);
}

static int64_t scalar(const char *sql)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct arena a;
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_exec(c, &a, &rs, sql, ""), ERR_OK);
	assert_int_equal(rs->nrows, 1);
	int64_t v = db_int(rs, 0, 0);
	db_release(c);
	arena_release(&a);
	return v;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- units ---- */

enum kind {
	K_OK,        /* insert (thread, n), bump the counter */
	K_FAIL,      /* insert, bump, then fail: nothing may remain */
	K_DUP,       /* insert, then the same row again: a unique violation */
	K_DUP_OTHER, /* insert the row another unit of the batch inserted first */
	K_FK_COMMIT, /* a child without parent: fails only at COMMIT */
};

/* U(kind, thread, n) and U2(kind, thread, n, other_thread, other_n) */
#define U(k, t, m)                                                                                 \
	{                                                                                          \
		.kind = (k), .thread = (t), .n = (m)                                               \
	}
#define U2(k, t, m, ot, on)                                                                        \
	{                                                                                          \
		.kind = (k), .thread = (t), .n = (m), .other_thread = (ot), .other_n = (on)        \
	}

struct unit {
	enum kind kind;
	int thread, n;
	int other_thread, other_n; /* K_DUP_OTHER */
	int ran;                   /* fn calls */
	enum err result;
};

static enum err insert_row(struct db_conn *c, int thread, int n)
{
	return db_exec(c, NULL, NULL, "INSERT INTO w (thread, n) VALUES (?, ?)", "ii",
	               (int64_t)thread, (int64_t)n);
}

static enum err unit_fn(struct db_conn *c, void *ctx)
{
	struct unit *u = ctx;
	enum err e;
	u->ran++;
	if (u->kind == K_FK_COMMIT)
		return db_exec(c, NULL, NULL, "INSERT INTO child (id, parent_id) VALUES (?, ?)",
		               "ii", (int64_t)u->n, (int64_t)(1000000 + u->n));
	if ((e = insert_row(c, u->thread, u->n)) ||
	    (e = db_exec(c, NULL, NULL, "UPDATE counter SET n = n + 1 WHERE id = 1", "")))
		return e;
	switch (u->kind) {
	case K_FAIL: return ERR_BAD_FIELD;
	case K_DUP: return insert_row(c, u->thread, u->n);
	case K_DUP_OTHER: return insert_row(c, u->other_thread, u->other_n);
	default: return ERR_OK;
	}
}

/* Holds the writer until `want` further units are queued (or a second passed). */
struct gate {
	int want;
	atomic_bool open; /* set by the test to let the gate end early */
	atomic_int ran;   /* polled by the test while the gate runs */
};

static enum err gate_fn(struct db_conn *c, void *ctx)
{
	struct gate *g = ctx;
	struct db_stats s;
	(void)c;
	atomic_fetch_add(&g->ran, 1);
	for (int k = 0; k < 2000 && !atomic_load(&g->open); k++) {
		db_stats_get(dbfx.srv.db, &s);
		if (s.wu_queued >= g->want)
			break;
		sleep_ms(1);
	}
	return ERR_OK;
}

struct submit {
	struct unit *u;
	int wait_ms;
	pthread_t th;
};

static void *submit_main(void *arg)
{
	struct submit *s = arg;
	s->u->result = db_write_unit(dbfx.srv.db, unit_fn, s->u, s->wait_ms);
	return NULL;
}

static void *gate_main(void *arg)
{
	struct gate *g = arg;
	enum err e = db_write_unit(dbfx.srv.db, gate_fn, g, 0);
	return (void *)(intptr_t)e;
}

/* Run units[0..n) at once; on SQLite as one batch behind a gate. */
static void run_together(struct unit *units, int n)
{
	struct submit *s = calloc((size_t)n, sizeof(*s));
	struct gate g = {.want = n};
	pthread_t gt;
	assert_non_null(s);
	if (!dbfx.pg) {
		assert_int_equal(pthread_create(&gt, NULL, gate_main, &g), 0);
		/* the gate first: it must be the unit the writer is running */
		for (int k = 0; k < 2000 && !atomic_load(&g.ran); k++)
			sleep_ms(1);
		assert_int_equal(atomic_load(&g.ran), 1);
	}
	for (int k = 0; k < n; k++) {
		s[k].u = &units[k];
		s[k].wait_ms = 10000;
		assert_int_equal(pthread_create(&s[k].th, NULL, submit_main, &s[k]), 0);
		/* in submission order, so that a K_DUP_OTHER follows the unit it collides with */
		if (!dbfx.pg) {
			struct db_stats st;
			for (int t = 0; t < 2000; t++) {
				db_stats_get(dbfx.srv.db, &st);
				if (st.wu_queued > k)
					break;
				sleep_ms(1);
			}
		} else {
			pthread_join(s[k].th, NULL);
		}
	}
	if (!dbfx.pg) {
		void *ge = NULL;
		pthread_join(gt, &ge);
		assert_int_equal((intptr_t)ge, ERR_OK);
		for (int k = 0; k < n; k++)
			pthread_join(s[k].th, NULL);
	}
	free(s);
}

static int64_t rows_of(int thread, int n)
{
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM w WHERE thread = %d AND n = %d", thread,
	         n);
	return scalar(sql);
}

/* ---- scenarios ---- */

/* Failing units inside one batch: each gets its own error, its changes are undone, and the
 * other units of the batch are committed. */
static void test_failures_inside_batch(void **state)
{
	(void)state;
	struct unit u[10] = {
	    U(K_OK, 100, 1),  U(K_FAIL, 100, 2), U(K_OK, 100, 3),
	    U(K_DUP, 100, 4), U(K_OK, 100, 5),   U2(K_DUP_OTHER, 100, 6, 100, 5),
	    U(K_OK, 100, 7),  U(K_FAIL, 100, 8), U2(K_DUP_OTHER, 100, 9, 100, 1),
	    U(K_OK, 100, 10),
	};
	struct db_stats s0, s1;
	int64_t c0 = scalar("SELECT n FROM counter WHERE id = 1");
	db_stats_get(dbfx.srv.db, &s0);
	run_together(u, 10);
	db_stats_get(dbfx.srv.db, &s1);
	int ok = 0;
	for (int k = 0; k < 10; k++) {
		assert_int_equal(u[k].ran, 1);
		switch (u[k].kind) {
		case K_OK:
			assert_int_equal(u[k].result, ERR_OK);
			assert_int_equal(rows_of(100, u[k].n), 1);
			ok++;
			break;
		case K_FAIL:
			assert_int_equal(u[k].result, ERR_BAD_FIELD);
			assert_int_equal(rows_of(100, u[k].n), 0);
			break;
		default:
			/* the row of another unit of the same batch is seen before the commit */
			assert_int_equal(u[k].result, ERR_EXISTS);
			assert_int_equal(rows_of(100, u[k].n), 0);
			break;
		}
	}
	assert_int_equal(scalar("SELECT count(*) FROM w WHERE thread = 100"), ok);
	assert_int_equal(scalar("SELECT n FROM counter WHERE id = 1"), c0 + ok);
	assert_int_equal(s1.wu_units - s0.wu_units, dbfx.pg ? 10 : 11);
	assert_int_equal(s1.wu_failed - s0.wu_failed, 10 - ok);
	if (!dbfx.pg) {
		/* the gate's batch, then the ten units in one transaction with one commit */
		assert_int_equal(s1.wu_batches - s0.wu_batches, 2);
		assert_true(s1.wu_batch_max >= 10);
		assert_int_equal(s1.wu_batch_hist[4] - s0.wu_batch_hist[4], 1); /* 9..16 */
		assert_int_equal(s1.wu_batch_units - s0.wu_batch_units, 11);
	} else {
		assert_int_equal(s1.wu_batches - s0.wu_batches, 10);
	}
}

/* A COMMIT that fails fails every unit of its batch (SQLite) and stores none of them; on
 * PostgreSQL only the unit whose commit failed. The writer goes on afterwards. */
static void test_failed_commit(void **state)
{
	(void)state;
	struct unit u[4] = {
	    U(K_OK, 200, 1),
	    U(K_FK_COMMIT, 200, 2),
	    U(K_OK, 200, 3),
	    U(K_FAIL, 200, 4),
	};
	struct db_stats s0, s1;
	int64_t c0 = scalar("SELECT n FROM counter WHERE id = 1");
	db_stats_get(dbfx.srv.db, &s0);
	run_together(u, 4);
	db_stats_get(dbfx.srv.db, &s1);
	assert_int_equal(s1.wu_commit_failures - s0.wu_commit_failures, 1);
	assert_int_equal(u[3].result, ERR_BAD_FIELD);
	assert_int_not_equal(u[1].result, ERR_OK);
	assert_int_equal(scalar("SELECT count(*) FROM child"), 0);
	if (!dbfx.pg) {
		assert_int_not_equal(u[0].result, ERR_OK);
		assert_int_not_equal(u[2].result, ERR_OK);
		assert_int_equal(scalar("SELECT count(*) FROM w WHERE thread = 200"), 0);
		assert_int_equal(scalar("SELECT n FROM counter WHERE id = 1"), c0);
	} else {
		assert_int_equal(u[0].result, ERR_OK);
		assert_int_equal(u[2].result, ERR_OK);
		assert_int_equal(scalar("SELECT count(*) FROM w WHERE thread = 200"), 2);
		assert_int_equal(scalar("SELECT n FROM counter WHERE id = 1"), c0 + 2);
	}
	/* and the next unit commits */
	struct unit after = U(K_OK, 200, 5);
	assert_int_equal(db_write_unit(dbfx.srv.db, unit_fn, &after, 1000), ERR_OK);
	assert_int_equal(rows_of(200, 5), 1);
}

/* Many threads, many units, some failing: every successful unit is stored once, no failed
 * one is, and the results each caller got match the rows. */
#define THREADS    8
#define PER_THREAD 150

struct worker {
	int thread;
	int ok, failed;
	enum err bad; /* an unexpected result, ERR_OK when none */
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (int n = 0; n < PER_THREAD; n++) {
		struct unit u = {.kind = n % 7 == 3    ? K_FAIL
		                         : n % 11 == 5 ? K_DUP
		                                       : K_OK,
		                 .thread = w->thread,
		                 .n = n};
		enum err e = db_write_unit(dbfx.srv.db, unit_fn, &u, 10000);
		enum err want = u.kind == K_OK     ? ERR_OK
		                : u.kind == K_FAIL ? ERR_BAD_FIELD
		                                   : ERR_EXISTS;
		if (e != want || u.ran != 1)
			w->bad = e ? e : ERR_INTERNAL;
		if (e)
			w->failed++;
		else
			w->ok++;
	}
	return NULL;
}

static void test_many_threads(void **state)
{
	(void)state;
	struct worker w[THREADS];
	pthread_t th[THREADS];
	struct db_stats s0, s1;
	struct arena a;
	struct db_rows *rs = NULL;
	struct db_conn *c = NULL;
	int64_t c0 = scalar("SELECT n FROM counter WHERE id = 1");
	int ok = 0;
	db_stats_get(dbfx.srv.db, &s0);
	for (int k = 0; k < THREADS; k++) {
		w[k] = (struct worker){.thread = k};
		assert_int_equal(pthread_create(&th[k], NULL, worker_main, &w[k]), 0);
	}
	for (int k = 0; k < THREADS; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(w[k].bad, ERR_OK);
		ok += w[k].ok;
	}
	db_stats_get(dbfx.srv.db, &s1);
	assert_int_equal(s1.wu_units - s0.wu_units, THREADS * PER_THREAD);
	assert_int_equal(s1.wu_failed - s0.wu_failed, THREADS * PER_THREAD - ok);
	assert_int_equal(s1.wu_batch_units - s0.wu_batch_units, THREADS * PER_THREAD);
	assert_int_equal(scalar("SELECT count(*) FROM w WHERE thread < 100"), ok);
	assert_int_equal(scalar("SELECT n FROM counter WHERE id = 1"), c0 + ok);
	/* exactly the rows of the units that succeeded */
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_exec(c, &a, &rs, "SELECT thread, n FROM w WHERE thread < 100", ""),
	                 ERR_OK);
	for (int r = 0; r < rs->nrows; r++) {
		int n = (int)db_int(rs, r, 1);
		assert_true(n % 7 != 3 && n % 11 != 5);
	}
	db_release(c);
	arena_release(&a);
	if (!dbfx.pg)
		/* eight clerks at once share commits */
		assert_true(s1.wu_batches - s0.wu_batches < (uint64_t)(THREADS * PER_THREAD));
	print_message("[ info ] %s: %llu units in %llu transactions, largest batch %d\n",
	              dbfx.engine, (unsigned long long)(s1.wu_batch_units - s0.wu_batch_units),
	              (unsigned long long)(s1.wu_batches - s0.wu_batches), s1.wu_batch_max);
}

/* A hash chain appended through a head row (like the audit log) stays gap-free and linked
 * when units of one batch interleave with failing ones. */
struct link {
	int64_t payload;
	bool fail_after;
	enum err result;
};

static uint64_t mix(uint64_t prev, uint64_t n, uint64_t payload)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	uint64_t v[3] = {prev, n, payload};
	for (int k = 0; k < 3; k++) {
		h ^= v[k];
		h *= 0x100000001b3ULL;
	}
	return h & 0x7fffffffffffffffULL;
}

static enum err link_fn(struct db_conn *c, void *ctx)
{
	struct link *l = ctx;
	struct db_rows *rs = NULL;
	struct arena a;
	enum err e;
	arena_init(&a, 0);
	if ((e = db_exec(c, NULL, NULL, "UPDATE head SET last_n = last_n WHERE id = 1", "")) ||
	    (e = db_exec(c, &a, &rs, "SELECT last_n, last_hash FROM head WHERE id = 1", "")))
		goto out;
	int64_t n = db_int(rs, 0, 0) + 1, prev = db_int(rs, 0, 1);
	int64_t h = (int64_t)mix((uint64_t)prev, (uint64_t)n, (uint64_t)l->payload);
	if ((e = db_exec(c, NULL, NULL,
	                 "INSERT INTO chain (n, prev, hash, payload) VALUES (?, ?, ?, ?)", "iiii",
	                 n, prev, h, l->payload)) ||
	    (e = db_exec(c, NULL, NULL, "UPDATE head SET last_n = ?, last_hash = ? WHERE id = 1",
	                 "ii", n, h)))
		goto out;
	if (l->fail_after)
		e = ERR_CONFLICT;
out:
	arena_release(&a);
	return e;
}

#define CHAIN_THREADS 6
#define CHAIN_EACH    80

static void *chain_main(void *arg)
{
	int t = (int)(intptr_t)arg, bad = 0;
	for (int k = 0; k < CHAIN_EACH; k++) {
		struct link l = {.payload = t * 1000 + k, .fail_after = k % 5 == 2};
		enum err e = db_write_unit(dbfx.srv.db, link_fn, &l, 10000);
		if (e != (l.fail_after ? ERR_CONFLICT : ERR_OK))
			bad++;
	}
	return (void *)(intptr_t)bad;
}

static void test_chain(void **state)
{
	(void)state;
	pthread_t th[CHAIN_THREADS];
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct arena a;
	for (int t = 0; t < CHAIN_THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, chain_main, (void *)(intptr_t)t), 0);
	for (int t = 0; t < CHAIN_THREADS; t++) {
		void *bad = NULL;
		pthread_join(th[t], &bad);
		assert_int_equal((intptr_t)bad, 0);
	}
	int want = CHAIN_THREADS * (CHAIN_EACH - CHAIN_EACH / 5);
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(
	    db_exec(c, &a, &rs, "SELECT n, prev, hash, payload FROM chain ORDER BY n", ""), ERR_OK);
	assert_int_equal(rs->nrows, want);
	int64_t prev = 0;
	for (int r = 0; r < rs->nrows; r++) {
		assert_int_equal(db_int(rs, r, 0), r + 1);
		assert_int_equal(db_int(rs, r, 1), prev);
		int64_t payload = db_int(rs, r, 3);
		assert_int_not_equal(payload % 1000 % 5, 2); /* no failed unit's link */
		prev = (int64_t)mix((uint64_t)prev, (uint64_t)(r + 1), (uint64_t)payload);
		assert_int_equal(db_int(rs, r, 2), prev);
	}
	assert_int_equal(db_exec(c, &a, &rs, "SELECT last_n, last_hash FROM head", ""), ERR_OK);
	assert_int_equal(db_int(rs, 0, 0), want);
	assert_int_equal(db_int(rs, 0, 1), prev);
	db_release(c);
	arena_release(&a);
}

/* The real audit chain (audit_append through audit_head) appended by units of many threads,
 * some of which fail after appending: the chain verifies, has no gap, and holds exactly the
 * entries of the units that succeeded. */
struct audited {
	int thread, n;
	enum kind kind; /* K_OK, K_FAIL (fails after its entry), K_DUP (unique violation after) */
};

static enum err audited_fn(struct db_conn *c, void *ctx)
{
	struct audited *x = ctx;
	struct arena a;
	char target[64];
	enum err e;
	arena_init(&a, 0);
	snprintf(target, sizeof(target), "unit:%d:%d", x->thread, x->n);
	struct audit_entry ae = {.actor_name = "test",
	                         .action = x->kind == K_OK ? "test.ok" : "test.failed",
	                         .target = target};
	if ((e = audit_append(c, &a, &ae)) || (e = insert_row(c, 500 + x->thread, x->n)))
		goto out;
	if (x->kind == K_FAIL)
		e = ERR_BAD_FIELD;
	else if (x->kind == K_DUP)
		e = insert_row(c, 500 + x->thread, x->n);
out:
	arena_release(&a);
	return e;
}

#define AUDIT_THREADS 6
#define AUDIT_EACH    60

static void *audited_main(void *arg)
{
	int t = (int)(intptr_t)arg, bad = 0;
	for (int n = 0; n < AUDIT_EACH; n++) {
		struct audited x = {.thread = t,
		                    .n = n,
		                    .kind = n % 4 == 1   ? K_FAIL
		                            : n % 9 == 4 ? K_DUP
		                                         : K_OK};
		enum err e = db_write_unit(dbfx.srv.db, audited_fn, &x, 10000);
		enum err want = x.kind == K_OK     ? ERR_OK
		                : x.kind == K_FAIL ? ERR_BAD_FIELD
		                                   : ERR_EXISTS;
		if (e != want)
			bad++;
	}
	return (void *)(intptr_t)bad;
}

static void test_audit_chain(void **state)
{
	(void)state;
	char migdir[600], src[700], msg[256];
	pthread_t th[AUDIT_THREADS];
	int ok = 0;
	const char *root = getenv("SHOULI_SOURCE_DIR");
	if (!root || !*root)
		skip();
	assert_int_equal(crypto_init(), ERR_OK);
	/* only the audit migration, copied into a directory of its own */
	snprintf(migdir, sizeof(migdir), "%s/audit-migrations", dbfx.root);
	assert_int_equal(mkdir(migdir, 0700), 0); /* under dbfx.root, which exists */
	snprintf(src, sizeof(src), "%s/migrations/0003_audit.sql", root);
	FILE *in = fopen(src, "rb");
	assert_non_null(in);
	snprintf(src, sizeof(src), "%s/0003_audit.sql", migdir);
	FILE *out = fopen(src, "wb");
	assert_non_null(out);
	char buf[4096];
	size_t got;
	while ((got = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, got, out), got);
	fclose(in);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(db_migrate(dbfx.srv.db, migdir, msg, sizeof(msg)), ERR_OK);

	for (int t = 0; t < AUDIT_THREADS; t++)
		assert_int_equal(pthread_create(&th[t], NULL, audited_main, (void *)(intptr_t)t),
		                 0);
	for (int t = 0; t < AUDIT_THREADS; t++) {
		void *bad = NULL;
		pthread_join(th[t], &bad);
		assert_int_equal((intptr_t)bad, 0);
	}
	for (int n = 0; n < AUDIT_EACH; n++)
		ok += n % 4 != 1 && n % 9 != 4;
	ok *= AUDIT_THREADS;
	int64_t checked = 0, first_bad = 0;
	assert_int_equal(audit_verify(dbfx.srv.db, &checked, &first_bad, msg, sizeof(msg)), ERR_OK);
	assert_int_equal(checked, ok);
	assert_int_equal(first_bad, 0);
	assert_int_equal(scalar("SELECT count(*) FROM audit_log"), ok);
	assert_int_equal(scalar("SELECT count(*) FROM audit_log WHERE action <> 'test.ok'"), 0);
	assert_int_equal(scalar("SELECT max(id) FROM audit_log"), ok);
	assert_int_equal(scalar("SELECT last_id FROM audit_head"), ok);
	assert_int_equal(scalar("SELECT count(*) FROM w WHERE thread >= 500"), ok);
}

/* A unit that does not start within wait_ms gives up without running (SQLite: the writer is
 * busy with another unit). */
static void test_queue_timeout(void **state)
{
	(void)state;
	if (dbfx.pg)
		skip();
	struct gate g = {.want = 1000};
	pthread_t gt;
	assert_int_equal(pthread_create(&gt, NULL, gate_main, &g), 0);
	for (int k = 0; k < 2000 && !atomic_load(&g.ran); k++)
		sleep_ms(1);
	struct unit u = U(K_OK, 300, 1);
	int64_t t0 = time_mono_ns();
	assert_int_equal(db_write_unit(dbfx.srv.db, unit_fn, &u, 50), ERR_DB_BUSY);
	int64_t took = (time_mono_ns() - t0) / 1000000;
	assert_true(took >= 45 && took < 900);
	assert_int_equal(u.ran, 0);
	atomic_store(&g.open, true);
	void *ge = NULL;
	pthread_join(gt, &ge);
	assert_int_equal((intptr_t)ge, ERR_OK);
	struct db_stats s;
	db_stats_get(dbfx.srv.db, &s);
	assert_int_equal(s.wu_queued, 0);
	assert_int_equal(rows_of(300, 1), 0);
	/* the writer is free again */
	assert_int_equal(db_write_unit(dbfx.srv.db, unit_fn, &u, 1000), ERR_OK);
	assert_int_equal(u.ran, 1);
	assert_int_equal(rows_of(300, 1), 1);
}

/* The metrics text names the write-unit series. */
static void test_metrics(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 1 << 20);
	db_metrics(dbfx.srv.db, &b);
	assert_non_null(b.p);
	assert_non_null(strstr(b.p, "shouli_db_write_units_total{result=\"committed\"} "));
	assert_non_null(strstr(b.p, "shouli_db_write_batch_units_bucket{le=\"64\"} "));
	assert_non_null(strstr(b.p, "shouli_db_write_batch_units_bucket{le=\"+Inf\"} "));
	assert_non_null(strstr(b.p, "shouli_db_write_unit_wait_seconds_total "));
	assert_non_null(strstr(b.p, "shouli_db_queries_total "));
	buf_release(&b);
}

/* db_close runs the units still queued: their callers get their results. */
struct closing {
	struct db *db;
	struct unit u;
	pthread_t th;
};

static atomic_int close_gate_ran, closing_now;

/* Holds the writer until db_close has begun, so that units are still queued then. */
static enum err close_gate_fn(struct db_conn *c, void *ctx)
{
	(void)c, (void)ctx;
	atomic_store(&close_gate_ran, 1);
	for (int k = 0; k < 2000 && !atomic_load(&closing_now); k++)
		sleep_ms(1);
	sleep_ms(50); /* db_close sets its stop flag meanwhile */
	return ERR_OK;
}

static void *close_gate_main(void *arg)
{
	return (void *)(intptr_t)db_write_unit(arg, close_gate_fn, arg, 0);
}

static void *closing_main(void *arg)
{
	struct closing *x = arg;
	x->u.result = db_write_unit(x->db, unit_fn, &x->u, 0);
	return NULL;
}

static void test_close_drains(void **state)
{
	(void)state;
	if (dbfx.pg)
		skip();
	struct db *db = NULL;
	struct closing x[5];
	pthread_t gt;
	char msg[256];
	assert_int_equal(db_open(dbfx.url, 2, &db, msg, sizeof(msg)), ERR_OK);
	atomic_store(&close_gate_ran, 0);
	atomic_store(&closing_now, 0);
	assert_int_equal(pthread_create(&gt, NULL, close_gate_main, db), 0);
	for (int k = 0; k < 2000 && !atomic_load(&close_gate_ran); k++)
		sleep_ms(1);
	for (int k = 0; k < 5; k++) {
		x[k] = (struct closing){.db = db, .u = U(K_OK, 400, k)};
		assert_int_equal(pthread_create(&x[k].th, NULL, closing_main, &x[k]), 0);
	}
	struct db_stats s;
	for (int k = 0; k < 2000; k++) {
		db_stats_get(db, &s);
		if (s.wu_queued >= 5)
			break;
		sleep_ms(1);
	}
	assert_int_equal(s.wu_queued, 5);
	atomic_store(&closing_now, 1);
	db_close(db);
	void *ge = NULL;
	pthread_join(gt, &ge);
	assert_int_equal((intptr_t)ge, ERR_OK);
	for (int k = 0; k < 5; k++) {
		pthread_join(x[k].th, NULL);
		assert_int_equal(x[k].u.result, ERR_OK);
		assert_int_equal(rows_of(400, k), 1);
	}
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_failures_inside_batch), cmocka_unit_test(test_failed_commit),
    cmocka_unit_test(test_many_threads),          cmocka_unit_test(test_chain),
    cmocka_unit_test(test_audit_chain),           cmocka_unit_test(test_queue_timeout),
    cmocka_unit_test(test_close_drains),          cmocka_unit_test(test_metrics),
};

int main(void)
{
	char logpath[600];
	const char *tmp = getenv("SHOULI_TEST_TMP");
	/* 12 connections: the threads of test_many_threads read while units write */
	const struct dbfx_opts opts = {.pool = 12, .no_migrate = true};
	dbfx_mkdirs(tmp && *tmp ? tmp : "/tmp");
	/* Expected failures log errors: keep them out of the test output, but keep them. */
	snprintf(logpath, sizeof(logpath), "%s/db-write-test.log", tmp && *tmp ? tmp : "/tmp");
	FILE *log = fopen(logpath, "w");
	log_setup(LOG_DEBUG, log ? log : stderr);
	int failed = dbfx_run("db_write", &opts, tests, sizeof(tests) / sizeof(tests[0]),
	                      group_setup, group_teardown);
	if (log)
		fclose(log);
	return failed;
}
