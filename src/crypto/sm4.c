/* sm4.c: SM4 block cipher modes through libgcrypt. */
#include "crypto/crypto_int.h"

#include <gcrypt.h>

static enum err cipher_open(int mode, const unsigned char key[16], gcry_cipher_hd_t *h)
{
	*h = NULL;
	if (gcry_cipher_open(h, GCRY_CIPHER_SM4, mode, 0)) {
		*h = NULL;
		return ERR_CRYPTO;
	}
	if (gcry_cipher_setkey(*h, key, CRYPTO_SM4_KEY_LEN)) {
		gcry_cipher_close(*h);
		*h = NULL;
		return ERR_CRYPTO;
	}
	return ERR_OK;
}

/* In-place when in == out: libgcrypt spells that as (NULL, 0). */
static gcry_error_t run(gcry_cipher_hd_t h, bool enc, unsigned char *out, const void *in, size_t n)
{
	const void *src = in == out ? NULL : in;
	size_t srclen = in == out ? 0 : n;
	if (n == 0)
		return 0;
	return enc ? gcry_cipher_encrypt(h, out, n, src, srclen)
	           : gcry_cipher_decrypt(h, out, n, src, srclen);
}

static enum err gcm_open(const unsigned char key[16], const unsigned char iv[12], const void *aad,
                         size_t aadlen, gcry_cipher_hd_t *h)
{
	enum err e = cipher_open(GCRY_CIPHER_MODE_GCM, key, h);
	if (e)
		return e;
	if (gcry_cipher_setiv(*h, iv, CRYPTO_GCM_IV_LEN) ||
	    (aadlen && gcry_cipher_authenticate(*h, aad, aadlen))) {
		gcry_cipher_close(*h);
		*h = NULL;
		return ERR_CRYPTO;
	}
	return ERR_OK;
}

enum err crypto_sm4_gcm_encrypt(const unsigned char key[16], const unsigned char iv[12],
                                const void *aad, size_t aadlen, const void *in, size_t n,
                                unsigned char *out, unsigned char tag[16])
{
	gcry_cipher_hd_t h;
	enum err e = gcm_open(key, iv, aad, aadlen, &h);
	if (e)
		return e;
	if (run(h, true, out, in, n) || gcry_cipher_gettag(h, tag, CRYPTO_GCM_TAG_LEN))
		e = ERR_CRYPTO;
	gcry_cipher_close(h);
	return e;
}

enum err crypto_sm4_gcm_decrypt(const unsigned char key[16], const unsigned char iv[12],
                                const void *aad, size_t aadlen, const void *in, size_t n,
                                unsigned char *out, const unsigned char tag[16])
{
	gcry_cipher_hd_t h;
	enum err e = gcm_open(key, iv, aad, aadlen, &h);
	if (e)
		return e;
	if (run(h, false, out, in, n)) {
		e = ERR_CRYPTO;
		goto out;
	}
	gcry_error_t ge = gcry_cipher_checktag(h, tag, CRYPTO_GCM_TAG_LEN);
	if (ge)
		e = gcry_err_code(ge) == GPG_ERR_CHECKSUM ? ERR_INTEGRITY : ERR_CRYPTO;
out:
	if (e && n)
		crypto_wipe(out, n);
	gcry_cipher_close(h);
	return e;
}

static enum err ecb_block(bool enc, const unsigned char key[16], const unsigned char in[16],
                          unsigned char out[16])
{
	gcry_cipher_hd_t h;
	enum err e = cipher_open(GCRY_CIPHER_MODE_ECB, key, &h);
	if (e)
		return e;
	if (run(h, enc, out, in, CRYPTO_SM4_BLOCK))
		e = ERR_CRYPTO;
	gcry_cipher_close(h);
	return e;
}

enum err crypto_sm4_ecb_encrypt_block(const unsigned char key[16], const unsigned char in[16],
                                      unsigned char out[16])
{
	return ecb_block(true, key, in, out);
}

enum err crypto_sm4_ecb_decrypt_block(const unsigned char key[16], const unsigned char in[16],
                                      unsigned char out[16])
{
	return ecb_block(false, key, in, out);
}

enum err crypto_sm4_ctr(const unsigned char key[16], const unsigned char ctr[16], const void *in,
                        size_t n, unsigned char *out)
{
	gcry_cipher_hd_t h;
	enum err e = cipher_open(GCRY_CIPHER_MODE_CTR, key, &h);
	if (e)
		return e;
	if (gcry_cipher_setctr(h, ctr, CRYPTO_SM4_BLOCK) || run(h, true, out, in, n))
		e = ERR_CRYPTO;
	gcry_cipher_close(h);
	return e;
}

/* CBC over buf bytes [off, off + n) in place. */
static enum err cbc_in_place(bool enc, const unsigned char key[16], const unsigned char iv[16],
                             unsigned char *p, size_t n)
{
	gcry_cipher_hd_t h;
	enum err e = cipher_open(GCRY_CIPHER_MODE_CBC, key, &h);
	if (e)
		return e;
	if (gcry_cipher_setiv(h, iv, CRYPTO_SM4_BLOCK) || run(h, enc, p, p, n))
		e = ERR_CRYPTO;
	gcry_cipher_close(h);
	return e;
}

enum err crypto_sm4_cbc_encrypt(const unsigned char key[16], const unsigned char iv[16],
                                const void *in, size_t n, struct buf *out)
{
	unsigned char pad[CRYPTO_SM4_BLOCK];
	size_t padlen = CRYPTO_SM4_BLOCK - n % CRYPTO_SM4_BLOCK;
	size_t off = out->len;
	memset(pad, (int)padlen, sizeof pad);
	enum err e = buf_append(out, in, n);
	if (!e)
		e = buf_append(out, pad, padlen);
	if (!e)
		e = cbc_in_place(true, key, iv, (unsigned char *)out->p + off, n + padlen);
	if (e)
		crypto_buf_truncate(out, off);
	return e;
}

/* PKCS#7 check without a branch on the secret bytes: 0 when valid. */
static unsigned pad_bad(const unsigned char *end16)
{
	unsigned pad = end16[15];
	unsigned bad = (pad == 0) | (pad > CRYPTO_SM4_BLOCK);
	for (unsigned i = 0; i < CRYPTO_SM4_BLOCK; i++) {
		unsigned in_pad = (i - pad) >> (sizeof(unsigned) * 8 - 1); /* i < pad */
		bad |= in_pad & ((end16[15 - i] ^ pad) != 0);
	}
	return bad;
}

enum err crypto_sm4_cbc_decrypt(const unsigned char key[16], const unsigned char iv[16],
                                const void *in, size_t n, struct buf *out)
{
	size_t off = out->len;
	if (n == 0 || n % CRYPTO_SM4_BLOCK)
		return ERR_INVALID;
	enum err e = buf_append(out, in, n);
	if (e)
		return e;
	unsigned char *p = (unsigned char *)out->p + off;
	e = cbc_in_place(false, key, iv, p, n);
	if (!e && pad_bad(p + n - CRYPTO_SM4_BLOCK))
		e = ERR_INTEGRITY;
	if (e) {
		crypto_buf_truncate(out, off);
		return e;
	}
	crypto_buf_truncate(out, off + n - p[n - 1]);
	return ERR_OK;
}
