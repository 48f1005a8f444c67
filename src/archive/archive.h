/* archive.h: the electronic archive (电子归档) of completed cases — docs/archive.md.
 *
 * A completed case of a sub-item whose catalog entry says archive.required is archived as
 * three XML packages, per archive/xsd/shouli-archive-v1.xsd:
 *   basic    归档事项基本信息  item, codes, case number, applicant, times, result, retention
 *   process  办理流程基本信息  one 办理环节 per timeline row of the case
 *   files    电子文件基本信息  one 电子文件 per material file: SM3 and the archive key's SM2
 *            signature of it
 * Each is validated against the XSD before it leaves, then the three go to the archive
 * system through the gateway flow dangan.package_submit, from the outbox (kind
 * archive.package), and the system's receipt is kept in archive_packages (migration 0016).
 *
 * The signing key: the centre has no key of its own yet and the key ring holds no SM2 key,
 * so the archive signs with keys/archive-sm2.pem under the data directory (PKCS#8, mode
 * 0600), made on first use. Its public point goes into every files package (签名公钥).
 *
 * Threads: every function may be called from any thread. */
#ifndef SHOULI_ARCHIVE_H
#define SHOULI_ARCHIVE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

struct server;
struct db_conn;
struct principal;

/* ---- the packages ------------------------------------------------------------------- */

enum archive_part { ARCHIVE_BASIC, ARCHIVE_PROCESS, ARCHIVE_FILES, ARCHIVE_PARTS };

/* "basic", "process", "files" (the members of the flow's packages object). */
const char *archive_part_name(enum archive_part p);
/* The package's root element: 归档事项基本信息, 办理流程基本信息, 电子文件基本信息. */
const char *archive_part_root(enum archive_part p);

struct archive_package {
	char *xml;    /* UTF-8 XML document, NUL-terminated; memory of the caller's arena */
	size_t len;   /* bytes of xml */
	char sm3[65]; /* hex SM3 of the len bytes */
};

struct archive_packages {
	struct archive_package part[ARCHIVE_PARTS];
	int nsteps, nfiles; /* 办理环节 and 电子文件 in the packages */
};

/* ---- the schema ---------------------------------------------------------------------- */

/* A compiled XSD. Immutable once loaded: several threads may validate with it at once. */
struct archive_schema;

/* Compile the XSD at path. ERR_CONFIG (the reason in msg, zh-CN, for the operator) when the
 * file is missing or not a valid schema; ERR_NOMEM. */
enum err archive_schema_load(const char *path, struct archive_schema **out, char *msg,
                             size_t msgsz);
/* NULL is allowed. */
void archive_schema_destroy(struct archive_schema *s);

/* The path of the XSD the server uses: archive/xsd/shouli-archive-v1.xsd next to the
 * migrations directory (heap string; NULL when out of memory). */
char *archive_xsd_path(const struct server *srv);

/* Validate the XML document xml[0..n) against s. ERR_OK when it is valid. ERR_INVALID when
 * it is not well-formed or not valid: ei->field is the path of the first offending element
 * (e.g. "/电子文件基本信息/电子文件[1]/SM3杂凑值"; for a missing child, the parent's path),
 * ei->msg (from a) names the element and says what is wrong, in Chinese with libxml2's
 * detail. ERR_NOMEM. */
enum err archive_validate(const struct archive_schema *s, const void *xml, size_t n,
                          struct arena *a, struct errinfo *ei);

/* ---- building ------------------------------------------------------------------------- */

/* Build and validate the three packages of the case numbered case_no (no scope check: the
 * caller checked). Reads on c (in or outside a transaction; NULL = a pool connection taken
 * and released here); reads and verifies every file of the case's materials (files_read
 * checks the stored SM3), signs each file's SM3 with the archive key, and validates each
 * package against the server's XSD. No network. Memory from a (the files are read into
 * it one at a time: give it room for the largest file).
 * Errors: ERR_NOT_FOUND (no such case); ERR_BAD_STATE (not completed, or its sub-item has
 * no archive.required) with ei->msg; ERR_INVALID with ei naming the element (a package
 * fails the XSD, or a case without files: ei->field "files"); ERR_INTEGRITY (a file does
 * not verify: ei->msg names it); ERR_CONFIG (XSD or signing key unusable); ERR_DB...,
 * ERR_IO, ERR_NOMEM. */
enum err archive_build(struct server *srv, struct db_conn *c, struct arena *a, const char *case_no,
                       struct archive_packages *out, struct errinfo *ei);

/* ---- requests (the routes call these; so may the lead's automatic trigger) ----------- */

/* Ask for the case to be archived: inside one write unit, check that the case is within
 * who's scope (who NULL: no check), completed, of a sub-item with archive.required, and not
 * archived or being archived; then upsert its archive_packages row to 'pending', append the
 * audit entry case.archive and enqueue the outbox event archive.package (payload {case_no,
 * case_id, attempt}). The outbox is woken after the commit. *out (new reference, may be
 * NULL): the archive state as archive_status gives it.
 * Errors: ERR_NOT_FOUND; ERR_BAD_STATE (409) with ei->msg saying why (办件尚未办结, 该事项
 * 无需电子归档, 已归档, 正在归档); ERR_DB.... client_ip and trace_id may be NULL. */
enum err archive_request(struct server *srv, const struct principal *who, const char *client_ip,
                         const char *trace_id, struct arena *a, const char *case_no, json_t **out,
                         struct errinfo *ei);

/* The archive state of a case: {"case_no","required","status" (null when never requested;
 * "pending" | "received" | "rejected" | "invalid"),"status_label","attempt","receipt_no",
 * "checks","error","packages":{"basic":{"size","sm3"},…} (null before a build),"files",
 * "steps","requested_at","received_at","updated_at"}. ERR_NOT_FOUND outside who's scope. */
enum err archive_status(struct server *srv, const struct principal *who, struct arena *a,
                        const char *case_no, json_t **out);

/* The module: the outbox handler of archive.package, the signing key made at start, and
 * POST / GET /api/v1/cases/{no}/archive (case.accept / case.read). */
extern const struct module archive_module;

#endif
