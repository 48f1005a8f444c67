/* files_local.c: the local-directory backend. Blobs live at <root>/<2 hex>/<64 hex>; the
 * first two characters of the name spread them over 256 directories so that no directory
 * grows past what a file system lists quickly (a district's ten million scans → ~40,000 per
 * directory).
 *
 * Durability is the usual POSIX dance: write a temporary file in the target directory,
 * fsync it, rename it over the final name (atomic), then fsync the directory so the rename
 * itself survives a power cut. A new directory is fsynced into its parent the same way. */
#include "files/files_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/id.h"
#include "core/log.h"
#include "core/timeutil.h"

#define TMP_PREFIX ".tmp-"
#define RM_PREFIX  TMP_PREFIX "rm-" /* + blob name + "-" + random: a removal under way */

static bool name_ok(const char *name)
{
	if (!name || strlen(name) != FILES_NAME_LEN)
		return false;
	for (int i = 0; i < FILES_NAME_LEN; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return true;
}

static enum err fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ERR_IO;
	int rc = fsync(fd);
	close(fd);
	return rc ? ERR_IO : ERR_OK;
}

/* mkdir path (0700) if absent; a directory made here is synced into parent. */
static enum err ensure_dir(const char *path, const char *parent)
{
	if (mkdir(path, 0700) == 0)
		return parent ? fsync_path(parent) : ERR_OK;
	if (errno != EEXIST) {
		log_error("files.local_mkdir", "cannot create %s: %s", path, strerror(errno));
		return ERR_IO;
	}
	return ERR_OK;
}

static int blob_path(const struct files_loc *loc, const char *name, char *dir, size_t dirsz,
                     char *path, size_t pathsz)
{
	int a = snprintf(dir, dirsz, "%s/%.2s", loc->root, name);
	int b = snprintf(path, pathsz, "%s/%.2s/%s", loc->root, name, name);
	return a > 0 && (size_t)a < dirsz && b > 0 && (size_t)b < pathsz ? 0 : -1;
}

static enum err write_all(int fd, const void *p, size_t n)
{
	const unsigned char *q = p;
	while (n) {
		ssize_t w = write(fd, q, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ERR_IO;
		q += w;
		n -= (size_t)w;
	}
	return ERR_OK;
}

static enum err local_put(const struct files_loc *loc, const char *name, const void *blob, size_t n)
{
	char dir[4096], path[4096], tmp[4096], rnd[17];
	int fd = -1;
	bool made_tmp = false;
	enum err e = ERR_IO;
	if (!name_ok(name) || !loc->root ||
	    blob_path(loc, name, dir, sizeof(dir), path, sizeof(path)))
		return ERR_INTERNAL;
	if ((e = ensure_dir(loc->root, NULL)) || (e = ensure_dir(dir, loc->root)))
		return e;
	if ((e = id_random_hex(rnd, 8)))
		return e;
	int k = snprintf(tmp, sizeof(tmp), "%s/" TMP_PREFIX "%s", dir, rnd);
	if (k < 0 || (size_t)k >= sizeof(tmp))
		return ERR_INTERNAL;
	e = ERR_IO;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	made_tmp = true;
	if (write_all(fd, blob, n) || fsync(fd))
		goto out;
	if (close(fd)) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path))
		goto out;
	made_tmp = false;
	e = fsync_path(dir);
out:
	if (e)
		log_error("files.local_put", "cannot store blob %.8s… under %s: %s", name,
		          loc->root, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (made_tmp)
		unlink(tmp);
	return e;
}

static enum err local_get(const struct files_loc *loc, const char *name, struct buf *out)
{
	char dir[4096], path[4096];
	if (!name_ok(name) || !loc->root ||
	    blob_path(loc, name, dir, sizeof(dir), path, sizeof(path)))
		return ERR_INTERNAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? ERR_NOT_FOUND : ERR_IO;
	enum err e = ERR_OK;
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		e = ERR_IO;
		goto out;
	}
	if ((size_t)st.st_size > out->cap - out->len) {
		e = ERR_TOO_LARGE;
		goto out;
	}
	char chunk[65536];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = ERR_IO;
			break;
		}
		if (r == 0)
			break;
		if ((e = buf_append(out, chunk, (size_t)r)))
			break;
	}
out:
	close(fd);
	return e;
}

static int64_t mtime_ms(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
}

/* The age check and the unlink cannot be one system call, so the blob is first renamed
 * aside (after which a touch finds it absent and its caller writes it again), then its age
 * is read once more from the renamed inode: a touch that landed between the first look and
 * the rename shows there, and the blob goes back (unless a new copy of the same bytes was
 * written meanwhile, which is then kept). The aside name carries the blob's name, so that
 * after a crash in between local_sweep puts it back rather than lose a blob a commit may
 * have referenced in that instant (the next sweep looks at it again). */
static enum err local_remove(const struct files_loc *loc, const char *name, int64_t unless_since_ms,
                             bool *removed)
{
	char dir[4096], path[4096], aside[4096], rnd[17];
	struct stat st;
	*removed = false;
	if (!name_ok(name) || !loc->root ||
	    blob_path(loc, name, dir, sizeof(dir), path, sizeof(path)))
		return ERR_INTERNAL;
	if (lstat(path, &st))
		return errno == ENOENT ? ERR_OK : ERR_IO;
	if (!S_ISREG(st.st_mode) || mtime_ms(&st) >= unless_since_ms)
		return ERR_OK;
	enum err e = id_random_hex(rnd, 8);
	if (e)
		return e;
	int k = snprintf(aside, sizeof(aside), "%s/" RM_PREFIX "%s-%s", dir, name, rnd);
	if (k < 0 || (size_t)k >= sizeof(aside))
		return ERR_INTERNAL;
	if (rename(path, aside))
		return errno == ENOENT ? ERR_OK : ERR_IO;
	if (lstat(aside, &st) == 0 && mtime_ms(&st) >= unless_since_ms) {
		/* Refreshed just before the rename: put it back, or keep a newer copy of the same
		 * bytes. Where hard links are not supported, rename back (over a newer copy,
		 * which is equally good: same name, same plaintext). */
		if (link(aside, path) == 0 || errno == EEXIST)
			unlink(aside);
		else if (rename(aside, path)) {
			log_error("files.local_remove", "cannot restore blob %.8s…: %s", name,
			          strerror(errno));
			return ERR_IO;
		}
		return fsync_path(dir);
	}
	if (unlink(aside) && errno != ENOENT) {
		log_error("files.local_remove", "cannot remove blob %.8s…: %s", name,
		          strerror(errno));
		return ERR_IO;
	}
	*removed = true;
	return fsync_path(dir);
}

static enum err local_touch(const struct files_loc *loc, const char *name, bool *present)
{
	char dir[4096], path[4096];
	*present = false;
	if (!name_ok(name) || !loc->root ||
	    blob_path(loc, name, dir, sizeof(dir), path, sizeof(path)))
		return ERR_INTERNAL;
	if (utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW) == 0) {
		*present = true;
		return ERR_OK;
	}
	if (errno == ENOENT)
		return ERR_OK;
	log_error("files.local_touch", "cannot refresh blob %.8s…: %s", name, strerror(errno));
	return ERR_IO;
}

static enum err local_each(const struct files_loc *loc, files_each_fn fn, void *ctx)
{
	enum err e = ERR_OK;
	if (!loc->root)
		return ERR_INTERNAL;
	for (int i = 0; i < 256 && !e; i++) {
		char dir[4096], path[4096 + 300], sub[3];
		snprintf(sub, sizeof(sub), "%02x", i);
		snprintf(dir, sizeof(dir), "%s/%s", loc->root, sub);
		DIR *d = opendir(dir);
		if (!d) {
			if (errno == ENOENT)
				continue;
			log_error("files.local_list", "cannot list %s: %s", dir, strerror(errno));
			return ERR_IO;
		}
		struct dirent *de;
		while (!e && (de = readdir(d))) {
			if (!name_ok(de->d_name) || memcmp(de->d_name, sub, 2))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			struct stat st;
			if (lstat(path, &st) || !S_ISREG(st.st_mode))
				continue; /* removed meanwhile, or not ours */
			e = fn(ctx, de->d_name, mtime_ms(&st));
		}
		closedir(d);
	}
	return e;
}

static enum err local_exists(const struct files_loc *loc, const char *name, bool *yes)
{
	char dir[4096], path[4096];
	struct stat st;
	if (!name_ok(name) || !loc->root ||
	    blob_path(loc, name, dir, sizeof(dir), path, sizeof(path)))
		return ERR_INTERNAL;
	if (stat(path, &st) == 0) {
		*yes = S_ISREG(st.st_mode);
		return ERR_OK;
	}
	*yes = false;
	return errno == ENOENT ? ERR_OK : ERR_IO;
}

/* Temporary files left by a crash between open and rename, once older than older_than_ms;
 * and, whatever their age, blobs a crash left renamed aside by local_remove: those go back
 * under their name (unless a copy is there again), since whether the removal was still
 * right is unknown. */
static enum err local_sweep(const struct files_loc *loc, int64_t older_than_ms, int *removed)
{
	*removed = 0;
	if (!loc->root)
		return ERR_INTERNAL;
	for (int i = 0; i < 256; i++) {
		char dir[4096], path[4096 + 300];
		snprintf(dir, sizeof(dir), "%s/%02x", loc->root, i);
		DIR *d = opendir(dir);
		if (!d)
			continue;
		struct dirent *de;
		while ((de = readdir(d))) {
			if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			struct stat st;
			if (lstat(path, &st) || !S_ISREG(st.st_mode))
				continue;
			const char *blob = de->d_name + strlen(RM_PREFIX);
			char name[FILES_NAME_LEN + 1], back[4096 + 300];
			if (!strncmp(de->d_name, RM_PREFIX, strlen(RM_PREFIX)) &&
			    strlen(blob) > FILES_NAME_LEN && blob[FILES_NAME_LEN] == '-') {
				memcpy(name, blob, FILES_NAME_LEN);
				name[FILES_NAME_LEN] = 0;
				snprintf(back, sizeof(back), "%s/%s", dir, name);
				if (name_ok(name) && (link(path, back) == 0 || errno == EEXIST)) {
					unlink(path);
					log_warn("files.local_sweep",
					         "blob %.8s… put back after an interrupted removal",
					         name);
				}
				continue;
			}
			if (mtime_ms(&st) < older_than_ms && unlink(path) == 0)
				(*removed)++;
		}
		closedir(d);
	}
	return ERR_OK;
}

const struct files_backend files_local_backend = {
    .kind = "local",
    .put = local_put,
    .get = local_get,
    .remove = local_remove,
    .exists = local_exists,
    .touch = local_touch,
    .each = local_each,
    .sweep = local_sweep,
};
