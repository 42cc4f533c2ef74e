namespace Audit.Api.Infrastructure.Security;

/// <summary>What a 401 or 403 problem tells the caller to do.</summary>
public static class AuthenticationProblems
{
    public static string? Detail(HttpContext context, int? status)
    {
        bool sentKey = context.Request.Headers.ContainsKey("X-Api-Key") || context.Request.Headers.Authorization.Count > 0;
        return status switch
        {
            StatusCodes.Status401Unauthorized when sentKey =>
                "The API key is unknown or revoked. Send a valid key as 'X-Api-Key: KEY' or 'Authorization: Bearer KEY'.",
            StatusCodes.Status401Unauthorized =>
                "No API key was sent. Send it as the header 'X-Api-Key: KEY' or 'Authorization: Bearer KEY'.",
            StatusCodes.Status403Forbidden =>
                "The API key's role (or tenant) does not allow this operation.",
            _ => null,
        };
    }
}
