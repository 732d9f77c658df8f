// Live Link Face CSV (what the iPhone app exports and `vasa-bridge bake -o line.csv` writes): `Timecode,
// BlendShapeCount`, the 52 ARKit shapes in PascalCase, then HeadYaw/HeadPitch/HeadRoll and the eyes' yaw/pitch/
// roll (radians), optionally HeadX/HeadY/HeadZ (metres). Timecodes are `HH:MM:SS:FF[.fff]`: FF counts frames at the
// take's rate and may carry a sub-frame fraction; the first frame may sit at any time of day.
using System;
using System.Collections.Generic;
using System.Globalization;

namespace VasaBridge.Clips
{
    public static class LiveLinkCsv
    {
        /// <summary>Standard take rates; a take's rate is the smallest one above its largest FF field.</summary>
        static readonly double[] StandardFps = { 24, 25, 30, 50, 60, 120 };
        /// <summary>Rate assumed for a take shorter than a second whose FF never reaches the top of its
        /// range.</summary>
        public const double DefaultFps = 25;

        /// <summary>CSV rotation columns and the layout channel each becomes (as clip_io.read_live_link_csv maps
        /// them: both eyes share one gaze, taken from the left eye).</summary>
        static readonly string[,] PoseColumns =
        {
            { "headyaw", "headYaw" }, { "headpitch", "headPitch" }, { "headroll", "headRoll" },
            { "lefteyeyaw", "gazeYaw" }, { "lefteyepitch", "gazePitch" },
            { "headx", "headX" }, { "heady", "headY" }, { "headz", "headZ" },
        };
        static readonly string[] Ignored = { "timecode", "blendshapecount", "lefteyeroll", "righteyeyaw",
            "righteyepitch", "righteyeroll" };

        /// <summary>Seconds of `HH:MM:SS:FF[.fff]` at `fps` frames per second.</summary>
        public static double ParseTimecode(string text, double fps)
        {
            string[] p = (text ?? "").Trim().Split(':');
            int h, m, s;
            double ff;
            if (p.Length != 4 || !int.TryParse(p[0], NumberStyles.None, CultureInfo.InvariantCulture, out h) ||
                !int.TryParse(p[1], NumberStyles.None, CultureInfo.InvariantCulture, out m) ||
                !int.TryParse(p[2], NumberStyles.None, CultureInfo.InvariantCulture, out s) ||
                !double.TryParse(p[3], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out ff))
                throw new ClipFormatException("bad Live Link Face timecode '" + text + "'; expected HH:MM:SS:FF.fff");
            if (ff >= fps)
                throw new ClipFormatException("timecode '" + text + "' counts frame " + ff
                    + ", which does not exist at " + fps +
                                              " fps: set the importer's timecode rate to the take's rate" +
                                              " (or 0 to infer it)");
            return h * 3600.0 + m * 60.0 + s + ff / fps;
        }

        /// <summary>The take's frame rate from its FF fields (the same rule as clip_io._infer_fps).</summary>
        public static double InferFps(IList<string> timecodes)
        {
            int maxFf = 0;
            var seconds = new HashSet<string>();
            foreach (string t in timecodes)
            {
                string[] p = t.Trim().Split(':');
                double ff;
                if (p.Length != 4 || !double.TryParse(p[3], NumberStyles.AllowDecimalPoint,
                    CultureInfo.InvariantCulture, out ff))
                    throw new ClipFormatException("bad Live Link Face timecode '" + t + "'; expected HH:MM:SS:FF.fff");
                maxFf = Math.Max(maxFf, (int)Math.Floor(ff));
                seconds.Add(p[2]);
            }
            // Before the take spans a whole second FF never reaches its top, so it only says "at least this".
            if (seconds.Count <= 1 && maxFf < DefaultFps) return DefaultFps;
            foreach (double c in StandardFps) if (maxFf < c) return c;
            return maxFf + 1;
        }

        public static BakedClip Parse(string text, double timecodeFps = 0)
        {
            var rows = new List<string[]>();
            foreach (string raw in (text ?? "").Split('\n'))
            {
                string line = raw.TrimEnd('\r');
                if (line.Trim().Length > 0) rows.Add(line.Split(','));
            }
            if (rows.Count < 2 || rows[0][0].Trim().ToLowerInvariant() != "timecode")
                throw new ClipFormatException(
                    "not a Live Link Face CSV: the first column must be Timecode, followed by data rows");
            string[] header = rows[0];
            var sources = new List<int>();
            var names = new List<string>();
            for (int i = 0; i < header.Length; i++)
            {
                string h = header[i].Trim();
                string lower = h.ToLowerInvariant();
                if (h.Length == 0 || Array.IndexOf(Ignored, lower) >= 0) continue;
                string channel = null;
                for (int k = 0; k < PoseColumns.GetLength(0); k++) if (PoseColumns[k,
                    0] == lower) channel = PoseColumns[k, 1];
                // Blend shapes: Live Link's PascalCase becomes ARKit's camelCase (JawOpen -> jawOpen).
                if (channel == null) channel = char.ToLowerInvariant(h[0]) + h.Substring(1);
                if (names.Contains(channel)) throw new ClipFormatException("column " + h + " appears twice");
                sources.Add(i);
                names.Add(channel);
            }
            if (names.Count == 0) throw new ClipFormatException("the CSV has no channel columns after Timecode");
            var body = new List<string[]>();
            for (int r = 1; r < rows.Count; r++)
            {
                if (rows[r].Length != header.Length)
                    throw new ClipFormatException("row " + (r + 1) + " has " + rows[r].Length + " fields, the header "
                        + header.Length);
                body.Add(rows[r]);
            }
            var codes = new List<string>(body.Count);
            foreach (string[] row in body) codes.Add(row[0]);
            double fps = timecodeFps > 0 ? timecodeFps : InferFps(codes);
            var times = new double[body.Count];
            double start = ParseTimecode(codes[0], fps);
            for (int f = 0; f < body.Count; f++) times[f] = ParseTimecode(codes[f], fps) - start;
            var values = new float[body.Count * names.Count];
            for (int f = 0; f < body.Count; f++)
                for (int c = 0; c < names.Count; c++)
                {
                    float v;
                    string cell = body[f][sources[c]].Trim();
                    if (!float.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out v) || float.IsNaN(v)
                        || float.IsInfinity(v))
                        throw new ClipFormatException("row " + (f + 2) + ", column " + header[sources[c]].Trim() + ": '"
                            + cell + "' is not a finite number");
                    values[f * names.Count + c] = v;
                }
            return new BakedClip(names.ToArray(), times, values, fps);
        }
    }
}
