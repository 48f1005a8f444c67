/* fuzz_http_json.c: libFuzzer harness for what the HTTP layer does with untrusted request
 * bytes before a handler runs — route matching on the method and path, UTF-8 validation of
 * the path, strict JSON parsing and the closed schema check of the body.
 *
 * Input layout: <method> ' ' <path> '\n' <body>. Missing separators are fine (the rest is
 * then empty). The harness also checks properties that must hold for every input and
 * aborts when one does not:
 *   - a match yields a route whose method is the requested one and whose parameters are
 *     non-empty, slash-free segments of the path;
 *   - ROUTER_NO_METHOD yields a non-empty Allow list that does not name the method;
 *   - json_parse succeeds only on valid UTF-8 and reports ERR_BAD_UTF8 for invalid UTF-8;
 *   - every json_check failure carries a message, and a field for field-level errors;
 *   - a parsed body dumps and re-parses to an equal value. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/json.h"
#include "core/str.h"
#include "http/http_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static enum err h(struct req *r, struct resp *w)
{
	(void)r;
	(void)w;
	return ERR_OK;
}

static const struct json_field login_body[] = {
    {"username", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 64, "用户名"},
    {"password", JF_STRING, JF_REQUIRED, 1, 128, "密码"},
    {"otp", JF_STRING, JF_NULLABLE, 6, 6, "动态口令"},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct json_field user_body[] = {
    {"name", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 50, "姓名"},
    {"org_id", JF_INT, JF_REQUIRED, 1, 1000000, "所属机构"},
    {"roles", JF_ARRAY, 0, 1, 8, "角色"},
    {"enabled", JF_BOOL, 0, 0, 0, "启用"},
    {"weight", JF_NUMBER, JF_NULLABLE, 0, 0, "权重"},
    {"profile", JF_OBJECT, 0, 0, 0, "资料"},
    {"extra", JF_ANY, 0, 0, 0, NULL},
    {NULL, 0, 0, 0, 0, NULL},
};

/* A route table shaped like the application's: literals next to parameters at the same
 * depth, several methods per path, deep paths, the root. */
static const struct route routes[] = {
    {"GET", "/healthz", h, NULL, ROUTE_PUBLIC, NULL},
    {"GET", "/readyz", h, NULL, ROUTE_PUBLIC, NULL},
    {"GET", "/metrics", h, NULL, ROUTE_PUBLIC, NULL},
    {"GET", "/api/v1/ws", h, NULL, 0, NULL},
    {"POST", "/api/v1/auth/login", h, NULL, ROUTE_PUBLIC | ROUTE_NO_CSRF, login_body},
    {"POST", "/api/v1/auth/logout", h, NULL, 0, NULL},
    {"GET", "/api/v1/auth/me", h, NULL, 0, NULL},
    {"GET", "/api/v1/users", h, "user.manage", 0, NULL},
    {"POST", "/api/v1/users", h, "user.manage", 0, user_body},
    {"GET", "/api/v1/users/{id}", h, "user.manage", 0, NULL},
    {"PATCH", "/api/v1/users/{id}", h, "user.manage", 0, user_body},
    {"DELETE", "/api/v1/users/{id}", h, "user.manage", 0, NULL},
    {"GET", "/api/v1/users/me", h, NULL, 0, NULL},
    {"POST", "/api/v1/users/{id}/unlock", h, "user.manage", 0, NULL},
    {"GET", "/api/v1/orgs/{org}/users/{id}", h, NULL, 0, NULL},
    {"GET", "/api/v1/orgs/{org}/centres/{centre}/queues/{queue}/tickets/{ticket}", h, NULL, 0,
     NULL},
    {"PUT", "/api/v1/{kind}/{id}", h, NULL, ROUTE_SLOW, NULL},
    {"POST", "/api/v1/files", h, NULL, ROUTE_RAW, NULL},
    {"GET", "/", h, NULL, ROUTE_PUBLIC, NULL},
};

static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"};

static struct router rt;
static int rt_ready;

static void setup(void)
{
	router_init(&rt);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
		if (router_add(&rt, &routes[i]) != ERR_OK)
			abort();
	rt_ready = 1;
}

static void check_match(const char *method, const char *path, struct arena *a)
{
	struct compiled_route *cr = NULL;
	int np = -1;
	const char *names[HTTP_MAX_PARAMS], *values[HTTP_MAX_PARAMS], *allow = NULL;
	enum router_result res =
	    router_match(&rt, method, path, a, &cr, &np, names, values, &allow);
	switch (res) {
	case ROUTER_MATCH:
		if (!cr || strcmp(cr->route->method, method) != 0 || np < 0 || np > HTTP_MAX_PARAMS)
			abort();
		for (int i = 0; i < np; i++) {
			if (!names[i] || !values[i] || !values[i][0] || strchr(values[i], '/') ||
			    !strstr(path, values[i]))
				abort();
		}
		break;
	case ROUTER_NO_METHOD:
		if (cr || np != 0 || !allow || !allow[0])
			abort();
		/* the requested method cannot be among those allowed (compare whole tokens) */
		for (const char *p = allow; *p;) {
			const char *comma = strchr(p, ',');
			size_t n = comma ? (size_t)(comma - p) : strlen(p);
			if (n == strlen(method) && !memcmp(p, method, n))
				abort();
			p += n;
			while (*p == ',' || *p == ' ')
				p++;
		}
		break;
	case ROUTER_NO_PATH:
		if (cr || np != 0)
			abort();
		break;
	default: abort();
	}
}

static void check_body(const char *body, size_t n, struct arena *a)
{
	json_t *v = NULL;
	struct errinfo ei = {0};
	enum err e = json_parse(body, n, &v, a, &ei);
	bool valid = utf8_valid(body, n);
	if (!valid && e != ERR_BAD_UTF8)
		abort();
	if (e) {
		if (v || (e != ERR_BAD_JSON && e != ERR_BAD_UTF8) || ei.code != e)
			abort();
		return;
	}
	if (!valid || !v)
		abort();
	json_arena_own(a, v);

	const struct json_field *schemas[] = {login_body, user_body};
	for (size_t s = 0; s < 2; s++) {
		for (int closed = 0; closed < 2; closed++) {
			struct errinfo ci = {0};
			enum err ce = json_check(v, schemas[s], closed, a, &ci);
			if (ce == ERR_OK)
				continue;
			if (ci.code != ce || !ci.msg || !utf8_valid(ci.msg, strlen(ci.msg)))
				abort();
			if ((ce == ERR_UNKNOWN_FIELD || ce == ERR_MISSING_FIELD) && !ci.field)
				abort();
			if (ce == ERR_UNKNOWN_FIELD && !closed)
				abort();
			if (ce != ERR_BAD_JSON && ce != ERR_UNKNOWN_FIELD &&
			    ce != ERR_MISSING_FIELD && ce != ERR_BAD_FIELD)
				abort();
		}
	}

	/* What we accepted we can write back, and reading that gives the same value. */
	char *dumped = json_dump_arena(v, a);
	if (!dumped)
		return; /* arena cap reached */
	json_t *w = NULL;
	if (json_parse(dumped, strlen(dumped), &w, a, NULL) != ERR_OK || !json_equal(v, w))
		abort();
	json_decref(w);

	(void)json_get_str(v, "username");
	(void)json_get_int(v, "org_id", -1);
	(void)json_get_bool(v, "enabled", false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!rt_ready)
		setup();
	struct arena a;
	arena_init(&a, 4u << 20);

	/* The method: a table entry when the first byte is small (so the fuzzer reaches real
	 * routes quickly), else the raw bytes up to the first space. */
	const uint8_t *end = data + size, *p = data;
	char *method;
	if (size && data[0] < 0x20) {
		method =
		    arena_strdup(&a, methods[data[0] % (sizeof(methods) / sizeof(methods[0]))]);
		p++;
		if (p < end && *p == ' ')
			p++;
	} else {
		const uint8_t *sp = memchr(p, ' ', (size_t)(end - p));
		size_t mlen = sp ? (size_t)(sp - p) : (size_t)(end - p);
		method = arena_strndup(&a, (const char *)p, mlen);
		p += mlen + (sp ? 1 : 0);
	}
	const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
	size_t plen = nl ? (size_t)(nl - p) : (size_t)(end - p);
	/* The path arrives as a C string from libmicrohttpd: it ends at the first NUL. */
	char *path = arena_strndup(&a, (const char *)p, plen);
	const char *body = nl ? (const char *)nl + 1 : "";
	size_t blen = nl ? (size_t)(end - nl - 1) : 0;
	if (!method || !path)
		abort();

	(void)utf8_valid(path, strlen(path));
	(void)utf8_len(path, strlen(path));
	check_match(method, path, &a);
	check_body(body, blen, &a);

	arena_release(&a);
	return 0;
}
