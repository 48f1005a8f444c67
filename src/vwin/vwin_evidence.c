/* vwin_evidence.c: the pure parts of a video session — the SM3 hash chain of the evidence
 * trail and the checks of relayed signals (docs/vwin.md "Sessions"). No server, no
 * database: the unit tests call these directly; vwin_session.c stores and reads the rows. */
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

#include "core/str.h"
#include "crypto/crypto.h"
#include "vwin/vwin.h"

static void hex_of(const unsigned char d[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = 0;
}

enum err vwin_evidence_hash(const struct vwin_evidence_row *r, char out[65])
{
	json_error_t jerr;
	json_t *payload = r->payload ? json_loads(r->payload, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	if (!payload)
		return ERR_BAD_JSON;
	json_t *env = json_pack("{s:I,s:s?,s:s,s:o,s:I,s:I}", "at", (json_int_t)r->at, "case_no",
	                        r->case_no, "kind", r->kind ? r->kind : "", "payload", payload,
	                        "seq", (json_int_t)r->seq, "session", (json_int_t)r->session_id);
	if (!env)
		return ERR_NOMEM;
	/* "case_no": null when there is none, so the set of keys is always the same */
	if (!r->case_no)
		json_object_set_new(env, "case_no", json_null());
	char *text = json_dumps(env, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(env);
	if (!text)
		return ERR_NOMEM;
	struct crypto_sm3_ctx *c = NULL;
	enum err e = crypto_sm3_create(&c);
	if (!e) {
		unsigned char d[32];
		const char *prev = r->prev_hash ? r->prev_hash : "";
		crypto_sm3_update(c, prev, strlen(prev));
		crypto_sm3_update(c, text, strlen(text));
		crypto_sm3_final(c, d);
		hex_of(d, out);
		e = ERR_OK;
	}
	crypto_sm3_destroy(c);
	free(text);
	return e;
}

bool vwin_evidence_verify(const struct vwin_evidence_row *rows, size_t n, size_t *bad,
                          const char **why)
{
	const char *prev = VWIN_EVIDENCE_ZERO;
	for (size_t i = 0; i < n; i++) {
		const struct vwin_evidence_row *r = &rows[i];
		char h[65];
		*bad = i;
		if (r->seq != (int64_t)i + 1) {
			*why = "证据记录序号不连续（有记录被删除或插入）";
			return false;
		}
		if (!r->prev_hash || strcmp(r->prev_hash, prev)) {
			*why = "证据记录的前一哈希与上一条记录不符";
			return false;
		}
		if (vwin_evidence_hash(r, h) != ERR_OK || !r->hash || strcmp(h, r->hash)) {
			*why = "证据记录内容与其哈希不符（记录已被篡改）";
			return false;
		}
		prev = r->hash;
	}
	*bad = n;
	*why = NULL;
	return true;
}

/* ---- signals ---- */

static bool str_max(const json_t *v, size_t max)
{
	return json_is_string(v) && json_string_length(v) <= max;
}

enum err vwin_signal_check(const char *type, const json_t *data, const char **field,
                           const char **why)
{
	*field = "type";
	*why = "信令类型应为 offer、answer、candidate 或 bye";
	if (!type)
		return ERR_BAD_FIELD;
	if (!strcmp(type, "offer") || !strcmp(type, "answer")) {
		const json_t *sdp = json_object_get(data, "sdp");
		const char *t = json_get_str(data, "type");
		*field = "data";
		*why = "offer/answer 的 data 应为 {type, sdp}";
		if (!json_is_object(data) || (t && strcmp(t, type)))
			return ERR_BAD_FIELD;
		*field = "data.sdp";
		*why = "SDP 应为以 v=0 开头、不超过 16 KiB 的文本";
		if (!str_max(sdp, VWIN_SIGNAL_MAX) || strncmp(json_string_value(sdp), "v=0", 3))
			return ERR_BAD_FIELD;
		for (const char *p = json_string_value(sdp); *p; p++)
			if ((unsigned char)*p < 0x20 && *p != '\r' && *p != '\n')
				return ERR_BAD_FIELD;
		return ERR_OK;
	}
	if (!strcmp(type, "candidate")) {
		*field = "data";
		*why = "candidate 的 data 应为 {candidate, sdpMid, sdpMLineIndex} 或 null";
		if (!data || json_is_null(data))
			return ERR_OK;
		if (!json_is_object(data))
			return ERR_BAD_FIELD;
		const char *key;
		const json_t *v;
		json_object_foreach ((json_t *)data, key, v) {
			*field = "data";
			if (!strcmp(key, "candidate")) {
				*field = "data.candidate";
				*why = "ICE 候选应为不超过 1 KiB 的单行文本";
				if (!str_max(v, VWIN_CANDIDATE_MAX) ||
				    strpbrk(json_string_value(v), "\r\n"))
					return ERR_BAD_FIELD;
			} else if (!strcmp(key, "sdpMid")) {
				*field = "data.sdpMid";
				*why = "sdpMid 应为不超过 64 字节的文本";
				if (!json_is_null(v) && !str_max(v, 64))
					return ERR_BAD_FIELD;
			} else if (!strcmp(key, "sdpMLineIndex")) {
				*field = "data.sdpMLineIndex";
				*why = "sdpMLineIndex 应为 0–64 的整数";
				if (!json_is_null(v) &&
				    (!json_is_integer(v) || json_integer_value(v) < 0 ||
				     json_integer_value(v) > 64))
					return ERR_BAD_FIELD;
			} else if (!strcmp(key, "usernameFragment")) {
				*field = "data.usernameFragment";
				*why = "usernameFragment 应为不超过 256 字节的文本";
				if (!json_is_null(v) && !str_max(v, 256))
					return ERR_BAD_FIELD;
			} else {
				*field = "data";
				*why = "candidate 的 data 含有不支持的成员";
				return ERR_BAD_FIELD;
			}
		}
		if (!json_object_get(data, "candidate")) {
			*field = "data.candidate";
			*why = "缺少 ICE 候选 candidate";
			return ERR_BAD_FIELD;
		}
		return ERR_OK;
	}
	if (!strcmp(type, "bye")) {
		*field = "data";
		*why = "bye 的 data 应为空或 {reason}（不超过 200 字节）";
		if (!data || json_is_null(data))
			return ERR_OK;
		if (!json_is_object(data) || json_object_size(data) > 1)
			return ERR_BAD_FIELD;
		const json_t *reason = json_object_get(data, "reason");
		if (json_object_size(data) == 1 && !str_max(reason, 200))
			return ERR_BAD_FIELD;
		return ERR_OK;
	}
	return ERR_BAD_FIELD;
}

json_t *vwin_signal_summary(const char *type, const json_t *data)
{
	json_t *o = json_pack("{s:s}", "type", type);
	if (!o)
		return NULL;
	if (!strcmp(type, "offer") || !strcmp(type, "answer")) {
		const char *sdp = json_get_str(data, "sdp");
		size_t n = sdp ? strlen(sdp) : 0;
		unsigned char d[32];
		char hex[65];
		json_t *media = json_array();
		crypto_sm3(sdp ? sdp : "", n, d);
		hex_of(d, hex);
		/* the kinds of media offered, from the m= lines: what was agreed, not how */
		for (const char *p = sdp; p && *p;) {
			const char *eol = strchr(p, '\n');
			size_t len = eol ? (size_t)(eol - p) : strlen(p);
			if (len > 2 && p[0] == 'm' && p[1] == '=') {
				size_t k = 2;
				while (k < len && k < 18 && p[k] != ' ')
					k++;
				json_array_append_new(media, json_stringn(p + 2, k - 2));
			}
			p = eol ? eol + 1 : p + len;
		}
		json_object_set_new(o, "bytes", json_integer((json_int_t)n));
		json_object_set_new(o, "media", media);
		json_object_set_new(o, "sm3", json_string(hex));
	} else if (!strcmp(type, "bye")) {
		const char *reason = json_get_str(data, "reason");
		if (reason)
			json_object_set_new(o, "reason", json_string(reason));
	}
	return o;
}
