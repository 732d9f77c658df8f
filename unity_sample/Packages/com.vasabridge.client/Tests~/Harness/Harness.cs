// Console harness for the engine-independent C# core: compiled with Debian's mcs and run with mono by
// tests/test_unity_client.py. Each mode prints "PASS <check>" / "FAIL <check>: <why>" lines and ends with
// "<N> passed, <M> failed"; the exit code is 0 only when nothing failed.
//
//   mono harness.exe vectors <protocol/vectors dir>          golden vectors: decode, encode, ZeroMQ split/join
//   mono harness.exe bench                                   decode cost per motion frame, allocations
//   mono harness.exe live <req port> <stream port> <wav> [frames.f32]  a spoken line against the real sidecar
//                                                            (optionally writing the received frames, n x 60 f32)
//   mono harness.exe render <req port> <stream port> <wav> <portrait image> <out dir>  rendered frames from a
//                                                            `serve --render` sidecar (writes motion.f32 and
//                                                            <seq>.jpg images for the test to decode)
//   mono harness.exe restart <req port> <stream port> <wav>  survive a sidecar restart (driven by the test)
//   mono harness.exe fake <req port> <stream port> <garbage port>  malformed input from a fake server
//   mono harness.exe jitter                                  jitter buffer scheduling and interpolation
//   mono harness.exe mesh <vasa_head.mesh.json>              avatar mesh JSON loading
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using System.Threading;
using VasaBridge;

static partial class Harness
{
    static int _passed, _failed;

    static void Check(bool ok, string name, string why = "")
    {
        if (ok) { _passed++; Console.WriteLine("PASS " + name); }
        else { _failed++; Console.WriteLine("FAIL " + name + (why.Length > 0 ? ": " + why : "")); }
    }

    static void Info(string line) { Console.WriteLine("INFO " + line); }

    static int Main(string[] args)
    {
        Thread.CurrentThread.CurrentCulture = CultureInfo.InvariantCulture;
        Console.Out.Flush();
        if (args.Length == 0) { Console.Error.WriteLine("usage: harness.exe vectors|bench|live|restart|fake ..."); return 2; }
        try
        {
            switch (args[0])
            {
                case "vectors": Vectors(args[1]); break;
                case "bench": Bench(); break;
                case "live": Live(int.Parse(args[1]), int.Parse(args[2]), args[3], args.Length > 4 ? args[4] : null); break;
                case "render": LiveRender(int.Parse(args[1]), int.Parse(args[2]), args[3], args[4], args[5]); break;
                case "restart": Restart(int.Parse(args[1]), int.Parse(args[2]), args[3]); break;
                case "fake": Fake(int.Parse(args[1]), int.Parse(args[2]), int.Parse(args[3])); break;
                case "mesh": Mesh(args[1]); break;
                case "jitter": Jitter(); Clock(); break;
                case "wsvectors": WebSocketVectors(args[1]); break;                      // WebSocketModes.cs
                case "wslive": WebSocketLive(args[1], args[2], args.Length > 3 ? args[3] : null); break;
                case "wsrestart": WebSocketRestart(args[1], args[2]); break;
                case "wspumped": WebSocketPumped(args[1], args[2], args.Length > 3 ? args[3] : null); break; // PumpedModes.cs
                case "wspumpedrestart": WebSocketPumpedRestart(args[1], args[2]); break;
                case "cluster": ClusterLine(args[1], args[2]); break;                      // ClusterModes.cs
                case "reopen": ReopenLine(args[1], args[2], args[3]); break;
                case "wsrender":
                    using (VasaBridgeClient c = NewWebSocketClient(args[1], 10000)) LiveRender(c, args[2], args[3], args[4]);
                    break;
                default: Console.Error.WriteLine("unknown mode " + args[0]); return 2;
            }
        }
        catch (Exception e)
        {
            Check(false, "harness ran to the end", e.GetType().Name + ": " + e.Message + "\n" + e.StackTrace);
        }
        Console.WriteLine(_passed + " passed, " + _failed + " failed");
        return _failed == 0 ? 0 : 1;
    }

    // ---- golden vectors ------------------------------------------------------------------------------------

    static byte[] Hex(string h)
    {
        var b = new byte[h.Length / 2];
        for (int i = 0; i < b.Length; i++) b[i] = byte.Parse(h.Substring(2 * i, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return b;
    }

    static string ToHex(byte[] b, int off, int n)
    {
        var sb = new StringBuilder(n * 2);
        for (int i = 0; i < n; i++) sb.Append(b[off + i].ToString("x2"));
        return sb.ToString();
    }

    /// <summary>JSON form of a vector → the logical value ({"$bin": hex} → byte[]).</summary>
    static object FromJsonForm(object v)
    {
        var map = v as MsgPackMap;
        if (map != null)
        {
            if (map.Count == 1 && map.ContainsKey("$bin")) return Hex((string)map["$bin"]);
            var m = new MsgPackMap();
            foreach (string k in map.OrderedKeys) m[k] = FromJsonForm(map[k]);
            return m;
        }
        var list = v as List<object>;
        if (list != null) return list.Select(FromJsonForm).ToList();
        return v;
    }

    /// <summary>Deep equality with numbers compared numerically (JSON does not tell 1 from 1.0, §13).</summary>
    static bool Same(object a, object b, string path, out string diff)
    {
        diff = null;
        if (a == null || b == null) { if (a == b) return true; diff = path + ": " + Show(a) + " vs " + Show(b); return false; }
        if (IsNumber(a) && IsNumber(b))
        {
            if (Convert.ToDouble(a) == Convert.ToDouble(b)) return true;
            diff = path + ": " + a + " vs " + b; return false;
        }
        if (a is byte[] && b is byte[])
        {
            if (((byte[])a).SequenceEqual((byte[])b)) return true;
            diff = path + ": bytes differ"; return false;
        }
        var ma = a as MsgPackMap; var mb = b as MsgPackMap;
        if (ma != null && mb != null)
        {
            if (ma.Count != mb.Count) { diff = path + ": " + ma.Count + " vs " + mb.Count + " keys"; return false; }
            foreach (string k in ma.OrderedKeys)
            {
                if (!mb.ContainsKey(k)) { diff = path + "." + k + " missing"; return false; }
                if (!Same(ma[k], mb[k], path + "." + k, out diff)) return false;
            }
            return true;
        }
        var la = a as List<object>; var lb = b as List<object>;
        if (la != null && lb != null)
        {
            if (la.Count != lb.Count) { diff = path + ": list lengths differ"; return false; }
            for (int i = 0; i < la.Count; i++) if (!Same(la[i], lb[i], path + "[" + i + "]", out diff)) return false;
            return true;
        }
        if (a.GetType() == b.GetType() && a.Equals(b)) return true;
        diff = path + ": " + Show(a) + " vs " + Show(b);
        return false;
    }

    static bool IsNumber(object o) { return o is long || o is double || o is ulong; }
    static string Show(object o) { return o == null ? "nil" : o.ToString(); }

    /// <summary>A canonical text form of a decoded value; the Python test builds the same from msgpack-python's
    /// decode, so "decodes identically to Python" is checked value by value, floats by their IEEE bits.</summary>
    static void Canon(object v, StringBuilder sb)
    {
        if (v == null) sb.Append("nil");
        else if (v is bool) sb.Append((bool)v ? "true" : "false");
        else if (v is long) sb.Append("i:").Append(((long)v).ToString(CultureInfo.InvariantCulture));
        else if (v is ulong) sb.Append("i:").Append(((ulong)v).ToString(CultureInfo.InvariantCulture));
        else if (v is double) sb.Append("f:").Append(BitConverter.DoubleToInt64Bits((double)v).ToString("x16"));
        else if (v is string) { byte[] u = Encoding.UTF8.GetBytes((string)v); sb.Append("s:").Append(ToHex(u, 0, u.Length)); }
        else if (v is byte[]) { var b = (byte[])v; sb.Append("b:").Append(ToHex(b, 0, b.Length)); }
        else if (v is MsgPackMap)
        {
            var m = (MsgPackMap)v;
            sb.Append('{');
            bool first = true;
            foreach (string k in m.OrderedKeys)
            {
                if (!first) sb.Append(',');
                first = false;
                Canon(k, sb); sb.Append('='); Canon(m[k], sb);
            }
            sb.Append('}');
        }
        else if (v is List<object>)
        {
            sb.Append('[');
            var l = (List<object>)v;
            for (int i = 0; i < l.Count; i++) { if (i > 0) sb.Append(','); Canon(l[i], sb); }
            sb.Append(']');
        }
        else throw new InvalidOperationException("unexpected decoded type " + v.GetType());
    }

    static object Decode(byte[] b)
    {
        var r = new MsgPackReader(b, 0, b.Length);
        object v = r.ReadValue();
        if (!r.AtEnd) throw new MsgPackException("trailing bytes");
        return v;
    }

    static byte[] Encode(object v)
    {
        var w = new MsgPackWriter();
        w.WriteValue(v);
        return w.ToArray();
    }

    /// <summary>Fields the ZeroMQ binding moves out of the map into trailing frames (SPEC.md §8.3).</summary>
    static readonly Dictionary<string, string> PayloadField = new Dictionary<string, string>
    {
        { "audio", "audio" },      // exactly 1 frame
        { "open", "portrait" },    // 0 or 1 frame (1.1): only when a portrait is sent
        { "render", "images" },    // exactly n frames
    };

    static void Vectors(string dir)
    {
        string version = File.ReadAllText(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(dir).TrimEnd('/')), "VERSION")).Trim();
        Check(version == ProtocolInfo.Version, "client protocol version matches protocol/VERSION", ProtocolInfo.Version + " vs " + version);
        string[] files = Directory.GetFiles(dir, "*.msgpack").OrderBy(f => f, StringComparer.Ordinal).ToArray();
        Check(files.Length >= 20, "found the golden vectors", files.Length + " files");
        foreach (string path in files)
        {
            string name = Path.GetFileNameWithoutExtension(path);
            byte[] raw = File.ReadAllBytes(path);
            object decoded = Decode(raw);
            // Numeric arrays stay lists of long/double (hello_ok_render.render.sizes is [256, 512] of uints).
            object expected = FromJsonForm(Json.Parse(File.ReadAllText(Path.ChangeExtension(path, ".json")), false));
            string diff;
            Check(Same(decoded, expected, name, out diff), "vector " + name + " decodes to its JSON", diff ?? "");
            byte[] reencoded = Encode(expected);
            Check(reencoded.SequenceEqual(raw), "vector " + name + " re-encodes to the same bytes",
                  "got " + ToHex(reencoded, 0, Math.Min(40, reencoded.Length)) + "...");
            var sb = new StringBuilder();
            Canon(decoded, sb);
            Console.WriteLine("CANON " + name + " " + sb);

            string zpath = Path.Combine(Path.Combine(dir, "zmq"), name + ".json");
            Check(File.Exists(zpath), "vector " + name + " has ZeroMQ frames");
            if (!File.Exists(zpath)) continue;
            var z = (MsgPackMap)Json.Parse(File.ReadAllText(zpath));
            List<byte[]> frames = ((List<object>)z["frames"]).Select(f => Hex((string)f)).ToList();
            string socket = (string)z["socket"];
            var logical = (MsgPackMap)decoded;
            string type = (string)logical["type"];
            int mapFrame = socket == "stream" ? 1 : 0;
            if (socket == "stream")
                Check(Encoding.ASCII.GetString(frames[0]) == (string)logical["session"], "vector " + name + " topic frame is the session id");
            // join: frames -> logical message
            var joined = (MsgPackMap)Decode(frames[mapFrame]);
            string field;
            List<byte[]> payload = frames.Skip(mapFrame + 1).ToList();
            if (PayloadField.TryGetValue(type, out field))
            {
                if (type == "render")
                {
                    Check(payload.Count == (long)logical["n"], "vector " + name + " has n image frames", payload.Count + " frames");
                    joined[field] = payload.Cast<object>().ToList();
                }
                else
                {
                    bool optional = type == "open";
                    Check(payload.Count == 1 || (optional && payload.Count == 0), "vector " + name + " has " + (optional ? "0 or 1" : "1") + " payload frame",
                          payload.Count + " frames");
                    if (payload.Count > 0) joined[field] = payload[0];
                }
                Check(!joined.ContainsKey(field) || !((MsgPackMap)Decode(frames[mapFrame])).ContainsKey(field),
                      "vector " + name + " does not also carry '" + field + "' in its map frame");
            }
            else Check(payload.Count == 0, "vector " + name + " has no trailing frames");
            Check(Same(joined, logical, name, out diff) && joined.Count == logical.Count, "vector " + name + " ZeroMQ frames join to the message", diff ?? "");
            // split: logical message -> frame bytes
            var split = new MsgPackMap();
            foreach (string k in logical.OrderedKeys) if (k != field) split[k] = logical[k];
            Check(Encode(split).SequenceEqual(frames[mapFrame]), "vector " + name + " splits to the same ZeroMQ map frame");

            if (type == "motion") CheckMotionVector(name, logical, frames[mapFrame]);
            if (type == "render") CheckRenderVector(name, logical, frames);
            if (name == "open_portrait") CheckOpenEncoder(logical, frames);
            if (type == "hello_ok") CheckServerInfo(name, logical);
            if (type == "open_ok") CheckSessionRenderInfo(name, logical);
        }
    }

    /// <summary>hello_ok.render becomes typed RenderCapabilities (absent: null).</summary>
    static void CheckServerInfo(string name, MsgPackMap logical)
    {
        ServerInfo info = ServerInfo.FromReply(logical);
        if (!logical.ContainsKey("render")) { Check(info.Render == null, "vector " + name + ": no render capabilities"); return; }
        RenderCapabilities r = info.Render;
        Check(r != null && r.Sizes.SequenceEqual(new[] { 256, 512 }) && r.Formats.SequenceEqual(new[] { "jpeg", "rgba" }) &&
              r.DefaultSize == 256 && r.JpegQuality == 85 && r.DefaultPortrait && r.MaxPortraitPixels == 40000000 &&
              r.MarkPositions.Length == 4 && r.MarkPositions[0] == "bottom-right",
              "vector " + name + ": hello_ok.render parses into RenderCapabilities");
    }

    /// <summary>open_ok.render becomes the session's typed SessionRenderInfo (absent: null).</summary>
    static void CheckSessionRenderInfo(string name, MsgPackMap logical)
    {
        string[] names = ((List<object>)logical["channel_names"]).Cast<string>().ToArray();
        bool render = logical.ContainsKey("render");
        var s = new VasaSession((string)logical["session"], 25.0, names, 60.0, FramesDtype.F32, 16, render, logical);
        SessionRenderInfo r = s.RenderInfo;
        if (!render) { Check(r == null && s.Render == null, "vector " + name + ": no render info"); return; }
        Check(r != null && r.Format == "jpeg" && r.Width == 512 && r.Height == 512 && r.JpegQuality == 80 &&
              r.MarkPosition == "top-left" && r.Portrait == "uploaded" && s.Render != null,
              "vector " + name + ": open_ok.render parses into the session's SessionRenderInfo");
        var bad = new MsgPackMap();
        foreach (string k in logical.OrderedKeys) bad[k] = logical[k];
        var br = new MsgPackMap();
        foreach (string k in ((MsgPackMap)logical["render"]).OrderedKeys) br[k] = ((MsgPackMap)logical["render"])[k];
        br["format"] = "gif";
        bad["render"] = br;
        string why = null;
        try { new VasaSession((string)logical["session"], 25.0, names, 60.0, FramesDtype.F32, 16, true, bad); }
        catch (MsgPackException e) { why = e.Message; }
        Check(why != null && why.Contains("gif"), "an open_ok.render with an unknown format is refused", why ?? "accepted");
    }

    /// <summary>The client's own `open` encoder, given the options that vector open_portrait describes, writes
    /// exactly its ZeroMQ frames: the map without `portrait`, then the image file as trailing frame 1.</summary>
    static void CheckOpenEncoder(MsgPackMap logical, List<byte[]> frames)
    {
        var render = (MsgPackMap)logical["render"];
        var o = new OpenOptions
        {
            Format = AudioFormat.F32,
            SampleRateHz = 16000,
            Seed = 7,
            Portrait = (byte[])logical["portrait"],
            RenderSize = (int)(long)render["size"],
            JpegQuality = (int)(long)render["jpeg_quality"],
            MarkPosition = (string)render["mark_position"],
        };
        o.ExtraOutputs.Add("frames_jpeg");
        byte[] portrait;
        MsgPackMap map = VasaBridgeClient.BuildOpenRequest(o, (long)logical["id"], out portrait);
        byte[] mapBytes = Encode(map);
        Check(mapBytes.SequenceEqual(frames[0]), "the client's open encoder writes open_portrait's map frame byte for byte",
              ToHex(mapBytes, 0, Math.Min(80, mapBytes.Length)));
        Check(portrait != null && portrait.SequenceEqual(frames[1]) && !map.ContainsKey("portrait"),
              "the client's open encoder sends the portrait as trailing frame 1, not in the map");
        o.Portrait = null;
        o.RenderSize = 0; o.JpegQuality = 0; o.MarkPosition = null;
        map = VasaBridgeClient.BuildOpenRequest(o, 2, out portrait);
        Check(portrait == null && !map.ContainsKey("render"), "without a portrait or render options open has no trailing frame and no render map");
        o.ExtraOutputs.Clear();
        o.Portrait = new byte[] { 1, 2, 3 };
        string code = null;
        try { VasaBridgeClient.BuildOpenRequest(o, 3, out portrait); }
        catch (VasaBridgeException e) { code = e.Code; }
        Check(code == "bad_request", "a portrait without frames_jpeg / frames_rgba is refused before sending", code ?? "accepted");
    }

    static string[] _layout;

    static VasaSession DetachedSession(string id, bool f16, bool render)
    {
        if (_layout == null)
        {
            string dir = Environment.GetEnvironmentVariable("VASA_VECTORS") ?? "protocol/vectors";
            var ok = (MsgPackMap)Decode(File.ReadAllBytes(Path.Combine(dir, "open_ok.msgpack")));
            _layout = ((List<object>)ok["channel_names"]).Cast<string>().ToArray();
        }
        return new VasaSession(id, 25.0, _layout, 80.0, f16 ? FramesDtype.F16 : FramesDtype.F32, 64, render, null);
    }

    static void CheckMotionVector(string name, MsgPackMap logical, byte[] mapFrame)
    {
        bool f16 = (string)logical["dtype"] == "f16";
        VasaSession s = DetachedSession((string)logical["session"], f16, false);
        VasaBridgeEvent evt;
        StreamResult res = s.HandleStreamMessage(mapFrame, 0, mapFrame.Length, null, out evt);
        Check(res == StreamResult.Motion, "vector " + name + " decodes as a motion batch", res + " " + s.LastError);
        long n = (long)logical["n"], seq0 = (long)logical["seq"];
        double pts0 = (double)logical["pts_ms"];
        byte[] bin = (byte[])logical["frames"];
        var frame = new float[60];
        int jaw = s.ChannelIndex("JAWOPEN"), headZ = s.ChannelIndex("headZ"), yaw = s.ChannelIndex("headYaw");
        bool allEqual = true;
        string why = "";
        for (int f = 0; f < n; f++)
        {
            long seq; double pts;
            if (!s.Motion.TryPopFrame(frame, out seq, out pts)) { allEqual = false; why = "frame " + f + " missing"; break; }
            if (seq != seq0 + f || Math.Abs(pts - (pts0 + 40.0 * f)) > 1e-9) { allEqual = false; why = "seq/pts " + seq + "/" + pts; }
            for (int c = 0; c < 60; c++)
            {
                float want = f16 ? Bits.ReadFloat16LE(bin, 2 * (f * 60 + c)) : BitConverter.ToSingle(bin, 4 * (f * 60 + c));
                if (frame[c] != want) { allEqual = false; why = "frame " + f + " channel " + c + ": " + frame[c] + " vs " + want; }
            }
            if (name == "motion")
            {
                if (frame[headZ] != 0.6f || frame[yaw] != 0.125f) { allEqual = false; why = "headZ/headYaw " + frame[headZ] + "/" + frame[yaw]; }
                if (f == 2 && frame[jaw] != 0.5f) { allEqual = false; why = "frame 2 jawOpen " + frame[jaw]; }
            }
        }
        Check(allEqual, "vector " + name + " frame values, seq and pts", why);
    }

    /// <summary>A render vector through the session's decoder: every image lands in the RenderBuffer with its
    /// seq, pts, size and format, bytes unchanged. (The client does not decode pictures: render_jpeg's bytes are
    /// shortened stand-ins, and JPEG decoding is the engine's job, e.g. Unity's ImageConversion.LoadImage.)</summary>
    static void CheckRenderVector(string name, MsgPackMap logical, List<byte[]> frames)
    {
        var images = ((List<object>)logical["images"]).Cast<byte[]>().ToList();
        long seq0 = (long)logical["seq"], width = (long)logical["width"], height = (long)logical["height"];
        double pts0 = (double)logical["pts_ms"];
        bool jpeg = (string)logical["format"] == "jpeg";
        // Both bindings: ZeroMQ trailing frames, and (WebSocket) the images inside the map.
        foreach (bool zmq in new[] { true, false })
        {
            VasaSession s = DetachedSession((string)logical["session"], false, true);
            VasaBridgeEvent evt;
            StreamResult res;
            if (zmq)
            {
                var payloads = frames.Skip(2).Select(b => new ArraySegment<byte>(b)).ToList();
                res = s.HandleStreamMessage(frames[1], 0, frames[1].Length, payloads, out evt);
            }
            else
            {
                byte[] whole = Encode(logical);
                res = s.HandleStreamMessage(whole, 0, whole.Length, null, out evt);
            }
            bool ok = res == StreamResult.Render;
            string why = res + " " + s.LastError;
            for (int i = 0; i < images.Count && ok; i++)
            {
                RenderFrame rf;
                // Consumer at the pts of image i: it gets exactly that image (older ones are released).
                if (!s.Render.TryGetFrame(pts0 + 40.0 * i, -1, out rf)) { ok = false; why = "image " + i + " not available"; break; }
                if (rf.Seq != seq0 + i || rf.PtsMs != pts0 + 40.0 * i || rf.Width != width || rf.Height != height || rf.IsJpeg != jpeg ||
                    !rf.Data.Take(rf.Length).SequenceEqual(images[i]))
                { ok = false; why = "image " + i + ": seq " + rf.Seq + " pts " + rf.PtsMs + " " + rf.Width + "x" + rf.Height + " jpeg " + rf.IsJpeg; }
            }
            Check(ok, "vector " + name + " render images arrive with seq, pts, size and format (" + (zmq ? "ZeroMQ" : "WebSocket") + " form)", why);
        }
    }

    // ---- decode cost -------------------------------------------------------------------------------------

    /// <summary>A one-frame motion message whose seq (uint32) and pts_ms (float64) sit at fixed offsets, so the
    /// bench can advance them in place without allocating.</summary>
    static byte[] PatchableMotion(string session, bool f16, Random rng, out int seqAt, out int ptsAt)
    {
        var w = new MsgPackWriter();
        w.WriteMapHeader(9);
        w.WriteString("type"); w.WriteString("motion");
        w.WriteString("session"); w.WriteString(session);
        w.WriteString("seq"); seqAt = w.Length + 1; w.WriteRaw(new byte[] { 0xce, 0, 0, 0, 0 }, 0, 5);
        w.WriteString("n"); w.WriteUInt(1);
        w.WriteString("pts_ms"); ptsAt = w.Length + 1; w.WriteDouble(0);
        w.WriteString("channels"); w.WriteUInt(60);
        w.WriteString("dtype"); w.WriteString(f16 ? "f16" : "f32");
        var frames = new byte[60 * (f16 ? 2 : 4)];
        for (int c = 0; c < 60; c++)
        {
            float v = (float)rng.NextDouble();
            if (f16) { ushort h = (ushort)(0x3000 + (int)(v * 1000)); frames[2 * c] = (byte)h; frames[2 * c + 1] = (byte)(h >> 8); }
            else Buffer.BlockCopy(BitConverter.GetBytes(v), 0, frames, 4 * c, 4);
        }
        w.WriteString("frames"); w.WriteBin(frames, 0, frames.Length);
        w.WriteString("synthetic"); w.WriteBool(true);
        return w.ToArray();
    }

    static void Patch(byte[] m, int seqAt, int ptsAt, long seq)
    {
        m[seqAt] = (byte)(seq >> 24); m[seqAt + 1] = (byte)(seq >> 16); m[seqAt + 2] = (byte)(seq >> 8); m[seqAt + 3] = (byte)seq;
        ulong bits = (ulong)BitConverter.DoubleToInt64Bits(seq * 40.0);
        for (int i = 0; i < 8; i++) m[ptsAt + i] = (byte)(bits >> (56 - 8 * i));
    }

    /// <summary>Decode cost per motion frame on the path a game runs: stream message -> jitter buffer -> sample
    /// at the audio clock. One session, messages patched in place, so any allocation would be the client's.</summary>
    static void Bench()
    {
        const string id = "0123456789abcdef";
        foreach (bool f16 in new[] { false, true })
        {
            VasaSession s = DetachedSession(id, f16, false);
            int seqAt, ptsAt;
            byte[] m = PatchableMotion(id, f16, new Random(1), out seqAt, out ptsAt);
            var output = new float[60];
            VasaBridgeEvent evt;
            long seq = 0;
            const int warm = 5000, frames = 300000;
            for (int i = 0; i < warm; i++, seq++) // warm-up: JIT every path
            {
                Patch(m, seqAt, ptsAt, seq);
                s.HandleStreamMessage(m, 0, m.Length, null, out evt);
                s.Motion.Sample(seq * 40.0 + 20.0, output);
            }
            GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
            int gen0 = GC.CollectionCount(0);
            long before = GC.GetTotalMemory(false);
            TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime; // wall time lies on a loaded machine
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < frames; i++, seq++)
            {
                Patch(m, seqAt, ptsAt, seq);
                s.HandleStreamMessage(m, 0, m.Length, null, out evt);
                s.Motion.Sample(seq * 40.0 + 20.0, output); // the engine side: interpolate, release the slot
            }
            sw.Stop();
            double cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalMilliseconds;
            long allocated = GC.GetTotalMemory(false) - before;
            int collections = GC.CollectionCount(0) - gen0;
            string dt = f16 ? "f16" : "f32";
            Console.WriteLine("BENCH dtype=" + dt + " frames=" + frames +
                              " ns_per_frame=" + (sw.Elapsed.TotalMilliseconds * 1e6 / frames).ToString("F0") +
                              " cpu_ns_per_frame=" + (cpuMs * 1e6 / frames).ToString("F0") +
                              " bytes_allocated_per_frame=" + ((double)allocated / frames).ToString("F3") +
                              " gen0_collections=" + collections);
            Check(s.MalformedMessages == 0 && s.Motion.FramesDropped == 0 && s.Motion.FramesReceived == warm + frames,
                  "bench " + dt + " decoded every message", s.LastError ?? "");
            Check(collections == 0 && allocated < frames / 100, "decode + sample of a " + dt + " frame does not allocate",
                  allocated + " bytes, " + collections + " collections over " + frames + " frames");
        }
    }

    // ---- WAV -------------------------------------------------------------------------------------------------

    static short[] ReadWavPcm16(string path, out int sampleRateHz)
    {
        byte[] b = File.ReadAllBytes(path);
        if (Encoding.ASCII.GetString(b, 0, 4) != "RIFF" || Encoding.ASCII.GetString(b, 8, 4) != "WAVE") throw new IOException(path + " is not a WAV file");
        int pos = 12, channels = 0, bits = 0;
        sampleRateHz = 0;
        while (pos + 8 <= b.Length)
        {
            string id = Encoding.ASCII.GetString(b, pos, 4);
            int size = BitConverter.ToInt32(b, pos + 4);
            if (id == "fmt ")
            {
                channels = BitConverter.ToInt16(b, pos + 10);
                sampleRateHz = BitConverter.ToInt32(b, pos + 12);
                bits = BitConverter.ToInt16(b, pos + 22);
            }
            else if (id == "data")
            {
                if (channels != 1 || bits != 16) throw new IOException(path + ": need mono 16-bit PCM");
                int n = Math.Min(size, b.Length - pos - 8) / 2;
                var s = new short[n];
                Buffer.BlockCopy(b, pos + 8, s, 0, n * 2);
                return s;
            }
            pos += 8 + size + (size & 1);
        }
        throw new IOException(path + ": no data chunk");
    }

    static VasaBridgeClient NewClient(int reqPort, int streamPort, int timeoutMs = 5000)
    {
        var opt = new VasaBridgeClientOptions { RequestPort = reqPort, StreamPort = streamPort, RequestTimeoutMs = timeoutMs };
        opt.Zmtp.ReconnectMaxMs = 500;
        var c = new VasaBridgeClient(opt);
        c.Start();
        return c;
    }

    /// <summary>Streams a line in 100 ms chunks, ends it, and checks every frame arrives in order with its pts.</summary>
    static void SpeakAndCheck(VasaBridgeClient client, short[] pcm, int rate, string label, string dumpPath = null)
    {
        var dump = dumpPath != null ? new BinaryWriter(File.Create(dumpPath)) : null;
        var openWatch = Stopwatch.StartNew();
        VasaSession s = client.Open(new OpenOptions { SampleRateHz = rate, Controls = new VasaControls().Emotion("happy", 0.5) });
        double openMs = openWatch.Elapsed.TotalMilliseconds;
        Info(label + ": open took " + openMs.ToString("F0") + " ms");
        Check(s.ChannelNames.Length == 60 && s.ChannelIndex("jawopen") == 17 && s.ChannelIndex("gazePitch") == 59,
              label + ": open_ok lists the 60 channels of layout 1");
        Check(s.Fps == 25.0 && s.LookaheadMs >= 0, label + ": session fps 25, lookahead " + s.LookaheadMs + " ms");
        int chunk = rate / 10;
        double received = 0;
        var sw = Stopwatch.StartNew();
        for (int off = 0; off < pcm.Length; off += chunk)
            received = client.PushPcm16(s, pcm, off, Math.Min(chunk, pcm.Length - off));
        double durationMs = pcm.Length * 1000.0 / rate;
        Check(Math.Abs(received - durationMs) < 0.01, label + ": audio_ok.received_ms counts all audio", received + " vs " + durationMs);
        long eff;
        MsgPackMap controls = client.SetControls(s, new VasaControls().Emotion("sad").GazeTarget(0.1, -0.05), out eff);
        Check((string)controls["emotion"] == "sad" && controls.ContainsKey("head_distance_m"), label + ": controls_ok returns the complete controls");
        double total = client.EndAudio(s);
        Check(Math.Abs(total - durationMs) < 0.01, label + ": end_audio_ok.received_ms");
        long expected = (long)Math.Ceiling(durationMs * 25.0 / 1000.0 - 1e-9);
        var frame = new float[60];
        long next = 0;
        bool inOrder = true, ptsOk = true, rangeOk = true;
        float jawMax = 0;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        int jaw = s.ChannelIndex("jawOpen");
        while (DateTime.UtcNow < deadline)
        {
            long seq; double pts;
            while (s.Motion.TryPopFrame(frame, out seq, out pts))
            {
                if (seq != next) inOrder = false;
                if (Math.Abs(pts - seq * 40.0) > 1e-6) ptsOk = false;
                for (int c = 0; c < 52; c++) if (frame[c] < -1e-6f || frame[c] > 1.000001f) rangeOk = false;
                jawMax = Math.Max(jawMax, frame[jaw]);
                next = seq + 1;
                if (dump != null) foreach (float v in frame) dump.Write(v); // little-endian float32
            }
            if (s.State == SessionState.Ended && s.Motion.Buffered == 0) break;
            Thread.Sleep(5);
        }
        double elapsed = sw.Elapsed.TotalMilliseconds;
        if (dump != null) dump.Dispose();
        Check(s.State == SessionState.Ended && s.EndReason == "end_of_audio", label + ": stream ended with end_of_audio", s.EndReason ?? "no end");
        Check(next == expected && s.FramesTotal == expected, label + ": received every frame (" + next + " of ceil(D*fps) = " + expected + ")",
              "got " + next + ", frames_total " + s.FramesTotal);
        Check(inOrder && s.Motion.FramesMissing == 0 && s.Motion.FramesDropped == 0, label + ": frames arrived in seq order without gaps");
        Check(ptsOk, label + ": every frame's pts = seq x 40 ms");
        Check(rangeOk, label + ": blendshape values within 0..1");
        Check(jawMax > 0.05f, label + ": the jaw opens while the line is spoken", "max jawOpen " + jawMax);
        Info(label + ": " + next + " frames for " + durationMs.ToString("F0") + " ms of audio in " + elapsed.ToString("F0") + " ms wall");
        long closedFrames = client.Close(s);
        Check(closedFrames == expected, label + ": close_ok.frames_total");
    }

    static void Live(int reqPort, int streamPort, string wav, string dumpPath)
    {
        int rate;
        short[] pcm = ReadWavPcm16(wav, out rate);
        using (VasaBridgeClient client = NewClient(reqPort, streamPort, 10000))
        {
            // No WaitConnected first: a request right after Start waits for the link instead of failing.
            ServerInfo info = client.Hello();
            Check(client.WaitConnected(10000), "connects to both sidecar sockets");
            Check(info.Protocol.StartsWith("1.") && info.Fps == 25.0 && info.MotionLayoutVersion == 1 && info.Raw.GetBool("synthetic", false),
                  "hello_ok: protocol 1.x, 25 fps, layout 1, synthetic");
            Info("server " + info.Server + " backend " + info.Backend + " instance " + info.Instance);
            SpeakAndCheck(client, pcm, rate, "line", dumpPath);
            MsgPackMap status = client.Status();
            Check(status.GetString("instance") == info.Instance, "status_ok reports the same instance");
            // Errors come back as exceptions with the server's code, and the client keeps working.
            string code = null;
            try
            {
                var ghost = new VasaSession("00000000deadbeef", 25, Enumerable.Range(0, 60).Select(i => "c" + i).ToArray(), 0, FramesDtype.F32, 4, false, null);
                client.EndAudio(ghost);
            }
            catch (VasaBridgeException e) { code = e.Code; Info("expected error: " + e.Message); }
            Check(code == "unknown_session", "a request for an unknown session fails with unknown_session", code ?? "no error");
            code = null;
            try { client.Open(new OpenOptions { SampleRateHz = 1000 }); }
            catch (VasaBridgeException e) { code = e.Code; }
            Check(code == "unsupported_audio", "open with a 1 kHz sample rate fails with unsupported_audio", code ?? "no error");
            code = null;
            try { client.Open(new OpenOptions { ExtraOutputs = { "frames_jpeg" } }); }
            catch (VasaBridgeException e) { code = e.Code; }
            bool renders = info.Outputs.Contains("frames_jpeg");
            Check(renders ? code == null : code == "unsupported_output", "frames_jpeg is refused unless hello_ok lists it", code ?? "accepted");
            Check(client.MalformedMessages == 0, "no malformed message from the real sidecar");
        }
    }

    /// <summary>Width and height from a JPEG's start-of-frame segment (-1, -1 when it is not a JPEG).</summary>
    static void JpegSize(byte[] b, int length, out int width, out int height)
    {
        width = height = -1;
        if (length < 4 || b[0] != 0xff || b[1] != 0xd8) return;
        int pos = 2;
        while (pos + 4 <= length)
        {
            if (b[pos] != 0xff) return;
            byte marker = b[pos + 1];
            if (marker == 0xff) { pos++; continue; } // fill byte
            int segment = (b[pos + 2] << 8) | b[pos + 3];
            // SOF0..SOF15 carry the size, except DHT (c4), JPG (c8) and DAC (cc).
            if (marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc)
            {
                if (pos + 9 > length) return;
                height = (b[pos + 5] << 8) | b[pos + 6];
                width = (b[pos + 7] << 8) | b[pos + 8];
                return;
            }
            if (marker == 0xda) return; // start of scan before any SOF
            pos += 2 + segment;
        }
    }

    /// <summary>A line against a `serve --render` sidecar: an uploaded portrait, JPEG frames paired with the
    /// motion frames by seq and pts, an undecodable portrait refused with invalid_portrait.</summary>
    static void LiveRender(int reqPort, int streamPort, string wav, string portraitPath, string outDir)
    {
        using (VasaBridgeClient client = NewClient(reqPort, streamPort, 10000)) LiveRender(client, wav, portraitPath, outDir);
    }

    /// <summary>The rendered-frame checks on a started client of either binding (WebSocketModes.cs uses it too).</summary>
    static void LiveRender(VasaBridgeClient client, string wav, string portraitPath, string outDir)
    {
        int rate;
        short[] pcm = ReadWavPcm16(wav, out rate);
        int samples = Math.Min(pcm.Length, rate * 8 / 5); // 1.6 s: 40 frames are plenty and keep the CPU renderer short
        {
            ServerInfo info = client.Hello();
            RenderCapabilities caps = info.Render;
            Check(caps != null && info.Outputs.Contains("frames_jpeg") && caps.Sizes.Contains(256) && caps.Formats.Contains("jpeg") &&
                  caps.MarkPositions.Contains("top-left") && caps.JpegQuality >= 1 && caps.JpegQuality <= 95,
                  "hello_ok.render describes the renderer (sizes, formats, mark positions)");
            if (caps == null) return;

            // An undecodable portrait: a clear invalid_portrait, and the client keeps working.
            var bad = new OpenOptions { SampleRateHz = rate, Portrait = Encoding.ASCII.GetBytes("definitely not an image file") };
            bad.ExtraOutputs.Add("frames_jpeg");
            string code = null, message = null;
            try { client.Open(bad); }
            catch (VasaBridgeException e) { code = e.Code; message = e.Message; Info("expected error: " + e.Message); }
            Check(code == "invalid_portrait" && message.Length > "invalid_portrait: ".Length, "an undecodable portrait is refused with invalid_portrait", code ?? "accepted");

            var o = new OpenOptions { SampleRateHz = rate, Portrait = File.ReadAllBytes(portraitPath), RenderSize = 256, JpegQuality = 70, MarkPosition = "top-left" };
            o.ExtraOutputs.Add("frames_jpeg");
            var openWatch = Stopwatch.StartNew();
            VasaSession s = client.Open(o);
            Info("open with a " + o.Portrait.Length + "-byte uploaded portrait took " + openWatch.ElapsedMilliseconds + " ms");
            SessionRenderInfo r = s.RenderInfo;
            Check(r != null && r.Format == "jpeg" && r.Width == 256 && r.Height == 256 && r.JpegQuality == 70 && r.MarkPosition == "top-left" &&
                  r.Portrait == "uploaded" && s.Render != null,
                  "open_ok.render: jpeg 256x256, quality 70, mark top-left, portrait uploaded",
                  r == null ? "no render info" : r.Format + " " + r.Width + "x" + r.Height + " q" + r.JpegQuality + " " + r.MarkPosition + " " + r.Portrait);
            if (r == null || s.Render == null) return;
            int chunk = rate / 10;
            for (int off = 0; off < samples; off += chunk) client.PushPcm16(s, pcm, off, Math.Min(chunk, samples - off));
            client.EndAudio(s);
            long expected = (long)Math.Ceiling(samples * 25.0 / rate - 1e-9);

            var motionPts = new Dictionary<long, double>();
            var imagePts = new Dictionary<long, double>();
            var frame = new float[60];
            bool sizesOk = true, renderOrder = true;
            string sizeWhy = "";
            long nextImage = 0;
            Directory.CreateDirectory(outDir);
            using (var motionDump = new BinaryWriter(File.Create(Path.Combine(outDir, "motion.f32"))))
            {
                var deadline = DateTime.UtcNow.AddSeconds(40);
                while (DateTime.UtcNow < deadline)
                {
                    long seq; double pts;
                    while (s.Motion.TryPopFrame(frame, out seq, out pts))
                    {
                        motionPts[seq] = pts;
                        foreach (float v in frame) motionDump.Write(v);
                    }
                    RenderFrame rf;
                    // Asking at the pts of the next image in seq order hands every image over once, in order.
                    while (s.Render.TryGetFrame(nextImage * 1000.0 / s.Fps, nextImage - 1, out rf))
                    {
                        if (rf.Seq != nextImage) renderOrder = false;
                        imagePts[rf.Seq] = rf.PtsMs;
                        int w, h;
                        JpegSize(rf.Data, rf.Length, out w, out h);
                        if (!rf.IsJpeg || w != r.Width || h != r.Height || rf.Width != r.Width || rf.Height != r.Height)
                        { sizesOk = false; sizeWhy = "image " + rf.Seq + ": " + w + "x" + h + " (batch says " + rf.Width + "x" + rf.Height + ")"; }
                        using (var f = File.Create(Path.Combine(outDir, rf.Seq.ToString("D4") + ".jpg"))) f.Write(rf.Data, 0, rf.Length);
                        nextImage = rf.Seq + 1;
                    }
                    if (s.State == SessionState.Ended && s.Motion.Buffered == 0 && nextImage >= s.FramesTotal) break;
                    Thread.Sleep(5);
                }
            }
            Check(s.State == SessionState.Ended && s.FramesTotal == expected && motionPts.Count == expected,
                  "render session: every motion frame arrives (" + expected + ")", motionPts.Count + " frames, frames_total " + s.FramesTotal);
            bool paired = imagePts.Count == motionPts.Count && renderOrder;
            string pairWhy = imagePts.Count + " images for " + motionPts.Count + " motion frames";
            foreach (KeyValuePair<long, double> kv in motionPts)
            {
                double ip;
                if (!imagePts.TryGetValue(kv.Key, out ip) || ip != kv.Value) { paired = false; pairWhy = "seq " + kv.Key + ": image pts " + ip + " vs motion " + kv.Value; break; }
            }
            Check(paired, "one rendered image per motion frame, with the same seq and pts", pairWhy);
            Check(sizesOk && imagePts.Count > 0, "every image is a JPEG of open_ok.render's width x height", sizeWhy);
            Check(s.Render.FramesDropped == 0 && client.MalformedMessages == 0, "no image dropped, no malformed message",
                  s.Render.FramesDropped + " dropped, " + client.MalformedMessages + " malformed");
            Info("rendered " + imagePts.Count + " JPEG frames");
        }
    }

    static bool WaitFor(VasaBridgeClient c, Func<VasaBridgeEvent, bool> pred, int timeoutMs, List<VasaBridgeEvent> seen)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (DateTime.UtcNow < deadline)
        {
            VasaBridgeEvent e;
            while (c.TryDequeueEvent(out e))
            {
                seen.Add(e);
                Info("event " + e);
                if (pred(e)) return true;
            }
            Thread.Sleep(10);
        }
        return false;
    }

    static void Restart(int reqPort, int streamPort, string wav)
    {
        int rate;
        short[] pcm = ReadWavPcm16(wav, out rate);
        using (VasaBridgeClient client = NewClient(reqPort, streamPort, 10000)) // the sidecar's first open warms up its backend (seconds)
        {
            Check(client.WaitConnected(10000), "connects to the sidecar");
            string firstInstance = client.Hello().Instance;
            VasaSession s = client.Open(new OpenOptions { SampleRateHz = rate });
            client.PushPcm16(s, pcm, 0, Math.Min(pcm.Length, rate / 2));
            var seen = new List<VasaBridgeEvent>();
            Console.WriteLine("READY_FOR_KILL");
            Console.Out.Flush();
            bool lost = WaitFor(client, e => e.Kind == VasaBridgeEventKind.SessionEnded && e.SessionId == s.Id, 15000, seen);
            Check(lost && s.State == SessionState.Ended && s.EndReason == "connection_lost", "the open session ends with connection_lost when the sidecar dies",
                  s.EndReason ?? "still open");
            VasaBridgeEvent lostEvt = seen.FirstOrDefault(e => e.Kind == VasaBridgeEventKind.ConnectionLost && e.Code == "disconnected");
            Check(lostEvt != null && lostEvt.Message.Contains("tcp://127.0.0.1:" + reqPort) && lostEvt.Message.Contains("reconnecting"),
                  "the connection-lost event names the endpoint and says it reconnects", lostEvt == null ? "none" : lostEvt.Message);
            string code = null;
            var sw = Stopwatch.StartNew();
            try { client.Status(); }
            catch (VasaBridgeException e) { code = e.Code; Info("while down: " + e.Message); }
            Check(code == "disconnected" || code == "timeout", "a request while the sidecar is down fails with a clear error", code ?? "no error");
            Check(sw.ElapsedMilliseconds < 4000, "that request fails within the request timeout", sw.ElapsedMilliseconds + " ms");
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
            Check(WaitFor(client, e => e.Kind == VasaBridgeEventKind.ServerRestarted, 2000, seen), "a ServerRestarted event is raised");
            SpeakAndCheck(client, pcm, rate, "after restart");
        }
    }

    // ---- fake server -----------------------------------------------------------------------------------------

    static void Fake(int reqPort, int streamPort, int garbagePort)
    {
        using (VasaBridgeClient client = NewClient(reqPort, streamPort, 1500))
        {
            Check(client.WaitConnected(10000), "connects to the fake server");
            client.Hello();
            VasaSession s = client.Open(new OpenOptions());
            Check(s.Id == "5e55a0f1c0ffee42", "open_ok from the fake server gives its session");
            // The fake publishes its garbage, then 8 good frames and `end`, once it sees our subscription.
            var deadline = DateTime.UtcNow.AddSeconds(15);
            while (s.State != SessionState.Ended && DateTime.UtcNow < deadline) Thread.Sleep(10);
            Check(s.State == SessionState.Ended && s.FramesTotal == 8, "the stream survives the garbage and ends", "state " + s.State + " total " + s.FramesTotal);
            var frame = new float[60];
            long seq; double pts; long next = 0; bool ok = true;
            while (s.Motion.TryPopFrame(frame, out seq, out pts))
            {
                // frames 5..7 came as half floats: 0.5, 0.6, 0.7 to within f16 precision
                if (seq != next || pts != seq * 40.0 || Math.Abs(frame[17] - seq / 10f) > 1e-3) ok = false;
                next++;
            }
            Check(ok && next == 8, "the 8 valid frames between the garbage arrive intact and in order", "got " + next);
            Console.WriteLine("MALFORMED " + client.MalformedMessages);
            var seen = new List<VasaBridgeEvent>();
            WaitFor(client, e => false, 300, seen);
            Check(seen.Count(e => e.Kind == VasaBridgeEventKind.Error && e.Code == "bad_stream_message") > 0, "malformed stream messages raise Error events");
            // Garbage replies: the request times out cleanly, an Error event says why, the next request works.
            string code = null;
            try { client.Status(); } catch (VasaBridgeException e) { code = e.Code; Info("garbage reply: " + e.Message); }
            Check(code == "timeout", "a request answered with garbage fails with timeout", code ?? "no error");
            Check(WaitFor(client, e => e.Kind == VasaBridgeEventKind.Error && e.Code == "bad_reply", 2000, seen), "the garbage reply raises a bad_reply Error event");
            long eff;
            MsgPackMap c = client.SetControls(s, new VasaControls().Emotion("angry"), out eff);
            Check((string)c["emotion"] == "angry", "the next request still works (after a hello_required: hello again, request repeated)");
            // A flood of 3000 one-frame batches through the real receive path (ZMTP reader thread, topic lookup,
            // decode into the jitter buffer): the garbage collector must not see the per-frame path.
            const int flood = 3000;
            GC.Collect(); GC.WaitForPendingFinalizers(); GC.Collect();
            VasaSession flooded = client.Open(new OpenOptions { BufferFrames = 4096 });
            int gen0 = GC.CollectionCount(0);
            long before = GC.GetTotalMemory(false);
            var floodDeadline = DateTime.UtcNow.AddSeconds(15);
            while (flooded.State != SessionState.Ended && DateTime.UtcNow < floodDeadline) Thread.Sleep(5);
            long allocated = GC.GetTotalMemory(false) - before;
            int collections = GC.CollectionCount(0) - gen0;
            Info("flood: " + flooded.Motion.FramesReceived + " frames, " + allocated + " bytes allocated, " + collections + " collections");
            Check(flooded.Motion.FramesReceived == flood && flooded.Motion.FramesMissing == 0 && flooded.FramesTotal == flood,
                  "3000 batches sent at once all arrive, in order", flooded.Motion.FramesReceived + " received");
            // Fixed costs (the `end` message, its event, a watchdog tick) are a few hundred bytes; one small
            // allocation per frame would already be 3000 x 24+ bytes.
            Check(collections == 0 && allocated < flood * 8, "receiving and decoding frames allocates nothing per frame",
                  allocated + " bytes, " + collections + " collections");
            // A session whose stream goes silent (the fake sends nothing more) ends after 3 heartbeats (§5.4).
            VasaSession silent = client.Open(new OpenOptions());
            var sw = Stopwatch.StartNew();
            bool ended = WaitFor(client, e => e.Kind == VasaBridgeEventKind.SessionEnded && e.Code == "heartbeat_timeout", 8000, seen);
            Check(ended && silent.EndReason == "heartbeat_timeout", "a silent stream ends the session with heartbeat_timeout");
            Check(sw.ElapsedMilliseconds >= 2500 && sw.ElapsedMilliseconds < 6000, "after about 3 x heartbeat_ms (1000 ms)", sw.ElapsedMilliseconds + " ms");
            WaitFor(client, e => false, 100, seen);
            VasaBridgeEvent drop = seen.FirstOrDefault(e => e.Kind == VasaBridgeEventKind.ConnectionLost);
            Check(drop == null, "ZMTP PINGs are answered: the link stays up for the whole exchange", drop == null ? "" : drop.Message);
        }
        // A port that is not ZeroMQ at all: the client reports it and keeps retrying; requests fail fast.
        using (VasaBridgeClient client = NewClient(garbagePort, garbagePort, 1000))
        {
            var seen = new List<VasaBridgeEvent>();
            bool reported = WaitFor(client, e => e.Kind == VasaBridgeEventKind.ConnectionLost && e.Message.Contains("not a ZeroMQ"), 5000, seen);
            Check(reported, "a non-ZeroMQ peer is reported as such", seen.Count > 0 ? seen[0].Message : "no event");
            string code = null;
            try { client.Hello(); } catch (VasaBridgeException e) { code = e.Code; }
            Check(code == "disconnected", "requests fail with disconnected while no ZeroMQ peer is reachable", code ?? "no error");
        }
    }

    // ---- jitter buffer ---------------------------------------------------------------------------------------

    static void Jitter()
    {
        var jb = new MotionJitterBuffer(2, 25.0, 8);
        var outv = new float[2];
        Check(jb.Sample(0, outv) == SampleStatus.NoData, "an empty buffer reports NoData and leaves the output alone");
        // Frames 0..3: channel 0 = seq, channel 1 = 10 x seq; pts = seq x 40 ms.
        for (int k = 0; k < 4; k++) jb.Write(k, k * 40.0, new float[] { k, 10 * k });
        Check(jb.Sample(-15, outv) == SampleStatus.Waiting && outv[0] == 0f, "before the first pts: Waiting, first frame shown");
        bool ok = true;
        string why = "";
        // A 60 fps engine (16.67 ms steps): the value must be the linear interpolation at every step.
        for (int i = 0; i * (1000.0 / 60) <= 120.0; i++)
        {
            double t = i * (1000.0 / 60);
            SampleStatus st = jb.Sample(t, outv);
            float want = (float)(t / 40.0);
            if (st != SampleStatus.Playing || Math.Abs(outv[0] - want) > 1e-5f || Math.Abs(outv[1] - 10 * want) > 1e-4f)
            { ok = false; why = "t=" + t + " " + st + " " + outv[0] + " vs " + want; }
        }
        Check(ok, "sampled at 60 fps, values interpolate linearly between 25 fps frames", why);
        Check(jb.Sample(150, outv) == SampleStatus.Playing && outv[0] == 3f, "inside the last frame's 40 ms: Playing, held");
        Check(jb.Sample(170, outv) == SampleStatus.Underrun && outv[0] == 3f && jb.Underruns == 1, "past the last frame while the stream goes on: Underrun, counted once");
        jb.Sample(180, outv);
        Check(jb.Underruns == 1, "one underrun is counted once however long it lasts");
        jb.Write(5, 200.0, new float[] { 5, 50 }); // seq 4 never arrives
        Check(jb.FramesMissing == 1, "a gap in seq is counted as a missing frame");
        Check(jb.Sample(180, outv) == SampleStatus.Playing && Math.Abs(outv[0] - 4.5f) < 1e-5f, "interpolation bridges the gap by pts (3 at 120 ms, 5 at 200 ms: 4.5 at 180 ms)");
        jb.MarkEnded();
        Check(jb.Sample(400, outv) == SampleStatus.Finished && outv[0] == 5f, "past the end after MarkEnded: Finished, last frame held");
        // Capacity: 8 slots; the consumer holds one; the producer drops (and counts) beyond that.
        var small = new MotionJitterBuffer(1, 25.0, 4);
        int written = 0;
        for (int k = 0; k < 6; k++) if (small.Write(k, k * 40.0, new float[] { k })) written++;
        Check(written == 4 && small.FramesDropped == 2, "a full buffer drops new frames and counts them", written + " written");
        small.Sample(85, new float[1]); // releases frames 0 and 1
        Check(small.Write(6, 240.0, new float[] { 6 }), "sampling releases slots for new frames");
        var pop = new float[1]; long seq; double pts;
        Check(small.TryPopFrame(pop, out seq, out pts) && seq == 2 && pts == 80.0 && pop[0] == 2f, "TryPopFrame returns the oldest frame not yet released");
    }

    static void Clock()
    {
        // Audio reported in 1024-sample blocks at 48 kHz (21.33 ms), sampled by a 60 fps engine (16.67 ms).
        var clock = new PlaybackClock();
        const double blockMs = 1024 * 1000.0 / 48000, frameMs = 1000.0 / 60;
        double prev = clock.Update(0, 0), maxErr = 0, minStep = double.MaxValue, maxStep = 0;
        for (int f = 1; f <= 600; f++)
        {
            double trueMs = f * frameMs;
            double reported = Math.Floor(trueMs / blockMs) * blockMs;
            double t = clock.Update(reported, frameMs);
            if (f > 60) // after one second of settling
            {
                maxErr = Math.Max(maxErr, Math.Abs(t - (trueMs - blockMs / 2)));
                minStep = Math.Min(minStep, t - prev);
                maxStep = Math.Max(maxStep, t - prev);
            }
            prev = t;
        }
        Info("clock: error " + maxErr.ToString("F1") + " ms, steps " + minStep.ToString("F1") + ".." + maxStep.ToString("F1") + " ms");
        Check(maxErr < 12, "the smoothed clock stays within half a block of the audio", maxErr + " ms");
        Check(minStep > 10 && maxStep < 23, "the smoothed clock advances in even steps (no block stairs, never backwards)",
              minStep + ".." + maxStep + " ms");
        double jumped = clock.Update(prev + 5000, frameMs);
        Check(jumped == prev + 5000, "a seek (the audio jumps 5 s) snaps the clock");
        clock.Reset();
        Check(clock.Update(-30, frameMs) == -30, "before playback starts the clock reports the (negative) audio position");
    }

    // ---- avatar mesh JSON --------------------------------------------------------------------------------------

    static void Mesh(string path)
    {
        var sw = Stopwatch.StartNew();
        List<AvatarMeshData> meshes = AvatarMeshJson.Parse(File.ReadAllText(path));
        double ms = sw.Elapsed.TotalMilliseconds;
        foreach (AvatarMeshData m in meshes)
            Console.WriteLine("MESH " + m.Name + " vertices=" + m.VertexCount + " triangles=" + m.Triangles.Length / 3 +
                              " shapes=" + m.BlendShapeNames.Count + " first_vertex=" + m.Vertices[0].ToString("R") + "," +
                              m.Vertices[1].ToString("R") + "," + m.Vertices[2].ToString("R") +
                              " shape_names=" + string.Join("|", m.BlendShapeNames));
        AvatarMeshData head = meshes.First(m => m.Name == "head");
        Check(head.BlendShapeNames.Count == 52, "the head mesh carries the 52 ARKit blend shapes");
        float x0 = head.Vertices[3], t1 = head.Triangles[1], t2 = head.Triangles[2];
        head.ToLeftHanded();
        Check(head.Vertices[3] == -x0 && head.Triangles[1] == t2 && head.Triangles[2] == t1, "ToLeftHanded mirrors x and flips the winding");
        Info("parsed " + path + " in " + ms.ToString("F0") + " ms");
        string err = null;
        try { AvatarMeshJson.Parse("{\"format\":\"something else\",\"meshes\":[]}"); } catch (JsonException e) { err = e.Message; }
        Check(err != null && err.Contains("avatar export"), "a wrong file is refused with a message that says how to make a right one", err ?? "accepted");
        err = null;
        try { AvatarMeshJson.Parse("{\"format\":\"vasa_bridge.avatar\",\"meshes\":[{\"name\":\"x\",\"vertices\":[0,0,0],\"normals\":[0,0,1],\"colors\":[1,1,1,1],\"pivot\":[0,0,0],\"triangles\":[0,0,5],\"blendshapes\":{}}]}"); }
        catch (JsonException e) { err = e.Message; }
        Check(err != null && err.Contains("out of range"), "an out-of-range triangle index is refused", err ?? "accepted");
    }
}
