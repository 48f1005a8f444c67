/* buf.h: a growable byte buffer with a hard cap (curl's dynbuf).
 *
 * The buffer owns its heap memory; buf_release frees it. The contents are always
 * NUL-terminated (the NUL is not counted in len), so b->p can be used as a C string when no
 * NUL was appended. Appending past the cap fails with ERR_TOO_LARGE and leaves the buffer
 * as it was. */
#ifndef SHOULI_BUF_H
#define SHOULI_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "core/err.h"
#include "core/str.h"

struct buf {
	char *p;
	size_t len;
	size_t alloc;
	size_t cap; /* most bytes the buffer may hold */
};

void buf_init(struct buf *b, size_t cap);
void buf_release(struct buf *b);
/* Empty the buffer but keep its memory. */
void buf_reset(struct buf *b);
enum err buf_append(struct buf *b, const void *p, size_t n);
enum err buf_puts(struct buf *b, const char *s);
enum err buf_putc(struct buf *b, char c);
enum err buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
enum err buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Append s as the inside of a JSON string (quotes not added), escaping as JSON requires. */
enum err buf_json_escape(struct buf *b, const char *s, size_t n);
/* Hand the memory to the caller (free() it); the buffer is left empty. Never NULL unless
 * out of memory. */
char *buf_detach(struct buf *b, size_t *len);

static inline struct str buf_str(const struct buf *b)
{
	return (struct str){b->p ? b->p : "", b->len};
}

/* Lower-case hex of p[0..n) appended to b. */
enum err buf_hex(struct buf *b, const void *p, size_t n);
/* Decode hex (either case) into out (outlen bytes exactly). Returns false on bad input. */
int hex_decode(const char *hex, size_t hexlen, unsigned char *out, size_t outlen);

/* Base64 (RFC 4648 §4, with '=' padding) of p[0..n) appended to b. */
enum err buf_base64(struct buf *b, const void *p, size_t n);

/* Flags of base64_decode. Without BASE64_STRICT the padding is optional (trailing '=' are
 * dropped; a length that leaves one lone character is still an error). */
#define BASE64_URLSAFE 1u /* also accept the URL alphabet: '-' for '+', '_' for '/' */
#define BASE64_SPACE   2u /* skip ASCII white space anywhere (MIME line breaks, pasted text) */
#define BASE64_STRICT  4u /* canonical only: length a multiple of 4, '=' only as 1–2 final pads */
/* Decode s[0..n) and append the bytes to out. ERR_INVALID on a character outside the
 * alphabet (or, with BASE64_STRICT, misplaced padding); out is unchanged on any error.
 * ERR_NOMEM. */
enum err base64_decode(const char *s, size_t n, unsigned flags, struct buf *out);

#endif
