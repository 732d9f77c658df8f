// Shows the sidecar's rendered frames (SPEC.md §5.2, outputs frames_jpeg / frames_rgba) on a RawImage or a
// material, in step with the VasaBridgeFace's audio clock: image k is shown while the audio plays frame k. Needs
// a sidecar started with `vasa-bridge serve --render` (hello_ok then lists frames_jpeg / frames_rgba); otherwise
// `open` fails with unsupported_output, reported by the face. The portrait, size, JPEG quality and the corner of
// the synthetic mark are set on the VasaBridgeFace.
using System;
using Unity.Collections;
using UnityEngine;
using UnityEngine.UI;

namespace VasaBridge.Unity
{
    [AddComponentMenu("VasaBridge/VasaBridge Texture")]
    public sealed class VasaBridgeTexture : MonoBehaviour
    {
        [Tooltip("The face whose session carries the rendered frames (set its Rendered Frames to Jpeg or Rgba)")]
        [SerializeField] VasaBridgeFace face;
        [Tooltip("Shown here when set")]
        [SerializeField] RawImage rawImage;
        [Tooltip("Or assigned to this material's texture property")]
        [SerializeField] Material material;
        [SerializeField] string textureProperty = "_MainTex";

        Texture2D _texture;
        long _lastSeq = -1;
        VasaSession _shownSession;
        byte[] _jpegScratch = new byte[0];

        /// <summary>The texture frames are decoded into (null before the first frame).</summary>
        public Texture2D Texture { get { return _texture; } }
        /// <summary>Seq of the image shown now (-1 before the first).</summary>
        public long ShownSeq { get { return _lastSeq; } }

        void Awake()
        {
            if (rawImage == null && material == null) rawImage = GetComponent<RawImage>();
            if (face == null) face = GetComponent<VasaBridgeFace>();
        }

        /// <summary>Points this display at a face from code.</summary>
        public void SetFace(VasaBridgeFace source)
        {
            face = source;
            _lastSeq = -1;
        }

        void Update()
        {
            if (face == null) return;
            VasaSession s = face.Session;
            if (s != _shownSession) { _shownSession = s; _lastSeq = -1; } // a new line starts at seq 0 again
            if (s == null || s.Render == null || face.AudioTimeMs < 0) return;
            RenderFrame f;
            if (!s.Render.TryGetFrame(face.AudioTimeMs, _lastSeq, out f)) return;
            _lastSeq = f.Seq;
            if (f.IsJpeg) UploadJpeg(f);
            else UploadRgba(f);
            if (rawImage != null && rawImage.texture != _texture) rawImage.texture = _texture;
            if (material != null) material.SetTexture(textureProperty, _texture);
        }

        void UploadJpeg(RenderFrame f)
        {
            if (_texture == null) _texture = new Texture2D(2, 2, TextureFormat.RGB24, false) { name = "VasaBridge frames" };
            // LoadImage decodes a whole array: give it one of exactly the image's length (reused while sizes repeat).
            if (_jpegScratch.Length != f.Length) _jpegScratch = new byte[f.Length];
            Buffer.BlockCopy(f.Data, 0, _jpegScratch, 0, f.Length);
            _texture.LoadImage(_jpegScratch, false); // resizes the texture to the image
        }

        void UploadRgba(RenderFrame f)
        {
            if (_texture == null || _texture.width != f.Width || _texture.height != f.Height || _texture.format != TextureFormat.RGBA32)
            {
                if (_texture != null) Destroy(_texture);
                _texture = new Texture2D(f.Width, f.Height, TextureFormat.RGBA32, false) { name = "VasaBridge frames" };
            }
            // The stream's rows run top to bottom; Unity's texture rows run bottom to top.
            NativeArray<byte> dst = _texture.GetRawTextureData<byte>();
            int row = f.Width * 4;
            for (int y = 0; y < f.Height; y++)
                NativeArray<byte>.Copy(f.Data, y * row, dst, (f.Height - 1 - y) * row, row);
            _texture.Apply(false);
        }

        void OnDestroy()
        {
            if (_texture != null) Destroy(_texture);
        }
    }
}
