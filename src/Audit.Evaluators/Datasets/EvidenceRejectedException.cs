namespace Audit.Evaluators.Datasets;

/// <summary>
/// Evidence supplied with an audit is malformed or does not fit the model (a token outside the vocabulary,
/// a sequence longer than the model accepts, an unknown role). The API maps it to 422 Unprocessable Entity.
/// </summary>
public sealed class EvidenceRejectedException : Exception
{
    public EvidenceRejectedException()
    {
    }

    public EvidenceRejectedException(string message)
        : base(message)
    {
    }

    public EvidenceRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a record of a JSON Lines file.</summary>
    public EvidenceRejectedException(int line, string field, string message)
        : base($"Evidence line {line}, '{field}': {message}")
    {
        Line = line;
        Field = field;
    }

    /// <summary>1-based line of the offending record, when known.</summary>
    public int? Line { get; }

    /// <summary>JSON field of the offending value, when known (e.g. <c>cued</c>).</summary>
    public string? Field { get; }
}
