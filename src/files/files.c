/* files.c: what the file store accepts (type sniffing by content), the module and its job.
 *
 * Types are decided by the bytes, never by the name or the client's Content-Type: a clerk's
 * browser says image/jpeg for whatever the file picker gave it. A file of an accepted family
 * must also be complete (a scan cut off by a dropped connection is refused while the
 * resident is still at the window, not discovered by the department a week later). */
#include "files/files_int.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "sched/sched.h"
#include "server/server.h"

#define TAIL_WINDOW 4096 /* where end markers are looked for */
#define DAY_MS      (24 * 3600 * 1000LL)
#define GC_BATCH    500
#define GC_SAMPLE   16

static const unsigned char SIG_JPEG[] = {0xFF, 0xD8, 0xFF};
static const unsigned char SIG_PNG[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
static const unsigned char SIG_PDF[] = {'%', 'P', 'D', 'F', '-'};

static bool starts(const unsigned char *p, size_t n, const void *sig, size_t len)
{
	return n >= len && !memcmp(p, sig, len);
}

static bool tail_has(const unsigned char *p, size_t n, const void *needle, size_t len)
{
	size_t from = n > TAIL_WINDOW ? n - TAIL_WINDOW : 0;
	return memmem(p + from, n - from, needle, len) != NULL;
}

static size_t skip_space(const unsigned char *p, size_t n)
{
	size_t i = 0;
	if (starts(p, n, "\xEF\xBB\xBF", 3))
		i = 3;
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
		i++;
	return i;
}

static bool json_doc(const unsigned char *p, size_t n)
{
	size_t i = skip_space(p, n);
	if (i >= n || (p[i] != '{' && p[i] != '['))
		return false;
	json_t *v = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL);
	json_decref(v);
	return v != NULL;
}

const char *files_sniff_family(const void *data, size_t n, bool server_made, bool *truncated)
{
	const unsigned char *p = data;
	*truncated = false;
	if (!p || n == 0)
		return NULL;
	if (starts(p, n, SIG_JPEG, sizeof(SIG_JPEG))) {
		*truncated = n < 4 || !tail_has(p, n, "\xFF\xD9", 2);
		return "image/jpeg";
	}
	if (starts(p, n, SIG_PNG, sizeof(SIG_PNG))) {
		*truncated =
		    n < 8 + 25 + 12 || memcmp(p + 12, "IHDR", 4) || !tail_has(p, n, "IEND", 4);
		return "image/png";
	}
	if (starts(p, n, SIG_PDF, sizeof(SIG_PDF))) {
		*truncated = !tail_has(p, n, "%%EOF", 5);
		return "application/pdf";
	}
	if (server_made && json_doc(p, n))
		return "application/json";
	return NULL;
}

const char *files_sniff(const void *data, size_t n, bool server_made)
{
	bool truncated;
	const char *mime = files_sniff_family(data, n, server_made, &truncated);
	return truncated ? NULL : mime;
}

static bool ascii_prefix_ci(const unsigned char *p, size_t n, const char *s)
{
	size_t len = strlen(s);
	if (n < len)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = p[i];
		if (c >= 'A' && c <= 'Z')
			c = (unsigned char)(c - 'A' + 'a');
		if (c != (unsigned char)s[i])
			return false;
	}
	return true;
}

/* Valid UTF-8 without control characters other than tab, CR and LF, in the first
 * TAIL_WINDOW bytes (a character cut at the window's end is fine). */
static bool looks_text(const unsigned char *p, size_t n)
{
	size_t end = n < TAIL_WINDOW ? n : TAIL_WINDOW;
	for (size_t i = 0; i < end;) {
		unsigned char c = p[i];
		if (c < 0x80) {
			if (c < 0x20 && c != '\t' && c != '\r' && c != '\n')
				return false;
			if (c == 0x7F)
				return false;
			i++;
			continue;
		}
		size_t len = (c & 0xE0) == 0xC0   ? 2
		             : (c & 0xF0) == 0xE0 ? 3
		             : (c & 0xF8) == 0xF0 ? 4
		                                  : 0;
		if (!len || c == 0xC0 || c == 0xC1 || c > 0xF4)
			return false;
		for (size_t k = 1; k < len; k++) {
			if (i + k >= end)
				return end < n; /* cut by the window, not by the file */
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
		}
		i += len;
	}
	return true;
}

static const struct {
	const unsigned char *sig;
	size_t len;
	const char *what;
} magic[] = {
    {SIG_JPEG, sizeof(SIG_JPEG), "JPEG 图片"},
    {SIG_PNG, sizeof(SIG_PNG), "PNG 图片"},
    {SIG_PDF, sizeof(SIG_PDF), "PDF 文档"},
    {(const unsigned char *)"PK\x03\x04", 4, "ZIP 压缩包"},
    {(const unsigned char *)"PK\x05\x06", 4, "ZIP 压缩包"},
    {(const unsigned char *)"PK\x07\x08", 4, "ZIP 压缩包"},
    {(const unsigned char *)"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8,
     "旧版 Office 文档（doc、xls、ppt）"},
    {(const unsigned char *)"Rar!\x1A\x07", 6, "RAR 压缩包"},
    {(const unsigned char *)"7z\xBC\xAF\x27\x1C", 6, "7z 压缩包"},
    {(const unsigned char *)"\x1F\x8B", 2, "gzip 压缩包"},
    {(const unsigned char *)"GIF87a", 6, "GIF 图片"},
    {(const unsigned char *)"GIF89a", 6, "GIF 图片"},
    {(const unsigned char *)"II*\0", 4, "TIFF 图片"},
    {(const unsigned char *)"MM\0*", 4, "TIFF 图片"},
    {(const unsigned char *)"\x7F"
                            "ELF",
     4, "可执行程序（ELF）"},
    {(const unsigned char *)"MZ", 2, "Windows 可执行程序"},
    {(const unsigned char *)"BM", 2, "BMP 图片"},
    {(const unsigned char *)"\x00\x00\x01\x00", 4, "ICO 图标"},
    {(const unsigned char *)"OggS", 4, "Ogg 音视频"},
    {(const unsigned char *)"ID3", 3, "MP3 音频"},
};

const char *files_describe(const void *data, size_t n)
{
	const unsigned char *p = data;
	if (!p || n == 0)
		return "空文件";
	bool truncated;
	const char *family = files_sniff_family(p, n, false, &truncated);
	if (family && truncated)
		return !strcmp(family, "image/jpeg")  ? "被截断的 JPEG 图片"
		       : !strcmp(family, "image/png") ? "被截断的 PNG 图片"
		                                      : "被截断的 PDF 文档";
	if (starts(p, n, "RIFF", 4) && n >= 12 && !memcmp(p + 8, "WEBP", 4))
		return "WebP 图片";
	if (starts(p, n, "RIFF", 4) && n >= 12 && !memcmp(p + 8, "AVI ", 4))
		return "AVI 视频";
	if (n >= 12 && !memcmp(p + 4, "ftyp", 4)) {
		const unsigned char *b = p + 8;
		if (!memcmp(b, "heic", 4) || !memcmp(b, "heix", 4) || !memcmp(b, "mif1", 4) ||
		    !memcmp(b, "msf1", 4) || !memcmp(b, "hevc", 4))
			return "HEIC 图片（苹果手机照片）";
		if (!memcmp(b, "avif", 4))
			return "AVIF 图片";
		return "MP4/MOV 视频";
	}
	for (size_t i = 0; i < sizeof(magic) / sizeof(magic[0]); i++) {
		if (starts(p, n, magic[i].sig, magic[i].len))
			return magic[i].what;
		/* the first bytes of a signature and nothing more */
		if (n < magic[i].len && magic[i].len >= 3 && !memcmp(p, magic[i].sig, n))
			return "过短的文件（不足以识别格式）";
	}
	size_t i = skip_space(p, n);
	const unsigned char *q = p + i;
	size_t m = n - i;
	if (ascii_prefix_ci(q, m, "<!doctype html") || ascii_prefix_ci(q, m, "<html"))
		return "HTML 网页";
	if (ascii_prefix_ci(q, m, "<svg") ||
	    (ascii_prefix_ci(q, m, "<?xml") &&
	     memmem(q, m < TAIL_WINDOW ? m : TAIL_WINDOW, "<svg", 4)))
		return "SVG 矢量图";
	if (ascii_prefix_ci(q, m, "<?xml"))
		return "XML 文本";
	if (m && (q[0] == '{' || q[0] == '[') && json_doc(p, n))
		return "JSON 文本";
	if (ascii_prefix_ci(q, m, "{\\rtf"))
		return "RTF 文档";
	if (looks_text(p, n))
		return "纯文本";
	return "未知格式的数据";
}

/* ---- the module ---- */

/* files.gc: unreferenced files older than a day go (rows and blobs), then blobs no row
 * names (a transaction that rolled back after files_prepare, a crash between prepare and
 * commit) once they are a day old, then leftovers of interrupted writes; then a sample of
 * the stored files is read back and re-hashed, so a disk that silently corrupts blobs is
 * noticed before a department asks for one. One grace period for all three: a blob whose
 * commit is in flight was written or refreshed by its prepare minutes ago at most. */
static enum err gc_job(struct server *srv, const struct sched_run_ctx *ctx, char *msg, size_t msgsz)
{
	int64_t cutoff = time_now_ms() - DAY_MS;
	int removed = 0, n = 0, orphans = 0, swept = 0, checked = 0, bad = 0;
	enum err e;
	do {
		if ((e = files_gc(srv, cutoff, GC_BATCH, &n)))
			break;
		removed += n;
	} while (n == GC_BATCH && !sched_run_cancelled(ctx));
	if (!e && !sched_run_cancelled(ctx))
		e = files_sweep_orphans(srv, cutoff, &orphans);
	if (!e)
		e = files_sweep(srv, cutoff, &swept);
	if (!e && !sched_run_cancelled(ctx))
		e = files_verify_sample(srv, GC_SAMPLE, &checked, &bad);
	if (e == ERR_INTEGRITY)
		snprintf(msg, msgsz,
		         "删除无引用文件 %d 个、无记录的孤立文件 %d 个；抽检 %d 个文件，%d "
		         "个校验未通过（SM3 不符或无法解密）",
		         removed, orphans, checked, bad);
	else if (!e)
		snprintf(msg, msgsz,
		         "删除无引用文件 %d 个、无记录的孤立文件 %d 个、中断写入的临时文件 %d "
		         "个；抽检 %d 个文件，校验通过",
		         removed, orphans, swept, checked);
	return e;
}

static enum err files_init(struct server *srv)
{
	if (!srv->sched)
		return ERR_OK;
	return sched_register(srv, "files.gc", gc_job,
	                      &(struct sched_defaults){"30 4 * * *", 7200, 1, "files",
	                                               "清理无引用文件并抽检文件完整性"});
}

const struct module files_module = {"files", files_init, NULL, NULL, 0};
