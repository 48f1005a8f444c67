// The resident at the window: who was identified (card, manual entry or 医保电子凭证) and
// how, shared by the acceptance steps. Kept in sessionStorage so that a reload of the page
// keeps the resident; 下一位 clears it.
import { defineStore } from 'pinia';

const KEY = 'shouli.console.resident';

function restore() {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) || 'null');
  } catch {
    return null;
  }
}

export const useAcceptStore = defineStore('accept', {
  state: () => ({
    // { resident, method: 'card'|'manual'|'evoucher', read_id, doc, warnings, ec_token }
    current: restore(),
    // a request to the identification panel from a shortcut pressed elsewhere: 'card' | 'manual'
    pending: '',
  }),
  getters: {
    resident: (s) => s.current?.resident || null,
  },
  actions: {
    identified(method, answer) {
      this.current = {
        method,
        resident: answer?.resident || null,
        read_id: answer?.read_id ?? null,
        doc: answer?.doc || null,
        warnings: answer?.warnings || [],
        ec_token: answer?.ec_token || '',
      };
      sessionStorage.setItem(KEY, JSON.stringify(this.current));
    },
    updateResident(resident) {
      if (!this.current) return;
      this.current = { ...this.current, resident };
      sessionStorage.setItem(KEY, JSON.stringify(this.current));
    },
    clear() {
      this.current = null;
      sessionStorage.removeItem(KEY);
    },
  },
});
