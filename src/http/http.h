/* http.h: the HTTP layer of Shouli — requests, responses, route tables, the server.
 *
 * Only src/http/ includes microhttpd.h. Modules describe their endpoints in static const
 * route tables; the server matches the route, then runs the central checks (session,
 * permission, CSRF, body size, JSON parse and schema) before any handler runs, and renders
 * the response (and every error, as {"error":{"code","message","field"}}) in one place. */
#ifndef SHOULI_HTTP_H
#define SHOULI_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/id.h"
#include "core/buf.h"
#include "core/json.h"

struct server;
struct req;
struct resp;

/* Route flags */
#define ROUTE_PUBLIC 1u /* no session required */
#define ROUTE_SLOW                                                                                 \
	2u /* runs on the worker pool (PDF, OCR, reports): never stalls the I/O threads */
#define ROUTE_RAW     4u /* body is not JSON (uploads): cap is upload_max, req->json stays NULL */
#define ROUTE_NO_CSRF 8u /* unsafe method accepted without the CSRF header (login only) */
/* An open API (/api/open/v1/...): the caller is another system authenticated by a signed
 * request (docs/gateway.md), through the authenticate_open hook instead of a session; no
 * CSRF header. The hook sees the raw body (r->body) before it is parsed. */
#define ROUTE_OPEN 16u

typedef enum err (*http_handler)(struct req *r, struct resp *w);

struct route {
	const char *method;  /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *pattern; /* "/api/v1/users/{id}": literal segments and {name} parameters */
	http_handler handler;
	const char *perm; /* permission required (e.g. "user.manage"); NULL = any logged-in user */
	unsigned flags;
	const struct json_field *body; /* closed schema of the JSON body; NULL = no body accepted
	                                 (unless ROUTE_RAW) */
};

#define HTTP_MAX_PARAMS 8

/* The caller's identity, filled by the authentication hook for requests with a valid
 * session (all strings live at least as long as the request). */
struct principal {
	int64_t user_id;
	const char *username;
	const char *name;
	const char *session_id; /* opaque, for logout */
	const char *csrf_token;
	const char *const *perms; /* sorted ascending, nperms entries */
	int nperms;
	int64_t org_id;          /* the user's organisation (data scope root) */
	const char *scope_level; /* "city" | "district" | "street" | "centre" */
	const char *scope_code;  /* the organisation's code, e.g. "310104" */
	const char
	    *scope_path; /* materialised path of org ids, e.g. "/1/3/12/", for scope checks */
	bool password_expired;
	/* The authenticate hook's own data for this request (the auth module keeps the identity
	 * it loaded here, so that handlers of its own need not load it again); NULL or
	 * request-lived memory. Nobody else reads it. */
	void *ext;
};

struct req {
	struct arena *arena; /* per-request arena, freed when the response is done */
	struct server *srv;
	const struct route *route;
	const char *method;
	const char *path; /* percent-decoded path without the query */
	const char *client_ip;
	struct trace_ctx trace;
	int nparams;
	const char *param_name[HTTP_MAX_PARAMS];
	const char *param_value[HTTP_MAX_PARAMS];
	const char *body; /* raw body (NUL-terminated copy), body_len bytes; NULL when none */
	size_t body_len;
	json_t *json;          /* parsed, schema-checked JSON body; owned by the arena */
	struct principal *who; /* NULL when not logged in */
	struct errinfo err;    /* set by req_fail */
	void *impl;            /* the HTTP layer's per-request state */
};

/* Path parameter {name} of the matched route; NULL if absent. */
const char *req_param(const struct req *r, const char *name);
/* Decoded query-string argument; NULL if absent. */
const char *req_query(const struct req *r, const char *name);
/* Request header (case-insensitive); NULL if absent. */
const char *req_header(const struct req *r, const char *name);
/* Cookie value; NULL if absent. */
const char *req_cookie(const struct req *r, const char *name);
/* Call fn for each decoded query-string argument, in the order sent (value "" when the
 * argument has no '='). */
void req_query_each(const struct req *r, void (*fn)(void *ctx, const char *name, const char *value),
                    void *ctx);
/* Does the caller hold permission perm? false when not logged in. */
bool req_has_perm(const struct req *r, const char *perm);
/* Record a failure with a field and a zh-CN message (printf format, may be NULL for the
 * default message) and return code, so handlers can write `return req_fail(...)`. */
enum err req_fail(struct req *r, enum err code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Integer query parameter with range check: absent → def; present but not a whole number in
 * [min,max] → ERR_BAD_FIELD recorded on r. */
enum err req_query_int(struct req *r, const char *name, int64_t min, int64_t max, int64_t def,
                       int64_t *out);

#define RESP_MAX_HEADERS 12

struct resp {
	int status;       /* 0 = 200 */
	json_t *json;     /* JSON body; the layer takes the reference */
	const void *body; /* or a raw body (arena or static memory) ... */
	size_t body_len;
	const char *content_type; /* ... with its type */
	int nheaders;
	const char *hname[RESP_MAX_HEADERS];
	const char *hvalue[RESP_MAX_HEADERS]; /* arena or static strings */
};

/* Set the JSON body (steals v) and status. */
void resp_json(struct resp *w, int status, json_t *v);
/* Render the error envelope of code ({"error":{code,message,field,trace_id}}) with one more
 * top-level member key = extra (stolen; may be NULL: key is then omitted), e.g. "problems"
 * or "duplicates" next to the error, and return ERR_OK for the handler to return. msg NULL
 * = the code's default message. */
enum err resp_error_with(struct req *r, struct resp *w, enum err code, const char *field,
                         const char *msg, const char *key, json_t *extra);
/* The usual end of a handler that called a module function returning e, with the failure's
 * detail in ei and the result in out: on success set out (stolen) as the JSON body with
 * status and return ERR_OK; on failure release out, record ei's field and message on r when
 * ei->msg is set (otherwise r->err stays as it is and the code's default message is shown)
 * and return e. Modules fill ei with err_fail; one helper keeps the handlers of every module
 * to a single line of translation. */
enum err resp_result(struct req *r, struct resp *w, enum err e, const struct errinfo *ei,
                     json_t *out, int status);
/* Add a response header (strings must outlive the request: arena or static). */
void resp_header(struct resp *w, const char *name, const char *value);

/* ---- the server ---- */

/* Hooks the application wires in (the HTTP layer knows nothing of sessions or WebSocket
 * business). All optional. */
struct http_hooks {
	void *ctx;
	/* Resolve the caller from cookies/headers; set r->who or leave it NULL. An error here
	 * (e.g. ERR_SESSION_EXPIRED) is rendered only when the route needs a session. */
	enum err (*authenticate)(void *ctx, struct req *r);
	/* For ROUTE_OPEN routes, in place of authenticate: check the request's signature and
	 * the caller's grant for the route, and set r->who (its perms must include the route's
	 * perm), or fail with the error to render (r->err may say why). Absent: ROUTE_OPEN
	 * routes answer ERR_UNAUTHENTICATED. */
	enum err (*authenticate_open)(void *ctx, struct req *r);
	/* Called when GET /api/v1/ws upgrades: the socket is handed over, with any bytes the
	 * server already read past the request (pre, pre_n); call done(arg) exactly once when
	 * finished with it — also when adoption fails. who is the authenticated caller (the
	 * user id, username and scope fields are set; perms are not). */
	enum err (*ws_adopt)(void *ctx, const struct principal *who, int fd, const void *pre,
	                     size_t pre_n, void (*done)(void *arg), void *arg);
};

struct http_config {
	const char *bind;
	int port; /* 0 = pick a free port (see http_port) */
	int threads;
	int workers;
	size_t body_max;
	size_t upload_max;
	unsigned conn_limit;
	size_t conn_memory;
	const char *web_dir; /* static files; NULL = none */
};

struct http_server;

/* Route tables are registered before http_start; the tables are borrowed (static). */
enum err http_create(const struct http_config *cfg, struct server *srv, struct http_server **out);
enum err http_add_routes(struct http_server *h, const struct route *routes, size_t n);
void http_set_hooks(struct http_server *h, const struct http_hooks *hooks);
enum err http_start(struct http_server *h);
int http_port(const struct http_server *h);
/* Stop accepting, let in-flight requests finish (up to grace_ms), stop the workers, refuse
 * further WebSocket upgrades. Open WebSocket connections do not count as in flight and stay
 * open: destroy the hub (which hands their sockets back through done()) after http_stop and
 * before http_destroy, which stops the daemon. */
void http_stop(struct http_server *h, int grace_ms);
void http_destroy(struct http_server *h);
/* Append Prometheus text for the HTTP metrics. */
enum err http_metrics(struct http_server *h, struct buf *out);

#endif
