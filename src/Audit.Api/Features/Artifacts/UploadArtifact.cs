using System.Data.Common;
using System.Text.Json;
using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Artifacts;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Audit.Evaluators.Inventory;
using Dapper;
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
    private readonly IDatabase _database;
    private readonly TimeProvider _time;

    public UploadArtifactHandler(ArtifactStore store, IDatabase database, TimeProvider time)
    {
        _store = store;
        _database = database;
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
            ModelInventory inventory = ModelInspector.Inspect(path);
            Audit.Evaluators.Onnx.OnnxStructureCheck.Check(path);
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

        StoredBlob blob = _store.Commit(staged);
        await using DbConnection connection = await _database.OpenAsync(cancellationToken);
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
        await connection.ExecuteAsync(new CommandDefinition(
            """
            INSERT INTO artifacts (id, tenant_id, kind, name, sha256, size_bytes, format, summary_json, created_by, created_at)
            VALUES (@Id, @TenantId, @Kind, @Name, @Sha256, @SizeBytes, @Format, @SummaryJson, @createdBy, @CreatedAt)
            """,
            new { row.Id, row.TenantId, row.Kind, row.Name, row.Sha256, row.SizeBytes, row.Format, row.SummaryJson, createdBy = command.Caller.KeyId, row.CreatedAt },
            cancellationToken: cancellationToken));
        return row.ToResponse();
    }
}
