/* test_db.c: one scenario suite run against SQLite (a temporary file under SHOULI_TEST_TMP)
 * and, when SHOULI_TEST_PG holds a libpq conninfo (see scripts/pg-test.sh), against
 * PostgreSQL as well, each run in a schema of its own that is dropped at the end. */
#include "../common/db_fixture.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "db/db_int.h"

/* The database under test is dbfx.srv.db, opened on an empty target: these tests bring
 * migrations of their own, written under the scratch directory. */
static struct {
	char migdir[700]; /* <root>/migrations */
} fx;

/* ---- helpers ---- */

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
}

static void remove_file(const char *dir, const char *name)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(unlink(path), 0);
}

static struct db_conn *acquire(void)
{
	struct db_conn *c = NULL;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_non_null(c);
	return c;
}

static int64_t count_rows(struct db_conn *c, const char *table)
{
	struct arena a;
	struct db_rows *rs = NULL;
	char sql[128];
	arena_init(&a, 0);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	assert_int_equal(db_exec(c, &a, &rs, sql, ""), ERR_OK);
	assert_int_equal(rs->nrows, 1);
	assert_int_equal(db_cell(rs, 0, 0)->type, DB_INT);
	int64_t n = db_int(rs, 0, 0);
	arena_release(&a);
	return n;
}

static const char mig1[] = "-- the first table\n"
                           "CREATE TABLE kv (\n"
                           "  id {{ID}},\n"
                           "  k {{TEXT}} NOT NULL UNIQUE,\n"
                           "  i BIGINT,\n"
                           "  d DOUBLE PRECISION,\n"
                           "  t {{TEXT}},\n"
                           "  b {{BLOB}}\n"
                           ");\n";
static const char mig2[] =
    "CREATE TABLE w (id {{ID}}, thread INTEGER NOT NULL, n INTEGER NOT NULL,\n"
    "  UNIQUE (thread, n));\n"
    "CREATE TABLE counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL);\n"
    "INSERT INTO counter (id, n) VALUES (1, 0);\n";
static const char mig3_sqlite[] = "CREATE TABLE eng (name TEXT);\n"
                                  "INSERT INTO eng VALUES ('sqlite');\n";
static const char mig3_pg[] = "CREATE TABLE eng (name TEXT);\n"
                              "INSERT INTO eng VALUES ('postgres');\n";

static void write_base_migrations(const char *dir)
{
	dbfx_mkdirs(dir);
	write_file(dir, "0001_init.sql", mig1);
	write_file(dir, "0002_more.sql", mig2);
	write_file(dir, "0003_eng.sqlite.sql", mig3_sqlite);
	write_file(dir, "0003_eng.pg.sql", mig3_pg);
	write_file(dir, "README.txt", "not a migration");
}

/* ---- group setup ---- */

static int group_setup(void **state)
{
	if (dbfx_setup(state))
		return -1;
	snprintf(fx.migdir, sizeof(fx.migdir), "%s/migrations", dbfx.root);
	write_base_migrations(fx.migdir);
	return 0;
}

/* ---- scenarios ---- */

static void test_open_errors(void **state)
{
	(void)state;
	struct db *db = NULL;
	char msg[256];
	assert_int_equal(db_open("mysql://x", 2, &db, msg, sizeof(msg)), ERR_CONFIG);
	assert_null(db);
	assert_true(strlen(msg) > 0);
	assert_int_equal(db_open("sqlite:", 2, &db, msg, sizeof(msg)), ERR_CONFIG);
	assert_int_equal(db_open("sqlite:/nonexistent-dir/x/y.db", 2, &db, msg, sizeof(msg)),
	                 ERR_DB);
	assert_null(db);
	assert_string_equal(db_engine(dbfx.srv.db), dbfx.engine);
	assert_int_equal(db_ping(dbfx.srv.db), ERR_OK);
}

static void test_migrations(void **state)
{
	(void)state;
	char msg[256];
	int pending = -1;
	struct db_conn *c;
	struct arena a;
	struct db_rows *rs;
	arena_init(&a, 0);

	assert_int_equal(db_pending_migrations(dbfx.srv.db, fx.migdir, &pending), ERR_OK);
	assert_int_equal(pending, 3);
	assert_int_equal(db_migrate(dbfx.srv.db, fx.migdir, msg, sizeof(msg)), ERR_OK);
	assert_int_equal(db_pending_migrations(dbfx.srv.db, fx.migdir, &pending), ERR_OK);
	assert_int_equal(pending, 0);
	/* Idempotent: a second run applies nothing and records nothing twice. */
	assert_int_equal(db_migrate(dbfx.srv.db, fx.migdir, msg, sizeof(msg)), ERR_OK);

	c = acquire();
	assert_int_equal(count_rows(c, "schema_migrations"), 3);
	/* The engine-specific file of this engine ran, the other one did not. */
	assert_int_equal(db_exec(c, &a, &rs, "SELECT name FROM eng", ""), ERR_OK);
	assert_int_equal(rs->nrows, 1);
	assert_string_equal(db_text(rs, 0, 0), dbfx.engine);
	assert_int_equal(
	    db_exec(c, &a, &rs,
	            "SELECT version, name, checksum, applied_at FROM schema_migrations "
	            "ORDER BY version",
	            ""),
	    ERR_OK);
	assert_int_equal(rs->nrows, 3);
	assert_int_equal(db_int(rs, 2, 0), 3);
	assert_string_equal(db_text(rs, 2, 1), dbfx.pg ? "0003_eng.pg.sql" : "0003_eng.sqlite.sql");
	assert_int_equal(strlen(db_text(rs, 0, 2)), 16);
	assert_true(db_int(rs, 0, 3) > 1700000000000LL);
	/* {{ID}} is an auto-increment key on both engines. */
	assert_int_equal(
	    db_exec(c, &a, &rs, "INSERT INTO kv (k) VALUES (?) RETURNING id", "s", "auto-1"),
	    ERR_OK);
	int64_t id1 = db_int(rs, 0, 0);
	assert_int_equal(
	    db_exec(c, &a, &rs, "INSERT INTO kv (k) VALUES (?) RETURNING id", "s", "auto-2"),
	    ERR_OK);
	assert_true(db_int(rs, 0, 0) > id1);
	assert_int_equal(db_exec(c, NULL, NULL, "DELETE FROM kv", ""), ERR_OK);
	db_release(c);

	/* A new file is pending, then applied. */
	write_file(fx.migdir, "0004_extra.sql", "CREATE TABLE extra (x INTEGER);\n");
	assert_int_equal(db_pending_migrations(dbfx.srv.db, fx.migdir, &pending), ERR_OK);
	assert_int_equal(pending, 1);
	assert_int_equal(db_migrate(dbfx.srv.db, fx.migdir, msg, sizeof(msg)), ERR_OK);
	assert_int_equal(db_pending_migrations(dbfx.srv.db, fx.migdir, &pending), ERR_OK);
	assert_int_equal(pending, 0);

	/* A failing file applies nothing (its own transaction) and names itself. */
	write_file(fx.migdir, "0005_bad.sql",
	           "CREATE TABLE bad1 (x INTEGER);\nCREATE TABLEX oops (y INTEGER);\n");
	assert_int_not_equal(db_migrate(dbfx.srv.db, fx.migdir, msg, sizeof(msg)), ERR_OK);
	assert_non_null(strstr(msg, "0005_bad.sql"));
	c = acquire();
	assert_int_equal(db_exec(c, &a, &rs, "SELECT count(*) FROM bad1", ""), ERR_DB);
	assert_int_equal(count_rows(c, "schema_migrations"), 4);
	db_release(c);
	remove_file(fx.migdir, "0005_bad.sql");

	/* Unknown macros and ambiguous versions are refused before anything runs. */
	write_file(fx.migdir, "0006_typo.sql", "CREATE TABLE typo (id {{IDD}});\n");
	assert_int_equal(db_migrate(dbfx.srv.db, fx.migdir, msg, sizeof(msg)), ERR_CONFIG);
	assert_non_null(strstr(msg, "0006_typo.sql"));
	remove_file(fx.migdir, "0006_typo.sql");
	write_file(fx.migdir, dbfx.pg ? "0004_extra.pg.sql" : "0004_extra.sqlite.sql",
	           "SELECT 1;\n");
	assert_int_equal(db_migrate(dbfx.srv.db, fx.migdir, msg, sizeof(msg)), ERR_CONFIG);
	assert_non_null(strstr(msg, "0004_extra"));
	remove_file(fx.migdir, dbfx.pg ? "0004_extra.pg.sql" : "0004_extra.sqlite.sql");
	write_file(fx.migdir, "x_nonumber.sql", "SELECT 1;\n");
	assert_int_equal(db_migrate(dbfx.srv.db, fx.migdir, msg, sizeof(msg)), ERR_CONFIG);
	assert_non_null(strstr(msg, "x_nonumber.sql"));
	remove_file(fx.migdir, "x_nonumber.sql");

	/* An applied file that changed is an error naming it; restoring it clears it. */
	write_file(fx.migdir, "0002_more.sql", "CREATE TABLE w (id INTEGER);\n");
	assert_int_equal(db_migrate(dbfx.srv.db, fx.migdir, msg, sizeof(msg)), ERR_INTEGRITY);
	assert_non_null(strstr(msg, "0002_more.sql"));
	write_file(fx.migdir, "0002_more.sql", mig2);
	assert_int_equal(db_migrate(dbfx.srv.db, fx.migdir, msg, sizeof(msg)), ERR_OK);
	assert_int_equal(db_migrate(dbfx.srv.db, "/nonexistent/migrations", msg, sizeof(msg)),
	                 ERR_IO);
	arena_release(&a);
}

struct migrator {
	const char *url;
	const char *dir;
	enum err e;
};

static void *migrate_thread(void *arg)
{
	struct migrator *m = arg;
	struct db *db = NULL;
	char msg[256];
	m->e = db_open(m->url, 2, &db, msg, sizeof(msg));
	if (!m->e)
		m->e = db_migrate(db, m->dir, msg, sizeof(msg));
	db_close(db);
	return NULL;
}

/* Two migrators at once (as two processes would, each with its own handle) apply every
 * file exactly once. */
static void test_migrate_concurrently(void **state)
{
	(void)state;
	char url[1024], dir[700];
	struct migrator m[3];
	pthread_t th[3];
	assert_int_equal(dbfx_target(url, sizeof(url)), ERR_OK);
	snprintf(dir, sizeof(dir), "%s/migrations-race", dbfx.root);
	write_base_migrations(dir);
	/* A slow-ish file widens the race window. */
	write_file(dir, "0004_fill.sql",
	           "CREATE TABLE fill (n INTEGER);\n"
	           "INSERT INTO fill (n) WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL\n"
	           "  SELECT n + 1 FROM r WHERE n < 50000) SELECT n FROM r;\n");
	for (int k = 0; k < 3; k++) {
		m[k] = (struct migrator){url, dir, ERR_INTERNAL};
		assert_int_equal(pthread_create(&th[k], NULL, migrate_thread, &m[k]), 0);
	}
	for (int k = 0; k < 3; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(m[k].e, ERR_OK);
	}
	struct db *db = NULL;
	struct db_conn *c = NULL;
	struct arena a;
	struct db_rows *rs;
	char msg[256];
	arena_init(&a, 0);
	assert_int_equal(db_open(url, 1, &db, msg, sizeof(msg)), ERR_OK);
	assert_int_equal(db_acquire(db, 1000, &c), ERR_OK);
	assert_int_equal(db_exec(c, &a, &rs,
	                         "SELECT count(*), count(DISTINCT version) FROM schema_migrations",
	                         ""),
	                 ERR_OK);
	assert_int_equal(db_int(rs, 0, 0), 4);
	assert_int_equal(db_int(rs, 0, 1), 4);
	/* 0002 inserts one counter row: a double apply would have failed or doubled it. */
	assert_int_equal(db_exec(c, &a, &rs, "SELECT count(*) FROM counter", ""), ERR_OK);
	assert_int_equal(db_int(rs, 0, 0), 1);
	db_release(c);
	db_close(db);
	arena_release(&a);
}

static void test_types_round_trip(void **state)
{
	(void)state;
	struct db_conn *c = acquire();
	struct arena a;
	struct db_rows *rs;
	static const char zh[] = "受理中心：居民身份证 11010519491231002X ✓";
	static const unsigned char blob[] = {0, 1, 0, 255, 0, 'x', 0};
	arena_init(&a, 1 << 20);

	assert_int_equal(
	    db_exec(c, &a, &rs,
	            "INSERT INTO kv (k, i, d, t, b) VALUES (?, ?, ?, ?, ?) RETURNING id", "sidsb",
	            "max", INT64_MAX, 3.141592653589793, zh, blob, sizeof(blob)),
	    ERR_OK);
	assert_int_equal(rs->nrows, 1);
	assert_int_equal(rs->changes, 1);
	assert_int_equal(db_cell(rs, 0, 0)->type, DB_INT);
	assert_int_equal(db_exec(c, &a, NULL,
	                         "INSERT INTO kv (k, i, d, t, b) VALUES (?, ?, ?, ?, ?)", "sidsb",
	                         "min", INT64_MIN, -1e300, "", "", (size_t)0),
	                 ERR_OK);
	assert_int_equal(db_exec(c, &a, NULL,
	                         "INSERT INTO kv (k, i, d, t, b) VALUES (?, ?, ?, ?, ?)", "snnsn",
	                         "nulls", (const char *)NULL),
	                 ERR_OK);

	assert_int_equal(
	    db_exec(c, &a, &rs, "SELECT k, i, d, t, b FROM kv WHERE k = ?", "s", "max"), ERR_OK);
	assert_int_equal(rs->nrows, 1);
	assert_int_equal(rs->ncols, 5);
	assert_int_equal(rs->changes, 0);
	assert_string_equal(rs->names[3], "t");
	assert_int_equal(db_col(rs, "b"), 4);
	assert_int_equal(db_col(rs, "nope"), -1);
	assert_int_equal(db_cell(rs, 0, 1)->type, DB_INT);
	assert_true(db_int(rs, 0, 1) == INT64_MAX);
	assert_int_equal(db_cell(rs, 0, 2)->type, DB_REAL);
	assert_true(db_cell(rs, 0, 2)->d == 3.141592653589793);
	assert_int_equal(db_cell(rs, 0, 3)->type, DB_TEXT);
	assert_string_equal(db_text(rs, 0, 3), zh);
	assert_int_equal(db_cell(rs, 0, 3)->n, strlen(zh));
	assert_int_equal(db_cell(rs, 0, 4)->type, DB_BLOB);
	assert_int_equal(db_cell(rs, 0, 4)->n, sizeof(blob));
	assert_memory_equal(db_cell(rs, 0, 4)->p, blob, sizeof(blob));

	assert_int_equal(db_exec(c, &a, &rs, "SELECT i, d, t, b FROM kv WHERE k = ?", "s", "min"),
	                 ERR_OK);
	assert_true(db_int(rs, 0, 0) == INT64_MIN);
	assert_true(db_cell(rs, 0, 1)->d == -1e300);
	assert_int_equal(db_cell(rs, 0, 2)->type, DB_TEXT);
	assert_string_equal(db_text(rs, 0, 2), "");
	assert_int_equal(db_cell(rs, 0, 3)->type, DB_BLOB);
	assert_int_equal(db_cell(rs, 0, 3)->n, 0);

	assert_int_equal(db_exec(c, &a, &rs, "SELECT i, d, t, b FROM kv WHERE k = ?", "s", "nulls"),
	                 ERR_OK);
	for (int k = 0; k < 4; k++) {
		assert_true(db_is_null(rs, 0, k));
		assert_null(db_text(rs, 0, k));
		assert_int_equal(db_int(rs, 0, k), 0);
	}

	/* Expressions type the same on both engines: integers, booleans as 0/1, sums. */
	assert_int_equal(
	    db_exec(c, &a, &rs,
	            "SELECT count(*) AS n, EXISTS (SELECT 1 FROM kv WHERE k = ?) AS e, "
	            "SUM(CASE WHEN i IS NULL THEN 5 ELSE 0 END) AS s, "
	            "CAST(? AS BIGINT) AS p, '?' AS q FROM kv",
	            "si", "max", (int64_t)42),
	    ERR_OK);
	assert_int_equal(db_cell(rs, 0, 0)->type, DB_INT);
	assert_int_equal(db_int(rs, 0, 0), 3);
	assert_int_equal(db_cell(rs, 0, 1)->type, DB_INT);
	assert_int_equal(db_int(rs, 0, 1), 1);
	assert_int_equal(db_cell(rs, 0, 2)->type, DB_INT);
	assert_int_equal(db_int(rs, 0, 2), 5);
	assert_int_equal(db_int(rs, 0, 3), 42);
	assert_string_equal(db_text(rs, 0, 4), "?");

	/* db_execv: a long parameter list and explicit values. */
	struct db_val v[20];
	char sql[1024] = "SELECT CAST(? AS BIGINT)";
	memset(v, 0, sizeof(v));
	for (int k = 0; k < 20; k++) {
		v[k].type = DB_INT;
		v[k].i = k * 1000;
		if (k)
			snprintf(sql + strlen(sql), sizeof(sql) - strlen(sql),
			         " + CAST(? AS BIGINT)");
	}
	assert_int_equal(db_execv(c, &a, &rs, sql, v, 20), ERR_OK);
	assert_int_equal(db_int(rs, 0, 0), 190000);

	/* An empty result still has its columns. */
	assert_int_equal(db_exec(c, &a, &rs, "SELECT k, i FROM kv WHERE k = ?", "s", "none"),
	                 ERR_OK);
	assert_int_equal(rs->nrows, 0);
	assert_int_equal(rs->ncols, 2);
	assert_string_equal(rs->names[0], "k");

	/* INSERT ... RETURNING with rows == NULL still inserts. */
	assert_int_equal(db_exec(c, NULL, NULL, "INSERT INTO kv (k) VALUES (?) RETURNING id", "s",
	                         "returning-null"),
	                 ERR_OK);
	assert_int_equal(db_exec(c, &a, &rs, "UPDATE kv SET i = ? WHERE k IN (?, ?)", "iss",
	                         (int64_t)7, "returning-null", "nulls"),
	                 ERR_OK);
	assert_int_equal(rs->changes, 2);
	assert_int_equal(db_exec(c, &a, &rs, "DELETE FROM kv WHERE k IN (?, ?)", "ss",
	                         "returning-null", "nulls"),
	                 ERR_OK);
	assert_int_equal(rs->changes, 2);
	db_release(c);
	arena_release(&a);
}

/* Bad text from input is bound with its length and never crashes: SQLite keeps the bytes,
 * PostgreSQL (which cannot store them) refuses with ERR_BAD_UTF8. */
static void test_text_from_input(void **state)
{
	(void)state;
	struct db_conn *c = acquire();
	struct arena a;
	struct db_rows *rs;
	static const char nul[] = {'a', 0, 'b'};
	static const char bad[] = {'x', (char)0xff, (char)0xfe, 'y', 0};
	struct db_val v[2] = {{.type = DB_TEXT, .p = "nul", .n = 3},
	                      {.type = DB_TEXT, .p = nul, .n = 3}};
	arena_init(&a, 0);

	enum err e = db_execv(c, &a, NULL, "INSERT INTO kv (k, t) VALUES (?, ?)", v, 2);
	if (dbfx.pg) {
		assert_int_equal(e, ERR_BAD_UTF8);
	} else {
		assert_int_equal(e, ERR_OK);
		assert_int_equal(db_exec(c, &a, &rs, "SELECT t FROM kv WHERE k = 'nul'", ""),
		                 ERR_OK);
		assert_int_equal(db_cell(rs, 0, 0)->n, 3);
		assert_memory_equal(db_cell(rs, 0, 0)->p, nul, 3);
	}
	e = db_exec(c, &a, NULL, "INSERT INTO kv (k, t) VALUES (?, ?)", "ss", "bad", bad);
	if (dbfx.pg) {
		assert_int_equal(e, ERR_BAD_UTF8);
	} else {
		assert_int_equal(e, ERR_OK);
		assert_int_equal(db_exec(c, &a, &rs, "SELECT t FROM kv WHERE k = ?", "s", "bad"),
		                 ERR_OK);
		assert_memory_equal(db_text(rs, 0, 0), bad, 5);
	}
	/* The connection is fine afterwards. */
	assert_int_equal(db_exec(c, NULL, NULL, "DELETE FROM kv WHERE k IN ('nul', 'bad')", ""),
	                 ERR_OK);
	db_release(c);
	arena_release(&a);
}

static void test_errors(void **state)
{
	(void)state;
	struct db_conn *c = acquire();
	struct arena a;
	struct db_rows *rs;
	struct db_stats before, after;
	arena_init(&a, 0);
	db_stats_get(dbfx.srv.db, &before);

	assert_int_equal(db_exec(c, NULL, NULL, "INSERT INTO kv (k) VALUES (?)", "s", "dup"),
	                 ERR_OK);
	assert_int_equal(db_exec(c, NULL, NULL, "INSERT INTO kv (k) VALUES (?)", "s", "dup"),
	                 ERR_EXISTS);
	/* Primary key too. */
	assert_int_equal(db_exec(c, NULL, NULL, "INSERT INTO counter (id, n) VALUES (1, 0)", ""),
	                 ERR_EXISTS);
	assert_int_equal(db_exec(c, &a, &rs, "SELECT * FROM no_such_table", ""), ERR_DB);
	assert_null(rs);
	assert_int_equal(db_exec(c, NULL, NULL, "SELEC 1", ""), ERR_DB);
	/* Several statements in one db_exec are not supported: refused, none runs. */
	assert_int_not_equal(
	    db_exec(c, NULL, NULL,
	            "INSERT INTO kv (k) VALUES ('m1'); INSERT INTO kv (k) VALUES ('m2')", ""),
	    ERR_OK);
	assert_int_equal(db_exec(c, &a, &rs, "SELECT count(*) FROM kv WHERE k IN ('m1', 'm2')", ""),
	                 ERR_OK);
	assert_int_equal(db_int(rs, 0, 0), 0);

	/* Inside a transaction: after an error the caller rolls back, nothing stays. */
	assert_int_equal(db_begin_write(c), ERR_OK);
	assert_int_equal(db_exec(c, NULL, NULL, "INSERT INTO kv (k) VALUES (?)", "s", "in-tx"),
	                 ERR_OK);
	assert_int_equal(db_exec(c, NULL, NULL, "INSERT INTO kv (k) VALUES (?)", "s", "dup"),
	                 ERR_EXISTS);
	if (dbfx.pg) /* the failed transaction cannot commit: never report it as stored */
		assert_int_not_equal(db_commit(c), ERR_OK);
	else
		assert_int_equal(db_rollback(c), ERR_OK);
	assert_int_equal(db_exec(c, &a, &rs, "SELECT count(*) FROM kv WHERE k = 'in-tx'", ""),
	                 ERR_OK);
	assert_int_equal(db_int(rs, 0, 0), 0);
	assert_int_equal(db_exec(c, NULL, NULL, "DELETE FROM kv WHERE k = 'dup'", ""), ERR_OK);

	db_stats_get(dbfx.srv.db, &after);
	assert_true(after.queries > before.queries);
	assert_true(after.errors >= before.errors + 5);
	assert_true(after.query_ns > before.query_ns);
	assert_int_equal(after.pool_in_use, 1);
	assert_int_equal(after.pool_size, 6);
	db_release(c);
	arena_release(&a);
}

static void test_transactions(void **state)
{
	(void)state;
	struct db_conn *w = acquire(), *r = acquire();

	assert_int_equal(db_begin_write(w), ERR_OK);
	assert_int_equal(db_exec(w, NULL, NULL, "INSERT INTO kv (k) VALUES (?)", "s", "tx-1"),
	                 ERR_OK);
	assert_int_equal(count_rows(w, "kv WHERE k = 'tx-1'"), 1);
	assert_int_equal(count_rows(r, "kv WHERE k = 'tx-1'"), 0);
	assert_int_equal(db_commit(w), ERR_OK);
	assert_int_equal(count_rows(r, "kv WHERE k = 'tx-1'"), 1);

	assert_int_equal(db_begin(w), ERR_OK);
	assert_int_equal(db_exec(w, NULL, NULL, "INSERT INTO kv (k) VALUES (?)", "s", "tx-2"),
	                 ERR_OK);
	assert_int_equal(db_rollback(w), ERR_OK);
	assert_int_equal(count_rows(r, "kv WHERE k = 'tx-2'"), 0);
	assert_int_equal(count_rows(w, "kv WHERE k = 'tx-2'"), 0);

	/* Releasing inside a transaction rolls it back. */
	assert_int_equal(db_begin_write(w), ERR_OK);
	assert_int_equal(db_exec(w, NULL, NULL, "INSERT INTO kv (k) VALUES (?)", "s", "tx-3"),
	                 ERR_OK);
	db_release(w);
	assert_int_equal(count_rows(r, "kv WHERE k = 'tx-3'"), 0);
	/* Whichever connection comes next starts clean: BEGIN would fail inside a transaction. */
	db_release(r);
	struct db_conn *all[6];
	for (int k = 0; k < 6; k++) {
		all[k] = acquire();
		assert_int_equal(db_begin(all[k]), ERR_OK);
		assert_int_equal(db_rollback(all[k]), ERR_OK);
	}
	for (int k = 0; k < 6; k++)
		db_release(all[k]);
	w = acquire();
	assert_int_equal(db_exec(w, NULL, NULL, "DELETE FROM kv WHERE k = 'tx-1'", ""), ERR_OK);
	db_release(w);
}

struct releaser {
	struct db_conn *c;
	int delay_ms;
};

static void *release_later(void *arg)
{
	struct releaser *r = arg;
	struct timespec ts = {0, (long)r->delay_ms * 1000000L};
	nanosleep(&ts, NULL);
	db_release(r->c);
	return NULL;
}

static void test_pool(void **state)
{
	(void)state;
	struct db *db = NULL;
	struct db_conn *c1 = NULL, *c2 = NULL, *c3 = NULL;
	struct db_stats st;
	char msg[256];
	assert_int_equal(db_open(dbfx.url, 2, &db, msg, sizeof(msg)), ERR_OK);
	assert_int_equal(db_acquire(db, 100, &c1), ERR_OK);
	assert_int_equal(db_acquire(db, 100, &c2), ERR_OK);
	assert_ptr_not_equal(c1, c2);

	int64_t t0 = time_mono_ns();
	assert_int_equal(db_acquire(db, 200, &c3), ERR_DB_BUSY);
	int64_t waited_ms = (time_mono_ns() - t0) / 1000000;
	assert_null(c3);
	assert_true(waited_ms >= 190);
	assert_true(waited_ms < 2000);
	assert_int_equal(db_acquire(db, 0, &c3), ERR_DB_BUSY);
	db_stats_get(db, &st);
	assert_int_equal(st.pool_in_use, 2);
	assert_int_equal(st.pool_size, 2);
	assert_true(st.busy >= 2);

	/* A waiter gets the connection another thread gives back. */
	pthread_t th;
	struct releaser rel = {c2, 100};
	uint64_t waits = st.acquire_waits;
	assert_int_equal(pthread_create(&th, NULL, release_later, &rel), 0);
	assert_int_equal(db_acquire(db, 5000, &c3), ERR_OK);
	pthread_join(th, NULL);
	assert_ptr_equal(c3, c2);
	db_stats_get(db, &st);
	assert_true(st.acquire_waits > waits);
	db_release(c1);
	db_release(c3);
	db_stats_get(db, &st);
	assert_int_equal(st.pool_in_use, 0);
	db_close(db);
}

struct writer {
	struct db *db;
	int thread;
	int done;
	enum err e;
};

#define WRITERS         4
#define ROWS_PER_WRITER 200
#define ROWS_PER_TX     4

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	for (int n = 0; n < ROWS_PER_WRITER && !w->e; n += ROWS_PER_TX) {
		struct db_conn *c = NULL;
		w->e = db_acquire(w->db, 10000, &c);
		if (w->e)
			break;
		w->e = db_begin_write(c);
		for (int k = 0; k < ROWS_PER_TX && !w->e; k++)
			w->e = db_exec(c, NULL, NULL, "INSERT INTO w (thread, n) VALUES (?, ?)",
			               "ii", (int64_t)w->thread, (int64_t)(n + k));
		/* A read-modify-write: lost updates would show in the final count. */
		if (!w->e)
			w->e = db_exec(c, NULL, NULL, "UPDATE counter SET n = n + ? WHERE id = 1",
			               "i", (int64_t)ROWS_PER_TX);
		if (!w->e)
			w->e = db_commit(c);
		if (!w->e)
			w->done += ROWS_PER_TX;
		db_release(c);
	}
	return NULL;
}

static void test_concurrent_writers(void **state)
{
	(void)state;
	struct writer w[WRITERS];
	pthread_t th[WRITERS];
	struct arena a;
	struct db_rows *rs;
	arena_init(&a, 0);
	for (int k = 0; k < WRITERS; k++) {
		w[k] = (struct writer){dbfx.srv.db, k, 0, ERR_OK};
		assert_int_equal(pthread_create(&th[k], NULL, writer_main, &w[k]), 0);
	}
	for (int k = 0; k < WRITERS; k++) {
		pthread_join(th[k], NULL);
		assert_int_equal(w[k].e, ERR_OK);
		assert_int_equal(w[k].done, ROWS_PER_WRITER);
	}
	struct db_conn *c = acquire();
	assert_int_equal(count_rows(c, "w"), WRITERS * ROWS_PER_WRITER);
	assert_int_equal(
	    db_exec(c, &a, &rs,
	            "SELECT thread, count(*), count(DISTINCT n) FROM w GROUP BY thread "
	            "ORDER BY thread",
	            ""),
	    ERR_OK);
	assert_int_equal(rs->nrows, WRITERS);
	for (int k = 0; k < WRITERS; k++) {
		assert_int_equal(db_int(rs, k, 0), k);
		assert_int_equal(db_int(rs, k, 1), ROWS_PER_WRITER);
		assert_int_equal(db_int(rs, k, 2), ROWS_PER_WRITER);
	}
	assert_int_equal(db_exec(c, &a, &rs, "SELECT n FROM counter WHERE id = 1", ""), ERR_OK);
	assert_int_equal(db_int(rs, 0, 0), WRITERS * ROWS_PER_WRITER);
	/* SUM(bigint) is numeric on PG: integral values still come back as DB_INT. */
	assert_int_equal(db_exec(c, &a, &rs, "SELECT SUM(n), AVG(n) / 3 FROM counter", ""), ERR_OK);
	assert_int_equal(db_cell(rs, 0, 0)->type, DB_INT);
	assert_int_equal(db_int(rs, 0, 0), WRITERS * ROWS_PER_WRITER);
	assert_int_equal(db_cell(rs, 0, 1)->type, DB_REAL);
	assert_true(fabs(db_cell(rs, 0, 1)->d - WRITERS * ROWS_PER_WRITER / 3.0) < 1e-9);
	db_release(c);
	arena_release(&a);
}

/* More distinct statements than the cache holds: eviction keeps every answer right. */
static void test_statement_cache(void **state)
{
	(void)state;
	struct db_conn *c = acquire();
	struct arena a;
	struct db_rows *rs;
	char sql[96];
	arena_init(&a, 0);
	for (int round = 0; round < 2; round++) {
		for (int k = 0; k < 300; k++) {
			snprintf(sql, sizeof(sql), "SELECT CAST(? AS BIGINT) + %d", k);
			assert_int_equal(db_exec(c, &a, &rs, sql, "i", (int64_t)round), ERR_OK);
			assert_int_equal(db_int(rs, 0, 0), k + round);
		}
		arena_release(&a);
	}
	if (dbfx.pg) {
		/* Evicted statements are deallocated on the server: the session holds at
		 * most the cache's 128. */
		assert_int_equal(
		    db_exec(c, &a, &rs, "SELECT count(*) FROM pg_prepared_statements", ""), ERR_OK);
		assert_true(db_int(rs, 0, 0) >= 100);
		assert_true(db_int(rs, 0, 0) <= 128);
	}
	/* Inside a failed PG transaction statements fail and are not cached; the cache
	 * works again after the rollback. */
	assert_int_equal(db_begin(c), ERR_OK);
	assert_int_equal(db_exec(c, NULL, NULL, "SELECT * FROM no_such_table", ""), ERR_DB);
	for (int k = 300; k < 310; k++) {
		snprintf(sql, sizeof(sql), "SELECT CAST(? AS BIGINT) + %d", k);
		assert_int_equal(db_exec(c, &a, &rs, sql, "i", (int64_t)0),
		                 dbfx.pg ? ERR_DB : ERR_OK);
	}
	assert_int_equal(db_rollback(c), ERR_OK);
	assert_int_equal(db_exec(c, &a, &rs, "SELECT CAST(? AS BIGINT) + 1", "i", (int64_t)1),
	                 ERR_OK);
	assert_int_equal(db_int(rs, 0, 0), 2);
	db_release(c);
	arena_release(&a);
}

/* A cached statement survives a schema change made by another connection. */
static void test_schema_change(void **state)
{
	(void)state;
	struct db_conn *c1 = acquire(), *c2 = acquire();
	struct arena a;
	struct db_rows *rs;
	arena_init(&a, 0);
	assert_int_equal(db_exec(c1, NULL, NULL, "CREATE TABLE chg (a INTEGER)", ""), ERR_OK);
	assert_int_equal(db_exec(c1, NULL, NULL, "INSERT INTO chg (a) VALUES (1)", ""), ERR_OK);
	assert_int_equal(db_exec(c1, &a, &rs, "SELECT * FROM chg", ""), ERR_OK);
	assert_int_equal(rs->ncols, 1);
	assert_int_equal(db_exec(c2, NULL, NULL, "ALTER TABLE chg ADD COLUMN b INTEGER", ""),
	                 ERR_OK);
	assert_int_equal(db_exec(c1, &a, &rs, "SELECT * FROM chg", ""), ERR_OK);
	assert_int_equal(rs->ncols, 2);
	/* Inside a transaction PG cannot re-plan and retry: the statement fails once (and
	 * its stale plan is dropped), after the rollback it works. SQLite re-prepares. */
	assert_int_equal(db_exec(c2, NULL, NULL, "ALTER TABLE chg ADD COLUMN c INTEGER", ""),
	                 ERR_OK);
	assert_int_equal(db_begin(c1), ERR_OK);
	enum err e = db_exec(c1, &a, &rs, "SELECT * FROM chg", "");
	assert_int_equal(e, dbfx.pg ? ERR_DB : ERR_OK);
	assert_int_equal(db_rollback(c1), ERR_OK);
	assert_int_equal(db_exec(c1, &a, &rs, "SELECT * FROM chg", ""), ERR_OK);
	assert_int_equal(rs->ncols, 3);
	assert_int_equal(db_exec(c2, NULL, NULL, "DROP TABLE chg", ""), ERR_OK);
	db_release(c1);
	db_release(c2);
	arena_release(&a);
}

/* PG: a session killed by the server is re-established transparently. */
static void test_reconnect(void **state)
{
	(void)state;
	if (!dbfx.pg)
		skip();
	struct db_conn *c1 = acquire(), *c2 = acquire();
	struct arena a;
	struct db_rows *rs;
	arena_init(&a, 0);
	assert_int_equal(db_exec(c1, &a, &rs, "SELECT pg_backend_pid()", ""), ERR_OK);
	int64_t pid = db_int(rs, 0, 0);
	assert_true(pid > 0);
	assert_int_equal(
	    db_exec(c2, &a, &rs, "SELECT pg_terminate_backend(CAST(? AS INTEGER))", "i", pid),
	    ERR_OK);
	assert_int_equal(db_int(rs, 0, 0), 1);
	struct timespec ts = {0, 100 * 1000000L};
	nanosleep(&ts, NULL);
	assert_int_equal(db_exec(c1, &a, &rs, "SELECT pg_backend_pid()", ""), ERR_OK);
	assert_true(db_int(rs, 0, 0) != pid);
	/* Also inside the pool: kill it while released, the next user is served. */
	pid = db_int(rs, 0, 0);
	db_release(c1);
	assert_int_equal(
	    db_exec(c2, &a, &rs, "SELECT pg_terminate_backend(CAST(? AS INTEGER))", "i", pid),
	    ERR_OK);
	nanosleep(&ts, NULL);
	db_release(c2);
	struct db_conn *all[6];
	bool found = false;
	for (int k = 0; k < 6; k++)
		all[k] = acquire();
	for (int k = 0; k < 6; k++) {
		found = found || all[k] == c1;
		assert_int_equal(db_begin(all[k]), ERR_OK);
		assert_int_equal(db_exec(all[k], &a, &rs, "SELECT 1", ""), ERR_OK);
		assert_int_equal(db_commit(all[k]), ERR_OK);
	}
	assert_true(found);
	for (int k = 0; k < 6; k++)
		db_release(all[k]);
	arena_release(&a);
}

/* Committed rows are there after the handle is closed and opened again. */
static void test_durability(void **state)
{
	(void)state;
	char msg[256];
	struct db_conn *c = acquire();
	assert_int_equal(db_begin_write(c), ERR_OK);
	for (int k = 0; k < 10; k++) {
		char key[32];
		snprintf(key, sizeof(key), "durable-%d", k);
		assert_int_equal(db_exec(c, NULL, NULL, "INSERT INTO kv (k, i) VALUES (?, ?)", "si",
		                         key, (int64_t)k),
		                 ERR_OK);
	}
	assert_int_equal(db_commit(c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	assert_int_equal(db_exec(c, NULL, NULL, "INSERT INTO kv (k) VALUES ('not-committed')", ""),
	                 ERR_OK);
	db_release(c);
	db_close(dbfx.srv.db);
	dbfx.srv.db = NULL;

	assert_int_equal(db_open(dbfx.url, 6, &dbfx.srv.db, msg, sizeof(msg)), ERR_OK);
	c = acquire();
	assert_int_equal(count_rows(c, "kv WHERE k LIKE 'durable-%'"), 10);
	assert_int_equal(count_rows(c, "kv WHERE k = 'not-committed'"), 0);
	db_release(c);
	int pending = -1;
	assert_int_equal(db_pending_migrations(dbfx.srv.db, fx.migdir, &pending), ERR_OK);
	assert_int_equal(pending, 0);
}

/* The PG placeholder rewrite leaves question marks in literals, identifiers and comments. */
static void test_placeholders(void **state)
{
	(void)state;
	struct buf b;
	int n = -1;
	buf_init(&b, 4096);
	assert_int_equal(db_sql_placeholders("SELECT ?, '?', 'it''s ?', \"a?\"\"?\", $$?$$, "
	                                     "$t$ ? $t$, E'\\'?', x$y, -- ?\n?, /* ? */ ?",
	                                     &b, &n),
	                 ERR_OK);
	assert_int_equal(n, 3);
	assert_string_equal(b.p, "SELECT $1, '?', 'it''s ?', \"a?\"\"?\", $$?$$, $t$ ? $t$, "
	                         "E'\\'?', x$y, -- ?\n$2, /* ? */ $3");
	buf_reset(&b);
	assert_int_equal(db_sql_placeholders("SELECT 1", &b, &n), ERR_OK);
	assert_int_equal(n, 0);
	assert_string_equal(b.p, "SELECT 1");
	/* Unterminated literals end the scan without reading past the text. */
	assert_int_equal(db_sql_placeholders("SELECT ?, 'open ?", NULL, &n), ERR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(db_sql_placeholders("SELECT ? /* open ?", NULL, &n), ERR_OK);
	assert_int_equal(n, 1);
	assert_int_equal(db_sql_placeholders("SELECT $a$ ? $b$ ?", NULL, &n), ERR_OK);
	assert_int_equal(n, 0);
	buf_release(&b);
}

/* A SQLite migration marked "-- shouli: foreign_keys=off" may rebuild a table other tables
 * reference (the documented create-copy-drop-rename procedure) on a database with rows; a
 * marked migration that leaves a dangling reference is refused and rolled back. */
static void test_rebuild_referenced_table(void **state)
{
	(void)state;
	char dir[] = "/tmp/shouli-mig-fk-XXXXXX", msg[256];
	struct arena a;
	struct db_rows *rs;
	if (dbfx.pg)
		skip();
	arena_init(&a, 0);
	assert_non_null(mkdtemp(dir));
	write_file(dir, "0901_fk.sql",
	           "CREATE TABLE fkp (id INTEGER PRIMARY KEY, st TEXT CHECK (st IN ('a')));\n"
	           "CREATE TABLE fkc (id INTEGER PRIMARY KEY,"
	           " p INTEGER NOT NULL REFERENCES fkp (id));\n"
	           "INSERT INTO fkp VALUES (1, 'a');\nINSERT INTO fkc VALUES (1, 1);\n");
	assert_int_equal(db_migrate(dbfx.srv.db, dir, msg, sizeof(msg)), ERR_OK);
	write_file(
	    dir, "0902_rebuild.sql",
	    "-- shouli: foreign_keys=off\n"
	    "CREATE TABLE fkp_new (id INTEGER PRIMARY KEY, st TEXT CHECK (st IN ('a', 'b')));\n"
	    "INSERT INTO fkp_new SELECT id, st FROM fkp;\nDROP TABLE fkp;\n"
	    "ALTER TABLE fkp_new RENAME TO fkp;\n");
	assert_int_equal(db_migrate(dbfx.srv.db, dir, msg, sizeof(msg)), ERR_OK);
	struct db_conn *c = acquire();
	assert_int_equal(db_exec(c, NULL, NULL, "INSERT INTO fkp VALUES (2, 'b')", ""), ERR_OK);
	assert_int_equal(count_rows(c, "fkc"), 1);
	/* foreign keys are on again for the connection afterwards */
	assert_int_not_equal(db_exec(c, NULL, NULL, "INSERT INTO fkc VALUES (2, 99)", ""), ERR_OK);
	db_release(c);
	write_file(dir, "0903_dangling.sql",
	           "-- shouli: foreign_keys=off\nDELETE FROM fkp WHERE id = 1;\n");
	assert_int_equal(db_migrate(dbfx.srv.db, dir, msg, sizeof(msg)), ERR_INTEGRITY);
	assert_non_null(strstr(msg, "0903_dangling.sql"));
	c = acquire();
	assert_int_equal(db_exec(c, &a, &rs, "SELECT count(*) FROM fkp WHERE id = 1", ""), ERR_OK);
	assert_int_equal(db_int(rs, 0, 0), 1);
	assert_int_equal(db_exec(c, NULL, NULL, "INSERT INTO fkc VALUES (3, 98)", "") != ERR_OK,
	                 true);
	db_release(c);
	remove_file(dir, "0901_fk.sql");
	remove_file(dir, "0902_rebuild.sql");
	remove_file(dir, "0903_dangling.sql");
	rmdir(dir);
	arena_release(&a);
}

static const struct CMUnitTest engine_independent[] = {
    cmocka_unit_test(test_placeholders),
};

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_open_errors),          cmocka_unit_test(test_migrations),
    cmocka_unit_test(test_migrate_concurrently), cmocka_unit_test(test_types_round_trip),
    cmocka_unit_test(test_text_from_input),      cmocka_unit_test(test_errors),
    cmocka_unit_test(test_transactions),         cmocka_unit_test(test_pool),
    cmocka_unit_test(test_concurrent_writers),   cmocka_unit_test(test_statement_cache),
    cmocka_unit_test(test_schema_change),        cmocka_unit_test(test_reconnect),
    cmocka_unit_test(test_durability),           cmocka_unit_test(test_rebuild_referenced_table),
};

int main(void)
{
	const struct dbfx_opts opts = {.pool = 6, .no_migrate = true};
	int failed = 0;
	char logpath[600];
	const char *tmp = getenv("SHOULI_TEST_TMP");
	dbfx_mkdirs(tmp && *tmp ? tmp : "/tmp");
	/* Expected failures log errors: keep them out of the test output, but keep them. */
	snprintf(logpath, sizeof(logpath), "%s/db-test.log", tmp && *tmp ? tmp : "/tmp");
	FILE *log = fopen(logpath, "w");
	log_setup(LOG_DEBUG, log ? log : stderr);

	failed += cmocka_run_group_tests_name("db", engine_independent, NULL, NULL);
	failed += dbfx_run("db", &opts, tests, sizeof(tests) / sizeof(tests[0]), group_setup,
	                   dbfx_teardown);
	if (log)
		fclose(log);
	return failed ? 1 : 0;
}
