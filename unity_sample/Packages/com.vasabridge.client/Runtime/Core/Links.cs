// Which binding a VasaBridgeClient talks over, chosen by the URL's scheme: ws:// or wss:// → the WebSocket binding
// (SPEC.md §9), tcp:// or no URL → ZeroMQ (§8). The session API above is the same for both. WebSocket runs on its
// own thread (WebSocketLink), or pumped from Update over a socket bridge (PumpedWebSocketLink: WebGL players).
using System;

namespace VasaBridge
{
    internal static class VasaLinks
    {
        public static void Create(VasaBridgeClientOptions opt, ZmtpSocket.MessageHandler onReply,
            ZmtpSocket.MessageHandler onStream,
                                  ZmtpSocket.LinkHandler onRequestLink, ZmtpSocket.LinkHandler onStreamLink,
                                  out IVasaLink requests, out IVasaLink stream)
        {
            string url = opt.Url;
            if (!string.IsNullOrEmpty(url) && (url.StartsWith("ws://", StringComparison.OrdinalIgnoreCase) ||
                                               url.StartsWith("wss://", StringComparison.OrdinalIgnoreCase)))
            {
                Func<IWebSocketBridge> bridge = opt.WebSocketBridge;
#if UNITY_WEBGL && !UNITY_EDITOR
                // No threads and no System.Net.WebSockets in a WebGL player: the browser's socket, pumped by Update.
                if (bridge == null) bridge = () => new WebGLWebSocketBridge();
#endif
                if (bridge != null)
                {
                    var pumped = new PumpedWebSocketLink(bridge(), url, opt.WebSocket, onReply, onStream,
                        onRequestLink, onStreamLink);
                    requests = pumped.Requests;
                    stream = pumped.Stream;
                    return;
                }
                var ws = new WebSocketLink(url, opt.WebSocket, onReply, onStream, onRequestLink, onStreamLink);
                requests = ws.Requests;
                stream = ws.Stream;
                return;
            }
            string host = opt.Host;
            int requestPort = opt.RequestPort, streamPort = opt.StreamPort;
            if (!string.IsNullOrEmpty(url))
            {
                Uri uri;
                if (!Uri.TryCreate(url, UriKind.Absolute, out uri) || uri.Scheme != "tcp" || uri.Port <= 0)
                    throw new ArgumentException("sidecar URL '" + url
                        + "' is neither ws://host:port/ (WebSocket) nor tcp://host:port (ZeroMQ)");
                host = uri.Host;
                requestPort = uri.Port;
                streamPort = uri.Port + 1; // `vasa-bridge serve` puts the stream socket on the next port by default
            }
            requests = new ZmtpSocket(host, requestPort, ZmtpSocketType.Dealer, opt.Zmtp, onReply, onRequestLink);
            stream = new ZmtpSocket(host, streamPort, ZmtpSocketType.Sub, opt.Zmtp, onStream, onStreamLink);
        }
    }
}
