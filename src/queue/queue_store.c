/* queue_store.c: what the queue's other files share — centres, audit, the board and its
 * publication — and the administration of groups, windows and 差评 follow-ups. */
#include <string.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "events/events.h"
#include "queue/queue_int.h"
#include "server/server.h"

enum err queue_centre_load(struct db_conn *c, struct arena *a, int64_t id,
                           const struct principal *who, const char **path, const char **name)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(
	    c, a, &rs, "SELECT path, name FROM orgs WHERE id = ? AND level = 'centre'", "i", id);
	if (e)
		return e;
	if (rs->nrows != 1 || (who && !auth_scope_covers(who, db_text(rs, 0, 0))))
		return ERR_NOT_FOUND;
	if (path)
		*path = db_text(rs, 0, 0);
	if (name)
		*name = db_text(rs, 0, 1);
	return ERR_OK;
}

enum err queue_centre_resolve(struct db_conn *c, struct arena *a, const struct principal *who,
                              int64_t centre_id, int64_t *id, const char **path, struct errinfo *ei)
{
	int64_t cid = centre_id > 0 ? centre_id : (who ? who->org_id : 0);
	enum err e = queue_centre_load(c, a, cid, who, path, NULL);
	if (e == ERR_NOT_FOUND)
		return err_fail(ei, ERR_NOT_FOUND, "centre_id",
		                centre_id > 0
		                    ? "受理中心不存在或不在您的管辖范围内"
		                    : "您所在的机构不是受理中心，请指定受理中心（centre_id）");
	if (!e)
		*id = cid;
	return e;
}

enum err queue_audit(struct db_conn *c, struct arena *a, const struct queue_caller *by,
                     const char *action, const char *target, const json_t *detail)
{
	const struct principal *who = by ? by->who : NULL;
	struct audit_entry ae = {
	    .actor_id = who ? who->user_id : 0,
	    .actor_name = who ? who->username : (by && by->token ? "terminal" : "system"),
	    .action = action,
	    .target = target,
	    .detail = detail ? json_dump_arena(detail, a) : NULL,
	    .client_ip = by ? by->client_ip : NULL,
	    .trace_id = by ? by->trace_id : NULL,
	};
	return audit_append(c, a, &ae);
}

/* ---- the board ---------------------------------------------------------------------- */

enum err queue_board_json(struct db_conn *c, struct arena *a, int64_t org_id, json_t **out)
{
	struct db_rows *rs = NULL;
	char day[11];
	queue_day_of(time_now_ms(), day);
	json_t *b = json_pack("{s:I,s:s,s:[],s:[],s:[]}", "centre_id", (json_int_t)org_id, "day",
	                      day, "groups", "calling", "waiting");
	enum err e = ERR_NOMEM;
	if (!b)
		return ERR_NOMEM;
	if ((e = db_exec(c, a, &rs,
	                 "SELECT g.id, g.code, g.name, (SELECT COUNT(*) FROM queue_tickets t"
	                 " WHERE t.group_id = g.id AND t.state = 'waiting') FROM queue_groups g"
	                 " WHERE g.org_id = ? AND g.active = 1 ORDER BY g.code",
	                 "i", org_id)))
		goto fail;
	for (int r = 0; r < rs->nrows; r++)
		json_array_append_new(json_object_get(b, "groups"),
		                      json_pack("{s:I,s:s,s:s,s:I}", "id",
		                                (json_int_t)db_int(rs, r, 0), "code",
		                                db_text(rs, r, 1), "name", db_text(rs, r, 2),
		                                "waiting", (json_int_t)db_int(rs, r, 3)));
	if ((e = db_exec(
	         c, a, &rs,
	         "SELECT t.ticket_no, t.state, w.code, w.name, t.called_at, t.call_count, t.id"
	         " FROM queue_tickets t JOIN queue_windows w ON w.id = t.window_id"
	         " WHERE t.org_id = ? AND t.state IN ('called', 'serving', 'suspended')"
	         " ORDER BY t.called_at DESC, t.id DESC LIMIT 50",
	         "i", org_id)))
		goto fail;
	for (int r = 0; r < rs->nrows; r++)
		json_array_append_new(
		    json_object_get(b, "calling"),
		    json_pack(
		        "{s:I,s:s,s:s,s:s,s:{s:s,s:s},s:I,s:I}", "id", (json_int_t)db_int(rs, r, 6),
		        "ticket_no", db_text(rs, r, 0), "state", db_text(rs, r, 1), "state_label",
		        queue_state_label(db_text(rs, r, 1)), "window", "code", db_text(rs, r, 2),
		        "name", db_text(rs, r, 3), "called_at", (json_int_t)db_int(rs, r, 4),
		        "call_count", (json_int_t)db_int(rs, r, 5)));
	if ((e = db_exec(c, a, &rs,
	                 "SELECT t.ticket_no, g.code, t.issued_at FROM queue_tickets t"
	                 " JOIN queue_groups g ON g.id = t.group_id"
	                 " WHERE t.org_id = ? AND t.state = 'waiting' ORDER BY t.issued_at, t.id"
	                 " LIMIT 50",
	                 "i", org_id)))
		goto fail;
	for (int r = 0; r < rs->nrows; r++)
		json_array_append_new(json_object_get(b, "waiting"),
		                      json_pack("{s:s,s:s,s:I}", "ticket_no", db_text(rs, r, 0),
		                                "group", db_text(rs, r, 1), "issued_at",
		                                (json_int_t)db_int(rs, r, 2)));
	*out = b;
	return ERR_OK;
fail:
	json_decref(b);
	return e;
}

void queue_board_publish(struct server *srv, int64_t org_id, const char *event,
                         const json_t *ticket)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	json_t *board = NULL, *msg = NULL;
	char topic[160];
	if (!srv->bus)
		return;
	arena_init(&a, 0);
	enum err e = db_acquire(srv->db, QUEUE_DB_WAIT_MS, &c);
	if (!e)
		e = db_exec(c, &a, &rs, "SELECT path FROM orgs WHERE id = ?", "i", org_id);
	if (!e && rs->nrows != 1)
		e = ERR_NOT_FOUND;
	if (!e)
		e = queue_board_json(c, &a, org_id, &board);
	if (!e && snprintf(topic, sizeof(topic), "scope:%s:queue", db_text(rs, 0, 0)) >=
	              (int)sizeof(topic))
		e = ERR_TOO_LARGE;
	if (!e) {
		msg = json_pack("{s:s,s:O*,s:O}", "event", event, "ticket", ticket, "board", board);
		const char *text = msg ? json_dump_arena(msg, &a) : NULL;
		e = text ? event_bus_publish(srv->bus, topic, text) : ERR_NOMEM;
	}
	if (e)
		log_warn("queue.board", "board of centre %lld not published (%s)",
		         (long long)org_id, err_code(e));
	else
		queue_positions_publish(srv, c, &a, org_id, event, ticket);
	json_decref(msg);
	json_decref(board);
	db_release(c);
	arena_release(&a);
}

/* ---- administration ------------------------------------------------------------------ */

struct admin_ctx {
	const struct queue_caller *by;
	struct arena *a;
	struct errinfo *ei;
	int64_t id;
	const json_t *body;
	int64_t out_id;
	int64_t org_id;
	bool sign_in;
	const struct admin_kind *kind;
};

static bool code_chars(const char *s, size_t min, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n < min || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= 'a' && s[i] <= 'z') || s[i] == '-' || s[i] == '_'))
			return false;
	return true;
}

static enum err name_member(const json_t *body, bool required, struct arena *a, struct errinfo *ei,
                            const char *label, const char **out)
{
	const char *s = json_get_str(body, "name");
	*out = NULL;
	if (!s)
		return required ? err_fail(ei, ERR_MISSING_FIELD, "name",
		                           arena_printf(a, "请填写%s名称", label))
		                : ERR_OK;
	struct str t = str_trim(str_from(s));
	size_t n = utf8_len(t.p, t.n);
	if (n < 1 || n > 30)
		return err_fail(ei, ERR_BAD_FIELD, "name",
		                arena_printf(a, "%s名称应为 1–30 个字", label));
	*out = arena_strndup(a, t.p, t.n);
	return *out ? ERR_OK : ERR_NOMEM;
}

/* Replace the covers of group gid from body's "items" and "departments" arrays (when
 * present). */
static enum err save_covers(struct db_conn *c, struct arena *a, int64_t gid, int64_t org_id,
                            const json_t *body, struct errinfo *ei)
{
	static const struct {
		const char *member, *kind, *label;
		size_t min, max;
	} kinds[] = {{"items", "item", "事项编码", 12, 12},
	             {"departments", "department", "部门编码", 2, 30}};
	enum err e;
	for (size_t k = 0; k < 2; k++) {
		const json_t *arr = json_object_get(body, kinds[k].member);
		if (!arr || json_is_null(arr))
			continue;
		if (json_array_size(arr) > 500)
			return err_fail(ei, ERR_BAD_FIELD, kinds[k].member, "最多 500 项");
		size_t i;
		const json_t *v;
		json_array_foreach (arr, i, v) {
			if (!code_chars(json_string_value(v), kinds[k].min, kinds[k].max))
				return err_fail(ei, ERR_BAD_FIELD, kinds[k].member,
				                arena_printf(a, "第 %zu 个%s格式不正确", i + 1,
				                             kinds[k].label));
		}
		if ((e = db_exec(c, a, NULL,
		                 "DELETE FROM queue_group_covers WHERE group_id = ? AND kind = ?",
		                 "is", gid, kinds[k].kind)))
			return e;
		json_array_foreach (arr, i, v) {
			if ((e = db_exec(
			         c, a, NULL,
			         "INSERT INTO queue_group_covers (group_id, org_id, kind, code)"
			         " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
			         "iiss", gid, org_id, kinds[k].kind, json_string_value(v))))
				return e;
		}
	}
	return ERR_OK;
}

static json_t *groups_of(struct db_conn *c, struct arena *a, int64_t org_id, int64_t only_id)
{
	struct db_rows *rs = NULL, *cv = NULL;
	if (db_exec(c, a, &rs,
	            "SELECT id, code, name, active, version FROM queue_groups WHERE org_id = ?"
	            " AND (CAST(? AS BIGINT) = 0 OR id = ?) ORDER BY code",
	            "iii", org_id, only_id, only_id) ||
	    db_exec(c, a, &cv,
	            "SELECT group_id, kind, code FROM queue_group_covers WHERE org_id = ?"
	            " ORDER BY kind, code",
	            "i", org_id))
		return NULL;
	json_t *arr = json_array();
	for (int r = 0; arr && r < rs->nrows; r++) {
		json_t *items = json_array(), *depts = json_array();
		for (int k = 0; k < cv->nrows; k++)
			if (db_int(cv, k, 0) == db_int(rs, r, 0))
				json_array_append_new(strcmp(db_text(cv, k, 1), "item") ? depts
				                                                        : items,
				                      json_string(db_text(cv, k, 2)));
		json_array_append_new(
		    arr, json_pack("{s:I,s:I,s:s,s:s,s:b,s:I,s:o,s:o}", "id",
		                   (json_int_t)db_int(rs, r, 0), "centre_id", (json_int_t)org_id,
		                   "code", db_text(rs, r, 1), "name", db_text(rs, r, 2), "active",
		                   (int)db_int(rs, r, 3), "version", (json_int_t)db_int(rs, r, 4),
		                   "items", items, "departments", depts));
	}
	return arr;
}

/* Replace the groups of window wid with body's "groups" (codes of the same centre). */
static enum err save_window_groups(struct db_conn *c, struct arena *a, int64_t wid, int64_t org_id,
                                   const json_t *body, struct errinfo *ei)
{
	const json_t *arr = json_object_get(body, "groups");
	struct db_rows *rs = NULL;
	enum err e;
	if (!arr || json_is_null(arr))
		return ERR_OK;
	if (json_array_size(arr) > 26)
		return err_fail(ei, ERR_BAD_FIELD, "groups", "一个窗口最多服务 26 个排队组");
	if ((e = db_exec(c, a, NULL, "DELETE FROM queue_window_groups WHERE window_id = ?", "i",
	                 wid)))
		return e;
	size_t i;
	const json_t *v;
	json_array_foreach (arr, i, v) {
		const char *code = json_string_value(v);
		if (!queue_group_code_valid(code))
			return err_fail(ei, ERR_BAD_FIELD, "groups",
			                arena_printf(a, "第 %zu 个排队组代码格式不正确", i + 1));
		if ((e = db_exec(c, a, &rs,
		                 "SELECT id FROM queue_groups WHERE org_id = ? AND code = ?", "is",
		                 org_id, code)))
			return e;
		if (rs->nrows != 1)
			return err_fail(ei, ERR_NOT_FOUND, "groups",
			                arena_printf(a, "本中心没有代码为 %s 的排队组", code));
		if ((e = db_exec(
		         c, a, NULL,
		         "INSERT INTO queue_window_groups (window_id, group_id) VALUES (?, ?)"
		         " ON CONFLICT DO NOTHING",
		         "ii", wid, db_int(rs, 0, 0))))
			return e;
	}
	return ERR_OK;
}

static json_t *windows_of(struct db_conn *c, struct arena *a, int64_t org_id, int64_t only_id)
{
	struct db_rows *rs = NULL, *gs = NULL;
	if (db_exec(c, a, &rs,
	            "SELECT w.id, w.code, w.name, w.active, w.version, w.clerk_id, u.name,"
	            " w.signed_in_at FROM queue_windows w LEFT JOIN users u ON u.id = w.clerk_id"
	            " WHERE w.org_id = ? AND (CAST(? AS BIGINT) = 0 OR w.id = ?) ORDER BY w.code",
	            "iii", org_id, only_id, only_id) ||
	    db_exec(c, a, &gs,
	            "SELECT wg.window_id, g.code FROM queue_window_groups wg JOIN queue_groups g"
	            " ON g.id = wg.group_id WHERE g.org_id = ? ORDER BY g.code",
	            "i", org_id))
		return NULL;
	json_t *arr = json_array();
	for (int r = 0; arr && r < rs->nrows; r++) {
		json_t *groups = json_array();
		for (int k = 0; k < gs->nrows; k++)
			if (db_int(gs, k, 0) == db_int(rs, r, 0))
				json_array_append_new(groups, json_string(db_text(gs, k, 1)));
		json_t *clerk = db_is_null(rs, r, 5)
		                    ? json_null()
		                    : json_pack("{s:I,s:s,s:I}", "id", (json_int_t)db_int(rs, r, 5),
		                                "name", db_text(rs, r, 6), "signed_in_at",
		                                (json_int_t)db_int(rs, r, 7));
		json_array_append_new(
		    arr, json_pack("{s:I,s:I,s:s,s:s,s:b,s:I,s:o,s:o}", "id",
		                   (json_int_t)db_int(rs, r, 0), "centre_id", (json_int_t)org_id,
		                   "code", db_text(rs, r, 1), "name", db_text(rs, r, 2), "active",
		                   (int)db_int(rs, r, 3), "version", (json_int_t)db_int(rs, r, 4),
		                   "groups", groups, "clerk", clerk));
	}
	return arr;
}

static bool window_code_valid(const char *code)
{
	return code_chars(code, 1, 10);
}

/* What tells the administration of groups from that of windows; the rest is one code. */
struct admin_kind {
	const char *label;     /* "排队组" | "窗口", in messages */
	const char *code_noun; /* what the messages call the code */
	bool (*code_valid)(const char *code);
	const char *code_rule; /* the message of a malformed code */
	const char *insert_sql, *select_sql, *update_sql, *active_sql;
	const char *audit_create, *audit_update, *target; /* target: "<target>:<id>" */
	/* replace the rows that hang off row id from the body (group covers, window groups) */
	enum err (*save_members)(struct db_conn *c, struct arena *a, int64_t id, int64_t org_id,
	                         const json_t *body, struct errinfo *ei);
	/* the rows of a centre (only_id 0: all) as the API shows them */
	json_t *(*list)(struct db_conn *c, struct arena *a, int64_t org_id, int64_t only_id);
	const char *list_key;
};

static const struct admin_kind group_kind = {
    .label = "排队组",
    .code_noun = "代码",
    .code_valid = queue_group_code_valid,
    .code_rule = "排队组代码应为 1–2 个大写字母，例如 A、B、AB",
    .insert_sql = "INSERT INTO queue_groups (org_id, code, name, active, created_at,"
                  " updated_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    .select_sql = "SELECT t.org_id, o.path FROM queue_groups t JOIN orgs o ON o.id = t.org_id"
                  " WHERE t.id = ?",
    .update_sql = "UPDATE queue_groups SET name = COALESCE(?, name), version = version + 1,"
                  " updated_at = ? WHERE id = ? AND version = ?",
    .active_sql = "UPDATE queue_groups SET active = ? WHERE id = ?",
    .audit_create = "queue.group.create",
    .audit_update = "queue.group.update",
    .target = "queue_group",
    .save_members = save_covers,
    .list = groups_of,
    .list_key = "groups",
};

static const struct admin_kind window_kind = {
    .label = "窗口",
    .code_noun = "编号",
    .code_valid = window_code_valid,
    .code_rule = "窗口编号应为 1–10 位字母、数字或“-”，例如 01、A-3",
    .insert_sql = "INSERT INTO queue_windows (org_id, code, name, active, created_at,"
                  " updated_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    .select_sql = "SELECT t.org_id, o.path FROM queue_windows t JOIN orgs o ON o.id = t.org_id"
                  " WHERE t.id = ?",
    .update_sql = "UPDATE queue_windows SET name = COALESCE(?, name), version = version + 1,"
                  " updated_at = ? WHERE id = ? AND version = ?",
    .active_sql = "UPDATE queue_windows SET active = ? WHERE id = ?",
    .audit_create = "queue.window.create",
    .audit_update = "queue.window.update",
    .target = "queue_window",
    .save_members = save_window_groups,
    .list = windows_of,
    .list_key = "windows",
};

/* Create (x->id 0) or edit a group or window, its members, and the audit row. */
static enum err save_unit(struct db_conn *c, void *ctx)
{
	struct admin_ctx *x = ctx;
	const struct admin_kind *k = x->kind;
	struct arena *a = x->a;
	struct db_rows *rs = NULL;
	const char *name = NULL;
	int64_t now = time_now_ms(), org_id = 0;
	const json_t *act = json_object_get(x->body, "active");
	enum err e;
	if ((e = name_member(x->body, x->id == 0, a, x->ei, k->label, &name)))
		return e;
	if (x->id == 0) {
		const char *code = json_get_str(x->body, "code");
		if (!k->code_valid(code))
			return err_fail(x->ei, ERR_BAD_FIELD, "code", k->code_rule);
		if ((e = queue_centre_resolve(c, a, x->by->who,
		                              json_get_int(x->body, "centre_id", 0), &org_id, NULL,
		                              x->ei)))
			return e;
		e = db_exec(c, a, &rs, k->insert_sql, "issiii", org_id, code, name,
		            (int64_t)(act ? json_is_true(act) : 1), now, now);
		if (e == ERR_EXISTS)
			return err_fail(x->ei, ERR_EXISTS, "code",
			                arena_printf(a, "本中心已有%s为 %s 的%s", k->code_noun,
			                             code, k->label));
		if (e)
			return e;
		x->out_id = db_int(rs, 0, 0);
	} else {
		if ((e = db_exec(c, a, &rs, k->select_sql, "i", x->id)))
			return e;
		if (rs->nrows != 1 || !auth_scope_covers(x->by->who, db_text(rs, 0, 1)))
			return err_fail(x->ei, ERR_NOT_FOUND, NULL,
			                arena_printf(a, "%s不存在", k->label));
		org_id = db_int(rs, 0, 0);
		if ((e = db_exec(c, a, &rs, k->update_sql, "siii", name, now, x->id,
		                 json_get_int(x->body, "version", 0))))
			return e;
		if (rs->changes != 1)
			return err_fail(x->ei, ERR_CONFLICT, "version",
			                arena_printf(a, "%s已被他人修改，请刷新后重试", k->label));
		if (act && (e = db_exec(c, a, NULL, k->active_sql, "ii", (int64_t)json_is_true(act),
		                        x->id)))
			return e;
		x->out_id = x->id;
	}
	x->org_id = org_id;
	if ((e = k->save_members(c, a, x->out_id, org_id, x->body, x->ei)))
		return e;
	json_t *d = json_deep_copy(x->body);
	e = queue_audit(c, a, x->by, x->id ? k->audit_update : k->audit_create,
	                arena_printf(a, "%s:%lld", k->target, (long long)x->out_id), d);
	json_decref(d);
	return e;
}

/* *out = row id of centre org_id as the list shows it, read after a write unit. */
static enum err read_one(struct server *srv, struct arena *a, const struct admin_kind *k,
                         int64_t org_id, int64_t id, json_t **out)
{
	struct db_conn *c = NULL;
	enum err e = db_acquire(srv->db, QUEUE_DB_WAIT_MS, &c);
	if (e)
		return e;
	json_t *arr = k->list(c, a, org_id, id);
	db_release(c);
	if (!arr || json_array_size(arr) != 1) {
		json_decref(arr);
		return ERR_DB;
	}
	*out = json_incref(json_array_get(arr, 0));
	json_decref(arr);
	return ERR_OK;
}

static enum err admin_save(struct server *srv, const struct admin_kind *k,
                           const struct queue_caller *by, struct arena *a, int64_t id,
                           const json_t *body, json_t **out, struct errinfo *ei, int64_t *org_id)
{
	struct admin_ctx x = {.by = by, .a = a, .ei = ei, .id = id, .body = body, .kind = k};
	enum err e = db_write_unit(srv->db, save_unit, &x, QUEUE_DB_WAIT_MS);
	if (!e)
		e = read_one(srv, a, k, x.org_id, x.out_id, out);
	*org_id = x.org_id;
	return e;
}

/* {list_key: [...]}: the rows of the centre centre_id (0: the caller's). */
static enum err admin_list(struct server *srv, const struct admin_kind *k,
                           const struct queue_caller *by, struct arena *a, int64_t centre_id,
                           json_t **out, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	int64_t org_id = 0;
	enum err e = db_acquire(srv->db, QUEUE_DB_WAIT_MS, &c);
	if (e)
		return e;
	if (!(e = queue_centre_resolve(c, a, by->who, centre_id, &org_id, NULL, ei))) {
		json_t *arr = k->list(c, a, org_id, 0);
		*out = arr ? json_pack("{s:o}", k->list_key, arr) : NULL;
		e = *out ? ERR_OK : ERR_DB;
	}
	db_release(c);
	return e;
}

enum err queue_admin_group_save(struct server *srv, const struct queue_caller *by, struct arena *a,
                                int64_t id, const json_t *body, json_t **out, struct errinfo *ei)
{
	int64_t org_id = 0;
	enum err e = admin_save(srv, &group_kind, by, a, id, body, out, ei, &org_id);
	if (!e)
		queue_board_publish(srv, org_id, "groups", NULL);
	return e;
}

enum err queue_admin_groups(struct server *srv, const struct queue_caller *by, struct arena *a,
                            int64_t centre_id, json_t **out, struct errinfo *ei)
{
	return admin_list(srv, &group_kind, by, a, centre_id, out, ei);
}

enum err queue_admin_window_save(struct server *srv, const struct queue_caller *by, struct arena *a,
                                 int64_t id, const json_t *body, json_t **out, struct errinfo *ei)
{
	int64_t org_id = 0;
	return admin_save(srv, &window_kind, by, a, id, body, out, ei, &org_id);
}

enum err queue_admin_windows(struct server *srv, const struct queue_caller *by, struct arena *a,
                             int64_t centre_id, json_t **out, struct errinfo *ei)
{
	return admin_list(srv, &window_kind, by, a, centre_id, out, ei);
}

/* Sign in (the caller becomes the window's clerk; a clerk already there is replaced, as at a
 * change of shift) or out (only the clerk signed in, or a manager). */
static enum err sign_unit(struct db_conn *c, void *ctx)
{
	struct admin_ctx *x = ctx;
	struct db_rows *rs = NULL;
	const struct principal *who = x->by->who;
	bool in = x->sign_in;
	int64_t now = time_now_ms();
	enum err e = db_exec(c, x->a, &rs,
	                     "SELECT w.org_id, o.path, w.active, w.clerk_id FROM queue_windows w"
	                     " JOIN orgs o ON o.id = w.org_id WHERE w.id = ?",
	                     "i", x->id);
	if (e)
		return e;
	if (rs->nrows != 1 || !auth_scope_covers(who, db_text(rs, 0, 1)))
		return err_fail(x->ei, ERR_NOT_FOUND, NULL, "窗口不存在");
	x->org_id = db_int(rs, 0, 0);
	if (in && !db_int(rs, 0, 2))
		return err_fail(x->ei, ERR_BAD_STATE, NULL, "该窗口已停用");
	if (!in && db_int(rs, 0, 3) != who->user_id) {
		bool manager = false;
		for (int i = 0; i < who->nperms; i++)
			manager = manager || !strcmp(who->perms[i], "queue.manage");
		if (!manager)
			return err_fail(x->ei, ERR_FORBIDDEN, NULL, "只能签退自己签到的窗口");
	}
	if (in)
		e = db_exec(
		    c, x->a, NULL,
		    "UPDATE queue_windows SET clerk_id = ?, signed_in_at = ?, updated_at = ?,"
		    " version = version + 1 WHERE id = ?",
		    "iiii", who->user_id, now, now, x->id);
	else
		e = db_exec(c, x->a, NULL,
		            "UPDATE queue_windows SET clerk_id = NULL, signed_in_at = NULL,"
		            " updated_at = ?, version = version + 1 WHERE id = ?",
		            "ii", now, x->id);
	if (e)
		return e;
	return queue_audit(c, x->a, x->by, in ? "queue.window.signin" : "queue.window.signout",
	                   arena_printf(x->a, "queue_window:%lld", (long long)x->id), NULL);
}

enum err queue_window_sign(struct server *srv, const struct queue_caller *by, struct arena *a,
                           int64_t window_id, bool in, json_t **out, struct errinfo *ei)
{
	struct admin_ctx x = {.by = by, .a = a, .ei = ei, .id = window_id, .sign_in = in};
	enum err e = db_write_unit(srv->db, sign_unit, &x, QUEUE_DB_WAIT_MS);
	return e ? e : read_one(srv, a, &window_kind, x.org_id, window_id, out);
}

/* ---- 差评 follow-ups ---- */

enum err queue_followups(struct server *srv, const struct queue_caller *by, struct arena *a,
                         int64_t centre_id, const char *state, json_t **out, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	int64_t org_id = 0;
	if (state && strcmp(state, "open") && strcmp(state, "closed"))
		return err_fail(ei, ERR_BAD_FIELD, "state", "状态应为 open 或 closed");
	enum err e = db_acquire(srv->db, QUEUE_DB_WAIT_MS, &c);
	if (e)
		return e;
	if ((e = queue_centre_resolve(c, a, by->who, centre_id, &org_id, NULL, ei)))
		goto out;
	if ((e = db_exec(
	         c, a, &rs,
	         "SELECT f.id, f.state, f.due_day, f.note, f.created_at, f.closed_at,"
	         " r.level, r.comment, r.tags, t.ticket_no, r.case_no, w.code, u.name,"
	         " f.ticket_id FROM queue_followups f JOIN queue_ratings r ON r.id ="
	         " f.rating_id JOIN queue_tickets t ON t.id = f.ticket_id LEFT JOIN"
	         " queue_windows w ON w.id = r.window_id LEFT JOIN users u ON u.id ="
	         " r.clerk_id WHERE f.org_id = ? AND (CAST(? AS TEXT) IS NULL OR f.state = ?)"
	         " ORDER BY f.id DESC LIMIT 200",
	         "iss", org_id, state, state)))
		goto out;
	json_t *arr = json_array();
	for (int r = 0; arr && r < rs->nrows; r++) {
		json_error_t je;
		json_t *tags = json_loads(db_text(rs, r, 8), 0, &je);
		json_array_append_new(
		    arr,
		    json_pack("{s:I,s:s,s:s,s:s?,s:I,s:O?,s:I,s:s?,s:o,s:s,s:s?,s:s?,s:s?,s:I}",
		              "id", (json_int_t)db_int(rs, r, 0), "state", db_text(rs, r, 1),
		              "due_day", db_text(rs, r, 2), "note", db_text(rs, r, 3), "created_at",
		              (json_int_t)db_int(rs, r, 4), "closed_at",
		              db_is_null(rs, r, 5)
		                  ? NULL
		                  : json_arena_own(a, json_integer(db_int(rs, r, 5))),
		              "level", (json_int_t)db_int(rs, r, 6), "comment", db_text(rs, r, 7),
		              "tags", tags ? tags : json_array(), "ticket_no", db_text(rs, r, 9),
		              "case_no", db_text(rs, r, 10), "window", db_text(rs, r, 11), "clerk",
		              db_text(rs, r, 12), "ticket_id", (json_int_t)db_int(rs, r, 13)));
	}
	*out = arr ? json_pack("{s:o}", "followups", arr) : NULL;
	e = *out ? ERR_OK : ERR_NOMEM;
out:
	db_release(c);
	return e;
}

struct close_ctx {
	const struct queue_caller *by;
	struct arena *a;
	struct errinfo *ei;
	int64_t id;
	const char *note;
};

static enum err close_unit(struct db_conn *c, void *ctx)
{
	struct close_ctx *x = ctx;
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, x->a, &rs,
	                     "SELECT f.state, o.path FROM queue_followups f JOIN orgs o ON o.id ="
	                     " f.org_id WHERE f.id = ?",
	                     "i", x->id);
	if (e)
		return e;
	if (rs->nrows != 1 || !auth_scope_covers(x->by->who, db_text(rs, 0, 1)))
		return err_fail(x->ei, ERR_NOT_FOUND, NULL, "差评整改任务不存在");
	if (strcmp(db_text(rs, 0, 0), "open"))
		return err_fail(x->ei, ERR_BAD_STATE, "state", "该整改任务已关闭");
	if ((e = db_exec(c, x->a, NULL,
	                 "UPDATE queue_followups SET state = 'closed', note = ?, closed_at = ?,"
	                 " closed_by = ? WHERE id = ? AND state = 'open'",
	                 "siii", x->note, time_now_ms(), x->by->who->user_id, x->id)))
		return e;
	json_t *d = json_pack("{s:s}", "note", x->note);
	e = queue_audit(c, x->a, x->by, "queue.followup.close",
	                arena_printf(x->a, "queue_followup:%lld", (long long)x->id), d);
	json_decref(d);
	return e;
}

enum err queue_followup_close(struct server *srv, const struct queue_caller *by, struct arena *a,
                              int64_t id, const char *note, json_t **out, struct errinfo *ei)
{
	struct close_ctx x = {.by = by, .a = a, .ei = ei, .id = id, .note = note};
	struct str t = str_trim(str_from(note ? note : ""));
	size_t n = utf8_len(t.p, t.n);
	if (n < 2 || n > 1000)
		return err_fail(ei, ERR_BAD_FIELD, "note", "整改说明应为 2–1000 个字");
	x.note = arena_strndup(a, t.p, t.n);
	enum err e = db_write_unit(srv->db, close_unit, &x, QUEUE_DB_WAIT_MS);
	if (!e)
		*out = json_pack("{s:I,s:s}", "id", (json_int_t)id, "state", "closed");
	return e;
}
