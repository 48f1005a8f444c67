/* bench/files.c: how long a 20 MiB upload holds the write transaction, before and after the
 * file store was split into files_prepare (no transaction) and files_commit (in it).
 *
 *   bench_files [uploads per phase, default 5] [MiB per upload, default 20]
 *
 * Phase "files_put": begin_write, files_put (sniff, SM3, SM4 encryption, durable blob write,
 * row, reference), commit — the way uploads were stored before.
 * Phase "prepare+commit": files_prepare outside, then begin_write, files_commit, commit.
 * Each upload has distinct bytes (no dedupe). For each phase it prints the time the write
 * transaction was held (begin_write to the end of the durable commit) and, from a second
 * thread standing for another clerk that keeps committing one-row transactions, the
 * longest that clerk waited for one commit meanwhile.
 * Runs on SQLite (a fresh data directory under SHOULI_TEST_TMP, else /tmp) and, when
 * SHOULI_TEST_PG is set, on PostgreSQL (a schema of its own, dropped afterwards).
 * It prints figures; it does not pass or fail. */
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config.h"
#include "core/id.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "files/files.h"
#include "server/server.h"

#define MAX_UPLOADS 50

struct clerk {
	struct db *db;
	atomic_int stop;
	int64_t commits;
	int64_t max_ns; /* longest single commit, begin_write included */
	enum err e;
};

static void *clerk_loop(void *arg)
{
	struct clerk *k = arg;
	struct db_conn *c = NULL;
	k->e = db_acquire(k->db, 10000, &c);
	while (!k->e && !atomic_load(&k->stop)) {
		int64_t t0 = time_mono_ns();
		k->e = db_begin_write(c);
		if (!k->e)
			k->e = db_exec(c, NULL, NULL, "INSERT INTO bench_clerk (v) VALUES (?)", "i",
			               k->commits);
		if (!k->e)
			k->e = db_commit(c);
		else
			db_rollback(c);
		int64_t ns = time_mono_ns() - t0;
		if (ns > k->max_ns)
			k->max_ns = ns;
		k->commits++;
		usleep(2000); /* a clerk's pace, not a load generator */
	}
	db_release(c);
	return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* A JPEG-looking buffer of n bytes whose payload depends on seed. */
static void make_jpeg(unsigned char *p, size_t n, uint64_t seed)
{
	memcpy(p, "\xFF\xD8\xFF\xE0\x00\x10JFIF\x00", 11);
	uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
	for (size_t i = 11; i + 8 <= n - 2; i += 8) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
	p[n - 2] = 0xFF;
	p[n - 1] = 0xD9;
}

struct phase_result {
	int64_t held[MAX_UPLOADS];
	int64_t prep[MAX_UPLOADS];
	int64_t clerk_max_ns, clerk_commits;
};

/* One phase: uploads of distinct bytes, the clerk thread running alongside. */
static enum err run_phase(struct server *srv, bool split, int uploads, unsigned char *buf, size_t n,
                          uint64_t seed0, struct phase_result *r)
{
	struct clerk k = {.db = srv->db};
	pthread_t th;
	struct db_conn *c = NULL;
	enum err e = ERR_OK;
	memset(r, 0, sizeof(*r));
	if (pthread_create(&th, NULL, clerk_loop, &k))
		return ERR_INTERNAL;
	usleep(50000);
	for (int i = 0; i < uploads && !e; i++) {
		struct arena a;
		struct file_info fi;
		struct files_prepared p;
		struct errinfo ei = {0};
		arena_init(&a, 0);
		make_jpeg(buf, n, seed0 + (uint64_t)i);
		int64_t t0 = time_mono_ns();
		if (split)
			e = files_prepare(srv, &a, buf, n, "image/jpeg", 0, &p, &ei);
		int64_t t1 = time_mono_ns();
		if (!e)
			e = db_acquire(srv->db, 10000, &c);
		int64_t t2 = time_mono_ns();
		if (!e && !(e = db_begin_write(c))) {
			e = split
			        ? files_commit(srv, c, &a, &p, FILES_REF, &fi)
			        : files_put(srv, c, &a, buf, n, "image/jpeg", FILES_REF, &fi, &ei);
			if (!e)
				e = db_commit(c);
			else
				db_rollback(c);
		}
		int64_t t3 = time_mono_ns();
		db_release(c);
		c = NULL;
		if (e)
			fprintf(stderr, "bench_files: upload %d: %s %s\n", i, err_code(e),
			        ei.msg ? ei.msg : "");
		r->prep[i] = t1 - t0;
		r->held[i] = t3 - t2;
		arena_release(&a);
		usleep(100000); /* let the clerk commit between uploads */
	}
	atomic_store(&k.stop, 1);
	pthread_join(th, NULL);
	r->clerk_max_ns = k.max_ns;
	r->clerk_commits = k.commits;
	return e ? e : k.e;
}

static void print_phase(const char *engine, const char *what, const struct phase_result *r,
                        int uploads, bool split)
{
	int64_t held[MAX_UPLOADS], prep[MAX_UPLOADS];
	memcpy(held, r->held, sizeof(held));
	memcpy(prep, r->prep, sizeof(prep));
	qsort(held, (size_t)uploads, sizeof(held[0]), cmp_i64);
	qsort(prep, (size_t)uploads, sizeof(prep[0]), cmp_i64);
	printf("%-8s %-15s write tx held: median %8.2f ms, max %8.2f ms", engine, what,
	       (double)held[uploads / 2] / 1e6, (double)held[uploads - 1] / 1e6);
	if (split)
		printf("   (prepare outside: median %.1f ms)", (double)prep[uploads / 2] / 1e6);
	printf("\n%-8s %-15s other clerk's longest commit meanwhile: %8.2f ms (%lld commits)\n",
	       engine, "", (double)r->clerk_max_ns / 1e6, (long long)r->clerk_commits);
	fflush(stdout);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static enum err pg_admin(const char *sql)
{
	struct db *admin = NULL;
	struct db_conn *c = NULL;
	char url[1200], msg[256];
	snprintf(url, sizeof(url), "postgres:%s", getenv("SHOULI_TEST_PG"));
	enum err e = db_open(url, 1, &admin, msg, sizeof(msg));
	if (e)
		return e;
	if (!(e = db_acquire(admin, 2000, &c)))
		e = db_exec(c, NULL, NULL, sql, "");
	db_release(c);
	db_close(admin);
	return e;
}

static void bench_engine(const char *engine, int uploads, size_t n)
{
	struct server srv;
	struct buf wrapped;
	struct db_conn *c = NULL;
	char root[600], url[1400], keyfile[700], schema[64] = "", sql[200], hex[9], msg[512] = "";
	const char *tmp = getenv("SHOULI_TEST_TMP");
	const char *src = getenv("SHOULI_SOURCE_DIR");
	char migdir[600];
	uint32_t kid;
	bool pg = !strcmp(engine, "postgres");
	unsigned char *buf = malloc(n);
	enum err e = buf ? id_random_hex(hex, 4) : ERR_NOMEM;
	memset(&srv, 0, sizeof(srv));
	buf_init(&wrapped, 256);
	snprintf(root, sizeof(root), "%s/bench-files-%ld-%s", tmp && *tmp ? tmp : "/tmp",
	         (long)getpid(), hex);
	snprintf(migdir, sizeof(migdir), "%s/migrations", src && *src ? src : ".");
	if (!e && mkdir(root, 0700))
		e = ERR_IO;
	if (!e && pg) {
		snprintf(schema, sizeof(schema), "bench_files_%ld_%s", (long)getpid(), hex);
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
		e = pg_admin(sql);
		snprintf(url, sizeof(url), "postgres:%s options='-csearch_path=%s'",
		         getenv("SHOULI_TEST_PG"), schema);
	} else {
		snprintf(url, sizeof(url), "sqlite:%s/bench.db", root);
	}
	config_defaults(&srv.cfg);
	free(srv.cfg.data_dir);
	srv.cfg.data_dir = strdup(root);
	srv.cfg.file_max_bytes = (int64_t)n;
	snprintf(keyfile, sizeof(keyfile), "%s/master.key", root);
	if (!e)
		e = keyring_open_file(keyfile, true, &srv.keys);
	if (!e)
		e = keyring_new_data_key(srv.keys, &kid, &wrapped);
	if (!e)
		e = db_open(url, 4, &srv.db, msg, sizeof(msg));
	if (!e)
		e = db_migrate(srv.db, migdir, msg, sizeof(msg));
	if (!e && !(e = db_acquire(srv.db, 2000, &c)))
		e = db_exec(c, NULL, NULL, "CREATE TABLE bench_clerk (v BIGINT NOT NULL)", "");
	db_release(c);
	if (e) {
		fprintf(stderr, "bench_files: %s setup failed: %s %s\n", engine, err_code(e), msg);
		goto out;
	}
	struct phase_result before, after;
	if ((e = run_phase(&srv, false, uploads, buf, n, 1000, &before)) ||
	    (e = run_phase(&srv, true, uploads, buf, n, 2000, &after)))
		goto out;
	print_phase(engine, "files_put", &before, uploads, false);
	print_phase(engine, "prepare+commit", &after, uploads, true);
out:
	if (srv.db)
		db_close(srv.db);
	keyring_destroy(srv.keys);
	config_release(&srv.cfg);
	buf_release(&wrapped);
	free(buf);
	if (pg && schema[0]) {
		snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", schema);
		pg_admin(sql);
	}
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(int argc, char **argv)
{
	int64_t uploads = 5, mib = 20;
	if ((argc > 1 && !cstr_to_i64(argv[1], 1, MAX_UPLOADS, &uploads)) ||
	    (argc > 2 && !cstr_to_i64(argv[2], 1, 256, &mib))) {
		fprintf(stderr, "usage: %s [uploads per phase, 1..%d] [MiB per upload, 1..256]\n",
		        argv[0], MAX_UPLOADS);
		return 2;
	}
	log_setup(LOG_WARN, stderr);
	if (crypto_init()) {
		fprintf(stderr, "bench_files: crypto_init failed\n");
		return 1;
	}
	size_t n = (size_t)mib * 1024 * 1024;
	printf("%lld uploads of %lld MiB per phase; blobs fsynced; SQLite synchronous=FULL (WAL), "
	       "PostgreSQL synchronous_commit on\n",
	       (long long)uploads, (long long)mib);
	bench_engine("sqlite", (int)uploads, n);
	const char *pg = getenv("SHOULI_TEST_PG");
	if (pg && *pg)
		bench_engine("postgres", (int)uploads, n);
	else
		printf("postgres skipped: set SHOULI_TEST_PG (scripts/pg-test.sh start)\n");
	return 0;
}
