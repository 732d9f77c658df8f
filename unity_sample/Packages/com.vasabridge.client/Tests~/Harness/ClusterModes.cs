// Harness modes against a `vasa-bridge serve --ray` cluster (tests/test_cluster.py):
//
//   mono harness.exe cluster <directory url> <wav>           the directory assigns a replica (SPEC.md §8.6), and a
//                                                            line streamed there arrives whole
//   mono harness.exe reopen <url> <wav> threaded|pumped      a VasaLineStreamer with a VasaReopener; the harness
//                                                            prints KILL_INSTANCE <instance> a third into the line
//                                                            and the test kills that replica. tcp:// is a directory
//                                                            (ZeroMQ, threaded only), ws:// the cluster's ingress.
using System;
using System.Diagnostics;
using System.Threading;
using VasaBridge;

static partial class Harness
{
    static void ClusterLine(string directoryUrl, string wav)
    {
        int rate;
        short[] pcm = ReadWavPcm16(wav, out rate);
        var directory = new VasaBridge.VasaBridgeClientOptions { Url = directoryUrl, RequestTimeoutMs = 10000 };
        VasaBridge.VasaBridgeClientOptions replica = VasaBridge.VasaClusterDirectory.Assign(directory, 10000);
        Check(replica.Url == null && replica.RequestPort > 0 && replica.StreamPort > 0 &&
              replica.RequestPort != new Uri(directoryUrl).Port, "the directory assigns a replica's own ZeroMQ ports");
        Info("assigned tcp://" + replica.Host + ":" + replica.RequestPort + " stream " + replica.StreamPort);
        replica.Zmtp.ReconnectMaxMs = 500;
        using (var client = new VasaBridge.VasaBridgeClient(replica))
        {
            client.Start();
            VasaBridge.ServerInfo info = client.Hello();
            Check(info.Protocol == VasaBridge.ProtocolInfo.Version, "the replica says hello_ok in this client's protocol");
            SpeakAndCheck(client, pcm, rate, "cluster line");
        }
    }

    const double PlaybackSpeed = 2.0;  // the game's audio clock runs at twice real time: the test stays short
    const double AheadMs = 600;        // pushed audio stays this close to playback, so the kill lands mid-line

    static void ReopenLine(string url, string wav, string loop)
    {
        int rate;
        short[] pcm = ReadWavPcm16(wav, out rate);
        bool pumped = loop == "pumped", zmq = url.StartsWith("tcp://");
        var options = new VasaBridgeClientOptions { Url = url, RequestTimeoutMs = 2000 };
        options.Zmtp.ReconnectMaxMs = 500;
        options.WebSocket.ReconnectMaxMs = 500;
        if (pumped) { var bridge = new BrowserLikeBridge(); options.WebSocketBridge = () => bridge; }
        VasaReopener reopener = zmq ? VasaReopener.ClusterDirectory(options, 5000) : VasaReopener.SameAddress(5000);
        var client = new VasaBridgeClient(zmq ? VasaClusterDirectory.Assign(options, 10000) : options);
        client.Start();
        float[] samples = Array.ConvertAll(pcm, v => v / 32767f);
        var line = new VasaLineStreamer(client, new OpenOptions { Seed = 5 }, samples, rate, AheadMs, reopener);
        double durationMs = pcm.Length * 1000.0 / rate;
        long expected = (long)Math.Ceiling(durationMs * 25.0 / 1000.0 - 1e-9), next = 0;
        bool inOrder = true, onClock = true, killAsked = false;
        string victim = null;
        var frame = new float[60];
        double slowestStepMs = 0;
        var clock = Stopwatch.StartNew();
        while (clock.ElapsedMilliseconds < 30000)
        {
            var step = Stopwatch.StartNew();
            if (pumped) line.Client.Update();
            double playbackMs = (clock.Elapsed.TotalMilliseconds - 300) * PlaybackSpeed; // starts after 300 ms
            line.Step(playbackMs);
            VasaSession s = line.Session;
            long seq; double pts;
            while (s != null && s.Motion.TryPopFrame(frame, out seq, out pts))
            {
                if (seq != next) inOrder = false;
                if (Math.Abs(pts - seq * 40.0) > 1e-6) onClock = false;
                next = seq + 1;
            }
            slowestStepMs = Math.Max(slowestStepMs, step.Elapsed.TotalMilliseconds);
            if (!killAsked && next >= expected / 3 && line.Client.Server != null)
            {
                killAsked = true;
                victim = line.Client.Server.Instance;
                Console.WriteLine("KILL_INSTANCE " + victim);
                Console.Out.Flush();
            }
            if (line.Error != null || (line.IsDone && s.Motion.Buffered == 0)) break;
            Thread.Sleep(16);
        }
        VasaSession last = line.Session;
        Info("reopen (" + (zmq ? "zmq" : "ws") + ", " + loop + "): " + line.Reopens + " re-open(s), the last took "
            + line.LastReopenMs.ToString("F0") + " ms; " + next + " of " + expected + " frames; slowest step "
            + slowestStepMs.ToString("F1") + " ms; underruns while re-opening are playback's, not counted here");
        Check(line.Error == null, "reopen: the line did not fail", line.Error == null ? "" : line.Error.Message);
        Check(line.Reopens == 1 && line.LastReopenMs < 2000, "reopen: the session re-opened once, within 2 s",
            line.Reopens + " re-opens, " + line.LastReopenMs.ToString("F0") + " ms");
        Check(line.Client.Server != null && line.Client.Server.Instance != victim,
            "reopen: the new session is on another replica", victim + " -> " + (line.Client.Server == null ? "?" : line.Client.Server.Instance));
        Check(last != null && last.EndReason == "end_of_audio" && last.SeqOffset + last.FramesTotal == expected,
            "reopen: the line ends with end_of_audio after ceil(D*fps) frames in all",
            last == null ? "no session" : last.EndReason + ", " + last.SeqOffset + " + " + last.FramesTotal);
        Check(next == expected && inOrder && onClock && last.Motion.FramesMissing == 0,
            "reopen: every frame once, in seq order, pts = seq x 40 ms across the seam",
            next + " of " + expected + (inOrder ? "" : ", out of order") + (onClock ? "" : ", pts off the clock"));
        Check(slowestStepMs < 100, "reopen: no game frame blocked", slowestStepMs.ToString("F1") + " ms");
        line.Client.Dispose();
    }
}
