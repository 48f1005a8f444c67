/* catalog_pinned.c: the documents of pinned catalog versions, cached, and a hold on the
 * current reference data (catalog.h, section "Pinned versions").
 *
 * Published versions are immutable, so a parsed document can be shared by every request
 * that evaluates a case of that version: the hot path of acceptance then costs no JSON
 * parse of a 50 KB item document. The cache is a small array scanned linearly (a centre
 * works with a few dozen sub-items at once; 256 entries scan in well under a microsecond)
 * with least-recently-used eviction. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "catalog/catalog.h"
#include "catalog/catalog_admin_int.h"
#include "core/json.h"
#include "core/log.h"
#include "db/db.h"

#define DEFAULT_CAP 256

struct doc_slot {
	int64_t version_id; /* 0 = empty */
	json_t *doc;
	uint64_t used; /* tick of the last use */
};

struct catalog_doc_cache {
	pthread_mutex_t mu;
	struct doc_slot *slot;
	size_t cap;
	uint64_t tick;
	atomic_uint_fast64_t hits, misses;
};

enum err catalog_doc_cache_create(size_t cap, struct catalog_doc_cache **out)
{
	struct catalog_doc_cache *dc = calloc(1, sizeof(*dc));
	*out = NULL;
	if (!dc)
		return ERR_NOMEM;
	dc->cap = cap ? cap : DEFAULT_CAP;
	dc->slot = calloc(dc->cap, sizeof(*dc->slot));
	if (!dc->slot) {
		free(dc);
		return ERR_NOMEM;
	}
	pthread_mutex_init(&dc->mu, NULL);
	*out = dc;
	return ERR_OK;
}

void catalog_doc_cache_destroy(struct catalog_doc_cache *dc)
{
	if (!dc)
		return;
	for (size_t i = 0; i < dc->cap; i++)
		json_decref(dc->slot[i].doc);
	pthread_mutex_destroy(&dc->mu);
	free(dc->slot);
	free(dc);
}

void catalog_doc_cache_stats(struct catalog_doc_cache *dc, uint64_t *hits, uint64_t *misses)
{
	*hits = dc ? atomic_load(&dc->hits) : 0;
	*misses = dc ? atomic_load(&dc->misses) : 0;
}

static json_t *cache_find(struct catalog_doc_cache *dc, int64_t version_id)
{
	json_t *doc = NULL;
	pthread_mutex_lock(&dc->mu);
	for (size_t i = 0; i < dc->cap; i++)
		if (dc->slot[i].version_id == version_id) {
			dc->slot[i].used = ++dc->tick;
			doc = json_incref(dc->slot[i].doc);
			break;
		}
	pthread_mutex_unlock(&dc->mu);
	return doc;
}

/* Keep doc (a reference is taken) unless another thread cached the same version first. */
static void cache_put(struct catalog_doc_cache *dc, int64_t version_id, json_t *doc)
{
	size_t victim = 0;
	pthread_mutex_lock(&dc->mu);
	for (size_t i = 0; i < dc->cap; i++) {
		if (dc->slot[i].version_id == version_id)
			goto out;
		if (dc->slot[i].used < dc->slot[victim].used)
			victim = i;
	}
	json_decref(dc->slot[victim].doc);
	dc->slot[victim].version_id = version_id;
	dc->slot[victim].doc = json_incref(doc);
	dc->slot[victim].used = ++dc->tick;
out:
	pthread_mutex_unlock(&dc->mu);
}

enum err catalog_version_doc(struct catalog_doc_cache *dc, struct db_conn *c, struct arena *a,
                             int64_t version_id, json_t **doc)
{
	struct db_rows *rs = NULL;
	json_t *d = NULL;
	*doc = NULL;
	if (version_id <= 0)
		return ERR_NOT_FOUND;
	if (dc && (d = cache_find(dc, version_id))) {
		atomic_fetch_add(&dc->hits, 1);
		*doc = d;
		return ERR_OK;
	}
	if (dc)
		atomic_fetch_add(&dc->misses, 1);
	enum err e = db_exec(c, a, &rs,
	                     "SELECT doc FROM catalog_versions WHERE id = ?"
	                     " AND status IN ('published', 'retired')",
	                     "i", version_id);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	const char *text = db_text(rs, 0, 0);
	json_error_t je;
	d = text ? json_loads(text, 0, &je) : NULL;
	if (!json_is_object(d)) {
		json_decref(d);
		log_error("catalog.version_doc", "version %lld: stored document does not parse",
		          (long long)version_id);
		return ERR_INTEGRITY;
	}
	if (dc)
		cache_put(dc, version_id, d);
	*doc = d;
	return ERR_OK;
}

const json_t *catalog_item_sub_item(const json_t *item, const char *sub_item_code)
{
	const json_t *subs = json_object_get(item, "sub_items");
	size_t i;
	const json_t *s;
	if (!sub_item_code)
		return NULL;
	json_array_foreach (subs, i, s) {
		const char *code = json_string_value(json_object_get(s, "code"));
		if (code && !strcmp(code, sub_item_code))
			return s;
	}
	return NULL;
}

enum err catalog_ref_hold_get(struct server *srv, struct catalog_ref_hold *out)
{
	struct catalog_snapshot *s = NULL;
	memset(out, 0, sizeof(*out));
	enum err e = catalog_snapshot_get(srv, &s);
	if (e)
		return e;
	if (!s->ref) {
		catalog_snapshot_unref(s);
		return ERR_UNAVAILABLE;
	}
	out->ref = s->ref;
	out->snap = s;
	return ERR_OK;
}

void catalog_ref_hold_release(struct catalog_ref_hold *h)
{
	if (h && h->snap)
		catalog_snapshot_unref(h->snap);
	if (h)
		memset(h, 0, sizeof(*h));
}
