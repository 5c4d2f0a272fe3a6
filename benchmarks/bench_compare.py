# SPDX-License-Identifier: MIT
"""The regression guard of benchmarks/run: a saved run (a baseline file) against a new
one, ratio by ratio. A ratio is localsock's figure over its baseline's from the same
run, so machine speed cancels out; a row is flagged when its ratio is more than the
tolerance (5%) worse than the saved one, in the direction the figure counts
(latency and memory: lower is better; throughput: higher is better).

Pure functions, so that benchmarks/test_compare.py checks them on canned data, no timing.
"""
import json

TOLERANCE = 0.05
FORMAT = 1


def row_key(row):
    """The identity of a row: the same measurement in two runs."""
    return (row["scenario"], row["size"], row["clients"], row["impl"], row["baseline"])


def row_name(row):
    # idle-conns moves no data: its size means nothing.
    name = row["scenario"] if row["scenario"] == "idle-conns" else f"{row['scenario']} {row['size']} B"
    if row["clients"] > 1:
        name += f" ×{row['clients']}"
    if row["impl"] != "localsock":
        name += f" ({row['impl']})"
    return name


def make_document(rows, platform, reps, pinned=True):
    """The baseline file's content: the run's rows and how they were made."""
    return {"format": FORMAT, "platform": platform, "reps": reps, "pinned": pinned, "tolerance": TOLERANCE,
            "rows": rows}


def load(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("rows"), list):
        raise ValueError(f"{path}: not a benchmarks/run baseline (format {FORMAT})")
    return doc


def change(saved, new, lower_better):
    """How much worse `new` is than `saved`, as a fraction (negative: better)."""
    return (new - saved) / saved if lower_better else (saved - new) / saved


def compare(saved_rows, new_rows, tolerance=TOLERANCE):
    """One verdict per saved row: (row name, figure, saved ratio, new ratio, worse by, flag).
    flag is "ok", "WORSE" (more than `tolerance` worse), or "MISSING" (the new run has no
    ratio for it: the row was not run, or a run failed)."""
    new_by_key = {row_key(r): r for r in new_rows}
    verdicts = []
    for s in saved_rows:
        n = new_by_key.get(row_key(s))
        if n is None or n.get("ratio") is None or s.get("ratio") is None:
            verdicts.append((row_name(s), s["figure"], s.get("ratio"), None if n is None else n.get("ratio"),
                             None, "MISSING"))
            continue
        worse = change(s["ratio"], n["ratio"], s["lower_better"])
        verdicts.append((row_name(s), s["figure"], s["ratio"], n["ratio"], worse,
                         "WORSE" if worse > tolerance else "ok"))
    return verdicts


def table(verdicts, tolerance=TOLERANCE):
    """A markdown table of the verdicts, and a closing line."""
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
    lines = ["| scenario | figure | saved ratio | new ratio | worse by | verdict |", "|---|---|---|---|---|---|"]
    for name, figure, saved, new, worse, flag in verdicts:
        lines.append(f"| {name} | {figure} | {fmt(saved)} | {fmt(new)} | "
                     f"{'n/a' if worse is None else f'{worse * 100:+.1f}%'} | {flag} |")
    flagged = sum(1 for v in verdicts if v[5] != "ok")
    lines.append("")
    lines.append(f"compare: {flagged} of {len(verdicts)} ratios more than {tolerance * 100:.0f}% worse or missing"
                 if flagged else f"compare: all {len(verdicts)} ratios within {tolerance * 100:.0f}% of the saved run")
    return "\n".join(lines), flagged
