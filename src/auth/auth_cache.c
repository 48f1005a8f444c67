/* auth_cache.c: the principal cache — what auth_authenticate loaded for a session, kept for a
 * few seconds so that a busy session costs no database read per request.
 *
 * Layout: PCACHE_SHARDS shards, each a mutex, a chained hash table and a list in load order
 * (oldest first). A lookup locks one shard for a hash probe and a copy, so threads serving
 * different sessions rarely meet. An entry is one malloc: the entry header, then the
 * identity's pointer arrays and strings laid out flat behind it (identity_flatten), so a hit
 * is one copy into the request's arena and an eviction one free.
 *
 * Invalidation races. A request that misses reads the epoch, loads from the database, and
 * inserts only if the epoch has not moved meanwhile. pcache_evict_user bumps the epoch before
 * it removes entries, so a load that may have read the database before an invalidating commit
 * either sees the new epoch and does not insert, or inserts before the removal and is removed
 * by it: no stale entry outlives an invalidation made in this process. */
#include "auth/auth_int.h"

#include <stdatomic.h>

#define PCACHE_SHARDS 16
#define PCACHE_TOUCH_HOLD_MS                                                                       \
	2000 /* a claimed last_seen write is left to its claimant this long                        \
	      */

struct pcache_entry {
	struct pcache_entry *hnext;       /* hash chain */
	struct pcache_entry *prev, *next; /* load order, oldest first */
	uint64_t h;
	char th[65];
	int64_t loaded_ms;
	int64_t touch_claim_ms;
	size_t flat_size; /* bytes of the flattened arrays and strings */
	struct identity id;
	void *flat[]; /* flat_size bytes, aligned for the pointer arrays that come first */
};

struct pcache_shard {
	pthread_mutex_t mu;
	struct pcache_entry **bucket; /* nbuckets chains */
	struct pcache_entry *oldest, *newest;
	size_t count;
};

struct pcache {
	size_t shard_cap; /* most entries per shard */
	size_t nbuckets;  /* per shard, a power of two */
	int64_t ttl_ms;
	int64_t touch_ms;
	atomic_uint_fast64_t epoch;
	struct pcache_shard shard[PCACHE_SHARDS];
};

/* ---- flat identities ---- */

static size_t str_size(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

/* Bytes identity_flatten needs for src's arrays and strings. */
static size_t identity_flat_size(const struct identity *src)
{
	size_t n = (size_t)(2 * src->nroles + src->nperms) * sizeof(char *);
	n += str_size(src->username) + str_size(src->name) + str_size(src->org_level) +
	     str_size(src->org_code) + str_size(src->org_name) + str_size(src->org_path) +
	     str_size(src->csrf_token);
	for (int i = 0; i < src->nroles; i++)
		n += str_size(src->role_codes[i]) + str_size(src->role_names[i]);
	for (int i = 0; i < src->nperms; i++)
		n += str_size(src->perms[i]);
	return n;
}

struct flat_cursor {
	char *p;
};

static const char *flat_str(struct flat_cursor *c, const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	char *out = memcpy(c->p, s, n);
	c->p += n;
	return out;
}

/* *dst = src with every array and string copied into mem (identity_flat_size(src) bytes,
 * aligned for pointers). */
static void identity_flatten(struct identity *dst, const struct identity *src, void *mem)
{
	*dst = *src;
	const char **arr = mem;
	dst->role_codes = arr;
	dst->role_names = arr + src->nroles;
	dst->perms = arr + 2 * src->nroles;
	struct flat_cursor c = {(char *)(arr + 2 * src->nroles + src->nperms)};
	for (int i = 0; i < src->nroles; i++) {
		dst->role_codes[i] = flat_str(&c, src->role_codes[i]);
		dst->role_names[i] = flat_str(&c, src->role_names[i]);
	}
	for (int i = 0; i < src->nperms; i++)
		dst->perms[i] = flat_str(&c, src->perms[i]);
	dst->username = flat_str(&c, src->username);
	dst->name = flat_str(&c, src->name);
	dst->org_level = flat_str(&c, src->org_level);
	dst->org_code = flat_str(&c, src->org_code);
	dst->org_name = flat_str(&c, src->org_name);
	dst->org_path = flat_str(&c, src->org_path);
	dst->csrf_token = flat_str(&c, src->csrf_token);
}

/* ---- the table ---- */

/* The key is an SM3 digest in hex: its first 16 digits are as good a hash as any. */
static uint64_t key_hash(const char *th)
{
	uint64_t h = 0;
	for (int i = 0; i < 16 && th[i]; i++) {
		char ch = th[i];
		unsigned v = (ch >= '0' && ch <= '9')   ? (unsigned)(ch - '0')
		             : (ch >= 'a' && ch <= 'f') ? (unsigned)(ch - 'a' + 10)
		                                        : (unsigned)ch & 15u;
		h = (h << 4) | v;
	}
	return h;
}

static struct pcache_shard *shard_of(struct pcache *pc, uint64_t h)
{
	return &pc->shard[h % PCACHE_SHARDS];
}

static struct pcache_entry **chain_of(struct pcache *pc, struct pcache_shard *s, uint64_t h)
{
	return &s->bucket[(h / PCACHE_SHARDS) & (pc->nbuckets - 1)];
}

/* Called with the shard locked. */
static struct pcache_entry *find(struct pcache *pc, struct pcache_shard *s, uint64_t h,
                                 const char *th)
{
	for (struct pcache_entry *e = *chain_of(pc, s, h); e; e = e->hnext)
		if (e->h == h && strcmp(e->th, th) == 0)
			return e;
	return NULL;
}

/* Unlink e from its chain and the load order and free it. Called with the shard locked. */
static void unlink_free(struct pcache *pc, struct pcache_shard *s, struct pcache_entry *e)
{
	struct pcache_entry **pp = chain_of(pc, s, e->h);
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->prev)
		e->prev->next = e->next;
	else
		s->oldest = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		s->newest = e->prev;
	s->count--;
	free(e);
}

enum err pcache_create(size_t max_entries, int64_t ttl_ms, int64_t touch_ms, struct pcache **out)
{
	*out = NULL;
	if (max_entries < 1 || ttl_ms < 1)
		return ERR_INVALID;
	struct pcache *pc = calloc(1, sizeof(*pc));
	if (!pc)
		return ERR_NOMEM;
	/* Rounded down, so that the shards together never hold more than max_entries, except
	 * that every shard holds at least one. */
	pc->shard_cap = max_entries / PCACHE_SHARDS ? max_entries / PCACHE_SHARDS : 1;
	pc->nbuckets = 16;
	while (pc->nbuckets < pc->shard_cap)
		pc->nbuckets *= 2;
	pc->ttl_ms = ttl_ms;
	pc->touch_ms = touch_ms;
	atomic_init(&pc->epoch, 1);
	for (int i = 0; i < PCACHE_SHARDS; i++) {
		pc->shard[i].bucket = calloc(pc->nbuckets, sizeof(struct pcache_entry *));
		if (!pc->shard[i].bucket) {
			pcache_destroy(pc);
			return ERR_NOMEM;
		}
		pthread_mutex_init(&pc->shard[i].mu, NULL);
	}
	*out = pc;
	return ERR_OK;
}

void pcache_destroy(struct pcache *pc)
{
	if (!pc)
		return;
	for (int i = 0; i < PCACHE_SHARDS; i++) {
		struct pcache_shard *s = &pc->shard[i];
		if (!s->bucket)
			continue;
		for (struct pcache_entry *e = s->oldest, *next; e; e = next) {
			next = e->next;
			free(e);
		}
		free(s->bucket);
		pthread_mutex_destroy(&s->mu);
	}
	free(pc);
}

uint64_t pcache_epoch(struct pcache *pc)
{
	return atomic_load(&pc->epoch);
}

bool pcache_get(struct pcache *pc, const char *th, int64_t now, struct arena *a,
                struct identity *out, bool *touch)
{
	uint64_t h = key_hash(th);
	struct pcache_shard *s = shard_of(pc, h);
	bool hit = false;
	*touch = false;
	pthread_mutex_lock(&s->mu);
	struct pcache_entry *e = find(pc, s, h, th);
	if (e && now - e->loaded_ms >= pc->ttl_ms) {
		unlink_free(pc, s, e);
		e = NULL;
	}
	if (e) {
		void *mem = arena_alloc(a, e->flat_size + 1);
		if (mem) {
			identity_flatten(out, &e->id, mem);
			hit = true;
			/* One request writes last_seen back; the others go on without waiting. */
			if (now - e->id.last_seen >= pc->touch_ms &&
			    now - e->touch_claim_ms >= PCACHE_TOUCH_HOLD_MS) {
				e->touch_claim_ms = now;
				*touch = true;
			}
		}
	}
	pthread_mutex_unlock(&s->mu);
	return hit;
}

bool pcache_put(struct pcache *pc, const char *th, const struct identity *id, uint64_t epoch,
                int64_t now)
{
	if (strlen(th) != 64)
		return false;
	size_t flat = identity_flat_size(id);
	struct pcache_entry *n = malloc(sizeof(*n) + flat);
	if (!n)
		return false;
	memset(n, 0, sizeof(*n));
	n->h = key_hash(th);
	memcpy(n->th, th, 65);
	n->loaded_ms = now;
	n->flat_size = flat;
	identity_flatten(&n->id, id, n->flat);
	struct pcache_shard *s = shard_of(pc, n->h);
	pthread_mutex_lock(&s->mu);
	/* Read under the lock: see the comment at the top of the file. */
	if (atomic_load(&pc->epoch) != epoch) {
		pthread_mutex_unlock(&s->mu);
		free(n);
		return false;
	}
	struct pcache_entry *old = find(pc, s, n->h, th);
	if (old)
		unlink_free(pc, s, old);
	while (s->count >= pc->shard_cap && s->oldest)
		unlink_free(pc, s, s->oldest);
	struct pcache_entry **chain = chain_of(pc, s, n->h);
	n->hnext = *chain;
	*chain = n;
	n->prev = s->newest;
	if (s->newest)
		s->newest->next = n;
	else
		s->oldest = n;
	s->newest = n;
	s->count++;
	pthread_mutex_unlock(&s->mu);
	return true;
}

void pcache_set_last_seen(struct pcache *pc, const char *th, int64_t last_seen)
{
	uint64_t h = key_hash(th);
	struct pcache_shard *s = shard_of(pc, h);
	pthread_mutex_lock(&s->mu);
	struct pcache_entry *e = find(pc, s, h, th);
	if (e && e->id.last_seen < last_seen)
		e->id.last_seen = last_seen;
	pthread_mutex_unlock(&s->mu);
}

void pcache_drop(struct pcache *pc, const char *th)
{
	uint64_t h = key_hash(th);
	struct pcache_shard *s = shard_of(pc, h);
	pthread_mutex_lock(&s->mu);
	struct pcache_entry *e = find(pc, s, h, th);
	if (e)
		unlink_free(pc, s, e);
	pthread_mutex_unlock(&s->mu);
}

size_t pcache_evict_user(struct pcache *pc, int64_t user_id)
{
	size_t n = 0;
	/* First the epoch, then the removal: see the comment at the top of the file. */
	atomic_fetch_add(&pc->epoch, 1);
	for (int i = 0; i < PCACHE_SHARDS; i++) {
		struct pcache_shard *s = &pc->shard[i];
		pthread_mutex_lock(&s->mu);
		for (struct pcache_entry *e = s->oldest, *next; e; e = next) {
			next = e->next;
			if (e->id.user_id == user_id) {
				unlink_free(pc, s, e);
				n++;
			}
		}
		pthread_mutex_unlock(&s->mu);
	}
	return n;
}

size_t pcache_count(struct pcache *pc)
{
	size_t n = 0;
	for (int i = 0; i < PCACHE_SHARDS; i++) {
		pthread_mutex_lock(&pc->shard[i].mu);
		n += pc->shard[i].count;
		pthread_mutex_unlock(&pc->shard[i].mu);
	}
	return n;
}
