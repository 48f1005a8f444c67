/* test_cache.c: the principal cache — copies that outlive the entry, TTL, bounded size with
 * the oldest evicted, invalidation by user (also against a load that raced with it), the
 * single last_seen write-back, and four threads at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>

#include "auth/auth_int.h"
#include "crypto/crypto.h"

#define TTL   5000
#define TOUCH 60000
#define T0    1000000000 /* a "now" in ms */

static const char *const perms_of_clerk[] = {"case.accept", "case.read", "ident.read",
                                             "queue.call"};

/* The token hash of token number i, as auth_authenticate computes it. */
static void th_of(int i, char th[65])
{
	char tok[32];
	snprintf(tok, sizeof(tok), "token-%d", i);
	auth_token_hash(tok, th);
}

/* A clerk-like identity of user uid, strings in a (or static). */
static struct identity ident(struct arena *a, int64_t uid)
{
	struct identity id = {0};
	id.user_id = uid;
	id.username = arena_printf(a, "user%lld", (long long)uid);
	id.name = "王芳";
	id.org_id = 12;
	id.org_level = "centre";
	id.org_code = "310104014C1";
	id.org_name = "枫林路街道社区事务受理服务中心";
	id.org_path = "/1/3/12/";
	id.session_id = uid * 10;
	id.csrf_token = arena_printf(a, "csrf%lld", (long long)uid);
	id.created_at = T0 - 1000;
	id.last_seen = T0 - 1000;
	id.password_changed_at = T0 - 86400000;
	id.nroles = 1;
	id.role_codes = arena_alloc(a, sizeof(char *));
	id.role_names = arena_alloc(a, sizeof(char *));
	id.role_codes[0] = "window_clerk";
	id.role_names[0] = "窗口受理人员";
	id.nperms = 4;
	id.perms = arena_alloc(a, 4 * sizeof(char *));
	for (int i = 0; i < 4; i++)
		id.perms[i] = perms_of_clerk[i];
	return id;
}

static struct pcache *make(size_t max)
{
	struct pcache *pc = NULL;
	assert_int_equal(pcache_create(max, TTL, TOUCH, &pc), ERR_OK);
	assert_non_null(pc);
	return pc;
}

static bool has(struct pcache *pc, const char *th, int64_t now)
{
	struct arena a;
	struct identity id;
	bool touch;
	arena_init(&a, 0);
	bool hit = pcache_get(pc, th, now, &a, &id, &touch);
	arena_release(&a);
	return hit;
}

static void test_hit_is_a_full_copy_that_outlives_the_entry(void **state)
{
	(void)state;
	struct pcache *pc = make(100);
	struct arena a, b;
	char th[65];
	arena_init(&a, 0);
	arena_init(&b, 0);
	th_of(1, th);
	struct identity in = ident(&a, 42);
	assert_true(pcache_put(pc, th, &in, pcache_epoch(pc), T0));
	/* The cache keeps its own copy: the loader's memory may go. */
	arena_release(&a);

	struct identity out;
	bool touch = true;
	assert_true(pcache_get(pc, th, T0 + 10, &b, &out, &touch));
	assert_false(touch);
	pcache_evict_user(pc, 42); /* and the request's copy survives the entry */
	assert_int_equal(out.user_id, 42);
	assert_string_equal(out.username, "user42");
	assert_string_equal(out.name, "王芳");
	assert_string_equal(out.org_name, "枫林路街道社区事务受理服务中心");
	assert_string_equal(out.org_path, "/1/3/12/");
	assert_string_equal(out.csrf_token, "csrf42");
	assert_int_equal(out.session_id, 420);
	assert_int_equal(out.created_at, T0 - 1000);
	assert_int_equal(out.nroles, 1);
	assert_string_equal(out.role_codes[0], "window_clerk");
	assert_string_equal(out.role_names[0], "窗口受理人员");
	assert_int_equal(out.nperms, 4);
	for (int i = 0; i < 4; i++)
		assert_string_equal(out.perms[i], perms_of_clerk[i]);
	assert_false(has(pc, th, T0 + 10));
	char other[65];
	th_of(2, other);
	assert_false(has(pc, other, T0 + 10));
	arena_release(&b);
	pcache_destroy(pc);
}

static void test_ttl(void **state)
{
	(void)state;
	struct pcache *pc = make(100);
	struct arena a;
	char th[65];
	arena_init(&a, 0);
	th_of(1, th);
	struct identity in = ident(&a, 7);
	assert_true(pcache_put(pc, th, &in, pcache_epoch(pc), T0));
	assert_true(has(pc, th, T0 + TTL - 1));
	assert_int_equal(pcache_count(pc), 1);
	/* At the TTL the entry is a miss and is removed. */
	assert_false(has(pc, th, T0 + TTL));
	assert_int_equal(pcache_count(pc), 0);
	/* A reload starts a new TTL. */
	assert_true(pcache_put(pc, th, &in, pcache_epoch(pc), T0 + TTL));
	assert_true(has(pc, th, T0 + 2 * TTL - 1));
	assert_false(has(pc, th, T0 + 2 * TTL));
	struct pcache *bad = NULL;
	assert_int_equal(pcache_create(100, 0, TOUCH, &bad), ERR_INVALID);
	assert_int_equal(pcache_create(0, TTL, TOUCH, &bad), ERR_INVALID);
	assert_null(bad);
	arena_release(&a);
	pcache_destroy(pc);
}

static void test_size_is_bounded_and_the_oldest_go(void **state)
{
	(void)state;
	const int max = 160, total = 4000;
	struct pcache *pc = make((size_t)max);
	struct arena a;
	char th[65];
	arena_init(&a, 0);
	for (int i = 0; i < total; i++) {
		th_of(i, th);
		struct identity in = ident(&a, 1000 + i);
		assert_true(pcache_put(pc, th, &in, pcache_epoch(pc), T0 + i / 100));
		assert_true(pcache_count(pc) <= (size_t)max);
	}
	assert_true(pcache_count(pc) > (size_t)max / 2);
	/* The newest are there, the oldest are gone. */
	for (int i = total - 3; i < total; i++) {
		th_of(i, th);
		assert_true(has(pc, th, T0 + total / 100));
	}
	int old_left = 0;
	for (int i = 0; i < 2 * max; i++) {
		th_of(i, th);
		old_left += has(pc, th, T0 + total / 100);
	}
	assert_int_equal(old_left, 0);
	/* Putting a key again replaces it, it does not add one. */
	size_t before = pcache_count(pc);
	th_of(total - 1, th);
	struct identity again = ident(&a, 1000 + total - 1);
	assert_true(pcache_put(pc, th, &again, pcache_epoch(pc), T0 + total / 100));
	assert_int_equal(pcache_count(pc), before);
	arena_release(&a);
	pcache_destroy(pc);
}

static void test_invalidation_by_user(void **state)
{
	(void)state;
	struct pcache *pc = make(1000);
	struct arena a;
	char th[65];
	arena_init(&a, 0);
	/* Users 1 and 2, three sessions each (several browsers). */
	for (int i = 0; i < 6; i++) {
		th_of(i, th);
		struct identity in = ident(&a, 1 + i % 2);
		assert_true(pcache_put(pc, th, &in, pcache_epoch(pc), T0));
	}
	assert_int_equal(pcache_evict_user(pc, 1), 3);
	for (int i = 0; i < 6; i++) {
		th_of(i, th);
		assert_int_equal(has(pc, th, T0 + 1), i % 2 == 1);
	}
	assert_int_equal(pcache_evict_user(pc, 1), 0);
	assert_int_equal(pcache_evict_user(pc, 2), 3);
	assert_int_equal(pcache_count(pc), 0);

	/* A load that read the database before an invalidation must not insert what it read
	 * after the invalidation has run. */
	th_of(100, th);
	struct identity in = ident(&a, 5);
	uint64_t before_load = pcache_epoch(pc);
	pcache_evict_user(pc, 5); /* e.g. a logout committed meanwhile */
	assert_false(pcache_put(pc, th, &in, before_load, T0));
	assert_false(has(pc, th, T0));
	/* Any invalidation counts, whoever's: the loader cannot know whose it was. */
	uint64_t e2 = pcache_epoch(pc);
	pcache_evict_user(pc, 999);
	assert_false(pcache_put(pc, th, &in, e2, T0));
	assert_true(pcache_put(pc, th, &in, pcache_epoch(pc), T0));
	assert_true(has(pc, th, T0));

	pcache_drop(pc, th);
	assert_false(has(pc, th, T0));
	pcache_drop(pc, th); /* absent: nothing happens */
	arena_release(&a);
	pcache_destroy(pc);
}

static void test_one_request_writes_last_seen_back(void **state)
{
	(void)state;
	struct pcache *pc = make(100);
	struct arena a;
	struct identity out;
	char th[65];
	bool touch;
	arena_init(&a, 0);
	th_of(1, th);
	struct identity in = ident(&a, 3);
	in.last_seen = T0 - TOUCH; /* due for a write-back */
	assert_true(pcache_put(pc, th, &in, pcache_epoch(pc), T0));
	assert_true(pcache_get(pc, th, T0, &a, &out, &touch));
	assert_true(touch);
	assert_int_equal(out.last_seen, T0 - TOUCH);
	/* Concurrent hits meanwhile are not elected again. */
	assert_true(pcache_get(pc, th, T0 + 1, &a, &out, &touch));
	assert_false(touch);
	/* The write succeeded: the cached time moves, so no hit is due any more. */
	pcache_set_last_seen(pc, th, T0);
	pcache_set_last_seen(pc, th, T0 - 5); /* never backwards */
	assert_true(pcache_get(pc, th, T0 + 2, &a, &out, &touch));
	assert_false(touch);
	assert_int_equal(out.last_seen, T0);
	/* A claim whose write failed is given up after a few seconds. */
	struct identity again = ident(&a, 3);
	again.last_seen = T0 - TOUCH;
	assert_true(pcache_put(pc, th, &again, pcache_epoch(pc), T0 + 10));
	assert_true(pcache_get(pc, th, T0 + 10, &a, &out, &touch));
	assert_true(touch);
	assert_true(pcache_get(pc, th, T0 + 11, &a, &out, &touch));
	assert_false(touch);
	assert_true(pcache_get(pc, th, T0 + 1000, &a, &out, &touch));
	assert_false(touch);
	assert_true(pcache_get(pc, th, T0 + 2010, &a, &out, &touch)); /* still within the TTL */
	assert_true(touch);
	arena_release(&a);
	pcache_destroy(pc);
}

/* ---- four threads ---- */

#define NTHREADS 4
#define NKEYS    64
#define ROUNDS   20000

struct worker {
	struct pcache *pc;
	int no;
	int hits, bad;
};

/* Key k always belongs to user k % 8: a hit must say so, whatever ran meanwhile. */
static void *work(void *arg)
{
	struct worker *w = arg;
	struct arena a;
	arena_init(&a, 0);
	uint32_t x = 2463534242u + (uint32_t)w->no;
	for (int i = 0; i < ROUNDS; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		int k = (int)(x % NKEYS);
		char th[65];
		th_of(k, th);
		int64_t now = T0 + i / 10;
		struct identity id;
		bool touch;
		switch (x >> 24 & 7) {
		case 0:
		case 1:
		case 2: {
			struct identity in = ident(&a, k % 8);
			pcache_put(w->pc, th, &in, pcache_epoch(w->pc), now);
			break;
		}
		case 3: pcache_evict_user(w->pc, k % 8); break;
		case 4: pcache_drop(w->pc, th); break;
		case 5: pcache_set_last_seen(w->pc, th, now); break;
		default:
			if (pcache_get(w->pc, th, now, &a, &id, &touch)) {
				w->hits++;
				char want[32];
				snprintf(want, sizeof(want), "user%d", k % 8);
				if (id.user_id != k % 8 || strcmp(id.username, want) != 0 ||
				    id.nperms != 4 || strcmp(id.perms[3], "queue.call") != 0)
					w->bad++;
			}
		}
		if (i % 256 == 0) {
			arena_release(&a);
			arena_init(&a, 0);
		}
	}
	arena_release(&a);
	return NULL;
}

static void test_four_threads(void **state)
{
	(void)state;
	struct pcache *pc = make(48); /* smaller than the key set: eviction runs too */
	pthread_t t[NTHREADS];
	struct worker w[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){.pc = pc, .no = i};
		assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
	}
	int hits = 0;
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].bad, 0);
		hits += w[i].hits;
	}
	assert_true(hits > 0);
	assert_true(pcache_count(pc) <= 48);
	for (int u = 0; u < 8; u++)
		pcache_evict_user(pc, u);
	assert_int_equal(pcache_count(pc), 0);
	pcache_destroy(pc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_hit_is_a_full_copy_that_outlives_the_entry),
	    cmocka_unit_test(test_ttl),
	    cmocka_unit_test(test_size_is_bounded_and_the_oldest_go),
	    cmocka_unit_test(test_invalidation_by_user),
	    cmocka_unit_test(test_one_request_writes_last_seen_back),
	    cmocka_unit_test(test_four_threads),
	};
	return cmocka_run_group_tests_name("auth/cache", tests, NULL, NULL);
}
