// One spoken line sent with the non-blocking request API, stepped from the game loop (VasaBridgeFace.Update): open,
// push the audio in 100 ms chunks as fast as the sidecar answers (a few in flight), end_audio once every chunk is
// acknowledged. Nothing waits, so it runs the same in a WebGL player (single thread) and on desktop. When rendered
// frames are asked for, pushing stays within AheadMs of playback so the images fit the session's render buffer.
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

        readonly VasaBridgeClient _client;
        readonly float[] _samples;
        readonly int _sampleRateHz, _chunk;
        readonly double _aheadMs;
        readonly Queue<VasaRequest<double>> _pushes = new Queue<VasaRequest<double>>();
        readonly VasaRequest<VasaSession> _open;
        VasaRequest<double> _end;
        VasaControls _controlsBeforeOpen;
        int _offset;
        bool _stopped, _closeSent;

        /// <summary>Starts the line: sends `open` now, with `options` set to pcm16 at `sampleRateHz` (the samples go
        /// as 16-bit). `aheadMs`: how far pushed audio may run ahead of playback (PositiveInfinity: no limit, for
        /// motion only). Throws bad_request for options the sidecar would refuse (nothing is sent then).</summary>
        public VasaLineStreamer(VasaBridgeClient client, OpenOptions options, float[] monoSamples, int sampleRateHz,
                                double aheadMs = double.PositiveInfinity)
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
            _open = client.BeginOpen(options);
        }

        /// <summary>The line's session once open_ok arrived (null before, or when open failed).</summary>
        public VasaSession Session { get { return _open.Value; } }
        /// <summary>Why the line stopped early (open, audio or end_audio failed); null otherwise.</summary>
        public VasaBridgeException Error { get; private set; }
        /// <summary>Every chunk and end_audio acknowledged, or the line failed, or it was stopped and its close
        /// sent.</summary>
        public bool IsDone { get { return _stopped ? _closeSent : Error != null || (_end != null && _end.IsDone); } }
        /// <summary>Audio acknowledged by the sidecar so far (audio_ok.received_ms).</summary>
        public double ReceivedMs { get; private set; }
        public double DurationMs { get { return _samples.Length * 1000.0 / _sampleRateHz; } }

        /// <summary>Moves the line on; `playbackMs` is the audio clock (negative before playback starts).</summary>
        public void Step(double playbackMs)
        {
            if (IsDone || !_open.IsDone) return;
            if (_stopped)
            {
                // Closed from here, the game loop, rather than from a callback on the client's network thread.
                VasaSession opened = _open.Value;
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
                if (!p.Succeeded) { Fail(p.Error); return; }
                ReceivedMs = Math.Max(ReceivedMs, p.Value);
            }
            if (s.State != SessionState.Open) return; // ended by the sidecar or the connection: nothing more to send
            while (_offset < _samples.Length && _pushes.Count < MaxChunksInFlight
                   && _offset * 1000.0 / _sampleRateHz - Math.Max(0, playbackMs) <= _aheadMs)
            {
                int n = Math.Min(_chunk, _samples.Length - _offset);
                _pushes.Enqueue(_client.BeginPushFloatAsPcm16(s, _samples, _offset, n));
                _offset += n;
            }
            // end_audio only after every chunk's audio_ok: a chunk resent after rate_limited must not come after it.
            if (_offset >= _samples.Length && _pushes.Count == 0 && _end == null) _end = _client.BeginEndAudio(s);
            if (_end != null && _end.IsDone && !_end.Succeeded) Error = _end.Error;
        }

        /// <summary>Changes the line's controls (sent as soon as the session is open).</summary>
        public void SetControls(VasaControls controls)
        {
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
