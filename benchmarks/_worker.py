"""Child-process entry point: ``python -m benchmarks._worker TASK ARGS_JSON RESULT_PATH``.

The thread settings come from the environment the parent prepared, before NumPy is imported here.
"""

from __future__ import annotations

import json
import sys


def main(argv: list[str]) -> int:
    task, args_json, result_path = argv
    args = json.loads(args_json)
    module_name, _, function_name = task.partition(":")
    import importlib

    module = importlib.import_module(f"benchmarks.{module_name}")
    values = getattr(module, function_name)(**args)

    from dropout_lab._io import atomic_write_text

    atomic_write_text(result_path, json.dumps(values))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
