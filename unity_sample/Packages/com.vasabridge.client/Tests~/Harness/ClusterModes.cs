// Harness mode against a `vasa-bridge serve --ray` cluster (tests/test_cluster.py): the directory assigns a replica
// (SPEC.md §8.6), and a line streamed there arrives whole.
using System;

static partial class Harness
{
    static void ClusterLine(string directoryUrl, string wav)
    {
        int rate;
        short[] pcm = ReadWavPcm16(wav, out rate);
        var directory = new VasaBridge.VasaBridgeClientOptions { Url = directoryUrl, RequestTimeoutMs = 10000 };
        VasaBridge.VasaBridgeClientOptions replica = VasaBridge.VasaClusterDirectory.Assign(directory, 10000);
        Check(replica.Url == null && replica.RequestPort > 0 && replica.StreamPort > 0 &&
              replica.RequestPort != new Uri(directoryUrl).Port, "the directory assigns a replica's own ZeroMQ ports");
        Info("assigned tcp://" + replica.Host + ":" + replica.RequestPort + " stream " + replica.StreamPort);
        replica.Zmtp.ReconnectMaxMs = 500;
        using (var client = new VasaBridge.VasaBridgeClient(replica))
        {
            client.Start();
            VasaBridge.ServerInfo info = client.Hello();
            Check(info.Protocol == VasaBridge.ProtocolInfo.Version, "the replica says hello_ok in this client's protocol");
            SpeakAndCheck(client, pcm, rate, "cluster line");
        }
    }
}
