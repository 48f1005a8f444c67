/* forms_fixed.c: a fixed (制式) form — the template PDF with the case's values over it.
 *
 * forms.c has decided what goes where (struct forms_fixed_doc: texts, ticks, signature
 * images at the catalog's positions). Here cairo and pango draw those on an overlay PDF of
 * the template's page size, and libqpdf lays each overlay page over the template's page
 * (`qpdf template --overlay overlay -- out`): the template's objects and content streams are
 * kept, the overlay page becomes a form XObject drawn after them. The overlay's text is set
 * in the same face as the generated forms, with its ToUnicode map, so pdftotext gives the
 * values back. Both PDFs live in memory files (memfd_create), named to qpdf as
 * /proc/self/fd/N: no temporary file is ever on disk. docs/forms.md has the rules. */
#include "forms/forms_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"

#include <cairo-pdf.h>

#if __has_include(<qpdf/qpdfjob-c.h>)
#include <qpdf/qpdfjob-c.h>
#include <qpdf/qpdflogger-c.h>
#define HAVE_QPDF 1
#else
#define HAVE_QPDF 0
#endif

/* The templates' page size (docs/catalog.md "APPFORM": Chromium's A4). */
#define PAGE_W    594.96
#define PAGE_H    841.92
#define MIN_SIZE  5.0 /* a value is never shrunk below this (pt) */
#define TICK      "✓"
#define CASE_SIZE 8.0

/* ---- the overlay ---- */

struct ovl {
	cairo_t *cr;
	PangoContext *ctx;
};

static PangoLayout *layout_at(struct ovl *o, const char *s, double size, double width)
{
	char f[128];
	snprintf(f, sizeof(f), "%s, Noto Sans CJK SC %g", forms_font_family(), size);
	PangoFontDescription *fd = pango_font_description_from_string(f);
	PangoLayout *l = pango_layout_new(o->ctx);
	PangoAttrList *attrs = pango_attr_list_new();
	pango_attr_list_insert(attrs, pango_attr_insert_hyphens_new(FALSE));
	pango_layout_set_attributes(l, attrs);
	pango_attr_list_unref(attrs);
	pango_layout_set_font_description(l, fd);
	pango_font_description_free(fd);
	pango_layout_set_wrap(l, PANGO_WRAP_WORD_CHAR);
	if (width > 0)
		pango_layout_set_width(l, (int)(width * PANGO_SCALE));
	pango_layout_set_text(l, s, -1);
	return l;
}

static double w_of(PangoLayout *l)
{
	int w, h;
	pango_layout_get_size(l, &w, &h);
	return (double)w / PANGO_SCALE;
}

static double h_of(PangoLayout *l)
{
	int w, h;
	pango_layout_get_size(l, &w, &h);
	return (double)h / PANGO_SCALE;
}

/* Draw l with the baseline of its first line at catalog point x, y (bottom-up). */
static void show_at_baseline(struct ovl *o, PangoLayout *l, double x, double y)
{
	double base = (double)pango_layout_get_baseline(l) / PANGO_SCALE;
	cairo_move_to(o->cr, x, PAGE_H - y - base);
	pango_cairo_show_layout(o->cr, l);
}

/* A value: on one line from x with its baseline at y, at its size when it fits the cell's
 * width; else wrapped in the cell when two lines or more fit its height (shrunk until the
 * block fits, top-aligned); else shrunk on one line to the width. */
static void put_text(struct ovl *o, const struct forms_place *p)
{
	double size = p->size;
	bool multiline = strchr(p->text, '\n') != NULL;
	PangoLayout *l = layout_at(o, p->text, size, -1);
	if ((p->w <= 0 || w_of(l) <= p->w) && !multiline) {
		show_at_baseline(o, l, p->x, p->y);
		g_object_unref(l);
		return;
	}
	g_object_unref(l);
	if (p->w > 0 && p->h > 0) {
		for (; size >= MIN_SIZE; size -= 0.5) {
			l = layout_at(o, p->text, size, p->w);
			if (pango_layout_get_line_count(l) > 1 && h_of(l) <= p->h) {
				cairo_move_to(o->cr, p->x, PAGE_H - (p->y + p->h) + 0.5);
				pango_cairo_show_layout(o->cr, l);
				g_object_unref(l);
				return;
			}
			if (pango_layout_get_line_count(l) == 1 && h_of(l) <= p->h) {
				show_at_baseline(o, l, p->x, p->y);
				g_object_unref(l);
				return;
			}
			g_object_unref(l);
		}
	}
	/* one line, as small as it takes (the cell is too small to wrap in) */
	l = layout_at(o, p->text, p->size, -1);
	double k = p->w > 0 ? p->w / w_of(l) : 1;
	g_object_unref(l);
	size = p->size * k;
	l = layout_at(o, p->text, size < MIN_SIZE ? MIN_SIZE : size, -1);
	show_at_baseline(o, l, p->x, p->y);
	g_object_unref(l);
}

/* "2026年01月05日" → the three numbers where the template prints 年 月 日 after them
 * (the convention: where the whole string drawn from x would put them). Anything else is a
 * plain text. */
static void put_date(struct ovl *o, const struct forms_place *p)
{
	int y, m, d;
	char tail;
	if (sscanf(p->text, "%4d年%2d月%2d日%c", &y, &m, &d, &tail) != 3) {
		put_text(o, p);
		return;
	}
	char parts[3][8], prefix[3][32];
	snprintf(parts[0], sizeof(parts[0]), "%04d", y);
	snprintf(parts[1], sizeof(parts[1]), "%02d", m);
	snprintf(parts[2], sizeof(parts[2]), "%02d", d);
	snprintf(prefix[0], sizeof(prefix[0]), "%s", "");
	snprintf(prefix[1], sizeof(prefix[1]), "%04d年", y);
	snprintf(prefix[2], sizeof(prefix[2]), "%04d年%02d月", y, m);
	for (int i = 0; i < 3; i++) {
		double dx = 0;
		if (i) {
			PangoLayout *pre = layout_at(o, prefix[i], p->size, -1);
			dx = w_of(pre);
			g_object_unref(pre);
		}
		PangoLayout *l = layout_at(o, parts[i], p->size, -1);
		show_at_baseline(o, l, p->x + dx, p->y);
		g_object_unref(l);
	}
}

static void put_tick(struct ovl *o, const struct forms_place *p)
{
	double side = p->w > 0 ? p->w : 9;
	PangoLayout *l = layout_at(o, TICK, side * 1.25, -1);
	double w = w_of(l), h = h_of(l);
	cairo_move_to(o->cr, p->x + (side - w) / 2, PAGE_H - (p->y + side / 2) - h / 2);
	pango_cairo_show_layout(o->cr, l);
	g_object_unref(l);
}

/* The signature, scaled to fit the box, aspect kept, centred. */
static enum err put_image(struct ovl *o, const struct forms_place *p, struct errinfo *ei)
{
	cairo_surface_t *img = forms_png_decode(p->png, p->png_n);
	if (!img)
		return err_fail(ei, ERR_BAD_FIELD, "signatures",
		                "签名图片应为 PNG 图片，且不超过 4000 × 4000 像素");
	double iw = cairo_image_surface_get_width(img), ih = cairo_image_surface_get_height(img);
	double k = p->w / iw < p->h / ih ? p->w / iw : p->h / ih;
	double x = p->x + (p->w - iw * k) / 2, top = PAGE_H - (p->y + p->h) + (p->h - ih * k) / 2;
	cairo_save(o->cr);
	cairo_translate(o->cr, x, top);
	cairo_scale(o->cr, k, k);
	cairo_set_source_surface(o->cr, img, 0, 0);
	cairo_paint(o->cr);
	cairo_restore(o->cr);
	cairo_surface_destroy(img);
	return ERR_OK;
}

static enum err overlay(const struct forms_fixed_doc *d, struct buf *out, struct errinfo *ei)
{
	struct forms_sink k = {out, ERR_OK};
	struct ovl o = {0};
	enum err e = ERR_OK;
	cairo_surface_t *s =
	    cairo_pdf_surface_create_for_stream(forms_sink_write, &k, PAGE_W, PAGE_H);
	o.cr = cairo_create(s);
	if (cairo_status(o.cr) != CAIRO_STATUS_SUCCESS) {
		e = ERR_INTERNAL;
		goto out;
	}
	o.ctx = pango_cairo_create_context(o.cr);
	pango_cairo_context_set_resolution(o.ctx, 72);
	PangoFontDescription *probe = pango_font_description_from_string(forms_font_family());
	bool have = forms_font_present(o.ctx, probe);
	pango_font_description_free(probe);
	if (!have) {
		e = err_fail(ei, ERR_UNAVAILABLE, NULL,
		             "服务器缺少 Noto CJK 字体（fonts-noto-cjk），无法生成申请表");
		goto out;
	}
	for (int page = 1; page <= d->pages && !e; page++) {
		cairo_set_source_rgb(o.cr, 0, 0, 0);
		if (page == 1 && d->case_no) {
			/* the case number in the top margin: the paper names its case */
			char s1[200];
			snprintf(s1, sizeof(s1), "办件编号：%s", d->case_no);
			PangoLayout *l = layout_at(&o, s1, CASE_SIZE, -1);
			cairo_move_to(o.cr, PAGE_W - 36 - w_of(l), 14);
			pango_cairo_show_layout(o.cr, l);
			g_object_unref(l);
		}
		for (size_t i = 0; i < d->nplaces && !e; i++) {
			const struct forms_place *p = &d->places[i];
			if (p->page != page)
				continue;
			switch (p->kind) {
			case FORMS_PLACE_TEXT: put_text(&o, p); break;
			case FORMS_PLACE_DATE: put_date(&o, p); break;
			case FORMS_PLACE_TICK: put_tick(&o, p); break;
			case FORMS_PLACE_IMAGE: e = put_image(&o, p, ei); break;
			}
		}
		cairo_show_page(o.cr);
	}
	if (e)
		goto out;
	cairo_destroy(o.cr);
	o.cr = NULL;
	cairo_surface_finish(s);
	if (k.e)
		e = k.e;
	else if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
		e = ERR_INTERNAL;
out:
	if (o.ctx)
		g_object_unref(o.ctx);
	if (o.cr)
		cairo_destroy(o.cr);
	cairo_surface_destroy(s);
	return e;
}

/* ---- the merge ---- */

#if HAVE_QPDF

static int qpdf_error(char const *data, size_t len, void *udata)
{
	struct buf *msg = udata;
	buf_append(msg, data, len); /* capped: the first part of the message is enough */
	return 0;
}

static int memfd_with(const char *name, const struct buf *content)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	if (fd < 0)
		return -1;
	size_t at = 0;
	while (content && at < content->len) {
		ssize_t n = write(fd, content->p + at, content->len - at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		at += (size_t)n;
	}
	return fd;
}

/* qpdf template --overlay ovl -- out, out being a memory file; its bytes appended to pdf. */
static enum err merge(const char *template_path, const struct buf *ovl, struct buf *pdf,
                      struct errinfo *ei)
{
	int ofd = memfd_with("forms-overlay", ovl), rfd = memfd_with("forms-out", NULL);
	char opath[64], rpath[64];
	struct buf msg;
	enum err e = ERR_OK;
	buf_init(&msg, 2048);
	qpdfjob_handle j = NULL;
	qpdflogger_handle lg = NULL;
	if (ofd < 0 || rfd < 0) {
		e = errno == ENOMEM ? ERR_NOMEM : ERR_INTERNAL;
		goto out;
	}
	snprintf(opath, sizeof(opath), "/proc/self/fd/%d", ofd);
	snprintf(rpath, sizeof(rpath), "/proc/self/fd/%d", rfd);
	/* deterministic: the same form and data give the same bytes (the seal hashes them) */
	const char *argv[] = {"qpdf", template_path, "--deterministic-id", "--overlay", opath, "--",
	                      rpath,  NULL};
	j = qpdfjob_init();
	lg = qpdflogger_create();
	qpdflogger_set_info(lg, qpdf_log_dest_discard, NULL, NULL);
	qpdflogger_set_warn(lg, qpdf_log_dest_discard, NULL, NULL);
	qpdflogger_set_error(lg, qpdf_log_dest_custom, qpdf_error, &msg);
	qpdfjob_set_logger(j, lg);
	int rc = qpdfjob_initialize_from_argv(j, argv);
	if (rc == 0)
		rc = qpdfjob_run(j);
	if (rc != 0 && rc != 3 /* warnings only */) {
		log_warn("forms.merge_failed", "qpdf %s: exit %d: %.*s", template_path, rc,
		         (int)msg.len, msg.p ? msg.p : "");
		e = err_fail(
		    ei, ERR_BAD_STATE, "application_form",
		    "该事项的制式申请表模板无法读取，无法生成申请表，请联系管理员检查模板");
		goto out;
	}
	struct stat st;
	if (fstat(rfd, &st) != 0 || st.st_size <= 0) {
		e = ERR_INTERNAL;
		goto out;
	}
	void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, rfd, 0);
	if (m == MAP_FAILED) {
		e = ERR_NOMEM;
		goto out;
	}
	e = buf_append(pdf, m, (size_t)st.st_size);
	munmap(m, (size_t)st.st_size);
out:
	if (lg)
		qpdflogger_cleanup(&lg);
	if (j)
		qpdfjob_cleanup(&j);
	if (ofd >= 0)
		close(ofd);
	if (rfd >= 0)
		close(rfd);
	buf_release(&msg);
	return e;
}

#else

static enum err merge(const char *template_path, const struct buf *ovl, struct buf *pdf,
                      struct errinfo *ei)
{
	(void)template_path;
	(void)ovl;
	(void)pdf;
	return err_fail(ei, ERR_UNAVAILABLE, NULL, "服务器未安装 libqpdf，无法生成制式申请表");
}

#endif

enum err forms_fixed_write(const struct forms_fixed_doc *d, struct buf *out, struct forms_timing *t,
                           struct errinfo *ei)
{
	struct buf ovl;
	size_t start = out->len;
	int64_t t0 = time_mono_ns();
	enum err e;
	buf_init(&ovl, out->cap);
	if ((e = overlay(d, &ovl, ei)))
		goto out;
	int64_t t1 = time_mono_ns();
	if ((e = merge(d->template_path, &ovl, out, ei)))
		goto out;
	if (t) {
		t->layout_ns = t1 - t0;
		t->draw_ns = time_mono_ns() - t1;
		t->pages = d->pages;
		t->bytes = out->len - start;
	}
out:
	buf_release(&ovl);
	if (e && out->len > start) {
		out->len = start;
		out->p[start] = 0;
	}
	return e;
}
