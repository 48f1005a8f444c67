/* id.h: random identifiers and W3C trace context. */
#ifndef SHOULI_ID_H
#define SHOULI_ID_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

/* Fill p with n bytes from the kernel's CSPRNG. */
enum err id_random(void *p, size_t n);
/* n random bytes as 2n lower-case hex chars plus NUL into out (size >= 2n+1). */
enum err id_random_hex(char *out, size_t nbytes);

struct trace_ctx {
	char trace_id[33];  /* 32 hex */
	char span_id[17];   /* 16 hex: this process's span */
	char parent_id[17]; /* caller's span from traceparent, "" when none */
};

/* Parse a W3C traceparent header ("00-<32 hex>-<16 hex>-<2 hex>") into t, with a new span
 * id; on absent or malformed input start a new trace. Never fails. */
void trace_start(struct trace_ctx *t, const char *traceparent);
/* Render the traceparent to send downstream (out >= 56 bytes). */
void trace_header(const struct trace_ctx *t, char out[56]);

#endif
