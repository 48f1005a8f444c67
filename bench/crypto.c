/* bench_crypto: throughput of the crypto module on this machine. Prints figures; never fails
 * on speed. Each figure runs for about half a second. */
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "crypto/crypto.h"

#define RUN_SECONDS 0.5

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct gcm_arg {
	unsigned char key[16], iv[12], tag[16], digest[32];
	unsigned char *in, *out;
	size_t n;
};

static int gcm_once(void *p)
{
	struct gcm_arg *a = p;
	return crypto_sm4_gcm_encrypt(a->key, a->iv, "aad", 3, a->in, a->n, a->out, a->tag) != 0;
}

static int ctr_once(void *p)
{
	struct gcm_arg *a = p;
	unsigned char ctr[16] = {0};
	return crypto_sm4_ctr(a->key, ctr, a->in, a->n, a->out) != 0;
}

static int sm3_once(void *p)
{
	struct gcm_arg *a = p;
	crypto_sm3(a->in, a->n, a->digest);
	return 0;
}

static int hmac_once(void *p)
{
	struct gcm_arg *a = p;
	crypto_hmac_sm3(a->key, 16, a->in, a->n, a->digest);
	return 0;
}

/* Run fn until RUN_SECONDS pass; operations per second, or -1 on an error. */
static double rate(int (*fn)(void *), void *arg)
{
	double t0 = now(), t;
	long ops = 0;
	do {
		for (int i = 0; i < 8; i++, ops++)
			if (fn(arg))
				return -1;
		t = now() - t0;
	} while (t < RUN_SECONDS);
	return (double)ops / t;
}

static void throughput(const char *what, int (*fn)(void *), struct gcm_arg *a, size_t n)
{
	a->n = n;
	double r = rate(fn, a);
	printf("%-28s %8zu B  %10.1f MB/s  %12.0f ops/s\n", what, n, r * (double)n / 1e6, r);
}

struct sm2_arg {
	struct crypto_sm2_key *key;
	struct buf sig;
};

static int sign_once(void *p)
{
	struct sm2_arg *a = p;
	buf_reset(&a->sig);
	return crypto_sm2_sign(a->key, NULL, "a 32-byte message to be signed..", 32, &a->sig) != 0;
}

static int verify_once(void *p)
{
	struct sm2_arg *a = p;
	return crypto_sm2_verify(a->key, NULL, "a 32-byte message to be signed..", 32, a->sig.p,
	                         a->sig.len) != 0;
}

static void bench_sm2(void)
{
	struct sm2_arg a = {0};
	buf_init(&a.sig, 128);
	if (crypto_sm2_generate(&a.key) || sign_once(&a)) {
		printf("SM2: key generation or signing failed\n");
		return;
	}
	printf("%-28s %12.0f /s\n", "SM2 sign (SM3, Z value)", rate(sign_once, &a));
	printf("%-28s %12.0f /s\n", "SM2 verify", rate(verify_once, &a));
	crypto_sm2_destroy(a.key);
	buf_release(&a.sig);
}

struct field_arg {
	struct keyring *kr;
	struct buf blob, plain;
};

static int field_once(void *p)
{
	struct field_arg *a = p;
	buf_reset(&a->blob);
	buf_reset(&a->plain);
	return keyring_encrypt(a->kr, "residents.id_number", "11010519491231002X", 18, &a->blob) ||
	       keyring_decrypt(a->kr, "residents.id_number", a->blob.p, a->blob.len, &a->plain);
}

static int mac_once(void *p)
{
	struct field_arg *a = p;
	unsigned char out[32];
	keyring_mac(a->kr, "bidx:residents.id_number", "11010519491231002X", 18, out);
	return 0;
}

static void bench_keyring(void)
{
	char path[] = "/tmp/bench_crypto-XXXXXX";
	char file[64];
	struct field_arg a = {0};
	uint32_t id;
	if (!mkdtemp(path))
		return;
	snprintf(file, sizeof file, "%s/master.key", path);
	buf_init(&a.blob, 256);
	buf_init(&a.plain, 256);
	struct buf w;
	buf_init(&w, 256);
	if (keyring_open_file(file, true, &a.kr) == ERR_OK &&
	    keyring_new_data_key(a.kr, &id, &w) == ERR_OK) {
		printf("%-28s %12.0f /s\n", "field encrypt+decrypt (18 B)", rate(field_once, &a));
		printf("%-28s %12.0f /s\n", "blind index keyring_mac", rate(mac_once, &a));
	}
	keyring_destroy(a.kr);
	buf_release(&w);
	buf_release(&a.blob);
	buf_release(&a.plain);
	unlink(file);
	rmdir(path);
}

int main(void)
{
	struct gcm_arg a = {0};
	if (crypto_init() != ERR_OK) {
		fprintf(stderr, "crypto_init failed\n");
		return 1;
	}
	a.in = calloc(1, 1 << 20);
	a.out = calloc(1, 1 << 20);
	if (!a.in || !a.out)
		return 1;
	crypto_random(a.key, sizeof a.key);
	crypto_random(a.in, 1 << 20);
	throughput("SM4-GCM encrypt", gcm_once, &a, 4096);
	throughput("SM4-GCM encrypt", gcm_once, &a, 1 << 20);
	throughput("SM4-CTR", ctr_once, &a, 1 << 20);
	throughput("SM3", sm3_once, &a, 64);
	throughput("SM3", sm3_once, &a, 4096);
	throughput("SM3", sm3_once, &a, 1 << 20);
	throughput("HMAC-SM3", hmac_once, &a, 64);
	bench_sm2();
	bench_keyring();
	double t0 = now();
	uint32_t iter = crypto_password_calibrate(20);
	printf("%-28s %12u iterations for ~20 ms (calibration took %.0f ms)\n", "PBKDF2-HMAC-SM3",
	       iter, (now() - t0) * 1e3);
	struct buf h;
	buf_init(&h, 256);
	t0 = now();
	crypto_password_hash("benchmark password", iter, &h);
	printf("%-28s %12.1f ms for one hash at that count\n", "", (now() - t0) * 1e3);
	buf_release(&h);
	free(a.in);
	free(a.out);
	return 0;
}
