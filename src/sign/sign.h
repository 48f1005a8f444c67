/* sign.h: electronic signatures of the application form (申请表) and the centre's seal —
 * the one public header of src/sign/ (docs/sign.md).
 *
 * A case's form is signed in rounds. Starting a round renders the unsigned PDF
 * (forms_render_case) and binds it to the case's materials (slot application_form); each
 * signer of the sub-item's signature plan whose `when` holds then signs in plan order,
 * ticking every commitment (承诺确认) and drawing on a pad (PNG + strokes); each sees what
 * the earlier ones signed (一表多签). After the last signature the PDF is rendered again
 * with every signature and sealed: the centre's SM2 key signs
 *
 *	SM3( "SHOULI-SEAL-1\n" ‖ len64(pdf) ‖ pdf ‖ len64(records) ‖ records ‖ be64(sealed_at) )
 *
 * where records is the canonical JSON of the case number, round, form SM3 and the signature
 * records (sign_records_json) and len64/be64 are 8-byte big-endian numbers. Verification
 * reads the sealed PDF back from the file store (which checks its own SM3), recomputes the
 * digest from the stored records and checks the signature with the public key recorded for
 * the key id.
 *
 * The seal functions below are pure (no server, no database): the unit tests and the
 * benchmark call them. Threads: all functions may be called from any thread. */
#ifndef SHOULI_SIGN_H
#define SHOULI_SIGN_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"

struct module;
struct crypto_sm2_key;

/* Routes under /api/v1/cases/{no}/signing and /api/v1/cases/{no}/signature, and the
 * hooks into cases (form guard, acceptance gate, the application_form material slot). */
extern const struct module sign_module;

/* Limits of one signature. */
#define SIGN_PNG_MAX        (512 * 1024) /* bytes of the PNG */
#define SIGN_PNG_SIDE_MAX   4000         /* pixels, width and height */
#define SIGN_STROKES_MAX    500          /* strokes of one signature */
#define SIGN_POINTS_MAX     10000        /* points of one signature, all strokes */
#define SIGN_COORD_MAX      100000.0     /* x and y in [0, SIGN_COORD_MAX] */
#define SIGN_T_MAX          3600000      /* t_ms of a point in [0, one hour] */
#define SIGN_KEY_ID_HEX_LEN 32

/* One signature as the seal covers it. Strings are borrowed; signer_name NULL = "". */
struct sign_record {
	int seq; /* 1, 2, … in plan order */
	const char *role, *label, *signer_name;
	const char *png_sm3, *strokes_sm3; /* 64 lower-case hex */
	const json_t *commitments;         /* [{"id","text","ticked_at"}] as stored */
	int64_t signed_at;                 /* ms since the epoch */
	const char *device;                /* "window" | "kiosk" | "pad" */
};

/* What a seal is made over, besides the PDF bytes. */
struct sign_sealed {
	const char *case_no;
	int round;
	const char *form_sm3;
	const struct sign_record *recs;
	size_t nrecs;
	int64_t sealed_at; /* ms since the epoch: the seal's timestamp */
};

/* The canonical JSON of s (without sealed_at): {"case_no","form_sm3","round","signatures":
 * [{"commitments":[{"id","text","ticked_at"}],"device","label","png_sm3","role","seq",
 * "signed_at","signer_name","strokes_sm3"}]}, compact, keys sorted, UTF-8 as is; appended
 * to out. The same records always give the same bytes. ERR_NOMEM, ERR_TOO_LARGE. */
enum err sign_records_json(const struct sign_sealed *s, struct buf *out);

/* The seal digest of s and the PDF (see the file comment). ERR_NOMEM, ERR_TOO_LARGE. */
enum err sign_seal_digest(const struct sign_sealed *s, const void *pdf, size_t pdf_n,
                          unsigned char out[32]);

/* The SM2 signature of digest (default id) by k, base64 of the DER, appended to sig_b64. */
enum err sign_seal_sign(const struct crypto_sm2_key *k, const unsigned char digest[32],
                        struct buf *sig_b64);
/* ERR_OK when sig_b64 is k's signature of digest; ERR_INTEGRITY when it is not (or is not
 * base64). */
enum err sign_seal_verify(const struct crypto_sm2_key *k, const unsigned char digest[32],
                          const char *sig_b64);

/* The key id of a public point: hex of the first 16 bytes of SM3(pub), NUL-terminated. */
void sign_key_id(const unsigned char pub[65], char out[SIGN_KEY_ID_HEX_LEN + 1]);

/* Is p[0..n) a PNG whose IHDR says 1..SIGN_PNG_SIDE_MAX pixels each way? *w, *h (may be
 * NULL) get the size. Reads the header only. */
bool sign_png_ok(const void *p, size_t n, int *w, int *h);

/* Check the strokes of a signature: an array of at most SIGN_STROKES_MAX strokes, each an
 * array of points [x, y, t_ms] (numbers; x, y in [0, SIGN_COORD_MAX], t_ms a whole number
 * in [0, SIGN_T_MAX]), at most SIGN_POINTS_MAX points in all. ERR_BAD_FIELD with *why
 * (static zh-CN) for a malformed value; ERR_INVALID when there is no point at all (an empty
 * signature). *points (may be NULL) gets the number of points. */
enum err sign_strokes_check(const json_t *strokes, size_t *points, const char **why);

#endif
