/* fuzz_ws.c: libFuzzer harness for the WebSocket frame codec (src/ws/ws_codec.c).
 *
 * Two passes per input:
 *   1. The input after a 3-byte header is fed to a parser (client or server side, chosen by
 *      the header) in pieces whose sizes come from a small generator seeded by the header,
 *      so the fuzzer explores every way of splitting frames across reads.
 *   2. The input is cut into fragments, framed with ws_frame_append (masked, as a client
 *      does), a ping is slipped between fragments, and the server-side parser must give back
 *      exactly the original message and the ping.
 * The harness aborts when a property of ws.h does not hold: consumption within bounds, no
 * continuation opcode delivered, text and close reasons valid UTF-8, control payloads within
 * 125 bytes, data messages within max_message, close codes valid, failures sticky and
 * carrying one of the documented close codes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/str.h"
#include "ws/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_msg(const struct ws_parser *p, const struct ws_msg *m, size_t max_message)
{
	switch (m->op) {
	case WS_OP_TEXT:
		if (!utf8_valid(m->p, m->n))
			abort();
		/* fall through */
	case WS_OP_BINARY:
		if (m->n > max_message)
			abort();
		break;
	case WS_OP_PING:
	case WS_OP_PONG:
		if (m->n > WS_CONTROL_MAX)
			abort();
		break;
	case WS_OP_CLOSE:
		if (m->n > WS_CONTROL_MAX - 2 || !utf8_valid(m->p, m->n))
			abort();
		if (m->code != WS_CLOSE_NO_STATUS && !ws_close_code_valid(m->code))
			abort();
		if (m->code == WS_CLOSE_NO_STATUS && m->n != 0)
			abort();
		break;
	default: abort(); /* never WS_OP_CONT, never an unknown opcode */
	}
	(void)p;
}

static void pass_parse(const uint8_t *data, size_t size)
{
	if (size < 3)
		return;
	bool server = data[0] & 1;
	size_t max_message = 1 + (size_t)data[1] * 64;
	uint32_t seed = (uint32_t)data[2] * 2654435761u + 1;
	data += 3;
	size -= 3;

	struct ws_parser p;
	ws_parser_init(&p, max_message, server);
	size_t off = 0;
	bool failed = false;
	while (off < size && !failed) {
		seed = seed * 1103515245u + 12345u;
		size_t chunk = 1 + (seed >> 16) % 37;
		if (chunk > size - off)
			chunk = size - off;
		const uint8_t *in = data + off;
		size_t left = chunk;
		/* Feed one read until the parser has consumed all of it. */
		while (left) {
			struct ws_msg m;
			size_t used = (size_t)-1;
			enum ws_status st = ws_parser_feed(&p, in, left, &used, &m);
			if (used > left)
				abort();
			if (st == WS_FAIL) {
				if (p.error != WS_CLOSE_PROTOCOL && p.error != WS_CLOSE_BAD_DATA &&
				    p.error != WS_CLOSE_TOO_BIG && p.error != WS_CLOSE_INTERNAL)
					abort();
				if (!p.why)
					abort();
				/* dead parsers stay dead */
				size_t u2;
				if (ws_parser_feed(&p, in, left, &u2, &m) != WS_FAIL)
					abort();
				failed = true;
				break;
			}
			if (st == WS_MSG) {
				check_msg(&p, &m, max_message);
			} else if (st != WS_MORE || used != left) {
				abort(); /* WS_MORE means all of the input was consumed */
			}
			in += used;
			left -= used;
		}
		off += chunk;
	}
	ws_parser_release(&p);
}

static void pass_roundtrip(const uint8_t *data, size_t size)
{
	if (size < 6)
		return;
	uint8_t mask[4] = {data[0], data[1], data[2], data[3]};
	size_t frag = 1 + data[4] % 64;
	bool text = data[5] & 1;
	const uint8_t *msg = data + 6;
	size_t n = size - 6;
	if (text && !utf8_valid((const char *)msg, n))
		text = false;

	struct buf wire;
	/* worst case: one byte per fragment, each with a 6-byte masked header */
	buf_init(&wire, 7 * n + 4096);
	size_t nfrag = 0;
	for (size_t off = 0; off < n || nfrag == 0; nfrag++) {
		size_t take = n - off < frag ? n - off : frag;
		enum ws_opcode op = nfrag == 0 ? (text ? WS_OP_TEXT : WS_OP_BINARY) : WS_OP_CONT;
		if (ws_frame_append(&wire, op, off + take == n, msg + off, take, mask) != ERR_OK)
			abort();
		off += take;
		if (nfrag == 0 && off < n &&
		    ws_frame_append(&wire, WS_OP_PING, true, "hi", 2, mask) != ERR_OK)
			abort();
	}
	if (ws_close_append(&wire, 4000, "再见", mask) != ERR_OK)
		abort();

	struct ws_parser p;
	ws_parser_init(&p, n ? n : 1, true);
	const uint8_t *in = (const uint8_t *)wire.p;
	size_t left = wire.len;
	int got_data = 0, got_ping = 0, got_close = 0;
	while (left) {
		struct ws_msg m;
		size_t used;
		enum ws_status st = ws_parser_feed(&p, in, left, &used, &m);
		if (st == WS_FAIL)
			abort();
		if (st == WS_MSG) {
			if (m.op == WS_OP_PING) {
				if (m.n != 2 || memcmp(m.p, "hi", 2) || got_data)
					abort();
				got_ping++;
			} else if (m.op == WS_OP_CLOSE) {
				if (m.code != 4000 || m.n != strlen("再见") ||
				    memcmp(m.p, "再见", m.n))
					abort();
				got_close++;
			} else {
				if (m.op != (text ? WS_OP_TEXT : WS_OP_BINARY) || m.n != n ||
				    (n && memcmp(m.p, msg, n)))
					abort();
				got_data++;
			}
		}
		in += used;
		left -= used;
	}
	if (got_data != 1 || got_close != 1 || got_ping != (nfrag > 1 ? 1 : 0))
		abort();
	ws_parser_release(&p);
	buf_release(&wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pass_parse(data, size);
	pass_roundtrip(data, size);
	return 0;
}
