// A request in flight (SPEC.md §4): the handle VasaBridgeClient's Begin* methods return at once. It completes when
// the reply arrives (or the request fails: error reply, timeout, lost connection); poll IsDone from a coroutine or
// Update, or pass a callback to OnDone. This is what a WebGL player needs: its single thread cannot block for a reply,
// because the browser delivers WebSocket messages only after the frame returns. The blocking API (Open, PushAudio, ...)
// is Begin* followed by Wait, so both share one request path.
using System;
using System.Threading;

namespace VasaBridge
{
    public class VasaRequest
    {
        // ---- what to send (the client's request machinery reads and updates these) ----
        internal readonly MsgPackMap Request;
        internal readonly byte[] Payload;           // the trailing frame (audio, portrait), owned by the request
        internal readonly string Expected;          // the reply type that means success
        internal readonly bool NeedsHello;
        internal readonly int TimeoutMs;
        internal readonly Func<MsgPackMap, object> Finish; // reply -> Result on the delivering thread; may throw
        internal int AudioRetriesLeft;               // rate_limited / busy answers left to resend after (§7)
        internal bool HelloRetried;                  // one repeat after hello_required (§8.2)
        internal long DeadlineTicks;                 // while waiting for the link, or for the reply
        internal long NotBeforeTicks;                // a resend waits until then (retry_after_ms)
        internal WaitReason Waiting;

        internal enum WaitReason { None, Link, Hello, RetryAfter }

        readonly ManualResetEventSlim _done = new ManualResetEventSlim(false);
        readonly object _lock = new object();
        Action<VasaRequest> _onDone;
        volatile bool _isDone;
        MsgPackMap _reply;
        object _result;
        VasaBridgeException _error;

        internal VasaRequest(MsgPackMap request, byte[] payload, string expected, bool needsHello, int timeoutMs,
                             Func<MsgPackMap, object> finish)
        {
            Request = request;
            Payload = payload;
            Expected = expected;
            NeedsHello = needsHello;
            TimeoutMs = timeoutMs;
            Finish = finish;
        }

        /// <summary>The request's type (`open`, `audio`, ...).</summary>
        public string Type { get { return (string)Request["type"]; } }
        internal long Id { get { return (long)Request["id"]; } }
        public bool IsDone { get { return _isDone; } }
        /// <summary>True once done without an error.</summary>
        public bool Succeeded { get { return _isDone && _error == null; } }
        /// <summary>The reply map (null until done, or when the request failed).</summary>
        public MsgPackMap Reply { get { return _isDone ? _reply : null; } }
        /// <summary>Why the request failed (error reply, timeout, disconnected); null while pending or on
        /// success.</summary>
        public VasaBridgeException Error { get { return _isDone ? _error : null; } }
        internal object Result { get { return _result; } }

        /// <summary>Calls `callback` once the request is done: at once if it already is, else on the thread that
        /// completes it (in a WebGL player the main thread, inside VasaBridgeClient.Update; on desktop the client's
        /// network thread, so hand work to the main thread from there).</summary>
        public VasaRequest OnDone(Action<VasaRequest> callback)
        {
            lock (_lock)
            {
                if (!_isDone)
                {
                    _onDone += callback;
                    return this;
                }
            }
            callback(this);
            return this;
        }

        /// <summary>Blocks until done (up to `timeoutMs`); the blocking API is built on it.</summary>
        internal bool WaitSignal(int timeoutMs) { return _done.Wait(timeoutMs); }

        /// <summary>Completes the request once; later calls (a late reply after a timeout) are ignored.</summary>
        internal bool Complete(MsgPackMap reply, object result, VasaBridgeException error)
        {
            Action<VasaRequest> callbacks;
            lock (_lock)
            {
                if (_isDone) return false;
                _reply = error == null ? reply : null;
                _result = result;
                _error = error;
                _isDone = true;
                callbacks = _onDone;
                _onDone = null;
            }
            _done.Set();
            if (callbacks != null) callbacks(this);
            return true;
        }
    }

    /// <summary>A request whose reply becomes a typed value (a VasaSession for `open`, received_ms for
    /// `audio`).</summary>
    public sealed class VasaRequest<T> : VasaRequest
    {
        internal VasaRequest(MsgPackMap request, byte[] payload, string expected, bool needsHello, int timeoutMs,
                             Func<MsgPackMap, object> finish)
            : base(request, payload, expected, needsHello, timeoutMs, finish)
        {
        }

        /// <summary>The result once Succeeded; default(T) before, or after a failure.</summary>
        public T Value { get { return Succeeded ? (T)Result : default(T); } }
    }
}
