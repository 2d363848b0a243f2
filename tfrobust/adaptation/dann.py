"""Domain-adversarial neural network (DANN): unsupervised domain adaptation by backpropagation.

Ganin & Lempitsky (2015, "Unsupervised domain adaptation by backpropagation", ICML). A feature extractor
G_f(x; θ_f), a label predictor G_y(·; θ_y) and a domain classifier G_d(·; θ_d) are trained at the saddle point of

    E(θ_f, θ_y, θ_d) = Σ_{i ∈ source} L_y(G_y(G_f(x_i)), y_i)  −  λ Σ_{i ∈ source ∪ target} L_d(G_d(G_f(x_i)), d_i)

(θ_f, θ_y minimise E, θ_d maximises it). The gradient reversal layer (``tfrobust.layers.GradientReversal``)
between G_f and G_d turns this into one minimisation of ``L_y + L_d``: it is the identity forward and multiplies
the gradient by −λ backward, so θ_d descends L_d while θ_f descends L_y − λ L_d (features that confuse the
domain classifier).

``DANN.train_step`` takes a paired batch ``((x_source, y_source), x_target)``: labels are used only on the source
half; the domain labels are 0 (source) and 1 (target). The domain loss is the paper's: a mean over the source
batch plus a mean over the target batch (Ganin et al. 2016, JMLR, eq. 18:

    E = (1/n) Σ_source L_y − λ ((1/n) Σ_source L_d + (1/n') Σ_target L_d);

the ICML version's sums, over the n source labels against all N = n + n' domain labels, weigh it the same for
equal halves), i.e. twice the mean over the concatenated batch (``domain_loss="pooled"``, which halves the
adversarial signal, is kept for comparison).
The paper's schedules over training progress p ∈ [0, 1]:

    λ_p = 2 / (1 + exp(−10 p)) − 1            (``GradientReversalSchedule`` with ``ganin_lambda``)
    μ_p = μ_0 / (1 + 10 p)^0.75               (``AnnealedLearningRate``, μ_0 = 0.01, SGD momentum 0.9)

both set per optimiser step by ``dann_callbacks`` / the optimiser's learning-rate schedule.

``DANN.classifier`` (G_y ∘ G_f) is the deployable model: images -> logits, for evaluation and attacks.
"""
from __future__ import annotations

import contextlib
from typing import Sequence, Tuple

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfrobust.layers.gradient_reversal import GradientReversal, GradientReversalSchedule, ganin_lambda
from tfrobust.validation import check_choice, check_positive

#: ``DANN(domain_loss=)``: the paper's sum of per-domain means, or the mean over the concatenated batch.
DOMAIN_LOSSES = ("per_domain", "pooled")
#: ``DANN(batch_statistics=)``: G_f run once per domain (batch normalisation by each domain's own batch) or once
#: over the concatenated source + target batch (one set of statistics, as the moving averages used at inference).
BATCH_STATISTICS = ("per_domain", "joint")


@keras.utils.register_keras_serializable(package="tfrobust")
class AnnealedLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """Ganin & Lempitsky's annealing μ_p = μ_0 / (1 + α p)^β with p = step / total_steps (clipped to 1).

    Args:
        initial: μ_0 (0.01 in the paper).
        total_steps: optimiser steps of the whole training (p = 1 at the end).
        alpha, beta: 10 and 0.75 in the paper.

    Raises:
        ValueError: a non-positive rate or step count.
    """

    def __init__(self, initial: float, total_steps: int, alpha: float = 10.0, beta: float = 0.75):
        self.initial = float(check_positive(initial, "initial learning rate"))
        self.total_steps = int(check_positive(total_steps, "total_steps", integer=True))
        self.alpha, self.beta = float(alpha), float(beta)

    def __call__(self, step):
        p = tf.minimum(tf.cast(step, tf.float32) / float(self.total_steps), 1.0)
        return self.initial / tf.pow(1.0 + self.alpha * p, self.beta)

    def get_config(self):
        return {"initial": self.initial, "total_steps": self.total_steps, "alpha": self.alpha, "beta": self.beta}


def ganin_features(input_shape: Sequence[int], pixel_mean=None, batch_norm: bool = False,
                   name: str = "features") -> keras.Model:
    """Ganin & Lempitsky's MNIST feature extractor: conv 32 5x5 - pool - conv 48 5x5 - pool - flatten (768).

    Args:
        input_shape: (height, width, channels).
        pixel_mean: per-pixel mean image (H, W, C) subtracted first (the paper's preprocessing; computed on the
            source and the unlabelled target training images together), or None.
        batch_norm: batch normalisation after each convolution (not in the paper). ``DANN.train_step`` passes
            each domain's batch separately, so in training each domain is normalised by its own statistics;
            the moving averages used at inference mix both domains.
        name: model name.
    """
    inputs = keras.Input(tuple(input_shape))
    h = inputs
    if pixel_mean is not None:
        mean = np.asarray(pixel_mean, np.float32).reshape(tuple(input_shape))
        h = keras.layers.Normalization(axis=(1, 2, 3), mean=mean, variance=np.ones_like(mean),
                                       name="pixel_mean")(h)
    for i, filters in enumerate((32, 48), start=1):
        h = keras.layers.Conv2D(filters, 5, name=f"conv{i}")(h)
        if batch_norm:
            h = keras.layers.BatchNormalization(name=f"bn{i}")(h)
        h = keras.layers.MaxPooling2D(2, name=f"pool{i}")(keras.layers.ReLU(name=f"relu{i}")(h))
    return keras.Model(inputs, keras.layers.Flatten(name="flatten")(h), name=name)


def label_head(feature_dim: int, num_classes: int = 10, name: str = "label_predictor") -> keras.Model:
    """The paper's label predictor: FC 100 - FC 100 - FC classes (logits)."""
    inputs = keras.Input((feature_dim,))
    h = keras.layers.Dense(100, activation="relu", name="fc1")(inputs)
    h = keras.layers.Dense(100, activation="relu", name="fc2")(h)
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="logits")(h), name=name)


def domain_head(feature_dim: int, name: str = "domain_classifier") -> keras.Model:
    """The paper's MNIST domain classifier: FC 100 - FC 1 (logit of "target")."""
    inputs = keras.Input((feature_dim,))
    h = keras.layers.Dense(100, activation="relu", name="fc1")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, name="domain_logit")(h), name=name)


def classifier_from(features: keras.Model, labels: keras.Model, name: str = "classifier") -> keras.Model:
    """G_y ∘ G_f as one functional images -> logits model (shares the weights)."""
    inputs = keras.Input(features.input_shape[1:])
    return keras.Model(inputs, labels(features(inputs)), name=name)


class DANN(keras.Model):
    """Domain-adversarial training (Ganin & Lempitsky 2015) over paired source/target batches.

    Args:
        features: G_f, images -> feature vectors.
        label_predictor: G_y, features -> class logits.
        domain_classifier: G_d, features -> one logit (target vs source).
        lam: initial λ of the gradient reversal layer (the schedule callback raises it from 0 to 1).
        domain_loss: "per_domain" (the paper's (1/n) Σ_source L_d + (1/n') Σ_target L_d) or "pooled" (the mean over
            the concatenated batch: half the paper's weight for equal halves).
        batch_statistics: "per_domain" (G_f runs on each domain's batch separately, so batch normalisation
            normalises each by its own statistics) or "joint" (one pass over the concatenated batch: the statistics
            of both domains together, which is what the moving averages used at inference estimate). Without
            batch normalisation in G_f the two are the same.

    Attributes:
        classifier: the deployable G_y ∘ G_f (images -> logits).
        reversal: the ``GradientReversal`` layer between G_f and G_d.

    ``fit`` takes a dataset of ``((x_source, y_source), x_target)``; ``evaluate`` a dataset of labelled
    ``(x, y)`` batches (label metrics only). Metrics: ``loss`` (L_y + L_d), ``label_loss``, ``domain_loss``,
    ``accuracy`` (source labels), ``domain_accuracy`` (source and target batch), ``lambda``.
    """

    def __init__(self, features: keras.Model, label_predictor: keras.Model, domain_classifier: keras.Model, *,
                 lam: float = 0.0, domain_loss: str = "per_domain", batch_statistics: str = "per_domain",
                 **kwargs):
        super().__init__(**kwargs)
        self.domain_loss_kind = check_choice(domain_loss, DOMAIN_LOSSES, "domain_loss")
        self.batch_statistics = check_choice(batch_statistics, BATCH_STATISTICS, "batch_statistics")
        self.features = features
        self.label_predictor = label_predictor
        self.domain_classifier = domain_classifier
        self.reversal = GradientReversal(lam, name="gradient_reversal")
        self.classifier = classifier_from(features, label_predictor)
        self._label_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self._domain_loss = keras.losses.BinaryCrossentropy(from_logits=True)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.label_loss_tracker = keras.metrics.Mean(name="label_loss")
        self.domain_loss_tracker = keras.metrics.Mean(name="domain_loss")
        self.label_accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.domain_accuracy = keras.metrics.BinaryAccuracy(name="domain_accuracy", threshold=0.0)

    @property
    def metrics(self):
        return [self.loss_tracker, self.label_loss_tracker, self.domain_loss_tracker, self.label_accuracy,
                self.domain_accuracy]

    def call(self, x, training=False):
        return self.classifier(x, training=training)

    def domain_logits(self, x, training=False):
        """G_d(G_f(x)): the logit that x comes from the target domain."""
        return self.domain_classifier(self.reversal(self.features(x, training=training)), training=training)

    def train_step(self, data):
        (x_source, y_source), x_target = data
        n_source, n_target = tf.shape(x_source)[0], tf.shape(x_target)[0]
        domains = tf.concat([tf.zeros([n_source, 1]), tf.ones([n_target, 1])], axis=0)
        with tf.GradientTape() as tape:
            if self.batch_statistics == "per_domain":
                # One pass per domain: with batch normalisation in G_f each domain is normalised by its own batch
                # statistics (without it this equals one pass over the concatenated batch).
                source_feats = self.features(x_source, training=True)
                feats = tf.concat([source_feats, self.features(x_target, training=True)], axis=0)
            else:
                feats = self.features(tf.concat([x_source, x_target], axis=0), training=True)
                source_feats = feats[:n_source]
            logits = self.label_predictor(source_feats, training=True)
            d_logits = self.domain_classifier(self.reversal(feats), training=True)
            label_loss = self._label_loss(y_source, logits)
            if self.domain_loss_kind == "per_domain":
                domain_loss = (self._domain_loss(domains[:n_source], d_logits[:n_source])
                               + self._domain_loss(domains[n_source:], d_logits[n_source:]))
            else:
                domain_loss = self._domain_loss(domains, d_logits)
            loss = label_loss + domain_loss  # the reversal layer turns + L_d into - λ L_d for θ_f
        variables = (self.features.trainable_variables + self.label_predictor.trainable_variables
                     + self.domain_classifier.trainable_variables)
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        self.loss_tracker.update_state(loss)
        self.label_loss_tracker.update_state(label_loss)
        self.domain_loss_tracker.update_state(domain_loss)
        self.label_accuracy.update_state(y_source, logits)
        self.domain_accuracy.update_state(domains, d_logits)
        return {**{m.name: m.result() for m in self.metrics}, "lambda": tf.convert_to_tensor(self.reversal.lam)}

    def test_step(self, data):
        x, y = data[0], data[1]
        logits = self.classifier(x, training=False)
        self.label_loss_tracker.update_state(self._label_loss(y, logits))
        self.label_accuracy.update_state(y, logits)
        return {"label_loss": self.label_loss_tracker.result(), "accuracy": self.label_accuracy.result()}


def dann_callbacks(total_steps: int) -> list:
    """The paper's λ schedule, λ_p = 2/(1+exp(−10 p)) − 1 with p = step / total_steps, set every step."""
    total_steps = int(check_positive(total_steps, "total_steps", integer=True))
    return [GradientReversalSchedule(lambda step: ganin_lambda(min(step / total_steps, 1.0)), per="batch")]


def paired_dataset(x_source, y_source, x_target, *, batch_size: int, seed: int = 0) -> tf.data.Dataset:
    """Endless shuffled ``((x_source, y_source), x_target)`` batches, ``batch_size`` of each domain.

    Raises:
        ValueError: fewer examples in a domain than one batch.
    """
    batch_size = int(check_positive(batch_size, "batch_size", integer=True))
    if len(x_source) < batch_size or len(x_target) < batch_size:
        raise ValueError(f"Each domain needs at least batch_size={batch_size} examples; got {len(x_source)} source "
                         f"and {len(x_target)} target examples. Lower batch_size.")
    source = tf.data.Dataset.from_tensor_slices((np.asarray(x_source, np.float32), np.asarray(y_source)))
    target = tf.data.Dataset.from_tensor_slices(np.asarray(x_target, np.float32))
    source = source.shuffle(len(x_source), seed=seed).repeat().batch(batch_size, drop_remainder=True)
    target = target.shuffle(len(x_target), seed=seed + 1).repeat().batch(batch_size, drop_remainder=True)
    return tf.data.Dataset.zip((source, target)).prefetch(2)


def domain_accuracy(model: DANN, x_source, x_target, batch_size: int = 512) -> float:
    """Balanced accuracy of the trained domain classifier on held-out source (label 0) and target (label 1) images.

    The mean of the two domains' accuracies (chance 0.5 whatever the two counts), in inference mode (batch
    normalisation's moving statistics), with the model's current weights.

    Raises:
        ValueError: an empty domain.
    """
    if min(len(x_source), len(x_target)) == 0:
        raise ValueError(f"domain_accuracy needs images of both domains; got {len(x_source)} source and "
                         f"{len(x_target)} target images.")
    rates = []
    for x, label in ((x_source, 0), (x_target, 1)):
        hits = 0
        for i in range(0, len(x), batch_size):
            logits = model.domain_logits(tf.convert_to_tensor(x[i:i + batch_size], tf.float32)).numpy()[:, 0]
            hits += int(np.sum((logits > 0) == bool(label)))
        rates.append(hits / len(x))
    return float(np.mean(rates))


@contextlib.contextmanager
def averaged_weights(model: keras.Model):
    """Temporarily sets ``model``'s trainable variables to its optimiser's moving averages (``use_ema=True``).

    Inside the block the model computes with the averaged weights that ``fit`` deploys at the end
    (tf_keras' ``finalize_variable_values``); the raw iterates are restored on exit. Without EMA (or before the
    optimiser is built) the block changes nothing. Batch normalisation's moving statistics are not averaged
    weights and stay as they are.
    """
    optimizer = getattr(model, "optimizer", None)
    averages = getattr(optimizer, "_model_variables_moving_average", None) if optimizer is not None else None
    if not getattr(optimizer, "use_ema", False) or not averages:
        yield False
        return
    variables = [v for v in model.trainable_variables if optimizer._var_key(v) in optimizer._index_dict]
    raw = [v.numpy() for v in variables]
    for v in variables:
        v.assign(averages[optimizer._index_dict[optimizer._var_key(v)]])
    try:
        yield True
    finally:
        for v, value in zip(variables, raw):
            v.assign(value)


class HeldOutDomainAccuracy(keras.callbacks.Callback):
    """Records the domain classifier's balanced accuracy on held-out images after each epoch.

    ``raw``: with the current iterates; ``averaged``: with the optimiser's moving averages of the weights
    (the weights ``fit`` deploys at the end when the optimiser has ``use_ema=True``; else equal to ``raw``).

    Args:
        x_source, x_target: held-out images of the two domains.
        every: evaluate every this many epochs (and after the last).
    """

    def __init__(self, x_source, x_target, every: int = 1):
        super().__init__()
        self.x_source, self.x_target = x_source, x_target
        self.every = int(check_positive(every, "every", integer=True))
        self.epochs, self.raw, self.averaged = [], [], []

    def on_epoch_end(self, epoch, logs=None):
        last = epoch + 1 == self.params.get("epochs", epoch + 1)
        if (epoch + 1) % self.every and not last:
            return
        self.epochs.append(epoch + 1)
        self.raw.append(domain_accuracy(self.model, self.x_source, self.x_target))
        with averaged_weights(self.model) as swapped:
            self.averaged.append(domain_accuracy(self.model, self.x_source, self.x_target) if swapped
                                 else self.raw[-1])


def extract_features(features: keras.Model, x, batch_size: int = 512) -> np.ndarray:
    """G_f(x) as a numpy array, in batches."""
    return np.concatenate([features(tf.convert_to_tensor(x[i:i + batch_size], tf.float32)).numpy()
                           for i in range(0, len(x), batch_size)])


def pca_2d(*arrays: np.ndarray) -> Tuple[np.ndarray, ...]:
    """Projects several feature arrays onto the 2 principal axes of their union (numpy SVD)."""
    joined = np.concatenate(arrays)
    centred = joined - joined.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ vt[:2].T
    out, start = [], 0
    for a in arrays:
        out.append(projected[start:start + len(a)])
        start += len(a)
    return tuple(out)


def domain_probe_accuracy(source_features, target_features, seed: int = 0) -> float:
    """Held-out accuracy of a fresh linear domain classifier on fixed features (a proxy of their domain gap).

    A logistic regression (scikit-learn, standardised features) is fitted on half of the source and target
    feature vectors and tested on the other half: 0.5 when the domains' features are indistinguishable to a
    linear probe, 1 when they are separable. Unlike the trained DANN's own domain classifier, which G_f was
    trained to fool, the probe is fitted after training, on the deployed features (Ben-David et al. 2010's
    proxy A-distance is 2 (1 − 2 err) of such a classifier; Ganin et al. 2016 report it for DANN).

    Raises:
        ValueError: fewer than 4 vectors in a domain.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    fs, ft = np.asarray(source_features, np.float64), np.asarray(target_features, np.float64)
    if min(len(fs), len(ft)) < 4:
        raise ValueError(f"The probe needs at least 4 feature vectors per domain; got {len(fs)} and {len(ft)}.")
    x = np.concatenate([fs.reshape(len(fs), -1), ft.reshape(len(ft), -1)])
    d = np.concatenate([np.zeros(len(fs)), np.ones(len(ft))])
    order = np.random.default_rng(seed).permutation(len(x))
    train, test = order[: len(x) // 2], order[len(x) // 2:]
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=500))
    probe.fit(x[train], d[train])
    return float(probe.score(x[test], d[test]))
