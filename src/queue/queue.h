/* queue.h: queues and tickets of the centres (排队叫号, docs/queue.md) — item groups and
 * windows, ticket issuance on site and from terminals, calling, change of centre, abnormal
 * tickets, evaluations (好差评) and the wait estimate. The one public header of src/queue/.
 *
 * Every change of a ticket is one write unit (db_write_unit): the ticket row, its audit
 * entry and, where it applies, the statistics event or the 差评 follow-up commit together.
 * After the commit the centre's board is published on the bus topic
 * "scope:<org path>:queue" ({"event","ticket","board"}), which the WebSocket hub lets
 * everyone whose data scope covers the centre subscribe to.
 *
 * The pure functions below (numbers, days, states, wait estimate) have no state and are
 * what the unit tests check; the rest run behind the module's routes. */
#ifndef SHOULI_QUEUE_H
#define SHOULI_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "core/err.h"

struct module;
struct server;

/* The module (src/server/modules.c): routes under /api/v1/queue and
 * /api/v1/admin/queue, and the scheduled jobs queue.sweep and queue.daily_reset. */
extern const struct module queue_module;

/* ---- limits (docs/queue.md "Abnormal tickets") ---- */
#define QUEUE_CALLED_LIMIT_MS    (15 * 60 * 1000LL)  /* called, never started → skipped */
#define QUEUE_SERVING_LIMIT_MS   (2 * 3600 * 1000LL) /* serving without activity → done */
#define QUEUE_SUSPEND_LIMIT_MS   (10 * 60 * 1000LL)  /* resume allowed within; then skipped */
#define QUEUE_EVAL_LIMIT_MS      (30 * 60 * 1000LL)  /* pending evaluation → expired */
#define QUEUE_FOLLOWUP_WORKDAYS  5                   /* 差评 follow-up due in working days */
#define QUEUE_DEFAULT_SERVICE_MS (6 * 60 * 1000LL)   /* when a group has too few samples */

/* ---- numbers and days ---- */

/* Is code a group code: 1–2 upper-case letters A–Z? */
bool queue_group_code_valid(const char *code);
/* The ticket number shown to people: group code + n zero-padded to 3 digits ("A001",
 * "B120", "A1000"). out must hold at least 16 bytes; false when code is invalid or n < 1. */
bool queue_ticket_label(const char *code, int64_t n, char *out, size_t outsz);
/* The Asia/Shanghai calendar day (fixed UTC+08:00) of ms since the epoch, "YYYY-MM-DD". */
void queue_day_of(int64_t ms, char out[11]);

/* ---- states ----
 * States: waiting, called, serving, suspended (terminal dropped), done, skipped (过号),
 * cancelled, expired. Actions: call, recall, skip, start, finish, transfer, suspend, resume,
 * force_skip, move, cancel, expire. The table is in queue.c; docs/queue.md shows it. */
extern const char *const queue_states[];  /* NULL-terminated */
extern const char *const queue_actions[]; /* NULL-terminated */
/* Is action allowed from state? *to (may be NULL) gets the target state; for resume it is
 * "" (back to the state before the suspension). Unknown names: false. */
bool queue_transition(const char *state, const char *action, const char **to);
/* Is state final (no action but none leaves it)? */
bool queue_state_final(const char *state);
/* zh-CN labels; the input itself when unknown. */
const char *queue_state_label(const char *state);
const char *queue_action_label(const char *action);

/* ---- wait estimate ----
 * From the durations (ms) of recently finished services of the group, the number of tickets
 * ahead and the windows serving the group now (docs/queue.md "Estimated wait"):
 *   m = mean, q1/q3 = lower/upper quartiles (nearest rank) of the samples; with fewer than
 *   QUEUE_WAIT_MIN_SAMPLES samples m = QUEUE_DEFAULT_SERVICE_MS, q1 = 2/3 m, q3 = 5/3 m;
 *   w = max(1, windows);
 *   minutes = ceil(ahead * m / w), low = floor(ahead * q1 / w), high = ceil(ahead * q3 / w)
 *   (in minutes, high >= minutes >= low). durations is not modified (it is copied). */
#define QUEUE_WAIT_MIN_SAMPLES 5
#define QUEUE_WAIT_MAX_SAMPLES 200
struct queue_wait {
	int64_t minutes, low, high;
	int64_t mean_service_ms;
	int samples; /* how many durations were used (0 = the default) */
};
void queue_wait_estimate(const int64_t *durations, int n, int64_t ahead, int windows,
                         struct queue_wait *out);

/* ---- after-commit hooks ----
 * fn(srv, action, who, ticket, ctx) runs after a committed "call" (call_next), "recall",
 * "skip", "start", "finish", "transfer", "suspend", "force_skip", "resume" or "rating" of a
 * ticket, in the caller's thread, with the ticket as GET /api/v1/queue/tickets/{id} shows it
 * (borrowed) and who the clerk who acted (NULL for the terminal's resume and rating and for
 * the system). For "rating" the ticket carries one more member, "rating": {id, level, bad,
 * comment (or null), tags, followup_id (or null)}, the evaluation just stored. Best
 * effort: the change is committed whatever the hook does (the video session pre-warms its
 * room from "call"; its sweeper repairs what a failed hook left). Register in a module's
 * init, after the queue module's: ERR_CONFIG when the queue module is not running,
 * ERR_TOO_LARGE past QUEUE_HOOKS_MAX. */
#define QUEUE_HOOKS_MAX 16
struct principal;
typedef void (*queue_hook)(struct server *srv, const char *action, const struct principal *who,
                           const json_t *ticket, void *ctx);
enum err queue_hook_on(struct server *srv, const char *action, queue_hook fn, void *ctx);

/* The ticket's terminal was lost (the video session's sweeper, docs/vwin.md): a called or
 * serving ticket becomes suspended, as the clerk's suspend would make it, audited as the
 * system with reason (queue.ticket.suspend); the board is published and the hooks run.
 * ERR_BAD_STATE when the ticket is in another state, ERR_NOT_FOUND. */
enum err queue_ticket_suspend_lost(struct server *srv, int64_t ticket_id, const char *reason);

/* ---- demo data ----
 * Groups A (社会保障, department "rensha"), B (民政, "minzheng"), C (综合, everything else is
 * left to the operator) and three windows for every demo centre (orgs of level 'centre' whose
 * code ends in "C1") that has no group yet. Call after auth_seed_demo on `serve --demo`;
 * a no-op for centres that have groups. report (may be NULL) gets one line. */
enum err queue_seed_demo(struct server *srv, FILE *report);

#endif
