/* test_open_store.c: the SQL of the open APIs on SQLite (a temporary file under
 * SHOULI_TEST_TMP) and, when SHOULI_TEST_PG holds a libpq conninfo (scripts/pg-test.sh), on
 * PostgreSQL in a schema of its own: the one-query lookup of credential, API and grant; the
 * daily quota as a conditional upsert (exact under concurrent callers, given back, per day);
 * retention of the call log in batches. */
#include "../common/db_fixture.h"

#include <pthread.h>
#include <stdatomic.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "gateway/gateway_open_int.h"
#include "server/server.h"

static int test_setup(void **state)
{
	(void)state;
	static const char *const wipe[] = {"DELETE FROM open_calls", "DELETE FROM open_usage",
	                                   "DELETE FROM open_grants",
	                                   "DELETE FROM open_credentials", "DELETE FROM open_apis"};
	struct db_conn *c = NULL;
	enum err e = db_acquire(dbfx.srv.db, 2000, &c);
	for (size_t i = 0; !e && i < sizeof(wipe) / sizeof(wipe[0]); i++)
		e = db_exec(c, NULL, NULL, wipe[i], "");
	db_release(c);
	return e ? -1 : 0;
}

/* A credential with a grant for "ping"; returns the grant id. */
static int64_t make_grant(struct db_conn *c, struct arena *a, const char *key_id, int64_t quota)
{
	struct open_cred_rec cred = {.key_id = key_id,
	                             .kind = "sm2",
	                             .owner = "测试系统",
	                             .public_key = "PEM",
	                             .enabled = true};
	struct open_grant_rec g = {
	    .g = {.enabled = true,
	          .win = {0x1f, 480, 1080},
	          .daily_quota = quota,
	          .rate_per_min = 7},
	    .api = "ping",
	};
	assert_int_equal(open_store_cred_insert(c, a, &cred, NULL, 0), ERR_OK);
	g.credential_id = cred.id;
	assert_int_equal(open_store_grant_insert(c, a, &g), ERR_OK);
	return g.g.id;
}

static void lookup(void **state)
{
	(void)state;
	struct arena a;
	struct db_conn *c = NULL;
	struct open_cred cred;
	struct open_api_row arow;
	struct open_grant grant;
	bool has = false;
	arena_init(&a, 0);
	assert_int_equal(open_store_seed_apis(&dbfx.srv), ERR_OK);
	assert_int_equal(open_store_seed_apis(&dbfx.srv), ERR_OK); /* idempotent */
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	int64_t gid = make_grant(c, &a, "aklookup", 10);

	assert_int_equal(open_store_lookup(c, &a, "aknone", "ping", &cred, &arow, &grant, &has),
	                 ERR_NOT_FOUND);
	assert_int_equal(open_store_lookup(c, &a, "aklookup", "ping", &cred, &arow, &grant, &has),
	                 ERR_OK);
	assert_true(has);
	assert_int_equal(grant.id, gid);
	assert_int_equal(grant.win.weekdays, 0x1f);
	assert_int_equal(grant.win.from_min, 480);
	assert_int_equal(grant.win.to_min, 1080);
	assert_int_equal(grant.daily_quota, 10);
	assert_int_equal(grant.rate_per_min, 7);
	assert_string_equal(cred.kind, "sm2");
	assert_string_equal(cred.owner, "测试系统");
	assert_true(arow.found && arow.enabled);
	assert_non_null(arow.mock);
	/* Another API: the credential is found, the grant is not. */
	assert_int_equal(
	    open_store_lookup(c, &a, "aklookup", "catalog.item", &cred, &arow, &grant, &has),
	    ERR_OK);
	assert_false(has);
	assert_true(arow.found);
	assert_int_equal(open_store_lookup(c, &a, "aklookup", "nope", &cred, &arow, &grant, &has),
	                 ERR_OK);
	assert_false(arow.found);
	db_release(c);
	arena_release(&a);
}

static void quota_counts_per_day(void **state)
{
	(void)state;
	struct arena a;
	struct db_conn *c = NULL;
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	int64_t gid = make_grant(c, &a, "akquota", 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(open_store_quota_take(c, &a, gid, "2026-01-05", 3), ERR_OK);
	assert_int_equal(open_store_quota_take(c, &a, gid, "2026-01-05", 3), ERR_RATE_LIMITED);
	assert_int_equal(open_store_quota_used(c, &a, gid, "2026-01-05"), 3);
	open_store_quota_give_back(c, &a, gid, "2026-01-05");
	assert_int_equal(open_store_quota_used(c, &a, gid, "2026-01-05"), 2);
	assert_int_equal(open_store_quota_take(c, &a, gid, "2026-01-05", 3), ERR_OK);
	/* A new day starts from zero; a raised quota lets more through the same day. */
	assert_int_equal(open_store_quota_take(c, &a, gid, "2026-01-06", 3), ERR_OK);
	assert_int_equal(open_store_quota_used(c, &a, gid, "2026-01-06"), 1);
	assert_int_equal(open_store_quota_take(c, &a, gid, "2026-01-05", 4), ERR_OK);
	assert_int_equal(open_store_quota_used(c, &a, gid, "2026-01-05"), 4);
	db_release(c);
	arena_release(&a);
}

#define THREADS 6
#define TRIES   40
#define QUOTA   100

struct racer {
	int64_t grant_id;
	atomic_int *ok;
	atomic_int *errors;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	for (int i = 0; i < TRIES; i++) {
		struct arena a;
		struct db_conn *c = NULL;
		arena_init(&a, 0);
		enum err e = db_acquire(dbfx.srv.db, 10000, &c);
		if (!e)
			e = open_store_quota_take(c, &a, r->grant_id, "2026-01-05", QUOTA);
		if (e == ERR_OK)
			atomic_fetch_add(r->ok, 1);
		else if (e != ERR_RATE_LIMITED)
			atomic_fetch_add(r->errors, 1);
		db_release(c);
		arena_release(&a);
	}
	return NULL;
}

/* 240 concurrent takes of a quota of 100: exactly 100 succeed. */
static void quota_exact_under_concurrency(void **state)
{
	(void)state;
	struct arena a;
	struct db_conn *c = NULL;
	pthread_t t[THREADS];
	atomic_int ok = 0, errors = 0;
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	int64_t gid = make_grant(c, &a, "akrace", QUOTA);
	db_release(c);
	struct racer r = {gid, &ok, &errors};
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, race, &r), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(atomic_load(&errors), 0);
	assert_int_equal(atomic_load(&ok), QUOTA);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(open_store_quota_used(c, &a, gid, "2026-01-05"), QUOTA);
	db_release(c);
	arena_release(&a);
}

static void purge_in_batches(void **state)
{
	(void)state;
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms(), deleted = -1;
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	int64_t gid = make_grant(c, &a, "akpurge", 0);
	assert_int_equal(db_begin_write(c), ERR_OK);
	/* 5,003 rows older than 180 days (more than one batch), 2 recent ones. */
	for (int i = 0; i < 5005; i++) {
		struct open_call_row row = {
		    .at = i < 5003 ? now - 181 * 86400000LL : now - 1000,
		    .credential_id = 1,
		    .key_id = "akpurge",
		    .api = "ping",
		    .method = "GET",
		    .path = "/api/open/v1/ping",
		    .outcome = "ok",
		    .status = 200,
		};
		assert_int_equal(open_store_log(c, &a, &row), ERR_OK);
	}
	assert_int_equal(db_commit(c), ERR_OK);
	char today[11], old[11];
	open_local_day(now, today);
	open_local_day(now - 3 * 86400000LL, old);
	assert_int_equal(open_store_quota_take(c, &a, gid, today, 10), ERR_OK);
	assert_int_equal(open_store_quota_take(c, &a, gid, old, 10), ERR_OK);
	db_release(c);

	assert_int_equal(gateway_open_purge(&dbfx.srv, now, 180, &deleted), ERR_OK);
	assert_int_equal(deleted, 5003);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_exec(c, &a, &rs, "SELECT count(*) FROM open_calls", ""), ERR_OK);
	assert_int_equal(db_int(rs, 0, 0), 2);
	assert_int_equal(open_store_quota_used(c, &a, gid, today), 1);
	assert_int_equal(open_store_quota_used(c, &a, gid, old), 0);
	db_release(c);
	arena_release(&a);
}

#define TESTS                                                                                      \
	cmocka_unit_test_setup(lookup, test_setup),                                                \
	    cmocka_unit_test_setup(quota_counts_per_day, test_setup),                              \
	    cmocka_unit_test_setup(quota_exact_under_concurrency, test_setup),                     \
	    cmocka_unit_test_setup(purge_in_batches, test_setup)

int main(void)
{
	const struct CMUnitTest tests[] = {TESTS};
	const struct dbfx_opts opts = {.pool = 8};
	log_setup(LOG_ERROR, stderr);
	return dbfx_run("open_store", &opts, tests, sizeof(tests) / sizeof(tests[0]), dbfx_setup,
	                dbfx_teardown);
}
