/* sim_map_video.c: 政务地图 (the extension points 延伸点 of the virtual windows: the list, the
 * writes Shouli pushes — create, update, deactivate, deduplicated by Shouli's point code —, the
 * day's change log, and the reconciliation of Shouli's list with the map's) and the video
 * provider (rooms and join tokens for the remote virtual window). */
#include "sim/sim_int.h"

#include <math.h>
#include <string.h>

#include "core/id.h"
#include "core/str.h"

/* ---- 政务地图 ---- */

/* Approximate centres of the districts, in the order of sim_people.c's table. */
static const struct {
	const char *code;
	double lng, lat;
} centres[] = {
    {"310101", 121.490, 31.230}, {"310104", 121.437, 31.188}, {"310105", 121.424, 31.220},
    {"310106", 121.459, 31.262}, {"310107", 121.395, 31.249}, {"310109", 121.505, 31.265},
    {"310110", 121.526, 31.270}, {"310112", 121.381, 31.112}, {"310113", 121.489, 31.405},
    {"310114", 121.266, 31.375}, {"310115", 121.544, 31.221}, {"310116", 121.342, 30.741},
    {"310117", 121.227, 31.032}, {"310118", 121.124, 31.150}, {"310120", 121.474, 30.918},
    {"310151", 121.397, 31.623},
};
#define NCENTRES ((int)(sizeof(centres) / sizeof(centres[0])))

static const struct {
	const char *code, *title, *pattern;
} point_types[] = {
    {"community", "居村委延伸点", "%s%s居民区延伸服务点"},
    {"park", "园区服务站", "%s%s园区政务服务站"},
    {"bank", "银行网点", "%s%s银行便民服务点"},
    {"elderly_care", "养老机构", "%s%s养老院延伸服务点"},
    {"building", "商务楼宇", "%s%s楼宇党群服务站"},
};
#define NTYPES ((int)(sizeof(point_types) / sizeof(point_types[0])))

static const char *const place_words[] = {"光明", "和平", "幸福", "康乐", "新华", "长青",
                                          "阳光", "锦绣", "东方", "南园", "春晖", "华苑"};

/* All points of the map (new array): one or two per street, the same for the same seed. */
static json_t *all_points(struct sim_req *q)
{
	json_t *list = json_array();
	struct sim_rng g;
	sim_rng_seed(&g, q->sim->cfg.seed ^ 0x6d6170ULL);
	for (int d = 0; d < NCENTRES; d++) {
		int seq = 0;
		const char *dname = sim_district_name(centres[d].code);
		for (int s = 0; s < 8; s++) {
			int n = 1 + (int)sim_rng_below(&g, 2);
			for (int k = 0; k < n; k++) {
				int t = (int)sim_rng_below(&g, 100);
				int type = t < 55 ? 0 : t < 70 ? 1 : t < 82 ? 2 : t < 94 ? 3 : 4;
				const char *street = sim_street_name(d, s);
				const char *word = place_words[sim_rng_below(&g, 12)];
				char name[160];
				snprintf(name, sizeof(name), point_types[type].pattern, street,
				         word);
				double lng = centres[d].lng + (sim_rng_unit(&g) - 0.5) * 0.04;
				double lat = centres[d].lat + (sim_rng_unit(&g) - 0.5) * 0.04;
				bool active = sim_rng_below(&g, 100) >= 5;
				char id[24];
				snprintf(id, sizeof(id), "YSD%s%03d", centres[d].code, ++seq);
				json_array_append_new(
				    list,
				    json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:f,s:f,s:s,s:s,s:["
				              "sssss]}",
				              "point_id", id, "name", name, "type",
				              point_types[type].code, "type_name",
				              point_types[type].title, "district", centres[d].code,
				              "district_name", dname, "street", street, "address",
				              arena_printf(q->a, "上海市%s%s%s路%u号", dname, word,
				                           s % 2 ? "中" : "东",
				                           10 + sim_rng_below(&g, 600)),
				              "lng", round(lng * 1e6) / 1e6, "lat",
				              round(lat * 1e6) / 1e6, "centre",
				              arena_printf(q->a, "%s社区事务受理服务中心", street),
				              "status", active ? "active" : "inactive", "devices",
				              "PAD", "高拍仪", "身份证读卡器", "打印机", "摄像头"));
			}
		}
	}
	return list;
}

/* ---- the map's own edits: points Shouli created, updated or deactivated ----
 *
 * The generated points above are the map as it was; everything written since lives in the
 * state bucket "map" (under s->lock, emptied by POST /sim/reset):
 *   points  {point_id: point}   created points and changed generated ones (replace them)
 *   codes   {source_code: id}   the dedupe of creates: Shouli's point code is the request id,
 *                               so a create sent again (a retry, a rerun after a crash, a
 *                               second node) answers the point made the first time
 *   next    {district: n}       the sequence of new ids per district
 *   log     [change]            the change log reconciliations read (newest last) */

#define MAP_LOG_MAX 20000
/* Shanghai's extent (GCJ-02), a little generous at the edges. */
#define SH_LNG_MIN 120.85
#define SH_LNG_MAX 122.20
#define SH_LAT_MIN 30.66
#define SH_LAT_MAX 31.90

static json_t *map_bucket(struct sim *s, const char *name, bool array)
{
	json_t *m = json_object_get(s->state, "map");
	if (!m) {
		m = json_object();
		json_object_set_new(s->state, "map", m);
	}
	json_t *b = json_object_get(m, name);
	if (!b) {
		b = array ? json_array() : json_object();
		json_object_set_new(m, name, b);
	}
	return b;
}

/* The map now (new array): the generated points with the stored edits laid over them and the
 * created points after them. */
static json_t *map_points(struct sim_req *q)
{
	json_t *all = all_points(q);
	pthread_mutex_lock(&q->sim->lock);
	json_t *edits = json_deep_copy(map_bucket(q->sim, "points", false));
	pthread_mutex_unlock(&q->sim->lock);
	size_t i;
	json_t *p;
	json_array_foreach (all, i, p) {
		json_t *e = json_object_get(edits, json_get_str(p, "point_id"));
		if (e) {
			json_array_set(all, i, e);
			json_object_del(edits, json_get_str(e, "point_id"));
		}
	}
	const char *k;
	json_object_foreach (edits, k, p)
		json_array_append(all, p);
	json_decref(edits);
	return all;
}

static int type_index(const char *code)
{
	for (int i = 0; code && i < NTYPES; i++)
		if (!strcmp(point_types[i].code, code))
			return i;
	return -1;
}

static int district_index(const char *code)
{
	for (int i = 0; code && i < NCENTRES; i++)
		if (!strcmp(centres[i].code, code))
			return i;
	return -1;
}

static void bad(json_t *errs, const char *field, const char *msg)
{
	json_array_append_new(errs, json_pack("{s:s,s:s}", "field", field, "message", msg));
}

static bool text_between(const char *s, size_t min, size_t max)
{
	size_t n = s ? utf8_len(s, strlen(s)) : 0;
	return s && n >= min && n <= max && str_trim(str_from(s)).n > 0;
}

/* Validate a point record (create: with source_code); answers 422 naming every bad field and
 * returns false. */
static bool point_valid(struct sim_req *q, const json_t *b, bool create)
{
	json_t *errs = json_array();
	if (create) {
		const char *sc = json_get_str(b, "source_code");
		if (!text_between(sc, 1, 64))
			bad(errs, "source_code",
			    "缺少来源系统的点位编号（source_code，1–64 个字符）");
	}
	if (!text_between(json_get_str(b, "name"), 2, 60))
		bad(errs, "name", "延伸点名称应为 2–60 个字");
	if (!text_between(json_get_str(b, "address"), 2, 200))
		bad(errs, "address", "延伸点地址应为 2–200 个字");
	if (district_index(json_get_str(b, "district")) < 0)
		bad(errs, "district", "所属区应为上海市的区划代码（如 310104）");
	const json_t *lng = json_object_get(b, "lng"), *lat = json_object_get(b, "lat");
	if (!json_is_number(lng) || json_number_value(lng) < SH_LNG_MIN ||
	    json_number_value(lng) > SH_LNG_MAX)
		bad(errs, "lng", "经度应在上海市范围内（120.85–122.20）");
	if (!json_is_number(lat) || json_number_value(lat) < SH_LAT_MIN ||
	    json_number_value(lat) > SH_LAT_MAX)
		bad(errs, "lat", "纬度应在上海市范围内（30.66–31.90）");
	if (type_index(json_get_str(b, "type")) < 0)
		bad(errs, "type", "延伸点类型应为 community、park、bank、elderly_care 或 building");
	const char *st = json_get_str(b, "status");
	if (json_object_get(b, "status") &&
	    (!st || (strcmp(st, "active") && strcmp(st, "inactive"))))
		bad(errs, "status", "状态应为 active 或 inactive");
	if (json_array_size(errs) == 0) {
		json_decref(errs);
		return true;
	}
	sim_error_fields(q, 422, "INVALID_POINT", json_get_str(json_array_get(errs, 0), "message"),
	                 errs);
	return false;
}

/* Lay the record's fields over point p; returns the fields that changed (new array). */
static json_t *apply_fields(json_t *p, const json_t *b)
{
	json_t *diffs = json_array();
	static const char *const fields[] = {"name", "address", "district", "street",
	                                     "type", "centre",  "status"};
	for (size_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++) {
		const char *nv = json_get_str(b, fields[k]), *ov = json_get_str(p, fields[k]);
		if (!nv || (ov && !strcmp(nv, ov)))
			continue;
		json_array_append_new(
		    diffs, json_pack("{s:s,s:s?,s:s}", "field", fields[k], "old", ov, "new", nv));
		json_object_set_new(p, fields[k], json_string(nv));
	}
	static const char *const nums[] = {"lng", "lat"};
	for (size_t k = 0; k < 2; k++) {
		const json_t *nv = json_object_get(b, nums[k]), *ov = json_object_get(p, nums[k]);
		double v = round(json_number_value(nv) * 1e6) / 1e6;
		if (!json_is_number(nv) || (json_is_number(ov) && json_number_value(ov) == v))
			continue;
		json_array_append_new(diffs, json_pack("{s:s,s:O,s:f}", "field", nums[k], "old",
		                                       ov ? ov : json_null(), "new", v));
		json_object_set_new(p, nums[k], json_real(v));
	}
	int t = type_index(json_get_str(p, "type"));
	if (t >= 0)
		json_object_set_new(p, "type_name", json_string(point_types[t].title));
	int d = district_index(json_get_str(p, "district"));
	if (d >= 0)
		json_object_set_new(p, "district_name",
		                    json_string(sim_district_name(centres[d].code)));
	return diffs;
}

/* Append a change to the log (lock held; fields stolen, may be NULL). */
static void log_change(struct sim_req *q, const char *op, const json_t *p, json_t *fields)
{
	json_t *log = map_bucket(q->sim, "log", true);
	json_t *m = json_object_get(q->sim->state, "map");
	int64_t seq = json_get_int(m, "seq", 0) + 1;
	json_object_set_new(m, "seq", json_integer(seq));
	int y, mo, d;
	sim_today(q->now_ms, &y, &mo, &d);
	json_array_append_new(
	    log,
	    json_pack("{s:I,s:s,s:s,s:I,s:s,s:s,s:s?,s:s,s:s,s:o}", "seq", (json_int_t)seq, "date",
	              arena_printf(q->a, "%04d-%02d-%02d", y, mo, d), "at", sim_iso(q, q->now_ms),
	              "at_ms", (json_int_t)q->now_ms, "op", op, "point_id",
	              json_get_str(p, "point_id"), "source_code", json_get_str(p, "source_code"),
	              "district", json_get_str(p, "district"), "name", json_get_str(p, "name"),
	              "fields", fields ? fields : json_array()));
	while (json_array_size(log) > MAP_LOG_MAX)
		json_array_remove(log, 0);
}

/* POST /map/points {source_code, name, address, district, street?, lng, lat, type, centre?}
 * → 201 the new point with op "create"; a source_code the map already holds → 200 that point
 * as it is, duplicate: true, op "none" (the caller updates it when its fields differ). */
static void point_create(struct sim_req *q)
{
	if (!point_valid(q, q->body, true))
		return;
	const char *sc = json_get_str(q->body, "source_code");
	const char *district = json_get_str(q->body, "district");
	pthread_mutex_lock(&q->sim->lock);
	json_t *points = map_bucket(q->sim, "points", false);
	json_t *codes = map_bucket(q->sim, "codes", false);
	const char *have = json_get_str(codes, sc);
	json_t *out;
	int status = 200;
	if (have && json_object_get(points, have)) {
		out = json_deep_copy(json_object_get(points, have));
		json_object_set_new(out, "duplicate", json_true());
		json_object_set_new(out, "op", json_string("none"));
	} else {
		json_t *next = map_bucket(q->sim, "next", false);
		int64_t n = json_get_int(next, district, 100) + 1;
		json_object_set_new(next, district, json_integer(n));
		char id[32];
		snprintf(id, sizeof(id), "YSD%s%03lld", district, (long long)n);
		json_t *p = json_pack("{s:s,s:s,s:s,s:s,s:[],s:s,s:s,s:I}", "point_id", id,
		                      "source_code", sc, "status", "active", "street", "",
		                      "devices", "created_at", sim_iso(q, q->now_ms), "updated_at",
		                      sim_iso(q, q->now_ms), "version", (json_int_t)1);
		json_decref(apply_fields(p, q->body));
		json_object_set_new(p, "status", json_string("active"));
		json_object_set(points, id, p);
		json_object_set_new(codes, sc, json_string(id));
		log_change(q, "create", p, NULL);
		out = json_deep_copy(p);
		json_decref(p);
		json_object_set_new(out, "duplicate", json_false());
		json_object_set_new(out, "op", json_string("create"));
		status = 201;
	}
	pthread_mutex_unlock(&q->sim->lock);
	sim_reply(q, status, out);
}

/* The point to edit (new reference): a stored one, else a generated one; NULL after
 * answering 404. */
static json_t *point_for_edit(struct sim_req *q, const char *id)
{
	json_t *all = all_points(q), *p, *found = NULL;
	size_t i;
	json_array_foreach (all, i, p) {
		if (!strcmp(json_get_str(p, "point_id"), id)) {
			found = json_incref(p);
			break;
		}
	}
	json_decref(all);
	pthread_mutex_lock(&q->sim->lock);
	json_t *stored = json_object_get(map_bucket(q->sim, "points", false), id);
	if (stored) {
		json_decref(found);
		found = json_deep_copy(stored);
	}
	pthread_mutex_unlock(&q->sim->lock);
	if (!found)
		sim_error(q, 404, "POINT_NOT_FOUND", "政务地图中没有该延伸点：%s", id);
	return found;
}

/* Store the edited point p (stolen) and log the change when fields is not empty (stolen);
 * answers the point with op. */
static void point_store(struct sim_req *q, json_t *p, json_t *fields, const char *op)
{
	const char *id = json_get_str(p, "point_id");
	bool changed = json_array_size(fields) > 0;
	pthread_mutex_lock(&q->sim->lock);
	json_t *points = map_bucket(q->sim, "points", false);
	json_t *cur = json_object_get(points, id);
	/* a concurrent edit went first: lay this one over it instead of losing it */
	if (changed && cur && json_get_int(cur, "version", 1) != json_get_int(p, "version", 1)) {
		json_t *again = json_deep_copy(cur);
		json_decref(apply_fields(again, p));
		json_decref(p);
		p = again;
	}
	if (changed) {
		json_object_set_new(p, "version", json_integer(json_get_int(p, "version", 1) + 1));
		json_object_set_new(p, "updated_at", json_string(sim_iso(q, q->now_ms)));
		json_object_set(points, id, p);
		log_change(q, op, p, json_incref(fields));
	}
	pthread_mutex_unlock(&q->sim->lock);
	json_t *out = json_deep_copy(p);
	json_object_set_new(out, "op", json_string(changed ? op : "none"));
	json_object_set_new(out, "fields", fields);
	json_decref(p);
	sim_reply(q, 200, out);
}

/* PUT /map/points/{point_id} {name, address, district, street?, lng, lat, type, centre?,
 * status?}: → 200 the point with op "update" (fields: what changed) or "none" (nothing did). */
static void point_update(struct sim_req *q)
{
	if (!point_valid(q, q->body, false))
		return;
	json_t *p = point_for_edit(q, req_param(q->r, "point_id"));
	if (!p)
		return;
	json_t *fields = apply_fields(p, q->body);
	point_store(q, p, fields, "update");
}

/* DELETE /map/points/{point_id}: the point goes inactive (the map keeps it) → 200 with op
 * "deactivate", or "none" when it already was. */
static void point_deactivate(struct sim_req *q)
{
	json_t *p = point_for_edit(q, req_param(q->r, "point_id"));
	if (!p)
		return;
	json_t *body = json_pack("{s:s}", "status", "inactive");
	json_t *fields = apply_fields(p, body);
	json_decref(body);
	point_store(q, p, fields, "deactivate");
}

/* GET /map/changes?date=YYYY-MM-DD&district=: the change log of one day (China Standard
 * Time; default today), oldest first. */
static void changes(struct sim_req *q)
{
	const char *date = sim_param(q, "date"), *district = sim_param(q, "district");
	char today[16];
	int y, m, d;
	sim_today(q->now_ms, &y, &m, &d);
	snprintf(today, sizeof(today), "%04d-%02d-%02d", y, m, d);
	if (!date || !date[0])
		date = today;
	else if (strlen(date) != 10 || date[4] != '-' || date[7] != '-') {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_DATE", "message",
		                    "日期应为 YYYY-MM-DD", "field", "date"));
		return;
	}
	json_t *out = json_array();
	pthread_mutex_lock(&q->sim->lock);
	size_t i;
	json_t *c;
	json_array_foreach (map_bucket(q->sim, "log", true), i, c) {
		if (strcmp(json_get_str(c, "date"), date))
			continue;
		if (district && district[0] && strcmp(district, json_get_str(c, "district")))
			continue;
		json_array_append_new(out, json_deep_copy(c));
	}
	pthread_mutex_unlock(&q->sim->lock);
	sim_reply(q, 200,
	          json_pack("{s:s,s:s?,s:i,s:o}", "date", date, "district",
	                    district && district[0] ? district : NULL, "total",
	                    (int)json_array_size(out), "changes", out));
}

static void points(struct sim_req *q)
{
	const char *district = req_query(q->r, "district"), *type = req_query(q->r, "type");
	const char *street = req_query(q->r, "street");
	json_t *all = map_points(q), *out = json_array();
	size_t i;
	json_t *p;
	json_array_foreach (all, i, p) {
		if (district && district[0] && strcmp(district, json_get_str(p, "district")) &&
		    strcmp(district, json_get_str(p, "district_name")))
			continue;
		if (type && type[0] && strcmp(type, json_get_str(p, "type")))
			continue;
		if (street && street[0] && strcmp(street, json_get_str(p, "street")))
			continue;
		json_array_append(out, p);
	}
	json_decref(all);
	sim_reply(q, 200,
	          json_pack("{s:i,s:o}", "total", (int)json_array_size(out), "points", out));
}

static void point_get(struct sim_req *q)
{
	const char *id = req_param(q->r, "point_id");
	json_t *all = map_points(q);
	size_t i;
	json_t *p;
	json_array_foreach (all, i, p) {
		if (!strcmp(json_get_str(p, "point_id"), id)) {
			sim_reply(q, 200, json_incref(p));
			json_decref(all);
			return;
		}
	}
	json_decref(all);
	sim_error(q, 404, "POINT_NOT_FOUND", "政务地图中没有该延伸点：%s", id);
}

/* POST /map/reconcile {"district"?, "points": [{point_id, name, address?, lng?, lat?,
 * status?}]}: what the map has active that the list lacks (missing), what the list has that
 * the map does not (extra), and the fields that differ (changed; coordinates within ~50 m
 * agree); map_total counts the map's active points of the district. */
static void reconcile(struct sim_req *q)
{
	json_t *mine = json_object_get(q->body, "points");
	if (!json_is_array(mine)) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "MISSING_FIELD", "message",
		                    "缺少延伸点清单（points 数组）", "field", "points"));
		return;
	}
	const char *district = json_get_str(q->body, "district");
	json_t *all = json_arena_own(q->a, map_points(q));
	json_t *map = json_arena_own(q->a, json_object());
	size_t i;
	json_t *p;
	int map_total = 0;
	json_array_foreach (all, i, p) {
		if (!district || !strcmp(district, json_get_str(p, "district"))) {
			json_object_set(map, json_get_str(p, "point_id"), p);
			map_total += !strcmp(json_get_str(p, "status"), "active");
		}
	}
	json_t *missing = json_array(), *extra = json_array(), *changed = json_array();
	json_t *seen = json_arena_own(q->a, json_object());
	int matched = 0;
	json_array_foreach (mine, i, p) {
		const char *id = json_get_str(p, "point_id");
		if (!id) {
			json_decref(missing);
			json_decref(extra);
			json_decref(changed);
			sim_reply(q, 422,
			          json_pack("{s:s,s:s,s:s}", "code", "MISSING_FIELD", "message",
			                    "延伸点缺少 point_id", "field",
			                    arena_printf(q->a, "points[%zu].point_id", i)));
			return;
		}
		json_object_set_new(seen, id, json_true());
		json_t *m = json_object_get(map, id);
		if (!m) {
			json_array_append_new(extra, json_string(id));
			continue;
		}
		json_t *diffs = json_array();
		static const char *const textf[] = {"name", "address", "status", "type"};
		for (size_t k = 0; k < 4; k++) {
			const char *a = json_get_str(p, textf[k]), *b = json_get_str(m, textf[k]);
			if (a && b && strcmp(a, b))
				json_array_append_new(diffs,
				                      json_pack("{s:s,s:s,s:s}", "field", textf[k],
				                                "map", b, "local", a));
		}
		static const char *const numf[] = {"lng", "lat"};
		for (size_t k = 0; k < 2; k++) {
			json_t *a = json_object_get(p, numf[k]), *b = json_object_get(m, numf[k]);
			if (json_is_number(a) &&
			    fabs(json_number_value(a) - json_number_value(b)) > 0.0005)
				json_array_append_new(diffs,
				                      json_pack("{s:s,s:O,s:O}", "field", numf[k],
				                                "map", b, "local", a));
		}
		if (json_array_size(diffs))
			json_array_append_new(
			    changed, json_pack("{s:s,s:o}", "point_id", id, "fields", diffs));
		else {
			json_decref(diffs);
			matched++;
		}
	}
	const char *k;
	json_object_foreach (map, k, p) {
		if (!json_object_get(seen, k) && !strcmp(json_get_str(p, "status"), "active"))
			json_array_append_new(missing, json_string(k));
	}
	sim_reply(q, 200,
	          json_pack("{s:i,s:i,s:o,s:o,s:o,s:s}", "matched", matched, "map_total", map_total,
	                    "missing", missing, "extra", extra, "changed", changed, "reconciled_at",
	                    sim_iso(q, q->now_ms)));
}

static const struct sim_endpoint map_endpoints[] = {
    {"GET", "/points", points, 0, "延伸点列表"},
    {"GET", "/points/{point_id}", point_get, 0, "延伸点详情"},
    {"POST", "/points", point_create, 0, "新增延伸点"},
    {"PUT", "/points/{point_id}", point_update, 0, "更新延伸点"},
    {"DELETE", "/points/{point_id}", point_deactivate, 0, "停用延伸点"},
    {"GET", "/changes", changes, 0, "当日变更日志"},
    {"POST", "/reconcile", reconcile, 0, "延伸点对账"},
};

const struct sim_system sim_system_map = {
    "map", "政务地图", map_endpoints, sizeof(map_endpoints) / sizeof(map_endpoints[0]), NULL, NULL,
};

/* ---- video ---- */

#define ROOM_TTL_MS (2 * 3600 * 1000)

static char *room_key(struct sim_req *q, const char *id)
{
	return arena_printf(q->a, "video:room:%s", id);
}

static void room_create(struct sim_req *q)
{
	const char *purpose = json_get_str(q->body, "purpose");
	const char *case_no = json_get_str(q->body, "case_no");
	char no[32];
	sim_next_no(q->sim, "VR", q->now_ms, no);
	json_t *room = json_pack("{s:s,s:s,s:s?,s:s,s:s,s:s,s:[]}", "room_id", no, "purpose",
	                         purpose ? purpose : "远程受理", "case_no", case_no, "status",
	                         "open", "created_at", sim_iso(q, q->now_ms), "expires_at",
	                         sim_iso(q, q->now_ms + ROOM_TTL_MS), "participants");
	sim_state_set(q->sim, room_key(q, no), json_deep_copy(room));
	sim_reply(q, 200, room);
}

static json_t *room_of(struct sim_req *q)
{
	const char *id = req_param(q->r, "room_id");
	json_t *room = sim_state_get(q->sim, room_key(q, id));
	if (!room)
		sim_error(q, 404, "ROOM_NOT_FOUND", "会议室不存在：%s", id);
	return room;
}

static void room_get(struct sim_req *q)
{
	json_t *room = room_of(q);
	if (room)
		sim_reply(q, 200, room);
}

static void room_token(struct sim_req *q)
{
	static const char *const roles[] = {"clerk", "resident", "supervisor", "observer", NULL};
	const char *user = sim_need_str(q, q->body, "user", "参会人");
	if (!user)
		return;
	const char *role = json_get_str(q->body, "role");
	bool ok = !role;
	for (int i = 0; role && roles[i]; i++)
		ok |= !strcmp(role, roles[i]);
	if (!ok) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_ROLE", "message",
		                    "角色应为 clerk、resident、supervisor 或 observer", "field",
		                    "role"));
		return;
	}
	json_t *room = room_of(q);
	if (!room)
		return;
	if (strcmp(json_get_str(room, "status"), "open")) {
		json_decref(room);
		sim_error(q, 409, "ROOM_CLOSED", "会议室已关闭");
		return;
	}
	char tok[49];
	if (id_random_hex(tok, 24) != ERR_OK) {
		json_decref(room);
		return;
	}
	json_array_append_new(json_object_get(room, "participants"),
	                      json_pack("{s:s,s:s,s:s}", "user", user, "role",
	                                role ? role : "resident", "joined_at",
	                                sim_iso(q, q->now_ms)));
	sim_state_set(q->sim, room_key(q, req_param(q->r, "room_id")), room);
	sim_reply(q, 200,
	          json_pack("{s:s,s:i,s:s,s:s}", "token", tok, "expires_in", 3600, "room_id",
	                    req_param(q->r, "room_id"), "role", role ? role : "resident"));
}

static void room_close(struct sim_req *q)
{
	json_t *room = room_of(q);
	if (!room)
		return;
	json_object_set_new(room, "status", json_string("closed"));
	json_object_set_new(room, "closed_at", json_string(sim_iso(q, q->now_ms)));
	sim_state_set(q->sim, room_key(q, req_param(q->r, "room_id")), json_deep_copy(room));
	sim_reply(
	    q, 200,
	    json_pack("{s:s,s:s}", "room_id", req_param(q->r, "room_id"), "status", "closed"));
	json_decref(room);
}

static const struct sim_endpoint video_endpoints[] = {
    {"POST", "/rooms", room_create, 0, "创建会议室"},
    {"GET", "/rooms/{room_id}", room_get, 0, "会议室详情"},
    {"POST", "/rooms/{room_id}/tokens", room_token, 0, "参会令牌"},
    {"DELETE", "/rooms/{room_id}", room_close, 0, "关闭会议室"},
};

const struct sim_system sim_system_video = {
    "video", "视频服务", video_endpoints, sizeof(video_endpoints) / sizeof(video_endpoints[0]),
    NULL,    NULL,
};
