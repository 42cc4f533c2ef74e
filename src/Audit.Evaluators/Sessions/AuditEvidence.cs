using Audit.Evaluators.Datasets;
using Audit.Evaluators.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Audit.Evaluators.Sessions;

/// <summary>
/// The audit's evidence file, read from disk at most once per session and, for classifier datasets, copied to the
/// audit's device at most once; every probe of the audit gets the same arrays and tensors. The tensors belong to
/// this object: probes may slice and index them but must neither dispose nor modify them in place.
/// </summary>
public sealed class AuditEvidence : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<SequenceLimits, SequenceEvidence> _sequences = [];
    private DatasetArtifact? _dataset;
    private DatasetArtifact? _arranged;
    private Tensor? _inputs;
    private Tensor? _labels;
    private bool _disposed;

    /// <param name="path">The evidence file in the artifact store; null when the audit has none.</param>
    /// <param name="device">Where the tensors are placed (the audit's device).</param>
    public AuditEvidence(string? path, ComputeDevice device)
    {
        Path = string.IsNullOrEmpty(path) ? null : path;
        Device = device;
    }

    /// <summary>The evidence file; null when the audit has none.</summary>
    public string? Path { get; }

    /// <summary>Where <see cref="Inputs"/> and <see cref="Labels"/> live.</summary>
    public ComputeDevice Device { get; }

    /// <summary>
    /// The classifier dataset (safetensors), parsed on first use; once <see cref="Dataset(IDifferentiableModel)"/> has
    /// arranged it for the audited model, in that arrangement.
    /// </summary>
    /// <exception cref="DatasetRejectedException">The audit has no evidence, or it is not a valid dataset.</exception>
    public DatasetArtifact Dataset()
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _arranged ?? (_dataset ??= SafetensorsDataset.Read(Path ?? throw new DatasetRejectedException("The audit has no dataset.")));
        }
    }

    /// <summary>
    /// The dataset in the layout the audited <paramref name="model"/> takes (images channels-first, transposed once
    /// when the file holds them channels-last: <see cref="DatasetArtifact.ArrangedFor"/>); <see cref="Inputs"/> then
    /// holds that arrangement. Every probe of an audit sees the same model, so the first arrangement stands.
    /// </summary>
    /// <inheritdoc cref="Dataset()" path="/exception"/>
    public DatasetArtifact Dataset(IDifferentiableModel model)
    {
        DatasetArtifact raw = Dataset();
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_arranged is null)
            {
                _arranged = raw.ArrangedFor(model);
                if (!ReferenceEquals(_arranged, raw))
                {
                    // Inputs copied to the device before the arrangement are stale.
                    _inputs?.Dispose();
                    _inputs = null;
                }
            }

            return _arranged;
        }
    }

    /// <summary>All dataset inputs <c>[N, ...]</c> on <see cref="Device"/>, copied there on first use.</summary>
    /// <inheritdoc cref="Dataset()" path="/exception"/>
    public Tensor Inputs()
    {
        DatasetArtifact dataset = Dataset();
        lock (_gate)
        {
            return _inputs ??= SessionOwned(() => dataset.InputsTensor(Device.Torch));
        }
    }

    /// <summary>The dataset's labels <c>[N]</c> (int64) on <see cref="Device"/>.</summary>
    /// <exception cref="DatasetRejectedException">No evidence, an invalid dataset, or one without labels.</exception>
    public Tensor Labels()
    {
        DatasetArtifact dataset = Dataset();
        if (dataset.Labels is null)
        {
            throw new DatasetRejectedException("The dataset has no 'labels' (int64 [N]).");
        }

        lock (_gate)
        {
            return _labels ??= SessionOwned(() => dataset.LabelsTensor(Device.Torch));
        }
    }

    /// <summary>
    /// The sequence evidence (JSON Lines) validated against <paramref name="limits"/>: read once per distinct limits
    /// (in practice once, since the probes of one audit see the same model).
    /// </summary>
    /// <exception cref="EvidenceRejectedException">A record is invalid or outside the limits, or there is no file.</exception>
    public SequenceEvidence Sequence(SequenceLimits limits, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(limits);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_sequences.TryGetValue(limits, out SequenceEvidence? evidence))
            {
                evidence = SequenceEvidence.Read(Path ?? throw new EvidenceRejectedException("The audit has no sequence evidence."), limits, cancellationToken);
                _sequences[limits] = evidence;
            }

            return evidence;
        }
    }

    /// <summary>
    /// Creates a tensor outside any dispose scope the calling probe has open (its intermediates go with a scope of
    /// their own): it lives as long as the session.
    /// </summary>
    private static Tensor SessionOwned(Func<Tensor> create)
    {
        using var scope = torch.NewDisposeScope();
        return create().DetachFromDisposeScope();
    }

    /// <summary>Releases the tensors.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            _disposed = true;
            _inputs?.Dispose();
            _labels?.Dispose();
            _inputs = _labels = null;
            _dataset = _arranged = null;
            _sequences.Clear();
        }
    }
}
