using System.Collections.Generic;
using UnityEngine;

namespace VasaBridge.Unity
{
    /// <summary>
    /// Drives a rig that does not use ARKit names from a VasaBridgeFace, through a rig preset of the package's
    /// table (Resources/vasa_rig_presets.json): "vrm1", "vrm0", "oculus_visemes", "cc4_extended", "arkit_lr".
    /// Blend shapes of `renderers` that stand for a preset target (RigPreset.MatchShape: the target's name, or
    /// a name ending in "_" + it, case-insensitive) are set each frame; for rigs whose expressions are not blend shapes (UniVRM's
    /// Vrm10Instance), read GetWeight("aa") etc. and hand them to the avatar's expression API.
    /// </summary>
    [AddComponentMenu("vasa_bridge/Rig Preset Driver")]
    [DisallowMultipleComponent]
    public sealed class VasaRigPresetDriver : MonoBehaviour
    {
        [SerializeField] VasaBridgeFace face;
        [Tooltip("vrm1, vrm0, oculus_visemes, cc4_extended or arkit_lr")]
        [SerializeField] string preset = "vrm1";
        [SerializeField] SkinnedMeshRenderer[] renderers = new SkinnedMeshRenderer[0];
        [Tooltip("Scales every target weight (Unity blend shapes run 0..100; 1 = full)")]
        [Range(0f, 2f)] [SerializeField] float weightScale = 1f;

        struct Binding { public SkinnedMeshRenderer renderer; public int shape; public int target; }

        RigPreset _preset;
        float[] _weights = new float[0];
        Binding[] _bindings = new Binding[0];
        VasaSession _boundSession;

        public RigPreset Preset { get { return _preset; } }

        /// <summary>Current weight (0..1) of a preset target, or 0 if the preset has no such target.</summary>
        public float GetWeight(string target)
        {
            int k = _preset != null ? _preset.IndexOf(target) : -1;
            return k >= 0 && k < _weights.Length ? _weights[k] : 0f;
        }

        void Awake()
        {
            var table = Resources.Load<TextAsset>(RigPresets.ResourceName);
            if (table == null)
            {
                Debug.LogError("VasaRigPresetDriver: Resources/" + RigPresets.ResourceName + ".json is missing");
                enabled = false;
                return;
            }
            Dictionary<string, RigPreset> presets = RigPresets.Parse(table.text);
            if (!presets.TryGetValue(preset, out _preset))
            {
                Debug.LogError("VasaRigPresetDriver: no preset '" + preset + "'; choose one of " +
                               string.Join(", ", new List<string>(presets.Keys).ToArray()));
                enabled = false;
                return;
            }
            _weights = new float[_preset.Targets.Length];
            BindRenderers();
        }

        /// <summary>(Re)matches the renderers' blend shapes to the preset's targets; call after changing them.</summary>
        public void BindRenderers()
        {
            var bindings = new List<Binding>();
            foreach (SkinnedMeshRenderer smr in renderers)
            {
                if (smr == null || smr.sharedMesh == null) continue;
                for (int i = 0; i < smr.sharedMesh.blendShapeCount; i++)
                {
                    int k = _preset.MatchShape(smr.sharedMesh.GetBlendShapeName(i));
                    if (k >= 0) bindings.Add(new Binding { renderer = smr, shape = i, target = k });
                }
            }
            _bindings = bindings.ToArray();
        }

        void LateUpdate()
        {
            if (face == null || _preset == null) return;
            VasaSession session = face.Session;
            float[] frame = face.CurrentFrame;
            if (session != null && session != _boundSession)
            {
                _preset.Bind(session.ChannelNames);
                _boundSession = session;
            }
            if (frame.Length == 0)
            {
                for (int k = 0; k < _weights.Length; k++) _weights[k] = 0f;
            }
            else
            {
                _preset.Apply(frame, _weights);
                float amount = (1f - face.RestBlend) * weightScale;   // ease back to rest with the face
                for (int k = 0; k < _weights.Length; k++) _weights[k] *= amount;
            }
            foreach (Binding b in _bindings) b.renderer.SetBlendShapeWeight(b.shape, _weights[b.target] * 100f);
        }
    }
}
