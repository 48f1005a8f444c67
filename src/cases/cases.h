/* cases.h: cases (办件) — numbers, the state machine, the working-day calendar, the form,
 * acceptance, lists, detail and the receipt (docs/cases.md). The one public header of
 * src/cases/.
 *
 * Every rule is a C function here; the HTTP handlers (cases_http.c) only translate. The
 * functions take a caller (who acts, for the data scope, permissions and the audit trail)
 * and an arena for scratch memory; JSON they return is a new reference the caller owns.
 * Failures fill ei (field and a zh-CN message) when ei is given.
 *
 * Writes: each change is one durable write transaction with its timeline row
 * (case_events), audit entry (case.<action>) and outbox event (case.<action>, payload
 * {"case_no","state","org_id","org_path","sub_item_code"}); the cases module delivers
 * those events to the bus topic "scope:<org path>:cases" so the centre's lists refresh.
 *
 * Thread safety: all functions may be called from any thread once the module is started. */
#ifndef SHOULI_CASES_H
#define SHOULI_CASES_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

struct module;
struct server;
struct principal;
struct db_conn;

extern const struct module cases_module;

/* After-commit hooks: fn(srv, case_no, ctx) runs for every committed case.<action> (e.g.
 * "complete"), from the outbox: at least once, after the commit, outside any transaction,
 * so it must be idempotent. An error makes the outbox retry the event (and so every hook of
 * it) with backoff. Register in a module's init (after the cases module's): ERR_CONFIG when
 * the cases module is not running, ERR_TOO_LARGE past CASES_HOOKS_MAX. */
#define CASES_HOOKS_MAX 16
typedef enum err (*cases_hook)(struct server *srv, const char *case_no, void *ctx);
enum err cases_hook_on(struct server *srv, const char *action, cases_hook fn, void *ctx);
extern const struct module cases_materials_module;
/* For another module's route that receives a file for a case (the video session's 高拍仪
 * photo of a printed and signed form, source "kiosk_photo"): the request's raw body (type
 * by content, Content-Type as sent) becomes an entry of material mid of case_no exactly as
 * POST /api/v1/cases/{no}/materials/{mid}/files stores it — checks, durable blob, entry and
 * audit in one unit. r->who must see the case (its data scope) and is the entry's adder.
 * source: "scan" | "upload" | "kiosk_photo"; title may be NULL. *eid gets the entry id.
 * Failures are recorded on r (req_fail) and returned. */
struct req;
enum err cases_materials_upload(struct req *r, const char *case_no, const char *mid,
                                const char *source, const char *title, int64_t *eid);
extern const struct module cases_prefill_module; /* routes of 预填 and 预审 (cases_prefill.c) */

/* ---------------------------------------------------------------------------------------
 * Working-day calendar (cases_calendar.c)
 *
 * A working day is a Monday–Friday that is not a holiday, or a listed workday (调休). The
 * calendar object is plain memory (no database): the module loads calendar/<year>.json and
 * the calendar_days table into the server's calendar at start; tests build their own.
 * ------------------------------------------------------------------------------------- */

struct cases_calendar;

enum cases_day_kind { CASES_DAY_NORMAL, CASES_DAY_HOLIDAY, CASES_DAY_WORKDAY };

enum err cases_calendar_create(struct cases_calendar **out);
void cases_calendar_destroy(struct cases_calendar *cal);
/* Set one day ("YYYY-MM-DD") to kind (NORMAL removes the entry); name (may be NULL) is
 * copied. ERR_BAD_FIELD for a malformed date, ERR_NOMEM. Thread-safe. */
enum err cases_calendar_set(struct cases_calendar *cal, const char *day, enum cases_day_kind kind,
                            const char *name);
/* Load one year file's document {"year","source","holidays":[{date,name}],"workdays":[…]}
 * into cal. Every date must lie in "year". ERR_INVALID with *why (static or from a) naming
 * the problem. */
enum err cases_calendar_load_json(struct cases_calendar *cal, const json_t *doc, struct arena *a,
                                  const char **why);
/* Does the calendar hold any entry for year? (A year without entries is weekends only.) */
bool cases_calendar_has_year(struct cases_calendar *cal, int year);
/* Is day a working day? false for a malformed date. */
bool cases_calendar_is_workday(struct cases_calendar *cal, const char *day);
/* The n-th working day after day (day itself does not count), n >= 1, into out
 * ("YYYY-MM-DD"). ERR_BAD_FIELD for a malformed day or n outside 1..3650. */
enum err cases_calendar_add_workdays(struct cases_calendar *cal, const char *day, int n,
                                     char out[11]);
/* Working days in [from, to) (from counts, to does not); 0 when to <= from; -1 for a
 * malformed date. */
int cases_calendar_count_workdays(struct cases_calendar *cal, const char *from, const char *to);
/* The listed days of year as [{"date","kind","name"}] sorted by date (new reference). */
json_t *cases_calendar_year_json(struct cases_calendar *cal, int year);

/* The server's calendar (NULL before the module started). */
struct cases_calendar *cases_calendar_of(struct server *srv);
/* Years from this year to next year that have no calendar entries, as a JSON array of
 * numbers (new reference) — for /readyz warnings. */
json_t *cases_calendar_missing_years(struct server *srv);

/* ---------------------------------------------------------------------------------------
 * Cases
 * ------------------------------------------------------------------------------------- */

/* Who acts. who must be set (user, organisation, scope path, permissions); client_ip and
 * trace_id (may be NULL) go to the audit trail. */
struct cases_caller {
	const struct principal *who;
	const char *client_ip;
	const char *trace_id;
};

/* Open a draft for sub_item_code and resident_id (POST /api/v1/cases). The caller's
 * organisation must be a centre (ERR_FORBIDDEN otherwise). The sub-item's current version
 * is pinned. channel 1..9 (0 = 1 窗口). When the resident has an open case of the sub-item
 * and allow_duplicate is false: ERR_DUPLICATE with *duplicates (new reference, array of
 * case numbers). On success *out is the case as cases_get shows it. */
struct cases_open_req {
	const char *sub_item_code;
	int64_t resident_id;
	int channel;
	bool allow_duplicate;
	/* 收受分离: mode "direct" (NULL) | "separated", entry "window" (NULL) | "virtual" (a
	 * 远程虚拟窗口); checked against the item's separated and vwin_mode (cases_entry_check) */
	const char *mode, *entry;
	/* A case opened inside a virtual-window session (entry "virtual"): the session id, the
	 * point code and its kind ("extension" | "home"), recorded on the case (0/NULL: none).
	 * in_unit, when set, runs inside the opening's write unit after the case row exists
	 * (c is that unit's connection, case_no the new number): the caller's own writes (the
	 * session's link) commit or roll back with the case. Its failure aborts the opening. */
	int64_t vwin_session_id;
	const char *vwin_point, *vwin_point_kind;
	enum err (*in_unit)(struct db_conn *c, void *ctx, const char *case_no);
	void *in_unit_ctx;
};
enum err cases_open(struct server *srv, const struct cases_caller *by, struct arena *a,
                    const struct cases_open_req *in, json_t **out, json_t **duplicates,
                    struct errinfo *ei);

/* Store the form data of a draft or correction (PUT /api/v1/cases/{no}/form). version is
 * the case version the clerk edited (stale → ERR_CONFLICT). Fields whose value came from
 * prefill and changed become {"source":"clerk"} in the sources. *out: {"version",
 * "evaluation": {"valid","violations","visible","required","computed","prereview"}}. */
enum err cases_save_form_data(struct server *srv, const struct cases_caller *by, struct arena *a,
                              const char *case_no, int64_t version, const json_t *data,
                              json_t **out, struct errinfo *ei);

/* Run action ("accept", "refuse", "request_correction", "resume", "start", "complete",
 * "withdraw", "forward" (收受分离, docs/cases.md)) with body (the action's members, "version"
 * included; see docs/cases.md). ERR_BAD_STATE names both states; ERR_CONFLICT on a stale version;
 * for accept, ERR_INVALID with *problems (new reference: [{"kind","field","message"}]). *out is the
 * case as cases_get shows it. */
enum err cases_act(struct server *srv, const struct cases_caller *by, struct arena *a,
                   const char *case_no, const char *action, const json_t *body, json_t **out,
                   json_t **problems, struct errinfo *ei);

/* Where successful acceptances spent their time since start (for /metrics and the bench):
 * check = load, form, pre-review, materials, sealing (before the write lock); tx = the
 * statements of the write transaction (lock wait included); commit = the durable commit. */
struct cases_accept_stats {
	uint64_t n, check_ns, tx_ns, commit_ns;
};
void cases_accept_stats(struct server *srv, struct cases_accept_stats *out);

/* Is action allowed from state? *to (may be NULL) gets the target state ("" for resume,
 * whose target is the state before the correction). Unknown action or state: false. */
bool cases_transition(const char *state, const char *action, const char **to);
/* zh-CN names: "已受理", "不予受理"; the input itself when unknown. */
const char *cases_state_label(const char *state);
const char *cases_action_label(const char *action);
/* The state table, for tests: names of every state and action (NULL-terminated). */
extern const char *const cases_states[];
extern const char *const cases_actions[];

/* The case (GET /api/v1/cases/{no}): {"case_no","state","state_label","version",
 * "org": {"id","code","name"}, "item": {"code","name"}, "sub_item": {"code","name"},
 * "case_type","promised_days","promised_date","overdue","channel","resident_id",
 * "applicant": {"name","id_number"} (masked), "form","sources","prefill_errors",
 * "prereview","override","correction","parties": [{"role","id_type","id_number","name",
 * "phone"}] (masked unless the caller holds ident.read), "materials": {"complete",
 * "missing"} or null, "result","result_opinion","cert_no","closed_reason",
 * "accepted_at","accepted_by","created_by","created_at","updated_at",
 * "events": [{"at","actor","action","from","to","detail"}]}. ERR_NOT_FOUND outside the
 * caller's scope. */
enum err cases_get(struct server *srv, const struct cases_caller *by, struct arena *a,
                   const char *case_no, json_t **out);

/* GET /api/v1/cases. view "today" (opened today), "mine" (opened by the caller), "correction"
 * (in correction), "overdue", "all" (default); state filters further; q is a case number
 * prefix or an ID number (blind index); before is a case id (paging, newest first); limit
 * 1..200 (0 = 50). *out: {"cases": [{"id","case_no","state","state_label","sub_item":
 * {"code","name"},"applicant":{"name","id_number"} (masked),"case_type","promised_date",
 * "overdue","created_at","created_by"}], "next_before": id or null}. */
struct cases_list_query {
	const char *view, *state, *q;
	int64_t before;
	int limit;
};
enum err cases_list(struct server *srv, const struct cases_caller *by, struct arena *a,
                    const struct cases_list_query *q, json_t **out, struct errinfo *ei);

/* The receipt content (GET /api/v1/cases/{no}/receipt): kind "accepted" (受理回执),
 * "refused" (不予受理告知书) or "correction" (补正告知书); ERR_BAD_STATE for a draft or a
 * withdrawn case. */
enum err cases_receipt(struct server *srv, const struct cases_caller *by, struct arena *a,
                       const char *case_no, json_t **out, struct errinfo *ei);

#endif
