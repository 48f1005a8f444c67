/* cases_http.c: the routes of cases (docs/cases.md "Opening a case", "States and actions",
 * "Lists, detail, receipt", "Working-day calendar"). Thin: every rule is in cases.c,
 * cases_store.c and cases_calendar.c. The module's state, init and outbox handler live here
 * with its route table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "cases/cases_int.h"
#include "core/json.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "catalog/catalog.h"
#include "db/db.h"
#include "events/events.h"
#include "server/server.h"

/* ---- the module state (srv->cases) ------------------------------------------------------ */

struct cases_state *cases_state_of(struct server *srv)
{
	return srv ? srv->cases : NULL;
}

/* calendar/ next to migrations/, as the catalog finds catalog/. */
static char *calendar_dir(const struct server *srv)
{
	const char *m = srv->migrations_dir ? srv->migrations_dir : "migrations";
	size_t n = strlen(m);
	char *d = NULL;
	if (n >= 10 && !strcmp(m + n - 10, "migrations")) {
		if (asprintf(&d, "%.*scalendar", (int)(n - 10), m) >= 0)
			return d;
		return NULL;
	}
	return strdup("calendar");
}

/* The outbox handler of case.*: tell the centre's open lists (WebSocket topic
 * scope:<org path>:cases; the hub lets everyone whose scope covers the centre listen). */
static enum err deliver(void *ctx, struct server *srv, const struct outbox_event *ev, char *errmsg,
                        size_t errmsg_sz)
{
	json_error_t je;
	char topic[160];
	(void)ctx;
	json_t *p = json_loads(ev->payload, 0, &je);
	const char *path = json_string_value(json_object_get(p, "org_path"));
	if (!path || snprintf(topic, sizeof(topic), "scope:%s:cases", path) >= (int)sizeof(topic)) {
		snprintf(errmsg, errmsg_sz, "payload without org_path");
		json_decref(p);
		return ERR_INVALID;
	}
	if (srv->bus)
		event_bus_publish(srv->bus, topic, ev->payload);
	/* a forwarded case (收受分离) is in the receiving centre's lists too */
	const char *also = json_string_value(json_object_get(p, "also_path"));
	if (srv->bus && also &&
	    snprintf(topic, sizeof(topic), "scope:%s:cases", also) < (int)sizeof(topic))
		event_bus_publish(srv->bus, topic, ev->payload);
	/* then the other modules' hooks of this action (archiving on completion, …) */
	struct cases_state *st = cases_state_of(srv);
	const char *action = ev->kind && !strncmp(ev->kind, "case.", 5) ? ev->kind + 5 : "";
	const char *case_no = json_string_value(json_object_get(p, "case_no"));
	enum err e = ERR_OK;
	for (int i = 0; st && case_no && i < st->nhooks && !e; i++)
		if (!strcmp(st->hooks[i].action, action) &&
		    (e = st->hooks[i].fn(srv, case_no, st->hooks[i].ctx)))
			snprintf(errmsg, errmsg_sz, "hook of case.%s failed: %s", action,
			         err_code(e));
	json_decref(p);
	return e;
}

enum err cases_hook_on(struct server *srv, const char *action, cases_hook fn, void *ctx)
{
	struct cases_state *st = cases_state_of(srv);
	if (!st || !action || !fn)
		return ERR_CONFIG;
	if (st->nhooks >= CASES_HOOKS_MAX)
		return ERR_TOO_LARGE;
	st->hooks[st->nhooks].action = action;
	st->hooks[st->nhooks].fn = fn;
	st->hooks[st->nhooks].ctx = ctx;
	st->nhooks++;
	return ERR_OK;
}

enum err cases_module_init(struct server *srv)
{
	struct cases_state *st = calloc(1, sizeof(*st));
	enum err e = ERR_NOMEM;
	if (!st)
		return ERR_NOMEM;
	st->srv = srv;
	if (!(st->calendar_dir = calendar_dir(srv)))
		goto fail;
	if ((e = catalog_doc_cache_create(256, &st->docs)) || (e = cases_calendar_create(&st->cal)))
		goto fail;
	srv->cases = st;
	if ((e = cases_calendar_start(srv, st)))
		goto fail;
	/* The delivery handler before the outbox workers pick up events left by a restart. */
	if ((e = cases_handoff_start(srv)))
		goto fail;
	for (size_t i = 0; srv->outbox && cases_actions[i]; i++) {
		char kind[64];
		snprintf(kind, sizeof(kind), "case.%s", cases_actions[i]);
		if ((e = outbox_register(srv->outbox, kind, deliver, NULL, NULL)) &&
		    e != ERR_EXISTS)
			goto fail;
	}
	if (srv->outbox && (e = outbox_register(srv->outbox, "case.open", deliver, NULL, NULL)) &&
	    e != ERR_EXISTS)
		goto fail;
	return ERR_OK;
fail:
	srv->cases = NULL;
	catalog_doc_cache_destroy(st->docs);
	cases_calendar_destroy(st->cal);
	free(st->calendar_dir);
	free(st);
	return e;
}

void cases_module_release(struct server *srv)
{
	struct cases_state *st = cases_state_of(srv);
	if (!st)
		return;
	srv->cases = NULL;
	catalog_doc_cache_destroy(st->docs);
	cases_calendar_destroy(st->cal);
	free(st->calendar_dir);
	free(st);
}

/* ---- handlers ---------------------------------------------------------------------- */

static struct cases_caller caller_of(const struct req *r)
{
	return (struct cases_caller){
	    .who = r->who, .client_ip = r->client_ip, .trace_id = r->trace.trace_id};
}

/* Turn a failure of the C API into the response's error. */
static enum err failed(struct req *r, enum err e, const struct errinfo *ei)
{
	if (ei->msg)
		return req_fail(r, e, ei->field, "%s", ei->msg);
	if (e == ERR_NOT_FOUND)
		return req_fail(r, e, NULL, "办件不存在");
	return e;
}

static const struct json_field open_body[] = {
    {"sub_item_code", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 50, "事项子项编码"},
    {"resident_id", JF_INT, JF_REQUIRED, 1, INT64_MAX, "居民"},
    {"channel", JF_INT, JF_NULLABLE, 1, 9, "办理渠道"},
    {"allow_duplicate", JF_BOOL, JF_NULLABLE, 0, 0, "仍然新建"},
    {"mode", JF_STRING, JF_NULLABLE, 0, 100, "办理模式"},
    {"entry", JF_STRING, JF_NULLABLE, 0, 100, "办理入口"},
    {NULL, 0, 0, 0, 0, NULL},
};

/* POST /api/v1/cases → 201 the draft; 409 duplicate with "duplicates". */
static enum err h_open(struct req *r, struct resp *w)
{
	struct cases_caller by = caller_of(r);
	struct errinfo ei = {0};
	json_t *out = NULL, *dups = NULL;
	struct cases_open_req in = {
	    .sub_item_code = json_get_str(r->json, "sub_item_code"),
	    .resident_id = json_get_int(r->json, "resident_id", 0),
	    .channel = (int)json_get_int(r->json, "channel", 1),
	    .allow_duplicate = json_get_bool(r->json, "allow_duplicate", false),
	    .mode = json_get_str(r->json, "mode"),
	    .entry = json_get_str(r->json, "entry"),
	};
	enum err e = cases_open(r->srv, &by, r->arena, &in, &out, &dups, &ei);
	if (e == ERR_DUPLICATE)
		return resp_error_with(r, w, e, ei.field, ei.msg, "duplicates", dups);
	json_decref(dups);
	if (e)
		return failed(r, e, &ei);
	resp_json(w, 201, out);
	return ERR_OK;
}

/* GET /api/v1/cases?view=&state=&q=&limit=&before= */
static enum err h_list(struct req *r, struct resp *w)
{
	struct cases_caller by = caller_of(r);
	struct errinfo ei = {0};
	json_t *out = NULL;
	int64_t limit = 50, before = 0;
	enum err e;
	if ((e = req_query_int(r, "limit", 1, 200, 50, &limit)) ||
	    (e = req_query_int(r, "before", 1, INT64_MAX, 0, &before)))
		return e;
	struct cases_list_query q = {.view = req_query(r, "view"),
	                             .state = req_query(r, "state"),
	                             .q = req_query(r, "q"),
	                             .before = before,
	                             .limit = (int)limit};
	if (q.q) {
		struct str t = str_trim(str_from(q.q));
		q.q = arena_strndup(r->arena, t.p, t.n);
	}
	if ((e = cases_list(r->srv, &by, r->arena, &q, &out, &ei)))
		return failed(r, e, &ei);
	resp_json(w, 200, out);
	return ERR_OK;
}

/* GET /api/v1/cases/{no} */
static enum err h_get(struct req *r, struct resp *w)
{
	struct cases_caller by = caller_of(r);
	struct errinfo ei = {0};
	json_t *out = NULL;
	enum err e = cases_get(r->srv, &by, r->arena, req_param(r, "no"), &out);
	if (e)
		return failed(r, e, &ei);
	resp_json(w, 200, out);
	return ERR_OK;
}

static const struct json_field form_body[] = {
    {"version", JF_INT, JF_REQUIRED, 1, INT64_MAX, "办件版本号"},
    {"data", JF_OBJECT, JF_REQUIRED, 0, 0, "表单数据"},
    {NULL, 0, 0, 0, 0, NULL},
};

/* PUT /api/v1/cases/{no}/form {"version","data"} → {"version","evaluation"} */
static enum err h_form(struct req *r, struct resp *w)
{
	struct cases_caller by = caller_of(r);
	struct errinfo ei = {0};
	json_t *out = NULL;
	enum err e = cases_save_form_data(r->srv, &by, r->arena, req_param(r, "no"),
	                                  json_get_int(r->json, "version", 0),
	                                  json_object_get(r->json, "data"), &out, &ei);
	if (e)
		return failed(r, e, &ei);
	resp_json(w, 200, out);
	return ERR_OK;
}

/* POST /api/v1/cases/{no}/<action>: the action is the last path segment. */
static enum err h_act(struct req *r, struct resp *w)
{
	struct cases_caller by = caller_of(r);
	struct errinfo ei = {0};
	json_t *out = NULL, *problems = NULL;
	const char *slash = strrchr(r->path, '/');
	const char *action = slash ? slash + 1 : "";
	enum err e = cases_act(r->srv, &by, r->arena, req_param(r, "no"), action, r->json, &out,
	                       &problems, &ei);
	if (e == ERR_INVALID && problems)
		return resp_error_with(r, w, e, ei.field, ei.msg, "problems", problems);
	json_decref(problems);
	if (e)
		return failed(r, e, &ei);
	resp_json(w, 200, out);
	return ERR_OK;
}

/* GET /api/v1/cases/{no}/forward-targets (收受分离) */
static enum err h_forward_targets(struct req *r, struct resp *w)
{
	struct cases_caller by = caller_of(r);
	struct errinfo ei = {0};
	json_t *out = NULL;
	enum err e = cases_forward_targets(r->srv, &by, r->arena, req_param(r, "no"), &out, &ei);
	if (e)
		return failed(r, e, &ei);
	resp_json(w, 200, out);
	return ERR_OK;
}

/* GET /api/v1/cases/{no}/receipt */
static enum err h_receipt(struct req *r, struct resp *w)
{
	struct cases_caller by = caller_of(r);
	struct errinfo ei = {0};
	json_t *out = NULL;
	enum err e = cases_receipt(r->srv, &by, r->arena, req_param(r, "no"), &out, &ei);
	if (e)
		return failed(r, e, &ei);
	resp_json(w, 200, out);
	return ERR_OK;
}

/* GET /api/v1/calendar?year= → {"year","days":[{date,kind,name}],"has_entries"} */
static enum err h_calendar(struct req *r, struct resp *w)
{
	struct cases_calendar *cal = cases_calendar_of(r->srv);
	char today[11];
	int64_t year = 0, def = 0;
	cases_today(today);
	today[4] = 0;
	cstr_to_i64(today, 1900, 2999, &def);
	enum err e = req_query_int(r, "year", 1900, 2999, def, &year);
	if (e)
		return e;
	if (!cal)
		return req_fail(r, ERR_UNAVAILABLE, NULL, "工作日历尚未加载");
	resp_json(w, 200,
	          json_pack("{s:I,s:b,s:o}", "year", (json_int_t)year, "has_entries",
	                    cases_calendar_has_year(cal, (int)year), "days",
	                    cases_calendar_year_json(cal, (int)year)));
	return ERR_OK;
}

static const struct json_field calendar_body[] = {
    {"kind", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 20, "日期类型"},
    {"name", JF_STRING, JF_NULLABLE, 0, 20, "名称"},
    {NULL, 0, 0, 0, 0, NULL},
};

/* PUT /api/v1/admin/calendar/{date} {"kind","name"} (system.config, audited) */
static enum err h_calendar_put(struct req *r, struct resp *w)
{
	struct cases_calendar *cal = cases_calendar_of(r->srv);
	const char *day = req_param(r, "date"), *kind = json_get_str(r->json, "kind");
	const char *name = json_get_str(r->json, "name");
	struct db_conn *c = NULL;
	enum cases_day_kind k;
	enum err e;
	if (!cal)
		return req_fail(r, ERR_UNAVAILABLE, NULL, "工作日历尚未加载");
	if (!strcmp(kind, "holiday"))
		k = CASES_DAY_HOLIDAY;
	else if (!strcmp(kind, "workday"))
		k = CASES_DAY_WORKDAY;
	else if (!strcmp(kind, "normal"))
		k = CASES_DAY_NORMAL;
	else
		return req_fail(
		    r, ERR_BAD_FIELD, "kind",
		    "日期类型应为 holiday（节假日）、workday（调休工作日）或 normal（普通日）");
	if (k != CASES_DAY_NORMAL && (!name || !str_trim(str_from(name)).n))
		return req_fail(r, ERR_MISSING_FIELD, "name", "请填写名称，例如“春节”或“春节调休”");
	/* Validate the date through a scratch calendar so a bad one never reaches the table. */
	struct cases_calendar *probe = NULL;
	if ((e = cases_calendar_create(&probe)))
		return e;
	e = cases_calendar_set(probe, day, CASES_DAY_HOLIDAY, "");
	cases_calendar_destroy(probe);
	if (e == ERR_BAD_FIELD)
		return req_fail(r, ERR_BAD_FIELD, "date", "日期应为 YYYY-MM-DD 格式的有效日期");
	if (e)
		return e;
	int64_t now = time_now_ms();
	struct audit_entry ae = {
	    .actor_id = r->who->user_id,
	    .actor_name = r->who->username,
	    .action = "calendar.set",
	    .target = arena_printf(r->arena, "calendar:%s", day),
	    .detail = json_dump_arena(json_arena_own(r->arena, json_pack("{s:s,s:s}", "kind", kind,
	                                                                 "name", name ? name : "")),
	                              r->arena),
	    .client_ip = r->client_ip,
	    .trace_id = r->trace.trace_id};
	if ((e = db_acquire(r->srv->db, 5000, &c)))
		return e;
	if ((e = db_begin_write(c)) ||
	    (e = db_exec(
	         c, r->arena, NULL,
	         "INSERT INTO calendar_days (day, kind, name, source, updated_by, updated_at)"
	         " VALUES (?, ?, ?, 'admin', ?, ?) ON CONFLICT (day) DO UPDATE SET"
	         " kind = excluded.kind, name = excluded.name, source = 'admin',"
	         " updated_by = excluded.updated_by, updated_at = excluded.updated_at",
	         "sssii", day, kind, name ? name : "", r->who->user_id, now)) ||
	    (e = audit_append(c, r->arena, &ae)) || (e = db_commit(c))) {
		db_rollback(c);
		db_release(c);
		return e;
	}
	db_release(c);
	if ((e = cases_calendar_set(cal, day, k, name)))
		return e;
	resp_json(w, 200,
	          json_pack("{s:s,s:s,s:s,s:b}", "date", day, "kind", kind, "name",
	                    name ? name : "", "workday", cases_calendar_is_workday(cal, day)));
	return ERR_OK;
}

static const struct json_field accept_body[] = {
    {"version", JF_INT, JF_REQUIRED, 1, INT64_MAX, "办件版本号"},
    {"override", JF_OBJECT, JF_NULLABLE, 0, 0, "越权受理"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field refuse_body[] = {
    {"version", JF_INT, JF_REQUIRED, 1, INT64_MAX, "办件版本号"},
    {"reason", JF_STRING, JF_REQUIRED, 0, 2000, "不予受理理由"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field correction_body[] = {
    {"version", JF_INT, JF_REQUIRED, 1, INT64_MAX, "办件版本号"},
    {"items", JF_ARRAY, JF_REQUIRED, 0, 1000, "补正内容"},
    {"note", JF_STRING, JF_NULLABLE, 0, 2000, "补正说明"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field note_body[] = {
    {"version", JF_INT, JF_REQUIRED, 1, INT64_MAX, "办件版本号"},
    {"note", JF_STRING, JF_NULLABLE, 0, 2000, "备注"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field complete_body[] = {
    {"version", JF_INT, JF_REQUIRED, 1, INT64_MAX, "办件版本号"},
    {"result", JF_STRING, JF_REQUIRED, 0, 100, "办结结果"},
    {"opinion", JF_STRING, JF_REQUIRED, 0, 4000, "办结意见"},
    {"cert_no", JF_STRING, JF_NULLABLE, 0, 400, "证照编号"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field forward_body[] = {
    {"version", JF_INT, JF_REQUIRED, 1, INT64_MAX, "办件版本号"},
    {"target", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 50, "受理中心"},
    {"note", JF_STRING, JF_NULLABLE, 0, 2000, "转交说明"},
    {NULL, 0, 0, 0, 0, NULL},
};
static const struct json_field withdraw_body[] = {
    {"version", JF_INT, JF_REQUIRED, 1, INT64_MAX, "办件版本号"},
    {"reason", JF_STRING, JF_REQUIRED, 0, 2000, "撤回原因"},
    {NULL, 0, 0, 0, 0, NULL},
};

#define CASE "/api/v1/cases/{no}"

static const struct route routes[] = {
    {"POST", "/api/v1/cases", h_open, "case.accept", 0, open_body},
    {"GET", "/api/v1/cases", h_list, "case.read", 0, NULL},
    {"GET", CASE, h_get, "case.read", 0, NULL},
    {"PUT", CASE "/form", h_form, "case.accept", 0, form_body},
    /* accept: case.accept, or case.override with an override (checked in cases_act) */
    {"POST", CASE "/accept", h_act, NULL, 0, accept_body},
    {"POST", CASE "/refuse", h_act, "case.accept", 0, refuse_body},
    {"POST", CASE "/request_correction", h_act, "case.accept", 0, correction_body},
    {"POST", CASE "/resume", h_act, "case.accept", 0, note_body},
    {"POST", CASE "/start", h_act, "case.accept", 0, note_body},
    {"POST", CASE "/complete", h_act, "case.accept", 0, complete_body},
    {"POST", CASE "/withdraw", h_act, "case.accept", 0, withdraw_body},
    {"POST", CASE "/forward", h_act, "case.accept", 0, forward_body},
    {"GET", CASE "/forward-targets", h_forward_targets, "case.accept", 0, NULL},
    {"GET", CASE "/receipt", h_receipt, "case.read", 0, NULL},
    {"GET", "/api/v1/calendar", h_calendar, NULL, 0, NULL},
    {"PUT", "/api/v1/admin/calendar/{date}", h_calendar_put, "system.config", 0, calendar_body},
};

const struct module cases_module = {"cases", cases_module_init, cases_module_release, routes,
                                    sizeof(routes) / sizeof(routes[0])};
