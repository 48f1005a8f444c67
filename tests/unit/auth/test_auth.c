/* test_auth.c: password policy, rate limits, data scope, demo data, user administration and
 * the integrity of access-control rows (a row tampered with in the database grants
 * nothing). */
#include "../common/db_fixture.h"

#include "audit/audit.h"
#include "auth/auth.h"
#include "auth/auth_int.h"
#include "core/log.h"
#include "core/timeutil.h"

/* ---- helpers ---- */

static void start_auth(void)
{
	assert_int_equal(auth_module.init(&dbfx.srv), ERR_OK);
}

static void stop_auth(void)
{
	auth_module.release(&dbfx.srv);
}

static int64_t id_of(struct arena *a, const char *sql)
{
	struct db_rows *rs = dbfx_sql(a, sql);
	assert_int_equal(rs->nrows, 1);
	return db_int(rs, 0, 0);
}

/* Identity and verified grants of user_id; *issues gets the tampered rows. */
static void load(struct arena *a, int64_t user_id, struct identity *id,
                 struct integrity_issue **issues)
{
	struct db_conn *c = NULL;
	*issues = NULL;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(store_identity_by_user(c, a, user_id, id), ERR_OK);
	assert_int_equal(store_load_grants(&dbfx.srv, c, a, id, issues), ERR_OK);
	db_release(c);
}

static bool has_perm(const struct identity *id, const char *perm)
{
	for (int i = 0; i < id->nperms; i++)
		if (!strcmp(id->perms[i], perm))
			return true;
	return false;
}

static int count(struct arena *a, const char *sql)
{
	return (int)id_of(a, sql);
}

/* ---- password policy ---- */

static void test_password_policy_names_each_rule(void **state)
{
	(void)state;
	char msg[200];
	assert_int_equal(auth_password_check("clerk", "Clerk@2026demo", msg, sizeof(msg)),
	                 ERR_PASSWORD_POLICY); /* contains the username, any case */
	assert_non_null(strstr(msg, "用户名"));
	assert_int_equal(auth_password_check("wang", "Ab1!xyz", msg, sizeof(msg)),
	                 ERR_PASSWORD_POLICY);
	assert_non_null(strstr(msg, "8"));
	assert_int_equal(auth_password_check("wang", "abcdefgh12", msg, sizeof(msg)),
	                 ERR_PASSWORD_POLICY);
	assert_non_null(strstr(msg, "三类"));
	assert_int_equal(auth_password_check("wang", "ABCDEFGH!!", msg, sizeof(msg)),
	                 ERR_PASSWORD_POLICY);
	char longpw[140];
	memset(longpw, 'a', sizeof(longpw) - 1);
	longpw[sizeof(longpw) - 1] = 0;
	longpw[0] = 'A';
	longpw[1] = '1';
	assert_int_equal(auth_password_check("wang", longpw, msg, sizeof(msg)),
	                 ERR_PASSWORD_POLICY);
	assert_non_null(strstr(msg, "128"));
	/* Three classes are enough; a Chinese character counts as a symbol; 8 characters, not
	 * bytes. */
	assert_int_equal(auth_password_check("wang", "abcdefg1!", msg, sizeof(msg)), ERR_OK);
	assert_int_equal(auth_password_check("wang", "Abcdefg1", msg, sizeof(msg)), ERR_OK);
	assert_int_equal(auth_password_check("wang", "密码Abc12345", msg, sizeof(msg)), ERR_OK);
	assert_int_equal(auth_password_check("wang", "密码密码Abc1", msg, sizeof(msg)), ERR_OK);
	assert_int_equal(auth_password_check("wang", "密码Ab1", msg, sizeof(msg)),
	                 ERR_PASSWORD_POLICY);
}

static void test_username_syntax(void **state)
{
	(void)state;
	assert_true(auth_username_valid("clerk"));
	assert_true(auth_username_valid("a.b-c_9"));
	assert_false(auth_username_valid("ab"));
	assert_false(auth_username_valid("1abc"));
	assert_false(auth_username_valid("Clerk"));
	assert_false(auth_username_valid("wang fang"));
	assert_false(auth_username_valid("abcdefghijklmnopqrstuvwxyz0123456"));
	assert_false(auth_username_valid(NULL));
}

/* ---- rate limiter ---- */

static void test_rate_limit_window_slides(void **state)
{
	(void)state;
	struct ratelimit rl;
	assert_int_equal(rl_init(&rl, 3, 60000), ERR_OK);
	int64_t t = 1000000;
	assert_true(rl_take(&rl, "1.2.3.4", t));
	assert_true(rl_take(&rl, "1.2.3.4", t + 10000));
	assert_true(rl_take(&rl, "1.2.3.4", t + 20000));
	assert_false(rl_take(&rl, "1.2.3.4", t + 30000));
	assert_true(rl_take(&rl, "5.6.7.8", t + 30000)); /* other keys are independent */
	assert_int_equal(rl_count(&rl, "1.2.3.4", t + 30000), 3);
	/* The first event leaves the window after a minute, making room for one more. */
	assert_true(rl_take(&rl, "1.2.3.4", t + 60001));
	assert_false(rl_take(&rl, "1.2.3.4", t + 60002));
	assert_int_equal(rl_count(&rl, "1.2.3.4", t + 200000), 0);
	assert_int_equal(rl_count(&rl, "never-seen", t), 0);
	rl_release(&rl);
}

static void test_rate_limit_memory_is_bounded(void **state)
{
	(void)state;
	struct ratelimit rl;
	assert_int_equal(rl_init(&rl, 2, 60000), ERR_OK);
	char key[32];
	/* Far more keys than slots: old ones are evicted, the newest is still tracked. */
	for (int i = 0; i < 3 * RL_SLOTS; i++) {
		snprintf(key, sizeof(key), "10.0.%d.%d", i / 256, i % 256);
		rl_hit(&rl, key, 5000 + i);
	}
	rl_hit(&rl, key, 5000 + 3 * RL_SLOTS);
	assert_int_equal(rl_count(&rl, key, 5000 + 3 * RL_SLOTS), 2);
	rl_release(&rl);
}

/* ---- scope ---- */

static void test_scope_covers_the_subtree_only(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	struct principal p = {.scope_path = "/1/3/"};
	assert_true(auth_scope_covers(&p, "/1/3/"));
	assert_true(auth_scope_covers(&p, "/1/3/18/22/"));
	assert_false(auth_scope_covers(&p, "/1/"));
	assert_false(auth_scope_covers(&p, "/1/30/")); /* a prefix of digits is not a subtree */
	assert_false(auth_scope_covers(&p, "/1/4/"));
	assert_false(auth_scope_covers(NULL, "/1/3/"));
	assert_false(auth_scope_covers(&p, NULL));
	assert_string_equal(auth_scope_like(&p, &a), "/1/3/%");
	assert_null(auth_scope_like(NULL, &a));
	arena_release(&a);
}

/* ---- demo data, built-ins ---- */

static void test_demo_tree_and_accounts(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	start_auth();
	assert_int_equal(auth_seed_demo(&dbfx.srv, NULL), ERR_OK);
	assert_int_equal(auth_seed_demo(&dbfx.srv, NULL), ERR_OK); /* a second run adds nothing */
	assert_int_equal(count(&a, "SELECT COUNT(*) FROM orgs"), 25);
	assert_int_equal(count(&a, "SELECT COUNT(*) FROM orgs WHERE level = 'district'"), 16);
	assert_int_equal(count(&a, "SELECT COUNT(*) FROM users"), 9);
	assert_int_equal(count(&a, "SELECT COUNT(*) FROM roles WHERE builtin = 1"),
	                 10); /* with terminal (src/vwin) */

	/* The clerk sits four levels down: city / 徐汇 / street / centre. */
	int64_t clerk = id_of(&a, "SELECT id FROM users WHERE username = 'clerk'");
	struct identity id;
	struct integrity_issue *issues;
	load(&a, clerk, &id, &issues);
	assert_null(issues);
	assert_string_equal(id.name, "王芳");
	assert_string_equal(id.org_level, "centre");
	int slashes = 0;
	for (const char *p = id.org_path; *p; p++)
		slashes += *p == '/';
	assert_int_equal(slashes, 5);
	assert_false(id.must_change);
	assert_false(auth_identity_expired(&dbfx.srv, &id, time_now_ms()));
	assert_int_equal(id.nroles, 1);
	assert_string_equal(id.role_codes[0], "window_clerk");
	assert_string_equal(id.role_names[0], "窗口受理人员");
	assert_int_equal(id.nperms, 4);
	for (int i = 1; i < id.nperms; i++)
		assert_true(strcmp(id.perms[i - 1], id.perms[i]) < 0);

	/* Scope: the 徐汇 district covers the clerk's centre, 浦东 does not. */
	struct db_rows *d = dbfx_sql(&a, "SELECT code, path FROM orgs WHERE code IN"
	                                 " ('310104', '310115') ORDER BY code");
	struct principal xuhui = {.scope_path = db_text(d, 0, 1)};
	struct principal pudong = {.scope_path = db_text(d, 1, 1)};
	assert_true(auth_scope_covers(&xuhui, id.org_path));
	assert_false(auth_scope_covers(&pudong, id.org_path));

	/* Password expiry by age. */
	id.password_changed_at =
	    time_now_ms() - (dbfx.srv.cfg.password_max_age_days + 1) * 86400000;
	assert_true(auth_identity_expired(&dbfx.srv, &id, time_now_ms()));
	stop_auth();
	arena_release(&a);
}

static void test_builtin_roles_separate_duties(void **state)
{
	(void)state;
	const char *sys[] = {"user.manage", "org.manage", "system.config"};
	const char *sec[] = {"role.manage", "key.manage"};
	for (const struct builtin_role *r = auth_builtin_roles; r->code; r++) {
		int domains[3] = {0, 0, 0};
		for (int i = 0; r->perms[i]; i++) {
			for (int k = 0; k < 3; k++)
				domains[0] |= !strcmp(r->perms[i], sys[k]);
			for (int k = 0; k < 2; k++)
				domains[1] |= !strcmp(r->perms[i], sec[k]);
			domains[2] |= !strcmp(r->perms[i], "audit.read");
		}
		assert_true(domains[0] + domains[1] + domains[2] <= 1);
	}
}

/* ---- integrity of access-control rows ---- */

static void test_tampered_role_perm_grants_nothing(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	start_auth();
	assert_int_equal(auth_seed_demo(&dbfx.srv, NULL), ERR_OK);
	int64_t clerk = id_of(&a, "SELECT id FROM users WHERE username = 'clerk'");
	struct identity id;
	struct integrity_issue *issues;
	load(&a, clerk, &id, &issues);
	assert_true(has_perm(&id, "case.accept"));

	/* Give case.accept's row the MAC of another row of the same role: a well-formed tag
	 * copied by someone with write access to the database but not the key. */
	dbfx_sql(&a, "UPDATE role_perms SET mac = (SELECT mac FROM role_perms p2 WHERE"
	             " p2.role_id = role_perms.role_id AND p2.perm = 'case.read')"
	             " WHERE perm = 'case.accept'");
	load(&a, clerk, &id, &issues);
	assert_false(has_perm(&id, "case.accept"));
	assert_true(has_perm(&id, "case.read"));
	assert_int_equal(id.nperms, 3);
	assert_non_null(issues);
	assert_string_equal(issues->table, "role_perms");
	assert_non_null(strstr(issues->target, "case.accept"));

	/* Reported once: logged now, audited by auth_report_issues, not again next time. */
	auth_report_issues(&dbfx.srv, NULL, issues);
	assert_int_equal(count(&a,
	                       "SELECT COUNT(*) FROM audit_log WHERE action ="
	                       " 'security.integrity' AND target LIKE 'role_perms:%/case.accept'"),
	                 1);
	load(&a, clerk, &id, &issues);
	assert_null(issues);
	assert_false(has_perm(&id, "case.accept"));
	int64_t checked, bad;
	assert_int_equal(audit_verify(dbfx.srv.db, &checked, &bad, NULL, 0), ERR_OK);
	stop_auth();
	arena_release(&a);
}

static void test_rewritten_permission_code_grants_nothing(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	start_auth();
	assert_int_equal(auth_seed_demo(&dbfx.srv, NULL), ERR_OK);
	int64_t clerk = id_of(&a, "SELECT id FROM users WHERE username = 'clerk'");
	struct identity id;
	struct integrity_issue *issues;
	/* Turn the clerk's queue.call into user.manage. */
	dbfx_sql(&a, "UPDATE role_perms SET perm = 'user.manage' WHERE perm = 'queue.call'");
	load(&a, clerk, &id, &issues);
	assert_false(has_perm(&id, "user.manage"));
	assert_false(has_perm(&id, "queue.call"));
	assert_true(has_perm(&id, "case.accept"));
	assert_non_null(issues);
	stop_auth();
	arena_release(&a);
}

static void test_moved_or_renamed_grants_grant_nothing(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	start_auth();
	assert_int_equal(auth_seed_demo(&dbfx.srv, NULL), ERR_OK);
	int64_t clerk = id_of(&a, "SELECT id FROM users WHERE username = 'clerk'");
	int64_t supervisor = id_of(&a, "SELECT id FROM users WHERE username = 'supervisor'");
	struct identity id;
	struct integrity_issue *issues;

	/* The administrator's role row handed to the clerk. */
	dbfx_sql(&a, "UPDATE user_roles SET user_id = (SELECT id FROM users WHERE username ="
	             " 'clerk') WHERE user_id = (SELECT id FROM users WHERE username = 'admin')");
	load(&a, clerk, &id, &issues);
	assert_false(has_perm(&id, "user.manage"));
	assert_int_equal(id.nroles, 1);
	assert_string_equal(id.role_codes[0], "window_clerk");
	assert_non_null(issues);
	assert_string_equal(issues->table, "user_roles");

	/* A role row recoded: every holder loses it. */
	dbfx_sql(&a, "UPDATE roles SET code = 'sysadmin_x' WHERE code = 'city_supervisor'");
	load(&a, supervisor, &id, &issues);
	assert_int_equal(id.nroles, 0);
	assert_int_equal(id.nperms, 0);
	assert_non_null(issues);
	assert_string_equal(issues->table, "roles");
	stop_auth();
	arena_release(&a);
}

static void test_restart_does_not_repair_tampered_rows(void **state)
{
	(void)state;
	struct arena a;
	arena_init(&a, 0);
	start_auth();
	assert_int_equal(auth_seed_demo(&dbfx.srv, NULL), ERR_OK);
	dbfx_sql(&a, "UPDATE role_perms SET mac = 'x' WHERE perm = 'audit.read'");
	stop_auth();
	start_auth(); /* store_ensure_builtins runs again */
	int64_t auditor = id_of(&a, "SELECT id FROM users WHERE username = 'auditor'");
	struct identity id;
	struct integrity_issue *issues;
	load(&a, auditor, &id, &issues);
	assert_false(has_perm(&id, "audit.read"));
	assert_non_null(issues); /* a malformed tag is reported like a wrong one ... */
	load(&a, auditor, &id, &issues);
	assert_null(issues); /* ... and once */
	assert_false(has_perm(&id, "audit.read"));
	assert_string_equal(
	    dbfx_sql(&a, "SELECT mac FROM role_perms WHERE perm = 'audit.read'")->cells[0].p, "x");
	stop_auth();
	arena_release(&a);
}

/* ---- administration ---- */

static void test_create_user_checks(void **state)
{
	(void)state;
	struct arena a;
	char msg[256];
	arena_init(&a, 0);
	start_auth();
	assert_int_equal(auth_seed_demo(&dbfx.srv, NULL), ERR_OK);
	assert_int_equal(auth_admin_create_user(&dbfx.srv, "zhang", "张三", "310104",
	                                        "window_clerk", "Clerk#2026ok", msg, sizeof(msg)),
	                 ERR_OK);
	assert_int_equal(auth_admin_create_user(&dbfx.srv, "zhang", "张三", "310104",
	                                        "window_clerk", "Clerk#2026ok", msg, sizeof(msg)),
	                 ERR_EXISTS);
	assert_non_null(strstr(msg, "已存在"));
	assert_int_equal(auth_admin_create_user(&dbfx.srv, "li", "李四", "310104", "window_clerk",
	                                        "Li#2026okay", msg, sizeof(msg)),
	                 ERR_BAD_FIELD);
	assert_int_equal(auth_admin_create_user(&dbfx.srv, "lisi", "李四", "999", "window_clerk",
	                                        "Li#2026okay", msg, sizeof(msg)),
	                 ERR_NOT_FOUND);
	assert_int_equal(auth_admin_create_user(&dbfx.srv, "lisi", "李四", "310104", "nope",
	                                        "Li#2026okay", msg, sizeof(msg)),
	                 ERR_NOT_FOUND);
	assert_int_equal(auth_admin_create_user(&dbfx.srv, "lisi", "李四", "310104",
	                                        "sysadmin, auditor", "Li#2026okay", msg,
	                                        sizeof(msg)),
	                 ERR_INVALID);
	assert_non_null(strstr(msg, "三员分立"));
	assert_int_equal(auth_admin_create_user(&dbfx.srv, "lisi", "李四", "310104", "window_clerk",
	                                        "lisi2026", msg, sizeof(msg)),
	                 ERR_PASSWORD_POLICY);
	assert_int_equal(auth_admin_create_user(&dbfx.srv, "lisi", "李四", "310104",
	                                        "window_clerk,centre_manager", "Li#2026okay", msg,
	                                        sizeof(msg)),
	                 ERR_OK);

	int64_t uid = id_of(&a, "SELECT id FROM users WHERE username = 'lisi'");
	struct identity id;
	struct integrity_issue *issues;
	load(&a, uid, &id, &issues);
	assert_true(id.must_change);
	assert_true(auth_identity_expired(&dbfx.srv, &id, time_now_ms()));
	assert_int_equal(id.nroles, 2);
	assert_true(has_perm(&id, "queue.manage") && has_perm(&id, "queue.call"));
	assert_int_equal(count(&a, "SELECT COUNT(*) FROM audit_log WHERE action ="
	                           " 'admin.user.create' AND actor_name = 'cli'"),
	                 2);
	stop_auth();
	arena_release(&a);
}

static void test_password_history_keeps_five(void **state)
{
	(void)state;
	struct arena a;
	char msg[256];
	arena_init(&a, 0);
	start_auth();
	assert_int_equal(auth_seed_demo(&dbfx.srv, NULL), ERR_OK);
	const char *pw[] = {"Secret#2026p0", "Secret#2026p1", "Secret#2026p2",
	                    "Secret#2026p3", "Secret#2026p4", "Secret#2026p5"};
	assert_int_equal(auth_admin_create_user(&dbfx.srv, "hist", "历史", "310104", "window_clerk",
	                                        pw[0], msg, sizeof(msg)),
	                 ERR_OK);
	assert_int_equal(auth_admin_reset_password(&dbfx.srv, "hist", pw[0], msg, sizeof(msg)),
	                 ERR_PASSWORD_POLICY);
	assert_non_null(strstr(msg, "最近 5 次"));
	for (int i = 1; i <= 5; i++)
		assert_int_equal(
		    auth_admin_reset_password(&dbfx.srv, "hist", pw[i], msg, sizeof(msg)), ERR_OK);
	assert_int_equal(count(&a, "SELECT COUNT(*) FROM password_history WHERE user_id ="
	                           " (SELECT id FROM users WHERE username = 'hist')"),
	                 5);
	assert_int_equal(auth_admin_reset_password(&dbfx.srv, "hist", pw[1], msg, sizeof(msg)),
	                 ERR_PASSWORD_POLICY);
	assert_int_equal(auth_admin_reset_password(&dbfx.srv, "hist", pw[0], msg, sizeof(msg)),
	                 ERR_OK); /* six passwords ago: allowed again */
	assert_int_equal(auth_admin_reset_password(&dbfx.srv, "nobody", pw[0], msg, sizeof(msg)),
	                 ERR_NOT_FOUND);
	stop_auth();
	arena_release(&a);
}

static void test_create_org_checks(void **state)
{
	(void)state;
	struct arena a;
	char msg[256];
	arena_init(&a, 0);
	start_auth();
	assert_int_equal(
	    auth_admin_create_org(&dbfx.srv, "320000", "江苏省", "city", NULL, msg, sizeof(msg)),
	    ERR_OK);
	assert_int_equal(auth_admin_create_org(&dbfx.srv, "320100", "南京市", "district", "320000",
	                                       msg, sizeof(msg)),
	                 ERR_OK);
	assert_int_equal(auth_admin_create_org(&dbfx.srv, "320100", "重复", "district", "320000",
	                                       msg, sizeof(msg)),
	                 ERR_EXISTS);
	assert_int_equal(
	    auth_admin_create_org(&dbfx.srv, "320101", "错层", "city", "320100", msg, sizeof(msg)),
	    ERR_INVALID);
	assert_int_equal(
	    auth_admin_create_org(&dbfx.srv, "320102", "无上级", "street", "999", msg, sizeof(msg)),
	    ERR_NOT_FOUND);
	assert_int_equal(auth_admin_create_org(&dbfx.srv, "320103", "层级", "province", "320000",
	                                       msg, sizeof(msg)),
	                 ERR_BAD_FIELD);
	struct db_rows *rs = dbfx_sql(&a, "SELECT c.path, p.id, p.path FROM orgs c JOIN orgs p"
	                                  " ON p.id = c.parent_id WHERE c.code = '320100'");
	char want[64];
	snprintf(want, sizeof(want), "%s", db_text(rs, 0, 2));
	assert_true(strncmp(db_text(rs, 0, 0), want, strlen(want)) == 0);
	assert_true(strlen(db_text(rs, 0, 0)) > strlen(want));
	stop_auth();
	arena_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    DBFX_TEST(test_password_policy_names_each_rule),
	    DBFX_TEST(test_username_syntax),
	    DBFX_TEST(test_rate_limit_window_slides),
	    DBFX_TEST(test_rate_limit_memory_is_bounded),
	    DBFX_TEST(test_scope_covers_the_subtree_only),
	    DBFX_TEST(test_demo_tree_and_accounts),
	    DBFX_TEST(test_builtin_roles_separate_duties),
	    DBFX_TEST(test_tampered_role_perm_grants_nothing),
	    DBFX_TEST(test_rewritten_permission_code_grants_nothing),
	    DBFX_TEST(test_moved_or_renamed_grants_grant_nothing),
	    DBFX_TEST(test_restart_does_not_repair_tampered_rows),
	    DBFX_TEST(test_create_user_checks),
	    DBFX_TEST(test_password_history_keeps_five),
	    DBFX_TEST(test_create_org_checks),
	};
	const struct dbfx_opts opts = {.pool = 6, .keys = true};
	log_setup(LOG_ERROR, stderr);
	return dbfx_run("auth", &opts, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}
