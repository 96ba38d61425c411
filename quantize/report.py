"""Quantization report: what quantization did to weights, neuron state and spikes.

Per projection: weight SMAPE between the float weights and the dequantized integers
(``W_int * 2**weight_exp * 64 / S``), the share of weights clipped, the low bits the
Loihi grid drops (``8 - num_weight_bits + 1 if mixed``) and the mean rounding error in
LSBs. Per population: u wraps and v saturations (steps x neurons where they happened),
neurons that never fire or fire at every step, and spike agreement with the float model
(F1 of matching spikes at the exact step). Task accuracy of the float model and of the
integer network. Counts refer to the evaluation data (0-based steps, one step per hop).
"""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table

from neurodeploy import fixed_point as fp
from neurodeploy.network import FixedPointNetwork
from neurodeploy.network_io import atomic_output
from neurodeploy.quantize.ptq import FloatLayer, QuantizationInfo, spike_f1
from neurodeploy.traces import Traces


def smape(a: np.ndarray, b: np.ndarray) -> float:
    """Symmetric mean absolute percentage error over entries where either is nonzero."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    denom = (np.abs(a) + np.abs(b)) / 2
    keep = denom > 0
    return float(np.mean(np.abs(a - b)[keep] / denom[keep])) if keep.any() else 0.0


def projection_report(net: FixedPointNetwork, layers: list[FloatLayer],
                      info: QuantizationInfo) -> list[dict]:
    rows = []
    for layer in layers:
        pairs = [(layer.src, layer.weight)]
        if layer.rec_weight is not None:
            pairs.append((layer.name, layer.rec_weight))
        for src, w_f in pairs:
            proj = next(p for p in net.projections if p.src == src and p.dst == layer.name)
            lsb = 64.0 * 2.0**proj.weight_exp / info.scales[layer.name]
            where = f"projection '{src}->{layer.name}'"
            clipped = info.clipped.get(f"{where}.weights", 0)
            rows.append({
                "projection": f"{src}->{layer.name}", "weight_exp": proj.weight_exp,
                "sign_mode": proj.sign_mode,
                "weight_smape": smape(w_f, proj.weights * lsb),
                "clipped_share": clipped / proj.weights.size,
                "grid_dropped_bits": fp.dropped_weight_bits(proj.sign_mode,
                                                            proj.num_weight_bits),
                "mean_rounding_error_lsb": float(np.mean(np.abs(w_f / lsb - proj.weights))),
            })
    return rows


def population_report(traces: Traces, float_spikes: dict[str, np.ndarray],
                      spiking: dict[str, bool]) -> list[dict]:
    rows = []
    for name, s in traces.spikes.items():
        u, v = traces.u[name], traces.v[name]
        wraps = int((np.abs(np.diff(u, axis=1)) > fp.STATE_HALF).sum())
        saturations = int((np.abs(v) == fp.V_MAX).sum())
        counts = s.sum(axis=(0, 1))
        total_steps = s.shape[0] * s.shape[1]
        rows.append({
            "population": name, "spiking": spiking[name], "u_wraps": wraps,
            "v_saturations": saturations,
            "never_fire": int((counts == 0).sum()) if spiking[name] else None,
            "fire_every_step": int((counts == total_steps).sum()) if spiking[name] else None,
            "spike_f1_vs_float": (spike_f1(float_spikes[name], s) if spiking[name] else None),
        })
    return rows


def render_report(report: dict, console: Console) -> None:
    """Rich tables of the report (projections, populations, accuracy)."""
    t = Table(title="projections")
    for col in ("projection", "weight_exp", "SMAPE", "clipped", "grid bits dropped",
                "rounding error (LSB)"):
        t.add_column(col, justify="right")
    for r in report["projections"]:
        t.add_row(r["projection"], str(r["weight_exp"]), f"{r['weight_smape']:.2%}",
                  f"{r['clipped_share']:.2%}", str(r["grid_dropped_bits"]),
                  f"{r['mean_rounding_error_lsb']:.3f}")
    console.print(t)
    t = Table(title="populations (evaluation data)")
    for col in ("population", "u wraps", "v saturations", "never fire", "fire every step",
                "spike F1 vs float"):
        t.add_column(col, justify="right")
    for r in report["populations"]:
        f1 = "-" if r["spike_f1_vs_float"] is None else f"{r['spike_f1_vs_float']:.3f}"
        t.add_row(r["population"], str(r["u_wraps"]), str(r["v_saturations"]),
                  str(r["never_fire"] if r["never_fire"] is not None else "-"),
                  str(r["fire_every_step"] if r["fire_every_step"] is not None else "-"), f1)
    console.print(t)
    console.print(f"task accuracy: float {report['accuracy_float']:.1%}, fixed point "
                  f"{report['accuracy_fixed_point']:.1%} "
                  f"({report['accuracy_fixed_point'] - report['accuracy_float']:+.1%})")


def plot_report(report: dict, path: str) -> None:
    """A PNG: weight SMAPE per projection and spike F1 per population."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_w, ax_s) = plt.subplots(1, 2, figsize=(9, 3.5))
    projs = report["projections"]
    ax_w.bar([p["projection"] for p in projs], [100 * p["weight_smape"] for p in projs])
    ax_w.set_ylabel("weight SMAPE (%)")
    ax_w.tick_params(axis="x", rotation=30)
    pops = [p for p in report["populations"] if p["spike_f1_vs_float"] is not None]
    ax_s.bar([p["population"] for p in pops], [p["spike_f1_vs_float"] for p in pops])
    ax_s.set_ylim(0, 1)
    ax_s.set_ylabel("spike F1 vs float (exact step)")
    fig.suptitle(f"accuracy: float {report['accuracy_float']:.1%}, fixed point "
                 f"{report['accuracy_fixed_point']:.1%}")
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
