/* http_int.h: internals shared by the files of src/http/. */
#ifndef SHOULI_HTTP_INT_H
#define SHOULI_HTTP_INT_H

#include <stdatomic.h>

#include "http/http.h"

#define ROUTER_MAX_SEGS 16

struct compiled_route {
	const struct route *route;
	int nseg;
	const char *seg[ROUTER_MAX_SEGS]; /* literal text, or the parameter name */
	size_t seglen[ROUTER_MAX_SEGS];
	unsigned char is_param[ROUTER_MAX_SEGS];
	/* metrics */
	atomic_uint_fast64_t lat_bucket[12]; /* see HTTP_LAT_BOUNDS in metrics.c */
	atomic_uint_fast64_t lat_sum_us;
	atomic_uint_fast64_t lat_count;
};

struct router {
	struct compiled_route *routes;
	size_t n, alloc;
};

void router_init(struct router *rt);
void router_release(struct router *rt);
/* Compile and add a route. ERR_CONFIG for malformed patterns (and duplicates). */
enum err router_add(struct router *rt, const struct route *r);

enum router_result { ROUTER_MATCH, ROUTER_NO_PATH, ROUTER_NO_METHOD };

/* Match method + path. On ROUTER_MATCH *out is the route and params are filled (values
 * point into a copy of the path made in a). On ROUTER_NO_METHOD, allow (if not NULL) gets a
 * comma-separated list of the methods that exist for the path (from a). */
enum router_result router_match(const struct router *rt, const char *method, const char *path,
                                struct arena *a, struct compiled_route **out, int *nparams,
                                const char **names, const char **values, const char **allow);

/* Per-status metrics keyed by (route index, status) */
struct status_counter {
	int route_idx; /* -1 = static files, -2 = unmatched */
	int status;
	atomic_uint_fast64_t count;
};

#endif
