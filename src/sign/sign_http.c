/* sign_http.c: the routes of the signing (docs/sign.md) and the module. Handlers only
 * translate; the rules are in sign.c and sign_view.c. */
#include <string.h>

#include "forms/forms.h"
#include "http/http.h"
#include "server/server.h"
#include "sign/sign_int.h"
#include "vwin/vwin.h"

static enum err answer(struct req *r, struct resp *w, enum err e, const struct errinfo *ei,
                       json_t *out)
{
	if (e)
		return ei->msg ? req_fail(r, e, ei->field, "%s", ei->msg) : e;
	resp_json(w, 200, out);
	return ERR_OK;
}

static struct sign_caller caller_of(struct req *r)
{
	return (struct sign_caller){r->who, r->client_ip, r->trace.trace_id};
}

/* The caller holds perm, or is a terminal in a video session of this case (docs/vwin.md
 * "Sessions": form_push sign): the request then acts as the principal the session gives
 * (the terminal's user, the case's centre as scope) and the signature's device is the
 * terminal's kind. Otherwise 403 as the route's permission check would answer. */
static enum err allowed(struct req *r, const char *perm, const char **device)
{
	struct principal *as = NULL;
	const char *dev = NULL;
	if (req_has_perm(r, perm))
		return ERR_OK;
	if (vwin_session_signer(r->srv, r->who, r->arena, req_param(r, "no"), &as, &dev))
		return req_fail(r, ERR_FORBIDDEN, NULL, NULL);
	r->who = as;
	if (device)
		*device = dev;
	return ERR_OK;
}

static enum err h_view(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	json_t *out = NULL;
	enum err e = allowed(r, "case.read", NULL);
	if (e)
		return e;
	e = sign_view(r->srv, r->who, r->arena, req_param(r, "no"), &out, &ei);
	return answer(r, w, e, &ei, out);
}

static enum err h_start(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	struct sign_caller by = caller_of(r);
	json_t *out = NULL;
	enum err e = sign_start(r->srv, &by, r->arena, req_param(r, "no"), &out, &ei);
	return answer(r, w, e, &ei, out);
}

static enum err h_sign(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	const char *device = NULL;
	enum err e = allowed(r, "case.accept", &device);
	if (e)
		return e;
	struct sign_caller by = caller_of(r);
	const json_t *b = r->json;
	struct sign_input in = {.role = json_get_str(b, "role"),
	                        .png_b64 = json_get_str(b, "png"),
	                        .signer_name = json_get_str(b, "signer_name"),
	                        .device = device ? device : json_get_str(b, "device"),
	                        .strokes = json_object_get(b, "strokes"),
	                        .commitments = json_object_get(b, "commitments")};
	json_t *out = NULL;
	e = sign_add(r->srv, &by, r->arena, req_param(r, "no"), &in, &out, &ei);
	return answer(r, w, e, &ei, out);
}

static enum err h_void(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	struct sign_caller by = caller_of(r);
	json_t *out = NULL;
	enum err e = sign_void(r->srv, &by, r->arena, req_param(r, "no"),
	                       json_get_str(r->json, "reason"), &out, &ei);
	return answer(r, w, e, &ei, out);
}

static enum err h_verify(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	json_t *out = NULL;
	enum err e = sign_verify(r->srv, r->who, r->arena, req_param(r, "no"), &out, &ei);
	return answer(r, w, e, &ei, out);
}

static enum err h_pdf(struct req *r, struct resp *w)
{
	const char *no = req_param(r, "no");
	struct errinfo ei = {0};
	struct buf pdf;
	enum err e = allowed(r, "case.read", NULL);
	if (e)
		return e;
	buf_init(&pdf, SIGN_PDF_MAX);
	e = sign_pdf(r->srv, r->who, r->arena, no, &pdf, &ei);
	e = forms_http_answer_pdf(r, w, e, &ei, &pdf, "application-form-%s-signing.pdf", no);
	buf_release(&pdf);
	return e;
}

static enum err module_init(struct server *srv)
{
	return sign_hooks_register(srv);
}

static const struct json_field empty_body[] = {
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct json_field sign_body[] = {
    {"role", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 32, "签名人角色"},
    /* base64 of at most SIGN_PNG_MAX bytes, with room for line breaks */
    {"png", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 1, 720000, "签名图片"},
    {"strokes", JF_ARRAY, JF_REQUIRED, 0, SIGN_STROKES_MAX, "签名笔迹"},
    {"commitments", JF_ARRAY, JF_REQUIRED, 0, 50, "已确认的承诺事项"},
    {"signer_name", JF_STRING, JF_NULLABLE | JF_NONEMPTY, 1, 50, "签名人姓名"},
    {"device", JF_STRING, JF_NULLABLE, 1, 16, "签名设备"},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct json_field void_body[] = {
    {"reason", JF_STRING, JF_REQUIRED | JF_NONEMPTY, 5, 200, "作废理由"},
    {NULL, 0, 0, 0, 0, NULL},
};

static const struct route routes[] = {
    /* NULL permission: case.read / case.accept, or a terminal in a session (allowed()) */
    {"GET", "/api/v1/cases/{no}/signing", h_view, NULL, 0, NULL},
    {"POST", "/api/v1/cases/{no}/signing", h_start, "case.accept", ROUTE_SLOW, empty_body},
    {"GET", "/api/v1/cases/{no}/signing/form.pdf", h_pdf, NULL, ROUTE_SLOW, NULL},
    {"POST", "/api/v1/cases/{no}/signing/signatures", h_sign, NULL, ROUTE_SLOW, sign_body},
    {"POST", "/api/v1/cases/{no}/signing/void", h_void, "case.accept", 0, void_body},
    {"GET", "/api/v1/cases/{no}/signature", h_verify, "case.read", ROUTE_SLOW, NULL},
};

const struct module sign_module = {"sign", module_init, NULL, routes,
                                   sizeof(routes) / sizeof(routes[0])};
