/* audit.h: the tamper-evident audit log.
 *
 * Every audited action appends one row to audit_log. Rows form a hash chain:
 *
 *	hash = hex(SM3(prev_hash || canonical(row)))
 *
 * where prev_hash is the previous row's hash (64 zeros for the first row) and canonical() is
 * a length-prefixed serialisation of id, at, actor_id, actor_name, action, target, detail,
 * client_ip and trace_id (so no two different rows serialise alike). Ids are assigned by the
 * chain itself and have no gaps. A one-row table audit_head holds the last id and hash: an
 * appender updates it first, which serialises appenders on both engines (SQLite's write
 * transaction; PostgreSQL's row lock held to commit), so the chain never forks. The head also
 * lets audit_verify see rows deleted from the end.
 *
 * What the chain proves: any change, insertion or deletion of a row is detected by
 * audit_verify unless the attacker rewrites every later row and the head as well. */
#ifndef SHOULI_AUDIT_H
#define SHOULI_AUDIT_H

#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "http/http.h"
#include "server/server.h"

struct db;
struct db_conn;

/* Longest detail kept (bytes); longer details are cut at a UTF-8 boundary. */
#define AUDIT_DETAIL_MAX 4000

/* One entry to append. Strings are borrowed for the call; NULL is stored as NULL. */
struct audit_entry {
	int64_t at;             /* ms since the epoch; 0 = now */
	int64_t actor_id;       /* users.id; 0 = none (anonymous, system, operator) */
	const char *actor_name; /* username, "cli", "system", or the name tried at login */
	const char *action;     /* dotted code, e.g. "auth.login.ok" (required) */
	const char *target;     /* what was acted on, e.g. "user:12" */
	const char *detail;     /* JSON text (preferred) or plain text */
	const char *client_ip;
	const char *trace_id;
};

/* Append e inside the caller's open write transaction on c (db_begin_write), so the entry
 * commits or rolls back with the change it records. Scratch memory comes from a. Errors:
 * ERR_BAD_FIELD (no action), ERR_DB..., ERR_CONFLICT (PostgreSQL serialisation failure:
 * retry the transaction). */
enum err audit_append(struct db_conn *c, struct arena *a, const struct audit_entry *e);

/* Append in a transaction of its own. The actor, client address and trace id come from r
 * (r may be NULL: actor "system"). detail may be NULL. Retries once on ERR_CONFLICT. */
enum err audit_record(struct server *srv, const struct req *r, const char *action,
                      const char *target, const char *detail);

/* Walk the whole chain in id order (in batches, constant memory) and check every link and
 * the head. *checked = rows checked. ERR_OK when intact (*first_bad_id = 0); ERR_INTEGRITY
 * when not: *first_bad_id names the first row that does not verify (for rows deleted at the
 * end, the first missing id) and msg says what is wrong in zh-CN. ERR_DB... on failure to
 * read. */
enum err audit_verify(struct db *db, int64_t *checked, int64_t *first_bad_id, char *msg,
                      size_t msgsz);

/* Routes: GET /api/v1/admin/audit?limit=50&before=<id>&action=<code or prefix>
 * (permission audit.read) → {"entries":[{"id","at","actor","action","target","detail"}]},
 * newest first. Reading the log is itself audited ("audit.read"). */
extern const struct module audit_module;

#endif
