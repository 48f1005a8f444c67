/* test_seal.c: the seal of a signed application form with the real SM2/SM3 — a seal made
 * over a PDF and two signature records verifies, and each class of tampering fails it: one
 * byte of the PDF, a field of a record (name, device, a commitment's tick time, the order),
 * the timestamp, the case number, and another key. The canonical records are stable (the
 * same bytes whatever order the commitment members came in) and the key id is the SM3 of
 * the public point. Also the signature's own checks: the PNG header and the strokes; and
 * the shared SM2 key file (made once 0600, read back, refused when readable by others). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/buf.h"
#include "crypto/crypto.h"
#include "sign/sign.h"

static const char SM3_A[] = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0";
static const char SM3_B[] = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732";

static struct crypto_sm2_key *key, *other;

static int setup(void **state)
{
	(void)state;
	if (crypto_init() || crypto_sm2_generate(&key) || crypto_sm2_generate(&other))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	crypto_sm2_destroy(key);
	crypto_sm2_destroy(other);
	return 0;
}

struct fixture {
	json_t *cm1, *cm2;
	struct sign_record recs[2];
	struct sign_sealed s;
	unsigned char pdf[4096];
};

static void fixture_init(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	f->cm1 = json_pack("[{s:s,s:s,s:s}]", "id", "truth", "text", "本人承诺所填写信息真实有效。",
	                   "ticked_at", "2026-11-29T09:30:00.000+08:00");
	f->cm2 = json_pack("[{s:s,s:s,s:s}]", "ticked_at", "2026-11-29T09:31:00.000+08:00", "text",
	                   "本人承诺所填写信息真实有效。", "id", "truth");
	f->recs[0] = (struct sign_record){1,     "applicant", "申请人",      "张三",  SM3_A,
	                                  SM3_B, f->cm1,      1764379800000, "window"};
	f->recs[1] = (struct sign_record){2,     "agent", "代理人",      "李四", SM3_B,
	                                  SM3_A, f->cm2,  1764379860000, "kiosk"};
	f->s = (struct sign_sealed){
	    "310104014C1-20261129-000042", 1, SM3_A, f->recs, 2, 1764379861000};
	for (size_t i = 0; i < sizeof(f->pdf); i++)
		f->pdf[i] = (unsigned char)(i * 31 + 7);
	memcpy(f->pdf, "%PDF-1.5\n", 9);
}

static void fixture_release(struct fixture *f)
{
	json_decref(f->cm1);
	json_decref(f->cm2);
}

/* Does the seal (digest, signature) made over the original still verify against f now? */
static bool verifies(const struct fixture *f, const struct crypto_sm2_key *k,
                     const unsigned char want[32], const char *sig)
{
	unsigned char d[32];
	assert_int_equal(sign_seal_digest(&f->s, f->pdf, sizeof(f->pdf), d), ERR_OK);
	return !memcmp(d, want, 32) && sign_seal_verify(k, d, sig) == ERR_OK;
}

static void seal_and_tamper(void **state)
{
	(void)state;
	struct fixture f;
	struct buf sig;
	unsigned char d[32];
	fixture_init(&f);
	buf_init(&sig, 256);
	assert_int_equal(sign_seal_digest(&f.s, f.pdf, sizeof(f.pdf), d), ERR_OK);
	assert_int_equal(sign_seal_sign(key, d, &sig), ERR_OK);
	assert_true(sig.len > 60);
	assert_true(verifies(&f, key, d, sig.p));

	/* one byte of the PDF */
	f.pdf[2000] ^= 1;
	assert_false(verifies(&f, key, d, sig.p));
	f.pdf[2000] ^= 1;
	/* a field of a record */
	f.recs[1].signer_name = "王五";
	assert_false(verifies(&f, key, d, sig.p));
	f.recs[1].signer_name = "李四";
	f.recs[0].device = "pad";
	assert_false(verifies(&f, key, d, sig.p));
	f.recs[0].device = "window";
	json_object_set_new(json_array_get(f.cm1, 0), "ticked_at",
	                    json_string("2026-11-29T09:30:00.001+08:00"));
	assert_false(verifies(&f, key, d, sig.p));
	json_object_set_new(json_array_get(f.cm1, 0), "ticked_at",
	                    json_string("2026-11-29T09:30:00.000+08:00"));
	f.recs[0].seq = 2;
	f.recs[1].seq = 1;
	assert_false(verifies(&f, key, d, sig.p));
	f.recs[0].seq = 1;
	f.recs[1].seq = 2;
	/* the timestamp */
	f.s.sealed_at++;
	assert_false(verifies(&f, key, d, sig.p));
	f.s.sealed_at--;
	/* the case */
	f.s.case_no = "310104014C1-20261129-000043";
	assert_false(verifies(&f, key, d, sig.p));
	f.s.case_no = "310104014C1-20261129-000042";
	/* restored: verifies again; another key does not */
	assert_true(verifies(&f, key, d, sig.p));
	assert_false(verifies(&f, other, d, sig.p));
	/* a signature that is not base64, or of another digest */
	assert_int_equal(sign_seal_verify(key, d, "not base64!"), ERR_INTEGRITY);
	d[0] ^= 1;
	assert_int_equal(sign_seal_verify(key, d, sig.p), ERR_INTEGRITY);
	buf_release(&sig);
	fixture_release(&f);
}

static void records_canonical(void **state)
{
	(void)state;
	struct fixture f;
	struct buf a, b;
	fixture_init(&f);
	buf_init(&a, 1 << 20);
	buf_init(&b, 1 << 20);
	assert_int_equal(sign_records_json(&f.s, &a), ERR_OK);
	assert_int_equal(sign_records_json(&f.s, &b), ERR_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.p, b.p, a.len);
	/* keys sorted, compact, UTF-8 kept; the commitments' members in one order whatever
	 * order they were stored in */
	assert_non_null(strstr(a.p, "{\"case_no\":\"310104014C1-20261129-000042\",\"form_sm3\":"));
	assert_non_null(strstr(a.p,
	                       "\"commitments\":[{\"id\":\"truth\",\"text\":\"本人承诺所填写"
	                       "信息真实有效。\",\"ticked_at\":\"2026-11-29T09:31:00.000+08:00\"}]"
	                       ",\"device\":\"kiosk\",\"label\":\"代理人\""));
	assert_null(strchr(a.p, '\n'));
	assert_null(strstr(a.p, ": "));
	/* a member the seal does not cover does not change the records */
	json_object_set_new(json_array_get(f.cm1, 0), "extra", json_string("x"));
	buf_reset(&b);
	assert_int_equal(sign_records_json(&f.s, &b), ERR_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.p, b.p, a.len);
	buf_release(&a);
	buf_release(&b);
	fixture_release(&f);
}

static void key_id(void **state)
{
	(void)state;
	unsigned char pub[65], d[32];
	char id[SIGN_KEY_ID_HEX_LEN + 1], want[33];
	assert_int_equal(crypto_sm2_public_raw(key, pub), ERR_OK);
	sign_key_id(pub, id);
	crypto_sm3(pub, 65, d);
	for (int i = 0; i < 16; i++)
		snprintf(want + 2 * i, 3, "%02x", d[i]);
	assert_string_equal(id, want);
	assert_int_equal(strlen(id), 32);
}

static void png_header(void **state)
{
	(void)state;
	unsigned char png[33] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13,
	                         'I',  'H', 'D', 'R', 0,    0,    1,    0x90, 0, 0, 0, 200};
	int w = 0, h = 0;
	assert_true(sign_png_ok(png, sizeof(png), &w, &h));
	assert_int_equal(w, 400);
	assert_int_equal(h, 200);
	png[18] = 0x0f; /* 4000 = 0x0fa0 */
	png[19] = 0xa0;
	assert_true(sign_png_ok(png, sizeof(png), NULL, NULL));
	png[19] = 0xa1; /* 4001 */
	assert_false(sign_png_ok(png, sizeof(png), NULL, NULL));
	png[18] = 1;
	png[19] = 0;
	png[23] = 0; /* height 0 */
	assert_false(sign_png_ok(png, sizeof(png), NULL, NULL));
	png[23] = 10;
	assert_false(sign_png_ok(png, 20, NULL, NULL));
	png[1] = 'J';
	assert_false(sign_png_ok(png, sizeof(png), NULL, NULL));
}

static enum err strokes(const char *text, size_t *points)
{
	const char *why = NULL;
	json_t *v = json_loads(text, 0, NULL);
	assert_non_null(v);
	enum err e = sign_strokes_check(v, points, &why);
	if (e)
		assert_non_null(why);
	json_decref(v);
	return e;
}

static void strokes_checked(void **state)
{
	(void)state;
	size_t n = 0;
	assert_int_equal(strokes("[[[1,2,0],[3.5,4,16]],[[10,10,40]]]", &n), ERR_OK);
	assert_int_equal(n, 3);
	assert_int_equal(strokes("[]", NULL), ERR_INVALID);
	assert_int_equal(strokes("[[],[]]", NULL), ERR_INVALID);
	assert_int_equal(strokes("[[[1,2]]]", NULL), ERR_BAD_FIELD);
	assert_int_equal(strokes("[[[1,2,3.5]]]", NULL), ERR_BAD_FIELD);
	assert_int_equal(strokes("[[[\"1\",2,3]]]", NULL), ERR_BAD_FIELD);
	assert_int_equal(strokes("[[[-1,2,3]]]", NULL), ERR_BAD_FIELD);
	assert_int_equal(strokes("[[[1,2,3600001]]]", NULL), ERR_BAD_FIELD);
	assert_int_equal(strokes("[[[100001,2,3]]]", NULL), ERR_BAD_FIELD);
	assert_int_equal(strokes("{\"a\":1}", NULL), ERR_BAD_FIELD);
	assert_int_equal(strokes("[[1,2,3]]", NULL), ERR_BAD_FIELD);
	/* the point cap */
	struct buf b;
	buf_init(&b, 1 << 20);
	buf_puts(&b, "[[");
	for (int i = 0; i <= SIGN_POINTS_MAX; i++)
		buf_printf(&b, "%s[1,1,1]", i ? "," : "");
	buf_puts(&b, "]]");
	assert_int_equal(strokes(b.p, NULL), ERR_BAD_FIELD);
	buf_release(&b);
}

static void key_file(void **state)
{
	(void)state;
	char dir[] = "/tmp/sign-keyfile-XXXXXX";
	char sub[128], path[200];
	struct crypto_sm2_key *a = NULL, *b = NULL;
	unsigned char pa[65], pb[65];
	struct stat st;
	assert_non_null(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/keys", dir);
	assert_int_equal(crypto_sm2_keyfile_load(sub, "seal-X.pem", false, &a), ERR_NOT_FOUND);
	assert_int_equal(crypto_sm2_keyfile_load(sub, "seal-X.pem", true, &a), ERR_OK);
	assert_int_equal(crypto_sm2_keyfile_load(sub, "seal-X.pem", true, &b), ERR_OK);
	assert_int_equal(crypto_sm2_public_raw(a, pa), ERR_OK);
	assert_int_equal(crypto_sm2_public_raw(b, pb), ERR_OK);
	assert_memory_equal(pa, pb, 65);
	snprintf(path, sizeof(path), "%s/seal-X.pem", sub);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	crypto_sm2_destroy(b);
	b = NULL;
	assert_int_equal(crypto_sm2_keyfile_load(sub, "../x.pem", true, &b), ERR_CONFIG);
	assert_null(b);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(crypto_sm2_keyfile_load(sub, "seal-X.pem", true, &b), ERR_CONFIG);
	assert_null(b);
	crypto_sm2_destroy(a);
	unlink(path);
	rmdir(sub);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(seal_and_tamper), cmocka_unit_test(records_canonical),
	    cmocka_unit_test(key_id),          cmocka_unit_test(png_header),
	    cmocka_unit_test(strokes_checked), cmocka_unit_test(key_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
