/* gateway_open.c: open APIs — the request signature, replay protection, grant decisions
 * (time window, daily quota, rate) and the authenticate_open hook that puts them together.
 *
 * Multi-node limits (several `shouli serve` behind a balancer): the daily quota is a
 * counter in the database and holds across nodes; the nonce set and the rate buckets are in
 * memory per process. With N nodes a nonce replayed to another node within 10 minutes is
 * not recognised there (the timestamp check still bounds replays to ±5 minutes), and a
 * grant's per-minute rate is enforced per node (up to N times the rate in all). A balancer
 * that sends one key id to one node (hash on X-Key-Id) closes both gaps. */
#include "gateway/gateway_open_int.h"

#include <stdarg.h>
#include <stdlib.h>
#include <time.h>

#include "core/id.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"

/* ---- time windows ------------------------------------------------------------------------ */

#define DAY_MS 86400000LL

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void open_local_time(int64_t now_ms, int *weekday, int *minute)
{
	int64_t local = now_ms + OPEN_TZ_OFFSET_MS;
	int64_t days = floor_div(local, DAY_MS);
	/* 1970-01-01 was a Thursday (ISO weekday 4). */
	*weekday = (int)(((days % 7) + 7 + 3) % 7) + 1;
	*minute = (int)((local - days * DAY_MS) / 60000);
}

void open_local_day(int64_t now_ms, char out[11])
{
	time_t secs = (time_t)floor_div(now_ms + OPEN_TZ_OFFSET_MS, 1000);
	struct tm tm;
	if (!gmtime_r(&secs, &tm) || strftime(out, 11, "%Y-%m-%d", &tm) != 10)
		snprintf(out, 11, "0000-00-00");
}

bool open_window_allows(const struct open_window *w, int64_t now_ms)
{
	int wd, min;
	open_local_time(now_ms, &wd, &min);
	unsigned today = 1u << (wd - 1);
	unsigned yesterday = 1u << ((wd + 5) % 7);
	if (w->from_min < w->to_min)
		return (w->weekdays & today) && min >= w->from_min && min < w->to_min;
	if (w->from_min > w->to_min)
		return ((w->weekdays & today) && min >= w->from_min) ||
		       ((w->weekdays & yesterday) && min < w->to_min);
	return false;
}

bool open_parse_hhmm(const char *s, bool allow_24, int *minutes)
{
	if (!s || strlen(s) != 5 || s[2] != ':')
		return false;
	for (int i = 0; i < 5; i++)
		if (i != 2 && (s[i] < '0' || s[i] > '9'))
			return false;
	int h = (s[0] - '0') * 10 + (s[1] - '0');
	int m = (s[3] - '0') * 10 + (s[4] - '0');
	if (m > 59 || h > 24 || (h == 24 && (m != 0 || !allow_24)))
		return false;
	*minutes = h * 60 + m;
	return true;
}

const char *open_window_describe(const struct open_window *w, struct arena *a)
{
	static const char *const names[] = {"周一", "周二", "周三", "周四", "周五", "周六", "周日"};
	char days[64] = "";
	unsigned d = w->weekdays & OPEN_WEEKDAYS_ALL;
	if (d == OPEN_WEEKDAYS_ALL)
		snprintf(days, sizeof(days), "每天");
	else if (d == 0x1fu)
		snprintf(days, sizeof(days), "工作日");
	else if (d == 0x60u)
		snprintf(days, sizeof(days), "周末");
	else {
		size_t n = 0;
		for (int i = 0; i < 7; i++)
			if (d & (1u << i))
				n += (size_t)snprintf(days + n, sizeof(days) - n, "%s%s",
				                      n ? "、" : "", names[i]);
	}
	return arena_printf(a, "%s %02d:%02d–%02d:%02d", days, w->from_min / 60, w->from_min % 60,
	                    w->to_min / 60, w->to_min % 60);
}

/* ---- rate buckets ------------------------------------------------------------------------ */

bool open_bucket_take(struct open_bucket *b, int64_t rate_per_min, int64_t now_ms)
{
	if (rate_per_min <= 0)
		return true;
	double cap = (double)rate_per_min;
	if (b->last_ms == 0) {
		b->tokens = cap;
		b->last_ms = now_ms;
	} else if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * cap / 60000.0;
		b->last_ms = now_ms;
	}
	if (b->tokens > cap) /* also when the grant's rate was lowered */
		b->tokens = cap;
	if (b->tokens < 1.0)
		return false;
	b->tokens -= 1.0;
	return true;
}

#define RATE_BUCKETS 1024

struct rate_entry {
	struct rate_entry *next;
	int64_t grant_id;
	struct open_bucket b;
};

struct open_rates {
	pthread_mutex_t lock;
	struct rate_entry *tab[RATE_BUCKETS];
	size_t n;
};

enum err open_rates_create(struct open_rates **out)
{
	struct open_rates *r = calloc(1, sizeof(*r));
	if (!r)
		return ERR_NOMEM;
	pthread_mutex_init(&r->lock, NULL);
	*out = r;
	return ERR_OK;
}

void open_rates_destroy(struct open_rates *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < RATE_BUCKETS; i++)
		for (struct rate_entry *e = r->tab[i], *next; e; e = next) {
			next = e->next;
			free(e);
		}
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* A bucket untouched for a minute is full again: dropping it changes nothing. */
static void rates_sweep(struct open_rates *r, int64_t now_ms)
{
	for (size_t i = 0; i < RATE_BUCKETS; i++)
		for (struct rate_entry **pp = &r->tab[i]; *pp;) {
			struct rate_entry *e = *pp;
			if (now_ms - e->b.last_ms >= 60000) {
				*pp = e->next;
				free(e);
				r->n--;
			} else {
				pp = &e->next;
			}
		}
}

bool open_rates_take(struct open_rates *r, int64_t grant_id, int64_t rate_per_min, int64_t now_ms)
{
	if (rate_per_min <= 0)
		return true;
	size_t h = (size_t)((uint64_t)grant_id * 0x9e3779b97f4a7c15ull >> 54) % RATE_BUCKETS;
	bool ok = false;
	pthread_mutex_lock(&r->lock);
	struct rate_entry *e = r->tab[h];
	while (e && e->grant_id != grant_id)
		e = e->next;
	if (!e) {
		if (r->n >= OPEN_RATES_MAX)
			rates_sweep(r, now_ms);
		e = calloc(1, sizeof(*e));
		if (e) {
			e->grant_id = grant_id;
			e->next = r->tab[h];
			r->tab[h] = e;
			r->n++;
		}
	}
	if (e)
		ok = open_bucket_take(&e->b, rate_per_min, now_ms);
	pthread_mutex_unlock(&r->lock);
	return ok;
}

/* ---- nonces ------------------------------------------------------------------------------ */

struct nonce_entry {
	struct nonce_entry *hnext; /* hash chain */
	struct nonce_entry *qnext; /* arrival order, for expiry */
	int64_t at;
	uint64_t hash;
	char key[]; /* key_id "\n" nonce */
};

struct open_nonces {
	pthread_mutex_t lock;
	struct nonce_entry **tab;
	size_t nbuckets; /* a power of two */
	struct nonce_entry *qhead, *qtail;
	size_t n, cap;
	int64_t ttl_ms;
};

static uint64_t fnv1a(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

enum err open_nonces_create(size_t cap, int64_t ttl_ms, struct open_nonces **out)
{
	struct open_nonces *n = calloc(1, sizeof(*n));
	if (!n)
		return ERR_NOMEM;
	n->nbuckets = 64;
	while (n->nbuckets < cap / 4 && n->nbuckets < (1u << 20))
		n->nbuckets <<= 1;
	n->tab = calloc(n->nbuckets, sizeof(*n->tab));
	if (!n->tab) {
		free(n);
		return ERR_NOMEM;
	}
	n->cap = cap;
	n->ttl_ms = ttl_ms;
	pthread_mutex_init(&n->lock, NULL);
	*out = n;
	return ERR_OK;
}

void open_nonces_destroy(struct open_nonces *n)
{
	if (!n)
		return;
	for (struct nonce_entry *e = n->qhead, *next; e; e = next) {
		next = e->qnext;
		free(e);
	}
	free(n->tab);
	pthread_mutex_destroy(&n->lock);
	free(n);
}

/* Entries arrive in time order, so the oldest is always at the head of the queue. */
static void nonces_expire(struct open_nonces *n, int64_t now_ms)
{
	while (n->qhead && n->qhead->at + n->ttl_ms <= now_ms) {
		struct nonce_entry *e = n->qhead;
		struct nonce_entry **pp = &n->tab[e->hash & (n->nbuckets - 1)];
		while (*pp && *pp != e)
			pp = &(*pp)->hnext;
		if (*pp)
			*pp = e->hnext;
		n->qhead = e->qnext;
		if (!n->qhead)
			n->qtail = NULL;
		n->n--;
		free(e);
	}
}

enum err open_nonces_add(struct open_nonces *n, const char *key_id, const char *nonce,
                         int64_t now_ms)
{
	size_t kl = strlen(key_id), nl = strlen(nonce);
	struct nonce_entry *e = malloc(sizeof(*e) + kl + nl + 2);
	if (!e)
		return ERR_NOMEM;
	memcpy(e->key, key_id, kl);
	e->key[kl] = '\n';
	memcpy(e->key + kl + 1, nonce, nl + 1);
	e->hash = fnv1a(e->key, kl + nl + 1);
	e->at = now_ms;
	e->qnext = NULL;
	enum err rc = ERR_OK;
	pthread_mutex_lock(&n->lock);
	nonces_expire(n, now_ms);
	struct nonce_entry **head = &n->tab[e->hash & (n->nbuckets - 1)];
	for (struct nonce_entry *x = *head; x; x = x->hnext)
		if (x->hash == e->hash && !strcmp(x->key, e->key)) {
			rc = ERR_EXISTS;
			break;
		}
	if (!rc && n->n >= n->cap)
		rc = ERR_UNAVAILABLE;
	if (!rc) {
		e->hnext = *head;
		*head = e;
		if (n->qtail)
			n->qtail->qnext = e;
		else
			n->qhead = e;
		n->qtail = e;
		n->n++;
		e = NULL;
	}
	pthread_mutex_unlock(&n->lock);
	free(e);
	return rc;
}

size_t open_nonces_count(struct open_nonces *n)
{
	pthread_mutex_lock(&n->lock);
	size_t c = n->n;
	pthread_mutex_unlock(&n->lock);
	return c;
}

/* ---- grant decisions --------------------------------------------------------------------- */

static enum err refusal(struct errinfo *ei, struct arena *a, enum err code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum err refusal(struct errinfo *ei, struct arena *a, enum err code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ei->code = code;
	ei->field = NULL;
	ei->msg = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return code;
}

enum err open_grant_check(const struct open_grant *g, int64_t now_ms, struct open_rates *rates,
                          const struct open_quota_ops *q, void *qctx, struct arena *a,
                          struct errinfo *ei)
{
	char day[11];
	if (!g || !g->enabled)
		return refusal(ei, a, ERR_FORBIDDEN, "未授权调用该接口");
	if (!open_window_allows(&g->win, now_ms)) {
		const char *w = open_window_describe(&g->win, a);
		return refusal(ei, a, ERR_FORBIDDEN, "不在授权时段（%s）", w ? w : "");
	}
	open_local_day(now_ms, day);
	if (g->daily_quota > 0) {
		enum err e = q->take(qctx, g, day);
		if (e == ERR_RATE_LIMITED)
			return refusal(ei, a, ERR_RATE_LIMITED,
			               "今日调用次数已用完（每日 %lld 次）",
			               (long long)g->daily_quota);
		if (e)
			return e;
	}
	if (!open_rates_take(rates, g->id, g->rate_per_min, now_ms)) {
		if (g->daily_quota > 0)
			q->give_back(qctx, g, day);
		return refusal(ei, a, ERR_RATE_LIMITED, "调用过于频繁（每分钟最多 %lld 次）",
		               (long long)g->rate_per_min);
	}
	return ERR_OK;
}

/* ---- signatures -------------------------------------------------------------------------- */

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

enum err open_percent_encode(struct buf *out, const char *s, size_t n, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		enum err e;
		if (unreserved(c) || (keep_slash && c == '/')) {
			e = buf_putc(out, (char)c);
		} else {
			char t[3] = {'%', hex[c >> 4], hex[c & 15]};
			e = buf_append(out, t, 3);
		}
		if (e)
			return e;
	}
	return ERR_OK;
}

struct enc_arg {
	const char *name, *value; /* encoded */
};

static int enc_arg_cmp(const void *x, const void *y)
{
	const struct enc_arg *a = x, *b = y;
	int c = strcmp(a->name, b->name);
	return c ? c : strcmp(a->value, b->value);
}

static const char *encoded(struct arena *a, const char *s)
{
	struct buf b;
	buf_init(&b, 1u << 20);
	const char *r = NULL;
	if (open_percent_encode(&b, s, strlen(s), false) == ERR_OK)
		r = arena_strndup(a, b.p ? b.p : "", b.len);
	buf_release(&b);
	return r;
}

enum err gateway_signing_string(struct buf *out, const char *method, const char *path,
                                const struct gateway_query_arg *args, size_t nargs,
                                const char *timestamp, const char *nonce, const void *body,
                                size_t body_len)
{
	struct arena a;
	unsigned char digest[CRYPTO_SM3_LEN];
	enum err e;
	arena_init(&a, 0);
	struct enc_arg *v = nargs ? arena_alloc(&a, nargs * sizeof(*v)) : NULL;
	if (nargs && !v) {
		e = ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < nargs; i++) {
		v[i].name = encoded(&a, args[i].name ? args[i].name : "");
		v[i].value = encoded(&a, args[i].value ? args[i].value : "");
		if (!v[i].name || !v[i].value) {
			e = ERR_NOMEM;
			goto out;
		}
	}
	if (nargs)
		qsort(v, nargs, sizeof(*v), enc_arg_cmp);
	if ((e = buf_puts(out, method)) || (e = buf_putc(out, '\n')) ||
	    (e = open_percent_encode(out, path, strlen(path), true)))
		goto out;
	for (size_t i = 0; i < nargs; i++)
		if ((e = buf_putc(out, i ? '&' : '?')) || (e = buf_puts(out, v[i].name)) ||
		    (e = buf_putc(out, '=')) || (e = buf_puts(out, v[i].value)))
			goto out;
	crypto_sm3(body_len ? body : "", body_len, digest);
	if ((e = buf_putc(out, '\n')) || (e = buf_puts(out, timestamp)) ||
	    (e = buf_putc(out, '\n')) || (e = buf_puts(out, nonce)) || (e = buf_putc(out, '\n')))
		goto out;
	e = buf_hex(out, digest, sizeof(digest));
out:
	arena_release(&a);
	return e;
}

/* ---- the authenticate_open hook ---------------------------------------------------------- */

#define QUERY_ARGS_MAX 64

struct collect {
	struct arena *a;
	struct gateway_query_arg v[QUERY_ARGS_MAX];
	size_t n;
	bool overflow, nomem;
};

static void collect_arg(void *ctx, const char *name, const char *value)
{
	struct collect *c = ctx;
	if (c->n == QUERY_ARGS_MAX) {
		c->overflow = true;
		return;
	}
	c->v[c->n].name = arena_strdup(c->a, name);
	c->v[c->n].value = arena_strdup(c->a, value);
	if (!c->v[c->n].name || !c->v[c->n].value)
		c->nomem = true;
	c->n++;
}

/* path?name=value&… decoded, in the order sent: what the call log shows. */
static const char *readable_target(struct arena *a, const char *path, const struct collect *q)
{
	struct buf b;
	buf_init(&b, 64 * 1024);
	buf_puts(&b, path);
	for (size_t i = 0; i < q->n; i++)
		buf_printf(&b, "%c%s=%s", i ? '&' : '?', q->v[i].name, q->v[i].value);
	const char *r = arena_strndup(a, b.p ? b.p : path, b.p ? b.len : strlen(path));
	buf_release(&b);
	return r;
}

static bool nonce_ok(const char *s)
{
	size_t n = strlen(s);
	if (n < 16 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

static enum err verify_signature(struct server *srv, struct arena *a, const struct open_cred *cred,
                                 const struct buf *msg, const char *given)
{
	enum err e;
	if (!strcmp(cred->kind, "hmac_sm3")) {
		unsigned char got[CRYPTO_SM3_LEN], want[CRYPTO_SM3_LEN];
		struct buf secret;
		if (strlen(given) != 2 * CRYPTO_SM3_LEN ||
		    !hex_decode(given, strlen(given), got, 32))
			return ERR_INTEGRITY;
		buf_init(&secret, 1024);
		const char *context = arena_printf(a, "open_credentials.secret:%s", cred->key_id);
		e = context ? keyring_decrypt(srv->keys, context, cred->secret_enc, cred->secret_n,
		                              &secret)
		            : ERR_NOMEM;
		if (e == ERR_OK) {
			crypto_hmac_sm3(secret.p, secret.len, msg->p, msg->len, want);
			e = mem_eq_ct(want, sizeof(want), got, sizeof(got)) ? ERR_OK
			                                                    : ERR_INTEGRITY;
		} else {
			log_error("open.secret",
			          "the secret of credential %s cannot be opened (%s)", cred->key_id,
			          err_code(e));
			e = ERR_INTERNAL;
		}
		if (secret.p)
			crypto_wipe(secret.p, secret.len);
		buf_release(&secret);
		return e;
	}
	struct buf der;
	struct crypto_sm2_key *k = NULL;
	size_t glen = strlen(given);
	/* A DER SM2 signature is at most CRYPTO_SM2_SIG_MAX bytes: refuse longer input unread. */
	if (glen > (CRYPTO_SM2_SIG_MAX + 2) / 3 * 4)
		return ERR_INTEGRITY;
	buf_init(&der, CRYPTO_SM2_SIG_MAX + 8);
	if (base64_decode(given, glen, BASE64_STRICT, &der) != ERR_OK) {
		buf_release(&der);
		return ERR_INTEGRITY;
	}
	if (!cred->public_key ||
	    crypto_sm2_load_pem(cred->public_key, strlen(cred->public_key), &k) != ERR_OK) {
		log_error("open.pubkey", "the public key of credential %s cannot be loaded",
		          cred->key_id);
		buf_release(&der);
		return ERR_INTERNAL;
	}
	e = crypto_sm2_verify(k, NULL, msg->p, msg->len, der.p, der.len);
	crypto_sm2_destroy(k);
	buf_release(&der);
	return e == ERR_OK ? ERR_OK : ERR_INTEGRITY;
}

struct quota_ctx {
	struct db_conn *c;
	struct arena *a;
};

static enum err quota_take(void *ctx, const struct open_grant *g, const char *day)
{
	struct quota_ctx *q = ctx;
	return open_store_quota_take(q->c, q->a, g->id, day, g->daily_quota);
}

static void quota_give_back(void *ctx, const struct open_grant *g, const char *day)
{
	struct quota_ctx *q = ctx;
	open_store_quota_give_back(q->c, q->a, g->id, day);
}

static const struct open_quota_ops db_quota = {quota_take, quota_give_back};

/* The city organisation, loaded once (the demo creates it after the modules start). */
static void city_scope(struct gateway_open_state *st, struct db_conn *c, struct arena *a,
                       struct principal *who)
{
	pthread_mutex_lock(&st->lock);
	if (!st->city_id) {
		int64_t id;
		const char *code, *path;
		if (open_store_city(c, a, &id, &code, &path) == ERR_OK) {
			char *cc = strdup(code ? code : ""), *cp = strdup(path ? path : "");
			if (cc && cp) {
				st->city_id = id;
				st->city_code = cc;
				st->city_path = cp;
			} else {
				free(cc);
				free(cp);
			}
		}
	}
	who->org_id = st->city_id;
	who->scope_code = st->city_code;
	who->scope_path = st->city_path;
	pthread_mutex_unlock(&st->lock);
	who->scope_level = "city";
}

static int api_index(const char *name)
{
	for (size_t i = 0; name && i < open_api_ndefs; i++)
		if (!strcmp(open_api_defs[i].name, name))
			return (int)i;
	return -1;
}

/* A UTF-8-safe prefix of s of at most OPEN_LOG_TEXT_MAX bytes (from a). */
static const char *clip(struct arena *a, const char *s, size_t n)
{
	if (!s)
		return NULL;
	if (n <= OPEN_LOG_TEXT_MAX)
		return arena_strndup(a, s, n);
	size_t k = OPEN_LOG_TEXT_MAX;
	while (k > 0 && ((unsigned char)s[k] & 0xc0) == 0x80)
		k--;
	return arena_printf(a, "%.*s…", (int)k, s);
}

void open_log_call(struct req *r, const struct open_call *oc, int status, const char *outcome,
                   const char *code, const char *message, const char *response)
{
	struct db_conn *c = NULL;
	if (!oc || !oc->credential_id)
		return;
	struct open_call_row row = {
	    .at = time_now_ms(),
	    .credential_id = oc->credential_id,
	    .latency_us = (time_mono_ns() - oc->t0_ns) / 1000,
	    .key_id = oc->key_id,
	    .api = oc->api,
	    .method = r->method,
	    .path = oc->target ? oc->target : r->path,
	    .outcome = outcome,
	    .code = code,
	    .message = message,
	    .client_ip = r->client_ip,
	    .trace_id = r->trace.trace_id,
	    .signing_string = oc->signing_string,
	    .request = r->body_len ? clip(r->arena, r->body, r->body_len) : NULL,
	    .response = response ? clip(r->arena, response, strlen(response)) : NULL,
	    .status = status,
	};
	struct gateway_open_state *st = r->srv->gateway_open;
	enum err e;
	if (st && st->logq) {
		e = open_logq_submit(st->logq, &row);
	} else if (!(e = db_acquire(r->srv->db, OPEN_DB_WAIT_MS, &c))) {
		e = open_store_log(c, r->arena, &row);
		db_release(c);
	}
	if (e)
		log_warn("open.log", "open call of %s to %s not logged (%s)", oc->key_id,
		         oc->api ? oc->api : "?", err_code(e));
}

enum err gateway_open_authenticate(void *ctx, struct req *r)
{
	struct server *srv = ctx;
	struct gateway_open_state *st = srv->gateway_open;
	struct arena *a = r->arena;
	struct db_conn *c = NULL;
	struct open_cred cred = {0};
	struct open_api_row arow = {0};
	struct open_grant grant = {0};
	struct errinfo ei = {0};
	struct collect q = {.a = a};
	struct buf msg;
	bool has_grant = false;
	enum err e = ERR_OK;
	const char *why = NULL;
	int64_t now = time_now_ms(), ts = 0;

	buf_init(&msg, 256 * 1024);
	if (!st)
		return req_fail(r, ERR_UNAVAILABLE, NULL, "开放接口服务未启动");
	const char *api = r->route ? r->route->perm : NULL;
	int idx = api_index(api);
	if (idx < 0)
		return req_fail(r, ERR_INTERNAL, NULL, "开放接口 %s 未定义", api ? api : "");
	struct open_call *oc = arena_zalloc(a, sizeof(*oc));
	if (!oc)
		return ERR_NOMEM;
	oc->t0_ns = time_mono_ns();
	oc->api = api;
	oc->api_idx = (size_t)idx;

	const char *key_id = req_header(r, "X-Key-Id");
	const char *tsh = req_header(r, "X-Timestamp");
	const char *nonce = req_header(r, "X-Nonce");
	const char *sig = req_header(r, "X-Signature");
	req_query_each(r, collect_arg, &q);
	if (q.nomem) {
		e = ERR_NOMEM;
		goto out;
	}
	oc->target = readable_target(a, r->path, &q);
	if (!key_id || !*key_id) {
		e = ERR_UNAUTHENTICATED;
		why = "签名无效：缺少请求头 X-Key-Id";
		goto out;
	}
	if (strlen(key_id) > 64) {
		e = ERR_UNAUTHENTICATED;
		why = "签名无效：Key ID 不存在";
		goto out;
	}
	if ((e = db_acquire(srv->db, OPEN_DB_WAIT_MS, &c)))
		goto out;
	e = open_store_lookup(c, a, key_id, api, &cred, &arow, &grant, &has_grant);
	if (e == ERR_NOT_FOUND) {
		e = ERR_UNAUTHENTICATED;
		why = "签名无效：Key ID 不存在";
		goto out;
	}
	if (e)
		goto out;
	oc->credential_id = cred.id;
	oc->key_id = cred.key_id;
	oc->debug = cred.debug;
	oc->mock = arow.mock;
	oc->mock_status = arow.mock_status;
	oc->grant_id = has_grant ? grant.id : 0;

	e = ERR_UNAUTHENTICATED;
	if (!tsh || !*tsh)
		why = "签名无效：缺少请求头 X-Timestamp";
	else if (!cstr_to_i64(tsh, 0, INT64_MAX, &ts))
		why = "签名无效：X-Timestamp 应为毫秒时间戳";
	else if (ts < now - OPEN_SKEW_MS || ts > now + OPEN_SKEW_MS)
		why = "时间戳超出 5 分钟";
	else if (!nonce || !*nonce)
		why = "签名无效：缺少请求头 X-Nonce";
	else if (!nonce_ok(nonce))
		why = "签名无效：X-Nonce 应为 16 到 64 位十六进制字符";
	else if (!sig || !*sig)
		why = "签名无效：缺少请求头 X-Signature";
	else if (q.overflow)
		why = "签名无效：查询参数过多";
	if (why)
		goto out;
	if ((e = gateway_signing_string(&msg, r->method, r->path, q.v, q.n, tsh, nonce, r->body,
	                                r->body_len)))
		goto out;
	oc->signing_string = arena_strndup(a, msg.p, msg.len);
	if ((e = verify_signature(srv, a, &cred, &msg, sig))) {
		if (e == ERR_INTEGRITY) {
			e = ERR_UNAUTHENTICATED;
			why = "签名无效";
		}
		goto out;
	}
	e = open_nonces_add(st->nonces, cred.key_id, nonce, now);
	if (e == ERR_EXISTS) {
		e = ERR_UNAUTHENTICATED;
		why = "重复的请求（nonce）";
		goto out;
	}
	if (e == ERR_UNAVAILABLE) {
		why = "开放接口繁忙，请稍后再试";
		goto out;
	}
	if (e)
		goto out;
	if (!cred.enabled) {
		e = ERR_FORBIDDEN;
		why = "凭据已停用";
		goto out;
	}
	if (!arow.found || !arow.enabled) {
		e = ERR_FORBIDDEN;
		why = "接口已停用";
		goto out;
	}
	struct quota_ctx qc = {c, a};
	if ((e = open_grant_check(has_grant ? &grant : NULL, now, st->rates, &db_quota, &qc, a,
	                          &ei))) {
		why = ei.code == e ? ei.msg : NULL;
		goto out;
	}

	struct principal *who = arena_zalloc(a, sizeof(*who));
	const char **perms = arena_alloc(a, sizeof(*perms));
	if (!who || !perms) {
		e = ERR_NOMEM;
		goto out;
	}
	perms[0] = api;
	who->username = cred.key_id;
	who->name = cred.owner;
	who->perms = perms;
	who->nperms = 1;
	who->ext = oc;
	city_scope(st, c, a, who);
	r->who = who;
out:
	db_release(c);
	buf_release(&msg);
	if (e) {
		if (why)
			req_fail(r, e, NULL, "%s", why);
		const char *m = r->err.code == e && r->err.msg ? r->err.msg : err_message(e);
		if (oc->credential_id)
			open_log_call(r, oc, err_status(e), "refused", err_code(e), m, NULL);
		else
			log_event(
			    LOG_INFO, "open.refused",
			    json_pack("{s:s?,s:s,s:s}", "key_id", key_id, "api", api, "reason", m),
			    "open API call refused: %s", m);
	}
	return e;
}

/* ---- state ------------------------------------------------------------------------------- */

enum err open_state_create(struct gateway_open_state **out)
{
	struct gateway_open_state *st = calloc(1, sizeof(*st));
	enum err e = ERR_NOMEM;
	if (!st)
		return e;
	pthread_mutex_init(&st->lock, NULL);
	st->live = calloc(open_api_ndefs, sizeof(*st->live));
	if (!st->live ||
	    (e = open_nonces_create(OPEN_NONCES_MAX, OPEN_NONCE_TTL_MS, &st->nonces)) ||
	    (e = open_rates_create(&st->rates))) {
		open_state_destroy(st);
		return e ? e : ERR_NOMEM;
	}
	*out = st;
	return ERR_OK;
}

void open_state_destroy(struct gateway_open_state *st)
{
	if (!st)
		return;
	open_logq_stop(st->logq); /* writes what is queued */
	open_nonces_destroy(st->nonces);
	open_rates_destroy(st->rates);
	free(st->live);
	free(st->city_code);
	free(st->city_path);
	pthread_mutex_destroy(&st->lock);
	free(st);
}
