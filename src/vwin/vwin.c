/* vwin.c: the rules of places and terminals — geofence, opening hours, health — and what the
 * other parts call: the terminal of a device session, its health, its topic, the checks of a
 * service request (docs/vwin.md "Places", "Terminals"). */
#include <math.h>
#include <string.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "cases/cases.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "events/events.h"
#include "server/server.h"
#include "vwin/vwin_int.h"

const char VWIN_DEFAULT_HOURS[] = "[{\"days\":\"1-5\",\"from\":\"08:30\",\"to\":\"16:30\"},"
                                  "{\"days\":\"6-7,holiday\",\"from\":\"08:30\",\"to\":\"11:30\"}]";

enum err vwin_audit(struct db_conn *c, struct arena *a, const struct vwin_caller *by,
                    const char *action, const char *target, const json_t *detail)
{
	const struct principal *who = by ? by->who : NULL;
	struct audit_entry ae = {
	    .actor_id = who ? who->user_id : 0,
	    .actor_name = who ? who->username : "system",
	    .action = action,
	    .target = target,
	    .detail = detail ? json_dump_arena(detail, a) : NULL,
	    .client_ip = by ? by->client_ip : NULL,
	    .trace_id = by ? by->trace_id : NULL,
	};
	return audit_append(c, a, &ae);
}

void vwin_hash(const char *s, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[32];
	crypto_sm3(s, strlen(s), d);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = 0;
}

bool vwin_code_valid(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	if (n < VWIN_CODE_MIN || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

/* ---- geofence ---------------------------------------------------------------------------- */

double vwin_distance_m(double lng1, double lat1, double lng2, double lat2)
{
	const double r = 6371008.8, rad = M_PI / 180.0;
	double dlat = (lat2 - lat1) * rad, dlng = (lng2 - lng1) * rad;
	double h = sin(dlat / 2) * sin(dlat / 2) +
	           cos(lat1 * rad) * cos(lat2 * rad) * sin(dlng / 2) * sin(dlng / 2);
	return 2 * r * asin(sqrt(h < 1 ? h : 1));
}

bool vwin_geofence_inside(double dist_m, int64_t radius_m, double accuracy_m)
{
	/* A coarse fix may not push the resident out, nor let one far away in: the accuracy
	 * widens the fence, but only so far. */
	double slack = accuracy_m > 0 ? fmin(accuracy_m, VWIN_ACCURACY_CAP_M) : 0;
	return dist_m >= 0 && dist_m <= (double)radius_m + slack;
}

bool vwin_coords_valid(double lng, double lat)
{
	return isfinite(lng) && isfinite(lat) && lng >= 73.0 && lng <= 136.0 && lat >= 3.0 &&
	       lat <= 54.0;
}

/* ---- opening hours ---------------------------------------------------------------------- */

static bool hhmm(const char *s, int *out)
{
	if (!s || strlen(s) != 5 || s[2] != ':')
		return false;
	for (int i = 0; i < 5; i++)
		if (i != 2 && !(s[i] >= '0' && s[i] <= '9'))
			return false;
	int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 24 || m > 59 || (h == 24 && m))
		return false;
	*out = h * 60 + m;
	return true;
}

/* "1-5", "6,7", "6-7,holiday" → bits; 0 when malformed. */
static unsigned days_of(const char *s)
{
	unsigned bits = 0;
	struct str rest = str_from(s), item;
	if (!s || !*s || strlen(s) > 40)
		return 0;
	while (rest.p) {
		rest = str_cut(rest, ',', &item);
		item = str_trim(item);
		if (str_eq_c(item, "holiday")) {
			bits |= VWIN_HOURS_HOLIDAY;
			continue;
		}
		struct str lo_s, hi_s = str_cut(item, '-', &lo_s);
		int64_t lo, hi;
		if (!str_to_i64(str_trim(lo_s), 1, 7, &lo))
			return 0;
		hi = lo;
		if (hi_s.p && !str_to_i64(str_trim(hi_s), 1, 7, &hi))
			return 0;
		if (hi < lo)
			return 0;
		for (int64_t d = lo; d <= hi; d++)
			bits |= 1u << d;
	}
	return bits;
}

enum err vwin_hours_parse(const json_t *arr, struct vwin_hours *out, struct arena *a,
                          const char **why)
{
	size_t i;
	const json_t *v;
	memset(out, 0, sizeof(*out));
	if (!json_is_array(arr) || json_array_size(arr) > VWIN_HOURS_MAX) {
		*why = "服务时段应为数组，最多 14 段";
		return ERR_BAD_FIELD;
	}
	json_array_foreach (arr, i, v) {
		unsigned days = days_of(json_get_str(v, "days"));
		int from, to;
		if (!json_is_object(v) || !days) {
			*why =
			    arena_printf(a,
			                 "第 %zu 段服务时段的 days 应为 1–7 的星期（如 1-5、6,7）"
			                 "或 holiday",
			                 i + 1);
			return ERR_BAD_FIELD;
		}
		if (!hhmm(json_get_str(v, "from"), &from) || !hhmm(json_get_str(v, "to"), &to) ||
		    from >= to) {
			*why = arena_printf(
			    a, "第 %zu 段服务时段的起止时间应为 HH:MM，且开始早于结束", i + 1);
			return ERR_BAD_FIELD;
		}
		out->span[out->n].days = days;
		out->span[out->n].from = from;
		out->span[out->n].to = to;
		out->n++;
	}
	return ERR_OK;
}

bool vwin_hours_open(const struct vwin_hours *h, struct cases_calendar *cal, int64_t now_ms)
{
	int64_t local = now_ms + 8 * 3600000LL;
	int64_t days = local >= 0 ? local / 86400000LL : (local - 86399999LL) / 86400000LL;
	int minute = (int)((local - days * 86400000LL) / 60000);
	int dow = (int)(((days + 3) % 7 + 7) % 7) + 1; /* 1970-01-01 was a Thursday */
	unsigned want = 1u << dow;
	if (cal) {
		int64_t y;
		int m, d;
		char day[11];
		time_civil_from_days(days, &y, &m, &d);
		snprintf(day, sizeof(day), "%04u-%02u-%02u", (unsigned)(y % 10000),
		         (unsigned)m % 100u, (unsigned)d % 100u);
		bool work = cases_calendar_is_workday(cal, day);
		if (dow <= 5 && !work)
			want = VWIN_HOURS_HOLIDAY;
		else if (dow >= 6 && work)
			want = 1u << 1; /* 调休: a listed workday keeps Monday's hours */
	}
	for (int i = 0; i < h->n; i++)
		if ((h->span[i].days & want) && minute >= h->span[i].from && minute < h->span[i].to)
			return true;
	return false;
}

const char *vwin_hours_text(const struct vwin_hours *h, struct arena *a)
{
	static const char *const names[] = {"", "一", "二", "三", "四", "五", "六", "日"};
	const char *out = "";
	for (int i = 0; i < h->n && out; i++) {
		const char *days = "";
		for (int d = 1; d <= 7 && days; d++) {
			if (!(h->span[i].days & (1u << d)))
				continue;
			int e = d;
			while (e < 7 && (h->span[i].days & (1u << (e + 1))))
				e++;
			days = e > d
			           ? arena_printf(a, "%s%s周%s至周%s", days, *days ? "、" : "",
			                          names[d], names[e])
			           : arena_printf(a, "%s%s周%s", days, *days ? "、" : "", names[d]);
			d = e;
		}
		if (days && (h->span[i].days & VWIN_HOURS_HOLIDAY))
			days = arena_printf(a, "%s%s节假日", days, *days ? "、" : "");
		out = days ? arena_printf(a, "%s%s%s %02d:%02d–%02d:%02d", out, *out ? "；" : "",
		                          days, h->span[i].from / 60, h->span[i].from % 60,
		                          h->span[i].to / 60, h->span[i].to % 60)
		           : NULL;
	}
	return out && *out ? out : "无服务时段";
}

/* ---- terminals ----------------------------------------------------------------------- */

#define TERMINAL_SELECT                                                                            \
	"SELECT t.id, t.code, t.name, t.kind, p.code, p.kind, o.code, o.id, o.path, t.user_id,"    \
	" t.active * p.active, t.last_seen_at, t.self_check_ok, t.self_check_at, t.in_session,"    \
	" p.lng, p.lat, p.radius_m, p.hours FROM vwin_terminals t JOIN vwin_points p ON p.id ="    \
	" t.point_id JOIN orgs o ON o.id = p.org_id"

static void terminal_read(struct server *srv, const struct db_rows *rs, struct vwin_terminal *t)
{
	memset(t, 0, sizeof(*t));
	t->id = db_int(rs, 0, 0);
	t->code = db_text(rs, 0, 1);
	t->name = db_text(rs, 0, 2);
	t->kind = db_text(rs, 0, 3);
	t->point = db_text(rs, 0, 4);
	t->point_kind = db_text(rs, 0, 5);
	t->centre_code = db_text(rs, 0, 6);
	t->centre_id = db_int(rs, 0, 7);
	t->centre_path = db_text(rs, 0, 8);
	t->user_id = db_int(rs, 0, 9);
	t->active = db_int(rs, 0, 10) != 0;
	t->last_seen_at = db_int(rs, 0, 11);
	t->self_check_ok = db_int(rs, 0, 12) != 0;
	t->self_check_at = db_int(rs, 0, 13);
	t->in_session = db_text(rs, 0, 14);
	t->lng =
	    db_cell(rs, 0, 15)->type == DB_REAL ? db_cell(rs, 0, 15)->d : (double)db_int(rs, 0, 15);
	t->lat =
	    db_cell(rs, 0, 16)->type == DB_REAL ? db_cell(rs, 0, 16)->d : (double)db_int(rs, 0, 16);
	t->radius_m = db_int(rs, 0, 17);
	t->hours_json = db_text(rs, 0, 18);
	t->heartbeat_ms = srv->cfg.vwin_heartbeat_s * 1000;
}

static enum err terminal_query(struct server *srv, struct db_conn *c, struct arena *a,
                               const char *where, const char *s, int64_t i,
                               struct vwin_terminal *out)
{
	struct db_conn *own = NULL;
	struct db_rows *rs = NULL;
	enum err e = ERR_OK;
	if (!c && (e = db_acquire(srv->db, VWIN_DB_WAIT_MS, &own)))
		return e;
	const char *sql = arena_printf(a, TERMINAL_SELECT " WHERE %s", where);
	if (!sql)
		e = ERR_NOMEM;
	else if (s)
		e = db_exec(c ? c : own, a, &rs, sql, "s", s);
	else
		e = db_exec(c ? c : own, a, &rs, sql, "i", i);
	if (!e && rs->nrows != 1)
		e = ERR_NOT_FOUND;
	if (!e)
		terminal_read(srv, rs, out);
	db_release(own);
	return e;
}

enum err vwin_terminal_load(struct server *srv, struct db_conn *c, struct arena *a,
                            const char *code, struct vwin_terminal *out)
{
	if (!code)
		return ERR_NOT_FOUND;
	return terminal_query(srv, c, a, "t.code = ?", code, 0, out);
}

enum err vwin_terminal_of(struct server *srv, const struct principal *who, struct arena *a,
                          struct vwin_terminal *out)
{
	bool terminal = false;
	for (int i = 0; who && i < who->nperms; i++)
		terminal = terminal || !strcmp(who->perms[i], "terminal.use");
	if (!terminal)
		return ERR_FORBIDDEN;
	return terminal_query(srv, NULL, a, "t.user_id = ?", NULL, who->user_id, out);
}

bool vwin_terminal_healthy(const struct vwin_terminal *t, int64_t now_ms)
{
	int64_t beat = t->heartbeat_ms > 0 ? t->heartbeat_ms : 20000;
	return t->active && t->self_check_ok && t->last_seen_at > 0 &&
	       now_ms - t->last_seen_at <= VWIN_LAPSE_INTERVALS * beat;
}

const char *vwin_terminal_state(const struct vwin_terminal *t, int64_t now_ms)
{
	int64_t beat = t->heartbeat_ms > 0 ? t->heartbeat_ms : 20000;
	if (!t->active)
		return "disabled";
	if (t->last_seen_at <= 0 || now_ms - t->last_seen_at > VWIN_LAPSE_INTERVALS * beat)
		return "offline";
	if (!t->self_check_ok)
		return "fault";
	if (t->in_session && *t->in_session)
		return "in_session";
	return "online";
}

void vwin_terminal_publish(struct server *srv, const char *code, const char *stream,
                           const json_t *json)
{
	char topic[128];
	if (!srv->bus || !code || !stream || !json)
		return;
	char *text = json_dumps(json, JSON_COMPACT);
	if (!text ||
	    snprintf(topic, sizeof(topic), "terminal:%s:%s", code, stream) >= (int)sizeof(topic)) {
		free(text);
		return;
	}
	enum err e = event_bus_publish(srv->bus, topic, text);
	if (e)
		log_warn("vwin.publish", "cannot publish on %s: %s", topic, err_code(e));
	free(text);
}

/* ---- service requests ------------------------------------------------------------------ */

enum err vwin_service_check(struct server *srv, const struct vwin_terminal *t,
                            const json_t *location, struct arena *a, struct errinfo *ei)
{
	int64_t now = time_now_ms();
	if (!t->active)
		return err_fail(ei, ERR_BAD_STATE, "terminal", "该终端已停用，暂不能办理");
	if (!vwin_terminal_healthy(t, now))
		return err_fail(ei, ERR_BAD_STATE, "terminal",
		                !t->self_check_ok ? "终端自检未通过，请检查设备后重新自检"
		                                  : "终端心跳中断，请检查网络后重试");
	if (strcmp(t->point_kind, "home"))
		return ERR_OK; /* an extension point records the location only */
	const json_t *lng = json_object_get(location, "lng"),
	             *lat = json_object_get(location, "lat");
	if (!json_is_number(lng) || !json_is_number(lat))
		return err_fail(ei, ERR_FORBIDDEN, "location",
		                "上门办须提供终端定位（location.lng、location.lat）");
	double dist =
	    vwin_distance_m(t->lng, t->lat, json_number_value(lng), json_number_value(lat));
	const json_t *acc = json_object_get(location, "accuracy_m");
	if (!vwin_geofence_inside(dist, t->radius_m,
	                          json_is_number(acc) ? json_number_value(acc) : 0))
		return err_fail(
		    ei, ERR_FORBIDDEN, "location",
		    arena_printf(a, "终端位置距服务点 %.0f 米，超出上门办服务范围（%lld 米）", dist,
		                 (long long)t->radius_m));
	struct vwin_hours h;
	const char *why = NULL;
	json_t *hj = json_arena_own(a, json_loads(t->hours_json ? t->hours_json : "[]", 0, NULL));
	if (vwin_hours_parse(hj, &h, a, &why))
		return err_fail(ei, ERR_INTERNAL, NULL, "服务点的服务时段配置有误");
	if (!vwin_hours_open(&h, cases_calendar_of(srv), now))
		return err_fail(
		    ei, ERR_BAD_STATE, "hours",
		    arena_printf(a, "当前不在上门办服务时段（%s）", vwin_hours_text(&h, a)));
	return ERR_OK;
}
