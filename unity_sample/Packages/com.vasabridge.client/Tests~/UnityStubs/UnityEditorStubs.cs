// Compile-only stand-ins for the UnityEditor, animation and Timeline APIs the Editor/ importer and the CutScene
// sample use, with Unity 2021.3's signatures (Timeline 1.6). Like UnityEngineStubs.cs, this catches C# mistakes
// (types, overloads, missing members), not engine behaviour. Nothing here runs.
#pragma warning disable 67, 169, 414, 649
using System;

namespace UnityEngine
{
    public sealed class AnimationClip : Motion
    {
        public float frameRate { get; set; }
        public float length { get { return 0; } }
        public bool legacy { get; set; }
        public void EnsureQuaternionContinuity() { }
    }
    public class Motion : Object { }
    public struct Keyframe
    {
        public Keyframe(float time, float value, float inTangent, float outTangent) { }
        public float time { get { return 0; } }
        public float value { get { return 0; } }
    }
    public sealed class AnimationCurve
    {
        public AnimationCurve(params Keyframe[] keys) { }
        public Keyframe[] keys { get { return null; } }
        public float Evaluate(float time) { return 0; }
    }
    public sealed class Animator : Behaviour
    {
        public RuntimeAnimatorController runtimeAnimatorController { get; set; }
    }
    public class RuntimeAnimatorController : Object { }
    public class ScriptableObject : Object
    {
        public static T CreateInstance<T>() where T : ScriptableObject { return null; }
    }
    [AttributeUsage(AttributeTargets.Class)] public sealed class RequireComponent
        : Attribute { public RequireComponent(Type t) { } }
}

namespace UnityEngine.Playables
{
    public enum DirectorWrapMode { Hold = 0, Loop = 1, None = 2 }
    public enum PlayState { Paused, Playing }
    public class PlayableAsset : ScriptableObject { public virtual double duration { get { return 0; } } }
    public sealed class PlayableDirector : Behaviour
    {
        public PlayableAsset playableAsset { get; set; }
        public DirectorWrapMode extrapolationMode { get; set; }
        public bool playOnAwake { get; set; }
        public double time { get; set; }
        public double duration { get { return 0; } }
        public PlayState state { get { return PlayState.Paused; } }
        public void SetGenericBinding(Object key, Object value) { }
        public void Play() { }
        public void Play(PlayableAsset asset) { }
        public void Stop() { }
        public void RebuildGraph() { }
        public event Action<PlayableDirector> stopped;
    }
}

namespace UnityEngine.Timeline
{
    public sealed class TimelineClip
    {
        public double start { get; set; }
        public double duration { get; set; }
        public string displayName { get; set; }
        public Object asset { get { return null; } }
    }
    public abstract class TrackAsset : Playables.PlayableAsset
    {
        public TimelineClip CreateDefaultClip() { return null; }
    }
    public class AnimationTrack : TrackAsset
    {
        public TimelineClip CreateClip(AnimationClip clip) { return null; }
    }
    public class AudioTrack : TrackAsset
    {
        public TimelineClip CreateClip(AudioClip clip) { return null; }
    }
    public class TimelineAsset : Playables.PlayableAsset
    {
        public T CreateTrack<T>(TrackAsset parent, string name) where T : TrackAsset, new() { return null; }
        public T CreateTrack<T>(string name) where T : TrackAsset, new() { return null; }
    }
}

namespace UnityEditor
{
    public struct EditorCurveBinding
    {
        public string path;
        public string propertyName;
        public Type type;
        public static EditorCurveBinding FloatCurve(string inPath, Type inType,
            string inPropertyName) { return default(EditorCurveBinding); }
    }
    public static class AnimationUtility
    {
        public static void SetEditorCurve(UnityEngine.AnimationClip clip, EditorCurveBinding binding,
            UnityEngine.AnimationCurve curve) { }
        public static EditorCurveBinding[] GetCurveBindings(UnityEngine.AnimationClip clip) { return null; }
    }
    public static class AssetDatabase
    {
        public static string GetAssetPath(UnityEngine.Object assetObject) { return ""; }
        public static void SetImporterOverride<T>(string path) where T : AssetImporters.ScriptedImporter { }
        public static void ClearImporterOverride(string path) { }
    }
    public static class Selection { public static UnityEngine.Object[] objects { get { return null; } } }
    [AttributeUsage(AttributeTargets.Method, AllowMultiple = true)]
    public sealed class MenuItem : Attribute
    {
        public MenuItem(string itemName) { }
        public MenuItem(string itemName, bool isValidateFunction) { }
    }
    public class AssetImporter : UnityEngine.Object { public string assetPath { get { return ""; } } }
}

namespace UnityEditor.AssetImporters
{
    public class AssetImportContext
    {
        public string assetPath { get { return ""; } }
        public void AddObjectToAsset(string identifier, UnityEngine.Object obj) { }
        public void SetMainObject(UnityEngine.Object obj) { }
        public void LogImportError(string msg, UnityEngine.Object obj = null) { }
        public void LogImportWarning(string msg, UnityEngine.Object obj = null) { }
    }
    public abstract class ScriptedImporter : AssetImporter
    {
        public abstract void OnImportAsset(AssetImportContext ctx);
    }
    [AttributeUsage(AttributeTargets.Class)]
    public sealed class ScriptedImporterAttribute : Attribute
    {
        public ScriptedImporterAttribute(int version, string[] exts) { }
        public ScriptedImporterAttribute(int version, string[] exts, string[] overrideExts) { }
    }
}
