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
}
