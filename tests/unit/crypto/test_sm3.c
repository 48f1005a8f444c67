/* SM3 and HMAC-SM3 against published and independently computed vectors. */
#include "crypto_test.h"

#define ABCD16 "abcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcdabcd"

/* GB/T 32905-2016 Appendix A, example 1. */
static void sm3_abc(void **state)
{
	unsigned char h[32];
	crypto_sm3("abc", 3, h);
	assert_hex(h, 32, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
}

/* GB/T 32905-2016 Appendix A, example 2: 512 bits, so the padding needs a second block. */
static void sm3_abcd16(void **state)
{
	unsigned char h[32];
	crypto_sm3(ABCD16, 64, h);
	assert_hex(h, 32, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
}

static void sm3_empty(void **state)
{
	unsigned char h[32];
	crypto_sm3(NULL, 0, h);
	assert_hex(h, 32, "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b");
}

/* Uneven pieces give the one-shot digest; final resets the context for reuse. */
static void sm3_incremental(void **state)
{
	static const char msg[] = ABCD16;
	struct crypto_sm3_ctx *c = NULL;
	unsigned char h[32];
	assert_int_equal(crypto_sm3_create(&c), ERR_OK);
	crypto_sm3_update(c, msg, 1);
	crypto_sm3_update(c, msg + 1, 0);
	crypto_sm3_update(c, msg + 1, 7);
	crypto_sm3_update(c, msg + 8, 56);
	crypto_sm3_final(c, h);
	assert_hex(h, 32, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732");
	crypto_sm3_update(c, "abc", 3);
	crypto_sm3_final(c, h);
	assert_hex(h, 32, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0");
	crypto_sm3_destroy(c);
	crypto_sm3_destroy(NULL);
}

/* Expected values computed offline with OpenSSL 3.0.19's CLI, e.g.
 *   printf 'Hi There' | openssl mac -digest SM3 -macopt hexkey:0b0b...0b HMAC
 * on the inputs of RFC 4231 test cases 1, 2 and 6. Case 6's 131-byte key is longer than the
 * 64-byte SM3 block, so it is hashed first: crypto_hmac_sm3 does that step itself. */
static void hmac_vectors(void **state)
{
	unsigned char key[131], data[50], mac[32];

	memset(key, 0x0b, 20);
	crypto_hmac_sm3(key, 20, "Hi There", 8, mac);
	assert_hex(mac, 32, "51b00d1fb49832bfb01c3ce27848e59f871d9ba938dc563b338ca964755cce70");

	crypto_hmac_sm3("Jefe", 4, "what do ya want for nothing?", 28, mac);
	assert_hex(mac, 32, "2e87f1d16862e6d964b50a5200bf2b10b764faa9680a296a2405f24bec39f882");

	memset(key, 0xaa, sizeof key);
	memset(data, 0xdd, sizeof data);
	crypto_hmac_sm3(key, sizeof key, data, sizeof data, mac);
	assert_hex(mac, 32, "fccc6fbbab47a52cbbc2398d0919c74db0cc2e989e872d6d055ca2ad9bfc9503");

	crypto_hmac_sm3("key", 3, NULL, 0, mac);
	assert_hex(mac, 32, "4deb29b9be17bd4fd2aca21f908885b9f849bc61e8fbd101e04fd9987528d4df");
}

static void hmac_key_matters(void **state)
{
	unsigned char a[32], b[32];
	crypto_hmac_sm3("k1", 2, "msg", 3, a);
	crypto_hmac_sm3("k2", 2, "msg", 3, b);
	assert_memory_not_equal(a, b, 32);
	crypto_hmac_sm3(NULL, 0, "msg", 3, a);
	crypto_hmac_sm3("", 0, "msg", 3, b);
	assert_memory_equal(a, b, 32);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sm3_abc),      cmocka_unit_test(sm3_abcd16),
	    cmocka_unit_test(sm3_empty),    cmocka_unit_test(sm3_incremental),
	    cmocka_unit_test(hmac_vectors), cmocka_unit_test(hmac_key_matters),
	};
	return cmocka_run_group_tests(tests, crypto_setup, NULL);
}
