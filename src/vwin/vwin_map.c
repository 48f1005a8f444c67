/* vwin_map.c: the government map sync (政务地图, seed row 15; docs/vwin.md "Map"). The job
 * map.sync_points first pushes every extension point the map does not hold as it is now —
 * a new one is created (its map id stored), a changed one updated, an inactive or no longer
 * extension one deactivated — through the flow map.point_upsert, then reconciles district by
 * district through the flow map.reconcile, both ways: totals and fields (what the map has that
 * Shouli lacks, what Shouli has that the map lacks, differing name/address/coordinates/type/
 * status) and the day's changes (the map's change log against Shouli's pushes of the day).
 * Each mismatch, and each push the map refused, is a row of the run's problem ticket
 * (vwin_map_problems) for the operations centre.
 *
 * Idempotent: a point is pushed when its record no longer hashes to the stored map_hash, and
 * each push is stored (map id, hash, the push row) in its own write unit as soon as the map
 * answered. A rerun after a crash between the map's answer and that write pushes the point
 * again; the map deduplicates creates by Shouli's point code, so no second point appears. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "gateway/gateway.h"
#include "server/server.h"
#include "vwin/vwin_int.h"

#define MAX_PROBLEMS 5000

struct problem {
	const char *kind, *point, *detail;
};

struct run_ctx {
	struct arena *a;
	int64_t run_id, started, midnight, local_total, map_total, matched, changed_today;
	int64_t pushed, push_failed;
	bool manual;
	const char *outcome, *message;
	struct problem *p;
	int np;
};

/* ---- pure rules (unit-tested) ---- */

const char *vwin_map_type(const json_t *tags)
{
	static const struct {
		const char *word, *type;
	} words[] = {{"园区", "park"},      {"银行", "bank"},        {"养老", "elderly_care"},
	             {"楼宇", "building"},  {"居民区", "community"}, {"居委", "community"},
	             {"村委", "community"}, {"社区", "community"}};
	size_t i;
	const json_t *t;
	json_array_foreach (tags, i, t) {
		const char *s = json_string_value(t);
		for (size_t k = 0; s && k < sizeof(words) / sizeof(words[0]); k++)
			if (strstr(s, words[k].word))
				return words[k].type;
	}
	return "community";
}

void vwin_map_record_hash(const json_t *record, char out[65])
{
	char *s = json_dumps(record, JSON_COMPACT | JSON_SORT_KEYS);
	vwin_hash(s ? s : "", out);
	free(s);
}

enum vwin_map_op vwin_map_plan(bool extension, bool active, const char *map_id,
                               const char *stored_hash, const char *desired_hash)
{
	bool wanted = extension && active;
	if (!map_id || !map_id[0])
		return wanted ? VWIN_MAP_CREATE : VWIN_MAP_NONE;
	if (stored_hash && !strcmp(stored_hash, desired_hash))
		return VWIN_MAP_NONE;
	return wanted ? VWIN_MAP_UPDATE : VWIN_MAP_DEACTIVATE;
}

const char *vwin_map_op_name(enum vwin_map_op op)
{
	static const char *const names[] = {"none", "create", "update", "deactivate"};
	return names[op];
}

/* Does push p account for map change c? pass 0: the push's effect is the change's op; pass 1:
 * a create the map answered as a duplicate stands for the map's create Shouli lost (a crash
 * between the map's answer and Shouli's write). */
static bool accounts(const json_t *p, const json_t *c, int pass)
{
	const char *mid = json_get_str(p, "map_id"), *id = json_get_str(c, "point_id");
	const char *op = json_get_str(c, "op"), *eff = json_get_str(p, "effect");
	const char *pop = json_get_str(p, "op");
	if (!mid || !id || !op || !eff || strcmp(mid, id))
		return false;
	if (pass == 0)
		return !strcmp(eff, op);
	return !strcmp(eff, "none") && !strcmp(op, "create") && pop && !strcmp(pop, "create");
}

void vwin_map_changes_compare(const json_t *map_changes, const json_t *pushes, json_t *unknown,
                              json_t *unseen)
{
	size_t nc = json_array_size(map_changes), np = json_array_size(pushes);
	bool *used = calloc(nc + np + 1, sizeof(bool));
	if (!used)
		return;
	bool *done = used + nc;
	/* each push accounts for at most one change, in log order */
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = 0; k < np; k++) {
			for (size_t i = 0; !done[k] && i < nc; i++) {
				if (!used[i] && accounts(json_array_get(pushes, k),
				                         json_array_get(map_changes, i), pass))
					used[i] = done[k] = true;
			}
		}
	for (size_t i = 0; i < nc; i++)
		if (!used[i])
			json_array_append(unknown, json_array_get(map_changes, i));
	for (size_t k = 0; k < np; k++) {
		const char *eff = json_get_str(json_array_get(pushes, k), "effect");
		if (!done[k] && eff && strcmp(eff, "none"))
			json_array_append(unseen, json_array_get(pushes, k));
	}
	free(used);
}

/* ---- the run ---- */

static enum err run_start_unit(struct db_conn *c, void *ctx)
{
	struct run_ctx *x = ctx;
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, x->a, &rs,
	                     "INSERT INTO vwin_map_runs (started_at, outcome, manual) VALUES (?,"
	                     " 'running', ?) RETURNING id",
	                     "ii", x->started, (int64_t)x->manual);
	if (!e)
		x->run_id = db_int(rs, 0, 0);
	return e;
}

static enum err run_end_unit(struct db_conn *c, void *ctx)
{
	struct run_ctx *x = ctx;
	int64_t now = time_now_ms();
	enum err e = db_exec(c, x->a, NULL,
	                     "UPDATE vwin_map_runs SET finished_at = ?, outcome = ?, local_total ="
	                     " ?, map_total = ?, matched = ?, changed_today = ?, problems = ?,"
	                     " message = ?, pushed = ?, push_failed = ? WHERE id = ?",
	                     "isiiiiisiii", now, x->outcome, x->local_total, x->map_total,
	                     x->matched, x->changed_today, (int64_t)x->np, x->message, x->pushed,
	                     x->push_failed, x->run_id);
	for (int i = 0; !e && i < x->np; i++)
		e = db_exec(c, x->a, NULL,
		            "INSERT INTO vwin_map_problems (run_id, kind, point, detail, state,"
		            " created_at) VALUES (?, ?, ?, ?, 'open', ?)",
		            "isssi", x->run_id, x->p[i].kind, x->p[i].point, x->p[i].detail, now);
	if (!e && x->np == 0) /* a clean run closes nothing by itself, but records the sync */
		e = db_exec(c, x->a, NULL,
		            "UPDATE vwin_points SET map_synced_at = ? WHERE map_id IS NOT NULL",
		            "i", now);
	return e;
}

static void add_problem(struct run_ctx *x, const char *kind, const char *point, json_t *detail)
{
	if (x->np >= MAX_PROBLEMS) {
		json_decref(detail);
		return;
	}
	x->p[x->np].kind = kind;
	x->p[x->np].point = arena_strdup(x->a, point ? point : "");
	x->p[x->np].detail = detail ? json_dump_arena(detail, x->a) : "{}";
	json_decref(detail);
	x->np++;
}

static double num(const struct db_rows *rs, int r, int c)
{
	const struct db_val *v = db_cell(rs, r, c);
	return v->type == DB_REAL ? v->d : (double)v->i;
}

#define POINT_COLS                                                                                 \
	"p.id, p.code, p.name, p.address, p.lng, p.lat, p.active, p.map_id, SUBSTR(o.code, 1, 6)," \
	" p.updated_at, p.kind, p.tags, o.name, p.map_hash"
enum {
	C_ID,
	C_CODE,
	C_NAME,
	C_ADDR,
	C_LNG,
	C_LAT,
	C_ACTIVE,
	C_MAPID,
	C_DIST,
	C_UPD,
	C_KIND,
	C_TAGS,
	C_CENTRE,
	C_HASH
};

static enum err load_points(struct server *srv, struct arena *a, struct db_rows **rs)
{
	struct db_conn *c = NULL;
	enum err e = db_acquire(srv->db, VWIN_DB_WAIT_MS, &c);
	if (e)
		return e;
	e = db_exec(c, a, rs,
	            "SELECT " POINT_COLS " FROM vwin_points p JOIN orgs o ON o.id = p.org_id"
	            " WHERE p.kind = 'extension' OR p.map_id IS NOT NULL ORDER BY"
	            " SUBSTR(o.code, 1, 6), p.code",
	            "");
	db_release(c);
	return e;
}

static bool wanted(const struct db_rows *rs, int r)
{
	return !strcmp(db_text(rs, r, C_KIND), "extension") && db_int(rs, r, C_ACTIVE);
}

/* What the map should hold for row r (new object): the fields pushed and hashed. */
static json_t *record_of(const struct db_rows *rs, int r)
{
	json_t *tags = json_loads(db_text(rs, r, C_TAGS) ? db_text(rs, r, C_TAGS) : "[]", 0, NULL);
	json_t *rec = json_pack("{s:s,s:s,s:s,s:f,s:f,s:s,s:s}", "name", db_text(rs, r, C_NAME),
	                        "address", db_text(rs, r, C_ADDR), "district",
	                        db_text(rs, r, C_DIST), "lng", round(num(rs, r, C_LNG) * 1e6) / 1e6,
	                        "lat", round(num(rs, r, C_LAT) * 1e6) / 1e6, "type",
	                        vwin_map_type(tags), "centre", db_text(rs, r, C_CENTRE));
	json_decref(tags);
	return rec;
}

struct push_ctx {
	struct run_ctx *x;
	int64_t point_id;
	const char *code, *map_id, *op, *effect, *outcome, *message, *hash;
};

static enum err push_unit(struct db_conn *c, void *ctx)
{
	struct push_ctx *p = ctx;
	int64_t now = time_now_ms();
	enum err e =
	    db_exec(c, p->x->a, NULL,
	            "INSERT INTO vwin_map_pushes (run_id, point, map_id, op, effect,"
	            " outcome, message, hash, pushed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	            "isssssssi", p->x->run_id, p->code, p->map_id, p->op, p->effect, p->outcome,
	            p->message, p->hash, now);
	if (e || strcmp(p->outcome, "ok"))
		return e;
	/* the first map id is an edit an open admin form must not overwrite: bump the version */
	return db_exec(c, p->x->a, NULL,
	               "UPDATE vwin_points SET version = version + CASE WHEN map_id IS NULL THEN 1"
	               " ELSE 0 END, map_id = COALESCE(map_id, ?), map_hash = ?, map_pushed_at = ?"
	               " WHERE id = ?",
	               "ssii", p->map_id, p->hash, now, p->point_id);
}

/* Push the points the map does not hold as they are; a refused push is a problem. */
static enum err push_points(struct server *srv, struct run_ctx *x, const struct db_rows *rs)
{
	struct gateway_caller gc = {.module = "vwin", .user = "system"};
	enum err e = ERR_OK;
	for (int r = 0; r < rs->nrows; r++) {
		json_t *rec = json_arena_own(x->a, record_of(rs, r));
		if (!rec)
			return ERR_NOMEM;
		char hash[65];
		if (wanted(rs, r))
			vwin_map_record_hash(rec, hash);
		else
			snprintf(hash, sizeof(hash), "inactive");
		const char *map_id = db_text(rs, r, C_MAPID);
		enum vwin_map_op op = vwin_map_plan(!strcmp(db_text(rs, r, C_KIND), "extension"),
		                                    db_int(rs, r, C_ACTIVE) != 0, map_id,
		                                    db_text(rs, r, C_HASH), hash);
		if (op == VWIN_MAP_NONE)
			continue;
		json_t *params = json_arena_own(x->a, json_deep_copy(rec));
		json_object_set_new(params, "op", json_string(vwin_map_op_name(op)));
		json_object_set_new(params, "source_code", json_string(db_text(rs, r, C_CODE)));
		if (map_id)
			json_object_set_new(params, "map_id", json_string(map_id));
		json_t *res = NULL;
		struct errinfo ei = {0};
		enum err fe = gateway_flow_run(srv, "map.point_upsert", params, &gc, false, x->a,
		                               &res, NULL, NULL, &ei);
		struct push_ctx p = {.x = x,
		                     .point_id = db_int(rs, r, C_ID),
		                     .code = db_text(rs, r, C_CODE),
		                     .map_id = map_id,
		                     .op = vwin_map_op_name(op),
		                     .effect = "none",
		                     .outcome = fe ? "failed" : "ok",
		                     .hash = hash};
		if (fe) {
			p.message = ei.msg ? ei.msg : err_message(fe);
			x->push_failed++;
			add_problem(x, "push_failed", p.code,
			            json_pack("{s:s,s:s?,s:s,s:s}", "op", p.op, "map_id", map_id,
			                      "name", db_text(rs, r, C_NAME), "message",
			                      p.message));
		} else {
			static const char *const steps[] = {"update_op", "sync_op", "deactivate_op",
			                                    "create_op"};
			for (size_t k = 0; k < 4; k++) {
				const char *o = json_get_str(res, steps[k]);
				if (o && strcmp(o, "none")) {
					p.effect = o;
					break;
				}
			}
			if (!p.map_id)
				p.map_id = json_get_str(res, "created_id");
			if (!p.map_id) {
				p.outcome = "failed";
				p.message = "政务地图未返回地图编号";
				x->push_failed++;
				add_problem(x, "push_failed", p.code,
				            json_pack("{s:s,s:s,s:s}", "op", p.op, "name",
				                      db_text(rs, r, C_NAME), "message",
				                      p.message));
			} else
				x->pushed++;
		}
		if ((e = db_write_unit(srv->db, push_unit, &p, VWIN_DB_WAIT_MS)))
			return e;
	}
	return e;
}

/* Shouli's ok pushes of the day ([{point, map_id, effect, district}], arena-owned). */
static enum err day_pushes(struct server *srv, struct run_ctx *x, json_t **out)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_acquire(srv->db, VWIN_DB_WAIT_MS, &c);
	if (e)
		return e;
	e = db_exec(c, x->a, &rs,
	            "SELECT m.point, m.map_id, m.effect, SUBSTR(o.code, 1, 6), m.op FROM"
	            " vwin_map_pushes m"
	            " JOIN vwin_points p ON p.code = m.point JOIN orgs o ON o.id = p.org_id WHERE"
	            " m.outcome = 'ok' AND m.pushed_at >= ? AND m.map_id IS NOT NULL ORDER BY m.id",
	            "i", x->midnight);
	db_release(c);
	if (e)
		return e;
	*out = json_arena_own(x->a, json_array());
	for (int r = 0; *out && r < rs->nrows; r++)
		json_array_append_new(
		    *out, json_pack("{s:s,s:s,s:s,s:s,s:s}", "point", db_text(rs, r, 0), "map_id",
		                    db_text(rs, r, 1), "effect", db_text(rs, r, 2), "district",
		                    db_text(rs, r, 3), "op", db_text(rs, r, 4)));
	return *out ? ERR_OK : ERR_NOMEM;
}

/* Reconcile one district: points (stolen) are its points with a map id; local maps map id →
 * point code. */
static enum err reconcile_district(struct server *srv, struct run_ctx *x, const char *district,
                                   json_t *points, const json_t *local, const json_t *pushes,
                                   const char *date)
{
	struct gateway_caller gc = {.module = "vwin", .user = "system"};
	json_t *params = json_arena_own(
	    x->a, json_pack("{s:s,s:o,s:s}", "district", district, "points", points, "date", date));
	json_t *res = NULL;
	struct errinfo ei = {0};
	enum err e =
	    gateway_flow_run(srv, "map.reconcile", params, &gc, false, x->a, &res, NULL, NULL, &ei);
	if (e) {
		x->message = ei.msg ? ei.msg : "政务地图对账调用失败";
		return e;
	}
	const json_t *v;
	size_t i;
	int64_t matched = json_get_int(res, "matched", 0);
	x->matched += matched;
	x->map_total += json_get_int(res, "map_total", 0);
	json_array_foreach (json_object_get(res, "missing"), i, v)
		add_problem(x, "missing_local", json_string_value(v),
		            json_pack("{s:s,s:s}", "district", district, "message",
		                      "政务地图有该延伸点，本系统没有"));
	json_array_foreach (json_object_get(res, "extra"), i, v) {
		const char *mid = json_string_value(v);
		add_problem(x, "missing_map", json_get_str(local, mid),
		            json_pack("{s:s?,s:s}", "map_id", mid, "message",
		                      "本系统的地图编号在政务地图中不存在"));
	}
	json_array_foreach (json_object_get(res, "changed"), i, v) {
		const char *mid = json_get_str(v, "point_id");
		add_problem(
		    x, "changed", json_get_str(local, mid),
		    json_pack("{s:s?,s:O}", "map_id", mid, "fields", json_object_get(v, "fields")));
	}
	/* the day's changes: the map's log of the district against Shouli's pushes there */
	json_t *mine = json_arena_own(x->a, json_array());
	json_t *unknown = json_arena_own(x->a, json_array());
	json_t *unseen = json_arena_own(x->a, json_array());
	if (!mine || !unknown || !unseen)
		return ERR_NOMEM;
	json_array_foreach (pushes, i, v)
		if (!strcmp(json_get_str(v, "district"), district))
			json_array_append(mine, (json_t *)v);
	vwin_map_changes_compare(json_object_get(res, "changes"), mine, unknown, unseen);
	json_array_foreach (unknown, i, v)
		add_problem(x, "change_unmatched",
		            json_get_str(local, json_get_str(v, "point_id"))
		                ? json_get_str(local, json_get_str(v, "point_id"))
		                : json_get_str(v, "point_id"),
		            json_pack("{s:s,s:s?,s:s?,s:s?,s:O?,s:s}", "side", "map", "map_id",
		                      json_get_str(v, "point_id"), "op", json_get_str(v, "op"),
		                      "at", json_get_str(v, "at"), "fields",
		                      json_object_get(v, "fields"), "message",
		                      "政务地图今日有一项本系统未推送的变更"));
	json_array_foreach (unseen, i, v)
		add_problem(x, "change_unmatched", json_get_str(v, "point"),
		            json_pack("{s:s,s:s?,s:s?,s:s}", "side", "local", "map_id",
		                      json_get_str(v, "map_id"), "op", json_get_str(v, "effect"),
		                      "message",
		                      "本系统今日推送的变更不在政务地图的当日变更日志中"));
	return ERR_OK;
}

static enum err reconcile_all(struct server *srv, struct run_ctx *x)
{
	struct db_rows *rs = NULL;
	json_t *pushes = NULL;
	enum err e;
	if ((e = load_points(srv, x->a, &rs)) || (e = day_pushes(srv, x, &pushes)))
		return e;
	/* the date of the day's changes in China Standard Time, as the map keeps its log */
	char date[16];
	time_t secs = (time_t)((x->started + 8 * 3600000LL) / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	for (int r = 0; r < rs->nrows;) {
		const char *district = db_text(rs, r, C_DIST);
		json_t *mine = json_array(), *local = json_arena_own(x->a, json_object());
		int k = r;
		for (; k < rs->nrows && !strcmp(db_text(rs, k, C_DIST), district); k++) {
			if (wanted(rs, k)) {
				x->local_total++;
				if (db_int(rs, k, C_UPD) >= x->midnight)
					x->changed_today++;
			}
			const char *mid = db_text(rs, k, C_MAPID);
			if (!mid) {
				bool failed = false;
				for (int i = 0; i < x->np && !failed; i++)
					failed = !strcmp(x->p[i].kind, "push_failed") &&
					         !strcmp(x->p[i].point, db_text(rs, k, C_CODE));
				if (wanted(rs, k) && !failed)
					add_problem(
					    x, "missing_map", db_text(rs, k, C_CODE),
					    json_pack("{s:s,s:s}", "name", db_text(rs, k, C_NAME),
					              "message",
					              "政务地图中尚无该延伸点（未取得地图编号）"));
				continue;
			}
			/* a point withdrawn from the map is compared by its status only */
			json_t *rec = wanted(rs, k) ? record_of(rs, k) : json_object();
			json_object_set_new(rec, "point_id", json_string(mid));
			json_object_set_new(rec, "status",
			                    json_string(wanted(rs, k) ? "active" : "inactive"));
			json_object_del(rec, "centre");
			json_object_del(rec, "district");
			json_array_append_new(mine, rec);
			json_object_set_new(local, mid, json_string(db_text(rs, k, C_CODE)));
		}
		r = k;
		if (json_array_size(mine) == 0) {
			json_decref(mine);
			continue;
		}
		if ((e = reconcile_district(srv, x, district, mine, local, pushes, date)))
			return e;
	}
	return ERR_OK;
}

enum err vwin_map_sync(struct server *srv, bool manual, struct arena *a, int64_t *run_id, char *msg,
                       size_t msgsz)
{
	struct db_rows *rs = NULL;
	struct run_ctx x = {.a = a, .started = time_now_ms(), .manual = manual, .outcome = "ok"};
	enum err e;
	x.p = arena_zalloc(a, MAX_PROBLEMS * sizeof(*x.p));
	if (!x.p)
		return ERR_NOMEM;
	if ((e = db_write_unit(srv->db, run_start_unit, &x, VWIN_DB_WAIT_MS)))
		return e;
	if (run_id)
		*run_id = x.run_id;
	/* the day (Asia/Shanghai) whose changes are reconciled */
	int64_t cst = x.started + 8 * 3600000LL;
	x.midnight = cst - cst % 86400000LL - 8 * 3600000LL;
	if (!(e = load_points(srv, a, &rs)) && !(e = push_points(srv, &x, rs)))
		e = reconcile_all(srv, &x);
	if (e) {
		x.outcome = "failed";
		if (!x.message)
			x.message = err_message(e);
	} else {
		x.outcome = x.np ? "mismatch" : "ok";
		x.message = arena_printf(
		    a,
		    "推送 %lld 个（失败 %lld 个）；本地 %lld 个延伸点，地图 %lld"
		    " 个，一致 %lld 个，问题 %d 条",
		    (long long)x.pushed, (long long)x.push_failed, (long long)x.local_total,
		    (long long)x.map_total, (long long)x.matched, x.np);
	}
	enum err e2 = db_write_unit(srv->db, run_end_unit, &x, VWIN_DB_WAIT_MS);
	if (msg && msgsz)
		snprintf(msg, msgsz, "%s", x.message ? x.message : "");
	if (x.np)
		log_warn("vwin.map", "map sync run %lld: %lld pushed, %lld failed, %d problems",
		         (long long)x.run_id, (long long)x.pushed, (long long)x.push_failed, x.np);
	return e ? e : e2;
}

enum err vwin_map_runs(struct server *srv, struct arena *a, json_t **out)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_acquire(srv->db, VWIN_DB_WAIT_MS, &c);
	if (e)
		return e;
	e = db_exec(c, a, &rs,
	            "SELECT r.id, r.started_at, r.finished_at, r.outcome, r.local_total,"
	            " r.map_total, r.matched, r.changed_today, r.problems, r.message, r.manual,"
	            " (SELECT COUNT(*) FROM vwin_map_problems p WHERE p.run_id = r.id AND"
	            " p.state = 'open'), r.pushed, r.push_failed FROM vwin_map_runs r ORDER BY"
	            " r.id DESC LIMIT 100",
	            "");
	db_release(c);
	if (e)
		return e;
	json_t *arr = json_array();
	for (int r = 0; arr && r < rs->nrows; r++)
		json_array_append_new(
		    arr,
		    json_pack("{s:I,s:I,s:o,s:s,s:I,s:I,s:I,s:I,s:I,s:s?,s:b,s:I,s:I,s:I}", "id",
		              (json_int_t)db_int(rs, r, 0), "started_at",
		              (json_int_t)db_int(rs, r, 1), "finished_at",
		              db_is_null(rs, r, 2) ? json_null() : json_integer(db_int(rs, r, 2)),
		              "outcome", db_text(rs, r, 3), "local_total",
		              (json_int_t)db_int(rs, r, 4), "map_total",
		              (json_int_t)db_int(rs, r, 5), "matched", (json_int_t)db_int(rs, r, 6),
		              "changed_today", (json_int_t)db_int(rs, r, 7), "problems",
		              (json_int_t)db_int(rs, r, 8), "message", db_text(rs, r, 9), "manual",
		              db_int(rs, r, 10) != 0, "open", (json_int_t)db_int(rs, r, 11),
		              "pushed", (json_int_t)db_int(rs, r, 12), "push_failed",
		              (json_int_t)db_int(rs, r, 13)));
	*out = arr ? json_pack("{s:o}", "runs", arr) : NULL;
	return *out ? ERR_OK : ERR_NOMEM;
}

enum err vwin_map_problems(struct server *srv, struct arena *a, int64_t run_id, const char *state,
                           json_t **out)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_acquire(srv->db, VWIN_DB_WAIT_MS, &c);
	if (e)
		return e;
	e = db_exec(c, a, &rs,
	            "SELECT id, run_id, kind, point, detail, state, note, created_at, closed_at"
	            " FROM vwin_map_problems WHERE (CAST(? AS BIGINT) = 0 OR run_id = ?) AND"
	            " (CAST(? AS TEXT) IS NULL OR state = ?) ORDER BY id DESC LIMIT 1000",
	            "iiss", run_id, run_id, state, state);
	db_release(c);
	if (e)
		return e;
	json_t *arr = json_array();
	for (int r = 0; arr && r < rs->nrows; r++) {
		json_t *d = json_loads(db_text(rs, r, 4) ? db_text(rs, r, 4) : "{}", 0, NULL);
		json_array_append_new(
		    arr,
		    json_pack("{s:I,s:I,s:s,s:s,s:o,s:s,s:s?,s:I,s:o}", "id",
		              (json_int_t)db_int(rs, r, 0), "run_id", (json_int_t)db_int(rs, r, 1),
		              "kind", db_text(rs, r, 2), "point", db_text(rs, r, 3), "detail",
		              d ? d : json_object(), "state", db_text(rs, r, 5), "note",
		              db_text(rs, r, 6), "created_at", (json_int_t)db_int(rs, r, 7),
		              "closed_at",
		              db_is_null(rs, r, 8) ? json_null() : json_integer(db_int(rs, r, 8))));
	}
	*out = arr ? json_pack("{s:o}", "problems", arr) : NULL;
	return *out ? ERR_OK : ERR_NOMEM;
}

struct close_ctx {
	const struct vwin_caller *by;
	struct arena *a;
	struct errinfo *ei;
	int64_t id;
	const char *note;
};

static enum err close_unit(struct db_conn *c, void *ctx)
{
	struct close_ctx *x = ctx;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	enum err e = db_exec(c, x->a, &rs,
	                     "UPDATE vwin_map_problems SET state = 'closed', note = ?, closed_at ="
	                     " ?, closed_by = ? WHERE id = ? AND state = 'open'",
	                     "siii", x->note, now, x->by->who->user_id, x->id);
	if (e)
		return e;
	if (rs->changes != 1)
		return err_fail(x->ei, ERR_BAD_STATE, NULL, "问题不存在或已关闭");
	json_t *d = json_pack("{s:s}", "note", x->note);
	e = vwin_audit(c, x->a, x->by, "vwin.map_problem.close",
	               arena_printf(x->a, "vwin_map_problem:%lld", (long long)x->id), d);
	json_decref(d);
	return e;
}

enum err vwin_map_problem_close(struct server *srv, const struct vwin_caller *by, struct arena *a,
                                int64_t id, const char *note, json_t **out, struct errinfo *ei)
{
	struct close_ctx x = {.by = by, .a = a, .ei = ei, .id = id, .note = note};
	enum err e = db_write_unit(srv->db, close_unit, &x, VWIN_DB_WAIT_MS);
	if (e)
		return e;
	*out = json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "state", "closed", "note", note);
	return *out ? ERR_OK : ERR_NOMEM;
}
