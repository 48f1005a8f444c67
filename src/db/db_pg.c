/* db_pg.c: the PostgreSQL engine over libpq (also PG-wire compatible databases).
 *
 * Statements are prepared once per session (PQprepare, named sN) and cached by SQL text.
 * Parameters go as text, except blobs (binary bytea); results come back as text and are
 * typed by the column's type OID so that integers are DB_INT on both engines. */
#include <assert.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>

#include "core/log.h"
#include "core/str.h"
#include "db/db_int.h"

/* Type OIDs from pg_type.h (fixed since forever; the server headers are not needed). */
#define BOOLOID    16
#define BYTEAOID   17
#define INT8OID    20
#define INT2OID    21
#define INT4OID    23
#define OIDOID     26
#define FLOAT4OID  700
#define FLOAT8OID  701
#define NUMERICOID 1700

/* Key of the advisory lock that serialises migrators across processes ("shouli" in ASCII). */
#define MIGRATE_LOCK_KEY "126875599071081"

/* Writers rely on row locks and "UPDATE ... WHERE version = ?", which READ COMMITTED
 * serves; spelled out so that a changed server default cannot change it. */
#define BEGIN_WRITE_SQL "BEGIN ISOLATION LEVEL READ COMMITTED"

/* Lock waits end like SQLite's busy timeout: ERR_DB_BUSY after 5 s. Commits are durable
 * on return whatever the server default is. */
static const char session_sql[] = "SET lock_timeout = '5s'; SET synchronous_commit = on";

static enum err map_state(const char *st)
{
	static const struct {
		const char *state;
		enum err e;
	} map[] = {
	    {"23505", ERR_EXISTS},   {"40001", ERR_CONFLICT}, {"40P01", ERR_CONFLICT},
	    {"55P03", ERR_DB_BUSY},  {"57014", ERR_DB_BUSY},  {"22021", ERR_BAD_UTF8},
	    {"22P05", ERR_BAD_UTF8},
	};
	for (size_t k = 0; st && k < sizeof(map) / sizeof(map[0]); k++)
		if (strcmp(st, map[k].state) == 0)
			return map[k].e;
	return ERR_DB;
}

/* Log the server's message with the SQL (never the parameters) and translate it. */
static enum err fail(struct db_conn *c, PGresult *res, const char *sql)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	if (!m)
		m = PQerrorMessage(c->h);
	enum err e = map_state(st);
	if (e == ERR_DB)
		log_error("db_error", "postgres: %s (sqlstate %s) in: %.300s", m, st ? st : "-",
		          sql);
	else
		log_warn("db_error", "postgres: %s (sqlstate %s) in: %.300s", m, st, sql);
	return e;
}

static bool state_is(PGresult *res, const char *state)
{
	const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	return st && strcmp(st, state) == 0;
}

static enum err session_setup(PGconn *h)
{
	PGresult *res = PQexec(h, session_sql);
	enum err e = PQresultStatus(res) == PGRES_COMMAND_OK ? ERR_OK : ERR_DB;
	if (e)
		log_error("db_error", "postgres: session setup failed: %s",
		          PQresultErrorMessage(res));
	PQclear(res);
	return e;
}

/* Server notices (e.g. "drop cascades to ...") go to the log, not to stderr. */
static void on_notice(void *arg, const char *message)
{
	(void)arg;
	size_t n = strlen(message);
	while (n && message[n - 1] == '\n')
		n--;
	log_debug("db_notice", "postgres: %.*s", (int)n, message);
}

static void copy_conn_error(PGconn *h, char *msg, size_t msgsz)
{
	if (!msg || !msgsz)
		return;
	snprintf(msg, msgsz, "无法连接 PostgreSQL：%s", h ? PQerrorMessage(h) : "内存不足");
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = 0;
}

static enum err conn_open(struct db *db, struct db_conn *c, char *msg, size_t msgsz)
{
	enum err e = ERR_OK;
	/* dbname is expanded as a conninfo string or URI; what follows it overrides it, so
	 * the session is always UTF-8. */
	const char *kw[] = {"dbname", "client_encoding", "fallback_application_name", NULL};
	const char *val[] = {db->target, "UTF8", "shouli", NULL};
	PGconn *h = PQconnectdbParams(kw, val, 1);
	if (!h || PQstatus(h) != CONNECTION_OK) {
		e = ERR_DB;
		copy_conn_error(h, msg, msgsz);
		goto out;
	}
	PQsetNoticeProcessor(h, on_notice, NULL);
	e = session_setup(h);
	if (e) {
		if (msg && msgsz)
			snprintf(msg, msgsz, "PostgreSQL 会话参数设置失败");
		goto out;
	}
	c->h = h;
	h = NULL;
out:
	if (h)
		PQfinish(h);
	return e;
}

static void conn_close(struct db_conn *c)
{
	PQfinish(c->h);
	c->h = NULL;
}

/* Bring a broken session back; the server forgot our prepared statements with it. */
static enum err revive(struct db_conn *c)
{
	PQreset(c->h);
	db_cache_clear(c, false);
	buf_reset(&c->dealloc);
	if (PQstatus(c->h) != CONNECTION_OK) {
		char msg[512];
		copy_conn_error(c->h, msg, sizeof(msg));
		log_error("db_connect", "postgres reconnect failed: %s", msg);
		return ERR_DB;
	}
	log_warn("db_connect", "postgres connection was broken: reconnected");
	return session_setup(c->h);
}

static void flush_dealloc(struct db_conn *c)
{
	if (!c->dealloc.len || PQtransactionStatus(c->h) != PQTRANS_IDLE)
		return;
	PGresult *res = PQexec(c->h, c->dealloc.p);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		log_warn("db_error", "postgres: DEALLOCATE failed: %s", PQresultErrorMessage(res));
	PQclear(res);
	buf_reset(&c->dealloc);
}

static enum err conn_check(struct db_conn *c)
{
	if (PQstatus(c->h) != CONNECTION_OK)
		return revive(c);
	flush_dealloc(c);
	return ERR_OK;
}

static bool in_tx(struct db_conn *c)
{
	if (!c->h)
		return false;
	PGTransactionStatusType t = PQtransactionStatus(c->h);
	return t == PQTRANS_INTRANS || t == PQTRANS_INERROR;
}

static void stmt_free(struct db_conn *c, void *stmt)
{
	unsigned id = (unsigned)(uintptr_t)stmt;
	if (!c->h || PQstatus(c->h) != CONNECTION_OK)
		return; /* the session, and its statements, are gone */
	/* An aborted transaction refuses DEALLOCATE: send it once the session is idle. */
	if (PQtransactionStatus(c->h) == PQTRANS_INERROR) {
		if (buf_printf(&c->dealloc, "DEALLOCATE s%u;", id))
			log_warn("db_error", "postgres: statement s%u leaked until reconnect", id);
		return;
	}
	char sql[32];
	snprintf(sql, sizeof(sql), "DEALLOCATE s%u", id);
	PGresult *res = PQexec(c->h, sql);
	PQclear(res);
}

static enum err prepare(struct db_conn *c, const char *sql, const struct db_val *params,
                        int nparams, unsigned *id, int *count)
{
	enum err e = ERR_OK;
	struct buf text;
	Oid *types = NULL;
	PGresult *res = NULL;
	char name[16];
	int n = 0;

	void *cached = db_cache_get(c, sql, count);
	if (cached) {
		*id = (unsigned)(uintptr_t)cached;
		return ERR_OK;
	}
	buf_init(&text, 4 * strlen(sql) + 64);
	e = db_sql_placeholders(sql, &text, &n);
	if (e)
		goto out;
	/* Blobs are sent in binary, so their type must be known up front; the server infers
	 * every other parameter's type from the SQL, as for a text literal. */
	types = calloc((size_t)n + 1, sizeof(*types));
	if (!types) {
		e = ERR_NOMEM;
		goto out;
	}
	for (int k = 0; k < n && k < nparams; k++)
		if (params[k].type == DB_BLOB)
			types[k] = BYTEAOID;
	if (++c->stmt_seq == 0)
		c->stmt_seq = 1; /* 0 would read as "not cached" */
	snprintf(name, sizeof(name), "s%u", c->stmt_seq);
	res = PQprepare(c->h, name, text.p, n, types);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		e = fail(c, res, sql);
		goto out;
	}
	e = db_cache_put(c, sql, (void *)(uintptr_t)c->stmt_seq, n);
	if (e)
		goto out;
	*id = c->stmt_seq;
	*count = n;
out:
	PQclear(res);
	free(types);
	buf_release(&text);
	return e;
}

static enum err int_cell(const char *s, size_t n, struct db_val *v)
{
	if (str_to_i64((struct str){s, n}, INT64_MIN, INT64_MAX, &v->i)) {
		v->type = DB_INT;
		return ERR_OK;
	}
	return ERR_INVALID;
}

static enum err cell(struct db_rows_builder *rb, PGresult *res, int r, int k)
{
	struct db_val v;
	memset(&v, 0, sizeof(v));
	if (PQgetisnull(res, r, k)) {
		v.type = DB_NULL;
		return db_rows_push(rb, &v);
	}
	const char *s = PQgetvalue(res, r, k);
	size_t n = (size_t)PQgetlength(res, r, k);
	switch (PQftype(res, k)) {
	case INT2OID:
	case INT4OID:
	case INT8OID:
	case OIDOID:
		if (int_cell(s, n, &v) == ERR_OK)
			return db_rows_push(rb, &v);
		break;
	case BOOLOID:
		/* Booleans are INTEGER 0/1 in the schema; an expression like EXISTS(...) must
		 * read the same as on SQLite. */
		v.type = DB_INT;
		v.i = s[0] == 't';
		return db_rows_push(rb, &v);
	case NUMERICOID:
		/* SUM(bigint) is numeric on PG but an integer on SQLite: keep integral values
		 * integers. */
		if (int_cell(s, n, &v) == ERR_OK)
			return db_rows_push(rb, &v);
		/* fall through */
	case FLOAT4OID:
	case FLOAT8OID:
		v.type = DB_REAL;
		v.d = strtod(s, NULL);
		return db_rows_push(rb, &v);
	case BYTEAOID:
		v.type = DB_BLOB;
		if (n >= 2 && s[0] == '\\' && s[1] == 'x') {
			size_t bn = (n - 2) / 2;
			char *p = arena_alloc(rb->a, bn + 1);
			if (!p)
				return ERR_NOMEM;
			if (!hex_decode(s + 2, n - 2, (unsigned char *)p, bn))
				return ERR_DB;
			p[bn] = 0;
			v.p = p;
			v.n = bn;
		} else {
			size_t bn = 0;
			unsigned char *raw = PQunescapeBytea((const unsigned char *)s, &bn);
			if (!raw)
				return ERR_NOMEM;
			v.p = db_rows_bytes(rb, raw, bn);
			v.n = bn;
			PQfreemem(raw);
			if (!v.p)
				return ERR_NOMEM;
		}
		return db_rows_push(rb, &v);
	default: break;
	}
	v.type = DB_TEXT;
	v.n = n;
	if (!(v.p = db_rows_bytes(rb, s, n)))
		return ERR_NOMEM;
	return db_rows_push(rb, &v);
}

static enum err result_rows(PGresult *res, struct arena *a, struct db_rows **rows)
{
	enum err e = ERR_OK;
	struct db_rows_builder rb;
	int ncols = PQnfields(res), nrows = PQntuples(res);
	int64_t changes = 0;

	e = db_rows_start(&rb, a, ncols);
	if (e)
		goto out;
	for (int k = 0; k < ncols; k++) {
		rb.rows->names[k] = arena_strdup(a, PQfname(res, k));
		if (!rb.rows->names[k]) {
			e = ERR_NOMEM;
			goto out;
		}
	}
	for (int r = 0; r < nrows; r++)
		for (int k = 0; k < ncols; k++)
			if ((e = cell(&rb, res, r, k)))
				goto out;
	const char *ct = PQcmdTuples(res);
	/* PQcmdTuples also counts the rows of a plain SELECT; report changes only for
	 * statements that modify (INSERT/UPDATE/DELETE/MERGE, with or without RETURNING). */
	const char *tag = PQcmdStatus(res);
	if (ct && *ct && tag && strncmp(tag, "SELECT", 6) != 0)
		cstr_to_i64(ct, 0, INT64_MAX, &changes);
	return db_rows_finish(&rb, changes, rows);
out:
	db_rows_abort(&rb);
	return e;
}

static void put_number(char *slot, size_t size, const struct db_val *v)
{
	if (v->type == DB_INT)
		snprintf(slot, size, "%" PRId64, v->i);
	else if (isnan(v->d))
		snprintf(slot, size, "NaN");
	else if (isinf(v->d))
		snprintf(slot, size, "%sInfinity", v->d < 0 ? "-" : "");
	else
		snprintf(slot, size, "%.17g", v->d);
}

static enum err exec(struct db_conn *c, struct arena *a, struct db_rows **rows, const char *sql,
                     const struct db_val *params, int nparams)
{
	enum err e = ERR_OK;
	PGresult *res = NULL;
	const char **values = NULL;
	int *lengths = NULL, *formats = NULL;
	size_t *offs = NULL;
	struct buf scratch;
	unsigned id = 0;
	int count = 0;
	char name[16];
	bool retried = false;

	buf_init(&scratch, SIZE_MAX / 2);
	size_t np = (size_t)nparams + 1;
	values = calloc(np, sizeof(*values));
	lengths = calloc(np, sizeof(*lengths));
	formats = calloc(np, sizeof(*formats));
	offs = calloc(np, sizeof(*offs));
	if (!values || !lengths || !formats || !offs) {
		e = ERR_NOMEM;
		goto out;
	}
	/* Text and numbers are laid out NUL-terminated in one scratch buffer; pointers into
	 * it are taken only once it stops growing. */
	for (int k = 0; k < nparams; k++) {
		const struct db_val *v = &params[k];
		char num[40];
		offs[k] = scratch.len;
		switch (v->type) {
		case DB_INT:
		case DB_REAL:
			put_number(num, sizeof(num), v);
			e = buf_append(&scratch, num, strlen(num) + 1);
			break;
		case DB_TEXT:
			if (!v->p)
				break;
			if (memchr(v->p, 0, v->n)) {
				/* PostgreSQL text cannot hold U+0000: refuse rather than cut. */
				log_warn("db_error",
				         "postgres: NUL byte in a text parameter of: %.300s", sql);
				e = ERR_BAD_UTF8;
				goto out;
			}
			e = buf_append(&scratch, v->p, v->n);
			if (!e)
				e = buf_putc(&scratch, 0);
			break;
		case DB_BLOB:
			values[k] = v->p ? v->p : "";
			lengths[k] = (int)v->n;
			formats[k] = 1;
			if (v->n > INT32_MAX) {
				e = ERR_TOO_LARGE;
				goto out;
			}
			break;
		case DB_NULL:
		default: break;
		}
		if (e)
			goto out;
	}
	for (int k = 0; k < nparams; k++) {
		enum db_type t = params[k].type;
		if (t == DB_INT || t == DB_REAL || (t == DB_TEXT && params[k].p))
			values[k] = scratch.p + offs[k];
	}

again:
	e = prepare(c, sql, params, nparams, &id, &count);
	if (e)
		goto out;
	if (count != nparams) {
		log_error("db_error", "postgres: %d parameters given, %d expected in: %.300s",
		          nparams, count, sql);
		assert(!"db_exec: parameter count does not match the SQL");
		e = ERR_INTERNAL;
		goto out;
	}
	PGTransactionStatusType before = PQtransactionStatus(c->h);
	snprintf(name, sizeof(name), "s%u", id);
	res = PQexecPrepared(c->h, name, nparams, values, lengths, formats, 0);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
		/* Outside a transaction one more try is safe: after a schema change made an
		 * old plan invalid (0A000), a lost prepared statement (26000), or a session
		 * the server dropped since it was last used. */
		bool idle = before == PQTRANS_IDLE && !retried;
		if (idle && (state_is(res, "0A000") || state_is(res, "26000"))) {
			db_cache_drop(c, sql);
			retried = true;
			PQclear(res);
			res = NULL;
			goto again;
		}
		if (idle && PQstatus(c->h) == CONNECTION_BAD && revive(c) == ERR_OK) {
			retried = true;
			PQclear(res);
			res = NULL;
			goto again;
		}
		if (state_is(res, "0A000"))
			db_cache_drop(c, sql);
		e = fail(c, res, sql);
		goto out;
	}
	if (rows)
		e = result_rows(res, a, rows);
out:
	PQclear(res);
	free(values);
	free(lengths);
	free(formats);
	free(offs);
	buf_release(&scratch);
	return e;
}

static enum err exec_script(struct db_conn *c, const char *sql, const char *what)
{
	enum err e = ERR_OK;
	bool retried = false;
	PGresult *res;
again:
	res = NULL;
	PGTransactionStatusType before = PQtransactionStatus(c->h);
	res = PQexec(c->h, sql);
	ExecStatusType st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		if (!retried && before == PQTRANS_IDLE && PQstatus(c->h) == CONNECTION_BAD &&
		    revive(c) == ERR_OK) {
			retried = true;
			PQclear(res);
			goto again;
		}
		e = fail(c, res, what);
		goto out;
	}
	/* COMMIT of a transaction that had failed "succeeds" with the tag ROLLBACK: the
	 * caller must not believe its writes are stored. */
	if (strcmp(sql, "COMMIT") == 0 && strcmp(PQcmdStatus(res), "ROLLBACK") == 0) {
		log_error("db_error", "postgres: COMMIT of a failed transaction rolled back");
		e = ERR_DB;
	}
out:
	PQclear(res);
	if (!in_tx(c))
		flush_dealloc(c);
	return e;
}

static enum err migrate_begin(struct db_conn *c)
{
	enum err e = exec_script(c, BEGIN_WRITE_SQL, "BEGIN");
	/* A long migration in another process is not a reason to give up after the usual
	 * lock timeout. */
	if (!e)
		e = exec_script(c,
		                "SET LOCAL lock_timeout = 0; "
		                "SELECT pg_advisory_xact_lock(" MIGRATE_LOCK_KEY ")",
		                "migration lock");
	return e;
}

const struct db_ops db_pg_ops = {
    .name = "postgres",
    .file_tag = "pg",
    .macro_id = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    .macro_blob = "BYTEA",
    .begin_write_sql = BEGIN_WRITE_SQL,
    .table_exists_sql = "SELECT count(*) FROM pg_catalog.pg_tables "
                        "WHERE schemaname = current_schema() AND tablename = ?",
    .conn_open = conn_open,
    .conn_close = conn_close,
    .conn_check = conn_check,
    .in_tx = in_tx,
    .exec = exec,
    .exec_script = exec_script,
    .migrate_begin = migrate_begin,
    .stmt_free = stmt_free,
};
