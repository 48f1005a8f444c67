/* auth_http.c: the routes of the auth module — login, session, password, and the user,
 * role and organisation administration API. */
#include "auth/auth_int.h"

#include <ctype.h>

#include "audit/audit.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "events/events.h"
#include "sensitive/sensitive.h"

/* Turn an errinfo from the shared logic into the request's error. */
static enum err fail_ei(struct req *r, enum err e, const struct errinfo *ei)
{
	if (ei->msg)
		return req_fail(r, e, ei->field, "%s", ei->msg);
	if (ei->field)
		return req_fail(r, e, ei->field, NULL);
	return e;
}

static struct actor actor_of(const struct req *r)
{
	return (struct actor){.who = r->who, .r = r};
}

/* Append an audit entry in its own transaction; failures are logged by audit_record and do
 * not change the answer the caller gets. */
static void audit_login(struct req *r, const char *action, int64_t user_id, const char *username,
                        const char *reason)
{
	struct db_conn *c = NULL;
	char target[64], detail[128];
	snprintf(target, sizeof(target), "user:%lld", (long long)user_id);
	snprintf(detail, sizeof(detail), "{\"reason\":\"%s\"}", reason);
	struct audit_entry e = {
	    .actor_id = user_id,
	    .actor_name = username,
	    .action = action,
	    .target = user_id ? target : NULL,
	    .detail = reason ? detail : NULL,
	    .client_ip = r->client_ip,
	    .trace_id = r->trace.trace_id,
	};
	if (db_acquire(r->srv->db, AUTH_DB_WAIT_MS, &c))
		return;
	for (int attempt = 0; attempt < 2; attempt++) {
		enum err err = db_begin_write(c);
		if (!err)
			err = audit_append(c, r->arena, &e);
		if (!err)
			err = db_commit(c);
		if (!err || err != ERR_CONFLICT)
			break;
		db_rollback(c);
	}
	db_release(c);
}

static enum err locked_fail(struct req *r, int64_t remaining_ms)
{
	int64_t minutes = (remaining_ms + 59999) / 60000;
	if (minutes < 1)
		minutes = 1;
	return req_fail(r, ERR_LOCKED, NULL, "账号已被锁定，请在 %lld 分钟后重试",
	                (long long)minutes);
}

static void hex_of(const unsigned char *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Identity plus grants of user_id, on c. */
static enum err load_full(struct req *r, struct db_conn *c, int64_t user_id, struct identity *id,
                          struct integrity_issue **issues)
{
	enum err e = store_identity_by_user(c, r->arena, user_id, id);
	if (!e)
		e = store_load_grants(r->srv, c, r->arena, id, issues);
	return e;
}

/* ---- POST /api/v1/auth/login ---- */

static const struct json_field login_body[] = {
    {"username", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 64, "用户名"},
    {"password", JF_STRING, JF_REQUIRED, 1, 256, "密码"},
    {NULL, 0, 0, 0, 0, NULL},
};

struct login_user {
	int64_t id;
	const char *hash;
	bool disabled;
	int64_t locked_until;
};

static enum err login_find(struct req *r, const char *username, struct login_user *u, bool *found)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_acquire(r->srv->db, AUTH_DB_WAIT_MS, &c);
	if (e)
		return e;
	e = db_exec(c, r->arena, &rs,
	            "SELECT id, password_hash, status, locked_until FROM users WHERE username = ?",
	            "s", username);
	db_release(c);
	if (e)
		return e;
	*found = rs->nrows == 1;
	if (*found) {
		u->id = db_int(rs, 0, 0);
		u->hash = db_text(rs, 0, 1);
		u->disabled = strcmp(db_text(rs, 0, 2) ? db_text(rs, 0, 2) : "", "active") != 0;
		u->locked_until = db_int(rs, 0, 3);
	}
	return ERR_OK;
}

/* A wrong password: count it, lock at login_max_fail, audit. */
static enum err login_wrong_password(struct req *r, const struct login_user *u,
                                     const char *username, int64_t now)
{
	struct server *srv = r->srv;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	bool locked = false;
	enum err e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c);
	if (e)
		return e;
	if ((e = db_begin_write(c)))
		goto out;
	if ((e = db_exec(c, r->arena, &rs,
	                 "UPDATE users SET failed_count = failed_count + 1 WHERE id = ?"
	                 " RETURNING failed_count",
	                 "i", u->id)))
		goto out;
	if (rs->nrows == 1 && db_int(rs, 0, 0) >= srv->cfg.login_max_fail) {
		locked = true;
		/* The count restarts, so after the lock the user has the full number of
		 * attempts again. */
		if ((e = db_exec(c, r->arena, NULL,
		                 "UPDATE users SET failed_count = 0, locked_until = ? WHERE id = ?",
		                 "ii", now + srv->cfg.lockout_s * 1000, u->id)))
			goto out;
	}
	char target[32], detail[96];
	snprintf(target, sizeof(target), "user:%lld", (long long)u->id);
	snprintf(detail, sizeof(detail), "{\"reason\":\"bad_password\",\"locked_for_s\":%lld}",
	         locked ? (long long)srv->cfg.lockout_s : 0LL);
	struct audit_entry ae = {
	    .actor_id = u->id,
	    .actor_name = username,
	    .action = locked ? "auth.login.lockout" : "auth.login.fail",
	    .target = target,
	    .detail = detail,
	    .client_ip = r->client_ip,
	    .trace_id = r->trace.trace_id,
	};
	if ((e = audit_append(c, r->arena, &ae)) || (e = db_commit(c)))
		goto out;
out:
	db_release(c);
	if (e)
		return e;
	if (locked) {
		log_warn("auth.lockout", "account %s locked for %lld s after %lld failures",
		         username, (long long)srv->cfg.lockout_s,
		         (long long)srv->cfg.login_max_fail);
		return locked_fail(r, srv->cfg.lockout_s * 1000);
	}
	return ERR_BAD_CREDENTIALS;
}

static const char *cookie_attrs(void)
{
	return "; HttpOnly; SameSite=Strict; Path=/";
}

static void publish_session_event(struct server *srv, struct req *r, int64_t user_id,
                                  const char *event, int64_t session_id);

static enum err h_login(struct req *r, struct resp *w)
{
	struct server *srv = r->srv;
	struct auth_state *st = srv->auth;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct integrity_issue *issues = NULL;
	struct login_user u = {0};
	bool found = false;
	enum err e;

	const char *pw = json_get_str(r->json, "password");
	struct str in = str_trim(str_from(json_get_str(r->json, "username")));
	char *username = arena_strndup(r->arena, in.p, in.n);
	if (!username)
		return ERR_NOMEM;
	for (char *p = username; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	const char *ip = r->client_ip ? r->client_ip : "-";
	int64_t now = time_now_ms();

	if (rl_count(&st->addr_fails, ip, now) >= AUTH_RL_ADDR_FAILS ||
	    !rl_take(&st->account_tries, username, now)) {
		audit_login(r, "auth.login.rate_limited", 0, username, "rate_limited");
		return req_fail(r, ERR_RATE_LIMITED, NULL, "登录尝试过于频繁，请 1 分钟后再试");
	}
	if ((e = login_find(r, username, &u, &found)))
		return e;
	if (!found) {
		/* Same work and the same answer as a wrong password. */
		crypto_password_verify(pw, st->dummy_hash);
		rl_hit(&st->addr_fails, ip, now);
		audit_login(r, "auth.login.fail", 0, username, "unknown_user");
		return ERR_BAD_CREDENTIALS;
	}
	if (u.locked_until > now) {
		audit_login(r, "auth.login.locked", u.id, username, "locked");
		return locked_fail(r, u.locked_until - now);
	}
	if (!crypto_password_verify(pw, u.hash)) {
		rl_hit(&st->addr_fails, ip, now);
		return login_wrong_password(r, &u, username, now);
	}
	if (u.disabled) {
		audit_login(r, "auth.login.disabled", u.id, username, "disabled");
		return req_fail(r, ERR_FORBIDDEN, NULL, "账号已停用");
	}

	/* A hash made with fewer iterations than configured now is upgraded on success. */
	const char *rehash = NULL;
	if (crypto_password_needs_rehash(u.hash, (uint32_t)srv->cfg.pbkdf2_iter)) {
		struct buf h;
		buf_init(&h, 512);
		if (crypto_password_hash(pw, (uint32_t)srv->cfg.pbkdf2_iter, &h) == ERR_OK)
			rehash = arena_strdup(r->arena, h.p);
		buf_release(&h);
	}

	unsigned char tok[AUTH_TOKEN_BYTES], csrf[AUTH_CSRF_BYTES];
	char tok_hex[2 * AUTH_TOKEN_BYTES + 1], csrf_hex[2 * AUTH_CSRF_BYTES + 1], th[65];
	if ((e = crypto_random(tok, sizeof(tok))) || (e = crypto_random(csrf, sizeof(csrf))))
		return e;
	hex_of(tok, sizeof(tok), tok_hex);
	hex_of(csrf, sizeof(csrf), csrf_hex);
	crypto_wipe(tok, sizeof(tok));
	auth_token_hash(tok_hex, th);

	if ((e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c)))
		goto out;
	if ((e = db_begin_write(c)))
		goto out;
	if (rehash)
		e = db_exec(c, r->arena, NULL,
		            "UPDATE users SET failed_count = 0, locked_until = 0, password_hash = ?"
		            " WHERE id = ?",
		            "si", rehash, u.id);
	else
		e = db_exec(c, r->arena, NULL,
		            "UPDATE users SET failed_count = 0, locked_until = 0 WHERE id = ?", "i",
		            u.id);
	if (e)
		goto out;
	/* Expired sessions of everyone go here, on a path that writes anyway. */
	if ((e = db_exec(
	         c, r->arena, NULL, "DELETE FROM sessions WHERE last_seen < ? OR created_at < ?",
	         "ii", now - srv->cfg.session_idle_s * 1000, now - srv->cfg.session_abs_s * 1000)))
		goto out;
	if ((e = db_exec(c, r->arena, &rs,
	                 "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at,"
	                 " last_seen, client_ip) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
	                 "sisiis", th, u.id, csrf_hex, now, now, r->client_ip)))
		goto out;
	int64_t session_id = db_int(rs, 0, 0);
	char target[32];
	snprintf(target, sizeof(target), "user:%lld", (long long)u.id);
	struct audit_entry ae = {
	    .actor_id = u.id,
	    .actor_name = username,
	    .action = "auth.login.ok",
	    .target = target,
	    .detail = arena_printf(r->arena, "{\"session\":%lld}", (long long)session_id),
	    .client_ip = r->client_ip,
	    .trace_id = r->trace.trace_id,
	};
	if ((e = audit_append(c, r->arena, &ae)) || (e = db_commit(c)))
		goto out;

	struct identity id;
	if ((e = load_full(r, c, u.id, &id, &issues)))
		goto out;
	bool expired = auth_identity_expired(srv, &id, now);
	json_t *body = json_pack("{so ss sb}", "user", auth_user_json(&id), "csrf_token", csrf_hex,
	                         "password_expired", expired);
	if (!body) {
		e = ERR_NOMEM;
		goto out;
	}
	resp_header(w, "Set-Cookie",
	            arena_printf(r->arena, AUTH_COOKIE "=%s%s", tok_hex, cookie_attrs()));
	resp_json(w, 200, body);
	log_info("auth.login", "user %s signed in (session %lld)", username, (long long)session_id);
	publish_session_event(srv, r, u.id, "login", session_id);
out:
	crypto_wipe(tok_hex, sizeof(tok_hex));
	if (c)
		db_release(c);
	auth_report_issues(srv, r, issues);
	return e;
}

/* Tell the user's other open pages (topic user:<id>:session) that the account signed in
 * elsewhere or signed out, so a clerk notices a session they did not start. */
static void publish_session_event(struct server *srv, struct req *r, int64_t user_id,
                                  const char *event, int64_t session_id)
{
	char topic[48], at[32];
	snprintf(topic, sizeof(topic), "user:%lld:session", (long long)user_id);
	json_t *ev =
	    json_pack("{ss sI ss ss}", "event", event, "session", (json_int_t)session_id, "ip",
	              r->client_ip ? r->client_ip : "", "at", time_iso(time_now_ms(), at));
	char *text = ev ? json_dump_arena(ev, r->arena) : NULL;
	json_decref(ev);
	if (text && srv->bus)
		event_bus_publish(srv->bus, topic, text);
}

/* ---- GET /api/v1/auth/me ---- */

enum err auth_h_me(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct integrity_issue *issues = NULL;
	struct identity loaded;
	/* What auth_authenticate loaded (or found cached) for this very request. */
	const struct identity *id = r->who->ext;
	if (!id || id->user_id != r->who->user_id) {
		enum err e = db_acquire(r->srv->db, AUTH_DB_WAIT_MS, &c);
		if (e)
			return e;
		e = load_full(r, c, r->who->user_id, &loaded, &issues);
		db_release(c);
		auth_report_issues(r->srv, r, issues);
		if (e == ERR_NOT_FOUND)
			e = ERR_UNAUTHENTICATED;
		if (e)
			return e;
		id = &loaded;
	}
	resp_json(w, 200,
	          json_pack("{so ss sb}", "user", auth_user_json(id), "csrf_token",
	                    r->who->csrf_token, "password_expired", r->who->password_expired));
	return ERR_OK;
}

/* ---- POST /api/v1/auth/logout ---- */

static const struct json_field empty_body[] = {
    {NULL, 0, 0, 0, 0, NULL},
};

enum err auth_h_logout(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	int64_t sid = 0;
	cstr_to_i64(r->who->session_id, 1, INT64_MAX, &sid);
	enum err e = db_acquire(r->srv->db, AUTH_DB_WAIT_MS, &c);
	if (e)
		return e;
	if ((e = db_begin_write(c)))
		goto out;
	if ((e = db_exec(c, r->arena, NULL, "DELETE FROM sessions WHERE id = ?", "i", sid)))
		goto out;
	struct audit_entry ae = {
	    .actor_id = r->who->user_id,
	    .actor_name = r->who->username,
	    .action = "auth.logout",
	    .target = arena_printf(r->arena, "user:%lld", (long long)r->who->user_id),
	    .client_ip = r->client_ip,
	    .trace_id = r->trace.trace_id,
	};
	if ((e = audit_append(c, r->arena, &ae)) || (e = db_commit(c)))
		goto out;
	auth_invalidate_user(r->srv, r->who->user_id);
	resp_header(w, "Set-Cookie", AUTH_COOKIE "=; Max-Age=0; HttpOnly; SameSite=Strict; Path=/");
	resp_json(w, 200, json_pack("{sb}", "ok", 1));
out:
	db_release(c);
	return e;
}

/* ---- POST /api/v1/auth/password ---- */

static const struct json_field password_body[] = {
    {"old_password", JF_STRING, JF_REQUIRED, 1, 256, "原密码"},
    {"new_password", JF_STRING, JF_REQUIRED, 1, 256, "新密码"},
    {NULL, 0, 0, 0, 0, NULL},
};

enum err auth_h_password(struct req *r, struct resp *w)
{
	struct server *srv = r->srv;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct errinfo ei = {0};
	const char *old_pw = json_get_str(r->json, "old_password");
	const char *new_pw = json_get_str(r->json, "new_password");
	int64_t now = time_now_ms(), sid = 0;
	cstr_to_i64(r->who->session_id, 1, INT64_MAX, &sid);

	if (!rl_take(&srv->auth->account_tries, r->who->username, now))
		return req_fail(r, ERR_RATE_LIMITED, NULL, "尝试过于频繁，请 1 分钟后再试");
	enum err e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c);
	if (e)
		return e;
	e = db_exec(c, r->arena, &rs, "SELECT password_hash FROM users WHERE id = ?", "i",
	            r->who->user_id);
	db_release(c);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_UNAUTHENTICATED;
	if (!crypto_password_verify(old_pw, db_text(rs, 0, 0))) {
		audit_login(r, "auth.password.fail", r->who->user_id, r->who->username,
		            "bad_old_password");
		return req_fail(r, ERR_BAD_CREDENTIALS, "old_password", "原密码不正确");
	}
	struct actor act = actor_of(r);
	e = auth_password_set(srv, r->arena, &act, r->who->user_id, r->who->username, new_pw, false,
	                      sid, "auth.password.change", &ei);
	if (e)
		return fail_ei(r, e, &ei);
	resp_json(w, 200,
	          json_pack("{sb sb ss}", "ok", 1, "password_expired", 0, "csrf_token",
	                    r->who->csrf_token));
	return ERR_OK;
}

/* ---- GET /api/v1/admin/users ---- */

/* Which users load_users returns: one id, or a page optionally narrowed by blind index. */
struct user_filter {
	int64_t only_id; /* > 0: just this user */
	const char *phone_bidx, *id_number_bidx;
	int64_t limit, offset;
};

/* The masked display form of a sealed contact column (NULL when not set, or when the blob
 * does not open: that is logged, and the list still answers). */
static const char *contact_masked(struct req *r, const struct db_rows *us, int row, int col,
                                  const char *column, const char *kind)
{
	const struct db_val *v = db_cell(us, row, col);
	const char *plain = NULL;
	if (v->type == DB_NULL)
		return NULL;
	enum err e = sensitive_open(r->srv->keys, column, v->p, v->n, r->arena, &plain);
	if (e) {
		log_error("security.integrity", "%s of user %lld does not decrypt (%s)", column,
		          (long long)db_int(us, row, 0), err_code(e));
		return NULL;
	}
	return sensitive_mask(kind, plain, r->arena);
}

/* Users in the caller's scope that match f, as JSON objects. */
static enum err load_users(struct req *r, struct db_conn *c, const struct user_filter *f,
                           json_t **out, struct integrity_issue **issues)
{
	struct server *srv = r->srv;
	struct db_rows *us = NULL, *rs = NULL;
	struct db_val p[5];
	int np = 0;
	struct buf canon, sql;
	buf_init(&canon, 1024);
	buf_init(&sql, 1024);
	const char *scope = auth_scope_like(r->who, r->arena);
	int64_t now = time_now_ms();
	enum err e;
	memset(p, 0, sizeof(p));
	if ((e = buf_puts(&sql, "SELECT u.id, u.username, u.name, u.status, u.locked_until, o.name,"
	                        " o.code, u.phone_enc, u.id_number_enc FROM users u"
	                        " JOIN orgs o ON o.id = u.org_id WHERE o.path LIKE ?")))
		goto out;
	p[np].type = scope ? DB_TEXT : DB_NULL;
	p[np].p = scope;
	p[np++].n = scope ? strlen(scope) : 0;
	if (f->only_id > 0) {
		e = buf_puts(&sql, " AND u.id = ?");
		p[np].type = DB_INT;
		p[np++].i = f->only_id;
	}
	/* Lookups compare blind indexes: the plaintext is never in the database. */
	if (!e && f->phone_bidx) {
		e = buf_puts(&sql, " AND u.phone_bidx = ?");
		p[np].type = DB_TEXT;
		p[np].p = f->phone_bidx;
		p[np++].n = strlen(f->phone_bidx);
	}
	if (!e && f->id_number_bidx) {
		e = buf_puts(&sql, " AND u.id_number_bidx = ?");
		p[np].type = DB_TEXT;
		p[np].p = f->id_number_bidx;
		p[np++].n = strlen(f->id_number_bidx);
	}
	if (!e)
		e = buf_printf(&sql, " ORDER BY u.id LIMIT %lld OFFSET %lld", (long long)f->limit,
		               (long long)f->offset);
	if (e || (e = db_execv(c, r->arena, &us, sql.p, p, np)))
		goto out;
	json_t *arr = json_arena_own(r->arena, json_array());
	*out = arr;
	if (us->nrows == 0)
		goto out;
	int64_t lo = db_int(us, 0, 0), hi = db_int(us, us->nrows - 1, 0);
	if ((e = db_exec(c, r->arena, &rs,
	                 "SELECT ur.user_id, ur.role_id, ur.mac, r.code, r.name, r.mac"
	                 " FROM user_roles ur JOIN roles r ON r.id = ur.role_id"
	                 " WHERE ur.user_id BETWEEN ? AND ? ORDER BY ur.user_id, r.code",
	                 "ii", lo, hi)))
		goto out;
	int k = 0;
	for (int i = 0; i < us->nrows; i++) {
		int64_t uid = db_int(us, i, 0);
		json_t *codes = json_array(), *names = json_array();
		while (k < rs->nrows && db_int(rs, k, 0) < uid)
			k++;
		for (; k < rs->nrows && db_int(rs, k, 0) == uid; k++) {
			int64_t role_id = db_int(rs, k, 1);
			const char *code = db_text(rs, k, 3), *name = db_text(rs, k, 4);
			canon_user_role(&canon, uid, role_id);
			enum row_verdict v1 = auth_row_verify(srv->auth, srv->keys, "user_roles",
			                                      &canon, db_text(rs, k, 2));
			canon_role(&canon, role_id, code, name);
			enum row_verdict v2 = auth_row_verify(srv->auth, srv->keys, "roles", &canon,
			                                      db_text(rs, k, 5));
			if (v1 == ROW_BAD_FIRST || v2 == ROW_BAD_FIRST) {
				struct integrity_issue *is = arena_zalloc(r->arena, sizeof(*is));
				if (is) {
					is->table = v1 == ROW_BAD_FIRST ? "user_roles" : "roles";
					is->target =
					    arena_printf(r->arena, "user_roles:%lld/%lld",
					                 (long long)uid, (long long)role_id);
					is->next = *issues;
					*issues = is;
				}
				log_error("security.integrity",
				          "role grant %lld/%lld does not match its MAC: ignored",
				          (long long)uid, (long long)role_id);
			}
			if (v1 != ROW_OK || v2 != ROW_OK)
				continue;
			json_array_append_new(codes, json_string(code));
			json_array_append_new(names, json_string(name));
		}
		const char *status = db_text(us, i, 3);
		/* Contact data leaves the server masked only; nobody reads it back whole. */
		const char *phone = contact_masked(r, us, i, 7, "users.phone", "phone");
		const char *idn = contact_masked(r, us, i, 8, "users.id_number", "id_number");
		json_array_append_new(
		    arr,
		    json_pack("{sI ss ss so so ss ss sb sb ss? ss?}", "id", (json_int_t)uid,
		              "username", db_text(us, i, 1), "name", db_text(us, i, 2), "roles",
		              codes, "role_names", names, "org_name", db_text(us, i, 5), "org_code",
		              db_text(us, i, 6), "locked", db_int(us, i, 4) > now, "disabled",
		              !status || strcmp(status, "active") != 0, "phone_masked", phone,
		              "id_number_masked", idn));
	}
out:
	buf_release(&sql);
	buf_release(&canon);
	return e;
}

/* ?<field>=<value> of the list: *bidx is the blind index to look for (left NULL when the
 * parameter is absent). A malformed value is a bad request rather than an empty result. */
static enum err lookup_of(struct req *r, const char *field, const char **bidx)
{
	struct errinfo ei = {0};
	const char *norm = NULL;
	const char *q = req_query(r, field);
	if (!q)
		return ERR_OK;
	enum err e = auth_contact_check(r->arena, field, q, &norm, &ei);
	if (e)
		return fail_ei(r, e, &ei);
	if (!norm)
		return req_fail(r, ERR_BAD_FIELD, field, "查询条件不能为空");
	*bidx = sensitive_bidx(r->srv->keys,
	                       !strcmp(field, "phone") ? "users.phone" : "users.id_number", norm,
	                       r->arena);
	return *bidx ? ERR_OK : ERR_NOMEM;
}

static enum err h_users_list(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct integrity_issue *issues = NULL;
	json_t *users = NULL;
	struct user_filter f = {0};
	enum err e;
	if ((e = req_query_int(r, "limit", 1, 1000, 200, &f.limit)) ||
	    (e = req_query_int(r, "offset", 0, INT32_MAX, 0, &f.offset)) ||
	    (e = lookup_of(r, "phone", &f.phone_bidx)) ||
	    (e = lookup_of(r, "id_number", &f.id_number_bidx)))
		return e;
	if ((e = db_acquire(r->srv->db, AUTH_DB_WAIT_MS, &c)))
		return e;
	e = load_users(r, c, &f, &users, &issues);
	db_release(c);
	auth_report_issues(r->srv, r, issues);
	if (e)
		return e;
	resp_json(w, 200, json_pack("{sO}", "users", users));
	return ERR_OK;
}

/* ---- POST /api/v1/admin/users ---- */

static const struct json_field user_create_body[] = {
    {"username", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 64, "用户名"},
    {"name", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, AUTH_NAME_MAX, "姓名"},
    {"org_code", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 32, "所属机构"},
    {"roles", JF_ARRAY, JF_REQUIRED, 1, 16, "角色"},
    {"password", JF_STRING, JF_REQUIRED, 1, 256, "初始密码"},
    {"phone", JF_STRING, JF_NULLABLE, 0, 32, "手机号码"},
    {"id_number", JF_STRING, JF_NULLABLE, 0, 32, "身份证号码"},
    {NULL, 0, 0, 0, 0, NULL},
};

/* The "roles" array as C strings (from the arena); ERR_BAD_FIELD for non-strings. */
static enum err roles_of(struct req *r, const char ***out, int *n)
{
	json_t *arr = json_object_get(r->json, "roles");
	size_t cnt = json_array_size(arr);
	const char **v = arena_zalloc(r->arena, (cnt + 1) * sizeof(char *));
	if (!v)
		return ERR_NOMEM;
	for (size_t i = 0; i < cnt; i++) {
		v[i] = json_string_value(json_array_get(arr, i));
		if (!v[i])
			return req_fail(r, ERR_BAD_FIELD, "roles", "角色应为角色代码的列表");
	}
	*out = v;
	*n = (int)cnt;
	return ERR_OK;
}

static enum err respond_user(struct req *r, struct resp *w, int status, int64_t user_id)
{
	struct db_conn *c = NULL;
	struct integrity_issue *issues = NULL;
	json_t *users = NULL;
	struct user_filter f = {.only_id = user_id, .limit = 1};
	enum err e = db_acquire(r->srv->db, AUTH_DB_WAIT_MS, &c);
	if (e)
		return e;
	e = load_users(r, c, &f, &users, &issues);
	db_release(c);
	auth_report_issues(r->srv, r, issues);
	if (e)
		return e;
	if (json_array_size(users) != 1)
		return ERR_NOT_FOUND;
	resp_json(w, status, json_pack("{sO}", "user", json_array_get(users, 0)));
	return ERR_OK;
}

static enum err h_users_create(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	struct user_spec spec = {
	    .username = json_get_str(r->json, "username"),
	    .name = json_get_str(r->json, "name"),
	    .org_code = json_get_str(r->json, "org_code"),
	    .password = json_get_str(r->json, "password"),
	    .must_change = true,
	    .phone = json_get_str(r->json, "phone"),
	    .id_number = json_get_str(r->json, "id_number"),
	};
	enum err e = roles_of(r, &spec.roles, &spec.nroles);
	if (e)
		return e;
	struct actor act = actor_of(r);
	int64_t id = 0;
	if ((e = auth_user_create(r->srv, r->arena, &act, &spec, &id, &ei)))
		return fail_ei(r, e, &ei);
	return respond_user(r, w, 201, id);
}

/* ---- PATCH /api/v1/admin/users/{id} ---- */

static const struct json_field user_patch_body[] = {
    {"name", JF_STRING, JF_NONEMPTY, 1, AUTH_NAME_MAX, "姓名"},
    {"disabled", JF_BOOL, 0, 0, 0, "停用"},
    {"unlock", JF_BOOL, 0, 0, 0, "解除锁定"},
    {"roles", JF_ARRAY, 0, 1, 16, "角色"},
    /* null or "" clears the value */
    {"phone", JF_STRING, JF_NULLABLE, 0, 32, "手机号码"},
    {"id_number", JF_STRING, JF_NULLABLE, 0, 32, "身份证号码"},
    {NULL, 0, 0, 0, 0, NULL},
};

/* The audit detail of a change: the request body with the contact values replaced by
 * what happened to them ("changed" or "cleared"), so no personal data enters the log. */
static const char *patch_detail(struct req *r, const struct sealed_field *phone,
                                const struct sealed_field *id_number)
{
	json_t *d = json_arena_own(r->arena, json_deep_copy(r->json));
	if (!d)
		return NULL;
	if (phone)
		json_object_set_new(d, "phone", json_string(phone->blob ? "changed" : "cleared"));
	if (id_number)
		json_object_set_new(d, "id_number",
		                    json_string(id_number->blob ? "changed" : "cleared"));
	return json_dump_arena(d, r->arena);
}

static enum err h_users_patch(struct req *r, struct resp *w)
{
	struct server *srv = r->srv;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct errinfo ei = {0};
	struct buf canon;
	int64_t uid;
	const char **roles = NULL;
	int nroles = 0;
	enum err e;

	if (!cstr_to_i64(req_param(r, "id"), 1, INT64_MAX, &uid))
		return req_fail(r, ERR_NOT_FOUND, "id", "用户不存在");
	const char *name = json_get_str(r->json, "name");
	json_t *dis = json_object_get(r->json, "disabled");
	bool unlock = json_get_bool(r->json, "unlock", false);
	bool has_roles = json_object_get(r->json, "roles") != NULL;
	struct sealed_field phone = {0}, id_number = {0};
	bool has_phone = json_object_get(r->json, "phone") != NULL;
	bool has_idn = json_object_get(r->json, "id_number") != NULL;
	if (!name && !dis && !unlock && !has_roles && !has_phone && !has_idn)
		return req_fail(r, ERR_BAD_REQUEST, NULL, "没有要修改的内容");
	if ((has_phone && (e = auth_contact_seal(srv, r->arena, "phone",
	                                         json_get_str(r->json, "phone"), &phone, &ei))) ||
	    (has_idn &&
	     (e = auth_contact_seal(srv, r->arena, "id_number", json_get_str(r->json, "id_number"),
	                            &id_number, &ei))))
		return fail_ei(r, e, &ei);
	if (name && str_trim(str_from(name)).n == 0)
		return req_fail(r, ERR_BAD_FIELD, "name", "姓名不能为空");
	if (uid == r->who->user_id && json_is_true(dis))
		return req_fail(r, ERR_INVALID, "disabled", "不能停用自己的账号");
	if (uid == r->who->user_id && has_roles)
		return req_fail(r, ERR_INVALID, "roles", "不能修改自己的角色");
	if (has_roles && (e = roles_of(r, &roles, &nroles)))
		return e;
	int64_t *role_ids = arena_zalloc(r->arena, (size_t)(nroles + 1) * sizeof(int64_t));
	if (!role_ids)
		return ERR_NOMEM;

	buf_init(&canon, 1024);
	int64_t now = time_now_ms();
	if ((e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c)) || (e = db_begin_write(c)))
		goto out;
	/* The scope is part of the lookup: a user outside it does not exist for the caller. */
	if ((e = db_exec(c, r->arena, &rs,
	                 "SELECT u.id FROM users u JOIN orgs o ON o.id = u.org_id"
	                 " WHERE u.id = ? AND o.path LIKE ?",
	                 "is", uid, auth_scope_like(r->who, r->arena))))
		goto out;
	if (rs->nrows == 0) {
		e = req_fail(r, ERR_NOT_FOUND, "id", "用户不存在或不在您的管辖范围内");
		goto out;
	}
	if (name && (e = db_exec(c, r->arena, NULL, "UPDATE users SET name = ? WHERE id = ?", "si",
	                         name, uid)))
		goto out;
	if (dis) {
		if ((e = db_exec(c, r->arena, NULL, "UPDATE users SET status = ? WHERE id = ?",
		                 "si", json_is_true(dis) ? "disabled" : "active", uid)))
			goto out;
		if (json_is_true(dis) &&
		    (e = db_exec(c, r->arena, NULL, "DELETE FROM sessions WHERE user_id = ?", "i",
		                 uid)))
			goto out;
	}
	if (unlock &&
	    (e = db_exec(c, r->arena, NULL,
	                 "UPDATE users SET failed_count = 0, locked_until = 0 WHERE id = ?", "i",
	                 uid)))
		goto out;
	if (has_roles) {
		if ((e = auth_roles_resolve(srv, c, r->arena, roles, nroles, role_ids, &ei))) {
			e = fail_ei(r, e, &ei);
			goto out;
		}
		if ((e = db_exec(c, r->arena, NULL, "DELETE FROM user_roles WHERE user_id = ?", "i",
		                 uid)))
			goto out;
		for (int i = 0; i < nroles; i++) {
			char mac[65];
			canon_user_role(&canon, uid, role_ids[i]);
			auth_row_mac(srv->keys, "user_roles", &canon, mac);
			if ((e = db_exec(c, r->arena, NULL,
			                 "INSERT INTO user_roles (user_id, role_id, mac)"
			                 " VALUES (?, ?, ?)",
			                 "iis", uid, role_ids[i], mac)))
				goto out;
		}
	}
	if ((e = auth_contact_store(c, r->arena, uid, has_phone ? &phone : NULL,
	                            has_idn ? &id_number : NULL)))
		goto out;
	if ((e = db_exec(c, r->arena, NULL,
	                 "UPDATE users SET updated_at = ?, version = version + 1 WHERE id = ?",
	                 "ii", now, uid)))
		goto out;
	struct audit_entry ae = {
	    .action = "admin.user.update",
	    .target = arena_printf(r->arena, "user:%lld", (long long)uid),
	    .detail = patch_detail(r, has_phone ? &phone : NULL, has_idn ? &id_number : NULL),
	};
	if (!ae.detail) {
		e = ERR_NOMEM;
		goto out;
	}
	struct actor act = actor_of(r);
	auth_actor_entry(&act, &ae);
	if ((e = audit_append(c, r->arena, &ae)) || (e = db_commit(c)))
		goto out;
	db_release(c);
	c = NULL;
	/* Disabled, unlocked, new roles or a new name: no request may go on with the old. */
	auth_invalidate_user(srv, uid);
	e = respond_user(r, w, 200, uid);
out:
	if (c)
		db_release(c);
	buf_release(&canon);
	return e;
}

/* ---- GET /api/v1/admin/roles ---- */

static enum err h_roles(struct req *r, struct resp *w)
{
	struct server *srv = r->srv;
	struct db_conn *c = NULL;
	struct db_rows *roles = NULL, *rp = NULL, *perms = NULL;
	struct buf canon;
	if (!req_has_perm(r, "role.manage") && !req_has_perm(r, "user.manage"))
		return req_fail(r, ERR_FORBIDDEN, NULL,
		                "没有执行此操作的权限（需要权限 role.manage 或 user.manage）");
	enum err e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c);
	if (e)
		return e;
	if ((e = db_exec(c, r->arena, &roles,
	                 "SELECT id, code, name, builtin, mac FROM roles ORDER BY code", "")) ||
	    (e = db_exec(c, r->arena, &rp,
	                 "SELECT role_id, perm, mac FROM role_perms ORDER BY role_id, perm", "")) ||
	    (e = db_exec(c, r->arena, &perms,
	                 "SELECT code, description FROM permissions ORDER BY code", "")))
		goto out;
	buf_init(&canon, 1024);
	json_t *arr = json_array();
	for (int i = 0; i < roles->nrows; i++) {
		int64_t id = db_int(roles, i, 0);
		const char *code = db_text(roles, i, 1), *name = db_text(roles, i, 2);
		canon_role(&canon, id, code, name);
		bool intact = auth_row_verify(srv->auth, srv->keys, "roles", &canon,
		                              db_text(roles, i, 4)) == ROW_OK;
		json_t *pl = json_array();
		for (int k = 0; k < rp->nrows; k++) {
			if (db_int(rp, k, 0) != id)
				continue;
			canon_role_perm(&canon, id, db_text(rp, k, 1));
			if (auth_row_verify(srv->auth, srv->keys, "role_perms", &canon,
			                    db_text(rp, k, 2)) == ROW_OK)
				json_array_append_new(pl, json_string(db_text(rp, k, 1)));
			else
				intact = false;
		}
		json_array_append_new(arr, json_pack("{sI ss ss sb so sb}", "id", (json_int_t)id,
		                                     "code", code, "name", name, "builtin",
		                                     db_int(roles, i, 3) != 0, "permissions", pl,
		                                     "intact", intact));
	}
	buf_release(&canon);
	json_t *pa = json_array();
	for (int i = 0; i < perms->nrows; i++)
		json_array_append_new(pa, json_pack("{ss ss}", "code", db_text(perms, i, 0),
		                                    "description", db_text(perms, i, 1)));
	resp_json(w, 200, json_pack("{so so}", "roles", arr, "permissions", pa));
out:
	db_release(c);
	return e;
}

/* ---- GET /api/v1/admin/orgs ---- */

static enum err h_orgs(struct req *r, struct resp *w)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	enum err e = db_acquire(r->srv->db, AUTH_DB_WAIT_MS, &c);
	if (e)
		return e;
	e = db_exec(c, r->arena, &rs,
	            "SELECT id, code, name, level, parent_id FROM orgs WHERE path LIKE ?"
	            " ORDER BY code",
	            "s", auth_scope_like(r->who, r->arena));
	db_release(c);
	if (e)
		return e;
	/* Rows come ordered by code, so children are appended in code order. */
	json_t **node = arena_zalloc(r->arena, ((size_t)rs->nrows + 1) * sizeof(json_t *));
	if (!node)
		return ERR_NOMEM;
	json_t *root = NULL;
	for (int i = 0; i < rs->nrows; i++) {
		node[i] = json_pack("{sI ss ss ss s[]}", "id", (json_int_t)db_int(rs, i, 0), "code",
		                    db_text(rs, i, 1), "name", db_text(rs, i, 2), "level",
		                    db_text(rs, i, 3), "children");
		json_arena_own(r->arena, node[i]);
	}
	for (int i = 0; i < rs->nrows; i++) {
		int64_t id = db_int(rs, i, 0), parent = db_int(rs, i, 4);
		if (id == r->who->org_id) {
			root = node[i];
			continue;
		}
		for (int j = 0; j < rs->nrows; j++)
			if (db_int(rs, j, 0) == parent) {
				json_array_append(json_object_get(node[j], "children"), node[i]);
				break;
			}
	}
	json_t *arr = json_array();
	if (root)
		json_array_append(arr, root);
	resp_json(w, 200, json_pack("{so}", "orgs", arr));
	return ERR_OK;
}

/* ---- the module ---- */

static const struct route auth_routes[] = {
    {"POST", "/api/v1/auth/login", h_login, NULL, ROUTE_PUBLIC | ROUTE_NO_CSRF | ROUTE_SLOW,
     login_body},
    {"GET", "/api/v1/auth/me", auth_h_me, NULL, 0, NULL},
    {"POST", "/api/v1/auth/logout", auth_h_logout, NULL, 0, empty_body},
    {"POST", "/api/v1/auth/password", auth_h_password, NULL, ROUTE_SLOW, password_body},
    {"GET", "/api/v1/admin/users", h_users_list, "user.manage", 0, NULL},
    {"POST", "/api/v1/admin/users", h_users_create, "user.manage", ROUTE_SLOW, user_create_body},
    {"PATCH", "/api/v1/admin/users/{id}", h_users_patch, "user.manage", 0, user_patch_body},
    {"GET", "/api/v1/admin/roles", h_roles, NULL, 0, NULL},
    {"GET", "/api/v1/admin/orgs", h_orgs, NULL, 0, NULL},
};

const struct module auth_module = {
    .name = "auth",
    .init = auth_module_init,
    .release = auth_module_release,
    .routes = auth_routes,
    .nroutes = sizeof(auth_routes) / sizeof(auth_routes[0]),
};
