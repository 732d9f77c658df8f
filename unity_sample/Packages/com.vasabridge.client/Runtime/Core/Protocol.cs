// Types of the vasa_bridge protocol as seen by a client (SPEC.md §4–§7): errors, events, options, controls.
using System;
using System.Collections.Generic;
using System.Text;

namespace VasaBridge
{
    public static class ProtocolInfo
    {
        /// <summary>The protocol version this client speaks (protocol/VERSION; a test checks they agree).</summary>
        public const string Version = "1.1";
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
    }

    /// <summary>Server capabilities from hello_ok (§4.1).</summary>
    public sealed class ServerInfo
    {
        public string Protocol, Server, Instance, Backend;
        public double Fps, HeartbeatMs;
        public long MotionLayoutVersion, MaxMessageBytes;
        public string[] Outputs, Emotions;
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
