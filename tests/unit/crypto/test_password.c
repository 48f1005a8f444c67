/* Password storage: PBKDF2-HMAC-SM3 in the "pbkdf2-sm3$iter$salt$hash" form. */
#include "crypto_test.h"

#include "core/str.h"

/* Computed offline with OpenSSL 3.0.19:
 *   openssl kdf -keylen 32 -kdfopt digest:SM3 -kdfopt pass:'correct horse' \
 *     -kdfopt hexsalt:000102030405060708090a0b0c0d0e0f -kdfopt iter:1000 PBKDF2 */
#define KNOWN                                                                                      \
	"pbkdf2-sm3$1000$000102030405060708090a0b0c0d0e0f$"                                        \
	"f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c8236"

static void known_vector(void **state)
{
	assert_true(crypto_password_verify("correct horse", KNOWN));
	assert_false(crypto_password_verify("correct horsf", KNOWN));
	assert_false(crypto_password_verify("correct horse ", KNOWN));
	assert_false(crypto_password_verify("", KNOWN));
}

static void hash_then_verify(void **state)
{
	struct buf b;
	buf_init(&b, 256);
	assert_int_equal(crypto_password_hash("密码Passw0rd!", 2000, &b), ERR_OK);
	/* prefix + "2000$" + 32 hex + "$" + 64 hex */
	assert_int_equal(b.len, strlen("pbkdf2-sm3$2000$") + 32 + 1 + 64);
	assert_true(str_starts_with(buf_str(&b), "pbkdf2-sm3$2000$"));
	assert_int_equal(b.p[strlen("pbkdf2-sm3$2000$") + 32], '$');
	assert_true(crypto_password_verify("密码Passw0rd!", b.p));
	assert_false(crypto_password_verify("密码Passw0rd?", b.p));
	assert_false(crypto_password_verify("密码", b.p));
	assert_false(crypto_password_verify(NULL, b.p));
	buf_release(&b);
}

static void empty_password_is_a_password(void **state)
{
	struct buf b;
	buf_init(&b, 256);
	assert_int_equal(crypto_password_hash("", 1000, &b), ERR_OK);
	assert_true(crypto_password_verify("", b.p));
	assert_false(crypto_password_verify("x", b.p));
	buf_release(&b);
}

static void salts_differ(void **state)
{
	struct buf a, b;
	buf_init(&a, 256);
	buf_init(&b, 256);
	assert_int_equal(crypto_password_hash("same", 1000, &a), ERR_OK);
	assert_int_equal(crypto_password_hash("same", 1000, &b), ERR_OK);
	assert_int_equal(a.len, b.len);
	assert_memory_not_equal(a.p, b.p, a.len);
	/* The salt fields themselves differ, not only the hashes. */
	assert_memory_not_equal(a.p + 16, b.p + 16, 32);
	assert_true(crypto_password_verify("same", a.p));
	assert_true(crypto_password_verify("same", b.p));
	buf_release(&a);
	buf_release(&b);
}

static void bad_arguments(void **state)
{
	struct buf b;
	char longpw[CRYPTO_PASSWORD_MAX_LEN + 2];
	buf_init(&b, 256);
	assert_int_equal(crypto_password_hash("pw", 0, &b), ERR_INVALID);
	assert_int_equal(crypto_password_hash("pw", CRYPTO_PASSWORD_MAX_ITER + 1, &b), ERR_INVALID);
	assert_int_equal(crypto_password_hash(NULL, 1000, &b), ERR_INVALID);
	memset(longpw, 'a', sizeof longpw - 1);
	longpw[sizeof longpw - 1] = 0;
	assert_int_equal(crypto_password_hash(longpw, 1000, &b), ERR_INVALID);
	assert_false(crypto_password_verify(longpw, KNOWN));
	assert_int_equal(b.len, 0);
	/* A cap too small for the stored form leaves the buffer as it was. */
	struct buf tiny;
	buf_init(&tiny, 20);
	assert_int_equal(crypto_password_hash("pw", 1000, &tiny), ERR_TOO_LARGE);
	assert_int_equal(tiny.len, 0);
	buf_release(&tiny);
	buf_release(&b);
}

/* Malformed stored strings are false, never a crash (run under ASan in the sanitizer build). */
static void malformed_stored(void **state)
{
	static const char *const bad[] = {
	    "",
	    "pbkdf2-sm3$",
	    "pbkdf2-sm3$1000",
	    "pbkdf2-sm3$1000$",
	    "pbkdf2-sm3$1000$000102030405060708090a0b0c0d0e0f",
	    "pbkdf2-sm3$1000$000102030405060708090a0b0c0d0e0f$",
	    "pbkdf2-sha256$1000$000102030405060708090a0b0c0d0e0f$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c8236",
	    "PBKDF2-SM3$1000$000102030405060708090a0b0c0d0e0f$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c8236",
	    "pbkdf2-sm3$0$000102030405060708090a0b0c0d0e0f$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c8236",
	    "pbkdf2-sm3$-1000$000102030405060708090a0b0c0d0e0f$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c8236",
	    "pbkdf2-sm3$+1000$000102030405060708090a0b0c0d0e0f$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c8236",
	    "pbkdf2-sm3$99999999999$000102030405060708090a0b0c0d0e0f$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c8236",
	    "pbkdf2-sm3$1000x$000102030405060708090a0b0c0d0e0f$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c8236",
	    "pbkdf2-sm3$$000102030405060708090a0b0c0d0e0f$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c8236",
	    /* salt: short, non-hex */
	    "pbkdf2-sm3$1000$000102030405060708090a0b0c0d0e$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c8236",
	    "pbkdf2-sm3$1000$000102030405060708090a0b0c0d0e0g$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c8236",
	    /* hash: short, long, trailing junk, extra field */
	    "pbkdf2-sm3$1000$000102030405060708090a0b0c0d0e0f$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c82",
	    "pbkdf2-sm3$1000$000102030405060708090a0b0c0d0e0f$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c823600",
	    "pbkdf2-sm3$1000$000102030405060708090a0b0c0d0e0f$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c8236\n",
	    "pbkdf2-sm3$1000$000102030405060708090a0b0c0d0e0f$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c8236$",
	    "pbkdf2-sm3$1000$$000102030405060708090a0b0c0d0e0f$"
	    "f283c9864abfbc79b7975001fb0140cc090a7f71aeda4ac43ebc45512a0c8236",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (crypto_password_verify("correct horse", bad[i]))
			fail_msg("accepted malformed stored string #%zu: %s", i, bad[i]);
		assert_true(crypto_password_needs_rehash(bad[i], 1));
	}
	assert_false(crypto_password_verify("correct horse", NULL));
	/* Upper-case hex is the same value and still verifies. */
	assert_true(crypto_password_verify(
	    "correct horse", "pbkdf2-sm3$1000$000102030405060708090A0B0C0D0E0F$"
	                     "F283C9864ABFBC79B7975001FB0140CC090A7F71AEDA4AC43EBC45512A0C8236"));
}

static void needs_rehash(void **state)
{
	assert_false(crypto_password_needs_rehash(KNOWN, 1000));
	assert_false(crypto_password_needs_rehash(KNOWN, 999));
	assert_true(crypto_password_needs_rehash(KNOWN, 1001));
}

static void calibrate(void **state)
{
	uint32_t it = crypto_password_calibrate(5);
	assert_true(it >= CRYPTO_PASSWORD_MIN_ITER);
	assert_true(it <= CRYPTO_PASSWORD_MAX_ITER);
	assert_int_equal(it % 1000, 0);
	/* A tenfold target asks for (many) more iterations, unless both hit a bound. */
	uint32_t more = crypto_password_calibrate(50);
	assert_true(more > it || it == CRYPTO_PASSWORD_MIN_ITER);
	print_message("calibrate: 5 ms -> %u, 50 ms -> %u iterations\n", it, more);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(known_vector),
	    cmocka_unit_test(hash_then_verify),
	    cmocka_unit_test(empty_password_is_a_password),
	    cmocka_unit_test(salts_differ),
	    cmocka_unit_test(bad_arguments),
	    cmocka_unit_test(malformed_stored),
	    cmocka_unit_test(needs_rehash),
	    cmocka_unit_test(calibrate),
	};
	return cmocka_run_group_tests(tests, crypto_setup, NULL);
}
