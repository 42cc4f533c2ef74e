using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Audit.Api.Infrastructure;
using Audit.Api.Infrastructure.Persistence;
using Audit.Domain.Audits;
using Audit.Domain.Profiles;
using Microsoft.Extensions.Options;

namespace Audit.Api.Features.Audits;

/// <summary>
/// An audit's live events for <c>GET /api/v1/audits/{id}/events</c> (server-sent events). The stream reads the
/// database on an interval and emits what changed, so it sees a worker in any process: <c>step</c> when a probe
/// starts, <c>progress</c> (with the estimate), <c>finding</c> as each probe finishes (in probe order, before the next
/// step), and <c>status</c> on each transition; the stream ends after the final <c>status</c>. The first events
/// describe the current state (findings so far included), so a client that connects late (or reconnects) needs
/// nothing else.
/// </summary>
public sealed class WatchAudit
{
    private readonly AuditRepository _audits;
    private readonly TimeProvider _time;
    private readonly TimeSpan _interval;

    public WatchAudit(AuditRepository audits, TimeProvider time, IOptions<AuditOptions> options)
    {
        _audits = audits;
        _time = time;
        _interval = options.Value.EventsPollInterval;
    }

    /// <summary>The events of an audit the caller's tenant owns (the endpoint checked it exists there first).</summary>
    public async IAsyncEnumerable<SseItem<JsonObject>> EventsAsync(string? tenant, string id, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long sequence = 0;
        string? status = null;
        string? step = null;
        double? progress = null;
        int emitted = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            AuditRow? row = await _audits.FindAsync(tenant, id, cancellationToken);
            if (row is null)
            {
                yield break;
            }

            AuditResponse audit = AuditResponse.From(row, [], [], _time.GetUtcNow());
            bool finished = row.State.IsTerminal();

            // Findings first: each was recorded as its probe finished, before the next probe's step began.
            if (row.State == AuditStatus.Running || finished)
            {
                (_, IReadOnlyList<FindingRow> findings) = await _audits.ResultsAsync(id, cancellationToken);
                // A new attempt (after a lost lease) starts its findings again; they are announced again as they come.
                emitted = Math.Min(emitted, findings.Count);
                // The role comes from the audit's copy of its profile, as in GET /audits/{id}, so a supporting finding is
                // marked the same way live and afterwards.
                IReadOnlyList<VerdictRole> roles = ControlVerdicts.FindingRoles(row.Profile(), findings.Select(f => f.ControlId));
                for (int i = emitted; i < findings.Count; i++)
                {
                    FindingRow finding = findings[i];
                    yield return Event("finding", ++sequence, new JsonObject
                    {
                        ["id"] = id,
                        ["controlId"] = finding.ControlId,
                        ["probe"] = finding.Probe,
                        ["verdict"] = finding.Verdict,
                        ["score"] = finding.Score,
                        ["summary"] = finding.Summary,
                        ["role"] = ControlVerdicts.RoleName(roles[i]),
                    });
                }

                emitted = findings.Count;
            }

            if (audit.CurrentStep is not null && audit.CurrentStep != step)
            {
                step = audit.CurrentStep;
                yield return Event("step", ++sequence, new JsonObject { ["id"] = id, ["currentStep"] = step });
            }

            if (audit.Progress != progress)
            {
                progress = audit.Progress;
                yield return Event("progress", ++sequence, new JsonObject { ["id"] = id, ["progress"] = audit.Progress, ["etaSeconds"] = audit.EtaSeconds });
            }

            if (audit.Status != status)
            {
                status = audit.Status;
                yield return Event("status", ++sequence, new JsonObject
                {
                    ["id"] = id, ["status"] = status, ["verdict"] = audit.Verdict, ["error"] = audit.Error,
                });
            }

            if (finished)
            {
                yield break;
            }

            await Task.Delay(_interval, _time, cancellationToken);
        }
    }

    private static SseItem<JsonObject> Event(string type, long sequence, JsonObject data) =>
        new(data, type) { EventId = sequence.ToString(System.Globalization.CultureInfo.InvariantCulture) };
}
