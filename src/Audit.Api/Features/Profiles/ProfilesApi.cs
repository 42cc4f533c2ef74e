using System.Text.Json;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Parsing;
using Audit.Api.Infrastructure.Security;
using FluentValidation;
using FluentValidation.Results;
using Mediator;
using Microsoft.AspNetCore.Http.HttpResults;
using YamlDotNet.Core;

namespace Audit.Api.Features.Profiles;

public static class ProfilesApi
{
    private const int MaxProfileBytes = 1024 * 1024;

    public static IEndpointRouteBuilder MapProfilesApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("api/v1/profiles").WithTags("Profiles").RequireAuthorization();

        group.MapGet("", List).WithSummary("List profiles").WithDescription("Latest version of every built-in and own-tenant profile.");
        group.MapGet("{id}", Get).WithSummary("Get a profile").WithDescription("The given ?version=, or the latest.")
            .ProducesProblem(StatusCodes.Status404NotFound);
        group.MapGet("{id}/versions", Versions).WithSummary("List a profile's versions").ProducesProblem(StatusCodes.Status404NotFound);
        group.MapPost("", Create)
            .RequireAuthorization(Policies.ManageProfiles)
            .WithSummary("Publish a custom profile version")
            .WithDescription("JSON (application/json) or YAML (application/yaml) with the same shape. Versions are immutable.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict);
        return app;
    }

    public static async Task<Ok<IReadOnlyList<ProfileSummary>>> List(HttpContext context, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new ListProfiles(Caller.From(context.User)), cancellationToken));

    public static async Task<Ok<ProfileResponse>> Get(string id, string? version, HttpContext context, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new GetProfile(Caller.From(context.User), id, version), cancellationToken));

    public static async Task<Ok<IReadOnlyList<ProfileVersion>>> Versions(string id, HttpContext context, IMediator mediator, CancellationToken cancellationToken) =>
        TypedResults.Ok(await mediator.Send(new ListProfileVersions(Caller.From(context.User), id), cancellationToken));

    public static async Task<Created<ProfileResponse>> Create(HttpRequest request, IMediator mediator, CancellationToken cancellationToken)
    {
        ProfileDraft draft = await ReadDraftAsync(request, cancellationToken);
        ProfileResponse created = await mediator.Send(new CreateProfile(Caller.From(request.HttpContext.User), draft), cancellationToken);
        return TypedResults.Created($"/api/v1/profiles/{created.Id}?version={created.Version}", created);
    }

    /// <summary>Reads JSON or YAML into a lenient draft; a body that is not even that shape is a 400 naming where it broke.</summary>
    private static async Task<ProfileDraft> ReadDraftAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        // Read at most one byte past the limit: a larger body is refused without being held in memory.
        byte[] buffer = new byte[MaxProfileBytes + 1];
        int length = await request.Body.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken);
        if (length > MaxProfileBytes)
        {
            throw Invalid("body", $"A profile is at most {MaxProfileBytes} bytes.");
        }

        string text = System.Text.Encoding.UTF8.GetString(buffer, 0, length);
        string mediaType = request.ContentType?.Split(';')[0].Trim().ToLowerInvariant() ?? "";
        bool yaml = mediaType is "application/yaml" or "application/x-yaml" or "text/yaml" or "text/x-yaml";
        try
        {
            JsonNode? node = yaml ? BoundedYaml.ToJson(text) : JsonNode.Parse(text);
            return node.Deserialize<ProfileDraft>(JsonSerializerOptions.Web) ?? throw Invalid("body", "The body is empty.");
        }
        catch (JsonException ex)
        {
            throw Invalid(string.IsNullOrEmpty(ex.Path) ? "body" : ex.Path.TrimStart('$', '.'), "The value does not have the expected type or the body is not valid JSON: " + ex.Message);
        }
        catch (YamlException ex)
        {
            throw Invalid("body", $"The body is not valid YAML: {ex.Message}");
        }
        catch (YamlRefusedException ex)
        {
            throw Invalid("body", ex.Message);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException)
        {
            // System.Text.Json reports duplicate keys (ArgumentException), out-of-range numbers (FormatException)
            // and mismatched node kinds (InvalidOperationException) outside JsonException.
            throw Invalid("body", "The body is not a valid profile: " + ex.Message);
        }
    }

    private static ValidationException Invalid(string field, string message) => new([new ValidationFailure(field, message)]);
}
