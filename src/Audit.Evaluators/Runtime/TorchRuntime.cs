using TorchSharp;

namespace Audit.Evaluators.Runtime;

/// <summary>Reports whether libtorch is usable here and which devices it offers.</summary>
public static class TorchRuntime
{
    /// <summary>True when a CUDA build of libtorch is loaded and sees at least one GPU.</summary>
    public static bool CudaAvailable => torch.cuda.is_available();

    /// <summary>The libtorch version TorchSharp bound to, for reports and logs.</summary>
    public static string Version => torch.__version__;
}
