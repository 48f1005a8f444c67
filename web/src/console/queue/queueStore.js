// The clerk's window and the ticket in hand (docs/queue.md): which window this PC signs in
// at (localStorage: a window PC stays at its counter), the ticket called at it (kept in
// sessionStorage by id and re-read from the server, so a reload finds it again), and the
// board of the centre. Every rule — who may call, which ticket is next, what an action may
// do — is the server's; the store only remembers what the server answered.
import { defineStore } from 'pinia';
import { api } from '../../shared/api.js';

const WINDOW_KEY = 'shouli.console.window';
const TICKET_KEY = 'shouli.console.ticket';
// The states in which a ticket is still in the clerk's hands.
const OPEN_STATES = new Set(['called', 'serving', 'suspended']);

function readJson(storage, key) {
  try {
    return JSON.parse(storage.getItem(key) || 'null');
  } catch {
    return null;
  }
}

export const useQueueStore = defineStore('queue', {
  state: () => ({
    windowId: Number(localStorage.getItem(WINDOW_KEY)) || null,
    windows: [],
    ticket: null,
    board: null,
    // ticket_no -> id of the tickets seen today (the board names tickets by number only)
    ids: {},
    // the case opened for the ticket in hand (the acceptance flow inside the call)
    caseNo: readJson(sessionStorage, TICKET_KEY)?.case_no || '',
  }),
  getters: {
    window: (s) => s.windows.find((w) => w.id === s.windowId) || null,
    open: (s) => Boolean(s.ticket && OPEN_STATES.has(s.ticket.state)),
  },
  actions: {
    async loadWindows() {
      const r = await api.get('/api/v1/admin/queue/windows');
      this.windows = r.windows || [];
      return this.windows;
    },
    chooseWindow(id) {
      this.windowId = id || null;
      if (id) localStorage.setItem(WINDOW_KEY, String(id));
      else localStorage.removeItem(WINDOW_KEY);
    },
    async signIn(id = this.windowId) {
      const w = await api.post(`/api/v1/queue/windows/${id}/signin`, {});
      this.chooseWindow(id);
      this.replaceWindow(w);
      return w;
    },
    async signOut() {
      const w = await api.post(`/api/v1/queue/windows/${this.windowId}/signout`, {});
      this.replaceWindow(w);
      return w;
    },
    replaceWindow(w) {
      if (!w?.id) return;
      const i = this.windows.findIndex((x) => x.id === w.id);
      if (i >= 0) this.windows.splice(i, 1, w);
      else this.windows.push(w);
    },
    async loadBoard() {
      this.board = await api.get('/api/v1/queue/board');
      this.learnIds(this.board);
      return this.board;
    },
    learnIds(board) {
      for (const row of [...(board?.calling || []), ...(board?.waiting || [])]) {
        if (row.id) this.ids[row.ticket_no] = row.id;
      }
    },
    // A board event: the new board and, when the change was one ticket's, that ticket.
    onEvent(msg) {
      if (msg?.board) {
        this.board = msg.board;
        this.learnIds(msg.board);
      }
      const t = msg?.ticket;
      if (t?.id) {
        this.ids[t.ticket_no] = t.id;
        if (this.ticket && t.id === this.ticket.id) this.setTicket(t);
      }
    },
    setTicket(t) {
      if (this.ticket?.id !== t?.id) this.caseNo = '';
      this.ticket = t || null;
      if (t?.id) this.ids[t.ticket_no] = t.id;
      this.persist();
    },
    setCase(no) {
      this.caseNo = no || '';
      this.persist();
    },
    persist() {
      if (this.ticket && OPEN_STATES.has(this.ticket.state)) {
        sessionStorage.setItem(TICKET_KEY, JSON.stringify({ id: this.ticket.id, case_no: this.caseNo }));
      } else {
        sessionStorage.removeItem(TICKET_KEY);
      }
    },
    // After a reload: the ticket this tab had in hand, if the server still has it open.
    async restoreTicket() {
      const saved = readJson(sessionStorage, TICKET_KEY);
      if (!saved?.id || this.ticket) return this.ticket;
      try {
        const r = await api.get(`/api/v1/queue/tickets/${saved.id}`);
        this.caseNo = saved.case_no || '';
        this.setTicket(r.ticket);
      } catch {
        sessionStorage.removeItem(TICKET_KEY);
      }
      return this.ticket;
    },
    async callNext() {
      const t = await api.post(`/api/v1/queue/windows/${this.windowId}/call_next`, {});
      this.setTicket(t);
      return t;
    },
    // recall, skip, start, finish, transfer, move, force_skip on a ticket; the answer is
    // the ticket as it now stands.
    async act(action, body = {}, id = this.ticket?.id) {
      const t = await api.post(`/api/v1/queue/tickets/${id}/${action}`, body);
      if (this.ticket && t?.id === this.ticket.id) this.setTicket(t);
      else if (t?.id) this.ids[t.ticket_no] = t.id;
      return t;
    },
  },
});
