/* vwin_session_jobs.c: pre-warming a session when a terminal's ticket is called, following
 * the ticket's later actions (queue hooks), and the sweeper job vwin.sessions_sweep
 * (docs/vwin.md "Sessions"). */
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "events/events.h"
#include "http/http.h"
#include "queue/queue.h"
#include "sched/sched.h"
#include "server/server.h"
#include "vwin/vwin_int.h"
#include "vwin/vwin_session_int.h"

/* ---- pre-warming and the ticket's other actions (queue hooks) ---- */

static const char *setting(struct db_conn *c, struct arena *a, const char *key)
{
	struct db_rows *rs = NULL;
	if (db_exec(c, a, &rs, "SELECT value FROM settings WHERE key = ?", "s", key) ||
	    rs->nrows != 1)
		return NULL;
	return db_text(rs, 0, 0);
}

struct create_ctx {
	struct arena *a;
	struct vwin_session s;
	const char *ticket_no;
};

static enum err create_unit(struct db_conn *c, void *ctx)
{
	struct create_ctx *x = ctx;
	struct vwin_session *s = &x->s;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	/* a recall or a retried hook finds the session already there */
	enum err e = db_exec(c, x->a, &rs,
	                     "SELECT id FROM vwin_sessions WHERE ticket_id = ? AND state IN"
	                     " ('waiting', 'active')",
	                     "i", s->ticket_id);
	if (e)
		return e;
	if (rs->nrows) {
		s->id = db_int(rs, 0, 0);
		return ERR_EXISTS;
	}
	if ((e = db_exec(c, x->a, &rs,
	                 "INSERT INTO vwin_sessions (ticket_id, terminal, terminal_user_id, point,"
	                 " centre_id, window_id, clerk_id, provider, room, state, created_at,"
	                 " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'waiting', ?, ?)"
	                 " RETURNING id",
	                 "isisiiissii", s->ticket_id, s->terminal, s->terminal_user_id, s->point,
	                 s->centre_id, s->window_id, s->clerk_id, s->provider, s->room, now, now)))
		return e;
	s->id = db_int(rs, 0, 0);
	json_t *p =
	    json_pack("{s:I,s:s?,s:s,s:s?,s:I,s:I,s:s,s:s}", "ticket_id", (json_int_t)s->ticket_id,
	              "ticket_no", x->ticket_no, "terminal", s->terminal, "point", s->point,
	              "centre_id", (json_int_t)s->centre_id, "clerk_id", (json_int_t)s->clerk_id,
	              "provider", s->provider, "room", s->room);
	e = p ? vwin_evidence_append(c, x->a, s, "call", p, now) : ERR_NOMEM;
	json_decref(p);
	return e;
}

static void tell_terminal(struct server *srv, struct arena *a, const struct vwin_session *s,
                          const json_t *ticket)
{
	json_t *m = json_pack(
	    "{s:s,s:I,s:I,s:s?,s:O?,s:I,s:s?}", "type", "call", "session", (json_int_t)s->id,
	    "centre", (json_int_t)json_get_int(json_object_get(ticket, "centre"), "id", 0),
	    "centre_name", json_get_str(json_object_get(ticket, "centre"), "name"), "window",
	    json_object_get(ticket, "window"), "ticket_id", (json_int_t)s->ticket_id, "ticket_no",
	    json_get_str(ticket, "ticket_no"));
	if (m)
		vwin_terminal_publish(srv, s->terminal, "events", m);
	json_decref(m);
	vwin_session_grant(srv, a, s->id, "terminal", s->terminal_user_id);
	vwin_session_grant(srv, a, s->id, "clerk", s->clerk_id);
}

static void prewarm(struct server *srv, struct arena *a, const struct principal *who,
                    const json_t *ticket)
{
	struct create_ctx x = {.a = a};
	struct vwin_session *s = &x.s;
	struct vwin_terminal t;
	struct db_conn *c = NULL;
	const char *centre_code = NULL, *cv = NULL, *gv = NULL;
	s->ticket_id = json_get_int(ticket, "id", 0);
	s->terminal = json_get_str(ticket, "terminal");
	s->point = json_get_str(ticket, "point");
	s->centre_id = json_get_int(json_object_get(ticket, "centre"), "id", 0);
	s->window_id = json_get_int(json_object_get(ticket, "window"), "id", 0);
	s->clerk_id = who ? who->user_id : 0;
	x.ticket_no = json_get_str(ticket, "ticket_no");
	if (!s->terminal || !s->clerk_id)
		return;
	if (vwin_terminal_load(srv, NULL, a, s->terminal, &t)) {
		log_warn("vwin.session.prewarm", "ticket %lld: terminal %s is not registered",
		         (long long)s->ticket_id, s->terminal);
		return;
	}
	s->terminal_user_id = t.user_id;
	if (!db_acquire(srv->db, VWIN_SESSION_DB_WAIT, &c)) {
		struct db_rows *rs = NULL;
		if (!db_exec(c, a, &rs, "SELECT code FROM orgs WHERE id = ?", "i", s->centre_id) &&
		    rs->nrows == 1)
			centre_code = db_text(rs, 0, 0);
		cv = centre_code
		         ? setting(c, a, arena_printf(a, "vwin_video_provider:%s", centre_code))
		         : NULL;
		gv = setting(c, a, "vwin_video_provider");
	}
	db_release(c);
	s->provider = vwin_provider_choose(cv, gv);
	const struct vwin_video_provider *p = vwin_provider_find(s->provider);
	struct errinfo ei = {0};
	if (p->create_room(srv, a, s->ticket_id, NULL, &s->room, &ei)) {
		/* the resident must not wait on a provider outage: fall back to the built-in one */
		log_warn("vwin.session.prewarm", "ticket %lld: provider %s: %s; using webrtc",
		         (long long)s->ticket_id, s->provider,
		         ei.msg ? ei.msg : "room not created");
		p = vwin_provider_find("webrtc");
		s->provider = p->name;
		if (p->create_room(srv, a, s->ticket_id, NULL, &s->room, &ei))
			return;
	}
	enum err e = db_write_unit(srv->db, create_unit, &x, VWIN_SESSION_DB_WAIT);
	if (e == ERR_EXISTS) {
		p->close_room(srv, a, s->room);
		struct db_conn *c2 = NULL;
		if (db_acquire(srv->db, VWIN_SESSION_DB_WAIT, &c2) ||
		    vwin_session_load(c2, a, s->id, s)) {
			db_release(c2);
			return;
		}
		db_release(c2);
	} else if (e) {
		log_warn("vwin.session.prewarm", "ticket %lld: session not stored (%s)",
		         (long long)s->ticket_id, err_code(e));
		p->close_room(srv, a, s->room);
		return;
	}
	tell_terminal(srv, a, s, ticket);
}

struct close_ctx {
	struct arena *a;
	struct vwin_session *s;
	const char *state, *reason;
};

static enum err close_unit(struct db_conn *c, void *ctx)
{
	struct close_ctx *x = ctx;
	int64_t now = time_now_ms();
	if (!strcmp(x->state, "waiting")) {
		/* back from a drop (the ticket resumed or was recalled): both sides join again */
		struct db_rows *rs = NULL;
		enum err e =
		    db_exec(c, x->a, &rs,
		            "UPDATE vwin_sessions SET state = 'waiting', clerk_joined_at ="
		            " NULL, terminal_joined_at = NULL, ended_at = NULL, end_reason ="
		            " NULL, updated_at = ?, version = version + 1 WHERE id = ? AND"
		            " state = 'dropped'",
		            "ii", now, x->s->id);
		if (e || rs->changes != 1)
			return e ? e : ERR_BAD_STATE;
		json_t *p = json_pack("{s:s}", "reason", x->reason);
		e = p ? vwin_evidence_append(c, x->a, x->s, "rejoin", p, now) : ERR_NOMEM;
		json_decref(p);
		return e;
	}
	return vwin_session_end_with(c, x->a, x->s, x->state, x->reason, now);
}

/* Move session s to state ("ended", "dropped", or "waiting" from dropped) in a unit of its
 * own, with its evidence row. */
static enum err close_session(struct server *srv, struct arena *a, struct vwin_session *s,
                              const char *state, const char *reason)
{
	struct close_ctx x = {a, s, state, reason};
	return db_write_unit(srv->db, close_unit, &x, VWIN_SESSION_DB_WAIT);
}

/* The latest session of a ticket that is not ended. */
static enum err of_ticket(struct server *srv, struct arena *a, int64_t tid, struct vwin_session *s)
{
	struct db_conn *c = NULL;
	enum err e = db_acquire(srv->db, VWIN_SESSION_DB_WAIT, &c);
	if (!e)
		e = vwin_session_query(
		    c, a,
		    "SELECT " VWIN_SESSION_COLS " FROM vwin_sessions s JOIN orgs o ON o.id ="
		    " s.centre_id WHERE s.ticket_id = ? AND s.state IN ('waiting',"
		    " 'active', 'dropped') ORDER BY s.id DESC LIMIT 1",
		    tid, s);
	db_release(c);
	return e;
}

/* The ticket moved on: its session follows (recall/resume: told again; suspend: dropped;
 * finish, skip, force_skip, transfer: ended). */
static void on_ticket(struct server *srv, const char *action, const struct principal *who,
                      const json_t *ticket, void *ctx)
{
	(void)ctx;
	struct arena a;
	struct vwin_session s;
	arena_init(&a, 4u << 20);
	if (!strcmp(action, "call")) {
		if (json_get_str(ticket, "source") &&
		    !strcmp(json_get_str(ticket, "source"), "terminal"))
			prewarm(srv, &a, who, ticket);
		goto out;
	}
	if (of_ticket(srv, &a, json_get_int(ticket, "id", 0), &s))
		goto out;
	const char *reason = arena_printf(&a, "ticket:%s", action);
	if (!strcmp(action, "recall") || !strcmp(action, "resume")) {
		if (!strcmp(s.state, "dropped") && close_session(srv, &a, &s, "waiting", reason))
			goto out;
		tell_terminal(srv, &a, &s, ticket);
		goto out;
	}
	if (!strcmp(action, "start"))
		goto out;
	const char *state = !strcmp(action, "suspend") ? "dropped" : "ended";
	if (!strcmp(state, s.state))
		goto out;
	if (!close_session(srv, &a, &s, state, reason))
		vwin_session_after(srv, &a, &s, state, reason);
out:
	arena_release(&a);
}

/* ---- the evaluation (好差评) in the evidence trail ---- */

struct rating_ctx {
	struct arena *a;
	int64_t ticket_id;
	const char *case_no; /* the ticket's, when the session linked none */
	const json_t *payload;
	int64_t session_id;
};

static enum err rating_unit(struct db_conn *c, void *ctx)
{
	struct rating_ctx *x = ctx;
	struct db_rows *rs = NULL;
	struct vwin_session s;
	/* the ticket's latest session, ended or not: the rating comes after the service */
	enum err e = db_exec(c, x->a, &rs,
	                     "SELECT " VWIN_SESSION_COLS
	                     " FROM vwin_sessions s JOIN orgs o ON o.id = s.centre_id WHERE"
	                     " s.ticket_id = ? ORDER BY s.id DESC LIMIT 1",
	                     "i", x->ticket_id);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	vwin_session_row(rs, 0, &s);
	if (!s.case_no)
		s.case_no = x->case_no;
	x->session_id = s.id;
	return vwin_evidence_append(c, x->a, &s, "evaluation", x->payload, time_now_ms());
}

/* The resident rated the service of a ticket (the queue's "rating" hook): when the ticket
 * had a video session, the evaluation joins that session's chain. The comment is the
 * resident's free text: the chain keeps its SM3 (the rating row keeps the text). */
static void on_rating(struct server *srv, const char *action, const struct principal *who,
                      const json_t *ticket, void *ctx)
{
	(void)action, (void)who, (void)ctx;
	struct arena a;
	const json_t *r = json_object_get(ticket, "rating");
	const char *comment = json_get_str(r, "comment");
	char digest_hex[65] = "";
	if (!r)
		return;
	if (comment && *comment)
		vwin_hash(comment, digest_hex);
	arena_init(&a, 1u << 20);
	json_t *p = json_pack(
	    "{s:I,s:I,s:s?,s:I,s:b,s:O?,s:s?,s:O?}", "ticket_id",
	    (json_int_t)json_get_int(ticket, "id", 0), "rating_id",
	    (json_int_t)json_get_int(r, "id", 0), "ticket_no", json_get_str(ticket, "ticket_no"),
	    "level", (json_int_t)json_get_int(r, "level", 0), "bad",
	    json_is_true(json_object_get(r, "bad")), "tags", json_object_get(r, "tags"),
	    "comment_sm3", digest_hex[0] ? digest_hex : NULL, "followup_id",
	    json_object_get(r, "followup_id"));
	struct rating_ctx x = {.a = &a,
	                       .ticket_id = json_get_int(ticket, "id", 0),
	                       .case_no = json_get_str(ticket, "case_no"),
	                       .payload = p};
	enum err e = p ? db_write_unit(srv->db, rating_unit, &x, VWIN_SESSION_DB_WAIT) : ERR_NOMEM;
	if (e && e != ERR_NOT_FOUND)
		log_warn("vwin.session.rating", "ticket %lld: evaluation not in the evidence (%s)",
		         (long long)x.ticket_id, err_code(e));
	json_decref(p);
	arena_release(&a);
}

/* ---- the sweeper ---- */

static enum err sweep_job(struct server *srv, const struct sched_run_ctx *ctx, char *msg,
                          size_t msgsz)
{
	(void)ctx;
	int64_t n = 0;
	enum err e = vwin_session_sweep(srv, time_now_ms(), &n);
	if (!e)
		snprintf(msg, msgsz, "处理 %lld 个无活动或已结束的视频会话", (long long)n);
	return e;
}

enum err vwin_session_sweep(struct server *srv, int64_t now_ms, int64_t *n)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	arena_init(&a, 8u << 20);
	*n = 0;
	/* open sessions whose ticket is over, whose terminal lapsed, or with no activity */
	enum err e = db_acquire(srv->db, VWIN_SESSION_DB_WAIT, &c);
	if (!e)
		e = db_exec(c, &a, &rs,
		            "SELECT " VWIN_SESSION_COLS
		            ", t.state, vt.last_seen_at, s.clerk_seen_at,"
		            " s.terminal_seen_at FROM vwin_sessions s JOIN orgs o ON o.id ="
		            " s.centre_id JOIN queue_tickets t ON t.id = s.ticket_id LEFT JOIN"
		            " vwin_terminals vt ON vt.code = s.terminal WHERE s.state IN"
		            " ('waiting', 'active') ORDER BY s.id LIMIT 500",
		            "");
	db_release(c);
	for (int r = 0; !e && r < rs->nrows; r++) {
		struct vwin_session s;
		vwin_session_row(rs, r, &s);
		const char *tstate = db_text(rs, r, 20);
		int64_t seen = db_int(rs, r, 21), last = s.updated_at;
		struct vwin_terminal t;
		bool lapsed = !vwin_terminal_load(srv, NULL, &a, s.terminal, &t) &&
		              !vwin_terminal_healthy(&t, now_ms) && t.self_check_ok;
		(void)seen;
		for (int k = 22; k <= 23; k++)
			if (db_int(rs, r, k) > last)
				last = db_int(rs, r, k);
		const char *state = NULL, *reason = NULL;
		if (queue_state_final(tstate)) {
			state = "ended";
			reason = arena_printf(&a, "ticket:%s", tstate);
		} else if (lapsed) {
			state = "dropped";
			reason = "terminal_lapsed";
		} else if (now_ms - last > VWIN_SESSION_IDLE_MS) {
			state = "dropped";
			reason = "idle";
		}
		if (!state)
			continue;
		enum err e1 = close_session(srv, &a, &s, state, reason);
		if (e1 == ERR_BAD_STATE)
			continue; /* changed meanwhile */
		if (e1) {
			e = e1;
			break;
		}
		(*n)++;
		vwin_session_after(srv, &a, &s, state, reason);
		if (!strcmp(state, "dropped") &&
		    (!strcmp(tstate, "called") || !strcmp(tstate, "serving")))
			queue_ticket_suspend_lost(srv, s.ticket_id, reason);
	}
	arena_release(&a);
	return e;
}

enum err vwin_session_hooks_register(struct server *srv)
{
	static const char *const actions[] = {"call",    "recall",     "skip",
	                                      "start",   "finish",     "transfer",
	                                      "suspend", "force_skip", "resume"};
	enum err e = ERR_OK;
	for (size_t i = 0; !e && i < sizeof(actions) / sizeof(actions[0]); i++)
		e = queue_hook_on(srv, actions[i], on_ticket, NULL);
	if (!e)
		e = queue_hook_on(srv, "rating", on_rating, NULL);
	if (!e && srv->bus)
		e = event_bus_subscribe(srv->bus, "vwin:grant", vwin_session_grant_heard, srv);
	if (!e)
		e = sched_register(srv, "vwin.sessions_sweep", sweep_job,
		                   &(struct sched_defaults){"* * * * *", 50, 0, "vwin",
		                                            "结束无活动或已断开的视频会话"});
	return e == ERR_EXISTS ? ERR_OK : e;
}
