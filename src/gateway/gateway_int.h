/* gateway_int.h: internals shared by the files of src/gateway/ (never included elsewhere,
 * except by the gateway's unit tests and bench).
 *
 * Pieces and who owns them:
 *   gateway_tpl.c    templates (JSON values, text with escaping)
 *   gateway_auth.c   request signing, token cache, crypto profiles
 *   gateway_http.c   libcurl easy handles (a small pool per connector), one HTTP exchange
 *   gateway_soap.c   SOAP envelopes (libxml2): build, parse, XPath extraction, faults
 *   gateway_call.c   gateway_call: breaker, concurrency cap, retries, mocks, the state
 *   gateway_log.c    masking and the asynchronous call-log writer
 *   gateway_store.c  SQL: connectors (validation, sealed secrets, seeding), mocks, calls
 *   gateway_stats.c  statistics and the XLSX export
 *   gateway_routes.c the module's routes */
#ifndef SHOULI_GATEWAY_INT_H
#define SHOULI_GATEWAY_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/buf.h"
#include "gateway/gateway.h"

struct crypto_sm2_key;
struct db_conn;
struct db_rows;

#define GW_NAME_MAX     32
#define GW_BODY_MAX     (8u << 20) /* largest answer read from a system */
#define GW_LOG_TEXT_MAX 16384      /* request/response text kept per call-log row */
#define GW_CONF_TTL_MS                                                                             \
	2000 /* how long a loaded connector is trusted without a look                              \
	        at its rev (edits by other nodes show up this late) */
#define GW_DEFAULT_SIM "http://127.0.0.1:8090"
#define GW_SECRET_CTX  "gateway_connectors.secret"

/* ---- templates (gateway_tpl.c) ------------------------------------------------------- */

enum gw_escape { GW_ESC_NONE, GW_ESC_XML, GW_ESC_URL };

/* The value at a dotted path in ctx (borrowed), NULL when absent. Array elements are
 * addressed by index segments ("items.0.name"). */
const json_t *gw_tpl_lookup(const json_t *ctx, const char *path, size_t n);
/* Interpolate every {{path}} of the text tpl into out, each value escaped as esc asks
 * (strings as they are, numbers and booleans as JSON text, objects/arrays as compact JSON,
 * null/missing as ""). ERR_TOO_LARGE when out's cap is reached, ERR_NOMEM. */
enum err gw_tpl_text(const char *tpl, const json_t *ctx, enum gw_escape esc, struct buf *out);

/* ---- signing and crypto profiles (gateway_auth.c) ------------------------------------ */

/* The string both signature schemes sign, for a request target as sent (path?query, still
 * percent-encoded): decoded, then handed to gateway_signing_string (gateway.h, the same
 * canonical TARGET the inbound open APIs verify):
 * METHOD "\n" TARGET "\n" TIMESTAMP "\n" NONCE "\n" hex(SM3(body)). ERR_TOO_LARGE beyond 64
 * query arguments. */
enum err gw_sign_string(const char *method, const char *target, const char *timestamp,
                        const char *nonce, const void *body, size_t body_len, struct buf *out);
/* hex(HMAC-SM3(secret, sign string)) into out (65 bytes). */
void gw_hmac_sm3_hex(const char *secret, const char *sign_string, size_t n, char out[65]);

#define GW_MAX_HEADERS 16

/* Request headers being built ("Name: value" strings from an arena). */
struct gw_hdrs {
	const char *v[GW_MAX_HEADERS];
	int n;
};
void gw_hdrs_add(struct gw_hdrs *h, struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

struct gw_conf;
struct gw_conn;

/* Add the connector's auth to a request: basic (*userpwd), token (Authorization: Bearer,
 * fetched and cached; fresh forces a new fetch), hmac_sm3 / sm2 (X-Key-Id, X-Timestamp,
 * X-Nonce, X-Signature over the sign string of method, target (path?query as sent) and
 * body). Errors: ERR_CONFIG (missing secret), ERR_UPSTREAM / ERR_TIMEOUT (the token
 * could not be fetched), with ei->msg. deadline_ms: monotonic ms the token fetch must end
 * by. */
enum err gw_auth_apply(struct gw_conn *cn, const struct gw_conf *cf, const char *base_url,
                       const char *method, const char *path, const char *body, size_t body_len,
                       bool fresh, int64_t deadline_ms, struct gw_hdrs *h, const char **userpwd,
                       struct arena *a, struct errinfo *ei);
/* Drop the cached token (after a 401). */
void gw_auth_forget_token(struct gw_conn *cn);

/* Crypto profile: the body to send for the plain JSON text (sm4_cbc: {"data": b64(iv||ct)};
 * sm2_envelope: {"key": b64(SM2(peer, k)), "data": …}); none copies. ERR_CONFIG for a
 * profile that cannot be used (aes_cbc and rsa_envelope are refused: "暂不支持"). */
enum err gw_crypto_wrap(const struct gw_conf *cf, const char *plain, size_t n, struct buf *out,
                        struct errinfo *ei);
/* Open a 2xx answer: an object with a "data" string is decrypted and parsed; anything else
 * is returned as it is. *out: new reference. ERR_UPSTREAM when it does not decrypt/parse. */
enum err gw_crypto_unwrap(const struct gw_conf *cf, json_t *answer, json_t **out,
                          struct errinfo *ei);

/* ---- breaker (gateway_call.c) -------------------------------------------------------- */

enum gw_breaker_state { GW_BR_CLOSED, GW_BR_OPEN, GW_BR_HALF_OPEN };

struct gw_breaker_cfg {
	int failures;      /* failures within window_ms that open it; 0 = never opens */
	int64_t window_ms; /* counting window */
	int64_t open_ms;   /* how long it stays open before one probe is let through */
};

/* Per-connector breaker. Not locked: the caller holds its connector's mutex. Time is
 * passed in (ms, any monotonic origin), so tests can drive it. */
struct gw_breaker {
	enum gw_breaker_state state;
	int failures;
	int64_t window_start_ms;
	int64_t opened_at_ms;
	bool probe_inflight;
	uint64_t opens; /* times it opened, for metrics */
};

/* May a call go out now? false when open (or half-open with its probe in flight). When the
 * open period has passed the breaker turns half-open and the first caller gets *probe =
 * true: that caller must report with gw_breaker_record(…, probe = true) or
 * gw_breaker_abandon. */
bool gw_breaker_allow(struct gw_breaker *b, const struct gw_breaker_cfg *c, int64_t now_ms,
                      bool *probe);
/* Report a finished call. ok = false for failures that count (timeouts, connection errors,
 * 5xx, 429). A probe's success closes the breaker, its failure reopens it. */
void gw_breaker_record(struct gw_breaker *b, const struct gw_breaker_cfg *c, int64_t now_ms,
                       bool ok, bool probe);
/* The probe never went out (refused by the concurrency cap): let the next caller probe. */
void gw_breaker_abandon(struct gw_breaker *b);
/* Back to closed with no failures (operator reset). */
void gw_breaker_reset(struct gw_breaker *b);
const char *gw_breaker_state_name(enum gw_breaker_state s);

/* ---- connectors in memory (gateway_call.c) ------------------------------------------- */

enum gw_protocol { GW_REST, GW_SOAP };
enum gw_auth { GW_AUTH_NONE, GW_AUTH_BASIC, GW_AUTH_TOKEN, GW_AUTH_HMAC_SM3, GW_AUTH_SM2 };
enum gw_crypto {
	GW_CRYPTO_NONE,
	GW_CRYPTO_SM4_CBC,
	GW_CRYPTO_SM2_ENVELOPE,
	GW_CRYPTO_AES_CBC,
	GW_CRYPTO_RSA_ENVELOPE
};

struct gw_method {
	const char *name;
	const char *http_method;
	const char *path;
	bool idempotent;
	int timeout_ms; /* 0 = the connector's */
	const json_t *mask;
	/* SOAP */
	const char *soap_action;
	const char *body;         /* XML template of the Body's content */
	const json_t *response;   /* key → XPath (or {"xpath","each"}) */
	const json_t *namespaces; /* prefix → URI for the XPaths */
};

/* One connector as loaded: immutable after gw_conf_build, shared by the calls in flight
 * (reference counted) while an edit swaps in a new one. Strings point into doc. */
struct gw_conf {
	atomic_int refs;
	int64_t rev;
	json_t *doc;     /* the stored document (no secrets) */
	json_t *secrets; /* {"auth.secret": …, "auth.private_key": …, "crypto.key": …,
	                    "crypto.private_key": …}; never logged, never returned */
	const char *name;
	enum gw_protocol protocol;
	const char *base_url; /* as written ({{sim}} resolved per call) */
	enum gw_auth auth;
	const char *username, *secret, *token_path, *token_field, *expires_field, *key_id;
	struct crypto_sm2_key *sign_key;
	enum gw_crypto crypto;
	unsigned char sm4_key[16];
	struct crypto_sm2_key *peer_key, *own_key;
	int timeout_ms;
	int retry_max, backoff_ms;
	struct gw_breaker_cfg breaker;
	int concurrency;
	bool mock_mode;
	struct gw_method *methods;
	size_t nmethods;
};

/* Parse a stored document and its secrets (both borrowed; references taken) into a conf.
 * ERR_CONFIG with ei->msg when a key or secret does not parse. */
enum err gw_conf_build(const json_t *doc, const json_t *secrets, int64_t rev, struct gw_conf **out,
                       struct errinfo *ei, struct arena *a);
void gw_conf_put(struct gw_conf *c);
const struct gw_method *gw_conf_method(const struct gw_conf *c, const char *name);

enum gw_outcome_idx {
	GW_O_OK,
	GW_O_ERROR,
	GW_O_TIMEOUT,
	GW_O_BREAKER_OPEN,
	GW_O_MOCK,
	GW_O_REJECTED,
	GW_NOUTCOMES
};
extern const char *const gw_outcome_names[GW_NOUTCOMES];

/* The runtime state of one connector name; lives until shutdown (a deleted connector keeps
 * its counters and simply has no conf). */
struct gw_conn {
	char name[GW_NAME_MAX + 1];
	pthread_mutex_t mu;
	pthread_cond_t cv;    /* concurrency slots (CLOCK_MONOTONIC) */
	struct gw_conf *conf; /* under mu; NULL = not loaded or deleted */
	int64_t checked_ms;   /* when conf's rev was last compared with the database */
	struct gw_breaker br;
	int inflight;
	void **handles; /* idle CURL easy handles (keep-alive connections live in them) */
	size_t nhandles, handles_cap;
	char *token; /* cached access token (auth token) and its validity */
	int64_t token_until_ms;
	int64_t token_rev; /* the conf rev the token was fetched for */
	atomic_ullong outcomes[GW_NOUTCOMES];
	atomic_ullong latency_us_sum;
	struct gw_conn *next;
};

struct gw_log;

struct gateway_state {
	pthread_mutex_t mu; /* the conns list */
	struct gw_conn *conns;
	struct gw_log *log;
	char *seed_dir;          /* gateway/ in the repository, for seeding */
	int64_t (*now_ms)(void); /* monotonic ms (breaker clock) */
};

/* Module lifecycle: make srv->gateway (log writer started, seed_dir seeded into empty
 * tables; seed_dir may be NULL) and tear it down (queued log lines written first). */
enum err gw_state_create(struct server *srv, const char *seed_dir);
void gw_state_destroy(struct server *srv);

/* The runtime entry of a connector, created on first use (never NULL unless out of memory). */
struct gw_conn *gw_conn_lookup(struct gateway_state *g, const char *name);
/* Forget the loaded conf of name at once (after an edit on this node) and, with reset, the
 * breaker and token too. */
void gw_conn_invalidate(struct gateway_state *g, const char *name, bool reset_breaker);
/* The current conf of a connector (a reference: gw_conf_put it), loading or reloading it
 * from the database when it is older than GW_CONF_TTL_MS. ERR_NOT_FOUND when there is no
 * such connector. */
enum err gw_conn_conf(struct server *srv, struct gw_conn *cn, struct gw_conf **out,
                      struct errinfo *ei, struct arena *a);
/* The base URL with {{sim}} resolved (from a). */
const char *gw_resolve_base(struct server *srv, const char *base_url, struct arena *a);

/* ---- HTTP (gateway_http.c) ----------------------------------------------------------- */

enum gw_http_fail { GW_HTTP_OK, GW_HTTP_TIMEOUT, GW_HTTP_CONNECT, GW_HTTP_OTHER };

struct gw_http_req {
	const char *method;
	const char *url;            /* http:// or https:// only */
	const char *const *headers; /* "Name: value", nheaders entries */
	int nheaders;
	const char *body; /* NULL = none */
	size_t body_len;
	const char *userpwd; /* basic auth "user:password", NULL = none */
	long timeout_ms;
};

struct gw_http_resp {
	long status;
	struct buf body; /* caller inits (cap GW_BODY_MAX) and releases */
	char content_type[128];
	enum gw_http_fail fail;
	char error[256]; /* what went wrong, for the log (English, from libcurl) */
};

/* One exchange on one of the connector's pooled handles. Returns ERR_OK when an HTTP answer
 * (any status) came back; otherwise ERR_TIMEOUT / ERR_UPSTREAM (connection failed) /
 * ERR_CONFIG (URL refused) / ERR_TOO_LARGE, with rs->fail and rs->error set. */
enum err gw_http_perform(struct gw_conn *cn, const struct gw_http_req *rq, struct gw_http_resp *rs);
/* Clean up the idle handles of a connector (shutdown). */
void gw_http_pool_clear(struct gw_conn *cn);
/* Process-wide libcurl set-up (idempotent). */
enum err gw_http_global_init(void);

/* ---- SOAP (gateway_soap.c) ----------------------------------------------------------- */

/* A SOAP 1.1 envelope around body_tpl rendered against ctx with XML escaping. The rendered
 * body must be well-formed XML: ERR_INVALID (ei->msg) otherwise. */
enum err gw_soap_envelope(const char *body_tpl, const json_t *ctx, struct buf *out,
                          struct errinfo *ei, struct arena *a);
/* Parse an answer: a Fault gives ERR_UPSTREAM with *fault (faultstring, from a) and
 * *server_fault (faultcode is a Server fault); otherwise *out (new reference) holds the
 * response map's XPaths evaluated (namespaces: prefix → URI, plus those declared in
 * body_tpl; may be NULL). A map value is an XPath (string: one node → its text, several →
 * array of texts, none → null; a number/boolean/string XPath result as such) or
 * {"xpath": …, "each": {key: relative XPath}} (an array of objects). ERR_INVALID when the
 * answer is not a SOAP envelope. */
enum err gw_soap_parse(const char *xml, size_t n, const json_t *response_map,
                       const json_t *namespaces, const char *body_tpl, json_t **out,
                       const char **fault, bool *server_fault, struct arena *a);
/* Check a SOAP method when it is saved: the body template (placeholders empty) gives
 * well-formed XML and every XPath of the response map compiles. ERR_INVALID with *what
 * ("body", "response.<key>", "response.<key>.each.<key>", from a). */
enum err gw_soap_check(const char *body_tpl, const json_t *response_map, const char **what,
                       struct arena *a);
/* Process-wide libxml2 set-up (idempotent). */
void gw_soap_global_init(void);

/* ---- masking and the call log (gateway_log.c) ---------------------------------------- */

/* A masked deep copy of v (new reference): each mask path (dotted; an array on the way
 * applies the rest of the path to every element) becomes "***", and well-known keys
 * anywhere are masked (see gateway_mask). */
json_t *gw_mask_json(const json_t *v, const json_t *mask_paths);

struct gw_log_line {
	int64_t id;
	char trace_id[33];
	char connector[GW_NAME_MAX + 1];
	char method[65];
	char *caller_module, *caller_user;
	int64_t caller_user_id;
	int64_t started_at; /* wall ms */
	int64_t latency_us;
	const char *outcome; /* static */
	bool mocked;
	int http_status;
	int attempts;
	char *request, *response, *error; /* heap text (masked JSON, error message) or NULL */
	struct gw_log_line *next;
};

/* A new call id: time-ordered, unique in practice across nodes (ms << 12 | a counter
 * started at random), below 2^53 so JavaScript reads it exactly. */
int64_t gw_log_new_id(void);
enum err gw_log_start(struct server *srv, struct gw_log **out);
/* Flush everything queued, stop the writer, free. */
void gw_log_stop(struct gw_log *l);
/* Queue a line (ownership passes; NULL ignored). When the queue is full the line is
 * written by the caller at once, so nothing is dropped. */
void gw_log_submit(struct server *srv, struct gw_log *l, struct gw_log_line *line);
void gw_log_line_free(struct gw_log_line *line);
void gw_log_flush_now(struct gw_log *l);
/* YYYYMMDD of ms in China Standard Time. */
int gw_day_of(int64_t ms);

/* ---- store (gateway_store.c) --------------------------------------------------------- */

/* Validate a connector document from the API or a seed file (closed set of keys, types,
 * ranges, method names unique, SOAP methods complete). ERR_INVALID/ERR_BAD_FIELD with
 * ei->field (a JSON path) and ei->msg (zh-CN, from a). */
enum err gw_connector_validate(const json_t *doc, struct errinfo *ei, struct arena *a);
/* Split doc into the stored document (secrets removed; new reference) and the secrets
 * object (new reference; only the secrets present in doc). */
void gw_connector_split(const json_t *doc, json_t **stored, json_t **secrets);
/* The document as the API shows it: stored plus "secret_set" flags in auth and crypto
 * (new reference). */
json_t *gw_connector_public(const json_t *stored, const json_t *secrets);

/* Merge secrets given in an edit over the stored ones: a key with a string replaces, with
 * null removes, absent keeps. New reference. */
json_t *gw_secrets_merge(const json_t *old, const json_t *given);

/* Load one connector (doc and secrets opened with the keyring: new references, rev,
 * updated_at; any out pointer may be NULL). ERR_NOT_FOUND. */
enum err gw_store_connector_load(struct server *srv, struct db_conn *c, struct arena *a,
                                 const char *name, json_t **doc, json_t **secrets, int64_t *rev,
                                 int64_t *updated_at);
enum err gw_store_connector_rev(struct db_conn *c, struct arena *a, const char *name, int64_t *rev);
/* name, title, doc, rev, updated_at, updated_by, secret_enc IS NOT NULL of every connector,
 * by name. */
enum err gw_store_connector_list(struct db_conn *c, struct arena *a, struct db_rows **rows);
/* Insert (ERR_EXISTS when the name is taken; rev 1) or update with the expected rev
 * (ERR_CONFLICT when it moved, ERR_NOT_FOUND), storing secrets (the complete set) sealed.
 * Runs in the caller's transaction. *new_rev. */
enum err gw_store_connector_put(struct server *srv, struct db_conn *c, struct arena *a,
                                const json_t *stored, const json_t *secrets, bool create,
                                int64_t expect_rev, const char *user, int64_t *new_rev);
enum err gw_store_connector_delete(struct db_conn *c, struct arena *a, const char *name);

/* Mocks: validation of a mock document ({connector, method, title?, match?, status?,
 * delay_ms?, response?}); list (connector/method may be NULL), get, insert, update,
 * delete (ERR_NOT_FOUND). Rows: id, connector, method, title, doc, updated_at. */
enum err gw_mock_validate(const json_t *doc, struct errinfo *ei, struct arena *a);
enum err gw_store_mock_list(struct db_conn *c, struct arena *a, const char *connector,
                            const char *method, struct db_rows **rows);
enum err gw_store_mock_get(struct db_conn *c, struct arena *a, int64_t id, struct db_rows **rows);
enum err gw_store_mock_put(struct db_conn *c, struct arena *a, int64_t id, const json_t *doc,
                           int64_t *out_id);
enum err gw_store_mock_delete(struct db_conn *c, struct arena *a, int64_t id);

/* Call log queries. Filters may be NULL/0; from_ms/to_ms bound started_at (to exclusive);
 * before: ids below it; newest first. */
struct gw_call_filter {
	const char *connector, *method, *outcome, *trace_id;
	int64_t from_ms, to_ms, before;
	int limit;
};
enum err gw_store_calls(struct db_conn *c, struct arena *a, const struct gw_call_filter *f,
                        struct db_rows **rows);
enum err gw_store_call_get(struct db_conn *c, struct arena *a, int64_t id, struct db_rows **rows);

/* The most specific mock of (connector, method) whose match is a subset of request
 * (borrowed); *mock (new reference, the mock document) NULL when none. */
enum err gw_store_mock_find(struct db_conn *c, struct arena *a, const char *connector,
                            const char *method, const json_t *request, json_t **mock,
                            int64_t *mock_id);
/* Is every member of match present with an equal value in v (objects recursively)? */
bool gw_json_subset(const json_t *match, const json_t *v);
/* Seed connectors and mocks from seed_dir/{connectors,mocks}/ *.json into empty tables. */
enum err gw_store_seed(struct server *srv, const char *seed_dir);

/* ---- flows (gateway_flow.c, gateway_flow_store.c, gateway_flow_routes.c) ------------ */

struct outbox_event;

#define GW_FLOW_NAME_MAX     100 /* dotted lower-case name */
#define GW_FLOW_STEPS_MAX    50
#define GW_FLOW_PROBLEMS_MAX 200          /* problems listed per document (all are counted) */
#define GW_FLOW_PARAMS_MAX   (480u << 10) /* JSON of an asynchronous run's parameters */

/* [a-z][a-z0-9_]* segments joined by '.', at most GW_FLOW_NAME_MAX bytes. */
bool gw_flow_name_valid(const char *name);

/* What steps are checked against: lookup returns 0 when the connector has the method, 1 when
 * there is no such connector, 2 when it has no such method. */
struct gw_flow_registry {
	int (*lookup)(void *ctx, const char *connector, const char *method);
	void *ctx;
};
/* The connectors of the running server (the database through the gateway's cache). */
void gw_flow_registry_server(struct server *srv, struct gw_flow_registry *reg);

/* Check a flow document: closed key sets, types, name, unique step ids, connector methods
 * (reg may be NULL to skip), policies, condition syntax, and every template reference
 * (params declared, globals defined, steps only earlier ones — a step's expect and
 * compensate also see the step itself, globals see params only). Appends
 * {"path","message"} objects (zh-CN; path like "steps[2].request.case_no") to problems, at
 * most GW_FLOW_PROBLEMS_MAX; returns how many problems there were. */
size_t gw_flow_validate(const json_t *doc, const struct gw_flow_registry *reg, json_t *problems);

/* Evaluate a (checked) condition against a run context; false for anything malformed. */
bool gw_flow_cond_eval(const json_t *cond, const json_t *ctx);

/* The test seam: the engine calls connectors and masks records through these. */
typedef enum err (*gw_flow_call_fn)(void *ctx, struct server *srv, const char *connector,
                                    const char *method, const json_t *request,
                                    const struct gateway_caller *caller, struct arena *a,
                                    struct gateway_call_result *out, struct errinfo *ei);
typedef json_t *(*gw_flow_mask_fn)(void *ctx, struct server *srv, const char *connector,
                                   const char *method, const json_t *v);
struct gw_flow_hooks {
	gw_flow_call_fn call;
	void *call_ctx;
	gw_flow_mask_fn mask; /* new reference; NULL hook = unmasked copies */
	void *mask_ctx;
};
/* gateway_call and gateway_mask. */
void gw_flow_hooks_default(struct gw_flow_hooks *h);

/* The run's parameters: declared ones only, defaults applied, required and types checked
 * (ERR_INVALID, ei->field "params.<name>"). *out owned by a. */
enum err gw_flow_params(const json_t *doc, const json_t *params, struct arena *a, json_t **out,
                        struct errinfo *ei);

/* What one execution came to. JSON members are owned by the arena of the run. */
struct gw_flow_outcome {
	const char *status;         /* ok | partial | failed | compensated | compensation_failed */
	json_t *result;             /* rendered result (ok, partial), else NULL */
	json_t *steps;              /* step records, masked */
	const char *failed_step;    /* id of the step that failed the flow */
	const char *failed_outcome; /* its outcome ("error", "timeout", "unexpected", …) */
	enum err err;               /* ERR_OK, or why the flow failed (ei: the message) */
	struct errinfo ei;
	int http_status; /* of the failed step's last answer, 0 when none */
	int64_t duration_us;
	int64_t rev; /* the flow's revision that ran (set by gw_flow_run_ex) */
};

/* Execute a document with prepared parameters (gw_flow_params) and run = {id,
 * idempotency_key, attempt, flow} (borrowed, may be NULL). No database. ERR_OK whenever the
 * flow ran, whatever its outcome (see out); ERR_CONFIG for a document the engine cannot
 * interpret; ERR_NOMEM. */
enum err gw_flow_execute(struct server *srv, const struct gw_flow_hooks *h, const json_t *doc,
                         const json_t *params, const struct gateway_caller *caller,
                         const json_t *run, struct arena *a, struct gw_flow_outcome *out);

struct gw_flow_run_opts {
	const char *mode;            /* "sync" (default), "async", "debug" */
	const char *idempotency_key; /* NULL: run.idempotency_key = "flow-run-<id>" */
	int64_t event_id;            /* async: the outbox event */
	int attempt;                 /* async: the event's delivery attempt (from 1) */
};
/* gateway_flow_run with hooks and options, telling the outcome instead of folding it into
 * the return value: ERR_OK when the flow ran (out->err says whether it failed); ERR_NOT_FOUND
 * / ERR_INVALID (ei) when it could not start; database errors. */
enum err gw_flow_run_ex(struct server *srv, const struct gw_flow_hooks *h,
                        const struct gw_flow_run_opts *o, const char *flow, const json_t *params,
                        const struct gateway_caller *caller, struct arena *a,
                        struct gw_flow_outcome *out, int64_t *run_id, struct errinfo *ei);
/* The debug trace of an outcome (new reference). */
json_t *gw_flow_trace(const struct gw_flow_outcome *o, const char *flow, int64_t rev,
                      int64_t run_id);
/* The outbox handler of kind gateway.flow (an outbox_deliver_fn); ctx: struct gw_flow_hooks
 * *, NULL for the defaults. */
enum err gw_flow_deliver(void *ctx, struct server *srv, const struct outbox_event *ev, char *errmsg,
                         size_t errmsg_sz);

/* Store (gateway_flow_store.c). A row's strings and doc live in the arena. */
struct gw_flow_row {
	int64_t id, rev, created_at, updated_at;
	const char *name, *title, *source, *updated_by;
	bool deleted;
	json_t *doc;
};
/* The live (not deleted) flow; ERR_NOT_FOUND. */
enum err gw_flow_store_get(struct db_conn *c, struct arena *a, const char *name,
                           struct gw_flow_row *out);
/* Live flows by name, q (may be NULL) a substring of name or title. */
enum err gw_flow_store_list(struct db_conn *c, struct arena *a, const char *q,
                            struct gw_flow_row **out, int *n);
/* In the caller's write transaction. create: rev 1, or the next rev of a deleted flow of that
 * name; ERR_EXISTS when a live one has it. update: ERR_CONFLICT when rev moved, ERR_NOT_FOUND.
 * delete (expect_rev 0 = any): marks it deleted. */
enum err gw_flow_store_create(struct db_conn *c, struct arena *a, const json_t *doc,
                              const char *source, const char *user, int64_t now, int64_t *rev);
enum err gw_flow_store_update(struct db_conn *c, struct arena *a, const json_t *doc,
                              int64_t expect_rev, const char *user, int64_t now, int64_t *rev);
enum err gw_flow_store_delete(struct db_conn *c, struct arena *a, const char *name,
                              int64_t expect_rev, const char *user, int64_t now);

struct gw_flow_run_rec {
	const char *flow;
	int64_t flow_rev;
	const char *mode, *idempotency_key, *trace_id, *caller_module, *caller_user;
	int64_t event_id;
	int attempt;
	int64_t started_at;
};
struct gw_flow_run_end {
	const char *status, *failed_step, *error_code, *error_message;
	const char *result; /* masked JSON text or NULL */
	const json_t *steps;
	int64_t finished_at, duration_us;
};
/* A run in state running (outside a transaction); then its end and step records in one
 * transaction of its own. */
enum err gw_flow_store_run_begin(struct db_conn *c, struct arena *a,
                                 const struct gw_flow_run_rec *r, int64_t *id);
enum err gw_flow_store_run_finish(struct db_conn *c, struct arena *a, int64_t id,
                                  const struct gw_flow_run_end *end);
struct gw_flow_run_filter {
	const char *flow, *status, *idempotency_key; /* NULL = any */
	int64_t from, to;                            /* started_at in [from, to); 0 = open */
	int64_t before_id;                           /* 0 = from the newest */
	int limit;
};
/* Newest first; *out a new array of run objects. */
enum err gw_flow_store_runs(struct db_conn *c, struct arena *a, const struct gw_flow_run_filter *f,
                            json_t **out);
/* One run (new object) with its steps under "step_records"; ERR_NOT_FOUND. */
enum err gw_flow_store_run_get(struct db_conn *c, struct arena *a, int64_t id, json_t **out);
/* Store every flow file of dir whose name was never stored (checked against reg; bad files
 * are logged and skipped). *added counts them. */
enum err gw_flow_seed(struct server *srv, const char *dir, const struct gw_flow_registry *reg,
                      int *added);

/* ---- statistics (gateway_stats.c) --------------------------------------------------- */

struct gw_stats_row {
	int day; /* YYYYMMDD, China Standard Time */
	const char *connector, *method;
	int64_t count, ok; /* ok: outcome ok or mock */
	double avg_us;
	int64_t p50_us, p95_us, p99_us; /* nearest-rank percentiles */
};

/* "YYYY-MM-DD" (a real date) → YYYYMMDD. */
bool gw_parse_date(const char *s, int *day);
/* Midnight of day in China Standard Time, ms since the epoch. */
int64_t gw_day_start_ms(int day);
int gw_day_add(int day, int delta);
void gw_day_text(int day, char out[11]);
/* Rows per (day, connector, method) with day_from <= day <= day_to (connector NULL: all),
 * ordered; at most 5000 groups. Rows and strings from a. */
enum err gw_stats_compute(struct db_conn *c, struct arena *a, int day_from, int day_to,
                          const char *connector, struct gw_stats_row **rows, size_t *n);
/* [{day, connector, method, count, ok, success_rate, avg_ms, p50_ms, p95_ms, p99_ms}]. */
json_t *gw_stats_json(const struct gw_stats_row *rows, size_t n);
/* The workbook (sheet 接口调用统计) in memory from a (written through a temporary file in
 * tmp_dir, removed before returning). */
enum err gw_stats_xlsx(const struct gw_stats_row *rows, size_t n, int day_from, int day_to,
                       const char *tmp_dir, struct arena *a, const void **data, size_t *len);

#endif
