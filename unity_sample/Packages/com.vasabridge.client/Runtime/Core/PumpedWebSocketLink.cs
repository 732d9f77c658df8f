// The WebSocket binding (SPEC.md §9) for a player without threads: a WebGL build, where the browser owns the socket
// and queues its events until the frame returns. IWebSocketBridge is the thin socket API a platform provides (in
// WebGL: WebGLWebSocketBridge over Plugins/WebGL/VasaBridgeWebSocket.jslib); this link does the rest on the main
// thread from Poll: connect with a timeout, reconnect with back-off, join requests and route messages exactly as
// WebSocketLink does (its static JoinRequest and Dispatch), and report each outage once.
using System;
using System.Collections.Generic;

namespace VasaBridge
{
    public enum WebSocketEventKind { None = 0, Open = 1, Message = 2, Error = 3, Close = 4 }

    /// <summary>One event a socket queued: a message's byte Length, or a close's code and reason (Text).</summary>
    public struct WebSocketEvent
    {
        public WebSocketEventKind Kind;
        public int Length;
        public int CloseCode;
        public string Text;
    }

    /// <summary>A socket API that queues events for the main thread to take (what a browser's WebSocket offers).
    /// Binary messages only; handles are positive ints.</summary>
    public interface IWebSocketBridge
    {
        /// <summary>Starts connecting; events follow (Open, or Error and Close).</summary>
        int Open(string url, string subProtocol);
        /// <summary>Sends one binary message; false (nothing sent) unless the socket is open.</summary>
        bool Send(int socket, byte[] data, int count);
        /// <summary>Takes the oldest queued event; a Message's bytes are copied into `buffer`, grown when it is too
        /// small. False when nothing is queued.</summary>
        bool Poll(int socket, ref byte[] buffer, out WebSocketEvent e);
        /// <summary>Starts the closing handshake (code 1000 for a normal close).</summary>
        void Close(int socket, int code, string reason);
        /// <summary>Forgets the socket and its queued events (closing it first if needed).</summary>
        void Release(int socket);
    }

    public sealed class PumpedWebSocketLink : IPumpedLink, IDisposable
    {
        enum LinkState { Down, Connecting, Open }

        readonly IWebSocketBridge _bridge;
        readonly string _url;
        readonly WebSocketLinkOptions _options;
        readonly ZmtpSocket.MessageHandler _onReply, _onStream;
        readonly ZmtpSocket.LinkHandler _onRequestLink, _onStreamLink;
        readonly ZmtpMessage _message = new ZmtpMessage();
        readonly MsgPackWriter _joined = new MsgPackWriter(4096);
        byte[] _receive = new byte[64 << 10];
        LinkState _state = LinkState.Down;
        int _socket;
        bool _started, _disposed, _reportedDown;
        string _lastError;            // the Error event before a Close (browsers give no detail; kept for the report)
        long _connectDeadlineTicks, _retryAtTicks;
        int _delayMs;
        int _connections;

        public PumpedWebSocketLink(IWebSocketBridge bridge, string url, WebSocketLinkOptions options,
                                   ZmtpSocket.MessageHandler onReply, ZmtpSocket.MessageHandler onStream,
                                   ZmtpSocket.LinkHandler onRequestLink, ZmtpSocket.LinkHandler onStreamLink)
        {
            if (bridge == null) throw new ArgumentNullException("bridge");
            Uri uri;
            if (!Uri.TryCreate(url, UriKind.Absolute, out uri) || (uri.Scheme != "ws" && uri.Scheme != "wss"))
                throw new ArgumentException("'" + url
                    + "' is not a ws:// or wss:// URL (the sidecar listens on ws://127.0.0.1:5572/)");
            _bridge = bridge;
            _url = uri.ToString();
            _options = options ?? new WebSocketLinkOptions();
            _delayMs = _options.ReconnectMinMs;
            _onReply = onReply; _onStream = onStream; _onRequestLink = onRequestLink; _onStreamLink = onStreamLink;
            Requests = new Face(this);
            Stream = new Face(this);
        }

        public IVasaLink Requests { get; private set; }
        public IVasaLink Stream { get; private set; }
        public string Endpoint { get { return _url; } }
        public bool IsConnected { get { return _state == LinkState.Open; } }
        /// <summary>How many times a connection opened.</summary>
        public int ConnectionCount { get { return _connections; } }

        public void Start()
        {
            if (_started || _disposed) return;
            _started = true;
            Connect();
        }

        void Connect()
        {
            _socket = _bridge.Open(_url, _options.SubProtocol ?? "");
            _state = LinkState.Connecting;
            _lastError = null;
            _connectDeadlineTicks = DateTime.UtcNow.Ticks + _options.ConnectTimeoutMs * TimeSpan.TicksPerMillisecond;
        }

        /// <summary>Delivers every queued event (main thread), then connects or reconnects when it is time.</summary>
        public void Poll()
        {
            if (!_started || _disposed) return;
            WebSocketEvent e;
            while (_socket != 0 && _bridge.Poll(_socket, ref _receive, out e))
            {
                switch (e.Kind)
                {
                    case WebSocketEventKind.Open:
                        _state = LinkState.Open;
                        _connections++;
                        _reportedDown = false;
                        _delayMs = _options.ReconnectMinMs;
                        _onRequestLink(true, null);
                        _onStreamLink(true, null);
                        break;
                    case WebSocketEventKind.Message:
                        if (e.Length > _options.MaxMessageBytes)
                        {
                            Lost("message over " + _options.MaxMessageBytes + " bytes from " + _url);
                            return;
                        }
                        // The server sends only binary messages (§9.2); the bridge drops text ones.
                        WebSocketLink.Dispatch(_receive, e.Length, _message, _onReply, _onStream);
                        break;
                    case WebSocketEventKind.Error:
                        _lastError = e.Text;
                        break;
                    case WebSocketEventKind.Close:
                        Lost(_state == LinkState.Open
                            ? "the sidecar at " + _url + " closed the connection (" + e.CloseCode + " " + e.Text + ")"
                            : "cannot connect to " + _url + ": " + (_lastError ?? "connection refused")
                              + " (close code " + e.CloseCode + ")");
                        return;
                }
                if (_socket == 0 || _disposed) return;
            }
            long now = DateTime.UtcNow.Ticks;
            if (_state == LinkState.Connecting && now >= _connectDeadlineTicks)
                Lost("cannot connect to " + _url + ": timed out after " + _options.ConnectTimeoutMs + " ms");
            else if (_state == LinkState.Down && now >= _retryAtTicks) Connect();
        }

        /// <summary>The connection is gone: release it, report the outage once, and schedule a reconnect.</summary>
        void Lost(string reason)
        {
            bool wasUp = _state == LinkState.Open;
            _bridge.Release(_socket);
            _socket = 0;
            _state = LinkState.Down;
            _retryAtTicks = DateTime.UtcNow.Ticks + _delayMs * TimeSpan.TicksPerMillisecond;
            _delayMs = Math.Min(_options.ReconnectMaxMs, _delayMs * 2);
            if (!wasUp && _reportedDown) return; // one report per outage, not per retry
            _reportedDown = true;
            _onRequestLink(false, reason);
            _onStreamLink(false, reason);
        }

        bool Send(IList<ArraySegment<byte>> frames)
        {
            if (_state != LinkState.Open) return false;
            MsgPackWriter m = WebSocketLink.JoinRequest(frames, _joined);
            return _bridge.Send(_socket, m.Buffer, m.Length);
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            if (_socket == 0) return;
            // A normal close (1000) so the server ends this client's sessions at once.
            if (_state == LinkState.Open) _bridge.Close(_socket, 1000, "client closing");
            _bridge.Release(_socket);
            _socket = 0;
            _state = LinkState.Down;
        }

        sealed class Face : IVasaLink, IPumpedLink
        {
            readonly PumpedWebSocketLink _link;
            public Face(PumpedWebSocketLink link) { _link = link; }
            public string Endpoint { get { return _link.Endpoint; } }
            public bool IsConnected { get { return _link.IsConnected; } }
            public void Start() { _link.Start(); }
            public bool Send(IList<ArraySegment<byte>> frames) { return _link.Send(frames); }
            public void Subscribe(byte[] topic) { }   // implicit on WebSocket (§9.2)
            public void Unsubscribe(byte[] topic) { }
            public void Poll() { _link.Poll(); }
            public void Dispose() { _link.Dispose(); }
        }
    }
}
