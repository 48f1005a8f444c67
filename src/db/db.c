/* db.c: the engine-independent half of the storage layer: connection pool, dispatch through
 * struct db_ops, type-string binding, result building, statement cache bookkeeping, cell
 * accessors, the migrations runner and the counters. */
#include "db/db.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <time.h>

#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db_int.h"

/* A migration file larger than this is surely a mistake (data belongs elsewhere). */
#define MIGRATION_MAX_BYTES (16u << 20)
/* How long db_migrate waits for a connection, and db_ping. */
#define MIGRATE_ACQUIRE_MS 30000
#define PING_ACQUIRE_MS    5000

static void set_msg(char *msg, size_t msgsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(char *msg, size_t msgsz, const char *fmt, ...)
{
	if (!msg || msgsz == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, msgsz, fmt, ap);
	va_end(ap);
}

/* ---- pool ---- */

static void conn_destroy(struct db_conn *c)
{
	if (!c)
		return;
	/* Close first: SQLite finalises the cached statements after sqlite3_close_v2, and a
	 * PG session that is gone needs no DEALLOCATE round trips. */
	if (c->h)
		c->db->ops->conn_close(c);
	db_cache_clear(c, true);
	buf_release(&c->dealloc);
	free(c);
}

static enum err conn_create(struct db *db, struct db_conn **out, char *msg, size_t msgsz)
{
	enum err e = ERR_OK;
	struct db_conn *c = calloc(1, sizeof(*c));
	if (!c) {
		e = ERR_NOMEM;
		set_msg(msg, msgsz, "内存不足");
		goto out;
	}
	c->db = db;
	buf_init(&c->dealloc, 64 * 1024);
	e = db->ops->conn_open(db, c, msg, msgsz);
	if (e)
		goto out;
	*out = c;
	c = NULL;
out:
	conn_destroy(c);
	return e;
}

enum err db_conn_create(struct db *db, struct db_conn **out, char *msg, size_t msgsz)
{
	return conn_create(db, out, msg, msgsz);
}

void db_conn_destroy(struct db_conn *c)
{
	conn_destroy(c);
}

enum err db_open(const char *url, int pool, struct db **out, char *msg, size_t msgsz)
{
	enum err e = ERR_OK;
	struct db *db = NULL;
	struct db_conn *c = NULL;
	const struct db_ops *ops = NULL;
	const char *target = NULL;
	bool mu_ok = false, cv_ok = false, w_ok = false;

	set_msg(msg, msgsz, "%s", "");
	if (!url || pool < 1) {
		e = ERR_CONFIG;
		set_msg(msg, msgsz, "数据库地址为空或连接池大小无效");
		goto out;
	}
	if (strncmp(url, "sqlite:", 7) == 0) {
		ops = &db_sqlite_ops;
		target = url + 7;
	} else if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
		ops = &db_pg_ops;
		target = url; /* a libpq URI as it stands */
	} else if (strncmp(url, "postgres:", 9) == 0) {
		ops = &db_pg_ops;
		target = url + 9;
	} else {
		e = ERR_CONFIG;
		set_msg(msg, msgsz, "数据库地址须以 sqlite: 或 postgres: 开头");
		goto out;
	}
	if (!*target) {
		e = ERR_CONFIG;
		set_msg(msg, msgsz, "数据库地址缺少路径或连接参数");
		goto out;
	}

	db = calloc(1, sizeof(*db));
	if (!db || !(db->target = strdup(target))) {
		e = ERR_NOMEM;
		set_msg(msg, msgsz, "内存不足");
		goto out;
	}
	db->ops = ops;
	db->pool_max = pool;
	if (pthread_mutex_init(&db->mu, NULL) != 0) {
		e = ERR_INTERNAL;
		goto out;
	}
	mu_ok = true;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	int rc = pthread_cond_init(&db->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (rc != 0) {
		e = ERR_INTERNAL;
		goto out;
	}
	cv_ok = true;
	if ((e = db_writer_init(db)))
		goto out;
	w_ok = true;

	/* One connection up front, so that a wrong path or an unreachable server shows at
	 * startup rather than at the first request. */
	e = conn_create(db, &c, msg, msgsz);
	if (e)
		goto out;
	db->idle = c;
	db->nconns = 1;
	*out = db;
	db = NULL;
out:
	if (db) {
		if (w_ok)
			db_writer_stop(db);
		if (cv_ok)
			pthread_cond_destroy(&db->cv);
		if (mu_ok)
			pthread_mutex_destroy(&db->mu);
		free(db->target);
		free(db);
	}
	return e;
}

void db_close(struct db *db)
{
	if (!db)
		return;
	/* The units still queued run first: their callers are waiting for a result. */
	db_writer_stop(db);
	pthread_mutex_lock(&db->mu);
	/* Closing with borrowed connections would free memory other threads still use. */
	assert(db->in_use == 0);
	struct db_conn *c = db->idle;
	db->idle = NULL;
	pthread_mutex_unlock(&db->mu);
	while (c) {
		struct db_conn *next = c->next;
		conn_destroy(c);
		c = next;
	}
	pthread_cond_destroy(&db->cv);
	pthread_mutex_destroy(&db->mu);
	free(db->target);
	free(db);
}

const char *db_engine(const struct db *db)
{
	return db->ops->name;
}

static void deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

enum err db_acquire(struct db *db, int timeout_ms, struct db_conn **out)
{
	enum err e = ERR_OK;
	struct db_conn *c = NULL;
	struct timespec deadline;
	bool waited = false, opening = false;

	*out = NULL;
	if (timeout_ms > 0)
		deadline_after(&deadline, timeout_ms);
	pthread_mutex_lock(&db->mu);
	for (;;) {
		if (db->idle) {
			c = db->idle;
			db->idle = c->next;
			c->next = NULL;
			break;
		}
		if (db->nconns < db->pool_max) {
			/* Reserve the slot, then connect without holding the lock: a PG connect
			 * takes milliseconds and must not stall other threads. */
			db->nconns++;
			opening = true;
			break;
		}
		if (timeout_ms == 0) {
			e = ERR_DB_BUSY;
			break;
		}
		waited = true;
		int rc = timeout_ms < 0 ? pthread_cond_wait(&db->cv, &db->mu)
		                        : pthread_cond_timedwait(&db->cv, &db->mu, &deadline);
		if (rc == ETIMEDOUT && !db->idle && db->nconns >= db->pool_max) {
			e = ERR_DB_BUSY;
			break;
		}
	}
	if (!e)
		db->in_use++;
	pthread_mutex_unlock(&db->mu);
	if (waited)
		atomic_fetch_add(&db->acquire_waits, 1);
	if (e) {
		atomic_fetch_add(&db->busy, 1);
		log_warn("db_pool_exhausted", "no database connection free within %d ms",
		         timeout_ms);
		goto out;
	}

	if (opening) {
		char msg[256];
		e = conn_create(db, &c, msg, sizeof(msg));
		if (e) {
			log_error("db_connect", "cannot open a %s connection: %s", db->ops->name,
			          msg);
			pthread_mutex_lock(&db->mu);
			db->nconns--;
			db->in_use--;
			pthread_cond_signal(&db->cv);
			pthread_mutex_unlock(&db->mu);
			goto out;
		}
	} else {
		e = db->ops->conn_check(c);
		if (e) {
			/* Keep the handle: the next acquire tries to revive it again. */
			db_release(c);
			c = NULL;
			goto out;
		}
	}
	*out = c;
out:
	if (e)
		atomic_fetch_add(&db->errors, 1);
	return e;
}

void db_release(struct db_conn *c)
{
	if (!c)
		return;
	struct db *db = c->db;
	if (db->ops->in_tx(c)) {
		log_warn("db_release_rollback", "connection released inside a transaction: "
		                                "rolled back");
		db->ops->exec_script(c, "ROLLBACK", "ROLLBACK");
	}
	pthread_mutex_lock(&db->mu);
	c->next = db->idle;
	db->idle = c;
	db->in_use--;
	pthread_cond_signal(&db->cv);
	pthread_mutex_unlock(&db->mu);
}

/* ---- transactions and statements ---- */

static enum err control(struct db_conn *c, const char *sql)
{
	int64_t t0 = time_mono_ns();
	enum err e = c->db->ops->exec_script(c, sql, sql);
	atomic_fetch_add(&c->db->queries, 1);
	atomic_fetch_add(&c->db->query_ns, (uint64_t)(time_mono_ns() - t0));
	if (e) {
		atomic_fetch_add(&c->db->errors, 1);
		if (e == ERR_DB_BUSY)
			atomic_fetch_add(&c->db->busy, 1);
	}
	return e;
}

enum err db_begin(struct db_conn *c)
{
	return control(c, "BEGIN");
}

enum err db_begin_write(struct db_conn *c)
{
	return control(c, c->db->ops->begin_write_sql);
}

enum err db_commit(struct db_conn *c)
{
	return control(c, "COMMIT");
}

enum err db_rollback(struct db_conn *c)
{
	return control(c, "ROLLBACK");
}

enum err db_execv(struct db_conn *c, struct arena *a, struct db_rows **rows, const char *sql,
                  const struct db_val *params, int nparams)
{
	assert(!rows || a);
	if (rows)
		*rows = NULL;
	int64_t t0 = time_mono_ns();
	enum err e = c->db->ops->exec(c, a, rows, sql, params, nparams);
	atomic_fetch_add(&c->db->queries, 1);
	atomic_fetch_add(&c->db->query_ns, (uint64_t)(time_mono_ns() - t0));
	if (e) {
		atomic_fetch_add(&c->db->errors, 1);
		if (e == ERR_DB_BUSY)
			atomic_fetch_add(&c->db->busy, 1);
	}
	return e;
}

enum err db_exec(struct db_conn *c, struct arena *a, struct db_rows **rows, const char *sql,
                 const char *types, ...)
{
	enum err e = ERR_OK;
	struct db_val stack[16];
	struct db_val *vals = stack;
	size_t n = types ? strlen(types) : 0;
	va_list ap;

	if (n > sizeof(stack) / sizeof(stack[0])) {
		vals = calloc(n, sizeof(*vals));
		if (!vals)
			return ERR_NOMEM;
	}
	va_start(ap, types);
	for (size_t k = 0; k < n; k++) {
		struct db_val *v = &vals[k];
		memset(v, 0, sizeof(*v));
		switch (types[k]) {
		case 'i':
			v->type = DB_INT;
			v->i = va_arg(ap, int64_t);
			break;
		case 'd':
			v->type = DB_REAL;
			v->d = va_arg(ap, double);
			break;
		case 's':
			v->p = va_arg(ap, const char *);
			v->type = v->p ? DB_TEXT : DB_NULL;
			v->n = v->p ? strlen(v->p) : 0;
			break;
		case 'b':
			v->type = DB_BLOB;
			v->p = va_arg(ap, const void *);
			v->n = va_arg(ap, size_t);
			if (!v->p && v->n == 0)
				v->p = "";
			assert(v->p);
			break;
		case 'n': v->type = DB_NULL; break;
		default:
			/* A bad type string is a bug in the caller, never a consequence of input.
			 */
			assert(!"db_exec: unknown type letter");
			e = ERR_INTERNAL;
			break;
		}
		if (e)
			break;
	}
	va_end(ap);
	if (!e)
		e = db_execv(c, a, rows, sql, vals, (int)n);
	if (vals != stack)
		free(vals);
	return e;
}

/* ---- cell accessors ---- */

const char *db_text(const struct db_rows *rs, int r, int c)
{
	const struct db_val *v = db_cell(rs, r, c);
	return v->type == DB_TEXT || v->type == DB_BLOB ? v->p : NULL;
}

int64_t db_int(const struct db_rows *rs, int r, int c)
{
	const struct db_val *v = db_cell(rs, r, c);
	int64_t x = 0;
	switch (v->type) {
	case DB_INT: return v->i;
	case DB_REAL:
		/* Out-of-range doubles would be undefined behaviour to convert. */
		if (v->d >= -9.2233720368547758e18 && v->d < 9.2233720368547758e18)
			return (int64_t)v->d;
		return 0;
	case DB_TEXT:
		if (cstr_to_i64(v->p, INT64_MIN, INT64_MAX, &x))
			return x;
		return 0;
	default: return 0;
	}
}

bool db_is_null(const struct db_rows *rs, int r, int c)
{
	return db_cell(rs, r, c)->type == DB_NULL;
}

int db_col(const struct db_rows *rs, const char *name)
{
	for (int k = 0; k < rs->ncols; k++)
		if (strcmp(rs->names[k], name) == 0)
			return k;
	return -1;
}

/* ---- result building ---- */

enum err db_rows_start(struct db_rows_builder *rb, struct arena *a, int ncols)
{
	memset(rb, 0, sizeof(*rb));
	rb->a = a;
	rb->rows = arena_zalloc(a, sizeof(*rb->rows));
	if (!rb->rows)
		return ERR_NOMEM;
	rb->rows->ncols = ncols;
	rb->rows->names = arena_zalloc(a, sizeof(char *) * (size_t)(ncols ? ncols : 1));
	if (!rb->rows->names)
		return ERR_NOMEM;
	return ERR_OK;
}

enum err db_rows_push(struct db_rows_builder *rb, const struct db_val *v)
{
	if (rb->ncells == rb->alloc) {
		size_t n = rb->alloc ? rb->alloc * 2 : 64;
		struct db_val *p = realloc(rb->cells, n * sizeof(*p));
		if (!p)
			return ERR_NOMEM;
		rb->cells = p;
		rb->alloc = n;
	}
	rb->cells[rb->ncells++] = *v;
	return ERR_OK;
}

const char *db_rows_bytes(struct db_rows_builder *rb, const void *p, size_t n)
{
	return arena_strndup(rb->a, n ? p : "", n);
}

enum err db_rows_finish(struct db_rows_builder *rb, int64_t changes, struct db_rows **out)
{
	struct db_rows *rs = rb->rows;
	enum err e = ERR_OK;
	if (rb->ncells) {
		rs->cells = arena_memdup(rb->a, rb->cells, rb->ncells * sizeof(*rb->cells));
		if (!rs->cells) {
			e = ERR_NOMEM;
			goto out;
		}
	} else {
		/* Never NULL, so that callers may index without checking nrows first. */
		rs->cells = arena_zalloc(rb->a, sizeof(*rs->cells));
		if (!rs->cells) {
			e = ERR_NOMEM;
			goto out;
		}
	}
	rs->nrows = rs->ncols ? (int)(rb->ncells / (size_t)rs->ncols) : 0;
	rs->changes = changes;
	*out = rs;
out:
	free(rb->cells);
	rb->cells = NULL;
	return e;
}

void db_rows_abort(struct db_rows_builder *rb)
{
	free(rb->cells);
	rb->cells = NULL;
}

/* ---- statement cache ---- */

static uint64_t fnv1a(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t k = 0; k < n; k++) {
		h ^= s[k];
		h *= 0x100000001b3ULL;
	}
	return h;
}

static int cache_find(struct db_stmt_cache *sc, const char *sql, uint64_t h)
{
	for (int k = 0; k < sc->n; k++)
		if (sc->e[k].hash == h && strcmp(sc->e[k].sql, sql) == 0)
			return k;
	return -1;
}

static void cache_remove(struct db_conn *c, int k, bool free_stmt)
{
	struct db_stmt_cache *sc = &c->cache;
	if (free_stmt)
		c->db->ops->stmt_free(c, sc->e[k].stmt);
	free(sc->e[k].sql);
	sc->e[k] = sc->e[sc->n - 1];
	sc->n--;
}

void *db_cache_get(struct db_conn *c, const char *sql, int *nparams)
{
	struct db_stmt_cache *sc = &c->cache;
	int k = cache_find(sc, sql, fnv1a(sql, strlen(sql)));
	if (k < 0)
		return NULL;
	sc->e[k].used = ++sc->tick;
	if (nparams)
		*nparams = sc->e[k].nparams;
	return sc->e[k].stmt;
}

enum err db_cache_put(struct db_conn *c, const char *sql, void *stmt, int nparams)
{
	struct db_stmt_cache *sc = &c->cache;
	char *copy = strdup(sql);
	if (!copy) {
		c->db->ops->stmt_free(c, stmt);
		return ERR_NOMEM;
	}
	if (sc->n == DB_STMT_CACHE_MAX) {
		int lru = 0;
		for (int k = 1; k < sc->n; k++)
			if (sc->e[k].used < sc->e[lru].used)
				lru = k;
		cache_remove(c, lru, true);
	}
	struct db_stmt_entry *en = &sc->e[sc->n++];
	en->sql = copy;
	en->hash = fnv1a(sql, strlen(sql));
	en->used = ++sc->tick;
	en->stmt = stmt;
	en->nparams = nparams;
	return ERR_OK;
}

void db_cache_drop(struct db_conn *c, const char *sql)
{
	int k = cache_find(&c->cache, sql, fnv1a(sql, strlen(sql)));
	if (k >= 0)
		cache_remove(c, k, true);
}

void db_cache_clear(struct db_conn *c, bool free_stmts)
{
	while (c->cache.n)
		cache_remove(c, c->cache.n - 1, free_stmts);
}

/* ---- placeholders ---- */

static bool ident_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || (unsigned char)ch >= 0x80;
}

/* Length of a dollar-quote tag ("$$" or "$tag$") starting at s, 0 when s does not open one. */
static size_t dollar_tag(const char *s)
{
	size_t k = 1;
	if (s[k] >= '0' && s[k] <= '9')
		return 0; /* $1 is a parameter, not a tag */
	while (ident_char(s[k]))
		k++;
	return s[k] == '$' ? k + 1 : 0;
}

enum err db_sql_placeholders(const char *sql, struct buf *out, int *nparams)
{
	enum err e = ERR_OK;
	int n = 0;
	const char *s = sql, *emit = sql;

	while (*s) {
		const char *end = NULL;
		if (*s == '\'') {
			/* E'...' strings let a backslash escape the quote. */
			bool esc = s > sql && (s[-1] == 'E' || s[-1] == 'e') &&
			           (s - 1 == sql || !ident_char(s[-2]));
			end = s + 1;
			while (*end) {
				if (esc && *end == '\\' && end[1]) {
					end += 2;
				} else if (*end == '\'' && end[1] == '\'') {
					end += 2;
				} else if (*end == '\'') {
					end++;
					break;
				} else {
					end++;
				}
			}
		} else if (*s == '"') {
			end = s + 1;
			while (*end && !(*end == '"' && end[1] != '"'))
				end += *end == '"' ? 2 : 1;
			if (*end)
				end++;
		} else if (s[0] == '-' && s[1] == '-') {
			end = s + 2;
			while (*end && *end != '\n')
				end++;
		} else if (s[0] == '/' && s[1] == '*') {
			end = strstr(s + 2, "*/");
			end = end ? end + 2 : s + strlen(s);
		} else if (*s == '$' && (s == sql || !ident_char(s[-1])) && dollar_tag(s)) {
			size_t tl = dollar_tag(s);
			const char *close = s + tl;
			for (;;) {
				close = strchr(close, '$');
				if (!close || strncmp(close, s, tl) == 0)
					break;
				close++;
			}
			end = close ? close + tl : s + strlen(s);
		} else if (*s == '?') {
			n++;
			if (out) {
				e = buf_append(out, emit, (size_t)(s - emit));
				if (!e)
					e = buf_printf(out, "$%d", n);
				if (e)
					goto out;
			}
			emit = ++s;
			continue;
		}
		s = end ? end : s + 1;
	}
	if (out)
		e = buf_append(out, emit, (size_t)(s - emit));
out:
	*nparams = n;
	return e;
}

/* ---- migrations ---- */

struct migration {
	int64_t version;
	char *file; /* base name, as recorded */
	char *text; /* file contents */
	size_t len;
	char checksum[17];
};

static void migrations_free(struct migration *m, int n)
{
	for (int k = 0; k < n; k++) {
		free(m[k].file);
		free(m[k].text);
	}
	free(m);
}

static int migration_cmp(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;
	return x->version < y->version ? -1 : x->version > y->version;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static enum err read_file(const char *path, char **out, size_t *len)
{
	enum err e = ERR_OK;
	struct buf b;
	char chunk[8192];
	FILE *f = fopen(path, "rb");
	buf_init(&b, MIGRATION_MAX_BYTES);
	if (!f) {
		e = ERR_IO;
		goto out;
	}
	size_t got;
	while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		e = buf_append(&b, chunk, got);
		if (e)
			goto out;
	}
	if (ferror(f)) {
		e = ERR_IO;
		goto out;
	}
	if (!b.p && (e = buf_append(&b, "", 0)))
		goto out;
	*out = buf_detach(&b, len);
	if (!*out)
		e = ERR_NOMEM;
out:
	if (f)
		fclose(f);
	buf_release(&b);
	return e;
}

/* The files of dir that run on this engine, sorted by version. A version may appear once
 * as a portable file, or once per engine as NNNN_x.sqlite.sql / NNNN_x.pg.sql, never both
 * ways: two files for one version on one engine are an error. */
static enum err migrations_list(struct db *db, const char *dir, struct migration **out, int *nout,
                                char *msg, size_t msgsz)
{
	enum err e = ERR_OK;
	struct migration *m = NULL;
	int n = 0, alloc = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	char path[4096];

	if (!d) {
		e = ERR_IO;
		set_msg(msg, msgsz, "无法打开迁移目录 %s", dir);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		const char *name = de->d_name;
		size_t len = strlen(name);
		if (name[0] == '.' || !ends_with(name, len, ".sql"))
			continue;
		size_t digits = 0;
		while (name[digits] >= '0' && name[digits] <= '9')
			digits++;
		int64_t version;
		char num[24];
		if (digits == 0 || digits >= sizeof(num) || name[digits] != '_') {
			e = ERR_CONFIG;
			set_msg(msg, msgsz, "迁移文件名 %s 不符合 NNNN_名称.sql 格式", name);
			goto out;
		}
		memcpy(num, name, digits);
		num[digits] = 0;
		if (!cstr_to_i64(num, 0, INT32_MAX, &version)) {
			e = ERR_CONFIG;
			set_msg(msg, msgsz, "迁移文件 %s 的版本号超出范围", name);
			goto out;
		}
		size_t stem = len - 4;
		const char *tag = NULL;
		if (ends_with(name, stem, ".sqlite"))
			tag = "sqlite";
		else if (ends_with(name, stem, ".pg"))
			tag = "pg";
		if (tag && strcmp(tag, db->ops->file_tag) != 0)
			continue;
		if (n == alloc) {
			int na = alloc ? alloc * 2 : 32;
			struct migration *p = realloc(m, sizeof(*m) * (size_t)na);
			if (!p) {
				e = ERR_NOMEM;
				goto out;
			}
			m = p;
			alloc = na;
		}
		memset(&m[n], 0, sizeof(m[n]));
		m[n].version = version;
		m[n].file = strdup(name);
		n++;
		if (!m[n - 1].file) {
			e = ERR_NOMEM;
			goto out;
		}
		if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path)) {
			e = ERR_CONFIG;
			set_msg(msg, msgsz, "迁移文件路径过长：%s", name);
			goto out;
		}
		e = read_file(path, &m[n - 1].text, &m[n - 1].len);
		if (e) {
			set_msg(msg, msgsz, "无法读取迁移文件 %s", name);
			goto out;
		}
		snprintf(m[n - 1].checksum, sizeof(m[n - 1].checksum), "%016llx",
		         (unsigned long long)fnv1a(m[n - 1].text, m[n - 1].len));
	}
	if (n)
		qsort(m, (size_t)n, sizeof(*m), migration_cmp);
	for (int k = 1; k < n; k++) {
		if (m[k].version == m[k - 1].version) {
			e = ERR_CONFIG;
			set_msg(msg, msgsz, "迁移文件 %s 与 %s 的版本号重复", m[k - 1].file,
			        m[k].file);
			goto out;
		}
	}
	*out = m;
	*nout = n;
	m = NULL;
	n = 0;
out:
	if (d)
		closedir(d);
	migrations_free(m, n);
	return e;
}

/* Replace {{ID}}, {{BLOB}} and {{TEXT}}; any other {{...}} is an error (a typo would
 * otherwise reach the engine as a confusing syntax error). */
static enum err expand_macros(struct db *db, const struct migration *mg, struct buf *out, char *msg,
                              size_t msgsz)
{
	enum err e = ERR_OK;
	const char *s = mg->text, *end = mg->text + mg->len;
	while (s < end) {
		const char *open = memmem(s, (size_t)(end - s), "{{", 2);
		if (!open) {
			e = buf_append(out, s, (size_t)(end - s));
			break;
		}
		if ((e = buf_append(out, s, (size_t)(open - s))))
			break;
		const char *close = memmem(open, (size_t)(end - open), "}}", 2);
		size_t nl = close ? (size_t)(close - open - 2) : 0;
		const char *rep = NULL;
		if (close && nl == 2 && memcmp(open + 2, "ID", 2) == 0)
			rep = db->ops->macro_id;
		else if (close && nl == 4 && memcmp(open + 2, "BLOB", 4) == 0)
			rep = db->ops->macro_blob;
		else if (close && nl == 4 && memcmp(open + 2, "TEXT", 4) == 0)
			rep = "TEXT";
		if (!rep) {
			e = ERR_CONFIG;
			set_msg(msg, msgsz,
			        "迁移文件 %s 含有未知的宏（只支持 {{ID}} {{BLOB}} {{TEXT}}）",
			        mg->file);
			break;
		}
		if ((e = buf_puts(out, rep)))
			break;
		s = close + 2;
	}
	return e;
}

static const char create_migrations_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
    "name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at BIGINT NOT NULL)";

/* Open a migration transaction holding the migration lock. */
static enum err migrate_begin(struct db_conn *c)
{
	enum err e = c->db->ops->migrate_begin(c);
	atomic_fetch_add(&c->db->queries, 1);
	if (e)
		atomic_fetch_add(&c->db->errors, 1);
	return e;
}

static const struct migration *find_version(const struct migration *m, int n, int64_t v)
{
	for (int k = 0; k < n; k++)
		if (m[k].version == v)
			return &m[k];
	return NULL;
}

/* Check recorded checksums against the files; *applied[k] tells which files are recorded. */
static enum err check_applied(struct db_conn *c, struct arena *a, const struct migration *m, int n,
                              bool *applied, char *msg, size_t msgsz)
{
	struct db_rows *rs;
	enum err e = db_exec(c, a, &rs, "SELECT version, checksum FROM schema_migrations", "");
	if (e) {
		set_msg(msg, msgsz, "读取 schema_migrations 失败");
		return e;
	}
	for (int r = 0; r < rs->nrows; r++) {
		const struct migration *mg = find_version(m, n, db_int(rs, r, 0));
		if (!mg)
			continue; /* recorded by a newer build or a file since removed */
		const char *sum = db_text(rs, r, 1);
		if (!sum || strcmp(sum, mg->checksum) != 0) {
			set_msg(msg, msgsz, "迁移文件 %s 在应用后被修改（校验和不一致）", mg->file);
			log_error("db_migrate_checksum",
			          "migration %s changed after it was applied "
			          "(recorded %s, file %s)",
			          mg->file, sum ? sum : "NULL", mg->checksum);
			return ERR_INTEGRITY;
		}
		applied[mg - m] = true;
	}
	return ERR_OK;
}

/* A SQLite migration that rebuilds a table other tables reference (to change a CHECK, say)
 * carries the line FK_OFF_DIRECTIVE. It then runs as SQLite's documented table-rebuild
 * procedure: foreign keys off for the connection (the pragma does nothing inside a
 * transaction, hence before BEGIN), the script, PRAGMA foreign_key_check (any violation
 * fails the migration and rolls it back), commit, foreign keys back on. Without this the DROP
 * of the old table counts every referencing row as a violation and the commit fails. */
#define FK_OFF_DIRECTIVE "-- shouli: foreign_keys=off"

static bool wants_fk_off(const struct db *db, const char *sql)
{
	return !strcmp(db->ops->name, "sqlite") && sql && strstr(sql, FK_OFF_DIRECTIVE);
}

static enum err fk_check(struct db_conn *c, struct arena *a, const struct migration *mg, char *msg,
                         size_t msgsz)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs, "PRAGMA foreign_key_check", "");
	if (e) {
		set_msg(msg, msgsz, "迁移文件 %s 的外键检查失败", mg->file);
		return e;
	}
	if (rs->nrows > 0) {
		set_msg(msg, msgsz,
		        "迁移文件 %s 执行后外键不一致（表 %s 有 %d 行引用不存在的记录）", mg->file,
		        db_text(rs, 0, 0) ? db_text(rs, 0, 0) : "?", rs->nrows);
		return ERR_INTEGRITY;
	}
	return ERR_OK;
}

static enum err apply_one(struct db_conn *c, struct arena *a, const struct migration *mg, char *msg,
                          size_t msgsz)
{
	enum err e = ERR_OK;
	struct buf sql;
	struct db_rows *rs;
	bool fk_off = false;
	buf_init(&sql, (size_t)MIGRATION_MAX_BYTES * 2);

	e = expand_macros(c->db, mg, &sql, msg, msgsz);
	if (e)
		goto out;
	if (wants_fk_off(c->db, sql.p)) {
		if ((e = c->db->ops->exec_script(c, "PRAGMA foreign_keys = OFF", mg->file))) {
			set_msg(msg, msgsz, "迁移文件 %s：无法暂停外键检查", mg->file);
			goto out;
		}
		fk_off = true;
	}
	e = migrate_begin(c);
	if (e) {
		set_msg(msg, msgsz, "无法取得迁移锁（%s）", mg->file);
		goto out;
	}
	/* Another process may have applied it while we waited for the lock. */
	e = db_exec(c, a, &rs, "SELECT checksum FROM schema_migrations WHERE version = ?", "i",
	            mg->version);
	if (e) {
		set_msg(msg, msgsz, "读取 schema_migrations 失败");
		goto out;
	}
	if (rs->nrows == 1) {
		const char *sum = db_text(rs, 0, 0);
		if (!sum || strcmp(sum, mg->checksum) != 0) {
			e = ERR_INTEGRITY;
			set_msg(msg, msgsz, "迁移文件 %s 在应用后被修改（校验和不一致）", mg->file);
			goto out;
		}
		e = db_rollback(c);
		goto out;
	}
	e = c->db->ops->exec_script(c, sql.p ? sql.p : "", mg->file);
	if (e) {
		set_msg(msg, msgsz, "迁移文件 %s 执行失败（详见日志）", mg->file);
		goto out;
	}
	if (fk_off && (e = fk_check(c, a, mg, msg, msgsz)))
		goto out;
	e = db_exec(c, NULL, NULL,
	            "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
	            "VALUES (?, ?, ?, ?)",
	            "issi", mg->version, mg->file, mg->checksum, time_now_ms());
	if (!e)
		e = db_commit(c);
	if (e) {
		set_msg(msg, msgsz, "记录迁移 %s 失败", mg->file);
		goto out;
	}
	log_info("db_migrate", "applied migration %s", mg->file);
out:
	if (e && c->db->ops->in_tx(c))
		db_rollback(c);
	if (fk_off && c->db->ops->exec_script(c, "PRAGMA foreign_keys = ON", mg->file) && !e) {
		set_msg(msg, msgsz, "迁移文件 %s：无法恢复外键检查", mg->file);
		e = ERR_DB;
	}
	buf_release(&sql);
	return e;
}

enum err db_migrate(struct db *db, const char *dir, char *msg, size_t msgsz)
{
	enum err e = ERR_OK;
	struct migration *m = NULL;
	int n = 0;
	bool *applied = NULL;
	struct db_conn *c = NULL;
	struct arena a;
	arena_init(&a, 0);

	set_msg(msg, msgsz, "%s", "");
	e = migrations_list(db, dir, &m, &n, msg, msgsz);
	if (e)
		goto out;
	applied = calloc((size_t)n + 1, sizeof(*applied));
	if (!applied) {
		e = ERR_NOMEM;
		goto out;
	}
	e = db_acquire(db, MIGRATE_ACQUIRE_MS, &c);
	if (e) {
		set_msg(msg, msgsz, "无法取得数据库连接");
		goto out;
	}
	/* Under the migration lock too: two PG sessions racing on CREATE TABLE IF NOT EXISTS
	 * can both try to create it. */
	e = migrate_begin(c);
	if (!e)
		e = db->ops->exec_script(c, create_migrations_sql, "schema_migrations");
	if (!e)
		e = db_commit(c);
	if (e) {
		if (db->ops->in_tx(c))
			db_rollback(c);
		set_msg(msg, msgsz, "无法创建 schema_migrations 表");
		goto out;
	}
	e = check_applied(c, &a, m, n, applied, msg, msgsz);
	if (e)
		goto out;
	for (int k = 0; k < n; k++) {
		if (applied[k])
			continue;
		e = apply_one(c, &a, &m[k], msg, msgsz);
		if (e)
			goto out;
	}
out:
	db_release(c);
	arena_release(&a);
	free(applied);
	migrations_free(m, n);
	return e;
}

enum err db_pending_migrations(struct db *db, const char *dir, int *pending)
{
	enum err e = ERR_OK;
	struct migration *m = NULL;
	int n = 0;
	bool *applied = NULL;
	struct db_conn *c = NULL;
	struct db_rows *rs;
	char msg[256];
	struct arena a;
	arena_init(&a, 0);

	*pending = 0;
	e = migrations_list(db, dir, &m, &n, msg, sizeof(msg));
	if (e) {
		log_error("db_migrate", "%s", msg);
		goto out;
	}
	applied = calloc((size_t)n + 1, sizeof(*applied));
	if (!applied) {
		e = ERR_NOMEM;
		goto out;
	}
	e = db_acquire(db, MIGRATE_ACQUIRE_MS, &c);
	if (e)
		goto out;
	e = db_exec(c, &a, &rs, db->ops->table_exists_sql, "s", "schema_migrations");
	if (e)
		goto out;
	if (db_int(rs, 0, 0) > 0) {
		e = db_exec(c, &a, &rs, "SELECT version FROM schema_migrations", "");
		if (e)
			goto out;
		for (int r = 0; r < rs->nrows; r++) {
			const struct migration *mg = find_version(m, n, db_int(rs, r, 0));
			if (mg)
				applied[mg - m] = true;
		}
	}
	for (int k = 0; k < n; k++)
		*pending += !applied[k];
out:
	db_release(c);
	arena_release(&a);
	free(applied);
	migrations_free(m, n);
	return e;
}

/* ---- health and counters ---- */

enum err db_ping(struct db *db)
{
	struct db_conn *c = NULL;
	enum err e = db_acquire(db, PING_ACQUIRE_MS, &c);
	if (!e)
		e = db_exec(c, NULL, NULL, "SELECT 1", "");
	db_release(c);
	return e;
}

void db_stats_get(struct db *db, struct db_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->queries = atomic_load(&db->queries);
	out->errors = atomic_load(&db->errors);
	out->busy = atomic_load(&db->busy);
	out->acquire_waits = atomic_load(&db->acquire_waits);
	out->query_ns = atomic_load(&db->query_ns);
	pthread_mutex_lock(&db->mu);
	out->pool_size = db->pool_max;
	out->pool_in_use = db->in_use;
	pthread_mutex_unlock(&db->mu);
	db_writer_stats(db, out);
}

void db_metrics(struct db *db, struct buf *b)
{
	struct db_stats s;
	db_stats_get(db, &s);
	buf_printf(
	    b,
	    "# HELP shouli_db_queries_total Statements executed.\n"
	    "# TYPE shouli_db_queries_total counter\nshouli_db_queries_total %llu\n"
	    "# HELP shouli_db_errors_total Statements that failed.\n"
	    "# TYPE shouli_db_errors_total counter\nshouli_db_errors_total %llu\n"
	    "# HELP shouli_db_busy_total Lock or pool timeouts.\n"
	    "# TYPE shouli_db_busy_total counter\nshouli_db_busy_total %llu\n"
	    "# HELP shouli_db_query_seconds_total Time spent in statements.\n"
	    "# TYPE shouli_db_query_seconds_total counter\nshouli_db_query_seconds_total %.6f\n"
	    "# HELP shouli_db_pool_connections Connections by state.\n"
	    "# TYPE shouli_db_pool_connections gauge\n"
	    "shouli_db_pool_connections{state=\"in_use\"} %d\n"
	    "shouli_db_pool_connections{state=\"max\"} %d\n",
	    (unsigned long long)s.queries, (unsigned long long)s.errors, (unsigned long long)s.busy,
	    (double)s.query_ns / 1e9, s.pool_in_use, s.pool_size);
	buf_printf(b,
	           "# HELP shouli_db_write_units_total Write units (group commit) by outcome.\n"
	           "# TYPE shouli_db_write_units_total counter\n"
	           "shouli_db_write_units_total{result=\"committed\"} %llu\n"
	           "shouli_db_write_units_total{result=\"failed\"} %llu\n"
	           "# HELP shouli_db_write_commit_failures_total Batch commits that failed.\n"
	           "# TYPE shouli_db_write_commit_failures_total counter\n"
	           "shouli_db_write_commit_failures_total %llu\n"
	           "# HELP shouli_db_write_queue_units Write units waiting for the writer.\n"
	           "# TYPE shouli_db_write_queue_units gauge\nshouli_db_write_queue_units %d\n"
	           "# HELP shouli_db_write_unit_wait_seconds_total Time from submitting a write "
	           "unit to its start.\n"
	           "# TYPE shouli_db_write_unit_wait_seconds_total counter\n"
	           "shouli_db_write_unit_wait_seconds_total %.6f\n"
	           "# HELP shouli_db_write_unit_run_seconds_total Time write units ran.\n"
	           "# TYPE shouli_db_write_unit_run_seconds_total counter\n"
	           "shouli_db_write_unit_run_seconds_total %.6f\n"
	           "# HELP shouli_db_write_commit_seconds_total Time in batch commits.\n"
	           "# TYPE shouli_db_write_commit_seconds_total counter\n"
	           "shouli_db_write_commit_seconds_total %.6f\n"
	           "# HELP shouli_db_write_batch_units Write units per transaction.\n"
	           "# TYPE shouli_db_write_batch_units histogram\n",
	           (unsigned long long)(s.wu_units - s.wu_failed), (unsigned long long)s.wu_failed,
	           (unsigned long long)s.wu_commit_failures, s.wu_queued,
	           (double)s.wu_wait_ns / 1e9, (double)s.wu_run_ns / 1e9,
	           (double)s.wu_commit_ns / 1e9);
	uint64_t cum = 0;
	for (int k = 0; k < DB_WRITE_BATCH_BUCKETS; k++) {
		cum += s.wu_batch_hist[k];
		if (k < DB_WRITE_BATCH_BUCKETS - 1)
			buf_printf(b, "shouli_db_write_batch_units_bucket{le=\"%d\"} %llu\n",
			           db_write_batch_le[k], (unsigned long long)cum);
		else
			buf_printf(b, "shouli_db_write_batch_units_bucket{le=\"+Inf\"} %llu\n",
			           (unsigned long long)cum);
	}
	/* Units that reached a transaction (those timed out in the queue never did). */
	buf_printf(b,
	           "shouli_db_write_batch_units_sum %llu\nshouli_db_write_batch_units_count %llu\n"
	           "# HELP shouli_db_write_batch_units_max Largest batch since start.\n"
	           "# TYPE shouli_db_write_batch_units_max gauge\n"
	           "shouli_db_write_batch_units_max %d\n",
	           (unsigned long long)s.wu_batch_units, (unsigned long long)s.wu_batches,
	           s.wu_batch_max);
}
