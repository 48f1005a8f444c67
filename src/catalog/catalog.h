/* catalog.h: the service item catalog (事项目录) — the one public header of src/catalog/.
 *
 * Items are data (docs/catalog.md is the file format). This module checks catalog files,
 * loads them, evaluates the small expression language of the forms and validates form data
 * against a sub-item's schema. Everything here is pure C over jansson values: no database,
 * no network. (The storage, versions, API and search part adds its own section below.)
 *
 * Ownership in one sentence: functions that return json_t * hand the caller a reference
 * (json_decref it) unless the comment says "borrowed"; strings in a struct catalog_problems
 * live in its arena. */
#ifndef SHOULI_CATALOG_H
#define SHOULI_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/arena.h"
#include "core/err.h"

/* ---------------------------------------------------------------------------------------
 * Checking: problems found in catalog documents
 * ------------------------------------------------------------------------------------- */

/* One problem: file (relative to the catalog dir, e.g. "items/gongan/310004015000.json"),
 * a JSON path inside it ("sub_items[1].form.fields[3].code_table", "" for the whole file)
 * and a zh-CN message. Warnings do not fail a check. */
struct catalog_problem {
	const char *file, *path, *message;
	bool warning;
};

/* A growing list of problems. v is heap memory owned by the list; the strings are copied
 * into a (the caller's arena, which must outlive the list). errors counts the non-warnings. */
struct catalog_problems {
	struct catalog_problem *v;
	size_t n, alloc;
	size_t errors;
	struct arena *a;
};

void catalog_problems_init(struct catalog_problems *pr, struct arena *a);
/* Free v (the strings stay in the arena). The list is empty and reusable afterwards. */
void catalog_problems_release(struct catalog_problems *pr);
/* Append one problem; file and path are copied, the message is printf-formatted. An error
 * that cannot be stored (out of memory) is still counted, so a check never passes by
 * accident. */
void catalog_problems_add(struct catalog_problems *pr, const char *file, const char *path,
                          bool warning, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Print one line per problem: "file: path: message", warnings prefixed "warning: ". */
void catalog_problems_print(const struct catalog_problems *pr, FILE *f);

/* ---------------------------------------------------------------------------------------
 * Reference data: departments, code tables and identity document types
 * ------------------------------------------------------------------------------------- */

/* What one item is checked against. Immutable once made; safe to share between threads. */
struct catalog_ref;

/* Read <dir>/departments.json and <dir>/code_tables/ *.json, checking both (problems go to
 * pr). ERR_OK when they could be read and hold no errors; ERR_INVALID (with *out still set
 * when the files parsed at all, so items can be checked against what is there) or ERR_IO
 * (dir unreadable; *out NULL). Destroy *out with catalog_ref_destroy. */
enum err catalog_ref_load_dir(const char *dir, struct catalog_ref **out,
                              struct catalog_problems *pr);
/* Make a ref from already-loaded documents: departments is the departments.json object
 * ({"departments":[…]}), code_tables an object table id → table document. Both are
 * borrowed for the call (the ref keeps its own references). No checking; ERR_INVALID when
 * the shapes are wrong, ERR_NOMEM. */
enum err catalog_ref_from_json(const json_t *departments, const json_t *code_tables,
                               struct catalog_ref **out);
void catalog_ref_destroy(struct catalog_ref *ref);
/* Borrowed lookups (NULL when absent); valid as long as the ref. */
const json_t *catalog_ref_code_table(const struct catalog_ref *ref, const char *id);
const json_t *catalog_ref_department(const struct catalog_ref *ref, const char *id);
/* The entry {code, name, …} of code in table (borrowed), NULL when either is unknown. */
const json_t *catalog_ref_code_entry(const struct catalog_ref *ref, const char *table,
                                     const char *code);
/* The code of table that s names: s itself when it is a code, else the code whose name or
 * one of whose `aliases` (other systems' wording for the same entry) equals s. Borrowed;
 * NULL when nothing matches. */
const char *catalog_ref_code_of(const struct catalog_ref *ref, const char *table, const char *s);

/* ---------------------------------------------------------------------------------------
 * Checking documents
 * ------------------------------------------------------------------------------------- */

/* Check one item document against every rule of docs/catalog.md: types, required and
 * unknown keys, code formats, impl_code composition with the department's credit code,
 * enum values inside their tables, expression syntax, references to fields that exist
 * (within the sub-item, with group scoping), material / signature / prereview /
 * application form consistency, case_type 2 ⇒ promised_days, sub-item code prefix =
 * basic_code, …. file names the document in problems. Appends to pr; never fails on bad
 * input (any JSON value may be passed). */
void catalog_item_check(const struct catalog_ref *ref, const json_t *item, const char *file,
                        struct catalog_problems *pr);

/* Check a whole catalog directory: departments.json, code_tables/, every
 * items/<dept>/<basic_code>.json (file name = basic_code, folder = department),
 * uniqueness across items (basic codes, impl codes, sub-item codes), code_changes.json,
 * templates of fixed forms (a missing template is a warning: the generator makes them).
 * ERR_OK when pr->errors == 0 (warnings allowed), ERR_INVALID otherwise, ERR_IO when the
 * directory cannot be read at all. */
enum err catalog_check_dir(const char *dir, struct catalog_problems *pr);

/* What a directory check saw (for the operator's summary line). */
struct catalog_check_counts {
	size_t departments, code_tables, items, sub_items;
};
/* catalog_check_dir that also fills *counts (zeroed first). */
enum err catalog_check_dir_counts(const char *dir, struct catalog_problems *pr,
                                  struct catalog_check_counts *counts);

/* A loaded catalog: every document, checked. All members are owned by the set. */
struct catalog_set {
	struct catalog_ref *ref;
	json_t *departments;  /* departments.json */
	json_t *code_tables;  /* object: table id → table document */
	json_t *items;        /* array of item documents, sorted by basic_code */
	json_t *code_changes; /* code_changes.json ({"changes":[]} when the file is absent) */
};

/* catalog_check_dir + keep the documents. On ERR_OK *out is the set; on any error *out is
 * NULL and pr says why. */
enum err catalog_load_dir(const char *dir, struct catalog_set **out, struct catalog_problems *pr);
void catalog_set_destroy(struct catalog_set *s);

/* ---------------------------------------------------------------------------------------
 * Expressions (docs/catalog.md "Expressions"): parsed once, evaluated many times
 * ------------------------------------------------------------------------------------- */

#define CATALOG_EXPR_MAX_LEN   2000   /* bytes of source */
#define CATALOG_EXPR_MAX_DEPTH 64     /* nesting of sub-expressions */
#define CATALOG_EXPR_MAX_STEPS 100000 /* evaluation steps per catalog_expr_eval */

struct catalog_expr;

/* Parse src. On success *out lives in a (with everything it needs; regex cleanups are
 * registered on a). On failure returns ERR_INVALID and *errmsg is a zh-CN sentence (from a)
 * naming the problem and the character position, e.g. "第 5 个字符处：缺少右括号“)”". */
enum err catalog_expr_parse(const char *src, struct arena *a, struct catalog_expr **out,
                            const char **errmsg);
/* Field references the expression uses: fn(ctx, name) for each dotted name as written
 * ("applicant.id_number", "row.age", "rows"); for sum(g, "f") both "g" and "g.f". */
void catalog_expr_refs(const struct catalog_expr *e, void (*fn)(void *ctx, const char *ref),
                       void *ctx);
/* Does the expression use row / rows (a per-row rule of a group)? */
bool catalog_expr_uses_row(const struct catalog_expr *e);

/* Evaluate against form data (an object keyed by the dotted field ids as nested objects:
 * {"applicant":{"id_number":…}}), row (the current group row, or NULL) and today
 * ("YYYY-MM-DD"). Returns a new reference (json_decref it); NULL for a run-time type error
 * or too many steps (treat as false). */
json_t *catalog_expr_eval(const struct catalog_expr *e, const json_t *data, const json_t *row,
                          const char *today);
/* The same with rows (the group's rows array, for `rows`) given too. */
json_t *catalog_expr_eval_rows(const struct catalog_expr *e, const json_t *data, const json_t *row,
                               const json_t *rows, const char *today);
/* false for NULL, null, false, 0, "", [] and {}; true otherwise. */
bool catalog_expr_truthy(const json_t *v);

/* ---------------------------------------------------------------------------------------
 * Forms: validate data against one sub-item
 * ------------------------------------------------------------------------------------- */

/* Field paths in the result are field ids ("applicant.phone"); inside a group row they are
 * "<group>[<row index from 0>].<field>" ("members[1].name"). All json_t members are owned by
 * the result. */
struct catalog_form_result {
	bool valid;         /* no violations */
	bool blocked;       /* a prereview rule of severity block failed */
	json_t *violations; /* [{"field","message","rule"}]: every problem, zh-CN */
	json_t *prereview;  /* [{"id","severity","message","field"}]: failed prereview rules */
	json_t *visible;    /* ["field path"] visible now */
	json_t *required;   /* ["field path"] required now */
	json_t *computed;   /* {"field path": value} */
};

/* Evaluate sub_item (a checked sub-item document) on data with today "YYYY-MM-DD". Every
 * violation is listed, not only the first; hostile data (deep, huge, wrong types, not an
 * object, NULL) yields violations, never a crash. Order of work: computed fields (submitted
 * values of computed fields are ignored), visibility (hidden fields are dropped: not
 * required, not validated, empty to later expressions), computed again, field checks, form
 * rules, then 预审. A rule is skipped when its `when` is false, when its field is hidden, or
 * when a field it reads already has a violation; a rule of a group (its field is the group
 * or a row field) that reads `row` runs once per row. ERR_INVALID when sub_item has no
 * form.fields array or today is not a date (out is still initialised, empty); ERR_NOMEM.
 * Release out with catalog_form_result_release in every case. */
enum err catalog_form_evaluate(const struct catalog_ref *ref, const json_t *sub_item,
                               const json_t *data, const char *today,
                               struct catalog_form_result *out);
void catalog_form_result_release(struct catalog_form_result *r);

/* A plausible, valid-looking data document for sub_item (for previews, demos and tests):
 * every non-computed, non-signature field gets a value its type accepts (the default or
 * the first code of an enum table, an identity document the sub-item accepts, a text that
 * meets the length and, where one of a few common shapes fits, the pattern; a group gets
 * max(min_rows, 1) rows). Form rules are not solved, so a sample can still fail a rule such
 * as an age limit. NULL when out of memory or sub_item has no form. Caller owns the result. */
json_t *catalog_form_sample(const struct catalog_ref *ref, const json_t *sub_item,
                            const char *today);

/* Is v "not filled in" (docs/catalog.md "Empty values"): missing (NULL), null, a blank
 * string, [] or an object whose members are all empty? */
bool catalog_value_empty(const json_t *v);

/* Small validators the forms use, for other modules (the card reader path, imports). */
/* Is number a valid document number of id_doc_type code type ("111", "PR2023", "PR2017",
 * "HMT", "SSC", "SHRP", "MEDQR")? today bounds the birth date. The checks are ident_check's
 * (src/ident/ident.h). On false, *why (may be NULL) gets a zh-CN reason held in a per-thread
 * buffer: valid until the calling thread's next call. */
bool catalog_id_number_valid(const char *type, const char *number, const char *today,
                             const char **why);
/* Is s a 统一社会信用代码 with a correct check character? *expect (may be NULL) gets the
 * check character the first 17 characters call for ('?' when they are malformed). */
bool catalog_credit_code_valid(const char *s, char *expect);

/* ---------------------------------------------------------------------------------------
 * Storage, versions, code changes, pins, search and the HTTP API (catalog.c, catalog_io.c,
 * catalog_store.c, catalog_search.c, catalog_http.c; tables of migration 0006)
 *
 * The database keeps every item as versions: at most one draft and immutable published
 * versions, each with the date it takes effect. The "current" version of an item (what a
 * new case uses) is its highest published version whose effective_from <= today (China
 * Standard Time). A code change (old → new, effective date) rewrites the item's code when
 * its date comes (publishing a version with the new codes); old codes stay resolvable.
 * ------------------------------------------------------------------------------------- */

struct server;
struct db_conn;
struct module;

/* The module listed in src/server/modules.c: its init applies due code changes, imports the
 * catalog directory on `serve --demo` when the catalog tables are empty, and serves
 * /api/v1/catalog/... and /api/v1/admin/catalog/... (see catalog_http.c). */
extern const struct module catalog_module;

/* Daily maintenance (the scheduler's job catalog.daily, at 00:00 China Standard Time; the
 * snapshot also does it lazily on the first request of a day): apply every scheduled code
 * change whose date has come by today ("YYYY-MM-DD") and retire superseded versions, in one
 * write transaction. *changed = something was applied. ERR_DB..., ERR_NOMEM. */
enum err catalog_maintain(struct server *srv, const char *today, bool *changed);

/* Pin the current version of sub-item sub_item_code to a case, inside the caller's write
 * transaction on c (the cases module calls it when it opens a case). An old code is
 * resolved through applied code changes and the pin records the current code. org_id is
 * the case's organisation (0 = none). *version_id_out (may be NULL) gets
 * catalog_versions.id. Errors: ERR_NOT_FOUND (no published sub-item with that code in force
 * today), ERR_EXISTS (the case already pins this sub-item), ERR_DB.... */
enum err catalog_pin(struct server *srv, struct db_conn *c, struct arena *a, const char *case_ref,
                     const char *sub_item_code, int64_t org_id, int64_t *version_id_out);
/* Close every open pin of case_ref (the case ended); ERR_OK when there was none. */
enum err catalog_unpin(struct server *srv, struct db_conn *c, struct arena *a,
                       const char *case_ref);
/* The code to report for a basic or sub-item code recorded earlier: mapped through applied
 * code changes (the 办件库 report of a case opened before a change uses the new code).
 * *mapped (from a) is code itself when no change applies. */
enum err catalog_code_map(struct db_conn *c, struct arena *a, const char *code,
                          const char **mapped);

/* `shouli admin catalog import|export [--catalog DIR]` (dir NULL = the catalog/ directory
 * next to the binary). Import checks the directory first and refuses it with the problem
 * list (printed to out) when it has errors; export writes the latest published version of
 * every item, the departments, code tables and code changes in the file layout of
 * docs/catalog.md. Return the process exit code (0 ok, 1 refused or failed). */
int catalog_admin_import(struct server *srv, const char *dir, FILE *out);
int catalog_admin_export(struct server *srv, const char *dir, FILE *out);

/* ---------------------------------------------------------------------------------------
 * Pinned versions for the cases module (catalog_pinned.c)
 *
 * A case evaluates its form against the version it pinned when it was opened, however the
 * item changed since. Published versions never change, so their parsed documents are
 * cached by version id; the reference data (departments, code tables) is the current one.
 * ------------------------------------------------------------------------------------- */

/* A bounded, thread-safe cache of parsed item documents keyed by catalog_versions.id. The
 * owner (the cases module) creates one per server; cap is the most documents kept (least
 * recently used ones go first; 0 = 256). */
struct catalog_doc_cache;
enum err catalog_doc_cache_create(size_t cap, struct catalog_doc_cache **out);
void catalog_doc_cache_destroy(struct catalog_doc_cache *dc);
/* Counters for benchmarks and metrics. */
void catalog_doc_cache_stats(struct catalog_doc_cache *dc, uint64_t *hits, uint64_t *misses);

/* The item document of version version_id (published or retired: drafts change and are
 * refused as ERR_NOT_FOUND), from dc when cached, else read on c and cached. *doc is a new
 * reference the caller drops (read it, never modify it: it is shared). dc may be NULL (no
 * caching). ERR_NOT_FOUND, ERR_INTEGRITY (the stored document does not parse), ERR_DB...,
 * ERR_NOMEM. */
enum err catalog_version_doc(struct catalog_doc_cache *dc, struct db_conn *c, struct arena *a,
                             int64_t version_id, json_t **doc);

/* The sub-item of an item document by code (borrowed from item); NULL when absent. */
const json_t *catalog_item_sub_item(const json_t *item, const char *sub_item_code);

/* The current reference data held: ref stays valid until catalog_ref_hold_release. */
struct catalog_ref_hold {
	const struct catalog_ref *ref;
	void *snap; /* the snapshot whose reference is held */
};
/* ERR_UNAVAILABLE when the catalog has no departments yet (nothing was imported) or the
 * catalog module is not running; ERR_DB..., ERR_NOMEM. */
enum err catalog_ref_hold_get(struct server *srv, struct catalog_ref_hold *out);
/* Drop the hold (a zeroed or released hold is fine). */
void catalog_ref_hold_release(struct catalog_ref_hold *h);

#endif
