/* ident.h: identity documents and resident records — the one public header of src/ident/
 * (docs/cases.md "Identity documents" and "Residents").
 *
 * Two parts:
 *   - ident_check: pure validators of document numbers (居民身份证, 港澳台居民居住证, the
 *     2017 and 2023 外国人永久居留身份证, 社会保障卡, 上海市居住证, 医保电子凭证), with
 *     detection, normalisation, derived facts and a precise zh-CN reason on refusal. No I/O,
 *     no globals: the benchmark, the catalog's form checks and the card-reader path share it;
 *   - residents: the records keyed by document (table residents of migration 0011, sealed
 *     columns through src/sensitive/), their relations, and the module with the HTTP routes.
 *
 * Threads: every function may be called from any thread at once. */
#ifndef SHOULI_IDENT_H
#define SHOULI_IDENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

struct server;
struct db_conn;
struct module;

/* ---------------------------------------------------------------------------------------
 * Document numbers (ident_doc.c)
 * ------------------------------------------------------------------------------------- */

/* Document type codes (the catalog's id_doc_type code table). */
#define IDENT_ID     "111"    /* 居民身份证 */
#define IDENT_HMT    "HMT"    /* 港澳台居民居住证 */
#define IDENT_PR2023 "PR2023" /* 外国人永久居留身份证（2023版） */
#define IDENT_PR2017 "PR2017" /* 外国人永久居留身份证（2017版） */
#define IDENT_SSC    "SSC"    /* 社会保障卡: the number is the holder's ID number */
#define IDENT_SHRP   "SHRP"   /* 上海市居住证: keyed on the holder's ID number */
#define IDENT_MEDQR  "MEDQR"  /* 医保电子凭证: an opaque token resolved online */

/* Longest input ident_check looks at (bytes, before trimming); longer is refused. */
#define IDENT_NUMBER_MAX 512

/* The result of one check. Strings are static or allocated from the arena given to
 * ident_check; every member is set (to NULL / "" / -1 when it does not apply). */
struct ident_doc {
	bool valid;
	const char *type;        /* the type checked (detected when none was given); NULL when
	                            detection failed */
	const char *type_name;   /* zh-CN name of type, NULL with type */
	const char *number;      /* normalised: ASCII white space trimmed, 'x' upper-cased (all
	                            letters for PR2017); never NULL (may be "") */
	const char *reason;      /* zh-CN, why the number is refused (NULL when valid), e.g.
	                            "校验位不正确（应为 X）", "第 7 位应为数字",
	                            "出生日期不正确（2023-02-30 不存在）" */
	const char *holder_type; /* the layout the number was checked as: type itself, or for
	                            SSC/SHRP the holder's document (111, HMT or PR2023); the
	                            resident record is keyed on (holder_type, number). NULL for
	                            MEDQR and when the layout is unknown */
	char birth_date[11];     /* "YYYY-MM-DD", "" when not derived */
	char sex[2];             /* "1" 男 / "2" 女 (gender code table), "" when not derived */
	int age;                 /* whole years on today, -1 when not derived */
	const char *region_code; /* 111: the 6-digit address code; HMT: 810000/820000/830000;
	                            PR2023: the 2-digit province of issue; PR2017: the 4-digit
	                            place code; NULL otherwise */
	const char *region_name; /* e.g. "上海市徐汇区", "北京市", "香港" (province, with the
	                            district name for Shanghai's 16 districts); NULL when unknown */
	const char *nationality;      /* PR cards: ISO 3166-1 alpha-3, e.g. "KAZ"; else NULL */
	const char *nationality_name; /* zh-CN, e.g. "哈萨克斯坦"; else NULL */
};

/* Check number as a document of type (a code above; NULL detects it: 18 characters
 * starting 810000/820000/830000 → HMT, starting 9 → PR2023, starting 1–8 → 111, 15
 * characters of 3 letters and 12 digits → PR2017; SSC, SHRP and MEDQR are never
 * detected). today: "YYYY-MM-DD" (China Standard Time) bounding birth dates and giving the
 * age; NULL = the current date. *out is always filled (derived facts even for some refused
 * numbers, e.g. a bad check digit still yields the region).
 * Returns ERR_OK when valid; ERR_INVALID when not (out->reason says why; an unknown type
 * too: "不支持的证件类型“…”"); ERR_NOMEM. number NULL is ERR_INVALID ("请填写证件号码"). */
enum err ident_check(const char *type, const char *number, const char *today, struct arena *a,
                     struct ident_doc *out);

/* zh-CN name of a document type code; NULL when unknown. */
const char *ident_type_name(const char *type);

/* The check as the API shows it: {"valid","type","type_name","number","reason",
 * "holder_type","birth_date","sex","age","region_code","region_name","nationality",
 * "nationality_name"} (absent facts as null). "number" is included only when with_number (the check
 * endpoint leaves it out so that nothing logs it). New reference; NULL when out of memory. */
json_t *ident_doc_json(const struct ident_doc *d, bool with_number);

/* Today's date in China Standard Time as "YYYY-MM-DD" into out. Returns out. */
char *ident_today(char out[11]);

/* ---------------------------------------------------------------------------------------
 * Residents (ident.c, ident_store.c) — for the cases module and the routes
 *
 * PROFILE: the plaintext resident as a JSON object:
 *   {"id", "id_type", "id_type_name", "id_number", "name", "sex", "birth_date", "age",
 *    "nation", "nationality", "phone", "address", "hukou_address", "card_valid_to", "has_photo",
 * "source", "version", "masked": false, "card":
 * {"name","sex","birth_date","nation","address","id_number","photo": bool, "read_at","valid_to"} of
 * the latest card read, or null} Absent facts are null. "address" is the catalog `address` value
 * (an object) or null. A profile holds personal data in clear: never log it, never send it to a
 * caller without ident.read (use ident_view).
 * ------------------------------------------------------------------------------------- */

/* Load resident id on c (inside or outside a transaction). *profile (owned by a) is the
 * PROFILE. ERR_NOT_FOUND, ERR_INTEGRITY (a sealed column does not open), ERR_DB..., ERR_NOMEM. */
enum err ident_resident_get(struct server *srv, struct db_conn *c, struct arena *a, int64_t id,
                            json_t **profile);

/* Find the resident holding document (type, number): the number is normalised; SSC and
 * SHRP resolve to the holder's record (111, HMT or PR2023 by the number's layout); MEDQR
 * cannot be looked up (ERR_INVALID). *id gets the resident's id. ERR_NOT_FOUND when there is
 * none (also for a malformed number: it cannot be stored), ERR_DB.... */
enum err ident_resident_find(struct server *srv, struct db_conn *c, struct arena *a,
                             const char *type, const char *number, int64_t *id);

/* Create or update the resident keyed by profile's (id_type, id_number) inside the caller's
 * open write transaction on c (db_begin_write); the caller commits and audits its own
 * action (this function writes no audit entry). profile (borrowed): "id_type" and
 * "id_number" required (SSC/SHRP resolve to the holder's type); "name" required when the
 * record is new; optional "sex", "birth_date", "nation", "phone", "address" (object),
 * "hukou_address", "card_valid_to". Members present and non-null replace the stored
 * values (sex and birth date default to those derived from the number); the version is
 * bumped when anything changed; last_seen_at is set. source: "card" | "manual" | "evoucher"
 * | "case" (kept from the creation). *id gets the resident's id.
 * ERR_INVALID with ei (may be NULL) naming the member ("id_number", "phone", …) and the
 * reason in zh-CN; ERR_BAD_FIELD for a bad source; ERR_CRYPTO/ERR_CONFIG (keyring),
 * ERR_DB..., ERR_CONFLICT (PostgreSQL serialisation: retry the transaction). */
enum err ident_resident_upsert(struct server *srv, struct db_conn *c, struct arena *a,
                               const json_t *profile, const char *source, int64_t *id,
                               struct errinfo *ei);

/* Does resident_id have related_id as its kind ("guardian" | "agent" | "family"; NULL =
 * any kind) on today (valid_to NULL or not before today; today NULL = the current date)?
 * A relation reads "related_id is the <relation> / <kind> of resident_id". *exists gets the
 * answer. ERR_DB.... */
enum err ident_relation_exists(struct server *srv, struct db_conn *c, struct arena *a,
                               int64_t resident_id, int64_t related_id, const char *kind,
                               const char *today, bool *exists);

/* The resident as an API caller may see it: full (the caller holds ident.read) gives the
 * profile as is; otherwise id_number, name and phone are masked (3101**********123X, 王*芳,
 * 138****5678), address, hukou_address and the card's name/address/id_number are removed,
 * and "masked" is true. profile is borrowed; the result is owned by a (json_object_set it
 * into a response, which takes its own reference). NULL when out of memory. */
json_t *ident_view(struct arena *a, bool full, const json_t *profile);

/* Check a card reader's payload as POST /api/v1/ident/card does (docs/cases.md): card (an
 * object) against the members a reader may send, type_flag (NULL = "0") mapped to a
 * document type by the config ident_reader_flags (*type, static), and the number checked
 * by ident_check into *d. ERR_OK when valid; otherwise ERR_BAD_FIELD / ERR_MISSING_FIELD /
 * ERR_INVALID with ei naming the member ("card.id_number", "type_flag", …) and a zh-CN
 * message from a. Nothing is stored. The 二次读卡 of a video session uses it too. */
enum err ident_card_check(struct server *srv, const char *type_flag, const json_t *card,
                          struct arena *a, const char **type, struct ident_doc *d,
                          struct errinfo *ei);
/* The module: routes of /api/v1/ident/... and /api/v1/residents/... (docs/cases.md). */
extern const struct module ident_module;

#endif
