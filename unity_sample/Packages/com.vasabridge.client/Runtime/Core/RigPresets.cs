// Rig presets: ARKit blendshapes -> the blend shapes or expressions of another rig (VRM 0.x / 1.0, the 15
// Oculus/Meta visemes, Reallusion CC4 Extended, ARKit names with _L/_R). The table is the package's
// Resources/vasa_rig_presets.json, a byte-equal copy of vasa_bridge/interop/rig_presets.json (checked by
// tests/test_rig_presets.py): each target is clamp(bias + sum(weight x ARKit value), 0, 1).
using System;
using System.Collections.Generic;

namespace VasaBridge
{
    public sealed class RigPreset
    {
        public readonly string Name;
        public readonly string Description;
        /// <summary>Target names (rig blend shapes or expressions), in the table's order.</summary>
        public readonly string[] Targets;
        readonly float[] _bias;
        readonly string[][] _sources;
        readonly float[][] _weights;
        int[][] _bound = new int[0][];

        internal RigPreset(string name, string description, string[] targets, float[] bias, string[][] sources,
                           float[][] weights)
        {
            Name = name;
            Description = description;
            Targets = targets;
            _bias = bias;
            _sources = sources;
            _weights = weights;
            Bind(RigPresets.ArkitNames);
        }

        /// <summary>Resolves the ARKit sources against a frame's channel names (a session's ChannelNames, matched
        /// case-insensitively); a source the frame lacks contributes nothing. Default: the 52 ARKit names.</summary>
        public void Bind(IList<string> channelNames)
        {
            var index = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
            for (int i = 0; i < channelNames.Count; i++) index[channelNames[i]] = i;
            var bound = new int[_sources.Length][];
            for (int k = 0; k < _sources.Length; k++)
            {
                bound[k] = new int[_sources[k].Length];
                for (int j = 0; j < _sources[k].Length; j++)
                {
                    int i;
                    bound[k][j] = index.TryGetValue(_sources[k][j], out i) ? i : -1;
                }
            }
            _bound = bound;
        }

        public int IndexOf(string target)
        {
            for (int k = 0; k < Targets.Length; k++)
                if (string.Equals(Targets[k], target, StringComparison.OrdinalIgnoreCase)) return k;
            return -1;
        }

        /// <summary>Target index a rig's blend shape stands for, or -1: its name (after any "prefix." a DCC tool
        /// added) equals a target, or ends with "_" + a target (VRoid's Fcl_MTH_A -> A, Ready Player Me's
        /// viseme_aa -> aa); case-insensitive. Python and Godot use the same rule.</summary>
        public int MatchShape(string shapeName)
        {
            int dot = shapeName.LastIndexOf('.');
            string name = dot >= 0 ? shapeName.Substring(dot + 1) : shapeName;
            int k = IndexOf(name);
            if (k >= 0) return k;
            for (k = 0; k < Targets.Length; k++)
                if (name.EndsWith("_" + Targets[k], StringComparison.OrdinalIgnoreCase)) return k;
            return -1;
        }

        /// <summary>Weight of target `k` for one frame (laid out as bound).</summary>
        public float Evaluate(int k, float[] frame)
        {
            float v = _bias[k];
            int[] idx = _bound[k];
            float[] w = _weights[k];
            for (int j = 0; j < idx.Length; j++)
                if (idx[j] >= 0 && idx[j] < frame.Length) v += w[j] * frame[idx[j]];
            return v < 0f ? 0f : (v > 1f ? 1f : v);
        }

        /// <summary>All target weights for one frame into `output` (length >= Targets.Length); no allocation.</summary>
        public void Apply(float[] frame, float[] output)
        {
            for (int k = 0; k < Targets.Length; k++) output[k] = Evaluate(k, frame);
        }
    }

    public static class RigPresets
    {
        public const string Format = "vasa_bridge.rig_presets";
        /// <summary>The Resources path of the table (Resources.Load&lt;TextAsset&gt;(ResourceName)).</summary>
        public const string ResourceName = "vasa_rig_presets";

        /// <summary>ARKit blendshape names in the motion layout's order (the first 52 channels of a frame).</summary>
        public static readonly string[] ArkitNames =
        {
            "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
            "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
            "eyeSquintRight", "eyeWideRight", "jawForward", "jawRight", "jawLeft", "jawOpen", "mouthClose",
            "mouthFunnel", "mouthPucker", "mouthRight", "mouthLeft", "mouthSmileLeft", "mouthSmileRight",
            "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
            "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
            "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
            "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
            "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft",
            "noseSneerRight", "tongueOut",
        };

        /// <summary>Parses the presets table. Throws JsonException with a clear message.</summary>
        public static Dictionary<string, RigPreset> Parse(string text)
        {
            var doc = Json.Parse(text, false) as MsgPackMap;
            object format = null;
            if (doc != null) doc.TryGetValue("format", out format);
            if (!(format is string) || (string)format != Format)
                throw new JsonException("not a " + Format + " table (missing or wrong 'format')");
            var presets = new Dictionary<string, RigPreset>(StringComparer.OrdinalIgnoreCase);
            MsgPackMap all = doc.GetMap("presets");
            foreach (string name in all.OrderedKeys)
            {
                var body = all[name] as MsgPackMap;
                object targetsObj = null;
                if (body != null) body.TryGetValue("targets", out targetsObj);
                var targets = targetsObj as List<object>;
                if (targets == null) throw new JsonException("preset " + name + " has no 'targets' list");
                int n = targets.Count;
                var names = new string[n];
                var bias = new float[n];
                var sources = new string[n][];
                var weights = new float[n][];
                for (int k = 0; k < n; k++)
                {
                    var t = targets[k] as MsgPackMap;
                    if (t == null) throw new JsonException("preset " + name + ": each target must be an object");
                    names[k] = t.GetString("name");
                    bias[k] = (float)Number(t["bias"], name + "." + names[k] + ".bias");
                    var from = t["from"] as List<object>;
                    if (from == null)
                        throw new JsonException("preset " + name + "." + names[k] + ": 'from' must be a list");
                    sources[k] = new string[from.Count];
                    weights[k] = new float[from.Count];
                    for (int j = 0; j < from.Count; j++)
                    {
                        var pair = from[j] as List<object>;
                        if (pair == null || pair.Count != 2 || !(pair[0] is string))
                            throw new JsonException("preset " + name + "." + names[k] +
                                                    ": 'from' holds [ARKit name, weight] pairs");
                        sources[k][j] = (string)pair[0];
                        weights[k][j] = (float)Number(pair[1], name + "." + names[k] + "." + pair[0]);
                    }
                }
                object description;
                body.TryGetValue("description", out description);
                presets[name] = new RigPreset(name, description as string ?? "", names, bias, sources, weights);
            }
            return presets;
        }

        static double Number(object v, string what)
        {
            if (v is double) return (double)v;
            if (v is long) return (long)v;
            throw new JsonException(what + " must be a number");
        }
    }
}
