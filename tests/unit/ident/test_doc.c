/* test_doc.c: identity document numbers — every type with valid numbers (the DOMAIN.md
 * samples among them), each refusal with its precise reason, detection, normalisation,
 * derived facts (birth date, sex, age, region, nationality), 29 February in leap and
 * common years, the country table, and catalog_id_number_valid agreeing with ident_check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <string.h>

#include "catalog/catalog.h"
#include "core/arena.h"
#include "ident/ident.h"
#include "ident/ident_int.h"

#define TODAY "2026-06-01"

static struct arena a;

static int setup(void **state)
{
	(void)state;
	arena_init(&a, 1 << 20);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	arena_release(&a);
	return 0;
}

/* Check and expect validity; returns the doc. */
static struct ident_doc ok(const char *type, const char *number)
{
	struct ident_doc d;
	enum err e = ident_check(type, number, TODAY, &a, &d);
	if (e != ERR_OK)
		fail_msg("%s %s refused: %s", type ? type : "(detect)", number,
		         d.reason ? d.reason : "?");
	assert_true(d.valid);
	assert_null(d.reason);
	return d;
}

/* Check and expect refusal with exactly reason. */
static struct ident_doc bad(const char *type, const char *number, const char *reason)
{
	struct ident_doc d;
	assert_int_equal(ident_check(type, number, TODAY, &a, &d), ERR_INVALID);
	assert_false(d.valid);
	assert_non_null(d.reason);
	if (reason && strcmp(d.reason, reason) != 0)
		fail_msg("%s %s: reason \"%s\", expected \"%s\"", type ? type : "(detect)", number,
		         d.reason, reason);
	return d;
}

static void test_samples(void **state)
{
	(void)state;
	struct ident_doc d = ok(IDENT_ID, "11010519491231002X");
	assert_string_equal(d.type, "111");
	assert_string_equal(d.type_name, "居民身份证");
	assert_string_equal(d.birth_date, "1949-12-31");
	assert_string_equal(d.sex, "2"); /* 17th digit 2: even */
	assert_int_equal(d.age, 76);
	assert_string_equal(d.region_code, "110105");
	assert_string_equal(d.region_name, "北京市");
	assert_null(d.nationality);

	d = ok(IDENT_PR2023, "932682198501010017");
	assert_string_equal(d.nationality, "SAU");
	assert_string_equal(d.nationality_name, "沙特阿拉伯");
	assert_string_equal(d.region_code, "32");
	assert_string_equal(d.region_name, "江苏省");
	assert_string_equal(d.birth_date, "1985-01-01");
	assert_string_equal(d.sex, "1");
	assert_int_equal(d.age, 41);

	d = ok(IDENT_PR2023, "911124198108030024");
	assert_string_equal(d.nationality, "CAN");
	assert_string_equal(d.nationality_name, "加拿大");
	assert_string_equal(d.region_name, "北京市");
	assert_string_equal(d.birth_date, "1981-08-03");
	assert_string_equal(d.sex, "2");

	d = ok(IDENT_PR2017, "KAZ110090123105");
	assert_string_equal(d.nationality, "KAZ");
	assert_string_equal(d.nationality_name, "哈萨克斯坦");
	assert_string_equal(d.region_code, "1100");
	assert_string_equal(d.region_name, "北京市");
	assert_string_equal(d.birth_date, "1990-12-31");
	assert_string_equal(d.sex, "2"); /* sex digit 0 */
	assert_int_equal(d.age, 35);
}

static void test_id_card(void **state)
{
	(void)state;
	struct ident_doc d = ok(IDENT_ID, "310104194912310020");
	assert_string_equal(d.region_name, "上海市徐汇区");
	d = ok(IDENT_ID, "310115198001010024");
	assert_string_equal(d.region_name, "上海市浦东新区");
	assert_string_equal(d.region_code, "310115");
	d = ok(IDENT_ID, "310120198001010017");
	assert_string_equal(d.region_name, "上海市奉贤区");
	assert_string_equal(d.sex, "1");
	d = ok(IDENT_ID, "44030519800101003X");
	assert_string_equal(d.region_name, "广东省");

	bad(IDENT_ID, "31010419491231002", "号码应为 18 位（现为 17 位）");
	bad(IDENT_ID, "3101041949123100200", "号码应为 18 位（现为 19 位）");
	bad(IDENT_ID, "3101041949123100A0", "第 17 位应为数字");
	bad(IDENT_ID, "31010A194912310020", "第 6 位应为数字");
	bad(IDENT_ID, "31010419491231002Y", "第 18 位（校验位）应为数字或 X");
	d = bad(IDENT_ID, "110105194912310021", "校验位不正确（应为 X）");
	/* what the number says is still shown next to the refusal */
	assert_string_equal(d.birth_date, "1949-12-31");
	assert_string_equal(d.region_name, "北京市");
	bad(IDENT_ID, "310104194912310021", "校验位不正确（应为 0）");
	bad(IDENT_ID, "010105194912310026", "地址码不正确（未知的省级行政区划代码 01）");
	bad(IDENT_ID, "240105194912310029", "地址码不正确（未知的省级行政区划代码 24）");
	bad(IDENT_ID, "160105194912310029", "地址码不正确（未知的省级行政区划代码 16）");
	bad(IDENT_ID, "310104202302300017", "出生日期不正确（2023-02-30 不存在）");
	bad(IDENT_ID, "310104189912310016", "出生日期不正确（1899-12-31 早于 1900 年）");
	bad(IDENT_ID, "310104209912310011", "出生日期晚于今天（2099-12-31）");
	/* another document's number under the wrong type says which type it is */
	d = bad(IDENT_ID, "810000199001011230", NULL);
	assert_non_null(strstr(d.reason, "港澳台居民居住证"));
	d = bad(IDENT_ID, "932682198501010017", NULL);
	assert_non_null(strstr(d.reason, "外国人永久居留身份证"));
}

static void test_age_and_leap_days(void **state)
{
	(void)state;
	/* the birthday itself counts */
	assert_int_equal(ok(IDENT_ID, "310104200006010016").age, 26);
	assert_int_equal(ok(IDENT_ID, "310104200006020011").age, 25);
	/* 29 February: 2000 and 2024 are leap years, 1900 and 2023 are not */
	assert_string_equal(ok(IDENT_ID, "310104200002290014").birth_date, "2000-02-29");
	assert_string_equal(ok(IDENT_ID, "310104202402290012").birth_date, "2024-02-29");
	bad(IDENT_ID, "310104190002290026", "出生日期不正确（1900-02-29 不存在）");
	bad(IDENT_ID, "310104202302290015", "出生日期不正确（2023-02-29 不存在）");
	ok(IDENT_PR2023, "911124200002290020");
	bad(IDENT_PR2023, "911124200102290028", "出生日期不正确（2001-02-29 不存在）");
	/* 2017 PR: YY 20 → 2020 (leap), 00 → 2000 (leap), 99 → 1999 (the latest century not
	 * in the future; not leap) */
	assert_string_equal(ok(IDENT_PR2017, "KAZ110020022902").birth_date, "2020-02-29");
	assert_string_equal(ok(IDENT_PR2017, "KAZ110000022906").birth_date, "2000-02-29");
	bad(IDENT_PR2017, "KAZ110099022902", "出生日期不正确（1999-02-29 不存在）");
	/* a birth on today is fine, tomorrow is not */
	struct ident_doc d;
	assert_int_equal(ident_check(IDENT_ID, "310104200006020011", "2000-06-02", &a, &d), ERR_OK);
	assert_int_equal(d.age, 0);
	assert_int_equal(ident_check(IDENT_ID, "310104200006020011", "2000-06-01", &a, &d),
	                 ERR_INVALID);
	assert_string_equal(d.reason, "出生日期晚于今天（2000-06-02）");
}

static void test_hmt(void **state)
{
	(void)state;
	struct ident_doc d = ok(IDENT_HMT, "810000199001011230");
	assert_string_equal(d.region_name, "香港");
	assert_string_equal(d.region_code, "810000");
	assert_string_equal(d.sex, "1");
	d = ok(IDENT_HMT, "820000199001011240");
	assert_string_equal(d.region_name, "澳门");
	assert_string_equal(d.sex, "2");
	d = ok(IDENT_HMT, "830000199001011226");
	assert_string_equal(d.region_name, "台湾");
	bad(IDENT_HMT, "810000199001011231", "校验位不正确（应为 0）");
	d = bad(IDENT_HMT, "11010519491231002X", NULL);
	assert_non_null(strstr(d.reason, "810000"));
}

static void test_pr(void **state)
{
	(void)state;
	bad(IDENT_PR2023, "932682198501010018", "校验位不正确（应为 7）");
	bad(IDENT_PR2023, "933999198501010011", "国籍代码不正确（未知的国家或地区代码 999）");
	bad(IDENT_PR2023, "999124198501010013", "受理地代码不正确（未知的省级行政区划代码 99）");
	bad(IDENT_PR2023, "11010519491231002X", "2023 版外国人永久居留身份证号码应以 9 开头");
	bad(IDENT_PR2017, "KAZ110090123104", "校验位不正确（应为 5）");
	bad(IDENT_PR2017, "ZZZ110090123105", "国籍代码不正确（未知的国家或地区代码 ZZZ）");
	bad(IDENT_PR2017, "KAZ990090123105", "受理地代码不正确（未知的省级行政区划代码 99）");
	bad(IDENT_PR2017, "KAZ11009012310",
	    "号码应为 15 位（3 位国籍字母 + 12 位数字，现为 14 位）");
	bad(IDENT_PR2017, "K4Z110090123105", "第 2 位应为字母（前 3 位是国籍代码）");
	bad(IDENT_PR2017, "KAZ1100901231A5", "第 14 位应为数字");
	/* letters are upper-cased: the standard writes them so */
	struct ident_doc d = ok(IDENT_PR2017, "kaz110090123105");
	assert_string_equal(d.number, "KAZ110090123105");
}

static void test_normalise(void **state)
{
	(void)state;
	struct ident_doc d = ok(IDENT_ID, "  11010519491231002x \t");
	assert_string_equal(d.number, "11010519491231002X");
	bad(IDENT_ID, "   ", "请填写证件号码");
	bad(IDENT_ID, NULL, "请填写证件号码");
	char longer[IDENT_NUMBER_MAX + 2];
	memset(longer, '1', sizeof(longer) - 1);
	longer[sizeof(longer) - 1] = '\0';
	bad(NULL, longer, "号码过长（最多 512 个字符）");
	d = bad("XYZ", "11010519491231002X", "不支持的证件类型“XYZ”");
	assert_null(d.type);
}

static void test_detect(void **state)
{
	(void)state;
	assert_string_equal(ok(NULL, "11010519491231002X").type, "111");
	assert_string_equal(ok(NULL, "810000199001011230").type, "HMT");
	assert_string_equal(ok(NULL, "932682198501010017").type, "PR2023");
	struct ident_doc d = ok(NULL, "kaz110090123105");
	assert_string_equal(d.type, "PR2017");
	assert_string_equal(d.type_name, "外国人永久居留身份证（2017版）");
	/* a detected type is then checked as that type */
	d = bad(NULL, "110105194912310021", "校验位不正确（应为 X）");
	assert_string_equal(d.type, "111");
	d = bad(NULL, "010105194912310026", "无法识别证件类型：18 位号码的第 1 位应为 1–9");
	assert_null(d.type);
	bad(NULL, "1234567",
	    "无法识别证件类型：号码应为 18 位（或 2017 版外国人永久居留身份证的 15 "
	    "位），现为 7 位");
	bad(NULL, "KA1110090123105", "无法识别证件类型：15 位号码应为 3 位国籍字母加 12 位数字");
}

static void test_holder_documents(void **state)
{
	(void)state;
	struct ident_doc d = ok(IDENT_SSC, "11010519491231002X");
	assert_string_equal(d.type, "SSC");
	assert_string_equal(d.holder_type, "111");
	assert_string_equal(d.birth_date, "1949-12-31");
	d = ok(IDENT_SHRP, "932682198501010017");
	assert_string_equal(d.holder_type, "PR2023");
	d = ok(IDENT_SSC, "810000199001011230");
	assert_string_equal(d.holder_type, "HMT");
	bad(IDENT_SSC, "110105194912310021", "校验位不正确（应为 X）");
	bad(IDENT_SSC, "KAZ110090123105", "号码应为 18 位（现为 15 位）");
	bad(IDENT_SHRP, "010105194912310026",
	    "上海市居住证号码应为持证人的公民身份号码（第 1 位应为 1–9）");
}

static void test_medqr(void **state)
{
	(void)state;
	struct ident_doc d = ok(IDENT_MEDQR, "  abcDEF0123456789-_.~  ");
	assert_string_equal(d.number, "abcDEF0123456789-_.~"); /* opaque: case kept */
	assert_null(d.holder_type);
	assert_string_equal(d.birth_date, "");
	assert_int_equal(d.age, -1);
	bad(IDENT_MEDQR, "abc def", "电子凭证码第 4 个字符不允许（只能是可见的 ASCII 字符）");
	bad(IDENT_MEDQR, "码abc", "电子凭证码第 1 个字符不允许（只能是可见的 ASCII 字符）");
	char tok[514];
	memset(tok, 'A', 513);
	tok[513] = '\0';
	bad(IDENT_MEDQR, tok, "号码过长（最多 512 个字符）");
	tok[512] = '\0';
	ok(IDENT_MEDQR, tok);
	/* never detected */
	bad(NULL, "abcDEF0123", NULL);
}

static void test_json(void **state)
{
	(void)state;
	struct ident_doc d = ok(IDENT_ID, "310104194912310020");
	json_t *j = ident_doc_json(&d, false);
	assert_non_null(j);
	assert_true(json_is_true(json_object_get(j, "valid")));
	assert_null(json_object_get(j, "number"));
	assert_string_equal(json_string_value(json_object_get(j, "region_name")), "上海市徐汇区");
	assert_true(json_is_null(json_object_get(j, "reason")));
	assert_int_equal(json_integer_value(json_object_get(j, "age")), 76);
	json_decref(j);
	d = bad(IDENT_ID, "310104194912310021", NULL);
	j = ident_doc_json(&d, true);
	assert_string_equal(json_string_value(json_object_get(j, "number")), "310104194912310021");
	assert_string_equal(json_string_value(json_object_get(j, "reason")),
	                    "校验位不正确（应为 0）");
	json_decref(j);
}

static void test_tables(void **state)
{
	(void)state;
	assert_int_equal(ident_country_count(), 249);
	assert_string_equal(ident_country_by_numeric(156)->alpha3, "CHN");
	assert_string_equal(ident_country_by_numeric(4)->alpha3, "AFG");
	assert_string_equal(ident_country_by_numeric(894)->alpha3, "ZMB");
	assert_null(ident_country_by_numeric(999));
	assert_null(ident_country_by_numeric(0));
	assert_int_equal(ident_country_by_alpha3("DEU")->numeric, 276);
	assert_null(ident_country_by_alpha3("QQQ"));
	assert_null(ident_country_by_alpha3("DE"));
	/* every alpha-3 maps back to its numeric */
	for (int n = 1; n < 1000; n++) {
		const struct ident_country *c = ident_country_by_numeric(n);
		if (c)
			assert_ptr_equal(ident_country_by_alpha3(c->alpha3), c);
	}
	int known = 0;
	for (int p = 0; p < 100; p++)
		known += ident_province_name(p) != NULL;
	assert_int_equal(known, 35);
	assert_string_equal(ident_region_name("310151"), "上海市崇明区");
	assert_string_equal(ident_region_name("310103"), "上海市"); /* old 卢湾区: the city */
	assert_null(ident_region_name("990000"));
	assert_string_equal(ident_type_name("SHRP"), "上海市居住证");
	assert_null(ident_type_name("999"));
}

static void test_catalog_agrees(void **state)
{
	(void)state;
	const char *why = NULL;
	assert_true(catalog_id_number_valid("111", "11010519491231002X", TODAY, &why));
	assert_null(why);
	assert_false(catalog_id_number_valid("111", "110105194912310021", TODAY, &why));
	assert_string_equal(why, "校验位不正确（应为 X）");
	assert_false(catalog_id_number_valid("PR2017", "KAZ990090123105", TODAY, &why));
	assert_string_equal(why, "受理地代码不正确（未知的省级行政区划代码 99）");
	assert_false(catalog_id_number_valid(NULL, "11010519491231002X", TODAY, &why));
	assert_true(catalog_id_number_valid("MEDQR", "tok-123", TODAY, NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_samples),
	    cmocka_unit_test(test_id_card),
	    cmocka_unit_test(test_age_and_leap_days),
	    cmocka_unit_test(test_hmt),
	    cmocka_unit_test(test_pr),
	    cmocka_unit_test(test_normalise),
	    cmocka_unit_test(test_detect),
	    cmocka_unit_test(test_holder_documents),
	    cmocka_unit_test(test_medqr),
	    cmocka_unit_test(test_json),
	    cmocka_unit_test(test_tables),
	    cmocka_unit_test(test_catalog_agrees),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
