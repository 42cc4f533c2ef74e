using System.Reflection;
using System.Reflection.Emit;
using Audit.Evaluators.Runtime;
using TorchSharp;

namespace Audit.Evaluators.Tests;

/// <summary>
/// Reads TorchSharp's compiled code to find every member that makes a <see cref="Scalar"/> it never disposes (so the
/// garbage collector may free it while libtorch reads it; <see cref="HeldScalars"/> says why), directly or through
/// another such member, and checks that none of this repository's libtorch code calls one. eng/BannedSymbols.txt names
/// the offenders one by one for the compiler; this test finds them from TorchSharp itself, so a member the list misses, or
/// a TorchSharp upgrade that adds one, fails here.
/// </summary>
public sealed class TorchSharpScalarLifetimeTests
{
    private const BindingFlags Declared = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;

    private static readonly Lazy<HashSet<MethodBase>> Offenders = new(FindOffenders);

    [Fact]
    public void TheScan_FindsTorchSharpsKnownOffenders_AndSparesSafeMembers()
    {
        Type tensor = typeof(torch.Tensor);
        Assert.Contains(tensor.GetMethod("op_Addition", [tensor, tensor])!, Offenders.Value);
        Assert.Contains(tensor.GetMethod("square", Type.EmptyTypes)!, Offenders.Value);
        Assert.Contains(tensor.GetMethod("add", [tensor])!, Offenders.Value);
        Assert.Contains(typeof(TorchSharp.Modules.Adam).GetMethod("step", Declared)!, Offenders.Value);
        Assert.Contains(typeof(TorchSharp.Modules.BatchNorm).GetMethod("forward", Declared)!, Offenders.Value);

        Assert.DoesNotContain(tensor.GetMethod("mul", [tensor])!, Offenders.Value);
        Assert.DoesNotContain(tensor.GetMethod("sub", [tensor])!, Offenders.Value);
        Assert.DoesNotContain(tensor.GetMethod("add", [tensor, typeof(Scalar)])!, Offenders.Value);
    }

    [Fact]
    public void NoLibtorchCodeHere_CallsATorchSharpMemberThatLeavesItsScalarToTheCollector()
    {
        Assembly[] ours =
        [
            typeof(HeldScalars).Assembly,
            typeof(Audit.Testing.Sequence.DecoderTransformer).Assembly,
            Assembly.Load("Audit.ModelZoo"),
            typeof(TorchSharpScalarLifetimeTests).Assembly,
        ];
        var calls = new SortedSet<string>(StringComparer.Ordinal);
        foreach (Assembly assembly in ours)
        {
            foreach (MethodBase method in MethodsOf(assembly))
            {
                // The comparison tests call TorchSharp's operators on purpose, to show HeldScalars gives their results.
                if (method.DeclaringType?.FullName?.StartsWith(typeof(HeldScalarsTests).FullName!, StringComparison.Ordinal) == true)
                {
                    continue;
                }

                foreach (MethodBase callee in Callees(method).Where(Offenders.Value.Contains))
                {
                    calls.Add($"{method.DeclaringType?.FullName}.{method.Name} calls {callee.DeclaringType?.Name}.{callee.Name}");
                }
            }
        }

        Assert.Empty(calls);
    }

    private static HashSet<MethodBase> FindOffenders()
    {
        Assembly torchSharp = typeof(torch).Assembly;
        List<MethodBase> methods = [.. MethodsOf(torchSharp)];
        Dictionary<MethodBase, List<MethodBase>> callees = methods.ToDictionary(m => m, m => Callees(m).ToList());
        var offenders = new HashSet<MethodBase>(methods.Where(m =>
            m.DeclaringType != typeof(Scalar) && m.DeclaringType != typeof(ScalarExtensionMethods)
            && callees[m].Any(MakesAScalar) && !callees[m].Any(DisposesAScalar)));

        // A member that calls an offender runs the offender's native call with the offender's temporary: it offends too.
        bool grew = true;
        while (grew)
        {
            grew = false;
            foreach (MethodBase method in methods)
            {
                if (!offenders.Contains(method) && callees[method].Any(offenders.Contains) && offenders.Add(method))
                {
                    grew = true;
                }
            }
        }

        return offenders;
    }

    private static bool MakesAScalar(MethodBase method) =>
        (method.DeclaringType == typeof(Scalar) && method.Name == "op_Implicit")
        || (method.DeclaringType == typeof(ScalarExtensionMethods) && method.Name == nameof(ScalarExtensionMethods.ToScalar));

    private static bool DisposesAScalar(MethodBase method) => method.DeclaringType == typeof(Scalar) && method.Name == nameof(Scalar.Dispose);

    private static IEnumerable<MethodBase> MethodsOf(Assembly assembly)
    {
        Type[] types;
        try
        {
            types = assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException partial)
        {
            types = [.. partial.Types.OfType<Type>()];
        }

        return types.SelectMany(t => t.GetMethods(Declared).Cast<MethodBase>().Concat(t.GetConstructors(Declared)));
    }

    /// <summary>The methods <paramref name="method"/>'s IL calls (call, callvirt, newobj, ldftn), generic ones by their definition.</summary>
    private static IEnumerable<MethodBase> Callees(MethodBase method)
    {
        byte[]? il = method.GetMethodBody()?.GetILAsByteArray();
        if (il is null)
        {
            yield break;
        }

        Type[]? typeArguments = method.DeclaringType is { IsGenericType: true } type ? type.GetGenericArguments() : null;
        Type[]? methodArguments = method.IsGenericMethod ? method.GetGenericArguments() : null;
        int at = 0;
        while (at < il.Length)
        {
            short value = il[at] == 0xFE ? (short)(0xFE00 | il[at + 1]) : il[at];
            at += il[at] == 0xFE ? 2 : 1;
            if (!OpCodesByValue.Value.TryGetValue(value, out OpCode code))
            {
                yield break;
            }

            if (code.OperandType == OperandType.InlineMethod)
            {
                MethodBase? callee = Resolve(method.Module, BitConverter.ToInt32(il, at), typeArguments, methodArguments);
                if (callee is not null)
                {
                    yield return callee is MethodInfo { IsGenericMethod: true } generic ? generic.GetGenericMethodDefinition() : callee;
                }
            }

            at += code.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, at)),
                _ => 4,
            };
        }
    }

    private static MethodBase? Resolve(Module module, int token, Type[]? typeArguments, Type[]? methodArguments)
    {
        try
        {
            return module.ResolveMethod(token, typeArguments, methodArguments);
        }
        catch (Exception e) when (e is ArgumentException or BadImageFormatException or TypeLoadException or FileNotFoundException or MissingMethodException)
        {
            // A call into an assembly the test host does not load cannot reach TorchSharp's temporaries.
            return null;
        }
    }

    private static readonly Lazy<Dictionary<short, OpCode>> OpCodesByValue = new(() =>
        typeof(OpCodes).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Select(field => (OpCode)field.GetValue(null)!)
            .ToDictionary(code => code.Value));
}
