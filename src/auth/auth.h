/* auth.h: organisations, users, roles, permissions, passwords and sessions.
 *
 * The auth module owns who a caller is (the session cookie → struct principal) and what the
 * caller may see (the organisation subtree, "data scope"). The HTTP layer enforces a route's
 * permission and the CSRF header using the principal that auth_authenticate fills; handlers
 * and stores enforce the data scope with the SQL pattern below.
 *
 * Data scope. Organisations form a tree (city → district → street → centre); each row keeps
 * its materialised path of ids, e.g. "/1/3/12/". A user sees their own organisation and
 * everything below it. Every store query over scoped rows joins the row's organisation and
 * filters on that path, so the scope holds in SQL and not only in handlers:
 *
 *	SELECT c.id, ... FROM cases c JOIN orgs o ON o.id = c.org_id
 *	 WHERE o.path LIKE ? AND ...
 *	-- bind 's', auth_scope_like(r->who, r->arena)
 *
 * (A row that belongs to no organisation is not scoped.) Paths hold only digits and '/', so
 * the LIKE pattern needs no escaping. For a single row already loaded, auth_scope_covers()
 * does the same check in C.
 *
 * Integrity of access-control data (GB/T 39786-2021 §8.4): rows of roles, role_perms and
 * user_roles carry mac = keyring_mac("row:<table>", canonical bytes of the row). A row whose
 * mac does not match is ignored when a principal is built (the permission it would grant
 * disappears), logged as "security.integrity" and audited once per process.
 *
 * Expired passwords: a principal whose password is past password_max_age_days (or who must
 * change an initial password) gets password_expired = true. auth_authenticate itself refuses
 * such a session on every route except GET /api/v1/auth/me, POST /api/v1/auth/logout and
 * POST /api/v1/auth/password: it leaves r->who NULL and returns ERR_PASSWORD_EXPIRED, which
 * the HTTP layer renders for routes that need a session. The HTTP layer need not do anything
 * more; auth_route_allowed_when_expired() is exported for anyone who wants the same rule. */
#ifndef SHOULI_AUTH_H
#define SHOULI_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/arena.h"
#include "core/err.h"
#include "http/http.h"
#include "server/server.h"

/* The session cookie's name. */
#define AUTH_COOKIE "shouli_sid"

/* The module object listed in src/server/modules.c. Its init creates srv->auth (rate-limit
 * windows, the verified-MAC cache, the principal cache, a dummy password hash), makes sure
 * the built-in permissions and roles exist with valid MACs, and subscribes to
 * "auth:invalidate" on srv->bus when there is one; it needs srv->db (migrated) and
 * srv->keys. */
extern const struct module auth_module;

/* The authenticate hook (struct http_hooks.authenticate; ctx is the struct server *).
 * Reads the cookie shouli_sid, loads session, user, organisation and permissions (or takes
 * them from the principal cache, below), and sets r->who (all strings in r->arena; perms
 * sorted ascending; r->who->ext is the auth module's own copy of what it loaded, which
 * GET /api/v1/auth/me answers from). Returns:
 *   ERR_OK with r->who NULL   no cookie (anonymous);
 *   ERR_UNAUTHENTICATED       unknown token, or the user is disabled;
 *   ERR_SESSION_EXPIRED       idle (session_idle_s) or absolute (session_abs_s) timeout;
 *   ERR_PASSWORD_EXPIRED      see above (r->who stays NULL);
 *   ERR_DB..., ERR_NOMEM      failures.
 * Touches sessions.last_seen at most once a minute per session, so the idle timeout is
 * exact to within a minute.
 *
 * Principal cache (config session_cache_s, default 5 s; 0 turns it off). What a request
 * loaded for a session is kept in memory, keyed by the token hash, for session_cache_s
 * seconds, so that the requests of a busy session cost no database read. At most
 * AUTH_CACHE_MAX (10,000) sessions are kept; the oldest are evicted first.
 *   - Only what passed every check goes in: row MACs verified while loading (a cached
 *     permission was verified), user active, session within its timeouts.
 *   - The idle and absolute timeouts and the password expiry are computed on every request
 *     from the cached times, so a session expires at the same moment cached or not; the
 *     last_seen write-back stays at most once a minute and updates the cached time too.
 *   - Sign-out, password change or reset, disabling, unlocking and any change of a user's
 *     roles or name through this process evict that user's sessions at once, before the
 *     request that made the change answers; a request that was loading concurrently cannot
 *     put back what it read before the change.
 *   - Across nodes (several `shouli serve` on one PostgreSQL database), each of those changes
 *     is published on the event bus as "auth:invalidate" {"user_id":N} and every node's auth
 *     module evicts on it, once the bus carries events between nodes (LISTEN/NOTIFY). Until
 *     then, and for changes made behind the servers' back (SQL, `shouli admin` in another
 *     process, a tampered row), a node goes on using what it cached for at most
 *     session_cache_s seconds. */
enum err auth_authenticate(void *ctx, struct req *r);

/* Is route usable by a session whose password has expired? (me, logout, password.) */
bool auth_route_allowed_when_expired(const struct route *route);

/* Does who's data scope include the organisation with materialised path org_path?
 * false when who or org_path is NULL. */
bool auth_scope_covers(const struct principal *who, const char *org_path);
/* The LIKE pattern of who's scope ("/1/3/%"), from a; NULL when who is NULL or out of
 * memory (binding NULL matches nothing, so a missing principal sees no rows). */
const char *auth_scope_like(const struct principal *who, struct arena *a);

/* Delete the sessions that have timed out by now_ms (idle past session_idle_s or older than
 * session_abs_s), in a write transaction of its own; the scheduler's job
 * auth.sessions_purge runs it. A timed-out session is refused whether or not it has been
 * deleted: this only keeps the table small. *purged (may be NULL) receives how many. */
enum err auth_sessions_purge(struct server *srv, int64_t now_ms, int64_t *purged);

/* Password policy: at least 8 characters (at most 128), at least three of upper-case,
 * lower-case, digit, symbol, and not containing the username (case-insensitive). The
 * history rule (none of the last 5) needs the database and is checked where passwords are
 * set. ERR_OK, or ERR_PASSWORD_POLICY with a zh-CN sentence naming the rule in msg. */
enum err auth_password_check(const char *username, const char *password, char *msg, size_t msgsz);

/* ---- operator commands (`shouli admin ...`): no session, no scope; audited as "cli" ---- */

/* Create a user in organisation org_code with the comma-separated role codes (at least one).
 * The password must satisfy the policy; the user must change it at first login. On failure
 * msg holds a zh-CN reason: ERR_EXISTS (username taken), ERR_NOT_FOUND (organisation or
 * role), ERR_BAD_FIELD (username or name malformed), ERR_PASSWORD_POLICY, ERR_INVALID
 * (roles that would mix system, security and audit administration). */
enum err auth_admin_create_user(struct server *srv, const char *username, const char *name,
                                const char *org_code, const char *roles_csv, const char *password,
                                char *msg, size_t msgsz);
/* Set a new password (policy and history checked), unlock the account, end its sessions and
 * require a change at next login. ERR_NOT_FOUND when there is no such user. */
enum err auth_admin_reset_password(struct server *srv, const char *username, const char *password,
                                   char *msg, size_t msgsz);
/* Add an organisation under parent_code (NULL or "" for a root). level is "city",
 * "district", "street" or "centre". ERR_EXISTS when the code is taken. */
enum err auth_admin_create_org(struct server *srv, const char *code, const char *name,
                               const char *level, const char *parent_code, char *msg, size_t msgsz);
/* `shouli admin org contact CODE PHONE [ADDRESS]`: the organisation's 咨询电话 and address
 * (receipts and notices print them), audited. ERR_BAD_FIELD (msg says why), ERR_NOT_FOUND. */
enum err auth_admin_org_contact(struct server *srv, const char *code, const char *phone,
                                const char *address, char *msg, size_t msgsz);

/* ---- service users and device sessions (terminals of src/vwin, docs/vwin.md) ----
 * A terminal acts through a service user: a users row of one role, with no password that
 * could ever verify (no password login) and no password expiry, and sessions opened for it
 * by the terminal's device credential. All of these run inside the caller's open write
 * transaction on c (a db_write_unit); after the commit of auth_user_sessions_end call
 * auth_user_sessions_ended so that cached principals go at once. */

struct db_conn;

/* Create the service user username (auth_username_valid) in org_id with the one role
 * role_code (its user_roles row MAC'd). ERR_EXISTS when the username is taken,
 * ERR_NOT_FOUND when the role is missing. */
enum err auth_service_user_create(struct server *srv, struct db_conn *c, struct arena *a,
                                  const char *username, const char *name, int64_t org_id,
                                  const char *role_code, int64_t *user_id);
/* Set the service user's display name and organisation (the terminal moved), and
 * status "active"/"disabled". */
enum err auth_service_user_update(struct db_conn *c, struct arena *a, int64_t user_id,
                                  const char *name, int64_t org_id, bool active);

struct auth_new_session {
	int64_t id;
	const char *token;      /* the cookie's value (64 hex), shown once */
	const char *csrf_token; /* for the X-CSRF-Token header */
	const char *set_cookie; /* the Set-Cookie header value */
};
/* Open a session for user_id that expires lifetime_ms from now (instead of session_abs_s;
 * the idle timeout still applies), like a login's: cookie + CSRF token. Strings from a. */
enum err auth_session_open(struct db_conn *c, struct arena *a, int64_t user_id, int64_t lifetime_ms,
                           const char *client_ip, struct auth_new_session *out);
/* Move the expiry of a session opened by auth_session_open to expires_at (renewal). A
 * principal cached before sees the new expiry within session_cache_s. */
enum err auth_session_extend(struct db_conn *c, struct arena *a, int64_t session_id,
                             int64_t expires_at);
/* End every session of user_id; *ended (may be NULL) gets how many. */
enum err auth_user_sessions_end(struct db_conn *c, struct arena *a, int64_t user_id,
                                int64_t *ended);
/* After the commit that ended or disabled a user's sessions: evict them from the principal
 * cache here and on other nodes. */
void auth_user_sessions_ended(struct server *srv, int64_t user_id);

/* Demo data (serve --demo on a new data directory): the Shanghai organisation tree (the city,
 * its 16 districts, two streets with one 社区事务受理服务中心 each in 徐汇 and 浦东) and one user
 * per built-in role with the documented passwords (not expired, no forced change) and a
 * made-up phone and ID number, sealed (left out, with a warning, when the keyring has no
 * active data key). The logins are printed to report (may be NULL). Does nothing when user
 * "admin" already exists. */
enum err auth_seed_demo(struct server *srv, FILE *report);

#endif
