namespace Audit.Evaluators.Inventory;

/// <summary>
/// The file is not a model we accept (not ONNX, external data, unknown domain, absurd sizes).
/// Models are data: anything we cannot bound is refused, never executed. The API answers 422.
/// </summary>
public sealed class ModelRejectedException : Exception
{
    public ModelRejectedException(string reason, string message)
        : base(message)
    {
        Reason = reason;
    }

    public ModelRejectedException()
        : this("invalid-model", "The model was rejected.")
    {
    }

    public ModelRejectedException(string message)
        : this("invalid-model", message)
    {
    }

    public ModelRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = "invalid-model";
    }

    /// <summary>Machine-readable reason, e.g. <c>external-data</c>, <c>not-onnx</c>, <c>too-large</c>.</summary>
    public string Reason { get; } = "invalid-model";
}
