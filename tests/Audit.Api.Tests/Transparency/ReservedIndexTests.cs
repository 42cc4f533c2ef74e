using System.Text;
using Audit.Api.Tests.Reports;
using Audit.Api.Tests.Support;

namespace Audit.Api.Tests.Transparency;

public sealed class ReservedIndexTests
{
    [Fact]
    public async Task ConcurrentIssues_EachPdfStatesTheIndexItsEntryWasAppendedAt()
    {
        using var directory = new TempDirectory();
        using var services = new ReportServices(directory.Path);
        await services.Log.AppendAsync("an unrelated earlier entry"u8.ToArray(), CancellationToken.None);

        var issued = await Task.WhenAll(Enumerable.Range(0, 4).Select(i =>
            Task.Run(() => services.Issuer.IssueAsync(SampleReports.Create($"rpt-reserved-{i}", inventoryRows: 2), CancellationToken.None))));

        Assert.Equal([1L, 2, 3, 4], issued.Select(r => r.LogIndex).Order());
        foreach (var report in issued)
        {
            var pdf = Encoding.Latin1.GetString((await services.Store.ReadPdfAsync(report.ReportId, CancellationToken.None))!);
            Assert.Contains($"<audit:transparencyLogIndex>{report.LogIndex}</audit:transparencyLogIndex>", pdf, StringComparison.Ordinal);
            Assert.Equal(report.LogEntry, await services.Log.GetEntryAsync(report.LogIndex, CancellationToken.None));
        }
    }
}
