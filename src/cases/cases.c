/* cases.c: the state machine, numbers, opening a case, the form, and the actions
 * (docs/cases.md "Numbers", "States and actions", "Opening a case and the form").
 *
 * Every change (open, form save, each action) is one write unit (db_write_unit): stored
 * whole or not at all and durable when the call returns, its commit shared with the units
 * other clerks submit at the same moment (group commit). A unit holds only statements: the
 * costly, side-effect-free work (opening the sealed form, evaluating it against the pinned
 * sub-item, pre-review, the materials check, sealing the form and the parties) happens
 * before it, on a pool connection that is released first; inside, the row's version and
 * state are re-checked by the guarded UPDATE itself and the materials by a fingerprint, so
 * what was checked is what gets accepted. outbox_notify follows the commit, never the unit. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "cases/cases_int.h"
#include "catalog/catalog.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "events/events.h"
#include "ident/ident.h"
#include "sensitive/sensitive.h"
#include "server/server.h"

#define DB_WAIT_MS 5000

/* ---- the state machine ---------------------------------------------------------------- */

const char *const cases_states[] = {"draft",      "accepted",  "in_progress",
                                    "correction", "completed", "refused",
                                    "withdrawn",  "forwarded", NULL};
const char *const cases_actions[] = {"accept",   "refuse",  "request_correction",
                                     "resume",   "start",   "complete",
                                     "withdraw", "forward", NULL};

/* The one table of legal transitions. to "" = back to the state before the correction. */
static const struct transition {
	const char *action;
	const char *from[6];
	const char *to;
} transitions[] = {
    /* a forwarded case (收受分离) is a draft at the responsible centre */
    {"accept", {"draft", "forwarded"}, "accepted"},
    {"refuse", {"draft", "forwarded"}, "refused"},
    {"request_correction", {"draft", "forwarded", "accepted", "in_progress"}, "correction"},
    {"resume", {"correction"}, ""},
    {"start", {"accepted"}, "in_progress"},
    {"complete", {"accepted", "in_progress"}, "completed"},
    {"withdraw", {"draft", "forwarded", "accepted", "correction", "in_progress"}, "withdrawn"},
    /* only a separated draft (cases_forward.c checks the mode) */
    {"forward", {"draft"}, "forwarded"},
};

static const struct transition *transition_of(const char *action)
{
	for (size_t i = 0; action && i < sizeof(transitions) / sizeof(transitions[0]); i++)
		if (!strcmp(transitions[i].action, action))
			return &transitions[i];
	return NULL;
}

bool cases_transition(const char *state, const char *action, const char **to)
{
	const struct transition *t = transition_of(action);
	if (to)
		*to = NULL;
	for (size_t i = 0; t && state && i < 6 && t->from[i]; i++)
		if (!strcmp(t->from[i], state)) {
			if (to)
				*to = t->to;
			return true;
		}
	return false;
}

static bool terminal(const char *state)
{
	return !strcmp(state, "completed") || !strcmp(state, "refused") ||
	       !strcmp(state, "withdrawn");
}

static const char *label(const char *const *keys, const char *const *names, const char *k)
{
	for (size_t i = 0; k && keys[i]; i++)
		if (!strcmp(keys[i], k))
			return names[i];
	return k;
}

const char *cases_state_label(const char *state)
{
	static const char *const names[] = {
	    "待受理", "已受理",   "办理中", "补正中",
	    "已办结", "不予受理", "已撤回", "已转交，待受理中心受理"};
	return label(cases_states, names, state);
}

const char *cases_action_label(const char *action)
{
	static const char *const names[] = {"受理",       "不予受理", "补正", "补正完成",
	                                    "转部门办理", "办结",     "撤回", "转交受理中心"};
	return label(cases_actions, names, action);
}

/* ---- extensions ------------------------------------------------------------------------- */

enum err cases_ext_register(struct server *srv, const struct cases_ext *ext)
{
	struct cases_state *st = cases_state_of(srv);
	if (!st || !ext)
		return ERR_CONFIG;
	if (st->next >= CASES_EXT_MAX)
		return ERR_TOO_LARGE;
	st->ext[st->next++] = *ext;
	return ERR_OK;
}

/* ---- small helpers ---------------------------------------------------------------------- */

static bool has_perm(const struct principal *p, const char *perm)
{
	for (int i = 0; p && i < p->nperms; i++)
		if (!strcmp(p->perms[i], perm))
			return true;
	return false;
}

/* A string member of body with a length in characters; absent is fine unless required. */
static enum err text_member(const json_t *body, const char *key, bool required, size_t min,
                            size_t max, const char *label, struct arena *a, struct errinfo *ei,
                            const char **out)
{
	const json_t *v = json_object_get(body, key);
	*out = NULL;
	if (!v || json_is_null(v)) {
		if (required)
			return err_fail(ei, ERR_MISSING_FIELD, key,
			                arena_printf(a, "请填写%s", label));
		return ERR_OK;
	}
	const char *s = json_string_value(v);
	if (!s)
		return err_fail(ei, ERR_BAD_FIELD, key, arena_printf(a, "%s应为文本", label));
	struct str t = str_trim(str_from(s));
	size_t n = utf8_len(t.p, t.n);
	if (!utf8_valid(t.p, t.n) || n < min || n > max) {
		if (!n && required)
			return err_fail(ei, ERR_MISSING_FIELD, key,
			                arena_printf(a, "请填写%s", label));
		return err_fail(ei, ERR_BAD_FIELD, key,
		                arena_printf(a, "%s应为 %zu–%zu 个字", label, min, max));
	}
	*out = arena_strndup(a, t.p, t.n);
	return *out ? ERR_OK : ERR_NOMEM;
}

static enum err version_member(const json_t *body, struct errinfo *ei, int64_t *version)
{
	const json_t *v = json_object_get(body, "version");
	if (!v)
		return err_fail(ei, ERR_MISSING_FIELD, "version", "请提供办件版本号（version）");
	if (!json_is_integer(v) || json_integer_value(v) < 1)
		return err_fail(ei, ERR_BAD_FIELD, "version", "办件版本号（version）应为正整数");
	*version = json_integer_value(v);
	return ERR_OK;
}

static enum err state_error(struct arena *a, struct errinfo *ei, const char *state,
                            const char *action)
{
	return err_fail(ei, ERR_BAD_STATE, "state",
	                arena_printf(a, "办件当前状态为“%s”，不能执行“%s”",
	                             cases_state_label(state), cases_action_label(action)));
}

static enum err conflict(struct errinfo *ei)
{
	return err_fail(ei, ERR_CONFLICT, "version", "办件已被他人修改，请刷新后重试");
}

/* After a guarded UPDATE touched no row: which guard failed? */
static enum err why_not(struct db_conn *c, struct arena *a, int64_t id, int64_t version,
                        const char *action, struct errinfo *ei)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs, "SELECT version, state FROM cases WHERE id = ?", "i", id);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	if (db_int(rs, 0, 0) != version)
		return conflict(ei);
	return state_error(a, ei, db_text(rs, 0, 1), action);
}

/* Timeline, audit and outbox of one action, inside the write transaction (cases_int.h). */
enum err case_record(struct server *srv, const struct cases_caller *by, struct db_conn *c,
                     struct arena *a, int64_t case_id, const char *case_no, int64_t org_id,
                     const char *org_path, const char *sub_code, const char *action,
                     const char *from, const char *to, int64_t new_version, const char *detail,
                     const char *also_path)
{
	const struct principal *who = by->who;
	char kind[64];
	(void)srv;
	snprintf(kind, sizeof(kind), "case.%s", action);
	enum err e = case_store_event(c, a, case_id, who, action, from, to, detail);
	if (e)
		return e;
	json_t *ad = json_pack("{s:s,s:s*,s:s,s:I}", "case_no", case_no, "from", from, "to", to,
	                       "version", (json_int_t)new_version);
	if (ad && detail) {
		json_error_t je;
		json_t *d = json_loads(detail, JSON_DECODE_ANY, &je);
		if (d)
			json_object_set_new(ad, "detail", d);
	}
	const char *adt = ad ? json_dump_arena(ad, a) : NULL;
	json_decref(ad);
	struct audit_entry ae = {.actor_id = who->user_id,
	                         .actor_name = who->username,
	                         .action = kind,
	                         .target = arena_printf(a, "case:%s", case_no),
	                         .detail = adt,
	                         .client_ip = by->client_ip,
	                         .trace_id = by->trace_id};
	if ((e = audit_append(c, a, &ae)))
		return e;
	json_t *pl = json_pack("{s:s,s:s,s:I,s:s,s:s}", "case_no", case_no, "state", to, "org_id",
	                       (json_int_t)org_id, "org_path", org_path, "sub_item_code", sub_code);
	if (pl && also_path && strcmp(also_path, org_path))
		json_object_set_new(pl, "also_path", json_string(also_path));
	const char *plt = pl ? json_dump_arena(pl, a) : NULL;
	json_decref(pl);
	if (!plt)
		return ERR_NOMEM;
	return outbox_enqueue(c, a, kind, arena_printf(a, "case:%lld", (long long)case_id), plt,
	                      arena_printf(a, "case:%s:%lld", case_no, (long long)new_version),
	                      NULL);
}

static enum err record(struct server *srv, const struct cases_caller *by, struct db_conn *c,
                       struct arena *a, int64_t case_id, const char *case_no, int64_t org_id,
                       const char *org_path, const char *sub_code, const char *action,
                       const char *from, const char *to, int64_t new_version, const char *detail)
{
	return case_record(srv, by, c, a, case_id, case_no, org_id, org_path, sub_code, action,
	                   from, to, new_version, detail, NULL);
}

/* Run fn as a write unit (db_write_unit: durable when it returns ERR_OK, the commit shared
 * with other clerks' units) and wake the outbox once the commit is done. */
static enum err write_unit(struct server *srv, enum err (*fn)(struct db_conn *c, void *ctx),
                           void *ctx)
{
	enum err e = db_write_unit(srv->db, fn, ctx, DB_WAIT_MS);
	if (!e)
		outbox_notify(srv->outbox);
	return e;
}

/* ---- opening a case --------------------------------------------------------------------- */

static bool code_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 12 || n > 50)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-'))
			return false;
	return true;
}

/* The applicant as lists show it, and the blind index of the document number. */
static void applicant_of(struct server *srv, struct arena *a, const json_t *profile,
                         const char **name_mask, const char **id_mask, const char **bidx)
{
	const char *name = json_string_value(json_object_get(profile, "name"));
	const char *num = json_string_value(json_object_get(profile, "id_number"));
	*name_mask = name ? sensitive_mask("name", name, a) : "";
	*id_mask = num ? sensitive_mask("id_number", num, a) : "";
	*bidx = num ? sensitive_bidx(srv->keys, "cases.applicant_id_number", num, a) : NULL;
	if (!*name_mask)
		*name_mask = "";
	if (!*id_mask)
		*id_mask = "";
}

struct open_ctx {
	struct server *srv;
	const struct cases_caller *by;
	struct arena *a;
	struct errinfo *ei;
	const struct cases_open_req *in;
	const char *name_mask, *id_mask, *bidx;
	const char *case_no;
	json_t *dups;
};

static enum err open_tx(struct server *srv, const struct cases_caller *by, struct db_conn *c,
                        struct arena *a, struct open_ctx *x, struct errinfo *ei)
{
	const struct principal *who = by->who;
	struct db_rows *rs = NULL;
	char today[11], ymd[9];
	int64_t vid = 0;
	json_t *item = NULL;
	enum err e;
	int64_t now = time_now_ms();
	cases_day_of(now, today);
	snprintf(ymd, sizeof(ymd), "%.4s%.2s%.2s", today, today + 5, today + 8);
	if ((e = db_exec(c, a, &rs,
	                 "INSERT INTO case_seq (org_id, day, n) VALUES (?, ?, 1)"
	                 " ON CONFLICT (org_id, day) DO UPDATE SET n = case_seq.n + 1 RETURNING n",
	                 "is", who->org_id, today)))
		return e;
	if (rs->nrows != 1)
		return ERR_DB;
	const char *no =
	    arena_printf(a, "%s-%s-%06lld", who->scope_code, ymd, (long long)db_int(rs, 0, 0));
	if (!no)
		return ERR_NOMEM;
	e = catalog_pin(srv, c, a, no, x->in->sub_item_code, who->org_id, &vid);
	if (e == ERR_NOT_FOUND)
		return err_fail(
		    ei, ERR_NOT_FOUND, "sub_item_code",
		    arena_printf(a, "事项子项 %s 不存在或当前未生效", x->in->sub_item_code));
	if (e)
		return e;
	if ((e = db_exec(c, a, &rs,
	                 "SELECT sub_item_code, item_code FROM catalog_pins WHERE case_ref = ?",
	                 "s", no)))
		return e;
	if (rs->nrows != 1)
		return ERR_INTERNAL;
	const char *sub_code = db_text(rs, 0, 0), *item_code = db_text(rs, 0, 1);
	/* The duplicate guard: same resident, same sub-item, still open. */
	if ((e = db_exec(c, a, &rs,
	                 "SELECT case_no, mode, entry FROM cases WHERE resident_id = ?"
	                 " AND sub_item_code = ? AND state IN ('draft', 'forwarded', 'accepted',"
	                 " 'correction', 'in_progress') ORDER BY id",
	                 "is", x->in->resident_id, sub_code)))
		return e;
	/* dual: an application a virtual window took stays there (no second, traditional
	 * 收受分离 case of it, confirmed duplicate or not) */
	for (int r = 0; r < rs->nrows; r++)
		if (!strcmp(x->in->mode, "separated") && !strcmp(x->in->entry, "window") &&
		    !strcmp(db_text(rs, r, 1), "separated") &&
		    !strcmp(db_text(rs, r, 2), "virtual"))
			return err_fail(
			    ei, ERR_BAD_STATE, "entry",
			    arena_printf(a, "该申请已由虚拟窗口办理（%s），不能改走原收受分离入口",
			                 db_text(rs, r, 0)));
	if (rs->nrows) {
		x->dups = json_array();
		for (int r = 0; x->dups && r < rs->nrows; r++)
			json_array_append_new(x->dups, json_string(db_text(rs, r, 0)));
		if (!x->dups)
			return ERR_NOMEM;
		if (!x->in->allow_duplicate)
			return err_fail(
			    ei, ERR_DUPLICATE, "sub_item_code",
			    "该居民已有同一事项正在办理的办件，确认需要重复办理时请勾选“仍然新建”");
	}
	struct cases_state *st = cases_state_of(srv);
	if ((e = catalog_version_doc(st ? st->docs : NULL, c, a, vid, &item)))
		return e;
	json_arena_own(a, item);
	const json_t *sub = catalog_item_sub_item(item, sub_code);
	if (!sub)
		return ERR_INTEGRITY;
	if ((e = cases_entry_check(json_is_true(json_object_get(item, "separated")),
	                           json_get_str(item, "vwin_mode"), x->in->mode, x->in->entry, ei)))
		return e;
	int case_type = (int)json_get_int(sub, "case_type", json_get_int(item, "case_type", 1));
	int pdays = (int)json_get_int(sub, "promised_days", json_get_int(item, "promised_days", 0));
	if (case_type != 2)
		case_type = 1;
	if ((e = db_exec(c, a, &rs,
	                 "INSERT INTO cases (case_no, org_id, resident_id, item_code, item_name,"
	                 " sub_item_code, sub_item_name, version_id, case_type, promised_days,"
	                 " channel, state, version, applicant_mask, applicant_id_mask,"
	                 " applicant_id_bidx, created_by, created_at, updated_at, mode, entry,"
	                 " receiving_org_id, vwin_session_id, vwin_point, vwin_point_kind)"
	                 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'draft', 1, ?, ?, ?, ?, ?, ?,"
	                 " ?, ?, ?, NULLIF(?, CAST(0 AS BIGINT)), ?, ?) RETURNING id",
	                 "siissssiiiisssiiissiiss", no, who->org_id, x->in->resident_id, item_code,
	                 json_get_str(item, "name"), sub_code, json_get_str(sub, "name"), vid,
	                 (int64_t)case_type, (int64_t)pdays, (int64_t)x->in->channel, x->name_mask,
	                 x->id_mask, x->bidx, who->user_id, now, now, x->in->mode, x->in->entry,
	                 who->org_id, x->in->vwin_session_id, x->in->vwin_point,
	                 x->in->vwin_point_kind)))
		return e;
	int64_t id = db_int(rs, 0, 0);
	const char *detail = NULL;
	if (x->dups)
		detail =
		    arena_printf(a, "{\"duplicate_confirmed\":%s}", json_dump_arena(x->dups, a));
	if ((e = record(srv, by, c, a, id, no, who->org_id, who->scope_path, sub_code, "open", NULL,
	                "draft", 1, detail)))
		return e;
	x->case_no = no;
	return x->in->in_unit ? x->in->in_unit(c, x->in->in_unit_ctx, no) : ERR_OK;
}

static enum err open_unit(struct db_conn *c, void *ctx)
{
	struct open_ctx *x = ctx;
	return open_tx(x->srv, x->by, c, x->a, x, x->ei);
}

enum err cases_open(struct server *srv, const struct cases_caller *by, struct arena *a,
                    const struct cases_open_req *in, json_t **out, json_t **duplicates,
                    struct errinfo *ei)
{
	const struct principal *who = by->who;
	struct db_conn *c = NULL;
	json_t *profile = NULL;
	struct open_ctx x = {.srv = srv, .by = by, .a = a, .ei = ei, .in = in};
	enum err e;
	*out = NULL;
	if (duplicates)
		*duplicates = NULL;
	if (!who || !who->scope_level || strcmp(who->scope_level, "centre") || !who->scope_code)
		return err_fail(ei, ERR_FORBIDDEN, NULL, "只有受理中心的工作人员可以新建办件");
	if (!code_ok(in->sub_item_code))
		return err_fail(
		    ei, ERR_BAD_FIELD, "sub_item_code",
		    "事项子项编码应为 12 位基本编码加“-”和两位序号，例如 310006001000-01");
	if (in->resident_id <= 0)
		return err_fail(ei, ERR_BAD_FIELD, "resident_id",
		                "请先识别居民身份（resident_id）");
	int ch = in->channel ? in->channel : 1;
	if (ch != 1 && ch != 2 && ch != 3 && ch != 4 && ch != 9)
		return err_fail(ei, ERR_BAD_FIELD, "channel",
		                "办理渠道应为 1 窗口、2 PC、3 移动、4 快递或 9 其他");
	struct cases_open_req req = *in;
	req.channel = ch;
	req.mode = in->mode ? in->mode : "direct";
	req.entry = in->entry ? in->entry : "window";
	/* the values first (422 before any database work); the item's rules in the unit */
	if ((e = cases_entry_check(true, "dual", req.mode, req.entry, ei)))
		return e;
	x.in = &req;
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)))
		return e;
	e = ident_resident_get(srv, c, a, in->resident_id, &profile);
	if (e == ERR_NOT_FOUND) {
		e = err_fail(ei, ERR_NOT_FOUND, "resident_id", "居民档案不存在，请重新读卡或录入");
		goto out;
	}
	if (e)
		goto out;
	applicant_of(srv, a, profile, &x.name_mask, &x.id_mask, &x.bidx);
	db_release(c);
	c = NULL;
	if ((e = write_unit(srv, open_unit, &x))) {
		if (e == ERR_DUPLICATE && duplicates) {
			*duplicates = x.dups;
			x.dups = NULL;
		}
		goto out;
	}
	e = cases_get(srv, by, a, x.case_no, out);
out:
	json_decref(x.dups);
	db_release(c);
	return e;
}

/* ---- the form ----------------------------------------------------------------------------- */

/* The value at dotted path p of an object tree (borrowed), NULL when absent. */
static const json_t *at_path(const json_t *root, const char *p)
{
	char seg[64];
	while (root && p && *p) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, p, n);
		seg[n] = 0;
		root = json_object_get(root, seg);
		p = dot ? dot + 1 : NULL;
	}
	return root;
}

/* A field filled by prefill and changed since is the clerk's now. */
static void mark_clerk_changes(json_t *sources, const json_t *old_form, const json_t *new_form,
                               const char *at)
{
	const char *k;
	json_t *v;
	json_object_foreach (sources, k, v) {
		const char *src = json_string_value(json_object_get(v, "source"));
		if (src && !strcmp(src, "clerk"))
			continue;
		const json_t *a = at_path(old_form, k), *b = at_path(new_form, k);
		if ((a || b) && !(a && b && json_equal((json_t *)a, (json_t *)b))) {
			json_object_set_new(v, "source", json_string("clerk"));
			json_object_set_new(v, "label", json_string("窗口人员"));
			json_object_set_new(v, "at", json_string(at));
		}
	}
}

static json_t *evaluation_json(const struct catalog_form_result *res)
{
	return json_pack("{s:b,s:O,s:O,s:O,s:O,s:O}", "valid", res->valid, "violations",
	                 res->violations, "visible", res->visible, "required", res->required,
	                 "computed", res->computed, "prereview", res->prereview);
}

struct form_ctx {
	struct server *srv;
	const struct cases_caller *by;
	struct arena *a;
	struct errinfo *ei;
	struct case_row *row;
	struct case_sealed_form sealed;
	bool valid;
};

enum err cases_form_guards(struct server *srv, struct db_conn *c, struct arena *a,
                           struct case_row *row, struct errinfo *ei)
{
	struct cases_state *st = cases_state_of(srv);
	enum err e;
	/* e.g. a signed application form: refused before anything is stored */
	for (int i = 0; st && i < st->next; i++)
		if (st->ext[i].form_guard &&
		    (e = st->ext[i].form_guard(st->ext[i].ctx, c, a, row, ei)))
			return e;
	return ERR_OK;
}

static enum err form_unit(struct db_conn *c, void *ctx)
{
	struct form_ctx *x = ctx;
	struct case_row *row = x->row;
	enum err e = ERR_OK;
	if ((e = cases_form_guards(x->srv, c, x->a, row, x->ei)))
		return e;
	e = case_store_form(c, x->a, row, &x->sealed);
	if (e == ERR_CONFLICT)
		return conflict(x->ei);
	if (e == ERR_BAD_STATE)
		return err_fail(x->ei, ERR_BAD_STATE, "state",
		                "办件状态已变化，不能修改表单，请刷新后重试");
	if (e)
		return e;
	struct audit_entry ae = {.actor_id = x->by->who->user_id,
	                         .actor_name = x->by->who->username,
	                         .action = "case.form",
	                         .target = arena_printf(x->a, "case:%s", row->case_no),
	                         .detail = arena_printf(x->a, "{\"version\":%lld,\"valid\":%s}",
	                                                (long long)row->version,
	                                                x->valid ? "true" : "false"),
	                         .client_ip = x->by->client_ip,
	                         .trace_id = x->by->trace_id};
	return audit_append(c, x->a, &ae);
}

enum err cases_save_form_data(struct server *srv, const struct cases_caller *by, struct arena *a,
                              const char *case_no, int64_t version, const json_t *data,
                              json_t **out, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct case_row row = {0};
	struct case_catalog cc = {0};
	struct catalog_form_result res = {0};
	char today[11], at[32];
	enum err e;
	*out = NULL;
	if (!json_is_object(data))
		return err_fail(ei, ERR_BAD_FIELD, "data", "表单数据（data）应为对象");
	if (version < 1)
		return err_fail(ei, ERR_BAD_FIELD, "version", "办件版本号（version）应为正整数");
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)))
		return e;
	if ((e = case_load(srv, c, a, by->who, case_no, &row)) ||
	    (e = cases_forward_guard(by->who, row.state, "form", row.view_only,
	                             row.receiving_org_path, ei)))
		goto out;
	if (strcmp(row.state, "draft") && strcmp(row.state, "correction")) {
		e = err_fail(ei, ERR_BAD_STATE, "state",
		             arena_printf(a, "办件当前状态为“%s”，不能修改表单",
		                          cases_state_label(row.state)));
		goto out;
	}
	if (row.version != version) {
		e = conflict(ei);
		goto out;
	}
	if ((e = case_catalog_get(srv, c, a, &row, &cc)))
		goto out;
	cases_today(today);
	e = catalog_form_evaluate(cc.ref, cc.sub_item, data, today, &res);
	if (e == ERR_INVALID) {
		e = err_fail(ei, ERR_INTERNAL, NULL, "该事项子项的表单定义有误，无法校验");
		goto out;
	}
	if (e)
		goto out;
	time_iso(time_now_ms(), at);
	mark_clerk_changes(row.sources, row.form, data, at);
	json_decref(row.form);
	row.form = json_deep_copy(data);
	if (!row.form) {
		e = ERR_NOMEM;
		goto out;
	}
	db_release(c);
	c = NULL;
	struct form_ctx x = {
	    .srv = srv, .by = by, .a = a, .ei = ei, .row = &row, .valid = res.valid};
	if ((e = case_seal_form(srv, a, &row, &x.sealed)) ||
	    (e = db_write_unit(srv->db, form_unit, &x, DB_WAIT_MS)))
		goto out;
	*out = json_pack("{s:I,s:o}", "version", (json_int_t)row.version, "evaluation",
	                 evaluation_json(&res));
	if (!*out)
		e = ERR_NOMEM;
out:
	catalog_form_result_release(&res);
	case_catalog_release(&cc);
	case_row_release(&row);
	db_release(c);
	return e;
}

/* ---- acceptance ---------------------------------------------------------------------------- */

struct party {
	const char *role, *id_type;
	const void *num, *name, *phone;
	size_t num_n, name_n, phone_n;
	const char *num_bidx, *name_bidx, *phone_bidx;
};

/* Seal one value into (blob, n, bidx); an absent or empty value leaves them NULL. */
static enum err seal_opt(struct server *srv, struct arena *a, const char *column, const char *v,
                         const void **blob, size_t *n, const char **bidx)
{
	*blob = NULL;
	*n = 0;
	*bidx = NULL;
	if (!v || !str_trim(str_from(v)).n)
		return ERR_OK;
	return sensitive_seal(srv->keys, column, v, a, blob, n, bidx);
}

/* The parties of the form (applicant.*, agent.* when agent.present, guardian.* and helper.*
 * when present), sealed. profile (may be NULL) stands in for a form without an applicant
 * document. */
static enum err parties_of(struct server *srv, struct arena *a, const json_t *form,
                           const json_t *profile, struct party out[4], int *n)
{
	static const char *const roles[] = {"applicant", "agent", "guardian", "helper"};
	enum err e;
	*n = 0;
	for (int i = 0; i < 4; i++) {
		const json_t *g = json_object_get(form, roles[i]);
		const json_t *present = json_object_get(g, "present");
		if (!json_is_object(g))
			continue;
		if (i > 0 && (present ? !json_is_true(present)
		                      : !json_string_value(json_object_get(g, "name"))))
			continue;
		const json_t *idn = json_object_get(g, "id_number");
		const char *type = json_string_value(json_object_get(idn, "type"));
		const char *num = json_is_string(idn)
		                      ? json_string_value(idn)
		                      : json_string_value(json_object_get(idn, "number"));
		const char *name = json_string_value(json_object_get(g, "name"));
		const char *phone = json_string_value(json_object_get(g, "phone"));
		if (i == 0 && !num && profile) {
			type = json_string_value(json_object_get(profile, "id_type"));
			num = json_string_value(json_object_get(profile, "id_number"));
			if (!name)
				name = json_string_value(json_object_get(profile, "name"));
		}
		if (!num && !name)
			continue;
		struct party *p = &out[(*n)++];
		memset(p, 0, sizeof(*p));
		p->role = roles[i];
		p->id_type = type;
		if ((e = seal_opt(srv, a, "case_parties.id_number", num, &p->num, &p->num_n,
		                  &p->num_bidx)) ||
		    (e = seal_opt(srv, a, "case_parties.name", name, &p->name, &p->name_n,
		                  &p->name_bidx)) ||
		    (e = seal_opt(srv, a, "case_parties.phone", phone, &p->phone, &p->phone_n,
		                  &p->phone_bidx)))
			return e;
	}
	return ERR_OK;
}

static enum err party_insert(struct db_conn *c, struct arena *a, int64_t case_id,
                             const struct party *p, int64_t now)
{
	struct db_val v[12] = {
	    {.type = DB_INT, .i = case_id},
	    {.type = DB_TEXT, .p = p->role, .n = strlen(p->role)},
	    {.type = p->id_type ? DB_TEXT : DB_NULL,
	     .p = p->id_type,
	     .n = p->id_type ? strlen(p->id_type) : 0},
	    {.type = p->num ? DB_BLOB : DB_NULL, .p = p->num, .n = p->num_n},
	    {.type = p->num_bidx ? DB_TEXT : DB_NULL,
	     .p = p->num_bidx,
	     .n = p->num_bidx ? strlen(p->num_bidx) : 0},
	    {.type = p->name ? DB_BLOB : DB_NULL, .p = p->name, .n = p->name_n},
	    {.type = p->name_bidx ? DB_TEXT : DB_NULL,
	     .p = p->name_bidx,
	     .n = p->name_bidx ? strlen(p->name_bidx) : 0},
	    {.type = p->phone ? DB_BLOB : DB_NULL, .p = p->phone, .n = p->phone_n},
	    {.type = p->phone_bidx ? DB_TEXT : DB_NULL,
	     .p = p->phone_bidx,
	     .n = p->phone_bidx ? strlen(p->phone_bidx) : 0},
	    {.type = DB_INT, .i = now},
	};
	return db_execv(c, a, NULL,
	                "INSERT INTO case_parties (case_id, role, id_type, id_number_enc,"
	                " id_number_bidx, name_enc, name_bidx, phone_enc, phone_bidx, created_at)"
	                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                v, 10);
}

/* What the materials of a case look like now: entries only ever get new, higher ids, so
 * (count, sum of ids) changes whenever the set does. */
static enum err materials_print(struct db_conn *c, struct arena *a, int64_t case_id, int64_t fp[2])
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT count(*), COALESCE(SUM(id), 0) FROM case_materials"
	                     " WHERE case_id = ?",
	                     "i", case_id);
	if (e)
		return e;
	fp[0] = db_int(rs, 0, 0);
	fp[1] = db_int(rs, 0, 1);
	return ERR_OK;
}

static void problem(json_t *problems, const char *kind, const char *field, const char *message)
{
	json_array_append_new(problems, json_pack("{s:s,s:s*,s:s}", "kind", kind, "field", field,
	                                          "message", message ? message : ""));
}

/* Is id one of the override's rule ids? */
static bool overridden(const json_t *rules, const char *id)
{
	size_t i;
	const json_t *v;
	json_array_foreach (rules, i, v)
		if (id && json_string_value(v) && !strcmp(json_string_value(v), id))
			return true;
	return false;
}

struct accept_plan {
	json_t *problems;
	json_t *prereview; /* {"verdicts","blocked","at"} */
	json_t *override;  /* NULL or {"rules","reason","by","by_name","at"} */
	const char *promised_date;
	struct party parties[4];
	int nparties;
	int64_t fp[2];
	struct cases_handoff ho; /* the delivery to the department */
};

/* Everything acceptance decides, before the write lock. */
static enum err accept_check(struct server *srv, const struct cases_caller *by, struct db_conn *c,
                             struct arena *a, struct case_row *row, const json_t *ovr,
                             struct accept_plan *p, struct errinfo *ei)
{
	struct case_catalog cc = {0};
	struct catalog_form_result res = {0};
	json_t *verdicts = NULL, *missing = NULL, *covered = NULL;
	const json_t *profile = NULL;
	char today[11], at[32];
	bool blocked = false;
	size_t i;
	const json_t *v;
	enum err e;
	cases_today(today);
	time_iso(time_now_ms(), at);
	if (!(p->problems = json_array()) || !(covered = json_array())) {
		e = ERR_NOMEM;
		goto out;
	}
	if ((e = case_catalog_get(srv, c, a, row, &cc)))
		goto out;
	e = catalog_form_evaluate(cc.ref, cc.sub_item, row->form, today, &res);
	if (e == ERR_INVALID) {
		e = err_fail(ei, ERR_INTERNAL, NULL, "该事项子项的表单定义有误，无法校验");
		goto out;
	}
	if (e)
		goto out;
	json_array_foreach (res.violations, i, v)
		problem(p->problems, "form", json_get_str(v, "field"), json_get_str(v, "message"));
	if ((e = cases_prereview_eval(&cc, row, today, &verdicts, &blocked)))
		goto out;
	const json_t *rules = json_object_get(ovr, "rules");
	json_array_foreach (verdicts, i, v) {
		const char *verdict = json_get_str(v, "verdict"), *id = json_get_str(v, "id");
		if (!verdict || strcmp(verdict, "block"))
			continue;
		if (ovr && overridden(rules, id))
			json_array_append_new(covered, json_string(id ? id : ""));
		else
			problem(p->problems, "prereview", json_get_str(v, "field"),
			        arena_printf(a, "%s（需越权受理并说明理由）",
			                     json_get_str(v, "message") ? json_get_str(v, "message")
			                                                : "预审未通过"));
	}
	if ((e = materials_print(c, a, row->id, p->fp)) ||
	    (e = cases_materials_missing(srv, c, a, &cc, row, today, &missing)))
		goto out;
	json_array_foreach (missing, i, v)
		problem(p->problems, "materials", json_get_str(v, "id"),
		        arena_printf(a, "缺少材料：%s",
		                     json_get_str(v, "name") ? json_get_str(v, "name") : ""));
	struct cases_state *st = cases_state_of(srv);
	for (int k = 0; st && k < st->next; k++)
		if (st->ext[k].accept_check &&
		    (e = st->ext[k].accept_check(st->ext[k].ctx, srv, c, a, &cc, row, p->problems)))
			goto out;
	if (json_array_size(p->problems)) {
		e = err_fail(ei, ERR_INVALID, NULL,
		             arena_printf(a, "受理前检查未通过，共 %zu 项问题",
		                          json_array_size(p->problems)));
		goto out;
	}
	p->prereview =
	    json_pack("{s:O,s:b,s:s}", "verdicts", verdicts, "blocked", blocked, "at", at);
	if (json_array_size(covered))
		p->override =
		    json_pack("{s:O,s:s,s:I,s:s,s:s}", "rules", covered, "reason",
		              json_get_str(ovr, "reason"), "by", (json_int_t)by->who->user_id,
		              "by_name", by->who->username ? by->who->username : "", "at", at);
	if (!p->prereview) {
		e = ERR_NOMEM;
		goto out;
	}
	if (row->case_type == 2 && row->promised_days > 0) {
		char *d = arena_alloc(a, 11);
		struct cases_calendar *cal = cases_calendar_of(srv);
		if (!d || !cal) {
			e = d ? ERR_UNAVAILABLE : ERR_NOMEM;
			goto out;
		}
		if ((e = cases_calendar_add_workdays(cal, today, row->promised_days, d)))
			goto out;
		p->promised_date = d;
	}
	const json_t *appl = at_path(row->form, "applicant.id_number");
	if (!appl && (e = ident_resident_get(srv, c, a, row->resident_id, (json_t **)&profile)) &&
	    e != ERR_NOT_FOUND)
		goto out;
	if (!(e = parties_of(srv, a, row->form, profile, p->parties, &p->nparties)) &&
	    (e = cases_handoff_plan(srv, c, a, &cc, row, by->who, &p->ho, ei)) == ERR_INVALID)
		problem(p->problems, "form", "applicant", ei ? ei->msg : NULL);
out:
	json_decref(verdicts);
	json_decref(missing);
	json_decref(covered);
	catalog_form_result_release(&res);
	case_catalog_release(&cc);
	return e;
}

static enum err accept_tx(struct server *srv, const struct cases_caller *by, struct db_conn *c,
                          struct arena *a, const struct case_row *row, struct accept_plan *p,
                          struct errinfo *ei)
{
	struct db_rows *rs = NULL;
	int64_t now = p->ho.at ? p->ho.at : time_now_ms(), fp[2];
	const char *pr = json_dump_arena(p->prereview, a);
	const char *ov = p->override ? json_dump_arena(p->override, a) : NULL;
	enum err e = db_exec(c, a, &rs,
	                     "UPDATE cases SET state = 'accepted', version = version + 1,"
	                     " accepted_at = ?, accepted_by = ?, promised_date = ?, prereview = ?,"
	                     " prereview_at = ?, override = ?, updated_at = ?"
	                     " WHERE id = ? AND version = ? AND state IN ('draft', 'forwarded')",
	                     "iissisiii", now, by->who->user_id, p->promised_date, pr, now, ov, now,
	                     row->id, row->version);
	if (e)
		return e;
	if (rs->changes != 1)
		return why_not(c, a, row->id, row->version, "accept", ei);
	if ((e = materials_print(c, a, row->id, fp)))
		return e;
	if (fp[0] != p->fp[0] || fp[1] != p->fp[1])
		return err_fail(ei, ERR_CONFLICT, "materials",
		                "办件材料刚被修改，请刷新后重新受理");
	for (int i = 0; i < p->nparties; i++)
		if ((e = party_insert(c, a, row->id, &p->parties[i], now)))
			return e;
	if ((e = cases_handoff_enqueue(c, a, row, &p->ho)))
		return e;
	json_t *d = json_pack("{s:s*}", "promised_date", p->promised_date);
	if (d && p->override)
		json_object_set(d, "override", p->override);
	const char *detail = d ? json_dump_arena(d, a) : NULL;
	json_decref(d);
	if (!detail)
		return ERR_NOMEM;
	return case_record(srv, by, c, a, row->id, row->case_no, row->org_id, row->org_path,
	                   row->sub_item_code, "accept", row->state, "accepted", row->version + 1,
	                   detail, row->receiving_org_path);
}

struct accept_ctx {
	struct server *srv;
	const struct cases_caller *by;
	struct arena *a;
	struct errinfo *ei;
	const struct case_row *row;
	struct accept_plan *p;
	int64_t done_ns; /* time_mono_ns when the statements were done */
};

static enum err accept_unit(struct db_conn *c, void *ctx)
{
	struct accept_ctx *x = ctx;
	enum err e = accept_tx(x->srv, x->by, c, x->a, x->row, x->p, x->ei);
	x->done_ns = time_mono_ns();
	return e;
}

static enum err accept(struct server *srv, const struct cases_caller *by, struct arena *a,
                       const char *case_no, int64_t version, const json_t *body, json_t **out,
                       json_t **problems, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct case_row row = {0};
	struct accept_plan p = {0};
	const json_t *ovr = json_object_get(body, "override");
	enum err e;
	if (ovr && !json_is_null(ovr)) {
		const json_t *rules = json_object_get(ovr, "rules");
		const char *reason = NULL;
		size_t i;
		const json_t *v;
		if (!json_is_object(ovr) || !json_is_array(rules) || !json_array_size(rules) ||
		    json_array_size(rules) > 100)
			return err_fail(ei, ERR_BAD_FIELD, "override.rules",
			                "越权受理应列出被越过的预审规则（override.rules）");
		json_array_foreach (rules, i, v)
			if (!json_is_string(v))
				return err_fail(ei, ERR_BAD_FIELD, "override.rules",
				                "越权受理的规则编号应为文本");
		if ((e = text_member(ovr, "reason", true, 5, 500, "越权受理理由", a, ei,
		                     &reason))) {
			if (ei)
				ei->field = "override.reason";
			return e;
		}
		if (!has_perm(by->who, "case.override"))
			return err_fail(
			    ei, ERR_FORBIDDEN, "override",
			    "越权受理需要“越权受理”权限（case.override），请由中心负责人操作");
	} else {
		ovr = NULL;
	}
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)))
		return e;
	if ((e = case_load(srv, c, a, by->who, case_no, &row)) ||
	    (e = cases_forward_guard(by->who, row.state, "accept", row.view_only,
	                             row.receiving_org_path, ei)))
		goto out;
	if (!cases_transition(row.state, "accept", NULL)) {
		e = state_error(a, ei, row.state, "accept");
		goto out;
	}
	if ((e = cases_mode_check(&row, "accept", ei)))
		goto out;
	if (row.version != version) {
		e = conflict(ei);
		goto out;
	}
	int64_t t0 = time_mono_ns(), t1;
	e = accept_check(srv, by, c, a, &row, ovr, &p, ei);
	if (e == ERR_INVALID && problems) {
		*problems = p.problems;
		p.problems = NULL;
	}
	if (e)
		goto out;
	db_release(c);
	c = NULL;
	/* The unit re-checks what the checks relied on: the guarded UPDATE (version, state)
	 * and the materials' fingerprint. */
	struct accept_ctx x = {.srv = srv, .by = by, .a = a, .ei = ei, .row = &row, .p = &p};
	t1 = time_mono_ns();
	if ((e = write_unit(srv, accept_unit, &x)))
		goto out;
	struct cases_state *st = cases_state_of(srv);
	if (st) {
		atomic_fetch_add(&st->acc_n, 1);
		atomic_fetch_add(&st->acc_check_ns, (uint64_t)(t1 - t0));
		atomic_fetch_add(&st->acc_tx_ns, (uint64_t)(x.done_ns - t1));
		atomic_fetch_add(&st->acc_commit_ns, (uint64_t)(time_mono_ns() - x.done_ns));
	}
	if (out)
		e = cases_get(srv, by, a, case_no, out);
out:
	json_decref(p.problems);
	json_decref(p.prereview);
	json_decref(p.override);
	case_row_release(&row);
	db_release(c);
	return e;
}

/* The acceptance checks for the forwarding of a 收受分离 case (cases_forward.c): the same
 * code path, without an override, the plan dropped. */
enum err case_ready_check(struct server *srv, const struct cases_caller *by, struct db_conn *c,
                          struct arena *a, struct case_row *row, json_t **problems, int64_t fp[2],
                          struct errinfo *ei)
{
	struct accept_plan p = {0};
	enum err e = accept_check(srv, by, c, a, row, NULL, &p, ei);
	if (e == ERR_INVALID && problems) {
		*problems = p.problems;
		p.problems = NULL;
	}
	fp[0] = p.fp[0];
	fp[1] = p.fp[1];
	json_decref(p.problems);
	json_decref(p.prereview);
	json_decref(p.override);
	return e;
}

enum err case_materials_fingerprint(struct db_conn *c, struct arena *a, int64_t case_id,
                                    int64_t fp[2])
{
	return materials_print(c, a, case_id, fp);
}

void cases_accept_stats(struct server *srv, struct cases_accept_stats *out)
{
	struct cases_state *st = cases_state_of(srv);
	memset(out, 0, sizeof(*out));
	if (!st)
		return;
	out->n = atomic_load(&st->acc_n);
	out->check_ns = atomic_load(&st->acc_check_ns);
	out->tx_ns = atomic_load(&st->acc_tx_ns);
	out->commit_ns = atomic_load(&st->acc_commit_ns);
}

/* ---- the other actions ------------------------------------------------------------------- */

/* What an action's body says, checked. */
struct act_args {
	const char *reason, *note, *result, *opinion, *cert_no;
	json_t *items; /* request_correction: the checked items (new reference) */
};

static enum err correction_items(const json_t *body, struct arena *a, struct errinfo *ei,
                                 json_t **out)
{
	const json_t *items = json_object_get(body, "items"), *it;
	size_t i;
	*out = NULL;
	if (!json_is_array(items) || !json_array_size(items))
		return err_fail(ei, ERR_MISSING_FIELD, "items",
		                "请列出需要补正的内容（items，至少 1 项）");
	if (json_array_size(items) > 50)
		return err_fail(ei, ERR_BAD_FIELD, "items", "补正内容最多 50 项");
	json_t *arr = json_array();
	if (!arr)
		return ERR_NOMEM;
	json_array_foreach (items, i, it) {
		const char *material = NULL, *field = NULL, *note = NULL;
		enum err e;
		const char *where = arena_printf(a, "items[%zu]", i);
		if (!json_is_object(it)) {
			json_decref(arr);
			return err_fail(ei, ERR_BAD_FIELD, where, "补正内容的每一项应为对象");
		}
		if ((e = text_member(it, "material", false, 1, 64, "材料编号", a, ei, &material)) ||
		    (e = text_member(it, "field", false, 1, 200, "表单字段", a, ei, &field)) ||
		    (e = text_member(it, "note", true, 1, 500, "补正说明", a, ei, &note))) {
			if (ei && ei->field)
				ei->field = arena_printf(a, "%s.%s", where, ei->field);
			json_decref(arr);
			return e;
		}
		json_array_append_new(arr, json_pack("{s:s*,s:s*,s:s}", "material", material,
		                                     "field", field, "note", note));
	}
	*out = arr;
	return ERR_OK;
}

static enum err act_args_check(const char *action, const json_t *body, struct arena *a,
                               struct act_args *x, struct errinfo *ei)
{
	enum err e = ERR_OK;
	memset(x, 0, sizeof(*x));
	if (!strcmp(action, "refuse"))
		return text_member(body, "reason", true, 5, 500, "不予受理理由", a, ei, &x->reason);
	if (!strcmp(action, "withdraw"))
		return text_member(body, "reason", true, 2, 500, "撤回原因", a, ei, &x->reason);
	if (!strcmp(action, "request_correction")) {
		if ((e = text_member(body, "note", false, 0, 500, "补正说明", a, ei, &x->note)))
			return e;
		return correction_items(body, a, ei, &x->items);
	}
	if (!strcmp(action, "resume") || !strcmp(action, "start"))
		return text_member(body, "note", false, 0, 500, "备注", a, ei, &x->note);
	if (!strcmp(action, "complete")) {
		if ((e = text_member(body, "result", true, 1, 20, "办结结果", a, ei, &x->result)))
			return e;
		if (strcmp(x->result, "approved") && strcmp(x->result, "rejected"))
			return err_fail(ei, ERR_BAD_FIELD, "result",
			                "办结结果应为 approved（准予）或 rejected（不予）");
		if ((e = text_member(body, "opinion", true, 1, 1000, "办结意见", a, ei,
		                     &x->opinion)))
			return e;
		return text_member(body, "cert_no", false, 1, 100, "证照编号", a, ei, &x->cert_no);
	}
	return ERR_OK;
}

struct act_row {
	int64_t id, version, org_id;
	const char *case_no, *state, *org_path, *sub_code, *prev_state, *promised_date, *paused_day;
	const char *recv_path; /* the receiving centre's path (收受分离) */
	bool view_only;        /* who sees the case only as its receiving centre */
};

static enum err act_load(struct db_conn *c, struct arena *a, const struct principal *who,
                         const char *case_no, struct act_row *r)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT c.id, c.version, c.org_id, c.case_no, c.state, o.path,"
	                     " c.sub_item_code, c.prev_state, c.promised_date, c.paused_day,"
	                     " rc.path, CASE WHEN o.path LIKE ? THEN 0 ELSE 1 END"
	                     " FROM cases c JOIN orgs o ON o.id = c.org_id"
	                     " LEFT JOIN orgs rc ON rc.id = c.receiving_org_id"
	                     " WHERE c.case_no = ? AND (o.path LIKE ? OR rc.path LIKE ?)",
	                     "ssss", auth_scope_like(who, a), case_no, auth_scope_like(who, a),
	                     auth_scope_like(who, a));
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	r->id = db_int(rs, 0, 0);
	r->version = db_int(rs, 0, 1);
	r->org_id = db_int(rs, 0, 2);
	r->case_no = db_text(rs, 0, 3);
	r->state = db_text(rs, 0, 4);
	r->org_path = db_text(rs, 0, 5);
	r->sub_code = db_text(rs, 0, 6);
	r->prev_state = db_text(rs, 0, 7);
	r->promised_date = db_text(rs, 0, 8);
	r->paused_day = db_text(rs, 0, 9);
	r->recv_path = db_text(rs, 0, 10);
	r->view_only = db_int(rs, 0, 11) != 0;
	return ERR_OK;
}

static enum err act_tx(struct server *srv, const struct cases_caller *by, struct db_conn *c,
                       struct arena *a, const char *case_no, const char *action, int64_t version,
                       const struct act_args *x, struct errinfo *ei)
{
	struct act_row r = {0};
	struct db_rows *rs = NULL;
	const char *to = NULL;
	char today[11];
	int64_t now = time_now_ms(), uid = by->who->user_id;
	enum err e = act_load(c, a, by->who, case_no, &r);
	if (e || (e = cases_forward_guard(by->who, r.state, action, r.view_only, r.recv_path, ei)))
		return e;
	if (r.version != version)
		return conflict(ei);
	if (!cases_transition(r.state, action, &to))
		return state_error(a, ei, r.state, action);
	cases_day_of(now, today);
	json_t *detail = json_object();
	if (!detail)
		return ERR_NOMEM;
	json_arena_own(a, detail);
	if (!strcmp(action, "refuse") || !strcmp(action, "withdraw")) {
		json_object_set_new(detail, "reason", json_string(x->reason));
		e = db_exec(c, a, &rs,
		            "UPDATE cases SET state = ?, version = version + 1, closed_reason = ?,"
		            " closed_at = ?, updated_at = ? WHERE id = ? AND version = ?",
		            "ssiiii", to, x->reason, now, now, r.id, version);
	} else if (!strcmp(action, "request_correction")) {
		json_t *corr =
		    json_pack("{s:O,s:s*,s:s,s:I,s:I}", "items", x->items, "note", x->note, "day",
		              today, "at", (json_int_t)now, "by", (json_int_t)uid);
		const char *ct = corr ? json_dump_arena(corr, a) : NULL;
		json_decref(corr);
		if (!ct)
			return ERR_NOMEM;
		json_object_set(detail, "items", x->items);
		if (x->note)
			json_object_set_new(detail, "note", json_string(x->note));
		if ((e = db_exec(c, a, NULL,
		                 "INSERT INTO case_corrections (case_id, from_state, items, note,"
		                 " requested_at, requested_by, request_day)"
		                 " VALUES (?, ?, ?, ?, ?, NULLIF(?, CAST(0 AS BIGINT)), ?)",
		                 "isssiis", r.id, r.state, json_dump_arena(x->items, a), x->note,
		                 now, uid, today)))
			return e;
		e = db_exec(c, a, &rs,
		            "UPDATE cases SET state = 'correction', prev_state = ?, correction = ?,"
		            " paused_at = ?, paused_day = ?, version = version + 1, updated_at = ?"
		            " WHERE id = ? AND version = ?",
		            "ssisiii", r.state, ct, now, today, now, r.id, version);
	} else if (!strcmp(action, "resume")) {
		const char *back = r.prev_state ? r.prev_state : "draft";
		const char *promised = r.promised_date;
		int paused = 0;
		char nd[11];
		if (r.promised_date && r.paused_day && cases_calendar_of(srv)) {
			paused = cases_calendar_count_workdays(cases_calendar_of(srv), r.paused_day,
			                                       today);
			if (paused > 0 && !cases_calendar_add_workdays(cases_calendar_of(srv),
			                                               r.promised_date, paused, nd))
				promised = arena_strdup(a, nd);
			if (paused < 0)
				paused = 0;
		}
		to = back;
		json_object_set_new(detail, "paused_days", json_integer(paused));
		if (promised)
			json_object_set_new(detail, "promised_date", json_string(promised));
		if (x->note)
			json_object_set_new(detail, "note", json_string(x->note));
		if ((e = db_exec(c, a, NULL,
		                 "UPDATE case_corrections SET resumed_at = ?,"
		                 " resumed_by = NULLIF(?, CAST(0 AS BIGINT)),"
		                 " resume_day = ?, paused_days = ? WHERE case_id = ? AND "
		                 "resumed_at IS NULL",
		                 "iisii", now, uid, today, (int64_t)paused, r.id)))
			return e;
		e = db_exec(c, a, &rs,
		            "UPDATE cases SET state = ?, prev_state = NULL, correction = NULL,"
		            " paused_at = NULL, paused_day = NULL, paused_days = paused_days + ?,"
		            " promised_date = ?, version = version + 1, updated_at = ?"
		            " WHERE id = ? AND version = ?",
		            "sisiii", back, (int64_t)paused, promised, now, r.id, version);
	} else if (!strcmp(action, "start")) {
		if (x->note)
			json_object_set_new(detail, "note", json_string(x->note));
		e = db_exec(c, a, &rs,
		            "UPDATE cases SET state = 'in_progress', version = version + 1,"
		            " updated_at = ? WHERE id = ? AND version = ?",
		            "iii", now, r.id, version);
	} else if (!strcmp(action, "complete")) {
		json_object_set_new(detail, "result", json_string(x->result));
		json_object_set_new(detail, "opinion", json_string(x->opinion));
		if (x->cert_no)
			json_object_set_new(detail, "cert_no", json_string(x->cert_no));
		e = db_exec(c, a, &rs,
		            "UPDATE cases SET state = 'completed', result = ?, result_opinion = ?,"
		            " cert_no = ?, completed_at = ?, version = version + 1, updated_at = ?"
		            " WHERE id = ? AND version = ?",
		            "sssiiii", x->result, x->opinion, x->cert_no, now, now, r.id, version);
	} else {
		return ERR_INTERNAL;
	}
	if (e)
		return e;
	if (rs->changes != 1)
		return why_not(c, a, r.id, version, action, ei);
	if (terminal(to) && (e = catalog_unpin(srv, c, a, r.case_no)))
		return e;
	return case_record(srv, by, c, a, r.id, r.case_no, r.org_id, r.org_path, r.sub_code, action,
	                   r.state, to, version + 1, json_dump_arena(detail, a), r.recv_path);
}

struct act_ctx {
	struct server *srv;
	const struct cases_caller *by;
	struct arena *a;
	struct errinfo *ei;
	const char *case_no, *action;
	int64_t version;
	const struct act_args *x;
};

static enum err act_unit(struct db_conn *c, void *ctx)
{
	struct act_ctx *x = ctx;
	return act_tx(x->srv, x->by, c, x->a, x->case_no, x->action, x->version, x->x, x->ei);
}

enum err cases_act(struct server *srv, const struct cases_caller *by, struct arena *a,
                   const char *case_no, const char *action, const json_t *body, json_t **out,
                   json_t **problems, struct errinfo *ei)
{
	struct act_args x = {0};
	int64_t version = 0;
	enum err e;
	if (out)
		*out = NULL;
	if (problems)
		*problems = NULL;
	if (!transition_of(action))
		return err_fail(ei, ERR_NOT_FOUND, "action", "未知的办件操作");
	if (!json_is_object(body))
		return err_fail(ei, ERR_BAD_FIELD, NULL, "请求体应为对象");
	/* A centre manager (case.override) approves a blocked acceptance by accepting it with
	 * the override; everything else needs case.accept. */
	const json_t *ovr = json_object_get(body, "override");
	bool may = by->who && (has_perm(by->who, "case.accept") ||
	                       (!strcmp(action, "accept") && ovr && !json_is_null(ovr) &&
	                        has_perm(by->who, "case.override")));
	if (!may)
		return err_fail(ei, ERR_FORBIDDEN, NULL, "没有办理办件的权限（case.accept）");
	if ((e = version_member(body, ei, &version)))
		return e;
	if (!strcmp(action, "accept"))
		return accept(srv, by, a, case_no, version, body, out, problems, ei);
	if (!strcmp(action, "forward"))
		return cases_forward_act(srv, by, a, case_no, body, out, problems, ei);
	if ((e = act_args_check(action, body, a, &x, ei)))
		goto out;
	struct act_ctx ac = {.srv = srv,
	                     .by = by,
	                     .a = a,
	                     .ei = ei,
	                     .case_no = case_no,
	                     .action = action,
	                     .version = version,
	                     .x = &x};
	if ((e = write_unit(srv, act_unit, &ac)))
		goto out;
	if (out)
		e = cases_get(srv, by, a, case_no, out);
out:
	json_decref(x.items);
	return e;
}

/* A department's decision (cases_decide.c): the same checks and effects as the clerk's action,
 * by the system (no user; the scope is everything), inside the caller's write unit. */
enum err cases_act_system(struct server *srv, struct db_conn *c, struct arena *a,
                          const char *case_no, const char *action, const json_t *body,
                          struct errinfo *ei)
{
	static const struct principal sys = {
	    .username = "system", .name = "系统", .scope_path = "/"};
	const struct cases_caller by = {.who = &sys};
	struct act_args x = {0};
	int64_t version = 0;
	enum err e;
	if (!transition_of(action) || !strcmp(action, "accept"))
		return err_fail(ei, ERR_NOT_FOUND, "action", "未知的办件操作");
	if (!(e = version_member(body, ei, &version)) &&
	    !(e = act_args_check(action, body, a, &x, ei)))
		e = act_tx(srv, &by, c, a, case_no, action, version, &x, ei);
	json_decref(x.items);
	return e;
}
