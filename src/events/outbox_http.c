/* outbox_http.c: the events module — the outbox's lifecycle in the server and its operator
 * routes (dead letters and their retry). */
#include "events/outbox_int.h"

#include "audit/audit.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "server/server.h"

#define DB_WAIT_MS 5000

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* GET /api/v1/admin/outbox?status=&kind=&limit=50&before=<id> */
static enum err list_events(struct req *r, struct resp *w)
{
	enum err e;
	struct db_conn *c = NULL;
	struct db_rows *rows = NULL;
	int64_t limit = 0, before = 0;
	int64_t counts[OUTBOX_NSTATUS];
	json_t *list = NULL, *body = NULL;
	const char *status = req_query(r, "status");
	const char *kind = req_query(r, "kind");

	if (status && !status[0])
		status = NULL;
	if (kind && !kind[0])
		kind = NULL;
	if (status && outbox_status_parse(status) < 0)
		return req_fail(r, ERR_BAD_FIELD, "status",
		                "状态只能是 pending、delivering、done 或 dead 之一");
	if (kind && !outbox_kind_valid(kind))
		return req_fail(r, ERR_BAD_FIELD, "kind", "事件类型格式不正确");
	if ((e = req_query_int(r, "limit", 1, OUTBOX_LIST_MAX, 50, &limit)) ||
	    (e = req_query_int(r, "before", 1, INT64_MAX, 0, &before)))
		return e;
	if ((e = db_acquire(r->srv->db, DB_WAIT_MS, &c)))
		goto out;
	if ((e = outbox_store_list(c, r->arena, status, kind, before, (int)limit, &rows)) ||
	    (e = outbox_store_counts(c, r->arena, true, counts)))
		goto out;
	list = json_array();
	body = json_object();
	json_t *cj = json_object();
	if (!list || !body || !cj) {
		json_decref(cj);
		e = ERR_NOMEM;
		goto out;
	}
	for (int i = 0; i < rows->nrows; i++) {
		json_t *ev = json_object();
		if (!ev || json_array_append_new(list, ev)) {
			e = ERR_NOMEM;
			goto out;
		}
		json_object_set_new(ev, "id", json_integer(db_int(rows, i, 0)));
		json_object_set_new(ev, "kind", str_or_null(db_text(rows, i, 1)));
		json_object_set_new(ev, "aggregate", str_or_null(db_text(rows, i, 2)));
		json_object_set_new(ev, "status", str_or_null(db_text(rows, i, 3)));
		json_object_set_new(ev, "attempts", json_integer(db_int(rows, i, 4)));
		json_object_set_new(ev, "last_error", str_or_null(db_text(rows, i, 5)));
		json_object_set_new(ev, "created_at", json_integer(db_int(rows, i, 6)));
		json_object_set_new(ev, "next_attempt_at", json_integer(db_int(rows, i, 7)));
	}
	for (int k = 0; k < OUTBOX_NSTATUS; k++)
		json_object_set_new(cj, outbox_status_names[k], json_integer(counts[k]));
	json_object_set_new(body, "counts", cj);
	json_object_set_new(body, "events", list);
	list = NULL;
	/* The id to pass as before= for the next page; null on the last one. */
	json_object_set_new(body, "next_before",
	                    rows->nrows == limit ? json_integer(db_int(rows, rows->nrows - 1, 0))
	                                         : json_null());
	resp_json(w, 200, body);
	body = NULL;
out:
	if (c)
		db_release(c);
	json_decref(list);
	json_decref(body);
	return e;
}

/* POST /api/v1/admin/outbox/{id}/retry: the state change and its audit entry commit
 * together. */
static enum err retry_event(struct req *r, struct resp *w)
{
	enum err e;
	struct db_conn *c = NULL;
	int64_t id = 0;
	const char *sid = req_param(r, "id");
	struct server *srv = r->srv;

	if (!sid || !cstr_to_i64(sid, 1, INT64_MAX, &id))
		return req_fail(r, ERR_NOT_FOUND, "id", "事件不存在");
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)))
		return e;
	/* PostgreSQL may refuse the audit chain's head under contention (ERR_CONFLICT after the
	 * event was found dead, unlike the ERR_CONFLICT "not dead"): one more try. */
	bool found = false;
	for (int t = 0; t < 2; t++) {
		bool open = false;
		found = false;
		if ((e = db_begin_write(c)))
			break;
		open = true;
		e = outbox_store_retry(c, r->arena, id,
		                       srv->outbox ? outbox_now(srv->outbox) : time_now_ms());
		if (!e) {
			found = true;
			struct audit_entry ae = {
			    .actor_id = r->who ? r->who->user_id : 0,
			    .actor_name = r->who ? r->who->username : NULL,
			    .action = "outbox.retry",
			    .target = arena_printf(r->arena, "event:%lld", (long long)id),
			    .client_ip = r->client_ip,
			    .trace_id = r->trace.trace_id,
			};
			e = audit_append(c, r->arena, &ae);
		}
		if (!e) {
			e = db_commit(c);
			open = false;
		}
		if (e && open)
			db_rollback(c);
		if (!(e == ERR_CONFLICT && found))
			break;
	}
	db_release(c);
	if (e == ERR_CONFLICT && found)
		e = ERR_DB_BUSY;
	if (e == ERR_NOT_FOUND)
		return req_fail(r, e, "id", "事件不存在");
	if (e == ERR_CONFLICT)
		return req_fail(r, e, "id", "只有投递失败（dead）的事件可以重试");
	if (e)
		return e;
	log_info("outbox.retry_requested", "dead event %lld is pending again (by %s)",
	         (long long)id, r->who && r->who->username ? r->who->username : "?");
	outbox_notify(srv->outbox);
	resp_json(w, 200, json_pack("{s:I,s:s}", "id", (json_int_t)id, "status", "pending"));
	return ERR_OK;
}

static enum err events_init(struct server *srv)
{
	enum err e = outbox_create(srv, NULL, &srv->outbox);
	if (!e)
		e = outbox_start(srv->outbox);
	if (e) {
		outbox_destroy(srv->outbox);
		srv->outbox = NULL;
	}
	return e;
}

static void events_release(struct server *srv)
{
	outbox_destroy(srv->outbox);
	srv->outbox = NULL;
}

static const struct route routes[] = {
    {"GET", "/api/v1/admin/outbox", list_events, "system.config", 0, NULL},
    {"POST", "/api/v1/admin/outbox/{id}/retry", retry_event, "system.config", 0, NULL},
};

const struct module events_module = {
    .name = "events",
    .init = events_init,
    .release = events_release,
    .routes = routes,
    .nroutes = sizeof(routes) / sizeof(routes[0]),
};
