/* db_fixture.h: a fresh database for the unit tests that need one (header-only, static).
 *
 * One instance is a scratch directory under SHOULI_TEST_TMP plus a database:
 *   - SQLite: the file <root>/t0.db;
 *   - PostgreSQL, in the second pass of dbfx_run (only when SHOULI_TEST_PG holds a libpq
 *     conninfo, see scripts/pg-test.sh): a new schema on that server, reached through
 *     search_path, dropped at teardown.
 * The project's migrations/ are applied unless opts.no_migrate. The state lives in the global
 * `dbfx`: dbfx.srv carries cfg (config_defaults, with cheap password hashing), db and, when
 * asked, keys; nothing else of the server is started, and a test may fill in the rest.
 *
 * Per test:   dbfx_run(name, &opts, tests, n, NULL, NULL) with DBFX_TEST(f) entries.
 * Per group:  dbfx_run(name, &opts, tests, n, dbfx_setup, dbfx_teardown), or a group setup of
 *             the test's own that calls dbfx_setup first and a teardown that ends with
 *             dbfx_teardown.
 * Include it as "../common/db_fixture.h" (it is not a test itself: the CMake glob takes only
 * tests/unit/<module>/test_*.c). */
#ifndef SHOULI_TEST_DB_FIXTURE_H
#define SHOULI_TEST_DB_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/id.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "server/server.h"

#define DBFX_MAX_SCHEMAS 8

/* What one test file needs besides the database. Zero is the plain case. */
struct dbfx_opts {
	int pool;        /* connections in dbfx.srv.db; 0 = 4 */
	bool no_migrate; /* leave the database empty (tests that bring their own migrations) */
	bool keys;       /* dbfx.srv.keys: a key ring on a new master key file under root */
	bool data_key;   /* ... with an active data key, for sealing (implies keys) */
	bool data_dir;   /* dbfx.srv.cfg.data_dir = <root>/data, created (tests that write files) */
};

struct dbfx {
	struct dbfx_opts opts;
	bool pg;            /* this pass runs on PostgreSQL */
	const char *engine; /* "sqlite" or "postgres", as db_engine() names them */
	char root[512];     /* scratch directory, removed at teardown */
	char migdir[600];   /* the project's migrations/ */
	char url[1200];     /* the database of srv.db: open more pools on it with db_open */
	char pg_base[600];  /* PG: the conninfo of SHOULI_TEST_PG, no search_path */
	char tag[80];       /* <name>_<pid>_<random hex>: names this instance's schemas */
	char schemas[DBFX_MAX_SCHEMAS][96]; /* PG: made by dbfx_target, dropped at teardown */
	int nschemas;
	int ntargets;
	struct server srv;
};

static struct dbfx dbfx;

/* Set by dbfx_run for the pass that runs; dbfx_setup starts from it. */
static struct {
	const char *name;
	struct dbfx_opts opts;
	bool pg;
} dbfx_pass = {"test", {0}, false};

static inline int dbfx_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void dbfx_mkdirs(const char *path)
{
	char tmp[1024];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			mkdir(tmp, 0700);
			*p = '/';
		}
	}
	mkdir(tmp, 0700);
}

/* Run statements on the PostgreSQL server outside any test schema (CREATE/DROP SCHEMA),
 * through a pool of one connection of its own. Stops at the first failure. */
static inline enum err dbfx_admin_sql(const char *const *sql, int n)
{
	struct db *admin = NULL;
	struct db_conn *c = NULL;
	char url[700], msg[256] = "";
	snprintf(url, sizeof(url), "postgres:%s", dbfx.pg_base);
	enum err e = db_open(url, 1, &admin, msg, sizeof(msg));
	if (!e)
		e = db_acquire(admin, 2000, &c);
	for (int k = 0; !e && k < n; k++)
		e = db_exec(c, NULL, NULL, sql[k], "");
	if (e)
		fprintf(stderr, "db fixture: %s: %s\n", n > 0 ? sql[0] : "", msg);
	db_release(c);
	db_close(admin);
	return e;
}

/* A fresh, empty database of this pass's engine: its URL into url (size n). SQLite: a new
 * file <root>/t<k>.db; PostgreSQL: a new schema, dropped at teardown. dbfx_setup makes the
 * first one for srv.db; a test may make more (at most DBFX_MAX_SCHEMAS per instance). */
static inline enum err dbfx_target(char *url, size_t n)
{
	int k = dbfx.ntargets++;
	if (!dbfx.pg) {
		snprintf(url, n, "sqlite:%s/t%d.db", dbfx.root, k);
		return ERR_OK;
	}
	if (dbfx.nschemas >= DBFX_MAX_SCHEMAS)
		return ERR_INTERNAL;
	char *schema = dbfx.schemas[dbfx.nschemas];
	char sql[160];
	const char *stmt[] = {sql};
	snprintf(schema, sizeof(dbfx.schemas[0]), "%s_%d", dbfx.tag, k);
	snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
	enum err e = dbfx_admin_sql(stmt, 1);
	if (e)
		return e;
	dbfx.nschemas++;
	snprintf(url, n, "postgres:%s options='-csearch_path=%s'", dbfx.pg_base, schema);
	return ERR_OK;
}

/* Undo dbfx_setup (also after it failed half-way): close srv.db, drop the schemas, destroy
 * the key ring, remove root. Returns -1 when something could not be removed. */
static inline int dbfx_teardown(void **state)
{
	(void)state;
	char sql[DBFX_MAX_SCHEMAS][160];
	const char *stmt[DBFX_MAX_SCHEMAS];
	int rc = 0;
	db_close(dbfx.srv.db);
	dbfx.srv.db = NULL;
	keyring_destroy(dbfx.srv.keys);
	dbfx.srv.keys = NULL;
	config_release(&dbfx.srv.cfg);
	for (int k = 0; k < dbfx.nschemas; k++) {
		snprintf(sql[k], sizeof(sql[k]), "DROP SCHEMA IF EXISTS %s CASCADE",
		         dbfx.schemas[k]);
		stmt[k] = sql[k];
	}
	if (dbfx.nschemas && dbfx_admin_sql(stmt, dbfx.nschemas))
		rc = -1;
	if (dbfx.root[0] && nftw(dbfx.root, dbfx_rm_entry, 16, FTW_DEPTH | FTW_PHYS))
		rc = -1;
	memset(&dbfx, 0, sizeof(dbfx));
	return rc;
}

/* Make a new instance for the pass that runs (see dbfx_run): scratch directory, database,
 * migrations, config, and the key ring and data directory when the options ask for them.
 * Returns 0, or -1 after printing why and undoing what was done. */
static inline int dbfx_setup(void **state)
{
	char msg[512] = "", hex[9], keyfile[600];
	const char *src = getenv("SHOULI_SOURCE_DIR");
	const char *tmp = getenv("SHOULI_TEST_TMP");
	const char *pg = getenv("SHOULI_TEST_PG");
	struct buf wrapped;
	uint32_t kid;
	enum err e;

	memset(&dbfx, 0, sizeof(dbfx));
	dbfx.opts = dbfx_pass.opts;
	dbfx.pg = dbfx_pass.pg;
	dbfx.engine = dbfx.pg ? "postgres" : "sqlite";
	config_defaults(&dbfx.srv.cfg);
	dbfx.srv.cfg.pbkdf2_iter = 1000; /* the tests check the policy, not the cost */
	if (crypto_init() || id_random_hex(hex, 4)) {
		snprintf(msg, sizeof(msg), "no randomness");
		goto fail;
	}
	if (dbfx.pg && !(pg && *pg)) {
		snprintf(msg, sizeof(msg), "SHOULI_TEST_PG is not set");
		goto fail;
	}
	snprintf(dbfx.tag, sizeof(dbfx.tag), "%s_%ld_%s", dbfx_pass.name, (long)getpid(), hex);
	snprintf(dbfx.migdir, sizeof(dbfx.migdir), "%s/migrations", src && *src ? src : ".");
	snprintf(dbfx.root, sizeof(dbfx.root), "%s/%s", tmp && *tmp ? tmp : "/tmp", dbfx.tag);
	dbfx_mkdirs(dbfx.root);
	if (dbfx.pg)
		snprintf(dbfx.pg_base, sizeof(dbfx.pg_base), "%s", pg);
	if (dbfx_target(dbfx.url, sizeof(dbfx.url))) {
		snprintf(msg, sizeof(msg), "cannot make a database for %s", dbfx.tag);
		goto fail;
	}
	if (db_open(dbfx.url, dbfx.opts.pool > 0 ? dbfx.opts.pool : 4, &dbfx.srv.db, msg,
	            sizeof(msg)))
		goto fail;
	if (!dbfx.opts.no_migrate && db_migrate(dbfx.srv.db, dbfx.migdir, msg, sizeof(msg)))
		goto fail;
	if (dbfx.opts.keys || dbfx.opts.data_key) {
		snprintf(keyfile, sizeof(keyfile), "%s/master.key", dbfx.root);
		if (keyring_open_file(keyfile, true, &dbfx.srv.keys)) {
			snprintf(msg, sizeof(msg), "cannot make the master key %.400s", keyfile);
			goto fail;
		}
	}
	if (dbfx.opts.data_key) {
		buf_init(&wrapped, 256);
		e = keyring_new_data_key(dbfx.srv.keys, &kid, &wrapped);
		buf_release(&wrapped);
		if (e) {
			snprintf(msg, sizeof(msg), "cannot make a data key");
			goto fail;
		}
	}
	if (dbfx.opts.data_dir) {
		char dir[600];
		snprintf(dir, sizeof(dir), "%s/data", dbfx.root);
		free(dbfx.srv.cfg.data_dir);
		dbfx.srv.cfg.data_dir = strdup(dir);
		if (!dbfx.srv.cfg.data_dir || mkdir(dir, 0700)) {
			snprintf(msg, sizeof(msg), "cannot make %.400s", dir);
			goto fail;
		}
	}
	return 0;
fail:
	fprintf(stderr, "db fixture (%s): setup failed: %s\n", dbfx.engine, msg);
	dbfx_teardown(state);
	return -1;
}

/* Run one statement on srv.db that must succeed; its rows are allocated in a. */
static inline struct db_rows *dbfx_sql(struct arena *a, const char *sql)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_exec(c, a, &rs, sql, ""), ERR_OK);
	db_release(c);
	return rs;
}

/* Run the tests as group "<name>/sqlite", then as "<name>/postgres" when SHOULI_TEST_PG is
 * set, with group_setup/group_teardown around each pass (NULL for none). name also names
 * the scratch directories and schemas, so it must be lower-case letters, digits and '_'.
 * opts may be NULL. Returns 1 when a test failed, else 0 (main's exit status). */
static inline int dbfx_run(const char *name, const struct dbfx_opts *opts,
                           const struct CMUnitTest *tests, size_t n, CMFixtureFunction group_setup,
                           CMFixtureFunction group_teardown)
{
	char label[128];
	int failed;
	const char *pg = getenv("SHOULI_TEST_PG");
	dbfx_pass.name = name;
	dbfx_pass.opts = opts ? *opts : (struct dbfx_opts){0};
	dbfx_pass.pg = false;
	snprintf(label, sizeof(label), "%s/sqlite", name);
	failed = _cmocka_run_group_tests(label, tests, n, group_setup, group_teardown);
	if (pg && *pg) {
		dbfx_pass.pg = true;
		snprintf(label, sizeof(label), "%s/postgres", name);
		failed += _cmocka_run_group_tests(label, tests, n, group_setup, group_teardown);
	} else {
		print_message("[ info ] SHOULI_TEST_PG not set: PostgreSQL run skipped\n");
	}
	return failed ? 1 : 0;
}

/* A test with an instance of its own. */
#define DBFX_TEST(f) cmocka_unit_test_setup_teardown(f, dbfx_setup, dbfx_teardown)

#endif
