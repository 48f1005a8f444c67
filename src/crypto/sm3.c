/* sm3.c: SM3 and HMAC-SM3 through OpenSSL's EVP interface. */
#include "crypto/crypto_int.h"

#include <limits.h>

#include <openssl/hmac.h>

struct crypto_sm3_ctx {
	EVP_MD_CTX *md;
};

void crypto_sm3(const void *p, size_t n, unsigned char out[32])
{
	if (EVP_Digest(p, n, out, NULL, crypto_md_sm3(), NULL) != 1)
		crypto_fatal("SM3");
}

enum err crypto_sm3_create(struct crypto_sm3_ctx **out)
{
	enum err e = ERR_NOMEM;
	struct crypto_sm3_ctx *c = calloc(1, sizeof *c);
	if (!c)
		goto out;
	c->md = EVP_MD_CTX_new();
	if (!c->md)
		goto out;
	if (EVP_DigestInit_ex(c->md, crypto_md_sm3(), NULL) != 1) {
		e = ERR_CRYPTO;
		goto out;
	}
	*out = c;
	c = NULL;
	e = ERR_OK;
out:
	crypto_sm3_destroy(c);
	return e;
}

void crypto_sm3_update(struct crypto_sm3_ctx *c, const void *p, size_t n)
{
	if (n && EVP_DigestUpdate(c->md, p, n) != 1)
		crypto_fatal("SM3 update");
}

void crypto_sm3_final(struct crypto_sm3_ctx *c, unsigned char out[32])
{
	if (EVP_DigestFinal_ex(c->md, out, NULL) != 1 ||
	    EVP_DigestInit_ex(c->md, crypto_md_sm3(), NULL) != 1)
		crypto_fatal("SM3 final");
}

void crypto_sm3_destroy(struct crypto_sm3_ctx *c)
{
	if (!c)
		return;
	EVP_MD_CTX_free(c->md);
	free(c);
}

void crypto_hmac_sm3_finish(EVP_MAC_CTX *c, const void *p, size_t n, unsigned char out[32])
{
	size_t len = 0;
	if ((n && EVP_MAC_update(c, p, n) != 1) || EVP_MAC_final(c, out, &len, 32) != 1 ||
	    len != 32)
		crypto_fatal("HMAC-SM3");
	EVP_MAC_CTX_free(c);
}

void crypto_hmac_sm3(const void *key, size_t keylen, const void *p, size_t n, unsigned char out[32])
{
	static const unsigned char empty[1];
	unsigned char k[32];
	unsigned int len = 0;

	/* RFC 2104: a key longer than the block is hashed first; doing it here keeps the
	 * length within OpenSSL's int parameter whatever the caller passes. */
	if (keylen > 64) {
		crypto_sm3(key, keylen, k);
		key = k;
		keylen = sizeof k;
	}
	if (!key || keylen == 0) {
		key = empty;
		keylen = 0;
	}
	EVP_MAC_CTX *c = crypto_hmac_sm3_new(key, keylen);
	if (c) {
		crypto_hmac_sm3_finish(c, p, n, out);
		crypto_wipe(k, sizeof k);
		return;
	}
	if (!HMAC(crypto_md_sm3(), key, (int)keylen, n ? p : empty, n, out, &len) || len != 32)
		crypto_fatal("HMAC-SM3");
	crypto_wipe(k, sizeof k);
}
