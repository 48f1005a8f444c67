/* crypto_test.h: helpers shared by the crypto unit tests (header-only, static). */
#ifndef SHOULI_CRYPTO_TEST_H
#define SHOULI_CRYPTO_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/buf.h"
#include "crypto/crypto.h"

/* Decode hex (whitespace ignored) into out; the test fails unless exactly n bytes result. */
static inline void hexb(const char *hex, unsigned char *out, size_t n)
{
	char clean[4096];
	size_t k = 0;
	for (const char *p = hex; *p; p++)
		if (*p != ' ' && *p != '\n')
			clean[k++] = *p;
	assert_true(k < sizeof clean);
	assert_int_equal(k, 2 * n);
	assert_true(hex_decode(clean, k, out, n));
}

/* Compare bytes with expected hex. */
static inline void assert_hex(const void *got, size_t n, const char *hex)
{
	unsigned char want[2048];
	assert_true(n <= sizeof want);
	hexb(hex, want, n);
	assert_memory_equal(got, want, n);
}

static inline int crypto_setup(void **state)
{
	return crypto_init() == ERR_OK ? 0 : -1;
}

#endif
