/* catalog_check_item.c: checking an item document (docs/catalog.md) — its keys, codes
 * (basic code from the department number, impl code from the department's credit code,
 * exercise level and basic code), pinyin, types and channels, consult texts, and each
 * sub-item: code, identity documents, then its form (pass 1 collects the fields, then
 * catalog_check_form.c checks everything that refers to them), signatures, materials,
 * application form, prereview, second reads, handler rule, archive profile and flow. */
#include "catalog/catalog_int.h"

#include <string.h>

#include "core/json.h"

/* ------------------------------------------------------------------ sub-items */

static const struct kspec sub_keys[] = {
    {"code", K_NESTR, KREQ},
    {"name", K_NESTR, KREQ},
    {"id_docs", K_ARR, KREQ},
    {"second_read", K_ARR, 0},
    {"form", K_OBJ, KREQ},
    {"materials", K_ARR, KREQ},
    {"application_form", K_OBJ, KREQ},
    {"signatures", K_OBJ, KREQ},
    {"prereview", K_ARR, 0},
    {"handler_rule", K_NESTR, KREQ},
    {"archive", K_OBJ, 0},
    {"submit_flow", K_NESTR, KREQ},
    {NULL, 0, 0},
};
static const struct kspec form_keys[] = {
    {"fields", K_ARR, KREQ}, {"rules", K_ARR, 0}, {NULL, 0, 0}};
static const struct kspec archive_keys[] = {{"required", K_BOOL, KREQ},
                                            {"category", K_NESTR, KREQ},
                                            {"retention", K_NESTR, KREQ},
                                            {"package", K_NESTR, 0},
                                            {NULL, 0, 0}};

static void check_sub_item(struct ck *c, const json_t *s, size_t idx)
{
	if (!ck_check_keys(c, s, sub_keys, "子项"))
		return;
	const char *code = ck_str(s, "code");
	if (code && c->basic_code) {
		size_t bl = strlen(c->basic_code);
		if (strlen(code) != bl + 3 || strncmp(code, c->basic_code, bl) || code[bl] != '-' ||
		    !(code[bl + 1] >= '0' && code[bl + 1] <= '9') ||
		    !(code[bl + 2] >= '0' && code[bl + 2] <= '9'))
			ck_report_at(c, "code", false,
			             "子项编码应为“%s-NN”（基本编码加两位序号），而不是“%s”",
			             c->basic_code, code);
		else {
			char want[24];
			snprintf(want, sizeof(want), "%02zu", idx + 1);
			if (strcmp(code + bl + 1, want))
				ck_report_at(c, "code", true, "子项编码序号通常按顺序编为 %s",
				             want);
		}
	}

	/* identity documents */
	const json_t *docs = json_object_get(s, "id_docs");
	if (json_is_array(docs)) {
		size_t o1 = ck_push_key(c, "id_docs");
		if (json_array_size(docs) == 0)
			CK_ERR(c, "至少需要接受一种身份证件");
		json_t *seen = json_object();
		size_t i;
		json_t *d;
		json_array_foreach (docs, i, d) {
			size_t o2 = ck_push_idx(c, i);
			const char *dv = json_string_value(d);
			if (!dv)
				CK_ERR(c, "应为证件类型代码（字符串）");
			else if (!catalog_ref_code_entry(c->ref, "id_doc_type", dv))
				CK_ERR(c, "证件类型“%s”不在代码表“id_doc_type”中", dv);
			else if (json_object_get(seen, dv))
				CK_ERR(c, "证件类型“%s”重复", dv);
			else
				json_object_set_new(seen, dv, json_true());
			ck_pop(c, o2);
		}
		ck_pop(c, o1);
		json_decref(seen);
	}

	/* pass 1: fields */
	const json_t *form = json_object_get(s, "form");
	c->flds = arena_zalloc(&c->a, sizeof(struct ck_field) * CK_MAX_FIELDS);
	c->nflds = 0;
	if (!c->flds) {
		CK_ERR(c, "内存不足");
		return;
	}
	const char *kind = ck_str(json_object_get(s, "application_form"), "kind");
	c->appform_kind = kind;
	json_t *signers = json_object();
	c->signers = signers;
	if (json_is_object(form))
		ck_collect_fields(c, json_object_get(form, "fields"), -1);

	size_t o1 = ck_push_key(c, "form");
	if (json_is_object(form) && ck_check_keys(c, form, form_keys, "表单")) {
		const json_t *fields = json_object_get(form, "fields");
		if (json_is_array(fields)) {
			size_t o2 = ck_push_key(c, "fields");
			if (json_array_size(fields) >= CK_MAX_FIELDS)
				CK_ERR(c, "字段过多（最多 %d 个）", CK_MAX_FIELDS - 1);
			ck_check_fields(c, fields, -1);
			ck_pop(c, o2);
		}
		json_t *ids = json_object();
		if (json_object_get(form, "rules")) {
			size_t o2 = ck_push_key(c, "rules");
			ck_check_rules(c, json_object_get(form, "rules"), false, ids);
			ck_pop(c, o2);
		}
		json_decref(ids);
	}
	ck_pop(c, o1);

	/* signatures before the form layouts and second reads, which name signers */
	o1 = ck_push_key(c, "signatures");
	if (json_object_get(s, "signatures"))
		ck_check_signatures(c, json_object_get(s, "signatures"), signers);
	ck_pop(c, o1);

	if (json_object_get(s, "materials")) {
		o1 = ck_push_key(c, "materials");
		ck_check_materials(c, json_object_get(s, "materials"));
		ck_pop(c, o1);
	}
	if (json_object_get(s, "application_form")) {
		o1 = ck_push_key(c, "application_form");
		ck_check_appform(c, json_object_get(s, "application_form"), code);
		ck_pop(c, o1);
	}
	if (json_object_get(s, "prereview")) {
		json_t *ids = json_object();
		o1 = ck_push_key(c, "prereview");
		ck_check_rules(c, json_object_get(s, "prereview"), true, ids);
		ck_pop(c, o1);
		json_decref(ids);
	}
	const json_t *sr = json_object_get(s, "second_read");
	if (json_is_array(sr)) {
		size_t i;
		json_t *p;
		o1 = ck_push_key(c, "second_read");
		json_array_foreach (sr, i, p) {
			size_t o2 = ck_push_idx(c, i);
			const char *role = json_string_value(p);
			if (!role || !ck_one_of(role, ck_roles))
				CK_ERR(c,
				       "二次读卡的当事人“%"
				       "s”不是签署角色（applicant、agent、guardian…）",
				       role ? role : "?");
			else if (!json_object_get(signers, role))
				CK_WARN(c, "二次读卡的当事人“%s”不在签署方案中", role);
			ck_pop(c, o2);
		}
		ck_pop(c, o1);
	}
	const char *hr = ck_str(s, "handler_rule");
	static const char *const handler_rules[] = {"applicant", "agent", "guardian",
	                                            "disabled_helper", NULL};
	if (hr && !ck_one_of(hr, handler_rules))
		ck_report_at(
		    c, "handler_rule", false,
		    "办理人规则“%s”不存在（可用：applicant、agent、guardian、disabled_helper）",
		    hr);
	else if (hr && !strcmp(hr, "disabled_helper") && c->dept_id &&
	         strcmp(c->dept_id, "canlian"))
		ck_report_at(c, "handler_rule", true, "disabled_helper 是残联事项的办理人规则");
	const json_t *ar = json_object_get(s, "archive");
	if (ar) {
		o1 = ck_push_key(c, "archive");
		if (ck_check_keys(c, ar, archive_keys, "电子归档")) {
			const char *ret = ck_str(ar, "retention");
			if (ret && !ck_one_of(ret, ck_retentions))
				ck_report_at(c, "retention", false,
				             "保管期限应为 permanent、30y 或 10y，而不是“%s”", ret);
		}
		ck_pop(c, o1);
	}
	const char *flow = ck_str(s, "submit_flow");
	if (flow && !ck_is_flow_name(flow))
		ck_report_at(c, "submit_flow", false,
		             "提交流程名“%s”格式不正确（如 shebao.submit：小写，以点分隔）", flow);
	json_decref(signers);
	c->signers = NULL;
	c->flds = NULL;
	c->nflds = 0;
}

/* ------------------------------------------------------------------ items */

static const struct kspec item_keys[] = {
    {"basic_code", K_NESTR, KREQ},
    {"impl_code", K_NESTR, KREQ},
    {"name", K_NESTR, KREQ},
    {"short_name", K_NESTR, KREQ},
    {"pinyin", K_NESTR, KREQ},
    {"initials", K_NESTR, KREQ},
    {"department", K_NESTR, KREQ},
    {"item_type", K_NESTR, KREQ},
    {"case_type", K_INT, KREQ},
    {"promised_days", K_INT, 0},
    {"exercise_level", K_INT, KREQ},
    {"fees", K_OBJ, KREQ},
    {"legal_basis", K_ARR, KREQ},
    {"channels", K_ARR, KREQ},
    {"citywide", K_BOOL, KREQ},
    {"separated", K_BOOL, KREQ},
    {"vwin_mode", K_NESTR, KREQ},
    {"home_service", K_BOOL, KREQ},
    {"bundles", K_ARR, 0},
    {"note", K_STR, 0},
    {"consult", K_OBJ, KREQ},
    {"sub_items", K_ARR, KREQ},
    {NULL, 0, 0},
};
static const struct kspec fees_keys[] = {
    {"charged", K_BOOL, KREQ}, {"text", K_NESTR, KREQ}, {NULL, 0, 0}};
static const struct kspec consult_keys[] = {
    {"guide", K_NESTR, KREQ}, {"faqs", K_ARR, 0}, {"checklist", K_ARR, 0}, {NULL, 0, 0}};
static const struct kspec faq_keys[] = {{"q", K_NESTR, KREQ}, {"a", K_NESTR, KREQ}, {NULL, 0, 0}};

/* Number of Han characters (CJK unified ideographs) in s. */
static size_t han_count(const char *s)
{
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if ((p[0] & 0xF0) == 0xE0 && p[1] && p[2]) {
			unsigned cp =
			    ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
			n += cp >= 0x4E00 && cp <= 0x9FFF;
			p += 3;
		} else {
			p++;
		}
	}
	return n;
}

static void check_pinyin(struct ck *c, const json_t *item)
{
	const char *py = ck_str(item, "pinyin"), *ini = ck_str(item, "initials");
	const char *name = ck_str(item, "name");
	if (!py)
		return;
	char want[256];
	size_t wn = 0, syl = 0;
	bool ok = *py != ' ';
	for (const char *p = py; *p; p++) {
		if (*p == ' ') {
			if (p[1] == ' ' || p[1] == 0)
				ok = false;
			continue;
		}
		if (!(*p >= 'a' && *p <= 'z')) {
			ok = false;
			break;
		}
		if (p == py || p[-1] == ' ') {
			syl++;
			if (wn + 1 < sizeof(want))
				want[wn++] = *p;
		}
	}
	want[wn] = 0;
	if (!ok) {
		ck_report_at(c, "pinyin", false,
		             "拼音应为小写字母音节，以单个空格分隔，不带声调（如“jing lao ka”）");
		return;
	}
	if (ini && strcmp(ini, want))
		ck_report_at(c, "initials", false, "首字母“%s”与拼音不一致，应为“%s”", ini, want);
	if (name && han_count(name) != syl)
		ck_report_at(c, "pinyin", true, "拼音有 %zu 个音节，名称有 %zu 个汉字", syl,
		             han_count(name));
}

static void check_codes(struct ck *c, const json_t *item)
{
	const char *bc = ck_str(item, "basic_code");
	c->basic_code = NULL;
	if (bc) {
		if (strlen(bc) != 12 || !ck_all_chars(bc, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")) {
			ck_report_at(c, "basic_code", false,
			             "基本编码应为 12 位数字或大写字母，而不是“%s”", bc);
		} else {
			c->basic_code = bc;
			const char *no = c->dept ? ck_str(c->dept, "no") : NULL;
			char prefix[16];
			snprintf(prefix, sizeof(prefix), "3100%s", no ? no : "");
			if (no && strncmp(bc, prefix, 6))
				ck_report_at(
				    c, "basic_code", false,
				    "基本编码应以“%s”开头（3100 加%s的部门编号 %s）", prefix,
				    ck_str(c->dept, "short_name") ? ck_str(c->dept, "short_name")
				                                  : c->dept_id,
				    no);
			else if (no && (!ck_all_chars(bc, "0123456789") || strcmp(bc + 9, "000") ||
			                !strncmp(bc + 6, "000", 3)))
				ck_report_at(c, "basic_code", false,
				             "基本编码应为“%s”加 3 位事项序号（001 起）加“000”",
				             prefix);
		}
	}
	const char *ic = ck_str(item, "impl_code");
	if (!ic)
		return;
	size_t n = strlen(ic);
	if (n > 50 || !ck_all_chars(ic, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")) {
		ck_report_at(c, "impl_code", false, "实施编码应为不超过 50 位的数字或大写字母");
		return;
	}
	if (n != 31) {
		ck_report_at(
		    c, "impl_code", false,
		    "实施编码应为 31 位（统一社会信用代码 18 位 + 行使层级 1 位 + 基本编码 12 "
		    "位），这里是 %zu 位",
		    n);
		return;
	}
	char head[19];
	memcpy(head, ic, 18);
	head[18] = 0;
	char expect;
	if (!catalog_credit_code_valid(head, &expect)) {
		if (expect == '?')
			ck_report_at(
			    c, "impl_code", false,
			    "实施编码前 18 位“%s”不是统一社会信用代码（不能含 I、O、Z、S、V）",
			    head);
		else
			ck_report_at(c, "impl_code", false,
			             "实施编码前 18 位（统一社会信用代码 %s）校验位错误，应为“%c”",
			             head, expect);
	}
	const char *credit = c->dept ? ck_str(c->dept, "credit_code") : NULL;
	if (credit && strcmp(head, credit))
		ck_report_at(c, "impl_code", false,
		             "实施编码前 18 位应为部门“%s”的统一社会信用代码 %s", c->dept_id,
		             credit);
	json_int_t level = json_integer_value(json_object_get(item, "exercise_level"));
	if (json_is_integer(json_object_get(item, "exercise_level")) && ic[18] != '0' + level)
		ck_report_at(c, "impl_code", false, "实施编码第 19 位应为行使层级 %lld，而不是“%c”",
		             (long long)level, ic[18]);
	if (bc && strcmp(ic + 19, bc))
		ck_report_at(c, "impl_code", false, "实施编码后 12 位应为基本编码 %s", bc);
}

void ck_check_item(struct ck *c, const json_t *item)
{
	if (!ck_check_keys(c, item, item_keys, "事项文件的内容"))
		return;
	c->dept_id = ck_str(item, "department");
	c->dept = catalog_ref_department(c->ref, c->dept_id);
	if (c->dept_id && !c->dept)
		ck_report_at(c, "department", false, "部门“%s”不在 departments.json 中",
		             c->dept_id);
	check_codes(c, item);
	check_pinyin(c, item);

	const char *it = ck_str(item, "item_type");
	static const char *const item_types[] = {"00", "01", "02", "03", "04", "05", "06",
	                                         "07", "08", "09", "10", "20", NULL};
	if (it && !ck_one_of(it, item_types))
		ck_report_at(
		    c, "item_type", false,
		    "事项类型“%s”不在 GB/T 39046 中（00 行政权力、01 许可…10 其他、20 公共服务）",
		    it);
	json_t *ct = json_object_get(item, "case_type");
	json_t *pd = json_object_get(item, "promised_days");
	if (json_is_integer(ct)) {
		json_int_t v = json_integer_value(ct);
		if (v != 1 && v != 2)
			ck_report_at(c, "case_type", false,
			             "办件类型应为 1（即办件）或 2（承诺件）");
		else if (v == 2 && !pd)
			CK_ERR(c, "承诺件（case_type 2）缺少承诺办结时限“promised_days”");
		else if (v == 1 && pd)
			ck_report_at(c, "promised_days", true,
			             "即办件（case_type 1）不需要承诺办结时限");
	}
	if (json_is_integer(pd) && (json_integer_value(pd) < 1 || json_integer_value(pd) > 365))
		ck_report_at(c, "promised_days", false, "承诺办结时限应在 1 到 365 个工作日之间");
	json_t *lv = json_object_get(item, "exercise_level");
	if (json_is_integer(lv) && (json_integer_value(lv) < 1 || json_integer_value(lv) > 6))
		ck_report_at(c, "exercise_level", false, "行使层级应为 1（国家）到 6（村、社区）");
	if (json_object_get(item, "fees")) {
		size_t o = ck_push_key(c, "fees");
		ck_check_keys(c, json_object_get(item, "fees"), fees_keys, "收费信息");
		ck_pop(c, o);
	}
	size_t i;
	json_t *x;
	json_t *lb = json_object_get(item, "legal_basis");
	if (json_is_array(lb) && json_array_size(lb) == 0)
		ck_report_at(c, "legal_basis", true, "没有列出设定依据");
	json_array_foreach (lb, i, x) {
		if (!json_is_string(x) || !json_string_length(x)) {
			size_t o = ck_push_key(c, "legal_basis");
			size_t o2 = ck_push_idx(c, i);
			CK_ERR(c, "设定依据应为非空字符串");
			ck_pop(c, o2);
			ck_pop(c, o);
		}
	}
	json_t *ch = json_object_get(item, "channels");
	if (json_is_array(ch)) {
		size_t o = ck_push_key(c, "channels");
		unsigned seen = 0;
		if (json_array_size(ch) == 0)
			CK_ERR(c, "至少需要一种办理形式");
		json_array_foreach (ch, i, x) {
			json_int_t v = json_is_integer(x) ? json_integer_value(x) : -1;
			size_t o2 = ck_push_idx(c, i);
			if (v != 1 && v != 2 && v != 3 && v != 4 && v != 9)
				CK_ERR(c, "办理形式应为 1 窗口、2 PC、3 移动、4 快递或 9 其他");
			else if (seen & (1u << v))
				CK_ERR(c, "办理形式 %lld 重复", (long long)v);
			else
				seen |= 1u << v;
			ck_pop(c, o2);
		}
		ck_pop(c, o);
	}
	if (json_is_false(json_object_get(item, "citywide")) &&
	    json_is_true(json_object_get(item, "separated")))
		ck_report_at(c, "separated", true,
		             "收受分离是全市通办的一种方式，但 citywide 为 false");
	const char *vm = ck_str(item, "vwin_mode");
	static const char *const vmodes[] = {"original", "virtual", "dual", NULL};
	if (vm && !ck_one_of(vm, vmodes))
		ck_report_at(c, "vwin_mode", false,
		             "虚拟窗口模式应为 original、virtual 或 dual，而不是“%s”", vm);
	else if (vm && !strcmp(vm, "virtual") && json_is_false(json_object_get(item, "separated")))
		ck_report_at(
		    c, "vwin_mode", true,
		    "没有收受分离的事项只分 original（不在虚拟窗口办理）和 dual（虚拟窗口和"
		    "中心窗口都可办理）：请写 dual");
	if (vm && !strcmp(vm, "original") && json_is_true(json_object_get(item, "home_service")))
		ck_report_at(
		    c, "home_service", true,
		    "上门办经远程虚拟窗口办理，vwin_mode 为 original 的事项不能上门办：改为 "
		    "dual，或在确需到中心办理时把 home_service 设为 false");
	json_t *bd = json_object_get(item, "bundles");
	json_array_foreach (bd, i, x) {
		if (!json_is_string(x) || !ck_is_ident(json_string_value(x))) {
			size_t o = ck_push_key(c, "bundles");
			size_t o2 = ck_push_idx(c, i);
			CK_ERR(c, "“一件事”名称应为小写字母开头的标识符（如 yanglao）");
			ck_pop(c, o2);
			ck_pop(c, o);
		}
	}
	json_t *cs = json_object_get(item, "consult");
	if (cs) {
		size_t o = ck_push_key(c, "consult");
		if (ck_check_keys(c, cs, consult_keys, "咨询信息")) {
			json_t *faqs = json_object_get(cs, "faqs");
			size_t o2 = ck_push_key(c, "faqs");
			json_array_foreach (faqs, i, x) {
				size_t o3 = ck_push_idx(c, i);
				ck_check_keys(c, x, faq_keys, "常见问题");
				ck_pop(c, o3);
			}
			ck_pop(c, o2);
			json_t *cl = json_object_get(cs, "checklist");
			json_array_foreach (cl, i, x) {
				if (!json_is_string(x) || !json_string_length(x)) {
					size_t o3 = ck_push_key(c, "checklist");
					size_t o4 = ck_push_idx(c, i);
					CK_ERR(c, "清单项应为非空字符串");
					ck_pop(c, o4);
					ck_pop(c, o3);
				}
			}
		}
		ck_pop(c, o);
	}
	json_t *subs = json_object_get(item, "sub_items");
	if (json_is_array(subs)) {
		size_t o = ck_push_key(c, "sub_items");
		if (json_array_size(subs) == 0)
			CK_ERR(c, "至少需要一个子项");
		json_t *codes = json_object();
		json_array_foreach (subs, i, x) {
			size_t o2 = ck_push_idx(c, i);
			const char *code = ck_str(x, "code");
			if (code && json_object_get(codes, code))
				ck_report_at(c, "code", false, "子项编码“%s”在本事项中重复", code);
			else if (code)
				json_object_set_new(codes, code, json_true());
			check_sub_item(c, x, i);
			ck_pop(c, o2);
		}
		json_decref(codes);
		ck_pop(c, o);
	}
}

void catalog_item_check(const struct catalog_ref *ref, const json_t *item, const char *file,
                        struct catalog_problems *pr)
{
	struct ck c = {.ref = ref, .pr = pr, .file = file};
	arena_init(&c.a, 0);
	ck_check_item(&c, item);
	arena_release(&c.a);
}
