// Imports a baked line (`vasa-bridge bake -o line.csv|json`) as an AnimationClip: blend-shape curves on the face
// renderers, rotation curves on the head and eyes. Unity already imports .csv and .json as text, so this importer
// is an override: pick it in the asset's Inspector (Importer drop-down) or with Assets > vasa_bridge > Import as
// Baked Clip. The curve building itself is Editor/Core (engine-free, tested under mono).
using System;
using System.Collections.Generic;
using System.IO;
using UnityEditor;
using UnityEditor.AssetImporters;
using UnityEngine;

namespace VasaBridge.Clips
{
    /// <summary>One entry of the channel → blend-shape name table.</summary>
    [Serializable]
    public struct ShapeNameMapping
    {
        [Tooltip("Clip channel in ARKit spelling, e.g. jawOpen")] public string channel;
        [Tooltip("The rig's blend shape for it; empty drops the channel")] public string blendShape;
    }

    [ScriptedImporter(1, new string[0], new[] { "csv", "json" })]
    public sealed class VasaClipImporter : ScriptedImporter
    {
        [Header("Blend shapes")]
        [Tooltip("Paths of the SkinnedMeshRenderers, relative to the Animator ('': the Animator's own object)")]
        [SerializeField] string[] rendererPaths = { "head" };
        [Tooltip("Put before every blend-shape name, e.g. blendShape1. for Maya exports")]
        [SerializeField] string shapePrefix = "";
        [Tooltip("Name shapes JawOpen (Live Link Face) instead of jawOpen (ARKit)")]
        [SerializeField] bool pascalCaseShapes;
        [Tooltip("Channels whose blend shape has another name on this rig")]
        [SerializeField] ShapeNameMapping[] shapeNames = new ShapeNameMapping[0];

        [Header("Head and eyes (empty path: no curves)")]
        [SerializeField] string headPath = "";
        [Tooltip("Sign per axis (x: pitch, y: yaw, z: roll) to match the bone's local axes")]
        [SerializeField] Vector3 headAxisSigns = new Vector3(1f, -1f, 1f);
        [SerializeField, Range(0f, 2f)] float headRotationScale = 1f;
        [Tooltip("The head's rest localRotation (Euler degrees): the curves replace localRotation")]
        [SerializeField] Vector3 headRestEuler;
        [SerializeField] string leftEyePath = "";
        [SerializeField] string rightEyePath = "";
        [Tooltip("Sign of (pitch, yaw) for the eyes")]
        [SerializeField] Vector2 eyeAxisSigns = new Vector2(-1f, -1f);

        [Header("Timing")]
        [Tooltip("CSV only: the frame rate the timecodes count at; 0 infers it from the timecodes")]
        [SerializeField] float timecodeFps;

        public override void OnImportAsset(AssetImportContext ctx)
        {
            BakedClip baked;
            List<CurveData> curves;
            try
            {
                baked = BakedClip.Parse(File.ReadAllText(ctx.assetPath), Path.GetExtension(ctx.assetPath), timecodeFps);
                curves = ClipCurveBuilder.Build(baked, Settings());
            }
            catch (ClipFormatException e)
            {
                ctx.LogImportError(ctx.assetPath + ": " + e.Message);
                return;
            }
            var clip = new AnimationClip { name = Path.GetFileNameWithoutExtension(ctx.assetPath),
                frameRate = (float)baked.Fps };
            foreach (CurveData c in curves)
            {
                var keys = new Keyframe[c.TimesS.Length];
                for (int i = 0; i < keys.Length; i++) keys[i] = new Keyframe(c.TimesS[i], c.Values[i], c.InTangents[i],
                    c.OutTangents[i]);
                Type type = c.Target == CurveTarget.Transform ? typeof(Transform) : typeof(SkinnedMeshRenderer);
                AnimationUtility.SetEditorCurve(clip, EditorCurveBinding.FloatCurve(c.Path, type, c.Property),
                    new AnimationCurve(keys));
            }
            ctx.AddObjectToAsset("clip", clip);
            ctx.SetMainObject(clip);
        }

        ClipCurveSettings Settings()
        {
            var s = new ClipCurveSettings
            {
                RendererPaths = rendererPaths ?? new string[0],
                ShapePrefix = shapePrefix,
                PascalCaseShapes = pascalCaseShapes,
                HeadPath = headPath,
                HeadAxisSigns = new[] { headAxisSigns.x, headAxisSigns.y, headAxisSigns.z },
                HeadRotationScale = headRotationScale,
                HeadRestEulerDeg = new[] { headRestEuler.x, headRestEuler.y, headRestEuler.z },
                LeftEyePath = leftEyePath,
                RightEyePath = rightEyePath,
                EyeAxisSigns = new[] { eyeAxisSigns.x, eyeAxisSigns.y },
            };
            foreach (ShapeNameMapping m in shapeNames ?? new ShapeNameMapping[0])
                if (!string.IsNullOrEmpty(m.channel)) s.ShapeNames[m.channel] = m.blendShape ?? "";
            return s;
        }
    }

    /// <summary>Assets menu: switch selected .csv/.json files between this importer and Unity's text
    /// importer.</summary>
    static class VasaClipImporterMenu
    {
        const string UseMenu = "Assets/vasa_bridge/Import as Baked Clip";
        const string TextMenu = "Assets/vasa_bridge/Import as Text";

        [MenuItem(UseMenu)]
        static void UseImporter()
        {
            foreach (string path in SelectedClipPaths()) AssetDatabase.SetImporterOverride<VasaClipImporter>(path);
        }

        [MenuItem(TextMenu)]
        static void UseText()
        {
            foreach (string path in SelectedClipPaths()) AssetDatabase.ClearImporterOverride(path);
        }

        [MenuItem(UseMenu, true)]
        [MenuItem(TextMenu, true)]
        static bool HasClipSelected() { return SelectedClipPaths().Count > 0; }

        static List<string> SelectedClipPaths()
        {
            var paths = new List<string>();
            foreach (UnityEngine.Object o in Selection.objects)
            {
                string path = AssetDatabase.GetAssetPath(o);
                string ext = Path.GetExtension(path).ToLowerInvariant();
                if (ext == ".csv" || ext == ".json") paths.Add(path);
            }
            return paths;
        }
    }
}
