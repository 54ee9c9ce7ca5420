"""Cogumi: category-specific self-consistency distillation."""
