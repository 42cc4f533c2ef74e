namespace Audit.Api.Features.Artifacts;

/// <summary>
/// The multipart form of an upload, for the OpenAPI document only: the endpoint streams the parts itself
/// (<see cref="Infrastructure.Http.MultipartUpload"/>), but generated clients need the field names and types.
/// </summary>
/// <param name="File">The model (.onnx) or dataset (.npz, .jsonl) bytes.</param>
/// <param name="Kind">model or dataset.</param>
/// <param name="Name">A display name; the file name when absent.</param>
public sealed record UploadArtifactForm(IFormFile File, string Kind, string? Name);
