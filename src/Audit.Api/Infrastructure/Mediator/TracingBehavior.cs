using System.Diagnostics;
using Audit.Api.Infrastructure.Telemetry;
using Mediator;

namespace Audit.Api.Infrastructure.Mediator;

/// <summary>One span per mediator message, named after it, so a trace shows which use case a request ran.</summary>
public sealed class TracingBehavior<TMessage, TResponse> : IPipelineBehavior<TMessage, TResponse>
    where TMessage : notnull, IMessage
{
    public async ValueTask<TResponse> Handle(TMessage message, MessageHandlerDelegate<TMessage, TResponse> next, CancellationToken cancellationToken)
    {
        using Activity? activity = AuditTelemetry.Source.StartActivity(typeof(TMessage).Name);
        try
        {
            return await next(message, cancellationToken);
        }
        catch (Exception ex)
        {
            activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
            throw;
        }
    }
}
