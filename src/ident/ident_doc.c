/* ident_doc.c: identity document numbers — detection, normalisation, checks, derived facts
 * (docs/cases.md "Identity documents", DOMAIN.md "Identity documents").
 *
 * Checks run from the shape outwards: length, then characters position by position, then
 * the check character, then what the parts mean (address code, nationality, birth date).
 * A refusal names the first problem found, precisely enough for a clerk to see which
 * character to look at. Facts that can be read from the parts are derived even when a
 * later check fails, so the console can show "出生日期 1949-12-31, 男" next to a wrong check
 * digit. */
#include "ident/ident_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/str.h"
#include "core/timeutil.h"

/* ---- reference data ---- */

static const struct {
	int code;
	const char *name;
} provinces[] = {
    {11, "北京市"},           {12, "天津市"},         {13, "河北省"},
    {14, "山西省"},           {15, "内蒙古自治区"},   {21, "辽宁省"},
    {22, "吉林省"},           {23, "黑龙江省"},       {31, "上海市"},
    {32, "江苏省"},           {33, "浙江省"},         {34, "安徽省"},
    {35, "福建省"},           {36, "江西省"},         {37, "山东省"},
    {41, "河南省"},           {42, "湖北省"},         {43, "湖南省"},
    {44, "广东省"},           {45, "广西壮族自治区"}, {46, "海南省"},
    {50, "重庆市"},           {51, "四川省"},         {52, "贵州省"},
    {53, "云南省"},           {54, "西藏自治区"},     {61, "陕西省"},
    {62, "甘肃省"},           {63, "青海省"},         {64, "宁夏回族自治区"},
    {65, "新疆维吾尔自治区"}, {71, "台湾省"},         {81, "香港特别行政区"},
    {82, "澳门特别行政区"},   {83, "台湾地区"},
};

/* Shanghai's 16 districts (DOMAIN.md), named with the city as a region name reads. */
static const struct {
	const char *code;
	const char *name;
} shanghai[] = {
    {"310101", "上海市黄浦区"}, {"310104", "上海市徐汇区"},   {"310105", "上海市长宁区"},
    {"310106", "上海市静安区"}, {"310107", "上海市普陀区"},   {"310109", "上海市虹口区"},
    {"310110", "上海市杨浦区"}, {"310112", "上海市闵行区"},   {"310113", "上海市宝山区"},
    {"310114", "上海市嘉定区"}, {"310115", "上海市浦东新区"}, {"310116", "上海市金山区"},
    {"310117", "上海市松江区"}, {"310118", "上海市青浦区"},   {"310120", "上海市奉贤区"},
    {"310151", "上海市崇明区"},
};

static const struct {
	const char *code;
	const char *name;
} types[] = {
    {IDENT_ID, "居民身份证"},
    {IDENT_HMT, "港澳台居民居住证"},
    {IDENT_PR2023, "外国人永久居留身份证（2023版）"},
    {IDENT_PR2017, "外国人永久居留身份证（2017版）"},
    {IDENT_SSC, "社会保障卡"},
    {IDENT_SHRP, "上海市居住证"},
    {IDENT_MEDQR, "医保电子凭证"},
};

#define NELEM(x) (sizeof(x) / sizeof((x)[0]))

const char *ident_province_name(int code)
{
	for (size_t i = 0; i < NELEM(provinces); i++)
		if (provinces[i].code == code)
			return provinces[i].name;
	return NULL;
}

const char *ident_region_name(const char *code6)
{
	if (!code6 || strlen(code6) < 2 || code6[0] < '0' || code6[0] > '9' || code6[1] < '0' ||
	    code6[1] > '9')
		return NULL;
	int p = (code6[0] - '0') * 10 + (code6[1] - '0');
	const char *prov = ident_province_name(p);
	if (!prov)
		return NULL;
	if (p == 31 && strlen(code6) == 6)
		for (size_t i = 0; i < NELEM(shanghai); i++)
			if (!strcmp(shanghai[i].code, code6))
				return shanghai[i].name;
	return prov;
}

const char *ident_type_name(const char *type)
{
	if (!type)
		return NULL;
	for (size_t i = 0; i < NELEM(types); i++)
		if (!strcmp(types[i].code, type))
			return types[i].name;
	return NULL;
}

/* The static code string of a type (so out->type never points into caller memory). */
static const char *type_code(const char *type)
{
	for (size_t i = 0; i < NELEM(types); i++)
		if (!strcmp(types[i].code, type))
			return types[i].code;
	return NULL;
}

/* ---- dates ---- */

int64_t ident_days_from_civil(int y, int m, int d)
{
	return time_days_from_civil(y, m, d);
}

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int num(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

bool ident_date_parse(const char *s, int *y, int *m, int *d)
{
	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) ||
	    !digits(s + 5, 2) || !digits(s + 8, 2))
		return false;
	*y = num(s, 4);
	*m = num(s + 5, 2);
	*d = num(s + 8, 2);
	return time_date_valid(*y, *m, *d);
}

/* "YYYY-MM-DD" of a date whose year has 4 digits. */
static void fmt_date(char out[11], int y, int m, int d)
{
	char tmp[40];
	snprintf(tmp, sizeof(tmp), "%04d-%02d-%02d", y, m, d);
	memcpy(out, tmp, 10);
	out[10] = '\0';
}

char *ident_today(char out[11])
{
	/* China Standard Time has no daylight saving: UTC+8 all year. */
	int64_t days = (time_now_ms() / 1000 + 8 * 3600) / 86400;
	/* Howard Hinnant's civil_from_days */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	fmt_date(out, (int)y, (int)m, (int)d);
	return out;
}

/* ---- the check ---- */

struct ck {
	struct arena *a;
	struct ident_doc *out;
	int ty, tm, td; /* today */
	enum err e;     /* ERR_NOMEM once an allocation failed */
};

static bool fail(struct ck *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Record the reason (the first one wins) and return false for `return fail(...)`. */
static bool fail(struct ck *k, const char *fmt, ...)
{
	if (k->out->reason)
		return false;
	va_list ap;
	va_start(ap, fmt);
	char *s = arena_vprintf(k->a, fmt, ap);
	va_end(ap);
	if (!s)
		k->e = ERR_NOMEM;
	k->out->reason = s ? s : "号码不正确";
	return false;
}

/* 2017 PR card check digit over the first 14 characters: weights 7 3 1 repeating, digits
 * their value, letters A=10 … Z=35, sum mod 10. */
static char pr2017_check(const char *s)
{
	static const int w[3] = {7, 3, 1};
	int sum = 0;
	for (int i = 0; i < 14; i++) {
		int v = s[i] >= 'A' && s[i] <= 'Z' ? s[i] - 'A' + 10 : s[i] - '0';
		sum += v * w[i % 3];
	}
	return (char)('0' + sum % 10);
}

/* Birth date y-m-d: exists, not before 1900, not after today; fills birth_date and age. */
static bool birth(struct ck *k, int y, int m, int d)
{
	if (!time_date_valid(y, m, d))
		return fail(k, "出生日期不正确（%04d-%02d-%02d 不存在）", y, m, d);
	if (y < 1900)
		return fail(k, "出生日期不正确（%04d-%02d-%02d 早于 1900 年）", y, m, d);
	if (ident_days_from_civil(y, m, d) > ident_days_from_civil(k->ty, k->tm, k->td))
		return fail(k, "出生日期晚于今天（%04d-%02d-%02d）", y, m, d);
	fmt_date(k->out->birth_date, y, m, d);
	int age = k->ty - y - (k->tm < m || (k->tm == m && k->td < d));
	k->out->age = age;
	return true;
}

static void sex_of(struct ck *k, char digit)
{
	k->out->sex[0] = (digit - '0') % 2 ? '1' : '2';
	k->out->sex[1] = '\0';
}

static const char *dup(struct ck *k, const char *s, size_t n)
{
	char *p = arena_strndup(k->a, s, n);
	if (!p)
		k->e = ERR_NOMEM;
	return p;
}

/* Length and characters of an 18-character number: 17 digits and a digit or X. */
static bool shape18(struct ck *k, const char *s)
{
	size_t n = strlen(s);
	if (n != 18)
		return fail(k, "号码应为 18 位（现为 %zu 位）", n);
	for (int i = 0; i < 17; i++)
		if (s[i] < '0' || s[i] > '9')
			return fail(k, "第 %d 位应为数字", i + 1);
	if (!(s[17] >= '0' && s[17] <= '9') && s[17] != 'X')
		return fail(k, "第 18 位（校验位）应为数字或 X");
	return true;
}

static bool check18(struct ck *k, const char *s)
{
	char want = str_mod11_2(s);
	if (s[17] != want)
		return fail(k, "校验位不正确（应为 %c）", want);
	return true;
}

static bool hmt_prefix(const char *s)
{
	return !strncmp(s, "810000", 6) || !strncmp(s, "820000", 6) || !strncmp(s, "830000", 6);
}

static bool check_111(struct ck *k, const char *s)
{
	if (!shape18(k, s))
		return false;
	if (hmt_prefix(s))
		return fail(k, "这是港澳台居民居住证的号码，请选择证件类型“港澳台居民居住证”");
	if (s[0] == '9')
		return fail(k, "这是外国人永久居留身份证的号码，请选择证件类型“外国人永久居留身份证"
		               "（2023版）”");
	/* derive before the check digit so a typo still shows what the number says */
	int p = num(s, 2);
	k->out->region_code = dup(k, s, 6);
	k->out->region_name = k->out->region_code ? ident_region_name(k->out->region_code) : NULL;
	sex_of(k, s[16]);
	bool ok = check18(k, s);
	if (!ident_province_name(p))
		ok = fail(k, "地址码不正确（未知的省级行政区划代码 %02d）", p);
	if (!birth(k, num(s + 6, 4), num(s + 10, 2), num(s + 12, 2)))
		ok = false;
	return ok;
}

static bool check_hmt(struct ck *k, const char *s)
{
	if (!shape18(k, s))
		return false;
	if (!hmt_prefix(s))
		return fail(
		    k,
		    "港澳台居民居住证号码应以 810000（香港）、820000（澳门）或 830000（台湾）开头");
	static const char *const names[] = {"香港", "澳门", "台湾"};
	k->out->region_code = dup(k, s, 6);
	k->out->region_name = names[s[1] - '1'];
	sex_of(k, s[16]);
	bool ok = check18(k, s);
	if (!birth(k, num(s + 6, 4), num(s + 10, 2), num(s + 12, 2)))
		ok = false;
	return ok;
}

static bool check_pr2023(struct ck *k, const char *s)
{
	if (!shape18(k, s))
		return false;
	if (s[0] != '9')
		return fail(k, "2023 版外国人永久居留身份证号码应以 9 开头");
	int p = num(s + 1, 2), nat = num(s + 3, 3);
	const struct ident_country *c = ident_country_by_numeric(nat);
	k->out->region_code = dup(k, s + 1, 2);
	k->out->region_name = ident_province_name(p);
	if (c) {
		k->out->nationality = c->alpha3;
		k->out->nationality_name = c->name;
	}
	sex_of(k, s[16]);
	bool ok = check18(k, s);
	if (!k->out->region_name)
		ok = fail(k, "受理地代码不正确（未知的省级行政区划代码 %02d）", p);
	if (!c)
		ok = fail(k, "国籍代码不正确（未知的国家或地区代码 %03d）", nat);
	if (!birth(k, num(s + 6, 4), num(s + 10, 2), num(s + 12, 2)))
		ok = false;
	return ok;
}

static bool check_pr2017(struct ck *k, const char *s)
{
	size_t n = strlen(s);
	if (n != 15)
		return fail(k, "号码应为 15 位（3 位国籍字母 + 12 位数字，现为 %zu 位）", n);
	for (int i = 0; i < 3; i++)
		if (s[i] < 'A' || s[i] > 'Z')
			return fail(k, "第 %d 位应为字母（前 3 位是国籍代码）", i + 1);
	for (int i = 3; i < 15; i++)
		if (s[i] < '0' || s[i] > '9')
			return fail(k, "第 %d 位应为数字", i + 1);
	char a3[4] = {s[0], s[1], s[2], '\0'};
	const struct ident_country *c = ident_country_by_alpha3(a3);
	int p = num(s + 3, 2);
	k->out->region_code = dup(k, s + 3, 4);
	k->out->region_name = ident_province_name(p);
	if (c) {
		k->out->nationality = c->alpha3;
		k->out->nationality_name = c->name;
	}
	sex_of(k, s[13]);
	bool ok = true;
	char want = pr2017_check(s);
	if (s[14] != want)
		ok = fail(k, "校验位不正确（应为 %c）", want);
	if (!c)
		ok = fail(k, "国籍代码不正确（未知的国家或地区代码 %s）", a3);
	if (!k->out->region_name)
		ok = fail(k, "受理地代码不正确（未知的省级行政区划代码 %02d）", p);
	/* YYMMDD: the century is the latest that does not put the birth in the future */
	int yy = num(s + 7, 2), m = num(s + 9, 2), d = num(s + 11, 2);
	int y = (k->ty / 100) * 100 + yy;
	if (y > k->ty || (y == k->ty && (m > k->tm || (m == k->tm && d > k->td))))
		y -= 100;
	if (!birth(k, y, m, d))
		ok = false;
	return ok;
}

static bool check_medqr(struct ck *k, const char *s)
{
	/* the length was bounded by IDENT_NUMBER_MAX (512) before */
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return fail(k, "电子凭证码第 %zu 个字符不允许（只能是可见的 ASCII 字符）",
			            i + 1);
	return true;
}

/* The type an 18- or 15-character number has by its layout; NULL when none fits. */
static const char *detect(const char *s)
{
	size_t n = strlen(s);
	if (n == 18) {
		if (hmt_prefix(s))
			return IDENT_HMT;
		if (s[0] == '9')
			return IDENT_PR2023;
		if (s[0] >= '1' && s[0] <= '8')
			return IDENT_ID;
		return NULL;
	}
	if (n == 15 && s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z' && s[2] >= 'A' &&
	    s[2] <= 'Z' && digits(s + 3, 12))
		return IDENT_PR2017;
	return NULL;
}

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static void doc_clear(struct ident_doc *out)
{
	memset(out, 0, sizeof(*out));
	out->number = "";
	out->age = -1;
}

enum err ident_check(const char *type, const char *number, const char *today, struct arena *a,
                     struct ident_doc *out)
{
	struct ck k = {.a = a, .out = out};
	char todaybuf[11];
	doc_clear(out);
	if (type) {
		out->type = type_code(type);
		out->type_name = ident_type_name(type);
	}
	if (!number) {
		fail(&k, "请填写证件号码");
		goto out;
	}
	size_t n = strlen(number);
	if (n > IDENT_NUMBER_MAX) {
		fail(&k, "号码过长（最多 %d 个字符）", IDENT_NUMBER_MAX);
		goto out;
	}
	while (n && is_ws(number[n - 1]))
		n--;
	while (n && is_ws(*number)) {
		number++;
		n--;
	}
	char *norm = arena_strndup(a, number, n);
	if (!norm) {
		k.e = ERR_NOMEM;
		goto out;
	}
	/* x is the check character X typed in lower case; a PR2017 number's letters are the
	 * nationality, upper-case in the standard. A MEDQR token is opaque: kept as given. */
	if (!type || strcmp(type, IDENT_MEDQR) != 0)
		for (char *p = norm; *p; p++)
			if (*p >= 'a' && *p <= 'z')
				*p = (char)(*p - 'a' + 'A');
	out->number = norm;
	if (!*norm) {
		fail(&k, "请填写证件号码");
		goto out;
	}
	if (!ident_date_parse(today ? today : ident_today(todaybuf), &k.ty, &k.tm, &k.td)) {
		fail(&k, "内部错误：当天日期无效");
		k.e = ERR_INTERNAL;
		goto out;
	}
	if (type && !out->type) {
		fail(&k, "不支持的证件类型“%.40s”", type);
		goto out;
	}
	if (!type) {
		out->type = detect(norm);
		if (!out->type) {
			size_t len = strlen(norm);
			if (len == 18)
				fail(&k, "无法识别证件类型：18 位号码的第 1 位应为 1–9");
			else if (len == 15)
				fail(&k,
				     "无法识别证件类型：15 位号码应为 3 位国籍字母加 12 位数字");
			else
				fail(&k,
				     "无法识别证件类型：号码应为 18 位（或 2017 "
				     "版外国人永久居留身份证的 15 "
				     "位），现为 %zu 位",
				     len);
			goto out;
		}
		out->type_name = ident_type_name(out->type);
	}
	const char *t = out->type;
	if (!strcmp(t, IDENT_MEDQR)) {
		out->valid = check_medqr(&k, norm);
		goto out;
	}
	const char *layout = t;
	if (!strcmp(t, IDENT_SSC) || !strcmp(t, IDENT_SHRP)) {
		/* the number is the holder's: 公民身份号码, or a HMT / 2023 PR number */
		layout = strlen(norm) == 18 ? detect(norm) : NULL;
		if (!layout) {
			if (!shape18(&k, norm))
				goto out;
			fail(&k, "%s号码应为持证人的公民身份号码（第 1 位应为 1–9）",
			     out->type_name);
			goto out;
		}
	}
	out->holder_type = layout;
	if (!strcmp(layout, IDENT_ID))
		out->valid = check_111(&k, norm);
	else if (!strcmp(layout, IDENT_HMT))
		out->valid = check_hmt(&k, norm);
	else if (!strcmp(layout, IDENT_PR2023))
		out->valid = check_pr2023(&k, norm);
	else
		out->valid = check_pr2017(&k, norm);
out:
	if (k.e == ERR_NOMEM || k.e == ERR_INTERNAL)
		out->valid = false;
	if (k.e)
		return k.e;
	if (!out->valid && !out->reason)
		out->reason = "号码不正确";
	return out->valid ? ERR_OK : ERR_INVALID;
}

static json_t *str_or_null(const char *s)
{
	return s && *s ? json_string(s) : json_null();
}

json_t *ident_doc_json(const struct ident_doc *d, bool with_number)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	int rc = 0;
	rc |= json_object_set_new(o, "valid", json_boolean(d->valid));
	rc |= json_object_set_new(o, "type", str_or_null(d->type));
	rc |= json_object_set_new(o, "type_name", str_or_null(d->type_name));
	if (with_number)
		rc |= json_object_set_new(o, "number", str_or_null(d->number));
	rc |= json_object_set_new(o, "reason", str_or_null(d->reason));
	rc |= json_object_set_new(o, "holder_type", str_or_null(d->holder_type));
	rc |= json_object_set_new(o, "birth_date", str_or_null(d->birth_date));
	rc |= json_object_set_new(o, "sex", str_or_null(d->sex));
	rc |= json_object_set_new(o, "age", d->age >= 0 ? json_integer(d->age) : json_null());
	rc |= json_object_set_new(o, "region_code", str_or_null(d->region_code));
	rc |= json_object_set_new(o, "region_name", str_or_null(d->region_name));
	rc |= json_object_set_new(o, "nationality", str_or_null(d->nationality));
	rc |= json_object_set_new(o, "nationality_name", str_or_null(d->nationality_name));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}
