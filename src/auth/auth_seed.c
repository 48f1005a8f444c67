/* auth_seed.c: the demo organisation tree and one account per built-in role.
 *
 * The README and the end-to-end tests rely on these usernames and passwords. */
#include "auth/auth_int.h"

#include "audit/audit.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"

struct seed_org {
	const char *code;
	const char *name;
	const char *level;
	const char *parent;          /* code; NULL for the root */
	const char *phone, *address; /* centres: printed on receipts */
};

/* District codes are the national administrative division codes. Street codes follow the
 * statistical division scheme but are illustrative, as are the centre codes (street code +
 * "C1"): a real deployment imports its own tree. */
static const struct seed_org seed_orgs[] = {
    {"310000", "上海市", "city", NULL, NULL, NULL},
    {"310101", "黄浦区", "district", "310000", NULL, NULL},
    {"310104", "徐汇区", "district", "310000", NULL, NULL},
    {"310105", "长宁区", "district", "310000", NULL, NULL},
    {"310106", "静安区", "district", "310000", NULL, NULL},
    {"310107", "普陀区", "district", "310000", NULL, NULL},
    {"310109", "虹口区", "district", "310000", NULL, NULL},
    {"310110", "杨浦区", "district", "310000", NULL, NULL},
    {"310112", "闵行区", "district", "310000", NULL, NULL},
    {"310113", "宝山区", "district", "310000", NULL, NULL},
    {"310114", "嘉定区", "district", "310000", NULL, NULL},
    {"310115", "浦东新区", "district", "310000", NULL, NULL},
    {"310116", "金山区", "district", "310000", NULL, NULL},
    {"310117", "松江区", "district", "310000", NULL, NULL},
    {"310118", "青浦区", "district", "310000", NULL, NULL},
    {"310120", "奉贤区", "district", "310000", NULL, NULL},
    {"310151", "崇明区", "district", "310000", NULL, NULL},
    {"310104014", "徐家汇街道", "street", "310104", NULL, NULL},
    {"310104003", "天平路街道", "street", "310104", NULL, NULL},
    {"310115005", "陆家嘴街道", "street", "310115", NULL, NULL},
    {"310115004", "潍坊新村街道", "street", "310115", NULL, NULL},
    {"310104014C1", "徐家汇街道社区事务受理服务中心", "centre", "310104014", "021-64870001",
     "上海市徐汇区南丹路 1 号"},
    {"310104003C1", "天平路街道社区事务受理服务中心", "centre", "310104003", "021-64870002",
     "上海市徐汇区天平路 2 号"},
    {"310115005C1", "陆家嘴街道社区事务受理服务中心", "centre", "310115005", "021-58870003",
     "上海市浦东新区浦东南路 3 号"},
    {"310115004C1", "潍坊新村街道社区事务受理服务中心", "centre", "310115004", "021-58870004",
     "上海市浦东新区潍坊路 4 号"},
    {NULL, NULL, NULL, NULL, NULL, NULL},
};

struct seed_user {
	const char *username;
	const char *password;
	const char *name;
	const char *role;
	const char *org;
	const char *phone;
	const char *id_number;
};

/* Phones are in the 1380000xxxx block; ID numbers are made up (Shanghai address codes, a
 * date of birth, a sequence whose parity matches the name, a correct check character):
 * they pass the validator and belong to no one we know of. */
static const struct seed_user seed_users[] = {
    {"admin", "Admin@2026demo", "陈立", "sysadmin", "310000", "13800001001", "310104197803150113"},
    {"security", "Security@2026demo", "李静", "secadmin", "310000", "13800001002",
     "310115198206070223"},
    {"auditor", "Auditor@2026demo", "赵敏", "auditor", "310000", "13800001003",
     "310106198509210442"},
    {"manager", "Manager@2026demo", "刘洋", "centre_manager", "310104014C1", "13800001004",
     "310104198001120339"},
    {"clerk", "Clerk@2026demo", "王芳", "window_clerk", "310104014C1", "13800001005",
     "310104199208230468"},
    {"supervisor", "Supervisor@2026demo", "孙强", "city_supervisor", "310000", "13800001006",
     "310101197904300150"},
    {"examadmin", "Exam@2026demo", "周婷", "exam_admin", "310000", "13800001007",
     "310110198802180283"},
    {"catalog", "Catalog@2026demo", "吴磊", "catalog_admin", "310000", "13800001008",
     "310112198307140156"},
    {"ops", "Ops@2026demo", "郑凯", "ops_admin", "310000", "13800001009", "310105198611080174"},
    {NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

#define SEED_NORGS  (sizeof(seed_orgs) / sizeof(seed_orgs[0]) - 1)
#define SEED_NUSERS (sizeof(seed_users) / sizeof(seed_users[0]) - 1)

enum err auth_seed_demo(struct server *srv, FILE *report)
{
	struct arena a;
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct buf canon;
	int64_t org_ids[SEED_NORGS];
	const char *org_paths[SEED_NORGS];
	const char *hashes[SEED_NUSERS];
	struct sealed_field phones[SEED_NUSERS], id_numbers[SEED_NUSERS];
	struct errinfo ei = {0};
	char mac[65];
	arena_init(&a, 0);
	buf_init(&canon, 1024);
	enum err e;

	if ((e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c)))
		goto out;
	if ((e = db_exec(c, &a, &rs, "SELECT id FROM users WHERE username = 'admin'", "")))
		goto out;
	db_release(c);
	c = NULL;
	if (rs->nrows > 0) {
		if (report)
			fprintf(report, "演示数据已存在，未重复创建。\n");
		goto out;
	}
	/* Hash first: it is the slow part and needs no transaction. */
	for (size_t i = 0; i < SEED_NUSERS; i++) {
		struct buf h;
		buf_init(&h, 512);
		e = crypto_password_hash(seed_users[i].password, (uint32_t)srv->cfg.pbkdf2_iter,
		                         &h);
		hashes[i] = e ? NULL : arena_strdup(&a, h.p);
		buf_release(&h);
		if (e)
			goto out;
		if (!hashes[i]) {
			e = ERR_NOMEM;
			goto out;
		}
	}
	/* Contact data needs a data key. server_open always makes one; a bare keyring (unit
	 * tests of the accounts alone) seeds the accounts without it. */
	bool contact = keyring_active_id(srv->keys) != 0;
	if (!contact)
		log_warn("auth.seed", "no active data key: demo users get no phone or ID number");
	for (size_t i = 0; i < SEED_NUSERS; i++) {
		memset(&phones[i], 0, sizeof(phones[i]));
		memset(&id_numbers[i], 0, sizeof(id_numbers[i]));
		if (contact &&
		    ((e = auth_contact_seal(srv, &a, "phone", seed_users[i].phone, &phones[i],
		                            &ei)) ||
		     (e = auth_contact_seal(srv, &a, "id_number", seed_users[i].id_number,
		                            &id_numbers[i], &ei))))
			goto out;
	}

	int64_t now = time_now_ms();
	if ((e = db_acquire(srv->db, AUTH_DB_WAIT_MS, &c)) || (e = db_begin_write(c)))
		goto out;
	for (size_t i = 0; i < SEED_NORGS; i++) {
		int64_t parent_id = 0;
		const char *parent_path = NULL;
		for (size_t j = 0; j < i && seed_orgs[i].parent; j++)
			if (!strcmp(seed_orgs[j].code, seed_orgs[i].parent)) {
				parent_id = org_ids[j];
				parent_path = org_paths[j];
			}
		if (seed_orgs[i].parent && !parent_id) {
			e = ERR_INTERNAL;
			goto out;
		}
		if ((e = auth_org_insert(c, &a, seed_orgs[i].code, seed_orgs[i].name,
		                         seed_orgs[i].level, parent_id, parent_path, now,
		                         &org_ids[i], &org_paths[i])))
			goto out;
		if (seed_orgs[i].phone &&
		    (e = db_exec(c, &a, NULL, "UPDATE orgs SET phone = ?, address = ? WHERE id = ?",
		                 "ssi", seed_orgs[i].phone, seed_orgs[i].address, org_ids[i])))
			goto out;
	}
	for (size_t i = 0; i < SEED_NUSERS; i++) {
		const struct seed_user *u = &seed_users[i];
		int64_t org_id = 0, role_id, user_id;
		for (size_t j = 0; j < SEED_NORGS; j++)
			if (!strcmp(seed_orgs[j].code, u->org))
				org_id = org_ids[j];
		if ((e = db_exec(c, &a, &rs, "SELECT id FROM roles WHERE code = ?", "s", u->role)))
			goto out;
		if (rs->nrows != 1 || !org_id) {
			e = ERR_INTERNAL;
			goto out;
		}
		role_id = db_int(rs, 0, 0);
		if ((e = db_exec(c, &a, &rs,
		                 "INSERT INTO users (username, name, org_id, status, failed_count,"
		                 " locked_until, password_hash, password_changed_at, must_change,"
		                 " created_at, updated_at, version)"
		                 " VALUES (?, ?, ?, 'active', 0, 0, ?, ?, 0, ?, ?, 1) RETURNING id",
		                 "ssisiii", u->username, u->name, org_id, hashes[i], now, now,
		                 now)))
			goto out;
		user_id = db_int(rs, 0, 0);
		if (contact && (e = auth_contact_store(c, &a, user_id, &phones[i], &id_numbers[i])))
			goto out;
		if ((e = db_exec(c, &a, NULL,
		                 "INSERT INTO password_history (user_id, password_hash, created_at)"
		                 " VALUES (?, ?, ?)",
		                 "isi", user_id, hashes[i], now)))
			goto out;
		canon_user_role(&canon, user_id, role_id);
		auth_row_mac(srv->keys, "user_roles", &canon, mac);
		if ((e = db_exec(c, &a, NULL,
		                 "INSERT INTO user_roles (user_id, role_id, mac) VALUES (?, ?, ?)",
		                 "iis", user_id, role_id, mac)))
			goto out;
	}
	struct audit_entry ae = {
	    .actor_name = "system",
	    .action = "system.seed_demo",
	    .target = "orgs,users",
	    .detail = arena_printf(&a, "{\"orgs\":%zu,\"users\":%zu}", SEED_NORGS, SEED_NUSERS),
	};
	if ((e = audit_append(c, &a, &ae)) || (e = db_commit(c)))
		goto out;
	if (report) {
		fprintf(report, "演示账号（用户名 / 密码 / 角色 / 机构）：\n");
		for (size_t i = 0; i < SEED_NUSERS; i++)
			fprintf(report, "  %-11s %-20s %-16s %s\n", seed_users[i].username,
			        seed_users[i].password, seed_users[i].role, seed_users[i].org);
	}
	log_info("auth.seed", "demo data: %zu organisations, %zu users", SEED_NORGS, SEED_NUSERS);
out:
	if (c)
		db_release(c);
	buf_release(&canon);
	arena_release(&a);
	return e;
}
