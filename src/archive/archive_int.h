/* archive_int.h: what the parts of src/archive/ share (other modules use archive.h).
 *
 * archive_xml.c turns a case's facts (struct archive_case, plain data) into the three XML
 * documents and validates them against the XSD; archive.c gathers the facts from the
 * database, the catalog and the file store and signs the files; archive_http.c holds the
 * requests, the outbox handler, the routes and the module. */
#ifndef SHOULI_ARCHIVE_INT_H
#define SHOULI_ARCHIVE_INT_H

#include <stdint.h>

#include "archive/archive.h"

#define ARCHIVE_EVENT_KIND "archive.package"
#define ARCHIVE_FLOW       "dangan.package_submit"
#define ARCHIVE_XSD_REL    "archive/xsd/shouli-archive-v1.xsd"
#define ARCHIVE_KEY_FILE   "archive-sm2.pem" /* under <data dir>/keys/ */

/* One 办理环节: a row of the case's timeline. */
struct archive_step {
	const char *name;   /* 环节名称: 新建, 受理, 办结… */
	const char *action; /* 办理动作: the timeline's action code (open, accept, complete…) */
	const char *handler; /* 办理人: the clerk's name */
	const char *opinion; /* 办理意见 ("" when none) */
	int64_t start_ms, end_ms;
};

/* One 电子文件: a file of the case's materials. */
struct archive_file {
	const char *title;         /* 文件标题 */
	const char *material_name; /* 材料类型: the material's name in the sub-item */
	const char *material_id;   /* 材料编码 */
	const char *format;        /* JPEG | PNG | PDF | JSON */
	int64_t size;
	const char *sm3;       /* 64 lower-case hex */
	const char *signature; /* base64 DER SM2 signature of the 32 SM3 bytes */
	int64_t created_ms;
	int pages;
	const char *source; /* scan | upload | kiosk_photo | e_cert */
};

/* Everything the packages say about one case. Strings are borrowed (any arena). */
struct archive_case {
	const char *case_no;
	const char *item_name, *item_code, *impl_code; /* impl_code may be NULL */
	const char *sub_item_name, *sub_item_code;
	int case_type;         /* 1 即办件, 2 承诺件 */
	const char *category;  /* 档案门类 (catalog archive.category) */
	const char *retention; /* permanent | 30y | 10y (catalog) */
	const char *package;   /* 归档规范 (catalog archive.package), may be NULL */
	const char *org_name, *org_code;
	const char *applicant_name, *applicant_id_type, *applicant_id_number;
	int64_t created_ms, accepted_ms, completed_ms;
	const char *promised_date;     /* YYYY-MM-DD or NULL */
	const char *result;            /* approved | rejected */
	const char *opinion, *cert_no; /* cert_no may be NULL */
	int64_t archived_ms;
	const char *sign_pub_hex; /* 130 hex digits: 04 || X || Y */
	const struct archive_step *steps;
	size_t nsteps;
	const struct archive_file *files;
	size_t nfiles;
};

/* Serialise part of ac as a UTF-8 XML document (indented, with the XML declaration) into
 * *xml / *n (memory of a, NUL-terminated). Text is written as given, minus the characters
 * XML 1.0 cannot carry (C0 controls other than tab, line feed and carriage return become
 * spaces); no check of content here: archive_validate is the judge. ERR_NOMEM,
 * ERR_INVALID for a bad part. */
enum err archive_doc_build(const struct archive_case *ac, enum archive_part part, struct arena *a,
                           char **xml, size_t *n);

/* The catalog's retention code as the XSD writes it: 永久, 30年, 10年; NULL for others. */
const char *archive_retention_label(const char *code);

/* Pages of a stored file: PDF page objects counted; images and JSON are one page. */
int archive_pages_of(const char *mime, const void *data, size_t n);

/* The archive signing key of srv's data directory, made (mode 0600, fsynced) when absent.
 * Caller destroys it (crypto_sm2_destroy). ERR_CONFIG when the file is unusable (not a
 * regular file, readable by group or others, not an SM2 private key); ERR_IO. */
struct crypto_sm2_key;
enum err archive_key_load(const struct server *srv, struct crypto_sm2_key **out);

#endif
