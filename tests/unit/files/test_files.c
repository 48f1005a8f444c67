/* test_files.c: the file store — put/read round trip, dedupe, tamper detection of the blob
 * on disk, the type-sniffing table (truncated and disguised files included), the size limit,
 * reference counts and the garbage collector, and what the disk shows (names that are not
 * the SM3, no plaintext); the two-step store (prepare with no transaction, commit in it),
 * dedupe through prepare, the orphan sweep of blobs whose transaction rolled back, and the
 * races of gc and the sweep against a prepare whose commit is in flight (blob ages set with
 * utimensat). Runs on SQLite, and on PostgreSQL when SHOULI_TEST_PG is set. */
#include "../common/db_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/time.h>

#include "core/config.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "crypto/crypto.h"
#include "db/db.h"
#include "files/files.h"
#include "files/files_int.h"
#include "server/server.h"

/* ---- fixture: a migrated database, a key ring with a data key, a data directory ---- */

static struct {
	char blobs[700]; /* <data dir>/files */
	struct arena a;
} fx;

static int setup(void **state)
{
	if (dbfx_setup(state))
		return -1;
	snprintf(fx.blobs, sizeof(fx.blobs), "%s/files", dbfx.srv.cfg.data_dir);
	arena_init(&fx.a, 0);
	return 0;
}

static int teardown(void **state)
{
	arena_release(&fx.a);
	return dbfx_teardown(state);
}

/* ---- sample documents ---- */

/* A small "JPEG": SOI, an APP0 marker, some payload, EOI. seed varies the payload. */
static size_t make_jpeg(unsigned char *p, size_t n, unsigned seed)
{
	assert_true(n >= 64);
	memset(p, 0, n);
	memcpy(p, "\xFF\xD8\xFF\xE0\x00\x10JFIF\x00", 11);
	for (size_t i = 11; i < n - 2; i++)
		p[i] = (unsigned char)(i * 31 + seed);
	p[n - 2] = 0xFF;
	p[n - 1] = 0xD9;
	return n;
}

static size_t make_png(unsigned char *p, size_t n)
{
	static const unsigned char head[] = {
	    0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n', 0, 0, 0, 13, 'I',  'H',  'D',  'R', 0,
	    0,    0,   1,   0,   0,    0,    1,    8,    2, 0, 0, 0,  0x90, 0x77, 0x53, 0xDE};
	static const unsigned char tail[] = {0,   0,   0,    0,    'I',  'E',
	                                     'N', 'D', 0xAE, 0x42, 0x60, 0x82};
	assert_true(n >= sizeof(head) + sizeof(tail));
	memset(p, 0x11, n);
	memcpy(p, head, sizeof(head));
	memcpy(p + n - sizeof(tail), tail, sizeof(tail));
	return n;
}

static const char PDF[] = "%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n";

static enum err put(const void *data, size_t n, unsigned flags, struct file_info *out,
                    struct errinfo *ei)
{
	struct db_conn *c = NULL;
	struct errinfo local = {0};
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	enum err e =
	    files_put(&dbfx.srv, c, &fx.a, data, n, "image/jpeg", flags, out, ei ? ei : &local);
	if (e)
		db_rollback(c);
	else
		assert_int_equal(db_commit(c), ERR_OK);
	db_release(c);
	return e;
}

/* Step 2 in a transaction of its own; rollback instead of commit when asked. */
static enum err commit_prepared(const struct files_prepared *p, unsigned flags,
                                struct file_info *out, bool rollback)
{
	struct db_conn *c = NULL;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	enum err e = files_commit(&dbfx.srv, c, &fx.a, p, flags, out);
	if (e || rollback)
		db_rollback(c);
	else
		assert_int_equal(db_commit(c), ERR_OK);
	db_release(c);
	return e;
}

static int64_t count_rows(void)
{
	struct db_conn *c = NULL;
	struct db_rows *rs = NULL;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_exec(c, &fx.a, &rs, "SELECT COUNT(*) FROM files", ""), ERR_OK);
	db_release(c);
	return db_int(rs, 0, 0);
}

static enum err read_back(int64_t id, const void **data, size_t *n, struct file_info *fi)
{
	struct db_conn *c = NULL;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	enum err e = files_read(&dbfx.srv, c, &fx.a, id, data, n, fi);
	db_release(c);
	return e;
}

static enum err ref(int64_t id, int delta)
{
	struct db_conn *c = NULL;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_begin_write(c), ERR_OK);
	enum err e = delta > 0 ? files_ref(c, id) : files_unref(c, id);
	if (e)
		db_rollback(c);
	else
		assert_int_equal(db_commit(c), ERR_OK);
	db_release(c);
	return e;
}

/* The path of the one blob stored for sm3 hex (by the store's own naming). */
static void blob_path(const char *sm3, char *out, size_t outsz)
{
	unsigned char d[32];
	char name[FILES_NAME_LEN + 1];
	assert_true(hex_decode(sm3, 64, d, 32));
	files_blob_name(dbfx.srv.keys, d, name);
	snprintf(out, outsz, "%s/%.2s/%s", fx.blobs, name, name);
}

/* Every regular file under the blob root: count, and call fn for each. */
static int walk_blobs(void (*fn)(const char *path, const char *name, void *ctx), void *ctx)
{
	int count = 0;
	DIR *top = opendir(fx.blobs);
	if (!top)
		return 0;
	struct dirent *de;
	while ((de = readdir(top))) {
		if (de->d_name[0] == '.')
			continue;
		char dir[1200];
		snprintf(dir, sizeof(dir), "%s/%s", fx.blobs, de->d_name);
		DIR *d = opendir(dir);
		if (!d)
			continue;
		struct dirent *f;
		while ((f = readdir(d))) {
			if (!strcmp(f->d_name, ".") || !strcmp(f->d_name, ".."))
				continue;
			char path[1600];
			snprintf(path, sizeof(path), "%s/%s", dir, f->d_name);
			count++;
			if (fn)
				fn(path, f->d_name, ctx);
		}
		closedir(d);
	}
	closedir(top);
	return count;
}

/* Blob ages: the store reads a blob's last-written time from its mtime. */
static void set_mtime(const char *path, int64_t ms)
{
	struct timespec ts[2] = {{(time_t)(ms / 1000), (long)(ms % 1000) * 1000000},
	                         {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000}};
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static int64_t get_mtime(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	return (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
}

static void age_one(const char *path, const char *name, void *ctx)
{
	(void)name;
	set_mtime(path, *(const int64_t *)ctx);
}

/* Make every blob on disk look written at ms. */
static void age_blobs(int64_t ms)
{
	walk_blobs(age_one, &ms);
}

static void *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	void *p = malloc((size_t)len + 1);
	assert_int_equal(fread(p, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return p;
}

/* ---- tests ---- */

static void test_round_trip(void **state)
{
	(void)state;
	unsigned char jpg[3000];
	struct file_info fi, back;
	const void *data = NULL;
	size_t n = 0;
	make_jpeg(jpg, sizeof(jpg), 1);
	assert_int_equal(put(jpg, sizeof(jpg), 0, &fi, NULL), ERR_OK);
	assert_true(fi.id > 0);
	assert_string_equal(fi.mime, "image/jpeg");
	assert_int_equal(fi.size, sizeof(jpg));
	assert_int_equal(fi.ref_count, 0);
	unsigned char d[32];
	char hex[65];
	crypto_sm3(jpg, sizeof(jpg), d);
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	assert_string_equal(fi.sm3, hex);

	assert_int_equal(read_back(fi.id, &data, &n, &back), ERR_OK);
	assert_int_equal(n, sizeof(jpg));
	assert_memory_equal(data, jpg, sizeof(jpg));
	assert_int_equal(back.id, fi.id);
	assert_string_equal(back.sm3, fi.sm3);

	/* a PNG and a PDF go through as well, typed by their bytes (the hint said JPEG) */
	unsigned char png[200];
	make_png(png, sizeof(png));
	assert_int_equal(put(png, sizeof(png), 0, &fi, NULL), ERR_OK);
	assert_string_equal(fi.mime, "image/png");
	assert_int_equal(put(PDF, strlen(PDF), FILES_REF, &fi, NULL), ERR_OK);
	assert_string_equal(fi.mime, "application/pdf");
	assert_int_equal(fi.ref_count, 1);

	struct db_conn *c = NULL;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(files_read(&dbfx.srv, c, &fx.a, 999999, &data, &n, NULL), ERR_NOT_FOUND);
	assert_int_equal(files_info(c, &fx.a, fi.id, &back), ERR_OK);
	assert_int_equal(back.ref_count, 1);
	db_release(c);
}

static void test_dedupe(void **state)
{
	(void)state;
	unsigned char jpg[2048];
	struct file_info a1, a2, b;
	make_jpeg(jpg, sizeof(jpg), 7);
	assert_int_equal(put(jpg, sizeof(jpg), FILES_REF, &a1, NULL), ERR_OK);
	assert_int_equal(walk_blobs(NULL, NULL), 1);
	assert_int_equal(put(jpg, sizeof(jpg), FILES_REF, &a2, NULL), ERR_OK);
	assert_int_equal(a2.id, a1.id);
	assert_int_equal(a2.ref_count, 2);
	assert_int_equal(walk_blobs(NULL, NULL), 1); /* one blob for both */
	make_jpeg(jpg, sizeof(jpg), 8);
	assert_int_equal(put(jpg, sizeof(jpg), 0, &b, NULL), ERR_OK);
	assert_true(b.id != a1.id);
	assert_int_equal(walk_blobs(NULL, NULL), 2);

	/* a row whose blob was lost (e.g. gc's commit failed after the removal): the next put
	 * of the same bytes writes the blob again */
	char path[1400];
	blob_path(b.sm3, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(put(jpg, sizeof(jpg), 0, &a2, NULL), ERR_OK);
	assert_int_equal(a2.id, b.id);
	const void *data;
	size_t n;
	assert_int_equal(read_back(b.id, &data, &n, NULL), ERR_OK);
	assert_memory_equal(data, jpg, sizeof(jpg));
}

static void test_tamper_detected(void **state)
{
	(void)state;
	unsigned char one[1500], two[1600];
	struct file_info f1, f2;
	const void *data;
	size_t n;
	char p1[1400], p2[1400];
	make_jpeg(one, sizeof(one), 3);
	make_jpeg(two, sizeof(two), 4);
	assert_int_equal(put(one, sizeof(one), 0, &f1, NULL), ERR_OK);
	assert_int_equal(put(two, sizeof(two), 0, &f2, NULL), ERR_OK);
	blob_path(f1.sm3, p1, sizeof(p1));
	blob_path(f2.sm3, p2, sizeof(p2));

	/* one flipped bit in the ciphertext */
	size_t bn;
	unsigned char *blob = slurp(p1, &bn);
	blob[bn / 2] ^= 0x01;
	FILE *f = fopen(p1, "wb");
	fwrite(blob, 1, bn, f);
	fclose(f);
	assert_int_equal(read_back(f1.id, &data, &n, NULL), ERR_INTEGRITY);
	assert_null(data);

	/* truncated */
	f = fopen(p1, "wb");
	fwrite(blob, 1, bn - 20, f);
	fclose(f);
	assert_int_equal(read_back(f1.id, &data, &n, NULL), ERR_INTEGRITY);
	free(blob);

	/* another file's (valid) blob put in its place: decrypts, but the SM3 differs */
	size_t n2;
	unsigned char *b2 = slurp(p2, &n2);
	f = fopen(p1, "wb");
	fwrite(b2, 1, n2, f);
	fclose(f);
	free(b2);
	assert_int_equal(read_back(f1.id, &data, &n, NULL), ERR_INTEGRITY);

	/* and a missing blob */
	assert_int_equal(unlink(p1), 0);
	assert_int_equal(read_back(f1.id, &data, &n, NULL), ERR_INTEGRITY);

	/* the job's sample check notices (both files are sampled sooner or later) */
	int checked = 0, bad = 0;
	assert_int_equal(files_verify_sample(&dbfx.srv, 40, &checked, &bad), ERR_INTEGRITY);
	assert_true(checked > 0);
	assert_true(bad > 0);
	/* the intact one still reads */
	assert_int_equal(read_back(f2.id, &data, &n, NULL), ERR_OK);
	assert_memory_equal(data, two, sizeof(two));
}

static void test_sniff_table(void **state)
{
	(void)state;
	unsigned char jpg[256], png[128];
	make_jpeg(jpg, sizeof(jpg), 5);
	make_png(png, sizeof(png));
	static const char zip[] = "PK\x03\x04\x14\x00\x00\x00\x08\x00[Content_Types].xml";
	static const char gif[] = "GIF89a\x01\x00\x01\x00\x80\x00\x00";
	static const char html[] = "  <!DOCTYPE html><html><body>x</body></html>";
	static const char svg[] =
	    "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"/>";
	static const char text[] = "申请人：张三\n身份证号：略\n";
	static const char json[] = "{\"cert_no\":\"SFZ31\",\"data\":{}}";
	static const char elf[] = "\x7F"
	                          "ELF\x02\x01\x01";
	static const char heic[] = "\x00\x00\x00\x18"
	                           "ftypheic\x00\x00\x00\x00";
	static const char doc[] = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00";
	static const char pdf_cut[] = "%PDF-1.7\n1 0 obj << /Type /Catalog >>";
	const struct {
		const void *p;
		size_t n;
		bool server_made;
		const char *mime;     /* expected files_sniff, NULL = refused */
		const char *describe; /* expected files_describe (substring) */
	} cases[] = {
	    {jpg, sizeof(jpg), false, "image/jpeg", "JPEG 图片"},
	    {jpg, sizeof(jpg) - 2, false, NULL, "被截断的 JPEG 图片"}, /* no EOI */
	    {jpg, 2, false, NULL, "过短的文件"},                       /* FF D8 only */
	    {png, sizeof(png), false, "image/png", "PNG 图片"},
	    {png, sizeof(png) - 12, false, NULL, "被截断的 PNG 图片"}, /* no IEND */
	    {png, 5, false, NULL, "过短的文件"},
	    {PDF, sizeof(PDF) - 1, false, "application/pdf", "PDF 文档"},
	    {pdf_cut, sizeof(pdf_cut) - 1, false, NULL, "被截断的 PDF 文档"},
	    {zip, sizeof(zip) - 1, false, NULL, "ZIP 压缩包"},
	    {gif, sizeof(gif) - 1, false, NULL, "GIF 图片"},
	    {html, sizeof(html) - 1, false, NULL, "HTML 网页"},
	    {svg, sizeof(svg) - 1, false, NULL, "SVG 矢量图"},
	    {text, sizeof(text) - 1, false, NULL, "纯文本"},
	    {json, sizeof(json) - 1, false, NULL, "JSON 文本"},
	    {json, sizeof(json) - 1, true, "application/json", "JSON 文本"},
	    {"{\"a\":1", 6, true, NULL, "纯文本"}, /* not JSON: refused even server-made */
	    {elf, sizeof(elf) - 1, false, NULL, "可执行程序"},
	    {heic, sizeof(heic) - 1, false, NULL, "HEIC 图片"},
	    {doc, sizeof(doc) - 1, false, NULL, "旧版 Office 文档"},
	    {"", 0, false, NULL, "空文件"},
	    {"\x01\x02\x03\xFE\xFF\x00", 6, false, NULL, "未知格式"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = files_sniff(cases[i].p, cases[i].n, cases[i].server_made);
		if (cases[i].mime ? !got || strcmp(got, cases[i].mime) : got != NULL)
			fail_msg("case %zu: sniffed %s, want %s", i, got ? got : "NULL",
			         cases[i].mime ? cases[i].mime : "NULL");
		const char *what = files_describe(cases[i].p, cases[i].n);
		if (!strstr(what, cases[i].describe))
			fail_msg("case %zu: described as \"%s\", want \"%s\"", i, what,
			         cases[i].describe);
	}

	/* what the clerk reads: the refusal names what the bytes look like */
	struct file_info fi;
	struct errinfo ei = {0};
	assert_int_equal(put(zip, sizeof(zip) - 1, 0, &fi, &ei), ERR_UNSUPPORTED_MEDIA);
	assert_string_equal(ei.msg, "文件内容不是 JPEG、PNG 或 PDF（看起来是 ZIP 压缩包）");
	assert_int_equal(put(pdf_cut, sizeof(pdf_cut) - 1, 0, &fi, &ei), ERR_UNSUPPORTED_MEDIA);
	assert_non_null(strstr(ei.msg, "文件内容不完整"));
	assert_non_null(strstr(ei.msg, "PDF"));
	assert_int_equal(put("", 0, 0, &fi, &ei), ERR_UNSUPPORTED_MEDIA);
	assert_non_null(strstr(ei.msg, "文件为空"));
	/* JSON only when the server made it */
	assert_int_equal(put(json, sizeof(json) - 1, 0, &fi, &ei), ERR_UNSUPPORTED_MEDIA);
	assert_int_equal(put(json, sizeof(json) - 1, FILES_SERVER_MADE, &fi, &ei), ERR_OK);
	assert_string_equal(fi.mime, "application/json");
	assert_int_equal(walk_blobs(NULL, NULL), 1); /* refused files left nothing behind */
}

static void test_size_limit(void **state)
{
	(void)state;
	static unsigned char big[4096];
	struct file_info fi;
	struct errinfo ei = {0};
	dbfx.srv.cfg.file_max_bytes = 2048;
	make_jpeg(big, 2049, 9);
	assert_int_equal(put(big, 2049, 0, &fi, &ei), ERR_TOO_LARGE);
	assert_non_null(strstr(ei.msg, "文件大小超过上限 2 KB"));
	make_jpeg(big, 2048, 9);
	assert_int_equal(put(big, 2048, 0, &fi, &ei), ERR_OK);
	dbfx.srv.cfg.file_max_bytes = 20 * 1024 * 1024;
	make_jpeg(big, sizeof(big), 9);
	assert_int_equal(put(big, sizeof(big), 0, &fi, &ei), ERR_OK);
	/* the default is 20 MB and the message says so */
	struct config c;
	config_defaults(&c);
	assert_int_equal(c.file_max_bytes, FILES_DEFAULT_MAX_BYTES);
	config_release(&c);
	dbfx.srv.cfg.file_max_bytes = FILES_DEFAULT_MAX_BYTES;
	size_t n = FILES_DEFAULT_MAX_BYTES + 1;
	unsigned char *huge = calloc(1, n);
	make_jpeg(huge, n, 1);
	assert_int_equal(put(huge, n, 0, &fi, &ei), ERR_TOO_LARGE);
	assert_non_null(strstr(ei.msg, "上限 20 MB"));
	free(huge);
}

static void test_refcount_and_gc(void **state)
{
	(void)state;
	unsigned char keep[1000], drop[1100], fresh[1200];
	struct file_info fk, fd, ff;
	make_jpeg(keep, sizeof(keep), 11);
	make_jpeg(drop, sizeof(drop), 12);
	make_jpeg(fresh, sizeof(fresh), 13);
	assert_int_equal(put(keep, sizeof(keep), FILES_REF, &fk, NULL), ERR_OK);
	assert_int_equal(put(drop, sizeof(drop), 0, &fd, NULL), ERR_OK);
	assert_int_equal(ref(fd.id, +1), ERR_OK);
	assert_int_equal(ref(fd.id, +1), ERR_OK);
	assert_int_equal(ref(fd.id, -1), ERR_OK);
	assert_int_equal(ref(fd.id, -1), ERR_OK);
	assert_int_equal(ref(fd.id, -1), ERR_INTERNAL); /* never below zero */
	assert_int_equal(ref(424242, +1), ERR_NOT_FOUND);
	assert_int_equal(ref(424242, -1), ERR_NOT_FOUND);

	/* make keep and drop two days old; fresh is new and unreferenced */
	int64_t old = time_now_ms() - 2 * 24 * 3600 * 1000LL;
	struct db_conn *c = NULL;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_exec(c, &fx.a, NULL, "UPDATE files SET created_at = ?, updated_at = ?",
	                         "ii", old, old),
	                 ERR_OK);
	db_release(c);
	age_blobs(old);
	assert_int_equal(put(fresh, sizeof(fresh), 0, &ff, NULL), ERR_OK);
	assert_int_equal(walk_blobs(NULL, NULL), 3);

	int removed = -1;
	int64_t day_ago = time_now_ms() - 24 * 3600 * 1000LL;
	assert_int_equal(files_gc(&dbfx.srv, day_ago, 100, &removed), ERR_OK);
	assert_int_equal(removed, 1); /* drop only: keep is referenced, fresh is young */
	assert_int_equal(walk_blobs(NULL, NULL), 2);
	const void *data;
	size_t n;
	assert_int_equal(read_back(fd.id, &data, &n, NULL), ERR_NOT_FOUND);
	assert_int_equal(read_back(fk.id, &data, &n, NULL), ERR_OK);
	assert_int_equal(read_back(ff.id, &data, &n, NULL), ERR_OK);

	/* a second run finds nothing; putting the dropped bytes again works from scratch */
	assert_int_equal(files_gc(&dbfx.srv, day_ago, 100, &removed), ERR_OK);
	assert_int_equal(removed, 0);
	assert_int_equal(put(drop, sizeof(drop), 0, &fd, NULL), ERR_OK);
	assert_int_equal(read_back(fd.id, &data, &n, NULL), ERR_OK);
	assert_memory_equal(data, drop, sizeof(drop));

	/* interrupted writes leave .tmp- files; the sweep removes old ones only */
	char tmp_old[1400], tmp_new[1400];
	snprintf(tmp_old, sizeof(tmp_old), "%s/ab", fx.blobs);
	mkdir(tmp_old, 0700);
	snprintf(tmp_old, sizeof(tmp_old), "%s/ab/.tmp-0123456789abcdef", fx.blobs);
	snprintf(tmp_new, sizeof(tmp_new), "%s/ab/.tmp-fedcba9876543210", fx.blobs);
	FILE *f = fopen(tmp_old, "wb");
	fputs("x", f);
	fclose(f);
	f = fopen(tmp_new, "wb");
	fputs("y", f);
	fclose(f);
	struct timeval tv[2] = {{(time_t)(old / 1000), 0}, {(time_t)(old / 1000), 0}};
	assert_int_equal(utimes(tmp_old, tv), 0);
	int swept = -1;
	assert_int_equal(files_sweep(&dbfx.srv, day_ago, &swept), ERR_OK);
	assert_int_equal(swept, 1);
	assert_int_equal(access(tmp_old, F_OK), -1);
	assert_int_equal(access(tmp_new, F_OK), 0);
}

/* ---- the two-step store ---- */

static void test_prepare_commit(void **state)
{
	(void)state;
	unsigned char jpg[4000];
	struct files_prepared p;
	struct file_info fi, again;
	struct errinfo ei = {0};
	const void *data;
	size_t n;
	char path[1400];
	make_jpeg(jpg, sizeof(jpg), 31);

	/* step 1: the blob is durable, no row exists yet */
	assert_int_equal(files_prepare(&dbfx.srv, &fx.a, jpg, sizeof(jpg), NULL, 0, &p, &ei),
	                 ERR_OK);
	assert_int_equal(strlen(p.sm3), 64);
	assert_int_equal(p.size, sizeof(jpg));
	assert_string_equal(p.mime, "image/jpeg");
	assert_true(p.backend_id > 0);
	assert_true(p.wrote);
	assert_true(p.prepared_at > time_now_ms() - 60000);
	blob_path(p.sm3, path, sizeof(path));
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(count_rows(), 0);

	/* step 2: the row and the reference */
	assert_int_equal(commit_prepared(&p, FILES_REF, &fi, false), ERR_OK);
	assert_true(fi.id > 0);
	assert_string_equal(fi.sm3, p.sm3);
	assert_string_equal(fi.mime, "image/jpeg");
	assert_int_equal(fi.size, sizeof(jpg));
	assert_int_equal(fi.backend_id, p.backend_id);
	assert_int_equal(fi.ref_count, 1);
	assert_int_equal(read_back(fi.id, &data, &n, NULL), ERR_OK);
	assert_int_equal(n, sizeof(jpg));
	assert_memory_equal(data, jpg, sizeof(jpg));

	/* committing the same preparation again finds the row; without FILES_REF no reference */
	assert_int_equal(commit_prepared(&p, 0, &again, false), ERR_OK);
	assert_int_equal(again.id, fi.id);
	assert_int_equal(again.ref_count, 1);
	assert_int_equal(count_rows(), 1);

	/* refusals leave no blob, and say why */
	assert_int_equal(files_prepare(&dbfx.srv, &fx.a, jpg, sizeof(jpg) - 2, NULL, 0, &p, &ei),
	                 ERR_UNSUPPORTED_MEDIA);
	assert_non_null(strstr(ei.msg, "被截断的 JPEG"));
	assert_int_equal(p.sm3[0], 0);
	dbfx.srv.cfg.file_max_bytes = 1024;
	assert_int_equal(files_prepare(&dbfx.srv, &fx.a, jpg, sizeof(jpg), NULL, 0, &p, &ei),
	                 ERR_TOO_LARGE);
	dbfx.srv.cfg.file_max_bytes = FILES_DEFAULT_MAX_BYTES;
	assert_int_equal(walk_blobs(NULL, NULL), 1);

	/* a preparation that failed, or is older than an hour, is a caller's bug */
	assert_int_equal(commit_prepared(&p, FILES_REF, &again, false), ERR_INTERNAL);
	assert_int_equal(files_prepare(&dbfx.srv, &fx.a, PDF, strlen(PDF), NULL, 0, &p, &ei),
	                 ERR_OK);
	struct files_prepared stale = p;
	stale.prepared_at -= FILES_PREPARED_MAX_AGE_MS + 1000;
	assert_int_equal(commit_prepared(&stale, FILES_REF, &again, false), ERR_INTERNAL);

	/* the blob vanished between the steps: the commit refuses rather than name nothing */
	blob_path(p.sm3, path, sizeof(path));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(commit_prepared(&p, FILES_REF, &again, false), ERR_CONFLICT);
	assert_int_equal(count_rows(), 1);
}

static void test_prepare_dedupe(void **state)
{
	(void)state;
	unsigned char jpg[3000];
	struct files_prepared p1, p2;
	struct file_info f1, f2;
	struct errinfo ei = {0};
	char path[1400];
	struct stat before, after;
	make_jpeg(jpg, sizeof(jpg), 32);
	assert_int_equal(files_prepare(&dbfx.srv, &fx.a, jpg, sizeof(jpg), NULL, 0, &p1, &ei),
	                 ERR_OK);
	assert_true(p1.wrote);
	assert_int_equal(commit_prepared(&p1, FILES_REF, &f1, false), ERR_OK);
	blob_path(p1.sm3, path, sizeof(path));
	int64_t old = time_now_ms() - 3 * 24 * 3600 * 1000LL;
	set_mtime(path, old);
	assert_int_equal(stat(path, &before), 0);

	/* the same bytes again: not written (same inode), but refreshed; same row */
	assert_int_equal(
	    files_prepare(&dbfx.srv, &fx.a, jpg, sizeof(jpg), "image/png", 0, &p2, &ei), ERR_OK);
	assert_false(p2.wrote);
	assert_string_equal(p2.sm3, p1.sm3);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(after.st_ino, before.st_ino);
	assert_true(get_mtime(path) > time_now_ms() - 60000);
	assert_int_equal(walk_blobs(NULL, NULL), 1);
	assert_int_equal(commit_prepared(&p2, FILES_REF, &f2, false), ERR_OK);
	assert_int_equal(f2.id, f1.id);
	assert_int_equal(f2.ref_count, 2);
	assert_int_equal(count_rows(), 1);

	/* a row whose blob was lost: prepare writes it again */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(files_prepare(&dbfx.srv, &fx.a, jpg, sizeof(jpg), NULL, 0, &p2, &ei),
	                 ERR_OK);
	assert_true(p2.wrote);
	assert_int_equal(commit_prepared(&p2, 0, &f2, false), ERR_OK);
	const void *data;
	size_t n;
	assert_int_equal(read_back(f1.id, &data, &n, NULL), ERR_OK);
	assert_memory_equal(data, jpg, sizeof(jpg));
}

static void test_orphan_sweep(void **state)
{
	(void)state;
	unsigned char kept[2000], lost[2100];
	struct files_prepared pk, pl;
	struct file_info fk, fl;
	struct errinfo ei = {0};
	char path_kept[1400], path_lost[1400];
	int removed = -1;
	int64_t now = time_now_ms(), day_ago = now - 24 * 3600 * 1000LL;
	make_jpeg(kept, sizeof(kept), 41);
	make_jpeg(lost, sizeof(lost), 42);

	/* one commits (unreferenced even, so only its row protects it); one rolls back */
	assert_int_equal(files_prepare(&dbfx.srv, &fx.a, kept, sizeof(kept), NULL, 0, &pk, &ei),
	                 ERR_OK);
	assert_int_equal(commit_prepared(&pk, 0, &fk, false), ERR_OK);
	assert_int_equal(files_prepare(&dbfx.srv, &fx.a, lost, sizeof(lost), NULL, 0, &pl, &ei),
	                 ERR_OK);
	assert_int_equal(commit_prepared(&pl, FILES_REF, &fl, true), ERR_OK);
	assert_int_equal(count_rows(), 1);
	assert_int_equal(walk_blobs(NULL, NULL), 2); /* the rolled-back one is an orphan */
	blob_path(pk.sm3, path_kept, sizeof(path_kept));
	blob_path(pl.sm3, path_lost, sizeof(path_lost));

	/* within the grace period nothing goes */
	assert_int_equal(files_sweep_orphans(&dbfx.srv, day_ago, &removed), ERR_OK);
	assert_int_equal(removed, 0);
	assert_int_equal(walk_blobs(NULL, NULL), 2);

	/* a day and a minute later (blob ages moved back): the orphan goes, the named one stays
	 * although it is as old; a leftover of an interrupted write is not the sweep's */
	age_blobs(day_ago - 60000);
	char tmp[1400];
	snprintf(tmp, sizeof(tmp), "%s/%.2s/.tmp-0011223344556677", fx.blobs,
	         strrchr(path_lost, '/') + 1);
	FILE *f = fopen(tmp, "wb");
	fputs("partial", f);
	fclose(f);
	set_mtime(tmp, day_ago - 60000);
	assert_int_equal(files_sweep_orphans(&dbfx.srv, day_ago, &removed), ERR_OK);
	assert_int_equal(removed, 1);
	assert_int_equal(access(path_lost, F_OK), -1);
	assert_int_equal(access(path_kept, F_OK), 0);
	assert_int_equal(access(tmp, F_OK), 0);
	const void *data;
	size_t n;
	assert_int_equal(read_back(fk.id, &data, &n, NULL), ERR_OK);
	assert_memory_equal(data, kept, sizeof(kept));

	/* nothing left to do on a second run; the tmp sweep takes the leftover */
	assert_int_equal(files_sweep_orphans(&dbfx.srv, day_ago, &removed), ERR_OK);
	assert_int_equal(removed, 0);
	assert_int_equal(files_sweep(&dbfx.srv, day_ago, &removed), ERR_OK);
	assert_int_equal(removed, 1);

	/* the rolled-back bytes uploaded again work from scratch */
	assert_int_equal(files_prepare(&dbfx.srv, &fx.a, lost, sizeof(lost), NULL, 0, &pl, &ei),
	                 ERR_OK);
	assert_true(pl.wrote);
	assert_int_equal(commit_prepared(&pl, FILES_REF, &fl, false), ERR_OK);
	assert_int_equal(read_back(fl.id, &data, &n, NULL), ERR_OK);
	assert_memory_equal(data, lost, sizeof(lost));
}

/* A prepare whose commit is in flight reuses an old blob that gc or the sweep is about to
 * take: the refresh of prepare keeps it, and the commit finds it. */
static void test_inflight_commit_survives(void **state)
{
	(void)state;
	unsigned char orphan[1800], unref[1900];
	struct files_prepared po, pu;
	struct file_info fo, fu;
	struct errinfo ei = {0};
	char path[1400];
	int removed = -1;
	int64_t day_ago = time_now_ms() - 24 * 3600 * 1000LL, old = day_ago - 3600 * 1000LL;
	make_jpeg(orphan, sizeof(orphan), 51);
	make_jpeg(unref, sizeof(unref), 52);

	/* an old orphan (rolled back long ago), and an old unreferenced file */
	assert_int_equal(files_prepare(&dbfx.srv, &fx.a, orphan, sizeof(orphan), NULL, 0, &po, &ei),
	                 ERR_OK);
	assert_int_equal(commit_prepared(&po, FILES_REF, &fo, true), ERR_OK);
	assert_int_equal(put(unref, sizeof(unref), 0, &fu, NULL), ERR_OK);
	struct db_conn *c = NULL;
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_exec(c, &fx.a, NULL, "UPDATE files SET created_at = ?, updated_at = ?",
	                         "ii", old, old),
	                 ERR_OK);
	db_release(c);
	age_blobs(old);

	/* both are prepared again (a clerk uploads the same scans), then gc and the sweep run
	 * before the commits */
	assert_int_equal(files_prepare(&dbfx.srv, &fx.a, orphan, sizeof(orphan), NULL, 0, &po, &ei),
	                 ERR_OK);
	assert_false(po.wrote);
	assert_int_equal(files_prepare(&dbfx.srv, &fx.a, unref, sizeof(unref), NULL, 0, &pu, &ei),
	                 ERR_OK);
	assert_false(pu.wrote);
	assert_int_equal(files_gc(&dbfx.srv, day_ago, 100, &removed), ERR_OK);
	assert_int_equal(removed, 1); /* the row went; its refreshed blob stayed */
	assert_int_equal(count_rows(), 0);
	assert_int_equal(files_sweep_orphans(&dbfx.srv, day_ago, &removed), ERR_OK);
	assert_int_equal(removed, 0);
	assert_int_equal(walk_blobs(NULL, NULL), 2);

	assert_int_equal(commit_prepared(&po, FILES_REF, &fo, false), ERR_OK);
	assert_int_equal(commit_prepared(&pu, FILES_REF, &fu, false), ERR_OK);
	const void *data;
	size_t n;
	assert_int_equal(read_back(fo.id, &data, &n, NULL), ERR_OK);
	assert_memory_equal(data, orphan, sizeof(orphan));
	assert_int_equal(read_back(fu.id, &data, &n, NULL), ERR_OK);
	assert_memory_equal(data, unref, sizeof(unref));

	/* without the refresh (an old blob nobody prepared), gc takes row and blob */
	assert_int_equal(ref(fu.id, -1), ERR_OK);
	assert_int_equal(db_acquire(dbfx.srv.db, 2000, &c), ERR_OK);
	assert_int_equal(db_exec(c, &fx.a, NULL, "UPDATE files SET updated_at = ? WHERE id = ?",
	                         "ii", old, fu.id),
	                 ERR_OK);
	db_release(c);
	blob_path(fu.sm3, path, sizeof(path));
	set_mtime(path, old);
	assert_int_equal(files_gc(&dbfx.srv, day_ago, 100, &removed), ERR_OK);
	assert_int_equal(removed, 1);
	assert_int_equal(access(path, F_OK), -1);
}

/* The local backend's ops directly: list, refresh, remove with and without an age. */
static void test_local_backend_ops(void **state)
{
	(void)state;
	struct files_loc loc = {1, "local", fx.blobs, "{}"};
	const struct files_backend *ops = &files_local_backend;
	char name[FILES_NAME_LEN + 1], path[1400];
	bool yes = false;
	memset(name, 'a', FILES_NAME_LEN);
	name[FILES_NAME_LEN] = 0;
	name[0] = '0', name[1] = 'f';
	snprintf(path, sizeof(path), "%s/0f/%s", fx.blobs, name);
	assert_int_equal(ops->touch(&loc, name, &yes), ERR_OK);
	assert_false(yes);
	assert_int_equal(ops->put(&loc, name, "sealed", 6), ERR_OK);
	assert_int_equal(ops->touch(&loc, name, &yes), ERR_OK);
	assert_true(yes);
	int64_t t = time_now_ms() - 10000;
	set_mtime(path, t);

	/* written at t: kept by a cutoff at or before t, removed by a later one */
	bool gone = true;
	assert_int_equal(ops->remove(&loc, name, t, &gone), ERR_OK);
	assert_false(gone);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(ops->remove(&loc, name, t + 1, &gone), ERR_OK);
	assert_true(gone);
	assert_int_equal(ops->exists(&loc, name, &yes), ERR_OK);
	assert_false(yes);
	assert_int_equal(ops->remove(&loc, name, INT64_MAX, &gone), ERR_OK);
	assert_false(gone);
	/* a removal leaves no aside copy behind */
	assert_int_equal(walk_blobs(NULL, NULL), 0);
	assert_int_equal(ops->put(&loc, name, "sealed", 6), ERR_OK);
	assert_int_equal(ops->remove(&loc, name, INT64_MAX, &gone), ERR_OK);
	assert_true(gone);
	assert_int_equal(walk_blobs(NULL, NULL), 0);

	/* a crash in the middle of a removal left the blob renamed aside: the sweep puts it
	 * back, whatever its age, and removes nothing */
	char aside[1600];
	assert_int_equal(ops->put(&loc, name, "sealed", 6), ERR_OK);
	snprintf(aside, sizeof(aside), "%s/0f/.tmp-rm-%s-0123456789abcdef", fx.blobs, name);
	assert_int_equal(rename(path, aside), 0);
	int swept = -1;
	assert_int_equal(ops->sweep(&loc, time_now_ms() + 60000, &swept), ERR_OK);
	assert_int_equal(swept, 0);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(access(aside, F_OK), -1);
}

struct listed {
	int n;
	char first[FILES_NAME_LEN + 1];
	int64_t written;
};

static enum err count_listed(void *ctx, const char *name, int64_t written_ms)
{
	struct listed *l = ctx;
	if (l->n++ == 0) {
		snprintf(l->first, sizeof(l->first), "%s", name);
		l->written = written_ms;
	}
	return l->n == 3 ? ERR_IO : ERR_OK; /* fn's error stops the listing */
}

static void test_local_backend_each(void **state)
{
	(void)state;
	struct files_loc loc = {1, "local", fx.blobs, "{}"};
	const struct files_backend *ops = &files_local_backend;
	struct listed l = {0};
	char name[FILES_NAME_LEN + 1], path[1400];
	assert_int_equal(ops->each(&loc, count_listed, &l), ERR_OK); /* no directory yet */
	assert_int_equal(l.n, 0);
	for (int i = 0; i < 2; i++) {
		memset(name, '0' + i, FILES_NAME_LEN);
		name[FILES_NAME_LEN] = 0;
		assert_int_equal(ops->put(&loc, name, "x", 1), ERR_OK);
		snprintf(path, sizeof(path), "%s/%.2s/%s", fx.blobs, name, name);
		set_mtime(path, 1700000000123LL);
	}
	/* not blobs: a leftover, a name in the wrong directory, a foreign file */
	snprintf(path, sizeof(path), "%s/00/.tmp-0123456789abcdef", fx.blobs);
	fclose(fopen(path, "wb"));
	memset(name, '2', FILES_NAME_LEN);
	snprintf(path, sizeof(path), "%s/00/%s", fx.blobs, name);
	fclose(fopen(path, "wb"));
	snprintf(path, sizeof(path), "%s/00/README", fx.blobs);
	fclose(fopen(path, "wb"));
	assert_int_equal(ops->each(&loc, count_listed, &l), ERR_OK);
	assert_int_equal(l.n, 2);
	assert_int_equal(strlen(l.first), FILES_NAME_LEN);
	assert_int_equal(l.written, 1700000000123LL);
	/* a third blob: the callback's error comes back */
	memset(name, '3', FILES_NAME_LEN);
	assert_int_equal(ops->put(&loc, name, "x", 1), ERR_OK);
	l.n = 0;
	assert_int_equal(ops->each(&loc, count_listed, &l), ERR_IO);
	assert_int_equal(l.n, 3);
}

struct disk_check {
	const char *sm3;
	const unsigned char *plain;
	size_t n;
	int seen;
};

static void check_blob(const char *path, const char *name, void *ctx)
{
	struct disk_check *dc = ctx;
	size_t bn;
	unsigned char *blob = slurp(path, &bn);
	dc->seen++;
	assert_int_equal(strlen(name), 64);
	assert_null(strstr(name, dc->sm3));
	assert_null(strstr(path, dc->sm3));
	assert_int_equal(strncmp(name, dc->sm3, 8) == 0, 0);
	/* neither the plaintext nor a 64-byte window of it is on the disk */
	assert_null(memmem(blob, bn, dc->plain, dc->n));
	assert_null(memmem(blob, bn, dc->plain + 100, 64));
	assert_int_equal(bn, dc->n + KEYRING_BLOB_OVERHEAD);
	free(blob);
}

static void test_disk_reveals_nothing(void **state)
{
	(void)state;
	unsigned char jpg[5000];
	struct file_info fi;
	make_jpeg(jpg, sizeof(jpg), 21);
	assert_int_equal(put(jpg, sizeof(jpg), 0, &fi, NULL), ERR_OK);
	struct disk_check dc = {fi.sm3, jpg, sizeof(jpg), 0};
	assert_int_equal(walk_blobs(check_blob, &dc), 1);
	assert_int_equal(dc.seen, 1);
	/* the name is the keyed hash: another master key would give another name */
	char path[1400];
	blob_path(fi.sm3, path, sizeof(path));
	assert_int_equal(access(path, F_OK), 0);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 077, 0); /* no access for group or others */
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_round_trip),
	    T(test_dedupe),
	    T(test_tamper_detected),
	    T(test_sniff_table),
	    T(test_size_limit),
	    T(test_refcount_and_gc),
	    T(test_disk_reveals_nothing),
	    T(test_prepare_commit),
	    T(test_prepare_dedupe),
	    T(test_orphan_sweep),
	    T(test_inflight_commit_survives),
	    T(test_local_backend_ops),
	    T(test_local_backend_each),
	};
	const struct dbfx_opts opts = {.data_key = true, .data_dir = true};
	log_setup(LOG_ERROR, stderr);
	return dbfx_run("files", &opts, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}
