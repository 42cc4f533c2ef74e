using Audit.Api.Infrastructure.Artifacts;
using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Audits;

/// <summary>
/// One evidence file a probe produced for an audit of the caller's tenant (e.g. a recovered trigger mask as PNG).
/// Findings list evidence by id and link here, so the audit itself stays small.
/// </summary>
public sealed record GetAuditEvidence(Caller Caller, string AuditId, string EvidenceId) : IQuery<EvidenceDownload>;

/// <summary>An evidence file's bytes and media type.</summary>
public sealed record EvidenceDownload(byte[] Content, string MediaType);

public sealed class GetAuditEvidenceValidator : AbstractValidator<GetAuditEvidence>
{
    public GetAuditEvidenceValidator() => RuleFor(q => q.EvidenceId).MaximumLength(100).OverridePropertyName("evidenceId");
}

public sealed class GetAuditEvidenceHandler : IQueryHandler<GetAuditEvidence, EvidenceDownload>
{
    private readonly AuditRepository _audits;
    private readonly ArtifactStore _store;

    public GetAuditEvidenceHandler(AuditRepository audits, ArtifactStore store)
    {
        _audits = audits;
        _store = store;
    }

    public async ValueTask<EvidenceDownload> Handle(GetAuditEvidence query, CancellationToken cancellationToken)
    {
        EvidenceRow evidence = await _audits.FindEvidenceAsync(query.Caller.Tenant, query.AuditId, query.EvidenceId, cancellationToken)
            ?? throw new NotFoundException($"Audit '{query.AuditId}' has no evidence '{query.EvidenceId}'.");
        byte[] content = await _store.ReadAllBytesAsync(evidence.Sha256, evidence.SizeBytes, cancellationToken)
            ?? throw new NotFoundException($"The content of evidence '{query.EvidenceId}' is no longer stored.");
        return new EvidenceDownload(content, evidence.MediaType);
    }
}
