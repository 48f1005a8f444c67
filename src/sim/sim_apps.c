/* sim_apps.c: the generic application endpoints every department system offers (docs/
 * gateway.md "Generic applications"): submit, status, cancel and query. A submission is
 * checked as the department would (the applicant must be a resident the population register
 * knows, with the name that goes with the ID number), gets a department case number at once
 * and a decision later; the same (service, case_no) returns the same number. */
#include "sim/sim_int.h"

json_t *sim_apps_view(const json_t *rec)
{
	json_t *o = json_pack(
	    "{s:O,s:O,s:O,s:O,s:O,s:O,s:O,s:O}", "dept_case_no",
	    json_object_get(rec, "dept_case_no"), "service", json_object_get(rec, "service"),
	    "case_no", json_object_get(rec, "case_no"), "status", json_object_get(rec, "status"),
	    "decision", json_object_get(rec, "decision"), "decided_at",
	    json_object_get(rec, "decided_at"), "received_at", json_object_get(rec, "received_at"),
	    "history", json_object_get(rec, "history"));
	/* a correction names what the department wants supplied */
	const char *st = json_get_str(rec, "status");
	const json_t *items = json_object_get(json_object_get(rec, "detail"), "correction_items");
	if (o && st && !strcmp(st, "correction") && items)
		json_object_set(o, "items", (json_t *)items);
	if (o && json_object_get(rec, "cert_no"))
		json_object_set(o, "cert_no", json_object_get(rec, "cert_no"));
	return o;
}

/* The applicant of a submission: known to the register, name matching; NULL after
 * answering. */
static const struct sim_person *applicant(struct sim_req *q, const json_t *body)
{
	json_t *ap = json_object_get(body, "applicant");
	const char *id = ap ? sim_id_of(ap) : json_get_str(body, "id_number");
	if (!id) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "MISSING_APPLICANT", "message",
		                    "缺少申请人身份证号码", "field", "applicant.id_number"));
		return NULL;
	}
	const struct sim_person *w =
	    sim_need_person(q, id, ap ? "applicant.id_number" : "id_number", "PERSON_NOT_FOUND");
	if (!w)
		return NULL;
	const char *name = json_get_str(ap, "name");
	if (name && name[0] && strcmp(name, w->name)) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "NAME_MISMATCH", "message",
		                    "申请人姓名与身份证号码不一致", "field", "applicant.name"));
		return NULL;
	}
	json_t *ag = json_object_get(body, "agent");
	const char *agid = sim_id_of(ag);
	if (agid && !sim_need_person(q, agid, "agent.id_number", "PERSON_NOT_FOUND"))
		return NULL;
	return w;
}

void sim_apps_apply(struct sim_req *q)
{
	const char *service = sim_need_str(q, q->body, "service", "业务类型");
	if (!service)
		return;
	const char *case_no = sim_need_str(q, q->body, "case_no", "受理办件编号");
	if (!case_no)
		return;
	const struct sim_person *w = applicant(q, q->body);
	if (!w)
		return;
	json_t *verdict = NULL;
	if (w->deceased)
		verdict = sim_verdict(false, "申请人已死亡（户籍已注销），不予受理");
	else if (q->sys->verdict)
		verdict = q->sys->verdict(q, service, w, q->body);
	if (q->answered) { /* the system refused the request outright */
		json_decref(verdict);
		return;
	}
	json_t *detail =
	    json_pack("{s:s,s:O?,s:O?}", "name", w->name, "agent",
	              json_object_get(q->body, "agent"), "form", json_object_get(q->body, "form"));
	json_t *rec = sim_app_submit(q->sim, q->sys->name, service, case_no, w->id_number, detail,
	                             verdict, q->now_ms);
	if (!rec)
		return;
	json_t *o = json_pack("{s:O,s:O,s:O}", "dept_case_no", json_object_get(rec, "dept_case_no"),
	                      "status", json_object_get(rec, "status"), "received_at",
	                      json_object_get(rec, "received_at"));
	if (json_is_true(json_object_get(rec, "duplicate")))
		json_object_set_new(o, "duplicate", json_true());
	json_decref(rec);
	sim_reply(q, 200, o);
}

void sim_apps_status(struct sim_req *q)
{
	const char *no = req_param(q->r, "no");
	json_t *rec = sim_app_get(q->sim, q->sys->name, no, q->now_ms);
	if (!rec) {
		sim_error(q, 404, "NOT_FOUND", "办件编号不存在：%s", no);
		return;
	}
	sim_reply(q, 200, sim_apps_view(rec));
	json_decref(rec);
}

void sim_apps_cancel(struct sim_req *q)
{
	const char *no = req_param(q->r, "no");
	json_t *rec = NULL;
	json_t *reason = json_object_get(q->body, "reason");
	json_t *chg = reason ? json_pack("{s:O}", "reason", reason) : NULL;
	enum err e = sim_app_update(q->sim, q->sys->name, no, "cancel", chg, q->now_ms, &rec);
	json_decref(chg);
	if (e == ERR_NOT_FOUND) {
		sim_error(q, 404, "NOT_FOUND", "办件编号不存在：%s", no);
		return;
	}
	if (e) {
		sim_error(q, 409, "ALREADY_DECIDED", "申请已办结，不能撤销");
		return;
	}
	sim_reply(
	    q, 200,
	    json_pack("{s:s,s:s}", "dept_case_no", no, "status", json_get_str(rec, "status")));
	json_decref(rec);
}

void sim_apps_query(struct sim_req *q)
{
	const char *service = sim_need_str(q, q->body, "service", "查询类型");
	if (!service)
		return;
	const char *id = json_get_str(q->body, "id_number");
	if (!id)
		id = sim_id_of(json_object_get(q->body, "applicant"));
	const struct sim_person *w = sim_need_person(q, id, "id_number", "PERSON_NOT_FOUND");
	if (!w) {
		/* a well-formed number nobody has: the systems answer "not found", not an error */
		if (q->w->status == 404) {
			json_decref(q->w->json);
			q->w->json = NULL;
			sim_reply(q, 200,
			          json_pack("{s:b,s:s,s:s}", "found", 0, "service", service,
			                    "id_number", id));
		}
		return;
	}
	const char *name = json_get_str(q->body, "name");
	if (name && name[0] && strcmp(name, w->name)) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "NAME_MISMATCH", "message",
		                    "姓名与身份证号码不一致", "field", "name"));
		return;
	}
	json_t *o = json_pack("{s:b,s:s,s:s,s:s}", "found", 1, "service", service, "id_number",
	                      w->id_number, "name", w->name);
	bool known = (q->sys->query && q->sys->query(q, service, w, o)) ||
	             sim_query_answer(q, q->sys->name, service, w, o);
	if (q->answered) {
		json_decref(o);
		return;
	}
	if (!known) {
		json_object_set_new(o, "status", json_string(w->deceased ? "注销" : "正常"));
		json_object_set_new(o, "region", json_string(w->district));
		json_object_set_new(
		    o, "records",
		    sim_app_find(q->sim, q->sys->name, NULL, w->id_number, q->now_ms));
	}
	sim_reply(q, 200, o);
}
