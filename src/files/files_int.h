/* files_int.h: what the parts of src/files/ share — the backend ops table and the SQL.
 *
 * The parts: files.c (type sniffing, the module and the job files.gc), files_store.c
 * (prepare, commit, read, references, gc and the orphan sweep: rows and blobs together),
 * files_local.c (the local-directory backend). An S3-compatible backend joins as files_s3.c with
 * one more entry in the table of files_store.c and a row of file_backends. */
#ifndef SHOULI_FILES_INT_H
#define SHOULI_FILES_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "files/files.h"

/* Name of a blob in its backend: hex of keyring_mac("files.name", raw sm3) — 64 chars. */
#define FILES_NAME_LEN 64

/* Where a backend keeps its blobs, from a file_backends row. Strings are borrowed for the
 * call (request arena or static). */
struct files_loc {
	int64_t id;
	const char *name;   /* row name, e.g. "local" */
	const char *root;   /* local: the directory (config "root", else <data dir>/files) */
	const char *config; /* the row's config JSON, for backends that need more */
};

/* Called by the op each for every blob: its name and when it was last written or refreshed
 * (ms since the epoch). A non-zero return stops the listing and is returned by each. */
typedef enum err (*files_each_fn)(void *ctx, const char *name, int64_t written_ms);

/* A backend. Blobs are opaque bytes (already sealed); names are FILES_NAME_LEN lower-case
 * hex characters. Every op may run on many threads at once.
 *
 * Ages: each blob has a "last written" time, set by put and refreshed by touch. gc and the
 * orphan sweep remove a blob only through remove with a cutoff, which keeps a blob written or
 * touched since; that is what protects the blob of a files_prepare whose commit is in
 * flight (files.h). */
struct files_backend {
	const char *kind; /* the file_backends.kind it serves */
	/* Store blob under name durably before returning (replacing a blob of that name
	 * atomically: readers see the old or the new one, never a part); its last-written time
	 * becomes now. ERR_IO. */
	enum err (*put)(const struct files_loc *loc, const char *name, const void *blob, size_t n);
	/* Append the blob to out (its cap bounds what is read). ERR_NOT_FOUND when absent,
	 * ERR_TOO_LARGE over out's cap, ERR_IO. */
	enum err (*get)(const struct files_loc *loc, const char *name, struct buf *out);
	/* Remove the blob durably unless it was written or touched at or after unless_since_ms
	 * (INT64_MAX: whatever its age); *removed tells whether it went (an absent blob: ERR_OK,
	 * false). Atomic against touch: a touch that returned present before the removal keeps
	 * the blob; one after it finds the blob absent (and its caller writes the blob again).
	 * Between the two a concurrent exists may briefly answer false. ERR_IO. */
	enum err (*remove)(const struct files_loc *loc, const char *name, int64_t unless_since_ms,
	                   bool *removed);
	/* Is there a blob of that name? ERR_IO when it cannot tell. */
	enum err (*exists)(const struct files_loc *loc, const char *name, bool *yes);
	/* Refresh the blob's last-written time to now, if it is there (*present). Not durable
	 * by itself (after a crash the blob is either named by a committed row, or garbage
	 * anyway). ERR_IO. */
	enum err (*touch)(const struct files_loc *loc, const char *name, bool *present);
	/* Call fn for every blob (not for leftovers of interrupted writes or removals), in no
	 * particular order; blobs written or removed meanwhile may or may not be seen. fn may
	 * call remove on the blob it is given. An empty or not yet created store is ERR_OK.
	 * Returns fn's first error, else ERR_IO when the store cannot be listed. */
	enum err (*each)(const struct files_loc *loc, files_each_fn fn, void *ctx);
	/* Optional (NULL): remove leftovers of interrupted writes older than older_than_ms;
	 * *removed gets how many. */
	enum err (*sweep)(const struct files_loc *loc, int64_t older_than_ms, int *removed);
};

extern const struct files_backend files_local_backend;

/* Write the FILES_NAME_LEN + 1 bytes of the blob name of the raw digest sm3 to out. */
struct keyring;
void files_blob_name(const struct keyring *kr, const unsigned char sm3[32],
                     char out[FILES_NAME_LEN + 1]);

/* The family the bytes belong to (the MIME type) even when incomplete, or NULL; *truncated
 * tells a JPEG without its end marker, a PNG without IEND, a PDF without %%EOF. */
const char *files_sniff_family(const void *data, size_t n, bool server_made, bool *truncated);

/* The job's other two chores (files_store.c). files_sweep: every backend's sweep op.
 * files_verify_sample: read back up to k files picked at random, checking each decrypts and
 * matches its SM3; *checked, *bad counted; ERR_INTEGRITY when bad > 0 (each logged). */
enum err files_sweep(struct server *srv, int64_t older_than_ms, int *removed);
enum err files_verify_sample(struct server *srv, int k, int *checked, int *bad);

#endif
