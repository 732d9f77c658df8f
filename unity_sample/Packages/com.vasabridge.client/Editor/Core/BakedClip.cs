// A baked line as written by `vasa-bridge bake` (vasa_bridge/motion/clip_io.py): a Live Link Face CSV or our JSON
// clip, read into channel names, key times and values. Engine-free (mono runs it in tests/test_unity_clip.py); the
// importer turns it into an AnimationClip. Values keep the clip's own times: nothing is resampled, so the curves'
// keys are exactly the clip's frames.
using System;
using System.Collections.Generic;
using System.Globalization;

namespace VasaBridge.Clips
{
    public sealed class ClipFormatException : Exception
    {
        public ClipFormatException(string message) : base(message) { }
    }

    public sealed class BakedClip
    {
        public const string JsonFormat = "vasa_bridge.clip";
        /// <summary>The motion layout the JSON clips of this package are read as
        /// (vasa_bridge/motion/layout.py).</summary>
        public const int MotionLayoutVersion = 1;
        /// <summary>Head pose and gaze channels (radians, metres): everything else in a clip is a blend
        /// shape.</summary>
        public static readonly string[] PoseChannels =
            { "headPitch", "headYaw", "headRoll", "headX", "headY", "headZ", "gazeYaw", "gazePitch" };

        /// <summary>Channel names in layout spelling (ARKit camelCase, headYaw, gazePitch, ...).</summary>
        public readonly string[] Channels;
        /// <summary>Key times in seconds from the first frame (0), strictly increasing.</summary>
        public readonly double[] TimesS;
        /// <summary>Frame-major values: frame f, channel c at [f * Channels.Length + c].</summary>
        public readonly float[] Values;
        /// <summary>The clip's frame rate (JSON: its `fps`; CSV: the rate its timecodes count frames at).</summary>
        public readonly double Fps;

        public BakedClip(string[] channels, double[] timesS, float[] values, double fps)
        {
            if (channels.Length == 0
                || timesS.Length == 0) throw new ClipFormatException("the clip has no channels or no frames");
            if (values.Length != channels.Length * timesS.Length)
                throw new ClipFormatException("the clip has " + values.Length + " values, not frames x channels = "
                    + timesS.Length * channels.Length);
            for (int i = 1; i < timesS.Length; i++)
                if (!(timesS[i] > timesS[i - 1]))
                    throw new ClipFormatException("frame " + i + " is not later than frame " + (i - 1) + " ("
                        + timesS[i] + " s after " + timesS[i - 1] + " s)");
            Channels = channels; TimesS = timesS; Values = values; Fps = fps;
        }

        public int FrameCount { get { return TimesS.Length; } }
        public double DurationS { get { return TimesS[TimesS.Length - 1]; } }

        public int ChannelIndex(string name)
        {
            for (int i = 0; i < Channels.Length; i++) if (string.Equals(Channels[i], name,
                StringComparison.OrdinalIgnoreCase)) return i;
            return -1;
        }

        public float Value(int frame, int channel) { return Values[frame * Channels.Length + channel]; }

        public static bool IsPoseChannel(string name)
        {
            foreach (string p in PoseChannels) if (string.Equals(p, name,
                StringComparison.OrdinalIgnoreCase)) return true;
            return false;
        }

        /// <summary>Reads by extension: `.csv` (Live Link Face) or `.json` (our clip). `timecodeFps` &gt; 0 overrides
        /// the CSV's frame rate (otherwise it is inferred from the timecodes, as clip_io.py does).</summary>
        public static BakedClip Parse(string text, string extension, double timecodeFps = 0)
        {
            string ext = (extension ?? "").TrimStart('.').ToLowerInvariant();
            if (ext == "csv") return LiveLinkCsv.Parse(text, timecodeFps);
            if (ext == "json") return ParseJson(text);
            throw new ClipFormatException("unknown clip extension '" + extension
                + "': use .csv (Live Link Face) or .json (vasa_bridge.clip)");
        }

        /// <summary>Our JSON clip: {format, motion_layout_version, fps, channels, frames: [[...], ...]} and, when a
        /// writer adds it, `times_s` (one time per frame). Without it frame i is at i / fps.</summary>
        public static BakedClip ParseJson(string text)
        {
            var doc = ParseJsonRoot(text);
            object format;
            doc.TryGetValue("format", out format);
            if (!(format is string) || (string)format != JsonFormat)
                throw new ClipFormatException("not a " + JsonFormat + " JSON clip (its \"format\" is "
                    + Describe(format) + ")");
            object layout;
            doc.TryGetValue("motion_layout_version", out layout);
            if (!(layout is long) || (long)layout != MotionLayoutVersion)
                throw new ClipFormatException("the clip has motion layout " + Describe(layout)
                    + "; this importer reads layout " + MotionLayoutVersion +
                                              ": re-bake it with a matching vasa_bridge or update the package");
            double fps = Number(doc, "fps");
            if (!(fps > 0) || double.IsInfinity(fps)) throw new ClipFormatException("the clip's fps is " + fps
                + "; it must be a positive number");
            string[] channels = StringArray(doc, "channels");
            object framesObj;
            doc.TryGetValue("frames", out framesObj);
            var frames = framesObj as List<object>;
            if (frames == null
                || frames.Count == 0) throw new ClipFormatException("the clip has no \"frames\" list (or it is empty)");
            var values = new float[frames.Count * channels.Length];
            for (int f = 0; f < frames.Count; f++)
            {
                var row = frames[f] as double[];
                if (row == null || row.Length != channels.Length)
                    throw new ClipFormatException("frame " + f + " does not hold " + channels.Length
                        + " numbers (one per channel)");
                for (int c = 0; c < row.Length; c++)
                {
                    if (double.IsNaN(row[c]) || double.IsInfinity(row[c])) throw new ClipFormatException("frame " + f
                        + " channel " + channels[c] + " is not finite");
                    values[f * channels.Length + c] = (float)row[c];
                }
            }
            var times = new double[frames.Count];
            object timesObj;
            if (doc.TryGetValue("times_s", out timesObj) && timesObj != null)
            {
                var t = timesObj as double[];
                if (t == null || t.Length != frames.Count)
                    throw new ClipFormatException("\"times_s\" must hold one number per frame");
                for (int i = 0; i < t.Length; i++) times[i] = t[i] - t[0];
            }
            else for (int i = 0; i < times.Length; i++) times[i] = i / fps;
            return new BakedClip(channels, times, values, fps);
        }

        static MsgPackMap ParseJsonRoot(string text)
        {
            object root;
            try { root = Json.Parse(text ?? ""); }
            catch (JsonException e) { throw new ClipFormatException("the clip is not valid JSON: " + e.Message); }
            var doc = root as MsgPackMap;
            if (doc == null) throw new ClipFormatException("the clip's JSON is not an object");
            return doc;
        }

        static double Number(MsgPackMap doc, string key)
        {
            object v;
            doc.TryGetValue(key, out v);
            if (v is double) return (double)v;
            if (v is long) return (long)v;
            throw new ClipFormatException("the clip's \"" + key + "\" is " + Describe(v) + ", not a number");
        }

        static string[] StringArray(MsgPackMap doc, string key)
        {
            object v;
            doc.TryGetValue(key, out v);
            var list = v as List<object>;
            if (list == null || list.Count == 0) throw new ClipFormatException("the clip's \"" + key
                + "\" is not a list of names");
            var names = new string[list.Count];
            for (int i = 0; i < names.Length; i++)
            {
                names[i] = list[i] as string;
                if (string.IsNullOrEmpty(names[i])) throw new ClipFormatException("\"" + key + "\"[" + i
                    + "] is not a name");
            }
            return names;
        }

        static string Describe(object v)
        {
            if (v == null) return "missing";
            return v is string ? "\"" + v + "\"" : Convert.ToString(v, CultureInfo.InvariantCulture);
        }
    }
}
