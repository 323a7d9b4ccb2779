"""`make bench`: motia_nb's state core measured against raw sqlite3, redis-py and the
stores people use instead.

Layout (one job per module):

- :mod:`.core`      data, timing, samples, the workload protocol and the paired statistic behind every ratio
- :mod:`.motia`     the motia_nb driver (SQLite or Redis, optionally with an idle state step)
- :mod:`.raw`       the baselines: raw stdlib sqlite3 and raw redis-py
- :mod:`.peers`     aiosqlite, diskcache, sqlitedict and IPython's ``%store``
- :mod:`.history`   issue 16's history targets (``--history``): on vs off, one key's history, follower latency
- :mod:`.memory`    peak memory of ``frame()`` next to raw, each in a fresh process
- :mod:`.targets`   issue 12's targets: which pair each ratio compares, sizes, thresholds
- :mod:`.plan`      the run: each target's pair in paired rounds, the other stores once, memory
- :mod:`.report`    the report: verdicts, text table, Markdown, README section, files
- :mod:`.chart`     the PNG chart
- :mod:`.cli`       ``python -m benchmarks`` / ``python benchmarks/run.py``
"""
