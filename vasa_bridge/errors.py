"""Exception types users see. Each message says what went wrong and what to do; the CLI prints them without a
traceback and exits non-zero."""


class VasaBridgeError(Exception):
    """Base for errors the CLI reports as a clean message."""


class AudioError(VasaBridgeError):
    """Audio missing, unreadable, empty or in a form we cannot use."""


class ClipFormatError(VasaBridgeError):
    """A motion clip file we cannot read or write."""


class PhoneTimingError(VasaBridgeError):
    """Phone timings could not be produced (unknown language, alignment failure)."""


class ModelVersionError(VasaBridgeError):
    """A weights file made for another motion layout or model version."""
