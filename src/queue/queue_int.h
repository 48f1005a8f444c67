/* queue_int.h: declarations shared inside src/queue/ only. */
#ifndef SHOULI_QUEUE_INT_H
#define SHOULI_QUEUE_INT_H

#include <jansson.h>

#include "core/arena.h"
#include "core/err.h"
#include "http/http.h"
#include "queue/queue.h"

struct db_conn;

#define QUEUE_DB_WAIT_MS 5000

/* Who acts: a signed-in user (who), or the resident's terminal holding the ticket's secret
 * (who NULL, token set), or the sweeper (both NULL: audited as "system"). */
struct queue_caller {
	const struct principal *who;
	const char *token;
	const char *client_ip;
	const char *trace_id;
};

/* The centre with id (level 'centre'); *path gets its org path (from a). ERR_NOT_FOUND when
 * there is none; ERR_NOT_FOUND too when who is given and its scope does not cover it. */
enum err queue_centre_load(struct db_conn *c, struct arena *a, int64_t id,
                           const struct principal *who, const char **path, const char **name);
/* The centre an admin request is about: centre_id when > 0, else the caller's own org. */
enum err queue_centre_resolve(struct db_conn *c, struct arena *a, const struct principal *who,
                              int64_t centre_id, int64_t *id, const char **path,
                              struct errinfo *ei);

/* Append an audit entry for by inside the open write transaction on c. */
enum err queue_audit(struct db_conn *c, struct arena *a, const struct queue_caller *by,
                     const char *action, const char *target, const json_t *detail);

/* The centre's board: {"centre_id","day","groups":[{"id","code","name","waiting"}],
 * "calling":[{"ticket_no","state","window":{"code","name"},"called_at","call_count"}],
 * "waiting":[{"ticket_no","group","issued_at"}] (first 50 by issue time)}. New reference. */
enum err queue_board_json(struct db_conn *c, struct arena *a, int64_t org_id, json_t **out);
/* After a commit: read the board and publish {"event","ticket","board"} on
 * scope:<org path>:queue. ticket may be NULL. Failures are logged, not returned. */
void queue_board_publish(struct server *srv, int64_t org_id, const char *event,
                         const json_t *ticket);
/* After a commit, from queue_board_publish (queue_live.c): each waiting ticket of the centre
 * that has a terminal → {"event":"position","ticket_id","ticket_no","state":"waiting",
 * "position","wait":{"ahead","minutes","low","high"}} on terminal:<code>:queue, from one
 * ranking query for the centre — unless event (the board's) is an action that cannot change
 * the waiting line (recall, skip, start, finish, suspend, resume, force_skip, move_propose);
 * ticket (may be NULL), when it has a terminal and is no longer waiting, → the same with its
 * state and null position and wait. Failures are logged. */
void queue_positions_publish(struct server *srv, struct db_conn *c, struct arena *a, int64_t org_id,
                             const char *event, const json_t *ticket);

/* ---- tickets (queue_tickets.c) ---- */
struct queue_issue_req {
	int64_t centre_id;
	const char *group_code; /* or */
	const char *item_code;
	const char *source; /* "onsite" | "terminal" */
	const char *terminal, *point;
	const json_t *location; /* {lng, lat, accuracy_m} from a terminal (src/vwin) or NULL */
};
enum err queue_ticket_issue(struct server *srv, const struct queue_caller *by, struct arena *a,
                            const struct queue_issue_req *in, json_t **out, struct errinfo *ei);
enum err queue_call_next(struct server *srv, const struct queue_caller *by, struct arena *a,
                         int64_t window_id, json_t **out, struct errinfo *ei);
/* A clerk's or terminal's action on one ticket; body holds the action's members. */
enum err queue_ticket_act(struct server *srv, const struct queue_caller *by, struct arena *a,
                          int64_t ticket_id, const char *action, const json_t *body, json_t **out,
                          struct errinfo *ei);
enum err queue_ticket_status(struct server *srv, const struct queue_caller *by, struct arena *a,
                             int64_t ticket_id, json_t **out, struct errinfo *ei);
enum err queue_ticket_rate(struct server *srv, const struct queue_caller *by, struct arena *a,
                           int64_t ticket_id, const json_t *body, json_t **out, struct errinfo *ei);
enum err queue_centres(struct server *srv, struct arena *a, const char *item_code, json_t **out,
                       struct errinfo *ei);
/* Live wait of group gid at org: tickets waiting ahead of issued_at (0 = all waiting). */
enum err queue_wait_of(struct db_conn *c, struct arena *a, int64_t org_id, int64_t gid,
                       int64_t before_issued_at, int64_t *ahead, struct queue_wait *w,
                       int *windows);

/* ---- admin (queue_admin.c) ---- */
enum err queue_admin_groups(struct server *srv, const struct queue_caller *by, struct arena *a,
                            int64_t centre_id, json_t **out, struct errinfo *ei);
enum err queue_admin_group_save(struct server *srv, const struct queue_caller *by, struct arena *a,
                                int64_t id, const json_t *body, json_t **out, struct errinfo *ei);
enum err queue_admin_windows(struct server *srv, const struct queue_caller *by, struct arena *a,
                             int64_t centre_id, json_t **out, struct errinfo *ei);
enum err queue_admin_window_save(struct server *srv, const struct queue_caller *by, struct arena *a,
                                 int64_t id, const json_t *body, json_t **out, struct errinfo *ei);
enum err queue_window_sign(struct server *srv, const struct queue_caller *by, struct arena *a,
                           int64_t window_id, bool in, json_t **out, struct errinfo *ei);
enum err queue_followups(struct server *srv, const struct queue_caller *by, struct arena *a,
                         int64_t centre_id, const char *state, json_t **out, struct errinfo *ei);
enum err queue_followup_close(struct server *srv, const struct queue_caller *by, struct arena *a,
                              int64_t id, const char *note, json_t **out, struct errinfo *ei);

/* ---- hooks (queue_http.c) ---- */
/* Run the hooks of action after its commit (ticket borrowed; who may be NULL). */
void queue_hooks_run(struct server *srv, const char *action, const struct principal *who,
                     const json_t *ticket);

/* ---- jobs (queue_jobs.c) ---- */
enum err queue_jobs_register(struct server *srv);
/* One sweep at now_ms; *resolved (may be NULL) gets how many tickets and evaluations it
 * ended. */
enum err queue_sweep(struct server *srv, int64_t now_ms, int64_t *resolved);

#endif
