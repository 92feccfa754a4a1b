"""The pure interpreter: (definition, checkpointed state, inputs) → ``Outcome``; no database,
no clock, no I/O (an import-linter contract in pyproject.toml keeps it so).

The package, read top down:

- ``interpreter``: the public entry points - ``start_state``, ``advance``, ``retry_state``,
  ``pending_calls``, ``resume_timers``.
- ``decisions``: the contract with the worker - inputs, commands, history rows, ``Outcome``.
- ``machine``: one ``advance`` - the scheduler of positions, input delivery, the step budget,
  how the run ends; it dispatches to the step handlers through two tables.
- ``nodes``: node steps (action, waits, tasks, emit, assign, state.set), started and resumed.
- ``control``: control steps (if, switch, tryCatch, forEach, parallel, callWorkflow, return,
  fail) and the ends of the pipelines they hold.
- ``ladder``: where a failed step's error goes (retry → continue → tryCatch/forEach → the run
  fails); ``retry``: backoff and budget; ``failures``: error categories and the error shape.
- ``program``: a definition compiled once for the interpreter; ``evaluators``: its values and
  conditions compiled; ``state``: the checkpointed state (frames, contexts, tokens; every key
  in docs/state-machines.md); ``ids``: the ids and keys derived from a position.
- Built on ``advance``: ``migrate`` (moving a run to another version), ``shadow`` (replaying a
  run's recording on another version), ``preview`` (what a retry would call again),
  ``positions`` (where a run stands, for counts and diffs).
"""
