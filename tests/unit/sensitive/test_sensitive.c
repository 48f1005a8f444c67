/* test_sensitive.c: sealed columns (round trip, binding to the column, tampering), blind
 * indexes (normalised, per column), masks of every kind (short and odd inputs included)
 * and the ID number and phone validators. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <sys/stat.h>

#include "core/arena.h"
#include "core/buf.h"
#include "crypto/crypto.h"
#include "sensitive/sensitive.h"

static char tmpdir[512];
static struct keyring *kr;       /* with an active data key */
static struct keyring *kr_other; /* another master key */
static struct arena a;

static struct keyring *open_keyring(const char *name, bool with_data_key)
{
	char path[700];
	struct keyring *k = NULL;
	struct buf wrapped;
	uint32_t id;
	snprintf(path, sizeof path, "%s/%s", tmpdir, name);
	assert_int_equal(keyring_open_file(path, true, &k), ERR_OK);
	if (with_data_key) {
		buf_init(&wrapped, 256);
		assert_int_equal(keyring_new_data_key(k, &id, &wrapped), ERR_OK);
		buf_release(&wrapped);
	}
	return k;
}

static int setup(void **state)
{
	const char *base = getenv("SHOULI_TEST_TMP");
	if (crypto_init() != ERR_OK)
		return -1;
	if (!base || !*base)
		base = "/tmp";
	mkdir(base, 0755);
	snprintf(tmpdir, sizeof tmpdir, "%s/sensitive-XXXXXX", base);
	if (!mkdtemp(tmpdir))
		return -1;
	kr = open_keyring("master.key", true);
	kr_other = open_keyring("other.key", true);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];
	keyring_destroy(kr);
	keyring_destroy(kr_other);
	/* The directory name came from mkdtemp under our own base: safe to remove. */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static int arena_up(void **state)
{
	arena_init(&a, 0);
	return 0;
}

static int arena_down(void **state)
{
	arena_release(&a);
	return 0;
}

static bool is_lower_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* ---- seal and open ---- */

static void seal_open_round_trip(void **state)
{
	const void *blob = NULL;
	size_t n = 0;
	const char *bidx = NULL, *plain = NULL;
	assert_int_equal(sensitive_seal(kr, "users.phone", " 138 1234-5678 ", &a, &blob, &n, &bidx),
	                 ERR_OK);
	/* The blob holds the normalised value, encrypted: version, key id, IV, tag around it. */
	assert_int_equal(n, 11 + KEYRING_BLOB_OVERHEAD);
	assert_null(memmem(blob, n, "13812345678", 11));
	assert_null(memmem(blob, n, "5678", 4));
	assert_true(is_lower_hex(bidx, SENSITIVE_BIDX_HEX_LEN));
	assert_int_equal(sensitive_open(kr, "users.phone", blob, n, &a, &plain), ERR_OK);
	assert_string_equal(plain, "13812345678");

	/* Chinese text survives byte for byte. */
	assert_int_equal(sensitive_seal(kr, "residents.address", "　上海市徐汇区漕溪北路 1 号 ", &a,
	                                &blob, &n, &bidx),
	                 ERR_OK);
	assert_int_equal(sensitive_open(kr, "residents.address", blob, n, &a, &plain), ERR_OK);
	assert_string_equal(plain, "上海市徐汇区漕溪北路 1 号");
}

static void seal_is_randomised_but_index_is_not(void **state)
{
	const void *b1, *b2;
	size_t n1, n2;
	const char *x1, *x2;
	assert_int_equal(
	    sensitive_seal(kr, "users.id_number", "11010519491231002X", &a, &b1, &n1, &x1), ERR_OK);
	assert_int_equal(
	    sensitive_seal(kr, "users.id_number", "11010519491231002X", &a, &b2, &n2, &x2), ERR_OK);
	assert_int_equal(n1, n2);
	assert_memory_not_equal(b1, b2, n1); /* a fresh IV every time */
	assert_string_equal(x1, x2);
}

static void open_refuses_other_column_tampering_and_other_keys(void **state)
{
	const void *blob;
	size_t n;
	const char *bidx, *plain = "untouched";
	assert_int_equal(sensitive_seal(kr, "users.phone", "13812345678", &a, &blob, &n, &bidx),
	                 ERR_OK);
	/* Copied into another column, it does not open. */
	assert_int_equal(sensitive_open(kr, "users.id_number", blob, n, &a, &plain), ERR_INTEGRITY);
	/* One flipped bit anywhere fails. */
	for (size_t i = 0; i < n; i++) {
		unsigned char *t = arena_memdup(&a, blob, n);
		assert_non_null(t);
		t[i] ^= 0x01;
		assert_int_equal(sensitive_open(kr, "users.phone", t, n, &a, &plain),
		                 ERR_INTEGRITY);
	}
	/* Short, empty, and another installation's key. */
	assert_int_equal(sensitive_open(kr, "users.phone", blob, n - 1, &a, &plain), ERR_INTEGRITY);
	assert_int_equal(sensitive_open(kr, "users.phone", blob, 0, &a, &plain), ERR_INTEGRITY);
	assert_int_equal(sensitive_open(kr_other, "users.phone", blob, n, &a, &plain),
	                 ERR_INTEGRITY);
	assert_int_equal(sensitive_open(kr, "users.phone", NULL, 0, &a, &plain), ERR_INVALID);
	assert_string_equal(plain, "untouched");
}

static void seal_refuses_bad_input(void **state)
{
	const void *blob = NULL;
	size_t n = 0;
	const char *bidx = NULL;
	struct keyring *empty = open_keyring("nodata.key", false);
	assert_int_equal(sensitive_seal(kr, "users.phone", NULL, &a, &blob, &n, &bidx),
	                 ERR_INVALID);
	assert_int_equal(sensitive_seal(kr, "users.phone", " - ", &a, &blob, &n, &bidx),
	                 ERR_INVALID);
	assert_int_equal(sensitive_seal(kr, "users.name", "　 ", &a, &blob, &n, &bidx),
	                 ERR_INVALID);
	assert_int_equal(sensitive_seal(kr, "", "x", &a, &blob, &n, &bidx), ERR_INVALID);
	assert_int_equal(sensitive_seal(kr, NULL, "x", &a, &blob, &n, &bidx), ERR_INVALID);
	assert_int_equal(sensitive_seal(kr, "users.name", "\xe7\x8e", &a, &blob, &n, &bidx),
	                 ERR_BAD_UTF8);
	char *big = arena_alloc(&a, SENSITIVE_PLAIN_MAX + 2);
	assert_non_null(big);
	memset(big, 'a', SENSITIVE_PLAIN_MAX + 1);
	big[SENSITIVE_PLAIN_MAX + 1] = '\0';
	assert_int_equal(sensitive_seal(kr, "x.address", big, &a, &blob, &n, &bidx), ERR_INVALID);
	big[SENSITIVE_PLAIN_MAX] = '\0';
	assert_int_equal(sensitive_seal(kr, "x.address", big, &a, &blob, &n, &bidx), ERR_OK);
	blob = NULL;
	assert_int_equal(sensitive_seal(empty, "users.phone", "13812345678", &a, &blob, &n, &bidx),
	                 ERR_CONFIG);
	assert_null(blob);
	keyring_destroy(empty);
}

/* ---- blind indexes ---- */

static void bidx_matches_normalised_values_per_column(void **state)
{
	const void *blob;
	size_t n;
	const char *sealed;
	assert_int_equal(
	    sensitive_seal(kr, "users.id_number", "11010519491231002X", &a, &blob, &n, &sealed),
	    ERR_OK);
	const char *upper = sensitive_bidx(kr, "users.id_number", "11010519491231002X", &a);
	const char *lower = sensitive_bidx(kr, "users.id_number", " 110105 19491231 002x ", &a);
	assert_non_null(upper);
	assert_string_equal(upper, sealed);
	assert_string_equal(upper, lower);
	/* Another column, another value, another master key: all different. */
	const char *other_col = sensitive_bidx(kr, "residents.id_number", "11010519491231002X", &a);
	const char *other_val = sensitive_bidx(kr, "users.id_number", "110105194912310021", &a);
	const char *other_key =
	    sensitive_bidx(kr_other, "users.id_number", "11010519491231002X", &a);
	assert_string_not_equal(upper, other_col);
	assert_string_not_equal(upper, other_val);
	assert_string_not_equal(upper, other_key);

	assert_string_equal(sensitive_bidx(kr, "users.phone", "+86 138-1234-5678", &a),
	                    sensitive_bidx(kr, "users.phone", "13812345678", &a));
	assert_string_not_equal(sensitive_bidx(kr, "users.phone", "13812345678", &a),
	                        sensitive_bidx(kr, "users.phone", "13812345679", &a));
	/* Names are compared as written inside (no case folding, inner spaces kept). */
	assert_string_equal(sensitive_bidx(kr, "users.name", " 王芳　", &a),
	                    sensitive_bidx(kr, "users.name", "王芳", &a));
	assert_string_not_equal(sensitive_bidx(kr, "users.name", "Wang Fang", &a),
	                        sensitive_bidx(kr, "users.name", "WangFang", &a));

	assert_null(sensitive_bidx(kr, "users.phone", NULL, &a));
	assert_null(sensitive_bidx(kr, "users.phone", "  ", &a));
	assert_null(sensitive_bidx(kr, "users.name", "\xff", &a));
}

static void normalisation_per_kind(void **state)
{
	assert_string_equal(sensitive_normalize("users.id_number", " 1101 0519 4912 3100 2x\t", &a),
	                    "11010519491231002X");
	assert_string_equal(sensitive_normalize("residents.holder_id_number", "abc", &a), "ABC");
	assert_string_equal(sensitive_normalize("users.phone", "+86 138-1234-5678", &a),
	                    "13812345678");
	assert_string_equal(sensitive_normalize("agents.mobile", " 139 0000 0000 ", &a),
	                    "13900000000");
	assert_string_equal(sensitive_normalize("payees.bank_account", "6222 0202-0011 2233", &a),
	                    "6222020200112233");
	assert_string_equal(
	    sensitive_normalize("users.name", "\xe3\x80\x80 王 芳 \xe3\x80\x80", &a), "王 芳");
	assert_string_equal(sensitive_normalize("residents.address", "  a  b  ", &a), "a  b");
	assert_string_equal(sensitive_normalize("plain", "x", &a), "x");
	assert_string_equal(sensitive_normalize("users.phone", "+86", &a), "+86");
	assert_null(sensitive_normalize("users.phone", NULL, &a));
	assert_null(sensitive_normalize(NULL, "x", &a));
	assert_null(sensitive_normalize("users.name", "\xc3", &a));
}

/* ---- masks ---- */

static void mask(const char *kind, const char *in, const char *want)
{
	const char *got = sensitive_mask(kind, in, &a);
	assert_non_null(got);
	assert_string_equal(got, want);
}

static void mask_phone(void **state)
{
	mask("phone", "13812345678", "138****5678");
	mask("phone", " 13812345678 ", "138****5678");
	mask("phone", "021-64871234", "021*****1234");
	mask("phone", "1234567", "*****67"); /* too short for 3 + 4: last third only */
	mask("phone", "12", "**");
	mask("phone", "1", "*");
	mask("phone", "", "");
	mask("phone", "   ", "");
}

static void mask_id_number(void **state)
{
	mask("id_number", "11010519491231002X", "1101**********002X");
	mask("id_number", "110105491231002", "1101*******1002"); /* the old 15-digit number */
	mask("id_number", "12345678", "******78");
	mask("id_number", "123", "**3");
	mask("id_number", "X", "*");
}

static void mask_name(void **state)
{
	mask("name", "王小芳", "王*芳");
	mask("name", "王芳", "王*");
	mask("name", "王", "*");
	mask("name", "欧阳娜娜", "欧**娜");
	mask("name", "买买提·艾力", "买****力");
	mask("name", " 王芳 ", "王*");
	mask("name", "Li", "L*");
	mask("name", "John Smith", "J********h");
}

static void mask_bank(void **state)
{
	mask("bank", "6222020200112233445", "****3445");
	mask("bank", "62220202", "****0202");
	mask("bank", "1234567", "****67");
	mask("bank", "1234", "****4");
	mask("bank", "12", "****");
}

static void mask_unknown_and_odd(void **state)
{
	mask("address", "上海市徐汇区", "****");
	mask("", "13812345678", "****");
	mask(NULL, "13812345678", "****");
	mask("phone", "\xff\xfe\xfd", "****");
	mask("name", "\xe7\x8e", "****"); /* a cut UTF-8 sequence */
	assert_null(sensitive_mask("phone", NULL, &a));
}

/* No input, whatever its bytes, crashes a mask or comes back whole. */
static void mask_never_shows_the_whole_value(void **state)
{
	static const char *const kinds[] = {"phone", "id_number", "name", "bank", "other"};
	static const char *const pieces[] = {"1", "X", "王", "·", " ", "a", "\xe3\x80\x80", "-"};
	unsigned seed = 12345;
	for (int round = 0; round < 5000; round++) {
		char in[128] = "";
		size_t len = 0;
		int parts = (int)(seed % 24);
		for (int i = 0; i < parts; i++) {
			seed = seed * 1103515245u + 12345u;
			const char *p = pieces[(seed >> 16) % 8];
			size_t pn = strlen(p);
			if (len + pn >= sizeof in)
				break;
			memcpy(in + len, p, pn);
			len += pn;
			in[len] = '\0';
		}
		seed = seed * 1103515245u + 12345u;
		for (size_t k = 0; k < 5; k++) {
			const char *got = sensitive_mask(kinds[k], in, &a);
			assert_non_null(got);
			struct str t = str_trim(str_from(in));
			if (t.n > 0)
				assert_false(strlen(got) == t.n && !memcmp(got, t.p, t.n));
		}
	}
}

/* ---- validators ---- */

static void id_number_validator(void **state)
{
	assert_true(sensitive_id_number_valid("11010519491231002X")); /* DOMAIN.md's sample */
	assert_true(sensitive_id_number_valid("11010519491231002x"));
	assert_true(sensitive_id_number_valid("310104198503120013"));
	assert_true(sensitive_id_number_valid("110105200002290021")); /* 2000 was a leap year */
	/* A wrong check character (the right one is X). */
	assert_false(sensitive_id_number_valid("110105194912310021"));
	assert_false(sensitive_id_number_valid("110105194912310020"));
	/* Check characters right, dates wrong: 30 February, month 13, 29 February 1900, the
	 * future, before 1900. */
	assert_false(sensitive_id_number_valid("110105194902300020"));
	assert_false(sensitive_id_number_valid("110105194913310021"));
	assert_false(sensitive_id_number_valid("110105190002290025"));
	assert_false(sensitive_id_number_valid("110105209901010020"));
	assert_false(sensitive_id_number_valid("110105189912310023"));
	/* First digit 0 or 9 (check characters right). */
	assert_false(sensitive_id_number_valid("010105194912310026"));
	assert_false(sensitive_id_number_valid("910105194912310029"));
	/* Wrong length, letters, white space, nothing. */
	assert_false(sensitive_id_number_valid("11010519491231002"));
	assert_false(sensitive_id_number_valid("11010519491231002XX"));
	assert_false(sensitive_id_number_valid("110105491231002"));
	assert_false(sensitive_id_number_valid("1101051949123100AX"));
	assert_false(sensitive_id_number_valid(" 11010519491231002X"));
	assert_false(sensitive_id_number_valid("11010519491231002Y"));
	assert_false(sensitive_id_number_valid(""));
	assert_false(sensitive_id_number_valid(NULL));
}

static void phone_validator(void **state)
{
	assert_true(sensitive_phone_valid("13812345678"));
	assert_true(sensitive_phone_valid("19900000000"));
	assert_false(sensitive_phone_valid("12812345678"));
	assert_false(sensitive_phone_valid("23812345678"));
	assert_false(sensitive_phone_valid("1381234567"));
	assert_false(sensitive_phone_valid("138123456789"));
	assert_false(sensitive_phone_valid("1381234567a"));
	assert_false(sensitive_phone_valid("138 1234 5678")); /* normalise first */
	assert_false(sensitive_phone_valid(""));
	assert_false(sensitive_phone_valid(NULL));
}

#define T(f) cmocka_unit_test_setup_teardown(f, arena_up, arena_down)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(seal_open_round_trip),
	    T(seal_is_randomised_but_index_is_not),
	    T(open_refuses_other_column_tampering_and_other_keys),
	    T(seal_refuses_bad_input),
	    T(bidx_matches_normalised_values_per_column),
	    T(normalisation_per_kind),
	    T(mask_phone),
	    T(mask_id_number),
	    T(mask_name),
	    T(mask_bank),
	    T(mask_unknown_and_odd),
	    T(mask_never_shows_the_whole_value),
	    T(id_number_validator),
	    T(phone_validator),
	};
	return cmocka_run_group_tests_name("sensitive", tests, setup, teardown);
}
