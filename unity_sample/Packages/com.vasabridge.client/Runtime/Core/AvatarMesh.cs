// Loads the avatar mesh JSON written by `vasa-bridge avatar export` (format "vasa_bridge.avatar", docs/avatar.md):
// per mesh a pivot, vertices, normals, sRGB vertex colours, triangles and per-blendshape vertex deltas, in glTF
// axes (right-handed, +Y up, face looks +Z). ToLeftHanded() converts to Unity's axes (negate x, flip winding).
using System;
using System.Collections.Generic;

namespace VasaBridge
{
    public sealed class AvatarMeshData
    {
        public string Name;
        public float[] Pivot = new float[3];      // where the part rotates (eyes: the eyeball centre)
        public float[] Vertices;                  // n x 3
        public float[] Normals;                   // n x 3
        public float[] Colors;                    // n x 4, sRGB 0..1
        public int[] Triangles;                   // t x 3
        public readonly List<string> BlendShapeNames = new List<string>();
        public readonly List<float[]> BlendShapeDeltas = new List<float[]>(); // each n x 3

        public int VertexCount { get { return Vertices.Length / 3; } }

        /// <summary>Mirrors x (glTF right-handed → Unity left-handed) and reverses the triangle winding so faces
        /// stay front-facing.</summary>
        public void ToLeftHanded()
        {
            NegateX(Vertices);
            NegateX(Normals);
            Pivot[0] = -Pivot[0];
            foreach (float[] d in BlendShapeDeltas) NegateX(d);
            for (int t = 0; t + 2 < Triangles.Length; t += 3)
            {
                int tmp = Triangles[t + 1];
                Triangles[t + 1] = Triangles[t + 2];
                Triangles[t + 2] = tmp;
            }
        }

        static void NegateX(float[] xyz)
        {
            for (int i = 0; i < xyz.Length; i += 3) xyz[i] = -xyz[i];
        }
    }

    public static class AvatarMeshJson
    {
        public const string Format = "vasa_bridge.avatar";

        /// <summary>Parses and validates a mesh JSON document. Throws JsonException with a clear message.</summary>
        public static List<AvatarMeshData> Parse(string text)
        {
            var doc = Json.Parse(text) as MsgPackMap;
            object format = null;
            if (doc != null) doc.TryGetValue("format", out format);
            if (!(format is string) || (string)format != Format)
                throw new JsonException("not a " + Format + " mesh JSON (missing or wrong 'format'); write one with `vasa-bridge avatar export -o DIR`");
            object meshesObj;
            doc.TryGetValue("meshes", out meshesObj);
            var meshes = meshesObj as List<object>;
            if (meshes == null || meshes.Count == 0) throw new JsonException("mesh JSON has no 'meshes' list");
            var result = new List<AvatarMeshData>();
            foreach (object o in meshes)
            {
                var m = o as MsgPackMap;
                if (m == null) throw new JsonException("each entry of 'meshes' must be an object");
                var d = new AvatarMeshData { Name = m.GetString("name") };
                d.Vertices = Floats(m, "vertices", d.Name);
                int n = d.Vertices.Length / 3;
                if (n == 0 || d.Vertices.Length % 3 != 0) throw new JsonException(d.Name + ": 'vertices' must hold x,y,z triples");
                d.Normals = Floats(m, "normals", d.Name);
                d.Colors = Floats(m, "colors", d.Name);
                d.Pivot = Floats(m, "pivot", d.Name);
                if (d.Normals.Length != n * 3) throw new JsonException(d.Name + ": " + d.Normals.Length / 3 + " normals for " + n + " vertices");
                if (d.Colors.Length != n * 4) throw new JsonException(d.Name + ": 'colors' must hold RGBA per vertex");
                if (d.Pivot.Length != 3) throw new JsonException(d.Name + ": 'pivot' must be x,y,z");
                float[] tri = Floats(m, "triangles", d.Name);
                if (tri.Length == 0 || tri.Length % 3 != 0) throw new JsonException(d.Name + ": 'triangles' must hold index triples");
                d.Triangles = new int[tri.Length];
                for (int i = 0; i < tri.Length; i++)
                {
                    int idx = (int)tri[i];
                    if (idx != tri[i] || idx < 0 || idx >= n) throw new JsonException(d.Name + ": triangle index " + tri[i] + " out of range 0.." + (n - 1));
                    d.Triangles[i] = idx;
                }
                var shapes = m.GetMap("blendshapes");
                foreach (string name in shapes.OrderedKeys)
                {
                    float[] delta = ToFloats(shapes[name], d.Name + ".blendshapes." + name);
                    if (delta.Length != n * 3) throw new JsonException(d.Name + ": blendshape " + name + " has " + delta.Length / 3 + " deltas for " + n + " vertices");
                    d.BlendShapeNames.Add(name);
                    d.BlendShapeDeltas.Add(delta);
                }
                result.Add(d);
            }
            return result;
        }

        static float[] Floats(MsgPackMap m, string key, string mesh)
        {
            object v;
            if (!m.TryGetValue(key, out v)) throw new JsonException(mesh + ": missing '" + key + "'");
            return ToFloats(v, mesh + "." + key);
        }

        static float[] ToFloats(object v, string what)
        {
            var d = v as double[];
            if (d != null)
            {
                var f = new float[d.Length];
                for (int i = 0; i < d.Length; i++) f[i] = (float)d[i];
                return f;
            }
            var list = v as List<object>;
            if (list != null && list.Count == 0) return new float[0];
            throw new JsonException(what + " must be a list of numbers");
        }
    }
}
