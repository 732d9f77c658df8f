// Makes a Unity face talk from the vasa_bridge motion stream: ARKit blendshapes onto SkinnedMeshRenderers, head
// pose onto a head transform, gaze onto eye transforms, and the line's audio from an AudioSource in sync.
//
// Threads: none of its own. Update() on the main thread steps the line (VasaLineStreamer: open, audio and end_audio
// as non-blocking requests) and samples the session's jitter buffer at the audio playback position. On desktop the
// client's network threads decode frames into that lock-free buffer; in a WebGL player VasaBridgeClient.Update does
// it, on the main thread, from the browser's WebSocket (the sidecar's ws:// URL). Nothing waits for a reply, and
// nothing is locked or allocated per frame while a line plays.
using System;
using System.Collections.Generic;
using System.IO;
using UnityEngine;
using UnityEngine.Events;

namespace VasaBridge.Unity
{
    /// <summary>Points one ARKit channel at a differently named blend shape (VRM, Ready Player Me, custom rigs).</summary>
    [Serializable]
    public struct BlendShapeRemap
    {
        [Tooltip("ARKit name as in the stream, e.g. jawOpen (case-insensitive)")]
        public string arkitName;
        [Tooltip("Blend shape name on the mesh, e.g. Fcl_MTH_A (case-insensitive); empty = do not drive this channel")]
        public string blendShapeName;
        [Tooltip("Multiplier on the 0..1 value before it becomes a 0..100 weight (0 counts as 1)")]
        public float weightScale;
    }

    [Serializable] public class VasaBridgeStringEvent : UnityEvent<string> { }

    [DisallowMultipleComponent]
    [AddComponentMenu("VasaBridge/VasaBridge Face")]
    public sealed class VasaBridgeFace : MonoBehaviour
    {
        [Header("Sidecar (vasa-bridge serve)")]
        [SerializeField] string host = "127.0.0.1";
        [SerializeField] int requestPort = ProtocolInfo.DefaultRequestPort;
        [SerializeField] int streamPort = ProtocolInfo.DefaultStreamPort;
        [Tooltip("ws://host:5572/ for the sidecar's WebSocket binding; empty: ZeroMQ at Host and the ports above")]
        [SerializeField] string url = "";
        [Tooltip("Only when the sidecar was started with --token")]
        [SerializeField] string token = "";
        [Tooltip("When the server serving a line is lost (a cluster replica, a restarted sidecar), open the line's session again on the same address and resend its unanswered audio, so the face plays on; off: the line ends with connection_lost")]
        [SerializeField] bool reopenLostLines = true;
        [Tooltip("A lost line fails (onError, reopen_failed) when no server took it again within this long")]
        [SerializeField] int reopenTimeoutMs = 10000;

        [Header("Rig")]
        [Tooltip("Renderers whose blend shapes are driven (face, teeth, tongue, eyes...). Every renderer that has a shape of a channel's name gets it.")]
        [SerializeField] SkinnedMeshRenderer[] faceRenderers = new SkinnedMeshRenderer[0];
        [Tooltip("Channels whose blend shapes are named differently on this rig")]
        [SerializeField] BlendShapeRemap[] remap = new BlendShapeRemap[0];
        [Tooltip("Global multiplier on all blendshape values")]
        [SerializeField] float blendShapeGain = 1f;
        [Tooltip("Rotated by headPitch/headYaw/headRoll, relative to its rest rotation")]
        [SerializeField] Transform head;
        [Tooltip("Sign per axis (x: pitch, y: yaw, z: roll) to match the bone's local axes; the demo head uses (1, -1, 1)")]
        [SerializeField] Vector3 headAxisSigns = new Vector3(1f, -1f, 1f);
        [SerializeField, Range(0f, 2f)] float headRotationScale = 1f;
        [Tooltip("Rotated by gazeYaw/gazePitch, relative to their rest rotations")]
        [SerializeField] Transform leftEye, rightEye;
        [Tooltip("Sign per axis (x: pitch, y: yaw) to match the eye bones' local axes")]
        [SerializeField] Vector2 eyeAxisSigns = new Vector2(-1f, -1f);

        [Header("Audio and timing")]
        [SerializeField] AudioSource audioSource;
        [Tooltip("Motion buffered beyond the sidecar's lookahead before the audio starts (network and processing jitter)")]
        [SerializeField] float extraLatencyMs = 100f;

        [Header("Rendered frames (sidecar started with `vasa-bridge serve --render`)")]
        [Tooltip("Also ask for rendered images of a portrait; show them with VasaBridgeTexture (e.g. on a RawImage). A sidecar without a renderer refuses the line with unsupported_output")]
        [SerializeField] RenderedFrames renderedFrames = RenderedFrames.None;
        [Tooltip("The face to animate, any Texture2D (Read/Write not needed: it is copied on the GPU, scaled to at most 1024 px and sent as a JPEG). Empty: Portrait File, else the sidecar's demo portrait")]
        [SerializeField] Texture2D portrait;
        [Tooltip("Or an image file (PNG, JPEG, WebP, BMP, TIFF) sent as is, at most about 1 MB; a relative path is under StreamingAssets (not on Android/WebGL, where StreamingAssets is not a folder: use Portrait or SetPortrait(bytes))")]
        [SerializeField] string portraitFile = "";
        [Tooltip("Square render size in pixels, one of the sidecar's sizes (256 or 512); 0 = the sidecar's default (256)")]
        [SerializeField] int renderSize = 0;
        [Tooltip("JPEG quality 1..95 for Jpeg frames; 0 = the sidecar's default (85)")]
        [SerializeField, Range(0, 95)] int jpegQuality = 0;
        [Tooltip("Corner of the visible 'synthetic' mark every rendered image carries. It can be moved, never removed")]
        [SerializeField] MarkCorner markPosition = MarkCorner.SidecarDefault;
        [Tooltip("While rendering, audio is pushed at most this far ahead of playback, so the rendered images waiting to be shown stay within the session's render buffer")]
        [SerializeField] float renderAheadMs = 4000f;

        [Header("Performance")]
        [Tooltip("neutral, happy, sad, angry or surprised")]
        [SerializeField] string emotion = "neutral";
        [SerializeField, Range(0f, 1f)] float emotionIntensity = 1f;

        [Header("Events (main thread)")]
        [Tooltip("A line's session opened and its motion is bound to the rig")]
        public UnityEvent onSessionStarted = new UnityEvent();
        [Tooltip("A line is over: end_of_audio once its last frame has played; closed, connection_lost, idle, shutdown, error or heartbeat_timeout at once")]
        public VasaBridgeStringEvent onSessionEnded = new VasaBridgeStringEvent();
        public VasaBridgeStringEvent onError = new VasaBridgeStringEvent();

        public enum RenderedFrames { None, Jpeg, Rgba }

        /// <summary>Where the synthetic mark sits on rendered images (SidecarDefault: bottom-right).</summary>
        public enum MarkCorner { SidecarDefault, BottomRight, BottomLeft, TopRight, TopLeft }

        static string MarkName(MarkCorner c)
        {
            switch (c)
            {
                case MarkCorner.BottomRight: return "bottom-right";
                case MarkCorner.BottomLeft: return "bottom-left";
                case MarkCorner.TopRight: return "top-right";
                case MarkCorner.TopLeft: return "top-left";
                default: return null;
            }
        }

        struct Binding { public SkinnedMeshRenderer renderer; public int shape; public int channel; public float scale; }

        VasaBridgeClient _client;
        VasaLineStreamer _line;        // the line being sent (null between lines)
        VasaLineStreamer _boundLine;   // the line whose session is bound to the rig
        readonly List<VasaLineStreamer> _stoppedLines = new List<VasaLineStreamer>(); // stepped until their close is sent

        VasaSession _session;          // the session driving the face
        Binding[] _bindings = new Binding[0];
        float[] _frame = new float[0];
        int _chPitch = -1, _chYaw = -1, _chRoll = -1, _chGazeYaw = -1, _chGazePitch = -1;
        Quaternion _headRest, _leftEyeRest, _rightEyeRest;
        bool _audioScheduled;
        double _dspStart;
        double _clipLengthMs;
        float _neutralBlend;           // 0 while speaking, rises to 1 after the stream ended (ease back to rest)
        SampleStatus _lastStatus = SampleStatus.NoData;
        bool _endAnnounced;
        readonly PlaybackClock _clock = new PlaybackClock();
        byte[] _portraitBytes;            // SetPortrait(bytes): sent as is
        Texture2D _encodedFor;            // the texture _encodedPortrait was made from
        byte[] _encodedPortrait;

        /// <summary>The session now driving the face (null between lines). Main thread.</summary>
        public VasaSession Session { get { return _session; } }
        /// <summary>Playback position of the line's audio in ms (the clock frames are scheduled on), -1 before it starts.</summary>
        public double AudioTimeMs { get; private set; }
        public SampleStatus LastSampleStatus { get { return _lastStatus; } }
        public RenderedFrames RequestedRenderedFrames { get { return renderedFrames; } }
        /// <summary>The frame sampled this Update, in Session.ChannelNames order (for VasaRigPresetDriver).</summary>
        public float[] CurrentFrame { get { return _frame; } }
        /// <summary>0 while speaking, rising to 1 as the face eases back to rest after the line.</summary>
        public float RestBlend { get { return _neutralBlend; } }

        void Awake()
        {
            AudioTimeMs = -1;
            if (audioSource == null) audioSource = GetComponent<AudioSource>();
            if (head != null) _headRest = head.localRotation;
            if (leftEye != null) _leftEyeRest = leftEye.localRotation;
            if (rightEye != null) _rightEyeRest = rightEye.localRotation;
        }

        /// <summary>Sets up the rig from code (the sample builds its head at run time). Call before Speak.</summary>
        public void Configure(SkinnedMeshRenderer[] renderers, Transform headTransform, Transform leftEyeTransform,
                              Transform rightEyeTransform, AudioSource source)
        {
            faceRenderers = renderers;
            head = headTransform; leftEye = leftEyeTransform; rightEye = rightEyeTransform;
            audioSource = source;
            Awake();
        }

        public void SetEndpoint(string sidecarHost, int sidecarRequestPort, int sidecarStreamPort)
        {
            host = sidecarHost; requestPort = sidecarRequestPort; streamPort = sidecarStreamPort;
        }

        /// <summary>The sidecar by URL: "ws://host:5572/" (WebSocket binding) or "tcp://host:5570" (ZeroMQ).</summary>
        public void SetUrl(string sidecarUrl) { url = sidecarUrl ?? ""; }

        /// <summary>Asks for rendered frames from the next line on (None: motion only). Size 0 and quality 0 keep
        /// the sidecar's defaults.</summary>
        public void SetRenderOptions(RenderedFrames frames, int sizePixels = 0, int quality = 0, MarkCorner mark = MarkCorner.SidecarDefault)
        {
            renderedFrames = frames; renderSize = sizePixels; jpegQuality = quality; markPosition = mark;
        }

        /// <summary>The portrait as an image file's bytes (PNG, JPEG, ...), e.g. from a download or a
        /// TextAsset.bytes; it wins over the Portrait texture and Portrait File. Null: back to those.</summary>
        public void SetPortrait(byte[] imageFile)
        {
            _portraitBytes = imageFile;
        }

        /// <summary>The portrait as a texture (encoded to JPEG when the next line starts; call again after
        /// changing its pixels).</summary>
        public void SetPortrait(Texture2D texture)
        {
            _portraitBytes = null;
            portrait = texture;
            _encodedFor = null;
            _encodedPortrait = null;
        }

        /// <summary>Copies a texture on the GPU (so it needs no Read/Write flag), scaled to at most 1024 px on its
        /// long side (the sidecar renders at 512 px at most; the whole `open` must stay under its 1 MiB message
        /// limit), and encodes it as a JPEG.</summary>
        static byte[] EncodePortrait(Texture2D texture)
        {
            float scale = Math.Min(1f, 1024f / Math.Max(texture.width, texture.height));
            int w = Math.Max(1, (int)(texture.width * scale)), h = Math.Max(1, (int)(texture.height * scale));
            RenderTexture rt = RenderTexture.GetTemporary(w, h, 0, RenderTextureFormat.ARGB32, RenderTextureReadWrite.sRGB);
            RenderTexture previous = RenderTexture.active;
            var copy = new Texture2D(w, h, TextureFormat.RGB24, false);
            try
            {
                Graphics.Blit(texture, rt);
                RenderTexture.active = rt;
                copy.ReadPixels(new Rect(0, 0, w, h), 0, 0);
                copy.Apply(false);
                return copy.EncodeToJPG(92);
            }
            finally
            {
                RenderTexture.active = previous;
                RenderTexture.ReleaseTemporary(rt);
                Destroy(copy);
            }
        }

        /// <summary>The portrait for a line: bytes set from code, the texture (encoded once per texture), or null
        /// with the file path to read.</summary>
        byte[] PortraitForLine(out string filePath)
        {
            filePath = null;
            if (_portraitBytes != null) return _portraitBytes;
            if (portrait != null)
            {
                if (_encodedFor != portrait || _encodedPortrait == null)
                {
                    _encodedPortrait = EncodePortrait(portrait);
                    _encodedFor = portrait;
                }
                return _encodedPortrait;
            }
            if (!string.IsNullOrEmpty(portraitFile))
                filePath = Path.IsPathRooted(portraitFile) ? portraitFile : Path.Combine(Application.streamingAssetsPath, portraitFile);
            return null;
        }

        // ---- API (main thread) --------------------------------------------------------------------------------

        /// <summary>Speaks a clip: streams its audio to the sidecar and plays it once enough motion is buffered.
        /// The clip must be readable (Load Type "Decompress On Load"; not "Streaming").</summary>
        public void Speak(AudioClip clip)
        {
            if (clip == null) throw new ArgumentNullException("clip");
            var data = new float[clip.samples * clip.channels];
            if (!clip.GetData(data, 0))
            {
#if UNITY_WEBGL && !UNITY_EDITOR
                // GetData is not among the AudioClip APIs Unity lists as supported in WebGL (browser-decoded audio).
                RaiseError("cannot read the samples of '" + clip.name + "' in a WebGL player: decode them yourself "
                    + "(e.g. a WAV shipped as a TextAsset) and call SpeakSamples, playing the audio your own way");
#else
                RaiseError("cannot read the samples of '" + clip.name + "': set its Load Type to Decompress On Load");
#endif
                return;
            }
            float[] mono = data;
            if (clip.channels > 1)
            {
                mono = new float[clip.samples];
                for (int i = 0; i < clip.samples; i++)
                {
                    float sum = 0;
                    for (int c = 0; c < clip.channels; c++) sum += data[i * clip.channels + c];
                    mono[i] = sum / clip.channels;
                }
            }
            StopLine();
            if (audioSource != null) audioSource.clip = clip;
            _clipLengthMs = clip.samples * 1000.0 / clip.frequency;
            StartLine(mono, clip.frequency);
        }

        /// <summary>Speaks raw mono samples (-1..1) without playing them (drive your own audio, or none).</summary>
        public void SpeakSamples(float[] monoSamples, int sampleRateHz)
        {
            StopLine();
            if (audioSource != null) audioSource.clip = null;
            _clipLengthMs = monoSamples.Length * 1000.0 / sampleRateHz;
            StartLine(monoSamples, sampleRateHz);
        }

        /// <summary>Changes performance controls of the current line (emotion, gaze target, head distance).</summary>
        public void SetControls(VasaControls controls)
        {
            if (_line != null) _line.SetControls(controls);
        }

        /// <summary>Stops the current line: audio stops, the session is closed, the face eases back to rest.</summary>
        public void StopLine()
        {
            if (audioSource != null && audioSource.isPlaying) audioSource.Stop();
            _audioScheduled = false;
            AudioTimeMs = -1;
            _session = null;
            if (_line == null) return;
            _line.Stop(); // no more audio; its session is closed now, or by a later Update once open_ok arrives
            if (!_line.IsDone) _stoppedLines.Add(_line);
            _line = null;
        }

        // ---- the line ------------------------------------------------------------------------------------------

        void StartLine(float[] mono, int sampleRateHz)
        {
            EnsureClient();
            var initial = new VasaControls().Emotion(string.IsNullOrEmpty(emotion) ? "neutral" : emotion, emotionIntensity);
            var outputs = new List<string>();
            if (renderedFrames == RenderedFrames.Jpeg) outputs.Add("frames_jpeg");
            if (renderedFrames == RenderedFrames.Rgba) outputs.Add("frames_rgba");
            bool rendering = outputs.Count > 0;
            string portraitPath = null;
            byte[] portraitBytes = rendering ? PortraitForLine(out portraitPath) : null;
            double aheadMs = Math.Max(1000.0, renderAheadMs);
            var options = new OpenOptions { SampleRateHz = sampleRateHz, Controls = initial };
            options.ExtraOutputs.AddRange(outputs);
            if (rendering)
            {
                options.RenderSize = Math.Max(0, renderSize);
                options.JpegQuality = Math.Max(0, Math.Min(95, jpegQuality));
                options.MarkPosition = MarkName(markPosition);
                // Room for everything pushed ahead of playback, plus the images of the lookahead and a margin.
                options.RenderBufferFrames = Math.Max(OpenOptions.DefaultRenderBufferFrames, (int)((aheadMs + 2000.0) / 40.0));
            }
            try
            {
                options.Portrait = portraitPath != null ? ReadPortraitFile(portraitPath) : portraitBytes;
                // Audio goes as fast as the sidecar accepts it (it rate-limits at many times real time): the face
                // is scheduled on the audio clock, so arriving early only fills the jitter buffer. Rendered images
                // wait in the render buffer until played, so then pushing stays within renderAheadMs of playback.
                // Re-opened on the same client: a cluster's ws:// address routes the new connection to a live
                // replica. (ZeroMQ through a cluster directory needs VasaReopener.ClusterDirectory and a client
                // from VasaClusterDirectory.Assign: see the package README.)
                _line = new VasaLineStreamer(_client, options, mono, sampleRateHz,
                                             rendering ? aheadMs : double.PositiveInfinity,
                                             reopenLostLines ? VasaReopener.SameAddress(Math.Max(1000, reopenTimeoutMs)) : null);
            }
            catch (VasaBridgeException e) { RaiseError(e.Message); } // bad options or portrait: nothing was sent
        }

        /// <summary>Moves the current line and stopped ones on (main thread, every frame).</summary>
        void StepLines()
        {
            for (int i = _stoppedLines.Count - 1; i >= 0; i--)
            {
                _stoppedLines[i].Step(-1);
                if (_stoppedLines[i].IsDone) _stoppedLines.RemoveAt(i);
            }
            if (_line == null) return;
            _line.Step(AudioTimeMs);
            _client = _line.Client; // a re-open may have moved the line to a new client (the old one is disposed)
            if (_line.Error != null)
            {
                VasaBridgeException e = _line.Error;
                _line = null;
                string where = string.IsNullOrEmpty(url) ? "tcp://" + host + ":" + requestPort + " and :" + streamPort : url;
                RaiseError(e.Code == "disconnected" ? "cannot reach the sidecar at " + where
                    + "; start it with `vasa-bridge serve` (the client keeps retrying): " + e.Message : e.Message);
                return;
            }
            if (_line.Session != null && _boundLine != _line)
            {
                _boundLine = _line;
                Bind(_line.Session);
            }
            else if (_boundLine == _line && _session != null) _session = _line.Session; // a re-open: same buffers, no re-bind
        }

        static byte[] ReadPortraitFile(string path)
        {
            try
            {
                return File.ReadAllBytes(path);
            }
            catch (Exception e) when (e is IOException || e is UnauthorizedAccessException || e is NotSupportedException)
            {
                throw new VasaBridgeException("bad_request", "cannot read the portrait file '" + path + "': " + e.Message);
            }
        }

        void EnsureClient()
        {
            if (_client != null) return;
            var options = new VasaBridgeClientOptions
            {
                Host = host, RequestPort = requestPort, StreamPort = streamPort,
                Url = string.IsNullOrEmpty(url) ? null : url,
                Token = string.IsNullOrEmpty(token) ? null : token,
                ConnectWaitMs = 3000, // the first line may start right after the client: give the link time to connect
            };
            _client = new VasaBridgeClient(options);
            _client.Start();
        }

        // ---- main thread, every frame --------------------------------------------------------------------------

        void Update()
        {
            if (_client != null) _client.Update(); // WebGL: delivers the browser's messages; elsewhere: cheap
            StepLines();
            DrainEvents();
            VasaSession s = _session;
            if (s == null) { EaseToRest(); return; }

            if (!_audioScheduled)
            {
                // Start the audio once the motion covers the sidecar's lookahead plus a margin (or the whole
                // line), so the face never waits for frames: sync is then exact on the audio clock.
                double needMs = Math.Min(_clipLengthMs, s.LookaheadMs + extraLatencyMs);
                if (s.Motion.BufferedUntilMs >= needMs || s.State == SessionState.Ended)
                {
                    _dspStart = AudioSettings.dspTime + 0.05; // a little ahead so the mixer starts exactly there
                    if (audioSource != null && audioSource.clip != null) audioSource.PlayScheduled(_dspStart);
                    _audioScheduled = true;
                }
                else return;
            }
            AudioTimeMs = AudioClockMs();
            if (AudioTimeMs < 0) return;
            _lastStatus = s.Motion.Sample(AudioTimeMs, _frame);
            if (_lastStatus == SampleStatus.NoData) return;
            _neutralBlend = _lastStatus == SampleStatus.Finished ? Mathf.MoveTowards(_neutralBlend, 1f, Time.deltaTime * 4f) : 0f;
            Apply(1f - _neutralBlend);
            if (_lastStatus == SampleStatus.Finished && !_endAnnounced)
            {
                // The stream's `end` arrived long ago (audio is pushed faster than real time); the line is over
                // for the player only now that its last frame has played.
                _endAnnounced = true;
                onSessionEnded.Invoke(s.EndReason ?? "end_of_audio");
            }
            if (_lastStatus == SampleStatus.Finished && _neutralBlend >= 1f) _session = null;
        }

        /// <summary>The line's playback position: the audio system's, smoothed by a PlaybackClock (it reports in
        /// mixer blocks).</summary>
        double AudioClockMs()
        {
            double audioMs = (AudioSettings.dspTime - _dspStart) * 1000.0;
            if (audioSource != null && audioSource.clip != null && audioSource.isPlaying)
            {
                double sourceMs = audioSource.timeSamples * 1000.0 / audioSource.clip.frequency;
                if (Math.Abs(sourceMs - audioMs) > 100) audioMs = sourceMs; // paused or seeked: the source knows
            }
            return _clock.Update(audioMs, Time.unscaledDeltaTime * 1000.0);
        }

        void EaseToRest()
        {
            if (_frame.Length == 0 || _neutralBlend >= 1f) return;
            _neutralBlend = Mathf.MoveTowards(_neutralBlend, 1f, Time.deltaTime * 4f);
            Apply(1f - _neutralBlend);
        }

        void Apply(float amount)
        {
            for (int i = 0; i < _bindings.Length; i++)
            {
                Binding b = _bindings[i];
                float v = Mathf.Clamp01(_frame[b.channel] * b.scale * blendShapeGain) * amount;
                b.renderer.SetBlendShapeWeight(b.shape, v * 100f); // Unity weights are 0..100
            }
            if (head != null && _chPitch >= 0)
            {
                float k = Mathf.Rad2Deg * headRotationScale * amount;
                head.localRotation = _headRest * Quaternion.Euler(headAxisSigns.x * _frame[_chPitch] * k,
                                                                  headAxisSigns.y * _frame[_chYaw] * k,
                                                                  headAxisSigns.z * _frame[_chRoll] * k);
            }
            if (_chGazeYaw >= 0)
            {
                float k = Mathf.Rad2Deg * amount;
                Quaternion gaze = Quaternion.Euler(eyeAxisSigns.x * _frame[_chGazePitch] * k, eyeAxisSigns.y * _frame[_chGazeYaw] * k, 0f);
                if (leftEye != null) leftEye.localRotation = _leftEyeRest * gaze;
                if (rightEye != null) rightEye.localRotation = _rightEyeRest * gaze;
            }
        }

        /// <summary>Maps the session's channels to this rig (once per line, may allocate).</summary>
        void Bind(VasaSession s)
        {
            _session = s;
            _endAnnounced = false;
            _clock.Reset();
            _audioScheduled = false;
            _neutralBlend = 0f;
            AudioTimeMs = -1;
            if (_frame.Length != s.ChannelNames.Length) _frame = new float[s.ChannelNames.Length];
            var bindings = new List<Binding>();
            var rename = new Dictionary<string, BlendShapeRemap>(StringComparer.OrdinalIgnoreCase);
            foreach (BlendShapeRemap r in remap) if (!string.IsNullOrEmpty(r.arkitName)) rename[r.arkitName] = r;
            foreach (SkinnedMeshRenderer smr in faceRenderers)
            {
                if (smr == null || smr.sharedMesh == null) continue;
                Mesh mesh = smr.sharedMesh;
                var shapes = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
                for (int i = 0; i < mesh.blendShapeCount; i++)
                {
                    string name = mesh.GetBlendShapeName(i);
                    shapes[name] = i;
                    // Exporters often prefix shapes ("blendShape1.jawOpen", "Face.jawOpen"): match the last part too.
                    int dot = name.LastIndexOf('.');
                    if (dot >= 0 && !shapes.ContainsKey(name.Substring(dot + 1))) shapes[name.Substring(dot + 1)] = i;
                }
                for (int c = 0; c < 52 && c < s.ChannelNames.Length; c++)
                {
                    string target = s.ChannelNames[c];
                    float scale = 1f;
                    BlendShapeRemap r;
                    if (rename.TryGetValue(target, out r))
                    {
                        if (string.IsNullOrEmpty(r.blendShapeName)) continue;
                        target = r.blendShapeName;
                        scale = r.weightScale == 0f ? 1f : r.weightScale;
                    }
                    int index;
                    if (shapes.TryGetValue(target, out index))
                        bindings.Add(new Binding { renderer = smr, shape = index, channel = c, scale = scale });
                }
            }
            _bindings = bindings.ToArray();
            _chPitch = s.ChannelIndex("headPitch"); _chYaw = s.ChannelIndex("headYaw"); _chRoll = s.ChannelIndex("headRoll");
            _chGazeYaw = s.ChannelIndex("gazeYaw"); _chGazePitch = s.ChannelIndex("gazePitch");
            if (_chYaw < 0 || _chRoll < 0) _chPitch = -1;
            if (_chGazePitch < 0) _chGazeYaw = -1;
            if (_bindings.Length == 0)
                RaiseError("none of the 52 ARKit channels matched a blend shape on the face renderers: add the renderers, or a remap table for this rig");
            onSessionStarted.Invoke();
        }

        void DrainEvents()
        {
            VasaBridgeEvent e;
            if (_client == null) return;
            while (_client.TryDequeueEvent(out e)) Dispatch(e);
        }

        void Dispatch(VasaBridgeEvent e)
        {
            switch (e.Kind)
            {
                case VasaBridgeEventKind.SessionEnded:
                    if (e.Code == "end_of_audio") break; // announced when its last frame has played (Update)
                    if (_line != null && _line.ReopensLostSessions && VasaSession.IsLoss(e.Code)) break; // re-opening
                    if (_session != null && e.SessionId == _session.Id && !_endAnnounced)
                    {
                        _endAnnounced = true;
                        onSessionEnded.Invoke(e.Code);
                    }
                    if (e.Code != "closed") RaiseError(e.Message);
                    break;
                case VasaBridgeEventKind.Error:
                case VasaBridgeEventKind.ConnectionLost:
                    RaiseError(e.ToString());
                    break;
                default:
                    break;
            }
        }

        void RaiseError(string message)
        {
            Debug.LogWarning("[VasaBridge] " + message, this);
            onError.Invoke(message);
        }

        void OnDisable()
        {
            StopLine();
        }

        void OnDestroy()
        {
            // Closing the connection ends its sessions at the sidecar, including a stopped line still opening.
            if (_client != null) _client.Dispose();
            _client = null;
        }
    }
}
