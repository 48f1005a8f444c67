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
	/* 收受分离 (cases_forward.c): mode "direct" | "separated", entry "window" | "virtual",
	 * the receiving centre (收件中心; org_id is the responsible one) and its path, and
	 * whether the caller sees the case only as its receiving centre (read-only). */
	const char *mode, *entry;
	int64_t receiving_org_id;
	const char *receiving_org_path;
	bool view_only;
};

void case_row_release(struct case_row *row);

/* Load the case numbered case_no if who may see it (its organisation, or its receiving
 * centre, is inside who's scope — row->view_only tells the second; who NULL = no scope
 * check, for jobs and benchmarks), on c (in a write transaction when the caller will change
 * the row). A writer must refuse a view_only row (cases_forward_guard). ERR_NOT_FOUND (also outside
 * the scope), ERR_DB..., ERR_INTEGRITY (sealed form does not open). */
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
/* Run the registered form guards (cases_ext_register: e.g. a signed application form) before a
 * form write; the first refusal's error, with ei naming why. */
enum err cases_form_guards(struct server *srv, struct db_conn *c, struct arena *a,
                           struct case_row *row, struct errinfo *ei);
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

/* ---- extensions: rules another module adds to cases (the signed application form,
 * src/sign/) without cases depending on it ---- */

/* Every member may be NULL. All run on any thread, concurrently. */
struct cases_ext {
	void *ctx;
	/* Inside the write unit that stores a new form (PUT /api/v1/cases/{no}/form), on the
	 * unit's connection c (statements only): return ERR_BAD_STATE with ei (field, zh-CN
	 * message) to refuse the change, ERR_OK to allow it, or a storage error. */
	enum err (*form_guard)(void *ctx, struct db_conn *c, struct arena *a,
	                       const struct case_row *row, struct errinfo *ei);
	/* Acceptance, before the write unit (c: a pool connection, no transaction): append
	 * problems {"kind","field","message"} to problems (they make the acceptance 422). */
	enum err (*accept_check)(void *ctx, struct server *srv, struct db_conn *c, struct arena *a,
	                         const struct case_catalog *cc, const struct case_row *row,
	                         json_t *problems);
	/* Material slots the module adds to the case's list (on c, in or outside a
	 * transaction): *slots (new reference, or NULL for none) is an array of slot
	 * definitions shaped like the catalog's MATERIAL ({"id","name","need","note",…}) with
	 * two more members the list uses instead of its own rules: "required_now" and
	 * "complete" (booleans). Such a slot never counts as a missing material for
	 * acceptance: the module's accept_check speaks for it. */
	enum err (*slots)(void *ctx, struct server *srv, struct db_conn *c, struct arena *a,
	                  const struct case_catalog *cc, const struct case_row *row,
	                  json_t **slots);
};
#define CASES_EXT_MAX 4
/* Register ext (copied) in a module's init, after the cases module's. ERR_CONFIG when the
 * cases module is not running, ERR_TOO_LARGE past CASES_EXT_MAX. */
enum err cases_ext_register(struct server *srv, const struct cases_ext *ext);

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
	/* extensions of other modules (cases_ext_register), set during module init only */
	struct cases_ext ext[CASES_EXT_MAX];
	int next;
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

/* ---- department decisions (cases_decide.c; docs/handoff.md "Decisions") ---- */

/* Run action ("refuse" … "withdraw", not "accept") on case_no as the system (actor
 * "system", no user, every scope) inside the caller's write unit on c, with the checks and
 * effects of cases_act (timeline, audit, outbox event case.<action>); body as cases_act takes
 * it, "version" included. The caller wakes the outbox after the commit. (cases.c) */
enum err cases_act_system(struct server *srv, struct db_conn *c, struct arena *a,
                          const char *case_no, const char *action, const json_t *body,
                          struct errinfo *ei);

/* What a department's status says. */
enum cases_decision {
	CASES_DECISION_PENDING,    /* received, processing: ask again later */
	CASES_DECISION_APPROVED,   /* complete, result approved */
	CASES_DECISION_REJECTED,   /* complete, result rejected */
	CASES_DECISION_CORRECTION, /* request_correction with the department's items */
	CASES_DECISION_CANCELLED,  /* the department cancelled it: nothing to apply */
	CASES_DECISION_UNKNOWN,    /* a status nobody mapped: an error, asked again later */
};
/* The decision of a department status, as the generic applications say it ("received",
 * "processing", "approved", "rejected", "correction", "cancelled") or as the police's SOAP
 * service does in Chinese ("受理", "办理中", "通过", "不通过", "补正", "撤销"). */
enum cases_decision cases_decision_of(const char *status);
/* The case action of a decision and its body (new reference in *body): complete {result,
 * opinion, cert_no?} — opinion the department's decision text, or 准予办理 / 不予办理 when it
 * gave none, cut to 1,000 characters — or request_correction {items: [{note, material?,
 * field?}], note} from answer's "items" (strings or {note|name|text, material, field}; at most
 * 50, each note cut to 500 characters; none: one item with the decision text). version is
 * the case's. *action NULL (and *body NULL) for pending, cancelled and unknown. */
enum err cases_decision_action(enum cases_decision d, const json_t *answer, int64_t version,
                               const char **action, json_t **body);
/* The wait before the next status poll after `checks` polls of a delivered case (0 = the
 * first, soon after delivery): 30 s doubling per poll, at most 1 hour. */
int64_t cases_decision_backoff_ms(int checks);
/* The connector that took the application in the delivering flow run: the last successful
 * call step, other than the 办件库, that answered a dept_case_no. *sys from a, NULL when the
 * run record does not say. */
enum err cases_dept_system_of_run(struct db_conn *c, struct arena *a, int64_t run_id,
                                  const char **sys);
/* Write the outbox event that tells the department a delivered case was withdrawn (kind
 * case.dept_cancel, key "cancel:<case_no>"), inside the caller's write unit; ERR_OK when it
 * exists already. */
enum err cases_dept_cancel_enqueue(struct db_conn *c, struct arena *a, int64_t case_id,
                                   const char *case_no);
/* Register the job cases.decisions and the outbox handler of case.dept_cancel (from
 * cases_handoff_start, i.e. the module's init). */
enum err cases_decide_start(struct server *srv);

/* ---- 办件库 stage reports (cases_bjk.c; docs/handoff.md "办件库 stages") ---- */

/* The 办件库 stage of a timeline row: "handle" for start, and for request_correction /
 * resume of an accepted case; "finish" for complete, and withdraw of an accepted case; NULL
 * when the row is not reported (acceptance is the submit flow's; anything of a draft). */
const char *cases_bjk_stage_of(const char *action, const char *from, const char *to);
/* The `bjk` member of the case: {"stages": [{"stage","action","state","at","error"}]} —
 * accept from the delivery, then one per reported timeline row (new reference in *out). */
enum err cases_bjk_stages(struct db_conn *c, struct arena *a, const char *case_no, json_t **out);
/* Register the after-commit hooks (start, request_correction, resume, complete, withdraw:
 * they enqueue the stage reports, and the department's cancel of a delivered case that was
 * withdrawn) and the outbox handler of bjk.report. */
enum err cases_bjk_start(struct server *srv);

/* ---- 收受分离 (cases_forward.c; docs/cases.md "收受分离") ---- */

/* May a case of an item (its `separated` and `vwin_mode`) be opened in mode ("direct" |
 * "separated") through entry ("window" | "virtual")? ERR_OK, or ERR_INVALID (mode or entry
 * not a known value; separated for an item without 收受分离) or ERR_BAD_STATE (the entry is
 * closed by vwin_mode), with ei's field ("mode" | "entry") and zh-CN message (static). */
enum err cases_entry_check(bool separated, const char *vwin_mode, const char *mode,
                           const char *entry, struct errinfo *ei);
/* May who run action ("accept", "withdraw", "form", …) on a case in state? A view-only
 * caller (the receiving centre after forwarding) may only withdraw a forwarded case; a
 * forwarded case is withdrawn only by a caller whose scope covers its receiving centre.
 * ERR_OK or ERR_FORBIDDEN with a zh-CN message in ei. */
enum err cases_forward_guard(const struct principal *who, const char *state, const char *action,
                             bool view_only, const char *receiving_path, struct errinfo *ei);
/* Is action offered on row to who now (the `actions` of the case)? */
/* The actions a case's mode (direct / separated) rules out: forward only a separated case;
 * a separated draft is forwarded, not accepted where it was collected. ERR_BAD_STATE with
 * field "mode" and why (ei may be NULL). */
enum err cases_mode_check(const struct case_row *row, const char *action, struct errinfo *ei);
bool cases_action_offered(const struct case_row *row, const struct principal *who,
                          const char *action);
/* POST /api/v1/cases/{no}/forward {"version","target","note"?}: check as acceptance does
 * (form, pre-review, materials: ERR_INVALID with *problems), then forward the draft to the
 * centre coded target in one write unit. *out is the case as the caller sees it now. */
enum err cases_forward_act(struct server *srv, const struct cases_caller *by, struct arena *a,
                           const char *case_no, const json_t *body, json_t **out, json_t **problems,
                           struct errinfo *ei);
/* GET /api/v1/cases/{no}/forward-targets: {"case_no","district": {code,name} | null,
 * "targets": [{"code","name","district":{code,name},"street":{code,name},"suggested"}]}. */
enum err cases_forward_targets(struct server *srv, const struct cases_caller *by, struct arena *a,
                               const char *case_no, json_t **out, struct errinfo *ei);
/* The 收受分离 members of the case answer (mode, entry, receiving_org, responsible_org,
 * forwarded, view_only) added to o. */
enum err cases_forward_describe(struct db_conn *c, struct arena *a, const struct case_row *row,
                                json_t *o);

/* Shared with cases_forward.c by cases.c: the acceptance checks without an override (form,
 * pre-review, materials, the applicant of the hand-off) — ERR_INVALID with *problems (new
 * reference) — and fp, the materials' fingerprint they saw; case_materials_fingerprint
 * reads it again inside a write unit. */
enum err case_ready_check(struct server *srv, const struct cases_caller *by, struct db_conn *c,
                          struct arena *a, struct case_row *row, json_t **problems, int64_t fp[2],
                          struct errinfo *ei);
enum err case_materials_fingerprint(struct db_conn *c, struct arena *a, int64_t case_id,
                                    int64_t fp[2]);
/* Timeline, audit entry and outbox event of one action inside the write unit (docs/cases.md);
 * also_path (may be NULL): a second organisation path whose case lists the event refreshes
 * (the receiving centre of a forwarded case). */
enum err case_record(struct server *srv, const struct cases_caller *by, struct db_conn *c,
                     struct arena *a, int64_t case_id, const char *case_no, int64_t org_id,
                     const char *org_path, const char *sub_code, const char *action,
                     const char *from, const char *to, int64_t new_version, const char *detail,
                     const char *also_path);

#endif
