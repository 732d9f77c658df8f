// The sidecar's WebSocket binding (SPEC.md §9) for the same session API as ZeroMQ: one connection carries requests,
// replies and the stream messages of every session opened on it, each logical message one binary WebSocket message
// whose map holds its payload as msgpack bin (`audio.audio`, `open.portrait`). The client above speaks in ZeroMQ's
// terms (a request socket, a stream socket, payloads as trailing frames), so this link translates: a request's
// trailing frame becomes a bin field of its map, and an incoming message goes to the reply handler (it has an `id`)
// or to the stream handler with its `session` as the topic frame. Desktop and mobile use System.Net.WebSockets.
using System;
using System.Collections.Generic;
using System.Net.WebSockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;

namespace VasaBridge
{
    /// <summary>A link without threads of its own (a WebGL player's): VasaBridgeClient.Update calls Poll every frame
    /// on the main thread, which delivers what arrived since.</summary>
    public interface IPumpedLink
    {
        void Poll();
    }

    /// <summary>What VasaBridgeClient needs from a binding's request side and stream side.</summary>
    public interface IVasaLink : IDisposable
    {
        string Endpoint { get; }
        bool IsConnected { get; }
        void Start();
        /// <summary>Sends one message (a map and optional payload frames); false, nothing sent, while
        /// disconnected.</summary>
        bool Send(IList<ArraySegment<byte>> frames);
        void Subscribe(byte[] topic);
        void Unsubscribe(byte[] topic);
    }

    public sealed class WebSocketLinkOptions
    {
        public int ConnectTimeoutMs = 2000;
        public int ReconnectMinMs = 100;       // first retry after this, doubling ...
        public int ReconnectMaxMs = 2000;      // ... up to this
        public int SendTimeoutMs = 5000;
        /// <summary>A message larger than this is a protocol violation: drop the link (the server's own limit is
        /// 4 x max_message_bytes, §9.4; render batches of 512 px RGBA frames are the largest messages).</summary>
        public long MaxMessageBytes = 64L << 20;
        /// <summary>Offered subprotocol (§9.1: optional; the server selects it when offered).</summary>
        public string SubProtocol = "vasa-bridge.v1";
    }

    /// <summary>One WebSocket connection seen as the client's two links: Requests (replies come back on it) and
    /// Stream (subscriptions are implicit: a session's stream goes to the connection that opened it, §9.2).</summary>
    public sealed class WebSocketLink : IDisposable
    {
        /// <summary>The bin field a request's trailing frame becomes (§9.2), by request type.</summary>
        static readonly Dictionary<string, string> PayloadField = new Dictionary<string, string>
        {
            { "audio", "audio" }, { "open", "portrait" },
        };
        static readonly byte[] TypeKey = Encoding.ASCII.GetBytes("type");
        static readonly byte[] IdKey = Encoding.ASCII.GetBytes("id");
        static readonly byte[] SessionKey = Encoding.ASCII.GetBytes("session");

        readonly Uri _uri;
        readonly WebSocketLinkOptions _options;
        readonly ZmtpSocket.MessageHandler _onReply, _onStream;
        readonly ZmtpSocket.LinkHandler _onRequestLink, _onStreamLink;
        readonly object _sendLock = new object();
        readonly ZmtpMessage _message = new ZmtpMessage();
        readonly MsgPackWriter _joined = new MsgPackWriter(4096);
        readonly CancellationTokenSource _stop = new CancellationTokenSource();
        byte[] _receive = new byte[64 << 10];
        ClientWebSocket _ws;   // guarded by _sendLock; null while disconnected
        Thread _thread;
        volatile bool _disposed;
        int _connections;

        public WebSocketLink(string url, WebSocketLinkOptions options, ZmtpSocket.MessageHandler onReply,
                             ZmtpSocket.MessageHandler onStream, ZmtpSocket.LinkHandler onRequestLink,
                             ZmtpSocket.LinkHandler onStreamLink)
        {
            Uri uri;
            if (!Uri.TryCreate(url, UriKind.Absolute, out uri) || (uri.Scheme != "ws" && uri.Scheme != "wss"))
                throw new ArgumentException("'" + url
                    + "' is not a ws:// or wss:// URL (the sidecar listens on ws://127.0.0.1:5572/)");
            _uri = uri;
            _options = options ?? new WebSocketLinkOptions();
            _onReply = onReply; _onStream = onStream; _onRequestLink = onRequestLink; _onStreamLink = onStreamLink;
            Requests = new Face(this);
            Stream = new Face(this);
        }

        public IVasaLink Requests { get; private set; }
        public IVasaLink Stream { get; private set; }
        public string Endpoint { get { return _uri.ToString(); } }
        public bool IsConnected { get { lock (_sendLock) return _ws != null; } }
        /// <summary>How many times a connection opened (1 after the first connect, 2 after one reconnect,
        /// ...).</summary>
        public int ConnectionCount { get { return Volatile.Read(ref _connections); } }

        public void Start()
        {
            if (_thread != null) return;
            _thread = new Thread(Run) { IsBackground = true, Name = "vasa_bridge websocket " + _uri.Authority };
            _thread.Start();
        }

        /// <summary>The WebSocket message of a request given as ZeroMQ frames: the map, with the payload frame (if
        /// any) appended as the bin field its type names (§9.2). `buffer` is reused; returns it.</summary>
        public static MsgPackWriter JoinRequest(IList<ArraySegment<byte>> frames, MsgPackWriter buffer)
        {
            buffer.Clear();
            ArraySegment<byte> map = frames[0];
            if (frames.Count == 1)
            {
                buffer.WriteRaw(map.Array, map.Offset, map.Count);
                return buffer;
            }
            if (frames.Count != 2) throw new MsgPackException("a request has at most one payload frame, not "
                + (frames.Count - 1));
            var r = new MsgPackReader(map.Array, map.Offset, map.Count);
            int fields = r.ReadMapHeader();
            int bodyStart = r.Position;
            string type = null;
            for (int i = 0; i < fields && type == null; i++)
            {
                bool isTypeKey = false;
                if (r.PeekKind() == MsgPackKind.Str)
                {
                    int ko, kn;
                    r.ReadStrSegment(out ko, out kn);
                    isTypeKey = Bits.SegmentEquals(map.Array, ko, kn, TypeKey);
                }
                else r.Skip(); // a non-string key
                if (isTypeKey && r.PeekKind() == MsgPackKind.Str) type = r.ReadString();
                else r.Skip();
            }
            string field;
            if (type == null || !PayloadField.TryGetValue(type, out field))
                throw new MsgPackException("a '" + (type ?? "?") + "' request carries no payload frame");
            buffer.WriteMapHeader(fields + 1);
            buffer.WriteRaw(map.Array, bodyStart, map.Offset + map.Count - bodyStart);
            buffer.WriteString(field);
            ArraySegment<byte> payload = frames[1];
            buffer.WriteBin(payload.Array, payload.Offset, payload.Count);
            return buffer;
        }

        /// <summary>Where a received WebSocket message goes: false for the reply handler (a non-nil `id`; or no
        /// `session` either: an error about no request, §7; or undecodable), true for the stream handler (stream
        /// messages, and asynchronous session errors, which carry `id: nil` and `session`, §5.5), with the session
        /// id's bytes at buf[sessionOffset ..] as its topic. Allocation-free.</summary>
        public static bool IsStreamMessage(byte[] buf, int count, out int sessionOffset, out int sessionLength)
        {
            sessionOffset = -1;
            sessionLength = 0;
            bool hasId = false;
            try
            {
                var r = new MsgPackReader(buf, 0, count);
                if (r.PeekKind() != MsgPackKind.Map) return false;
                int fields = r.ReadMapHeader();
                for (int i = 0; i < fields; i++)
                {
                    if (r.PeekKind() != MsgPackKind.Str) { r.Skip(); r.Skip(); continue; }
                    int ko, kn;
                    r.ReadStrSegment(out ko, out kn);
                    if (Bits.SegmentEquals(buf, ko, kn, IdKey))
                    {
                        hasId = !r.TryReadNil();
                        if (hasId) r.Skip();
                    }
                    else if (Bits.SegmentEquals(buf, ko, kn, SessionKey) && r.PeekKind() == MsgPackKind.Str)
                        r.ReadStrSegment(out sessionOffset, out sessionLength);
                    else r.Skip();
                }
            }
            catch (MsgPackException) { return false; } // the reply handler reports it as undecodable
            return !hasId && sessionOffset >= 0;
        }

        /// <summary>Hands one received WebSocket message to the reply or stream handler in ZeroMQ's terms (see
        /// IsStreamMessage); `message` is reused. Shared with PumpedWebSocketLink (WebGL).</summary>
        internal static void Dispatch(byte[] buf, int count, ZmtpMessage message, ZmtpSocket.MessageHandler onReply,
                                      ZmtpSocket.MessageHandler onStream)
        {
            int sessionOff, sessionLen;
            message.Reset();
            if (!IsStreamMessage(buf, count, out sessionOff, out sessionLen))
            {
                Buffer.BlockCopy(buf, 0, message.NextFrameBuffer(count), 0, count);
                onReply(message);
                return;
            }
            Buffer.BlockCopy(buf, sessionOff, message.NextFrameBuffer(sessionLen), 0, sessionLen);
            Buffer.BlockCopy(buf, 0, message.NextFrameBuffer(count), 0, count);
            onStream(message);
        }

        bool Send(IList<ArraySegment<byte>> frames)
        {
            lock (_sendLock)
            {
                if (_ws == null) return false;
                try
                {
                    MsgPackWriter m = JoinRequest(frames, _joined);
                    Task t = _ws.SendAsync(new ArraySegment<byte>(m.Buffer, 0, m.Length), WebSocketMessageType.Binary,
                        true, _stop.Token);
                    if (!t.Wait(_options.SendTimeoutMs)) throw new TimeoutException("send took over "
                        + _options.SendTimeoutMs + " ms");
                    return true;
                }
                catch (MsgPackException) { throw; }
                catch (Exception) // socket, timeout or disposal: the reader thread notices and reconnects
                {
                    Abort(_ws);
                    return false;
                }
            }
        }

        void Run()
        {
            int delayMs = _options.ReconnectMinMs;
            bool reportedDown = false;
            while (!_disposed)
            {
                var ws = new ClientWebSocket();
                if (!string.IsNullOrEmpty(_options.SubProtocol)) ws.Options.AddSubProtocol(_options.SubProtocol);
                string reason;
                try
                {
                    using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token))
                    {
                        timeout.CancelAfter(_options.ConnectTimeoutMs);
                        ws.ConnectAsync(_uri, timeout.Token).Wait();
                    }
                    lock (_sendLock) _ws = ws;
                    Interlocked.Increment(ref _connections);
                    reportedDown = false;
                    delayMs = _options.ReconnectMinMs;
                    _onRequestLink(true, null);
                    _onStreamLink(true, null);
                    reason = ReceiveUntilClosed(ws);
                }
                catch (Exception e)
                {
                    reason = "cannot connect to " + Endpoint + ": " + Describe(e);
                    if (reportedDown) reason = null; // one report per outage, not per retry
                }
                bool wasUp;
                lock (_sendLock)
                {
                    wasUp = _ws == ws;
                    if (wasUp) _ws = null;
                }
                Abort(ws);
                if (_disposed) return;
                if (reason != null && (wasUp || !reportedDown))
                {
                    reportedDown = true;
                    _onRequestLink(false, reason);
                    _onStreamLink(false, reason);
                }
                if (_stop.Token.WaitHandle.WaitOne(delayMs)) return;
                delayMs = Math.Min(_options.ReconnectMaxMs, delayMs * 2);
            }
        }

        /// <summary>Reads whole messages until the connection ends; returns why it ended.</summary>
        string ReceiveUntilClosed(ClientWebSocket ws)
        {
            while (!_disposed)
            {
                int length = 0;
                WebSocketReceiveResult result;
                do
                {
                    if (length == _receive.Length)
                    {
                        if (length >= _options.MaxMessageBytes) return "message over " + _options.MaxMessageBytes
                            + " bytes from " + Endpoint;
                        Array.Resize(ref _receive, (int)Math.Min(_options.MaxMessageBytes, (long)_receive.Length * 2));
                    }
                    try
                    {
                        result = ws.ReceiveAsync(new ArraySegment<byte>(_receive, length, _receive.Length - length),
                            _stop.Token).Result;
                    }
                    catch (Exception e) { return "lost the connection to " + Endpoint + ": " + Describe(e); }
                    if (result.MessageType == WebSocketMessageType.Close)
                        return "the sidecar at " + Endpoint + " closed the connection (" + (int?)result.CloseStatus
                            + " " + result.CloseStatusDescription + ")";
                    length += result.Count;
                } while (!result.EndOfMessage);
                // The server sends only binary messages (§9.2); a text one is a protocol violation, reported as
                // an undecodable reply.
                Dispatch(_receive, length, _message, _onReply, _onStream);
            }
            return "closed";
        }

        static string Describe(Exception e)
        {
            while (e is AggregateException && e.InnerException != null) e = e.InnerException;
            if (e is OperationCanceledException) return "timed out";
            return e.InnerException != null ? e.Message + " (" + e.InnerException.Message + ")" : e.Message;
        }

        static void Abort(ClientWebSocket ws)
        {
            try { ws.Abort(); } catch (Exception) { } // already closed or disposed
            try { ws.Dispose(); } catch (Exception) { }
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            ClientWebSocket ws;
            lock (_sendLock) { ws = _ws; _ws = null; }
            if (ws != null)
            {
                // A normal close (1000) so the server ends this client's sessions at once; bounded, then abort.
                try
                {
                    ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "client closing", CancellationToken.None)
                      .Wait(500);
                }
                catch (Exception) { }
            }
            _stop.Cancel();
            if (ws != null) Abort(ws);
            if (_thread != null && _thread != Thread.CurrentThread) _thread.Join(2000);
        }

        /// <summary>One side of the connection, as the client sees it.</summary>
        sealed class Face : IVasaLink
        {
            readonly WebSocketLink _link;
            public Face(WebSocketLink link) { _link = link; }
            public string Endpoint { get { return _link.Endpoint; } }
            public bool IsConnected { get { return _link.IsConnected; } }
            public void Start() { _link.Start(); }
            public bool Send(IList<ArraySegment<byte>> frames) { return _link.Send(frames); }
            public void Subscribe(byte[] topic) { }   // implicit on WebSocket (§9.2)
            public void Unsubscribe(byte[] topic) { }
            public void Dispose() { _link.Dispose(); }
        }
    }
}
