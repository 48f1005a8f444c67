/* files_store.c: the store itself — rows of files and their blobs kept in step.
 *
 * Ordering rules that keep a row and its blob together on both engines:
 *  - prepare (no transaction): the blob is written, or refreshed when it is there already,
 *    so that its last-written time is recent (files_int.h "Ages").
 *  - commit (the caller's write transaction): the row is upserted first (on PostgreSQL that
 *    locks it for the transaction; on SQLite the write lock covers everything), then the
 *    blob's presence is checked; the caller's commit comes after both.
 *  - gc: the row is deleted (locking it), then the blob removed unless it was written or
 *    refreshed since the cutoff, then the commit. A prepare of the same bytes meanwhile
 *    either refreshed the blob first (it stays, and its commit inserts a new row) or finds
 *    it gone and writes it again. Should gc's commit fail after the blob went, the row stays
 *    without a blob; the next prepare of those bytes sees the blob missing and writes it,
 *    and a read of it is ERR_INTEGRITY (logged), never wrong bytes.
 *  - orphan sweep: names of all rows first, then the listing; a blob is removed only when
 *    no row named it and it is older than the cutoff (the same remove-unless-refreshed). */
#include "files/files_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "server/server.h"

#define KEYRING_CONTEXT "files"
#define DB_WAIT_MS      5000

static const struct files_backend *const backends[] = {
    &files_local_backend,
};

void files_blob_name(const struct keyring *kr, const unsigned char sm3[32],
                     char out[FILES_NAME_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[32];
	keyring_mac(kr, "files.name", sm3, 32, mac);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[FILES_NAME_LEN] = 0;
}

static void hex32(const unsigned char d[32], char out[65])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[64] = 0;
}

/* A file_backends row: id 0 = the default one. */
static enum err load_backend(struct server *srv, struct db_conn *c, struct arena *a, int64_t id,
                             struct files_loc *loc, const struct files_backend **ops)
{
	struct db_rows *rs = NULL;
	enum err e;
	if (id)
		e = db_exec(c, a, &rs,
		            "SELECT id, name, kind, config FROM file_backends WHERE id = ?", "i",
		            id);
	else
		e = db_exec(c, a, &rs,
		            "SELECT id, name, kind, config FROM file_backends"
		            " WHERE is_default = 1 AND enabled = 1 ORDER BY id LIMIT 1",
		            "");
	if (e)
		return e;
	if (rs->nrows == 0) {
		log_error("files.backend", "no file backend %s",
		          id ? "of that id" : "is the default");
		return ERR_CONFIG;
	}
	const char *kind = db_text(rs, 0, 2);
	*ops = NULL;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (kind && !strcmp(backends[i]->kind, kind))
			*ops = backends[i];
	if (!*ops) {
		log_error("files.backend", "backend %s: kind %s is not built into this binary",
		          db_text(rs, 0, 1), kind ? kind : "?");
		return ERR_CONFIG;
	}
	loc->id = db_int(rs, 0, 0);
	loc->name = db_text(rs, 0, 1);
	loc->config = db_text(rs, 0, 3);
	loc->root = NULL;
	json_t *cfg = loc->config ? json_loads(loc->config, 0, NULL) : NULL;
	const char *root = json_get_str(cfg, "root");
	if (root && *root)
		loc->root = arena_strdup(a, root);
	else
		loc->root =
		    arena_printf(a, "%s/files", srv->cfg.data_dir ? srv->cfg.data_dir : "data");
	json_decref(cfg);
	return loc->root ? ERR_OK : ERR_NOMEM;
}

#define FILE_COLS "id, sm3, size, mime, backend_id, ref_count, created_at"

static void row_info(const struct db_rows *rs, int r, struct file_info *out)
{
	memset(out, 0, sizeof(*out));
	out->id = db_int(rs, r, 0);
	snprintf(out->sm3, sizeof(out->sm3), "%s", db_text(rs, r, 1) ? db_text(rs, r, 1) : "");
	out->size = db_int(rs, r, 2);
	snprintf(out->mime, sizeof(out->mime), "%s", db_text(rs, r, 3) ? db_text(rs, r, 3) : "");
	out->backend_id = db_int(rs, r, 4);
	out->ref_count = db_int(rs, r, 5);
	out->created_at = db_int(rs, r, 6);
}

/* "20 MB" for whole MiB, else KB / bytes. */
static const char *size_text(struct arena *a, int64_t n)
{
	if (n >= 1048576 && n % 1048576 == 0)
		return arena_printf(a, "%lld MB", (long long)(n / 1048576));
	if (n >= 1048576)
		return arena_printf(a, "%.1f MB", (double)n / 1048576.0);
	if (n >= 1024)
		return arena_printf(a, "%lld KB", (long long)(n / 1024));
	return arena_printf(a, "%lld 字节", (long long)n);
}

static enum err refuse(struct errinfo *ei, enum err code, const char *msg)
{
	if (ei) {
		ei->code = code;
		ei->field = NULL;
		ei->msg = msg;
	}
	return code;
}

/* The row of the same bytes, if any, decides the backend (its blob lives there); else the
 * default backend. Runs on c, or on a connection of its own when c is NULL. */
static enum err backend_for(struct server *srv, struct db_conn *c, struct arena *a, const char *sm3,
                            struct files_loc *loc, const struct files_backend **ops)
{
	struct db_conn *own = NULL;
	struct db_rows *rs = NULL;
	enum err e = ERR_OK;
	if (!c) {
		if ((e = db_acquire(srv->db, DB_WAIT_MS, &own)))
			return e;
		c = own;
	}
	e = db_exec(c, a, &rs, "SELECT backend_id FROM files WHERE sm3 = ?", "s", sm3);
	if (!e)
		e = load_backend(srv, c, a, rs->nrows ? db_int(rs, 0, 0) : 0, loc, ops);
	db_release(own);
	return e;
}

static enum err prepare(struct server *srv, struct db_conn *c, struct arena *a, const void *data,
                        size_t n, const char *mime_hint, unsigned flags, struct files_prepared *out,
                        struct errinfo *ei)
{
	struct buf blob;
	struct files_loc loc;
	const struct files_backend *ops = NULL;
	unsigned char digest[32];
	char name[FILES_NAME_LEN + 1];
	bool truncated = false, present = false;
	enum err e;

	memset(out, 0, sizeof(*out));
	buf_init(&blob, n + KEYRING_BLOB_OVERHEAD + 16);
	int64_t max =
	    srv->cfg.file_max_bytes > 0 ? srv->cfg.file_max_bytes : FILES_DEFAULT_MAX_BYTES;
	if ((uint64_t)n > (uint64_t)max) {
		e = refuse(ei, ERR_TOO_LARGE,
		           arena_printf(a, "文件大小超过上限 %s（本文件 %s）", size_text(a, max),
		                        size_text(a, (int64_t)n)));
		goto out;
	}
	const char *mime =
	    files_sniff_family(data, n, (flags & FILES_SERVER_MADE) != 0, &truncated);
	if (!mime || truncated) {
		const char *what = files_describe(data, n);
		const char *msg =
		    n == 0 ? "文件为空，请重新扫描或选择文件"
		    : truncated
		        ? arena_printf(a, "文件内容不完整（看起来是%s），请重新扫描或上传", what)
		        : arena_printf(a, "文件内容不是 JPEG、PNG 或 PDF（看起来是 %s）", what);
		e = refuse(ei, ERR_UNSUPPORTED_MEDIA, msg);
		goto out;
	}
	if (mime_hint && *mime_hint && strncmp(mime_hint, mime, strlen(mime)))
		log_debug("files.type_hint", "client said %s, the bytes are %s", mime_hint, mime);
	crypto_sm3(data, n, digest);
	hex32(digest, out->sm3);
	files_blob_name(srv->keys, digest, name);
	if ((e = backend_for(srv, c, a, out->sm3, &loc, &ops)))
		goto out;
	/* Refresh rather than test: an old blob about to be referenced again must look young
	 * to gc and the orphan sweep until the commit is done. */
	if ((e = ops->touch(&loc, name, &present)))
		goto out;
	if (!present) {
		if ((e = keyring_encrypt(srv->keys, KEYRING_CONTEXT, data, n, &blob)) ||
		    (e = ops->put(&loc, name, blob.p, blob.len)))
			goto out;
	}
	out->size = (int64_t)n;
	snprintf(out->mime, sizeof(out->mime), "%s", mime);
	out->backend_id = loc.id;
	out->prepared_at = time_now_ms();
	out->wrote = !present;
out:
	if (e)
		memset(out, 0, sizeof(*out));
	buf_release(&blob);
	return e;
}

enum err files_prepare(struct server *srv, struct arena *a, const void *data, size_t n,
                       const char *mime_hint, unsigned flags, struct files_prepared *out,
                       struct errinfo *ei)
{
	return prepare(srv, NULL, a, data, n, mime_hint, flags, out, ei);
}

enum err files_commit(struct server *srv, struct db_conn *c, struct arena *a,
                      const struct files_prepared *p, unsigned flags, struct file_info *out)
{
	struct db_rows *rs = NULL;
	struct files_loc loc;
	const struct files_backend *ops = NULL;
	unsigned char digest[32];
	char name[FILES_NAME_LEN + 1];
	bool present = false;
	enum err e;

	memset(out, 0, sizeof(*out));
	int64_t now = time_now_ms();
	if (strlen(p->sm3) != FILES_SM3_HEX_LEN ||
	    !hex_decode(p->sm3, FILES_SM3_HEX_LEN, digest, 32) || !p->mime[0] || p->size < 0 ||
	    p->prepared_at <= 0) {
		log_error("files.commit", "not a successful files_prepare");
		return ERR_INTERNAL;
	}
	if (now - p->prepared_at > FILES_PREPARED_MAX_AGE_MS) {
		log_error("files.commit", "a preparation %lld s old: commit it right after",
		          (long long)((now - p->prepared_at) / 1000));
		return ERR_INTERNAL;
	}
	/* One statement finds or creates the row (and locks it on PostgreSQL). */
	e = db_exec(c, a, &rs,
	            "INSERT INTO files (sm3, size, mime, backend_id, ref_count, created_at,"
	            " updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)"
	            " ON CONFLICT (sm3) DO UPDATE SET updated_at = excluded.updated_at"
	            " RETURNING " FILE_COLS,
	            "sisiii", p->sm3, p->size, p->mime, p->backend_id, now, now);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_DB;
	row_info(rs, 0, out);
	if (out->size != p->size) {
		log_error("files.commit", "file %lld: stored size %lld differs for the same SM3",
		          (long long)out->id, (long long)out->size);
		return ERR_INTEGRITY;
	}
	/* Normally the blob prepare left; it may have gone only if an operator removed it, or
	 * (for a moment) while gc's removal of an old copy is being undone. */
	files_blob_name(srv->keys, digest, name);
	if ((e = load_backend(srv, c, a, out->backend_id, &loc, &ops)) ||
	    (e = ops->exists(&loc, name, &present)))
		return e;
	if (!present) {
		log_warn("files.commit", "file %lld: blob missing from backend %s at commit",
		         (long long)out->id, loc.name);
		return ERR_CONFLICT;
	}
	if (flags & FILES_REF) {
		if ((e = files_ref(c, out->id)))
			return e;
		out->ref_count++;
	}
	return ERR_OK;
}

enum err files_put(struct server *srv, struct db_conn *c, struct arena *a, const void *data,
                   size_t n, const char *mime_hint, unsigned flags, struct file_info *out,
                   struct errinfo *ei)
{
	struct files_prepared p;
	enum err e = prepare(srv, c, a, data, n, mime_hint, flags, &p, ei);
	if (!e)
		e = files_commit(srv, c, a, &p, flags, out);
	return e;
}

static enum err select_file(struct db_conn *c, struct arena *a, int64_t id, struct file_info *out)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs, "SELECT " FILE_COLS " FROM files WHERE id = ?", "i", id);
	if (e)
		return e;
	if (rs->nrows == 0)
		return ERR_NOT_FOUND;
	row_info(rs, 0, out);
	return ERR_OK;
}

enum err files_info(struct db_conn *c, struct arena *a, int64_t id, struct file_info *out)
{
	return select_file(c, a, id, out);
}

enum err files_read(struct server *srv, struct db_conn *c, struct arena *a, int64_t id,
                    const void **data, size_t *n, struct file_info *info)
{
	struct file_info fi;
	struct files_loc loc;
	const struct files_backend *ops = NULL;
	struct buf blob, plain;
	unsigned char digest[32], want[32];
	char name[FILES_NAME_LEN + 1];
	enum err e;

	*data = NULL;
	*n = 0;
	buf_init(&blob, 0);
	buf_init(&plain, 0);
	if ((e = select_file(c, a, id, &fi)) ||
	    (e = load_backend(srv, c, a, fi.backend_id, &loc, &ops)))
		goto out;
	if (!hex_decode(fi.sm3, strlen(fi.sm3), want, sizeof(want))) {
		e = ERR_INTEGRITY;
		log_error("files.integrity", "file %lld: stored SM3 is malformed", (long long)id);
		goto out;
	}
	files_blob_name(srv->keys, want, name);
	buf_init(&blob, (size_t)fi.size + KEYRING_BLOB_OVERHEAD + 1);
	buf_init(&plain, (size_t)fi.size + 1);
	e = ops->get(&loc, name, &blob);
	if (e == ERR_NOT_FOUND || e == ERR_TOO_LARGE) {
		log_error("files.integrity", "file %lld: blob %s in backend %s", (long long)id,
		          e == ERR_NOT_FOUND ? "missing" : "longer than the row says", loc.name);
		e = ERR_INTEGRITY;
		goto out;
	}
	if (e)
		goto out;
	if ((e = keyring_decrypt(srv->keys, KEYRING_CONTEXT, blob.p, blob.len, &plain))) {
		if (e == ERR_TOO_LARGE)
			e = ERR_INTEGRITY;
		log_error("files.integrity", "file %lld: blob does not decrypt", (long long)id);
		goto out;
	}
	crypto_sm3(plain.p, plain.len, digest);
	if (plain.len != (size_t)fi.size || memcmp(digest, want, 32)) {
		log_error("files.integrity", "file %lld: content does not match its SM3",
		          (long long)id);
		e = ERR_INTEGRITY;
		goto out;
	}
	size_t len = plain.len;
	char *p = buf_detach(&plain, &len);
	if (!p || arena_defer(a, free, p)) {
		e = ERR_NOMEM;
		goto out;
	}
	*data = p;
	*n = len;
	if (info)
		*info = fi;
out:
	buf_release(&blob);
	if (plain.p)
		crypto_wipe(plain.p, plain.len);
	buf_release(&plain);
	return e;
}

static enum err change_ref(struct db_conn *c, int64_t id, int delta)
{
	struct arena a;
	struct db_rows *rs = NULL;
	arena_init(&a, 0);
	enum err e =
	    delta > 0
	        ? db_exec(c, &a, &rs,
	                  "UPDATE files SET ref_count = ref_count + 1, updated_at = ? WHERE id = ?",
	                  "ii", time_now_ms(), id)
	        : db_exec(c, &a, &rs,
	                  "UPDATE files SET ref_count = ref_count - 1, updated_at = ?"
	                  " WHERE id = ? AND ref_count > 0",
	                  "ii", time_now_ms(), id);
	if (!e && rs->changes == 0) {
		struct file_info fi;
		e = select_file(c, &a, id, &fi);
		if (!e) {
			log_error("files.unref", "file %lld: reference count would go below 0",
			          (long long)id);
			e = ERR_INTERNAL;
		}
	}
	arena_release(&a);
	return e;
}

enum err files_ref(struct db_conn *c, int64_t id)
{
	return change_ref(c, id, 1);
}

enum err files_unref(struct db_conn *c, int64_t id)
{
	return change_ref(c, id, -1);
}

/* Delete one candidate (row, then blob) in a write transaction of its own; *gone tells
 * whether it was still unreferenced and old. */
static enum err gc_one(struct server *srv, struct db_conn *c, struct arena *a, int64_t id,
                       const char *sm3, int64_t backend_id, int64_t older_than_ms, bool *gone)
{
	struct db_rows *rs = NULL;
	struct files_loc loc;
	const struct files_backend *ops = NULL;
	unsigned char digest[32];
	char name[FILES_NAME_LEN + 1];
	*gone = false;
	enum err e = db_begin_write(c);
	if (e)
		return e;
	e = db_exec(c, a, &rs,
	            "DELETE FROM files WHERE id = ? AND ref_count = 0 AND updated_at < ?"
	            " RETURNING id",
	            "ii", id, older_than_ms);
	if (!e && rs->nrows == 1) {
		if (!hex_decode(sm3, strlen(sm3), digest, sizeof(digest)))
			e = ERR_INTEGRITY;
		if (!e && !(e = load_backend(srv, c, a, backend_id, &loc, &ops))) {
			bool blob_gone = false; /* kept when a prepare refreshed it */
			files_blob_name(srv->keys, digest, name);
			e = ops->remove(&loc, name, older_than_ms, &blob_gone);
		}
		*gone = e == ERR_OK;
	}
	if (!e)
		e = db_commit(c);
	else
		db_rollback(c);
	if (e)
		*gone = false;
	return e;
}

enum err files_gc(struct server *srv, int64_t older_than_ms, int limit, int *removed)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct arena a;
	arena_init(&a, 0);
	*removed = 0;
	enum err e = db_acquire(srv->db, DB_WAIT_MS, &c);
	if (e)
		goto out;
	e = db_exec(c, &a, &rs,
	            "SELECT id, sm3, backend_id FROM files WHERE ref_count = 0 AND updated_at < ?"
	            " ORDER BY id LIMIT ?",
	            "ii", older_than_ms, (int64_t)(limit > 0 ? limit : 1));
	for (int i = 0; !e && i < rs->nrows; i++) {
		bool gone = false;
		e = gc_one(srv, c, &a, db_int(rs, i, 0), db_text(rs, i, 1), db_int(rs, i, 2),
		           older_than_ms, &gone);
		*removed += gone;
	}
	if (*removed)
		log_info("files.gc", "removed %d unreferenced files", *removed);
out:
	db_release(c);
	arena_release(&a);
	return e;
}

enum err files_sweep(struct server *srv, int64_t older_than_ms, int *removed)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct arena a;
	arena_init(&a, 0);
	*removed = 0;
	enum err e = db_acquire(srv->db, DB_WAIT_MS, &c);
	if (!e)
		e = db_exec(c, &a, &rs,
		            "SELECT id FROM file_backends WHERE enabled = 1 ORDER BY id", "");
	for (int i = 0; !e && i < rs->nrows; i++) {
		struct files_loc loc;
		const struct files_backend *ops = NULL;
		int k = 0;
		if ((e = load_backend(srv, c, &a, db_int(rs, i, 0), &loc, &ops)))
			break;
		if (ops->sweep && !(e = ops->sweep(&loc, older_than_ms, &k)))
			*removed += k;
	}
	db_release(c);
	arena_release(&a);
	return e;
}

/* ---- the orphan sweep ---- */

#define SCAN_PAGE 5000

/* The first 64 bits of a blob name. Two names sharing them would only keep an orphan. */
static uint64_t name_key(const char *name)
{
	uint64_t k = 0;
	for (int i = 0; i < 16; i++) {
		char ch = name[i];
		k = k << 4 | (uint64_t)(ch >= 'a' ? ch - 'a' + 10 : ch - '0');
	}
	return k;
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

struct orphan_scan {
	struct server *srv;
	const struct files_loc *loc;
	const struct files_backend *ops;
	const uint64_t *keys; /* sorted names of every row */
	size_t nkeys;
	int64_t older_than_ms;
	int removed;
};

static enum err orphan_one(void *ctx, const char *name, int64_t written_ms)
{
	struct orphan_scan *os = ctx;
	uint64_t k = name_key(name);
	bool gone = false;
	if (written_ms >= os->older_than_ms || bsearch(&k, os->keys, os->nkeys, sizeof(k), cmp_u64))
		return ERR_OK;
	/* remove re-checks the age atomically: a prepare may have refreshed it since */
	enum err e = os->ops->remove(os->loc, name, os->older_than_ms, &gone);
	if (!e && gone) {
		os->removed++;
		log_info("files.orphan", "removed blob %.8s… of backend %s: no row names it", name,
		         os->loc->name);
	}
	return e;
}

/* The name keys of every files row, sorted (*keys malloc'd). Pages by id, each in its own
 * arena, so the memory is the 8 bytes per row. */
static enum err row_keys(struct server *srv, struct db_conn *c, uint64_t **keys, size_t *n)
{
	size_t cap = 0;
	int64_t after = 0;
	enum err e = ERR_OK;
	*keys = NULL;
	*n = 0;
	for (;;) {
		struct arena a;
		struct db_rows *rs = NULL;
		arena_init(&a, 0);
		e = db_exec(c, &a, &rs,
		            "SELECT id, sm3 FROM files WHERE id > ? ORDER BY id LIMIT ?", "ii",
		            after, (int64_t)SCAN_PAGE);
		int got = e ? 0 : rs->nrows;
		for (int i = 0; !e && i < got; i++) {
			unsigned char digest[32];
			char name[FILES_NAME_LEN + 1];
			const char *sm3 = db_text(rs, i, 1);
			after = db_int(rs, i, 0);
			/* a malformed row names no blob we could find; its file reads ERR_INTEGRITY
			 */
			if (!sm3 || !hex_decode(sm3, strlen(sm3), digest, sizeof(digest)))
				continue;
			if (*n == cap) {
				size_t ncap = cap ? cap * 2 : 4096;
				uint64_t *grown = realloc(*keys, ncap * sizeof(**keys));
				if (!grown) {
					e = ERR_NOMEM;
					break;
				}
				*keys = grown;
				cap = ncap;
			}
			files_blob_name(srv->keys, digest, name);
			(*keys)[(*n)++] = name_key(name);
		}
		arena_release(&a);
		if (e || got < SCAN_PAGE)
			break;
	}
	if (e) {
		free(*keys);
		*keys = NULL;
		*n = 0;
		return e;
	}
	if (*n)
		qsort(*keys, *n, sizeof(**keys), cmp_u64);
	return ERR_OK;
}

enum err files_sweep_orphans(struct server *srv, int64_t older_than_ms, int *removed)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	uint64_t *keys = NULL;
	size_t nkeys = 0;
	struct arena a;
	arena_init(&a, 0);
	*removed = 0;
	/* Names first, listing second: a row committed after this read is protected by the
	 * age of its blob (files.h), one committed before is in keys. */
	enum err e = db_acquire(srv->db, DB_WAIT_MS, &c);
	if (!e)
		e = row_keys(srv, c, &keys, &nkeys);
	if (!e)
		e = db_exec(c, &a, &rs,
		            "SELECT id FROM file_backends WHERE enabled = 1 ORDER BY id", "");
	for (int i = 0; !e && i < rs->nrows; i++) {
		struct files_loc loc;
		const struct files_backend *ops = NULL;
		if ((e = load_backend(srv, c, &a, db_int(rs, i, 0), &loc, &ops)))
			break;
		/* the listing can take long on a big store: hold no connection meanwhile */
		db_release(c);
		c = NULL;
		struct orphan_scan os = {srv, &loc, ops, keys, nkeys, older_than_ms, 0};
		e = ops->each(&loc, orphan_one, &os);
		*removed += os.removed;
		if (!e && i + 1 < rs->nrows)
			e = db_acquire(srv->db, DB_WAIT_MS, &c);
	}
	if (*removed)
		log_info("files.gc", "removed %d blobs that no row names", *removed);
	db_release(c);
	free(keys);
	arena_release(&a);
	return e;
}

enum err files_verify_sample(struct server *srv, int k, int *checked, int *bad)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	struct arena a;
	arena_init(&a, 0);
	*checked = *bad = 0;
	enum err e = db_acquire(srv->db, DB_WAIT_MS, &c);
	if (e || (e = db_exec(c, &a, &rs, "SELECT MIN(id), MAX(id) FROM files", "")))
		goto out;
	if (rs->nrows == 0 || db_is_null(rs, 0, 0))
		goto out;
	int64_t lo = db_int(rs, 0, 0), hi = db_int(rs, 0, 1), seen[64];
	int nseen = 0;
	if (k > 64)
		k = 64;
	for (int i = 0; i < k; i++) {
		uint64_t r = 0;
		struct db_rows *pick = NULL;
		if ((e = crypto_random(&r, sizeof(r))))
			break;
		int64_t at = lo + (int64_t)(r % (uint64_t)(hi - lo + 1));
		if ((e = db_exec(c, &a, &pick,
		                 "SELECT id FROM files WHERE id >= ? ORDER BY id LIMIT 1", "i",
		                 at)))
			break;
		if (pick->nrows == 0)
			continue;
		int64_t id = db_int(pick, 0, 0);
		bool again = false;
		for (int j = 0; j < nseen; j++)
			again |= seen[j] == id;
		if (again)
			continue;
		seen[nseen++] = id;
		struct arena fa;
		const void *data;
		size_t n;
		arena_init(&fa, 0);
		enum err re = files_read(srv, c, &fa, id, &data, &n, NULL);
		arena_release(&fa);
		(*checked)++;
		if (re == ERR_INTEGRITY)
			(*bad)++;
		else if (re && re != ERR_NOT_FOUND) {
			e = re;
			break;
		}
	}
	if (!e && *bad)
		e = ERR_INTEGRITY;
out:
	db_release(c);
	arena_release(&a);
	return e;
}
