"""The Redis backend: state in Motia's engine layout, shared between processes.

- :mod:`.layout`: the keys (``state:<group>`` hashes, the order index, the channel), URLs, errors;
- :mod:`.scripts`: the Lua scripts (``lua/*.lua``, shipped as package data);
- :mod:`.codec`: stored JSON text and published messages to values and events;
- :mod:`.commands`: each write's script call and the meaning of its reply (both write paths);
- :mod:`.writer`: the pipelined writer task (group commit, compare-and-set updates);
- :mod:`.direct`: blocking writes committed on their caller's thread, and the gate that
  orders them with the writer task;
- :mod:`.pubsub`: the subscriber task delivering other processes' changes;
- :mod:`.reads`: blocking reads on a synchronous client;
- :mod:`.history`: reading the changelog streams (written by ``lua/history.lua``);
- :mod:`.backend`: :class:`RedisBackend`, tying them to the backend contract on
  motia_nb's one loop thread.
"""

from __future__ import annotations

from .backend import RedisBackend
from .layout import CHANNEL_PREFIX, ORDER_PREFIX, SEQ_KEY, STATE_PREFIX, RedisBackendError

__all__ = ["RedisBackend", "RedisBackendError", "STATE_PREFIX", "ORDER_PREFIX", "SEQ_KEY", "CHANNEL_PREFIX"]
