/**
 * vwinCall.js — the WebRTC call of a virtual-window session (docs/vwin.md "Sessions"),
 * shared by the terminal (kiosk/PAD) and the console (clerk). No UI library inside.
 *
 *   import { createVwinCall } from '../shared/vwinCall.js';
 *   const call = createVwinCall({
 *     sessionId,                 // vwin session id (string or number)
 *     role: 'clerk',             // 'clerk' | 'terminal' — this side
 *     iceServers: join.ice_servers || [],  // from the session/join answer; [] = host only
 *     hostOnly: false,           // true: drop every ICE candidate not on 127.0.0.1 (tests)
 *     iceGatherTimeoutMs: 3000,  // stop waiting for ICE gathering after this long
 *     localVideo, remoteVideo,   // optional <video> elements to attach the streams to
 *     media: { video: true, audio: true },  // getUserMedia constraints (or localStream)
 *     onState(state, detail) {}, // 'idle'|'media'|'signalling'|'connecting'|'connected'|
 *                                // 'reconnecting'|'failed'|'closed'
 *     onError(err) {},           // non-fatal problems (camera missing, a signal POST failed)
 *     onBye(data) {},            // the other side hung up ({reason})
 *     post: (path, body) => …,   // optional: the page's POST (default api.post; the terminal
 *                                // passes its device-session client)
 *   });
 *   await call.start();          // resolves once media is set up and signalling is running
 *   await call.stats();          // { framesDecoded, framesReceived, bytesReceived, ... }
 *   await call.close();          // sends `bye` (unless { silent: true }) and releases media
 *
 * Signalling goes through Shouli, never peer-to-peer discovery: this side POSTs
 * `{type, data}` to /api/v1/{vwin|terminal}/sessions/{id}/signal (clerk | terminal) and
 * receives the other side's signals on the WebSocket topic `session:<id>:<role>` (push.js).
 * Offer/answer are sent once ICE gathering is complete or `iceGatherTimeoutMs` has passed,
 * with the gathered candidates inside the SDP (one message each way, well under the
 * 16 KiB signal cap); trickled `candidate` signals are accepted as well.
 *
 * Roles: the clerk is the offerer, the terminal answers. So that either page may reload at
 * any time, every offer carries a call id `cid`; an answerer receiving an offer with a new
 * cid starts a fresh RTCPeerConnection, and the offerer re-offers (a) every
 * `offerRetryMs` until an answer for its cid arrives, (b) when the connection fails or stays
 * disconnected, and (c) at once when the answerer announces itself with
 * `{type: "candidate", data: null}` (sent by the answerer on start: "I am here").
 *
 * Data shapes (checked by the server, src/vwin/vwin_evidence.c): offer/answer `{type, sdp,
 * cid}`; candidate `{candidate, sdpMid, sdpMLineIndex, usernameFragment}` or null; bye
 * `{reason}`. The hub relays them as `{type: "signal", signal: <type>, data, from}`.
 */
import { api } from './api.js';
import { subscribe } from './push.js';

const DEFAULTS = {
  hostOnly: false,
  iceGatherTimeoutMs: 3000,
  offerRetryMs: 4000,
  disconnectGraceMs: 4000,
  media: { video: true, audio: true },
};

/** Signal endpoint of a role. */
export function signalPath(role, sessionId) {
  const base = role === 'clerk' ? '/api/v1/vwin' : '/api/v1/terminal';
  return `${base}/sessions/${encodeURIComponent(sessionId)}/signal`;
}

/** The address field of an ICE candidate line ("candidate:f 1 udp prio ADDR port typ …"). */
export function candidateAddress(line) {
  const s = String(line || '').replace(/^a=/, '');
  const parts = s.split(/\s+/);
  return parts.length >= 6 ? parts[4] : '';
}

/** Keeps only the 127.0.0.1 candidates of an SDP (hostOnly). */
export function filterSdpHostOnly(sdp) {
  return String(sdp)
    .split(/\r\n/)
    .filter((l) => !l.startsWith('a=candidate:') || candidateAddress(l) === '127.0.0.1')
    .join('\r\n');
}

function newCid() {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Creates a call; nothing happens until start(). See the file comment for the API. */
export function createVwinCall(options) {
  const o = { ...DEFAULTS, ...options };
  if (!o.sessionId) throw new Error('vwinCall: sessionId is required');
  if (o.role !== 'clerk' && o.role !== 'terminal') throw new Error('vwinCall: role must be clerk or terminal');
  const offerer = o.role === 'clerk';
  const path = signalPath(o.role, o.sessionId);
  const topic = `session:${o.sessionId}:${o.role}`;

  let pc = null;
  let cid = '';
  let answered = false;
  let localStream = o.localStream || null;
  let ownsStream = !o.localStream;
  let remoteStream = null;
  let unsubscribe = null;
  let retryTimer = 0;
  let graceTimer = 0;
  let pendingCandidates = [];
  let state = 'idle';
  let closed = false;

  const setState = (s, detail) => {
    if (state === s) return;
    state = s;
    o.onState?.(s, detail);
  };
  const report = (err) => o.onError?.(err);

  const post = o.post || ((p, body) => api.post(p, body));

  async function signal(type, data) {
    try {
      await post(path, { type, data });
    } catch (err) {
      report(err);
    }
  }

  function keepCandidate(c) {
    if (!c) return false;
    return !o.hostOnly || candidateAddress(c) === '127.0.0.1';
  }

  function attach(el, stream) {
    if (!el || !stream) return;
    if (el.srcObject !== stream) el.srcObject = stream;
    const p = el.play?.();
    if (p && p.catch) p.catch(() => {});
  }

  async function openMedia() {
    if (localStream) return;
    setState('media');
    try {
      localStream = await navigator.mediaDevices.getUserMedia(o.media);
    } catch (err) {
      // No camera/microphone: the call still runs, receive-only on this side.
      localStream = null;
      report(Object.assign(new Error(`无法打开摄像头或麦克风：${err.message || err.name}`), { cause: err }));
    }
    if (localStream && o.localVideo) {
      o.localVideo.muted = true;
      attach(o.localVideo, localStream);
    }
  }

  // Resolves when ICE gathering completes or the timeout passes, whichever comes first.
  function gathered(conn) {
    if (conn.iceGatheringState === 'complete') return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        conn.removeEventListener('icegatheringstatechange', onChange);
        resolve(false);
      }, o.iceGatherTimeoutMs);
      function onChange() {
        if (conn.iceGatheringState !== 'complete') return;
        clearTimeout(t);
        conn.removeEventListener('icegatheringstatechange', onChange);
        resolve(true);
      }
      conn.addEventListener('icegatheringstatechange', onChange);
    });
  }

  function dropPc() {
    clearTimeout(graceTimer);
    if (pc) {
      pc.ontrack = null;
      pc.onconnectionstatechange = null;
      pc.close();
    }
    pc = null;
    pendingCandidates = [];
  }

  function newPc() {
    dropPc();
    const conn = new RTCPeerConnection({ iceServers: o.iceServers || [] });
    if (localStream) {
      for (const track of localStream.getTracks()) conn.addTrack(track, localStream);
    } else {
      conn.addTransceiver('video', { direction: 'recvonly' });
      conn.addTransceiver('audio', { direction: 'recvonly' });
    }
    conn.ontrack = (ev) => {
      remoteStream = ev.streams[0] || remoteStream || new MediaStream();
      if (!ev.streams[0]) remoteStream.addTrack(ev.track);
      attach(o.remoteVideo, remoteStream);
    };
    conn.onconnectionstatechange = () => {
      if (conn !== pc || closed) return;
      const s = conn.connectionState;
      if (s === 'connected') {
        clearTimeout(graceTimer);
        setState('connected');
      } else if (s === 'failed') {
        lost('failed');
      } else if (s === 'disconnected') {
        clearTimeout(graceTimer);
        graceTimer = setTimeout(() => conn === pc && conn.connectionState !== 'connected' && lost('disconnected'), o.disconnectGraceMs);
      }
    };
    pc = conn;
    return conn;
  }

  // The media path is gone: the offerer starts over, the answerer waits for the next offer.
  function lost(why) {
    if (closed) return;
    setState('reconnecting', why);
    if (offerer) sendOffer();
  }

  async function sendOffer() {
    if (closed) return;
    clearTimeout(retryTimer);
    const conn = newPc();
    const myCid = newCid();
    cid = myCid;
    answered = false;
    setState(state === 'connected' || state === 'reconnecting' ? 'reconnecting' : 'signalling');
    try {
      await conn.setLocalDescription(await conn.createOffer());
      await gathered(conn);
      if (conn !== pc || closed) return;
      let sdp = conn.localDescription.sdp;
      if (o.hostOnly) sdp = filterSdpHostOnly(sdp);
      await signal('offer', { type: 'offer', sdp, cid: myCid });
    } catch (err) {
      report(err);
    }
    if (closed || cid !== myCid) return;
    // Re-offer until the answerer (maybe not on the page yet) answers this cid.
    retryTimer = setTimeout(() => !answered && cid === myCid && sendOffer(), o.offerRetryMs);
  }

  async function onOffer(data) {
    if (!data?.sdp || !data.cid) return;
    if (data.cid === cid && pc) return; // a re-sent offer we already answered
    const conn = newPc();
    cid = data.cid;
    setState(state === 'connected' ? 'reconnecting' : 'connecting');
    try {
      const sdp = o.hostOnly ? filterSdpHostOnly(data.sdp) : data.sdp;
      await conn.setRemoteDescription({ type: 'offer', sdp });
      await flushCandidates(conn);
      await conn.setLocalDescription(await conn.createAnswer());
      await gathered(conn);
      if (conn !== pc || closed) return;
      let answer = conn.localDescription.sdp;
      if (o.hostOnly) answer = filterSdpHostOnly(answer);
      await signal('answer', { type: 'answer', sdp: answer, cid: data.cid });
    } catch (err) {
      report(err);
    }
  }

  async function onAnswer(data) {
    if (!data?.sdp || data.cid !== cid || !pc || answered) return;
    answered = true;
    clearTimeout(retryTimer);
    setState('connecting');
    try {
      const sdp = o.hostOnly ? filterSdpHostOnly(data.sdp) : data.sdp;
      await pc.setRemoteDescription({ type: 'answer', sdp });
      await flushCandidates(pc);
    } catch (err) {
      report(err);
    }
  }

  async function flushCandidates(conn) {
    const list = pendingCandidates;
    pendingCandidates = [];
    for (const c of list) {
      try {
        await conn.addIceCandidate(c);
      } catch (err) {
        report(err);
      }
    }
  }

  async function onCandidate(data) {
    if (!data) {
      // The answerer (re)started (e.g. the kiosk page reloaded): whatever connection this
      // side still holds is stale, so offer now instead of waiting for it to time out.
      if (offerer) sendOffer();
      return;
    }
    if ((data.cid && data.cid !== cid) || !keepCandidate(data.candidate)) return;
    const c = { candidate: data.candidate, sdpMid: data.sdpMid, sdpMLineIndex: data.sdpMLineIndex };
    if (!pc || !pc.remoteDescription) {
      pendingCandidates.push(c);
      return;
    }
    try {
      await pc.addIceCandidate(c);
    } catch (err) {
      report(err);
    }
  }

  function onSignal(msg) {
    if (closed || !msg) return;
    // The hub relays {type: "signal", signal: "offer"|…, data, from}; other messages on the
    // topic (session state, commands) are not ours.
    if (msg.type !== 'signal' || typeof msg.signal !== 'string') return;
    const data = typeof msg.data === 'string' ? safeParse(msg.data) : msg.data;
    if (msg.signal === 'offer' && !offerer) onOffer(data);
    else if (msg.signal === 'answer' && offerer) onAnswer(data);
    else if (msg.signal === 'candidate') onCandidate(data);
    else if (msg.signal === 'bye') onBye(data);
  }

  function onBye(data) {
    dropPc();
    answered = false;
    setState('reconnecting', 'bye');
    o.onBye?.(data);
  }

  return {
    get state() {
      return state;
    },
    get pc() {
      return pc;
    },
    get localStream() {
      return localStream;
    },
    get remoteStream() {
      return remoteStream;
    },
    /** Opens the camera, subscribes to the session topic and starts signalling. */
    async start() {
      if (closed) throw new Error('vwinCall: closed');
      unsubscribe = subscribe(topic, onSignal);
      await openMedia();
      if (offerer) {
        sendOffer();
      } else {
        setState('signalling');
        signal('candidate', null);
      }
    },
    /**
     * Inbound video figures of the current connection (zeros without one):
     * {framesDecoded, framesReceived, bytesReceived, packetsLost, connectionState}.
     */
    async stats() {
      const out = { framesDecoded: 0, framesReceived: 0, bytesReceived: 0, packetsLost: 0, connectionState: pc?.connectionState || 'closed' };
      if (!pc) return out;
      const report = await pc.getStats();
      report.forEach((r) => {
        if (r.type === 'inbound-rtp' && (r.kind === 'video' || r.mediaType === 'video')) {
          out.framesDecoded += r.framesDecoded || 0;
          out.framesReceived += r.framesReceived || 0;
          out.bytesReceived += r.bytesReceived || 0;
          out.packetsLost += r.packetsLost || 0;
        }
      });
      return out;
    },
    /** Ends the call on this side; sends `bye` unless { silent: true } (e.g. page unload). */
    async close({ silent = false, reason = 'end' } = {}) {
      if (closed) return;
      closed = true;
      clearTimeout(retryTimer);
      clearTimeout(graceTimer);
      unsubscribe?.();
      unsubscribe = null;
      dropPc();
      if (ownsStream && localStream) for (const t of localStream.getTracks()) t.stop();
      localStream = null;
      ownsStream = false;
      if (o.localVideo) o.localVideo.srcObject = null;
      if (o.remoteVideo) o.remoteVideo.srcObject = null;
      setState('closed');
      if (!silent) {
        try {
          await post(path, { type: 'bye', data: { reason: String(reason).slice(0, 200) } });
        } catch (err) {
          report(err);
        }
      }
    },
  };
}

function safeParse(s) {
  try {
    return JSON.parse(s);
  } catch {
    return null;
  }
}
