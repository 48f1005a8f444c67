/* sm2_keyfile.c: an SM2 private key kept in a PEM file of its own (the archive's signing key,
 * each centre's seal key), made on first use.
 *
 * The file is PKCS#8 PEM, mode 0600, a regular file owned by whoever runs the server. It is
 * made by writing a temporary file in the same directory (fsynced) and linking it to its
 * name: a reader never sees half a key, and of two processes (two nodes on one data
 * directory) that race to make it, one wins and the other reads the winner's key. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/log.h"
#include "crypto/crypto.h"

#define KEY_MAX 16384

static enum err key_read(int fd, const char *path, struct crypto_sm2_key **out)
{
	struct stat st;
	char pem[KEY_MAX];
	size_t n = 0;
	if (fstat(fd, &st) != 0)
		return ERR_IO;
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		log_error("crypto.keyfile", "%s must be a regular file readable by its owner only",
		          path);
		return ERR_CONFIG;
	}
	while (n < sizeof(pem)) {
		ssize_t r = read(fd, pem + n, sizeof(pem) - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return ERR_IO;
		if (r == 0)
			break;
		n += (size_t)r;
	}
	enum err e = n < sizeof(pem) ? crypto_sm2_load_pem(pem, n, out) : ERR_INVALID;
	crypto_wipe(pem, sizeof(pem));
	if (!e && !crypto_sm2_has_private(*out)) {
		crypto_sm2_destroy(*out);
		*out = NULL;
		e = ERR_INVALID;
	}
	if (e == ERR_INVALID) {
		log_error("crypto.keyfile", "%s is not an SM2 private key (PEM)", path);
		return ERR_CONFIG;
	}
	return e;
}

/* Make a new key at path (see the file comment). A name taken by the time of the link is
 * not an error: the caller reads whatever key is there. */
static enum err key_create(const char *dir, const char *filename, const char *path)
{
	struct crypto_sm2_key *k = NULL;
	struct buf pem;
	char tmp[4400];
	unsigned char rnd[8];
	int fd = -1;
	enum err e;
	buf_init(&pem, KEY_MAX);
	if ((e = crypto_random(rnd, sizeof(rnd))))
		goto out;
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.%02x%02x%02x%02x%02x%02x%02x%02x.tmp", dir, filename,
	             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6],
	             rnd[7]) >= (int)sizeof(tmp)) {
		e = ERR_CONFIG;
		goto out;
	}
	if ((e = crypto_sm2_generate(&k)) || (e = crypto_sm2_save_pem(k, true, &pem)))
		goto out;
	e = ERR_IO;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		goto out;
	size_t off = 0;
	while (off < pem.len) {
		ssize_t w = write(fd, pem.p + off, pem.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (link(tmp, path) != 0 && errno != EEXIST)
		goto out;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	log_info("crypto.keyfile", "made the SM2 key %s", path);
	e = ERR_OK;
out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	if (pem.p)
		crypto_wipe(pem.p, pem.len);
	buf_release(&pem);
	crypto_sm2_destroy(k);
	return e;
}

enum err crypto_sm2_keyfile_load(const char *dir, const char *filename, bool create,
                                 struct crypto_sm2_key **out)
{
	char path[4096];
	enum err e;
	*out = NULL;
	if (!dir || !filename || !*filename || strchr(filename, '/') || filename[0] == '.')
		return ERR_CONFIG;
	if (snprintf(path, sizeof(path), "%s/%s", dir, filename) >= (int)sizeof(path))
		return ERR_CONFIG;
	for (int round = 0; round < 2; round++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0) {
			e = key_read(fd, path, out);
			close(fd);
			return e;
		}
		if (errno != ENOENT || round || !create)
			break;
		if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
			log_error("crypto.keyfile", "cannot make %s: %s", dir, strerror(errno));
			return ERR_IO;
		}
		if ((e = key_create(dir, filename, path)))
			return e;
	}
	if (errno == ENOENT && !create)
		return ERR_NOT_FOUND;
	log_error("crypto.keyfile", "cannot open %s: %s", path, strerror(errno));
	return ERR_IO;
}
