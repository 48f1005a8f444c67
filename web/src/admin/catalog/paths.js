// Paths into catalog documents as the server reports them (diff changes, draft problems)
// and the pretty-printed lines of a document annotated with their paths, so that a change
// can be highlighted where it is.

/**
 * Splits a server path into segments. Accepts `sub_items[0].form.fields[2].label`,
 * `sub_items.0.label`, JSON pointers `/sub_items/0/label`, and bracketed keys holding
 * dots (`fields[applicant.name]`, `fields["applicant.name"]`).
 */
export function parsePath(path) {
  const p = String(path ?? '');
  if (p.startsWith('/')) {
    return p
      .slice(1)
      .split('/')
      .filter((s) => s !== '')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  }
  const segs = [];
  let cur = '';
  for (let i = 0; i < p.length; i++) {
    const c = p[i];
    if (c === '.') {
      if (cur) segs.push(cur);
      cur = '';
    } else if (c === '[') {
      if (cur) segs.push(cur);
      cur = '';
      const end = p.indexOf(']', i);
      const inner = p.slice(i + 1, end < 0 ? p.length : end);
      segs.push(inner.replace(/^["']|["']$/g, ''));
      i = end < 0 ? p.length : end;
    } else {
      cur += c;
    }
  }
  if (cur) segs.push(cur);
  return segs;
}

// The names an array element answers to: its index, and its code or id when it has one
// (a server may name sub-items by code and fields by id).
function elementNames(el, i) {
  const names = [String(i)];
  if (el && typeof el === 'object' && !Array.isArray(el)) {
    if (typeof el.code === 'string') names.push(el.code);
    if (typeof el.id === 'string') names.push(el.id);
  }
  return names;
}

/**
 * The document pretty-printed (2 spaces) as lines: [{ text, path }], where path is a list
 * of name lists (one per segment) of the value the line belongs to.
 */
export function docLines(doc) {
  const lines = [];
  const walk = (value, indent, path, prefix, comma) => {
    const pad = '  '.repeat(indent);
    if (Array.isArray(value) && value.length) {
      lines.push({ text: `${pad}${prefix}[`, path });
      value.forEach((el, i) => walk(el, indent + 1, [...path, elementNames(el, i)], '', i < value.length - 1));
      lines.push({ text: `${pad}]${comma ? ',' : ''}`, path });
    } else if (value && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length) {
      const keys = Object.keys(value);
      lines.push({ text: `${pad}${prefix}{`, path });
      keys.forEach((k, i) => walk(value[k], indent + 1, [...path, [k]], `${JSON.stringify(k)}: `, i < keys.length - 1));
      lines.push({ text: `${pad}}${comma ? ',' : ''}`, path });
    } else {
      lines.push({ text: `${pad}${prefix}${JSON.stringify(value)}${comma ? ',' : ''}`, path });
    }
  };
  walk(doc, 0, [], '', false);
  return lines;
}

/** Whether a line lies inside the value at `segs` (the change's subtree). */
export function lineUnder(line, segs) {
  if (!segs.length || line.path.length < segs.length) return false;
  for (let k = 0; k < segs.length; k++) if (!line.path[k].includes(segs[k])) return false;
  return true;
}

/** A value as one short line of text for a change list. */
export function shortValue(v) {
  if (v === undefined) return '';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}…` : s;
}
