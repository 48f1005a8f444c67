/* sign_http.c: the routes of the signing (docs/sign.md) and the module. Handlers only
 * translate; the rules are in sign.c and sign_view.c. */
#include <string.h>

#include "forms/forms.h"
#include "http/http.h"
#include "server/server.h"
#include "sign/sign_int.h"

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

static enum err h_view(struct req *r, struct resp *w)
{
	struct errinfo ei = {0};
	json_t *out = NULL;
	enum err e = sign_view(r->srv, r->who, r->arena, req_param(r, "no"), &out, &ei);
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
	struct sign_caller by = caller_of(r);
	const json_t *b = r->json;
	struct sign_input in = {.role = json_get_str(b, "role"),
	                        .png_b64 = json_get_str(b, "png"),
	                        .signer_name = json_get_str(b, "signer_name"),
	                        .device = json_get_str(b, "device"),
	                        .strokes = json_object_get(b, "strokes"),
	                        .commitments = json_object_get(b, "commitments")};
	json_t *out = NULL;
	enum err e = sign_add(r->srv, &by, r->arena, req_param(r, "no"), &in, &out, &ei);
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
	buf_init(&pdf, SIGN_PDF_MAX);
	enum err e = sign_pdf(r->srv, r->who, r->arena, no, &pdf, &ei);
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
    {"GET", "/api/v1/cases/{no}/signing", h_view, "case.read", 0, NULL},
    {"POST", "/api/v1/cases/{no}/signing", h_start, "case.accept", ROUTE_SLOW, empty_body},
    {"GET", "/api/v1/cases/{no}/signing/form.pdf", h_pdf, "case.read", ROUTE_SLOW, NULL},
    {"POST", "/api/v1/cases/{no}/signing/signatures", h_sign, "case.accept", ROUTE_SLOW, sign_body},
    {"POST", "/api/v1/cases/{no}/signing/void", h_void, "case.accept", 0, void_body},
    {"GET", "/api/v1/cases/{no}/signature", h_verify, "case.read", ROUTE_SLOW, NULL},
};

const struct module sign_module = {"sign", module_init, NULL, routes,
                                   sizeof(routes) / sizeof(routes[0])};
