/* db.h: the storage API of Shouli, one interface over SQLite and PostgreSQL.
 *
 * No other module sees sqlite3 or libpq types. SQL is written once in the portable subset of
 * both engines, with '?' placeholders (translated to $n for PostgreSQL). Values are bound
 * with a type string (see db_exec). Results are materialised into the caller's arena.
 *
 * Conventions the schema follows so one SQL text works on both engines:
 *  - timestamps are BIGINT milliseconds since the epoch, booleans are INTEGER 0/1;
 *  - new ids come back through "INSERT ... RETURNING id";
 *  - migrations (migrations/NNNN_name.sql) may use the macros {{ID}} (auto-increment
 *    primary key column type), {{BLOB}} (BLOB / BYTEA) and {{TEXT}}; a file named
 *    NNNN_name.sqlite.sql or NNNN_name.pg.sql runs only on that engine.
 *
 * Threads: struct db is shared by all threads; a struct db_conn belongs to one thread from
 * db_acquire to db_release. */
#ifndef SHOULI_DB_H
#define SHOULI_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

struct db;
struct db_conn;

enum db_type { DB_NULL, DB_INT, DB_REAL, DB_TEXT, DB_BLOB };

struct db_val {
	enum db_type type;
	int64_t i;
	double d;
	const char *p; /* DB_TEXT: NUL-terminated; DB_BLOB: n bytes */
	size_t n;
};

struct db_rows {
	int nrows, ncols;
	const char **names;   /* ncols column names */
	struct db_val *cells; /* nrows * ncols, row-major; memory in the caller's arena */
	int64_t changes;      /* rows affected by INSERT/UPDATE/DELETE */
};

/* Open a database. url: "sqlite:/path/to/file.db" or "postgres:<libpq conninfo or URI>".
 * pool: most connections held at once. On failure *msg (static or heap, may be NULL) says
 * why; the caller frees nothing. */
enum err db_open(const char *url, int pool, struct db **out, char *msg, size_t msgsz);
void db_close(struct db *db);
/* "sqlite" or "postgres". */
const char *db_engine(const struct db *db);

/* Take a connection from the pool, waiting up to timeout_ms (ERR_DB_BUSY when none). */
enum err db_acquire(struct db *db, int timeout_ms, struct db_conn **out);
/* Give it back. An open transaction is rolled back first. */
void db_release(struct db_conn *c);

/* Transactions. db_begin_write takes the write lock up front (SQLite BEGIN IMMEDIATE) and
 * must be used when the transaction will write. A committed write is durable on return
 * (SQLite synchronous=FULL in WAL mode; PostgreSQL synchronous_commit on). */
enum err db_begin(struct db_conn *c);
enum err db_begin_write(struct db_conn *c);
enum err db_commit(struct db_conn *c);
enum err db_rollback(struct db_conn *c);

/* Run one statement. types has one letter per '?' in sql, and the matching arguments follow:
 *   'i' int64_t          'd' double          's' const char * (NULL binds NULL)
 *   'b' const void *, size_t  (blob)          'n' (no argument: NULL)
 * rows may be NULL when the caller wants no result (changes are then not reported either);
 * otherwise *rows is allocated from a. Prepared statements are cached per connection.
 * Errors: ERR_EXISTS on a unique-constraint violation, ERR_CONFLICT on a serialization
 * failure, ERR_DB_BUSY on lock timeout, ERR_DB otherwise (details logged, never sent to
 * clients). */
enum err db_exec(struct db_conn *c, struct arena *a, struct db_rows **rows, const char *sql,
		 const char *types, ...);
/* Same with an explicit parameter array. */
enum err db_execv(struct db_conn *c, struct arena *a, struct db_rows **rows, const char *sql,
		  const struct db_val *params, int nparams);

/* Cell accessors (row r, column c); NULL/0 when the cell is NULL. */
static inline const struct db_val *db_cell(const struct db_rows *rs, int r, int c)
{
	return &rs->cells[(size_t)r * (size_t)rs->ncols + (size_t)c];
}
const char *db_text(const struct db_rows *rs, int r, int c);
int64_t db_int(const struct db_rows *rs, int r, int c);
bool db_is_null(const struct db_rows *rs, int r, int c);
/* Column index by name, -1 when absent. */
int db_col(const struct db_rows *rs, const char *name);

/* Schema migrations from dir (migrations/*.sql, applied in number order, each in its own
 * transaction, recorded in schema_migrations with a checksum of the file: an applied file that changed
 * later is an error). */
enum err db_migrate(struct db *db, const char *dir, char *msg, size_t msgsz);
/* How many migrations in dir are not yet applied (0 = current). */
enum err db_pending_migrations(struct db *db, const char *dir, int *pending);

/* Health: a trivial round trip. */
enum err db_ping(struct db *db);

/* Counters for /metrics (cumulative since open). */
struct db_stats {
	uint64_t queries, errors, busy, acquire_waits;
	uint64_t query_ns; /* total time in db_exec */
	int pool_size, pool_in_use;
};
void db_stats_get(struct db *db, struct db_stats *out);

#endif
