/* sign_int.h: what the parts of src/sign/ share (other modules use sign.h).
 *
 * sign.c: the plan, the rounds and the writes (start, signature + seal, void); sign_view.c:
 * the reads (the signing view, the PDF so far, verification) and the hooks into cases;
 * sign_seal.c: the pure seal; sign_http.c: the routes. docs/sign.md is the design. */
#ifndef SHOULI_SIGN_INT_H
#define SHOULI_SIGN_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "cases/cases_int.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "forms/forms.h"
#include "sign/sign.h"

struct server;
struct db_conn;
struct principal;

#define SIGN_SLOT     "application_form" /* the material slot of the form */
#define SIGN_PDF_MAX  (16u << 20)
#define SIGN_DB_WAIT  5000
#define SIGN_FILE_CAP (64u << 20) /* arena room to read a PDF back */

/* A signer of the plan whose `when` holds on the case's form (borrowed from the catalog). */
struct sign_signer {
	const char *role, *label;
};

/* The signature plan as it applies to a case now. */
struct sign_plan {
	const char *kind; /* application_form.kind: "generated", "fixed", "none" (never NULL) */
	bool multi_sign;
	const json_t *commitments; /* [{"id","text"}] of the plan (borrowed), never NULL */
	struct sign_signer *signers;
	size_t nsigners;
};

/* A round as stored (strings from the arena). */
struct sign_round {
	int64_t id;
	int no;
	const char *state, *form_sm3;
	int64_t base_file_id, final_file_id, pdf_created_ms, sealed_at, voided_at, created_at;
	const char *digest, *signature, *key_id, *voided_reason;
};

/* A stored signature (strings from the arena; name decrypted). */
struct sign_sig {
	int seq;
	const char *role, *label, *name, *png_sm3, *strokes_sm3, *device, *captured_by;
	const void *strokes_enc;
	size_t strokes_enc_n;
	int64_t png_file_id, signed_at;
	json_t *commitments; /* owned by the arena */
};

/* Everything a request needs: the case, its pinned sub-item, the plan, the latest round
 * (the live one, else the last voided) and its signatures. */
struct sign_ctx {
	struct case_row row;
	struct case_catalog cc;
	struct sign_plan plan;
	bool has_round;
	struct sign_round rd;
	struct sign_sig *sigs;
	size_t nsigs;
	char form_sm3[65]; /* of the case's form now */
	const char *org_code;
};

/* Load x for case_no on c (404 outside who's scope: ei field "no"). Release with
 * sign_ctx_release (also after a failure). */
enum err sign_ctx_load(struct server *srv, struct db_conn *c, struct arena *a,
                       const struct principal *who, const char *case_no, struct sign_ctx *x,
                       struct errinfo *ei);
void sign_ctx_release(struct sign_ctx *x);

/* The plan of cc as it applies to row's form today. */
enum err sign_plan_of(const struct case_catalog *cc, const struct case_row *row, struct arena *a,
                      struct sign_plan *out);
/* SM3 hex of the canonical JSON of form (compact, keys sorted). */
enum err sign_form_sm3(const json_t *form, char out[65]);
/* The latest round of case_id (live first, else the last voided); *found false when none. */
enum err sign_round_latest(struct db_conn *c, struct arena *a, int64_t case_id,
                           struct sign_round *out, bool *found);
/* The signatures of round_id in order, names decrypted. */
enum err sign_sigs_load(struct server *srv, struct db_conn *c, struct arena *a, int64_t round_id,
                        struct sign_sig **out, size_t *n);
/* Decrypt a blob of the key ring context into a NUL-terminated string from a. */
enum err sign_open_text(struct server *srv, struct arena *a, const char *context, const void *blob,
                        size_t n, const char **out);
/* The records the seal covers, built from x's signatures. */
void sign_records_of(const struct sign_ctx *x, struct sign_record *recs);

/* The case is in draft or correction, else ERR_BAD_STATE naming the state. */
enum err sign_state_ok(struct arena *a, const struct case_row *row, struct errinfo *ei);

/* Render the form with the signatures of x drawn in (PNGs read from the file store), its
 * CreationDate the round's; extra (may be NULL) is one more signature. Takes no connection
 * of its own beyond forms_render_case's. */
enum err sign_render(struct server *srv, const struct principal *who, struct arena *a,
                     const struct sign_ctx *x, const struct forms_signature *extra, struct buf *pdf,
                     struct errinfo *ei);

/* Who acts (for the audit trail). */
struct sign_caller {
	const struct principal *who;
	const char *client_ip, *trace_id;
};

/* The input of one signature (POST …/signing/signatures), checked by the route's schema. */
struct sign_input {
	const char *role, *png_b64, *signer_name, *device;
	const json_t *strokes, *commitments;
};

enum err sign_start(struct server *srv, const struct sign_caller *by, struct arena *a,
                    const char *case_no, json_t **out, struct errinfo *ei);
enum err sign_add(struct server *srv, const struct sign_caller *by, struct arena *a,
                  const char *case_no, const struct sign_input *in, json_t **out,
                  struct errinfo *ei);
enum err sign_void(struct server *srv, const struct sign_caller *by, struct arena *a,
                   const char *case_no, const char *reason, json_t **out, struct errinfo *ei);
/* GET …/signing: the view (docs/sign.md). */
enum err sign_view(struct server *srv, const struct principal *who, struct arena *a,
                   const char *case_no, json_t **out, struct errinfo *ei);
/* GET …/signing/form.pdf into pdf. */
enum err sign_pdf(struct server *srv, const struct principal *who, struct arena *a,
                  const char *case_no, struct buf *pdf, struct errinfo *ei);
/* GET …/signature: the verification (404 when nothing is sealed). */
enum err sign_verify(struct server *srv, const struct principal *who, struct arena *a,
                     const char *case_no, json_t **out, struct errinfo *ei);

/* Register the hooks into cases (form guard, acceptance gate, the application_form slot). */
enum err sign_hooks_register(struct server *srv);

#endif
