"""Evaluation of the motion model against the amplitude baseline and the phonetic teacher.

The reference for every clip is the teacher's performance of it (seeded); "teacher" in the table is the teacher
run again with another seed, i.e. how close a second take of the same performer gets, with the transcript's phone
timings — the ceiling an audio-only model approaches. All measures are read off motion frames:

- aperture r: Pearson correlation of lip aperture (motion/measures.py) with the reference, mean over clips;
- bilabial hits: share of /p b m/ during which the lips close (aperture < LIPS_CLOSED_BELOW) within ±1 frame;
- A/V offset: lag (frames, + = late) maximising the cross-correlation of aperture with the reference's;
- blinks/min, head pose spread (degrees), and for the model the seam ratio: mean frame-to-frame change at window
  boundaries over the same inside windows (1.0 = seams invisible);
- control adherence: how far a control moves what it should (emotion → smile/brows, gaze target → gaze, head
  distance → headZ), model vs teacher, on the same clips.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
from vasa_bridge.motion import layout
from vasa_bridge.motion.controls import Controls
from vasa_bridge.motion.measures import LIPS_CLOSED_BELOW, blink_depth, blinks_per_minute, lip_aperture
from vasa_bridge.runtime.backend import DEFAULT_GUIDANCE_SCALE

MAX_LAG_FRAMES = 6
BILABIAL_TOLERANCE_S = 1.0 / layout.FPS
STREAM_CHUNK_MS = 20


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 1e-12 else 0.0


def bilabial_hits(frames: np.ndarray, phones) -> tuple[int, int]:
    """(hits, bilabials): a /p b m/ is hit when the lips close within ±1 frame of it."""
    aperture = lip_aperture(frames)
    hits = total = 0
    for p in phones:
        if p.viseme != "PP":
            continue
        lo = int(np.floor((p.start_s - BILABIAL_TOLERANCE_S) * layout.FPS))
        hi = int(np.ceil((p.end_s + BILABIAL_TOLERANCE_S) * layout.FPS))
        span = aperture[max(0, lo): min(len(aperture), hi + 1)]
        if len(span) == 0:
            continue
        total += 1
        hits += int(span.min() < LIPS_CLOSED_BELOW)
    return hits, total


def av_offset_frames(outputs: list[np.ndarray], references: list[np.ndarray]) -> int:
    """Lag in frames (+ = output late) maximising the summed aperture cross-correlation over all clips."""
    scores = []
    lags = range(-MAX_LAG_FRAMES, MAX_LAG_FRAMES + 1)
    for lag in lags:
        total = 0.0
        for out, ref in zip(outputs, references):
            a, r = lip_aperture(out), lip_aperture(ref)
            a, r = a - a.mean(), r - r.mean()
            if lag >= 0:
                total += float(np.dot(a[lag:], r[: len(r) - lag]))
            else:
                total += float(np.dot(a[:lag], r[-lag:]))
        scores.append(total)
    return int(list(lags)[int(np.argmax(scores))])


def seam_ratio(frames: list[np.ndarray], window_new: int) -> float:
    """Mean blendshape change across window boundaries / mean change inside windows (offline generation)."""
    at_seam, inside = [], []
    for f in frames:
        jump = np.linalg.norm(np.diff(f[:, layout.BLENDSHAPE_SLICE], axis=0), axis=1)   # jump[i-1]: frame i-1 → i
        idx = np.arange(1, len(f))
        at_seam.append(jump[idx % window_new == 0])
        inside.append(jump[idx % window_new != 0])
    return float(np.mean(np.concatenate(at_seam)) / max(1e-9, np.mean(np.concatenate(inside))))


@dataclass(frozen=True)
class MethodScores:
    aperture_r: float
    bilabial_hit_rate: float
    av_offset_frames: int
    blinks_per_min: float
    blink_depth: float
    head_pitch_std_deg: float
    head_yaw_std_deg: float
    head_roll_std_deg: float


def score(outputs: list[np.ndarray], references: list[np.ndarray], phones: list) -> MethodScores:
    n = [min(len(o), len(r)) for o, r in zip(outputs, references)]
    outputs = [o[:k] for o, k in zip(outputs, n)]
    references = [r[:k] for r, k in zip(references, n)]
    hits = [bilabial_hits(o, p) for o, p in zip(outputs, phones)]
    allf = np.concatenate(outputs)
    pose = np.degrees(allf[:, layout.HEAD_POSE_SLICE][:, :3]).std(axis=0)
    return MethodScores(
        aperture_r=float(np.mean([pearson(lip_aperture(o), lip_aperture(r)) for o, r in zip(outputs, references)])),
        bilabial_hit_rate=sum(h for h, _ in hits) / max(1, sum(t for _, t in hits)),
        av_offset_frames=av_offset_frames(outputs, references),
        blinks_per_min=blinks_per_minute(allf), blink_depth=blink_depth(allf), head_pitch_std_deg=float(pose[0]),
        head_yaw_std_deg=float(pose[1]), head_roll_std_deg=float(pose[2]))


def _streamed(backend, pairs, seed: int, guidance_scale: float = DEFAULT_GUIDANCE_SCALE) -> list[np.ndarray]:
    """The model fed in STREAM_CHUNK_MS chunks, all clips' streams batched per step, as the sidecar runs it."""
    from vasa_bridge.runtime.backend import SessionControls

    streams = [backend.new_stream(SessionControls(p.controls, guidance_scale), seed + i) for i, p in enumerate(pairs)]
    parts: list[list[np.ndarray]] = [[] for _ in pairs]
    hop = MODEL_SAMPLE_RATE_HZ * STREAM_CHUNK_MS // 1000
    longest = max(len(p.audio_16k) for p in pairs)
    for start in range(0, longest + hop, hop):
        for s, p in zip(streams, pairs):
            if start < len(p.audio_16k):
                s.push(p.audio_16k[start: start + hop])
            elif start - hop < len(p.audio_16k):
                s.flush()
        for i, chunk in enumerate(backend.step(streams).values()):
            parts[i].append(chunk.frames)
    return [np.concatenate(p) for p in parts]


def control_adherence(backend, pairs, seed: int, guidance_scale: float = DEFAULT_GUIDANCE_SCALE
                      ) -> list[tuple[str, float, float, str]]:
    """(what, model Δ, teacher Δ, what it should be) for each control, on the same clips."""
    from vasa_bridge.runtime.diffusion import generate_clips
    from vasa_bridge.teacher import perform

    def run(controls: Controls) -> tuple[np.ndarray, np.ndarray]:
        model = generate_clips(backend, [p.audio_16k for p in pairs], [controls] * len(pairs),
                               [seed + i for i in range(len(pairs))], guidance_scale)
        teacher = [perform(p.phones, p.audio_16k, controls, seed + i) for i, p in enumerate(pairs)]
        return (np.concatenate([c.frames for c in model]), np.concatenate([c.frames for c in teacher]))

    def mean(frames: np.ndarray, *names: str) -> float:
        return float(np.mean([frames[:, layout.channel(n)] for n in names]))

    base = Controls()
    neutral = run(base)
    happy = run(replace(base, emotion="happy"))
    surprised = run(replace(base, emotion="surprised"))
    left = run(replace(base, gaze_yaw_rad=0.3, gaze_pitch_rad=0.0))
    right = run(replace(base, gaze_yaw_rad=-0.3, gaze_pitch_rad=0.0))
    near = run(replace(base, head_distance_m=0.4))
    far = run(replace(base, head_distance_m=1.0))
    rows = []
    for what, a, b, names, want in (
            ("happy − neutral: mouthSmile", happy, neutral, ("mouthSmileLeft", "mouthSmileRight"), "> 0"),
            ("surprised − neutral: browInnerUp", surprised, neutral, ("browInnerUp",), "> 0"),
            ("gaze +0.3 − gaze −0.3 rad: gazeYaw", left, right, ("gazeYaw",), "≈ 0.6"),
            ("head 1.0 − 0.4 m: headZ", far, near, ("headZ",), "≈ 0.6")):
        rows.append((what, mean(a[0], *names) - mean(b[0], *names), mean(a[1], *names) - mean(b[1], *names), want))
    return rows


def evaluate_set(backend, pairs, seed: int = 1000, streamed: bool = False,
                 guidance_scale: float = DEFAULT_GUIDANCE_SCALE) -> dict:
    """Scores of model, amplitude baseline and teacher (another seed) on one evaluation set."""
    from vasa_bridge.baselines import amplitude_baseline
    from vasa_bridge.runtime.diffusion import generate_clips
    from vasa_bridge.teacher import perform

    refs = [p.frames for p in pairs]
    phones = [p.phones for p in pairs]
    model = [c.frames for c in generate_clips(backend, [p.audio_16k for p in pairs], [p.controls for p in pairs],
                                              [seed + i for i in range(len(pairs))], guidance_scale)]
    amplitude = [amplitude_baseline(p.audio_16k, p.controls).frames for p in pairs]
    teacher = [perform(p.phones, p.audio_16k, p.controls, seed + 7 * i + 1).frames for i, p in enumerate(pairs)]
    out = {"model": score(model, refs, phones), "amplitude": score(amplitude, refs, phones),
           "teacher": score(teacher, refs, phones), "reference": score(refs, refs, phones),
           "seam_ratio": {"model": seam_ratio(model, backend.max_new_frames),
                          "teacher": seam_ratio(teacher, backend.max_new_frames)},
           "seconds": sum(len(p.audio_16k) for p in pairs) / MODEL_SAMPLE_RATE_HZ,
           "example": {"reference": refs[0], "model": model[0], "amplitude": amplitude[0], "teacher": teacher[0]}}
    if streamed:
        out["model_streamed"] = score(_streamed(backend, pairs, seed, guidance_scale), refs, phones)
    return out


METRIC_ROWS = (("aperture r (↑)", "aperture_r", "{:.3f}"), ("bilabial hits (↑)", "bilabial_hit_rate", "{:.0%}"),
               ("A/V offset, frames", "av_offset_frames", "{:+d}"), ("blinks/min (human 8–30)", "blinks_per_min",
                                                                      "{:.1f}"),
               ("blink depth (1 = lids shut)", "blink_depth", "{:.2f}"),
               ("head pitch std, °", "head_pitch_std_deg", "{:.2f}"), ("head yaw std, °", "head_yaw_std_deg",
                                                                       "{:.2f}"),
               ("head roll std, °", "head_roll_std_deg", "{:.2f}"))


def format_table(name: str, result: dict) -> str:
    methods = ["model", "amplitude", "teacher", "reference"] + (["model_streamed"] if "model_streamed" in result
                                                                 else [])
    header = f"== {name} ({result['seconds']:.0f} s of audio)"
    lines = [header, f"  {'':<26}" + "".join(f"{m:>15}" for m in methods)]
    for label, key, fmt in METRIC_ROWS:
        lines.append(f"  {label:<26}" + "".join(f"{fmt.format(getattr(result[m], key)):>15}" for m in methods))
    s = result["seam_ratio"]
    lines.append(f"  {'seam ratio (1 = none)':<26}{s['model']:>15.2f}{'—':>15}{s['teacher']:>15.2f}")
    return "\n".join(lines)


def plot_results(results: dict[str, dict], controls: list, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(2, 2, figsize=(12, 7))
    for ax, (key, label) in zip(axes[0], (("aperture_r", "aperture correlation with reference"),
                                          ("bilabial_hit_rate", "bilabial closure hit rate"))):
        x = np.arange(len(names))
        for k, m in enumerate(("model", "amplitude", "teacher")):
            ax.bar(x + (k - 1) * 0.27, [getattr(results[n][m], key) for n in names], 0.27, label=m)
        ax.set_xticks(x, names)
        ax.set_title(label)
        ax.set_ylim(0, 1)
        ax.legend(fontsize=8)
    ex = results[names[0]]["example"]
    t = np.arange(len(ex["reference"])) / layout.FPS
    ax = axes[1, 0]
    for m, style in (("reference", "k-"), ("model", "C0-"), ("amplitude", "C1--"), ("teacher", "C2:")):
        ax.plot(t, lip_aperture(ex[m][: len(t)]), style, lw=1.2, label=m)
    ax.set_title(f"lip aperture, first clip of {names[0]}")
    ax.set_xlabel("s")
    ax.legend(fontsize=8)
    ax = axes[1, 1]
    if controls:
        labels = [c[0] for c in controls]
        y = np.arange(len(labels))
        ax.barh(y + 0.2, [c[1] for c in controls], 0.4, label="model")
        ax.barh(y - 0.2, [c[2] for c in controls], 0.4, label="teacher")
        ax.set_yticks(y, labels, fontsize=8)
        ax.set_title("control adherence (Δ when the control changes)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
