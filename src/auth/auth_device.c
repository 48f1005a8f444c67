/* auth_device.c: service users and device sessions — how a terminal (src/vwin) signs in with
 * its device credential and then looks to the HTTP and WebSocket layers like any session. */
#include "auth/auth_int.h"

#include "crypto/crypto.h"
#include "db/db.h"
#include "core/timeutil.h"

/* No PBKDF2 record parses as "!": crypto_password_verify refuses it, so the account has no
 * password login at all. */
#define NO_PASSWORD "!service"
/* password_changed_at of a service user: far in the future, so the password-age rule (which
 * is about people's passwords) never marks the device session expired. */
#define NEVER_EXPIRES 253402300799000LL /* 9999-12-31 */

static void to_hex(const unsigned char *p, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[p[i] >> 4];
		out[2 * i + 1] = hex[p[i] & 15];
	}
	out[2 * n] = 0;
}

enum err auth_service_user_create(struct server *srv, struct db_conn *c, struct arena *a,
                                  const char *username, const char *name, int64_t org_id,
                                  const char *role_code, int64_t *user_id)
{
	struct db_rows *rs = NULL;
	struct buf canon;
	char mac[65];
	int64_t now = time_now_ms();
	if (!auth_username_valid(username))
		return ERR_BAD_FIELD;
	enum err e = db_exec(c, a, &rs, "SELECT id FROM roles WHERE code = ?", "s", role_code);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	int64_t role_id = db_int(rs, 0, 0);
	if ((e = db_exec(c, a, &rs,
	                 "INSERT INTO users (username, name, org_id, status, failed_count,"
	                 " locked_until, password_hash, password_changed_at, must_change,"
	                 " created_at, updated_at, version) VALUES (?, ?, ?, 'active', 0, 0, ?,"
	                 " ?, 0, ?, ?, 1) RETURNING id",
	                 "ssisiii", username, name, org_id, NO_PASSWORD, NEVER_EXPIRES, now, now)))
		return e;
	*user_id = db_int(rs, 0, 0);
	buf_init(&canon, 512);
	canon_user_role(&canon, *user_id, role_id);
	auth_row_mac(srv->keys, "user_roles", &canon, mac);
	buf_release(&canon);
	return db_exec(c, a, NULL,
	               "INSERT INTO user_roles (user_id, role_id, mac) VALUES (?, ?, ?)", "iis",
	               *user_id, role_id, mac);
}

enum err auth_service_user_update(struct db_conn *c, struct arena *a, int64_t user_id,
                                  const char *name, int64_t org_id, bool active)
{
	return db_exec(c, a, NULL,
	               "UPDATE users SET name = ?, org_id = ?, status = ?, updated_at = ?,"
	               " version = version + 1 WHERE id = ? AND password_hash = ?",
	               "sisiis", name, org_id, active ? "active" : "disabled", time_now_ms(),
	               user_id, NO_PASSWORD);
}

enum err auth_session_open(struct db_conn *c, struct arena *a, int64_t user_id, int64_t lifetime_ms,
                           const char *client_ip, struct auth_new_session *out)
{
	unsigned char tok[AUTH_TOKEN_BYTES], csrf[AUTH_CSRF_BYTES];
	char *tok_hex = arena_alloc(a, 2 * AUTH_TOKEN_BYTES + 1);
	char *csrf_hex = arena_alloc(a, 2 * AUTH_CSRF_BYTES + 1);
	char th[65];
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms();
	if (!tok_hex || !csrf_hex)
		return ERR_NOMEM;
	enum err e = crypto_random(tok, sizeof(tok));
	if (!e)
		e = crypto_random(csrf, sizeof(csrf));
	if (e)
		return e;
	to_hex(tok, sizeof(tok), tok_hex);
	to_hex(csrf, sizeof(csrf), csrf_hex);
	crypto_wipe(tok, sizeof(tok));
	auth_token_hash(tok_hex, th);
	if ((e = db_exec(c, a, &rs,
	                 "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at,"
	                 " last_seen, client_ip, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
	                 " RETURNING id",
	                 "sisiisi", th, user_id, csrf_hex, now, now, client_ip, now + lifetime_ms)))
		return e;
	out->id = db_int(rs, 0, 0);
	out->token = tok_hex;
	out->csrf_token = csrf_hex;
	out->set_cookie =
	    arena_printf(a, AUTH_COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/", tok_hex);
	return out->set_cookie ? ERR_OK : ERR_NOMEM;
}

enum err auth_session_extend(struct db_conn *c, struct arena *a, int64_t session_id,
                             int64_t expires_at)
{
	return db_exec(c, a, NULL,
	               "UPDATE sessions SET expires_at = ? WHERE id = ? AND expires_at IS NOT NULL",
	               "ii", expires_at, session_id);
}

enum err auth_user_sessions_end(struct db_conn *c, struct arena *a, int64_t user_id, int64_t *ended)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs, "DELETE FROM sessions WHERE user_id = ?", "i", user_id);
	if (!e && ended)
		*ended = rs->changes;
	return e;
}

void auth_user_sessions_ended(struct server *srv, int64_t user_id)
{
	auth_invalidate_user(srv, user_id);
}
