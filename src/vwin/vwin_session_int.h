/* vwin_session_int.h: what vwin_session.c and vwin_session_http.c share (other modules use
 * vwin.h). docs/vwin.md "Sessions" is the design. */
#ifndef SHOULI_VWIN_SESSION_INT_H
#define SHOULI_VWIN_SESSION_INT_H

#include <jansson.h>
#include <stdbool.h>

#include "core/arena.h"
#include "core/err.h"
#include "vwin/vwin.h"

struct principal;
struct server;

#define VWIN_SESSION_DB_WAIT 5000
#define VWIN_GRANT_MS        (4 * 3600 * 1000LL) /* a side's topic grant, renewed at each join */

/* Which side acts: the clerk (a console session) or the terminal (its device session). */
enum vwin_side { VWIN_CLERK, VWIN_TERMINAL };

/* A session as stored (strings from the arena). */
struct vwin_session {
	int64_t id, ticket_id, terminal_user_id, centre_id, window_id, clerk_id;
	const char *terminal, *point, *case_no, *provider, *room, *state, *end_reason;
	const char *centre_path;
	int64_t clerk_joined_at, terminal_joined_at, ended_at, created_at, updated_at, version;
};

/* The caller, checked to be the session's side: ERR_NOT_FOUND (404) when the session does
 * not exist or the caller is not its clerk / terminal. */
struct vwin_actor {
	const struct principal *who;
	enum vwin_side side;
	const char *client_ip, *trace_id;
};

enum err vwin_session_get(struct server *srv, const struct vwin_actor *by, struct arena *a,
                          int64_t id, json_t **out, struct errinfo *ei);
/* The latest session of a ticket, as vwin_session_get shows it. */
enum err vwin_session_of_ticket(struct server *srv, const struct vwin_actor *by, struct arena *a,
                                int64_t ticket_id, json_t **out, struct errinfo *ei);
enum err vwin_session_join(struct server *srv, const struct vwin_actor *by, struct arena *a,
                           int64_t id, json_t **out, struct errinfo *ei);
enum err vwin_session_signal(struct server *srv, const struct vwin_actor *by, struct arena *a,
                             int64_t id, const char *type, const json_t *data, struct errinfo *ei);
enum err vwin_session_end(struct server *srv, const struct vwin_actor *by, struct arena *a,
                          int64_t id, const char *reason, json_t **out, struct errinfo *ei);
/* Clerk: link the case opened in the call. */
enum err vwin_session_link_case(struct server *srv, const struct vwin_actor *by, struct arena *a,
                                int64_t id, const char *case_no, json_t **out, struct errinfo *ei);
/* Clerk, seed row 6: open the case of the call (POST …/sessions/{id}/case with
 * sub_item_code) through cases_open with entry "virtual", the session, point and point kind
 * recorded on the case, and link it in the same write unit. Only the session's clerk (403),
 * session waiting/active and without a case (409), the clerk's centre the session's (409);
 * the item's rules are the cases module's (409 "entry" for an original item). On
 * ERR_DUPLICATE *duplicates (may be NULL) gets the open case numbers. */
struct vwin_case_req {
	const char *sub_item_code, *mode; /* mode "direct" | "separated" */
	int64_t resident_id;
	bool allow_duplicate;
};
enum err vwin_session_open_case(struct server *srv, const struct vwin_actor *by, struct arena *a,
                                int64_t id, const struct vwin_case_req *in, json_t **out,
                                json_t **duplicates, struct errinfo *ei);
/* The terminal's 收受分离 items (GET /api/v1/terminal/items?separated=1): {items: [{code,
 * name, short_name, department: {id, name, short_name}, vwin_mode, home_service, citywide,
 * sub_items: [{code, name}]}], total} — current items with separated true and vwin_mode
 * virtual or dual (vwin_session_items.c). */
enum err vwin_separated_items(struct server *srv, struct arena *a, json_t **out);
/* Clerk: an in-call command (body: kind, role, point, mode). */
enum err vwin_session_command(struct server *srv, const struct vwin_actor *by, struct arena *a,
                              int64_t id, const json_t *body, json_t **out, struct errinfo *ei);
/* Terminal: a command's result (body: ok, message, type_flag, reader, card). */
enum err vwin_session_result(struct server *srv, const struct vwin_actor *by, struct arena *a,
                             int64_t id, int64_t cid, const json_t *body, json_t **out,
                             struct errinfo *ei);
/* Terminal: the print-and-sign photo of command cid is the request's raw body (stored as a
 * kiosk_photo entry of the application_form material through the materials upload). */
enum err vwin_session_photo(struct req *r, int64_t id, int64_t cid, json_t **out);
/* The evidence trail of the session with "valid" re-verified. */
enum err vwin_session_evidence(struct server *srv, const struct vwin_actor *by, struct arena *a,
                               int64_t id, json_t **out, struct errinfo *ei);

/* ---- shared by vwin_session.c and vwin_session_jobs.c ---- */
#define VWIN_SESSION_COLS                                                                          \
	"s.id, s.ticket_id, s.terminal_user_id, s.centre_id, s.window_id, s.clerk_id,"             \
	" s.terminal, s.point, s.case_no, s.provider, s.room, s.state, s.end_reason, o.path,"      \
	" s.clerk_joined_at, s.terminal_joined_at, s.ended_at, s.created_at, s.updated_at,"        \
	" s.version"

struct db_conn;
struct db_rows;
/* Row r of a SELECT of VWIN_SESSION_COLS (FROM vwin_sessions s JOIN orgs o ON o.id =
 * s.centre_id) into s. */
void vwin_session_row(const struct db_rows *rs, int r, struct vwin_session *s);
/* The first row of sql (a SELECT of VWIN_SESSION_COLS as above, with one integer parameter
 * arg) into s; ERR_NOT_FOUND when it has none. */
enum err vwin_session_query(struct db_conn *c, struct arena *a, const char *sql, int64_t arg,
                            struct vwin_session *s);
/* Session id on c; ERR_NOT_FOUND. */
enum err vwin_session_load(struct db_conn *c, struct arena *a, int64_t id, struct vwin_session *s);
/* Append one row to the session's evidence chain inside the caller's write unit (payload
 * borrowed; stored as canonical JSON). */
enum err vwin_evidence_append(struct db_conn *c, struct arena *a, const struct vwin_session *s,
                              const char *kind, const json_t *payload, int64_t now);
/* Inside a write unit: an open or dropped session becomes state ("ended" | "dropped") with
 * reason, and its evidence row. ERR_BAD_STATE when it was not open. */
enum err vwin_session_end_with(struct db_conn *c, struct arena *a, struct vwin_session *s,
                               const char *state, const char *reason, int64_t now);
/* After such a commit: close the room (ended) and tell both sides. */
void vwin_session_after(struct server *srv, struct arena *a, const struct vwin_session *s,
                        const char *state, const char *reason);
/* Let user subscribe to session:<id>:<side> (on every node, through the bus). */
void vwin_session_grant(struct server *srv, struct arena *a, int64_t id, const char *side,
                        int64_t user_id);

/* The bus subscriber of "vwin:grant": applies a grant to this node's hub authoriser. */
void vwin_session_grant_heard(void *ctx, const char *topic, const char *json);

/* The queue hooks and the sweeper job (registered by the module's init). */
enum err vwin_session_hooks_register(struct server *srv);
/* One sweep at now_ms: sessions whose terminal lapsed or that saw no activity for
 * VWIN_SESSION_IDLE_MS become dropped (their ticket suspended); open sessions of finished
 * tickets end. *n gets how many changed. */
enum err vwin_session_sweep(struct server *srv, int64_t now_ms, int64_t *n);

#endif
