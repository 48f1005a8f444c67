/* archive_xml.c: the three XML packages of a case and their validation against the XSD
 * (archive/xsd/shouli-archive-v1.xsd), with libxml2.
 *
 * Building never judges content: it writes what the case holds, and archive_validate
 * decides. So a value the archive system would refuse (an empty opinion where one is
 * required, a malformed code) is caught here by the same rules the receiver applies, with
 * the element named, before anything leaves. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/archive_int.h"
#include "core/buf.h"
#include "core/str.h"
#include "core/timeutil.h"
#include "server/server.h"

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void xml_init_once(void)
{
	xmlInitParser();
}

static const struct {
	const char *name, *root;
} parts[ARCHIVE_PARTS] = {
    {"basic", "归档事项基本信息"},
    {"process", "办理流程基本信息"},
    {"files", "电子文件基本信息"},
};

const char *archive_part_name(enum archive_part p)
{
	return (unsigned)p < ARCHIVE_PARTS ? parts[p].name : NULL;
}

const char *archive_part_root(enum archive_part p)
{
	return (unsigned)p < ARCHIVE_PARTS ? parts[p].root : NULL;
}

const char *archive_retention_label(const char *code)
{
	if (!code)
		return NULL;
	if (!strcmp(code, "permanent"))
		return "永久";
	if (!strcmp(code, "30y"))
		return "30年";
	if (!strcmp(code, "10y"))
		return "10年";
	return NULL;
}

int archive_pages_of(const char *mime, const void *data, size_t n)
{
	if (!mime || strcmp(mime, "application/pdf") || !data)
		return 1;
	/* Page objects are "/Type /Page" (spacing varies) not followed by "s" (the /Pages
	 * tree). Objects inside compressed object streams are not seen: such a file still
	 * counts at least one page. */
	static const char key[] = "/Type";
	const char *p = data, *end = p + n;
	int pages = 0;
	while (p < end) {
		const char *hit = memmem(p, (size_t)(end - p), key, sizeof(key) - 1);
		if (!hit)
			break;
		const char *q = hit + sizeof(key) - 1;
		while (q < end && (*q == ' ' || *q == '\r' || *q == '\n' || *q == '\t'))
			q++;
		if (end - q >= 5 && !memcmp(q, "/Page", 5) &&
		    (end - q == 5 ||
		     !((q[5] >= 'a' && q[5] <= 'z') || (q[5] >= 'A' && q[5] <= 'Z'))))
			pages++;
		p = q;
	}
	return pages > 0 ? pages : 1;
}

/* ---- building -------------------------------------------------------------------------- */

/* s with the characters XML 1.0 cannot carry replaced by spaces (a copy in a when needed). */
static const char *xml_text(struct arena *a, const char *s)
{
	if (!s)
		return "";
	size_t n = strlen(s);
	bool bad = false;
	for (size_t i = 0; i < n && !bad; i++) {
		unsigned char ch = (unsigned char)s[i];
		bad = ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r';
	}
	if (!bad)
		return s;
	char *t = arena_strndup(a, s, n);
	if (!t)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)t[i];
		if (ch < 0x20 && ch != '\t' && ch != '\n' && ch != '\r')
			t[i] = ' ';
	}
	return t;
}

struct builder {
	struct arena *a;
	bool failed;
};

static xmlNodePtr add(struct builder *b, xmlNodePtr parent, const char *name, const char *text)
{
	if (b->failed || !parent)
		return NULL;
	const char *t = text ? xml_text(b->a, text) : NULL;
	if (text && !t) {
		b->failed = true;
		return NULL;
	}
	/* xmlNewTextChild escapes &, < and > in t; xmlNewChild would not. */
	xmlNodePtr n = xmlNewTextChild(parent, NULL, BAD_CAST name, t ? BAD_CAST t : NULL);
	if (!n)
		b->failed = true;
	return n;
}

static void add_time(struct builder *b, xmlNodePtr parent, const char *name, int64_t ms)
{
	char iso[32];
	add(b, parent, name, time_iso(ms, iso));
}

static void add_int(struct builder *b, xmlNodePtr parent, const char *name, int64_t v)
{
	char num[24];
	snprintf(num, sizeof(num), "%lld", (long long)v);
	add(b, parent, name, num);
}

static void set_attr(struct builder *b, xmlNodePtr n, const char *name, const char *value)
{
	if (!b->failed && n && !xmlNewProp(n, BAD_CAST name, BAD_CAST value))
		b->failed = true;
}

static void build_basic(struct builder *b, const struct archive_case *ac, xmlNodePtr root)
{
	const char *retention = archive_retention_label(ac->retention);
	add(b, root, "办件编号", ac->case_no);
	add(b, root, "事项名称", ac->item_name);
	add(b, root, "事项基本编码", ac->item_code);
	if (ac->impl_code && ac->impl_code[0])
		add(b, root, "事项实施编码", ac->impl_code);
	add(b, root, "子项名称", ac->sub_item_name);
	add(b, root, "子项编码", ac->sub_item_code);
	add(b, root, "办件类型", ac->case_type == 2 ? "承诺件" : "即办件");
	add(b, root, "档案门类", ac->category);
	/* an unknown code is written as it is, for the XSD to name */
	add(b, root, "保管期限", retention ? retention : (ac->retention ? ac->retention : ""));
	if (ac->package && ac->package[0])
		add(b, root, "归档规范", ac->package);
	xmlNodePtr org = add(b, root, "受理机构", NULL);
	add(b, org, "机构名称", ac->org_name);
	add(b, org, "机构代码", ac->org_code);
	xmlNodePtr who = add(b, root, "申请人", NULL);
	add(b, who, "姓名", ac->applicant_name);
	add(b, who, "证件类型", ac->applicant_id_type);
	add(b, who, "证件号码", ac->applicant_id_number);
	xmlNodePtr t = add(b, root, "办理时间", NULL);
	add_time(b, t, "申请时间", ac->created_ms);
	add_time(b, t, "受理时间", ac->accepted_ms);
	if (ac->promised_date && ac->promised_date[0])
		add(b, t, "承诺办结日期", ac->promised_date);
	add_time(b, t, "办结时间", ac->completed_ms);
	xmlNodePtr r = add(b, root, "办理结果", NULL);
	add(b, r, "结果",
	    !ac->result                       ? ""
	    : !strcmp(ac->result, "approved") ? "准予"
	    : !strcmp(ac->result, "rejected") ? "不予"
	                                      : ac->result);
	add(b, r, "办结意见", ac->opinion ? ac->opinion : "");
	if (ac->cert_no && ac->cert_no[0])
		add(b, r, "证照编号", ac->cert_no);
	add_time(b, root, "归档时间", ac->archived_ms);
}

static void build_process(struct builder *b, const struct archive_case *ac, xmlNodePtr root)
{
	add(b, root, "办件编号", ac->case_no);
	for (size_t i = 0; i < ac->nsteps; i++) {
		const struct archive_step *s = &ac->steps[i];
		char seq[24];
		xmlNodePtr n = add(b, root, "办理环节", NULL);
		snprintf(seq, sizeof(seq), "%zu", i + 1);
		set_attr(b, n, "序号", seq);
		add(b, n, "环节名称", s->name);
		add(b, n, "办理动作", s->action);
		add(b, n, "办理人", s->handler);
		add(b, n, "办理意见", s->opinion ? s->opinion : "");
		add_time(b, n, "开始时间", s->start_ms);
		add_time(b, n, "结束时间", s->end_ms);
	}
}

static void build_files(struct builder *b, const struct archive_case *ac, xmlNodePtr root)
{
	add(b, root, "办件编号", ac->case_no);
	add(b, root, "签名算法", "SM2-with-SM3");
	add(b, root, "签名公钥", ac->sign_pub_hex);
	for (size_t i = 0; i < ac->nfiles; i++) {
		const struct archive_file *f = &ac->files[i];
		char seq[24];
		xmlNodePtr n = add(b, root, "电子文件", NULL);
		snprintf(seq, sizeof(seq), "%zu", i + 1);
		set_attr(b, n, "序号", seq);
		add(b, n, "文件标题", f->title);
		add(b, n, "材料类型", f->material_name);
		add(b, n, "材料编码", f->material_id);
		add(b, n, "文件格式", f->format);
		add_int(b, n, "文件大小", f->size);
		add(b, n, "SM3杂凑值", f->sm3);
		add(b, n, "签名值", f->signature);
		add_time(b, n, "创建时间", f->created_ms);
		add_int(b, n, "页数", f->pages);
		add(b, n, "来源", f->source);
	}
}

enum err archive_doc_build(const struct archive_case *ac, enum archive_part part, struct arena *a,
                           char **xml, size_t *n)
{
	struct builder b = {.a = a};
	xmlChar *mem = NULL;
	int size = 0;
	enum err e = ERR_NOMEM;
	*xml = NULL;
	*n = 0;
	if ((unsigned)part >= ARCHIVE_PARTS)
		return ERR_INVALID;
	pthread_once(&xml_once, xml_init_once);
	xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNodePtr root = doc ? xmlNewNode(NULL, BAD_CAST parts[part].root) : NULL;
	if (!root)
		goto out;
	xmlDocSetRootElement(doc, root);
	set_attr(&b, root, "版本", "1.0");
	if (part == ARCHIVE_BASIC)
		build_basic(&b, ac, root);
	else if (part == ARCHIVE_PROCESS)
		build_process(&b, ac, root);
	else
		build_files(&b, ac, root);
	if (b.failed)
		goto out;
	xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 1);
	if (!mem || size <= 0)
		goto out;
	if (!(*xml = arena_strndup(a, (const char *)mem, (size_t)size)))
		goto out;
	*n = (size_t)size;
	e = ERR_OK;
out:
	xmlFree(mem);
	xmlFreeDoc(doc);
	return e;
}

/* ---- the schema --------------------------------------------------------------------------- */

struct archive_schema {
	xmlSchemaPtr schema;
};

/* Collects the first error of a schema parse or a validation. */
struct first_error {
	bool set;
	char msg[512];
	char path[512];
	char element[128];
	int line;
};

static void trim_copy(char *dst, size_t cap, const char *src)
{
	struct str t = str_trim(str_from(src ? src : ""));
	snprintf(dst, cap, "%.*s", (int)(t.n < cap ? t.n : cap - 1), t.p);
}

static void on_error(void *ctx, xmlErrorPtr err)
{
	struct first_error *fe = ctx;
	if (fe->set || !err)
		return;
	fe->set = true;
	trim_copy(fe->msg, sizeof(fe->msg), err->message);
	fe->line = err->line;
	xmlNodePtr node = err->node;
	if (node && node->type == XML_ELEMENT_NODE) {
		xmlChar *p = xmlGetNodePath(node);
		trim_copy(fe->path, sizeof(fe->path), (const char *)p);
		xmlFree(p);
		trim_copy(fe->element, sizeof(fe->element), (const char *)node->name);
	}
}

enum err archive_schema_load(const char *path, struct archive_schema **out, char *msg, size_t msgsz)
{
	struct first_error fe = {0};
	struct archive_schema *s = NULL;
	xmlSchemaParserCtxtPtr pc = NULL;
	enum err e = ERR_CONFIG;
	*out = NULL;
	if (msg && msgsz)
		msg[0] = 0;
	pthread_once(&xml_once, xml_init_once);
	if (!path || access(path, R_OK) != 0) {
		if (msg)
			snprintf(msg, msgsz, "找不到归档数据包的 XSD 文件 %s", path ? path : "");
		return ERR_CONFIG;
	}
	if (!(pc = xmlSchemaNewParserCtxt(path))) {
		e = ERR_NOMEM;
		goto out;
	}
	xmlSchemaSetParserStructuredErrors(pc, on_error, &fe);
	xmlSchemaPtr schema = xmlSchemaParse(pc);
	if (!schema) {
		if (msg)
			snprintf(msg, msgsz, "归档数据包的 XSD 文件 %s 不正确（第 %d 行：%s）",
			         path, fe.line, fe.msg);
		goto out;
	}
	if (!(s = calloc(1, sizeof(*s)))) {
		xmlSchemaFree(schema);
		e = ERR_NOMEM;
		goto out;
	}
	s->schema = schema;
	*out = s;
	e = ERR_OK;
out:
	xmlSchemaFreeParserCtxt(pc);
	return e;
}

void archive_schema_destroy(struct archive_schema *s)
{
	if (!s)
		return;
	xmlSchemaFree(s->schema);
	free(s);
}

char *archive_xsd_path(const struct server *srv)
{
	const char *m = srv && srv->migrations_dir ? srv->migrations_dir : "migrations";
	size_t n = strlen(m);
	char *p = NULL;
	/* archive/ sits next to migrations/, as calendar/ and catalog/ do */
	if (n >= 10 && !strcmp(m + n - 10, "migrations")) {
		if (asprintf(&p, "%.*s" ARCHIVE_XSD_REL, (int)(n - 10), m) >= 0)
			return p;
		return NULL;
	}
	return strdup(ARCHIVE_XSD_REL);
}

enum err archive_validate(const struct archive_schema *s, const void *xml, size_t n,
                          struct arena *a, struct errinfo *ei)
{
	struct first_error fe = {0};
	xmlParserCtxtPtr pc = NULL;
	xmlSchemaValidCtxtPtr vc = NULL;
	xmlDocPtr doc = NULL;
	enum err e = ERR_NOMEM;
	pthread_once(&xml_once, xml_init_once);
	if (!s || !xml || n > INT32_MAX)
		return ERR_INTERNAL;
	if (!(pc = xmlNewParserCtxt()))
		goto out;
	doc = xmlCtxtReadMemory(pc, xml, (int)n, NULL, "UTF-8",
	                        XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (!doc) {
		xmlErrorPtr pe = xmlCtxtGetLastError(pc);
		trim_copy(fe.msg, sizeof(fe.msg), pe ? pe->message : "");
		ei->code = ERR_INVALID;
		ei->field = "xml";
		ei->msg = arena_printf(a, "归档数据包不是格式正确的 XML（第 %d 行：%s）",
		                       pe ? pe->line : 0, fe.msg);
		e = ERR_INVALID;
		goto out;
	}
	if (!(vc = xmlSchemaNewValidCtxt(s->schema)))
		goto out;
	xmlSchemaSetValidStructuredErrors(vc, on_error, &fe);
	int rc = xmlSchemaValidateDoc(vc, doc);
	if (rc == 0) {
		e = ERR_OK;
		goto out;
	}
	if (rc < 0) {
		e = ERR_INTERNAL;
		goto out;
	}
	ei->code = ERR_INVALID;
	ei->field = fe.path[0] ? arena_strdup(a, fe.path) : "xml";
	ei->msg = arena_printf(a, "归档数据包不符合 XSD：元素“%s”不符合要求（第 %d 行）：%s",
	                       fe.element[0] ? fe.element : "?", fe.line, fe.msg);
	e = ERR_INVALID;
out:
	xmlSchemaFreeValidCtxt(vc);
	xmlFreeDoc(doc);
	xmlFreeParserCtxt(pc);
	return e;
}
