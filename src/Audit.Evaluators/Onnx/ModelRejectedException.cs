namespace Audit.Evaluators.Onnx;

/// <summary>Why an uploaded model was refused. The API maps every reason to 422 Unprocessable Entity.</summary>
public enum ModelRejectionReason
{
    /// <summary>The bytes are not a parseable ONNX <c>ModelProto</c>, or the graph is inconsistent.</summary>
    Malformed,

    /// <summary>A tensor points at external data (a file next to the model): models are accepted as one self-contained blob.</summary>
    ExternalData,

    /// <summary>A node or opset import uses a domain other than the default ONNX domain.</summary>
    UnknownDomain,

    /// <summary>A size, rank, dimension or count exceeds <see cref="OnnxImportLimits"/>.</summary>
    LimitExceeded,
}

/// <summary>
/// The model is refused as data (malformed, external references, foreign domains, absurd sizes).
/// Distinct from <see cref="UnsupportedOperatorException"/>, which means "valid, but not runnable here".
/// </summary>
public sealed class ModelRejectedException : Exception
{
    public ModelRejectedException(ModelRejectionReason reason, string message)
        : base(message)
    {
        Reason = reason;
    }

    public ModelRejectedException(ModelRejectionReason reason, string message, Exception innerException)
        : base(message, innerException)
    {
        Reason = reason;
    }

    public ModelRejectedException()
        : this(ModelRejectionReason.Malformed, "The model was rejected.")
    {
    }

    public ModelRejectedException(string message)
        : this(ModelRejectionReason.Malformed, message)
    {
    }

    public ModelRejectedException(string message, Exception innerException)
        : this(ModelRejectionReason.Malformed, message, innerException)
    {
    }

    /// <summary>Machine-readable reason, e.g. for the problem+json <c>reason</c> extension.</summary>
    public ModelRejectionReason Reason { get; }
}
