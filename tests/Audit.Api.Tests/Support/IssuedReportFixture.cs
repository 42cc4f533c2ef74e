using Audit.Api.Features.Reports;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Tests.Reports;

namespace Audit.Api.Tests.Support;

/// <summary>One report issued end to end (render, sign, log, receipt) shared by a test class.</summary>
public sealed class IssuedReportFixture : IAsyncLifetime
{
    private readonly TempDirectory _directory = new();

    internal ReportServices Services { get; private set; } = null!;

    public IssuedReport Issued { get; private set; } = null!;

    public byte[] Pdf { get; private set; } = [];

    public string Directory => _directory.Path;

    /// <summary>Writes the issued PDF under <paramref name="name"/> for a command-line tool and returns its path.</summary>
    public string WritePdf(string name)
    {
        var path = _directory.File(name);
        File.WriteAllBytes(path, Pdf);
        return path;
    }

    public async Task InitializeAsync()
    {
        Services = new ReportServices(_directory.Path);
        Issued = await Services.Issuer.IssueAsync(SampleReports.Create("rpt-fixture"), CancellationToken.None);
        Pdf = (await Services.Store.ReadPdfAsync(Issued.ReportId, CancellationToken.None))!;
    }

    public Task DisposeAsync()
    {
        Services.Dispose();
        _directory.Dispose();
        return Task.CompletedTask;
    }
}
