/* auth_store.c: the SQL of the auth module (identities, grants, built-in roles). */
#include "auth/auth_int.h"

#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"

#define IDENTITY_COLS                                                                              \
	"u.id, u.username, u.name, u.status, u.must_change, u.password_changed_at, "               \
	"u.locked_until, o.id, o.level, o.code, o.name, o.path"

/* Columns IDENTITY_COLS starting at column base of row 0. */
static void read_identity(const struct db_rows *rs, int base, struct identity *id)
{
	id->user_id = db_int(rs, 0, base + 0);
	id->username = db_text(rs, 0, base + 1);
	id->name = db_text(rs, 0, base + 2);
	const char *status = db_text(rs, 0, base + 3);
	id->disabled = !status || strcmp(status, "active") != 0;
	id->must_change = db_int(rs, 0, base + 4) != 0;
	id->password_changed_at = db_int(rs, 0, base + 5);
	id->locked_until = db_int(rs, 0, base + 6);
	id->org_id = db_int(rs, 0, base + 7);
	id->org_level = db_text(rs, 0, base + 8);
	id->org_code = db_text(rs, 0, base + 9);
	id->org_name = db_text(rs, 0, base + 10);
	id->org_path = db_text(rs, 0, base + 11);
}

#define GRANT_COLS "ur.role_id, ur.mac, r.code, r.name, r.mac, rp.perm, rp.mac"
#define GRANT_JOINS                                                                                \
	" LEFT JOIN user_roles ur ON ur.user_id = u.id"                                            \
	" LEFT JOIN roles r ON r.id = ur.role_id"                                                  \
	" LEFT JOIN role_perms rp ON rp.role_id = r.id"

static enum err grants_from_rows(struct server *srv, struct arena *a, struct identity *id,
                                 const struct db_rows *rs, int base,
                                 struct integrity_issue **issues);

enum err store_session_by_token(struct server *srv, struct db_conn *c, struct arena *a,
                                const char *token_hash, struct identity *out,
                                struct integrity_issue **issues)
{
	struct db_rows *rs = NULL;
	/* One round trip: session, user, organisation and grants (one row per permission;
	 * the session columns repeat). It runs on every request. */
	enum err e = db_exec(
	    c, a, &rs,
	    "SELECT s.id, s.csrf_token, s.created_at, s.last_seen, s.expires_at, " IDENTITY_COLS
	    ", " GRANT_COLS " FROM sessions s JOIN users u ON u.id = s.user_id"
	    " JOIN orgs o ON o.id = u.org_id" GRANT_JOINS
	    " WHERE s.token_hash = ? ORDER BY r.code, rp.perm",
	    "s", token_hash);
	if (e)
		return e;
	if (rs->nrows == 0)
		return ERR_NOT_FOUND;
	memset(out, 0, sizeof(*out));
	out->session_id = db_int(rs, 0, 0);
	out->csrf_token = db_text(rs, 0, 1);
	out->created_at = db_int(rs, 0, 2);
	out->last_seen = db_int(rs, 0, 3);
	out->expires_at = db_int(rs, 0, 4);
	read_identity(rs, 5, out);
	return grants_from_rows(srv, a, out, rs, 17, issues);
}

enum err store_identity_by_user(struct db_conn *c, struct arena *a, int64_t user_id,
                                struct identity *out)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT " IDENTITY_COLS
	                     " FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.id = ?",
	                     "i", user_id);
	if (e)
		return e;
	if (rs->nrows == 0)
		return ERR_NOT_FOUND;
	memset(out, 0, sizeof(*out));
	read_identity(rs, 0, out);
	return ERR_OK;
}

static int cmp_cstr(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Note a tampered row: logged at once, audited by auth_report_issues after the read. */
static void add_issue(struct arena *a, struct integrity_issue **issues, const char *table,
                      const char *target, const char *username)
{
	log_error("security.integrity",
	          "%s row %s does not match its MAC: ignored (while loading user %s)", table,
	          target, username ? username : "?");
	struct integrity_issue *i = arena_zalloc(a, sizeof(*i));
	if (!i)
		return;
	i->table = table;
	i->target = target;
	i->next = *issues;
	*issues = i;
}

enum err store_load_grants(struct server *srv, struct db_conn *c, struct arena *a,
                           struct identity *id, struct integrity_issue **issues)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT " GRANT_COLS " FROM users u" GRANT_JOINS
	                     " WHERE u.id = ? ORDER BY r.code, rp.perm",
	                     "i", id->user_id);
	if (e)
		return e;
	return grants_from_rows(srv, a, id, rs, 0, issues);
}

/* Columns GRANT_COLS from column base of every row: verify each row's MAC and keep what
 * verifies. */
static enum err grants_from_rows(struct server *srv, struct arena *a, struct identity *id,
                                 const struct db_rows *rs, int base,
                                 struct integrity_issue **issues)
{
	struct buf canon;
	enum err e = ERR_OK;
	buf_init(&canon, 4096);
	size_t cap = (size_t)rs->nrows + 1;
	id->role_codes = arena_alloc(a, cap * sizeof(char *));
	id->role_names = arena_alloc(a, cap * sizeof(char *));
	id->perms = arena_alloc(a, cap * sizeof(char *));
	if (!id->role_codes || !id->role_names || !id->perms) {
		e = ERR_NOMEM;
		goto out;
	}
	id->nroles = id->nperms = 0;
	int64_t cur = -1;
	bool role_ok = false;
	for (int i = 0; i < rs->nrows; i++) {
		if (db_is_null(rs, i, base)) /* a user without roles */
			continue;
		int64_t role_id = db_int(rs, i, base);
		const char *code = db_text(rs, i, base + 2), *name = db_text(rs, i, base + 3);
		if (role_id != cur) {
			cur = role_id;
			canon_user_role(&canon, id->user_id, role_id);
			enum row_verdict v1 = auth_row_verify(srv->auth, srv->keys, "user_roles",
			                                      &canon, db_text(rs, i, base + 1));
			if (v1 == ROW_BAD_FIRST)
				add_issue(a, issues, "user_roles",
				          arena_printf(a, "user_roles:%lld/%lld",
				                       (long long)id->user_id, (long long)role_id),
				          id->username);
			canon_role(&canon, role_id, code, name);
			enum row_verdict v2 = auth_row_verify(srv->auth, srv->keys, "roles", &canon,
			                                      db_text(rs, i, base + 4));
			if (v2 == ROW_BAD_FIRST)
				add_issue(a, issues, "roles",
				          arena_printf(a, "roles:%lld", (long long)role_id),
				          id->username);
			role_ok = v1 == ROW_OK && v2 == ROW_OK;
			if (role_ok) {
				id->role_codes[id->nroles] = code;
				id->role_names[id->nroles] = name;
				id->nroles++;
			}
		}
		if (!role_ok || db_is_null(rs, i, base + 5))
			continue;
		const char *perm = db_text(rs, i, base + 5);
		canon_role_perm(&canon, role_id, perm);
		enum row_verdict v = auth_row_verify(srv->auth, srv->keys, "role_perms", &canon,
		                                     db_text(rs, i, base + 6));
		if (v == ROW_OK)
			id->perms[id->nperms++] = perm;
		else if (v == ROW_BAD_FIRST)
			add_issue(a, issues, "role_perms",
			          arena_printf(a, "role_perms:%lld/%s", (long long)role_id, perm),
			          id->username);
	}
	/* Sorted with strcmp, as req_has_perm's binary search expects; a permission granted
	 * by two roles appears once. */
	qsort(id->perms, (size_t)id->nperms, sizeof(char *), cmp_cstr);
	int n = 0;
	for (int i = 0; i < id->nperms; i++)
		if (n == 0 || strcmp(id->perms[n - 1], id->perms[i]) != 0)
			id->perms[n++] = id->perms[i];
	id->nperms = n;
out:
	buf_release(&canon);
	return e;
}

/* One role: the row (inserted when missing) and its permissions. */
static enum err ensure_role(struct server *srv, struct db_conn *c, struct arena *a,
                            const struct builtin_role *br, int64_t now, struct buf *canon)
{
	struct db_rows *rs = NULL;
	char mac[65];
	enum err e =
	    db_exec(c, a, &rs,
	            "INSERT INTO roles (code, name, builtin, mac, created_at, updated_at)"
	            " VALUES (?, ?, 1, '', ?, ?) ON CONFLICT (code) DO NOTHING RETURNING id",
	            "ssii", br->code, br->name, now, now);
	if (e)
		return e;
	int64_t role_id;
	if (rs->nrows == 1) {
		role_id = db_int(rs, 0, 0);
		canon_role(canon, role_id, br->code, br->name);
		auth_row_mac(srv->keys, "roles", canon, mac);
		if ((e = db_exec(c, a, NULL, "UPDATE roles SET mac = ? WHERE id = ?", "si", mac,
		                 role_id)))
			return e;
	} else {
		if ((e = db_exec(c, a, &rs, "SELECT id FROM roles WHERE code = ?", "s", br->code)))
			return e;
		if (rs->nrows != 1)
			return ERR_INTERNAL;
		role_id = db_int(rs, 0, 0);
	}
	for (int i = 0; br->perms[i]; i++) {
		canon_role_perm(canon, role_id, br->perms[i]);
		auth_row_mac(srv->keys, "role_perms", canon, mac);
		if ((e = db_exec(c, a, NULL,
		                 "INSERT INTO role_perms (role_id, perm, mac) VALUES (?, ?, ?)"
		                 " ON CONFLICT (role_id, perm) DO NOTHING",
		                 "iss", role_id, br->perms[i], mac)))
			return e;
	}
	return ERR_OK;
}

enum err store_ensure_builtins(struct server *srv)
{
	struct db_conn *c = NULL;
	struct arena a;
	struct buf canon;
	arena_init(&a, 0);
	buf_init(&canon, 4096);
	int64_t now = time_now_ms();
	enum err e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c);
	if (e)
		goto out;
	if ((e = db_begin_write(c)))
		goto out;
	for (const struct builtin_perm *p = auth_builtin_perms; p->code; p++)
		if ((e = db_exec(c, &a, NULL,
		                 "INSERT INTO permissions (code, description) VALUES (?, ?)"
		                 " ON CONFLICT (code) DO NOTHING",
		                 "ss", p->code, p->description)))
			goto out;
	for (const struct builtin_role *br = auth_builtin_roles; br->code; br++)
		if ((e = ensure_role(srv, c, &a, br, now, &canon)))
			goto out;
	e = db_commit(c);
out:
	if (c)
		db_release(c); /* rolls back when the commit was not reached */
	buf_release(&canon);
	arena_release(&a);
	return e;
}

enum err auth_sessions_purge(struct server *srv, int64_t now_ms, int64_t *purged)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rows = NULL;
	if (purged)
		*purged = 0;
	arena_init(&a, 0);
	enum err e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c);
	if (!e) {
		e = db_begin_write(c);
		bool open = !e;
		if (!e)
			e = db_exec(c, &a, &rows,
			            "DELETE FROM sessions WHERE last_seen < ? OR created_at < ?",
			            "ii", now_ms - srv->cfg.session_idle_s * 1000,
			            now_ms - srv->cfg.session_abs_s * 1000);
		if (!e)
			e = db_commit(c);
		if (e && open)
			db_rollback(c);
		db_release(c);
	}
	if (!e && purged)
		*purged = rows->changes;
	arena_release(&a);
	return e;
}
