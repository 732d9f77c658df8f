// Harness modes for the WebSocket binding (Runtime/Core/WebSocketLink.cs), driven by tests/test_unity_websocket.py:
//
//   mono harness.exe wsvectors <protocol/vectors dir>   every request's ZeroMQ frames join to its golden WebSocket
//                                                       message byte for byte; every message routes to the reply or
//                                                       stream side its ZeroMQ form names
//   mono harness.exe wslive <ws url> <wav> [frames.f32] a spoken line over WebSocket against the real sidecar
//   mono harness.exe wsrestart <ws url> <wav>           survive a sidecar restart (driven by the test)
//   mono harness.exe wsrender <ws url> <wav> <portrait> <out dir>   rendered frames over WebSocket (Harness.cs's
//                                                       LiveRender: portrait uploaded as bin in `open`, images in
//                                                       the `render` map)
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using VasaBridge;

static partial class Harness
{
    static VasaBridgeClient NewWebSocketClient(string url, int timeoutMs)
    {
        var opt = new VasaBridgeClientOptions { Url = url, RequestTimeoutMs = timeoutMs };
        opt.WebSocket.ReconnectMaxMs = 500;
        var c = new VasaBridgeClient(opt);
        c.Start();
        return c;
    }

    static void WebSocketVectors(string dir)
    {
        int joined = 0, routed = 0;
        var writer = new MsgPackWriter();
        foreach (string path in Directory.GetFiles(dir, "*.msgpack").OrderBy(p => p))
        {
            string name = Path.GetFileNameWithoutExtension(path);
            byte[] wire = File.ReadAllBytes(path);
            string zpath = Path.Combine(Path.Combine(dir, "zmq"), name + ".json");
            if (!File.Exists(zpath)) { Check(false, "vector " + name + " has ZeroMQ frames"); continue; }
            var z = (MsgPackMap)Json.Parse(File.ReadAllText(zpath));
            List<byte[]> frames = ((List<object>)z["frames"]).Select(f => Hex((string)f)).ToList();
            bool stream = (string)z["socket"] == "stream";
            var logical = (MsgPackMap)Decode(wire);
            bool isRequest = !stream && !((string)logical["type"]).EndsWith("_ok")
                && (string)logical["type"] != "error";
            if (isRequest)
            {
                var segments = frames.Select(f => new ArraySegment<byte>(f)).ToList();
                byte[] message = WebSocketLink.JoinRequest(segments, writer).ToArray();
                Check(message.SequenceEqual(wire), "vector " + name
                    + ": the request's frames join to its WebSocket message",
                      "got " + ToHex(message, 0, Math.Min(48, message.Length)));
                joined++;
            }
            int so, sn;
            bool toStream = WebSocketLink.IsStreamMessage(wire, wire.Length, out so, out sn);
            string topic = toStream ? Encoding.ASCII.GetString(wire, so, sn) : null;
            Check(toStream == stream && (!stream || topic == Encoding.ASCII.GetString(frames[0])),
                  "vector " + name + " routes to the " + (stream ? "stream side under its session" : "reply side"));
            routed++;
        }
        Check(joined >= 8 && routed >= 25, "vectors seen", joined + " requests joined, " + routed + " messages routed");
        bool refused = false;
        try
        {
            var hello = new MsgPackWriter();
            hello.WriteValue(new MsgPackMap { { "type", "hello" }, { "id", 1L } });
            WebSocketLink.JoinRequest(new[] { new ArraySegment<byte>(hello.ToArray()),
                new ArraySegment<byte>(new byte[3]) }, writer);
        }
        catch (MsgPackException e) { refused = e.Message.Contains("hello"); }
        Check(refused, "a payload frame on a request without a payload field is refused");
    }

    static void WebSocketLive(string url, string wav, string dumpPath)
    {
        int rate;
        short[] pcm = ReadWavPcm16(wav, out rate);
        using (VasaBridgeClient client = NewWebSocketClient(url, 10000))
        {
            ServerInfo info = client.Hello();
            Check(client.WaitConnected(10000), "connects to the sidecar's WebSocket binding");
            Check(info.Protocol.StartsWith("1.") && info.Fps == 25.0 && info.MotionLayoutVersion == 1,
                "hello_ok over WebSocket: protocol 1.x, 25 fps, layout 1");
            Info("server " + info.Server + " backend " + info.Backend + " instance " + info.Instance + " at " + url);
            SpeakAndCheck(client, pcm, rate, "ws line", dumpPath);
            SpeakAndCheck(client, pcm, rate, "ws second line");
            MsgPackMap status = client.Status();
            Check(status.GetString("instance") == info.Instance, "status_ok over WebSocket reports the same instance");
            string code = null;
            try
            {
                string[] names = Enumerable.Range(0, 60).Select(i => "c" + i).ToArray();
                var ghost = new VasaSession("00000000deadbeef", 25, names, 0, FramesDtype.F32, 4, false, null);
                client.EndAudio(ghost);
            }
            catch (VasaBridgeException e) { code = e.Code; }
            Check(code == "unknown_session", "an error reply (with a session field) reaches the request that caused it",
                code ?? "no error");
            Check(client.MalformedMessages == 0 && client.StrayMessages == 0,
                "no malformed or stray message over WebSocket",
                  client.MalformedMessages + " malformed, " + client.StrayMessages + " stray");
        }
    }

    static void WebSocketRestart(string url, string wav)
    {
        int rate;
        short[] pcm = ReadWavPcm16(wav, out rate);
        using (VasaBridgeClient client = NewWebSocketClient(url, 10000))
        {
            Check(client.WaitConnected(10000), "connects to the sidecar over WebSocket");
            string firstInstance = client.Hello().Instance;
            VasaSession s = client.Open(new OpenOptions { SampleRateHz = rate });
            client.PushPcm16(s, pcm, 0, Math.Min(pcm.Length, rate / 2));
            var seen = new List<VasaBridgeEvent>();
            Console.WriteLine("READY_FOR_KILL");
            Console.Out.Flush();
            bool lost = WaitFor(client, e => e.Kind == VasaBridgeEventKind.SessionEnded && e.SessionId == s.Id, 15000,
                seen);
            Check(lost && s.State == SessionState.Ended && s.EndReason == "connection_lost",
                "the open session ends with connection_lost when the sidecar dies",
                  s.EndReason ?? "still open");
            VasaBridgeEvent lostEvt = seen.FirstOrDefault(e => e.Kind == VasaBridgeEventKind.ConnectionLost
                && e.Code == "disconnected");
            Check(lostEvt != null && lostEvt.Message.Contains(url) && lostEvt.Message.Contains("reconnecting"),
                  "the connection-lost event names the ws:// endpoint and says it reconnects",
                  lostEvt == null ? "none" : lostEvt.Message);
            string code = null;
            var sw = Stopwatch.StartNew();
            try { client.Status(); }
            catch (VasaBridgeException e) { code = e.Code; Info("while down: " + e.Message); }
            Check(code == "disconnected" || code == "timeout",
                "a request while the sidecar is down fails with a clear error", code ?? "no error");
            Check(sw.ElapsedMilliseconds < 4000, "that request fails within the request timeout",
                  sw.ElapsedMilliseconds + " ms");
            Console.WriteLine("WAITING_FOR_RESTART");
            Console.Out.Flush();
            ServerInfo again = null;
            var deadline = DateTime.UtcNow.AddSeconds(40);
            while (again == null && DateTime.UtcNow < deadline)
            {
                try { again = client.Hello(); }
                catch (VasaBridgeException) { Thread.Sleep(200); }
            }
            Check(again != null, "hello succeeds again after the sidecar restarts");
            if (again == null) return;
            Check(again.Instance != firstInstance, "hello_ok reports a new server instance");
            Check(WaitFor(client, e => e.Kind == VasaBridgeEventKind.ServerRestarted, 2000, seen),
                "a ServerRestarted event is raised");
            SpeakAndCheck(client, pcm, rate, "ws after restart");
        }
    }
}
