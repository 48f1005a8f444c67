/* test_faults.c: fault definitions and matching, scenario matching and the seeded generator
 * of the simulators (src/sim/sim.c, sim_people.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim/sim_int.h"

/* Parse text; *field is copied out, as it may point into the document. */
static enum err parse(const char *text, struct sim_fault *f, const char **field)
{
	static char copy[64];
	json_t *doc = json_loads(text, 0, NULL);
	assert_non_null(doc);
	const char *msg = NULL, *fld = NULL;
	enum err e = sim_fault_parse(doc, f, &fld, &msg);
	if (e)
		assert_non_null(msg);
	snprintf(copy, sizeof(copy), "%s", fld ? fld : "");
	*field = copy;
	json_decref(doc);
	return e;
}

static void test_parse_full(void **state)
{
	struct sim_fault f;
	const char *field;
	assert_int_equal(parse("{\"prefix\":\"/minzheng/\",\"latency_ms\":2000,\"error_rate\":0.5,"
	                       "\"status\":502,\"timeout\":true,\"timeout_ms\":1500,"
	                       "\"down_from\":1000,\"down_to\":2000}",
	                       &f, &field),
	                 ERR_OK);
	assert_string_equal(f.prefix, "/minzheng"); /* trailing slash dropped */
	assert_int_equal(f.latency_ms, 2000);
	assert_true(f.error_rate > 0.49 && f.error_rate < 0.51);
	assert_int_equal(f.status, 502);
	assert_true(f.timeout);
	assert_int_equal(f.timeout_ms, 1500);
	assert_int_equal(f.down_from, 1000);
	assert_int_equal(f.down_to, 2000);
}

static void test_parse_defaults(void **state)
{
	struct sim_fault f;
	const char *field;
	/* a status alone fails every call */
	assert_int_equal(parse("{\"prefix\":\"/shebao\",\"status\":500}", &f, &field), ERR_OK);
	assert_true(f.error_rate >= 1.0);
	assert_int_equal(f.status, 500);
	assert_false(f.timeout);
	assert_int_equal(f.timeout_ms, 30000);
	/* an error rate alone fails with 503 */
	assert_int_equal(parse("{\"prefix\":\"/shebao\",\"error_rate\":0.25}", &f, &field), ERR_OK);
	assert_int_equal(f.status, 503);
	assert_true(f.error_rate > 0.24 && f.error_rate < 0.26);
	/* latency only: no error at all */
	assert_int_equal(parse("{\"prefix\":\"/\",\"latency_ms\":10}", &f, &field), ERR_OK);
	assert_true(f.error_rate <= 0.0);
	assert_int_equal(f.down_from, 0);
}

static void test_parse_times(void **state)
{
	struct sim_fault f;
	const char *field;
	assert_int_equal(
	    parse("{\"prefix\":\"/gongan\",\"down_from\":\"2026-05-01T08:00:00+08:00\","
	          "\"down_to\":\"2026-05-01T00:30:00Z\"}",
	          &f, &field),
	    ERR_OK);
	assert_int_equal(f.down_from, 1777593600000LL);
	assert_int_equal(f.down_to, 1777595400000LL);
	/* no zone: China Standard Time */
	assert_int_equal(
	    parse("{\"prefix\":\"/gongan\",\"down_from\":\"2026-05-01T08:00\"}", &f, &field),
	    ERR_OK);
	assert_int_equal(f.down_from, 1777593600000LL);
	assert_int_equal(f.down_to, 0);
}

static void test_parse_errors(void **state)
{
	struct sim_fault f;
	const char *field = NULL;
	assert_int_equal(parse("{\"latency_ms\":1}", &f, &field), ERR_BAD_FIELD);
	assert_string_equal(field, "prefix");
	assert_int_equal(parse("{\"prefix\":\"minzheng\"}", &f, &field), ERR_BAD_FIELD);
	assert_string_equal(field, "prefix");
	assert_int_equal(parse("{\"prefix\":\"/a\",\"latency\":1}", &f, &field), ERR_BAD_FIELD);
	assert_string_equal(field, "latency");
	assert_int_equal(parse("{\"prefix\":\"/a\",\"error_rate\":1.5}", &f, &field),
	                 ERR_BAD_FIELD);
	assert_string_equal(field, "error_rate");
	assert_int_equal(parse("{\"prefix\":\"/a\",\"status\":200}", &f, &field), ERR_BAD_FIELD);
	assert_string_equal(field, "status");
	assert_int_equal(parse("{\"prefix\":\"/a\",\"latency_ms\":-1}", &f, &field), ERR_BAD_FIELD);
	assert_string_equal(field, "latency_ms");
	assert_int_equal(parse("{\"prefix\":\"/a\",\"timeout\":1}", &f, &field), ERR_BAD_FIELD);
	assert_string_equal(field, "timeout");
	assert_int_equal(parse("{\"prefix\":\"/a\",\"down_from\":\"tomorrow\"}", &f, &field),
	                 ERR_BAD_FIELD);
	assert_string_equal(field, "down_from");
	assert_int_equal(
	    parse("{\"prefix\":\"/a\",\"down_from\":2000,\"down_to\":1000}", &f, &field),
	    ERR_BAD_FIELD);
	assert_string_equal(field, "down_to");
	assert_int_equal(parse("[]", &f, &field), ERR_BAD_FIELD);
}

static void test_prefix_covers_whole_segments(void **state)
{
	struct sim_fault f;
	memset(&f, 0, sizeof(f));
	snprintf(f.prefix, sizeof(f.prefix), "/minzheng");
	assert_true(sim_fault_covers(&f, "/minzheng"));
	assert_true(sim_fault_covers(&f, "/minzheng/elder-allowance/query"));
	assert_false(sim_fault_covers(&f, "/minzhengx/query"));
	assert_false(sim_fault_covers(&f, "/shebao/persons/query"));
	snprintf(f.prefix, sizeof(f.prefix), "/minzheng/meal-subsidy");
	assert_true(sim_fault_covers(&f, "/minzheng/meal-subsidy/changes"));
	assert_false(sim_fault_covers(&f, "/minzheng/elder-allowance/query"));
	snprintf(f.prefix, sizeof(f.prefix), "/");
	assert_true(sim_fault_covers(&f, "/anything/at/all"));
}

static bool match(const char *m, const char *v)
{
	json_t *jm = json_loads(m, 0, NULL), *jv = json_loads(v, JSON_DECODE_ANY, NULL);
	bool r = sim_match_subset(jm, jv);
	json_decref(jm);
	json_decref(jv);
	return r;
}

static void test_scenario_match_is_a_subset(void **state)
{
	assert_true(match("{}", "{\"id_number\":\"1\"}"));
	assert_true(match("{\"id_number\":\"1\"}", "{\"id_number\":\"1\",\"name\":\"x\"}"));
	assert_false(match("{\"id_number\":\"1\"}", "{\"id_number\":\"2\"}"));
	assert_false(match("{\"id_number\":\"1\"}", "{\"name\":\"x\"}"));
	/* nested objects are subsets too; arrays must be equal */
	assert_true(
	    match("{\"applicant\":{\"id_number\":\"1\"}}",
	          "{\"applicant\":{\"id_number\":\"1\",\"name\":\"x\"},\"case_no\":\"c\"}"));
	assert_false(match("{\"applicant\":{\"id_number\":\"1\"}}", "{\"applicant\":\"1\"}"));
	assert_true(match("{\"tags\":[1,2]}", "{\"tags\":[1,2]}"));
	assert_false(match("{\"tags\":[1]}", "{\"tags\":[1,2]}"));
	/* query strings and SOAP elements arrive as text: numbers match their text */
	assert_true(match("{\"year\":2026}", "{\"year\":\"2026\"}"));
	assert_true(match("{\"year\":\"2026\"}", "{\"year\":2026}"));
	assert_false(match("{\"year\":2026}", "{\"year\":\"2025\"}"));
	/* null matches an absent member */
	assert_true(match("{\"agent\":null}", "{}"));
	assert_true(match("{\"flag\":true}", "{\"flag\":true}"));
	assert_false(match("{\"flag\":true}", "{\"flag\":false}"));
}

static void test_generator_reproducible(void **state)
{
	struct sim_rng a, b, c;
	sim_rng_seed(&a, 99);
	sim_rng_seed(&b, 99);
	sim_rng_seed(&c, 100);
	int differ = 0;
	for (int i = 0; i < 1000; i++) {
		uint64_t x = sim_rng_next(&a);
		assert_int_equal(x, sim_rng_next(&b));
		differ += x != sim_rng_next(&c);
	}
	assert_true(differ > 990);
	/* an error rate of 0.3 fails about 30 % of the calls */
	sim_rng_seed(&a, 5);
	int hits = 0;
	for (int i = 0; i < 20000; i++) {
		double u = sim_rng_unit(&a);
		assert_true(u >= 0.0 && u < 1.0);
		hits += u < 0.3;
	}
	assert_true(hits > 5700 && hits < 6300);
	for (int i = 0; i < 1000; i++)
		assert_true(sim_rng_below(&a, 7) < 7);
	assert_int_equal(sim_hash(1, "abc"), sim_hash(1, "abc"));
	assert_true(sim_hash(1, "abc") != sim_hash(2, "abc"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_full),
	    cmocka_unit_test(test_parse_defaults),
	    cmocka_unit_test(test_parse_times),
	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_prefix_covers_whole_segments),
	    cmocka_unit_test(test_scenario_match_is_a_subset),
	    cmocka_unit_test(test_generator_reproducible),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
