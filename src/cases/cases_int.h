/* cases_int.h: what the parts of src/cases/ share (not for other modules: they use cases.h).
 *
 * The parts: cases.c (state machine, actions, numbers), cases_calendar.c (working days),
 * cases_store.c (SQL of cases, parties, events), cases_http.c (routes of cases),
 * cases_prefill.c and cases_prereview.c (预填, 预审), cases_materials.c (materials of a case,
 * with its own routes). docs/cases.md is the design. */
#ifndef SHOULI_CASES_INT_H
#define SHOULI_CASES_INT_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cases/cases.h"
#include "core/arena.h"
#include "core/err.h"

struct server;
struct db_conn;
struct principal;
struct catalog_ref;

/* One case as loaded for an action. Strings live in the arena given to case_load; form is a
 * new reference owned by the row (case_row_release drops it). */
struct case_row {
	int64_t id;
	const char *case_no;
	int64_t org_id;
	const char *org_path; /* materialised path of the case's organisation */
	int64_t resident_id;
	const char *sub_item_code;
	const char *item_code;
	int64_t version_id; /* catalog_versions.id pinned at opening */
	int case_type;      /* 1 即办件, 2 承诺件 */
	int promised_days;
	const char *state; /* "draft", "accepted", ... */
	int64_t version;   /* optimistic counter */
	int channel;
	json_t *form;           /* decrypted form data ({} when none yet) */
	json_t *sources;        /* prefill sources (object), never NULL after a load */
	json_t *prefill_errors; /* array, never NULL after a load */
	int64_t created_by;
	int64_t created_at, updated_at;
};

void case_row_release(struct case_row *row);

/* Load the case numbered case_no if who may see it (its organisation is inside who's
 * scope; who NULL = no scope check, for jobs and benchmarks), on c (in a write transaction
 * when the caller will change the row). ERR_NOT_FOUND (also outside the scope),
 * ERR_DB..., ERR_INTEGRITY (sealed form does not open). */
enum err case_load(struct server *srv, struct db_conn *c, struct arena *a,
                   const struct principal *who, const char *case_no, struct case_row *out);

/* The pinned item document and its sub-item (borrowed from item), with the reference data
 * to evaluate it against. Release with case_catalog_release. */
struct case_catalog {
	json_t *item;                  /* new reference */
	const json_t *sub_item;        /* borrowed from item */
	const struct catalog_ref *ref; /* borrowed from snap */
	void *snap;                    /* the catalog snapshot reference held */
};
enum err case_catalog_get(struct server *srv, struct db_conn *c, struct arena *a,
                          const struct case_row *row, struct case_catalog *out);
void case_catalog_release(struct case_catalog *cc);

/* Store row->form, row->sources and row->prefill_errors (sealed) and bump the version, if
 * row->version still matches the stored one (ERR_CONFLICT otherwise); inside the caller's
 * write transaction. row->version is the new version afterwards. */
enum err case_save_form(struct server *srv, struct db_conn *c, struct arena *a,
                        struct case_row *row);

/* ---- pre-review (cases_prereview.c) ---- */

/* Evaluate the sub-item's prereview rules on row->form (no network: lookups were gathered by
 * prefill, and their failures are in row->prefill_errors). *verdicts (new reference) gets one
 * entry per rule: {"id","severity","verdict":"pass"|"warn"|"block"|"unknown"|"skipped",
 * "message","field"}; *blocked = some verdict is block. today "YYYY-MM-DD". */
enum err cases_prereview_eval(const struct case_catalog *cc, const struct case_row *row,
                              const char *today, json_t **verdicts, bool *blocked);

/* ---- prefill (cases_prefill.c) ---- */

/* Gather prefill values for row (see docs/cases.md), merging into row->form (empty fields
 * only unless overwrite) and updating row->sources / row->prefill_errors; *filled gets the
 * number of fields filled. Runs flows (network): call it outside any transaction; the
 * caller saves with case_save_form afterwards. who is the clerk (for flow calls' caller). */
enum err cases_prefill_gather(struct server *srv, const struct principal *who, struct arena *a,
                              const struct case_catalog *cc, struct case_row *row, bool overwrite,
                              int *filled, struct errinfo *ei);

/* ---- materials (cases_materials.c) ---- */

/* The materials of the case against the sub-item's list: *missing (new reference) is an
 * array of {"id","name"} of required-now slots without an entry. Inside or outside a
 * transaction on c. */
enum err cases_materials_missing(struct server *srv, struct db_conn *c, struct arena *a,
                                 const struct case_catalog *cc, const struct case_row *row,
                                 const char *today, json_t **missing);
/* Receipt lines: [{"id","name","count","original","copies","entries":n}] of slots with
 * entries (new reference). */
enum err cases_materials_received(struct server *srv, struct db_conn *c, struct arena *a,
                                  const struct case_catalog *cc, const struct case_row *row,
                                  json_t **lines);

extern const struct module cases_materials_module;

/* ---- the core of the module (cases.c, cases_store.c, cases_calendar.c, cases_http.c) ---- */

struct catalog_doc_cache;
struct cases_calendar;

/* Per-server state, made by the module's init. */
struct cases_state {
	struct server *srv;
	struct catalog_doc_cache *docs; /* parsed item documents of pinned versions */
	struct cases_calendar *cal;
	char *calendar_dir; /* calendar/ next to the binary (heap) */
	/* where acceptance spends its time (cases_accept_stats) */
	_Atomic uint64_t acc_n, acc_check_ns, acc_tx_ns, acc_commit_ns;
	/* after-commit hooks of other modules (cases_hook_on), set during module init only */
	struct {
		const char *action;
		cases_hook fn;
		void *ctx;
	} hooks[CASES_HOOKS_MAX];
	int nhooks;
};
/* The state of srv's cases module; NULL when the module is not running. */
struct cases_state *cases_state_of(struct server *srv);
enum err cases_module_init(struct server *srv);
void cases_module_release(struct server *srv);
/* Calendar part of the module init: load calendar/<year>.json into calendar_days (the files
 * win for the days they list), then the table into the server's calendar. */
enum err cases_calendar_start(struct server *srv, struct cases_state *st);

/* Today in China Standard Time, "YYYY-MM-DD"; the day of ms likewise. */
void cases_today(char out[11]);
void cases_day_of(int64_t ms, char out[11]);

/* Seal / open a JSON value for a keyring context ("cases.form", ...): compact text
 * encrypted with keyring_encrypt. *blob comes from a. */
enum err case_seal_json(struct server *srv, struct arena *a, const char *context, const json_t *v,
                        const void **blob, size_t *n);
enum err case_open_json(struct server *srv, struct arena *a, const char *context, const void *blob,
                        size_t n, json_t **out);

/* The rest of a case's row that the core needs (strings from the arena; NULL when NULL). */
struct case_more {
	const char *prev_state, *promised_date, *paused_day, *correction, *prereview, *override;
	const char *item_name, *sub_item_name, *applicant_mask, *applicant_id_mask;
	int64_t accepted_at, accepted_by;
	int paused_days;
};
enum err case_load_more(struct db_conn *c, struct arena *a, int64_t case_id, struct case_more *out);

/* Append a timeline row inside the caller's write transaction. detail: JSON text or NULL. */
enum err case_store_event(struct db_conn *c, struct arena *a, int64_t case_id,
                          const struct principal *who, const char *action, const char *from,
                          const char *to, const char *detail);

/* ---- group commit (cases.c, cases_store.c) ---- */

/* case_save_form in two halves, so that sealing (the CPU part) happens before the write
 * unit: case_seal_form seals row's form, sources and prefill errors (memory from a);
 * case_store_form stores them inside the caller's write transaction with the checks and
 * effects of case_save_form (ERR_CONFLICT on a stale version, ERR_BAD_STATE outside draft
 * and correction; row->version is the new version afterwards). */
struct case_sealed_form {
	const void *form, *sources, *prefill_errors;
	size_t form_n, sources_n, prefill_errors_n;
};
enum err case_seal_form(struct server *srv, struct arena *a, const struct case_row *row,
                        struct case_sealed_form *out);
enum err case_store_form(struct db_conn *c, struct arena *a, struct case_row *row,
                         const struct case_sealed_form *s);

/* ---- hand-off to the department (cases_handoff.c; docs/handoff.md) ---- */

/* Outbox kind of a delivery; its idempotency key is "submit:<case_no>". */
#define CASES_HANDOFF_KIND "case.handoff"

/* The 办理人 of the 办件库 record (spec 6.0). */
enum cases_handler_role { CASES_HANDLER_APPLICANT, CASES_HANDLER_AGENT, CASES_HANDLER_GUARDIAN };
/* "applicant", "agent", "guardian". */
const char *cases_handler_role_name(enum cases_handler_role r);
/* Who is 办理人, from the sub-item's handler_rule (applicant | agent | guardian |
 * disabled_helper; NULL or unknown = the general rule) and the parties present; canlian: the
 * item is one of 残联. The 办件库 rule decides: a 残联 item with a helper → the applicant (the
 * helper never is); else a guardian → the guardian; else an agent → the agent; else the
 * applicant. *deviates (may be NULL) is set when the catalog's rule on its own would have named
 * someone else (e.g. an agent present on an "applicant" item), so the caller can log it. */
enum cases_handler_role cases_handler_pick(const char *rule, bool canlian, bool agent,
                                           bool guardian, bool helper, bool *deviates);
/* The party role of form as the submit flows take it: {"id_type","id_number","name","phone"}
 * (new reference), id_number a plain string, id_type "111" when the form does not say; NULL
 * when absent (agent/guardian/helper not present, or neither number nor name). A helper
 * without a document stands by its staff number (id_type "staff_no"). profile (PROFILE of
 * ident.h, may be NULL) completes the applicant's number, name and phone. */
json_t *cases_handoff_person(const json_t *form, const char *role, const json_t *profile);

/* A delivery planned by acceptance: flow NULL when the sub-item names no submit_flow
 * (nothing to deliver). Strings from the arena. at: the acceptance time the parameters carry
 * (acceptance stores the same). */
struct cases_handoff {
	const char *flow, *payload, *key;
	int64_t at;
};
/* Build the submit flow's parameters of an accepted case (docs/handoff.md), sealed into the
 * event payload: reads code changes, the centre, the materials and (when the form lacks the
 * applicant's document or name) the resident on c. No network. ERR_INVALID (ei: applicant)
 * when the applicant cannot be named; ERR_DB..., ERR_CONFIG (no key ring), ERR_NOMEM. */
enum err cases_handoff_plan(struct server *srv, struct db_conn *c, struct arena *a,
                            const struct case_catalog *cc, const struct case_row *row,
                            const struct principal *clerk, struct cases_handoff *out,
                            struct errinfo *ei);
/* Write the planned delivery as an outbox event inside the acceptance's write unit on c
 * (nothing when h->flow is NULL). ERR_EXISTS when the case had one already. */
enum err cases_handoff_enqueue(struct db_conn *c, struct arena *a, const struct case_row *row,
                               const struct cases_handoff *h);
/* Register the outbox handler of CASES_HANDOFF_KIND (idempotent; a no-op without an outbox).
 * Belongs in the module's init, so that deliveries pending across a restart resume. */
enum err cases_handoff_start(struct server *srv);
/* The delivery state of a case: "delivered" once recorded; else from the event's status —
 * "pending" (not tried yet), "delivering", "failed" (tried, waiting for the next try), "dead"
 * (for an operator), "cancelled" (withdrawn before it left); NULL when there is no delivery
 * (not accepted, or no submit flow). */
const char *cases_delivery_state(const char *case_state, const char *event_status, int attempts,
                                 bool delivered);
/* The `delivery` member of the case: {"state","state_label","attempts","last_error",
 * "dept_case_no","delivered_at","next_attempt_at","reported","run_id"?,"event_id"?}, or JSON
 * null when there is none (new reference in *out). ERR_NOT_FOUND, ERR_DB.... */
enum err cases_handoff_delivery(struct db_conn *c, struct arena *a, const char *case_no,
                                json_t **out);

#endif
