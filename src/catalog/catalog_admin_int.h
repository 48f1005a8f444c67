/* catalog_admin_int.h: what the storage, versioning, search and HTTP files of src/catalog/
 * share (catalog.c, catalog_store.c, catalog_search.c, catalog_http.c). The checking and
 * form engine keeps its own catalog_int.h; nothing outside src/catalog/ includes either
 * (the unit tests and the bench do, to reach the index).
 *
 * Memory: the published catalog a request reads lives in a struct catalog_snapshot, an
 * immutable, reference-counted object; the state swaps in a new one after every change
 * (readers holding the old one finish with it undisturbed). Store functions return rows in
 * the caller's arena; nothing in the snapshot points into an arena of a request. */
#ifndef SHOULI_CATALOG_ADMIN_INT_H
#define SHOULI_CATALOG_ADMIN_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "catalog/catalog.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "http/http.h"
#include "server/server.h"

struct db_conn;
struct db_rows;

#define CATALOG_DB_WAIT_MS   5000
#define CATALOG_CODE_MAX     50   /* basic codes are 12, sub-item codes 15, impl codes 31 */
#define CATALOG_REASON_MAX   200  /* characters of a code change's reason */
#define CATALOG_GEN_CHECK_MS 2000 /* how often a node looks for another node's publication */

/* ---- dates ---------------------------------------------------------------------------- */

/* Today in China Standard Time, "YYYY-MM-DD". */
void catalog_today(char out[11]);
/* Is s "YYYY-MM-DD" and a real date? */
bool catalog_date_ok(const char *s);

/* ---- who did it (audit and created_by columns) ----------------------------------------- */

struct catalog_actor {
	int64_t id;       /* users.id; 0 for the CLI and the demo start */
	const char *name; /* username, "cli" or "system" */
	const char *client_ip;
	const char *trace_id;
};

/* The actor of a request (r->who must be set). */
struct catalog_actor catalog_actor_of(const struct req *r);

/* ---- item documents ------------------------------------------------------------------- */

/* SM3 (64 hex + NUL) of the canonical text of doc: compact, keys sorted, so key order and
 * formatting never count as a change. ERR_NOMEM. */
enum err catalog_doc_hash(const json_t *doc, char out[65]);
/* Rewrite the codes of an item document for a code change: basic_code, the basic-code tail
 * of impl_code and the prefix of every sub-item code. doc is modified in place. */
void catalog_doc_recode(json_t *doc, const char *old_code, const char *new_code);
/* Is s a basic code (12 of [0-9A-Z])? A sub-item code (basic code "-" 2 digits)? */
bool catalog_basic_code_ok(const char *s);
bool catalog_sub_code_ok(const char *s);

/* Structural diff of two documents: [{"op":"add|remove|change","path","from","to"}].
 * Arrays whose elements are all objects with an "id" (or all with a "code") are matched by
 * that key, others by index; paths are "sub_items[0].form.fields[2].label" (the index in
 * `to`, or in `from` for a removal). Returns a new array (NULL when out of memory). */
json_t *catalog_doc_diff(const json_t *from, const json_t *to);

/* ---- the in-memory search index and snapshot (catalog_search.c) ------------------------ */

/* One current item of the snapshot. Strings live in the snapshot's arena; doc is owned by
 * the snapshot (read it, never modify it; json_incref is fine: jansson's counts are
 * atomic). */
struct catalog_entry {
	const char *code; /* basic code */
	const char *name;
	const char *short_name;
	const char *department;
	const char *department_name;
	int dept_order; /* position in departments.json */
	int nsub;
	int case_type;
	const char *vwin_mode;
	bool citywide;
	json_t *doc; /* the current published version */
	int64_t item_id, version_id;
	int version;
	const char *effective_from;
	int64_t published_at;
	/* normalised search keys (lower-case ASCII) */
	const char *k_code, *k_impl, *k_name, *k_short, *k_pinyin, *k_pinyin_ns, *k_initials;
	const char *k_subcodes; /* "\n"-joined, lower-case */
	const char *k_subnames; /* "\n"-joined */
	size_t name_chars;
};

struct catalog_hit {
	const struct catalog_entry *e;
	int score;
};

/* Search ranks, best first. */
enum {
	CATALOG_MATCH_SUBSTRING = 1,
	CATALOG_MATCH_PINYIN = 2,
	CATALOG_MATCH_NAME = 3,
	CATALOG_MATCH_SHORT = 4,
	CATALOG_MATCH_INITIALS = 5,
	CATALOG_MATCH_CODE = 6,
};

/* An immutable picture of the published catalog as of one day. */
struct catalog_snapshot {
	atomic_int refs;
	struct arena mem;            /* strings and arrays below */
	char today[11];              /* the day "current" was computed for */
	int64_t generation;          /* catalog_meta.generation it was built from */
	json_t *departments;         /* departments.json document (may be NULL: empty catalog) */
	json_t *code_tables;         /* object id → table */
	json_t *dept_list;           /* departments array (borrowed from departments) */
	struct catalog_ref *ref;     /* NULL when there are no departments yet */
	struct catalog_entry *items; /* sorted by code */
	size_t nitems, nsub;
	const char **redirect_old; /* applied code changes: old code → items index */
	size_t *redirect_item;
	size_t nredirects;
};

/* Build a snapshot from the current documents. items: array of objects
 * {"doc","item_id","version_id","version","effective_from","published_at"} (borrowed; the
 * snapshot keeps references to the docs). redirects: array of [old_code, current_code].
 * departments/code_tables may be NULL (empty catalog). The result has one reference. */
enum err catalog_snapshot_build(const json_t *departments, const json_t *code_tables,
                                const json_t *items, const json_t *redirects, const char *today,
                                int64_t generation, struct catalog_snapshot **out);
void catalog_snapshot_ref(struct catalog_snapshot *s);
void catalog_snapshot_unref(struct catalog_snapshot *s);

/* The entry of a basic code (exact, current codes only); NULL when absent. */
const struct catalog_entry *catalog_snapshot_find(const struct catalog_snapshot *s,
                                                  const char *code);
/* The same through applied code changes: *redirected_from is set to code when it was an old
 * code, NULL otherwise. */
const struct catalog_entry *catalog_snapshot_resolve(const struct catalog_snapshot *s,
                                                     const char *code,
                                                     const char **redirected_from);
/* A sub-item of an entry by code (borrowed), NULL when absent. */
const json_t *catalog_entry_sub_item(const struct catalog_entry *e, const char *code);

/* Normalise a query: trim, full-width ASCII → half-width, ideographic space → space,
 * upper-case ASCII → lower-case. Writes at most outsz-1 bytes (cut at a character
 * boundary). */
void catalog_search_normalize(const char *q, char *out, size_t outsz);

/* Search the snapshot. q is normalised here; empty q lists every item by department order
 * and code. dept (NULL = all) filters by department id. At most max hits go to out, best
 * first; *total gets the number of matches. Never fails. */
size_t catalog_search(const struct catalog_snapshot *s, const char *q, const char *dept,
                      struct catalog_hit *out, size_t max, size_t *total);

/* ---- the module state (catalog.c) ----------------------------------------------------- */

struct catalog_state {
	struct server *srv;
	pthread_mutex_t mu; /* guards cur and last_gen_check_ms */
	struct catalog_snapshot *cur;
	int64_t last_gen_check_ms;
	pthread_mutex_t rebuild_mu; /* one rebuild at a time */
	char *dir;                  /* default catalog directory (heap) */
};

/* The module's init (create srv->catalog, apply due code changes, import the catalog
 * directory on a new demo database, build the first snapshot) and release. */
enum err catalog_module_init(struct server *srv);
void catalog_module_release(struct server *srv);

/* The current snapshot with a reference the caller drops with catalog_snapshot_unref.
 * Rebuilds first when the day changed (applying due code changes) or another node
 * published. ERR_DB..., ERR_NOMEM. */
enum err catalog_snapshot_get(struct server *srv, struct catalog_snapshot **out);
/* Rebuild now (after a change on this node). */
enum err catalog_rebuild(struct server *srv);

/* ---- admin operations (catalog.c); each runs its own transaction and audits ----------- */

/* Problems as the API returns them: [{"file"?, "path","message","warning"}]. */
json_t *catalog_problems_json(const struct catalog_problems *pr, bool with_file);

struct catalog_import_result {
	int created; /* new items + new versions */
	int unchanged;
	int code_changes;
};

/* Store a loaded set (all or nothing). source names it for the history ("cli:DIR",
 * "demo:DIR", "api"). Problems found only against the database (a code change naming an
 * unknown item) go to pr and return ERR_INVALID. */
enum err catalog_import_set(struct server *srv, const struct catalog_set *set,
                            const struct catalog_actor *who, const char *source,
                            struct catalog_import_result *res, struct catalog_problems *pr);
/* Check a bundle {"departments","code_tables","items","code_changes"} the way a directory is
 * checked (it is written to a scratch directory under the data dir and loaded with
 * catalog_load_dir, so problems name the file each document would be), then store it. */
enum err catalog_import_bundle(struct server *srv, const json_t *bundle,
                               const struct catalog_actor *who, struct catalog_import_result *res,
                               struct catalog_problems *pr);
/* The published catalog (latest published version of every item) as a bundle. */
enum err catalog_export_bundle(struct server *srv, struct arena *a, json_t **out);
/* Write a bundle as a catalog directory (departments.json, code_tables/, items/<dept>/,
 * code_changes.json): 2-space indent, keys in document order, one trailing newline. */
enum err catalog_write_dir(const json_t *bundle, const char *dir, char *msg, size_t msgsz);

/* Drafts, publication, code changes: ei gets field and zh-CN message on failure. */
struct catalog_draft {
	json_t *doc; /* owned by the arena */
	int64_t rev;
	int version;
	int base_version;
	json_t *problems; /* owned by the arena */
};

enum err catalog_draft_open(struct server *srv, struct arena *a, const char *code, bool create,
                            const struct catalog_actor *who, struct catalog_draft *out,
                            bool *created, struct errinfo *ei);
enum err catalog_draft_save(struct server *srv, struct arena *a, const char *code, json_t *doc,
                            int64_t rev, const struct catalog_actor *who, struct catalog_draft *out,
                            struct errinfo *ei);
enum err catalog_draft_discard(struct server *srv, struct arena *a, const char *code,
                               const struct catalog_actor *who, struct errinfo *ei);
/* A new item: its first version is a draft. */
enum err catalog_item_create(struct server *srv, struct arena *a, json_t *doc,
                             const struct catalog_actor *who, struct catalog_draft *out,
                             struct errinfo *ei);
/* Publish the draft with rev; effective_from NULL = today. On ERR_INVALID *problems (arena)
 * lists why. */
enum err catalog_publish(struct server *srv, struct arena *a, const char *code, int64_t rev,
                         const char *effective_from, const struct catalog_actor *who, int *version,
                         json_t **problems, struct errinfo *ei);
/* Schedule a code change (applied at once when effective <= today). *change_out (arena)
 * is the stored row as JSON. */
enum err catalog_code_change_add(struct server *srv, struct arena *a, const char *old_code,
                                 const char *new_code, const char *effective, const char *reason,
                                 const struct catalog_actor *who, json_t **change_out,
                                 struct errinfo *ei);
/* A catalog_code_changes row (CHANGE_COLS of catalog_store.c) as the API shows it. */
json_t *catalog_change_json(const struct db_rows *rs, int r);
/* Apply every scheduled change whose date has come, and retire superseded versions. */
enum err catalog_maintain(struct server *srv, const char *today, bool *changed);
/* The same inside the caller's write transaction (no retiring, no generation bump). */
enum err catalog_apply_due(struct db_conn *c, struct arena *a, const char *today,
                           const struct catalog_actor *who, bool *changed);
/* Append an audit entry inside the caller's write transaction. */
enum err catalog_audit(struct db_conn *c, struct arena *a, const struct catalog_actor *who,
                       const char *action, const char *target, const char *detail);

/* ---- SQL (catalog_store.c) --------------------------------------------------------------
 * All take an acquired connection; writers expect the caller's write transaction. */

struct catalog_item_row {
	int64_t id;
	const char *code;
	const char *department;
};

struct catalog_version_row {
	int64_t id, item_id;
	int version;
	const char *status;
	const char *name;
	const char *doc;
	const char *hash;
	const char *effective_from;
	int base_version;
	int64_t rev;
	int64_t created_at, published_at, updated_at;
	const char *created_by, *published_by;
};

enum err catalog_store_meta_generation(struct db_conn *c, struct arena *a, int64_t *gen);
enum err catalog_store_meta_bump(struct db_conn *c, struct arena *a);
enum err catalog_store_count_items(struct db_conn *c, struct arena *a, int64_t *n);

/* Current documents: rows (kind, name, doc) of the newest row of each departments/code
 * table name. */
enum err catalog_store_docs(struct db_conn *c, struct arena *a, struct db_rows **rows);
/* Parse those rows (no connection needed): the departments document to *departments (a new
 * reference, NULL when there is none), each code table into tables under its name.
 * ERR_INTEGRITY when a stored document does not parse; *departments is then NULL. */
enum err catalog_store_docs_parse(const struct db_rows *rows, json_t **departments, json_t *tables);
/* Store doc under (kind, name) when its hash differs from the current one. */
enum err catalog_store_doc_put(struct db_conn *c, struct arena *a, const char *kind,
                               const char *name, const char *doc, const char *hash,
                               int64_t import_id, int64_t now, bool *changed);
enum err catalog_store_import_add(struct db_conn *c, struct arena *a, const char *source,
                                  const struct catalog_actor *who, int64_t now, int64_t *id);
enum err catalog_store_import_finish(struct db_conn *c, struct arena *a, int64_t id, int created,
                                     int unchanged);

/* Current versions for day today: rows (item_id, version_id, version, doc, effective_from,
 * published_at). Latest published of every item: the same with hash, for export and
 * import. */
enum err catalog_store_current(struct db_conn *c, struct arena *a, const char *today,
                               struct db_rows **rows);
enum err catalog_store_latest_all(struct db_conn *c, struct arena *a, struct db_rows **rows);
/* Applied code changes as (old_code, current code of the item). */
enum err catalog_store_redirects(struct db_conn *c, struct arena *a, struct db_rows **rows);

/* The item whose current code is code; ERR_NOT_FOUND. */
enum err catalog_store_item(struct db_conn *c, struct arena *a, const char *code,
                            struct catalog_item_row *out);
/* The same, also through applied code changes; *redirected (may be NULL) is set. */
enum err catalog_store_item_resolve(struct db_conn *c, struct arena *a, const char *code,
                                    struct catalog_item_row *out, bool *redirected);
enum err catalog_store_item_insert(struct db_conn *c, struct arena *a, const char *code,
                                   const char *department, int64_t now, int64_t *id);
enum err catalog_store_item_update(struct db_conn *c, struct arena *a, int64_t id, const char *code,
                                   const char *department, int64_t now);
/* Is code an old code of some code change (scheduled or applied) or a pending new one? */
enum err catalog_store_code_reserved(struct db_conn *c, struct arena *a, const char *code,
                                     bool *reserved);

/* Versions: which = "latest" (highest published), "draft", or NULL with version n. */
enum err catalog_store_version(struct db_conn *c, struct arena *a, int64_t item_id,
                               const char *which, int n, struct catalog_version_row *out);
enum err catalog_store_versions(struct db_conn *c, struct arena *a, int64_t item_id,
                                struct db_rows **rows);
/* Insert a version (status "draft" or "published"); published ones get their sub-items
 * flattened. When a draft exists and a published version takes its number, the draft moves
 * up one. */
enum err catalog_store_version_insert(struct db_conn *c, struct arena *a, int64_t item_id,
                                      const char *status, const json_t *doc, const char *doc_text,
                                      const char *hash, const char *effective_from,
                                      int base_version, const struct catalog_actor *who,
                                      int64_t now, int64_t *id, int *version);
enum err catalog_store_max_version(struct db_conn *c, struct arena *a, int64_t item_id,
                                   bool with_draft, int *n);
/* Save a draft when its rev is still rev; *saved false when it was not. */
enum err catalog_store_draft_update(struct db_conn *c, struct arena *a, int64_t id, int64_t rev,
                                    const char *name, const char *doc_text, const char *hash,
                                    int64_t now, bool *saved);
enum err catalog_store_draft_delete(struct db_conn *c, struct arena *a, int64_t id);
/* Turn the draft into published version n. */
enum err catalog_store_draft_publish(struct db_conn *c, struct arena *a, int64_t id,
                                     const json_t *doc, int n, const char *effective_from,
                                     const struct catalog_actor *who, int64_t now);
/* Mark published versions superseded by a later one in force on today as retired. */
enum err catalog_store_retire(struct db_conn *c, struct arena *a, const char *today);
/* Does a sub-item code belong to another item's current or latest version? */
enum err catalog_store_sub_code_owner(struct db_conn *c, struct arena *a, const char *code,
                                      int64_t *item_id);
/* Admin list: rows (id, code, department, name, latest, draft_rev, effective_from,
 * updated_at). */
enum err catalog_store_admin_items(struct db_conn *c, struct arena *a, const char *dept,
                                   struct db_rows **rows);

/* Code changes. */
enum err catalog_store_changes(struct db_conn *c, struct arena *a, struct db_rows **rows);
enum err catalog_store_change(struct db_conn *c, struct arena *a, int64_t id,
                              struct db_rows **rows);
enum err catalog_store_change_insert(struct db_conn *c, struct arena *a, int64_t item_id,
                                     const char *old_code, const char *new_code,
                                     const char *effective, const char *reason,
                                     const struct catalog_actor *who, int64_t now, int64_t *id);
enum err catalog_store_changes_due(struct db_conn *c, struct arena *a, const char *today,
                                   struct db_rows **rows);
/* Mark a scheduled change applied; *claimed false when it was not scheduled any more
 * (another node applied it first). Unclaim puts it back to scheduled. */
enum err catalog_store_change_claim(struct db_conn *c, struct arena *a, int64_t id, int64_t now,
                                    bool *claimed);
enum err catalog_store_change_unclaim(struct db_conn *c, struct arena *a, int64_t id);
/* Take the item's row lock for the rest of the transaction (PostgreSQL; SQLite's write
 * transaction is exclusive already), so that read-check-write sequences on one item never
 * interleave. */
enum err catalog_store_item_lock(struct db_conn *c, struct arena *a, int64_t id);
/* Open pins of the item made under old_code: (case_ref, sub_item_code, version, opened_at). */
enum err catalog_store_pins_affected(struct db_conn *c, struct arena *a, int64_t item_id,
                                     const char *old_code, struct db_rows **rows);

#endif
