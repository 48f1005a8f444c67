/* ws_codec.c: RFC 6455 framing — incremental parser, frame writer, handshake key. */
#include "ws/ws.h"

#include <string.h>

#include "core/str.h"

#define DELIV_MSG 1u
#define DELIV_CTL 2u

void ws_parser_init(struct ws_parser *p, size_t max_message, bool server)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->msg, max_message);
	buf_init(&p->ctl, WS_CONTROL_MAX);
	p->max_message = max_message;
	p->server = server;
	p->hdr_need = 2;
}

void ws_parser_release(struct ws_parser *p)
{
	buf_release(&p->msg);
	buf_release(&p->ctl);
	p->delivered = 0;
}

static enum ws_status fail(struct ws_parser *p, uint16_t code, const char *why)
{
	p->error = code;
	p->why = why;
	return WS_FAIL;
}

static bool is_control(unsigned op)
{
	return (op & 0x8) != 0;
}

/* Checks that need only the first two header bytes, so that garbage fails at once instead of
 * after up to 12 more bytes. */
static enum ws_status check_start(struct ws_parser *p)
{
	unsigned b0 = p->hdr[0], b1 = p->hdr[1];
	unsigned op = b0 & 0x0f, len7 = b1 & 0x7f;
	bool fin = b0 & 0x80, masked = b1 & 0x80;

	if (b0 & 0x70)
		return fail(p, WS_CLOSE_PROTOCOL, "reserved bits set without an extension");
	if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE &&
	    op != WS_OP_PING && op != WS_OP_PONG)
		return fail(p, WS_CLOSE_PROTOCOL, "unknown opcode");
	if (is_control(op) && !fin)
		return fail(p, WS_CLOSE_PROTOCOL, "fragmented control frame");
	if (is_control(op) && len7 > WS_CONTROL_MAX)
		return fail(p, WS_CLOSE_PROTOCOL, "control frame longer than 125 bytes");
	if (p->server && !masked)
		return fail(p, WS_CLOSE_PROTOCOL, "unmasked client frame");
	if (!p->server && masked)
		return fail(p, WS_CLOSE_PROTOCOL, "masked server frame");
	if (op == WS_OP_CONT && !p->msg_op)
		return fail(p, WS_CLOSE_PROTOCOL, "continuation frame without a message");
	if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && p->msg_op)
		return fail(p, WS_CLOSE_PROTOCOL, "new message inside a fragmented one");
	p->hdr_need = (uint8_t)(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0));
	return WS_MORE;
}

/* The whole header is in: decode the length and start the payload. */
static enum ws_status start_payload(struct ws_parser *p)
{
	unsigned len7 = p->hdr[1] & 0x7f;
	uint64_t len = len7;

	if (len7 == 126) {
		len = (uint64_t)p->hdr[2] << 8 | p->hdr[3];
		if (len < 126)
			return fail(p, WS_CLOSE_PROTOCOL, "length not minimally encoded");
	} else if (len7 == 127) {
		len = 0;
		for (int i = 2; i < 10; i++)
			len = len << 8 | p->hdr[i];
		if (len >> 63)
			return fail(p, WS_CLOSE_PROTOCOL, "64-bit length with the top bit set");
		if (len <= 0xffff)
			return fail(p, WS_CLOSE_PROTOCOL, "length not minimally encoded");
	}
	p->opcode = p->hdr[0] & 0x0f;
	if (!is_control(p->opcode) && len > p->max_message - p->msg.len)
		return fail(p, WS_CLOSE_TOO_BIG, "message larger than the limit");
	p->remaining = len;
	p->mask_pos = 0;
	p->in_payload = true;
	return WS_MORE;
}

static enum ws_status take_payload(struct ws_parser *p, const uint8_t *s, size_t n)
{
	struct buf *dst = is_control(p->opcode) ? &p->ctl : &p->msg;
	size_t old = dst->len;

	if (buf_append(dst, s, n) != ERR_OK)
		return fail(p, WS_CLOSE_INTERNAL, "out of memory");
	if (p->hdr[1] & 0x80) {
		const uint8_t *key = p->hdr + p->hdr_need - 4;
		for (size_t i = old; i < dst->len; i++)
			dst->p[i] ^= (char)key[p->mask_pos++ & 3];
	}
	p->remaining -= n;
	return WS_MORE;
}

/* The current frame is complete. WS_MSG when it finishes a message, WS_MORE for a
 * non-final fragment. */
static enum ws_status finish_frame(struct ws_parser *p, struct ws_msg *msg)
{
	bool fin = p->hdr[0] & 0x80;
	unsigned op = p->opcode;

	p->in_payload = false;
	p->hdr_len = 0;
	p->hdr_need = 2;
	if (is_control(op)) {
		const char *c = p->ctl.p ? p->ctl.p : "";
		msg->op = (enum ws_opcode)op;
		msg->p = c;
		msg->n = p->ctl.len;
		msg->code = 0;
		if (op == WS_OP_CLOSE) {
			msg->code = WS_CLOSE_NO_STATUS;
			if (p->ctl.len == 1)
				return fail(p, WS_CLOSE_PROTOCOL, "close frame with a 1-byte body");
			if (p->ctl.len >= 2) {
				unsigned code = (unsigned)(uint8_t)c[0] << 8 | (uint8_t)c[1];
				if (!ws_close_code_valid(code))
					return fail(p, WS_CLOSE_PROTOCOL, "invalid close code");
				if (!utf8_valid(c + 2, p->ctl.len - 2))
					return fail(p, WS_CLOSE_BAD_DATA,
					            "close reason is not UTF-8");
				msg->code = (uint16_t)code;
				msg->p = c + 2;
				msg->n = p->ctl.len - 2;
			}
		}
		p->delivered |= DELIV_CTL;
		return WS_MSG;
	}
	if (!fin) {
		if (!p->msg_op)
			p->msg_op = (uint8_t)op;
		return WS_MORE;
	}
	if (p->msg_op)
		op = p->msg_op;
	p->msg_op = 0;
	msg->op = (enum ws_opcode)op;
	msg->p = p->msg.p ? p->msg.p : "";
	msg->n = p->msg.len;
	msg->code = 0;
	if (op == WS_OP_TEXT && !utf8_valid(msg->p, msg->n))
		return fail(p, WS_CLOSE_BAD_DATA, "text message is not UTF-8");
	p->delivered |= DELIV_MSG;
	return WS_MSG;
}

enum ws_status ws_parser_feed(struct ws_parser *p, const void *in, size_t n, size_t *used,
                              struct ws_msg *msg)
{
	const uint8_t *s = in;
	size_t i = 0;
	enum ws_status st = WS_MORE;

	if (p->error) {
		st = WS_FAIL;
		goto out;
	}
	/* What we handed out last time is the caller's no longer: give the memory back so an
	 * idle connection costs nothing. */
	if (p->delivered & DELIV_MSG)
		buf_release(&p->msg);
	if (p->delivered & DELIV_CTL)
		buf_release(&p->ctl);
	p->delivered = 0;

	for (;;) {
		if (!p->in_payload) {
			while (p->hdr_len < p->hdr_need && i < n)
				p->hdr[p->hdr_len++] = s[i++];
			if (p->hdr_len < p->hdr_need)
				break;
			if (p->hdr_len == 2) {
				st = check_start(p);
				if (st != WS_MORE)
					goto out;
				if (p->hdr_need > 2)
					continue;
			}
			st = start_payload(p);
			if (st != WS_MORE)
				goto out;
		}
		size_t take = n - i;
		if (take > p->remaining)
			take = (size_t)p->remaining;
		st = take_payload(p, s + i, take);
		if (st != WS_MORE)
			goto out;
		i += take;
		if (p->remaining > 0)
			break;
		st = finish_frame(p, msg);
		if (st != WS_MORE)
			goto out;
	}
	st = WS_MORE;
out:
	*used = i;
	return st;
}

size_t ws_frame_header(uint8_t out[WS_FRAME_HEADER_MAX], enum ws_opcode op, bool fin, uint64_t len,
                       const uint8_t *mask)
{
	size_t k = 0;
	uint8_t m = mask ? 0x80 : 0;

	out[k++] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
	if (len < 126) {
		out[k++] = (uint8_t)(m | len);
	} else if (len <= 0xffff) {
		out[k++] = m | 126;
		out[k++] = (uint8_t)(len >> 8);
		out[k++] = (uint8_t)len;
	} else {
		out[k++] = m | 127;
		for (int shift = 56; shift >= 0; shift -= 8)
			out[k++] = (uint8_t)(len >> shift);
	}
	if (mask) {
		memcpy(out + k, mask, 4);
		k += 4;
	}
	return k;
}

enum err ws_frame_append(struct buf *b, enum ws_opcode op, bool fin, const void *payload, size_t n,
                         const uint8_t *mask)
{
	uint8_t hdr[WS_FRAME_HEADER_MAX];
	size_t old = b->len;
	enum err e;

	if (is_control(op) && (n > WS_CONTROL_MAX || !fin))
		return ERR_BAD_REQUEST;
	size_t hn = ws_frame_header(hdr, op, fin, n, mask);
	if (n > b->cap || hn > b->cap - n)
		return ERR_TOO_LARGE;
	e = buf_append(b, hdr, hn);
	if (e)
		goto out;
	e = buf_append(b, payload, n);
	if (e) {
		b->len = old;
		goto out;
	}
	if (mask)
		for (size_t i = 0; i < n; i++)
			b->p[old + hn + i] ^= (char)mask[i & 3];
out:
	return e;
}

enum err ws_close_append(struct buf *b, uint16_t code, const char *reason, const uint8_t *mask)
{
	char body[WS_CONTROL_MAX];
	size_t rn = reason ? strlen(reason) : 0;

	if (rn > WS_CONTROL_MAX - 2) {
		rn = WS_CONTROL_MAX - 2;
		/* Never cut a UTF-8 sequence: back up to the start of a character. */
		while (rn > 0 && ((unsigned char)reason[rn] & 0xc0) == 0x80)
			rn--;
	}
	body[0] = (char)(code >> 8);
	body[1] = (char)code;
	if (rn)
		memcpy(body + 2, reason, rn);
	return ws_frame_append(b, WS_OP_CLOSE, true, body, 2 + rn, mask);
}

bool ws_close_code_valid(unsigned code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

/* ---- SHA-1 (FIPS 180-4), for Sec-WebSocket-Accept only ---- */

struct sha1 {
	uint32_t h[5];
	uint64_t total;
	uint8_t block[64];
	size_t used;
};

static uint32_t rol(uint32_t x, int k)
{
	return x << k | x >> (32 - k);
}

static void sha1_block(struct sha1 *c, const uint8_t *p)
{
	uint32_t w[80];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
		       (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	uint32_t a = c->h[0], b = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20) {
			f = (b & cc) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ cc ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & cc) | (b & d) | (cc & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ cc ^ d;
			k = 0xca62c1d6;
		}
		uint32_t t = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = cc;
		cc = rol(b, 30);
		b = a;
		a = t;
	}
	c->h[0] += a;
	c->h[1] += b;
	c->h[2] += cc;
	c->h[3] += d;
	c->h[4] += e;
}

static void sha1_update(struct sha1 *c, const uint8_t *p, size_t n)
{
	c->total += n;
	while (n > 0) {
		size_t take = 64 - c->used;
		if (take > n)
			take = n;
		memcpy(c->block + c->used, p, take);
		c->used += take;
		p += take;
		n -= take;
		if (c->used == 64) {
			sha1_block(c, c->block);
			c->used = 0;
		}
	}
}

void ws_sha1(const void *data, size_t n, uint8_t out[20])
{
	struct sha1 c = {.h = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0}};
	uint8_t pad[72] = {0x80};
	uint64_t bits;

	sha1_update(&c, data, n);
	bits = c.total * 8;
	size_t padn = (c.used < 56 ? 56 : 120) - c.used;
	for (int i = 0; i < 8; i++)
		pad[padn + (size_t)i] = (uint8_t)(bits >> (56 - 8 * i));
	sha1_update(&c, pad, padn + 8);
	for (int i = 0; i < 5; i++) {
		out[4 * i] = (uint8_t)(c.h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(c.h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(c.h[i] >> 8);
		out[4 * i + 3] = (uint8_t)c.h[i];
	}
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

enum err ws_accept_key(const char *client_key, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	char cat[24 + sizeof(guid)];
	uint8_t d[21] = {0}; /* 20 digest bytes and a zero pad byte for the last group */

	out[0] = 0;
	if (!client_key || strlen(client_key) != 24 || client_key[22] != '=' ||
	    client_key[23] != '=')
		return ERR_BAD_REQUEST;
	for (int i = 0; i < 22; i++)
		if (!client_key[i] || !strchr(b64, client_key[i]))
			return ERR_BAD_REQUEST;
	/* 16 bytes fill 21 1/3 sextets: the last character carries 2 bits and 4 zero bits. */
	if ((strchr(b64, client_key[21]) - b64) & 0x0f)
		return ERR_BAD_REQUEST;
	memcpy(cat, client_key, 24);
	memcpy(cat + 24, guid, sizeof(guid));
	ws_sha1(cat, 24 + sizeof(guid) - 1, d);
	size_t k = 0;
	for (size_t i = 0; i < 21; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
		out[k++] = b64[v >> 18 & 63];
		out[k++] = b64[v >> 12 & 63];
		out[k++] = b64[v >> 6 & 63];
		out[k++] = b64[v & 63];
	}
	/* 20 bytes = 6 full groups + 2 bytes: the 7th group ends in one pad character. */
	out[27] = '=';
	out[28] = 0;
	return ERR_OK;
}
