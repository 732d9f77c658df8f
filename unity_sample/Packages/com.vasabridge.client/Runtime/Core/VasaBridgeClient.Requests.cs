// The client's one request path (SPEC.md §4, §7): a VasaRequest is sent once the link is up and hello is done, waits
// in flight for the reply with its id, and is resent after hello_required (once) or rate_limited / busy (audio, after
// retry_after_ms). Nothing here blocks: replies complete requests on the thread that delivers them, and Pump moves
// waiting requests on and expires late ones. Pump runs on the client's timer where there are threads, and from
// Update in a WebGL player (no threads there: see IPumpedLink). The blocking API waits on a request's signal.
using System;
using System.Collections.Generic;
using System.Threading;

namespace VasaBridge
{
    public sealed partial class VasaBridgeClient
    {
        readonly object _requestsLock = new object();
        readonly Dictionary<long, VasaRequest> _inFlight = new Dictionary<long, VasaRequest>(); // by id
        readonly List<VasaRequest> _parked = new List<VasaRequest>(); // waiting for the link, hello or a retry time
        VasaRequest _helloInFlight;

        VasaRequest<T> Submit<T>(MsgPackMap request, byte[] payload, string expected, bool needsHello, int timeoutMs,
                                 Func<MsgPackMap, object> finish, int audioRetries = 0)
        {
            var r = new VasaRequest<T>(request, payload, expected, needsHello, timeoutMs > 0 ? timeoutMs
                : _opt.RequestTimeoutMs, finish);
            r.AudioRetriesLeft = audioRetries;
            if (_disposed)
                r.Complete(null, null, new VasaBridgeException("disposed", "the VasaBridgeClient was disposed"));
            else Advance(r);
            return r;
        }

        /// <summary>Sends `r` if it can go now, else parks it until the link is up or hello is done.</summary>
        void Advance(VasaRequest r)
        {
            long now = DateTime.UtcNow.Ticks;
            if (r.NeedsHello && !_helloDone)
            {
                StartHello();
                Park(r, VasaRequest.WaitReason.Hello, now + r.TimeoutMs * TimeSpan.TicksPerMillisecond);
                return;
            }
            if (!_req.IsConnected)
            {
                // Covers the first request right after Start, and one made during a reconnect.
                Park(r, VasaRequest.WaitReason.Link, now + _opt.ConnectWaitMs * TimeSpan.TicksPerMillisecond);
                return;
            }
            Transmit(r);
        }

        void Park(VasaRequest r, VasaRequest.WaitReason why, long deadlineTicks)
        {
            r.Waiting = why;
            r.DeadlineTicks = deadlineTicks;
            lock (_requestsLock) _parked.Add(r);
        }

        void StartHello()
        {
            VasaRequest hello;
            lock (_requestsLock)
            {
                if (_helloInFlight != null && !_helloInFlight.IsDone) return;
                hello = NewHello();
                _helloInFlight = hello;
            }
            hello.OnDone(OnHelloDone);
            Advance(hello);
        }

        void OnHelloDone(VasaRequest hello)
        {
            if (hello.Succeeded) return; // Pump sends the requests that waited for it
            // The requests that waited for this hello fail with its error (disconnected, version_mismatch, ...).
            List<VasaRequest> failed = new List<VasaRequest>();
            lock (_requestsLock)
            {
                for (int i = _parked.Count - 1; i >= 0; i--)
                {
                    if (_parked[i].Waiting != VasaRequest.WaitReason.Hello) continue;
                    failed.Add(_parked[i]);
                    _parked.RemoveAt(i);
                }
            }
            foreach (VasaRequest r in failed) r.Complete(null, null, hello.Error);
        }

        void Transmit(VasaRequest r)
        {
            var writer = new MsgPackWriter(128);
            writer.WriteValue(r.Request);
            var frames = new List<ArraySegment<byte>>(2) { new ArraySegment<byte>(writer.Buffer, 0, writer.Length) };
            if (r.Payload != null) frames.Add(new ArraySegment<byte>(r.Payload));
            r.Waiting = VasaRequest.WaitReason.None;
            r.DeadlineTicks = DateTime.UtcNow.Ticks + r.TimeoutMs * TimeSpan.TicksPerMillisecond;
            lock (_requestsLock) _inFlight[r.Id] = r; // before sending: the reply may beat Send's return
            bool sent;
            try { sent = _req.Send(frames); }
            catch (MsgPackException e)
            {
                lock (_requestsLock) _inFlight.Remove(r.Id);
                r.Complete(null, null, new VasaBridgeException("bad_request", e.Message));
                return;
            }
            if (sent) return;
            lock (_requestsLock) _inFlight.Remove(r.Id);
            r.Complete(null, null, new VasaBridgeException("disconnected", "not connected to the sidecar at "
                + _req.Endpoint + " (is `vasa-bridge serve` running?); the client keeps retrying in the background"));
        }

        /// <summary>Moves parked requests on (link up, hello done, retry time reached) and fails those past their
        /// deadline. Allocation-free when nothing is due, so Update can call it every frame.</summary>
        void Pump()
        {
            long now = DateTime.UtcNow.Ticks;
            List<VasaRequest> ready = null, late = null;
            lock (_requestsLock)
            {
                for (int i = _parked.Count - 1; i >= 0; i--)
                {
                    VasaRequest r = _parked[i];
                    bool go;
                    switch (r.Waiting)
                    {
                        case VasaRequest.WaitReason.Link: go = _req.IsConnected; break;
                        case VasaRequest.WaitReason.Hello:
                            go = _helloDone || _helloInFlight == null || _helloInFlight.IsDone; break;
                        default: go = now >= r.NotBeforeTicks; break;
                    }
                    if (!go && now < r.DeadlineTicks) continue;
                    _parked.RemoveAt(i);
                    if (go) (ready ?? (ready = new List<VasaRequest>())).Add(r);
                    else (late ?? (late = new List<VasaRequest>())).Add(r);
                }
                foreach (KeyValuePair<long, VasaRequest> kv in _inFlight)
                    if (now >= kv.Value.DeadlineTicks) (late ?? (late = new List<VasaRequest>())).Add(kv.Value);
                if (late != null) foreach (VasaRequest r in late) _inFlight.Remove(r.Id);
            }
            if (late != null) foreach (VasaRequest r in late) r.Complete(null, null, LateError(r));
            if (ready != null) for (int i = ready.Count - 1; i >= 0; i--) Advance(ready[i]); // oldest first
        }

        VasaBridgeException LateError(VasaRequest r)
        {
            if (r.Waiting == VasaRequest.WaitReason.Link)
                return new VasaBridgeException("disconnected", "not connected to the sidecar at " + _req.Endpoint
                    + " (is `vasa-bridge serve` running?); the client keeps retrying in the background");
            return new VasaBridgeException("timeout", "no reply to '" + r.Type + "' from " + _req.Endpoint + " within "
                + r.TimeoutMs + " ms; the sidecar is unreachable or overloaded");
        }

        /// <summary>Completes (or resends) the request a reply answers; runs on the thread that delivered it.</summary>
        void Resolve(VasaRequest r, MsgPackMap reply, string problem)
        {
            if (problem != null)
            {
                r.Complete(null, null, new VasaBridgeException("bad_reply", problem));
                return;
            }
            object typeObj;
            reply.TryGetValue("type", out typeObj);
            string type = typeObj as string;
            if (type == "error")
            {
                object code, message, retry;
                reply.TryGetValue("code", out code);
                reply.TryGetValue("message", out message);
                reply.TryGetValue("retry_after_ms", out retry);
                string c = code as string ?? "bad_reply";
                double retryMs = retry is double ? (double)retry : retry is long ? (long)retry : 0;
                if (c == "hello_required")
                {
                    // The server forgot this client (it drops idle clients without sessions, §8.2, or it restarted
                    // while the link survived): say hello again and repeat the request once. Resends go through
                    // Pump, never from the network thread that delivered this reply.
                    _helloDone = false;
                    if (r.NeedsHello && !r.HelloRetried)
                    {
                        r.HelloRetried = true;
                        Renumber(r);
                        Park(r, VasaRequest.WaitReason.Hello, DateTime.UtcNow.Ticks
                            + r.TimeoutMs * TimeSpan.TicksPerMillisecond);
                        return;
                    }
                }
                else if ((c == "rate_limited" || c == "busy") && r.AudioRetriesLeft > 0)
                {
                    r.AudioRetriesLeft--;
                    Renumber(r);
                    r.NotBeforeTicks = DateTime.UtcNow.Ticks
                        + (long)Math.Min(2000, Math.Max(10, retryMs)) * TimeSpan.TicksPerMillisecond;
                    Park(r, VasaRequest.WaitReason.RetryAfter, r.NotBeforeTicks
                        + r.TimeoutMs * TimeSpan.TicksPerMillisecond);
                    return;
                }
                r.Complete(null, null, new VasaBridgeException(c, (message as string) ?? "(no message)", retryMs));
                return;
            }
            if (type != r.Expected)
            {
                r.Complete(null, null, new VasaBridgeException("bad_reply", "expected '" + r.Expected + "' but got '"
                    + (type ?? "?") + "'"));
                return;
            }
            object result;
            try { result = r.Finish == null ? reply : r.Finish(reply); }
            catch (VasaBridgeException e) { r.Complete(null, null, e); return; }
            catch (MsgPackException e)
            {
                r.Complete(null, null, new VasaBridgeException("bad_reply", r.Expected + ": " + e.Message));
                return;
            }
            r.Complete(reply, result, null);
        }

        void Renumber(VasaRequest r) { r.Request["id"] = Interlocked.Increment(ref _nextId) & 0xffffffffL; }

        /// <summary>The request a reply with this id answers, taken out of the in-flight table; an error with id nil
        /// answers the oldest one (§3: the server could not read its id).</summary>
        VasaRequest TakeInFlight(object id, MsgPackMap reply)
        {
            lock (_requestsLock)
            {
                VasaRequest r = null;
                if (id is long) _inFlight.TryGetValue((long)id, out r);
                else if (reply != null && id == null && IsRequestError(reply))
                {
                    long best = long.MaxValue;
                    foreach (long k in _inFlight.Keys) if (k < best) best = k;
                    if (best != long.MaxValue) r = _inFlight[best];
                }
                if (r != null) _inFlight.Remove(r.Id);
                return r;
            }
        }

        /// <summary>Fails every request waiting for a reply: the link they were sent on is gone.</summary>
        void FailInFlight(string reason)
        {
            List<VasaRequest> failed;
            lock (_requestsLock)
            {
                failed = new List<VasaRequest>(_inFlight.Values);
                _inFlight.Clear();
            }
            foreach (VasaRequest r in failed)
                r.Complete(null, null, new VasaBridgeException("disconnected",
                    "lost the connection to the sidecar while waiting for a reply: " + reason));
        }

        /// <summary>Fails every request, parked or in flight (the client is going away).</summary>
        void FailAll(string code, string message)
        {
            List<VasaRequest> failed;
            lock (_requestsLock)
            {
                failed = new List<VasaRequest>(_inFlight.Values);
                failed.AddRange(_parked);
                _inFlight.Clear();
                _parked.Clear();
            }
            foreach (VasaRequest r in failed) r.Complete(null, null, new VasaBridgeException(code, message));
        }

        /// <summary>The blocking API: waits for `r` and returns its value or throws its error.</summary>
        T Await<T>(VasaRequest<T> r)
        {
            if (_pumped != null)
                throw new InvalidOperationException("blocking calls cannot complete on a link pumped from Update "
                    + "(a WebGL player): use the Begin* methods and poll the request's IsDone");
            while (!r.WaitSignal(10)) Pump(); // pumping here makes retry_after_ms resends prompt
            if (r.Error != null) throw r.Error;
            return r.Value;
        }
    }
}
