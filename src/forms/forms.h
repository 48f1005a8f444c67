/* forms.h: application forms (申请表) as PDF — the one public header of src/forms/.
 *
 * A sub-item whose `application_form` is of kind `generated` (docs/catalog.md "APPFORM") is
 * printed from the form data by one layout (docs/forms.md): A4, the title, department and
 * sub-item code, one bordered table per section (label | value, two pairs per row where
 * they fit), groups as tables with their column headers repeated across pages, the
 * commitments with □ boxes and one signature box per signer of the plan whose `when` holds,
 * page numbers "第 1 页 共 2 页". Text is set with pango in Shouli Sans (Noto Sans CJK SC,
 * desubroutinized at build time by scripts/make-font.sh; the system face when that file is
 * missing) and cairo embeds a subset of it, so pdftotext gives every label and value back.
 *
 * Values are printed as a person reads them: enum codes by their code-table names, booleans
 * 是/否, dates YYYY年MM月DD日, an identity document as its type name and number, an address
 * joined into one line, a bank account masked except its last four digits. Fields that are
 * hidden (their visible_when is false) and sections whose `when` is false are left out;
 * computed fields are computed.
 *
 * A sub-item whose form is of kind `fixed` (制式) is printed by filling its catalog template
 * (catalog/templates/<code>.pdf) at the positions the catalog records: the same value texts
 * on one line at each position (shrunk or wrapped to fit its cell), ✓ in the □ of the chosen
 * option, dates into the template's 年 月 日, signature images in the signature boxes. The
 * template's own pages and text are kept; our text is drawn over them and is extractable.
 *
 * Thread safety: every function may be called from any thread at once (pango keeps one font
 * map per thread; the first form a thread renders pays for loading the fonts). */
#ifndef SHOULI_FORMS_H
#define SHOULI_FORMS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"

struct server;
struct principal;
struct module;
struct catalog_ref;
struct req;
struct resp;

/* GET /api/v1/cases/{no}/application-form.pdf (permission case.read, slow route). */
extern const struct module forms_module;

/* A signature image for the box of one signer role ("applicant", "agent", …): PNG bytes,
 * borrowed for the call. The signing work produces them; before it the boxes stay empty. */
struct forms_signature {
	const char *role;
	const void *png;
	size_t png_n;
};

/* Where one rendering spent its time (for the benchmark): evaluate = the form evaluation
 * (computed fields, visibility) and the text of every value; layout = shaping and placing
 * every text (pango); draw = drawing the pages and writing the PDF (cairo, font subsets). */
struct forms_timing {
	int64_t evaluate_ns, layout_ns, draw_ns;
	int pages;
	size_t bytes;
};

struct forms_opts {
	const char *today;    /* "YYYY-MM-DD" for computed fields and `when`; NULL = today (CST) */
	const char *case_no;  /* printed in the header when set */
	const char *org_name; /* the accepting centre, printed in the header when set */
	const struct forms_signature *signatures; /* may be NULL */
	size_t nsignatures;
	int64_t created_ms;          /* the PDF's CreationDate (ms since the epoch); 0 = now */
	struct forms_timing *timing; /* filled when not NULL */
	/* Fixed forms: the catalog directory their `template` is relative to; NULL = the
	 * catalog/ directory next to the binary's directory (as `serve` finds it). */
	const char *catalog_dir;
};

/* Render the generated application form of sub_item (a checked sub-item document of item,
 * both borrowed) filled with data (the form data as stored on a case: nested objects keyed
 * by the dotted field ids; NULL or anything that is not an object prints an empty form)
 * against the reference data ref (department names, code tables). The PDF is appended to
 * pdf_out (an initialised buf; its cap bounds the size: ERR_TOO_LARGE beyond it). opts may
 * be NULL. Pure: no server, no database, no network.
 * Errors (ei, may be NULL, gets the field and a zh-CN message): ERR_BAD_STATE when the
 * sub-item's form is not of kind `generated` (field "application_form"); ERR_BAD_FIELD for
 * a signature that is not a PNG of at most 4000 × 4000 pixels (field "signatures.<role>");
 * ERR_INVALID when the sub-item has no form or an expression of the layout does not parse
 * (a catalog mistake); ERR_UNAVAILABLE when the binary was built without cairo and pango;
 * ERR_NOMEM, ERR_TOO_LARGE, ERR_INTERNAL (cairo failed). */
enum err forms_render_generated(const struct catalog_ref *ref, const json_t *item,
                                const json_t *sub_item, const json_t *data,
                                const struct forms_opts *opts, struct buf *pdf_out,
                                struct errinfo *ei);

/* Render the fixed (制式) application form of sub_item: its template filled with data, as
 * forms_render_generated does for generated forms (same arguments, same value texts, same
 * signature checks). Pure but for reading the template file. Errors: ERR_BAD_STATE (field
 * "application_form") when the form is not `fixed`, or its template file is missing or not a
 * PDF; ERR_UNAVAILABLE when built without libqpdf; otherwise those of forms_render_generated. */
enum err forms_render_fixed(const struct catalog_ref *ref, const json_t *item,
                            const json_t *sub_item, const json_t *data,
                            const struct forms_opts *opts, struct buf *pdf_out, struct errinfo *ei);

/* forms_render_generated or forms_render_fixed, by the kind of the sub-item's form
 * (ERR_BAD_STATE, field "application_form", for `none`). */
enum err forms_render(const struct catalog_ref *ref, const json_t *item, const json_t *sub_item,
                      const json_t *data, const struct forms_opts *opts, struct buf *pdf_out,
                      struct errinfo *ei);

/* The application form of case case_no as it stands (the case's current form data against
 * the sub-item version it pinned), if who may see the case (who NULL = no scope check, for
 * jobs and benchmarks). opts->case_no is the case's number whatever opts says; the other
 * options are used as given. Either kind of form (forms_render). Reads the database (no
 * write, no network). ERR_NOT_FOUND (also outside who's scope; ei field "no"), ERR_DB…,
 * ERR_INTEGRITY, and the errors of forms_render. a holds scratch memory. */
enum err forms_render_case(struct server *srv, const struct principal *who, struct arena *a,
                           const char *case_no, const struct forms_opts *opts, struct buf *pdf_out,
                           struct errinfo *ei);

/* The answer of a route that rendered a PDF with result e (and ei): a failure becomes the error
 * response (with ei's field and message when it has one); success serves pdf (copied into the
 * request's arena) as application/pdf, inline under the file name fmt…, never cached (an
 * application form holds personal data). Returns what the handler returns. */
enum err forms_http_answer_pdf(struct req *r, struct resp *w, enum err e, const struct errinfo *ei,
                               const struct buf *pdf, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
