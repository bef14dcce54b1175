#!/usr/bin/python3
"""Draws perf/run's headline figures with matplotlib: one row per scenario
(bulk, rr, rdp, setup, hold), one panel per charted metric of it, absolute
values (medians over rounds) with every peer's bar side by side per case,
and on each bar its value divided by uvtunnel's, so the ratio and the
absolute number are read off the same picture.

report.py calls `draw(...)` with its own tables of scenarios and peers, so a
peer added there shows up here. Standalone, for a run's raw results:

    perf/chart.py --results perf/out/RUN/results.jsonl --out perf/results.svg

writes OUT and a PNG beside it (same name, .png).
"""
import argparse
import os

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.gridspec import GridSpec  # noqa: E402

# Peers report.py does not colour (a baseline build, a peer added later) get these in turn.
SPARE_COLORS = ["#6a1b9a", "#00838f", "#ad1457", "#5d4037"]
# Above this spread between the largest and smallest bar of a panel, a
# linear axis would flatten the small bars to nothing: use a log axis.
LOG_SPREAD = 30


def _peers(cells, peers):
    """report.py's peers first, then any other peer that has results (e.g. uvtunnel-before)."""
    extra = sorted({peer for _, peer in cells if peer not in peers})
    return list(peers) + extra


def _unit(metric_label):
    """The axis label: the metric as report.py names it (its unit is in the name)."""
    return metric_label


def _ratio(ratio):
    """0.36×, 2.9×, 29×, 290×: two significant digits, never an exponent."""
    if ratio >= 10:
        return f"{ratio:,.0f}×"
    return f"{ratio:.2g}×"


def _panel(ax, cells, median, scenario_cases, key, metric, higher, peers, colors):
    cases = [(case, label) for case, label in scenario_cases
             if any(cells.get((case, p)) for p in peers)]
    width = 0.8 / len(peers)
    values = []
    for i, (case, _) in enumerate(cases):
        uv_cell = cells.get((case, "uvtunnel"))
        uv = median(uv_cell, key) if uv_cell else None
        for j, peer in enumerate(peers):
            x = i + (j - (len(peers) - 1) / 2) * width
            cell = cells.get((case, peer))
            value = median(cell, key) if cell else None
            if value is None or value <= 0:
                why = "not run" if cell is None or (cell["skipped"] and not cell["results"]) else "n/a"
                # x in data, y in axes units: a log axis has no 0 to stand on.
                ax.text(x, 0.02, why, rotation=90, ha="center", va="bottom", fontsize=7, color=colors[peer],
                        transform=ax.get_xaxis_transform())
                continue
            values.append(value)
            ax.bar(x, value, width * 0.92, color=colors[peer], label=peer if i == 0 else None)
            ratio = "1×" if peer == "uvtunnel" else (_ratio(value / uv) if uv else "–")
            ax.text(x, value, ratio, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels([label.replace(", ", "\n") for _, label in cases], fontsize=8)
    ax.set_ylabel(_unit(metric), fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    if values:
        low, high = min(values), max(values)
        if high / low > LOG_SPREAD:
            ax.set_yscale("log")
            ax.set_ylim(low / 2, high * 4)  # room above for the ratio text
        else:
            ax.set_ylim(0, high * 1.3)
    ax.grid(axis="y", color="#e0e0e0", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_title(f"{metric}: {'higher ↑' if higher else 'lower ↓'} is better", fontsize=9)


def draw(cells, scenarios, peers, colors, median, path, subtitle=""):
    """Writes the chart to `path` (its suffix picks the format) and a PNG beside it."""
    peers = _peers(cells, peers)
    colors = dict(colors)
    spare = iter(SPARE_COLORS)
    for peer in peers:
        colors.setdefault(peer, next(spare, "#757575"))
    rows = []
    for name, title, cases, metrics in scenarios:
        charted = [(key, metric, higher) for key, metric, higher, in_chart in metrics if in_chart]
        if charted and any(cells.get((case, p)) for case, _ in cases for p in peers):
            rows.append((name, title, cases, charted))
    columns = max([len(charted) for *_, charted in rows] + [1])
    fig = plt.figure(figsize=(7 * columns, 3.3 * max(1, len(rows)) + 1.2))
    height = fig.get_figheight()
    grid = GridSpec(max(1, len(rows)), columns, figure=fig, hspace=0.8, wspace=0.22,
                    top=1 - 1.5 / height, bottom=0.5 / height)
    for r, (name, title, cases, charted) in enumerate(rows):
        for c, (key, metric, higher) in enumerate(charted):
            # A scenario with one charted metric spans the whole row.
            span = slice(c, c + 1) if len(charted) > 1 else slice(0, columns)
            ax = fig.add_subplot(grid[r, span])
            _panel(ax, cells, median, cases, key, metric, higher, peers, colors)
            if c == 0:
                ax.annotate(f"{name}: {title}", xy=(0, 1), xycoords="axes fraction", xytext=(0, 22),
                            textcoords="offset points", fontsize=10, fontweight="bold", ha="left")
    handles = [plt.Rectangle((0, 0), 1, 1, color=colors[p]) for p in peers]
    fig.legend(handles, peers, loc="upper right", ncol=len(peers), fontsize=9, frameon=False)
    fig.suptitle("uvtunnel and its peers, medians of perf/run's rounds; on each bar: its value ÷ uvtunnel's",
                 x=0.01, y=1 - 0.2 / height, ha="left", va="top", fontsize=11)
    if subtitle:
        fig.text(0.01, 1 - 0.55 / height, subtitle, fontsize=8, color="#555", ha="left", va="top")
    fig.savefig(path, bbox_inches="tight")
    png = os.path.splitext(path)[0] + ".png"
    if png != path:
        fig.savefig(png, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main():
    import report  # report.py beside this file: its tables and loader

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--results", required=True, help="a run's results.jsonl")
    parser.add_argument("--out", required=True, help="chart file (.svg or .png); a PNG is written beside it")
    args = parser.parse_args()
    draw(report.load(args.results), report.SCENARIOS, report.PEERS, report.COLORS, report.median, args.out)


if __name__ == "__main__":
    main()
