namespace Audit.Api.Features.Verifications;

/// <summary>The multipart form of a verification, for the OpenAPI document only (the endpoint reads the form itself).</summary>
/// <param name="File">The PDF report to verify.</param>
public sealed record VerifyReportForm(IFormFile File);
