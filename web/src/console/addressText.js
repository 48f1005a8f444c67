// A catalog `address` value ({district, street, neighbourhood, detail}, or plain text) as
// one line, districts and streets by their code-table names.
import { reactive } from 'vue';
import { loadCodeTable } from '../shared/form/data.js';

const names = reactive({ district: {}, street: {} });
let loading = null;

function load() {
  if (!loading) {
    loading = Promise.all(
      ['district', 'street'].map((t) =>
        loadCodeTable(t).then(
          (entries) => {
            names[t] = Object.fromEntries(entries.map((e) => [e.code, e.name]));
          },
          () => {},
        ),
      ),
    );
  }
  return loading;
}

export function addressText(v) {
  if (v === null || v === undefined || v === '') return '';
  if (typeof v === 'string') {
    // The resident record keeps the address as JSON text.
    if (v.startsWith('{')) {
      try {
        return addressText(JSON.parse(v));
      } catch {
        return v;
      }
    }
    return v;
  }
  if (typeof v !== 'object') return String(v);
  load();
  return [names.district[v.district] || v.district, names.street[v.street] || v.street, v.neighbourhood, v.detail]
    .filter(Boolean)
    .join(' ');
}
