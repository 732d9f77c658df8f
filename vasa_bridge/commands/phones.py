"""`vasa-bridge phones`: phone timings for a line spoken by espeak-ng, or for an English wav + its transcript
(forced alignment), printed as a table of phone, start, end, viseme."""

from __future__ import annotations

import argparse
import json
import sys
import time

from vasa_bridge.errors import PhoneTimingError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--text", help="a line for espeak-ng to speak (any language its voices know)")
    parser.add_argument("--voice", default="en-us", help="espeak-ng voice, e.g. en-us, en-us+f3, en-gb-x-rp, de, ja")
    parser.add_argument("--rate-wpm", type=int, default=165, help="espeak-ng speaking rate, words per minute")
    parser.add_argument("--pitch", type=int, default=50, help="espeak-ng pitch 0-100 (50 = the voice's own)")
    parser.add_argument("--save-wav", help="also write the espeak-ng audio here (with --text)")
    parser.add_argument("--wav", help="an English speech file to align (any format ffmpeg reads)")
    parser.add_argument("--transcript", help="the words spoken in --wav")
    parser.add_argument("--ipa", action="store_true", help="also print the IPA of --text")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--list-voices", action="store_true", help="list espeak-ng voices and variants, then exit")


def _print_table(phones, header: str) -> None:
    print(header)
    print(f"{'phone':<8}{'start_s':>9}{'end_s':>9}  viseme  stressed")
    for p in phones:
        print(f"{p.symbol:<8}{p.start_s:>9.3f}{p.end_s:>9.3f}  {p.viseme:<6}  {'yes' if p.stressed else ''}")


def run(args: argparse.Namespace) -> int:
    from vasa_bridge.phones import espeak

    if args.list_voices:
        for voice in espeak.list_voices():
            print(f"{voice.language:<22}{voice.name:<40}{', '.join(voice.languages[1:])}")
        print("variants (append as +name, e.g. en-us+f3): " + " ".join(espeak.list_variants()))
        return 0
    if bool(args.wav) != bool(args.transcript):
        raise PhoneTimingError("--wav and --transcript go together: the audio file and the words spoken in it")
    if not args.text and not args.wav:
        raise PhoneTimingError("give --text \"...\" (espeak-ng speaks it) or --wav FILE --transcript \"...\"")

    results = []
    if args.text:
        started = time.perf_counter()
        speech = espeak.synthesize(args.text, voice=args.voice, rate_wpm=args.rate_wpm, pitch=args.pitch)
        elapsed_s = time.perf_counter() - started
        if args.save_wav:
            import soundfile

            soundfile.write(args.save_wav, speech.audio, speech.sample_rate_hz)
        header = (f"espeak-ng {args.voice}: {speech.duration_s:.2f} s of speech, {len(speech.phones)} phones, "
                  f"made in {elapsed_s * 1000:.0f} ms")
        extra = {"ipa": espeak.ipa(args.text, args.voice)} if args.ipa else {}
        results.append(("espeak", header, speech.phones, extra))
    if args.wav:
        from vasa_bridge.audio import load_audio
        from vasa_bridge.phones.align import ALIGN_SAMPLE_RATE_HZ, align_with_report

        audio = load_audio(args.wav, ALIGN_SAMPLE_RATE_HZ)
        report = align_with_report(audio, args.transcript, source=args.wav)
        header = (f"pocketsphinx alignment of {args.wav}: {report.audio_s:.2f} s, {len(report.phones)} phones, "
                  f"{report.speed_x_realtime:.0f}x real time, score gap {report.score_gap_per_frame:.1f}/frame, "
                  f"{100 * report.silenced_speech_fraction:.0f}% of loud frames aligned to silence")
        results.append(("alignment", header, report.phones, {}))

    if args.json:
        json.dump({source: {"summary": header, **extra,
                            "phones": [{"symbol": p.symbol, "start_s": round(p.start_s, 6), "end_s": round(p.end_s, 6),
                                        "viseme": p.viseme, "stressed": p.stressed} for p in phones]}
                   for source, header, phones, extra in results}, sys.stdout, indent=1)
        print()
        return 0
    for i, (_, header, phones, extra) in enumerate(results):
        if i:
            print()
        _print_table(phones, header)
        if "ipa" in extra:
            print(f"IPA: {extra['ipa']}")
    return 0
