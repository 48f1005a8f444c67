/* sim_queries.c: answers to the catalog's lookups that go through a system's generic query
 * method (POST /<prefix>/query {"service": …}), one small function per service, each drawing
 * what the department would know of the person from the population and a per-person hash —
 * so the same person always gets the same answer, and answers agree with the rest of the
 * simulated systems (a 低保 member is a 低保 member everywhere). Field names are those the
 * seeded flows (gateway/flows/) read. "found" says whether the department holds a record. */
#include "sim/sim_int.h"

#include "core/timeutil.h"

static int age_of(struct sim_req *q, const struct sim_person *w)
{
	int y, m, d;
	sim_today(q->now_ms, &y, &m, &d);
	return sim_person_age(w, y, m, d);
}

/* Per-person, per-service randomness. */
static uint64_t h(const struct sim_person *w, uint64_t salt)
{
	return sim_hash(salt, w->id_number);
}

static void set_str(json_t *o, const char *k, const char *v)
{
	json_object_set_new(o, k, v ? json_string(v) : json_null());
}

static void set_date(struct sim_req *q, json_t *o, const char *k, int y, int m, int d)
{
	json_object_set_new(o, k, json_string(arena_printf(q->a, "%04d-%02d-%02d", y, m, d)));
}

static void set_found(json_t *o, bool found)
{
	json_object_set_new(o, "found", json_boolean(found));
}

static const char *tail4(struct sim_req *q, const char *acct)
{
	size_t n = acct ? strlen(acct) : 0;
	return n >= 4 ? arena_strdup(q->a, acct + n - 4) : NULL;
}

/* ---- 社保 / 城乡居保 / 就业 / 人社 ---- */

static int retire_age(const struct sim_person *w)
{
	return w->gender == 'M' ? 60 : 55;
}

static void q_account(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	set_found(o, w->insured != SIM_INS_NONE);
	/* the individual account holds 8 % of the bases paid */
	json_object_set_new(
	    o, "balance",
	    json_real((double)(w->contribution_months * (600 + (int)(h(w, 41) % 900)))));
	(void)q;
}

static void q_auth(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool retired = w->ins_status == SIM_INS_RETIRED;
	set_found(o, retired);
	int y, m, d;
	sim_today(q->now_ms, &y, &m, &d);
	if (retired)
		set_date(q, o, "last_auth_date", y - (int)(h(w, 42) % 2), 1 + (int)(h(w, 43) % 12),
		         1 + (int)(h(w, 44) % 28));
	else
		set_str(o, "last_auth_date", NULL);
}

static void q_overpayment(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool over = w->insured != SIM_INS_NONE && h(w, 45) % 100 < 8;
	set_found(o, over);
	json_object_set_new(o, "amount", json_real(over ? (double)(100 + h(w, 46) % 3000) : 0.0));
	json_object_set_new(o, "overpaid_months", json_integer(over ? 1 + (int)(h(w, 47) % 6) : 0));
	(void)q;
}

static void q_payment_history(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	set_found(o, w->insured != SIM_INS_NONE);
	json_object_set_new(o, "paid_amount",
	                    json_real((double)w->contribution_months *
	                              (w->insured == SIM_INS_EMPLOYEE ? 1200.0 : 90.0)));
	json_object_set_new(o, "months", json_integer(w->contribution_months));
	(void)q;
}

static void q_payment(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	set_found(o, w->insured != SIM_INS_NONE);
	set_str(o, "account_tail", tail4(q, w->bank_account));
	set_str(o, "suspend_reason", w->ins_status == SIM_INS_SUSPENDED ? "单位停缴" : NULL);
	set_str(o, "status",
	        w->insured == SIM_INS_NONE           ? "未参保"
	        : w->ins_status == SIM_INS_SUSPENDED ? "暂停缴费"
	        : w->ins_status == SIM_INS_RETIRED   ? "待遇享受"
	                                             : "正常缴费");
}

static void q_retire_age(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	set_found(o, w->insured != SIM_INS_NONE);
	set_date(q, o, "legal_retire_date", w->birth_y + retire_age(w), w->birth_m, 1);
}

static void q_retire(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool retired = w->ins_status == SIM_INS_RETIRED;
	set_found(o, retired);
	if (retired)
		set_date(q, o, "retire_date", w->birth_y + retire_age(w), w->birth_m, 1);
	else
		set_str(o, "retire_date", NULL);
}

static void q_unemployment(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool reg = w->insured == SIM_INS_EMPLOYEE && w->ins_status == SIM_INS_SUSPENDED;
	set_found(o, reg);
	json_object_set_new(o, "receiving", json_boolean(reg && h(w, 48) % 2));
	json_object_set_new(o, "paid_months", json_integer(reg ? (int)(h(w, 49) % 24) : 0));
	json_object_set_new(o, "registered", json_boolean(reg));
	(void)q;
}

static void q_si_months(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	set_found(o, w->insured != SIM_INS_NONE);
	json_object_set_new(o, "months", json_integer(w->contribution_months));
	(void)q;
}

static void q_permit_points(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	/* 居住证积分: people from elsewhere with years of social insurance here */
	bool on = !w->hukou_sh && w->insured == SIM_INS_EMPLOYEE;
	set_found(o, on);
	json_object_set_new(o, "qualified", json_boolean(on && w->contribution_months >= 72));
	json_object_set_new(o, "points", json_integer(on ? 60 + (int)(h(w, 50) % 80) : 0));
	(void)q;
}

static void q_jubao_person(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool res = w->insured == SIM_INS_RESIDENT;
	set_found(o, res);
	json_object_set_new(o, "paid_years", json_integer(res ? w->contribution_months / 12 : 0));
	set_str(o, "status",
	        !res                               ? "未参保"
	        : w->ins_status == SIM_INS_RETIRED ? "待遇享受"
	                                           : "正常缴费");
	(void)q;
}

static void q_jubao_account(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool res = w->insured == SIM_INS_RESIDENT;
	set_found(o, res);
	json_object_set_new(o, "balance",
	                    json_real(res ? (double)(w->contribution_months * 75) : 0.0));
	(void)q;
}

static void q_jiuye_hardship(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool on = w->dibao || (w->ins_status == SIM_INS_SUSPENDED && h(w, 51) % 3 == 0);
	set_found(o, on);
	json_object_set_new(o, "confirmed", json_boolean(on));
	(void)q;
}

static void q_jiuye_registration(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool unemployed = w->insured == SIM_INS_EMPLOYEE && w->ins_status == SIM_INS_SUSPENDED;
	bool employed = w->insured == SIM_INS_EMPLOYEE && w->ins_status == SIM_INS_PAYING;
	set_found(o, unemployed || employed);
	json_object_set_new(o, "unemployed_registered", json_boolean(unemployed));
	set_str(o, "status_text", unemployed ? "失业登记" : employed ? "就业登记" : "无登记记录");
	(void)q;
}

/* ---- 税务 ---- */

static void q_flex_base(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	set_found(o, true);
	json_object_set_new(o, "floor", json_integer(7310));
	json_object_set_new(o, "ceiling", json_integer(36549));
	json_object_set_new(o, "base", json_integer(7310 + (int)(h(w, 52) % 80) * 100));
	(void)q;
}

static void q_jubao_backpay(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool owed = w->insured == SIM_INS_RESIDENT && h(w, 53) % 100 < 15;
	set_found(o, owed);
	set_str(o, "notice_no",
	        owed ? arena_printf(q->a, "BJ%014llu",
	                            (unsigned long long)(h(w, 54) % 100000000000000ULL))
	             : NULL);
}

static void q_jubao_status(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	static const int grades[] = {500, 700, 900, 1100, 1300, 1700, 2300, 3300, 4300, 5300};
	bool res = w->insured == SIM_INS_RESIDENT;
	int g = (int)(h(w, 55) % 7);
	set_found(o, true);
	json_object_set_new(o, "insured", json_boolean(res));
	json_object_set_new(o, "grade", res ? json_integer(g + 1) : json_null());
	json_object_set_new(o, "paid_amount",
	                    json_integer(res && w->ins_status == SIM_INS_PAYING ? grades[g] : 0));
	(void)q;
}

static void q_jumin_yibao(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	int age = age_of(q, w);
	bool res = w->medical_region[0] && w->insured != SIM_INS_EMPLOYEE;
	set_found(o, res);
	json_object_set_new(o, "amount_due",
	                    json_integer(!res        ? 0
	                                 : age >= 70 ? 385
	                                 : age >= 60 ? 575
	                                 : age >= 19 ? 905
	                                             : 175));
}

static void q_tax_payment(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool paid = w->insured != SIM_INS_NONE && w->ins_status == SIM_INS_PAYING;
	set_found(o, paid);
	json_object_set_new(
	    o, "amount", json_real(paid ? (w->insured == SIM_INS_EMPLOYEE ? 2400.0 : 900.0) : 0.0));
	set_str(o, "ticket_no",
	        paid ? arena_printf(q->a, "3%019llu",
	                            (unsigned long long)(h(w, 56) % 10000000000000000000ULL))
	             : NULL);
}

static void q_refund_status(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	json_t *list = sim_app_find(q->sim, "shuiwu", "refund", w->id_number, q->now_ms);
	json_t *last = json_array_get(list, 0);
	set_found(o, last != NULL);
	json_object_set(o, "refund_no", last ? json_object_get(last, "dept_case_no") : json_null());
	json_object_set(o, "amount",
	                last ? json_object_get(json_object_get(last, "detail"), "amount")
	                     : json_null());
	const char *st = json_get_str(last, "status");
	set_str(o, "status", !st ? NULL : !strcmp(st, "approved") ? "refunded" : st);
	int y, m, d;
	sim_today(q->now_ms, &y, &m, &d);
	set_str(o, "earliest_period", last ? arena_printf(q->a, "%04d01", y - 1) : NULL);
	json_decref(list);
}

/* ---- 民政 and the departments it fronts ---- */

static void q_dibao(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	set_found(o, true);
	json_object_set_new(o, "is_member", json_boolean(w->dibao));
	(void)q;
}

static void q_assistance(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	set_found(o, w->dibao);
	set_str(o, "type", w->dibao ? "城乡居民最低生活保障" : NULL);
	json_object_set_new(o, "valid", json_boolean(w->dibao));
	(void)q;
}

static void q_relief(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	set_found(o, true);
	set_str(o, "status", w->dibao ? "在保" : "未享受");
	set_str(o, "cert_no",
	        w->dibao ? arena_printf(q->a, "DB%s%06llu", w->district,
	                                (unsigned long long)(h(w, 57) % 1000000ULL))
	                 : NULL);
	set_str(o, "support_mode", w->dibao ? "按月发放" : NULL);
}

static void q_meal(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	json_t *list = sim_app_find(q->sim, "minzheng", "meal_subsidy", w->id_number, q->now_ms);
	json_t *last = json_array_get(list, 0);
	const char *st = json_get_str(last, "status");
	set_found(o, last != NULL);
	set_str(o, "status",
	        !st                        ? "未享受"
	        : !strcmp(st, "approved")  ? "享受中"
	        : !strcmp(st, "rejected")  ? "不予享受"
	        : !strcmp(st, "cancelled") ? "已撤销"
	                                   : "审核中");
	json_decref(list);
}

static void q_union_member(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool member = w->insured == SIM_INS_EMPLOYEE && w->ins_status == SIM_INS_PAYING &&
	              h(w, 58) % 100 < 70;
	set_found(o, member);
	set_str(o, "union_org",
	        member ? arena_printf(q->a, "%s工会委员会", sim_employer_name(w->employer)) : NULL);
}

static void q_union_mutual(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool on = w->insured == SIM_INS_EMPLOYEE && h(w, 59) % 100 < 40;
	set_found(o, on);
	set_str(o, "status_text", on ? "已参加职工保障互助保障计划" : "未参加");
	(void)q;
}

static void q_gongjijin(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool on = w->insured == SIM_INS_EMPLOYEE;
	set_found(o, on);
	set_str(
	    o, "account_no",
	    on ? arena_printf(q->a, "31%012llu", (unsigned long long)(h(w, 60) % 1000000000000ULL))
	       : NULL);
	json_object_set_new(
	    o, "balance",
	    json_real(on ? (double)(w->contribution_months * (500 + (int)(h(w, 61) % 1500)))
	                 : 0.0));
	(void)q;
}

static void q_mailbox(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	/* 一网通办 account ("市民信箱"): most adults with a phone */
	bool on = w->phone[0] && h(w, 62) % 100 < 80;
	set_found(o, on);
	set_str(o, "phone", on ? arena_printf(q->a, "%.3s****%s", w->phone, w->phone + 7) : NULL);
	set_str(o, "username",
	        on ? arena_printf(q->a, "sh%08llu", (unsigned long long)(h(w, 63) % 100000000ULL))
	           : NULL);
}

static bool veteran(struct sim_req *q, const struct sim_person *w)
{
	int age = age_of(q, w);
	return w->gender == 'M' && age >= 35 && age <= 85 && h(w, 64) % 100 < 6;
}

static void q_tuiyi_card(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool v = veteran(q, w);
	set_found(o, v);
	set_str(
	    o, "card_no",
	    v ? arena_printf(q->a, "TY31%010llu", (unsigned long long)(h(w, 65) % 10000000000ULL))
	      : NULL);
}

static void q_tuiyi_veteran(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool v = veteran(q, w);
	set_found(o, v);
	set_str(o, "cert_no",
	        v ? arena_printf(q->a, "JR%010llu", (unsigned long long)(h(w, 66) % 10000000000ULL))
	          : NULL);
	json_object_set_new(o, "collected", json_boolean(v));
}

static void q_birth_reg(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	/* 生育登记: parents of a child under three in the household */
	const struct sim_household *hh = sim_people_household(&q->sim->people, w);
	bool on = false;
	for (int i = hh ? hh->first : 0; hh && i < hh->first + hh->n; i++) {
		const char *r = q->sim->people.people[i].relation;
		if ((!strcmp(r, "子") || !strcmp(r, "女")) &&
		    age_of(q, &q->sim->people.people[i]) < 3 &&
		    (!strcmp(w->relation, "户主") || !strcmp(w->relation, "妻") ||
		     !strcmp(w->relation, "夫")))
			on = true;
	}
	set_found(o, on);
	set_str(o, "reg_no",
	        on ? arena_printf(q->a, "SY%s%08llu", w->district,
	                          (unsigned long long)(h(w, 67) % 100000000ULL))
	           : NULL);
}

static void q_special_family(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	int age = age_of(q, w);
	bool on = w->hukou_sh && age >= 49 && h(w, 68) % 100 < 3;
	set_found(o, on);
	set_str(o, "assist_type",
	        on ? (h(w, 69) % 2 ? "独生子女伤残家庭" : "独生子女死亡家庭") : NULL);
	set_str(o, "status", on ? "正常" : NULL);
}

static void q_co_owned(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	json_t *list = sim_app_find(q->sim, "minzheng", NULL, w->id_number, q->now_ms);
	json_t *hit = NULL;
	size_t i;
	json_t *rec;
	json_array_foreach (list, i, rec) {
		if (strstr(json_get_str(rec, "service"), "co_owned") && !hit)
			hit = rec;
	}
	set_found(o, hit != NULL);
	json_object_set(o, "case_no", hit ? json_object_get(hit, "dept_case_no") : json_null());
	json_decref(list);
}

static void q_lowrent(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool on = w->dibao && w->hukou_sh;
	set_found(o, on);
	set_str(o, "case_no",
	        on ? arena_printf(q->a, "LZ%s%06llu", w->district,
	                          (unsigned long long)(h(w, 70) % 1000000ULL))
	           : NULL);
	json_object_set_new(o, "is_physical", json_boolean(on && h(w, 71) % 2));
}

/* ---- 残联 ---- */

static void q_aid_device(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool on = w->disability_kind != 0 && h(w, 72) % 100 < 50;
	set_found(o, on);
	if (on)
		set_date(q, o, "last_fitted", 2020 + (int)(h(w, 73) % 5), 1 + (int)(h(w, 74) % 12),
		         1 + (int)(h(w, 75) % 28));
	else
		set_str(o, "last_fitted", NULL);
}

static void q_death_info(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	set_found(o, w->deceased);
	int y, m, d;
	sim_today(q->now_ms, &y, &m, &d);
	if (w->deceased)
		set_date(q, o, "death_date", y - 1, 1 + (int)(h(w, 76) % 12),
		         1 + (int)(h(w, 77) % 28));
	else
		set_str(o, "death_date", NULL);
}

static void q_canlian_subsidy(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	bool on = w->disability_kind != 0 && w->bank_account[0];
	set_found(o, on);
	set_str(o, "account",
	        on ? arena_printf(q->a, "%s ****%s", w->bank, tail4(q, w->bank_account)) : NULL);
}

/* ---- 医保 ---- */

static void q_chronic(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	static const char *const diseases[] = {"高血压", "糖尿病", "慢性阻塞性肺疾病", "冠心病",
	                                       "慢性肾病"};
	bool on = w->medical_region[0] && age_of(q, w) >= 45 && h(w, 78) % 100 < 30;
	set_found(o, on);
	set_str(o, "disease", on ? diseases[h(w, 79) % 5] : NULL);
}

static void q_self_pay(struct sim_req *q, const struct sim_person *w, json_t *o)
{
	set_found(o, w->medical_region[0] != 0);
	json_object_set_new(
	    o, "total",
	    json_real(w->medical_region[0] ? (double)(h(w, 80) % 800000) / 100.0 : 0.0));
	(void)q;
}

static const struct {
	const char *service;
	void (*fn)(struct sim_req *q, const struct sim_person *w, json_t *o);
} table[] = {
    {"account_query", q_account},
    {"auth_query", q_auth},
    {"overpayment_query", q_overpayment},
    {"payment_history", q_payment_history},
    {"payment_query", q_payment},
    {"retire_age_query", q_retire_age},
    {"unemployment_query", q_unemployment},
    {"rensha.retire_query", q_retire},
    {"rensha.si_months_query", q_si_months},
    {"rensha.permit_points_query", q_permit_points},
    {"jubao.person_query", q_jubao_person},
    {"jubao.account_query", q_jubao_account},
    {"jubao.overpayment_query", q_overpayment},
    {"jubao.payment_query", q_overpayment},
    {"jiuye.hardship_query", q_jiuye_hardship},
    {"jiuye.registration_query", q_jiuye_registration},
    {"flex_base_query", q_flex_base},
    {"jubao_backpay_query", q_jubao_backpay},
    {"jubao_status_query", q_jubao_status},
    {"jumin_yibao_query", q_jumin_yibao},
    {"refund_status_query", q_refund_status},
    {"dibao_query", q_dibao},
    {"assistance_query", q_assistance},
    {"relief_status_query", q_relief},
    {"meal_subsidy_query", q_meal},
    {"gonghui.member_query", q_union_member},
    {"gonghui.mutual_query", q_union_mutual},
    {"gongjijin.account_query", q_gongjijin},
    {"jingxin.mailbox_query", q_mailbox},
    {"tuiyi.card_query", q_tuiyi_card},
    {"tuiyi.veteran_query", q_tuiyi_veteran},
    {"weijian.birth_reg_query", q_birth_reg},
    {"weijian.special_family_query", q_special_family},
    {"zhujian.co_owned_query", q_co_owned},
    {"zhujian.lowrent_query", q_lowrent},
    {"aid_device_query", q_aid_device},
    {"death_info_query", q_death_info},
    {"subsidy_query", q_canlian_subsidy},
    {"chronic_query", q_chronic},
    {"self_pay_query", q_self_pay},
};

bool sim_query_answer(struct sim_req *q, const char *system, const char *service,
                      const struct sim_person *w, json_t *o)
{
	/* the tax office's payment_query is not the 社保 one */
	if (!strcmp(system, "shuiwu") && !strcmp(service, "payment_query")) {
		q_tax_payment(q, w, o);
		return true;
	}
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(table[i].service, service)) {
			table[i].fn(q, w, o);
			return true;
		}
	return false;
}
