/* crypto.c: process-wide initialisation, randomness and the helpers shared inside crypto.
 *
 * The only mutable statics are the results of the one-time initialisation (pthread_once):
 * they are written before any thread can read them and never again. */
#include "crypto/crypto_int.h"

#include <limits.h>
#include <pthread.h>

#include <gcrypt.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include "core/log.h"

#define GCRYPT_MIN_VERSION "1.9.0" /* first release with SM4 */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static enum err init_result = ERR_CRYPTO;
static EVP_MD *sm3_md;
static EVP_MAC *hmac_mac;
static EVP_MAC_CTX *hmac_sm3_tmpl; /* HMAC with SM3 set, no key: read-only once made */

const EVP_MD *crypto_md_sm3(void)
{
	return sm3_md ? sm3_md : EVP_sm3();
}

EVP_MAC_CTX *crypto_hmac_sm3_new(const void *key, size_t keylen)
{
	static const unsigned char empty[1];
	if (!hmac_sm3_tmpl)
		return NULL;
	/* Dup copies the fetched algorithm and digest: no name lookup, no provider fetch. */
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(hmac_sm3_tmpl);
	if (!c)
		crypto_fatal("HMAC-SM3 context");
	if (EVP_MAC_init(c, keylen ? key : empty, keylen, NULL) != 1)
		crypto_fatal("HMAC-SM3 init");
	return c;
}

void crypto_fatal(const char *what)
{
	unsigned long e = ERR_peek_last_error();
	char msg[256];
	ERR_error_string_n(e, msg, sizeof msg);
	log_error("crypto.fatal", "%s failed: %s", what, msg);
	abort();
}

void crypto_clear_errors(void)
{
	ERR_clear_error();
}

void crypto_wipe(void *p, size_t n)
{
	if (p && n)
		OPENSSL_cleanse(p, n);
}

void crypto_buf_truncate(struct buf *b, size_t len)
{
	if (!b->p || len >= b->len)
		return;
	crypto_wipe(b->p + len, b->len - len);
	b->len = len;
}

enum err crypto_random(void *p, size_t n)
{
	unsigned char *q = p;
	while (n > 0) {
		int chunk = n > INT_MAX ? INT_MAX : (int)n;
		if (RAND_bytes(q, chunk) != 1)
			return ERR_CRYPTO;
		q += chunk;
		n -= (size_t)chunk;
	}
	return ERR_OK;
}

static enum err init_gcrypt(void)
{
	if (!gcry_check_version(GCRYPT_MIN_VERSION)) {
		log_error("crypto.init", "libgcrypt %s is older than %s (no SM4)",
		          gcry_check_version(NULL), GCRYPT_MIN_VERSION);
		return ERR_CRYPTO;
	}
	/* Another library of the process may have initialised libgcrypt already; then its
	 * settings stand and ours would be refused. */
	if (!gcry_control(GCRYCTL_INITIALIZATION_FINISHED_P)) {
		gcry_control(GCRYCTL_DISABLE_SECMEM, 0);
		gcry_control(GCRYCTL_INITIALIZATION_FINISHED, 0);
	}
	return ERR_OK;
}

static int hex_is(const unsigned char *got, const char *want_hex)
{
	unsigned char want[32];
	size_t n = strlen(want_hex) / 2;
	if (n > sizeof want || !hex_decode(want_hex, n * 2, want, n))
		return 0;
	return memcmp(got, want, n) == 0;
}

/* Known-answer tests from the standards, so a broken library build is caught at start-up
 * rather than by corrupted rows. */
static enum err self_test(void)
{
	static const char sm4_key_hex[] = "0123456789abcdeffedcba9876543210";
	unsigned char h[32], key[16], block[16];

	crypto_sm3("abc", 3, h);
	if (!hex_is(h, "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0")) {
		log_error("crypto.init", "SM3 self-test failed");
		return ERR_CRYPTO;
	}
	/* RFC 4231 case 2's inputs with SM3: the HMAC template of crypto_hmac_sm3_new */
	crypto_hmac_sm3("Jefe", 4, "what do ya want for nothing?", 28, h);
	if (!hex_is(h, "2e87f1d16862e6d964b50a5200bf2b10b764faa9680a296a2405f24bec39f882")) {
		log_error("crypto.init", "HMAC-SM3 self-test failed");
		return ERR_CRYPTO;
	}
	hex_decode(sm4_key_hex, 32, key, 16);
	if (crypto_sm4_ecb_encrypt_block(key, key, block) ||
	    !hex_is(block, "681edf34d206965e86b3e94f536e4246")) {
		log_error("crypto.init", "SM4 self-test failed");
		return ERR_CRYPTO;
	}
	return ERR_OK;
}

static void init_once_fn(void)
{
	enum err e = init_gcrypt();
	if (e)
		goto out;
	sm3_md = EVP_MD_fetch(NULL, "SM3", NULL);
	if (!sm3_md) {
		log_error("crypto.init", "OpenSSL has no SM3 implementation");
		e = ERR_CRYPTO;
		goto out;
	}
	/* HMAC() would fetch the MAC and the digest by name on every call (EVP_Q_mac): fetch
	 * once here and let every call dup a template that has the digest set. */
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SM3", 0),
	    OSSL_PARAM_construct_end(),
	};
	hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *tmpl = hmac_mac ? EVP_MAC_CTX_new(hmac_mac) : NULL;
	if (!tmpl || EVP_MAC_CTX_set_params(tmpl, params) != 1) {
		log_error("crypto.init", "OpenSSL has no HMAC-SM3 implementation");
		EVP_MAC_CTX_free(tmpl);
		e = ERR_CRYPTO;
		goto out;
	}
	hmac_sm3_tmpl = tmpl;
	e = self_test();
out:
	crypto_clear_errors();
	init_result = e;
}

enum err crypto_init(void)
{
	if (pthread_once(&init_once, init_once_fn) != 0)
		return ERR_INTERNAL;
	return init_result;
}
