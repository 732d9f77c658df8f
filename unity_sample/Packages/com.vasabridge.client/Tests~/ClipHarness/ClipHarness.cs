// Console harness for the importer's engine-free core (Editor/Core), compiled with mcs and run with mono by
// tests/test_unity_clip.py, which compares what it writes with the clip as Python reads it.
//
//   mono clip.exe curves <clip.csv|json> <out.txt> [setting=value ...]   the AnimationClip curves, one block per
//        curve: "CURVE <path>\t<target>\t<property>\t<keys>" then "<time> <value> <inTangent> <outTangent>" lines
//   mono clip.exe error <clip.csv|json> [setting=value ...]              prints "ERROR <message>" for a bad clip
//
// Settings: renderers=a|b  prefix=P  pascal=1  map=jawOpen:MTH_A,tongueOut:  head=PATH  headSigns=x,y,z
//           headScale=S  headRest=x,y,z  leftEye=PATH  rightEye=PATH  eyeSigns=p,y  timecodeFps=F
using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading;
using VasaBridge.Clips;

static class ClipHarness
{
    static int Main(string[] args)
    {
        Thread.CurrentThread.CurrentCulture = CultureInfo.InvariantCulture;
        if (args.Length < 2) { Console.Error.WriteLine("usage: clip.exe curves|error <clip> ..."); return 2; }
        double timecodeFps;
        ClipCurveSettings settings = Settings(args.Skip(args[0] == "curves" ? 3 : 2), out timecodeFps);
        try
        {
            BakedClip clip = BakedClip.Parse(File.ReadAllText(args[1]), Path.GetExtension(args[1]), timecodeFps);
            List<CurveData> curves = ClipCurveBuilder.Build(clip, settings);
            if (args[0] == "error") { Console.WriteLine("NO ERROR"); return 1; }
            using (var w = new StreamWriter(args[2]))
            {
                w.WriteLine("CLIP\t" + clip.FrameCount + "\t" + clip.Fps.ToString("R"));
                foreach (CurveData c in curves)
                {
                    w.WriteLine("CURVE\t" + c.Path + "\t" + c.Target + "\t" + c.Property + "\t" + c.TimesS.Length);
                    for (int i = 0; i < c.TimesS.Length; i++)
                        w.WriteLine(c.TimesS[i].ToString("R") + " " + c.Values[i].ToString("R") + " " +
                                    c.InTangents[i].ToString("R") + " " + c.OutTangents[i].ToString("R"));
                }
            }
            Console.WriteLine("WROTE " + curves.Count + " curves");
            return 0;
        }
        catch (ClipFormatException e)
        {
            Console.WriteLine("ERROR " + e.Message);
            return args[0] == "error" ? 0 : 1;
        }
    }

    static ClipCurveSettings Settings(IEnumerable<string> pairs, out double timecodeFps)
    {
        var s = new ClipCurveSettings();
        timecodeFps = 0;
        foreach (string pair in pairs)
        {
            int eq = pair.IndexOf('=');
            string key = pair.Substring(0, eq), value = pair.Substring(eq + 1);
            switch (key)
            {
                case "renderers": s.RendererPaths = value.Split('|'); break;
                case "prefix": s.ShapePrefix = value; break;
                case "pascal": s.PascalCaseShapes = value == "1"; break;
                case "map":
                    foreach (string m in value.Split(','))
                    {
                        string[] kv = m.Split(':');
                        s.ShapeNames[kv[0]] = kv[1];
                    }
                    break;
                case "head": s.HeadPath = value; break;
                case "headSigns": s.HeadAxisSigns = Floats(value); break;
                case "headScale": s.HeadRotationScale = float.Parse(value); break;
                case "headRest": s.HeadRestEulerDeg = Floats(value); break;
                case "leftEye": s.LeftEyePath = value; break;
                case "rightEye": s.RightEyePath = value; break;
                case "eyeSigns": s.EyeAxisSigns = Floats(value); break;
                case "timecodeFps": timecodeFps = double.Parse(value); break;
                default: throw new ArgumentException("unknown setting " + key);
            }
        }
        return s;
    }

    static float[] Floats(string csv) { return csv.Split(',').Select(float.Parse).ToArray(); }
}
