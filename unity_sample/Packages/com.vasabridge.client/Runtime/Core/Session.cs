// One session's receiving side: decodes its stream messages (SPEC.md §5) into a MotionJitterBuffer (and a
// RenderBuffer when rendered frames were asked for). The motion path is allocation-free: keys are compared as
// UTF-8 bytes, frame values are read in place from the receive buffer and written straight into the buffer slot.
using System;
using System.Collections.Generic;
using System.Text;
using System.Threading;

namespace VasaBridge
{
    public enum SessionState { Open, Ended }

    /// <summary>What HandleStreamMessage did with one stream message.</summary>
    public enum StreamResult { Motion, Render, Heartbeat, End, Error, Ignored, Malformed }

    public sealed class VasaSession
    {
        public readonly string Id;
        internal readonly byte[] Topic;
        public readonly double Fps;
        public readonly string[] ChannelNames;
        public readonly double LookaheadMs;
        public readonly FramesDtype FramesDtype;
        public readonly MotionJitterBuffer Motion;
        /// <summary>Rendered frames (null unless frames_jpeg or frames_rgba was asked for in `open`).</summary>
        public readonly RenderBuffer Render;
        public readonly MsgPackMap OpenReply;
        /// <summary>How the frames are rendered (open_ok.render, protocol 1.1); null without rendered frames.</summary>
        public readonly SessionRenderInfo RenderInfo;
        readonly Dictionary<string, int> _channelIndex = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);

        volatile SessionState _state;
        volatile string _endReason;
        long _framesTotal = -1;
        long _malformed;
        long _lastStreamTicks;
        string _lastError;
        internal int ErrorEventsRaised;

        public VasaSession(string id, double fps, string[] channelNames, double lookaheadMs, FramesDtype dtype,
                           int bufferFrames, bool wantsRender, MsgPackMap openReply)
            : this(id, fps, channelNames, lookaheadMs, dtype, bufferFrames, wantsRender ? OpenOptions.DefaultRenderBufferFrames : 0, openReply)
        {
        }

        /// <summary>`renderBufferFrames` 0: no rendered frames; otherwise the capacity of the Render buffer.</summary>
        public VasaSession(string id, double fps, string[] channelNames, double lookaheadMs, FramesDtype dtype,
                           int bufferFrames, int renderBufferFrames, MsgPackMap openReply)
            : this(id, fps, channelNames, lookaheadMs, dtype, bufferFrames, renderBufferFrames, openReply, null)
        {
        }

        /// <summary>`previous` non-null: this session was opened again after `previous` was lost (VasaLineStreamer
        /// with a VasaReopener). It writes into previous's buffers, its seq and pts shifted by the frames the
        /// earlier sessions delivered, so the game's playback clock and frame numbering run on across the seam.</summary>
        internal VasaSession(string id, double fps, string[] channelNames, double lookaheadMs, FramesDtype dtype,
                             int bufferFrames, int renderBufferFrames, MsgPackMap openReply, VasaSession previous)
        {
            if (id == null || id.Length != ProtocolInfo.SessionIdLength)
                throw new VasaBridgeException("bad_reply", "session id '" + id + "' is not 16 hex digits");
            Id = id;
            Topic = Encoding.ASCII.GetBytes(id);
            Fps = fps;
            ChannelNames = channelNames;
            LookaheadMs = lookaheadMs;
            FramesDtype = dtype;
            OpenReply = openReply;
            object render = null;
            if (openReply != null && openReply.TryGetValue("render", out render) && render != null)
            {
                var rm = render as MsgPackMap;
                if (rm == null) throw new MsgPackException("open_ok.render is not a map");
                RenderInfo = SessionRenderInfo.FromMap(rm);
            }
            for (int i = 0; i < channelNames.Length; i++) if (!_channelIndex.ContainsKey(channelNames[i])) _channelIndex[channelNames[i]] = i;
            if (previous == null)
            {
                Motion = new MotionJitterBuffer(channelNames.Length, fps, bufferFrames);
                Render = renderBufferFrames > 0 ? new RenderBuffer(renderBufferFrames) : null;
            }
            else
            {
                if (previous.ChannelNames.Length != channelNames.Length || previous.Fps != fps)
                    throw new VasaBridgeException("bad_reply", "the re-opened session has " + channelNames.Length
                        + " channels at " + fps + " fps, the lost one had " + previous.ChannelNames.Length + " at "
                        + previous.Fps + ": its frames cannot continue the line");
                Motion = previous.Motion;
                Render = previous.Render;
                SeqOffset = previous.FramesDelivered;
            }
            _lastStreamTicks = DateTime.UtcNow.Ticks;
        }

        /// <summary>Index of a channel by name, case-insensitive (`jawopen` finds `jawOpen`); -1 when absent.</summary>
        public int ChannelIndex(string name)
        {
            int i;
            return name != null && _channelIndex.TryGetValue(name, out i) ? i : -1;
        }

        public SessionState State { get { return _state; } }
        /// <summary>end reason (§5.3) or connection_lost / heartbeat_timeout; null while open.</summary>
        public string EndReason { get { return _endReason; } }
        /// <summary>frames_total from `end`, -1 before it.</summary>
        public long FramesTotal { get { return Interlocked.Read(ref _framesTotal); } }
        /// <summary>Stream messages for this session that broke the protocol and were dropped.</summary>
        public long MalformedMessages { get { return Interlocked.Read(ref _malformed); } }
        public string LastError { get { return Volatile.Read(ref _lastError); } }
        internal long LastStreamTicks { get { return Interlocked.Read(ref _lastStreamTicks); } }

        /// <summary>Frames of the line delivered before this session's frame 0: 0, or after a re-open the frames
        /// the lost sessions delivered. Added to the server's seq and pts (SPEC.md §6) before buffering.</summary>
        public readonly long SeqOffset;
        /// <summary>The line's frame count so far (the seq the next frame will have in Motion).</summary>
        public long FramesDelivered { get { return SeqOffset + Volatile.Read(ref NextSeqSeen); } }
        /// <summary>Set for sessions a VasaLineStreamer re-opens when lost: a loss (IsLoss) leaves the buffers
        /// open for the session that continues them, so playback sees an underrun, never a finished stream.</summary>
        internal volatile bool KeepBuffersOnLoss;

        /// <summary>End reasons after which another server could continue the session (VasaLineStreamer re-opens
        /// it): the connection or the server went away, or the server stopped the session (§5.3 shutdown, error).</summary>
        public static bool IsLoss(string endReason)
        {
            return endReason == "connection_lost" || endReason == "heartbeat_timeout" || endReason == "shutdown"
                || endReason == "error";
        }

        /// <summary>Marks the session over (idempotent); returns true the first time.</summary>
        internal bool SetEnded(string reason, long framesTotal)
        {
            lock (_channelIndex)
            {
                if (_state == SessionState.Ended) return false;
                _endReason = reason;
                if (framesTotal >= 0) Interlocked.Exchange(ref _framesTotal, framesTotal);
                _state = SessionState.Ended;
            }
            if (!(KeepBuffersOnLoss && IsLoss(reason))) Motion.MarkEnded();
            return true;
        }

        /// <summary>
        /// Decodes one stream message of this session: `buf[offset .. offset+count)` is the msgpack map (ZeroMQ
        /// frame 1, or a whole WebSocket message), `payloads` the trailing frames (render images) or null.
        /// Never throws for bad input: it returns Malformed and records the reason in LastError.
        /// </summary>
        public StreamResult HandleStreamMessage(byte[] buf, int offset, int count, IList<ArraySegment<byte>> payloads,
                                                out VasaBridgeEvent evt)
        {
            evt = null;
            Interlocked.Exchange(ref _lastStreamTicks, DateTime.UtcNow.Ticks);
            try
            {
                return Decode(buf, offset, count, payloads, out evt);
            }
            catch (MsgPackException e)
            {
                return Malformed("undecodable stream message: " + e.Message);
            }
        }

        StreamResult Malformed(string why)
        {
            Interlocked.Increment(ref _malformed);
            Volatile.Write(ref _lastError, why);
            return StreamResult.Malformed;
        }

        StreamResult Decode(byte[] buf, int offset, int count, IList<ArraySegment<byte>> payloads, out VasaBridgeEvent evt)
        {
            evt = null;
            var r = new MsgPackReader(buf, offset, count);
            if (r.PeekKind() != MsgPackKind.Map) return Malformed("stream message is not a msgpack map");
            int fields = r.ReadMapHeader();
            bool isMotion = false, typeSeen = false, sessionOk = true;
            long seq = -1, n = -1, channels = -1, latentDim = -1;
            double ptsMs = double.NaN;
            bool f16 = false, dtypeSeen = false;
            int framesOff = -1, framesLen = 0, latentLen = -1;
            for (int i = 0; i < fields; i++)
            {
                if (r.PeekKind() != MsgPackKind.Str) return Malformed("map key is not a string");
                int ko, kn;
                r.ReadStrSegment(out ko, out kn);
                byte[] b = r.Buffer;
                if (kn > 10 || kn == 0) { r.Skip(); continue; } // no field of interest is longer ("latent_dim")
                if (Bits.SegmentEquals(b, ko, kn, Utf8.Type))
                {
                    if (r.PeekKind() != MsgPackKind.Str) return Malformed("'type' is not a string");
                    typeSeen = true;
                    isMotion = r.ReadStringEquals(Utf8.Motion);
                }
                else if (Bits.SegmentEquals(b, ko, kn, Utf8.Session))
                {
                    if (r.PeekKind() != MsgPackKind.Str) return Malformed("'session' is not a string");
                    sessionOk = r.ReadStringEquals(Topic);
                }
                else if (Bits.SegmentEquals(b, ko, kn, Utf8.Seq)) seq = ReadUInt(ref r);
                else if (Bits.SegmentEquals(b, ko, kn, Utf8.N)) n = ReadUInt(ref r);
                else if (Bits.SegmentEquals(b, ko, kn, Utf8.Channels)) channels = ReadUInt(ref r);
                else if (Bits.SegmentEquals(b, ko, kn, Utf8.LatentDim)) latentDim = ReadUInt(ref r);
                else if (Bits.SegmentEquals(b, ko, kn, Utf8.PtsMs))
                {
                    MsgPackKind k = r.PeekKind();
                    if (k != MsgPackKind.Float && k != MsgPackKind.Int && k != MsgPackKind.UInt) return Malformed("'pts_ms' is not a number");
                    ptsMs = r.ReadDouble();
                }
                else if (Bits.SegmentEquals(b, ko, kn, Utf8.Dtype))
                {
                    if (r.PeekKind() != MsgPackKind.Str) return Malformed("'dtype' is not a string");
                    int so, sn;
                    r.ReadStrSegment(out so, out sn);
                    dtypeSeen = true;
                    if (Bits.SegmentEquals(b, so, sn, Utf8.F16)) f16 = true;
                    else if (!Bits.SegmentEquals(b, so, sn, Utf8.F32)) dtypeSeen = false;
                }
                else if (Bits.SegmentEquals(b, ko, kn, Utf8.Frames))
                {
                    if (r.PeekKind() != MsgPackKind.Bin) return Malformed("'frames' is not bin");
                    r.ReadBinSegment(out framesOff, out framesLen);
                }
                else if (Bits.SegmentEquals(b, ko, kn, Utf8.Latent))
                {
                    if (r.PeekKind() != MsgPackKind.Bin) return Malformed("'latent' is not bin");
                    int lo;
                    r.ReadBinSegment(out lo, out latentLen);
                }
                else r.Skip(); // unknown keys are ignored (§3)
            }
            if (!r.AtEnd) return Malformed("trailing bytes after the stream message map");
            if (!typeSeen) return Malformed("stream message without 'type'");
            if (!sessionOk) return Malformed("stream message for another session arrived under this session's topic");
            if (isMotion) return DecodeMotion(buf, seq, n, channels, ptsMs, dtypeSeen, f16, framesOff, framesLen, latentDim, latentLen, payloads);
            return DecodeOther(buf, offset, count, payloads, out evt);
        }

        static long ReadUInt(ref MsgPackReader r)
        {
            MsgPackKind k = r.PeekKind();
            if (k != MsgPackKind.UInt && k != MsgPackKind.Int) throw new MsgPackException("expected an unsigned integer");
            long v = r.ReadInt64();
            if (v < 0) throw new MsgPackException("expected an unsigned integer, got " + v);
            return v;
        }

        StreamResult DecodeMotion(byte[] buf, long seq, long n, long channels, double ptsMs, bool dtypeOk, bool f16,
                                  int framesOff, int framesLen, long latentDim, int latentLen,
                                  IList<ArraySegment<byte>> payloads)
        {
            if (payloads != null && payloads.Count != 0) return Malformed("motion message with trailing frames");
            if (seq < 0 || n < 1 || channels < 0 || framesOff < 0 || double.IsNaN(ptsMs) || double.IsInfinity(ptsMs))
                return Malformed("motion message lacks seq, n (>= 1), channels, pts_ms or frames");
            if (!dtypeOk) return Malformed("motion dtype is neither f32 nor f16");
            if (channels != Motion.Channels)
                return Malformed("motion has " + channels + " channels but open_ok listed " + Motion.Channels);
            int size = f16 ? 2 : 4;
            if (n > 100000 || framesLen != n * channels * size)
                return Malformed("motion frames are " + framesLen + " bytes; n x channels x " + size + " = " + (n * channels * size) + " expected");
            if (latentLen >= 0 && (latentDim < 0 || latentLen != n * latentDim * 4))
                return Malformed("motion latent is " + latentLen + " bytes, not n x latent_dim x 4");
            if (seq < NextSeqSeen)
                return Malformed("motion seq " + seq + " goes backwards (next expected " + NextSeqSeen + ")");
            // Reject non-finite values before touching the buffer: a NaN would freeze a rig's blendshape forever.
            // (Checked on the bytes: all exponent bits set means inf or NaN, for f32 and f16 alike.)
            int values = (int)(n * channels);
            if (f16)
            {
                for (int i = 0, o = framesOff + 1; i < values; i++, o += 2)
                    if ((buf[o] & 0x7c) == 0x7c) return Malformed("motion frame " + (seq + i / channels) + " holds a non-finite value");
            }
            else
            {
                for (int i = 0, o = framesOff + 2; i < values; i++, o += 4)
                    if ((buf[o] & 0x80) != 0 && (buf[o + 1] & 0x7f) == 0x7f) return Malformed("motion frame " + (seq + i / channels) + " holds a non-finite value");
            }
            double frameMs = Motion.FrameDurationMs;
            int ch = (int)channels;
            for (int f = 0; f < n; f++)
            {
                float[] dst; int doff;
                if (!Motion.TryBeginWrite(SeqOffset + seq + f, ptsMs + (SeqOffset + f) * frameMs, out dst, out doff)) continue;
                int src = framesOff + f * ch * size;
                if (f16) for (int c = 0; c < ch; c++) dst[doff + c] = Bits.ReadFloat16LE(buf, src + 2 * c);
                else if (BitConverter.IsLittleEndian) Buffer.BlockCopy(buf, src, dst, doff * 4, ch * 4); // wire order = memory order
                else for (int c = 0; c < ch; c++) dst[doff + c] = Bits.ReadFloat32LE(buf, src + 4 * c);
                Motion.Commit();
            }
            Volatile.Write(ref NextSeqSeen, seq + n);
            return StreamResult.Motion;
        }

        /// <summary>The seq the next motion batch should start at (producer side).</summary>
        internal long NextSeqSeen;

        StreamResult DecodeOther(byte[] buf, int offset, int count, IList<ArraySegment<byte>> payloads, out VasaBridgeEvent evt)
        {
            evt = null;
            // Rare messages: a generic decode (allocates) keeps this readable.
            var r = new MsgPackReader(buf, offset, count);
            var m = (MsgPackMap)r.ReadValue();
            string type = m.GetString("type");
            int nPayloads = payloads == null ? 0 : payloads.Count;
            if (type == "render") return DecodeRender(m, payloads);
            if (nPayloads != 0) return Malformed("'" + type + "' message with " + nPayloads + " trailing frames");
            switch (type)
            {
                case "heartbeat":
                    m.GetInt("next_seq");
                    return StreamResult.Heartbeat;
                case "end":
                    {
                        string reason = m.GetString("reason");
                        long total = m.GetInt("frames_total");
                        object code;
                        m.TryGetValue("code", out code);
                        if (SetEnded(reason, total))
                        {
                            string msg = "stream ended (" + reason + (code is string ? ", " + code : "") + ") after " + total + " frames";
                            evt = new VasaBridgeEvent(VasaBridgeEventKind.SessionEnded, Id, reason, msg);
                        }
                        return StreamResult.End;
                    }
                case "error":
                    {
                        string code = m.GetString("code");
                        string message = m.GetString("message");
                        Volatile.Write(ref _lastError, code + ": " + message);
                        evt = new VasaBridgeEvent(VasaBridgeEventKind.Error, Id, code, message);
                        return StreamResult.Error;
                    }
                default:
                    return StreamResult.Ignored; // unknown stream types are ignored (§3), e.g. from a newer MINOR
            }
        }

        StreamResult DecodeRender(MsgPackMap m, IList<ArraySegment<byte>> payloads)
        {
            if (Render == null) return StreamResult.Ignored;
            long seq = m.GetInt("seq"), n = m.GetInt("n"), width = m.GetInt("width"), height = m.GetInt("height");
            double ptsMs = m.GetDouble("pts_ms");
            string format = m.GetString("format");
            bool jpeg = format == "jpeg";
            if (!jpeg && format != "rgba") return Malformed("render format '" + format + "' is neither jpeg nor rgba");
            // ZeroMQ carries the images as trailing frames; WebSocket inside the map (§8.3, §9.2).
            List<object> inMap = null;
            object v;
            if (m.TryGetValue("images", out v)) inMap = v as List<object>;
            int count = payloads != null && payloads.Count > 0 ? payloads.Count : (inMap != null ? inMap.Count : 0);
            if (count != n || n < 1) return Malformed("render batch has " + count + " images but n = " + n);
            if (width < 1 || height < 1 || width > 16384 || height > 16384) return Malformed("render size " + width + "x" + height + " is out of range");
            for (int i = 0; i < n; i++)
            {
                ArraySegment<byte> img = payloads != null && payloads.Count > 0
                    ? payloads[i]
                    : (inMap[i] is byte[] ? new ArraySegment<byte>((byte[])inMap[i]) : default(ArraySegment<byte>));
                if (img.Array == null) return Malformed("render image " + i + " is not bin");
                if (!jpeg && img.Count != width * height * 4) return Malformed("rgba image of " + img.Count + " bytes is not width x height x 4");
                Render.Write(SeqOffset + seq + i, ptsMs + (SeqOffset + i) * Motion.FrameDurationMs, (int)width, (int)height, jpeg, img);
            }
            return StreamResult.Render;
        }
    }
}
