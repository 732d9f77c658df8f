"""Measure the phone-timing stage: espeak-ng synthesis speed, forced-alignment speed and its boundary error
against espeak-ng's own phoneme events, and the mismatch detector's margins.

    PYTHONPATH=. python scripts/measure_phones.py [--json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from vasa_bridge.audio import resample
from vasa_bridge.errors import PhoneTimingError
from vasa_bridge.phones import espeak
from vasa_bridge.phones.align import ALIGN_SAMPLE_RATE_HZ, align_with_report, boundary_errors_s

LINES = [
    "Maybe Bob bought a map of the bumpy path before the movie began.",
    "The quick brown fox jumps over the lazy dog.",
    "She sells sea shells by the sea shore every summer.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "I would like a cup of tea with milk and two sugars, please.",
    "When the sunlight strikes raindrops in the air, they act as a prism and form a rainbow.",
]
VOICES = ["en-us", "en-gb-x-rp", "en-us+f3", "en-029", "en-gb-scotland+m3", "en-us-nyc"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    espeak.synthesize("warm up", "en-us")
    # Wall time and CPU time: on a shared machine the CPU time says what the code costs.
    audio_s = wall_s = cpu_s = 0.0
    for voice in ["en-us", "de", "ja", "hi"]:
        for line in LINES:
            started, started_cpu = time.perf_counter(), time.process_time()
            speech = espeak.synthesize(line, voice)
            wall_s += time.perf_counter() - started
            cpu_s += time.process_time() - started_cpu
            audio_s += speech.duration_s
    espeak_speed, espeak_speed_cpu = audio_s / wall_s, audio_s / cpu_s

    align_with_report(resample(espeak.synthesize(LINES[0]).audio, 22050, ALIGN_SAMPLE_RATE_HZ), LINES[0])  # warm
    errors, gaps_match, gaps_wrong, failures = [], [], [], 0
    audio_s = wall_s = cpu_s = 0.0
    for voice in VOICES:
        clips = []
        for line in LINES:
            speech = espeak.synthesize(line, voice)
            clips.append((speech, resample(speech.audio, speech.sample_rate_hz, ALIGN_SAMPLE_RATE_HZ)))
        for i, (speech, audio) in enumerate(clips):
            started_cpu = time.process_time()
            try:
                report = align_with_report(audio, LINES[i])
            except PhoneTimingError:
                failures += 1
                continue
            cpu_s += time.process_time() - started_cpu
            audio_s += report.audio_s
            wall_s += report.elapsed_s
            errors.extend(boundary_errors_s(speech.phones, report.phones))
            gaps_match.append(report.score_gap_per_frame)
            wrong = LINES[(i + 1) % len(LINES)]
            try:
                gaps_wrong.append(align_with_report(audio, wrong).score_gap_per_frame)
            except PhoneTimingError:
                pass   # rejected, as it should be
    errors = np.asarray(errors)
    result = {
        "espeak_synthesis_x_realtime": round(espeak_speed, 1),
        "espeak_synthesis_x_realtime_cpu": round(espeak_speed_cpu, 1),
        "alignment_x_realtime_warm": round(audio_s / wall_s, 1),
        "alignment_x_realtime_cpu": round(audio_s / cpu_s, 1),
        "alignment_boundary_error_ms": {"median": round(1000 * float(np.median(errors)), 1),
                                        "mean": round(1000 * float(np.mean(errors)), 1),
                                        "p90": round(1000 * float(np.percentile(errors, 90)), 1)},
        "alignment_within_50ms": round(float(np.mean(errors < 0.05)), 3),
        "matched_phones": int(len(errors)),
        "correct_transcripts_rejected": failures,
        "score_gap_matching_worst": round(min(gaps_match), 1),
        "wrong_transcripts_accepted": len(gaps_wrong),
        "voices": VOICES,
    }
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        for key, value in result.items():
            print(f"{key:<36}{value}")


if __name__ == "__main__":
    main()
