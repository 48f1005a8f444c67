/* catalog_io.c: item documents (hash, code rewrite, structural diff) and moving the catalog
 * in and out of the database (import of a checked set or bundle, export as a bundle or as
 * the catalog directory layout). */
#include "catalog/catalog_admin_int.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "catalog/catalog_int.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"

/* ---- dates and codes ------------------------------------------------------------------ */

void catalog_today(char out[11])
{
	char iso[32];
	time_iso(time_now_ms(), iso);
	memcpy(out, iso, 10);
	out[10] = 0;
}

bool catalog_date_ok(const char *s)
{
	int y, m, d;
	return s && catalog_date_parse(s, &y, &m, &d);
}

static bool code_chars(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

bool catalog_basic_code_ok(const char *s)
{
	return s && strlen(s) == 12 && code_chars(s, 12);
}

bool catalog_sub_code_ok(const char *s)
{
	return s && strlen(s) == 15 && code_chars(s, 12) && s[12] == '-' && s[13] >= '0' &&
	       s[13] <= '9' && s[14] >= '0' && s[14] <= '9';
}

struct catalog_actor catalog_actor_of(const struct req *r)
{
	struct catalog_actor a = {
	    .id = r->who ? r->who->user_id : 0,
	    .name = r->who ? r->who->username : "system",
	    .client_ip = r->client_ip,
	    .trace_id = r->trace.trace_id,
	};
	return a;
}

/* ---- documents -------------------------------------------------------------------------- */

enum err catalog_doc_hash(const json_t *doc, char out[65])
{
	unsigned char d[CRYPTO_SM3_LEN];
	char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	if (!text)
		return ERR_NOMEM;
	crypto_sm3(text, strlen(text), d);
	free(text);
	for (size_t i = 0; i < CRYPTO_SM3_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return ERR_OK;
}

void catalog_doc_recode(json_t *doc, const char *old_code, const char *new_code)
{
	size_t on = strlen(old_code);
	json_object_set_new(doc, "basic_code", json_string(new_code));
	const char *impl = json_string_value(json_object_get(doc, "impl_code"));
	if (impl) {
		size_t n = strlen(impl);
		if (n >= on && !strcmp(impl + n - on, old_code)) {
			char buf[128];
			snprintf(buf, sizeof(buf), "%.*s%s", (int)(n - on), impl, new_code);
			json_object_set_new(doc, "impl_code", json_string(buf));
		}
	}
	size_t i;
	json_t *sub;
	json_array_foreach (json_object_get(doc, "sub_items"), i, sub) {
		const char *code = json_string_value(json_object_get(sub, "code"));
		if (code && !strncmp(code, old_code, on) && code[on] == '-') {
			char buf[128];
			snprintf(buf, sizeof(buf), "%s%s", new_code, code + on);
			json_object_set_new(sub, "code", json_string(buf));
		}
	}
}

/* ---- structural diff ------------------------------------------------------------------ */

struct diff {
	json_t *out;
	struct buf path;
};

static void emit(struct diff *d, const char *op, const json_t *from, const json_t *to)
{
	json_t *c = json_pack("{s:s, s:s}", "op", op, "path", d->path.p ? d->path.p : "");
	if (!c)
		return;
	if (from)
		json_object_set(c, "from", (json_t *)from);
	if (to)
		json_object_set(c, "to", (json_t *)to);
	json_array_append_new(d->out, c);
}

/* The key an array of objects is matched by: "id" or "code" when every element of both
 * arrays has it as a string, else NULL (match by index). */
static const char *match_key(const json_t *a, const json_t *b)
{
	static const char *const keys[] = {"id", "code"};
	for (size_t k = 0; k < 2; k++) {
		bool all = json_array_size(a) + json_array_size(b) > 0;
		size_t i;
		json_t *v;
		json_array_foreach (a, i, v)
			all = all && json_is_string(json_object_get(v, keys[k]));
		json_array_foreach (b, i, v)
			all = all && json_is_string(json_object_get(v, keys[k]));
		if (all)
			return keys[k];
	}
	return NULL;
}

static int find_by(const json_t *arr, const char *key, const char *val)
{
	size_t i;
	json_t *v;
	json_array_foreach (arr, i, v) {
		if (!strcmp(json_string_value(json_object_get(v, key)), val))
			return (int)i;
	}
	return -1;
}

static void diff_value(struct diff *d, const json_t *a, const json_t *b, int depth);

static void diff_index(struct diff *d, const json_t *a, const json_t *b, int depth)
{
	size_t old = d->path.len;
	size_t na = json_array_size(a), nb = json_array_size(b);
	for (size_t i = 0; i < na || i < nb; i++) {
		buf_printf(&d->path, "[%zu]", i);
		if (i >= nb)
			emit(d, "remove", json_array_get(a, i), NULL);
		else if (i >= na)
			emit(d, "add", NULL, json_array_get(b, i));
		else
			diff_value(d, json_array_get(a, i), json_array_get(b, i), depth + 1);
		d->path.len = old;
		d->path.p[old] = 0;
	}
}

static void diff_keyed(struct diff *d, const json_t *a, const json_t *b, const char *key, int depth)
{
	size_t old = d->path.len;
	size_t i;
	json_t *v;
	json_array_foreach (a, i, v) {
		int j = find_by(b, key, json_string_value(json_object_get(v, key)));
		if (j < 0) {
			buf_printf(&d->path, "[%zu]", i);
			emit(d, "remove", v, NULL);
		} else {
			buf_printf(&d->path, "[%d]", j);
			diff_value(d, v, json_array_get(b, (size_t)j), depth + 1);
		}
		d->path.len = old;
		d->path.p[old] = 0;
	}
	json_array_foreach (b, i, v) {
		if (find_by(a, key, json_string_value(json_object_get(v, key))) >= 0)
			continue;
		buf_printf(&d->path, "[%zu]", i);
		emit(d, "add", NULL, v);
		d->path.len = old;
		d->path.p[old] = 0;
	}
}

static void diff_value(struct diff *d, const json_t *a, const json_t *b, int depth)
{
	if (depth > 64 || json_typeof(a) != json_typeof(b) ||
	    !(json_is_object(a) || json_is_array(a))) {
		if (!json_equal(a, b))
			emit(d, "change", a, b);
		return;
	}
	if (json_is_array(a)) {
		const char *key = match_key(a, b);
		if (key)
			diff_keyed(d, a, b, key, depth);
		else
			diff_index(d, a, b, depth);
		return;
	}
	size_t old = d->path.len;
	const char *k;
	json_t *v;
	json_object_foreach ((json_t *)a, k, v) {
		buf_printf(&d->path, "%s%s", old ? "." : "", k);
		json_t *w = json_object_get(b, k);
		if (!w)
			emit(d, "remove", v, NULL);
		else
			diff_value(d, v, w, depth + 1);
		d->path.len = old;
		if (d->path.p)
			d->path.p[old] = 0;
	}
	json_object_foreach ((json_t *)b, k, v) {
		if (json_object_get(a, k))
			continue;
		buf_printf(&d->path, "%s%s", old ? "." : "", k);
		emit(d, "add", NULL, v);
		d->path.len = old;
		d->path.p[old] = 0;
	}
}

json_t *catalog_doc_diff(const json_t *from, const json_t *to)
{
	struct diff d = {.out = json_array()};
	if (!d.out)
		return NULL;
	buf_init(&d.path, 4096);
	buf_puts(&d.path, "");
	diff_value(&d, from, to, 0);
	buf_release(&d.path);
	return d.out;
}

/* ---- problems as JSON ----------------------------------------------------------------- */

json_t *catalog_problems_json(const struct catalog_problems *pr, bool with_file)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < pr->n; i++) {
		const struct catalog_problem *p = &pr->v[i];
		json_t *o = json_pack("{s:s, s:s, s:b}", "path", p->path, "message", p->message,
		                      "warning", p->warning);
		if (o && with_file)
			json_object_set_new(o, "file", json_string(p->file));
		json_array_append_new(arr, o);
	}
	return arr;
}

/* ---- import --------------------------------------------------------------------------- */

enum err catalog_audit(struct db_conn *c, struct arena *a, const struct catalog_actor *who,
                       const char *action, const char *target, const char *detail)
{
	struct audit_entry ae = {
	    .actor_id = who->id,
	    .actor_name = who->name,
	    .action = action,
	    .target = target,
	    .detail = detail,
	    .client_ip = who->client_ip,
	    .trace_id = who->trace_id,
	};
	return audit_append(c, a, &ae);
}

static char *dump(const json_t *v)
{
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* Store one item document. The document may name an old code of an item whose change was
 * applied since: it is then rewritten to the current codes, so an import never undoes a
 * code change. */
static enum err import_item(struct db_conn *c, struct arena *a, const json_t *src,
                            const char *today, const struct catalog_actor *who, int64_t now,
                            struct catalog_import_result *res, struct catalog_problems *pr,
                            json_t *log_codes)
{
	struct catalog_item_row item;
	struct catalog_version_row latest;
	char hash[65];
	bool redirected = false;
	enum err e;
	char *text = NULL;
	json_t *doc = json_deep_copy(src);
	const char *code = json_string_value(json_object_get(src, "basic_code"));
	const char *dept = json_string_value(json_object_get(src, "department"));
	if (!doc)
		return ERR_NOMEM;
	if (!code || !dept) {
		e = ERR_INVALID;
		goto out;
	}
	const char *file = arena_printf(a, "items/%s/%s.json", dept, code);
	e = catalog_store_item_resolve(c, a, code, &item, &redirected);
	if (e && e != ERR_NOT_FOUND)
		goto out;
	bool found = e == ERR_OK;
	if (redirected)
		catalog_doc_recode(doc, code, item.code);
	if ((e = catalog_doc_hash(doc, hash)))
		goto out;
	if (!(text = dump(doc))) {
		e = ERR_NOMEM;
		goto out;
	}
	if (!found) {
		bool reserved = false;
		if ((e = catalog_store_code_reserved(c, a, code, &reserved)))
			goto out;
		if (reserved) {
			catalog_problems_add(pr, file, "basic_code", false,
			                     "事项编码 %s 已被编码变更占用，不能用作新事项的编码",
			                     code);
			goto out;
		}
		size_t i;
		json_t *sub;
		json_array_foreach (json_object_get(doc, "sub_items"), i, sub) {
			int64_t owner = 0;
			const char *sc = json_string_value(json_object_get(sub, "code"));
			if (sc && (e = catalog_store_sub_code_owner(c, a, sc, &owner)))
				goto out;
			if (owner)
				catalog_problems_add(
				    pr, file, arena_printf(a, "sub_items[%zu].code", i), false,
				    "子项编码 %s 已被目录中的其他事项使用", sc);
		}
		if (pr->errors)
			goto out;
		int64_t id = 0;
		if ((e = catalog_store_item_insert(c, a, code, dept, now, &id)) ||
		    (e = catalog_store_version_insert(c, a, id, "published", doc, text, hash, today,
		                                      0, who, now, NULL, NULL)))
			goto out;
		res->created++;
		json_array_append_new(log_codes, json_string(code));
		goto out;
	}
	e = catalog_store_version(c, a, item.id, "latest", 0, &latest);
	if (e && e != ERR_NOT_FOUND)
		goto out;
	if (!e && !strcmp(latest.hash, hash)) {
		res->unchanged++;
		goto out;
	}
	int base = e ? 0 : latest.version;
	if (strcmp(item.department, dept) &&
	    (e = catalog_store_item_update(c, a, item.id, item.code, dept, now)))
		goto out;
	if ((e = catalog_store_version_insert(c, a, item.id, "published", doc, text, hash, today,
	                                      base, who, now, NULL, NULL)))
		goto out;
	res->created++;
	json_array_append_new(log_codes, json_string(item.code));
out:
	free(text);
	json_decref(doc);
	return e;
}

static enum err import_change(struct db_conn *c, struct arena *a, const json_t *ch, size_t idx,
                              const struct catalog_actor *who, int64_t now,
                              struct catalog_import_result *res, struct catalog_problems *pr)
{
	struct db_rows *rs = NULL;
	struct catalog_item_row item;
	const char *old = json_string_value(json_object_get(ch, "old"));
	const char *new = json_string_value(json_object_get(ch, "new"));
	const char *eff = json_string_value(json_object_get(ch, "effective"));
	const char *reason = json_string_value(json_object_get(ch, "reason"));
	const char *path = arena_printf(a, "changes[%zu]", idx);
	if (!old || !new || !eff || !reason)
		return ERR_INVALID;
	enum err e = db_exec(
	    c, a, &rs, "SELECT old_code FROM catalog_code_changes WHERE new_code = ?", "s", new);
	if (e)
		return e;
	if (rs->nrows) {
		if (strcmp(db_text(rs, 0, 0), old))
			catalog_problems_add(pr, "code_changes.json", path, false,
			                     "新编码 %s 已由另一项编码变更（%s → %s）使用", new,
			                     db_text(rs, 0, 0), new);
		return ERR_OK;
	}
	e = catalog_store_item(c, a, old, &item);
	if (e == ERR_NOT_FOUND) {
		catalog_problems_add(pr, "code_changes.json", arena_printf(a, "%s.old", path),
		                     false, "目录中没有当前编码为 %s 的事项", old);
		return ERR_OK;
	}
	if (e)
		return e;
	if ((e = catalog_store_item(c, a, new, &item)) != ERR_NOT_FOUND) {
		if (!e)
			catalog_problems_add(pr, "code_changes.json",
			                     arena_printf(a, "%s.new", path), false,
			                     "新编码 %s 已是目录中另一事项的编码", new);
		return e == ERR_OK ? ERR_OK : e;
	}
	if ((e = catalog_store_item(c, a, old, &item)))
		return e;
	e = catalog_store_change_insert(c, a, item.id, old, new, eff, reason, who, now, NULL);
	if (!e)
		res->code_changes++;
	return e;
}

enum err catalog_import_set(struct server *srv, const struct catalog_set *set,
                            const struct catalog_actor *who, const char *source,
                            struct catalog_import_result *res, struct catalog_problems *pr)
{
	struct arena a;
	struct db_conn *c = NULL;
	char today[11], hash[65];
	char *text = NULL;
	int64_t import_id = 0, now = time_now_ms();
	bool changed = false;
	json_t *codes = json_array();
	arena_init(&a, 0);
	memset(res, 0, sizeof(*res));
	catalog_today(today);
	enum err e = codes ? db_acquire(srv->db, CATALOG_DB_WAIT_MS, &c) : ERR_NOMEM;
	if (e || (e = db_begin_write(c)) ||
	    (e = catalog_store_import_add(c, &a, source, who, now, &import_id)))
		goto out;
	if ((e = catalog_doc_hash(set->departments, hash)) || !(text = dump(set->departments))) {
		e = e ? e : ERR_NOMEM;
		goto out;
	}
	if ((e = catalog_store_doc_put(c, &a, "departments", "departments", text, hash, import_id,
	                               now, &changed)))
		goto out;
	const char *tid;
	json_t *table;
	json_object_foreach (set->code_tables, tid, table) {
		free(text);
		text = NULL;
		if ((e = catalog_doc_hash(table, hash)) || !(text = dump(table))) {
			e = e ? e : ERR_NOMEM;
			goto out;
		}
		if ((e = catalog_store_doc_put(c, &a, "code_table", tid, text, hash, import_id, now,
		                               &changed)))
			goto out;
	}
	size_t i;
	json_t *v;
	json_array_foreach (set->items, i, v) {
		if ((e = import_item(c, &a, v, today, who, now, res, pr, codes)))
			goto out;
	}
	json_array_foreach (json_object_get(set->code_changes, "changes"), i, v) {
		if ((e = import_change(c, &a, v, i, who, now, res, pr)))
			goto out;
	}
	if (pr->errors) {
		e = ERR_INVALID;
		goto out;
	}
	if ((e = catalog_apply_due(c, &a, today, who, &changed)) ||
	    (e = catalog_store_retire(c, &a, today)) || (e = catalog_store_meta_bump(c, &a)) ||
	    (e = catalog_store_import_finish(c, &a, import_id, res->created, res->unchanged)))
		goto out;
	json_t *detail = json_pack("{s:s, s:i, s:i, s:i, s:O}", "source", source, "created",
	                           res->created, "unchanged", res->unchanged, "code_changes",
	                           res->code_changes, "items", codes);
	char *dtext = detail ? dump(detail) : NULL;
	json_decref(detail);
	e = catalog_audit(c, &a, who, "catalog.import",
	                  arena_printf(&a, "catalog_import:%lld", (long long)import_id), dtext);
	free(dtext);
	if (!e)
		e = db_commit(c);
out:
	if (c)
		db_release(c); /* rolls back unless committed */
	free(text);
	json_decref(codes);
	arena_release(&a);
	if (!e)
		catalog_rebuild(srv);
	return e;
}

/* ---- bundles and directories ---------------------------------------------------------- */

static bool ident_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > 64 || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

static int mkdirs(const char *path)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(tmp, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static enum err write_json(const char *dir, const char *rel, const json_t *v, char *msg,
                           size_t msgsz)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	char *slash = strrchr(path, '/');
	*slash = 0;
	if (mkdirs(path) != 0) {
		snprintf(msg, msgsz, "无法创建目录 %s：%s", path, strerror(errno));
		return ERR_IO;
	}
	*slash = '/';
	char *text = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	if (!text)
		return ERR_NOMEM;
	FILE *f = fopen(path, "w");
	bool ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
	if (f && fclose(f) != 0)
		ok = false;
	free(text);
	if (!ok) {
		snprintf(msg, msgsz, "无法写入 %s：%s", path, strerror(errno));
		return ERR_IO;
	}
	return ERR_OK;
}

enum err catalog_write_dir(const json_t *bundle, const char *dir, char *msg, size_t msgsz)
{
	enum err e;
	const json_t *dep = json_object_get(bundle, "departments");
	const json_t *tables = json_object_get(bundle, "code_tables");
	const json_t *changes = json_object_get(bundle, "code_changes");
	if (dep && (e = write_json(dir, "departments.json", dep, msg, msgsz)))
		return e;
	const char *tid;
	json_t *t;
	json_object_foreach ((json_t *)tables, tid, t) {
		char rel[128];
		if (!ident_ok(tid))
			continue;
		snprintf(rel, sizeof(rel), "code_tables/%s.json", tid);
		if ((e = write_json(dir, rel, t, msg, msgsz)))
			return e;
	}
	size_t i;
	json_t *item;
	json_array_foreach (json_object_get(bundle, "items"), i, item) {
		char rel[160];
		const char *code = json_string_value(json_object_get(item, "basic_code"));
		const char *dept = json_string_value(json_object_get(item, "department"));
		if (!catalog_basic_code_ok(code) || !ident_ok(dept))
			continue;
		snprintf(rel, sizeof(rel), "items/%s/%s.json", dept, code);
		if ((e = write_json(dir, rel, item, msg, msgsz)))
			return e;
	}
	if (changes && (e = write_json(dir, "code_changes.json", changes, msg, msgsz)))
		return e;
	return ERR_OK;
}

enum err catalog_export_bundle(struct server *srv, struct arena *a, json_t **out)
{
	struct db_conn *c = NULL;
	struct db_rows *docs = NULL, *items = NULL, *changes = NULL;
	json_t *bundle = json_object(), *tables = json_object(), *list = json_array(),
	       *chl = json_array();
	*out = NULL;
	enum err e = bundle && tables && list && chl ? ERR_OK : ERR_NOMEM;
	if (e || (e = db_acquire(srv->db, CATALOG_DB_WAIT_MS, &c)) || (e = db_begin(c)) ||
	    (e = catalog_store_docs(c, a, &docs)) || (e = catalog_store_latest_all(c, a, &items)) ||
	    (e = db_exec(c, a, &changes,
	                 "SELECT old_code, new_code, effective, reason FROM catalog_code_changes"
	                 " ORDER BY id",
	                 "")))
		goto out;
	db_commit(c);
	json_t *departments = NULL;
	if ((e = catalog_store_docs_parse(docs, &departments, tables)))
		goto out;
	for (int r = 0; r < items->nrows; r++) {
		json_t *d = json_loads(db_text(items, r, 3), 0, NULL);
		if (!d) {
			e = ERR_INTEGRITY;
			goto out;
		}
		json_array_append_new(list, d);
	}
	for (int r = 0; r < changes->nrows; r++)
		json_array_append_new(
		    chl, json_pack("{s:s, s:s, s:s, s:s}", "old", db_text(changes, r, 0), "new",
		                   db_text(changes, r, 1), "effective", db_text(changes, r, 2),
		                   "reason", db_text(changes, r, 3)));
	json_object_set_new(bundle, "departments",
	                    departments ? departments : json_pack("{s:[]}", "departments"));
	json_object_set(bundle, "code_tables", tables);
	json_object_set(bundle, "items", list);
	json_object_set_new(bundle, "code_changes", json_pack("{s:O}", "changes", chl));
	*out = bundle;
	bundle = NULL;
out:
	if (c)
		db_release(c);
	json_decref(bundle);
	json_decref(tables);
	json_decref(list);
	json_decref(chl);
	return e;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* The shape a bundle must have before it is written out as files: anything that would not
 * become a file of its own (a missing code, a table without a valid id) is reported against
 * the bundle itself. */
static void check_bundle_shape(const json_t *b, struct arena *a, struct catalog_problems *pr)
{
	static const char *const keys[] = {"departments", "code_tables", "items", "code_changes"};
	const char *k;
	json_t *v;
	if (!json_is_object(b)) {
		catalog_problems_add(pr, "bundle", "", false, "导入内容应为 JSON 对象");
		return;
	}
	json_object_foreach ((json_t *)b, k, v) {
		bool known = false;
		for (size_t i = 0; i < 4; i++)
			known = known || !strcmp(k, keys[i]);
		if (!known)
			catalog_problems_add(
			    pr, "bundle", k, false,
			    "未知字段“%s”（只允许 departments、code_tables、items、"
			    "code_changes）",
			    k);
	}
	if (!json_is_object(json_object_get(b, "departments")))
		catalog_problems_add(pr, "bundle", "departments", false,
		                     "departments 应为 departments.json 的内容（JSON 对象）");
	const json_t *tables = json_object_get(b, "code_tables");
	if (!json_is_object(tables))
		catalog_problems_add(pr, "bundle", "code_tables", false,
		                     "code_tables 应为“代码表 id → 代码表”的 JSON 对象");
	json_object_foreach ((json_t *)tables, k, v) {
		if (!ident_ok(k))
			catalog_problems_add(
			    pr, "bundle", arena_printf(a, "code_tables.%s", k), false,
			    "代码表 id“%s”不合法（小写字母开头，只含小写字母、数字和下划线）", k);
	}
	const json_t *ch = json_object_get(b, "code_changes");
	if (ch && !json_is_object(ch))
		catalog_problems_add(pr, "bundle", "code_changes", false,
		                     "code_changes 应为 code_changes.json 的内容（JSON 对象）");
	const json_t *items = json_object_get(b, "items");
	if (!json_is_array(items)) {
		catalog_problems_add(pr, "bundle", "items", false, "items 应为事项数组");
		return;
	}
	size_t i;
	json_array_foreach (items, i, v) {
		const char *code = json_string_value(json_object_get(v, "basic_code"));
		const char *dept = json_string_value(json_object_get(v, "department"));
		if (!json_is_object(v)) {
			catalog_problems_add(pr, "bundle", arena_printf(a, "items[%zu]", i), false,
			                     "事项应为 JSON 对象");
			continue;
		}
		if (!catalog_basic_code_ok(code))
			catalog_problems_add(pr, "bundle",
			                     arena_printf(a, "items[%zu].basic_code", i), false,
			                     "基本编码应为 12 位数字或大写字母");
		if (!ident_ok(dept))
			catalog_problems_add(pr, "bundle",
			                     arena_printf(a, "items[%zu].department", i), false,
			                     "部门 id 不合法");
		for (size_t j = 0; j < i && code; j++) {
			const char *other = json_string_value(
			    json_object_get(json_array_get(items, j), "basic_code"));
			if (other && !strcmp(other, code)) {
				catalog_problems_add(
				    pr, "bundle", arena_printf(a, "items[%zu].basic_code", i),
				    false, "基本编码 %s 与 items[%zu] 重复", code, j);
				break;
			}
		}
	}
}

enum err catalog_import_bundle(struct server *srv, const json_t *bundle,
                               const struct catalog_actor *who, struct catalog_import_result *res,
                               struct catalog_problems *pr)
{
	char dir[PATH_MAX], msg[512] = "";
	struct catalog_set *set = NULL;
	enum err e;
	bool made = false;
	memset(res, 0, sizeof(*res));
	check_bundle_shape(bundle, pr->a, pr);
	if (pr->errors)
		return ERR_INVALID;
	snprintf(dir, sizeof(dir), "%s/catalog-import-XXXXXX", srv->cfg.data_dir);
	if (!mkdtemp(dir)) {
		log_error("catalog.import", "cannot make a scratch directory under %s: %s",
		          srv->cfg.data_dir, strerror(errno));
		return ERR_IO;
	}
	made = true;
	json_t *with_changes = json_copy((json_t *)bundle);
	if (!with_changes) {
		e = ERR_NOMEM;
		goto out;
	}
	if (!json_object_get(with_changes, "code_changes"))
		json_object_set_new(with_changes, "code_changes", json_pack("{s:[]}", "changes"));
	e = catalog_write_dir(with_changes, dir, msg, sizeof(msg));
	json_decref(with_changes);
	if (e) {
		log_error("catalog.import", "%s", msg);
		goto out;
	}
	if ((e = catalog_load_dir(dir, &set, pr)))
		goto out;
	e = catalog_import_set(srv, set, who, "api", res, pr);
out:
	catalog_set_destroy(set);
	if (made)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return e;
}
