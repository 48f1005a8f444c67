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
 *    NNNN_name.sqlite.sql or NNNN_name.pg.sql runs only on that engine;
 *  - a bare "SELECT ?" has no type on PostgreSQL (it comes back as text): write
 *    CAST(? AS BIGINT) where the parameter is not compared with or stored in a column;
 *  - every '?' outside string literals, quoted identifiers, dollar quotes and comments is
 *    a placeholder, so PostgreSQL's jsonb operators ?, ?| and ?& cannot be written (use
 *    jsonb_exists() and friends);
 *  - after any error inside a transaction, roll it back: PostgreSQL refuses every further
 *    statement of a failed transaction, and its COMMIT then fails (ERR_DB) rather than
 *    store part of the work.
 *
 * Result typing is the same on both engines: integer columns and expressions (count(*),
 * SUM of integers, PG int2/int4/int8, integral numeric) are DB_INT, PG booleans
 * (EXISTS(...), comparisons) are DB_INT 0/1, float and non-integral numeric are DB_REAL,
 * BLOB/BYTEA are DB_BLOB, anything else (text, PG timestamps, uuid, json) is DB_TEXT.
 *
 * Threads: struct db is shared by all threads; a struct db_conn belongs to one thread from
 * db_acquire to db_release. */
#ifndef SHOULI_DB_H
#define SHOULI_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"

struct db;
struct db_conn;

enum db_type { DB_NULL, DB_INT, DB_REAL, DB_TEXT, DB_BLOB };

struct db_val {
	enum db_type type;
	int64_t i;
	double d;
	const char *p; /* DB_TEXT: NUL-terminated; DB_BLOB: n bytes (NUL after them too) */
	size_t n;      /* bytes in p; as a parameter, DB_TEXT binds exactly n bytes */
};

struct db_rows {
	int nrows, ncols;
	const char **names;   /* ncols column names */
	struct db_val *cells; /* nrows * ncols, row-major; memory in the caller's arena */
	int64_t changes;      /* rows affected by INSERT/UPDATE/DELETE (0 for SELECT) */
};

/* Open a database. url: "sqlite:/path/to/file.db", "postgres:<libpq conninfo or URI>" or a
 * bare "postgres://..." / "postgresql://..." URI. pool: most connections held at once
 * (>= 1). One connection is opened at once so that a bad path or an unreachable server
 * fails here; the others are opened when first needed. On failure msg (msgsz bytes, may be
 * NULL) receives why, for the operator (ERR_CONFIG for a malformed url, ERR_DB when the
 * database cannot be opened); the caller frees nothing.
 * SQLite connections run in WAL mode with synchronous=FULL, foreign_keys=ON and a 5 s busy
 * timeout; PostgreSQL sessions with client_encoding UTF8, synchronous_commit on and a 5 s
 * lock_timeout. */
enum err db_open(const char *url, int pool, struct db **out, char *msg, size_t msgsz);
/* Close every connection and free db. All connections must have been released. */
void db_close(struct db *db);
/* "sqlite" or "postgres". */
const char *db_engine(const struct db *db);

/* Take a connection from the pool, waiting up to timeout_ms (0: do not wait; negative:
 * wait without limit); ERR_DB_BUSY when none came free in time, ERR_DB when a new or
 * broken connection cannot be (re)established (logged). A PostgreSQL session found broken
 * is reset here; one that breaks while idle in the pool is re-established transparently by
 * the next statement run outside a transaction. */
enum err db_acquire(struct db *db, int timeout_ms, struct db_conn **out);
/* Give it back (NULL is ignored). An open transaction is rolled back first. */
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
 * clients). ERR_BAD_UTF8: PostgreSQL refused a text parameter (a NUL byte or invalid
 * UTF-8; SQLite stores such bytes as given). ERR_NOMEM when the result does not fit the
 * arena's cap. Passing an int where 'i' expects int64_t is undefined: cast literals.
 * One statement per call: several ';'-separated statements are refused (ERR_INTERNAL on
 * SQLite, ERR_DB on PostgreSQL) and none runs. A type string that does not match the
 * number of '?' is a bug: it asserts (ERR_INTERNAL under NDEBUG). */
enum err db_exec(struct db_conn *c, struct arena *a, struct db_rows **rows, const char *sql,
                 const char *types, ...);
/* Same with an explicit parameter array. */
enum err db_execv(struct db_conn *c, struct arena *a, struct db_rows **rows, const char *sql,
                  const struct db_val *params, int nparams);

/* Cell accessors (row r, column c); NULL/0 when the cell is NULL. db_text returns the bytes
 * of DB_TEXT and DB_BLOB cells, NULL for the others; db_int converts DB_REAL (truncated)
 * and integer text, 0 otherwise. */
static inline const struct db_val *db_cell(const struct db_rows *rs, int r, int c)
{
	return &rs->cells[(size_t)r * (size_t)rs->ncols + (size_t)c];
}
const char *db_text(const struct db_rows *rs, int r, int c);
int64_t db_int(const struct db_rows *rs, int r, int c);
bool db_is_null(const struct db_rows *rs, int r, int c);
/* Column index by name, -1 when absent. */
int db_col(const struct db_rows *rs, const char *name);

/* Schema migrations from dir (its NNNN_name.sql files, applied in number order, each in its own
 * transaction, recorded in schema_migrations with a checksum of the file: an applied file that
 * changed later is an error).
 *
 * Files: NNNN_name.sql runs on both engines, NNNN_name.sqlite.sql / NNNN_name.pg.sql only
 * on that engine; files of the other engine and files not ending in .sql are ignored. A
 * version number may be used once by a portable file, or once per engine by dialect files,
 * never both (a second file for one version on one engine is ERR_CONFIG, as is a .sql name
 * without a numeric prefix and an unknown {{macro}}). A file holds any number of
 * ';'-separated statements without parameters, and no BEGIN/COMMIT of its own; on SQLite
 * "PRAGMA defer_foreign_keys = ON" is the way to rebuild a referenced table (foreign_keys
 * cannot change inside the transaction). schema_migrations(version, name, checksum,
 * applied_at) records the file name and the FNV-1a 64 of its bytes (before macro
 * expansion). A changed applied file is ERR_INTEGRITY; a failing file is rolled back whole
 * and stops the run (earlier files stay applied). Recorded versions without a file are
 * ignored. Concurrent runs from several processes apply each file once (SQLite: the write
 * lock, waiting up to 10 minutes; PostgreSQL: pg_advisory_xact_lock). On failure msg names
 * the file (zh-CN, for the operator); the engine's message goes to the log only. */
enum err db_migrate(struct db *db, const char *dir, char *msg, size_t msgsz);
/* How many migrations in dir are not yet applied (0 = current). Reads only. */
enum err db_pending_migrations(struct db *db, const char *dir, int *pending);

/* Health: a trivial round trip. */
enum err db_ping(struct db *db);

/* ---- group commit: write units ----
 *
 * A write unit is a piece of work that is stored whole or not at all, durably: fn(c, ctx)
 * runs the unit's statements on c inside a write transaction, and db_write_unit returns
 * ERR_OK only once they are committed and on disk. It is how a request writes when many
 * write at once: the cost of a durable commit (an fsync) is shared by the units that
 * arrive together.
 *
 * SQLite: one writer thread owns a write connection (outside the pool) and a queue. It takes
 * the units waiting (up to the batch cap; it does not wait for more when one is queued),
 * opens one BEGIN IMMEDIATE transaction, runs each unit inside its own SAVEPOINT, COMMITs
 * once, then wakes every caller of the batch with its result. A unit whose fn fails is
 * rolled back to its savepoint and gets fn's error; the others of the batch go on (a
 * unique-constraint failure of one unit does not touch the rest). A failed COMMIT fails
 * every unit of the batch. Units of one batch run one after the other on one connection:
 * a unit sees the changes of the units before it (as if they had committed first), so
 * read-then-write logic such as the audit chain's head row stays correct. A unit that
 * arrives while the write connection is idle and nothing is queued runs at once, alone, on
 * its caller's thread (no hand-over to the writer thread).
 * PostgreSQL: the unit runs in the caller's thread, in a transaction of its own on a pool
 * connection (the server groups concurrent commits itself).
 *
 * The contract of fn:
 *  - use only c: no db_acquire (on SQLite the writer holds the write lock, and a second
 *    connection that writes waits on it), no db_begin/db_commit/db_rollback, no nested
 *    db_write_unit (ERR_INTERNAL);
 *  - no network calls, no sleeping, no heavy computation: on SQLite fn runs on the one
 *    writer thread and every other unit waits for it. Do checks, sealing, parsing and flows
 *    before db_write_unit and re-check inside fn what may have changed since (a version
 *    column, a guarded UPDATE);
 *  - fn may run on another thread than the caller (SQLite): ctx must hold everything it
 *    needs (the caller's arena may be used: the caller is blocked meanwhile), and it must not
 *    rely on thread-local state; the caller's log trace (log_set_trace) is carried over;
 *  - on error, return it: fn's changes are rolled back, and ctx outputs that depend on the
 *    unit being stored must be ignored by the caller;
 *  - what must follow the commit (outbox_notify, a bus publish, cache updates) is done by
 *    the caller after db_write_unit returned ERR_OK, never inside fn: when fn returns, its
 *    changes are not committed yet, and may never be (a failed COMMIT).
 *
 * Results: ERR_OK (committed, durable); fn's error (nothing of the unit stored); ERR_DB_BUSY
 * when the unit did not start within wait_ms (fn was not called) or the write lock was not
 * obtained; ERR_DB (or another storage error) when the transaction failed, including a
 * COMMIT that failed after fn had succeeded; ERR_UNAVAILABLE once db_close has begun.
 * wait_ms bounds the wait until fn starts (<= 0: no limit); once fn has started the call
 * returns after the commit. The caller should not hold a pool connection while it waits
 * (release it first): on PostgreSQL the unit takes one from the pool. db_close runs every
 * unit still queued before it returns. */
enum err db_write_unit(struct db *db, enum err (*fn)(struct db_conn *c, void *ctx), void *ctx,
                       int wait_ms);

/* Tuning of the SQLite writer (for benchmarks; the defaults suit the server): batch_max units
 * at most per transaction (1..256; default 64), linger_us how long the writer waits for a
 * second unit when it finds only one queued (0..10000; default 0: it never waits; with a
 * linger, a unit never runs on its caller's thread). Values outside the ranges are clamped.
 * No effect on PostgreSQL. */
void db_write_tune(struct db *db, int batch_max, int linger_us);

/* Upper bounds of the batch-size histogram buckets (units per transaction); the last bucket
 * holds every larger batch. */
#define DB_WRITE_BATCH_BUCKETS 8
extern const int db_write_batch_le[DB_WRITE_BATCH_BUCKETS];

/* Counters for /metrics (cumulative since open). */
struct db_stats {
	uint64_t queries, errors, busy, acquire_waits;
	uint64_t query_ns; /* total time in db_exec */
	int pool_size, pool_in_use;
	/* write units (db_write_unit) */
	uint64_t wu_units;       /* units that returned */
	uint64_t wu_failed;      /* of them, units that did not commit */
	uint64_t wu_batches;     /* transactions that ran units (PostgreSQL: one per unit) */
	uint64_t wu_batch_units; /* units that ran in those transactions */
	uint64_t wu_commit_failures;
	uint64_t wu_wait_ns;   /* total time from db_write_unit to fn's start */
	uint64_t wu_run_ns;    /* total time in fn */
	uint64_t wu_commit_ns; /* total time in COMMIT */
	uint64_t wu_batch_hist[DB_WRITE_BATCH_BUCKETS]; /* batches by units (db_write_batch_le) */
	int wu_queued;                                  /* units waiting now */
	int wu_batch_max;                               /* largest batch so far */
};
void db_stats_get(struct db *db, struct db_stats *out);

/* The database's counters in Prometheus text format (shouli_db_*: statements, pool, write
 * units, batch sizes and queue wait), appended to out. */
void db_metrics(struct db *db, struct buf *out);

#endif
