#include "core/id.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "core/buf.h"

enum err id_random(void *p, size_t n)
{
	unsigned char *q = p;
	while (n) {
		ssize_t r = getrandom(q, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return ERR_INTERNAL;
		}
		q += r;
		n -= (size_t)r;
	}
	return ERR_OK;
}

enum err id_random_hex(char *out, size_t nbytes)
{
	static const char hexd[] = "0123456789abcdef";
	unsigned char raw[64];
	if (nbytes > sizeof(raw))
		return ERR_INTERNAL;
	enum err e = id_random(raw, nbytes);
	if (e)
		return e;
	for (size_t i = 0; i < nbytes; i++) {
		out[2 * i] = hexd[raw[i] >> 4];
		out[2 * i + 1] = hexd[raw[i] & 15];
	}
	out[2 * nbytes] = 0;
	return ERR_OK;
}

static bool all_zero(const char *s)
{
	for (; *s; s++)
		if (*s != '0')
			return false;
	return true;
}

static bool lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

void trace_start(struct trace_ctx *t, const char *tp)
{
	t->parent_id[0] = 0;
	if (tp && strlen(tp) >= 55 && tp[2] == '-' && tp[35] == '-' && tp[52] == '-' &&
	    lower_hex(tp, 2) && memcmp(tp, "ff", 2) != 0 && lower_hex(tp + 3, 32) &&
	    lower_hex(tp + 36, 16) && lower_hex(tp + 53, 2)) {
		memcpy(t->trace_id, tp + 3, 32);
		t->trace_id[32] = 0;
		memcpy(t->parent_id, tp + 36, 16);
		t->parent_id[16] = 0;
		if (all_zero(t->trace_id) || all_zero(t->parent_id)) {
			t->parent_id[0] = 0;
			id_random_hex(t->trace_id, 16);
		}
	} else {
		id_random_hex(t->trace_id, 16);
	}
	id_random_hex(t->span_id, 8);
}

void trace_header(const struct trace_ctx *t, char out[56])
{
	snprintf(out, 56, "00-%s-%s-01", t->trace_id, t->span_id);
}
