// Builds the demo head from the mesh JSON of `vasa-bridge avatar export` at run time: one SkinnedMeshRenderer per
// part (head, eyeLeft, eyeRight) with its blend shapes, so no glTF importer package is needed.
using System.Collections.Generic;
using UnityEngine;
using UnityEngine.Rendering;

namespace VasaBridge.Unity
{
    public static class VasaHeadBuilder
    {
        /// <summary>The shader the package ships for vertex-coloured meshes (built-in render pipeline).</summary>
        public const string VertexColorShader = "VasaBridge/VertexColor";

        /// <summary>
        /// Creates a "vasa_head" object (the head-pose pivot) with children "head", "eyeLeft", "eyeRight" (each at
        /// its pivot, so rotating an eye turns it). Throws JsonException for a file that is not a mesh JSON.
        /// `material` null: a material with the package's vertex-colour shader.
        /// </summary>
        public static GameObject Build(string meshJson, Material material = null, Transform parent = null)
        {
            List<AvatarMeshData> parts = AvatarMeshJson.Parse(meshJson);
            if (material == null)
            {
                Shader shader = Shader.Find(VertexColorShader);
                if (shader == null || !shader.isSupported) shader = Shader.Find("Standard");
                material = new Material(shader) { name = "VasaHead" };
            }
            var root = new GameObject("vasa_head");
            if (parent != null) root.transform.SetParent(parent, false);
            foreach (AvatarMeshData part in parts)
            {
                part.ToLeftHanded(); // glTF is right-handed; Unity is left-handed
                var go = new GameObject(part.Name);
                go.transform.SetParent(root.transform, false);
                go.transform.localPosition = new Vector3(part.Pivot[0], part.Pivot[1], part.Pivot[2]);
                var smr = go.AddComponent<SkinnedMeshRenderer>();
                smr.sharedMesh = BuildMesh(part);
                smr.sharedMaterial = material;
                smr.updateWhenOffscreen = false;
            }
            return root;
        }

        public static Mesh BuildMesh(AvatarMeshData part)
        {
            int n = part.VertexCount;
            var mesh = new Mesh { name = part.Name };
            mesh.indexFormat = n > 65535 ? IndexFormat.UInt32 : IndexFormat.UInt16;
            mesh.vertices = ToVectors(part.Vertices, n);
            mesh.normals = ToVectors(part.Normals, n);
            var colors = new Color[n];
            for (int i = 0; i < n; i++)
                colors[i] = new Color(part.Colors[4 * i], part.Colors[4 * i + 1], part.Colors[4 * i + 2], part.Colors[4 * i + 3]);
            mesh.colors = colors; // sRGB values; the shader converts them in linear colour space
            mesh.triangles = part.Triangles;
            for (int s = 0; s < part.BlendShapeNames.Count; s++)
                mesh.AddBlendShapeFrame(part.BlendShapeNames[s], 100f, ToVectors(part.BlendShapeDeltas[s], n), null, null);
            mesh.RecalculateBounds();
            return mesh;
        }

        static Vector3[] ToVectors(float[] xyz, int n)
        {
            var v = new Vector3[n];
            for (int i = 0; i < n; i++) v[i] = new Vector3(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2]);
            return v;
        }
    }
}
