/* gateway_flow_store.c: where flows live — the SQL of flow documents and run records
 * (migration 0008), the seed files (gateway/flows/), and `shouli admin flow check`, which
 * checks those files against the connector files without a database. */
#include "gateway/gateway_int.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "server/server_int.h"

#define FILE_MAX (4u << 20)

/* ---- flow documents ------------------------------------------------------------------ */

static enum err row_from(const struct db_rows *rs, int r, struct arena *a, struct gw_flow_row *out)
{
	memset(out, 0, sizeof(*out));
	out->id = db_int(rs, r, 0);
	out->name = db_text(rs, r, 1);
	out->title = db_text(rs, r, 2);
	out->rev = db_int(rs, r, 4);
	out->source = db_text(rs, r, 5);
	out->deleted = db_int(rs, r, 6) != 0;
	out->created_at = db_int(rs, r, 7);
	out->updated_at = db_int(rs, r, 8);
	out->updated_by = db_text(rs, r, 9);
	const char *doc = db_text(rs, r, 3);
	json_t *d = NULL;
	if (!doc || json_parse(doc, strlen(doc), &d, a, NULL)) {
		log_error("gateway.flow.store", "stored flow %s is not JSON", out->name);
		return ERR_INTEGRITY;
	}
	out->doc = json_arena_own(a, d);
	return ERR_OK;
}

#define FLOW_COLS "id, name, title, doc, rev, source, deleted, created_at, updated_at, updated_by"

enum err gw_flow_store_get(struct db_conn *c, struct arena *a, const char *name,
                           struct gw_flow_row *out)
{
	struct db_rows *rs;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT " FLOW_COLS " FROM gateway_flows WHERE name = ?"
	                     " AND deleted = 0",
	                     "s", name);
	if (e)
		return e;
	if (rs->nrows == 0)
		return ERR_NOT_FOUND;
	return row_from(rs, 0, a, out);
}

enum err gw_flow_store_list(struct db_conn *c, struct arena *a, const char *q,
                            struct gw_flow_row **out, int *n)
{
	struct db_rows *rs;
	enum err e;
	*out = NULL;
	*n = 0;
	if (q && *q) {
		const char *like = arena_printf(a, "%%%s%%", q);
		e = db_exec(c, a, &rs,
		            "SELECT " FLOW_COLS " FROM gateway_flows WHERE deleted = 0 AND "
		            "(name LIKE ? OR title LIKE ?) ORDER BY name",
		            "ss", like, like);
	} else {
		e = db_exec(
		    c, a, &rs,
		    "SELECT " FLOW_COLS " FROM gateway_flows WHERE deleted = 0 ORDER BY name", "");
	}
	if (e)
		return e;
	struct gw_flow_row *v = arena_alloc(a, sizeof(*v) * (size_t)(rs->nrows ? rs->nrows : 1));
	if (!v)
		return ERR_NOMEM;
	for (int i = 0; i < rs->nrows; i++)
		if ((e = row_from(rs, i, a, &v[i])))
			return e;
	*out = v;
	*n = rs->nrows;
	return ERR_OK;
}

enum err gw_flow_store_create(struct db_conn *c, struct arena *a, const json_t *doc,
                              const char *source, const char *user, int64_t now, int64_t *rev)
{
	struct db_rows *rs;
	const char *name = json_string_value(json_object_get(doc, "name"));
	const char *title = json_string_value(json_object_get(doc, "title"));
	char *text = json_dump_arena(doc, a);
	enum err e;
	if (!text)
		return ERR_NOMEM;
	/* A deleted flow of that name comes back to life with the next revision, so a run
	 * record's (flow, rev) never names two documents. */
	if ((e = db_exec(
	         c, a, &rs,
	         "UPDATE gateway_flows SET title = ?, doc = ?, rev = rev + 1, source = ?, "
	         "deleted = 0, updated_at = ?, updated_by = ? WHERE name = ? AND deleted = 1 "
	         "RETURNING rev",
	         "sssiss", title, text, source, now, user, name)))
		return e;
	if (rs->nrows == 1) {
		*rev = db_int(rs, 0, 0);
		return ERR_OK;
	}
	e = db_exec(
	    c, a, NULL,
	    "INSERT INTO gateway_flows (name, title, doc, rev, source, deleted, created_at, "
	    "updated_at, updated_by) VALUES (?, ?, ?, 1, ?, 0, ?, ?, ?)",
	    "ssssiis", name, title, text, source, now, now, user);
	if (!e)
		*rev = 1;
	return e;
}

enum err gw_flow_store_update(struct db_conn *c, struct arena *a, const json_t *doc,
                              int64_t expect_rev, const char *user, int64_t now, int64_t *rev)
{
	struct db_rows *rs;
	const char *name = json_string_value(json_object_get(doc, "name"));
	const char *title = json_string_value(json_object_get(doc, "title"));
	char *text = json_dump_arena(doc, a);
	enum err e;
	if (!text)
		return ERR_NOMEM;
	if ((e = db_exec(c, a, &rs,
	                 "UPDATE gateway_flows SET title = ?, doc = ?, rev = rev + 1, source = "
	                 "'admin', updated_at = ?, updated_by = ? WHERE name = ? AND rev = ? AND "
	                 "deleted = 0 RETURNING rev",
	                 "ssissi", title, text, now, user, name, expect_rev)))
		return e;
	if (rs->nrows == 1) {
		*rev = db_int(rs, 0, 0);
		return ERR_OK;
	}
	struct gw_flow_row cur;
	e = gw_flow_store_get(c, a, name, &cur);
	return e ? e : ERR_CONFLICT;
}

enum err gw_flow_store_delete(struct db_conn *c, struct arena *a, const char *name,
                              int64_t expect_rev, const char *user, int64_t now)
{
	struct db_rows *rs;
	enum err e;
	if (expect_rev > 0)
		e = db_exec(c, a, &rs,
		            "UPDATE gateway_flows SET deleted = 1, updated_at = ?, updated_by = ? "
		            "WHERE name = ? AND rev = ? AND deleted = 0 RETURNING id",
		            "issi", now, user, name, expect_rev);
	else
		e = db_exec(c, a, &rs,
		            "UPDATE gateway_flows SET deleted = 1, updated_at = ?, updated_by = ? "
		            "WHERE name = ? AND deleted = 0 RETURNING id",
		            "iss", now, user, name);
	if (e)
		return e;
	if (rs->nrows == 1)
		return ERR_OK;
	struct gw_flow_row cur;
	e = gw_flow_store_get(c, a, name, &cur);
	return e ? e : ERR_CONFLICT;
}

/* ---- runs ---------------------------------------------------------------------------- */

enum err gw_flow_store_run_begin(struct db_conn *c, struct arena *a,
                                 const struct gw_flow_run_rec *r, int64_t *id)
{
	struct db_rows *rs;
	enum err e = db_exec(c, a, &rs,
	                     "INSERT INTO gateway_runs (flow, flow_rev, mode, status, "
	                     "idempotency_key, event_id, attempt, trace_id, caller_module, "
	                     "caller_user, started_at) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, "
	                     "?, ?) RETURNING id",
	                     "sissiisssi", r->flow, r->flow_rev, r->mode, r->idempotency_key,
	                     r->event_id, (int64_t)r->attempt, r->trace_id, r->caller_module,
	                     r->caller_user, r->started_at);
	if (e)
		return e;
	*id = rs->nrows == 1 ? db_int(rs, 0, 0) : 0;
	return *id ? ERR_OK : ERR_DB;
}

static const char *dump_or_null(const json_t *v, struct arena *a)
{
	return v && !json_is_null(v) ? json_dump_arena(v, a) : NULL;
}

enum err gw_flow_store_run_finish(struct db_conn *c, struct arena *a, int64_t id,
                                  const struct gw_flow_run_end *end)
{
	enum err e;
	bool open = false;
	size_t n = json_array_size(end->steps);
	for (int attempt = 0; attempt < 2; attempt++) {
		if ((e = db_begin_write(c)))
			return e;
		open = true;
		for (size_t i = 0; i < n && !e; i++) {
			const json_t *s = json_array_get(end->steps, i);
			int64_t call_id = json_integer_value(json_object_get(s, "call_id"));
			int64_t http = json_integer_value(json_object_get(s, "http_status"));
			e = db_exec(
			    c, a, NULL,
			    "INSERT INTO gateway_run_steps (run_id, seq, step, kind, connector, "
			    "method, outcome, http_status, request, response, error, call_id, "
			    "attempts, started_at, duration_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
			    "?, ?, ?, ?, ?, ?)",
			    "iisssssisssiiii", id,
			    (int64_t)json_integer_value(json_object_get(s, "seq")),
			    json_get_str(s, "step"), json_get_str(s, "kind"),
			    json_get_str(s, "connector"), json_get_str(s, "method"),
			    json_get_str(s, "outcome"), http,
			    dump_or_null(json_object_get(s, "request"), a),
			    dump_or_null(json_object_get(s, "response"), a),
			    json_get_str(s, "error"), call_id,
			    (int64_t)json_integer_value(json_object_get(s, "attempts")),
			    (int64_t)json_integer_value(json_object_get(s, "started_at")),
			    (int64_t)json_integer_value(json_object_get(s, "duration_us")));
		}
		if (!e)
			e = db_exec(
			    c, a, NULL,
			    "UPDATE gateway_runs SET status = ?, failed_step = ?, error_code = ?, "
			    "error_message = ?, result = ?, steps = ?, finished_at = ?, "
			    "duration_us "
			    "= ? WHERE id = ?",
			    "sssssiiii", end->status, end->failed_step, end->error_code,
			    end->error_message, end->result, (int64_t)n, end->finished_at,
			    end->duration_us, id);
		if (!e) {
			e = db_commit(c);
			open = false;
		}
		if (e && open) {
			db_rollback(c);
			open = false;
		}
		if (e != ERR_CONFLICT)
			break;
	}
	return e;
}

#define RUN_COLS                                                                                   \
	"id, flow, flow_rev, mode, status, failed_step, error_code, error_message, result, "       \
	"idempotency_key, event_id, attempt, trace_id, caller_module, caller_user, steps, "        \
	"started_at, finished_at, duration_us"

static json_t *text_or_null(const struct db_rows *rs, int r, int c)
{
	const char *s = db_text(rs, r, c);
	return s ? json_string(s) : json_null();
}

static json_t *int_or_null(const struct db_rows *rs, int r, int c)
{
	return db_is_null(rs, r, c) ? json_null() : json_integer(db_int(rs, r, c));
}

static json_t *parsed_or_null(const struct db_rows *rs, int r, int c, struct arena *a)
{
	const char *s = db_text(rs, r, c);
	json_t *v = NULL;
	if (!s || json_parse(s, strlen(s), &v, a, NULL))
		return json_null();
	return v;
}

static json_t *run_json(const struct db_rows *rs, int r, struct arena *a)
{
	json_t *o = json_object();
	if (!o)
		return NULL;
	json_object_set_new(o, "id", json_integer(db_int(rs, r, 0)));
	json_object_set_new(o, "flow", text_or_null(rs, r, 1));
	json_object_set_new(o, "flow_rev", json_integer(db_int(rs, r, 2)));
	json_object_set_new(o, "mode", text_or_null(rs, r, 3));
	json_object_set_new(o, "status", text_or_null(rs, r, 4));
	json_object_set_new(o, "failed_step", text_or_null(rs, r, 5));
	json_object_set_new(o, "error_code", text_or_null(rs, r, 6));
	json_object_set_new(o, "error_message", text_or_null(rs, r, 7));
	json_object_set_new(o, "result", parsed_or_null(rs, r, 8, a));
	json_object_set_new(o, "idempotency_key", text_or_null(rs, r, 9));
	json_object_set_new(o, "event_id", int_or_null(rs, r, 10));
	json_object_set_new(o, "attempt", json_integer(db_int(rs, r, 11)));
	json_object_set_new(o, "trace_id", text_or_null(rs, r, 12));
	json_object_set_new(o, "caller_module", text_or_null(rs, r, 13));
	json_object_set_new(o, "caller_user", text_or_null(rs, r, 14));
	json_object_set_new(o, "steps", json_integer(db_int(rs, r, 15)));
	json_object_set_new(o, "started_at", json_integer(db_int(rs, r, 16)));
	json_object_set_new(o, "finished_at", int_or_null(rs, r, 17));
	json_object_set_new(o, "duration_us", int_or_null(rs, r, 18));
	return o;
}

enum err gw_flow_store_runs(struct db_conn *c, struct arena *a, const struct gw_flow_run_filter *f,
                            json_t **out)
{
	struct buf sql;
	struct db_val params[8];
	int np = 0;
	struct db_rows *rs = NULL;
	enum err e;
	*out = NULL;
	buf_init(&sql, 4096);
	e = buf_puts(&sql, "SELECT " RUN_COLS " FROM gateway_runs WHERE 1 = 1");
	if (!e && f->flow) {
		e = buf_puts(&sql, " AND flow = ?");
		params[np++] = (struct db_val){.type = DB_TEXT, .p = f->flow, .n = strlen(f->flow)};
	}
	if (!e && f->status) {
		e = buf_puts(&sql, " AND status = ?");
		params[np++] =
		    (struct db_val){.type = DB_TEXT, .p = f->status, .n = strlen(f->status)};
	}
	if (!e && f->idempotency_key) {
		e = buf_puts(&sql, " AND idempotency_key = ?");
		params[np++] = (struct db_val){
		    .type = DB_TEXT, .p = f->idempotency_key, .n = strlen(f->idempotency_key)};
	}
	if (!e && f->from) {
		e = buf_puts(&sql, " AND started_at >= ?");
		params[np++] = (struct db_val){.type = DB_INT, .i = f->from};
	}
	if (!e && f->to) {
		e = buf_puts(&sql, " AND started_at < ?");
		params[np++] = (struct db_val){.type = DB_INT, .i = f->to};
	}
	if (!e && f->before_id) {
		e = buf_puts(&sql, " AND id < ?");
		params[np++] = (struct db_val){.type = DB_INT, .i = f->before_id};
	}
	if (!e)
		e = buf_printf(&sql, " ORDER BY id DESC LIMIT %d", f->limit > 0 ? f->limit : 50);
	if (!e)
		e = db_execv(c, a, &rs, sql.p, params, np);
	buf_release(&sql);
	if (e)
		return e;
	json_t *arr = json_array();
	for (int i = 0; arr && i < rs->nrows; i++)
		if (json_array_append_new(arr, run_json(rs, i, a))) {
			json_decref(arr);
			arr = NULL;
		}
	if (!arr)
		return ERR_NOMEM;
	*out = arr;
	return ERR_OK;
}

enum err gw_flow_store_run_get(struct db_conn *c, struct arena *a, int64_t id, json_t **out)
{
	struct db_rows *rs, *st;
	enum err e;
	*out = NULL;
	if ((e = db_exec(c, a, &rs, "SELECT " RUN_COLS " FROM gateway_runs WHERE id = ?", "i", id)))
		return e;
	if (rs->nrows == 0)
		return ERR_NOT_FOUND;
	if ((e = db_exec(
	         c, a, &st,
	         "SELECT seq, step, kind, connector, method, outcome, http_status, request, "
	         "response, error, call_id, attempts, started_at, duration_us FROM "
	         "gateway_run_steps WHERE run_id = ? ORDER BY seq",
	         "i", id)))
		return e;
	json_t *run = run_json(rs, 0, a), *steps = json_array();
	if (!run || !steps) {
		json_decref(run);
		json_decref(steps);
		return ERR_NOMEM;
	}
	for (int i = 0; i < st->nrows; i++) {
		json_t *s = json_object();
		if (!s || json_array_append_new(steps, s))
			break;
		json_object_set_new(s, "seq", json_integer(db_int(st, i, 0)));
		json_object_set_new(s, "step", text_or_null(st, i, 1));
		json_object_set_new(s, "kind", text_or_null(st, i, 2));
		json_object_set_new(s, "connector", text_or_null(st, i, 3));
		json_object_set_new(s, "method", text_or_null(st, i, 4));
		json_object_set_new(s, "outcome", text_or_null(st, i, 5));
		json_object_set_new(s, "http_status", int_or_null(st, i, 6));
		json_object_set_new(s, "request", parsed_or_null(st, i, 7, a));
		json_object_set_new(s, "response", parsed_or_null(st, i, 8, a));
		json_object_set_new(s, "error", text_or_null(st, i, 9));
		json_object_set_new(s, "call_id", int_or_null(st, i, 10));
		json_object_set_new(s, "attempts", json_integer(db_int(st, i, 11)));
		json_object_set_new(s, "started_at", json_integer(db_int(st, i, 12)));
		json_object_set_new(s, "duration_us", json_integer(db_int(st, i, 13)));
	}
	json_object_set_new(run, "step_records", steps);
	*out = run;
	return ERR_OK;
}

/* ---- files: seeds and the offline check ---------------------------------------------- */

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* The *.json names in dir, sorted (heap array of heap strings; gw_flow_names_free). ERR_IO
 * when dir cannot be read. */
static enum err json_files(const char *dir, char ***out, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	*out = NULL;
	*n = 0;
	if (!d)
		return ERR_IO;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".json"))
			continue;
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 64;
			char **nv = realloc(v, nc * sizeof(*nv));
			if (!nv)
				break;
			v = nv;
			cap = nc;
		}
		if (!(v[cnt] = strdup(de->d_name)))
			break;
		cnt++;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), name_cmp);
	*out = v;
	*n = cnt;
	return ERR_OK;
}

static void names_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Read and parse one JSON file; *why (static or from a) on failure. */
static enum err read_json(const char *path, struct arena *a, json_t **out, const char **why)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[8192];
	size_t got;
	enum err e = ERR_OK;
	struct errinfo ei = {0};
	*out = NULL;
	if (!f) {
		*why = "文件无法打开";
		return ERR_IO;
	}
	buf_init(&b, FILE_MAX);
	while (!e && (got = fread(chunk, 1, sizeof(chunk), f)) > 0)
		e = buf_append(&b, chunk, got);
	if (ferror(f) && !e)
		e = ERR_IO;
	fclose(f);
	if (e) {
		*why = e == ERR_TOO_LARGE ? "文件过大" : "文件读取失败";
		buf_release(&b);
		return e;
	}
	e = json_parse(b.p ? b.p : "", b.len, out, a, &ei);
	buf_release(&b);
	if (e)
		*why = ei.msg ? ei.msg : err_message(e);
	return e;
}

/* Connector files as a registry: name → the set of method names. */
struct file_registry {
	json_t *conns; /* object: connector name → object of method name → true */
};

static int file_lookup(void *ctx, const char *connector, const char *method)
{
	const struct file_registry *r = ctx;
	const json_t *methods = json_object_get(r->conns, connector);
	if (!methods)
		return 1;
	return json_object_get(methods, method) ? 0 : 2;
}

static void problem_line(FILE *out, const char *file, const char *path, const char *msg)
{
	fprintf(out, "%s: %s%s%s\n", file, path && *path ? path : "", path && *path ? ": " : "",
	        msg);
}

static void load_connectors(const char *dir, struct file_registry *reg, struct arena *a, FILE *out,
                            size_t *errors, size_t *nconn)
{
	char **files = NULL;
	size_t n = 0;
	reg->conns = json_object();
	if (json_files(dir, &files, &n)) {
		problem_line(out, dir, "", "接口源目录无法读取");
		(*errors)++;
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const char *path = arena_printf(a, "%s/%s", dir, files[i]), *why = NULL;
		json_t *doc = NULL;
		if (read_json(path, a, &doc, &why)) {
			problem_line(out, path, "", why);
			(*errors)++;
			continue;
		}
		json_arena_own(a, doc);
		const char *name = json_string_value(json_object_get(doc, "name"));
		const json_t *methods = json_object_get(doc, "methods");
		if (!name || !json_is_array(methods)) {
			problem_line(out, path, "", "不是接口源文件（缺少 name 或 methods）");
			(*errors)++;
			continue;
		}
		json_t *set = json_object();
		size_t k;
		const json_t *m;
		json_array_foreach (methods, k, m) {
			const char *mn = json_string_value(json_object_get(m, "name"));
			if (mn)
				json_object_set_new(set, mn, json_true());
		}
		json_object_set_new(reg->conns, name, set);
		(*nconn)++;
	}
	names_free(files, n);
}

/* Flow names the catalog refers to: every "submit_flow" and every {"source":"lookup",
 * "flow":…} in the item files under catalog_dir/items/<dept>/. */
static void collect_refs(const json_t *v, json_t *names, const char *file)
{
	const char *k;
	const json_t *x;
	size_t i;
	if (json_is_object(v)) {
		const char *sf = json_string_value(json_object_get(v, "submit_flow"));
		if (sf && !json_object_get(names, sf))
			json_object_set_new(names, sf, json_string(file));
		const char *src = json_string_value(json_object_get(v, "source"));
		const char *lf = json_string_value(json_object_get(v, "flow"));
		if (src && !strcmp(src, "lookup") && lf && !json_object_get(names, lf))
			json_object_set_new(names, lf, json_string(file));
		json_object_foreach ((json_t *)v, k, x)
			collect_refs(x, names, file);
	} else if (json_is_array(v)) {
		json_array_foreach (v, i, x)
			collect_refs(x, names, file);
	}
}

static enum err catalog_refs(const char *catalog_dir, struct arena *a, json_t *names)
{
	const char *items = arena_printf(a, "%s/items", catalog_dir);
	DIR *d = items ? opendir(items) : NULL;
	struct dirent *de;
	if (!d)
		return ERR_IO;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		const char *sub = arena_printf(a, "%s/%s", items, de->d_name);
		char **files = NULL;
		size_t n = 0;
		if (!sub || json_files(sub, &files, &n))
			continue;
		for (size_t i = 0; i < n; i++) {
			const char *path = arena_printf(a, "%s/%s", sub, files[i]), *why;
			json_t *doc = NULL;
			if (path && !read_json(path, a, &doc, &why)) {
				collect_refs(doc, names,
				             arena_printf(a, "items/%s/%s", de->d_name, files[i]));
				json_decref(doc);
			}
		}
		names_free(files, n);
	}
	closedir(d);
	return ERR_OK;
}

int gateway_flow_check_main(int argc, char **argv)
{
	const char *flows_arg = NULL, *conn_arg = NULL, *catalog_arg = NULL;
	for (int i = 0; i < argc; i++) {
		const char **slot = !strcmp(argv[i], "--flows")        ? &flows_arg
		                    : !strcmp(argv[i], "--connectors") ? &conn_arg
		                    : !strcmp(argv[i], "--catalog")    ? &catalog_arg
		                                                       : NULL;
		if (slot && i + 1 < argc) {
			*slot = argv[++i];
		} else if ((!strcmp(argv[i], "--data") || !strcmp(argv[i], "--db") ||
		            !strcmp(argv[i], "--config")) &&
		           i + 1 < argc) {
			i++; /* accepted for symmetry with other tasks; the check never opens them
			      */
		} else {
			fprintf(stderr,
			        "usage: shouli admin flow check [--flows DIR] [--connectors DIR] "
			        "[--catalog DIR]\n");
			return 2;
		}
	}
	char *flows_dir = flows_arg ? strdup(flows_arg) : server_find_path("gateway/flows");
	char *conn_dir = conn_arg ? strdup(conn_arg) : server_find_path("gateway/connectors");
	struct arena a;
	struct file_registry reg = {0};
	struct gw_flow_registry fr = {.lookup = file_lookup, .ctx = &reg};
	json_t *seen = json_object(), *problems = json_array(), *refs = json_object();
	char **files = NULL;
	size_t n = 0, errors = 0, nconn = 0, nflows = 0, nsteps = 0;
	int rc = 1;
	arena_init(&a, 0);
	if (!flows_dir || !conn_dir || !seen || !problems || !refs) {
		fprintf(stderr, "shouli admin: out of memory\n");
		rc = 2;
		goto out;
	}
	int64_t t0 = time_mono_ns();
	load_connectors(conn_dir, &reg, &a, stdout, &errors, &nconn);
	if (json_files(flows_dir, &files, &n)) {
		problem_line(stdout, flows_dir, "", "流程目录无法读取");
		errors++;
	}
	for (size_t i = 0; i < n; i++) {
		const char *path = arena_printf(&a, "%s/%s", flows_dir, files[i]), *why = NULL;
		json_t *doc = NULL;
		if (read_json(path, &a, &doc, &why)) {
			problem_line(stdout, path, "", why);
			errors++;
			continue;
		}
		json_arena_own(&a, doc);
		json_array_clear(problems);
		size_t np = gw_flow_validate(doc, &fr, problems);
		size_t k;
		const json_t *p;
		json_array_foreach (problems, k, p)
			problem_line(stdout, path, json_string_value(json_object_get(p, "path")),
			             json_string_value(json_object_get(p, "message")));
		errors += np;
		const char *name = json_string_value(json_object_get(doc, "name"));
		if (name) {
			const char *want = arena_printf(&a, "%s.json", name);
			if (want && strcmp(want, files[i])) {
				problem_line(stdout, path, "name", "文件名应为流程名称加 .json");
				errors++;
			}
			if (json_object_get(seen, name)) {
				problem_line(stdout, path, "name", "流程名称与另一个文件重复");
				errors++;
			}
			json_object_set_new(seen, name, json_true());
		}
		nflows++;
		nsteps += json_array_size(json_object_get(doc, "steps"));
	}
	size_t missing = 0;
	if (catalog_arg) {
		if (catalog_refs(catalog_arg, &a, refs)) {
			problem_line(stdout, catalog_arg, "", "事项目录无法读取");
			errors++;
		}
		const char *k;
		const json_t *file;
		json_object_foreach (refs, k, file) {
			if (json_object_get(seen, k))
				continue;
			const char *msg = arena_printf(&a, "事项引用的流程“%s”没有流程文件", k);
			problem_line(stdout, json_string_value(file), "", msg ? msg : "");
			missing++;
		}
		errors += missing;
	}
	int64_t t1 = time_mono_ns();
	fflush(stdout);
	fprintf(
	    stderr, "flow check %s: %zu connectors, %zu flows, %zu steps%s; %zu errors (%.1f ms)\n",
	    flows_dir, nconn, nflows, nsteps,
	    catalog_arg ? arena_printf(&a, ", %zu catalog references", json_object_size(refs)) : "",
	    errors, (double)(t1 - t0) / 1e6);
	rc = errors ? 1 : 0;
out:
	names_free(files, n);
	json_decref(seen);
	json_decref(problems);
	json_decref(refs);
	json_decref(reg.conns);
	arena_release(&a);
	free(flows_dir);
	free(conn_dir);
	return rc;
}

/* The names stored already (live or deleted), as an object name → true (from a). */
static enum err known_names(struct db_conn *c, struct arena *a, json_t **out)
{
	struct db_rows *rs;
	enum err e = db_exec(c, a, &rs, "SELECT name FROM gateway_flows", "");
	json_t *known = json_arena_own(a, json_object());
	*out = NULL;
	if (e)
		return e;
	if (!known)
		return ERR_NOMEM;
	for (int i = 0; i < rs->nrows; i++)
		json_object_set_new(known, db_text(rs, i, 0), json_true());
	*out = known;
	return ERR_OK;
}

/* The flows of dir whose names were never stored go in, in one transaction. Files that do
 * not pass the check are logged and skipped. Several nodes starting at once: the unique name
 * makes the loser's transaction fail, and it tries again with what the winner stored. */
enum err gw_flow_seed(struct server *srv, const char *dir, const struct gw_flow_registry *reg,
                      int *added)
{
	char **files = NULL;
	size_t n = 0;
	struct arena a;
	struct db_conn *c = NULL;
	json_t *known = NULL, *docs = NULL;
	enum err e;
	*added = 0;
	if (json_files(dir, &files, &n)) {
		log_warn("gateway.flow.seed", "flow directory %s cannot be read: nothing seeded",
		         dir);
		return ERR_OK;
	}
	arena_init(&a, 0);
	if ((e = db_acquire(srv->db, 5000, &c)) || (e = known_names(c, &a, &known)))
		goto out;
	docs = json_arena_own(&a, json_array());
	json_t *problems = json_arena_own(&a, json_array());
	if (!docs || !problems) {
		e = ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *path = arena_printf(&a, "%s/%s", dir, files[i]), *why = NULL;
		json_t *doc = NULL;
		size_t len = strlen(files[i]);
		if (json_object_getn(known, files[i], len - 5))
			continue;
		if (read_json(path, &a, &doc, &why)) {
			log_warn("gateway.flow.seed", "%s skipped: %s", path, why);
			continue;
		}
		json_arena_own(&a, doc);
		json_array_clear(problems);
		const char *name = json_string_value(json_object_get(doc, "name"));
		if (gw_flow_validate(doc, reg, problems) || !name || strlen(name) != len - 5 ||
		    strncmp(name, files[i], len - 5)) {
			const json_t *p = json_array_get(problems, 0);
			log_warn("gateway.flow.seed", "%s skipped: %s %s", path,
			         p ? json_string_value(json_object_get(p, "path")) : "name",
			         p ? json_string_value(json_object_get(p, "message"))
			           : "文件名应为流程名称加 .json");
			continue;
		}
		json_array_append(docs, doc);
	}
	int64_t now = time_now_ms();
	for (int attempt = 0; attempt < 2 && json_array_size(docs); attempt++) {
		int count = 0;
		size_t i;
		json_t *doc;
		if ((e = db_begin_write(c)))
			goto out;
		json_array_foreach (docs, i, doc) {
			int64_t rev;
			if (json_object_get(known, json_string_value(json_object_get(doc, "name"))))
				continue;
			if ((e = gw_flow_store_create(c, &a, doc, "seed", "system", now, &rev)))
				break;
			count++;
		}
		if (!e && !(e = db_commit(c))) {
			*added = count;
			break;
		}
		db_rollback(c);
		if (e != ERR_EXISTS || (e = known_names(c, &a, &known)))
			break;
		e = ERR_EXISTS;
	}
out:
	if (c)
		db_release(c);
	names_free(files, n);
	arena_release(&a);
	return e;
}
