/* gateway_open_int.h: internals of the open APIs (gateway_open.c, gateway_open_store.c,
 * gateway_open_routes.c). Nothing outside src/gateway/ (and its unit tests) includes this.
 *
 * The pieces, in the order a call meets them:
 *   - the signing string (gateway_signing_string in gateway.h) and its verification;
 *   - replay protection: the timestamp within OPEN_SKEW_MS of the server clock and the
 *     nonce never seen before within OPEN_NONCE_TTL_MS (struct open_nonces, in memory, per
 *     process);
 *   - the grant of the credential for the API: time window (struct open_window), daily quota
 *     (in the database, exact across nodes), per-minute rate (struct open_rates, a token
 *     bucket per grant, in memory, per process): open_grant_check.
 * The pure parts take the clock as an argument so that tests can drive it. */
#ifndef SHOULI_GATEWAY_OPEN_INT_H
#define SHOULI_GATEWAY_OPEN_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "gateway/gateway.h"
#include "http/http.h"

struct db_conn;

#define OPEN_SKEW_MS      (5 * 60 * 1000)  /* |server clock - X-Timestamp| allowed */
#define OPEN_NONCE_TTL_MS (10 * 60 * 1000) /* a nonce is remembered this long */
#define OPEN_NONCES_MAX   200000           /* nonces remembered at most (about 20 MB) */
#define OPEN_RATES_MAX    10000            /* rate buckets before idle ones are swept */
#define OPEN_DB_WAIT_MS   3000
#define OPEN_LOG_TEXT_MAX 4000 /* bytes of a request or response body kept in the call log */
#define OPEN_TZ_OFFSET_MS (8 * 3600 * 1000) /* Asia/Shanghai: UTC+8, no DST */

/* ---- time windows ------------------------------------------------------------------ */

/* A grant's time window: days of the week and a time of day range, Asia/Shanghai.
 * weekdays: bit (d - 1) for ISO weekday d (1 = Monday … 7 = Sunday); 0x1f = Monday–Friday.
 * [from_min, to_min) in minutes after midnight, to_min up to 1440 (24:00). from_min > to_min
 * spans midnight: the window belongs to the day it starts on (Friday 22:00–06:00 includes
 * Saturday 05:00 but not Friday 05:00). from_min == to_min is not a window. */
struct open_window {
	unsigned weekdays;
	int from_min, to_min;
};

#define OPEN_WEEKDAYS_ALL 0x7fu

/* Is now_ms (ms since the epoch) inside w? */
bool open_window_allows(const struct open_window *w, int64_t now_ms);
/* ISO weekday (1–7) and minute of the day (0–1439) of now_ms in Asia/Shanghai. */
void open_local_time(int64_t now_ms, int *weekday, int *minute);
/* The Asia/Shanghai date of now_ms as "YYYY-MM-DD" (out holds 11 bytes). */
void open_local_day(int64_t now_ms, char out[11]);
/* zh-CN description, e.g. "工作日 08:00–18:00", "每天 00:00–24:00", "周一、周三 09:00–12:00";
 * from a (NULL when out of memory). */
const char *open_window_describe(const struct open_window *w, struct arena *a);
/* "HH:MM" (to "24:00" when allow_24) → minutes; false when malformed. */
bool open_parse_hhmm(const char *s, bool allow_24, int *minutes);

/* ---- rate: a token bucket per grant -------------------------------------------------- */

/* rate_per_min tokens a minute, a burst of at most rate_per_min. Filled on first use. */
struct open_bucket {
	double tokens;
	int64_t last_ms; /* 0: never used */
};

/* Take one token at now_ms; false when the bucket is empty. rate_per_min <= 0: no limit. A
 * clock that goes backwards refills nothing. */
bool open_bucket_take(struct open_bucket *b, int64_t rate_per_min, int64_t now_ms);

/* The buckets of all grants of this process (thread-safe). */
struct open_rates;
enum err open_rates_create(struct open_rates **out);
void open_rates_destroy(struct open_rates *r);
/* open_bucket_take on grant_id's bucket (made on first use; when more than OPEN_RATES_MAX
 * exist, buckets idle for a minute — full again, so equal to new ones — are dropped first).
 * false also when out of memory. */
bool open_rates_take(struct open_rates *r, int64_t grant_id, int64_t rate_per_min, int64_t now_ms);

/* ---- replay protection ----------------------------------------------------------------- */

struct open_nonces;
/* cap: entries held at most. */
enum err open_nonces_create(size_t cap, int64_t ttl_ms, struct open_nonces **out);
void open_nonces_destroy(struct open_nonces *n);
/* Remember (key_id, nonce) at now_ms, forgetting entries older than the TTL first.
 * ERR_OK when new; ERR_EXISTS when seen within the TTL; ERR_UNAVAILABLE when cap entries
 * are held (and none has expired); ERR_NOMEM. */
enum err open_nonces_add(struct open_nonces *n, const char *key_id, const char *nonce,
                         int64_t now_ms);
size_t open_nonces_count(struct open_nonces *n);

/* ---- grants ------------------------------------------------------------------------------ */

struct open_grant {
	int64_t id;
	bool enabled;
	struct open_window win;
	int64_t daily_quota;  /* calls per Asia/Shanghai day; 0 = no limit */
	int64_t rate_per_min; /* 0 = no limit */
};

/* The daily quota, kept elsewhere (the database). take: count one call of day for g;
 * ERR_OK, ERR_RATE_LIMITED when the quota is used up, or a failure. give_back: undo one take
 * (the call was refused later). Called only when g->daily_quota > 0. */
struct open_quota_ops {
	enum err (*take)(void *ctx, const struct open_grant *g, const char *day);
	void (*give_back)(void *ctx, const struct open_grant *g, const char *day);
};

/* The grant checks, in order: a grant exists and is enabled (else ERR_FORBIDDEN
 * 未授权调用该接口), now_ms is inside its window (ERR_FORBIDDEN 不在授权时段（…）), its
 * daily quota has room (ERR_RATE_LIMITED 今日调用次数已用完), its rate allows a call now
 * (ERR_RATE_LIMITED 调用过于频繁; the quota taken is given back). g NULL = no grant.
 * ei->code/msg (msg from a) are set on refusal. A call that passes has used one unit of
 * quota and one token. */
enum err open_grant_check(const struct open_grant *g, int64_t now_ms, struct open_rates *rates,
                          const struct open_quota_ops *q, void *qctx, struct arena *a,
                          struct errinfo *ei);

/* ---- signatures ------------------------------------------------------------------------- */

/* Append the RFC 3986 encoding of s[0..n) to out: unreserved characters (A–Z a–z 0–9 - . _ ~)
 * and, when keep_slash, '/' as they are, every other byte as %XX (upper-case hex). */
enum err open_percent_encode(struct buf *out, const char *s, size_t n, bool keep_slash);

/* ---- the process state ------------------------------------------------------------------ */

/* An open API that Shouli offers: the static definition (the route table says which handler
 * serves it; the row in open_apis carries the title and the mock an operator edits). */
struct open_api_def {
	const char *name; /* also the route's perm and the principal's one permission */
	const char *method;
	const char *route;
	const char *title;
	const char *description;
	const char *mock; /* default mock response (JSON) for debug credentials */
	/* Live data: a handler of another module's route table (resolved at init from
	 * target_method + target_route) or local. */
	const char *target_method, *target_route;
	http_handler local;
};

extern const struct open_api_def open_api_defs[];
extern const size_t open_api_ndefs;

struct gateway_open_state {
	struct open_nonces *nonces;
	struct open_rates *rates;
	http_handler *live;     /* open_api_ndefs handlers: the live data of each API */
	struct open_logq *logq; /* the call-log writer */
	pthread_mutex_t lock;   /* guards the city cache below */
	int64_t city_id; /* the city organisation (the callers' data scope); 0 = not known yet */
	char *city_code, *city_path;
};

/* What the authenticate hook learnt about a call, for the handler and the call log
 * (principal.ext; request memory). */
struct open_call {
	int64_t t0_ns;
	int64_t credential_id;
	const char *key_id;
	const char *api;
	size_t api_idx; /* in open_api_defs */
	bool debug;
	const char *mock; /* the API's mock (JSON text) */
	int64_t mock_status;
	int64_t grant_id;
	const char *target;         /* path?query as sent, decoded (for the call log) */
	const char *signing_string; /* as the server computed it (for the call log) */
};

enum err open_state_create(struct gateway_open_state **out);
void open_state_destroy(struct gateway_open_state *st);

/* Write the call-log row of a call of a known credential (oc->credential_id != 0; others
 * are not logged): served ("ok", "mock", "error") or refused ("refused"). code and message
 * are the error's (NULL when served); response is the body sent (clipped). Failures go to
 * the process log, never to the caller. */
void open_log_call(struct req *r, const struct open_call *oc, int status, const char *outcome,
                   const char *code, const char *message, const char *response);

/* ---- store (gateway_open_store.c) ------------------------------------------------------- */

/* A credential as the authenticate hook needs it (strings and blob from a). */
struct open_cred {
	int64_t id;
	const char *key_id, *kind, *owner, *public_key;
	const void *secret_enc;
	size_t secret_n;
	bool debug, enabled;
};

struct open_api_row {
	bool found, enabled;
	const char *title, *mock;
	int64_t mock_status;
};

/* Load the credential key_id, the API api and the credential's grant for it in one query.
 * ERR_NOT_FOUND when there is no such credential; *has_grant false when no grant. */
enum err open_store_lookup(struct db_conn *c, struct arena *a, const char *key_id, const char *api,
                           struct open_cred *cred, struct open_api_row *arow,
                           struct open_grant *grant, bool *has_grant);
/* Quota bookkeeping (one row per grant and day). */
enum err open_store_quota_take(struct db_conn *c, struct arena *a, int64_t grant_id,
                               const char *day, int64_t quota);
void open_store_quota_give_back(struct db_conn *c, struct arena *a, int64_t grant_id,
                                const char *day);
/* Calls used today by grant (0 when none). */
int64_t open_store_quota_used(struct db_conn *c, struct arena *a, int64_t grant_id,
                              const char *day);

/* One call-log row. Strings borrowed; NULL stored as NULL. */
struct open_call_row {
	int64_t at, credential_id, latency_us;
	const char *key_id, *api, *method, *path, *outcome, *code, *message, *client_ip, *trace_id,
	    *signing_string, *request, *response;
	int status;
};
enum err open_store_log(struct db_conn *c, struct arena *a, const struct open_call_row *row);

/* The asynchronous call-log writer (one thread, batches of rows in one transaction; nothing
 * is dropped: a full queue makes the caller write its own row, a failed batch is retried,
 * stop drains the queue — only rows the database still refuses at shutdown are lost, with an
 * error in the process log). submit copies row. flush waits (up to 3 s) until everything
 * submitted so far is written, for readers of the log on this node. */
struct open_logq;
enum err open_logq_start(struct server *srv, struct open_logq **out);
void open_logq_stop(struct open_logq *q);
enum err open_logq_submit(struct open_logq *q, const struct open_call_row *row);
void open_logq_flush(struct open_logq *q);

/* Make sure every open_api_defs row exists (title and mock are kept when present; method and
 * route follow the definitions). */
enum err open_store_seed_apis(struct server *srv);

/* ---- store: administration ---- */

/* A credential as the admin API shows it (never the secret). Strings from a. */
struct open_cred_rec {
	int64_t id, version, created_at, updated_at, secret_rotated_at, grants;
	const char *key_id, *kind, *owner, *description, *public_key, *created_by;
	bool debug, enabled;
};
enum err open_store_creds_list(struct db_conn *c, struct arena *a, struct open_cred_rec **out,
                               int *n);
/* ERR_NOT_FOUND when there is no such credential. */
enum err open_store_cred_get(struct db_conn *c, struct arena *a, int64_t id,
                             struct open_cred_rec *out);
/* Insert rec (id, version and times are set here; secret_enc NULL for sm2). */
enum err open_store_cred_insert(struct db_conn *c, struct arena *a, struct open_cred_rec *rec,
                                const void *secret_enc, size_t secret_n);
/* Write owner, description, public_key, debug and enabled of rec->id if its version is still
 * rec->version (ERR_CONFLICT otherwise); rec->version and updated_at are advanced. */
enum err open_store_cred_update(struct db_conn *c, struct arena *a, struct open_cred_rec *rec);
enum err open_store_cred_set_secret(struct db_conn *c, struct arena *a, int64_t id,
                                    const void *secret_enc, size_t secret_n, int64_t now);
/* Delete the credential, its grants and their usage counters (the call log stays). */
enum err open_store_cred_delete(struct db_conn *c, struct arena *a, int64_t id);

struct open_grant_rec {
	struct open_grant g;
	int64_t credential_id, version, created_at, updated_at;
	const char *api, *key_id;
};
/* Grants of credential_id (0: all) ordered by id. */
enum err open_store_grants_list(struct db_conn *c, struct arena *a, int64_t credential_id,
                                struct open_grant_rec **out, int *n);
enum err open_store_grant_get(struct db_conn *c, struct arena *a, int64_t id,
                              struct open_grant_rec *out);
/* Is there a grant of credential_id for api other than except_id? */
enum err open_store_grant_exists(struct db_conn *c, struct arena *a, int64_t credential_id,
                                 const char *api, int64_t except_id, bool *exists);
enum err open_store_grant_insert(struct db_conn *c, struct arena *a, struct open_grant_rec *rec);
enum err open_store_grant_update(struct db_conn *c, struct arena *a, struct open_grant_rec *rec);
enum err open_store_grant_delete(struct db_conn *c, struct arena *a, int64_t id);

struct open_api_rec {
	int64_t id, version, mock_status, updated_at;
	const char *name, *method, *route, *title, *description, *mock;
	bool enabled;
};
enum err open_store_apis_list(struct db_conn *c, struct arena *a, struct open_api_rec **out,
                              int *n);
enum err open_store_api_get(struct db_conn *c, struct arena *a, const char *name,
                            struct open_api_rec *out);
/* Write title, description, mock, mock_status, enabled (version-checked as above). */
enum err open_store_api_update(struct db_conn *c, struct arena *a, struct open_api_rec *rec);

/* The call log, newest first. */
struct open_calls_query {
	int64_t credential_id; /* 0: any */
	const char *key_id;    /* NULL: any */
	const char *api;       /* NULL: any */
	const char *outcome;   /* NULL: any */
	int64_t before;        /* ids below this; 0: from the newest */
	int64_t limit;
};
/* *out: a new JSON array of {"id","at","key_id","api","method","path","status","outcome",
 * "code","message","latency_us","client_ip","trace_id","signing_string","request",
 * "response"}. */
enum err open_store_calls(struct db_conn *c, struct arena *a, const struct open_calls_query *q,
                          json_t **out);

/* The city organisation (first 'city' row): ERR_NOT_FOUND when there is none yet. */
enum err open_store_city(struct db_conn *c, struct arena *a, int64_t *id, const char **code,
                         const char **path);

#endif
