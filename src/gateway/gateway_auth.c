/* gateway_auth.c: how a request proves who sends it (basic, token, HMAC-SM3, SM2) and how
 * its body is protected (crypto profiles), per docs/gateway.md.
 *
 * The inbound open APIs (gateway_open.c) verify exactly the sign string built here, so the
 * two sides cannot drift apart. */
#include <stdarg.h>
#include <stdio.h>

#include "core/id.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "gateway/gateway_int.h"

/* A token is used until this long before it expires (or a tenth of its life, if shorter),
 * so a call never goes out with one that dies in flight. */
#define TOKEN_MARGIN_MS 60000

/* ---- signing --------------------------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decode p[0..n) into the arena; plus_is_space for query arguments. */
static char *pct_decode(struct arena *a, const char *p, size_t n, bool plus_is_space)
{
	char *out = arena_alloc(a, n + 1), *o = out;
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int h, l;
		if (p[i] == '%' && i + 2 < n && (h = hexval(p[i + 1])) >= 0 &&
		    (l = hexval(p[i + 2])) >= 0) {
			*o++ = (char)(h * 16 + l);
			i += 2;
		} else {
			*o++ = p[i] == '+' && plus_is_space ? ' ' : p[i];
		}
	}
	*o = '\0';
	return out;
}

enum err gw_sign_string(const char *method, const char *target, const char *timestamp,
                        const char *nonce, const void *body, size_t body_len, struct buf *out)
{
	struct gateway_query_arg args[64];
	size_t nargs = 0;
	struct arena a;
	enum err e = ERR_OK;
	arena_init(&a, 0);
	const char *q = strchr(target, '?');
	size_t plen = q ? (size_t)(q - target) : strlen(target);
	char *path = pct_decode(&a, target, plen, false);
	for (const char *s = q ? q + 1 : NULL; s && *s && !e;) {
		const char *amp = strchr(s, '&');
		size_t n = amp ? (size_t)(amp - s) : strlen(s);
		const char *eq = memchr(s, '=', n);
		if (n > 0) {
			if (nargs == sizeof(args) / sizeof(args[0])) {
				e = ERR_TOO_LARGE;
				break;
			}
			size_t kn = eq ? (size_t)(eq - s) : n;
			args[nargs].name = pct_decode(&a, s, kn, true);
			args[nargs].value = eq ? pct_decode(&a, eq + 1, n - kn - 1, true) : "";
			if (!args[nargs].name || !args[nargs].value)
				e = ERR_NOMEM;
			nargs++;
		}
		s = amp ? amp + 1 : NULL;
	}
	if (!e && !path)
		e = ERR_NOMEM;
	if (!e)
		e = gateway_signing_string(out, method, path, args, nargs, timestamp, nonce, body,
		                           body ? body_len : 0);
	arena_release(&a);
	return e;
}

void gw_hmac_sm3_hex(const char *secret, const char *sign_string, size_t n, char out[65])
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char mac[CRYPTO_SM3_LEN];
	crypto_hmac_sm3(secret, strlen(secret), sign_string, n, mac);
	for (int i = 0; i < CRYPTO_SM3_LEN; i++) {
		out[2 * i] = hexd[mac[i] >> 4];
		out[2 * i + 1] = hexd[mac[i] & 15];
	}
	out[64] = '\0';
	crypto_wipe(mac, sizeof(mac));
}

void gw_hdrs_add(struct gw_hdrs *h, struct arena *a, const char *fmt, ...)
{
	va_list ap;
	if (h->n >= GW_MAX_HEADERS)
		return;
	va_start(ap, fmt);
	char *s = arena_vprintf(a, fmt, ap);
	va_end(ap);
	if (s)
		h->v[h->n++] = s;
}

/* ---- token ----------------------------------------------------------------------------- */

void gw_auth_forget_token(struct gw_conn *cn)
{
	pthread_mutex_lock(&cn->mu);
	free(cn->token);
	cn->token = NULL;
	cn->token_until_ms = 0;
	pthread_mutex_unlock(&cn->mu);
}

static enum err fetch_token(struct gw_conn *cn, const struct gw_conf *cf, const char *base_url,
                            int64_t deadline_ms, struct arena *a, const char **token,
                            struct errinfo *ei)
{
	enum err e;
	struct gw_http_resp rs = {0};
	json_t *req = NULL, *ans = NULL;
	char *body = NULL;
	int64_t left = deadline_ms - time_mono_ns() / 1000000;
	buf_init(&rs.body, 1u << 20);
	if (left <= 0) {
		e = ERR_TIMEOUT;
		ei->msg = "获取访问令牌超时";
		goto out;
	}
	req = json_pack("{s:s,s:s}", "username", cf->username ? cf->username : "", "password",
	                cf->secret);
	body = req ? json_dumps(req, JSON_COMPACT) : NULL;
	if (!body) {
		e = ERR_NOMEM;
		goto out;
	}
	const char *hdr[] = {"Content-Type: application/json; charset=utf-8",
	                     "Accept: application/json"};
	struct gw_http_req rq = {
	    .method = "POST",
	    .url = arena_printf(a, "%s%s", base_url, cf->token_path),
	    .headers = hdr,
	    .nheaders = 2,
	    .body = body,
	    .body_len = strlen(body),
	    .timeout_ms = (long)left,
	};
	if (!rq.url) {
		e = ERR_NOMEM;
		goto out;
	}
	if ((e = gw_http_perform(cn, &rq, &rs))) {
		ei->msg = e == ERR_TIMEOUT ? "获取访问令牌超时"
		                           : arena_printf(a, "获取访问令牌失败：%s", rs.error);
		goto out;
	}
	if (rs.status < 200 || rs.status > 299) {
		e = ERR_UPSTREAM;
		ei->msg = arena_printf(a, "获取访问令牌失败（HTTP %ld）", rs.status);
		goto out;
	}
	ans = json_loadb(rs.body.p ? rs.body.p : "", rs.body.len, 0, NULL);
	const char *t = json_get_str(ans, cf->token_field);
	int64_t life = json_get_int(ans, cf->expires_field, 3600);
	if (!t || !t[0]) {
		e = ERR_UPSTREAM;
		ei->msg = arena_printf(a, "令牌响应缺少字段 %s", cf->token_field);
		goto out;
	}
	if (life <= 0)
		life = 1;
	int64_t margin = life * 100 < TOKEN_MARGIN_MS ? life * 100 : TOKEN_MARGIN_MS;
	*token = arena_strdup(a, t);
	char *keep = strdup(t);
	pthread_mutex_lock(&cn->mu);
	free(cn->token);
	cn->token = keep;
	cn->token_until_ms = time_mono_ns() / 1000000 + life * 1000 - margin;
	cn->token_rev = cf->rev;
	pthread_mutex_unlock(&cn->mu);
	e = *token && keep ? ERR_OK : ERR_NOMEM;
out:
	free(body);
	json_decref(req);
	json_decref(ans);
	buf_release(&rs.body);
	return e;
}

static const char *cached_token(struct gw_conn *cn, const struct gw_conf *cf, struct arena *a)
{
	const char *t = NULL;
	pthread_mutex_lock(&cn->mu);
	if (cn->token && cn->token_rev == cf->rev && time_mono_ns() / 1000000 < cn->token_until_ms)
		t = arena_strdup(a, cn->token);
	pthread_mutex_unlock(&cn->mu);
	return t;
}

/* ---- auth ------------------------------------------------------------------------------ */

enum err gw_auth_apply(struct gw_conn *cn, const struct gw_conf *cf, const char *base_url,
                       const char *method, const char *path, const char *body, size_t body_len,
                       bool fresh, int64_t deadline_ms, struct gw_hdrs *h, const char **userpwd,
                       struct arena *a, struct errinfo *ei)
{
	enum err e = ERR_OK;
	if (cf->auth != GW_AUTH_NONE && cf->auth != GW_AUTH_SM2 &&
	    (!cf->secret || !cf->secret[0])) {
		ei->msg = "接口系统未配置密钥（auth.secret）";
		return ERR_CONFIG;
	}
	switch (cf->auth) {
	case GW_AUTH_NONE: break;
	case GW_AUTH_BASIC:
		*userpwd = arena_printf(a, "%s:%s", cf->username ? cf->username : "", cf->secret);
		break;
	case GW_AUTH_TOKEN: {
		const char *t = fresh ? NULL : cached_token(cn, cf, a);
		if (!t && (e = fetch_token(cn, cf, base_url, deadline_ms, a, &t, ei)))
			return e;
		gw_hdrs_add(h, a, "Authorization: Bearer %s", t);
		break;
	}
	case GW_AUTH_HMAC_SM3:
	case GW_AUTH_SM2: {
		char nonce[17], ts[24], sig_hex[65];
		struct buf ss, sig;
		if ((e = id_random_hex(nonce, 8)))
			return e;
		snprintf(ts, sizeof(ts), "%lld", (long long)time_now_ms());
		buf_init(&ss, 4096);
		buf_init(&sig, 256);
		e = gw_sign_string(method, path, ts, nonce, body, body_len, &ss);
		if (!e && cf->auth == GW_AUTH_HMAC_SM3) {
			gw_hmac_sm3_hex(cf->secret, ss.p, ss.len, sig_hex);
			gw_hdrs_add(h, a, "X-Signature: %s", sig_hex);
		} else if (!e) {
			struct buf der;
			buf_init(&der, 128);
			if (!cf->sign_key) {
				e = ERR_CONFIG;
				ei->msg = "接口系统未配置 SM2 签名私钥（auth.private_key）";
			} else if (!(e = crypto_sm2_sign(cf->sign_key, NULL, ss.p, ss.len, &der)) &&
			           !(e = buf_base64(&sig, der.p, der.len))) {
				gw_hdrs_add(h, a, "X-Signature: %s", sig.p);
			}
			buf_release(&der);
		}
		if (!e) {
			gw_hdrs_add(h, a, "X-Key-Id: %s", cf->key_id ? cf->key_id : "");
			gw_hdrs_add(h, a, "X-Timestamp: %s", ts);
			gw_hdrs_add(h, a, "X-Nonce: %s", nonce);
		}
		buf_release(&ss);
		buf_release(&sig);
		break;
	}
	}
	return e;
}

/* ---- crypto profiles ------------------------------------------------------------------- */

static enum err cbc_seal(const unsigned char key[16], const char *plain, size_t n, struct buf *b64)
{
	unsigned char iv[16];
	struct buf raw;
	enum err e;
	buf_init(&raw, GW_BODY_MAX);
	if (!(e = crypto_random(iv, sizeof(iv))) && !(e = buf_append(&raw, iv, sizeof(iv))) &&
	    !(e = crypto_sm4_cbc_encrypt(key, iv, plain, n, &raw)))
		e = buf_base64(b64, raw.p, raw.len);
	buf_release(&raw);
	return e;
}

static enum err cbc_open(const unsigned char key[16], const char *b64, size_t n, struct buf *plain)
{
	struct buf raw;
	enum err e;
	buf_init(&raw, GW_BODY_MAX);
	if (!(e = base64_decode(b64, n, BASE64_URLSAFE, &raw))) {
		if (raw.len < 32)
			e = ERR_INVALID;
		else
			e = crypto_sm4_cbc_decrypt(key, (const unsigned char *)raw.p, raw.p + 16,
			                           raw.len - 16, plain);
	}
	buf_release(&raw);
	return e;
}

enum err gw_crypto_wrap(const struct gw_conf *cf, const char *plain, size_t n, struct buf *out,
                        struct errinfo *ei)
{
	enum err e = ERR_OK;
	struct buf data, key64, wrapped;
	unsigned char k[16];
	switch (cf->crypto) {
	case GW_CRYPTO_NONE: return buf_append(out, plain, n);
	case GW_CRYPTO_AES_CBC:
	case GW_CRYPTO_RSA_ENVELOPE:
		ei->msg =
		    "加密方式 aes_cbc / rsa_envelope 暂不支持（请使用 sm4_cbc 或 sm2_envelope）";
		return ERR_CONFIG;
	case GW_CRYPTO_SM4_CBC:
	case GW_CRYPTO_SM2_ENVELOPE: break;
	}
	buf_init(&data, GW_BODY_MAX * 2);
	buf_init(&key64, 1024);
	buf_init(&wrapped, 1024);
	if (cf->crypto == GW_CRYPTO_SM4_CBC) {
		memcpy(k, cf->sm4_key, sizeof(k));
	} else if (!cf->peer_key) {
		e = ERR_CONFIG;
		ei->msg = "接口系统未配置对方 SM2 公钥（crypto.peer_public_key）";
		goto out;
	} else if ((e = crypto_random(k, sizeof(k))) ||
	           (e = crypto_sm2_encrypt(cf->peer_key, k, sizeof(k), &wrapped)) ||
	           (e = buf_base64(&key64, wrapped.p, wrapped.len))) {
		goto out;
	}
	if ((e = cbc_seal(k, plain, n, &data)))
		goto out;
	if (cf->crypto == GW_CRYPTO_SM2_ENVELOPE)
		e = buf_printf(out, "{\"key\":\"%s\",\"data\":\"%s\"}", key64.p, data.p);
	else
		e = buf_printf(out, "{\"data\":\"%s\"}", data.p);
out:
	crypto_wipe(k, sizeof(k));
	buf_release(&data);
	buf_release(&key64);
	buf_release(&wrapped);
	return e;
}

enum err gw_crypto_unwrap(const struct gw_conf *cf, json_t *answer, json_t **out,
                          struct errinfo *ei)
{
	enum err e = ERR_OK;
	const char *data = json_get_str(answer, "data");
	unsigned char k[16];
	struct buf plain, raw;
	if (cf->crypto == GW_CRYPTO_NONE || !data) {
		*out = json_incref(answer);
		return ERR_OK;
	}
	buf_init(&plain, GW_BODY_MAX);
	buf_init(&raw, 1024);
	if (cf->crypto == GW_CRYPTO_SM4_CBC) {
		memcpy(k, cf->sm4_key, sizeof(k));
	} else {
		const char *key = json_get_str(answer, "key");
		if (!cf->own_key || !key ||
		    base64_decode(key, strlen(key), BASE64_URLSAFE, &raw) != ERR_OK ||
		    crypto_sm2_decrypt(cf->own_key, raw.p, raw.len, &plain) != ERR_OK ||
		    plain.len != sizeof(k)) {
			e = ERR_UPSTREAM;
			ei->msg = "外部系统响应的数字信封无法解开";
			goto out;
		}
		memcpy(k, plain.p, sizeof(k));
		crypto_wipe(plain.p, plain.len);
		buf_reset(&plain);
	}
	if (cbc_open(k, data, strlen(data), &plain) != ERR_OK) {
		e = ERR_UPSTREAM;
		ei->msg = "外部系统响应解密失败";
		goto out;
	}
	*out = json_loadb(plain.p ? plain.p : "", plain.len, JSON_DECODE_ANY, NULL);
	if (!*out) {
		e = ERR_UPSTREAM;
		ei->msg = "外部系统响应解密后不是 JSON";
	}
out:
	crypto_wipe(k, sizeof(k));
	if (plain.p)
		crypto_wipe(plain.p, plain.len);
	buf_release(&plain);
	buf_release(&raw);
	return e;
}
