/* forms_pdf.c: lays a struct forms_doc out on A4 pages and writes the PDF (pango + cairo).
 *
 * Two passes: the layout pass shapes every text once (pango) and records what goes where
 * as a display list of operations, page by page; only then is the page count known, and
 * the draw pass replays the list onto a cairo PDF surface, adding "第 p 页 共 n 页" to each
 * page. Each text is one PangoLayout drawn whole, so the content stream holds every label
 * and value in reading order and pdftotext gives them back. docs/forms.md has the rules.
 *
 * Units are PDF points (the pango context is set to 72 dpi, so a font size is in points);
 * y grows downwards from the top of the page, as cairo's does. */
#include "forms/forms_int.h"

#include <fontconfig/fontconfig.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"

#include <cairo-pdf.h>

#define PAGE_W       595.276
#define PAGE_H       841.89
#define MARGIN_X     48.0
#define CONTENT_W    (PAGE_W - 2 * MARGIN_X)
#define TOP          48.0            /* where the content starts */
#define BOTTOM       (PAGE_H - 54.0) /* where it must end */
#define RUNNING_Y    26.0            /* the running header of pages after the first */
#define FOOTER_Y     (PAGE_H - 38.0)
#define PAD_X        4.0
#define PAD_Y        3.5
#define LABEL_W      86.0  /* label column */
#define INDEX_W      28.0  /* 序号 column of a group table */
#define SIGN_H       58.0  /* a signature row */
#define DATE_W       150.0 /* 日期 cell of a signature row */
#define LINE_W       0.6
#define MAX_PNG_SIDE 4000

#define FONT_BODY    9.5 /* sizes in points */
#define FONT_LABEL   9.0
#define FONT_CAPTION 10.5
#define FONT_TITLE   17.0
#define FONT_META    8.5
#define FAMILY_OWN   "Shouli Sans" /* scripts/make-font.sh */
#define FAMILY_NOTO  "Noto Sans CJK SC"
#define FONT_FILE    "ShouliSans-Regular.otf"

enum op_kind { OP_TEXT, OP_FILL, OP_STROKE, OP_IMAGE };

struct op {
	enum op_kind kind;
	int page; /* from 1 */
	double x, y, w, h;
	double gray;          /* OP_FILL */
	PangoLayout *layout;  /* OP_TEXT: a reference of the op */
	cairo_surface_t *img; /* OP_IMAGE: a reference of the op */
};

struct lay {
	PangoContext *ctx;
	PangoFontDescription *body, *label, *caption, *title, *meta;
	struct op *ops;
	size_t n, alloc;
	bool oom;
	int page;
	double y;
	const struct forms_doc *d;
	const char *section; /* caption repeated with （续） when a section goes on a new page */
};

static double points(int pango_units)
{
	return (double)pango_units / PANGO_SCALE;
}

/* A layout of s in font f; width > 0 wraps it at that width (characters where a word does
 * not fit, never a hyphen added: the text must come back as it was). */
static PangoLayout *text(struct lay *L, const PangoFontDescription *f, const char *s, double width,
                         PangoAlignment align)
{
	PangoLayout *l = pango_layout_new(L->ctx);
	PangoAttrList *attrs = pango_attr_list_new();
	pango_attr_list_insert(attrs, pango_attr_insert_hyphens_new(FALSE));
	pango_layout_set_attributes(l, attrs);
	pango_attr_list_unref(attrs);
	pango_layout_set_font_description(l, f);
	pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
	pango_layout_set_alignment(l, align);
	if (width > 0)
		pango_layout_set_width(l, (int)(width * PANGO_SCALE));
	pango_layout_set_text(l, s ? s : "", -1);
	return l;
}

static double height_of(PangoLayout *l)
{
	int w, h;
	pango_layout_get_size(l, &w, &h);
	return points(h);
}

static double width_of(PangoLayout *l)
{
	int w, h;
	pango_layout_get_size(l, &w, &h);
	return points(w);
}

static struct op *push(struct lay *L, enum op_kind kind, double x, double y, double w, double h)
{
	if (L->n == L->alloc) {
		size_t na = L->alloc ? L->alloc * 2 : 256;
		struct op *nv = realloc(L->ops, na * sizeof(*nv));
		if (!nv) {
			L->oom = true;
			return NULL;
		}
		L->ops = nv;
		L->alloc = na;
	}
	struct op *o = &L->ops[L->n++];
	*o = (struct op){.kind = kind, .page = L->page, .x = x, .y = y, .w = w, .h = h};
	return o;
}

/* Draw layout l (a reference is taken) with its top-left corner at x, y. */
static void put_text(struct lay *L, PangoLayout *l, double x, double y)
{
	struct op *o = push(L, OP_TEXT, x, y, 0, 0);
	if (o)
		o->layout = g_object_ref(l);
}

static void put_box(struct lay *L, double x, double y, double w, double h, double fill)
{
	struct op *o;
	if (fill > 0 && (o = push(L, OP_FILL, x, y, w, h)))
		o->gray = fill;
	push(L, OP_STROKE, x, y, w, h);
}

static void running_header(struct lay *L)
{
	PangoLayout *l = text(L, L->meta, L->d->title, CONTENT_W / 2, PANGO_ALIGN_LEFT);
	put_text(L, l, MARGIN_X, RUNNING_Y);
	g_object_unref(l);
	if (L->d->case_no) {
		char s[200];
		snprintf(s, sizeof(s), "办件编号：%s", L->d->case_no);
		l = text(L, L->meta, s, CONTENT_W / 2, PANGO_ALIGN_RIGHT);
		put_text(L, l, MARGIN_X + CONTENT_W / 2, RUNNING_Y);
		g_object_unref(l);
	}
}

static void new_page(struct lay *L)
{
	L->page++;
	L->y = TOP;
	if (L->page > 1)
		running_header(L);
}

static double caption_h(struct lay *L, PangoLayout **out, const char *title, bool cont)
{
	char s[600];
	snprintf(s, sizeof(s), "%s%s", title ? title : "", cont ? "（续）" : "");
	*out = text(L, L->caption, s, CONTENT_W - 2 * PAD_X, PANGO_ALIGN_LEFT);
	return height_of(*out) + 2 * PAD_Y;
}

static void put_caption(struct lay *L, PangoLayout *l, double h)
{
	put_box(L, MARGIN_X, L->y, CONTENT_W, h, 0.88);
	put_text(L, l, MARGIN_X + PAD_X, L->y + PAD_Y);
	L->y += h;
}

/* Go on with the current section on a new page: its caption again, marked （续）. */
static void continue_section(struct lay *L)
{
	PangoLayout *cap;
	new_page(L);
	if (!L->section)
		return;
	double h = caption_h(L, &cap, L->section, true);
	put_caption(L, cap, h);
	g_object_unref(cap);
}

/* ---- fields ---- */

/* A row of a section table: two label | value pairs, or one pair across the width. */
struct row {
	PangoLayout *l1, *v1, *l2, *v2;
	double h;
};

static void row_release(struct row *r)
{
	PangoLayout *all[] = {r->l1, r->v1, r->l2, r->v2};
	for (size_t i = 0; i < 4; i++)
		if (all[i])
			g_object_unref(all[i]);
}

static double half_value_w(void)
{
	return CONTENT_W / 2 - LABEL_W;
}

/* Can it share a row? One line of value in half the width, a label of at most two lines. */
static bool fits_half(struct lay *L, const struct forms_item *it)
{
	if (it->kind != FORMS_FIELD || it->wide || strchr(it->value, '\n'))
		return false;
	PangoLayout *v = text(L, L->body, it->value, -1, PANGO_ALIGN_LEFT);
	PangoLayout *l = text(L, L->label, it->label, LABEL_W - 2 * PAD_X, PANGO_ALIGN_LEFT);
	bool ok = width_of(v) <= half_value_w() - 2 * PAD_X && pango_layout_get_line_count(l) <= 2;
	g_object_unref(v);
	g_object_unref(l);
	return ok;
}

static void put_pair(struct lay *L, double x, double vw, PangoLayout *l, PangoLayout *v, double h)
{
	put_box(L, x, L->y, LABEL_W, h, 0.96);
	if (l)
		put_text(L, l, x + PAD_X, L->y + PAD_Y);
	put_box(L, x + LABEL_W, L->y, vw, h, 0);
	if (v)
		put_text(L, v, x + LABEL_W + PAD_X, L->y + PAD_Y);
}

static void put_row(struct lay *L, const struct row *r)
{
	if (r->l2) {
		put_pair(L, MARGIN_X, half_value_w(), r->l1, r->v1, r->h);
		put_pair(L, MARGIN_X + CONTENT_W / 2, half_value_w(), r->l2, r->v2, r->h);
	} else if (r->l1) {
		put_pair(L, MARGIN_X, CONTENT_W - LABEL_W, r->l1, r->v1, r->h);
	} else {
		put_box(L, MARGIN_X, L->y, CONTENT_W, r->h, 0);
		put_text(L, r->v1, MARGIN_X + PAD_X, L->y + PAD_Y);
	}
	L->y += r->h;
}

/* The byte offset where the lines of l that fit in avail points end (0 = not one). */
static int lines_fitting(PangoLayout *l, double avail)
{
	PangoLayoutIter *it = pango_layout_get_iter(l);
	int end = 0;
	do {
		PangoRectangle ink, logical;
		pango_layout_iter_get_line_extents(it, &ink, &logical);
		if (points(logical.y + logical.height) > avail)
			break;
		PangoLayoutLine *line = pango_layout_iter_get_line_readonly(it);
		end = line->start_index + line->length;
	} while (pango_layout_iter_next_line(it));
	pango_layout_iter_free(it);
	return end;
}

/* A row of one pair across the width (label may be NULL: a text across the table). A value
 * taller than what is left of the page is split by lines; the rest goes on the next pages. */
static void put_wide(struct lay *L, const char *label, const char *value)
{
	double vx = label ? LABEL_W : 0;
	double vw = CONTENT_W - vx - 2 * PAD_X;
	char *rest = strdup(value ? value : "");
	bool first = true, fresh = false;
	if (!rest) {
		L->oom = true;
		return;
	}
	while (!L->oom) {
		struct row r = {0};
		r.l1 = label ? text(L, L->label, first ? label : "", LABEL_W - 2 * PAD_X,
		                    PANGO_ALIGN_LEFT)
		             : NULL;
		r.v1 = text(L, L->body, rest, vw, PANGO_ALIGN_LEFT);
		double lh = (r.l1 ? height_of(r.l1) : 0) + 2 * PAD_Y;
		r.h = height_of(r.v1) + 2 * PAD_Y;
		r.h = r.h > lh ? r.h : lh;
		double avail = BOTTOM - L->y;
		/* a row that fits a fresh page moves there whole; a taller one is cut after the
		 * last line that fits (a page break first when not one does) */
		int end = r.h <= avail || (r.h <= BOTTOM - TOP - 40.0 && !fresh)
		              ? 0
		              : lines_fitting(r.v1, avail - 2 * PAD_Y);
		if (r.h <= avail || (fresh && end <= 0) || end >= (int)strlen(rest)) {
			put_row(L, &r); /* fits, or cannot do better than overrun this page */
			row_release(&r);
			break;
		}
		if (end <= 0 || avail < lh) {
			row_release(&r);
			continue_section(L);
			fresh = true;
			continue;
		}
		char *head = strndup(rest, (size_t)end);
		if (!head) {
			row_release(&r);
			L->oom = true;
			break;
		}
		g_object_unref(r.v1);
		r.v1 = text(L, L->body, head, vw, PANGO_ALIGN_LEFT);
		free(head);
		r.h = height_of(r.v1) + 2 * PAD_Y;
		r.h = r.h > lh ? r.h : lh;
		put_row(L, &r);
		row_release(&r);
		memmove(rest, rest + end, strlen(rest + end) + 1);
		first = false;
		continue_section(L);
		fresh = true;
	}
	free(rest);
}

/* ---- groups ---- */

/* Column widths of a group table: each column's natural width where they all fit, shrunk in
 * proportion (and wrapped) where they do not. */
static void group_widths(struct lay *L, const struct forms_item *it, double *w)
{
	double avail = CONTENT_W - INDEX_W, sum = 0;
	for (size_t c = 0; c < it->ncols; c++) {
		PangoLayout *l = text(L, L->label, it->cols[c], -1, PANGO_ALIGN_LEFT);
		double nat = width_of(l);
		g_object_unref(l);
		for (size_t r = 0; r < it->nrows; r++) {
			l = text(L, L->body, it->cells[r * it->ncols + c], -1, PANGO_ALIGN_LEFT);
			double cw = width_of(l);
			g_object_unref(l);
			nat = cw > nat ? cw : nat;
		}
		nat += 2 * PAD_X;
		w[c] = nat < 40 ? 40 : nat > avail * 0.5 ? avail * 0.5 : nat;
		sum += w[c];
	}
	for (size_t c = 0; c < it->ncols && sum > 0; c++)
		w[c] = w[c] * avail / sum;
}

static double put_cells(struct lay *L, PangoLayout **cells, size_t n, const double *w, double fill,
                        bool draw)
{
	double h = 0;
	for (size_t i = 0; i < n; i++) {
		double ch = height_of(cells[i]) + 2 * PAD_Y;
		h = ch > h ? ch : h;
	}
	if (!draw)
		return h;
	double x = MARGIN_X;
	for (size_t i = 0; i < n; i++) {
		put_box(L, x, L->y, w[i], h, fill);
		put_text(L, cells[i], x + PAD_X, L->y + PAD_Y);
		x += w[i];
	}
	L->y += h;
	return h;
}

static void put_group(struct lay *L, const struct forms_item *it)
{
	size_t n = it->ncols + 1;
	double *w = calloc(n, sizeof(*w));
	PangoLayout **hdr = calloc(n, sizeof(*hdr));
	PangoLayout **cells = calloc(n, sizeof(*cells));
	PangoLayout *cap = NULL, *cap2 = NULL;
	char s[600];
	if (!w || !hdr || !cells) {
		L->oom = true;
		goto out;
	}
	w[0] = INDEX_W;
	group_widths(L, it, w + 1);
	hdr[0] = text(L, L->label, "序号", w[0] - 2 * PAD_X, PANGO_ALIGN_CENTER);
	for (size_t c = 0; c < it->ncols; c++)
		hdr[c + 1] = text(L, L->label, it->cols[c], w[c + 1] - 2 * PAD_X, PANGO_ALIGN_LEFT);
	cap = text(L, L->label, it->label, CONTENT_W - 2 * PAD_X, PANGO_ALIGN_LEFT);
	snprintf(s, sizeof(s), "%s（续）", it->label ? it->label : "");
	cap2 = text(L, L->label, s, CONTENT_W - 2 * PAD_X, PANGO_ALIGN_LEFT);
	double cap_h = height_of(cap) + 2 * PAD_Y;
	double hdr_h = put_cells(L, hdr, n, w, 0.93, false);
	size_t rows = it->nrows ? it->nrows : 1;
	bool heading = true, cont = false;
	for (size_t r = 0; r < rows && !L->oom; r++) {
		if (it->nrows) {
			snprintf(s, sizeof(s), "%zu", r + 1);
			cells[0] = text(L, L->body, s, w[0] - 2 * PAD_X, PANGO_ALIGN_CENTER);
			for (size_t c = 0; c < it->ncols; c++)
				cells[c + 1] = text(L, L->body, it->cells[r * it->ncols + c],
				                    w[c + 1] - 2 * PAD_X, PANGO_ALIGN_LEFT);
		}
		double rh =
		    it->nrows ? put_cells(L, cells, n, w, 0, false) : height_of(cap) + 2 * PAD_Y;
		if (L->y + (heading ? cap_h + hdr_h : 0) + rh > BOTTOM) {
			continue_section(L);
			heading = true;
			cont = r > 0;
		}
		if (heading) {
			put_box(L, MARGIN_X, L->y, CONTENT_W, cap_h, 0.96);
			put_text(L, cont ? cap2 : cap, MARGIN_X + PAD_X, L->y + PAD_Y);
			L->y += cap_h;
			put_cells(L, hdr, n, w, 0.93, true);
			heading = false;
		}
		if (it->nrows) {
			put_cells(L, cells, n, w, 0, true);
			for (size_t c = 0; c < n; c++)
				g_object_unref(cells[c]);
		} else {
			PangoLayout *none =
			    text(L, L->body, "（无）", CONTENT_W - 2 * PAD_X, PANGO_ALIGN_CENTER);
			put_box(L, MARGIN_X, L->y, CONTENT_W, rh, 0);
			put_text(L, none, MARGIN_X + PAD_X, L->y + PAD_Y);
			g_object_unref(none);
			L->y += rh;
		}
	}
out:
	for (size_t c = 0; hdr && c < n; c++)
		if (hdr[c])
			g_object_unref(hdr[c]);
	if (cap)
		g_object_unref(cap);
	if (cap2)
		g_object_unref(cap2);
	free(w);
	free(hdr);
	free(cells);
}

/* ---- sections ---- */

/* The caption of a new section, kept on one page with at least first_h of its content. */
static void begin_section(struct lay *L, const char *title, double first_h)
{
	PangoLayout *cap;
	L->section = title;
	L->y += 6; /* a little air between tables */
	double h = caption_h(L, &cap, title, false);
	if (L->y + h + first_h > BOTTOM)
		new_page(L);
	put_caption(L, cap, h);
	g_object_unref(cap);
}

static struct row field_row(struct lay *L, const struct forms_item *a, const struct forms_item *b)
{
	struct row r = {0};
	double vw = b ? half_value_w() : CONTENT_W - LABEL_W;
	r.l1 = text(L, L->label, a->label, LABEL_W - 2 * PAD_X, PANGO_ALIGN_LEFT);
	r.v1 = text(L, L->body, a->value, vw - 2 * PAD_X, PANGO_ALIGN_LEFT);
	if (b) {
		r.l2 = text(L, L->label, b->label, LABEL_W - 2 * PAD_X, PANGO_ALIGN_LEFT);
		r.v2 = text(L, L->body, b->value, vw - 2 * PAD_X, PANGO_ALIGN_LEFT);
	}
	PangoLayout *all[] = {r.l1, r.v1, r.l2, r.v2};
	for (size_t i = 0; i < 4; i++)
		if (all[i] && height_of(all[i]) + 2 * PAD_Y > r.h)
			r.h = height_of(all[i]) + 2 * PAD_Y;
	return r;
}

static void put_section(struct lay *L, const struct forms_section *sec)
{
	bool begun = false;
	for (size_t i = 0; i < sec->nitems && !L->oom; i++) {
		const struct forms_item *it = &sec->items[i];
		if (it->kind == FORMS_GROUP) {
			if (!begun)
				begin_section(L, sec->title, 60);
			begun = true;
			put_group(L, it);
			continue;
		}
		const struct forms_item *next = i + 1 < sec->nitems ? &sec->items[i + 1] : NULL;
		bool pair = next && fits_half(L, it) && fits_half(L, next);
		struct row r = field_row(L, it, pair ? next : NULL);
		if (!begun)
			begin_section(L, sec->title, r.h < 60 ? r.h : 60);
		begun = true;
		if (!pair && r.h > BOTTOM - L->y) {
			row_release(&r);
			put_wide(L, it->label, it->value);
			continue;
		}
		if (r.h > BOTTOM - L->y)
			continue_section(L);
		put_row(L, &r);
		row_release(&r);
		i += pair;
	}
}

static void put_commitments(struct lay *L)
{
	const struct forms_doc *d = L->d;
	if (!d->ncommitments)
		return;
	begin_section(L, "承诺事项", 30);
	for (size_t i = 0; i < d->ncommitments && !L->oom; i++) {
		char *s = g_strdup_printf("□ %s", d->commitments[i]);
		put_wide(L, NULL, s);
		g_free(s);
	}
}

/* ---- signatures ---- */

struct png_reader {
	const unsigned char *p;
	size_t n, at;
};

static cairo_status_t png_read(void *closure, unsigned char *data, unsigned int length)
{
	struct png_reader *r = closure;
	if (r->n - r->at < length)
		return CAIRO_STATUS_READ_ERROR;
	memcpy(data, r->p + r->at, length);
	r->at += length;
	return CAIRO_STATUS_SUCCESS;
}

cairo_surface_t *forms_png_decode(const void *png, size_t n)
{
	static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	const unsigned char *p = png;
	if (!p || n < 33 || memcmp(p, sig, 8) || memcmp(p + 12, "IHDR", 4))
		return NULL;
	uint32_t w = (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 | (uint32_t)p[18] << 8 | p[19];
	uint32_t h = (uint32_t)p[20] << 24 | (uint32_t)p[21] << 16 | (uint32_t)p[22] << 8 | p[23];
	if (!w || !h || w > MAX_PNG_SIDE || h > MAX_PNG_SIDE)
		return NULL;
	struct png_reader r = {p, n, 0};
	cairo_surface_t *s = cairo_image_surface_create_from_png_stream(png_read, &r);
	if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(s);
		return NULL;
	}
	return s;
}

static enum err put_signers(struct lay *L, struct errinfo *ei)
{
	const struct forms_doc *d = L->d;
	if (!d->nsigners)
		return ERR_OK;
	begin_section(L, "签名确认", SIGN_H);
	double box_w = CONTENT_W - LABEL_W - DATE_W;
	for (size_t i = 0; i < d->nsigners; i++) {
		const struct forms_signer *g = &d->signers[i];
		cairo_surface_t *img = NULL;
		if (g->png && !(img = forms_png_decode(g->png, g->png_n))) {
			if (ei) {
				ei->code = ERR_BAD_FIELD;
				ei->field = "signatures";
				ei->msg = "签名图片应为 PNG 图片，且不超过 4000 × 4000 像素";
			}
			return ERR_BAD_FIELD;
		}
		if (L->y + SIGN_H > BOTTOM)
			continue_section(L);
		char s[300];
		snprintf(s, sizeof(s), "%s签名", g->label);
		PangoLayout *l = text(L, L->label, s, LABEL_W - 2 * PAD_X, PANGO_ALIGN_LEFT);
		PangoLayout *dt = text(L, L->body, "日期：        年      月      日",
		                       DATE_W - 2 * PAD_X, PANGO_ALIGN_LEFT);
		put_box(L, MARGIN_X, L->y, LABEL_W, SIGN_H, 0.96);
		put_text(L, l, MARGIN_X + PAD_X, L->y + (SIGN_H - height_of(l)) / 2);
		put_box(L, MARGIN_X + LABEL_W, L->y, box_w, SIGN_H, 0);
		if (img) {
			/* fit the box, keep the aspect ratio, centre it */
			double iw = cairo_image_surface_get_width(img);
			double ih = cairo_image_surface_get_height(img);
			double bw = box_w - 4, bh = SIGN_H - 4;
			double k = bw / iw < bh / ih ? bw / iw : bh / ih;
			struct op *o = push(L, OP_IMAGE, MARGIN_X + LABEL_W + 2 + (bw - iw * k) / 2,
			                    L->y + 2 + (bh - ih * k) / 2, iw * k, ih * k);
			if (o)
				o->img = cairo_surface_reference(img);
			cairo_surface_destroy(img);
		}
		put_box(L, MARGIN_X + LABEL_W + box_w, L->y, DATE_W, SIGN_H, 0);
		put_text(L, dt, MARGIN_X + LABEL_W + box_w + PAD_X,
		         L->y + SIGN_H - height_of(dt) - 6);
		g_object_unref(l);
		g_object_unref(dt);
		L->y += SIGN_H;
	}
	return ERR_OK;
}

/* ---- the first page's heading ---- */

static void put_heading(struct lay *L)
{
	const struct forms_doc *d = L->d;
	PangoLayout *l = text(L, L->title, d->title, CONTENT_W, PANGO_ALIGN_CENTER);
	put_text(L, l, MARGIN_X, L->y);
	L->y += height_of(l) + 4;
	g_object_unref(l);
	if (d->sub_item_name && d->title && strcmp(d->sub_item_name, d->title)) {
		l = text(L, L->meta, d->sub_item_name, CONTENT_W, PANGO_ALIGN_CENTER);
		put_text(L, l, MARGIN_X, L->y);
		L->y += height_of(l) + 6;
		g_object_unref(l);
	}
	const char *left[2] = {NULL, NULL}, *right[2] = {NULL, NULL};
	char a[300], b[300], c[300], e[300];
	if (d->department) {
		snprintf(a, sizeof(a), "受理部门：%s", d->department);
		left[0] = a;
	}
	snprintf(b, sizeof(b), "事项编码：%s", d->code ? d->code : "");
	right[0] = b;
	if (d->org_name) {
		snprintf(c, sizeof(c), "受理中心：%s", d->org_name);
		left[1] = c;
	}
	if (d->case_no) {
		snprintf(e, sizeof(e), "办件编号：%s", d->case_no);
		right[1] = e;
	}
	for (int i = 0; i < 2; i++) {
		double h = 0;
		if (left[i]) {
			l = text(L, L->meta, left[i], CONTENT_W * 0.6, PANGO_ALIGN_LEFT);
			put_text(L, l, MARGIN_X, L->y);
			h = height_of(l);
			g_object_unref(l);
		}
		if (right[i]) {
			l = text(L, L->meta, right[i], CONTENT_W * 0.4, PANGO_ALIGN_RIGHT);
			put_text(L, l, MARGIN_X + CONTENT_W * 0.6, L->y);
			h = height_of(l) > h ? height_of(l) : h;
			g_object_unref(l);
		}
		L->y += h ? h + 2 : 0;
	}
	L->y += 2;
}

/* ---- the PDF ---- */

cairo_status_t forms_sink_write(void *closure, const unsigned char *data, unsigned int length)
{
	struct forms_sink *k = closure;
	enum err e = buf_append(k->out, data, length);
	if (e) {
		k->e = e;
		return CAIRO_STATUS_WRITE_ERROR;
	}
	return CAIRO_STATUS_SUCCESS;
}

/* ---- the face ---- */

static pthread_once_t font_once = PTHREAD_ONCE_INIT;
static bool font_own; /* written once under font_once, read-only afterwards */

/* SHOULI_FORMS_FONT, else fonts/ShouliSans-Regular.otf next to the binary (the build dir:
 * `make build` writes it there). */
static void font_load(void)
{
	char path[PATH_MAX + 64] = "";
	const char *env = getenv("SHOULI_FORMS_FONT");
	if (env && *env)
		snprintf(path, sizeof(path), "%s", env);
	else {
		char exe[PATH_MAX];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		char *slash;
		if (n > 0) {
			exe[n] = 0;
			if ((slash = strrchr(exe, '/')))
				*slash = 0;
			snprintf(path, sizeof(path), "%s/fonts/%s", exe, FONT_FILE);
		}
	}
	if (*path && access(path, R_OK) == 0 &&
	    FcConfigAppFontAddFile(NULL, (const FcChar8 *)path) == FcTrue) {
		font_own = true;
		return;
	}
	log_warn("forms.font_missing",
	         "%s not found (run scripts/make-font.sh); printing in the system "
	         "Noto Sans CJK SC, whose 如 cairo 1.16 draws blank",
	         *path ? path : FONT_FILE);
}

const char *forms_font_family(void)
{
	pthread_once(&font_once, font_load);
	return font_own ? FAMILY_OWN : FAMILY_NOTO;
}

/* A face of the form family at size pt; characters it lacks fall back to the system face. */
static PangoFontDescription *font_at(double size)
{
	char s[128];
	snprintf(s, sizeof(s), "%s, %s %g", forms_font_family(), FAMILY_NOTO, size);
	return pango_font_description_from_string(s);
}

bool forms_font_present(PangoContext *ctx, const PangoFontDescription *f)
{
	static __thread int known; /* 0 unknown, 1 yes, 2 no */
	if (!known) {
		PangoFont *font = pango_context_load_font(ctx, f);
		PangoFontDescription *got = font ? pango_font_describe(font) : NULL;
		const char *family = got ? pango_font_description_get_family(got) : NULL;
		known = family && !strcmp(family, forms_font_family()) ? 1 : 2;
		if (got)
			pango_font_description_free(got);
		if (font)
			g_object_unref(font);
	}
	return known == 1;
}

static void replay(cairo_t *cr, const struct lay *L, int page)
{
	for (size_t i = 0; i < L->n; i++) {
		const struct op *o = &L->ops[i];
		if (o->page != page)
			continue;
		switch (o->kind) {
		case OP_TEXT:
			cairo_set_source_rgb(cr, 0, 0, 0);
			cairo_move_to(cr, o->x, o->y);
			pango_cairo_show_layout(cr, o->layout);
			break;
		case OP_FILL:
			cairo_set_source_rgb(cr, o->gray, o->gray, o->gray);
			cairo_rectangle(cr, o->x, o->y, o->w, o->h);
			cairo_fill(cr);
			break;
		case OP_STROKE:
			cairo_set_source_rgb(cr, 0, 0, 0);
			cairo_set_line_width(cr, LINE_W);
			cairo_rectangle(cr, o->x, o->y, o->w, o->h);
			cairo_stroke(cr);
			break;
		case OP_IMAGE:
			cairo_save(cr);
			cairo_translate(cr, o->x, o->y);
			cairo_scale(cr, o->w / cairo_image_surface_get_width(o->img),
			            o->h / cairo_image_surface_get_height(o->img));
			cairo_set_source_surface(cr, o->img, 0, 0);
			cairo_paint(cr);
			cairo_restore(cr);
			break;
		}
	}
}

enum err forms_pdf_write(const struct forms_doc *d, struct buf *out, struct forms_timing *t,
                         struct errinfo *ei)
{
	struct forms_sink k = {out, ERR_OK};
	struct lay L = {.d = d};
	size_t start = out->len;
	cairo_surface_t *surface = NULL;
	cairo_t *cr = NULL;
	enum err e = ERR_OK;
	int64_t t0 = time_mono_ns();
	surface = cairo_pdf_surface_create_for_stream(forms_sink_write, &k, PAGE_W, PAGE_H);
	cr = cairo_create(surface);
	if (cairo_status(cr) != CAIRO_STATUS_SUCCESS) {
		e = ERR_INTERNAL;
		goto out;
	}
	char created[32];
	time_iso(d->created_ms, created);
	cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_TITLE, d->title ? d->title : "");
	cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATOR, "Shouli 受理");
	cairo_pdf_surface_set_metadata(surface, CAIRO_PDF_METADATA_CREATE_DATE, created);
	L.ctx = pango_cairo_create_context(cr);
	pango_cairo_context_set_resolution(L.ctx, 72);
	L.body = font_at(FONT_BODY);
	L.label = font_at(FONT_LABEL);
	L.caption = font_at(FONT_CAPTION);
	L.title = font_at(FONT_TITLE);
	L.meta = font_at(FONT_META);
	if (!forms_font_present(L.ctx, L.body)) {
		e = ERR_UNAVAILABLE;
		if (ei) {
			ei->code = e;
			ei->field = NULL;
			ei->msg = "服务器缺少 Noto CJK 字体（fonts-noto-cjk），无法生成申请表";
		}
		goto out;
	}

	new_page(&L);
	put_heading(&L);
	for (size_t i = 0; i < d->nsections && !L.oom; i++)
		put_section(&L, &d->sections[i]);
	L.section = NULL;
	if (!L.oom)
		put_commitments(&L);
	if (!L.oom && (e = put_signers(&L, ei)))
		goto out;
	if (L.oom) {
		e = ERR_NOMEM;
		goto out;
	}
	int64_t t1 = time_mono_ns();

	for (int p = 1; p <= L.page; p++) {
		char s[64];
		replay(cr, &L, p);
		snprintf(s, sizeof(s), "第 %d 页 共 %d 页", p, L.page);
		PangoLayout *f = text(&L, L.meta, s, CONTENT_W, PANGO_ALIGN_CENTER);
		cairo_set_source_rgb(cr, 0, 0, 0);
		cairo_move_to(cr, MARGIN_X, FOOTER_Y);
		pango_cairo_show_layout(cr, f);
		g_object_unref(f);
		cairo_show_page(cr);
	}
	cairo_destroy(cr);
	cr = NULL;
	cairo_surface_finish(surface);
	if (k.e)
		e = k.e;
	else if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS)
		e = ERR_INTERNAL;
	if (t) {
		t->layout_ns = t1 - t0;
		t->draw_ns = time_mono_ns() - t1;
		t->pages = L.page;
		t->bytes = out->len - start;
	}
out:
	for (size_t i = 0; i < L.n; i++) {
		if (L.ops[i].layout)
			g_object_unref(L.ops[i].layout);
		if (L.ops[i].img)
			cairo_surface_destroy(L.ops[i].img);
	}
	free(L.ops);
	PangoFontDescription *fonts[] = {L.body, L.label, L.caption, L.title, L.meta};
	for (size_t i = 0; i < 5; i++)
		if (fonts[i])
			pango_font_description_free(fonts[i]);
	if (L.ctx)
		g_object_unref(L.ctx);
	if (cr)
		cairo_destroy(cr);
	if (surface)
		cairo_surface_destroy(surface);
	if (e && out->len > start) {
		out->len = start; /* no half-written PDF left behind */
		out->p[start] = 0;
	}
	return e;
}
