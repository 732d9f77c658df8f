"""Phone intervals and the viseme set every phone source maps into."""

from __future__ import annotations

from dataclasses import dataclass

# The 15 visemes of the Oculus/Meta lip-sync set: silence, 10 consonant classes, 5 vowel classes.
VISEMES: tuple[str, ...] = ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")


@dataclass(frozen=True)
class Phone:
    symbol: str      # as its source names it: an espeak-ng phoneme mnemonic or an ARPAbet phone
    start_s: float   # on the audio's clock
    end_s: float
    viseme: str      # one of VISEMES
    stressed: bool = False

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s
