using ScottPlot;

namespace Audit.Api.Features.Reports;

/// <summary>Draws a report's charts with ScottPlot as PNG, using the report's own embedded fonts.</summary>
public static class ReportCharts
{
    private const int Width = 900;
    private const int Height = 420;

    public static byte[] Render(ReportChart chart)
    {
        ReportFonts.EnsureScottPlot();
        using var plot = new Plot();
        plot.Font.Set(ReportFonts.Sans);
        plot.Title(chart.Title);
        switch (chart)
        {
            case AnomalyIndexChart indices:
                DrawAnomalyIndices(plot, indices);
                break;
            case MaskNormChart masks:
                DrawMaskNorms(plot, masks);
                break;
            case HistogramChart histogram:
                DrawHistogram(plot, histogram);
                break;
            case BinnedHistogramChart binned:
                DrawBinned(plot, binned);
                break;
            case LayerAurocChart auroc:
                DrawAuroc(plot, auroc);
                break;
            case CausalTraceChart trace:
                DrawCausalTrace(plot, trace);
                break;
            default:
                throw new ArgumentException($"No renderer for chart type {chart.GetType().Name}.", nameof(chart));
        }

        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
    }

    /// <summary>
    /// The classes a chart draws as flagged, by the same rule the chart colours its bars with; empty for charts that
    /// flag no classes. Tests compare these with the finding the chart illustrates.
    /// </summary>
    public static IReadOnlyList<string> FlaggedLabels(ReportChart chart) => chart switch
    {
        AnomalyIndexChart indices => [.. indices.ClassLabels.Where((_, i) => i < indices.Indices.Count && IsFlagged(indices, i))],
        MaskNormChart masks => [.. masks.ClassLabels.Where((_, i) => i < masks.Norms.Count && masks.Norms[i] <= masks.Threshold)],
        _ => [],
    };

    /// <summary>The chart's caption: its title and, for per-class charts, the classes it flags in words.</summary>
    public static string Caption(ReportChart chart)
    {
        if (chart is CausalTraceChart trace)
        {
            return CausalTraceCaption(trace);
        }

        if (chart is not (AnomalyIndexChart or MaskNormChart))
        {
            return chart.Title;
        }

        var flagged = FlaggedLabels(chart);
        return flagged.Count == 0
            ? $"{chart.Title}. No class reaches the threshold."
            : $"{chart.Title}. Flagged (drawn in red): class {string.Join(", ", flagged)}.";
    }

    private static bool IsFlagged(AnomalyIndexChart chart, int i) => chart.Indices[i] >= chart.Threshold;

    private static void DrawAnomalyIndices(Plot plot, AnomalyIndexChart chart)
    {
        var bars = chart.Indices.Select((index, i) => new Bar
        {
            Position = i,
            Value = index,
            FillColor = IsFlagged(chart, i) ? Colors.OrangeRed : Colors.SteelBlue,
        }).ToList();
        plot.Add.Bars(bars);
        var line = plot.Add.HorizontalLine(chart.Threshold);
        line.LinePattern = LinePattern.Dashed;
        line.Color = Colors.OrangeRed;
        line.LegendText = $"flag threshold ({chart.Threshold:G4}); red bars are flagged";
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, chart.ClassLabels.Count).Select(i => (double)i)], [.. chart.ClassLabels]);
        plot.XLabel("class");
        plot.YLabel(chart.IndexLabel);
        plot.Axes.Margins(bottom: 0);
        plot.ShowLegend(Alignment.UpperRight);
    }

    private static void DrawMaskNorms(Plot plot, MaskNormChart chart)
    {
        var bars = chart.Norms.Select((norm, i) => new Bar
        {
            Position = i,
            Value = norm,
            FillColor = norm <= chart.Threshold ? Colors.OrangeRed : Colors.SteelBlue,
        }).ToList();
        plot.Add.Bars(bars);
        var line = plot.Add.HorizontalLine(chart.Threshold);
        line.LinePattern = LinePattern.Dashed;
        line.Color = Colors.OrangeRed;
        line.LegendText = $"anomaly threshold ({chart.Threshold:G4})";
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, chart.ClassLabels.Count).Select(i => (double)i)], [.. chart.ClassLabels]);
        plot.XLabel("class");
        plot.YLabel("L1 norm of recovered trigger mask");
        plot.Axes.Margins(bottom: 0);
        plot.ShowLegend(Alignment.UpperRight);
    }

    private static void DrawHistogram(Plot plot, HistogramChart chart)
    {
        var all = chart.Series.SelectMany(s => s.Values).ToArray();
        if (all.Length == 0)
        {
            plot.Add.Annotation("no values");
            return;
        }

        const int binCount = 30;
        var min = all.Min();
        var max = all.Max();
        var width = max > min ? (max - min) / binCount : 1;
        var palette = new[] { Colors.SteelBlue.WithAlpha(0.6), Colors.OrangeRed.WithAlpha(0.6), Colors.SeaGreen.WithAlpha(0.6) };
        for (var s = 0; s < chart.Series.Count; s++)
        {
            var counts = new double[binCount];
            foreach (var value in chart.Series[s].Values)
            {
                counts[Math.Clamp((int)((value - min) / width), 0, binCount - 1)]++;
            }

            var bars = plot.Add.Bars(
                [.. Enumerable.Range(0, binCount).Select(b => min + ((b + 0.5) * width))],
                counts);
            bars.LegendText = chart.Series[s].Label;
            foreach (var bar in bars.Bars)
            {
                bar.Size = width;
                bar.FillColor = palette[s % palette.Length];
                bar.LineWidth = 0;
            }
        }

        if (chart.Threshold is { } threshold)
        {
            var line = plot.Add.VerticalLine(threshold);
            line.LinePattern = LinePattern.Dashed;
            line.LegendText = $"threshold ({threshold:G4})";
        }

        plot.XLabel(chart.ValueLabel);
        plot.YLabel("count");
        plot.Axes.Margins(bottom: 0);
        plot.ShowLegend(Alignment.UpperRight);
    }

    private static void DrawBinned(Plot plot, BinnedHistogramChart chart)
    {
        var palette = new[] { Colors.SteelBlue.WithAlpha(0.6), Colors.OrangeRed.WithAlpha(0.6), Colors.SeaGreen.WithAlpha(0.6) };
        var width = 0.8 / Math.Max(1, chart.Series.Count);
        for (var s = 0; s < chart.Series.Count; s++)
        {
            var bars = plot.Add.Bars(
                [.. Enumerable.Range(0, chart.Series[s].Values.Count).Select(b => b - 0.4 + ((s + 0.5) * width))],
                [.. chart.Series[s].Values]);
            bars.LegendText = chart.Series[s].Label;
            foreach (var bar in bars.Bars)
            {
                bar.Size = width;
                bar.FillColor = palette[s % palette.Length];
                bar.LineWidth = 0;
            }
        }

        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, chart.BinLabels.Count).Select(i => (double)i)], [.. chart.BinLabels]);
        plot.XLabel(chart.ValueLabel);
        plot.YLabel("count");
        plot.Axes.Margins(bottom: 0);
        plot.ShowLegend(Alignment.UpperRight);
    }

    private static void DrawAuroc(Plot plot, LayerAurocChart chart)
    {
        var xs = Enumerable.Range(0, chart.Layers.Count).Select(i => (double)i).ToArray();
        var probe = plot.Add.Scatter(xs, chart.Auroc.ToArray());
        probe.LegendText = "probe AUROC";
        if (chart.ControlAuroc is { } control)
        {
            var controls = plot.Add.Scatter(xs, control.ToArray());
            controls.LegendText = "control labels";
            controls.LinePattern = LinePattern.Dotted;
        }

        var chance = plot.Add.HorizontalLine(0.5);
        chance.LinePattern = LinePattern.Dashed;
        chance.Color = Colors.Gray;
        chance.LegendText = "chance (0.5)";
        plot.Axes.Bottom.SetTicks(xs, [.. chart.Layers]);
        plot.Axes.SetLimitsY(0, 1.05);
        plot.XLabel("layer");
        plot.YLabel("AUROC");
        plot.ShowLegend(Alignment.LowerRight);
    }

    /// <summary>
    /// What the heat map means, in words a reader of the PDF needs without the paper: which cells were restored, what
    /// a cell's value is, where the trigger sits and the strongest cell.
    /// </summary>
    private static string CausalTraceCaption(CausalTraceChart chart)
    {
        var (value, position, rate) = Strongest(chart);
        var trigger = chart.TriggerLength > 0
            ? chart.TriggerLength == 1 ? $"position {chart.TriggerStart}" : $"positions {chart.TriggerStart}–{chart.TriggerStart + chart.TriggerLength - 1}"
            : "an unknown position";
        var strongest = value < 0 ? "" : $" Strongest: {chart.Values[value]} at position {position} ({rate:0%}).";
        return $"{chart.Title}. Causal tracing (Meng et al., NeurIPS 2022) on the {chart.Prompts} held-out prompts the found trigger flips: " +
            $"each cell restores one hidden state (row: traced value, from the input upwards) at one token position (column) " +
            $"from the clean run into the triggered run, and its colour is the share of those prompts whose clean answer returns " +
            $"(0 = none, 1 = all). The trigger sits at {trigger} (outlined). Bright cells at the trigger in early values and at " +
            $"the last position in later values show the path the trigger's effect takes to the answer.{strongest}";
    }

    private static (int Value, int Position, double Rate) Strongest(CausalTraceChart chart)
    {
        (int, int, double) best = (-1, -1, double.NegativeInfinity);
        for (var v = 0; v < chart.Restored.Count; v++)
        {
            for (var t = 0; t < chart.Restored[v].Count; t++)
            {
                if (chart.Restored[v][t] > best.Item3)
                {
                    best = (v, t, chart.Restored[v][t]);
                }
            }
        }

        return best;
    }

    /// <summary>Short tick label for a graph value name (ONNX names are paths such as <c>/blocks.0/attn/Add_output_0</c>).</summary>
    private static string ValueLabel(string name) => name.Length <= 28 ? name : "…" + name[^27..];

    private static void DrawCausalTrace(Plot plot, CausalTraceChart chart)
    {
        var rows = chart.Restored.Count;
        var columns = chart.Restored.Count == 0 ? 0 : chart.Restored.Max(r => r.Count);
        if (rows == 0 || columns == 0)
        {
            plot.Add.Annotation("no traced values");
            return;
        }

        // Row 0 of the intensities is drawn at the top: put the first traced value (closest to the input) at the bottom.
        var intensities = new double[rows, columns];
        for (var v = 0; v < rows; v++)
        {
            for (var t = 0; t < columns; t++)
            {
                intensities[rows - 1 - v, t] = t < chart.Restored[v].Count ? chart.Restored[v][t] : double.NaN;
            }
        }

        var heatmap = plot.Add.Heatmap(intensities);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        heatmap.ManualRange = new ScottPlot.Range(0, 1);
        heatmap.Position = new CoordinateRect(0, columns - 1, 0, rows - 1);
        var bar = plot.Add.ColorBar(heatmap);
        bar.Label = "share of flipped answers restored";
        if (chart.TriggerLength > 0 && chart.TriggerStart >= 0)
        {
            var outline = plot.Add.Rectangle(chart.TriggerStart - 0.5, chart.TriggerStart + chart.TriggerLength - 0.5, -0.5, rows - 0.5);
            outline.FillColor = Colors.Transparent;
            outline.LineColor = Colors.OrangeRed;
            outline.LineWidth = 3;
            outline.LegendText = "trigger positions";
            plot.ShowLegend(Alignment.UpperLeft);
        }

        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, columns).Select(t => (double)t)], [.. Enumerable.Range(0, columns).Select(t => t.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
        plot.Axes.Left.SetTicks([.. Enumerable.Range(0, rows).Select(v => (double)v)], [.. chart.Values.Select(ValueLabel)]);
        plot.Axes.SetLimits(-0.5, columns - 0.5, -0.5, rows - 0.5);
        plot.XLabel("token position");
        plot.YLabel("traced hidden-state value");
    }
}
