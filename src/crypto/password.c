/* password.c: password storage with PBKDF2-HMAC-SM3 (OpenSSL's PKCS5_PBKDF2_HMAC). */
#include "crypto/crypto_int.h"

#include <time.h>

#include "core/str.h"

#define PREFIX   "pbkdf2-sm3$"
#define HASH_LEN 32

static enum err pbkdf2(const char *pw, size_t pwlen, const unsigned char salt[16], uint32_t iter,
                       unsigned char out[HASH_LEN])
{
	if (PKCS5_PBKDF2_HMAC(pw, (int)pwlen, salt, CRYPTO_PASSWORD_SALT_LEN, (int)iter,
	                      crypto_md_sm3(), HASH_LEN, out) != 1) {
		crypto_clear_errors();
		return ERR_CRYPTO;
	}
	return ERR_OK;
}

enum err crypto_password_hash(const char *password, uint32_t iter, struct buf *out)
{
	unsigned char salt[CRYPTO_PASSWORD_SALT_LEN], hash[HASH_LEN];
	size_t off = out->len;
	if (!password || strlen(password) > CRYPTO_PASSWORD_MAX_LEN || iter < 1 ||
	    iter > CRYPTO_PASSWORD_MAX_ITER)
		return ERR_INVALID;
	enum err e = crypto_random(salt, sizeof salt);
	if (!e)
		e = pbkdf2(password, strlen(password), salt, iter, hash);
	if (!e)
		e = buf_printf(out, PREFIX "%u$", (unsigned)iter);
	if (!e)
		e = buf_hex(out, salt, sizeof salt);
	if (!e)
		e = buf_putc(out, '$');
	if (!e)
		e = buf_hex(out, hash, sizeof hash);
	if (e)
		crypto_buf_truncate(out, off);
	crypto_wipe(hash, sizeof hash);
	return e;
}

struct stored {
	uint32_t iter;
	unsigned char salt[CRYPTO_PASSWORD_SALT_LEN];
	unsigned char hash[HASH_LEN];
};

/* Strict parse of the stored form; false for anything else. */
static bool parse(const char *stored, struct stored *s)
{
	struct str rest, iter, salt, hash;
	int64_t v;
	if (!stored)
		return false;
	rest = str_from(stored);
	if (!str_starts_with(rest, PREFIX))
		return false;
	rest.p += strlen(PREFIX);
	rest.n -= strlen(PREFIX);
	rest = str_cut(rest, '$', &iter);
	if (!rest.p || !str_to_i64(iter, 1, CRYPTO_PASSWORD_MAX_ITER, &v) || iter.p[0] == '+')
		return false;
	hash = str_cut(rest, '$', &salt);
	if (!hash.p || salt.n != 2 * sizeof s->salt || hash.n != 2 * sizeof s->hash)
		return false;
	if (!hex_decode(salt.p, salt.n, s->salt, sizeof s->salt) ||
	    !hex_decode(hash.p, hash.n, s->hash, sizeof s->hash))
		return false;
	s->iter = (uint32_t)v;
	return true;
}

bool crypto_password_verify(const char *password, const char *stored)
{
	struct stored s;
	unsigned char got[HASH_LEN];
	bool ok = false;
	if (!password || strlen(password) > CRYPTO_PASSWORD_MAX_LEN || !parse(stored, &s))
		return false;
	if (pbkdf2(password, strlen(password), s.salt, s.iter, got) == ERR_OK)
		ok = mem_eq_ct(got, sizeof got, s.hash, sizeof s.hash);
	crypto_wipe(got, sizeof got);
	crypto_wipe(&s, sizeof s);
	return ok;
}

bool crypto_password_needs_rehash(const char *stored, uint32_t iter)
{
	struct stored s;
	return !parse(stored, &s) || s.iter < iter;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Milliseconds one PBKDF2 of iter iterations takes now. */
static double time_pbkdf2(uint32_t iter)
{
	static const unsigned char salt[CRYPTO_PASSWORD_SALT_LEN];
	unsigned char out[HASH_LEN];
	double t0 = now_ms();
	if (pbkdf2("calibration password", 20, salt, iter, out))
		return -1;
	return now_ms() - t0;
}

static uint32_t clamp_round(double iter)
{
	if (iter < CRYPTO_PASSWORD_MIN_ITER)
		return CRYPTO_PASSWORD_MIN_ITER;
	if (iter > CRYPTO_PASSWORD_MAX_ITER)
		return CRYPTO_PASSWORD_MAX_ITER;
	return (uint32_t)(iter / 1000 + 0.5) * 1000;
}

uint32_t crypto_password_calibrate(unsigned target_ms)
{
	uint32_t iter = 1000;
	double ms = time_pbkdf2(iter);
	/* Grow the probe until it is long enough for the clock and the cache to settle. */
	while (ms >= 0 && ms < 5 && iter < CRYPTO_PASSWORD_MAX_ITER / 2) {
		iter *= 2;
		ms = time_pbkdf2(iter);
	}
	if (ms <= 0)
		return CRYPTO_PASSWORD_MIN_ITER;
	/* One run at the estimate corrects for the probe's fixed overheads. */
	uint32_t guess = clamp_round((double)iter * target_ms / ms);
	ms = time_pbkdf2(guess);
	if (ms <= 0)
		return guess;
	return clamp_round((double)guess * target_ms / ms);
}
