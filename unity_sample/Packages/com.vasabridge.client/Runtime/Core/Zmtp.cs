// A ZMTP 3.1 peer over TCP (https://rfc.zeromq.org/spec/37/), NULL security mechanism, enough of the DEALER and
// SUB socket semantics for the vasa_bridge protocol (SPEC.md §8): one connection per socket, multipart messages,
// subscriptions sent as ZMTP 3.1 SUBSCRIBE commands, PING answered with PONG, reconnect with exponential back-off.
// No UnityEngine, no third-party code. One background thread per socket reads; sends are serialised by a lock.
using System;
using System.Collections.Generic;
using System.IO;
using System.Net.Sockets;
using System.Text;
using System.Threading;

namespace VasaBridge
{
    /// <summary>The socket types this client plays (the server is ROUTER and XPUB).</summary>
    public enum ZmtpSocketType { Dealer, Sub }

    /// <summary>A received multipart message. Frames live in buffers reused for the next message: consume or copy
    /// them inside the callback.</summary>
    public sealed class ZmtpMessage
    {
        internal readonly List<byte[]> Buffers = new List<byte[]>();
        internal readonly List<int> Lengths = new List<int>();
        public int FrameCount { get; internal set; }
        public byte[] FrameBuffer(int i) { return Buffers[i]; }
        public int FrameLength(int i) { return Lengths[i]; }

        public byte[] CopyFrame(int i)
        {
            var a = new byte[Lengths[i]];
            Buffer.BlockCopy(Buffers[i], 0, a, 0, Lengths[i]);
            return a;
        }

        internal void Reset() { FrameCount = 0; }

        /// <summary>A buffer of at least `size` bytes for frame FrameCount (grown and kept for later messages).</summary>
        internal byte[] NextFrameBuffer(int size)
        {
            int i = FrameCount;
            if (i == Buffers.Count) { Buffers.Add(new byte[Math.Max(size, 256)]); Lengths.Add(0); }
            else if (Buffers[i].Length < size) Buffers[i] = new byte[Math.Max(size, Buffers[i].Length * 2)];
            Lengths[i] = size;
            FrameCount = i + 1;
            return Buffers[i];
        }
    }

    /// <summary>Settings of one ZMTP socket.</summary>
    public sealed class ZmtpOptions
    {
        public int ConnectTimeoutMs = 2000;
        public int ReconnectMinMs = 100;      // first retry after this, doubling ...
        public int ReconnectMaxMs = 2000;     // ... up to this
        public long MaxFrameBytes = 64L << 20; // a frame larger than this is a protocol violation: drop the link
        public int MaxFramesPerMessage = 4096;
    }

    /// <summary>
    /// One client socket: connects to tcp://host:port, keeps reconnecting with back-off, delivers each received
    /// multipart message to `onMessage` on its reader thread, and reports link changes to `onLink`.
    /// </summary>
    public sealed class ZmtpSocket : IVasaLink
    {
        public delegate void MessageHandler(ZmtpMessage message);
        /// <summary>connected=true after a completed handshake; false with a reason when the link dropped or a
        /// connect attempt failed (reported once per outage, not per retry).</summary>
        public delegate void LinkHandler(bool connected, string reason);

        static readonly byte[] ReadyName = Encoding.ASCII.GetBytes("READY");
        static readonly byte[] PingName = Encoding.ASCII.GetBytes("PING");
        static readonly byte[] ErrorName = Encoding.ASCII.GetBytes("ERROR");

        readonly string _host;
        readonly int _port;
        readonly ZmtpSocketType _type;
        readonly ZmtpOptions _options;
        readonly MessageHandler _onMessage;
        readonly LinkHandler _onLink;
        readonly object _sendLock = new object();
        readonly List<byte[]> _subscriptions = new List<byte[]>();
        readonly ZmtpMessage _incoming = new ZmtpMessage();
        readonly byte[] _header = new byte[9];
        Thread _thread;
        volatile bool _disposed;
        TcpClient _tcp;      // guarded by _sendLock
        Stream _stream;      // write side, guarded by _sendLock; null while disconnected
        int _connections;    // completed handshakes so far

        public ZmtpSocket(string host, int port, ZmtpSocketType type, ZmtpOptions options,
                          MessageHandler onMessage, LinkHandler onLink)
        {
            _host = host; _port = port; _type = type;
            _options = options ?? new ZmtpOptions();
            _onMessage = onMessage; _onLink = onLink;
        }

        public string Endpoint { get { return "tcp://" + _host + ":" + _port; } }
        public bool IsConnected { get { lock (_sendLock) return _stream != null; } }
        /// <summary>How many times a handshake completed (1 after the first connect, 2 after one reconnect, ...).</summary>
        public int ConnectionCount { get { return Volatile.Read(ref _connections); } }

        public void Start()
        {
            if (_thread != null) return;
            _thread = new Thread(Run) { IsBackground = true, Name = "vasa_bridge zmtp " + _type + " " + _port };
            _thread.Start();
        }

        /// <summary>Sends one multipart message. Returns false (nothing sent) while disconnected: unlike libzmq's
        /// DEALER we do not queue, so a request to a dead server fails at once instead of after a timeout.</summary>
        public bool Send(IList<ArraySegment<byte>> frames)
        {
            lock (_sendLock)
            {
                if (_stream == null) return false;
                try
                {
                    for (int i = 0; i < frames.Count; i++)
                        WriteFrame(_stream, frames[i].Array, frames[i].Offset, frames[i].Count, i < frames.Count - 1, false);
                    _stream.Flush();
                    return true;
                }
                catch (Exception) // IO, socket or disposal: the reader thread notices and reconnects
                {
                    DropLinkLocked();
                    return false;
                }
            }
        }

        /// <summary>SUB only: subscribe to a topic prefix, now and after every reconnect.</summary>
        public void Subscribe(byte[] topic) { ChangeSubscription(topic, true); }

        public void Unsubscribe(byte[] topic) { ChangeSubscription(topic, false); }

        void ChangeSubscription(byte[] topic, bool subscribe)
        {
            if (_type != ZmtpSocketType.Sub) throw new InvalidOperationException("only a SUB socket subscribes");
            lock (_sendLock)
            {
                if (subscribe) _subscriptions.Add((byte[])topic.Clone());
                else
                {
                    int i = _subscriptions.FindIndex(t => Bits.SegmentEquals(t, 0, t.Length, topic));
                    if (i < 0) return;
                    _subscriptions.RemoveAt(i);
                }
                if (_stream == null) return;
                try
                {
                    SendSubscriptionLocked(topic, subscribe);
                    _stream.Flush();
                }
                catch (Exception)
                {
                    DropLinkLocked();
                }
            }
        }

        void SendSubscriptionLocked(byte[] topic, bool subscribe)
        {
            // ZMTP 3.1: SUBSCRIBE / CANCEL commands; the body after the name is the topic.
            byte[] name = Encoding.ASCII.GetBytes(subscribe ? "SUBSCRIBE" : "CANCEL");
            var body = new byte[1 + name.Length + topic.Length];
            body[0] = (byte)name.Length;
            Buffer.BlockCopy(name, 0, body, 1, name.Length);
            Buffer.BlockCopy(topic, 0, body, 1 + name.Length, topic.Length);
            WriteFrame(_stream, body, 0, body.Length, false, true);
        }

        void Run()
        {
            int backoffMs = _options.ReconnectMinMs;
            bool reportedDown = false;
            while (!_disposed)
            {
                string failure;
                Stream stream = TryConnect(out failure);
                if (stream == null)
                {
                    if (!reportedDown && !_disposed) { reportedDown = true; Report(false, failure); }
                    SleepUnlessDisposed(backoffMs);
                    backoffMs = Math.Min(backoffMs * 2, _options.ReconnectMaxMs);
                    continue;
                }
                backoffMs = _options.ReconnectMinMs;
                reportedDown = false;
                Interlocked.Increment(ref _connections);
                Report(true, null);
                string reason = ReadLoop(stream);
                lock (_sendLock) DropLinkLocked();
                if (_disposed) break;
                reportedDown = true;
                Report(false, reason);
                SleepUnlessDisposed(backoffMs);
            }
        }

        void SleepUnlessDisposed(int ms)
        {
            for (int waited = 0; waited < ms && !_disposed; waited += 20) Thread.Sleep(20);
        }

        void Report(bool connected, string reason)
        {
            if (_onLink == null) return;
            try { _onLink(connected, reason); }
            catch (Exception) { /* a handler's bug must not kill the network thread */ }
        }

        Stream TryConnect(out string failure)
        {
            failure = null;
            var tcp = new TcpClient { NoDelay = true };
            try
            {
                IAsyncResult ar = tcp.BeginConnect(_host, _port, null, null);
                if (!ar.AsyncWaitHandle.WaitOne(_options.ConnectTimeoutMs))
                {
                    failure = "connect to " + Endpoint + " timed out after " + _options.ConnectTimeoutMs + " ms";
                    tcp.Close();
                    return null;
                }
                tcp.EndConnect(ar);
                NetworkStream ns = tcp.GetStream();
                ns.ReadTimeout = Timeout.Infinite;
                // Separate buffers for the two directions: a BufferedStream cannot interleave reads and writes on a
                // socket, and the reader thread and senders use the directions concurrently.
                var reader = new BufferedStream(ns, 64 * 1024);
                var writer = new BufferedStream(ns, 64 * 1024);
                Handshake(ns, reader, writer);
                lock (_sendLock)
                {
                    if (_disposed) { tcp.Close(); return null; }
                    _tcp = tcp;
                    _stream = writer;
                    foreach (byte[] topic in _subscriptions) SendSubscriptionLocked(topic, true);
                    _stream.Flush();
                }
                return reader;
            }
            catch (Exception e) // whatever the peer did, the network thread reports it and retries; it never dies
            {
                failure = "cannot connect to " + Endpoint + ": " + e.Message;
                tcp.Close();
                return null;
            }
        }

        void Handshake(NetworkStream ns, Stream stream, Stream writer)
        {
            // Greeting (64 bytes): signature, version 3.1, mechanism NULL, as-server 0, filler.
            var greeting = new byte[64];
            greeting[0] = 0xff; greeting[9] = 0x7f; greeting[10] = 3; greeting[11] = 1;
            Encoding.ASCII.GetBytes("NULL", 0, 4, greeting, 12);
            writer.Write(greeting, 0, 64);
            writer.Flush();
            ns.ReadTimeout = _options.ConnectTimeoutMs; // a silent peer must not hang the handshake
            var peer = new byte[64];
            ReadExactly(stream, peer, 0, 64);
            if (peer[0] != 0xff || peer[9] != 0x7f)
                throw new ZmtpException("peer at " + Endpoint + " is not a ZeroMQ socket (bad greeting signature)");
            if (peer[10] < 3)
                throw new ZmtpException("peer at " + Endpoint + " speaks ZMTP " + peer[10] + "." + peer[11] + "; 3.x is required");
            if (!(peer[12] == 'N' && peer[13] == 'U' && peer[14] == 'L' && peer[15] == 'L' && peer[16] == 0))
                throw new ZmtpException("peer at " + Endpoint + " wants a security mechanism other than NULL (CURVE is not supported by this client)");

            // READY with our Socket-Type (and an empty Identity for the DEALER: the ROUTER assigns one).
            var ready = new MemoryStream();
            ready.WriteByte((byte)ReadyName.Length);
            ready.Write(ReadyName, 0, ReadyName.Length);
            WriteProperty(ready, "Socket-Type", _type == ZmtpSocketType.Dealer ? "DEALER" : "SUB");
            if (_type == ZmtpSocketType.Dealer) WriteProperty(ready, "Identity", "");
            byte[] readyBytes = ready.ToArray();
            WriteFrame(writer, readyBytes, 0, readyBytes.Length, false, true);
            writer.Flush();

            bool more, command;
            byte[] cmd = ReadFrameBody(stream, out more, out command, 64 * 1024);
            if (!command) throw new ZmtpException("peer at " + Endpoint + " sent a message before READY");
            if (CommandIs(cmd, ErrorName))
                throw new ZmtpException("peer at " + Endpoint + " refused the handshake: " + Encoding.ASCII.GetString(cmd, 7, Math.Max(0, cmd.Length - 7)));
            if (!CommandIs(cmd, ReadyName)) throw new ZmtpException("peer at " + Endpoint + " sent an unexpected command instead of READY");
            string peerType = ReadProperty(cmd, 1 + ReadyName.Length, "Socket-Type");
            bool compatible = _type == ZmtpSocketType.Dealer
                ? (peerType == "ROUTER" || peerType == "DEALER" || peerType == "REP")
                : (peerType == "PUB" || peerType == "XPUB");
            if (!compatible)
                throw new ZmtpException("peer at " + Endpoint + " is a " + (peerType ?? "?") + " socket; a " +
                                        (_type == ZmtpSocketType.Dealer ? "ROUTER (request port)" : "XPUB (stream port)") + " was expected");
            ns.ReadTimeout = Timeout.Infinite;
        }

        static void WriteProperty(Stream s, string name, string value)
        {
            byte[] n = Encoding.ASCII.GetBytes(name);
            byte[] v = Encoding.UTF8.GetBytes(value);
            s.WriteByte((byte)n.Length);
            s.Write(n, 0, n.Length);
            s.WriteByte((byte)(v.Length >> 24)); s.WriteByte((byte)(v.Length >> 16));
            s.WriteByte((byte)(v.Length >> 8)); s.WriteByte((byte)v.Length);
            s.Write(v, 0, v.Length);
        }

        static string ReadProperty(byte[] body, int pos, string wanted)
        {
            while (pos < body.Length)
            {
                int nlen = body[pos++];
                if (pos + nlen + 4 > body.Length) break;
                string name = Encoding.ASCII.GetString(body, pos, nlen);
                pos += nlen;
                int vlen = (body[pos] << 24) | (body[pos + 1] << 16) | (body[pos + 2] << 8) | body[pos + 3];
                pos += 4;
                if (vlen < 0 || pos + vlen > body.Length) break;
                if (string.Equals(name, wanted, StringComparison.OrdinalIgnoreCase)) return Encoding.ASCII.GetString(body, pos, vlen);
                pos += vlen;
            }
            return null;
        }

        static bool CommandIs(byte[] body, byte[] name)
        {
            return body.Length >= 1 + name.Length && body[0] == name.Length && Bits.SegmentEquals(body, 1, name.Length, name);
        }

        /// <summary>Reads messages until the link fails; returns the reason.</summary>
        string ReadLoop(Stream stream)
        {
            try
            {
                while (!_disposed)
                {
                    _incoming.Reset();
                    bool more = true;
                    while (more)
                    {
                        bool command;
                        long size = ReadFrameHeader(stream, out more, out command);
                        if (command)
                        {
                            byte[] body = new byte[size]; // commands are rare (PING): allocation is fine here
                            ReadExactly(stream, body, 0, (int)size);
                            HandleCommand(body);
                            more = _incoming.FrameCount > 0; // a command never sits inside a multipart message
                            continue;
                        }
                        if (_incoming.FrameCount >= _options.MaxFramesPerMessage)
                            throw new ZmtpException("peer sent a message with more than " + _options.MaxFramesPerMessage + " frames");
                        byte[] buf = _incoming.NextFrameBuffer((int)size);
                        ReadExactly(stream, buf, 0, (int)size);
                    }
                    if (_incoming.FrameCount == 0) continue;
                    try { _onMessage(_incoming); }
                    catch (Exception) { /* the handler reports its own errors; the link stays up */ }
                }
                return "socket closed";
            }
            catch (EndOfStreamException) { return "connection to " + Endpoint + " closed by the peer"; }
            catch (ZmtpException e) { return "protocol error on " + Endpoint + ": " + e.Message; }
            catch (Exception e) when (e is IOException || e is SocketException || e is ObjectDisposedException)
            {
                return _disposed ? "socket closed" : "connection to " + Endpoint + " lost: " + e.Message;
            }
            catch (Exception e)
            {
                return _disposed ? "socket closed" : "connection to " + Endpoint + " failed: " + e.GetType().Name + ": " + e.Message;
            }
        }

        void HandleCommand(byte[] body)
        {
            if (!CommandIs(body, PingName)) return; // other commands (e.g. SUBSCRIBE echoes) mean nothing to a client
            // PING: 2-byte TTL then context; answer PONG with the same context.
            int ctxOff = 1 + PingName.Length + 2;
            int ctxLen = Math.Max(0, body.Length - ctxOff);
            var pong = new byte[5 + ctxLen];
            pong[0] = 4; pong[1] = (byte)'P'; pong[2] = (byte)'O'; pong[3] = (byte)'N'; pong[4] = (byte)'G';
            if (ctxLen > 0) Buffer.BlockCopy(body, ctxOff, pong, 5, ctxLen);
            lock (_sendLock)
            {
                if (_stream == null) return;
                try { WriteFrame(_stream, pong, 0, pong.Length, false, true); _stream.Flush(); }
                catch (Exception) { DropLinkLocked(); }
            }
        }

        long ReadFrameHeader(Stream stream, out bool more, out bool command)
        {
            ReadExactly(stream, _header, 0, 1);
            byte flags = _header[0];
            if ((flags & 0xf8) != 0) throw new ZmtpException("invalid frame flags 0x" + flags.ToString("x2"));
            more = (flags & 0x01) != 0;
            command = (flags & 0x04) != 0;
            long size;
            if ((flags & 0x02) != 0)
            {
                ReadExactly(stream, _header, 1, 8);
                size = 0;
                for (int i = 1; i <= 8; i++) size = (size << 8) | _header[i];
            }
            else
            {
                ReadExactly(stream, _header, 1, 1);
                size = _header[1];
            }
            if (size < 0 || size > _options.MaxFrameBytes)
                throw new ZmtpException("frame of " + size + " bytes exceeds the limit of " + _options.MaxFrameBytes);
            if (command && more) throw new ZmtpException("command frame with the MORE flag");
            return size;
        }

        byte[] ReadFrameBody(Stream stream, out bool more, out bool command, int limit)
        {
            long size = ReadFrameHeader(stream, out more, out command);
            if (size > limit) throw new ZmtpException("handshake frame of " + size + " bytes is too large");
            var body = new byte[size];
            ReadExactly(stream, body, 0, (int)size);
            return body;
        }

        static void ReadExactly(Stream s, byte[] buf, int offset, int count)
        {
            while (count > 0)
            {
                int n = s.Read(buf, offset, count);
                if (n <= 0) throw new EndOfStreamException();
                offset += n; count -= n;
            }
        }

        static void WriteFrame(Stream s, byte[] data, int offset, int count, bool more, bool command)
        {
            byte flags = (byte)((more ? 0x01 : 0) | (command ? 0x04 : 0));
            if (count > 255)
            {
                s.WriteByte((byte)(flags | 0x02));
                ulong n = (ulong)count;
                for (int i = 7; i >= 0; i--) s.WriteByte((byte)(n >> (8 * i)));
            }
            else
            {
                s.WriteByte(flags);
                s.WriteByte((byte)count);
            }
            s.Write(data, offset, count);
        }

        void DropLinkLocked()
        {
            if (_tcp != null) { try { _tcp.Close(); } catch (Exception) { } }
            _tcp = null;
            _stream = null;
        }

        public void Dispose()
        {
            _disposed = true;
            lock (_sendLock) DropLinkLocked();
            if (_thread != null && _thread != Thread.CurrentThread) _thread.Join(3000);
        }
    }

    public sealed class ZmtpException : Exception
    {
        public ZmtpException(string message) : base(message) { }
    }
}
