/* sensitive.c: sealed columns, blind indexes, masks and validators (see sensitive.h). */
#include "sensitive/sensitive.h"

#include <ctype.h>
#include <time.h>

#include "core/buf.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"

enum kind { KIND_TEXT, KIND_ID_NUMBER, KIND_PHONE, KIND_BANK };

static bool ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);
	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static enum kind kind_of(const char *column)
{
	const char *dot = strrchr(column, '.');
	const char *field = dot ? dot + 1 : column;
	size_t n = strlen(field);
	if (ends_with(field, n, "id_number"))
		return KIND_ID_NUMBER;
	if (ends_with(field, n, "phone") || ends_with(field, n, "mobile"))
		return KIND_PHONE;
	if (ends_with(field, n, "bank_account") || ends_with(field, n, "bank_card"))
		return KIND_BANK;
	return KIND_TEXT;
}

#define IDEOGRAPHIC_SPACE     "\xe3\x80\x80" /* U+3000 */
#define IDEOGRAPHIC_SPACE_LEN 3

/* Trim ASCII white space and U+3000 at both ends. */
static struct str trim_wide(struct str s)
{
	for (;;) {
		s = str_trim(s);
		if (s.n >= IDEOGRAPHIC_SPACE_LEN &&
		    !memcmp(s.p, IDEOGRAPHIC_SPACE, IDEOGRAPHIC_SPACE_LEN)) {
			s.p += IDEOGRAPHIC_SPACE_LEN;
			s.n -= IDEOGRAPHIC_SPACE_LEN;
		} else if (s.n >= IDEOGRAPHIC_SPACE_LEN &&
		           !memcmp(s.p + s.n - IDEOGRAPHIC_SPACE_LEN, IDEOGRAPHIC_SPACE,
		                   IDEOGRAPHIC_SPACE_LEN)) {
			s.n -= IDEOGRAPHIC_SPACE_LEN;
		} else {
			return s;
		}
	}
}

const char *sensitive_normalize(const char *column, const char *plain, struct arena *a)
{
	if (!column || !plain)
		return NULL;
	size_t n = strlen(plain);
	if (!utf8_valid(plain, n))
		return NULL;
	enum kind k = kind_of(column);
	if (k == KIND_TEXT) {
		struct str t = trim_wide((struct str){plain, n});
		return arena_strndup(a, t.p, t.n);
	}
	char *out = arena_alloc(a, n + 1);
	if (!out)
		return NULL;
	size_t j = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)plain[i];
		if (isspace(c) || (c == '-' && k != KIND_ID_NUMBER))
			continue;
		out[j++] = k == KIND_ID_NUMBER ? (char)toupper(c) : (char)c;
	}
	out[j] = '\0';
	if (k == KIND_PHONE && j > 3 && !memcmp(out, "+86", 3))
		memmove(out, out + 3, j - 2); /* with the NUL */
	return out;
}

static char *hex_of(struct arena *a, const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *out = arena_alloc(a, 2 * n + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
	return out;
}

/* hex(HMAC-SM3 under "bidx:<column>") of an already normalised value. */
static const char *bidx_of(struct keyring *kr, const char *column, const char *norm,
                           struct arena *a)
{
	unsigned char mac[32];
	const char *purpose = arena_printf(a, "bidx:%s", column);
	if (!purpose)
		return NULL;
	keyring_mac(kr, purpose, norm, strlen(norm), mac);
	return hex_of(a, mac, sizeof(mac));
}

enum err sensitive_seal(struct keyring *kr, const char *column, const char *plain, struct arena *a,
                        const void **blob, size_t *blob_n, const char **bidx_hex)
{
	struct buf out;
	enum err e;
	buf_init(&out, SENSITIVE_PLAIN_MAX + KEYRING_BLOB_OVERHEAD + 1);
	if (!column || !*column || !plain) {
		e = ERR_INVALID;
		goto out;
	}
	if (!utf8_valid(plain, strlen(plain))) {
		e = ERR_BAD_UTF8;
		goto out;
	}
	const char *norm = sensitive_normalize(column, plain, a);
	if (!norm) {
		e = ERR_NOMEM;
		goto out;
	}
	size_t n = strlen(norm);
	if (n == 0 || n > SENSITIVE_PLAIN_MAX) {
		e = ERR_INVALID;
		goto out;
	}
	if ((e = keyring_encrypt(kr, column, norm, n, &out)))
		goto out;
	const void *b = arena_memdup(a, out.p, out.len);
	const char *x = bidx_of(kr, column, norm, a);
	if (!b || !x) {
		e = ERR_NOMEM;
		goto out;
	}
	*blob = b;
	*blob_n = out.len;
	*bidx_hex = x;
out:
	buf_release(&out);
	return e;
}

enum err sensitive_open(struct keyring *kr, const char *column, const void *blob, size_t n,
                        struct arena *a, const char **plain)
{
	struct buf out;
	enum err e;
	buf_init(&out, SENSITIVE_PLAIN_MAX + 1);
	if (!column || !blob) {
		e = ERR_INVALID;
		goto out;
	}
	e = keyring_decrypt(kr, column, blob, n, &out);
	if (e == ERR_TOO_LARGE) /* longer than seal ever writes */
		e = ERR_INTEGRITY;
	if (e)
		goto out;
	/* seal never stores a NUL; one inside means the blob did not come from seal. */
	if (memchr(out.p ? out.p : "", '\0', out.len)) {
		e = ERR_INTEGRITY;
		goto out;
	}
	char *p = arena_strndup(a, out.p ? out.p : "", out.len);
	if (!p) {
		e = ERR_NOMEM;
		goto out;
	}
	*plain = p;
out:
	if (out.p)
		crypto_wipe(out.p, out.len);
	buf_release(&out);
	return e;
}

const char *sensitive_bidx(struct keyring *kr, const char *column, const char *plain,
                           struct arena *a)
{
	const char *norm = sensitive_normalize(column, plain, a);
	if (!norm || !*norm)
		return NULL;
	return bidx_of(kr, column, norm, a);
}

/* ---- masking ---- */

/* Byte offsets of the code points of valid UTF-8 s[0..n): off[i] is where character i
 * starts, off[count] == n. */
static size_t *char_offsets(struct arena *a, const char *s, size_t n, size_t *count)
{
	size_t *off = arena_alloc(a, (n + 1) * sizeof(size_t));
	if (!off)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			off[k++] = i;
	off[k] = n;
	*count = k;
	return off;
}

/* The first head characters, then one '*' per hidden character (or the fixed prefix when
 * given), then the last tail characters. A value of fewer than min_len characters, or one
 * that would hide nothing, keeps only its last third. */
static const char *mask_keep(struct arena *a, const char *s, size_t n, size_t head, size_t tail,
                             size_t min_len, const char *fixed)
{
	size_t cnt;
	size_t *off = char_offsets(a, s, n, &cnt);
	if (!off)
		return NULL;
	if (cnt == 0)
		return arena_strdup(a, "");
	if (head + tail >= cnt || cnt < min_len) {
		head = 0;
		tail = cnt / 3;
	}
	size_t hidden = cnt - head - tail;
	size_t stars = fixed ? strlen(fixed) : hidden;
	size_t tail_bytes = n - off[cnt - tail];
	char *out = arena_alloc(a, off[head] + stars + tail_bytes + 1);
	if (!out)
		return NULL;
	memcpy(out, s, off[head]);
	memset(out + off[head], '*', stars);
	memcpy(out + off[head] + stars, s + off[cnt - tail], tail_bytes);
	out[off[head] + stars + tail_bytes] = '\0';
	return out;
}

static const char *mask_name(struct arena *a, const char *s, size_t n)
{
	size_t cnt;
	size_t *off = char_offsets(a, s, n, &cnt);
	if (!off)
		return NULL;
	if (cnt <= 1)
		return arena_strdup(a, cnt ? "*" : "");
	if (cnt == 2)
		return arena_printf(a, "%.*s*", (int)off[1], s);
	return mask_keep(a, s, n, 1, 1, 0, NULL);
}

const char *sensitive_mask(const char *kind, const char *plain, struct arena *a)
{
	if (!plain)
		return NULL;
	struct str t = str_trim(str_from(plain));
	if (!kind || !utf8_valid(t.p, t.n))
		return arena_strdup(a, "****");
	if (t.n == 0)
		return arena_strdup(a, "");
	if (!strcmp(kind, "phone"))
		return mask_keep(a, t.p, t.n, 3, 4, 0, NULL);
	if (!strcmp(kind, "id_number"))
		return mask_keep(a, t.p, t.n, 4, 4, 0, NULL);
	if (!strcmp(kind, "name"))
		return mask_name(a, t.p, t.n);
	/* Card numbers have 16 to 19 digits; below 8, four of them would say too much. */
	if (!strcmp(kind, "bank"))
		return mask_keep(a, t.p, t.n, 0, 4, 8, "****");
	return arena_strdup(a, "****");
}

/* ---- validators ---- */

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int num(const char *s, size_t n)
{
	int v = 0;
	for (size_t i = 0; i < n; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

/* y-m-d is a real date between 1900-01-01 and today in China Standard Time. */
static bool birth_date_valid(int y, int m, int d)
{
	if (y < 1900 || !time_date_valid(y, m, d))
		return false;
	struct tm now;
	time_t t = (time_t)(time_now_ms() / 1000) + 8 * 3600;
	gmtime_r(&t, &now);
	long today = (long)(now.tm_year + 1900) * 10000 + (now.tm_mon + 1) * 100 + now.tm_mday;
	return (long)y * 10000 + m * 100 + d <= today;
}

bool sensitive_id_number_valid(const char *s)
{
	if (!s || strlen(s) != 18 || !all_digits(s, 17) || s[0] < '1' || s[0] > '8')
		return false;
	if (!birth_date_valid(num(s + 6, 4), num(s + 10, 2), num(s + 12, 2)))
		return false;
	return toupper((unsigned char)s[17]) == str_mod11_2(s);
}

bool sensitive_phone_valid(const char *s)
{
	return s && strlen(s) == 11 && all_digits(s, 11) && s[0] == '1' && s[1] >= '3';
}
