/* sign_seal.c: the seal of a signed application form — canonical records, digest, SM2
 * signature and its check — and the checks of a signature's PNG and strokes. Pure: no
 * server, no database (sign.h). */
#include <math.h>
#include <string.h>

#include "core/buf.h"
#include "crypto/crypto.h"
#include "sign/sign.h"

#define SEAL_TAG "SHOULI-SEAL-1\n"

static json_t *commitments_canonical(const json_t *in)
{
	json_t *out = json_array();
	size_t i;
	const json_t *c;
	json_array_foreach (in, i, c) {
		json_t *o = json_object();
		if (!out || !o) {
			json_decref(o);
			break;
		}
		json_object_set(o, "id",
		                json_object_get(c, "id") ? json_object_get(c, "id") : json_null());
		json_object_set(o, "text",
		                json_object_get(c, "text") ? json_object_get(c, "text")
		                                           : json_null());
		json_object_set(o, "ticked_at",
		                json_object_get(c, "ticked_at") ? json_object_get(c, "ticked_at")
		                                                : json_null());
		json_array_append_new(out, o);
	}
	return out;
}

enum err sign_records_json(const struct sign_sealed *s, struct buf *out)
{
	json_t *sigs = json_array();
	json_t *doc = NULL;
	char *text = NULL;
	enum err e = ERR_NOMEM;
	for (size_t i = 0; sigs && i < s->nrecs; i++) {
		const struct sign_record *r = &s->recs[i];
		json_t *cm = commitments_canonical(r->commitments);
		json_t *o =
		    cm ? json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:o,s:I,s:s}", "seq", r->seq, "role",
		                   r->role ? r->role : "", "label", r->label ? r->label : "",
		                   "signer_name", r->signer_name ? r->signer_name : "", "png_sm3",
		                   r->png_sm3 ? r->png_sm3 : "", "strokes_sm3",
		                   r->strokes_sm3 ? r->strokes_sm3 : "", "commitments", cm,
		                   "signed_at", (json_int_t)r->signed_at, "device",
		                   r->device ? r->device : "")
		       : NULL;
		if (!o || json_array_append_new(sigs, o))
			goto out;
	}
	if (!sigs)
		goto out;
	doc = json_pack("{s:s,s:i,s:s,s:O}", "case_no", s->case_no ? s->case_no : "", "round",
	                s->round, "form_sm3", s->form_sm3 ? s->form_sm3 : "", "signatures", sigs);
	if (!doc || !(text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS)))
		goto out;
	e = buf_puts(out, text);
out:
	free(text);
	json_decref(doc);
	json_decref(sigs);
	return e;
}

static void be64(uint64_t v, unsigned char out[8])
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		out[i] = (unsigned char)(v & 0xff);
}

enum err sign_seal_digest(const struct sign_sealed *s, const void *pdf, size_t pdf_n,
                          unsigned char out[32])
{
	struct crypto_sm3_ctx *h = NULL;
	struct buf rec;
	unsigned char n8[8];
	enum err e;
	buf_init(&rec, 8u << 20);
	if ((e = sign_records_json(s, &rec)) || (e = crypto_sm3_create(&h)))
		goto out;
	crypto_sm3_update(h, SEAL_TAG, strlen(SEAL_TAG));
	be64(pdf_n, n8);
	crypto_sm3_update(h, n8, 8);
	crypto_sm3_update(h, pdf, pdf_n);
	be64(rec.len, n8);
	crypto_sm3_update(h, n8, 8);
	crypto_sm3_update(h, rec.p, rec.len);
	be64((uint64_t)s->sealed_at, n8);
	crypto_sm3_update(h, n8, 8);
	crypto_sm3_final(h, out);
out:
	crypto_sm3_destroy(h);
	buf_release(&rec);
	return e;
}

enum err sign_seal_sign(const struct crypto_sm2_key *k, const unsigned char digest[32],
                        struct buf *sig_b64)
{
	struct buf der;
	buf_init(&der, CRYPTO_SM2_SIG_MAX);
	enum err e = crypto_sm2_sign(k, NULL, digest, 32, &der);
	if (!e)
		e = buf_base64(sig_b64, der.p, der.len);
	buf_release(&der);
	return e;
}

enum err sign_seal_verify(const struct crypto_sm2_key *k, const unsigned char digest[32],
                          const char *sig_b64)
{
	struct buf der;
	enum err e;
	if (!sig_b64)
		return ERR_INTEGRITY;
	buf_init(&der, 256);
	e = base64_decode(sig_b64, strlen(sig_b64), BASE64_STRICT, &der);
	if (!e)
		e = crypto_sm2_verify(k, NULL, digest, 32, der.p, der.len);
	else if (e != ERR_NOMEM)
		e = ERR_INTEGRITY;
	buf_release(&der);
	return e;
}

void sign_key_id(const unsigned char pub[65], char out[SIGN_KEY_ID_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[CRYPTO_SM3_LEN];
	crypto_sm3(pub, CRYPTO_SM2_PUB_LEN, d);
	for (int i = 0; i < SIGN_KEY_ID_HEX_LEN / 2; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[SIGN_KEY_ID_HEX_LEN] = 0;
}

bool sign_png_ok(const void *p, size_t n, int *w, int *h)
{
	static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	const unsigned char *b = p;
	if (!p || n < 33 || memcmp(b, sig, 8) || memcmp(b + 12, "IHDR", 4))
		return false;
	uint32_t ww = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
	uint32_t hh = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
	if (ww < 1 || hh < 1 || ww > SIGN_PNG_SIDE_MAX || hh > SIGN_PNG_SIDE_MAX)
		return false;
	if (w)
		*w = (int)ww;
	if (h)
		*h = (int)hh;
	return true;
}

enum err sign_strokes_check(const json_t *strokes, size_t *points, const char **why)
{
	size_t total = 0, i, j;
	const json_t *s, *pt;
	*why = NULL;
	if (!json_is_array(strokes)) {
		*why = "笔迹（strokes）应为笔画数组";
		return ERR_BAD_FIELD;
	}
	if (json_array_size(strokes) > SIGN_STROKES_MAX) {
		*why = "笔迹的笔画过多（最多 500 笔）";
		return ERR_BAD_FIELD;
	}
	json_array_foreach (strokes, i, s) {
		if (!json_is_array(s)) {
			*why = "每一笔应为点的数组 [[x, y, t], …]";
			return ERR_BAD_FIELD;
		}
		json_array_foreach (s, j, pt) {
			if (!json_is_array(pt) || json_array_size(pt) != 3 ||
			    !json_is_number(json_array_get(pt, 0)) ||
			    !json_is_number(json_array_get(pt, 1)) ||
			    !json_is_integer(json_array_get(pt, 2))) {
				*why = "笔迹的每个点应为 [x, y, t]（x、y 为数字，t 为毫秒整数）";
				return ERR_BAD_FIELD;
			}
			double x = json_number_value(json_array_get(pt, 0));
			double y = json_number_value(json_array_get(pt, 1));
			json_int_t t = json_integer_value(json_array_get(pt, 2));
			if (!isfinite(x) || !isfinite(y) || x < 0 || y < 0 || x > SIGN_COORD_MAX ||
			    y > SIGN_COORD_MAX || t < 0 || t > SIGN_T_MAX) {
				*why = "笔迹的坐标或时间超出范围";
				return ERR_BAD_FIELD;
			}
			if (++total > SIGN_POINTS_MAX) {
				*why = "笔迹的点过多（最多 10000 个）";
				return ERR_BAD_FIELD;
			}
		}
	}
	if (points)
		*points = total;
	if (!total) {
		*why = "签名笔迹为空，请在签名板上签名";
		return ERR_INVALID;
	}
	return ERR_OK;
}
