using Audit.Api.Infrastructure.Artifacts;
using Audit.Evaluators.Onnx;
using FluentValidation;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace Audit.Api.Infrastructure.Errors;

/// <summary>
/// The one place exceptions become RFC 9457 problem details: validation 400 with field errors, 404, 409,
/// 413, 422, 403. Anything else is a 500 without a stack trace (the trace goes to the log).
/// </summary>
public sealed class ProblemDetailsExceptionHandler : IExceptionHandler
{
    private readonly IProblemDetailsService _problems;
    private readonly ILogger<ProblemDetailsExceptionHandler> _logger;

    public ProblemDetailsExceptionHandler(IProblemDetailsService problems, ILogger<ProblemDetailsExceptionHandler> logger)
    {
        _problems = problems;
        _logger = logger;
    }

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        ProblemDetails problem = exception switch
        {
            ValidationException validation => new ValidationProblemDetails(
                validation.Errors
                    .GroupBy(e => ToCamelPath(e.PropertyName))
                    .ToDictionary(g => g.Key, g => g.Select(e => e.ErrorMessage).Distinct().ToArray()))
            {
                Status = StatusCodes.Status400BadRequest,
                Title = "The request is invalid.",
                Detail = "See the field errors.",
            },
            NotFoundException notFound => Problem(StatusCodes.Status404NotFound, "Not found.", notFound.Message),
            ConflictException conflict => Problem(StatusCodes.Status409Conflict, "Conflict.", conflict.Message),
            ForbiddenException forbidden => Problem(StatusCodes.Status403Forbidden, "Forbidden.", forbidden.Message),
            PayloadTooLargeException tooLarge => Problem(StatusCodes.Status413PayloadTooLarge, "Payload too large.", tooLarge.Message),
            BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge } => Problem(
                StatusCodes.Status413PayloadTooLarge, "Payload too large.", "The request body exceeds the configured limit."),
            InvalidDataException invalid when invalid.Message.Contains("length limit", StringComparison.OrdinalIgnoreCase) => Problem(
                StatusCodes.Status413PayloadTooLarge, "Payload too large.", "The request body exceeds the configured limit."),
            BadHttpRequestException { InnerException: System.Text.Json.JsonException json } => UnreadableJson(json),
            BadHttpRequestException { StatusCode: StatusCodes.Status415UnsupportedMediaType } unsupported => Problem(
                StatusCodes.Status415UnsupportedMediaType, "Unsupported media type.", unsupported.Message + " Send Content-Type: application/json."),
            BadHttpRequestException bad => Problem(bad.StatusCode, "Bad request.", bad.Message),
            UnprocessableException unprocessable => WithReason(Problem(StatusCodes.Status422UnprocessableEntity, "Unprocessable content.", unprocessable.Message), unprocessable.Reason),
            ModelRejectedException rejected => WithReason(Problem(StatusCodes.Status422UnprocessableEntity, "The model was rejected.", rejected.Message), Kebab(rejected.Reason.ToString())),
            Audit.Evaluators.Datasets.DatasetRejectedException dataset => WithReason(Problem(StatusCodes.Status422UnprocessableEntity, "The dataset was rejected.", dataset.Message), "dataset-rejected"),
            Audit.Evaluators.Datasets.EvidenceRejectedException evidence => WithReason(Problem(StatusCodes.Status422UnprocessableEntity, "The evidence was rejected.", evidence.Message), "evidence-rejected"),
            UnsupportedOperatorException unsupported => WithReason(Problem(StatusCodes.Status422UnprocessableEntity, "The model cannot be executed.", unsupported.Message), "unsupported-operators"),
            OperationCanceledException when httpContext.RequestAborted.IsCancellationRequested => Problem(499, "Client closed request.", null),
            _ => Problem(StatusCodes.Status500InternalServerError, "An unexpected error occurred.", "The error was logged."),
        };

        if (problem.Status == StatusCodes.Status500InternalServerError)
        {
            _logger.LogError(exception, "Unhandled exception for {Method} {Path}", httpContext.Request.Method, httpContext.Request.Path);
        }

        // Exception messages (a parser's, a file's) can name server paths; clients get file names only.
        problem.Detail = ServerPaths.Redact(problem.Detail);
        if (problem is ValidationProblemDetails validationProblem)
        {
            foreach (string key in validationProblem.Errors.Keys.ToList())
            {
                validationProblem.Errors[key] = [.. validationProblem.Errors[key].Select(m => ServerPaths.Redact(m)!)];
            }
        }

        httpContext.Response.StatusCode = problem.Status!.Value;
        return await _problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = httpContext,
            ProblemDetails = problem,
            Exception = exception,
        });
    }

    /// <summary>
    /// A body that is not JSON, or a field of the wrong type: the field (JSON path) and where the reader stopped,
    /// so a client can fix the request without guessing.
    /// </summary>
    private static ValidationProblemDetails UnreadableJson(System.Text.Json.JsonException json)
    {
        // A reader error (broken syntax) comes wrapped with the reader's own exception, wherever in the body it is;
        // a value of the wrong type has none. Broken syntax is the body's fault even when a property was being read.
        bool syntax = json.InnerException is System.Text.Json.JsonException;
        bool atRoot = string.IsNullOrEmpty(json.Path) || json.Path == "$";
        string field = syntax || atRoot ? "body" : json.Path!.TrimStart('$', '.');
        string where = json.LineNumber is long line
            ? $" (line {line + 1}, byte {json.BytePositionInLine + 1}{(atRoot ? "" : (syntax ? ", after " : ", path ") + json.Path)})"
            : "";
        string message = field == "body"
            ? $"The body is not valid JSON{where}{ReaderReason(json)}."
            : $"The value does not have the expected type{where}.";
        return new ValidationProblemDetails(new Dictionary<string, string[]> { [field] = [message] })
        {
            Status = StatusCodes.Status400BadRequest,
            Title = "The request body could not be read.",
            Detail = message,
        };
    }

    /// <summary>The reader's reason ("'}' is an invalid start of a value"), without its zero-based position.</summary>
    private static string ReaderReason(System.Text.Json.JsonException json)
    {
        string? reason = json.InnerException?.Message;
        if (string.IsNullOrWhiteSpace(reason))
        {
            return "";
        }

        int position = reason.IndexOf(" LineNumber:", StringComparison.Ordinal);
        return ": " + (position > 0 ? reason[..position] : reason).TrimEnd('.', ' ');
    }

    private static ProblemDetails Problem(int status, string title, string? detail) =>
        new() { Status = status, Title = title, Detail = detail };

    private static ProblemDetails WithReason(ProblemDetails problem, string? reason)
    {
        if (reason is not null)
        {
            problem.Extensions["reason"] = reason;
        }

        return problem;
    }

    /// <summary>Machine-readable reasons are kebab-case: ExternalData → external-data.</summary>
    private static string Kebab(string name) =>
        string.Concat(name.Select((c, i) => char.IsUpper(c) ? (i > 0 ? "-" : "") + char.ToLowerInvariant(c) : c.ToString()));

    /// <summary>FluentValidation names "Controls[0].Id"; clients send JSON, so errors use "controls[0].id".</summary>
    private static string ToCamelPath(string propertyName) =>
        string.Join('.', propertyName.Split('.').Select(part => part.Length == 0 ? part : char.ToLowerInvariant(part[0]) + part[1..]));
}
