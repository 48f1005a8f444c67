/* events.h: domain events — the publish/subscribe bus, and (in its own section, to come) the
 * transactional outbox.
 *
 * The bus carries notifications ("the queue board of centre X changed") to whoever listens
 * in-process, chiefly the WebSocket hub. It is not durable: anything that must reach another
 * system goes through the outbox, never through the bus alone. */
#ifndef SHOULI_EVENTS_H
#define SHOULI_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/* ======================================================================================
 * Event bus (bus.c)
 *
 * Topics are printable ASCII (0x21..0x7e) without space, double quote or backslash, 1..128
 * bytes, segments separated by ':' — "centre:310104001:queue", "user:42:notify". A payload is
 * one JSON value as text (UTF-8), produced by the publisher and not re-parsed.
 *
 * Backends. Where a publish goes is decided by an ops table:
 *   - the in-process backend (event_bus_create) hands every publish straight to the local
 *     subscribers, synchronously, in the publisher's thread;
 *   - a cross-node backend (PostgreSQL LISTEN/NOTIFY) implements ops->publish as
 *     NOTIFY and runs a listener that calls event_bus_deliver for every notification it
 *     receives, its own included — so every node's subscribers see every event, from the
 *     listener's thread, after the publishing transaction commits.
 * Subscribers cannot tell the backends apart except by the thread they are called on, so
 * they must be thread-safe and quick (the WebSocket hub only enqueues).
 * ====================================================================================== */

struct event_bus;

struct event_bus_ops {
	const char *name; /* "local", "pg" */
	/* Send (topic, json) to the subscribers of every node; local delivery happens through
	 * event_bus_deliver(bus, ...), now or later. Both strings are borrowed for the call. */
	enum err (*publish)(void *impl, struct event_bus *bus, const char *topic, const char *json);
	/* Stop the backend (join its listener: no event_bus_deliver after this returns) and
	 * free impl. May be NULL. */
	void (*destroy)(void *impl);
};

/* A subscriber. topic and json are borrowed for the duration of the call. It may publish (the
 * bus nests), but must not subscribe, unsubscribe or destroy the bus: those wait for every
 * delivery in progress, its own included. */
typedef void (*event_bus_fn)(void *ctx, const char *topic, const char *json);

/* A bus with the in-process backend. */
enum err event_bus_create(struct event_bus **out);
/* A bus over another backend; the bus owns impl from here on (ops->destroy frees it, also
 * when this call fails). ops is borrowed (static). */
enum err event_bus_create_with(const struct event_bus_ops *ops, void *impl, struct event_bus **out);
/* Stop the backend, then free the bus. No call may run concurrently. NULL is a no-op. */
void event_bus_destroy(struct event_bus *bus);

/* Call fn(ctx, topic, json) for every event whose topic starts with topic_prefix (byte-wise;
 * "" matches everything; end the prefix with ':' to match whole segments). The prefix is
 * copied. The same (prefix, fn, ctx) may be added twice and is then called twice. */
enum err event_bus_subscribe(struct event_bus *bus, const char *topic_prefix, event_bus_fn fn,
                             void *ctx);
/* Remove every subscription of (fn, ctx). When it returns, fn is not running for them and
 * will not be called again. ERR_NOT_FOUND when there was none. */
enum err event_bus_unsubscribe(struct event_bus *bus, event_bus_fn fn, void *ctx);

/* Publish json under topic. Thread-safe. ERR_BAD_FIELD for a malformed topic, ERR_BAD_JSON
 * for a NULL or empty payload, ERR_BAD_UTF8; otherwise what the backend returns (the
 * in-process backend cannot fail). Subscribers return nothing: their failures are theirs. */
enum err event_bus_publish(struct event_bus *bus, const char *topic, const char *json);

/* For backends: hand (topic, json) to this process's matching subscribers, in the calling
 * thread. Thread-safe. */
void event_bus_deliver(struct event_bus *bus, const char *topic, const char *json);

/* Is topic well-formed (see above)? */
bool event_topic_valid(const char *topic);

/* ==================================== end of event bus ================================ */

/* ======================================================================================
 * Outbox (outbox.c, outbox_store.c, outbox_http.c; table `events`, migration 0004)
 *
 * Anything that must reach another system (department submission, 办件库 report, archive,
 * rollups, notifications) is written as an event row IN THE SAME TRANSACTION as the
 * business change, with outbox_enqueue. Worker threads claim due rows in small batches under
 * a lease, call the handler registered for the row's kind outside any transaction, then mark
 * the row done, or schedule a retry with exponential backoff and jitter, or, after the
 * kind's last attempt, mark it dead for an operator to look at (GET /api/v1/admin/outbox)
 * and retry (POST /api/v1/admin/outbox/{id}/retry).
 *
 * Guarantees:
 *  - an event exists iff the transaction that enqueued it committed;
 *  - delivery is at-least-once: a process that dies between a delivery and its "done" mark
 *    leaves the row leased; when the lease runs out the row is claimed again. Handlers and
 *    the systems behind them dedupe on ev->idempotency_key;
 *  - one event is never handed to two handlers at the same time while its lease holds
 *    (lease_ms must exceed batch x the slowest delivery: default 8 x 30 s < 300 s);
 *  - events of a kind no handler is registered for stay pending (logged once per kind).
 * After each successful delivery {"id","kind","aggregate"} is published on the bus topic
 * "outbox:<kind>" when the server has a bus.
 * ====================================================================================== */

#include <stdint.h>

struct server;
struct module;
struct db_conn;
struct arena;
struct buf;
struct outbox;

/* What a handler sees. All strings are borrowed for the call. */
struct outbox_event {
	int64_t id;
	const char *kind;
	const char *aggregate; /* "case:123"; NULL when none was given */
	const char *payload;   /* JSON text, as enqueued */
	const char *idempotency_key;
	int attempts;       /* this delivery included: 1 on the first try */
	int64_t created_at; /* ms since the epoch */
};

/* Retry policy of one kind; zero fields take the defaults. */
struct outbox_policy {
	int max_attempts;        /* tries before the event goes dead; default 30 (with the other
	                            defaults about 9 to 18 hours of retrying) */
	int64_t base_backoff_ms; /* wait after the first failure; default 1000 */
	int64_t max_backoff_ms;  /* cap of the doubling wait; default 3600000 (1 h) */
};

/* Worker settings; zero fields take the defaults. */
struct outbox_config {
	int workers;      /* worker threads; default 2 */
	int batch;        /* events claimed per round trip; default 8, at most 256 */
	int64_t poll_ms;  /* idle wait between claims when not notified; default 500 */
	int64_t lease_ms; /* how long a claim holds before another worker may take it over;
	                     default 300000 */
	const char *node; /* name in locked_by (copied); default "<hostname>:<pid>" */
	/* Clock for due times, leases and backoff (tests inject one); default time_now_ms.
	 * Enqueue stamps rows with the wall clock, so an injected clock must not run behind
	 * it or new events would not be due yet. */
	int64_t (*now_ms)(void *clock_ctx);
	void *clock_ctx;
};

/* Deliver one event. Return ERR_OK when the receiver has it (the row becomes 'done');
 * ERR_INVALID when it can never be delivered (the row goes 'dead' at once); any other code
 * to have it retried later. errmsg (errmsg_sz bytes, starts empty) may receive a short
 * reason for operators, stored as last_error (the error code's name when left empty); it
 * must not contain personal data. Runs on a worker thread (or in outbox_run_once's caller),
 * concurrently with itself for other events, outside any database transaction. */
typedef enum err (*outbox_deliver_fn)(void *ctx, struct server *srv, const struct outbox_event *ev,
                                      char *errmsg, size_t errmsg_sz);

/* Write an event inside the caller's open write transaction on c (db_begin_write): it
 * commits or rolls back with the caller's change. kind: 1..64 of [a-z0-9._-]; aggregate
 * (may be NULL): at most 200 bytes; payload_json: one JSON value (NULL means "{}"), at most
 * 1 MiB; idempotency_key (NULL = a random one): 1..200 bytes, unique across all events.
 * *id_out (may be NULL) receives the row id. The caller should call outbox_notify after its
 * commit to have the event delivered at once rather than at the next poll.
 * Errors: ERR_BAD_FIELD / ERR_BAD_JSON for bad arguments; ERR_EXISTS when the idempotency
 * key is taken (the caller's transaction stays usable on both engines); database errors.
 * Called outside a transaction it would commit on its own, unlike the change it announces:
 * that is a caller bug the API cannot detect. a is used for scratch memory. */
enum err outbox_enqueue(struct db_conn *c, struct arena *a, const char *kind, const char *aggregate,
                        const char *payload_json, const char *idempotency_key, int64_t *id_out);

/* A stopped outbox for srv (srv->db must be open; srv->bus may be NULL). cfg may be NULL
 * for the defaults; it is copied. The caller owns *out (outbox_destroy). */
enum err outbox_create(struct server *srv, const struct outbox_config *cfg, struct outbox **out);
/* Route events of kind to deliver(ctx, ...). policy may be NULL for the defaults (copied).
 * Allowed before or after outbox_start; ctx must stay valid until outbox_stop returns.
 * ERR_EXISTS when kind has a handler already, ERR_BAD_FIELD for a malformed kind. */
enum err outbox_register(struct outbox *o, const char *kind, outbox_deliver_fn deliver, void *ctx,
                         const struct outbox_policy *policy);
/* Start the worker threads. ERR_CONFLICT when already started. */
enum err outbox_start(struct outbox *o);
/* Wake the workers now (after a commit that enqueued). Cheap; any thread; NULL is a no-op. */
void outbox_notify(struct outbox *o);
/* Graceful stop: deliveries in progress finish and are recorded, events claimed but not yet
 * started go back to pending, the threads are joined. Idempotent; NULL is a no-op. */
void outbox_stop(struct outbox *o);
/* Stop (if running) and free. NULL is a no-op. */
void outbox_destroy(struct outbox *o);

/* Claim and deliver one batch in the calling thread, whether or not workers run (tests,
 * tools). *delivered (may be NULL) receives the number of successful deliveries. */
enum err outbox_run_once(struct outbox *o, int *delivered);

/* Operator retry: a dead event goes back to pending, due now, attempts reset to 0 (its
 * last_error stays for the record) and the workers are woken (srv->outbox may be NULL).
 * ERR_NOT_FOUND when there is no such event, ERR_CONFLICT when it is not dead. */
enum err outbox_retry(struct server *srv, int64_t id);

/* Retention: delete up to limit (1..100000) delivered ('done') events whose delivery was
 * recorded before before_ms, oldest first, in a write transaction of its own (call again
 * while it deletes limit rows; the scheduler's job outbox.purge_done does). Pending,
 * delivering and dead events are never deleted. *deleted (may be NULL) receives how many. */
enum err outbox_purge_done(struct server *srv, int64_t before_ms, int limit, int64_t *deleted);

/* Append Prometheus text: shouli_outbox_depth{status} (pending, delivering, dead: read from
 * the database), shouli_outbox_delivered_total{kind}, shouli_outbox_failures_total{kind},
 * shouli_outbox_dead_total, shouli_outbox_delivery_seconds_{sum,count} (time in the
 * handler) and shouli_outbox_lag_seconds_{sum,count} (enqueue to done). Counters are this
 * process's since start. NULL o appends nothing. */
void outbox_metrics(struct outbox *o, struct buf *out);

/* The events module: its init creates and starts srv->outbox (other modules register their
 * handlers in their own init, after this one in the module list), its release stops and
 * frees it; routes GET /api/v1/admin/outbox and POST /api/v1/admin/outbox/{id}/retry
 * (permission system.config). */
extern const struct module events_module;

/* ====================================== end of outbox ================================= */

#endif
