#include "http/http_int.h"

#include <stdlib.h>
#include <string.h>

void router_init(struct router *rt)
{
	rt->routes = NULL;
	rt->n = rt->alloc = 0;
}

void router_release(struct router *rt)
{
	free(rt->routes);
	router_init(rt);
}

/* Split "/a/b/c" into segments; a trailing slash adds no empty segment. */
static int split(const char *path, const char **seg, size_t *len, int max)
{
	int n = 0;
	const char *p = path;
	if (*p != '/')
		return -1;
	while (*p == '/') {
		p++;
		if (!*p)
			break;
		const char *q = strchr(p, '/');
		size_t l = q ? (size_t)(q - p) : strlen(p);
		if (n == max)
			return -1;
		seg[n] = p;
		len[n] = l;
		n++;
		p += l;
	}
	return n;
}

enum err router_add(struct router *rt, const struct route *r)
{
	struct compiled_route cr;
	memset(&cr, 0, sizeof(cr));
	cr.route = r;
	if (!r->method || !r->pattern || !r->handler)
		return ERR_CONFIG;
	int n = split(r->pattern, cr.seg, cr.seglen, ROUTER_MAX_SEGS);
	if (n < 0)
		return ERR_CONFIG;
	cr.nseg = n;
	int nparams = 0;
	for (int i = 0; i < n; i++) {
		if (cr.seglen[i] == 0)
			return ERR_CONFIG;
		if (cr.seg[i][0] == '{') {
			if (cr.seglen[i] < 3 || cr.seg[i][cr.seglen[i] - 1] != '}')
				return ERR_CONFIG;
			/* router_match hands out at most HTTP_MAX_PARAMS: refuse a route whose
			 * handler would silently miss a parameter. */
			if (++nparams > HTTP_MAX_PARAMS)
				return ERR_CONFIG;
			cr.is_param[i] = 1;
			cr.seg[i]++;
			cr.seglen[i] -= 2;
		}
	}
	for (size_t k = 0; k < rt->n; k++) {
		const struct compiled_route *o = &rt->routes[k];
		if (o->nseg != n || strcmp(o->route->method, r->method) != 0)
			continue;
		int same = 1;
		for (int i = 0; i < n && same; i++)
			same = o->is_param[i] == cr.is_param[i] &&
			       (cr.is_param[i] || (o->seglen[i] == cr.seglen[i] &&
			                           !memcmp(o->seg[i], cr.seg[i], cr.seglen[i])));
		if (same)
			return ERR_CONFIG;
	}
	if (rt->n == rt->alloc) {
		size_t na = rt->alloc ? rt->alloc * 2 : 64;
		struct compiled_route *nr = realloc(rt->routes, na * sizeof(*nr));
		if (!nr)
			return ERR_NOMEM;
		rt->routes = nr;
		rt->alloc = na;
	}
	rt->routes[rt->n++] = cr;
	return ERR_OK;
}

/* Does the compiled route's shape match the path's segments? Literal segments beat
 * parameters: the caller prefers the route with the most literal matches. */
static int score(const struct compiled_route *cr, int n, const char **seg, const size_t *len)
{
	if (cr->nseg != n)
		return -1;
	int lit = 0;
	for (int i = 0; i < n; i++) {
		if (cr->is_param[i]) {
			if (len[i] == 0)
				return -1;
			continue;
		}
		if (cr->seglen[i] != len[i] || memcmp(cr->seg[i], seg[i], len[i]) != 0)
			return -1;
		lit++;
	}
	return lit;
}

enum router_result router_match(const struct router *rt, const char *method, const char *path,
                                struct arena *a, struct compiled_route **out, int *nparams,
                                const char **names, const char **values, const char **allow)
{
	const char *seg[ROUTER_MAX_SEGS];
	size_t len[ROUTER_MAX_SEGS];
	int n = split(path, seg, len, ROUTER_MAX_SEGS);
	*out = NULL;
	*nparams = 0;
	if (n < 0)
		return ROUTER_NO_PATH;
	struct compiled_route *best = NULL;
	int best_score = -1;
	int path_exists = 0;
	for (size_t k = 0; k < rt->n; k++) {
		struct compiled_route *cr = &rt->routes[k];
		int s = score(cr, n, seg, len);
		if (s < 0)
			continue;
		path_exists = 1;
		if (strcmp(cr->route->method, method) == 0 && s > best_score) {
			best = cr;
			best_score = s;
		}
	}
	if (!best) {
		if (!path_exists)
			return ROUTER_NO_PATH;
		if (allow) {
			struct buf b;
			buf_init(&b, 256);
			for (size_t k = 0; k < rt->n; k++)
				if (score(&rt->routes[k], n, seg, len) >= 0 &&
				    !strstr(b.p ? b.p : "", rt->routes[k].route->method))
					buf_printf(&b, "%s%s", b.len ? ", " : "",
					           rt->routes[k].route->method);
			*allow = arena_strdup(a, b.p ? b.p : "");
			buf_release(&b);
		}
		return ROUTER_NO_METHOD;
	}
	int np = 0;
	for (int i = 0; i < n; i++) {
		if (!best->is_param[i] || np == HTTP_MAX_PARAMS)
			continue;
		names[np] = arena_strndup(a, best->seg[i], best->seglen[i]);
		values[np] = arena_strndup(a, seg[i], len[i]);
		if (!names[np] || !values[np])
			return ROUTER_NO_PATH;
		np++;
	}
	*out = best;
	*nparams = np;
	return ROUTER_MATCH;
}
