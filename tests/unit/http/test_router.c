/* test_router.c: the route matcher of src/http/router.c — compile errors, precedence,
 * parameters, trailing slashes, 405 method lists and segment limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http/http_int.h"

static enum err h_a(struct req *r, struct resp *w)
{
	return ERR_OK;
}

static enum err h_b(struct req *r, struct resp *w)
{
	return ERR_OK;
}

/* Match and return the result; route, params and allow are left in the out-parameters. */
struct match {
	struct arena a;
	struct compiled_route *cr;
	int np;
	const char *names[HTTP_MAX_PARAMS];
	const char *values[HTTP_MAX_PARAMS];
	const char *allow;
};

static enum router_result do_match(const struct router *rt, struct match *m, const char *method,
                                   const char *path)
{
	arena_release(&m->a);
	arena_init(&m->a, 0);
	m->allow = NULL;
	return router_match(rt, method, path, &m->a, &m->cr, &m->np, m->names, m->values,
	                    &m->allow);
}

static const char *param(const struct match *m, const char *name)
{
	for (int i = 0; i < m->np; i++)
		if (!strcmp(m->names[i], name))
			return m->values[i];
	return NULL;
}

static void test_literal_beats_parameter(void **state)
{
	/* The parameter route is registered first: precedence must not depend on order. */
	static const struct route routes[] = {
	    {"GET", "/api/v1/users/{id}", h_a, NULL, 0, NULL},
	    {"GET", "/api/v1/users/me", h_b, NULL, 0, NULL},
	    {"GET", "/api/v1/{kind}/me", h_a, NULL, 0, NULL},
	};
	struct router rt;
	struct match m;
	router_init(&rt);
	arena_init(&m.a, 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(router_add(&rt, &routes[i]), ERR_OK);

	assert_int_equal(do_match(&rt, &m, "GET", "/api/v1/users/me"), ROUTER_MATCH);
	assert_ptr_equal(m.cr->route, &routes[1]);
	assert_int_equal(m.np, 0);

	assert_int_equal(do_match(&rt, &m, "GET", "/api/v1/users/42"), ROUTER_MATCH);
	assert_ptr_equal(m.cr->route, &routes[0]);
	assert_string_equal(param(&m, "id"), "42");

	/* Two literals beat one. */
	assert_int_equal(do_match(&rt, &m, "GET", "/api/v1/orgs/me"), ROUTER_MATCH);
	assert_ptr_equal(m.cr->route, &routes[2]);
	assert_string_equal(param(&m, "kind"), "orgs");

	arena_release(&m.a);
	router_release(&rt);
}

static void test_params_extracted(void **state)
{
	static const struct route routes[] = {
	    {"GET", "/api/v1/orgs/{org}/users/{id}", h_a, NULL, 0, NULL},
	};
	struct router rt;
	struct match m;
	router_init(&rt);
	arena_init(&m.a, 0);
	assert_int_equal(router_add(&rt, &routes[0]), ERR_OK);

	assert_int_equal(do_match(&rt, &m, "GET", "/api/v1/orgs/310104/users/%E5%BC%A0"),
	                 ROUTER_MATCH);
	assert_int_equal(m.np, 2);
	assert_string_equal(m.names[0], "org");
	assert_string_equal(m.values[0], "310104");
	assert_string_equal(param(&m, "id"), "%E5%BC%A0"); /* the router does not decode */

	/* An empty segment is not a parameter value. */
	assert_int_equal(do_match(&rt, &m, "GET", "/api/v1/orgs//users/7"), ROUTER_NO_PATH);
	/* Fewer or more segments do not match. */
	assert_int_equal(do_match(&rt, &m, "GET", "/api/v1/orgs/1/users"), ROUTER_NO_PATH);
	assert_int_equal(do_match(&rt, &m, "GET", "/api/v1/orgs/1/users/2/x"), ROUTER_NO_PATH);

	arena_release(&m.a);
	router_release(&rt);
}

static void test_trailing_slash(void **state)
{
	static const struct route routes[] = {
	    {"GET", "/api/v1/users", h_a, NULL, 0, NULL},
	    {"GET", "/", h_b, NULL, 0, NULL},
	};
	struct router rt;
	struct match m;
	router_init(&rt);
	arena_init(&m.a, 0);
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(router_add(&rt, &routes[i]), ERR_OK);

	/* One trailing slash is the same resource; two are an empty segment. */
	assert_int_equal(do_match(&rt, &m, "GET", "/api/v1/users/"), ROUTER_MATCH);
	assert_ptr_equal(m.cr->route, &routes[0]);
	assert_int_equal(do_match(&rt, &m, "GET", "/api/v1/users//"), ROUTER_NO_PATH);
	assert_int_equal(do_match(&rt, &m, "GET", "/"), ROUTER_MATCH);
	assert_ptr_equal(m.cr->route, &routes[1]);
	/* Paths must be absolute. */
	assert_int_equal(do_match(&rt, &m, "GET", "api/v1/users"), ROUTER_NO_PATH);
	assert_int_equal(do_match(&rt, &m, "GET", ""), ROUTER_NO_PATH);
	/* Segments compare exactly (case-sensitive, whole segment). */
	assert_int_equal(do_match(&rt, &m, "GET", "/api/v1/Users"), ROUTER_NO_PATH);
	assert_int_equal(do_match(&rt, &m, "GET", "/api/v1/user"), ROUTER_NO_PATH);
	assert_int_equal(do_match(&rt, &m, "GET", "/api/v1/usersx"), ROUTER_NO_PATH);

	arena_release(&m.a);
	router_release(&rt);
}

static void test_method_not_allowed_lists_methods(void **state)
{
	static const struct route routes[] = {
	    {"GET", "/api/v1/users/{id}", h_a, NULL, 0, NULL},
	    {"GET", "/api/v1/users/me", h_a, NULL, 0, NULL},
	    {"PATCH", "/api/v1/users/{id}", h_b, NULL, 0, NULL},
	    {"DELETE", "/api/v1/users/{id}", h_b, NULL, 0, NULL},
	    {"POST", "/api/v1/users", h_b, NULL, 0, NULL},
	};
	struct router rt;
	struct match m;
	router_init(&rt);
	arena_init(&m.a, 0);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(router_add(&rt, &routes[i]), ERR_OK);

	/* GET appears once although two GET routes match the path. */
	assert_int_equal(do_match(&rt, &m, "PUT", "/api/v1/users/me"), ROUTER_NO_METHOD);
	assert_null(m.cr);
	assert_non_null(m.allow);
	assert_string_equal(m.allow, "GET, PATCH, DELETE");

	assert_int_equal(do_match(&rt, &m, "GET", "/api/v1/users"), ROUTER_NO_METHOD);
	assert_string_equal(m.allow, "POST");

	/* HEAD is not implied by GET for API routes. */
	assert_int_equal(do_match(&rt, &m, "HEAD", "/api/v1/users/7"), ROUTER_NO_METHOD);
	assert_string_equal(m.allow, "GET, PATCH, DELETE");

	/* A method on the wrong shape is "no path", not "no method". */
	assert_int_equal(do_match(&rt, &m, "GET", "/api/v1/users/7/roles"), ROUTER_NO_PATH);

	/* allow may be NULL. */
	struct compiled_route *cr;
	int np;
	const char *names[HTTP_MAX_PARAMS], *values[HTTP_MAX_PARAMS];
	assert_int_equal(
	    router_match(&rt, "PUT", "/api/v1/users", &m.a, &cr, &np, names, values, NULL),
	    ROUTER_NO_METHOD);

	arena_release(&m.a);
	router_release(&rt);
}

static void test_duplicates_rejected(void **state)
{
	static const struct route routes[] = {
	    {"GET", "/api/v1/users/{id}", h_a, NULL, 0, NULL},
	    {"GET", "/api/v1/users/{uid}", h_b, NULL, 0, NULL}, /* same shape, other name */
	    {"GET", "/api/v1/users/{id}/", h_b, NULL, 0, NULL}, /* same after the slash */
	    {"POST", "/api/v1/users/{id}", h_b, NULL, 0, NULL}, /* other method: fine */
	    {"GET", "/api/v1/users/me", h_b, NULL, 0, NULL},    /* literal vs param: fine */
	    {"GET", "/api/v1/users/me", h_a, NULL, 0, NULL},    /* exact duplicate */
	};
	struct router rt;
	router_init(&rt);
	assert_int_equal(router_add(&rt, &routes[0]), ERR_OK);
	assert_int_equal(router_add(&rt, &routes[1]), ERR_CONFIG);
	assert_int_equal(router_add(&rt, &routes[2]), ERR_CONFIG);
	assert_int_equal(router_add(&rt, &routes[3]), ERR_OK);
	assert_int_equal(router_add(&rt, &routes[4]), ERR_OK);
	assert_int_equal(router_add(&rt, &routes[5]), ERR_CONFIG);
	assert_int_equal(rt.n, 3);
	router_release(&rt);
}

static void test_segment_limits(void **state)
{
	/* ROUTER_MAX_SEGS (16) segments compile and match; 17 do not. */
	static const struct route ok16 = {"GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p", h_a, NULL, 0,
	                                  NULL};
	static const struct route bad17 = {
	    "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", h_a, NULL, 0, NULL};
	struct router rt;
	struct match m;
	router_init(&rt);
	arena_init(&m.a, 0);
	assert_int_equal(ROUTER_MAX_SEGS, 16);
	assert_int_equal(router_add(&rt, &ok16), ERR_OK);
	assert_int_equal(router_add(&rt, &bad17), ERR_CONFIG);
	assert_int_equal(do_match(&rt, &m, "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p"),
	                 ROUTER_MATCH);
	assert_int_equal(do_match(&rt, &m, "GET", "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q"),
	                 ROUTER_NO_PATH);

	/* A very long path of slashes and segments is refused without overrunning anything. */
	char path[4096];
	size_t n = 0;
	while (n + 2 < sizeof(path)) {
		path[n++] = '/';
		path[n++] = 'x';
	}
	path[n] = 0;
	assert_int_equal(do_match(&rt, &m, "GET", path), ROUTER_NO_PATH);

	arena_release(&m.a);
	router_release(&rt);
}

static void test_too_many_params(void **state)
{
	/* Every parameter of a route must reach the handler: more than HTTP_MAX_PARAMS is a
	 * configuration error, not a silent truncation. */
	static const struct route ok8 = {"GET", "/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", h_a, NULL, 0,
	                                 NULL};
	static const struct route bad9 = {
	    "GET", "/x/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}/{i}", h_a, NULL, 0, NULL};
	struct router rt;
	struct match m;
	router_init(&rt);
	arena_init(&m.a, 0);
	assert_int_equal(router_add(&rt, &ok8), ERR_OK);
	assert_int_equal(router_add(&rt, &bad9), ERR_CONFIG);
	assert_int_equal(do_match(&rt, &m, "GET", "/1/2/3/4/5/6/7/8"), ROUTER_MATCH);
	assert_int_equal(m.np, 8);
	assert_string_equal(param(&m, "h"), "8");
	arena_release(&m.a);
	router_release(&rt);
}

static void test_malformed_patterns(void **state)
{
	static const struct route bad[] = {
	    {"GET", "", h_a, NULL, 0, NULL},
	    {"GET", "api/v1/x", h_a, NULL, 0, NULL},   /* not absolute */
	    {"GET", "/api//x", h_a, NULL, 0, NULL},    /* empty segment */
	    {"GET", "/api/{}", h_a, NULL, 0, NULL},    /* empty parameter name */
	    {"GET", "/api/{id", h_a, NULL, 0, NULL},   /* unclosed */
	    {"GET", "/api/{id}x", h_a, NULL, 0, NULL}, /* junk after the brace */
	    {NULL, "/api/x", h_a, NULL, 0, NULL},
	    {"GET", NULL, h_a, NULL, 0, NULL},
	    {"GET", "/api/x", NULL, NULL, 0, NULL},
	};
	struct router rt;
	router_init(&rt);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("pattern %zu: %s\n", i, bad[i].pattern ? bad[i].pattern : "(null)");
		assert_int_equal(router_add(&rt, &bad[i]), ERR_CONFIG);
	}
	assert_int_equal(rt.n, 0);
	router_release(&rt);
}

static void test_many_routes_grow(void **state)
{
	/* More routes than the initial allocation; every one stays matchable. */
	static char patterns[200][32];
	static struct route routes[200];
	struct router rt;
	struct match m;
	router_init(&rt);
	arena_init(&m.a, 0);
	for (int i = 0; i < 200; i++) {
		snprintf(patterns[i], sizeof(patterns[i]), "/api/v1/r%d/{id}", i);
		routes[i] = (struct route){"GET", patterns[i], h_a, NULL, 0, NULL};
		assert_int_equal(router_add(&rt, &routes[i]), ERR_OK);
	}
	for (int i = 0; i < 200; i += 37) {
		char path[64];
		snprintf(path, sizeof(path), "/api/v1/r%d/%d", i, i * 3);
		assert_int_equal(do_match(&rt, &m, "GET", path), ROUTER_MATCH);
		assert_ptr_equal(m.cr->route, &routes[i]);
		char want[16];
		snprintf(want, sizeof(want), "%d", i * 3);
		assert_string_equal(param(&m, "id"), want);
	}
	arena_release(&m.a);
	router_release(&rt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_literal_beats_parameter),
	    cmocka_unit_test(test_params_extracted),
	    cmocka_unit_test(test_trailing_slash),
	    cmocka_unit_test(test_method_not_allowed_lists_methods),
	    cmocka_unit_test(test_duplicates_rejected),
	    cmocka_unit_test(test_segment_limits),
	    cmocka_unit_test(test_too_many_params),
	    cmocka_unit_test(test_malformed_patterns),
	    cmocka_unit_test(test_many_routes_grow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
