/* sensitive.h: personal data at rest — sealed columns, blind indexes, masking and the small
 * validators every module needs for them.
 *
 * A sensitive column (证件号码, 姓名, phone, address, bank account) is stored as two columns:
 *
 *	<field>_enc   BLOB  keyring_encrypt(context = "<table>.<field>", normalised value)
 *	<field>_bidx  TEXT  hex(keyring_mac("bidx:<table>.<field>", normalised value))
 *
 * The ciphertext is SM4-GCM bound to the column name (a blob copied into another column
 * does not open); the blind index is HMAC-SM3 under a key derived from the master key for
 * that one column, so equal values match within a column and nothing links two columns.
 * Exact lookup is `WHERE <field>_bidx = ?` bound to sensitive_bidx(). A blind index of a
 * small value space (a phone number has about 10^10 values) can be searched by anyone who
 * holds the master key; without it, neither column reveals anything.
 *
 * The column name is "<table>.<field>" (e.g. "users.phone", "residents.id_number"). It must
 * never change once rows are written with it: it is part of the encryption context and of
 * the index key.
 *
 * Normalisation. seal, bidx and open all work on the normalised value, so the stored value
 * is exactly what lookups compare with. The kind of value is read from the field name
 * (the part after the last '.'):
 *
 *	field ends in         kind        normalisation
 *	"id_number"           ID number   ASCII white space removed anywhere; ASCII letters
 *	                                  upper-cased (the check character x → X)
 *	"phone", "mobile"     phone       ASCII white space and '-' removed anywhere; a
 *	                                  leading "+86" removed
 *	"bank_account",       bank card   ASCII white space and '-' removed anywhere
 *	"bank_card"
 *	anything else         text        ASCII white space and U+3000 (ideographic space)
 *	(name, address ...)               trimmed at both ends; the inside is kept
 *
 * Normalisation does not validate: check the value with the validators below (after
 * normalising) before sealing it.
 *
 * Masking is for display only and never reversible; it does not depend on the key.
 *
 * Memory: every returned pointer is allocated from the arena a and lives as long as it. The
 * plaintext scratch used inside is wiped; the returned plaintext is not (release the arena
 * promptly). */
#ifndef SHOULI_SENSITIVE_H
#define SHOULI_SENSITIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"

struct keyring;

/* Hex characters of a blind index (HMAC-SM3, 32 bytes), without the NUL. */
#define SENSITIVE_BIDX_HEX_LEN 64
/* Longest plaintext accepted by seal (bytes after normalisation). */
#define SENSITIVE_PLAIN_MAX 4096

/* The normalised form of plain for column (see the table above), from a. NULL when plain
 * is NULL, not valid UTF-8, or when out of memory. The result may be "". */
const char *sensitive_normalize(const char *column, const char *plain, struct arena *a);

/* Normalise plain, encrypt it for column and compute its blind index. On success *blob
 * (*blob_n bytes, binary: bind as a blob) and *bidx_hex (SENSITIVE_BIDX_HEX_LEN lower-case
 * hex characters) come from a. Errors: ERR_INVALID when plain is NULL, empty after
 * normalisation or longer than SENSITIVE_PLAIN_MAX, or column is NULL or empty;
 * ERR_BAD_UTF8 when plain is not valid UTF-8; from keyring_encrypt, ERR_CONFIG when the
 * keyring has no active data key and ERR_CRYPTO; ERR_NOMEM. The outputs are untouched on
 * failure. */
enum err sensitive_seal(struct keyring *kr, const char *column, const char *plain, struct arena *a,
                        const void **blob, size_t *blob_n, const char **bidx_hex);

/* Decrypt a blob that sensitive_seal made for the same column; *plain (NUL-terminated) is
 * from a. ERR_INTEGRITY when the blob is damaged, tampered with, sealed for another column
 * or under a data key this keyring does not hold, or holds a NUL byte; ERR_INVALID for a
 * NULL blob or column; ERR_NOMEM. *plain is untouched on failure. */
enum err sensitive_open(struct keyring *kr, const char *column, const void *blob, size_t n,
                        struct arena *a, const char **plain);

/* The blind index of plain in column (normalised first): 64 lower-case hex characters from
 * a, equal to what sensitive_seal stored for an equal value. NULL when plain is NULL,
 * empty after normalisation, not valid UTF-8, or out of memory; binding NULL in
 * `WHERE x_bidx = ?` matches no row, so a NULL needs no special case in a lookup. */
const char *sensitive_bidx(struct keyring *kr, const char *column, const char *plain,
                           struct arena *a);

/* A display form of plain that hides most of it (ASCII white space at the ends ignored):
 *
 *	kind         example                          rule
 *	"phone"      13812345678 → 138****5678        first 3 and last 4 kept
 *	"id_number"  11010519491231002X
 *	             → 1101**********002X             first 4 and last 4 kept
 *	"name"       王小芳 → 王*芳, 王芳 → 王*, 王 → *   first and last character kept
 *	                                              (first only for two; none for one)
 *	"bank"       6222020200112233445 → ****3445   "****" and the last 4
 *
 * Hidden characters become one '*' each (except "bank", whose prefix is always "****"),
 * counted in characters, not bytes. A value too short for its rule (one that would hide
 * nothing; for "bank", fewer than 8 characters) keeps only its last third (rounded down)
 * and hides the rest, so a short input is never shown whole. An
 * unknown kind, and input that is not valid UTF-8, give "****". "" gives "". NULL when
 * plain is NULL or out of memory. */
const char *sensitive_mask(const char *kind, const char *plain, struct arena *a);

/* Is s a well-formed 居民身份证 number (公民身份号码, GB 11643)? 18 characters: the first
 * 1-8, then 16 digits (address code, date of birth YYYYMMDD, sequence), then the ISO 7064
 * MOD 11-2 check character (a digit, or X — 'x' is accepted too; store the normalised
 * form). The date of birth must be a real calendar date from 1900-01-01 to today (China
 * Standard Time). The address code is not looked up. Pass the normalised value: no white
 * space is skipped here. Other documents with the same layout (港澳台居民居住证, address
 * codes 81/82/83) pass as well; the 2023 外国人永久居留身份证 (first digit 9) does not. */
bool sensitive_id_number_valid(const char *s);

/* Is s a mainland China mobile number: exactly 11 ASCII digits, '1' then 3-9? Pass the
 * normalised value. */
bool sensitive_phone_valid(const char *s);

#endif
