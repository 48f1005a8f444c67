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

/* Lay d out and append the PDF to out. t (may be NULL) gets layout_ns, draw_ns, pages and
 * bytes. ERR_BAD_FIELD (ei: "signatures.<role>") for a signature that is not a usable PNG;
 * ERR_UNAVAILABLE without cairo/pango; ERR_NOMEM, ERR_TOO_LARGE, ERR_INTERNAL. */
enum err forms_pdf_write(const struct forms_doc *d, struct buf *out, struct forms_timing *t,
                         struct errinfo *ei);

#endif
