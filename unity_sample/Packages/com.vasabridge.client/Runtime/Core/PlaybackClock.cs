// A smooth playback clock for sampling motion at the audio position. Engines report the audio position in
// mixer blocks (Unity's AudioSettings.dspTime and AudioSource.timeSamples step every ~10-40 ms), which would make
// a face sampled at 60+ fps move in visible steps. This clock advances with the engine's frame time and is pulled
// gently towards the reported audio position, snapping to it when they disagree by more than a block or two
// (a hitch, a pause, a seek). Allocation-free; one per playing line, main thread only.
using System;

namespace VasaBridge
{
    public sealed class PlaybackClock
    {
        /// <summary>Disagreement beyond which the clock jumps to the audio position.</summary>
        public double SnapMs = 80.0;
        /// <summary>Fraction of the remaining error corrected per frame.</summary>
        public double Pull = 0.1;

        bool _running;
        double _ms;

        public void Reset() { _running = false; }

        /// <summary>Advances by `frameDeltaMs` and returns the smoothed position. `audioMs` is the position the
        /// audio system reports now (negative before playback starts).</summary>
        public double Update(double audioMs, double frameDeltaMs)
        {
            if (!_running || audioMs < 0)
            {
                _running = audioMs >= 0;
                _ms = audioMs;
                return audioMs;
            }
            _ms += frameDeltaMs;
            double error = audioMs - _ms;
            _ms = Math.Abs(error) > SnapMs ? audioMs : _ms + Pull * error;
            return _ms;
        }
    }
}
