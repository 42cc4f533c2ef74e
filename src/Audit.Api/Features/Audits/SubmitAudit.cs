using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Audit.Domain.Audits;
using Audit.Domain.Profiles;
using FluentValidation;
using FluentValidation.Results;
using Mediator;
using Microsoft.Extensions.Options;

namespace Audit.Api.Features.Audits;

/// <summary>The JSON body of a submission.</summary>
public sealed record SubmitAuditRequest(string? ModelArtifactId, string? DatasetArtifactId, string? ProfileId, string? ProfileVersion);

/// <summary>Queues an audit of a model against a profile. With an idempotency key, a retry returns the same audit.</summary>
public sealed record SubmitAudit(Caller Caller, SubmitAuditRequest Request, string? IdempotencyKey) : ICommand<AuditResponse>;

public sealed class SubmitAuditValidator : AbstractValidator<SubmitAudit>
{
    public SubmitAuditValidator()
    {
        RuleFor(c => c.Request.ModelArtifactId).NotEmpty().WithName("modelArtifactId").OverridePropertyName("modelArtifactId");
        RuleFor(c => c.Request.ProfileId).NotEmpty().WithName("profileId").OverridePropertyName("profileId");
        RuleFor(c => c.IdempotencyKey).MaximumLength(200).OverridePropertyName("Idempotency-Key");
    }
}

public sealed class SubmitAuditHandler : ICommandHandler<SubmitAudit, AuditResponse>
{
    private readonly AuditRepository _audits;
    private readonly ProfileRepository _profiles;
    private readonly ArtifactRepository _artifacts;
    private readonly IMediator _mediator;
    private readonly TimeProvider _time;
    private readonly AuditOptions _options;
    private readonly Infrastructure.Artifacts.ArtifactStore _store;
    private readonly Running.AuditQueueSignal _queued;

    public SubmitAuditHandler(
        AuditRepository audits,
        ProfileRepository profiles,
        ArtifactRepository artifacts,
        IMediator mediator,
        TimeProvider time,
        IOptions<AuditOptions> options,
        Infrastructure.Artifacts.ArtifactStore store,
        Running.AuditQueueSignal queued)
    {
        _queued = queued;
        _store = store;
        _audits = audits;
        _profiles = profiles;
        _artifacts = artifacts;
        _mediator = mediator;
        _time = time;
        _options = options.Value;
    }

    public async ValueTask<AuditResponse> Handle(SubmitAudit command, CancellationToken cancellationToken)
    {
        string tenant = command.Caller.Tenant;
        SubmitAuditRequest request = command.Request;
        string requestHash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(request))));

        if (command.IdempotencyKey is not null)
        {
            AuditRow? existing = await _audits.FindByIdempotencyKeyAsync(tenant, command.IdempotencyKey, cancellationToken);
            if (existing is not null)
            {
                return await SameRequestOrConflict(command.Caller, existing, requestHash, cancellationToken);
            }
        }

        var failures = new List<ValidationFailure>();
        ArtifactRow? model = await _artifacts.FindAsync(tenant, request.ModelArtifactId!, cancellationToken);
        if (model is null || model.Kind != "model")
        {
            failures.Add(new ValidationFailure("modelArtifactId", $"No model artifact '{request.ModelArtifactId}' in this tenant."));
        }

        ArtifactRow? dataset = null;
        if (request.DatasetArtifactId is not null)
        {
            dataset = await _artifacts.FindAsync(tenant, request.DatasetArtifactId, cancellationToken);
            if (dataset is null || dataset.Kind != "dataset")
            {
                failures.Add(new ValidationFailure("datasetArtifactId", $"No dataset artifact '{request.DatasetArtifactId}' in this tenant."));
                dataset = null;
            }
        }

        StoredProfile? profile = await _profiles.FindAsync(tenant, request.ProfileId!, request.ProfileVersion, cancellationToken);
        if (profile is null)
        {
            failures.Add(new ValidationFailure(request.ProfileVersion is null ? "profileId" : "profileVersion",
                request.ProfileVersion is null
                    ? $"Unknown profile '{request.ProfileId}'."
                    : $"Profile '{request.ProfileId}' has no version '{request.ProfileVersion}'."));
        }

        if (failures.Count > 0)
        {
            throw new ValidationException(failures);
        }

        if (dataset is { Format: "jsonl" })
        {
            await EnsurePromptEvidenceFitsAsync(model!, dataset, profile!.Profile, cancellationToken);
        }

        var audit = Domain.Audits.Audit.Submit("aud_" + Guid.NewGuid().ToString("N"), tenant, _time.GetUtcNow());
        var row = new AuditRow
        {
            Id = audit.Id,
            TenantId = tenant,
            ModelArtifactId = model!.Id,
            DatasetArtifactId = request.DatasetArtifactId,
            ProfileId = profile!.Profile.Id,
            ProfileVersion = profile.Profile.Version,
            ProfileHash = profile.ContentHash,
            // The audit keeps the exact profile it ran: later versions can never change what it means.
            ProfileJson = JsonSerializer.Serialize(profile.Profile, ProfileHash.CanonicalJson),
            Status = audit.Status.ToWire(),
            Seed = _options.Worker.Seed,
            IdempotencyKey = command.IdempotencyKey,
            RequestHash = requestHash,
            CreatedAt = audit.CreatedAt.ToString("O"),
        };

        if (!await _audits.TryInsertAsync(audit, row, command.Caller.KeyId, cancellationToken))
        {
            // Another request with the same key won the race: answer with its audit.
            AuditRow winner = await _audits.FindByIdempotencyKeyAsync(tenant, command.IdempotencyKey!, cancellationToken)
                ?? throw new InvalidOperationException("Audit insert failed.");
            return await SameRequestOrConflict(command.Caller, winner, requestHash, cancellationToken);
        }

        // The answer is the audit as accepted, built from the row just inserted: reading it back after waking the
        // workers would race them, and a fast audit could answer its own 202 as already finished.
        AuditResponse accepted = AuditResponse.From(row, [], [], _time.GetUtcNow());
        _queued.Queued();
        return accepted;
    }

    /// <summary>
    /// Prompt evidence must fit the sequence model: token ids inside its vocabulary (the last dimension of its first
    /// output) and sequences no longer than a fixed context length. Refused with 422, never clipped.
    /// </summary>
    private async Task EnsurePromptEvidenceFitsAsync(ArtifactRow model, ArtifactRow dataset, Domain.Profiles.Profile profile, CancellationToken cancellationToken)
    {
        System.Text.Json.Nodes.JsonNode? summary = model.SummaryJson is null ? null : System.Text.Json.Nodes.JsonNode.Parse(model.SummaryJson);
        static int? Dimension(System.Text.Json.Nodes.JsonNode? tensor, int fromEnd)
        {
            var shape = tensor?["shape"]?.AsArray();
            return shape is { Count: > 0 } && shape.Count >= fromEnd && int.TryParse(shape[shape.Count - fromEnd]?.GetValue<string>(), out int value) ? value : null;
        }

        // The upload's measured interface names the logits and the ids input; an encoder's hidden width is not a
        // vocabulary, and the deception probes report such a model inconclusive with the reason.
        System.Text.Json.Nodes.JsonNode? detected = summary?["interface"];
        string? kind = detected?["kind"]?.GetValue<string>();
        if (kind is "encoder" or "sequence-classifier")
        {
            return;
        }

        string? idsName = detected?["inputs"]?.AsArray().FirstOrDefault(i => i?["role"]?.GetValue<string>() == "input_ids")?["name"]?.GetValue<string>();
        System.Text.Json.Nodes.JsonNode? idsInput = summary?["inputs"]?.AsArray().FirstOrDefault(i => idsName is not null && i?["name"]?.GetValue<string>() == idsName) ?? summary?["inputs"]?[0];
        int? vocabulary = kind == "causal-lm" && detected?["vocabulary"] is { } v ? v.GetValue<int>() : Dimension(summary?["outputs"]?[0], 1);
        int? context = Dimension(idsInput, 1);
        if (vocabulary is null)
        {
            throw new UnprocessableException("Prompt evidence needs a sequence model whose first output is logits [B, T, V] with a fixed vocabulary size V.", "evidence-rejected");
        }

        using Infrastructure.Artifacts.LocalBlob file = await _store.OpenLocalAsync(dataset.Sha256, dataset.SizeBytes, cancellationToken)
            ?? throw new NotFoundException($"The content of dataset '{dataset.Id}' is no longer stored.");
        Audit.Evaluators.Datasets.SequenceEvidence evidence = Audit.Evaluators.Datasets.SequenceEvidence.Read(
            file.Path, new Audit.Evaluators.Datasets.SequenceLimits(vocabulary.Value, context ?? (1 << 16)), cancellationToken);
        EnsurePromptEvidenceSupportsEveryControl(evidence, profile);
    }

    /// <summary>
    /// A control whose deception indicators all lack the evidence they need would end inconclusive: refused now, with
    /// each indicator's reason and what to add, as field errors on the dataset.
    /// </summary>
    private static void EnsurePromptEvidenceSupportsEveryControl(Audit.Evaluators.Datasets.SequenceEvidence evidence, Domain.Profiles.Profile profile)
    {
        var reasons = new List<string>();
        foreach (Domain.Profiles.Control control in profile.Controls)
        {
            var probes = control.Probes.Where(p => Audit.Evaluators.Datasets.SequenceEvidenceRequirements.Probes.Contains(p.Probe)).ToList();
            var shortfalls = probes.Select(p => Audit.Evaluators.Datasets.SequenceEvidenceRequirements.Shortfalls(p.Probe, evidence)).ToList();
            if (probes.Count > 0 && shortfalls.All(s => s.Count > 0))
            {
                reasons.AddRange(shortfalls.SelectMany(s => s).Select(s => $"control '{control.Id}': {s}"));
            }
        }

        if (reasons.Count > 0)
        {
            throw new UnprocessableException(
                "The evidence cannot support every control of the profile; see the field errors for what to add.",
                "evidence-insufficient",
                new Dictionary<string, string[]> { ["datasetArtifactId"] = [.. reasons] });
        }
    }

    private async Task<AuditResponse> SameRequestOrConflict(Caller caller, AuditRow existing, string requestHash, CancellationToken cancellationToken)
    {
        if (existing.RequestHash != requestHash)
        {
            throw new ConflictException("This Idempotency-Key was already used for a different submission.");
        }

        return await _mediator.Send(new GetAudit(caller, existing.Id), cancellationToken);
    }
}
