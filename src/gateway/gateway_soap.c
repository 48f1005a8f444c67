/* gateway_soap.c: SOAP 1.1 over libxml2 — envelopes from templates, answers to JSON.
 *
 * Parsing is hardened against hostile answers: no network access, no entity substitution
 * (so no external entities and no billion laughs), no DTD loading; libxml2's own limits on
 * depth and node size stay on (no XML_PARSE_HUGE). */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <math.h>
#include <pthread.h>

#include "gateway/gateway_int.h"

#define SOAP11_NS  "http://schemas.xmlsoap.org/soap/envelope/"
#define SOAP12_NS  "http://www.w3.org/2003/05/soap-envelope"
#define PARSE_OPTS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init_once(void)
{
	xmlInitParser();
}

void gw_soap_global_init(void)
{
	pthread_once(&xml_once, xml_init_once);
}

static xmlDocPtr parse(const char *p, size_t n)
{
	if (n > INT32_MAX)
		return NULL;
	return xmlReadMemory(p, (int)n, "soap.xml", "UTF-8", PARSE_OPTS);
}

enum err gw_soap_envelope(const char *body_tpl, const json_t *ctx, struct buf *out,
                          struct errinfo *ei, struct arena *a)
{
	enum err e;
	size_t start = out->len;
	gw_soap_global_init();
	if ((e = buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	                       "<soap:Envelope xmlns:soap=\"" SOAP11_NS "\"><soap:Body>")) ||
	    (e = gw_tpl_text(body_tpl ? body_tpl : "", ctx, GW_ESC_XML, out)) ||
	    (e = buf_puts(out, "</soap:Body></soap:Envelope>")))
		return e;
	xmlDocPtr d = parse(out->p + start, out->len - start);
	if (!d) {
		ei->msg = arena_printf(a, "SOAP 请求模板生成的 XML 格式不正确");
		return ERR_INVALID;
	}
	xmlFreeDoc(d);
	return ERR_OK;
}

/* XPath errors of a connector's map are reported to the caller, not printed. */
static void quiet(void *ctx, xmlErrorPtr err)
{
	(void)ctx;
	(void)err;
}

static bool is_named(const xmlNode *n, const char *local)
{
	return n && n->type == XML_ELEMENT_NODE && xmlStrcmp(n->name, BAD_CAST local) == 0;
}

static xmlNodePtr first_element(xmlNodePtr n)
{
	for (; n; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

static xmlNodePtr child_named(xmlNodePtr parent, const char *local)
{
	for (xmlNodePtr c = parent ? parent->children : NULL; c; c = c->next)
		if (is_named(c, local))
			return c;
	return NULL;
}

static json_t *node_text(xmlNodePtr n)
{
	xmlChar *t = xmlNodeGetContent(n);
	json_t *v = json_string(t ? (const char *)t : "");
	xmlFree(t);
	return v ? v : json_null();
}

/* Plain conversion when a method has no response map: elements with element children
 * become objects (repeated names: arrays), others their text. */
static json_t *element_json(xmlNodePtr n)
{
	xmlNodePtr c = first_element(n->children);
	if (!c)
		return node_text(n);
	json_t *o = json_object();
	for (; c && o; c = first_element(c->next)) {
		const char *k = (const char *)c->name;
		json_t *v = element_json(c);
		json_t *prev = json_object_get(o, k);
		if (!prev) {
			json_object_set_new(o, k, v);
		} else if (json_is_array(prev)) {
			json_array_append_new(prev, v);
		} else {
			json_t *arr = json_array();
			json_array_append(arr, prev);
			json_array_append_new(arr, v);
			json_object_set_new(o, k, arr);
		}
	}
	return o;
}

static json_t *xpath_value(xmlXPathObjectPtr r)
{
	switch (r->type) {
	case XPATH_NODESET: {
		int n = r->nodesetval ? r->nodesetval->nodeNr : 0;
		if (n == 0)
			return json_null();
		if (n == 1)
			return node_text(r->nodesetval->nodeTab[0]);
		json_t *arr = json_array();
		for (int i = 0; i < n && arr; i++)
			json_array_append_new(arr, node_text(r->nodesetval->nodeTab[i]));
		return arr;
	}
	case XPATH_BOOLEAN: return json_boolean(r->boolval);
	case XPATH_NUMBER:
		if (isfinite(r->floatval) && r->floatval == floor(r->floatval) &&
		    fabs(r->floatval) < 9007199254740992.0)
			return json_integer((json_int_t)r->floatval);
		return isfinite(r->floatval) ? json_real(r->floatval) : json_null();
	case XPATH_STRING: return json_string(r->stringval ? (const char *)r->stringval : "");
	default: return json_null();
	}
}

/* Evaluate one XPath at ctx's current node. ERR_CONFIG when it does not compile. */
static enum err eval(xmlXPathContextPtr x, const char *expr, json_t **out, struct arena *a,
                     const char **why)
{
	xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, x);
	if (!r) {
		*why = arena_printf(a, "响应映射的 XPath 无效：%s", expr);
		return ERR_CONFIG;
	}
	*out = xpath_value(r);
	xmlXPathFreeObject(r);
	return *out ? ERR_OK : ERR_NOMEM;
}

static enum err eval_each(xmlXPathContextPtr x, const json_t *spec, json_t **out, struct arena *a,
                          const char **why)
{
	const char *expr = json_get_str(spec, "xpath");
	const json_t *each = json_object_get(spec, "each");
	enum err e = ERR_OK;
	if (!expr) {
		*why = "响应映射的对象缺少 xpath";
		return ERR_CONFIG;
	}
	xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST expr, x);
	if (!r) {
		*why = arena_printf(a, "响应映射的 XPath 无效：%s", expr);
		return ERR_CONFIG;
	}
	json_t *arr = json_array();
	int n = r->type == XPATH_NODESET && r->nodesetval ? r->nodesetval->nodeNr : 0;
	xmlNodePtr saved = x->node;
	for (int i = 0; i < n && arr && !e; i++) {
		xmlNodePtr node = r->nodesetval->nodeTab[i];
		json_t *item;
		if (!json_is_object(each)) {
			item =
			    node->type == XML_ELEMENT_NODE ? element_json(node) : node_text(node);
		} else {
			const char *k;
			json_t *rel, *v = NULL;
			item = json_object();
			x->node = node;
			json_object_foreach ((json_t *)each, k, rel) {
				if (!json_is_string(rel) || !item) {
					e = ERR_CONFIG;
					*why = "响应映射 each 的值必须是 XPath 字符串";
					break;
				}
				if ((e = eval(x, json_string_value(rel), &v, a, why)))
					break;
				json_object_set_new(item, k, v);
			}
			x->node = saved;
		}
		if (!item || json_array_append_new(arr, item))
			e = e ? e : ERR_NOMEM;
	}
	xmlXPathFreeObject(r);
	if (e || !arr) {
		json_decref(arr);
		return e ? e : ERR_NOMEM;
	}
	*out = arr;
	return ERR_OK;
}

/* Register xmlns:prefix="uri" declarations found in text (the method's body template). */
static void register_declared(xmlXPathContextPtr x, const char *text)
{
	const char *s = text;
	while (s && (s = strstr(s, "xmlns:"))) {
		const char *p = s + 6, *eq = strchr(p, '=');
		s = p;
		if (!eq || eq - p > 64 || (eq[1] != '"' && eq[1] != '\''))
			continue;
		const char *uri = eq + 2, *end = strchr(uri, eq[1]);
		if (!end || end - uri > 512)
			continue;
		char prefix[65], u[513];
		snprintf(prefix, sizeof(prefix), "%.*s", (int)(eq - p), p);
		snprintf(u, sizeof(u), "%.*s", (int)(end - uri), uri);
		if (!xmlXPathNsLookup(x, BAD_CAST prefix))
			xmlXPathRegisterNs(x, BAD_CAST prefix, BAD_CAST u);
	}
}

static void register_answer_ns(xmlXPathContextPtr x, xmlDocPtr d, xmlNodePtr n)
{
	xmlNsPtr *list = xmlGetNsList(d, n);
	for (int i = 0; list && list[i]; i++)
		if (list[i]->prefix && !xmlXPathNsLookup(x, list[i]->prefix))
			xmlXPathRegisterNs(x, list[i]->prefix, list[i]->href);
	xmlFree(list);
}

static bool compiles(const char *expr)
{
	xmlXPathCompExprPtr c = xmlXPathCompile(BAD_CAST expr);
	xmlXPathFreeCompExpr(c);
	return c != NULL;
}

enum err gw_soap_check(const char *body_tpl, const json_t *response_map, const char **what,
                       struct arena *a)
{
	struct buf b;
	struct errinfo ei = {0};
	enum err e = ERR_OK;
	const char *k;
	json_t *v, *empty = json_object();
	gw_soap_global_init();
	/* Placeholders render as "" here: what is left must be well-formed. */
	buf_init(&b, 1u << 20);
	if (body_tpl && gw_soap_envelope(body_tpl, empty, &b, &ei, a) != ERR_OK) {
		*what = "body";
		e = ERR_INVALID;
	}
	buf_release(&b);
	json_decref(empty);
	xmlSetStructuredErrorFunc(NULL, quiet);
	json_object_foreach ((json_t *)response_map, k, v) {
		if (e)
			break;
		const char *x = json_is_string(v) ? json_string_value(v) : json_get_str(v, "xpath");
		if (!x || !compiles(x)) {
			*what = arena_printf(a, "response.%s", k);
			e = ERR_INVALID;
			break;
		}
		const char *rk;
		json_t *rv;
		json_object_foreach (json_object_get(v, "each"), rk, rv) {
			if (!json_is_string(rv) || !compiles(json_string_value(rv))) {
				*what = arena_printf(a, "response.%s.each.%s", k, rk);
				e = ERR_INVALID;
				break;
			}
		}
	}
	xmlSetStructuredErrorFunc(NULL, NULL);
	return e;
}

enum err gw_soap_parse(const char *xml, size_t n, const json_t *response_map,
                       const json_t *namespaces, const char *body_tpl, json_t **out,
                       const char **fault, bool *server_fault, struct arena *a)
{
	enum err e = ERR_OK;
	xmlXPathContextPtr x = NULL;
	json_t *res = NULL;
	gw_soap_global_init();
	*out = NULL;
	*fault = NULL;
	*server_fault = false;
	xmlDocPtr d = parse(xml, n);
	xmlNodePtr root = d ? xmlDocGetRootElement(d) : NULL;
	if (!is_named(root, "Envelope") || !root->ns ||
	    (xmlStrcmp(root->ns->href, BAD_CAST SOAP11_NS) != 0 &&
	     xmlStrcmp(root->ns->href, BAD_CAST SOAP12_NS) != 0)) {
		*fault = "外部系统的响应不是 SOAP 报文";
		e = ERR_INVALID;
		goto out;
	}
	xmlNodePtr body = child_named(root, "Body");
	xmlNodePtr first = body ? first_element(body->children) : NULL;
	if (!first) {
		*fault = "SOAP 报文缺少 Body";
		e = ERR_INVALID;
		goto out;
	}
	if (is_named(first, "Fault")) {
		/* SOAP 1.1: faultcode/faultstring; 1.2: Code/Value and Reason/Text. */
		xmlNodePtr fs = child_named(first, "faultstring");
		xmlNodePtr fc = child_named(first, "faultcode");
		if (!fs)
			fs = child_named(child_named(first, "Reason"), "Text");
		if (!fc)
			fc = child_named(child_named(first, "Code"), "Value");
		xmlChar *s = fs ? xmlNodeGetContent(fs) : NULL;
		xmlChar *c = fc ? xmlNodeGetContent(fc) : NULL;
		*fault = arena_strdup(a, s && s[0] ? (const char *)s : "外部系统返回 SOAP Fault");
		*server_fault =
		    c && (strstr((const char *)c, "Server") || strstr((const char *)c, "Receiver"));
		xmlFree(s);
		xmlFree(c);
		e = ERR_UPSTREAM;
		goto out;
	}
	if (!json_is_object(response_map) || json_object_size(response_map) == 0) {
		res = element_json(first);
		e = res ? ERR_OK : ERR_NOMEM;
		goto out;
	}
	if (!(x = xmlXPathNewContext(d)) || !(res = json_object())) {
		e = ERR_NOMEM;
		goto out;
	}
	x->error = quiet;
	xmlXPathRegisterNs(x, BAD_CAST "soap", root->ns->href);
	const char *k;
	json_t *v;
	json_object_foreach ((json_t *)namespaces, k, v) {
		if (json_is_string(v))
			xmlXPathRegisterNs(x, BAD_CAST k, BAD_CAST json_string_value(v));
	}
	if (body_tpl)
		register_declared(x, body_tpl);
	register_answer_ns(x, d, first);
	json_object_foreach ((json_t *)response_map, k, v) {
		json_t *val = NULL;
		x->node = first;
		if (json_is_string(v))
			e = eval(x, json_string_value(v), &val, a, fault);
		else if (json_is_object(v))
			e = eval_each(x, v, &val, a, fault);
		else {
			e = ERR_CONFIG;
			*fault = "响应映射的值必须是 XPath 字符串或对象";
		}
		if (e)
			goto out;
		json_object_set_new(res, k, val);
	}
out:
	if (x)
		xmlXPathFreeContext(x);
	if (d)
		xmlFreeDoc(d);
	if (e)
		json_decref(res);
	else
		*out = res;
	return e;
}
