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

/* ---- the checker (catalog_check.c, catalog_check_form.c, catalog_check_item.c,
 * catalog_load.c) ----
 *
 * The checker reports every problem it can find with the file, a JSON path and a zh-CN
 * sentence. All of its work goes through one check context, struct ck: it carries the
 * reference data, the problem list, the file, the JSON path of the node being checked
 * (ck_push_key / ck_push_idx, restored by ck_pop) and, while a sub-item is checked, the
 * table of its fields (collected first, so expressions and layouts can be checked against
 * them whatever their order). Names are ck_* so they stay apart from the form engine's. */

#define CK_MAX_FIELDS 1000 /* fields (group row fields included) of one sub-item */

/* A field of the sub-item being checked. */
struct ck_field {
	const char *id;    /* full id; a group's row field is "<group id>.<row field id>" */
	const char *sub;   /* the id inside its group (== id for top-level fields) */
	const char *label; /* may be NULL in a broken document */
	const json_t *def;
	enum catalog_ftype type;
	int group; /* index of the group field in the table, -1 at top level */
};

struct ck {
	const struct catalog_ref *ref; /* NULL while the reference data itself is checked */
	struct catalog_problems *pr;
	const char *file;
	struct arena a; /* scratch for one item: parsed expressions, names */
	char path[1024];
	size_t plen;
	/* the item being checked */
	const char *basic_code;
	const json_t *dept;
	const char *dept_id;
	/* the sub-item being checked */
	struct ck_field *flds; /* CK_MAX_FIELDS slots in a */
	int nflds;
	const json_t *signers; /* role → true */
	const char *appform_kind;
	/* templates referenced by fixed forms, filled for catalog_check_dir: template path →
	 * {"page": the highest page a position uses, "file", "path": where that position is}
	 * ("page" 0 when the form records no position). The directory check compares it with
	 * the page count of the PDF. */
	json_t *templates;
};

/* Append key (".key") or an index ("[i]") to c->path; return the old length for ck_pop. */
size_t ck_push_key(struct ck *c, const char *key);
size_t ck_push_idx(struct ck *c, size_t i);
void ck_pop(struct ck *c, size_t old);
/* Add a problem at c->path (ck_report) or at c->path + "." + key (ck_report_at). */
void ck_report(struct ck *c, bool warning, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ck_report_at(struct ck *c, const char *key, bool warning, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define CK_ERR(c, ...)  ck_report((c), false, __VA_ARGS__)
#define CK_WARN(c, ...) ck_report((c), true, __VA_ARGS__)

/* Closed key tables: every key an object may have, its JSON type, whether it is required. */
enum kt { K_STR, K_NESTR, K_INT, K_NUM, K_BOOL, K_OBJ, K_ARR, K_ANY };

#define KREQ 1u

struct kspec {
	const char *name;
	enum kt type;
	unsigned flags;
};

/* Check obj against spec (ended by a NULL name): unknown keys (with a "did you mean" for a
 * near miss), wrong types, empty K_NESTR strings and missing required keys. Returns false
 * (after reporting) when obj is not an object; what is its zh-CN name for that message. */
bool ck_check_keys(struct ck *c, const json_t *obj, const struct kspec *spec, const char *what);
/* obj[key] when it is a string, else NULL (ck_check_keys reports wrong types). */
const char *ck_str(const json_t *obj, const char *key);

/* A code of table close to s, for a "did you mean" (NULL when none is): the nearest code
 * by edit distance (fewer than 3 edits), else the only code sharing s's first
 * underscore-separated word ("marriage_cert" → "marriage"). Borrowed from the table. */
const char *ck_near_code(const struct ck *c, const char *table, const char *s);

/* Does s consist only of characters of set? */
bool ck_all_chars(const char *s, const char *set);
/* ^[a-z][a-z0-9_]{1,31}$: department ids, connector and bundle names. */
bool ck_is_ident(const char *s);
/* A dotted flow name such as "shebao.submit". */
bool ck_is_flow_name(const char *s);
/* Is s (may be NULL) one of the NULL-terminated set? */
bool ck_one_of(const char *s, const char *const *set);

/* Signer roles and retention periods, NULL-terminated (catalog_check_form.c). */
extern const char *const ck_roles[];
extern const char *const ck_retentions[];

/* The parts of a sub-item (catalog_check_form.c), each at c->path. ck_collect_fields fills
 * c->flds (pass 1) before any of the others runs. */
void ck_collect_fields(struct ck *c, const json_t *fields, int group);
void ck_check_fields(struct ck *c, const json_t *fields, int group);
/* rules of a form (prereview false) or prereview rules; ids collects the rule ids. */
void ck_check_rules(struct ck *c, const json_t *rules, bool prereview, json_t *ids);
void ck_check_materials(struct ck *c, const json_t *list);
/* signers collects the roles of the plan (role → true). */
void ck_check_signatures(struct ck *c, const json_t *sp, json_t *signers);
/* code is the sub-item code (for the template naming convention), may be NULL. */
void ck_check_appform(struct ck *c, const json_t *af, const char *code);

/* One item document with everything in it (catalog_check_item.c). */
void ck_check_item(struct ck *c, const json_t *item);

#endif
