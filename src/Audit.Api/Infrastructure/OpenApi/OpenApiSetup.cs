using System.Text.Json.Nodes;
using Audit.Api.Infrastructure.Security;
using Audit.Domain.Artifacts;
using Audit.Domain.Audits;
using Audit.Domain.Findings;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.ModelBinding;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Audit.Api.Infrastructure.OpenApi;

/// <summary>
/// Completes the generated OpenAPI document with what endpoint metadata alone does not say: the API-key security
/// schemes and where they apply, the problem answers the pipeline gives (401/403 from authorization, 400/415 from
/// body binding), the closed sets of values of status, verdict and kind, an operationId per operation, inline binary
/// schemas for files and streams, and examples (<see cref="OpenApiExamples"/>). Generated clients (Kiota, see
/// clients/Audit.Client) rely on all of these.
/// </summary>
public static class OpenApiSetup
{
    public const string ApiKeyScheme = "ApiKey";
    public const string BearerScheme = "Bearer";
    public const string ProblemMediaType = "application/problem+json";

    public static IServiceCollection AddAuditOpenApi(this IServiceCollection services) =>
        services.AddOpenApi(options =>
        {
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info.Title = "Audit API";
                document.Info.Description =
                    "Upload an ONNX model and evidence, submit an audit against a profile, download the signed PDF report, verify it. "
                    + "Authenticate with 'X-Api-Key: KEY' or 'Authorization: Bearer KEY'. Errors are RFC 9457 problem details.";
                document.Components ??= new OpenApiComponents();
                document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
                document.Components.SecuritySchemes[ApiKeyScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.ApiKey,
                    In = ParameterLocation.Header,
                    Name = "X-Api-Key",
                    Description = "An API key issued by an administrator (POST /api/v1/admin/api-keys).",
                };
                document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
                {
                    Type = SecuritySchemeType.Http,
                    Scheme = "bearer",
                    Description = "The same API key as a bearer token: 'Authorization: Bearer KEY'.",
                };
                return Task.CompletedTask;
            });
            options.AddOperationTransformer(TransformOperationAsync);
            // After the operations: examples are matched to the component schemas the bodies reference.
            options.AddDocumentTransformer((document, _, _) =>
            {
                InlineFreeFormJson(document);
                OpenApiExamples.Apply(document);
                return Task.CompletedTask;
            });
            options.AddSchemaTransformer((schema, context, _) =>
            {
                ApplyEnumeration(schema, context.JsonPropertyInfo?.DeclaringType, context.JsonPropertyInfo?.Name);
                return Task.CompletedTask;
            });
        });

    private static async Task TransformOperationAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        IList<object> metadata = context.Description.ActionDescriptor.EndpointMetadata;
        operation.Responses ??= [];
        operation.OperationId = OperationId(context.Description, metadata);
        InlineBinaryContent(operation);

        bool bodyBound = context.Description.ParameterDescriptions.Any(p => p.Source == BindingSource.Body);
        bool typedParameters = context.Description.ParameterDescriptions.Any(p =>
            p.Source != BindingSource.Body && p.Type is not null && p.Type != typeof(string));
        if (bodyBound || typedParameters)
        {
            await AddProblemAsync(operation, context, StatusCodes.Status400BadRequest, "The request is malformed or invalid (field errors, with the position for unreadable JSON).", cancellationToken);
        }

        if (bodyBound)
        {
            await AddProblemAsync(operation, context, StatusCodes.Status415UnsupportedMediaType, "The body is not application/json.", cancellationToken);
        }

        // Authorization is decided by metadata the same way the middleware decides it: any AllowAnonymous wins.
        List<IAuthorizeData> authorize = metadata.OfType<IAuthorizeData>().ToList();
        if (authorize.Count > 0 && !metadata.OfType<IAllowAnonymous>().Any())
        {
            OpenApiDocument? document = context.Document;
            operation.Security ??= [];
            operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(ApiKeyScheme, document)] = [] });
            operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(BearerScheme, document)] = [] });
            await AddProblemAsync(operation, context, StatusCodes.Status401Unauthorized, "No API key, or an unknown or revoked one. Send 'X-Api-Key: KEY' or 'Authorization: Bearer KEY'.", cancellationToken);
            if (authorize.Any(a => !string.IsNullOrEmpty(a.Policy) || !string.IsNullOrEmpty(a.Roles)))
            {
                await AddProblemAsync(operation, context, StatusCodes.Status403Forbidden, "The key's role (or tenant) does not allow this operation.", cancellationToken);
            }
        }

        // Problem answers declared with ProducesProblem get a description a reader can act on.
        foreach ((string status, IOpenApiResponse response) in operation.Responses)
        {
            if (response is OpenApiResponse concrete && int.TryParse(status, out int code) && code >= 400
                && (string.IsNullOrEmpty(concrete.Description) || concrete.Description == ReasonPhrase(code)))
            {
                concrete.Description = DefaultDescription(code);
            }
        }

        if (metadata.OfType<System.Reflection.MethodInfo>().Any(m => m.DeclaringType == typeof(Features.Audits.AuditsApi) && m.Name == nameof(Features.Audits.AuditsApi.List)))
        {
            foreach (IOpenApiParameter parameter in operation.Parameters ?? [])
            {
                if (parameter is OpenApiParameter { Name: "status", Schema: OpenApiSchema schema })
                {
                    schema.Enum = [.. Enum.GetValues<AuditStatus>().Select(s => (JsonNode)JsonValue.Create(s.ToWire()))];
                }
            }
        }
    }

    /// <summary>
    /// A stable, unique name per operation for generators that name methods after it: the feature (the class that
    /// maps it, less "Api") and the handler method, e.g. <c>Audits_Submit</c>. A lambda handler is named by its
    /// HTTP method and route instead.
    /// </summary>
    private static string OperationId(Microsoft.AspNetCore.Mvc.ApiExplorer.ApiDescription description, IList<object> metadata)
    {
        System.Reflection.MethodInfo? handler = metadata.OfType<System.Reflection.MethodInfo>().LastOrDefault();
        Type? owner = handler?.DeclaringType;
        while (owner?.DeclaringType is not null && owner.Name.StartsWith('<'))
        {
            owner = owner.DeclaringType;
        }

        string feature = owner is null ? "Service" : owner.Name.EndsWith("Api", StringComparison.Ordinal) ? owner.Name[..^3] : owner.Name;
        if (handler is not null && !handler.Name.Contains('<', StringComparison.Ordinal))
        {
            return $"{feature}_{handler.Name}";
        }

        string route = string.Concat((description.RelativePath ?? string.Empty).Split('/', '-', '.', '{', '}')
            .Where(part => part.Length > 0 && part is not "api" and not "v1")
            .Select(part => char.ToUpperInvariant(part[0]) + part[1..]));
        string method = (description.HttpMethod ?? "Get").ToLowerInvariant();
        return $"{feature}_{char.ToUpperInvariant(method[0])}{method[1..]}{route}";
    }

    /// <summary>
    /// Files and streams (PDF, PNG, artifact bytes, server-sent events) get an inline binary string schema: a shared
    /// "Stream" component leaves generators (Kiota) without a return value, while an inline binary is a stream.
    /// </summary>
    private static void InlineBinaryContent(OpenApiOperation operation)
    {
        foreach (IOpenApiResponse response in operation.Responses?.Values ?? Enumerable.Empty<IOpenApiResponse>())
        {
            foreach ((string mediaType, OpenApiMediaType content) in response.Content ?? new Dictionary<string, OpenApiMediaType>())
            {
                if (!IsJson(mediaType) && !mediaType.StartsWith("text/plain", StringComparison.Ordinal) && !mediaType.StartsWith("text/html", StringComparison.Ordinal))
                {
                    content.Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" };
                }
            }
        }
    }

    /// <summary>
    /// Properties typed JsonNode or JsonElement (finding details, artifact summaries, log entries, a probe's
    /// threshold) come out as references to empty "JsonNode"/"JsonElement" schemas, which generators turn into empty
    /// classes named after .NET types. Free-form JSON is an inline empty schema instead (any value), and a threshold is
    /// a number.
    /// </summary>
    private static void InlineFreeFormJson(OpenApiDocument document)
    {
        IDictionary<string, IOpenApiSchema>? schemas = document.Components?.Schemas;
        if (schemas is null)
        {
            return;
        }

        foreach ((string owner, IOpenApiSchema component) in schemas)
        {
            if (component is not OpenApiSchema { Properties: { } properties })
            {
                continue;
            }

            foreach (string name in properties.Keys.ToList())
            {
                if (properties[name] is OpenApiSchema { OneOf: { } oneOf } property
                    && oneOf.OfType<OpenApiSchemaReference>().Any(r => r.Reference.Id is "JsonNode" or "JsonElement"))
                {
                    properties[name] = owner == "ProbeDraft" && name == "threshold"
                        ? new OpenApiSchema { Type = JsonSchemaType.Number | JsonSchemaType.Null, Description = property.Description ?? "The probe's decision threshold; the probe's default when absent." }
                        : new OpenApiSchema { Description = property.Description ?? "Free-form JSON." };
                }
            }
        }

        schemas.Remove("JsonNode");
        schemas.Remove("JsonElement");
    }

    internal static bool IsJson(string mediaType) =>
        mediaType.StartsWith("application/json", StringComparison.Ordinal) || mediaType.Contains("+json", StringComparison.Ordinal);

    private static async Task AddProblemAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, int status, string description, CancellationToken cancellationToken)
    {
        string key = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        if (operation.Responses!.ContainsKey(key))
        {
            return;
        }

        IOpenApiSchema schema = context.Document?.Components?.Schemas?.ContainsKey(nameof(ProblemDetails)) == true
            ? new OpenApiSchemaReference(nameof(ProblemDetails), context.Document)
            : await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), null, cancellationToken);
        operation.Responses[key] = new OpenApiResponse
        {
            Description = description,
            Content = new Dictionary<string, OpenApiMediaType> { [ProblemMediaType] = new() { Schema = schema } },
        };
    }

    private static string ReasonPhrase(int code) => Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(code);

    private static string DefaultDescription(int code) => code switch
    {
        400 => "The request is invalid: see the field errors (errors: field → messages).",
        403 => "The key's role (or tenant) does not allow this operation.",
        404 => "No such resource for this tenant.",
        409 => "The resource's state does not allow this (see detail).",
        413 => "The body exceeds the configured limit.",
        415 => "The body's media type is not accepted.",
        422 => "The content was understood but refused (see reason).",
        _ => ReasonPhrase(code),
    };

    /// <summary>Wire values are lower-case enum names; clients can switch on them exhaustively.</summary>
    private static void ApplyEnumeration(OpenApiSchema schema, Type? declaringType, string? property)
    {
        if (declaringType?.Namespace is null || property is null || !declaringType.Namespace.StartsWith("Audit.Api.Features", StringComparison.Ordinal))
        {
            return;
        }

        string[]? values = (declaringType.Namespace, property) switch
        {
            ("Audit.Api.Features.Audits", "status") => [.. Enum.GetValues<AuditStatus>().Select(s => s.ToWire())],
            (_, "verdict") => [.. Enum.GetNames<Verdict>().Select(n => n.ToLowerInvariant())],
            ("Audit.Api.Features.Artifacts", "kind") => [.. Enum.GetNames<ArtifactKind>().Select(n => n.ToLowerInvariant())],
            _ => null,
        };
        if (values is null)
        {
            return;
        }

        List<JsonNode?> allowed = [.. values.Select(v => (JsonNode?)JsonValue.Create(v))];
        if (schema.Type is { } type && type.HasFlag(JsonSchemaType.Null))
        {
            allowed.Add(null);
        }

        schema.Enum = allowed!;
    }
}
