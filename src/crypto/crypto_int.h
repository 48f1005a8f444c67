/* crypto_int.h: declarations shared by the files of src/crypto only. */
#ifndef SHOULI_CRYPTO_INT_H
#define SHOULI_CRYPTO_INT_H

#include <openssl/evp.h>

#include "crypto/crypto.h"

/* The SM3 implementation fetched once by crypto_init (EVP_sm3() before that), so hot paths
 * skip OpenSSL 3's per-call implicit fetch. */
const EVP_MD *crypto_md_sm3(void);

/* A new HMAC-SM3 context keyed with key[0..keylen) (keylen may be 0), ready for
 * EVP_MAC_update; the caller frees it with EVP_MAC_CTX_free. Made by dup of a template that
 * crypto_init builds once (the HMAC algorithm and SM3 fetched once), so no call fetches by
 * name. NULL before crypto_init succeeded (callers then use HMAC()); aborts on OOM. A keyed
 * context may itself serve as a template: EVP_MAC_CTX_dup of it (from any number of threads,
 * as long as nobody updates it) gives a context with the key schedule done. */
EVP_MAC_CTX *crypto_hmac_sm3_new(const void *key, size_t keylen);
/* Finish c (a context of crypto_hmac_sm3_new or a dup of one) into out and free it. */
void crypto_hmac_sm3_finish(EVP_MAC_CTX *c, const void *p, size_t n, unsigned char out[32]);

/* Log what failed and abort: for failures a void API cannot report, which OpenSSL only has
 * when it runs out of memory. */
__attribute__((noreturn)) void crypto_fatal(const char *what);

/* Wipe b->p[len..b->len) and shorten b to len (len <= b->len). */
void crypto_buf_truncate(struct buf *b, size_t len);

/* An SM2 key (crypto.h): priv says whether pkey holds the private scalar. */
struct crypto_sm2_key {
	EVP_PKEY *pkey;
	bool priv;
};

/* Clear OpenSSL's thread error queue after an expected failure (e.g. a bad signature), so a
 * stale entry does not surface in an unrelated later call. */
void crypto_clear_errors(void);

/* ---- master-key providers (keyring.c / keyring_file.c) -------------------------------- */

/* A provider holds the master key and performs the only operations that need it. The file
 * provider does them in software; a PKCS#11 provider would do them inside the HSM (SM4-GCM
 * wrapping and HMAC-SM3 derivation, with the master key never exported). */
struct keyring_provider_ops {
	const char *name;
	/* Wrap a 16-byte data key under the master key, bound to aad; out gets
	 * KEYRING_WRAPPED_LEN bytes. */
	enum err (*wrap)(void *state, const unsigned char key[16], const void *aad, size_t aadlen,
	                 unsigned char out[KEYRING_WRAPPED_LEN]);
	/* Unwrap; ERR_INTEGRITY when blob was not wrapped by this master key with this aad. */
	enum err (*unwrap)(void *state, const void *blob, size_t n, const void *aad, size_t aadlen,
	                   unsigned char key[16]);
	/* 32 bytes derived from the master key for label[0..n); deterministic. */
	void (*derive)(void *state, const void *label, size_t n, unsigned char out[32]);
	void (*destroy)(void *state);
};

/* Take ownership of a provider (state is destroyed through ops even on failure). */
enum err keyring_create(const struct keyring_provider_ops *ops, void *state, struct keyring **out);

/* The file provider's state from a 32-byte master key (copied). */
enum err keyring_file_state(const unsigned char master[KEYRING_MASTER_LEN], void **state);
extern const struct keyring_provider_ops keyring_file_ops;

#endif
