/* queue_http.c: the routes of queues (docs/queue.md "API"). Thin: the rules are in queue.c,
 * queue_tickets.c, queue_store.c and queue_jobs.c. Routes a resident's terminal calls carry
 * the ticket's secret token (until terminals authenticate with their own credential, src/vwin)
 * and need no session. */
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/str.h"
#include "db/db.h"
#include "queue/queue_int.h"
#include "server/server.h"

static struct queue_caller caller_of(const struct req *r, const char *token)
{
	return (struct queue_caller){.who = r->who,
	                             .token = token,
	                             .client_ip = r->client_ip,
	                             .trace_id = r->trace.trace_id};
}

static enum err id_param(struct req *r, const char *name, int64_t *out)
{
	if (!cstr_to_i64(req_param(r, name), 1, INT64_MAX, out))
		return req_fail(r, ERR_NOT_FOUND, NULL, "编号不正确");
	return ERR_OK;
}

/* ---- tickets ---- */

static const struct json_field issue_body[] = {
    {"centre_id", JF_INT, JF_REQUIRED, 1, INT64_MAX, "受理中心"},
    {"group_code", JF_STRING, JF_NULLABLE, 1, 2, "排队组代码"},
    {"item_code", JF_STRING, JF_NULLABLE, 12, 50, "事项编码"},
    {"source", JF_STRING, JF_NULLABLE, 1, 20, "取号方式"},
    {"terminal", JF_STRING, JF_NULLABLE, 1, 64, "终端编号"},
    {"point", JF_STRING, JF_NULLABLE, 1, 64, "点位编号"},
    {"location", JF_OBJECT, JF_NULLABLE, 0, 0, "终端定位"},
    {NULL, 0, 0, 0, 0, NULL},
};

static enum err h_issue(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	struct queue_caller by = caller_of(r, NULL);
	const char *src = json_get_str(r->json, "source");
	struct queue_issue_req in = {
	    .centre_id = json_get_int(r->json, "centre_id", 0),
	    .group_code = json_get_str(r->json, "group_code"),
	    .item_code = json_get_str(r->json, "item_code"),
	    .source = src ? src : "onsite",
	    .terminal = json_get_str(r->json, "terminal"),
	    .point = json_get_str(r->json, "point"),
	    .location = json_object_get(r->json, "location"),
	};
	json_t *out = NULL;
	enum err e = queue_ticket_issue(r->srv, &by, r->arena, &in, &out, &ei);
	return resp_result(r, w, e, &ei, out, 201);
}

static enum err h_call_next(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	struct queue_caller by = caller_of(r, NULL);
	int64_t id;
	json_t *out = NULL;
	if (id_param(r, "id", &id))
		return ERR_NOT_FOUND;
	enum err e = queue_call_next(r->srv, &by, r->arena, id, &out, &ei);
	return resp_result(r, w, e, &ei, out, 200);
}

/* POST /api/v1/queue/tickets/{id}/{action}: the action is the last path segment. */
static enum err h_act(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	const char *slash = strrchr(r->path, '/');
	const char *action = slash ? slash + 1 : "";
	int64_t id;
	json_t *out = NULL;
	if (id_param(r, "id", &id))
		return ERR_NOT_FOUND;
	if (!strcmp(action, "confirm"))
		action = "move_confirm";
	else if (!strcmp(action, "move"))
		action = "move_propose";
	struct queue_caller by = caller_of(r, json_get_str(r->json, "token"));
	enum err e = queue_ticket_act(r->srv, &by, r->arena, id, action, r->json, &out, &ei);
	return resp_result(r, w, e, &ei, out, 200);
}

static enum err h_status(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	int64_t id;
	json_t *out = NULL;
	if (id_param(r, "id", &id))
		return ERR_NOT_FOUND;
	struct queue_caller by = caller_of(r, req_query(r, "token"));
	enum err e = queue_ticket_status(r->srv, &by, r->arena, id, &out, &ei);
	return resp_result(r, w, e, &ei, out, 200);
}

static enum err h_rate(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	int64_t id;
	json_t *out = NULL;
	if (id_param(r, "id", &id))
		return ERR_NOT_FOUND;
	struct queue_caller by = caller_of(r, json_get_str(r->json, "token"));
	enum err e = queue_ticket_rate(r->srv, &by, r->arena, id, r->json, &out, &ei);
	return resp_result(r, w, e, &ei, out, 201);
}

static enum err h_centres(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	json_t *out = NULL;
	enum err e = queue_centres(r->srv, r->arena, req_query(r, "item"), &out, &ei);
	return resp_result(r, w, e, &ei, out, 200);
}

static enum err h_board(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	struct db_conn *c = NULL;
	int64_t centre = 0, org = 0;
	json_t *out = NULL;
	if (req_query_int(r, "centre_id", 1, INT64_MAX, 0, &centre))
		return ERR_BAD_FIELD;
	enum err e = db_acquire(r->srv->db, QUEUE_DB_WAIT_MS, &c);
	if (e)
		return e;
	if (!(e = queue_centre_resolve(c, r->arena, r->who, centre, &org, NULL, &ei)))
		e = queue_board_json(c, r->arena, org, &out);
	db_release(c);
	return resp_result(r, w, e, &ei, out, 200);
}

/* ---- windows and admin ---- */

static enum err h_sign(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	struct queue_caller by = caller_of(r, NULL);
	int64_t id;
	json_t *out = NULL;
	if (id_param(r, "id", &id))
		return ERR_NOT_FOUND;
	bool in = strlen(r->path) >= 7 && !strcmp(r->path + strlen(r->path) - 7, "/signin");
	enum err e = queue_window_sign(r->srv, &by, r->arena, id, in, &out, &ei);
	return resp_result(r, w, e, &ei, out, 200);
}

/* The groups or windows of a centre (?centre_id=, default the caller's). */
typedef enum err (*centre_fn)(struct server *srv, const struct queue_caller *by, struct arena *a,
                              int64_t centre_id, json_t **out, struct errinfo *ei);
/* Create (POST, no {id}: 201) or edit (PATCH .../{id}: 200) a group or window. */
typedef enum err (*save_fn)(struct server *srv, const struct queue_caller *by, struct arena *a,
                            int64_t id, const json_t *body, json_t **out, struct errinfo *ei);

static enum err run_centre(struct req *r, struct resp *w, centre_fn fn)
{
	struct errinfo ei = {0};
	struct queue_caller by = caller_of(r, NULL);
	int64_t centre = 0;
	json_t *out = NULL;
	if (req_query_int(r, "centre_id", 1, INT64_MAX, 0, &centre))
		return ERR_BAD_FIELD;
	enum err e = fn(r->srv, &by, r->arena, centre, &out, &ei);
	return resp_result(r, w, e, &ei, out, 200);
}

static enum err run_save(struct req *r, struct resp *w, save_fn fn)
{
	struct errinfo ei = {0};
	struct queue_caller by = caller_of(r, NULL);
	int64_t id = 0;
	json_t *out = NULL;
	if (req_param(r, "id") && id_param(r, "id", &id))
		return ERR_NOT_FOUND;
	enum err e = fn(r->srv, &by, r->arena, id, r->json, &out, &ei);
	return resp_result(r, w, e, &ei, out, id ? 200 : 201);
}

static enum err h_groups(struct req *r, struct resp *w)
{
	return run_centre(r, w, queue_admin_groups);
}

static enum err h_windows(struct req *r, struct resp *w)
{
	return run_centre(r, w, queue_admin_windows);
}

static enum err h_group_save(struct req *r, struct resp *w)
{
	return run_save(r, w, queue_admin_group_save);
}

static enum err h_window_save(struct req *r, struct resp *w)
{
	return run_save(r, w, queue_admin_window_save);
}

static enum err h_followups(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	struct queue_caller by = caller_of(r, NULL);
	int64_t centre = 0;
	json_t *out = NULL;
	if (req_query_int(r, "centre_id", 1, INT64_MAX, 0, &centre))
		return ERR_BAD_FIELD;
	enum err e =
	    queue_followups(r->srv, &by, r->arena, centre, req_query(r, "state"), &out, &ei);
	return resp_result(r, w, e, &ei, out, 200);
}

static enum err h_followup_close(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	struct queue_caller by = caller_of(r, NULL);
	int64_t id;
	json_t *out = NULL;
	if (id_param(r, "id", &id))
		return ERR_NOT_FOUND;
	enum err e = queue_followup_close(r->srv, &by, r->arena, id, json_get_str(r->json, "note"),
	                                  &out, &ei);
	return resp_result(r, w, e, &ei, out, 200);
}

/* ---- schemas ---- */

static const struct json_field empty_body[] = {{NULL, 0, 0, 0, 0, NULL}};
static const struct json_field token_body[] = {
    {"token", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 128, "取号凭证"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field finish_body[] = {
    {"case_no", JF_STRING, JF_NULLABLE, 5, 60, "办件编号"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field transfer_body[] = {
    {"window_id", JF_INT, JF_NULLABLE, 1, INT64_MAX, "目标窗口"},
    {"group_code", JF_STRING, JF_NULLABLE, 1, 2, "目标排队组"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field move_body[] = {
    {"centre_id", JF_INT, JF_REQUIRED, 1, INT64_MAX, "目标受理中心"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field rate_body[] = {
    {"token", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 128, "取号凭证"},
    {"level", JF_INT, JF_REQUIRED, 1, 5, "评价等级"},
    {"comment", JF_STRING, JF_NULLABLE, 0, 500, "评价内容"},
    {"tags", JF_ARRAY, JF_NULLABLE, 0, 10, "评价标签"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field group_create_body[] = {
    {"centre_id", JF_INT, JF_NULLABLE, 1, INT64_MAX, "受理中心"},
    {"code", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 2, "排队组代码"},
    {"name", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 30, "排队组名称"},
    {"items", JF_ARRAY, JF_NULLABLE, 0, 500, "事项编码"},
    {"departments", JF_ARRAY, JF_NULLABLE, 0, 50, "部门编码"},
    {"active", JF_BOOL, JF_NULLABLE, 0, 0, "启用"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field group_patch_body[] = {
    {"version", JF_INT, JF_REQUIRED, 1, INT64_MAX, "版本号"},
    {"name", JF_STRING, JF_NULLABLE | JF_NONEMPTY, 1, 30, "排队组名称"},
    {"items", JF_ARRAY, JF_NULLABLE, 0, 500, "事项编码"},
    {"departments", JF_ARRAY, JF_NULLABLE, 0, 50, "部门编码"},
    {"active", JF_BOOL, JF_NULLABLE, 0, 0, "启用"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field window_create_body[] = {
    {"centre_id", JF_INT, JF_NULLABLE, 1, INT64_MAX, "受理中心"},
    {"code", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 10, "窗口编号"},
    {"name", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 30, "窗口名称"},
    {"groups", JF_ARRAY, JF_NULLABLE, 0, 26, "服务的排队组"},
    {"active", JF_BOOL, JF_NULLABLE, 0, 0, "启用"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field window_patch_body[] = {
    {"version", JF_INT, JF_REQUIRED, 1, INT64_MAX, "版本号"},
    {"name", JF_STRING, JF_NULLABLE | JF_NONEMPTY, 1, 30, "窗口名称"},
    {"groups", JF_ARRAY, JF_NULLABLE, 0, 26, "服务的排队组"},
    {"active", JF_BOOL, JF_NULLABLE, 0, 0, "启用"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field close_body[] = {
    {"note", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 2, 1000, "整改说明"},
    {NULL, 0, 0, 0, 0, NULL},
};

#define TICKET "/api/v1/queue/tickets/{id}"

static const struct route routes[] = {
    {"GET", "/api/v1/queue/centres", h_centres, NULL, 0, NULL},
    {"GET", "/api/v1/queue/board", h_board, NULL, 0, NULL},
    {"POST", "/api/v1/queue/tickets", h_issue, "queue.issue", 0, issue_body},
    {"GET", TICKET, h_status, NULL, ROUTE_PUBLIC, NULL},
    {"POST", TICKET "/recall", h_act, "queue.call", 0, empty_body},
    {"POST", TICKET "/skip", h_act, "queue.call", 0, empty_body},
    {"POST", TICKET "/start", h_act, "queue.call", 0, empty_body},
    {"POST", TICKET "/finish", h_act, "queue.call", 0, finish_body},
    {"POST", TICKET "/transfer", h_act, "queue.call", 0, transfer_body},
    {"POST", TICKET "/suspend", h_act, "queue.call", 0, empty_body},
    {"POST", TICKET "/force_skip", h_act, "queue.call", 0, empty_body},
    {"POST", TICKET "/move", h_act, "queue.call", 0, move_body},
    {"POST", TICKET "/move/confirm", h_act, NULL, ROUTE_PUBLIC, token_body},
    {"POST", TICKET "/resume", h_act, NULL, ROUTE_PUBLIC, token_body},
    {"POST", TICKET "/cancel", h_act, NULL, ROUTE_PUBLIC, token_body},
    {"POST", TICKET "/rating", h_rate, NULL, ROUTE_PUBLIC, rate_body},
    {"POST", "/api/v1/queue/windows/{id}/signin", h_sign, "queue.call", 0, empty_body},
    {"POST", "/api/v1/queue/windows/{id}/signout", h_sign, "queue.call", 0, empty_body},
    {"POST", "/api/v1/queue/windows/{id}/call_next", h_call_next, "queue.call", 0, empty_body},
    {"GET", "/api/v1/admin/queue/groups", h_groups, "queue.manage", 0, NULL},
    {"POST", "/api/v1/admin/queue/groups", h_group_save, "queue.manage", 0, group_create_body},
    {"PATCH", "/api/v1/admin/queue/groups/{id}", h_group_save, "queue.manage", 0, group_patch_body},
    {"GET", "/api/v1/admin/queue/windows", h_windows, NULL, 0, NULL},
    {"POST", "/api/v1/admin/queue/windows", h_window_save, "queue.manage", 0, window_create_body},
    {"PATCH", "/api/v1/admin/queue/windows/{id}", h_window_save, "queue.manage", 0,
     window_patch_body},
    {"GET", "/api/v1/admin/queue/followups", h_followups, "queue.manage", 0, NULL},
    {"POST", "/api/v1/admin/queue/followups/{id}/close", h_followup_close, "queue.manage", 0,
     close_body},
};

/* ---- after-commit hooks ---- */

struct queue_hooks {
	int n;
	struct {
		const char *action;
		queue_hook fn;
		void *ctx;
	} h[QUEUE_HOOKS_MAX];
};

enum err queue_hook_on(struct server *srv, const char *action, queue_hook fn, void *ctx)
{
	struct queue_hooks *qh = srv->queue_hooks;
	if (!qh)
		return ERR_CONFIG;
	if (qh->n >= QUEUE_HOOKS_MAX)
		return ERR_TOO_LARGE;
	qh->h[qh->n].action = action;
	qh->h[qh->n].fn = fn;
	qh->h[qh->n].ctx = ctx;
	qh->n++;
	return ERR_OK;
}

void queue_hooks_run(struct server *srv, const char *action, const struct principal *who,
                     const json_t *ticket)
{
	struct queue_hooks *qh = srv->queue_hooks;
	for (int i = 0; qh && ticket && i < qh->n; i++)
		if (!strcmp(qh->h[i].action, action))
			qh->h[i].fn(srv, action, who, ticket, qh->h[i].ctx);
}

static enum err module_init(struct server *srv)
{
	/* hooks are registered by later modules' init: the table must exist first */
	if (!srv->queue_hooks && !(srv->queue_hooks = calloc(1, sizeof(*srv->queue_hooks))))
		return ERR_NOMEM;
	return queue_jobs_register(srv);
}

static void module_release(struct server *srv)
{
	free(srv->queue_hooks);
	srv->queue_hooks = NULL;
}

const struct module queue_module = {"queue", module_init, module_release, routes,
                                    sizeof(routes) / sizeof(routes[0])};
