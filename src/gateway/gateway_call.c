/* gateway_call.c: one outbound call — connector lookup, mock switch, circuit breaker,
 * concurrency cap, auth, retries, answer decoding and the call-log line.
 *
 * Connectors live in the database; each node keeps a parsed copy per connector (struct
 * gw_conf, immutable, reference counted) and checks its rev at most every GW_CONF_TTL_MS,
 * so an edit on any node reaches all nodes within that time without a query per call.
 * Breakers, concurrency slots, pooled handles and cached tokens are per node (struct
 * gw_conn), as the design asks: each node protects itself. */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "core/id.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "gateway/gateway_int.h"

#define DB_WAIT_MS     5000
#define BACKOFF_MAX_MS 10000

const char *const gw_outcome_names[GW_NOUTCOMES] = {
    GATEWAY_OUTCOME_OK,           GATEWAY_OUTCOME_ERROR, GATEWAY_OUTCOME_TIMEOUT,
    GATEWAY_OUTCOME_BREAKER_OPEN, GATEWAY_OUTCOME_MOCK,  GATEWAY_OUTCOME_REJECTED,
};

static int64_t mono_ms(void)
{
	return time_mono_ns() / 1000000;
}

/* ---- breaker --------------------------------------------------------------------------- */

bool gw_breaker_allow(struct gw_breaker *b, const struct gw_breaker_cfg *c, int64_t now_ms,
                      bool *probe)
{
	*probe = false;
	switch (b->state) {
	case GW_BR_CLOSED: return true;
	case GW_BR_OPEN:
		if (now_ms - b->opened_at_ms < c->open_ms)
			return false;
		b->state = GW_BR_HALF_OPEN;
		b->probe_inflight = false;
		/* fall through */
	case GW_BR_HALF_OPEN:
		if (b->probe_inflight)
			return false;
		b->probe_inflight = true;
		*probe = true;
		return true;
	}
	return false;
}

static void open_breaker(struct gw_breaker *b, int64_t now_ms)
{
	b->state = GW_BR_OPEN;
	b->opened_at_ms = now_ms;
	b->probe_inflight = false;
	b->opens++;
}

void gw_breaker_record(struct gw_breaker *b, const struct gw_breaker_cfg *c, int64_t now_ms,
                       bool ok, bool probe)
{
	if (probe) {
		b->probe_inflight = false;
		if (ok) {
			b->state = GW_BR_CLOSED;
			b->failures = 0;
			b->window_start_ms = now_ms;
		} else {
			open_breaker(b, now_ms);
		}
		return;
	}
	/* A call that started before the breaker opened may finish after: it changes nothing. */
	if (b->state != GW_BR_CLOSED || ok || c->failures <= 0)
		return;
	if (b->failures == 0 || now_ms - b->window_start_ms > c->window_ms) {
		b->failures = 0;
		b->window_start_ms = now_ms;
	}
	if (++b->failures >= c->failures)
		open_breaker(b, now_ms);
}

void gw_breaker_abandon(struct gw_breaker *b)
{
	b->probe_inflight = false;
}

void gw_breaker_reset(struct gw_breaker *b)
{
	uint64_t opens = b->opens;
	memset(b, 0, sizeof(*b));
	b->opens = opens;
}

const char *gw_breaker_state_name(enum gw_breaker_state s)
{
	switch (s) {
	case GW_BR_CLOSED: return "closed";
	case GW_BR_OPEN: return "open";
	case GW_BR_HALF_OPEN: return "half_open";
	}
	return "closed";
}

/* ---- connector configuration ----------------------------------------------------------- */

void gw_conf_put(struct gw_conf *c)
{
	if (!c || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	crypto_sm2_destroy(c->sign_key);
	crypto_sm2_destroy(c->peer_key);
	crypto_sm2_destroy(c->own_key);
	crypto_wipe(c->sm4_key, sizeof(c->sm4_key));
	free(c->methods);
	json_decref(c->doc);
	json_decref(c->secrets);
	free(c);
}

static int kind_of(const char *s, const char *const *names, int def)
{
	for (int i = 0; s && names[i]; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return def;
}

static const char *str_or(const json_t *o, const char *k, const char *def)
{
	const char *s = json_get_str(o, k);
	return s && s[0] ? s : def;
}

static enum err load_key(const char *pem, bool need_private, struct crypto_sm2_key **out,
                         const char *what, struct errinfo *ei, struct arena *a)
{
	if (crypto_sm2_load_pem(pem, strlen(pem), out) != ERR_OK ||
	    (need_private && !crypto_sm2_has_private(*out))) {
		crypto_sm2_destroy(*out);
		*out = NULL;
		ei->msg = arena_printf(a, "%s不是有效的 SM2 %s（PEM）", what,
		                       need_private ? "私钥" : "公钥");
		return ERR_CONFIG;
	}
	return ERR_OK;
}

enum err gw_conf_build(const json_t *doc, const json_t *secrets, int64_t rev, struct gw_conf **out,
                       struct errinfo *ei, struct arena *a)
{
	static const char *const protos[] = {"rest", "soap", NULL};
	static const char *const auths[] = {"none", "basic", "token", "hmac_sm3", "sm2", NULL};
	static const char *const cryptos[] = {"none",    "sm4_cbc",      "sm2_envelope",
	                                      "aes_cbc", "rsa_envelope", NULL};
	enum err e = ERR_OK;
	struct gw_conf *c = calloc(1, sizeof(*c));
	*out = NULL;
	if (!c)
		return ERR_NOMEM;
	atomic_init(&c->refs, 1);
	c->rev = rev;
	c->doc = json_deep_copy(doc);
	c->secrets = secrets ? json_deep_copy(secrets) : json_object();
	if (!c->doc || !c->secrets) {
		e = ERR_NOMEM;
		goto out;
	}
	const json_t *d = c->doc, *auth = json_object_get(d, "auth"),
	             *cr = json_object_get(d, "crypto");
	const json_t *retry = json_object_get(d, "retry"), *br = json_object_get(d, "breaker");
	c->name = json_get_str(d, "name");
	c->protocol = (enum gw_protocol)kind_of(json_get_str(d, "protocol"), protos, GW_REST);
	c->base_url = json_get_str(d, "base_url");
	c->auth = (enum gw_auth)kind_of(json_get_str(auth, "kind"), auths, GW_AUTH_NONE);
	c->username = json_get_str(auth, "username");
	c->secret = json_get_str(c->secrets, "auth.secret");
	c->token_path = str_or(auth, "token_path", "/auth/token");
	c->token_field = str_or(auth, "token_field", "access_token");
	c->expires_field = str_or(auth, "expires_field", "expires_in");
	c->key_id = json_get_str(auth, "key_id");
	c->crypto = (enum gw_crypto)kind_of(json_get_str(cr, "kind"), cryptos, GW_CRYPTO_NONE);
	c->timeout_ms = (int)json_get_int(d, "timeout_ms", 5000);
	c->retry_max = (int)json_get_int(retry, "max", 0);
	c->backoff_ms = (int)json_get_int(retry, "backoff_ms", 200);
	c->breaker.failures = (int)json_get_int(br, "failures", 5);
	c->breaker.window_ms = json_get_int(br, "window_s", 30) * 1000;
	c->breaker.open_ms = json_get_int(br, "open_s", 20) * 1000;
	c->concurrency = (int)json_get_int(d, "concurrency", 16);
	c->mock_mode = strcmp(str_or(d, "mode", "live"), "mock") == 0;
	if (!c->name || !c->base_url) {
		e = ERR_CONFIG;
		ei->msg = "接口系统定义缺少 name 或 base_url";
		goto out;
	}
	if (c->auth == GW_AUTH_SM2) {
		const char *pem = json_get_str(c->secrets, "auth.private_key");
		if (pem && (e = load_key(pem, true, &c->sign_key, "auth.private_key ", ei, a)))
			goto out;
	}
	if (c->crypto == GW_CRYPTO_SM4_CBC) {
		const char *k = json_get_str(c->secrets, "crypto.key");
		if (!k || strlen(k) != 32 || !hex_decode(k, 32, c->sm4_key, 16)) {
			e = ERR_CONFIG;
			ei->msg = "sm4_cbc 需要 32 位十六进制的 SM4 密钥（crypto.key）";
			goto out;
		}
	} else if (c->crypto == GW_CRYPTO_SM2_ENVELOPE) {
		const char *peer = json_get_str(cr, "peer_public_key");
		const char *own = json_get_str(c->secrets, "crypto.private_key");
		if (!peer) {
			e = ERR_CONFIG;
			ei->msg = "sm2_envelope 需要对方的 SM2 公钥（crypto.peer_public_key）";
			goto out;
		}
		if ((e = load_key(peer, false, &c->peer_key, "crypto.peer_public_key ", ei, a)) ||
		    (own && (e = load_key(own, true, &c->own_key, "crypto.private_key ", ei, a))))
			goto out;
	}
	const json_t *ms = json_object_get(d, "methods");
	c->nmethods = json_array_size(ms);
	c->methods = calloc(c->nmethods ? c->nmethods : 1, sizeof(*c->methods));
	if (!c->methods) {
		e = ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < c->nmethods; i++) {
		const json_t *m = json_array_get(ms, i);
		struct gw_method *gm = &c->methods[i];
		gm->name = json_get_str(m, "name");
		gm->http_method = str_or(m, "http_method", "POST");
		gm->path = str_or(m, "path", "");
		gm->idempotent = json_get_bool(m, "idempotent", false);
		gm->timeout_ms = (int)json_get_int(m, "timeout_ms", 0);
		gm->mask = json_object_get(m, "mask");
		gm->soap_action = json_get_str(m, "soap_action");
		gm->body = json_get_str(m, "body");
		gm->response = json_object_get(m, "response");
		gm->namespaces = json_object_get(m, "namespaces");
		if (!gm->name) {
			e = ERR_CONFIG;
			ei->msg = "方法缺少 name";
			goto out;
		}
	}
out:
	if (e) {
		if (!ei->code)
			ei->code = e;
		gw_conf_put(c);
		return e;
	}
	*out = c;
	return ERR_OK;
}

const struct gw_method *gw_conf_method(const struct gw_conf *c, const char *name)
{
	for (size_t i = 0; c && name && i < c->nmethods; i++)
		if (strcmp(c->methods[i].name, name) == 0)
			return &c->methods[i];
	return NULL;
}

/* ---- runtime entries ------------------------------------------------------------------- */

/* Entries are never freed while the process runs (calls in flight hold them without a
 * reference), so names nobody configured must not grow the list without bound. */
#define CONNS_MAX 1024

static bool plain_name(const char *s)
{
	size_t n = strlen(s);
	if (n < 2 || n > GW_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

struct gw_conn *gw_conn_lookup(struct gateway_state *g, const char *name)
{
	struct gw_conn *cn;
	size_t n = 0;
	/* Names also label metrics: only well-formed ones get an entry. */
	if (!plain_name(name))
		return NULL;
	pthread_mutex_lock(&g->mu);
	for (cn = g->conns; cn; cn = cn->next, n++)
		if (strcmp(cn->name, name) == 0)
			break;
	if (!cn && n < CONNS_MAX && (cn = calloc(1, sizeof(*cn)))) {
		pthread_condattr_t ca;
		snprintf(cn->name, sizeof(cn->name), "%s", name);
		pthread_mutex_init(&cn->mu, NULL);
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&cn->cv, &ca);
		pthread_condattr_destroy(&ca);
		cn->next = g->conns;
		g->conns = cn;
	}
	pthread_mutex_unlock(&g->mu);
	return cn;
}

void gw_conn_invalidate(struct gateway_state *g, const char *name, bool reset_breaker)
{
	struct gw_conn *cn = gw_conn_lookup(g, name);
	struct gw_conf *old = NULL;
	if (!cn)
		return;
	pthread_mutex_lock(&cn->mu);
	old = cn->conf;
	cn->conf = NULL;
	cn->checked_ms = 0;
	if (reset_breaker) {
		gw_breaker_reset(&cn->br);
		free(cn->token);
		cn->token = NULL;
		cn->token_until_ms = 0;
	}
	pthread_mutex_unlock(&cn->mu);
	gw_conf_put(old);
}

enum err gw_conn_conf(struct server *srv, struct gw_conn *cn, struct gw_conf **out,
                      struct errinfo *ei, struct arena *a)
{
	int64_t now = mono_ms(), rev = 0, loaded_rev = -1;
	struct db_conn *c = NULL;
	json_t *doc = NULL, *secrets = NULL;
	struct gw_conf *nc = NULL, *old = NULL;
	enum err e;
	*out = NULL;
	pthread_mutex_lock(&cn->mu);
	if (cn->conf && now - cn->checked_ms < GW_CONF_TTL_MS) {
		*out = cn->conf;
		atomic_fetch_add(&cn->conf->refs, 1);
	} else if (cn->conf) {
		loaded_rev = cn->conf->rev;
	}
	pthread_mutex_unlock(&cn->mu);
	if (*out)
		return ERR_OK;
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)))
		goto out;
	if ((e = gw_store_connector_rev(c, a, cn->name, &rev)))
		goto out;
	if (rev != loaded_rev) {
		int64_t lrev = 0;
		if ((e = gw_store_connector_load(srv, c, a, cn->name, &doc, &secrets, &lrev, NULL)))
			goto out;
		if ((e = gw_conf_build(doc, secrets, lrev, &nc, ei, a)))
			goto out;
	}
out:
	db_release(c);
	pthread_mutex_lock(&cn->mu);
	if (e == ERR_NOT_FOUND) {
		old = cn->conf;
		cn->conf = NULL;
	} else if (!e) {
		if (nc) {
			old = cn->conf;
			cn->conf = nc;
			nc = NULL;
		}
		cn->checked_ms = now;
		if (cn->conf) {
			*out = cn->conf;
			atomic_fetch_add(&cn->conf->refs, 1);
		} else {
			e = ERR_NOT_FOUND;
		}
	}
	pthread_mutex_unlock(&cn->mu);
	gw_conf_put(old);
	gw_conf_put(nc);
	json_decref(doc);
	json_decref(secrets);
	return e;
}

const char *gw_resolve_base(struct server *srv, const char *base_url, struct arena *a)
{
	if (strncmp(base_url, "{{sim}}", 7) != 0)
		return base_url;
	const char *sim =
	    srv->cfg.sim_url && srv->cfg.sim_url[0] ? srv->cfg.sim_url : GW_DEFAULT_SIM;
	size_t n = strlen(sim);
	while (n > 0 && sim[n - 1] == '/')
		n--;
	return arena_printf(a, "%.*s%s", (int)n, sim, base_url + 7);
}

/* ---- one call -------------------------------------------------------------------------- */

/* What a call is working on; everything in the caller's arena. */
struct call {
	struct server *srv;
	struct gw_conn *cn;
	struct gw_conf *cf;
	const struct gw_method *m;
	const json_t *request;
	json_t *rctx; /* {"request": …, "trace_id": …} for templates */
	struct arena *a;
	struct errinfo *ei;
	char trace_id[33];
	int64_t t0_ns;
	int timeout_ms;
	/* results */
	int http_status;
	int attempts;
	json_t *response;
	const char *raw_response; /* non-JSON answer text, for the log */
	enum gw_outcome_idx outcome;
	bool mocked;
	bool breaker_failure;
};

static bool valid_trace(const char *t)
{
	if (!t || strlen(t) != 32 || strspn(t, "0123456789abcdef") != 32)
		return false;
	return strspn(t, "0") != 32;
}

static void sleep_ms(int64_t ms)
{
	if (ms <= 0)
		return;
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static enum err fail(struct call *k, enum err e, enum gw_outcome_idx o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum err fail(struct call *k, enum err e, enum gw_outcome_idx o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	k->ei->code = e;
	k->ei->msg = arena_vprintf(k->a, fmt, ap);
	va_end(ap);
	k->outcome = o;
	return e;
}

static const char *conn_title(const struct call *k)
{
	const char *t = k->cf ? json_get_str(k->cf->doc, "title") : NULL;
	return t ? t : k->cn->name;
}

/* ---- mocks ---- */

static enum err call_mock(struct call *k)
{
	struct db_conn *c = NULL;
	json_t *mock = NULL;
	int64_t mock_id = 0;
	enum err e;
	k->mocked = true;
	if ((e = db_acquire(k->srv->db, DB_WAIT_MS, &c)) == ERR_OK)
		e = gw_store_mock_find(c, k->a, k->cn->name, k->m->name, k->request, &mock,
		                       &mock_id);
	db_release(c);
	if (e)
		return fail(k, e, GW_O_ERROR, "读取模拟数据失败");
	json_arena_own(k->a, mock);
	if (!mock)
		return fail(k, ERR_UPSTREAM, GW_O_ERROR, "没有匹配的模拟数据（%s.%s）", k->cn->name,
		            k->m->name);
	int64_t delay = json_get_int(mock, "delay_ms", 0);
	if (delay >= k->timeout_ms) {
		sleep_ms(k->timeout_ms);
		return fail(k, ERR_TIMEOUT, GW_O_TIMEOUT, "调用“%s”超时（%d 毫秒）", conn_title(k),
		            k->timeout_ms);
	}
	sleep_ms(delay);
	k->http_status = (int)json_get_int(mock, "status", 200);
	/* Mock answers are templates too, so one mock can echo what was sent. */
	k->response =
	    json_arena_own(k->a, gateway_tpl_render(json_object_get(mock, "response"), k->rctx));
	if (k->http_status >= 200 && k->http_status <= 299) {
		k->outcome = GW_O_MOCK;
		return ERR_OK;
	}
	const char *msg = json_get_str(k->response, "message");
	return fail(k, ERR_UPSTREAM, GW_O_ERROR, "%s返回错误（模拟，HTTP %d）%s%s", conn_title(k),
	            k->http_status, msg ? "：" : "", msg ? msg : "");
}

/* ---- live calls ---- */

/* The request target (the base URL's path, the method's path, the query) as sent: what
 * signatures cover. */
static const char *url_target(const char *url, struct arena *a)
{
	const char *p = strstr(url, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	if (!p)
		return "/";
	size_t n = strcspn(p, "#");
	return arena_strndup(a, p, n);
}

/* Does the path template use request.<key>? */
static bool path_uses(const char *tpl, const char *key)
{
	for (const char *s = tpl; (s = strstr(s, "{{")); s += 2) {
		const char *p = s + 2;
		while (*p == ' ')
			p++;
		size_t kl = strlen(key);
		if (strncmp(p, "request.", 8) == 0 && strncmp(p + 8, key, kl) == 0 &&
		    (p[8 + kl] == '}' || p[8 + kl] == ' ' || p[8 + kl] == '.'))
			return true;
	}
	return false;
}

static enum err build_url(struct call *k, const char *base, struct buf *url)
{
	enum err e;
	if ((e = buf_puts(url, base)) || (e = gw_tpl_text(k->m->path, k->rctx, GW_ESC_URL, url)))
		return e;
	bool bodyless =
	    strcmp(k->m->http_method, "GET") == 0 || strcmp(k->m->http_method, "DELETE") == 0;
	if (k->cf->protocol != GW_REST || !bodyless)
		return ERR_OK;
	const char *key;
	json_t *v;
	char sep = strchr(url->p, '?') ? '&' : '?';
	json_object_foreach ((json_t *)k->request, key, v) {
		if (json_is_object(v) || json_is_array(v) || json_is_null(v) ||
		    path_uses(k->m->path, key))
			continue;
		json_t *one = json_pack("{sO}", "v", v);
		json_t *kctx = json_pack("{ss}", "k", key);
		if (!one || !kctx)
			e = ERR_NOMEM;
		/* key and value are escaped separately; '=' and '&' stay literal */
		if (!e)
			e = buf_putc(url, sep);
		sep = '&';
		if (!e)
			e = gw_tpl_text("{{k}}", kctx, GW_ESC_URL, url);
		if (!e)
			e = buf_putc(url, '=');
		if (!e)
			e = gw_tpl_text("{{v}}", one, GW_ESC_URL, url);
		json_decref(kctx);
		json_decref(one);
		if (e)
			break;
	}
	return e;
}

enum attempt_result { AR_DONE, AR_RETRY, AR_REAUTH };

/* Turn one HTTP exchange into the call's result. */
static enum attempt_result judge(struct call *k, enum err he, struct gw_http_resp *rs, enum err *e,
                                 bool reauthed)
{
	k->http_status = (int)rs->status;
	if (he == ERR_TIMEOUT) {
		k->breaker_failure = true;
		*e = fail(k, ERR_TIMEOUT, GW_O_TIMEOUT, "调用“%s”超时（%d 毫秒）", conn_title(k),
		          k->timeout_ms);
		return AR_RETRY;
	}
	if (he) {
		bool conn = rs->fail == GW_HTTP_CONNECT;
		k->breaker_failure = conn;
		*e = fail(k, he == ERR_CONFIG ? ERR_CONFIG : ERR_UPSTREAM, GW_O_ERROR,
		          he == ERR_TOO_LARGE ? "“%s”的响应过大" : "无法连接“%s”（%s）",
		          conn_title(k), rs->error);
		return conn ? AR_RETRY : AR_DONE;
	}
	long st = rs->status;
	if (st == 401 && k->cf->auth == GW_AUTH_TOKEN && !reauthed)
		return AR_REAUTH;
	const char *body = rs->body.p ? rs->body.p : "";
	if (k->cf->protocol == GW_SOAP && (st == 200 || st == 500)) {
		const char *fault = NULL;
		bool server_fault = false;
		json_t *out = NULL;
		enum err pe = gw_soap_parse(body, rs->body.len, k->m->response, k->m->namespaces,
		                            k->m->body, &out, &fault, &server_fault, k->a);
		if (!pe) {
			k->response = json_arena_own(k->a, out);
			k->outcome = GW_O_OK;
			*e = ERR_OK;
			return AR_DONE;
		}
		k->raw_response = body;
		if (pe == ERR_UPSTREAM) {
			k->breaker_failure = server_fault;
			k->response = json_arena_own(k->a, json_pack("{ss}", "fault", fault));
			*e = fail(k, ERR_UPSTREAM, GW_O_ERROR, "%s返回错误：%s", conn_title(k),
			          fault);
			return server_fault ? AR_RETRY : AR_DONE;
		}
		if (pe == ERR_CONFIG) {
			*e = fail(k, ERR_CONFIG, GW_O_ERROR, "%s", fault ? fault : "响应映射有误");
			return AR_DONE;
		}
		if (st == 200) {
			*e = fail(k, ERR_UPSTREAM, GW_O_ERROR, "%s的响应不是合法的 SOAP 报文",
			          conn_title(k));
			return AR_DONE;
		}
	}
	json_t *j =
	    rs->body.len ? json_loadb(body, rs->body.len, JSON_DECODE_ANY, NULL) : json_object();
	if (st >= 200 && st <= 299) {
		if (!j) {
			k->raw_response = body;
			*e = fail(k, ERR_UPSTREAM, GW_O_ERROR, "%s的响应不是 JSON", conn_title(k));
			return AR_DONE;
		}
		json_t *plain = NULL;
		struct errinfo ce = {0};
		enum err ue = gw_crypto_unwrap(k->cf, j, &plain, &ce);
		json_decref(j);
		if (ue) {
			*e = fail(k, ue, GW_O_ERROR, "%s", ce.msg ? ce.msg : "响应解密失败");
			return AR_DONE;
		}
		k->response = json_arena_own(k->a, plain);
		k->outcome = GW_O_OK;
		*e = ERR_OK;
		return AR_DONE;
	}
	if (j)
		k->response = json_arena_own(k->a, j);
	else
		k->raw_response = body;
	const char *msg = json_get_str(j, "message");
	if (!msg)
		msg = json_get_str(j, "error");
	bool transient = st >= 500 || st == 429 || st == 408;
	k->breaker_failure = transient;
	*e = fail(k, ERR_UPSTREAM, GW_O_ERROR, "%s返回错误（HTTP %ld）%s%s", conn_title(k), st,
	          msg ? "：" : "", msg ? msg : "");
	return transient ? AR_RETRY : AR_DONE;
}

static enum err exchange(struct call *k, int64_t deadline_ms)
{
	enum err e = ERR_OK;
	struct buf url, body;
	struct gw_hdrs base = {0};
	const char *b = gw_resolve_base(k->srv, k->cf->base_url, k->a);
	char span[17], *traceparent;
	bool bodyless =
	    strcmp(k->m->http_method, "GET") == 0 || strcmp(k->m->http_method, "DELETE") == 0;
	buf_init(&url, 8192);
	buf_init(&body, GW_BODY_MAX * 2);
	if (!b) {
		e = ERR_NOMEM;
		goto out;
	}
	if ((e = build_url(k, b, &url))) {
		e = fail(k, ERR_CONFIG, GW_O_REJECTED, "请求地址无法生成");
		goto out;
	}
	if (k->cf->protocol == GW_SOAP) {
		if ((e = gw_soap_envelope(k->m->body, k->rctx, &body, k->ei, k->a))) {
			e = fail(k, ERR_CONFIG, GW_O_REJECTED, "%s",
			         k->ei->msg ? k->ei->msg : "SOAP 报文无法生成");
			goto out;
		}
		gw_hdrs_add(&base, k->a, "Content-Type: text/xml; charset=utf-8");
		gw_hdrs_add(&base, k->a, "SOAPAction: \"%s\"",
		            k->m->soap_action ? k->m->soap_action : "");
	} else if (!bodyless) {
		char *text = json_dumps(k->request, JSON_COMPACT);
		if (!text) {
			e = ERR_NOMEM;
			goto out;
		}
		e = gw_crypto_wrap(k->cf, text, strlen(text), &body, k->ei);
		free(text);
		if (e) {
			e = fail(k, e, GW_O_REJECTED, "%s",
			         k->ei->msg ? k->ei->msg : "请求加密失败");
			goto out;
		}
		gw_hdrs_add(&base, k->a, "Content-Type: application/json; charset=utf-8");
		if (k->cf->crypto != GW_CRYPTO_NONE)
			gw_hdrs_add(&base, k->a, "X-Crypto: %s",
			            k->cf->crypto == GW_CRYPTO_SM4_CBC ? "sm4_cbc"
			                                               : "sm2_envelope");
	}
	gw_hdrs_add(&base, k->a, "Accept: %s",
	            k->cf->protocol == GW_SOAP ? "text/xml" : "application/json");
	if ((e = id_random_hex(span, 8)))
		goto out;
	traceparent = arena_printf(k->a, "traceparent: 00-%s-%s-01", k->trace_id, span);
	if (traceparent && base.n < GW_MAX_HEADERS)
		base.v[base.n++] = traceparent;

	const char *path = url_target(url.p, k->a);
	int retries = 0;
	bool reauthed = false;
	for (;;) {
		struct gw_hdrs h = base;
		const char *userpwd = NULL;
		struct gw_http_resp rs = {0};
		int64_t left = deadline_ms - mono_ms();
		if (left <= 0) {
			k->breaker_failure = true;
			e = fail(k, ERR_TIMEOUT, GW_O_TIMEOUT, "调用“%s”超时（%d 毫秒）",
			         conn_title(k), k->timeout_ms);
			break;
		}
		k->ei->msg = NULL;
		if ((e = gw_auth_apply(k->cn, k->cf, b, k->m->http_method, path, body.p, body.len,
		                       reauthed, deadline_ms, &h, &userpwd, k->a, k->ei))) {
			const char *why = k->ei->msg ? k->ei->msg : "认证失败";
			k->breaker_failure = e == ERR_TIMEOUT;
			e = fail(k, e, e == ERR_TIMEOUT ? GW_O_TIMEOUT : GW_O_ERROR, "%s", why);
			break;
		}
		struct gw_http_req rq = {
		    .method = k->m->http_method,
		    .url = url.p,
		    .headers = h.v,
		    .nheaders = h.n,
		    .body = bodyless ? NULL : body.p,
		    .body_len = bodyless ? 0 : body.len,
		    .userpwd = userpwd,
		    .timeout_ms = (long)left,
		};
		buf_init(&rs.body, GW_BODY_MAX);
		k->attempts++;
		k->breaker_failure = false;
		k->response = NULL;
		k->raw_response = NULL;
		enum err he = gw_http_perform(k->cn, &rq, &rs);
		enum attempt_result ar = judge(k, he, &rs, &e, reauthed);
		if (k->raw_response)
			k->raw_response = arena_strndup(
			    k->a, rs.body.p ? rs.body.p : "",
			    rs.body.len < GW_LOG_TEXT_MAX ? rs.body.len : GW_LOG_TEXT_MAX);
		buf_release(&rs.body);
		if (ar == AR_REAUTH) {
			gw_auth_forget_token(k->cn);
			reauthed = true;
			continue;
		}
		if (ar == AR_DONE || !k->m->idempotent || retries >= k->cf->retry_max)
			break;
		/* Exponential backoff; each retry gets the full timeout again. */
		int64_t wait = (int64_t)k->cf->backoff_ms << (retries < 6 ? retries : 6);
		sleep_ms(wait < BACKOFF_MAX_MS ? wait : BACKOFF_MAX_MS);
		retries++;
		deadline_ms = mono_ms() + k->timeout_ms;
		/* The breaker may have opened meanwhile (other calls failing): stop retrying then.
		 */
		pthread_mutex_lock(&k->cn->mu);
		bool open = k->cn->br.state == GW_BR_OPEN;
		pthread_mutex_unlock(&k->cn->mu);
		if (open)
			break;
	}
out:
	buf_release(&url);
	buf_release(&body);
	return e;
}

static enum err call_live(struct call *k)
{
	bool probe = false, allowed;
	enum err e;
	struct gw_conn *cn = k->cn;
	int64_t deadline = k->t0_ns / 1000000 + k->timeout_ms;
	pthread_mutex_lock(&cn->mu);
	allowed = gw_breaker_allow(&cn->br, &k->cf->breaker, mono_ms(), &probe);
	int64_t reopen = cn->br.opened_at_ms + k->cf->breaker.open_ms - mono_ms();
	pthread_mutex_unlock(&cn->mu);
	if (!allowed)
		return fail(k, ERR_UNAVAILABLE, GW_O_BREAKER_OPEN,
		            "“%s”已熔断，暂停调用（约 %lld 秒后试探恢复）", conn_title(k),
		            (long long)(reopen > 0 ? (reopen + 999) / 1000 : 1));

	/* A concurrency slot; waiting counts against the call's timeout. */
	struct timespec ts = {.tv_sec = deadline / 1000, .tv_nsec = (deadline % 1000) * 1000000L};
	bool got = true;
	pthread_mutex_lock(&cn->mu);
	while (cn->inflight >= k->cf->concurrency) {
		if (pthread_cond_timedwait(&cn->cv, &cn->mu, &ts) == ETIMEDOUT &&
		    cn->inflight >= k->cf->concurrency) {
			got = false;
			break;
		}
	}
	if (got)
		cn->inflight++;
	else if (probe)
		gw_breaker_abandon(&cn->br);
	pthread_mutex_unlock(&cn->mu);
	if (!got)
		return fail(k, ERR_UNAVAILABLE, GW_O_REJECTED,
		            "“%s”的并发调用已达上限（%d），请稍后再试", conn_title(k),
		            k->cf->concurrency);

	e = exchange(k, deadline);

	pthread_mutex_lock(&cn->mu);
	cn->inflight--;
	pthread_cond_signal(&cn->cv);
	bool was_open = cn->br.state == GW_BR_OPEN;
	gw_breaker_record(&cn->br, &k->cf->breaker, mono_ms(), !k->breaker_failure, probe);
	bool now_open = cn->br.state == GW_BR_OPEN;
	pthread_mutex_unlock(&cn->mu);
	if (now_open && !was_open)
		log_warn("gateway.breaker", "connector %s: breaker opened", cn->name);
	else if (probe && !now_open)
		log_info("gateway.breaker", "connector %s: breaker closed after a good probe",
		         cn->name);
	return e;
}

/* ---- the call log line ---- */

static char *log_text(const json_t *v, const json_t *mask)
{
	json_t *m = gw_mask_json(v, mask);
	char *s = m ? json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
	json_decref(m);
	if (s && strlen(s) > GW_LOG_TEXT_MAX) {
		/* Cut at a UTF-8 boundary; the detail view shows it as text. */
		size_t n = GW_LOG_TEXT_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
		s[n] = '\0';
	}
	return s;
}

static char *dup_cut(const char *s, size_t max)
{
	if (!s)
		return NULL;
	size_t n = strlen(s);
	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	return strndup(s, n);
}

static void write_log(struct call *k, const char *connector, const char *method,
                      const struct gateway_caller *caller, int64_t started_ms, int64_t id)
{
	struct gw_log_line *l = calloc(1, sizeof(*l));
	if (!l)
		return;
	const json_t *mask = k->m ? k->m->mask : NULL;
	l->id = id;
	snprintf(l->trace_id, sizeof(l->trace_id), "%s", k->trace_id);
	snprintf(l->connector, sizeof(l->connector), "%s", connector);
	snprintf(l->method, sizeof(l->method), "%s", method);
	l->caller_module = caller && caller->module ? dup_cut(caller->module, 64) : NULL;
	l->caller_user = caller && caller->user ? dup_cut(caller->user, 64) : NULL;
	l->caller_user_id = caller ? caller->user_id : 0;
	l->started_at = started_ms;
	l->latency_us = (time_mono_ns() - k->t0_ns) / 1000;
	l->outcome = gw_outcome_names[k->outcome];
	l->mocked = k->mocked;
	l->http_status = k->http_status;
	l->attempts = k->attempts;
	l->request = log_text(k->request, mask);
	l->response = k->response ? log_text(k->response, mask) : dup_cut(k->raw_response, 2048);
	l->error =
	    k->outcome == GW_O_OK || k->outcome == GW_O_MOCK ? NULL : dup_cut(k->ei->msg, 2000);
	gw_log_submit(k->srv, k->srv->gateway->log, l);
}

enum err gateway_call(struct server *srv, const char *connector, const char *method,
                      const json_t *request, const struct gateway_caller *caller, struct arena *a,
                      struct gateway_call_result *out, struct errinfo *ei)
{
	struct gateway_state *g = srv->gateway;
	int64_t started_ms = time_now_ms();
	int64_t call_id = gw_log_new_id();
	enum err e;
	struct call k = {
	    .srv = srv, .a = a, .ei = ei, .t0_ns = time_mono_ns(), .outcome = GW_O_ERROR};
	memset(out, 0, sizeof(*out));
	out->outcome = GATEWAY_OUTCOME_ERROR;
	if (!connector)
		connector = "";
	if (!method)
		method = "";
	if (!g) {
		ei->code = ERR_UNAVAILABLE;
		ei->msg = "接口服务平台未启动";
		return ERR_UNAVAILABLE;
	}
	if (!request)
		request = json_arena_own(a, json_object());
	k.request = request;
	if (caller && valid_trace(caller->trace_id))
		snprintf(k.trace_id, sizeof(k.trace_id), "%s", caller->trace_id);
	else if ((e = id_random_hex(k.trace_id, 16)))
		return e;
	k.rctx = json_arena_own(a, json_pack("{sOss}", "request", request, "trace_id", k.trace_id));
	if (!json_is_object(request)) {
		e = fail(&k, ERR_BAD_FIELD, GW_O_REJECTED, "调用参数必须是 JSON 对象");
		goto done;
	}
	k.cn = gw_conn_lookup(g, connector);
	if (!k.cn) {
		e = fail(&k, ERR_NOT_FOUND, GW_O_REJECTED, "接口系统“%.32s”不存在", connector);
		goto done;
	}
	if ((e = gw_conn_conf(srv, k.cn, &k.cf, ei, a))) {
		if (e == ERR_NOT_FOUND)
			e = fail(&k, e, GW_O_REJECTED, "接口系统“%s”不存在", connector);
		else
			e = fail(&k, e, GW_O_REJECTED, "接口系统“%s”的配置无法使用：%s", connector,
			         ei->msg ? ei->msg : err_message(e));
		goto done;
	}
	if (!(k.m = gw_conf_method(k.cf, method))) {
		e = fail(&k, ERR_NOT_FOUND, GW_O_REJECTED, "接口系统“%s”没有方法“%.64s”", connector,
		         method);
		goto done;
	}
	k.timeout_ms = k.m->timeout_ms > 0 ? k.m->timeout_ms : k.cf->timeout_ms;
	if (k.cf->mock_mode || (caller && caller->force_mock))
		e = call_mock(&k);
	else
		e = call_live(&k);
done:
	if (!e)
		ei->msg = NULL;
	write_log(&k, connector, method, caller, started_ms, call_id);
	out->http_status = k.http_status;
	out->response = k.response;
	out->outcome = gw_outcome_names[k.outcome];
	out->latency_us = (time_mono_ns() - k.t0_ns) / 1000;
	out->attempts = k.attempts;
	out->call_id = call_id;
	if (k.cn) {
		atomic_fetch_add(&k.cn->outcomes[k.outcome], 1);
		atomic_fetch_add(&k.cn->latency_us_sum, (unsigned long long)out->latency_us);
	}
	gw_conf_put(k.cf);
	if (e && !ei->code)
		ei->code = e;
	return e;
}

/* ---- masking for others, metrics, lifecycle -------------------------------------------- */

json_t *gateway_mask(struct server *srv, const char *connector, const char *method, const json_t *v)
{
	struct gw_conf *cf = NULL;
	struct arena a;
	struct errinfo ei = {0};
	json_t *r;
	if (!v)
		return NULL;
	arena_init(&a, 0);
	if (srv->gateway && connector) {
		struct gw_conn *cn = gw_conn_lookup(srv->gateway, connector);
		if (cn && gw_conn_conf(srv, cn, &cf, &ei, &a) != ERR_OK)
			cf = NULL;
	}
	const struct gw_method *m = gw_conf_method(cf, method);
	r = gw_mask_json(v, m ? m->mask : NULL);
	gw_conf_put(cf);
	arena_release(&a);
	return r;
}

enum err gateway_metrics(struct server *srv, struct buf *out)
{
	struct gateway_state *g = srv->gateway;
	enum err e;
	if (!g)
		return ERR_OK;
	e = buf_puts(out,
	             "# HELP shouli_gateway_calls_total Outbound calls by connector and outcome.\n"
	             "# TYPE shouli_gateway_calls_total counter\n");
	pthread_mutex_lock(&g->mu);
	for (struct gw_conn *cn = g->conns; cn && !e; cn = cn->next)
		for (int o = 0; o < GW_NOUTCOMES && !e; o++)
			e = buf_printf(
			    out,
			    "shouli_gateway_calls_total{connector=\"%s\",outcome=\"%s\"} %llu\n",
			    cn->name, gw_outcome_names[o],
			    (unsigned long long)atomic_load(&cn->outcomes[o]));
	if (!e)
		e = buf_puts(
		    out, "# HELP shouli_gateway_call_seconds_total Time spent in outbound calls.\n"
		         "# TYPE shouli_gateway_call_seconds_total counter\n");
	for (struct gw_conn *cn = g->conns; cn && !e; cn = cn->next)
		e = buf_printf(out, "shouli_gateway_call_seconds_total{connector=\"%s\"} %.6f\n",
		               cn->name, (double)atomic_load(&cn->latency_us_sum) / 1e6);
	if (!e)
		e = buf_puts(out,
		             "# HELP shouli_gateway_breaker_state Circuit breaker per connector "
		             "(0 closed, 1 open, 2 half-open).\n"
		             "# TYPE shouli_gateway_breaker_state gauge\n");
	for (struct gw_conn *cn = g->conns; cn && !e; cn = cn->next) {
		pthread_mutex_lock(&cn->mu);
		int st = (int)cn->br.state;
		unsigned long long opens = (unsigned long long)cn->br.opens;
		int inflight = cn->inflight;
		pthread_mutex_unlock(&cn->mu);
		e = buf_printf(out,
		               "shouli_gateway_breaker_state{connector=\"%s\"} %d\n"
		               "shouli_gateway_breaker_opens_total{connector=\"%s\"} %llu\n"
		               "shouli_gateway_inflight{connector=\"%s\"} %d\n",
		               cn->name, st, cn->name, opens, cn->name, inflight);
	}
	pthread_mutex_unlock(&g->mu);
	return e;
}

enum err gw_state_create(struct server *srv, const char *seed_dir)
{
	enum err e;
	struct gateway_state *g = calloc(1, sizeof(*g));
	if (!g)
		return ERR_NOMEM;
	pthread_mutex_init(&g->mu, NULL);
	g->now_ms = mono_ms;
	gw_soap_global_init();
	if ((e = gw_http_global_init()))
		goto fail;
	if (seed_dir && !(g->seed_dir = strdup(seed_dir))) {
		e = ERR_NOMEM;
		goto fail;
	}
	if ((e = gw_log_start(srv, &g->log)))
		goto fail;
	srv->gateway = g;
	if (g->seed_dir && (e = gw_store_seed(srv, g->seed_dir))) {
		log_error("gateway.seed", "seeding connectors failed (%s)", err_code(e));
		gw_state_destroy(srv);
		return e;
	}
	return ERR_OK;
fail:
	free(g->seed_dir);
	pthread_mutex_destroy(&g->mu);
	free(g);
	return e;
}

void gw_state_destroy(struct server *srv)
{
	struct gateway_state *g = srv->gateway;
	if (!g)
		return;
	/* The log first: its queued lines need the database, which closes after the modules. */
	gw_log_stop(g->log);
	for (struct gw_conn *cn = g->conns, *next; cn; cn = next) {
		next = cn->next;
		gw_http_pool_clear(cn);
		gw_conf_put(cn->conf);
		free(cn->token);
		pthread_mutex_destroy(&cn->mu);
		pthread_cond_destroy(&cn->cv);
		free(cn);
	}
	free(g->seed_dir);
	pthread_mutex_destroy(&g->mu);
	free(g);
	srv->gateway = NULL;
}
