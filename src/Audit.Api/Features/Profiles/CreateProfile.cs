using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Audit.Domain.Profiles;
using Audit.Evaluators.Probes;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Profiles;

/// <summary>Publishes a custom profile version for the caller's tenant. Versions are immutable: a second publish of one is a conflict.</summary>
public sealed record CreateProfile(Caller Caller, ProfileDraft Draft) : ICommand<ProfileResponse>;

public sealed class CreateProfileValidator : AbstractValidator<CreateProfile>
{
    public CreateProfileValidator(ProbeCatalog catalog)
    {
        RuleFor(c => c.Draft).SetValidator(new ProfileDraftValidator(catalog)).OverridePropertyName("");
        RuleFor(c => c.Draft.Id)
            .Must(id => !BuiltInProfiles.All.Any(p => p.Id == id))
            .OverridePropertyName("id")
            .WithMessage(c => $"'{c.Draft.Id}' is a built-in profile id; choose another.");
        RuleFor(c => c.Caller.TenantId).NotEmpty().OverridePropertyName("tenant")
            .WithMessage("Custom profiles belong to a tenant; this key has none.");
    }
}

public sealed class CreateProfileHandler : ICommandHandler<CreateProfile, ProfileResponse>
{
    private readonly ProfileRepository _profiles;
    private readonly TimeProvider _time;

    public CreateProfileHandler(ProfileRepository profiles, TimeProvider time)
    {
        _profiles = profiles;
        _time = time;
    }

    public async ValueTask<ProfileResponse> Handle(CreateProfile command, CancellationToken cancellationToken)
    {
        Profile profile = command.Draft.ToProfile();
        if (!await _profiles.TryAddAsync(command.Caller.Tenant, profile, command.Caller.KeyId, _time.GetUtcNow(), cancellationToken))
        {
            throw new ConflictException(
                $"Profile '{profile.Id}' version '{profile.Version}' already exists and versions are immutable; publish a new version.");
        }

        return ProfileResponse.From(new StoredProfile(profile, ProfileHash.Compute(profile), BuiltIn: false));
    }
}
