"""Momentum iterative FGSM (Dong et al. 2018, "Boosting adversarial attacks with momentum", CVPR).

Iterative FGSM whose steps follow an accumulated, L1-normalised gradient (Algorithm 1 of the paper):

    g_0 = 0,  x*_0 = x
    g_{t+1} = mu * g_t + grad_x J(x*_t, y) / ||grad_x J(x*_t, y)||_1
    x*_{t+1} = clip_[lo, hi]( x + P_eps( x*_t + alpha * s(g_{t+1}) - x ) ),   alpha = eps / T

with s = sign for L-inf and g / ||g||_2 for L2 (the paper's Eq. 8 for L2), T = 10 steps and decay mu = 1.0
as in the paper. The momentum stabilises the update direction, so the examples overfit the source model
less and *transfer* better to other models; the paper reports MI-FGSM from Inc-v3 fooling the other
Inception/ResNet models far more often than I-FGSM (e.g. 26.9% -> 43.6% against Inc-v4 at eps 16/255).
``mu = 0`` is I-FGSM (Kurakin et al. 2017). The last iterate is returned, as in the paper.

``random_start=True`` starts from a uniform random point of the eps-ball (x*_0 = x + U(-eps, eps)); with
``mu = 0`` and Madry's step 2.5 eps / T this is PGD (Madry et al. 2018) returning its *last* iterate,
the form in which PGD is used for transfer: ``tfrobust.attacks.transfer.transfer_pgd``. (``pgd`` returns
the first iterate that fools the source model, right for white-box evaluation, but such an example lies
just across the source's decision boundary and rarely transfers.)

The step and the projection are the shared PGD step (``tfrobust.attacks.pgd_step.ascent_step``); the
momentum is the only difference from PGD without random start.
"""
from __future__ import annotations

import tensorflow as tf

from tfrobust.attacks import _compiled
from tfrobust.attacks._inputs import (check_batch_size, check_flag, check_loss_classes, check_seed, chunks,
                                      make_generator, prepare)
from tfrobust.attacks.info import attack_info, measure_outcome
from tfrobust.attacks.norms import random_start as draw_random_start
from tfrobust.attacks.pgd_step import ascent_step
from tfrobust.attacks.registry import register
from tfrobust.validation import LOSSES, NORMS, check_choice, check_epsilon, check_positive

DEFAULT_STEPS = 10  # T in the paper
DEFAULT_DECAY = 1.0  # mu in the paper
_TINY = 1e-12


def _l1_normalised(grad):
    axes = tf.range(1, tf.rank(grad))
    return grad / (tf.reduce_sum(tf.abs(grad), axis=axes, keepdims=True) + _TINY)


def _steps_fn(norm: str, loss: str, targeted: bool):
    def build(logits_model):
        def mifgsm_steps(x, x_start, labels, source, step_size, decay, eps, lo, hi, n_steps):
            x_adv, momentum = x_start, tf.zeros_like(x)
            for _ in tf.range(n_steps):
                _, grad, _ = _compiled.input_gradient(logits_model, x_adv, labels, source, loss, targeted)
                momentum = decay * momentum + _l1_normalised(grad)
                x_adv = ascent_step(x, x_adv, momentum, step_size=step_size, eps=eps, norm=norm, lo=lo, hi=hi)
            return x_adv
        return mifgsm_steps
    return build


def mifgsm(model, x, y, *, eps, norm="linf", loss="ce", targeted=False, bounds=(0.0, 1.0), seed=None,
           batch_size=None, return_info=False, steps=DEFAULT_STEPS, decay=DEFAULT_DECAY, step_size=None,
           random_start=False):
    """Momentum iterative FGSM (Dong et al. 2018), the transfer-strengthened iterative attack.

    Args:
        model: callable from images to logits (softmax outputs are attacked on log-probabilities).
        x: float images in ``bounds``, shape (batch, ...).
        y: true labels (untargeted) or target labels (targeted), sparse (batch,) or one-hot.
        eps: radius of the threat model in pixel units (eps == 0 returns x unchanged).
        norm: "linf" (sign steps) or "l2" (L2-normalised steps).
        loss: attack loss, "ce" (the paper), "margin" or "dlr".
        targeted: y are target labels; the loss is descended towards them.
        bounds: (low, high) pixel range.
        seed: seed of the random start (MI-FGSM itself is deterministic).
        batch_size: if given, attack x in chunks of this many examples.
        return_info: also return ``tfrobust.attacks.info.attack_info``'s dict.
        steps: number of iterations T, integer > 0 (10 in the paper).
        decay: momentum decay factor mu >= 0 (1.0 in the paper; 0 gives I-FGSM).
        step_size: step alpha; ``None`` gives the paper's ``eps / steps``.
        random_start: start from a uniform random point of the eps-ball instead of x (with ``decay=0``: PGD's
            last iterate).

    Returns:
        x_adv, float32 like x, the last iterate; with ``return_info`` the pair (x_adv, info) with the keys of
        ``attack_info`` (example_steps = steps x examples).

    Raises:
        TypeError, ValueError: bad images, labels, eps, norm, loss, steps, decay or step_size.
    """
    norm = check_choice(norm, NORMS, "norm")
    loss = check_choice(loss, LOSSES, "loss")
    targeted = check_flag(targeted, "targeted")
    return_info = check_flag(return_info, "return_info")
    eps = check_epsilon(eps, bounds, norm)
    steps = int(check_positive(steps, "steps", integer=True))
    if isinstance(decay, bool) or not isinstance(decay, (int, float)) or not decay >= 0 or decay == float("inf"):
        raise ValueError(f"decay must be a finite number >= 0 (1.0 in the paper, 0 for I-FGSM), got {decay!r}.")
    if step_size is None:
        step_size = eps / steps if eps > 0 else 1.0
    step_size = check_positive(step_size, "step_size")
    seed = check_seed(seed)
    random_start = check_flag(random_start, "random_start")
    batch_size = check_batch_size(batch_size)
    inputs = prepare(model, x, y, bounds, targeted=targeted)
    check_loss_classes(loss, inputs.model.num_classes, targeted)
    n = int(inputs.x.shape[0])
    if eps == 0:
        x_adv = inputs.x
    else:
        run = _compiled.cached_function(inputs.model, "mifgsm_steps", (norm, loss, targeted),
                                        _steps_fn(norm, loss, targeted))
        scalars = [tf.constant(v, tf.float32) for v in (step_size, float(decay), eps, inputs.lo, inputs.hi)]
        pieces = []
        generator = make_generator(seed) if random_start else None
        for part in chunks(tuple(inputs.x.shape), batch_size):
            x_part, labels = inputs.x[part], inputs.labels[part]
            x_start = (draw_random_start(x_part, eps, norm, inputs.lo, inputs.hi, generator=generator)
                       if random_start else x_part)
            source = _compiled.source_labels(inputs.model, x_part, labels, loss, targeted)
            pieces.append(run(x_part, x_start, labels, source, *scalars, tf.constant(steps)))
        x_adv = pieces[0] if len(pieces) == 1 else tf.concat(pieces, axis=0)
    if not return_info:
        return x_adv
    losses, success = measure_outcome(inputs, x_adv, loss=loss, targeted=targeted, batch_size=batch_size)
    return x_adv, attack_info(success=success, loss=losses, x=inputs.x, x_adv=x_adv, norm=norm,
                              example_steps=0 if eps == 0 else n * steps, forward_passes=n)


def _label(settings) -> str:
    text = f"mifgsm-{settings['steps']}"
    if settings.get("decay", DEFAULT_DECAY) != DEFAULT_DECAY:
        text += f"-mu{settings['decay']:g}"
    if settings.get("random_start"):
        text += "-rs"
    return text if settings["norm"] == "linf" else f"{text}-{settings['norm']}"


register("mifgsm", mifgsm, aliases=("mi-fgsm", "mim"), eps_defaults=lambda eps, s: {"step_size": eps / s["steps"]},
         label=_label)
