/* vwin_session.c: video sessions of the remote virtual window (docs/vwin.md "Sessions") —
 * pre-warming when a terminal's ticket is called, joining, the signalling relay, ending,
 * in-call commands and their results, the evidence trail and the sweeper.
 *
 * Every change is one write unit with its evidence row (a hash chain per session, see
 * vwin_evidence.c); what follows the commit (bus events to the other side, the room's
 * closing) happens after it. Signals are relayed on the bus topics session:<id>:clerk and
 * session:<id>:terminal, which the WebSocket hub lets only the side's user subscribe to
 * (ws_scopes_grant at the call and at each join); SDP and ICE candidates are never stored:
 * offer, answer and bye leave a summary in the evidence, candidates only a count. */
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "cases/cases.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "events/events.h"
#include "ident/ident.h"
#include "queue/queue.h"
#include "sched/sched.h"
#include "server/server.h"
#include "server/server_int.h"
#include "vwin/vwin_session_int.h"

void vwin_session_row(const struct db_rows *rs, int r, struct vwin_session *s)
{
	s->id = db_int(rs, r, 0);
	s->ticket_id = db_int(rs, r, 1);
	s->terminal_user_id = db_int(rs, r, 2);
	s->centre_id = db_int(rs, r, 3);
	s->window_id = db_int(rs, r, 4);
	s->clerk_id = db_int(rs, r, 5);
	s->terminal = db_text(rs, r, 6);
	s->point = db_text(rs, r, 7);
	s->case_no = db_text(rs, r, 8);
	s->provider = db_text(rs, r, 9);
	s->room = db_text(rs, r, 10);
	s->state = db_text(rs, r, 11);
	s->end_reason = db_text(rs, r, 12);
	s->centre_path = db_text(rs, r, 13);
	s->clerk_joined_at = db_int(rs, r, 14);
	s->terminal_joined_at = db_int(rs, r, 15);
	s->ended_at = db_int(rs, r, 16);
	s->created_at = db_int(rs, r, 17);
	s->updated_at = db_int(rs, r, 18);
	s->version = db_int(rs, r, 19);
}

enum err vwin_session_query(struct db_conn *c, struct arena *a, const char *sql, int64_t arg,
                            struct vwin_session *s)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs, sql, "i", arg);
	if (e)
		return e;
	if (rs->nrows < 1)
		return ERR_NOT_FOUND;
	vwin_session_row(rs, 0, s);
	return ERR_OK;
}

enum err vwin_session_load(struct db_conn *c, struct arena *a, int64_t id, struct vwin_session *s)
{
	return vwin_session_query(c, a,
	                          "SELECT " VWIN_SESSION_COLS " FROM vwin_sessions s JOIN orgs o"
	                          " ON o.id = s.centre_id WHERE s.id = ?",
	                          id, s);
}

static bool is_open(const struct vwin_session *s)
{
	return !strcmp(s->state, "waiting") || !strcmp(s->state, "active");
}

static bool holds(const struct principal *who, const char *perm)
{
	for (int i = 0; who && i < who->nperms; i++)
		if (!strcmp(who->perms[i], perm))
			return true;
	return false;
}

/* The session as by sees it; 404 unless by is its clerk (or a manager of its centre) or
 * its terminal's user. */
static enum err load_for(struct server *srv, struct db_conn *c, struct arena *a,
                         const struct vwin_actor *by, int64_t id, struct vwin_session *s,
                         struct errinfo *ei)
{
	(void)srv;
	enum err e = vwin_session_load(c, a, id, s);
	bool mine = false;
	if (!e && by->side == VWIN_CLERK)
		mine =
		    s->clerk_id == by->who->user_id ||
		    (auth_scope_covers(by->who, s->centre_path) && holds(by->who, "queue.manage"));
	else if (!e)
		mine = s->terminal_user_id == by->who->user_id;
	if (e == ERR_NOT_FOUND || (!e && !mine))
		return err_fail(ei, ERR_NOT_FOUND, "id", "视频会话不存在");
	return e;
}

/* load_for on a connection of its own, for the calls that read the session before a write
 * unit of their own. */
static enum err load_alone(struct server *srv, struct arena *a, const struct vwin_actor *by,
                           int64_t id, struct vwin_session *s, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	enum err e = db_acquire(srv->db, VWIN_SESSION_DB_WAIT, &c);
	if (!e)
		e = load_for(srv, c, a, by, id, s, ei);
	db_release(c);
	return e;
}

static const char *side_name(enum vwin_side side)
{
	return side == VWIN_CLERK ? "clerk" : "terminal";
}

/* ---- evidence ---- */

/* Append one row to the session's chain inside the caller's write unit. payload is
 * borrowed. */
enum err vwin_evidence_append(struct db_conn *c, struct arena *a, const struct vwin_session *s,
                              const char *kind, const json_t *payload, int64_t now)
{
	struct db_rows *rs = NULL;
	char chain[40], hash[65];
	snprintf(chain, sizeof(chain), "session:%lld", (long long)s->id);
	enum err e = db_exec(c, a, &rs,
	                     "SELECT seq, hash FROM vwin_evidence WHERE chain = ? ORDER BY seq DESC"
	                     " LIMIT 1",
	                     "s", chain);
	if (e)
		return e;
	char *text = json_dumps(payload, JSON_COMPACT | JSON_SORT_KEYS);
	if (!text)
		return ERR_NOMEM;
	struct vwin_evidence_row row = {
	    .seq = rs->nrows ? db_int(rs, 0, 0) + 1 : 1,
	    .session_id = s->id,
	    .at = now,
	    .case_no = s->case_no,
	    .kind = kind,
	    .payload = arena_strdup(a, text),
	    .prev_hash = rs->nrows ? db_text(rs, 0, 1) : VWIN_EVIDENCE_ZERO,
	};
	free(text);
	if (!row.payload)
		return ERR_NOMEM;
	if ((e = vwin_evidence_hash(&row, hash)))
		return e;
	return db_exec(
	    c, a, NULL,
	    "INSERT INTO vwin_evidence (chain, seq, session_id, case_no, kind, payload, at,"
	    " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	    "siisssiss", chain, row.seq, s->id, s->case_no, kind, row.payload, now, row.prev_hash,
	    hash);
}

/* ---- after the commit ---- */

static void publish(struct server *srv, struct arena *a, int64_t id, const char *side, json_t *msg)
{
	char topic[64];
	const char *text = msg ? json_dump_arena(msg, a) : NULL;
	json_decref(msg);
	snprintf(topic, sizeof(topic), "session:%lld:%s", (long long)id, side);
	if (!text || !srv->bus || event_bus_publish(srv->bus, topic, text))
		log_warn("vwin.session.publish", "session %lld: event for the %s not published",
		         (long long)id, side);
}

/* Let user subscribe to the session's topic of side (this node, and the others through the
 * bus: see vwin_session_grant_heard). */
void vwin_session_grant(struct server *srv, struct arena *a, int64_t id, const char *side,
                        int64_t user_id)
{
	json_t *m = json_pack("{s:I,s:s,s:I}", "user", (json_int_t)user_id, "topic",
	                      arena_printf(a, "session:%lld:%s", (long long)id, side), "until",
	                      (json_int_t)(time_now_ms() + VWIN_GRANT_MS));
	const char *text = m ? json_dump_arena(m, a) : NULL;
	json_decref(m);
	if (text && srv->bus)
		event_bus_publish(srv->bus, "vwin:grant", text);
}

void vwin_session_grant_heard(void *ctx, const char *topic, const char *json)
{
	struct server *srv = ctx;
	(void)topic;
	json_error_t jerr;
	json_t *m = json_loads(json, 0, &jerr);
	const char *t = json_get_str(m, "topic");
	if (t && !strncmp(t, "session:", 8))
		ws_scopes_grant(srv->ws_scopes, json_get_int(m, "user", 0), t,
		                json_get_int(m, "until", 0));
	json_decref(m);
}

static json_t *session_json(const struct vwin_session *s)
{
#define OPT(v) ((v) ? json_integer(v) : json_null())
	return json_pack("{s:I,s:I,s:s,s:s?,s:I,s:o,s:I,s:s?,s:s,s:s,s:s,s:s?,s:o,s:o,s:o,s:I,s:I}",
	                 "id", (json_int_t)s->id, "ticket_id", (json_int_t)s->ticket_id, "terminal",
	                 s->terminal, "point", s->point, "centre_id", (json_int_t)s->centre_id,
	                 "window_id", OPT(s->window_id), "clerk_id", (json_int_t)s->clerk_id,
	                 "case_no", s->case_no, "provider", s->provider, "room", s->room, "state",
	                 s->state, "end_reason", s->end_reason, "clerk_joined_at",
	                 OPT(s->clerk_joined_at), "terminal_joined_at", OPT(s->terminal_joined_at),
	                 "ended_at", OPT(s->ended_at), "created_at", (json_int_t)s->created_at,
	                 "version", (json_int_t)s->version);
#undef OPT
}

static enum err commands_json(struct db_conn *c, struct arena *a, int64_t id, json_t **out)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT id, kind, args, state, result, message, created_at, updated_at"
	                     " FROM vwin_session_commands WHERE session_id = ? ORDER BY id",
	                     "i", id);
	if (e)
		return e;
	json_t *arr = json_array();
	for (int r = 0; arr && r < rs->nrows; r++) {
		json_error_t jerr;
		json_t *args = json_loads(db_text(rs, r, 2), 0, &jerr);
		json_t *res = db_text(rs, r, 4) ? json_loads(db_text(rs, r, 4), 0, &jerr) : NULL;
		json_array_append_new(
		    arr, json_pack("{s:I,s:s,s:o,s:s,s:o,s:s?,s:I,s:I}", "id",
		                   (json_int_t)db_int(rs, r, 0), "kind", db_text(rs, r, 1), "args",
		                   args ? args : json_object(), "state", db_text(rs, r, 3),
		                   "result", res ? res : json_null(), "message", db_text(rs, r, 5),
		                   "created_at", (json_int_t)db_int(rs, r, 6), "updated_at",
		                   (json_int_t)db_int(rs, r, 7)));
	}
	*out = arr;
	return arr ? ERR_OK : ERR_NOMEM;
}

/* The session with its commands, read after a commit. */
static enum err view(struct server *srv, struct arena *a, int64_t id, json_t **out)
{
	struct db_conn *c = NULL;
	struct vwin_session s;
	json_t *cmds = NULL;
	enum err e = db_acquire(srv->db, VWIN_SESSION_DB_WAIT, &c);
	if (!e && !(e = vwin_session_load(c, a, id, &s)))
		e = commands_json(c, a, id, &cmds);
	db_release(c);
	if (e)
		return e;
	*out = session_json(&s);
	if (!*out) {
		json_decref(cmds);
		return ERR_NOMEM;
	}
	json_object_set_new(*out, "commands", cmds);
	return ERR_OK;
}

enum err vwin_session_get(struct server *srv, const struct vwin_actor *by, struct arena *a,
                          int64_t id, json_t **out, struct errinfo *ei)
{
	struct vwin_session s;
	enum err e = load_alone(srv, a, by, id, &s, ei);
	if (e)
		return e;
	if (is_open(&s))
		vwin_session_grant(srv, a, id, side_name(by->side), by->who->user_id);
	return view(srv, a, id, out);
}

enum err vwin_session_of_ticket(struct server *srv, const struct vwin_actor *by, struct arena *a,
                                int64_t ticket_id, json_t **out, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_acquire(srv->db, VWIN_SESSION_DB_WAIT, &c);
	if (!e)
		e = db_exec(
		    c, a, &rs,
		    "SELECT id FROM vwin_sessions WHERE ticket_id = ? ORDER BY id DESC LIMIT 1",
		    "i", ticket_id);
	db_release(c);
	if (e)
		return e;
	if (rs->nrows != 1)
		return err_fail(ei, ERR_NOT_FOUND, "id", "该号没有视频会话");
	return vwin_session_get(srv, by, a, db_int(rs, 0, 0), out, ei);
}

/* ---- a generic change: load, check, update, evidence, in one unit ---- */

struct change {
	const struct vwin_actor *by;
	struct arena *a;
	struct errinfo *ei;
	int64_t id;
	enum err (*fn)(struct db_conn *c, struct change *x, struct vwin_session *s, int64_t now);
	/* inputs and outputs of fn */
	const json_t *body;
	const char *str;
	int64_t cid;
	struct vwin_session s; /* as loaded (before fn) */
	const char *new_state;
	json_t *out; /* fn's result for the caller (owned) */
	struct server *srv;
};

static enum err change_unit(struct db_conn *c, void *ctx)
{
	struct change *x = ctx;
	enum err e = load_for(x->srv, c, x->a, x->by, x->id, &x->s, x->ei);
	if (e)
		return e;
	return x->fn(c, x, &x->s, time_now_ms());
}

static enum err run(struct server *srv, struct change *x)
{
	x->srv = srv;
	enum err e = db_write_unit(srv->db, change_unit, x, VWIN_SESSION_DB_WAIT);
	if (e)
		json_decref(x->out), x->out = NULL;
	return e;
}

/* ---- join ---- */

static enum err join_fn(struct db_conn *c, struct change *x, struct vwin_session *s, int64_t now)
{
	if (!is_open(s))
		return err_fail(x->ei, ERR_BAD_STATE, "state",
		                !strcmp(s->state, "ended") ? "视频会话已结束" : "视频会话已中断");
	bool clerk = x->by->side == VWIN_CLERK;
	bool other = clerk ? s->terminal_joined_at != 0 : s->clerk_joined_at != 0;
	x->new_state = other ? "active" : "waiting";
	enum err e = db_exec(
	    c, x->a, NULL,
	    clerk ? "UPDATE vwin_sessions SET clerk_joined_at = ?, clerk_seen_at = ?, state = ?,"
	            " updated_at = ?, version = version + 1 WHERE id = ?"
	          : "UPDATE vwin_sessions SET terminal_joined_at = ?, terminal_seen_at = ?,"
	            " state = ?, updated_at = ?, version = version + 1 WHERE id = ?",
	    "iisii", now, now, x->new_state, now, s->id);
	if (e)
		return e;
	json_t *p = json_pack("{s:s,s:I,s:s}", "side", side_name(x->by->side), "user",
	                      (json_int_t)x->by->who->user_id, "state", x->new_state);
	e = p ? vwin_evidence_append(c, x->a, s, "join", p, now) : ERR_NOMEM;
	json_decref(p);
	return e;
}

enum err vwin_session_join(struct server *srv, const struct vwin_actor *by, struct arena *a,
                           int64_t id, json_t **out, struct errinfo *ei)
{
	struct change x = {.by = by, .a = a, .ei = ei, .id = id, .fn = join_fn};
	enum err e = run(srv, &x);
	if (e)
		return e;
	const char *me = side_name(by->side);
	const char *peer = by->side == VWIN_CLERK ? "terminal" : "clerk";
	vwin_session_grant(srv, a, id, me, by->who->user_id);
	const struct vwin_video_provider *p = vwin_provider_find(x.s.provider);
	json_t *join = NULL;
	struct errinfo pei = {0};
	if (!p || p->join_info(srv, a, x.s.room, by->side == VWIN_CLERK ? "clerk" : "resident",
	                       by->who->username ? by->who->username : "user", &join, &pei)) {
		log_warn("vwin.session.join", "session %lld: join info of provider %s failed: %s",
		         (long long)id, x.s.provider, pei.msg ? pei.msg : "unknown provider");
		join = json_pack("{s:s,s:s,s:[]}", "provider", x.s.provider, "room", x.s.room,
		                 "ice_servers");
	}
	publish(srv, a, id, peer,
	        json_pack("{s:s,s:s,s:s}", "type", "state", "state", x.new_state, "joined", me));
	if ((e = view(srv, a, id, out))) {
		json_decref(join);
		return e;
	}
	json_object_set_new(*out, "join", join);
	json_object_set_new(*out, "topics",
	                    json_pack("{s:s,s:s}", "mine",
	                              arena_printf(a, "session:%lld:%s", (long long)id, me), "peer",
	                              arena_printf(a, "session:%lld:%s", (long long)id, peer)));
	return ERR_OK;
}

/* ---- signalling ---- */

static enum err signal_fn(struct db_conn *c, struct change *x, struct vwin_session *s, int64_t now)
{
	if (!is_open(s))
		return err_fail(x->ei, ERR_BAD_STATE, "state", "视频会话已结束，不能再发送信令");
	bool clerk = x->by->side == VWIN_CLERK;
	bool cand = !strcmp(x->str, "candidate");
	enum err e = db_exec(
	    c, x->a, NULL,
	    clerk ? "UPDATE vwin_sessions SET clerk_seen_at = ?, candidates = candidates + ?,"
	            " updated_at = ? WHERE id = ?"
	          : "UPDATE vwin_sessions SET terminal_seen_at = ?, candidates = candidates + ?,"
	            " updated_at = ? WHERE id = ?",
	    "iiii", now, (int64_t)(cand ? 1 : 0), now, s->id);
	if (e || cand)
		return e;
	json_t *p = vwin_signal_summary(x->str, json_object_get(x->body, "data"));
	if (p)
		json_object_set_new(p, "from", json_string(side_name(x->by->side)));
	e = p ? vwin_evidence_append(c, x->a, s, "signal", p, now) : ERR_NOMEM;
	json_decref(p);
	return e;
}

enum err vwin_session_signal(struct server *srv, const struct vwin_actor *by, struct arena *a,
                             int64_t id, const char *type, const json_t *data, struct errinfo *ei)
{
	const char *field = NULL, *why = NULL;
	if (vwin_signal_check(type, data, &field, &why))
		return err_fail(ei, ERR_BAD_FIELD, field, why);
	json_t *body = json_pack("{s:O?}", "data", (json_t *)data);
	struct change x = {
	    .by = by, .a = a, .ei = ei, .id = id, .fn = signal_fn, .str = type, .body = body};
	enum err e = body ? run(srv, &x) : ERR_NOMEM;
	json_decref(body);
	if (e)
		return e;
	publish(srv, a, id, by->side == VWIN_CLERK ? "terminal" : "clerk",
	        json_pack("{s:s,s:s,s:O?,s:s}", "type", "signal", "signal", type, "data",
	                  (json_t *)data, "from", side_name(by->side)));
	return ERR_OK;
}

/* ---- ending ---- */

enum err vwin_session_end_with(struct db_conn *c, struct arena *a, struct vwin_session *s,
                               const char *state, const char *reason, int64_t now)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "UPDATE vwin_sessions SET state = ?, end_reason = ?, ended_at = ?,"
	                     " updated_at = ?, version = version + 1 WHERE id = ? AND state IN"
	                     " ('waiting', 'active', 'dropped')",
	                     "ssiii", state, reason, now, now, s->id);
	if (e)
		return e;
	if (rs->changes != 1)
		return ERR_BAD_STATE;
	json_t *p = json_pack("{s:s,s:s}", "state", state, "reason", reason);
	e = p ? vwin_evidence_append(c, a, s, !strcmp(state, "ended") ? "end" : "drop", p, now)
	      : ERR_NOMEM;
	json_decref(p);
	return e;
}

static enum err end_fn(struct db_conn *c, struct change *x, struct vwin_session *s, int64_t now)
{
	if (!strcmp(s->state, "ended"))
		return err_fail(x->ei, ERR_BAD_STATE, "state", "视频会话已结束");
	return vwin_session_end_with(c, x->a, s, "ended", x->str, now);
}

void vwin_session_after(struct server *srv, struct arena *a, const struct vwin_session *s,
                        const char *state, const char *reason)
{
	const struct vwin_video_provider *p = vwin_provider_find(s->provider);
	if (p && !strcmp(state, "ended") && p->close_room(srv, a, s->room))
		log_warn("vwin.session.close", "session %lld: room %s not closed", (long long)s->id,
		         s->room);
	for (int i = 0; i < 2; i++)
		publish(
		    srv, a, s->id, i ? "terminal" : "clerk",
		    json_pack("{s:s,s:s,s:s}", "type", "state", "state", state, "reason", reason));
}

enum err vwin_session_end(struct server *srv, const struct vwin_actor *by, struct arena *a,
                          int64_t id, const char *reason, json_t **out, struct errinfo *ei)
{
	const char *why =
	    arena_printf(a, "%s%s%s", side_name(by->side), reason ? ":" : "", reason ? reason : "");
	struct change x = {.by = by, .a = a, .ei = ei, .id = id, .fn = end_fn, .str = why};
	enum err e = run(srv, &x);
	if (e)
		return e;
	vwin_session_after(srv, a, &x.s, "ended", why);
	return view(srv, a, id, out);
}

/* ---- the case ---- */

static enum err link_fn(struct db_conn *c, struct change *x, struct vwin_session *s, int64_t now)
{
	struct db_rows *rs = NULL;
	if (!is_open(s))
		return err_fail(x->ei, ERR_BAD_STATE, "state", "视频会话已结束");
	if (s->case_no && strcmp(s->case_no, x->str))
		return err_fail(x->ei, ERR_BAD_STATE, "case_no",
		                arena_printf(x->a, "本次视频会话已关联办件 %s", s->case_no));
	enum err e = db_exec(c, x->a, &rs, "SELECT 1 FROM cases WHERE case_no = ? AND org_id = ?",
	                     "si", x->str, s->centre_id);
	if (e)
		return e;
	if (rs->nrows != 1)
		return err_fail(x->ei, ERR_NOT_FOUND, "case_no", "办件不存在或不属于本中心");
	if ((e = db_exec(c, x->a, NULL,
	                 "UPDATE vwin_sessions SET case_no = ?, clerk_seen_at = ?, updated_at = ?,"
	                 " version = version + 1 WHERE id = ?",
	                 "siii", x->str, now, now, s->id)))
		return e;
	s->case_no = x->str;
	json_t *p = json_pack("{s:s}", "case_no", x->str);
	e = p ? vwin_evidence_append(c, x->a, s, "case", p, now) : ERR_NOMEM;
	json_decref(p);
	return e;
}

enum err vwin_session_link_case(struct server *srv, const struct vwin_actor *by, struct arena *a,
                                int64_t id, const char *case_no, json_t **out, struct errinfo *ei)
{
	struct change x = {.by = by, .a = a, .ei = ei, .id = id, .fn = link_fn, .str = case_no};
	enum err e = run(srv, &x);
	if (e)
		return e;
	publish(srv, a, id, "terminal", json_pack("{s:s,s:s}", "type", "case", "case_no", case_no));
	return view(srv, a, id, out);
}

/* Opening the case inside the call (收受分离 from the virtual window, seed row 6): the cases
 * module opens it (its own code: numbering, duplicate guard, the item's separated and
 * vwin_mode rules with entry "virtual"), and link_opened runs inside that write unit, so the
 * case, the session's case_no and the evidence row commit together. */
struct opened {
	struct vwin_session *s;
	struct arena *a;
	struct errinfo *ei;
	const char *mode, *sub_item_code;
};

static enum err link_opened(struct db_conn *c, void *ctx, const char *case_no)
{
	struct opened *o = ctx;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	enum err e =
	    db_exec(c, o->a, &rs,
	            "UPDATE vwin_sessions SET case_no = ?, clerk_seen_at = ?, updated_at = ?,"
	            " version = version + 1 WHERE id = ? AND case_no IS NULL AND state IN"
	            " ('waiting', 'active')",
	            "siii", case_no, now, now, o->s->id);
	if (e)
		return e;
	if (rs->changes != 1)
		return err_fail(o->ei, ERR_BAD_STATE, "case_no",
		                "本次视频会话已结束或已关联办件，请刷新后重试");
	o->s->case_no = case_no;
	json_t *p = json_pack("{s:s,s:b,s:s,s:s}", "case_no", case_no, "opened", 1, "mode", o->mode,
	                      "sub_item_code", o->sub_item_code);
	e = p ? vwin_evidence_append(c, o->a, o->s, "case", p, now) : ERR_NOMEM;
	json_decref(p);
	return e;
}

enum err vwin_session_open_case(struct server *srv, const struct vwin_actor *by, struct arena *a,
                                int64_t id, const struct vwin_case_req *in, json_t **out,
                                json_t **duplicates, struct errinfo *ei)
{
	struct vwin_session s;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	json_t *cs = NULL;
	const char *kind = NULL;
	enum err e = load_alone(srv, a, by, id, &s, ei);
	if (e)
		return e;
	/* only the clerk in the call opens its case (a manager may watch, not accept) */
	if (s.clerk_id != by->who->user_id)
		return err_fail(ei, ERR_FORBIDDEN, "id", "只有本次视频受理的工作人员可以开立办件");
	if (!is_open(&s))
		return err_fail(ei, ERR_BAD_STATE, "state",
		                !strcmp(s.state, "ended") ? "视频会话已结束" : "视频会话已中断");
	if (s.case_no)
		return err_fail(ei, ERR_BAD_STATE, "case_no",
		                arena_printf(a, "本次视频会话已关联办件 %s", s.case_no));
	if (by->who->org_id != s.centre_id)
		return err_fail(ei, ERR_BAD_STATE, "centre",
		                "当前登录的中心与本次视频会话的中心不一致，不能开立办件");
	if (!in->mode || (strcmp(in->mode, "direct") && strcmp(in->mode, "separated")))
		return err_fail(ei, ERR_INVALID, "mode",
		                "办理模式（mode）应为 direct（直接受理）或 separated（收受分离）");
	if ((e = db_acquire(srv->db, VWIN_SESSION_DB_WAIT, &c)))
		return e;
	if (s.point &&
	    !(e = db_exec(c, a, &rs, "SELECT kind FROM vwin_points WHERE code = ?", "s",
	                  s.point)) &&
	    rs->nrows == 1)
		kind = db_text(rs, 0, 0);
	db_release(c);
	if (e)
		return e;
	struct opened o = {
	    .s = &s, .a = a, .ei = ei, .mode = in->mode, .sub_item_code = in->sub_item_code};
	struct cases_caller cc = {
	    .who = by->who, .client_ip = by->client_ip, .trace_id = by->trace_id};
	struct cases_open_req req = {
	    .sub_item_code = in->sub_item_code,
	    .resident_id = in->resident_id,
	    .channel = 1,
	    .allow_duplicate = in->allow_duplicate,
	    .mode = in->mode,
	    .entry = "virtual",
	    .vwin_session_id = s.id,
	    .vwin_point = s.point,
	    .vwin_point_kind = kind,
	    .in_unit = link_opened,
	    .in_unit_ctx = &o,
	};
	if ((e = cases_open(srv, &cc, a, &req, &cs, duplicates, ei)))
		return e;
	json_decref(cs);
	publish(srv, a, id, "terminal",
	        json_pack("{s:s,s:s}", "type", "case", "case_no", s.case_no));
	return view(srv, a, id, out);
}

/* ---- commands ---- */

/* The case as the clerk sees it (form, version, pinned sub-item). */
static enum err case_of(struct server *srv, const struct principal *who, struct arena *a,
                        const char *case_no, json_t **out)
{
	struct cases_caller cc = {.who = who};
	enum err e = cases_get(srv, &cc, a, case_no, out);
	if (!e)
		json_arena_own(a, *out);
	return e;
}

static bool role_listed(const json_t *list, const char *role)
{
	size_t i;
	const json_t *v;
	json_array_foreach (list, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), role))
			return true;
	return false;
}

static enum err command_fn(struct db_conn *c, struct change *x, struct vwin_session *s, int64_t now)
{
	struct db_rows *rs = NULL;
	if (!is_open(s))
		return err_fail(x->ei, ERR_BAD_STATE, "state", "视频会话已结束");
	if (!s->case_no)
		return err_fail(x->ei, ERR_BAD_STATE, "case_no", "请先为本次视频受理开立办件");
	char *args = json_dumps(x->body, JSON_COMPACT | JSON_SORT_KEYS);
	if (!args)
		return ERR_NOMEM;
	enum err e = db_exec(
	    c, x->a, &rs,
	    "INSERT INTO vwin_session_commands (session_id, kind, args, state,"
	    " created_by, created_at, updated_at) VALUES (?, ?, ?, 'sent', ?, ?, ?)"
	    " RETURNING id",
	    "issiii", s->id, json_get_str(x->body, "kind"), args, x->by->who->user_id, now, now);
	free(args);
	if (e)
		return e;
	x->cid = db_int(rs, 0, 0);
	if ((e = db_exec(c, x->a, NULL,
	                 "UPDATE vwin_sessions SET clerk_seen_at = ?, updated_at = ? WHERE id = ?",
	                 "iii", now, now, s->id)))
		return e;
	json_t *p = json_deep_copy(x->body);
	if (p)
		json_object_set_new(p, "command", json_integer((json_int_t)x->cid));
	e = p ? vwin_evidence_append(c, x->a, s, "command", p, now) : ERR_NOMEM;
	json_decref(p);
	return e;
}

enum err vwin_session_command(struct server *srv, const struct vwin_actor *by, struct arena *a,
                              int64_t id, const json_t *body, json_t **out, struct errinfo *ei)
{
	const char *kind = json_get_str(body, "kind");
	json_t *args = NULL;
	struct vwin_session s;
	enum err e = load_alone(srv, a, by, id, &s, ei);
	if (e)
		return e;
	if (!kind || (strcmp(kind, "card_read") && strcmp(kind, "form_push")))
		return err_fail(ei, ERR_BAD_FIELD, "kind",
		                "指令应为 card_read（二次读卡）或 form_push（推送申请表）");
	if (!strcmp(kind, "card_read")) {
		const char *role = json_get_str(body, "role");
		const char *point = json_get_str(body, "point");
		json_t *cs = NULL;
		if (!role)
			return err_fail(ei, ERR_MISSING_FIELD, "role", "请选择读卡的签名人角色");
		if (!s.case_no)
			return err_fail(ei, ERR_BAD_STATE, "case_no", "请先为本次视频受理开立办件");
		if ((e = case_of(srv, by->who, a, s.case_no, &cs)))
			return e == ERR_NOT_FOUND ? err_fail(ei, e, "case_no", "办件不存在") : e;
		const json_t *list =
		    json_object_get(json_object_get(cs, "sub_item"), "second_read");
		if (!role_listed(list, role))
			return err_fail(
			    ei, ERR_BAD_FIELD, "role",
			    "该事项情形没有此签名人的二次读卡要求（见事项的 second_read）");
		args = json_pack("{s:s,s:s,s:s?}", "kind", kind, "role", role, "point", point);
	} else {
		const char *mode = json_get_str(body, "mode");
		if (!mode || (strcmp(mode, "sign") && strcmp(mode, "print")))
			return err_fail(ei, ERR_BAD_FIELD, "mode",
			                "推送方式应为 sign（屏幕签名）或 print（打印签字后拍照）");
		args = json_pack("{s:s,s:s}", "kind", kind, "mode", mode);
	}
	struct change x = {.by = by, .a = a, .ei = ei, .id = id, .fn = command_fn, .body = args};
	e = args ? run(srv, &x) : ERR_NOMEM;
	if (!e) {
		json_t *m = json_pack("{s:s,s:I,s:O,s:s?}", "type", "command", "command",
		                      (json_int_t)x.cid, "args", args, "case_no", x.s.case_no);
		publish(srv, a, id, "terminal", m);
		e = view(srv, a, id, out);
		if (!e)
			json_object_set_new(*out, "command", json_integer((json_int_t)x.cid));
	}
	json_decref(args);
	return e;
}

/* ---- results ---- */

/* The principal the terminal acts as on the session's case: its own user, with the case's
 * centre as scope and the two case permissions the signing and form routes check. */
static struct principal *acting_as(struct arena *a, const struct principal *who, int64_t org_id,
                                   const char *org_path)
{
	static const char *const perms[] = {"case.accept", "case.read"}; /* sorted */
	struct principal *p = arena_alloc(a, sizeof(*p));
	if (!p)
		return NULL;
	*p = *who;
	p->perms = perms;
	p->nperms = 2;
	p->org_id = org_id;
	p->scope_level = "centre";
	p->scope_path = org_path;
	p->ext = NULL;
	return p;
}

struct result_ctx {
	int64_t cid;
	const char *state, *message;
	json_t *result; /* borrowed */
	const char *evidence_kind;
};

static enum err result_fn(struct db_conn *c, struct change *x, struct vwin_session *s, int64_t now)
{
	struct result_ctx *rc = (struct result_ctx *)x->body;
	struct db_rows *rs = NULL;
	char *res = rc->result ? json_dumps(rc->result, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	enum err e = db_exec(c, x->a, &rs,
	                     "UPDATE vwin_session_commands SET state = ?, result = ?, message = ?,"
	                     " updated_at = ? WHERE id = ? AND session_id = ? AND state = 'sent'",
	                     "sssiii", rc->state, res, rc->message, now, rc->cid, s->id);
	free(res);
	if (e)
		return e;
	if (rs->changes != 1)
		return err_fail(x->ei, ERR_BAD_STATE, "command", "该指令已处理或不存在");
	if ((e = db_exec(
	         c, x->a, NULL,
	         "UPDATE vwin_sessions SET terminal_seen_at = ?, updated_at = ? WHERE id = ?",
	         "iii", now, now, s->id)))
		return e;
	json_t *p = json_pack("{s:I,s:s,s:s?,s:O?}", "command", (json_int_t)rc->cid, "state",
	                      rc->state, "message", rc->message, "result", rc->result);
	e = p ? vwin_evidence_append(c, x->a, s, rc->evidence_kind, p, now) : ERR_NOMEM;
	json_decref(p);
	return e;
}

static enum err record_result(struct server *srv, const struct vwin_actor *by, struct arena *a,
                              int64_t id, struct result_ctx *rc, json_t **out, struct errinfo *ei)
{
	struct change x = {
	    .by = by, .a = a, .ei = ei, .id = id, .fn = result_fn, .body = (const json_t *)rc};
	enum err e = run(srv, &x);
	if (e)
		return e;
	publish(srv, a, id, "clerk",
	        json_pack("{s:s,s:I,s:s,s:s?,s:O?}", "type", "command_result", "command",
	                  (json_int_t)rc->cid, "state", rc->state, "message", rc->message, "result",
	                  rc->result));
	return view(srv, a, id, out);
}

/* The command cid of the session (kind and args), for a result. */
static enum err command_load(struct server *srv, struct arena *a, const struct vwin_actor *by,
                             int64_t id, int64_t cid, struct vwin_session *s, const char **kind,
                             json_t **args, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_acquire(srv->db, VWIN_SESSION_DB_WAIT, &c);
	if (!e && !(e = load_for(srv, c, a, by, id, s, ei)))
		e = db_exec(c, a, &rs,
		            "SELECT kind, args, state FROM vwin_session_commands WHERE id = ? AND"
		            " session_id = ?",
		            "ii", cid, id);
	db_release(c);
	if (e)
		return e;
	if (rs->nrows != 1)
		return err_fail(ei, ERR_NOT_FOUND, "command", "指令不存在");
	if (strcmp(db_text(rs, 0, 2), "sent"))
		return err_fail(ei, ERR_BAD_STATE, "command", "该指令已处理");
	json_error_t jerr;
	*kind = db_text(rs, 0, 0);
	*args = json_arena_own(a, json_loads(db_text(rs, 0, 1), 0, &jerr));
	return *args ? ERR_OK : ERR_INTEGRITY;
}

/* 二次读卡: check the payload as the card-reader route does, compare with the form and write
 * the signer's document and name where the sub-item's form has those fields. */
static enum err card_into_form(struct server *srv, const struct principal *as, struct arena *a,
                               const char *case_no, const char *role, const json_t *body,
                               json_t **summary, struct errinfo *ei)
{
	const json_t *card = json_object_get(body, "card");
	const char *type = NULL;
	struct ident_doc d;
	json_t *cs = NULL;
	if (!json_is_object(card))
		return err_fail(ei, ERR_MISSING_FIELD, "card", "请提供读卡结果 card");
	enum err e = ident_card_check(srv, json_get_str(body, "type_flag"), card, a, &type, &d, ei);
	if (e)
		return e;
	if ((e = case_of(srv, as, a, case_no, &cs)))
		return e;
	const json_t *fields =
	    json_object_get(json_object_get(json_object_get(cs, "sub_item"), "form"), "fields");
	json_t *form = json_deep_copy(json_object_get(cs, "form"));
	if (!json_is_object(form)) {
		json_decref(form);
		form = json_object();
	}
	json_arena_own(a, form);
	const char *idf = arena_printf(a, "%s.id_number", role);
	const char *namef = arena_printf(a, "%s.name", role);
	const char *had = json_get_str(json_path_get(form, idf), "number");
	if (had && strcmp(had, d.number))
		return err_fail(ei, ERR_INVALID, "card.id_number",
		                "读取的证件号码与申请表中该签名人的证件号码不一致，请核对本人证件");
	size_t i;
	const json_t *f;
	int wrote = 0;
	json_array_foreach (fields, i, f) {
		const char *fid = json_get_str(f, "id");
		if (fid && !strcmp(fid, idf))
			wrote += !json_path_set_new(
			    form, idf, json_pack("{s:s,s:s}", "type", type, "number", d.number));
		else if (fid && !strcmp(fid, namef) && json_get_str(card, "name"))
			wrote += !json_path_set_new(form, namef,
			                            json_string(json_get_str(card, "name")));
	}
	json_t *saved = NULL;
	struct cases_caller cc = {.who = as};
	if (wrote && (e = cases_save_form_data(srv, &cc, a, case_no, json_get_int(cs, "version", 0),
	                                       form, &saved, ei)))
		return e;
	json_decref(saved);
	const char *num = d.number;
	size_t n = strlen(num);
	*summary = json_pack("{s:s,s:s,s:s,s:i}", "role", role, "type", type, "id_number",
	                     n > 8 ? arena_printf(a, "%.4s**********%s", num, num + n - 4) : "****",
	                     "fields_written", wrote);
	return *summary ? ERR_OK : ERR_NOMEM;
}

enum err vwin_session_result(struct server *srv, const struct vwin_actor *by, struct arena *a,
                             int64_t id, int64_t cid, const json_t *body, json_t **out,
                             struct errinfo *ei)
{
	struct vwin_session s;
	const char *kind = NULL;
	json_t *args = NULL, *summary = NULL;
	enum err e = command_load(srv, a, by, id, cid, &s, &kind, &args, ei);
	if (e)
		return e;
	struct result_ctx rc = {.cid = cid, .state = "done", .evidence_kind = "result"};
	if (!json_get_bool(body, "ok", false)) {
		rc.state = "failed";
		rc.message = json_get_str(body, "message");
		if (!rc.message)
			rc.message = "终端未能完成该指令";
		return record_result(srv, by, a, id, &rc, out, ei);
	}
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	if (!(e = db_acquire(srv->db, VWIN_SESSION_DB_WAIT, &c)))
		e = db_exec(c, a, &rs, "SELECT path FROM orgs WHERE id = ?", "i", s.centre_id);
	db_release(c);
	if (e)
		return e;
	struct principal *as = acting_as(a, by->who, s.centre_id, db_text(rs, 0, 0));
	if (!as)
		return ERR_NOMEM;
	if (!strcmp(kind, "card_read")) {
		if ((e = card_into_form(srv, as, a, s.case_no, json_get_str(args, "role"), body,
		                        &summary, ei)))
			return e;
		rc.result = json_arena_own(a, summary);
		rc.evidence_kind = "card_read";
	} else if (!strcmp(json_get_str(args, "mode"), "sign")) {
		/* the signature itself went through the signing routes (vwin_session_signer) */
		if (!(e = db_acquire(srv->db, VWIN_SESSION_DB_WAIT, &c)))
			e = db_exec(c, a, &rs,
			            "SELECT COUNT(*), MAX(g.state) FROM case_signatures s JOIN"
			            " case_signings g ON g.id = s.signing_id JOIN cases k ON k.id ="
			            " g.case_id WHERE k.case_no = ? AND g.state <> 'voided' AND"
			            " s.device IN ('kiosk', 'pad')",
			            "s", s.case_no);
		db_release(c);
		if (e)
			return e;
		if (db_int(rs, 0, 0) == 0)
			return err_fail(ei, ERR_BAD_STATE, "command", "终端尚未提交签名");
		rc.result = json_arena_own(a, json_pack("{s:I,s:s?}", "signatures",
		                                        (json_int_t)db_int(rs, 0, 0), "round_state",
		                                        db_text(rs, 0, 1)));
		rc.evidence_kind = "signature";
	} else {
		return err_fail(ei, ERR_BAD_STATE, "command",
		                "打印签字的结果请上传高拍仪照片（…/commands/{cid}/photo）");
	}
	return record_result(srv, by, a, id, &rc, out, ei);
}

enum err vwin_session_photo(struct req *r, int64_t id, int64_t cid, json_t **out)
{
	struct vwin_actor by = {.who = r->who, .side = VWIN_TERMINAL};
	struct errinfo ei = {0};
	struct vwin_session s;
	const char *kind = NULL;
	json_t *args = NULL;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = command_load(r->srv, r->arena, &by, id, cid, &s, &kind, &args, &ei);
	if (!e && (strcmp(kind, "form_push") || strcmp(json_get_str(args, "mode"), "print")))
		e = err_fail(&ei, ERR_BAD_STATE, "command", "该指令不是打印签字，无需上传照片");
	if (!e && !(e = db_acquire(r->srv->db, VWIN_SESSION_DB_WAIT, &c)))
		e = db_exec(c, r->arena, &rs, "SELECT path FROM orgs WHERE id = ?", "i",
		            s.centre_id);
	db_release(c);
	if (e)
		return ei.msg ? req_fail(r, e, ei.field, "%s", ei.msg) : e;
	struct principal *terminal = r->who;
	int64_t eid = 0;
	r->who = acting_as(r->arena, terminal, s.centre_id, db_text(rs, 0, 0));
	if (!r->who)
		return ERR_NOMEM;
	e = cases_materials_upload(r, s.case_no, "application_form", "kiosk_photo",
	                           "终端打印签字后拍照的申请表", &eid);
	r->who = terminal;
	if (e)
		return e;
	struct result_ctx rc = {.cid = cid,
	                        .state = "done",
	                        .evidence_kind = "photo",
	                        .result = json_arena_own(
	                            r->arena, json_pack("{s:s,s:I}", "material", "application_form",
	                                                "entry", (json_int_t)eid))};
	e = record_result(r->srv, &by, r->arena, id, &rc, out, &ei);
	return e && ei.msg ? req_fail(r, e, ei.field, "%s", ei.msg) : e;
}

/* ---- evidence ---- */

enum err vwin_session_evidence(struct server *srv, const struct vwin_actor *by, struct arena *a,
                               int64_t id, json_t **out, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct vwin_session s;
	enum err e = db_acquire(srv->db, VWIN_SESSION_DB_WAIT, &c);
	if (!e && !(e = load_for(srv, c, a, by, id, &s, ei)))
		e = db_exec(
		    c, a, &rs,
		    "SELECT seq, session_id, at, case_no, kind, payload, prev_hash, hash FROM"
		    " vwin_evidence WHERE chain = ? ORDER BY seq",
		    "s", arena_printf(a, "session:%lld", (long long)id));
	db_release(c);
	if (e)
		return e;
	struct vwin_evidence_row *rows = arena_alloc(a, sizeof(*rows) * (size_t)(rs->nrows + 1));
	json_t *arr = json_array();
	if (!rows || !arr) {
		json_decref(arr);
		return ERR_NOMEM;
	}
	for (int r = 0; r < rs->nrows; r++) {
		rows[r] = (struct vwin_evidence_row){.seq = db_int(rs, r, 0),
		                                     .session_id = db_int(rs, r, 1),
		                                     .at = db_int(rs, r, 2),
		                                     .case_no = db_text(rs, r, 3),
		                                     .kind = db_text(rs, r, 4),
		                                     .payload = db_text(rs, r, 5),
		                                     .prev_hash = db_text(rs, r, 6),
		                                     .hash = db_text(rs, r, 7)};
		json_error_t jerr;
		json_t *p = json_loads(rows[r].payload, 0, &jerr);
		json_array_append_new(arr, json_pack("{s:I,s:s,s:s?,s:o,s:I,s:s,s:s}", "seq",
		                                     (json_int_t)rows[r].seq, "kind", rows[r].kind,
		                                     "case_no", rows[r].case_no, "payload",
		                                     p ? p : json_string(rows[r].payload), "at",
		                                     (json_int_t)rows[r].at, "prev_hash",
		                                     rows[r].prev_hash, "hash", rows[r].hash));
	}
	size_t bad = 0;
	const char *why = NULL;
	bool valid = vwin_evidence_verify(rows, (size_t)rs->nrows, &bad, &why);
	*out = json_pack("{s:I,s:s?,s:b,s:o,s:s?,s:o}", "session", (json_int_t)id, "case_no",
	                 s.case_no, "valid", valid, "first_bad_seq",
	                 valid ? json_null() : json_integer((json_int_t)rows[bad].seq), "reason",
	                 why, "events", arr);
	return *out ? ERR_OK : ERR_NOMEM;
}

/* ---- the signing routes (src/sign/) ---- */

enum err vwin_session_signer(struct server *srv, const struct principal *who, struct arena *a,
                             const char *case_no, struct principal **as, const char **device)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	if (!who || !case_no)
		return ERR_FORBIDDEN;
	enum err e = db_acquire(srv->db, VWIN_SESSION_DB_WAIT, &c);
	if (!e)
		e = db_exec(c, a, &rs,
		            "SELECT s.centre_id, o.path, t.kind FROM vwin_sessions s JOIN orgs o ON"
		            " o.id = s.centre_id LEFT JOIN vwin_terminals t ON t.code = s.terminal"
		            " WHERE s.terminal_user_id = ? AND s.case_no = ? AND s.state IN"
		            " ('waiting', 'active') ORDER BY s.id DESC LIMIT 1",
		            "is", who->user_id, case_no);
	db_release(c);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_FORBIDDEN;
	*as = acting_as(a, who, db_int(rs, 0, 0), db_text(rs, 0, 1));
	*device = db_text(rs, 0, 2) && !strcmp(db_text(rs, 0, 2), "pad") ? "pad" : "kiosk";
	return *as ? ERR_OK : ERR_NOMEM;
}
