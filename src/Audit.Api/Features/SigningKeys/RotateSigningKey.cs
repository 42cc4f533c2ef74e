using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Signing;
using Mediator;

namespace Audit.Api.Features.SigningKeys;

/// <summary>Starts a new signing key; earlier certificates stay published so their reports keep verifying.</summary>
public sealed record RotateSigningKey : ICommand<PublishedCertificate>;

public sealed class RotateSigningKeyHandler(ISigningKeyProvider keys) : ICommandHandler<RotateSigningKey, PublishedCertificate>
{
    public ValueTask<PublishedCertificate> Handle(RotateSigningKey command, CancellationToken cancellationToken)
    {
        if (keys is not IRotatableSigningKeyProvider rotatable)
        {
            throw new ConflictException("The signing key comes from an external CA: rotate it there and update Audit:Signing:External.");
        }

        return ValueTask.FromResult(PublishedCertificate.From(rotatable.Rotate(), current: true));
    }
}
