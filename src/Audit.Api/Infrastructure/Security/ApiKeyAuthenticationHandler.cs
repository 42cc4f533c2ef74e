using System.Security.Claims;
using System.Text.Encodings.Web;
using Audit.Api.Infrastructure.Persistence;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Audit.Api.Infrastructure.Security;

/// <summary>Authenticates <c>X-Api-Key: KEY</c> or <c>Authorization: Bearer KEY</c> against hashed keys.</summary>
public sealed class ApiKeyAuthenticationHandler : AuthenticationHandler<AuthenticationSchemeOptions>
{
    public const string SchemeName = "ApiKey";

    private readonly ApiKeyRepository _keys;
    private readonly ConfiguredKeys _configured;

    public ApiKeyAuthenticationHandler(
        IOptionsMonitor<AuthenticationSchemeOptions> options,
        ILoggerFactory logger,
        UrlEncoder encoder,
        ApiKeyRepository keys,
        ConfiguredKeys configured)
        : base(options, logger, encoder)
    {
        _keys = keys;
        _configured = configured;
    }

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? key = Request.Headers["X-Api-Key"].FirstOrDefault();
        string? authorization = Request.Headers.Authorization.FirstOrDefault();
        if (string.IsNullOrEmpty(key) && authorization is not null && authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            key = authorization["Bearer ".Length..].Trim();
        }

        if (string.IsNullOrEmpty(key))
        {
            return AuthenticateResult.NoResult();
        }

        string hash = ApiKeyHasher.Hash(key);
        Caller? caller = _configured.Find(hash);
        if (caller is null)
        {
            caller = await _keys.FindActiveAsync(hash, Context.RequestAborted);
        }

        if (caller is null)
        {
            return AuthenticateResult.Fail("Unknown or revoked API key.");
        }

        var claims = new List<Claim>
        {
            new(Caller.KeyIdClaim, caller.KeyId),
            new(ClaimTypes.Role, caller.Role),
            new(ClaimTypes.Name, caller.KeyId),
        };
        if (caller.TenantId is not null)
        {
            claims.Add(new Claim(Caller.TenantClaim, caller.TenantId));
        }

        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    /// <summary>A 401 names the scheme and where the key goes (RFC 9110 §11.6.1 requires the challenge).</summary>
    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "ApiKey header=\"X-Api-Key\", Bearer";
        return base.HandleChallengeAsync(properties);
    }
}

/// <summary>Keys from configuration (<c>Audit:ApiKeys</c>), held only as hashes in memory.</summary>
public sealed class ConfiguredKeys
{
    private readonly Dictionary<string, Caller> _byHash = new(StringComparer.Ordinal);

    public ConfiguredKeys(IOptions<AuditOptions> options)
    {
        int index = 0;
        foreach (ConfiguredApiKey key in options.Value.ApiKeys)
        {
            if (string.IsNullOrWhiteSpace(key.Key) || !Roles.All.Contains(key.Role))
            {
                throw new InvalidOperationException(
                    $"Audit:ApiKeys:{index} needs a Key and a Role among {string.Join(", ", Roles.All)}.");
            }

            if (Roles.IsTenantRole(key.Role) && string.IsNullOrWhiteSpace(key.Tenant))
            {
                throw new InvalidOperationException($"Audit:ApiKeys:{index} has role {key.Role}, which needs a Tenant.");
            }

            string? tenant = Roles.IsTenantRole(key.Role) ? key.Tenant : null;
            _byHash[ApiKeyHasher.Hash(key.Key)] = new Caller($"config-{index}", tenant, key.Role);
            index++;
        }
    }

    public int Count => _byHash.Count;

    public IEnumerable<string> Tenants => _byHash.Values.Select(c => c.TenantId).OfType<string>().Distinct();

    public Caller? Find(string hash) => _byHash.GetValueOrDefault(hash);
}
