/* sm2_cipher.c: SM2 public-key encryption (GB/T 32918.4) through OpenSSL 3's EVP interface.
 *
 * OpenSSL speaks the DER form of GM/T 0009; the raw C1 || C3 || C2 form is converted here
 * with a small strict DER codec for exactly that one structure:
 *   SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING (32), ciphertext OCTET STRING } */
#include "crypto/crypto_int.h"

#define SM2_PLAIN_MAX (1024 * 1024) /* envelopes carry keys and short messages */
#define COORD         32
#define RAW_OVERHEAD  (1 + 2 * COORD + CRYPTO_SM3_LEN) /* 04 || X || Y || C3 */
#define DER_SEQ       0x30
#define DER_INT       0x02
#define DER_OCTETS    0x04

struct der {
	const unsigned char *p;
	size_t n;
};

static enum err put_len(struct buf *b, size_t n)
{
	unsigned char t[5];
	size_t k = 0;
	if (n < 0x80) {
		t[k++] = (unsigned char)n;
	} else {
		int bytes = n > 0xffffff ? 4 : n > 0xffff ? 3 : n > 0xff ? 2 : 1;
		t[k++] = (unsigned char)(0x80 | bytes);
		for (int i = bytes - 1; i >= 0; i--)
			t[k++] = (unsigned char)(n >> (8 * i));
	}
	return buf_append(b, t, k);
}

static enum err put_tlv(struct buf *b, unsigned char tag, const void *p, size_t n)
{
	enum err e = buf_putc(b, (char)tag);
	if (!e)
		e = put_len(b, n);
	if (!e)
		e = buf_append(b, p, n);
	return e;
}

/* A non-negative INTEGER in minimal form from a 32-byte big-endian value. */
static enum err put_uint(struct buf *b, const unsigned char v[COORD])
{
	unsigned char t[COORD + 1];
	size_t skip = 0;
	while (skip < COORD - 1 && v[skip] == 0)
		skip++;
	size_t n = COORD - skip;
	size_t lead = (v[skip] & 0x80) ? 1 : 0;
	t[0] = 0;
	memcpy(t + lead, v + skip, n);
	return put_tlv(b, DER_INT, t, n + lead);
}

static bool get_tlv(struct der *d, unsigned char tag, struct der *val)
{
	if (d->n < 2 || d->p[0] != tag)
		return false;
	size_t len = d->p[1], hdr = 2;
	if (len & 0x80) {
		size_t bytes = len & 0x7f;
		if (bytes == 0 || bytes > 4 || d->n < 2 + bytes)
			return false;
		len = 0;
		for (size_t i = 0; i < bytes; i++)
			len = len << 8 | d->p[2 + i];
		hdr += bytes;
	}
	if (len > d->n - hdr)
		return false;
	val->p = d->p + hdr;
	val->n = len;
	d->p += hdr + len;
	d->n -= hdr + len;
	return true;
}

static bool get_uint(struct der *d, unsigned char out[COORD])
{
	struct der v;
	if (!get_tlv(d, DER_INT, &v) || v.n == 0 || (v.p[0] & 0x80))
		return false;
	while (v.n > 1 && v.p[0] == 0) {
		v.p++;
		v.n--;
	}
	if (v.n > COORD)
		return false;
	memset(out, 0, COORD);
	memcpy(out + COORD - v.n, v.p, v.n);
	return true;
}

/* DER -> 04 || X || Y || C3 || C2 appended to out. */
static enum err der_to_raw(const unsigned char *p, size_t n, struct buf *out)
{
	unsigned char head[RAW_OVERHEAD];
	struct der all = {p, n}, seq, hash, ct;
	head[0] = 0x04;
	if (!get_tlv(&all, DER_SEQ, &seq) || all.n != 0 || !get_uint(&seq, head + 1) ||
	    !get_uint(&seq, head + 1 + COORD) || !get_tlv(&seq, DER_OCTETS, &hash) ||
	    hash.n != CRYPTO_SM3_LEN || !get_tlv(&seq, DER_OCTETS, &ct) || ct.n == 0 || seq.n != 0)
		return ERR_INVALID;
	memcpy(head + 1 + 2 * COORD, hash.p, CRYPTO_SM3_LEN);
	size_t off = out->len;
	enum err e = buf_append(out, head, sizeof head);
	if (!e)
		e = buf_append(out, ct.p, ct.n);
	if (e)
		crypto_buf_truncate(out, off);
	return e;
}

/* 04 || X || Y || C3 || C2 -> DER into out (which starts empty). */
static enum err raw_to_der(const unsigned char *p, size_t n, struct buf *out)
{
	struct buf body;
	buf_init(&body, n + 64);
	if (n <= RAW_OVERHEAD || p[0] != 0x04)
		return ERR_INVALID;
	enum err e = put_uint(&body, p + 1);
	if (!e)
		e = put_uint(&body, p + 1 + COORD);
	if (!e)
		e = put_tlv(&body, DER_OCTETS, p + 1 + 2 * COORD, CRYPTO_SM3_LEN);
	if (!e)
		e = put_tlv(&body, DER_OCTETS, p + RAW_OVERHEAD, n - RAW_OVERHEAD);
	if (!e)
		e = put_tlv(out, DER_SEQ, body.p, body.len);
	crypto_wipe(body.p, body.len);
	buf_release(&body);
	return e;
}

/* EVP encryption: DER ciphertext appended to der. */
static enum err evp_encrypt(const struct crypto_sm2_key *k, const void *in, size_t n,
                            struct buf *der)
{
	enum err e = ERR_CRYPTO;
	unsigned char *tmp = NULL;
	size_t len = 0;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
	if (!ctx || EVP_PKEY_encrypt_init(ctx) != 1 ||
	    EVP_PKEY_encrypt(ctx, NULL, &len, in, n) != 1)
		goto out;
	e = ERR_NOMEM;
	if (!(tmp = malloc(len)))
		goto out;
	e = ERR_CRYPTO;
	if (EVP_PKEY_encrypt(ctx, tmp, &len, in, n) != 1)
		goto out;
	e = buf_append(der, tmp, len);
out:
	free(tmp);
	EVP_PKEY_CTX_free(ctx);
	crypto_clear_errors();
	return e;
}

/* EVP decryption of DER; plaintext appended to out. Any failure of the library here is a
 * ciphertext that does not decrypt under this key. */
static enum err evp_decrypt(const struct crypto_sm2_key *k, const void *der, size_t n,
                            struct buf *out)
{
	enum err e = ERR_INTEGRITY;
	unsigned char *tmp = NULL;
	size_t len = 0;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
	if (!ctx || EVP_PKEY_decrypt_init(ctx) != 1 ||
	    EVP_PKEY_decrypt(ctx, NULL, &len, der, n) != 1)
		goto out;
	e = ERR_NOMEM;
	if (!(tmp = malloc(len)))
		goto out;
	e = ERR_INTEGRITY;
	if (EVP_PKEY_decrypt(ctx, tmp, &len, der, n) != 1)
		goto out;
	e = buf_append(out, tmp, len);
out:
	if (tmp)
		crypto_wipe(tmp, len);
	free(tmp);
	EVP_PKEY_CTX_free(ctx);
	crypto_clear_errors();
	return e;
}

enum err crypto_sm2_encrypt_der(const struct crypto_sm2_key *k, const void *in, size_t n,
                                struct buf *out)
{
	if (n == 0)
		return ERR_INVALID;
	if (n > SM2_PLAIN_MAX)
		return ERR_TOO_LARGE;
	return evp_encrypt(k, in, n, out);
}

enum err crypto_sm2_decrypt_der(const struct crypto_sm2_key *k, const void *in, size_t n,
                                struct buf *out)
{
	if (!k->priv)
		return ERR_INTERNAL;
	if (n == 0 || n > SM2_PLAIN_MAX + 256)
		return ERR_INVALID;
	return evp_decrypt(k, in, n, out);
}

enum err crypto_sm2_encrypt(const struct crypto_sm2_key *k, const void *in, size_t n,
                            struct buf *out)
{
	struct buf der;
	buf_init(&der, SM2_PLAIN_MAX + 256);
	enum err e = crypto_sm2_encrypt_der(k, in, n, &der);
	if (!e)
		e = der_to_raw((const unsigned char *)der.p, der.len, out);
	buf_release(&der);
	return e;
}

enum err crypto_sm2_decrypt(const struct crypto_sm2_key *k, const void *in, size_t n,
                            struct buf *out)
{
	struct buf der;
	if (!k->priv)
		return ERR_INTERNAL;
	if (n > SM2_PLAIN_MAX + RAW_OVERHEAD)
		return ERR_INVALID;
	buf_init(&der, SM2_PLAIN_MAX + 256);
	enum err e = raw_to_der(in, n, &der);
	if (!e)
		e = evp_decrypt(k, der.p, der.len, out);
	buf_release(&der);
	return e;
}
