using System.Diagnostics;
using System.Text.Json;
using Audit.Evaluators.Inventory;
using Audit.Evaluators.Onnx;

namespace Audit.Api.Infrastructure.Isolation;

/// <summary>
/// Runs the upload's executability check (<see cref="ModelInspector.InspectAndRun"/>) in a child process of this
/// same program. A graph whose shapes disagree makes libtorch throw a C++ exception that, with the TorchSharp build
/// this service loads on Debian 12, is not caught inside the native library and aborts the whole process: an upload
/// must never be able to take the service down with it. The child prints its result as JSON; a child that dies
/// yields an inventory marked not executable, with the runtime's own message.
/// </summary>
public sealed class IsolatedModelInspection
{
    /// <summary>The argument that turns this program into the child (see <see cref="RunChild"/>).</summary>
    public const string ChildArgument = "--audit-inspect-model";

    // The child bounds the run itself (ExecutionCheckOptions); this is the outer bound for a child that hangs.
    private static readonly TimeSpan ChildTimeout = TimeSpan.FromSeconds(90);

    /// <summary>Parses and structure-checks in process (managed code only), then runs the model in a child.</summary>
    /// <exception cref="ModelRejectedException">The model is refused as data.</exception>
    /// <exception cref="UnsupportedOperatorException">It uses operators the importer lacks.</exception>
    public async Task<ModelInventory> InspectAndRunAsync(string path, CancellationToken cancellationToken)
    {
        // Everything that can refuse the file as data runs here first, in managed code, so the child is only
        // started for models that would otherwise be run.
        ModelInventory parsed = ModelInspector.Inspect(path);
        OnnxStructureCheck.Check(path);

        ProcessStartInfo start = SameProgram.StartInfo(ChildArgument, path);
        // One forward pass of batch 2 gains nothing from libtorch's intra-op threads, whose OpenMP workers spin while
        // they wait: with the default (one per core) a quarter of the child's CPU time went to spinning (perf, a 2-core
        // machine), and on a larger host more cores would spin, away from the audits running beside it. One thread cut
        // the child from 2.3 to 1.6 CPU-s and from 3.9 to 2.8 s (2026-12-02). Set before the child loads libtorch.
        start.Environment["OMP_NUM_THREADS"] = "1";

        using Process child = Process.Start(start) ?? throw new InvalidOperationException("The model check could not start.");
        Task<string> output = child.StandardOutput.ReadToEndAsync(cancellationToken);
        Task<string> errors = child.StandardError.ReadToEndAsync(cancellationToken);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ChildTimeout);
        try
        {
            await child.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            child.Kill(entireProcessTree: true);
            cancellationToken.ThrowIfCancellationRequested();
            return parsed with { Executable = false, ExecutionError = $"The forward pass did not finish within {ChildTimeout.TotalSeconds:0} s." };
        }

        string json = await output;
        string stderr = await errors;
        ChildResult? result = child.ExitCode == 0 && json.Length > 0 ? JsonSerializer.Deserialize<ChildResult>(json, InventoryJson.Options) : null;
        if (result is null)
        {
            return parsed with { Executable = false, ExecutionError = "The runtime aborted while running the model: " + FirstRuntimeMessage(stderr) };
        }

        if (result.Rejected is { } rejected)
        {
            throw new ModelRejectedException(rejected.Reason, rejected.Message);
        }

        if (result.Unsupported is { } unsupported)
        {
            throw new UnsupportedOperatorException(unsupported.Operators, unsupported.Message);
        }

        return result.Inventory ?? parsed with { Executable = false, ExecutionError = "The model check returned nothing." };
    }

    /// <summary>The child's side: inspect and run the model at <c>args[1]</c>, print the result, exit 0.</summary>
    public static int RunChild(IReadOnlyList<string> args, TimeProvider time)
    {
        ChildResult result;
        try
        {
            result = new ChildResult(ModelInspector.InspectAndRun(args[1], CancellationToken.None, time: time), null, null);
        }
        catch (ModelRejectedException ex)
        {
            result = new ChildResult(null, new RejectedModel(ex.Reason, ex.Message), null);
        }
        catch (UnsupportedOperatorException ex)
        {
            result = new ChildResult(null, null, new UnsupportedModel(ex.Unsupported, ex.Message));
        }

        Console.Out.Write(JsonSerializer.Serialize(result, InventoryJson.Options));
        Console.Out.Flush();
        return 0;
    }

    /// <summary>The line libtorch prints with the reason ("what(): …"), without its native stack.</summary>
    private static string FirstRuntimeMessage(string stderr)
    {
        string? what = stderr.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("what():", StringComparison.Ordinal));
        string message = what?["what():".Length..].Trim()
            ?? stderr.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0)
            ?? "no message";
        return message.Length > 300 ? message[..300] : message;
    }

    private sealed record ChildResult(ModelInventory? Inventory, RejectedModel? Rejected, UnsupportedModel? Unsupported);

    private sealed record RejectedModel(ModelRejectionReason Reason, string Message);

    private sealed record UnsupportedModel(IReadOnlyList<string> Operators, string Message);
}
