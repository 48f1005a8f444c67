/* test_open.c: open APIs — the signing string (a vector computed independently by
 * scripts/open-api-call.mjs), HMAC-SM3 over it, percent-encoding and base64, time windows
 * (weekdays, edges, spans over midnight, Asia/Shanghai days), the rate bucket, the nonce set
 * and the order of the grant checks, all with an injected clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/arena.h"
#include "core/buf.h"
#include "crypto/crypto.h"
#include "gateway/gateway_open_int.h"

/* Monday 2026-01-05 00:00 in Shanghai (2026-01-04T16:00:00Z). */
#define MON0   1767542400000LL
#define DAY    86400000LL
#define MIN_MS 60000LL

static int64_t at(int day, int hh, int mm)
{
	return MON0 + day * DAY + hh * 3600000LL + mm * MIN_MS;
}

static int setup(void **state)
{
	(void)state;
	return crypto_init() == ERR_OK ? 0 : -1;
}

/* ---- signing string ---------------------------------------------------------------------- */

static void signing_string_vector(void **state)
{
	(void)state;
	struct buf b;
	const struct gateway_query_arg args[] = {{"q", "老年 津贴"}, {"limit", "5"}, {"a", "x/y"}};
	buf_init(&b, 4096);
	assert_int_equal(gateway_signing_string(&b, "GET", "/api/open/v1/catalog/items", args, 3,
	                                        "1767225600000", "0123456789abcdef0123456789abcdef",
	                                        NULL, 0),
	                 ERR_OK);
	/* Sorted by name, '/' and the space encoded in values, UTF-8 as %XX upper-case; the
	 * SM3 of the empty body. */
	assert_string_equal(b.p,
	                    "GET\n"
	                    "/api/open/v1/catalog/items?a=x%2Fy&limit=5&q=%E8%80%81%E5%B9%B4%"
	                    "20%E6%B4%A5%E8%B4%B4\n"
	                    "1767225600000\n"
	                    "0123456789abcdef0123456789abcdef\n"
	                    "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b");
	/* The HMAC-SM3 an integrator computes with secret "k3y" (node's OpenSSL). */
	unsigned char mac[32];
	struct buf hex;
	buf_init(&hex, 128);
	crypto_hmac_sm3("k3y", 3, b.p, b.len, mac);
	buf_hex(&hex, mac, sizeof(mac));
	assert_string_equal(hex.p,
	                    "eeb40e31b854f16cf36d986efd7eb07f6b4361421e5ba4359f34539b3d60041d");
	buf_release(&hex);
	buf_release(&b);
}

static void signing_string_body_and_path(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 4096);
	assert_int_equal(gateway_signing_string(&b, "POST", "/a b/c", NULL, 0, "1",
	                                        "00000000000000000000", "{\"a\":1}", 7),
	                 ERR_OK);
	assert_string_equal(b.p,
	                    "POST\n/a%20b/c\n1\n00000000000000000000\n"
	                    "d646a76e347ce7c1a4c11acff67604928ccfaf03fc2e4fb8faaf5b2b1227605a");
	buf_release(&b);
}

static void signing_string_sorts_by_name_then_value(void **state)
{
	(void)state;
	struct buf b;
	/* "a-b" sorts before "a" + '=' would if whole pairs were compared; by name, "a" first.
	 * Equal names sort by value. */
	const struct gateway_query_arg args[] = {{"a-b", "1"}, {"a", "z"}, {"a", "y"}};
	buf_init(&b, 4096);
	assert_int_equal(gateway_signing_string(&b, "GET", "/p", args, 3, "1", "n", NULL, 0),
	                 ERR_OK);
	assert_non_null(strstr(b.p, "\n/p?a=y&a=z&a-b=1\n"));
	buf_release(&b);
}

/* The worked example of docs/gateway.md ("Open APIs"). */
static void signing_string_doc_example(void **state)
{
	(void)state;
	struct buf b, hex;
	const struct gateway_query_arg args[] = {{"q", "老年综合津贴"}, {"limit", "5"}};
	const char *secret = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
	unsigned char mac[32];
	buf_init(&b, 4096);
	buf_init(&hex, 128);
	assert_int_equal(gateway_signing_string(&b, "GET", "/api/open/v1/catalog/items", args, 2,
	                                        "1767580200000", "5f1c2a7e9b3d4c60a1b2c3d4e5f60718",
	                                        NULL, 0),
	                 ERR_OK);
	assert_string_equal(b.p,
	                    "GET\n"
	                    "/api/open/v1/catalog/items?limit=5&q=%E8%80%81%E5%B9%B4%E7%BB%BC%"
	                    "E5%90%88%E6%B4%A5%E8%B4%B4\n"
	                    "1767580200000\n"
	                    "5f1c2a7e9b3d4c60a1b2c3d4e5f60718\n"
	                    "1ab21d8355cfa17f8e61194831e81a8f22bec8c728fefb747ed035eb5082aa2b");
	crypto_hmac_sm3(secret, strlen(secret), b.p, b.len, mac);
	buf_hex(&hex, mac, sizeof(mac));
	assert_string_equal(hex.p,
	                    "106956ab1d3ce6a134054fede8413b4580dc6eaa3185a8e9278809c59282950a");
	buf_release(&hex);
	buf_release(&b);
}

static void percent_encoding(void **state)
{
	(void)state;
	struct buf b;
	buf_init(&b, 256);
	assert_int_equal(open_percent_encode(&b, "Az09-._~/ +?&=%", 15, false), ERR_OK);
	assert_string_equal(b.p, "Az09-._~%2F%20%2B%3F%26%3D%25");
	buf_reset(&b);
	assert_int_equal(open_percent_encode(&b, "/x/y", 4, true), ERR_OK);
	assert_string_equal(b.p, "/x/y");
	buf_release(&b);
}

/* ---- time windows ------------------------------------------------------------------------ */

static void local_time_and_day(void **state)
{
	(void)state;
	int wd, min;
	char day[11];
	open_local_time(MON0, &wd, &min);
	assert_int_equal(wd, 1);
	assert_int_equal(min, 0);
	open_local_time(MON0 - 1, &wd, &min);
	assert_int_equal(wd, 7);
	assert_int_equal(min, 1439);
	open_local_time(at(5, 10, 30), &wd, &min);
	assert_int_equal(wd, 6);
	assert_int_equal(min, 630);
	open_local_day(MON0 - 1, day);
	assert_string_equal(day, "2026-01-04");
	open_local_day(MON0, day);
	assert_string_equal(day, "2026-01-05");
}

static void window_office_hours(void **state)
{
	(void)state;
	struct open_window w = {0x1f, 8 * 60, 18 * 60};
	assert_false(open_window_allows(&w, at(0, 7, 59)));
	assert_true(open_window_allows(&w, at(0, 8, 0)));
	assert_true(open_window_allows(&w, at(4, 17, 59)));
	assert_false(open_window_allows(&w, at(4, 18, 0)));
	assert_false(open_window_allows(&w, at(5, 10, 0))); /* Saturday */
	assert_false(open_window_allows(&w, at(6, 10, 0))); /* Sunday */
	assert_true(open_window_allows(&w, at(7, 10, 0)));  /* next Monday */
}

static void window_over_midnight(void **state)
{
	(void)state;
	/* Friday 22:00 to Saturday 06:00 only. */
	struct open_window w = {1u << 4, 22 * 60, 6 * 60};
	assert_true(open_window_allows(&w, at(4, 23, 0)));
	assert_true(open_window_allows(&w, at(5, 5, 59)));
	assert_false(open_window_allows(&w, at(5, 6, 0)));
	assert_false(open_window_allows(&w, at(4, 5, 0))); /* Friday morning belongs to Thursday */
	assert_false(open_window_allows(&w, at(5, 23, 0)));
	/* Whole day, every day; and an empty window. */
	struct open_window all = {OPEN_WEEKDAYS_ALL, 0, 1440};
	assert_true(open_window_allows(&all, at(6, 23, 59)));
	struct open_window none = {OPEN_WEEKDAYS_ALL, 600, 600};
	assert_false(open_window_allows(&none, at(0, 10, 0)));
}

static void window_describe_and_parse(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	struct open_window w1 = {0x1f, 480, 1080}, w2 = {OPEN_WEEKDAYS_ALL, 0, 1440},
	                   w3 = {0x05, 540, 720}, w4 = {0x60, 1320, 360};
	assert_string_equal(open_window_describe(&w1, &a), "工作日 08:00–18:00");
	assert_string_equal(open_window_describe(&w2, &a), "每天 00:00–24:00");
	assert_string_equal(open_window_describe(&w3, &a), "周一、周三 09:00–12:00");
	assert_string_equal(open_window_describe(&w4, &a), "周末 22:00–06:00");
	int m = -1;
	assert_true(open_parse_hhmm("08:30", false, &m));
	assert_int_equal(m, 510);
	assert_true(open_parse_hhmm("24:00", true, &m));
	assert_int_equal(m, 1440);
	assert_false(open_parse_hhmm("24:00", false, &m));
	assert_false(open_parse_hhmm("24:01", true, &m));
	assert_false(open_parse_hhmm("8:30", false, &m));
	assert_false(open_parse_hhmm("08:60", false, &m));
	assert_false(open_parse_hhmm("0a:00", false, &m));
	arena_release(&a);
}

/* ---- rate -------------------------------------------------------------------------------- */

static void bucket(void **state)
{
	(void)state;
	struct open_bucket b = {0};
	int64_t t = at(0, 9, 0);
	assert_true(open_bucket_take(&b, 2, t));
	assert_true(open_bucket_take(&b, 2, t));
	assert_false(open_bucket_take(&b, 2, t + 1000));
	assert_true(open_bucket_take(&b, 2, t + 30000)); /* one token per 30 s */
	assert_false(open_bucket_take(&b, 2, t + 30001));
	/* A clock that goes back refills nothing. */
	assert_false(open_bucket_take(&b, 2, t));
	/* A long idle fills to the burst (2), not beyond. */
	assert_true(open_bucket_take(&b, 2, t + 3600000));
	assert_true(open_bucket_take(&b, 2, t + 3600000));
	assert_false(open_bucket_take(&b, 2, t + 3600000));
	/* No limit. */
	struct open_bucket u = {0};
	for (int i = 0; i < 1000; i++)
		assert_true(open_bucket_take(&u, 0, t));
}

static void rates_per_grant(void **state)
{
	(void)state;
	struct open_rates *r = NULL;
	int64_t t = at(0, 9, 0);
	assert_int_equal(open_rates_create(&r), ERR_OK);
	assert_true(open_rates_take(r, 1, 1, t));
	assert_false(open_rates_take(r, 1, 1, t));
	assert_true(open_rates_take(r, 2, 1, t)); /* another grant has its own bucket */
	assert_true(open_rates_take(r, 1, 1, t + 60000));
	/* Many grants: idle buckets are swept, active ones keep their state (grant 1 has just
	 * spent its token and must stay empty). */
	int64_t t1 = t + 120000;
	assert_true(open_rates_take(r, 1, 1, t1));
	for (int64_t g = 100; g < 100 + OPEN_RATES_MAX + 10; g++)
		assert_true(open_rates_take(r, g, 5, t1));
	assert_false(open_rates_take(r, 1, 1, t1));
	open_rates_destroy(r);
}

/* ---- nonces ------------------------------------------------------------------------------ */

static void nonces(void **state)
{
	(void)state;
	struct open_nonces *n = NULL;
	int64_t t = at(0, 9, 0);
	assert_int_equal(open_nonces_create(3, OPEN_NONCE_TTL_MS, &n), ERR_OK);
	assert_int_equal(open_nonces_add(n, "ak1", "aaaaaaaaaaaaaaaa", t), ERR_OK);
	assert_int_equal(open_nonces_add(n, "ak1", "aaaaaaaaaaaaaaaa", t + 1000), ERR_EXISTS);
	assert_int_equal(open_nonces_add(n, "ak2", "aaaaaaaaaaaaaaaa", t + 1000), ERR_OK);
	assert_int_equal(open_nonces_add(n, "ak1", "bbbbbbbbbbbbbbbb", t + 2000), ERR_OK);
	/* Full: refused, not forgotten. */
	assert_int_equal(open_nonces_add(n, "ak1", "cccccccccccccccc", t + 3000), ERR_UNAVAILABLE);
	assert_int_equal(open_nonces_count(n), 3);
	/* Still remembered just before the TTL; forgotten at it. */
	assert_int_equal(open_nonces_add(n, "ak1", "aaaaaaaaaaaaaaaa", t + OPEN_NONCE_TTL_MS - 1),
	                 ERR_EXISTS);
	assert_int_equal(open_nonces_add(n, "ak1", "aaaaaaaaaaaaaaaa", t + OPEN_NONCE_TTL_MS),
	                 ERR_OK);
	assert_int_equal(open_nonces_count(n), 3); /* the first expired, the new one is in */
	assert_int_equal(open_nonces_add(n, "ak1", "bbbbbbbbbbbbbbbb", t + OPEN_NONCE_TTL_MS + 10),
	                 ERR_EXISTS); /* added at t + 2000: still within its TTL */
	open_nonces_destroy(n);
}

/* ---- the grant checks -------------------------------------------------------------------- */

struct fake_quota {
	int64_t used, takes, give_backs;
	enum err fail;
};

static enum err fq_take(void *ctx, const struct open_grant *g, const char *day)
{
	struct fake_quota *q = ctx;
	assert_string_equal(day, "2026-01-05");
	q->takes++;
	if (q->fail)
		return q->fail;
	if (q->used >= g->daily_quota)
		return ERR_RATE_LIMITED;
	q->used++;
	return ERR_OK;
}

static void fq_give_back(void *ctx, const struct open_grant *g, const char *day)
{
	struct fake_quota *q = ctx;
	(void)g;
	(void)day;
	q->give_backs++;
	q->used--;
}

static const struct open_quota_ops fq_ops = {fq_take, fq_give_back};

static void grant_checks_in_order(void **state)
{
	(void)state;
	struct arena a;
	struct open_rates *rates = NULL;
	struct fake_quota q = {0};
	struct errinfo ei = {0};
	arena_init(&a, 0);
	assert_int_equal(open_rates_create(&rates), ERR_OK);
	struct open_grant g = {.id = 7,
	                       .enabled = true,
	                       .win = {0x1f, 8 * 60, 18 * 60},
	                       .daily_quota = 3,
	                       .rate_per_min = 2};

	/* No grant, a disabled grant. */
	assert_int_equal(open_grant_check(NULL, at(0, 9, 0), rates, &fq_ops, &q, &a, &ei),
	                 ERR_FORBIDDEN);
	assert_string_equal(ei.msg, "未授权调用该接口");
	g.enabled = false;
	assert_int_equal(open_grant_check(&g, at(0, 9, 0), rates, &fq_ops, &q, &a, &ei),
	                 ERR_FORBIDDEN);
	g.enabled = true;

	/* Outside the window: refused before any quota is used. */
	assert_int_equal(open_grant_check(&g, at(0, 7, 0), rates, &fq_ops, &q, &a, &ei),
	                 ERR_FORBIDDEN);
	assert_string_equal(ei.msg, "不在授权时段（工作日 08:00–18:00）");
	assert_int_equal(q.takes, 0);

	/* Two calls pass (burst 2); the third is refused by the rate, and gives its quota back. */
	assert_int_equal(open_grant_check(&g, at(0, 9, 0), rates, &fq_ops, &q, &a, &ei), ERR_OK);
	assert_int_equal(open_grant_check(&g, at(0, 9, 0), rates, &fq_ops, &q, &a, &ei), ERR_OK);
	assert_int_equal(open_grant_check(&g, at(0, 9, 0), rates, &fq_ops, &q, &a, &ei),
	                 ERR_RATE_LIMITED);
	assert_string_equal(ei.msg, "调用过于频繁（每分钟最多 2 次）");
	assert_int_equal(q.used, 2);
	assert_int_equal(q.give_backs, 1);

	/* A minute later: the third call passes; the fourth meets the quota (3) first. */
	assert_int_equal(open_grant_check(&g, at(0, 9, 1), rates, &fq_ops, &q, &a, &ei), ERR_OK);
	assert_int_equal(open_grant_check(&g, at(0, 9, 2), rates, &fq_ops, &q, &a, &ei),
	                 ERR_RATE_LIMITED);
	assert_string_equal(ei.msg, "今日调用次数已用完（每日 3 次）");
	assert_int_equal(q.used, 3);

	/* A quota store failure is passed on as it is. */
	q.fail = ERR_DB;
	assert_int_equal(open_grant_check(&g, at(0, 9, 3), rates, &fq_ops, &q, &a, &ei), ERR_DB);

	/* No quota and no rate: nothing is counted. */
	struct open_grant free_g = {.id = 8, .enabled = true, .win = {OPEN_WEEKDAYS_ALL, 0, 1440}};
	int64_t takes = q.takes;
	for (int i = 0; i < 50; i++)
		assert_int_equal(
		    open_grant_check(&free_g, at(6, 23, 0), rates, &fq_ops, &q, &a, &ei), ERR_OK);
	assert_int_equal(q.takes, takes);
	open_rates_destroy(rates);
	arena_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(signing_string_vector),
	    cmocka_unit_test(signing_string_body_and_path),
	    cmocka_unit_test(signing_string_sorts_by_name_then_value),
	    cmocka_unit_test(signing_string_doc_example),
	    cmocka_unit_test(percent_encoding),
	    cmocka_unit_test(local_time_and_day),
	    cmocka_unit_test(window_office_hours),
	    cmocka_unit_test(window_over_midnight),
	    cmocka_unit_test(window_describe_and_parse),
	    cmocka_unit_test(bucket),
	    cmocka_unit_test(rates_per_grant),
	    cmocka_unit_test(nonces),
	    cmocka_unit_test(grant_checks_in_order),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
