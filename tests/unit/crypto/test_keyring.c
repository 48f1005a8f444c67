/* Keyring: the master-key file, data-key wrapping and rotation, field encryption, MACs. */
#include "crypto_test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[512];

static void mkdir_p(const char *path)
{
	char p[512];
	snprintf(p, sizeof p, "%s", path);
	for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = 0;
		mkdir(p, 0755);
		*s = '/';
	}
	mkdir(p, 0755);
}

static int setup(void **state)
{
	const char *base = getenv("SHOULI_TEST_TMP");
	if (crypto_init() != ERR_OK)
		return -1;
	if (!base || !*base)
		base = "/tmp";
	mkdir_p(base);
	snprintf(tmpdir, sizeof tmpdir, "%s/keyring-XXXXXX", base);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[600];
	/* The directory name came from mkdtemp under our own base: safe to remove. */
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void path_of(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", tmpdir, name);
}

static void write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static struct keyring *open_ok(const char *path, bool create)
{
	struct keyring *kr = NULL;
	assert_int_equal(keyring_open_file(path, create, &kr), ERR_OK);
	assert_non_null(kr);
	return kr;
}

static void master_file_created_private(void **state)
{
	char path[600], dir[600];
	struct stat st;
	path_of(dir, sizeof dir, "new/secrets");
	path_of(path, sizeof path, "new/secrets/master.key");
	struct keyring *kr = open_ok(path, true);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 65); /* 64 hex digits and a newline */
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	keyring_destroy(kr);
	/* Opening again reads the same key: MACs agree. */
	unsigned char a[32], b[32];
	kr = open_ok(path, true);
	keyring_mac(kr, "p", "x", 1, a);
	keyring_destroy(kr);
	kr = open_ok(path, false);
	keyring_mac(kr, "p", "x", 1, b);
	keyring_destroy(kr);
	assert_memory_equal(a, b, 32);
}

static void master_file_refused(void **state)
{
	char path[600];
	struct keyring *kr = NULL;
	path_of(path, sizeof path, "absent.key");
	assert_int_equal(keyring_open_file(path, false, &kr), ERR_CONFIG);
	assert_int_equal(access(path, F_OK), -1);

	path_of(path, sizeof path, "group.key");
	write_file(path, "0123456789abcdef0123456789abcdef", 32, 0640);
	assert_int_equal(keyring_open_file(path, false, &kr), ERR_CONFIG);
	assert_int_equal(keyring_open_file(path, true, &kr), ERR_CONFIG);
	assert_int_equal(chmod(path, 0604), 0);
	assert_int_equal(keyring_open_file(path, false, &kr), ERR_CONFIG);
	assert_int_equal(chmod(path, 0620), 0);
	assert_int_equal(keyring_open_file(path, false, &kr), ERR_CONFIG);
	assert_int_equal(chmod(path, 0600), 0);
	kr = open_ok(path, false); /* the same file, once private, is fine (raw form) */
	keyring_destroy(kr);
	kr = NULL;

	path_of(path, sizeof path, "short.key");
	write_file(path, "abcdef", 6, 0600);
	assert_int_equal(keyring_open_file(path, false, &kr), ERR_CONFIG);
	path_of(path, sizeof path, "badhex.key");
	write_file(path, "zz23456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", 65,
	           0600);
	assert_int_equal(keyring_open_file(path, false, &kr), ERR_CONFIG);
	path_of(path, sizeof path, "new"); /* a directory */
	mkdir(path, 0700);
	assert_int_equal(keyring_open_file(path, false, &kr), ERR_CONFIG);
	assert_null(kr);
}

/* Raw and hex forms of one key are the same key. */
static void master_raw_equals_hex(void **state)
{
	char raw[600], hex[600];
	unsigned char key[32], a[32], b[32];
	struct buf h;
	buf_init(&h, 128);
	assert_int_equal(crypto_random(key, 32), ERR_OK);
	buf_puts(&h, "  ");
	buf_hex(&h, key, 32);
	buf_puts(&h, "\r\n");
	path_of(raw, sizeof raw, "raw.key");
	path_of(hex, sizeof hex, "hex.key");
	write_file(raw, key, 32, 0400);
	write_file(hex, h.p, h.len, 0600);
	struct keyring *kr = open_ok(raw, false);
	keyring_mac(kr, "bidx:t.c", "v", 1, a);
	keyring_destroy(kr);
	kr = open_ok(hex, false);
	keyring_mac(kr, "bidx:t.c", "v", 1, b);
	keyring_destroy(kr);
	assert_memory_equal(a, b, 32);
	buf_release(&h);
}

static void encrypt_decrypt(void **state)
{
	char path[600];
	uint32_t id = 0;
	struct buf w, c1, c2, p;
	const char *id_no = "11010519491231002X";
	buf_init(&w, 256);
	buf_init(&c1, 256);
	buf_init(&c2, 256);
	buf_init(&p, 256);
	path_of(path, sizeof path, "enc.key");
	struct keyring *kr = open_ok(path, true);
	assert_int_equal(keyring_active_id(kr), 0);
	assert_int_equal(keyring_encrypt(kr, "residents.id_number", id_no, 18, &c1), ERR_CONFIG);
	assert_int_equal(c1.len, 0);
	assert_int_equal(keyring_new_data_key(kr, &id, &w), ERR_OK);
	assert_int_equal(id, 1);
	assert_int_equal(w.len, KEYRING_WRAPPED_LEN);
	assert_int_equal(keyring_active_id(kr), 1);

	assert_int_equal(keyring_encrypt(kr, "residents.id_number", id_no, 18, &c1), ERR_OK);
	assert_int_equal(c1.len, 18 + KEYRING_BLOB_OVERHEAD);
	assert_int_equal((unsigned char)c1.p[0], 1);
	assert_memory_equal(c1.p + 1, "\0\0\0\1", 4);
	assert_null(memmem(c1.p, c1.len, id_no, 18));
	/* A random IV: the same value twice gives different blobs. */
	assert_int_equal(keyring_encrypt(kr, "residents.id_number", id_no, 18, &c2), ERR_OK);
	assert_memory_not_equal(c1.p, c2.p, c1.len);

	buf_puts(&p, "prefix:");
	assert_int_equal(keyring_decrypt(kr, "residents.id_number", c1.p, c1.len, &p), ERR_OK);
	assert_string_equal(p.p, "prefix:11010519491231002X");
	buf_reset(&p);
	/* Empty values round-trip too. */
	buf_reset(&c2);
	assert_int_equal(keyring_encrypt(kr, "residents.phone", "", 0, &c2), ERR_OK);
	assert_int_equal(c2.len, KEYRING_BLOB_OVERHEAD);
	assert_int_equal(keyring_decrypt(kr, "residents.phone", c2.p, c2.len, &p), ERR_OK);
	assert_int_equal(p.len, 0);
	keyring_destroy(kr);
	buf_release(&w);
	buf_release(&c1);
	buf_release(&c2);
	buf_release(&p);
}

static void tampering_and_context(void **state)
{
	char path[600];
	uint32_t id;
	struct buf w, c, p;
	buf_init(&w, 256);
	buf_init(&c, 256);
	buf_init(&p, 256);
	path_of(path, sizeof path, "tamper.key");
	struct keyring *kr = open_ok(path, true);
	assert_int_equal(keyring_new_data_key(kr, &id, &w), ERR_OK);
	assert_int_equal(keyring_encrypt(kr, "residents.name", "张三", strlen("张三"), &c), ERR_OK);
	/* Another column, or none. */
	assert_int_equal(keyring_decrypt(kr, "residents.phone", c.p, c.len, &p), ERR_INTEGRITY);
	assert_int_equal(keyring_decrypt(kr, "", c.p, c.len, &p), ERR_INTEGRITY);
	assert_int_equal(keyring_decrypt(kr, NULL, c.p, c.len, &p), ERR_INTEGRITY);
	/* Any single changed bit anywhere: version, key id, IV, ciphertext, tag. */
	for (size_t i = 0; i < c.len * 8; i++) {
		c.p[i / 8] ^= (char)(1 << (i % 8));
		assert_int_equal(keyring_decrypt(kr, "residents.name", c.p, c.len, &p),
		                 ERR_INTEGRITY);
		c.p[i / 8] ^= (char)(1 << (i % 8));
	}
	/* Truncated and short blobs. */
	for (size_t n = 0; n < c.len; n++)
		assert_int_equal(keyring_decrypt(kr, "residents.name", c.p, n, &p), ERR_INTEGRITY);
	assert_int_equal(p.len, 0);
	assert_int_equal(keyring_decrypt(kr, "residents.name", c.p, c.len, &p), ERR_OK);
	assert_int_equal(p.len, strlen("张三"));
	keyring_destroy(kr);
	buf_release(&w);
	buf_release(&c);
	buf_release(&p);
}

struct persisted {
	uint32_t id[2];
	unsigned char wrapped[2][KEYRING_WRAPPED_LEN];
	struct buf blob[2];
};

/* Rotation: key 2 becomes active, rows of key 1 stay readable. */
static void rotate(struct keyring *kr, struct persisted *s)
{
	struct buf w, p;
	buf_init(&w, 256);
	buf_init(&p, 256);
	for (int i = 0; i < 2; i++) {
		buf_reset(&w);
		assert_int_equal(keyring_new_data_key(kr, &s->id[i], &w), ERR_OK);
		assert_int_equal(keyring_active_id(kr), s->id[i]);
		memcpy(s->wrapped[i], w.p, KEYRING_WRAPPED_LEN);
		buf_init(&s->blob[i], 256);
		assert_int_equal(
		    keyring_encrypt(kr, "c", i ? "second" : "first", i ? 6 : 5, &s->blob[i]),
		    ERR_OK);
	}
	assert_int_equal(s->id[0], 1);
	assert_int_equal(s->id[1], 2);
	assert_int_equal((unsigned char)s->blob[1].p[4], 2);
	assert_memory_not_equal(s->wrapped[0], s->wrapped[1], KEYRING_WRAPPED_LEN);
	assert_int_equal(keyring_decrypt(kr, "c", s->blob[0].p, s->blob[0].len, &p), ERR_OK);
	assert_int_equal(keyring_decrypt(kr, "c", s->blob[1].p, s->blob[1].len, &p), ERR_OK);
	assert_string_equal(p.p, "firstsecond");
	buf_release(&w);
	buf_release(&p);
}

static void rotation_and_reload(void **state)
{
	char path[600], other_path[600];
	struct persisted s;
	struct buf p;
	buf_init(&p, 256);
	path_of(path, sizeof path, "rotate.key");
	struct keyring *kr = open_ok(path, true);
	rotate(kr, &s);
	keyring_destroy(kr);

	/* A new instance from the same master key and the persisted wrapped keys. */
	kr = open_ok(path, false);
	assert_int_equal(keyring_add_wrapped(kr, 1, s.wrapped[0], KEYRING_WRAPPED_LEN, false),
	                 ERR_OK);
	assert_int_equal(keyring_active_id(kr), 0);
	assert_int_equal(keyring_add_wrapped(kr, 2, s.wrapped[1], KEYRING_WRAPPED_LEN, true),
	                 ERR_OK);
	assert_int_equal(keyring_active_id(kr), 2);
	assert_int_equal(keyring_decrypt(kr, "c", s.blob[0].p, s.blob[0].len, &p), ERR_OK);
	assert_int_equal(keyring_decrypt(kr, "c", s.blob[1].p, s.blob[1].len, &p), ERR_OK);
	assert_string_equal(p.p, "firstsecond");
	/* Duplicates, id 0, a blob under the wrong id, a damaged blob. */
	assert_int_equal(keyring_add_wrapped(kr, 2, s.wrapped[1], KEYRING_WRAPPED_LEN, true),
	                 ERR_EXISTS);
	assert_int_equal(keyring_add_wrapped(kr, 0, s.wrapped[1], KEYRING_WRAPPED_LEN, true),
	                 ERR_INVALID);
	assert_int_equal(keyring_add_wrapped(kr, 3, s.wrapped[1], KEYRING_WRAPPED_LEN, true),
	                 ERR_INTEGRITY);
	assert_int_equal(keyring_add_wrapped(kr, 3, s.wrapped[1], KEYRING_WRAPPED_LEN - 1, true),
	                 ERR_INTEGRITY);
	/* The next new key continues after the highest loaded id. */
	uint32_t id;
	struct buf w;
	buf_init(&w, 256);
	assert_int_equal(keyring_new_data_key(kr, &id, &w), ERR_OK);
	assert_int_equal(id, 3);
	keyring_destroy(kr);

	/* Another master key cannot unwrap them, and its keyring cannot read the rows. */
	path_of(other_path, sizeof other_path, "other.key");
	kr = open_ok(other_path, true);
	assert_int_equal(keyring_add_wrapped(kr, 1, s.wrapped[0], KEYRING_WRAPPED_LEN, true),
	                 ERR_INTEGRITY);
	assert_int_equal(keyring_new_data_key(kr, &id, &w), ERR_OK);
	assert_int_equal(keyring_decrypt(kr, "c", s.blob[0].p, s.blob[0].len, &p), ERR_INTEGRITY);
	/* A blob naming a key this keyring does not hold. */
	assert_int_equal(keyring_decrypt(kr, "c", s.blob[1].p, s.blob[1].len, &p), ERR_INTEGRITY);
	keyring_destroy(kr);
	buf_release(&w);
	buf_release(&p);
	buf_release(&s.blob[0]);
	buf_release(&s.blob[1]);
}

static void macs(void **state)
{
	char a_path[600], b_path[600];
	unsigned char m1[32], m2[32], m3[32], m4[32];
	struct buf w;
	uint32_t id;
	buf_init(&w, 256);
	path_of(a_path, sizeof a_path, "mac-a.key");
	path_of(b_path, sizeof b_path, "mac-b.key");
	struct keyring *a1 = open_ok(a_path, true), *a2 = open_ok(a_path, false);
	struct keyring *b = open_ok(b_path, true);
	keyring_mac(a1, "bidx:residents.id_number", "11010519491231002X", 18, m1);
	/* Stable across instances and across data-key rotation. */
	assert_int_equal(keyring_new_data_key(a2, &id, &w), ERR_OK);
	keyring_mac(a2, "bidx:residents.id_number", "11010519491231002X", 18, m2);
	assert_memory_equal(m1, m2, 32);
	/* Different with another purpose, another value, another master key. */
	keyring_mac(a1, "bidx:residents.phone", "11010519491231002X", 18, m3);
	assert_memory_not_equal(m1, m3, 32);
	keyring_mac(a1, "bidx:residents.id_number", "110105194912310021", 18, m3);
	assert_memory_not_equal(m1, m3, 32);
	keyring_mac(b, "bidx:residents.id_number", "11010519491231002X", 18, m4);
	assert_memory_not_equal(m1, m4, 32);
	/* Not a plain HMAC-SM3 under some key the caller could guess: differs from no-key. */
	crypto_hmac_sm3(NULL, 0, "11010519491231002X", 18, m3);
	assert_memory_not_equal(m1, m3, 32);
	keyring_destroy(a1);
	keyring_destroy(a2);
	keyring_destroy(b);
	keyring_destroy(NULL);
	buf_release(&w);
}

struct worker {
	struct keyring *kr;
	int failures;
};

static void *encrypt_loop(void *arg)
{
	struct worker *wk = arg;
	struct buf c, p;
	buf_init(&c, 256);
	buf_init(&p, 256);
	for (int i = 0; i < 2000; i++) {
		buf_reset(&c);
		buf_reset(&p);
		if (keyring_encrypt(wk->kr, "t.c", "value", 5, &c) ||
		    keyring_decrypt(wk->kr, "t.c", c.p, c.len, &p) || p.len != 5)
			wk->failures++;
	}
	buf_release(&c);
	buf_release(&p);
	return NULL;
}

/* Rotations while other threads encrypt and decrypt. */
static void concurrent_rotation(void **state)
{
	char path[600];
	pthread_t t[2];
	struct worker wk[2];
	struct buf w;
	uint32_t id;
	buf_init(&w, 256);
	path_of(path, sizeof path, "threads.key");
	struct keyring *kr = open_ok(path, true);
	assert_int_equal(keyring_new_data_key(kr, &id, &w), ERR_OK);
	for (int i = 0; i < 2; i++) {
		wk[i] = (struct worker){kr, 0};
		assert_int_equal(pthread_create(&t[i], NULL, encrypt_loop, &wk[i]), 0);
	}
	for (int i = 0; i < 50; i++) {
		buf_reset(&w);
		assert_int_equal(keyring_new_data_key(kr, &id, &w), ERR_OK);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(wk[i].failures, 0);
	}
	assert_int_equal(keyring_active_id(kr), 51);
	keyring_destroy(kr);
	buf_release(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(master_file_created_private),
	    cmocka_unit_test(master_file_refused),
	    cmocka_unit_test(master_raw_equals_hex),
	    cmocka_unit_test(encrypt_decrypt),
	    cmocka_unit_test(tampering_and_context),
	    cmocka_unit_test(rotation_and_reload),
	    cmocka_unit_test(macs),
	    cmocka_unit_test(concurrent_rotation),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
