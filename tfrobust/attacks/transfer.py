"""Black-box transfer attacks through a substitute trained from label queries (Papernot et al. 2017).

Papernot, McDaniel, Goodfellow, Jha, Celik & Swami (2017), "Practical black-box attacks against machine
learning", AsiaCCS. The attacker sees only the target's *labels* O(x). Algorithm 1 of the paper:

    S_0 = a small initial set (150 test digits in the paper)
    for rho = 0 .. rounds - 1:
        label S_rho with the oracle: D = {(x, O(x)) : x in S_rho}
        train the substitute F on D (from scratch)
        S_{rho+1} = S_rho  U  { clip(x + lambda_rho * sign(J_F(x)[O(x)])) : x in S_rho }

J_F(x)[O(x)] is the gradient of the substitute's logit of the oracle's label (the paper's Jacobian row);
stepping along its sign moves new points towards the substitute's decision boundaries, where the oracle's
labels teach the most (Jacobian-based dataset augmentation). lambda = 0.1; with ``tau`` set, the
periodic step size lambda_rho = lambda * (-1)^floor(rho / tau) of the paper's Sec. 5 is used. The paper's
MNIST run (rho = 6 rounds, 150 initial points, 6,400 label queries) gives an 81% accurate substitute whose
FGSM examples at eps = 0.3 are misclassified by the target 84.24% of the time.

Adversarial examples are then crafted white-box on the substitute (any registered attack: FGSM, MI-FGSM,
PGD's last iterate ``transfer_pgd``, ...) and given to the target: ``transfer_attack``.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Dict, List, Optional

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.attacks._inputs import check_seed
from tfrobust.logits import as_logits_model
from tfrobust.validation import check_bounds, check_images, check_positive

PAPER_LAMBDA = 0.1
PAPER_ROUNDS = 6


class LabelOracle:
    """The target as the attacker sees it: images in, predicted labels out, queries counted.

    Args:
        model: the target, any callable images -> logits or probabilities.
        batch_size: examples per query batch.
        bounds: (low, high) pixel range the queried images must lie in.

    Attributes:
        queries: number of images labelled so far.
    """

    def __init__(self, model: Callable, batch_size: int = 256, bounds=(0.0, 1.0)):
        self._model = model
        self._bounds = check_bounds(bounds)
        self._logits_model = None
        self._batch_size = int(check_positive(batch_size, "batch_size", integer=True))
        self.queries = 0

    def __call__(self, x) -> np.ndarray:
        x = check_images(x, self._bounds)
        if self._logits_model is None:
            self._logits_model = as_logits_model(self._model, x[:1])
        labels = [np.argmax(np.asarray(self._logits_model(x[start:start + self._batch_size])), axis=-1)
                  for start in range(0, int(x.shape[0]), self._batch_size)]
        self.queries += int(x.shape[0])
        return np.concatenate(labels).astype(np.int64)


@dataclasses.dataclass
class Substitute:
    """A substitute trained by Jacobian-based dataset augmentation.

    Attributes:
        model: the trained substitute (logits).
        queries: label queries spent on the oracle.
        dataset_sizes: |S_rho| per round (the size it was trained on).
        accuracy: per round, the substitute's accuracy on ``eval_data`` (empty without it).
        agreement: per round, the share of ``eval_data`` images where substitute and oracle agree.
    """

    model: keras.Model
    queries: int
    dataset_sizes: List[int]
    accuracy: List[float]
    agreement: List[float]


def jacobian_augment(substitute, x, labels, *, step, bounds=(0.0, 1.0)) -> np.ndarray:
    """The new points x + step * sign(d F_label(x) / dx), clipped to ``bounds`` (the paper's Eq. 4).

    Args:
        substitute: callable images -> logits.
        x: images (batch, ...).
        labels: the oracle labels of x (whose logit's gradient is followed).
        step: lambda_rho (may be negative: the periodic step size).
        bounds: (low, high) pixel range.

    Returns:
        float32 numpy images like x.
    """
    lo, hi = check_bounds(bounds)
    logits_model = as_logits_model(substitute, tf.constant(x[:1]))
    out = []
    for start in range(0, len(x), 512):
        xb = tf.constant(x[start:start + 512])
        with tf.GradientTape() as tape:
            tape.watch(xb)
            logits = logits_model(xb)
            picked = tf.gather(logits, tf.constant(labels[start:start + 512], tf.int32), axis=1, batch_dims=1)
        grad = tape.gradient(picked, xb)
        out.append(tf.clip_by_value(xb + step * tf.sign(grad), lo, hi).numpy())
    return np.concatenate(out)


def train_substitute(oracle: Callable, x_initial, *, build: Callable[[], keras.Model], rounds: int = PAPER_ROUNDS,
                     step: float = PAPER_LAMBDA, tau: Optional[int] = None, epochs: int = 10, batch_size: int = 64,
                     learning_rate: float = 1e-3, bounds=(0.0, 1.0), eval_data=None, seed: Optional[int] = 0,
                     verbose: int = 0) -> Substitute:
    """Trains a substitute from label queries only (Papernot et al. 2017, Algorithm 1).

    Args:
        oracle: images -> labels (a ``LabelOracle`` counts queries; any callable returning labels works).
        x_initial: the attacker's initial images S_0 (the paper: 150 test digits, none of the target's
            training data).
        build: returns a fresh, uncompiled substitute ``keras.Model`` (images -> logits) per round.
        rounds: substitute training epochs rho of the paper (6), integer > 0; the last round trains
            without augmenting afterwards, so S grows to ``2 ** (rounds - 1)`` times S_0.
        step: lambda, the augmentation step (0.1).
        tau: if given, flip the sign of lambda every ``tau`` rounds (the paper's periodic step size).
        epochs: training epochs per round (the paper trains each round for 10 epochs).
        batch_size: training batch size.
        learning_rate: Adam learning rate.
        bounds: (low, high) pixel range of the images.
        eval_data: optional (x, y) to report the substitute's accuracy and its agreement with the oracle
            per round (uses extra oracle calls that are not counted as the attacker's queries).
        seed: seed for the substitute's initial weights and the shuffling.
        verbose: Keras fit verbosity.

    Returns:
        ``Substitute`` with the trained model, the queries spent and per-round statistics.

    Raises:
        TypeError, ValueError: bad images, rounds, step, tau, epochs or seed.
    """
    lo, hi = check_bounds(bounds)
    x = check_images(x_initial, (lo, hi)).numpy()
    rounds = int(check_positive(rounds, "rounds", integer=True))
    step = float(check_positive(step, "step"))
    epochs = int(check_positive(epochs, "epochs", integer=True))
    if tau is not None:
        tau = int(check_positive(tau, "tau", integer=True))
    seed = check_seed(seed)
    queries_before = getattr(oracle, "queries", 0)
    labels = np.asarray(oracle(x))
    sizes, accuracy, agreement = [], [], []
    model = None
    for rho in range(rounds):
        if seed is not None:
            keras.utils.set_random_seed(seed + rho)
        model = build()
        model.compile(keras.optimizers.Adam(learning_rate),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, labels, batch_size=batch_size, epochs=epochs, shuffle=True, verbose=verbose)
        sizes.append(len(x))
        if eval_data is not None:
            x_eval, y_eval = eval_data
            predicted = np.argmax(np.asarray(model.predict(x_eval, batch_size=512, verbose=0)), axis=1)
            accuracy.append(float(np.mean(predicted == np.asarray(y_eval))))
            queries = getattr(oracle, "queries", None)
            agreement.append(float(np.mean(predicted == np.asarray(oracle(x_eval)))))
            if queries is not None:
                oracle.queries = queries  # evaluation is not the attacker's budget
        if rho == rounds - 1:
            break
        lam = step if tau is None else step * (-1) ** (rho // tau)
        x_new = jacobian_augment(model, x, labels, step=lam, bounds=(lo, hi))
        x = np.concatenate([x, x_new])
        labels = np.concatenate([labels, np.asarray(oracle(x_new))])
    queries = getattr(oracle, "queries", queries_before + len(x)) - queries_before
    return Substitute(model=model, queries=int(queries), dataset_sizes=sizes, accuracy=accuracy,
                      agreement=agreement)


def transfer_pgd(eps: float, *, steps: int = 20, seed: Optional[int] = 0, norm: str = "linf"):
    """PGD (Madry et al. 2018) as a transfer attack: random start, step 2.5 eps / steps, the *last* iterate.

    x*_0 = x + U(-eps, eps);  x*_{t+1} = clip(x + P_eps(x*_t + 2.5 eps / T * sign(grad J(x*_t, y)) - x)), t < T.

    ``tfrobust.attacks.pgd`` returns, per example, the first iterate that fools the model it attacks: right for
    a white-box robust accuracy, but such an example sits just across the *source's* boundary and rarely fools
    another model. The last iterate climbs the source's loss for all T steps. It is MI-FGSM with decay 0 and a
    random start (``tfrobust.attacks.mifgsm``), returned as an ``Attack`` spec.

    Args:
        eps: the radius the attack will be run at (fixes the step size).
        steps: T, integer > 0.
        seed: seed of the random start.
        norm: "linf" or "l2".

    Returns:
        ``Attack("mifgsm", decay=0.0, random_start=True, steps=steps, step_size=2.5 * eps / steps, ...)``.
    """
    from tfrobust.attacks.spec import Attack  # the spec imports every attack's module; import late

    steps = int(check_positive(steps, "steps", integer=True))
    return Attack("mifgsm", decay=0.0, random_start=True, steps=steps,
                  step_size=2.5 * float(check_positive(eps, "eps")) / steps, seed=seed, norm=norm)


def transfer_attack(target, source, x, y, *, attack="pgd", eps, bounds=(0.0, 1.0), **attack_kwargs) -> Dict:
    """Crafts adversarial examples white-box on ``source`` and measures them on ``target``.

    Args:
        target: the attacked model (only its predictions are used).
        source: the model the attack sees (a substitute, or another zoo model for a transfer matrix).
        x, y: images and true labels.
        attack: a registered attack name, spec string or ``tfrobust.attacks.Attack``.
        eps: perturbation size.
        bounds: pixel range.
        **attack_kwargs: extra keyword arguments for the attack call.

    Returns:
        dict with "x_adv", "target_clean_accuracy", "target_adversarial_accuracy", "source_adversarial_accuracy"
        and "transfer_rate" (of the examples the target classified correctly, the share the transferred
        examples now fool).
    """
    from tfrobust.attacks.spec import as_attack  # the spec imports every attack's module; import late

    spec = as_attack(attack)
    x_adv = spec(source, x, y, eps=eps, bounds=bounds, **attack_kwargs)
    y = np.asarray(y).reshape(-1)

    def predict(model, images):
        return np.argmax(np.asarray(as_logits_model(model, tf.constant(images[:1]))(tf.constant(images))), axis=1)

    clean = predict(target, np.asarray(x, np.float32)) == y
    adversarial = predict(target, np.asarray(x_adv)) == y
    source_adv = predict(source, np.asarray(x_adv)) == y
    return {"x_adv": x_adv, "target_clean_accuracy": float(clean.mean()),
            "target_adversarial_accuracy": float(adversarial.mean()),
            "source_adversarial_accuracy": float(source_adv.mean()),
            "transfer_rate": float(np.mean(~adversarial[clean])) if clean.any() else float("nan")}
