/* test_chain.c: the audit hash chain — appends link up, audit_verify accepts an intact
 * chain and names the first row that was changed, removed or cut off. */
#include "../common/db_fixture.h"

#include <pthread.h>

#include "audit/audit.h"
#include "core/log.h"

/* Append n entries in one write transaction; entry i has detail {"i":i} and a NULL target
 * on odd i (so NULL and "" are both exercised). */
static void append_n(int n)
{
	struct db_conn *c = NULL;
	struct arena a;
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	for (int i = 1; i <= n; i++) {
		char detail[32];
		snprintf(detail, sizeof(detail), "{\"i\":%d}", i);
		struct audit_entry e = {
		    .actor_id = i % 3,
		    .actor_name = i % 3 ? "clerk" : NULL,
		    .action = "test.append",
		    .target = i % 2 ? NULL : "case:1",
		    .detail = detail,
		    .client_ip = "127.0.0.1",
		    .trace_id = "0123456789abcdef0123456789abcdef",
		};
		assert_int_equal(audit_append(c, &a, &e), ERR_OK);
	}
	assert_int_equal(db_commit(c), ERR_OK);
	db_release(c);
	arena_release(&a);
}

static int64_t verify(int64_t *checked, char *msg, size_t msgsz, enum err want)
{
	int64_t bad = -1;
	assert_int_equal(audit_verify(dbfx.srv.db, checked, &bad, msg, msgsz), want);
	return bad;
}

static void test_empty_chain_is_intact(void **state)
{
	(void)state;
	int64_t checked = -1;
	char msg[256];
	assert_int_equal(verify(&checked, msg, sizeof(msg), ERR_OK), 0);
	assert_int_equal(checked, 0);
}

static void test_intact_chain_verifies(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	append_n(20);
	int64_t checked = 0;
	char msg[256];
	assert_int_equal(verify(&checked, msg, sizeof(msg), ERR_OK), 0);
	assert_int_equal(checked, 20);
	/* Links: ids 1..n without gaps, first prev_hash zero, each prev = previous hash. */
	struct db_rows *rs = dbfx_sql(&a, "SELECT id, prev_hash, hash FROM audit_log ORDER BY id");
	assert_int_equal(rs->nrows, 20);
	assert_string_equal(db_text(rs, 0, 1),
	                    "0000000000000000000000000000000000000000000000000000000000000000");
	for (int i = 1; i < rs->nrows; i++) {
		assert_int_equal(db_int(rs, i, 0), i + 1);
		assert_string_equal(db_text(rs, i, 1), db_text(rs, i - 1, 2));
		assert_int_equal(strlen(db_text(rs, i, 2)), 64);
	}
	arena_release(&a);
}

static void test_changed_detail_is_named(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	append_n(10);
	dbfx_sql(&a, "UPDATE audit_log SET detail = '{\"i\":999}' WHERE id = 7");
	int64_t checked = 0;
	char msg[256];
	assert_int_equal(verify(&checked, msg, sizeof(msg), ERR_INTEGRITY), 7);
	assert_int_equal(checked, 6);
	assert_non_null(strstr(msg, "第 7 条"));
	arena_release(&a);
}

static void test_null_becoming_empty_is_detected(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	append_n(4);
	dbfx_sql(&a, "UPDATE audit_log SET target = '' WHERE id = 3"); /* was NULL */
	int64_t checked = 0;
	assert_int_equal(verify(&checked, NULL, 0, ERR_INTEGRITY), 3);
	arena_release(&a);
}

static void test_rewritten_hash_breaks_the_next_link(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	append_n(6);
	/* An attacker who changes a row and gives it a new (well-formed) hash still leaves
	 * the row inconsistent with that hash, and the next row pointing at the old one. */
	dbfx_sql(&a,
	         "UPDATE audit_log SET actor_name = 'intruder', hash = "
	         "'1111111111111111111111111111111111111111111111111111111111111111' WHERE id = 2");
	int64_t checked = 0;
	assert_int_equal(verify(&checked, NULL, 0, ERR_INTEGRITY), 2);
	arena_release(&a);
}

static void test_deleted_row_is_detected(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	append_n(10);
	dbfx_sql(&a, "DELETE FROM audit_log WHERE id = 5");
	int64_t checked = 0;
	char msg[256];
	assert_int_equal(verify(&checked, msg, sizeof(msg), ERR_INTEGRITY), 6);
	assert_int_equal(checked, 4);
	assert_non_null(strstr(msg, "第 5 条"));
	arena_release(&a);
}

static void test_cut_off_tail_is_detected(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	append_n(10);
	dbfx_sql(&a, "DELETE FROM audit_log WHERE id >= 9");
	int64_t checked = 0;
	char msg[256];
	assert_int_equal(verify(&checked, msg, sizeof(msg), ERR_INTEGRITY), 9);
	assert_int_equal(checked, 8);
	assert_non_null(strstr(msg, "末尾"));
	arena_release(&a);
}

static void test_verify_walks_past_one_batch(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	append_n(2300);
	int64_t checked = 0;
	assert_int_equal(verify(&checked, NULL, 0, ERR_OK), 0);
	assert_int_equal(checked, 2300);
	dbfx_sql(&a, "UPDATE audit_log SET action = 'test.other' WHERE id = 2101");
	assert_int_equal(verify(&checked, NULL, 0, ERR_INTEGRITY), 2101);
	assert_int_equal(checked, 2100);
	arena_release(&a);
}

static void test_long_detail_is_clipped_at_a_character(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	/* 3-byte characters: a cut at AUDIT_DETAIL_MAX bytes must not split one. */
	size_t n = AUDIT_DETAIL_MAX + 300;
	char *big = arena_alloc(&a, n + 1);
	for (size_t i = 0; i + 3 <= n; i += 3)
		memcpy(big + i, "审", 3);
	big[n - n % 3] = 0;
	assert_int_equal(audit_record(&dbfx.srv, NULL, "test.big", NULL, big), ERR_OK);
	struct db_rows *rs = dbfx_sql(&a, "SELECT detail, actor_name FROM audit_log WHERE id = 1");
	const char *d = db_text(rs, 0, 0);
	assert_true(strlen(d) <= AUDIT_DETAIL_MAX);
	assert_true(strlen(d) > AUDIT_DETAIL_MAX - 3);
	assert_true(utf8_valid(d, strlen(d)));
	assert_string_equal(db_text(rs, 0, 1), "system");
	int64_t checked = 0;
	assert_int_equal(verify(&checked, NULL, 0, ERR_OK), 0);
	arena_release(&a);
}

static void test_append_without_action_is_refused(void **state)
{
	(void)state;
	struct db_conn *c = NULL;
	struct arena a;
	arena_init(&a, 0);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	struct audit_entry e = {.actor_name = "x"};
	assert_int_equal(audit_append(c, &a, &e), ERR_BAD_FIELD);
	db_release(c);
	arena_release(&a);
}

static void test_rolled_back_append_leaves_no_trace(void **state)
{
	(void)state;
	struct db_conn *c = NULL;
	struct arena a;
	arena_init(&a, 0);
	append_n(2);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	struct audit_entry e = {.action = "test.rolled_back"};
	assert_int_equal(audit_append(c, &a, &e), ERR_OK);
	assert_int_equal(db_rollback(c), ERR_OK);
	db_release(c);
	append_n(1);
	int64_t checked = 0;
	assert_int_equal(verify(&checked, NULL, 0, ERR_OK), 0);
	assert_int_equal(checked, 3);
	arena_release(&a);
}

#define THREADS    4
#define PER_THREAD 40

static void *record_many(void *arg)
{
	(void)arg;
	for (int i = 0; i < PER_THREAD; i++)
		if (audit_record(&dbfx.srv, NULL, "test.concurrent", "t", NULL) != ERR_OK)
			return (void *)1;
	return NULL;
}

static void test_concurrent_appenders_never_fork(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, record_many, NULL), 0);
	for (int i = 0; i < THREADS; i++) {
		void *rv = NULL;
		pthread_join(t[i], &rv);
		assert_null(rv);
	}
	int64_t checked = 0;
	assert_int_equal(verify(&checked, NULL, 0, ERR_OK), 0);
	assert_int_equal(checked, THREADS * PER_THREAD);
	struct db_rows *rs =
	    dbfx_sql(&a, "SELECT COUNT(*), COUNT(DISTINCT prev_hash), MAX(id) FROM audit_log");
	assert_int_equal(db_int(rs, 0, 0), THREADS * PER_THREAD);
	assert_int_equal(db_int(rs, 0, 1), THREADS * PER_THREAD);
	assert_int_equal(db_int(rs, 0, 2), THREADS * PER_THREAD);
	arena_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    DBFX_TEST(test_empty_chain_is_intact),
	    DBFX_TEST(test_intact_chain_verifies),
	    DBFX_TEST(test_changed_detail_is_named),
	    DBFX_TEST(test_null_becoming_empty_is_detected),
	    DBFX_TEST(test_rewritten_hash_breaks_the_next_link),
	    DBFX_TEST(test_deleted_row_is_detected),
	    DBFX_TEST(test_cut_off_tail_is_detected),
	    DBFX_TEST(test_verify_walks_past_one_batch),
	    DBFX_TEST(test_long_detail_is_clipped_at_a_character),
	    DBFX_TEST(test_append_without_action_is_refused),
	    DBFX_TEST(test_rolled_back_append_leaves_no_trace),
	    DBFX_TEST(test_concurrent_appenders_never_fork),
	};
	const struct dbfx_opts opts = {.pool = 6, .keys = true};
	log_setup(LOG_ERROR, stderr);
	return dbfx_run("audit", &opts, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}
