/* ident_int.h: what the parts of src/ident/ share (other modules use ident.h).
 *
 * The parts: ident_doc.c (document numbers), ident_iso3166.c (the country table),
 * ident.c (residents: profiles, views, reader flags, upsert), ident_store.c (SQL),
 * ident_http.c (routes and handlers). */
#ifndef SHOULI_IDENT_INT_H
#define SHOULI_IDENT_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/json.h"
#include "http/http.h"
#include "ident/ident.h"

struct server;
struct db_conn;
struct principal;

/* ---- reference data (ident_doc.c, ident_iso3166.c) ---- */

struct ident_country {
	int numeric;        /* ISO 3166-1 numeric */
	const char *alpha3; /* ISO 3166-1 alpha-3 */
	const char *name;   /* zh-CN short name */
};

size_t ident_country_count(void);
const struct ident_country *ident_country_by_numeric(int numeric);
/* alpha3: exactly three upper-case letters; NULL when unknown. */
const struct ident_country *ident_country_by_alpha3(const char *alpha3);

/* GB/T 2260 province-level name of a 2-digit code (11–15, 21–23, 31–37, 41–46, 50–54,
 * 61–65, 71, 81–83); NULL when unknown. */
const char *ident_province_name(int code);
/* The region name of a 6-digit address code: "上海市徐汇区" for Shanghai's 16 districts,
 * else the province name; NULL when the province is unknown. */
const char *ident_region_name(const char *code6);

/* Days since 1970-01-01 of a proleptic Gregorian date (any year). */
int64_t ident_days_from_civil(int y, int m, int d);
/* Parse "YYYY-MM-DD" (a real date). */
bool ident_date_parse(const char *s, int *y, int *m, int *d);

/* ---- card readers (ident.c) ---- */

/* Default of the config key ident_reader_flags. */
#define IDENT_READER_FLAGS_DEFAULT "0=111,1=PR2017,I=PR2017,2=HMT,J=HMT,3=PR2023,Y=PR2023,S=SSC"

/* Check a flags mapping ("flag=type,…": flags 1–8 printable ASCII characters, types among
 * 111 HMT PR2023 PR2017 SSC SHRP). ERR_CONFIG with msg naming the bad entry. */
enum err ident_flags_check(const char *map, char *msg, size_t msgsz);
/* The document type flag maps to under map (a static type code), or NULL when the flag is
 * not listed. flag NULL or "" means "0". */
const char *ident_flags_lookup(const char *map, const char *flag);

/* ---- residents (ident.c) ---- */

/* The values of a resident row, decrypted. Strings from the arena; NULL when not set. */
struct ident_row {
	int64_t id;
	const char *id_type, *id_number, *name, *sex, *birth_date, *nation, *nationality;
	const char *phone, *hukou_address, *card_valid_to, *source;
	json_t *address; /* parsed (owned by the arena) or NULL */
	int64_t photo_file_id;
	int64_t last_seen_at, created_at, updated_at, version;
};

/* The latest card read of a resident, decrypted (card payload without the photo). */
struct ident_card {
	int64_t read_id;
	int64_t photo_file_id;
	int64_t created_at;
	json_t *card; /* owned by the arena; NULL when the resident has no card read */
};

/* Build PROFILE (ident.h) from a row and the latest card read; owned by a. */
json_t *ident_profile_json(struct arena *a, const struct ident_row *row,
                           const struct ident_card *card);

/* Apply the members of p (borrowed; a closed set: name, sex, birth_date, card_valid_to,
 * nation, nationality, phone, hukou_address, address; id_type, id_number and version are
 * skipped, null members too) to row after validating each: strings in row point into a
 * afterwards. *changed is set when a value differs from the row's. ERR_INVALID with ei
 * (field = prefix + member, zh-CN message), ERR_NOMEM. */
enum err ident_row_apply(struct server *srv, struct arena *a, struct ident_row *row,
                         const json_t *p, const char *prefix, bool *changed, struct errinfo *ei);
/* Is code an entry of the catalog code table `table`? true as well when the catalog holds no
 * such table (nothing imported, or the module not running); false for NULL. */
bool ident_code_known(struct server *srv, const char *table, const char *code);

/* Sealed columns: seal plain (NULL → *blob NULL) / open a cell. */
enum err ident_seal(struct server *srv, struct arena *a, const char *column, const char *plain,
                    const void **blob, size_t *n, const char **bidx);

/* ---- SQL (ident_store.c) ---- */

/* Load and decrypt resident id (ERR_NOT_FOUND). */
enum err ident_store_load(struct server *srv, struct db_conn *c, struct arena *a, int64_t id,
                          struct ident_row *out);
/* The id of the resident (holder type, number); ERR_NOT_FOUND. */
enum err ident_store_find(struct server *srv, struct db_conn *c, struct arena *a,
                          const char *id_type, const char *number, int64_t *id);
/* The latest card read of resident id (out->card NULL when none). */
enum err ident_store_card(struct server *srv, struct db_conn *c, struct arena *a, int64_t id,
                          struct ident_card *out);
/* Insert a new resident from row (id ignored; version 1); *id gets the new id. */
enum err ident_store_insert(struct server *srv, struct db_conn *c, struct arena *a,
                            const struct ident_row *row, int64_t *id);
/* Write every column of row and set version = row->version + 1 where the stored version is
 * still row->version (ERR_CONFLICT otherwise). */
enum err ident_store_update(struct server *srv, struct db_conn *c, struct arena *a,
                            const struct ident_row *row);
/* Touch last_seen_at only. */
enum err ident_store_seen(struct db_conn *c, struct arena *a, int64_t id, int64_t now);

/* One row of ident_reads. card (may be NULL) is sealed; reason / reader / flag may be NULL. */
struct ident_read_rec {
	int64_t resident_id;
	const char *method; /* card | manual | evoucher */
	const char *id_type;
	const char *reader, *type_flag, *reason;
	const json_t *card;
	int64_t photo_file_id; /* 0 = none */
	int64_t clerk_id, org_id;
};
enum err ident_store_read_insert(struct server *srv, struct db_conn *c, struct arena *a,
                                 const struct ident_read_rec *rec, int64_t *read_id);

/* Relations of resident id (both directions), as JSON array of {"id","resident_id",
 * "related_id","relation","kind","valid_to","created_at"}; owned by a. */
enum err ident_store_relations(struct db_conn *c, struct arena *a, int64_t id, json_t **out);
enum err ident_store_relation_add(struct db_conn *c, struct arena *a, int64_t resident_id,
                                  int64_t related_id, const char *relation, const char *kind,
                                  const char *valid_to, int64_t clerk_id, int64_t *rel_id);
/* Set the resident's current card photo (no version bump: not an edit of the record). */
enum err ident_store_photo(struct db_conn *c, struct arena *a, int64_t id, int64_t file_id);

/* Delete relation rel_id of resident id (either side); ERR_NOT_FOUND. *related_id gets the
 * other party. */
enum err ident_store_relation_delete(struct db_conn *c, struct arena *a, int64_t id, int64_t rel_id,
                                     int64_t *related_id);

/* ---- HTTP (ident_http.c, ident_residents.c) ---- */

#define IDENT_DB_WAIT_MS 5000 /* db_acquire timeout of the handlers */

/* db_acquire for a handler (a busy pool is recorded on r). */
enum err ident_acquire(struct req *r, struct db_conn **c);
/* audit_append of action on resident:<resident_id> with detail (stolen; may be NULL) inside
 * the open write transaction on c; actor, address and trace from r. */
enum err ident_audit(struct req *r, struct db_conn *c, const char *action, int64_t resident_id,
                     json_t *detail);
/* req_fail from ei, with prefix (may be NULL) before the field name. Returns e. */
enum err ident_fail_ei(struct req *r, enum err e, const struct errinfo *ei, const char *prefix);

extern const struct json_field ident_update_body[];
extern const struct json_field ident_relation_body[];
enum err ident_h_find(struct req *r, struct resp *w);
enum err ident_h_get(struct req *r, struct resp *w);
enum err ident_h_update(struct req *r, struct resp *w);
enum err ident_h_photo(struct req *r, struct resp *w);
enum err ident_h_relations(struct req *r, struct resp *w);
enum err ident_h_relation_add(struct req *r, struct resp *w);
enum err ident_h_relation_delete(struct req *r, struct resp *w);

#endif
