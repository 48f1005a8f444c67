/* test_log.c: the call log and the statistics on a temporary SQLite database — every queued
 * line is stored by a clean shutdown (no flush asked for), ids are unique and ordered, days
 * are China Standard Time dates, percentiles are nearest-rank over the day's latencies, and
 * the XLSX export is a ZIP with the zh-CN sheet. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ftw.h>
#include <sys/stat.h>

#include "core/id.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "gateway/gateway_int.h"

static struct server srv;
static char root[600];

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

static int setup(void **state)
{
	(void)state;
	char hex[9], url[700], keyfile[700], mig[700], msg[512] = "";
	const char *tmp = getenv("SHOULI_TEST_TMP"), *src = getenv("SHOULI_SOURCE_DIR");
	struct buf wrapped;
	uint32_t kid;
	if (crypto_init() || id_random_hex(hex, 4))
		return -1;
	memset(&srv, 0, sizeof(srv));
	config_defaults(&srv.cfg);
	snprintf(root, sizeof(root), "%s/gateway-log-%s", tmp && *tmp ? tmp : "/tmp", hex);
	mkdir(tmp && *tmp ? tmp : "/tmp", 0700);
	mkdir(root, 0700);
	snprintf(url, sizeof(url), "sqlite:%s/shouli.db", root);
	snprintf(keyfile, sizeof(keyfile), "%s/keys/master.key", root);
	snprintf(mig, sizeof(mig), "%s/migrations", src && *src ? src : ".");
	buf_init(&wrapped, 256);
	enum err e = keyring_open_file(keyfile, true, &srv.keys);
	if (!e)
		e = keyring_new_data_key(srv.keys, &kid, &wrapped);
	buf_release(&wrapped);
	if (e || db_open(url, 4, &srv.db, msg, sizeof(msg)) ||
	    db_migrate(srv.db, mig, msg, sizeof(msg))) {
		fprintf(stderr, "test_log: setup failed: %s\n", msg);
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	gw_state_destroy(&srv);
	db_close(srv.db);
	keyring_destroy(srv.keys);
	config_release(&srv.cfg);
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static int64_t count(const char *where)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct arena a;
	char sql[300];
	arena_init(&a, 0);
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM gateway_calls WHERE %s", where);
	assert_int_equal(db_acquire(srv.db, 5000, &c), ERR_OK);
	assert_int_equal(db_exec(c, &a, &rs, sql, ""), ERR_OK);
	int64_t n = db_int(rs, 0, 0);
	db_release(c);
	arena_release(&a);
	return n;
}

static struct gw_log_line *line(const char *method, int64_t started, int64_t latency_us,
                                const char *outcome)
{
	struct gw_log_line *l = calloc(1, sizeof(*l));
	assert_non_null(l);
	l->id = gw_log_new_id();
	snprintf(l->trace_id, sizeof(l->trace_id), "0af7651916cd43dd8448eb211c80319c");
	snprintf(l->connector, sizeof(l->connector), "t_log");
	snprintf(l->method, sizeof(l->method), "%s", method);
	l->started_at = started;
	l->latency_us = latency_us;
	l->outcome = outcome;
	l->attempts = 1;
	l->http_status = 200;
	l->request = strdup("{\"a\":1}");
	return l;
}

static void test_ids_and_days(void **state)
{
	(void)state;
	int64_t prev = gw_log_new_id();
	for (int i = 0; i < 10000; i++) {
		int64_t id = gw_log_new_id();
		assert_true(id != prev);
		assert_true(id > 0 && id < (1LL << 53));
		prev = id;
	}
	/* 2026-11-28T16:00:00Z is midnight of the 29th in Shanghai. */
	assert_int_equal(gw_day_of(1795881600000LL - 1), 20261128);
	assert_int_equal(gw_day_of(1795881600000LL), 20261129);
	assert_int_equal(gw_day_start_ms(20261129), 1795881600000LL);
	assert_int_equal(gw_day_add(20261231, 1), 20270101);
	assert_int_equal(gw_day_add(20240301, -1), 20240229);
	int d;
	assert_true(gw_parse_date("2024-02-29", &d));
	assert_int_equal(d, 20240229);
	assert_false(gw_parse_date("2023-02-29", &d));
	assert_false(gw_parse_date("2026-13-01", &d));
	assert_false(gw_parse_date("2026-1-01", &d));
}

static void test_shutdown_keeps_every_line_and_stats(void **state)
{
	(void)state;
	int64_t day0 = gw_day_start_ms(20261129) + 3600000;
	assert_int_equal(gw_state_create(&srv, NULL), ERR_OK);
	/* 100 calls of "get" with latencies 1..100 ms (one an error), 1 of "post" the next day,
	 * and 2000 more to make several batches. */
	for (int i = 1; i <= 100; i++)
		gw_log_submit(&srv, srv.gateway->log,
		              line("get", day0 + i, (int64_t)i * 1000, i == 7 ? "error" : "ok"));
	gw_log_submit(&srv, srv.gateway->log, line("post", day0 + 86400000, 5000, "mock"));
	for (int i = 0; i < 2000; i++)
		gw_log_submit(&srv, srv.gateway->log, line("bulk", day0 - 86400000, 10, "ok"));
	gw_state_destroy(&srv); /* no flush asked for: shutdown drains the queue */
	assert_null(srv.gateway);
	assert_int_equal(count("connector = 't_log'"), 2101);
	assert_int_equal(count("method = 'get' AND day = 20261129"), 100);

	struct db_conn *c = NULL;
	struct arena a;
	struct gw_stats_row *rows = NULL;
	size_t n = 0;
	arena_init(&a, 0);
	assert_int_equal(db_acquire(srv.db, 5000, &c), ERR_OK);
	assert_int_equal(gw_stats_compute(c, &a, 20261129, 20261130, "t_log", &rows, &n), ERR_OK);
	db_release(c);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].day, 20261129);
	assert_string_equal(rows[0].method, "get");
	assert_int_equal(rows[0].count, 100);
	assert_int_equal(rows[0].ok, 99);
	assert_int_equal(rows[0].p50_us, 50000);
	assert_int_equal(rows[0].p95_us, 95000);
	assert_int_equal(rows[0].p99_us, 99000);
	assert_true(rows[0].avg_us > 50499 && rows[0].avg_us < 50501);
	assert_int_equal(rows[1].day, 20261130);
	assert_string_equal(rows[1].method, "post");
	assert_int_equal(rows[1].ok, 1); /* mock answers count as successes */
	assert_int_equal(rows[1].p99_us, 5000);

	json_t *j = gw_stats_json(rows, n);
	assert_string_equal(json_get_str(json_array_get(j, 0), "day"), "2026-11-29");
	assert_true(json_real_value(json_object_get(json_array_get(j, 0), "success_rate")) == 0.99);
	json_decref(j);

	const void *data = NULL;
	size_t len = 0;
	assert_int_equal(gw_stats_xlsx(rows, n, 20261129, 20261130, root, &a, &data, &len), ERR_OK);
	assert_true(len > 1000);
	assert_memory_equal(data, "PK\x03\x04", 4);
	arena_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ids_and_days),
	    cmocka_unit_test(test_shutdown_keeps_every_line_and_stats),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
