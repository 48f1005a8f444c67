#!/usr/bin/env node
// open-api-call.mjs: call a Shouli open API (/api/open/v1/...) with a signed request, the way
// an integrating system does (docs/gateway.md "Open APIs"). Also a library for the API tests.
//
//   node scripts/open-api-call.mjs --url http://127.0.0.1:8080 --key-id akXXXX --secret SECRET \
//        /api/open/v1/catalog/items q=老年 limit=5
//   node scripts/open-api-call.mjs --url … --key-id akXXXX --sm2-key my-sm2-private.pem /api/open/v1/ping
//   options: --method GET|POST|…  --body '{"json":1}'  --print-string (show the signing string)
//
// The signing string:
//   METHOD \n TARGET \n TIMESTAMP \n NONCE \n hex(SM3(body))
// TARGET = the path percent-encoded (RFC 3986 unreserved characters and '/' kept, every other
// UTF-8 byte %XX upper-case), then, when there are query arguments, '?' and enc(name)=enc(value)
// ('/' encoded too) sorted by encoded name then value, joined by '&'.
// X-Signature = hex(HMAC-SM3(secret, string)) for an hmac_sm3 credential (the secret's text is
// the key), or base64(DER SM2 signature over the string, SM3 with Z of the default ID
// "1234567812345678") for an sm2 credential.
//
// Node's crypto has SM3 (OpenSSL 3) but signs SM2-curve keys as ECDSA, which is not an SM2
// signature, so the SM2 signature below is computed here with BigInt (fine for a client; never
// use this for anything secret-critical on a shared machine: it is not constant time).
import { createHash, createHmac, createPrivateKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** RFC 3986 encoding of a string's UTF-8 bytes; '/' kept when keepSlash. */
export function percentEncode(s, keepSlash = false) {
  let out = '';
  for (const b of Buffer.from(String(s), 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** [[name, value], …] from an object, an array of pairs, or URLSearchParams. */
function pairs(query) {
  if (!query) return [];
  if (query instanceof URLSearchParams) return [...query.entries()];
  if (Array.isArray(query)) return query.map(([k, v]) => [String(k), v == null ? '' : String(v)]);
  return Object.entries(query).map(([k, v]) => [k, v == null ? '' : String(v)]);
}

/** The canonical target: encoded path, then the sorted encoded query. */
export function canonicalTarget(path, query) {
  const enc = pairs(query).map(([k, v]) => [percentEncode(k), percentEncode(v)]);
  const cmp = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
  enc.sort((x, y) => cmp(x[0], y[0]) || cmp(x[1], y[1]));
  const q = enc.map(([k, v]) => `${k}=${v}`).join('&');
  return percentEncode(path, true) + (q ? `?${q}` : '');
}

export function sm3Hex(data) {
  return createHash('sm3').update(data).digest('hex');
}

/** The string to sign. body: string or Buffer ('' when none). */
export function signingString({ method, path, query, timestamp, nonce, body = '' }) {
  return [method.toUpperCase(), canonicalTarget(path, query), String(timestamp), nonce, sm3Hex(body)].join('\n');
}

export function hmacSm3Hex(secret, text) {
  return createHmac('sm3', Buffer.from(secret, 'utf8')).update(text).digest('hex');
}

// ---- SM2 (GB/T 32918) signatures ---------------------------------------------------------

const P = 0xfffffffeffffffffffffffffffffffffffffffff00000000ffffffffffffffffn;
const A = 0xfffffffeffffffffffffffffffffffffffffffff00000000fffffffffffffffcn;
const B = 0x28e9fa9e9d9f5e344d5a9e4bcf6509a7f39789f515ab8f92ddbcbd414d940e93n;
const N = 0xfffffffeffffffffffffffffffffffff7203df6b21c6052b53bbf40939d54123n;
const G = [
  0x32c4ae2c1f1981195f9904466a39c9948fe30bbff2660be1715a4589334c74c7n,
  0xbc3736a2f4f6779c59bdcee36b692153d0a9877cc62a474002df32e52139f0a0n,
];
export const SM2_DEFAULT_ID = '1234567812345678';

const mod = (x, m) => ((x % m) + m) % m;
function inv(x, m) {
  let [a, b, u, v] = [mod(x, m), m, 1n, 0n];
  while (b) {
    const q = a / b;
    [a, b] = [b, a - q * b];
    [u, v] = [v, u - q * v];
  }
  return mod(u, m);
}
function add(p1, p2) {
  if (!p1) return p2;
  if (!p2) return p1;
  const [x1, y1] = p1;
  const [x2, y2] = p2;
  let l;
  if (x1 === x2) {
    if (mod(y1 + y2, P) === 0n) return null;
    l = mod((3n * x1 * x1 + A) * inv(2n * y1, P), P);
  } else {
    l = mod((y2 - y1) * inv(x2 - x1, P), P);
  }
  const x3 = mod(l * l - x1 - x2, P);
  return [x3, mod(l * (x1 - x3) - y1, P)];
}
function mul(k, pt) {
  let r = null;
  for (let bit = BigInt(k.toString(2).length) - 1n; bit >= 0n; bit--) {
    r = add(r, r);
    if ((k >> bit) & 1n) r = add(r, pt);
  }
  return r;
}
const be32 = (x) => Buffer.from(x.toString(16).padStart(64, '0'), 'hex');
const big = (buf) => BigInt('0x' + (Buffer.from(buf).toString('hex') || '0'));

/** Z = SM3(ENTL || ID || a || b || xG || yG || xA || yA). */
function zValue(pub, id = SM2_DEFAULT_ID) {
  const idb = Buffer.from(id, 'utf8');
  const entl = Buffer.from([(idb.length * 8) >> 8, (idb.length * 8) & 0xff]);
  return createHash('sm3')
    .update(Buffer.concat([entl, idb, be32(A), be32(B), be32(G[0]), be32(G[1]), be32(pub[0]), be32(pub[1])]))
    .digest();
}

function derInt(x) {
  let b = Buffer.from(x.toString(16).padStart(64, '0'), 'hex');
  while (b.length > 1 && b[0] === 0 && !(b[1] & 0x80)) b = b.subarray(1);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return Buffer.concat([Buffer.from([0x02, b.length]), b]);
}

// One DER TLV at der[i]: { tag, start (of the contents), end }.
function tlv(der, i) {
  const tag = der[i];
  let len = der[i + 1];
  let start = i + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + der[i + 2 + k];
    start += n;
  }
  return { tag, start, end: start + len };
}

/** The private scalar d of an SM2 private key in PEM (PKCS#8 or SEC1). */
export function sm2PrivateScalar(pem) {
  // PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, privateKey OCTET STRING }
  // where privateKey holds ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, … }.
  // (PKCS#8 export works for keys Node reads as "ec" and as "sm2" alike; SEC1 does not.)
  const der = createPrivateKey(pem).export({ format: 'der', type: 'pkcs8' });
  const info = tlv(der, 0);
  const version = tlv(der, info.start);
  const alg = tlv(der, version.end);
  const octets = tlv(der, alg.end);
  const ec = tlv(der, octets.start);
  const ecVersion = tlv(der, ec.start);
  const d = tlv(der, ecVersion.end);
  if (info.tag !== 0x30 || octets.tag !== 0x04 || ec.tag !== 0x30 || d.tag !== 0x04) {
    throw new Error('not an SM2 private key');
  }
  return big(der.subarray(d.start, d.end));
}

/** base64 DER SM2 signature of msg (string or Buffer) with the private key in PEM. */
export function sm2SignBase64(privatePem, msg, id = SM2_DEFAULT_ID) {
  const d = sm2PrivateScalar(privatePem);
  const pub = mul(d, G);
  const e = big(
    createHash('sm3')
      .update(Buffer.concat([zValue(pub, id), Buffer.from(msg)]))
      .digest(),
  );
  for (;;) {
    const k = mod(big(randomBytes(32)), N - 1n) + 1n;
    const [x1] = mul(k, G);
    const r = mod(e + x1, N);
    if (r === 0n || r + k === N) continue;
    const s = mod(inv(1n + d, N) * (k - r * d), N);
    if (s === 0n) continue;
    const body = Buffer.concat([derInt(r), derInt(s)]);
    return Buffer.concat([Buffer.from([0x30, body.length]), body]).toString('base64');
  }
}

// ---- requests ----------------------------------------------------------------------------

/**
 * Sign a request. opts: { method='GET', path, query, body='', keyId, secret | sm2Key (PEM),
 * timestamp=Date.now(), nonce=16 random bytes hex }. Returns { target, headers, string }:
 * target is the path and query to request (encoded as signed).
 */
export function signRequest(opts) {
  const method = (opts.method || 'GET').toUpperCase();
  const timestamp = String(opts.timestamp ?? Date.now());
  const nonce = opts.nonce ?? randomBytes(16).toString('hex');
  const body = opts.body ?? '';
  const string = signingString({ method, path: opts.path, query: opts.query, timestamp, nonce, body });
  let signature;
  if (opts.secret != null) signature = hmacSm3Hex(opts.secret, string);
  else if (opts.sm2Key) signature = sm2SignBase64(opts.sm2Key, string);
  else throw new Error('signRequest: secret or sm2Key required');
  const headers = { 'X-Key-Id': opts.keyId, 'X-Timestamp': timestamp, 'X-Nonce': nonce, 'X-Signature': signature };
  return { target: canonicalTarget(opts.path, opts.query), headers, string };
}

/** Sign and send; resolves to { status, body, headers, string }. */
export async function openCall(baseUrl, opts) {
  const s = signRequest(opts);
  const headers = { Accept: 'application/json', ...s.headers, ...(opts.headers || {}) };
  if (opts.body) headers['Content-Type'] = 'application/json';
  const res = await fetch(baseUrl + s.target, {
    method: (opts.method || 'GET').toUpperCase(),
    headers,
    body: opts.body || undefined,
  });
  const text = await res.text();
  let body = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // not JSON
  }
  return { status: res.status, body, headers: res.headers, string: s.string };
}

// ---- command line ------------------------------------------------------------------------

async function main(argv) {
  const opt = { method: 'GET', query: [] };
  let url = process.env.SHOULI_URL || 'http://127.0.0.1:8080';
  let printString = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--url') url = next();
    else if (a === '--key-id') opt.keyId = next();
    else if (a === '--secret') opt.secret = next();
    else if (a === '--sm2-key') opt.sm2Key = readFileSync(next(), 'utf8');
    else if (a === '--method') opt.method = next();
    else if (a === '--body') opt.body = next();
    else if (a === '--print-string') printString = true;
    else if (a.startsWith('/')) opt.path = a;
    else if (a.includes('=')) opt.query.push([a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]);
    else throw new Error(`unknown argument ${a}`);
  }
  if (!opt.path || !opt.keyId || (opt.secret == null && !opt.sm2Key)) {
    process.stderr.write('usage: open-api-call.mjs --url URL --key-id ID (--secret S | --sm2-key PEM) PATH [name=value …]\n');
    return 2;
  }
  const r = await openCall(url, opt);
  if (printString) process.stderr.write(`signing string:\n${r.string}\n\n`);
  process.stdout.write(`${r.status}\n${typeof r.body === 'string' ? r.body : JSON.stringify(r.body, null, 2)}\n`);
  return r.status < 400 ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    },
  );
}
