// Console check of the rig presets in C#: compiled with the engine-independent core by tests/test_rig_presets.py
// and run with mono. It applies every preset of the package's table to frames the Python test wrote and prints
// the target weights as "preset target frame value" lines for the test to compare with Python's, then
// "PASS/FAIL" lines and "<N> passed, <M> failed".
//
//   mono presets.exe <vasa_rig_presets.json> <frames.json: {"channels": [...], "frames": [[...], ...]}>
//                    <shapes.txt: "preset shape-name" lines, answered as "MATCH preset shape-name index">
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Threading;
using VasaBridge;

static class PresetHarness
{
    static int _passed, _failed;

    static void Check(bool ok, string name, string why = "")
    {
        if (ok) { _passed++; Console.WriteLine("PASS " + name); }
        else { _failed++; Console.WriteLine("FAIL " + name + (why.Length > 0 ? ": " + why : "")); }
    }

    static int Main(string[] args)
    {
        Thread.CurrentThread.CurrentCulture = CultureInfo.InvariantCulture;
        try
        {
            Dictionary<string, RigPreset> presets = RigPresets.Parse(File.ReadAllText(args[0]));
            var doc = (MsgPackMap)Json.Parse(File.ReadAllText(args[1]), false);
            var channels = new List<string>();
            foreach (object c in (List<object>)doc["channels"]) channels.Add((string)c);
            var frames = new List<float[]>();
            foreach (object row in (List<object>)doc["frames"])
            {
                var values = (List<object>)row;
                var f = new float[values.Count];
                for (int i = 0; i < f.Length; i++)
                    f[i] = (float)Convert.ToDouble(values[i], CultureInfo.InvariantCulture);
                frames.Add(f);
            }
            Check(presets.Count >= 5, "the table has the five presets", presets.Count + " presets");
            Check(presets.ContainsKey("VRM1") && presets["vrm1"].IndexOf("AA") == 0,
                  "preset and target names match case-insensitively");
            foreach (string line in File.ReadAllLines(args[2]))
            {
                string[] parts = line.Split(' ');
                Console.WriteLine("MATCH " + parts[0] + " " + parts[1] + " " +
                                  presets[parts[0]].MatchShape(parts[1]));
            }
            foreach (RigPreset preset in presets.Values)
            {
                preset.Bind(channels);
                var output = new float[preset.Targets.Length];
                for (int t = 0; t < frames.Count; t++)
                {
                    preset.Apply(frames[t], output);
                    for (int k = 0; k < output.Length; k++)
                        Console.WriteLine("VALUE " + preset.Name + " " + preset.Targets[k] + " " + t + " " +
                                          output[k].ToString("R"));
                }
            }
            string why = null;
            try { RigPresets.Parse("{\"format\": \"something else\"}"); }
            catch (JsonException e) { why = e.Message; }
            Check(why != null && why.Contains("vasa_bridge.rig_presets"), "a table of another format is refused",
                  why ?? "accepted");
        }
        catch (Exception e)
        {
            Check(false, "harness ran to the end", e.GetType().Name + ": " + e.Message);
        }
        Console.WriteLine(_passed + " passed, " + _failed + " failed");
        return _failed == 0 ? 0 : 1;
    }
}
