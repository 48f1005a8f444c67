// Server push over WebSocket (/api/v1/ws): one connection per page, topics subscribed by
// name, automatic reconnection with backoff (the server or the network may go away; a
// window PC must recover by itself). Topics: user:<id>[:stream], scope:<org path>:<stream>,
// system:<stream> — the server decides who may subscribe to what.
const handlers = new Map(); // topic -> Set(fn)
let socket = null;
let retry = 0;
let timer = null;
let stopped = false;

function url() {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${proto}//${location.host}/api/v1/ws`;
}

function send(msg) {
  if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(msg));
}

function connect() {
  if (stopped) return;
  socket = new WebSocket(url());
  socket.onopen = () => {
    retry = 0;
    for (const topic of handlers.keys()) send({ op: 'subscribe', topic });
  };
  socket.onmessage = (ev) => {
    let msg;
    try {
      msg = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (msg.op === 'event') {
      for (const fn of handlers.get(msg.topic) || []) fn(msg.data, msg.topic);
    }
  };
  socket.onclose = () => {
    socket = null;
    if (stopped) return;
    const delay = Math.min(30000, 1000 * 2 ** retry) * (0.5 + Math.random() / 2);
    retry += 1;
    timer = setTimeout(connect, delay);
  };
}

// Calls fn(data, topic) for every event on topic; returns a function that unsubscribes.
export function subscribe(topic, fn) {
  if (!handlers.has(topic)) {
    handlers.set(topic, new Set());
    send({ op: 'subscribe', topic });
  }
  handlers.get(topic).add(fn);
  if (!socket && !timer) connect();
  return () => {
    const set = handlers.get(topic);
    if (!set) return;
    set.delete(fn);
    if (set.size === 0) {
      handlers.delete(topic);
      send({ op: 'unsubscribe', topic });
    }
  };
}

// Closes the connection for good (logout).
export function stopPush() {
  stopped = true;
  clearTimeout(timer);
  if (socket) socket.close(1000);
}
