/* SM4: block vectors of GB/T 32907, GCM of RFC 8998, CBC/CTR cross-checked with OpenSSL. */
#include "crypto_test.h"

#include <time.h>

#define STD_KEY "0123456789abcdeffedcba9876543210"

/* GB/T 32907-2016 Appendix A, example 1 (key = plaintext). */
static void sm4_block_vector(void **state)
{
	unsigned char key[16], out[16], back[16];
	hexb(STD_KEY, key, 16);
	assert_int_equal(crypto_sm4_ecb_encrypt_block(key, key, out), ERR_OK);
	assert_hex(out, 16, "681edf34d206965e86b3e94f536e4246");
	assert_int_equal(crypto_sm4_ecb_decrypt_block(key, out, back), ERR_OK);
	assert_memory_equal(back, key, 16);
}

/* GB/T 32907-2016 Appendix A, example 2: the block encrypted 1,000,000 times. CBC with a zero
 * IV over the block followed by 999,999 zero blocks computes exactly that chain
 * (C_i = E(C_{i-1} xor 0)), in one call instead of a million. */
static void sm4_million_vector(void **state)
{
	const size_t blocks = 1000000;
	unsigned char key[16], iv[16] = {0};
	unsigned char *in = calloc(blocks, 16);
	struct buf out;
	buf_init(&out, (blocks + 1) * 16);
	assert_non_null(in);
	hexb(STD_KEY, key, 16);
	memcpy(in, key, 16);
	clock_t t0 = clock();
	assert_int_equal(crypto_sm4_cbc_encrypt(key, iv, in, blocks * 16, &out), ERR_OK);
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	assert_int_equal(out.len, (blocks + 1) * 16);
	assert_hex(out.p + (blocks - 1) * 16, 16, "595298c7c6fd271f0402f804c33d3f66");
	print_message("1,000,000 SM4 blocks (CBC) in %.3f s\n", secs);
	buf_release(&out);
	free(in);
}

/* RFC 8998 Appendix A.1. */
#define GCM_IV  "00001234567800000000abcd"
#define GCM_AAD "feedfacedeadbeeffeedfacedeadbeefabaddad2"
#define GCM_PT                                                                                     \
	"aaaaaaaaaaaaaaaabbbbbbbbbbbbbbbbccccccccccccccccdddddddddddddddd"                         \
	"eeeeeeeeeeeeeeeeffffffffffffffffeeeeeeeeeeeeeeeeaaaaaaaaaaaaaaaa"
#define GCM_CT                                                                                     \
	"17f399f08c67d5ee19d0dc9969c4bb7d5fd46fd3756489069157b282bb200735"                         \
	"d82710ca5c22f0ccfa7cbf93d496ac15a56834cbcf98c397b4024a2691233b8d"
#define GCM_TAG "83de3541e4c2b58177e065a9bf7b62ec"

static void gcm_rfc8998(void **state)
{
	unsigned char key[16], iv[12], aad[20], pt[64], out[64], tag[16], back[64];
	hexb(STD_KEY, key, 16);
	hexb(GCM_IV, iv, 12);
	hexb(GCM_AAD, aad, 20);
	hexb(GCM_PT, pt, 64);
	assert_int_equal(crypto_sm4_gcm_encrypt(key, iv, aad, 20, pt, 64, out, tag), ERR_OK);
	assert_hex(out, 64, GCM_CT);
	assert_hex(tag, 16, GCM_TAG);
	assert_int_equal(crypto_sm4_gcm_decrypt(key, iv, aad, 20, out, 64, back, tag), ERR_OK);
	assert_memory_equal(back, pt, 64);
}

struct gcm_case {
	unsigned char key[16], iv[12], pt[100], ct[100], tag[16], out[100];
};

static void gcm_make(struct gcm_case *c)
{
	assert_int_equal(crypto_random(c->key, 16), ERR_OK);
	assert_int_equal(crypto_random(c->iv, 12), ERR_OK);
	assert_int_equal(crypto_random(c->pt, sizeof c->pt), ERR_OK);
	assert_int_equal(
	    crypto_sm4_gcm_encrypt(c->key, c->iv, "ctx", 3, c->pt, sizeof c->pt, c->ct, c->tag),
	    ERR_OK);
	assert_memory_not_equal(c->ct, c->pt, sizeof c->pt);
}

static void gcm_round_trip_in_place(void **state)
{
	struct gcm_case c;
	unsigned char buf[100], tag[16];
	gcm_make(&c);
	memcpy(buf, c.pt, sizeof buf);
	assert_int_equal(crypto_sm4_gcm_encrypt(c.key, c.iv, "ctx", 3, buf, 100, buf, tag), ERR_OK);
	assert_memory_equal(buf, c.ct, 100);
	assert_memory_equal(tag, c.tag, 16);
	assert_int_equal(crypto_sm4_gcm_decrypt(c.key, c.iv, "ctx", 3, buf, 100, buf, tag), ERR_OK);
	assert_memory_equal(buf, c.pt, 100);
}

static void gcm_tag_tamper(void **state)
{
	struct gcm_case c;
	gcm_make(&c);
	c.tag[15] ^= 0x01;
	assert_int_equal(crypto_sm4_gcm_decrypt(c.key, c.iv, "ctx", 3, c.ct, 100, c.out, c.tag),
	                 ERR_INTEGRITY);
	/* No unauthenticated plaintext escapes. */
	unsigned char zero[100] = {0};
	assert_memory_equal(c.out, zero, 100);
}

static void gcm_ciphertext_tamper(void **state)
{
	struct gcm_case c;
	gcm_make(&c);
	c.ct[50] ^= 0x80;
	assert_int_equal(crypto_sm4_gcm_decrypt(c.key, c.iv, "ctx", 3, c.ct, 100, c.out, c.tag),
	                 ERR_INTEGRITY);
}

static void gcm_aad_iv_key_mismatch(void **state)
{
	struct gcm_case c;
	gcm_make(&c);
	assert_int_equal(crypto_sm4_gcm_decrypt(c.key, c.iv, "ctX", 3, c.ct, 100, c.out, c.tag),
	                 ERR_INTEGRITY);
	assert_int_equal(crypto_sm4_gcm_decrypt(c.key, c.iv, NULL, 0, c.ct, 100, c.out, c.tag),
	                 ERR_INTEGRITY);
	c.iv[0] ^= 1;
	assert_int_equal(crypto_sm4_gcm_decrypt(c.key, c.iv, "ctx", 3, c.ct, 100, c.out, c.tag),
	                 ERR_INTEGRITY);
	c.iv[0] ^= 1;
	c.key[0] ^= 1;
	assert_int_equal(crypto_sm4_gcm_decrypt(c.key, c.iv, "ctx", 3, c.ct, 100, c.out, c.tag),
	                 ERR_INTEGRITY);
}

/* An empty message still authenticates its AAD. */
static void gcm_empty_message(void **state)
{
	unsigned char key[16] = {1}, iv[12] = {2}, tag[16];
	assert_int_equal(crypto_sm4_gcm_encrypt(key, iv, "aad", 3, NULL, 0, NULL, tag), ERR_OK);
	assert_int_equal(crypto_sm4_gcm_decrypt(key, iv, "aad", 3, NULL, 0, NULL, tag), ERR_OK);
	assert_int_equal(crypto_sm4_gcm_decrypt(key, iv, "aaD", 3, NULL, 0, NULL, tag),
	                 ERR_INTEGRITY);
}

/* Expected values computed offline with OpenSSL 3.0.19:
 *   printf 'Shouli SM4 envelope test: 37 bytes!!' |
 *     openssl enc -sm4-cbc -K 0123456789abcdeffedcba9876543210 \
 *       -iv 000102030405060708090a0b0c0d0e0f | xxd -p
 *   ... openssl enc -sm4-ctr -K (same) -iv 00000000000000000000000000fffffe
 * (36 bytes; the CTR counter carries out of its low 32 bits on the way). */
#define ENV_PT "Shouli SM4 envelope test: 37 bytes!!"
#define CBC_IV "000102030405060708090a0b0c0d0e0f"
#define CBC_CT                                                                                     \
	"9993661538af4e43be18ea88e2ffde3b5050d322bb88c7f9e4666d46a6188647"                         \
	"8765443f83f0750ab2a68b63a782e7f8"
#define CTR_IV "00000000000000000000000000fffffe"
#define CTR_CT "0f71bdeb5e8076e871cfc6d598e36c089738b8dccc1a9f549d4adde0dc256f413ccfb179"

static void cbc_vector(void **state)
{
	unsigned char key[16], iv[16];
	struct buf ct, pt;
	buf_init(&ct, 1024);
	buf_init(&pt, 1024);
	hexb(STD_KEY, key, 16);
	hexb(CBC_IV, iv, 16);
	assert_int_equal(crypto_sm4_cbc_encrypt(key, iv, ENV_PT, 36, &ct), ERR_OK);
	assert_int_equal(ct.len, 48);
	assert_hex(ct.p, 48, CBC_CT);
	buf_puts(&pt, "kept:");
	assert_int_equal(crypto_sm4_cbc_decrypt(key, iv, ct.p, ct.len, &pt), ERR_OK);
	assert_string_equal(pt.p, "kept:" ENV_PT);
	buf_release(&ct);
	buf_release(&pt);
}

/* A whole-block message gets a whole block of padding; an empty one is one padding block. */
static void cbc_padding_lengths(void **state)
{
	unsigned char key[16] = {7}, iv[16] = {9}, msg[32] = {1};
	struct buf ct, pt;
	buf_init(&ct, 1024);
	buf_init(&pt, 1024);
	assert_int_equal(crypto_sm4_cbc_encrypt(key, iv, msg, 32, &ct), ERR_OK);
	assert_int_equal(ct.len, 48);
	assert_int_equal(crypto_sm4_cbc_decrypt(key, iv, ct.p, ct.len, &pt), ERR_OK);
	assert_int_equal(pt.len, 32);
	assert_memory_equal(pt.p, msg, 32);
	buf_reset(&ct);
	buf_reset(&pt);
	assert_int_equal(crypto_sm4_cbc_encrypt(key, iv, NULL, 0, &ct), ERR_OK);
	assert_int_equal(ct.len, 16);
	assert_int_equal(crypto_sm4_cbc_decrypt(key, iv, ct.p, ct.len, &pt), ERR_OK);
	assert_int_equal(pt.len, 0);
	buf_release(&ct);
	buf_release(&pt);
}

/* Wrong key: the padding is garbage (with overwhelming probability) and out is untouched. */
static void cbc_bad_padding_and_length(void **state)
{
	unsigned char key[16], iv[16], ct[48];
	struct buf pt;
	buf_init(&pt, 1024);
	hexb(STD_KEY, key, 16);
	hexb(CBC_IV, iv, 16);
	hexb(CBC_CT, ct, 48);
	buf_puts(&pt, "x");
	key[3] ^= 0x10;
	assert_int_equal(crypto_sm4_cbc_decrypt(key, iv, ct, 48, &pt), ERR_INTEGRITY);
	assert_int_equal(pt.len, 1);
	key[3] ^= 0x10;
	assert_int_equal(crypto_sm4_cbc_decrypt(key, iv, ct, 47, &pt), ERR_INVALID);
	assert_int_equal(crypto_sm4_cbc_decrypt(key, iv, ct, 0, &pt), ERR_INVALID);
	assert_int_equal(pt.len, 1);
	buf_release(&pt);
}

/* The output cap is honoured and the buffer left as it was. */
static void cbc_cap(void **state)
{
	unsigned char key[16] = {0}, iv[16] = {0}, msg[40] = {0};
	struct buf ct;
	buf_init(&ct, 40);
	assert_int_equal(crypto_sm4_cbc_encrypt(key, iv, msg, 40, &ct), ERR_TOO_LARGE);
	assert_int_equal(ct.len, 0);
	buf_release(&ct);
}

static void ctr_vector(void **state)
{
	unsigned char key[16], ctr[16], out[36], back[36];
	hexb(STD_KEY, key, 16);
	hexb(CTR_IV, ctr, 16);
	assert_int_equal(crypto_sm4_ctr(key, ctr, ENV_PT, 36, out), ERR_OK);
	assert_hex(out, 36, CTR_CT);
	assert_int_equal(crypto_sm4_ctr(key, ctr, out, 36, back), ERR_OK);
	assert_memory_equal(back, ENV_PT, 36);
	/* In place. */
	assert_int_equal(crypto_sm4_ctr(key, ctr, back, 36, back), ERR_OK);
	assert_memory_equal(back, out, 36);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sm4_block_vector),
	    cmocka_unit_test(sm4_million_vector),
	    cmocka_unit_test(gcm_rfc8998),
	    cmocka_unit_test(gcm_round_trip_in_place),
	    cmocka_unit_test(gcm_tag_tamper),
	    cmocka_unit_test(gcm_ciphertext_tamper),
	    cmocka_unit_test(gcm_aad_iv_key_mismatch),
	    cmocka_unit_test(gcm_empty_message),
	    cmocka_unit_test(cbc_vector),
	    cmocka_unit_test(cbc_padding_lengths),
	    cmocka_unit_test(cbc_bad_padding_and_length),
	    cmocka_unit_test(cbc_cap),
	    cmocka_unit_test(ctr_vector),
	};
	return cmocka_run_group_tests(tests, crypto_setup, NULL);
}
