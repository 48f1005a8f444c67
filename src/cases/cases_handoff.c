/* cases_handoff.c: hand-off of an accepted case to its department (docs/handoff.md).
 *
 * Acceptance (cases.c) builds the parameters of the sub-item's submit flow here, before its
 * write unit, and the unit writes them, sealed, as one outbox event of kind case.handoff with
 * the idempotency key "submit:<case_no>": the case is accepted iff the promise to deliver it
 * is stored. The handler of that kind (registered by cases_handoff_start) runs the flow
 * synchronously through the gateway, outside any transaction, and then records the
 * department's answer on the case in a write unit of its own: dept_case_no, delivered_at, and
 * accepted -> in_progress (action start, by "system"). Recording is guarded by delivered_at
 * IS NULL, so a redelivered event neither records nor transitions twice; the department side
 * of exactly-once is the departments' deduplication on (service, case_no) (docs/gateway.md).
 *
 * The 办理人 (handler) of the 办件库 record is decided by cases_handler_pick, a pure function
 * of the sub-item's handler_rule and the parties present. */
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "cases/cases_int.h"
#include "catalog/catalog.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "events/events.h"
#include "gateway/gateway.h"
#include "ident/ident.h"
#include "server/server.h"

#define DB_WAIT_MS     5000
#define PARAMS_CONTEXT "cases.handoff"
#define PAYLOAD_MAX    (900u << 10) /* the outbox takes 1 MiB; hex doubles the sealed params */

/* ---- the 办理人 rule (pure) ------------------------------------------------------------- */

const char *cases_handler_role_name(enum cases_handler_role r)
{
	switch (r) {
	case CASES_HANDLER_AGENT: return "agent";
	case CASES_HANDLER_GUARDIAN: return "guardian";
	default: return "applicant";
	}
}

/* What the 办件库 (spec 6.0) requires, whatever the item says. */
static enum cases_handler_role by_spec(bool canlian, bool agent, bool guardian, bool helper)
{
	if (canlian && helper)
		return CASES_HANDLER_APPLICANT;
	if (guardian)
		return CASES_HANDLER_GUARDIAN;
	return agent ? CASES_HANDLER_AGENT : CASES_HANDLER_APPLICANT;
}

/* What the sub-item's rule says on its own (docs/catalog.md "handler_rule"); no rule or an
 * unknown one is the 办件库's general rule. */
static enum cases_handler_role by_rule(const char *rule, bool canlian, bool agent, bool guardian,
                                       bool helper)
{
	if (rule && !strcmp(rule, "applicant"))
		return CASES_HANDLER_APPLICANT;
	if (rule && !strcmp(rule, "agent"))
		return agent ? CASES_HANDLER_AGENT : CASES_HANDLER_APPLICANT;
	if (rule && !strcmp(rule, "disabled_helper") && canlian && helper)
		return CASES_HANDLER_APPLICANT;
	if (rule && (!strcmp(rule, "guardian") || !strcmp(rule, "disabled_helper")))
		return guardian ? CASES_HANDLER_GUARDIAN
		       : agent  ? CASES_HANDLER_AGENT
		                : CASES_HANDLER_APPLICANT;
	return by_spec(canlian, agent, guardian, helper);
}

enum cases_handler_role cases_handler_pick(const char *rule, bool canlian, bool agent,
                                           bool guardian, bool helper, bool *deviates)
{
	enum cases_handler_role want = by_rule(rule, canlian, agent, guardian, helper);
	enum cases_handler_role must = by_spec(canlian, agent, guardian, helper);
	if (deviates)
		*deviates = want != must;
	return must;
}

/* ---- the flow's parameters ------------------------------------------------------------- */

/* A party of the form as the flows take it: {id_type, id_number, name, phone} with the
 * number a plain string; NULL when the role is absent (not present, or nothing to name). A
 * 助残员 has a staff number instead of a document in the catalog's forms: it stands as the
 * number with id_type "staff_no". profile (may be NULL) completes the applicant. */
json_t *cases_handoff_person(const json_t *form, const char *role, const json_t *profile)
{
	const json_t *g = json_object_get(form, role);
	bool applicant = !strcmp(role, "applicant");
	if (!json_is_object(g) && !(applicant && profile))
		return NULL;
	const json_t *present = json_object_get(g, "present");
	if (!applicant &&
	    (present ? !json_is_true(present) : !json_string_value(json_object_get(g, "name"))))
		return NULL;
	const json_t *idn = json_object_get(g, "id_number");
	const char *type = json_string_value(json_object_get(idn, "type"));
	const char *num = json_is_string(idn) ? json_string_value(idn)
	                                      : json_string_value(json_object_get(idn, "number"));
	const char *name = json_string_value(json_object_get(g, "name"));
	const char *phone = json_string_value(json_object_get(g, "phone"));
	if (!type)
		type = json_string_value(json_object_get(g, "id_type"));
	if (applicant && profile) {
		if (!num) {
			num = json_string_value(json_object_get(profile, "id_number"));
			type = json_string_value(json_object_get(profile, "id_type"));
		}
		if (!name)
			name = json_string_value(json_object_get(profile, "name"));
		if (!phone)
			phone = json_string_value(json_object_get(profile, "phone"));
	}
	if (!num && !strcmp(role, "helper")) {
		num = json_string_value(json_object_get(g, "staff_no"));
		if (num)
			type = "staff_no";
	}
	if (!num && !name)
		return NULL;
	if (num && !type)
		type = "111";
	return json_pack("{s:s?,s:s?,s:s?,s:s?}", "id_type", type, "id_number", num, "name", name,
	                 "phone", phone);
}

/* Is the item one of 残联 (department canlian; basic codes 3100 06 …)? */
static bool canlian_item(const json_t *item, const char *sub_code)
{
	const char *dept = json_get_str(item, "department");
	if (dept && !strcmp(dept, "canlian"))
		return true;
	return sub_code && !strncmp(sub_code, "310006", 6);
}

enum err cases_handoff_plan(struct server *srv, struct db_conn *c, struct arena *a,
                            const struct case_catalog *cc, const struct case_row *row,
                            const struct principal *clerk, struct cases_handoff *out,
                            struct errinfo *ei)
{
	struct db_rows *org = NULL;
	json_t *profile = NULL, *params = NULL, *lines = NULL, *mats = NULL, *pl = NULL;
	const char *item_code = NULL, *sub_code = NULL;
	struct buf hex;
	const void *blob = NULL;
	size_t n = 0, i;
	const json_t *v;
	char at[32], ch[8];
	enum err e = ERR_OK;
	memset(out, 0, sizeof(*out));
	buf_init(&hex, PAYLOAD_MAX);
	out->at = time_now_ms();
	const char *flow = json_get_str(cc->sub_item, "submit_flow");
	if (!flow || !*flow)
		goto out; /* nothing to deliver: the sub-item names no department flow */
	if ((e = catalog_code_map(c, a, row->item_code, &item_code)) ||
	    (e = catalog_code_map(c, a, row->sub_item_code, &sub_code)) ||
	    (e = db_exec(c, a, &org, "SELECT code, name FROM orgs WHERE id = ?", "i",
	                 row->org_id)) ||
	    (e = cases_materials_received(srv, c, a, cc, row, &lines)))
		goto out;
	const json_t *idn = json_object_get(json_object_get(row->form, "applicant"), "id_number");
	if (!idn ||
	    !json_string_value(json_object_get(json_object_get(row->form, "applicant"), "name"))) {
		e = ident_resident_get(srv, c, a, row->resident_id, &profile);
		if (e && e != ERR_NOT_FOUND)
			goto out;
		e = ERR_OK;
	}
	json_t *ap = cases_handoff_person(row->form, "applicant", profile);
	json_t *ag = cases_handoff_person(row->form, "agent", NULL);
	json_t *gu = cases_handoff_person(row->form, "guardian", NULL);
	json_t *he = cases_handoff_person(row->form, "helper", NULL);
	bool deviates = false;
	const char *rule = json_get_str(cc->sub_item, "handler_rule");
	enum cases_handler_role role =
	    cases_handler_pick(rule, canlian_item(cc->item, row->sub_item_code), ag != NULL,
	                       gu != NULL, he != NULL, &deviates);
	if (deviates)
		log_warn(
		    "cases.handoff.handler_rule",
		    "case %s: the parties contradict handler_rule %s; the 办件库 rule makes the %s"
		    " 办理人",
		    row->case_no, rule ? rule : "-", cases_handler_role_name(role));
	json_t *handler = role == CASES_HANDLER_AGENT      ? ag
	                  : role == CASES_HANDLER_GUARDIAN ? gu
	                                                   : ap;
	mats = json_array();
	json_array_foreach (lines, i, v)
		if (mats)
			json_array_append_new(
			    mats, json_pack("{s:s?,s:s?,s:I}", "id", json_get_str(v, "id"), "name",
			                    json_get_str(v, "name"), "entries",
			                    (json_int_t)json_get_int(v, "entries", 0)));
	snprintf(ch, sizeof(ch), "%d", row->channel ? row->channel : 1);
	time_iso(out->at, at);
	params = json_pack("{s:s,s:s,s:s,s:s?,s:o*,s:o*,s:o*,s:o*,s:O*,s:O,s:O,s:{s:s?,s:s?},s:{s:"
	                   "s?,s:s?},s:s,s:s}",
	                   "case_no", row->case_no, "sub_item_code", sub_code, "item_code",
	                   item_code, "item_name", json_get_str(cc->item, "name"), "applicant", ap,
	                   "agent", ag, "guardian", gu, "helper", he, "handler", handler, "form",
	                   row->form, "materials", mats ? mats : json_null(), "centre", "code",
	                   org->nrows ? db_text(org, 0, 0) : NULL, "name",
	                   org->nrows ? db_text(org, 0, 1) : NULL, "clerk", "username",
	                   clerk ? clerk->username : NULL, "name", clerk ? clerk->name : NULL,
	                   "accepted_at", at, "channel", ch);
	if (!params) {
		e = ERR_NOMEM;
		goto out;
	}
	if (!json_object_get(params, "applicant")) {
		e = ERR_INVALID;
		if (ei) {
			ei->code = e;
			ei->field = "applicant";
			ei->msg = "申请人的证件号码和姓名不完整，办件无法报送部门";
		}
		goto out;
	}
	if ((e = case_seal_json(srv, a, PARAMS_CONTEXT, params, &blob, &n)) ||
	    (e = buf_hex(&hex, blob, n)))
		goto out;
	pl = json_pack("{s:i,s:s,s:s,s:s}", "v", 1, "case_no", row->case_no, "flow", flow, "params",
	               hex.p);
	out->payload = pl ? json_dump_arena(pl, a) : NULL;
	out->flow = arena_strdup(a, flow);
	out->key = arena_printf(a, "submit:%s", row->case_no);
	if (!out->payload || !out->flow || !out->key)
		e = ERR_NOMEM;
out:
	if (e)
		memset(out, 0, sizeof(*out));
	json_decref(params);
	json_decref(lines);
	json_decref(mats);
	json_decref(pl);
	buf_release(&hex);
	return e;
}

enum err cases_handoff_enqueue(struct db_conn *c, struct arena *a, const struct case_row *row,
                               const struct cases_handoff *h)
{
	if (!h->flow)
		return ERR_OK;
	return outbox_enqueue(c, a, CASES_HANDOFF_KIND,
	                      arena_printf(a, "case:%lld", (long long)row->id), h->payload, h->key,
	                      NULL);
}

/* ---- delivery (the outbox handler) ------------------------------------------------------ */

/* What the handler learnt from the department, for the recording unit. */
struct done_ctx {
	struct arena *a;
	const char *case_no, *dept_case_no, *reported;
	const char *dept_system; /* the connector that took it (polled for the decision) */
	int64_t run_id, now;
	bool started; /* the unit moved the case accepted -> in_progress */
};

/* Record the delivery once: the guarded UPDATE makes a second recording a no-op. */
static enum err done_unit(struct db_conn *c, void *ctx)
{
	struct done_ctx *x = ctx;
	struct db_rows *rs = NULL;
	struct arena *a = x->a;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT c.id, c.state, c.version, c.org_id, o.path, c.sub_item_code,"
	                     " c.prev_state FROM cases c JOIN orgs o ON o.id = c.org_id"
	                     " WHERE c.case_no = ? AND c.delivered_at IS NULL",
	                     "s", x->case_no);
	x->started = false;
	if (e || rs->nrows != 1)
		return e; /* recorded already (a redelivery) */
	int64_t id = db_int(rs, 0, 0), version = db_int(rs, 0, 2), org_id = db_int(rs, 0, 3);
	const char *state = db_text(rs, 0, 1), *path = db_text(rs, 0, 4);
	const char *sub = db_text(rs, 0, 5), *prev = db_text(rs, 0, 6);
	struct db_rows *up = NULL;
	if ((e = db_exec(
	         c, a, &up,
	         "UPDATE cases SET dept_case_no = ?, delivered_at = ?, delivery_run_id = ?,"
	         " delivery_reported = ?, dept_system = ?, decision_check_at = ?,"
	         " decision_checks = 0, updated_at = ? WHERE id = ? AND delivered_at IS NULL",
	         "siissiii", x->dept_case_no, x->now, x->run_id, x->reported, x->dept_system,
	         x->now + cases_decision_backoff_ms(0), x->now, id)))
		return e;
	if (up->changes != 1)
		return ERR_OK;
	if (!strcmp(state, "withdrawn") && x->dept_case_no)
		/* withdrawn while it was on its way: the department must hear it is off */
		return cases_dept_cancel_enqueue(c, a, id, x->case_no);
	if (!strcmp(state, "correction") && prev && !strcmp(prev, "accepted"))
		/* the department has it: the correction resumes into the department's work */
		return db_exec(c, a, NULL,
		               "UPDATE cases SET prev_state = 'in_progress' WHERE id = ?", "i", id);
	if (strcmp(state, "accepted"))
		return ERR_OK;
	if ((e = db_exec(c, a, &up,
	                 "UPDATE cases SET state = 'in_progress', version = version + 1,"
	                 " updated_at = ? WHERE id = ? AND state = 'accepted'",
	                 "ii", x->now, id)))
		return e;
	if (up->changes != 1)
		return ERR_INTERNAL;
	json_t *d = json_pack("{s:s?,s:I,s:s}", "dept_case_no", x->dept_case_no, "run_id",
	                      (json_int_t)x->run_id, "note", "部门系统已接收办件");
	const char *detail = d ? json_dump_arena(d, a) : NULL;
	json_decref(d);
	if (!detail)
		return ERR_NOMEM;
	if ((e = case_store_event(c, a, id, NULL, "start", "accepted", "in_progress", detail)))
		return e;
	struct audit_entry ae = {.actor_name = "system",
	                         .action = "case.start",
	                         .target = arena_printf(a, "case:%s", x->case_no),
	                         .detail = detail};
	if ((e = audit_append(c, a, &ae)))
		return e;
	json_t *pl =
	    json_pack("{s:s,s:s,s:I,s:s,s:s}", "case_no", x->case_no, "state", "in_progress",
	              "org_id", (json_int_t)org_id, "org_path", path, "sub_item_code", sub);
	const char *plt = pl ? json_dump_arena(pl, a) : NULL;
	json_decref(pl);
	if (!plt)
		return ERR_NOMEM;
	if ((e = outbox_enqueue(
	         c, a, "case.start", arena_printf(a, "case:%lld", (long long)id), plt,
	         arena_printf(a, "case:%s:%lld", x->case_no, (long long)version + 1), NULL)))
		return e;
	x->started = true;
	return ERR_OK;
}

/* A refusal retrying cannot change: the failing step's system answered 4xx (not 408/429),
 * or its answer failed the step's expect. Read from the run record of the gateway. */
static bool refused_for_good(struct server *srv, struct arena *a, int64_t run_id, int *http)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	bool permanent = false;
	*http = 0;
	if (!run_id || db_acquire(srv->db, DB_WAIT_MS, &c))
		return false;
	if (!db_exec(c, a, &rs,
	             "SELECT s.http_status, s.outcome FROM gateway_runs r"
	             " JOIN gateway_run_steps s ON s.run_id = r.id AND s.step = r.failed_step"
	             " AND s.kind = 'call' WHERE r.id = ? ORDER BY s.seq DESC",
	             "i", run_id) &&
	    rs->nrows > 0) {
		int st = (int)db_int(rs, 0, 0);
		const char *oc = db_text(rs, 0, 1);
		*http = st;
		permanent = (st >= 400 && st < 500 && st != 408 && st != 429) ||
		            (oc && !strcmp(oc, "unexpected"));
	}
	db_release(c);
	return permanent;
}

/* The codes were mapped at acceptance; a code change that came into force while the delivery
 * was still being retried (the department down past the change's effective date) applies
 * too: the department and the 办件库 hear the code in force on the day it is sent. */
static enum err remap_codes(struct db_conn *c, struct arena *a, json_t *params)
{
	static const char *const keys[] = {"item_code", "sub_item_code"};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *code = json_get_str(params, keys[i]), *mapped = NULL;
		enum err e;
		if (!code)
			continue;
		if ((e = catalog_code_map(c, a, code, &mapped)))
			return e;
		if (mapped && strcmp(mapped, code) &&
		    json_object_set_new(params, keys[i], json_string(mapped)))
			return ERR_NOMEM;
	}
	return ERR_OK;
}

static enum err deliver(void *ctx, struct server *srv, const struct outbox_event *ev, char *errmsg,
                        size_t errmsg_sz)
{
	struct arena a;
	struct buf blob;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct errinfo ei = {0};
	json_t *payload = NULL, *params = NULL, *result = NULL;
	int64_t run_id = 0;
	enum err e;
	(void)ctx;
	arena_init(&a, 64u << 20);
	buf_init(&blob, PAYLOAD_MAX);
	if (json_parse(ev->payload, strlen(ev->payload), &payload, &a, NULL) ||
	    json_get_int(payload, "v", 0) != 1) {
		snprintf(errmsg, errmsg_sz, "事件内容不是可识别的办件报送");
		e = ERR_INVALID;
		goto out;
	}
	const char *case_no = json_get_str(payload, "case_no");
	const char *flow = json_get_str(payload, "flow");
	const char *hex = json_get_str(payload, "params");
	size_t hn = hex ? strlen(hex) : 0;
	if (!case_no || !flow || !hn || hn % 2 || (e = buf_append(&blob, hex, hn / 2)) ||
	    !hex_decode(hex, hn, (unsigned char *)blob.p, hn / 2) ||
	    case_open_json(srv, &a, PARAMS_CONTEXT, blob.p, hn / 2, &params)) {
		snprintf(errmsg, errmsg_sz, "报送参数不完整、无法解密或已损坏");
		e = ERR_INVALID;
		goto out;
	}
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)) ||
	    (e = db_exec(c, &a, &rs, "SELECT state, delivered_at FROM cases WHERE case_no = ?", "s",
	                 case_no)) ||
	    (e = remap_codes(c, &a, params)))
		goto out;
	db_release(c);
	c = NULL;
	if (rs->nrows != 1) {
		snprintf(errmsg, errmsg_sz, "办件 %s 不存在", case_no);
		e = ERR_INVALID;
		goto out;
	}
	if (!db_is_null(rs, 0, 1))
		goto out; /* delivered and recorded before: only the done mark was lost */
	if (!strcmp(db_text(rs, 0, 0), "withdrawn")) {
		/* withdrawn before it left: the department never hears of it */
		log_info("cases.handoff.withdrawn", "case %s was withdrawn before delivery",
		         case_no);
		goto out;
	}
	struct gateway_caller caller = {.module = "cases", .user = "system"};
	e = gateway_flow_run(srv, flow, params, &caller, false, &a, &result, NULL, &run_id, &ei);
	if (e) {
		int http = 0;
		bool good = e == ERR_NOT_FOUND || e == ERR_INVALID || e == ERR_CONFIG ||
		            (e == ERR_UPSTREAM && refused_for_good(srv, &a, run_id, &http));
		char hs[24] = "";
		if (http)
			snprintf(hs, sizeof(hs), "，HTTP %d", http);
		/* The systems' own words may quote personal data: name the run and the kind. */
		snprintf(errmsg, errmsg_sz, "提交流程 %s 运行 %lld 失败（%s%s）%s", flow,
		         (long long)run_id, err_code(e), hs,
		         good ? "，重试无法解决，请核查后由运维人员重新投递" : "");
		e = good ? ERR_INVALID : e;
		goto out;
	}
	const char *status = json_get_str(result, "status");
	if (status && !strcmp(status, "cancelled")) {
		/* A compensated earlier run cancelled the application, and the department's
		 * deduplication hands the cancelled one back: a person must look at it. */
		snprintf(errmsg, errmsg_sz,
		         "部门返回的申请已撤销（流程运行 %lld），需核查后由运维人员重新投递",
		         (long long)run_id);
		e = ERR_INVALID;
		goto out;
	}
	const json_t *dn = json_object_get(result, "dept_case_no");
	const char *sys = NULL;
	if (!db_acquire(srv->db, DB_WAIT_MS, &c)) {
		if (cases_dept_system_of_run(c, &a, run_id, &sys))
			sys = NULL; /* the decision poll reads it again from the run */
		db_release(c);
		c = NULL;
	}
	struct done_ctx x = {
	    .a = &a,
	    .case_no = case_no,
	    .dept_case_no = json_is_string(dn) ? json_string_value(dn) : NULL,
	    .reported = json_get_str(result, "reported"),
	    .dept_system = sys,
	    .run_id = run_id,
	    .now = time_now_ms(),
	};
	if ((e = db_write_unit(srv->db, done_unit, &x, DB_WAIT_MS))) {
		/* retried: the flow runs again and the department answers the same number */
		snprintf(errmsg, errmsg_sz, "部门已接收（流程运行 %lld），记录结果失败（%s）",
		         (long long)run_id, err_code(e));
		goto out;
	}
	outbox_notify(srv->outbox); /* case.start, or the cancel of a case withdrawn meanwhile */
out:
	db_release(c);
	json_decref(payload);
	json_decref(params);
	buf_release(&blob);
	arena_release(&a);
	return e;
}

enum err cases_handoff_start(struct server *srv)
{
	if (!srv || !srv->outbox)
		return ERR_OK;
	/* The gateway's own asynchronous flows retry the same way: 1 s doubling to 10 min,
	 * 30 tries (about 3.5 hours) before an operator is needed. */
	struct outbox_policy pol = {
	    .max_attempts = 30, .base_backoff_ms = 1000, .max_backoff_ms = 600000};
	enum err e = outbox_register(srv->outbox, CASES_HANDOFF_KIND, deliver, NULL, &pol);
	if (e && e != ERR_EXISTS)
		return e;
	/* what follows the delivery: the decision polls, the cancel of a withdrawn case and the
	 * 办件库 stage reports (docs/handoff.md) */
	if ((e = cases_decide_start(srv)))
		return e;
	return cases_bjk_start(srv);
}

/* ---- the delivery as the case shows it ---------------------------------------------------- */

const char *cases_delivery_state(const char *case_state, const char *event_status, int attempts,
                                 bool delivered)
{
	if (delivered)
		return "delivered";
	if (!event_status)
		return NULL;
	if (!strcmp(event_status, "dead"))
		return "dead";
	if (!strcmp(event_status, "delivering"))
		return "delivering";
	if (!strcmp(event_status, "done"))
		/* done without a record: the case was withdrawn before it left */
		return case_state && !strcmp(case_state, "withdrawn") ? "cancelled" : "delivered";
	return attempts > 0 ? "failed" : "pending";
}

static const char *delivery_label(const char *st)
{
	static const char *const k[] = {"pending", "delivering", "delivered",
	                                "failed",  "dead",       "cancelled"};
	static const char *const v[] = {"待报送",
	                                "报送中",
	                                "部门已接收",
	                                "报送失败，等待重试",
	                                "报送失败，待运维处理",
	                                "受理后已撤回，未报送"};
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (!strcmp(k[i], st))
			return v[i];
	return st;
}

enum err cases_handoff_delivery(struct db_conn *c, struct arena *a, const char *case_no,
                                json_t **out)
{
	struct db_rows *rs = NULL;
	char at[32], nx[32];
	*out = NULL;
	enum err e =
	    db_exec(c, a, &rs,
	            "SELECT c.state, c.dept_case_no, c.delivered_at, c.delivery_run_id,"
	            " c.delivery_reported, e.status, e.attempts, e.last_error,"
	            " e.next_attempt_at, e.id, c.dept_system, c.dept_status,"
	            " c.decision_check_at, c.decision_checks, c.decision_error FROM cases c"
	            " LEFT JOIN events e ON e.idempotency_key = ? WHERE c.case_no = ?",
	            "ss", arena_printf(a, "submit:%s", case_no), case_no);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	bool delivered = !db_is_null(rs, 0, 2);
	const char *st = cases_delivery_state(db_text(rs, 0, 0), db_text(rs, 0, 5),
	                                      (int)db_int(rs, 0, 6), delivered);
	if (!st) {
		*out = json_null();
		return ERR_OK;
	}
	bool waiting = !strcmp(st, "pending") || !strcmp(st, "failed");
	*out = json_pack("{s:s,s:s,s:I,s:s?,s:s?,s:s?,s:s?,s:s?}", "state", st, "state_label",
	                 delivery_label(st), "attempts", (json_int_t)db_int(rs, 0, 6), "last_error",
	                 db_text(rs, 0, 7), "dept_case_no", db_text(rs, 0, 1), "delivered_at",
	                 delivered ? time_iso(db_int(rs, 0, 2), at) : NULL, "next_attempt_at",
	                 waiting && !db_is_null(rs, 0, 8) ? time_iso(db_int(rs, 0, 8), nx) : NULL,
	                 "reported", db_text(rs, 0, 4));
	if (*out && !db_is_null(rs, 0, 3))
		json_object_set_new(*out, "run_id", json_integer(db_int(rs, 0, 3)));
	if (*out && !db_is_null(rs, 0, 9))
		json_object_set_new(*out, "event_id", json_integer(db_int(rs, 0, 9)));
	if (*out && delivered) {
		/* the department's side since (cases_decide.c): its system, last status, polls */
		char nc[32];
		const char *ds = db_text(rs, 0, 11);
		json_object_set_new(
		    *out, "decision",
		    json_pack("{s:s?,s:s?,s:I,s:s?,s:s?}", "dept_system", db_text(rs, 0, 10),
		              "dept_status", ds ? arena_strndup(a, ds, strcspn(ds, "@")) : NULL,
		              "checks", (json_int_t)db_int(rs, 0, 13), "next_check_at",
		              db_is_null(rs, 0, 12) ? NULL : time_iso(db_int(rs, 0, 12), nc),
		              "error", db_text(rs, 0, 14)));
	}
	return *out ? ERR_OK : ERR_NOMEM;
}
