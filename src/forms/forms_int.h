/* forms_int.h: what the parts of src/forms/ share (other modules use forms.h).
 *
 * forms.c turns a sub-item and its form data into a document of plain strings (struct
 * forms_doc: every value already printed as a person reads it); forms_pdf.c lays that
 * document out on A4 pages and writes the PDF with pango and cairo; forms_http.c is the
 * route. docs/forms.md is the design. */
#ifndef SHOULI_FORMS_INT_H
#define SHOULI_FORMS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cairo.h>
#include <pango/pangocairo.h>

#include "core/buf.h"
#include "core/err.h"
#include "forms/forms.h"

enum forms_item_kind { FORMS_FIELD, FORMS_GROUP };

/* One entry of a section: a field (label, value) or a group (a table with a header row). */
struct forms_item {
	enum forms_item_kind kind;
	const char *label;
	const char *value; /* FORMS_FIELD: "" when not filled in */
	bool wide;         /* FORMS_FIELD: always on a row of its own (textarea, address) */
	/* FORMS_GROUP: ncols column labels, nrows × ncols cells (row-major) */
	size_t ncols, nrows;
	const char **cols;
	const char **cells;
};

struct forms_section {
	const char *title;
	struct forms_item *items;
	size_t nitems;
};

struct forms_signer {
	const char *role, *label;
	const void *png; /* borrowed from the caller's forms_opts; NULL = an empty box */
	size_t png_n;
};

/* The document to print. All memory belongs to the arena it was built in. */
struct forms_doc {
	const char *title, *sub_item_name, *department, *code, *case_no, *org_name;
	struct forms_section *sections;
	size_t nsections;
	const char **commitments;
	size_t ncommitments;
	struct forms_signer *signers;
	size_t nsigners;
	int64_t created_ms;
};

/* ---- fixed (制式) forms ---- */

enum forms_place_kind {
	FORMS_PLACE_TEXT, /* the text on one line from x, baseline y (shrunk or wrapped to fit) */
	FORMS_PLACE_DATE, /* "YYYY年MM月DD日": only the numbers, where the template prints 年月日 */
	FORMS_PLACE_TICK, /* a ✓ centred in the box x, y, w, h */
	FORMS_PLACE_IMAGE /* a signature PNG scaled into the box x, y, w, h */
};

/* One thing drawn on a template page. Coordinates are the catalog's (docs/catalog.md
 * "APPFORM"): PDF points from the bottom-left corner of the page. */
struct forms_place {
	enum forms_place_kind kind;
	int page;                /* from 1 */
	double x, y, w, h, size; /* w, h 0 = not given */
	const char *text;        /* TEXT, DATE */
	const char *role;        /* IMAGE: the signer, for the error field */
	const void *png;         /* IMAGE: borrowed from the caller's forms_opts */
	size_t png_n;
};

struct forms_fixed_doc {
	const char *template_path; /* the template PDF on disk */
	const char *title, *case_no;
	struct forms_place *places;
	size_t nplaces;
	int pages; /* the last page anything is drawn on (≥ 1) */
};

/* Draw d's places on an overlay PDF (cairo + pango) and lay it over the template's pages
 * (libqpdf), appending the result to out; the template's objects are kept, its dates too
 * (the overlay adds no Info dictionary). t (may be NULL)
 * gets layout_ns (the overlay), draw_ns (the merge), pages and bytes. ERR_BAD_FIELD (ei:
 * "signatures") for a signature that is not a usable PNG; ERR_BAD_STATE (ei:
 * "application_form") when the template cannot be read as a PDF; ERR_UNAVAILABLE without
 * libqpdf or the CJK face; ERR_NOMEM, ERR_TOO_LARGE, ERR_INTERNAL. */
enum err forms_fixed_write(const struct forms_fixed_doc *d, struct buf *out, struct forms_timing *t,
                           struct errinfo *ei);

/* ---- shared by the two renderers (forms_pdf.c) ---- */

/* The family every form is printed in: "Shouli Sans" (the desubroutinized face made by
 * scripts/make-font.sh, loaded into fontconfig on the first call) or, when that file is
 * missing, "Noto Sans CJK SC" (a warning is logged once). Thread-safe. */
const char *forms_font_family(void);

/* Has pango, in context ctx, really got the form face for f (not a fallback that would print
 * boxes)? Asked once per thread. */
bool forms_font_present(PangoContext *ctx, const PangoFontDescription *f);

/* The decoded image of a signature, or NULL when it is not a PNG of at most 4000 × 4000
 * pixels (the size is read from the header before anything is decoded). */
cairo_surface_t *forms_png_decode(const void *png, size_t n);

/* Where cairo writes a PDF (cairo_pdf_surface_create_for_stream(forms_sink_write, &sink, …)):
 * appended to out; e keeps the failure that stopped the stream (ERR_NOMEM, or ERR_TOO_LARGE
 * past out's cap), since cairo only reports a write error. */
struct forms_sink {
	struct buf *out;
	enum err e;
};
cairo_status_t forms_sink_write(void *closure, const unsigned char *data, unsigned int length);

/* Lay d out and append the PDF to out. t (may be NULL) gets layout_ns, draw_ns, pages and
 * bytes. ERR_BAD_FIELD (ei: "signatures.<role>") for a signature that is not a usable PNG;
 * ERR_UNAVAILABLE without cairo/pango; ERR_NOMEM, ERR_TOO_LARGE, ERR_INTERNAL. */
enum err forms_pdf_write(const struct forms_doc *d, struct buf *out, struct forms_timing *t,
                         struct errinfo *ei);

#endif
