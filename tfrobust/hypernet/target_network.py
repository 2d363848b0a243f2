"""The target network of a weight generator: a flat weight vector θ evaluated as a Keras model.

Seed 000 (Ballarin 2020, "Modelli generativi di modelli neurali artificiali robusti") generates the
full weight vector θ of a LeNet-5 and then needs the network's accuracy and robustness *as a function
of θ*. Copying θ into layer variables ("weight loading") cuts the gradient, which is why the seed adds
a value network. ``TargetNetwork`` instead evaluates the model's forward pass functionally,

    logits = f(θ, x),

with θ = concat(vec(W_1), vec(b_1), vec(W_2), ...) in the order of ``model.trainable_weights``, so
that θ produced by a generator can be evaluated (and differentiated) without touching any variable,
and a whole batch of P weight vectors can be evaluated at once (grouped convolutions: P networks
become one convolution with P groups).

Supported models are chains (each layer feeds the next) whose weighted layers are ``Conv2D`` and
``Dense``; every other layer must be weight-free (normalisation, pooling, activations, dropout,
flatten) and is applied as-is to the P·N examples, so its constants live in one place only (the
layer's own config). ``TargetNetwork.from_model`` checks the functional forward against the Keras
model on a random batch and refuses a model it would not reproduce.
"""
from __future__ import annotations

import dataclasses
from typing import List, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tf_keras as keras

_WEIGHTED = (keras.layers.Conv2D, keras.layers.Dense)


def flatten_from(model: keras.Model) -> tf.Tensor:
    """Flat weight vector θ of ``model``: its trainable weights, each flattened, concatenated.

    Args:
        model: a built Keras model.

    Returns:
        float32 tensor of shape (number of trainable parameters,).

    Raises:
        ValueError: the model has no trainable weights (not built yet?).
    """
    weights = model.trainable_weights
    if not weights:
        raise ValueError(f"Model {model.name!r} has no trainable weights; build it (call it once) first.")
    return tf.concat([tf.reshape(tf.cast(w, tf.float32), [-1]) for w in weights], axis=0)


def load_into(model: keras.Model, theta) -> None:
    """Assigns the flat weight vector ``theta`` to ``model.trainable_weights`` (inverse of ``flatten_from``).

    Args:
        model: a built Keras model.
        theta: vector of shape (number of trainable parameters,).

    Raises:
        ValueError: ``theta`` is not a vector of the model's parameter count, or holds NaN/inf.
    """
    weights = model.trainable_weights
    theta = tf.convert_to_tensor(theta, dtype=tf.float32)
    size = sum(int(np.prod(w.shape)) for w in weights)
    if theta.shape.rank != 1 or theta.shape[0] != size:
        raise ValueError(
            f"theta must be a vector of {size} values (the trainable parameters of {model.name!r}), "
            f"got shape {theta.shape}."
        )
    if not bool(tf.reduce_all(tf.math.is_finite(theta))):
        raise ValueError("theta contains NaN or infinite values; refusing to load it into the model.")
    offset = 0
    for w in weights:
        n = int(np.prod(w.shape))
        w.assign(tf.cast(tf.reshape(theta[offset:offset + n], w.shape), w.dtype))
        offset += n


@dataclasses.dataclass(frozen=True)
class _Step:
    """One layer of the chain: a weighted layer (θ slices ``params``) or a weight-free layer."""

    layer: keras.layers.Layer
    params: Tuple[int, ...]  # indices into TargetNetwork.shapes: (kernel,) or (kernel, bias); () if weight-free


def _chain_layers(model: keras.Model) -> List[keras.layers.Layer]:
    if len(model.inputs or []) != 1 or len(model.outputs or []) != 1:
        raise ValueError(
            f"TargetNetwork needs a built single-input, single-output model; {model.name!r} has "
            f"{len(model.inputs or [])} inputs and {len(model.outputs or [])} outputs."
        )
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    previous = model.inputs[0]
    for layer in layers:
        try:
            inputs = layer.input
        except AttributeError:  # a layer called more than once
            inputs = None
        if inputs is not previous:
            raise ValueError(
                f"Layer {layer.name!r} of {model.name!r} does not take exactly the previous layer's output; "
                f"TargetNetwork supports plain chains (Sequential-like models) only, without branches or shared layers."
            )
        previous = layer.output
    if previous is not model.outputs[0]:
        raise ValueError(f"The last layer of {model.name!r} is not its output; TargetNetwork needs a plain chain.")
    return layers


def _check_weighted_layer(layer) -> None:
    config = layer.get_config()
    if isinstance(layer, keras.layers.Conv2D):
        if type(layer) is not keras.layers.Conv2D:
            raise ValueError(f"Layer {layer.name!r} ({type(layer).__name__}) is not a plain Conv2D.")
        if config.get("data_format", "channels_last") != "channels_last" or config.get("groups", 1) != 1:
            raise ValueError(f"Conv2D {layer.name!r} must be channels_last with groups=1.")
    elif len(layer.input_shape) != 2:
        raise ValueError(f"Dense {layer.name!r} must act on flat (batch, features) inputs; add a Flatten before it.")
    if any(not w.trainable for w in layer.weights):
        raise ValueError(f"Layer {layer.name!r} has frozen weights; TargetNetwork needs every weight in θ.")


class TargetNetwork:
    """Functional view of a chain Keras model: logits = f(θ, x) for flat weight vectors θ.

    Build it with ``TargetNetwork.from_model(model)`` (any chain of Conv2D / Dense and weight-free
    layers) or ``TargetNetwork.lenet5()`` (the 20,522-parameter LeNet-5 of seed 000).

    Attributes:
        shapes: shapes of the weight tensors, in ``model.trainable_weights`` order.
        theta_size: total number of parameters |θ|.
        input_shape: shape of one input example, e.g. (28, 28, 1).
        num_classes: number of logits.
    """

    def __init__(self, model: keras.Model, check: bool = True):
        """See ``from_model``."""
        layers = _chain_layers(model)
        shapes, steps, chain_weights = [], [], []
        for layer in layers:
            if isinstance(layer, _WEIGHTED):
                _check_weighted_layer(layer)
                first = len(shapes)
                for w in layer.trainable_weights:
                    shapes.append(tuple(int(d) for d in w.shape))
                    chain_weights.append(w)
                steps.append(_Step(layer, tuple(range(first, len(shapes)))))
            elif layer.weights:
                raise ValueError(
                    f"Layer {layer.name!r} ({type(layer).__name__}) has weights but TargetNetwork only knows "
                    f"how to take Conv2D and Dense weights from θ; use a model whose other layers are weight-free."
                )
            else:
                steps.append(_Step(layer, ()))
        if [id(w) for w in chain_weights] != [id(w) for w in model.trainable_weights]:
            raise ValueError(
                f"The layers of {model.name!r} do not hold model.trainable_weights in chain order; "
                f"TargetNetwork supports plain chains (Sequential-like models) only."
            )
        self.model = model
        self.shapes: Tuple[Tuple[int, ...], ...] = tuple(shapes)
        self._sizes = [int(np.prod(s)) for s in shapes]
        self.theta_size = int(sum(self._sizes))
        self.input_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
        self.num_classes = int(model.outputs[0].shape[-1])
        self._steps = steps
        if check:
            self._check_against_model()

    @classmethod
    def from_model(cls, model: keras.Model, check: bool = True) -> "TargetNetwork":
        """Describes a built chain Keras model as a function of its flat weights.

        Args:
            model: built model; its layers (after the input) must form a chain, the weighted ones being
                ``Conv2D``/``Dense``; weight-free layers (normalisation, pooling, dropout...) are reused.
            check: compare the functional forward with ``model`` on a random batch (recommended).

        Returns:
            The target network.

        Raises:
            ValueError: unsupported layers, a non-chain model, or a forward pass that does not match.
        """
        return cls(model, check=check)

    @classmethod
    def lenet5(cls, input_shape: Sequence[int] = (28, 28, 1), num_classes: int = 10) -> "TargetNetwork":
        """The LeNet-5 of seed 000 from ``tfrobust.models.build("lenet5", ...)`` (20,522 parameters on MNIST)."""
        from tfrobust import models  # local import: the model zoo is optional for the rest of this module

        return cls.from_model(models.build("lenet5", tuple(input_shape), num_classes))

    # ----------------------------------------------------------------------------------- θ layout
    def unflatten(self, theta) -> List[tf.Tensor]:
        """Splits θ into weight tensors shaped like ``model.trainable_weights``.

        Args:
            theta: shape (|θ|,), or (P, |θ|) for a batch of P weight vectors.

        Returns:
            list of tensors of shapes ``shapes`` (with a leading P axis for a batch).
        """
        theta = tf.convert_to_tensor(theta, dtype=tf.float32)
        lead = theta.shape[:-1].as_list()
        lead = [-1 if d is None else d for d in lead]
        parts = tf.split(theta, self._sizes, axis=-1)
        return [tf.reshape(p, lead + list(s)) for p, s in zip(parts, self.shapes)]

    def flatten(self, tensors: Sequence) -> tf.Tensor:
        """Inverse of ``unflatten`` for a single weight vector."""
        return tf.concat([tf.reshape(tf.cast(t, tf.float32), [-1]) for t in tensors], axis=0)

    def check_theta(self, theta, batched: bool = False) -> tf.Tensor:
        """Validates θ eagerly: shape (|θ|,) or (P, |θ|) when ``batched``, finite values.

        Raises:
            ValueError: wrong shape or NaN/inf values.
        """
        theta = tf.convert_to_tensor(theta, dtype=tf.float32)
        want = f"(P, {self.theta_size})" if batched else f"({self.theta_size},)"
        if theta.shape.rank != (2 if batched else 1) or theta.shape[-1] != self.theta_size:
            raise ValueError(f"theta must have shape {want} for this target network, got {theta.shape}.")
        if not bool(tf.reduce_all(tf.math.is_finite(theta))):
            raise ValueError("theta contains NaN or infinite values.")
        return theta

    # ---------------------------------------------------------------------------------- forward
    def forward(self, theta, x, training: bool = False) -> tf.Tensor:
        """Logits of the network with weights ``theta`` on images ``x``: shape (N, num_classes).

        Args:
            theta: flat weights, shape (|θ|,).
            x: images (N, *input_shape) in the model's input range.
            training: run dropout (and any other training-mode layer) as in training.
        """
        return self.forward_batch(theta[tf.newaxis], x, training=training)[0]

    def forward_batch(self, thetas, x, training: bool = False) -> tf.Tensor:
        """Logits of P networks at once: shape (P, N, num_classes).

        The P networks run as one grouped convolution / batched matmul per layer: activations are kept
        as (P, N, ...) and weight-free layers see the P·N examples as one batch.

        Args:
            thetas: flat weights, shape (P, |θ|).
            x: shared images (N, *input_shape), or one batch per network (P, N, *input_shape).
            training: run dropout as in training.
        """
        thetas = tf.convert_to_tensor(thetas, dtype=tf.float32)
        x = tf.convert_to_tensor(x, dtype=tf.float32)
        num = tf.shape(thetas)[0]
        if x.shape.rank == len(self.input_shape) + 1:  # shared batch: one copy per network
            x = tf.broadcast_to(x[tf.newaxis], tf.concat([[num], tf.shape(x)], 0))
        params = self.unflatten(thetas)
        h = x
        for step in self._steps:
            if not step.params:
                h = _apply_per_example(step.layer, h, training)
            elif isinstance(step.layer, keras.layers.Conv2D):
                h = _grouped_conv(step.layer, h, [params[i] for i in step.params])
            else:
                h = _batched_dense(step.layer, h, [params[i] for i in step.params])
        return h

    def _check_against_model(self) -> None:
        rng = np.random.default_rng(0)
        x = rng.uniform(0.0, 1.0, size=(4,) + self.input_shape).astype(np.float32)
        expected = self.model(x, training=False).numpy()
        got = self.forward(flatten_from(self.model), x).numpy()
        scale = max(1.0, float(np.abs(expected).max()))
        if got.shape != expected.shape or not np.allclose(got, expected, atol=1e-4 * scale, rtol=1e-4):
            raise ValueError(
                f"The functional forward of {self.model.name!r} does not reproduce the model (max difference "
                f"{np.abs(got - expected).max() if got.shape == expected.shape else 'shape mismatch'}); "
                f"TargetNetwork supports chains of Conv2D/Dense and weight-free per-example layers only."
            )


def _merge(h):
    shape = tf.shape(h)
    return tf.reshape(h, tf.concat([[shape[0] * shape[1]], shape[2:]], 0)), shape[:2]


def _apply_per_example(layer, h, training):
    merged, lead = _merge(h)
    out = layer(merged, training=training)
    return tf.reshape(out, tf.concat([lead, tf.shape(out)[1:]], 0))


def _grouped_conv(layer: keras.layers.Conv2D, h, params):
    """P convolutions (one kernel per network) as one convolution with P groups."""
    kernel = params[0]  # (P, kh, kw, C, F)
    shape = tf.shape(h)  # (P, N, H, W, C)
    num, batch, channels = shape[0], shape[1], shape[4]
    filters = layer.filters
    x = tf.reshape(tf.transpose(h, [1, 2, 3, 0, 4]), tf.stack([batch, shape[2], shape[3], num * channels]))
    kh, kw = layer.kernel_size
    k = tf.reshape(tf.transpose(kernel, [1, 2, 3, 0, 4]), tf.stack([kh, kw, channels, num * filters]))
    y = tf.nn.conv2d(x, k, strides=layer.strides, padding=layer.padding.upper(), dilations=layer.dilation_rate)
    out = tf.shape(y)
    y = tf.transpose(tf.reshape(y, tf.stack([batch, out[1], out[2], num, filters])), [3, 0, 1, 2, 4])
    if layer.use_bias:
        y = y + params[1][:, tf.newaxis, tf.newaxis, tf.newaxis, :]
    return layer.activation(y)


def _batched_dense(layer: keras.layers.Dense, h, params):
    y = tf.einsum("pni,pio->pno", h, params[0])
    if layer.use_bias:
        y = y + params[1][:, tf.newaxis, :]
    return layer.activation(y)
