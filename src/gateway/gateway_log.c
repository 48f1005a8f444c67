/* gateway_log.c: masking and the call log.
 *
 * Calls must not wait for the database, so a call hands its line to a queue and a writer
 * thread stores the lines in batches (one transaction per batch). Nothing is dropped: when
 * the queue is full the calling thread writes its own line, a failed batch is retried, and
 * shutdown drains the queue before the database closes. */
#include <stdio.h>
#include <time.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "gateway/gateway_int.h"
#include "sensitive/sensitive.h"

#define QUEUE_MAX   50000 /* lines waiting; beyond, callers write their own */
#define BATCH_MAX   256
#define FLUSH_MS    200  /* a line waits at most this long */
#define RETRY_MS    1000 /* after a failed batch */
#define DB_WAIT_MS  5000
#define ID_EPOCH_MS 1704067200000LL /* 2024-01-01T00:00:00Z */

/* ---- masking --------------------------------------------------------------------------- */

struct known_key {
	const char *key;
	const char *kind; /* sensitive_mask kind, or NULL for "***" */
};

/* Keys masked wherever they appear (ASCII case-insensitive), with their display rule. */
static const struct known_key known_keys[] = {
    {"id_number", "id_number"},
    {"id_no", "id_number"},
    {"idcard", "id_number"},
    {"sfzh", "id_number"},
    {"zjhm", "id_number"},
    {"phone", "phone"},
    {"mobile", "phone"},
    {"tel", "phone"},
    {"sjhm", "phone"},
    {"name", "name"},
    {"xm", "name"},
    {"applicant_name", "name"},
    {"address", "name"},
    {"hjdz", "name"},
    {"bank_account", "bank"},
    {"bank_card", "bank"},
    {"account", "bank"},
    {"account_no", "bank"},
    {"password", NULL},
    {"secret", NULL},
    {"token", NULL},
    {"access_token", NULL},
    {"refresh_token", NULL},
    {"private_key", NULL},
    {"authorization", NULL},
    {NULL, NULL},
};

static const struct known_key *known(const char *k)
{
	for (const struct known_key *kk = known_keys; kk->key; kk++)
		if (strcasecmp(k, kk->key) == 0)
			return kk;
	return NULL;
}

static json_t *mask_scalar(const json_t *v, const char *kind)
{
	char num[40];
	const char *s = NULL;
	struct arena a;
	if (json_is_null(v))
		return json_null();
	if (!kind)
		return json_string("***");
	if (json_is_string(v))
		s = json_string_value(v);
	else if (json_is_integer(v)) {
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		s = num;
	} else
		return json_string("***");
	arena_init(&a, 0);
	const char *m = sensitive_mask(kind, s, &a);
	json_t *r = json_string(m ? m : "***");
	arena_release(&a);
	return r;
}

/* Well-known keys, recursively, in place on a private copy. */
static void mask_known(json_t *v)
{
	const char *k;
	json_t *c;
	size_t i;
	void *tmp;
	if (json_is_object(v)) {
		json_object_foreach_safe(v, tmp, k, c)
		{
			const struct known_key *kk = known(k);
			if (kk && !json_is_object(c) && !json_is_array(c))
				json_object_set_new(v, k, mask_scalar(c, kk->kind));
			else
				mask_known(c);
		}
	} else if (json_is_array(v)) {
		json_array_foreach (v, i, c)
			mask_known(c);
	}
}

static void mask_path(json_t *v, const char *path)
{
	const char *dot = strchr(path, '.');
	size_t len = dot ? (size_t)(dot - path) : strlen(path);
	size_t i;
	json_t *c;
	if (json_is_array(v)) {
		json_array_foreach (v, i, c)
			mask_path(c, path);
		return;
	}
	if (!json_is_object(v) || len == 0)
		return;
	c = json_object_getn(v, path, len);
	if (!c)
		return;
	if (dot) {
		mask_path(c, dot + 1);
	} else {
		char key[256];
		snprintf(key, sizeof(key), "%.*s", (int)len, path);
		json_object_set_new(v, key, json_string("***"));
	}
}

json_t *gw_mask_json(const json_t *v, const json_t *mask_paths)
{
	size_t i;
	json_t *p;
	if (!v)
		return NULL;
	json_t *copy = json_deep_copy(v);
	if (!copy)
		return NULL;
	json_array_foreach (mask_paths, i, p) {
		if (json_is_string(p))
			mask_path(copy, json_string_value(p));
	}
	mask_known(copy);
	return copy;
}

/* ---- ids and days ---------------------------------------------------------------------- */

static atomic_uint id_counter;
static atomic_bool id_seeded;

int64_t gw_log_new_id(void)
{
	if (!atomic_exchange(&id_seeded, true)) {
		unsigned r = 0;
		id_random(&r, sizeof(r));
		atomic_fetch_add(&id_counter, r);
	}
	unsigned seq = atomic_fetch_add(&id_counter, 1u) & 0xfffu;
	return ((time_now_ms() - ID_EPOCH_MS) << 12) | (int64_t)seq;
}

int gw_day_of(int64_t ms)
{
	time_t t = (time_t)(ms / 1000) + 8 * 3600;
	struct tm tm;
	gmtime_r(&t, &tm);
	return (tm.tm_year + 1900) * 10000 + (tm.tm_mon + 1) * 100 + tm.tm_mday;
}

/* ---- the writer ------------------------------------------------------------------------ */

struct gw_log {
	struct server *srv;
	pthread_mutex_t mu;
	pthread_cond_t cv;   /* work for the writer */
	pthread_cond_t done; /* a batch was written */
	struct gw_log_line *head, *tail;
	size_t n;
	uint64_t queued, written; /* sequence numbers, for gw_log_flush_now */
	bool stop, urgent;
	pthread_t th;
	bool started;
};

void gw_log_line_free(struct gw_log_line *l)
{
	if (!l)
		return;
	free(l->caller_module);
	free(l->caller_user);
	free(l->request);
	free(l->response);
	free(l->error);
	free(l);
}

static enum err insert_line(struct db_conn *c, struct arena *a, struct gw_log_line *l)
{
	struct db_rows *rs = NULL;
	for (int tries = 0; tries < 3; tries++) {
		enum err e = db_exec(
		    c, a, &rs,
		    "INSERT INTO gateway_calls (id, trace_id, connector, method, caller_module, "
		    "caller_user, caller_user_id, started_at, day, latency_us, outcome, mocked, "
		    "http_status, attempts, request, response, error) VALUES (?, ?, ?, ?, ?, ?, ?, "
		    "?, "
		    "?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
		    "isssssiiiisiiisss", l->id, l->trace_id, l->connector, l->method,
		    l->caller_module, l->caller_user, l->caller_user_id, l->started_at,
		    (int64_t)gw_day_of(l->started_at), l->latency_us, l->outcome,
		    (int64_t)(l->mocked ? 1 : 0), (int64_t)l->http_status, (int64_t)l->attempts,
		    l->request, l->response, l->error);
		if (e)
			return e;
		if (rs->changes > 0)
			return ERR_OK;
		/* Another node took this id in the same millisecond: store the line under a new one
		 * (the caller's call_id then names nothing; the trace id still finds the row). */
		log_warn("gateway.log", "call id %lld taken, stored under a new id",
		         (long long)l->id);
		l->id = gw_log_new_id();
	}
	return ERR_EXISTS;
}

/* Write lines (a list) in one transaction. On failure nothing is committed. */
static enum err write_batch(struct server *srv, struct gw_log_line *lines)
{
	struct db_conn *c = NULL;
	struct arena a;
	enum err e;
	arena_init(&a, 0);
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)) || (e = db_begin_write(c)))
		goto out;
	for (struct gw_log_line *l = lines; l && !e; l = l->next)
		e = insert_line(c, &a, l);
	if (e)
		db_rollback(c);
	else
		e = db_commit(c);
out:
	db_release(c);
	arena_release(&a);
	return e;
}

static void free_list(struct gw_log_line *l)
{
	while (l) {
		struct gw_log_line *n = l->next;
		gw_log_line_free(l);
		l = n;
	}
}

static void *writer(void *arg)
{
	struct gw_log *lg = arg;
	pthread_mutex_lock(&lg->mu);
	for (;;) {
		if (!lg->head && lg->stop)
			break;
		if (!lg->stop && !lg->urgent && lg->n < BATCH_MAX) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += FLUSH_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&lg->cv, &lg->mu, &ts);
		}
		if (!lg->head) {
			lg->urgent = false;
			pthread_cond_broadcast(&lg->done);
			continue;
		}
		/* Take up to BATCH_MAX lines. */
		struct gw_log_line *batch = lg->head, *last = lg->head;
		size_t k = 1;
		while (last->next && k < BATCH_MAX) {
			last = last->next;
			k++;
		}
		lg->head = last->next;
		if (!lg->head)
			lg->tail = NULL;
		last->next = NULL;
		lg->n -= k;
		pthread_mutex_unlock(&lg->mu);
		enum err e = write_batch(lg->srv, batch);
		pthread_mutex_lock(&lg->mu);
		if (e) {
			log_error("gateway.log",
			          "call log batch of %zu lines not written (%s), retrying", k,
			          err_code(e));
			if (lg->stop) {
				/* The database is going away: the lines go to the process log
				 * instead. */
				for (struct gw_log_line *l = batch; l; l = l->next)
					log_event(LOG_ERROR, "gateway.call.unsaved",
					          json_pack("{s:I,s:s,s:s,s:s,s:s,s:I}", "id",
					                    (json_int_t)l->id, "trace_id",
					                    l->trace_id, "connector", l->connector,
					                    "method", l->method, "outcome",
					                    l->outcome, "latency_us",
					                    (json_int_t)l->latency_us),
					          "call log line could not be stored");
				free_list(batch);
				lg->written += k;
				continue;
			}
			/* Put the batch back in front, in order, and wait before the next try. */
			last->next = lg->head;
			lg->head = batch;
			if (!lg->tail)
				lg->tail = last;
			lg->n += k;
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += RETRY_MS / 1000;
			pthread_cond_timedwait(&lg->cv, &lg->mu, &ts);
			continue;
		}
		free_list(batch);
		lg->written += k;
		if (!lg->head)
			lg->urgent = false;
		pthread_cond_broadcast(&lg->done);
	}
	pthread_cond_broadcast(&lg->done);
	pthread_mutex_unlock(&lg->mu);
	return NULL;
}

enum err gw_log_start(struct server *srv, struct gw_log **out)
{
	struct gw_log *lg = calloc(1, sizeof(*lg));
	pthread_condattr_t ca;
	if (!lg)
		return ERR_NOMEM;
	lg->srv = srv;
	pthread_mutex_init(&lg->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&lg->cv, &ca);
	pthread_cond_init(&lg->done, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&lg->th, NULL, writer, lg) != 0) {
		pthread_mutex_destroy(&lg->mu);
		pthread_cond_destroy(&lg->cv);
		pthread_cond_destroy(&lg->done);
		free(lg);
		return ERR_INTERNAL;
	}
	lg->started = true;
	*out = lg;
	return ERR_OK;
}

void gw_log_stop(struct gw_log *lg)
{
	if (!lg)
		return;
	pthread_mutex_lock(&lg->mu);
	lg->stop = true;
	pthread_cond_signal(&lg->cv);
	pthread_mutex_unlock(&lg->mu);
	if (lg->started)
		pthread_join(lg->th, NULL);
	free_list(lg->head);
	pthread_mutex_destroy(&lg->mu);
	pthread_cond_destroy(&lg->cv);
	pthread_cond_destroy(&lg->done);
	free(lg);
}

void gw_log_submit(struct server *srv, struct gw_log *lg, struct gw_log_line *l)
{
	if (!l)
		return;
	l->next = NULL;
	pthread_mutex_lock(&lg->mu);
	if (lg->n < QUEUE_MAX && !lg->stop) {
		if (lg->tail)
			lg->tail->next = l;
		else
			lg->head = l;
		lg->tail = l;
		lg->n++;
		lg->queued++;
		if (lg->n >= BATCH_MAX)
			pthread_cond_signal(&lg->cv);
		pthread_mutex_unlock(&lg->mu);
		return;
	}
	pthread_mutex_unlock(&lg->mu);
	/* Back-pressure: the database is slower than the calls; this caller pays for its line. */
	if (write_batch(srv, l))
		log_error("gateway.log", "call log line %lld not written", (long long)l->id);
	gw_log_line_free(l);
}

void gw_log_flush_now(struct gw_log *lg)
{
	if (!lg)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&lg->mu);
	uint64_t target = lg->queued;
	lg->urgent = true;
	pthread_cond_signal(&lg->cv);
	while (lg->written < target && !lg->stop)
		if (pthread_cond_timedwait(&lg->done, &lg->mu, &ts) != 0)
			break;
	pthread_mutex_unlock(&lg->mu);
}
