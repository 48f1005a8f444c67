#include "core/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t cap)
{
	b->p = NULL;
	b->len = 0;
	b->alloc = 0;
	b->cap = cap;
}

void buf_release(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = 0;
	b->alloc = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->p)
		b->p[0] = 0;
}

static enum err grow(struct buf *b, size_t add)
{
	if (add > b->cap || b->len > b->cap - add)
		return ERR_TOO_LARGE;
	size_t need = b->len + add + 1;
	if (need <= b->alloc)
		return ERR_OK;
	size_t n = b->alloc ? b->alloc : 64;
	while (n < need)
		n = n > SIZE_MAX / 2 ? need : n * 2;
	if (n > b->cap + 1)
		n = b->cap + 1;
	char *p = realloc(b->p, n);
	if (!p)
		return ERR_NOMEM;
	b->p = p;
	b->alloc = n;
	return ERR_OK;
}

enum err buf_append(struct buf *b, const void *p, size_t n)
{
	enum err e = grow(b, n);
	if (e)
		return e;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
	return ERR_OK;
}

enum err buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

enum err buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

enum err buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return ERR_INTERNAL;
	enum err e = grow(b, (size_t)n);
	if (e)
		return e;
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return ERR_OK;
}

enum err buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	enum err e = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return e;
}

enum err buf_json_escape(struct buf *b, const char *s, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	enum err e = ERR_OK;
	size_t start = 0;
	for (size_t i = 0; i < n && !e; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		e = buf_append(b, s + start, i - start);
		start = i + 1;
		if (e)
			break;
		switch (c) {
		case '"': e = buf_puts(b, "\\\""); break;
		case '\\': e = buf_puts(b, "\\\\"); break;
		case '\n': e = buf_puts(b, "\\n"); break;
		case '\r': e = buf_puts(b, "\\r"); break;
		case '\t': e = buf_puts(b, "\\t"); break;
		default: {
			char u[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
			e = buf_append(b, u, 6);
		}
		}
	}
	if (!e)
		e = buf_append(b, s + start, n - start);
	return e;
}

char *buf_detach(struct buf *b, size_t *len)
{
	if (!b->p && grow(b, 0) != ERR_OK)
		return NULL;
	if (!b->p) {
		b->p = malloc(1);
		if (!b->p)
			return NULL;
		b->p[0] = 0;
	}
	char *p = b->p;
	if (len)
		*len = b->len;
	b->p = NULL;
	b->len = 0;
	b->alloc = 0;
	return p;
}

enum err buf_hex(struct buf *b, const void *p, size_t n)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *s = p;
	enum err e = grow(b, n * 2);
	if (e)
		return e;
	for (size_t i = 0; i < n; i++) {
		b->p[b->len++] = hexd[s[i] >> 4];
		b->p[b->len++] = hexd[s[i] & 15];
	}
	b->p[b->len] = 0;
	return ERR_OK;
}

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

int hex_decode(const char *hex, size_t hexlen, unsigned char *out, size_t outlen)
{
	if (hexlen != outlen * 2)
		return 0;
	for (size_t i = 0; i < outlen; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return 0;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 1;
}

/* ---- base64 ---- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

enum err buf_base64(struct buf *b, const void *p, size_t n)
{
	const unsigned char *s = p;
	enum err e = ERR_OK;
	for (size_t i = 0; i < n && !e; i += 3) {
		unsigned v = (unsigned)s[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		char q[4] = {b64_alphabet[(v >> 18) & 63], b64_alphabet[(v >> 12) & 63],
		             i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=',
		             i + 2 < n ? b64_alphabet[v & 63] : '='};
		e = buf_append(b, q, 4);
	}
	return e;
}

static int b64_value(char c, unsigned flags)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || (c == '-' && (flags & BASE64_URLSAFE)))
		return 62;
	if (c == '/' || (c == '_' && (flags & BASE64_URLSAFE)))
		return 63;
	return -1;
}

static bool b64_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

enum err base64_decode(const char *s, size_t n, unsigned flags, struct buf *out)
{
	size_t start = out->len, digits = 0, pads = 0;
	unsigned acc = 0;
	int bits = 0;
	enum err e = ERR_OK;
	for (size_t i = 0; i < n && !e; i++) {
		char c = s[i];
		if ((flags & BASE64_SPACE) && b64_space(c))
			continue;
		if (c == '=') {
			pads++;
			continue;
		}
		int v = b64_value(c, flags);
		if (v < 0 || pads) { /* a character after padding */
			e = ERR_INVALID;
			break;
		}
		digits++;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			e = buf_putc(out, (char)((acc >> bits) & 0xff));
		}
	}
	if (!e && (digits % 4 == 1 || pads > 2))
		e = ERR_INVALID;
	if (!e && (flags & BASE64_STRICT) &&
	    (digits == 0 || (digits + pads) % 4 != 0 || (pads && pads != 4 - digits % 4)))
		e = ERR_INVALID;
	if (e) {
		out->len = start;
		if (out->p)
			out->p[start] = '\0';
	}
	return e;
}
