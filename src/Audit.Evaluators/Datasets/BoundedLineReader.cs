using System.Text;

namespace Audit.Evaluators.Datasets;

/// <summary>
/// Reads lines from a <see cref="TextReader"/> without ever holding more than <see cref="MaxLineChars"/> characters
/// of one line: a JSON Lines file that is one 20 MB line is refused once the limit is passed, instead of being
/// read whole into a string (and parsed into a document many times its size). Lines end at \n, \r or \r\n.
/// </summary>
public sealed class BoundedLineReader : TextReader
{
    /// <summary>Default per-line limit: 4 Mi characters, well above the largest record sequence limits allow.</summary>
    public const int DefaultMaxLineChars = 4 * 1024 * 1024;

    private readonly TextReader _inner;
    private readonly StringBuilder _line = new();
    private int _lineNumber;

    /// <summary>Wraps <paramref name="inner"/>, which this reader disposes.</summary>
    public BoundedLineReader(TextReader inner, int maxLineChars = DefaultMaxLineChars)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLineChars, 1);
        _inner = inner;
        MaxLineChars = maxLineChars;
    }

    /// <summary>The longest accepted line, in characters.</summary>
    public int MaxLineChars { get; }

    /// <inheritdoc/>
    /// <exception cref="EvidenceRejectedException">The line is longer than <see cref="MaxLineChars"/>.</exception>
    public override string? ReadLine()
    {
        _line.Clear();
        _lineNumber++;
        int c;
        while ((c = _inner.Read()) >= 0)
        {
            if (c == '\n')
            {
                return _line.ToString();
            }

            if (c == '\r')
            {
                if (_inner.Peek() == '\n')
                {
                    _inner.Read();
                }

                return _line.ToString();
            }

            if (_line.Length >= MaxLineChars)
            {
                throw new EvidenceRejectedException(_lineNumber, "", $"the line is longer than {MaxLineChars} characters.");
            }

            _line.Append((char)c);
        }

        return _line.Length > 0 ? _line.ToString() : null;
    }

    /// <inheritdoc/>
    public override int Read() => _inner.Read();

    /// <inheritdoc/>
    public override int Peek() => _inner.Peek();

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _inner.Dispose();
        }

        base.Dispose(disposing);
    }
}
