namespace Audit.Api.Infrastructure.Errors;

/// <summary>The resource does not exist, or belongs to another tenant (which must look the same).</summary>
public sealed class NotFoundException(string message) : Exception(message);

/// <summary>The request conflicts with the resource's state (e.g. a report that is not ready).</summary>
public sealed class ConflictException(string message) : Exception(message);

/// <summary>The request is well-formed but its content cannot be processed (e.g. a model we refuse). 422.</summary>
public sealed class UnprocessableException(string message, string? reason = null, IReadOnlyDictionary<string, string[]>? errors = null) : Exception(message)
{
    public string? Reason { get; } = reason;

    /// <summary>Field errors (request field → reasons), when the content is wrong in a way a field names.</summary>
    public IReadOnlyDictionary<string, string[]>? Errors { get; } = errors;
}

/// <summary>The caller's role may not do this. 403.</summary>
public sealed class ForbiddenException(string message) : Exception(message);
