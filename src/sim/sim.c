/* sim.c: the simulator process state — boot (routes on the project's HTTP layer), the
 * registry of systems, the request pipeline every simulated call goes through, fault
 * injection and scenarios.
 *
 * Pipeline of a call under a system prefix:
 *   1. fault of the longest covering prefix: downtime window, latency, timeout, error rate
 *      (draws from the seeded generator, so a run is reproducible for a given call order);
 *   2. credentials (sim_auth.c) — or the token endpoint itself;
 *   3. the body: sm4_cbc unwrapped when the request says so, then JSON or a SOAP envelope;
 *   4. scenarios (fixed answers in the gateway's mock format), runtime ones first;
 *   5. the system's handler.
 * The /sim/ helpers (sim_admin.c) skip all of that.
 *
 * Routing: every endpoint is a route of its own, registered through a slot that remembers
 * the sim and the endpoint (r->route points at the slot's first member), so handlers reach
 * their state without globals. Catch-all routes of every depth send unknown paths through
 * the same pipeline: a scenario may answer a method the simulator does not implement. The
 * systems' routes run on the worker pool (ROUTE_SLOW): an injected delay holds a worker, never an
 * I/O thread; the quick /sim/ helpers run on the I/O threads, so they answer while delays hold
 * every worker. */
#include "sim/sim_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <time.h>

#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "gateway/gateway.h"

const struct sim_system *const sim_systems[] = {
    &sim_system_shebao, &sim_system_yibao,   &sim_system_minzheng, &sim_system_gongan,
    &sim_system_shuiwu, &sim_system_canlian, &sim_system_bjk,      &sim_system_dsj,
    &sim_system_dangan, &sim_system_map,     &sim_system_video,    NULL,
};

struct sim_slot {
	struct route route; /* first: the HTTP layer hands handlers &slot->route */
	struct sim *sim;
	const struct sim_system *sys;
	const struct sim_endpoint *ep;
	sim_handler admin; /* a /sim/ helper */
	char pattern[192];
};

void sim_config_defaults(struct sim_config *c)
{
	memset(c, 0, sizeof(*c));
	c->bind = "127.0.0.1";
	c->port = 8090;
	c->seed = 1;
	c->households = 1200;
	c->decision_delay_ms = 60000;
	c->evoucher_ttl_ms = 60000;
	c->token_ttl_s = 7200;
	c->auth = true;
	c->threads = 2;
	c->workers = 32;
}

/* ---- answering ---- */

void sim_reply(struct sim_req *q, int status, json_t *v)
{
	resp_json(q->w, status, v ? v : json_object());
	q->answered = true;
}

void sim_reply_raw(struct sim_req *q, int status, const char *ctype, const char *body, size_t n)
{
	if (q->w->json) {
		json_decref(q->w->json);
		q->w->json = NULL;
	}
	q->w->status = status;
	q->w->body = arena_memdup(q->a, body, n ? n : 1);
	q->w->body_len = q->w->body ? n : 0;
	q->w->content_type = ctype;
	q->answered = true;
}

void sim_error(struct sim_req *q, int status, const char *code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = arena_vprintf(q->a, fmt, ap);
	va_end(ap);
	if (q->ep && (q->ep->flags & SIM_EP_SOAP) && q->soap) {
		sim_soap_fault(q, status, status >= 500 ? "soap:Server" : "soap:Client",
		               msg ? msg : code);
		return;
	}
	sim_reply(q, status, json_pack("{s:s,s:s}", "code", code, "message", msg ? msg : code));
}

void sim_error_fields(struct sim_req *q, int status, const char *code, const char *msg,
                      json_t *errors)
{
	json_t *o = json_pack("{s:s,s:s}", "code", code, "message", msg);
	json_t *first = json_array_get(errors, 0);
	if (o && first && json_get_str(first, "field"))
		json_object_set_new(o, "field", json_string(json_get_str(first, "field")));
	if (o)
		json_object_set_new(o, "errors", errors ? errors : json_array());
	else
		json_decref(errors);
	sim_reply(q, status, o);
}

const char *sim_param(struct sim_req *q, const char *name)
{
	const char *v = req_param(q->r, name);
	return v ? v : req_query(q->r, name);
}

const char *sim_need_str(struct sim_req *q, const json_t *obj, const char *field, const char *label)
{
	const char *v = json_get_str(obj, field);
	if (v) {
		struct str t = str_trim(str_from(v));
		if (t.n)
			return arena_strndup(q->a, t.p, t.n);
	}
	sim_reply(q, 400,
	          json_pack("{s:s,s:s,s:s}", "code", "MISSING_FIELD", "message",
	                    arena_printf(q->a, "缺少%s（%s）", label, field), "field", field));
	return NULL;
}

static bool id_well_formed(const char *id)
{
	if (!id || strlen(id) != 18 || id[0] < '1' || id[0] > '9')
		return false;
	for (int i = 0; i < 17; i++)
		if (id[i] < '0' || id[i] > '9')
			return false;
	return sim_id_check(id) == id[17];
}

const struct sim_person *sim_need_person(struct sim_req *q, const char *id_number,
                                         const char *field, const char *not_found_code)
{
	if (!id_number || !id_number[0]) {
		sim_reply(q, 400,
		          json_pack("{s:s,s:s,s:s}", "code", "MISSING_FIELD", "message",
		                    arena_printf(q->a, "缺少身份证号码（%s）", field), "field",
		                    field));
		return NULL;
	}
	char norm[19];
	snprintf(norm, sizeof(norm), "%s", id_number);
	if (strlen(id_number) == 18 && norm[17] == 'x')
		norm[17] = 'X';
	if (!id_well_formed(norm)) {
		sim_reply(q, 422,
		          json_pack("{s:s,s:s,s:s}", "code", "INVALID_ID_NUMBER", "message",
		                    strlen(id_number) == 18 ? "身份证号码校验位错误"
		                                            : "身份证号码应为 18 位",
		                    "field", field));
		return NULL;
	}
	const struct sim_person *who = sim_people_find(&q->sim->people, norm);
	if (!who)
		sim_reply(q, 404,
		          json_pack("{s:s,s:s,s:s}", "code",
		                    not_found_code ? not_found_code : "NOT_FOUND", "message",
		                    "查无此人", "field", field));
	return who;
}

const char *sim_id_of(const json_t *p)
{
	json_t *v = json_object_get(p, "id_number");
	if (json_is_object(v))
		return json_get_str(v, "number");
	if (json_is_string(v))
		return json_string_value(v);
	return json_get_str(p, "cert_no");
}

const char *sim_iso(struct sim_req *q, int64_t ms)
{
	char b[32];
	time_iso(ms, b);
	return arena_strdup(q->a, b);
}

json_t *sim_verdict(bool approve, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:s,s:s}", "status", approve ? "approved" : "rejected", "opinion", msg);
}

/* ---- delays ---- */

bool sim_sleep(struct sim *s, int64_t ms)
{
	if (ms <= 0)
		return true;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	uint64_t gen = s->generation;
	int rc = 0;
	while (!s->stopping && s->generation == gen && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&s->wake, &s->lock, &ts);
	pthread_mutex_unlock(&s->lock);
	return rc == ETIMEDOUT;
}

/* ---- faults ---- */

/* Milliseconds since the epoch from a number or an ISO 8601 text
 * ("2026-05-01T08:00:00+08:00", "…Z", without a zone: China Standard Time). */
static bool parse_time(const json_t *v, int64_t *out)
{
	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return *out >= 0;
	}
	const char *s = json_string_value(v);
	int y, mo, d, h = 0, mi = 0, sec = 0, n = 0;
	if (!s || sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
		return false;
	const char *p = s + n;
	if (*p == 'T' || *p == ' ') {
		int k = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &h, &mi, &k) != 2)
			return false;
		p += 1 + k;
		if (*p == ':') {
			if (sscanf(p + 1, "%2d%n", &sec, &k) != 1)
				return false;
			p += 1 + k;
		}
		if (*p == '.')
			for (p++; *p >= '0' && *p <= '9'; p++)
				;
	}
	int off = 8 * 3600;
	if (*p == 'Z') {
		off = 0;
		p++;
	} else if (*p == '+' || *p == '-') {
		int oh, om;
		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
			return false;
		off = (oh * 3600 + om * 60) * (*p == '-' ? -1 : 1);
		p += 6;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return false;
	struct tm tm = {.tm_year = y - 1900,
	                .tm_mon = mo - 1,
	                .tm_mday = d,
	                .tm_hour = h,
	                .tm_min = mi,
	                .tm_sec = sec};
	*out = ((int64_t)timegm(&tm) - off) * 1000;
	return true;
}

enum err sim_fault_parse(const json_t *doc, struct sim_fault *f, const char **field,
                         const char **msg)
{
	static const char *const known[] = {"prefix",    "latency_ms", "error_rate",
	                                    "status",    "timeout",    "timeout_ms",
	                                    "down_from", "down_to",    NULL};
	memset(f, 0, sizeof(*f));
	*field = NULL;
	*msg = NULL;
	if (!json_is_object(doc)) {
		*msg = "故障定义应为 JSON 对象";
		return ERR_BAD_FIELD;
	}
	const char *k;
	json_t *v;
	json_object_foreach ((json_t *)doc, k, v) {
		bool ok = false;
		for (int i = 0; known[i]; i++)
			ok |= !strcmp(known[i], k);
		if (!ok) {
			*field = k;
			*msg = "未知的故障参数";
			return ERR_BAD_FIELD;
		}
	}
	const char *prefix = json_get_str(doc, "prefix");
	if (!prefix || prefix[0] != '/' || strlen(prefix) >= sizeof(f->prefix)) {
		*field = "prefix";
		*msg = "prefix 应为以 / 开头的路径前缀（如 /minzheng）";
		return ERR_BAD_FIELD;
	}
	snprintf(f->prefix, sizeof(f->prefix), "%s", prefix);
	size_t pl = strlen(f->prefix);
	while (pl > 1 && f->prefix[pl - 1] == '/')
		f->prefix[--pl] = 0;
	v = json_object_get(doc, "latency_ms");
	if (v &&
	    (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 600000)) {
		*field = "latency_ms";
		*msg = "latency_ms 应为 0 到 600000 之间的整数";
		return ERR_BAD_FIELD;
	}
	f->latency_ms = v ? json_integer_value(v) : 0;
	v = json_object_get(doc, "error_rate");
	if (v && (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1)) {
		*field = "error_rate";
		*msg = "error_rate 应为 0 到 1 之间的数";
		return ERR_BAD_FIELD;
	}
	v = json_object_get(doc, "status");
	if (v &&
	    (!json_is_integer(v) || json_integer_value(v) < 400 || json_integer_value(v) > 599)) {
		*field = "status";
		*msg = "status 应为 400 到 599 之间的 HTTP 状态码";
		return ERR_BAD_FIELD;
	}
	f->status = v ? (int)json_integer_value(v) : 503;
	/* a status alone fails every call; an error rate alone fails with 503 */
	json_t *er = json_object_get(doc, "error_rate");
	f->error_rate = er ? json_number_value(er) : (v ? 1.0 : 0.0);
	v = json_object_get(doc, "timeout");
	if (v && !json_is_boolean(v)) {
		*field = "timeout";
		*msg = "timeout 应为 true 或 false";
		return ERR_BAD_FIELD;
	}
	f->timeout = v && json_is_true(v);
	v = json_object_get(doc, "timeout_ms");
	if (v &&
	    (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 600000)) {
		*field = "timeout_ms";
		*msg = "timeout_ms 应为 1 到 600000 之间的整数";
		return ERR_BAD_FIELD;
	}
	f->timeout_ms = v ? json_integer_value(v) : 30000;
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "down_to" : "down_from";
		v = json_object_get(doc, name);
		int64_t t = 0;
		if (v && !json_is_null(v) && !parse_time(v, &t)) {
			*field = name;
			*msg = "时间应为毫秒时间戳或 ISO 8601 时间（如 2026-05-01T08:00:00+08:00）";
			return ERR_BAD_FIELD;
		}
		if (i)
			f->down_to = t;
		else
			f->down_from = t;
	}
	if (f->down_to && f->down_from && f->down_to <= f->down_from) {
		*field = "down_to";
		*msg = "down_to 应晚于 down_from";
		return ERR_BAD_FIELD;
	}
	return ERR_OK;
}

bool sim_fault_covers(const struct sim_fault *f, const char *path)
{
	size_t n = strlen(f->prefix);
	if (n == 1 && f->prefix[0] == '/')
		return true;
	return !strncmp(path, f->prefix, n) && (path[n] == '/' || path[n] == 0);
}

static json_t *fault_json(const struct sim_fault *f)
{
	json_t *o =
	    json_pack("{s:s,s:I,s:f,s:i,s:b,s:I,s:I,s:I}", "prefix", f->prefix, "latency_ms",
	              (json_int_t)f->latency_ms, "error_rate", f->error_rate, "status", f->status,
	              "timeout", f->timeout, "timeout_ms", (json_int_t)f->timeout_ms, "hits",
	              (json_int_t)f->hits, "injected", (json_int_t)f->injected);
	if (o && (f->down_from || f->down_to)) {
		char b[32];
		json_object_set_new(o, "down_from",
		                    f->down_from ? json_string(time_iso(f->down_from, b))
		                                 : json_null());
		json_object_set_new(
		    o, "down_to", f->down_to ? json_string(time_iso(f->down_to, b)) : json_null());
	}
	return o;
}

json_t *sim_faults_json(struct sim *s)
{
	json_t *a = json_array();
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nfaults; i++)
		json_array_append_new(a, fault_json(&s->faults[i]));
	pthread_mutex_unlock(&s->lock);
	return a;
}

enum err sim_fault_set(struct sim *s, const struct sim_fault *f)
{
	enum err e = ERR_OK;
	pthread_mutex_lock(&s->lock);
	size_t i;
	for (i = 0; i < s->nfaults; i++)
		if (!strcmp(s->faults[i].prefix, f->prefix))
			break;
	if (i == s->nfaults) {
		if (s->nfaults == s->afaults) {
			size_t na = s->afaults ? s->afaults * 2 : 8;
			struct sim_fault *nf =
			    na <= 256 ? realloc(s->faults, na * sizeof(*nf)) : NULL;
			if (!nf) {
				e = na > 256 ? ERR_TOO_LARGE : ERR_NOMEM;
				goto out;
			}
			s->faults = nf;
			s->afaults = na;
		}
		s->nfaults++;
	}
	s->faults[i] = *f;
out:
	pthread_mutex_unlock(&s->lock);
	return e;
}

size_t sim_fault_clear(struct sim *s, const char *prefix)
{
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	if (!prefix) {
		n = s->nfaults;
		s->nfaults = 0;
	} else {
		for (size_t i = 0; i < s->nfaults;) {
			if (!strcmp(s->faults[i].prefix, prefix)) {
				memmove(&s->faults[i], &s->faults[i + 1],
				        (s->nfaults - i - 1) * sizeof(*s->faults));
				s->nfaults--;
				n++;
			} else {
				i++;
			}
		}
	}
	if (n) {
		s->generation++;
		pthread_cond_broadcast(&s->wake);
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Step 1: true when the fault answered the request. */
static bool apply_fault(struct sim_req *q)
{
	struct sim *s = q->sim;
	struct sim_fault f;
	double draw = 1.0;
	bool found = false;
	pthread_mutex_lock(&s->lock);
	size_t best = 0;
	for (size_t i = 0; i < s->nfaults; i++)
		if (sim_fault_covers(&s->faults[i], q->r->path) &&
		    (!found || strlen(s->faults[i].prefix) > strlen(s->faults[best].prefix))) {
			best = i;
			found = true;
		}
	if (found) {
		struct sim_fault *live = &s->faults[best];
		live->hits++;
		bool down = (live->down_from || live->down_to) &&
		            (!live->down_from || q->now_ms >= live->down_from) &&
		            (!live->down_to || q->now_ms < live->down_to);
		if (!down && live->error_rate > 0)
			draw = sim_rng_unit(&s->rng);
		if (down || live->timeout || draw < live->error_rate)
			live->injected++;
		f = *live;
		if (down)
			f.error_rate = -1; /* marks the window below */
	}
	pthread_mutex_unlock(&s->lock);
	if (!found)
		return false;
	if (f.error_rate < 0) {
		resp_header(q->w, "Retry-After", "60");
		sim_error(q, f.status ? f.status : 503, "SYSTEM_DOWN", "系统维护中，暂停服务");
		return true;
	}
	if (f.latency_ms)
		sim_sleep(s, f.latency_ms);
	if (f.timeout) {
		sim_sleep(s, f.timeout_ms);
		sim_error(q, 504, "TIMEOUT", "系统处理超时");
		return true;
	}
	if (draw < f.error_rate) {
		sim_error(q, f.status, "INJECTED_FAULT", "系统繁忙，请稍后再试");
		return true;
	}
	return false;
}

/* ---- scenarios ---- */

bool sim_match_subset(const json_t *m, const json_t *v)
{
	if (json_is_object(m)) {
		if (!json_is_object(v))
			return false;
		const char *k;
		json_t *mv;
		json_object_foreach ((json_t *)m, k, mv) {
			if (!sim_match_subset(mv, json_object_get(v, k)))
				return false;
		}
		return true;
	}
	if (!v)
		return json_is_null(m);
	if (json_is_number(m) && json_is_string(v)) {
		char b[64];
		if (json_is_integer(m))
			snprintf(b, sizeof(b), "%lld", (long long)json_integer_value(m));
		else
			snprintf(b, sizeof(b), "%.17g", json_real_value(m));
		return !strcmp(b, json_string_value(v));
	}
	if (json_is_string(m) && json_is_number(v))
		return sim_match_subset(v, m);
	return json_equal((json_t *)m, (json_t *)v);
}

/* Check a scenario document and resolve its path; returns the stored form (new reference)
 * or NULL with *msg (static) and *field. */
static json_t *scenario_prepare(struct sim *s, const json_t *doc, const char *source,
                                const char **field, const char **msg)
{
	static const char *const known[] = {"connector", "method",      "match", "status",
	                                    "delay_ms",  "response",    "path",  "http_method",
	                                    "title",     "description", NULL};
	*field = NULL;
	if (!json_is_object(doc)) {
		*msg = "场景应为 JSON 对象";
		return NULL;
	}
	const char *k;
	json_t *v;
	json_object_foreach ((json_t *)doc, k, v) {
		bool ok = false;
		for (int i = 0; known[i]; i++)
			ok |= !strcmp(known[i], k);
		if (!ok) {
			*field = k;
			*msg = "未知的场景字段";
			return NULL;
		}
	}
	const char *conn = json_get_str(doc, "connector"), *meth = json_get_str(doc, "method");
	const char *path = json_get_str(doc, "path"), *hm = json_get_str(doc, "http_method");
	json_t *match = json_object_get(doc, "match");
	json_t *status = json_object_get(doc, "status");
	json_t *delay = json_object_get(doc, "delay_ms");
	if (match && !json_is_object(match)) {
		*field = "match";
		*msg = "match 应为 JSON 对象（{} 匹配所有请求）";
		return NULL;
	}
	if (status && (!json_is_integer(status) || json_integer_value(status) < 100 ||
	               json_integer_value(status) > 599)) {
		*field = "status";
		*msg = "status 应为 HTTP 状态码";
		return NULL;
	}
	if (delay && (!json_is_integer(delay) || json_integer_value(delay) < 0 ||
	              json_integer_value(delay) > 600000)) {
		*field = "delay_ms";
		*msg = "delay_ms 应为 0 到 600000 之间的整数";
		return NULL;
	}
	if (!json_object_get(doc, "response")) {
		*field = "response";
		*msg = "缺少 response";
		return NULL;
	}
	const char *soap_op = NULL;
	const json_t *soap_map = NULL, *resp_map = NULL;
	if (!path) {
		const struct sim_connector *c = sim_connector_named(s, conn);
		const struct sim_conn_method *m = NULL;
		for (int i = 0; c && meth && i < c->nmethods; i++)
			if (!strcmp(c->methods[i].name, meth))
				m = &c->methods[i];
		if (!conn || !meth) {
			*field = conn ? "method" : "connector";
			*msg = "场景应指明 connector 和 method（或 path）";
			return NULL;
		}
		if (!m) {
			*field = c ? "method" : "connector";
			*msg = c ? "接口系统定义中没有这个方法（gateway/connectors）"
			         : "没有这个接口系统（gateway/connectors）";
			return NULL;
		}
		path = m->path;
		if (!hm)
			hm = m->http_method;
		soap_op = m->soap_op;
		soap_map = m->soap_map;
		resp_map = m->response;
	} else if (path[0] != '/') {
		*field = "path";
		*msg = "path 应以 / 开头";
		return NULL;
	}
	json_t *out = json_deep_copy(doc);
	if (!out)
		return NULL;
	if (!match)
		json_object_set_new(out, "match", json_object());
	json_object_set_new(out, "_path", json_string(path));
	if (hm)
		json_object_set_new(out, "_http_method", json_string(hm));
	if (soap_op)
		json_object_set_new(out, "_soap_op", json_string(soap_op));
	if (soap_map)
		json_object_set_new(out, "_soap_map", json_deep_copy(soap_map));
	if (resp_map)
		json_object_set_new(out, "_resp_map", json_deep_copy(resp_map));
	json_object_set_new(out, "_source", json_string(source));
	json_object_set_new(out, "_hits", json_integer(0));
	return out;
}

enum err sim_scenarios_add(struct sim *s, const json_t *doc, int *added, const char **field,
                           const char **msg)
{
	json_t *list = json_array();
	enum err e = ERR_OK;
	*added = 0;
	size_t n = json_is_array(doc) ? json_array_size(doc) : 1;
	for (size_t i = 0; i < n; i++) {
		json_t *one = scenario_prepare(s, json_is_array(doc) ? json_array_get(doc, i) : doc,
		                               "runtime", field, msg);
		if (!one) {
			e = ERR_BAD_FIELD;
			goto out;
		}
		json_array_append_new(list, one);
	}
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < n; i++)
		json_array_insert(s->scenarios_runtime, 0, json_array_get(list, i));
	pthread_mutex_unlock(&s->lock);
	*added = (int)n;
out:
	json_decref(list);
	return e;
}

void sim_scenarios_clear(struct sim *s)
{
	pthread_mutex_lock(&s->lock);
	json_array_clear(s->scenarios_runtime);
	pthread_mutex_unlock(&s->lock);
}

static json_t *public_scenario(const json_t *sc)
{
	json_t *o = json_deep_copy(sc);
	json_object_set(o, "source", json_object_get(sc, "_source"));
	json_object_set(o, "hits", json_object_get(sc, "_hits"));
	json_object_set(o, "path", json_object_get(sc, "_path"));
	const char *k;
	json_t *v;
	void *tmp;
	json_object_foreach_safe(o, tmp, k, v)
	{
		if (k[0] == '_')
			json_object_del(o, k);
	}
	return o;
}

json_t *sim_scenarios_json(struct sim *s)
{
	json_t *out = json_array();
	pthread_mutex_lock(&s->lock);
	json_t *lists[2] = {s->scenarios_runtime, s->scenarios_file};
	for (int l = 0; l < 2; l++) {
		size_t i;
		json_t *sc;
		json_array_foreach (lists[l], i, sc)
			json_array_append_new(out, public_scenario(sc));
	}
	pthread_mutex_unlock(&s->lock);
	return out;
}

static enum err load_scenario_file(struct sim *s, const char *path)
{
	json_error_t jerr;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	enum err e = ERR_OK;
	if (!doc) {
		log_error("sim.scenario", "%s:%d: %s", path, jerr.line, jerr.text);
		return ERR_CONFIG;
	}
	json_t *list = json_is_array(doc) ? doc : json_object_get(doc, "scenarios");
	if (!list)
		list = doc;
	const char *base = strrchr(path, '/');
	size_t n = json_is_array(list) ? json_array_size(list) : 1;
	for (size_t i = 0; i < n; i++) {
		const char *field = NULL, *msg = NULL;
		json_t *one =
		    scenario_prepare(s, json_is_array(list) ? json_array_get(list, i) : list,
		                     base ? base + 1 : path, &field, &msg);
		if (!one) {
			log_error("sim.scenario", "%s: scenario %zu: %s%s%s", path, i + 1, msg,
			          field ? ": " : "", field ? field : "");
			e = ERR_CONFIG;
			break;
		}
		json_array_append_new(s->scenarios_file, one);
	}
	json_decref(doc);
	return e;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static enum err load_scenarios(struct sim *s, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		log_warn("sim.scenario", "scenario directory %s not readable: no fixed answers",
		         dir);
		return ERR_OK;
	}
	char *names[512];
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < 512) {
		size_t l = strlen(de->d_name);
		if (l > 5 && !strcmp(de->d_name + l - 5, ".json") && de->d_name[0] != '.')
			names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	enum err e = ERR_OK;
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		if (!names[i])
			e = ERR_NOMEM;
		snprintf(path, sizeof(path), "%s/%s", dir, names[i] ? names[i] : "");
		if (!e)
			e = load_scenario_file(s, path);
		free(names[i]);
	}
	return e;
}

/* Does the request's path fit the scenario's path pattern? Segments "{{request.x}}" and
 * "{x}" match any segment; their values go into caps under x. */
static bool path_fits(const char *pattern, const char *path, json_t *caps)
{
	const char *p = pattern, *r = path;
	for (;;) {
		while (*p == '/')
			p++;
		while (*r == '/')
			r++;
		if (!*p || !*r)
			return !*p && !*r;
		size_t pl = strcspn(p, "/"), rl = strcspn(r, "/");
		if (pl > 4 && !strncmp(p, "{{", 2) && !strncmp(p + pl - 2, "}}", 2)) {
			const char *name = p + 2;
			size_t nl = pl - 4;
			if (nl > 8 && !strncmp(name, "request.", 8)) {
				name += 8;
				nl -= 8;
			}
			char key[128], val[512];
			snprintf(key, sizeof(key), "%.*s", (int)nl, name);
			snprintf(val, sizeof(val), "%.*s", (int)rl, r);
			json_object_set_new(caps, key, json_string(val));
		} else if (pl > 2 && p[0] == '{' && p[pl - 1] == '}') {
			char key[128], val[512];
			snprintf(key, sizeof(key), "%.*s", (int)(pl - 2), p + 1);
			snprintf(val, sizeof(val), "%.*s", (int)rl, r);
			json_object_set_new(caps, key, json_string(val));
		} else if (pl != rl || strncmp(p, r, pl)) {
			return false;
		}
		p += pl;
		r += rl;
	}
}

/* The request as a scenario sees it: input + path captures + (for top-level members the
 * match names that are still missing) query arguments; for SOAP, element values under the
 * request names of the method's body template as well. */
static json_t *scenario_view(struct sim_req *q, const json_t *sc, json_t *caps)
{
	json_t *v = json_is_object(q->input) ? json_deep_copy(q->input) : json_object();
	json_object_update(v, caps);
	json_t *smap = json_object_get(sc, "_soap_map");
	const char *path;
	json_t *el;
	json_object_foreach (smap, path, el) {
		const char *txt = sim_soap_arg(q, json_string_value(el));
		if (txt && !strchr(path, '.'))
			json_object_set_new(v, path, json_string(txt));
		else if (txt) { /* "applicant.id_number": nest */
			char head[128];
			snprintf(head, sizeof(head), "%.*s", (int)(strchr(path, '.') - path), path);
			json_t *o = json_object_get(v, head);
			if (!json_is_object(o)) {
				o = json_object();
				json_object_set_new(v, head, o);
			}
			json_object_set_new(o, strchr(path, '.') + 1, json_string(txt));
		}
	}
	const char *k;
	json_t *mv;
	json_object_foreach (json_object_get(sc, "match"), k, mv) {
		if (json_object_get(v, k))
			continue;
		const char *qv = req_query(q->r, k);
		if (qv)
			json_object_set_new(v, k, json_string(qv));
	}
	return v;
}

/* Step 4: answer from the first matching scenario. */
static bool apply_scenario(struct sim_req *q)
{
	struct sim *s = q->sim;
	json_t *hit = NULL;
	pthread_mutex_lock(&s->lock);
	json_t *lists[2] = {s->scenarios_runtime, s->scenarios_file};
	for (int l = 0; l < 2 && !hit; l++) {
		size_t i;
		json_t *sc;
		json_array_foreach (lists[l], i, sc) {
			const char *hm = json_get_str(sc, "_http_method");
			if (hm && strcasecmp(hm, q->r->method))
				continue;
			const char *op = json_get_str(sc, "_soap_op");
			if (op && (!q->soap_op || strcmp(op, q->soap_op)))
				continue;
			json_t *caps = json_object();
			bool fits = path_fits(json_get_str(sc, "_path"), q->r->path, caps);
			json_t *view = fits ? scenario_view(q, sc, caps) : NULL;
			if (fits && sim_match_subset(json_object_get(sc, "match"), view)) {
				json_object_set_new(sc, "_hits",
				                    json_integer(json_get_int(sc, "_hits", 0) + 1));
				hit = json_deep_copy(sc);
				json_object_set(hit, "_view", view);
			}
			json_decref(view);
			json_decref(caps);
			if (hit)
				break;
		}
	}
	if (hit)
		s->scenario_hits++;
	pthread_mutex_unlock(&s->lock);
	if (!hit)
		return false;
	json_arena_own(q->a, hit);
	sim_sleep(s, json_get_int(hit, "delay_ms", 0));
	int status = (int)json_get_int(hit, "status", 200);
	/* answers are templates, as the gateway's mocks: one scenario can echo the request */
	json_t *ctx = json_pack("{s:O,s:s}", "request", json_object_get(hit, "_view"), "trace_id",
	                        q->r->trace.trace_id);
	json_t *resp =
	    json_arena_own(q->a, gateway_tpl_render(json_object_get(hit, "response"), ctx));
	json_decref(ctx);
	resp_header(q->w, "X-Sim-Scenario", "1");
	if (q->soap) {
		if (status >= 400) {
			const char *m = json_get_str(resp, "message");
			sim_soap_fault(q, status, "soap:Server", m ? m : "服务端错误");
			return true;
		}
		/* response keys → element names through the method's XPath map */
		json_t *mapped = json_object();
		json_t *rmap = json_object_get(hit, "_resp_map");
		const char *k;
		json_t *v;
		json_object_foreach (resp, k, v) {
			const char *xp = json_get_str(rmap, k);
			if (!xp)
				xp = json_get_str(json_object_get(rmap, k), "xpath");
			const char *local = k;
			if (xp) {
				const char *last = strrchr(xp, '/');
				local = last ? last + 1 : xp;
				const char *colon = strchr(local, ':');
				if (colon)
					local = colon + 1;
			}
			json_object_set(mapped, local, v);
		}
		sim_soap_reply(q, q->soap_op, q->soap_ns, mapped);
		json_decref(mapped);
		return true;
	}
	sim_reply(q, status, json_incref(resp));
	return true;
}

/* ---- the pipeline ---- */

static bool parse_json_body(struct sim_req *q, const char *text, size_t n)
{
	if (!n) {
		q->body = json_arena_own(q->a, json_object());
		return true;
	}
	json_error_t jerr;
	json_t *v = json_loadb(text, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!v || !json_is_object(v)) {
		json_decref(v);
		sim_error(q, 400, "BAD_REQUEST", "请求体不是合法的 JSON 对象");
		return false;
	}
	q->body = json_arena_own(q->a, v);
	return true;
}

static void build_input(struct sim_req *q)
{
	json_t *in = q->body ? json_deep_copy(q->body) : json_object();
	for (int i = 0; i < q->r->nparams; i++)
		if (!json_object_get(in, q->r->param_name[i]))
			json_object_set_new(in, q->r->param_name[i],
			                    json_string(q->r->param_value[i]));
	if (q->soap)
		json_object_update(in, sim_soap_args_json(q));
	q->input = json_arena_own(q->a, in);
}

static void seal_answer(struct sim_req *q)
{
	struct resp *w = q->w;
	if (!w->json || w->status < 200 || w->status > 299)
		return;
	char *text = json_dumps(w->json, JSON_COMPACT);
	struct buf out;
	buf_init(&out, 64u << 20);
	if (text && sim_crypto_seal(q->conn, text, strlen(text), &out) == ERR_OK) {
		int st = w->status;
		sim_reply_raw(q, st, "application/json; charset=utf-8", out.p, out.len);
	}
	free(text);
	buf_release(&out);
}

static enum err dispatch(struct req *r, struct resp *w)
{
	const struct sim_slot *slot = (const struct sim_slot *)(const void *)r->route;
	struct sim *s = slot->sim;
	struct sim_req q = {
	    .sim = s,
	    .r = r,
	    .w = w,
	    .a = r->arena,
	    .sys = slot->sys,
	    .ep = slot->ep,
	    .now_ms = time_now_ms(),
	};
	struct buf plain;
	buf_init(&plain, 64u << 20);
	pthread_mutex_lock(&s->lock);
	s->requests++;
	pthread_mutex_unlock(&s->lock);
	if (slot->admin) {
		if (parse_json_body(&q, r->body, r->body_len)) {
			build_input(&q);
			slot->admin(&q);
		}
		goto out;
	}
	if (apply_fault(&q))
		goto out;
	q.conn = sim_connector_for_path(s, r->path);
	if (sim_auth_is_token_request(&q, q.conn)) {
		if (parse_json_body(&q, r->body, r->body_len))
			sim_auth_token(&q, q.conn);
		goto out;
	}
	if (!(q.ep && (q.ep->flags & SIM_EP_NOAUTH)) && !sim_auth_check(&q, q.conn))
		goto out;
	const char *text = r->body;
	size_t n = r->body_len;
	const char *xc = req_header(r, "X-Crypto");
	if (q.conn && q.conn->sm4 && n && xc && !strcasecmp(xc, "sm4_cbc")) {
		if (!sim_crypto_open(&q, q.conn, &plain))
			goto out;
		q.sealed = true;
		text = plain.p ? plain.p : "";
		n = plain.len;
	}
	bool soap = q.ep ? (q.ep->flags & SIM_EP_SOAP) != 0 : (q.conn && q.conn->soap);
	if (soap) {
		if (!sim_soap_parse(&q))
			goto out;
	} else if (!parse_json_body(&q, text, n)) {
		goto out;
	}
	build_input(&q);
	if (apply_scenario(&q))
		goto out;
	if (!q.ep) {
		sim_error(&q, 404, "NOT_FOUND", "接口不存在：%s %s", r->method, r->path);
		goto out;
	}
	q.ep->fn(&q);
out:
	if (!q.answered)
		sim_error(&q, 500, "INTERNAL", "模拟系统内部错误");
	if (q.sealed)
		seal_answer(&q);
	if (plain.p)
		memset(plain.p, 0, plain.len);
	buf_release(&plain);
	return ERR_OK;
}

/* ---- boot ---- */

#define ROUTE_FLAGS (ROUTE_PUBLIC | ROUTE_RAW | ROUTE_SLOW | ROUTE_NO_CSRF)
static const char *const catchall_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
#define CATCHALL_DEPTH HTTP_MAX_PARAMS

static void slot_fill(struct sim_slot *sl, struct sim *s, const char *method, const char *pattern)
{
	snprintf(sl->pattern, sizeof(sl->pattern), "%s", pattern);
	sl->route.method = method;
	sl->route.pattern = sl->pattern;
	sl->route.handler = dispatch;
	sl->route.perm = NULL;
	sl->route.flags = ROUTE_FLAGS;
	sl->route.body = NULL;
	sl->sim = s;
}

static enum err build_slots(struct sim *s)
{
	size_t n = sim_admin_nendpoints + 5 * CATCHALL_DEPTH;
	for (const struct sim_system *const *sp = sim_systems; *sp; sp++)
		n += (*sp)->nendpoints;
	s->slots = calloc(n, sizeof(*s->slots));
	if (!s->slots)
		return ERR_NOMEM;
	size_t k = 0;
	for (size_t i = 0; i < sim_admin_nendpoints; i++, k++) {
		slot_fill(&s->slots[k], s, sim_admin_endpoints[i].method,
		          sim_admin_endpoints[i].pattern);
		/* on the I/O threads: clearing a fault must work while faults hold every worker */
		s->slots[k].route.flags &= ~ROUTE_SLOW;
		s->slots[k].admin = sim_admin_endpoints[i].fn;
		s->slots[k].ep = &sim_admin_endpoints[i];
	}
	for (const struct sim_system *const *sp = sim_systems; *sp; sp++)
		for (size_t i = 0; i < (*sp)->nendpoints; i++, k++) {
			char pat[192];
			snprintf(pat, sizeof(pat), "/%s%s", (*sp)->name,
			         (*sp)->endpoints[i].pattern);
			slot_fill(&s->slots[k], s, (*sp)->endpoints[i].method, pat);
			s->slots[k].sys = *sp;
			s->slots[k].ep = &(*sp)->endpoints[i];
		}
	static const char *const names[] = {"{a}", "{b}", "{c}", "{d}", "{e}", "{f}", "{g}", "{h}"};
	for (int d = 1; d <= CATCHALL_DEPTH; d++)
		for (size_t m = 0; m < 5; m++, k++) {
			char pat[192] = "";
			size_t len = 0;
			for (int i = 0; i < d; i++)
				len +=
				    (size_t)snprintf(pat + len, sizeof(pat) - len, "/%s", names[i]);
			slot_fill(&s->slots[k], s, catchall_methods[m], pat);
		}
	s->nslots = k;
	return ERR_OK;
}

enum err sim_create(const struct sim_config *cfg, struct sim **out)
{
	enum err e = ERR_NOMEM;
	struct sim *s = calloc(1, sizeof(*s));
	*out = NULL;
	if (!s)
		return ERR_NOMEM;
	s->cfg = *cfg;
	s->bind = strdup(cfg->bind ? cfg->bind : "127.0.0.1");
	s->scenarios_dir = cfg->scenarios_dir ? strdup(cfg->scenarios_dir) : NULL;
	s->connectors_dir = cfg->connectors_dir ? strdup(cfg->connectors_dir) : NULL;
	s->cfg.bind = s->bind;
	s->cfg.scenarios_dir = s->scenarios_dir;
	s->cfg.connectors_dir = s->connectors_dir;
	if (s->cfg.households <= 0)
		s->cfg.households = 1200;
	if (s->cfg.evoucher_ttl_ms <= 0)
		s->cfg.evoucher_ttl_ms = 60000;
	if (s->cfg.token_ttl_s <= 0)
		s->cfg.token_ttl_s = 7200;
	s->decision_delay_ms = cfg->decision_delay_ms < 0 ? 0 : cfg->decision_delay_ms;
	pthread_mutex_init(&s->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->wake, &ca);
	pthread_condattr_destroy(&ca);
	sim_rng_seed(&s->rng, cfg->seed ^ 0xfa017ULL);
	s->scenarios_file = json_array();
	s->scenarios_runtime = json_array();
	if (!s->bind || !s->scenarios_file || !s->scenarios_runtime ||
	    (cfg->scenarios_dir && !s->scenarios_dir) ||
	    (cfg->connectors_dir && !s->connectors_dir))
		goto fail;
	if ((e = sim_state_init(s)) ||
	    (e = sim_people_build(&s->people, cfg->seed, s->cfg.households)))
		goto fail;
	if ((e = sim_connectors_load(s, s->connectors_dir)))
		goto fail;
	if (s->scenarios_dir && s->scenarios_dir[0] && (e = load_scenarios(s, s->scenarios_dir)))
		goto fail;
	if ((e = build_slots(s)))
		goto fail;
	struct http_config hc = {
	    .bind = s->bind,
	    .port = cfg->port,
	    .threads = cfg->threads > 0 ? cfg->threads : 2,
	    .workers = cfg->workers > 0 ? cfg->workers : 32,
	    .body_max = 1u << 20,
	    .upload_max = 32u << 20,
	    .conn_limit = 1024,
	    .conn_memory = 256u << 10,
	    .web_dir = NULL,
	};
	if ((e = http_create(&hc, NULL, &s->http)))
		goto fail;
	for (size_t i = 0; i < s->nslots; i++)
		if ((e = http_add_routes(s->http, &s->slots[i].route, 1)))
			goto fail;
	*out = s;
	return ERR_OK;
fail:
	sim_destroy(s);
	return e;
}

enum err sim_start(struct sim *s)
{
	enum err e = http_start(s->http);
	if (e)
		return e;
	log_event(LOG_INFO, "sim.listen",
	          json_pack("{s:s,s:i,s:I,s:i}", "bind", s->bind, "port", http_port(s->http),
	                    "seed", (json_int_t)s->cfg.seed, "people", s->people.npeople),
	          "simulators listening on http://%s:%d/ (%d residents, %d households)", s->bind,
	          http_port(s->http), s->people.npeople, s->people.nhouseholds);
	return ERR_OK;
}

int sim_port(const struct sim *s)
{
	return s->http ? http_port(s->http) : 0;
}

void sim_destroy(struct sim *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
	if (s->http) {
		http_stop(s->http, 5000);
		http_destroy(s->http);
	}
	free(s->slots);
	sim_connectors_release(s);
	sim_people_release(&s->people);
	sim_state_release(s);
	json_decref(s->scenarios_file);
	json_decref(s->scenarios_runtime);
	free(s->faults);
	pthread_cond_destroy(&s->wake);
	pthread_mutex_destroy(&s->lock);
	free(s->bind);
	free(s->scenarios_dir);
	free(s->connectors_dir);
	free(s);
}

void sim_reset(struct sim *s)
{
	pthread_mutex_lock(&s->lock);
	json_t *keep_tokens = json_incref(json_object_get(s->state, "tokens"));
	json_t *keep_nonces = json_incref(json_object_get(s->state, "nonces"));
	json_object_clear(s->state);
	if (keep_tokens)
		json_object_set_new(s->state, "tokens", keep_tokens);
	if (keep_nonces)
		json_object_set_new(s->state, "nonces", keep_nonces);
	json_array_clear(s->scenarios_runtime);
	size_t i;
	json_t *sc;
	json_array_foreach (s->scenarios_file, i, sc)
		json_object_set_new(sc, "_hits", json_integer(0));
	s->nfaults = 0;
	sim_rng_seed(&s->rng, s->cfg.seed ^ 0xfa017ULL);
	s->requests = s->scenario_hits = 0;
	s->generation++;
	pthread_cond_broadcast(&s->wake);
	pthread_mutex_unlock(&s->lock);
}
