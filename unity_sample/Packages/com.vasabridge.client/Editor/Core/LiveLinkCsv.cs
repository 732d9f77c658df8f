// Live Link Face CSV (what the iPhone app exports and `vasa-bridge bake -o line.csv` writes), read the way
// vasa_bridge reads it (motion/clip_io.py read_live_link_csv, interop/live_link_face.py from_values; the convention is
// in docs/interop.md), so a baked CSV and the baked JSON of the same line give the same animation:
// - `Timecode` is `HH:MM:SS:FF[.fff]`, the time of day of the row, FF counted in 60ths of a second whatever the
//   take's rate (a 30-fps take numbers its rows 0, 2, 4, ...). The rows are keyed at their own times: a baked CSV
//   holds the 25-fps motion resampled to 60 (or 30) fps, and those rows are what the file says.
// - The rotation columns are Unreal's ARKit convention, not our layout's: an angle in degrees divided by 180 (1.0 is
//   half a turn), pitch > 0 looking down, yaw > 0 turned to the subject's right, and two eyes that converge. They
//   become the layout's headYaw/headPitch/headRoll/gazeYaw/gazePitch (radians, yaw > 0 to the subject's left, gaze
//   pitch > 0 up); gaze is the mean of the two eyes, as in Python. HeadX/HeadY/HeadZ (metres) pass through.
using System;
using System.Collections.Generic;
using System.Globalization;

namespace VasaBridge.Clips
{
    public static class LiveLinkCsv
    {
        /// <summary>Standard take rates; a take that crosses a second is numbered at the smallest one above its
        /// largest FF field.</summary>
        static readonly double[] StandardFps = { 24, 25, 30, 50, 60, 120 };
        /// <summary>The rate FF counts in for a take that stays within one second (the app numbers every take in
        /// 60ths; clip_io.TIMECODE_FPS). Older vasa_bridge CSVs numbered in 25ths: give 25 as the timecode
        /// rate.</summary>
        public const double TimecodeFps = 60;
        /// <summary>A CSV rotation value of 1.0 is this many radians (live_link_face.ROTATION_UNIT_RAD: the
        /// values are degrees / 180).</summary>
        public const double RotationUnitRad = Math.PI;
        const double SecondsPerDay = 86400;

        /// <summary>Layout channel, CSV columns averaged into it, and the sign from Unreal's convention to ours
        /// (live_link_face.from_values): yaw is mirrored, eye pitch counts down where our gaze pitch counts
        /// up.</summary>
        static readonly RotationColumns[] Rotations =
        {
            new RotationColumns("headYaw", -1, "headyaw"),
            new RotationColumns("headPitch", 1, "headpitch"),
            new RotationColumns("headRoll", 1, "headroll"),
            new RotationColumns("gazeYaw", -1, "lefteyeyaw", "righteyeyaw"),
            new RotationColumns("gazePitch", -1, "lefteyepitch", "righteyepitch"),
        };
        /// <summary>Our optional head translation columns (metres), kept as they are.</summary>
        static readonly string[] Translations = { "headX", "headY", "headZ" };
        /// <summary>Columns that are not curves: the row's time, the app's value count, eye torsion (not
        /// modelled, always 0).</summary>
        static readonly string[] Ignored = { "timecode", "blendshapecount", "lefteyeroll", "righteyeroll" };

        sealed class RotationColumns
        {
            public readonly string Channel;
            public readonly double Sign;
            public readonly string[] Columns;

            public RotationColumns(string channel, double sign, params string[] columns)
            {
                Channel = channel; Sign = sign; Columns = columns;
            }
        }

        /// <summary>Seconds of `HH:MM:SS:FF[.fff]` whose FF counts `fps` frames per second.</summary>
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

        /// <summary>The rate the FF fields count in (the rule of clip_io._infer_numbering_fps): a take that crosses
        /// a second shows FF's top, so the smallest standard rate above the largest FF; a shorter one is numbered
        /// in 60ths, as the app does.</summary>
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
                seconds.Add(p[0].Trim() + ":" + p[1] + ":" + p[2]);
            }
            if (seconds.Count <= 1 && maxFf < TimecodeFps) return TimecodeFps;
            foreach (double c in StandardFps) if (maxFf < c) return c;
            return maxFf + 1;
        }

        /// <summary>The CSV's rows as keys at their timecodes (from 0), rotations in the layout's convention.
        /// `timecodeFps` &gt; 0 is the rate FF counts in; 0 infers it.</summary>
        public static BakedClip Parse(string text, double timecodeFps = 0)
        {
            var rows = new List<string[]>();
            foreach (string raw in (text ?? "").TrimStart('\uFEFF').Split('\n'))
            {
                string line = raw.TrimEnd('\r');
                if (line.Trim().Length > 0) rows.Add(line.Split(','));
            }
            if (rows.Count < 2 || rows[0][0].Trim().ToLowerInvariant() != "timecode")
                throw new ClipFormatException(
                    "not a Live Link Face CSV: the first column must be Timecode, followed by data rows");
            string[] header = rows[0];
            var columnOf = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            for (int i = 0; i < header.Length; i++)
            {
                string h = header[i].Trim();
                if (h.Length == 0) continue;
                if (columnOf.ContainsKey(h)) throw new ClipFormatException("column " + h + " appears twice");
                columnOf[h] = i;
            }
            // The app writes a row of empty values for a dropped frame: skipped, as clip_io does.
            var body = new List<string[]>();
            var rowNumbers = new List<int>();  // 1-based, the header being row 1, for messages
            for (int r = 1; r < rows.Count; r++)
            {
                if (rows[r].Length != header.Length || Array.Exists(rows[r], v => v.Trim().Length == 0)) continue;
                body.Add(rows[r]);
                rowNumbers.Add(r + 1);
            }
            if (body.Count == 0)
                throw new ClipFormatException("no data rows with the header's " + header.Length + " fields");
            var codes = new List<string>(body.Count);
            foreach (string[] row in body) codes.Add(row[0]);
            double fps = timecodeFps > 0 ? timecodeFps : InferFps(codes);
            double start = ParseTimecode(codes[0], fps);
            var keep = new List<int>(body.Count);
            var times = new List<double>(body.Count);
            for (int f = 0; f < body.Count; f++)
            {
                double t = ParseTimecode(codes[f], fps) - start;
                // A take across midnight starts again at 00:00:00: a drop of most of a day, not a row out of order.
                if (t < -SecondsPerDay / 2) t += SecondsPerDay;
                if (times.Count > 0 && t < times[times.Count - 1])
                    throw new ClipFormatException("timecode '" + codes[f].Trim() + "' is not later than the row before"
                        + " it: the timecodes go backwards (read at " + fps + " fps numbering; set the importer's"
                        + " timecode rate to the take's)");
                // A repeated timecode: the first row wins.
                if (times.Count > 0 && t == times[times.Count - 1]) continue;
                keep.Add(f);
                times.Add(t);
            }

            var names = new List<string>();
            var curves = new List<double[]>();
            Func<int, string, double[]> column = (index, name) =>
            {
                var v = new double[keep.Count];
                for (int k = 0; k < keep.Count; k++)
                {
                    string cell = body[keep[k]][index].Trim();
                    double x;
                    if (!double.TryParse(cell, NumberStyles.Float, CultureInfo.InvariantCulture, out x)
                        || double.IsNaN(x) || double.IsInfinity(x))
                        throw new ClipFormatException("row " + rowNumbers[keep[k]] + ", column " + name + ": '"
                            + cell + "' is not a finite number");
                    v[k] = x;
                }
                return v;
            };
            var poseColumns = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (RotationColumns rc in Rotations) foreach (string c in rc.Columns) poseColumns.Add(c);
            foreach (string c in Translations) poseColumns.Add(c);
            for (int i = 0; i < header.Length; i++)
            {
                string h = header[i].Trim();
                if (h.Length == 0 || Array.IndexOf(Ignored, h.ToLowerInvariant()) >= 0 || poseColumns.Contains(h))
                    continue;
                // Blend shapes: Live Link's PascalCase becomes ARKit's camelCase (JawOpen -> jawOpen).
                names.Add(char.ToLowerInvariant(h[0]) + h.Substring(1));
                curves.Add(column(i, h));
            }
            foreach (RotationColumns rc in Rotations)
            {
                var present = new List<double[]>();
                foreach (string c in rc.Columns)
                {
                    int index;
                    if (columnOf.TryGetValue(c, out index)) present.Add(column(index, header[index].Trim()));
                }
                if (present.Count == 0) continue;  // no such column: the head/eye curves say so if they need it
                var v = new double[keep.Count];
                for (int k = 0; k < v.Length; k++)
                {
                    double sum = 0;
                    foreach (double[] p in present) sum += p[k];
                    v[k] = rc.Sign * RotationUnitRad * sum / present.Count;
                }
                names.Add(rc.Channel);
                curves.Add(v);
            }
            foreach (string c in Translations)
            {
                int index;
                if (!columnOf.TryGetValue(c, out index)) continue;
                names.Add(c);
                curves.Add(column(index, header[index].Trim()));
            }
            if (names.Count == 0) throw new ClipFormatException("the CSV has no channel columns after Timecode");
            for (int a = 0; a < names.Count; a++)
                for (int b = 0; b < a; b++)
                    if (string.Equals(names[a], names[b], StringComparison.OrdinalIgnoreCase))
                        throw new ClipFormatException("column " + names[a] + " appears twice");

            var values = new float[keep.Count * names.Count];
            for (int k = 0; k < keep.Count; k++)
                for (int c = 0; c < names.Count; c++) values[k * names.Count + c] = (float)curves[c][k];
            return new BakedClip(names.ToArray(), times.ToArray(), values, fps);
        }
    }
}
