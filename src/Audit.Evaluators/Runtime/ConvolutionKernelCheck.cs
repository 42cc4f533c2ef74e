using System.Globalization;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Runtime;

/// <summary>Which CPU kernels libtorch's float32 convolutions use in this process, and why.</summary>
/// <param name="Kernels">"oneDNN" (libtorch's default) or "libtorch native" (oneDNN turned off by the check).</param>
/// <param name="Detail">What the check measured, for logs, findings and reports.</param>
/// <param name="OneDnnTurnedOff">True when the check found oneDNN's convolutions wrong here and turned oneDNN off.</param>
public sealed record ConvolutionKernels(string Kernels, string Detail, bool OneDnnTurnedOff);

/// <summary>
/// Checks once per process, before a model runs, that libtorch's float32 convolutions give the right values and
/// gradients on this processor; where oneDNN's do not, turns oneDNN off so that libtorch's own kernels run instead.
/// </summary>
/// <remarks>
/// Why: on an AMD EPYC virtual machine (family 26, AVX-512, a CPUID that reports no cache sizes) oneDNN 3.7.1's JIT
/// backward-by-data convolutions (avx512_core, and avx2 for a single input channel) returned input gradients wrong by
/// as much as the gradients themselves, while the forward pass was right to 1e-7. Every trigger search, saliency map
/// and training run on that machine was silently wrong (docs/benchmarks.md, "Wrong convolution gradients"). The check
/// compares float32 results with float64 ones, which libtorch computes with its own kernels (oneDNN has no float64
/// convolution), on convolutions shaped like the first and later layers of the models the service audits, in both
/// memory layouts, at one intra-op thread and at the host's count. Costs a few milliseconds once.
/// libtorch's native kernels were 2.4–2.9× slower than oneDNN's on that machine; with <c>ONEDNN_MAX_CPU_ISA=AVX</c>
/// set before start oneDNN was right and as fast there, so the service's hosts look for such a limit in child
/// processes before libtorch loads (<see cref="OneDnnInstructionSet"/>; docs/operations.md).
/// </remarks>
public static class ConvolutionKernelCheck
{
    /// <summary>
    /// Largest accepted error of a float32 result, relative to the largest magnitude of its float64 reference. Float32
    /// sums of a few hundred products are good to about 1e-6 of their scale; the failure this guards against was of
    /// order 1.
    /// </summary>
    public const double RelativeTolerance = 1e-4;

    // One verdict per process: libtorch's kernel choice is process-wide native state, and so is whether it is right.
    private static readonly Lazy<ConvolutionKernels> Verdict = new(Check, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>
    /// Runs the check the first time (later calls return its verdict). Call before any model is built or loaded.
    /// </summary>
    /// <exception cref="InvalidOperationException">Neither oneDNN's kernels nor libtorch's own are right here.</exception>
    public static ConvolutionKernels EnsureVerified() => Verdict.Value;

    /// <summary>
    /// The largest relative error of float32 convolutions (values, input, weight and bias gradients) and a linear layer
    /// against float64, over the check's cases, at the current settings; for the check and its tests.
    /// </summary>
    public static (double Error, string Case) WorstRelativeError()
    {
        int host = torch.get_num_threads();
        var worst = (Error: 0.0, Case: "none");
        foreach (int threads in host == 1 ? [1] : new[] { 1, host })
        {
            torch.set_num_threads(threads);
            try
            {
                foreach (ConvolutionCase c in Cases)
                {
                    double error = c.RelativeError();
                    if (!(error <= worst.Error))
                    {
                        worst = (error, $"{c} at {threads} thread(s)");
                    }
                }
            }
            finally
            {
                torch.set_num_threads(host);
            }
        }

        return worst;
    }

    private static ConvolutionKernels Check()
    {
        // NNPACK off before measuring, whatever the verdict: the check compares oneDNN's and libtorch's own kernels,
        // so a convolution libtorch handed to NNPACK would run on kernels nobody checked here; and where the processor
        // cannot run NNPACK (the AMD EPYC above) libtorch asks for it at every convolution oneDNN does not take and
        // warns on stderr each time (96 lines in one trojan-scan audit of the README's example there, oneDNN on).
        OneDnn.TryDisableNnpack();
        (double error, string where) = WorstRelativeError();
        // The instruction-set limit oneDNN ran under (OneDnnInstructionSet: the host chooses it, or an operator sets
        // it), so that findings say which kernels produced them.
        string limit = OneDnnInstructionSet.CurrentLimit() is { } isa
            ? string.Create(CultureInfo.InvariantCulture, $", oneDNN limited to the {isa} instruction set ({OneDnnInstructionSet.Variable})")
            : "";
        if (error <= RelativeTolerance)
        {
            bool oneDnn = OneDnn.IsEnabled();
            return new ConvolutionKernels(
                oneDnn ? "oneDNN" : "libtorch native",
                string.Create(CultureInfo.InvariantCulture, $"float32 convolutions matched float64 to {error:G2} (relative) on this processor{(oneDnn ? limit : "")}"),
                OneDnnTurnedOff: false);
        }

        if (!OneDnn.TryDisable())
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"libtorch's float32 convolutions are wrong on this processor (relative error {error:G3}, {where}) and oneDNN could not be turned off; no probe result would be right here."));
        }

        (double fallback, string fallbackWhere) = WorstRelativeError();
        if (!(fallback <= RelativeTolerance))
        {
            throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture,
                $"libtorch's float32 convolutions are wrong on this processor with oneDNN (relative error {error:G3}, {where}) and without it ({fallback:G3}, {fallbackWhere}); no probe result would be right here."));
        }

        return new ConvolutionKernels("libtorch native", string.Create(CultureInfo.InvariantCulture,
            $"oneDNN (and NNPACK) turned off: its float32 convolutions were wrong on this processor (relative error {error:G3}, {where}{limit}); libtorch's own kernels matched float64 to {fallback:G2}"),
            OneDnnTurnedOff: true);
    }

    private static readonly ConvolutionCase[] Cases =
    [
        // A grey-scale first layer (one input channel), the shape oneDNN's avx2 kernel got wrong.
        new(Batch: 8, In: 1, Out: 4, Size: 28, Kernel: 3, Stride: 1, Padding: 1, ChannelsLast: false),
        new(Batch: 8, In: 3, Out: 16, Size: 32, Kernel: 3, Stride: 1, Padding: 1, ChannelsLast: false),
        new(Batch: 8, In: 3, Out: 16, Size: 32, Kernel: 3, Stride: 1, Padding: 1, ChannelsLast: true),
        new(Batch: 8, In: 4, Out: 8, Size: 14, Kernel: 3, Stride: 1, Padding: 0, ChannelsLast: false),
        // A residual block's strided convolution and its 1×1 shortcut.
        new(Batch: 8, In: 16, Out: 32, Size: 16, Kernel: 3, Stride: 2, Padding: 1, ChannelsLast: false),
        new(Batch: 8, In: 16, Out: 32, Size: 16, Kernel: 1, Stride: 2, Padding: 0, ChannelsLast: true),
    ];

    private sealed record ConvolutionCase(int Batch, int In, int Out, int Size, int Kernel, int Stride, int Padding, bool ChannelsLast)
    {
        public double RelativeError()
        {
            using var scope = torch.NewDisposeScope();
            // A private generator: the check must not move the process's global random stream.
            using var generator = new Generator((ulong)(20_261_201 + (In * 131) + Out));
            Tensor x = torch.randn([Batch, In, Size, Size], generator: generator);
            Tensor weight = torch.randn([Out, In, Kernel, Kernel], generator: generator);
            Tensor bias = torch.randn([Out], generator: generator);
            int outSize = ((Size + (2 * Padding) - Kernel) / Stride) + 1;
            Tensor mix = torch.randn([Batch, Out, outSize, outSize], generator: generator);
            Tensor head = torch.randn([10, Out * outSize * outSize], generator: generator);

            Tensor[] single = Run(x, weight, bias, mix, head, ScalarType.Float32);
            Tensor[] reference = Run(x, weight, bias, mix, head, ScalarType.Float64);
            double worst = 0;
            for (int i = 0; i < single.Length; i++)
            {
                double scale = reference[i].abs().max().item<double>();
                double error = (single[i].to(ScalarType.Float64) - reference[i]).abs().max().item<double>() / Math.Max(scale, 1e-30);
                worst = double.IsNaN(error) ? double.PositiveInfinity : Math.Max(worst, error);
            }

            return worst;
        }

        private Tensor[] Run(Tensor x, Tensor weight, Tensor bias, Tensor mix, Tensor head, ScalarType type)
        {
            // Fresh leaves for each precision (to() returns the tensor itself when the type already matches).
            Tensor input = x.to(type).detach();
            input = ChannelsLast ? input.permute(0, 2, 3, 1).contiguous().permute(0, 3, 1, 2) : input.clone();
            input.requires_grad_(true);
            Tensor w = weight.to(type).detach().clone().requires_grad_(true);
            Tensor b = bias.to(type).detach().clone().requires_grad_(true);
            Tensor y = nn.functional.conv2d(input, w, b, strides: [Stride, Stride], padding: [Padding, Padding]);
            Tensor logits = nn.functional.linear(y.flatten(1), head.to(type));
            // Both the convolution's own output and the linear head feed the loss, so every gradient path is checked.
            y.mul(mix.to(type)).sum().Add(logits.Square().sum()).backward();
            return [y.detach(), logits.detach(), input.grad!, w.grad!, b.grad!];
        }

        public override string ToString() => string.Create(CultureInfo.InvariantCulture,
            $"convolution {In}→{Out} channels, {Kernel}×{Kernel}, stride {Stride}, padding {Padding}, {Size}×{Size}, batch {Batch}{(ChannelsLast ? ", channels-last" : string.Empty)}");
    }

    /// <summary>
    /// libtorch's switches for oneDNN (<c>at::globalContext().setUserEnabledMkldnn</c>, Python's
    /// <c>torch.backends.mkldnn.enabled</c>) and NNPACK, which TorchSharp does not expose: called through the exported C++ symbols
    /// of the libtorch_cpu this process loaded (Itanium mangling: Linux and macOS builds).
    /// </summary>
    private static class OneDnn
    {
        private const string GlobalContext = "_ZN2at13globalContextEv";
        private const string SetEnabled = "_ZN2at7Context20setUserEnabledMkldnnEb";
        private const string GetEnabled = "_ZNK2at7Context17userEnabledMkldnnEv";
        // NNPACK is libtorch's other fast-convolution library, which the check does not measure: turned off before
        // the check, so that "oneDNN" and "libtorch native" mean the kernels the check measured (see Check).
        private const string SetNnpack = "_ZN2at7Context20setUserEnabledNNPACKEb";

        public static bool IsEnabled() => TryBind(out Api? api) ? api.Get(api.Context()) : true;

        public static bool TryDisable()
        {
            if (!TryBind(out Api? api))
            {
                return false;
            }

            // NNPACK is already off (Check turns it off before measuring).
            IntPtr context = api.Context();
            api.Set(context, false);
            return !api.Get(context);
        }

        public static void TryDisableNnpack()
        {
            if (TryBind(out Api? api))
            {
                api.SetNnpack?.Invoke(api.Context(), false);
            }
        }

        private static bool TryBind([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Api? api)
        {
            api = null;
            _ = torch.get_num_threads(); // makes sure TorchSharp has loaded libtorch
            foreach (string candidate in LoadedLibTorchCpu())
            {
                if (NativeLibrary.TryLoad(candidate, out IntPtr library)
                    && NativeLibrary.TryGetExport(library, GlobalContext, out IntPtr context)
                    && NativeLibrary.TryGetExport(library, SetEnabled, out IntPtr set)
                    && NativeLibrary.TryGetExport(library, GetEnabled, out IntPtr get))
                {
                    api = new Api(
                        Marshal.GetDelegateForFunctionPointer<ContextFunction>(context),
                        Marshal.GetDelegateForFunctionPointer<SetFunction>(set),
                        Marshal.GetDelegateForFunctionPointer<GetFunction>(get),
                        NativeLibrary.TryGetExport(library, SetNnpack, out IntPtr nnpack) ? Marshal.GetDelegateForFunctionPointer<SetFunction>(nnpack) : null);
                    return true;
                }
            }

            return false;
        }

        // The copy already mapped into this process (TorchSharp may have loaded it from a folder of its own); a second
        // copy loaded by name would have its own switch and leave the one in use on.
        private static IEnumerable<string> LoadedLibTorchCpu() =>
            MappedLibTorch.CpuLibraries().Append(OperatingSystem.IsMacOS() ? "libtorch_cpu.dylib" : "libtorch_cpu.so");

        private sealed record Api(ContextFunction Context, SetFunction Set, GetFunction Get, SetFunction? SetNnpack);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        private delegate IntPtr ContextFunction();

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        private delegate void SetFunction(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

        [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
        [return: MarshalAs(UnmanagedType.U1)]
        private delegate bool GetFunction(IntPtr context);
    }
}
