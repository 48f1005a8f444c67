/* sim_bjk.c: 一网通办办件库 — receives case records and validates them as its interface
 * specification 6.0 does, above all the 办理人 (the person who actually handles the case)
 * rules of seed row 182:
 *   - a 监护人 (guardian) present: the 办理人 is the guardian;
 *   - else a 代办人 (agent) present: the 办理人 is the agent;
 *   - else the 办理人 is the applicant;
 *   - 残联 items helped by a 助残员: the disabled person is applicant and 办理人; the helper,
 *     who is no relative, is never recorded as 办理人;
 *   - 公安 人户分离登记 (seed row 28: one of the first two items of the 6.0 upgrade): the
 *     guardian or agent who registers on the person's behalf is the 办理人 (the same order;
 *     the refusal names the police rule).
 * A record that breaks a rule is refused with 422 and every failing field named
 * ({"code","message","field","errors":[{"field","message"}]}). Accepted records are kept per
 * case number, stage by stage (PUT adds a stage), and GET shows what was reported. */
#include "sim/sim_int.h"

#include "core/str.h"

/* Stages and the other spellings senders use for them. */
static const struct {
	const char *name, *alias;
} stages[] = {
    {"apply", "applied"}, {"accept", "accepted"}, {"handle", "handling"}, {"finish", "finished"}};

/* The stage's canonical name; NULL when it is none of them. */
static const char *stage_of(const char *s)
{
	for (size_t i = 0; s && i < sizeof(stages) / sizeof(stages[0]); i++)
		if (!strcmp(s, stages[i].name) || !strcmp(s, stages[i].alias))
			return stages[i].name;
	return NULL;
}

/* The first of two spellings of a member that is a non-empty string. */
static const char *either(const json_t *o, const char *a, const char *b)
{
	const char *v = json_get_str(o, a);
	return v && v[0] ? v : json_get_str(o, b);
}

static void add_err(json_t *errs, const char *field, const char *msg)
{
	json_array_append_new(errs, json_pack("{s:s,s:s}", "field", field, "message", msg));
}

static bool id_ok(const char *id)
{
	if (!id || strlen(id) != 18 || id[0] < '1' || id[0] > '9')
		return false;
	for (int i = 0; i < 17; i++)
		if (id[i] < '0' || id[i] > '9')
			return false;
	char c = id[17] == 'x' ? 'X' : id[17];
	return sim_id_check(id) == c;
}

static const char *cert_no(const json_t *p)
{
	return sim_id_of(p);
}

static const char *cert_type(const json_t *p)
{
	const char *t = either(p, "cert_type", "id_type");
	return t ? t : json_get_str(json_object_get(p, "id_number"), "type");
}

/* Check one person block (applicant, agent, guardian, helper, handler). */
static void check_person(struct sim_req *q, json_t *errs, const json_t *p, const char *role,
                         const char *label)
{
	if (!json_is_object(p)) {
		add_err(errs, role, arena_printf(q->a, "%s信息应为对象", label));
		return;
	}
	const char *name = json_get_str(p, "name"), *no = cert_no(p);
	const char *type = cert_type(p);
	if (!name || !str_trim(str_from(name)).n)
		add_err(errs, arena_printf(q->a, "%s.name", role),
		        arena_printf(q->a, "缺少%s姓名", label));
	if (!no || !no[0]) {
		add_err(errs, arena_printf(q->a, "%s.cert_no", role),
		        arena_printf(q->a, "缺少%s证件号码", label));
		return;
	}
	if ((!type || !strcmp(type, "111")) && !id_ok(no))
		add_err(errs, arena_printf(q->a, "%s.cert_no", role),
		        arena_printf(q->a, "%s居民身份证号码校验未通过", label));
}

static bool same_person(const json_t *a, const json_t *b)
{
	const char *x = cert_no(a), *y = cert_no(b);
	return x && y && !strcasecmp(x, y);
}

/* 公安 人户分离登记 (basic code 310004003000, or its name where a code change renamed it). */
static bool is_rhfl(const json_t *rec)
{
	const char *code = json_get_str(rec, "sub_item_code");
	if (!code)
		code = json_get_str(rec, "item_code");
	size_t n = code ? strlen(code) : 0;
	if (n >= 12 &&
	    (!strncmp(code, "310004003000", 12) || (n == 31 && !strcmp(code + 19, "310004003000"))))
		return true;
	const char *name = json_get_str(rec, "item_name");
	return name && strstr(name, "人户分离");
}

static bool is_canlian(const json_t *rec)
{
	const char *dept = either(rec, "department", "dept");
	const char *code = json_get_str(rec, "sub_item_code");
	if (code && strlen(code) > 12)
		return !strncmp(code, "310006", 6);
	code = json_get_str(rec, "item_code");
	if (dept)
		return !strcmp(dept, "canlian") || !strcmp(dept, "06");
	/* basic code 3100 06 …; an implementation code ends with the basic code */
	size_t n = code ? strlen(code) : 0;
	return n >= 12 && !strncmp(code + n - 12, "310006", 6);
}

/* Validate a whole record against spec 6.0; errors appended, warnings too. */
static void validate(struct sim_req *q, const json_t *rec, json_t *errs, json_t *warns)
{
	const char *case_no = json_get_str(rec, "case_no");
	if (!case_no || !case_no[0])
		add_err(errs, "case_no", "缺少办件编号");
	else if (strlen(case_no) > 50)
		add_err(errs, "case_no", "办件编号不能超过 50 个字符");
	/* the item: a 12-character basic or 31-character implementation code, or the sub-item
	 * code (basic code "-" two digits) */
	const char *code = json_get_str(rec, "item_code");
	const char *sub = json_get_str(rec, "sub_item_code");
	size_t cl = code ? strlen(code) : 0;
	if (code && cl != 12 && cl != 31)
		add_err(errs, "item_code", "事项编码应为 12 位基本编码或 31 位实施编码");
	else if (!code && sub && (strlen(sub) < 13 || sub[12] != '-'))
		add_err(errs, "sub_item_code", "子项编码应为 12 位基本编码加“-”和序号");
	else if (!code && !sub)
		add_err(errs, "item_code", "缺少事项编码");
	const char *stage_in = json_get_str(rec, "stage");
	const char *stage = stage_of(stage_in);
	if (stage_in && !stage)
		add_err(errs, "stage", "办件环节应为 apply、accept、handle 或 finish");
	json_t *ch = json_object_get(rec, "channel");
	char cbuf[24] = "";
	if (json_is_string(ch))
		snprintf(cbuf, sizeof(cbuf), "%s", json_string_value(ch));
	else if (json_is_integer(ch))
		snprintf(cbuf, sizeof(cbuf), "%lld", (long long)json_integer_value(ch));
	if (ch && !json_is_null(ch) && !(strlen(cbuf) == 1 && strchr("12349", cbuf[0])))
		add_err(errs, "channel", "办理形式应为 1 窗口、2 PC、3 移动、4 快递或 9 其他");

	const json_t *ap = json_object_get(rec, "applicant");
	const json_t *agent = json_object_get(rec, "agent");
	const json_t *guardian = json_object_get(rec, "guardian");
	const json_t *helper = json_object_get(rec, "helper");
	const json_t *handler = json_object_get(rec, "handler");
	if (!ap)
		add_err(errs, "applicant", "缺少申请人信息");
	else
		check_person(q, errs, ap, "applicant", "申请人");
	if (agent && !json_is_null(agent))
		check_person(q, errs, agent, "agent", "代办人");
	else
		agent = NULL;
	if (guardian && !json_is_null(guardian))
		check_person(q, errs, guardian, "guardian", "监护人");
	else
		guardian = NULL;
	if (helper && !json_is_null(helper))
		check_person(q, errs, helper, "helper", "助残员");
	else
		helper = NULL;
	if (!handler || json_is_null(handler)) {
		add_err(errs, "handler", "办件库对接规范 6.0 要求填写办理人信息");
	} else {
		check_person(q, errs, handler, "handler", "办理人");
		const json_t *want = NULL;
		const char *rule;
		bool canlian = is_canlian(rec);
		if (canlian && helper) {
			want = ap;
			rule = "残联事项由助残员协助办理时，办理人应为残疾人本人（助残员不作为办理"
			       "人）";
		} else if (is_rhfl(rec) && (guardian || agent)) {
			/* seed row 28: the police want whoever registers on the person's behalf */
			want = guardian ? guardian : agent;
			rule = guardian
			           ? "人户分离登记由监护人代为申请时，办理人应为监护人（公安要求）"
			           : "人户分离登记由代办人代为申请时，办理人应为代办人（公安要求）";
		} else if (guardian) {
			want = guardian;
			rule = "申请人有监护人时，办理人应为监护人";
		} else if (agent) {
			want = agent;
			rule = "有代办人时，办理人应为代办人";
		} else {
			want = ap;
			rule = "无代办人、监护人时，办理人应为申请人本人";
		}
		if (want && cert_no(handler) && !same_person(handler, want)) {
			add_err(errs, "handler.cert_no", rule);
		} else if (want && json_get_str(handler, "name") && json_get_str(want, "name") &&
		           strcmp(json_get_str(handler, "name"), json_get_str(want, "name"))) {
			add_err(errs, "handler.name", "办理人姓名与证件号码对应的人员不一致");
		}
		if (helper && !canlian)
			json_array_append_new(
			    warns, json_pack("{s:s,s:s}", "field", "helper", "message",
			                     "助残员仅适用于残联事项，本事项未按助残员规则处理"));
	}
	if (stage && strcmp(stage, "apply")) {
		const json_t *centre = json_object_get(rec, "centre");
		if (!either(rec, "accepted_at", "accept_time"))
			add_err(errs, "accepted_at", "受理环节应填写受理时间");
		if (!either(rec, "accept_unit", "accept_org") && !either(centre, "name", "code"))
			add_err(errs, "centre", "受理环节应填写受理单位");
	}
	if (stage && !strcmp(stage, "finish")) {
		if (!json_get_str(rec, "result"))
			add_err(errs, "result", "办结环节应填写办理结果");
		if (!either(rec, "finished_at", "finish_time"))
			add_err(errs, "finished_at", "办结环节应填写办结时间");
	}
}

static void refuse(struct sim_req *q, json_t *errs)
{
	char *msg = arena_printf(q->a, "办件信息校验未通过（%zu 项）：%s", json_array_size(errs),
	                         json_get_str(json_array_get(errs, 0), "message"));
	sim_error_fields(q, 422, "RECORD_INVALID", msg, errs);
}

static char *key_of(struct sim_req *q, const char *case_no)
{
	return arena_printf(q->a, "bjk:case:%s", case_no);
}

static void store(struct sim_req *q, const char *case_no, json_t *rec, json_t *prev, json_t *warns)
{
	char no[32];
	const char *rid = json_get_str(prev, "record_id");
	if (!rid) {
		sim_next_no(q->sim, "BJK", q->now_ms, no);
		rid = no;
	}
	json_t *stages_done = prev ? json_deep_copy(json_object_get(prev, "stages")) : json_array();
	const char *stage = json_get_str(rec, "stage");
	/* each stage keeps the code it was reported under (a code change between stages shows) */
	json_array_append_new(stages_done,
	                      json_pack("{s:s,s:s,s:O?}", "stage", stage ? stage : "accept",
	                                "received_at", sim_iso(q, q->now_ms), "sub_item_code",
	                                json_object_get(rec, "sub_item_code")));
	json_t *doc = json_pack("{s:s,s:O,s:o,s:s}", "record_id", rid, "record", rec, "stages",
	                        stages_done, "updated_at", sim_iso(q, q->now_ms));
	sim_state_set(q->sim, key_of(q, case_no), doc);
	json_t *o = json_pack("{s:b,s:s,s:s}", "accepted", 1, "record_id", rid, "received_at",
	                      sim_iso(q, q->now_ms));
	if (json_array_size(warns))
		json_object_set(o, "warnings", warns);
	sim_reply(q, 200, o);
}

/* POST /bjk/cases: a case record; the same case number again replaces it. */
static void case_report(struct sim_req *q)
{
	json_t *errs = json_array(), *warns = json_arena_own(q->a, json_array());
	validate(q, q->body, errs, warns);
	if (json_array_size(errs)) {
		refuse(q, errs);
		return;
	}
	json_decref(errs);
	const char *case_no = json_get_str(q->body, "case_no");
	json_t *prev = sim_state_get(q->sim, key_of(q, case_no));
	store(q, case_no, q->body, prev, warns);
	json_decref(prev);
}

/* PUT /bjk/cases/{case_no} {stage, …}: a later stage of a reported case; the merged record is
 * validated as a whole. */
static void case_update(struct sim_req *q)
{
	const char *case_no = req_param(q->r, "case_no");
	json_t *prev = sim_state_get(q->sim, key_of(q, case_no));
	if (!prev) {
		sim_error(q, 404, "CASE_NOT_FOUND", "办件库中没有该办件：%s", case_no);
		return;
	}
	if (!json_get_str(q->body, "stage")) {
		json_decref(prev);
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "RECORD_INVALID", "message",
		                    "缺少办件环节（stage）", "field", "stage"));
		return;
	}
	json_t *merged = json_deep_copy(json_object_get(prev, "record"));
	json_object_update(merged, q->body);
	json_object_set_new(merged, "case_no", json_string(case_no));
	json_arena_own(q->a, merged);
	json_t *errs = json_array(), *warns = json_arena_own(q->a, json_array());
	validate(q, merged, errs, warns);
	if (json_array_size(errs)) {
		json_decref(prev);
		refuse(q, errs);
		return;
	}
	json_decref(errs);
	store(q, case_no, merged, prev, warns);
	json_decref(prev);
}

static void case_query(struct sim_req *q)
{
	const char *case_no = req_param(q->r, "case_no");
	json_t *doc = sim_state_get(q->sim, key_of(q, case_no));
	if (!doc) {
		sim_error(q, 404, "CASE_NOT_FOUND", "办件库中没有该办件：%s", case_no);
		return;
	}
	sim_reply(q, 200, doc);
}

static const struct sim_endpoint endpoints[] = {
    {"POST", "/cases", case_report, 0, "办件信息上报（对接规范 6.0 校验）"},
    {"PUT", "/cases/{case_no}", case_update, 0, "办件环节更新"},
    {"GET", "/cases/{case_no}", case_query, 0, "办件查询"},
};

const struct sim_system sim_system_bjk = {
    "bjk", "一网通办办件库", endpoints, sizeof(endpoints) / sizeof(endpoints[0]), NULL, NULL,
};
