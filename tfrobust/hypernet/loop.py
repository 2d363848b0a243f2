"""Seed 000's training loop: generator G and value network V, as a Keras model with a custom train_step.

Ballarin (2020), slide "L'idea", one training step:

1. sample s ~ U([-10, 10]²);
2. generate θ = G(s) and load θ into the target network (here: evaluate it functionally);
3. measure accuracy A and PGD robustness R on a data subset T̃ (the batch given to ``train_step``);
4. estimate (Â, R̂) = V(θ);
5. train V on the MSE between (Â, R̂) and (A, R);
6. train G on L(θ) = -α·Â(G(s)) - β·R̂(G(s)), α + β = 1.

Step 3 is not differentiable in the seed (weights are copied into layers, and accuracy counts are
piecewise constant anyway), which is why G learns only through V. Why a Keras model with
``train_step`` rather than a hand-written loop: ``fit`` then gives TensorBoard scalars, callbacks
(checkpoints, early stop, CSV logs), validation on fresh samples and ``steps_per_epoch`` for free,
and a reader who knows Keras recognises the structure (one ``compile`` with two optimisers, one
``train_step`` with the six steps above in order).

Our additions, all off by default (the seed's loop): ``value_updates_per_step`` (several V updates on
each measured batch), ``generator_start_step`` (V alone is trained for the first steps, so G is not
pushed by an untrained V) and ``exploration_std`` (V is trained on θ + σ·ξ, ξ ~ N(0, I), instead of θ:
after pretraining every G(s) is nearly the same vector, so without exploration V sees no variation of θ
and its gradient, which is all G learns from, is arbitrary).
"""
from __future__ import annotations

import tensorflow as tf
import tf_keras as keras

from tfrobust.hypernet.generator import Generator
from tfrobust.hypernet.generator_model import GeneratorTrainingModel
from tfrobust.hypernet.robustness import RobustnessMeter
from tfrobust.hypernet.value_network import ValueNetwork
from tfrobust.validation import check_positive


class GeneratorValueModel(GeneratorTrainingModel):
    """Trains G through a value network V that predicts (A, R) from θ (Ballarin 2020, seed 000).

    Args:
        generator: the ``Generator`` G (usually pretrained with ``pretrain_generator``).
        value_network: the ``ValueNetwork`` V with ``input_size`` = |θ| and 2 outputs.
        meter: ``RobustnessMeter`` that measures A and R (its PGD defines R).
        alpha, beta: objective weights, α + β = 1 (seed: 0.5 each).
        samples_per_step: generated networks per step.
        latent_bound: s ~ U([-latent_bound, latent_bound]²).
        value_updates_per_step: V updates on each step's measurements (seed: 1).
        generator_start_step: G is updated only from this training step on (seed: 0).
        exploration_std: σ of the Gaussian noise added to θ before measuring and training V (seed: 0).
        **kwargs: standard Keras model arguments.

    Training data: batches ``(x, y)`` of the subset T̃ on which A and R are measured.

    Metrics (TensorBoard scalars through ``keras.callbacks.TensorBoard``): ``accuracy``, ``robustness``
    and ``objective`` (measured, mean over the step's samples), ``estimated_accuracy``,
    ``estimated_robustness`` (V's predictions for the same samples, before V's update),
    ``value_loss`` (MSE of those predictions: V's error on samples it has not been trained on yet),
    ``generator_loss`` (-αÂ - βR̂ after V's update).

    Example:
        >>> model = GeneratorValueModel(generator, ValueNetwork(target.theta_size), RobustnessMeter(target))
        >>> model.compile(generator_optimizer=keras.optimizers.Adam(1e-4),
        ...               value_optimizer=keras.optimizers.Adam(1e-4))
        >>> model.fit(train_batches, steps_per_epoch=50, epochs=4, callbacks=[keras.callbacks.TensorBoard(logdir)])
    """

    def __init__(self, generator: Generator, value_network: ValueNetwork, meter: RobustnessMeter, *,
                 alpha: float = 0.5, beta: float = 0.5, samples_per_step: int = 8, latent_bound: float = 10.0,
                 value_updates_per_step: int = 1, generator_start_step: int = 0, exploration_std: float = 0.0,
                 **kwargs):
        super().__init__(generator, meter, alpha=alpha, beta=beta, samples_per_step=samples_per_step,
                         latent_bound=latent_bound, **kwargs)
        if not isinstance(value_network, ValueNetwork):
            raise TypeError(f"value_network must be a ValueNetwork, got {type(value_network).__name__}.")
        if value_network.input_size != generator.output_size or value_network.num_outputs != 2:
            raise ValueError(
                f"The value network must read {generator.output_size} weights and predict 2 values (A, R); it reads "
                f"{value_network.input_size} and predicts {value_network.num_outputs}."
            )
        self.value_network = value_network
        self.value_updates_per_step = int(check_positive(value_updates_per_step, "value_updates_per_step",
                                                         integer=True))
        if generator_start_step < 0:
            raise ValueError(f"generator_start_step must be >= 0, got {generator_start_step}.")
        self.generator_start_step = int(generator_start_step)
        # Counts training steps; a variable of the model, so a resumed fit (BackupAndRestore) continues the count.
        self.steps_done = tf.Variable(0, trainable=False, dtype=tf.int64, name="steps_done")
        if exploration_std < 0:
            raise ValueError(f"exploration_std must be >= 0, got {exploration_std}.")
        self.exploration_std = float(exploration_std)
        self._track(["accuracy", "robustness", "objective", "estimated_accuracy", "estimated_robustness",
                     "value_loss", "generator_loss"])

    def compile(self, generator_optimizer=None, value_optimizer=None, **kwargs):
        """Sets the two optimisers (default Adam 1e-4 each); other arguments go to ``keras.Model.compile``."""
        super().compile(**kwargs)
        self.generator_optimizer = generator_optimizer or keras.optimizers.Adam(1e-4)
        self.value_optimizer = value_optimizer or keras.optimizers.Adam(1e-4)
        # Build the slots now: G's update sits inside tf.cond (generator_start_step), where no variable may be created.
        self.generator_optimizer.build(self.generator.trainable_variables)
        self.value_optimizer.build(self.value_network.trainable_variables)

    def train_step(self, data):
        x, y = data[0], data[1]
        s = self.sample_latent()                                                    # 1. sample
        thetas = tf.stop_gradient(self.generator(s, training=True))                # 2. generate
        if self.exploration_std > 0:
            thetas = thetas + tf.random.normal(tf.shape(thetas), stddev=self.exploration_std)
        measured = self.measured(thetas, x, y)                                      # 3. measure A, R
        targets = tf.stack([measured["accuracy"], measured["robustness"]], axis=-1)
        estimates = self.value_network(thetas)                                      # 4. estimate
        value_loss = tf.reduce_mean(tf.square(estimates - targets))
        for _ in range(self.value_updates_per_step):                                # 5. train V
            with tf.GradientTape() as tape:
                value_loss_now = tf.reduce_mean(tf.square(self.value_network(thetas, training=True) - targets))
            grads = tape.gradient(value_loss_now, self.value_network.trainable_variables)
            self.value_optimizer.apply_gradients(zip(grads, self.value_network.trainable_variables))
        with tf.GradientTape() as tape:                                             # 6. train G through V
            predicted = self.value_network(self.generator(s, training=True))
            generator_loss = -(self.alpha * tf.reduce_mean(predicted[:, 0])
                               + self.beta * tf.reduce_mean(predicted[:, 1]))
        grads = tape.gradient(generator_loss, self.generator.trainable_variables)

        def update_generator():
            self.generator_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
            return tf.constant(True)

        tf.cond(self.steps_done >= self.generator_start_step, update_generator, lambda: tf.constant(False))
        self.steps_done.assign_add(1)
        return self._update({
            "accuracy": measured["accuracy"], "robustness": measured["robustness"], "objective": measured["objective"],
            "estimated_accuracy": estimates[:, 0], "estimated_robustness": estimates[:, 1],
            "value_loss": value_loss, "generator_loss": generator_loss,
        })
