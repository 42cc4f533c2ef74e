using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Audit.Evaluators.Runtime;
using TorchSharp;
using static TorchSharp.torch;

/// <summary>
/// How often TorchSharp's own <c>a + b</c> reads a scalar the garbage collector has already freed, against
/// <see cref="HeldScalars.Add(Tensor, Tensor)"/>, while a second thread collects without pause (docs/benchmarks.md,
/// "TorchSharp frees temporary scalars during libtorch calls"). Each arm adds two 256-element tensors for the given
/// seconds and counts libtorch errors and wrong sums.
///   dotnet run -c Release --project benchmarks/Audit.Benchmarks -- --scalar-race [--seconds 10]
/// </summary>
internal static class ScalarRaceBenchmark
{
    public static void Run(double seconds)
    {
        using Tensor a = torch.ones(256), b = torch.ones(256);
#pragma warning disable RS0030 // The point of the measurement: TorchSharp's own operator, as the rest of the code may not use it.
        Measure("TorchSharp a + b", () => a + b, seconds);
#pragma warning restore RS0030
        Measure("HeldScalars a.Add(b)", () => a.Add(b), seconds);
    }

    private static void Measure(string name, Func<Tensor> add, double seconds)
    {
        bool stop = false;
        var collector = new Thread(() =>
        {
            while (!Volatile.Read(ref stop))
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }
        });
        int collectionsBefore = GC.CollectionCount(0);
        collector.Start();
        long additions = 0, failures = 0;
        string? first = null;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < seconds)
        {
            try
            {
                using Tensor sum = add();
                if (sum[0].item<float>() != 2f)
                {
                    failures++;
                }
            }
            catch (ExternalException e)
            {
                failures++;
                first ??= e.Message.Split('\n')[0];
            }

            additions++;
        }

        Volatile.Write(ref stop, true);
        collector.Join();
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: {failures} failures in {additions:N0} additions ({clock.Elapsed.TotalSeconds:F1} s, {GC.CollectionCount(0) - collectionsBefore:N0} collections){(first is null ? "" : $"; first: {first}")}"));
    }
}
