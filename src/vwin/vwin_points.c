/* vwin_points.c: extension points (延伸点) and 上门办 points — the admin's list, create and
 * edit (docs/vwin.md "Places"). A create and an edit are checked the same way: the edit's
 * members are laid over the stored point and the whole is validated, then written with a
 * version guard in one write unit with its audit entry. */
#include <math.h>
#include <string.h>

#include "auth/auth.h"
#include "core/json.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "server/server.h"
#include "vwin/vwin_int.h"

static double num(const struct db_rows *rs, int r, int c)
{
	const struct db_val *v = db_cell(rs, r, c);
	return v->type == DB_REAL ? v->d : (double)db_int(rs, r, c);
}

#define POINT_COLS                                                                                 \
	"p.id, p.code, p.name, p.kind, o.id, o.code, o.name, p.address, p.lng, p.lat, p.radius_m," \
	" p.hours, p.tags, p.active, p.map_id, p.map_synced_at, p.version, o.path,"                \
	" (SELECT COUNT(*) FROM vwin_terminals t WHERE t.point_id = p.id)"

static json_t *point_json(const struct db_rows *rs, int r)
{
	json_t *hours = json_loads(db_text(rs, r, 11) ? db_text(rs, r, 11) : "[]", 0, NULL);
	json_t *tags = json_loads(db_text(rs, r, 12) ? db_text(rs, r, 12) : "[]", 0, NULL);
	return json_pack("{s:I,s:s,s:s,s:s,s:{s:I,s:s,s:s},s:s,s:f,s:f,s:I,s:o,s:o,s:b,s:s?,s:o,"
	                 "s:I,s:I}",
	                 "id", (json_int_t)db_int(rs, r, 0), "code", db_text(rs, r, 1), "name",
	                 db_text(rs, r, 2), "kind", db_text(rs, r, 3), "centre", "id",
	                 (json_int_t)db_int(rs, r, 4), "code", db_text(rs, r, 5), "name",
	                 db_text(rs, r, 6), "address", db_text(rs, r, 7), "lng", num(rs, r, 8),
	                 "lat", num(rs, r, 9), "radius_m", (json_int_t)db_int(rs, r, 10), "hours",
	                 hours ? hours : json_array(), "tags", tags ? tags : json_array(), "active",
	                 db_int(rs, r, 13) != 0, "map_id", db_text(rs, r, 14), "map_synced_at",
	                 db_is_null(rs, r, 15) ? json_null() : json_integer(db_int(rs, r, 15)),
	                 "version", (json_int_t)db_int(rs, r, 16), "terminals",
	                 (json_int_t)db_int(rs, r, 18));
}

enum err vwin_points_list(struct server *srv, const struct vwin_caller *by, struct arena *a,
                          json_t **out)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_acquire(srv->db, VWIN_DB_WAIT_MS, &c);
	if (e)
		return e;
	e = db_exec(c, a, &rs,
	            "SELECT " POINT_COLS " FROM vwin_points p JOIN orgs o ON o.id = p.org_id"
	            " WHERE o.path LIKE ? ORDER BY o.code, p.code LIMIT 2000",
	            "s", auth_scope_like(by->who, a));
	db_release(c);
	if (e)
		return e;
	json_t *arr = json_array();
	for (int r = 0; arr && r < rs->nrows; r++)
		json_array_append_new(arr, point_json(rs, r));
	*out = arr ? json_pack("{s:o}", "points", arr) : NULL;
	return *out ? ERR_OK : ERR_NOMEM;
}

/* ---- validation ---- */

struct point_in {
	const char *code, *name, *kind, *centre, *address, *hours, *tags, *map_id;
	double lng, lat;
	int64_t radius_m;
	bool active;
};

static bool text_ok(const char *s, size_t min, size_t max)
{
	size_t n = s ? utf8_len(s, strlen(s)) : 0;
	return s && n >= min && n <= max && str_trim(str_from(s)).n > 0;
}

/* Check the merged point m (borrowed) into *p; strings from a. */
static enum err point_check(const json_t *m, struct arena *a, struct point_in *p,
                            struct errinfo *ei)
{
	const json_t *v;
	p->code = json_get_str(m, "code");
	if (!vwin_code_valid(p->code, VWIN_POINT_CODE_MAX))
		return err_fail(ei, p->code ? ERR_BAD_FIELD : ERR_MISSING_FIELD, "code",
		                "点位编号应为 3–32 位大写字母、数字或 -");
	p->name = json_get_str(m, "name");
	if (!text_ok(p->name, 2, 60))
		return err_fail(ei, p->name ? ERR_BAD_FIELD : ERR_MISSING_FIELD, "name",
		                "点位名称应为 2–60 个字");
	p->kind = json_get_str(m, "kind");
	if (!p->kind || (strcmp(p->kind, "extension") && strcmp(p->kind, "home")))
		return err_fail(ei, p->kind ? ERR_BAD_FIELD : ERR_MISSING_FIELD, "kind",
		                "点位类型应为 extension（延伸点）或 home（上门办）");
	p->centre = json_get_str(m, "centre");
	if (!text_ok(p->centre, 1, 50))
		return err_fail(ei, ERR_MISSING_FIELD, "centre",
		                "请填写负责的受理中心（机构编码）");
	p->address = json_get_str(m, "address");
	if (!text_ok(p->address, 2, 200))
		return err_fail(ei, p->address ? ERR_BAD_FIELD : ERR_MISSING_FIELD, "address",
		                "地址应为 2–200 个字");
	const json_t *lng = json_object_get(m, "lng"), *lat = json_object_get(m, "lat");
	if (!json_is_number(lng) || !json_is_number(lat) ||
	    !vwin_coords_valid(json_number_value(lng), json_number_value(lat)))
		return err_fail(ei, !json_is_number(lng) ? ERR_MISSING_FIELD : ERR_BAD_FIELD,
		                json_is_number(lng) && !json_is_number(lat) ? "lat" : "lng",
		                "经纬度（GCJ-02）应在中国境内：经度 73–136，纬度 3–54");
	p->lng = json_number_value(lng);
	p->lat = json_number_value(lat);
	v = json_object_get(m, "radius_m");
	p->radius_m = json_is_integer(v) ? json_integer_value(v) : 0;
	if (p->radius_m < VWIN_RADIUS_MIN || p->radius_m > VWIN_RADIUS_MAX)
		return err_fail(ei, v ? ERR_BAD_FIELD : ERR_MISSING_FIELD, "radius_m",
		                "服务范围半径应为 20–5000 米的整数");
	struct vwin_hours h;
	const char *why = NULL;
	if (vwin_hours_parse(json_object_get(m, "hours"), &h, a, &why))
		return err_fail(ei, ERR_BAD_FIELD, "hours", why);
	p->hours = json_dump_arena(json_object_get(m, "hours"), a);
	v = json_object_get(m, "tags");
	if (!json_is_array(v) || json_array_size(v) > VWIN_TAGS_MAX)
		return err_fail(ei, ERR_BAD_FIELD, "tags", "标签最多 10 个");
	size_t i;
	const json_t *t;
	json_array_foreach (v, i, t) {
		if (!text_ok(json_string_value(t), 1, 20))
			return err_fail(ei, ERR_BAD_FIELD, "tags",
			                arena_printf(a, "第 %zu 个标签应为 1–20 个字", i + 1));
	}
	p->tags = json_dump_arena(v, a);
	p->map_id = json_get_str(m, "map_id");
	if (p->map_id && !text_ok(p->map_id, 1, 64))
		return err_fail(ei, ERR_BAD_FIELD, "map_id", "政务地图编号应为 1–64 个字符");
	p->active = json_get_bool(m, "active", true);
	return p->hours && p->tags ? ERR_OK : ERR_NOMEM;
}

struct save_ctx {
	const struct vwin_caller *by;
	struct arena *a;
	struct errinfo *ei;
	const char *code; /* PATCH: the point's code; NULL for a create */
	const json_t *body;
	int64_t id;
};

static enum err save_unit(struct db_conn *c, void *ctx)
{
	struct save_ctx *x = ctx;
	struct arena *a = x->a;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms(), version = 0;
	json_t *m = json_arena_own(a, json_object());
	enum err e;
	if (!m)
		return ERR_NOMEM;
	if (x->code) {
		if ((e = db_exec(c, a, &rs,
		                 "SELECT " POINT_COLS " FROM vwin_points p JOIN orgs o ON o.id ="
		                 " p.org_id WHERE p.code = ?",
		                 "s", x->code)))
			return e;
		if (rs->nrows != 1 || !auth_scope_covers(x->by->who, db_text(rs, 0, 17)))
			return err_fail(x->ei, ERR_NOT_FOUND, NULL, "点位不存在");
		json_t *cur = json_arena_own(a, point_json(rs, 0));
		if (!cur)
			return ERR_NOMEM;
		json_object_update(m, cur);
		json_object_set_new(m, "centre", json_string(db_text(rs, 0, 5)));
		x->id = db_int(rs, 0, 0);
		version = db_int(rs, 0, 16);
		if (json_get_int(x->body, "version", 0) != version)
			return err_fail(x->ei, ERR_CONFLICT, "version",
			                "点位已被他人修改，请刷新后重试");
	} else {
		json_object_set_new(m, "hours", json_loads(VWIN_DEFAULT_HOURS, 0, NULL));
		json_object_set_new(m, "tags", json_array());
		json_object_set_new(
		    m, "radius_m",
		    json_integer(
		        !strcmp(json_get_str(x->body, "kind") ? json_get_str(x->body, "kind") : "",
		                "home")
		            ? 1000
		            : 200));
	}
	const char *k;
	json_t *v;
	json_object_foreach ((json_t *)x->body, k, v) {
		if (strcmp(k, "version") && !(x->code && !strcmp(k, "code")))
			json_object_set(
			    m, k,
			    json_is_null(v) && strcmp(k, "map_id") ? json_object_get(m, k) : v);
	}
	struct point_in p = {0};
	if ((e = point_check(m, a, &p, x->ei)))
		return e;
	if ((e = db_exec(c, a, &rs, "SELECT id, path FROM orgs WHERE code = ? AND level = 'centre'",
	                 "s", p.centre)))
		return e;
	if (rs->nrows != 1 || !auth_scope_covers(x->by->who, db_text(rs, 0, 1)))
		return err_fail(x->ei, ERR_NOT_FOUND, "centre",
		                "受理中心不存在或不在您的管辖范围内");
	int64_t org = db_int(rs, 0, 0);
	if (x->code)
		e = db_exec(
		    c, a, &rs,
		    "UPDATE vwin_points SET name = ?, kind = ?, org_id = ?, address = ?,"
		    " lng = ?, lat = ?, radius_m = ?, hours = ?, tags = ?, active = ?, map_id ="
		    " ?, updated_at = ?, version = version + 1 WHERE id = ? AND version = ?",
		    "ssisddissisiii", p.name, p.kind, org, p.address, p.lng, p.lat, p.radius_m,
		    p.hours, p.tags, (int64_t)p.active, p.map_id, now, x->id, version);
	else
		e = db_exec(c, a, &rs,
		            "INSERT INTO vwin_points (code, name, kind, org_id, address, lng, lat,"
		            " radius_m, hours, tags, active, map_id, created_at, updated_at) VALUES"
		            " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
		            "sssisddissisii", p.code, p.name, p.kind, org, p.address, p.lng, p.lat,
		            p.radius_m, p.hours, p.tags, (int64_t)p.active, p.map_id, now, now);
	if (e == ERR_EXISTS)
		return err_fail(x->ei, ERR_EXISTS, "code", "点位编号已存在");
	if (e)
		return e;
	if (x->code && rs->changes != 1)
		return err_fail(x->ei, ERR_CONFLICT, "version", "点位已被他人修改，请刷新后重试");
	if (!x->code)
		x->id = db_int(rs, 0, 0);
	json_t *d = json_pack("{s:s,s:s,s:s,s:b}", "code", p.code, "kind", p.kind, "centre",
	                      p.centre, "active", p.active);
	e = vwin_audit(c, a, x->by, x->code ? "vwin.point.update" : "vwin.point.create",
	               arena_printf(a, "vwin_point:%lld", (long long)x->id), d);
	json_decref(d);
	return e;
}

enum err vwin_point_save(struct server *srv, const struct vwin_caller *by, struct arena *a,
                         const char *code, const json_t *body, json_t **out, struct errinfo *ei)
{
	struct save_ctx x = {.by = by, .a = a, .ei = ei, .code = code, .body = body};
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_write_unit(srv->db, save_unit, &x, VWIN_DB_WAIT_MS);
	if (e)
		return e;
	if ((e = db_acquire(srv->db, VWIN_DB_WAIT_MS, &c)))
		return e;
	e = db_exec(c, a, &rs,
	            "SELECT " POINT_COLS " FROM vwin_points p JOIN orgs o ON o.id = p.org_id"
	            " WHERE p.id = ?",
	            "i", x.id);
	db_release(c);
	if (e)
		return e;
	*out = rs->nrows == 1 ? point_json(rs, 0) : NULL;
	return *out ? ERR_OK : ERR_DB;
}
