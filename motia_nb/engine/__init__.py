"""The kernel as a local iii engine: the engine's function surface, in-process (SPEC §7, §8)."""

from .functions import EngineFunctionError, EngineFunctions

__all__ = ["EngineFunctions", "EngineFunctionError"]
