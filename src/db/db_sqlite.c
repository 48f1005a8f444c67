/* db_sqlite.c: the SQLite engine. One sqlite3 handle per pooled connection, opened
 * NOMUTEX (a connection is used by one thread at a time), in WAL mode with
 * synchronous=FULL so that a commit is on disk when it returns. */
#include <assert.h>
#include <pthread.h>
#include <sqlite3.h>
#include <time.h>

#include "core/log.h"
#include "db/db_int.h"

#define BUSY_TIMEOUT_MS 5000
/* Another process may be running a long migration: wait for it rather than fail. */
#define MIGRATE_BUSY_TIMEOUT_MS (10 * 60 * 1000)

static enum err map_rc(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY: return ERR_EXISTS;
	default: break;
	}
	switch (rc & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return ERR_DB_BUSY;
	case SQLITE_NOMEM: return ERR_NOMEM;
	default: return ERR_DB;
	}
}

/* Log the engine's message with the SQL (never the parameters: they may be personal data)
 * and translate the code. */
static enum err fail(struct db_conn *c, int rc, const char *sql)
{
	enum err e = map_rc(rc);
	const char *m = sqlite3_errmsg(c->h);
	if (e == ERR_DB || e == ERR_NOMEM)
		log_error("db_error", "sqlite: %s (code %d) in: %.300s", m, rc, sql);
	else
		log_warn("db_error", "sqlite: %s (code %d) in: %.300s", m, rc, sql);
	return e;
}

static int wal_cb(void *arg, int ncols, char **vals, char **names)
{
	(void)names;
	if (ncols > 0 && vals[0])
		*(bool *)arg = strcasecmp(vals[0], "wal") == 0;
	return 0;
}

/* Process-wide settings, before SQLite initialises itself at the first open: without memory
 * statistics every allocation of every connection takes one global mutex, which the threads
 * of a busy server then queue on. (Should SQLite be initialised already, the call is refused
 * and the default stays.) */
static pthread_once_t setup_once = PTHREAD_ONCE_INIT;

static void setup(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static enum err conn_open(struct db *db, struct db_conn *c, char *msg, size_t msgsz)
{
	enum err e = ERR_OK;
	sqlite3 *h = NULL;
	char *err = NULL;
	bool wal = false;
	pthread_once(&setup_once, setup);
	int rc = sqlite3_open_v2(
	    db->target, &h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		e = ERR_DB;
		if (msg && msgsz)
			snprintf(msg, msgsz, "无法打开 SQLite 数据库 %s：%s", db->target,
			         h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_extended_result_codes(h, 1);
	sqlite3_busy_timeout(h, BUSY_TIMEOUT_MS);
	/* One plan per statement whatever its parameters: otherwise a statement with
	 * "column LIKE ?" is compiled again every time a new value is bound (SQLite weighs the
	 * LIKE-prefix optimisation, which none of our indexes could use anyway). */
	sqlite3_db_config(h, SQLITE_DBCONFIG_ENABLE_QPSG, 1, (int *)NULL);
	/* Switching a new file to WAL takes an exclusive lock, and SQLite may answer BUSY at
	 * once (without the busy handler) when other connections open the same new file at the
	 * same moment: retry for a while. */
	for (int tries = 0;; tries++) {
		rc = sqlite3_exec(h, "PRAGMA journal_mode=WAL", wal_cb, &wal, &err);
		if ((rc != SQLITE_BUSY && rc != SQLITE_LOCKED) || tries == 250)
			break;
		sqlite3_free(err);
		err = NULL;
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL);
	}
	if (rc == SQLITE_OK && !wal)
		rc = SQLITE_ERROR;
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h,
		                  "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; "
		                  "PRAGMA trusted_schema=OFF",
		                  NULL, NULL, &err);
	if (rc != SQLITE_OK) {
		e = ERR_DB;
		if (msg && msgsz)
			snprintf(msg, msgsz, "无法设置 SQLite 数据库 %s（WAL/同步/外键）：%s",
			         db->target, err ? err : "journal_mode 不是 wal");
		goto out;
	}
	c->h = h;
	h = NULL;
out:
	sqlite3_free(err);
	if (h)
		sqlite3_close_v2(h);
	return e;
}

static void conn_close(struct db_conn *c)
{
	sqlite3_close_v2(c->h);
	c->h = NULL;
}

static enum err conn_check(struct db_conn *c)
{
	(void)c;
	return ERR_OK;
}

static bool in_tx(struct db_conn *c)
{
	return c->h && !sqlite3_get_autocommit(c->h);
}

static void stmt_free(struct db_conn *c, void *stmt)
{
	(void)c;
	sqlite3_finalize(stmt);
}

static enum err prepare(struct db_conn *c, const char *sql, sqlite3_stmt **out)
{
	enum err e = ERR_OK;
	sqlite3_stmt *st = db_cache_get(c, sql, NULL), *extra = NULL;
	const char *tail = NULL;
	if (st) {
		*out = st;
		return ERR_OK;
	}
	int rc = sqlite3_prepare_v3(c->h, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, &tail);
	if (rc != SQLITE_OK) {
		e = fail(c, rc, sql);
		goto out;
	}
	if (!st) {
		log_error("db_error", "sqlite: empty statement: %.300s", sql);
		e = ERR_INTERNAL;
		goto out;
	}
	/* Only whitespace and comments may follow: a second statement would silently not run. */
	if (tail && *tail) {
		rc = sqlite3_prepare_v2(c->h, tail, -1, &extra, NULL);
		if (rc != SQLITE_OK || extra) {
			log_error("db_error", "sqlite: more than one statement in db_exec: %.300s",
			          sql);
			e = ERR_INTERNAL;
			goto out;
		}
	}
	e = db_cache_put(c, sql, st, sqlite3_bind_parameter_count(st));
	if (e) {
		st = NULL; /* freed by db_cache_put */
		goto out;
	}
	*out = st;
	st = NULL;
out:
	sqlite3_finalize(extra);
	sqlite3_finalize(st);
	return e;
}

static int bind(sqlite3_stmt *st, int k, const struct db_val *v)
{
	switch (v->type) {
	case DB_INT: return sqlite3_bind_int64(st, k, v->i);
	case DB_REAL: return sqlite3_bind_double(st, k, v->d);
	case DB_TEXT:
		if (!v->p)
			return sqlite3_bind_null(st, k);
		/* With its length: bytes after a NUL are the caller's business, not a reason
		 * to cut the value short. */
		return sqlite3_bind_text64(st, k, v->p, v->n, SQLITE_STATIC, SQLITE_UTF8);
	case DB_BLOB:
		if (v->n == 0)
			return sqlite3_bind_zeroblob(st, k, 0);
		return sqlite3_bind_blob64(st, k, v->p, v->n, SQLITE_STATIC);
	case DB_NULL:
	default: return sqlite3_bind_null(st, k);
	}
}

static enum err cell(struct db_rows_builder *rb, sqlite3_stmt *st, int k)
{
	struct db_val v;
	memset(&v, 0, sizeof(v));
	switch (sqlite3_column_type(st, k)) {
	case SQLITE_INTEGER:
		v.type = DB_INT;
		v.i = sqlite3_column_int64(st, k);
		break;
	case SQLITE_FLOAT:
		v.type = DB_REAL;
		v.d = sqlite3_column_double(st, k);
		break;
	case SQLITE_TEXT:
		v.type = DB_TEXT;
		v.p = (const char *)sqlite3_column_text(st, k);
		v.n = (size_t)sqlite3_column_bytes(st, k);
		if (!(v.p = db_rows_bytes(rb, v.p, v.n)))
			return ERR_NOMEM;
		break;
	case SQLITE_BLOB:
		v.type = DB_BLOB;
		v.p = sqlite3_column_blob(st, k);
		v.n = (size_t)sqlite3_column_bytes(st, k);
		if (!(v.p = db_rows_bytes(rb, v.p, v.n)))
			return ERR_NOMEM;
		break;
	default: v.type = DB_NULL; break;
	}
	return db_rows_push(rb, &v);
}

static enum err start_rows(struct db_rows_builder *rb, struct arena *a, sqlite3_stmt *st)
{
	int ncols = sqlite3_column_count(st);
	enum err e = db_rows_start(rb, a, ncols);
	for (int k = 0; !e && k < ncols; k++) {
		const char *name = sqlite3_column_name(st, k);
		rb->rows->names[k] = arena_strdup(a, name ? name : "");
		if (!rb->rows->names[k])
			e = ERR_NOMEM;
	}
	return e;
}

static enum err exec(struct db_conn *c, struct arena *a, struct db_rows **rows, const char *sql,
                     const struct db_val *params, int nparams)
{
	enum err e = ERR_OK;
	sqlite3_stmt *st = NULL;
	struct db_rows_builder rb;
	bool building = false;
	int rc;

	e = prepare(c, sql, &st);
	if (e)
		return e;
	if (sqlite3_bind_parameter_count(st) != nparams) {
		log_error("db_error", "sqlite: %d parameters given, %d expected in: %.300s",
		          nparams, sqlite3_bind_parameter_count(st), sql);
		assert(!"db_exec: parameter count does not match the SQL");
		e = ERR_INTERNAL;
		goto out;
	}
	for (int k = 0; k < nparams; k++) {
		rc = bind(st, k + 1, &params[k]);
		if (rc != SQLITE_OK) {
			e = fail(c, rc, sql);
			goto out;
		}
	}
	/* Step to the end even without a result wanted: an INSERT ... RETURNING or a
	 * multi-row UPDATE is only complete once SQLITE_DONE comes back. */
	for (;;) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			break;
		/* The columns are read after the first step: a schema change made by another
		 * connection re-prepares the statement inside sqlite3_step ("SELECT *"). */
		if (rows && !building) {
			e = start_rows(&rb, a, st);
			building = true;
			if (e)
				goto out;
		}
		if (rc == SQLITE_DONE)
			break;
		for (int k = 0; rows && k < rb.rows->ncols; k++) {
			e = cell(&rb, st, k);
			if (e)
				goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		e = fail(c, rc, sql);
		goto out;
	}
	if (rows) {
		int64_t changes = sqlite3_stmt_readonly(st) ? 0 : sqlite3_changes64(c->h);
		building = false;
		e = db_rows_finish(&rb, changes, rows);
	}
out:
	if (building)
		db_rows_abort(&rb);
	if (st) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	return e;
}

static enum err exec_script(struct db_conn *c, const char *sql, const char *what)
{
	/* The control statements go through the statement cache: they run on every write. */
	static const char *const cached[] = {"BEGIN", "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"};
	for (size_t k = 0; k < sizeof(cached) / sizeof(cached[0]); k++)
		if (strcmp(sql, cached[k]) == 0)
			return exec(c, NULL, NULL, sql, NULL, 0);
	char *err = NULL;
	int rc = sqlite3_exec(c->h, sql, NULL, NULL, &err);
	enum err e = ERR_OK;
	if (rc != SQLITE_OK) {
		e = map_rc(sqlite3_extended_errcode(c->h));
		log_error("db_error", "sqlite: %s (code %d) in %s", err ? err : sqlite3_errstr(rc),
		          sqlite3_extended_errcode(c->h), what);
	}
	sqlite3_free(err);
	return e;
}

static enum err migrate_begin(struct db_conn *c)
{
	sqlite3_busy_timeout(c->h, MIGRATE_BUSY_TIMEOUT_MS);
	enum err e = exec_script(c, "BEGIN IMMEDIATE", "BEGIN IMMEDIATE");
	sqlite3_busy_timeout(c->h, BUSY_TIMEOUT_MS);
	return e;
}

const struct db_ops db_sqlite_ops = {
    .name = "sqlite",
    .file_tag = "sqlite",
    .macro_id = "INTEGER PRIMARY KEY AUTOINCREMENT",
    .macro_blob = "BLOB",
    .begin_write_sql = "BEGIN IMMEDIATE",
    .table_exists_sql = "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
    .conn_open = conn_open,
    .conn_close = conn_close,
    .conn_check = conn_check,
    .in_tx = in_tx,
    .exec = exec,
    .exec_script = exec_script,
    .migrate_begin = migrate_begin,
    .stmt_free = stmt_free,
    .group_commit = true,
    /* Every unit runs in a savepoint, whose sub-journal keeps the original of each page the
     * unit changes: in memory, not spilled to a temporary file after 64 KiB. */
    .writer_setup_sql = "PRAGMA temp_store = MEMORY",
};
