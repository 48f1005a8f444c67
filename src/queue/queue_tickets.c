/* queue_tickets.c: tickets — issuance, calling, the actions of clerks and terminals, change
 * of centre, evaluations, the centres list with live waits (docs/queue.md).
 *
 * Every change is one write unit. The one race that matters — two windows calling at the
 * same moment — is settled by a single claim: the candidate is read and taken with a guarded
 * UPDATE ... WHERE state = 'waiting' in the same unit. On SQLite units run one at a time on
 * the writer, so the read and the claim cannot interleave with another call; on PostgreSQL
 * the read takes the row with FOR UPDATE SKIP LOCKED, so concurrent callers pass over a row
 * another is claiming, and the guard makes a lost race a retry instead of a double call. */
#include <stdarg.h>
#include <string.h>

#include "auth/auth.h"
#include "cases/cases.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "events/events.h"
#include "queue/queue_int.h"
#include "server/server.h"
#include "vwin/vwin.h"

#define CLAIM_TRIES 16

/* call_next passes over the waiting tickets of a registered terminal that is not healthy
 * (vwin_terminal_healthy: disabled, self-check failed, heartbeat lapsed); they keep their
 * place and are called once the terminal is back. A ticket whose terminal is not registered
 * (issued with the token only) is called as before. Binds the lapse limit. */
#define UNHEALTHY_SKIP                                                                             \
	"NOT EXISTS (SELECT 1 FROM vwin_terminals vt JOIN vwin_points vp ON vp.id ="               \
	" vt.point_id WHERE vt.code = t.terminal AND NOT (vt.active = 1 AND vp.active = 1 AND"     \
	" vt.self_check_ok = 1 AND vt.last_seen_at >= ?))"

struct ticket {
	int64_t id, org_id, group_id, window_id, clerk_id, issued_at, called_at, started_at,
	    suspended_at, version, move_to_org, finished_at;
	const char *state, *prev_state, *ticket_no, *token_hash, *source, *terminal, *point,
	    *org_path, *group_code, *case_no, *eval_state, *day, *item_code;
};

#define TICKET_COLS                                                                                \
	"t.id, t.org_id, t.group_id, t.window_id, t.clerk_id, t.issued_at, t.called_at,"           \
	" t.started_at, t.suspended_at, t.version, t.move_to_org, t.finished_at, t.state,"         \
	" t.prev_state, t.ticket_no, t.token_hash, t.source, t.terminal, t.point, o.path,"         \
	" g.code, t.case_no, t.eval_state, t.day, t.item_code"

static enum err ticket_load(struct db_conn *c, struct arena *a, int64_t id, struct ticket *t)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT " TICKET_COLS " FROM queue_tickets t JOIN orgs o ON o.id ="
	                     " t.org_id JOIN queue_groups g ON g.id = t.group_id WHERE t.id = ?",
	                     "i", id);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	int64_t *ints[] = {&t->id,           &t->org_id,    &t->group_id,    &t->window_id,
	                   &t->clerk_id,     &t->issued_at, &t->called_at,   &t->started_at,
	                   &t->suspended_at, &t->version,   &t->move_to_org, &t->finished_at};
	for (int i = 0; i < 12; i++)
		*ints[i] = db_int(rs, 0, i);
	const char **strs[] = {&t->state,      &t->prev_state, &t->ticket_no,  &t->token_hash,
	                       &t->source,     &t->terminal,   &t->point,      &t->org_path,
	                       &t->group_code, &t->case_no,    &t->eval_state, &t->day,
	                       &t->item_code};
	for (int i = 0; i < 13; i++)
		*strs[i] = db_text(rs, 0, 12 + i);
	return ERR_OK;
}

static void token_hash(const char *token, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[32];
	crypto_sm3(token, strlen(token), d);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = 0;
}

static bool token_ok(const struct ticket *t, const char *token)
{
	char h[65];
	if (!token || !*token || strlen(token) > 128 || !t->token_hash)
		return false;
	token_hash(token, h);
	return mem_eq_ct(h, 64, t->token_hash, strlen(t->token_hash));
}

static json_t *ticket_json(struct db_conn *c, struct arena *a, int64_t id)
{
	struct db_rows *rs = NULL;
	if (db_exec(c, a, &rs,
	            "SELECT t.id, t.ticket_no, t.state, t.org_id, o.name, g.id, g.code, g.name,"
	            " w.id, w.code, w.name, t.issued_at, t.called_at, t.started_at, t.finished_at,"
	            " t.call_count, t.case_no, t.source, t.terminal, t.point, t.eval_state,"
	            " t.moved_from_org, t.move_to_org, t.day, t.item_code, t.end_reason, t.version"
	            " FROM queue_tickets t JOIN orgs o ON o.id = t.org_id JOIN queue_groups g"
	            " ON g.id = t.group_id LEFT JOIN queue_windows w ON w.id = t.window_id"
	            " WHERE t.id = ?",
	            "i", id) ||
	    rs->nrows != 1)
		return NULL;
#define OPT_INT(col) (db_is_null(rs, 0, col) ? json_null() : json_integer(db_int(rs, 0, col)))
	json_t *win = db_is_null(rs, 0, 8)
	                  ? json_null()
	                  : json_pack("{s:I,s:s,s:s}", "id", (json_int_t)db_int(rs, 0, 8), "code",
	                              db_text(rs, 0, 9), "name", db_text(rs, 0, 10));
	json_t *j = json_pack(
	    "{s:I,s:s,s:s,s:s,s:{s:I,s:s},s:{s:I,s:s,s:s},s:o,s:I,s:o,s:o,s:o,s:I,s:s?,s:s,s:s?,"
	    "s:s?,s:s?,s:o,s:o,s:s,s:s?,s:s?,s:I}",
	    "id", (json_int_t)db_int(rs, 0, 0), "ticket_no", db_text(rs, 0, 1), "state",
	    db_text(rs, 0, 2), "state_label", queue_state_label(db_text(rs, 0, 2)), "centre", "id",
	    (json_int_t)db_int(rs, 0, 3), "name", db_text(rs, 0, 4), "group", "id",
	    (json_int_t)db_int(rs, 0, 5), "code", db_text(rs, 0, 6), "name", db_text(rs, 0, 7),
	    "window", win, "issued_at", (json_int_t)db_int(rs, 0, 11), "called_at", OPT_INT(12),
	    "started_at", OPT_INT(13), "finished_at", OPT_INT(14), "call_count",
	    (json_int_t)db_int(rs, 0, 15), "case_no", db_text(rs, 0, 16), "source",
	    db_text(rs, 0, 17), "terminal", db_text(rs, 0, 18), "point", db_text(rs, 0, 19),
	    "eval_state", db_text(rs, 0, 20), "moved_from", OPT_INT(21), "move_to", OPT_INT(22),
	    "day", db_text(rs, 0, 23), "item_code", db_text(rs, 0, 24), "end_reason",
	    db_text(rs, 0, 25), "version", (json_int_t)db_int(rs, 0, 26));
#undef OPT_INT
	return j;
}

/* The ticket as JSON, read after the commit on a pool connection (new reference). */
static enum err ticket_out(struct server *srv, struct arena *a, int64_t id, json_t **out)
{
	struct db_conn *c = NULL;
	enum err e = db_acquire(srv->db, QUEUE_DB_WAIT_MS, &c);
	if (e)
		return e;
	*out = ticket_json(c, a, id);
	db_release(c);
	return *out ? ERR_OK : ERR_DB;
}

static enum err ticket_audit(struct db_conn *c, struct arena *a, const struct queue_caller *by,
                             const char *action, const struct ticket *t, const char *to,
                             json_t *extra)
{
	json_t *d =
	    json_pack("{s:s,s:s,s:s?}", "ticket_no", t->ticket_no, "from", t->state, "to", to);
	if (d && extra)
		json_object_update(d, extra);
	json_decref(extra);
	enum err e = queue_audit(c, a, by, arena_printf(a, "queue.ticket.%s", action),
	                         arena_printf(a, "queue_ticket:%lld", (long long)t->id), d);
	json_decref(d);
	return e;
}

/* ---- waits ------------------------------------------------------------------------------ */

enum err queue_wait_of(struct db_conn *c, struct arena *a, int64_t org_id, int64_t gid,
                       int64_t before_issued_at, int64_t *ahead, struct queue_wait *w, int *windows)
{
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms(), d[QUEUE_WAIT_MAX_SAMPLES];
	enum err e = db_exec(c, a, &rs,
	                     "SELECT COUNT(*) FROM queue_tickets WHERE org_id = ? AND group_id = ?"
	                     " AND state = 'waiting' AND (CAST(? AS BIGINT) = 0 OR issued_at < ?)",
	                     "iiii", org_id, gid, before_issued_at, before_issued_at);
	if (e)
		return e;
	*ahead = db_int(rs, 0, 0);
	if ((e = db_exec(c, a, &rs,
	                 "SELECT COUNT(*) FROM queue_windows w JOIN queue_window_groups wg ON"
	                 " wg.window_id = w.id WHERE wg.group_id = ? AND w.active = 1 AND"
	                 " w.clerk_id IS NOT NULL",
	                 "i", gid)))
		return e;
	*windows = (int)db_int(rs, 0, 0);
	if ((e = db_exec(c, a, &rs,
	                 "SELECT finished_at - COALESCE(started_at, called_at) FROM queue_tickets"
	                 " WHERE group_id = ? AND state = 'done' AND finished_at > ? AND"
	                 " called_at IS NOT NULL ORDER BY finished_at DESC LIMIT 200",
	                 "ii", gid, now - 7 * 86400000LL)))
		return e;
	int n = rs->nrows < QUEUE_WAIT_MAX_SAMPLES ? rs->nrows : QUEUE_WAIT_MAX_SAMPLES;
	for (int i = 0; i < n; i++)
		d[i] = db_int(rs, i, 0);
	queue_wait_estimate(d, n, *ahead, *windows, w);
	return ERR_OK;
}

static json_t *wait_json(const struct queue_wait *w, int64_t ahead, int windows)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:i}", "ahead", (json_int_t)ahead, "minutes",
	                 (json_int_t)w->minutes, "low", (json_int_t)w->low, "high",
	                 (json_int_t)w->high, "mean_service_s",
	                 (json_int_t)(w->mean_service_ms / 1000), "windows_open", windows);
}

/* ---- issuance --------------------------------------------------------------------------- */

static bool item_code_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 12 || n > 50)
		return false;
	for (size_t i = 0; i < 12; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

/* The active group of org that serves item (its basic code: the first 12 characters) —
 * directly, or through the item's department in the catalog. */
static enum err group_for_item(struct db_conn *c, struct arena *a, int64_t org_id, const char *item,
                               int64_t *gid, const char **code)
{
	struct db_rows *rs = NULL;
	char basic[13];
	snprintf(basic, sizeof(basic), "%.12s", item);
	enum err e =
	    db_exec(c, a, &rs,
	            "SELECT g.id, g.code FROM queue_groups g JOIN queue_group_covers v ON"
	            " v.group_id = g.id WHERE g.org_id = ? AND g.active = 1 AND"
	            " ((v.kind = 'item' AND v.code = ?) OR (v.kind = 'department' AND"
	            " v.code = (SELECT department FROM catalog_items WHERE basic_code = ?)))"
	            " ORDER BY v.kind DESC, g.code LIMIT 1",
	            "iss", org_id, basic, basic);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	*gid = db_int(rs, 0, 0);
	*code = db_text(rs, 0, 1);
	return ERR_OK;
}

/* The next number of (org, today, group code), in the caller's transaction. */
static enum err next_number(struct db_conn *c, struct arena *a, int64_t org_id, const char *day,
                            const char *code, char label[16])
{
	struct db_rows *rs = NULL;
	enum err e =
	    db_exec(c, a, &rs,
	            "INSERT INTO queue_seq (org_id, day, group_code, n) VALUES (?, ?, ?, 1)"
	            " ON CONFLICT (org_id, day, group_code) DO UPDATE SET n = queue_seq.n + 1"
	            " RETURNING n",
	            "iss", org_id, day, code);
	if (e)
		return e;
	if (rs->nrows != 1 || !queue_ticket_label(code, db_int(rs, 0, 0), label, 16))
		return ERR_INTERNAL;
	return ERR_OK;
}

struct issue_ctx {
	const struct queue_caller *by;
	struct arena *a;
	struct errinfo *ei;
	const struct queue_issue_req *in;
	const char *token_hash;
	int64_t id, org_id, issued_at, group_id;
};

static enum err issue_unit(struct db_conn *c, void *ctx)
{
	struct issue_ctx *x = ctx;
	struct arena *a = x->a;
	const struct queue_issue_req *in = x->in;
	struct db_rows *rs = NULL;
	const char *gcode = NULL;
	int64_t gid = 0, now = time_now_ms();
	char day[11], label[16];
	bool onsite = !strcmp(in->source, "onsite");
	/* On site: a centre in the caller's scope. From a terminal the resident chooses any
	 * centre of the city (全市通办). */
	enum err e = queue_centre_load(c, a, in->centre_id, onsite ? x->by->who : NULL, NULL, NULL);
	if (e == ERR_NOT_FOUND)
		return err_fail(x->ei, ERR_NOT_FOUND, "centre_id",
		                "受理中心不存在或不在您的管辖范围内");
	if (e)
		return e;
	if (in->group_code) {
		if ((e = db_exec(c, a, &rs,
		                 "SELECT id, code FROM queue_groups WHERE org_id = ? AND code = ?"
		                 " AND active = 1",
		                 "is", in->centre_id, in->group_code)))
			return e;
		if (rs->nrows != 1)
			return err_fail(
			    x->ei, ERR_NOT_FOUND, "group_code",
			    arena_printf(a, "该中心没有启用代码为 %s 的排队组", in->group_code));
		gid = db_int(rs, 0, 0);
		gcode = db_text(rs, 0, 1);
	} else {
		e = group_for_item(c, a, in->centre_id, in->item_code, &gid, &gcode);
		if (e == ERR_NOT_FOUND)
			return err_fail(x->ei, ERR_NOT_FOUND, "item_code",
			                "该中心没有办理此事项的排队组，请选择其他中心");
		if (e)
			return e;
	}
	queue_day_of(now, day);
	if ((e = next_number(c, a, in->centre_id, day, gcode, label)))
		return e;
	if ((e = db_exec(c, a, &rs,
	                 "INSERT INTO queue_tickets (org_id, group_id, day, ticket_no, item_code,"
	                 " source, terminal, point, token_hash, state, issued_at, last_activity_at,"
	                 " issued_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?,"
	                 " 'waiting', ?, ?, ?, ?, ?) RETURNING id",
	                 "iisssssssiiiii", in->centre_id, gid, day, label, in->item_code,
	                 in->source, in->terminal, in->point, x->token_hash, now, now,
	                 x->by->who ? x->by->who->user_id : (int64_t)0, now, now)))
		return e;
	x->id = db_int(rs, 0, 0);
	x->org_id = in->centre_id;
	x->issued_at = now;
	x->group_id = gid;
	struct ticket t = {.id = x->id, .ticket_no = label, .state = NULL};
	return ticket_audit(c, a, x->by, "issue", &t, "waiting",
	                    json_pack("{s:s,s:s?,s:s?,s:I}", "source", in->source, "terminal",
	                              in->terminal, "point", in->point, "centre_id",
	                              (json_int_t)in->centre_id));
}

/* A text id of a terminal or point: 1..64 of [A-Za-z0-9._:-]. */
static bool text_id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= 'a' && s[i] <= 'z') || s[i] == '.' || s[i] == '_' || s[i] == ':' ||
		      s[i] == '-'))
			return false;
	return true;
}

enum err queue_ticket_issue(struct server *srv, const struct queue_caller *by, struct arena *a,
                            const struct queue_issue_req *in_req, json_t **out, struct errinfo *ei)
{
	char token[33], th[65];
	struct db_conn *c = NULL;
	struct queue_issue_req term_req;
	const struct queue_issue_req *in = in_req;
	struct issue_ctx x = {.by = by, .a = a, .ei = ei, .in = in};
	*out = NULL;
	/* A terminal's device session issues for itself: terminal and point come from the
	 * session, never the body, and the terminal must be healthy (and, for 上门办, inside
	 * its fence and hours). */
	struct vwin_terminal vt;
	enum err te = by->who ? vwin_terminal_of(srv, by->who, a, &vt) : ERR_FORBIDDEN;
	if (te && te != ERR_FORBIDDEN)
		return te == ERR_NOT_FOUND ? err_fail(ei, ERR_FORBIDDEN, "terminal", "终端不存在")
		                           : te;
	if (!te) {
		enum err ve = vwin_service_check(srv, &vt, in_req->location, a, ei);
		if (ve)
			return ve;
		term_req = *in_req;
		term_req.source = "terminal";
		term_req.terminal = vt.code;
		term_req.point = vt.point;
		in = x.in = &term_req;
	}
	if (!in->source || (strcmp(in->source, "onsite") && strcmp(in->source, "terminal")))
		return err_fail(ei, ERR_BAD_FIELD, "source",
		                "取号方式应为 onsite（现场）或 terminal（终端）");
	if (!strcmp(in->source, "terminal") && !text_id_ok(in->terminal))
		return err_fail(ei, in->terminal ? ERR_BAD_FIELD : ERR_MISSING_FIELD, "terminal",
		                "终端取号须填写终端编号（1–64 位字母、数字或 . _ : -）");
	if (in->point && !text_id_ok(in->point))
		return err_fail(ei, ERR_BAD_FIELD, "point",
		                "点位编号应为 1–64 位字母、数字或 . _ : -");
	if (!in->group_code && !in->item_code)
		return err_fail(ei, ERR_MISSING_FIELD, "item_code", "请选择办理事项或排队组");
	if (in->group_code && !queue_group_code_valid(in->group_code))
		return err_fail(ei, ERR_BAD_FIELD, "group_code", "排队组代码应为 1–2 个大写字母");
	if (!in->group_code && !item_code_ok(in->item_code))
		return err_fail(ei, ERR_BAD_FIELD, "item_code", "事项编码应以 12 位基本编码开头");
	if (in->centre_id <= 0)
		return err_fail(ei, ERR_MISSING_FIELD, "centre_id", "请选择受理中心");
	enum err e = id_random_hex(token, 16);
	if (e)
		return e;
	token_hash(token, th);
	x.token_hash = th;
	if ((e = db_write_unit(srv->db, issue_unit, &x, QUEUE_DB_WAIT_MS)))
		return e;
	json_t *t = NULL;
	int64_t ahead = 0;
	int windows = 0;
	struct queue_wait w;
	if ((e = db_acquire(srv->db, QUEUE_DB_WAIT_MS, &c)))
		return e;
	t = ticket_json(c, a, x.id);
	e = t ? queue_wait_of(c, a, x.org_id, x.group_id, x.issued_at, &ahead, &w, &windows)
	      : ERR_DB;
	db_release(c);
	if (e) {
		json_decref(t);
		return e;
	}
	queue_board_publish(srv, x.org_id, "issued", t);
	*out = json_pack("{s:o,s:s,s:I,s:o}", "ticket", t, "token", token, "position",
	                 (json_int_t)(ahead + 1), "wait", wait_json(&w, ahead, windows));
	return *out ? ERR_OK : ERR_NOMEM;
}

/* ---- calling ------------------------------------------------------------------------------ */

struct call_ctx {
	struct server *srv;
	const struct queue_caller *by;
	struct arena *a;
	struct errinfo *ei;
	int64_t window_id;
	int64_t id, org_id;
};

static enum err call_unit(struct db_conn *c, void *ctx)
{
	struct call_ctx *x = ctx;
	struct arena *a = x->a;
	const struct principal *who = x->by->who;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	char day[11];
	bool pg = !strcmp(db_engine(x->srv->db), "postgres");
	/* The window's row first: on PostgreSQL this locks it, so two calls of one window
	 * queue up here and the "still has a ticket" check below holds. */
	enum err e = db_exec(c, a, &rs,
	                     "UPDATE queue_windows SET updated_at = ? WHERE id = ?"
	                     " RETURNING org_id, active, clerk_id",
	                     "ii", now, x->window_id);
	if (e)
		return e;
	if (rs->nrows != 1)
		return err_fail(x->ei, ERR_NOT_FOUND, NULL, "窗口不存在");
	int64_t org_id = db_int(rs, 0, 0);
	bool active = db_int(rs, 0, 1) != 0;
	int64_t clerk = db_int(rs, 0, 2);
	const char *path = NULL;
	if ((e = queue_centre_load(c, a, org_id, who, &path, NULL)) == ERR_NOT_FOUND)
		return err_fail(x->ei, ERR_NOT_FOUND, NULL, "窗口不存在");
	if (e)
		return e;
	if (!active)
		return err_fail(x->ei, ERR_BAD_STATE, NULL, "该窗口已停用");
	if (clerk != who->user_id)
		return err_fail(x->ei, ERR_FORBIDDEN, NULL, "请先在该窗口签到再叫号");
	if ((e = db_exec(c, a, &rs,
	                 "SELECT ticket_no FROM queue_tickets WHERE window_id = ? AND state IN"
	                 " ('called', 'serving') LIMIT 1",
	                 "i", x->window_id)))
		return e;
	if (rs->nrows)
		return err_fail(x->ei, ERR_BAD_STATE, NULL,
		                arena_printf(a, "本窗口的 %s 号尚未结束，请先办结、过号或转移",
		                             db_text(rs, 0, 0)));
	queue_day_of(now, day);
	/* vwin_terminal_healthy in SQL: heartbeats older than this are lapsed */
	int64_t lapsed_before = now - VWIN_LAPSE_INTERVALS * x->srv->cfg.vwin_heartbeat_s * 1000;
	const char *pick = pg ? "SELECT t.id, t.ticket_no, t.state FROM queue_tickets t WHERE"
	                        " t.org_id = ? AND t.day = ? AND t.state = 'waiting' AND"
	                        " ((t.target_window_id IS NULL AND t.group_id IN (SELECT group_id"
	                        " FROM queue_window_groups WHERE window_id = ?)) OR"
	                        " t.target_window_id = ?) AND " UNHEALTHY_SKIP
	                        " ORDER BY t.issued_at, t.id LIMIT 1 FOR UPDATE SKIP LOCKED"
	                      : "SELECT t.id, t.ticket_no, t.state FROM queue_tickets t WHERE"
	                        " t.org_id = ? AND t.day = ? AND t.state = 'waiting' AND"
	                        " ((t.target_window_id IS NULL AND t.group_id IN (SELECT group_id"
	                        " FROM queue_window_groups WHERE window_id = ?)) OR"
	                        " t.target_window_id = ?) AND " UNHEALTHY_SKIP
	                        " ORDER BY t.issued_at, t.id LIMIT 1";
	for (int tries = 0; tries < CLAIM_TRIES; tries++) {
		if ((e = db_exec(c, a, &rs, pick, "isiii", org_id, day, x->window_id, x->window_id,
		                 lapsed_before)))
			return e;
		if (rs->nrows == 0)
			return err_fail(x->ei, ERR_NOT_FOUND, NULL, "暂无等候的号");
		int64_t id = db_int(rs, 0, 0);
		struct ticket t = {.id = id, .ticket_no = db_text(rs, 0, 1), .state = "waiting"};
		struct db_rows *up = NULL;
		if ((e = db_exec(
		         c, a, &up,
		         "UPDATE queue_tickets SET state = 'called', window_id = ?, clerk_id = ?,"
		         " called_at = ?, last_activity_at = ?, call_count = 1,"
		         " target_window_id = NULL, version = version + 1, updated_at = ?"
		         " WHERE id = ? AND state = 'waiting'",
		         "iiiiii", x->window_id, who->user_id, now, now, now, id)))
			return e;
		if (up->changes != 1)
			continue; /* another window took it between our read and our claim */
		x->id = id;
		x->org_id = org_id;
		return ticket_audit(c, a, x->by, "call", &t, "called",
		                    json_pack("{s:I}", "window_id", (json_int_t)x->window_id));
	}
	return err_fail(x->ei, ERR_CONFLICT, NULL, "叫号繁忙，请重试");
}

enum err queue_call_next(struct server *srv, const struct queue_caller *by, struct arena *a,
                         int64_t window_id, json_t **out, struct errinfo *ei)
{
	struct call_ctx x = {.srv = srv, .by = by, .a = a, .ei = ei, .window_id = window_id};
	enum err e = db_write_unit(srv->db, call_unit, &x, QUEUE_DB_WAIT_MS);
	if (e)
		return e;
	if ((e = ticket_out(srv, a, x.id, out)))
		return e;
	queue_board_publish(srv, x.org_id, "called", *out);
	queue_hooks_run(srv, "call", by->who, *out);
	return ERR_OK;
}

/* ---- actions on one ticket ------------------------------------------------------------- */

struct act_ctx {
	struct server *srv;
	const struct queue_caller *by;
	struct arena *a;
	struct errinfo *ei;
	int64_t ticket_id;
	const char *action; /* the route's action */
	const json_t *body;
	int64_t org_id, new_org_id;
	const char *terminal; /* for the move proposal's event */
	const char *event;
};

/* Actions a terminal takes with the ticket's secret; the others are a clerk's. */
static bool terminal_action(const char *action)
{
	return !strcmp(action, "resume") || !strcmp(action, "cancel") ||
	       !strcmp(action, "move_confirm");
}

static bool holds(const struct principal *who, const char *perm)
{
	for (int i = 0; who && i < who->nperms; i++)
		if (!strcmp(who->perms[i], perm))
			return true;
	return false;
}

/* A group of org to move a ticket of group code / item to: the same code, else the group
 * serving the item. */
static enum err move_target(struct db_conn *c, struct arena *a, int64_t org_id,
                            const struct ticket *t, int64_t *gid, const char **code)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT id, code FROM queue_groups WHERE org_id = ? AND code = ?"
	                     " AND active = 1",
	                     "is", org_id, t->group_code);
	if (e)
		return e;
	if (rs->nrows == 1) {
		*gid = db_int(rs, 0, 0);
		*code = db_text(rs, 0, 1);
		return ERR_OK;
	}
	return t->item_code ? group_for_item(c, a, org_id, t->item_code, gid, code) : ERR_NOT_FOUND;
}

static enum err guarded(struct db_conn *c, struct arena *a, struct errinfo *ei, const char *sql,
                        const char *types, ...);

static enum err act_unit(struct db_conn *c, void *ctx)
{
	struct act_ctx *x = ctx;
	struct arena *a = x->a;
	const struct principal *who = x->by->who;
	struct ticket t;
	int64_t now = time_now_ms();
	const char *to = NULL;
	const char *trans = !strcmp(x->action, "move_confirm") || !strcmp(x->action, "move_propose")
	                        ? "move"
	                        : x->action;
	json_t *extra = NULL;
	enum err e = ticket_load(c, a, x->ticket_id, &t);
	if (e == ERR_NOT_FOUND)
		return err_fail(x->ei, ERR_NOT_FOUND, NULL, "排队号不存在");
	if (e)
		return e;
	if (terminal_action(x->action)) {
		if (!token_ok(&t, x->by->token))
			return err_fail(x->ei, ERR_FORBIDDEN, "token", "取号凭证不正确");
	} else if (!who || !auth_scope_covers(who, t.org_path)) {
		return err_fail(x->ei, ERR_NOT_FOUND, NULL, "排队号不存在");
	}
	x->org_id = t.org_id;
	x->terminal = t.terminal;
	if (!queue_transition(t.state, trans, &to))
		return err_fail(x->ei, ERR_BAD_STATE, "state",
		                arena_printf(a, "%s 号当前%s，不能%s", t.ticket_no,
		                             queue_state_label(t.state),
		                             queue_action_label(trans)));
	/* The clerk actions on a called or serving ticket belong to its window's clerk (a
	 * manager may act for an absent one); force-skip and move belong to the centre. */
	bool own = who && (t.clerk_id == who->user_id || holds(who, "queue.manage"));
	if (!terminal_action(x->action) && strcmp(x->action, "force_skip") &&
	    strcmp(x->action, "move_propose") && !own)
		return err_fail(x->ei, ERR_FORBIDDEN, NULL, "该号由其他窗口办理");
	if (!strcmp(x->action, "recall")) {
		e = guarded(
		    c, a, x->ei,
		    "UPDATE queue_tickets SET call_count = call_count + 1, last_activity_at = ?,"
		    " version = version + 1, updated_at = ? WHERE id = ? AND version = ?",
		    "iiii", now, now, t.id, t.version);
	} else if (!strcmp(x->action, "skip") || !strcmp(x->action, "force_skip") ||
	           !strcmp(x->action, "cancel")) {
		e = guarded(c, a, x->ei,
		            "UPDATE queue_tickets SET state = ?, end_reason = ?, finished_at = ?,"
		            " prev_state = NULL, last_activity_at = ?, version = version + 1,"
		            " updated_at = ? WHERE id = ? AND version = ?",
		            "ssiiiii", to, x->action, now, now, now, t.id, t.version);
	} else if (!strcmp(x->action, "start")) {
		e = guarded(
		    c, a, x->ei,
		    "UPDATE queue_tickets SET state = 'serving', started_at = ?, last_activity_at"
		    " = ?, version = version + 1, updated_at = ? WHERE id = ? AND version = ?",
		    "iiiii", now, now, now, t.id, t.version);
	} else if (!strcmp(x->action, "finish")) {
		const char *case_no = json_get_str(x->body, "case_no");
		if (case_no && (strlen(case_no) < 5 || strlen(case_no) > 60))
			return err_fail(x->ei, ERR_BAD_FIELD, "case_no", "办件编号格式不正确");
		if (case_no) {
			struct db_rows *rs = NULL;
			if ((e = db_exec(c, a, &rs,
			                 "SELECT 1 FROM cases WHERE case_no = ? AND org_id = ?",
			                 "si", case_no, t.org_id)))
				return e;
			if (rs->nrows != 1)
				return err_fail(x->ei, ERR_NOT_FOUND, "case_no",
				                "办件编号不存在或不属于本中心");
		}
		e = guarded(c, a, x->ei,
		            "UPDATE queue_tickets SET state = 'done', finished_at = ?, case_no = ?,"
		            " eval_state = 'pending', end_reason = 'finish', last_activity_at = ?,"
		            " version = version + 1, updated_at = ? WHERE id = ? AND version = ?",
		            "isiiii", now, case_no, now, now, t.id, t.version);
		int64_t since = t.started_at ? t.started_at : t.called_at;
		if (!e &&
		    (e = db_exec(c, a, NULL,
		                 "INSERT INTO queue_stat_events (org_id, ticket_id, kind, channel,"
		                 " point, terminal, group_code, day, duration_ms, at) VALUES (?, ?,"
		                 " ?, ?, ?, ?, ?, ?, ?, ?)",
		                 "iissssssii", t.org_id, t.id, case_no ? "service" : "consultation",
		                 t.source, t.point, t.terminal, t.group_code, t.day,
		                 since ? now - since : (int64_t)0, now)))
			return e;
		extra = json_pack("{s:s?}", "case_no", case_no);
	} else if (!strcmp(x->action, "transfer")) {
		int64_t to_window = json_get_int(x->body, "window_id", 0), gid = t.group_id;
		const char *gcode = json_get_str(x->body, "group_code");
		struct db_rows *rs = NULL;
		if ((to_window > 0) == (gcode != NULL))
			return err_fail(x->ei, ERR_BAD_FIELD, "window_id",
			                "请指定转往的窗口（window_id）或排队组（group_code）之一");
		if (to_window > 0) {
			if ((e = db_exec(
			         c, a, &rs,
			         "SELECT id FROM queue_windows WHERE id = ? AND org_id = ? AND"
			         " active = 1",
			         "ii", to_window, t.org_id)))
				return e;
			if (rs->nrows != 1)
				return err_fail(x->ei, ERR_NOT_FOUND, "window_id",
				                "目标窗口不存在或已停用");
		} else {
			if ((e = db_exec(
			         c, a, &rs,
			         "SELECT id FROM queue_groups WHERE org_id = ? AND code = ? AND"
			         " active = 1",
			         "is", t.org_id, gcode)))
				return e;
			if (rs->nrows != 1)
				return err_fail(x->ei, ERR_NOT_FOUND, "group_code",
				                "目标排队组不存在或已停用");
			gid = db_int(rs, 0, 0);
		}
		/* issued_at stays: the transferred ticket keeps its place by original issue time */
		const char *sql =
		    "UPDATE queue_tickets SET state = 'waiting', window_id = NULL,"
		    " clerk_id = NULL, called_at = NULL, started_at = NULL, call_count = 0,"
		    " target_window_id = ?, group_id = ?, last_activity_at = ?, version ="
		    " version + 1, updated_at = ? WHERE id = ? AND version = ?";
		if (to_window > 0)
			e = guarded(c, a, x->ei, sql, "iiiiii", to_window, gid, now, now, t.id,
			            t.version);
		else
			e = guarded(c, a, x->ei, sql, "niiiii", gid, now, now, t.id, t.version);
		extra = json_pack("{s:I,s:I}", "to_window", (json_int_t)to_window, "to_group",
		                  (json_int_t)gid);
	} else if (!strcmp(x->action, "suspend")) {
		e = guarded(
		    c, a, x->ei,
		    "UPDATE queue_tickets SET state = 'suspended', prev_state = state,"
		    " suspended_at = ?, version = version + 1, updated_at = ? WHERE id = ? AND"
		    " version = ?",
		    "iiii", now, now, t.id, t.version);
	} else if (!strcmp(x->action, "resume")) {
		if (now - t.suspended_at > QUEUE_SUSPEND_LIMIT_MS)
			return err_fail(x->ei, ERR_BAD_STATE, "state",
			                "已超过恢复时限，请重新取号或联系窗口");
		to = t.prev_state ? t.prev_state : "called";
		e = guarded(
		    c, a, x->ei,
		    "UPDATE queue_tickets SET state = ?, prev_state = NULL, suspended_at = NULL,"
		    " last_activity_at = ?, version = version + 1, updated_at = ? WHERE id = ?"
		    " AND version = ?",
		    "siiii", to, now, now, t.id, t.version);
	} else if (!strcmp(x->action, "move_propose")) {
		int64_t centre = json_get_int(x->body, "centre_id", 0), gid = 0;
		const char *gcode = NULL;
		if (centre == t.org_id)
			return err_fail(x->ei, ERR_BAD_FIELD, "centre_id", "请选择另一个受理中心");
		if ((e = queue_centre_load(c, a, centre, NULL, NULL, NULL)) == ERR_NOT_FOUND)
			return err_fail(x->ei, ERR_NOT_FOUND, "centre_id", "目标受理中心不存在");
		if (e)
			return e;
		if ((e = move_target(c, a, centre, &t, &gid, &gcode)) == ERR_NOT_FOUND)
			return err_fail(x->ei, ERR_INVALID, "centre_id",
			                "目标中心没有可办理该事项的排队组");
		if (e)
			return e;
		to = t.state; /* a proposal changes nothing until the resident confirms */
		e = guarded(
		    c, a, x->ei,
		    "UPDATE queue_tickets SET move_to_org = ?, move_proposed_at = ?, version ="
		    " version + 1, updated_at = ? WHERE id = ? AND version = ?",
		    "iiiii", centre, now, now, t.id, t.version);
		x->new_org_id = centre;
		extra = json_pack("{s:I}", "to_centre", (json_int_t)centre);
	} else if (!strcmp(x->action, "move_confirm")) {
		int64_t gid = 0;
		const char *gcode = NULL;
		char day[11], label[16];
		if (!t.move_to_org)
			return err_fail(x->ei, ERR_BAD_STATE, "state", "没有待确认的更换中心建议");
		if ((e = move_target(c, a, t.move_to_org, &t, &gid, &gcode)) == ERR_NOT_FOUND)
			return err_fail(x->ei, ERR_INVALID, NULL, "目标中心已不再办理该事项");
		if (e)
			return e;
		queue_day_of(now, day);
		if ((e = next_number(c, a, t.move_to_org, day, gcode, label)))
			return e;
		/* issued_at stays: the ticket keeps its place by original issue time */
		e = guarded(
		    c, a, x->ei,
		    "UPDATE queue_tickets SET org_id = ?, group_id = ?, ticket_no = ?, day = ?,"
		    " moved_from_org = org_id, move_to_org = NULL, state = 'waiting',"
		    " window_id = NULL, clerk_id = NULL, target_window_id = NULL, called_at ="
		    " NULL, started_at = NULL, call_count = 0, last_activity_at = ?, version ="
		    " version + 1, updated_at = ? WHERE id = ? AND version = ?",
		    "iissiiii", t.move_to_org, gid, label, day, now, now, t.id, t.version);
		x->new_org_id = t.move_to_org;
		extra = json_pack("{s:I,s:I,s:s}", "from_centre", (json_int_t)t.org_id, "to_centre",
		                  (json_int_t)t.move_to_org, "new_ticket_no", label);
	} else {
		return ERR_INTERNAL;
	}
	if (e) {
		json_decref(extra);
		return e;
	}
	return ticket_audit(c, a, x->by, x->action, &t, to, extra);
}

/* Run a guarded UPDATE (… AND version = ?); no row changed → ERR_CONFLICT. */
static enum err guarded(struct db_conn *c, struct arena *a, struct errinfo *ei, const char *sql,
                        const char *types, ...)
{
	struct db_val p[16];
	va_list ap;
	int n = 0;
	va_start(ap, types);
	for (const char *ty = types; *ty && n < 16; ty++, n++) {
		memset(&p[n], 0, sizeof(p[n]));
		if (*ty == 'i') {
			p[n].type = DB_INT;
			p[n].i = va_arg(ap, int64_t);
		} else if (*ty == 's') {
			const char *s = va_arg(ap, const char *);
			p[n].type = s ? DB_TEXT : DB_NULL;
			p[n].p = s;
			p[n].n = s ? strlen(s) : 0;
		} else {
			p[n].type = DB_NULL;
		}
	}
	va_end(ap);
	struct db_rows *rs = NULL;
	enum err e = db_execv(c, a, &rs, sql, p, n);
	if (e)
		return e;
	if (rs->changes != 1)
		return err_fail(ei, ERR_CONFLICT, "version", "该号刚被他人处理，请刷新后重试");
	return ERR_OK;
}

enum err queue_ticket_act(struct server *srv, const struct queue_caller *by, struct arena *a,
                          int64_t ticket_id, const char *action, const json_t *body, json_t **out,
                          struct errinfo *ei)
{
	struct act_ctx x = {.srv = srv,
	                    .by = by,
	                    .a = a,
	                    .ei = ei,
	                    .ticket_id = ticket_id,
	                    .action = action,
	                    .body = body};
	enum err e = db_write_unit(srv->db, act_unit, &x, QUEUE_DB_WAIT_MS);
	if (e)
		return e;
	if ((e = ticket_out(srv, a, ticket_id, out)))
		return e;
	queue_board_publish(srv, x.org_id, action, *out);
	queue_hooks_run(srv, action, by->who, *out);
	if (!strcmp(action, "move_confirm"))
		queue_board_publish(srv, x.new_org_id, "moved_in", *out);
	if (!strcmp(action, "move_propose") && srv->bus && x.terminal) {
		/* the terminal page (src/vwin, later) listens on its own topic */
		char topic[160];
		json_t *m = json_pack("{s:s,s:I,s:I}", "event", "move_proposed", "ticket_id",
		                      (json_int_t)ticket_id, "centre_id", (json_int_t)x.new_org_id);
		const char *text = m ? json_dump_arena(m, a) : NULL;
		json_decref(m);
		if (text && snprintf(topic, sizeof(topic), "terminal:%s:queue", x.terminal) <
		                (int)sizeof(topic))
			event_bus_publish(srv->bus, topic, text);
	}
	return ERR_OK;
}

/* ---- a lost terminal ---------------------------------------------------------------- */

struct lost_ctx {
	struct arena *a;
	int64_t ticket_id, org_id;
	const char *reason;
};

static enum err lost_unit(struct db_conn *c, void *ctx)
{
	struct lost_ctx *x = ctx;
	struct ticket t;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	struct queue_caller sys = {0};
	enum err e = ticket_load(c, x->a, x->ticket_id, &t);
	if (e)
		return e;
	if (strcmp(t.state, "called") && strcmp(t.state, "serving"))
		return ERR_BAD_STATE;
	if ((e = db_exec(c, x->a, &rs,
	                 "UPDATE queue_tickets SET state = 'suspended', prev_state = state,"
	                 " suspended_at = ?, version = version + 1, updated_at = ? WHERE id = ?"
	                 " AND version = ?",
	                 "iiii", now, now, t.id, t.version)))
		return e;
	if (rs->changes != 1)
		return ERR_CONFLICT;
	x->org_id = t.org_id;
	return ticket_audit(c, x->a, &sys, "suspend", &t, "suspended",
	                    json_pack("{s:s}", "reason", x->reason));
}

enum err queue_ticket_suspend_lost(struct server *srv, int64_t ticket_id, const char *reason)
{
	struct arena a;
	json_t *out = NULL;
	arena_init(&a, 1u << 20);
	struct lost_ctx x = {.a = &a, .ticket_id = ticket_id, .reason = reason};
	enum err e = db_write_unit(srv->db, lost_unit, &x, QUEUE_DB_WAIT_MS);
	if (!e && !(e = ticket_out(srv, &a, ticket_id, &out))) {
		queue_board_publish(srv, x.org_id, "suspend", out);
		queue_hooks_run(srv, "suspend", NULL, out);
		json_decref(out);
	}
	arena_release(&a);
	return e;
}

/* ---- the resident's view -------------------------------------------------------------- */

enum err queue_ticket_status(struct server *srv, const struct queue_caller *by, struct arena *a,
                             int64_t ticket_id, json_t **out, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct ticket t;
	json_t *tj = NULL, *proposal = json_null();
	enum err e = db_acquire(srv->db, QUEUE_DB_WAIT_MS, &c);
	if (e)
		return e;
	if ((e = ticket_load(c, a, ticket_id, &t)) == ERR_NOT_FOUND)
		e = err_fail(ei, ERR_NOT_FOUND, NULL, "排队号不存在");
	if (!e && !token_ok(&t, by->token) && !(by->who && auth_scope_covers(by->who, t.org_path)))
		e = err_fail(ei, ERR_FORBIDDEN, "token", "取号凭证不正确");
	if (!e && !(tj = ticket_json(c, a, ticket_id)))
		e = ERR_DB;
	int64_t ahead = 0;
	int windows = 0;
	struct queue_wait w;
	if (!e &&
	    (e = queue_wait_of(c, a, t.org_id, t.group_id, t.issued_at, &ahead, &w, &windows)))
		goto out;
	if (!e && t.move_to_org) {
		const char *name = NULL;
		int64_t gid = 0, mahead = 0;
		const char *gcode = NULL;
		int mwin = 0;
		struct queue_wait mw;
		if (!queue_centre_load(c, a, t.move_to_org, NULL, NULL, &name) &&
		    !move_target(c, a, t.move_to_org, &t, &gid, &gcode) &&
		    !queue_wait_of(c, a, t.move_to_org, gid, t.issued_at, &mahead, &mw, &mwin))
			proposal =
			    json_pack("{s:I,s:s,s:s,s:o}", "centre_id", (json_int_t)t.move_to_org,
			              "centre_name", name, "group_code", gcode, "wait",
			              wait_json(&mw, mahead, mwin));
	}
out:
	db_release(c);
	if (e) {
		json_decref(tj);
		json_decref(proposal);
		return e;
	}
	bool waiting = !strcmp(t.state, "waiting");
	*out = json_pack("{s:o,s:o,s:o,s:o}", "ticket", tj, "position",
	                 waiting ? json_integer(ahead + 1) : json_null(), "wait",
	                 waiting ? wait_json(&w, ahead, windows) : json_null(), "move_proposal",
	                 proposal);
	return *out ? ERR_OK : ERR_NOMEM;
}

/* ---- evaluation (好差评) --------------------------------------------------------------- */

struct rate_ctx {
	struct server *srv;
	const struct queue_caller *by;
	struct arena *a;
	struct errinfo *ei;
	int64_t ticket_id;
	int64_t level;
	const char *comment, *tags;
	int64_t rating_id, followup_id;
	char due[11];
};

static enum err rate_unit(struct db_conn *c, void *ctx)
{
	struct rate_ctx *x = ctx;
	struct arena *a = x->a;
	struct ticket t;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	enum err e = ticket_load(c, a, x->ticket_id, &t);
	if (e == ERR_NOT_FOUND)
		return err_fail(x->ei, ERR_NOT_FOUND, NULL, "排队号不存在");
	if (e)
		return e;
	if (!token_ok(&t, x->by->token))
		return err_fail(x->ei, ERR_FORBIDDEN, "token", "取号凭证不正确");
	if (!t.eval_state || strcmp(t.eval_state, "pending"))
		return err_fail(x->ei, ERR_BAD_STATE, "state",
		                t.eval_state && !strcmp(t.eval_state, "done") ? "该次服务已评价"
		                : t.eval_state && !strcmp(t.eval_state, "expired")
		                    ? "评价已超过时限"
		                    : "该号还没有可评价的服务");
	if ((e = db_exec(c, a, &rs,
	                 "UPDATE queue_tickets SET eval_state = 'done', updated_at = ?, version ="
	                 " version + 1 WHERE id = ? AND eval_state = 'pending'",
	                 "ii", now, t.id)))
		return e;
	if (rs->changes != 1)
		return err_fail(x->ei, ERR_CONFLICT, NULL, "该次服务已评价");
	struct db_rows *w = NULL;
	if ((e = db_exec(c, a, &w, "SELECT window_id, clerk_id FROM queue_tickets WHERE id = ?",
	                 "i", t.id)))
		return e;
	if ((e = db_exec(c, a, &rs,
	                 "INSERT INTO queue_ratings (ticket_id, org_id, window_id, clerk_id,"
	                 " case_no, channel, level, comment, tags, created_at) VALUES (?, ?, ?, ?,"
	                 " ?, ?, ?, ?, ?, ?) RETURNING id",
	                 "iiiississi", t.id, t.org_id, db_int(w, 0, 0), db_int(w, 0, 1), t.case_no,
	                 t.source, x->level, x->comment, x->tags, now)))
		return e;
	x->rating_id = db_int(rs, 0, 0);
	if (x->level >= 4) {
		if ((e = db_exec(
		         c, a, &rs,
		         "INSERT INTO queue_followups (rating_id, org_id, ticket_id, state,"
		         " due_day, created_at) VALUES (?, ?, ?, 'open', ?, ?) RETURNING id",
		         "iiisi", x->rating_id, t.org_id, t.id, x->due, now)))
			return e;
		x->followup_id = db_int(rs, 0, 0);
	}
	return ticket_audit(
	    c, a, x->by, "rate", &t, t.state,
	    json_pack("{s:I,s:b}", "level", (json_int_t)x->level, "bad", x->level >= 4));
}

enum err queue_ticket_rate(struct server *srv, const struct queue_caller *by, struct arena *a,
                           int64_t ticket_id, const json_t *body, json_t **out, struct errinfo *ei)
{
	struct rate_ctx x = {.srv = srv, .by = by, .a = a, .ei = ei, .ticket_id = ticket_id};
	x.level = json_get_int(body, "level", 0);
	if (x.level < 1 || x.level > 5)
		return err_fail(ei, ERR_BAD_FIELD, "level",
		                "评价等级应为 1–5（1 非常满意 … 5 非常不满意）");
	x.comment = json_get_str(body, "comment");
	if (x.comment && utf8_len(x.comment, strlen(x.comment)) > 500)
		return err_fail(ei, ERR_BAD_FIELD, "comment", "评价内容最多 500 个字");
	const json_t *tags = json_object_get(body, "tags");
	json_t *tarr = json_array();
	size_t i;
	const json_t *v;
	if (tags && !json_is_null(tags)) {
		if (!json_is_array(tags) || json_array_size(tags) > 10) {
			json_decref(tarr);
			return err_fail(ei, ERR_BAD_FIELD, "tags", "评价标签最多 10 个");
		}
		json_array_foreach (tags, i, v) {
			const char *s = json_string_value(v);
			size_t n = s ? utf8_len(s, strlen(s)) : 0;
			if (n < 1 || n > 20) {
				json_decref(tarr);
				return err_fail(
				    ei, ERR_BAD_FIELD, "tags",
				    arena_printf(a, "第 %zu 个评价标签应为 1–20 个字", i + 1));
			}
			json_array_append(tarr, (json_t *)v);
		}
	}
	x.tags = json_dump_arena(tarr, a);
	json_decref(tarr);
	/* 差评 follow-up due date: N working days by the cases module's calendar. */
	char today[11];
	queue_day_of(time_now_ms(), today);
	struct cases_calendar *cal = cases_calendar_of(srv);
	if (!cal || cases_calendar_add_workdays(cal, today, QUEUE_FOLLOWUP_WORKDAYS, x.due)) {
		int64_t y;
		int m, d;
		int days = QUEUE_FOLLOWUP_WORKDAYS + 2 * (QUEUE_FOLLOWUP_WORKDAYS / 5 + 1);
		int yy, mm, dd;
		time_date_parse(today, 1970, 9999, &yy, &mm, &dd);
		time_civil_from_days(time_days_from_civil(yy, mm, dd) + days, &y, &m, &d);
		snprintf(x.due, sizeof(x.due), "%04u-%02u-%02u", (unsigned)(y % 10000),
		         (unsigned)m % 100u, (unsigned)d % 100u);
	}
	enum err e = db_write_unit(srv->db, rate_unit, &x, QUEUE_DB_WAIT_MS);
	if (e)
		return e;
	/* the evaluation belongs to the video session's evidence trail (src/vwin's hook) */
	json_t *tj = NULL;
	if (!ticket_out(srv, a, ticket_id, &tj)) {
		json_t *rj =
		    json_pack("{s:I,s:I,s:b,s:s?,s:o?,s:o}", "id", (json_int_t)x.rating_id, "level",
		              (json_int_t)x.level, "bad", x.level >= 4, "comment", x.comment,
		              "tags", json_loads(x.tags, 0, NULL), "followup_id",
		              x.followup_id ? json_integer(x.followup_id) : json_null());
		if (rj && !json_object_set_new(tj, "rating", rj))
			queue_hooks_run(srv, "rating", NULL, tj);
		json_decref(tj);
	}
	*out = json_pack("{s:{s:I,s:I,s:b},s:o}", "rating", "id", (json_int_t)x.rating_id, "level",
	                 (json_int_t)x.level, "bad", x.level >= 4, "followup",
	                 x.followup_id ? json_pack("{s:I,s:s,s:s}", "id", (json_int_t)x.followup_id,
	                                           "state", "open", "due_day", x.due)
	                               : json_null());
	return *out ? ERR_OK : ERR_NOMEM;
}

/* ---- free choice of centre -------------------------------------------------------------- */

enum err queue_centres(struct server *srv, struct arena *a, const char *item_code, json_t **out,
                       struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	char basic[13];
	if (!item_code_ok(item_code))
		return err_fail(ei, item_code ? ERR_BAD_FIELD : ERR_MISSING_FIELD, "item",
		                "请提供事项编码（item，以 12 位基本编码开头）");
	snprintf(basic, sizeof(basic), "%.12s", item_code);
	enum err e = db_acquire(srv->db, QUEUE_DB_WAIT_MS, &c);
	if (e)
		return e;
	if ((e = db_exec(
	         c, a, &rs,
	         "SELECT g.id, g.org_id, g.code, g.name, o.code, o.name, o.address, o.phone,"
	         " v.kind FROM queue_groups g JOIN orgs o ON o.id = g.org_id JOIN"
	         " queue_group_covers v ON v.group_id = g.id WHERE g.active = 1 AND"
	         " ((v.kind = 'item' AND v.code = ?) OR (v.kind = 'department' AND v.code ="
	         " (SELECT department FROM catalog_items WHERE basic_code = ?)))"
	         " ORDER BY o.code, v.kind DESC, g.code LIMIT 500",
	         "ss", basic, basic)))
		goto out;
	json_t *arr = json_array();
	int64_t last_org = 0;
	for (int r = 0; arr && r < rs->nrows; r++) {
		int64_t org = db_int(rs, r, 1), ahead = 0;
		int windows = 0;
		struct queue_wait w;
		if (org == last_org)
			continue; /* one group per centre: the item's own before its department's */
		last_org = org;
		if ((e = queue_wait_of(c, a, org, db_int(rs, r, 0), 0, &ahead, &w, &windows))) {
			json_decref(arr);
			goto out;
		}
		json_array_append_new(
		    arr, json_pack("{s:{s:I,s:s,s:s,s:s?,s:s?},s:{s:I,s:s,s:s},s:I,s:o}", "centre",
		                   "id", (json_int_t)org, "code", db_text(rs, r, 4), "name",
		                   db_text(rs, r, 5), "address", db_text(rs, r, 6), "phone",
		                   db_text(rs, r, 7), "group", "id", (json_int_t)db_int(rs, r, 0),
		                   "code", db_text(rs, r, 2), "name", db_text(rs, r, 3), "waiting",
		                   (json_int_t)ahead, "wait", wait_json(&w, ahead, windows)));
	}
	/* shortest estimated wait first (insertion sort: a city has a few hundred centres) */
	size_t n = arr ? json_array_size(arr) : 0;
	for (size_t i = 1; i < n; i++)
		for (size_t k = i; k > 0; k--) {
			json_t *p = json_array_get(arr, k - 1), *q = json_array_get(arr, k);
			int64_t pm = json_get_int(json_object_get(p, "wait"), "minutes", 0);
			int64_t qm = json_get_int(json_object_get(q, "wait"), "minutes", 0);
			if (pm <= qm)
				break;
			json_incref(p);
			json_array_set(arr, k - 1, q);
			json_array_set_new(arr, k, p);
		}
	*out = arr ? json_pack("{s:s,s:o}", "item", basic, "centres", arr) : NULL;
	e = *out ? ERR_OK : ERR_NOMEM;
out:
	db_release(c);
	return e;
}
