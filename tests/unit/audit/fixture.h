/* fixture.h: a fresh, migrated database (and master key) per test, for the audit and auth
 * unit tests (header-only, static).
 *
 * SQLite: a new file under SHOULI_TEST_TMP. PostgreSQL (when the group runs with pg = true,
 * i.e. SHOULI_TEST_PG holds a libpq conninfo, see scripts/pg-test.sh): a new schema, dropped
 * at teardown. The struct server carries cfg (defaults, cheap password hashing), db and keys;
 * nothing else is started. */
#ifndef SHOULI_TEST_AUDIT_FIXTURE_H
#define SHOULI_TEST_AUDIT_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/id.h"
#include "core/log.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "server/server.h"

struct fx {
	bool pg;
	char root[512]; /* scratch directory (key file; SQLite file) */
	char migdir[600];
	char url[1200];
	char schema[64]; /* PG */
	struct server srv;
};

static struct fx fx;
static bool fx_pg_mode; /* which group is running */

static int fx_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void fx_mkdirs(const char *path)
{
	char tmp[512];
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

static int fx_admin_sql(const char *sql)
{
	struct db *admin = NULL;
	struct db_conn *c = NULL;
	char url[600], msg[256];
	int rc = -1;
	snprintf(url, sizeof(url), "postgres:%s", getenv("SHOULI_TEST_PG"));
	if (db_open(url, 1, &admin, msg, sizeof(msg)) != ERR_OK)
		return -1;
	if (db_acquire(admin, 2000, &c) == ERR_OK) {
		rc = db_exec(c, NULL, NULL, sql, "") == ERR_OK ? 0 : -1;
		db_release(c);
	}
	db_close(admin);
	return rc;
}

/* Open a fresh database with every migration applied, and a new master key. */
static int fx_setup(void **state)
{
	(void)state;
	char msg[512] = "", hex[9], sql[200];
	const char *src = getenv("SHOULI_SOURCE_DIR");
	const char *tmp = getenv("SHOULI_TEST_TMP");
	memset(&fx, 0, sizeof(fx));
	fx.pg = fx_pg_mode;
	if (crypto_init() || id_random_hex(hex, 4))
		return -1;
	snprintf(fx.migdir, sizeof(fx.migdir), "%s/migrations", src && *src ? src : ".");
	snprintf(fx.root, sizeof(fx.root), "%s/authaudit-%ld-%s", tmp && *tmp ? tmp : "/tmp",
	         (long)getpid(), hex);
	fx_mkdirs(fx.root);
	if (fx.pg) {
		snprintf(fx.schema, sizeof(fx.schema), "authaudit_%ld_%s", (long)getpid(), hex);
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", fx.schema);
		if (fx_admin_sql(sql))
			return -1;
		snprintf(fx.url, sizeof(fx.url), "postgres:%s options='-csearch_path=%s'",
		         getenv("SHOULI_TEST_PG"), fx.schema);
	} else {
		snprintf(fx.url, sizeof(fx.url), "sqlite:%s/t.db", fx.root);
	}
	config_defaults(&fx.srv.cfg);
	fx.srv.cfg.pbkdf2_iter = 1000; /* the policy under test, not the cost */
	char keyfile[600];
	snprintf(keyfile, sizeof(keyfile), "%s/master.key", fx.root);
	if (keyring_open_file(keyfile, true, &fx.srv.keys) ||
	    db_open(fx.url, 6, &fx.srv.db, msg, sizeof(msg)) ||
	    db_migrate(fx.srv.db, fx.migdir, msg, sizeof(msg))) {
		fprintf(stderr, "fixture: setup failed: %s\n", msg);
		return -1;
	}
	return 0;
}

static int fx_teardown(void **state)
{
	(void)state;
	char sql[200];
	int rc = 0;
	db_close(fx.srv.db);
	keyring_destroy(fx.srv.keys);
	config_release(&fx.srv.cfg);
	if (fx.pg) {
		snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", fx.schema);
		rc = fx_admin_sql(sql);
	}
	if (nftw(fx.root, fx_rm_entry, 16, FTW_DEPTH | FTW_PHYS))
		rc = -1;
	memset(&fx, 0, sizeof(fx));
	return rc;
}

/* Run one statement that must succeed; returns its rows (from a). */
static struct db_rows *fx_sql(struct arena *a, const char *sql)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	assert_int_equal(db_acquire(fx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_exec(c, a, &rs, sql, ""), ERR_OK);
	db_release(c);
	return rs;
}

/* Run the tests on SQLite, then on PostgreSQL when SHOULI_TEST_PG is set. */
static int fx_run(const char *name, const struct CMUnitTest *tests, size_t n)
{
	char label[128];
	int failed;
	log_setup(LOG_ERROR, stderr);
	snprintf(label, sizeof(label), "%s/sqlite", name);
	fx_pg_mode = false;
	failed = _cmocka_run_group_tests(label, tests, n, NULL, NULL);
	const char *pg = getenv("SHOULI_TEST_PG");
	if (pg && *pg) {
		snprintf(label, sizeof(label), "%s/postgres", name);
		fx_pg_mode = true;
		failed += _cmocka_run_group_tests(label, tests, n, NULL, NULL);
	} else {
		print_message("[ info ] SHOULI_TEST_PG not set: PostgreSQL run skipped\n");
	}
	return failed ? 1 : 0;
}

#define FX_TEST(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

#endif
