/* audit.c: appending to and verifying the audit hash chain. */
#include "audit/audit.h"

#include <inttypes.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"

#define ZERO_HASH    "0000000000000000000000000000000000000000000000000000000000000000"
#define VERIFY_BATCH 1000

/* A field as "<len>:<bytes>," or "~," for NULL: unambiguous, and NULL differs from "". */
static void canon_field(struct buf *b, const char *s)
{
	if (!s) {
		buf_puts(b, "~,");
		return;
	}
	size_t n = strlen(s);
	buf_printf(b, "%zu:", n);
	buf_append(b, s, n);
	buf_putc(b, ',');
}

static void canon_num(struct buf *b, int64_t v, bool null)
{
	char tmp[24];
	snprintf(tmp, sizeof(tmp), "%" PRId64, v);
	canon_field(b, null ? NULL : tmp);
}

struct row {
	int64_t id, at, actor_id;
	bool actor_null;
	const char *actor_name, *action, *target, *detail, *client_ip, *trace_id;
};

/* hex(SM3(prev_hash || canonical(row))) into out (65 bytes). */
static enum err chain_hash(const char *prev_hash, const struct row *rw, char out[65])
{
	struct buf b;
	unsigned char d[32];
	buf_init(&b, 64 * 1024);
	buf_puts(&b, prev_hash);
	canon_num(&b, rw->id, false);
	canon_num(&b, rw->at, false);
	canon_num(&b, rw->actor_id, rw->actor_null);
	canon_field(&b, rw->actor_name);
	canon_field(&b, rw->action);
	canon_field(&b, rw->target);
	canon_field(&b, rw->detail);
	canon_field(&b, rw->client_ip);
	canon_field(&b, rw->trace_id);
	enum err e = ERR_NOMEM;
	if (b.p) {
		crypto_sm3(b.p, b.len, d);
		for (int i = 0; i < 32; i++)
			snprintf(out + 2 * i, 3, "%02x", d[i]);
		e = ERR_OK;
	}
	buf_release(&b);
	return e;
}

/* s cut to at most max bytes at a UTF-8 boundary (a copy in a when cut). */
static const char *clip(struct arena *a, const char *s, size_t max)
{
	if (!s || strlen(s) <= max)
		return s;
	size_t n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return arena_strndup(a, s, n);
}

enum err audit_append(struct db_conn *c, struct arena *a, const struct audit_entry *e)
{
	struct db_rows *rs = NULL;
	enum err err;
	if (!e || !e->action || !*e->action)
		return ERR_BAD_FIELD;
	/* Touch the head first: on PostgreSQL this takes the row lock that every appender
	 * needs, held to commit, so the SELECT below sees the latest committed link. */
	if ((err = db_exec(c, a, NULL, "UPDATE audit_head SET last_id = last_id WHERE id = 1", "")))
		return err;
	if ((err =
	         db_exec(c, a, &rs, "SELECT last_id, last_hash FROM audit_head WHERE id = 1", "")))
		return err;
	if (rs->nrows != 1) {
		log_error("audit.append", "audit_head row is missing");
		return ERR_INTEGRITY;
	}
	struct row rw = {
	    .id = db_int(rs, 0, 0) + 1,
	    .at = e->at ? e->at : time_now_ms(),
	    .actor_id = e->actor_id,
	    .actor_null = e->actor_id == 0,
	    .actor_name = clip(a, e->actor_name, 200),
	    .action = clip(a, e->action, 100),
	    .target = clip(a, e->target, 500),
	    .detail = clip(a, e->detail, AUDIT_DETAIL_MAX),
	    .client_ip = clip(a, e->client_ip, 64),
	    .trace_id = clip(a, e->trace_id, 64),
	};
	const char *prev = db_text(rs, 0, 1);
	char hash[65];
	if ((err = chain_hash(prev, &rw, hash)))
		return err;
	struct db_val p[11] = {
	    {.type = DB_INT, .i = rw.id},
	    {.type = DB_INT, .i = rw.at},
	    {.type = rw.actor_null ? DB_NULL : DB_INT, .i = rw.actor_id},
	    {.type = rw.actor_name ? DB_TEXT : DB_NULL, .p = rw.actor_name},
	    {.type = DB_TEXT, .p = rw.action},
	    {.type = rw.target ? DB_TEXT : DB_NULL, .p = rw.target},
	    {.type = rw.detail ? DB_TEXT : DB_NULL, .p = rw.detail},
	    {.type = rw.client_ip ? DB_TEXT : DB_NULL, .p = rw.client_ip},
	    {.type = rw.trace_id ? DB_TEXT : DB_NULL, .p = rw.trace_id},
	    {.type = DB_TEXT, .p = prev},
	    {.type = DB_TEXT, .p = hash},
	};
	for (int i = 0; i < 11; i++)
		if (p[i].type == DB_TEXT)
			p[i].n = strlen(p[i].p);
	if ((err = db_execv(c, a, NULL,
	                    "INSERT INTO audit_log (id, at, actor_id, actor_name, action, target,"
	                    " detail, client_ip, trace_id, prev_hash, hash)"
	                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	                    p, 11)))
		return err;
	return db_exec(c, a, NULL, "UPDATE audit_head SET last_id = ?, last_hash = ? WHERE id = 1",
	               "is", rw.id, hash);
}

enum err audit_record(struct server *srv, const struct req *r, const char *action,
                      const char *target, const char *detail)
{
	struct db_conn *c = NULL;
	struct arena a;
	arena_init(&a, 0);
	struct audit_entry e = {
	    .actor_name = "system",
	    .action = action,
	    .target = target,
	    .detail = detail,
	};
	if (r) {
		if (r->who) {
			e.actor_id = r->who->user_id;
			e.actor_name = r->who->username;
		}
		e.client_ip = r->client_ip;
		e.trace_id = r->trace.trace_id;
	}
	enum err err = db_acquire(srv->db, 5000, &c);
	for (int attempt = 0; !err && attempt < 2; attempt++) {
		err = db_begin_write(c);
		if (!err)
			err = audit_append(c, &a, &e);
		if (!err)
			err = db_commit(c);
		if (err != ERR_CONFLICT)
			break;
		db_rollback(c);
		err = ERR_OK;
		if (attempt == 1)
			err = ERR_CONFLICT;
	}
	if (c)
		db_release(c);
	if (err)
		log_error("audit.append", "cannot record audit entry %s: %s", action ? action : "?",
		          err_code(err));
	arena_release(&a);
	return err;
}

enum err audit_verify(struct db *db, int64_t *checked, int64_t *first_bad_id, char *msg,
                      size_t msgsz)
{
	struct db_conn *c = NULL;
	struct arena a;
	char prev[65] = ZERO_HASH, want[65];
	int64_t last_id = 0, n = 0;
	enum err e;
	arena_init(&a, 0);
	*checked = 0;
	*first_bad_id = 0;
	if (msg && msgsz)
		msg[0] = 0;
	if ((e = db_acquire(db, 5000, &c)))
		goto out;
	/* The head first: rows appended while we walk get ids above it and are left for the
	 * next run, so the walk and the head agree without a snapshot. */
	struct db_rows *hd = NULL;
	if ((e = db_exec(c, &a, &hd, "SELECT last_id, last_hash FROM audit_head WHERE id = 1", "")))
		goto out;
	if (hd->nrows != 1) {
		*first_bad_id = 1;
		snprintf(msg, msgsz, "审计日志的链头记录缺失");
		e = ERR_INTEGRITY;
		goto out;
	}
	int64_t head_id = db_int(hd, 0, 0);
	char head_hash[65];
	snprintf(head_hash, sizeof(head_hash), "%s", db_text(hd, 0, 1) ? db_text(hd, 0, 1) : "");
	for (;;) {
		struct db_rows *rs = NULL;
		/* Each batch in its own arena generation: constant memory whatever the size. */
		arena_release(&a);
		arena_init(&a, 0);
		if ((e = db_exec(c, &a, &rs,
		                 "SELECT id, at, actor_id, actor_name, action, target, detail,"
		                 " client_ip, trace_id, prev_hash, hash FROM audit_log"
		                 " WHERE id > ? AND id <= ? ORDER BY id LIMIT ?",
		                 "iii", last_id, head_id, (int64_t)VERIFY_BATCH)))
			goto out;
		for (int i = 0; i < rs->nrows; i++) {
			struct row rw = {
			    .id = db_int(rs, i, 0),
			    .at = db_int(rs, i, 1),
			    .actor_id = db_int(rs, i, 2),
			    .actor_null = db_is_null(rs, i, 2),
			    .actor_name = db_is_null(rs, i, 3) ? NULL : db_text(rs, i, 3),
			    .action = db_is_null(rs, i, 4) ? NULL : db_text(rs, i, 4),
			    .target = db_is_null(rs, i, 5) ? NULL : db_text(rs, i, 5),
			    .detail = db_is_null(rs, i, 6) ? NULL : db_text(rs, i, 6),
			    .client_ip = db_is_null(rs, i, 7) ? NULL : db_text(rs, i, 7),
			    .trace_id = db_is_null(rs, i, 8) ? NULL : db_text(rs, i, 8),
			};
			const char *stored_prev = db_text(rs, i, 9), *stored = db_text(rs, i, 10);
			if (rw.id != last_id + 1) {
				*first_bad_id = rw.id;
				snprintf(msg, msgsz,
				         "审计日志第 %" PRId64 " 条之前缺少第 %" PRId64
				         " 条至第 %" PRId64 " 条记录（已被删除）",
				         rw.id, last_id + 1, rw.id - 1);
				e = ERR_INTEGRITY;
				goto out;
			}
			if (!stored_prev || strcmp(stored_prev, prev) != 0) {
				*first_bad_id = rw.id;
				snprintf(msg, msgsz,
				         "审计日志第 %" PRId64 " 条的前序哈希与上一条记录不符",
				         rw.id);
				e = ERR_INTEGRITY;
				goto out;
			}
			if ((e = chain_hash(prev, &rw, want)))
				goto out;
			if (!stored || strcmp(stored, want) != 0) {
				*first_bad_id = rw.id;
				snprintf(msg, msgsz,
				         "审计日志第 %" PRId64 " 条的内容与其哈希不符（已被篡改）",
				         rw.id);
				e = ERR_INTEGRITY;
				goto out;
			}
			snprintf(prev, sizeof(prev), "%s", stored);
			last_id = rw.id;
			*checked = ++n;
		}
		if (rs->nrows < VERIFY_BATCH)
			break;
	}
	if (head_id != last_id || strcmp(head_hash, prev) != 0) {
		*first_bad_id = last_id + 1;
		if (head_id > last_id)
			snprintf(msg, msgsz,
			         "审计日志末尾缺少第 %" PRId64 " 条至第 %" PRId64
			         " 条记录（已被删除）",
			         last_id + 1, head_id);
		else
			snprintf(msg, msgsz,
			         "审计日志的链头与最后一条记录（第 %" PRId64 " 条）不符", last_id);
		e = ERR_INTEGRITY;
		goto out;
	}
	snprintf(msg, msgsz, "审计日志完整，共校验 %" PRId64 " 条记录", n);
out:
	if (c)
		db_release(c);
	arena_release(&a);
	return e;
}
