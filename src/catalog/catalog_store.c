/* catalog_store.c: the SQL of the catalog (migration 0006). One portable text per statement;
 * no statement here relies on a constraint failing (on PostgreSQL a failed statement dooms
 * the whole transaction), so uniqueness is checked before writing. */
#include "catalog/catalog_admin_int.h"

#include "core/timeutil.h"
#include "db/db.h"

static const char *text_or_null(const struct db_rows *rs, int r, int c)
{
	return db_is_null(rs, r, c) ? NULL : db_text(rs, r, c);
}

/* ---- meta and documents --------------------------------------------------------------- */

enum err catalog_store_meta_generation(struct db_conn *c, struct arena *a, int64_t *gen)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs, "SELECT generation FROM catalog_meta WHERE id = 1", "");
	if (!e)
		*gen = rs->nrows ? db_int(rs, 0, 0) : 0;
	return e;
}

enum err catalog_store_meta_bump(struct db_conn *c, struct arena *a)
{
	return db_exec(c, a, NULL,
	               "UPDATE catalog_meta SET generation = generation + 1, updated_at = ?"
	               " WHERE id = 1",
	               "i", time_now_ms());
}

enum err catalog_store_count_items(struct db_conn *c, struct arena *a, int64_t *n)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs, "SELECT count(*) FROM catalog_items", "");
	if (!e)
		*n = db_int(rs, 0, 0);
	return e;
}

enum err catalog_store_docs(struct db_conn *c, struct arena *a, struct db_rows **rows)
{
	return db_exec(c, a, rows,
	               "SELECT d.kind, d.name, d.doc FROM catalog_docs d"
	               " WHERE d.id = (SELECT max(x.id) FROM catalog_docs x"
	               " WHERE x.kind = d.kind AND x.name = d.name)"
	               " ORDER BY d.kind, d.name",
	               "");
}

enum err catalog_store_docs_parse(const struct db_rows *rows, json_t **departments, json_t *tables)
{
	json_t *dep = NULL;
	*departments = NULL;
	for (int r = 0; r < rows->nrows; r++) {
		json_t *d = json_loads(db_text(rows, r, 2), 0, NULL);
		if (!d) {
			json_decref(dep);
			return ERR_INTEGRITY;
		}
		if (!strcmp(db_text(rows, r, 0), "departments")) {
			json_decref(dep);
			dep = d;
		} else {
			json_object_set_new(tables, db_text(rows, r, 1), d);
		}
	}
	*departments = dep;
	return ERR_OK;
}

enum err catalog_store_doc_put(struct db_conn *c, struct arena *a, const char *kind,
                               const char *name, const char *doc, const char *hash,
                               int64_t import_id, int64_t now, bool *changed)
{
	struct db_rows *rs = NULL;
	*changed = false;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT hash FROM catalog_docs WHERE kind = ? AND name = ?"
	                     " ORDER BY id DESC LIMIT 1",
	                     "ss", kind, name);
	if (e || (rs->nrows && !strcmp(db_text(rs, 0, 0), hash)))
		return e;
	*changed = true;
	return db_exec(c, a, NULL,
	               "INSERT INTO catalog_docs (kind, name, doc, hash, import_id, created_at)"
	               " VALUES (?, ?, ?, ?, ?, ?)",
	               "ssssii", kind, name, doc, hash, import_id, now);
}

enum err catalog_store_import_add(struct db_conn *c, struct arena *a, const char *source,
                                  const struct catalog_actor *who, int64_t now, int64_t *id)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "INSERT INTO catalog_imports (source, created, unchanged, actor_id,"
	                     " actor_name, created_at) VALUES (?, 0, 0, ?, ?, ?) RETURNING id",
	                     "sisi", source, who->id, who->name, now);
	if (!e)
		*id = db_int(rs, 0, 0);
	return e;
}

enum err catalog_store_import_finish(struct db_conn *c, struct arena *a, int64_t id, int created,
                                     int unchanged)
{
	return db_exec(c, a, NULL,
	               "UPDATE catalog_imports SET created = ?, unchanged = ? WHERE id = ?", "iii",
	               (int64_t)created, (int64_t)unchanged, id);
}

/* ---- current versions ----------------------------------------------------------------- */

enum err catalog_store_current(struct db_conn *c, struct arena *a, const char *today,
                               struct db_rows **rows)
{
	return db_exec(c, a, rows,
	               "SELECT v.item_id, v.id, v.version, v.doc, v.effective_from, v.published_at"
	               " FROM catalog_versions v WHERE v.id = (SELECT x.id FROM catalog_versions x"
	               " WHERE x.item_id = v.item_id AND x.status = 'published'"
	               " AND x.effective_from <= ? ORDER BY x.version DESC LIMIT 1)",
	               "s", today);
}

enum err catalog_store_latest_all(struct db_conn *c, struct arena *a, struct db_rows **rows)
{
	return db_exec(c, a, rows,
	               "SELECT v.item_id, v.id, v.version, v.doc, v.effective_from, v.published_at,"
	               " v.hash, i.basic_code, i.department FROM catalog_versions v"
	               " JOIN catalog_items i ON i.id = v.item_id"
	               " WHERE v.id = (SELECT x.id FROM catalog_versions x"
	               " WHERE x.item_id = v.item_id AND x.status = 'published'"
	               " ORDER BY x.version DESC LIMIT 1)"
	               " ORDER BY i.department, i.basic_code",
	               "");
}

enum err catalog_store_redirects(struct db_conn *c, struct arena *a, struct db_rows **rows)
{
	return db_exec(c, a, rows,
	               "SELECT ch.old_code, i.basic_code FROM catalog_code_changes ch"
	               " JOIN catalog_items i ON i.id = ch.item_id WHERE ch.status = 'applied'"
	               " ORDER BY ch.id",
	               "");
}

/* ---- items ---------------------------------------------------------------------------- */

static void item_from(const struct db_rows *rs, struct catalog_item_row *out)
{
	out->id = db_int(rs, 0, 0);
	out->code = db_text(rs, 0, 1);
	out->department = db_text(rs, 0, 2);
}

enum err catalog_store_item(struct db_conn *c, struct arena *a, const char *code,
                            struct catalog_item_row *out)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT id, basic_code, department FROM catalog_items"
	                     " WHERE basic_code = ?",
	                     "s", code);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	item_from(rs, out);
	return ERR_OK;
}

enum err catalog_store_item_resolve(struct db_conn *c, struct arena *a, const char *code,
                                    struct catalog_item_row *out, bool *redirected)
{
	struct db_rows *rs = NULL;
	if (redirected)
		*redirected = false;
	enum err e = catalog_store_item(c, a, code, out);
	if (e != ERR_NOT_FOUND)
		return e;
	if ((e = db_exec(c, a, &rs,
	                 "SELECT i.id, i.basic_code, i.department FROM catalog_code_changes ch"
	                 " JOIN catalog_items i ON i.id = ch.item_id"
	                 " WHERE ch.old_code = ? AND ch.status = 'applied'"
	                 " ORDER BY ch.id DESC LIMIT 1",
	                 "s", code)))
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	item_from(rs, out);
	if (redirected)
		*redirected = true;
	return ERR_OK;
}

enum err catalog_store_item_insert(struct db_conn *c, struct arena *a, const char *code,
                                   const char *department, int64_t now, int64_t *id)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "INSERT INTO catalog_items (basic_code, department, created_at,"
	                     " updated_at) VALUES (?, ?, ?, ?) RETURNING id",
	                     "ssii", code, department, now, now);
	if (!e)
		*id = db_int(rs, 0, 0);
	return e;
}

enum err catalog_store_item_update(struct db_conn *c, struct arena *a, int64_t id, const char *code,
                                   const char *department, int64_t now)
{
	return db_exec(c, a, NULL,
	               "UPDATE catalog_items SET basic_code = ?, department = ?, updated_at = ?"
	               " WHERE id = ?",
	               "ssii", code, department, now, id);
}

enum err catalog_store_code_reserved(struct db_conn *c, struct arena *a, const char *code,
                                     bool *reserved)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT count(*) FROM catalog_code_changes"
	                     " WHERE old_code = ? OR (new_code = ? AND status = 'scheduled')",
	                     "ss", code, code);
	if (!e)
		*reserved = db_int(rs, 0, 0) > 0;
	return e;
}

/* ---- versions ------------------------------------------------------------------------- */

#define VERSION_COLS                                                                               \
	"v.id, v.item_id, v.version, v.status, v.name, v.doc, v.hash, v.effective_from,"           \
	" v.base_version, v.rev, v.created_at, v.published_at, v.updated_at,"                      \
	" v.created_by_name, v.published_by_name"

static void version_from(const struct db_rows *rs, int r, struct catalog_version_row *o)
{
	o->id = db_int(rs, r, 0);
	o->item_id = db_int(rs, r, 1);
	o->version = (int)db_int(rs, r, 2);
	o->status = db_text(rs, r, 3);
	o->name = db_text(rs, r, 4);
	o->doc = db_text(rs, r, 5);
	o->hash = db_text(rs, r, 6);
	o->effective_from = text_or_null(rs, r, 7);
	o->base_version = (int)db_int(rs, r, 8);
	o->rev = db_int(rs, r, 9);
	o->created_at = db_int(rs, r, 10);
	o->published_at = db_int(rs, r, 11);
	o->updated_at = db_int(rs, r, 12);
	o->created_by = text_or_null(rs, r, 13);
	o->published_by = text_or_null(rs, r, 14);
}

enum err catalog_store_version(struct db_conn *c, struct arena *a, int64_t item_id,
                               const char *which, int n, struct catalog_version_row *out)
{
	struct db_rows *rs = NULL;
	enum err e;
	if (which && !strcmp(which, "draft"))
		e = db_exec(c, a, &rs,
		            "SELECT " VERSION_COLS " FROM catalog_versions v"
		            " WHERE v.item_id = ? AND v.status = 'draft'",
		            "i", item_id);
	else if (which && !strcmp(which, "latest"))
		e = db_exec(c, a, &rs,
		            "SELECT " VERSION_COLS " FROM catalog_versions v"
		            " WHERE v.item_id = ? AND v.status <> 'draft'"
		            " ORDER BY v.version DESC LIMIT 1",
		            "i", item_id);
	else
		e = db_exec(c, a, &rs,
		            "SELECT " VERSION_COLS " FROM catalog_versions v"
		            " WHERE v.item_id = ? AND v.version = ?",
		            "ii", item_id, (int64_t)n);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	version_from(rs, 0, out);
	return ERR_OK;
}

enum err catalog_store_versions(struct db_conn *c, struct arena *a, int64_t item_id,
                                struct db_rows **rows)
{
	return db_exec(c, a, rows,
	               "SELECT v.version, v.status, v.effective_from, v.created_at,"
	               " v.created_by_name, v.published_at, v.published_by_name, v.hash, v.rev"
	               " FROM catalog_versions v WHERE v.item_id = ? ORDER BY v.version DESC",
	               "i", item_id);
}

enum err catalog_store_max_version(struct db_conn *c, struct arena *a, int64_t item_id,
                                   bool with_draft, int *n)
{
	struct db_rows *rs = NULL;
	enum err e =
	    db_exec(c, a, &rs,
	            with_draft ? "SELECT max(version) FROM catalog_versions WHERE item_id = ?"
	                       : "SELECT max(version) FROM catalog_versions"
	                         " WHERE item_id = ? AND status <> 'draft'",
	            "i", item_id);
	if (!e)
		*n = (int)db_int(rs, 0, 0);
	return e;
}

static enum err subitems_insert(struct db_conn *c, struct arena *a, int64_t version_id,
                                const json_t *doc)
{
	size_t i;
	json_t *sub;
	enum err e = ERR_OK;
	json_array_foreach (json_object_get(doc, "sub_items"), i, sub) {
		const char *code = json_string_value(json_object_get(sub, "code"));
		const char *name = json_string_value(json_object_get(sub, "name"));
		if (!code)
			continue;
		if ((e = db_exec(c, a, NULL,
		                 "INSERT INTO catalog_subitems (version_id, code, name)"
		                 " VALUES (?, ?, ?) ON CONFLICT (version_id, code) DO NOTHING",
		                 "iss", version_id, code, name ? name : "")))
			break;
	}
	return e;
}

enum err catalog_store_version_insert(struct db_conn *c, struct arena *a, int64_t item_id,
                                      const char *status, const json_t *doc, const char *doc_text,
                                      const char *hash, const char *effective_from,
                                      int base_version, const struct catalog_actor *who,
                                      int64_t now, int64_t *id, int *version)
{
	struct db_rows *rs = NULL;
	int n = 0;
	bool published = !strcmp(status, "published");
	enum err e = catalog_store_max_version(c, a, item_id, false, &n);
	if (e)
		return e;
	n++;
	/* The draft always follows the last published version: make room for this one. */
	if (published && (e = db_exec(c, a, NULL,
	                              "UPDATE catalog_versions SET version = version + 1"
	                              " WHERE item_id = ? AND status = 'draft' AND version <= ?",
	                              "ii", item_id, (int64_t)n)))
		return e;
	const char *name = json_string_value(json_object_get(doc, "name"));
	if ((e = db_exec(c, a, &rs,
	                 "INSERT INTO catalog_versions (item_id, version, status, name, doc, hash,"
	                 " effective_from, base_version, rev, created_by, created_by_name,"
	                 " created_at, updated_at, published_by, published_by_name, published_at)"
	                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
	                 "iissssssisiiisi", item_id, (int64_t)n, status, name ? name : "", doc_text,
	                 hash, published ? effective_from : NULL,
	                 base_version ? arena_printf(a, "%d", base_version) : NULL, who->id,
	                 who->name, now, now, published ? who->id : 0, published ? who->name : NULL,
	                 published ? now : 0)))
		return e;
	int64_t vid = db_int(rs, 0, 0);
	if (published && (e = subitems_insert(c, a, vid, doc)))
		return e;
	if (id)
		*id = vid;
	if (version)
		*version = n;
	return ERR_OK;
}

enum err catalog_store_draft_update(struct db_conn *c, struct arena *a, int64_t id, int64_t rev,
                                    const char *name, const char *doc_text, const char *hash,
                                    int64_t now, bool *saved)
{
	struct db_rows *rs = NULL;
	enum err e =
	    db_exec(c, a, &rs,
	            "UPDATE catalog_versions SET doc = ?, hash = ?, name = ?, rev = rev + 1,"
	            " updated_at = ? WHERE id = ? AND status = 'draft' AND rev = ?",
	            "sssiii", doc_text, hash, name, now, id, rev);
	if (!e)
		*saved = rs->changes == 1;
	return e;
}

enum err catalog_store_draft_delete(struct db_conn *c, struct arena *a, int64_t id)
{
	return db_exec(c, a, NULL, "DELETE FROM catalog_versions WHERE id = ? AND status = 'draft'",
	               "i", id);
}

enum err catalog_store_draft_publish(struct db_conn *c, struct arena *a, int64_t id,
                                     const json_t *doc, int n, const char *effective_from,
                                     const struct catalog_actor *who, int64_t now)
{
	struct db_rows *rs = NULL;
	enum err e =
	    db_exec(c, a, &rs,
	            "UPDATE catalog_versions SET status = 'published', version = ?,"
	            " effective_from = ?, published_by = ?, published_by_name = ?,"
	            " published_at = ?, updated_at = ? WHERE id = ? AND status = 'draft'",
	            "isisiii", (int64_t)n, effective_from, who->id, who->name, now, now, id);
	if (!e && rs->changes != 1)
		e = ERR_CONFLICT;
	if (!e)
		e = subitems_insert(c, a, id, doc);
	return e;
}

enum err catalog_store_retire(struct db_conn *c, struct arena *a, const char *today)
{
	return db_exec(c, a, NULL,
	               "UPDATE catalog_versions SET status = 'retired' WHERE status = 'published'"
	               " AND EXISTS (SELECT 1 FROM catalog_versions n"
	               " WHERE n.item_id = catalog_versions.item_id AND n.status = 'published'"
	               " AND n.version > catalog_versions.version AND n.effective_from <= ?)",
	               "s", today);
}

enum err catalog_store_sub_code_owner(struct db_conn *c, struct arena *a, const char *code,
                                      int64_t *item_id)
{
	struct db_rows *rs = NULL;
	*item_id = 0;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT v.item_id FROM catalog_subitems s"
	                     " JOIN catalog_versions v ON v.id = s.version_id"
	                     " WHERE s.code = ? AND v.status = 'published'"
	                     " ORDER BY v.id DESC LIMIT 1",
	                     "s", code);
	if (!e && rs->nrows)
		*item_id = db_int(rs, 0, 0);
	return e;
}

enum err catalog_store_admin_items(struct db_conn *c, struct arena *a, const char *dept,
                                   struct db_rows **rows)
{
	static const char cols[] =
	    "SELECT i.id, i.basic_code, i.department,"
	    " (SELECT x.name FROM catalog_versions x WHERE x.item_id = i.id"
	    "  ORDER BY x.version DESC LIMIT 1),"
	    " (SELECT max(x.version) FROM catalog_versions x WHERE x.item_id = i.id"
	    "  AND x.status <> 'draft'),"
	    " (SELECT x.rev FROM catalog_versions x WHERE x.item_id = i.id"
	    "  AND x.status = 'draft'),"
	    " (SELECT x.effective_from FROM catalog_versions x WHERE x.item_id = i.id"
	    "  AND x.status <> 'draft' ORDER BY x.version DESC LIMIT 1),"
	    " (SELECT max(x.updated_at) FROM catalog_versions x WHERE x.item_id = i.id)"
	    " FROM catalog_items i";
	if (dept)
		return db_exec(
		    c, a, rows,
		    arena_printf(a, "%s WHERE i.department = ? ORDER BY i.basic_code", cols), "s",
		    dept);
	return db_exec(c, a, rows, arena_printf(a, "%s ORDER BY i.department, i.basic_code", cols),
	               "");
}

/* ---- code changes --------------------------------------------------------------------- */

#define CHANGE_COLS                                                                                \
	"ch.id, ch.old_code, ch.new_code, ch.effective, ch.reason, ch.status,"                     \
	" ch.created_by_name, ch.created_at, ch.applied_at, ch.item_id"

enum err catalog_store_changes(struct db_conn *c, struct arena *a, struct db_rows **rows)
{
	return db_exec(c, a, rows,
	               "SELECT " CHANGE_COLS " FROM catalog_code_changes ch ORDER BY ch.id DESC",
	               "");
}

enum err catalog_store_change(struct db_conn *c, struct arena *a, int64_t id, struct db_rows **rows)
{
	return db_exec(c, a, rows,
	               "SELECT " CHANGE_COLS " FROM catalog_code_changes ch WHERE ch.id = ?", "i",
	               id);
}

enum err catalog_store_change_insert(struct db_conn *c, struct arena *a, int64_t item_id,
                                     const char *old_code, const char *new_code,
                                     const char *effective, const char *reason,
                                     const struct catalog_actor *who, int64_t now, int64_t *id)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "INSERT INTO catalog_code_changes (item_id, old_code, new_code,"
	                     " effective, reason, status, created_by, created_by_name, created_at)"
	                     " VALUES (?, ?, ?, ?, ?, 'scheduled', ?, ?, ?) RETURNING id",
	                     "issssisi", item_id, old_code, new_code, effective, reason, who->id,
	                     who->name, now);
	if (!e && id)
		*id = db_int(rs, 0, 0);
	return e;
}

enum err catalog_store_changes_due(struct db_conn *c, struct arena *a, const char *today,
                                   struct db_rows **rows)
{
	return db_exec(c, a, rows,
	               "SELECT " CHANGE_COLS " FROM catalog_code_changes ch"
	               " WHERE ch.status = 'scheduled' AND ch.effective <= ? ORDER BY ch.effective,"
	               " ch.id",
	               "s", today);
}

enum err catalog_store_change_claim(struct db_conn *c, struct arena *a, int64_t id, int64_t now,
                                    bool *claimed)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "UPDATE catalog_code_changes SET status = 'applied', applied_at = ?"
	                     " WHERE id = ? AND status = 'scheduled'",
	                     "ii", now, id);
	if (!e)
		*claimed = rs->changes == 1;
	return e;
}

enum err catalog_store_change_unclaim(struct db_conn *c, struct arena *a, int64_t id)
{
	return db_exec(c, a, NULL,
	               "UPDATE catalog_code_changes SET status = 'scheduled', applied_at = NULL"
	               " WHERE id = ?",
	               "i", id);
}

enum err catalog_store_item_lock(struct db_conn *c, struct arena *a, int64_t id)
{
	return db_exec(c, a, NULL, "UPDATE catalog_items SET updated_at = ? WHERE id = ?", "ii",
	               time_now_ms(), id);
}

enum err catalog_store_pins_affected(struct db_conn *c, struct arena *a, int64_t item_id,
                                     const char *old_code, struct db_rows **rows)
{
	return db_exec(c, a, rows,
	               "SELECT p.case_ref, p.sub_item_code, v.version, p.opened_at, p.id"
	               " FROM catalog_pins p JOIN catalog_versions v ON v.id = p.version_id"
	               " WHERE p.item_id = ? AND p.item_code = ? AND p.state = 'open'"
	               " ORDER BY p.opened_at, p.id",
	               "is", item_id, old_code);
}
