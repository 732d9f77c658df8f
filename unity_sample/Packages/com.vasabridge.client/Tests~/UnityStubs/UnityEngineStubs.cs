// Compile-only stand-ins for the parts of the UnityEngine API the package's Unity layer uses, with the
// signatures of Unity 2021.3's scripting reference. UnityEngine.dll cannot be installed here; compiling
// Runtime/Unity and the sample against these catches C# mistakes (types, overloads, missing members), not
// engine behaviour. Nothing here runs.
#pragma warning disable 67, 169, 414, 649
using System;

namespace UnityEngine
{
    public class Object
    {
        public string name { get; set; }
        public static void Destroy(Object o) { }
        public static T FindObjectOfType<T>() where T : Object { return null; }
        public static implicit operator bool(Object o) { return o != null; }
    }
    public class Component : Object
    {
        public Transform transform { get { return null; } }
        public GameObject gameObject { get { return null; } }
        public T GetComponent<T>() { return default(T); }
    }
    public class Behaviour : Component { public bool enabled { get; set; } }
    public class MonoBehaviour : Behaviour { }
    public sealed class GameObject : Object
    {
        public GameObject(string name) { }
        public Transform transform { get { return null; } }
        public string tag { get; set; }
        public T AddComponent<T>() where T : Component { return null; }
        public T GetComponent<T>() { return default(T); }
    }
    public class Transform : Component
    {
        public Vector3 position { get; set; }
        public Quaternion rotation { get; set; }
        public Vector3 localPosition { get; set; }
        public Quaternion localRotation { get; set; }
        public void SetParent(Transform parent, bool worldPositionStays) { }
        public Transform Find(string n) { return null; }
    }
    public struct Vector2 { public float x, y; public Vector2(float x, float y) { this.x = x; this.y = y; } }
    public struct Vector3
    {
        public float x, y, z;
        public Vector3(float x, float y, float z) { this.x = x; this.y = y; this.z = z; }
        public static Vector3 up { get { return new Vector3(0, 1, 0); } }
        public static Vector3 operator +(Vector3 a, Vector3 b) { return new Vector3(a.x + b.x, a.y + b.y, a.z + b.z); }
    }
    public struct Quaternion
    {
        public static Quaternion Euler(float x, float y, float z) { return default(Quaternion); }
        public static Quaternion LookRotation(Vector3 forward, Vector3 up) { return default(Quaternion); }
        public static Quaternion operator *(Quaternion a, Quaternion b) { return a; }
    }
    public struct Color
    {
        public float r, g, b, a;
        public Color(float r, float g, float b) { this.r = r; this.g = g; this.b = b; a = 1; }
        public Color(float r, float g, float b, float a) { this.r = r; this.g = g; this.b = b; this.a = a; }
    }
    public struct Rect { public Rect(float x, float y, float w, float h) { } }
    public static class Mathf
    {
        public const float Rad2Deg = 57.29578f;
        public static float Clamp01(float v) { return v; }
        public static float MoveTowards(float a, float b, float d) { return b; }
    }
    public static class Time { public static float deltaTime { get { return 0; } } public static float unscaledDeltaTime { get { return 0; } } }
    public static class Debug
    {
        public static void LogWarning(object m, Object context) { }
        public static void LogError(object m) { }
    }
    public static class Resources { public static T Load<T>(string path) where T : Object { return null; } }
    public class TextAsset : Object { public string text { get { return ""; } } }
    public sealed class AudioClip : Object
    {
        public int samples { get { return 0; } }
        public int channels { get { return 1; } }
        public int frequency { get { return 0; } }
        public bool GetData(float[] data, int offsetSamples) { return true; }
    }
    public sealed class AudioSource : Behaviour
    {
        public AudioClip clip { get; set; }
        public bool isPlaying { get { return false; } }
        public int timeSamples { get; set; }
        public bool playOnAwake { get; set; }
        public float spatialBlend { get; set; }
        public void PlayScheduled(double time) { }
        public void Stop() { }
    }
    public sealed class AudioListener : Behaviour { }
    public sealed class AudioSettings { public static double dspTime { get { return 0; } } }
    public class Mesh : Object
    {
        public Rendering.IndexFormat indexFormat { get; set; }
        public Vector3[] vertices { get; set; }
        public Vector3[] normals { get; set; }
        public Color[] colors { get; set; }
        public int[] triangles { get; set; }
        public int blendShapeCount { get { return 0; } }
        public string GetBlendShapeName(int i) { return ""; }
        public void AddBlendShapeFrame(string shapeName, float frameWeight, Vector3[] deltaVertices, Vector3[] deltaNormals, Vector3[] deltaTangents) { }
        public void RecalculateBounds() { }
    }
    public class Renderer : Component { public Material sharedMaterial { get; set; } }
    public class SkinnedMeshRenderer : Renderer
    {
        public Mesh sharedMesh { get; set; }
        public bool updateWhenOffscreen { get; set; }
        public void SetBlendShapeWeight(int index, float value) { }
    }
    public class Shader : Object
    {
        public static Shader Find(string n) { return null; }
        public bool isSupported { get { return true; } }
    }
    public class Material : Object
    {
        public Material(Shader s) { }
        public void SetTexture(string n, Texture t) { }
    }
    public class Texture : Object { public int width { get { return 0; } } public int height { get { return 0; } } }
    public enum TextureFormat { RGB24, RGBA32 }
    public sealed class Texture2D : Texture
    {
        public Texture2D(int w, int h, TextureFormat f, bool mipChain) { }
        public TextureFormat format { get { return TextureFormat.RGBA32; } }
        public Unity.Collections.NativeArray<T> GetRawTextureData<T>() where T : struct { return default(Unity.Collections.NativeArray<T>); }
        public void Apply(bool updateMipmaps) { }
        public void ReadPixels(Rect source, int destX, int destY) { }
    }
    public static class ImageConversion
    {
        public static bool LoadImage(this Texture2D tex, byte[] data, bool markNonReadable) { return true; }
        public static byte[] EncodeToJPG(this Texture2D tex, int quality) { return null; }
    }
    public enum RenderTextureFormat { ARGB32 = 0 }
    public enum RenderTextureReadWrite { Default = 0, Linear = 1, sRGB = 2 }
    public class RenderTexture : Texture
    {
        public static RenderTexture active { get; set; }
        public static RenderTexture GetTemporary(int width, int height, int depthBuffer, RenderTextureFormat format, RenderTextureReadWrite readWrite) { return null; }
        public static void ReleaseTemporary(RenderTexture temp) { }
    }
    public static class Graphics { public static void Blit(Texture source, RenderTexture dest) { } }
    public static class Application { public static string streamingAssetsPath { get { return ""; } } }
    public enum CameraClearFlags { Skybox = 1, SolidColor = 2 }
    public sealed class Camera : Behaviour
    {
        public static Camera main { get { return null; } }
        public float nearClipPlane { get; set; }
        public float fieldOfView { get; set; }
        public CameraClearFlags clearFlags { get; set; }
        public Color backgroundColor { get; set; }
    }
    public enum LightType { Spot, Directional, Point }
    public sealed class Light : Behaviour { public LightType type { get; set; } }
    public enum KeyCode { Space = 32 }
    public static class Input { public static bool GetKeyDown(KeyCode k) { return false; } }
    public static class GUI
    {
        public static void Label(Rect r, string text) { }
        public static bool Button(Rect r, string text) { return false; }
    }
    [AttributeUsage(AttributeTargets.Field)] public sealed class SerializeField : Attribute { }
    [AttributeUsage(AttributeTargets.Field)] public sealed class TooltipAttribute : Attribute { public TooltipAttribute(string t) { } }
    [AttributeUsage(AttributeTargets.Field)] public sealed class HeaderAttribute : Attribute { public HeaderAttribute(string t) { } }
    [AttributeUsage(AttributeTargets.Field)] public sealed class RangeAttribute : Attribute { public RangeAttribute(float a, float b) { } }
    [AttributeUsage(AttributeTargets.Class)] public sealed class DisallowMultipleComponent : Attribute { }
    [AttributeUsage(AttributeTargets.Class)] public sealed class AddComponentMenu : Attribute { public AddComponentMenu(string m) { } }
}

namespace UnityEngine.Rendering { public enum IndexFormat { UInt16, UInt32 } }

namespace UnityEngine.Events
{
    public class UnityEvent { public void AddListener(Action a) { } public void Invoke() { } }
    public abstract class UnityEvent<T0> { public void AddListener(Action<T0> a) { } public void Invoke(T0 a) { } }
}

namespace UnityEngine.UI
{
    public class RawImage : Behaviour { public Texture texture { get; set; } }
}

namespace Unity.Collections
{
    public struct NativeArray<T> where T : struct
    {
        public static void Copy(T[] src, int srcIndex, NativeArray<T> dst, int dstIndex, int length) { }
    }
}
