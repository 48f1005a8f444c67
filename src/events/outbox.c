/* outbox.c: enqueue, the handler registry, the worker threads and the metrics of the
 * transactional outbox (the SQL is in outbox_store.c, the operator routes in outbox_http.c).
 *
 * One round: take a connection, reap expired leases and claim a batch in one short write
 * transaction, give the connection back, call the handlers (no connection or transaction
 * held: a handler may need the pool itself and may take seconds), then record every
 * outcome in a second write transaction. Each finish update is guarded by the claim's
 * token, so a worker whose lease ran out cannot overwrite the work of the one that took the
 * event over. */
#include "events/outbox_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "server/server.h"

#define DEFAULT_WORKERS         2
#define DEFAULT_BATCH           8
#define DEFAULT_POLL_MS         500
#define DEFAULT_LEASE_MS        300000
#define DEFAULT_MAX_ATTEMPTS    30
#define DEFAULT_BASE_BACKOFF_MS 1000
#define DEFAULT_MAX_BACKOFF_MS  3600000
#define MAX_WORKERS             64
#define MAX_BACKOFF_CAP_MS      (7 * 24 * 3600 * 1000LL)
#define DB_WAIT_MS              5000
#define FINISH_TRIES            3
#define UNHANDLED_CHECK_NS      (60 * 1000000000LL)
/* The first look waits for the modules after this one to register their handlers. */
#define UNHANDLED_GRACE_NS (10 * 1000000000LL)
#define WARNED_MAX         64

struct handler {
	char *kind;
	outbox_deliver_fn deliver;
	void *ctx;
	struct outbox_policy policy;
	_Atomic uint64_t delivered, failures;
};

struct outbox {
	struct server *srv;
	struct outbox_config cfg;
	char *node;

	pthread_mutex_t mu; /* everything below up to the counters */
	pthread_cond_t cv;  /* wake_seq changed or stop set */
	uint64_t wake_seq;
	bool running;
	pthread_t *threads;
	int nthreads;
	/* Handlers are added, never removed before outbox_destroy, so a worker may keep a
	 * pointer to one after dropping the lock. */
	struct handler **handlers;
	int nhandlers, ahandlers;
	char *warned[WARNED_MAX]; /* kinds reported as having no handler */
	int nwarned;
	int64_t next_unhandled_check_ns;

	atomic_bool stop;
	_Atomic uint64_t token_seq, dead_total;
	_Atomic uint64_t delivery_ns, delivery_count, lag_ms, lag_count;
};

/* An event claimed by one round, with its handler and how it ended. */
struct claimed {
	struct outbox_event ev;
	struct handler *h;
	enum outbox_outcome oc;
	int64_t next_at;
	const char *error;
};

static int64_t wall_clock(void *ctx)
{
	(void)ctx;
	return time_now_ms();
}

int64_t outbox_now(const struct outbox *o)
{
	return o->cfg.now_ms(o->cfg.clock_ctx);
}

/* ---- enqueue ---- */

static bool text_ok(const char *s, size_t max)
{
	size_t n = strlen(s);
	return n > 0 && n <= max && utf8_valid(s, n);
}

enum err outbox_enqueue(struct db_conn *c, struct arena *a, const char *kind, const char *aggregate,
                        const char *payload_json, const char *idempotency_key, int64_t *id_out)
{
	enum err e;
	json_t *doc = NULL;
	char key[40];
	const char *payload = payload_json ? payload_json : "{}";
	size_t plen = strlen(payload);

	if (!outbox_kind_valid(kind)) {
		log_warn("outbox.enqueue", "rejected: malformed kind");
		return ERR_BAD_FIELD;
	}
	if (aggregate && !text_ok(aggregate, OUTBOX_AGGREGATE_MAX)) {
		log_warn("outbox.enqueue", "rejected %s: aggregate empty, too long or not UTF-8",
		         kind);
		return ERR_BAD_FIELD;
	}
	if (idempotency_key && !text_ok(idempotency_key, OUTBOX_KEY_MAX)) {
		log_warn("outbox.enqueue",
		         "rejected %s: idempotency key empty, too long or not UTF-8", kind);
		return ERR_BAD_FIELD;
	}
	if (plen > OUTBOX_PAYLOAD_MAX) {
		log_warn("outbox.enqueue", "rejected %s: payload over %u bytes", kind,
		         OUTBOX_PAYLOAD_MAX);
		return ERR_TOO_LARGE;
	}
	/* A receiver must never be handed a payload it cannot parse: refuse it here, while
	 * the caller can still roll its change back. */
	if ((e = json_parse(payload, plen, &doc, NULL, NULL))) {
		log_warn("outbox.enqueue", "rejected %s: payload is not valid JSON", kind);
		return e;
	}
	json_decref(doc);
	if (!idempotency_key) {
		memcpy(key, "ob-", 3);
		if ((e = id_random_hex(key + 3, 16)))
			return e;
		idempotency_key = key;
	}
	return outbox_store_insert(c, a, kind, aggregate, payload, idempotency_key, time_now_ms(),
	                           id_out);
}

/* ---- lifecycle and registry ---- */

enum err outbox_create(struct server *srv, const struct outbox_config *cfg, struct outbox **out)
{
	enum err e = ERR_OK;
	struct outbox *o = NULL;
	pthread_condattr_t ca;
	bool ca_ok = false, mu_ok = false;

	*out = NULL;
	if (!srv || !srv->db)
		return ERR_INTERNAL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return ERR_NOMEM;
	o->srv = srv;
	o->next_unhandled_check_ns = time_mono_ns() + UNHANDLED_GRACE_NS;
	if (cfg)
		o->cfg = *cfg;
	if (o->cfg.workers <= 0)
		o->cfg.workers = DEFAULT_WORKERS;
	if (o->cfg.workers > MAX_WORKERS)
		o->cfg.workers = MAX_WORKERS;
	if (o->cfg.batch <= 0)
		o->cfg.batch = DEFAULT_BATCH;
	if (o->cfg.batch > OUTBOX_BATCH_MAX)
		o->cfg.batch = OUTBOX_BATCH_MAX;
	if (o->cfg.poll_ms <= 0)
		o->cfg.poll_ms = DEFAULT_POLL_MS;
	if (o->cfg.lease_ms <= 0)
		o->cfg.lease_ms = DEFAULT_LEASE_MS;
	if (!o->cfg.now_ms) {
		o->cfg.now_ms = wall_clock;
		o->cfg.clock_ctx = NULL;
	}
	if (o->cfg.node && o->cfg.node[0]) {
		o->node = strdup(o->cfg.node);
	} else {
		char host[256] = "";
		if (gethostname(host, sizeof(host) - 1) != 0 || !host[0])
			snprintf(host, sizeof(host), "%s", "localhost");
		if (asprintf(&o->node, "%.64s:%ld", host, (long)getpid()) < 0)
			o->node = NULL;
	}
	o->cfg.node = o->node;
	if (!o->node) {
		e = ERR_NOMEM;
		goto out;
	}
	if (pthread_mutex_init(&o->mu, NULL) != 0) {
		e = ERR_INTERNAL;
		goto out;
	}
	mu_ok = true;
	/* A monotonic wait: a wall-clock step must not stall or spin the workers. */
	if (pthread_condattr_init(&ca) != 0) {
		e = ERR_INTERNAL;
		goto out;
	}
	ca_ok = true;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&o->cv, &ca) != 0) {
		e = ERR_INTERNAL;
		goto out;
	}
	*out = o;
	o = NULL;
out:
	if (ca_ok)
		pthread_condattr_destroy(&ca);
	if (o) {
		if (mu_ok)
			pthread_mutex_destroy(&o->mu);
		free(o->node);
		free(o);
	}
	return e;
}

enum err outbox_register(struct outbox *o, const char *kind, outbox_deliver_fn deliver, void *ctx,
                         const struct outbox_policy *policy)
{
	enum err e = ERR_OK;
	struct handler *h = NULL;
	struct outbox_policy p = {0};

	if (!outbox_kind_valid(kind) || !deliver)
		return ERR_BAD_FIELD;
	if (policy)
		p = *policy;
	if (p.max_attempts < 0 || p.base_backoff_ms < 0 || p.max_backoff_ms < 0)
		return ERR_BAD_FIELD;
	if (p.max_attempts == 0)
		p.max_attempts = DEFAULT_MAX_ATTEMPTS;
	if (p.base_backoff_ms == 0)
		p.base_backoff_ms = DEFAULT_BASE_BACKOFF_MS;
	if (p.max_backoff_ms == 0)
		p.max_backoff_ms = p.base_backoff_ms > DEFAULT_MAX_BACKOFF_MS
		                       ? p.base_backoff_ms
		                       : DEFAULT_MAX_BACKOFF_MS;
	if (p.max_backoff_ms > MAX_BACKOFF_CAP_MS)
		p.max_backoff_ms = MAX_BACKOFF_CAP_MS;
	if (p.base_backoff_ms > p.max_backoff_ms)
		return ERR_BAD_FIELD;

	pthread_mutex_lock(&o->mu);
	for (int k = 0; k < o->nhandlers; k++) {
		if (strcmp(o->handlers[k]->kind, kind) == 0) {
			e = ERR_EXISTS;
			goto out;
		}
	}
	if (o->nhandlers == o->ahandlers) {
		int na = o->ahandlers ? o->ahandlers * 2 : 16;
		struct handler **nh = realloc(o->handlers, sizeof(*nh) * (size_t)na);
		if (!nh) {
			e = ERR_NOMEM;
			goto out;
		}
		o->handlers = nh;
		o->ahandlers = na;
	}
	h = calloc(1, sizeof(*h));
	if (!h || !(h->kind = strdup(kind))) {
		e = ERR_NOMEM;
		goto out;
	}
	h->deliver = deliver;
	h->ctx = ctx;
	h->policy = p;
	o->handlers[o->nhandlers++] = h;
	h = NULL;
out:
	pthread_mutex_unlock(&o->mu);
	if (h)
		free(h->kind);
	free(h);
	return e;
}

void outbox_notify(struct outbox *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->mu);
	o->wake_seq++;
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
}

/* ---- one round ---- */

/* Wait after the attempts-th failure: base doubled per earlier failure, capped, then drawn
 * uniformly from [d/2, d] so that events that failed together do not retry together. */
static int64_t backoff_ms(const struct outbox_policy *p, int attempts)
{
	int64_t d = p->base_backoff_ms;
	for (int k = 1; k < attempts && d < p->max_backoff_ms; k++)
		d *= 2;
	if (d > p->max_backoff_ms)
		d = p->max_backoff_ms;
	uint64_t r = 0;
	if (id_random(&r, sizeof(r)))
		r = 0;
	int64_t half = d / 2;
	return d - half + (int64_t)(r % (uint64_t)(half + 1));
}

static void warn_unhandled(struct outbox *o, const char *kind)
{
	for (int k = 0; k < o->nhandlers; k++)
		if (strcmp(o->handlers[k]->kind, kind) == 0)
			return;
	for (int k = 0; k < o->nwarned; k++)
		if (strcmp(o->warned[k], kind) == 0)
			return;
	if (o->nwarned < WARNED_MAX) {
		o->warned[o->nwarned] = strdup(kind);
		if (o->warned[o->nwarned])
			o->nwarned++;
	}
	log_warn("outbox.unhandled",
	         "pending events of kind %s have no handler on this node: they stay pending", kind);
}

/* Now and then, name the kinds that wait for a handler nobody registered (once each). */
static void check_unhandled(struct outbox *o, struct db_conn *c, struct arena *a)
{
	struct db_rows *rows = NULL;
	int64_t now = time_mono_ns();
	pthread_mutex_lock(&o->mu);
	bool due = now >= o->next_unhandled_check_ns;
	if (due)
		o->next_unhandled_check_ns = now + UNHANDLED_CHECK_NS;
	pthread_mutex_unlock(&o->mu);
	if (!due || outbox_store_pending_kinds(c, a, 100, &rows))
		return;
	pthread_mutex_lock(&o->mu);
	for (int r = 0; r < rows->nrows; r++)
		if (db_text(rows, r, 0))
			warn_unhandled(o, db_text(rows, r, 0));
	pthread_mutex_unlock(&o->mu);
}

/* Reap expired leases and claim a batch under a new token, in one write transaction. */
static enum err claim(struct outbox *o, struct db_conn *c, struct arena *a, const char **token,
                      struct claimed **out, int *nout)
{
	enum err e = ERR_OK;
	struct handler **hs = NULL;
	const char **kinds = NULL;
	struct db_rows *rows = NULL;
	struct claimed *cl = NULL;
	int nh;
	int64_t reaped = 0;
	bool open = false;
	bool pg = strcmp(db_engine(o->srv->db), "postgres") == 0;

	*nout = 0;
	*out = NULL;
	pthread_mutex_lock(&o->mu);
	nh = o->nhandlers;
	hs = nh ? arena_alloc(a, sizeof(*hs) * (size_t)nh) : NULL;
	kinds = nh ? arena_alloc(a, sizeof(*kinds) * (size_t)nh) : NULL;
	for (int k = 0; hs && kinds && k < nh; k++) {
		hs[k] = o->handlers[k];
		kinds[k] = hs[k]->kind;
	}
	pthread_mutex_unlock(&o->mu);
	if (nh == 0)
		return ERR_OK;
	if (!hs || !kinds)
		return ERR_NOMEM;
	*token = arena_printf(a, "%s/%llu", o->node,
	                      (unsigned long long)atomic_fetch_add(&o->token_seq, 1) + 1);
	if (!*token)
		return ERR_NOMEM;

	int64_t now = outbox_now(o);
	if ((e = db_begin_write(c)))
		return e;
	open = true;
	if ((e = outbox_store_reap(c, a, pg, now, OUTBOX_WHY_LEASE_EXPIRED, &reaped)))
		goto out;
	if ((e = outbox_store_claim(c, a, pg, kinds, nh, *token, now, now + o->cfg.lease_ms,
	                            o->cfg.batch, &rows)))
		goto out;
	if ((e = db_commit(c)))
		goto out;
	open = false;
	if (reaped > 0)
		log_warn("outbox.lease_expired",
		         "%lld events whose lease ran out are pending again (redelivered soon)",
		         (long long)reaped);
	if (rows->nrows == 0)
		goto out;
	cl = arena_zalloc(a, sizeof(*cl) * (size_t)rows->nrows);
	if (!cl) {
		/* Claimed but not deliverable now: the lease will hand them back. */
		e = ERR_NOMEM;
		goto out;
	}
	/* RETURNING comes in no particular order; deliver oldest first. */
	for (int r = 0; r < rows->nrows; r++) {
		struct claimed x = {0};
		x.ev.id = db_int(rows, r, 0);
		x.ev.kind = db_text(rows, r, 1);
		x.ev.aggregate = db_text(rows, r, 2);
		x.ev.payload = db_text(rows, r, 3);
		x.ev.idempotency_key = db_text(rows, r, 4);
		x.ev.attempts = (int)db_int(rows, r, 5);
		x.ev.created_at = db_int(rows, r, 6);
		for (int k = 0; k < nh && x.ev.kind; k++)
			if (strcmp(hs[k]->kind, x.ev.kind) == 0)
				x.h = hs[k];
		int at = r;
		while (at > 0 && cl[at - 1].ev.id > x.ev.id) {
			cl[at] = cl[at - 1];
			at--;
		}
		cl[at] = x;
	}
	*out = cl;
	*nout = rows->nrows;
out:
	if (e && open)
		db_rollback(c);
	return e;
}

/* "<code>: <handler's reason>", cut to OUTBOX_ERROR_MAX bytes at a character boundary. A
 * reason that is not UTF-8 is dropped (PostgreSQL would refuse the whole finish). */
static const char *error_text(struct arena *a, enum err e, const char *msg)
{
	size_t n = strlen(msg);
	if (n == 0 || !utf8_valid(msg, n))
		return err_code(e);
	char *s = arena_printf(a, "%s: %s", err_code(e), msg);
	if (!s)
		return err_code(e);
	n = strlen(s);
	if (n > OUTBOX_ERROR_MAX) {
		n = OUTBOX_ERROR_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		s[n] = 0;
	}
	return s;
}

static void deliver_one(struct outbox *o, struct arena *a, struct claimed *x)
{
	char msg[OUTBOX_ERROR_MAX + 1] = "";
	if (!x->h) {
		/* The claim filters on registered kinds, so this cannot happen; if it did, the
		 * event must not be lost or charged an attempt. */
		x->oc = OUTBOX_OUT_RELEASE;
		return;
	}
	const struct outbox_policy *p = &x->h->policy;

	if (x->ev.attempts > p->max_attempts) {
		/* Only leases that ran out get here: each claim counted an attempt that never
		 * reported back. A handler that keeps killing its worker ends up dead too. */
		x->oc = OUTBOX_OUT_DEAD;
		x->error = OUTBOX_WHY_LEASE_EXHAUSTED;
		return;
	}
	int64_t t0 = time_mono_ns();
	enum err e = x->h->deliver(x->h->ctx, o->srv, &x->ev, msg, sizeof(msg));
	msg[sizeof(msg) - 1] = 0;
	atomic_fetch_add(&o->delivery_ns, (uint64_t)(time_mono_ns() - t0));
	atomic_fetch_add(&o->delivery_count, 1);
	if (!e) {
		x->oc = OUTBOX_OUT_DONE;
		return;
	}
	atomic_fetch_add(&x->h->failures, 1);
	x->error = error_text(a, e, msg);
	if (e == ERR_INVALID || x->ev.attempts >= p->max_attempts) {
		x->oc = OUTBOX_OUT_DEAD;
	} else {
		x->oc = OUTBOX_OUT_RETRY;
		x->next_at = outbox_now(o) + backoff_ms(p, x->ev.attempts);
	}
}

static void publish_done(struct outbox *o, const struct outbox_event *ev)
{
	struct buf b;
	char topic[8 + OUTBOX_KIND_MAX + 1];
	if (!o->srv->bus)
		return;
	buf_init(&b, 1024);
	snprintf(topic, sizeof(topic), "outbox:%s", ev->kind);
	enum err e = buf_printf(
	    &b, "{\"id\":%lld,\"kind\":\"%s\",\"aggregate\":", (long long)ev->id, ev->kind);
	if (!e && ev->aggregate) {
		e = buf_putc(&b, '"');
		if (!e)
			e = buf_json_escape(&b, ev->aggregate, strlen(ev->aggregate));
		if (!e)
			e = buf_puts(&b, "\"}");
	} else if (!e) {
		e = buf_puts(&b, "null}");
	}
	if (!e)
		event_bus_publish(o->srv->bus, topic, b.p);
	buf_release(&b);
}

/* Record the outcomes in one write transaction (retried a few times when the database is
 * busy). When it cannot be written the leases stay, run out, and the events are delivered
 * again: at-least-once. */
static enum err finish(struct outbox *o, struct arena *a, const char *token, struct claimed *cl,
                       int n, int *delivered)
{
	enum err e = ERR_OK;
	struct db_conn *c = NULL;
	bool *held = arena_zalloc(a, sizeof(*held) * (size_t)n);
	if (!held)
		return ERR_NOMEM;
	for (int t = 0; t < FINISH_TRIES; t++) {
		if (t)
			usleep(50000u << t);
		if ((e = db_acquire(o->srv->db, DB_WAIT_MS, &c)))
			continue;
		int64_t now = outbox_now(o);
		e = db_begin_write(c);
		bool open = !e;
		for (int k = 0; !e && k < n; k++)
			e = outbox_store_finish(c, a, cl[k].ev.id, token, cl[k].oc, now,
			                        cl[k].next_at, cl[k].error, &held[k]);
		if (!e)
			e = db_commit(c);
		if (e && open)
			db_rollback(c);
		db_release(c);
		c = NULL;
		if (e != ERR_DB_BUSY && e != ERR_CONFLICT)
			break;
	}
	if (e) {
		log_error(
		    "outbox.finish",
		    "outcomes of %d events could not be recorded (%s): they will be delivered "
		    "again when their lease runs out",
		    n, err_code(e));
		return e;
	}
	int64_t wall = time_now_ms();
	for (int k = 0; k < n; k++) {
		struct claimed *x = &cl[k];
		if (!held[k]) {
			if (x->oc != OUTBOX_OUT_RELEASE)
				log_warn(
				    "outbox.lease_lost",
				    "event %lld (%s) was taken over by another worker after its "
				    "lease ran out; this outcome was dropped",
				    (long long)x->ev.id, x->ev.kind);
			continue;
		}
		switch (x->oc) {
		case OUTBOX_OUT_DONE:
			if (delivered)
				(*delivered)++;
			atomic_fetch_add(&x->h->delivered, 1);
			if (wall > x->ev.created_at) {
				atomic_fetch_add(&o->lag_ms, (uint64_t)(wall - x->ev.created_at));
			}
			atomic_fetch_add(&o->lag_count, 1);
			publish_done(o, &x->ev);
			break;
		case OUTBOX_OUT_DEAD:
			atomic_fetch_add(&o->dead_total, 1);
			log_warn("outbox.dead", "event %lld (%s) is dead after %d attempts: %s",
			         (long long)x->ev.id, x->ev.kind, x->ev.attempts, x->error);
			break;
		case OUTBOX_OUT_RETRY:
			log_info("outbox.retry",
			         "event %lld (%s) attempt %d failed (%s), next in %lld ms",
			         (long long)x->ev.id, x->ev.kind, x->ev.attempts, x->error,
			         (long long)(x->next_at - outbox_now(o)));
			break;
		case OUTBOX_OUT_RELEASE:
		default: break;
		}
	}
	return ERR_OK;
}

/* Claim a batch (connection held only for the claim), deliver it, record the outcomes. */
static enum err round_run(struct outbox *o, struct arena *a, int *nclaimed, int *delivered)
{
	struct db_conn *c = NULL;
	struct claimed *cl = NULL;
	const char *token = NULL;
	int n = 0;

	*nclaimed = 0;
	enum err e = db_acquire(o->srv->db, DB_WAIT_MS, &c);
	if (e)
		return e;
	check_unhandled(o, c, a);
	e = claim(o, c, a, &token, &cl, &n);
	db_release(c);
	if (e || n == 0)
		return e;
	*nclaimed = n;
	for (int k = 0; k < n; k++) {
		/* Stopping: what has not started goes back untouched, for the next process. */
		if (atomic_load(&o->stop))
			cl[k].oc = OUTBOX_OUT_RELEASE;
		else
			deliver_one(o, a, &cl[k]);
	}
	return finish(o, a, token, cl, n, delivered);
}

enum err outbox_run_once(struct outbox *o, int *delivered)
{
	struct arena a;
	int nclaimed = 0, got = 0;
	arena_init(&a, 0);
	enum err e = round_run(o, &a, &nclaimed, &got);
	arena_release(&a);
	if (delivered)
		*delivered = got;
	return e;
}

enum err outbox_claim_abandon(struct outbox *o, struct arena *a, struct outbox_event **evs, int *n,
                              const char **token)
{
	struct db_conn *c = NULL;
	struct claimed *cl = NULL;
	const char *tok = NULL;
	*evs = NULL;
	*n = 0;
	enum err e = db_acquire(o->srv->db, DB_WAIT_MS, &c);
	if (e)
		return e;
	e = claim(o, c, a, &tok, &cl, n);
	if (token)
		*token = tok;
	db_release(c);
	if (e || *n == 0)
		return e;
	*evs = arena_alloc(a, sizeof(**evs) * (size_t)*n);
	if (!*evs)
		return ERR_NOMEM;
	for (int k = 0; k < *n; k++)
		(*evs)[k] = cl[k].ev;
	return ERR_OK;
}

/* ---- workers ---- */

static void *worker_main(void *arg)
{
	struct outbox *o = arg;
	struct arena a;
	enum err last = ERR_OK;
	arena_init(&a, 0);
	while (!atomic_load(&o->stop)) {
		pthread_mutex_lock(&o->mu);
		uint64_t seen = o->wake_seq;
		pthread_mutex_unlock(&o->mu);

		int nclaimed = 0;
		enum err e = round_run(o, &a, &nclaimed, NULL);
		arena_release(&a);
		/* Say when the database starts and stops failing, not on every poll between. */
		if (e && e != last)
			log_error("outbox.worker",
			          "delivery round failed (%s); retrying every %lld ms", err_code(e),
			          (long long)o->cfg.poll_ms);
		else if (!e && last)
			log_info("outbox.worker", "delivery rounds work again");
		last = e;
		if (!e && nclaimed == o->cfg.batch)
			continue; /* a full batch: more may be due already */

		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		int64_t ns = dl.tv_nsec + (o->cfg.poll_ms % 1000) * 1000000;
		dl.tv_sec += (time_t)(o->cfg.poll_ms / 1000 + ns / 1000000000);
		dl.tv_nsec = (long)(ns % 1000000000);
		pthread_mutex_lock(&o->mu);
		while (!atomic_load(&o->stop) && o->wake_seq == seen)
			if (pthread_cond_timedwait(&o->cv, &o->mu, &dl) != 0)
				break;
		pthread_mutex_unlock(&o->mu);
	}
	arena_release(&a);
	return NULL;
}

static void join_workers(struct outbox *o)
{
	for (int k = 0; k < o->nthreads; k++)
		pthread_join(o->threads[k], NULL);
	free(o->threads);
	o->threads = NULL;
	o->nthreads = 0;
}

enum err outbox_start(struct outbox *o)
{
	enum err e = ERR_OK;
	pthread_mutex_lock(&o->mu);
	if (o->running) {
		pthread_mutex_unlock(&o->mu);
		return ERR_CONFLICT;
	}
	o->running = true;
	atomic_store(&o->stop, false);
	o->next_unhandled_check_ns = time_mono_ns() + UNHANDLED_GRACE_NS;
	o->threads = calloc((size_t)o->cfg.workers, sizeof(*o->threads));
	if (!o->threads)
		e = ERR_NOMEM;
	for (int k = 0; !e && k < o->cfg.workers; k++) {
		if (pthread_create(&o->threads[k], NULL, worker_main, o) != 0)
			e = ERR_INTERNAL;
		else
			o->nthreads++;
	}
	pthread_mutex_unlock(&o->mu);
	if (e) {
		log_error("outbox.start", "could not start %d outbox workers", o->cfg.workers);
		outbox_stop(o);
		return e;
	}
	log_info("outbox.start", "%d outbox workers on %s (batch %d, lease %lld ms)", o->nthreads,
	         o->node, o->cfg.batch, (long long)o->cfg.lease_ms);
	return ERR_OK;
}

void outbox_stop(struct outbox *o)
{
	if (!o)
		return;
	pthread_mutex_lock(&o->mu);
	if (!o->running) {
		pthread_mutex_unlock(&o->mu);
		return;
	}
	atomic_store(&o->stop, true);
	pthread_cond_broadcast(&o->cv);
	pthread_mutex_unlock(&o->mu);
	join_workers(o);
	pthread_mutex_lock(&o->mu);
	o->running = false;
	atomic_store(&o->stop, false);
	pthread_mutex_unlock(&o->mu);
	log_info("outbox.stop", "outbox workers stopped");
}

void outbox_destroy(struct outbox *o)
{
	if (!o)
		return;
	outbox_stop(o);
	for (int k = 0; k < o->nhandlers; k++) {
		free(o->handlers[k]->kind);
		free(o->handlers[k]);
	}
	free(o->handlers);
	for (int k = 0; k < o->nwarned; k++)
		free(o->warned[k]);
	pthread_cond_destroy(&o->cv);
	pthread_mutex_destroy(&o->mu);
	free(o->node);
	free(o);
}

/* ---- operators ---- */

enum err outbox_retry(struct server *srv, int64_t id)
{
	struct arena a;
	struct db_conn *c = NULL;
	arena_init(&a, 0);
	enum err e = db_acquire(srv->db, DB_WAIT_MS, &c);
	if (!e) {
		e = db_begin_write(c);
		bool open = !e;
		if (!e)
			e = outbox_store_retry(
			    c, &a, id, srv->outbox ? outbox_now(srv->outbox) : time_now_ms());
		if (!e)
			e = db_commit(c);
		if (e && open)
			db_rollback(c);
		db_release(c);
	}
	arena_release(&a);
	if (!e) {
		log_info("outbox.retry_requested", "dead event %lld is pending again",
		         (long long)id);
		outbox_notify(srv->outbox);
	}
	return e;
}

enum err outbox_purge_done(struct server *srv, int64_t before_ms, int limit, int64_t *deleted)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rows = NULL;
	if (deleted)
		*deleted = 0;
	if (limit < 1 || limit > 100000)
		return ERR_BAD_FIELD;
	arena_init(&a, 0);
	enum err e = db_acquire(srv->db, DB_WAIT_MS, &c);
	if (!e) {
		e = db_begin_write(c);
		bool open = !e;
		/* Batches keep the write lock short on SQLite, where it blocks every writer. */
		if (!e)
			e = db_exec(c, &a, &rows,
			            "DELETE FROM events WHERE id IN (SELECT id FROM events "
			            "WHERE status = 'done' AND done_at < ? ORDER BY id LIMIT ?)",
			            "ii", before_ms, (int64_t)limit);
		if (!e)
			e = db_commit(c);
		if (e && open)
			db_rollback(c);
		db_release(c);
	}
	if (!e && deleted)
		*deleted = rows->changes;
	arena_release(&a);
	return e;
}

void outbox_metrics(struct outbox *o, struct buf *out)
{
	struct arena a;
	struct db_conn *c = NULL;
	int64_t counts[OUTBOX_NSTATUS];
	bool have_counts = false;
	if (!o)
		return;
	arena_init(&a, 0);
	/* /metrics must answer while the database is slow: skip the depth rather than hang. */
	if (!db_acquire(o->srv->db, 1000, &c)) {
		have_counts = !outbox_store_counts(c, &a, false, counts);
		db_release(c);
	}
	arena_release(&a);
	if (have_counts) {
		buf_puts(out,
		         "# HELP shouli_outbox_depth Outbox events by status (done not counted).\n"
		         "# TYPE shouli_outbox_depth gauge\n");
		for (int k = 0; k < OUTBOX_NSTATUS; k++)
			if (k != OUTBOX_DONE)
				buf_printf(out, "shouli_outbox_depth{status=\"%s\"} %lld\n",
				           outbox_status_names[k], (long long)counts[k]);
	}
	pthread_mutex_lock(&o->mu);
	buf_puts(out, "# HELP shouli_outbox_delivered_total Events delivered, by kind.\n"
	              "# TYPE shouli_outbox_delivered_total counter\n");
	for (int k = 0; k < o->nhandlers; k++)
		buf_printf(out, "shouli_outbox_delivered_total{kind=\"%s\"} %llu\n",
		           o->handlers[k]->kind,
		           (unsigned long long)atomic_load(&o->handlers[k]->delivered));
	buf_puts(out, "# HELP shouli_outbox_failures_total Failed delivery attempts, by kind.\n"
	              "# TYPE shouli_outbox_failures_total counter\n");
	for (int k = 0; k < o->nhandlers; k++)
		buf_printf(out, "shouli_outbox_failures_total{kind=\"%s\"} %llu\n",
		           o->handlers[k]->kind,
		           (unsigned long long)atomic_load(&o->handlers[k]->failures));
	pthread_mutex_unlock(&o->mu);
	buf_printf(out,
	           "# HELP shouli_outbox_dead_total Events that went dead.\n"
	           "# TYPE shouli_outbox_dead_total counter\nshouli_outbox_dead_total %llu\n"
	           "# HELP shouli_outbox_delivery_seconds Time spent in delivery handlers.\n"
	           "# TYPE shouli_outbox_delivery_seconds summary\n"
	           "shouli_outbox_delivery_seconds_sum %.6f\n"
	           "shouli_outbox_delivery_seconds_count %llu\n"
	           "# HELP shouli_outbox_lag_seconds Time from enqueue to recorded delivery.\n"
	           "# TYPE shouli_outbox_lag_seconds summary\n"
	           "shouli_outbox_lag_seconds_sum %.3f\n"
	           "shouli_outbox_lag_seconds_count %llu\n",
	           (unsigned long long)atomic_load(&o->dead_total),
	           (double)atomic_load(&o->delivery_ns) / 1e9,
	           (unsigned long long)atomic_load(&o->delivery_count),
	           (double)atomic_load(&o->lag_ms) / 1e3,
	           (unsigned long long)atomic_load(&o->lag_count));
}
