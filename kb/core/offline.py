"""The environment that keeps medkb's model libraries offline and quiet: no model hub, no telemetry, no tokenizer
threads of their own. Set it before transformers, huggingface_hub or onnxruntime is imported (the CLI, the Dask
workers and the benchmarks do; the test suite forces the same variables in ``tests/conftest.py``).

Example::

    from kb.core.offline import use_offline_environment
    use_offline_environment()
    import sentence_transformers
"""

from __future__ import annotations

import os

#: Variable -> value; a value already set in the environment is kept.
OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "ORT_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
}


def use_offline_environment() -> None:
    """Set every variable of `OFFLINE_ENVIRONMENT` that the environment does not already set."""
    for name, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
