/* gateway_open_store.c: the SQL of the open APIs (migration 0010). One portable text per
 * statement. No statement relies on a constraint failing (on PostgreSQL a failed statement
 * dooms the whole transaction): uniqueness is checked before writing, and the quota counter
 * is an upsert. */
#include "gateway/gateway_open_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"

static const char *text_or_null(const struct db_rows *rs, int r, int c)
{
	return db_is_null(rs, r, c) ? NULL : db_text(rs, r, c);
}

/* ---- the authenticate hook --------------------------------------------------------------- */

enum err open_store_lookup(struct db_conn *c, struct arena *a, const char *key_id, const char *api,
                           struct open_cred *cred, struct open_api_row *arow,
                           struct open_grant *grant, bool *has_grant)
{
	struct db_rows *rs = NULL;
	enum err e =
	    db_exec(c, a, &rs,
	            "SELECT c.id, c.key_id, c.kind, c.owner, c.public_key, c.secret_enc, c.debug,"
	            " c.enabled, p.id, p.enabled, p.title, p.mock, p.mock_status, g.id, g.enabled,"
	            " g.weekdays, g.time_from, g.time_to, g.daily_quota, g.rate_per_min"
	            " FROM open_credentials c"
	            " LEFT JOIN open_apis p ON p.name = ?"
	            " LEFT JOIN open_grants g ON g.credential_id = c.id AND g.api = ?"
	            " WHERE c.key_id = ?",
	            "sss", api, api, key_id);
	if (e)
		return e;
	if (rs->nrows == 0)
		return ERR_NOT_FOUND;
	cred->id = db_int(rs, 0, 0);
	cred->key_id = db_text(rs, 0, 1);
	cred->kind = db_text(rs, 0, 2);
	cred->owner = db_text(rs, 0, 3);
	cred->public_key = text_or_null(rs, 0, 4);
	const struct db_val *blob = db_cell(rs, 0, 5);
	cred->secret_enc = blob->type == DB_BLOB ? blob->p : NULL;
	cred->secret_n = blob->type == DB_BLOB ? blob->n : 0;
	cred->debug = db_int(rs, 0, 6) != 0;
	cred->enabled = db_int(rs, 0, 7) != 0;
	arow->found = !db_is_null(rs, 0, 8);
	arow->enabled = db_int(rs, 0, 9) != 0;
	arow->title = text_or_null(rs, 0, 10);
	arow->mock = text_or_null(rs, 0, 11);
	arow->mock_status = db_int(rs, 0, 12);
	*has_grant = !db_is_null(rs, 0, 13);
	if (*has_grant) {
		grant->id = db_int(rs, 0, 13);
		grant->enabled = db_int(rs, 0, 14) != 0;
		grant->win.weekdays = (unsigned)db_int(rs, 0, 15);
		grant->win.from_min = (int)db_int(rs, 0, 16);
		grant->win.to_min = (int)db_int(rs, 0, 17);
		grant->daily_quota = db_int(rs, 0, 18);
		grant->rate_per_min = db_int(rs, 0, 19);
	}
	return ERR_OK;
}

enum err open_store_quota_take(struct db_conn *c, struct arena *a, int64_t grant_id,
                               const char *day, int64_t quota)
{
	struct db_rows *rs = NULL;
	/* One statement, so concurrent calls on any node never count past the quota. */
	enum err e = db_exec(c, a, &rs,
	                     "INSERT INTO open_usage (grant_id, day, calls) VALUES (?, ?, 1)"
	                     " ON CONFLICT (grant_id, day) DO UPDATE"
	                     " SET calls = open_usage.calls + 1 WHERE open_usage.calls < ?"
	                     " RETURNING calls",
	                     "isi", grant_id, day, quota);
	if (e)
		return e;
	return rs->nrows == 1 ? ERR_OK : ERR_RATE_LIMITED;
}

void open_store_quota_give_back(struct db_conn *c, struct arena *a, int64_t grant_id,
                                const char *day)
{
	db_exec(
	    c, a, NULL,
	    "UPDATE open_usage SET calls = calls - 1 WHERE grant_id = ? AND day = ? AND calls > 0",
	    "is", grant_id, day);
}

int64_t open_store_quota_used(struct db_conn *c, struct arena *a, int64_t grant_id, const char *day)
{
	struct db_rows *rs = NULL;
	if (db_exec(c, a, &rs, "SELECT calls FROM open_usage WHERE grant_id = ? AND day = ?", "is",
	            grant_id, day))
		return 0;
	return rs->nrows ? db_int(rs, 0, 0) : 0;
}

enum err open_store_log(struct db_conn *c, struct arena *a, const struct open_call_row *row)
{
	return db_exec(c, a, NULL,
	               "INSERT INTO open_calls (at, credential_id, key_id, api, method, path,"
	               " status, outcome, code, message, latency_us, client_ip, trace_id,"
	               " signing_string, request, response)"
	               " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	               "iissssisssisssss", row->at, row->credential_id, row->key_id, row->api,
	               row->method, row->path, (int64_t)row->status, row->outcome, row->code,
	               row->message, row->latency_us, row->client_ip, row->trace_id,
	               row->signing_string, row->request, row->response);
}

/* ---- the asynchronous call-log writer ------------------------------------------------------
 *
 * A call must not wait for a commit of its log row (on SQLite with synchronous=FULL that is
 * an fsync, more than the call itself), so rows go to a queue and one thread writes them in
 * batches, one transaction per batch. Nothing is dropped while the server runs: when the
 * queue is full the caller writes its own row, and a failed batch is retried; stopping drains
 * the queue first (rows the database still refuses then are reported and let go). */

#define LOGQ_MAX      20000 /* rows waiting; beyond, callers write their own */
#define LOGQ_BATCH    256
#define LOGQ_RETRY_MS 1000

struct log_item {
	struct log_item *next;
	struct open_call_row row; /* strings point into text */
	char text[];
};

struct open_logq {
	struct server *srv;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* rows queued, or stop */
	pthread_cond_t idle; /* queue empty and nothing being written */
	struct log_item *head, *tail;
	size_t n;
	bool busy, stop, started;
	pthread_t thread;
};

static size_t slen(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

static const char *scopy(char **p, const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	memcpy(*p, s, n);
	const char *r = *p;
	*p += n;
	return r;
}

/* One heap block holding the row and copies of its strings. */
static struct log_item *item_new(const struct open_call_row *row)
{
	size_t n = slen(row->key_id) + slen(row->api) + slen(row->method) + slen(row->path) +
	           slen(row->outcome) + slen(row->code) + slen(row->message) +
	           slen(row->client_ip) + slen(row->trace_id) + slen(row->signing_string) +
	           slen(row->request) + slen(row->response);
	struct log_item *it = malloc(sizeof(*it) + n);
	if (!it)
		return NULL;
	char *p = it->text;
	it->next = NULL;
	it->row = *row;
	it->row.key_id = scopy(&p, row->key_id);
	it->row.api = scopy(&p, row->api);
	it->row.method = scopy(&p, row->method);
	it->row.path = scopy(&p, row->path);
	it->row.outcome = scopy(&p, row->outcome);
	it->row.code = scopy(&p, row->code);
	it->row.message = scopy(&p, row->message);
	it->row.client_ip = scopy(&p, row->client_ip);
	it->row.trace_id = scopy(&p, row->trace_id);
	it->row.signing_string = scopy(&p, row->signing_string);
	it->row.request = scopy(&p, row->request);
	it->row.response = scopy(&p, row->response);
	return it;
}

static enum err write_rows(struct server *srv, struct log_item *first, size_t n)
{
	struct db_conn *c = NULL;
	struct arena a;
	arena_init(&a, 0);
	enum err e = db_acquire(srv->db, OPEN_DB_WAIT_MS, &c);
	if (!e)
		e = db_begin_write(c);
	struct log_item *it = first;
	for (size_t i = 0; !e && i < n; i++, it = it->next)
		e = open_store_log(c, &a, &it->row);
	if (!e)
		e = db_commit(c);
	else if (c)
		db_rollback(c);
	db_release(c);
	arena_release(&a);
	return e;
}

static void *writer_main(void *arg)
{
	struct open_logq *q = arg;
	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (!q->head && !q->stop)
			pthread_cond_wait(&q->wake, &q->lock);
		if (!q->head)
			break;
		struct log_item *first = q->head, *last = first;
		size_t n = 1;
		while (n < LOGQ_BATCH && last->next) {
			last = last->next;
			n++;
		}
		q->busy = true;
		pthread_mutex_unlock(&q->lock);
		enum err e = write_rows(q->srv, first, n);
		pthread_mutex_lock(&q->lock);
		q->busy = false;
		if (e && q->stop) {
			/* Stopping with a database that refuses the rows: say so and let go. */
			log_error("open.log", "%zu open call-log rows lost at shutdown (%s)", n,
			          err_code(e));
			e = ERR_OK;
		}
		if (e) {
			log_warn("open.log",
			         "%zu open call-log rows not written yet (%s); retrying", n,
			         err_code(e));
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += LOGQ_RETRY_MS / 1000;
			pthread_cond_timedwait(&q->wake, &q->lock, &ts);
			continue;
		}
		q->head = last->next;
		if (!q->head)
			q->tail = NULL;
		q->n -= n;
		last->next = NULL;
		for (struct log_item *it = first, *next; it; it = next) {
			next = it->next;
			free(it);
		}
		if (!q->head)
			pthread_cond_broadcast(&q->idle);
	}
	pthread_cond_broadcast(&q->idle);
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

enum err open_logq_start(struct server *srv, struct open_logq **out)
{
	struct open_logq *q = calloc(1, sizeof(*q));
	if (!q)
		return ERR_NOMEM;
	q->srv = srv;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->wake, NULL);
	pthread_cond_init(&q->idle, NULL);
	if (pthread_create(&q->thread, NULL, writer_main, q) != 0) {
		open_logq_stop(q);
		return ERR_INTERNAL;
	}
	q->started = true;
	*out = q;
	return ERR_OK;
}

void open_logq_stop(struct open_logq *q)
{
	if (!q)
		return;
	if (q->started) {
		pthread_mutex_lock(&q->lock);
		q->stop = true;
		pthread_cond_broadcast(&q->wake);
		pthread_mutex_unlock(&q->lock);
		pthread_join(q->thread, NULL);
	}
	for (struct log_item *it = q->head, *next; it; it = next) {
		next = it->next;
		free(it);
	}
	pthread_cond_destroy(&q->wake);
	pthread_cond_destroy(&q->idle);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

enum err open_logq_submit(struct open_logq *q, const struct open_call_row *row)
{
	struct log_item *it = item_new(row);
	if (!it)
		return ERR_NOMEM;
	pthread_mutex_lock(&q->lock);
	bool queued = q->n < LOGQ_MAX && !q->stop;
	if (queued) {
		if (q->tail)
			q->tail->next = it;
		else
			q->head = it;
		q->tail = it;
		q->n++;
		pthread_cond_signal(&q->wake);
	}
	pthread_mutex_unlock(&q->lock);
	if (queued)
		return ERR_OK;
	enum err e = write_rows(q->srv, it, 1);
	free(it);
	return e;
}

void open_logq_flush(struct open_logq *q)
{
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 3; /* a database that refuses the rows must not hold the reader */
	pthread_mutex_lock(&q->lock);
	while ((q->head || q->busy) && !q->stop)
		if (pthread_cond_timedwait(&q->idle, &q->lock, &deadline) != 0)
			break;
	pthread_mutex_unlock(&q->lock);
}

enum err open_store_city(struct db_conn *c, struct arena *a, int64_t *id, const char **code,
                         const char **path)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT id, code, path FROM orgs WHERE level = 'city' ORDER BY id"
	                     " LIMIT 1",
	                     "");
	if (e)
		return e;
	if (rs->nrows == 0)
		return ERR_NOT_FOUND;
	*id = db_int(rs, 0, 0);
	*code = db_text(rs, 0, 1);
	*path = db_text(rs, 0, 2);
	return ERR_OK;
}

enum err open_store_seed_apis(struct server *srv)
{
	struct arena a;
	struct db_conn *c = NULL;
	int64_t now = time_now_ms();
	arena_init(&a, 0);
	enum err e = db_acquire(srv->db, 10000, &c);
	if (!e)
		e = db_begin_write(c);
	for (size_t i = 0; !e && i < open_api_ndefs; i++) {
		const struct open_api_def *d = &open_api_defs[i];
		e = db_exec(c, &a, NULL,
		            "INSERT INTO open_apis (name, method, route, title, description, mock,"
		            " mock_status, enabled, version, created_at, updated_at)"
		            " VALUES (?, ?, ?, ?, ?, ?, 200, 1, 1, ?, ?)"
		            " ON CONFLICT (name) DO UPDATE SET method = excluded.method,"
		            " route = excluded.route",
		            "ssssssii", d->name, d->method, d->route, d->title, d->description,
		            d->mock, now, now);
	}
	if (!e)
		e = db_commit(c);
	db_release(c);
	arena_release(&a);
	return e;
}

/* ---- credentials ------------------------------------------------------------------------- */

#define CRED_COLS                                                                                  \
	"c.id, c.version, c.created_at, c.updated_at, c.secret_rotated_at, c.key_id, c.kind,"      \
	" c.owner, c.description, c.public_key, c.created_by, c.debug, c.enabled,"                 \
	" (SELECT count(*) FROM open_grants g WHERE g.credential_id = c.id)"

static void cred_row(const struct db_rows *rs, int r, struct open_cred_rec *o)
{
	o->id = db_int(rs, r, 0);
	o->version = db_int(rs, r, 1);
	o->created_at = db_int(rs, r, 2);
	o->updated_at = db_int(rs, r, 3);
	o->secret_rotated_at = db_int(rs, r, 4);
	o->key_id = db_text(rs, r, 5);
	o->kind = db_text(rs, r, 6);
	o->owner = db_text(rs, r, 7);
	o->description = text_or_null(rs, r, 8);
	o->public_key = text_or_null(rs, r, 9);
	o->created_by = text_or_null(rs, r, 10);
	o->debug = db_int(rs, r, 11) != 0;
	o->enabled = db_int(rs, r, 12) != 0;
	o->grants = db_int(rs, r, 13);
}

enum err open_store_creds_list(struct db_conn *c, struct arena *a, struct open_cred_rec **out,
                               int *n)
{
	struct db_rows *rs = NULL;
	enum err e =
	    db_exec(c, a, &rs, "SELECT " CRED_COLS " FROM open_credentials c ORDER BY c.id", "");
	if (e)
		return e;
	*out = arena_zalloc(a, (size_t)(rs->nrows + 1) * sizeof(**out));
	if (!*out)
		return ERR_NOMEM;
	for (int r = 0; r < rs->nrows; r++)
		cred_row(rs, r, &(*out)[r]);
	*n = rs->nrows;
	return ERR_OK;
}

enum err open_store_cred_get(struct db_conn *c, struct arena *a, int64_t id,
                             struct open_cred_rec *out)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(
	    c, a, &rs, "SELECT " CRED_COLS " FROM open_credentials c WHERE c.id = ?", "i", id);
	if (e)
		return e;
	if (rs->nrows == 0)
		return ERR_NOT_FOUND;
	cred_row(rs, 0, out);
	return ERR_OK;
}

enum err open_store_cred_insert(struct db_conn *c, struct arena *a, struct open_cred_rec *rec,
                                const void *secret_enc, size_t secret_n)
{
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	struct db_val p[12] = {
	    {.type = DB_TEXT, .p = rec->key_id, .n = strlen(rec->key_id)},
	    {.type = DB_TEXT, .p = rec->kind, .n = strlen(rec->kind)},
	    {.type = secret_enc ? DB_BLOB : DB_NULL, .p = secret_enc, .n = secret_n},
	    {.type = rec->public_key ? DB_TEXT : DB_NULL,
	     .p = rec->public_key,
	     .n = rec->public_key ? strlen(rec->public_key) : 0},
	    {.type = DB_TEXT, .p = rec->owner, .n = strlen(rec->owner)},
	    {.type = rec->description ? DB_TEXT : DB_NULL,
	     .p = rec->description,
	     .n = rec->description ? strlen(rec->description) : 0},
	    {.type = DB_INT, .i = rec->debug},
	    {.type = DB_INT, .i = rec->enabled},
	    {.type = secret_enc ? DB_INT : DB_NULL, .i = now},
	    {.type = rec->created_by ? DB_TEXT : DB_NULL,
	     .p = rec->created_by,
	     .n = rec->created_by ? strlen(rec->created_by) : 0},
	    {.type = DB_INT, .i = now},
	    {.type = DB_INT, .i = now},
	};
	enum err e = db_execv(c, a, &rs,
	                      "INSERT INTO open_credentials (key_id, kind, secret_enc, public_key,"
	                      " owner, description, debug, enabled, secret_rotated_at, created_by,"
	                      " created_at, updated_at, version)"
	                      " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING id",
	                      p, 12);
	if (e)
		return e;
	rec->id = db_int(rs, 0, 0);
	rec->version = 1;
	rec->created_at = rec->updated_at = now;
	rec->secret_rotated_at = secret_enc ? now : 0;
	return ERR_OK;
}

enum err open_store_cred_update(struct db_conn *c, struct arena *a, struct open_cred_rec *rec)
{
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	enum err e =
	    db_exec(c, a, &rs,
	            "UPDATE open_credentials SET owner = ?, description = ?, public_key = ?,"
	            " debug = ?, enabled = ?, updated_at = ?, version = version + 1"
	            " WHERE id = ? AND version = ?",
	            "sssiiiii", rec->owner, rec->description, rec->public_key, (int64_t)rec->debug,
	            (int64_t)rec->enabled, now, rec->id, rec->version);
	if (e)
		return e;
	if (rs->changes != 1)
		return ERR_CONFLICT;
	rec->version++;
	rec->updated_at = now;
	return ERR_OK;
}

enum err open_store_cred_set_secret(struct db_conn *c, struct arena *a, int64_t id,
                                    const void *secret_enc, size_t secret_n, int64_t now)
{
	return db_exec(c, a, NULL,
	               "UPDATE open_credentials SET secret_enc = ?, secret_rotated_at = ?,"
	               " updated_at = ?, version = version + 1 WHERE id = ?",
	               "biii", secret_enc, secret_n, now, now, id);
}

enum err open_store_cred_delete(struct db_conn *c, struct arena *a, int64_t id)
{
	enum err e = db_exec(c, a, NULL,
	                     "DELETE FROM open_usage WHERE grant_id IN"
	                     " (SELECT id FROM open_grants WHERE credential_id = ?)",
	                     "i", id);
	if (!e)
		e = db_exec(c, a, NULL, "DELETE FROM open_grants WHERE credential_id = ?", "i", id);
	if (!e)
		e = db_exec(c, a, NULL, "DELETE FROM open_credentials WHERE id = ?", "i", id);
	return e;
}

/* ---- grants ------------------------------------------------------------------------------ */

#define GRANT_COLS                                                                                 \
	"g.id, g.credential_id, c.key_id, g.api, g.weekdays, g.time_from, g.time_to,"              \
	" g.daily_quota, g.rate_per_min, g.enabled, g.version, g.created_at, g.updated_at"

static void grant_row(const struct db_rows *rs, int r, struct open_grant_rec *o)
{
	o->g.id = db_int(rs, r, 0);
	o->credential_id = db_int(rs, r, 1);
	o->key_id = db_text(rs, r, 2);
	o->api = db_text(rs, r, 3);
	o->g.win.weekdays = (unsigned)db_int(rs, r, 4);
	o->g.win.from_min = (int)db_int(rs, r, 5);
	o->g.win.to_min = (int)db_int(rs, r, 6);
	o->g.daily_quota = db_int(rs, r, 7);
	o->g.rate_per_min = db_int(rs, r, 8);
	o->g.enabled = db_int(rs, r, 9) != 0;
	o->version = db_int(rs, r, 10);
	o->created_at = db_int(rs, r, 11);
	o->updated_at = db_int(rs, r, 12);
}

enum err open_store_grants_list(struct db_conn *c, struct arena *a, int64_t credential_id,
                                struct open_grant_rec **out, int *n)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT " GRANT_COLS " FROM open_grants g"
	                     " JOIN open_credentials c ON c.id = g.credential_id"
	                     " WHERE (? = 0 OR g.credential_id = ?) ORDER BY g.id",
	                     "ii", credential_id, credential_id);
	if (e)
		return e;
	*out = arena_zalloc(a, (size_t)(rs->nrows + 1) * sizeof(**out));
	if (!*out)
		return ERR_NOMEM;
	for (int r = 0; r < rs->nrows; r++)
		grant_row(rs, r, &(*out)[r]);
	*n = rs->nrows;
	return ERR_OK;
}

enum err open_store_grant_get(struct db_conn *c, struct arena *a, int64_t id,
                              struct open_grant_rec *out)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT " GRANT_COLS " FROM open_grants g"
	                     " JOIN open_credentials c ON c.id = g.credential_id WHERE g.id = ?",
	                     "i", id);
	if (e)
		return e;
	if (rs->nrows == 0)
		return ERR_NOT_FOUND;
	grant_row(rs, 0, out);
	return ERR_OK;
}

enum err open_store_grant_exists(struct db_conn *c, struct arena *a, int64_t credential_id,
                                 const char *api, int64_t except_id, bool *exists)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT id FROM open_grants WHERE credential_id = ? AND api = ?"
	                     " AND id <> ?",
	                     "isi", credential_id, api, except_id);
	if (!e)
		*exists = rs->nrows > 0;
	return e;
}

enum err open_store_grant_insert(struct db_conn *c, struct arena *a, struct open_grant_rec *rec)
{
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	enum err e =
	    db_exec(c, a, &rs,
	            "INSERT INTO open_grants (credential_id, api, weekdays, time_from,"
	            " time_to, daily_quota, rate_per_min, enabled, version, created_at,"
	            " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?) RETURNING id",
	            "isiiiiiiii", rec->credential_id, rec->api, (int64_t)rec->g.win.weekdays,
	            (int64_t)rec->g.win.from_min, (int64_t)rec->g.win.to_min, rec->g.daily_quota,
	            rec->g.rate_per_min, (int64_t)rec->g.enabled, now, now);
	if (e)
		return e;
	rec->g.id = db_int(rs, 0, 0);
	rec->version = 1;
	rec->created_at = rec->updated_at = now;
	return ERR_OK;
}

enum err open_store_grant_update(struct db_conn *c, struct arena *a, struct open_grant_rec *rec)
{
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	enum err e =
	    db_exec(c, a, &rs,
	            "UPDATE open_grants SET api = ?, weekdays = ?, time_from = ?,"
	            " time_to = ?, daily_quota = ?, rate_per_min = ?, enabled = ?,"
	            " updated_at = ?, version = version + 1 WHERE id = ? AND version = ?",
	            "siiiiiiiii", rec->api, (int64_t)rec->g.win.weekdays,
	            (int64_t)rec->g.win.from_min, (int64_t)rec->g.win.to_min, rec->g.daily_quota,
	            rec->g.rate_per_min, (int64_t)rec->g.enabled, now, rec->g.id, rec->version);
	if (e)
		return e;
	if (rs->changes != 1)
		return ERR_CONFLICT;
	rec->version++;
	rec->updated_at = now;
	return ERR_OK;
}

enum err open_store_grant_delete(struct db_conn *c, struct arena *a, int64_t id)
{
	enum err e = db_exec(c, a, NULL, "DELETE FROM open_usage WHERE grant_id = ?", "i", id);
	if (!e)
		e = db_exec(c, a, NULL, "DELETE FROM open_grants WHERE id = ?", "i", id);
	return e;
}

/* ---- APIs -------------------------------------------------------------------------------- */

#define API_COLS                                                                                   \
	"id, version, mock_status, updated_at, name, method, route, title, description, mock,"     \
	" enabled"

static void api_row(const struct db_rows *rs, int r, struct open_api_rec *o)
{
	o->id = db_int(rs, r, 0);
	o->version = db_int(rs, r, 1);
	o->mock_status = db_int(rs, r, 2);
	o->updated_at = db_int(rs, r, 3);
	o->name = db_text(rs, r, 4);
	o->method = db_text(rs, r, 5);
	o->route = db_text(rs, r, 6);
	o->title = db_text(rs, r, 7);
	o->description = text_or_null(rs, r, 8);
	o->mock = db_text(rs, r, 9);
	o->enabled = db_int(rs, r, 10) != 0;
}

enum err open_store_apis_list(struct db_conn *c, struct arena *a, struct open_api_rec **out, int *n)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs, "SELECT " API_COLS " FROM open_apis ORDER BY name", "");
	if (e)
		return e;
	*out = arena_zalloc(a, (size_t)(rs->nrows + 1) * sizeof(**out));
	if (!*out)
		return ERR_NOMEM;
	for (int r = 0; r < rs->nrows; r++)
		api_row(rs, r, &(*out)[r]);
	*n = rs->nrows;
	return ERR_OK;
}

enum err open_store_api_get(struct db_conn *c, struct arena *a, const char *name,
                            struct open_api_rec *out)
{
	struct db_rows *rs = NULL;
	enum err e =
	    db_exec(c, a, &rs, "SELECT " API_COLS " FROM open_apis WHERE name = ?", "s", name);
	if (e)
		return e;
	if (rs->nrows == 0)
		return ERR_NOT_FOUND;
	api_row(rs, 0, out);
	return ERR_OK;
}

enum err open_store_api_update(struct db_conn *c, struct arena *a, struct open_api_rec *rec)
{
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	enum err e = db_exec(c, a, &rs,
	                     "UPDATE open_apis SET title = ?, description = ?, mock = ?,"
	                     " mock_status = ?, enabled = ?, updated_at = ?, version = version + 1"
	                     " WHERE id = ? AND version = ?",
	                     "sssiiiii", rec->title, rec->description, rec->mock, rec->mock_status,
	                     (int64_t)rec->enabled, now, rec->id, rec->version);
	if (e)
		return e;
	if (rs->changes != 1)
		return ERR_CONFLICT;
	rec->version++;
	rec->updated_at = now;
	return ERR_OK;
}

/* ---- the call log ------------------------------------------------------------------------ */

static json_t *text_json(const struct db_rows *rs, int r, int c)
{
	const char *s = text_or_null(rs, r, c);
	return s ? json_string(s) : json_null();
}

enum err open_store_calls(struct db_conn *c, struct arena *a, const struct open_calls_query *q,
                          json_t **out)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(
	    c, a, &rs,
	    "SELECT id, at, key_id, api, method, path, status, outcome, code, message, latency_us,"
	    " client_ip, trace_id, signing_string, request, response FROM open_calls"
	    " WHERE (? = 0 OR credential_id = ?) AND (? = '' OR key_id = ?)"
	    " AND (? = '' OR api = ?) AND (? = '' OR outcome = ?) AND (? = 0 OR id < ?)"
	    " ORDER BY id DESC LIMIT ?",
	    "iissssssiii", q->credential_id, q->credential_id, q->key_id ? q->key_id : "",
	    q->key_id ? q->key_id : "", q->api ? q->api : "", q->api ? q->api : "",
	    q->outcome ? q->outcome : "", q->outcome ? q->outcome : "", q->before, q->before,
	    q->limit);
	if (e)
		return e;
	json_t *arr = json_array();
	if (!arr)
		return ERR_NOMEM;
	for (int r = 0; r < rs->nrows; r++) {
		json_t *o = json_object();
		if (!o || json_array_append_new(arr, o)) {
			json_decref(arr);
			return ERR_NOMEM;
		}
		json_object_set_new(o, "id", json_integer(db_int(rs, r, 0)));
		json_object_set_new(o, "at", json_integer(db_int(rs, r, 1)));
		json_object_set_new(o, "key_id", text_json(rs, r, 2));
		json_object_set_new(o, "api", text_json(rs, r, 3));
		json_object_set_new(o, "method", text_json(rs, r, 4));
		json_object_set_new(o, "path", text_json(rs, r, 5));
		json_object_set_new(o, "status", json_integer(db_int(rs, r, 6)));
		json_object_set_new(o, "outcome", text_json(rs, r, 7));
		json_object_set_new(o, "code", text_json(rs, r, 8));
		json_object_set_new(o, "message", text_json(rs, r, 9));
		json_object_set_new(o, "latency_us", json_integer(db_int(rs, r, 10)));
		json_object_set_new(o, "client_ip", text_json(rs, r, 11));
		json_object_set_new(o, "trace_id", text_json(rs, r, 12));
		json_object_set_new(o, "signing_string", text_json(rs, r, 13));
		json_object_set_new(o, "request", text_json(rs, r, 14));
		json_object_set_new(o, "response", text_json(rs, r, 15));
	}
	*out = arr;
	return ERR_OK;
}

/* ---- retention --------------------------------------------------------------------------- */

#define PURGE_BATCH 5000

enum err gateway_open_purge(struct server *srv, int64_t now_ms, int keep_days, int64_t *deleted)
{
	struct db_conn *c = NULL;
	struct arena a;
	char yesterday[11];
	int64_t total = 0, cutoff = now_ms - (int64_t)keep_days * 86400000LL;
	arena_init(&a, 0);
	open_local_day(now_ms - 86400000LL, yesterday);
	enum err e = db_acquire(srv->db, 10000, &c);
	for (;;) {
		struct db_rows *rs = NULL;
		if (e ||
		    (e = db_exec(c, &a, &rs,
		                 "DELETE FROM open_calls WHERE id IN (SELECT id FROM open_calls"
		                 " WHERE at < ? ORDER BY id LIMIT ?)",
		                 "ii", cutoff, (int64_t)PURGE_BATCH)))
			break;
		int64_t n = rs->changes;
		total += n;
		arena_release(&a);
		if (n < PURGE_BATCH)
			break;
	}
	if (!e)
		e = db_exec(c, &a, NULL, "DELETE FROM open_usage WHERE day < ?", "s", yesterday);
	db_release(c);
	arena_release(&a);
	if (deleted)
		*deleted = total;
	return e;
}
