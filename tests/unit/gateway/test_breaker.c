/* test_breaker.c: the circuit breaker's states driven by an explicit clock — failures within
 * the window open it, failures spread beyond the window do not, it refuses while open,
 * lets exactly one probe through when half-open, closes on a good probe and reopens on a
 * bad one; an abandoned probe frees the slot; reset; a zero threshold never opens. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gateway/gateway_int.h"

static const struct gw_breaker_cfg cfg = {.failures = 3, .window_ms = 10000, .open_ms = 5000};

static void fail_at(struct gw_breaker *b, int64_t t)
{
	bool probe;
	assert_true(gw_breaker_allow(b, &cfg, t, &probe));
	gw_breaker_record(b, &cfg, t, false, probe);
}

static void test_opens_after_failures_in_window(void **state)
{
	(void)state;
	struct gw_breaker b = {0};
	bool probe;
	fail_at(&b, 1000);
	fail_at(&b, 2000);
	assert_int_equal(b.state, GW_BR_CLOSED);
	/* Successes do not hide failures inside the window. */
	assert_true(gw_breaker_allow(&b, &cfg, 2500, &probe));
	assert_false(probe);
	gw_breaker_record(&b, &cfg, 2500, true, probe);
	fail_at(&b, 3000);
	assert_int_equal(b.state, GW_BR_OPEN);
	assert_int_equal(b.opens, 1);
	assert_false(gw_breaker_allow(&b, &cfg, 3001, &probe));
	assert_false(gw_breaker_allow(&b, &cfg, 7999, &probe));
	assert_string_equal(gw_breaker_state_name(b.state), "open");
}

static void test_window_expires(void **state)
{
	(void)state;
	struct gw_breaker b = {0};
	fail_at(&b, 0);
	fail_at(&b, 9000);
	/* The window started at 0; at 10001 it has passed, so counting starts again. */
	fail_at(&b, 10001);
	assert_int_equal(b.state, GW_BR_CLOSED);
	assert_int_equal(b.failures, 1);
	fail_at(&b, 12000);
	fail_at(&b, 13000);
	assert_int_equal(b.state, GW_BR_OPEN);
}

static void test_half_open_single_probe(void **state)
{
	(void)state;
	struct gw_breaker b = {0};
	bool probe = false, p2 = true;
	for (int i = 0; i < 3; i++)
		fail_at(&b, 100);
	assert_int_equal(b.state, GW_BR_OPEN);
	/* After open_ms one caller probes; everyone else is still refused. */
	assert_true(gw_breaker_allow(&b, &cfg, 5100, &probe));
	assert_true(probe);
	assert_int_equal(b.state, GW_BR_HALF_OPEN);
	assert_false(gw_breaker_allow(&b, &cfg, 5101, &p2));
	assert_false(p2);
	/* A late result of a call from before the opening changes nothing. */
	gw_breaker_record(&b, &cfg, 5102, false, false);
	assert_int_equal(b.state, GW_BR_HALF_OPEN);
	/* The probe fails: open again, for a new period. */
	gw_breaker_record(&b, &cfg, 5200, false, true);
	assert_int_equal(b.state, GW_BR_OPEN);
	assert_int_equal(b.opens, 2);
	assert_false(gw_breaker_allow(&b, &cfg, 10199, &probe));
	assert_true(gw_breaker_allow(&b, &cfg, 10200, &probe));
	assert_true(probe);
	/* The probe succeeds: closed, counting from zero. */
	gw_breaker_record(&b, &cfg, 10300, true, true);
	assert_int_equal(b.state, GW_BR_CLOSED);
	assert_int_equal(b.failures, 0);
	assert_true(gw_breaker_allow(&b, &cfg, 10301, &probe));
	assert_false(probe);
	fail_at(&b, 10400);
	assert_int_equal(b.state, GW_BR_CLOSED);
}

static void test_abandoned_probe_and_reset(void **state)
{
	(void)state;
	struct gw_breaker b = {0};
	bool probe;
	for (int i = 0; i < 3; i++)
		fail_at(&b, 0);
	assert_true(gw_breaker_allow(&b, &cfg, 6000, &probe));
	assert_true(probe);
	gw_breaker_abandon(&b);
	assert_true(gw_breaker_allow(&b, &cfg, 6001, &probe));
	assert_true(probe);
	gw_breaker_reset(&b);
	assert_int_equal(b.state, GW_BR_CLOSED);
	assert_int_equal(b.opens, 1); /* history survives a reset */
	assert_true(gw_breaker_allow(&b, &cfg, 6002, &probe));
	assert_false(probe);
}

static void test_zero_threshold_never_opens(void **state)
{
	(void)state;
	const struct gw_breaker_cfg off = {.failures = 0, .window_ms = 1000, .open_ms = 1000};
	struct gw_breaker b = {0};
	bool probe;
	for (int i = 0; i < 100; i++) {
		assert_true(gw_breaker_allow(&b, &off, i, &probe));
		gw_breaker_record(&b, &off, i, false, probe);
	}
	assert_int_equal(b.state, GW_BR_CLOSED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_opens_after_failures_in_window),
	    cmocka_unit_test(test_window_expires),
	    cmocka_unit_test(test_half_open_single_probe),
	    cmocka_unit_test(test_abandoned_probe_and_reset),
	    cmocka_unit_test(test_zero_threshold_never_opens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
