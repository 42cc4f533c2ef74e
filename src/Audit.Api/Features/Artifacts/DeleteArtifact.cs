using Audit.Api.Infrastructure.Artifacts;
using Audit.Api.Infrastructure.Errors;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Security;
using Mediator;

namespace Audit.Api.Features.Artifacts;

/// <summary>
/// Deletes an artifact no audit refers to (an audit's report names its model and dataset hashes, so those must stay).
/// The bytes go only when no other artifact row, of any tenant, and no evidence file shares them.
/// </summary>
public sealed record DeleteArtifact(Caller Caller, string Id) : ICommand<Unit>;

public sealed class DeleteArtifactHandler : ICommandHandler<DeleteArtifact, Unit>
{
    private readonly ArtifactRepository _artifacts;
    private readonly ArtifactStore _store;
    private readonly ILogger<DeleteArtifactHandler> _logger;

    public DeleteArtifactHandler(ArtifactRepository artifacts, ArtifactStore store, ILogger<DeleteArtifactHandler> logger)
    {
        _artifacts = artifacts;
        _store = store;
        _logger = logger;
    }

    public async ValueTask<Unit> Handle(DeleteArtifact command, CancellationToken cancellationToken)
    {
        ArtifactRow row = await _artifacts.FindAsync(command.Caller.Tenant, command.Id, cancellationToken)
            ?? throw new NotFoundException($"Artifact '{command.Id}' was not found.");
        if (!await _artifacts.DeleteUnreferencedAsync(command.Caller.Tenant, command.Id, cancellationToken))
        {
            throw new ConflictException($"Artifact '{command.Id}' is referenced by an audit (and its report); it is kept.");
        }

        // The row is gone whatever happens next: from here on, do not let a client's cancellation leave it half done.
        using IDisposable content = await _store.LockContentAsync(CancellationToken.None);
        // Check and delete under the database's content lock, which an upload of the same bytes in any process takes
        // to record its row: this delete either sees that row or ends before it, and then the upload stores the bytes again.
        if (await _artifacts.DeleteContentIfUnusedAsync(row.Sha256, () => _store.DeleteAsync(row.Sha256, CancellationToken.None), CancellationToken.None))
        {
            _logger.LogInformation("Deleted artifact {ArtifactId} and its content {Sha256}", row.Id, row.Sha256);
        }
        else
        {
            _logger.LogInformation("Deleted artifact {ArtifactId}; its content {Sha256} is still used elsewhere", row.Id, row.Sha256);
        }

        return Unit.Value;
    }
}
