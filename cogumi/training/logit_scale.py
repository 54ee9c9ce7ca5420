"""The learned logit scale: a factor on the logits, learned as a parametrization of the adapter's
own copy of the final norm (PEFT's ``modules_to_save``) and folded into that copy's weight before
the adapter is saved, so that the adapter stays a plain PEFT adapter that ``cogumi export`` merges."""

from __future__ import annotations

import torch
from torch.nn.utils import parametrize

FINAL_NORM = "model.norm"  # Llama's norm before the LM head


class UniformScale(torch.nn.Module):
    """Parametrizes a weight as ``frozen weight * exp(log_scale)``: one learned scalar, or one per
    entry of the weight (``shape``)."""

    def __init__(self, shape: tuple = ()):
        super().__init__()
        self.log_scale = torch.nn.Parameter(torch.zeros(shape))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        return weight * self.log_scale.exp().to(weight.dtype)


def final_norm_wrapper(model) -> torch.nn.Module:
    """The PEFT model's final norm: PEFT's ``modules_to_save`` wrapper where the adapter has a copy."""
    return model.get_submodule("base_model.model." + FINAL_NORM)


def final_norm_copy(model) -> torch.nn.Module | None:
    """The adapter's own trainable copy of the final norm (PEFT's ``modules_to_save``); None where
    the adapter has none (``train.logit_scale`` off)."""
    wrapper = final_norm_wrapper(model)
    if not hasattr(wrapper, "modules_to_save"):
        return None
    return wrapper.modules_to_save[wrapper.active_adapter if isinstance(wrapper.active_adapter, str)
                                   else wrapper.active_adapter[0]]


def _scale_parametrization(model) -> UniformScale | None:
    """The single learned scale on the norm copy's weight, or None where none is learned."""
    norm = final_norm_copy(model)
    return norm.parametrizations.weight[0] if norm is not None and parametrize.is_parametrized(norm, "weight") else None


def logit_scale(model) -> torch.Tensor:
    """The learned factor on the logits, as a tensor in the graph (1 where none is learned)."""
    found = _scale_parametrization(model)
    return torch.ones(()) if found is None else found.log_scale.exp()


def learn_logit_scale(model, per_dimension: bool = False) -> torch.nn.Parameter:
    """Make the final norm's copy learn a single scale (or, ``per_dimension``, one per hidden
    dimension); returns that parameter."""
    norm = final_norm_copy(model)
    parametrize.register_parametrization(norm, "weight", UniformScale(tuple(norm.weight.shape) if per_dimension else ()))
    norm.parametrizations.weight.original.requires_grad_(False)
    return norm.parametrizations.weight[0].log_scale


def bake_logit_scale(model) -> float:
    """Fold the learned scale into the norm copy's weight, so the adapter saves as plain PEFT
    weights; returns the scale."""
    if _scale_parametrization(model) is None:
        return 1.0
    scale = logit_scale(model).mean().item()
    parametrize.remove_parametrizations(final_norm_copy(model), "weight", leave_parametrized=True)
    return scale
