// Helpers of the case pages: the case out of the detail answer, the pinned sub-item's
// schema, field labels and jumping to a field or material slot. No rule lives here.
import { api } from '../shared/api.js';
import { fillEmpty, normalizePath, payloadOf } from '../shared/form/data.js';
import { PREFILL_SOURCES } from './labels.js';

export function caseUrl(no, rest = '') {
  return `/api/v1/cases/${encodeURIComponent(no)}${rest}`;
}

/**
 * The case object of a GET /api/v1/cases/{no} answer (the case itself or under "case"), with
 * sub_item_code / item_code taken from its `sub_item` / `item` objects.
 */
export function caseOf(answer) {
  if (!answer) return null;
  const c = answer.case && typeof answer.case === 'object' ? { ...answer, ...answer.case } : { ...answer };
  c.sub_item_code ||= c.sub_item?.code || '';
  c.item_code ||= c.item?.code || '';
  return c;
}

/**
 * The sub-item document the case's form follows: the one the answer carries (pinned at
 * opening) or else the item's published version from the catalog.
 */
export async function subItemOf(c) {
  if (c.sub_item && typeof c.sub_item === 'object' && c.sub_item.form) return { sub: c.sub_item, item: c.item || null };
  const code = c.item_code || String(c.sub_item_code || '').replace(/-\d+$/, '');
  const res = await api.get(`/api/v1/catalog/items/${encodeURIComponent(code)}`);
  const item = res?.item || null;
  const sub = (item?.sub_items || []).find((s) => s.code === c.sub_item_code) || null;
  return { sub, item };
}

/** The form data as FormRenderer sends it, as a string to compare two states with. */
export function formKey(sub, data) {
  const fields = sub?.form?.fields || [];
  return JSON.stringify(payloadOf(fields, fillEmpty(JSON.parse(JSON.stringify(data || {})), fields, sub?.id_docs || [])));
}

/** The schema field a server path belongs to (longest id prefix), or null. */
export function fieldOf(sub, path) {
  const p = normalizePath(path);
  let best = null;
  for (const f of sub?.form?.fields || []) {
    if ((p === f.id || p.startsWith(`${f.id}.`)) && (!best || f.id.length > best.id.length)) best = f;
  }
  return best;
}

export function fieldLabel(sub, path) {
  return fieldOf(sub, path)?.label || '';
}

function flash(el) {
  el.classList.add('jump-flash');
  setTimeout(() => el.classList.remove('jump-flash'), 1600);
}

/** Scrolls to a form field and puts the cursor in it; false when it is not on the page. */
export function focusField(sub, path) {
  const f = fieldOf(sub, path);
  const el = f && document.querySelector(`[data-test="field-${CSS.escape(f.id)}"]`);
  if (!el) return false;
  el.scrollIntoView({ block: 'center', behavior: 'smooth' });
  flash(el);
  const input = el.querySelector('input:not([type=hidden]):not([readonly]), textarea');
  if (input) setTimeout(() => input.focus({ preventScroll: true }), 300);
  return true;
}

/** Scrolls to a material slot (by its id or name). */
export function focusSlot(key) {
  const el =
    document.querySelector(`[data-test="material-slot"][data-slot="${CSS.escape(String(key || ''))}"]`) ||
    [...document.querySelectorAll('[data-test="material-slot"]')].find((e) => e.dataset.name === key) ||
    document.querySelector('[data-test="materials-panel"]');
  if (!el) return false;
  el.scrollIntoView({ block: 'center', behavior: 'smooth' });
  flash(el);
  return true;
}

/** FormRenderer marks: each prefilled field with the label of its source. */
export function sourceMarks(sources) {
  const out = {};
  for (const [path, s] of Object.entries(sources || {})) {
    if (!s || s.source === 'clerk') continue;
    const text = s.label || PREFILL_SOURCES[s.source] || s.source;
    out[normalizePath(path)] = { text, title: s.at ? `${text}，${s.at}` : text };
  }
  return out;
}
