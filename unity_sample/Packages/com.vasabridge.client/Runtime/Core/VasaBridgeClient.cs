// The session API over the ZeroMQ binding (SPEC.md §8: a DEALER socket for requests, a SUB socket for the
// stream) or the WebSocket binding (§9, WebSocketLink), chosen by the options' Url. Requests block the calling
// thread until their reply (call them from a worker thread in an engine); stream messages are decoded on the
// link's reader thread into each session's jitter buffer; everything the engine thread should react to is queued
// as a VasaBridgeEvent.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Threading;

namespace VasaBridge
{
    public sealed class VasaBridgeClientOptions
    {
        public string Host = "127.0.0.1";
        public int RequestPort = ProtocolInfo.DefaultRequestPort;
        public int StreamPort = ProtocolInfo.DefaultStreamPort;
        /// <summary>Access token, when the server was started with --token (§11).</summary>
        public string Token;
        /// <summary>A request without a reply after this long fails with code "timeout" (§8.5 suggests 5 s).</summary>
        public int RequestTimeoutMs = 5000;
        /// <summary>Timeout of an `open` with rendered frames: the server prepares a portrait it has not seen
        /// before (face detection and mesh: seconds on a small CPU) before it answers.</summary>
        public int RenderOpenTimeoutMs = 60000;
        /// <summary>A request made while the request socket is (re)connecting waits this long for the link before
        /// failing with "disconnected" (covers the first request right after Start).</summary>
        public int ConnectWaitMs = 1000;
        /// <summary>How often an audio chunk is resent after rate_limited / busy before giving up.</summary>
        public int MaxAudioRetries = 20;
        /// <summary>A session with no stream message for this many heartbeat intervals is considered lost (§5.4).</summary>
        public double HeartbeatTimeoutIntervals = 3.0;
        public ZmtpOptions Zmtp = new ZmtpOptions();
        /// <summary>"ws://host:5572/" uses the WebSocket binding, "tcp://host:5570" ZeroMQ (stream on the next
        /// port); null: ZeroMQ at Host, RequestPort and StreamPort.</summary>
        public string Url;
        public WebSocketLinkOptions WebSocket = new WebSocketLinkOptions();
    }

    public sealed class VasaBridgeClient : IDisposable
    {
        sealed class Pending
        {
            public readonly ManualResetEventSlim Done = new ManualResetEventSlim(false);
            public MsgPackMap Reply;
            public string FailCode, FailMessage;
        }

        readonly VasaBridgeClientOptions _opt;
        readonly IVasaLink _req;
        readonly IVasaLink _sub;
        readonly Dictionary<long, Pending> _pending = new Dictionary<long, Pending>();
        readonly ConcurrentQueue<VasaBridgeEvent> _events = new ConcurrentQueue<VasaBridgeEvent>();
        readonly object _sessionsLock = new object();
        readonly object _helloLock = new object();
        readonly List<ArraySegment<byte>> _renderPayloads = new List<ArraySegment<byte>>();
        readonly Timer _watchdog;
        VasaSession[] _sessions = new VasaSession[0]; // copy-on-write: the reader thread scans it without a lock
        long _nextId;
        volatile bool _helloDone;
        volatile ServerInfo _server;
        string _lastInstance;
        long _strayMessages, _malformedMessages;
        volatile bool _disposed;

        public VasaBridgeClient(VasaBridgeClientOptions options = null)
        {
            _opt = options ?? new VasaBridgeClientOptions();
            VasaLinks.Create(_opt, OnReply, OnStream, OnRequestLink, OnStreamLink, out _req, out _sub);
            _watchdog = new Timer(Watch, null, Timeout.Infinite, Timeout.Infinite);
        }

        public VasaBridgeClientOptions Options { get { return _opt; } }
        /// <summary>Capabilities from the last hello_ok (null before the first).</summary>
        public ServerInfo Server { get { return _server; } }
        public bool IsConnected { get { return _req.IsConnected && _sub.IsConnected; } }
        /// <summary>Stream messages for sessions this client does not have (ended, or never opened).</summary>
        public long StrayMessages { get { return Interlocked.Read(ref _strayMessages); } }
        /// <summary>Stream messages dropped because they broke the protocol (all sessions).</summary>
        public long MalformedMessages { get { return Interlocked.Read(ref _malformedMessages); } }

        /// <summary>Starts connecting both sockets (returns at once; they keep reconnecting in the background).</summary>
        public void Start()
        {
            _req.Start();
            _sub.Start();
            _watchdog.Change(250, 250);
        }

        /// <summary>Waits until both sockets are connected. False after the timeout.</summary>
        public bool WaitConnected(int timeoutMs)
        {
            var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            while (!IsConnected)
            {
                if (DateTime.UtcNow >= deadline || _disposed) return false;
                Thread.Sleep(10);
            }
            return true;
        }

        void WaitRequestLink(int timeoutMs)
        {
            var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
            while (!_req.IsConnected && DateTime.UtcNow < deadline && !_disposed) Thread.Sleep(5);
        }

        public bool TryDequeueEvent(out VasaBridgeEvent e) { return _events.TryDequeue(out e); }

        void Raise(VasaBridgeEvent e) { _events.Enqueue(e); }

        // ---- requests ----------------------------------------------------------------------------------------

        /// <summary>Version negotiation (§4.1). Called automatically before the first request and after every
        /// reconnect; call it yourself to check the server early.</summary>
        public ServerInfo Hello()
        {
            lock (_helloLock)
            {
                var map = NewRequest("hello");
                map["protocol"] = ProtocolInfo.Version;
                map["client"] = ProtocolInfo.ClientName;
                if (_opt.Token != null) map["token"] = _opt.Token;
                MsgPackMap reply = Call(map, null, 0, 0, "hello_ok", false);
                ServerInfo info;
                try { info = ServerInfo.FromReply(reply); }
                catch (MsgPackException e) { throw new VasaBridgeException("bad_reply", "hello_ok: " + e.Message); }
                string major = info.Protocol.Split('.')[0];
                if (major != ProtocolInfo.Version.Split('.')[0])
                    throw new VasaBridgeException("version_mismatch", "server speaks protocol " + info.Protocol + ", this client " + ProtocolInfo.Version);
                if (_lastInstance != null && _lastInstance != info.Instance)
                    Raise(new VasaBridgeEvent(VasaBridgeEventKind.ServerRestarted, null, null,
                        "the sidecar restarted (instance " + _lastInstance + " -> " + info.Instance + "); earlier sessions are gone"));
                _lastInstance = info.Instance;
                _server = info;
                _helloDone = true;
                return info;
            }
        }

        void EnsureHello()
        {
            if (!_helloDone) Hello();
        }

        /// <summary>Opens a session (§4.2) and subscribes to its stream.</summary>
        public VasaSession Open(OpenOptions options = null)
        {
            options = options ?? new OpenOptions();
            byte[] portrait;
            MsgPackMap map = BuildOpenRequest(options, Interlocked.Increment(ref _nextId) & 0xffffffffL, out portrait);
            EnsureHello();
            ServerInfo server = _server;
            if (portrait != null && server != null && server.MaxMessageBytes > 0)
            {
                // All frames together count against max_message_bytes (§8.3): refuse here rather than upload it.
                var sizer = new MsgPackWriter(256);
                sizer.WriteValue(map);
                if ((long)sizer.Length + portrait.Length > server.MaxMessageBytes)
                    throw new VasaBridgeException("bad_request", "the portrait file is " + portrait.Length + " bytes but the server takes messages of at most " +
                        server.MaxMessageBytes + " bytes: send a JPEG of about 1024 px (the face is rendered at 512 px at most)");
            }
            bool render = options.WantsRender;
            MsgPackMap reply = Call(map, portrait, 0, portrait == null ? 0 : portrait.Length, "open_ok", true,
                                    render ? Math.Max(_opt.RequestTimeoutMs, _opt.RenderOpenTimeoutMs) : _opt.RequestTimeoutMs);
            VasaSession s;
            try
            {
                string[] names = ServerInfo.StringList(reply.GetList("channel_names"));
                s = new VasaSession(reply.GetString("session"), reply.GetDouble("fps"), names, reply.GetDouble("lookahead_ms"),
                                    reply.GetString("frames_dtype") == "f16" ? FramesDtype.F16 : FramesDtype.F32,
                                    options.BufferFrames, render ? Math.Max(2, options.RenderBufferFrames) : 0, reply);
            }
            catch (MsgPackException e) { throw new VasaBridgeException("bad_reply", "open_ok: " + e.Message); }
            lock (_sessionsLock)
            {
                var grown = new VasaSession[_sessions.Length + 1];
                Array.Copy(_sessions, grown, _sessions.Length);
                grown[_sessions.Length] = s;
                Volatile.Write(ref _sessions, grown);
            }
            Raise(new VasaBridgeEvent(VasaBridgeEventKind.SessionOpened, s.Id, null,
                "session open: " + s.ChannelNames.Length + " channels at " + s.Fps + " fps, lookahead " + s.LookaheadMs + " ms"));
            // Subscribe right after open_ok; the server holds the stream until it sees the subscription (§8.4).
            _sub.Subscribe(s.Topic);
            return s;
        }

        /// <summary>The `open` request for `options` (§4.2) as its ZeroMQ frame 0 map; a portrait goes out separately
        /// as trailing frame 1 (§8.3), never in the map. Fields the protocol defaults (frames_dtype f32, render
        /// options left at 0 / null) are left out. Throws bad_request for options the server would refuse anyway.</summary>
        internal static MsgPackMap BuildOpenRequest(OpenOptions options, long id, out byte[] portrait)
        {
            var map = new MsgPackMap(12);
            map["type"] = "open";
            map["id"] = id;
            var audio = new MsgPackMap();
            audio["format"] = options.Format == AudioFormat.Pcm16 ? "pcm16" : "f32";
            audio["sample_rate_hz"] = (long)options.SampleRateHz;
            map["audio"] = audio;
            var outputs = new List<object> { "motion" };
            foreach (string o in options.ExtraOutputs) if (o != "motion" && !outputs.Contains(o)) outputs.Add(o);
            map["outputs"] = outputs;
            if (options.FramesDtype == FramesDtype.F16) map["frames_dtype"] = "f16"; // f32 is the default (§4.2)
            if (options.Controls != null && !options.Controls.IsEmpty) map["controls"] = options.Controls.ToMap();
            if (options.Seed.HasValue) map["seed"] = options.Seed.Value;
            bool wantsRender = options.WantsRender;
            MsgPackMap render = null;
            if (options.RenderSize != 0 || options.JpegQuality != 0 || options.MarkPosition != null)
            {
                if (options.RenderSize < 0 || options.JpegQuality < 0 || options.JpegQuality > 95)
                    throw new VasaBridgeException("bad_request", "RenderSize must be one of the server's sizes and JpegQuality 1..95 (0: the server's default)");
                render = new MsgPackMap();
                if (options.RenderSize != 0) render["size"] = (long)options.RenderSize;
                if (options.JpegQuality != 0) render["jpeg_quality"] = (long)options.JpegQuality;
                if (options.MarkPosition != null) render["mark_position"] = options.MarkPosition;
            }
            bool anyRender = render != null || options.Portrait != null || options.PortraitLandmarks != null;
            if (anyRender && !wantsRender)
                throw new VasaBridgeException("bad_request", "Portrait, PortraitLandmarks and render options need ExtraOutputs \"frames_jpeg\" or \"frames_rgba\"");
            if (options.ExtraOutputs.Contains("frames_jpeg") && options.ExtraOutputs.Contains("frames_rgba"))
                throw new VasaBridgeException("bad_request", "a session asks for at most one of frames_jpeg and frames_rgba");
            if (options.Portrait != null && options.Portrait.Length == 0)
                throw new VasaBridgeException("bad_request", "the portrait is empty: pass the bytes of an image file (PNG, JPEG, ...)");
            if (render != null) map["render"] = render;
            if (options.PortraitLandmarks != null) map["portrait_landmarks"] = options.PortraitLandmarks;
            portrait = options.Portrait;
            return map;
        }

        /// <summary>Pushes one chunk of audio in the session's format (§4.3); returns received_ms. Chunks that
        /// the server drops with rate_limited or busy are resent after retry_after_ms.</summary>
        public double PushAudio(VasaSession session, byte[] data, int offset, int count)
        {
            for (int attempt = 0; ; attempt++)
            {
                var map = NewRequest("audio");
                map["session"] = session.Id;
                try
                {
                    return Call(map, data, offset, count, "audio_ok", true).GetDouble("received_ms");
                }
                catch (VasaBridgeException e)
                {
                    if ((e.Code != "rate_limited" && e.Code != "busy") || attempt >= _opt.MaxAudioRetries) throw;
                    Thread.Sleep((int)Math.Min(2000, Math.Max(10, e.RetryAfterMs)));
                }
            }
        }

        [ThreadStatic] static byte[] _pcmScratch;

        /// <summary>Pushes 16-bit samples (session opened with AudioFormat.Pcm16).</summary>
        public double PushPcm16(VasaSession session, short[] samples, int offset, int count)
        {
            byte[] b = Scratch(count * 2);
            for (int i = 0; i < count; i++)
            {
                short v = samples[offset + i];
                b[2 * i] = (byte)v;
                b[2 * i + 1] = (byte)(v >> 8);
            }
            return PushAudio(session, b, 0, count * 2);
        }

        /// <summary>Pushes float samples converted to 16-bit (session opened with AudioFormat.Pcm16), the form an
        /// engine's audio clip gives (Unity AudioClip.GetData).</summary>
        public double PushFloatAsPcm16(VasaSession session, float[] samples, int offset, int count)
        {
            byte[] b = Scratch(count * 2);
            for (int i = 0; i < count; i++)
            {
                float f = samples[offset + i];
                int v = float.IsNaN(f) ? 0 : (int)Math.Round(Math.Max(-1f, Math.Min(1f, f)) * 32767f);
                b[2 * i] = (byte)v;
                b[2 * i + 1] = (byte)(v >> 8);
            }
            return PushAudio(session, b, 0, count * 2);
        }

        static byte[] Scratch(int n)
        {
            if (_pcmScratch == null || _pcmScratch.Length < n) _pcmScratch = new byte[Math.Max(n, 8192)];
            return _pcmScratch;
        }

        /// <summary>No more audio (§4.4): the server emits the remaining frames then `end`. Returns received_ms.</summary>
        public double EndAudio(VasaSession session)
        {
            var map = NewRequest("end_audio");
            map["session"] = session.Id;
            return Call(map, null, 0, 0, "end_audio_ok", true).GetDouble("received_ms");
        }

        /// <summary>Changes controls mid-stream (§4.5). Returns the complete controls now in effect.</summary>
        public MsgPackMap SetControls(VasaSession session, VasaControls controls, out long effectiveSeq)
        {
            var map = NewRequest("controls");
            map["session"] = session.Id;
            map["controls"] = controls.ToMap();
            MsgPackMap reply = Call(map, null, 0, 0, "controls_ok", true);
            effectiveSeq = reply.GetInt("effective_seq");
            return reply.GetMap("controls");
        }

        /// <summary>Closes the session now (§4.6); returns frames_total. The session stops receiving.</summary>
        public long Close(VasaSession session)
        {
            var map = NewRequest("close");
            map["session"] = session.Id;
            try
            {
                return Call(map, null, 0, 0, "close_ok", true).GetInt("frames_total");
            }
            finally
            {
                Forget(session, "closed", -1, false);
            }
        }

        /// <summary>Server health (§4.7).</summary>
        public MsgPackMap Status()
        {
            return Call(NewRequest("status"), null, 0, 0, "status_ok", true);
        }

        MsgPackMap NewRequest(string type)
        {
            var map = new MsgPackMap(8);
            map["type"] = type;
            map["id"] = (Interlocked.Increment(ref _nextId) & 0xffffffffL);
            return map;
        }

        MsgPackMap Call(MsgPackMap request, byte[] payload, int offset, int count, string expected, bool needsHello, int timeoutMs = 0)
        {
            try
            {
                return CallOnce(request, payload, offset, count, expected, needsHello, timeoutMs);
            }
            catch (VasaBridgeException e)
            {
                // The server forgot this client (it drops idle clients without sessions, §8.2, or it restarted
                // while the TCP link survived): say hello again and repeat the request once.
                if (e.Code != "hello_required" || !needsHello) throw;
                request["id"] = Interlocked.Increment(ref _nextId) & 0xffffffffL;
                return CallOnce(request, payload, offset, count, expected, needsHello, timeoutMs);
            }
        }

        MsgPackMap CallOnce(MsgPackMap request, byte[] payload, int offset, int count, string expected, bool needsHello, int timeoutMs)
        {
            if (timeoutMs <= 0) timeoutMs = _opt.RequestTimeoutMs;
            if (_disposed) throw new ObjectDisposedException("VasaBridgeClient");
            if (needsHello) EnsureHello();
            long id = (long)request["id"];
            var writer = new MsgPackWriter(128);
            writer.WriteValue(request);
            var frames = new List<ArraySegment<byte>>(2) { new ArraySegment<byte>(writer.Buffer, 0, writer.Length) };
            if (payload != null) frames.Add(new ArraySegment<byte>(payload, offset, count));
            var p = new Pending();
            lock (_pending) _pending[id] = p;
            try
            {
                if (!_req.IsConnected) WaitRequestLink(_opt.ConnectWaitMs);
                if (!_req.Send(frames))
                    throw new VasaBridgeException("disconnected", "not connected to the sidecar at " + _req.Endpoint +
                        " (is `vasa-bridge serve` running?); the client keeps retrying in the background");
                if (!p.Done.Wait(timeoutMs))
                    throw new VasaBridgeException("timeout", "no reply to '" + request["type"] + "' from " + _req.Endpoint +
                        " within " + timeoutMs + " ms; the sidecar is unreachable or overloaded");
            }
            finally
            {
                lock (_pending) _pending.Remove(id);
            }
            if (p.FailCode != null) throw new VasaBridgeException(p.FailCode, p.FailMessage);
            MsgPackMap reply = p.Reply;
            object typeObj;
            reply.TryGetValue("type", out typeObj);
            string type = typeObj as string;
            if (type == "error")
            {
                object code, message, retry;
                reply.TryGetValue("code", out code);
                reply.TryGetValue("message", out message);
                reply.TryGetValue("retry_after_ms", out retry);
                string c = code as string ?? "bad_reply";
                if (c == "hello_required") _helloDone = false; // the server forgot us (restart): next call says hello
                throw new VasaBridgeException(c, (message as string) ?? "(no message)",
                                              retry is double ? (double)retry : retry is long ? (long)retry : 0);
            }
            if (type != expected)
                throw new VasaBridgeException("bad_reply", "expected '" + expected + "' but got '" + (type ?? "?") + "'");
            return reply;
        }

        // ---- network threads ---------------------------------------------------------------------------------

        static bool IsRequestError(MsgPackMap reply)
        {
            object type;
            reply.TryGetValue("type", out type);
            return (type as string) == "error" && !reply.ContainsKey("session");
        }

        /// <summary>The outstanding request with the lowest id (ids only grow, so the oldest); null if none.</summary>
        Pending OldestPending()
        {
            lock (_pending)
            {
                long best = long.MaxValue;
                foreach (long id in _pending.Keys) if (id < best) best = id;
                return best == long.MaxValue ? null : _pending[best];
            }
        }

        void OnReply(ZmtpMessage m)
        {
            MsgPackMap reply = null;
            string problem = null;
            if (m.FrameCount != 1) problem = "reply with " + m.FrameCount + " frames (1 expected)";
            else
            {
                try
                {
                    var r = new MsgPackReader(m.FrameBuffer(0), 0, m.FrameLength(0));
                    reply = r.ReadValue() as MsgPackMap;
                    if (reply == null) problem = "reply is not a msgpack map";
                }
                catch (MsgPackException e) { problem = "undecodable reply: " + e.Message; }
            }
            object idObj = null;
            if (reply != null) reply.TryGetValue("id", out idObj);
            Pending p = null;
            if (idObj is long) lock (_pending) _pending.TryGetValue((long)idObj, out p);
            else if (reply != null && idObj == null && IsRequestError(reply))
                p = OldestPending(); // §3: an error with id nil answers a request whose id the server could not read
            if (p == null)
            {
                // No request to hand it to: an error with id nil (§7), or garbage.
                string text = problem;
                if (text == null)
                {
                    object code, message;
                    reply.TryGetValue("code", out code);
                    reply.TryGetValue("message", out message);
                    text = "unsolicited reply '" + (reply.ContainsKey("type") ? reply["type"] : "?") + "'" +
                           (code != null ? " " + code + ": " + message : "");
                }
                Interlocked.Increment(ref _malformedMessages);
                Raise(new VasaBridgeEvent(VasaBridgeEventKind.Error, null, "bad_reply", text));
                return;
            }
            if (problem != null) { p.FailCode = "bad_reply"; p.FailMessage = problem; }
            else p.Reply = reply;
            p.Done.Set();
        }

        void OnStream(ZmtpMessage m)
        {
            if (m.FrameCount < 2)
            {
                Interlocked.Increment(ref _malformedMessages);
                if (Interlocked.Read(ref _malformedMessages) <= 20)
                    Raise(new VasaBridgeEvent(VasaBridgeEventKind.Error, null, "bad_stream_message", "stream message with " + m.FrameCount + " frame(s); topic + map expected"));
                return;
            }
            VasaSession s = Find(m.FrameBuffer(0), m.FrameLength(0));
            if (s == null) { Interlocked.Increment(ref _strayMessages); return; }
            IList<ArraySegment<byte>> payloads = null;
            if (m.FrameCount > 2)
            {
                _renderPayloads.Clear();
                for (int i = 2; i < m.FrameCount; i++) _renderPayloads.Add(new ArraySegment<byte>(m.FrameBuffer(i), 0, m.FrameLength(i)));
                payloads = _renderPayloads;
            }
            VasaBridgeEvent evt;
            StreamResult result = s.HandleStreamMessage(m.FrameBuffer(1), 0, m.FrameLength(1), payloads, out evt);
            if (result == StreamResult.Malformed)
            {
                Interlocked.Increment(ref _malformedMessages);
                if (++s.ErrorEventsRaised <= 20)
                    Raise(new VasaBridgeEvent(VasaBridgeEventKind.Error, s.Id, "bad_stream_message", s.LastError));
            }
            if (evt != null) Raise(evt);
            if (result == StreamResult.End) Forget(s, null, -1, false);
        }

        VasaSession Find(byte[] topic, int len)
        {
            VasaSession[] all = Volatile.Read(ref _sessions);
            for (int i = 0; i < all.Length; i++)
                if (Bits.SegmentEquals(topic, 0, len, all[i].Topic)) return all[i];
            return null;
        }

        /// <summary>Stops tracking a session: unsubscribe, and end it with `reason` if it is still open.</summary>
        void Forget(VasaSession s, string reason, long framesTotal, bool raise)
        {
            bool removed = false;
            lock (_sessionsLock)
            {
                int i = Array.IndexOf(_sessions, s);
                if (i >= 0)
                {
                    var shrunk = new VasaSession[_sessions.Length - 1];
                    Array.Copy(_sessions, 0, shrunk, 0, i);
                    Array.Copy(_sessions, i + 1, shrunk, i, _sessions.Length - i - 1);
                    Volatile.Write(ref _sessions, shrunk);
                    removed = true;
                }
            }
            if (removed) _sub.Unsubscribe(s.Topic); // also fine while disconnected: it only leaves the resubscribe list
            if (reason != null && s.SetEnded(reason, framesTotal) && raise)
                Raise(new VasaBridgeEvent(VasaBridgeEventKind.SessionEnded, s.Id, reason, "session ended: " + reason));
        }

        void OnRequestLink(bool connected, string reason)
        {
            if (connected)
            {
                Raise(new VasaBridgeEvent(VasaBridgeEventKind.Connected, null, null, "request socket connected to " + _req.Endpoint));
                return;
            }
            // A new TCP connection is a new client to the ROUTER (§8.2): hello again, and old sessions are gone.
            _helloDone = false;
            List<Pending> failed;
            lock (_pending) failed = new List<Pending>(_pending.Values);
            foreach (Pending p in failed)
            {
                p.FailCode = "disconnected";
                p.FailMessage = "lost the connection to the sidecar while waiting for a reply: " + reason;
                p.Done.Set();
            }
            Raise(new VasaBridgeEvent(VasaBridgeEventKind.ConnectionLost, null, "disconnected",
                reason + "; reconnecting with back-off (sessions opened before are gone: open new ones)"));
            foreach (VasaSession s in Volatile.Read(ref _sessions))
            {
                Forget(s, null, -1, false);
                if (s.SetEnded("connection_lost", -1))
                    Raise(new VasaBridgeEvent(VasaBridgeEventKind.SessionEnded, s.Id, "connection_lost",
                        "session lost with the connection to the sidecar: " + reason));
            }
        }

        void OnStreamLink(bool connected, string reason)
        {
            if (connected) return; // the socket resubscribes every live session by itself
            Raise(new VasaBridgeEvent(VasaBridgeEventKind.ConnectionLost, null, "stream_disconnected",
                reason + "; reconnecting with back-off (stream messages sent meanwhile are lost)"));
        }

        void Watch(object state)
        {
            ServerInfo server = _server;
            if (server == null || _disposed) return;
            long limitTicks = (long)(server.HeartbeatMs * _opt.HeartbeatTimeoutIntervals * TimeSpan.TicksPerMillisecond);
            long now = DateTime.UtcNow.Ticks;
            foreach (VasaSession s in Volatile.Read(ref _sessions))
            {
                if (s.State != SessionState.Open || now - s.LastStreamTicks < limitTicks) continue;
                Forget(s, null, -1, false);
                if (s.SetEnded("heartbeat_timeout", -1))
                    Raise(new VasaBridgeEvent(VasaBridgeEventKind.SessionEnded, s.Id, "heartbeat_timeout",
                        "no stream message for " + (int)(limitTicks / TimeSpan.TicksPerMillisecond) + " ms: the sidecar is gone or stalled"));
            }
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            _watchdog.Dispose();
            _req.Dispose();
            _sub.Dispose();
        }
    }
}
