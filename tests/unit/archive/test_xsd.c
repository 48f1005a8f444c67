/* test_xsd.c: the three archive packages against archive/xsd/shouli-archive-v1.xsd — a valid
 * package of each kind passes (and says what the case holds, with file signatures that
 * verify), and each class of invalid package is refused with the offending element named:
 * a missing required element, a wrong type or format (a date that does not exist, a 63-hex
 * SM3, upper-case hex, an unknown retention code), an element the schema does not know, an
 * empty list of steps or files, text that is not XML at all. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "archive/archive_int.h"
#include "core/arena.h"
#include "core/buf.h"
#include "crypto/crypto.h"

static struct archive_schema *schema;
static struct crypto_sm2_key *key;

static const char SM3_A[] = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0";
static const char SM3_B[] = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732";

static int setup(void **state)
{
	const char *src = getenv("SHOULI_SOURCE_DIR");
	char path[1024], msg[600];
	(void)state;
	snprintf(path, sizeof(path), "%s/" ARCHIVE_XSD_REL, src ? src : ".");
	if (crypto_init() || archive_schema_load(path, &schema, msg, sizeof(msg))) {
		fprintf(stderr, "cannot load %s: %s\n", path, msg);
		return -1;
	}
	return crypto_sm2_generate(&key) ? -1 : 0;
}

static int teardown(void **state)
{
	(void)state;
	archive_schema_destroy(schema);
	crypto_sm2_destroy(key);
	return 0;
}

/* base64 DER SM2 signature of the 32 bytes of hex digest h, from a */
static const char *sign(struct arena *a, const char *h)
{
	unsigned char d[32];
	struct buf sig, b64;
	buf_init(&sig, 128);
	buf_init(&b64, 256);
	assert_true(hex_decode(h, 64, d, sizeof(d)));
	assert_int_equal(crypto_sm2_sign(key, NULL, d, sizeof(d), &sig), ERR_OK);
	assert_int_equal(buf_base64(&b64, sig.p, sig.len), ERR_OK);
	const char *out = arena_strndup(a, b64.p, b64.len);
	buf_release(&sig);
	buf_release(&b64);
	return out;
}

static const char *pub_hex(struct arena *a)
{
	unsigned char pub[65];
	struct buf h;
	buf_init(&h, 256);
	assert_int_equal(crypto_sm2_public_raw(key, pub), ERR_OK);
	assert_int_equal(buf_hex(&h, pub, sizeof(pub)), ERR_OK);
	const char *out = arena_strndup(a, h.p, h.len);
	buf_release(&h);
	return out;
}

struct fixture {
	struct arena a;
	struct archive_step steps[3];
	struct archive_file files[2];
	struct archive_case ac;
};

/* A completed 社保 case: opened, accepted, completed; two scans. */
static void fixture_init(struct fixture *f)
{
	const int64_t t = 1795915200000; /* 2026-11-29T09:20:00+08:00 */
	memset(f, 0, sizeof(*f));
	arena_init(&f->a, 0);
	f->steps[0] = (struct archive_step){"新建", "open", "王窗口", "", t, t};
	f->steps[1] = (struct archive_step){"受理", "accept", "王窗口", "", t, t + 600000};
	f->steps[2] = (struct archive_step){
	    "办结", "complete", "李科长", "准予变更 <联系电话> & 地址", t + 600000, t + 86400000};
	f->files[0] = (struct archive_file){.title = "身份证正反面",
	                                    .material_name = "申请人有效身份证件",
	                                    .material_id = "applicant_id",
	                                    .format = "JPEG",
	                                    .size = 6000,
	                                    .sm3 = SM3_A,
	                                    .signature = sign(&f->a, SM3_A),
	                                    .created_ms = t + 120000,
	                                    .pages = 1,
	                                    .source = "scan"};
	f->files[1] = (struct archive_file){.title = "户口簿",
	                                    .material_name = "户口簿",
	                                    .material_id = "hukou",
	                                    .format = "PDF",
	                                    .size = 120345,
	                                    .sm3 = SM3_B,
	                                    .signature = sign(&f->a, SM3_B),
	                                    .created_ms = t + 180000,
	                                    .pages = 3,
	                                    .source = "upload"};
	f->ac = (struct archive_case){
	    .case_no = "310104014C1-20261129-000042",
	    .item_name = "社会保险个人基本信息变更",
	    .item_code = "310001012000",
	    .impl_code = "11310000002420455M4310001012000",
	    .sub_item_name = "社会保险个人基本信息变更（联系电话、地址等一般信息）",
	    .sub_item_code = "310001012000-01",
	    .case_type = 2,
	    .category = "社保",
	    .retention = "30y",
	    .package = "shebao_v09",
	    .org_name = "徐汇区湖南路街道社区事务受理服务中心",
	    .org_code = "310104014C1",
	    .applicant_name = "张三",
	    .applicant_id_type = "111",
	    .applicant_id_number = "11010519491231002X",
	    .created_ms = t,
	    .accepted_ms = t + 600000,
	    .completed_ms = t + 86400000,
	    .promised_date = "2026-12-04",
	    .result = "approved",
	    .opinion = "准予变更",
	    .cert_no = NULL,
	    .archived_ms = t + 90000000,
	    .sign_pub_hex = pub_hex(&f->a),
	    .steps = f->steps,
	    .nsteps = 3,
	    .files = f->files,
	    .nfiles = 2,
	};
}

static const char *build(struct fixture *f, enum archive_part p)
{
	char *xml = NULL;
	size_t n = 0;
	assert_int_equal(archive_doc_build(&f->ac, p, &f->a, &xml, &n), ERR_OK);
	assert_int_equal(strlen(xml), n);
	return xml;
}

/* xml with the first occurrence of from replaced by to (from must occur). */
static const char *replace(struct arena *a, const char *xml, const char *from, const char *to)
{
	const char *hit = strstr(xml, from);
	assert_non_null(hit);
	return arena_printf(a, "%.*s%s%s", (int)(hit - xml), xml, to, hit + strlen(from));
}

/* Validate xml, expect ERR_INVALID, and return the error (its field and message set). */
static struct errinfo refused(struct fixture *f, const char *xml)
{
	struct errinfo ei = {0};
	assert_int_equal(archive_validate(schema, xml, strlen(xml), &f->a, &ei), ERR_INVALID);
	assert_non_null(ei.field);
	assert_non_null(ei.msg);
	return ei;
}

static void valid(struct fixture *f, const char *xml)
{
	struct errinfo ei = {0};
	enum err e = archive_validate(schema, xml, strlen(xml), &f->a, &ei);
	if (e)
		fprintf(stderr, "%s\n%s: %s\n", xml, ei.field, ei.msg);
	assert_int_equal(e, ERR_OK);
}

static void test_valid_packages(void **state)
{
	struct fixture f;
	(void)state;
	fixture_init(&f);
	const char *basic = build(&f, ARCHIVE_BASIC);
	const char *process = build(&f, ARCHIVE_PROCESS);
	const char *files = build(&f, ARCHIVE_FILES);
	valid(&f, basic);
	valid(&f, process);
	valid(&f, files);
	/* they say what the case holds */
	assert_non_null(strstr(basic, "<归档事项基本信息 版本=\"1.0\">"));
	assert_non_null(strstr(basic, "<办件编号>310104014C1-20261129-000042</办件编号>"));
	assert_non_null(strstr(basic, "<保管期限>30年</保管期限>"));
	assert_non_null(strstr(basic, "<办件类型>承诺件</办件类型>"));
	assert_non_null(strstr(basic, "<结果>准予</结果>"));
	assert_non_null(strstr(basic, "<受理时间>2026-11-29T09:30:00.000+08:00</受理时间>"));
	assert_null(strstr(basic, "证照编号")); /* optional and absent */
	assert_non_null(strstr(process, "<办理环节 序号=\"3\">"));
	assert_null(strstr(process, "序号=\"4\""));
	/* markup in text is escaped, not interpreted */
	assert_non_null(strstr(process, "准予变更 &lt;联系电话&gt; &amp; 地址"));
	assert_non_null(strstr(files,
	                       "<SM3杂凑值>"
	                       "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"));
	assert_non_null(strstr(files, "<页数>3</页数>"));

	/* the signature in the package verifies against the public key in the package */
	const char *s = strstr(files, "<签名值>");
	assert_non_null(s);
	s += strlen("<签名值>");
	const char *end = strstr(s, "</签名值>");
	struct buf der;
	unsigned char d[32];
	buf_init(&der, 128);
	assert_int_equal(base64_decode(s, (size_t)(end - s), 0, &der), ERR_OK);
	assert_true(hex_decode(SM3_A, 64, d, sizeof(d)));
	assert_int_equal(crypto_sm2_verify(key, NULL, d, sizeof(d), der.p, der.len), ERR_OK);
	d[0] ^= 1;
	assert_int_equal(crypto_sm2_verify(key, NULL, d, sizeof(d), der.p, der.len), ERR_INTEGRITY);
	buf_release(&der);

	/* each kind with its optional elements gone and a rejected result stays valid */
	f.ac.impl_code = NULL;
	f.ac.package = NULL;
	f.ac.promised_date = NULL;
	f.ac.case_type = 1;
	f.ac.result = "rejected";
	f.ac.cert_no = "SB2026-0001";
	valid(&f, build(&f, ARCHIVE_BASIC));
	arena_release(&f.a);
}

static void test_missing_required_element(void **state)
{
	struct fixture f;
	(void)state;
	fixture_init(&f);
	const char *basic = build(&f, ARCHIVE_BASIC);
	/* no completion time: the parent is named, and the element it lacks */
	const char *xml =
	    replace(&f.a, basic, "<办结时间>2026-11-30T09:20:00.000+08:00</办结时间>", "");
	struct errinfo ei = refused(&f, xml);
	assert_string_equal(ei.field, "/归档事项基本信息/办理时间");
	assert_non_null(strstr(ei.msg, "办结时间"));
	/* no applicant at all */
	xml = replace(&f.a, basic, "<申请人>", "<申请人x>");
	xml = replace(&f.a, xml, "</申请人>", "</申请人x>");
	ei = refused(&f, xml);
	assert_non_null(strstr(ei.msg, "申请人"));
	/* the version attribute is required too */
	xml = replace(&f.a, build(&f, ARCHIVE_FILES), " 版本=\"1.0\"", "");
	ei = refused(&f, xml);
	assert_non_null(strstr(ei.msg, "版本"));
	/* an empty required value built from the case (no applicant name in the form) */
	f.ac.applicant_name = "";
	ei = refused(&f, build(&f, ARCHIVE_BASIC));
	assert_string_equal(ei.field, "/归档事项基本信息/申请人/姓名");
	arena_release(&f.a);
}

static void test_wrong_type_or_format(void **state)
{
	struct fixture f;
	struct errinfo ei;
	(void)state;
	fixture_init(&f);
	/* a date that does not exist */
	f.ac.promised_date = "2026-02-30";
	ei = refused(&f, build(&f, ARCHIVE_BASIC));
	assert_string_equal(ei.field, "/归档事项基本信息/办理时间/承诺办结日期");
	assert_non_null(strstr(ei.msg, "承诺办结日期"));
	f.ac.promised_date = "2026-12-04";
	/* a time without its offset, and one that is not a time */
	const char *basic = build(&f, ARCHIVE_BASIC);
	ei = refused(&f,
	             replace(&f.a, basic, "2026-11-29T09:30:00.000+08:00", "2026-11-29T09:30:00"));
	assert_string_equal(ei.field, "/归档事项基本信息/办理时间/受理时间");
	ei = refused(
	    &f, replace(&f.a, basic, "2026-11-29T09:30:00.000+08:00", "2026-13-01T09:30:00+08:00"));
	assert_string_equal(ei.field, "/归档事项基本信息/办理时间/受理时间");
	/* a 63-hex SM3 */
	f.files[1].sm3 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c573";
	ei = refused(&f, build(&f, ARCHIVE_FILES));
	assert_string_equal(ei.field, "/电子文件基本信息/电子文件[2]/SM3杂凑值");
	assert_non_null(strstr(ei.msg, "SM3杂凑值"));
	/* upper-case hex is not the canonical form */
	f.files[1].sm3 = "DEBE9FF92275B8A138604889C18E5A4D6FDB70E5387E5765293DCBA39C0C5732";
	ei = refused(&f, build(&f, ARCHIVE_FILES));
	assert_string_equal(ei.field, "/电子文件基本信息/电子文件[2]/SM3杂凑值");
	f.files[1].sm3 = SM3_B;
	/* a size that is not a positive integer, a format the archive does not take */
	f.files[0].size = 0;
	ei = refused(&f, build(&f, ARCHIVE_FILES));
	assert_string_equal(ei.field, "/电子文件基本信息/电子文件[1]/文件大小");
	f.files[0].size = 6000;
	f.files[0].format = "GIF";
	ei = refused(&f, build(&f, ARCHIVE_FILES));
	assert_string_equal(ei.field, "/电子文件基本信息/电子文件[1]/文件格式");
	f.files[0].format = "JPEG";
	/* a signature that is not base64 */
	f.files[0].signature = "not base64!";
	ei = refused(&f, build(&f, ARCHIVE_FILES));
	assert_string_equal(ei.field, "/电子文件基本信息/电子文件[1]/签名值");
	/* a retention code the catalog should not have */
	f.ac.retention = "5y";
	ei = refused(&f, build(&f, ARCHIVE_BASIC));
	assert_string_equal(ei.field, "/归档事项基本信息/保管期限");
	f.ac.retention = "permanent";
	valid(&f, build(&f, ARCHIVE_BASIC));
	/* a malformed case number and sub-item code */
	f.ac.sub_item_code = "310001012000";
	ei = refused(&f, build(&f, ARCHIVE_BASIC));
	assert_string_equal(ei.field, "/归档事项基本信息/子项编码");
	arena_release(&f.a);
}

static void test_unknown_element(void **state)
{
	struct fixture f;
	struct errinfo ei;
	(void)state;
	fixture_init(&f);
	const char *files = build(&f, ARCHIVE_FILES);
	ei = refused(&f,
	             replace(&f.a, files, "<页数>3</页数>", "<页数>3</页数><备注>扫描件</备注>"));
	assert_string_equal(ei.field, "/电子文件基本信息/电子文件[2]/备注");
	assert_non_null(strstr(ei.msg, "备注"));
	ei = refused(&f, replace(&f.a, build(&f, ARCHIVE_BASIC), "<归档时间>",
	                         "<归档人>x</归档人><归档时间>"));
	assert_string_equal(ei.field, "/归档事项基本信息/归档人");
	/* a root of the wrong package is not one of the three */
	ei = refused(&f, "<?xml version=\"1.0\"?><办件 版本=\"1.0\"/>");
	assert_non_null(strstr(ei.msg, "办件"));
	arena_release(&f.a);
}

static void test_empty_lists(void **state)
{
	struct fixture f;
	struct errinfo ei;
	(void)state;
	fixture_init(&f);
	f.ac.nsteps = 0;
	ei = refused(&f, build(&f, ARCHIVE_PROCESS));
	assert_string_equal(ei.field, "/办理流程基本信息");
	assert_non_null(strstr(ei.msg, "办理环节"));
	f.ac.nfiles = 0;
	ei = refused(&f, build(&f, ARCHIVE_FILES));
	assert_string_equal(ei.field, "/电子文件基本信息");
	assert_non_null(strstr(ei.msg, "电子文件"));
	arena_release(&f.a);
}

static void test_not_xml_and_control_characters(void **state)
{
	struct fixture f;
	struct errinfo ei;
	(void)state;
	fixture_init(&f);
	ei = refused(&f, "<归档事项基本信息 版本=\"1.0\"><办件编号>x</归档事项基本信息>");
	assert_string_equal(ei.field, "xml");
	assert_non_null(strstr(ei.msg, "XML"));
	/* a control character in an opinion (pasted text) does not make the package unreadable */
	f.steps[2].opinion = "准予\x01变更\x1f";
	const char *process = build(&f, ARCHIVE_PROCESS);
	valid(&f, process);
	assert_non_null(strstr(process, "<办理意见>准予 变更 </办理意见>"));
	arena_release(&f.a);
}

static void test_pages_and_labels(void **state)
{
	static const char pdf[] =
	    "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
	    "2 0 obj << /Type /Pages /Kids [3 0 R 4 0 R 5 0 R] >> endobj\n"
	    "3 0 obj << /Type /Page >> endobj\n4 0 obj <</Type/Page>> endobj\n"
	    "5 0 obj << /Type\n/Page /Parent 2 0 R >> endobj\n%%EOF\n";
	(void)state;
	assert_int_equal(archive_pages_of("application/pdf", pdf, sizeof(pdf) - 1), 3);
	assert_int_equal(archive_pages_of("application/pdf", "%PDF-1.4\n%%EOF", 14), 1);
	assert_int_equal(archive_pages_of("image/jpeg", pdf, sizeof(pdf) - 1), 1);
	assert_string_equal(archive_retention_label("permanent"), "永久");
	assert_string_equal(archive_retention_label("10y"), "10年");
	assert_null(archive_retention_label("forever"));
	assert_string_equal(archive_part_name(ARCHIVE_PROCESS), "process");
	assert_string_equal(archive_part_root(ARCHIVE_FILES), "电子文件基本信息");
	assert_null(archive_part_name(ARCHIVE_PARTS));
}

static void test_schema_file_errors(void **state)
{
	struct archive_schema *s = NULL;
	char msg[600];
	(void)state;
	assert_int_equal(archive_schema_load("/nonexistent/x.xsd", &s, msg, sizeof(msg)),
	                 ERR_CONFIG);
	assert_null(s);
	assert_non_null(strstr(msg, "/nonexistent/x.xsd"));
	const char *dir = getenv("SHOULI_TEST_TMP");
	char path[1024];
	snprintf(path, sizeof(path), "%s/archive-bad.xsd", dir ? dir : "/tmp");
	if (dir)
		mkdir(dir, 0700); /* ctest's scratch directory may not exist yet */
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"><xs:element/></xs:schema>",
	      fp);
	fclose(fp);
	assert_int_equal(archive_schema_load(path, &s, msg, sizeof(msg)), ERR_CONFIG);
	assert_null(s);
	assert_non_null(strstr(msg, "不正确"));
	remove(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid_packages),
	    cmocka_unit_test(test_missing_required_element),
	    cmocka_unit_test(test_wrong_type_or_format),
	    cmocka_unit_test(test_unknown_element),
	    cmocka_unit_test(test_empty_lists),
	    cmocka_unit_test(test_not_xml_and_control_characters),
	    cmocka_unit_test(test_pages_and_labels),
	    cmocka_unit_test(test_schema_file_errors),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
