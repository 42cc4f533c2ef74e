using Audit.Evaluators.Onnx.Operators;

namespace Audit.Evaluators.Onnx;

/// <summary>What the importer claims to run; the upload inventory and the conformance suite ask here.</summary>
public static class OnnxOperatorSupport
{
    /// <summary>ONNX Runtime's contrib-operator domain, which its transformer optimiser writes (fused Attention, Gelu...).</summary>
    public const string MicrosoftDomain = "com.microsoft";

    /// <summary>
    /// How to export a model without the <c>com.microsoft</c> operators the importer lacks; part of the refusal.
    /// </summary>
    public const string MicrosoftExportAdvice =
        "Export with the plain exporter (torch.onnx.export, or optimum-cli export onnx without --optimize), or optimise with ONNX Runtime at level basic (ORT_ENABLE_BASIC), at opset 14 or later.";

    /// <summary>True for the default ONNX operator domain (<c>""</c> or <c>ai.onnx</c>).</summary>
    public static bool IsDefaultDomain(string? domain) => string.IsNullOrEmpty(domain) || domain == "ai.onnx";

    /// <summary>
    /// True when the importer supports <paramref name="opType"/> of <paramref name="domain"/> at the model's
    /// opset for that domain. Some attribute variants of a supported operator may still be refused at import
    /// with <see cref="UnsupportedOperatorException"/> (e.g. MaxPool's Indices output).
    /// </summary>
    public static bool IsSupported(string opType, string? domain, int opset) =>
        OperatorRegistry.Instance.Find(opType, domain ?? "", opset) is not null;

    /// <summary>Supported operators with the lowest opset supported for each, sorted by name.</summary>
    public static IReadOnlyList<(string OpType, int SinceOpset)> Supported =>
        [.. OperatorRegistry.Instance.All.Select(o => (o.OpType, o.SinceOpset))];

    /// <summary>Supported operators of the <c>com.microsoft</c> domain, sorted by name.</summary>
    public static IReadOnlyList<string> SupportedMicrosoft => [.. OperatorRegistry.Instance.Microsoft.Select(o => o.OpType)];

    /// <summary>Highest default-domain opset claimed.</summary>
    public static int MaxOpset => OperatorRegistry.MaxOpset;
}
