"""What the wrappers of TTS tools that report their own timings share: checking a request, turning ARPAbet segment
end times (flite, Festival) into contiguous phones on the audio's clock, and opening a neural voice's ONNX graph with
its duration tensor as a second output (Piper, Kokoro)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from vasa_bridge.errors import PhoneTimingError
from vasa_bridge.phones.types import Phone
from vasa_bridge.phones.visemes import viseme_of


DURATION_STRETCH_RANGE = (0.7, 1.5)              # > 1 speaks slower


def check_request(tool: str, voice: str, voices: Sequence[str], reserved: Sequence[str], text: str,
                  duration_stretch: float) -> None:
    """A PhoneTimingError naming `tool` for a voice it does not offer (reserved ones say so), a stretch outside
    DURATION_STRETCH_RANGE, or no text."""
    if voice not in voices:
        why = "reserved for independent evaluation" if voice in reserved else f"not one of {tuple(voices)}"
        raise PhoneTimingError(f"{tool} voice {voice!r} is {why}")
    if not DURATION_STRETCH_RANGE[0] <= duration_stretch <= DURATION_STRETCH_RANGE[1]:
        raise PhoneTimingError(f"duration_stretch={duration_stretch} is outside {DURATION_STRETCH_RANGE}")
    if not text.strip():
        raise PhoneTimingError(f"{tool} was given no text")


def phones_from_segment_ends(segments: Iterable[tuple[str, float]], duration_s: float, tool: str,
                             end_tolerance_s: float) -> tuple[Phone, ...]:
    """(ARPAbet symbol, end time) in order → phones, each starting where the last ended; ends past the audio are
    clipped to it, empty segments dropped, and the last phone is stretched to the audio's end (the tools round it
    by a few ms). Segments out of order, none at all, or ending more than `end_tolerance_s` before the audio give a
    PhoneTimingError naming `tool`."""
    phones: list[Phone] = []
    start = 0.0
    for symbol, end in segments:
        end = min(end, duration_s)
        if end < start:
            raise PhoneTimingError(f"{tool}'s segments are out of order at {symbol!r} (ends {end:.3f} s)")
        if end > start:
            phones.append(Phone(symbol, start, end, viseme_of(symbol, "arpabet")))
            start = end
    if not phones:
        raise PhoneTimingError(f"{tool} gave no segments")
    if duration_s - start > end_tolerance_s:
        raise PhoneTimingError(f"{tool}'s segments end at {start:.3f} s, the audio at {duration_s:.3f} s")
    last = phones[-1]
    phones[-1] = Phone(last.symbol, last.start_s, duration_s, last.viseme, last.stressed)
    return tuple(phones)


def session_with_durations(model_path: str, durations_tensor: str, tool: str):
    """An onnxruntime session (one thread: one data worker per core) of the graph at `model_path` that also returns
    its `durations_tensor`, the durations the audio was generated with."""
    import onnx
    import onnxruntime as ort

    graph = onnx.load(model_path)
    if not any(durations_tensor in node.output for node in graph.graph.node):
        raise PhoneTimingError(f"this {tool} model has no {durations_tensor} tensor to read phone durations from")
    graph.graph.output.append(onnx.helper.make_tensor_value_info(durations_tensor, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    return ort.InferenceSession(graph.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
