using System.Text.Json;
using Audit.Domain;
using Audit.Domain.Profiles;
using Audit.Evaluators.Probes;
using FluentValidation;

namespace Audit.Api.Features.Profiles;

/// <summary>
/// Every rule a profile must satisfy before it is stored: shape, known probes, parameters in range, numeric
/// thresholds, unique control ids, and the evidence each probe needs declared on its control.
/// </summary>
public sealed class ProfileDraftValidator : AbstractValidator<ProfileDraft>
{
    public ProfileDraftValidator(ProbeCatalog catalog)
    {
        RuleFor(p => p.Id).NotEmpty().Matches(KebabCaseId.Pattern()).WithMessage("'id' must be lower-case kebab-case (a-z, 0-9, '-'), 2 to 64 characters.");
        RuleFor(p => p.Version).NotEmpty().Must(v => ProfileVersions.IsValid(v))
            .WithMessage("'version' must be a semantic version such as 1.0.0.");
        RuleFor(p => p.Title).NotEmpty().MaximumLength(200);
        RuleFor(p => p.Regulation).NotNull().MaximumLength(500);
        RuleFor(p => p.Description).MaximumLength(4000);
        RuleFor(p => p.Controls).NotEmpty().WithMessage("A profile needs at least one control.");
        RuleFor(p => p.Controls)
            .Must(controls => controls is null || controls.Where(c => c?.Id is not null).GroupBy(c => c!.Id).All(g => g.Count() == 1))
            .WithMessage(p => "Control ids must be unique; duplicated: " + string.Join(", ",
                p.Controls!.Where(c => c?.Id is not null).GroupBy(c => c!.Id).Where(g => g.Count() > 1).Select(g => g.Key)) + ".");
        RuleForEach(p => p.Controls).NotNull().SetValidator(new ControlDraftValidator(catalog));
        // Supporting controls never decide the verdict: a profile of nothing else could only ever be inconclusive.
        RuleFor(p => p.Controls)
            .Must(controls => controls is null || controls.Count == 0 || controls.Any(c => c is null || ProfileVocabulary.ParseRole(c.Role) != VerdictRole.Supporting))
            .WithMessage("At least one control must have role 'verdict' (the default): supporting controls never decide the audit's verdict.");
    }
}

public sealed class ControlDraftValidator : AbstractValidator<ControlDraft?>
{
    public ControlDraftValidator(ProbeCatalog catalog)
    {
        RuleFor(c => c!.Id).NotEmpty().Matches(KebabCaseId.Pattern()).WithMessage("Control 'id' must be kebab-case.");
        RuleFor(c => c!.Clause).NotEmpty().MaximumLength(1000);
        RuleFor(c => c!.Title).NotEmpty().MaximumLength(300);
        RuleFor(c => c!.Combine).Must(c => ProfileVocabulary.ParseCombine(c) is not null)
            .WithMessage("'combine' must be any-fail, majority or all-pass.");
        RuleForEach(c => c!.Evidence).Must(e => ProfileVocabulary.ParseEvidence(e) is not null)
            .WithMessage("Evidence must be dataset, labelled-dataset or sequence-prompts.");
        RuleFor(c => c!.Role).Must(r => ProfileVocabulary.ParseRole(r) is not null)
            .WithMessage("'role' must be verdict or supporting.");
        RuleFor(c => c!.Probes).NotEmpty().WithMessage("A control needs at least one probe.");
        // A supporting probe's finding never counts, so a control of supporting probes alone could never be decided.
        RuleFor(c => c!.Probes)
            .Must(probes => probes is null || probes.Count == 0 || probes.Any(p => p is null || ProfileVocabulary.ParseRole(p.Role) != VerdictRole.Supporting))
            .WithMessage("A control needs at least one probe with role 'verdict' (the default): supporting probes never decide its verdict.");
        RuleForEach(c => c!.Probes).NotNull().Custom((probe, context) =>
        {
            if (probe is null)
            {
                return;
            }

            if (ProfileVocabulary.ParseRole(probe.Role) is null)
            {
                context.AddFailure("role", "'role' must be verdict or supporting.");
            }

            if (string.IsNullOrEmpty(probe.Probe) || !catalog.TryGet(probe.Probe, out IProbe found))
            {
                string known = string.Join(", ", catalog.Descriptors.Select(d => d.Name));
                context.AddFailure("probe", $"Unknown probe '{probe.Probe}'. Known probes: {known}.");
                return;
            }

            ProbeDescriptor descriptor = found.Descriptor;
            foreach ((string parameter, string message) in ProbeCatalog.Validate(descriptor, probe.Parameters ?? []))
            {
                context.AddFailure($"parameters.{parameter}", message);
            }

            if (probe.Threshold is JsonElement threshold
                && (threshold.ValueKind != JsonValueKind.Number || !(threshold.GetDouble() > 0) || !double.IsFinite(threshold.GetDouble())))
            {
                context.AddFailure("threshold", "'threshold' must be a positive number.");
            }

            EvidenceRequirement? needed = descriptor.Evidence switch
            {
                EvidenceKind.Inputs => EvidenceRequirement.Dataset,
                EvidenceKind.LabelledInputs => EvidenceRequirement.LabelledDataset,
                EvidenceKind.SequencePrompts => EvidenceRequirement.SequencePrompts,
                _ => null,
            };
            ControlDraft control = (ControlDraft)context.InstanceToValidate!;
            var declared = (control.Evidence ?? []).Select(ProfileVocabulary.ParseEvidence).ToHashSet();
            bool satisfied = needed is null
                || declared.Contains(needed)
                || (needed == EvidenceRequirement.Dataset && declared.Contains(EvidenceRequirement.LabelledDataset));
            if (!satisfied)
            {
                context.AddFailure("evidence",
                    $"Probe '{descriptor.Name}' needs evidence '{ControlVerdicts.EvidenceName(needed!.Value)}'; declare it in the control's evidence.");
            }
        });
    }
}
