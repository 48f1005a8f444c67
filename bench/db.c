/* bench/db.c: storage-layer figures: single-row INSERT commits per second (each its own
 * durable transaction: SQLite synchronous=FULL in WAL mode, PostgreSQL fsync and
 * synchronous_commit on), from one thread and from four, and point SELECTs by primary key
 * per second. Runs on SQLite (a file under SHOULI_TEST_TMP, else /tmp) and, when
 * SHOULI_TEST_PG is set, on PostgreSQL.
 *
 * Usage: bench_db [seconds per phase, default 2]
 * It prints figures; it does not pass or fail. */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"

#define PREFILL     10000
#define THREADS     4
#define MAX_SAMPLES 2000000

struct phase {
	struct db *db;
	const char *table;
	int64_t seconds;
	int64_t seed;
	int64_t ops;
	int64_t *lat; /* ns per op, when sampled */
	int64_t nlat;
	enum err e;
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static void print_line(const char *engine, const char *what, struct phase *p, int64_t ns)
{
	double per_s = (double)p->ops * 1e9 / (double)ns;
	printf("%-8s %-34s %10.0f /s", engine, what, per_s);
	if (p->nlat) {
		qsort(p->lat, (size_t)p->nlat, sizeof(*p->lat), cmp_i64);
		printf("   p50 %7.1f us   p99 %7.1f us", (double)p->lat[p->nlat / 2] / 1e3,
		       (double)p->lat[p->nlat * 99 / 100] / 1e3);
	}
	printf("   (%lld ops)\n", (long long)p->ops);
	fflush(stdout);
}

static void *insert_loop(void *arg)
{
	struct phase *p = arg;
	struct db_conn *c = NULL;
	char sql[160];
	snprintf(sql, sizeof(sql), "INSERT INTO %s (k, v) VALUES (?, ?)", p->table);
	int64_t end = time_mono_ns() + p->seconds * 1000000000LL;
	p->e = db_acquire(p->db, 10000, &c);
	while (!p->e && time_mono_ns() < end) {
		int64_t t0 = time_mono_ns();
		char key[48];
		snprintf(key, sizeof(key), "key-%lld-%lld", (long long)p->seed, (long long)p->ops);
		p->e = db_begin_write(c);
		if (!p->e)
			p->e = db_exec(c, NULL, NULL, sql, "si", key, p->ops);
		if (!p->e)
			p->e = db_commit(c);
		if (p->lat && p->nlat < MAX_SAMPLES)
			p->lat[p->nlat++] = time_mono_ns() - t0;
		p->ops++;
	}
	db_release(c);
	return NULL;
}

static void *select_loop(void *arg)
{
	struct phase *p = arg;
	struct db_conn *c = NULL;
	struct arena a;
	struct db_rows *rs;
	char sql[160];
	uint64_t x = (uint64_t)p->seed * 2654435761u + 1;
	snprintf(sql, sizeof(sql), "SELECT id, k, v FROM %s WHERE id = ?", p->table);
	arena_init(&a, 0);
	int64_t end = time_mono_ns() + p->seconds * 1000000000LL;
	p->e = db_acquire(p->db, 10000, &c);
	while (!p->e && time_mono_ns() < end) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t id = (int64_t)(x % PREFILL) + 1;
		int64_t t0 = time_mono_ns();
		p->e = db_exec(c, &a, &rs, sql, "i", id);
		if (!p->e && (rs->nrows != 1 || db_int(rs, 0, 0) != id))
			p->e = ERR_INTERNAL;
		if (p->lat && p->nlat < MAX_SAMPLES)
			p->lat[p->nlat++] = time_mono_ns() - t0;
		p->ops++;
		arena_release(&a);
	}
	db_release(c);
	arena_release(&a);
	return NULL;
}

static enum err run(struct db *db, const char *engine, const char *table, int nthreads,
                    void *(*fn)(void *), const char *what, int64_t seconds)
{
	struct phase p[THREADS];
	pthread_t th[THREADS];
	enum err e = ERR_OK;
	int64_t t0 = time_mono_ns();
	for (int k = 0; k < nthreads; k++) {
		p[k] = (struct phase){db, table, seconds, k + 1, 0, NULL, 0, ERR_OK};
		if (nthreads == 1)
			p[k].lat = malloc(sizeof(int64_t) * MAX_SAMPLES);
		pthread_create(&th[k], NULL, fn, &p[k]);
	}
	struct phase sum = {0};
	for (int k = 0; k < nthreads; k++) {
		pthread_join(th[k], NULL);
		sum.ops += p[k].ops;
		if (p[k].e)
			e = p[k].e;
	}
	int64_t ns = time_mono_ns() - t0;
	if (nthreads == 1) {
		sum.lat = p[0].lat;
		sum.nlat = p[0].nlat;
	}
	if (e)
		printf("%-8s %-34s failed: %s\n", engine, what, err_code(e));
	else
		print_line(engine, what, &sum, ns);
	free(p[0].lat);
	return e;
}

static enum err bench_engine(const char *url, const char *engine, int64_t seconds)
{
	enum err e = ERR_OK;
	struct db *db = NULL;
	struct db_conn *c = NULL;
	char msg[256], table[64], sql[256];
	snprintf(table, sizeof(table), "bench_db_%ld", (long)getpid());

	e = db_open(url, THREADS + 1, &db, msg, sizeof(msg));
	if (e) {
		fprintf(stderr, "%s: %s\n", engine, msg);
		return e;
	}
	if ((e = db_acquire(db, 1000, &c)))
		goto out;
	snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", table);
	if ((e = db_exec(c, NULL, NULL, sql, "")))
		goto out;
	/* The id column is an application-side sequence here so that the same text runs on
	 * both engines without the migration macros. */
	snprintf(sql, sizeof(sql),
	         "CREATE TABLE %s (id BIGINT PRIMARY KEY, k TEXT NOT NULL, v BIGINT NOT NULL)",
	         table);
	if ((e = db_exec(c, NULL, NULL, sql, "")))
		goto out;
	snprintf(sql, sizeof(sql), "INSERT INTO %s (id, k, v) VALUES (?, ?, ?)", table);
	if ((e = db_begin_write(c)))
		goto out;
	for (int64_t k = 1; k <= PREFILL && !e; k++) {
		char key[32];
		snprintf(key, sizeof(key), "pre-%lld", (long long)k);
		e = db_exec(c, NULL, NULL, sql, "isi", k, key, k * 7);
	}
	if (!e)
		e = db_commit(c);
	if (e)
		goto out;
	db_release(c);
	c = NULL;

	run(db, engine, table, 1, select_loop, "point SELECT by id (1 thread)", seconds);
	run(db, engine, table, 2, select_loop, "point SELECT by id (2 threads)", seconds);

	/* A second table with an engine-assigned key for the insert phases. */
	char ins[80];
	snprintf(ins, sizeof(ins), "%s_ins", table);
	if ((e = db_acquire(db, 1000, &c)))
		goto out;
	snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS %s", ins);
	if (!(e = db_exec(c, NULL, NULL, sql, ""))) {
		snprintf(sql, sizeof(sql),
		         strcmp(engine, "sqlite") == 0
		             ? "CREATE TABLE %s (id INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT, "
		               "v BIGINT)"
		             : "CREATE TABLE %s (id BIGINT GENERATED BY DEFAULT AS IDENTITY "
		               "PRIMARY KEY, k TEXT, v BIGINT)",
		         ins);
		e = db_exec(c, NULL, NULL, sql, "");
	}
	db_release(c);
	c = NULL;
	if (e)
		goto out;
	run(db, engine, ins, 1, insert_loop, "INSERT+COMMIT (1 thread)", seconds);
	run(db, engine, ins, THREADS, insert_loop, "INSERT+COMMIT (4 threads)", seconds);

	if ((e = db_acquire(db, 1000, &c)))
		goto out;
	snprintf(sql, sizeof(sql), "DROP TABLE %s", ins);
	db_exec(c, NULL, NULL, sql, "");
	snprintf(sql, sizeof(sql), "DROP TABLE %s", table);
	db_exec(c, NULL, NULL, sql, "");
	struct db_stats st;
	db_stats_get(db, &st);
	printf("%-8s stats: %llu queries, %llu errors, %llu busy, %llu acquire waits, "
	       "%.1f us/query average\n",
	       engine, (unsigned long long)st.queries, (unsigned long long)st.errors,
	       (unsigned long long)st.busy, (unsigned long long)st.acquire_waits,
	       st.queries ? (double)st.query_ns / (double)st.queries / 1e3 : 0.0);
out:
	if (e)
		fprintf(stderr, "%s: setup failed: %s\n", engine, err_code(e));
	db_release(c);
	db_close(db);
	return e;
}

int main(int argc, char **argv)
{
	int64_t seconds = 2;
	char path[600], url[700];
	if (argc > 1 && !cstr_to_i64(argv[1], 1, 600, &seconds)) {
		fprintf(stderr, "usage: %s [seconds per phase, 1..600]\n", argv[0]);
		return 2;
	}
	log_setup(LOG_WARN, stderr);
	const char *tmp = getenv("SHOULI_TEST_TMP");
	snprintf(path, sizeof(path), "%s/bench-db-%ld.db", tmp && *tmp ? tmp : "/tmp",
	         (long)getpid());
	snprintf(url, sizeof(url), "sqlite:%s", path);
	printf("engine   phase                              throughput\n");
	bench_engine(url, "sqlite", seconds);
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	for (size_t k = 0; k < sizeof(suffixes) / sizeof(suffixes[0]); k++) {
		char f[620];
		snprintf(f, sizeof(f), "%s%s", path, suffixes[k]);
		unlink(f);
	}
	const char *pg = getenv("SHOULI_TEST_PG");
	if (pg && *pg) {
		snprintf(url, sizeof(url), "postgres:%s", pg);
		bench_engine(url, "postgres", seconds);
	} else {
		printf("postgres skipped: set SHOULI_TEST_PG (scripts/pg-test.sh start)\n");
	}
	return 0;
}
