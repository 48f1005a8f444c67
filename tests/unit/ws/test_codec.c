/* RFC 6455 codec: handshake key, parser (incl. fragmentation, limits, errors), writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ws/ws.h"

static const uint8_t MASK[4] = {0x37, 0xfa, 0x21, 0x3d};

/* What a parser made of a byte stream: the messages, then how it ended. */
#define MAX_MSGS 8
struct result {
	int n;
	enum ws_opcode op[MAX_MSGS];
	uint16_t code[MAX_MSGS];
	struct buf data[MAX_MSGS];
	enum ws_status end;
	uint16_t error;
	size_t consumed;
};

static void result_release(struct result *r)
{
	for (int i = 0; i < MAX_MSGS; i++)
		buf_release(&r->data[i]);
}

/* Feed in[0..n) to a fresh parser in pieces of `chunk` bytes. */
static void run(const void *in, size_t n, size_t chunk, size_t max_message, bool server,
                struct result *r)
{
	struct ws_parser p;
	const uint8_t *s = in;
	size_t off = 0;

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < MAX_MSGS; i++)
		buf_init(&r->data[i], 1u << 20);
	ws_parser_init(&p, max_message, server);
	r->end = WS_MORE;
	while (off < n) {
		size_t len = n - off < chunk ? n - off : chunk;
		size_t pos = 0;
		while (pos < len) {
			struct ws_msg m;
			size_t used;
			enum ws_status st = ws_parser_feed(&p, s + off + pos, len - pos, &used, &m);
			pos += used;
			if (st == WS_FAIL) {
				r->end = WS_FAIL;
				r->error = p.error;
				r->consumed = off + pos;
				goto out;
			}
			if (st == WS_MORE) {
				assert_int_equal(used, len - (pos - used));
				break;
			}
			assert_true(r->n < MAX_MSGS);
			r->op[r->n] = m.op;
			r->code[r->n] = m.code;
			assert_int_equal(buf_append(&r->data[r->n], m.p, m.n), ERR_OK);
			r->n++;
		}
		off += len;
	}
	r->consumed = off;
out:
	ws_parser_release(&p);
}

static void frame(struct buf *b, enum ws_opcode op, bool fin, const void *p, size_t n)
{
	assert_int_equal(ws_frame_append(b, op, fin, p, n, MASK), ERR_OK);
}

static void hex20(const uint8_t d[20], char out[41])
{
	for (int i = 0; i < 20; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_sha1_vectors(void **state)
{
	uint8_t d[20];
	char hex[41];

	ws_sha1("abc", 3, d);
	hex20(d, hex);
	assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	ws_sha1("", 0, d);
	hex20(d, hex);
	assert_string_equal(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	/* 56 bytes: the padding spills into a second block. */
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	ws_sha1(two, strlen(two), d);
	hex20(d, hex);
	assert_string_equal(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	char *million = malloc(1000000);
	assert_non_null(million);
	memset(million, 'a', 1000000);
	ws_sha1(million, 1000000, d);
	free(million);
	hex20(d, hex);
	assert_string_equal(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void test_accept_key(void **state)
{
	char out[29];

	/* RFC 6455 §1.3 (and `openssl sha1 -binary | base64` of key + GUID). */
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), ERR_OK);
	assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", out), ERR_BAD_REQUEST);
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==x", out), ERR_BAD_REQUEST);
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZ!==", out), ERR_BAD_REQUEST);
	/* Right length, but the last character carries non-zero padding bits. */
	assert_int_equal(ws_accept_key("dGhlIHNhbXBsZSBub25jZR==", out), ERR_BAD_REQUEST);
	assert_int_equal(ws_accept_key(NULL, out), ERR_BAD_REQUEST);
}

static void test_masked_text_rfc_example(void **state)
{
	/* RFC 6455 §5.7: a single-frame masked text message "Hello". */
	static const uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
	                                0x7f, 0x9f, 0x4d, 0x51, 0x58};
	struct result r;

	run(hello, sizeof(hello), sizeof(hello), 1024, true, &r);
	assert_int_equal(r.end, WS_MORE);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.op[0], WS_OP_TEXT);
	assert_int_equal(r.data[0].len, 5);
	assert_memory_equal(r.data[0].p, "Hello", 5);
	result_release(&r);

	/* Our writer produces the same bytes. */
	struct buf b;
	buf_init(&b, 1024);
	frame(&b, WS_OP_TEXT, true, "Hello", 5);
	assert_int_equal(b.len, sizeof(hello));
	assert_memory_equal(b.p, hello, sizeof(hello));
	buf_release(&b);
}

static void test_fragmented_message(void **state)
{
	struct buf b;
	struct result r;

	buf_init(&b, 4096);
	frame(&b, WS_OP_TEXT, false, "Hel", 3);
	frame(&b, WS_OP_CONT, false, "", 0);
	frame(&b, WS_OP_CONT, true, "lo", 2);
	run(b.p, b.len, b.len, 1024, true, &r);
	assert_int_equal(r.end, WS_MORE);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.op[0], WS_OP_TEXT);
	assert_int_equal(r.data[0].len, 5);
	assert_memory_equal(r.data[0].p, "Hello", 5);
	result_release(&r);
	buf_release(&b);
}

static void test_ping_between_fragments(void **state)
{
	struct buf b;
	struct result r;

	buf_init(&b, 4096);
	frame(&b, WS_OP_TEXT, false, "ab", 2);
	frame(&b, WS_OP_PING, true, "p1", 2);
	frame(&b, WS_OP_CONT, false, "cd", 2);
	frame(&b, WS_OP_PONG, true, "", 0);
	frame(&b, WS_OP_CONT, true, "ef", 2);
	run(b.p, b.len, b.len, 1024, true, &r);
	assert_int_equal(r.end, WS_MORE);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.op[0], WS_OP_PING);
	assert_memory_equal(r.data[0].p, "p1", 2);
	assert_int_equal(r.op[1], WS_OP_PONG);
	assert_int_equal(r.data[1].len, 0);
	assert_int_equal(r.op[2], WS_OP_TEXT);
	assert_int_equal(r.data[2].len, 6);
	assert_memory_equal(r.data[2].p, "abcdef", 6);
	result_release(&r);
	buf_release(&b);
}

static void test_16_and_64_bit_lengths(void **state)
{
	struct buf b;
	struct result r;
	size_t big = 70000;
	char *payload = malloc(big);

	assert_non_null(payload);
	for (size_t i = 0; i < big; i++)
		payload[i] = (char)('a' + i % 26);

	buf_init(&b, 1u << 20);
	frame(&b, WS_OP_BINARY, true, payload, 300);
	assert_int_equal((uint8_t)b.p[1], 0x80 | 126);
	assert_int_equal((uint8_t)b.p[2], 300 >> 8);
	assert_int_equal((uint8_t)b.p[3], 300 & 0xff);
	run(b.p, b.len, b.len, 100000, true, &r);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.op[0], WS_OP_BINARY);
	assert_int_equal(r.data[0].len, 300);
	assert_memory_equal(r.data[0].p, payload, 300);
	result_release(&r);

	buf_reset(&b);
	frame(&b, WS_OP_TEXT, true, payload, big);
	assert_int_equal((uint8_t)b.p[1], 0x80 | 127);
	uint64_t len = 0;
	for (int i = 2; i < 10; i++)
		len = len << 8 | (uint8_t)b.p[i];
	assert_int_equal(len, big);
	run(b.p, b.len, 4096, 100000, true, &r);
	assert_int_equal(r.end, WS_MORE);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.data[0].len, big);
	assert_memory_equal(r.data[0].p, payload, big);
	result_release(&r);

	/* A server frame (unmasked) parsed by a client-mode parser. */
	buf_reset(&b);
	assert_int_equal(ws_frame_append(&b, WS_OP_TEXT, true, payload, big, NULL), ERR_OK);
	assert_int_equal((uint8_t)b.p[1], 127);
	run(b.p, b.len, 1000, 100000, false, &r);
	assert_int_equal(r.n, 1);
	assert_memory_equal(r.data[0].p, payload, big);
	result_release(&r);

	buf_release(&b);
	free(payload);
}

static void test_mask_rules(void **state)
{
	struct buf b;
	struct result r;

	buf_init(&b, 1024);
	assert_int_equal(ws_frame_append(&b, WS_OP_TEXT, true, "hi", 2, NULL), ERR_OK);
	run(b.p, b.len, b.len, 1024, true, &r);
	assert_int_equal(r.end, WS_FAIL);
	assert_int_equal(r.error, WS_CLOSE_PROTOCOL);
	assert_int_equal(r.n, 0);
	/* It fails on the header, before reading the payload. */
	assert_int_equal(r.consumed, 2);
	result_release(&r);

	buf_reset(&b);
	frame(&b, WS_OP_TEXT, true, "hi", 2);
	run(b.p, b.len, b.len, 1024, false, &r);
	assert_int_equal(r.end, WS_FAIL);
	assert_int_equal(r.error, WS_CLOSE_PROTOCOL);
	result_release(&r);
	buf_release(&b);
}

static void test_oversize(void **state)
{
	struct buf b;
	struct result r;
	char payload[200];

	memset(payload, 'x', sizeof(payload));
	buf_init(&b, 4096);
	frame(&b, WS_OP_TEXT, true, payload, 101);
	run(b.p, b.len, b.len, 100, true, &r);
	assert_int_equal(r.end, WS_FAIL);
	assert_int_equal(r.error, WS_CLOSE_TOO_BIG);
	result_release(&r);

	/* Exactly the limit is fine. */
	buf_reset(&b);
	frame(&b, WS_OP_TEXT, true, payload, 100);
	run(b.p, b.len, b.len, 100, true, &r);
	assert_int_equal(r.end, WS_MORE);
	assert_int_equal(r.n, 1);
	result_release(&r);

	/* Fragments that together pass the limit. */
	buf_reset(&b);
	frame(&b, WS_OP_TEXT, false, payload, 60);
	frame(&b, WS_OP_CONT, true, payload, 60);
	run(b.p, b.len, b.len, 100, true, &r);
	assert_int_equal(r.end, WS_FAIL);
	assert_int_equal(r.error, WS_CLOSE_TOO_BIG);
	result_release(&r);

	/* A huge declared length fails at the header, with nothing buffered. */
	static const uint8_t huge[] = {0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
	run(huge, sizeof(huge), sizeof(huge), 1u << 20, true, &r);
	assert_int_equal(r.end, WS_FAIL);
	assert_int_equal(r.error, WS_CLOSE_TOO_BIG);
	result_release(&r);
	buf_release(&b);
}

static void test_utf8(void **state)
{
	struct buf b;
	struct result r;

	buf_init(&b, 4096);
	frame(&b, WS_OP_TEXT, true, "ok\xc3\x28", 4);
	run(b.p, b.len, b.len, 1024, true, &r);
	assert_int_equal(r.end, WS_FAIL);
	assert_int_equal(r.error, WS_CLOSE_BAD_DATA);
	result_release(&r);

	/* A character split across fragments is valid once reassembled. */
	buf_reset(&b);
	frame(&b, WS_OP_TEXT, false, "\xe5\x8f", 2);
	frame(&b, WS_OP_CONT, true, "\x97\xe7\x90\x86", 4);
	run(b.p, b.len, b.len, 1024, true, &r);
	assert_int_equal(r.end, WS_MORE);
	assert_int_equal(r.n, 1);
	assert_memory_equal(r.data[0].p, "受理", 6);
	result_release(&r);

	/* Binary messages are not checked. */
	buf_reset(&b);
	frame(&b, WS_OP_BINARY, true, "\xff\xfe", 2);
	run(b.p, b.len, b.len, 1024, true, &r);
	assert_int_equal(r.end, WS_MORE);
	assert_int_equal(r.n, 1);
	result_release(&r);
	buf_release(&b);
}

static void expect_fail(const void *p, size_t n, uint16_t code)
{
	struct result r;
	run(p, n, n, 1024, true, &r);
	assert_int_equal(r.end, WS_FAIL);
	assert_int_equal(r.error, code);
	result_release(&r);
}

static void test_protocol_errors(void **state)
{
	struct buf b;

	/* RSV1 set. */
	static const uint8_t rsv[] = {0xc1, 0x80, 1, 2, 3, 4};
	expect_fail(rsv, sizeof(rsv), WS_CLOSE_PROTOCOL);
	/* Opcode 3 is reserved. */
	static const uint8_t op3[] = {0x83, 0x80, 1, 2, 3, 4};
	expect_fail(op3, sizeof(op3), WS_CLOSE_PROTOCOL);
	/* Fragmented ping. */
	static const uint8_t fping[] = {0x09, 0x80, 1, 2, 3, 4};
	expect_fail(fping, sizeof(fping), WS_CLOSE_PROTOCOL);
	/* Ping longer than 125 bytes (16-bit length). */
	static const uint8_t lping[] = {0x89, 0xfe, 0, 126};
	expect_fail(lping, sizeof(lping), WS_CLOSE_PROTOCOL);
	/* Continuation with no message open. */
	static const uint8_t cont[] = {0x80, 0x80, 1, 2, 3, 4};
	expect_fail(cont, sizeof(cont), WS_CLOSE_PROTOCOL);
	/* 16-bit length used for 5 bytes. */
	static const uint8_t nonmin[] = {0x81, 0xfe, 0, 5, 1, 2, 3, 4};
	expect_fail(nonmin, sizeof(nonmin), WS_CLOSE_PROTOCOL);
	/* 64-bit length with the top bit set. */
	static const uint8_t top[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4};
	expect_fail(top, sizeof(top), WS_CLOSE_PROTOCOL);

	buf_init(&b, 4096);
	/* A new text frame inside a fragmented message. */
	frame(&b, WS_OP_TEXT, false, "a", 1);
	frame(&b, WS_OP_TEXT, true, "b", 1);
	expect_fail(b.p, b.len, WS_CLOSE_PROTOCOL);
	/* Close with a 1-byte body, with a code not allowed on the wire, with a bad reason. */
	buf_reset(&b);
	frame(&b, WS_OP_CLOSE, true, "\x03", 1);
	expect_fail(b.p, b.len, WS_CLOSE_PROTOCOL);
	buf_reset(&b);
	frame(&b, WS_OP_CLOSE, true, "\x03\xed", 2); /* 1005 */
	expect_fail(b.p, b.len, WS_CLOSE_PROTOCOL);
	buf_reset(&b);
	frame(&b, WS_OP_CLOSE, true, "\x03\xe8\xc0\xaf", 4);
	expect_fail(b.p, b.len, WS_CLOSE_BAD_DATA);
	buf_release(&b);
}

static void test_close_frames(void **state)
{
	struct buf b;
	struct result r;

	buf_init(&b, 4096);
	assert_int_equal(ws_close_append(&b, WS_CLOSE_GOING_AWAY, "再见", MASK), ERR_OK);
	frame(&b, WS_OP_CLOSE, true, "", 0);
	run(b.p, b.len, b.len, 1024, true, &r);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.op[0], WS_OP_CLOSE);
	assert_int_equal(r.code[0], WS_CLOSE_GOING_AWAY);
	assert_int_equal(r.data[0].len, strlen("再见"));
	assert_memory_equal(r.data[0].p, "再见", strlen("再见"));
	assert_int_equal(r.code[1], WS_CLOSE_NO_STATUS);
	result_release(&r);

	/* A long reason is cut to fit 125 bytes, never inside a character. */
	char reason[200] = "a";
	for (int i = 0; i < 60; i++)
		memcpy(reason + 1 + 3 * i, "理", 3); /* 181 bytes; byte 123 is mid-character */
	buf_reset(&b);
	assert_int_equal(ws_close_append(&b, WS_CLOSE_NORMAL, reason, NULL), ERR_OK);
	assert_int_equal((uint8_t)b.p[1], 2 + 121);
	run(b.p, b.len, b.len, 1024, false, &r);
	assert_int_equal(r.end, WS_MORE);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.code[0], WS_CLOSE_NORMAL);
	result_release(&r);

	/* Control frames are capped at 125 bytes on the way out too. */
	buf_reset(&b);
	assert_int_equal(ws_frame_append(&b, WS_OP_PING, true, reason, 126, NULL), ERR_BAD_REQUEST);
	assert_int_equal(b.len, 0);
	assert_true(ws_close_code_valid(1000));
	assert_true(ws_close_code_valid(4999));
	assert_false(ws_close_code_valid(1005));
	assert_false(ws_close_code_valid(1006));
	assert_false(ws_close_code_valid(999));
	assert_false(ws_close_code_valid(2000));
	buf_release(&b);
}

static void same(const struct result *a, const struct result *b)
{
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->end, b->end);
	assert_int_equal(a->error, b->error);
	for (int i = 0; i < a->n; i++) {
		assert_int_equal(a->op[i], b->op[i]);
		assert_int_equal(a->code[i], b->code[i]);
		assert_int_equal(a->data[i].len, b->data[i].len);
		if (a->data[i].len)
			assert_memory_equal(a->data[i].p, b->data[i].p, a->data[i].len);
	}
}

static void test_partial_input(void **state)
{
	struct buf b;
	char mid[300], big[70000];
	static const size_t chunks[] = {1, 2, 3, 5, 13, 127, 4096};

	memset(mid, 'm', sizeof(mid));
	memset(big, 'B', sizeof(big));
	buf_init(&b, 1u << 20);
	frame(&b, WS_OP_TEXT, false, "frag-", 5);
	frame(&b, WS_OP_PING, true, "x", 1);
	frame(&b, WS_OP_CONT, true, "ment", 4);
	frame(&b, WS_OP_BINARY, true, mid, sizeof(mid));
	frame(&b, WS_OP_BINARY, true, big, sizeof(big));
	frame(&b, WS_OP_TEXT, true, "", 0);
	assert_int_equal(ws_close_append(&b, WS_CLOSE_NORMAL, "bye", MASK), ERR_OK);

	struct result whole, piece;
	run(b.p, b.len, b.len, 100000, true, &whole);
	assert_int_equal(whole.end, WS_MORE);
	assert_int_equal(whole.n, 6);
	assert_int_equal(whole.op[1], WS_OP_TEXT);
	assert_memory_equal(whole.data[1].p, "frag-ment", 9);
	assert_int_equal(whole.op[5], WS_OP_CLOSE);
	for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
		run(b.p, b.len, chunks[i], 100000, true, &piece);
		same(&whole, &piece);
		result_release(&piece);
	}
	result_release(&whole);

	/* The same for a stream that ends in an error: byte-wise finds it at the same byte. */
	buf_reset(&b);
	frame(&b, WS_OP_TEXT, true, "fine", 4);
	frame(&b, WS_OP_TEXT, false, "\xc3", 1);
	frame(&b, WS_OP_CONT, true, "\x28", 1);
	run(b.p, b.len, b.len, 1024, true, &whole);
	run(b.p, b.len, 1, 1024, true, &piece);
	assert_int_equal(whole.end, WS_FAIL);
	assert_int_equal(whole.error, WS_CLOSE_BAD_DATA);
	assert_int_equal(whole.consumed, piece.consumed);
	same(&whole, &piece);
	result_release(&whole);
	result_release(&piece);
	buf_release(&b);
}

static void test_idle_parser_holds_no_memory(void **state)
{
	struct ws_parser p;
	struct buf b;
	struct ws_msg m;
	size_t used;

	buf_init(&b, 4096);
	frame(&b, WS_OP_TEXT, true, "{\"op\":\"ping\"}", 13);
	ws_parser_init(&p, 1024, true);
	assert_int_equal(ws_parser_feed(&p, b.p, b.len, &used, &m), WS_MSG);
	assert_int_equal(used, b.len);
	assert_non_null(p.msg.p);
	assert_int_equal(ws_parser_feed(&p, "", 0, &used, &m), WS_MORE);
	assert_null(p.msg.p);
	assert_null(p.ctl.p);
	/* After a failure the parser stays failed. */
	assert_int_equal(ws_parser_feed(&p, "\x81\x05", 2, &used, &m), WS_FAIL);
	assert_int_equal(ws_parser_feed(&p, b.p, b.len, &used, &m), WS_FAIL);
	assert_int_equal(used, 0);
	ws_parser_release(&p);
	buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sha1_vectors),
	    cmocka_unit_test(test_accept_key),
	    cmocka_unit_test(test_masked_text_rfc_example),
	    cmocka_unit_test(test_fragmented_message),
	    cmocka_unit_test(test_ping_between_fragments),
	    cmocka_unit_test(test_16_and_64_bit_lengths),
	    cmocka_unit_test(test_mask_rules),
	    cmocka_unit_test(test_oversize),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_protocol_errors),
	    cmocka_unit_test(test_close_frames),
	    cmocka_unit_test(test_partial_input),
	    cmocka_unit_test(test_idle_parser_holds_no_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
