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
            case MaskNormChart masks:
                DrawMaskNorms(plot, masks);
                break;
            case HistogramChart histogram:
                DrawHistogram(plot, histogram);
                break;
            case LayerAurocChart auroc:
                DrawAuroc(plot, auroc);
                break;
            default:
                throw new ArgumentException($"No renderer for chart type {chart.GetType().Name}.", nameof(chart));
        }

        return plot.GetImageBytes(Width, Height, ImageFormat.Png);
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
