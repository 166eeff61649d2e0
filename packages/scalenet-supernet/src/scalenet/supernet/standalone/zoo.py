"""Model zoo: static networks by preset name, path string or family member file.

:func:`create_model` builds a freshly initialized
:class:`~scalenet.supernet.standalone.static.StaticNet` (the layer shapes come from
:func:`scalenet.space.expand_path`, so its FLOPs and parameters are exactly
:func:`scalenet.space.count`'s) for

* the presets ``efficientnet_b0`` and ``scalenet_s0`` .. ``scalenet_s5`` (the published S0 scaled
  by Table 3's strategies, :func:`scalenet.space.scalenet_path`);
* any path string ``<arch>@d..,w..,r..`` (a bare architecture gets the identity scaling);
* any family member file written by the ``generalize`` stage (``outputs/family/scalenet/S<j>.json``,
  a JSON object with a ``path`` key) or any JSON of :meth:`scalenet.space.Path.to_json`;

read by :func:`scalenet.space.resolve_path`, the one reading of every command that names a model.

``pretrained_path`` loads weights saved by
:func:`~scalenet.supernet.standalone.static.save_static` or a retraining checkpoint (its EMA
weights when it has them); a different ``num_classes`` then gets a fresh classifier
(:func:`finetune`).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

from scalenet.space import MODEL_PRESETS, Path, SearchSpace, load_space, resolve_path
from scalenet.supernet.standalone.static import StaticNet

__all__ = [
    "PRESETS",
    "counted_flops",
    "create_model",
    "finetune",
    "load_weights",
    "num_params",
    "resolve_path",
    "set_dropout",
]

#: Preset names accepted by :func:`create_model` (:data:`scalenet.space.MODEL_PRESETS`).
PRESETS: tuple[str, ...] = MODEL_PRESETS

_STATIC_FORMAT = "scalenet-static-net"
_CHECKPOINT_FORMAT = "scalenet-checkpoint-v1"


def _resolve_space(space: str | SearchSpace) -> SearchSpace:
    return space if isinstance(space, SearchSpace) else load_space(space)


def set_dropout(model: StaticNet, drop_rate: float) -> StaticNet:
    """Put dropout (probability ``drop_rate``) right before the classifier, in place.

    The ``flatten`` module becomes ``Flatten -> Dropout``: no parameter is added, so the state dict
    (and :func:`~scalenet.supernet.standalone.static.save_static` files) keep their keys.
    """
    if not 0.0 <= drop_rate < 1.0:
        raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
    layers: list[nn.Module] = [nn.Flatten(1)]
    if drop_rate > 0:
        layers.append(nn.Dropout(drop_rate))
    model.flatten = nn.Sequential(*layers) if len(layers) > 1 else layers[0]
    return model


def finetune(model: StaticNet, num_classes: int, *, seed: int | None = None) -> StaticNet:
    """Replace the classifier with a freshly initialized one for ``num_classes`` classes, in place.

    Every other weight (the retrained backbone) is kept; train it with the fine-tuning recipe
    (:meth:`scalenet.supernet.standalone.retrain.RetrainConfig.finetuning`: no EMA).
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    old = model.classifier
    if not isinstance(old, nn.Linear):
        raise ValueError("model has no Linear 'classifier' to replace")
    if seed is not None:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            new = nn.Linear(old.in_features, num_classes)
    else:
        new = nn.Linear(old.in_features, num_classes)
    model.classifier = new.to(old.weight.device)
    return model


def _state_dict_of(payload: Any, file: str) -> dict[str, Tensor]:
    """The model weights inside a save_static file or a retraining checkpoint (EMA preferred)."""
    if not isinstance(payload, dict):
        raise ValueError(f"{file}: not a static network or retraining checkpoint")
    if payload.get("format") == _STATIC_FORMAT:
        if payload.get("side") == "both":
            raise ValueError(f"{file}: a bilateral pair; load it with load_static")
        state: dict[str, Tensor] = payload["state_dict"]
        return state
    if payload.get("format") == _CHECKPOINT_FORMAT and "model" in payload:
        ema = payload.get("ema")
        if ema:
            prefix = "module."
            return {
                key[len(prefix) :]: value for key, value in ema.items() if key.startswith(prefix)
            }
        model_state: dict[str, Tensor] = payload["model"]
        return model_state
    raise ValueError(f"{file}: not a static network or retraining checkpoint")


def load_weights(file: str | os.PathLike[str]) -> tuple[str | None, dict[str, Tensor]]:
    """``(path string or None, state dict)`` of a save_static file or a retraining checkpoint.

    Raises:
        ValueError: If the file is unreadable or of another kind.
    """
    try:
        payload = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{file}: not readable ({str(error).splitlines()[0]})") from None
    state = _state_dict_of(payload, str(file))
    path = payload.get("path")
    return (str(path) if path is not None else None), state


def create_model(
    name_or_path: str | os.PathLike[str] | Path,
    num_classes: int | None = None,
    pretrained_path: str | os.PathLike[str] | None = None,
    space: str | SearchSpace = "imagenet",
    *,
    drop_rate: float = 0.0,
) -> StaticNet:
    """A static network of a preset, path string or family member file.

    Args:
        name_or_path: ``efficientnet_b0``, ``scalenet_s0`` .. ``scalenet_s5``, a path string, or a
            ``.json`` file with a path (``generalize`` writes ``members/S<j>.json``).
        num_classes: Classifier outputs (default: the space's).
        pretrained_path: Weights to load (:func:`load_weights`); their classifier is kept when
            ``num_classes`` is None or equal, else replaced by a fresh one (:func:`finetune`).
        space: The search space (name or object) giving stem, head, stage channels and R0.
        drop_rate: Dropout before the classifier (:func:`set_dropout`).

    Returns:
        The :class:`StaticNet` (fresh initialization unless ``pretrained_path``).

    Raises:
        ValueError: Unknown name, malformed file, or weights of another path.
    """
    path = resolve_path(name_or_path)
    search_space = _resolve_space(space)
    if num_classes is not None and num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if pretrained_path is None:
        if num_classes is not None:
            search_space = dataclasses.replace(search_space, num_classes=num_classes)
        return set_dropout(StaticNet(search_space, path), drop_rate)
    saved_path, state = load_weights(pretrained_path)
    if saved_path is not None and saved_path != path.encode():
        raise ValueError(
            f"{pretrained_path}: weights of path {saved_path!r}, not of {path.encode()!r}"
        )
    saved_classes = int(state["classifier.weight"].shape[0])
    model = StaticNet(dataclasses.replace(search_space, num_classes=saved_classes), path)
    model.load_state_dict(state)
    if num_classes is not None and num_classes != saved_classes:
        finetune(model, num_classes)
    return set_dropout(model, drop_rate)


def counted_flops(model: nn.Module, resolution: int, batch: int = 1) -> int:
    """Multiply-accumulates of one image, measured by ``FlopCounterMode`` (its FLOPs / 2)."""
    was_training = model.training
    model.eval()
    parameter = next(model.parameters())
    images = torch.zeros(batch, 3, resolution, resolution, device=parameter.device)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(images)
    finally:
        model.train(was_training)
    return int(counter.get_total_flops()) // (2 * batch)


def num_params(model: nn.Module) -> int:
    """Number of parameters (BN running statistics excluded)."""
    return sum(parameter.numel() for parameter in model.parameters())
