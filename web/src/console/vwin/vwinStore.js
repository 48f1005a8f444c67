// The clerk's side of a virtual-window session (docs/vwin.md "Sessions"): the session of the
// terminal ticket in hand, the WebRTC call (shared/vwinCall.js — the one call module; this
// store only keeps it alive while the clerk moves between the queue, the video pane and the
// acceptance pages), the in-call commands and their states, and the session's events on
// session:<id>:clerk. The streams are kept here rather than bound to <video> elements, so a
// page showing the call can be left and re-entered without dropping the call.
import { defineStore } from 'pinia';
import { markRaw } from 'vue';
import { api } from '../../shared/api.js';
import { subscribe } from '../../shared/push.js';
import { createVwinCall } from '../../shared/vwinCall.js';

const KEY = 'shouli.console.vwin';
const ICE_KEY = 'shouli.console.ice';

// `?ice=loopback` on any console URL (the browser tests, a demo on one machine) keeps the
// call on 127.0.0.1 candidates (vwinCall's hostOnly) for the rest of the tab's life: the
// console's own navigation drops the query string before the clerk joins a call.
function loopbackOnly() {
  const q = new URLSearchParams(location.search).get('ice');
  if (q === 'loopback') sessionStorage.setItem(ICE_KEY, q);
  return sessionStorage.getItem(ICE_KEY) === 'loopback';
}
loopbackOnly();

// vwinCall attaches streams to "video elements"; these sinks keep them in the store instead.
function sink(onStream) {
  let stream = null;
  return {
    muted: true,
    get srcObject() {
      return stream;
    },
    set srcObject(s) {
      stream = s;
      onStream(s);
    },
    play() {
      return Promise.resolve();
    },
  };
}

export const useVwinStore = defineStore('vwin', {
  state: () => ({
    session: null,
    // call state of vwinCall: idle, media, signalling, connecting, connected, reconnecting,
    // failed, closed
    callState: 'idle',
    callError: '',
    localStream: null,
    remoteStream: null,
    commands: [],
    evidence: null,
    error: '',
  }),
  getters: {
    // open for joining, signals and commands (the server's rule: waiting or active)
    active: (s) => Boolean(s.session && ['waiting', 'active'].includes(s.session.state)),
    inCall: (s) => !['idle', 'closed'].includes(s.callState),
  },
  actions: {
    // The session of a ticket (pre-warmed when the ticket was called; the latest one after
    // a recall): GET /api/v1/vwin/tickets/{id}/session answers the session view, or 404
    // while there is none (yet). null when none.
    async findForTicket(ticketId) {
      try {
        return await api.get(`/api/v1/vwin/tickets/${encodeURIComponent(ticketId)}/session`);
      } catch (err) {
        if (err.status === 404) return null;
        throw err;
      }
    },
    async load(id) {
      const s = await api.get(`/api/v1/vwin/sessions/${id}`);
      this.setSession(s);
      return s;
    },
    setSession(s) {
      if (!s) return;
      if (this.session?.id !== s.id) this.commands = [];
      this.session = { ...(this.session?.id === s.id ? this.session : {}), ...s };
      if (Array.isArray(s.commands)) this.commands = s.commands;
      sessionStorage.setItem(KEY, String(s.id));
      this.listen();
    },
    savedId() {
      return Number(sessionStorage.getItem(KEY)) || null;
    },
    listen() {
      const id = this.session?.id;
      if (!id || this._topic === id) return;
      this._unsub?.();
      this._topic = id;
      this._unsub = markRaw(subscribe(`session:${id}:clerk`, (msg) => this.onEvent(msg)));
    },
    // Events on session:<id>:clerk besides the signals (vwinCall's): the session's state and
    // the result of a command, as src/vwin publishes them.
    onEvent(msg) {
      if (!msg || !this.session) return;
      if (msg.type === 'state' && msg.state) this.session = { ...this.session, state: msg.state };
      else if (msg.type === 'command_result' && msg.command) {
        this.upsertCommand({ id: msg.command, state: msg.state, result: msg.result ?? null, message: msg.message ?? null });
        // the stored command (its args, the time) as the server now has it
        this.load(this.session.id).catch(() => {});
      } else if (msg.type === 'case' && msg.case_no) this.session = { ...this.session, case_no: msg.case_no };
    },
    upsertCommand(c) {
      const i = this.commands.findIndex((x) => x.id === c.id);
      if (i >= 0) this.commands.splice(i, 1, { ...this.commands[i], ...c });
      else this.commands.push(c);
    },
    // Joins the session as the clerk and starts the call (the clerk offers).
    async join() {
      this.error = '';
      this.callError = '';
      const id = this.session.id;
      const joined = await api.post(`/api/v1/vwin/sessions/${id}/join`, {});
      this.setSession(joined);
      if (this._call) return;
      const hostOnly = loopbackOnly();
      const call = createVwinCall({
        sessionId: id,
        role: 'clerk',
        iceServers: joined?.join?.ice_servers || [],
        hostOnly,
        localVideo: sink((s) => (this.localStream = s ? markRaw(s) : null)),
        remoteVideo: sink((s) => (this.remoteStream = s ? markRaw(s) : null)),
        onState: (st) => (this.callState = st),
        onError: (err) => (this.callError = err?.message || String(err)),
      });
      this._call = markRaw(call);
      window.__vwinCall = call; // as on the kiosk: getStats through the page (browser tests)
      await call.start();
    },
    async stats() {
      return this._call ? this._call.stats() : null;
    },
    // The answer is the session with its commands; `command` is the new one's id.
    async command(body) {
      const r = await api.post(`/api/v1/vwin/sessions/${this.session.id}/commands`, body);
      this.setSession(r);
      return r?.command;
    },
    // Does a case opened now belong to the call? (an open session without a case yet)
    takesCase() {
      const st = this.session?.state;
      return Boolean(this.session && !this.session.case_no && (st === 'waiting' || st === 'active'));
    },
    // 开始受理 during the call: the server opens the case with entry "virtual" (the item's
    // vwin_mode decides; 收受分离 when mode is "separated"), records the session and the point
    // on it and links it in one write. body: {sub_item_code, resident_id, mode, allow_duplicate?}.
    // Answers the case number; a duplicate is thrown as POST /api/v1/cases throws it.
    async openCase(body) {
      const r = await api.post(`/api/v1/vwin/sessions/${this.session.id}/case`, body);
      this.setSession(r);
      return r?.case_no;
    },
    // The case opened during the call belongs to the session (its evidence trail, the
    // terminal's signing routes).
    async linkCase(no) {
      if (!this.session || this.session.case_no === no) return;
      const r = await api.post(`/api/v1/vwin/sessions/${this.session.id}/case`, { case_no: no });
      this.setSession(r);
    },
    async loadEvidence() {
      this.evidence = await api.get(`/api/v1/vwin/sessions/${this.session.id}/evidence`);
      return this.evidence;
    },
    // 结束通话: ends the session on the server, then the call here.
    async end() {
      const id = this.session?.id;
      let err = null;
      try {
        const s = await api.post(`/api/v1/vwin/sessions/${id}/end`, { reason: '窗口人员结束通话' });
        this.setSession({ ...s, state: s?.state || 'ended' });
      } catch (e) {
        err = e;
      }
      await this.hangUp();
      if (err) throw err;
    },
    async hangUp() {
      const call = this._call;
      this._call = null;
      if (window.__vwinCall === call) window.__vwinCall = null;
      if (call) await call.close({ reason: 'end' });
      this.callState = 'closed';
      this.localStream = null;
      this.remoteStream = null;
    },
    // Forget the session (next ticket).
    async reset() {
      await this.hangUp();
      this._unsub?.();
      this._unsub = null;
      this._topic = null;
      this.session = null;
      this.commands = [];
      this.evidence = null;
      this.callState = 'idle';
      sessionStorage.removeItem(KEY);
    },
  },
});
