// IWebSocketBridge over the browser's WebSocket, through Plugins/WebGL/VasaBridgeWebSocket.jslib (DllImport
// "__Internal": Emscripten links the .jslib functions into the player). Kept thin on purpose: each method is one or
// two JS calls, and everything with logic (reconnects, routing, timeouts) is in PumpedWebSocketLink, which is tested
// under mono. The JS side is tested under node (tests/test_unity_webgl.py). Compiled only into WebGL players.
#if UNITY_WEBGL && !UNITY_EDITOR
using System;
using System.Runtime.InteropServices;

namespace VasaBridge
{
    public sealed class WebGLWebSocketBridge : IWebSocketBridge
    {
        [DllImport("__Internal")] static extern int VasaWS_Open(string url, string subProtocol);
        [DllImport("__Internal")] static extern int VasaWS_Send(int socket, byte[] data, int length);
        [DllImport("__Internal")] static extern int VasaWS_PeekKind(int socket);
        [DllImport("__Internal")] static extern int VasaWS_PeekLength(int socket);
        [DllImport("__Internal")] static extern int VasaWS_PeekCode(int socket);
        [DllImport("__Internal")] static extern string VasaWS_PeekText(int socket);
        [DllImport("__Internal")] static extern int VasaWS_Take(int socket, byte[] buffer, int capacity);
        [DllImport("__Internal")] static extern void VasaWS_Close(int socket, int code, string reason);
        [DllImport("__Internal")] static extern void VasaWS_Release(int socket);

        public int Open(string url, string subProtocol) { return VasaWS_Open(url, subProtocol ?? ""); }

        public bool Send(int socket, byte[] data, int count) { return VasaWS_Send(socket, data, count) == 1; }

        public bool Poll(int socket, ref byte[] buffer, out WebSocketEvent e)
        {
            e = default(WebSocketEvent);
            e.Kind = (WebSocketEventKind)VasaWS_PeekKind(socket);
            if (e.Kind == WebSocketEventKind.None) return false;
            e.Length = VasaWS_PeekLength(socket);
            e.CloseCode = VasaWS_PeekCode(socket);
            if (e.Kind != WebSocketEventKind.Message) e.Text = VasaWS_PeekText(socket);
            else if (buffer.Length < e.Length) buffer = new byte[Math.Max(e.Length, buffer.Length * 2)];
            VasaWS_Take(socket, buffer, buffer.Length);
            return true;
        }

        public void Close(int socket, int code, string reason) { VasaWS_Close(socket, code, reason ?? ""); }

        public void Release(int socket) { VasaWS_Release(socket); }
    }
}
#endif
