// One spoken line sent with the non-blocking request API, stepped from the game loop (VasaBridgeFace.Update): open,
// push the audio in 100 ms chunks as fast as the sidecar answers (a few in flight), end_audio once every chunk is
// acknowledged. Nothing waits, so it runs the same in a WebGL player (single thread) and on desktop. When rendered
// frames are asked for, pushing stays within AheadMs of playback so the images fit the session's render buffer.
//
// With a VasaReopener the line outlives the server serving it (what vasa_bridge.client.failover.ReopeningSession
// does in Python): when its session is lost (connection lost, heartbeat timeout, the server's `end` with shutdown or
// error, or a request failing with disconnected / timeout / unknown_session / hello_required / shutting_down) it
// opens a session with the same options (and the controls set since) where the reopener says, and pushes the audio
// again from the first frame not received: frame k of the new session is frame FramesDelivered + k of the line, and
// it lands in the same jitter buffer with that seq and pts, so playback on the audio clock goes on. Frames the lost
// server had computed but not delivered are computed again, not lost; what is lost is the old session's motion
// context (frames right after the seam can differ from an uninterrupted run) and the re-open time, which playback
// sees as an underrun only if the buffer ran dry meanwhile.
using System;
using System.Collections.Generic;

namespace VasaBridge
{
    public sealed class VasaLineStreamer
    {
        /// <summary>Audio per `audio` request (the sidecar takes any size; 100 ms keeps replies frequent).</summary>
        public const int ChunkMs = 100;
        /// <summary>Chunks in flight at once: enough to stay ahead of real time without flooding the sidecar.</summary>
        public const int MaxChunksInFlight = 4;

        readonly float[] _samples;
        readonly int _sampleRateHz, _chunk;
        readonly double _aheadMs;
        readonly Queue<VasaRequest<double>> _pushes = new Queue<VasaRequest<double>>();
        readonly OpenOptions _options;
        readonly VasaReopener _reopener;  // null: a lost session ends the line with its error
        VasaBridgeClient _client;
        VasaRequest<VasaSession> _open;   // null while a re-open waits for its client or its retry time
        VasaSession _lost;                // while re-opening: the lost session the new one continues
        long _lostAtTicks, _retryAtTicks;
        bool _freshConnection;            // the lost session's server ended it but keeps the connection
        VasaRequest<double> _end;
        VasaControls _controlsBeforeOpen;
        int _offset;
        bool _stopped, _closeSent;

        /// <summary>Starts the line: sends `open` now, with `options` set to pcm16 at `sampleRateHz` (the samples go
        /// as 16-bit). `aheadMs`: how far pushed audio may run ahead of playback (PositiveInfinity: no limit, for
        /// motion only). `reopener`: where to open the session again if it is lost (null: the line fails instead).
        /// Throws bad_request for options the sidecar would refuse (nothing is sent then).</summary>
        public VasaLineStreamer(VasaBridgeClient client, OpenOptions options, float[] monoSamples, int sampleRateHz,
                                double aheadMs = double.PositiveInfinity, VasaReopener reopener = null)
        {
            if (client == null) throw new ArgumentNullException("client");
            if (monoSamples == null) throw new ArgumentNullException("monoSamples");
            if (sampleRateHz <= 0) throw new ArgumentException("sample rate must be positive, not " + sampleRateHz);
            _client = client;
            _samples = monoSamples;
            _sampleRateHz = sampleRateHz;
            _chunk = Math.Max(1, sampleRateHz * ChunkMs / 1000);
            _aheadMs = aheadMs;
            options.SampleRateHz = sampleRateHz;
            options.Format = AudioFormat.Pcm16;
            options.ReopenOnLoss = reopener != null;
            _options = options;
            _reopener = reopener;
            _open = client.BeginOpen(options);
        }

        /// <summary>The line's session once open_ok arrived (null before, or when open failed); while re-opening,
        /// the lost one; after a re-open, the new one: a different Id, the same Motion and Render buffers.</summary>
        public VasaSession Session { get { return _lost ?? (_open != null ? _open.Value : null); } }
        /// <summary>The client the line's session is on: the one given, or after a re-open through a cluster
        /// directory the one VasaReopener.ClusterDirectory made.</summary>
        public VasaBridgeClient Client { get { return _client; } }
        /// <summary>Times the line's session was opened again after a loss.</summary>
        public int Reopens { get; private set; }
        /// <summary>How long the last re-open took, from noticing the loss to the new open_ok (ms).</summary>
        public double LastReopenMs { get; private set; }
        /// <summary>The line has a VasaReopener: a lost session is opened again rather than ending the line.</summary>
        public bool ReopensLostSessions { get { return _reopener != null; } }
        /// <summary>The session was lost and is being opened again.</summary>
        public bool IsReopening { get { return _lost != null; } }
        /// <summary>Why the line stopped early (open, audio or end_audio failed); null otherwise.</summary>
        public VasaBridgeException Error { get; private set; }
        /// <summary>Every chunk and end_audio acknowledged, or the line failed, or it was stopped and its close
        /// sent.</summary>
        public bool IsDone
        {
            get
            {
                if (_stopped) return _closeSent;
                if (Error != null) return true;
                if (_end == null || !_end.IsDone) return false;
                // With a reopener the line is done only once its stream ended for good: it may still be lost
                // after end_audio_ok, before the server has sent the last frames.
                VasaSession s = Session;
                return _reopener == null || !_end.Succeeded || (s.State == SessionState.Ended && !VasaSession.IsLoss(s.EndReason));
            }
        }
        /// <summary>Audio acknowledged by the sidecar so far (audio_ok.received_ms).</summary>
        public double ReceivedMs { get; private set; }
        public double DurationMs { get { return _samples.Length * 1000.0 / _sampleRateHz; } }

        /// <summary>Moves the line on; `playbackMs` is the audio clock (negative before playback starts).</summary>
        public void Step(double playbackMs)
        {
            if (IsDone) return;
            if (_lost != null && !_stopped && !StepReopen()) return;
            if (_open != null && !_open.IsDone) return;
            if (_stopped)
            {
                // Closed from here, the game loop, rather than from a callback on the client's network thread.
                VasaSession opened = _open != null ? _open.Value : null;
                if (opened != null && opened.State == SessionState.Open) _client.BeginClose(opened);
                _closeSent = true;
                return;
            }
            if (!_open.Succeeded) { Error = _open.Error; return; }
            VasaSession s = _open.Value;
            if (_controlsBeforeOpen != null)
            {
                _client.BeginSetControls(s, _controlsBeforeOpen);
                _controlsBeforeOpen = null;
            }
            while (_pushes.Count > 0 && _pushes.Peek().IsDone)
            {
                VasaRequest<double> p = _pushes.Dequeue();
                if (!p.Succeeded)
                {
                    if (IsLossCode(p.Error.Code)) BeginReopen(s, p.Error.Code == "shutting_down");
                    else Fail(p.Error);
                    return;
                }
                ReceivedMs = Math.Max(ReceivedMs, p.Value);
            }
            if (s.State != SessionState.Open)
            {
                if (IsLoss(s)) BeginReopen(s, s.EndReason == "shutdown" || s.EndReason == "error");
                return; // ended by the sidecar or the connection: nothing more to send
            }
            while (_offset < _samples.Length && _pushes.Count < MaxChunksInFlight
                   && _offset * 1000.0 / _sampleRateHz - Math.Max(0, playbackMs) <= _aheadMs)
            {
                int n = Math.Min(_chunk, _samples.Length - _offset);
                _pushes.Enqueue(_client.BeginPushFloatAsPcm16(s, _samples, _offset, n));
                _offset += n;
            }
            // end_audio only after every chunk's audio_ok: a chunk resent after rate_limited must not come after it.
            if (_offset >= _samples.Length && _pushes.Count == 0 && _end == null) _end = _client.BeginEndAudio(s);
            if (_end != null && _end.IsDone && !_end.Succeeded)
            {
                if (IsLossCode(_end.Error.Code)) BeginReopen(s, _end.Error.Code == "shutting_down");
                else Error = _end.Error;
            }
        }

        // ---- re-opening a lost session ---------------------------------------------------------------------------

        bool IsLoss(VasaSession s) { return _reopener != null && VasaSession.IsLoss(s.EndReason); }

        /// <summary>Request errors that mean this server lost the session though another could take it.</summary>
        bool IsLossCode(string code)
        {
            return _reopener != null && (code == "disconnected" || code == "timeout" || code == "unknown_session"
                                         || code == "hello_required" || code == "shutting_down");
        }

        void BeginReopen(VasaSession lost, bool freshConnection)
        {
            _lost = lost;
            _freshConnection = freshConnection;
            _pushes.Clear(); // their replies, if any come, are about the lost session
            _end = null;
            _open = null;
            _lostAtTicks = _retryAtTicks = DateTime.UtcNow.Ticks;
        }

        /// <summary>Moves a re-open on; true once the new session is open and the line can go on.</summary>
        bool StepReopen()
        {
            long now = DateTime.UtcNow.Ticks;
            if (_open == null)
            {
                if (now < _retryAtTicks) return false;
                VasaBridgeException problem;
                VasaBridgeClient target = _reopener.Poll(_client, _freshConnection, out problem);
                if (problem != null) { RetryOrFail(problem, now); return false; }
                if (target == null) return false; // the directory has not answered yet
                if (target != _client) _freshConnection = false;
                _client = target;
                _open = _client.BeginReopen(_options, _lost);
                return false;
            }
            if (!_open.IsDone) return false;
            if (!_open.Succeeded) { RetryOrFail(_open.Error, now); return false; }
            VasaSession s = _open.Value;
            // The new session's frame 0 is the line's first frame not received: its audio starts at that frame's time.
            _offset = (int)Math.Min(_samples.Length, Math.Round(s.SeqOffset * _sampleRateHz / s.Fps));
            _lost = null;
            Reopens++;
            LastReopenMs = (now - _lostAtTicks) / (double)TimeSpan.TicksPerMillisecond;
            return true;
        }

        void RetryOrFail(VasaBridgeException e, long now)
        {
            _open = null;
            if ((now - _lostAtTicks) / TimeSpan.TicksPerMillisecond + VasaReopener.RetryPeriodMs < _reopener.TimeoutMs)
            {
                _retryAtTicks = now + VasaReopener.RetryPeriodMs * TimeSpan.TicksPerMillisecond;
                return;
            }
            Error = new VasaBridgeException("reopen_failed", "the session was lost and no server took it again within "
                + _reopener.TimeoutMs + " ms: " + e.Message);
            _lost.Motion.MarkEnded(); // nothing more will come: playback finishes instead of waiting
            _open = null;
        }

        /// <summary>Changes the line's controls (sent as soon as the session is open).</summary>
        public void SetControls(VasaControls controls)
        {
            _options.Controls = controls; // a re-opened session starts with the controls in effect
            VasaSession s = Session;
            if (s == null) _controlsBeforeOpen = controls;
            else if (s.State == SessionState.Open && !IsDone) _client.BeginSetControls(s, controls);
        }

        /// <summary>Abandons the line: no more audio; the next Step closes its session (at once, or once open_ok
        /// arrives), so keep stepping a stopped line until IsDone.</summary>
        public void Stop()
        {
            if (_stopped) return;
            _stopped = true;
            Step(-1);
        }

        void Fail(VasaBridgeException e)
        {
            Error = e;
            VasaSession s = Session;
            if (s != null && s.State == SessionState.Open) _client.BeginClose(s); // the line cannot be completed
        }
    }
}
