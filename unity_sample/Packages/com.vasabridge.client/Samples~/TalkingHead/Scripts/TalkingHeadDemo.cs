// The TalkingHead sample: add this component to an empty GameObject in an empty scene and press Play (with
// `vasa-bridge serve` running). It builds the demo head from Resources/vasa_head_mesh.json, frames it with a camera
// and a light, and speaks Resources/vasa_demo_line.wav through a VasaBridgeFace. Space or the button repeats it.
using UnityEngine;
using VasaBridge.Unity;

namespace VasaBridge.Samples
{
    [AddComponentMenu("VasaBridge/Talking Head Demo")]
    public sealed class TalkingHeadDemo : MonoBehaviour
    {
        [Tooltip("Mesh JSON from `vasa-bridge avatar export`; empty = Resources/vasa_head_mesh")]
        [SerializeField] TextAsset headMeshJson;
        [Tooltip("The line to speak; empty = Resources/vasa_demo_line")]
        [SerializeField] AudioClip line;
        [Tooltip("Optional material for the head (a vertex-colour material for URP/HDRP projects)")]
        [SerializeField] Material headMaterial;
        [SerializeField] string sidecarHost = "127.0.0.1";
        [SerializeField] int requestPort = 5570;
        [SerializeField] int streamPort = 5571;

        VasaBridgeFace _face;
        string _status = "starting";

        void Start()
        {
            if (headMeshJson == null) headMeshJson = Resources.Load<TextAsset>("vasa_head_mesh");
            if (line == null) line = Resources.Load<AudioClip>("vasa_demo_line");
            if (headMeshJson == null || line == null)
            {
                _status = "missing Resources/vasa_head_mesh.json or Resources/vasa_demo_line.wav: import the sample again";
                Debug.LogError("[VasaBridge demo] " + _status);
                return;
            }
            GameObject head = VasaHeadBuilder.Build(headMeshJson.text, headMaterial, transform);
            Transform headPart = head.transform.Find("head");
            Transform eyeLeft = head.transform.Find("eyeLeft");
            Transform eyeRight = head.transform.Find("eyeRight");
            FrameWithCameraAndLight(head.transform);

            var audio = gameObject.AddComponent<AudioSource>();
            audio.playOnAwake = false;
            audio.spatialBlend = 0f;
            _face = gameObject.AddComponent<VasaBridgeFace>();
            _face.SetEndpoint(sidecarHost, requestPort, streamPort);
            // Gaze turns the eye objects; their eyeLook blend shapes would turn them a second time, so only the
            // head mesh's shapes are driven.
            _face.Configure(new[] { headPart.GetComponent<SkinnedMeshRenderer>() }, head.transform, eyeLeft, eyeRight, audio);
            _face.onSessionStarted.AddListener(() => _status = "speaking (session " + _face.Session.Id + ")");
            _face.onSessionEnded.AddListener(reason => _status = "line ended: " + reason + " — press Space to repeat");
            _face.onError.AddListener(message => _status = "error: " + message);
            _face.Speak(line);
            _status = "connecting to tcp://" + sidecarHost + ":" + requestPort + " ...";
        }

        static void FrameWithCameraAndLight(Transform head)
        {
            Camera cam = Camera.main;
            if (cam == null)
            {
                var go = new GameObject("Main Camera") { tag = "MainCamera" };
                cam = go.AddComponent<Camera>();
                go.AddComponent<AudioListener>();
            }
            // The head faces +Z (mesh JSON axes kept in Unity); look at it from the front.
            cam.transform.position = head.position + new Vector3(0f, 0.02f, 0.5f);
            cam.transform.rotation = Quaternion.LookRotation(new Vector3(0f, 0f, -1f), Vector3.up);
            cam.nearClipPlane = 0.01f;
            cam.fieldOfView = 35f;
            cam.clearFlags = CameraClearFlags.SolidColor;
            cam.backgroundColor = new Color(0.16f, 0.17f, 0.2f);
            if (Object.FindObjectOfType<Light>() == null)
            {
                var light = new GameObject("Key Light").AddComponent<Light>();
                light.type = LightType.Directional;
                light.transform.rotation = Quaternion.Euler(25f, 160f, 0f);
            }
        }

        void Update()
        {
#if ENABLE_LEGACY_INPUT_MANAGER
            if (Input.GetKeyDown(KeyCode.Space)) Repeat();
#endif
        }

        void Repeat()
        {
            if (_face != null && line != null) _face.Speak(line);
        }

        void OnGUI()
        {
            GUI.Label(new Rect(10, 10, 900, 22), "vasa_bridge talking head — synthetic motion — " + _status);
            if (_face != null)
                GUI.Label(new Rect(10, 30, 900, 22), "audio " + _face.AudioTimeMs.ToString("F0") + " ms, motion " + _face.LastSampleStatus +
                          (_face.Session != null ? ", buffered " + _face.Session.Motion.Buffered + " frames, underruns " + _face.Session.Motion.Underruns : ""));
            if (GUI.Button(new Rect(10, 56, 140, 26), "Speak again")) Repeat();
        }
    }
}
