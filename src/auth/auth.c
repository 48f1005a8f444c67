/* auth.c: process state, rate limits, row integrity, password policy, principals and the
 * authenticate hook. SQL lives in auth_store.c, handlers in auth_http.c. */
#include "auth/auth_int.h"

#include <stdarg.h>

#include "audit/audit.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "events/events.h"

/* ---- built-in permissions and roles ---- */

const struct builtin_perm auth_builtin_perms[] = {
    {"user.manage", "管理用户账号"},
    {"org.manage", "管理组织机构"},
    {"system.config", "管理系统配置"},
    {"role.manage", "管理角色与权限"},
    {"key.manage", "管理密钥"},
    {"audit.read", "查阅审计日志"},
    {"centre.manage", "管理受理中心"},
    {"case.read", "查阅办件"},
    {"case.accept", "受理办件"},
    {"case.override", "预审阻断时批准继续受理"},
    {"stats.read", "查阅统计报表"},
    {"queue.manage", "管理排队叫号"},
    {"queue.call", "窗口叫号"},
    {"queue.issue", "排队取号"},
    {"ident.read", "读取身份证件信息"},
    {"supervise.read", "查阅监管信息"},
    {"exam.manage", "管理竞赛考试"},
    {"catalog.edit", "编辑事项目录草稿"},
    {"catalog.publish", "发布事项目录版本"},
    {"gateway.manage", "管理接口服务平台"},
    {"gateway.read", "查阅接口调用日志与统计"},
    {"sched.manage", "管理定时任务"},
    {"vwin.manage", "管理延伸点与终端"},
    {"terminal.use", "终端设备接入"},
    {NULL, NULL},
};

/* Three-way separation: user management (sysadmin), security administration (secadmin) and
 * audit (auditor) never share a role; auth_roles_resolve keeps them apart per user too. */
const struct builtin_role auth_builtin_roles[] = {
    {"sysadmin", "系统管理员", {"user.manage", "org.manage", "system.config", "vwin.manage", NULL}},
    {"secadmin", "安全管理员", {"role.manage", "key.manage", NULL}},
    {"auditor", "安全审计员", {"audit.read", NULL}},
    {"centre_manager",
     "中心管理人员",
     {"centre.manage", "case.read", "case.override", "stats.read", "queue.manage", "queue.issue",
      "vwin.manage", NULL}},
    {"window_clerk",
     "窗口受理人员",
     {"case.accept", "case.read", "ident.read", "queue.call", NULL}},
    {"city_supervisor", "市级监管人员", {"stats.read", "supervise.read", NULL}},
    {"exam_admin", "竞赛管理员", {"exam.manage", NULL}},
    {"catalog_admin", "事项管理员", {"catalog.edit", "catalog.publish", NULL}},
    {"ops_admin", "运维管理员", {"gateway.manage", "gateway.read", "sched.manage", NULL}},
    {"terminal", "终端设备", {"terminal.use", "queue.issue", NULL}},
    {NULL, NULL, {NULL}},
};

/* ---- helpers ---- */

enum err auth_fail(struct errinfo *ei, struct arena *a, enum err code, const char *field,
                   const char *fmt, ...)
{
	if (ei) {
		ei->code = code;
		ei->field = field;
		ei->msg = NULL;
		if (fmt) {
			va_list ap;
			va_start(ap, fmt);
			ei->msg = arena_vprintf(a, fmt, ap);
			va_end(ap);
		}
	}
	return code;
}

bool auth_username_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 3 || n > AUTH_USERNAME_MAX || !(s[0] >= 'a' && s[0] <= 'z'))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

void auth_token_hash(const char *token, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[32];
	crypto_sm3(token, strlen(token), d);
	/* Every request with a session comes here: no printf per byte. */
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = 0;
}

/* ---- rate limiter ---- */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

enum err rl_init(struct ratelimit *rl, int limit, int64_t window_ms)
{
	rl->limit = limit < RL_EVENTS_MAX ? limit : RL_EVENTS_MAX;
	rl->window_ms = window_ms;
	rl->slots = calloc(RL_SLOTS, sizeof(*rl->slots));
	if (!rl->slots)
		return ERR_NOMEM;
	pthread_mutex_init(&rl->mu, NULL);
	return ERR_OK;
}

void rl_release(struct ratelimit *rl)
{
	if (!rl->slots)
		return;
	pthread_mutex_destroy(&rl->mu);
	free(rl->slots);
	rl->slots = NULL;
}

/* The slot of key, or (claim) a fresh one: an empty or stale slot among the probes, else the
 * one least recently used. Called with the mutex held. */
static struct rl_slot *rl_find(struct ratelimit *rl, const char *key, int64_t now, bool claim)
{
	uint64_t h = fnv1a(key);
	struct rl_slot *victim = NULL;
	for (int i = 0; i < RL_PROBE; i++) {
		struct rl_slot *s = &rl->slots[(h + (uint64_t)i) % RL_SLOTS];
		if (s->key[0] && strcmp(s->key, key) == 0)
			return s;
		if (!victim || s->newest < victim->newest)
			victim = s;
	}
	if (!claim)
		return NULL;
	memset(victim, 0, sizeof(*victim));
	snprintf(victim->key, sizeof(victim->key), "%s", key);
	victim->newest = now;
	return victim;
}

static int slot_count(const struct ratelimit *rl, const struct rl_slot *s, int64_t now)
{
	int n = 0;
	for (int i = 0; i < RL_EVENTS_MAX; i++)
		if (s->ev[i] && s->ev[i] > now - rl->window_ms)
			n++;
	return n;
}

static void slot_hit(struct rl_slot *s, int64_t now)
{
	s->ev[s->next] = now;
	s->next = (s->next + 1) % RL_EVENTS_MAX;
	s->newest = now;
}

int rl_count(struct ratelimit *rl, const char *key, int64_t now)
{
	pthread_mutex_lock(&rl->mu);
	struct rl_slot *s = rl_find(rl, key, now, false);
	int n = s ? slot_count(rl, s, now) : 0;
	pthread_mutex_unlock(&rl->mu);
	return n;
}

void rl_hit(struct ratelimit *rl, const char *key, int64_t now)
{
	pthread_mutex_lock(&rl->mu);
	slot_hit(rl_find(rl, key, now, true), now);
	pthread_mutex_unlock(&rl->mu);
}

bool rl_take(struct ratelimit *rl, const char *key, int64_t now)
{
	pthread_mutex_lock(&rl->mu);
	struct rl_slot *s = rl_find(rl, key, now, true);
	bool ok = slot_count(rl, s, now) < rl->limit;
	if (ok)
		slot_hit(s, now);
	pthread_mutex_unlock(&rl->mu);
	return ok;
}

/* ---- row integrity ---- */

static void canon_str(struct buf *b, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	buf_printf(b, "%zu:", n);
	buf_append(b, s ? s : "", n);
	buf_putc(b, ',');
}

static void canon_int(struct buf *b, int64_t v)
{
	char tmp[24];
	snprintf(tmp, sizeof(tmp), "%lld", (long long)v);
	canon_str(b, tmp);
}

void canon_role(struct buf *b, int64_t id, const char *code, const char *name)
{
	buf_reset(b);
	canon_str(b, "roles");
	canon_int(b, id);
	canon_str(b, code);
	canon_str(b, name);
}

void canon_role_perm(struct buf *b, int64_t role_id, const char *perm)
{
	buf_reset(b);
	canon_str(b, "role_perms");
	canon_int(b, role_id);
	canon_str(b, perm);
}

void canon_user_role(struct buf *b, int64_t user_id, int64_t role_id)
{
	buf_reset(b);
	canon_str(b, "user_roles");
	canon_int(b, user_id);
	canon_int(b, role_id);
}

void auth_row_mac(const struct keyring *kr, const char *table, const struct buf *canon,
                  char out[65])
{
	char purpose[64];
	unsigned char mac[32];
	snprintf(purpose, sizeof(purpose), "row:%s", table);
	keyring_mac(kr, purpose, canon->p ? canon->p : "", canon->len, mac);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

enum row_verdict auth_row_verify(struct auth_state *st, const struct keyring *kr, const char *table,
                                 const struct buf *canon, const char *mac_hex)
{
	unsigned char mac[32];
	/* Only the form we write (64 lower-case hex digits) can verify, so the cache, which
	 * works on the decoded bytes, and the comparison of hex text below always agree. */
	bool wellformed = mac_hex && strlen(mac_hex) == 64;
	for (int i = 0; wellformed && i < 64; i++)
		wellformed = (mac_hex[i] >= '0' && mac_hex[i] <= '9') ||
		             (mac_hex[i] >= 'a' && mac_hex[i] <= 'f');
	if (!wellformed || !hex_decode(mac_hex, 64, mac, sizeof(mac))) {
		/* Remembered as bad under an all-zero tag (which no real MAC is), so that it is
		 * reported once like any other tampered row. */
		wellformed = false;
		memset(mac, 0, sizeof(mac));
	}
	bool cacheable = st && canon->len > 0 && canon->len <= MACC_CANON_MAX;
	struct macc_entry *slot = NULL;
	if (cacheable) {
		/* Keyed on the bytes and the tag together: a tag copied onto another row must
		 * not evict the verdict of the row it came from. */
		uint64_t h = 1469598103934665603ull;
		for (size_t i = 0; i < canon->len; i++)
			h = (h ^ (unsigned char)canon->p[i]) * 1099511628211ull;
		for (int i = 0; i < 8; i++)
			h = (h ^ mac[i]) * 1099511628211ull;
		size_t idx = (size_t)(h % MACC_SLOTS);
		slot = &st->macs.e[idx];
		pthread_mutex_lock(&st->macs.mu);
		bool hit = slot->len == canon->len && memcmp(slot->mac, mac, 32) == 0 &&
		           memcmp(slot->canon, canon->p, canon->len) == 0;
		bool ok = slot->ok;
		pthread_mutex_unlock(&st->macs.mu);
		if (hit)
			return ok ? ROW_OK : ROW_BAD;
	}
	char want[65];
	auth_row_mac(kr, table, canon, want);
	bool ok = wellformed && mem_eq_ct(want, 64, mac_hex, 64);
	if (cacheable) {
		pthread_mutex_lock(&st->macs.mu);
		memcpy(slot->mac, mac, 32);
		memcpy(slot->canon, canon->p, canon->len);
		slot->len = (unsigned short)canon->len;
		slot->ok = ok;
		pthread_mutex_unlock(&st->macs.mu);
	}
	return ok ? ROW_OK : ROW_BAD_FIRST;
}

void auth_report_issues(struct server *srv, const struct req *r,
                        const struct integrity_issue *issues)
{
	for (const struct integrity_issue *i = issues; i; i = i->next) {
		char detail[256];
		snprintf(detail, sizeof(detail),
		         "{\"table\":\"%s\",\"reason\":\"mac_mismatch\",\"effect\":\"ignored\"}",
		         i->table);
		audit_record(srv, r, "security.integrity", i->target, detail);
	}
}

/* ---- state ---- */

enum err auth_state_create(struct server *srv, struct auth_state **out)
{
	enum err e = ERR_NOMEM;
	struct auth_state *st = calloc(1, sizeof(*st));
	struct buf h;
	buf_init(&h, 512);
	if (!st)
		goto out;
	st->macs.e = calloc(MACC_SLOTS, sizeof(*st->macs.e));
	if (!st->macs.e)
		goto out;
	pthread_mutex_init(&st->macs.mu, NULL);
	if ((e = rl_init(&st->addr_fails, AUTH_RL_ADDR_FAILS, AUTH_RL_WINDOW_MS)) ||
	    (e = rl_init(&st->account_tries, AUTH_RL_ACCOUNT, AUTH_RL_WINDOW_MS)))
		goto out;
	if (srv->cfg.session_cache_s > 0 &&
	    (e = pcache_create(AUTH_CACHE_MAX, srv->cfg.session_cache_s * 1000, AUTH_TOUCH_MS,
	                       &st->cache)))
		goto out;
	/* A hash of a password nobody knows, with the configured cost: unknown usernames are
	 * verified against it so that they take as long as a wrong password. */
	unsigned char rnd[16];
	char pw[33];
	if ((e = crypto_random(rnd, sizeof(rnd))))
		goto out;
	for (int i = 0; i < 16; i++)
		snprintf(pw + 2 * i, 3, "%02x", rnd[i]);
	if ((e = crypto_password_hash(pw, (uint32_t)srv->cfg.pbkdf2_iter, &h)))
		goto out;
	st->dummy_hash = buf_detach(&h, NULL);
	if (!st->dummy_hash) {
		e = ERR_NOMEM;
		goto out;
	}
	*out = st;
	st = NULL;
	e = ERR_OK;
out:
	buf_release(&h);
	auth_state_destroy(st);
	return e;
}

void auth_state_destroy(struct auth_state *st)
{
	if (!st)
		return;
	free(st->dummy_hash);
	pcache_destroy(st->cache);
	rl_release(&st->addr_fails);
	rl_release(&st->account_tries);
	if (st->macs.e) {
		pthread_mutex_destroy(&st->macs.mu);
		free(st->macs.e);
	}
	free(st);
}

/* ---- password policy ---- */

enum err auth_password_check(const char *username, const char *password, char *msg, size_t msgsz)
{
	size_t bytes = password ? strlen(password) : 0;
	size_t chars = utf8_valid(password ? password : "", bytes) ? utf8_len(password, bytes) : 0;
	const char *why = NULL;
	if (chars < AUTH_PASSWORD_MIN) {
		why = "密码长度至少为 8 个字符";
	} else if (chars > AUTH_PASSWORD_MAX) {
		why = "密码长度不能超过 128 个字符";
	} else {
		bool up = false, lo = false, dg = false, sy = false;
		for (size_t i = 0; i < bytes; i++) {
			unsigned char c = (unsigned char)password[i];
			if (c >= 'A' && c <= 'Z')
				up = true;
			else if (c >= 'a' && c <= 'z')
				lo = true;
			else if (c >= '0' && c <= '9')
				dg = true;
			else if (c > ' ')
				sy = true;
		}
		if ((int)up + (int)lo + (int)dg + (int)sy < 3)
			why = "密码须包含大写字母、小写字母、数字、符号中的至少三类";
		else if (username && *username && strcasestr(password, username))
			why = "密码不能包含用户名";
	}
	if (!why)
		return ERR_OK;
	if (msg && msgsz)
		snprintf(msg, msgsz, "%s", why);
	return ERR_PASSWORD_POLICY;
}

/* ---- scope ---- */

bool auth_scope_covers(const struct principal *who, const char *org_path)
{
	if (!who || !who->scope_path || !org_path || !*who->scope_path)
		return false;
	return strncmp(org_path, who->scope_path, strlen(who->scope_path)) == 0;
}

const char *auth_scope_like(const struct principal *who, struct arena *a)
{
	if (!who || !who->scope_path || !*who->scope_path)
		return NULL;
	return arena_printf(a, "%s%%", who->scope_path);
}

/* ---- principals ---- */

bool auth_identity_expired(const struct server *srv, const struct identity *id, int64_t now)
{
	if (id->must_change)
		return true;
	int64_t days = srv->cfg.password_max_age_days;
	return days > 0 && now - id->password_changed_at > days * 86400000;
}

struct principal *auth_principal_from(struct arena *a, const struct identity *id, bool expired)
{
	struct principal *p = arena_zalloc(a, sizeof(*p));
	if (!p)
		return NULL;
	p->user_id = id->user_id;
	p->username = id->username;
	p->name = id->name;
	p->session_id = arena_printf(a, "%lld", (long long)id->session_id);
	p->csrf_token = id->csrf_token;
	p->perms = id->perms;
	p->nperms = id->nperms;
	p->org_id = id->org_id;
	p->scope_level = id->org_level;
	p->scope_code = id->org_code;
	p->scope_path = id->org_path;
	p->password_expired = expired;
	return p->session_id ? p : NULL;
}

json_t *auth_user_json(const struct identity *id)
{
	json_t *roles = json_array(), *names = json_array(), *perms = json_array();
	for (int i = 0; i < id->nroles; i++) {
		json_array_append_new(roles, json_string(id->role_codes[i]));
		json_array_append_new(names, json_string(id->role_names[i]));
	}
	for (int i = 0; i < id->nperms; i++)
		json_array_append_new(perms, json_string(id->perms[i]));
	/* scope.path is the organisation path the WebSocket scope topics are named by
	 * (scope:<path>:<stream>): ids only, nothing a user could not see anyway. */
	return json_pack("{sI ss ss so so so s{ss ss ss ss}}", "id", (json_int_t)id->user_id,
	                 "username", id->username, "name", id->name, "roles", roles, "role_names",
	                 names, "permissions", perms, "scope", "level", id->org_level, "code",
	                 id->org_code, "name", id->org_name, "path",
	                 id->org_path ? id->org_path : "");
}

bool auth_route_allowed_when_expired(const struct route *route)
{
	return route && (route->handler == auth_h_me || route->handler == auth_h_logout ||
	                 route->handler == auth_h_password);
}

static bool token_well_formed(const char *t)
{
	size_t n = strlen(t);
	if (n != 2 * AUTH_TOKEN_BYTES)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'f')))
			return false;
	return true;
}

/* Write last_seen = now for the session, conditionally, so that concurrent requests of one
 * session (here or on another node) write once a minute at most. Takes a connection when *c
 * is NULL. true when the statement committed. */
static bool touch_session(struct server *srv, struct db_conn **c, struct arena *a,
                          int64_t session_id, int64_t now)
{
	if (!*c && db_acquire(srv->db, AUTH_DB_WAIT_MS, c))
		return false;
	if (db_begin_write(*c))
		return false;
	if (db_exec(*c, a, NULL, "UPDATE sessions SET last_seen = ? WHERE id = ? AND last_seen < ?",
	            "iii", now, session_id, now - AUTH_TOUCH_MS) != ERR_OK) {
		db_rollback(*c);
		return false;
	}
	return db_commit(*c) == ERR_OK;
}

enum err auth_authenticate(void *ctx, struct req *r)
{
	struct server *srv = ctx;
	struct auth_state *st = srv->auth;
	struct db_conn *c = NULL;
	struct integrity_issue *issues = NULL;
	struct identity id;
	char th[65];
	bool cached = false, touch = false;
	uint64_t epoch = 0;
	enum err e = ERR_OK;

	const char *tok = req_cookie(r, AUTH_COOKIE);
	if (!tok || !*tok)
		return ERR_OK;
	if (!token_well_formed(tok))
		return ERR_UNAUTHENTICATED;
	auth_token_hash(tok, th);

	if (st->cache)
		cached = pcache_get(st->cache, th, time_now_ms(), r->arena, &id, &touch);
	if (!cached) {
		if (st->cache)
			epoch = pcache_epoch(st->cache);
		if ((e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c)))
			goto out;
		e = store_session_by_token(srv, c, r->arena, th, &id, &issues);
		if (e == ERR_NOT_FOUND)
			e = ERR_UNAUTHENTICATED;
		if (e)
			goto out;
	}
	/* The same checks on cached times as on loaded ones: a session expires at the same
	 * moment whether or not it is in the cache. */
	int64_t now = time_now_ms();
	/* A device session (auth_session_open) has its own expiry instead of session_abs_s. */
	bool past_end = id.expires_at > 0 ? now > id.expires_at
	                                  : now - id.created_at > srv->cfg.session_abs_s * 1000;
	if (now - id.last_seen > srv->cfg.session_idle_s * 1000 || past_end) {
		if (cached)
			pcache_drop(st->cache, th);
		e = ERR_SESSION_EXPIRED;
		goto out;
	}
	if (id.disabled) {
		e = ERR_UNAUTHENTICATED;
		goto out;
	}
	if (cached ? touch : now - id.last_seen >= AUTH_TOUCH_MS) {
		if (touch_session(srv, &c, r->arena, id.session_id, now)) {
			id.last_seen = now;
			if (cached)
				pcache_set_last_seen(st->cache, th, now);
		}
	}
	if (!cached && st->cache)
		pcache_put(st->cache, th, &id, epoch, now);
	bool expired = auth_identity_expired(srv, &id, now);
	if (expired && !auth_route_allowed_when_expired(r->route)) {
		e = ERR_PASSWORD_EXPIRED;
		goto out;
	}
	/* The identity stays with the request: GET /api/v1/auth/me answers from it. */
	struct identity *keep = arena_memdup(r->arena, &id, sizeof(id));
	r->who = keep ? auth_principal_from(r->arena, keep, expired) : NULL;
	if (r->who)
		r->who->ext = keep;
	else
		e = ERR_NOMEM;
out:
	if (c)
		db_release(c);
	auth_report_issues(srv, r, issues);
	return e;
}

/* ---- invalidation ---- */

/* A bus subscriber: evict the user named by an "auth:invalidate" event, from this node or
 * (once the bus crosses nodes) another. */
static void on_invalidate(void *ctx, const char *topic, const char *json)
{
	struct auth_state *st = ctx;
	if (strcmp(topic, AUTH_INVALIDATE_TOPIC) != 0 || !st->cache)
		return;
	json_t *v = json_loads(json, 0, NULL);
	json_t *uid = json_object_get(v, "user_id");
	if (json_is_integer(uid))
		pcache_evict_user(st->cache, (int64_t)json_integer_value(uid));
	else
		log_warn("auth.invalidate", "malformed invalidation ignored");
	json_decref(v);
}

void auth_invalidate_user(struct server *srv, int64_t user_id)
{
	/* Locally first and directly: the effect must not depend on the bus. */
	if (srv->auth && srv->auth->cache)
		pcache_evict_user(srv->auth->cache, user_id);
	if (!srv->bus)
		return;
	char msg[48];
	snprintf(msg, sizeof(msg), "{\"user_id\":%lld}", (long long)user_id);
	enum err e = event_bus_publish(srv->bus, AUTH_INVALIDATE_TOPIC, msg);
	if (e)
		log_warn("auth.invalidate", "cannot publish the invalidation of user %lld: %s",
		         (long long)user_id, err_code(e));
}

/* ---- module ---- */

enum err auth_module_init(struct server *srv)
{
	enum err e = auth_state_create(srv, &srv->auth);
	if (e) {
		log_error("auth.init", "cannot create the auth state: %s", err_code(e));
		return e;
	}
	if ((e = store_ensure_builtins(srv))) {
		log_error("auth.init", "cannot install the built-in roles: %s", err_code(e));
		auth_state_destroy(srv->auth);
		srv->auth = NULL;
		return e;
	}
	if (srv->bus && srv->auth->cache) {
		if ((e = event_bus_subscribe(srv->bus, AUTH_INVALIDATE_TOPIC, on_invalidate,
		                             srv->auth))) {
			log_error("auth.init", "cannot subscribe to %s: %s", AUTH_INVALIDATE_TOPIC,
			          err_code(e));
			auth_state_destroy(srv->auth);
			srv->auth = NULL;
			return e;
		}
		srv->auth->sub_bus = srv->bus;
	}
	return e;
}

void auth_module_release(struct server *srv)
{
	if (srv->auth && srv->auth->sub_bus)
		event_bus_unsubscribe(srv->auth->sub_bus, on_invalidate, srv->auth);
	auth_state_destroy(srv->auth);
	srv->auth = NULL;
}
