/* sim_gongan.c: 公安人口库 — a SOAP 1.1 web service (POST /gongan/ws/rkk, namespace
 * urn:gongan:rkk, HTTP Basic) as docs/gateway.md "gongan SOAP service" specifies: persons,
 * households, residence permits, 敬老卡, and applications (居住登记, 户籍 matters, 敬老卡).
 * Also the SOAP envelope helpers the pipeline uses (libxml2 parses every request; answers
 * are written as text with escaping). */
#include "sim/sim_int.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#define SOAP11_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define SOAP12_NS "http://www.w3.org/2003/05/soap-envelope"
#define RKK_NS    "urn:gongan:rkk"

/* ---- envelopes ---- */

static void free_doc(void *d)
{
	xmlFreeDoc(d);
}

static bool is_el(const xmlNode *n, const char *local)
{
	return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, local);
}

static const xmlNode *first_el(const xmlNode *n)
{
	for (; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

static bool soap12(const struct sim_req *q)
{
	const xmlDoc *d = q->soap;
	const xmlNode *root = d ? xmlDocGetRootElement((xmlDoc *)d) : NULL;
	return root && root->ns && root->ns->href &&
	       !strcmp((const char *)root->ns->href, SOAP12_NS);
}

static void xml_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '&': buf_puts(b, "&amp;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		default: buf_putc(b, *s);
		}
	}
}

static void envelope_open(struct buf *b, bool v12)
{
	buf_printf(b,
	           "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
	           "<soap:Envelope xmlns:soap=\"%s\"><soap:Body>",
	           v12 ? SOAP12_NS : SOAP11_NS);
}

static void send_xml(struct sim_req *q, int status, struct buf *b)
{
	buf_puts(b, "</soap:Body></soap:Envelope>");
	sim_reply_raw(q, status,
	              soap12(q) ? "application/soap+xml; charset=utf-8" : "text/xml; charset=utf-8",
	              b->p ? b->p : "", b->len);
}

void sim_soap_fault(struct sim_req *q, int status, const char *code, const char *msg)
{
	struct buf b;
	buf_init(&b, 1u << 16);
	bool v12 = soap12(q);
	envelope_open(&b, v12);
	if (v12) {
		buf_printf(&b,
		           "<soap:Fault><soap:Code><soap:Value>%s</soap:Value></soap:Code>"
		           "<soap:Reason><soap:Text xml:lang=\"zh-CN\">",
		           strstr(code, "Client") ? "soap:Sender" : "soap:Receiver");
		xml_escape(&b, msg);
		buf_puts(&b, "</soap:Text></soap:Reason></soap:Fault>");
	} else {
		buf_printf(&b, "<soap:Fault><faultcode>%s</faultcode><faultstring>", code);
		xml_escape(&b, msg);
		buf_puts(&b, "</faultstring></soap:Fault>");
	}
	/* SOAP 1.1 says faults travel with 500; a refused credential stays 401 */
	send_xml(q, status == 401 ? 401 : 500, &b);
	buf_release(&b);
}

bool sim_soap_parse(struct sim_req *q)
{
	xmlDoc *doc = NULL;
	if (q->r->body_len)
		doc = xmlReadMemory(q->r->body, (int)q->r->body_len, NULL, "UTF-8",
		                    XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
		                        XML_PARSE_NOWARNING);
	if (doc && arena_defer(q->a, free_doc, doc) != 0)
		doc = NULL;
	const xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
	const char *ns = root && root->ns ? (const char *)root->ns->href : "";
	if (!is_el(root, "Envelope") || (strcmp(ns, SOAP11_NS) && strcmp(ns, SOAP12_NS))) {
		sim_soap_fault(q, 500, "soap:Client", "请求报文不是合法的 SOAP 信封");
		return false;
	}
	q->soap = doc;
	const xmlNode *body = NULL;
	for (const xmlNode *n = first_el(root->children); n; n = first_el(n->next))
		if (is_el(n, "Body"))
			body = n;
	const xmlNode *op = body ? first_el(body->children) : NULL;
	if (!op) {
		sim_soap_fault(q, 500, "soap:Client", "SOAP Body 中没有操作元素");
		return false;
	}
	q->soap_op_node = (void *)op;
	q->soap_op = arena_strdup(q->a, (const char *)op->name);
	q->soap_ns = arena_strdup(q->a, op->ns && op->ns->href ? (const char *)op->ns->href : "");
	return q->soap_op && q->soap_ns;
}

static const char *node_text(struct sim_req *q, const xmlNode *n)
{
	xmlChar *t = xmlNodeGetContent(n);
	const char *s = arena_strdup(q->a, t ? (const char *)t : "");
	xmlFree(t);
	return s;
}

const char *sim_soap_arg(struct sim_req *q, const char *local)
{
	const xmlNode *op = q->soap_op_node;
	if (!op || !local)
		return NULL;
	for (const xmlNode *n = first_el(op->children); n; n = first_el(n->next))
		if (is_el(n, local))
			return node_text(q, n);
	return NULL;
}

json_t *sim_soap_args_json(struct sim_req *q)
{
	json_t *o = json_object();
	const xmlNode *op = q->soap_op_node;
	for (const xmlNode *n = op ? first_el(op->children) : NULL; n; n = first_el(n->next))
		if (!json_object_get(o, (const char *)n->name))
			json_object_set_new(o, (const char *)n->name, json_string(node_text(q, n)));
	return json_arena_own(q->a, o);
}

static void put_value(struct buf *b, const char *name, const json_t *v)
{
	if (json_is_array(v)) {
		size_t i;
		json_t *e;
		json_array_foreach (v, i, e)
			put_value(b, name, e);
		return;
	}
	buf_printf(b, "<rk:%s>", name);
	if (json_is_object(v)) {
		const char *k;
		json_t *c;
		json_object_foreach ((json_t *)v, k, c)
			put_value(b, k, c);
	} else if (json_is_string(v)) {
		xml_escape(b, json_string_value(v));
	} else if (json_is_integer(v)) {
		buf_printf(b, "%lld", (long long)json_integer_value(v));
	} else if (json_is_real(v)) {
		buf_printf(b, "%.2f", json_real_value(v));
	} else if (json_is_boolean(v)) {
		buf_puts(b, json_is_true(v) ? "true" : "false");
	}
	buf_printf(b, "</rk:%s>", name);
}

void sim_soap_reply(struct sim_req *q, const char *op, const char *ns, const json_t *v)
{
	struct buf b;
	buf_init(&b, 4u << 20);
	envelope_open(&b, soap12(q));
	buf_printf(&b, "<rk:%sResponse xmlns:rk=\"", op);
	xml_escape(&b, ns && ns[0] ? ns : RKK_NS);
	buf_puts(&b, "\">");
	const char *k;
	json_t *c;
	json_object_foreach ((json_t *)v, k, c)
		put_value(&b, k, c);
	buf_printf(&b, "</rk:%sResponse>", op);
	send_xml(q, 200, &b);
	buf_release(&b);
}

/* ---- the service ---- */

static void reply(struct sim_req *q, json_t *v)
{
	sim_soap_reply(q, q->soap_op, q->soap_ns, v);
	json_decref(v);
}

/* The person named by <Sfzh>; NULL after a fault. */
static const struct sim_person *person_arg(struct sim_req *q)
{
	const char *id = sim_soap_arg(q, "Sfzh");
	if (!id || !id[0]) {
		sim_soap_fault(q, 500, "soap:Client", "缺少身份证号码（Sfzh）");
		return NULL;
	}
	char norm[19];
	snprintf(norm, sizeof(norm), "%s", id);
	if (strlen(id) == 18 && norm[17] == 'x')
		norm[17] = 'X';
	bool ok = strlen(id) == 18;
	for (int i = 0; ok && i < 17; i++)
		ok = norm[i] >= '0' && norm[i] <= '9';
	if (!ok || sim_id_check(norm) != norm[17]) {
		sim_soap_fault(q, 500, "soap:Client", "身份证号码格式错误");
		return NULL;
	}
	const struct sim_person *w = sim_people_find(&q->sim->people, norm);
	if (!w)
		sim_soap_fault(q, 500, "soap:Client", "查无此人");
	return w;
}

static void compact_date(const struct sim_person *w, char out[16])
{
	snprintf(out, 16, "%04d%02d%02d", w->birth_y, w->birth_m, w->birth_d);
}

static const char *person_status(struct sim_req *q, const struct sim_person *w)
{
	char key[64];
	snprintf(key, sizeof(key), "gongan:moved:%s", w->id_number);
	json_t *moved = sim_state_get(q->sim, key);
	bool m = moved != NULL;
	json_decref(moved);
	return w->deceased ? "死亡" : m ? "迁出" : "正常";
}

static void query_person(struct sim_req *q)
{
	const struct sim_person *w = person_arg(q);
	if (!w)
		return;
	char birth[24];
	compact_date(w, birth);
	const struct sim_household *h = sim_people_household(&q->sim->people, w);
	static const char *const nations[] = {"汉族", "回族", "满族", "蒙古族", "朝鲜族", "壮族"};
	reply(q, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "Sfzh", w->id_number, "Xm",
	                   w->name, "Xb", w->gender == 'M' ? "1" : "2", "Csrq", birth, "Mz",
	                   nations[w->nation], "Hjdz", w->hukou_address, "Jzdz", w->address, "Hh",
	                   w->hukou_sh && h ? h->no : "", "Zt", person_status(q, w)));
}

static void query_household(struct sim_req *q)
{
	const char *no = sim_soap_arg(q, "Hh");
	if (!no || !no[0]) {
		sim_soap_fault(q, 500, "soap:Client", "缺少户号（Hh）");
		return;
	}
	const struct sim_people *p = &q->sim->people;
	for (int i = 0; i < p->nhouseholds; i++) {
		const struct sim_household *h = &p->households[i];
		if (strcmp(h->no, no) || !h->hukou_sh)
			continue;
		json_t *cy = json_array();
		for (int k = h->first; k < h->first + h->n; k++)
			if (!p->people[k].deceased)
				json_array_append_new(cy, json_pack("{s:s,s:s,s:s}", "Sfzh",
				                                    p->people[k].id_number, "Xm",
				                                    p->people[k].name, "Gx",
				                                    p->people[k].relation));
		reply(q, json_pack("{s:s,s:s,s:o}", "Hh", h->no, "Dz",
		                   p->people[h->first].hukou_address, "Cy", cy));
		return;
	}
	sim_soap_fault(q, 500, "soap:Client", "查无此户");
}

static void query_residence(struct sim_req *q)
{
	const struct sim_person *w = person_arg(q);
	if (!w)
		return;
	if (w->hukou_sh || !w->housing) { /* no permit: an empty answer, not a fault */
		reply(q, json_pack("{s:s,s:s,s:s,s:s}", "Sfzh", w->id_number, "Jzzh", "", "Yxq", "",
		                   "Zt", "无居住证"));
		return;
	}
	uint64_t h = sim_hash(q->sim->cfg.seed, w->id_number);
	char no[16];
	snprintf(no, sizeof(no), "31%010llu", (unsigned long long)(h % 10000000000ULL));
	/* valid up to three years from a date around the reference year; some have lapsed */
	int y, m, d;
	sim_today(q->now_ms, &y, &m, &d);
	int months = (int)(h >> 40) % 40 - 4;
	int idx = y * 12 + (m - 1) + months;
	int ey = idx / 12, em = idx % 12 + 1;
	char until[16];
	snprintf(until, sizeof(until), "%04d%02d%02d", ey, em, 1 + (int)((h >> 20) % 28));
	char today[16];
	snprintf(today, sizeof(today), "%04d%02d%02d", y, m, d);
	reply(q, json_pack("{s:s,s:s,s:s,s:s}", "Sfzh", w->id_number, "Jzzh", no, "Yxq", until,
	                   "Zt", strcmp(until, today) < 0 ? "已过期" : "有效"));
}

static void query_elder_card(struct sim_req *q)
{
	const struct sim_person *w = person_arg(q);
	if (!w)
		return;
	char key[64];
	snprintf(key, sizeof(key), "gongan:elder_card:%s", w->id_number);
	json_t *issued = sim_state_get(q->sim, key);
	const char *kh = w->elder_card[0] ? w->elder_card : json_string_value(issued);
	reply(q, json_pack("{s:s,s:s,s:s}", "Sfzh", w->id_number, "Kh", kh ? kh : "", "Zt",
	                   w->deceased ? "注销"
	                   : kh        ? "正常"
	                               : "未办理"));
	json_decref(issued);
}

static json_t *verdict(struct sim_req *q, const char *service, const struct sim_person *w,
                       const json_t *form)
{
	int y, m, d;
	sim_today(q->now_ms, &y, &m, &d);
	int age = sim_person_age(w, y, m, d);
	if (strstr(service, "residence")) {
		if (w->hukou_sh)
			return sim_verdict(false, "本市户籍人员无需办理居住登记");
		const char *housing = json_get_str(form, "housing");
		if (housing && !strcmp(housing, "租赁") && !w->lease_filing[0])
			return sim_verdict(false,
			                   "未查询到住房租赁合同备案信息，请补充租赁备案证明");
		return sim_verdict(true, "准予居住登记");
	}
	if (strstr(service, "elder_card")) {
		if (!w->hukou_sh)
			return sim_verdict(false, "非本市户籍人员不符合敬老卡申领条件");
		if (age < 60)
			return sim_verdict(false, "申请人未满 60 周岁，不符合敬老卡申领条件");
		if (w->elder_card[0])
			return sim_verdict(false,
			                   "申请人已持有敬老卡（%s），如需补换请选择补换情形",
			                   w->elder_card);
		return sim_verdict(true, "准予办理敬老卡，制卡后邮寄送达");
	}
	if (strstr(service, "hukou") || strstr(service, "separation")) {
		if (!w->hukou_sh)
			return sim_verdict(false, "申请人非本市户籍，请至户籍地公安机关办理");
		return sim_verdict(true, "准予办理");
	}
	return sim_verdict(true, "准予办理");
}

static const char *status_zh(const char *st)
{
	if (!strcmp(st, "received"))
		return "受理";
	if (!strcmp(st, "processing"))
		return "办理中";
	if (!strcmp(st, "approved"))
		return "通过";
	if (!strcmp(st, "rejected"))
		return "不通过";
	if (!strcmp(st, "correction"))
		return "补正";
	return "撤销";
}

static void submit_application(struct sim_req *q)
{
	const char *service = sim_soap_arg(q, "Ywlx"), *case_no = sim_soap_arg(q, "Ajbh");
	const char *name = sim_soap_arg(q, "Xm"), *form_text = sim_soap_arg(q, "Sqnr");
	if (!service || !service[0] || !case_no || !case_no[0]) {
		sim_soap_fault(q, 500, "soap:Client",
		               !service || !service[0] ? "缺少业务类型（Ywlx）"
		                                       : "缺少受理编号（Ajbh）");
		return;
	}
	const struct sim_person *w = person_arg(q);
	if (!w)
		return;
	if (name && name[0] && strcmp(name, w->name)) {
		sim_soap_fault(q, 500, "soap:Client", "姓名与身份证号码不一致");
		return;
	}
	json_t *form = form_text && form_text[0] ? json_loads(form_text, 0, NULL) : json_object();
	if (!json_is_object(form)) {
		json_decref(form);
		sim_soap_fault(q, 500, "soap:Client", "申请内容（Sqnr）不是合法的 JSON 对象");
		return;
	}
	json_t *v = w->deceased ? sim_verdict(false, "申请人已死亡（户籍已注销）")
	                        : verdict(q, service, w, form);
	json_t *rec =
	    sim_app_submit(q->sim, "gongan", service, case_no, w->id_number,
	                   json_pack("{s:s,s:o}", "name", w->name, "form", form), v, q->now_ms);
	if (!rec)
		return;
	reply(q, json_pack("{s:s,s:s}", "Bjbh", json_get_str(rec, "dept_case_no"), "Zt",
	                   status_zh(json_get_str(rec, "status"))));
	json_decref(rec);
}

static void query_application(struct sim_req *q)
{
	const char *no = sim_soap_arg(q, "Bjbh");
	json_t *rec = no ? sim_app_get(q->sim, "gongan", no, q->now_ms) : NULL;
	if (!rec) {
		sim_soap_fault(q, 500, "soap:Client", "办件编号不存在");
		return;
	}
	const char *dec = json_get_str(rec, "decision"), *at = json_get_str(rec, "decided_at");
	reply(q, json_pack("{s:s,s:s,s:s,s:s}", "Bjbh", no, "Zt",
	                   status_zh(json_get_str(rec, "status")), "Jg", dec ? dec : "", "Sj",
	                   at ? at : json_get_str(rec, "received_at")));
	json_decref(rec);
}

static void cancel_application(struct sim_req *q)
{
	const char *no = sim_soap_arg(q, "Bjbh");
	json_t *rec = NULL;
	enum err e = no ? sim_app_update(q->sim, "gongan", no, "cancel", NULL, q->now_ms, &rec)
	                : ERR_NOT_FOUND;
	if (e == ERR_NOT_FOUND)
		sim_soap_fault(q, 500, "soap:Client", "办件编号不存在");
	else if (e)
		sim_soap_fault(q, 500, "soap:Client", "申请已办结，不能撤销");
	else
		reply(q, json_pack("{s:s,s:s}", "Bjbh", no, "Zt",
		                   status_zh(json_get_str(rec, "status"))));
	json_decref(rec);
}

/* A 统一社会信用代码 (GB 32100): '9' '1' (enterprise), the district, the 9-character
 * organisation code with its GB 11714 check, then the code's own check character. */
static void uscc(uint64_t h, const char *district, char out[19])
{
	static const char cs[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
	static const int ow[8] = {3, 7, 9, 10, 5, 8, 4, 2};
	char org[9];
	int sum = 0;
	for (int i = 0; i < 8; i++) {
		org[i] = (char)('0' + (h >> (i * 4)) % 10);
		sum += (org[i] - '0') * ow[i];
	}
	int c9 = 11 - sum % 11;
	org[8] = c9 == 10 ? 'X' : c9 == 11 ? '0' : (char)('0' + c9);
	snprintf(out, 19, "91%.6s%.9s", district, org);
	sum = 0;
	for (int i = 0, w = 1; i < 17; i++, w = w * 3 % 31) {
		const char *p = strchr(cs, out[i]);
		sum += (int)(p ? p - cs : 0) * w;
	}
	out[17] = cs[(31 - sum % 31) % 31];
	out[18] = 0;
}

/* Query (the connector's generic "query" method): Ywlx names what is asked. Answers use
 * Cz (found), Zmbh (permit no), Yxqz (valid until), Djrq (registered on), Kjrq (issued on),
 * Dwmc/Tyshxydm (unit name and credit code), Slhz (pending receipt no). */
static void generic_query(struct sim_req *q)
{
	const char *svc = sim_soap_arg(q, "Ywlx");
	const struct sim_person *w = person_arg(q);
	if (!w)
		return;
	uint64_t h = sim_hash(90, w->id_number);
	int y, m, d;
	sim_today(q->now_ms, &y, &m, &d);
	char date[24];
	snprintf(date, sizeof(date), "%04d%02d%02d", y - 1 - (int)(h % 4), 1 + (int)((h >> 8) % 12),
	         1 + (int)((h >> 16) % 28));
	json_t *o = json_pack("{s:s}", "Sfzh", w->id_number);
	bool found;
	if (!svc || !svc[0]) {
		json_decref(o);
		sim_soap_fault(q, 500, "soap:Client", "缺少查询类型（Ywlx）");
		return;
	} else if (!strcmp(svc, "dorm_proof_query")) {
		found = w->housing == 3;
		char code[19];
		uscc(h, w->district, code);
		if (found)
			json_object_update_new(o, json_pack("{s:s,s:s,s:s}", "Kjrq", date, "Dwmc",
			                                    w->employer >= 0
			                                        ? sim_employer_name(w->employer)
			                                        : "上海临港智能装备有限公司",
			                                    "Tyshxydm", code));
	} else if (!strcmp(svc, "idcard_query")) {
		int age = sim_person_age(w, y, m, d);
		found = age >= 16 && !w->deceased;
		int years = age >= 46 ? 0 : age >= 26 ? 20 : 10;
		json_t *pend = sim_app_find(q->sim, "gongan", NULL, w->id_number, q->now_ms);
		const char *receipt = "";
		size_t i;
		json_t *rec;
		json_array_foreach (pend, i, rec) {
			const char *st = json_get_str(rec, "status");
			if (strstr(json_get_str(rec, "service"), "idcard") &&
			    (!strcmp(st, "received") || !strcmp(st, "processing")))
				receipt = arena_strdup(q->a, json_get_str(rec, "dept_case_no"));
		}
		json_decref(pend);
		if (found)
			json_object_update_new(
			    o,
			    json_pack("{s:s,s:s}", "Yxqz",
			              years ? arena_printf(q->a, "%04d%.4s",
			                                   y - 1 - (int)(h % 4) + years, date + 4)
			                    : "长期",
			              "Slhz", receipt));
	} else if (!strcmp(svc, "move_permit_query")) {
		found = w->hukou_sh && h % 100 < 3;
		if (found)
			json_object_set_new(
			    o, "Zmbh",
			    json_string(arena_printf(q->a, "ZR%s%08llu", w->district,
			                             (unsigned long long)(h % 100000000ULL))));
	} else if (!strcmp(svc, "residence_query")) {
		found = !w->hukou_sh && w->housing;
		if (found)
			json_object_set_new(o, "Djrq", json_string(date));
	} else if (!strcmp(svc, "separation_query")) {
		found = w->hukou_sh && strcmp(w->hukou_address, w->address) != 0;
		if (found)
			json_object_set_new(o, "Djrq", json_string(date));
	} else {
		json_decref(o);
		sim_soap_fault(q, 500, "soap:Client", "不支持的查询类型");
		return;
	}
	json_object_set_new(o, "Cz", json_string(found ? "true" : "false"));
	reply(q, o);
}

static const struct {
	const char *op;
	void (*fn)(struct sim_req *q);
} ops[] = {
    {"Query", generic_query},
    {"QueryPerson", query_person},
    {"QueryHousehold", query_household},
    {"QueryResidence", query_residence},
    {"QueryElderCard", query_elder_card},
    {"SubmitApplication", submit_application},
    {"QueryApplication", query_application},
    {"CancelApplication", cancel_application},
};

static void rkk(struct sim_req *q)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(ops[i].op, q->soap_op)) {
			ops[i].fn(q);
			return;
		}
	sim_soap_fault(q, 500, "soap:Client", "不支持的操作");
}

static const char wsdl[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<definitions xmlns=\"http://schemas.xmlsoap.org/wsdl/\" "
    "xmlns:soap=\"http://schemas.xmlsoap.org/wsdl/soap/\" xmlns:rk=\"urn:gongan:rkk\" "
    "targetNamespace=\"urn:gongan:rkk\" name=\"RkkService\">\n"
    "  <portType name=\"RkkPort\">\n"
    "    <operation name=\"QueryPerson\"/><operation name=\"QueryHousehold\"/>\n"
    "    <operation name=\"QueryResidence\"/><operation name=\"QueryElderCard\"/>\n"
    "    <operation name=\"SubmitApplication\"/><operation name=\"QueryApplication\"/>\n"
    "    <operation name=\"CancelApplication\"/><operation name=\"Query\"/>\n"
    "  </portType>\n"
    "  <binding name=\"RkkBinding\" type=\"rk:RkkPort\">\n"
    "    <soap:binding style=\"document\" transport=\"http://schemas.xmlsoap.org/soap/http\"/>\n"
    "  </binding>\n"
    "  <service name=\"RkkService\"><port name=\"RkkPort\" binding=\"rk:RkkBinding\">"
    "<soap:address location=\"/gongan/ws/rkk\"/></port></service>\n"
    "</definitions>\n";

static void rkk_wsdl(struct sim_req *q)
{
	sim_reply_raw(q, 200, "text/xml; charset=utf-8", wsdl, sizeof(wsdl) - 1);
}

static const struct sim_endpoint endpoints[] = {
    {"POST", "/ws/rkk", rkk, SIM_EP_SOAP, "人口库 SOAP 服务（QueryPerson 等 7 个操作）"},
    {"GET", "/ws/rkk", rkk_wsdl, SIM_EP_NOAUTH, "WSDL"},
};

const struct sim_system sim_system_gongan = {
    "gongan", "公安人口库", endpoints, sizeof(endpoints) / sizeof(endpoints[0]), NULL, NULL,
};
