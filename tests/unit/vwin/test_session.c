/* test_session.c: the pure parts of video sessions (docs/vwin.md "Sessions") — the SM3
 * evidence chain and its tamper detection, the checks and summaries of relayed signals,
 * and the choice of the video provider. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/json.h"
#include "crypto/crypto.h"
#include "vwin/vwin.h"

#define N 4

struct chain {
	struct vwin_evidence_row rows[N];
	char hash[N][65], prev[N][65];
};

/* Build a valid chain of N rows the way the store does. */
static void build(struct chain *c)
{
	static const char *const kinds[N] = {"call", "join", "signal", "end"};
	static const char *const payloads[N] = {
	    "{\"ticket_id\":7,\"terminal\":\"KIOSK-01\"}",
	    "{\"side\":\"clerk\",\"state\":\"waiting\"}",
	    "{\"bytes\":312,\"media\":[\"audio\",\"video\"],\"type\":\"offer\"}",
	    "{\"reason\":\"clerk\",\"state\":\"ended\"}",
	};
	for (int i = 0; i < N; i++) {
		snprintf(c->prev[i], 65, "%s", i ? c->hash[i - 1] : VWIN_EVIDENCE_ZERO);
		c->rows[i] = (struct vwin_evidence_row){
		    .seq = i + 1,
		    .session_id = 42,
		    .at = 1764000000000LL + i * 1000,
		    .case_no = i >= 2 ? "310104014C1-20261129-000042" : NULL,
		    .kind = kinds[i],
		    .payload = payloads[i],
		    .prev_hash = c->prev[i]};
		assert_int_equal(vwin_evidence_hash(&c->rows[i], c->hash[i]), ERR_OK);
		c->rows[i].hash = c->hash[i];
	}
}

static void test_chain_valid(void **state)
{
	(void)state;
	struct chain c;
	size_t bad = 99;
	const char *why = "x";
	build(&c);
	assert_true(vwin_evidence_verify(c.rows, N, &bad, &why));
	assert_int_equal(bad, N);
	assert_null(why);
	/* the hash is SM3(prev ‖ canonical JSON): recompute the first by hand */
	const char *canon = "{\"at\":1764000000000,\"case_no\":null,\"kind\":\"call\",\"payload\":"
	                    "{\"terminal\":\"KIOSK-01\",\"ticket_id\":7},\"seq\":1,\"session\":42}";
	char buf[512];
	unsigned char d[32];
	char hex[65];
	snprintf(buf, sizeof(buf), "%s%s", VWIN_EVIDENCE_ZERO, canon);
	crypto_sm3(buf, strlen(buf), d);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	assert_string_equal(hex, c.hash[0]);
	/* the same row always hashes the same; key order of the stored payload does not matter */
	struct vwin_evidence_row r = c.rows[0];
	char h[65];
	r.payload = "{\"terminal\":\"KIOSK-01\",\"ticket_id\":7}";
	assert_int_equal(vwin_evidence_hash(&r, h), ERR_OK);
	assert_string_equal(h, c.hash[0]);
	assert_true(vwin_evidence_verify(c.rows, 0, &bad, &why));
}

static void test_chain_tamper(void **state)
{
	(void)state;
	struct chain c;
	size_t bad;
	const char *why;

	build(&c);
	c.rows[1].payload = "{\"side\":\"terminal\",\"state\":\"waiting\"}";
	assert_false(vwin_evidence_verify(c.rows, N, &bad, &why));
	assert_int_equal(bad, 1);
	assert_non_null(strstr(why, "篡改"));

	build(&c);
	c.rows[2].at += 1;
	assert_false(vwin_evidence_verify(c.rows, N, &bad, &why));
	assert_int_equal(bad, 2);

	build(&c);
	c.rows[3].case_no = "310104014C1-20261129-000043";
	assert_false(vwin_evidence_verify(c.rows, N, &bad, &why));
	assert_int_equal(bad, 3);

	build(&c);
	c.rows[0].kind = "join";
	assert_false(vwin_evidence_verify(c.rows, N, &bad, &why));
	assert_int_equal(bad, 0);

	/* a row removed: the sequence breaks */
	build(&c);
	struct vwin_evidence_row gap[N - 1] = {c.rows[0], c.rows[2], c.rows[3]};
	assert_false(vwin_evidence_verify(gap, N - 1, &bad, &why));
	assert_int_equal(bad, 1);
	assert_non_null(strstr(why, "序号"));

	/* a row rewritten with a fresh hash of its own: the next row's link breaks */
	build(&c);
	char fresh[65];
	c.rows[1].payload = "{\"side\":\"terminal\",\"state\":\"active\"}";
	assert_int_equal(vwin_evidence_hash(&c.rows[1], fresh), ERR_OK);
	c.rows[1].hash = fresh;
	assert_false(vwin_evidence_verify(c.rows, N, &bad, &why));
	assert_int_equal(bad, 2);
	assert_non_null(strstr(why, "前一哈希"));

	/* a payload that is not JSON any more */
	build(&c);
	c.rows[3].payload = "{\"reason\":";
	assert_false(vwin_evidence_verify(c.rows, N, &bad, &why));
	assert_int_equal(bad, 3);
}

static json_t *parse(const char *s)
{
	json_error_t e;
	json_t *v = json_loads(s, JSON_DECODE_ANY, &e);
	assert_non_null(v);
	return v;
}

static void check(const char *type, const char *data, enum err want, const char *want_field)
{
	json_t *d = data ? parse(data) : NULL;
	const char *field = NULL, *why = NULL;
	enum err e = vwin_signal_check(type, d, &field, &why);
	json_decref(d);
	assert_int_equal(e, want);
	if (want_field) {
		assert_non_null(field);
		assert_string_equal(field, want_field);
		assert_non_null(why);
	}
}

static void test_signals(void **state)
{
	(void)state;
	check("offer", "{\"type\":\"offer\",\"sdp\":\"v=0\\r\\nm=audio 9 UDP\\r\\n\"}", ERR_OK,
	      NULL);
	check("answer", "{\"sdp\":\"v=0\\r\\n\"}", ERR_OK, NULL);
	check("offer", "{\"type\":\"answer\",\"sdp\":\"v=0\\r\\n\"}", ERR_BAD_FIELD, "data");
	check("offer", "{\"sdp\":\"hello\"}", ERR_BAD_FIELD, "data.sdp");
	check("offer", "{\"sdp\":\"v=0\\u0001\"}", ERR_BAD_FIELD, "data.sdp");
	check("offer", "\"v=0\"", ERR_BAD_FIELD, "data");
	check("candidate",
	      "{\"candidate\":\"candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\","
	      "\"sdpMid\":\"0\",\"sdpMLineIndex\":0}",
	      ERR_OK, NULL);
	check("candidate", "null", ERR_OK, NULL);
	check("candidate", "{\"candidate\":\"\",\"sdpMid\":null}", ERR_OK, NULL);
	check("candidate", "{\"candidate\":\"a\\nb\"}", ERR_BAD_FIELD, "data.candidate");
	check("candidate", "{\"candidate\":\"a\",\"sdpMLineIndex\":65}", ERR_BAD_FIELD,
	      "data.sdpMLineIndex");
	check("candidate", "{\"candidate\":\"a\",\"foo\":1}", ERR_BAD_FIELD, "data");
	check("candidate", "{\"sdpMid\":\"0\"}", ERR_BAD_FIELD, "data.candidate");
	check("bye", NULL, ERR_OK, NULL);
	check("bye", "{\"reason\":\"挂断\"}", ERR_OK, NULL);
	check("bye", "{\"reason\":1}", ERR_BAD_FIELD, "data");
	check("hello", "{}", ERR_BAD_FIELD, "type");
	check(NULL, NULL, ERR_BAD_FIELD, "type");

	/* 16 KiB of SDP is the limit */
	size_t n = VWIN_SIGNAL_MAX + 1;
	char *big = malloc(n + 1);
	assert_non_null(big);
	memcpy(big, "v=0", 3);
	memset(big + 3, 'a', n - 3);
	big[n] = 0;
	json_t *d = json_pack("{s:s}", "sdp", big);
	const char *field, *why;
	assert_int_equal(vwin_signal_check("offer", d, &field, &why), ERR_BAD_FIELD);
	big[n - 1] = 0;
	json_object_set_new(d, "sdp", json_string(big));
	assert_int_equal(vwin_signal_check("offer", d, &field, &why), ERR_OK);
	json_decref(d);
	free(big);

	/* the evidence keeps a summary, never the SDP */
	json_t *o =
	    parse("{\"type\":\"offer\",\"sdp\":\"v=0\\r\\no=- 1 2 IN IP4 127.0.0.1\\r\\n"
	          "m=audio 9 UDP/TLS/RTP/SAVPF 111\\r\\nm=video 9 UDP/TLS/RTP/SAVPF 96\\r\\n\"}");
	json_t *s = vwin_signal_summary("offer", o);
	assert_non_null(s);
	assert_string_equal(json_get_str(s, "type"), "offer");
	assert_int_equal(json_array_size(json_object_get(s, "media")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(s, "media"), 1)),
	                    "video");
	assert_int_equal(json_get_int(s, "bytes", 0), strlen(json_get_str(o, "sdp")));
	assert_int_equal(strlen(json_get_str(s, "sm3")), 64);
	char *dump = json_dumps(s, 0);
	assert_null(strstr(dump, "127.0.0.1"));
	free(dump);
	json_decref(s);
	json_decref(o);
}

static void test_providers(void **state)
{
	(void)state;
	assert_string_equal(vwin_provider_choose(NULL, NULL), "webrtc");
	assert_string_equal(vwin_provider_choose(NULL, "bank"), "bank");
	assert_string_equal(vwin_provider_choose("tencent", "bank"), "tencent");
	assert_string_equal(vwin_provider_choose("nope", "bank"), "bank");
	assert_string_equal(vwin_provider_choose("nope", "zoom"), "webrtc");
	assert_string_equal(vwin_provider_choose("", ""), "webrtc");
	assert_non_null(vwin_provider_find("webrtc"));
	assert_non_null(vwin_provider_find("bank")->create_room);
	assert_non_null(vwin_provider_find("tencent")->join_info);
	assert_null(vwin_provider_find("WEBRTC"));
	assert_null(vwin_provider_find(NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_chain_valid),
	    cmocka_unit_test(test_chain_tamper),
	    cmocka_unit_test(test_signals),
	    cmocka_unit_test(test_providers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
