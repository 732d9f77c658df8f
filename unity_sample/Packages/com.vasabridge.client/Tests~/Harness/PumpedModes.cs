// Harness mode for the WebGL path's C# side (Runtime/Core/PumpedWebSocketLink.cs and the Begin* request API), driven
// by tests/test_unity_webgl.py:
//
//   mono harness.exe wspumped <ws url> <wav> [frames.f32]   a spoken line over a pumped link, single-threaded
//   mono harness.exe wspumpedrestart <ws url> <wav>         the sidecar killed mid-line and restarted (driven by
//                                                           the test: READY_FOR_KILL, WAITING_FOR_RESTART)
//
// BrowserLikeBridge stands in for the browser: its socket lives on threads the test's "main thread" never waits on,
// and its events wait in a queue until Poll takes them, as a browser's do until the frame returns. The main loop is
// a game loop: Update, look at request handles, sleep a frame; it never calls a blocking client method (the client
// refuses them on a pumped link, which is checked too).
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net.WebSockets;
using System.Threading;
using VasaBridge;

/// <summary>A browser's WebSocket seen through IWebSocketBridge (what VasaBridgeWebSocket.jslib gives in
/// WebGL).</summary>
sealed class BrowserLikeBridge : IWebSocketBridge
{
    sealed class Socket
    {
        public ClientWebSocket Ws = new ClientWebSocket();
        public readonly ConcurrentQueue<KeyValuePair<WebSocketEvent, byte[]>> Events =
            new ConcurrentQueue<KeyValuePair<WebSocketEvent, byte[]>>();
        public readonly BlockingCollection<byte[]> Outbox = new BlockingCollection<byte[]>();
        public volatile bool Open;
        public void Push(WebSocketEventKind kind, byte[] data = null, int code = 0, string text = "")
        {
            Events.Enqueue(new KeyValuePair<WebSocketEvent, byte[]>(new WebSocketEvent
                { Kind = kind, Length = data == null ? 0 : data.Length, CloseCode = code, Text = text }, data));
        }
    }

    readonly Dictionary<int, Socket> _sockets = new Dictionary<int, Socket>();
    int _next = 1;
    public int Opened;

    public int Open(string url, string subProtocol)
    {
        var s = new Socket();
        int id = _next++;
        lock (_sockets) _sockets[id] = s;
        Opened++;
        if (!string.IsNullOrEmpty(subProtocol)) s.Ws.Options.AddSubProtocol(subProtocol);
        new Thread(() => Run(s, url)) { IsBackground = true }.Start();
        return id;
    }

    static void Run(Socket s, string url)
    {
        try { s.Ws.ConnectAsync(new Uri(url), CancellationToken.None).Wait(); }
        catch (Exception e)
        {
            s.Push(WebSocketEventKind.Error, null, 0, "WebSocket error (" + e.GetBaseException().Message + ")");
            s.Push(WebSocketEventKind.Close, null, 1006);
            return;
        }
        s.Open = true;
        s.Push(WebSocketEventKind.Open);
        new Thread(() =>
        {
            try
            {
                foreach (byte[] m in s.Outbox.GetConsumingEnumerable())
                    s.Ws.SendAsync(new ArraySegment<byte>(m), WebSocketMessageType.Binary, true,
                        CancellationToken.None).Wait();
            }
            catch (Exception) { } // the receive side reports the close
        }) { IsBackground = true }.Start();
        var buf = new byte[1 << 16];
        var message = new MemoryStream();
        try
        {
            while (true)
            {
                WebSocketReceiveResult r = s.Ws.ReceiveAsync(new ArraySegment<byte>(buf), CancellationToken.None)
                    .Result;
                if (r.MessageType == WebSocketMessageType.Close)
                {
                    s.Open = false;
                    s.Push(WebSocketEventKind.Close, null, (int)(r.CloseStatus ?? (WebSocketCloseStatus)1005),
                        r.CloseStatusDescription ?? "");
                    return;
                }
                message.Write(buf, 0, r.Count);
                if (!r.EndOfMessage) continue;
                if (r.MessageType == WebSocketMessageType.Binary) s.Push(WebSocketEventKind.Message, message.ToArray());
                message.SetLength(0);
            }
        }
        catch (Exception)
        {
            s.Open = false;
            s.Push(WebSocketEventKind.Error, null, 0, "WebSocket error");
            s.Push(WebSocketEventKind.Close, null, 1006);
        }
        finally { s.Outbox.CompleteAdding(); }
    }

    Socket Get(int id) { lock (_sockets) { Socket s; return _sockets.TryGetValue(id, out s) ? s : null; } }

    public bool Send(int socket, byte[] data, int count)
    {
        Socket s = Get(socket);
        if (s == null || !s.Open || s.Outbox.IsAddingCompleted) return false;
        var copy = new byte[count];
        Buffer.BlockCopy(data, 0, copy, 0, count);
        try { s.Outbox.Add(copy); } catch (InvalidOperationException) { return false; }
        return true;
    }

    public bool Poll(int socket, ref byte[] buffer, out WebSocketEvent e)
    {
        e = default(WebSocketEvent);
        Socket s = Get(socket);
        KeyValuePair<WebSocketEvent, byte[]> head;
        if (s == null || !s.Events.TryDequeue(out head)) return false;
        e = head.Key;
        if (head.Value != null)
        {
            if (buffer.Length < head.Value.Length) buffer = new byte[head.Value.Length];
            Buffer.BlockCopy(head.Value, 0, buffer, 0, head.Value.Length);
        }
        return true;
    }

    public void Close(int socket, int code, string reason)
    {
        Socket s = Get(socket);
        if (s == null || !s.Open) return;
        try { s.Ws.CloseOutputAsync((WebSocketCloseStatus)code, reason, CancellationToken.None); } catch (Exception) { }
    }

    public void Release(int socket)
    {
        Socket s;
        lock (_sockets) { if (!_sockets.TryGetValue(socket, out s)) return; _sockets.Remove(socket); }
        s.Open = false;
        try { s.Ws.Abort(); } catch (Exception) { }
    }
}

static partial class Harness
{
    const int FrameMs = 16; // one game frame

    static void WebSocketPumped(string url, string wav, string dumpPath)
    {
        int rate;
        short[] pcm = ReadWavPcm16(wav, out rate);
        var bridge = new BrowserLikeBridge();
        var opt = new VasaBridgeClientOptions { Url = url, RequestTimeoutMs = 10000, WebSocketBridge = () => bridge };
        using (var client = new VasaBridgeClient(opt))
        {
            client.Start();
            var line = new PumpedLine(client, pcm, rate, dumpPath);
            double slowestUpdateMs = 0;
            int updates = 0;
            var sw = Stopwatch.StartNew();
            while (!line.Finished && sw.ElapsedMilliseconds < 40000)
            {
                var u = Stopwatch.StartNew();
                client.Update();
                line.Step();
                slowestUpdateMs = Math.Max(slowestUpdateMs, u.Elapsed.TotalMilliseconds);
                updates++;
                Thread.Sleep(FrameMs);
            }
            Info("pumped line: " + updates + " frames of the game loop in " + sw.ElapsedMilliseconds
                + " ms; slowest Update + step " + slowestUpdateMs.ToString("F1") + " ms");
            Check(line.Finished && line.Phase == "done", "pumped line: the line finished", line.Phase);
            line.Report();
            Check(slowestUpdateMs < 250, "pumped line: no game frame blocked for a reply",
                "slowest " + slowestUpdateMs.ToString("F1") + " ms");
            Check(bridge.Opened == 1, "pumped line: one connection", bridge.Opened + " opened");

            // A request whose reply is an error completes its handle with the error.
            string[] names = Enumerable.Range(0, 60).Select(i => "c" + i).ToArray();
            var ghost = new VasaSession("00000000deadbeef", 25, names, 0, FramesDtype.F32, 4, false, null);
            VasaRequest<double> bad = client.BeginEndAudio(ghost);
            VasaRequest<MsgPackMap> status = client.BeginStatus();
            PumpUntil(client, () => bad.IsDone && status.IsDone, 10000);
            Check(bad.IsDone && bad.Error != null && bad.Error.Code == "unknown_session" && !bad.Succeeded,
                "pumped: an error reply completes its request with the error",
                bad.Error == null ? "no error" : bad.Error.Code);
            Check(status.Succeeded && status.Value.GetString("type") == "status_ok",
                "pumped: status_ok arrives in its handle while an error reply was in flight");

            bool refused = false;
            try { client.Hello(); }
            catch (InvalidOperationException e) { refused = e.Message.Contains("Begin"); }
            Check(refused, "pumped: a blocking call is refused with a pointer to the Begin* methods");
            Check(client.MalformedMessages == 0 && client.StrayMessages == 0, "pumped: no malformed or stray message",
                client.MalformedMessages + " malformed, " + client.StrayMessages + " stray");
        }
    }

    static void WebSocketPumpedRestart(string url, string wav)
    {
        int rate;
        short[] pcm = ReadWavPcm16(wav, out rate);
        var bridge = new BrowserLikeBridge();
        var opt = new VasaBridgeClientOptions { Url = url, RequestTimeoutMs = 10000, WebSocketBridge = () => bridge };
        opt.WebSocket.ReconnectMaxMs = 500;
        using (var client = new VasaBridgeClient(opt))
        {
            client.Start();
            var seen = new List<VasaBridgeEvent>();
            Func<Func<VasaBridgeEvent, bool>, bool> saw = pred =>
            {
                VasaBridgeEvent e;
                while (client.TryDequeueEvent(out e)) { seen.Add(e); Info("event " + e); }
                return seen.Any(pred);
            };
            VasaRequest<ServerInfo> hello = client.BeginHello();
            VasaRequest<VasaSession> open = client.BeginOpen(new OpenOptions { SampleRateHz = rate });
            PumpUntil(client, () => open.IsDone, 10000);
            Check(hello.Succeeded && open.Succeeded, "pumped restart: hello and open before the kill");
            if (!open.Succeeded) return;
            string firstInstance = hello.Value.Instance;
            VasaSession s = open.Value;
            var bytes = new byte[rate]; // half a second of pcm16
            Buffer.BlockCopy(pcm, 0, bytes, 0, Math.Min(bytes.Length, 2 * pcm.Length));
            VasaRequest<double> push = client.BeginPushAudio(s, bytes, 0, bytes.Length);
            PumpUntil(client, () => push.IsDone, 10000);
            Console.WriteLine("READY_FOR_KILL");
            Console.Out.Flush();
            PumpUntil(client, () => saw(e => e.Kind == VasaBridgeEventKind.SessionEnded && e.SessionId == s.Id), 15000);
            Check(s.State == SessionState.Ended && s.EndReason == "connection_lost",
                "pumped restart: the open session ends with connection_lost", s.EndReason ?? "still open");
            VasaBridgeEvent lost = seen.FirstOrDefault(e => e.Kind == VasaBridgeEventKind.ConnectionLost
                && e.Code == "disconnected");
            Check(lost != null && lost.Message.Contains(url), "pumped restart: the connection-lost event names the URL",
                lost == null ? "none" : lost.Message);
            var sw = Stopwatch.StartNew();
            VasaRequest<MsgPackMap> status = client.BeginStatus();
            PumpUntil(client, () => status.IsDone, 10000);
            Check(status.IsDone && status.Error != null && status.Error.Code == "disconnected"
                  && sw.ElapsedMilliseconds < 4000, "pumped restart: a request while down fails with disconnected",
                  (status.Error == null ? "no error" : status.Error.Code) + " after " + sw.ElapsedMilliseconds + " ms");
            int reports = seen.Count(e => e.Kind == VasaBridgeEventKind.ConnectionLost && e.Code == "disconnected");
            PumpUntil(client, () => false, 1500); // several failed reconnects meanwhile
            saw(e => false);
            Check(seen.Count(e => e.Kind == VasaBridgeEventKind.ConnectionLost && e.Code == "disconnected") == reports
                  && bridge.Opened >= 3, "pumped restart: retries with back-off, one report per outage",
                  bridge.Opened + " connections tried");
            Console.WriteLine("WAITING_FOR_RESTART");
            Console.Out.Flush();
            VasaRequest<ServerInfo> again = null;
            var deadline = DateTime.UtcNow.AddSeconds(40);
            while (DateTime.UtcNow < deadline && (again == null || !again.Succeeded))
            {
                if (again == null || again.IsDone) again = client.BeginHello();
                client.Update();
                Thread.Sleep(FrameMs);
            }
            Check(again != null && again.Succeeded && again.Value.Instance != firstInstance,
                "pumped restart: hello succeeds again, from a new server instance");
            PumpUntil(client, () => saw(e => e.Kind == VasaBridgeEventKind.ServerRestarted), 2000);
            Check(saw(e => e.Kind == VasaBridgeEventKind.ServerRestarted), "pumped restart: a ServerRestarted event");
            var line = new PumpedLine(client, pcm, rate, null);
            PumpUntil(client, () => { line.Step(); return line.Finished; }, 30000);
            line.Report();
        }
    }

    static void PumpUntil(VasaBridgeClient client, Func<bool> done, int timeoutMs)
    {
        var sw = Stopwatch.StartNew();
        while (!done() && sw.ElapsedMilliseconds < timeoutMs)
        {
            client.Update();
            Thread.Sleep(FrameMs);
        }
    }

    /// <summary>One spoken line as VasaBridgeFace drives it: a VasaLineStreamer stepped every frame, and the
    /// session's frames taken every frame until `end`.</summary>
    sealed class PumpedLine
    {
        readonly VasaLineStreamer _line;
        readonly BinaryWriter _dump;
        readonly float[] _frame = new float[60];
        readonly short[] _pcm;
        readonly int _rate;
        long _next;
        bool _inOrder = true, _ptsOk = true;
        float _jawMax;
        public string Phase = "open";
        public bool Finished;

        public PumpedLine(VasaBridgeClient client, short[] pcm, int rate, string dumpPath)
        {
            _pcm = pcm; _rate = rate;
            _dump = dumpPath != null ? new BinaryWriter(File.Create(dumpPath)) : null;
            // /32767: PushFloatAsPcm16 scales by 32767, so the sidecar gets these exact samples back.
            float[] samples = pcm.Select(v => v / 32767f).ToArray();
            _line = new VasaLineStreamer(client, new OpenOptions(), samples, rate);
        }

        public void Step()
        {
            if (Finished) return;
            _line.Step(-1); // no audio is played here: push without pacing
            if (_line.Error != null) { Finish("failed: " + _line.Error.Message); return; }
            VasaSession s = _line.Session;
            if (s == null) return;
            Phase = _line.IsDone ? "ending" : "audio";
            long seq; double pts;
            int jaw = s.ChannelIndex("jawOpen");
            while (s.Motion.TryPopFrame(_frame, out seq, out pts))
            {
                if (seq != _next) _inOrder = false;
                if (Math.Abs(pts - seq * 40.0) > 1e-6) _ptsOk = false;
                _jawMax = Math.Max(_jawMax, _frame[jaw]);
                _next = seq + 1;
                if (_dump != null) foreach (float v in _frame) _dump.Write(v);
            }
            if (s.State == SessionState.Ended && s.Motion.Buffered == 0 && _line.IsDone) Finish("done");
        }

        void Finish(string phase)
        {
            Phase = phase;
            Finished = true;
            if (_dump != null) _dump.Dispose();
        }

        public void Report()
        {
            VasaSession s = _line.Session;
            if (s == null) { Check(false, "pumped line: open_ok arrived", Phase); return; }
            double durationMs = _pcm.Length * 1000.0 / _rate;
            long expected = (long)Math.Ceiling(durationMs * 25.0 / 1000.0 - 1e-9);
            Check(Math.Abs(_line.ReceivedMs - durationMs) < 0.01, "pumped line: audio_ok counts all audio",
                _line.ReceivedMs + " vs " + durationMs);
            Check(s.EndReason == "end_of_audio", "pumped line: stream ended with end_of_audio",
                s.EndReason ?? "no end");
            Check(_next == expected && s.FramesTotal == expected, "pumped line: received every frame (" + _next
                + " of ceil(D*fps) = " + expected + ")", "got " + _next + ", frames_total " + s.FramesTotal);
            Check(_inOrder && _ptsOk && s.Motion.FramesMissing == 0,
                "pumped line: frames in seq order, pts = seq x 40 ms, none missing");
            Check(_jawMax > 0.05f, "pumped line: the jaw opens while the line is spoken", "max jawOpen " + _jawMax);
        }
    }
}
