/* archive.c: gathering a completed case's facts for its archive packages — the case row, the
 * pinned catalog entry, the timeline, the materials and their files — and the archive
 * signing key (docs/archive.md).
 *
 * Archiving is "collect → arrange → check → package → checksum → transfer": this file
 * collects and checks (every file is read back through files_read, which verifies its SM3,
 * so a package never vouches for a blob that has rotted), archive_xml.c packages and
 * validates, archive_http.c transfers. */
#include <stdlib.h>
#include <string.h>

#include "archive/archive_int.h"
#include "cases/cases_int.h"
#include "core/buf.h"
#include "core/json.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "files/files.h"
#include "server/server.h"

#define DB_WAIT_MS 5000
#define FILE_ARENA (64u << 20) /* a file's plaintext and ciphertext (file_max_bytes 20 MiB) */

/* ---- the signing key -------------------------------------------------------------------- */

enum err archive_key_load(const struct server *srv, struct crypto_sm2_key **out)
{
	char dir[4096];
	*out = NULL;
	if (!srv->cfg.data_dir ||
	    snprintf(dir, sizeof(dir), "%s/keys", srv->cfg.data_dir) >= (int)sizeof(dir))
		return ERR_CONFIG;
	return crypto_sm2_keyfile_load(dir, ARCHIVE_KEY_FILE, true, out);
}

/* ---- gathering ---------------------------------------------------------------------------- */

static const char *format_of(const char *mime)
{
	if (!mime)
		return "";
	if (!strcmp(mime, "image/jpeg"))
		return "JPEG";
	if (!strcmp(mime, "image/png"))
		return "PNG";
	if (!strcmp(mime, "application/pdf"))
		return "PDF";
	if (!strcmp(mime, "application/json"))
		return "JSON";
	return mime;
}

/* The step's opinion from the timeline detail: the completion's opinion, a refusal's or
 * withdrawal's reason, a note, or the correction's items' notes. */
static const char *opinion_of(struct arena *a, const char *detail)
{
	json_error_t je;
	json_t *d = detail ? json_loads(detail, JSON_DECODE_ANY, &je) : NULL;
	const char *out = "";
	static const char *const keys[] = {"opinion", "reason", "note"};
	for (size_t i = 0; d && i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = json_string_value(json_object_get(d, keys[i]));
		if (v && v[0]) {
			out = arena_strdup(a, v);
			goto out;
		}
	}
	const json_t *items = json_object_get(d, "items");
	if (json_is_array(items) && json_array_size(items)) {
		struct buf b;
		buf_init(&b, 4000);
		size_t i;
		const json_t *it;
		json_array_foreach (items, i, it) {
			const char *note = json_string_value(json_object_get(it, "note"));
			if (note && note[0])
				buf_printf(&b, "%s%s", b.len ? "；" : "", note);
		}
		if (b.len)
			out = arena_strndup(a, b.p, b.len);
		buf_release(&b);
	}
out:
	json_decref(d);
	return out ? out : "";
}

static enum err load_steps(struct db_conn *c, struct arena *a, int64_t case_id, int64_t created,
                           struct archive_case *ac)
{
	struct db_rows *rs = NULL;
	enum err e = db_exec(c, a, &rs,
	                     "SELECT e.at, e.action, COALESCE(u.name, e.actor_name), e.detail"
	                     " FROM case_events e LEFT JOIN users u ON u.id = e.actor_id"
	                     " WHERE e.case_id = ? ORDER BY e.id",
	                     "i", case_id);
	if (e)
		return e;
	struct archive_step *s = arena_zalloc(a, sizeof(*s) * (size_t)(rs->nrows + 1));
	if (!s)
		return ERR_NOMEM;
	int64_t prev = created;
	for (int i = 0; i < rs->nrows; i++) {
		const char *action = db_text(rs, i, 1);
		int64_t at = db_int(rs, i, 0);
		s[i].action = action;
		s[i].name = !strcmp(action, "open") ? "新建" : cases_action_label(action);
		s[i].handler = db_text(rs, i, 2);
		s[i].opinion = opinion_of(a, db_text(rs, i, 3));
		/* a step runs from the end of the one before it (the first from the opening) */
		s[i].start_ms = prev < at ? prev : at;
		s[i].end_ms = at;
		prev = at;
	}
	ac->steps = s;
	ac->nsteps = (size_t)rs->nrows;
	return ERR_OK;
}

/* The name of material mid in the sub-item (a copy in a: the catalog document is released
 * before the packages are built), NULL when the sub-item does not list it. */
static const char *material_name(struct arena *a, const json_t *sub, const char *mid)
{
	size_t i;
	const json_t *m;
	json_array_foreach (json_object_get(sub, "materials"), i, m) {
		const char *id = json_string_value(json_object_get(m, "id"));
		const char *name = json_string_value(json_object_get(m, "name"));
		if (id && name && !strcmp(id, mid))
			return arena_strdup(a, name);
	}
	return NULL;
}

static enum err load_files(struct server *srv, struct db_conn *c, struct arena *a,
                           const json_t *sub, int64_t case_id, const struct crypto_sm2_key *key,
                           struct archive_case *ac, struct errinfo *ei)
{
	struct db_rows *rs = NULL;
	struct buf sig, b64;
	enum err e =
	    db_exec(c, a, &rs,
	            "SELECT m.material_id, m.title, m.source, m.added_at, f.id, f.sm3,"
	            " f.size, f.mime FROM case_materials m JOIN files f ON f.id = m.file_id"
	            " WHERE m.case_id = ? ORDER BY m.id",
	            "i", case_id);
	if (e)
		return e;
	struct archive_file *fs = arena_zalloc(a, sizeof(*fs) * (size_t)(rs->nrows + 1));
	if (!fs)
		return ERR_NOMEM;
	buf_init(&sig, CRYPTO_SM2_SIG_MAX);
	buf_init(&b64, 256);
	for (int i = 0; i < rs->nrows; i++) {
		struct archive_file *f = &fs[i];
		const char *mid = db_text(rs, i, 0), *title = db_text(rs, i, 1);
		const char *mname = material_name(a, sub, mid);
		int64_t file_id = db_int(rs, i, 4);
		unsigned char digest[CRYPTO_SM3_LEN];
		f->material_id = mid;
		f->material_name = mname ? mname : mid;
		f->title = title && title[0] ? title : f->material_name;
		f->source = db_text(rs, i, 2);
		f->created_ms = db_int(rs, i, 3);
		f->sm3 = db_text(rs, i, 5);
		f->size = db_int(rs, i, 6);
		f->format = format_of(db_text(rs, i, 7));
		/* check: the blob decrypts and hashes to the recorded SM3 */
		struct arena fa;
		const void *data = NULL;
		size_t n = 0;
		arena_init(&fa, FILE_ARENA);
		e = files_read(srv, c, &fa, file_id, &data, &n, NULL);
		if (!e)
			f->pages = archive_pages_of(db_text(rs, i, 7), data, n);
		arena_release(&fa);
		if (e == ERR_INTEGRITY || e == ERR_NOT_FOUND) {
			e = err_fail(ei, ERR_INTEGRITY, "files",
			             arena_printf(a, "材料“%s”的文件（%s）校验失败，不能归档",
			                          f->material_name, f->title));
			goto out;
		}
		if (e)
			goto out;
		if (!f->sm3 || strlen(f->sm3) != 64 ||
		    !hex_decode(f->sm3, 64, digest, sizeof(digest))) {
			e = err_fail(ei, ERR_INTEGRITY, "files", "文件的 SM3 记录不正确");
			goto out;
		}
		buf_reset(&sig);
		buf_reset(&b64);
		if ((e = crypto_sm2_sign(key, NULL, digest, sizeof(digest), &sig)) ||
		    (e = buf_base64(&b64, sig.p, sig.len)))
			goto out;
		if (!(f->signature = arena_strndup(a, b64.p, b64.len))) {
			e = ERR_NOMEM;
			goto out;
		}
	}
	ac->files = fs;
	ac->nfiles = (size_t)rs->nrows;
out:
	buf_release(&sig);
	buf_release(&b64);
	return e;
}

/* The applicant from the form: applicant.name and applicant.id_number ({type, number}, or a
 * bare number of a 居民身份证). */
static void applicant_of(const json_t *form, struct archive_case *ac)
{
	const json_t *app = json_object_get(form, "applicant");
	const json_t *idn = json_object_get(app, "id_number");
	ac->applicant_name = json_string_value(json_object_get(app, "name"));
	if (json_is_object(idn)) {
		ac->applicant_id_type = json_string_value(json_object_get(idn, "type"));
		ac->applicant_id_number = json_string_value(json_object_get(idn, "number"));
	} else if (json_is_string(idn)) {
		ac->applicant_id_type = "111";
		ac->applicant_id_number = json_string_value(idn);
	}
	if (!ac->applicant_name)
		ac->applicant_name = "";
	if (!ac->applicant_id_type)
		ac->applicant_id_type = "";
	if (!ac->applicant_id_number)
		ac->applicant_id_number = "";
}

static enum err gather(struct server *srv, struct db_conn *c, struct arena *a, const char *case_no,
                       const struct crypto_sm2_key *key, struct archive_case *ac,
                       struct errinfo *ei)
{
	struct case_row row = {0};
	struct case_catalog cc = {0};
	struct db_rows *rs = NULL;
	unsigned char pub[CRYPTO_SM2_PUB_LEN];
	struct buf hex;
	enum err e;
	buf_init(&hex, 2 * CRYPTO_SM2_PUB_LEN + 1);
	if ((e = case_load(srv, c, a, NULL, case_no, &row)))
		goto out;
	if (strcmp(row.state, "completed")) {
		e = err_fail(ei, ERR_BAD_STATE, NULL,
		             arena_printf(a, "办件当前状态为“%s”，办结后才能归档",
		                          cases_state_label(row.state)));
		goto out;
	}
	if ((e = case_catalog_get(srv, c, a, &row, &cc)))
		goto out;
	const json_t *arch = json_object_get(cc.sub_item, "archive");
	if (!json_is_true(json_object_get(arch, "required"))) {
		e = err_fail(ei, ERR_BAD_STATE, NULL, "该事项无需电子归档");
		goto out;
	}
	if ((e = db_exec(c, a, &rs,
	                 "SELECT c.item_name, c.sub_item_name, c.accepted_at, c.completed_at,"
	                 " c.result, c.result_opinion, c.cert_no, c.promised_date, o.name, o.code"
	                 " FROM cases c JOIN orgs o ON o.id = c.org_id WHERE c.id = ?",
	                 "i", row.id)))
		goto out;
	if (rs->nrows != 1) {
		e = ERR_NOT_FOUND;
		goto out;
	}
	ac->case_no = arena_strdup(a, row.case_no);
	ac->item_name = db_text(rs, 0, 0);
	ac->sub_item_name = db_text(rs, 0, 1);
	ac->accepted_ms = db_int(rs, 0, 2);
	ac->completed_ms = db_int(rs, 0, 3);
	ac->result = db_text(rs, 0, 4);
	ac->opinion = db_text(rs, 0, 5);
	ac->cert_no = db_text(rs, 0, 6);
	ac->promised_date = db_text(rs, 0, 7);
	ac->org_name = db_text(rs, 0, 8);
	ac->org_code = db_text(rs, 0, 9);
	ac->item_code = arena_strdup(a, json_get_str(cc.item, "basic_code")
	                                    ? json_get_str(cc.item, "basic_code")
	                                    : row.item_code);
	const char *impl = json_get_str(cc.item, "impl_code");
	ac->impl_code = impl ? arena_strdup(a, impl) : NULL;
	ac->sub_item_code = arena_strdup(a, row.sub_item_code);
	ac->case_type = row.case_type;
	ac->created_ms = row.created_at;
	const char *cat = json_get_str(arch, "category"), *ret = json_get_str(arch, "retention");
	const char *pkg = json_get_str(arch, "package");
	ac->category = arena_strdup(a, cat ? cat : "");
	ac->retention = arena_strdup(a, ret ? ret : "");
	ac->package = pkg ? arena_strdup(a, pkg) : NULL;
	applicant_of(row.form, ac);
	ac->applicant_name = arena_strdup(a, ac->applicant_name);
	ac->applicant_id_type = arena_strdup(a, ac->applicant_id_type);
	ac->applicant_id_number = arena_strdup(a, ac->applicant_id_number);
	if ((e = crypto_sm2_public_raw(key, pub)) || (e = buf_hex(&hex, pub, sizeof(pub))) ||
	    !(ac->sign_pub_hex = arena_strndup(a, hex.p, hex.len))) {
		e = e ? e : ERR_NOMEM;
		goto out;
	}
	if ((e = load_steps(c, a, row.id, row.created_at, ac)) ||
	    (e = load_files(srv, c, a, cc.sub_item, row.id, key, ac, ei)))
		goto out;
	if (!ac->nfiles)
		e = err_fail(ei, ERR_INVALID, "files", "办件没有任何电子文件（材料），不能归档");
	ac->archived_ms = time_now_ms();
out:
	buf_release(&hex);
	case_catalog_release(&cc);
	case_row_release(&row);
	return e;
}

enum err archive_build(struct server *srv, struct db_conn *c, struct arena *a, const char *case_no,
                       struct archive_packages *out, struct errinfo *ei)
{
	struct archive_case ac = {0};
	struct archive_schema *schema = NULL;
	struct crypto_sm2_key *key = NULL;
	struct db_conn *own = NULL;
	char *xsd = NULL, msg[600];
	enum err e;
	memset(out, 0, sizeof(*out));
	if (!(xsd = archive_xsd_path(srv)))
		return ERR_NOMEM;
	if ((e = archive_schema_load(xsd, &schema, msg, sizeof(msg)))) {
		log_error("archive.xsd", "%s", msg);
		err_fail(ei, e, NULL, arena_strdup(a, msg));
		goto out;
	}
	if ((e = archive_key_load(srv, &key))) {
		err_fail(ei, e, NULL, "归档签名密钥不可用，请联系运维人员");
		goto out;
	}
	if (!c) {
		if ((e = db_acquire(srv->db, DB_WAIT_MS, &own)))
			goto out;
		c = own;
	}
	if ((e = gather(srv, c, a, case_no, key, &ac, ei)))
		goto out;
	db_release(own);
	own = NULL;
	for (int p = 0; p < ARCHIVE_PARTS; p++) {
		struct archive_package *pk = &out->part[p];
		unsigned char d[CRYPTO_SM3_LEN];
		struct buf h;
		if ((e = archive_doc_build(&ac, (enum archive_part)p, a, &pk->xml, &pk->len)))
			goto out;
		if ((e = archive_validate(schema, pk->xml, pk->len, a, ei))) {
			ei->msg = arena_printf(a, "%s：%s", archive_part_root((enum archive_part)p),
			                       ei->msg ? ei->msg : "");
			goto out;
		}
		crypto_sm3(pk->xml, pk->len, d);
		buf_init(&h, 128);
		e = buf_hex(&h, d, sizeof(d));
		if (!e)
			snprintf(pk->sm3, sizeof(pk->sm3), "%.*s", (int)h.len, h.p);
		buf_release(&h);
		if (e)
			goto out;
	}
	out->nsteps = (int)ac.nsteps;
	out->nfiles = (int)ac.nfiles;
out:
	db_release(own);
	crypto_sm2_destroy(key);
	archive_schema_destroy(schema);
	free(xsd);
	return e;
}
