"""cnnsweep's own `--help`: the groups a user picks, the built-in sweeps with one line each, the
common keys and where the docs are; read from the config folders, so it lists what is there.

Hydra's generic help (its options, `$APP_CONFIG_GROUPS` with the internal `schema/*` groups)
stays available as `--hydra-help`.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

# The groups a user picks, in the order a run's config composes them.
GROUPS = ("dataset", "arch", "optimizer", "init", "trainer", "hydra/launcher")
COMMON_KEYS = (
    "seed", "trainer.epochs", "trainer.batch_size", "trainer.threads", "trainer.weight_decay",
    "optimizer.lr", "init.std", "conv.filter_num", "conv.filter_size", "conv.pad", "conv.stride",
    "hidden_size", "dataset.train_size", "dataset.data_dir", "compare.by", "compare.metric",
    "hydra.sweep.dir", "hydra.launcher.n_jobs",
)
SENTENCE = re.compile(r"(.+?[.:;])(\s|$)")


def first_sentence(yaml_file: Path) -> str:
    """The first sentence of a config file's leading comment (its `# @package` line skipped)."""
    words = []
    for line in yaml_file.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text.startswith("@package") or not text:
            continue
        words.append(text)
        match = SENTENCE.match(" ".join(words))
        if match:
            return match.group(1).rstrip(":;")
    return " ".join(words)


def _options(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def help_text(program: str, config_dir: Path, sweeps_dir: Path) -> str:
    base = program.removesuffix(" run")
    usage = [(f"{program} [GROUP=OPTION ...] [KEY=VALUE ...]", "one run"),
             (f"{program} -m KEY=V1,V2 [GROUP=A,B ...]", "a sweep: every combination, in parallel"),
             (f"{program} -m +sweep=NAME [overrides ...]", "a built-in sweep (below)"),
             (f"{base} compare DIR [DIR ...] [--by KEY]", "compare finished runs")]
    width = max(len(command) for command, _ in usage) + 2
    lines = [f"{base}: train the book's networks (NumPy) and sweep their settings with Hydra.", "",
             *(f"  {command:{width}}{what}" for command, what in usage),
             "", "Groups (GROUP=OPTION; * the default):"]
    defaults = _defaults(config_dir / "config.yaml")
    for group in GROUPS:
        options = _options(config_dir / group)
        marked = [f"{o}*" if defaults.get(group) == o else o for o in options]
        lines.append(f"  {group + ':':16} {', '.join(marked)}")
    lines.append(f"  {'':16} (also ray, submitit_local, submitit_slurm: README, Scaling out)")
    lines += ["", "Built-in sweeps (+sweep=NAME):"]
    for sweep in sorted(sweeps_dir.glob("*.yaml")):
        lines.append(f"  {sweep.stem:22} {first_sentence(sweep)}")
    lines += ["", *textwrap.wrap("Common keys: " + ", ".join(COMMON_KEYS), 100,
                                 subsequent_indent="  "),
              "", f"  {program} --cfg job [overrides]   the composed config, every key and value",
              f"  {program} --hydra-help            Hydra's own options",
              "", "Docs: README.md (sweeps, launchers, run folders, exit codes), "
                  "docs/architecture.md, docs/extending.md."]
    return "\n".join(lines)


def _defaults(config_yaml: Path) -> dict[str, str]:
    """`group: option` entries of config.yaml's defaults list (`override hydra/launcher: local`
    included)."""
    found = {}
    for line in config_yaml.read_text(encoding="utf-8").splitlines():
        match = re.match(r"\s*-\s*(?:override\s+)?([\w/]+):\s*(\w+)", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found
