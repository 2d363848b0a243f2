"""tfrobust's AutoAttack against the peers' attacks: robust accuracy and wall time on the same model and images.

Cases (``--cases``, all by default):

- ``linf``: a small CNN PGD-trained on mnist5k (Madry et al. 2018: eps 0.3, 5 steps of 0.1, Adam 1e-3, 20 epochs
  after 2 clean epochs), attacked at L-inf eps 0.3 (fast AT at 0.3 on 5,000 digits gave a model PGD breaks to 2%);
- ``l2``: the same CNN PGD-trained for L2 (eps 2, 5 steps of 0.5, 10 epochs after 2 clean), attacked at L2 eps 2;
- ``temperature``: a CNN trained at temperature T = 100 and deployed at T = 1 (seed 004). FGSM of an attacker
  unaware of T makes it look robust; autoattack must bring it to <= 10% at eps 0.2, and masking_report must
  name the check that caught it.

On the robust models, in one run and on the same images:

- tfrobust ``autoattack`` (standard: APGD-CE, APGD-T, FAB-T, Square), its cumulative robust accuracy and time
  after each stage, tfrobust APGD-CE / APGD-DLR / Square alone, and tfrobust PGD-50x10 (Wong et al.'s
  evaluation: 50 steps, 10 restarts);
- IBM ART's ``AutoAttack`` (its default ensemble: APGD-CE and APGD-DLR with 5 restarts each, DeepFool, Square
  with 5 restarts of 5,000 queries) and ``AutoProjectedGradientDescent`` (CE and DLR, 100 iterations, one
  start) through ``TensorFlowV2Classifier``;
- foolbox ``LinfPGD`` / ``L2PGD`` and cleverhans ``projected_gradient_descent`` at PGD-50x10's budget (50 steps,
  10 random restarts, worst case per example).

Each row prints robust accuracy, wall time and the time ratio to tfrobust's autoattack. Every attack first runs
once on 4 images (tracing, graph building), so the times are those of a warm process. The peers come from the
``bench`` extra: ``pip install -e .[bench]``. A peer that is not installed is reported as missing.

Done when (issue 9): autoattack robust accuracy <= the lowest peer figure + 0.5 points, and autoattack's time
<= 1/3 of ART's AutoAttack on the same images.

Run: PYTHONPATH=. nice python benchmarks/autoattack_vs_peers.py [--n 200 --cases linf,l2,temperature
     --cache /tmp/tfrobust_aa_models --out results.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tf_keras as keras  # noqa: E402

from tfrobust.attacks import apgd, autoattack, fgsm, pgd, square  # noqa: E402
from tfrobust.data.mnist5k import load_mnist5k  # noqa: E402
from tfrobust.evaluation import masking_report  # noqa: E402
from tfrobust.training import PGDAdversarialModel, TemperatureModel  # noqa: E402

CASES = ("linf", "l2", "temperature")
EPS = {"linf": 0.3, "l2": 2.0, "temperature": 0.2}
NORM = {"linf": "linf", "l2": "l2", "temperature": "linf"}
PGD_STEPS, PGD_RESTARTS = 50, 10


def small_cnn(seed: int = 0) -> keras.Model:
    """The CNN of tests/conftest.py: Conv16-5/2, Conv32-5/2, Dense64, Dense10 (logits)."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1))
    h = keras.layers.Conv2D(16, 5, strides=2, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(32, 5, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(64, activation="relu")(h)
    return keras.Model(inputs, keras.layers.Dense(10)(h))


def train(case: str, x, y, cache: str) -> keras.Model:
    """The case's model, trained once and cached as a .keras file."""
    path = os.path.join(cache, f"{case}.keras")
    if os.path.exists(path):
        return keras.models.load_model(path)
    net = small_cnn()
    start = time.perf_counter()
    if case in ("linf", "l2"):  # two clean epochs first: PGD training from scratch at these eps stays at chance
        net.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        net.fit(x, y, batch_size=64, epochs=2, verbose=0)
    if case == "linf":
        wrapper = PGDAdversarialModel(net, eps=0.3, step_size=0.1, steps=5)
        epochs, lr = 20, 1e-3
    elif case == "l2":
        wrapper = PGDAdversarialModel(net, eps=2.0, step_size=0.5, steps=5, norm="l2")
        epochs, lr = 10, 1e-3
    else:
        wrapper = TemperatureModel(net, temperature=100.0)
        epochs, lr = 4, 2e-3
    wrapper.compile(keras.optimizers.Adam(lr))
    wrapper.fit(x, y, batch_size=100, epochs=epochs, verbose=0)
    print(f"  trained {case} model in {time.perf_counter() - start:.0f} s", flush=True)
    os.makedirs(cache, exist_ok=True)
    net.save(path)
    return net


def accuracy(model, x_adv, y) -> float:
    return float(np.mean(np.argmax(model.predict(np.asarray(x_adv), batch_size=500, verbose=0), axis=1) == y))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def worst_case(model, y, runs) -> float:
    """Robust accuracy over several restarts: robust only if every restart failed."""
    robust = np.ones(len(y), bool)
    for x_adv in runs:
        robust &= np.argmax(model.predict(np.asarray(x_adv), batch_size=500, verbose=0), axis=1) == y
    return float(robust.mean())


def tfrobust_rows(model, x, y, eps, norm):
    rows = []
    (x_aa, info), seconds = timed(lambda: autoattack(model, x, y, eps=eps, norm=norm, return_info=True))
    rows.append(("tfrobust autoattack (standard)", accuracy(model, x_aa, y), seconds))
    extra = info["extra"]
    for stage in extra["stages"]:
        rows.append((f"  after {stage}", extra["robust_accuracy"][stage], extra["seconds"][stage]))
    for stage, reason in extra["skipped"].items():
        rows.append((f"  {stage} skipped: {reason}", float("nan"), 0.0))
    for loss in ("ce", "dlr"):
        x_adv, seconds = timed(lambda: apgd(model, x, y, eps=eps, norm=norm, loss=loss, seed=0))
        rows.append((f"tfrobust apgd-{loss} alone (100 it.)", accuracy(model, x_adv, y), seconds))
    x_adv, seconds = timed(lambda: square(model, x, y, eps=eps, norm=norm, seed=0))
    rows.append(("tfrobust square alone (5,000 q.)", accuracy(model, x_adv, y), seconds))
    step = 0.01 if norm == "linf" else 2.5 * eps / PGD_STEPS
    x_adv, seconds = timed(lambda: pgd(model, x, y, eps=eps, norm=norm, step_size=step, steps=PGD_STEPS,
                                       restarts=PGD_RESTARTS, early_stop=True, seed=0))
    rows.append((f"tfrobust pgd-{PGD_STEPS}x{PGD_RESTARTS}", accuracy(model, x_adv, y), seconds))
    return rows


def art_rows(model, x, y, eps, norm, with_autoattack=True):
    try:
        from art.attacks.evasion import AutoAttack, AutoProjectedGradientDescent
        from art.estimators.classification import TensorFlowV2Classifier
    except ImportError as error:
        return [(f"ART missing ({error}); pip install -e .[bench]", float("nan"), float("nan"))]
    art_norm = np.inf if norm == "linf" else 2
    classifier = TensorFlowV2Classifier(model=model, nb_classes=10, input_shape=(28, 28, 1), clip_values=(0.0, 1.0),
                                        loss_object=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rows = []
    if with_autoattack:
        attack = AutoAttack(classifier, norm=art_norm, eps=eps, eps_step=2 * eps, batch_size=len(y))
        x_adv, seconds = timed(lambda: attack.generate(x, y=y))
        rows.append(("ART AutoAttack (its default ensemble)", accuracy(model, x_adv, y), seconds))
    for loss, name in (("cross_entropy", "ce"), ("difference_logits_ratio", "dlr")):
        try:
            attack = AutoProjectedGradientDescent(classifier, norm=art_norm, eps=eps, eps_step=2 * eps, max_iter=100,
                                                  nb_random_init=1, batch_size=len(y), loss_type=loss, verbose=False)
            x_adv, seconds = timed(lambda: attack.generate(x, y=y))
            rows.append((f"ART APGD-{name} (100 it.)", accuracy(model, x_adv, y), seconds))
        except Exception as error:  # report a peer's failure, do not hide the other rows
            rows.append((f"ART APGD-{name} failed: {type(error).__name__}: {error}"[:110], float("nan"), float("nan")))
    return rows


def foolbox_rows(model, x, y, eps, norm):
    try:
        import foolbox as fb
    except ImportError as error:
        return [(f"foolbox missing ({error})", float("nan"), float("nan"))]
    fmodel = fb.TensorFlowModel(model, bounds=(0.0, 1.0))
    step = 0.01 if norm == "linf" else 2.5 * eps / PGD_STEPS
    cls = fb.attacks.LinfPGD if norm == "linf" else fb.attacks.L2PGD
    attack = cls(abs_stepsize=step, steps=PGD_STEPS, random_start=True)
    xt, yt = tf.constant(x), tf.constant(y.astype(np.int64))

    def run():
        return [attack(fmodel, xt, yt, epsilons=eps)[1] for _ in range(PGD_RESTARTS)]
    runs, seconds = timed(run)
    name = "LinfPGD" if norm == "linf" else "L2PGD"
    return [(f"foolbox {name} {PGD_STEPS}x{PGD_RESTARTS}", worst_case(model, y, runs), seconds)]


def cleverhans_rows(model, x, y, eps, norm):
    try:
        from cleverhans.tf2.attacks.projected_gradient_descent import projected_gradient_descent
    except ImportError as error:
        return [(f"cleverhans missing ({error})", float("nan"), float("nan"))]
    step = 0.01 if norm == "linf" else 2.5 * eps / PGD_STEPS
    xt = tf.constant(x)

    def run():
        return [projected_gradient_descent(model, xt, eps, step, PGD_STEPS, np.inf if norm == "linf" else 2,
                                           clip_min=0.0, clip_max=1.0, rand_init=True, sanity_checks=False)
                for _ in range(PGD_RESTARTS)]
    runs, seconds = timed(run)
    return [(f"cleverhans PGD {PGD_STEPS}x{PGD_RESTARTS}", worst_case(model, y, runs), seconds)]


def warm_up(model, x, y, eps, norm):
    """Runs every attack once on 4 images so the timed runs see a warm process (traces, graphs, imports).

    ART's AutoAttack is left out: it is eager (nothing to trace), and on 4 robust images its 5 x 5,000 Square
    queries alone take minutes; its APGD runs warm up ART's classifier."""
    xs, ys = x[:4], y[:4]
    for rows in (tfrobust_rows, art_rows, foolbox_rows, cleverhans_rows):
        try:
            if rows is art_rows:
                rows(model, xs, ys, eps, norm, with_autoattack=False)
            else:
                rows(model, xs, ys, eps, norm)
        except Exception as error:  # the timed run reports it
            print(f"  warm-up of {rows.__name__} failed: {type(error).__name__}: {error}", flush=True)


def print_table(title, rows, reference_seconds):
    print(f"\n{title}")
    print(f"| {'attack':<46} | robust acc | wall s | time / tfrobust AA |")
    print(f"|{'-' * 48}|-----------:|-------:|-------------------:|")
    for name, acc, seconds in rows:
        ratio = seconds / reference_seconds if np.isfinite(seconds) and reference_seconds else float("nan")
        print(f"| {name:<46} | {acc:10.3f} | {seconds:6.1f} | {ratio:18.2f} |")
    sys.stdout.flush()


def robust_case(case, model, x, y):
    eps, norm = EPS[case], NORM[case]
    warm_up(model, x, y, eps, norm)
    rows = tfrobust_rows(model, x, y, eps, norm)
    peers = art_rows(model, x, y, eps, norm) + foolbox_rows(model, x, y, eps, norm) + \
        cleverhans_rows(model, x, y, eps, norm)
    aa_acc, aa_seconds = rows[0][1], rows[0][2]
    print_table(f"{case}: eps={eps:g} ({norm}), {len(y)} mnist5k test digits, clean accuracy "
                f"{accuracy(model, x, y):.3f}", rows + peers, aa_seconds)
    peer_accs = [acc for name, acc, _ in peers if np.isfinite(acc)]
    art_aa = [s for name, _, s in peers if name.startswith("ART AutoAttack") and np.isfinite(s)]
    verdict = {"autoattack_accuracy": aa_acc, "lowest_peer_accuracy": min(peer_accs) if peer_accs else None,
               "accuracy_ok": bool(peer_accs) and aa_acc <= min(peer_accs) + 0.005,
               "autoattack_seconds": aa_seconds, "art_autoattack_seconds": art_aa[0] if art_aa else None,
               "time_ok": bool(art_aa) and aa_seconds <= art_aa[0] / 3}
    print(f"done-when: accuracy <= lowest peer + 0.005: {verdict['accuracy_ok']} "
          f"({aa_acc:.3f} vs {verdict['lowest_peer_accuracy']}); time <= ART AA / 3: {verdict['time_ok']} "
          f"({aa_seconds:.1f} s vs {verdict['art_autoattack_seconds']})", flush=True)
    return {"rows": rows + peers, "verdict": verdict}


def temperature_case(model, x, y):
    eps = EPS["temperature"]
    clean = accuracy(model, x, y)
    acc_fgsm = accuracy(model, fgsm(model, x, y, eps=eps), y)
    (x_aa, info), seconds = timed(lambda: autoattack(model, x, y, eps=eps, return_info=True))
    acc_aa = accuracy(model, x_aa, y)
    report = masking_report(model, x, y, eps=eps, steps=20)
    print(f"\ntemperature T=100 deployed at T=1, eps={eps:g}, {len(y)} digits: clean {clean:.3f}, FGSM (unaware "
          f"of T) {acc_fgsm:.3f}, autoattack {acc_aa:.3f} in {seconds:.1f} s "
          f"(after each stage: {info['extra']['robust_accuracy']})")
    print(f"done-when: autoattack <= 0.10: {acc_aa <= 0.10}; masking checks fired: {report.fired}")
    for finding in report.findings:
        print(f"  {finding}")
    sys.stdout.flush()
    return {"clean": clean, "fgsm": acc_fgsm, "autoattack": acc_aa, "seconds": seconds,
            "stages": info["extra"]["robust_accuracy"], "fired": report.fired}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="test digits attacked (20 per class)")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {CASES}")
    parser.add_argument("--cache", default="/tmp/tfrobust_aa_models", help="where trained models are kept")
    parser.add_argument("--out", default=None, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown or args.n < 10:
        parser.error(f"unknown case(s) {unknown}; choose from {CASES}" if unknown else "--n must be >= 10")
    x_train, y_train = load_mnist5k("train")
    x_test, y_test = load_mnist5k("test")
    per_class = max(args.n // 10, 1)
    idx = np.concatenate([np.flatnonzero(y_test == c)[:per_class] for c in range(10)])
    x, y = x_test[idx].astype(np.float32), y_test[idx].astype(np.int64)
    results = {}
    for case in cases:
        model = train(case, x_train, y_train, args.cache)
        results[case] = temperature_case(model, x, y) if case == "temperature" else robust_case(case, model, x, y)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2, default=float)


if __name__ == "__main__":
    main()
