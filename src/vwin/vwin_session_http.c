/* vwin_session_http.c: the routes of video sessions (docs/vwin.md "Sessions") and the
 * module. The clerk's side is under /api/v1/vwin/sessions (permission queue.call), the
 * terminal's under /api/v1/terminal/sessions (terminal.use, the device session); handlers
 * only translate, the rules are in vwin_session.c. */
#include <string.h>

#include "core/json.h"
#include "core/str.h"
#include "http/http.h"
#include "server/server.h"
#include "vwin/vwin_session_int.h"

/* The side from the route's prefix, and the session id. */
static enum err actor_of(struct req *r, struct vwin_actor *by, int64_t *id)
{
	by->who = r->who;
	by->side = !strncmp(r->path, "/api/v1/terminal/", 17) ? VWIN_TERMINAL : VWIN_CLERK;
	by->client_ip = r->client_ip;
	by->trace_id = r->trace.trace_id;
	if (!cstr_to_i64(req_param(r, "id"), 1, INT64_MAX, id))
		return req_fail(r, ERR_NOT_FOUND, "id", "视频会话不存在");
	return ERR_OK;
}

/* POST …/sessions/{id}/case: {case_no} links a case opened elsewhere; {sub_item_code,
 * resident_id, mode, allow_duplicate?} opens it in the call (entry "virtual"); a duplicate
 * answers the open case numbers next to the error, as POST /api/v1/cases does. */
static enum err h_case(struct req *r, struct resp *w, const struct vwin_actor *by, int64_t id)
{
	const char *no = json_get_str(r->json, "case_no");
	const char *sub = json_get_str(r->json, "sub_item_code");
	struct errinfo ei = {0};
	json_t *out = NULL, *dups = NULL;
	enum err e;
	if (no && sub)
		return req_fail(r, ERR_BAD_FIELD, "case_no",
		                "关联已有办件（case_no）与新开办件（sub_item_code）只能二选一");
	if (no)
		e = vwin_session_link_case(r->srv, by, r->arena, id, no, &out, &ei);
	else if (!sub)
		return req_fail(r, ERR_BAD_FIELD, "sub_item_code",
		                "请选择要受理的事项子项（sub_item_code），或填写已开立的办件编号");
	else if (json_get_int(r->json, "resident_id", 0) <= 0)
		return req_fail(r, ERR_BAD_FIELD, "resident_id", "请先识别居民身份（resident_id）");
	else {
		struct vwin_case_req in = {
		    .sub_item_code = sub,
		    .mode =
		        json_get_str(r->json, "mode") ? json_get_str(r->json, "mode") : "direct",
		    .resident_id = json_get_int(r->json, "resident_id", 0),
		    .allow_duplicate = json_get_bool(r->json, "allow_duplicate", false),
		};
		e = vwin_session_open_case(r->srv, by, r->arena, id, &in, &out, &dups, &ei);
		if (e == ERR_DUPLICATE)
			return resp_error_with(r, w, e, ei.field, ei.msg, "duplicates", dups);
		json_decref(dups);
		if (!e) {
			resp_json(w, 201, out);
			return ERR_OK;
		}
	}
	return resp_result(r, w, e, &ei, out, 200);
}

/* GET /api/v1/terminal/items?separated=1: the 收受分离 items a virtual window takes. */
static enum err h_items(struct req *r, struct resp *w)
{
	const char *sep = req_query(r, "separated");
	struct errinfo ei = {0};
	json_t *out = NULL;
	if (!sep || strcmp(sep, "1"))
		return req_fail(r, ERR_BAD_FIELD, "separated",
		                "目前只提供收受分离事项清单，请带上参数 separated=1");
	enum err e = vwin_separated_items(r->srv, r->arena, &out);
	return resp_result(r, w, e, &ei, out, 200);
}

/* Every session route: the actor, the session id (the ticket's for .../tickets/{id}/session)
 * and the command id where the route has one, then the call that the last segment of the
 * route's pattern names ("{id}": the session itself). One handler, so that the checks and
 * the answer are written once. */
static enum err h_session(struct req *r, struct resp *w)
{
	const char *op = strrchr(r->route->pattern, '/') + 1;
	const char *cid_s = req_param(r, "cid");
	struct vwin_actor by;
	struct errinfo ei = {0};
	int64_t id, cid = 0;
	json_t *out = NULL;
	enum err e;
	if (actor_of(r, &by, &id))
		return ERR_NOT_FOUND;
	if (cid_s && !cstr_to_i64(cid_s, 1, INT64_MAX, &cid))
		return req_fail(r, ERR_NOT_FOUND, "command", "指令不存在");
	if (!strcmp(op, "session"))
		e = vwin_session_of_ticket(r->srv, &by, r->arena, id, &out, &ei);
	else if (!strcmp(op, "join"))
		e = vwin_session_join(r->srv, &by, r->arena, id, &out, &ei);
	else if (!strcmp(op, "signal")) {
		e = vwin_session_signal(r->srv, &by, r->arena, id, json_get_str(r->json, "type"),
		                        json_object_get(r->json, "data"), &ei);
		out = e ? NULL : json_pack("{s:b}", "relayed", 1);
	} else if (!strcmp(op, "end"))
		e = vwin_session_end(r->srv, &by, r->arena, id, json_get_str(r->json, "reason"),
		                     &out, &ei);
	else if (!strcmp(op, "case"))
		return h_case(r, w, &by, id);
	else if (!strcmp(op, "commands"))
		e = vwin_session_command(r->srv, &by, r->arena, id, r->json, &out, &ei);
	else if (!strcmp(op, "result"))
		e = vwin_session_result(r->srv, &by, r->arena, id, cid, r->json, &out, &ei);
	else if (!strcmp(op, "photo"))
		e = vwin_session_photo(r, id, cid, &out); /* records its own failure on r */
	else if (!strcmp(op, "evidence"))
		e = vwin_session_evidence(r->srv, &by, r->arena, id, &out, &ei);
	else
		e = vwin_session_get(r->srv, &by, r->arena, id, &out, &ei);
	return resp_result(r, w, e, &ei, out, 200);
}

static const struct json_field empty_body[] = {
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field signal_body[] = {
    {"type", JF_STRING, JF_REQUIRED, 1, 16, "信令类型"},
    {"data", JF_ANY, JF_NULLABLE, 0, 0, "信令内容"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field end_body[] = {
    {"reason", JF_STRING, JF_NULLABLE, 1, 100, "结束原因"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field case_body[] = {
    {"case_no", JF_STRING, JF_NULLABLE | JF_NONEMPTY, 5, 64, "办件编号"},
    {"sub_item_code", JF_STRING, JF_NULLABLE | JF_NONEMPTY, 12, 50, "事项子项编码"},
    {"resident_id", JF_INT, JF_NULLABLE, 1, INT64_MAX, "居民"},
    {"mode", JF_STRING, JF_NULLABLE, 1, 20, "办理模式"},
    {"allow_duplicate", JF_BOOL, JF_NULLABLE, 0, 0, "仍然新建"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field command_body[] = {
    {"kind", JF_STRING, JF_REQUIRED, 1, 20, "指令类型"},
    {"role", JF_STRING, JF_NULLABLE | JF_NONEMPTY, 1, 32, "签名人角色"},
    {"point", JF_STRING, JF_NULLABLE | JF_NONEMPTY, 1, 64, "读卡环节"},
    {"mode", JF_STRING, JF_NULLABLE, 1, 10, "推送方式"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field result_body[] = {
    {"ok", JF_BOOL, JF_REQUIRED, 0, 0, "是否成功"},
    {"message", JF_STRING, JF_NULLABLE, 1, 200, "说明"},
    {"reader", JF_STRING, JF_NULLABLE, 1, 64, "读卡器编号"},
    {"type_flag", JF_STRING, JF_NULLABLE, 0, 8, "证件类型标志"},
    {"card", JF_OBJECT, JF_NULLABLE, 0, 0, "证件信息"},
    {NULL, 0, 0, 0, 0, NULL},
};

#define CLERK    "/api/v1/vwin/sessions/{id}"
#define TERMINAL "/api/v1/terminal/sessions/{id}"

static const struct route routes[] = {
    {"GET", CLERK, h_session, "queue.call", 0, NULL},
    {"GET", "/api/v1/vwin/tickets/{id}/session", h_session, "queue.call", 0, NULL},
    {"GET", "/api/v1/terminal/tickets/{id}/session", h_session, "terminal.use", 0, NULL},
    {"POST", CLERK "/join", h_session, "queue.call", 0, empty_body},
    {"POST", CLERK "/signal", h_session, "queue.call", 0, signal_body},
    {"POST", CLERK "/end", h_session, "queue.call", 0, end_body},
    {"POST", CLERK "/case", h_session, "queue.call", 0, case_body},
    {"POST", CLERK "/commands", h_session, "queue.call", ROUTE_SLOW, command_body},
    {"GET", CLERK "/evidence", h_session, "queue.call", 0, NULL},
    {"GET", TERMINAL, h_session, "terminal.use", 0, NULL},
    {"GET", "/api/v1/terminal/items", h_items, "terminal.use", 0, NULL},
    {"POST", TERMINAL "/join", h_session, "terminal.use", 0, empty_body},
    {"POST", TERMINAL "/signal", h_session, "terminal.use", 0, signal_body},
    {"POST", TERMINAL "/end", h_session, "terminal.use", 0, end_body},
    {"POST", TERMINAL "/commands/{cid}/result", h_session, "terminal.use", ROUTE_SLOW, result_body},
    {"POST", TERMINAL "/commands/{cid}/photo", h_session, "terminal.use", ROUTE_RAW | ROUTE_SLOW,
     NULL},
};

static enum err module_init(struct server *srv)
{
	return vwin_session_hooks_register(srv);
}

const struct module vwin_session_module = {"vwin_session", module_init, NULL, routes,
                                           sizeof(routes) / sizeof(routes[0])};
