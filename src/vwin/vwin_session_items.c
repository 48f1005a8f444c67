/* vwin_session_items.c: the terminal's list of 收受分离 items (seed row 4, docs/vwin.md
 * "收受分离 from the virtual window"): the current published catalog items with separated
 * true whose vwin_mode opens the virtual window (virtual or dual).
 *
 * Read straight from the catalog's tables (current version = the highest published one in
 * effect today, Asia/Shanghai, as the catalog's snapshot counts it) rather than through the
 * catalog's internal snapshot, so vwin depends on no private header. Parsing every item is
 * a few tens of milliseconds, so the answer is kept per (catalog generation, day): a
 * publication bumps the generation and the next read rebuilds it. */
#include <pthread.h>
#include <string.h>

#include "core/json.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "server/server_int.h"
#include "vwin/vwin_session_int.h"

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	const void *srv;
	int64_t generation;
	char day[11];
	json_t *items;
} cache;

static void today_cst(char out[11])
{
	int64_t y;
	int m, d;
	time_civil_from_days((time_now_ms() + 8 * 3600 * 1000LL) / 86400000LL, &y, &m, &d);
	snprintf(out, 11, "%04lld-%02d-%02d", (long long)y, m, d);
}

static json_t *department_of(const json_t *deps, const char *id)
{
	size_t i;
	json_t *d;
	json_array_foreach (json_object_get(deps, "departments"), i, d)
		if (!strcmp(json_get_str(d, "id") ? json_get_str(d, "id") : "", id ? id : ""))
			return json_pack("{s:s,s:s?,s:s?}", "id", id, "name",
			                 json_get_str(d, "name"), "short_name",
			                 json_get_str(d, "short_name"));
	return json_pack("{s:s?,s:s?,s:s?}", "id", id, "name", id, "short_name", id);
}

/* The list from the tables on c (a new reference). */
static enum err build(struct db_conn *c, struct arena *a, const char *day, json_t **out)
{
	struct db_rows *rs = NULL;
	json_t *deps = NULL, *items = json_array();
	enum err e = db_exec(c, a, &rs,
	                     "SELECT doc FROM catalog_docs WHERE kind = 'departments'"
	                     " ORDER BY id DESC LIMIT 1",
	                     "");
	if (!e && rs->nrows == 1)
		deps = json_loads(db_text(rs, 0, 0), 0, NULL);
	if (!e)
		e = db_exec(c, a, &rs,
		            "SELECT v.doc FROM catalog_versions v JOIN catalog_items i ON i.id ="
		            " v.item_id WHERE v.id = (SELECT x.id FROM catalog_versions x"
		            " WHERE x.item_id = v.item_id AND x.status = 'published'"
		            " AND x.effective_from <= ? ORDER BY x.version DESC LIMIT 1)"
		            " ORDER BY i.department, i.basic_code",
		            "s", day);
	for (int r = 0; !e && items && r < rs->nrows; r++) {
		json_t *doc = json_loads(db_text(rs, r, 0), 0, NULL);
		const char *mode = doc ? json_get_str(doc, "vwin_mode") : NULL;
		if (doc && json_is_true(json_object_get(doc, "separated")) && mode &&
		    (!strcmp(mode, "virtual") || !strcmp(mode, "dual"))) {
			json_t *subs = json_array(), *s;
			size_t i;
			json_array_foreach (json_object_get(doc, "sub_items"), i, s)
				json_array_append_new(
				    subs, json_pack("{s:s?,s:s?}", "code", json_get_str(s, "code"),
				                    "name", json_get_str(s, "name")));
			json_array_append_new(
			    items,
			    json_pack(
			        "{s:s?,s:s?,s:s?,s:o,s:s,s:b,s:b,s:o}", "code",
			        json_get_str(doc, "basic_code"), "name", json_get_str(doc, "name"),
			        "short_name", json_get_str(doc, "short_name"), "department",
			        department_of(deps, json_get_str(doc, "department")), "vwin_mode",
			        mode, "home_service",
			        json_is_true(json_object_get(doc, "home_service")), "citywide",
			        json_is_true(json_object_get(doc, "citywide")), "sub_items", subs));
		}
		json_decref(doc);
	}
	json_decref(deps);
	if (!e && !items)
		e = ERR_NOMEM;
	if (e)
		json_decref(items);
	else
		*out = items;
	return e;
}

enum err vwin_separated_items(struct server *srv, struct arena *a, json_t **out)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	json_t *items = NULL;
	char day[11];
	today_cst(day);
	enum err e = db_acquire(srv->db, VWIN_SESSION_DB_WAIT, &c);
	if (e)
		return e;
	if ((e = db_exec(c, a, &rs, "SELECT generation FROM catalog_meta WHERE id = 1", "")))
		goto out;
	int64_t gen = rs->nrows == 1 ? db_int(rs, 0, 0) : -1;
	pthread_mutex_lock(&cache_mu);
	if (cache.items && cache.srv == srv && cache.generation == gen && !strcmp(cache.day, day))
		items = json_incref(cache.items);
	pthread_mutex_unlock(&cache_mu);
	if (!items) {
		if ((e = build(c, a, day, &items)))
			goto out;
		pthread_mutex_lock(&cache_mu);
		json_decref(cache.items);
		cache.items = json_incref(items);
		cache.srv = srv;
		cache.generation = gen;
		memcpy(cache.day, day, sizeof(day));
		pthread_mutex_unlock(&cache_mu);
	}
	*out = json_pack("{s:o,s:I}", "items", items, "total", (json_int_t)json_array_size(items));
	if (!*out)
		e = ERR_NOMEM;
out:
	db_release(c);
	return e;
}
