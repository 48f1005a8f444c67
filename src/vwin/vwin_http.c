/* vwin_http.c: the routes of places and terminals (docs/vwin.md), the module's jobs
 * (vwin.terminal_heartbeat, map.sync_points) and the demo points. Thin: the rules are in
 * vwin.c, vwin_points.c, vwin_terminals.c and vwin_map.c. */
#include <string.h>

#include "auth/auth.h"
#include "core/json.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "sched/sched.h"
#include "server/server.h"
#include "vwin/vwin_int.h"

static struct vwin_caller caller_of(const struct req *r)
{
	return (struct vwin_caller){
	    .who = r->who, .client_ip = r->client_ip, .trace_id = r->trace.trace_id};
}

/* The handlers of calls of the same shape differ only in the function: one runner each. */
typedef enum err (*list_fn)(struct server *srv, const struct vwin_caller *by, struct arena *a,
                            json_t **out);
typedef enum err (*save_fn)(struct server *srv, const struct vwin_caller *by, struct arena *a,
                            const char *code, const json_t *body, json_t **out, struct errinfo *ei);
typedef enum err (*body_fn)(struct server *srv, const struct vwin_caller *by, struct arena *a,
                            const json_t *body, json_t **out, struct errinfo *ei);

static enum err run_list(struct req *r, struct resp *w, list_fn fn)
{
	struct vwin_caller by = caller_of(r);
	struct errinfo ei = {0};
	json_t *out = NULL;
	enum err e = fn(r->srv, &by, r->arena, &out);
	return resp_result(r, w, e, &ei, out, 200);
}

/* POST creates (201), PATCH .../{code} edits (200). */
static enum err run_save(struct req *r, struct resp *w, save_fn fn)
{
	struct vwin_caller by = caller_of(r);
	struct errinfo ei = {0};
	json_t *out = NULL;
	const char *code = req_param(r, "code");
	enum err e = fn(r->srv, &by, r->arena, code, r->json, &out, &ei);
	return resp_result(r, w, e, &ei, out, code ? 200 : 201);
}

static enum err run_body(struct req *r, struct resp *w, body_fn fn, int status)
{
	struct vwin_caller by = caller_of(r);
	struct errinfo ei = {0};
	json_t *out = NULL;
	enum err e = fn(r->srv, &by, r->arena, r->json, &out, &ei);
	return resp_result(r, w, e, &ei, out, status);
}

/* ---- admin ---- */

static enum err h_points(struct req *r, struct resp *w)
{
	return run_list(r, w, vwin_points_list);
}

static enum err h_point_save(struct req *r, struct resp *w)
{
	return run_save(r, w, vwin_point_save);
}

static enum err h_terminal_save(struct req *r, struct resp *w)
{
	return run_save(r, w, vwin_terminal_save);
}

static enum err h_enrol_code(struct req *r, struct resp *w)
{
	struct vwin_caller by = caller_of(r);
	struct errinfo ei = {0};
	json_t *out = NULL;
	enum err e = vwin_enrol_code(r->srv, &by, r->arena, req_param(r, "code"), &out, &ei);
	return resp_result(r, w, e, &ei, out, 201);
}

static enum err h_terminals(struct req *r, struct resp *w)
{
	return run_list(r, w, vwin_terminals_list);
}

static enum err h_map_runs(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	json_t *out = NULL;
	enum err e = vwin_map_runs(r->srv, r->arena, &out);
	return resp_result(r, w, e, &ei, out, 200);
}

static enum err h_map_problems(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	json_t *out = NULL;
	int64_t run = 0;
	const char *state = req_query(r, "state");
	if (req_query_int(r, "run_id", 1, INT64_MAX, 0, &run))
		return ERR_BAD_FIELD;
	if (state && strcmp(state, "open") && strcmp(state, "closed"))
		return req_fail(r, ERR_BAD_FIELD, "state", "state 应为 open 或 closed");
	enum err e = vwin_map_problems(r->srv, r->arena, run, state, &out);
	return resp_result(r, w, e, &ei, out, 200);
}

static enum err h_map_close(struct req *r, struct resp *w)
{
	struct vwin_caller by = caller_of(r);
	struct errinfo ei = {0};
	json_t *out = NULL;
	int64_t id;
	if (!cstr_to_i64(req_param(r, "id"), 1, INT64_MAX, &id))
		return req_fail(r, ERR_NOT_FOUND, NULL, "问题编号不正确");
	enum err e = vwin_map_problem_close(r->srv, &by, r->arena, id,
	                                    json_get_str(r->json, "note"), &out, &ei);
	return resp_result(r, w, e, &ei, out, 200);
}

/* ---- the terminal's own routes ---- */

static enum err h_enrol(struct req *r, struct resp *w)
{
	return run_body(r, w, vwin_enrol, 201);
}

static enum err h_session(struct req *r, struct resp *w)
{
	struct vwin_caller by = caller_of(r);
	struct errinfo ei = {0};
	json_t *out = NULL;
	const char *cookie = NULL;
	enum err e = vwin_device_session(r->srv, &by, r->arena, r->json, &out, &cookie, &ei);
	if (!e)
		resp_header(w, "Set-Cookie", cookie);
	return resp_result(r, w, e, &ei, out, 201);
}

static enum err h_self_check(struct req *r, struct resp *w)
{
	return run_body(r, w, vwin_self_check, 200);
}

static enum err h_heartbeat(struct req *r, struct resp *w)
{
	return run_body(r, w, vwin_heartbeat, 200);
}

/* ---- schemas ---- */

static const struct json_field point_create[] = {
    {"code", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 3, 32, "点位编号"},
    {"name", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 2, 60, "点位名称"},
    {"kind", JF_STRING, JF_REQUIRED, 1, 20, "点位类型"},
    {"centre", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 50, "负责的受理中心"},
    {"address", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 2, 200, "地址"},
    {"lng", JF_NUMBER, JF_REQUIRED, 0, 0, "经度"},
    {"lat", JF_NUMBER, JF_REQUIRED, 0, 0, "纬度"},
    {"radius_m", JF_INT, JF_NULLABLE, VWIN_RADIUS_MIN, VWIN_RADIUS_MAX, "服务范围半径"},
    {"hours", JF_ARRAY, JF_NULLABLE, 0, VWIN_HOURS_MAX, "服务时段"},
    {"tags", JF_ARRAY, JF_NULLABLE, 0, VWIN_TAGS_MAX, "标签"},
    {"active", JF_BOOL, JF_NULLABLE, 0, 0, "启用"},
    {"map_id", JF_STRING, JF_NULLABLE, 1, 64, "政务地图编号"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field point_patch[] = {
    {"version", JF_INT, JF_REQUIRED, 1, INT64_MAX, "版本号"},
    {"name", JF_STRING, JF_NULLABLE | JF_NONEMPTY, 2, 60, "点位名称"},
    {"kind", JF_STRING, JF_NULLABLE, 1, 20, "点位类型"},
    {"centre", JF_STRING, JF_NULLABLE | JF_NONEMPTY, 1, 50, "负责的受理中心"},
    {"address", JF_STRING, JF_NULLABLE | JF_NONEMPTY, 2, 200, "地址"},
    {"lng", JF_NUMBER, JF_NULLABLE, 0, 0, "经度"},
    {"lat", JF_NUMBER, JF_NULLABLE, 0, 0, "纬度"},
    {"radius_m", JF_INT, JF_NULLABLE, VWIN_RADIUS_MIN, VWIN_RADIUS_MAX, "服务范围半径"},
    {"hours", JF_ARRAY, JF_NULLABLE, 0, VWIN_HOURS_MAX, "服务时段"},
    {"tags", JF_ARRAY, JF_NULLABLE, 0, VWIN_TAGS_MAX, "标签"},
    {"active", JF_BOOL, JF_NULLABLE, 0, 0, "启用"},
    {"map_id", JF_STRING, JF_NULLABLE, 1, 64, "政务地图编号"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field terminal_create[] = {
    {"code", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 3, 30, "终端编号"},
    {"name", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 2, 60, "终端名称"},
    {"kind", JF_STRING, JF_REQUIRED, 1, 10, "终端类型"},
    {"point", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 3, 32, "所属点位"},
    {"peripherals", JF_ARRAY, JF_NULLABLE, 0, 6, "外设清单"},
    {"active", JF_BOOL, JF_NULLABLE, 0, 0, "启用"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field terminal_patch[] = {
    {"version", JF_INT, JF_REQUIRED, 1, INT64_MAX, "版本号"},
    {"name", JF_STRING, JF_NULLABLE | JF_NONEMPTY, 2, 60, "终端名称"},
    {"kind", JF_STRING, JF_NULLABLE, 1, 10, "终端类型"},
    {"point", JF_STRING, JF_NULLABLE | JF_NONEMPTY, 3, 32, "所属点位"},
    {"peripherals", JF_ARRAY, JF_NULLABLE, 0, 6, "外设清单"},
    {"active", JF_BOOL, JF_NULLABLE, 0, 0, "启用"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field empty_body[] = {{NULL, 0, 0, 0, 0, NULL}};
static const struct json_field close_body[] = {
    {"note", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 2, 1000, "处理说明"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field enrol_body[] = {
    {"code", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 3, 30, "终端编号"},
    {"enrol_code", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 8, 8, "注册码"},
    {"device", JF_OBJECT, JF_NULLABLE, 0, 0, "设备信息"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field session_body[] = {
    {"code", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 3, 30, "终端编号"},
    {"secret", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 64, 64, "设备密钥"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field self_check_body[] = {
    {"checks", JF_ARRAY, JF_REQUIRED, 0, 20, "自检结果"},
    {"location", JF_OBJECT, JF_NULLABLE, 0, 0, "定位"},
    {"agent_version", JF_STRING, JF_NULLABLE, 1, 40, "设备代理版本"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field heartbeat_body[] = {
    {"location", JF_OBJECT, JF_NULLABLE, 0, 0, "定位"},
    {"in_session", JF_STRING, JF_NULLABLE, 1, 64, "当前会话"},
    {NULL, 0, 0, 0, 0, NULL},
};

#define ADMIN "/api/v1/admin/vwin"

static const struct route routes[] = {
    {"GET", ADMIN "/points", h_points, "vwin.manage", 0, NULL},
    {"POST", ADMIN "/points", h_point_save, "vwin.manage", 0, point_create},
    {"PATCH", ADMIN "/points/{code}", h_point_save, "vwin.manage", 0, point_patch},
    {"GET", ADMIN "/terminals", h_terminals, "vwin.manage", 0, NULL},
    {"POST", ADMIN "/terminals", h_terminal_save, "vwin.manage", 0, terminal_create},
    {"PATCH", ADMIN "/terminals/{code}", h_terminal_save, "vwin.manage", 0, terminal_patch},
    {"POST", ADMIN "/terminals/{code}/enrol-code", h_enrol_code, "vwin.manage", 0, empty_body},
    {"GET", ADMIN "/map/runs", h_map_runs, "vwin.manage", 0, NULL},
    {"GET", ADMIN "/map/problems", h_map_problems, "vwin.manage", 0, NULL},
    {"POST", ADMIN "/map/problems/{id}/close", h_map_close, "vwin.manage", 0, close_body},
    {"GET", "/api/v1/vwin/terminals", h_terminals, NULL, 0, NULL},
    {"POST", "/api/v1/terminal/enrol", h_enrol, NULL, ROUTE_PUBLIC | ROUTE_NO_CSRF, enrol_body},
    {"POST", "/api/v1/terminal/session", h_session, NULL, ROUTE_PUBLIC | ROUTE_NO_CSRF,
     session_body},
    {"POST", "/api/v1/terminal/self-check", h_self_check, "terminal.use", 0, self_check_body},
    {"POST", "/api/v1/terminal/heartbeat", h_heartbeat, "terminal.use", 0, heartbeat_body},
};

/* ---- jobs ---- */

static enum err heartbeat_job(struct server *srv, const struct sched_run_ctx *ctx, char *msg,
                              size_t msgsz)
{
	int64_t n = 0;
	(void)ctx;
	enum err e = vwin_heartbeat_sweep(srv, time_now_ms(), &n);
	if (!e)
		snprintf(msg, msgsz, "终端状态变化 %lld 个", (long long)n);
	return e;
}

static enum err map_job(struct server *srv, const struct sched_run_ctx *ctx, char *msg,
                        size_t msgsz)
{
	struct arena a;
	arena_init(&a, 0);
	enum err e = vwin_map_sync(srv, ctx->manual, &a, NULL, msg, msgsz);
	arena_release(&a);
	return e;
}

enum err vwin_jobs_register(struct server *srv)
{
	enum err e = sched_register(srv, "vwin.terminal_heartbeat", heartbeat_job,
	                            &(struct sched_defaults){"* * * * *", 50, 0, "vwin",
	                                                     "终端心跳检查（离线告警、挂起服务）"});
	if (e && e != ERR_EXISTS)
		return e;
	e = sched_register(
	    srv, "map.sync_points", map_job,
	    &(struct sched_defaults){"0 2 * * *", 600, 3, "vwin", "延伸点同步政务地图并对账"});
	return e == ERR_EXISTS ? ERR_OK : e;
}

/* ---- demo data ---- */

static enum err seed_unit(struct db_conn *c, void *ctx)
{
	struct server *srv = ctx;
	struct arena a;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	arena_init(&a, 0);
	enum err e = db_exec(c, &a, &rs, "SELECT COUNT(*) FROM vwin_points", "");
	if (e || db_int(rs, 0, 0) > 0)
		goto out;
	if ((e = db_exec(c, &a, &rs,
	                 "SELECT id, code, name, address FROM orgs WHERE level = 'centre' AND code"
	                 " LIKE '%C1' ORDER BY code",
	                 "")))
		goto out;
	for (int r = 0; !e && r < rs->nrows; r++) {
		int64_t org = db_int(rs, r, 0);
		const char *oc = db_text(rs, r, 1);
		/* near the district's centre; the government map's own ids come with a sync */
		double lng = !strncmp(oc, "310115", 6) ? 121.544 : 121.437;
		double lat = !strncmp(oc, "310115", 6) ? 31.221 : 31.188;
		static const struct {
			const char *suffix, *kind, *name, *tkind;
			int radius;
		} pts[] = {{"YS1", "extension", "居民区延伸服务点", "kiosk", 200},
		           {"SM1", "home", "上门办服务区", "pad", 3000}};
		for (int k = 0; !e && k < 2; k++) {
			struct db_rows *ins = NULL;
			const char *code = arena_printf(&a, "P-%s-%s", oc + 6, pts[k].suffix);
			const char *tcode = arena_printf(&a, "T-%.6s-%s", oc + 6, pts[k].suffix);
			const char *pname =
			    arena_printf(&a, "%s%s", db_text(rs, r, 2), pts[k].name);
			if ((e = db_exec(
			         c, &a, &ins,
			         "INSERT INTO vwin_points (code, name, kind, org_id, address, lng,"
			         " lat, radius_m, hours, tags, created_at, updated_at) VALUES (?,"
			         " ?, ?, ?, ?, ?, ?, ?, ?, '[]', ?, ?) RETURNING id",
			         "sssisddisii", code, pname, pts[k].kind, org,
			         db_text(rs, r, 3) ? db_text(rs, r, 3) : pname, lng, lat,
			         (int64_t)pts[k].radius, VWIN_DEFAULT_HOURS, now, now)))
				break;
			int64_t pid = db_int(ins, 0, 0), uid = 0;
			char user[48];
			snprintf(user, sizeof(user), VWIN_USER_PREFIX "%s", tcode);
			for (char *p = user; *p; p++)
				if (*p >= 'A' && *p <= 'Z')
					*p = (char)(*p - 'A' + 'a');
			if ((e = auth_service_user_create(srv, c, &a, user,
			                                  arena_printf(&a, "%s终端", pname), org,
			                                  "terminal", &uid)))
				break;
			e = db_exec(
			    c, &a, NULL,
			    "INSERT INTO vwin_terminals (code, name, kind, point_id, user_id,"
			    " peripherals, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			    "sssiisii", tcode, arena_printf(&a, "%s终端", pname), pts[k].tkind, pid,
			    uid,
			    "[\"card_reader\",\"printer\",\"scanner\",\"qr\",\"camera\","
			    "\"microphone\"]",
			    now, now);
		}
	}
out:
	arena_release(&a);
	return e;
}

enum err vwin_seed_demo(struct server *srv, FILE *report)
{
	enum err e = db_write_unit(srv->db, seed_unit, srv, VWIN_DB_WAIT_MS);
	if (!e && report)
		fprintf(report, "远程虚拟窗口：演示中心各建 1 个延伸点和 1 个上门办点位及终端\n");
	return e;
}

static enum err module_init(struct server *srv)
{
	return vwin_jobs_register(srv);
}

const struct module vwin_module = {"vwin", module_init, NULL, routes,
                                   sizeof(routes) / sizeof(routes[0])};
