/* sim_map_video.c: 政务地图 (the extension points 延伸点 of the virtual windows, and the
 * reconciliation of Shouli's list with the map's) and the video provider (rooms and join
 * tokens for the remote virtual window). */
#include "sim/sim_int.h"

#include <math.h>

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

static void points(struct sim_req *q)
{
	const char *district = req_query(q->r, "district"), *type = req_query(q->r, "type");
	const char *street = req_query(q->r, "street");
	json_t *all = all_points(q), *out = json_array();
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
	json_t *all = all_points(q);
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
 * status?}]}: what the map has that the list lacks (missing), what the list has that the map
 * does not (extra), and the fields that differ (changed; coordinates within ~50 m agree). */
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
	json_t *all = json_arena_own(q->a, all_points(q));
	json_t *map = json_arena_own(q->a, json_object());
	size_t i;
	json_t *p;
	json_array_foreach (all, i, p) {
		if (!district || !strcmp(district, json_get_str(p, "district")))
			json_object_set(map, json_get_str(p, "point_id"), p);
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
		if (!json_object_get(seen, k))
			json_array_append_new(missing, json_string(k));
	}
	sim_reply(q, 200,
	          json_pack("{s:i,s:o,s:o,s:o,s:s}", "matched", matched, "missing", missing,
	                    "extra", extra, "changed", changed, "reconciled_at",
	                    sim_iso(q, q->now_ms)));
}

static const struct sim_endpoint map_endpoints[] = {
    {"GET", "/points", points, 0, "延伸点列表"},
    {"GET", "/points/{point_id}", point_get, 0, "延伸点详情"},
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
