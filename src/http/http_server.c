/* http_server.c: libmicrohttpd glue — connection state, body collection, the central
 * request pipeline (route, authenticate, authorise, CSRF, parse, handle, render), the
 * worker pool for slow routes, WebSocket upgrade and graceful shutdown. */
#include "http/http_int.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "http/http_static.h"
#include "ws/ws.h"

struct job;

struct http_server {
	struct http_config cfg;
	struct server *srv;
	struct MHD_Daemon *d;
	struct router rt;
	struct http_hooks hooks;
	int port;
	atomic_int inflight;
	atomic_bool stopping;
	/* Held while a socket is handed to the WebSocket hub, and when http_stop closes the door
	 * on upgrades: no adoption can start after http_stop returns. */
	pthread_mutex_t ulock;
	MHD_socket listen_fd; /* returned by MHD_quiesce_daemon; ours to close after the stop */
	/* slow-route worker pool */
	pthread_t *workers;
	int nworkers;
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct job *qhead, *qtail;
	bool qstop;
	/* metrics */
	pthread_mutex_t mlock;
	struct status_counter *counters;
	size_t ncounters, acounters;
	atomic_uint_fast64_t static_bytes;
	atomic_int ws_open;
};

enum phase { PH_HEADERS, PH_BODY, PH_RUNNING, PH_DONE };

struct rstate {
	struct arena arena;
	struct req req;
	struct resp resp;
	struct http_server *h;
	struct MHD_Connection *conn;
	struct compiled_route *cr;
	int route_idx;
	struct buf body;
	bool too_large;
	enum phase phase;
	enum err result;
	int64_t t0_ns;
	int status; /* final status for metrics */
	const char *route_label;
	/* A WebSocket upgrade: the HTTP exchange ended at t1_ns, although libmicrohttpd reports
	 * the connection complete only when the hub hands the socket back. */
	bool upgraded;
	int64_t t1_ns;
};

struct job {
	struct job *next;
	struct rstate *st;
};

static const char *const safe_methods[] = {"GET", "HEAD", "OPTIONS", NULL};

static bool is_safe(const char *m)
{
	for (int i = 0; safe_methods[i]; i++)
		if (!strcmp(m, safe_methods[i]))
			return true;
	return false;
}

/* ---- request accessors ---- */

const char *req_param(const struct req *r, const char *name)
{
	for (int i = 0; i < r->nparams; i++)
		if (!strcmp(r->param_name[i], name))
			return r->param_value[i];
	return NULL;
}

static struct MHD_Connection *conn_of(const struct req *r)
{
	return r->impl ? ((const struct rstate *)r->impl)->conn : NULL;
}

const char *req_query(const struct req *r, const char *name)
{
	struct MHD_Connection *c = conn_of(r);
	return c ? MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name) : NULL;
}

const char *req_header(const struct req *r, const char *name)
{
	struct MHD_Connection *c = conn_of(r);
	return c ? MHD_lookup_connection_value(c, MHD_HEADER_KIND, name) : NULL;
}

const char *req_cookie(const struct req *r, const char *name)
{
	struct MHD_Connection *c = conn_of(r);
	return c ? MHD_lookup_connection_value(c, MHD_COOKIE_KIND, name) : NULL;
}

struct query_each {
	void (*fn)(void *ctx, const char *name, const char *value);
	void *ctx;
};

static enum MHD_Result query_each_cb(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
	struct query_each *q = cls;
	(void)kind;
	q->fn(q->ctx, key, value ? value : "");
	return MHD_YES;
}

void req_query_each(const struct req *r, void (*fn)(void *ctx, const char *name, const char *value),
                    void *ctx)
{
	struct MHD_Connection *c = conn_of(r);
	struct query_each q = {fn, ctx};
	if (c)
		MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, query_each_cb, &q);
}

bool req_has_perm(const struct req *r, const char *perm)
{
	if (!r->who)
		return false;
	int lo = 0, hi = r->who->nperms - 1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		int c = strcmp(r->who->perms[mid], perm);
		if (!c)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

enum err req_fail(struct req *r, enum err code, const char *field, const char *fmt, ...)
{
	r->err.code = code;
	r->err.field = field ? arena_strdup(r->arena, field) : NULL;
	r->err.msg = NULL;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		r->err.msg = arena_vprintf(r->arena, fmt, ap);
		va_end(ap);
	}
	return code;
}

enum err req_query_int(struct req *r, const char *name, int64_t min, int64_t max, int64_t def,
                       int64_t *out)
{
	const char *v = req_query(r, name);
	if (!v) {
		*out = def;
		return ERR_OK;
	}
	if (!cstr_to_i64(v, min, max, out))
		return req_fail(r, ERR_BAD_FIELD, name, "参数“%s”应为 %lld 到 %lld 之间的整数",
		                name, (long long)min, (long long)max);
	return ERR_OK;
}

void resp_json(struct resp *w, int status, json_t *v)
{
	if (w->json)
		json_decref(w->json);
	w->json = v;
	w->status = status;
}

enum err resp_result(struct req *r, struct resp *w, enum err e, const struct errinfo *ei,
                     json_t *out, int status)
{
	if (e) {
		json_decref(out);
		return ei->msg ? req_fail(r, e, ei->field, "%s", ei->msg) : e;
	}
	resp_json(w, status, out);
	return ERR_OK;
}

void resp_header(struct resp *w, const char *name, const char *value)
{
	if (w->nheaders < RESP_MAX_HEADERS) {
		w->hname[w->nheaders] = name;
		w->hvalue[w->nheaders] = value;
		w->nheaders++;
	}
}

/* ---- metrics ---- */

static void count_status(struct http_server *h, int route_idx, int status)
{
	pthread_mutex_lock(&h->mlock);
	size_t i;
	for (i = 0; i < h->ncounters; i++)
		if (h->counters[i].route_idx == route_idx && h->counters[i].status == status)
			break;
	if (i == h->ncounters && h->ncounters < 4096) {
		if (h->ncounters == h->acounters) {
			size_t na = h->acounters ? h->acounters * 2 : 64;
			struct status_counter *nc = realloc(h->counters, na * sizeof(*nc));
			if (!nc) {
				pthread_mutex_unlock(&h->mlock);
				return;
			}
			h->counters = nc;
			h->acounters = na;
		}
		h->counters[i].route_idx = route_idx;
		h->counters[i].status = status;
		atomic_init(&h->counters[i].count, 0);
		h->ncounters++;
	}
	if (i < h->ncounters)
		atomic_fetch_add(&h->counters[i].count, 1);
	pthread_mutex_unlock(&h->mlock);
}

static const double lat_bounds_ms[] = {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500};
#define NBOUNDS (sizeof(lat_bounds_ms) / sizeof(lat_bounds_ms[0]))

static void observe_latency(struct compiled_route *cr, int64_t ns)
{
	double ms = (double)ns / 1e6;
	size_t b = 0;
	while (b < NBOUNDS && ms > lat_bounds_ms[b])
		b++;
	atomic_fetch_add(&cr->lat_bucket[b], 1);
	atomic_fetch_add(&cr->lat_sum_us, (uint_fast64_t)(ns / 1000));
	atomic_fetch_add(&cr->lat_count, 1);
}

static void label_escape(struct buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			buf_putc(out, '\\');
		buf_putc(out, *s);
	}
}

enum err http_metrics(struct http_server *h, struct buf *out)
{
	buf_puts(out, "# HELP shouli_http_requests_total HTTP requests by route and status.\n"
	              "# TYPE shouli_http_requests_total counter\n");
	pthread_mutex_lock(&h->mlock);
	for (size_t i = 0; i < h->ncounters; i++) {
		const struct status_counter *c = &h->counters[i];
		const char *method = "", *pattern = c->route_idx == -1 ? "static" : "unmatched";
		if (c->route_idx >= 0) {
			method = h->rt.routes[c->route_idx].route->method;
			pattern = h->rt.routes[c->route_idx].route->pattern;
		}
		buf_printf(out, "shouli_http_requests_total{method=\"%s\",route=\"", method);
		label_escape(out, pattern);
		buf_printf(out, "\",status=\"%d\"} %llu\n", c->status,
		           (unsigned long long)atomic_load(&c->count));
	}
	pthread_mutex_unlock(&h->mlock);
	buf_puts(out, "# HELP shouli_http_request_duration_seconds Handler latency by route.\n"
	              "# TYPE shouli_http_request_duration_seconds histogram\n");
	for (size_t k = 0; k < h->rt.n; k++) {
		struct compiled_route *cr = &h->rt.routes[k];
		uint64_t count = atomic_load(&cr->lat_count);
		if (!count)
			continue;
		uint64_t cum = 0;
		for (size_t b = 0; b <= NBOUNDS; b++) {
			cum += atomic_load(&cr->lat_bucket[b]);
			buf_printf(
			    out,
			    "shouli_http_request_duration_seconds_bucket{method=\"%s\",route=\"",
			    cr->route->method);
			label_escape(out, cr->route->pattern);
			if (b < NBOUNDS)
				buf_printf(out, "\",le=\"%g\"} %llu\n", lat_bounds_ms[b] / 1000.0,
				           (unsigned long long)cum);
			else
				buf_printf(out, "\",le=\"+Inf\"} %llu\n", (unsigned long long)cum);
		}
		buf_printf(out, "shouli_http_request_duration_seconds_sum{method=\"%s\",route=\"",
		           cr->route->method);
		label_escape(out, cr->route->pattern);
		buf_printf(out, "\"} %.6f\n", (double)atomic_load(&cr->lat_sum_us) / 1e6);
		buf_printf(out, "shouli_http_request_duration_seconds_count{method=\"%s\",route=\"",
		           cr->route->method);
		label_escape(out, cr->route->pattern);
		buf_printf(out, "\"} %llu\n", (unsigned long long)count);
	}
	buf_printf(out,
	           "# HELP shouli_http_inflight Requests being processed.\n"
	           "# TYPE shouli_http_inflight gauge\nshouli_http_inflight %d\n"
	           "# HELP shouli_ws_upgrades_open WebSocket connections handed to the hub.\n"
	           "# TYPE shouli_ws_upgrades_open gauge\nshouli_ws_upgrades_open %d\n",
	           atomic_load(&h->inflight), atomic_load(&h->ws_open));
	return ERR_OK;
}

/* ---- rendering ---- */

static enum MHD_Result add_common_headers(struct MHD_Response *mr, struct rstate *st)
{
	MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(mr, "X-Frame-Options", "SAMEORIGIN");
	MHD_add_response_header(mr, "Referrer-Policy", "same-origin");
	MHD_add_response_header(mr, "X-Trace-Id", st->req.trace.trace_id);
	return MHD_YES;
}

enum err resp_error_with(struct req *r, struct resp *w, enum err code, const char *field,
                         const char *msg, const char *key, json_t *extra)
{
	json_t *err = json_pack("{s:s,s:s}", "code", err_code(code), "message",
	                        msg ? msg : err_message(code));
	if (err && field)
		json_object_set_new(err, "field", json_string(field));
	if (err)
		json_object_set_new(err, "trace_id", json_string(r->trace.trace_id));
	json_t *body = json_object();
	if (!err || !body) {
		json_decref(err);
		json_decref(body);
		json_decref(extra);
		return ERR_NOMEM;
	}
	json_object_set_new(body, "error", err);
	if (key && extra)
		json_object_set_new(body, key, extra);
	else
		json_decref(extra);
	resp_json(w, err_status(code), body);
	return ERR_OK;
}

static json_t *error_body(struct rstate *st, enum err e)
{
	const struct errinfo *ei = &st->req.err;
	const char *msg = (ei->code == e && ei->msg) ? ei->msg : err_message(e);
	json_t *err = json_pack("{s:s,s:s}", "code", err_code(e), "message", msg);
	if (err && ei->code == e && ei->field)
		json_object_set_new(err, "field", json_string(ei->field));
	if (err)
		json_object_set_new(err, "trace_id", json_string(st->req.trace.trace_id));
	return json_pack("{s:o}", "error", err);
}

static enum MHD_Result queue(struct rstate *st)
{
	struct resp *w = &st->resp;
	struct MHD_Response *mr;
	int status;
	char *text = NULL;
	if (st->result != ERR_OK) {
		status = err_status(st->result);
		if (w->json)
			json_decref(w->json);
		w->json = error_body(st, st->result);
		w->status = status;
	}
	status = w->status ? w->status : 200;
	if (w->json) {
		text = json_dumps(w->json, JSON_COMPACT | JSON_ENCODE_ANY);
		json_decref(w->json);
		w->json = NULL;
		if (!text)
			return MHD_NO;
		mr = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
		if (!mr) {
			free(text);
			return MHD_NO;
		}
		MHD_add_response_header(mr, "Content-Type", "application/json; charset=utf-8");
		MHD_add_response_header(mr, "Cache-Control", "no-store");
	} else {
		mr = MHD_create_response_from_buffer(w->body_len, (void *)(w->body ? w->body : ""),
		                                     MHD_RESPMEM_MUST_COPY);
		if (!mr)
			return MHD_NO;
		if (w->content_type)
			MHD_add_response_header(mr, "Content-Type", w->content_type);
	}
	add_common_headers(mr, st);
	for (int i = 0; i < w->nheaders; i++)
		MHD_add_response_header(mr, w->hname[i], w->hvalue[i]);
	st->status = status;
	enum MHD_Result ret = MHD_queue_response(st->conn, (unsigned)status, mr);
	MHD_destroy_response(mr);
	return ret;
}

/* ---- the pipeline ---- */

static enum err parse_body(struct rstate *st)
{
	struct req *r = &st->req;
	const struct route *rt = st->cr->route;
	if (rt->flags & ROUTE_RAW)
		return ERR_OK;
	if (r->body_len == 0) {
		if (!rt->body || is_safe(r->method))
			return ERR_OK;
		/* An empty body stands for {} when the schema requires nothing (e.g. logout). */
		for (const struct json_field *f = rt->body; f->name; f++)
			if (f->flags & JF_REQUIRED)
				return req_fail(r, ERR_BAD_JSON, NULL,
				                "请求体不能为空，应为 JSON 对象");
		r->json = json_arena_own(r->arena, json_object());
		return r->json ? ERR_OK : ERR_NOMEM;
	}
	if (!rt->body)
		return req_fail(r, ERR_BAD_REQUEST, NULL, "此接口不接受请求体");
	const char *ct = req_header(r, "Content-Type");
	struct str ctype;
	if (ct)
		str_cut(str_from(ct), ';', &ctype);
	if (!ct || !str_case_eq(str_trim(ctype), "application/json"))
		return req_fail(r, ERR_UNSUPPORTED_MEDIA, NULL,
		                "请求体的内容类型应为 application/json");
	json_t *v = NULL;
	enum err e = json_parse(r->body, r->body_len, &v, r->arena, &r->err);
	if (e)
		return e;
	r->json = json_arena_own(r->arena, v);
	return json_check(r->json, rt->body, true, r->arena, &r->err);
}

static enum err run_pipeline(struct rstate *st)
{
	struct req *r = &st->req;
	const struct route *rt = st->cr->route;
	struct http_server *h = st->h;
	enum err auth_err = ERR_OK;

	if (rt->flags & ROUTE_OPEN) {
		/* The signature covers the raw body: the hook needs it whole, before parsing. */
		auth_err = st->too_large ? ERR_TOO_LARGE : ERR_UNAUTHENTICATED;
		if (!st->too_large && h->hooks.authenticate_open) {
			r->body = st->body.len ? st->body.p : NULL;
			r->body_len = st->body.len;
			auth_err = h->hooks.authenticate_open(h->hooks.ctx, r);
		}
	} else if (h->hooks.authenticate) {
		auth_err = h->hooks.authenticate(h->hooks.ctx, r);
	}
	if (!(rt->flags & ROUTE_PUBLIC)) {
		if (!r->who)
			return auth_err && auth_err != ERR_UNAUTHENTICATED ? auth_err
			                                                   : ERR_UNAUTHENTICATED;
		if (rt->perm && !req_has_perm(r, rt->perm))
			return req_fail(r, ERR_FORBIDDEN, NULL,
			                "没有执行此操作的权限（需要权限 %s）", rt->perm);
	} else if (auth_err && auth_err != ERR_UNAUTHENTICATED && auth_err != ERR_SESSION_EXPIRED &&
	           auth_err != ERR_PASSWORD_EXPIRED) {
		return auth_err;
	}
	if (!is_safe(r->method) && !(rt->flags & (ROUTE_NO_CSRF | ROUTE_OPEN)) && r->who) {
		const char *tok = req_header(r, "X-CSRF-Token");
		const char *want = r->who->csrf_token;
		if (!tok || !want || !mem_eq_ct(tok, strlen(tok), want, strlen(want)))
			return ERR_CSRF;
	}
	if (st->too_large)
		return req_fail(r, ERR_TOO_LARGE, NULL, "请求内容过大（上限 %zu 字节）",
		                (rt->flags & ROUTE_RAW) ? h->cfg.upload_max : h->cfg.body_max);
	if (st->body.len) {
		r->body = st->body.p;
		r->body_len = st->body.len;
	}
	enum err e = parse_body(st);
	if (e)
		return e;
	return rt->handler(r, &st->resp);
}

static void process(struct rstate *st)
{
	log_set_trace(&st->req.trace);
	st->result = run_pipeline(st);
	if (st->result == ERR_OK && st->req.err.code && st->resp.status == 0)
		st->result = st->req.err.code;
	log_set_trace(NULL);
}

/* ---- worker pool for slow routes ---- */

static void *worker_main(void *arg)
{
	struct http_server *h = arg;
	for (;;) {
		pthread_mutex_lock(&h->qlock);
		while (!h->qhead && !h->qstop)
			pthread_cond_wait(&h->qcond, &h->qlock);
		if (!h->qhead) {
			pthread_mutex_unlock(&h->qlock);
			return NULL;
		}
		struct job *j = h->qhead;
		h->qhead = j->next;
		if (!h->qhead)
			h->qtail = NULL;
		pthread_mutex_unlock(&h->qlock);
		struct rstate *st = j->st;
		free(j);
		process(st);
		st->phase = PH_DONE;
		MHD_resume_connection(st->conn);
	}
}

static bool enqueue(struct http_server *h, struct rstate *st)
{
	struct job *j = malloc(sizeof(*j));
	if (!j)
		return false;
	j->st = st;
	j->next = NULL;
	pthread_mutex_lock(&h->qlock);
	if (h->qtail)
		h->qtail->next = j;
	else
		h->qhead = j;
	h->qtail = j;
	pthread_cond_signal(&h->qcond);
	pthread_mutex_unlock(&h->qlock);
	return true;
}

/* ---- WebSocket upgrade ---- */

struct ws_upgrade {
	struct http_server *h;
	struct principal who; /* copied out of the request arena */
	char username[64];
	char scope_path[96];
	struct MHD_UpgradeResponseHandle *urh;
};

static void ws_done(void *arg)
{
	struct ws_upgrade *u = arg;
	atomic_fetch_sub(&u->h->ws_open, 1);
	MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
	free(u);
}

static void on_upgrade(void *cls, struct MHD_Connection *conn, void *con_cls, const char *extra,
                       size_t extra_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct ws_upgrade *u = cls;
	struct http_server *h = u->h;
	u->urh = urh;
	atomic_fetch_add(&h->ws_open, 1);
	/* Once http_stop has run the hub may be going away: no more adoptions. */
	pthread_mutex_lock(&h->ulock);
	bool adopt = h->hooks.ws_adopt && !atomic_load(&h->stopping);
	/* On failure the hook has already called ws_done (its contract). */
	if (adopt)
		h->hooks.ws_adopt(h->hooks.ctx, &u->who, sock, extra, extra_size, ws_done, u);
	pthread_mutex_unlock(&h->ulock);
	if (!adopt)
		ws_done(u);
}

static enum err ws_handshake(struct req *r, struct resp *w)
{
	struct rstate *st = r->impl;
	const char *up = req_header(r, "Upgrade"), *key = req_header(r, "Sec-WebSocket-Key");
	const char *ver = req_header(r, "Sec-WebSocket-Version");
	if (!up || strcasecmp(up, "websocket") != 0 || !key)
		return req_fail(r, ERR_BAD_REQUEST, NULL, "此地址仅用于 WebSocket 连接");
	if (!ver || strcmp(ver, "13") != 0)
		return req_fail(r, ERR_BAD_REQUEST, NULL, "不支持的 WebSocket 版本");
	if (atomic_load(&st->h->stopping))
		return req_fail(r, ERR_UNAVAILABLE, NULL, "服务正在停止，请稍后重新连接");
	const char *origin = req_header(r, "Origin"), *host = req_header(r, "Host");
	if (origin && host) {
		const char *o = strstr(origin, "://");
		if (!o || strcmp(o + 3, host) != 0)
			return req_fail(r, ERR_FORBIDDEN, NULL, "WebSocket 来源不被允许");
	}
	char accept[29];
	if (ws_accept_key(key, accept) != ERR_OK)
		return req_fail(r, ERR_BAD_REQUEST, NULL, "Sec-WebSocket-Key 无效");
	struct ws_upgrade *u = calloc(1, sizeof(*u));
	if (!u)
		return ERR_NOMEM;
	u->h = st->h;
	u->who = *r->who;
	snprintf(u->username, sizeof(u->username), "%s", r->who->username ? r->who->username : "");
	u->who.username = u->username;
	u->who.perms = NULL;
	u->who.nperms = 0;
	u->who.name = u->who.session_id = u->who.csrf_token = NULL;
	u->who.ext = NULL; /* request memory, gone when the hub uses the copy */
	snprintf(u->scope_path, sizeof(u->scope_path), "%s",
	         r->who->scope_path ? r->who->scope_path : "");
	u->who.scope_level = u->who.scope_code = NULL;
	u->who.scope_path = u->scope_path;
	struct MHD_Response *mr = MHD_create_response_for_upgrade(on_upgrade, u);
	if (!mr) {
		free(u);
		return ERR_NOMEM;
	}
	MHD_add_response_header(mr, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(mr, "Sec-WebSocket-Accept", accept);
	st->status = 101;
	if (MHD_queue_response(st->conn, MHD_HTTP_SWITCHING_PROTOCOLS, mr) != MHD_YES) {
		MHD_destroy_response(mr);
		free(u);
		return ERR_INTERNAL;
	}
	MHD_destroy_response(mr);
	w->status = 101;
	/* The request is over; the connection now belongs to the hub for as long as the client
	 * stays, which must neither hold up http_stop nor count as request latency. */
	st->upgraded = true;
	st->t1_ns = time_mono_ns();
	atomic_fetch_sub(&st->h->inflight, 1);
	return ERR_OK;
}

static const struct route ws_route = {"GET", "/api/v1/ws", ws_handshake, NULL, 0, NULL};

/* ---- libmicrohttpd callbacks ---- */

static struct rstate *rstate_new(struct http_server *h, struct MHD_Connection *conn,
                                 const char *url, const char *method)
{
	struct rstate *st = calloc(1, sizeof(*st));
	if (!st)
		return NULL;
	arena_init(&st->arena, 64u << 20);
	st->h = h;
	st->conn = conn;
	st->t0_ns = time_mono_ns();
	st->route_idx = -2;
	st->req.arena = &st->arena;
	st->req.srv = h->srv;
	st->req.impl = st;
	st->req.method = arena_strdup(&st->arena, method);
	st->req.path = arena_strdup(&st->arena, url);
	const union MHD_ConnectionInfo *ci =
	    MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char ip[INET6_ADDRSTRLEN] = "";
	if (ci && ci->client_addr) {
		if (ci->client_addr->sa_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr, ip,
			          sizeof(ip));
		else if (ci->client_addr->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ci->client_addr)->sin6_addr,
			          ip, sizeof(ip));
	}
	st->req.client_ip = arena_strdup(&st->arena, ip);
	trace_start(&st->req.trace,
	            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "traceparent"));
	return st;
}

static enum MHD_Result respond_now(struct rstate *st, enum err e)
{
	st->result = e;
	st->phase = PH_DONE;
	return queue(st);
}

/* Does the request announce a body? */
static bool announces_body(struct MHD_Connection *conn)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
	return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding") ||
	       (cl && strcmp(cl, "0") != 0);
}

/* Answer a request that never reaches a handler (404, 405, bad path). libmicrohttpd closes
 * the connection after a response queued from the first callback, while the request is still
 * being read. Without a body the answer waits for the next callback, so keep-alive survives
 * (a browser loading a page's assets must not reconnect for each); with a body the answer
 * goes at once and the connection closes rather than read a body nobody wants. */
static enum MHD_Result respond_early(struct rstate *st, enum err e)
{
	if (announces_body(st->conn))
		return respond_now(st, e);
	st->result = e;
	st->phase = PH_DONE;
	return MHD_YES;
}

static enum MHD_Result serve_static(struct rstate *st)
{
	int status = 0;
	enum MHD_Result ret =
	    http_static_serve(st->conn, st->h->cfg.web_dir, st->req.path, st->req.method, &status);
	st->status = status;
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
	struct http_server *h = cls;
	struct rstate *st = *con_cls;
	if (!st) {
		st = rstate_new(h, conn, url, method);
		if (!st || !st->req.method || !st->req.path)
			return MHD_NO;
		*con_cls = st;
		atomic_fetch_add(&h->inflight, 1);
		/* A path that is not UTF-8 names nothing we serve, whatever the route. */
		if (!utf8_valid(url, strlen(url)))
			return respond_early(st, ERR_BAD_UTF8);
		const char *allow = NULL;
		struct req *r = &st->req;
		enum router_result rr =
		    router_match(&h->rt, method, url, &st->arena, &st->cr, &r->nparams,
		                 r->param_name, r->param_value, &allow);
		if (rr == ROUTER_MATCH) {
			st->route_idx = (int)(st->cr - h->rt.routes);
			r->route = st->cr->route;
		} else if (rr == ROUTER_NO_METHOD) {
			resp_header(&st->resp, "Allow", allow ? allow : "");
			return respond_early(st, ERR_METHOD_NOT_ALLOWED);
		} else if (str_starts_with(str_from(url), "/api/")) {
			return respond_early(st, ERR_NOT_FOUND);
		} else {
			st->route_idx = -1;
			st->phase = PH_DONE;
			/* served from the next callback, for keep-alive (see respond_early) */
			return announces_body(conn) ? serve_static(st) : MHD_YES;
		}
		size_t cap =
		    (st->cr->route->flags & ROUTE_RAW) ? h->cfg.upload_max : h->cfg.body_max;
		buf_init(&st->body, cap);
		const char *cl =
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		int64_t clen;
		if (cl && cstr_to_i64(cl, 0, INT64_MAX, &clen) && (uint64_t)clen > cap) {
			req_fail(r, ERR_TOO_LARGE, NULL, "请求内容过大（上限 %zu 字节）", cap);
			return respond_now(st, ERR_TOO_LARGE);
		}
		st->phase = PH_BODY;
		return MHD_YES;
	}
	if (st->phase == PH_DONE && *upload_size) {
		*upload_size = 0; /* answered already (e.g. 413): drain what the client sends */
		return MHD_YES;
	}
	if (st->phase == PH_BODY && *upload_size) {
		if (!st->too_large && buf_append(&st->body, upload, *upload_size) != ERR_OK)
			st->too_large = true;
		*upload_size = 0;
		return MHD_YES;
	}
	if (st->phase == PH_BODY) {
		if ((st->cr->route->flags & ROUTE_SLOW) && !atomic_load(&h->stopping)) {
			st->phase = PH_RUNNING;
			MHD_suspend_connection(conn);
			if (enqueue(h, st))
				return MHD_YES;
			MHD_resume_connection(conn);
		}
		process(st);
		st->phase = PH_DONE;
		if (st->status == 101)
			return MHD_YES; /* the upgrade response is queued */
		return queue(st);
	}
	if (st->phase == PH_DONE && st->status == 0)
		return st->route_idx == -1 ? serve_static(st) : queue(st);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	struct http_server *h = cls;
	struct rstate *st = *con_cls;
	if (!st)
		return;
	int64_t ns = (st->upgraded ? st->t1_ns : time_mono_ns()) - st->t0_ns;
	int status =
	    st->status ? st->status : (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? 200 : 499);
	if (st->route_idx >= 0)
		observe_latency(&h->rt.routes[st->route_idx], ns);
	count_status(h, st->route_idx, status);
	json_t *f =
	    json_pack("{s:s,s:s,s:i,s:f,s:s}", "method", st->req.method ? st->req.method : "",
	              "path", st->req.path ? st->req.path : "", "status", status, "ms",
	              (double)ns / 1e6, "ip", st->req.client_ip ? st->req.client_ip : "");
	if (f && st->req.who)
		json_object_set_new(f, "user", json_string(st->req.who->username));
	log_set_trace(&st->req.trace);
	log_event(status >= 500 ? LOG_WARN : LOG_INFO, "http.access", f, "%s %s %d",
	          st->req.method ? st->req.method : "", st->req.path ? st->req.path : "", status);
	log_set_trace(NULL);
	if (st->resp.json)
		json_decref(st->resp.json);
	buf_release(&st->body);
	arena_release(&st->arena);
	bool upgraded = st->upgraded;
	free(st);
	*con_cls = NULL;
	if (!upgraded)
		atomic_fetch_sub(&h->inflight, 1);
}

/* ---- lifecycle ---- */

enum err http_create(const struct http_config *cfg, struct server *srv, struct http_server **out)
{
	struct http_server *h = calloc(1, sizeof(*h));
	if (!h)
		return ERR_NOMEM;
	h->cfg = *cfg;
	h->srv = srv;
	router_init(&h->rt);
	pthread_mutex_init(&h->qlock, NULL);
	pthread_cond_init(&h->qcond, NULL);
	pthread_mutex_init(&h->mlock, NULL);
	pthread_mutex_init(&h->ulock, NULL);
	h->listen_fd = MHD_INVALID_SOCKET;
	enum err e = router_add(&h->rt, &ws_route);
	if (e) {
		http_destroy(h);
		return e;
	}
	*out = h;
	return ERR_OK;
}

enum err http_add_routes(struct http_server *h, const struct route *routes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		enum err e = router_add(&h->rt, &routes[i]);
		if (e) {
			log_error("http.route", "bad or duplicate route %s %s", routes[i].method,
			          routes[i].pattern);
			return e;
		}
	}
	return ERR_OK;
}

void http_set_hooks(struct http_server *h, const struct http_hooks *hooks)
{
	h->hooks = *hooks;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	log_warn("http.mhd", "%s", msg);
}

enum err http_start(struct http_server *h)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME |
	                 MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
	if (inet_pton(AF_INET, h->cfg.bind, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)h->cfg.port);
	} else if (inet_pton(AF_INET6, h->cfg.bind, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)h->cfg.port);
		flags |= MHD_USE_IPv6;
	} else {
		log_error("http.start", "bind address '%s' is not an IP address", h->cfg.bind);
		return ERR_CONFIG;
	}
	h->nworkers = h->cfg.workers > 0 ? h->cfg.workers : 2;
	h->workers = calloc((size_t)h->nworkers, sizeof(pthread_t));
	if (!h->workers)
		return ERR_NOMEM;
	for (int i = 0; i < h->nworkers; i++)
		if (pthread_create(&h->workers[i], NULL, worker_main, h) != 0) {
			h->nworkers = i;
			return ERR_INTERNAL;
		}
	h->d = MHD_start_daemon(
	    flags, (uint16_t)h->cfg.port, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
	    on_mhd_log, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned)h->cfg.threads, MHD_OPTION_CONNECTION_LIMIT,
	    h->cfg.conn_limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT, h->cfg.conn_memory,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
	    h, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_END);
	if (!h->d) {
		log_error("http.start", "cannot listen on %s:%d", h->cfg.bind, h->cfg.port);
		return ERR_UNAVAILABLE;
	}
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = di ? di->port : h->cfg.port;
	return ERR_OK;
}

int http_port(const struct http_server *h)
{
	return h->port;
}

/* The daemon itself stops in http_destroy, not here: upgraded sockets stay with the WebSocket
 * hub until it hands them back (ws_done → MHD_upgrade_action), which needs a live daemon, so
 * the hub must be destroyed between http_stop and http_destroy. */
void http_stop(struct http_server *h, int grace_ms)
{
	if (atomic_load(&h->stopping))
		return;
	pthread_mutex_lock(&h->ulock);
	atomic_store(&h->stopping, true);
	pthread_mutex_unlock(&h->ulock);
	if (h->d) {
		h->listen_fd = MHD_quiesce_daemon(h->d);
		for (int waited = 0; atomic_load(&h->inflight) > 0 && waited < grace_ms;
		     waited += 20) {
			struct timespec ts = {0, 20 * 1000000};
			nanosleep(&ts, NULL);
		}
	}
	/* Also when http_start failed half-way: workers may be running without a daemon. */
	pthread_mutex_lock(&h->qlock);
	h->qstop = true;
	pthread_cond_broadcast(&h->qcond);
	pthread_mutex_unlock(&h->qlock);
	for (int i = 0; i < h->nworkers; i++)
		pthread_join(h->workers[i], NULL);
	h->nworkers = 0;
}

void http_destroy(struct http_server *h)
{
	if (!h)
		return;
	http_stop(h, 0);
	if (h->d)
		MHD_stop_daemon(h->d);
	h->d = NULL;
	if (h->listen_fd != MHD_INVALID_SOCKET)
		close(h->listen_fd);
	free(h->workers);
	router_release(&h->rt);
	free(h->counters);
	pthread_mutex_destroy(&h->qlock);
	pthread_cond_destroy(&h->qcond);
	pthread_mutex_destroy(&h->mlock);
	pthread_mutex_destroy(&h->ulock);
	free(h);
}
