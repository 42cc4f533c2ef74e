using Audit.Api.Features.Reports;
using Audit.Api.Features.Transparency;
using Audit.Api.Features.Verifications;
using Audit.Api.Infrastructure.Persistence;
using Audit.Api.Infrastructure.Signing;

namespace Audit.Api.Tests.Support;

/// <summary>The report services wired by hand over one temporary data directory, as the API wires them.</summary>
internal sealed class ReportServices : IDisposable
{
    private readonly FileTransparencyLogStore _logStore;

    public ReportServices(string dataDirectory, TimeProvider? time = null)
    {
        time ??= TimeProvider.System;
        DataDirectory = dataDirectory;
        Pki = new EmbeddedPki(dataDirectory, new SigningOptions(), time);
        _logStore = new FileTransparencyLogStore(dataDirectory);
        Log = new TransparencyLog(_logStore, Pki, time);
        Store = new FileIssuedReportStore(dataDirectory, new Audit.Api.Infrastructure.Artifacts.FileSystemBlobStorage(dataDirectory));
        Signer = new PadesSigner(Pki, time);
        Address = new ServiceAddress("http://audit.test", () => null);
        Issuer = new ReportIssuer(Signer, Log, Store, Pki, Address);
        Verifier = new ReportVerifier(Pki, Store, Log);
    }

    public string DataDirectory { get; }

    public EmbeddedPki Pki { get; }

    public TransparencyLog Log { get; }

    public FileIssuedReportStore Store { get; }

    public PadesSigner Signer { get; }

    public ServiceAddress Address { get; }

    public ReportIssuer Issuer { get; }

    public ReportVerifier Verifier { get; }

    public string RootPemPath => Path.Combine(DataDirectory, "pki", "root.crt.pem");

    public void Dispose()
    {
        Log.Dispose();
        _logStore.Dispose();
        Pki.Dispose();
    }
}
