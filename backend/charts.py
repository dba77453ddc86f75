"""Charts drawn by the server as inline SVG geometry: no script, nothing fetched."""


def sparkline_points(values, width=120, height=28, pad=2):
    """The polyline points of a sparkline for values (oldest first)."""
    top = max(values) or 1
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    return " ".join(f"{pad + i * step:.1f},{height - pad - (v / top) * (height - 2 * pad):.1f}" for i, v in enumerate(values))


def weekly_chart(weeks, title="Reports per week, last 12 weeks", marks=None, width=560, height=200, left=40, bottom=28,
                 top=12, right=12):
    """Bars, axis ticks and labels for [(week start, value)], for templates/admin/_chart.html;
    marks: {week's index: [what happened that week]}, drawn over those bars."""
    marks = marks or {}
    peak = max((count for _, count in weeks), default=0) or 1
    plot_w, plot_h = width - left - right, height - top - bottom
    slot = plot_w / len(weeks)
    bars = []
    for i, (start, count) in enumerate(weeks):
        bar_h = plot_h * count / peak
        bars.append({"x": left + i * slot + slot * 0.15, "y": top + plot_h - bar_h, "w": slot * 0.7, "h": bar_h,
                     "count": count, "label": start.strftime("%d %b"), "label_x": left + i * slot + slot / 2,
                     "show_label": i % (2 if len(weeks) <= 12 else 4) == 0 or i == len(weeks) - 1,
                     "marks": marks.get(i, [])})
    ticks = [{"y": top + plot_h - plot_h * f, "value": round(peak * f, 1 if peak < 10 else None)} for f in (0, 0.5, 1)]
    return {"title": title, "title_id": "chart-" + "".join(c for c in title.lower() if c.isalnum()), "width": width, "height": height, "left": left, "top": top, "plot_w": plot_w, "plot_h": plot_h,
            "bars": bars, "ticks": ticks, "axis_y": top + plot_h}
