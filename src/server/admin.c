/* admin.c: `shouli admin ...` — operator tasks on a data directory / database. */
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "catalog/catalog.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "gateway/gateway.h"
#include "server/server_int.h"

static void admin_usage(FILE *f)
{
	fputs(
	    "usage: shouli admin <task> [--data DIR] [--db URL]\n"
	    "  migrate                                  apply pending schema migrations\n"
	    "  audit verify                             check the audit log's hash chain\n"
	    "  user create USERNAME NAME ORG ROLES      create a user (password on stdin)\n"
	    "  user reset-password USERNAME             set a new password (on stdin)\n"
	    "  org create CODE NAME LEVEL [PARENT]      add an organisation\n"
	    "  org contact CODE PHONE [ADDRESS]         set a centre's 咨询电话 (and address)\n"
	    "  keys rotate                              make a new data key the active one\n"
	    "  catalog check [--catalog DIR]            check the catalog files (no data dir "
	    "needed)\n"
	    "  catalog import [--catalog DIR]           store the files as published versions\n"
	    "  catalog export [--catalog DIR]           write the published catalog as files\n"
	    "  flow check [--flows DIR] [--connectors DIR] [--catalog DIR]\n"
	    "                                           check the gateway flow files (no data dir "
	    "needed)\n",
	    f);
}

static int read_password(char *pw, size_t n)
{
	if (!fgets(pw, (int)n, stdin))
		return -1;
	pw[strcspn(pw, "\r\n")] = 0;
	return pw[0] ? 0 : -1;
}

static int audit_verify_cmd(struct server *srv)
{
	int64_t checked = 0, bad = 0;
	char msg[512] = "";
	enum err e = audit_verify(srv->db, &checked, &bad, msg, sizeof(msg));
	if (e == ERR_OK) {
		printf("audit chain intact: %lld entries verified\n", (long long)checked);
		return 0;
	}
	if (e == ERR_INTEGRITY) {
		printf("audit chain BROKEN at entry %lld: %s\n", (long long)bad, msg);
		return 1;
	}
	fprintf(stderr, "audit verify failed: %s %s\n", err_code(e), msg);
	return 2;
}

static int keys_rotate(struct server *srv)
{
	struct arena a;
	struct buf wrapped;
	struct db_conn *c = NULL;
	uint32_t id = 0;
	arena_init(&a, 0);
	buf_init(&wrapped, 4096);
	enum err e = keyring_new_data_key(srv->keys, &id, &wrapped);
	if (!e)
		e = db_acquire(srv->db, 5000, &c);
	if (!e)
		e = db_begin_write(c);
	if (!e)
		e = db_exec(c, &a, NULL, "UPDATE data_keys SET active = 0", "");
	if (!e)
		e = db_exec(
		    c, &a, NULL,
		    "INSERT INTO data_keys (id, wrapped, active, created_at) VALUES (?, ?, 1, ?)",
		    "ibi", (int64_t)id, wrapped.p, wrapped.len, time_now_ms());
	if (!e)
		e = db_commit(c);
	if (c)
		db_release(c);
	buf_release(&wrapped);
	arena_release(&a);
	if (e) {
		fprintf(stderr, "key rotation failed: %s\n", err_code(e));
		return 1;
	}
	audit_record(srv, NULL, "keys.rotate", NULL, NULL);
	printf("data key %u is now active; older keys still decrypt existing data\n", id);
	return 0;
}

/* `admin catalog check [--catalog DIR]`: reads only the catalog files, so it runs before
 * (and without) the data directory, the configuration and the database. Problems go to
 * stdout one per line; exit 0 without errors (warnings allowed), 1 with errors, 2 on usage. */
static int catalog_check_cmd(int argc, char **argv)
{
	char *dir = NULL;
	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--catalog") && i + 1 < argc) {
			free(dir);
			dir = strdup(argv[++i]);
		} else if (!strncmp(argv[i], "--catalog=", 10)) {
			free(dir);
			dir = strdup(argv[i] + 10);
		} else if ((!strcmp(argv[i], "--data") || !strcmp(argv[i], "--db") ||
		            !strcmp(argv[i], "--config")) &&
		           i + 1 < argc) {
			i++; /* accepted for symmetry with other tasks; the check never opens them
			      */
		} else if (!strncmp(argv[i], "--data=", 7) || !strncmp(argv[i], "--db=", 5) ||
		           !strncmp(argv[i], "--config=", 9)) {
			continue;
		} else {
			fprintf(stderr, "usage: shouli admin catalog check [--catalog DIR]\n");
			free(dir);
			return 2;
		}
	}
	if (!dir)
		dir = server_find_path("catalog");
	if (!dir) {
		fprintf(stderr, "shouli admin: out of memory\n");
		return 2;
	}
	struct arena a;
	struct catalog_problems pr;
	struct catalog_check_counts counts;
	arena_init(&a, 0);
	catalog_problems_init(&pr, &a);
	int64_t t0 = time_mono_ns();
	enum err e = catalog_check_dir_counts(dir, &pr, &counts);
	int64_t t1 = time_mono_ns();
	catalog_problems_print(&pr, stdout);
	fflush(stdout);
	size_t warnings = 0;
	for (size_t i = 0; i < pr.n; i++)
		warnings += pr.v[i].warning;
	fprintf(stderr,
	        "catalog check %s: %zu departments, %zu code tables, %zu items, %zu sub-items; "
	        "%zu errors, %zu warnings (%.1f ms)\n",
	        dir, counts.departments, counts.code_tables, counts.items, counts.sub_items,
	        pr.errors, warnings, (double)(t1 - t0) / 1e6);
	int rc = e == ERR_OK ? 0 : 1;
	catalog_problems_release(&pr);
	arena_release(&a);
	free(dir);
	return rc;
}

/* `shouli admin routes`: every HTTP route of every module, as the Markdown table of
 * docs/api.md (make check compares the two, so the reference cannot drift). */
static int routes_cmd(void)
{
	puts("| module | method | path | permission | notes |\n|---|---|---|---|---|");
	for (const struct module *const *mp = server_modules; *mp; mp++) {
		for (size_t i = 0; i < (*mp)->nroutes; i++) {
			const struct route *r = &(*mp)->routes[i];
			const char *perm = r->perm ? r->perm : "(signed in)";
			if (r->flags & ROUTE_PUBLIC)
				perm = "(public)";
			printf("| %s | %s | `%s` | %s%s%s | %s%s%s |\n", (*mp)->name, r->method,
			       r->pattern, (r->flags & ROUTE_OPEN) ? "open API `" : "", perm,
			       (r->flags & ROUTE_OPEN) ? "`" : "",
			       (r->flags & ROUTE_SLOW) ? "slow (worker pool) " : "",
			       (r->flags & ROUTE_RAW) ? "raw body " : "",
			       r->body ? "JSON body" : "");
		}
	}
	return 0;
}

int admin_main(int argc, char **argv, char **envp)
{
	if (argc == 2 && !strcmp(argv[1], "routes"))
		return routes_cmd();
	if (argc >= 3 && !strcmp(argv[1], "catalog") && !strcmp(argv[2], "check"))
		return catalog_check_cmd(argc - 3, argv + 3);
	if (argc >= 3 && !strcmp(argv[1], "flow") && !strcmp(argv[2], "check"))
		return gateway_flow_check_main(argc - 3, argv + 3);

	/* `catalog import|export` take --catalog DIR besides the usual flags. */
	const char *catalog_dir = NULL;
	char *kept[24];
	if (argc >= 2 && !strcmp(argv[1], "catalog") && argc <= 24) {
		int n = 0;
		for (int i = 0; i < argc; i++) {
			if (!strcmp(argv[i], "--catalog") && i + 1 < argc)
				catalog_dir = argv[++i];
			else if (!strncmp(argv[i], "--catalog=", 10))
				catalog_dir = argv[i] + 10;
			else
				kept[n++] = argv[i];
		}
		argc = n;
		argv = kept;
	}

	struct server srv;
	char msg[512] = "";
	char *rest[16];
	int nrest = 0, rc = 2;
	memset(&srv, 0, sizeof(srv));
	config_defaults(&srv.cfg);
	if (argc > 17 ||
	    config_resolve(&srv.cfg, argc, argv, envp, rest, &nrest, msg, sizeof(msg))) {
		fprintf(stderr, "shouli admin: %s\n", msg[0] ? msg : "too many arguments");
		config_release(&srv.cfg);
		return 2;
	}
	log_setup(LOG_WARN, stderr);
	if (nrest == 0 || !strcmp(rest[0], "help")) {
		admin_usage(nrest ? stdout : stderr);
		config_release(&srv.cfg);
		return nrest ? 0 : 2;
	}
	if (server_open(&srv, !strcmp(rest[0], "migrate"))) {
		rc = 1;
		goto out;
	}
	/* Modules that own tables may need their init (e.g. auth's built-in roles). */
	for (const struct module *const *mp = server_modules; *mp; mp++)
		if ((*mp)->init && (*mp)->init(&srv)) {
			fprintf(stderr, "shouli admin: module %s failed to start\n", (*mp)->name);
			rc = 1;
			goto out;
		}
	enum err e = ERR_OK;
	if (!strcmp(rest[0], "migrate") && nrest == 1) {
		printf("schema is current\n");
		rc = 0;
	} else if (!strcmp(rest[0], "audit") && nrest == 2 && !strcmp(rest[1], "verify")) {
		rc = audit_verify_cmd(&srv);
	} else if (!strcmp(rest[0], "user") && nrest == 6 && !strcmp(rest[1], "create")) {
		char pw[256];
		if (read_password(pw, sizeof(pw))) {
			fprintf(stderr, "shouli admin: give the initial password on stdin\n");
			goto out;
		}
		e = auth_admin_create_user(&srv, rest[2], rest[3], rest[4], rest[5], pw, msg,
		                           sizeof(msg));
		rc = e ? 1 : 0;
	} else if (!strcmp(rest[0], "user") && nrest == 3 && !strcmp(rest[1], "reset-password")) {
		char pw[256];
		if (read_password(pw, sizeof(pw))) {
			fprintf(stderr, "shouli admin: give the new password on stdin\n");
			goto out;
		}
		e = auth_admin_reset_password(&srv, rest[2], pw, msg, sizeof(msg));
		rc = e ? 1 : 0;
	} else if (!strcmp(rest[0], "org") && (nrest == 5 || nrest == 6) &&
	           !strcmp(rest[1], "create")) {
		e = auth_admin_create_org(&srv, rest[2], rest[3], rest[4],
		                          nrest == 6 ? rest[5] : NULL, msg, sizeof(msg));
		rc = e ? 1 : 0;
	} else if (!strcmp(rest[0], "org") && (nrest == 4 || nrest == 5) &&
	           !strcmp(rest[1], "contact")) {
		e = auth_admin_org_contact(&srv, rest[2], rest[3], nrest == 5 ? rest[4] : NULL, msg,
		                           sizeof(msg));
		rc = e ? 1 : 0;
	} else if (!strcmp(rest[0], "keys") && nrest == 2 && !strcmp(rest[1], "rotate")) {
		rc = keys_rotate(&srv);
	} else if (!strcmp(rest[0], "catalog") && nrest == 2 && !strcmp(rest[1], "import")) {
		rc = catalog_admin_import(&srv, catalog_dir, stdout);
	} else if (!strcmp(rest[0], "catalog") && nrest == 2 && !strcmp(rest[1], "export")) {
		rc = catalog_admin_export(&srv, catalog_dir, stdout);
	} else {
		admin_usage(stderr);
		goto out;
	}
	if (e)
		fprintf(stderr, "shouli admin: %s\n", msg[0] ? msg : err_message(e));
	else if (rc == 0 && (!strcmp(rest[0], "user") || !strcmp(rest[0], "org")))
		printf("done\n");
out:
	server_close(&srv);
	config_release(&srv.cfg);
	return rc;
}
