// A cluster's ZeroMQ directory (`vasa-bridge serve --ray`, SPEC.md §8.6): it answers hello with `assign`, naming the
// replica this client should use. Ask it before creating the VasaBridgeClient, and again after the replica is lost
// (a SessionLost / ServerRestarted event): the directory then names a live replica.
using System;
using System.Collections.Generic;
using System.Threading;

namespace VasaBridge
{
    public static class VasaClusterDirectory
    {
        /// <summary>Options for the replica the directory at `directory` (Url "tcp://host:port", or Host and
        /// RequestPort) assigns: a copy of `directory` with Host, RequestPort and StreamPort set and Url cleared.
        /// Throws VasaBridgeException with the directory's error code (e.g. session_limit when every replica is
        /// full, version_mismatch from an older directory) or "timeout".</summary>
        public static VasaBridgeClientOptions Assign(VasaBridgeClientOptions directory, int timeoutMs = 5000)
        {
            string host = directory.Host;
            int port = directory.RequestPort;
            if (!string.IsNullOrEmpty(directory.Url))
            {
                Uri uri;
                if (!Uri.TryCreate(directory.Url, UriKind.Absolute, out uri) || uri.Scheme != "tcp" || uri.Port <= 0)
                    throw new ArgumentException("directory URL '" + directory.Url + "' is not tcp://host:port");
                host = uri.Host;
                port = uri.Port;
            }
            MsgPackMap reply = null;
            string problem = null;
            var done = new ManualResetEventSlim(false);
            var socket = new ZmtpSocket(host, port, ZmtpSocketType.Dealer, directory.Zmtp, m =>
            {
                try { reply = new MsgPackReader(m.FrameBuffer(0), 0, m.FrameLength(0)).ReadValue() as MsgPackMap; }
                catch (MsgPackException e) { problem = "undecodable reply: " + e.Message; }
                done.Set();
            }, null);
            try
            {
                socket.Start();
                var hello = new MsgPackMap { { "type", "hello" }, { "id", 1L }, { "protocol", ProtocolInfo.Version },
                                             { "client", ProtocolInfo.ClientName } };
                if (directory.Token != null) hello["token"] = directory.Token;
                var writer = new MsgPackWriter(128);
                writer.WriteValue(hello);
                var frames = new List<ArraySegment<byte>> { new ArraySegment<byte>(writer.Buffer, 0, writer.Length) };
                var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
                while (!socket.Send(frames))  // not connected yet: this socket does not queue
                {
                    if (DateTime.UtcNow >= deadline)
                        throw new VasaBridgeException("timeout", "no cluster directory at tcp://" + host + ":" + port);
                    Thread.Sleep(10);
                }
                int left = (int)Math.Max(0, (deadline - DateTime.UtcNow).TotalMilliseconds);
                if (!done.Wait(left))
                    throw new VasaBridgeException("timeout", "no answer from the cluster directory at tcp://" + host + ":" + port);
            }
            finally { socket.Dispose(); }
            if (reply == null) throw new VasaBridgeException("bad_reply", problem ?? "the directory's reply is not a map");
            string type = reply.GetString("type");
            if (type == "error")
                throw new VasaBridgeException(reply.GetString("code"), reply.GetString("message"));
            if (type != "assign")
                throw new VasaBridgeException("bad_reply", "expected 'assign' from a cluster directory but got '" + type + "'");
            Uri request, stream;
            if (!Uri.TryCreate(reply.GetString("zmq"), UriKind.Absolute, out request) ||
                !Uri.TryCreate(reply.GetString("zmq_stream"), UriKind.Absolute, out stream))
                throw new VasaBridgeException("bad_reply", "assign with unreadable endpoints");
            return new VasaBridgeClientOptions
            {
                Host = request.Host, RequestPort = request.Port, StreamPort = stream.Port, Url = null,
                Token = directory.Token, RequestTimeoutMs = directory.RequestTimeoutMs,
                RenderOpenTimeoutMs = directory.RenderOpenTimeoutMs, ConnectWaitMs = directory.ConnectWaitMs,
                MaxAudioRetries = directory.MaxAudioRetries, HeartbeatTimeoutIntervals = directory.HeartbeatTimeoutIntervals,
                Zmtp = directory.Zmtp, WebSocket = directory.WebSocket,
            };
        }
    }
}
