#!/usr/bin/env node
// Generates the fixed (制式) application-form templates of the catalog and records where each
// value goes (docs/catalog.md, "APPFORM").
//
// For every sub-item whose application_form is {"kind":"fixed"} this lays the form out as an
// HTML page (A4, Noto CJK), prints it to catalog/<template> with Debian's Chromium and, in the
// same page, measures every value cell and signature box. The boxes are written back into the
// item file as application_form.fields / signature_boxes, in PDF points from the bottom-left
// corner of their page.
//
// The script paginates by itself: every PDF page is one `.page` element of exactly A4 size,
// so a box measured relative to its `.page` element is where it lands on the printed page.
// Letting Chromium paginate would move rows at page breaks after they were measured.
//
// usage: node scripts/catalog-templates.mjs [--catalog DIR] [--force] [--format full|compat]
//                                           [--only CODE]... [--html DIR]
//   --force          regenerate every template (default: only those whose PDF or positions are
//                    missing or no longer match the form)
//   --format full    fields with w/h, group rows as "<group>[n].<field>", enum/boolean option
//                    boxes as "choices" (default)
//   --format compat  the older record: fields without w/h/choices, every group row recorded
//                    as "<group>.<field>" in row order (for a renderer that predates full)
//   --only CODE      only sub-items whose code starts with CODE (repeatable)
//   --html DIR       also write each form's paginated HTML to DIR (for inspection)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const require = createRequire(join(ROOT, 'web/package.json'));
const { chromium } = require('playwright-core');

// The offline flags of tests/e2e/browser.mjs: this machine has no network beyond loopback.
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

const PX_TO_PT = 0.75; // CSS px are 1/96 in, PDF points 1/72 in
const PAGE_H_PT = (297 / 25.4) * 72; // A4 height, 841.89 pt
const PAD_PT = 2; // inset of a recorded box inside its cell
const SMALL_ENUM = 6; // enum tables up to this size list their options with boxes
const GROUP_ROWS = 3; // blank rows printed for a group unless min_rows asks for more
const SKIPPED_TYPES = new Set(['signature', 'attachment']);
const WIDE_TYPES = new Set(['textarea', 'id_document', 'address', 'bank_account']);
const PARTIES = [
  ['applicant', '申请人信息'],
  ['guardian', '监护人信息'],
  ['spouse', '配偶信息'],
  ['agent', '代理人信息'],
  ['helper', '助残员信息'],
];
const NUMERALS = '一二三四五六七八九十';
// Relative column widths of a group table by field type.
const COL_WEIGHT = {
  id_document: 3,
  address: 3,
  bank_account: 3,
  textarea: 3,
  text: 1.6,
  phone: 1.6,
  date: 1.4,
  enum: 1.3,
  money: 1.1,
  number: 0.9,
  boolean: 0.8,
};
// A fixed value for the PDF's creation/modification dates so reruns give identical files.
const PDF_DATE = 'D:20000101000000Z';

function parseArgs(argv) {
  const opt = { catalog: join(ROOT, 'catalog'), force: false, format: 'full', only: [], html: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--force') opt.force = true;
    else if (a === '--catalog') opt.catalog = resolve(next());
    else if (a === '--format') opt.format = next();
    else if (a === '--only') opt.only.push(next());
    else if (a === '--html') opt.html = resolve(next());
    else if (a === '-h' || a === '--help') {
      process.stdout.write(
        'usage: node scripts/catalog-templates.mjs [--catalog DIR] [--force] ' +
          '[--format full|compat] [--only CODE]... [--html DIR]\n',
      );
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (opt.format !== 'full' && opt.format !== 'compat')
    throw new Error(`--format must be full or compat, not ${opt.format}`);
  return opt;
}

const esc = (s) =>
  String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

async function listItemFiles(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listItemFiles(p)));
    else if (e.name.endsWith('.json')) out.push(p);
  }
  return out.sort();
}

/* ------------------------------------------------------------------ form model */

// Options printed with boxes for an enum/boolean field, or null when the cell stays blank.
function choicesOf(f, tables) {
  if (f.type === 'boolean')
    return [
      { code: 'true', name: '是' },
      { code: 'false', name: '否' },
    ];
  if (f.type !== 'enum') return null;
  const t = tables.get(f.code_table);
  if (!t || !Array.isArray(t.entries) || t.entries.length > SMALL_ENUM) return null;
  return t.entries.map((e) => ({ code: String(e.code), name: String(e.name) }));
}

function cellOf(f, tables) {
  const choices = choicesOf(f, tables);
  let wide = WIDE_TYPES.has(f.type) || (f.type === 'text' && (f.max_length ?? 0) > 50);
  if (choices) {
    // A short cell holds about 14 characters of options at 10 pt.
    const chars = choices.reduce((n, c) => n + c.name.length + 2, 0);
    if (chars > 14) wide = true;
  } else if (f.type === 'enum') {
    const t = tables.get(f.code_table);
    const longest = t ? Math.max(0, ...t.entries.map((e) => String(e.name).length)) : 0;
    if (longest > 10 || f.multiple) wide = true;
  }
  return { id: f.id, label: f.label, type: f.type, wide, choices };
}

/**
 * The printable structure of one sub-item's form: header facts and a list of blocks
 * (key/value sections, group tables, commitments, signatures), in print order.
 */
function buildModel(item, sub, dept, tables) {
  const fields = sub.form.fields.filter((f) => !SKIPPED_TYPES.has(f.type));
  const top = fields.filter((f) => f.type !== 'group');
  const groups = fields.filter((f) => f.type === 'group');
  const used = new Set();
  const blocks = [];
  const kv = (title, list) => {
    if (!list.length) return;
    list.forEach((f) => used.add(f.id));
    blocks.push({ kind: 'kv', title, cells: list.map((f) => cellOf(f, tables)) });
  };
  // Parties first (in the order of PARTIES), then everything else: the business fields.
  for (const [prefix, title] of PARTIES) kv(title, top.filter((f) => f.id.startsWith(`${prefix}.`)));
  kv('申请事项信息', top.filter((f) => !used.has(f.id)));
  for (const g of groups) {
    const cols = g.fields.filter((c) => !SKIPPED_TYPES.has(c.type));
    const rows = Math.min(g.max_rows ?? Infinity, Math.max(GROUP_ROWS, g.min_rows ?? 0));
    blocks.push({ kind: 'group', title: g.label, id: g.id, cols, rows });
  }
  const sig = sub.signatures || {};
  if (Array.isArray(sig.commitments) && sig.commitments.length)
    blocks.push({ kind: 'commit', title: '承诺事项', items: sig.commitments.map((c) => c.text) });
  blocks.push({
    kind: 'sign',
    title: '签名确认',
    signers: (sig.signers || []).map((s) => ({ role: s.role, label: s.label, optional: !!s.when })),
  });
  return {
    title: sub.application_form.title || `${sub.name}申请表`,
    dept: dept ? dept.name : item.department,
    code: sub.code,
    itemName: item.name,
    blocks,
  };
}

/** The field names recorded for a model, in order: what a complete record must contain. */
function expectedPlacements(model, format) {
  const out = [];
  for (const b of model.blocks) {
    if (b.kind === 'kv') b.cells.forEach((c) => out.push(c.id));
    if (b.kind === 'group')
      for (let r = 0; r < b.rows; r++)
        b.cols.forEach((c) => out.push(format === 'full' ? `${b.id}[${r}].${c.id}` : `${b.id}.${c.id}`));
  }
  return out;
}

const expectedSigners = (model) => model.blocks.find((b) => b.kind === 'sign').signers.map((s) => s.role);

/* ------------------------------------------------------------------ fonts */

// Skia (Chromium's PDF backend) embeds TrueType-outlined fonts as small CID subsets but turns
// CFF-outlined ones such as the installed Noto CJK into Type 3 glyph procedures: about four
// times the size (260 KiB instead of 65 KiB for a two-page form). So the Noto CJK faces are
// cut down to the characters of all fixed forms and their outlines converted to TrueType
// with fontTools (Debian package python3-fonttools), then served to the page under their own
// family names. Without fontTools the installed fonts are used as they are.
const FONT_FACES = [
  ['Noto Sans CJK SC', 400, '/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc'],
  ['Noto Sans CJK SC', 700, '/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc'],
  ['Noto Serif CJK SC', 700, '/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc'],
];
// Text the page adds by itself (folios, continued captions), and what a renderer might
// overprint on the date markers.
const EXTRA_TEXT = '第页共（续）年月日0123456789 ';

const FONT_PY = `
import sys
from fontTools.ttLib import TTFont, TTCollection, newTable
from fontTools import subset
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen

src, family, out = sys.argv[1], sys.argv[2], sys.argv[3]
text = sys.stdin.read()
n = next(i for i, f in enumerate(TTCollection(src).fonts)
         if f['name'].getDebugName(1) == family)
f = TTFont(src, fontNumber=n, recalcTimestamp=False)
opts = subset.Options()
opts.name_IDs = ['*']
opts.notdef_outline = True
opts.hinting = False
opts.desubroutinize = True
sub = subset.Subsetter(opts)
sub.populate(text=text)
sub.subset(f)
# CFF outlines to quadratic TrueType ones (the recipe of fontTools' otf2ttf).
gs = f.getGlyphSet()
order = f.getGlyphOrder()
glyf = newTable('glyf')
glyf.glyphOrder = order
glyf.glyphs = {}
for name in order:
    pen = TTGlyphPen(gs)
    gs[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
    glyf.glyphs[name] = pen.glyph()
f['glyf'] = glyf
f['loca'] = newTable('loca')
maxp = f['maxp']
maxp.tableVersion = 0x00010000
for a in ('maxZones', 'maxTwilightPoints', 'maxStorage', 'maxFunctionDefs',
          'maxInstructionDefs', 'maxStackElements', 'maxSizeOfInstructions',
          'maxComponentElements'):
    setattr(maxp, a, 0)
maxp.maxZones = 1
post = f['post']
post.formatType = 2.0
post.extraNames = []
post.mapping = {}
post.glyphOrder = order
f['head'].glyphDataFormat = 0
del f['CFF ']
if 'VORG' in f:
    del f['VORG']
f.sfntVersion = '\\0\\1\\0\\0'
f.save(out)
`;

/** The @font-face rules for text (a string of every character printed), or '' (fallback). */
function prepareFonts(text, dir) {
  const chars = [...new Set(text + EXTRA_TEXT)].sort().join('');
  const rules = [];
  for (const [family, weight, file] of FONT_FACES) {
    const out = join(dir, `${family.replace(/ /g, '')}-${weight}.ttf`);
    try {
      execFileSync('/usr/bin/python3', ['-c', FONT_PY, file, family, out], {
        input: chars,
        stdio: ['pipe', 'ignore', 'pipe'],
      });
    } catch (e) {
      process.stderr.write(
        `warning: could not convert ${family} ${weight} ` +
          `(${String(e.stderr || e.message).trim().split('\n').pop()});\n` +
          '  using the installed fonts, which Chromium embeds as large Type 3 fonts ' +
          '(apt-get install python3-fonttools)\n',
      );
      return '';
    }
    const b64 = readFileSync(out).toString('base64');
    rules.push(
      `@font-face { font-family: "${family}"; font-weight: ${weight}; font-style: normal; ` +
        `src: url(data:font/ttf;base64,${b64}) format("truetype"); }`,
    );
  }
  return rules.join('\n');
}

/* ------------------------------------------------------------------ HTML */

const CSS = `
@page { size: A4; margin: 0; }
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; }
body { font-family: "Noto Sans CJK SC", "Noto Serif CJK SC", sans-serif; font-size: 10.5pt;
  color: #000; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
.page { width: 210mm; height: 297mm; padding: 14mm 17mm 14mm; overflow: hidden;
  break-after: page; position: relative; }
.page:last-child { break-after: auto; }
.body { height: 100%; overflow: hidden; }
.folio { position: absolute; bottom: 6mm; left: 0; right: 0; text-align: center; font-size: 8pt;
  color: #444; }
.head { margin-bottom: 4mm; }
.meta { display: flex; justify-content: space-between; font-size: 8.5pt; color: #333; }
h1 { font-family: "Noto Serif CJK SC", "Noto Sans CJK SC", serif; font-weight: 700;
  font-size: 17pt; text-align: center; margin: 3mm 0 1mm; letter-spacing: 0.5pt; }
.sub { text-align: center; font-size: 9pt; color: #333; }
table { width: 100%; border-collapse: collapse; table-layout: fixed; margin: 0 0 2.5mm;
  break-inside: avoid; }
tr { break-inside: avoid; }
th, td { border: 1px solid #000; padding: 1mm 1.5mm; vertical-align: middle; }
tr.cap th { background: #e6e6e6; text-align: left; font-weight: 700; font-size: 10.5pt;
  padding: 1.2mm 2mm; }
th.l { font-weight: 400; text-align: center; background: #f5f5f5; font-size: 9.5pt;
  line-height: 1.25; padding: 1mm 0.8mm; }
th.l.sm { font-size: 8.5pt; }
tr.hdr th { font-weight: 400; background: #f5f5f5; font-size: 8.5pt; line-height: 1.2;
  text-align: center; padding: 1mm 0.5mm; }
td.v { height: 7.6mm; position: relative; }
td.v.tall { height: 24mm; }
td.n { text-align: center; font-size: 9pt; width: 8mm; }
tr.row td { height: 7.6mm; }
.opts { font-size: 9.5pt; line-height: 1.6; }
.opt { display: inline-block; white-space: nowrap; margin-right: 3mm; }
.box { display: inline-block; width: 3.2mm; height: 3.2mm; border: 1px solid #000;
  vertical-align: -0.5mm; margin-right: 1mm; }
.ymd { position: absolute; left: 0; bottom: 0; font-size: 11pt; white-space: nowrap;
  line-height: 1.2; }
.ymd .ph { visibility: hidden; }
.probe { display: inline-block; width: 0; height: 0; vertical-align: baseline; }
td.c { font-size: 9.5pt; line-height: 1.5; padding: 1.2mm 2mm; }
td.sig { height: 13mm; }
td.d { text-align: right; font-size: 10.5pt; white-space: nowrap; padding-right: 3mm; }
.opt-note { display: block; font-size: 8pt; color: #444; }
`;

// Date markers laid out as "0000年00月00日" with the digits hidden, so a renderer that draws
// "YYYY年MM月DD日" at the recorded baseline in Noto Sans CJK SC 11 pt overprints them exactly.
const YMD =
  '<span class="ymd"><span class="ph">0000</span>年<span class="ph">00</span>月' +
  '<span class="ph">00</span>日<span class="probe"></span></span>';

function valueCell(c, span) {
  const cls = ['v'];
  if (c.type === 'textarea') cls.push('tall');
  let inner = '';
  if (c.choices)
    inner =
      `<div class="opts">` +
      c.choices
        .map(
          (o) =>
            `<span class="opt" data-code="${esc(o.code)}">` +
            `<span class="box"></span>${esc(o.name)}</span>`,
        )
        .join('') +
      `</div>`;
  else if (c.type === 'date') inner = YMD;
  const colspan = span > 1 ? ` colspan="${span}"` : '';
  return `<td class="${cls.join(' ')}"${colspan} data-field="${esc(c.id)}">${inner}</td>`;
}

// Labels longer than a label cell holds on two lines at 9.5 pt get a smaller size.
const labelTh = (label) => `<th class="l${[...label].length > 14 ? ' sm' : ''}">${esc(label)}</th>`;

function kvTable(b, n) {
  // Two label/value pairs a row; a wide cell (or a short one before a wide one) takes a row.
  const rows = [];
  const cells = b.cells;
  for (let i = 0; i < cells.length; ) {
    const a = cells[i];
    const next = cells[i + 1];
    if (!a.wide && next && !next.wide) {
      rows.push(
        `<tr>${labelTh(a.label)}${valueCell(a, 1)}${labelTh(next.label)}${valueCell(next, 1)}</tr>`,
      );
      i += 2;
    } else {
      rows.push(`<tr>${labelTh(a.label)}${valueCell(a, 3)}</tr>`);
      i += 1;
    }
  }
  return (
    `<table class="blk kv"><colgroup><col style="width:19%"><col style="width:31%">` +
    `<col style="width:19%"><col style="width:31%"></colgroup><tbody>` +
    `<tr class="cap"><th colspan="4">${NUMERALS[n] || n + 1}、${esc(b.title)}</th></tr>` +
    rows.join('') +
    `</tbody></table>`
  );
}

function groupTable(b, n) {
  const weights = b.cols.map((c) => COL_WEIGHT[c.type] ?? 1.2);
  const total = weights.reduce((s, w) => s + w, 0);
  const cols =
    `<col style="width:7%">` +
    weights.map((w) => `<col style="width:${((93 * w) / total).toFixed(2)}%">`).join('');
  const head = `<tr class="hdr"><th>序号</th>${b.cols.map((c) => `<th>${esc(c.label)}</th>`).join('')}</tr>`;
  const rows = [];
  for (let r = 0; r < b.rows; r++)
    rows.push(
      `<tr class="row"><td class="n">${r + 1}</td>` +
        b.cols.map((c) => `<td class="v" data-field="${esc(b.id)}[${r}].${esc(c.id)}"></td>`).join('') +
        `</tr>`,
    );
  return (
    `<table class="blk grp"><colgroup>${cols}</colgroup><tbody>` +
    `<tr class="cap"><th colspan="${b.cols.length + 1}">${NUMERALS[n] || n + 1}、${esc(b.title)}</th></tr>` +
    head +
    rows.join('') +
    `</tbody></table>`
  );
}

function commitTable(b, n) {
  return (
    `<table><tbody>` +
    `<tr class="cap"><th>${NUMERALS[n] || n + 1}、${esc(b.title)}（请逐项确认后勾选）</th></tr>` +
    b.items.map((t) => `<tr><td class="c"><span class="box"></span>${esc(t)}</td></tr>`).join('') +
    `</tbody></table>`
  );
}

function signTable(b, n) {
  const rows = b.signers.map(
    (s) =>
      `<tr><th class="l">${esc(s.label)}签名` +
      (s.optional ? `<span class="opt-note">（如适用）</span>` : '') +
      `</th><td class="sig" data-signer="${esc(s.role)}"></td>` +
      `<th class="l">日期</th><td class="d">年　　月　　日</td></tr>`,
  );
  return (
    `<table><colgroup><col style="width:22%"><col style="width:38%">` +
    `<col style="width:10%"><col style="width:30%"></colgroup><tbody>` +
    `<tr class="cap"><th colspan="4">${NUMERALS[n] || n + 1}、${esc(b.title)}</th></tr>` +
    rows.join('') +
    `</tbody></table>`
  );
}

function buildHtml(model, fontCss = '') {
  const parts = [
    `<div class="blk head"><div class="meta"><span>${esc(model.dept)}</span>` +
      `<span>事项编码：${esc(model.code)}</span></div>` +
      `<h1>${esc(model.title)}</h1><div class="sub">（${esc(model.itemName)}）</div></div>`,
  ];
  // The commitments stay on the page of the signatures that confirm them.
  let commit = '';
  model.blocks.forEach((b, n) => {
    if (b.kind === 'kv') parts.push(kvTable(b, n));
    else if (b.kind === 'group') parts.push(groupTable(b, n));
    else if (b.kind === 'commit') commit = commitTable(b, n);
    else parts.push(`<div class="blk keep">${commit}${signTable(b, n)}</div>`);
  });
  return (
    `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">` +
    `<title>${esc(model.title)}</title><style>${fontCss}${CSS}</style></head>` +
    `<body><div id="flow">${parts.join('')}</div><div id="pages"></div></body></html>`
  );
}

/* ------------------------------------------------------------------ in the page */

// Runs in Chromium: aligns the date markers, moves the blocks of #flow onto A4 `.page`
// elements (splitting tables between rows, repeating the caption and column headers), then
// measures every value cell, option box and signature box relative to its page, in CSS px.
function layoutAndMeasure(padPx) {
  for (const m of document.querySelectorAll('.ymd')) {
    const td = m.parentElement.getBoundingClientRect();
    const probe = m.querySelector('.probe').getBoundingClientRect();
    m.style.left = `${padPx - (m.getBoundingClientRect().left - td.left)}px`;
    m.style.bottom = `${padPx - (td.bottom - probe.bottom)}px`;
  }

  const flow = document.getElementById('flow');
  const pages = document.getElementById('pages');
  let body = null;
  const newPage = () => {
    const page = document.createElement('div');
    page.className = 'page';
    body = document.createElement('div');
    body.className = 'body';
    page.appendChild(body);
    pages.appendChild(page);
  };
  const fits = (el) => el.getBoundingClientRect().bottom <= body.getBoundingClientRect().bottom + 0.01;
  newPage();
  for (const blk of [...flow.children]) {
    const split = blk.tagName === 'TABLE' && !blk.classList.contains('keep');
    if (!split) {
      body.appendChild(blk);
      if (!fits(blk) && body.children.length > 1) {
        newPage();
        body.appendChild(blk);
      }
      continue;
    }
    const all = [...blk.tBodies[0].rows];
    const head = all.filter((r) => r.classList.contains('cap') || r.classList.contains('hdr'));
    const data = all.filter((r) => !head.includes(r));
    const colgroup = blk.querySelector('colgroup');
    let shell = null;
    const open = (cont) => {
      shell = blk.cloneNode(false);
      if (colgroup) shell.appendChild(colgroup.cloneNode(true));
      const tb = document.createElement('tbody');
      for (const h of head) {
        const c = h.cloneNode(true);
        if (cont && c.classList.contains('cap')) c.firstElementChild.textContent += '（续）';
        tb.appendChild(c);
      }
      shell.appendChild(tb);
      body.appendChild(shell);
    };
    open(false);
    let placed = false; // some rows of this table are on an earlier page
    let here = 0; // rows of this table on the current page
    for (let i = 0; i < data.length; ) {
      const r = data[i];
      shell.tBodies[0].appendChild(r);
      if (fits(shell)) {
        here++;
        i++;
        continue;
      }
      r.remove();
      if (here < 2 && body.children.length > 1) {
        // A caption with fewer than two rows under it at the foot of a page moves on with
        // its rows.
        for (let k = 0; k < here; k++) shell.tBodies[0].lastElementChild.remove();
        i -= here;
        shell.remove();
        newPage();
        open(placed);
      } else if (here === 0) {
        // Taller than a page on its own: it is cut rather than looping forever.
        shell.tBodies[0].appendChild(r);
        here = 1;
        i++;
        continue;
      } else {
        placed = true;
        newPage();
        open(true);
      }
      here = 0;
    }
  }
  flow.remove();
  const pageEls = [...pages.children];
  pageEls.forEach((p, i) => {
    if (pageEls.length > 1) {
      const f = document.createElement('div');
      f.className = 'folio';
      f.textContent = `第 ${i + 1} 页　共 ${pageEls.length} 页`;
      p.appendChild(f);
    }
  });

  const rel = (el, p) => {
    const r = el.getBoundingClientRect();
    return { left: r.left - p.left, top: r.top - p.top, width: r.width, height: r.height };
  };
  const cells = [];
  const signers = [];
  pageEls.forEach((pg, i) => {
    const p = pg.getBoundingClientRect();
    for (const td of pg.querySelectorAll('[data-field]')) {
      const choices = [...td.querySelectorAll('.opt')].map((o) => ({
        code: o.dataset.code,
        ...rel(o.querySelector('.box'), p),
      }));
      cells.push({ field: td.dataset.field, page: i + 1, ...rel(td, p), choices });
    }
    for (const td of pg.querySelectorAll('[data-signer]'))
      signers.push({ signer: td.dataset.signer, page: i + 1, ...rel(td, p) });
  });
  return { pages: pageEls.length, cells, signers, html: document.documentElement.outerHTML };
}

/* ------------------------------------------------------------------ conversion */

const r1 = (v) => Math.round(v * 10) / 10;

/** A box in page px (top-left origin) to PDF points (bottom-left origin), inset by pad pt. */
function toPdf(b, pad, pageH) {
  const w = b.width * PX_TO_PT;
  const h = b.height * PX_TO_PT;
  return {
    x: r1(b.left * PX_TO_PT + pad),
    y: r1(pageH - (b.top + b.height) * PX_TO_PT + pad),
    w: r1(w - 2 * pad),
    h: r1(h - 2 * pad),
  };
}

function placements(measured, format, pageH) {
  const fields = measured.cells.map((c) => {
    const box = toPdf(c, PAD_PT, pageH);
    const size = box.w >= 80 ? 11 : 9;
    if (format === 'compat') {
      const field = c.field.replace(/\[\d+\]/, '');
      return { field, page: c.page, x: box.x, y: box.y, size };
    }
    const out = { field: c.field, page: c.page, ...box, size };
    if (c.choices.length) out.choices = c.choices.map((o) => ({ code: o.code, ...toPdf(o, 0, pageH) }));
    return out;
  });
  const boxes = measured.signers.map((s) => ({ signer: s.signer, page: s.page, ...toPdf(s, PAD_PT, pageH) }));
  return { fields, boxes };
}

/** Page count, the first page's height in points and whether a Type 3 font is embedded. */
function pdfInfo(buf) {
  const s = buf.toString('latin1');
  const pages = (s.match(/\/Type\s*\/Page(?![a-zA-Z])/g) || []).length;
  const mb = /\/MediaBox\s*\[\s*[-\d.]+\s+[-\d.]+\s+[-\d.]+\s+([-\d.]+)\s*\]/.exec(s);
  return { pages, height: mb ? Number(mb[1]) : PAGE_H_PT, type3: /\/Subtype\s*\/Type3/.test(s) };
}

/** The characters an HTML page prints (tags and the style sheet removed). */
function textOf(html) {
  return html
    .replace(/<style>[\s\S]*?<\/style>/g, '')
    .replace(/<[^>]*>/g, '')
    .replace(/&(amp|lt|gt|quot);/g, (m, e) => ({ amp: '&', lt: '<', gt: '>', quot: '"' })[e]);
}

// Chromium stamps the PDF with the time it was printed; a fixed date of the same length keeps
// the cross-reference offsets valid and the file identical between runs.
function normalisePdf(buf) {
  const s = buf.toString('latin1');
  const out = s.replace(/\/(CreationDate|ModDate) \(D:[^)]*\)/g, (m, key) => {
    const old = m.slice(m.indexOf('(') + 1, -1);
    return `/${key} (${PDF_DATE.padEnd(old.length, ' ').slice(0, old.length)})`;
  });
  return Buffer.from(out, 'latin1');
}

/* ------------------------------------------------------------------ item files */

function recordedOk(af, model, format) {
  const want = expectedPlacements(model, format);
  const got = Array.isArray(af.fields) ? af.fields : null;
  if (!got || got.length !== want.length) return false;
  for (let i = 0; i < want.length; i++) {
    if (got[i].field !== want[i]) return false;
    if (format === 'full' && (got[i].w === undefined || got[i].h === undefined)) return false;
    if (format === 'compat' && (got[i].w !== undefined || got[i].choices !== undefined)) return false;
  }
  const boxes = Array.isArray(af.signature_boxes) ? af.signature_boxes.map((b) => b.signer) : null;
  return !!boxes && boxes.join('\n') === expectedSigners(model).join('\n');
}

/** application_form with fields and signature_boxes placed right after its title. */
function withPlacements(af, fields, boxes) {
  const out = {};
  const anchor = 'title' in af ? 'title' : 'template';
  for (const [k, v] of Object.entries(af)) {
    if (k === 'fields' || k === 'signature_boxes') continue;
    out[k] = v;
    if (k === anchor) {
      out.fields = fields;
      out.signature_boxes = boxes;
    }
  }
  return out;
}

async function main() {
  const opt = parseArgs(process.argv.slice(2));
  const started = process.hrtime.bigint();
  const catalog = opt.catalog;
  const depts = new Map(
    JSON.parse(await readFile(join(catalog, 'departments.json'), 'utf8')).departments.map((d) => [d.id, d]),
  );
  const tables = new Map();
  for (const f of await readdir(join(catalog, 'code_tables')))
    if (f.endsWith('.json')) {
      const t = JSON.parse(await readFile(join(catalog, 'code_tables', f), 'utf8'));
      tables.set(t.id || f.slice(0, -5), t);
    }

  // Work list: every fixed form, with its file and whether it needs generating.
  const files = await listItemFiles(join(catalog, 'items'));
  const docs = new Map(); // file -> { item, text }
  const jobs = [];
  const referenced = new Set();
  for (const file of files) {
    const text = await readFile(file, 'utf8');
    const item = JSON.parse(text);
    docs.set(file, { item, text });
    (item.sub_items || []).forEach((sub, si) => {
      const af = sub.application_form;
      if (!af || af.kind !== 'fixed' || typeof af.template !== 'string') return;
      referenced.add(af.template);
      if (opt.only.length && !opt.only.some((p) => sub.code.startsWith(p))) return;
      const model = buildModel(item, sub, depts.get(item.department), tables);
      const pdf = join(catalog, af.template);
      const fresh = !opt.force && existsSync(pdf) && recordedOk(af, model, opt.format);
      jobs.push({ file, si, sub, model, pdf, fresh });
    });
  }
  const todo = jobs.filter((j) => !j.fresh);
  process.stdout.write(`${jobs.length} fixed forms, ${todo.length} to generate\n`);
  // The fonts hold the characters of every fixed form of the catalog (not only those
  // generated now), so a template's bytes do not depend on which others were generated with it.
  let allText = '';
  for (const { item } of docs.values())
    for (const sub of item.sub_items || [])
      if (sub.application_form && sub.application_form.kind === 'fixed')
        allText += textOf(buildHtml(buildModel(item, sub, depts.get(item.department), tables)));

  const changed = new Set();
  const times = [];
  if (todo.length) {
    const profile = await mkdtemp(join(tmpdir(), 'shouli-templates-'));
    const fontCss = prepareFonts(allText, profile);
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      locale: 'zh-CN',
      viewport: { width: 794, height: 1123 },
      args: CHROMIUM_ARGS,
    });
    try {
      const page = context.pages()[0] || (await context.newPage());
      await page.emulateMedia({ media: 'print' });
      for (const job of todo) {
        const t0 = process.hrtime.bigint();
        await page.setContent(buildHtml(job.model, fontCss), { waitUntil: 'load' });
        await page.evaluate(() => document.fonts.ready);
        const measured = await page.evaluate(layoutAndMeasure, PAD_PT / PX_TO_PT);
        const pdf = normalisePdf(
          await page.pdf({ format: 'A4', printBackground: true, preferCSSPageSize: true }),
        );
        const info = pdfInfo(pdf);
        if (info.pages !== measured.pages)
          throw new Error(`${job.sub.code}: laid out ${measured.pages} pages but the PDF has ${info.pages}`);
        if (fontCss && info.type3)
          process.stderr.write(`warning: ${job.sub.code}: a character fell back to a Type 3 font\n`);
        await mkdir(dirname(job.pdf), { recursive: true });
        await writeFile(job.pdf, pdf);
        if (opt.html) {
          await mkdir(opt.html, { recursive: true });
          // Without the embedded fonts: the installed ones of the same names look the same.
          const html = measured.html.replace(/@font-face \{[^}]*\}\n?/g, '');
          await writeFile(join(opt.html, `${job.sub.code}.html`), `<!doctype html>${html}`);
        }
        const { fields, boxes } = placements(measured, opt.format, info.height);
        const doc = docs.get(job.file);
        doc.item.sub_items[job.si].application_form = withPlacements(
          job.sub.application_form,
          fields,
          boxes,
        );
        changed.add(job.file);
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        times.push(ms);
        const sha = createHash('sha256').update(pdf).digest('hex').slice(0, 12);
        process.stdout.write(
          `  ${job.sub.code}  ${measured.pages} p  ${(pdf.length / 1024).toFixed(0)} KiB  ` +
            `${fields.length} fields  ${ms.toFixed(0)} ms  ${sha}\n`,
        );
      }
    } finally {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    }
  }

  let written = 0;
  for (const file of changed) {
    const doc = docs.get(file);
    const text = `${JSON.stringify(doc.item, null, 2)}\n`;
    if (text !== doc.text) {
      await writeFile(file, text);
      written++;
    }
  }

  // Templates nobody references any more are reported, not deleted: a person decides.
  const tplDir = join(catalog, 'templates');
  if (existsSync(tplDir))
    for (const f of (await readdir(tplDir)).sort())
      if (f.endsWith('.pdf') && !referenced.has(`templates/${f}`))
        process.stdout.write(`note: ${relative(ROOT, join(tplDir, f))} is not referenced by any item\n`);

  const total = Number(process.hrtime.bigint() - started) / 1e6;
  const avg = times.length ? times.reduce((s, t) => s + t, 0) / times.length : 0;
  process.stdout.write(
    `${times.length} templates generated, ${written} item files updated; ` +
      `${(total / 1000).toFixed(1)} s total, ${avg.toFixed(0)} ms per form\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`catalog-templates: ${e.stack || e}\n`);
  process.exit(1);
});
