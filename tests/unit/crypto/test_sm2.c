/* SM2: the worked examples of GB/T 32918.5 / GM/T 0003.5, a cross-check with the OpenSSL
 * CLI, and the failure cases of signatures, keys and encryption. */
#include "crypto_test.h"

/* GB/T 32918.5-2017 (GM/T 0003.5-2012) worked examples on the recommended curve: private key
 * d, its public point, the signature of "message digest" under the default id
 * 1234567812345678 (made with k = 59276E27...BC21), and the encryption of "encryption
 * standard" with the same k, in C1 || C3 || C2 order. Published values, cross-read from two
 * independent implementations' self-tests. */
#define STD_D "3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8"
#define STD_PUB                                                                                    \
	"04"                                                                                       \
	"09f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020"                         \
	"ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13"
#define STD_SIG                                                                                    \
	"3046022100"                                                                               \
	"f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3"                         \
	"022100"                                                                                   \
	"b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa"
#define STD_CIPHER                                                                                 \
	"04"                                                                                       \
	"04ebfc718e8d179862043226 8e77feb6415e2ede0e073c0f4f640ecd2e149a73"                        \
	"e858f9d81e5430a57b36daab8f950a3c64e6ee6a63094d99283aff767e124df0"                         \
	"59983c18f809e262923c53aec295d30383b54e39d609d160afcb1908d0bd8766"                         \
	"21886ca989ca9c7d58087307ca93092d651efa"

/* A throwaway key made with `openssl genpkey -algorithm SM2` (OpenSSL 3.0.19), and values
 * computed offline from it with the CLI:
 *   openssl pkeyutl -sign -rawin -digest sm3 -pkeyopt distid:clerk-0001@shouli \
 *     -inkey k.pem -in msg   (signature, DER)
 *   openssl pkeyutl -encrypt -pubin -inkey p.pem -in msg   (GM/T 0009 DER ciphertext) */
static const char cli_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQgnjBqXT1+QwZaUZgq\n"
                              "9cdysGSg3TW2PHzqE/qptSHFEXyhRANCAARGOT598VZJIv1TBtOWxS1F4lvbm6r3\n"
                              "yOee5JSluZJbRYZPlVOjcsavgLgYFub6cqKfNpJCZytMRHhNSHaFTLN7\n"
                              "-----END PRIVATE KEY-----\n";
/* The same key in SEC1 form as `openssl ec` writes it (label "SM2 PRIVATE KEY"). */
static const char cli_sec1_pem[] =
    "-----BEGIN SM2 PRIVATE KEY-----\n"
    "MHcCAQEEIJ4wal09fkMGWlGYKvXHcrBkoN01tjx86hP6qbUhxRF8oAoGCCqBHM9V\n"
    "AYItoUQDQgAERjk+ffFWSSL9UwbTlsUtReJb25uq98jnnuSUpbmSW0WGT5VTo3LG\n"
    "r4C4GBbm+nKinzaSQmcrTER4TUh2hUyzew==\n"
    "-----END SM2 PRIVATE KEY-----\n";
#define CLI_PUB                                                                                    \
	"0446393e7df1564922fd5306d396c52d45e25bdb9baaf7c8e79ee494a5b9925b"                         \
	"45864f9553a372c6af80b81816e6fa72a29f369242672b4c44784d4876854cb37b"
#define CLI_MSG "Shouli SM2 cross-check with the openssl CLI"
#define CLI_ID  "clerk-0001@shouli"
#define CLI_SIG                                                                                    \
	"3045022100a745f99972b55a838a65bfb5eefdee91cec8da5b5b002b4d05dff345"                       \
	"8915b7b2022065dae1a00b80dedc8ca8261fe7eea6995c1b0b819fdb187fc28ec7"                       \
	"a104b8504b"
#define CLI_CIPHER_DER                                                                             \
	"308194022100ab3e1c1397210e35f9f4b0804b574af74bd06e754a1efbb6acfbd2"                       \
	"53f4f4839f022039149390c42c8f811466af0acd841241c159ddb9d9d1ba92548e"                       \
	"f1583506e6ec0420dd9a52e86fce3bd5c8b829a1df601bcdae3971308b84871ce6"                       \
	"80e48c67020cd1042b0268a0857c6c6420879f5373c2bd8976a38b30401a6be500"                       \
	"47d430f37730cb5f73dffaaad9ceca190b638e"

/* The CLI key encrypted with a password (openssl pkey -aes128 -passout pass:x): refused,
 * and above all never a password prompt on the terminal. */
static const char enc_pem[] = "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
                              "MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhxZSaxPFpOngICCAAw\n"
                              "DAYIKoZIhvcNAgkFADAdBglghkgBZQMEAQIEEGMMxX2Qa7MzyU1oQlXTLw8EgZCX\n"
                              "jG4rWprHmd88lSeas7qL0cVTbm2IxUe29eQgs3YUS+LtRKNSH97szqMxgoTuYJ5I\n"
                              "rh1tF122wpw58P4ahd/0FtUAxkZ53IokZr/PpmYD8KGPaIY3bhDNIklvDV5gI2a4\n"
                              "kwLj1F52Tx3gXRRylw7NN0Q96P/PMXg/uyqNyvPyXGyWHZ5+oW0zHGmbcDTDu4Y=\n"
                              "-----END ENCRYPTED PRIVATE KEY-----\n";

/* A NIST P-256 public key: a valid EC key, but not SM2. */
static const char p256_pem[] = "-----BEGIN PUBLIC KEY-----\n"
                               "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFfiH5I3P330EB91M8CaEkSPeILbj\n"
                               "8gRKzhmtVplhGrP3Vw1itgt91UfDm08HerHYwgThOttqQXMQ8s0RKSHwUw==\n"
                               "-----END PUBLIC KEY-----\n";

static struct crypto_sm2_key *std_key(void)
{
	unsigned char d[32];
	struct crypto_sm2_key *k = NULL;
	hexb(STD_D, d, 32);
	assert_int_equal(crypto_sm2_from_private_raw(d, &k), ERR_OK);
	return k;
}

static void standard_key_and_signature(void **state)
{
	unsigned char pub[65], sig[72];
	struct crypto_sm2_key *k = std_key(), *pk = NULL;
	assert_true(crypto_sm2_has_private(k));
	assert_int_equal(crypto_sm2_public_raw(k, pub), ERR_OK);
	assert_hex(pub, 65, STD_PUB);
	hexb(STD_SIG, sig, 72);
	/* The Z value with the default id is what makes this verify. */
	assert_int_equal(crypto_sm2_verify(k, NULL, "message digest", 14, sig, 72), ERR_OK);
	assert_int_equal(crypto_sm2_verify(k, CRYPTO_SM2_DEFAULT_ID, "message digest", 14, sig, 72),
	                 ERR_OK);
	assert_int_equal(crypto_sm2_verify(k, "", "message digest", 14, sig, 72), ERR_INTEGRITY);
	assert_int_equal(crypto_sm2_verify(k, NULL, "message digesT", 14, sig, 72), ERR_INTEGRITY);
	/* And through a public-only key made from the raw point. */
	assert_int_equal(crypto_sm2_from_public_raw(pub, &pk), ERR_OK);
	assert_false(crypto_sm2_has_private(pk));
	assert_int_equal(crypto_sm2_verify(pk, NULL, "message digest", 14, sig, 72), ERR_OK);
	crypto_sm2_destroy(pk);
	crypto_sm2_destroy(k);
}

static void standard_decryption(void **state)
{
	unsigned char c[116];
	struct buf out;
	struct crypto_sm2_key *k = std_key();
	buf_init(&out, 1024);
	hexb(STD_CIPHER, c, sizeof c);
	assert_int_equal(crypto_sm2_decrypt(k, c, sizeof c, &out), ERR_OK);
	assert_int_equal(out.len, 19);
	assert_memory_equal(out.p, "encryption standard", 19);
	/* A changed C3 (hash) or C2 (ciphertext) fails the check, leaving out alone. */
	c[70] ^= 1;
	assert_int_equal(crypto_sm2_decrypt(k, c, sizeof c, &out), ERR_INTEGRITY);
	c[70] ^= 1;
	c[110] ^= 1;
	assert_int_equal(crypto_sm2_decrypt(k, c, sizeof c, &out), ERR_INTEGRITY);
	/* C1 off the curve. */
	c[110] ^= 1;
	c[40] ^= 1;
	assert_int_equal(crypto_sm2_decrypt(k, c, sizeof c, &out), ERR_INTEGRITY);
	assert_int_equal(out.len, 19);
	buf_release(&out);
	crypto_sm2_destroy(k);
}

static void cli_cross_check(void **state)
{
	unsigned char pub[65], sig[71], der[151];
	struct crypto_sm2_key *k = NULL;
	struct buf out;
	buf_init(&out, 1024);
	assert_int_equal(crypto_sm2_load_pem(cli_pem, strlen(cli_pem), &k), ERR_OK);
	assert_true(crypto_sm2_has_private(k));
	assert_int_equal(crypto_sm2_public_raw(k, pub), ERR_OK);
	assert_hex(pub, 65, CLI_PUB);
	hexb(CLI_SIG, sig, sizeof sig);
	assert_int_equal(crypto_sm2_verify(k, CLI_ID, CLI_MSG, strlen(CLI_MSG), sig, sizeof sig),
	                 ERR_OK);
	assert_int_equal(crypto_sm2_verify(k, NULL, CLI_MSG, strlen(CLI_MSG), sig, sizeof sig),
	                 ERR_INTEGRITY);
	hexb(CLI_CIPHER_DER, der, sizeof der);
	assert_int_equal(crypto_sm2_decrypt_der(k, der, sizeof der, &out), ERR_OK);
	assert_int_equal(out.len, strlen(CLI_MSG));
	assert_memory_equal(out.p, CLI_MSG, out.len);
	buf_release(&out);
	crypto_sm2_destroy(k);
}

static void sec1_check(const char *pem)
{
	unsigned char pub[65];
	struct crypto_sm2_key *k = NULL;
	assert_int_equal(crypto_sm2_load_pem(pem, strlen(pem), &k), ERR_OK);
	assert_true(crypto_sm2_has_private(k));
	assert_int_equal(crypto_sm2_public_raw(k, pub), ERR_OK);
	assert_hex(pub, 65, CLI_PUB);
	crypto_sm2_destroy(k);
}

/* SEC1 under OpenSSL's "SM2 PRIVATE KEY" label and under the usual "EC PRIVATE KEY". */
static void sec1_pem_loads(void **state)
{
	char ec[sizeof cli_sec1_pem];
	const char *body = strchr(cli_sec1_pem, '\n') + 1;
	sec1_check(cli_sec1_pem);
	snprintf(ec, sizeof ec,
	         "-----BEGIN EC PRIVATE KEY-----\n%.*s-----END EC PRIVATE KEY-----\n",
	         (int)(strstr(body, "-----END") - body), body);
	sec1_check(ec);
}

static void sign_verify_round_trip(void **state)
{
	struct crypto_sm2_key *k = NULL, *other = NULL;
	struct buf sig;
	const char *msg = "受理编号 2024-0001";
	size_t n = strlen(msg);
	buf_init(&sig, 1024);
	assert_int_equal(crypto_sm2_generate(&k), ERR_OK);
	assert_int_equal(crypto_sm2_generate(&other), ERR_OK);
	assert_int_equal(crypto_sm2_sign(k, "alice", msg, n, &sig), ERR_OK);
	assert_true(sig.len >= 8 && sig.len <= CRYPTO_SM2_SIG_MAX);
	assert_int_equal(crypto_sm2_verify(k, "alice", msg, n, sig.p, sig.len), ERR_OK);
	/* Wrong id, wrong key, changed message. */
	assert_int_equal(crypto_sm2_verify(k, "bob", msg, n, sig.p, sig.len), ERR_INTEGRITY);
	assert_int_equal(crypto_sm2_verify(k, NULL, msg, n, sig.p, sig.len), ERR_INTEGRITY);
	assert_int_equal(crypto_sm2_verify(other, "alice", msg, n, sig.p, sig.len), ERR_INTEGRITY);
	assert_int_equal(crypto_sm2_verify(k, "alice", msg, n - 1, sig.p, sig.len), ERR_INTEGRITY);
	/* Every single flipped bit of the signature is rejected. */
	for (size_t i = 0; i < sig.len * 8; i++) {
		sig.p[i / 8] ^= (char)(1 << (i % 8));
		assert_int_equal(crypto_sm2_verify(k, "alice", msg, n, sig.p, sig.len),
		                 ERR_INTEGRITY);
		sig.p[i / 8] ^= (char)(1 << (i % 8));
	}
	assert_int_equal(crypto_sm2_verify(k, "alice", msg, n, sig.p, 0), ERR_INTEGRITY);
	assert_int_equal(crypto_sm2_verify(k, "alice", msg, n, sig.p, sig.len - 1), ERR_INTEGRITY);
	/* Empty messages are signable. */
	buf_reset(&sig);
	assert_int_equal(crypto_sm2_sign(k, NULL, NULL, 0, &sig), ERR_OK);
	assert_int_equal(crypto_sm2_verify(k, NULL, "", 0, sig.p, sig.len), ERR_OK);
	buf_release(&sig);
	crypto_sm2_destroy(k);
	crypto_sm2_destroy(other);
}

static void pem_round_trip(void **state)
{
	struct crypto_sm2_key *k = NULL, *priv = NULL, *pub = NULL;
	struct buf pem, sig;
	unsigned char a[65], b[65], c[65];
	buf_init(&pem, 8192);
	buf_init(&sig, 1024);
	assert_int_equal(crypto_sm2_generate(&k), ERR_OK);
	assert_int_equal(crypto_sm2_save_pem(k, true, &pem), ERR_OK);
	assert_non_null(strstr(pem.p, "-----BEGIN PRIVATE KEY-----"));
	assert_int_equal(crypto_sm2_load_pem(pem.p, pem.len, &priv), ERR_OK);
	assert_true(crypto_sm2_has_private(priv));
	buf_reset(&pem);
	assert_int_equal(crypto_sm2_save_pem(k, false, &pem), ERR_OK);
	assert_non_null(strstr(pem.p, "-----BEGIN PUBLIC KEY-----"));
	assert_null(strstr(pem.p, "PRIVATE"));
	assert_int_equal(crypto_sm2_load_pem(pem.p, pem.len, &pub), ERR_OK);
	assert_false(crypto_sm2_has_private(pub));
	assert_int_equal(crypto_sm2_public_raw(k, a), ERR_OK);
	assert_int_equal(crypto_sm2_public_raw(priv, b), ERR_OK);
	assert_int_equal(crypto_sm2_public_raw(pub, c), ERR_OK);
	assert_memory_equal(a, b, 65);
	assert_memory_equal(a, c, 65);
	/* The reloaded private key signs for the original's public key. */
	assert_int_equal(crypto_sm2_sign(priv, NULL, "m", 1, &sig), ERR_OK);
	assert_int_equal(crypto_sm2_verify(pub, NULL, "m", 1, sig.p, sig.len), ERR_OK);
	/* A public-only key can neither sign nor export a private part. */
	assert_int_equal(crypto_sm2_sign(pub, NULL, "m", 1, &sig), ERR_INTERNAL);
	assert_int_equal(crypto_sm2_save_pem(pub, true, &pem), ERR_INTERNAL);
	buf_release(&pem);
	buf_release(&sig);
	crypto_sm2_destroy(k);
	crypto_sm2_destroy(priv);
	crypto_sm2_destroy(pub);
}

static void bad_keys_rejected(void **state)
{
	struct crypto_sm2_key *k = NULL;
	unsigned char pub[65], d[32];
	const char *junk = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
	assert_int_equal(crypto_sm2_load_pem(p256_pem, strlen(p256_pem), &k), ERR_INVALID);
	assert_int_equal(crypto_sm2_load_pem(junk, strlen(junk), &k), ERR_INVALID);
	assert_int_equal(crypto_sm2_load_pem("", 0, &k), ERR_INVALID);
	assert_int_equal(crypto_sm2_load_pem(enc_pem, strlen(enc_pem), &k), ERR_INVALID);
	/* Truncated PEM. */
	assert_int_equal(crypto_sm2_load_pem(cli_pem, 60, &k), ERR_INVALID);
	hexb(STD_PUB, pub, 65);
	pub[64] ^= 1; /* off the curve */
	assert_int_equal(crypto_sm2_from_public_raw(pub, &k), ERR_INVALID);
	pub[64] ^= 1;
	pub[0] = 0x02;
	assert_int_equal(crypto_sm2_from_public_raw(pub, &k), ERR_INVALID);
	memset(d, 0, 32);
	assert_int_equal(crypto_sm2_from_private_raw(d, &k), ERR_INVALID);
	/* n - 1 (n is the curve order) is outside [1, n-2]. */
	hexb("fffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54122", d, 32);
	assert_int_equal(crypto_sm2_from_private_raw(d, &k), ERR_INVALID);
	d[31] = 0x21; /* n - 2 is allowed */
	assert_int_equal(crypto_sm2_from_private_raw(d, &k), ERR_OK);
	crypto_sm2_destroy(k);
}

static void encryption_round_trip(void **state)
{
	struct crypto_sm2_key *k = NULL, *other = NULL, *pub = NULL;
	unsigned char raw[65];
	struct buf ct, pt;
	const char *msg = "SM4 session key 0123456789abcdef";
	size_t n = strlen(msg);
	buf_init(&ct, 4096);
	buf_init(&pt, 4096);
	assert_int_equal(crypto_sm2_generate(&k), ERR_OK);
	assert_int_equal(crypto_sm2_generate(&other), ERR_OK);
	assert_int_equal(crypto_sm2_public_raw(k, raw), ERR_OK);
	assert_int_equal(crypto_sm2_from_public_raw(raw, &pub), ERR_OK);

	assert_int_equal(crypto_sm2_encrypt(pub, msg, n, &ct), ERR_OK);
	assert_int_equal(ct.len, 97 + n);
	assert_int_equal((unsigned char)ct.p[0], 0x04);
	assert_int_equal(crypto_sm2_decrypt(k, ct.p, ct.len, &pt), ERR_OK);
	assert_int_equal(pt.len, n);
	assert_memory_equal(pt.p, msg, n);
	buf_reset(&pt);
	assert_int_equal(crypto_sm2_decrypt(other, ct.p, ct.len, &pt), ERR_INTEGRITY);
	assert_int_equal(crypto_sm2_decrypt(pub, ct.p, ct.len, &pt), ERR_INTERNAL);
	assert_int_equal(crypto_sm2_decrypt(k, ct.p, 97, &pt), ERR_INVALID);
	ct.p[0] = 0x02;
	assert_int_equal(crypto_sm2_decrypt(k, ct.p, ct.len, &pt), ERR_INVALID);
	assert_int_equal(pt.len, 0);

	buf_reset(&ct);
	assert_int_equal(crypto_sm2_encrypt_der(pub, msg, n, &ct), ERR_OK);
	assert_int_equal((unsigned char)ct.p[0], 0x30);
	assert_int_equal(crypto_sm2_decrypt_der(k, ct.p, ct.len, &pt), ERR_OK);
	assert_memory_equal(pt.p, msg, n);
	assert_int_equal(crypto_sm2_encrypt(pub, "", 0, &ct), ERR_INVALID);
	buf_release(&ct);
	buf_release(&pt);
	crypto_sm2_destroy(k);
	crypto_sm2_destroy(other);
	crypto_sm2_destroy(pub);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(standard_key_and_signature),
	    cmocka_unit_test(standard_decryption),
	    cmocka_unit_test(cli_cross_check),
	    cmocka_unit_test(sec1_pem_loads),
	    cmocka_unit_test(sign_verify_round_trip),
	    cmocka_unit_test(pem_round_trip),
	    cmocka_unit_test(bad_keys_rejected),
	    cmocka_unit_test(encryption_round_trip),
	};
	return cmocka_run_group_tests(tests, crypto_setup, NULL);
}
