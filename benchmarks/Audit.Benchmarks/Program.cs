using System.Diagnostics;
using System.Globalization;
using Audit.Evaluators.Models;
using Audit.Evaluators.Onnx;
using Audit.Testing.Onnx;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using Tensor = TorchSharp.torch.Tensor;

// Forward throughput of the imported ONNX graph vs ONNX Runtime vs the hand-written TorchSharp module
// (same weights, same thread count), and forward+backward time per batch. Stopwatch harness: each case is
// warmed up, then the cases are interleaved over 9 rounds of a fixed wall-clock budget; the median round is reported.
//   dotnet run -c Release --project benchmarks/Audit.Benchmarks [-- --threads 2 --seconds 1]
if (args is [Audit.Evaluators.Runtime.OneDnnInstructionSetSelection.ChildArgument])
{
    // A child of the start-up choice below: one convolution check under the limit its parent set, then exit.
    Environment.Exit(Audit.Evaluators.Runtime.OneDnnInstructionSet.RunCheckChild(Console.Out));
}

// The kernels the service would choose on this processor (docs/operations.md), so the figures measure what an audit
// here runs; an operator's ONEDNN_MAX_CPU_ISA is kept.
Audit.Evaluators.Runtime.OneDnnInstructionSetChoice oneDnn =
    Audit.Evaluators.Runtime.OneDnnInstructionSetSelection.BeforeLibTorchLoads(typeof(TrojanScanBenchmark).Assembly);
Console.Error.WriteLine($"oneDNN instruction-set limit: {oneDnn.Limit ?? "none"} ({oneDnn.Reason})");

if (args.Contains("--scalar-race"))
{
    // TorchSharp's temporary scalars against HeldScalars under a collecting thread (docs/benchmarks.md).
    ScalarRaceBenchmark.Run(ArgValue(args, "--seconds", 10));
    return;
}

if (args.Contains("--trojan-scan"))
{
    // Scan cost against classes and input size (benchmarks/scripts/trojan-scan-cost.sh).
    await TrojanScanBenchmark.RunAsync(args);
    return;
}

int threads = ArgValue(args, "--threads", 2);
double seconds = ArgValue(args, "--seconds", 1);
torch.set_num_threads(threads);
torch.manual_seed(0);

using Sequential module = nn.Sequential(
    ("conv1", nn.Conv2d(1, 16, 3, padding: 1)),
    ("relu1", nn.ReLU()),
    ("pool1", nn.MaxPool2d(2)),
    ("conv2", nn.Conv2d(16, 32, 3, padding: 1)),
    ("relu2", nn.ReLU()),
    ("pool2", nn.MaxPool2d(2)),
    ("flatten", nn.Flatten()),
    ("fc", nn.Linear(32 * 7 * 7, 10)));
module.eval();
byte[] onnx = SequentialOnnxExporter.Export(module, [1, 28, 28]).ToByteArray();
using OnnxGraph graph = OnnxModelLoader.Load(onnx, ComputeDevice.Cpu);
using var options = new SessionOptions { IntraOpNumThreads = threads, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL, LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
using var session = new InferenceSession(onnx, options);
string inputName = session.InputMetadata.Keys.First();

if (args.Contains("--profile"))
{
    // Per-operation cost at batch 256 under no_grad: what libtorch does for the hand-written module, what the
    // importer did before, and what it does now (docs/benchmarks.md, "Profile").
    using var noGrad = torch.no_grad();
    const int N = 256;
    using Tensor x = torch.rand(N, 1, 28, 28);
    var conv1 = (Conv2d)module.named_children().First(c => c.name == "conv1").module;
    var conv2 = (Conv2d)module.named_children().First(c => c.name == "conv2").module;
    var fc = (Linear)module.named_children().First(c => c.name == "fc").module;
    Tensor w1 = conv1.weight!.reshape(16, 9);
    Tensor xCl = x.reshape(N, 28, 28, 1).permute(0, 3, 1, 2); // channels-last view of a one-channel input
    Tensor a1 = conv1.forward(x);
    Tensor a1Cl = conv1.forward(xCl);
    Tensor p1 = nn.functional.max_pool2d(a1.relu(), 2);
    Tensor p1Cl = Pool(a1Cl).relu_();
    Tensor a2 = conv2.forward(p1);
    Tensor a2Cl = conv2.forward(p1Cl);
    Tensor p2Cl = Pool(a2Cl).relu_();
    Tensor flat = p2Cl.reshape(N, -1);
    Tensor x1 = x[..1];
    NamedOnnxValue[] ortFeeds = [NamedOnnxValue.CreateFromTensor(session.InputMetadata.Keys.First(), new DenseTensor<float>(x.data<float>().ToArray(), [N, 1, 28, 28]))];
    (string, Action)[] ops =
    [
        ("conv1: conv2d, NCHW (module)", () => { using var s = torch.NewDisposeScope(); conv1.forward(x); }),
        ("conv1: unfold + linear (importer before)", () => { using var s = torch.NewDisposeScope(); nn.functional.linear(nn.functional.unfold(x, 3, padding: 1).transpose(1, 2), w1, conv1.bias!).view(N, 28, 28, 16).permute(0, 3, 1, 2); }),
        ("conv1: conv2d, channels-last view of input (now)", () => { using var s = torch.NewDisposeScope(); conv1.forward(x.reshape(N, 28, 28, 1).permute(0, 3, 1, 2)); }),
        ("relu1, NCHW (module, importer before)", () => { using var s = torch.NewDisposeScope(); a1.relu(); }),
        ("pool1: max_pool2d, NCHW (module)", () => { using var s = torch.NewDisposeScope(); nn.functional.max_pool2d(a1, 2); }),
        ("pool1: max_pool2d, channels-last (now, under autograd)", () => { using var s = torch.NewDisposeScope(); nn.functional.max_pool2d(a1Cl, 2); }),
        ("pool1: strided maximum, NCHW (importer before)", () => { using var s = torch.NewDisposeScope(); Pool(a1); }),
        ("pool1: strided maximum, channels-last, then relu_ (now)", () => { using var s = torch.NewDisposeScope(); Pool(a1Cl).relu_(); }),
        ("conv2: conv2d, NCHW (module, importer before)", () => { using var s = torch.NewDisposeScope(); conv2.forward(p1); }),
        ("conv2: conv2d, channels-last input (now)", () => { using var s = torch.NewDisposeScope(); conv2.forward(p1Cl); }),
        ("relu2, NCHW (module, importer before)", () => { using var s = torch.NewDisposeScope(); a2.relu(); }),
        ("pool2: strided maximum, NCHW (importer before)", () => { using var s = torch.NewDisposeScope(); Pool(a2); }),
        ("pool2: strided maximum, channels-last, then relu_ (now)", () => { using var s = torch.NewDisposeScope(); Pool(a2Cl).relu_(); }),
        ("flatten: channels-last to NCHW order (now)", () => { using var s = torch.NewDisposeScope(); p2Cl.reshape(N, -1); }),
        ("fc: linear", () => { using var s = torch.NewDisposeScope(); fc.forward(flat); }),
        ("whole module forward", () => { using var s = torch.NewDisposeScope(); module.forward(x); }),
        ("the \"now\" rows in sequence", () =>
        {
            using var s = torch.NewDisposeScope();
            Tensor c1 = conv1.forward(x.reshape(N, 28, 28, 1).permute(0, 3, 1, 2));
            Tensor q1 = Pool(c1).relu_();
            Tensor q2 = Pool(conv2.forward(q1)).relu_();
            fc.forward(q2.reshape(N, -1));
        }),
        ("the same kernels as a batch of 1 runs them, in sequence", () =>
        {
            using var s = torch.NewDisposeScope();
            Tensor q1 = Pool(conv1.forward(x1)).relu_();
            Tensor q2 = Pool(conv2.forward(q1)).relu_();
            fc.forward(q2.reshape(1, -1));
        }),
        ("whole imported graph forward, batch 1", () => { using var s = torch.NewDisposeScope(); graph.Forward(x1); }),
        ("whole module forward, batch 1", () => { using var s = torch.NewDisposeScope(); module.forward(x1); }),
        ("whole imported graph forward", () => { using var s = torch.NewDisposeScope(); graph.Forward(x); }),
        ("ONNX Runtime forward", () =>
        {
            using var r = session.Run(ortFeeds);
        }),
    ];
    // The same layers alone in ONNX Runtime, to see which of them holds the gap.
    (string, Sequential, long[], Tensor)[] layers =
    [
        ("conv1", nn.Sequential(("conv1", conv1)), [1, 28, 28], x),
        ("relu1 + pool1", nn.Sequential(("relu1", nn.ReLU()), ("pool1", nn.MaxPool2d(2))), [16, 28, 28], a1),
        ("conv2", nn.Sequential(("conv2", conv2)), [16, 14, 14], p1),
        ("relu2 + pool2", nn.Sequential(("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2))), [32, 14, 14], a2),
    ];
    List<InferenceSession> layerSessions = [];
    foreach ((string name, Sequential layer, long[] shape, Tensor input) in layers)
    {
        var layerSession = new InferenceSession(SequentialOnnxExporter.Export(layer, shape).ToByteArray(), options);
        layerSessions.Add(layerSession);
        NamedOnnxValue[] feeds = [NamedOnnxValue.CreateFromTensor(layerSession.InputMetadata.Keys.First(), new DenseTensor<float>(input.contiguous().data<float>().ToArray(), [.. input.shape.Select(d => (int)d)]))];
        ops = [.. ops, ($"ONNX Runtime, {name} alone", () => { using var r = layerSession.Run(feeds); })];
    }

    foreach ((string name, Action op) in ops)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}: {Measure(op):F3} ms"));
    }

    layerSessions.ForEach(s => s.Dispose());
    return;
}

// 2x2 max pooling as the importer runs it without autograd: running maximum over strided views.
static Tensor Pool(Tensor a)
{
    long h = a.shape[2], w = a.shape[3];
    Tensor rows = torch.maximum(a.slice(2, 0, h, 2), a.slice(2, 1, h, 2));
    return torch.maximum(rows.slice(3, 0, w, 2), rows.slice(3, 1, w, 2));
}

Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"libtorch {torch.__version__}, {threads} threads, {Environment.ProcessorCount} cores visible, model: conv(1->16)-relu-pool, conv(16->32)-relu-pool, linear(1568->10)"));
Console.WriteLine("| Batch | Case | Time per batch (ms) | Images/s |");
Console.WriteLine("|---:|---|---:|---:|");
foreach (int batch in new[] { 1, 256 })
{
    using Tensor x = torch.rand(batch, 1, 28, 28);
    float[] xs = x.data<float>().ToArray();
    var ortInput = new DenseTensor<float>(xs, [batch, 1, 28, 28]);
    NamedOnnxValue[] feeds = [NamedOnnxValue.CreateFromTensor(inputName, ortInput)];

    (string Name, Action Run)[] cases =
    [
        ("ONNX Runtime forward", () =>
        {
            using var r = session.Run(feeds);
        }),
        ("Imported graph forward (no_grad)", () =>
        {
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            graph.Forward(x);
        }),
        ("Hand-written module forward (no_grad)", () =>
        {
            using var scope = torch.NewDisposeScope();
            using var noGrad = torch.no_grad();
            module.forward(x);
        }),
        ("Imported graph forward+backward (input grad)", () =>
        {
            using var scope = torch.NewDisposeScope();
            Tensor input = x.detach().requires_grad_(true);
            graph.Forward(input).sum().backward();
        }),
        ("Hand-written module forward+backward (input grad)", () =>
        {
            using var scope = torch.NewDisposeScope();
            Tensor input = x.detach().requires_grad_(true);
            module.forward(input).sum().backward();
            module.zero_grad();
        }),
    ];
    double[] medians = MeasureInterleaved([.. cases.Select(c => c.Run)]);
    for (int c = 0; c < cases.Length; c++)
    {
        Report(batch, cases[c].Name, medians[c]);
    }
}

// Cases are interleaved round by round so that load from other processes on the machine hits them alike;
// each round times every case for a slice of the budget, and the median round is reported.
double[] MeasureInterleaved(Action[] actions)
{
    const int Rounds = 9;
    foreach (Action action in actions)
    {
        for (int i = 0; i < 3; i++)
        {
            action();
        }
    }

    var times = actions.Select(_ => new List<double>()).ToArray();
    for (int round = 0; round < Rounds; round++)
    {
        for (int c = 0; c < actions.Length; c++)
        {
            var watch = Stopwatch.StartNew();
            int n = 0;
            while (watch.Elapsed.TotalSeconds < seconds / Rounds || n == 0)
            {
                actions[c]();
                n++;
            }

            times[c].Add(watch.Elapsed.TotalMilliseconds / n);
        }
    }

    return [.. times.Select(t => t.Order().ElementAt(Rounds / 2))];
}

double Measure(Action action)
{
    for (int i = 0; i < 5; i++)
    {
        action();
    }

    List<double> rounds = [];
    for (int round = 0; round < 5; round++)
    {
        var watch = Stopwatch.StartNew();
        int n = 0;
        while (watch.Elapsed.TotalSeconds < seconds / 5)
        {
            action();
            n++;
        }

        rounds.Add(watch.Elapsed.TotalMilliseconds / n);
    }

    rounds.Sort();
    return rounds[2];
}

static void Report(int batch, string name, double ms) =>
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {batch} | {name} | {ms:F3} | {batch * 1000 / ms:F0} |"));

static int ArgValue(string[] args, string name, int fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}
