/* db_int.h: what db.c shares with the engine files db_sqlite.c and db_pg.c.
 *
 * db.c owns the pool, the type-string binding, the statement cache bookkeeping, migrations
 * and the counters; an engine implements struct db_ops on its own handle type. Only the
 * engine files include sqlite3.h / libpq-fe.h. */
#ifndef SHOULI_DB_INT_H
#define SHOULI_DB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "db/db.h"

/* Prepared statements kept per connection; the least recently used one goes when full. */
#define DB_STMT_CACHE_MAX 128

struct db_stmt_entry {
	char *sql; /* heap copy, the cache key */
	uint64_t hash;
	uint64_t used; /* tick of the last use, for LRU */
	void *stmt;    /* engine's handle (sqlite3_stmt *, or a PG statement number) */
	int nparams;
};

struct db_stmt_cache {
	struct db_stmt_entry e[DB_STMT_CACHE_MAX];
	int n;
	uint64_t tick;
};

struct db_conn {
	struct db *db;
	struct db_conn *next; /* idle list link */
	void *h;              /* sqlite3 * or PGconn * */
	struct db_stmt_cache cache;
	unsigned stmt_seq;  /* PG: next prepared statement number on this session */
	struct buf dealloc; /* PG: "DEALLOCATE sN;" of evicted statements not yet sent */
};

struct db_ops {
	const char *name;       /* "sqlite" / "postgres", as db_engine() reports */
	const char *file_tag;   /* migration file suffix: NNNN_x.<tag>.sql */
	const char *macro_id;   /* {{ID}} */
	const char *macro_blob; /* {{BLOB}} */
	const char *begin_write_sql;
	/* One row, one integer column: 1 when the table named by the single '?' exists. */
	const char *table_exists_sql;
	/* Open the engine handle c->h for db->target. msg receives a reason on failure. */
	enum err (*conn_open)(struct db *db, struct db_conn *c, char *msg, size_t msgsz);
	/* Close c->h (the statement cache has been emptied already). */
	void (*conn_close)(struct db_conn *c);
	/* Called by db_acquire: make sure the handle is usable (PG: reset a broken session). */
	enum err (*conn_check)(struct db_conn *c);
	/* Is a transaction open on c? */
	bool (*in_tx)(struct db_conn *c);
	/* Run one parameterised statement (see db_execv). */
	enum err (*exec)(struct db_conn *c, struct arena *a, struct db_rows **rows, const char *sql,
	                 const struct db_val *params, int nparams);
	/* Run SQL text that may hold several statements, without parameters or results. what
	 * names the text in the log when it fails (a migration file, "BEGIN"). */
	enum err (*exec_script)(struct db_conn *c, const char *sql, const char *what);
	/* Open the transaction of one migration step, holding the lock that serialises
	 * migrators across processes however long another one takes (SQLite: BEGIN IMMEDIATE
	 * with a long busy timeout; PG: BEGIN and pg_advisory_xact_lock without lock
	 * timeout). */
	enum err (*migrate_begin)(struct db_conn *c);
	/* Free one cached statement (evicted or dropped). */
	void (*stmt_free)(struct db_conn *c, void *stmt);
	/* Write units go through the writer thread and its batches (SQLite); false: each unit
	 * is its own transaction on a pool connection (PostgreSQL). */
	bool group_commit;
	/* Run once on the writer's connection (NULL: nothing). */
	const char *writer_setup_sql;
};

struct db_unit; /* a write unit waiting for the writer (db_write.c) */

/* The group-commit writer of a SQLite database (db_write.c). Guarded by mu. */
struct db_writer {
	pthread_mutex_t mu;
	pthread_cond_t work; /* the writer waits for units */
	pthread_cond_t done; /* db_close waits for the last caller to leave */
	struct db_unit *head, *tail;
	int queued;
	bool started, stopping;
	bool busy; /* the write connection is running a batch (writer thread or a caller) */
	pthread_t thread;
	struct db_conn *conn; /* the write connection, outside the pool */
	int batch_max, linger_us;
	int callers; /* threads inside db_write_unit (db_close waits for them to leave) */
	_Atomic uint64_t units, failed, batches, batch_units, commit_failures, wait_ns, run_ns,
	    commit_ns;
	_Atomic uint64_t hist[DB_WRITE_BATCH_BUCKETS];
	_Atomic int batch_top;
};

struct db {
	const struct db_ops *ops;
	char *target; /* SQLite file path or libpq conninfo */
	int pool_max;

	pthread_mutex_t mu;
	pthread_cond_t cv; /* signalled when a connection comes back or a slot frees */
	struct db_conn *idle;
	int nconns; /* connections open or being opened */
	int in_use;

	_Atomic uint64_t queries, errors, busy, acquire_waits, query_ns;

	struct db_writer w;
};

/* Writer lifecycle (db_write.c): init when the db is made (ERR_INTERNAL when a lock cannot
 * be made), stop in db_close before the pool goes: it runs the units still queued, joins
 * the thread and closes the write connection. */
enum err db_writer_init(struct db *db);
void db_writer_stop(struct db *db);
/* Copy the writer's counters into out. */
void db_writer_stats(struct db *db, struct db_stats *out);
/* Create / destroy a connection outside the pool (db.c). */
enum err db_conn_create(struct db *db, struct db_conn **out, char *msg, size_t msgsz);
void db_conn_destroy(struct db_conn *c);

extern const struct db_ops db_sqlite_ops;
extern const struct db_ops db_pg_ops;

/* Statement cache (db.c). get returns the cached handle (NULL when absent) and marks it used;
 * put takes ownership of stmt, evicting the least recently used entry through
 * ops->stmt_free when full (on failure stmt is freed the same way); drop frees the entry
 * for sql, if any; clear empties the cache, freeing the statements only when free_stmts
 * (false after a PG session was reset: the server forgot them already). */
void *db_cache_get(struct db_conn *c, const char *sql, int *nparams);
enum err db_cache_put(struct db_conn *c, const char *sql, void *stmt, int nparams);
void db_cache_drop(struct db_conn *c, const char *sql);
void db_cache_clear(struct db_conn *c, bool free_stmts);

/* Rewrite the '?' placeholders of sql as $1, $2, ... into out (when out is not NULL), leaving
 * alone question marks inside string literals, quoted identifiers, dollar-quoted strings and
 * comments. *nparams receives the number of placeholders. */
enum err db_sql_placeholders(const char *sql, struct buf *out, int *nparams);

/* Growing result under construction (engines fill it, db_rows_finish hands it to the
 * arena). Cells are gathered on the heap so that growth does not waste arena memory. */
struct db_rows_builder {
	struct arena *a;
	struct db_rows *rows;
	struct db_val *cells;
	size_t ncells, alloc;
};

/* Start a result of ncols columns; names are set by the engine (arena copies). */
enum err db_rows_start(struct db_rows_builder *rb, struct arena *a, int ncols);
/* Append one cell (the engine has already copied text/blob bytes into the arena). */
enum err db_rows_push(struct db_rows_builder *rb, const struct db_val *v);
/* Copy text or blob bytes into the arena with a NUL after them; NULL when out of memory. */
const char *db_rows_bytes(struct db_rows_builder *rb, const void *p, size_t n);
/* Finish: move the cells into the arena and store the result in *out. */
enum err db_rows_finish(struct db_rows_builder *rb, int64_t changes, struct db_rows **out);
/* Abandon (on error): frees the heap part. */
void db_rows_abort(struct db_rows_builder *rb);

#endif
