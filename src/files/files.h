/* files.h: the encrypted, content-addressed file store (docs/cases.md "Files").
 *
 * A file is addressed by the SM3 of its plaintext: putting the same bytes twice gives the same
 * row and the same blob (dedupe). The blob is the plaintext sealed with keyring_encrypt
 * (SM4-GCM, context "files") and stored by a backend under a name derived from the SM3 with
 * keyring_mac("files.name", sm3), so the disk (or the bucket) does not show which known
 * document is stored. Reading decrypts and checks the SM3 again: a blob that was changed,
 * swapped or truncated is ERR_INTEGRITY, never wrong bytes.
 *
 * Storing is two steps, so that the slow part holds no database lock:
 *  1. files_prepare, with no transaction: type and size checks, SM3, encryption, and the
 *     durable write of the blob (local: temporary file, fsync, rename, fsync of the
 *     directory). When the blob is there already it is not written again, only refreshed
 *     (its "last written" time becomes now).
 *  2. files_commit, inside the caller's write transaction: the files row is created or found
 *     and, with FILES_REF, referenced. Only this step holds the write lock (a 20 MiB upload:
 *     about a millisecond instead of the whole hash, encryption and fsync).
 * So the blob is durable before the transaction that references it commits. files_put does
 * both inside the caller's transaction: a convenience for small files the server makes, at
 * the price of holding the write lock through the whole work.
 *
 * Garbage: a file nobody references (ref_count 0) is removed by the job files.gc once its
 * row is older than a day. A blob without a row (a transaction that rolled back after
 * files_prepare, or a crash between the two steps) is removed by the same job's orphan
 * sweep (files_sweep_orphans) once the blob is older than a day.
 * Why neither can take a blob a commit in flight is about to reference: a blob is only
 * removed when it was neither written nor refreshed for the grace period (a day), and
 * files_prepare writes or refreshes the blob it returns; files_commit refuses a preparation
 * older than FILES_PREPARED_MAX_AGE_MS (an hour), far inside the grace period. The backend
 * makes "check the age, remove" atomic against a refresh (files_int.h, op remove), and
 * files_commit checks, under the row's lock, that the blob is still there.
 *
 * Reference counts: the module that stores a file id in its own rows takes a reference
 * (files_ref, or FILES_REF of files_commit) in the same transaction, and gives it back
 * (files_unref) in the transaction that removes that row. The store itself never deletes a
 * referenced file.
 *
 * Backends: the table file_backends lists them (row 'local' is inserted by the migration);
 * each files row names the backend that holds its blob; new files go to the default one.
 *
 * Types are sniffed from the bytes (JPEG FF D8 FF, PNG signature, PDF %PDF-); the caller's
 * hint never decides. application/json is accepted only with FILES_SERVER_MADE (the server
 * produced the bytes, e.g. an e-certificate it pulled), and must then parse as JSON. */
#ifndef SHOULI_FILES_H
#define SHOULI_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

struct module;
struct server;
struct db_conn;

extern const struct module files_module;

#define FILES_SM3_HEX_LEN 64
#define FILES_MIME_MAX    32
/* Default of the config key file_max_bytes (20 MiB). */
#define FILES_DEFAULT_MAX_BYTES (20 * 1024 * 1024)

/* flags of files_prepare, files_commit and files_put */
#define FILES_SERVER_MADE 1u /* prepare: the server made the bytes, application/json is allowed */
#define FILES_REF         2u /* commit: also take one reference (as files_ref would) */

/* files_commit refuses a preparation older than this (ms): the orphan sweep and gc rely on
 * a commit following its prepare well within their one-day grace period. */
#define FILES_PREPARED_MAX_AGE_MS (3600 * 1000LL)

/* One row of the files table. A value type, filled by the calls below. */
struct file_info {
	int64_t id;
	char sm3[FILES_SM3_HEX_LEN + 1]; /* lower-case hex of the plaintext's SM3 */
	int64_t size;                    /* plaintext bytes */
	char mime[FILES_MIME_MAX];       /* "image/jpeg", "image/png", "application/pdf",
	                                    "application/json" */
	int64_t backend_id;
	int64_t ref_count;
	int64_t created_at; /* ms since the epoch */
};

/* ---- type sniffing (pure; for callers that want to check before they upload) ---- */

/* The MIME type of data[0..n) among those the store accepts, or NULL. server_made adds
 * application/json (the bytes must parse as a JSON object or array). */
const char *files_sniff(const void *data, size_t n, bool server_made);
/* What the bytes look like, in Chinese, for a refusal: "ZIP 压缩包", "GIF 图片", "纯文本",
 * "空文件", "未知格式"… Never NULL; a static string. */
const char *files_describe(const void *data, size_t n);

/* ---- the store ---- */

/* What files_prepare leaves for files_commit. A value type without pointers: it may be kept
 * in the caller's stack or request state between the two calls (and is meaningless after a
 * failed files_prepare). */
struct files_prepared {
	char sm3[FILES_SM3_HEX_LEN + 1]; /* lower-case hex of the plaintext's SM3 */
	int64_t size;                    /* plaintext bytes */
	char mime[FILES_MIME_MAX];       /* the sniffed type */
	int64_t backend_id;              /* the backend that holds the blob */
	int64_t prepared_at;             /* ms since the epoch, when the blob was made durable */
	bool wrote; /* the blob was written (false: it was there and was only refreshed) */
};

/* Step 1: check data[0..n) and make its blob durable. Runs with no transaction: the caller
 * must not be inside one, and should hold no connection of srv->db (this takes one for two
 * short reads: which backend, and whether a row names these bytes already). mime_hint is
 * what the client claimed (may be NULL); a hint that disagrees with the sniffed type is not
 * an error, the sniffed type is stored. flags: FILES_SERVER_MADE. On success *out is filled;
 * nothing references the blob until files_commit (if that never happens, the orphan sweep
 * removes the blob after a day). a: for messages and backend settings.
 * Errors (ei gets field NULL and a zh-CN message for the first two):
 *   ERR_TOO_LARGE       n > file_max_bytes ("文件大小超过上限 20 MB（本文件 …）")
 *   ERR_UNSUPPORTED_MEDIA the bytes are not JPEG, PNG or PDF (or JSON with
 *                       FILES_SERVER_MADE) ("文件内容不是 JPEG、PNG 或 PDF（看起来是 ZIP
 *                       压缩包）"); also an empty or truncated file
 *   ERR_CONFIG          no active data key / no usable backend
 *   ERR_IO              the blob could not be written durably
 *   ERR_DB, ERR_DB_BUSY the lookups failed. */
enum err files_prepare(struct server *srv, struct arena *a, const void *data, size_t n,
                       const char *mime_hint, unsigned flags, struct files_prepared *out,
                       struct errinfo *ei);

/* Step 2, inside the caller's write transaction c (db_begin_write); the caller commits.
 * Creates the files row for p (or finds the one of the same bytes) and, with FILES_REF in
 * flags, takes one reference; fills *out. Short: one upsert, one backend row, one existence
 * check of the blob (a stat for the local backend).
 * Errors: ERR_CONFLICT when the blob is no longer there (removed by an operator, or a
 * removal by gc raced with this commit: logged; roll back, and prepare again to retry);
 * ERR_INTEGRITY when a row of the same SM3 has another size; ERR_INTERNAL for a p that did
 * not come from a successful files_prepare or is older than FILES_PREPARED_MAX_AGE_MS;
 * ERR_CONFIG, ERR_IO, ERR_DB... (roll back). */
enum err files_commit(struct server *srv, struct db_conn *c, struct arena *a,
                      const struct files_prepared *p, unsigned flags, struct file_info *out);

/* files_prepare and files_commit in one call, all of it inside the caller's write
 * transaction c (the lookups use c): the write lock is held while the bytes are hashed,
 * encrypted and fsynced. For small files the server makes; uploads use the two steps.
 * flags: FILES_SERVER_MADE | FILES_REF. Errors: those of both steps. */
enum err files_put(struct server *srv, struct db_conn *c, struct arena *a, const void *data,
                   size_t n, const char *mime_hint, unsigned flags, struct file_info *out,
                   struct errinfo *ei);

/* Read file id: *data (n bytes, NUL after them; memory of a) is the verified plaintext,
 * *info (may be NULL) its row. c in or outside a transaction.
 * ERR_NOT_FOUND (no such row), ERR_INTEGRITY (the blob is missing, does not decrypt, or its
 * SM3 differs from the row's; logged), ERR_IO, ERR_NOMEM (over the arena's cap), ERR_DB. */
enum err files_read(struct server *srv, struct db_conn *c, struct arena *a, int64_t id,
                    const void **data, size_t *n, struct file_info *info);

/* The row of file id. ERR_NOT_FOUND, ERR_DB. */
enum err files_info(struct db_conn *c, struct arena *a, int64_t id, struct file_info *out);

/* Take / give back one reference to file id, inside the caller's write transaction.
 * ERR_NOT_FOUND when there is no such file; files_unref of a file at 0 is ERR_INTERNAL
 * (a bug of the caller: the count never goes negative). */
enum err files_ref(struct db_conn *c, int64_t id);
enum err files_unref(struct db_conn *c, int64_t id);

/* Remove files with ref_count 0 whose row was last changed before older_than_ms (ms since
 * the epoch), at most limit of them; *removed gets how many rows went. Each removal is its
 * own short write transaction: the row is deleted (locking it), then the blob is removed
 * unless it was written or refreshed since older_than_ms (a files_prepare of the same
 * bytes whose commit is in flight; the blob then stays for that commit, or for the orphan
 * sweep), then the commit. What the job files.gc runs (cutoff: now - 1 day); exposed for
 * tests and operators. */
enum err files_gc(struct server *srv, int64_t older_than_ms, int limit, int *removed);

/* The orphan sweep: remove, in every enabled backend, the blobs that no files row names and
 * that were neither written nor refreshed since older_than_ms; *removed gets how many.
 * It first reads the names of all rows (8 bytes each in memory: 80 MB for ten million
 * files), then lists the backend. A row committed after that read belongs to a blob that
 * files_prepare wrote or refreshed less than FILES_PREPARED_MAX_AGE_MS before, so the age
 * check keeps it (the job's cutoff is a day). A blob named by a row of another backend is
 * kept too. ERR_NOMEM, ERR_IO, ERR_DB, ERR_CONFIG. */
enum err files_sweep_orphans(struct server *srv, int64_t older_than_ms, int *removed);

#endif
