"""The training loop both models share: AdamW with linear warm-up and decay, a fixed seed, a resumable checkpoint,
evaluation on the validation split after every epoch, and the best epoch kept.

The batch order of every epoch is a pure function of the seed and the epoch number, so a resumed run skips the
batches already done and continues exactly as an uninterrupted one would (the RNG state is checkpointed too).

Layout of ``out`` (one model)::

    checkpoint/model.safetensors  the latest weights     checkpoint/state.json  steps, losses, evaluations
    checkpoint/optimizer.safetensors  optimizer moments and RNG state   checkpoint/optimizer.json  the rest of the
    optimizer's and the scheduler's state (nothing in a knowledge base directory is unpickled)
    best/                  the best epoch's weights so far (moved to model/ by the caller)
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from kb.core.errors import MedkbError

log = logging.getLogger(__name__)

Example = TypeVar("Example")

CHECKPOINT = "checkpoint"
BEST = "best"


@dataclass(frozen=True)
class LoopConfig:
    """How long and how fast to train: ``epochs`` over the examples in batches of ``batch_size``, AdamW at
    ``learning_rate`` after ``warmup_ratio`` of the steps of linear warm-up, checkpointing every
    ``checkpoint_every`` steps; ``threads`` caps torch's intra-op threads."""

    epochs: int = 1
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    seed: int = 42
    checkpoint_every: int = 25
    threads: int = 2

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.checkpoint_every < 1 or self.threads < 1:
            raise MedkbError(
                f"epochs={self.epochs}, batch_size={self.batch_size}, checkpoint_every={self.checkpoint_every}, "
                f"threads={self.threads}: expected positive integers"
            )
        if not 0 <= self.warmup_ratio < 1 or self.learning_rate <= 0:
            raise MedkbError(
                f"warmup_ratio={self.warmup_ratio}, learning_rate={self.learning_rate}: expected 0 <= warmup < 1 "
                "and a positive learning rate"
            )


@dataclass
class LoopResult:
    """What a run did: the loss of every step, the validation metrics after every epoch (epoch 0: before
    training), the best epoch by the chosen metric, and the seconds spent (this process only)."""

    losses: list[float] = field(default_factory=list)
    evaluations: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_metric: float = float("-inf")
    steps: int = 0
    seconds: float = 0.0
    resumed_at_step: int = 0


@dataclass
class TrainingTask(Generic[Example]):
    """The model-specific parts of a run: the model (a torch module), the loss of a batch, the validation metrics
    (``metric`` names the one that picks the best epoch), and how to save the model as a loadable directory."""

    model: Any
    loss: Callable[[Sequence[Example]], Any]
    evaluate: Callable[[], dict[str, float]]
    metric: str
    save: Callable[[Path], None]


def seed_everything(seed: int, threads: int) -> None:
    """Seed Python, numpy and torch, and cap torch's threads, so that a run is repeatable on one machine."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)


def epoch_batches(
    examples: Sequence[Example], epoch: int, config: LoopConfig, group: Callable[[Example], str]
) -> list[list[Example]]:
    """The batches of ``epoch``: the examples shuffled by (seed, epoch), then packed greedily so that no batch holds
    two examples of the same ``group`` (their document: an in-batch negative must not be a positive)."""
    order = list(range(len(examples)))
    random.Random(config.seed * 1_000 + epoch).shuffle(order)
    batches: list[list[Example]] = []
    open_batches: list[tuple[list[Example], set[str]]] = []
    for i in order:
        key = group(examples[i])
        for batch, keys in open_batches:
            if key not in keys:
                batch.append(examples[i])
                keys.add(key)
                break
        else:
            open_batches.append(([examples[i]], {key}))
        full = [entry for entry in open_batches if len(entry[0]) >= config.batch_size]
        for entry in full:
            batches.append(entry[0])
            open_batches.remove(entry)
    batches.extend(batch for batch, _ in open_batches if batch)
    return batches


def train(
    task: TrainingTask[Example],
    examples: Sequence[Example],
    config: LoopConfig,
    out: Path,
    *,
    group: Callable[[Example], str],
    resume: bool = False,
    progress: bool = True,
) -> LoopResult:
    """Train ``task.model`` on ``examples`` (see the module doc); the best epoch's weights end in ``out/best``."""
    import torch
    from tqdm import tqdm
    from transformers import get_linear_schedule_with_warmup

    if not examples:
        raise MedkbError("no training examples: the knowledge base yielded no usable pairs in the train split")
    seed_everything(config.seed, config.threads)
    started = time.perf_counter()
    per_epoch = [epoch_batches(examples, epoch, config, group) for epoch in range(config.epochs)]
    total = sum(len(b) for b in per_epoch)
    model = task.model
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total), total)
    result = LoopResult()
    checkpoint = out / CHECKPOINT
    if resume and (checkpoint / "state.json").is_file():
        _restore(task, checkpoint, optimizer, scheduler, result, config)
    elif (checkpoint / "state.json").is_file():
        log.info("%s holds a checkpoint; starting afresh (pass resume=True to continue it)", checkpoint)
        shutil.rmtree(checkpoint)
    if not result.evaluations:
        result.evaluations.append(_evaluate(task, epoch=0))
        result.best_metric = result.evaluations[0][task.metric]
        _save_best(task, out)
    step = result.steps
    model.train()
    with tqdm(total=total, initial=step, unit="step", disable=not progress, desc="training") as bar:
        done = 0
        for epoch, batches in enumerate(per_epoch, start=1):
            for batch in batches:
                done += 1
                if done <= step:
                    continue
                loss = task.loss(batch)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                result.losses.append(round(float(loss.detach()), 5))
                step += 1
                result.steps = step
                bar.update(1)
                bar.set_postfix(loss=f"{result.losses[-1]:.4f}")
                if done == sum(len(b) for b in per_epoch[:epoch]):
                    metrics = _evaluate(task, epoch=epoch)
                    result.evaluations.append(metrics)
                    if metrics[task.metric] > result.best_metric:
                        result.best_metric, result.best_epoch = metrics[task.metric], epoch
                        _save_best(task, out)
                    model.train()
                    _checkpoint(task, checkpoint, optimizer, scheduler, result)
                elif step % config.checkpoint_every == 0:
                    _checkpoint(task, checkpoint, optimizer, scheduler, result)
    result.seconds += time.perf_counter() - started
    _checkpoint(task, checkpoint, optimizer, scheduler, result)
    return result


def _evaluate(task: TrainingTask[Any], epoch: int) -> dict[str, float]:
    task.model.eval()
    metrics = {"epoch": float(epoch), **task.evaluate()}
    log.info("validation after epoch %d: %s", epoch, metrics)
    return metrics


def _save_best(task: TrainingTask[Any], out: Path) -> None:
    tmp = out / (BEST + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    task.save(tmp)
    shutil.rmtree(out / BEST, ignore_errors=True)
    os.replace(tmp, out / BEST)


def _checkpoint(task: TrainingTask[Any], checkpoint: Path, optimizer: Any, scheduler: Any, result: LoopResult) -> None:
    """Write the checkpoint into a fresh directory, then swap it in, so a kill leaves the previous one intact."""
    import torch
    from safetensors.torch import save_file, save_model

    tmp = checkpoint.with_name(CHECKPOINT + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_model(task.model, str(tmp / "model.safetensors"))
    tensors, rest = _split_optimizer_state(optimizer.state_dict())
    save_file({**tensors, "rng": torch.get_rng_state()}, str(tmp / "optimizer.safetensors"))
    rest["scheduler"] = scheduler.state_dict()
    (tmp / "optimizer.json").write_text(json.dumps(rest) + "\n", encoding="utf-8")
    state = {
        "steps": result.steps,
        "losses": result.losses,
        "evaluations": result.evaluations,
        "best_epoch": result.best_epoch,
        "best_metric": result.best_metric,
        "seconds": result.seconds,
    }
    (tmp / "state.json").write_text(json.dumps(state) + "\n", encoding="utf-8")
    old = checkpoint.with_name(CHECKPOINT + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if checkpoint.exists():
        os.replace(checkpoint, old)
    os.replace(tmp, checkpoint)
    shutil.rmtree(old, ignore_errors=True)


def _restore(
    task: TrainingTask[Any], checkpoint: Path, optimizer: Any, scheduler: Any, result: LoopResult, config: LoopConfig
) -> None:
    import torch
    from safetensors.torch import load_file, load_model

    state = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))
    load_model(task.model, str(checkpoint / "model.safetensors"))
    tensors = load_file(str(checkpoint / "optimizer.safetensors"))
    rest = json.loads((checkpoint / "optimizer.json").read_text(encoding="utf-8"))
    torch.set_rng_state(tensors.pop("rng"))
    scheduler.load_state_dict(rest.pop("scheduler"))
    optimizer.load_state_dict(_join_optimizer_state(tensors, rest))
    result.steps = result.resumed_at_step = int(state["steps"])
    result.losses = list(state["losses"])
    result.evaluations = list(state["evaluations"])
    result.best_epoch = int(state["best_epoch"])
    result.best_metric = float(state["best_metric"])
    result.seconds = float(state["seconds"])
    log.info("resuming from step %d of %s (seed %d)", result.steps, checkpoint, config.seed)


def _split_optimizer_state(state: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """An optimizer's ``state_dict`` as safetensors-ready tensors (``state.<param>.<name>``) and JSON (the rest)."""
    tensors: dict[str, Any] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for param, values in state["state"].items():
        for name, value in values.items():
            if hasattr(value, "contiguous"):
                tensors[f"state.{param}.{name}"] = value.contiguous()
            else:
                scalars.setdefault(str(param), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _join_optimizer_state(tensors: dict[str, Any], rest: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`_split_optimizer_state`."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        _, param, name = key.split(".", 2)
        state.setdefault(int(param), {})[name] = value
    for param, values in rest.get("scalars", {}).items():
        state.setdefault(int(param), {}).update(values)
    return {"state": state, "param_groups": rest["param_groups"]}
