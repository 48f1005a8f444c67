/* audit_http.c: reading the audit log over the API. */
#include "audit/audit.h"

#include "core/log.h"
#include "db/db.h"

/* Action filters are dotted codes; a code matches itself and everything below it
 * ("auth.login" matches "auth.login.ok"). */
static bool action_valid(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 100)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '.' ||
		      s[i] == '_'))
			return false;
	return true;
}

/* detail as JSON when it is a JSON object or array, else as a string. */
static json_t *detail_json(const char *d)
{
	if (!d)
		return json_null();
	if (d[0] == '{' || d[0] == '[') {
		json_t *v = json_loads(d, JSON_REJECT_DUPLICATES, NULL);
		if (v)
			return v;
	}
	return json_string(d);
}

static enum err h_audit_list(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	int64_t limit, before;
	enum err e;
	if ((e = req_query_int(r, "limit", 1, 500, 50, &limit)) ||
	    (e = req_query_int(r, "before", 1, INT64_MAX, INT64_MAX, &before)))
		return e;
	const char *action = req_query(r, "action");
	if (action && !*action)
		action = NULL;
	if (action && !action_valid(action))
		return req_fail(r, ERR_BAD_FIELD, "action",
		                "操作类型只能包含小写字母、数字、点和下划线");
	if ((e = db_acquire(r->srv->db, 5000, &c)))
		return e;
	if (action) {
		const char *prefix = arena_printf(r->arena, "%s.", action);
		e = db_exec(c, r->arena, &rs,
		            "SELECT id, at, actor_name, action, target, detail FROM audit_log"
		            " WHERE id < ? AND (action = ? OR substr(action, 1, ?) = ?)"
		            " ORDER BY id DESC LIMIT ?",
		            "isisi", before, action, (int64_t)strlen(prefix), prefix, limit);
	} else {
		e = db_exec(c, r->arena, &rs,
		            "SELECT id, at, actor_name, action, target, detail FROM audit_log"
		            " WHERE id < ? ORDER BY id DESC LIMIT ?",
		            "ii", before, limit);
	}
	db_release(c);
	if (e)
		return e;
	json_t *arr = json_array();
	for (int i = 0; i < rs->nrows; i++)
		json_array_append_new(
		    arr, json_pack("{sI sI ss? ss ss? so}", "id", (json_int_t)db_int(rs, i, 0),
		                   "at", (json_int_t)db_int(rs, i, 1), "actor",
		                   db_is_null(rs, i, 2) ? NULL : db_text(rs, i, 2), "action",
		                   db_text(rs, i, 3), "target",
		                   db_is_null(rs, i, 4) ? NULL : db_text(rs, i, 4), "detail",
		                   detail_json(db_is_null(rs, i, 5) ? NULL : db_text(rs, i, 5))));
	resp_json(w, 200, json_pack("{so}", "entries", arr));
	/* Auditors are audited too (GB/T 22239: the audit administrator's own actions). */
	char detail[160];
	snprintf(detail, sizeof(detail), "{\"limit\":%lld,\"action\":\"%s\",\"rows\":%d}",
	         (long long)limit, action ? action : "", rs->nrows);
	audit_record(r->srv, r, "audit.read", "audit_log", detail);
	return ERR_OK;
}

/* Walks the whole chain: seconds on a large log, so it runs on the worker pool. */
static enum err h_audit_verify(struct req *r, struct resp *w)
{
	int64_t checked = 0, bad = 0;
	char msg[512] = "";
	enum err e = audit_verify(r->srv->db, &checked, &bad, msg, sizeof(msg));
	if (e && e != ERR_INTEGRITY)
		return e;
	json_t *body = json_pack("{sb sI}", "intact", e == ERR_OK, "checked", (json_int_t)checked);
	if (body && e == ERR_INTEGRITY) {
		json_object_set_new(body, "first_bad_id", json_integer(bad));
		json_object_set_new(body, "message", json_string(msg));
	}
	resp_json(w, 200, body);
	char detail[96];
	snprintf(detail, sizeof(detail), "{\"intact\":%s,\"checked\":%lld}",
	         e == ERR_OK ? "true" : "false", (long long)checked);
	audit_record(r->srv, r, "audit.verify", "audit_log", detail);
	return ERR_OK;
}

static const struct route audit_routes[] = {
    {"GET", "/api/v1/admin/audit", h_audit_list, "audit.read", 0, NULL},
    {"GET", "/api/v1/admin/audit/verify", h_audit_verify, "audit.read", ROUTE_SLOW, NULL},
};

const struct module audit_module = {
    .name = "audit",
    .init = NULL,
    .release = NULL,
    .routes = audit_routes,
    .nroutes = sizeof(audit_routes) / sizeof(audit_routes[0]),
};
