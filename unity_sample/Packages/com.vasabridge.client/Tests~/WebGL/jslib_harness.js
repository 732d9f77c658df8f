// Runs Runtime/Plugins/WebGL/VasaBridgeWebSocket.jslib the way a Unity WebGL build links it, under node or in a
// browser page, and drives the sidecar through it as WebGLWebSocketBridge.cs would (tests/test_unity_webgl.py):
//
//   node --experimental-websocket jslib_harness.js <jslib> line <ws url> <pcm16 file> <rate> <protocol> <dump.f32>
//   node --experimental-websocket jslib_harness.js <jslib> close <ws url> <protocol>  (prints READY; the test then
//                                                     stops the sidecar; prints the close code and reason it saw)
//   node --experimental-websocket jslib_harness.js <jslib> refused <ws url>
//   in a page: add this file as a script, then  await runJslibHarness(jslibSource, mode, args)  (the line's PCM as
//              a Uint8Array; it returns {lines, frames})
//
// The emulated Emscripten glue is only what a Unity 2021+ WebGL build gives a .jslib: LibraryManager.library,
// mergeInto, autoAddDeps, HEAPU8 (replaced when the heap grows: the emulation grows it on purpose), _malloc, _free,
// UTF8ToString, stringToUTF8, lengthBytesUTF8, and the browser's WebSocket. Like Emscripten, it links each library
// function from its source text (fn.toString()) into one scope, so a function that leaned on anything else in the
// .jslib file (a closure, a helper outside the library object) fails here as it would in a build.
"use strict";
const IN_NODE = typeof window === "undefined";
const utf8 = { encode: (s) => new TextEncoder().encode(s), decode: (b) => new TextDecoder().decode(b) };

let passed = 0, failed = 0;
const printed = [];
function print(line) { printed.push(line); console.log(line); }
function check(ok, name, why) {
  if (ok) { passed++; print("PASS " + name); } else { failed++; print("FAIL " + name + (why ? ": " + why : "")); }
}
function info(line) { print("INFO " + line); }

// ---- the Emscripten / Unity glue -----------------------------------------------------------------------------
// Its names live in the scope the library is linked into: a vm context under node, the page's globals in a browser
// (where Emscripten's module scope is emulated by the window).
const glue = IN_NODE ? { WebSocket: globalThis.WebSocket, console, Math, String, Uint8Array, ArrayBuffer } : window;
let heapTop = 16, grown = 0;
glue.HEAPU8 = new Uint8Array(1 << 16);
glue._malloc = function (n) {
  if (heapTop + n > glue.HEAPU8.length) {            // grow: a new buffer, as ALLOW_MEMORY_GROWTH does
    const bigger = new Uint8Array(Math.max(glue.HEAPU8.length * 2, heapTop + n + 1024));
    bigger.set(glue.HEAPU8);
    glue.HEAPU8 = bigger;
    grown++;
  }
  const p = heapTop;
  heapTop += (n + 7) & ~7;
  return p;
};
const freed = [];
glue._free = function (p) { freed.push(p); };
glue.lengthBytesUTF8 = (s) => utf8.encode(s).length;
glue.stringToUTF8 = function (s, ptr, max) {
  const b = utf8.encode(s).subarray(0, max - 1);
  glue.HEAPU8.set(b, ptr);
  glue.HEAPU8[ptr + b.length] = 0;
  return b.length;
};
glue.UTF8ToString = function (ptr) {
  let end = ptr;
  while (glue.HEAPU8[end]) end++;
  return utf8.decode(glue.HEAPU8.slice(ptr, end));
};
glue.LibraryManager = { library: {} };
glue.mergeInto = (target, lib) => Object.assign(target, lib);
glue.autoAddDeps = function (lib, name) {
  for (const k of Object.keys(lib)) if (k[0] !== "$") lib[k + "__deps"] = (lib[k + "__deps"] || []).concat([name]);
};
const evalInScope = IN_NODE
  ? ((ctx) => (src) => require("vm").runInContext(src, ctx))(require("vm").createContext(glue))
  : (src) => (0, eval)(src);  // indirect eval: the page's global scope

function serialize(value) {            // an object of the library as Emscripten emits it: source text
  if (typeof value === "function") return "(" + value.toString() + ")";
  if (value && typeof value === "object" && !Array.isArray(value))
    return "{" + Object.keys(value).map((k) => JSON.stringify(k) + ": " + serialize(value[k])).join(", ") + "}";
  return JSON.stringify(value);
}

function link(source) {
  evalInScope(source);
  const lib = glue.LibraryManager.library;
  const exported = {};
  for (const k of Object.keys(lib)) {
    if (k.endsWith("__deps")) continue;
    if (k[0] === "$") evalInScope("var " + k.slice(1) + " = " + serialize(lib[k]) + ";");
    else exported[k] = evalInScope("(" + lib[k].toString() + ")");
  }
  // Emscripten links a $-object only when a function lists it: every function must depend on $VasaWS.
  const missing = Object.keys(exported).filter((k) => !(lib[k + "__deps"] || []).includes("$VasaWS"));
  check(missing.length === 0, "every library function depends on $VasaWS (autoAddDeps)", missing.join(", "));
  return exported;
}

function cString(s) {
  const n = glue.lengthBytesUTF8(s) + 1;
  const p = glue._malloc(n);
  glue.stringToUTF8(s, p, n);
  return p;
}

// ---- a small msgpack (the subset the protocol uses) ----------------------------------------------------------
function encode(v, out) {
  if (v === null || v === undefined) out.push(0xc0);
  else if (v === true || v === false) out.push(v ? 0xc3 : 0xc2);
  else if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v < 2 ** 32) {
    if (v < 128) out.push(v); else out.push(0xce, (v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  } else if (typeof v === "number") {
    const b = new Uint8Array(8); new DataView(b.buffer).setFloat64(0, v); out.push(0xcb, ...b);
  } else if (typeof v === "string") {
    const b = utf8.encode(v);
    if (b.length < 32) out.push(0xa0 | b.length); else out.push(0xd9, b.length);
    out.push(...b);
  } else if (v instanceof Uint8Array) {
    out.push(0xc6, (v.length >>> 24) & 255, (v.length >>> 16) & 255, (v.length >>> 8) & 255, v.length & 255);
    for (let i = 0; i < v.length; i++) out.push(v[i]);
  } else if (Array.isArray(v)) { out.push(0x90 | v.length); v.forEach((x) => encode(x, out)); }
  else {
    const ks = Object.keys(v);
    out.push(0x80 | ks.length);
    ks.forEach((k) => { encode(k, out); encode(v[k], out); });
  }
  return out;
}

function decode(buf) {
  let o = 0;
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const str = (n) => { const s = utf8.decode(buf.slice(o, o + n)); o += n; return s; };
  const bin = (n) => { const b = buf.slice(o, o + n); o += n; return b; };
  const map = (n) => { const m = {}; for (let i = 0; i < n; i++) { const k = read(); m[k] = read(); } return m; };
  const arr = (n) => { const a = []; for (let i = 0; i < n; i++) a.push(read()); return a; };
  function read() {
    const t = buf[o++];
    if (t < 0x80) return t;
    if (t >= 0xe0) return t - 256;
    if ((t & 0xf0) === 0x80) return map(t & 15);
    if ((t & 0xf0) === 0x90) return arr(t & 15);
    if ((t & 0xe0) === 0xa0) return str(t & 31);
    let v;
    switch (t) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: v = buf[o]; o += 1; return bin(v);
      case 0xc5: v = dv.getUint16(o); o += 2; return bin(v);
      case 0xc6: v = dv.getUint32(o); o += 4; return bin(v);
      case 0xca: v = dv.getFloat32(o); o += 4; return v;
      case 0xcb: v = dv.getFloat64(o); o += 8; return v;
      case 0xcc: return buf[o++];
      case 0xcd: v = dv.getUint16(o); o += 2; return v;
      case 0xce: v = dv.getUint32(o); o += 4; return v;
      case 0xcf: v = Number(dv.getBigUint64(o)); o += 8; return v;
      case 0xd0: v = dv.getInt8(o); o += 1; return v;
      case 0xd1: v = dv.getInt16(o); o += 2; return v;
      case 0xd2: v = dv.getInt32(o); o += 4; return v;
      case 0xd9: v = buf[o]; o += 1; return str(v);
      case 0xda: v = dv.getUint16(o); o += 2; return str(v);
      case 0xdc: v = dv.getUint16(o); o += 2; return arr(v);
      case 0xde: v = dv.getUint16(o); o += 2; return map(v);
      default: throw new Error("msgpack type 0x" + t.toString(16) + " not handled by this test decoder");
    }
  }
  return read();
}

// ---- the C# side's calls, as WebGLWebSocketBridge makes them -------------------------------------------------
const frame = () => new Promise((r) => setTimeout(r, 16));    // the browser runs its events between frames

class Socket {
  constructor(lib, url, protocol) {
    this.lib = lib;
    this.id = lib.VasaWS_Open(cString(url), cString(protocol));
    this.capacity = 1 << 12;
    this.buffer = glue._malloc(this.capacity);
  }
  send(map) {
    const bytes = Uint8Array.from(encode(map, []));
    const p = glue._malloc(bytes.length);
    glue.HEAPU8.set(bytes, p);
    return this.lib.VasaWS_Send(this.id, p, bytes.length) === 1;
  }
  poll() {                                                    // WebGLWebSocketBridge.Poll
    const kind = this.lib.VasaWS_PeekKind(this.id);
    if (kind === 0) return null;
    const e = { kind, length: this.lib.VasaWS_PeekLength(this.id), code: this.lib.VasaWS_PeekCode(this.id) };
    if (kind !== 2) e.text = glue.UTF8ToString(this.lib.VasaWS_PeekText(this.id));
    else if (this.capacity < e.length) {
      this.capacity = Math.max(e.length, this.capacity * 2);
      this.buffer = glue._malloc(this.capacity);              // may grow (replace) HEAPU8
    }
    const n = this.lib.VasaWS_Take(this.id, this.buffer, this.capacity);
    if (kind === 2) e.message = decode(glue.HEAPU8.slice(this.buffer, this.buffer + n));
    return e;
  }
}

async function until(sock, seen, done, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!done() && Date.now() < deadline) {
    let e;
    while ((e = sock.poll())) seen(e);
    if (!done()) await frame();
  }
  return done();
}

async function line(lib, url, pcm, rate, protocol) {
  const sock = new Socket(lib, url, "vasa-bridge.v1");
  let opened = false, closed = null;
  const replies = {}, motion = [];
  let ended = null;
  const seen = (e) => {
    if (e.kind === 1) opened = true;
    else if (e.kind === 4) closed = e;
    else if (e.kind === 2) {
      const m = e.message;
      if (m.id !== null && m.id !== undefined) replies[m.id] = m;
      else if (m.type === "motion") motion.push(m);
      else if (m.type === "end") ended = m;
    }
  };
  check(await until(sock, seen, () => opened || closed, 10000) && opened, "the socket opens (Open event)",
    closed ? "closed with " + closed.code : "no event");
  let id = 0;
  async function request(map) {
    map.id = ++id;
    const mine = id;
    if (!sock.send(map)) return null;
    await until(sock, seen, () => replies[mine] || closed, 10000);
    return replies[mine] || null;
  }
  const hello = await request({ type: "hello", protocol, client: "vasa-bridge-jslib-test" });
  check(hello && hello.type === "hello_ok" && hello.fps === 25, "hello_ok arrives through the bridge",
    JSON.stringify(hello));
  const open = await request({ type: "open", audio: { format: "pcm16", sample_rate_hz: rate }, outputs: ["motion"] });
  check(open && open.type === "open_ok" && open.channel_names.length === 60, "open_ok lists 60 channels");
  const chunk = 2 * Math.floor(rate / 10);
  let received = 0;
  for (let off = 0; off < pcm.length; off += chunk) {
    const reply = await request({ type: "audio", session: open.session,
      audio: new Uint8Array(pcm.subarray(off, Math.min(pcm.length, off + chunk))) });
    if (!reply || reply.type !== "audio_ok") {
      check(false, "every audio chunk is accepted", JSON.stringify(reply));
      break;
    }
    received = reply.received_ms;
  }
  const durationMs = (pcm.length / 2) * 1000 / rate;
  check(Math.abs(received - durationMs) < 0.01, "audio_ok.received_ms counts all audio",
    received + " vs " + durationMs);
  const endOk = await request({ type: "end_audio", session: open.session });
  check(endOk && endOk.type === "end_audio_ok", "end_audio_ok arrives");
  await until(sock, seen, () => ended || closed, 20000);
  const expected = Math.ceil(durationMs * 25 / 1000 - 1e-9);
  let next = 0, inOrder = true;
  const frames = new Uint8Array(motion.reduce((n, m) => n + m.frames.length, 0));
  let at = 0;
  for (const m of motion) {
    if (m.seq !== next || m.channels !== 60 || m.dtype !== "f32") inOrder = false;
    next = m.seq + m.n;
    frames.set(m.frames, at);
    at += m.frames.length;
  }
  check(ended && ended.reason === "end_of_audio" && ended.frames_total === expected,
    "the stream ends with end_of_audio after ceil(D*fps) frames", JSON.stringify(ended));
  check(next === expected && inOrder, "received every frame (" + next + " of " + expected + ") in seq order");
  const err = await request({ type: "end_audio", session: "00000000deadbeef" });
  check(err && err.type === "error" && err.code === "unknown_session" && err.id === id,
    "an error reply reaches its request by id", JSON.stringify(err));
  check(grown > 0, "the heap grew (replacing HEAPU8) while messages were copied in: the bridge reads HEAPU8 fresh");
  info(motion.length + " motion messages, " + next + " frames, heap grown " + grown + " times");
  lib.VasaWS_Close(sock.id, 1000, cString("client closing"));
  await until(sock, seen, () => closed, 5000);
  check(closed && closed.code === 1000, "a client close ends with code 1000", closed && String(closed.code));
  lib.VasaWS_Release(sock.id);
  check(lib.VasaWS_PeekKind(sock.id) === 0 && lib.VasaWS_Send(sock.id, 0, 0) === 0,
    "a released socket has no events and sends nothing");
  return frames;
}

async function close(lib, url, protocol) {
  const sock = new Socket(lib, url, "vasa-bridge.v1");
  let opened = false, closed = null, hello = null;
  const seen = (e) => {
    if (e.kind === 1) opened = true;
    if (e.kind === 4) closed = e;
    if (e.kind === 2 && e.message.type === "hello_ok") hello = e.message;
  };
  await until(sock, seen, () => opened || closed, 10000);
  sock.send({ type: "hello", id: 1, protocol, client: "vasa-bridge-jslib-test" });
  check(await until(sock, seen, () => hello || closed, 10000) && hello, "connected and said hello");
  print("READY");
  await until(sock, seen, () => closed, 30000);
  check(closed !== null, "a Close event arrives when the sidecar goes away");
  print("CLOSED " + JSON.stringify({ code: closed && closed.code, reason: closed && closed.text }));
  check(sock.send({ type: "status", id: 2 }) === false, "sending on a closed socket reports not sent");
}

async function refused(lib, url) {
  const sock = new Socket(lib, url, "vasa-bridge.v1");
  const kinds = [];
  let closed = null;
  await until(sock, (e) => { kinds.push(e.kind); if (e.kind === 4) closed = e; }, () => closed, 10000);
  check(kinds.join(",") === "3,4" && closed.code === 1006,
    "a refused connection gives an Error event then Close 1006", kinds.join(",") + " code " + (closed && closed.code));
}

async function run(jslibSource, mode, args) {
  check(typeof globalThis.WebSocket === "function", "a WebSocket exists (node: --experimental-websocket on 20/21)");
  const lib = link(jslibSource);
  let frames = null;
  if (mode === "line") frames = await line(lib, args[0], args[1], Number(args[2]), args[3]);
  else if (mode === "close") await close(lib, args[0], args[1]);
  else if (mode === "refused") await refused(lib, args[0]);
  else throw new Error("unknown mode " + mode);
  print(passed + " passed, " + failed + " failed");
  return frames;
}

if (IN_NODE) {
  const fs = require("fs");
  const [jslib, mode, ...args] = process.argv.slice(2);
  if (mode === "line") args[1] = new Uint8Array(fs.readFileSync(args[1]));
  run(fs.readFileSync(jslib, "utf8"), mode, args).then((frames) => {
    if (frames) fs.writeFileSync(args[4], frames);
    process.exit(failed ? 1 : 0);
  }).catch((e) => {
    print("FAIL " + (e.stack || e));
    print(passed + " passed, " + (failed + 1) + " failed");
    process.exit(1);
  });
} else {
  window.runJslibHarness = async function (jslibSource, mode, args) {
    let frames = null;
    try { frames = await run(jslibSource, mode, args); } catch (e) {
      print("FAIL " + (e.stack || e));
      print(passed + " passed, " + (failed + 1) + " failed");
    }
    return { lines: printed, frames: frames ? Array.from(frames) : null };
  };
}
