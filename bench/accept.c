/* bench/accept.c: window acceptance on SQLite through the C API of src/cases/ (no HTTP).
 *
 *   bench_accept [cases] [threads] [linger_us] [batch_max] [clerks]
 *                (defaults 2000, 2, 0, 64, "1,2,4,8"; threads 0 skips (a))
 *
 * A fresh data directory with the demo catalog and users. For a sub-item with required
 * materials whose sample form passes, it measures
 *   (a) the whole path of one case, each step its own durable commit as at the window:
 *       resident upsert, open (number, pin, duplicate guard), form save (evaluation,
 *       sealing), the materials' metadata rows, accept;
 *   (b) the acceptance alone on prepared drafts: load and open the sealed form, form
 *       evaluation against the pinned sub-item, pre-review, materials check, parties sealed,
 *       then one write transaction (guarded update, parties, timeline, audit chain, outbox)
 *       and its durable commit — the figure.
 * (a) runs with threads clerks at once; (b) runs with 1, 2, 4 and 8 clerks (or the list
 * given), on fresh drafts each run. The cases module writes through db_write_unit (group commit):
 * concurrent acceptances share one transaction and one fsync, each still durable before it returns;
 * the figures show the batches the writer made. linger_us and batch_max tune the writer
 * (db_write_tune). It prints figures; it does not pass or fail. */
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auth/auth.h"
#include "cases/cases.h"
#include "catalog/catalog.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "files/files.h"
#include "http/http.h"
#include "ident/ident.h"
#include "server/server.h"
#include "server/server_int.h"

static const char *const PERMS[] = {"case.accept", "case.read", "ident.read"};

struct bench {
	struct server *srv;
	struct principal who;
	const char *sub_code;
	json_t *sample;  /* valid form data for sub_code */
	json_t *slots;   /* material ids to fill: ["id", …] */
	int64_t file_id; /* one stored scan every entry points at */
	char **case_nos; /* prepared drafts */
	int64_t *versions;
	long n;
	long next; /* work counter (atomic through mu) */
	long base; /* resident numbers of the drafts of one (b) run start here */
	pthread_mutex_t mu;
	int64_t ns[5]; /* (a): upsert, open, form, materials, accept */
	long failures;
};

static long take(struct bench *b)
{
	pthread_mutex_lock(&b->mu);
	long i = b->next < b->n ? b->next++ : -1;
	pthread_mutex_unlock(&b->mu);
	return i;
}

static void add_ns(struct bench *b, int k, int64_t ns)
{
	pthread_mutex_lock(&b->mu);
	b->ns[k] += ns;
	pthread_mutex_unlock(&b->mu);
}

/* A valid 居民身份证 number for sequence i (310104 徐汇, born 1980-1999). */
static void id_number(long i, char out[19])
{
	static const int w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
	static const char chk[] = "10X98765432";
	int sum = 0;
	unsigned long u = (unsigned long)i;
	snprintf(out, 19, "310104%04lu%02lu%02lu%03lu", 1980 + (u / 28 / 12 / 1000) % 20,
	         1 + (u / 28) % 12, 1 + u % 28, (u / 28 / 12) % 1000);
	for (int k = 0; k < 17; k++)
		sum += (out[k] - '0') * w[k];
	out[17] = chk[sum % 11];
	out[18] = 0;
}

/* The bench writes its own rows (the resident, the materials' metadata) as write units too:
 * on SQLite a transaction of its own would queue behind the writer in SQLite's busy
 * handler, and the units are what the ident and materials routes should use as well. */
struct upsert_ctx {
	struct bench *b;
	struct arena *a;
	json_t *p;
	int64_t *rid;
	struct errinfo ei;
};

static enum err upsert_unit(struct db_conn *c, void *ctx)
{
	struct upsert_ctx *x = ctx;
	return ident_resident_upsert(x->b->srv, c, x->a, x->p, "case", x->rid, &x->ei);
}

static enum err upsert_resident(struct bench *b, struct arena *a, long i, int64_t *rid)
{
	char num[19];
	id_number(i, num);
	struct upsert_ctx x = {.b = b, .a = a, .rid = rid};
	x.p = json_pack("{s:s,s:s,s:s,s:s}", "id_type", "111", "id_number", num, "name", "压测居民",
	                "phone", "13800138000");
	enum err e = db_write_unit(b->srv->db, upsert_unit, &x, 5000);
	if (e)
		fprintf(stderr, "upsert: %s %s\n", err_code(e), x.ei.msg ? x.ei.msg : "");
	json_decref(x.p);
	return e;
}

struct materials_ctx {
	struct bench *b;
	struct arena *a;
	const char *case_no;
};

static enum err materials_unit(struct db_conn *c, void *ctx)
{
	struct materials_ctx *x = ctx;
	struct bench *b = x->b;
	struct db_rows *rs = NULL;
	size_t k;
	json_t *v;
	enum err e;
	if ((e = db_exec(c, x->a, &rs, "SELECT id FROM cases WHERE case_no = ?", "s", x->case_no)))
		return e;
	int64_t cid = db_int(rs, 0, 0);
	json_array_foreach (b->slots, k, v) {
		if ((e = files_ref(c, b->file_id)) ||
		    (e = db_exec(
		         c, x->a, NULL,
		         "INSERT INTO case_materials (case_id, material_id, file_id, source,"
		         " title, added_by, added_by_name, added_at)"
		         " VALUES (?, ?, ?, 'scan', '高拍仪采集', ?, ?, ?)",
		         "isiisi", cid, json_string_value(v), b->file_id, b->who.user_id,
		         b->who.username, time_now_ms())))
			return e;
	}
	return ERR_OK;
}

static enum err add_materials(struct bench *b, struct arena *a, const char *case_no)
{
	struct materials_ctx x = {.b = b, .a = a, .case_no = case_no};
	return db_write_unit(b->srv->db, materials_unit, &x, 5000);
}

/* open + form + materials for case i; *no and *version get the draft. */
static enum err prepare(struct bench *b, struct arena *a, long i, bool timed, const char **no,
                        int64_t *version)
{
	struct cases_caller by = {.who = &b->who, .client_ip = "127.0.0.1"};
	struct errinfo ei = {0};
	json_t *c = NULL, *form = NULL, *dups = NULL;
	char num[19];
	int64_t rid = 0, t0 = time_mono_ns(), t1;
	enum err e = upsert_resident(b, a, i, &rid);
	if (e)
		return e;
	t1 = time_mono_ns();
	if (timed)
		add_ns(b, 0, t1 - t0);
	struct cases_open_req in = {.sub_item_code = b->sub_code, .resident_id = rid};
	if ((e = cases_open(b->srv, &by, a, &in, &c, &dups, &ei))) {
		fprintf(stderr, "open: %s %s\n", err_code(e), ei.msg ? ei.msg : "");
		json_decref(dups);
		return e;
	}
	t0 = time_mono_ns();
	if (timed)
		add_ns(b, 1, t0 - t1);
	*no = arena_strdup(a, json_string_value(json_object_get(c, "case_no")));
	int64_t ver = json_integer_value(json_object_get(c, "version"));
	json_decref(c);
	json_t *data = json_deep_copy(b->sample);
	id_number(i, num);
	json_t *appl = json_object_get(data, "applicant");
	if (json_is_object(appl)) {
		json_object_set_new(appl, "id_number",
		                    json_pack("{s:s,s:s}", "type", "111", "number", num));
		json_object_set_new(appl, "name", json_string("压测居民"));
	}
	e = cases_save_form_data(b->srv, &by, a, *no, ver, data, &form, &ei);
	json_decref(data);
	if (e) {
		fprintf(stderr, "form: %s %s\n", err_code(e), ei.msg ? ei.msg : "");
		return e;
	}
	*version = json_integer_value(json_object_get(form, "version"));
	json_decref(form);
	t1 = time_mono_ns();
	if (timed)
		add_ns(b, 2, t1 - t0);
	if ((e = add_materials(b, a, *no)))
		return e;
	if (timed)
		add_ns(b, 3, time_mono_ns() - t1);
	return ERR_OK;
}

static enum err accept_one(struct bench *b, struct arena *a, const char *no, int64_t version)
{
	struct cases_caller by = {.who = &b->who, .client_ip = "127.0.0.1"};
	struct errinfo ei = {0};
	json_t *problems = NULL, *body = json_pack("{s:I}", "version", (json_int_t)version);
	enum err e = cases_act(b->srv, &by, a, no, "accept", body, NULL, &problems, &ei);
	if (e) {
		char *p = problems ? json_dumps(problems, JSON_COMPACT) : NULL;
		fprintf(stderr, "accept %s: %s %s %s\n", no, err_code(e), ei.msg ? ei.msg : "",
		        p ? p : "");
		free(p);
	}
	json_decref(problems);
	json_decref(body);
	return e;
}

static void *whole_path(void *arg)
{
	struct bench *b = arg;
	struct arena a;
	long i;
	arena_init(&a, 0);
	while ((i = take(b)) >= 0) {
		const char *no = NULL;
		int64_t v = 0;
		enum err e = prepare(b, &a, i, true, &no, &v);
		int64_t t0 = time_mono_ns();
		if (!e)
			e = accept_one(b, &a, no, v);
		add_ns(b, 4, time_mono_ns() - t0);
		if (e) {
			pthread_mutex_lock(&b->mu);
			b->failures++;
			pthread_mutex_unlock(&b->mu);
		}
		arena_release(&a);
	}
	return NULL;
}

static void *prepare_only(void *arg)
{
	struct bench *b = arg;
	struct arena a;
	long i;
	arena_init(&a, 0);
	while ((i = take(b)) >= 0) {
		const char *no = NULL;
		if (!prepare(b, &a, b->base + i, false, &no, &b->versions[i]))
			b->case_nos[i] = strdup(no);
		arena_release(&a);
	}
	return NULL;
}

static void *accept_only(void *arg)
{
	struct bench *b = arg;
	struct arena a;
	long i;
	arena_init(&a, 0);
	while ((i = take(b)) >= 0) {
		if (!b->case_nos[i] || accept_one(b, &a, b->case_nos[i], b->versions[i])) {
			pthread_mutex_lock(&b->mu);
			b->failures++;
			pthread_mutex_unlock(&b->mu);
		}
		arena_release(&a);
	}
	return NULL;
}

/* The floor: durable single-row commits on the same database, one thread. */
static double commit_floor(struct bench *b, long n)
{
	struct db_conn *c = NULL;
	struct arena a;
	arena_init(&a, 0);
	if (db_acquire(b->srv->db, 5000, &c))
		return 0;
	if (db_exec(c, &a, NULL, "CREATE TABLE bench_floor (id INTEGER PRIMARY KEY, v BIGINT)",
	            "") ||
	    db_exec(c, &a, NULL, "INSERT INTO bench_floor (id, v) VALUES (1, 0)", "")) {
		db_release(c);
		arena_release(&a);
		return 0;
	}
	int64_t t0 = time_mono_ns();
	for (long i = 0; i < n; i++) {
		if (db_begin_write(c) ||
		    db_exec(c, &a, NULL, "UPDATE bench_floor SET v = v + 1 WHERE id = 1", "") ||
		    db_commit(c)) {
			db_rollback(c);
			break;
		}
		arena_release(&a);
	}
	double s = (double)(time_mono_ns() - t0) / 1e9;
	db_release(c);
	arena_release(&a);
	return (double)n / s;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double run_threads(struct bench *b, int threads, void *(*fn)(void *))
{
	pthread_t t[64];
	b->next = 0;
	int64_t t0 = time_mono_ns();
	for (int k = 0; k < threads; k++)
		pthread_create(&t[k], NULL, fn, b);
	for (int k = 0; k < threads; k++)
		pthread_join(t[k], NULL);
	return (double)(time_mono_ns() - t0) / 1e9;
}

/* The clerk of the demo centre as a principal. */
static enum err load_clerk(struct bench *b, struct arena *a)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_acquire(b->srv->db, 5000, &c);
	if (!e)
		e = db_exec(
		    c, a, &rs,
		    "SELECT u.id, u.username, u.name, o.id, o.level, o.code, o.path"
		    " FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.username = 'clerk'",
		    "");
	db_release(c);
	if (e || rs->nrows != 1)
		return e ? e : ERR_NOT_FOUND;
	b->who = (struct principal){.user_id = db_int(rs, 0, 0),
	                            .username = strdup(db_text(rs, 0, 1)),
	                            .name = strdup(db_text(rs, 0, 2)),
	                            .perms = PERMS,
	                            .nperms = 3,
	                            .org_id = db_int(rs, 0, 3),
	                            .scope_level = strdup(db_text(rs, 0, 4)),
	                            .scope_code = strdup(db_text(rs, 0, 5)),
	                            .scope_path = strdup(db_text(rs, 0, 6))};
	return ERR_OK;
}

static const char *need_of(const json_t *m)
{
	const char *s = json_get_str(m, "need");
	return s ? s : "";
}

/* A sub-item with required materials whose sample form is valid and not blocked. */
static enum err pick_sub_item(struct bench *b)
{
	struct catalog_ref_hold hold = {0};
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct arena a;
	char today[11];
	enum err e;
	time_t now = time(NULL) + 8 * 3600;
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	arena_init(&a, 0);
	if ((e = catalog_ref_hold_get(b->srv, &hold)) || (e = db_acquire(b->srv->db, 5000, &c)) ||
	    (e = db_exec(c, &a, &rs,
	                 "SELECT v.id, s.code FROM catalog_subitems s JOIN catalog_versions v"
	                 " ON v.id = s.version_id WHERE v.status = 'published' ORDER BY s.code",
	                 "")))
		goto out;
	for (int r = 0; r < rs->nrows && !b->sub_code; r++) {
		json_t *item = NULL;
		if (catalog_version_doc(NULL, c, &a, db_int(rs, r, 0), &item))
			continue;
		const json_t *sub = catalog_item_sub_item(item, db_text(rs, r, 1));
		const json_t *mats = json_object_get(sub, "materials"), *m;
		json_t *data = sub ? catalog_form_sample(hold.ref, sub, today) : NULL;
		struct catalog_form_result res = {0};
		size_t k, nreq = 0;
		json_array_foreach (mats, k, m)
			nreq += !strcmp(need_of(m), "required");
		bool conditional = false;
		json_array_foreach (mats, k, m)
			conditional |= !strcmp(need_of(m), "conditional");
		if (data && nreq >= 2 && !conditional &&
		    !catalog_form_evaluate(hold.ref, sub, data, today, &res) && res.valid &&
		    !res.blocked && !json_array_size(json_object_get(sub, "prereview"))) {
			b->sub_code = strdup(db_text(rs, r, 1));
			b->sample = json_incref(data);
			b->slots = json_array();
			json_array_foreach (mats, k, m)
				if (!strcmp(need_of(m), "required"))
					json_array_append_new(b->slots,
					                      json_string(json_get_str(m, "id")));
			printf("sub-item %s %s: %zu form fields, %zu required materials\n",
			       b->sub_code, json_get_str(sub, "name"),
			       json_array_size(
			           json_object_get(json_object_get(sub, "form"), "fields")),
			       json_array_size(b->slots));
		}
		catalog_form_result_release(&res);
		json_decref(data);
		json_decref(item);
	}
	if (!b->sub_code)
		e = ERR_NOT_FOUND;
out:
	db_release(c);
	catalog_ref_hold_release(&hold);
	arena_release(&a);
	return e;
}

static enum err store_scan(struct bench *b)
{
	static const unsigned char jpeg[] = {0xFF, 0xD8, 0xFF, 0xE0, 0,    0x10, 'J', 'F',
	                                     'I',  'F',  0,    1,    1,    0,    0,   1,
	                                     0,    1,    0,    0,    0xFF, 0xD9};
	struct db_conn *c = NULL;
	struct arena a;
	struct file_info fi;
	struct errinfo ei = {0};
	arena_init(&a, 0);
	enum err e = db_acquire(b->srv->db, 5000, &c);
	if (!e && !(e = db_begin_write(c))) {
		if ((e = files_put(b->srv, c, &a, jpeg, sizeof(jpeg), "image/jpeg", 0, &fi, &ei)) ||
		    (e = db_commit(c)))
			db_rollback(c);
	}
	if (!e)
		b->file_id = fi.id;
	else
		fprintf(stderr, "files_put: %s %s\n", err_code(e), ei.msg ? ei.msg : "");
	db_release(c);
	arena_release(&a);
	return e;
}

static enum err init(struct server *srv, const struct module *m)
{
	return m->init ? m->init(srv) : ERR_OK;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

int main(int argc, char **argv)
{
	struct server srv;
	struct bench b;
	char dir[] = "/tmp/shouli-bench-accept.XXXXXX";
	int rc = 1, threads = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2;
	int linger = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 0;
	int batch_max = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 64;
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
	struct db_stats s0, s1;
	if (n < 10 || n > 1000000 || threads < 0 || threads > 64) {
		fprintf(stderr,
		        "usage: bench_accept [cases 10..1000000] [threads 0..64] [linger_us "
		        "0..10000] [batch_max 1..256] [clerks, e.g. 1,2,4,8]\n");
		return 2;
	}
	memset(&srv, 0, sizeof(srv));
	memset(&b, 0, sizeof(b));
	pthread_mutex_init(&b.mu, NULL);
	b.srv = &srv;
	b.n = n;
	if (!mkdtemp(dir))
		return 1;
	config_defaults(&srv.cfg);
	free(srv.cfg.data_dir);
	srv.cfg.data_dir = strdup(dir);
	srv.cfg.demo = true;
	srv.cfg.db_pool = (threads > 8 ? threads : 8) + 2;
	free(srv.cfg.log_level);
	srv.cfg.log_level = strdup("error");
	log_setup(LOG_ERROR, stderr);
	free(srv.cfg.modules);
	srv.cfg.modules = strdup("auth,catalog,files,ident,cases");
	if (server_open(&srv, true) || init(&srv, &auth_module) || auth_seed_demo(&srv, NULL) ||
	    init(&srv, &catalog_module) || init(&srv, &files_module) || init(&srv, &ident_module) ||
	    init(&srv, &cases_module)) {
		fprintf(stderr, "bench_accept: setup failed\n");
		goto out;
	}
	struct arena a;
	arena_init(&a, 0);
	if (load_clerk(&b, &a) || pick_sub_item(&b) || store_scan(&b)) {
		fprintf(stderr, "bench_accept: no clerk, no suitable sub-item or no file store\n");
		arena_release(&a);
		goto out;
	}
	arena_release(&a);
	db_write_tune(srv.db, batch_max, linger);
	printf("SQLite (synchronous=FULL, WAL), %d thread(s), %ld cases each run; group commit: "
	       "batches of up to %d, linger %d us\n",
	       threads, n, batch_max, linger);

	/* (a) the whole path */
	if (threads == 0)
		goto part_b;
	db_stats_get(srv.db, &s0);
	double ta = run_threads(&b, threads, whole_path);
	db_stats_get(srv.db, &s1);
	printf(
	    "(a) whole path: %ld cases in %.2f s = %.0f cases/s (%ld failed); 5 commits a case\n",
	    n, ta, (double)n / ta, b.failures);
	static const char *const step[] = {"resident upsert", "open", "form save", "materials rows",
	                                   "accept"};
	int64_t sum = 0;
	for (int k = 0; k < 5; k++)
		sum += b.ns[k];
	for (int k = 0; k < 5; k++)
		printf("    %-16s %7.1f us/case (%4.1f%%)\n", step[k],
		       (double)b.ns[k] / 1e3 / (double)n,
		       100.0 * (double)b.ns[k] / (double)(sum ? sum : 1));
	printf("    statements %llu, time in db_exec %.1f us/case\n",
	       (unsigned long long)(s1.queries - s0.queries),
	       (double)(s1.query_ns - s0.query_ns) / 1e3 / (double)n);

part_b:;
	/* (b) acceptance alone on prepared drafts, with 1, 2, 4 and 8 clerks */
	int clerks[16] = {1, 2, 4, 8}, nclerks = 4;
	long failures = 0;
	if (argc > 5) {
		char *p = argv[5];
		nclerks = 0;
		while (*p && nclerks < 16) {
			long v = strtol(p, &p, 10);
			if (v >= 1 && v <= 64)
				clerks[nclerks++] = (int)v;
			while (*p == ',')
				p++;
			if (*p && (*p < '0' || *p > '9'))
				break;
		}
	}
	if (threads == 0)
		threads = 2; /* the drafts are prepared with two threads */
	b.case_nos = calloc((size_t)n, sizeof(char *));
	b.versions = calloc((size_t)n, sizeof(int64_t));
	for (int r = 0; r < nclerks; r++) {
		int tb_threads = clerks[r];
		b.failures = 0;
		b.base = (long)(r + 1) * 1000000;
		for (long i = 0; i < n; i++) {
			free(b.case_nos[i]);
			b.case_nos[i] = NULL;
		}
		run_threads(&b, threads, prepare_only);
		struct cases_accept_stats a0, a1;
		cases_accept_stats(&srv, &a0);
		db_stats_get(srv.db, &s0);
		double cpu0 = cpu_seconds();
		double tb = run_threads(&b, tb_threads, accept_only);
		double cpu = cpu_seconds() - cpu0;
		db_stats_get(srv.db, &s1);
		cases_accept_stats(&srv, &a1);
		printf("(b) acceptance alone, %d clerk(s): %ld cases in %.2f s = %.0f cases/s (%ld "
		       "failed)\n",
		       tb_threads, n, tb, (double)n / tb, b.failures);
		printf("    CPU (user + system, all threads) %.0f us a case, %.2f cores busy\n",
		       cpu * 1e6 / (double)n, cpu / tb);
		printf(
		    "    statements %.1f a case, time in db_exec %.1f us/case (commit included)\n",
		    (double)(s1.queries - s0.queries) / (double)n,
		    (double)(s1.query_ns - s0.query_ns) / 1e3 / (double)n);
		double an = (double)(a1.n - a0.n ? a1.n - a0.n : 1);
		printf(
		    "    per acceptance: checks before the unit %.0f us, submit to statements done "
		    "%.0f us, then to durable commit %.0f us\n",
		    (double)(a1.check_ns - a0.check_ns) / 1e3 / an,
		    (double)(a1.tx_ns - a0.tx_ns) / 1e3 / an,
		    (double)(a1.commit_ns - a0.commit_ns) / 1e3 / an);
		uint64_t nb = s1.wu_batches - s0.wu_batches,
		         nu = s1.wu_batch_units - s0.wu_batch_units;
		printf(
		    "    write units %llu in %llu transactions (%.1f a commit, largest so far %d), "
		    "queue wait %.0f us/unit, statements %.0f us/unit, commit %.0f us/transaction; "
		    "writer busy %.0f%%\n",
		    (unsigned long long)nu, (unsigned long long)nb,
		    nb ? (double)nu / (double)nb : 0, s1.wu_batch_max,
		    nu ? (double)(s1.wu_wait_ns - s0.wu_wait_ns) / 1e3 / (double)nu : 0,
		    nu ? (double)(s1.wu_run_ns - s0.wu_run_ns) / 1e3 / (double)nu : 0,
		    nb ? (double)(s1.wu_commit_ns - s0.wu_commit_ns) / 1e3 / (double)nb : 0,
		    100.0 *
		        (double)(s1.wu_run_ns - s0.wu_run_ns + s1.wu_commit_ns - s0.wu_commit_ns) /
		        (tb * 1e9));
		printf("    batch sizes:");
		for (int k = 0; k < DB_WRITE_BATCH_BUCKETS; k++) {
			uint64_t h = s1.wu_batch_hist[k] - s0.wu_batch_hist[k];
			if (k < DB_WRITE_BATCH_BUCKETS - 1)
				printf(" <=%d:%llu", db_write_batch_le[k], (unsigned long long)h);
			else
				printf(" more:%llu", (unsigned long long)h);
		}
		printf("\n");
		failures += b.failures;
	}
	printf("    floor on this disk now: %.0f durable single-row commits/s (1 thread)\n",
	       commit_floor(&b, n / 2));
	b.failures = failures;
	rc = b.failures ? 1 : 0;
	for (long i = 0; i < n; i++)
		free(b.case_nos[i]);
	free(b.case_nos);
	free(b.versions);
out:
	server_close(&srv);
	json_decref(b.sample);
	json_decref(b.slots);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
