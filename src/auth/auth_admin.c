/* auth_admin.c: user, password and organisation administration shared by the admin API and
 * the operator commands, and the demo data set. */
#include "auth/auth_int.h"

#include "audit/audit.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "sensitive/sensitive.h"

void auth_actor_entry(const struct actor *act, struct audit_entry *e)
{
	if (act && act->who) {
		e->actor_id = act->who->user_id;
		e->actor_name = act->who->username;
	} else {
		e->actor_id = 0;
		e->actor_name = "cli";
	}
	if (act && act->r) {
		e->client_ip = act->r->client_ip;
		e->trace_id = act->r->trace.trace_id;
	}
}

/* Duties that one account must never combine (GB/T 22239 三员分立). */
enum duty { DUTY_NONE, DUTY_SYSTEM, DUTY_SECURITY, DUTY_AUDIT };

static enum duty duty_of(const char *perm)
{
	if (!strcmp(perm, "user.manage") || !strcmp(perm, "org.manage") ||
	    !strcmp(perm, "system.config"))
		return DUTY_SYSTEM;
	if (!strcmp(perm, "role.manage") || !strcmp(perm, "key.manage"))
		return DUTY_SECURITY;
	if (!strcmp(perm, "audit.read"))
		return DUTY_AUDIT;
	return DUTY_NONE;
}

enum err auth_roles_resolve(struct server *srv, struct db_conn *c, struct arena *a,
                            const char **codes, int n, int64_t *role_ids, struct errinfo *ei)
{
	struct buf canon;
	struct db_rows *rs = NULL;
	unsigned duties = 0;
	enum err e = ERR_OK;
	buf_init(&canon, 4096);
	if (n < 1) {
		e = auth_fail(ei, a, ERR_BAD_FIELD, "roles", "请至少选择一个角色");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		for (int j = 0; j < i; j++)
			if (!strcmp(codes[i], codes[j])) {
				e = auth_fail(ei, a, ERR_BAD_FIELD, "roles", "角色“%s”重复",
				              codes[i]);
				goto out;
			}
		if ((e = db_exec(c, a, &rs, "SELECT id, name, mac FROM roles WHERE code = ?", "s",
		                 codes[i])))
			goto out;
		if (rs->nrows == 0) {
			e = auth_fail(ei, a, ERR_NOT_FOUND, "roles", "角色“%s”不存在", codes[i]);
			goto out;
		}
		role_ids[i] = db_int(rs, 0, 0);
		canon_role(&canon, role_ids[i], codes[i], db_text(rs, 0, 1));
		if (auth_row_verify(srv->auth, srv->keys, "roles", &canon, db_text(rs, 0, 2)) !=
		    ROW_OK) {
			log_error("security.integrity",
			          "roles row %lld (%s) does not match its MAC",
			          (long long)role_ids[i], codes[i]);
			e = auth_fail(ei, a, ERR_INTEGRITY, "roles",
			              "角色“%s”的数据完整性校验失败，不能授予", codes[i]);
			goto out;
		}
		if ((e = db_exec(c, a, &rs, "SELECT perm, mac FROM role_perms WHERE role_id = ?",
		                 "i", role_ids[i])))
			goto out;
		for (int k = 0; k < rs->nrows; k++) {
			canon_role_perm(&canon, role_ids[i], db_text(rs, k, 0));
			if (auth_row_verify(srv->auth, srv->keys, "role_perms", &canon,
			                    db_text(rs, k, 1)) == ROW_OK)
				duties |= 1u << duty_of(db_text(rs, k, 0));
		}
	}
	duties &= ~(1u << DUTY_NONE);
	if (duties & (duties - 1))
		e = auth_fail(ei, a, ERR_INVALID, "roles",
		              "系统管理、安全管理和安全审计须由不同账号承担（三员分立），"
		              "不能授予同一账号");
out:
	buf_release(&canon);
	return e;
}

/* Insert the user row, the first history entry and the role grants (with MACs). */
static enum err insert_user(struct server *srv, struct db_conn *c, struct arena *a,
                            const char *username, const char *name, int64_t org_id,
                            const int64_t *role_ids, int nroles, const char *hash, bool must_change,
                            int64_t now, int64_t *user_id)
{
	struct db_rows *rs = NULL;
	struct buf canon;
	char mac[65];
	buf_init(&canon, 1024);
	enum err e =
	    db_exec(c, a, &rs,
	            "INSERT INTO users (username, name, org_id, status, failed_count,"
	            " locked_until, password_hash, password_changed_at, must_change,"
	            " created_at, updated_at, version)"
	            " VALUES (?, ?, ?, 'active', 0, 0, ?, ?, ?, ?, ?, 1) RETURNING id",
	            "ssisiiii", username, name, org_id, hash, now, (int64_t)must_change, now, now);
	if (e)
		goto out;
	*user_id = db_int(rs, 0, 0);
	if ((e = db_exec(c, a, NULL,
	                 "INSERT INTO password_history (user_id, password_hash, created_at)"
	                 " VALUES (?, ?, ?)",
	                 "isi", *user_id, hash, now)))
		goto out;
	for (int i = 0; i < nroles; i++) {
		canon_user_role(&canon, *user_id, role_ids[i]);
		auth_row_mac(srv->keys, "user_roles", &canon, mac);
		if ((e = db_exec(c, a, NULL,
		                 "INSERT INTO user_roles (user_id, role_id, mac) VALUES (?, ?, ?)",
		                 "iis", *user_id, role_ids[i], mac)))
			goto out;
	}
out:
	buf_release(&canon);
	return e;
}

static char *hash_password(struct server *srv, struct arena *a, const char *password)
{
	struct buf h;
	buf_init(&h, 512);
	char *out = NULL;
	if (crypto_password_hash(password, (uint32_t)srv->cfg.pbkdf2_iter, &h) == ERR_OK)
		out = arena_strdup(a, h.p);
	buf_release(&h);
	return out;
}

static bool name_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (!n || !utf8_valid(s, n) || utf8_len(s, n) > AUTH_NAME_MAX)
		return false;
	if (str_trim((struct str){s, n}).n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20)
			return false;
	return true;
}

/* ---- staff contact data ---- */

enum err auth_contact_check(struct arena *a, const char *field, const char *value,
                            const char **norm, struct errinfo *ei)
{
	bool phone = !strcmp(field, "phone");
	*norm = NULL;
	if (!value)
		return ERR_OK;
	const char *v = sensitive_normalize(phone ? "users.phone" : "users.id_number", value, a);
	if (!v)
		return ERR_NOMEM; /* the HTTP layer has already refused invalid UTF-8 */
	if (!*v)
		return ERR_OK;
	/* The messages never repeat the value: they end up in logs and screenshots. */
	if (phone && !sensitive_phone_valid(v))
		return auth_fail(ei, a, ERR_BAD_FIELD, field, "手机号码应为 11 位中国大陆手机号码");
	if (!phone && !sensitive_id_number_valid(v))
		return auth_fail(ei, a, ERR_BAD_FIELD, field,
		                 "身份证号码不正确：应为 18 位，出生日期有效，且末位校验码正确");
	*norm = v;
	return ERR_OK;
}

enum err auth_contact_seal(struct server *srv, struct arena *a, const char *field,
                           const char *value, struct sealed_field *out, struct errinfo *ei)
{
	const char *norm;
	memset(out, 0, sizeof(*out));
	enum err e = auth_contact_check(a, field, value, &norm, ei);
	if (e || !norm)
		return e;
	const char *column = !strcmp(field, "phone") ? "users.phone" : "users.id_number";
	e = sensitive_seal(srv->keys, column, norm, a, &out->blob, &out->n, &out->bidx);
	if (e)
		log_error("auth.contact", "cannot seal %s (%s)", column, err_code(e));
	return e;
}

/* Parameters for one sealed column: a blob and its index, or two NULLs. */
static void bind_sealed(struct db_val *v, const struct sealed_field *f)
{
	memset(v, 0, 2 * sizeof(*v));
	if (!f->blob) {
		v[0].type = v[1].type = DB_NULL;
		return;
	}
	v[0].type = DB_BLOB;
	v[0].p = f->blob;
	v[0].n = f->n;
	v[1].type = DB_TEXT;
	v[1].p = f->bidx;
	v[1].n = strlen(f->bidx);
}

enum err auth_contact_store(struct db_conn *c, struct arena *a, int64_t uid,
                            const struct sealed_field *phone, const struct sealed_field *id_number)
{
	struct db_val v[5];
	int n = 0;
	const char *sql;
	if (phone && id_number)
		sql = "UPDATE users SET phone_enc = ?, phone_bidx = ?, id_number_enc = ?,"
		      " id_number_bidx = ? WHERE id = ?";
	else if (phone)
		sql = "UPDATE users SET phone_enc = ?, phone_bidx = ? WHERE id = ?";
	else if (id_number)
		sql = "UPDATE users SET id_number_enc = ?, id_number_bidx = ? WHERE id = ?";
	else
		return ERR_OK;
	if (phone) {
		bind_sealed(v + n, phone);
		n += 2;
	}
	if (id_number) {
		bind_sealed(v + n, id_number);
		n += 2;
	}
	memset(&v[n], 0, sizeof(v[n]));
	v[n].type = DB_INT;
	v[n].i = uid;
	return db_execv(c, a, NULL, sql, v, n + 1);
}

/* JSON array of codes, for audit details (new reference). */
static json_t *codes_array(const char **codes, int n)
{
	json_t *arr = json_array();
	for (int i = 0; i < n; i++)
		json_array_append_new(arr, json_string(codes[i]));
	return arr;
}

enum err auth_user_create(struct server *srv, struct arena *a, const struct actor *act,
                          const struct user_spec *spec, int64_t *user_id, struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	char msg[160];
	enum err e;

	if (!auth_username_valid(spec->username))
		return auth_fail(ei, a, ERR_BAD_FIELD, "username",
		                 "用户名须以小写字母开头，由 3 至 32 位小写字母、数字、下划线、"
		                 "点或连字符组成");
	if (!name_valid(spec->name))
		return auth_fail(ei, a, ERR_BAD_FIELD, "name", "姓名不能为空，且不超过 64 个字符");
	if (auth_password_check(spec->username, spec->password, msg, sizeof(msg)))
		return auth_fail(ei, a, ERR_PASSWORD_POLICY, "password", "%s", msg);
	struct sealed_field phone, id_number;
	if ((e = auth_contact_seal(srv, a, "phone", spec->phone, &phone, ei)) ||
	    (e = auth_contact_seal(srv, a, "id_number", spec->id_number, &id_number, ei)))
		return e;
	int64_t *role_ids = arena_zalloc(a, (size_t)(spec->nroles + 1) * sizeof(int64_t));
	char *hash = hash_password(srv, a, spec->password);
	if (!role_ids || !hash)
		return ERR_NOMEM;

	int64_t now = time_now_ms();
	if ((e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c)))
		goto out;
	if ((e = db_begin_write(c)))
		goto out;
	if ((e = db_exec(c, a, &rs, "SELECT id, path FROM orgs WHERE code = ?", "s",
	                 spec->org_code ? spec->org_code : "")))
		goto out;
	if (rs->nrows == 0) {
		e = auth_fail(ei, a, ERR_NOT_FOUND, "org_code", "机构“%s”不存在",
		              spec->org_code ? spec->org_code : "");
		goto out;
	}
	int64_t org_id = db_int(rs, 0, 0);
	if (act->who && !auth_scope_covers(act->who, db_text(rs, 0, 1))) {
		e = auth_fail(ei, a, ERR_OUT_OF_SCOPE, "org_code", "机构“%s”不在您的管辖范围内",
		              spec->org_code);
		goto out;
	}
	if ((e = auth_roles_resolve(srv, c, a, spec->roles, spec->nroles, role_ids, ei)))
		goto out;
	e = insert_user(srv, c, a, spec->username, spec->name, org_id, role_ids, spec->nroles, hash,
	                spec->must_change, now, user_id);
	if (e == ERR_EXISTS)
		e = auth_fail(ei, a, ERR_EXISTS, "username", "用户名“%s”已存在", spec->username);
	if (e)
		goto out;
	if ((phone.blob || id_number.blob) &&
	    (e = auth_contact_store(c, a, *user_id, &phone, &id_number)))
		goto out;
	struct audit_entry ae = {
	    .action = "admin.user.create",
	    .target = arena_printf(a, "user:%lld", (long long)*user_id),
	};
	json_t *d =
	    json_pack("{ss ss ss so}", "username", spec->username, "name", spec->name, "org",
	              spec->org_code, "roles", codes_array(spec->roles, spec->nroles));
	/* That a contact value was recorded, never the value (it is personal data). */
	if (phone.blob)
		json_object_set_new(d, "phone", json_string("set"));
	if (id_number.blob)
		json_object_set_new(d, "id_number", json_string("set"));
	ae.detail = json_dump_arena(json_arena_own(a, d), a);
	auth_actor_entry(act, &ae);
	if ((e = audit_append(c, a, &ae)))
		goto out;
	e = db_commit(c);
out:
	if (c)
		db_release(c);
	return e;
}

enum err auth_password_set(struct server *srv, struct arena *a, const struct actor *act,
                           int64_t user_id, const char *username, const char *password,
                           bool must_change, int64_t keep_session, const char *action,
                           struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct db_rows *hist = NULL;
	char msg[160];
	enum err e;

	if (auth_password_check(username, password, msg, sizeof(msg)))
		return auth_fail(ei, a, ERR_PASSWORD_POLICY, "new_password", "%s", msg);
	if ((e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c)))
		return e;
	e = db_exec(c, a, &hist,
	            "SELECT password_hash FROM users WHERE id = ? UNION ALL"
	            " SELECT password_hash FROM (SELECT password_hash FROM password_history"
	            " WHERE user_id = ? ORDER BY id DESC LIMIT 5) h",
	            "ii", user_id, user_id);
	/* Hashing is slow: hold no connection meanwhile. */
	db_release(c);
	c = NULL;
	if (e)
		return e;
	for (int i = 0; i < hist->nrows; i++)
		if (crypto_password_verify(password, db_text(hist, i, 0)))
			return auth_fail(ei, a, ERR_PASSWORD_POLICY, "new_password",
			                 "新密码不能与最近 %d 次使用过的密码相同",
			                 AUTH_PASSWORD_HISTORY);
	char *hash = hash_password(srv, a, password);
	if (!hash)
		return ERR_NOMEM;

	int64_t now = time_now_ms();
	if ((e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c)))
		goto out;
	if ((e = db_begin_write(c)))
		goto out;
	if ((e = db_exec(c, a, NULL,
	                 "UPDATE users SET password_hash = ?, password_changed_at = ?,"
	                 " must_change = ?, failed_count = 0, locked_until = 0, updated_at = ?,"
	                 " version = version + 1 WHERE id = ?",
	                 "siiii", hash, now, (int64_t)must_change, now, user_id)) ||
	    (e = db_exec(c, a, NULL,
	                 "INSERT INTO password_history (user_id, password_hash, created_at)"
	                 " VALUES (?, ?, ?)",
	                 "isi", user_id, hash, now)) ||
	    (e = db_exec(c, a, NULL,
	                 "DELETE FROM password_history WHERE user_id = ? AND id NOT IN"
	                 " (SELECT id FROM password_history WHERE user_id = ?"
	                 " ORDER BY id DESC LIMIT 5)",
	                 "ii", user_id, user_id)) ||
	    (e = db_exec(c, a, NULL, "DELETE FROM sessions WHERE user_id = ? AND id <> ?", "ii",
	                 user_id, keep_session)))
		goto out;
	struct audit_entry ae = {
	    .action = action,
	    .target = arena_printf(a, "user:%lld", (long long)user_id),
	    .detail = arena_printf(a, "{\"username\":\"%s\",\"must_change\":%s}", username,
	                           must_change ? "true" : "false"),
	};
	auth_actor_entry(act, &ae);
	if ((e = audit_append(c, a, &ae)))
		goto out;
	/* The old password hash, the lock and the other sessions are gone: so is whatever the
	 * principal cache holds of this user (must_change, password_changed_at). */
	if ((e = db_commit(c)) == ERR_OK)
		auth_invalidate_user(srv, user_id);
out:
	if (c)
		db_release(c);
	return e;
}

/* ---- operator commands ---- */

static void copy_msg(char *msg, size_t msgsz, enum err e, const struct errinfo *ei)
{
	if (msg && msgsz)
		snprintf(msg, msgsz, "%s", ei->msg ? ei->msg : err_message(e));
}

enum err auth_admin_create_user(struct server *srv, const char *username, const char *name,
                                const char *org_code, const char *roles_csv, const char *password,
                                char *msg, size_t msgsz)
{
	struct arena a;
	struct errinfo ei = {0};
	arena_init(&a, 0);
	enum err e = ERR_NOMEM;
	const char **roles =
	    arena_zalloc(&a, (strlen(roles_csv ? roles_csv : "") + 1) * sizeof(char *));
	if (!roles)
		goto out;
	int n = 0;
	struct str rest = str_from(roles_csv ? roles_csv : ""), head;
	while (rest.p) {
		rest = str_cut(rest, ',', &head);
		head = str_trim(head);
		if (head.n)
			roles[n++] = arena_strndup(&a, head.p, head.n);
	}
	struct user_spec spec = {
	    .username = username,
	    .name = name,
	    .org_code = org_code,
	    .roles = roles,
	    .nroles = n,
	    .password = password,
	    .must_change = true,
	};
	struct actor act = {0};
	int64_t id = 0;
	e = auth_user_create(srv, &a, &act, &spec, &id, &ei);
	if (e)
		copy_msg(msg, msgsz, e, &ei);
	else if (msg && msgsz)
		snprintf(msg, msgsz, "已创建用户 %s（编号 %lld），首次登录须修改密码", username,
		         (long long)id);
out:
	arena_release(&a);
	return e;
}

enum err auth_admin_reset_password(struct server *srv, const char *username, const char *password,
                                   char *msg, size_t msgsz)
{
	struct arena a;
	struct errinfo ei = {0};
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	arena_init(&a, 0);
	enum err e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c);
	if (!e)
		e = db_exec(c, &a, &rs, "SELECT id FROM users WHERE username = ?", "s",
		            username ? username : "");
	if (c)
		db_release(c);
	if (e) {
		copy_msg(msg, msgsz, e, &ei);
		goto out;
	}
	if (rs->nrows == 0) {
		e = ERR_NOT_FOUND;
		snprintf(msg, msgsz, "用户“%s”不存在", username ? username : "");
		goto out;
	}
	struct actor act = {0};
	e = auth_password_set(srv, &a, &act, db_int(rs, 0, 0), username, password, true, 0,
	                      "admin.password.reset", &ei);
	if (e)
		copy_msg(msg, msgsz, e, &ei);
	else if (msg && msgsz)
		snprintf(msg, msgsz, "已重置用户 %s 的密码并解除锁定，下次登录须修改密码",
		         username);
out:
	arena_release(&a);
	return e;
}

static int level_rank(const char *level)
{
	static const char *const levels[] = {"city", "district", "street", "centre"};
	for (int i = 0; i < 4; i++)
		if (level && !strcmp(level, levels[i]))
			return i;
	return -1;
}

static bool org_code_valid(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 1 || n > 32)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z')))
			return false;
	return true;
}

enum err auth_org_insert(struct db_conn *c, struct arena *a, const char *code, const char *name,
                         const char *level, int64_t parent_id, const char *parent_path, int64_t now,
                         int64_t *id, const char **path)
{
	struct db_rows *rs = NULL;
	enum err e;
	if (parent_id)
		e = db_exec(c, a, &rs,
		            "INSERT INTO orgs (code, name, level, parent_id, path, created_at,"
		            " updated_at) VALUES (?, ?, ?, ?, '', ?, ?) RETURNING id",
		            "sssiii", code, name, level, parent_id, now, now);
	else
		e = db_exec(c, a, &rs,
		            "INSERT INTO orgs (code, name, level, parent_id, path, created_at,"
		            " updated_at) VALUES (?, ?, ?, NULL, '', ?, ?) RETURNING id",
		            "sssii", code, name, level, now, now);
	if (e)
		return e;
	*id = db_int(rs, 0, 0);
	*path = arena_printf(a, "%s%lld/", parent_path ? parent_path : "/", (long long)*id);
	if (!*path)
		return ERR_NOMEM;
	return db_exec(c, a, NULL, "UPDATE orgs SET path = ? WHERE id = ?", "si", *path, *id);
}

enum err auth_admin_create_org(struct server *srv, const char *code, const char *name,
                               const char *level, const char *parent_code, char *msg, size_t msgsz)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	arena_init(&a, 0);
	enum err e = ERR_BAD_FIELD;
	int rank = level_rank(level);
	if (!org_code_valid(code)) {
		snprintf(msg, msgsz, "机构代码须为 1 至 32 位数字或大写字母");
		goto out;
	}
	if (!name_valid(name)) {
		snprintf(msg, msgsz, "机构名称不能为空，且不超过 64 个字符");
		goto out;
	}
	if (rank < 0) {
		snprintf(msg, msgsz, "机构层级须为 city、district、street 或 centre");
		goto out;
	}
	if ((e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c)) || (e = db_begin_write(c)))
		goto fail;
	int64_t parent_id = 0;
	const char *parent_path = NULL;
	if (parent_code && *parent_code) {
		if ((e = db_exec(c, &a, &rs, "SELECT id, path, level FROM orgs WHERE code = ?", "s",
		                 parent_code)))
			goto fail;
		if (rs->nrows == 0) {
			e = ERR_NOT_FOUND;
			snprintf(msg, msgsz, "上级机构“%s”不存在", parent_code);
			goto out;
		}
		if (level_rank(db_text(rs, 0, 2)) >= rank) {
			e = ERR_INVALID;
			snprintf(msg, msgsz, "机构层级须低于上级机构");
			goto out;
		}
		parent_id = db_int(rs, 0, 0);
		parent_path = db_text(rs, 0, 1);
	}
	int64_t id;
	const char *path;
	e = auth_org_insert(c, &a, code, name, level, parent_id, parent_path, time_now_ms(), &id,
	                    &path);
	if (e == ERR_EXISTS) {
		snprintf(msg, msgsz, "机构代码“%s”已存在", code);
		goto out;
	}
	if (e)
		goto fail;
	struct audit_entry ae = {
	    .actor_name = "cli",
	    .action = "admin.org.create",
	    .target = arena_printf(&a, "org:%lld", (long long)id),
	    .detail = arena_printf(&a, "{\"code\":\"%s\",\"level\":\"%s\"}", code, level),
	};
	if ((e = audit_append(c, &a, &ae)) || (e = db_commit(c)))
		goto fail;
	snprintf(msg, msgsz, "已创建机构 %s %s", code, name);
	goto out;
fail:
	snprintf(msg, msgsz, "%s", err_message(e));
out:
	if (c)
		db_release(c);
	arena_release(&a);
	return e;
}

enum err auth_admin_org_contact(struct server *srv, const char *code, const char *phone,
                                const char *address, char *msg, size_t msgsz)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	arena_init(&a, 0);
	enum err e = ERR_BAD_FIELD;
	size_t pn = phone ? strlen(phone) : 0;
	/* A landline with its area code (021-64870001), a mobile, or a hotline like 12345. */
	bool phone_ok = pn >= 5 && pn <= 20 && strspn(phone, "0123456789-") == pn &&
	                phone[0] != '-' && phone[pn - 1] != '-';
	if (!phone_ok) {
		snprintf(msg, msgsz, "咨询电话应为 5–20 位数字（可含“-”），如 021-64870001");
		goto out;
	}
	if (address && *address && !name_valid(address)) {
		snprintf(msg, msgsz, "地址不能含控制字符，且不超过 %d 个字符", AUTH_NAME_MAX);
		goto out;
	}
	if ((e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c)) || (e = db_begin_write(c)))
		goto fail;
	if ((e = db_exec(c, &a, &rs,
	                 "UPDATE orgs SET phone = ?, address = COALESCE(?, address), updated_at = ?"
	                 " WHERE code = ? RETURNING id",
	                 "ssis", phone, address && *address ? address : NULL, time_now_ms(), code)))
		goto fail;
	if (rs->nrows == 0) {
		e = ERR_NOT_FOUND;
		snprintf(msg, msgsz, "机构“%s”不存在", code ? code : "");
		goto out;
	}
	struct audit_entry ae = {
	    .actor_name = "cli",
	    .action = "admin.org.contact",
	    .target = arena_printf(&a, "org:%lld", (long long)db_int(rs, 0, 0)),
	    .detail = "{\"fields\":[\"phone\",\"address\"]}",
	};
	if ((e = audit_append(c, &a, &ae)) || (e = db_commit(c)))
		goto fail;
	snprintf(msg, msgsz, "已更新机构 %s 的咨询电话和地址", code);
	goto out;
fail:
	snprintf(msg, msgsz, "%s", err_message(e));
out:
	if (c)
		db_release(c);
	arena_release(&a);
	return e;
}
