// The browser side of WebGLWebSocketBridge.cs: one browser WebSocket per handle, whose events wait in a queue until
// the C# side takes them from Update (PumpedWebSocketLink). Polling instead of calling back into C#: no function
// pointers (dynCall / makeDynCall differ between Unity versions) and no managed code running inside a browser event.
// Unity 2021+ jslib conventions only: mergeInto(LibraryManager.library, ...), a $-prefixed shared object pulled in
// with autoAddDeps, UTF8ToString for C# strings in, _malloc + stringToUTF8 for a string out (the marshaller frees
// it), HEAPU8 read at each use (it is replaced when the heap grows). Binary messages only (SPEC.md §9.2).
var VasaBridgeWebSocketLibrary = {
  $VasaWS: {
    sockets: {},  // handle -> {ws, events: [{kind, data, code, text}]}
    next: 1,
    // Event kinds: WebSocketEventKind in PumpedWebSocketLink.cs.
    OPEN: 1, MESSAGE: 2, ERROR: 3, CLOSE: 4,
    head: function (id) {
      var s = VasaWS.sockets[id];
      return s && s.events.length ? s.events[0] : null;
    }
  },

  VasaWS_Open: function (url, subProtocol) {
    var id = VasaWS.next++;
    var entry = { ws: null, events: [] };
    VasaWS.sockets[id] = entry;
    var protocol = UTF8ToString(subProtocol);
    var ws;
    try {
      ws = protocol ? new WebSocket(UTF8ToString(url), protocol) : new WebSocket(UTF8ToString(url));
    } catch (e) {
      // A malformed URL throws at once: report it as the events a failed connection gives.
      entry.events.push({ kind: VasaWS.ERROR, data: null, code: 0, text: String(e && e.message || e) });
      entry.events.push({ kind: VasaWS.CLOSE, data: null, code: 1006, text: "" });
      return id;
    }
    ws.binaryType = "arraybuffer";
    ws.onopen = function () { entry.events.push({ kind: VasaWS.OPEN, data: null, code: 0, text: "" }); };
    ws.onmessage = function (m) {
      if (!(m.data instanceof ArrayBuffer)) return;  // the sidecar sends binary only; ignore text
      entry.events.push({ kind: VasaWS.MESSAGE, data: new Uint8Array(m.data), code: 0, text: "" });
    };
    // Browsers say nothing about why (security): the close that follows carries the code.
    var everOpen = false;
    ws.addEventListener("open", function () { everOpen = true; });
    ws.onerror = function () {
      entry.events.push({ kind: VasaWS.ERROR, data: null, code: 0, text: "WebSocket error" });
      if (everOpen) return;
      // A connection that failed before opening: browsers follow with close 1006; some runtimes (node 20's
      // WebSocket) never do. Queue that close now and detach, so every runtime gives the same two events.
      ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
      entry.events.push({ kind: VasaWS.CLOSE, data: null, code: 1006, text: "" });
    };
    ws.onclose = function (c) {
      entry.events.push({ kind: VasaWS.CLOSE, data: null, code: c.code, text: c.reason || "" });
    };
    entry.ws = ws;
    return id;
  },

  // 1: sent; 0: the socket is not open (nothing sent).
  VasaWS_Send: function (id, data, length) {
    var s = VasaWS.sockets[id];
    if (!s || !s.ws || s.ws.readyState !== 1) return 0;
    s.ws.send(HEAPU8.slice(data, data + length));  // a copy: the heap may move before the browser sends it
    return 1;
  },

  // The oldest queued event's kind (0: none), byte length (messages), close code.
  VasaWS_PeekKind: function (id) { var e = VasaWS.head(id); return e ? e.kind : 0; },
  VasaWS_PeekLength: function (id) { var e = VasaWS.head(id); return e && e.data ? e.data.length : 0; },
  VasaWS_PeekCode: function (id) { var e = VasaWS.head(id); return e ? e.code : 0; },

  VasaWS_PeekText: function (id) {
    var e = VasaWS.head(id);
    var text = e ? e.text : "";
    var size = lengthBytesUTF8(text) + 1;
    var buffer = _malloc(size);
    stringToUTF8(text, buffer, size);
    return buffer;
  },

  // Drops the oldest event, first copying a message's bytes (at most `capacity`) to `buffer`; returns the count.
  VasaWS_Take: function (id, buffer, capacity) {
    var s = VasaWS.sockets[id];
    if (!s || !s.events.length) return 0;
    var e = s.events.shift();
    if (!e.data) return 0;
    var n = Math.min(e.data.length, capacity);
    HEAPU8.set(n === e.data.length ? e.data : e.data.subarray(0, n), buffer);
    return n;
  },

  VasaWS_Close: function (id, code, reason) {
    var s = VasaWS.sockets[id];
    if (!s || !s.ws || s.ws.readyState > 1) return;
    try { s.ws.close(code, UTF8ToString(reason)); } catch (e) { s.ws.close(); }  // a code the browser refuses
  },

  VasaWS_Release: function (id) {
    var s = VasaWS.sockets[id];
    if (!s) return;
    delete VasaWS.sockets[id];
    if (s.ws && s.ws.readyState <= 1) {
      s.ws.onopen = s.ws.onmessage = s.ws.onerror = s.ws.onclose = null;
      s.ws.close();
    }
  }
};

autoAddDeps(VasaBridgeWebSocketLibrary, "$VasaWS");
mergeInto(LibraryManager.library, VasaBridgeWebSocketLibrary);
