using System.Text.Json;
using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Artifacts;
using Audit.Api.Infrastructure.Isolation;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Audit.Evaluators.Inventory;
using FluentValidation;
using Mediator;

namespace Audit.Api.Features.Artifacts;

/// <summary>Stores an uploaded model or dataset, content-addressed, and inventories it.</summary>
public sealed record UploadArtifact(Caller Caller, string? Kind, string? Name, StagedBlob? File) : ICommand<ArtifactResponse>;

public sealed class UploadArtifactValidator : AbstractValidator<UploadArtifact>
{
    public UploadArtifactValidator()
    {
        RuleFor(x => x.Kind).NotEmpty().OverridePropertyName("kind").Must(k => k is "model" or "dataset")
            .WithMessage("'kind' must be 'model' or 'dataset'.");
        RuleFor(x => x.File).NotNull().OverridePropertyName("file").WithMessage("A multipart part named 'file' is required.");
        RuleFor(x => x.Name).MaximumLength(200).OverridePropertyName("name");
    }
}

public sealed class UploadArtifactHandler : ICommandHandler<UploadArtifact, ArtifactResponse>
{
    private readonly ArtifactStore _store;
    private readonly ArtifactRepository _artifacts;
    private readonly TimeProvider _time;

    private readonly IsolatedModelInspection _inspection;

    public UploadArtifactHandler(ArtifactStore store, ArtifactRepository artifacts, TimeProvider time, IsolatedModelInspection inspection)
    {
        _inspection = inspection;
        _store = store;
        _artifacts = artifacts;
        _time = time;
    }

    public async ValueTask<ArtifactResponse> Handle(UploadArtifact command, CancellationToken cancellationToken)
    {
        // Validated where it was received (incoming/); only an accepted upload reaches the content-addressed store,
        // and a rejected one is deleted with its incoming file, never with a stored blob.
        StagedBlob staged = command.File!;
        string path = staged.Path;
        string format;
        string summaryJson;
        if (command.Kind == "model")
        {
            // One bounded forward pass on a synthetic input: executability is measured, and the run's output
            // shapes settle the model's interface (vocabulary, classes) where the graph leaves them symbolic.
            // Parsing and the structure check (cycles, sizes, types) run here; the run itself in a child process,
            // because a libtorch error there can abort the process that hosts it.
            ModelInventory inventory = await _inspection.InspectAndRunAsync(path, cancellationToken);
            format = "onnx";
            summaryJson = JsonSerializer.Serialize(inventory, InventoryJson.Options);
        }
        else
        {
            (format, var summary) = DatasetFormats.Describe(path);
            if (format == "safetensors")
            {
                // Parse it whole now (bounded by DatasetLimits): a malformed dataset is refused at upload, not mid-audit.
                Audit.Evaluators.Datasets.SafetensorsStructureCheck.Check(path);
                _ = Audit.Evaluators.Datasets.SafetensorsDataset.Read(path);
            }
            else
            {
                // Structure only (roles, token arrays, labels); vocabulary and length are checked against the model
                // when an audit is submitted.
                _ = Audit.Evaluators.Datasets.SequenceEvidence.Read(path, new Audit.Evaluators.Datasets.SequenceLimits(int.MaxValue, 1 << 16), cancellationToken);
            }

            summaryJson = summary.ToJsonString();
        }

        // Commit and record under the store's content lock, so a concurrent delete of the same bytes cannot slip between.
        using IDisposable content = await _store.LockContentAsync(cancellationToken);
        StoredBlob blob = await _store.CommitAsync(staged, cancellationToken);
        var row = new ArtifactRow(
            "art_" + Guid.NewGuid().ToString("N"),
            command.Caller.Tenant,
            command.Kind!,
            string.IsNullOrWhiteSpace(command.Name) ? null : command.Name.Trim(),
            blob.Sha256,
            blob.SizeBytes,
            format,
            summaryJson,
            _time.GetUtcNow().ToString("O"));
        // The inspection is stored with the artifact: audits read the summary instead of parsing the file again.
        // The lock above covers this process only: a delete in another process (a shared bucket) may have removed the
        // bytes between our commit and this insert. Insert and re-check run under the database's content lock, which
        // deletes take too, so the bytes are put back from the staged copy if needed (ArtifactStore's remarks).
        await _artifacts.InsertWithContentAsync(row, command.Caller.KeyId, () => _store.EnsureStoredAsync(staged, CancellationToken.None), cancellationToken);
        return ArtifactResponse.From(row);
    }
}
