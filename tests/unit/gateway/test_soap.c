/* test_soap.c: SOAP envelopes built from a method's template (values XML-escaped, the result
 * well-formed), answers parsed with XPath into JSON (single values, repeated elements,
 * "each" objects, numbers), faults (client and server), answers that are not SOAP, and
 * hostile XML (external entities are not expanded). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gateway/gateway_int.h"

#define TPL                                                                                        \
	"<rk:QueryPerson "                                                                         \
	"xmlns:rk=\"urn:gongan:rkk\"><rk:Sfzh>{{request.id_number}}</rk:Sfzh></rk:QueryPerson>"

static struct arena a;

static int setup(void **state)
{
	(void)state;
	arena_init(&a, 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	arena_release(&a);
	return 0;
}

static void test_envelope(void **state)
{
	(void)state;
	struct buf b;
	struct errinfo ei = {0};
	buf_init(&b, 1 << 16);
	json_t *ctx = json_loads("{\"request\":{\"id_number\":\"<x>&'\\\"\"}}", 0, NULL);
	assert_int_equal(gw_soap_envelope(TPL, ctx, &b, &ei, &a), ERR_OK);
	assert_non_null(
	    strstr(b.p, "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">"
	                "<soap:Body><rk:QueryPerson xmlns:rk=\"urn:gongan:rkk\"><rk:Sfzh>"
	                "&lt;x&gt;&amp;&apos;&quot;</rk:Sfzh></rk:QueryPerson></soap:Body>"
	                "</soap:Envelope>"));
	/* A template that is not well-formed XML is refused before anything is sent. */
	buf_reset(&b);
	assert_int_equal(gw_soap_envelope("<a><b></a>", ctx, &b, &ei, &a), ERR_INVALID);
	assert_non_null(ei.msg);
	json_decref(ctx);
	buf_release(&b);
}

static const char *answer =
    "<?xml version=\"1.0\"?>"
    "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body>"
    "<ns2:QueryHouseholdResponse xmlns:ns2=\"urn:gongan:rkk\">"
    "<ns2:Hh>310104000123</ns2:Hh><ns2:Dz>徐汇区漕溪北路 1 号</ns2:Dz>"
    "<ns2:Cy><ns2:Sfzh>11010519491231002X</ns2:Sfzh><ns2:Xm>张三</ns2:Xm><ns2:Gx>户主</ns2:Gx></"
    "ns2:Cy>"
    "<ns2:Cy><ns2:Sfzh>110105195001010018</ns2:Sfzh><ns2:Xm>李梅</ns2:Xm><ns2:Gx>配偶</ns2:Gx></"
    "ns2:Cy>"
    "</ns2:QueryHouseholdResponse></s:Body></s:Envelope>";

static void test_parse_with_map(void **state)
{
	(void)state;
	json_t *map = json_loads(
	    "{\"household_no\":\"//rk:QueryHouseholdResponse/rk:Hh\",\"address\":\"rk:Dz\","
	    "\"names\":\"rk:Cy/rk:Xm\",\"count\":\"count(rk:Cy)\",\"missing\":\"rk:Nope\","
	    "\"members\":{\"xpath\":\"rk:Cy\",\"each\":{\"id_number\":\"rk:Sfzh\",\"relation\":"
	    "\"rk:Gx\"}}}",
	    0, NULL);
	json_t *out = NULL;
	const char *fault = NULL;
	bool server = false;
	/* The answer uses prefix ns2; the map uses rk, declared in the request template. */
	assert_int_equal(
	    gw_soap_parse(answer, strlen(answer), map, NULL, TPL, &out, &fault, &server, &a),
	    ERR_OK);
	assert_string_equal(json_get_str(out, "household_no"), "310104000123");
	assert_string_equal(json_get_str(out, "address"), "徐汇区漕溪北路 1 号");
	json_t *names = json_object_get(out, "names");
	assert_int_equal(json_array_size(names), 2);
	assert_string_equal(json_string_value(json_array_get(names, 1)), "李梅");
	assert_int_equal(json_integer_value(json_object_get(out, "count")), 2);
	assert_true(json_is_null(json_object_get(out, "missing")));
	json_t *m = json_object_get(out, "members");
	assert_int_equal(json_array_size(m), 2);
	assert_string_equal(json_get_str(json_array_get(m, 0), "relation"), "户主");
	assert_string_equal(json_get_str(json_array_get(m, 1), "id_number"), "110105195001010018");
	json_decref(out);

	/* No map: the response element becomes JSON as it is. */
	assert_int_equal(
	    gw_soap_parse(answer, strlen(answer), NULL, NULL, NULL, &out, &fault, &server, &a),
	    ERR_OK);
	assert_string_equal(json_get_str(out, "Hh"), "310104000123");
	assert_int_equal(json_array_size(json_object_get(out, "Cy")), 2);
	json_decref(out);

	/* A broken XPath in the map is a configuration error. */
	json_t *bad = json_loads("{\"x\":\"rk:[\"}", 0, NULL);
	assert_int_equal(
	    gw_soap_parse(answer, strlen(answer), bad, NULL, TPL, &out, &fault, &server, &a),
	    ERR_CONFIG);
	assert_non_null(fault);
	json_decref(bad);
	json_decref(map);
}

static void test_faults(void **state)
{
	(void)state;
	const char *client =
	    "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">"
	    "<soap:Body><soap:Fault><faultcode>soap:Client</faultcode>"
	    "<faultstring>查无此人</faultstring></soap:Fault></soap:Body></soap:Envelope>";
	const char *server =
	    "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">"
	    "<soap:Body><soap:Fault><faultcode>soap:Server</faultcode>"
	    "<faultstring>数据库不可用</faultstring></soap:Fault></soap:Body></soap:Envelope>";
	const char *soap12 =
	    "<e:Envelope xmlns:e=\"http://www.w3.org/2003/05/soap-envelope\"><e:Body>"
	    "<e:Fault><e:Code><e:Value>e:Receiver</e:Value></e:Code><e:Reason>"
	    "<e:Text xml:lang=\"zh\">服务繁忙</e:Text></e:Reason></e:Fault></e:Body></e:Envelope>";
	json_t *out = NULL;
	const char *fault = NULL;
	bool srv = true;
	assert_int_equal(
	    gw_soap_parse(client, strlen(client), NULL, NULL, NULL, &out, &fault, &srv, &a),
	    ERR_UPSTREAM);
	assert_string_equal(fault, "查无此人");
	assert_false(srv);
	assert_null(out);
	assert_int_equal(
	    gw_soap_parse(server, strlen(server), NULL, NULL, NULL, &out, &fault, &srv, &a),
	    ERR_UPSTREAM);
	assert_string_equal(fault, "数据库不可用");
	assert_true(srv);
	assert_int_equal(
	    gw_soap_parse(soap12, strlen(soap12), NULL, NULL, NULL, &out, &fault, &srv, &a),
	    ERR_UPSTREAM);
	assert_string_equal(fault, "服务繁忙");
	assert_true(srv);
}

static void test_not_soap(void **state)
{
	(void)state;
	json_t *out = NULL;
	const char *fault = NULL;
	bool srv = false;
	const char *bad[] = {
	    "{\"json\":true}", "<html><body>502 Bad Gateway</body></html>",
	    "<Envelope><Body><x/></Body></Envelope>", /* no SOAP namespace */
	    ("<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">"
	     "<soap:Body/></soap:Envelope>"), /* empty body */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(
		    gw_soap_parse(bad[i], strlen(bad[i]), NULL, NULL, NULL, &out, &fault, &srv, &a),
		    ERR_INVALID);
}

static void test_external_entity_not_expanded(void **state)
{
	(void)state;
	const char *xxe =
	    "<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
	    "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">"
	    "<soap:Body><r><v>&x;</v></r></soap:Body></soap:Envelope>";
	json_t *out = NULL;
	const char *fault = NULL;
	bool srv = false;
	enum err e = gw_soap_parse(xxe, strlen(xxe), NULL, NULL, NULL, &out, &fault, &srv, &a);
	if (e == ERR_OK) {
		const char *v = json_get_str(out, "v");
		assert_true(v == NULL || strstr(v, "root:") == NULL);
		json_decref(out);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_envelope),
	    cmocka_unit_test(test_parse_with_map),
	    cmocka_unit_test(test_faults),
	    cmocka_unit_test(test_not_soap),
	    cmocka_unit_test(test_external_entity_not_expanded),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
