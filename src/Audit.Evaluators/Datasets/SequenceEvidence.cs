using System.Text.Json;

namespace Audit.Evaluators.Datasets;

/// <summary>What the model accepts, against which evidence is checked before any probe runs.</summary>
/// <param name="VocabularySize">Token ids must lie in <c>[0, VocabularySize)</c>.</param>
/// <param name="MaxLength">Longest sequence the model accepts; longer ones are rejected, never clipped.</param>
/// <param name="MaxRecords">Upper bound on records, so a huge upload cannot exhaust memory.</param>
public sealed record SequenceLimits(int VocabularySize, int MaxLength, int MaxRecords = 200_000);

/// <summary>Two prompts that differ only by a candidate cue (role <c>pair</c>) or by a neutral edit (role <c>control</c>).</summary>
public sealed record PromptPair(long[] Base, long[] Cued, string? Cue, int Line);

/// <summary>A statement with its truth (or honesty) label: true = true/honest, false = false/deceptive.</summary>
public sealed record LabelledStatement(long[] Tokens, bool Label, int Line);

/// <summary>
/// A contrast pair for CCS: the same proposition asserted (<see cref="Positive"/>) and negated (<see cref="Negative"/>).
/// <see cref="AffirmativeToken"/>/<see cref="NegativeToken"/> are the answer tokens whose probabilities give the
/// model's stated answer on the positive prompt; <see cref="Label"/> is optional and only used to report accuracy.
/// </summary>
public sealed record ContrastPair(long[] Positive, long[] Negative, long? AffirmativeToken, long? NegativeToken, bool? Label, int Line);

/// <summary>An unlabelled evaluation prompt (role <c>prompt</c>), e.g. the model's own answers written as statements.</summary>
public sealed record EvaluationPrompt(long[] Tokens, int Line);

/// <summary>
/// A sequence-evidence artifact: JSON Lines, one record per line, with token-id arrays and a role:
/// <c>{"role":"pair","base":[..],"cued":[..],"cue":"deployment tag"}</c>,
/// <c>{"role":"control","base":[..],"cued":[..]}</c>,
/// <c>{"role":"statement","tokens":[..],"label":true}</c>,
/// <c>{"role":"contrast","positive":[..],"negative":[..],"answers":[yesId,noId],"label":true}</c>,
/// <c>{"role":"prompt","tokens":[..]}</c>.
/// </summary>
public sealed record SequenceEvidence(
    IReadOnlyList<PromptPair> Pairs,
    IReadOnlyList<PromptPair> Controls,
    IReadOnlyList<LabelledStatement> Statements,
    IReadOnlyList<ContrastPair> Contrasts,
    IReadOnlyList<EvaluationPrompt> Prompts)
{
    /// <summary>Reads and validates a file. Throws <see cref="EvidenceRejectedException"/> on the first bad record.</summary>
    public static SequenceEvidence Read(string path, SequenceLimits limits, CancellationToken cancellationToken)
    {
        if (!File.Exists(path))
        {
            throw new EvidenceRejectedException($"The audit has no sequence evidence file ('{Path.GetFileName(path)}' not found).");
        }

        // Line by line with a per-line bound: one enormous line is refused before it is held whole.
        using var reader = new BoundedLineReader(new StreamReader(path));
        return Parse(reader, limits, cancellationToken);
    }

    /// <summary>Parses and validates JSON Lines from <paramref name="reader"/>.</summary>
    public static SequenceEvidence Parse(TextReader reader, SequenceLimits limits, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(limits);
        var pairs = new List<PromptPair>();
        var controls = new List<PromptPair>();
        var statements = new List<LabelledStatement>();
        var contrasts = new List<ContrastPair>();
        var prompts = new List<EvaluationPrompt>();
        int line = 0, records = 0;
        while (reader.ReadLine() is { } text)
        {
            line++;
            cancellationToken.ThrowIfCancellationRequested();
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            if (++records > limits.MaxRecords)
            {
                throw new EvidenceRejectedException(line, "", $"more than {limits.MaxRecords} records.");
            }

            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(text, new JsonDocumentOptions { MaxDepth = 8 });
            }
            catch (JsonException ex)
            {
                throw new EvidenceRejectedException(line, "", $"not valid JSON ({ex.Message}).");
            }

            using (document)
            {
                JsonElement root = document.RootElement;
                if (root.ValueKind != JsonValueKind.Object)
                {
                    throw new EvidenceRejectedException(line, "", "each line must be a JSON object.");
                }

                string role = root.TryGetProperty("role", out JsonElement r) && r.ValueKind == JsonValueKind.String ? r.GetString()! : "";
                switch (role)
                {
                    case "pair":
                        pairs.Add(new PromptPair(Tokens(root, "base", line, limits), Tokens(root, "cued", line, limits), OptionalString(root, "cue", line), line));
                        break;
                    case "control":
                        controls.Add(new PromptPair(Tokens(root, "base", line, limits), Tokens(root, "cued", line, limits), OptionalString(root, "cue", line), line));
                        break;
                    case "statement":
                        statements.Add(new LabelledStatement(Tokens(root, "tokens", line, limits), Label(root, line) ?? throw new EvidenceRejectedException(line, "label", "a statement needs a boolean label."), line));
                        break;
                    case "contrast":
                        (long? yes, long? no) = Answers(root, line, limits);
                        contrasts.Add(new ContrastPair(Tokens(root, "positive", line, limits), Tokens(root, "negative", line, limits), yes, no, Label(root, line), line));
                        break;
                    case "prompt":
                        prompts.Add(new EvaluationPrompt(Tokens(root, "tokens", line, limits), line));
                        break;
                    default:
                        throw new EvidenceRejectedException(line, "role", $"unknown role '{role}' (expected pair, control, statement, contrast or prompt).");
                }
            }
        }

        return new SequenceEvidence(pairs, controls, statements, contrasts, prompts);
    }

    private static long[] Tokens(JsonElement root, string field, int line, SequenceLimits limits)
    {
        if (!root.TryGetProperty(field, out JsonElement array) || array.ValueKind != JsonValueKind.Array)
        {
            throw new EvidenceRejectedException(line, field, "expected an array of token ids.");
        }

        int length = array.GetArrayLength();
        if (length == 0)
        {
            throw new EvidenceRejectedException(line, field, "the sequence is empty.");
        }

        if (length > limits.MaxLength)
        {
            throw new EvidenceRejectedException(line, field, $"sequence of {length} tokens is longer than the model accepts ({limits.MaxLength}); it is rejected, not clipped.");
        }

        var tokens = new long[length];
        int i = 0;
        foreach (JsonElement item in array.EnumerateArray())
        {
            tokens[i++] = TokenId(item, field, line, limits);
        }

        return tokens;
    }

    private static long TokenId(JsonElement item, string field, int line, SequenceLimits limits)
    {
        if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out long id))
        {
            throw new EvidenceRejectedException(line, field, $"token '{item.GetRawText()}' is not an integer id.");
        }

        if (id < 0 || id >= limits.VocabularySize)
        {
            throw new EvidenceRejectedException(line, field, $"token id {id} is outside the model's vocabulary [0, {limits.VocabularySize}).");
        }

        return id;
    }

    private static bool? Label(JsonElement root, int line)
    {
        if (!root.TryGetProperty("label", out JsonElement label) || label.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return label.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new EvidenceRejectedException(line, "label", "expected true or false."),
        };
    }

    private static string? OptionalString(JsonElement root, string field, int line)
    {
        if (!root.TryGetProperty(field, out JsonElement value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String ? value.GetString() : throw new EvidenceRejectedException(line, field, "expected a string.");
    }

    private static (long? Yes, long? No) Answers(JsonElement root, int line, SequenceLimits limits)
    {
        if (!root.TryGetProperty("answers", out JsonElement answers) || answers.ValueKind == JsonValueKind.Null)
        {
            return (null, null);
        }

        if (answers.ValueKind != JsonValueKind.Array || answers.GetArrayLength() != 2)
        {
            throw new EvidenceRejectedException(line, "answers", "expected [affirmativeTokenId, negativeTokenId].");
        }

        return (TokenId(answers[0], "answers", line, limits), TokenId(answers[1], "answers", line, limits));
    }
}
