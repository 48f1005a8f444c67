/* keyring_file.c: the master-key provider that keeps the master key in a local file.
 *
 * From the 32-byte master key it derives (HMAC-SM3 with fixed labels) a 16-byte SM4 key
 * that wraps data keys with SM4-GCM, and it derives purpose keys on request. The master
 * key itself is used for nothing else. */
#include "crypto/crypto_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

#define WRAP_VERSION 1
#define KEK_LABEL    "shouli/kek/v1"
#define FILE_MAX     256 /* a key file is 32 raw bytes or 64 hex digits and whitespace */

struct file_state {
	unsigned char master[KEYRING_MASTER_LEN];
	unsigned char kek[CRYPTO_SM4_KEY_LEN];
};

static void file_derive(void *state, const void *label, size_t n, unsigned char out[32])
{
	struct file_state *s = state;
	crypto_hmac_sm3(s->master, sizeof s->master, label, n, out);
}

static enum err file_wrap(void *state, const unsigned char key[16], const void *aad, size_t aadlen,
                          unsigned char out[KEYRING_WRAPPED_LEN])
{
	struct file_state *s = state;
	unsigned char *iv = out + 1, *ct = iv + CRYPTO_GCM_IV_LEN, *tag = ct + CRYPTO_SM4_KEY_LEN;
	out[0] = WRAP_VERSION;
	enum err e = crypto_random(iv, CRYPTO_GCM_IV_LEN);
	if (!e)
		e = crypto_sm4_gcm_encrypt(s->kek, iv, aad, aadlen, key, CRYPTO_SM4_KEY_LEN, ct,
		                           tag);
	return e;
}

static enum err file_unwrap(void *state, const void *blob, size_t n, const void *aad, size_t aadlen,
                            unsigned char key[16])
{
	struct file_state *s = state;
	const unsigned char *b = blob;
	if (!b || n != KEYRING_WRAPPED_LEN || b[0] != WRAP_VERSION)
		return ERR_INTEGRITY;
	const unsigned char *iv = b + 1, *ct = iv + CRYPTO_GCM_IV_LEN;
	return crypto_sm4_gcm_decrypt(s->kek, iv, aad, aadlen, ct, CRYPTO_SM4_KEY_LEN, key,
	                              ct + CRYPTO_SM4_KEY_LEN);
}

static void file_destroy(void *state)
{
	crypto_wipe(state, sizeof(struct file_state));
	free(state);
}

const struct keyring_provider_ops keyring_file_ops = {
    .name = "file",
    .wrap = file_wrap,
    .unwrap = file_unwrap,
    .derive = file_derive,
    .destroy = file_destroy,
};

enum err keyring_file_state(const unsigned char master[KEYRING_MASTER_LEN], void **state)
{
	unsigned char k[32];
	struct file_state *s = calloc(1, sizeof *s);
	if (!s)
		return ERR_NOMEM;
	memcpy(s->master, master, sizeof s->master);
	crypto_hmac_sm3(s->master, sizeof s->master, KEK_LABEL, strlen(KEK_LABEL), k);
	memcpy(s->kek, k, sizeof s->kek);
	crypto_wipe(k, sizeof k);
	*state = s;
	return ERR_OK;
}

/* 32 raw bytes, or 64 hex digits with optional surrounding whitespace. */
static enum err parse_master(const char *path, const char *p, size_t n,
                             unsigned char master[KEYRING_MASTER_LEN])
{
	if (n == KEYRING_MASTER_LEN) {
		memcpy(master, p, n);
		return ERR_OK;
	}
	struct str s = str_trim((struct str){p, n});
	if (s.n == 2 * KEYRING_MASTER_LEN && hex_decode(s.p, s.n, master, KEYRING_MASTER_LEN))
		return ERR_OK;
	log_error("crypto.master_key", "%s: not 32 raw bytes nor 64 hex digits", path);
	return ERR_CONFIG;
}

static enum err check_mode(const char *path, int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		return ERR_IO;
	if (!S_ISREG(st.st_mode)) {
		log_error("crypto.master_key", "%s: not a regular file", path);
		return ERR_CONFIG;
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		log_error("crypto.master_key",
		          "%s: mode %03o gives group or others access; chmod 600", path,
		          (unsigned)(st.st_mode & 0777));
		return ERR_CONFIG;
	}
	return ERR_OK;
}

/* ERR_NOT_FOUND when the file does not exist. */
static enum err read_master(const char *path, unsigned char master[KEYRING_MASTER_LEN])
{
	char data[FILE_MAX + 1];
	size_t n = 0;
	enum err e = ERR_IO;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? ERR_NOT_FOUND : ERR_IO;
	e = check_mode(path, fd);
	while (!e && n < sizeof data) {
		ssize_t r = read(fd, data + n, sizeof data - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			e = ERR_IO;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (!e && n > FILE_MAX) {
		log_error("crypto.master_key", "%s: longer than %d bytes", path, FILE_MAX);
		e = ERR_CONFIG;
	}
	if (!e)
		e = parse_master(path, data, n, master);
	crypto_wipe(data, sizeof data);
	close(fd);
	return e;
}

/* mkdir -p of the directories above path, each new one with mode 0700. */
static enum err make_parents(const char *path)
{
	char *dir = strdup(path);
	enum err e = dir ? ERR_OK : ERR_NOMEM;
	for (char *s = dir ? strchr(dir + 1, '/') : NULL; !e && s; s = strchr(s + 1, '/')) {
		*s = 0;
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			e = ERR_IO;
		*s = '/';
	}
	free(dir);
	return e;
}

/* fsync the directory holding path, so the new file's name is durable too. */
static enum err sync_parent(const char *path)
{
	char *dir = strdup(path);
	if (!dir)
		return ERR_NOMEM;
	char *slash = strrchr(dir, '/');
	const char *d = ".";
	if (slash == dir)
		d = "/";
	else if (slash) {
		*slash = 0;
		d = dir;
	}
	int fd = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	enum err e = fd >= 0 && fsync(fd) == 0 ? ERR_OK : ERR_IO;
	if (fd >= 0)
		close(fd);
	free(dir);
	return e;
}

static enum err write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return ERR_IO;
		p += w;
		n -= (size_t)w;
	}
	return fsync(fd) == 0 ? ERR_OK : ERR_IO;
}

/* A new random master key as hex; ERR_EXISTS when another process made one first. */
static enum err create_master(const char *path)
{
	unsigned char key[KEYRING_MASTER_LEN];
	struct buf hex;
	int fd = -1;
	buf_init(&hex, 2 * sizeof key + 1);
	enum err e = make_parents(path);
	if (!e)
		e = crypto_random(key, sizeof key);
	if (!e)
		e = buf_hex(&hex, key, sizeof key);
	if (!e)
		e = buf_putc(&hex, '\n');
	if (e)
		goto out;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		e = errno == EEXIST ? ERR_EXISTS : ERR_IO;
		goto out;
	}
	e = write_all(fd, hex.p, hex.len);
	if (!e)
		e = sync_parent(path);
	if (e)
		unlink(path);
	else
		log_info("crypto.master_key", "created a new master key in %s", path);
out:
	if (fd >= 0)
		close(fd);
	crypto_wipe(key, sizeof key);
	crypto_wipe(hex.p, hex.len);
	buf_release(&hex);
	return e;
}

enum err keyring_open_file(const char *path, bool create, struct keyring **out)
{
	unsigned char master[KEYRING_MASTER_LEN];
	void *state = NULL;
	enum err e = read_master(path, master);
	if (e == ERR_NOT_FOUND && create) {
		e = create_master(path);
		if (!e || e == ERR_EXISTS)
			e = read_master(path, master);
	}
	if (e == ERR_NOT_FOUND) {
		log_error("crypto.master_key", "%s does not exist", path);
		e = ERR_CONFIG;
	}
	if (e)
		goto out;
	e = keyring_file_state(master, &state);
	if (!e)
		e = keyring_create(&keyring_file_ops, state, out);
out:
	crypto_wipe(master, sizeof master);
	return e;
}
