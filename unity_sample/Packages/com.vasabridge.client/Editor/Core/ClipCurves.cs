// Turns a BakedClip into the curves of a Unity AnimationClip, engine-free (mono tests it; VasaClipImporter hands
// the result to AnimationUtility): one `blendShape.<name>` curve per ARKit channel on each face renderer (weights
// 0..100), and `m_LocalRotation.x/y/z/w` curves for the head and eye transforms. Every key is a frame of the clip at
// the clip's own time; tangents are the slopes to the neighbouring keys, so Unity's Hermite evaluation is linear
// between frames (what the live client's jitter buffer does).
using System;
using System.Collections.Generic;

namespace VasaBridge.Clips
{
    public enum CurveTarget { SkinnedMeshRenderer, Transform }

    /// <summary>One animation curve: the binding (path, component type, property) and its keys.</summary>
    public sealed class CurveData
    {
        public readonly string Path;
        public readonly CurveTarget Target;
        public readonly string Property;
        public readonly float[] TimesS, Values, InTangents, OutTangents;

        public CurveData(string path, CurveTarget target, string property, float[] timesS, float[] values)
        {
            Path = path; Target = target; Property = property; TimesS = timesS; Values = values;
            InTangents = new float[values.Length];
            OutTangents = new float[values.Length];
            for (int i = 0; i + 1 < values.Length; i++)
            {
                float slope = (values[i + 1] - values[i]) / (timesS[i + 1] - timesS[i]);
                OutTangents[i] = slope;
                InTangents[i + 1] = slope;
            }
            if (values.Length > 1)
            {
                InTangents[0] = OutTangents[0];
                OutTangents[values.Length - 1] = InTangents[values.Length - 1];
            }
        }
    }

    /// <summary>How a clip's channels land on a rig. The defaults fit the package's demo head.</summary>
    public sealed class ClipCurveSettings
    {
        /// <summary>Paths (relative to the Animator) of the SkinnedMeshRenderers that carry the blend shapes; every
        /// one gets every shape curve (face, teeth and tongue often share jawOpen).</summary>
        public string[] RendererPaths = { "head" };
        /// <summary>Put before each blend-shape name, e.g. "blendShape1." for rigs exported from Maya.</summary>
        public string ShapePrefix = "";
        /// <summary>Name blend shapes in Live Link Face's PascalCase (JawOpen) instead of ARKit's camelCase.</summary>
        public bool PascalCaseShapes;
        /// <summary>Channel → blend-shape name for rigs with other names ("jawOpen" → "MTH_A"); an empty name drops
        /// the channel. Channels not listed keep their (prefixed) ARKit name.</summary>
        public Dictionary<string, string> ShapeNames = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        /// <summary>Unity blend-shape weights run 0..100; clips hold 0..1.</summary>
        public float WeightScale = 100f;

        /// <summary>Transform rotated by headPitch/headYaw/headRoll; empty: no head curves.</summary>
        public string HeadPath = "";
        /// <summary>Sign per axis (x: pitch, y: yaw, z: roll) to match the bone's local axes (VasaBridgeFace's
        /// default for the demo head: 1, -1, 1).</summary>
        public float[] HeadAxisSigns = { 1f, -1f, 1f };
        public float HeadRotationScale = 1f;
        /// <summary>The head's rest local rotation as Euler degrees (the curves replace localRotation, so the rest
        /// pose has to be in them).</summary>
        public float[] HeadRestEulerDeg = { 0f, 0f, 0f };

        /// <summary>Eye transforms rotated by gazePitch/gazeYaw; empty: none.</summary>
        public string LeftEyePath = "", RightEyePath = "";
        /// <summary>Sign of (pitch, yaw) for the eyes (VasaBridgeFace's default: -1, -1).</summary>
        public float[] EyeAxisSigns = { -1f, -1f };
        public float[] LeftEyeRestEulerDeg = { 0f, 0f, 0f }, RightEyeRestEulerDeg = { 0f, 0f, 0f };

        public string ShapeName(string channel)
        {
            string mapped;
            if (ShapeNames != null && ShapeNames.TryGetValue(channel, out mapped)) return mapped;
            string name = PascalCaseShapes ? char.ToUpperInvariant(channel[0]) + channel.Substring(1) : channel;
            return (ShapePrefix ?? "") + name;
        }
    }

    public static class ClipCurveBuilder
    {
        const double Deg = 180.0 / Math.PI;

        public static List<CurveData> Build(BakedClip clip, ClipCurveSettings settings)
        {
            if (settings == null) throw new ArgumentNullException("settings");
            var curves = new List<CurveData>();
            int n = clip.FrameCount;
            var times = new float[n];
            for (int f = 0; f < n; f++) times[f] = (float)clip.TimesS[f];
            var shapeNamesSeen = new HashSet<string>(StringComparer.Ordinal);
            for (int c = 0; c < clip.Channels.Length; c++)
            {
                string channel = clip.Channels[c];
                if (BakedClip.IsPoseChannel(channel)) continue;
                string shape = settings.ShapeName(channel);
                if (string.IsNullOrEmpty(shape)) continue;
                if (!shapeNamesSeen.Add(shape))
                    throw new ClipFormatException("two channels map to the blend shape '" + shape
                        + "': fix the name mapping");
                var values = new float[n];
                for (int f = 0; f < n; f++) values[f] = clip.Value(f, c) * settings.WeightScale;
                foreach (string path in settings.RendererPaths ?? new string[0])
                    curves.Add(new CurveData(path ?? "", CurveTarget.SkinnedMeshRenderer, "blendShape." + shape, times,
                        values));
            }
            if (!string.IsNullOrEmpty(settings.HeadPath))
            {
                int pitch = Require(clip, "headPitch"), yaw = Require(clip, "headYaw");
                int roll = Require(clip, "headRoll");
                float[] s = settings.HeadAxisSigns;
                double k = Deg * settings.HeadRotationScale;
                AddRotation(curves, settings.HeadPath, times, settings.HeadRestEulerDeg,
                            f => new[] { s[0] * clip.Value(f, pitch) * k, s[1] * clip.Value(f, yaw) * k,
                                s[2] * clip.Value(f, roll) * k });
            }
            if (!string.IsNullOrEmpty(settings.LeftEyePath) || !string.IsNullOrEmpty(settings.RightEyePath))
            {
                int gp = Require(clip, "gazePitch"), gy = Require(clip, "gazeYaw");
                float[] s = settings.EyeAxisSigns;
                Func<int, double[]> gaze = f =>
                    new[] { s[0] * clip.Value(f, gp) * Deg, s[1] * clip.Value(f, gy) * Deg, 0.0 };
                if (!string.IsNullOrEmpty(settings.LeftEyePath)) AddRotation(curves, settings.LeftEyePath, times,
                    settings.LeftEyeRestEulerDeg, gaze);
                if (!string.IsNullOrEmpty(settings.RightEyePath)) AddRotation(curves, settings.RightEyePath, times,
                    settings.RightEyeRestEulerDeg, gaze);
            }
            return curves;
        }

        static int Require(BakedClip clip, string channel)
        {
            int i = clip.ChannelIndex(channel);
            if (i < 0) throw new ClipFormatException("the clip has no " + channel
                + " channel, which the head/eye curves need: clear the transform path");
            return i;
        }

        /// <summary>rest × Euler(offset) per frame as four quaternion curves, each frame's sign chosen to stay on the
        /// previous one's side so interpolation never takes the long way round.</summary>
        static void AddRotation(List<CurveData> curves, string path, float[] times, float[] restEulerDeg,
                                Func<int, double[]> eulerDeg)
        {
            int n = times.Length;
            var q = new float[4][];
            for (int a = 0; a < 4; a++) q[a] = new float[n];
            double[] rest = Quat.Euler(restEulerDeg[0], restEulerDeg[1], restEulerDeg[2]);
            double[] prev = null;
            for (int f = 0; f < n; f++)
            {
                double[] e = eulerDeg(f);
                double[] r = Quat.Multiply(rest, Quat.Euler(e[0], e[1], e[2]));
                if (prev != null && Quat.Dot(prev, r) < 0) for (int a = 0; a < 4; a++) r[a] = -r[a];
                for (int a = 0; a < 4; a++) q[a][f] = (float)r[a];
                prev = r;
            }
            string[] axes = { "x", "y", "z", "w" };
            for (int a = 0; a < 4; a++) curves.Add(new CurveData(path, CurveTarget.Transform, "m_LocalRotation."
                + axes[a], times, q[a]));
        }
    }

    /// <summary>Quaternions as (x, y, z, w), with Unity's conventions.</summary>
    public static class Quat
    {
        /// <summary>Unity's Quaternion.Euler: rotate z degrees about Z, then x about X, then y about Y (q = qy qx
        /// qz).</summary>
        public static double[] Euler(double xDeg, double yDeg, double zDeg)
        {
            double hx = xDeg * Math.PI / 360.0, hy = yDeg * Math.PI / 360.0, hz = zDeg * Math.PI / 360.0;
            double[] qx = { Math.Sin(hx), 0, 0, Math.Cos(hx) };
            double[] qy = { 0, Math.Sin(hy), 0, Math.Cos(hy) };
            double[] qz = { 0, 0, Math.Sin(hz), Math.Cos(hz) };
            return Multiply(qy, Multiply(qx, qz));
        }

        public static double[] Multiply(double[] a, double[] b)
        {
            return new[]
            {
                a[3] * b[0] + a[0] * b[3] + a[1] * b[2] - a[2] * b[1],
                a[3] * b[1] - a[0] * b[2] + a[1] * b[3] + a[2] * b[0],
                a[3] * b[2] + a[0] * b[1] - a[1] * b[0] + a[2] * b[3],
                a[3] * b[3] - a[0] * b[0] - a[1] * b[1] - a[2] * b[2],
            };
        }

        public static double Dot(double[] a, double[] b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
            + a[3] * b[3]; }
    }
}
