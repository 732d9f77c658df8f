// Types of the vasa_bridge protocol as seen by a client (SPEC.md §4–§7): errors, events, options, controls.
using System;
using System.Collections.Generic;
using System.Text;

namespace VasaBridge
{
    public static class ProtocolInfo
    {
        /// <summary>The protocol version this client speaks (protocol/VERSION; a test checks they agree).</summary>
        public const string Version = "1.4";
        public const string ClientName = "vasa_bridge C# client 0.1.0";
        public const int SessionIdLength = 16;
        public const int DefaultRequestPort = 5570;
        public const int DefaultStreamPort = 5571;
    }

    /// <summary>
    /// A request failed. `Code` is the server's error code (§7: bad_request, unknown_session, rate_limited, ...)
    /// or one of the client-side codes: "timeout" (no reply in time), "disconnected" (no link to the server),
    /// "bad_reply" (the server's reply did not follow the protocol).
    /// </summary>
    public sealed class VasaBridgeException : Exception
    {
        public readonly string Code;
        public readonly double RetryAfterMs;

        public VasaBridgeException(string code, string message, double retryAfterMs = 0)
            : base(code + ": " + message)
        {
            Code = code;
            RetryAfterMs = retryAfterMs;
        }
    }

    public enum VasaBridgeEventKind
    {
        /// <summary>Both sockets reached the server (first time or again after an outage).</summary>
        Connected,
        /// <summary>The link to the server dropped; sessions opened before are gone (§8.2). The client keeps
        /// reconnecting with back-off.</summary>
        ConnectionLost,
        /// <summary>hello_ok came back with a different instance id: the server restarted (§4.1).</summary>
        ServerRestarted,
        SessionOpened,
        /// <summary>Message `end` arrived (Reason: end_of_audio, closed, idle, shutdown, error), or the session was
        /// lost with the connection (Reason: connection_lost) or went silent (Reason: heartbeat_timeout).</summary>
        SessionEnded,
        /// <summary>An error: an asynchronous session error from the server (§5.5), a malformed stream message, or
        /// lost frames. The client keeps running.</summary>
        Error,
    }

    /// <summary>Something the engine thread should know about. Queued by network threads; drain with
    /// VasaBridgeClient.TryDequeueEvent on the thread that owns the game objects.</summary>
    public sealed class VasaBridgeEvent
    {
        public readonly VasaBridgeEventKind Kind;
        public readonly string SessionId;   // null for client-wide events
        public readonly string Code;        // error code or end reason
        public readonly string Message;

        public VasaBridgeEvent(VasaBridgeEventKind kind, string sessionId, string code, string message)
        {
            Kind = kind; SessionId = sessionId; Code = code; Message = message;
        }

        public override string ToString()
        {
            return Kind + (SessionId != null ? " [" + SessionId + "]" : "") + (Code != null ? " " + Code : "") +
                   (Message != null ? ": " + Message : "");
        }
    }

    public enum AudioFormat { Pcm16, F32 }

    public enum FramesDtype { F32, F16 }

    /// <summary>Performance controls (§4.5). Only the values set are sent; the rest keep their current value.</summary>
    public sealed class VasaControls
    {
        readonly MsgPackMap _map = new MsgPackMap();
        public static readonly string[] Emotions = { "neutral", "happy", "sad", "angry", "surprised" };

        public VasaControls Emotion(string emotion, double intensity = 1.0)
        {
            _map["emotion"] = emotion;
            _map["emotion_intensity"] = intensity;
            return this;
        }

        /// <summary>Gaze target in radians (yaw positive to the subject's left, pitch up; |x| ≤ 0.6).</summary>
        public VasaControls GazeTarget(double yawRad, double pitchRad)
        {
            _map["gaze_yaw_rad"] = yawRad;
            _map["gaze_pitch_rad"] = pitchRad;
            return this;
        }

        /// <summary>Let the performer look around freely (nil gaze).</summary>
        public VasaControls FreeGaze()
        {
            _map["gaze_yaw_rad"] = null;
            _map["gaze_pitch_rad"] = null;
            return this;
        }

        public VasaControls HeadDistance(double metres) { _map["head_distance_m"] = metres; return this; }
        public VasaControls GuidanceScale(double scale) { _map["guidance_scale"] = scale; return this; }

        public bool IsEmpty { get { return _map.Count == 0; } }
        internal MsgPackMap ToMap() { return _map; }
    }

    /// <summary>Parameters of `open` (§4.2).</summary>
    public sealed class OpenOptions
    {
        public AudioFormat Format = AudioFormat.Pcm16;
        public int SampleRateHz = 16000;
        public FramesDtype FramesDtype = FramesDtype.F32;
        /// <summary>Extra outputs besides motion: "latent", "frames_jpeg", "frames_rgba".</summary>
        public readonly List<string> ExtraOutputs = new List<string>();
        public VasaControls Controls;
        public long? Seed;
        /// <summary>Frames the session's jitter buffer holds (2048 = 82 s at 25 fps).</summary>
        public int BufferFrames = 2048;

        // ---- rendered frames (protocol 1.1; only with ExtraOutputs "frames_jpeg" or "frames_rgba") ------------
        /// <summary>The image file (JPEG, PNG, WebP, BMP, TIFF) of the face to animate: the file's bytes, not
        /// decoded pixels. Null: the server's demo portrait (when ServerInfo.Render.DefaultPortrait). It counts
        /// towards the server's max_message_bytes (1 MiB by default): a JPEG of about 1024 px is plenty.</summary>
        public byte[] Portrait;
        /// <summary>Landmarks for faces the server's detector misses (paintings, cartoons), in the portrait's
        /// pixels: build with PortraitKeypoints or PortraitMeshPoints. Null: the detector finds the face.</summary>
        public MsgPackMap PortraitLandmarks;
        /// <summary>Square render size in pixels, one of ServerInfo.Render.Sizes; 0: the server's default.</summary>
        public int RenderSize;
        /// <summary>JPEG quality 1–95 for frames_jpeg; 0: the server's default.</summary>
        public int JpegQuality;
        /// <summary>Corner of the visible synthetic mark, one of ServerInfo.Render.MarkPositions ("bottom-right",
        /// "bottom-left", "top-right", "top-left"); null: bottom-right. The mark can be moved, never removed.</summary>
        public string MarkPosition;

        /// <summary>Rendered images the session's RenderBuffer holds before it drops new ones (256 = 10 s at
        /// 25 fps). Images arrive as fast as the audio is pushed, so keep the pushed audio within this much of
        /// the playback position (VasaBridgeFace does). Buffers are allocated as images arrive and then reused:
        /// at most this many images' worth of memory (a 256 px JPEG is about 20 KB, a 512 px RGBA image 1 MiB).</summary>
        public int RenderBufferFrames = DefaultRenderBufferFrames;
        public const int DefaultRenderBufferFrames = 256;

        /// <summary>Set by a VasaLineStreamer with a VasaReopener: a lost session keeps its buffers open for the
        /// session that continues it (VasaSession.KeepBuffersOnLoss).</summary>
        internal bool ReopenOnLoss;

        /// <summary>True when the session asks for rendered frames.</summary>
        public bool WantsRender
        {
            get { return ExtraOutputs.Contains("frames_jpeg") || ExtraOutputs.Contains("frames_rgba"); }
        }

        /// <summary>`portrait_landmarks` from five keypoints (x, y in the portrait's pixels; right and left are the
        /// subject's own).</summary>
        public static MsgPackMap PortraitKeypoints(double[] rightEye, double[] leftEye, double[] noseTip,
                                                   double[] mouthRight, double[] mouthLeft)
        {
            var k = new MsgPackMap();
            k["right_eye"] = Point(rightEye, "rightEye");
            k["left_eye"] = Point(leftEye, "leftEye");
            k["nose_tip"] = Point(noseTip, "noseTip");
            k["mouth_right"] = Point(mouthRight, "mouthRight");
            k["mouth_left"] = Point(mouthLeft, "mouthLeft");
            var m = new MsgPackMap();
            m["keypoints"] = k;
            return m;
        }

        /// <summary>`portrait_landmarks` from the 468 MediaPipe face-mesh points, [x, y] or [x, y, z] each.</summary>
        public static MsgPackMap PortraitMeshPoints(IList<double[]> points)
        {
            if (points == null || points.Count != 468) throw new ArgumentException("468 face-mesh points expected, got " + (points == null ? 0 : points.Count));
            var list = new List<object>(points.Count);
            for (int i = 0; i < points.Count; i++) list.Add(Point(points[i], "points[" + i + "]", true));
            var m = new MsgPackMap();
            m["points"] = list;
            return m;
        }

        static List<object> Point(double[] p, string what, bool allowZ = false)
        {
            if (p == null || p.Length < 2 || p.Length > (allowZ ? 3 : 2))
                throw new ArgumentException(what + " must be [x, y]" + (allowZ ? " or [x, y, z]" : "") + " in pixels");
            var l = new List<object>(p.Length);
            foreach (double v in p)
            {
                if (double.IsNaN(v) || double.IsInfinity(v)) throw new ArgumentException(what + " holds a non-finite value");
                l.Add(v);
            }
            return l;
        }
    }

    /// <summary>What a server's renderer offers (hello_ok.render, §4.1; protocol 1.1).</summary>
    public sealed class RenderCapabilities
    {
        /// <summary>Square render sizes in pixels, e.g. {256, 512}.</summary>
        public int[] Sizes;
        /// <summary>"jpeg", "rgba".</summary>
        public string[] Formats;
        public int DefaultSize, JpegQuality;
        /// <summary>True when `open` without a portrait renders the server's demo portrait.</summary>
        public bool DefaultPortrait;
        /// <summary>Largest decoded portrait the server accepts, width x height.</summary>
        public long MaxPortraitPixels;
        /// <summary>Corners the visible synthetic mark may be moved to.</summary>
        public string[] MarkPositions;

        internal static RenderCapabilities FromMap(MsgPackMap m)
        {
            List<object> sizes = m.GetList("sizes");
            var r = new RenderCapabilities
            {
                Sizes = new int[sizes.Count],
                Formats = ServerInfo.StringList(m.GetList("formats")),
                DefaultSize = (int)m.GetInt("default_size"),
                JpegQuality = (int)m.GetInt("jpeg_quality"),
                DefaultPortrait = m.GetBool("default_portrait", false),
                MaxPortraitPixels = m.GetInt("max_portrait_pixels"),
                MarkPositions = ServerInfo.StringList(m.GetList("mark_positions")),
            };
            for (int i = 0; i < sizes.Count; i++)
            {
                if (!(sizes[i] is long) || (long)sizes[i] < 1 || (long)sizes[i] > 16384) throw new MsgPackException("render.sizes must be pixel counts");
                r.Sizes[i] = (int)(long)sizes[i];
            }
            return r;
        }
    }

    /// <summary>How one session's frames are rendered (open_ok.render, §4.2; protocol 1.1).</summary>
    public sealed class SessionRenderInfo
    {
        /// <summary>"jpeg" or "rgba".</summary>
        public string Format;
        public int Width, Height;
        /// <summary>0 for rgba.</summary>
        public int JpegQuality;
        public string MarkPosition;
        /// <summary>"uploaded", or the name of the server's demo portrait.</summary>
        public string Portrait;

        internal static SessionRenderInfo FromMap(MsgPackMap m)
        {
            var r = new SessionRenderInfo
            {
                Format = m.GetString("format"),
                Width = (int)m.GetInt("width"),
                Height = (int)m.GetInt("height"),
                JpegQuality = (int)m.GetInt("jpeg_quality"),
                MarkPosition = m.GetString("mark_position"),
                Portrait = m.GetString("portrait"),
            };
            if (r.Format != "jpeg" && r.Format != "rgba") throw new MsgPackException("open_ok.render.format '" + r.Format + "' is neither jpeg nor rgba");
            if (r.Width < 1 || r.Height < 1 || r.Width > 16384 || r.Height > 16384) throw new MsgPackException("open_ok.render size " + r.Width + "x" + r.Height + " is out of range");
            return r;
        }
    }

    /// <summary>Server capabilities from hello_ok (§4.1).</summary>
    public sealed class ServerInfo
    {
        public string Protocol, Server, Instance, Backend;
        public double Fps, HeartbeatMs;
        public long MotionLayoutVersion, MaxMessageBytes;
        public string[] Outputs, Emotions;
        /// <summary>The renderer's offer (hello_ok.render); null when the server renders no frames.</summary>
        public RenderCapabilities Render;
        public MsgPackMap Raw;

        internal static ServerInfo FromReply(MsgPackMap m)
        {
            var info = new ServerInfo
            {
                Raw = m,
                Protocol = m.GetString("protocol"),
                Server = m.GetString("server"),
                Instance = m.GetString("instance"),
                Backend = m.GetString("backend"),
                Fps = m.GetDouble("fps"),
                HeartbeatMs = m.GetDouble("heartbeat_ms"),
                MotionLayoutVersion = m.GetInt("motion_layout_version"),
                Outputs = StringList(m.GetList("outputs")),
                Emotions = StringList(m.GetList("emotions")),
            };
            info.MaxMessageBytes = m.GetMap("limits").GetInt("max_message_bytes");
            object render;
            if (m.TryGetValue("render", out render) && render != null)
            {
                var rm = render as MsgPackMap;
                if (rm == null) throw new MsgPackException("hello_ok.render is not a map");
                info.Render = RenderCapabilities.FromMap(rm);
            }
            return info;
        }

        internal static string[] StringList(List<object> list)
        {
            var a = new string[list.Count];
            for (int i = 0; i < a.Length; i++)
            {
                a[i] = list[i] as string;
                if (a[i] == null) throw new MsgPackException("expected a list of strings");
            }
            return a;
        }
    }

    internal static class Utf8
    {
        public static readonly byte[] Type = Encoding.UTF8.GetBytes("type");
        public static readonly byte[] Session = Encoding.UTF8.GetBytes("session");
        public static readonly byte[] Seq = Encoding.UTF8.GetBytes("seq");
        public static readonly byte[] N = Encoding.UTF8.GetBytes("n");
        public static readonly byte[] PtsMs = Encoding.UTF8.GetBytes("pts_ms");
        public static readonly byte[] Channels = Encoding.UTF8.GetBytes("channels");
        public static readonly byte[] Dtype = Encoding.UTF8.GetBytes("dtype");
        public static readonly byte[] Frames = Encoding.UTF8.GetBytes("frames");
        public static readonly byte[] LatentDim = Encoding.UTF8.GetBytes("latent_dim");
        public static readonly byte[] Latent = Encoding.UTF8.GetBytes("latent");
        public static readonly byte[] Motion = Encoding.UTF8.GetBytes("motion");
        public static readonly byte[] Heartbeat = Encoding.UTF8.GetBytes("heartbeat");
        public static readonly byte[] F32 = Encoding.UTF8.GetBytes("f32");
        public static readonly byte[] F16 = Encoding.UTF8.GetBytes("f16");
    }
}
