/* ident_store.c: the SQL of residents, relations and document reads (migration 0011).
 *
 * Sealed columns are opened here; a blob that does not open is ERR_INTEGRITY (logged with
 * the row id, never the value). Lookups by document go through the blind index. */
#include "ident/ident_int.h"

#include <string.h>

#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "db/db.h"
#include "sensitive/sensitive.h"
#include "server/server.h"

#define ROW_COLS                                                                                   \
	"id, id_type, id_number_enc, name_enc, sex, birth_date, nation, nationality, phone_enc,"   \
	" address_enc, hukou_address_enc, card_valid_to, photo_file_id, source, last_seen_at,"     \
	" created_at, updated_at, version"

/* Open cell (r, col) sealed under column; *out NULL for a NULL cell. */
static enum err open_cell(struct server *srv, struct arena *a, const struct db_rows *rs, int r,
                          int col, const char *column, const char **out)
{
	const struct db_val *v = db_cell(rs, r, col);
	*out = NULL;
	if (v->type == DB_NULL)
		return ERR_OK;
	enum err e = sensitive_open(srv->keys, column, v->p, v->n, a, out);
	if (e == ERR_INTEGRITY)
		log_error("security.integrity", "%s of row %lld does not open", column,
		          (long long)db_int(rs, r, 0));
	return e;
}

static const char *text_or_null(const struct db_rows *rs, int r, int c, struct arena *a)
{
	return db_is_null(rs, r, c) ? NULL : arena_strdup(a, db_text(rs, r, c));
}

enum err ident_store_load(struct server *srv, struct db_conn *c, struct arena *a, int64_t id,
                          struct ident_row *out)
{
	struct db_rows *rs = NULL;
	const char *addr = NULL;
	enum err e = db_exec(c, a, &rs, "SELECT " ROW_COLS " FROM residents WHERE id = ?", "i", id);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	memset(out, 0, sizeof(*out));
	out->id = db_int(rs, 0, 0);
	out->id_type = text_or_null(rs, 0, 1, a);
	if ((e = open_cell(srv, a, rs, 0, 2, "residents.id_number", &out->id_number)) ||
	    (e = open_cell(srv, a, rs, 0, 3, "residents.name", &out->name)) ||
	    (e = open_cell(srv, a, rs, 0, 8, "residents.phone", &out->phone)) ||
	    (e = open_cell(srv, a, rs, 0, 9, "residents.address", &addr)) ||
	    (e = open_cell(srv, a, rs, 0, 10, "residents.hukou_address", &out->hukou_address)))
		return e;
	out->sex = text_or_null(rs, 0, 4, a);
	out->birth_date = text_or_null(rs, 0, 5, a);
	out->nation = text_or_null(rs, 0, 6, a);
	out->nationality = text_or_null(rs, 0, 7, a);
	out->card_valid_to = text_or_null(rs, 0, 11, a);
	out->photo_file_id = db_int(rs, 0, 12);
	out->source = text_or_null(rs, 0, 13, a);
	out->last_seen_at = db_int(rs, 0, 14);
	out->created_at = db_int(rs, 0, 15);
	out->updated_at = db_int(rs, 0, 16);
	out->version = db_int(rs, 0, 17);
	if (addr) {
		json_t *j = NULL;
		if (json_parse(addr, strlen(addr), &j, a, NULL) != ERR_OK) {
			log_error("security.integrity", "residents.address of row %lld is not JSON",
			          (long long)id);
			return ERR_INTEGRITY;
		}
		out->address = json_arena_own(a, j);
	}
	return ERR_OK;
}

enum err ident_store_find(struct server *srv, struct db_conn *c, struct arena *a,
                          const char *id_type, const char *number, int64_t *id)
{
	struct db_rows *rs = NULL;
	const char *bidx = sensitive_bidx(srv->keys, "residents.id_number", number, a);
	if (!bidx)
		return ERR_NOT_FOUND;
	enum err e =
	    db_exec(c, a, &rs, "SELECT id FROM residents WHERE id_type = ? AND id_number_bidx = ?",
	            "ss", id_type, bidx);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	*id = db_int(rs, 0, 0);
	return ERR_OK;
}

enum err ident_store_card(struct server *srv, struct db_conn *c, struct arena *a, int64_t id,
                          struct ident_card *out)
{
	struct db_rows *rs = NULL;
	const char *plain = NULL;
	memset(out, 0, sizeof(*out));
	enum err e = db_exec(c, a, &rs,
	                     "SELECT id, card_enc, photo_file_id, created_at FROM ident_reads"
	                     " WHERE resident_id = ? AND method = 'card' ORDER BY id DESC LIMIT 1",
	                     "i", id);
	if (e || rs->nrows == 0)
		return e;
	if ((e = open_cell(srv, a, rs, 0, 1, "ident_reads.card", &plain)))
		return e;
	out->read_id = db_int(rs, 0, 0);
	out->photo_file_id = db_int(rs, 0, 2);
	out->created_at = db_int(rs, 0, 3);
	if (plain) {
		json_t *j = NULL;
		if (json_parse(plain, strlen(plain), &j, a, NULL) != ERR_OK)
			return ERR_INTEGRITY;
		out->card = json_arena_own(a, j);
	}
	return ERR_OK;
}

/* The sealed values of a row, ready to bind. */
struct sealed {
	const void *idn, *name, *phone, *addr, *hukou;
	size_t idn_n, name_n, phone_n, addr_n, hukou_n;
	const char *idn_bidx, *phone_bidx;
};

static enum err seal_row(struct server *srv, struct arena *a, const struct ident_row *row,
                         struct sealed *s)
{
	const char *addr = NULL;
	enum err e;
	memset(s, 0, sizeof(*s));
	if (row->address && !(addr = json_dump_arena(row->address, a)))
		return ERR_NOMEM;
	if ((e = ident_seal(srv, a, "residents.id_number", row->id_number, &s->idn, &s->idn_n,
	                    &s->idn_bidx)) ||
	    (e = ident_seal(srv, a, "residents.name", row->name, &s->name, &s->name_n, NULL)) ||
	    (e = ident_seal(srv, a, "residents.phone", row->phone, &s->phone, &s->phone_n,
	                    &s->phone_bidx)) ||
	    (e = ident_seal(srv, a, "residents.address", addr, &s->addr, &s->addr_n, NULL)) ||
	    (e = ident_seal(srv, a, "residents.hukou_address", row->hukou_address, &s->hukou,
	                    &s->hukou_n, NULL)))
		return e;
	return ERR_OK;
}

/* A blob parameter, or NULL when p is NULL. */
static struct db_val blob(const void *p, size_t n)
{
	struct db_val v = {.type = p ? DB_BLOB : DB_NULL, .p = p, .n = n};
	return v;
}

static struct db_val text(const char *s)
{
	struct db_val v = {.type = s ? DB_TEXT : DB_NULL, .p = s, .n = s ? strlen(s) : 0};
	return v;
}

static struct db_val integer(int64_t i)
{
	struct db_val v = {.type = DB_INT, .i = i};
	return v;
}

static struct db_val int_or_null(int64_t i)
{
	struct db_val v = {.type = i > 0 ? DB_INT : DB_NULL, .i = i};
	return v;
}

enum err ident_store_insert(struct server *srv, struct db_conn *c, struct arena *a,
                            const struct ident_row *row, int64_t *id)
{
	struct sealed s;
	struct db_rows *rs = NULL;
	enum err e = seal_row(srv, a, row, &s);
	if (e)
		return e;
	const struct db_val p[] = {
	    text(row->id_type),       blob(s.idn, s.idn_n),
	    text(s.idn_bidx),         blob(s.name, s.name_n),
	    text(row->sex),           text(row->birth_date),
	    text(row->nation),        text(row->nationality),
	    blob(s.phone, s.phone_n), text(s.phone_bidx),
	    blob(s.addr, s.addr_n),   blob(s.hukou, s.hukou_n),
	    text(row->card_valid_to), int_or_null(row->photo_file_id),
	    text(row->source),        integer(row->last_seen_at),
	    integer(row->created_at), integer(row->created_at),
	};
	e = db_execv(
	    c, a, &rs,
	    "INSERT INTO residents (id_type, id_number_enc, id_number_bidx, name_enc, sex,"
	    " birth_date, nation, nationality, phone_enc, phone_bidx, address_enc,"
	    " hukou_address_enc, card_valid_to, photo_file_id, source, last_seen_at,"
	    " created_at, updated_at, version)"
	    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) RETURNING id",
	    p, (int)(sizeof(p) / sizeof(p[0])));
	if (!e)
		*id = db_int(rs, 0, 0);
	return e;
}

enum err ident_store_update(struct server *srv, struct db_conn *c, struct arena *a,
                            const struct ident_row *row)
{
	struct sealed s;
	struct db_rows *rs = NULL;
	enum err e = seal_row(srv, a, row, &s);
	if (e)
		return e;
	const struct db_val p[] = {
	    blob(s.name, s.name_n),
	    text(row->sex),
	    text(row->birth_date),
	    text(row->nation),
	    text(row->nationality),
	    blob(s.phone, s.phone_n),
	    text(s.phone_bidx),
	    blob(s.addr, s.addr_n),
	    blob(s.hukou, s.hukou_n),
	    text(row->card_valid_to),
	    int_or_null(row->photo_file_id),
	    integer(row->last_seen_at),
	    integer(row->updated_at),
	    integer(row->id),
	    integer(row->version),
	};
	e = db_execv(c, a, &rs,
	             "UPDATE residents SET name_enc = ?, sex = ?, birth_date = ?, nation = ?,"
	             " nationality = ?, phone_enc = ?, phone_bidx = ?, address_enc = ?,"
	             " hukou_address_enc = ?, card_valid_to = ?, photo_file_id = ?,"
	             " last_seen_at = ?, updated_at = ?, version = version + 1"
	             " WHERE id = ? AND version = ?",
	             p, (int)(sizeof(p) / sizeof(p[0])));
	if (!e && rs->changes != 1)
		e = ERR_CONFLICT;
	return e;
}

enum err ident_store_seen(struct db_conn *c, struct arena *a, int64_t id, int64_t now)
{
	return db_exec(c, a, NULL, "UPDATE residents SET last_seen_at = ? WHERE id = ?", "ii", now,
	               id);
}

enum err ident_store_photo(struct db_conn *c, struct arena *a, int64_t id, int64_t file_id)
{
	return db_exec(c, a, NULL, "UPDATE residents SET photo_file_id = ? WHERE id = ?", "ii",
	               file_id, id);
}

enum err ident_store_read_insert(struct server *srv, struct db_conn *c, struct arena *a,
                                 const struct ident_read_rec *rec, int64_t *read_id)
{
	struct db_rows *rs = NULL;
	const void *card = NULL;
	size_t card_n = 0;
	enum err e;
	if (rec->card) {
		const char *plain = json_dump_arena(rec->card, a);
		if (!plain)
			return ERR_NOMEM;
		if ((e = ident_seal(srv, a, "ident_reads.card", plain, &card, &card_n, NULL)))
			return e;
	}
	const struct db_val p[] = {
	    integer(rec->resident_id),
	    text(rec->method),
	    text(rec->id_type),
	    text(rec->reader),
	    text(rec->type_flag),
	    blob(card, card_n),
	    int_or_null(rec->photo_file_id),
	    text(rec->reason),
	    int_or_null(rec->clerk_id),
	    int_or_null(rec->org_id),
	    integer(time_now_ms()),
	};
	e = db_execv(c, a, &rs,
	             "INSERT INTO ident_reads (resident_id, method, id_type, reader, type_flag,"
	             " card_enc, photo_file_id, reason, clerk_id, org_id, created_at)"
	             " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
	             p, (int)(sizeof(p) / sizeof(p[0])));
	if (!e)
		*read_id = db_int(rs, 0, 0);
	return e;
}

enum err ident_store_relations(struct db_conn *c, struct arena *a, int64_t id, json_t **out)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT id, resident_id, related_id, relation, kind, valid_to,"
	                     " created_at FROM resident_relations"
	                     " WHERE resident_id = ? OR related_id = ? ORDER BY id",
	                     "ii", id, id);
	if (e)
		return e;
	json_t *arr = json_arena_own(a, json_array());
	if (!arr)
		return ERR_NOMEM;
	for (int i = 0; i < rs->nrows; i++) {
		json_t *o =
		    json_pack("{s:I,s:I,s:I,s:s,s:s,s:o,s:I}", "id", (json_int_t)db_int(rs, i, 0),
		              "resident_id", (json_int_t)db_int(rs, i, 1), "related_id",
		              (json_int_t)db_int(rs, i, 2), "relation", db_text(rs, i, 3), "kind",
		              db_text(rs, i, 4), "valid_to",
		              db_is_null(rs, i, 5) ? json_null() : json_string(db_text(rs, i, 5)),
		              "created_at", (json_int_t)db_int(rs, i, 6));
		if (!o || json_array_append_new(arr, o))
			return ERR_NOMEM;
	}
	*out = arr;
	return ERR_OK;
}

enum err ident_store_relation_add(struct db_conn *c, struct arena *a, int64_t resident_id,
                                  int64_t related_id, const char *relation, const char *kind,
                                  const char *valid_to, int64_t clerk_id, int64_t *rel_id)
{
	struct db_rows *rs = NULL;
	const struct db_val p[] = {
	    integer(resident_id), integer(related_id),   text(relation),         text(kind),
	    text(valid_to),       int_or_null(clerk_id), integer(time_now_ms()),
	};
	enum err e = db_execv(c, a, &rs,
	                      "INSERT INTO resident_relations (resident_id, related_id, relation,"
	                      " kind, valid_to, created_by, created_at)"
	                      " VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
	                      p, (int)(sizeof(p) / sizeof(p[0])));
	if (!e)
		*rel_id = db_int(rs, 0, 0);
	return e;
}

enum err ident_store_relation_delete(struct db_conn *c, struct arena *a, int64_t id, int64_t rel_id,
                                     int64_t *related_id)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT resident_id, related_id FROM resident_relations"
	                     " WHERE id = ? AND (resident_id = ? OR related_id = ?)",
	                     "iii", rel_id, id, id);
	if (e)
		return e;
	if (rs->nrows != 1)
		return ERR_NOT_FOUND;
	*related_id = db_int(rs, 0, 0) == id ? db_int(rs, 0, 1) : db_int(rs, 0, 0);
	return db_exec(c, a, NULL, "DELETE FROM resident_relations WHERE id = ?", "i", rel_id);
}
