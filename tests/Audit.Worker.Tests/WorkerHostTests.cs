using Audit.Api.Features.Audits.Running;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Audit.Worker.Tests;

/// <summary>The worker host composes the API's services but serves nothing over HTTP.</summary>
public sealed class WorkerHostTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void TheWorkerHost_HasNoServer_AndRunsConcurrencyWorkers_WhateverTheApiSwitchSays(int concurrency)
    {
        string data = Path.Combine(Path.GetTempPath(), "audit-tests", Guid.NewGuid().ToString("N"));
        using IHost host = WorkerHost.Build([
            "--Audit:DataDirectory", data,
            "--Audit:Worker:Enabled", "false",
            "--Audit:Worker:Concurrency", concurrency.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ]);

        Assert.Null(host.Services.GetService<IServer>());
        Assert.Equal(concurrency, host.Services.GetServices<IHostedService>().Count(s => s is AuditWorker));
        Assert.True(Directory.Exists(data));
    }
}
