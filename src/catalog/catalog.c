/* catalog.c: the catalog's process state (the published snapshot and its rebuilds), drafts,
 * publication, code changes, case pins and the operator commands.
 *
 * Every change runs in one write transaction with its audit entry. Whoever changes the
 * published catalog bumps catalog_meta.generation in that transaction and rebuilds this
 * node's snapshot after the commit; other nodes notice the new generation within
 * CATALOG_GEN_CHECK_MS. A snapshot is also rebuilt when the day changes, after applying the
 * code changes that have come due (so "current version" and codes follow the calendar
 * without a scheduler). */
#include "catalog/catalog_admin_int.h"

#include <stdarg.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"

static const struct catalog_actor system_actor = {.id = 0, .name = "system"};

static enum err fail(struct errinfo *ei, struct arena *a, enum err code, const char *field,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static enum err fail(struct errinfo *ei, struct arena *a, enum err code, const char *field,
                     const char *fmt, ...)
{
	ei->code = code;
	ei->field = field;
	va_list ap;
	va_start(ap, fmt);
	ei->msg = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return code;
}

/* A database conflict (PostgreSQL serialisation) is worth one more try; a conflict this
 * module reports (a stale rev) carries a message and is not. */
static bool retryable(enum err e, const struct errinfo *ei)
{
	return e == ERR_CONFLICT && ei->msg == NULL;
}

/* ---- snapshot lifecycle --------------------------------------------------------------- */

static json_t *parse_doc(const char *text)
{
	return text ? json_loads(text, 0, NULL) : NULL;
}

enum err catalog_rebuild(struct server *srv)
{
	struct catalog_state *st = srv->catalog;
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *docs = NULL, *cur = NULL, *redir = NULL;
	struct catalog_snapshot *snap = NULL;
	json_t *departments = NULL, *tables = json_object(), *items = json_array(),
	       *redirects = json_array();
	int64_t gen = 0;
	char today[11];
	if (!st)
		return ERR_UNAVAILABLE;
	arena_init(&a, 0);
	pthread_mutex_lock(&st->rebuild_mu);
	catalog_today(today);
	enum err e = tables && items && redirects ? ERR_OK : ERR_NOMEM;
	if (e || (e = db_acquire(srv->db, CATALOG_DB_WAIT_MS, &c)) || (e = db_begin(c)) ||
	    (e = catalog_store_meta_generation(c, &a, &gen)) ||
	    (e = catalog_store_docs(c, &a, &docs)) ||
	    (e = catalog_store_current(c, &a, today, &cur)) ||
	    (e = catalog_store_redirects(c, &a, &redir)))
		goto out;
	db_commit(c);
	db_release(c);
	c = NULL;
	if ((e = catalog_store_docs_parse(docs, &departments, tables)))
		goto out;
	for (int r = 0; r < cur->nrows; r++) {
		json_t *d = parse_doc(db_text(cur, r, 3));
		if (!d) {
			e = ERR_INTEGRITY;
			goto out;
		}
		json_array_append_new(
		    items, json_pack("{s:o, s:I, s:I, s:I, s:s, s:I}", "doc", d, "item_id",
		                     (json_int_t)db_int(cur, r, 0), "version_id",
		                     (json_int_t)db_int(cur, r, 1), "version",
		                     (json_int_t)db_int(cur, r, 2), "effective_from",
		                     db_text(cur, r, 4) ? db_text(cur, r, 4) : "", "published_at",
		                     (json_int_t)db_int(cur, r, 5)));
	}
	for (int r = 0; r < redir->nrows; r++)
		json_array_append_new(
		    redirects, json_pack("[s, s]", db_text(redir, r, 0), db_text(redir, r, 1)));
	if ((e = catalog_snapshot_build(departments, tables, items, redirects, today, gen, &snap)))
		goto out;
	pthread_mutex_lock(&st->mu);
	struct catalog_snapshot *old = st->cur;
	st->cur = snap;
	st->last_gen_check_ms = time_now_ms();
	pthread_mutex_unlock(&st->mu);
	catalog_snapshot_unref(old);
	log_debug("catalog.snapshot", "catalog snapshot for %s: %zu items, %zu sub-items", today,
	          snap->nitems, snap->nsub);
out:
	if (c)
		db_release(c);
	if (e)
		log_error("catalog.snapshot", "cannot rebuild the catalog snapshot (%s)",
		          err_code(e));
	pthread_mutex_unlock(&st->rebuild_mu);
	json_decref(departments);
	json_decref(tables);
	json_decref(items);
	json_decref(redirects);
	arena_release(&a);
	return e;
}

enum err catalog_snapshot_get(struct server *srv, struct catalog_snapshot **out)
{
	struct catalog_state *st = srv->catalog;
	char today[11];
	*out = NULL;
	if (!st)
		return ERR_UNAVAILABLE;
	catalog_today(today);
	int64_t now = time_now_ms();
	pthread_mutex_lock(&st->mu);
	struct catalog_snapshot *s = st->cur;
	if (s)
		catalog_snapshot_ref(s);
	bool check = now - st->last_gen_check_ms >= CATALOG_GEN_CHECK_MS;
	if (check)
		st->last_gen_check_ms = now;
	pthread_mutex_unlock(&st->mu);
	bool new_day = s && strcmp(s->today, today) != 0;
	bool stale = !s || new_day;
	if (!stale && check) {
		struct arena a;
		struct db_conn *c = NULL;
		int64_t gen = s->generation;
		arena_init(&a, 4096);
		if (db_acquire(srv->db, CATALOG_DB_WAIT_MS, &c) == ERR_OK) {
			catalog_store_meta_generation(c, &a, &gen);
			db_release(c);
		}
		arena_release(&a);
		stale = gen != s->generation;
	}
	if (stale) {
		bool changed = false;
		if (new_day)
			catalog_maintain(srv, today, &changed);
		enum err e = catalog_rebuild(srv);
		if (e && !s)
			return e;
		catalog_snapshot_unref(s);
		pthread_mutex_lock(&st->mu);
		s = st->cur;
		if (s)
			catalog_snapshot_ref(s);
		pthread_mutex_unlock(&st->mu);
		if (!s)
			return e ? e : ERR_UNAVAILABLE;
	}
	*out = s;
	return ERR_OK;
}

/* ---- code changes ----------------------------------------------------------------------- */

/* Copy version row r of rs (cols of catalog_store_version) recoded, effective eff. */
static enum err recode_copy(struct db_conn *c, struct arena *a, int64_t item_id,
                            const struct catalog_version_row *v, const char *old_code,
                            const char *new_code, const char *eff, const struct catalog_actor *who,
                            int64_t now)
{
	char hash[65];
	json_t *doc = parse_doc(v->doc);
	if (!doc)
		return ERR_INTEGRITY;
	catalog_doc_recode(doc, old_code, new_code);
	char *text = json_dumps(doc, JSON_COMPACT);
	enum err e = text ? catalog_doc_hash(doc, hash) : ERR_NOMEM;
	if (!e)
		e = catalog_store_version_insert(c, a, item_id, "published", doc, text, hash, eff,
		                                 v->version, who, now, NULL, NULL);
	free(text);
	json_decref(doc);
	return e;
}

static enum err apply_change(struct db_conn *c, struct arena *a, const struct db_rows *rs, int r,
                             const char *today, const struct catalog_actor *who, bool *changed)
{
	struct db_rows *vs = NULL, *it = NULL;
	struct catalog_item_row other;
	int64_t id = db_int(rs, r, 0), item_id = db_int(rs, r, 9), now = time_now_ms();
	const char *old = db_text(rs, r, 1), *new = db_text(rs, r, 2), *eff = db_text(rs, r, 3);
	bool claimed = false;
	/* Claim first: of several nodes noticing the same due change, one applies it. */
	enum err e = catalog_store_change_claim(c, a, id, now, &claimed);
	if (e || !claimed)
		return e;
	if ((e = db_exec(c, a, &it, "SELECT basic_code FROM catalog_items WHERE id = ?", "i",
	                 item_id)))
		return e;
	if (it->nrows != 1 || strcmp(db_text(it, 0, 0), old)) {
		log_warn("catalog.code_change",
		         "code change %lld (%s -> %s) no longer applies: the item's code is %s",
		         (long long)id, old, new, it->nrows ? db_text(it, 0, 0) : "(none)");
		return ERR_OK;
	}
	if ((e = catalog_store_item(c, a, new, &other)) != ERR_NOT_FOUND) {
		if (e)
			return e;
		log_warn("catalog.code_change",
		         "code change %lld waits: %s is the code of another item", (long long)id,
		         new);
		return catalog_store_change_unclaim(c, a, id);
	}
	if ((e = db_exec(c, a, NULL,
	                 "UPDATE catalog_items SET basic_code = ?, updated_at = ? WHERE id = ?",
	                 "sii", new, now, item_id)))
		return e;
	/* New versions carrying the new codes: one for the version in force and one for each
	 * published version still waiting for its date, so that neither brings the old codes
	 * back. Cases pinned to the old versions keep them. */
	if ((e = db_exec(c, a, &vs,
	                 "SELECT version, effective_from FROM catalog_versions"
	                 " WHERE item_id = ? AND status = 'published' ORDER BY version",
	                 "i", item_id)))
		return e;
	int first = -1;
	for (int k = 0; k < vs->nrows; k++)
		if (strcmp(db_text(vs, k, 1), today) <= 0)
			first = k;
	for (int k = first < 0 ? 0 : first; k < vs->nrows; k++) {
		struct catalog_version_row v;
		if ((e = catalog_store_version(c, a, item_id, NULL, (int)db_int(vs, k, 0), &v)))
			return e;
		const char *veff = strcmp(v.effective_from, eff) > 0 ? v.effective_from : eff;
		if (k == first && strcmp(veff, today) > 0)
			veff = today;
		if ((e = recode_copy(c, a, item_id, &v, old, new, veff, who, now)))
			return e;
	}
	struct catalog_version_row d;
	e = catalog_store_version(c, a, item_id, "draft", 0, &d);
	if (e == ERR_OK) {
		char hash[65];
		bool saved = false;
		json_t *doc = parse_doc(d.doc);
		if (!doc)
			return ERR_INTEGRITY;
		catalog_doc_recode(doc, old, new);
		char *text = json_dumps(doc, JSON_COMPACT);
		e = text ? catalog_doc_hash(doc, hash) : ERR_NOMEM;
		if (!e)
			e = catalog_store_draft_update(c, a, d.id, d.rev, d.name, text, hash, now,
			                               &saved);
		free(text);
		json_decref(doc);
	} else if (e == ERR_NOT_FOUND) {
		e = ERR_OK;
	}
	if (e)
		return e;
	*changed = true;
	return catalog_audit(
	    c, a, who, "catalog.code_change.apply",
	    arena_printf(a, "catalog_code_change:%lld", (long long)id),
	    arena_printf(a, "{\"old\":\"%s\",\"new\":\"%s\",\"effective\":\"%s\"}", old, new, eff));
}

enum err catalog_apply_due(struct db_conn *c, struct arena *a, const char *today,
                           const struct catalog_actor *who, bool *changed)
{
	struct db_rows *rs = NULL;
	enum err e = catalog_store_changes_due(c, a, today, &rs);
	for (int r = 0; !e && r < rs->nrows; r++)
		e = apply_change(c, a, rs, r, today, who, changed);
	return e;
}

enum err catalog_maintain(struct server *srv, const char *today, bool *changed)
{
	struct arena a;
	struct db_conn *c = NULL;
	arena_init(&a, 0);
	*changed = false;
	enum err e = db_acquire(srv->db, CATALOG_DB_WAIT_MS, &c);
	if (e || (e = db_begin_write(c)) ||
	    (e = catalog_apply_due(c, &a, today, &system_actor, changed)) ||
	    (e = catalog_store_retire(c, &a, today)) ||
	    (*changed && (e = catalog_store_meta_bump(c, &a))) || (e = db_commit(c)))
		log_error("catalog.maintain", "cannot apply due code changes (%s)", err_code(e));
	if (c)
		db_release(c);
	arena_release(&a);
	return e;
}

/* ---- validation of drafts ------------------------------------------------------------- */

static void validate(struct catalog_snapshot *snap, struct db_conn *c, struct arena *a,
                     const struct catalog_item_row *item, const json_t *doc,
                     struct catalog_problems *pr)
{
	const char *dept = json_string_value(json_object_get(doc, "department"));
	const char *file =
	    arena_printf(a, "items/%s/%s.json", dept ? dept : item->department, item->code);
	if (!snap || !snap->ref) {
		catalog_problems_add(pr, file, "", false,
		                     "事项目录尚未导入部门和代码表，无法校验事项，请先导入目录");
		return;
	}
	catalog_item_check(snap->ref, doc, file, pr);
	const char *code = json_string_value(json_object_get(doc, "basic_code"));
	if (code && strcmp(code, item->code))
		catalog_problems_add(pr, file, "basic_code", false,
		                     "基本编码不能在草稿中修改（当前为 %s），请通过“编码变更”办理",
		                     item->code);
	const char *impl = json_string_value(json_object_get(doc, "impl_code"));
	for (size_t i = 0; impl && i < snap->nitems; i++) {
		const struct catalog_entry *e = &snap->items[i];
		const char *other = json_string_value(json_object_get(e->doc, "impl_code"));
		if (e->item_id != item->id && other && !strcmp(other, impl))
			catalog_problems_add(pr, file, "impl_code", false,
			                     "实施编码 %s 已被事项 %s（%s）使用", impl, e->code,
			                     e->name);
	}
	size_t i;
	json_t *sub;
	json_array_foreach (json_object_get(doc, "sub_items"), i, sub) {
		int64_t owner = 0;
		const char *sc = json_string_value(json_object_get(sub, "code"));
		if (sc && catalog_store_sub_code_owner(c, a, sc, &owner) == ERR_OK && owner &&
		    owner != item->id)
			catalog_problems_add(pr, file, arena_printf(a, "sub_items[%zu].code", i),
			                     false, "子项编码 %s 已被目录中的其他事项使用", sc);
	}
}

/* Problems of doc plus the warning that the draft was made from an older version. */
static json_t *draft_problems(struct catalog_snapshot *snap, struct db_conn *c, struct arena *a,
                              const struct catalog_item_row *item, const json_t *doc,
                              int base_version, int latest, size_t *errors)
{
	struct catalog_problems pr;
	catalog_problems_init(&pr, a);
	validate(snap, c, a, item, doc, &pr);
	if (base_version && latest > base_version)
		catalog_problems_add(
		    &pr, "", "", true,
		    "草稿基于第 %d 版，之后已发布第 %d 版：发布前请核对是否覆盖了新版本的修改",
		    base_version, latest);
	json_t *out = json_arena_own(a, catalog_problems_json(&pr, false));
	if (errors)
		*errors = pr.errors;
	catalog_problems_release(&pr);
	return out;
}

/* ---- drafts --------------------------------------------------------------------------- */

static enum err fill_draft(struct catalog_snapshot *snap, struct db_conn *c, struct arena *a,
                           const struct catalog_item_row *item, const struct catalog_version_row *d,
                           struct catalog_draft *out)
{
	int latest = 0;
	enum err e = catalog_store_max_version(c, a, item->id, false, &latest);
	if (e)
		return e;
	out->doc = json_arena_own(a, parse_doc(d->doc));
	if (!out->doc)
		return ERR_INTEGRITY;
	out->rev = d->rev;
	out->version = d->version;
	out->base_version = d->base_version;
	out->problems = draft_problems(snap, c, a, item, out->doc, d->base_version, latest, NULL);
	return out->problems ? ERR_OK : ERR_NOMEM;
}

static const char *target_of(struct arena *a, const char *code)
{
	return arena_printf(a, "catalog_item:%s", code);
}

/* ---- one item's transaction ------------------------------------------------------------ */

/* What the work of an admin operation sees inside its transaction. */
struct item_tx {
	struct db_conn *c;
	struct arena *a;
	struct errinfo *ei;
	const struct catalog_actor *who;
	struct catalog_item_row item;     /* the item item_tx was given the code of */
	struct catalog_version_row draft; /* once tx_draft loaded it */
};

enum {
	TX_READ = 1u << 0, /* a read transaction instead of a write transaction */
	TX_LOCK = 1u << 1, /* hold the item's row lock (needs a code) */
};

/* Run work in one transaction and commit when it returns ERR_OK; a database conflict
 * (retryable) runs it all once more on a fresh connection. With a code, the item it names
 * (also through applied code changes) is in t->item before work runs; when there is none,
 * ERR_NOT_FOUND ("事项 %s 不存在", field "code"). ei is cleared before each attempt; work
 * reports its own failures there with fail(). ctx outlives the attempts, so whatever must
 * start afresh on a retry belongs in work's locals. */
static enum err item_tx(struct server *srv, struct arena *a, const struct catalog_actor *who,
                        const char *code, unsigned flags,
                        enum err (*work)(struct item_tx *t, void *ctx), void *ctx,
                        struct errinfo *ei)
{
	struct item_tx t = {.a = a, .ei = ei, .who = who};
	enum err e = ERR_OK;
	for (int attempt = 0; attempt < 2; attempt++) {
		memset(ei, 0, sizeof(*ei));
		if ((e = db_acquire(srv->db, CATALOG_DB_WAIT_MS, &t.c)))
			break;
		e = flags & TX_READ ? db_begin(t.c) : db_begin_write(t.c);
		if (!e && code &&
		    (e = catalog_store_item_resolve(t.c, a, code, &t.item, NULL)) == ERR_NOT_FOUND)
			fail(ei, a, e, "code", "事项 %s 不存在", code);
		if (!e && (flags & TX_LOCK))
			e = catalog_store_item_lock(t.c, a, t.item.id);
		if (!e)
			e = work(&t, ctx);
		if (!e)
			e = db_commit(t.c);
		db_release(t.c);
		t.c = NULL;
		if (!retryable(e, ei))
			break;
	}
	return e;
}

/* Load the item's draft into t->draft; ERR_NOT_FOUND ("事项 <code> <missing>") when it has
 * none. */
static enum err tx_draft(struct item_tx *t, const char *missing)
{
	enum err e = catalog_store_version(t->c, t->a, t->item.id, "draft", 0, &t->draft);
	if (e == ERR_NOT_FOUND)
		fail(t->ei, t->a, e, "code", "事项 %s %s", t->item.code, missing);
	return e;
}

/* tx_draft, then ERR_CONFLICT (field "rev") when someone saved the draft after rev. */
static enum err tx_draft_at(struct item_tx *t, const char *missing, int64_t rev)
{
	enum err e = tx_draft(t, missing);
	if (!e && t->draft.rev != rev)
		e = fail(t->ei, t->a, ERR_CONFLICT, "rev",
		         "草稿已被他人修改（当前修订号 %lld，您提交的是 %lld），请刷新后重试",
		         (long long)t->draft.rev, (long long)rev);
	return e;
}

/* The audit entry of a change to t->item. */
static enum err tx_audit(struct item_tx *t, const char *action, const char *detail)
{
	return catalog_audit(t->c, t->a, t->who, action, target_of(t->a, t->item.code), detail);
}

/* ---- editing drafts ------------------------------------------------------------------- */

struct open_ctx {
	struct catalog_snapshot *snap;
	bool create;
	struct catalog_draft *out;
	bool *created;
};

/* A new draft copied from the latest published version, loaded into t->draft. */
static enum err draft_from_latest(struct item_tx *t)
{
	struct catalog_version_row latest;
	struct db_conn *c = t->c;
	struct arena *a = t->a;
	enum err e = catalog_store_version(c, a, t->item.id, "latest", 0, &latest);
	if (e == ERR_NOT_FOUND)
		fail(t->ei, a, e, "code", "事项 %s 没有已发布的版本", t->item.code);
	if (e)
		return e;
	int64_t now = time_now_ms();
	json_t *doc = json_arena_own(a, parse_doc(latest.doc));
	if (!doc)
		return ERR_INTEGRITY;
	if ((e = catalog_store_version_insert(c, a, t->item.id, "draft", doc, latest.doc,
	                                      latest.hash, NULL, latest.version, t->who, now, NULL,
	                                      NULL)) ||
	    (e = tx_audit(t, "catalog.draft.create",
	                  arena_printf(a, "{\"base_version\":%d}", latest.version))))
		return e;
	return catalog_store_version(c, a, t->item.id, "draft", 0, &t->draft);
}

static enum err open_work(struct item_tx *t, void *ctx)
{
	struct open_ctx *x = ctx;
	enum err e = x->create
	                 ? catalog_store_version(t->c, t->a, t->item.id, "draft", 0, &t->draft)
	                 : tx_draft(t, "没有草稿");
	if (e == ERR_NOT_FOUND && x->create && !(e = draft_from_latest(t)))
		*x->created = true;
	return e ? e : fill_draft(x->snap, t->c, t->a, &t->item, &t->draft, x->out);
}

enum err catalog_draft_open(struct server *srv, struct arena *a, const char *code, bool create,
                            const struct catalog_actor *who, struct catalog_draft *out,
                            bool *created, struct errinfo *ei)
{
	struct open_ctx x = {.create = create, .out = out, .created = created};
	*created = false;
	/* Before any transaction: getting a snapshot may need a write of its own. */
	enum err e = catalog_snapshot_get(srv, &x.snap);
	if (e)
		return e;
	e = item_tx(srv, a, who, code, create ? TX_LOCK : TX_READ, open_work, &x, ei);
	catalog_snapshot_unref(x.snap);
	return e;
}

struct save_ctx {
	struct catalog_snapshot *snap;
	const json_t *doc;
	const char *name, *text, *hash;
	int64_t rev;
	struct catalog_draft *out;
};

static enum err save_work(struct item_tx *t, void *ctx)
{
	struct save_ctx *x = ctx;
	struct db_conn *c = t->c;
	struct arena *a = t->a;
	bool saved = false;
	const char *dc = json_string_value(json_object_get(x->doc, "basic_code"));
	if (!dc || strcmp(dc, t->item.code))
		return fail(t->ei, a, ERR_BAD_FIELD, "item.basic_code",
		            "草稿的基本编码应为 %s：编码不能在草稿中修改，请通过“编码变更”办理",
		            t->item.code);
	enum err e = tx_draft_at(t, "没有草稿，请先创建草稿", x->rev);
	if (e || (e = catalog_store_draft_update(c, a, t->draft.id, x->rev, x->name, x->text,
	                                         x->hash, time_now_ms(), &saved)))
		return e;
	if (!saved)
		return fail(t->ei, a, ERR_CONFLICT, "rev", "草稿已被他人修改，请刷新后重试");
	if ((e = tx_audit(t, "catalog.draft.save",
	                  arena_printf(a, "{\"rev\":%lld,\"hash\":\"%s\"}", (long long)x->rev + 1,
	                               x->hash))) ||
	    (e = catalog_store_version(c, a, t->item.id, "draft", 0, &t->draft)))
		return e;
	return fill_draft(x->snap, c, a, &t->item, &t->draft, x->out);
}

enum err catalog_draft_save(struct server *srv, struct arena *a, const char *code, json_t *doc,
                            int64_t rev, const struct catalog_actor *who, struct catalog_draft *out,
                            struct errinfo *ei)
{
	char hash[65];
	enum err e = catalog_doc_hash(doc, hash);
	char *text = e ? NULL : json_dumps(doc, JSON_COMPACT);
	if (!text)
		return ERR_NOMEM;
	const char *name = json_string_value(json_object_get(doc, "name"));
	struct save_ctx x = {.doc = doc,
	                     .name = name ? name : "",
	                     .text = text,
	                     .hash = hash,
	                     .rev = rev,
	                     .out = out};
	if (!(e = catalog_snapshot_get(srv, &x.snap))) {
		e = item_tx(srv, a, who, code, TX_LOCK, save_work, &x, ei);
		catalog_snapshot_unref(x.snap);
	}
	free(text);
	return e;
}

static enum err discard_work(struct item_tx *t, void *ctx)
{
	struct db_conn *c = t->c;
	struct arena *a = t->a;
	struct db_rows *rs = NULL;
	int64_t id = t->item.id;
	(void)ctx;
	enum err e = tx_draft(t, "没有草稿");
	if (e || (e = catalog_store_draft_delete(c, a, t->draft.id)))
		return e;
	/* A new item that never got published disappears with its only draft. */
	if ((e = db_exec(c, a, &rs, "SELECT count(*) FROM catalog_versions WHERE item_id = ?", "i",
	                 id)))
		return e;
	bool gone = db_int(rs, 0, 0) == 0;
	if (gone && ((e = db_exec(c, a, NULL, "DELETE FROM catalog_code_changes WHERE item_id = ?",
	                          "i", id)) ||
	             (e = db_exec(c, a, NULL, "DELETE FROM catalog_items WHERE id = ?", "i", id))))
		return e;
	return tx_audit(t, "catalog.draft.discard",
	                arena_printf(a, "{\"rev\":%lld,\"item_removed\":%s}",
	                             (long long)t->draft.rev, gone ? "true" : "false"));
}

enum err catalog_draft_discard(struct server *srv, struct arena *a, const char *code,
                               const struct catalog_actor *who, struct errinfo *ei)
{
	return item_tx(srv, a, who, code, TX_LOCK, discard_work, NULL, ei);
}

struct create_ctx {
	struct catalog_snapshot *snap;
	const json_t *doc;
	const char *code, *dept, *text, *hash;
	struct catalog_draft *out;
};

static enum err create_work(struct item_tx *t, void *ctx)
{
	struct create_ctx *x = ctx;
	struct db_conn *c = t->c;
	struct arena *a = t->a;
	bool reserved = false;
	int64_t id = 0;
	enum err e = catalog_store_item(c, a, x->code, &t->item);
	if (e == ERR_OK)
		return fail(t->ei, a, ERR_EXISTS, "item.basic_code", "事项编码 %s 已存在", x->code);
	if (e != ERR_NOT_FOUND || (e = catalog_store_code_reserved(c, a, x->code, &reserved)))
		return e;
	if (reserved)
		return fail(t->ei, a, ERR_EXISTS, "item.basic_code",
		            "事项编码 %s 已用于编码变更，不能用作新事项的编码", x->code);
	int64_t now = time_now_ms();
	if ((e = catalog_store_item_insert(c, a, x->code, x->dept, now, &id)) ||
	    (e = catalog_store_version_insert(c, a, id, "draft", x->doc, x->text, x->hash, NULL, 0,
	                                      t->who, now, NULL, NULL)) ||
	    (e = catalog_audit(c, a, t->who, "catalog.item.create", target_of(a, x->code),
	                       arena_printf(a, "{\"department\":\"%s\"}", x->dept))) ||
	    (e = catalog_store_item(c, a, x->code, &t->item)) ||
	    (e = catalog_store_version(c, a, id, "draft", 0, &t->draft)))
		return e;
	return fill_draft(x->snap, c, a, &t->item, &t->draft, x->out);
}

enum err catalog_item_create(struct server *srv, struct arena *a, json_t *doc,
                             const struct catalog_actor *who, struct catalog_draft *out,
                             struct errinfo *ei)
{
	struct catalog_snapshot *snap = NULL;
	char hash[65];
	const char *code = json_string_value(json_object_get(doc, "basic_code"));
	const char *dept = json_string_value(json_object_get(doc, "department"));
	memset(ei, 0, sizeof(*ei));
	if (!catalog_basic_code_ok(code))
		return fail(ei, a, ERR_BAD_FIELD, "item.basic_code",
		            "基本编码应为 12 位数字或大写字母");
	enum err e = catalog_snapshot_get(srv, &snap);
	if (e)
		return e;
	bool dept_ok = dept && snap->ref && catalog_ref_department(snap->ref, dept);
	char *text = catalog_doc_hash(doc, hash) ? NULL : json_dumps(doc, JSON_COMPACT);
	if (!dept_ok || !text) {
		catalog_snapshot_unref(snap);
		free(text);
		if (!dept_ok)
			return fail(ei, a, ERR_BAD_FIELD, "item.department", "部门“%s”不在目录中",
			            dept ? dept : "");
		return ERR_NOMEM;
	}
	struct create_ctx x = {.snap = snap,
	                       .doc = doc,
	                       .code = code,
	                       .dept = dept,
	                       .text = text,
	                       .hash = hash,
	                       .out = out};
	/* No code for item_tx: the item is not there yet. */
	e = item_tx(srv, a, who, NULL, 0, create_work, &x, ei);
	catalog_snapshot_unref(snap);
	free(text);
	return e;
}

/* ---- publication ---------------------------------------------------------------------- */

struct publish_ctx {
	struct catalog_snapshot *snap;
	int64_t rev;
	const char *eff, *today;
	json_t **problems;
	int version; /* published, valid once the transaction committed */
};

static enum err publish_work(struct item_tx *t, void *ctx)
{
	struct publish_ctx *x = ctx;
	struct db_conn *c = t->c;
	struct arena *a = t->a;
	const struct catalog_version_row *d = &t->draft;
	struct catalog_version_row latest;
	size_t errors = 0;
	enum err e = tx_draft_at(t, "没有待发布的草稿", x->rev);
	if (e)
		return e;
	e = catalog_store_version(c, a, t->item.id, "latest", 0, &latest);
	bool has_latest = e == ERR_OK;
	if (e && e != ERR_NOT_FOUND)
		return e;
	if (has_latest && strcmp(x->eff, latest.effective_from) < 0)
		return fail(t->ei, a, ERR_BAD_FIELD, "effective_from",
		            "生效日期不能早于第 %d 版的生效日期（%s）", latest.version,
		            latest.effective_from);
	json_t *doc = json_arena_own(a, parse_doc(d->doc));
	if (!doc)
		return ERR_INTEGRITY;
	if (has_latest && !strcmp(latest.hash, d->hash)) {
		*x->problems = json_arena_own(
		    a,
		    json_pack("[{s:s, s:s, s:b}]", "path", "", "message",
		              arena_printf(a, "草稿与第 %d 版内容相同，无需发布", latest.version),
		              "warning", 0));
		return fail(t->ei, a, ERR_INVALID, NULL, "草稿与第 %d 版内容相同，无需发布",
		            latest.version);
	}
	*x->problems = draft_problems(x->snap, c, a, &t->item, doc, 0, 0, &errors);
	if (errors)
		return fail(t->ei, a, ERR_INVALID, NULL, "草稿有 %zu 个问题未解决，不能发布",
		            errors);
	int n = 0;
	int64_t now = time_now_ms();
	const char *dept = json_string_value(json_object_get(doc, "department"));
	if ((e = catalog_store_max_version(c, a, t->item.id, false, &n)) ||
	    (e = catalog_store_draft_publish(c, a, d->id, doc, n + 1, x->eff, t->who, now)) ||
	    (dept && strcmp(dept, t->item.department) &&
	     (e = catalog_store_item_update(c, a, t->item.id, t->item.code, dept, now))) ||
	    (e = catalog_store_retire(c, a, x->today)) || (e = catalog_store_meta_bump(c, a)) ||
	    (e = tx_audit(t, "catalog.publish",
	                  arena_printf(a,
	                               "{\"version\":%d,\"effective_from\":\"%s\","
	                               "\"hash\":\"%s\"}",
	                               n + 1, x->eff, d->hash))))
		return e;
	x->version = n + 1;
	return ERR_OK;
}

enum err catalog_publish(struct server *srv, struct arena *a, const char *code, int64_t rev,
                         const char *effective_from, const struct catalog_actor *who, int *version,
                         json_t **problems, struct errinfo *ei)
{
	char today[11];
	enum err e = ERR_OK;
	catalog_today(today);
	*problems = NULL;
	memset(ei, 0, sizeof(*ei));
	const char *eff = effective_from && effective_from[0] ? effective_from : today;
	if (!catalog_date_ok(eff))
		return fail(ei, a, ERR_BAD_FIELD, "effective_from",
		            "生效日期应为 YYYY-MM-DD 格式的有效日期");
	if (strcmp(eff, today) < 0)
		return fail(ei, a, ERR_BAD_FIELD, "effective_from", "生效日期不能早于今天（%s）",
		            today);
	struct publish_ctx x = {.rev = rev, .eff = eff, .today = today, .problems = problems};
	if ((e = catalog_snapshot_get(srv, &x.snap)))
		return e;
	e = item_tx(srv, a, who, code, TX_LOCK, publish_work, &x, ei);
	catalog_snapshot_unref(x.snap);
	if (!e) {
		*version = x.version;
		catalog_rebuild(srv);
	}
	return e;
}

/* ---- code changes --------------------------------------------------------------------- */

static json_t *change_json(const struct db_rows *rs, int r)
{
	json_t *o =
	    json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:I}", "id", (json_int_t)db_int(rs, r, 0),
	              "old", db_text(rs, r, 1), "new", db_text(rs, r, 2), "effective",
	              db_text(rs, r, 3), "reason", db_text(rs, r, 4), "status", db_text(rs, r, 5),
	              "created_at", (json_int_t)db_int(rs, r, 7));
	if (o) {
		const char *by = db_is_null(rs, r, 6) ? NULL : db_text(rs, r, 6);
		json_object_set_new(o, "created_by", by ? json_string(by) : json_null());
		json_object_set_new(o, "applied_at",
		                    db_is_null(rs, r, 8) ? json_null()
		                                         : json_integer(db_int(rs, r, 8)));
	}
	return o;
}

/* ERR_BAD_FIELD (field "new", the first problem as message) when the latest version v,
 * recoded, breaks a rule of the catalog. */
static enum err recode_check(struct catalog_snapshot *snap, struct arena *a,
                             const struct catalog_version_row *v, const char *old_code,
                             const char *new_code, struct errinfo *ei)
{
	struct catalog_problems pr;
	json_t *doc = json_arena_own(a, parse_doc(v->doc));
	if (!doc)
		return ERR_INTEGRITY;
	if (!snap->ref)
		return ERR_OK;
	catalog_problems_init(&pr, a);
	catalog_doc_recode(doc, old_code, new_code);
	catalog_item_check(snap->ref, doc, "", &pr);
	enum err e = ERR_OK;
	for (size_t i = 0; i < pr.n; i++)
		if (!pr.v[i].warning && strstr(pr.v[i].path, "code")) {
			e = fail(ei, a, ERR_BAD_FIELD, "new", "新编码不符合目录规则：%s（%s）",
			         pr.v[i].message, pr.v[i].path);
			break;
		}
	catalog_problems_release(&pr);
	return e;
}

json_t *catalog_change_json(const struct db_rows *rs, int r)
{
	return change_json(rs, r);
}

struct change_ctx {
	struct catalog_snapshot *snap;
	const char *old_code, *new_code, *effective, *reason, *today;
	json_t **change_out;
	/* Not reset between attempts: catalog_apply_due only ever sets it. */
	bool changed;
};

static enum err change_work(struct item_tx *t, void *ctx)
{
	struct change_ctx *x = ctx;
	struct db_conn *c = t->c;
	struct arena *a = t->a;
	struct db_rows *rs = NULL;
	struct catalog_item_row other;
	struct catalog_version_row latest;
	bool reserved = false;
	int64_t id = 0;
	/* By its current code only (not through earlier code changes, as item_tx would). */
	enum err e = catalog_store_item(c, a, x->old_code, &t->item);
	if (e == ERR_NOT_FOUND)
		fail(t->ei, a, e, "old", "目录中没有当前编码为 %s 的事项", x->old_code);
	if (e || (e = catalog_store_item_lock(c, a, t->item.id)))
		return e;
	e = catalog_store_item(c, a, x->new_code, &other);
	if (e == ERR_OK)
		return fail(t->ei, a, ERR_EXISTS, "new", "新编码 %s 已是事项的编码", x->new_code);
	if (e != ERR_NOT_FOUND || (e = catalog_store_code_reserved(c, a, x->new_code, &reserved)))
		return e;
	if (reserved)
		return fail(t->ei, a, ERR_EXISTS, "new", "新编码 %s 已用于其他编码变更",
		            x->new_code);
	if ((e = db_exec(c, a, &rs,
	                 "SELECT new_code, effective FROM catalog_code_changes"
	                 " WHERE item_id = ? AND status = 'scheduled'",
	                 "i", t->item.id)))
		return e;
	if (rs->nrows)
		return fail(t->ei, a, ERR_EXISTS, "old",
		            "事项 %s 已有待生效的编码变更（→ %s，%s 生效）", x->old_code,
		            db_text(rs, 0, 0), db_text(rs, 0, 1));
	/* The item under its new code must still pass the catalog's rules (the code
	 * scheme, impl_code composition): refuse now rather than on the effective date. */
	e = catalog_store_version(c, a, t->item.id, "latest", 0, &latest);
	if (e == ERR_OK && (e = recode_check(x->snap, a, &latest, x->old_code, x->new_code, t->ei)))
		return e;
	if (e && e != ERR_NOT_FOUND)
		return e;
	if ((e = catalog_store_change_insert(c, a, t->item.id, x->old_code, x->new_code,
	                                     x->effective, x->reason, t->who, time_now_ms(),
	                                     &id)) ||
	    (e = catalog_audit(c, a, t->who, "catalog.code_change.add",
	                       arena_printf(a, "catalog_code_change:%lld", (long long)id),
	                       arena_printf(a,
	                                    "{\"old\":\"%s\",\"new\":\"%s\",\"effective\":\"%s\"}",
	                                    x->old_code, x->new_code, x->effective))) ||
	    (e = catalog_apply_due(c, a, x->today, t->who, &x->changed)) ||
	    (x->changed &&
	     ((e = catalog_store_retire(c, a, x->today)) || (e = catalog_store_meta_bump(c, a)))) ||
	    (e = catalog_store_change(c, a, id, &rs)))
		return e;
	*x->change_out = json_arena_own(a, change_json(rs, 0));
	return ERR_OK;
}

enum err catalog_code_change_add(struct server *srv, struct arena *a, const char *old_code,
                                 const char *new_code, const char *effective, const char *reason,
                                 const struct catalog_actor *who, json_t **change_out,
                                 struct errinfo *ei)
{
	char today[11];
	enum err e = ERR_OK;
	catalog_today(today);
	memset(ei, 0, sizeof(*ei));
	*change_out = NULL;
	if (!catalog_basic_code_ok(old_code))
		return fail(ei, a, ERR_BAD_FIELD, "old", "原编码应为 12 位数字或大写字母");
	if (!catalog_basic_code_ok(new_code))
		return fail(ei, a, ERR_BAD_FIELD, "new", "新编码应为 12 位数字或大写字母");
	if (!strcmp(old_code, new_code))
		return fail(ei, a, ERR_BAD_FIELD, "new", "新编码与原编码相同");
	if (!catalog_date_ok(effective))
		return fail(ei, a, ERR_BAD_FIELD, "effective",
		            "生效日期应为 YYYY-MM-DD 格式的有效日期");
	if (strcmp(effective, today) < 0)
		return fail(ei, a, ERR_BAD_FIELD, "effective", "生效日期不能早于今天（%s）", today);
	struct change_ctx x = {.old_code = old_code,
	                       .new_code = new_code,
	                       .effective = effective,
	                       .reason = reason,
	                       .today = today,
	                       .change_out = change_out};
	if ((e = catalog_snapshot_get(srv, &x.snap)))
		return e;
	/* No code for item_tx: the item is found by its current code only, see change_work. */
	e = item_tx(srv, a, who, NULL, 0, change_work, &x, ei);
	catalog_snapshot_unref(x.snap);
	if (!e && x.changed)
		catalog_rebuild(srv);
	return e;
}

/* ---- pins ------------------------------------------------------------------------------ */

enum err catalog_pin(struct server *srv, struct db_conn *c, struct arena *a, const char *case_ref,
                     const char *sub_item_code, int64_t org_id, int64_t *version_id_out)
{
	struct catalog_item_row item;
	struct db_rows *rs = NULL;
	char today[11];
	bool redirected = false;
	(void)srv;
	if (!case_ref || !case_ref[0] || strlen(case_ref) > 100 ||
	    !catalog_sub_code_ok(sub_item_code))
		return ERR_NOT_FOUND;
	catalog_today(today);
	const char *basic = arena_strndup(a, sub_item_code, 12);
	if (!basic)
		return ERR_NOMEM;
	enum err e = catalog_store_item_resolve(c, a, basic, &item, &redirected);
	if (e)
		return e;
	const char *sub =
	    redirected ? arena_printf(a, "%s%s", item.code, sub_item_code + 12) : sub_item_code;
	if ((e = db_exec(c, a, &rs,
	                 "SELECT v.id FROM catalog_versions v JOIN catalog_subitems s"
	                 " ON s.version_id = v.id AND s.code = ?"
	                 " WHERE v.id = (SELECT x.id FROM catalog_versions x WHERE x.item_id = ?"
	                 " AND x.status = 'published' AND x.effective_from <= ?"
	                 " ORDER BY x.version DESC LIMIT 1)",
	                 "sis", sub, item.id, today)))
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	int64_t vid = db_int(rs, 0, 0);
	if ((e = db_exec(
	         c, a, &rs,
	         "SELECT count(*) FROM catalog_pins WHERE case_ref = ? AND sub_item_code = ?", "ss",
	         case_ref, sub)))
		return e;
	if (db_int(rs, 0, 0))
		return ERR_EXISTS;
	static const char ins[] =
	    "INSERT INTO catalog_pins (case_ref, sub_item_code, item_code, item_id, version_id,"
	    " state, org_id, opened_at) VALUES (?, ?, ?, ?, ?, 'open', ?, ?)";
	/* No organisation is NULL, not 0 (org_id references orgs). */
	if (org_id)
		e = db_exec(c, a, NULL, ins, "sssiiii", case_ref, sub, item.code, item.id, vid,
		            org_id, time_now_ms());
	else
		e = db_exec(c, a, NULL, ins, "sssiini", case_ref, sub, item.code, item.id, vid,
		            time_now_ms());
	if (e)
		return e;
	if (version_id_out)
		*version_id_out = vid;
	return ERR_OK;
}

enum err catalog_unpin(struct server *srv, struct db_conn *c, struct arena *a, const char *case_ref)
{
	(void)srv;
	return db_exec(c, a, NULL,
	               "UPDATE catalog_pins SET state = 'closed', closed_at = ?"
	               " WHERE case_ref = ? AND state = 'open'",
	               "is", time_now_ms(), case_ref);
}

enum err catalog_code_map(struct db_conn *c, struct arena *a, const char *code, const char **mapped)
{
	struct catalog_item_row item;
	bool redirected = false;
	*mapped = code;
	if (!code || strlen(code) < 12)
		return ERR_OK;
	const char *basic = arena_strndup(a, code, 12);
	if (!basic)
		return ERR_NOMEM;
	enum err e = catalog_store_item_resolve(c, a, basic, &item, &redirected);
	if (e == ERR_NOT_FOUND)
		return ERR_OK;
	if (e)
		return e;
	if (redirected && !(*mapped = arena_printf(a, "%s%s", item.code, code + 12)))
		return ERR_NOMEM;
	return ERR_OK;
}

/* ---- module lifecycle and operator commands ------------------------------------------- */

/* catalog/ beside migrations/ (both are found next to the binary, else in the working
 * directory). */
static char *default_dir(const struct server *srv)
{
	const char *m = srv->migrations_dir ? srv->migrations_dir : "migrations";
	size_t n = strlen(m);
	if (n >= 10 && !strcmp(m + n - 10, "migrations")) {
		char *d = NULL;
		if (asprintf(&d, "%.*scatalog", (int)(n - 10), m) >= 0)
			return d;
		return NULL;
	}
	return strdup("catalog");
}

static void demo_import(struct server *srv)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct catalog_problems pr;
	struct catalog_set *set = NULL;
	struct catalog_import_result res;
	struct stat sb;
	int64_t n = 0;
	const char *dir = srv->catalog->dir;
	arena_init(&a, 0);
	catalog_problems_init(&pr, &a);
	if (db_acquire(srv->db, CATALOG_DB_WAIT_MS, &c) || catalog_store_count_items(c, &a, &n) ||
	    n > 0)
		goto out;
	if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		log_warn("catalog.demo", "no catalog directory at %s: the catalog stays empty",
		         dir);
		goto out;
	}
	if (catalog_load_dir(dir, &set, &pr)) {
		log_error("catalog.demo",
		          "the catalog in %s has %zu errors and was not imported (shouli admin "
		          "catalog check --catalog %s lists them)",
		          dir, pr.errors, dir);
		catalog_problems_print(&pr, stderr);
		goto out;
	}
	catalog_problems_release(&pr);
	db_release(c);
	c = NULL;
	enum err e = catalog_import_set(srv, set, &system_actor, arena_printf(&a, "demo:%s", dir),
	                                &res, &pr);
	if (e) {
		log_error("catalog.demo", "demo catalog import failed (%s)", err_code(e));
		catalog_problems_print(&pr, stderr);
	} else {
		log_info("catalog.demo", "catalog imported from %s: %d items", dir, res.created);
	}
out:
	if (c)
		db_release(c);
	catalog_set_destroy(set);
	catalog_problems_release(&pr);
	arena_release(&a);
}

enum err catalog_module_init(struct server *srv)
{
	char today[11];
	bool changed = false;
	struct catalog_state *st = calloc(1, sizeof(*st));
	if (!st)
		return ERR_NOMEM;
	pthread_mutex_init(&st->mu, NULL);
	pthread_mutex_init(&st->rebuild_mu, NULL);
	st->srv = srv;
	st->dir = default_dir(srv);
	srv->catalog = st;
	if (!st->dir)
		return ERR_NOMEM;
	catalog_today(today);
	enum err e = catalog_maintain(srv, today, &changed);
	if (e)
		return e;
	if (srv->cfg.demo)
		demo_import(srv);
	return catalog_rebuild(srv);
}

void catalog_module_release(struct server *srv)
{
	struct catalog_state *st = srv->catalog;
	if (!st)
		return;
	catalog_snapshot_unref(st->cur);
	pthread_mutex_destroy(&st->mu);
	pthread_mutex_destroy(&st->rebuild_mu);
	free(st->dir);
	free(st);
	srv->catalog = NULL;
}

int catalog_admin_import(struct server *srv, const char *dir, FILE *out)
{
	struct arena a;
	struct catalog_problems pr;
	struct catalog_set *set = NULL;
	struct catalog_import_result res;
	struct catalog_actor cli = {.id = 0, .name = "cli"};
	int rc = 1;
	arena_init(&a, 0);
	catalog_problems_init(&pr, &a);
	if (!dir)
		dir = srv->catalog ? srv->catalog->dir : "catalog";
	enum err e = catalog_load_dir(dir, &set, &pr);
	if (e) {
		fprintf(out, "目录 %s 有 %zu 个问题，未导入：\n", dir, pr.errors);
		catalog_problems_print(&pr, out);
		goto out;
	}
	if (pr.n) {
		catalog_problems_print(&pr, out);
		catalog_problems_release(&pr);
	}
	e = catalog_import_set(srv, set, &cli, arena_printf(&a, "cli:%s", dir), &res, &pr);
	if (e == ERR_INVALID) {
		fprintf(out, "目录 %s 与数据库中的目录不一致，未导入：\n", dir);
		catalog_problems_print(&pr, out);
		goto out;
	}
	if (e) {
		fprintf(out, "导入失败：%s\n", err_message(e));
		goto out;
	}
	fprintf(out, "导入完成：%d 个新版本，%d 个事项未变化，%d 项编码变更\n", res.created,
	        res.unchanged, res.code_changes);
	rc = 0;
out:
	catalog_set_destroy(set);
	catalog_problems_release(&pr);
	arena_release(&a);
	return rc;
}

int catalog_admin_export(struct server *srv, const char *dir, FILE *out)
{
	struct arena a;
	struct db_conn *c = NULL;
	json_t *bundle = NULL;
	char msg[512] = "";
	struct catalog_actor cli = {.id = 0, .name = "cli"};
	int rc = 1;
	arena_init(&a, 0);
	if (!dir)
		dir = srv->catalog ? srv->catalog->dir : "catalog";
	enum err e = catalog_export_bundle(srv, &a, &bundle);
	if (!e && (e = catalog_write_dir(bundle, dir, msg, sizeof(msg))))
		fprintf(out, "导出失败：%s\n", msg[0] ? msg : err_message(e));
	if (e)
		goto out;
	size_t n = json_array_size(json_object_get(bundle, "items"));
	if ((e = db_acquire(srv->db, CATALOG_DB_WAIT_MS, &c)) || (e = db_begin_write(c)) ||
	    (e = catalog_audit(c, &a, &cli, "catalog.export", arena_printf(&a, "dir:%s", dir),
	                       arena_printf(&a, "{\"items\":%zu}", n))) ||
	    (e = db_commit(c))) {
		fprintf(out, "导出失败：%s\n", err_message(e));
		goto out;
	}
	fprintf(out, "已导出 %zu 个事项到 %s\n", n, dir);
	rc = 0;
out:
	if (c)
		db_release(c);
	json_decref(bundle);
	arena_release(&a);
	return rc;
}
