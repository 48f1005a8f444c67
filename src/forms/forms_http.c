/* forms_http.c: the route of the application form (docs/forms.md).
 *
 * GET /api/v1/cases/{no}/application-form.pdf renders the case's current form data; it is
 * not stored (binding the PDF to the case's materials and signing it come later). A slow
 * route: pango and cairo run on the worker pool, never on the I/O threads. */
#include <stdarg.h>
#include <string.h>

#include "forms/forms.h"
#include "http/http.h"
#include "server/server.h"

#define PDF_MAX (16u << 20) /* a form of a thousand group rows is well below this */

enum err forms_http_answer_pdf(struct req *r, struct resp *w, enum err e, const struct errinfo *ei,
                               const struct buf *pdf, const char *fmt, ...)
{
	if (e)
		return ei->msg ? req_fail(r, e, ei->field, "%s", ei->msg) : e;
	void *body = arena_memdup(r->arena, pdf->p, pdf->len);
	if (!body)
		return ERR_NOMEM;
	va_list ap;
	va_start(ap, fmt);
	const char *name = arena_vprintf(r->arena, fmt, ap);
	va_end(ap);
	w->status = 200;
	w->body = body;
	w->body_len = pdf->len;
	w->content_type = "application/pdf";
	resp_header(w, "Content-Disposition",
	            name ? arena_printf(r->arena, "inline; filename=\"%s\"", name) : NULL);
	resp_header(w, "Cache-Control", "private, no-store");
	return ERR_OK;
}

static enum err h_form_pdf(struct req *r, struct resp *w)
{
	const char *no = req_param(r, "no");
	struct buf pdf;
	struct errinfo ei = {0};
	struct forms_opts opts = {0};
	buf_init(&pdf, PDF_MAX);
	enum err e = forms_render_case(r->srv, r->who, r->arena, no, &opts, &pdf, &ei);
	e = forms_http_answer_pdf(r, w, e, &ei, &pdf, "application-form-%s.pdf", no);
	buf_release(&pdf);
	return e;
}

static const struct route forms_routes[] = {
    {"GET", "/api/v1/cases/{no}/application-form.pdf", h_form_pdf, "case.read", ROUTE_SLOW, NULL},
};

const struct module forms_module = {"forms", NULL, NULL, forms_routes,
                                    sizeof(forms_routes) / sizeof(forms_routes[0])};
