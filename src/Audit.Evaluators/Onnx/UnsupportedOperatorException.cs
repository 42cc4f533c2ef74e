namespace Audit.Evaluators.Onnx;

/// <summary>
/// The model is valid ONNX but uses operators, operator variants or element types the importer cannot run.
/// <see cref="Unsupported"/> lists each one once, e.g. <c>NonMaxSuppression (opset 11)</c>.
/// </summary>
public sealed class UnsupportedOperatorException : Exception
{
    public UnsupportedOperatorException(IReadOnlyList<string> unsupported)
        : base("The model uses operators the importer does not support: " + string.Join(", ", unsupported) + ".")
    {
        Unsupported = unsupported;
    }

    /// <summary>A refusal whose message explains more than the list, e.g. how to export without the operators.</summary>
    public UnsupportedOperatorException(IReadOnlyList<string> unsupported, string message)
        : base(message)
    {
        Unsupported = unsupported;
    }

    public UnsupportedOperatorException()
        : this(Array.Empty<string>())
    {
    }

    public UnsupportedOperatorException(string message)
        : base(message)
    {
        Unsupported = [message];
    }

    public UnsupportedOperatorException(string message, Exception innerException)
        : base(message, innerException)
    {
        Unsupported = [message];
    }

    /// <summary>Each unsupported operator (with opset) or variant, once.</summary>
    public IReadOnlyList<string> Unsupported { get; }
}
