/* str.h: borrowed string slices and checked number parsing.
 *
 * struct str never owns its bytes and is not NUL-terminated in general. */
#ifndef SHOULI_STR_H
#define SHOULI_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct str {
	const char *p;
	size_t n;
};

#define STR_LIT(s) ((struct str){(s), sizeof(s) - 1})
#define STR_NULL   ((struct str){NULL, 0})

static inline struct str str_from(const char *s)
{
	return (struct str){s, s ? strlen(s) : 0};
}

static inline bool str_eq(struct str a, struct str b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline bool str_eq_c(struct str a, const char *b)
{
	return str_eq(a, str_from(b));
}

bool str_starts_with(struct str s, const char *prefix);
/* ASCII case-insensitive equality (HTTP header names, tokens). */
bool str_case_eq(struct str a, const char *b);
/* Split s at the first c: *head gets the part before, the return value the part after (or
 * STR_NULL with head = s when c is absent). */
struct str str_cut(struct str s, char c, struct str *head);
struct str str_trim(struct str s);

/* Checked parsers: the whole of s must be a number in [min, max]. Return false otherwise
 * (empty, sign where not allowed, trailing junk, overflow). */
bool str_to_i64(struct str s, int64_t min, int64_t max, int64_t *out);
bool cstr_to_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Is p[0..n) valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF)? */
bool utf8_valid(const char *p, size_t n);
/* Number of code points in valid UTF-8. */
size_t utf8_len(const char *p, size_t n);

/* Constant-time comparison of two equal-length byte strings; false when lengths differ. */
/* The ISO 7064 MOD 11-2 check character ('0'–'9' or 'X') of the 17 digits at s (公民身份号码
 * and the identity documents of the same layout, GB 11643); 0 when one of them is not a
 * digit. */
char str_mod11_2(const char *s);

bool mem_eq_ct(const void *a, size_t an, const void *b, size_t bn);

#endif
