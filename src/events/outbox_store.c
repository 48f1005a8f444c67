/* outbox_store.c: the SQL of the outbox (table `events`, migration 0004).
 *
 * One SQL text per statement and engine, so the per-connection statement cache keeps them
 * all prepared; the claim text also varies with the set of registered kinds, which changes
 * only when a handler is registered. */
#include "events/outbox_int.h"

#include "core/buf.h"

const char *const outbox_status_names[OUTBOX_NSTATUS] = {"pending", "delivering", "done", "dead"};

int outbox_status_parse(const char *s)
{
	for (int k = 0; s && k < OUTBOX_NSTATUS; k++)
		if (strcmp(s, outbox_status_names[k]) == 0)
			return k;
	return -1;
}

bool outbox_kind_valid(const char *kind)
{
	size_t n = kind ? strlen(kind) : 0;
	if (n == 0 || n > OUTBOX_KIND_MAX)
		return false;
	for (size_t k = 0; k < n; k++) {
		char ch = kind[k];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '.' ||
		      ch == '_' || ch == '-'))
			return false;
	}
	return true;
}

enum err outbox_store_insert(struct db_conn *c, struct arena *a, const char *kind,
                             const char *aggregate, const char *payload, const char *key,
                             int64_t now, int64_t *id_out)
{
	struct db_rows *rows = NULL;
	/* DO NOTHING rather than letting the unique index fail: a failed statement would doom
	 * the caller's whole transaction on PostgreSQL. */
	enum err e =
	    db_exec(c, a, &rows,
	            "INSERT INTO events (kind, aggregate, payload, idempotency_key, status, "
	            "attempts, next_attempt_at, created_at, updated_at) "
	            "VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?) "
	            "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
	            "ssssiii", kind, aggregate, payload, key, now, now, now);
	if (e)
		return e;
	if (rows->nrows != 1)
		return ERR_EXISTS;
	if (id_out)
		*id_out = db_int(rows, 0, 0);
	return ERR_OK;
}

enum err outbox_store_reap(struct db_conn *c, struct arena *a, bool pg, int64_t now,
                           const char *why, int64_t *n)
{
	static const char sql_sqlite[] =
	    "UPDATE events SET status = 'pending', locked_by = NULL, locked_until = NULL, "
	    "last_error = ?, updated_at = ? WHERE status = 'delivering' AND locked_until <= ?";
	/* Two reapers must not wait on each other's rows (they could deadlock), nor on a
	 * claimer's. */
	static const char sql_pg[] =
	    "UPDATE events SET status = 'pending', locked_by = NULL, locked_until = NULL, "
	    "last_error = ?, updated_at = ? WHERE id IN (SELECT id FROM events "
	    "WHERE status = 'delivering' AND locked_until <= ? FOR UPDATE SKIP LOCKED)";
	struct db_rows *rows = NULL;
	enum err e = db_exec(c, a, &rows, pg ? sql_pg : sql_sqlite, "sii", why, now, now);
	if (!e && n)
		*n = rows->changes;
	return e;
}

enum err outbox_store_claim(struct db_conn *c, struct arena *a, bool pg, const char *const *kinds,
                            int nkinds, const char *token, int64_t now, int64_t lease_until,
                            int limit, struct db_rows **rows)
{
	enum err e;
	struct buf sql;
	struct db_val *p = NULL;
	int np = 0;
	buf_init(&sql, 64u << 10);
	if (nkinds <= 0 || limit <= 0) {
		e = ERR_INTERNAL;
		goto out;
	}
	p = arena_zalloc(a, sizeof(*p) * (size_t)(nkinds + 5));
	if (!p) {
		e = ERR_NOMEM;
		goto out;
	}
	e = buf_puts(&sql, "UPDATE events SET status = 'delivering', locked_by = ?, "
	                   "locked_until = ?, attempts = attempts + 1, updated_at = ? "
	                   "WHERE id IN (SELECT id FROM events WHERE status = 'pending' "
	                   "AND next_attempt_at <= ? AND kind IN (");
	p[np++] = (struct db_val){.type = DB_TEXT, .p = token, .n = strlen(token)};
	p[np++] = (struct db_val){.type = DB_INT, .i = lease_until};
	p[np++] = (struct db_val){.type = DB_INT, .i = now};
	p[np++] = (struct db_val){.type = DB_INT, .i = now};
	for (int k = 0; !e && k < nkinds; k++) {
		e = buf_puts(&sql, k ? ", ?" : "?");
		p[np++] = (struct db_val){.type = DB_TEXT, .p = kinds[k], .n = strlen(kinds[k])};
	}
	/* On SQLite the caller's BEGIN IMMEDIATE already serialises claimers; on PostgreSQL
	 * concurrent claimers skip each other's rows instead of queueing behind them. */
	if (!e)
		e = buf_printf(&sql,
		               ") ORDER BY next_attempt_at, id LIMIT ?%s) RETURNING id, kind, "
		               "aggregate, payload, idempotency_key, attempts, created_at",
		               pg ? " FOR UPDATE SKIP LOCKED" : "");
	p[np++] = (struct db_val){.type = DB_INT, .i = limit};
	if (e)
		goto out;
	e = db_execv(c, a, rows, sql.p, p, np);
out:
	buf_release(&sql);
	return e;
}

enum err outbox_store_finish(struct db_conn *c, struct arena *a, int64_t id, const char *token,
                             enum outbox_outcome oc, int64_t now, int64_t next_at,
                             const char *error, bool *held)
{
	struct db_rows *rows = NULL;
	enum err e;
	switch (oc) {
	case OUTBOX_OUT_DONE:
		e = db_exec(c, a, &rows,
		            "UPDATE events SET status = 'done', done_at = ?, updated_at = ?, "
		            "locked_by = NULL, locked_until = NULL "
		            "WHERE id = ? AND status = 'delivering' AND locked_by = ?",
		            "iiis", now, now, id, token);
		break;
	case OUTBOX_OUT_RETRY:
		e = db_exec(c, a, &rows,
		            "UPDATE events SET status = 'pending', next_attempt_at = ?, "
		            "last_error = ?, updated_at = ?, locked_by = NULL, locked_until = NULL "
		            "WHERE id = ? AND status = 'delivering' AND locked_by = ?",
		            "isiis", next_at, error, now, id, token);
		break;
	case OUTBOX_OUT_DEAD:
		e = db_exec(c, a, &rows,
		            "UPDATE events SET status = 'dead', last_error = ?, updated_at = ?, "
		            "locked_by = NULL, locked_until = NULL "
		            "WHERE id = ? AND status = 'delivering' AND locked_by = ?",
		            "siis", error, now, id, token);
		break;
	case OUTBOX_OUT_RELEASE:
	default:
		e = db_exec(c, a, &rows,
		            "UPDATE events SET status = 'pending', attempts = attempts - 1, "
		            "updated_at = ?, locked_by = NULL, locked_until = NULL "
		            "WHERE id = ? AND status = 'delivering' AND locked_by = ?",
		            "iis", now, id, token);
		break;
	}
	if (!e && held)
		*held = rows->changes == 1;
	return e;
}

enum err outbox_store_retry(struct db_conn *c, struct arena *a, int64_t id, int64_t now)
{
	struct db_rows *rows = NULL;
	enum err e =
	    db_exec(c, a, &rows,
	            "UPDATE events SET status = 'pending', attempts = 0, next_attempt_at = ?, "
	            "updated_at = ?, locked_by = NULL, locked_until = NULL "
	            "WHERE id = ? AND status = 'dead'",
	            "iii", now, now, id);
	if (!e && rows->changes == 0) {
		e = db_exec(c, a, &rows, "SELECT status FROM events WHERE id = ?", "i", id);
		if (!e)
			e = rows->nrows ? ERR_CONFLICT : ERR_NOT_FOUND;
	}
	return e;
}

enum err outbox_store_counts(struct db_conn *c, struct arena *a, bool with_done,
                             int64_t counts[OUTBOX_NSTATUS])
{
	struct db_rows *rows = NULL;
	enum err e =
	    db_exec(c, a, &rows,
	            with_done ? "SELECT status, COUNT(*) FROM events GROUP BY status"
	                      : "SELECT status, COUNT(*) FROM events "
	                        "WHERE status IN ('pending', 'delivering', 'dead') GROUP BY status",
	            "");
	if (e)
		return e;
	for (int k = 0; k < OUTBOX_NSTATUS; k++)
		counts[k] = 0;
	if (!with_done)
		counts[OUTBOX_DONE] = -1;
	for (int r = 0; r < rows->nrows; r++) {
		int k = outbox_status_parse(db_text(rows, r, 0));
		if (k >= 0)
			counts[k] = db_int(rows, r, 1);
	}
	return ERR_OK;
}

enum err outbox_store_list(struct db_conn *c, struct arena *a, const char *status, const char *kind,
                           int64_t before_id, int limit, struct db_rows **rows)
{
	/* The filters are spelled into the SQL rather than bound as "? IS NULL OR ...":
	 * PostgreSQL cannot type a parameter that is only compared with NULL. */
	struct db_val p[4];
	int np = 0;
	char sql[512];
	size_t n = (size_t)snprintf(sql, sizeof(sql), "%s",
	                            "SELECT id, kind, aggregate, status, attempts, last_error, "
	                            "created_at, next_attempt_at FROM events WHERE 1 = 1");
	if (status) {
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, " AND status = ?");
		p[np++] = (struct db_val){.type = DB_TEXT, .p = status, .n = strlen(status)};
	}
	if (kind) {
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, " AND kind = ?");
		p[np++] = (struct db_val){.type = DB_TEXT, .p = kind, .n = strlen(kind)};
	}
	if (before_id > 0) {
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, " AND id < ?");
		p[np++] = (struct db_val){.type = DB_INT, .i = before_id};
	}
	snprintf(sql + n, sizeof(sql) - n, " ORDER BY id DESC LIMIT ?");
	p[np++] = (struct db_val){.type = DB_INT, .i = limit};
	return db_execv(c, a, rows, sql, p, np);
}

enum err outbox_store_pending_kinds(struct db_conn *c, struct arena *a, int limit,
                                    struct db_rows **rows)
{
	return db_exec(c, a, rows,
	               "SELECT DISTINCT kind FROM events WHERE status = 'pending' LIMIT ?", "i",
	               (int64_t)limit);
}
