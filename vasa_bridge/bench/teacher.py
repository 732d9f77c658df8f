"""Teacher group: the phonetic teacher vs the amplitude baseline, and espeak-ng synthesis, in × real time."""

from __future__ import annotations

from vasa_bridge.bench.timing import Rows, best_time_s


def bench_teacher(quick: bool = False) -> tuple[dict[str, float], Rows]:
    """Teacher vs the amplitude baseline on a spoken line, in × real time (audio seconds per compute second)."""
    from vasa_bridge.audio import resample
    from vasa_bridge.baselines import amplitude_baseline
    from vasa_bridge.commands.demo import DEMO_LINE
    from vasa_bridge.phones.espeak import synthesize
    from vasa_bridge.teacher import perform

    speech = synthesize(" ".join([DEMO_LINE] * (2 if quick else 6)))
    audio = resample(speech.audio, speech.sample_rate_hz, 16000)
    seconds = len(audio) / 16000
    repeats = 2 if quick else 5
    teacher_s = best_time_s(lambda: perform(speech.phones, audio, seed=0), repeats)
    baseline_s = best_time_s(lambda: amplitude_baseline(audio), repeats)
    espeak_s = best_time_s(lambda: synthesize(DEMO_LINE), repeats)
    espeak_audio_s = len(synthesize(DEMO_LINE).audio) / speech.sample_rate_hz
    figures = {"teacher_rtf": seconds / teacher_s, "amplitude_baseline_rtf": seconds / baseline_s,
               "espeak_synthesis_rtf": espeak_audio_s / espeak_s}
    rows = [("teacher (phones+audio → motion)", f"{figures['teacher_rtf']:.0f}× real time",
             f"{seconds:.0f} s line; {teacher_s / baseline_s:.1f}× the amplitude baseline's time"),
            ("amplitude baseline", f"{figures['amplitude_baseline_rtf']:.0f}× real time", "same line"),
            ("espeak-ng synthesis + phoneme events", f"{figures['espeak_synthesis_rtf']:.0f}× real time", "")]
    return figures, rows
