"""Audio constants, with units in their names. One source of truth for the whole pipeline."""

from vasa_bridge.motion.layout import FPS

MODEL_SAMPLE_RATE_HZ = 16_000
HOP_LENGTH_SAMPLES = 160          # 10 ms: 100 feature frames per second
WINDOW_LENGTH_SAMPLES = 400       # 25 ms analysis window
N_FFT = 512
N_MELS = 80
MEL_FMIN_HZ = 60.0
MEL_FMAX_HZ = 7_600.0
FEATURE_RATE_HZ = MODEL_SAMPLE_RATE_HZ // HOP_LENGTH_SAMPLES   # 100
FEATURES_PER_MOTION_FRAME = FEATURE_RATE_HZ // FPS               # 4
N_FEATURES = N_MELS + 1           # log-mel bands + frame energy
LOG_FLOOR = 1e-14                 # floor before log: digital silence stays finite, a -40 dBFS line stays above it
ENERGY_FLOOR_DBFS = -100.0
MAX_AUDIO_S = 3 * 3600            # refuse to load more than this into memory in one piece
