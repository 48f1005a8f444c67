/* gateway_tpl.c: the template language of connectors and flows (docs/gateway.md).
 *
 * Deliberately tiny: a placeholder names a path into the context; nothing is evaluated.
 * That keeps connector and flow documents safe to edit by operators: a template can only
 * copy data that the caller already handed in. */
#include <stdio.h>

#include "core/id.h"
#include "core/timeutil.h"
#include "gateway/gateway_int.h"

static struct str trim(const char *p, size_t n)
{
	return str_trim((struct str){p, n});
}

static bool seg_index(const char *p, size_t n, size_t *out)
{
	int64_t v;
	if (n == 0 || n > 9)
		return false;
	if (!str_to_i64((struct str){p, n}, 0, 999999999, &v))
		return false;
	*out = (size_t)v;
	return true;
}

const json_t *gw_tpl_lookup(const json_t *ctx, const char *path, size_t n)
{
	const json_t *v = ctx;
	const char *p = path, *end = path + n;
	if (n == 0)
		return NULL;
	while (v && p <= end) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t len = dot ? (size_t)(dot - p) : (size_t)(end - p);
		size_t idx;
		if (len == 0)
			return NULL;
		if (json_is_object(v))
			v = json_object_getn(v, p, len);
		else if (json_is_array(v) && seg_index(p, len, &idx))
			v = json_array_get(v, idx);
		else
			return NULL;
		if (!dot)
			return v;
		p = dot + 1;
	}
	return NULL;
}

/* The built-in names, when the context does not define them itself. out is a new
 * reference, NULL when path is not built in. */
static json_t *builtin(const json_t *ctx, struct str path)
{
	if (str_eq_c(path, "now")) {
		char iso[32];
		return json_string(time_iso(time_now_ms(), iso));
	}
	if (str_eq_c(path, "uuid")) {
		unsigned char r[16];
		char s[37];
		if (id_random(r, sizeof(r)))
			return json_null();
		r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
		r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
		snprintf(s, sizeof(s),
		         "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		         r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11],
		         r[12], r[13], r[14], r[15]);
		return json_string(s);
	}
	if (str_eq_c(path, "trace_id")) {
		const char *t = json_get_str(ctx, "trace_id");
		return json_string(t ? t : "");
	}
	return NULL;
}

/* The value of a placeholder as a new reference (json null when missing). */
static json_t *resolve(const json_t *ctx, struct str path)
{
	const json_t *v = gw_tpl_lookup(ctx, path.p, path.n);
	if (v)
		return json_deep_copy(v);
	json_t *b = builtin(ctx, path);
	return b ? b : json_null();
}

static enum err put_escaped(struct buf *out, const char *s, size_t n, enum gw_escape esc)
{
	static const char hexd[] = "0123456789ABCDEF";
	enum err e = ERR_OK;
	if (esc == GW_ESC_NONE)
		return buf_append(out, s, n);
	for (size_t i = 0; i < n && !e; i++) {
		unsigned char c = (unsigned char)s[i];
		if (esc == GW_ESC_XML) {
			switch (c) {
			case '&': e = buf_puts(out, "&amp;"); break;
			case '<': e = buf_puts(out, "&lt;"); break;
			case '>': e = buf_puts(out, "&gt;"); break;
			case '"': e = buf_puts(out, "&quot;"); break;
			case '\'': e = buf_puts(out, "&apos;"); break;
			default: e = buf_putc(out, (char)c);
			}
		} else if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~') {
			e = buf_putc(out, (char)c);
		} else {
			char pct[3] = {'%', hexd[c >> 4], hexd[c & 15]};
			e = buf_append(out, pct, 3);
		}
	}
	return e;
}

static enum err put_value(struct buf *out, const json_t *v, enum gw_escape esc)
{
	char num[40];
	switch (json_typeof(v)) {
	case JSON_STRING: return put_escaped(out, json_string_value(v), json_string_length(v), esc);
	case JSON_INTEGER:
		snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
		return put_escaped(out, num, strlen(num), esc);
	case JSON_TRUE: return put_escaped(out, "true", 4, esc);
	case JSON_FALSE: return put_escaped(out, "false", 5, esc);
	case JSON_NULL: return ERR_OK;
	default: {
		char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!s)
			return ERR_NOMEM;
		enum err e = put_escaped(out, s, strlen(s), esc);
		free(s);
		return e;
	}
	}
}

enum err gw_tpl_text(const char *tpl, const json_t *ctx, enum gw_escape esc, struct buf *out)
{
	enum err e = ERR_OK;
	const char *s = tpl;
	while (!e && *s) {
		const char *open = strstr(s, "{{");
		const char *close = open ? strstr(open + 2, "}}") : NULL;
		if (!close) {
			e = buf_puts(out, s);
			break;
		}
		if ((e = buf_append(out, s, (size_t)(open - s))))
			break;
		json_t *v = resolve(ctx, trim(open + 2, (size_t)(close - open - 2)));
		if (!v)
			return ERR_NOMEM;
		e = put_value(out, v, esc);
		json_decref(v);
		s = close + 2;
	}
	return e;
}

/* Is s exactly one placeholder ("{{path}}", white space allowed inside the braces)? */
static bool whole_placeholder(const char *s, size_t n, struct str *path)
{
	if (n < 4 || memcmp(s, "{{", 2) != 0 || memcmp(s + n - 2, "}}", 2) != 0)
		return false;
	struct str inner = trim(s + 2, n - 4);
	if (memmem(inner.p, inner.n, "{{", 2) || memmem(inner.p, inner.n, "}}", 2))
		return false;
	*path = inner;
	return true;
}

json_t *gateway_tpl_render(const json_t *tpl, const json_t *ctx)
{
	if (!tpl)
		return json_null();
	switch (json_typeof(tpl)) {
	case JSON_STRING: {
		const char *s = json_string_value(tpl);
		size_t n = json_string_length(tpl);
		struct str path;
		if (whole_placeholder(s, n, &path))
			return resolve(ctx, path);
		if (!strstr(s, "{{"))
			return json_stringn(s, n);
		struct buf b;
		buf_init(&b, 4u << 20);
		json_t *r = NULL;
		if (gw_tpl_text(s, ctx, GW_ESC_NONE, &b) == ERR_OK)
			r = json_stringn(b.p ? b.p : "", b.len);
		buf_release(&b);
		return r;
	}
	case JSON_OBJECT: {
		json_t *o = json_object();
		const char *k;
		json_t *v;
		if (!o)
			return NULL;
		json_object_foreach ((json_t *)tpl, k, v) {
			json_t *r = gateway_tpl_render(v, ctx);
			if (!r || json_object_set_new(o, k, r)) {
				json_decref(o);
				return NULL;
			}
		}
		return o;
	}
	case JSON_ARRAY: {
		json_t *arr = json_array();
		size_t i;
		json_t *v;
		if (!arr)
			return NULL;
		json_array_foreach (tpl, i, v) {
			json_t *r = gateway_tpl_render(v, ctx);
			if (!r || json_array_append_new(arr, r)) {
				json_decref(arr);
				return NULL;
			}
		}
		return arr;
	}
	default: return json_deep_copy(tpl);
	}
}
