// Plumbing of FormRenderer: dotted-path access to the form data, the empty value of each
// field type, the payload sent to the server's evaluate endpoint, and code tables.
// Nothing here decides validity, visibility or requiredness: the server does.
import { api } from '../api.js';

/** Field types whose value the form never fills (signing and materials steps do). */
export const PLACEHOLDER_TYPES = new Set(['signature', 'attachment']);

/** Value at a dotted path (`applicant.phone`), or undefined. */
export function getPath(obj, path) {
  let cur = obj;
  for (const key of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = cur[key];
  }
  return cur;
}

/** Sets the value at a dotted path, creating the objects on the way. */
export function setPath(obj, path, value) {
  const keys = path.split('.');
  let cur = obj;
  for (const key of keys.slice(0, -1)) {
    if (cur[key] === null || typeof cur[key] !== 'object') cur[key] = {};
    cur = cur[key];
  }
  cur[keys[keys.length - 1]] = value;
}

/**
 * A server path in dot form: `family[0].name` and `family.0.name` both become
 * `family.0.name`; a leading `/` (JSON pointer style) is accepted too.
 */
export function normalizePath(path) {
  return String(path || '')
    .replace(/^\//, '')
    .replace(/\//g, '.')
    .replace(/\[(\d+)\]/g, '.$1')
    .replace(/^\./, '');
}

/** The value an untouched field starts with (its schema default, or an empty shape). */
export function emptyValue(field, idDocs = []) {
  if (field.default !== undefined) return structuredClone(field.default);
  switch (field.type) {
    case 'id_document':
      return { type: idDocs[0] || '', number: '' };
    case 'address':
      return { district: '', street: '', neighbourhood: '', detail: '' };
    case 'bank_account':
      return { bank: '', account: '', holder: '' };
    case 'group':
      return Array.from({ length: field.min_rows || 0 }, () => emptyRow(field, idDocs));
    case 'enum':
      return field.multiple ? [] : '';
    case 'boolean':
      return null;
    default:
      return '';
  }
}

export function emptyRow(group, idDocs = []) {
  const row = {};
  for (const f of group.fields || []) {
    if (!PLACEHOLDER_TYPES.has(f.type) && !f.compute) setPath(row, f.id, emptyValue(f, idDocs));
  }
  return row;
}

/** Fills the missing values of `data` for the given fields (never overwrites). */
export function fillEmpty(data, fields, idDocs = []) {
  for (const f of fields || []) {
    if (PLACEHOLDER_TYPES.has(f.type) || f.compute) continue;
    if (getPath(data, f.id) === undefined) setPath(data, f.id, emptyValue(f, idDocs));
  }
  return data;
}

function isBlank(v) {
  return v === undefined || v === null || v === '';
}

// Numbers are typed as text (a half-typed "12." must survive); what looks like a number is
// sent as one, anything else as typed so that the server can say what is wrong with it.
function numeric(v) {
  if (typeof v === 'number') return v;
  const s = String(v).trim();
  return /^[-+]?\d+(\.\d+)?$/.test(s) ? Number(s) : String(v);
}

function compactObject(v) {
  if (v === null || typeof v !== 'object') return undefined;
  const out = {};
  for (const [k, x] of Object.entries(v)) if (!isBlank(x)) out[k] = x;
  return Object.keys(out).length ? out : undefined;
}

function payloadValue(field, v) {
  switch (field.type) {
    case 'number':
    case 'money':
      return isBlank(v) ? undefined : numeric(v);
    case 'boolean':
      return typeof v === 'boolean' ? v : undefined;
    case 'enum':
      if (Array.isArray(v)) return v.length ? v : undefined;
      return isBlank(v) ? undefined : v;
    case 'id_document':
      // A document type alone (the preselected default) is not an answer yet.
      return v && !isBlank(v.number) ? compactObject(v) : undefined;
    case 'address':
    case 'bank_account':
      return compactObject(v);
    case 'group':
      return Array.isArray(v) ? v.map((row) => payloadOf(field.fields || [], row)) : undefined;
    default:
      return isBlank(v) ? undefined : v;
  }
}

/**
 * The data as the server receives it: nested objects by dotted id, blanks left out,
 * numbers as numbers; signature, attachment and computed fields are not sent.
 */
export function payloadOf(fields, data) {
  const out = {};
  for (const f of fields || []) {
    if (PLACEHOLDER_TYPES.has(f.type) || f.compute) continue;
    const v = payloadValue(f, getPath(data, f.id));
    if (v !== undefined) setPath(out, f.id, v);
  }
  return out;
}

// Code tables rarely change during a page's life: one request per table (a table the
// server does not have stays "missing"; other failures are retried next time).
const tableCache = new Map();

/** Resolves to the entries [{code, name, parent?}] of a code table (cached per page). */
export function loadCodeTable(id) {
  if (!tableCache.has(id)) {
    const p = api.get(`/api/v1/catalog/code-tables/${encodeURIComponent(id)}`).then((t) => t?.entries || []);
    p.catch((err) => {
      if (err?.status !== 404) tableCache.delete(id);
    });
    tableCache.set(id, p);
  }
  return tableCache.get(id);
}

/** The code tables a list of fields needs (enum tables, document types, districts, banks). */
export function tablesOf(fields, out = new Set()) {
  for (const f of fields || []) {
    if (f.type === 'enum' && f.code_table) out.add(f.code_table);
    if (f.type === 'id_document') out.add('id_doc_type');
    // Streets are a code table when the catalog has one, free text otherwise.
    if (f.type === 'address') out.add('district').add('street');
    if (f.type === 'bank_account') out.add('bank');
    if (f.type === 'group') tablesOf(f.fields, out);
  }
  return out;
}
