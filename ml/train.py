"""Trains the fan-health models that `example-modules/fan-health` runs with tract.

Run it with `cargo xtask train` (which makes `ml/.venv` from `requirements.txt`), or
`ml/.venv/bin/python ml/train.py`. Everything is seeded: on one machine a rerun
writes the same bytes; on another (other BLAS, other CPU) the same metrics.

The data is a simulated fleet of industrial fans run to failure:

- Each fan has a lifetime (Weibull, median about 5,000 h), its own baseline
  vibration, bearing temperature (ambient plus load) and static pressure.
- Wear: bearing damage grows exponentially in the last hours of life
  (damage = exp(-RUL / tau), tau 55-85 h per fan). Vibration rises toward the
  ISO 10816 "danger" zone (about 11 mm/s), the bearing heats up by up to 30 °C and
  the static pressure drops a little; slow ageing adds to the vibration with hours
  of use.
- Fault modes, injected in 8% of the readings and unrelated to wear: blade
  imbalance (vibration up), lubrication loss (temperature up), a clogged inlet
  filter (pressure down), a stuck outlet damper (pressure up).
- Label `abnormal`: RUL < 48 h or a fault. The RUL target is capped at 250 h (the
  usual piecewise-linear target: far from failure the signals say nothing about
  how far), so a prediction near 250 means "250 h or more".

Outputs, in `ml/models/`:

- `fan_abnormal.onnx`: an MLPClassifier; output `probabilities` [N, 2], column 1
  is P(abnormal). The classifier sees all readings.
- `fan_rul.onnx`: an MLPRegressor; output `variable` [N, 1], the RUL in hours.
  It is trained on readings without an injected fault (a fault says nothing
  about wear).
- `golden.json`: held-out inputs with sklearn's outputs, the held-out metrics,
  and the training feature distribution for a drift monitor (PSI bins).
- `reference.json`: only the PSI bins (edges and training shares per feature),
  the small file that `example-modules/drift-monitor` embeds.

Both models take `X` [N, 4], float32, features in the order of FEATURES. tract 0.23.9 has no ONNX-ML `Scaler`, so the standardisation is folded
into the first layer of each network before export (see `fold_scaler`): the
exported model is a plain MatMul/Add/Relu network on raw features.
"""

import copy
import json
import pathlib
import sys

import numpy as np
import onnx
import sklearn
import skl2onnx
from skl2onnx import to_onnx
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

SEED = 20240601
FEATURES = ["temperature", "vibration", "pressure", "hours"]
UNITS = {"temperature": "°C", "vibration": "mm/s RMS", "pressure": "kPa", "hours": "h"}
FLEET = 400  # fans simulated
TEST_FANS = 0.2  # share of fans held out (split by fan: no fan is in both sets)
ABNORMAL_RUL_HOURS = 48.0
RUL_CAP_HOURS = 250.0
FAULT_RATE = 0.08
GOLDEN_CASES = 500
PSI_BINS = 10
# tract 0.23.9 reads these; ai.onnx.ml must stay <= 3 (its TreeEnsemble ops). The
# only ML operator here is ArrayFeatureExtractor, in the classifier's label path.
TARGET_OPSET = {"": 13, "ai.onnx.ml": 1}

MODELS = pathlib.Path(__file__).resolve().parent / "models"


def simulate(rng):
    """Returns (X float32 [n, 4], rul_hours, fault_code, fan_id)."""
    rows, ruls, faults, fans = [], [], [], []
    for fan in range(FLEET):
        life = 5600.0 * rng.weibull(2.5) + 300.0
        vib0 = rng.normal(1.8, 0.3)  # mm/s, a healthy fan (ISO 10816 zone A/B)
        temp0 = rng.normal(24.0, 3.0) + rng.normal(14.0, 1.5)  # ambient + load
        pres0 = rng.normal(1.20, 0.05)  # kPa static pressure
        tau = rng.uniform(55.0, 85.0)  # h, how fast the bearing damage grows
        ageing = rng.uniform(0.5e-4, 1.5e-4)  # mm/s per hour of use
        # Readings over the whole life, and more near the end, where the
        # decisions are.
        rul = np.concatenate([rng.uniform(0.0, life, 40), rng.uniform(0.0, min(life, 300.0), 40)])
        hours = life - rul
        damage = np.exp(-rul / tau)
        vib = vib0 + ageing * hours + 9.0 * damage + rng.normal(0.0, 0.15, rul.size)
        temp = temp0 + 30.0 * damage ** 1.5 + rng.normal(0.0, 0.8, rul.size)
        pres = pres0 - 0.12 * damage + rng.normal(0.0, 0.02, rul.size)
        fault = np.where(rng.random(rul.size) < FAULT_RATE, rng.integers(1, 5, rul.size), 0)
        vib = vib + np.where(fault == 1, rng.uniform(3.0, 6.0, rul.size), 0.0)
        temp = temp + np.where(fault == 2, rng.uniform(15.0, 30.0, rul.size), 0.0)
        pres = pres - np.where(fault == 3, rng.uniform(0.3, 0.5, rul.size), 0.0)
        pres = pres + np.where(fault == 4, rng.uniform(0.3, 0.5, rul.size), 0.0)
        rows.append(np.column_stack([temp, np.maximum(vib, 0.05), pres, hours]))
        ruls.append(rul)
        faults.append(fault)
        fans.append(np.full(rul.size, fan))
    x = np.concatenate(rows).astype(np.float32)
    return x, np.concatenate(ruls), np.concatenate(faults), np.concatenate(fans)


def fold_scaler(pipeline):
    """The pipeline's MLP with its StandardScaler folded into the first layer."""
    scaler, mlp = pipeline.named_steps["scale"], pipeline.named_steps["mlp"]
    folded = copy.deepcopy(mlp)
    w = mlp.coefs_[0] / scaler.scale_[:, None]
    folded.coefs_[0] = w
    folded.intercepts_[0] = mlp.intercepts_[0] - scaler.mean_ @ w
    return folded


def export(model, path):
    onx = to_onnx(
        model,
        np.zeros((1, len(FEATURES)), dtype=np.float32),
        options={id(model): {"zipmap": False}} if hasattr(model, "classes_") else None,
        target_opset=TARGET_OPSET,
    )
    for opset in onx.opset_import:
        if opset.domain == "ai.onnx.ml" and opset.version > 3:
            sys.exit(f"{path.name}: ai.onnx.ml opset {opset.version} > 3, which tract does not read")
    onx.producer_version = skl2onnx.__version__
    path.write_bytes(onx.SerializeToString(deterministic=True))
    onnx.checker.check_model(str(path))
    return path.stat().st_size


def psi_reference(x):
    """Per feature: quantile bin edges and the training share in each bin."""
    out = {}
    for i, name in enumerate(FEATURES):
        col = x[:, i].astype(np.float64)
        inner = np.quantile(col, np.linspace(0.0, 1.0, PSI_BINS + 1)[1:-1])
        counts = np.bincount(np.searchsorted(inner, col, side="right"), minlength=PSI_BINS)
        out[name] = {
            "unit": UNITS[name],
            "bin_edges": [float(col.min()), *map(float, inner), float(col.max())],
            "proportions": [float(c) for c in counts / col.size],
            "mean": float(col.mean()),
            "std": float(col.std()),
        }
    return out


def drift_reference_file(reference):
    """The part of the drift reference a monitor needs: bin edges and shares."""
    return {
        "about": "PSI reference bins of the training features; written by ml/train.py.",
        "seed": SEED,
        "features": FEATURES,
        "bins": PSI_BINS,
        "reference": {
            name: {"bin_edges": reference[name]["bin_edges"],
                   "proportions": reference[name]["proportions"]}
            for name in FEATURES
        },
    }


def main():
    rng = np.random.default_rng(SEED)
    x, rul, fault, fan = simulate(rng)
    abnormal = ((rul < ABNORMAL_RUL_HOURS) | (fault > 0)).astype(np.int64)
    target = np.minimum(rul, RUL_CAP_HOURS)
    test_fans = rng.permutation(FLEET)[: int(FLEET * TEST_FANS)]
    test = np.isin(fan, test_fans)
    train = ~test

    clf_pipe = Pipeline([
        ("scale", StandardScaler()),
        ("mlp", MLPClassifier(hidden_layer_sizes=(24, 12), alpha=1e-4, max_iter=600,
                              early_stopping=True, n_iter_no_change=20, random_state=SEED)),
    ]).fit(x[train], abnormal[train])
    healthy = train & (fault == 0)
    reg_pipe = Pipeline([
        ("scale", StandardScaler()),
        ("mlp", MLPRegressor(hidden_layer_sizes=(32, 16), alpha=1e-4, max_iter=800,
                             early_stopping=True, n_iter_no_change=20, random_state=SEED)),
    ]).fit(x[healthy], target[healthy])
    clf, reg = fold_scaler(clf_pipe), fold_scaler(reg_pipe)

    # The folded models are the ones exported: they must agree with the pipelines.
    x_test = x[test]
    p_test = clf.predict_proba(x_test)[:, 1]
    r_test = reg.predict(x_test)
    # The networks were fitted on float32 data, so sklearn computes in float32:
    # folding moves the rounding, by about 1e-7 relative.
    fold_p = np.abs(p_test - clf_pipe.predict_proba(x_test)[:, 1]).max()
    fold_r = np.abs(r_test - reg_pipe.predict(x_test)).max()
    if fold_p > 1e-4 or fold_r > 1e-3:
        sys.exit(f"folding the scaler changed the predictions by {fold_p} (P) / {fold_r} h (RUL)")

    sizes = {
        "fan_abnormal.onnx": export(clf, MODELS / "fan_abnormal.onnx"),
        "fan_rul.onnx": export(reg, MODELS / "fan_rul.onnx"),
    }

    no_fault = fault[test] == 0
    metrics = {
        "test_fans": int(test_fans.size),
        "test_samples": int(test.sum()),
        "test_abnormal_share": float(abnormal[test].mean()),
        "classifier_threshold": 0.5,
        "classifier_f1": float(f1_score(abnormal[test], p_test > 0.5)),
        "classifier_accuracy": float(accuracy_score(abnormal[test], p_test > 0.5)),
        "rul_samples": int(no_fault.sum()),
        "rul_mae_hours": float(mean_absolute_error(target[test][no_fault], r_test[no_fault])),
        "rul_mae_hours_below_100h": float(mean_absolute_error(
            target[test][no_fault & (rul[test] < 100)], r_test[no_fault & (rul[test] < 100)])),
    }

    pick = np.sort(rng.choice(int(test.sum()), GOLDEN_CASES, replace=False))
    fault_names = ["none", "imbalance", "lubrication", "clogged-inlet", "stuck-damper"]
    cases = []
    for i in pick:
        case = {name: float(x_test[i, j]) for j, name in enumerate(FEATURES)}
        case.update({
            "abnormal": bool(abnormal[test][i]),
            "fault": fault_names[int(fault[test][i])],
            "rul_true_hours": float(target[test][i]),
            "abnormal_probability": float(p_test[i]),
            "rul_hours": float(r_test[i]),
        })
        cases.append(case)

    drift = psi_reference(x[train])
    golden = {
        "about": "Held-out fan readings with scikit-learn's outputs; written by ml/train.py.",
        "versions": {"scikit-learn": sklearn.__version__, "skl2onnx": skl2onnx.__version__,
                     "numpy": np.__version__, "onnx": onnx.__version__},
        "seed": SEED,
        "features": FEATURES,
        "labels": {"abnormal_when_rul_below_hours": ABNORMAL_RUL_HOURS,
                   "rul_cap_hours": RUL_CAP_HOURS, "fault_rate": FAULT_RATE},
        "model_bytes": sizes,
        "metrics": metrics,
        "drift_reference": drift,
        "cases": cases,
    }
    (MODELS / "golden.json").write_text(json.dumps(golden, indent=1) + "\n")
    (MODELS / "reference.json").write_text(json.dumps(drift_reference_file(drift), indent=1) + "\n")
    print(json.dumps({"model_bytes": sizes, "metrics": metrics}, indent=1))


if __name__ == "__main__":
    main()
