/* outbox_int.h: what outbox.c, outbox_store.c and outbox_http.c share (and the unit tests,
 * which simulate a worker that dies between claim and finish). */
#ifndef SHOULI_OUTBOX_INT_H
#define SHOULI_OUTBOX_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "db/db.h"
#include "events/events.h"

#define OUTBOX_KIND_MAX      64
#define OUTBOX_AGGREGATE_MAX 200
#define OUTBOX_KEY_MAX       200
#define OUTBOX_PAYLOAD_MAX   (1u << 20)
#define OUTBOX_ERROR_MAX     500 /* last_error is cut to this many bytes (at a UTF-8 boundary) */
#define OUTBOX_BATCH_MAX     256
#define OUTBOX_LIST_MAX      500

/* Reasons the outbox itself writes to last_error; operators read them. */
#define OUTBOX_WHY_LEASE_EXPIRED   "投递租约过期（投递进程中断或超时），已重新排队"
#define OUTBOX_WHY_LEASE_EXHAUSTED "投递租约多次过期（投递进程中断或超时），尝试次数已用完"

/* Row states, in the order counts are reported. */
enum outbox_status { OUTBOX_PENDING, OUTBOX_DELIVERING, OUTBOX_DONE, OUTBOX_DEAD, OUTBOX_NSTATUS };
extern const char *const outbox_status_names[OUTBOX_NSTATUS];
/* Index of a status name, -1 when it is none of them. */
int outbox_status_parse(const char *s);

/* Is kind 1..OUTBOX_KIND_MAX bytes of [a-z0-9._-]? (It also becomes a bus topic segment.) */
bool outbox_kind_valid(const char *kind);

/* How a claimed event ends. */
enum outbox_outcome {
	OUTBOX_OUT_DONE,    /* delivered */
	OUTBOX_OUT_RETRY,   /* failed: pending again at next_at */
	OUTBOX_OUT_DEAD,    /* failed for good */
	OUTBOX_OUT_RELEASE, /* never tried (stopping): pending again, the claim's attempt undone */
};

/* ---- store (outbox_store.c): SQL only; the caller runs the transactions ---- */

/* Insert a pending event due at now; ERR_EXISTS when key is taken (no row written, and on
 * PostgreSQL the transaction is not aborted). */
enum err outbox_store_insert(struct db_conn *c, struct arena *a, const char *kind,
                             const char *aggregate, const char *payload, const char *key,
                             int64_t now, int64_t *id_out);
/* Leases that ran out by now go back to pending with last_error = why. *n (may be NULL)
 * receives how many. pg: skip rows another transaction holds. */
enum err outbox_store_reap(struct db_conn *c, struct arena *a, bool pg, int64_t now,
                           const char *why, int64_t *n);
/* Lease up to limit due pending events of the given kinds to token until lease_until,
 * counting the attempt. Result columns: id, kind, aggregate, payload, idempotency_key,
 * attempts, created_at (rows in no particular order). */
enum err outbox_store_claim(struct db_conn *c, struct arena *a, bool pg, const char *const *kinds,
                            int nkinds, const char *token, int64_t now, int64_t lease_until,
                            int limit, struct db_rows **rows);
/* Record the outcome of a claimed event, if token still holds its lease (*held false when
 * not: the lease ran out and another worker took the event over). next_at is used by
 * RETRY, error by RETRY and DEAD. */
enum err outbox_store_finish(struct db_conn *c, struct arena *a, int64_t id, const char *token,
                             enum outbox_outcome oc, int64_t now, int64_t next_at,
                             const char *error, bool *held);
/* dead -> pending due at now, attempts 0, inside the caller's write transaction.
 * ERR_NOT_FOUND / ERR_CONFLICT (not dead). */
enum err outbox_store_retry(struct db_conn *c, struct arena *a, int64_t id, int64_t now);
/* Rows per status; with_done false skips counting 'done' (which grows without bound) and
 * leaves counts[OUTBOX_DONE] at -1. */
enum err outbox_store_counts(struct db_conn *c, struct arena *a, bool with_done,
                             int64_t counts[OUTBOX_NSTATUS]);
/* Newest first: status and kind (NULL = any), id < before_id (0 = no bound). Columns: id,
 * kind, aggregate, status, attempts, last_error, created_at, next_attempt_at. */
enum err outbox_store_list(struct db_conn *c, struct arena *a, const char *status, const char *kind,
                           int64_t before_id, int limit, struct db_rows **rows);
/* Distinct kinds of pending events (at most limit of them); column: kind. */
enum err outbox_store_pending_kinds(struct db_conn *c, struct arena *a, int limit,
                                    struct db_rows **rows);

/* ---- outbox.c ---- */

/* The outbox's clock (time_now_ms unless the config injected one). */
int64_t outbox_now(const struct outbox *o);

/* Claim one batch exactly as a worker does, and deliver nothing: the events stay leased to
 * *token (may be NULL), which nobody will finish. For tests of lease expiry (a worker that
 * died, or stalled, after its claim). *evs and *token (arena memory) receive *n events and
 * the claim's token. */
enum err outbox_claim_abandon(struct outbox *o, struct arena *a, struct outbox_event **evs, int *n,
                              const char **token);

#endif
