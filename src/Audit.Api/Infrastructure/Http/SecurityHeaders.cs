namespace Audit.Api.Infrastructure.Http;

/// <summary>
/// Response headers every answer carries: no MIME sniffing, no referrer; the browser-facing verification page
/// may not be framed (clickjacking); admin answers, which can hold a new API key, are never cached.
/// </summary>
public static class SecurityHeaders
{
    public static IApplicationBuilder UseSecurityHeaders(this IApplicationBuilder app) =>
        app.Use((context, next) =>
        {
            context.Response.OnStarting(() =>
            {
                IHeaderDictionary headers = context.Response.Headers;
                headers.XContentTypeOptions = "nosniff";
                headers["Referrer-Policy"] = "no-referrer";
                PathString path = context.Request.Path;
                if (path.StartsWithSegments("/verify", StringComparison.OrdinalIgnoreCase))
                {
                    headers.ContentSecurityPolicy = "frame-ancestors 'none'";
                    headers.XFrameOptions = "DENY";
                }

                if (path.StartsWithSegments("/api/v1/admin", StringComparison.OrdinalIgnoreCase))
                {
                    headers.CacheControl = "no-store";
                }

                return Task.CompletedTask;
            });
            return next(context);
        });
}
