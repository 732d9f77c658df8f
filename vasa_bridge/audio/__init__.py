"""Audio: loading any file to mono at the model rate, resampling (offline and streaming), and features."""

from vasa_bridge.audio.constants import MODEL_SAMPLE_RATE_HZ
from vasa_bridge.audio.features import FeatureStream, audio_features
from vasa_bridge.audio.load import load_audio
from vasa_bridge.audio.resample import StreamingResampler, resample

__all__ = ["MODEL_SAMPLE_RATE_HZ", "FeatureStream", "audio_features", "load_audio", "StreamingResampler",
           "resample"]
