/* cases_forward.c: 收受分离 (docs/cases.md "收受分离"; DOMAIN.md "全市通办").
 *
 * A case of an item with `separated: true` may be opened in mode "separated": the receiving
 * centre (收件中心) collects the form and the materials as for any draft, checks them as
 * acceptance would, and forwards the case to the responsible centre (受理中心, the
 * applicant's 户籍地/居住地), which accepts and decides it: the case's org_id becomes the
 * responsible centre, receiving_org_id keeps the receiving one. Both see the case; the
 * receiving centre only reads it (and may withdraw it until it is accepted).
 *
 * Which entries are open is the item's vwin_mode (docs/catalog.md): original — only the
 * traditional entry at a centre window; virtual — only through a 远程虚拟窗口; dual — both,
 * and an application a virtual window took stays there. The entry is recorded on the case
 * (entry "window" | "virtual": the channel codes of GB/T 39046 have no virtual window). */
#include <string.h>

#include "auth/auth.h"
#include "cases/cases_int.h"
#include "core/json.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "events/events.h"
#include "ident/ident.h"
#include "server/server.h"

#define DB_WAIT_MS 5000

static bool eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* ---- the entry control ------------------------------------------------------------------ */

enum err cases_entry_check(bool separated, const char *vwin_mode, const char *mode,
                           const char *entry, struct errinfo *ei)
{
	bool sep = eq(mode, "separated"), virt = eq(entry, "virtual");
	if (!sep && !eq(mode, "direct"))
		return err_fail(ei, ERR_INVALID, "mode",
		                "办理模式（mode）应为 direct（直接受理）或 separated（收受分离）");
	if (!virt && !eq(entry, "window"))
		return err_fail(
		    ei, ERR_INVALID, "entry",
		    "办理入口（entry）应为 window（受理中心窗口）或 virtual（远程虚拟窗口）");
	if (sep && !separated)
		return err_fail(ei, ERR_INVALID, "mode", "该事项不支持收受分离");
	/* an unknown vwin_mode is read as the narrowest, original */
	bool v_virtual = eq(vwin_mode, "virtual"), v_dual = eq(vwin_mode, "dual");
	if (virt && !v_virtual && !v_dual)
		return err_fail(ei, ERR_BAD_STATE, "entry",
		                sep ? "该事项不支持虚拟窗口收受分离"
		                    : "该事项不在远程虚拟窗口办理，请到受理中心窗口办理");
	/* virtual closes the traditional 收受分离 entry; a centre window still serves the items it
	 * accepts itself */
	if (sep && !virt && v_virtual)
		return err_fail(ei, ERR_BAD_STATE, "entry",
		                "该事项收受分离已改为虚拟窗口模式，原收受分离入口已关闭");
	return ERR_OK;
}

/* ---- who may do what ---------------------------------------------------------------------- */

enum err cases_forward_guard(const struct principal *who, const char *state, const char *action,
                             bool view_only, const char *receiving_path, struct errinfo *ei)
{
	bool withdraw = eq(action, "withdraw"), forwarded = eq(state, "forwarded");
	if (view_only && !(withdraw && forwarded))
		return err_fail(ei, ERR_FORBIDDEN, "state",
		                forwarded ? "该办件已转交受理中心，收件中心只能查看；受理前可撤回"
		                          : "该办件已转交受理中心办理，收件中心只能查看");
	if (withdraw && forwarded && !(receiving_path && auth_scope_covers(who, receiving_path)))
		return err_fail(ei, ERR_FORBIDDEN, "state",
		                "转交来的办件只能由收件中心撤回；受理中心可不予受理或要求补正");
	return ERR_OK;
}

enum err cases_mode_check(const struct case_row *row, const char *action, struct errinfo *ei)
{
	bool sep = eq(row->mode, "separated");
	if (eq(action, "forward") && !sep)
		return err_fail(
		    ei, ERR_BAD_STATE, "mode",
		    "该办件为直接受理，不能转交；收受分离需在新建办件时选择（mode: separated）");
	/* 收受分离: the receiving centre collects and forwards; only the responsible centre
	 * accepts (the case reaches it as forwarded) */
	if (eq(action, "accept") && eq(row->state, "draft") && sep)
		return err_fail(ei, ERR_BAD_STATE, "mode",
		                "收受分离办件由收件中心转交受理中心受理，请点击“转交受理中心”");
	return ERR_OK;
}

bool cases_action_offered(const struct case_row *row, const struct principal *who,
                          const char *action)
{
	return cases_transition(row->state, action, NULL) &&
	       cases_mode_check(row, action, NULL) == ERR_OK &&
	       cases_forward_guard(who, row->state, action, row->view_only, row->receiving_org_path,
	                           NULL) == ERR_OK;
}

/* ---- the case answer ------------------------------------------------------------------------ */

static json_t *org_json(const struct db_rows *rs, int col)
{
	if (db_is_null(rs, 0, col))
		return json_null();
	return json_pack("{s:I,s:s,s:s}", "id", (json_int_t)db_int(rs, 0, col), "code",
	                 db_text(rs, 0, col + 1), "name", db_text(rs, 0, col + 2));
}

enum err cases_forward_describe(struct db_conn *c, struct arena *a, const struct case_row *row,
                                json_t *o)
{
	struct db_rows *rs = NULL;
	char at[32];
	enum err e = db_exec(c, a, &rs,
	                     "SELECT c.forwarded_at, c.forward_note, u.name, rc.id, rc.code,"
	                     " rc.name, o.id, o.code, o.name FROM cases c"
	                     " JOIN orgs o ON o.id = c.org_id"
	                     " LEFT JOIN orgs rc ON rc.id = c.receiving_org_id"
	                     " LEFT JOIN users u ON u.id = c.forwarded_by WHERE c.id = ?",
	                     "i", row->id);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	bool sep = eq(row->mode, "separated"), virt = eq(row->entry, "virtual");
	json_object_set_new(o, "mode", json_string(row->mode ? row->mode : "direct"));
	json_object_set_new(o, "mode_label", json_string(sep ? "收受分离" : "直接受理"));
	json_object_set_new(o, "entry", json_string(row->entry ? row->entry : "window"));
	json_object_set_new(o, "entry_label", json_string(virt ? "远程虚拟窗口" : "受理中心窗口"));
	json_object_set_new(o, "receiving_org", org_json(rs, 3));
	json_object_set_new(o, "responsible_org", org_json(rs, 6));
	json_object_set_new(o, "forwarded",
	                    db_is_null(rs, 0, 0)
	                        ? json_null()
	                        : json_pack("{s:s,s:s?,s:s?,s:o}", "at",
	                                    time_iso(db_int(rs, 0, 0), at), "by", db_text(rs, 0, 2),
	                                    "note", db_text(rs, 0, 1), "to", org_json(rs, 6)));
	json_object_set_new(o, "view_only", json_boolean(row->view_only));
	return ERR_OK;
}

/* ---- forwarding -------------------------------------------------------------------------------
 */

struct target {
	int64_t id;
	const char *code, *name, *path;
};

struct forward_ctx {
	struct server *srv;
	const struct cases_caller *by;
	struct arena *a;
	struct errinfo *ei;
	const struct case_row *row;
	const struct target *to;
	const char *note;
	int64_t fp[2];
};

static enum err forward_unit(struct db_conn *c, void *ctx)
{
	struct forward_ctx *x = ctx;
	const struct case_row *row = x->row;
	struct db_rows *rs = NULL;
	int64_t now = time_now_ms(), fp[2];
	enum err e = db_exec(c, x->a, &rs,
	                     "UPDATE cases SET state = 'forwarded', org_id = ?, forwarded_at = ?,"
	                     " forwarded_by = ?, forward_note = ?, version = version + 1,"
	                     " updated_at = ? WHERE id = ? AND version = ? AND state = 'draft'"
	                     " AND mode = 'separated' AND org_id = ?",
	                     "iiisiiii", x->to->id, now, x->by->who->user_id, x->note, now, row->id,
	                     row->version, row->org_id);
	if (e)
		return e;
	if (rs->changes != 1) {
		if ((e = db_exec(c, x->a, &rs, "SELECT version, state FROM cases WHERE id = ?", "i",
		                 row->id)))
			return e;
		if (rs->nrows != 1)
			return ERR_NOT_FOUND;
		if (db_int(rs, 0, 0) != row->version)
			return err_fail(x->ei, ERR_CONFLICT, "version",
			                "办件已被他人修改，请刷新后重试");
		return err_fail(x->ei, ERR_BAD_STATE, "state",
		                arena_printf(x->a, "办件当前状态为“%s”，不能转交受理中心",
		                             cases_state_label(db_text(rs, 0, 1))));
	}
	if ((e = case_materials_fingerprint(c, x->a, row->id, fp)))
		return e;
	if (fp[0] != x->fp[0] || fp[1] != x->fp[1])
		return err_fail(x->ei, ERR_CONFLICT, "materials",
		                "办件材料刚被修改，请刷新后重新转交");
	json_t *d = json_pack("{s:{s:s,s:s},s:s?}", "target", "code", x->to->code, "name",
	                      x->to->name, "note", x->note);
	const char *detail = d ? json_dump_arena(d, x->a) : NULL;
	json_decref(d);
	if (!detail)
		return ERR_NOMEM;
	/* the event goes to the responsible centre's lists and the receiving one's */
	return case_record(x->srv, x->by, c, x->a, row->id, row->case_no, x->to->id, x->to->path,
	                   row->sub_item_code, "forward", "draft", "forwarded", row->version + 1,
	                   detail, row->org_path);
}

/* The target member: the code of a centre other than the case's own. */
static enum err target_of(struct db_conn *c, struct arena *a, const char *code,
                          const struct case_row *row, struct target *to, struct errinfo *ei)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(
	    c, a, &rs, "SELECT id, code, name, level, path FROM orgs WHERE code = ?", "s", code);
	if (e)
		return e;
	if (rs->nrows != 1)
		return err_fail(
		    ei, ERR_INVALID, "target",
		    arena_printf(a, "受理中心 %s 不存在，请从可转交的中心中选择", code));
	if (!eq(db_text(rs, 0, 3), "centre"))
		return err_fail(
		    ei, ERR_INVALID, "target",
		    arena_printf(a, "转交对象应为受理中心（%s 不是受理中心）", db_text(rs, 0, 1)));
	if (db_int(rs, 0, 0) == row->org_id)
		return err_fail(
		    ei, ERR_INVALID, "target",
		    "不能转交给本中心：本中心受理请直接受理，或选择申请人户籍地/居住地的受理中心");
	to->id = db_int(rs, 0, 0);
	to->code = db_text(rs, 0, 1);
	to->name = db_text(rs, 0, 2);
	to->path = db_text(rs, 0, 4);
	return ERR_OK;
}

enum err cases_forward_act(struct server *srv, const struct cases_caller *by, struct arena *a,
                           const char *case_no, const json_t *body, json_t **out, json_t **problems,
                           struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct case_row row = {0};
	struct target to = {0};
	struct forward_ctx x = {.srv = srv, .by = by, .a = a, .ei = ei, .row = &row, .to = &to};
	const json_t *v = json_object_get(body, "version");
	const char *target = json_string_value(json_object_get(body, "target"));
	const json_t *nv = json_object_get(body, "note");
	enum err e;
	if (!json_is_integer(v) || json_integer_value(v) < 1)
		return err_fail(ei, ERR_BAD_FIELD, "version", "办件版本号（version）应为正整数");
	struct str t = str_trim(str_from(target ? target : ""));
	if (!t.n || t.n > 50)
		return err_fail(ei, ERR_MISSING_FIELD, "target", "请选择转交的受理中心（target）");
	if (!(target = arena_strndup(a, t.p, t.n)))
		return ERR_NOMEM;
	if (nv && !json_is_null(nv)) {
		struct str n =
		    str_trim(str_from(json_string_value(nv) ? json_string_value(nv) : ""));
		if (!json_is_string(nv) || !utf8_valid(n.p, n.n) || utf8_len(n.p, n.n) > 500)
			return err_fail(ei, ERR_BAD_FIELD, "note",
			                "转交说明应为不超过 500 个字的文本");
		if (n.n && !(x.note = arena_strndup(a, n.p, n.n)))
			return ERR_NOMEM;
	}
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)))
		return e;
	if ((e = case_load(srv, c, a, by->who, case_no, &row)) ||
	    (e = cases_forward_guard(by->who, row.state, "forward", row.view_only,
	                             row.receiving_org_path, ei)))
		goto out;
	if (!cases_transition(row.state, "forward", NULL)) {
		e = err_fail(ei, ERR_BAD_STATE, "state",
		             arena_printf(a, "办件当前状态为“%s”，不能转交受理中心",
		                          cases_state_label(row.state)));
		goto out;
	}
	if ((e = cases_mode_check(&row, "forward", ei)))
		goto out;
	if (row.version != json_integer_value(v)) {
		e = err_fail(ei, ERR_CONFLICT, "version", "办件已被他人修改，请刷新后重试");
		goto out;
	}
	if ((e = target_of(c, a, target, &row, &to, ei)))
		goto out;
	/* the acceptance checks, the same code path (form, pre-review, materials) */
	e = case_ready_check(srv, by, c, a, &row, problems, x.fp, ei);
	if (e == ERR_INVALID && problems && *problems)
		err_fail(
		    ei, ERR_INVALID, NULL,
		    arena_printf(a, "转交前检查未通过，共 %zu 项问题", json_array_size(*problems)));
	if (e)
		goto out;
	db_release(c);
	c = NULL;
	if (!(e = db_write_unit(srv->db, forward_unit, &x, DB_WAIT_MS))) {
		outbox_notify(srv->outbox);
		if (out)
			e = cases_get(srv, by, a, case_no, out);
	}
out:
	case_row_release(&row);
	db_release(c);
	return e;
}

/* ---- forward targets ------------------------------------------------------------------------- */

/* A district code ("310115") and street name wanted for the applicant, from an address value
 * of the catalog ({"district","street",…}). */
static void from_address(const json_t *addr, const char **district, const char **street)
{
	const char *d = json_string_value(json_object_get(addr, "district"));
	const char *s = json_string_value(json_object_get(addr, "street"));
	if (d && *d && !*district) {
		*district = d;
		if (s && *s)
			*street = s;
	}
}

enum err cases_forward_targets(struct server *srv, const struct cases_caller *by, struct arena *a,
                               const char *case_no, json_t **out, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct case_row row = {0};
	struct db_rows *rs = NULL, *dn = NULL;
	json_t *profile = NULL, *list = NULL;
	const char *district = NULL, *street = NULL, *source = NULL;
	enum err e;
	(void)ei;
	*out = NULL;
	if ((e = db_acquire(srv->db, DB_WAIT_MS, &c)))
		return e;
	if ((e = case_load(srv, c, a, by->who, case_no, &row)))
		goto out;
	/* 居住地: the form's address, else the resident's; 户籍地: the address code of a
	 * Shanghai ID number */
	from_address(json_object_get(json_object_get(row.form, "applicant"), "address"), &district,
	             &street);
	e = ident_resident_get(srv, c, a, row.resident_id, &profile);
	if (e && e != ERR_NOT_FOUND)
		goto out;
	e = ERR_OK;
	from_address(json_object_get(profile, "address"), &district, &street);
	if (district)
		source = "居住地";
	const char *num = json_string_value(json_object_get(profile, "id_number"));
	if (!district && num && strlen(num) == 18 && !strncmp(num, "31", 2)) {
		district = arena_strndup(a, num, 6);
		source = "户籍地";
	}
	if ((e = db_exec(c, a, &rs,
	                 "SELECT ce.code, ce.name, s.code, s.name, s.level, d.code, d.name"
	                 " FROM orgs ce LEFT JOIN orgs s ON s.id = ce.parent_id"
	                 " LEFT JOIN orgs d ON d.id = s.parent_id"
	                 " WHERE ce.level = 'centre' AND ce.id <> ? ORDER BY ce.code",
	                 "i", row.org_id)) ||
	    (e = db_exec(c, a, &dn,
	                 "SELECT code, name FROM orgs WHERE code = ? AND level = 'district'", "s",
	                 district ? district : "")))
		goto out;
	/* a centre of the applicant's street when there is one, else every centre of the
	 * district */
	bool street_hit = false;
	for (int r = 0; street && r < rs->nrows; r++)
		if (eq(db_text(rs, r, 4), "street") && eq(db_text(rs, r, 5), district) &&
		    eq(db_text(rs, r, 3), street))
			street_hit = true;
	if (!(list = json_array())) {
		e = ERR_NOMEM;
		goto out;
	}
	for (int k = 0; k < 2 * rs->nrows; k++) { /* the suggested centres first */
		int r = k % rs->nrows;
		bool on_street = eq(db_text(rs, r, 4), "street");
		const char *dc = on_street ? db_text(rs, r, 5) : db_text(rs, r, 2);
		const char *dname = on_street ? db_text(rs, r, 6) : db_text(rs, r, 3);
		bool sug =
		    district && eq(dc, district) && (!street_hit || eq(db_text(rs, r, 3), street));
		if (sug != (k < rs->nrows))
			continue;
		json_t *it = json_pack("{s:s,s:s,s:{s:s?,s:s?},s:b}", "code", db_text(rs, r, 0),
		                       "name", db_text(rs, r, 1), "district", "code", dc, "name",
		                       dname, "suggested", sug);
		if (it && on_street)
			json_object_set_new(it, "street",
			                    json_pack("{s:s,s:s}", "code", db_text(rs, r, 2),
			                              "name", db_text(rs, r, 3)));
		if (!it || json_array_append_new(list, it)) {
			e = ERR_NOMEM;
			goto out;
		}
	}
	*out = json_pack("{s:s,s:o,s:O}", "case_no", row.case_no, "district",
	                 dn->nrows == 1 ? json_pack("{s:s,s:s,s:s}", "code", db_text(dn, 0, 0),
	                                            "name", db_text(dn, 0, 1), "source", source)
	                                : json_null(),
	                 "targets", list);
	if (!*out)
		e = ERR_NOMEM;
out:
	json_decref(list);
	case_row_release(&row);
	db_release(c);
	return e;
}
