/* test_sign.c: HMAC-SM3 request signing (the sign string and a value computed independently
 * with `openssl dgst -sm3 -hmac`), SM2 signatures over the same string, base64, and the
 * crypto profiles (SM4-CBC and SM2 envelope round trips, AES/RSA refused). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "crypto/crypto.h"
#include "gateway/gateway_int.h"

#define BODY "{\"id_number\":\"310104195001010015\"}"

static int setup(void **state)
{
	(void)state;
	return crypto_init() == ERR_OK ? 0 : -1;
}

static void test_sign_string(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 1024);
	assert_int_equal(gw_sign_string("POST", "/yibao/insured/query", "1700000000000",
	                                "0123456789abcdef", BODY, strlen(BODY), &b),
	                 ERR_OK);
	assert_string_equal(b.p,
	                    "POST\n/yibao/insured/query\n1700000000000\n0123456789abcdef\n"
	                    "ad72a7c8c7028b6a8531d0d70406fbe03d201d58e059601e715986df6df79b28");
	char sig[65];
	gw_hmac_sm3_hex("yibao-demo-secret", b.p, b.len, sig);
	assert_string_equal(sig,
	                    "46246bb3a0ada11edc1750c5b476335164c16abff2f1019c2d24ef69f70e996f");
	/* Any change of the signed parts changes the signature. */
	char other[65];
	gw_hmac_sm3_hex("yibao-demo-secreT", b.p, b.len, other);
	assert_string_not_equal(sig, other);

	/* An empty body hashes as the SM3 of nothing. */
	buf_reset(&b);
	assert_int_equal(gw_sign_string("GET", "/map/points", "1", "n", NULL, 0, &b), ERR_OK);
	assert_string_equal(b.p,
	                    "GET\n/map/points\n1\nn\n"
	                    "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b");
	buf_release(&b);
}

static void test_base64(void **state)
{
	(void)state;
	static const char *const plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	static const char *const enc[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (size_t i = 0; i < 7; i++) {
		struct buf e, d;
		buf_init(&e, 64);
		buf_init(&d, 64);
		assert_int_equal(buf_base64(&e, plain[i], strlen(plain[i])), ERR_OK);
		assert_string_equal(e.p ? e.p : "", enc[i]);
		assert_int_equal(base64_decode(enc[i], strlen(enc[i]), BASE64_URLSAFE, &d), ERR_OK);
		assert_int_equal(d.len, strlen(plain[i]));
		assert_memory_equal(d.p ? d.p : "", plain[i], d.len);
		buf_release(&e);
		buf_release(&d);
	}
	struct buf d;
	buf_init(&d, 64);
	assert_int_equal(base64_decode("Zm9v!", 5, BASE64_URLSAFE, &d), ERR_INVALID);
	assert_int_equal(base64_decode("Z", 1, BASE64_URLSAFE, &d), ERR_INVALID);
	assert_int_equal(d.len, 0);
	buf_release(&d);
}

static struct gw_conf *conf_of(const char *doc_text, const char *secrets_text)
{
	json_t *doc = json_loads(doc_text, 0, NULL), *sec = json_loads(secrets_text, 0, NULL);
	struct gw_conf *c = NULL;
	struct errinfo ei = {0};
	struct arena a;
	arena_init(&a, 0);
	assert_non_null(doc);
	assert_non_null(sec);
	enum err e = gw_conf_build(doc, sec, 1, &c, &ei, &a);
	if (e)
		fail_msg("conf: %s", ei.msg ? ei.msg : err_code(e));
	arena_release(&a);
	json_decref(doc);
	json_decref(sec);
	return c;
}

#define DOC(crypto)                                                                                \
	"{\"name\":\"t\",\"title\":\"T\",\"protocol\":\"rest\",\"base_url\":\"http://"             \
	"127.0.0.1:1\","                                                                           \
	"\"crypto\":" crypto ",\"methods\":[{\"name\":\"m\",\"path\":\"/m\"}]}"

static void test_sm4_cbc_round_trip(void **state)
{
	(void)state;
	struct gw_conf *c = conf_of(DOC("{\"kind\":\"sm4_cbc\"}"),
	                            "{\"crypto.key\":\"0123456789abcdeffedcba9876543210\"}");
	struct buf wire;
	struct errinfo ei = {0};
	buf_init(&wire, 1 << 16);
	assert_int_equal(gw_crypto_wrap(c, BODY, strlen(BODY), &wire, &ei), ERR_OK);
	assert_null(strstr(wire.p, "310104"));
	json_t *env = json_loads(wire.p, 0, NULL), *plain = NULL;
	assert_non_null(json_get_str(env, "data"));

	/* Decrypt the way a peer would: base64, IV, SM4-CBC. */
	struct buf raw, dec;
	buf_init(&raw, 1 << 16);
	buf_init(&dec, 1 << 16);
	const char *d = json_get_str(env, "data");
	assert_int_equal(base64_decode(d, strlen(d), BASE64_URLSAFE, &raw), ERR_OK);
	unsigned char key[16];
	assert_true(hex_decode("0123456789abcdeffedcba9876543210", 32, key, 16));
	assert_int_equal(
	    crypto_sm4_cbc_decrypt(key, (unsigned char *)raw.p, raw.p + 16, raw.len - 16, &dec),
	    ERR_OK);
	assert_string_equal(dec.p, BODY);

	assert_int_equal(gw_crypto_unwrap(c, env, &plain, &ei), ERR_OK);
	assert_string_equal(json_get_str(plain, "id_number"), "310104195001010015");
	json_decref(plain);

	/* A plain answer passes through; a damaged one is an upstream error. */
	json_t *p2 = json_loads("{\"ok\":1}", 0, NULL), *out = NULL;
	assert_int_equal(gw_crypto_unwrap(c, p2, &out, &ei), ERR_OK);
	assert_true(json_equal(p2, out));
	json_decref(out);
	json_object_set_new(env, "data",
	                    json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
	assert_int_equal(gw_crypto_unwrap(c, env, &out, &ei), ERR_UPSTREAM);
	json_decref(p2);
	json_decref(env);
	buf_release(&wire);
	buf_release(&raw);
	buf_release(&dec);
	gw_conf_put(c);
}

static void test_sm2_envelope_and_signature(void **state)
{
	(void)state;
	struct crypto_sm2_key *k = NULL;
	struct buf priv, pub, wire, sig, ss;
	buf_init(&priv, 4096);
	buf_init(&pub, 4096);
	buf_init(&wire, 1 << 16);
	buf_init(&sig, 256);
	buf_init(&ss, 1024);
	assert_int_equal(crypto_sm2_generate(&k), ERR_OK);
	assert_int_equal(crypto_sm2_save_pem(k, true, &priv), ERR_OK);
	assert_int_equal(crypto_sm2_save_pem(k, false, &pub), ERR_OK);
	/* The peer is ourselves, so the envelope we send is one we can open. */
	json_t *doc = json_loads(DOC("{\"kind\":\"sm2_envelope\"}"), 0, NULL);
	json_object_set_new(json_object_get(doc, "crypto"), "peer_public_key", json_string(pub.p));
	json_t *sec = json_pack("{s:s}", "crypto.private_key", priv.p);
	struct gw_conf *c = NULL;
	struct errinfo ei = {0};
	struct arena a;
	arena_init(&a, 0);
	assert_int_equal(gw_conf_build(doc, sec, 1, &c, &ei, &a), ERR_OK);
	assert_int_equal(gw_crypto_wrap(c, BODY, strlen(BODY), &wire, &ei), ERR_OK);
	json_t *env = json_loads(wire.p, 0, NULL), *plain = NULL;
	assert_non_null(json_get_str(env, "key"));
	assert_int_equal(gw_crypto_unwrap(c, env, &plain, &ei), ERR_OK);
	assert_string_equal(json_get_str(plain, "id_number"), "310104195001010015");
	json_decref(plain);
	json_decref(env);

	/* SM2 request signature: verifies with the public key, not after a change. */
	assert_int_equal(gw_sign_string("POST", "/bjk/cases", "1", "ab", BODY, strlen(BODY), &ss),
	                 ERR_OK);
	assert_int_equal(crypto_sm2_sign(k, NULL, ss.p, ss.len, &sig), ERR_OK);
	assert_int_equal(crypto_sm2_verify(k, NULL, ss.p, ss.len, sig.p, sig.len), ERR_OK);
	ss.p[0] = 'G';
	assert_int_equal(crypto_sm2_verify(k, NULL, ss.p, ss.len, sig.p, sig.len), ERR_INTEGRITY);

	/* A connector whose key does not parse is refused when it is built. */
	struct gw_conf *bad = NULL;
	json_t *sec2 =
	    json_pack("{s:s}", "crypto.private_key", "-----BEGIN PRIVATE KEY-----\nxx\n");
	ei = (struct errinfo){0};
	assert_int_equal(gw_conf_build(doc, sec2, 1, &bad, &ei, &a), ERR_CONFIG);
	assert_non_null(ei.msg);
	assert_null(bad);

	arena_release(&a);
	json_decref(sec2);
	gw_conf_put(c);
	json_decref(doc);
	json_decref(sec);
	crypto_sm2_destroy(k);
	buf_release(&priv);
	buf_release(&pub);
	buf_release(&wire);
	buf_release(&sig);
	buf_release(&ss);
}

static void test_unsupported_profiles(void **state)
{
	(void)state;
	struct gw_conf *c = conf_of(DOC("{\"kind\":\"aes_cbc\"}"), "{}");
	struct buf wire;
	struct errinfo ei = {0};
	buf_init(&wire, 1024);
	assert_int_equal(gw_crypto_wrap(c, BODY, strlen(BODY), &wire, &ei), ERR_CONFIG);
	assert_non_null(strstr(ei.msg, "暂不支持"));
	buf_release(&wire);
	gw_conf_put(c);

	/* sm4_cbc without a key cannot be built. */
	json_t *doc = json_loads(DOC("{\"kind\":\"sm4_cbc\"}"), 0, NULL);
	struct gw_conf *bad = NULL;
	struct arena a;
	arena_init(&a, 0);
	ei = (struct errinfo){0};
	assert_int_equal(gw_conf_build(doc, NULL, 1, &bad, &ei, &a), ERR_CONFIG);
	arena_release(&a);
	json_decref(doc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sign_string),
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_sm4_cbc_round_trip),
	    cmocka_unit_test(test_sm2_envelope_and_signature),
	    cmocka_unit_test(test_unsupported_profiles),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
