// The CutScene sample: a baked line played by a Timeline, without the sidecar. Open CutScene.unity and press Play
// (or add this component to an empty GameObject). It builds the demo head, then a TimelineAsset with an Animation
// track (the baked clip, imported by VasaClipImporter) bound to the head's Animator and an Audio track (the line)
// bound to an AudioSource, and plays it. The same two tracks made by hand in the Timeline window do the same.
using UnityEngine;
using UnityEngine.Playables;
using UnityEngine.Timeline;
using VasaBridge.Unity;

namespace VasaBridge.Samples
{
    [AddComponentMenu("VasaBridge/Baked Line Cut-Scene")]
    public sealed class BakedLineCutScene : MonoBehaviour
    {
        [Tooltip("The baked line as an AnimationClip (VasaClipImporter); empty = Resources/vasa_demo_line_motion")]
        [SerializeField] AnimationClip faceClip;
        [Tooltip("The line's audio; empty = Resources/vasa_demo_line (from the Talking Head sample)")]
        [SerializeField] AudioClip line;
        [Tooltip("Mesh JSON of the head; empty = Resources/vasa_head_mesh (from the Talking Head sample)")]
        [SerializeField] TextAsset headMeshJson;
        [Tooltip("Optional material for the head (a vertex-colour material for URP/HDRP projects)")]
        [SerializeField] Material headMaterial;
        [SerializeField] bool loop = true;

        string _status = "starting";
        PlayableDirector _director;

        void Start()
        {
            if (faceClip == null) faceClip = Resources.Load<AnimationClip>("vasa_demo_line_motion");
            if (line == null) line = Resources.Load<AudioClip>("vasa_demo_line");
            if (headMeshJson == null) headMeshJson = Resources.Load<TextAsset>("vasa_head_mesh");
            if (faceClip == null)
            {
                Fail("Resources/vasa_demo_line_motion.json was not imported as an AnimationClip: select it and use " +
                     "Assets > vasa_bridge > Import as Baked Clip");
                return;
            }
            if (line == null || headMeshJson == null)
            {
                Fail("missing the head mesh or the line's audio: import the Talking Head sample too (it holds both)");
                return;
            }
            // The clip's curves name paths from the Animator: vasa_head/head (blend shapes), vasa_head (head
            // rotation), vasa_head/eyeLeft|eyeRight (gaze) — the importer settings in the clip's .meta.
            var actor = new GameObject("Actor");
            actor.transform.SetParent(transform, false);
            GameObject head = VasaHeadBuilder.Build(headMeshJson.text, headMaterial, actor.transform);
            Animator animator = actor.AddComponent<Animator>();
            FrameWithCamera(head.transform);

            var voice = gameObject.AddComponent<AudioSource>();
            voice.playOnAwake = false;
            voice.spatialBlend = 0f;

            var timeline = ScriptableObject.CreateInstance<TimelineAsset>();
            timeline.name = "Baked line";
            var faceTrack = timeline.CreateTrack<AnimationTrack>(null, "Face");
            faceTrack.CreateClip(faceClip).start = 0;
            var voiceTrack = timeline.CreateTrack<AudioTrack>(null, "Voice");
            voiceTrack.CreateClip(line).start = 0;

            _director = gameObject.AddComponent<PlayableDirector>();
            _director.playOnAwake = false;
            _director.playableAsset = timeline;
            _director.extrapolationMode = loop ? DirectorWrapMode.Loop : DirectorWrapMode.Hold;
            _director.SetGenericBinding(faceTrack, animator);
            _director.SetGenericBinding(voiceTrack, voice);
            _director.Play();
            _status = "playing '" + faceClip.name + "' (" + faceClip.length.ToString("F2") + " s) with '" + line.name
                + "'";
        }

        void Fail(string why)
        {
            _status = why;
            Debug.LogError("[VasaBridge cut-scene] " + why);
        }

        static void FrameWithCamera(Transform head)
        {
            Camera cam = Camera.main;
            if (cam == null) return;
            // The head faces +Z (mesh JSON axes kept in Unity); look at it from the front.
            cam.transform.position = head.position + new Vector3(0f, 0.02f, 0.5f);
            cam.transform.rotation = Quaternion.LookRotation(new Vector3(0f, 0f, -1f), Vector3.up);
            cam.nearClipPlane = 0.01f;
            cam.fieldOfView = 35f;
        }

        void OnGUI()
        {
            GUI.Label(new Rect(10, 10, 900, 22), "vasa_bridge baked line — synthetic motion — " + _status);
            if (_director != null) GUI.Label(new Rect(10, 30, 900, 22), "timeline " + _director.time.ToString("F2")
                + " s");
        }
    }
}
