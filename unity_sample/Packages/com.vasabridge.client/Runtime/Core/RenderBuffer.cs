// Rendered frames (SPEC.md §5.2) handed from the network thread to the engine thread: a single-producer,
// single-consumer ring of image buffers that are reused (they only grow when a larger image arrives).
using System;
using System.Threading;

namespace VasaBridge
{
    /// <summary>One image in a RenderBuffer. Valid until the next TryGetFrame call.</summary>
    public struct RenderFrame
    {
        public byte[] Data;     // Data[0 .. Length): JPEG bytes, or RGBA8 rows, top row first
        public int Length;
        public int Width, Height;
        public bool IsJpeg;
        public long Seq;
        public double PtsMs;
    }

    public sealed class RenderBuffer
    {
        readonly RenderFrame[] _slots;
        long _head, _tail;
        long _dropped;

        public RenderBuffer(int capacity)
        {
            _slots = new RenderFrame[Math.Max(2, capacity)];
        }

        public long FramesDropped { get { return Interlocked.Read(ref _dropped); } }

        /// <summary>Producer: copies one image in; drops it when the consumer lags by the whole capacity.</summary>
        public bool Write(long seq, double ptsMs, int width, int height, bool jpeg, ArraySegment<byte> image)
        {
            long h = _head;
            if (h - Volatile.Read(ref _tail) >= _slots.Length) { Interlocked.Increment(ref _dropped); return false; }
            int i = (int)(h % _slots.Length);
            if (_slots[i].Data == null || _slots[i].Data.Length < image.Count) _slots[i].Data = new byte[Math.Max(image.Count, 1024)];
            Buffer.BlockCopy(image.Array, image.Offset, _slots[i].Data, 0, image.Count);
            _slots[i].Length = image.Count;
            _slots[i].Width = width;
            _slots[i].Height = height;
            _slots[i].IsJpeg = jpeg;
            _slots[i].Seq = seq;
            _slots[i].PtsMs = ptsMs;
            Volatile.Write(ref _head, h + 1);
            return true;
        }

        /// <summary>Consumer: the newest image whose pts is at or before `audioTimeMs` (older ones are released).
        /// Returns false when none is due yet. `lastSeq` avoids re-uploading the same image every engine frame.</summary>
        public bool TryGetFrame(double audioTimeMs, long lastSeq, out RenderFrame frame)
        {
            long h = Volatile.Read(ref _head);
            long t = _tail;
            frame = default(RenderFrame);
            if (h == t) return false;
            while (t + 1 < h && _slots[(int)((t + 1) % _slots.Length)].PtsMs <= audioTimeMs) t++;
            if (t != _tail) Volatile.Write(ref _tail, t);
            RenderFrame f = _slots[(int)(t % _slots.Length)];
            if (f.PtsMs > audioTimeMs || f.Seq == lastSeq) return false;
            frame = f;
            return true;
        }
    }
}
