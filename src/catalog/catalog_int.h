/* catalog_int.h: declarations shared by the files of src/catalog/ only. */
#ifndef SHOULI_CATALOG_INT_H
#define SHOULI_CATALOG_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog.h"

/* ---- dates (catalog_expr.c) ---- */

/* Is s exactly "YYYY-MM-DD", a real Gregorian date in years 1000..9999? */
bool catalog_date_parse(const char *s, int *y, int *m, int *d);
/* Days since 1970-01-01 of a (valid) date. */
int64_t catalog_days_from_civil(int y, int m, int d);
/* Is y-m-d a real date (y 1000..9999)? */
bool catalog_date_valid(int y, int m, int d);
/* The birth date encoded in an identity number (18-character layouts: 居民身份证, 港澳台
 * 居住证, 2023 PR card; 15-character 2017 PR card, whose two-digit year is read as 20YY when
 * that is not after today's year, else 19YY). false when none can be read. */
bool catalog_id_birth(const char *number, const char *today, int *y, int *m, int *d);

/* ---- expressions (catalog_expr.c) ---- */

/* The source text the expression was parsed from (borrowed, lives in the parse arena). */
const char *catalog_expr_source(const struct catalog_expr *e);
/* catalog_expr_refs, telling the "g.f" name made from sum(g, "f") (sum_field true) from a
 * reference written in the source. */
void catalog_expr_refs_ex(const struct catalog_expr *e,
                          void (*fn)(void *ctx, const char *ref, bool sum_field), void *ctx);

/* Every comparison of a field reference with string literals: `ref == "x"`, `"x" != ref`,
 * `ref in ["x", "y"]`: fn(ctx, ref as written, literal) once per literal. (For the checker:
 * a literal compared with an enum field must be a code of its table.) */
void catalog_expr_compares(const struct catalog_expr *e,
                           void (*fn)(void *ctx, const char *ref, const char *literal), void *ctx);

/* ---- field types (catalog_check.c) ---- */

enum catalog_ftype {
	CF_TEXT,
	CF_TEXTAREA,
	CF_NUMBER,
	CF_MONEY,
	CF_DATE,
	CF_ENUM,
	CF_BOOLEAN,
	CF_ID_DOCUMENT,
	CF_PHONE,
	CF_ADDRESS,
	CF_BANK_ACCOUNT,
	CF_GROUP,
	CF_SIGNATURE,
	CF_ATTACHMENT,
	CF__UNKNOWN,
};

/* The type named s (CF__UNKNOWN for anything else, NULL included). */
enum catalog_ftype catalog_ftype_parse(const char *s);
/* zh-CN name of a type for messages ("日期"). */
const char *catalog_ftype_label(enum catalog_ftype t);
/* The member names of a compound value (id_document, address, bank_account), NULL-
 * terminated; NULL for other types. */
const char *const *catalog_ftype_members(enum catalog_ftype t);

/* Is s a field id: [a-z][a-z0-9_]* segments joined by single dots, at most 128 bytes? */
bool catalog_field_id_valid(const char *s);

/* Is s a valid POSIX extended regular expression (what `pattern` and matches() use)?
 * On false *why gets a static zh-CN reason. */
bool catalog_regex_valid(const char *s, const char **why);

#endif
