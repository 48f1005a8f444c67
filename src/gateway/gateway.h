/* gateway.h: the interface service platform (接口服务平台) — the one public header of
 * src/gateway/. docs/gateway.md is the design and the data formats.
 *
 * Every exchange with another system goes through here. A connector (a JSON document in the
 * database, seeded from gateway/connectors/) describes one external system: base URL,
 * protocol (REST/JSON or SOAP/XML), auth, crypto profile, timeouts, retry, circuit breaker,
 * concurrency cap and live/mock mode, and its methods. gateway_call runs one method; flows
 * (below, G2's section) chain calls. Every call writes one call-log row.
 *
 * Threads: every function here may be called from any thread at once, after the module's
 * init and before its release. */
#ifndef SHOULI_GATEWAY_H
#define SHOULI_GATEWAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "server/server.h"

struct db_conn;

/* ---------------------------------------------------------------------------------------
 * Connectors and calls
 * ------------------------------------------------------------------------------------- */

/* Who is calling, for the call log and the mock switch. Strings are borrowed for the call;
 * any may be NULL. trace_id: 32 hex digits of the caller's W3C trace (sent downstream as
 * traceparent and logged); NULL or malformed starts a new trace. force_mock: answer from
 * the connector's mocks even when it is live (training, tests, a debug caller). */
struct gateway_caller {
	const char *module;
	const char *user;
	int64_t user_id;
	const char *trace_id;
	bool force_mock;
};

/* Outcomes of a call, as logged: */
#define GATEWAY_OUTCOME_OK           "ok"           /* the system answered 2xx */
#define GATEWAY_OUTCOME_ERROR        "error"        /* it answered an error, or the call failed */
#define GATEWAY_OUTCOME_TIMEOUT      "timeout"      /* no answer within the timeout */
#define GATEWAY_OUTCOME_BREAKER_OPEN "breaker_open" /* refused: the breaker is open */
#define GATEWAY_OUTCOME_MOCK         "mock"         /* answered 2xx from a mock */
#define GATEWAY_OUTCOME_REJECTED     "rejected"     /* refused: concurrency cap, bad request */

struct gateway_call_result {
	int http_status;     /* last HTTP status (or the mock's); 0 when none was received */
	json_t *response;    /* the answer (REST body, SOAP extraction, mock response), or the
	                        error body the system sent; owned by the arena (json_arena_own);
	                        NULL when there was none */
	const char *outcome; /* one of GATEWAY_OUTCOME_* (static string) */
	int64_t latency_us;  /* whole call, waiting and retries included */
	int attempts;        /* HTTP attempts made (0 for mocks and refusals) */
	int64_t call_id;     /* id of the call-log row (written asynchronously: it may take a
	                        moment to appear; gateway_log_flush forces it) */
};

/* Call one method of one connector. request: JSON (REST body — for GET/DELETE its scalars
 * not used in the path become the query string — or the SOAP template's input), borrowed;
 * NULL means {}. Blocks up to the method's timeout (+ retries). Every call is logged.
 * ERR_OK with outcome "ok"/"mock" on success; ERR_UPSTREAM (the system answered an error;
 * ei->msg says what in zh-CN), ERR_TIMEOUT, ERR_UNAVAILABLE (breaker open or concurrency
 * cap), ERR_NOT_FOUND (no such connector/method), ERR_CONFIG (connector unusable: bad URL,
 * missing secret, unsupported crypto). ei->msg (from a) is set on every failure; out is
 * filled on success and failure alike (outcome and latency at least). */
enum err gateway_call(struct server *srv, const char *connector, const char *method,
                      const json_t *request, const struct gateway_caller *caller, struct arena *a,
                      struct gateway_call_result *out, struct errinfo *ei);

/* Templates (docs/gateway.md): render tpl against ctx ({"params":…,"globals":…,"steps":…,
 * "request":…, "trace_id":…}); returns a new reference (NULL only when out of memory).
 * A string that is exactly "{{path}}" becomes the value at path (any type, null when
 * missing); other strings interpolate {{path}} as text ("" when missing). Paths are dotted
 * (array elements by index: "steps.q.response.items.0.name"); "now" (ISO time, CST),
 * "uuid" (random v4) and "trace_id" (ctx's, else "") are built in. */
json_t *gateway_tpl_render(const json_t *tpl, const json_t *ctx);

/* A masked copy of v for logs and run records (new reference; NULL when v is NULL): the
 * connector method's "mask" paths become "***" and well-known keys anywhere in the tree
 * (id_number, phone, mobile, name, bank_account, account, password, secret, token…) are
 * masked as src/sensitive/ shows them. Unknown connector/method: the well-known keys only. */
json_t *gateway_mask(struct server *srv, const char *connector, const char *method,
                     const json_t *v);

/* Write the call-log lines queued so far (the log is written by a background thread in
 * batches). For readers that must see their own calls at once. */
void gateway_log_flush(struct server *srv);

/* Append the gateway's Prometheus metrics (calls by connector and outcome, breaker state
 * per connector) to out. */
enum err gateway_metrics(struct server *srv, struct buf *out);

/* The module: connectors, mocks, call log, statistics (/api/v1/admin/gateway/...). */
extern const struct module gateway_module;

/* ---------------------------------------------------------------------------------------
 * Open APIs (inbound): gateway_open.c, gateway_open_store.c, gateway_open_routes.c
 *
 * Other systems call /api/open/v1/... with a signed request (docs/gateway.md "Open APIs"):
 * headers X-Key-Id, X-Timestamp (ms), X-Nonce (16–64 hex), X-Signature over the string
 * below — hex(HMAC-SM3(secret, string)) for an hmac_sm3 credential, base64(DER SM2
 * signature with the default ID 1234567812345678) for an sm2 one. A grant gives a credential
 * one open API within a time window, a daily quota and a per-minute rate.
 * ------------------------------------------------------------------------------------- */

/* One decoded query-string argument, for gateway_signing_string. */
struct gateway_query_arg {
	const char *name, *value;
};

/* Append to out the string a signed request signs:
 *	METHOD "\n" TARGET "\n" TIMESTAMP "\n" NONCE "\n" hex(SM3(body))
 * TARGET is the decoded path percent-encoded (RFC 3986 unreserved characters and '/' kept,
 * every other byte %XX in upper-case hex), followed, when there are query arguments, by '?'
 * and enc(name)=enc(value) of each argument (same encoding, '/' encoded too), sorted
 * bytewise by encoded name then value, joined by '&'. Without a query TARGET is the plain
 * path, e.g. "/api/open/v1/ping". args may be NULL when nargs is 0, body NULL when body_len
 * is 0. The inbound check uses it; outbound hmac_sm3 / sm2 connectors sign the same. */
enum err gateway_signing_string(struct buf *out, const char *method, const char *path,
                                const struct gateway_query_arg *args, size_t nargs,
                                const char *timestamp, const char *nonce, const void *body,
                                size_t body_len);

/* The authenticate_open hook of the HTTP layer (struct http_hooks; ctx is the struct
 * server *). For a ROUTE_OPEN route whose perm names an open API it checks, in order: the
 * headers, the credential, the timestamp (±5 min), the signature, the nonce (not seen in
 * 10 min), the credential and API enabled, then the grant (exists, time window, daily quota,
 * rate). On success r->who is the caller: username = key id, name = owner system, perms =
 * {the API's name}, city scope, user_id 0; ext is the open module's. On refusal r->err says
 * why in zh-CN: ERR_UNAUTHENTICATED (签名无效…, 时间戳超出 5 分钟, 重复的请求（nonce）),
 * ERR_FORBIDDEN (未授权调用该接口, 不在授权时段（…）, 凭据已停用, 接口已停用),
 * ERR_RATE_LIMITED (今日调用次数已用完, 调用过于频繁). Refusals of a known credential are
 * written to the open call log. */
enum err gateway_open_authenticate(void *ctx, struct req *r);

/* Retention of the open APIs' records: delete call-log rows older than keep_days days and
 * daily-quota counters of days before yesterday, in batches of 5,000 (each a statement of
 * its own, so the write lock is never held long). *deleted (may be NULL) receives the number
 * of call-log rows deleted. For the gateway's daily job (gateway.calls_daily). */
enum err gateway_open_purge(struct server *srv, int64_t now_ms, int keep_days, int64_t *deleted);

/* The module: the open APIs (/api/open/v1/ping, /catalog/items, /catalog/items/{code}) and
 * their administration (/api/v1/admin/open/...: credentials, grants, APIs and mocks, calls). */
extern const struct module open_module;

/* ---------------------------------------------------------------------------------------
 * Flows (gateway_flow.c, gateway_flow_store.c, gateway_flow_routes.c; migration 0008)
 *
 * A flow is a JSON document (docs/gateway.md "Flow"): declared parameters, globals, ordered
 * steps (each a connector call whose request is a template over {params, globals, steps of
 * earlier steps, run}), conditions (when, expect), an error policy per flow and per step —
 * stop, compensate (the compensation calls of completed steps run in reverse), continue —
 * and a result template. Flows are stored in the database (seeded from gateway/flows/ for
 * names never stored) and edited with an optimistic revision.
 *
 * Every run is recorded (gateway_runs, gateway_run_steps): each step's rendered request and
 * response masked (the method's mask list and the well-known personal keys), HTTP status,
 * outcome, duration, call-log id. Parameters themselves are not stored.
 *
 * Parameters: a value for every declared parameter that is required (or has a default);
 * parameters the flow does not declare are ignored, so a caller may hand every flow of a
 * kind the same envelope. The seeded flows (gateway/flows/, one per submit_flow and lookup
 * flow of the catalog) take:
 *   submissions: case_no, sub_item_code (required), item_code (12-digit basic or 31-digit
 *     implementation code), item_name, applicant (required), agent, guardian, helper,
 *     handler (the 办理人 decided by the sub-item's handler_rule; the 办件库 refuses a
 *     record without it), form (required: the form data as the catalog evaluates it),
 *     materials, centre {code, name}, clerk {username, name}, accepted_at (ISO time),
 *     channel ("1" 窗口 by default). Persons are {id_type, id_number, name, phone} with
 *     id_number a plain string. They answer {dept_case_no, status, reported, …};
 *   lookups (prefill): applicant (required), form. They answer a flat object with one
 *     member per prefill path the catalog uses with that flow (null when unknown) and
 *     "found" where the system says so.
 * ------------------------------------------------------------------------------------- */

#define GATEWAY_FLOW_EVENT_KIND "gateway.flow" /* outbox kind of asynchronous runs */

/* Run flow synchronously: the steps in order, then the rendered "result". Blocks for the
 * calls (each up to its method's timeout and retries); holds no database connection while
 * the systems answer. Returns ERR_OK when the flow completed (status ok, or partial when a
 * `continue` step failed) with *result (owned by a; {} when the flow has no result). On
 * failure: ERR_NOT_FOUND (no such flow; ei->field "flow"), ERR_INVALID (a parameter is
 * missing or of the wrong type; ei->field "params.<name>"), the failing step's error —
 * ERR_UPSTREAM, ERR_TIMEOUT, ERR_UNAVAILABLE — or ERR_CONFIG (a step names a connector or
 * method that no longer exists, or the stored flow is broken), with ei->msg in zh-CN naming
 * the flow and the step (and whether compensation ran); ERR_DB... when the run could not be
 * started. *run_id (may be NULL) receives the run record's id (0 when none was written).
 * debug: *trace (owned by a; may be NULL) receives, also on failure, {run_id, flow, rev,
 * status, failed_step, error, duration_us, result, steps: [per-step records, masked]}.
 * result and trace may be NULL when not wanted; ei may be NULL. */
enum err gateway_flow_run(struct server *srv, const char *flow, const json_t *params,
                          const struct gateway_caller *caller, bool debug, struct arena *a,
                          json_t **result, json_t **trace, int64_t *run_id, struct errinfo *ei);

/* Run flow asynchronously: writes an outbox event (kind gateway.flow) inside the caller's
 * open write transaction on c, so the run happens iff the caller's change commits (call
 * outbox_notify(srv->outbox) after the commit for an immediate start). The parameters are
 * sealed with the data key in the event (they carry personal data); the current thread's
 * trace id goes with them. idempotency_key (NULL = a random one; 1..200 bytes) is the
 * event's key — a second enqueue with the same key is ERR_EXISTS and the caller's
 * transaction stays usable — and reaches the run as run.idempotency_key for templates to
 * send on, since an event may be delivered more than once and a failed run is retried whole.
 * Delivery: a completed run is done; a failed one is retried with backoff (1 s doubling to
 * 10 min, 30 tries) — except an unknown flow, parameters the flow refuses, a broken flow,
 * a 4xx refusal of the external system (not 408/429) and an answer that fails a step's
 * expect, which go dead at once for an operator (GET /api/v1/admin/outbox; retry there
 * after fixing the cause). The flow need not exist yet when enqueued.
 * Errors: ERR_BAD_FIELD (malformed flow name, params not an object), ERR_TOO_LARGE (params
 * over 480 KiB as JSON), ERR_CONFIG (no key ring), ERR_EXISTS, ERR_DB.... */
enum err gateway_flow_enqueue(struct server *srv, struct db_conn *c, struct arena *a,
                              const char *flow, const json_t *params, const char *idempotency_key);

/* `shouli admin flow check [--flows DIR] [--connectors DIR] [--catalog DIR]` (argv after
 * "check"): checks every gateway/flows/ *.json against the connector files (not the
 * database): the document rules, steps naming existing connector methods, the file name
 * (<name>.json), unique names; with --catalog, every flow the catalog's items name
 * (submit_flow, lookup prefills) must have a file. Problems go to stdout, one per line
 * ("file: path: message"), the summary to stderr. Exit status 0 clean, 1 problems, 2 usage. */
int gateway_flow_check_main(int argc, char **argv);

/* The module: seeds gateway/flows/ at start, handles outbox events of kind gateway.flow,
 * and serves /api/v1/admin/flows/... and /api/v1/admin/flow-runs/... (gateway.manage to
 * change and run, gateway.read to look). List it after events_module and gateway_module. */
extern const struct module flow_module;

#endif
