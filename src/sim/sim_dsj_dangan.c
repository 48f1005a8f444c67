/* sim_dsj_dangan.c: 大数据中心 (证照库 e-certificates — 住房租赁合同备案通知书, 居民身份证,
 * 户口簿, 居住证, 集体宿舍证明, 残疾人证 — and the material-verification services of seed rows
 * 45–47) and 电子档案 (archive package receipt with its checks, archive lookups). */
#include "sim/sim_int.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "core/str.h"

static int today_age(struct sim_req *q, const struct sim_person *w)
{
	int y, m, d;
	sim_today(q->now_ms, &y, &m, &d);
	return sim_person_age(w, y, m, d);
}

static bool hex64(const char *s)
{
	if (!s || strlen(s) != 64)
		return false;
	for (int i = 0; i < 64; i++)
		if (!strchr("0123456789abcdefABCDEF", s[i]))
			return false;
	return true;
}

/* ---- e-certificates ---- */

enum cert_kind {
	C_LEASE,
	C_IDCARD,
	C_HUKOU,
	C_PERMIT,
	C_DORM,
	C_DISAB,
	C_ESTATE,
	C_BIRTH,
	C_MARRIAGE,
	C_COUNT
};

/* cert_type is the catalog's e_cert code (catalog/code_tables/e_cert.json), so Shouli picks a
 * certificate by the code its items name; alias is the library's older spelling, still
 * accepted as a query filter. */
static const struct {
	const char *code, *alias, *title, *prefix;
} kinds[C_COUNT] = {
    {"lease_filing", NULL, "住房租赁合同备案通知书", "ZLBA"},
    {"id_card", NULL, "居民身份证", "SFZ"},
    {"hukou", "hukou_book", "居民户口簿", "HKB"},
    {"residence_permit", NULL, "上海市居住证", "JZZ"},
    {"dorm_proof", NULL, "集体宿舍证明", "JTSS"},
    {"disability", "disability_cert", "中华人民共和国残疾人证", "CJRZ"},
    {"real_estate", NULL, "不动产权证书", "BDCQ"},
    {"birth_cert", NULL, "出生医学证明", "CSZM"},
    {"marriage", NULL, "结婚证", "JHZ"},
};

static const char *const hospital_names[] = {"复旦大学附属妇产科医院", "上海市第一妇婴保健院",
                                             "上海交通大学医学院附属国际和平妇幼保健院",
                                             "上海市徐汇区中心医院", "上海市浦东新区妇幼保健院"};

/* The spouse of w in the household (a 户主 and a 配偶 are married to each other), or NULL. */
static const struct sim_person *spouse_of(struct sim_req *q, const struct sim_person *w)
{
	const struct sim_people *p = &q->sim->people;
	const struct sim_household *hh = sim_people_household(p, w);
	if (!hh || !w->relation)
		return NULL;
	const char *want = !strcmp(w->relation, "户主")   ? "配偶"
	                   : !strcmp(w->relation, "配偶") ? "户主"
	                                                  : NULL;
	for (int i = hh->first; want && i < hh->first + hh->n; i++)
		if (p->people[i].relation && !strcmp(p->people[i].relation, want))
			return &p->people[i];
	return NULL;
}

static const char *const lessor_names[] = {
    "上海安居房屋租赁有限公司", "上海城投宽庭租赁住房有限公司", "上海地产住房保障有限公司"};

static bool has_cert(struct sim_req *q, const struct sim_person *w, int k)
{
	switch (k) {
	case C_LEASE: return w->lease_filing[0] != 0;
	case C_IDCARD: return today_age(q, w) >= 16 && !w->deceased;
	case C_HUKOU: return w->hukou_sh && !w->deceased;
	case C_PERMIT: return !w->hukou_sh && w->housing;
	case C_DORM: return w->housing == 3;
	case C_DISAB: return w->disability_kind != 0;
	/* Own homes: non-hukou owners, and the head of two in three hukou households. */
	case C_ESTATE:
		return w->housing == 2 ||
		       (w->hukou_sh && w->relation && !strcmp(w->relation, "户主") &&
		        sim_hash(300, w->id_number) % 3 != 0);
	/* 出生医学证明 exist since 1996. */
	case C_BIRTH: return w->birth_y >= 1996;
	default: return spouse_of(q, w) != NULL;
	}
}

static const char *cert_no(struct sim_req *q, const struct sim_person *w, int k)
{
	uint64_t h = sim_hash(100 + (uint64_t)k, w->id_number);
	return arena_printf(q->a, "%s31%014llu", kinds[k].prefix,
	                    (unsigned long long)(h % 100000000000000ULL));
}

static json_t *cert_json(struct sim_req *q, const struct sim_person *w, int k)
{
	uint64_t h = sim_hash(200 + (uint64_t)k, w->id_number);
	const char *district = sim_district_name(w->district);
	char issued[24];
	int iy = 2015 + (int)(h % 10);
	if (iy < w->birth_y + 16 && k == C_IDCARD)
		iy = w->birth_y + 16;
	snprintf(issued, sizeof(issued), "%04d-%02d-%02d", iy, 1 + (int)((h >> 8) % 12),
	         1 + (int)((h >> 16) % 28));
	json_t *data;
	const char *issuer;
	switch (k) {
	case C_LEASE: {
		int from_y = 2024, from_m = 1 + (int)((h >> 8) % 12);
		snprintf(issued, sizeof(issued), "%04d-%02d-%02d", from_y, from_m, 5);
		const char *from = arena_printf(q->a, "%04d-%02d-01", from_y, from_m);
		const char *to = arena_printf(q->a, "%04d-%02d-01", from_y + 2, from_m);
		data = json_pack("{s:s,s:s,s:s,s:s,s:f,s:i,s:s,s:s,s:s,s:s}", "filing_no",
		                 w->lease_filing, "lessor", lessor_names[h % 3], "lessee", w->name,
		                 "address", w->address, "area",
		                 30.0 + (double)((h >> 24) % 700) / 10.0, "monthly_rent",
		                 2500 + (int)((h >> 32) % 60) * 100, "term_from", from, "term_to",
		                 to, "start_date", from, "end_date", to);
		issuer = arena_printf(q->a, "%s住房保障和房屋管理局", district);
		break;
	}
	case C_IDCARD: {
		static const char *const nations[] = {"汉", "回", "满", "蒙古", "朝鲜", "壮"};
		char birth[24];
		sim_person_birth(w, birth);
		int valid = today_age(q, w) >= 46 ? 0 : today_age(q, w) >= 26 ? 20 : 10;
		data = json_pack(
		    "{s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "name", w->name, "gender",
		    w->gender == 'M' ? "男" : "女", "nation", nations[w->nation], "birth_date",
		    birth, "address", w->hukou_address, "id_number", w->id_number, "valid_to",
		    valid ? arena_printf(q->a, "%04d%s", iy + valid, issued + 4) : "长期");
		issuer = w->hukou_sh ? arena_printf(q->a, "上海市公安局%s分局", district)
		                     : "户籍地公安机关";
		break;
	}
	case C_HUKOU: {
		const struct sim_household *hh = sim_people_household(&q->sim->people, w);
		data =
		    json_pack("{s:s,s:s,s:s,s:s,s:s}", "household_no", hh ? hh->no : "", "relation",
		              w->relation, "address", w->hukou_address, "household_type", "local",
		              "district", hh ? hh->district : w->district);
		issuer = arena_printf(q->a, "上海市公安局%s分局", district);
		break;
	}
	case C_PERMIT:
		data = json_pack(
		    "{s:s,s:s,s:s}", "name", w->name, "address", w->address, "valid_to",
		    arena_printf(q->a, "%04d%s", iy + 3 > 2026 ? iy + 3 : 2026, issued + 4));
		issuer = arena_printf(q->a, "上海市公安局%s分局", district);
		break;
	case C_DORM:
		data = json_pack(
		    "{s:s,s:s,s:s,s:i}", "name", w->name, "address", w->address, "employer",
		    w->employer >= 0 ? sim_employer_name(w->employer) : "上海临港智能装备有限公司",
		    "room_capacity", 4 + (int)((h >> 8) % 5) * 2);
		issuer =
		    w->employer >= 0 ? sim_employer_name(w->employer) : "上海临港智能装备有限公司";
		break;
	case C_DISAB:
		data = json_pack("{s:s,s:s,s:i}", "cert_no", w->disability_cert, "category",
		                 sim_disability_kind_name(w->disability_kind), "level",
		                 w->disability_level);
		issuer = arena_printf(q->a, "上海市%s残疾人联合会", district);
		break;
	case C_ESTATE: {
		const char *on = arena_printf(q->a, "%04d-%02d-%02d", 2000 + (int)(h % 24),
		                              1 + (int)((h >> 8) % 12), 1 + (int)((h >> 16) % 28));
		data = json_pack(
		    "{s:s,s:s,s:s,s:f,s:s,s:s}", "cert_no",
		    arena_printf(q->a, "沪(%04d)%s不动产权第%07llu号", 2000 + (int)(h % 24),
		                 district, (unsigned long long)((h >> 20) % 10000000)),
		    "owner", w->name, "address", w->hukou_sh ? w->hukou_address : w->address,
		    "area", 45.0 + (double)((h >> 28) % 1000) / 10.0, "registered_on", on, "use",
		    "住宅");
		snprintf(issued, sizeof(issued), "%s", on);
		issuer = arena_printf(q->a, "上海市%s不动产登记局", district);
		break;
	}
	case C_BIRTH: {
		char birth[24];
		sim_person_birth(w, birth);
		data = json_pack("{s:s,s:s,s:s,s:s,s:s}", "cert_no",
		                 arena_printf(q->a, "%c%09llu", 'M' + (int)(h % 10),
		                              (unsigned long long)((h >> 8) % 1000000000)),
		                 "name", w->name, "gender", w->gender == 'M' ? "男" : "女",
		                 "birth_date", birth, "hospital", hospital_names[(h >> 40) % 5]);
		snprintf(issued, sizeof(issued), "%s", birth);
		issuer = hospital_names[(h >> 40) % 5];
		break;
	}
	default: {
		const struct sim_person *sp = spouse_of(q, w);
		/* Both spouses' certificates carry the same registration date. */
		uint64_t hm = sim_hash(400, w->relation && !strcmp(w->relation, "户主")
		                                ? w->id_number
		                                : (sp ? sp->id_number : w->id_number));
		int y = (w->birth_y > (sp ? sp->birth_y : 0) ? w->birth_y : sp->birth_y) + 24 +
		        (int)(hm % 6);
		snprintf(issued, sizeof(issued), "%04d-%02d-%02d", y, 1 + (int)((hm >> 8) % 12),
		         1 + (int)((hm >> 16) % 28));
		data = json_pack("{s:s,s:s,s:s,s:s}", "cert_no",
		                 arena_printf(q->a, "J310%03d-%04d-%06llu", (int)(hm % 120), y,
		                              (unsigned long long)((hm >> 24) % 1000000)),
		                 "spouse_name", sp ? sp->name : "", "spouse_id_number",
		                 sp ? sp->id_number : "", "registered_on", issued);
		issuer = arena_printf(q->a, "上海市%s民政局婚姻登记处", district);
		break;
	}
	}
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "cert_type", kinds[k].code, "title",
	                 kinds[k].title, "cert_no", cert_no(q, w, k), "holder", w->name,
	                 "holder_id_number", w->id_number, "issued_at", issued, "issuer", issuer,
	                 "data", data);
}

static int kind_of(const char *s)
{
	for (int k = 0; s && k < C_COUNT; k++)
		if (!strcmp(kinds[k].code, s) || !strcmp(kinds[k].title, s) ||
		    (kinds[k].alias && !strcmp(kinds[k].alias, s)))
			return k;
	return -1;
}

static void ecert_query(struct sim_req *q)
{
	const char *id = json_get_str(q->body, "id_number");
	const char *type = json_get_str(q->body, "cert_type");
	int only = type ? kind_of(type) : -1;
	if (type && only < 0) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "UNKNOWN_CERT_TYPE", "message",
		                    "未知的证照类型", "field", "cert_type"));
		return;
	}
	const struct sim_person *w = sim_need_person(q, id, "id_number", "PERSON_NOT_FOUND");
	if (!w && q->w->status == 404) { /* nobody: no certificates */
		json_decref(q->w->json);
		q->w->json = NULL;
		sim_reply(q, 200, json_pack("{s:[]}", "certs"));
		return;
	}
	if (!w)
		return;
	json_t *list = json_array();
	for (int k = 0; k < C_COUNT; k++)
		if ((only < 0 || only == k) && has_cert(q, w, k))
			json_array_append_new(list, cert_json(q, w, k));
	sim_reply(q, 200, json_pack("{s:o}", "certs", list));
}

static void ecert_get(struct sim_req *q)
{
	const char *no = req_param(q->r, "cert_no");
	int k = -1;
	for (int i = 0; i < C_COUNT; i++)
		if (!strncmp(no, kinds[i].prefix, strlen(kinds[i].prefix)) &&
		    strlen(no) == strlen(kinds[i].prefix) + 16)
			k = i;
	const struct sim_people *p = &q->sim->people;
	for (int i = 0; k >= 0 && i < p->npeople; i++) {
		const struct sim_person *w = &p->people[i];
		if (has_cert(q, w, k) && !strcmp(cert_no(q, w, k), no)) {
			sim_reply(q, 200, cert_json(q, w, k));
			return;
		}
	}
	sim_error(q, 404, "CERT_NOT_FOUND", "证照库中没有该证照：%s", no);
}

/* ---- material verification ---- */

static const struct {
	const char *code, *title;
} materials[] = {
    {"id_card", "居民身份证"},
    {"lease_receipt", "租赁备案回执"},
    {"property_cert", "房屋产权证明"},
    {"dorm_proof", "集体宿舍证明"},
};

static void material_verify(struct sim_req *q)
{
	const char *code = sim_need_str(q, q->body, "material_code", "材料类型");
	if (!code)
		return;
	int mk = -1;
	for (size_t i = 0; i < sizeof(materials) / sizeof(materials[0]); i++)
		if (!strcmp(materials[i].code, code))
			mk = (int)i;
	if (mk < 0) {
		sim_reply(
		    q, 422,
		    json_pack("{s:s,s:s,s:s}", "code", "UNKNOWN_MATERIAL", "message",
		              "材料类型应为 id_card、lease_receipt、property_cert 或 dorm_proof",
		              "field", "material_code"));
		return;
	}
	const char *sm3 = json_get_str(q->body, "file_sm3");
	if (!hex64(sm3)) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_FIELD", "message",
		                    "file_sm3 应为 64 位十六进制的 SM3 摘要", "field", "file_sm3"));
		return;
	}
	const char *id = json_get_str(q->body, "id_number");
	json_t *reasons = json_array();
	const char *verdict = "pass";
	const struct sim_person *w = sim_need_person(q, id, "id_number", "PERSON_NOT_FOUND");
	if (!w && q->w->status != 404) {
		json_decref(reasons);
		return;
	}
	if (!w) {
		json_decref(q->w->json);
		q->w->json = NULL;
		q->answered = false;
		verdict = "fail";
		json_array_append_new(reasons, json_string("证件号码在人口库中不存在"));
	} else {
		const char *name = json_get_str(q->body, "name");
		const char *addr = json_get_str(q->body, "address");
		const char *filing = json_get_str(q->body, "filing_no");
		if (name && strcmp(name, w->name))
			json_array_append_new(reasons, json_string("材料上的姓名与证件号码不一致"));
		switch (mk) {
		case 0:
			if (w->deceased)
				json_array_append_new(reasons, json_string("该居民身份证已注销"));
			else if (today_age(q, w) < 16)
				json_array_append_new(
				    reasons, json_string("未满 16 周岁，无居民身份证签发记录"));
			break;
		case 1:
			if (!w->lease_filing[0])
				json_array_append_new(reasons,
				                      json_string("未查询到住房租赁合同备案信息"));
			else if (filing && strcmp(filing, w->lease_filing))
				json_array_append_new(reasons,
				                      json_string("租赁备案号与登记信息不一致"));
			break;
		case 2:
			if (!(w->housing == 2 ||
			      (w->hukou_sh && sim_hash(21, w->id_number) % 100 < 60)))
				json_array_append_new(
				    reasons, json_string("未查询到该人员名下的不动产登记信息"));
			break;
		default:
			if (w->housing != 3)
				json_array_append_new(reasons,
				                      json_string("未查询到集体宿舍登记信息"));
			break;
		}
		if (mk > 0 && addr && strcmp(addr, w->address))
			json_array_append_new(reasons, json_string("材料上的地址与登记信息不一致"));
		if (json_array_size(reasons))
			verdict = "fail";
	}
	/* the picture itself: a blurred or glaring photo goes to a person */
	unsigned char first = 0;
	hex_decode(sm3, 2, &first, 1);
	double score = 0.90 + (double)(sim_hash(22, sm3) % 10) / 100.0;
	if (!strcmp(verdict, "pass") && first < 0x10) {
		verdict = "manual";
		score = 0.55 + (double)(first % 10) / 100.0;
		json_array_append_new(reasons, json_string("图像模糊或反光，需人工核验"));
	} else if (!strcmp(verdict, "fail")) {
		score = 0.10 + (double)(first % 30) / 100.0;
	}
	sim_reply(q, 200,
	          json_pack("{s:s,s:s,s:s,s:f,s:o,s:s}", "verdict", verdict, "material_code", code,
	                    "material", materials[mk].title, "score", score, "reasons", reasons,
	                    "verified_at", sim_iso(q, q->now_ms)));
}

static const struct sim_endpoint dsj_endpoints[] = {
    {"POST", "/ecerts/query", ecert_query, 0, "电子证照查询"},
    {"GET", "/ecerts/{cert_no}", ecert_get, 0, "电子证照获取"},
    {"POST", "/materials/verify", material_verify, 0, "材料核验"},
};

const struct sim_system sim_system_dsj = {
    "dsj",         "大数据中心（证照库、材料核验）",
    dsj_endpoints, sizeof(dsj_endpoints) / sizeof(dsj_endpoints[0]),
    NULL,          NULL,
};

/* ---- 电子档案 ---- */

static const struct {
	const char *part, *title;
} parts[] = {
    {"basic", "归档事项基本信息"},
    {"process", "办理流程基本信息"},
    {"files", "电子文件基本信息"},
};

static void free_doc(void *d)
{
	xmlFreeDoc(d);
}

/* Does any text node under n equal s (trimmed)? */
static bool has_text(const xmlNode *n, const char *s)
{
	for (; n; n = n->next) {
		if (n->type == XML_TEXT_NODE && n->content) {
			struct str t = str_trim(str_from((const char *)n->content));
			if (str_eq_c(t, s))
				return true;
		}
		if (n->children && has_text(n->children, s))
			return true;
	}
	return false;
}

static int element_children(const xmlNode *n)
{
	int c = 0;
	for (n = n ? n->children : NULL; n; n = n->next)
		c += n->type == XML_ELEMENT_NODE;
	return c;
}

/* The SM3 digests declared in the files package (elements named *sm3* or *hash*) must be 64
 * hex digits. */
static const char *bad_digest(struct sim_req *q, const xmlNode *n)
{
	for (; n; n = n->next) {
		if (n->type == XML_ELEMENT_NODE &&
		    (strstr((const char *)n->name, "sm3") || strstr((const char *)n->name, "SM3") ||
		     strstr((const char *)n->name, "hash") ||
		     strstr((const char *)n->name, "Hash"))) {
			xmlChar *t = xmlNodeGetContent(n);
			struct str v = str_trim(str_from(t ? (const char *)t : ""));
			char tmp[80];
			snprintf(tmp, sizeof(tmp), "%.*s", (int)(v.n < 79 ? v.n : 79), v.p);
			bool ok = v.n == 64 && hex64(tmp);
			xmlFree(t);
			if (!ok)
				return arena_strdup(q->a, (const char *)n->name);
		}
		const char *b = n->children ? bad_digest(q, n->children) : NULL;
		if (b)
			return b;
	}
	return NULL;
}

static json_t *check(const char *name, bool ok, const char *msg)
{
	return json_pack("{s:s,s:b,s:s}", "name", name, "ok", ok, "message", msg);
}

static void package_submit(struct sim_req *q)
{
	const char *case_no = sim_need_str(q, q->body, "case_no", "办件编号");
	if (!case_no)
		return;
	json_t *pk = json_object_get(q->body, "packages");
	json_t *checks = json_array();
	const char *first_bad = NULL;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		const char *b64 = json_get_str(pk, parts[i].part);
		const char *field = arena_printf(q->a, "packages.%s", parts[i].part);
		const char *name = arena_printf(q->a, "%s（%s）", parts[i].title, parts[i].part);
		struct buf xml;
		buf_init(&xml, 16u << 20);
		xmlDoc *doc = NULL;
		const char *msg = NULL;
		if (!b64 || !b64[0])
			msg = "缺少该部分";
		else if (base64_decode(b64, strlen(b64), BASE64_SPACE, &xml) != ERR_OK || !xml.len)
			msg = "不是合法的 Base64 编码";
		else if (!(doc = xmlReadMemory(xml.p, (int)xml.len, NULL, "UTF-8",
		                               XML_PARSE_NONET | XML_PARSE_NOERROR |
		                                   XML_PARSE_NOWARNING)))
			msg = "XML 格式错误";
		if (doc)
			arena_defer(q->a, free_doc, doc);
		const xmlNode *root = doc ? xmlDocGetRootElement(doc) : NULL;
		if (!msg && !root)
			msg = "XML 没有根元素";
		if (!msg && i == 0 && !has_text(root, case_no))
			msg = "归档事项基本信息中的办件编号与请求不一致";
		if (!msg && i == 1 && element_children(root) == 0)
			msg = "办理流程基本信息中没有办理环节";
		if (!msg && i == 2 && element_children(root) == 0)
			msg = "电子文件基本信息中没有文件条目";
		const char *bd = !msg && i == 2 ? bad_digest(q, root->children) : NULL;
		if (bd)
			msg = arena_printf(q->a, "文件摘要 %s 不是 64 位十六进制的 SM3 值", bd);
		json_array_append_new(checks, check(name, msg == NULL, msg ? msg : "通过"));
		if (msg && !first_bad)
			first_bad = field;
		buf_release(&xml);
	}
	if (first_bad) {
		json_t *o = json_pack("{s:s,s:s,s:s,s:o}", "code", "PACKAGE_INVALID", "message",
		                      "归档数据包检查未通过", "field", first_bad, "checks", checks);
		sim_reply(q, 422, o);
		return;
	}
	json_t *rec = sim_app_submit(q->sim, "dangan", "package", case_no, "",
	                             json_pack("{s:O}", "checks", checks),
	                             sim_verdict(true, "已归档"), q->now_ms);
	json_decref(checks);
	if (!rec)
		return;
	sim_reply(q, 200,
	          json_pack("{s:O,s:s,s:O,s:O}", "receipt_no", json_object_get(rec, "dept_case_no"),
	                    "status", "received", "checks",
	                    json_object_get(json_object_get(rec, "detail"), "checks"),
	                    "received_at", json_object_get(rec, "received_at")));
	json_decref(rec);
}

static void package_status(struct sim_req *q)
{
	const char *no = req_param(q->r, "receipt_no");
	json_t *rec = sim_app_get(q->sim, "dangan", no, q->now_ms);
	if (!rec) {
		sim_error(q, 404, "NOT_FOUND", "回执编号不存在：%s", no);
		return;
	}
	const char *st = json_get_str(rec, "status");
	const char *out = !strcmp(st, "approved")     ? "archived"
	                  : !strcmp(st, "processing") ? "checking"
	                                              : st;
	sim_reply(q, 200,
	          json_pack("{s:s,s:O,s:s,s:O,s:O,s:O}", "receipt_no", no, "case_no",
	                    json_object_get(rec, "case_no"), "status", out, "checks",
	                    json_object_get(json_object_get(rec, "detail"), "checks"),
	                    "received_at", json_object_get(rec, "received_at"), "archived_at",
	                    json_object_get(rec, "decided_at")));
	json_decref(rec);
}

/* Archives a resident has: marriage registration (married people), 知青 files (born
 * 1945–1960, some), and, for people from elsewhere, records at their place of origin. */
static void archive_query(struct sim_req *q)
{
	const char *scope = json_get_str(q->body, "scope");
	if (scope && strcmp(scope, "local") && strcmp(scope, "cross")) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "BAD_FIELD", "message",
		                    "scope 应为 local 或 cross", "field", "scope"));
		return;
	}
	const struct sim_person *w =
	    sim_need_person(q, json_get_str(q->body, "id_number"), "id_number", "PERSON_NOT_FOUND");
	if (!w)
		return;
	const struct sim_household *hh = sim_people_household(&q->sim->people, w);
	bool married = false;
	for (int i = hh ? hh->first : 0; hh && i < hh->first + hh->n; i++) {
		const char *r = q->sim->people.people[i].relation;
		if (!strcmp(r, "妻") || !strcmp(r, "夫"))
			married = !strcmp(w->relation, "户主") || !strcmp(w->relation, "妻") ||
			          !strcmp(w->relation, "夫");
	}
	json_t *recs = json_array();
	uint64_t h = sim_hash(31, w->id_number);
	bool local = !scope || !strcmp(scope, "local"), cross = !scope || !strcmp(scope, "cross");
	if (married) {
		int y = w->birth_y + 24 + (int)(h % 8);
		bool here = w->hukou_sh;
		if ((here && local) || (!here && cross))
			json_array_append_new(
			    recs, json_pack("{s:s,s:s,s:i,s:s,s:s}", "archive_type", "婚姻登记档案",
			                    "archive_no",
			                    arena_printf(q->a, "HY%04d%08llu", y,
			                                 (unsigned long long)(h % 100000000ULL)),
			                    "year", y, "agency",
			                    here ? arena_printf(q->a, "%s民政局婚姻登记处",
			                                        sim_district_name(w->district))
			                         : "户籍地民政局婚姻登记处",
			                    "scope", here ? "local" : "cross"));
	}
	if (w->hukou_sh && local && w->birth_y >= 1945 && w->birth_y <= 1960 && (h >> 8) % 100 < 25)
		json_array_append_new(
		    recs,
		    json_pack("{s:s,s:s,s:i,s:s,s:s}", "archive_type", "知识青年上山下乡档案",
		              "archive_no",
		              arena_printf(q->a, "ZQ%08llu",
		                           (unsigned long long)((h >> 16) % 100000000ULL)),
		              "year", w->birth_y + 17, "agency", "上海市档案馆", "scope", "local"));
	if (!w->hukou_sh && cross)
		json_array_append_new(
		    recs,
		    json_pack("{s:s,s:s,s:i,s:s,s:s}", "archive_type", "户籍档案", "archive_no",
		              arena_printf(q->a, "HJ%010llu",
		                           (unsigned long long)((h >> 4) % 10000000000ULL)),
		              "year", w->birth_y, "agency", "户籍地公安机关档案室", "scope",
		              "cross"));
	sim_reply(q, 200,
	          json_pack("{s:s,s:s,s:o}", "id_number", w->id_number, "name", w->name, "records",
	                    recs));
}

static const struct sim_endpoint dangan_endpoints[] = {
    {"POST", "/packages", package_submit, 0, "归档数据包接收"},
    {"GET", "/packages/{receipt_no}", package_status, 0, "归档状态查询"},
    {"POST", "/archives/query", archive_query, 0, "档案查询"},
};

const struct sim_system sim_system_dangan = {
    "dangan",
    "电子档案系统",
    dangan_endpoints,
    sizeof(dangan_endpoints) / sizeof(dangan_endpoints[0]),
    NULL,
    NULL,
};
