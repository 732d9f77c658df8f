// Motion frames scheduled on the audio clock (SPEC.md §6): frame k has pts k*1000/fps ms and describes the face
// during [pts, pts + 1000/fps). The network thread writes decoded frames; the engine thread samples the buffer at
// its own frame rate with the playback position of the same audio, interpolating between neighbouring frames.
//
// Single producer (network thread), single consumer (engine main thread), lock-free: the producer publishes a
// frame by advancing `_head` with a release write after filling the slot; the consumer frees slots by advancing
// `_tail`. Both counters only grow, so `head - tail` is the fill level. Nothing here allocates after construction.
using System;
using System.Threading;

namespace VasaBridge
{
    /// <summary>What a call to Sample produced.</summary>
    public enum SampleStatus
    {
        /// <summary>No frame has arrived yet: the output was left unchanged.</summary>
        NoData,
        /// <summary>The playback position is before the first buffered frame: the first frame was written.</summary>
        Waiting,
        /// <summary>A frame (or the interpolation of two) covering the playback position was written.</summary>
        Playing,
        /// <summary>The position is past every received frame while more are expected: the last frame is held.</summary>
        Underrun,
        /// <summary>The stream ended and the position is past its last frame: the last frame is held.</summary>
        Finished,
    }

    public sealed class MotionJitterBuffer
    {
        readonly int _channels;
        readonly int _capacity;
        readonly double _frameMs;
        readonly float[] _values;   // capacity x channels, row-major
        readonly long[] _seq;
        readonly double[] _ptsMs;
        long _head;                 // frames published (written by the producer only)
        long _tail;                 // index of the oldest frame the consumer still needs (consumer only)
        long _expectedSeq;          // producer: the seq that continues the stream without a gap
        long _framesReceived, _framesDropped, _framesMissing;
        long _underruns;
        volatile bool _ended;
        bool _wasUnderrun;

        public MotionJitterBuffer(int channels, double fps, int capacityFrames = 2048)
        {
            if (channels <= 0) throw new ArgumentOutOfRangeException("channels");
            if (!(fps > 0)) throw new ArgumentOutOfRangeException("fps");
            if (capacityFrames < 2) throw new ArgumentOutOfRangeException("capacityFrames");
            _channels = channels;
            _capacity = capacityFrames;
            _frameMs = 1000.0 / fps;
            _values = new float[checked(capacityFrames * channels)];
            _seq = new long[capacityFrames];
            _ptsMs = new double[capacityFrames];
        }

        public int Channels { get { return _channels; } }
        public double FrameDurationMs { get { return _frameMs; } }
        public int Capacity { get { return _capacity; } }

        /// <summary>Frames written into the buffer so far.</summary>
        public long FramesReceived { get { return Interlocked.Read(ref _framesReceived); } }
        /// <summary>Frames that arrived while the buffer was full (the consumer fell behind by Capacity frames).</summary>
        public long FramesDropped { get { return Interlocked.Read(ref _framesDropped); } }
        /// <summary>Frames never received: gaps in seq (§5.1, e.g. a slow ZeroMQ subscriber).</summary>
        public long FramesMissing { get { return Interlocked.Read(ref _framesMissing); } }
        /// <summary>Times the consumer ran past the newest frame while the stream was still going.</summary>
        public long Underruns { get { return Interlocked.Read(ref _underruns); } }
        /// <summary>Frames buffered and not yet passed by the playback position.</summary>
        public int Buffered { get { return (int)(Volatile.Read(ref _head) - Volatile.Read(ref _tail)); } }
        /// <summary>pts of the newest received frame plus one frame: how far ahead of time 0 the motion reaches.</summary>
        public double BufferedUntilMs
        {
            get
            {
                long h = Volatile.Read(ref _head);
                return h == 0 ? 0.0 : _ptsMs[(int)((h - 1) % _capacity)] + _frameMs;
            }
        }
        public bool Ended { get { return _ended; } }

        // ---- producer side (network thread) ------------------------------------------------------------------

        /// <summary>Reserves the next slot; fill `values[offset .. offset+Channels)` then call Commit. Returns false
        /// (and counts a drop) when the consumer has not freed a slot.</summary>
        public bool TryBeginWrite(long seq, double ptsMs, out float[] values, out int offset)
        {
            long h = _head;
            if (seq > _expectedSeq) Interlocked.Add(ref _framesMissing, seq - _expectedSeq);
            if (seq >= _expectedSeq) _expectedSeq = seq + 1;
            if (h - Volatile.Read(ref _tail) >= _capacity)
            {
                Interlocked.Increment(ref _framesDropped);
                values = null; offset = 0;
                return false;
            }
            int slot = (int)(h % _capacity);
            _seq[slot] = seq;
            _ptsMs[slot] = ptsMs;
            values = _values;
            offset = slot * _channels;
            return true;
        }

        public void Commit()
        {
            Interlocked.Increment(ref _framesReceived);
            Volatile.Write(ref _head, _head + 1); // release: the slot's contents are visible before the new head
        }

        /// <summary>Convenience for tests and custom transports: copy one frame in.</summary>
        public bool Write(long seq, double ptsMs, float[] frame)
        {
            float[] dst; int off;
            if (!TryBeginWrite(seq, ptsMs, out dst, out off)) return false;
            Array.Copy(frame, 0, dst, off, _channels);
            Commit();
            return true;
        }

        /// <summary>The stream ended (message `end`): no more frames will come, so running out is not an underrun.</summary>
        public void MarkEnded() { _ended = true; }

        // ---- consumer side (engine thread) -------------------------------------------------------------------

        /// <summary>Removes and returns the oldest frame, for consumers that want every frame rather than the
        /// motion at a time (recording a clip, tests). Do not mix with Sample on the same buffer.</summary>
        public bool TryPopFrame(float[] output, out long seq, out double ptsMs)
        {
            long h = Volatile.Read(ref _head);
            long t = _tail;
            seq = -1; ptsMs = 0;
            if (h == t) return false;
            int a = (int)(t % _capacity);
            Array.Copy(_values, a * _channels, output, 0, _channels);
            seq = _seq[a];
            ptsMs = _ptsMs[a];
            Volatile.Write(ref _tail, t + 1);
            return true;
        }

        /// <summary>
        /// Writes the motion at `audioTimeMs` (playback position of the session's audio, ms) into `output`
        /// (length ≥ Channels), interpolating linearly between the two frames around it. Frames that end before
        /// the position are released. Allocation-free.
        /// </summary>
        public SampleStatus Sample(double audioTimeMs, float[] output)
        {
            long h = Volatile.Read(ref _head); // acquire: slots below h are complete
            long t = _tail;
            if (h == t) return SampleStatus.NoData;
            // Release frames the position has passed, but keep the newest one to hold when data runs out.
            while (t + 1 < h && _ptsMs[(int)((t + 1) % _capacity)] <= audioTimeMs) t++;
            if (t != _tail) Volatile.Write(ref _tail, t);

            int a = (int)(t % _capacity);
            double ptsA = _ptsMs[a];
            if (audioTimeMs < ptsA)
            {
                Array.Copy(_values, a * _channels, output, 0, _channels);
                return SampleStatus.Waiting;
            }
            if (t + 1 < h)
            {
                int b = (int)((t + 1) % _capacity);
                double span = _ptsMs[b] - ptsA;
                float alpha = span > 0 ? (float)((audioTimeMs - ptsA) / span) : 1f;
                if (alpha > 1f) alpha = 1f;
                int oa = a * _channels, ob = b * _channels;
                for (int c = 0; c < _channels; c++)
                {
                    float va = _values[oa + c];
                    output[c] = va + (_values[ob + c] - va) * alpha;
                }
                _wasUnderrun = false;
                return SampleStatus.Playing;
            }
            Array.Copy(_values, a * _channels, output, 0, _channels);
            if (audioTimeMs < ptsA + _frameMs) { _wasUnderrun = false; return SampleStatus.Playing; }
            if (_ended) return SampleStatus.Finished;
            if (!_wasUnderrun) { _wasUnderrun = true; Interlocked.Increment(ref _underruns); }
            return SampleStatus.Underrun;
        }
    }
}
