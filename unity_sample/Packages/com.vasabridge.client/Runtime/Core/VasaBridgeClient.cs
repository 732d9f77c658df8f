// The session API over the ZeroMQ binding (SPEC.md §8: a DEALER socket for requests, a SUB socket for the
// stream) or the WebSocket binding (§9, WebSocketLink), chosen by the options' Url. Every request has a non-blocking
// form (Begin*: returns a VasaRequest at once) and a blocking one (waits for the reply: call it from a worker thread
// in an engine, never in a WebGL player); both go through VasaBridgeClient.Requests.cs. Stream messages are decoded
// on the link's reader thread (in WebGL: inside Update) into each session's jitter buffer; everything the engine
// thread should react to is queued as a VasaBridgeEvent.
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
        /// <summary>When set, a ws:// URL is served by a PumpedWebSocketLink over the bridge this makes (a WebGL
        /// player's default is the .jslib bridge); the client then needs Update() called every frame.</summary>
        public Func<IWebSocketBridge> WebSocketBridge;
    }

    public sealed partial class VasaBridgeClient : IDisposable
    {
        readonly VasaBridgeClientOptions _opt;
        readonly IVasaLink _req;
        readonly IVasaLink _sub;
        readonly IPumpedLink _pumped; // non-null when the link is pumped from Update (WebGL) instead of threads
        readonly ConcurrentQueue<VasaBridgeEvent> _events = new ConcurrentQueue<VasaBridgeEvent>();
        readonly object _sessionsLock = new object();
        readonly List<ArraySegment<byte>> _renderPayloads = new List<ArraySegment<byte>>();
        readonly Timer _watchdog; // null on a pumped link: Update does its work
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
            _pumped = _req as IPumpedLink;
            if (_pumped == null) _watchdog = new Timer(Tick, null, Timeout.Infinite, Timeout.Infinite);
        }

        public VasaBridgeClientOptions Options { get { return _opt; } }
        /// <summary>Capabilities from the last hello_ok (null before the first).</summary>
        public ServerInfo Server { get { return _server; } }
        public bool IsConnected { get { return _req.IsConnected && _sub.IsConnected; } }
        /// <summary>The link is pumped from Update (WebGL) rather than run on threads.</summary>
        public bool IsPumped { get { return _pumped != null; } }
        /// <summary>Stream messages for sessions this client does not have (ended, or never opened).</summary>
        public long StrayMessages { get { return Interlocked.Read(ref _strayMessages); } }
        /// <summary>Stream messages dropped because they broke the protocol (all sessions).</summary>
        public long MalformedMessages { get { return Interlocked.Read(ref _malformedMessages); } }

        /// <summary>Starts connecting both sockets (returns at once; they keep reconnecting in the background).</summary>
        public void Start()
        {
            _req.Start();
            _sub.Start();
            if (_watchdog != null) _watchdog.Change(TickMs, TickMs);
        }

        /// <summary>Call every frame (MonoBehaviour.Update) when the link is pumped (WebGL): delivers the messages the
        /// browser queued, sends requests that were waiting and expires late ones. Harmless elsewhere.</summary>
        public void Update()
        {
            if (_pumped != null) _pumped.Poll();
            Pump();
            Watch();
        }

        const int TickMs = 50; // resends after retry_after_ms and timeouts are this prompt without Update

        void Tick(object state)
        {
            Pump();
            Watch();
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

        public bool TryDequeueEvent(out VasaBridgeEvent e) { return _events.TryDequeue(out e); }

        void Raise(VasaBridgeEvent e) { _events.Enqueue(e); }

        // ---- requests ----------------------------------------------------------------------------------------

        /// <summary>Version negotiation (§4.1). Done automatically before the first request and after every
        /// reconnect; call it yourself to check the server early.</summary>
        public ServerInfo Hello() { return Await(BeginHello()); }

        /// <summary>Hello without waiting (see VasaRequest).</summary>
        public VasaRequest<ServerInfo> BeginHello()
        {
            var hello = NewHello();
            Advance(hello);
            return hello;
        }

        VasaRequest<ServerInfo> NewHello()
        {
            var map = NewRequest("hello");
            map["protocol"] = ProtocolInfo.Version;
            map["client"] = ProtocolInfo.ClientName;
            if (_opt.Token != null) map["token"] = _opt.Token;
            return new VasaRequest<ServerInfo>(map, null, "hello_ok", false, _opt.RequestTimeoutMs, FinishHello);
        }

        object FinishHello(MsgPackMap reply)
        {
            ServerInfo info;
            try { info = ServerInfo.FromReply(reply); }
            catch (MsgPackException e) { throw new VasaBridgeException("bad_reply", "hello_ok: " + e.Message); }
            string major = info.Protocol.Split('.')[0];
            if (major != ProtocolInfo.Version.Split('.')[0])
                throw new VasaBridgeException("version_mismatch", "server speaks protocol " + info.Protocol + ", this client " + ProtocolInfo.Version);
            lock (_sessionsLock)
            {
                if (_lastInstance != null && _lastInstance != info.Instance)
                    Raise(new VasaBridgeEvent(VasaBridgeEventKind.ServerRestarted, null, null,
                        "the sidecar restarted (instance " + _lastInstance + " -> " + info.Instance + "); earlier sessions are gone"));
                _lastInstance = info.Instance;
            }
            _server = info;
            _helloDone = true;
            return info;
        }

        /// <summary>Opens a session (§4.2) and subscribes to its stream.</summary>
        public VasaSession Open(OpenOptions options = null)
        {
            if (!_helloDone) Hello(); // so BeginOpen can check the portrait against the server's message limit
            return Await(BeginOpen(options));
        }

        /// <summary>Open without waiting. The session is registered when open_ok arrives, before any of its stream
        /// messages are delivered.</summary>
        public VasaRequest<VasaSession> BeginOpen(OpenOptions options = null)
        {
            return BeginOpen(options ?? new OpenOptions(), null);
        }

        /// <summary>Opens a session that continues `lost` (same options): its frames go into lost's buffers,
        /// numbered on from the frames lost's sessions delivered (VasaLineStreamer re-opening a line).</summary>
        internal VasaRequest<VasaSession> BeginReopen(OpenOptions options, VasaSession lost)
        {
            return BeginOpen(options, lost);
        }

        VasaRequest<VasaSession> BeginOpen(OpenOptions options, VasaSession previous)
        {
            byte[] portrait;
            MsgPackMap map = BuildOpenRequest(options, Interlocked.Increment(ref _nextId) & 0xffffffffL, out portrait);
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
            return Submit<VasaSession>(map, portrait, "open_ok", true,
                render ? Math.Max(_opt.RequestTimeoutMs, _opt.RenderOpenTimeoutMs) : _opt.RequestTimeoutMs,
                reply => FinishOpen(reply, options, previous));
        }

        VasaSession FinishOpen(MsgPackMap reply, OpenOptions options, VasaSession previous)
        {
            bool render = options.WantsRender;
            VasaSession s;
            try
            {
                string[] names = ServerInfo.StringList(reply.GetList("channel_names"));
                s = new VasaSession(reply.GetString("session"), reply.GetDouble("fps"), names, reply.GetDouble("lookahead_ms"),
                                    reply.GetString("frames_dtype") == "f16" ? FramesDtype.F16 : FramesDtype.F32,
                                    options.BufferFrames, render ? Math.Max(2, options.RenderBufferFrames) : 0, reply,
                                    previous);
                s.KeepBuffersOnLoss = options.ReopenOnLoss;
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
            return Await(BeginPushAudio(session, data, offset, count));
        }

        /// <summary>PushAudio without waiting; the bytes are copied, so `data` may be reused at once.</summary>
        public VasaRequest<double> BeginPushAudio(VasaSession session, byte[] data, int offset, int count)
        {
            var copy = new byte[count];
            Buffer.BlockCopy(data, offset, copy, 0, count);
            return SubmitAudio(session, copy);
        }

        VasaRequest<double> SubmitAudio(VasaSession session, byte[] chunk)
        {
            var map = NewRequest("audio");
            map["session"] = session.Id;
            return Submit<double>(map, chunk, "audio_ok", true, 0, ReceivedMs, _opt.MaxAudioRetries);
        }

        static object ReceivedMs(MsgPackMap reply) { return reply.GetDouble("received_ms"); }

        /// <summary>Pushes 16-bit samples (session opened with AudioFormat.Pcm16).</summary>
        public double PushPcm16(VasaSession session, short[] samples, int offset, int count)
        {
            var b = new byte[count * 2];
            for (int i = 0; i < count; i++)
            {
                short v = samples[offset + i];
                b[2 * i] = (byte)v;
                b[2 * i + 1] = (byte)(v >> 8);
            }
            return Await(SubmitAudio(session, b));
        }

        /// <summary>Pushes float samples converted to 16-bit (session opened with AudioFormat.Pcm16), the form an
        /// engine's audio clip gives (Unity AudioClip.GetData).</summary>
        public double PushFloatAsPcm16(VasaSession session, float[] samples, int offset, int count)
        {
            return Await(BeginPushFloatAsPcm16(session, samples, offset, count));
        }

        /// <summary>PushFloatAsPcm16 without waiting.</summary>
        public VasaRequest<double> BeginPushFloatAsPcm16(VasaSession session, float[] samples, int offset, int count)
        {
            var b = new byte[count * 2];
            for (int i = 0; i < count; i++)
            {
                float f = samples[offset + i];
                int v = float.IsNaN(f) ? 0 : (int)Math.Round(Math.Max(-1f, Math.Min(1f, f)) * 32767f);
                b[2 * i] = (byte)v;
                b[2 * i + 1] = (byte)(v >> 8);
            }
            return SubmitAudio(session, b);
        }

        /// <summary>No more audio (§4.4): the server emits the remaining frames then `end`. Returns received_ms.</summary>
        public double EndAudio(VasaSession session) { return Await(BeginEndAudio(session)); }

        /// <summary>EndAudio without waiting.</summary>
        public VasaRequest<double> BeginEndAudio(VasaSession session)
        {
            var map = NewRequest("end_audio");
            map["session"] = session.Id;
            return Submit<double>(map, null, "end_audio_ok", true, 0, ReceivedMs);
        }

        /// <summary>Changes controls mid-stream (§4.5). Returns the complete controls now in effect.</summary>
        public MsgPackMap SetControls(VasaSession session, VasaControls controls, out long effectiveSeq)
        {
            MsgPackMap reply = Await(BeginSetControls(session, controls));
            effectiveSeq = reply.GetInt("effective_seq");
            return reply.GetMap("controls");
        }

        /// <summary>SetControls without waiting; the value is the controls_ok reply (effective_seq, controls).</summary>
        public VasaRequest<MsgPackMap> BeginSetControls(VasaSession session, VasaControls controls)
        {
            var map = NewRequest("controls");
            map["session"] = session.Id;
            map["controls"] = controls.ToMap();
            return Submit<MsgPackMap>(map, null, "controls_ok", true, 0, null);
        }

        /// <summary>Closes the session now (§4.6); returns frames_total. The session stops receiving.</summary>
        public long Close(VasaSession session) { return Await(BeginClose(session)); }

        /// <summary>Close without waiting; the session stops receiving when the request is done, even if it
        /// failed.</summary>
        public VasaRequest<long> BeginClose(VasaSession session)
        {
            var map = NewRequest("close");
            map["session"] = session.Id;
            VasaRequest<long> r = Submit<long>(map, null, "close_ok", true, 0, reply => reply.GetInt("frames_total"));
            r.OnDone(done => Forget(session, "closed", -1, false));
            return r;
        }

        /// <summary>Server health (§4.7).</summary>
        public MsgPackMap Status() { return Await(BeginStatus()); }

        /// <summary>Status without waiting.</summary>
        public VasaRequest<MsgPackMap> BeginStatus()
        {
            return Submit<MsgPackMap>(NewRequest("status"), null, "status_ok", true, 0, null);
        }

        MsgPackMap NewRequest(string type)
        {
            var map = new MsgPackMap(8);
            map["type"] = type;
            map["id"] = (Interlocked.Increment(ref _nextId) & 0xffffffffL);
            return map;
        }

        // ---- network threads ---------------------------------------------------------------------------------

        static bool IsRequestError(MsgPackMap reply)
        {
            object type;
            reply.TryGetValue("type", out type);
            return (type as string) == "error" && !reply.ContainsKey("session");
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
            VasaRequest p = TakeInFlight(idObj, reply);
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
            Resolve(p, reply, problem);
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
            FailInFlight(reason);
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

        /// <summary>Ends sessions whose stream went quiet for too long (§5.4).</summary>
        void Watch()
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
            if (_watchdog != null) _watchdog.Dispose();
            _req.Dispose();
            _sub.Dispose();
            FailAll("disposed", "the VasaBridgeClient was disposed");
        }
    }
}
