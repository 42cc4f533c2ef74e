namespace Audit.Evaluators.Datasets;

/// <summary>
/// The dataset artifact is malformed, too large, or does not fit the model (wrong dtype, shape or size).
/// The API maps it to 422 Unprocessable Entity.
/// </summary>
public sealed class DatasetRejectedException : Exception
{
    public DatasetRejectedException()
    {
    }

    public DatasetRejectedException(string message)
        : base(message)
    {
    }

    public DatasetRejectedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
