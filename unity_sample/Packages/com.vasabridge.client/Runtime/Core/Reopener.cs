// Where a VasaLineStreamer opens its session again when the server serving it is lost (a cluster replica killed,
// a sidecar restarted): the same client, whose link reconnects by itself (WebSocket through a cluster's ingress,
// which routes to a live replica; or a sidecar restarted on its address), or a new client on the replica a cluster
// directory assigns (ZeroMQ, SPEC.md §8.6). Nothing here blocks the game loop: the directory is asked on a worker
// thread and Poll only looks at the answer.
using System;
using System.Threading.Tasks;

namespace VasaBridge
{
    public sealed class VasaReopener
    {
        /// <summary>Pause between attempts while no server takes the session.</summary>
        public const int RetryPeriodMs = 200;

        /// <summary>Give up (the line fails with code "reopen_failed") when no server took the session this long
        /// after the loss was noticed.</summary>
        public readonly int TimeoutMs;
        readonly VasaBridgeClientOptions _directory; // null: re-open on the same client
        Task<VasaBridgeClient> _assigning;
        string _lostEndpoint;

        VasaReopener(VasaBridgeClientOptions directory, int timeoutMs)
        {
            if (timeoutMs <= 0) throw new ArgumentOutOfRangeException("timeoutMs");
            _directory = directory;
            TimeoutMs = timeoutMs;
        }

        /// <summary>Re-open on the same client: right for WebSocket (a cluster's ws:// address routes the new
        /// connection to a live replica; works on the pumped WebGL link too) and for a sidecar restarted in place.
        /// When the server ended the session but kept the connection (a draining replica: `shutdown`), a new client
        /// with the same options takes over, since only a new connection reaches another replica.</summary>
        public static VasaReopener SameAddress(int timeoutMs = 10000)
        {
            return new VasaReopener(null, timeoutMs);
        }

        /// <summary>Re-open on a new client for the replica the cluster directory at `directory` assigns (ZeroMQ;
        /// needs threads, so not in a WebGL player, which has no ZeroMQ anyway). The lost client is disposed in the
        /// background and VasaLineStreamer.Client is the new one: dispose that when done, as you would the first.</summary>
        public static VasaReopener ClusterDirectory(VasaBridgeClientOptions directory, int timeoutMs = 10000)
        {
            if (directory == null) throw new ArgumentNullException("directory");
            return new VasaReopener(directory, timeoutMs);
        }

        /// <summary>Non-blocking. The client to open the session on next, or null while the directory is still being
        /// asked (call again next frame); `problem` is set when this attempt failed (try again after RetryPeriodMs).
        /// `lost` is the client the lost session was on; `freshConnection`: its connection still stands but leads to
        /// a server that will not take the session again.</summary>
        internal VasaBridgeClient Poll(VasaBridgeClient lost, bool freshConnection, out VasaBridgeException problem)
        {
            problem = null;
            if (_directory == null)
            {
                if (!freshConnection) return lost;
                var fresh = new VasaBridgeClient(lost.Options); // connects in the background: nothing waits here
                fresh.Start();
                Retire(lost);
                return fresh;
            }
            if (_assigning == null)
            {
                VasaBridgeClientOptions o = lost.Options;
                if (o.Url == null) _lostEndpoint = o.Host + ":" + o.RequestPort;
                VasaBridgeClientOptions directory = _directory;
                int timeoutMs = Math.Min(TimeoutMs, Math.Max(1000, directory.RequestTimeoutMs));
                _assigning = Task.Run(() =>
                {
                    var client = new VasaBridgeClient(VasaClusterDirectory.Assign(directory, timeoutMs));
                    client.Start();
                    return client;
                });
                return null;
            }
            if (!_assigning.IsCompleted) return null;
            Task<VasaBridgeClient> done = _assigning;
            _assigning = null;
            if (done.IsFaulted)
            {
                Exception e = done.Exception.GetBaseException();
                problem = e as VasaBridgeException ?? new VasaBridgeException("disconnected", e.Message);
                return null;
            }
            VasaBridgeClient next = done.Result;
            if (next.Options.Host + ":" + next.Options.RequestPort == _lostEndpoint)
            {
                // The directory notices a lost replica only when its posts stop for a second (registry STALE_S):
                // until then it may name the lost one again.
                Retire(next);
                problem = new VasaBridgeException("disconnected", "the directory still assigns the lost replica at tcp://" + _lostEndpoint);
                return null;
            }
            Retire(lost); // its sockets would keep reconnecting to the lost replica
            return next;
        }

        /// <summary>Disposes a client the line no longer uses without waiting for its threads; a pumped (WebGL)
        /// client has none, and its Dispose only closes the browser's socket.</summary>
        static void Retire(VasaBridgeClient client)
        {
            if (client.IsPumped) client.Dispose();
            else Task.Run(() => client.Dispose());
        }
    }
}
