/* vwin_terminals.c: terminals (kiosks, PADs) — the admin's create and edit, the device
 * credential (enrolment code → device secret → device session), self-check, heartbeat, the
 * live state for the centre and the heartbeat job (docs/vwin.md "Terminals").
 *
 * A terminal acts through its service user (role terminal, "t-<code>"), so its device
 * session is an ordinary session to the HTTP and WebSocket layers. Enrolling again or
 * disabling the terminal ends that user's sessions. */
#include <string.h>

#include "auth/auth.h"
#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "events/events.h"
#include "queue/queue.h"
#include "server/server.h"
#include "vwin/vwin_int.h"

#define ENROL_MAX_FAILS 5

static const char *const peripherals[] = {"card_reader", "printer",    "scanner", "qr",
                                          "camera",      "microphone", NULL};
static const char *const peripheral_names[] = {"身份证读卡器", "打印机", "高拍仪",
                                               "扫码器",       "摄像头", "麦克风"};

static int peripheral_index(const char *s)
{
	for (int i = 0; s && peripherals[i]; i++)
		if (!strcmp(s, peripherals[i]))
			return i;
	return -1;
}

/* ---- the live state ---------------------------------------------------------------------- */

#define LIVE_COLS                                                                                  \
	"t.id, t.code, t.name, t.kind, p.code, p.name, p.kind, o.id, o.code, o.name, t.active,"    \
	" p.active, t.last_seen_at, t.self_check_ok, t.self_check, t.location, t.location_ok,"     \
	" t.in_session, t.peripherals, t.secret_hash IS NOT NULL, t.version, o.path"
#define LIVE_FROM                                                                                  \
	" FROM vwin_terminals t JOIN vwin_points p ON p.id = t.point_id JOIN orgs o ON o.id ="     \
	" p.org_id"

static json_t *parse_or(const char *s, json_t *def)
{
	json_t *v = s ? json_loads(s, 0, NULL) : NULL;
	if (v) {
		json_decref(def);
		return v;
	}
	return def;
}

static json_t *live_json(struct server *srv, const struct db_rows *rs, int r, int64_t now)
{
	struct vwin_terminal t = {
	    .active = db_int(rs, r, 10) && db_int(rs, r, 11),
	    .last_seen_at = db_int(rs, r, 12),
	    .self_check_ok = db_int(rs, r, 13) != 0,
	    .in_session = db_text(rs, r, 17),
	    .heartbeat_ms = srv->cfg.vwin_heartbeat_s * 1000,
	};
	json_t *check = parse_or(db_text(rs, r, 14), json_null());
	json_t *faults = json_object_get(check, "faults");
	return json_pack(
	    "{s:I,s:s,s:s,s:s,s:{s:s,s:s,s:s},s:{s:I,s:s,s:s},s:s,s:b,s:o,s:O,s:o,s:o,s:o,s:s?,"
	    "s:o,s:b,s:I}",
	    "id", (json_int_t)db_int(rs, r, 0), "code", db_text(rs, r, 1), "name",
	    db_text(rs, r, 2), "kind", db_text(rs, r, 3), "point", "code", db_text(rs, r, 4),
	    "name", db_text(rs, r, 5), "kind", db_text(rs, r, 6), "centre", "id",
	    (json_int_t)db_int(rs, r, 7), "code", db_text(rs, r, 8), "name", db_text(rs, r, 9),
	    "state", vwin_terminal_state(&t, now), "active", db_int(rs, r, 10) != 0, "last_seen_at",
	    t.last_seen_at ? json_integer(t.last_seen_at) : json_null(), "faults",
	    faults ? faults : json_array(), "self_check", check, "location",
	    parse_or(db_text(rs, r, 15), json_null()), "location_ok",
	    db_is_null(rs, r, 16) ? json_null() : json_boolean(db_int(rs, r, 16)), "in_session",
	    db_text(rs, r, 17), "peripherals", parse_or(db_text(rs, r, 18), json_array()),
	    "enrolled", db_int(rs, r, 19) != 0, "version", (json_int_t)db_int(rs, r, 20));
}

static enum err live_of(struct server *srv, struct arena *a, const char *code, json_t **out,
                        const char **path)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_acquire(srv->db, VWIN_DB_WAIT_MS, &c);
	if (e)
		return e;
	e = db_exec(c, a, &rs, "SELECT " LIVE_COLS LIVE_FROM " WHERE t.code = ?", "s", code);
	db_release(c);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	if (path)
		*path = db_text(rs, 0, 21);
	*out = live_json(srv, rs, 0, time_now_ms());
	return *out ? ERR_OK : ERR_NOMEM;
}

/* Tell the centre (scope:<path>:terminals) about a terminal; with alert, also raise the
 * alert (log vwin.alert at warn + the event's "alert"). */
static void publish_live(struct server *srv, struct arena *a, const char *code, const char *alert)
{
	json_t *live = NULL;
	const char *path = NULL;
	char topic[160];
	if (!srv->bus || live_of(srv, a, code, &live, &path))
		return;
	if (alert)
		log_event(LOG_WARN, "vwin.alert",
		          json_pack("{s:s,s:s}", "terminal", code, "alert", alert),
		          "terminal %s: %s", code, alert);
	json_t *ev = json_pack("{s:s,s:o,s:s?}", "event", alert ? "alert" : "state", "terminal",
	                       live, "alert", alert);
	char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	if (text && snprintf(topic, sizeof(topic), "scope:%s:terminals", path) < (int)sizeof(topic))
		event_bus_publish(srv->bus, topic, text);
	free(text);
	json_decref(ev);
}

enum err vwin_terminals_list(struct server *srv, const struct vwin_caller *by, struct arena *a,
                             json_t **out)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	enum err e = db_acquire(srv->db, VWIN_DB_WAIT_MS, &c);
	if (e)
		return e;
	e = db_exec(c, a, &rs,
	            "SELECT " LIVE_COLS LIVE_FROM " WHERE o.path LIKE ? ORDER BY o.code, t.code"
	            " LIMIT 5000",
	            "s", auth_scope_like(by->who, a));
	db_release(c);
	if (e)
		return e;
	json_t *arr = json_array();
	for (int r = 0; arr && r < rs->nrows; r++)
		json_array_append_new(arr, live_json(srv, rs, r, now));
	*out = arr ? json_pack("{s:o,s:I}", "terminals", arr, "heartbeat_s",
	                       (json_int_t)srv->cfg.vwin_heartbeat_s)
	           : NULL;
	return *out ? ERR_OK : ERR_NOMEM;
}

/* ---- admin: create and edit -------------------------------------------------------------- */

struct tsave_ctx {
	struct server *srv;
	const struct vwin_caller *by;
	struct arena *a;
	struct errinfo *ei;
	const char *code; /* PATCH */
	const json_t *body;
	int64_t user_id;
	bool ended;
	const char *out_code;
};

static enum err peripherals_check(const json_t *v, struct arena *a, const char **out,
                                  struct errinfo *ei)
{
	size_t i;
	const json_t *p;
	unsigned seen = 0;
	if (!json_is_array(v))
		return err_fail(ei, ERR_BAD_FIELD, "peripherals", "外设清单应为数组");
	json_array_foreach (v, i, p) {
		int k = peripheral_index(json_string_value(p));
		if (k < 0 || (seen & (1u << k)))
			return err_fail(
			    ei, ERR_BAD_FIELD, "peripherals",
			    arena_printf(
			        a,
			        "第 %zu 个外设应为 card_reader、printer、scanner、qr、camera、"
			        "microphone 之一且不重复",
			        i + 1));
		seen |= 1u << k;
	}
	*out = json_dump_arena(v, a);
	return *out ? ERR_OK : ERR_NOMEM;
}

static enum err tsave_unit(struct db_conn *c, void *ctx)
{
	struct tsave_ctx *x = ctx;
	struct arena *a = x->a;
	const json_t *b = x->body;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms(), id = 0, version = 0, point_id = 0, org = 0;
	const char *name = json_get_str(b, "name"), *kind = json_get_str(b, "kind");
	const char *point = json_get_str(b, "point"), *periph = NULL;
	bool active = json_get_bool(b, "active", true);
	enum err e;
	if (x->code) {
		if ((e = db_exec(
		         c, a, &rs,
		         "SELECT t.id, t.name, t.kind, p.code, t.peripherals, t.active,"
		         " t.version, t.user_id, o.path FROM vwin_terminals t JOIN vwin_points"
		         " p ON p.id = t.point_id JOIN orgs o ON o.id = p.org_id WHERE"
		         " t.code = ?",
		         "s", x->code)))
			return e;
		if (rs->nrows != 1 || !auth_scope_covers(x->by->who, db_text(rs, 0, 8)))
			return err_fail(x->ei, ERR_NOT_FOUND, NULL, "终端不存在");
		id = db_int(rs, 0, 0);
		version = db_int(rs, 0, 6);
		x->user_id = db_int(rs, 0, 7);
		if (json_get_int(b, "version", 0) != version)
			return err_fail(x->ei, ERR_CONFLICT, "version",
			                "终端已被他人修改，请刷新后重试");
		name = name ? name : db_text(rs, 0, 1);
		kind = kind ? kind : db_text(rs, 0, 2);
		point = point ? point : db_text(rs, 0, 3);
		periph = db_text(rs, 0, 4);
		active = json_get_bool(b, "active", db_int(rs, 0, 5) != 0);
		x->out_code = x->code;
	} else {
		x->out_code = json_get_str(b, "code");
		if (!vwin_code_valid(x->out_code, VWIN_CODE_MAX))
			return err_fail(x->ei, x->out_code ? ERR_BAD_FIELD : ERR_MISSING_FIELD,
			                "code", "终端编号应为 3–30 位大写字母、数字或 -");
		periph =
		    "[\"card_reader\",\"printer\",\"scanner\",\"qr\",\"camera\",\"microphone\"]";
	}
	size_t nl = name ? utf8_len(name, strlen(name)) : 0;
	if (nl < 2 || nl > 60)
		return err_fail(x->ei, name ? ERR_BAD_FIELD : ERR_MISSING_FIELD, "name",
		                "终端名称应为 2–60 个字");
	if (!kind || (strcmp(kind, "kiosk") && strcmp(kind, "pad")))
		return err_fail(x->ei, kind ? ERR_BAD_FIELD : ERR_MISSING_FIELD, "kind",
		                "终端类型应为 kiosk（自助机）或 pad（移动终端）");
	if (json_object_get(b, "peripherals") &&
	    (e = peripherals_check(json_object_get(b, "peripherals"), a, &periph, x->ei)))
		return e;
	if ((e = db_exec(c, a, &rs,
	                 "SELECT p.id, o.id, o.path FROM vwin_points p JOIN orgs o ON o.id ="
	                 " p.org_id WHERE p.code = ?",
	                 "s", point ? point : "")))
		return e;
	if (rs->nrows != 1 || !auth_scope_covers(x->by->who, db_text(rs, 0, 2)))
		return err_fail(x->ei, point ? ERR_NOT_FOUND : ERR_MISSING_FIELD, "point",
		                "点位不存在或不在您的管辖范围内");
	point_id = db_int(rs, 0, 0);
	org = db_int(rs, 0, 1);
	if (x->code) {
		if ((e = db_exec(
		         c, a, &rs,
		         "UPDATE vwin_terminals SET name = ?, kind = ?, point_id = ?,"
		         " peripherals = ?, active = ?, updated_at = ?, version = version + 1"
		         " WHERE id = ? AND version = ?",
		         "ssisiiii", name, kind, point_id, periph, (int64_t)active, now, id,
		         version)))
			return e;
		if (rs->changes != 1)
			return err_fail(x->ei, ERR_CONFLICT, "version",
			                "终端已被他人修改，请刷新后重试");
		if ((e = auth_service_user_update(c, a, x->user_id, name, org, active)))
			return e;
		if (!active) {
			if ((e = auth_user_sessions_end(c, a, x->user_id, NULL)))
				return e;
			x->ended = true;
		}
	} else {
		char user[48];
		size_t i;
		snprintf(user, sizeof(user), VWIN_USER_PREFIX "%s", x->out_code);
		for (i = 0; user[i]; i++)
			if (user[i] >= 'A' && user[i] <= 'Z')
				user[i] = (char)(user[i] - 'A' + 'a');
		e = auth_service_user_create(x->srv, c, a, user, name, org, "terminal",
		                             &x->user_id);
		if (e == ERR_EXISTS)
			return err_fail(
			    x->ei, ERR_EXISTS, "code",
			    arena_printf(a, "账号 %s 已被占用，请换一个终端编号", user));
		if (e)
			return e;
		e = db_exec(
		    c, a, &rs,
		    "INSERT INTO vwin_terminals (code, name, kind, point_id, user_id,"
		    " peripherals, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?,"
		    " ?, ?, ?) RETURNING id",
		    "sssiisiii", x->out_code, name, kind, point_id, x->user_id, periph,
		    (int64_t)active, now, now);
		if (e == ERR_EXISTS)
			return err_fail(x->ei, ERR_EXISTS, "code", "终端编号已存在");
		if (e)
			return e;
		id = db_int(rs, 0, 0);
	}
	json_t *d = json_pack("{s:s,s:s,s:s,s:b}", "code", x->out_code, "kind", kind, "point",
	                      point, "active", active);
	e = vwin_audit(c, a, x->by, x->code ? "vwin.terminal.update" : "vwin.terminal.create",
	               arena_printf(a, "vwin_terminal:%lld", (long long)id), d);
	json_decref(d);
	return e;
}

enum err vwin_terminal_save(struct server *srv, const struct vwin_caller *by, struct arena *a,
                            const char *code, const json_t *body, json_t **out, struct errinfo *ei)
{
	struct tsave_ctx x = {.srv = srv, .by = by, .a = a, .ei = ei, .code = code, .body = body};
	enum err e = db_write_unit(srv->db, tsave_unit, &x, VWIN_DB_WAIT_MS);
	if (e)
		return e;
	if (x.ended)
		auth_user_sessions_ended(srv, x.user_id);
	if ((e = live_of(srv, a, x.out_code, out, NULL)))
		return e;
	publish_live(srv, a, x.out_code, NULL);
	return ERR_OK;
}

/* ---- the device credential -------------------------------------------------------------- */

struct enrol_ctx {
	struct server *srv;
	const struct vwin_caller *by;
	struct arena *a;
	struct errinfo *ei;
	const char *code, *enrol_code, *secret_hash, *device, *ehash;
	int64_t user_id, expires;
	bool failed; /* a wrong code was counted: commit that, answer 403 */
};

static enum err code_unit(struct db_conn *c, void *ctx)
{
	struct enrol_ctx *x = ctx;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	enum err e = db_exec(c, x->a, &rs,
	                     "SELECT t.id, o.path FROM vwin_terminals t JOIN vwin_points p ON p.id"
	                     " = t.point_id JOIN orgs o ON o.id = p.org_id WHERE t.code = ?",
	                     "s", x->code);
	if (e)
		return e;
	if (rs->nrows != 1 || !auth_scope_covers(x->by->who, db_text(rs, 0, 1)))
		return err_fail(x->ei, ERR_NOT_FOUND, NULL, "终端不存在");
	int64_t id = db_int(rs, 0, 0);
	x->expires = now + VWIN_ENROL_CODE_MS;
	if ((e = db_exec(c, x->a, NULL,
	                 "UPDATE vwin_terminals SET enrol_hash = ?, enrol_expires = ?, enrol_fails"
	                 " = 0, updated_at = ? WHERE id = ?",
	                 "siii", x->ehash, x->expires, now, id)))
		return e;
	return vwin_audit(c, x->a, x->by, "vwin.terminal.enrol_code",
	                  arena_printf(x->a, "vwin_terminal:%lld", (long long)id), NULL);
}

enum err vwin_enrol_code(struct server *srv, const struct vwin_caller *by, struct arena *a,
                         const char *code, json_t **out, struct errinfo *ei)
{
	unsigned char r[4];
	char digits[9], h[65];
	enum err e = id_random(r, sizeof(r));
	if (e)
		return e;
	uint32_t v =
	    ((uint32_t)r[0] << 24 | (uint32_t)r[1] << 16 | (uint32_t)r[2] << 8 | r[3]) % 100000000u;
	snprintf(digits, sizeof(digits), "%08u", v);
	vwin_hash(digits, h);
	struct enrol_ctx x = {.srv = srv, .by = by, .a = a, .ei = ei, .code = code, .ehash = h};
	if ((e = db_write_unit(srv->db, code_unit, &x, VWIN_DB_WAIT_MS)))
		return e;
	*out = json_pack("{s:s,s:s,s:I}", "code", code, "enrol_code", digits, "expires_at",
	                 (json_int_t)x.expires);
	return *out ? ERR_OK : ERR_NOMEM;
}

static enum err enrol_unit(struct db_conn *c, void *ctx)
{
	struct enrol_ctx *x = ctx;
	struct arena *a = x->a;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	char h[65];
	x->failed = false;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT id, enrol_hash, enrol_expires, enrol_fails, active, user_id"
	                     " FROM vwin_terminals WHERE code = ?",
	                     "s", x->code);
	if (e)
		return e;
	if (rs->nrows != 1)
		return err_fail(x->ei, ERR_FORBIDDEN, "enrol_code", "终端编号或注册码不正确");
	int64_t id = db_int(rs, 0, 0);
	const char *stored = db_text(rs, 0, 1);
	if (!stored || db_int(rs, 0, 2) < now || db_int(rs, 0, 3) >= ENROL_MAX_FAILS)
		return err_fail(x->ei, ERR_FORBIDDEN, "enrol_code",
		                "注册码已失效，请联系管理员重新生成");
	if (!db_int(rs, 0, 4))
		return err_fail(x->ei, ERR_FORBIDDEN, "code", "该终端已停用");
	vwin_hash(x->enrol_code, h);
	if (!mem_eq_ct(h, 64, stored, strlen(stored))) {
		x->failed = true;
		return db_exec(
		    c, a, NULL,
		    "UPDATE vwin_terminals SET enrol_fails = enrol_fails + 1 WHERE id = ?", "i",
		    id);
	}
	x->user_id = db_int(rs, 0, 5);
	if ((e = db_exec(c, a, NULL,
	                 "UPDATE vwin_terminals SET enrol_hash = NULL, enrol_expires = NULL,"
	                 " enrol_fails = 0, secret_hash = ?, enrolled_at = ?, device = ?,"
	                 " self_check_ok = 0, in_session = NULL, updated_at = ?, version ="
	                 " version + 1 WHERE id = ?",
	                 "sisii", x->secret_hash, now, x->device, now, id)))
		return e;
	/* A new device secret ends whatever the old one opened. */
	if ((e = auth_user_sessions_end(c, a, x->user_id, NULL)))
		return e;
	return vwin_audit(c, a, x->by, "vwin.terminal.enrol",
	                  arena_printf(a, "vwin_terminal:%lld", (long long)id), NULL);
}

enum err vwin_enrol(struct server *srv, const struct vwin_caller *by, struct arena *a,
                    const json_t *body, json_t **out, struct errinfo *ei)
{
	char secret[65], h[65];
	struct enrol_ctx x = {.srv = srv, .by = by, .a = a, .ei = ei};
	x.code = json_get_str(body, "code");
	x.enrol_code = json_get_str(body, "enrol_code");
	if (!vwin_code_valid(x.code, VWIN_CODE_MAX))
		return err_fail(ei, ERR_BAD_FIELD, "code",
		                "终端编号应为 3–30 位大写字母、数字或 -");
	if (!x.enrol_code || strlen(x.enrol_code) != 8 || strspn(x.enrol_code, "0123456789") != 8)
		return err_fail(ei, ERR_BAD_FIELD, "enrol_code", "注册码应为 8 位数字");
	const json_t *dev = json_object_get(body, "device");
	x.device = dev ? json_dump_arena(dev, a) : NULL;
	enum err e = id_random_hex(secret, 32);
	if (e)
		return e;
	vwin_hash(secret, h);
	x.secret_hash = h;
	if ((e = db_write_unit(srv->db, enrol_unit, &x, VWIN_DB_WAIT_MS)))
		return e;
	if (x.failed)
		return err_fail(ei, ERR_FORBIDDEN, "enrol_code", "终端编号或注册码不正确");
	auth_user_sessions_ended(srv, x.user_id);
	publish_live(srv, a, x.code, NULL);
	*out = json_pack("{s:s,s:s}", "code", x.code, "secret", secret);
	return *out ? ERR_OK : ERR_NOMEM;
}

struct sess_ctx {
	struct server *srv;
	const struct vwin_caller *by;
	struct arena *a;
	struct errinfo *ei;
	const char *code, *secret;
	struct auth_new_session s;
	int64_t expires;
};

static enum err sess_unit(struct db_conn *c, void *ctx)
{
	struct sess_ctx *x = ctx;
	struct db_rows *rs = NULL;
	char h[65];
	enum err e = db_exec(c, x->a, &rs,
	                     "SELECT t.secret_hash, t.active * p.active, t.user_id, t.id FROM"
	                     " vwin_terminals t JOIN vwin_points p ON p.id = t.point_id WHERE"
	                     " t.code = ?",
	                     "s", x->code);
	if (e)
		return e;
	vwin_hash(x->secret, h);
	const char *stored = rs->nrows == 1 ? db_text(rs, 0, 0) : NULL;
	if (!stored || !mem_eq_ct(h, 64, stored, strlen(stored)))
		return err_fail(x->ei, ERR_UNAUTHENTICATED, "secret", "终端编号或设备密钥不正确");
	if (!db_int(rs, 0, 1))
		return err_fail(x->ei, ERR_FORBIDDEN, "code", "该终端或其点位已停用");
	int64_t life = x->srv->cfg.terminal_session_s * 1000;
	if ((e = auth_session_open(c, x->a, db_int(rs, 0, 2), life, x->by->client_ip, &x->s)))
		return e;
	x->expires = time_now_ms() + life;
	json_t *d = json_pack("{s:I}", "session", (json_int_t)x->s.id);
	e = vwin_audit(c, x->a, x->by, "vwin.terminal.session",
	               arena_printf(x->a, "vwin_terminal:%lld", (long long)db_int(rs, 0, 3)), d);
	json_decref(d);
	return e;
}

enum err vwin_device_session(struct server *srv, const struct vwin_caller *by, struct arena *a,
                             const json_t *body, json_t **out, const char **set_cookie,
                             struct errinfo *ei)
{
	struct sess_ctx x = {.srv = srv, .by = by, .a = a, .ei = ei};
	x.code = json_get_str(body, "code");
	x.secret = json_get_str(body, "secret");
	if (!vwin_code_valid(x.code, VWIN_CODE_MAX) || !x.secret || strlen(x.secret) != 64)
		return err_fail(ei, ERR_UNAUTHENTICATED, "secret", "终端编号或设备密钥不正确");
	enum err e = db_write_unit(srv->db, sess_unit, &x, VWIN_DB_WAIT_MS);
	if (e)
		return e;
	json_t *live = NULL;
	if ((e = live_of(srv, a, x.code, &live, NULL)))
		return e;
	*set_cookie = x.s.set_cookie;
	*out = json_pack("{s:o,s:s,s:I,s:I}", "terminal", live, "csrf_token", x.s.csrf_token,
	                 "expires_at", (json_int_t)x.expires, "heartbeat_s",
	                 (json_int_t)srv->cfg.vwin_heartbeat_s);
	return *out ? ERR_OK : ERR_NOMEM;
}

/* ---- self-check and heartbeat ------------------------------------------------------------ */

/* Check a location {lng, lat, accuracy_m?}: NULL is fine (absent). */
static enum err location_check(const json_t *loc, struct errinfo *ei)
{
	if (!loc || json_is_null(loc))
		return ERR_OK;
	const json_t *lng = json_object_get(loc, "lng"), *lat = json_object_get(loc, "lat");
	const json_t *acc = json_object_get(loc, "accuracy_m");
	if (!json_is_object(loc) || !json_is_number(lng) || !json_is_number(lat) ||
	    !vwin_coords_valid(json_number_value(lng), json_number_value(lat)))
		return err_fail(ei, ERR_BAD_FIELD, "location",
		                "定位应为 {lng, lat, accuracy_m}，经纬度在中国境内（GCJ-02）");
	if (acc && !json_is_null(acc) &&
	    (!json_is_number(acc) || json_number_value(acc) < 0 || json_number_value(acc) > 100000))
		return err_fail(ei, ERR_BAD_FIELD, "location",
		                "定位精度 accuracy_m 应为 0–100000 米");
	return ERR_OK;
}

struct beat_ctx {
	struct server *srv;
	const struct vwin_caller *by;
	struct arena *a;
	const struct vwin_terminal *t;
	const char *self_check; /* JSON; NULL for a heartbeat */
	bool ok;
	const char *location, *in_session;
	bool set_session;
	int loc_ok; /* -1 unknown */
	int64_t session_id;
};

static enum err beat_unit(struct db_conn *c, void *ctx)
{
	struct beat_ctx *x = ctx;
	int64_t now = time_now_ms();
	enum err e;
	const char *loc_ok_sql = x->loc_ok < 0 ? NULL : x->loc_ok ? "1" : "0";
	if (x->self_check) {
		e = db_exec(
		    c, x->a, NULL,
		    "UPDATE vwin_terminals SET self_check = ?, self_check_ok = ?,"
		    " self_check_at = ?, last_seen_at = ?, location = COALESCE(?, location),"
		    " location_ok = COALESCE(CAST(? AS INTEGER), location_ok), updated_at = ?"
		    " WHERE id = ?",
		    "siiissii", x->self_check, (int64_t)x->ok, now, now, x->location, loc_ok_sql,
		    now, x->t->id);
		if (!e) {
			json_t *d = json_pack("{s:b}", "ok", x->ok);
			e = vwin_audit(
			    c, x->a, x->by, "vwin.terminal.self_check",
			    arena_printf(x->a, "vwin_terminal:%lld", (long long)x->t->id), d);
			json_decref(d);
		}
	} else {
		e = db_exec(c, x->a, NULL,
		            "UPDATE vwin_terminals SET last_seen_at = ?, location = COALESCE(?,"
		            " location), location_ok = COALESCE(CAST(? AS INTEGER), location_ok),"
		            " in_session = CASE WHEN CAST(? AS INTEGER) = 1 THEN ? ELSE in_session"
		            " END WHERE id = ?",
		            "issisi", now, x->location, loc_ok_sql, (int64_t)x->set_session,
		            x->in_session, x->t->id);
	}
	/* Every sign of life renews the device session. */
	if (!e && x->session_id > 0)
		e = auth_session_extend(c, x->a, x->session_id,
		                        now + x->srv->cfg.terminal_session_s * 1000);
	return e;
}

static int location_ok_of(const struct vwin_terminal *t, const json_t *loc)
{
	if (!loc || json_is_null(loc) || strcmp(t->point_kind, "home"))
		return -1;
	double d = vwin_distance_m(t->lng, t->lat, json_number_value(json_object_get(loc, "lng")),
	                           json_number_value(json_object_get(loc, "lat")));
	const json_t *acc = json_object_get(loc, "accuracy_m");
	return vwin_geofence_inside(d, t->radius_m,
	                            json_is_number(acc) ? json_number_value(acc) : 0);
}

static enum err beat(struct server *srv, const struct vwin_caller *by, struct arena *a,
                     const json_t *body, bool self_check, json_t **out, struct errinfo *ei)
{
	struct vwin_terminal t;
	int64_t now = time_now_ms();
	enum err e = vwin_terminal_of(srv, by->who, a, &t);
	if (e == ERR_FORBIDDEN)
		return err_fail(ei, ERR_FORBIDDEN, NULL, "仅终端设备可调用");
	if (e)
		return e;
	const json_t *loc = json_object_get(body, "location");
	if ((e = location_check(loc, ei)))
		return e;
	const char *before = vwin_terminal_state(&t, now);
	struct beat_ctx x = {
	    .srv = srv, .by = by, .a = a, .t = &t, .loc_ok = location_ok_of(&t, loc)};
	cstr_to_i64(by->who->session_id, 1, INT64_MAX, &x.session_id);
	x.location = loc && !json_is_null(loc)
	                 ? json_dump_arena(
	                       json_pack("{s:O,s:O,s:O?,s:I}", "lng", json_object_get(loc, "lng"),
	                                 "lat", json_object_get(loc, "lat"), "accuracy_m",
	                                 json_object_get(loc, "accuracy_m"), "at", (json_int_t)now),
	                       a)
	                 : NULL;
	json_t *faults = json_arena_own(a, json_array());
	if (self_check) {
		const json_t *checks = json_object_get(body, "checks"), *ck;
		unsigned seen = 0;
		size_t i;
		json_array_foreach (checks, i, ck) {
			const char *dev = json_get_str(ck, "device");
			int k = peripheral_index(dev);
			if (k < 0 || !json_is_boolean(json_object_get(ck, "ok")))
				return err_fail(
				    ei, ERR_BAD_FIELD, "checks",
				    arena_printf(a,
				                 "第 %zu 项自检应为 {device, ok}，device 为"
				                 " card_reader、printer、scanner、qr、camera、"
				                 "microphone 之一",
				                 i + 1));
			seen |= 1u << k;
			if (!json_is_true(json_object_get(ck, "ok")))
				json_array_append_new(
				    faults,
				    json_pack("{s:s,s:s,s:s}", "device", dev, "code",
				              json_get_str(ck, "code") ? json_get_str(ck, "code")
				                                       : "fault",
				              "message",
				              json_get_str(ck, "message")
				                  ? json_get_str(ck, "message")
				                  : arena_printf(a, "%s自检未通过",
				                                 peripheral_names[k])));
		}
		/* A peripheral the terminal should have but did not report counts as a fault. */
		struct db_conn *c = NULL;
		struct db_rows *rs = NULL;
		if ((e = db_acquire(srv->db, VWIN_DB_WAIT_MS, &c)))
			return e;
		e = db_exec(c, a, &rs, "SELECT peripherals FROM vwin_terminals WHERE id = ?", "i",
		            t.id);
		db_release(c);
		if (e)
			return e;
		json_t *expected =
		    json_arena_own(a, json_loads(rs->nrows ? db_text(rs, 0, 0) : "[]", 0, NULL));
		json_array_foreach (expected, i, ck) {
			int k = peripheral_index(json_string_value(ck));
			if (k >= 0 && !(seen & (1u << k)))
				json_array_append_new(
				    faults,
				    json_pack("{s:s,s:s,s:s}", "device", peripherals[k], "code",
				              "missing", "message",
				              arena_printf(a, "未检测到%s", peripheral_names[k])));
		}
		x.ok = json_array_size(faults) == 0;
		const char *agent = json_get_str(body, "agent_version");
		x.self_check =
		    json_dump_arena(json_arena_own(a, json_pack("{s:b,s:I,s:O,s:s?}", "ok", x.ok,
		                                                "at", (json_int_t)now, "faults",
		                                                faults, "agent_version", agent)),
		                    a);
	} else {
		const json_t *s = json_object_get(body, "in_session");
		x.set_session = s != NULL;
		x.in_session = json_string_value(s);
	}
	if ((e = db_write_unit(srv->db, beat_unit, &x, VWIN_DB_WAIT_MS)))
		return e;
	json_t *live = NULL;
	if ((e = live_of(srv, a, t.code, &live, NULL)))
		return e;
	const char *after = json_get_str(live, "state");
	if (self_check && !x.ok)
		publish_live(srv, a, t.code, "fault");
	else if (strcmp(before, after ? after : ""))
		publish_live(srv, a, t.code, NULL);
	*out = live;
	return ERR_OK;
}

enum err vwin_self_check(struct server *srv, const struct vwin_caller *by, struct arena *a,
                         const json_t *body, json_t **out, struct errinfo *ei)
{
	return beat(srv, by, a, body, true, out, ei);
}

enum err vwin_heartbeat(struct server *srv, const struct vwin_caller *by, struct arena *a,
                        const json_t *body, json_t **out, struct errinfo *ei)
{
	return beat(srv, by, a, body, false, out, ei);
}

/* ---- the heartbeat job ----------------------------------------------------------------- */

struct sweep_ctx {
	struct arena *a;
	int64_t now, lapse_ms;
	int n;
	const char *lapsed[256], *back[256];
	int nlapsed, nback;
	int64_t suspend[256];
	int nsuspend;
};

static enum err sweep_unit(struct db_conn *c, void *ctx)
{
	struct sweep_ctx *x = ctx;
	struct arena *a = x->a;
	struct db_rows *rs = NULL, *tk = NULL;
	x->nlapsed = x->nback = x->nsuspend = 0;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT id, code FROM vwin_terminals WHERE active = 1 AND"
	                     " (last_seen_at IS NULL OR last_seen_at < ?) AND (alerted IS NULL OR"
	                     " alerted <> 'offline') AND secret_hash IS NOT NULL ORDER BY id"
	                     " LIMIT 256",
	                     "i", x->now - x->lapse_ms);
	for (int r = 0; !e && r < rs->nrows; r++) {
		const char *code = db_text(rs, r, 1);
		x->lapsed[x->nlapsed++] = code;
		e = db_exec(c, a, NULL,
		            "UPDATE vwin_terminals SET alerted = 'offline' WHERE id = ?", "i",
		            db_int(rs, r, 0));
		/* A call or service in progress on a terminal that went silent is suspended
		 * after the commit (the queue audits it and publishes the board): the terminal
		 * may resume it within the queue's limit when it is back. */
		if (!e)
			e = db_exec(c, a, &tk,
			            "SELECT id FROM queue_tickets WHERE terminal = ? AND state IN"
			            " ('called', 'serving')",
			            "s", code);
		for (int k = 0; !e && k < tk->nrows && x->nsuspend < 256; k++)
			x->suspend[x->nsuspend++] = db_int(tk, k, 0);
	}
	if (e)
		return e;
	if ((e = db_exec(c, a, &rs,
	                 "SELECT id, code FROM vwin_terminals WHERE alerted = 'offline' AND"
	                 " last_seen_at >= ? ORDER BY id LIMIT 256",
	                 "i", x->now - x->lapse_ms)))
		return e;
	for (int r = 0; !e && r < rs->nrows; r++) {
		x->back[x->nback++] = db_text(rs, r, 1);
		e = db_exec(c, a, NULL, "UPDATE vwin_terminals SET alerted = NULL WHERE id = ?",
		            "i", db_int(rs, r, 0));
	}
	return e;
}

enum err vwin_heartbeat_sweep(struct server *srv, int64_t now_ms, int64_t *changed)
{
	struct arena a;
	arena_init(&a, 0);
	struct sweep_ctx x = {.a = &a,
	                      .now = now_ms,
	                      .lapse_ms = VWIN_LAPSE_INTERVALS * srv->cfg.vwin_heartbeat_s * 1000};
	enum err e = db_write_unit(srv->db, sweep_unit, &x, VWIN_DB_WAIT_MS);
	if (!e) {
		for (int i = 0; i < x.nlapsed; i++)
			publish_live(srv, &a, x.lapsed[i], "offline");
		for (int i = 0; i < x.nback; i++)
			publish_live(srv, &a, x.back[i], NULL);
		for (int i = 0; i < x.nsuspend; i++) {
			enum err se =
			    queue_ticket_suspend_lost(srv, x.suspend[i], "terminal_offline");
			if (se && se != ERR_BAD_STATE)
				log_warn("vwin.heartbeat", "ticket %lld not suspended: %s",
				         (long long)x.suspend[i], err_code(se));
		}
		if (changed)
			*changed = x.nlapsed + x.nback;
	}
	arena_release(&a);
	return e;
}
