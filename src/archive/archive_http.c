/* archive_http.c: asking for a case's archiving, the outbox handler that builds and transfers
 * its packages, the archive state, the routes and the module (docs/archive.md).
 *
 * The request is one write unit (the archive row, the audit entry and the outbox event
 * commit together); the handler runs outside any transaction, builds (reads only), calls
 * the flow (network), then records the outcome in a write unit of its own. Every write is
 * guarded by the attempt it belongs to, so a stale or repeated delivery never overwrites a
 * newer request or a receipt. */
#include <stdlib.h>
#include <string.h>

#include "archive/archive_int.h"
#include "audit/audit.h"
#include "auth/auth.h"
#include "cases/cases_int.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "events/events.h"
#include "gateway/gateway.h"
#include "server/server.h"

#define DB_WAIT_MS 5000
#define BUILD_ARENA                                                                                \
	(96u << 20) /* packages and their base64; files are read in arenas of                      \
	               their own (archive.c) */

static const char *status_label(const char *s)
{
	if (!s)
		return "未归档";
	if (!strcmp(s, "pending"))
		return "归档中";
	if (!strcmp(s, "received"))
		return "已归档";
	if (!strcmp(s, "rejected"))
		return "档案系统拒收";
	if (!strcmp(s, "invalid"))
		return "归档数据包校验未通过";
	return s;
}

/* ---- requesting ---------------------------------------------------------------------------- */

struct req_ctx {
	const struct principal *who;
	const char *client_ip, *trace_id;
	struct arena *a;
	struct errinfo *ei;
	int64_t case_id;
	const char *case_no;
};

static enum err request_unit(struct db_conn *c, void *ctx)
{
	struct req_ctx *x = ctx;
	struct arena *a = x->a;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms(), attempt = 1;
	int64_t uid = x->who ? x->who->user_id : 0;
	enum err e;
	/* completed is terminal, but the check is cheap and keeps the unit honest on its own */
	if ((e = db_exec(c, a, &rs, "SELECT state FROM cases WHERE id = ?", "i", x->case_id)))
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	if (strcmp(db_text(rs, 0, 0), "completed"))
		return err_fail(x->ei, ERR_BAD_STATE, NULL, "办件尚未办结，不能归档");
	if ((e = db_exec(
	         c, a, &rs,
	         "SELECT status, attempt, receipt_no FROM archive_packages WHERE case_id = ?", "i",
	         x->case_id)))
		return e;
	if (rs->nrows == 1) {
		const char *st = db_text(rs, 0, 0);
		if (!strcmp(st, "received"))
			return err_fail(x->ei, ERR_BAD_STATE, NULL,
			                arena_printf(a, "办件已归档（回执编号 %s）",
			                             db_text(rs, 0, 2) ? db_text(rs, 0, 2) : ""));
		if (!strcmp(st, "pending"))
			return err_fail(x->ei, ERR_BAD_STATE, NULL, "办件正在归档，请稍后查看结果");
		attempt = db_int(rs, 0, 1) + 1;
		e = db_exec(c, a, NULL,
		            "UPDATE archive_packages SET status = 'pending', attempt = ?,"
		            " receipt_no = NULL, checks = NULL, error = NULL,"
		            " requested_by = NULLIF(CAST(? AS BIGINT), 0),"
		            " requested_at = ?, updated_at = ? WHERE case_id = ?",
		            "iiiii", attempt, uid, now, now, x->case_id);
	} else {
		e = uid ? db_exec(c, a, NULL,
		                  "INSERT INTO archive_packages (case_id, case_no, status, attempt,"
		                  " requested_by, requested_at, created_at, updated_at)"
		                  " VALUES (?, ?, 'pending', 1, ?, ?, ?, ?)",
		                  "isiiii", x->case_id, x->case_no, uid, now, now, now)
		        : db_exec(c, a, NULL,
		                  "INSERT INTO archive_packages (case_id, case_no, status, attempt,"
		                  " requested_at, created_at, updated_at)"
		                  " VALUES (?, ?, 'pending', 1, ?, ?, ?)",
		                  "isiii", x->case_id, x->case_no, now, now, now);
	}
	if (e)
		return e;
	struct audit_entry ae = {.actor_id = uid,
	                         .actor_name = x->who ? x->who->username : "system",
	                         .action = "case.archive",
	                         .target = arena_printf(a, "case:%s", x->case_no),
	                         .detail =
	                             arena_printf(a, "{\"attempt\":%lld}", (long long)attempt),
	                         .client_ip = x->client_ip,
	                         .trace_id = x->trace_id};
	if ((e = audit_append(c, a, &ae)))
		return e;
	json_t *pl = json_pack("{s:s,s:I,s:I}", "case_no", x->case_no, "case_id",
	                       (json_int_t)x->case_id, "attempt", (json_int_t)attempt);
	const char *plt = pl ? json_dump_arena(pl, a) : NULL;
	json_decref(pl);
	if (!plt)
		return ERR_NOMEM;
	return outbox_enqueue(
	    c, a, ARCHIVE_EVENT_KIND, arena_printf(a, "case:%lld", (long long)x->case_id), plt,
	    arena_printf(a, "archive:%s:%lld", x->case_no, (long long)attempt), NULL);
}

enum err archive_request(struct server *srv, const struct principal *who, const char *client_ip,
                         const char *trace_id, struct arena *a, const char *case_no, json_t **out,
                         struct errinfo *ei)
{
	struct case_row row = {0};
	struct case_catalog cc = {0};
	struct db_conn *c = NULL;
	enum err e;
	if (out)
		*out = NULL;
	/* The catalog lookup happens before the unit, which holds only statements. */
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)))
		return e;
	if ((e = case_load(srv, c, a, who, case_no, &row)))
		goto out;
	if (strcmp(row.state, "completed")) {
		e = err_fail(ei, ERR_BAD_STATE, NULL,
		             arena_printf(a, "办件当前状态为“%s”，办结后才能归档",
		                          cases_state_label(row.state)));
		goto out;
	}
	if ((e = case_catalog_get(srv, c, a, &row, &cc)))
		goto out;
	if (!json_is_true(json_object_get(json_object_get(cc.sub_item, "archive"), "required"))) {
		e = err_fail(ei, ERR_BAD_STATE, NULL, "该事项无需电子归档");
		goto out;
	}
	db_release(c);
	c = NULL;
	struct req_ctx x = {.who = who,
	                    .client_ip = client_ip,
	                    .trace_id = trace_id,
	                    .a = a,
	                    .ei = ei,
	                    .case_id = row.id,
	                    .case_no = row.case_no};
	if ((e = db_write_unit(srv->db, request_unit, &x, DB_WAIT_MS)))
		goto out;
	outbox_notify(srv->outbox);
	if (out)
		e = archive_status(srv, who, a, case_no, out);
out:
	db_release(c);
	case_catalog_release(&cc);
	case_row_release(&row);
	return e;
}

/* ---- the state ------------------------------------------------------------------------------ */

enum err archive_status(struct server *srv, const struct principal *who, struct arena *a,
                        const char *case_no, json_t **out)
{
	struct case_row row = {0};
	struct case_catalog cc = {0};
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	json_t *o = NULL;
	enum err e;
	*out = NULL;
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)))
		return e;
	if ((e = case_load(srv, c, a, who, case_no, &row)) ||
	    (e = case_catalog_get(srv, c, a, &row, &cc)))
		goto out;
	bool required =
	    json_is_true(json_object_get(json_object_get(cc.sub_item, "archive"), "required"));
	if ((e = db_exec(c, a, &rs,
	                 "SELECT status, attempt, receipt_no, checks, error, basic_size, basic_sm3,"
	                 " process_size, process_sm3, files_size, files_sm3, steps, files,"
	                 " requested_at, received_at, updated_at"
	                 " FROM archive_packages WHERE case_id = ?",
	                 "i", row.id)))
		goto out;
	if (!(o = json_pack("{s:s,s:b}", "case_no", row.case_no, "required", required))) {
		e = ERR_NOMEM;
		goto out;
	}
	if (rs->nrows != 1) {
		json_object_set_new(o, "status", json_null());
		json_object_set_new(o, "status_label", json_string(status_label(NULL)));
		*out = o;
		goto out;
	}
	const char *st = db_text(rs, 0, 0);
	json_error_t je;
	json_t *checks = db_text(rs, 0, 3) ? json_loads(db_text(rs, 0, 3), 0, &je) : NULL;
	json_t *pk = json_null();
	if (!db_is_null(rs, 0, 5)) {
		pk = json_object();
		for (int p = 0; p < ARCHIVE_PARTS; p++)
			json_object_set_new(pk, archive_part_name((enum archive_part)p),
			                    json_pack("{s:I,s:s?}", "size",
			                              (json_int_t)db_int(rs, 0, 5 + 2 * p), "sm3",
			                              db_text(rs, 0, 6 + 2 * p)));
	}
	json_object_set_new(o, "status", json_string(st));
	json_object_set_new(o, "status_label", json_string(status_label(st)));
	json_object_set_new(o, "attempt", json_integer(db_int(rs, 0, 1)));
	json_object_set_new(o, "receipt_no",
	                    db_text(rs, 0, 2) ? json_string(db_text(rs, 0, 2)) : json_null());
	json_object_set_new(o, "checks", checks ? checks : json_null());
	json_object_set_new(o, "error",
	                    db_text(rs, 0, 4) ? json_string(db_text(rs, 0, 4)) : json_null());
	json_object_set_new(o, "packages", pk);
	json_object_set_new(o, "steps",
	                    db_is_null(rs, 0, 11) ? json_null() : json_integer(db_int(rs, 0, 11)));
	json_object_set_new(o, "files",
	                    db_is_null(rs, 0, 12) ? json_null() : json_integer(db_int(rs, 0, 12)));
	char iso[32];
	json_object_set_new(o, "requested_at", json_string(time_iso(db_int(rs, 0, 13), iso)));
	json_object_set_new(o, "received_at",
	                    db_is_null(rs, 0, 14) ? json_null()
	                                          : json_string(time_iso(db_int(rs, 0, 14), iso)));
	json_object_set_new(o, "updated_at", json_string(time_iso(db_int(rs, 0, 15), iso)));
	*out = o;
out:
	db_release(c);
	case_catalog_release(&cc);
	case_row_release(&row);
	return e;
}

/* ---- the outbox handler --------------------------------------------------------------------- */

/* What one delivery learnt, recorded in a write unit guarded by the attempt. */
struct outcome {
	int64_t case_id, attempt;
	struct arena *a;
	const char *status;                /* new status; NULL keeps 'pending' */
	const char *receipt_no;            /* received */
	const char *checks;                /* JSON text, or NULL */
	const char *error;                 /* NULL clears */
	const struct archive_packages *pk; /* NULL when nothing was built */
	int64_t received_at;
};

static enum err outcome_unit(struct db_conn *c, void *ctx)
{
	struct outcome *o = ctx;
	int64_t now = time_now_ms();
	const struct archive_packages *pk = o->pk;
	enum err e;
	if (pk && (e = db_exec(c, o->a, NULL,
	                       "UPDATE archive_packages SET basic_size = ?, basic_sm3 = ?,"
	                       " process_size = ?, process_sm3 = ?, files_size = ?, files_sm3 = ?,"
	                       " steps = ?, files = ? WHERE case_id = ? AND attempt = ?"
	                       " AND status <> 'received'",
	                       "isisisiiii", (int64_t)pk->part[ARCHIVE_BASIC].len,
	                       pk->part[ARCHIVE_BASIC].sm3, (int64_t)pk->part[ARCHIVE_PROCESS].len,
	                       pk->part[ARCHIVE_PROCESS].sm3, (int64_t)pk->part[ARCHIVE_FILES].len,
	                       pk->part[ARCHIVE_FILES].sm3, (int64_t)pk->nsteps,
	                       (int64_t)pk->nfiles, o->case_id, o->attempt)))
		return e;
	if (o->status && !strcmp(o->status, "received"))
		return db_exec(c, o->a, NULL,
		               "UPDATE archive_packages SET status = 'received', receipt_no = ?,"
		               " checks = ?, error = NULL, received_at = ?, updated_at = ?"
		               " WHERE case_id = ? AND attempt = ? AND status <> 'received'",
		               "ssiiii", o->receipt_no, o->checks, o->received_at, now, o->case_id,
		               o->attempt);
	return db_exec(c, o->a, NULL,
	               "UPDATE archive_packages SET status = ?, checks = COALESCE(?, checks),"
	               " error = ?, updated_at = ? WHERE case_id = ? AND attempt = ?"
	               " AND status <> 'received'",
	               "sssiii", o->status ? o->status : "pending", o->checks, o->error, now,
	               o->case_id, o->attempt);
}

static enum err record(struct server *srv, struct outcome *o)
{
	enum err e = db_write_unit(srv->db, outcome_unit, o, DB_WAIT_MS);
	if (e)
		log_error("archive.record",
		          "case %lld attempt %lld: the outcome was not stored (%s)",
		          (long long)o->case_id, (long long)o->attempt, err_code(e));
	return e;
}

/* Is this delivery still wanted? Not when the case was archived meanwhile or asked for
 * again (a newer attempt has its own event). */
static enum err wanted(struct server *srv, struct arena *a, int64_t case_id, int64_t attempt,
                       bool *yes)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_acquire(srv->db, DB_WAIT_MS, &c);
	*yes = false;
	if (e)
		return e;
	e = db_exec(c, a, &rs, "SELECT status, attempt FROM archive_packages WHERE case_id = ?",
	            "i", case_id);
	if (!e && rs->nrows == 1)
		*yes = strcmp(db_text(rs, 0, 0), "received") && db_int(rs, 0, 1) == attempt;
	db_release(c);
	return e;
}

static enum err transfer(struct server *srv, const struct outbox_event *ev, struct arena *a,
                         struct outcome *o, const char *case_no, const struct archive_packages *pk,
                         char *errmsg, size_t errmsg_sz)
{
	struct errinfo ei = {0};
	json_t *result = NULL;
	json_t *packages = json_arena_own(a, json_object());
	enum err e;
	if (!packages)
		return ERR_NOMEM;
	for (int p = 0; p < ARCHIVE_PARTS; p++) {
		struct buf b;
		buf_init(&b, 4 * (pk->part[p].len / 3 + 4));
		if ((e = buf_base64(&b, pk->part[p].xml, pk->part[p].len))) {
			buf_release(&b);
			return e;
		}
		json_object_set_new(packages, archive_part_name((enum archive_part)p),
		                    json_stringn(b.p, b.len));
		buf_release(&b);
	}
	json_t *params =
	    json_arena_own(a, json_pack("{s:s,s:O,s:s}", "case_no", case_no, "packages", packages,
	                                "request_id", ev->idempotency_key));
	if (!params)
		return ERR_NOMEM;
	struct gateway_caller who = {.module = "archive", .user = "system"};
	e = gateway_flow_run(srv, ARCHIVE_FLOW, params, &who, false, a, &result, NULL, NULL, &ei);
	if (e) {
		o->error = ei.msg ? ei.msg : err_message(e);
		snprintf(errmsg, errmsg_sz, "%s", o->error);
		record(srv, o);
		return e;
	}
	int status = (int)json_integer_value(json_object_get(result, "http_status"));
	const json_t *resp = json_object_get(result, "response");
	const json_t *checks = json_object_get(resp, "checks");
	o->checks = json_is_array(checks) ? json_dump_arena(checks, a) : NULL;
	if (status >= 200 && status < 300 && json_get_str(resp, "receipt_no")) {
		o->status = "received";
		o->receipt_no = json_get_str(resp, "receipt_no");
		o->received_at = time_now_ms();
		return record(srv, o);
	}
	const char *msg = json_get_str(resp, "message");
	if (status >= 400 && status < 500 && status != 408 && status != 429) {
		/* refused on its content: sending it again would be refused again */
		o->status = "rejected";
		o->error =
		    arena_printf(a, "档案系统拒收（HTTP %d）：%s%s%s", status,
		                 msg ? msg : "未说明原因", json_get_str(resp, "field") ? "，" : "",
		                 json_get_str(resp, "field") ? json_get_str(resp, "field") : "");
		snprintf(errmsg, errmsg_sz, "%s", o->error);
		record(srv, o);
		return ERR_INVALID;
	}
	o->error = arena_printf(
	    a, "档案系统暂不可用（%s，HTTP %d），将自动重试",
	    json_get_str(result, "outcome") ? json_get_str(result, "outcome") : "error", status);
	snprintf(errmsg, errmsg_sz, "%s", o->error);
	record(srv, o);
	return ERR_UNAVAILABLE;
}

static enum err deliver(void *ctx, struct server *srv, const struct outbox_event *ev, char *errmsg,
                        size_t errmsg_sz)
{
	struct arena a;
	struct archive_packages pk;
	struct errinfo ei = {0};
	json_error_t je;
	bool yes = false;
	enum err e;
	(void)ctx;
	json_t *p = json_loads(ev->payload, 0, &je);
	const char *case_no = json_get_str(p, "case_no");
	int64_t case_id = json_get_int(p, "case_id", 0), attempt = json_get_int(p, "attempt", 0);
	if (!case_no || case_id <= 0 || attempt <= 0) {
		snprintf(errmsg, errmsg_sz, "payload without case_no, case_id or attempt");
		json_decref(p);
		return ERR_INVALID;
	}
	arena_init(&a, BUILD_ARENA);
	case_no = arena_strdup(&a, case_no);
	json_decref(p);
	struct outcome o = {.case_id = case_id, .attempt = attempt, .a = &a};
	if (!case_no) {
		e = ERR_NOMEM;
		goto out;
	}
	if ((e = wanted(srv, &a, case_id, attempt, &yes)) || !yes)
		goto out;
	int64_t t0 = time_mono_ns();
	e = archive_build(srv, NULL, &a, case_no, &pk, &ei);
	if (e == ERR_INVALID || e == ERR_BAD_STATE || e == ERR_INTEGRITY || e == ERR_NOT_FOUND) {
		/* the case itself is wrong for the XSD: no retry helps until someone fixes it */
		o.status = "invalid";
		o.error = ei.msg ? ei.msg : err_message(e);
		snprintf(errmsg, errmsg_sz, "归档数据包未通过校验：%s", ei.field ? ei.field : "");
		record(srv, &o);
		e = ERR_INVALID;
		goto out;
	}
	if (e) {
		o.error = ei.msg ? ei.msg : err_message(e);
		snprintf(errmsg, errmsg_sz, "%s", o.error);
		record(srv, &o);
		goto out;
	}
	log_info("archive.build",
	         "case %s: 3 packages (%zu + %zu + %zu bytes, %d files) in %lld us", case_no,
	         pk.part[0].len, pk.part[1].len, pk.part[2].len, pk.nfiles,
	         (long long)((time_mono_ns() - t0) / 1000));
	o.pk = &pk;
	e = transfer(srv, ev, &a, &o, case_no, &pk, errmsg, errmsg_sz);
out:
	arena_release(&a);
	return e;
}

/* ---- routes ------------------------------------------------------------------------------------
 */

static enum err failed(struct req *r, enum err e, const struct errinfo *ei)
{
	if (ei->msg)
		return req_fail(r, e, ei->field, "%s", ei->msg);
	if (e == ERR_NOT_FOUND)
		return req_fail(r, e, NULL, "办件不存在");
	return e;
}

/* POST /api/v1/cases/{no}/archive → 202 the archive state; 409 with the reason. */
static enum err h_request(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	json_t *out = NULL;
	enum err e = archive_request(r->srv, r->who, r->client_ip, r->trace.trace_id, r->arena,
	                             req_param(r, "no"), &out, &ei);
	if (e)
		return failed(r, e, &ei);
	resp_json(w, 202, out);
	return ERR_OK;
}

/* GET /api/v1/cases/{no}/archive */
static enum err h_status(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	json_t *out = NULL;
	enum err e = archive_status(r->srv, r->who, r->arena, req_param(r, "no"), &out);
	if (e)
		return failed(r, e, &ei);
	resp_json(w, 200, out);
	return ERR_OK;
}

static const struct json_field request_body[] = {
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct route routes[] = {
    {"POST", "/api/v1/cases/{no}/archive", h_request, "case.accept", 0, request_body},
    {"GET", "/api/v1/cases/{no}/archive", h_status, "case.read", 0, NULL},
};

/* ---- the module ------------------------------------------------------------------------------ */

/* On completion (a hook of the cases module, after the commit, at least once): request the
 * archive of a sub-item that needs one. Not needed, already requested or received: done. */
static enum err on_complete(struct server *srv, const char *case_no, void *ctx)
{
	struct arena a;
	struct errinfo ei = {0};
	(void)ctx;
	arena_init(&a, 0);
	enum err e = archive_request(srv, NULL, NULL, NULL, &a, case_no, NULL, &ei);
	if (e == ERR_BAD_STATE)
		e = ERR_OK;
	else if (e)
		log_warn("archive.on_complete", "archiving %s could not be requested (%s)", case_no,
		         err_code(e));
	arena_release(&a);
	return e;
}

static enum err module_init(struct server *srv)
{
	struct crypto_sm2_key *key = NULL;
	enum err e;
	/* Make the signing key now, at start, rather than on the first delivery. A failure is
	 * reported but does not stop the server: deliveries then fail and retry, visibly. */
	if ((e = archive_key_load(srv, &key)))
		log_error("archive.key", "the archive signing key is not usable (%s)", err_code(e));
	crypto_sm2_destroy(key);
	if (srv->outbox &&
	    (e = outbox_register(srv->outbox, ARCHIVE_EVENT_KIND, deliver, NULL, NULL)) &&
	    e != ERR_EXISTS)
		return e;
	/* Completion archives automatically; POST …/archive stays for a retry after a refusal. */
	if (cases_state_of(srv) && (e = cases_hook_on(srv, "complete", on_complete, NULL)))
		return e;
	return ERR_OK;
}

const struct module archive_module = {"archive", module_init, NULL, routes,
                                      sizeof(routes) / sizeof(routes[0])};
