/* sm2.c: SM2 keys and signatures through OpenSSL 3's EVP interface. */
#include "crypto/crypto_int.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#define PEM_MAX (64 * 1024)
#define ID_MAX  8191 /* ENTL is a 16-bit count of bits */

/* Takes ownership of pkey; refuses keys of other algorithms and curves. */
static enum err wrap_pkey(EVP_PKEY *pkey, struct crypto_sm2_key **out)
{
	BIGNUM *d = NULL;
	struct crypto_sm2_key *k = NULL;
	if (!EVP_PKEY_is_a(pkey, "SM2")) {
		EVP_PKEY_free(pkey);
		return ERR_INVALID;
	}
	k = calloc(1, sizeof *k);
	if (!k) {
		EVP_PKEY_free(pkey);
		return ERR_NOMEM;
	}
	k->pkey = pkey;
	k->priv = EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &d) == 1;
	BN_clear_free(d);
	crypto_clear_errors();
	*out = k;
	return ERR_OK;
}

void crypto_sm2_destroy(struct crypto_sm2_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

bool crypto_sm2_has_private(const struct crypto_sm2_key *k)
{
	return k->priv;
}

enum err crypto_sm2_generate(struct crypto_sm2_key **out)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
	enum err e = ERR_CRYPTO;
	if (ctx && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_generate(ctx, &pkey) == 1)
		e = wrap_pkey(pkey, out);
	EVP_PKEY_CTX_free(ctx);
	return e;
}

/* Never prompt on the terminal for an encrypted PEM: fail instead. */
static int no_password(char *b, int size, int rwflag, void *u)
{
	return -1;
}

static EVP_PKEY *read_pem(const char *pem, size_t n, bool priv)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)n);
	EVP_PKEY *pkey = NULL;
	if (!bio)
		return NULL;
	pkey = priv ? PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL)
	            : PEM_read_bio_PUBKEY(bio, NULL, no_password, NULL);
	BIO_free(bio);
	return pkey;
}

enum err crypto_sm2_load_pem(const char *pem, size_t n, struct crypto_sm2_key **out)
{
	if (!pem || n == 0 || n > PEM_MAX)
		return ERR_INVALID;
	EVP_PKEY *pkey = read_pem(pem, n, true);
	if (!pkey)
		pkey = read_pem(pem, n, false);
	crypto_clear_errors();
	if (!pkey)
		return ERR_INVALID;
	return wrap_pkey(pkey, out);
}

enum err crypto_sm2_save_pem(const struct crypto_sm2_key *k, bool private_part, struct buf *out)
{
	enum err e = ERR_CRYPTO;
	char *data = NULL;
	if (private_part && !k->priv)
		return ERR_INTERNAL;
	BIO *bio = BIO_new(BIO_s_mem());
	if (!bio)
		return ERR_NOMEM;
	int ok = private_part ? PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL)
	                      : PEM_write_bio_PUBKEY(bio, k->pkey);
	long len = BIO_get_mem_data(bio, &data);
	if (ok == 1 && len > 0)
		e = buf_append(out, data, (size_t)len);
	if (len > 0)
		crypto_wipe(data, (size_t)len);
	BIO_free(bio);
	return e;
}

enum err crypto_sm2_public_raw(const struct crypto_sm2_key *k, unsigned char out[65])
{
	size_t len = 0;
	if (EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, out,
	                                    CRYPTO_SM2_PUB_LEN, &len) != 1 ||
	    len != CRYPTO_SM2_PUB_LEN || out[0] != 0x04) {
		crypto_clear_errors();
		return ERR_CRYPTO;
	}
	return ERR_OK;
}

/* An SM2 EVP_PKEY from a public point and, when d is not NULL, the private scalar. */
static enum err from_data(const unsigned char pub[65], const BIGNUM *d, struct crypto_sm2_key **out)
{
	enum err e = ERR_NOMEM;
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM *params = NULL;
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "SM2", NULL);
	if (!bld || !ctx ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "SM2", 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub,
	                                      CRYPTO_SM2_PUB_LEN) ||
	    (d && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d)) ||
	    !(params = OSSL_PARAM_BLD_to_param(bld)))
		goto out;
	e = ERR_INVALID;
	if (EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, d ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
		goto out;
	e = wrap_pkey(pkey, out);
out:
	crypto_clear_errors();
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	return e;
}

/* Is pub a point of the SM2 curve (not at infinity)? */
static bool point_valid(const unsigned char pub[65])
{
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_sm2);
	EC_POINT *pt = g ? EC_POINT_new(g) : NULL;
	bool ok = pt && pub[0] == 0x04 &&
	          EC_POINT_oct2point(g, pt, pub, CRYPTO_SM2_PUB_LEN, NULL) == 1 &&
	          EC_POINT_is_on_curve(g, pt, NULL) == 1 && !EC_POINT_is_at_infinity(g, pt);
	EC_POINT_free(pt);
	EC_GROUP_free(g);
	crypto_clear_errors();
	return ok;
}

enum err crypto_sm2_from_public_raw(const unsigned char pub[65], struct crypto_sm2_key **out)
{
	if (!point_valid(pub))
		return ERR_INVALID;
	return from_data(pub, NULL, out);
}

/* pub = d * G, refusing d outside [1, n-2] as GB/T 32918.1 requires. */
static enum err public_of(const BIGNUM *d, unsigned char pub[65])
{
	enum err e = ERR_NOMEM;
	BIGNUM *max = NULL;
	EC_GROUP *g = EC_GROUP_new_by_curve_name(NID_sm2);
	EC_POINT *pt = g ? EC_POINT_new(g) : NULL;
	if (!pt || !(max = BN_dup(EC_GROUP_get0_order(g))) || !BN_sub_word(max, 2))
		goto out;
	e = ERR_INVALID;
	if (BN_is_zero(d) || BN_cmp(d, max) > 0)
		goto out;
	e = ERR_CRYPTO;
	if (EC_POINT_mul(g, pt, d, NULL, NULL, NULL) != 1 ||
	    EC_POINT_point2oct(g, pt, POINT_CONVERSION_UNCOMPRESSED, pub, CRYPTO_SM2_PUB_LEN,
	                       NULL) != CRYPTO_SM2_PUB_LEN)
		goto out;
	e = ERR_OK;
out:
	BN_free(max);
	EC_POINT_free(pt);
	EC_GROUP_free(g);
	return e;
}

enum err crypto_sm2_from_private_raw(const unsigned char d[32], struct crypto_sm2_key **out)
{
	unsigned char pub[CRYPTO_SM2_PUB_LEN];
	BIGNUM *bn = BN_secure_new();
	enum err e = ERR_NOMEM;
	if (!bn || !BN_bin2bn(d, 32, bn))
		goto out;
	e = public_of(bn, pub);
	if (!e)
		e = from_data(pub, bn, out);
out:
	BN_clear_free(bn);
	crypto_clear_errors();
	return e;
}

/* A digest context set up for SM2 with Z computed over id. Free md before pctx. */
static enum err digest_ctx(const struct crypto_sm2_key *k, const char *id, bool sign,
                           EVP_MD_CTX **md, EVP_PKEY_CTX **pctx)
{
	size_t idlen;
	if (!id)
		id = CRYPTO_SM2_DEFAULT_ID;
	idlen = strlen(id);
	if (idlen > ID_MAX)
		return ERR_INVALID;
	*md = EVP_MD_CTX_new();
	*pctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
	if (!*md || !*pctx)
		return ERR_NOMEM;
	/* Always set the id: OpenSSL's default when none is set is an empty id, which no
	 * other SM2 implementation uses. */
	if (EVP_PKEY_CTX_set1_id(*pctx, id, idlen) != 1)
		return ERR_CRYPTO;
	EVP_MD_CTX_set_pkey_ctx(*md, *pctx);
	int ok = sign ? EVP_DigestSignInit(*md, NULL, crypto_md_sm3(), NULL, k->pkey)
	              : EVP_DigestVerifyInit(*md, NULL, crypto_md_sm3(), NULL, k->pkey);
	return ok == 1 ? ERR_OK : ERR_CRYPTO;
}

enum err crypto_sm2_sign(const struct crypto_sm2_key *k, const char *id, const void *msg, size_t n,
                         struct buf *sig)
{
	unsigned char der[CRYPTO_SM2_SIG_MAX + 8];
	size_t len = sizeof der;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	if (!k->priv)
		return ERR_INTERNAL;
	enum err e = digest_ctx(k, id, true, &md, &pctx);
	if (e)
		goto out;
	if (EVP_DigestSign(md, der, &len, n ? msg : (const void *)"", n) != 1) {
		e = ERR_CRYPTO;
		goto out;
	}
	e = buf_append(sig, der, len);
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_CTX_free(pctx);
	crypto_clear_errors();
	return e;
}

enum err crypto_sm2_verify(const struct crypto_sm2_key *k, const char *id, const void *msg,
                           size_t n, const void *sig, size_t siglen)
{
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	if (!sig || siglen == 0 || siglen > CRYPTO_SM2_SIG_MAX)
		return ERR_INTEGRITY;
	enum err e = digest_ctx(k, id, false, &md, &pctx);
	if (e)
		goto out;
	if (EVP_DigestVerify(md, sig, siglen, n ? msg : (const void *)"", n) != 1)
		e = ERR_INTEGRITY;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_CTX_free(pctx);
	crypto_clear_errors();
	return e;
}
