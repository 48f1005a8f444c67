/* crypto.h: the commercial cryptography (商用密码) of Shouli — SM2, SM3, SM4, password hashing
 * and the key hierarchy behind field encryption.
 *
 * This module is the only one that includes OpenSSL or libgcrypt headers. Everything else
 * sees the types below, plain byte arrays and struct buf.
 *
 * Which library does what:
 *   SM3, HMAC-SM3, PBKDF2  OpenSSL 3 EVP (GB/T 32905)
 *   SM2                    OpenSSL 3 EVP (GB/T 32918): signatures with the Z value, encryption
 *   SM4                    libgcrypt (GB/T 32907): its AES-NI/AVX2 SM4 ran SM4-CTR at about
 *                          600 MB/s on the project machine against about 90 MB/s for OpenSSL
 *                          3.0's table-driven SM4 (openssl speed -evp sm4-ctr), and OpenSSL
 *                          3.0's default provider has no SM4-GCM at all (bench/crypto.c)
 *   random bytes           OpenSSL's DRBG (seeded from the kernel)
 *
 * Field encryption: why SM4-GCM and not SM4-CTR + HMAC-SM3.
 *   The architecture asks for "SM4 ciphertext with HMAC-SM3 integrity" on sensitive columns.
 *   We use SM4-GCM (the GCM mode of GB/T 36624-2018, 分组密码算法的鉴别加密模式), an
 *   authenticated mode: its tag gives the integrity and authenticity that an HMAC would,
 *   in one pass, under one key, and with associated data (the column name) bound into the
 *   tag so that a ciphertext cannot be moved to another column. Building encrypt-then-MAC
 *   by hand would need two keys per data key and a careful composition (MAC over version,
 *   key id, IV and ciphertext, constant-time check before decryption) that GCM already gets
 *   right; libgcrypt's SM4-GCM is also several times faster than SM4 plus a separate SM3
 *   pass. HMAC-SM3 is still used where a keyed hash is the right tool: blind indexes and
 *   row-integrity MACs (keyring_mac). The blob starts with a version byte, so a switch to
 *   CTR + HMAC-SM3 (should an assessor require it) is a new version that leaves old rows
 *   readable.
 *   GCM's limit: a 96-bit random IV is safe for about 2^32 encryptions under one data key.
 *   Rotate data keys (keyring_new_data_key) long before that; a yearly rotation of a
 *   district's keys stays many orders of magnitude below it.
 *
 * Errors used here: ERR_INTEGRITY for a failed authentication (bad tag, bad signature,
 * tampered blob, wrong context, bad padding); ERR_INVALID for input that is not a well-formed
 * key, point, PEM, ciphertext or stored password; ERR_CRYPTO when the library itself fails;
 * ERR_NOMEM; ERR_INTERNAL for a call the contract forbids (e.g. signing with a public key).
 *
 * Functions that return void cannot fail except by running out of memory inside OpenSSL,
 * which aborts the process (logged first): hashing has no other failure. */
#ifndef SHOULI_CRYPTO_H
#define SHOULI_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* ---- process ------------------------------------------------------------------------- */

/* Process-wide initialisation: checks the libgcrypt version (>= 1.9, the first with SM4),
 * disables its secure memory (we never run setuid and do not want the 16 KiB pool limit),
 * marks libgcrypt initialised, caches the OpenSSL SM3 implementation and runs known-answer
 * self-tests of SM3 and SM4. Call once in main (and in each test) before any other function
 * here and before starting threads; later calls return the first result. ERR_CRYPTO when a
 * library is missing or a self-test fails. */
enum err crypto_init(void);

/* Fill p with n cryptographically secure random bytes. ERR_CRYPTO if the DRBG fails. */
enum err crypto_random(void *p, size_t n);

/* Overwrite n bytes at p with zeros in a way the compiler cannot remove (key material,
 * passwords, plaintext scratch). */
void crypto_wipe(void *p, size_t n);

/* ---- SM3 (GB/T 32905) ---------------------------------------------------------------- */

#define CRYPTO_SM3_LEN 32

/* One-shot SM3 of p[0..n). */
void crypto_sm3(const void *p, size_t n, unsigned char out[32]);

/* Incremental SM3. The context is a heap handle owned by the caller (crypto_sm3_destroy).
 * crypto_sm3_final writes the digest and resets the context, so it can be reused at once for
 * a new message. One context must not be used by two threads at the same time. */
struct crypto_sm3_ctx;
enum err crypto_sm3_create(struct crypto_sm3_ctx **out);
void crypto_sm3_update(struct crypto_sm3_ctx *c, const void *p, size_t n);
void crypto_sm3_final(struct crypto_sm3_ctx *c, unsigned char out[32]);
/* NULL is allowed. */
void crypto_sm3_destroy(struct crypto_sm3_ctx *c);

/* HMAC-SM3 (RFC 2104 with SM3) of p[0..n) under key[0..keylen). keylen may be 0. */
void crypto_hmac_sm3(const void *key, size_t keylen, const void *p, size_t n,
                     unsigned char out[32]);

/* ---- SM4 (GB/T 32907) ---------------------------------------------------------------- */

#define CRYPTO_SM4_KEY_LEN 16
#define CRYPTO_SM4_BLOCK   16
#define CRYPTO_GCM_IV_LEN  12
#define CRYPTO_GCM_TAG_LEN 16

/* SM4-GCM with a 96-bit IV and a 128-bit tag. aad may be NULL when aadlen is 0. out has room
 * for n bytes; out may be the same pointer as in (in-place), but must not otherwise overlap
 * it. Never reuse an (key, iv) pair: use crypto_random for the IV.
 * Decrypt returns ERR_INTEGRITY when the tag does not match (wrong key, IV, AAD or a
 * tampered ciphertext); out is then zeroed so no unauthenticated plaintext escapes. */
enum err crypto_sm4_gcm_encrypt(const unsigned char key[16], const unsigned char iv[12],
                                const void *aad, size_t aadlen, const void *in, size_t n,
                                unsigned char *out, unsigned char tag[16]);
enum err crypto_sm4_gcm_decrypt(const unsigned char key[16], const unsigned char iv[12],
                                const void *aad, size_t aadlen, const void *in, size_t n,
                                unsigned char *out, const unsigned char tag[16]);

/* One raw SM4 block (ECB, one block): for known-answer tests only, never for data. */
enum err crypto_sm4_ecb_encrypt_block(const unsigned char key[16], const unsigned char in[16],
                                      unsigned char out[16]);
enum err crypto_sm4_ecb_decrypt_block(const unsigned char key[16], const unsigned char in[16],
                                      unsigned char out[16]);

/* Unauthenticated modes for envelopes that external systems define (SM4-CBC, SM4-CTR). They
 * give confidentiality only: the envelope must be authenticated some other way (an SM2
 * signature or an HMAC-SM3 over the ciphertext) and that check must come first, or a
 * padding oracle opens. Never use them for our own storage; use keyring_encrypt. */

/* SM4-CTR: the 16-byte counter block ctr is incremented as a 128-bit big-endian number.
 * Encryption and decryption are the same operation. out may equal in. */
enum err crypto_sm4_ctr(const unsigned char key[16], const unsigned char ctr[16], const void *in,
                        size_t n, unsigned char *out);

/* SM4-CBC with PKCS#7 padding: encrypt appends (n / 16 + 1) * 16 bytes to out; decrypt
 * appends the unpadded plaintext. Decrypt fails with ERR_INVALID when n is not a positive
 * multiple of 16 and ERR_INTEGRITY when the padding is wrong; out is then left as it was.
 * ERR_TOO_LARGE when out's cap is reached. */
enum err crypto_sm4_cbc_encrypt(const unsigned char key[16], const unsigned char iv[16],
                                const void *in, size_t n, struct buf *out);
enum err crypto_sm4_cbc_decrypt(const unsigned char key[16], const unsigned char iv[16],
                                const void *in, size_t n, struct buf *out);

/* ---- SM2 (GB/T 32918) ---------------------------------------------------------------- */

/* Default distinguishing identifier of GB/T 35276 / GM/T 0009, used when id is NULL. */
#define CRYPTO_SM2_DEFAULT_ID "1234567812345678"
#define CRYPTO_SM2_PUB_LEN    65 /* 04 || X || Y */
#define CRYPTO_SM2_SIG_MAX    72 /* DER SEQUENCE of two INTEGERs */

/* An SM2 key on the curve of GB/T 32918.5: private (which includes its public part) or
 * public only. Heap handle; immutable after creation, so one key may be used by many
 * threads at once. */
struct crypto_sm2_key;

enum err crypto_sm2_generate(struct crypto_sm2_key **out);
/* PEM text pem[0..n) (need not be NUL-terminated): a PKCS#8 "PRIVATE KEY", SEC1 "EC PRIVATE
 * KEY" or SubjectPublicKeyInfo "PUBLIC KEY" of an SM2 key. Encrypted PEM is not accepted.
 * ERR_INVALID when the text is not such a key (other curves and RSA included). */
enum err crypto_sm2_load_pem(const char *pem, size_t n, struct crypto_sm2_key **out);
/* Append PEM text to out: PKCS#8 "PRIVATE KEY" (unencrypted: protect the file by its mode)
 * when private_part, else "PUBLIC KEY". ERR_INTERNAL when private_part is asked of a
 * public-only key. */
enum err crypto_sm2_save_pem(const struct crypto_sm2_key *k, bool private_part, struct buf *out);
/* Uncompressed public point 04 || X || Y. */
enum err crypto_sm2_public_raw(const struct crypto_sm2_key *k, unsigned char out[65]);
/* A public-only key from 04 || X || Y. ERR_INVALID when the point is not on the curve. */
enum err crypto_sm2_from_public_raw(const unsigned char pub[65], struct crypto_sm2_key **out);
/* A private key from the 32-byte big-endian scalar d (1 <= d <= n-2); the public point is
 * computed. For interoperation with systems that exchange raw keys, and for test vectors. */
enum err crypto_sm2_from_private_raw(const unsigned char d[32], struct crypto_sm2_key **out);
bool crypto_sm2_has_private(const struct crypto_sm2_key *k);

/* Sign msg[0..n) with SM3 over Z || msg, where Z is the SM2 user hash of id (NULL means
 * CRYPTO_SM2_DEFAULT_ID) and the public key. The DER signature (at most 72 bytes) is appended
 * to sig. ERR_INTERNAL for a public-only key. */
enum err crypto_sm2_sign(const struct crypto_sm2_key *k, const char *id, const void *msg, size_t n,
                         struct buf *sig);
/* ERR_OK when sig[0..siglen) is a valid DER signature of msg by k under id, ERR_INTEGRITY
 * otherwise (also for malformed DER). */
enum err crypto_sm2_verify(const struct crypto_sm2_key *k, const char *id, const void *msg,
                           size_t n, const void *sig, size_t siglen);

/* SM2 public-key encryption. Ciphertext layout C1 || C3 || C2 of GB/T 32918.4-2016:
 * 04 || X1 || Y1 (65 bytes) || SM3 hash (32) || ciphertext (n bytes), appended to out.
 * Systems that use the older C1 || C2 || C3 order or the ASN.1 form of GM/T 0009 need a
 * conversion at the gateway; crypto_sm2_encrypt_der gives the ASN.1 form directly.
 * n must be in [1, 1 MiB]: ERR_INVALID for an empty message, ERR_TOO_LARGE above. */
enum err crypto_sm2_encrypt(const struct crypto_sm2_key *k, const void *in, size_t n,
                            struct buf *out);
/* Decrypt C1 || C3 || C2 with a private key; plaintext appended to out. ERR_INVALID when the
 * input is too short, too long or does not start with 04; ERR_INTEGRITY when it does not
 * decrypt (C1 not on the curve, C3 mismatch: wrong key or tampering); out is left as it was
 * on failure. ERR_INTERNAL for a public-only key. */
enum err crypto_sm2_decrypt(const struct crypto_sm2_key *k, const void *in, size_t n,
                            struct buf *out);
/* The same, with the DER SEQUENCE { x INTEGER, y INTEGER, hash OCTET STRING, ciphertext
 * OCTET STRING } of GM/T 0009 (what OpenSSL and many Java stacks produce). */
enum err crypto_sm2_encrypt_der(const struct crypto_sm2_key *k, const void *in, size_t n,
                                struct buf *out);
enum err crypto_sm2_decrypt_der(const struct crypto_sm2_key *k, const void *in, size_t n,
                                struct buf *out);

/* NULL is allowed. */
void crypto_sm2_destroy(struct crypto_sm2_key *k);

/* The SM2 private key in the PEM file dir/filename (sm2_keyfile.c). When the file is absent
 * and create is true, a new key is made (dir created with mode 0700 when missing; the file
 * PKCS#8, mode 0600, written to a temporary file, fsynced and linked to its name, so a
 * reader never sees half a key and, of two processes racing, both end with the one key
 * that won). filename is a plain name (no '/', not starting with '.'). The caller destroys
 * *out. ERR_NOT_FOUND (absent and create false); ERR_CONFIG when the file is not a regular
 * file, grants any permission to group or others, or is not an SM2 private key (logged);
 * ERR_IO. */
enum err crypto_sm2_keyfile_load(const char *dir, const char *filename, bool create,
                                 struct crypto_sm2_key **out);

/* ---- passwords ----------------------------------------------------------------------- */

#define CRYPTO_PASSWORD_SALT_LEN 16
#define CRYPTO_PASSWORD_MAX_LEN  1024     /* bytes of password accepted */
#define CRYPTO_PASSWORD_MIN_ITER 10000    /* floor of crypto_password_calibrate */
#define CRYPTO_PASSWORD_MAX_ITER 10000000 /* stored strings above this are rejected */

/* PBKDF2-HMAC-SM3 with a fresh random 16-byte salt and iter iterations; appends the stored
 * form "pbkdf2-sm3$<iter>$<salt hex>$<hash hex>" (32-byte hash, lower-case hex) to out.
 * password is a NUL-terminated string (any bytes; UTF-8 expected, not normalised here).
 * ERR_INVALID when iter is outside [1, CRYPTO_PASSWORD_MAX_ITER] or the password is longer
 * than CRYPTO_PASSWORD_MAX_LEN. */
enum err crypto_password_hash(const char *password, uint32_t iter, struct buf *out);
/* Does password match stored? Reads iter and salt from stored; the hash comparison is
 * constant time. false for any malformed stored string (wrong prefix, bad numbers or hex,
 * wrong lengths, iter above CRYPTO_PASSWORD_MAX_ITER) and for NULL arguments. */
bool crypto_password_verify(const char *password, const char *stored);
/* Does stored use fewer iterations than iter (so the caller should rehash at next login)?
 * true for malformed strings as well. */
bool crypto_password_needs_rehash(const char *stored, uint32_t iter);
/* An iteration count such that one crypto_password_hash takes about target_ms of this
 * machine's time (measured now; the call takes about target_ms + 20 ms), rounded to a multiple of
 * 1000 and never below CRYPTO_PASSWORD_MIN_ITER nor above CRYPTO_PASSWORD_MAX_ITER. */
uint32_t crypto_password_calibrate(unsigned target_ms);

/* ---- key hierarchy and field encryption ---------------------------------------------- */

/* A keyring: the master key (held by a provider) and the data keys it unwraps.
 * Thread-safety: every call may run concurrently with every other, including
 * keyring_new_data_key and keyring_add_wrapped (a rotation while the server runs); only
 * keyring_destroy must be the last call. */
struct keyring;

#define KEYRING_MASTER_LEN    32
#define KEYRING_WRAPPED_LEN   45 /* version | iv(12) | wrapped key(16) | tag(16) */
#define KEYRING_BLOB_OVERHEAD 33 /* version | key id(4) | iv(12) | tag(16) */
#define KEYRING_CONTEXT_MAX   1024

/* Master key in a file: 32 random bytes, stored raw (exactly 32 bytes) or as 64 hex digits
 * (surrounding whitespace ignored). When the file is absent and create is true, a new key is
 * written as hex with mode 0600 (missing parent directories are made with mode 0700) and
 * synced to disk; when it is absent and create is false, ERR_CONFIG. A file that is not a
 * regular file, or that grants any permission to group or others, is refused with
 * ERR_CONFIG (the reason is logged), as is malformed content. ERR_IO for other I/O errors.
 * The master key never leaves the provider: the keyring asks it to wrap, unwrap and derive. */
enum err keyring_open_file(const char *path, bool create, struct keyring **out);
/* Wipes all key material. NULL is allowed. */
void keyring_destroy(struct keyring *kr);

/* Make a random data key with the next id (one more than the highest id known, starting at
 * 1), make it the active key, and append its wrapped form (KEYRING_WRAPPED_LEN bytes) to
 * wrapped. The CALLER persists (key id, wrapped) — the keyring keeps keys only in memory —
 * and must do so before using the key, or rows encrypted with it become unreadable. */
enum err keyring_new_data_key(struct keyring *kr, uint32_t *key_id, struct buf *wrapped);
/* Load a data key the caller persisted. The wrapped form is bound to key_id, so a blob
 * stored under another id fails with ERR_INTEGRITY, as does one wrapped under another master
 * key. ERR_EXISTS when key_id is already loaded; ERR_INVALID for key_id 0. active makes it
 * the key new encryptions use. */
enum err keyring_add_wrapped(struct keyring *kr, uint32_t key_id, const void *wrapped, size_t n,
                             bool active);
/* Id of the active data key; 0 when there is none yet. */
uint32_t keyring_active_id(const struct keyring *kr);

/* Encrypt plain[0..n) with the active data key, SM4-GCM, a random IV, and AAD = the blob
 * header followed by context (e.g. "residents.id_number"). Appends the blob
 *   version (1) | key id (4, big-endian) | iv (12) | ciphertext (n) | tag (16)
 * to out (n + KEYRING_BLOB_OVERHEAD bytes). ERR_CONFIG when there is no active key,
 * ERR_INVALID when context is longer than KEYRING_CONTEXT_MAX bytes (NULL means ""). */
enum err keyring_encrypt(struct keyring *kr, const char *context, const void *plain, size_t n,
                         struct buf *out);
/* Decrypt a blob made by keyring_encrypt with the same context, finding the data key by the
 * id in the blob (so rows written before a rotation stay readable). Appends the plaintext to
 * out. ERR_INTEGRITY for a blob that is short, of an unknown version, of a key this keyring
 * does not hold (logged), tampered with, or of another context; out is left as it was.
 * ERR_INVALID for a context longer than KEYRING_CONTEXT_MAX. */
enum err keyring_decrypt(struct keyring *kr, const char *context, const void *blob, size_t n,
                         struct buf *out);

/* HMAC-SM3 of p[0..n) under a key derived from the master key for purpose (e.g.
 * "bidx:residents.id_number", "row:roles"). Independent of data keys, so blind indexes and
 * row MACs stay valid across rotations; different for every purpose and every master key.
 * Normalise the input first (e.g. upper-case the ID number's X) so equal values match. */
void keyring_mac(const struct keyring *kr, const char *purpose, const void *p, size_t n,
                 unsigned char out[32]);

#endif
