using System.Text;
using Audit.Api.Infrastructure.Artifacts;
using FluentValidation;
using FluentValidation.Results;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Net.Http.Headers;

namespace Audit.Api.Infrastructure.Http;

/// <summary>
/// Reads a <c>multipart/form-data</c> upload by streaming it part by part: the part named <c>file</c> goes straight
/// into the artifact store's incoming folder (never into ASP.NET's own temporary files, which a killed process
/// would leave behind), small text fields are kept. A body that is not well-formed multipart is a 400 with a
/// field error; nothing it sent stays on disk.
/// </summary>
public sealed class MultipartUpload : IDisposable
{
    /// <summary>Most parts one upload may have (file, kind, name and a little slack for clients that add more).</summary>
    public const int MaxParts = 16;

    /// <summary>Largest text field, in bytes.</summary>
    public const int MaxFieldBytes = 4096;

    private readonly Dictionary<string, string> _fields = new(StringComparer.Ordinal);

    private MultipartUpload()
    {
    }

    /// <summary>The received file, staged and not yet accepted; null when no part named <c>file</c> came.</summary>
    public StagedBlob? File { get; private set; }

    public string? FileName { get; private set; }

    public string? Field(string name) => _fields.TryGetValue(name, out string? value) ? value : null;

    public void Dispose() => File?.Dispose();

    public static async Task<MultipartUpload> ReadAsync(HttpRequest request, ArtifactStore store, long maxFileBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(store);
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out MediaTypeHeaderValue? mediaType)
            || !mediaType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
        {
            throw Invalid("Send multipart/form-data with a part named 'file'.");
        }

        string boundary = HeaderUtilities.RemoveQuotes(mediaType.Boundary).Value ?? "";
        if (boundary.Length is 0 or > 70)
        {
            throw Invalid("The multipart/form-data content type needs a boundary of 1 to 70 characters.");
        }

        var upload = new MultipartUpload();
        try
        {
            var reader = new MultipartReader(boundary, request.Body) { HeadersCountLimit = 16, HeadersLengthLimit = 8 * 1024 };
            int parts = 0;
            while (await ReadSectionAsync(reader, cancellationToken) is { } section)
            {
                if (++parts > MaxParts)
                {
                    throw Invalid($"At most {MaxParts} multipart parts are accepted.");
                }

                if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out ContentDispositionHeaderValue? disposition)
                    || !disposition.DispositionType.Equals("form-data", StringComparison.OrdinalIgnoreCase)
                    || string.IsNullOrEmpty(HeaderUtilities.RemoveQuotes(disposition.Name).Value))
                {
                    throw Invalid("Every part needs 'Content-Disposition: form-data; name=\"...\"'.");
                }

                string name = HeaderUtilities.RemoveQuotes(disposition.Name).Value!;
                if (name == "file")
                {
                    if (upload.File is not null)
                    {
                        throw Invalid("Send one part named 'file'.");
                    }

                    upload.FileName = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value;
                    upload.File = await Guard(() => store.StageAsync(section.Body, maxFileBytes, cancellationToken), cancellationToken);
                }
                else
                {
                    string value = await Guard(() => ReadFieldAsync(section.Body, cancellationToken), cancellationToken);
                    if (!upload._fields.TryAdd(name, value))
                    {
                        throw Invalid($"The field '{name}' was sent twice.");
                    }
                }
            }

            return upload;
        }
        catch
        {
            upload.Dispose();
            throw;
        }
    }

    private static Task<MultipartSection?> ReadSectionAsync(MultipartReader reader, CancellationToken cancellationToken) =>
        Guard(() => reader.ReadNextSectionAsync(cancellationToken), cancellationToken);

    private static async Task<string> ReadFieldAsync(Stream body, CancellationToken cancellationToken)
    {
        byte[] buffer = new byte[MaxFieldBytes + 1];
        int length = await body.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken);
        if (length > MaxFieldBytes)
        {
            throw Invalid($"A text field is at most {MaxFieldBytes} bytes.");
        }

        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer, 0, length);
        }
        catch (DecoderFallbackException)
        {
            throw Invalid("Text fields must be UTF-8.");
        }
    }

    /// <summary>
    /// The multipart reader reports a malformed body (no closing boundary, oversized headers) as IOException or
    /// InvalidDataException; those are the client's mistakes, so 400. A client that went away, or a body over
    /// Kestrel's limit, keeps its own exception.
    /// </summary>
    private static async Task<T> Guard<T>(Func<Task<T>> read, CancellationToken cancellationToken)
    {
        try
        {
            return await read();
        }
        catch (BadHttpRequestException)
        {
            throw;
        }
        catch (IOException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw Invalid("The multipart body is malformed: " + ex.Message);
        }
        catch (InvalidDataException ex) when (!ex.Message.Contains("body length limit", StringComparison.OrdinalIgnoreCase))
        {
            throw Invalid("The multipart body is malformed: " + ex.Message);
        }
    }

    private static ValidationException Invalid(string message) => new([new ValidationFailure("file", message)]);
}
