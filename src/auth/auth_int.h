/* auth_int.h: what the files of src/auth/ share. Nothing outside src/auth/ includes it
 * (the unit tests do, to reach the row-integrity and rate-limit internals). */
#ifndef SHOULI_AUTH_INT_H
#define SHOULI_AUTH_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "core/buf.h"

struct db_conn;
struct event_bus;
struct keyring;

/* ---- limits ---- */

#define AUTH_USERNAME_MAX     32
#define AUTH_NAME_MAX         64
#define AUTH_PASSWORD_MIN     8
#define AUTH_PASSWORD_MAX     128
#define AUTH_PASSWORD_HISTORY 5
#define AUTH_TOKEN_BYTES      32 /* session token: 64 hex characters in the cookie */
#define AUTH_CSRF_BYTES       24
#define AUTH_TOUCH_MS         60000 /* write last_seen at most this often */
#define AUTH_DB_WAIT_MS       5000  /* db_acquire timeout */

/* Login rate limits, sliding one-minute windows. Per client address only failures count:
 * a centre behind one NAT address signs in all its clerks at opening time. Per account every
 * attempt counts (it also caps password-change attempts). */
#define AUTH_RL_WINDOW_MS  60000
#define AUTH_RL_ADDR_FAILS 10
#define AUTH_RL_ACCOUNT    20

/* ---- rate limiter: bounded memory, a few thousand keys, oldest evicted ---- */

#define RL_SLOTS      4096
#define RL_PROBE      8
#define RL_EVENTS_MAX 32
#define RL_KEY_MAX    72

struct rl_slot {
	char key[RL_KEY_MAX];
	int64_t ev[RL_EVENTS_MAX]; /* ring of event times (ms) */
	int next;
	int64_t newest;
};

struct ratelimit {
	pthread_mutex_t mu;
	int limit; /* events allowed per window, <= RL_EVENTS_MAX */
	int64_t window_ms;
	struct rl_slot *slots; /* RL_SLOTS */
};

enum err rl_init(struct ratelimit *rl, int limit, int64_t window_ms);
void rl_release(struct ratelimit *rl);
/* Events for key in the window ending at now. */
int rl_count(struct ratelimit *rl, const char *key, int64_t now);
/* Record one event. */
void rl_hit(struct ratelimit *rl, const char *key, int64_t now);
/* Record one event if fewer than limit are in the window; false (nothing recorded) when the
 * limit is reached. */
bool rl_take(struct ratelimit *rl, const char *key, int64_t now);

/* ---- row integrity ---- */

/* Verified (canonical bytes, mac) pairs, memoised so that building a principal costs no
 * HMAC for rows seen before. The MAC is a pure function of the row and the master key, so a
 * remembered verdict stays true for the life of the process; a tampered row changes the bytes
 * or the mac and misses the cache. Bad verdicts are remembered too, so that a tampered row is
 * logged and audited once, not on every request. */
#define MACC_SLOTS     2048
#define MACC_CANON_MAX 240

struct macc_entry {
	unsigned char mac[32];
	unsigned short len; /* 0 = empty slot */
	bool ok;
	unsigned char canon[MACC_CANON_MAX];
};

struct mac_cache {
	pthread_mutex_t mu;
	struct macc_entry *e; /* MACC_SLOTS */
};

/* Canonical bytes of a row: the table name, then each field as "<len>:<bytes>,"
 * (netstring), so no two different rows serialise alike. */
void canon_role(struct buf *b, int64_t id, const char *code, const char *name);
void canon_role_perm(struct buf *b, int64_t role_id, const char *perm);
void canon_user_role(struct buf *b, int64_t user_id, int64_t role_id);

/* keyring_mac("row:<table>", canon) as 64 lower-case hex characters + NUL. */
void auth_row_mac(const struct keyring *kr, const char *table, const struct buf *canon,
                  char out[65]);

enum row_verdict { ROW_OK, ROW_BAD, ROW_BAD_FIRST /* bad, and not reported before */ };
/* Check mac_hex against the row. */
enum row_verdict auth_row_verify(struct auth_state *st, const struct keyring *kr, const char *table,
                                 const struct buf *canon, const char *mac_hex);

/* ---- process state (srv->auth) ---- */

#define AUTH_CACHE_MAX        10000 /* principal cache entries (sessions) */
#define AUTH_INVALIDATE_TOPIC "auth:invalidate"

struct pcache;

struct auth_state {
	char *dummy_hash;               /* verified against for unknown users (same time) */
	struct ratelimit addr_fails;    /* failed logins per client address */
	struct ratelimit account_tries; /* login and password-change attempts per username */
	struct mac_cache macs;
	struct pcache *cache;      /* principal cache; NULL when session_cache_s is 0 */
	struct event_bus *sub_bus; /* where on_invalidate is subscribed (NULL: nowhere) */
};

enum err auth_state_create(struct server *srv, struct auth_state **out);
/* auth_module's init and release. */
enum err auth_module_init(struct server *srv);
void auth_module_release(struct server *srv);
void auth_state_destroy(struct auth_state *st);

/* ---- identities ---- */

/* A user as loaded for a principal or a response. Strings in the arena given to the
 * loader. */
struct identity {
	int64_t user_id;
	const char *username;
	const char *name;
	bool disabled;
	bool must_change;
	int64_t password_changed_at;
	int64_t locked_until;
	int64_t org_id;
	const char *org_level, *org_code, *org_name, *org_path;
	/* session (by-token loads only) */
	int64_t session_id;
	const char *csrf_token;
	int64_t created_at, last_seen;
	int64_t expires_at; /* a device session's own expiry (0 = session_abs_s applies) */
	/* verified grants */
	int nroles;
	const char **role_codes, **role_names; /* sorted by code */
	int nperms;
	const char **perms; /* sorted ascending, unique */
};

/* A tampered row found while loading (to audit once the read is over). */
struct integrity_issue {
	const char *table;
	const char *target; /* e.g. "role_perms:3/user.manage" */
	struct integrity_issue *next;
};

/* Load a session with its user, organisation and verified grants, by token hash (64 hex),
 * in one query. ERR_NOT_FOUND when there is no such session. Tampered rows are logged and
 * listed in *issues (arena memory). */
enum err store_session_by_token(struct server *srv, struct db_conn *c, struct arena *a,
                                const char *token_hash, struct identity *out,
                                struct integrity_issue **issues);
/* Load a user (no session, no grants) by id. ERR_NOT_FOUND when absent. */
enum err store_identity_by_user(struct db_conn *c, struct arena *a, int64_t user_id,
                                struct identity *out);
/* Fill id->roles and id->perms from the rows whose MACs verify; as above for issues. */
enum err store_load_grants(struct server *srv, struct db_conn *c, struct arena *a,
                           struct identity *id, struct integrity_issue **issues);
/* Audit (and count) the issues; always safe to call with NULL. */
void auth_report_issues(struct server *srv, const struct req *r,
                        const struct integrity_issue *issues);

/* Password expired or a change required? */
bool auth_identity_expired(const struct server *srv, const struct identity *id, int64_t now);
/* The principal for id (strings borrowed from id, allocated from a). */
struct principal *auth_principal_from(struct arena *a, const struct identity *id, bool expired);
/* {"id","username","name","roles","role_names","permissions","scope":{...}} */
json_t *auth_user_json(const struct identity *id);

/* SM3 hex of the cookie token, as stored in sessions.token_hash. */
void auth_token_hash(const char *token, char out[65]);

/* ---- principal cache (auth_cache.c) ----
 *
 * What auth_authenticate loaded for a session (struct identity: user, organisation, verified
 * grants, csrf token, created_at and last_seen), keyed by the session's token hash, for
 * ttl_ms after it was loaded. Only what passed every check at load time goes in (MACs
 * verified, user active, session within its timeouts); the timeouts and the password expiry
 * are checked again on every hit from the cached times. Bounded: the entries are spread over
 * 16 shards, each holding max_entries / 16 (at least 1), and a full shard evicts the entry it
 * loaded first. All calls are thread-safe; each locks one shard, except pcache_evict_user
 * and pcache_count, which visit all 16. */

/* A cache of max_entries (>= 1) with the given TTL (> 0); a hit whose last_seen is touch_ms
 * old or older elects its caller to write last_seen back. ERR_INVALID, ERR_NOMEM. */
enum err pcache_create(size_t max_entries, int64_t ttl_ms, int64_t touch_ms, struct pcache **out);
void pcache_destroy(struct pcache *pc);

/* The invalidation epoch: read it before loading from the database and hand it to
 * pcache_put, which then refuses to insert when an invalidation happened meanwhile. */
uint64_t pcache_epoch(struct pcache *pc);
/* Insert a copy of id under th (64 hex characters), replacing an entry of the same key;
 * loaded at now. false (nothing inserted) when the epoch moved since `epoch` was read, or
 * out of memory. */
bool pcache_put(struct pcache *pc, const char *th, const struct identity *id, uint64_t epoch,
                int64_t now);
/* On a hit (an entry younger than the TTL at now), fill *out with a copy whose arrays and
 * strings live in a and return true; an entry past its TTL is removed and is a miss. *touch
 * is set on the one hit that should write last_seen back (then call pcache_set_last_seen
 * when the write succeeded); other hits within a few seconds are not elected again. */
bool pcache_get(struct pcache *pc, const char *th, int64_t now, struct arena *a,
                struct identity *out, bool *touch);
/* Record a last_seen written back to the database (never moves it backwards). */
void pcache_set_last_seen(struct pcache *pc, const char *th, int64_t last_seen);
/* Remove the entry of th, if any. */
void pcache_drop(struct pcache *pc, const char *th);
/* Remove every entry of user_id and move the epoch on; returns how many were removed. */
size_t pcache_evict_user(struct pcache *pc, int64_t user_id);
/* Entries held (including any past their TTL not yet removed). */
size_t pcache_count(struct pcache *pc);

/* A change to user_id that must reach authentication at once (sign-out, password change or
 * reset, disabled, unlocked, roles or name changed), called after it has committed: evict
 * the user from this process's cache and publish "auth:invalidate" {"user_id":N} on the
 * bus, so that other nodes evict too once the bus crosses nodes. Safe with srv->auth or
 * srv->bus NULL. */
void auth_invalidate_user(struct server *srv, int64_t user_id);

/* ---- built-in roles and permissions ---- */

struct builtin_perm {
	const char *code;
	const char *description;
};
struct builtin_role {
	const char *code;
	const char *name;
	const char *perms[12]; /* NULL-terminated */
};
extern const struct builtin_perm auth_builtin_perms[];
extern const struct builtin_role auth_builtin_roles[];

/* Insert missing built-in permissions, roles and role permissions (with MACs) in one write
 * transaction. Existing rows are never rewritten: a tampered built-in row stays tampered
 * (and ignored) until a person looks at it. */
enum err store_ensure_builtins(struct server *srv);

/* ---- user administration shared by the API and the CLI ---- */

struct user_spec {
	const char *username;
	const char *name;
	const char *org_code;
	const char **roles; /* role codes */
	int nroles;
	const char *password;
	bool must_change;
	bool fresh_password;   /* password_changed_at = now (false: keep as given) */
	const char *phone;     /* as given; NULL or blank = not set */
	const char *id_number; /* as given; NULL or blank = not set */
};

/* The actor of an administrative change: a principal (API) or the operator (CLI, who =
 * NULL, scope unlimited). */
struct actor {
	const struct principal *who;
	const struct req *r;
};

/* Create a user. Checks username syntax, name, organisation (inside the actor's scope),
 * roles (exist, intact, no mix of system/security/audit administration) and the password
 * policy. On failure ei carries the field and a zh-CN message (allocated from a). */
enum err auth_user_create(struct server *srv, struct arena *a, const struct actor *act,
                          const struct user_spec *spec, int64_t *user_id, struct errinfo *ei);
/* Check role codes: exist, rows intact, and together they do not mix duties. Fills
 * role_ids[nroles]. */
enum err auth_roles_resolve(struct server *srv, struct db_conn *c, struct arena *a,
                            const char **codes, int n, int64_t *role_ids, struct errinfo *ei);
/* Set a password after the policy and history checks, in one write transaction (clears the
 * lock, trims history, ends the user's other sessions except keep_session (0 = all)). */
enum err auth_password_set(struct server *srv, struct arena *a, const struct actor *act,
                           int64_t user_id, const char *username, const char *password,
                           bool must_change, int64_t keep_session, const char *action,
                           struct errinfo *ei);

/* Insert one organisation below parent_id (0 = a root) and set its path
 * (parent_path + id + "/"); *path is from a. ERR_EXISTS when the code is taken. */
enum err auth_org_insert(struct db_conn *c, struct arena *a, const char *code, const char *name,
                         const char *level, int64_t parent_id, const char *parent_path, int64_t now,
                         int64_t *id, const char **path);

/* ---- staff contact data: sealed columns users.phone and users.id_number ---- */

/* A contact value ready to store (see src/sensitive/sensitive.h): blob and bidx from the
 * arena, or both NULL to clear the column. */
struct sealed_field {
	const void *blob;
	size_t n;
	const char *bidx;
};

/* Normalise value for field "phone" (mainland mobile) or "id_number" (居民身份证) and check
 * it. *norm (from a) is the normalised value, or NULL when value is NULL or blank (no
 * value). ERR_BAD_FIELD with field and a zh-CN message in ei when it is malformed. */
enum err auth_contact_check(struct arena *a, const char *field, const char *value,
                            const char **norm, struct errinfo *ei);
/* auth_contact_check, then seal the value for column "users.<field>"; a missing value gives
 * a clearing sealed_field. ERR_CONFIG when the keyring has no active data key. */
enum err auth_contact_seal(struct server *srv, struct arena *a, const char *field,
                           const char *value, struct sealed_field *out, struct errinfo *ei);
/* Write the contact columns of user uid inside the caller's transaction; a NULL pointer
 * leaves that column as it is. */
enum err auth_contact_store(struct db_conn *c, struct arena *a, int64_t uid,
                            const struct sealed_field *phone, const struct sealed_field *id_number);

/* ---- helpers ---- */

/* Record a failure in ei (message formatted into a) and return code. */
enum err auth_fail(struct errinfo *ei, struct arena *a, enum err code, const char *field,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Fill an audit entry's actor, address and trace from act. */
struct audit_entry;
void auth_actor_entry(const struct actor *act, struct audit_entry *e);
bool auth_username_valid(const char *s);
/* Handlers (auth_http.c) for the expired-password allow list. */
enum err auth_h_me(struct req *r, struct resp *w);
enum err auth_h_logout(struct req *r, struct resp *w);
enum err auth_h_password(struct req *r, struct resp *w);

#endif
