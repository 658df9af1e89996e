"""Settings that did not learn, and the likely cause when the config shows one.

A network that predicts every class alike scores the chance loss ln C (2.30 for MNIST's ten
classes) and the chance accuracy 1/C. A setting whose final training loss stays at that level,
or whose accuracy stays near chance, did not learn: a true result, but one a report has to say
aloud, or a reader takes "SGD at 17%" for a broken optimizer.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from cnnsweep.results import Results

DEFAULT_CLASSES = 10  # every shipped dataset source (MNIST); an `idx` source may say otherwise
# A final loss within 1% of ln C is "at chance": the book's std-0.01 networks sit at 2.302 for
# ten classes, while one that learns slowly (batch_norm's std 0.086 without batch norm, 38%
# train accuracy) is already 2% below.
LOSS_BAND = 0.01
ACCURACY_MARGIN = 0.05  # an accuracy below 1/C + 0.05 is "near chance"
TINY_STD = 0.05  # the book's std 0.01 (and up to 0.03 in its batch-norm figure) does not learn
TINY_LR = 1e-4  # plain SGD moves nowhere in a short run below this
LISTED = 4  # settings named in the sentence; the table's note column has every one
# No per-weight step size to rescue a tiny signal; as a sentence names them.
PLAIN_SGD = {"sgd": "plain SGD", "momentum": "Momentum", "nesterov": "Nesterov"}


def _first(group: pd.DataFrame, column: str) -> object:
    return group[column].iloc[0] if column in group else None


def _number(group: pd.DataFrame, column: str) -> float:
    return float(pd.to_numeric(pd.Series([_first(group, column)]), errors="coerce").iloc[0])


# A cause, with {values} for the config values of the settings it explains.
TINY_INIT = ("weights drawn with std {values} and {optimizer}: the signal fades through the "
             "layers (init=he or optimizer=adam learn)")
TINY_STEP = "learning rate {values} is too small for {optimizer}"


def likely_cause(group: pd.DataFrame) -> tuple[str, float] | None:
    """What in the config explains a setting that did not learn: a cause (with `{values}` for
    its config value) and that value; None when nothing does."""
    optimizer = str(_first(group, "optimizer.name") or "")
    if optimizer not in PLAIN_SGD:
        return None
    std = _number(group, "init.std")
    if _first(group, "init.name") == "std" and std <= TINY_STD and \
            not bool(_first(group, "batchnorm")):
        return TINY_INIT.replace("{optimizer}", PLAIN_SGD[optimizer]), std
    lr = _number(group, "optimizer.lr")
    if lr < TINY_LR:
        return TINY_STEP.replace("{optimizer}", PLAIN_SGD[optimizer]), lr
    return None


def not_learned(results: Results, metric: str) -> pd.DataFrame:
    """One row per setting whose finished runs stayed at chance, by their mean final training
    loss or accuracy: setting, note ("did not learn: loss 2.30, chance 2.30"), the likely
    cause ("" when the config shows none) and the config value it names."""
    accuracy = metric if metric.endswith("_acc") else "test_acc"
    rows = []
    for setting, group in results.ok.groupby("setting", sort=False):
        classes = pd.to_numeric(group.get("dataset.n_classes", pd.Series(dtype=float)),
                                errors="coerce").dropna()
        count = int(classes.iloc[0]) if len(classes) else DEFAULT_CLASSES
        chance_loss, chance_acc = math.log(count), 1 / count
        loss = _mean(group, "final_train_loss")
        acc = _mean(group, accuracy)
        at_chance = not np.isnan(loss) and abs(loss - chance_loss) <= LOSS_BAND * chance_loss
        near_chance = not np.isnan(acc) and acc < chance_acc + ACCURACY_MARGIN
        if at_chance or near_chance:
            what = f"loss {loss:.2f}, chance {chance_loss:.2f}" if at_chance else \
                f"{accuracy} {acc:.3f}, chance {chance_acc:.2f}"
            cause, value = likely_cause(group) or ("", np.nan)
            rows.append({"setting": setting, "note": f"did not learn: {what}",
                         "cause": cause, "value": value})
    return pd.DataFrame(rows, columns=["setting", "note", "cause", "value"])


def _mean(group: pd.DataFrame, column: str) -> float:
    if column not in group:
        return np.nan
    return float(pd.to_numeric(group[column], errors="coerce").mean())


def not_learned_sentence(flagged: pd.DataFrame, listed: int = LISTED) -> str:
    """The report's sentences on the settings that did not learn ("" when all learned):
    settings with the same likely cause together, at most `listed` of them by name."""
    sentences = []
    for cause, part in flagged.groupby("cause", sort=False):
        names = [f"{row.setting} ({row.note.removeprefix('did not learn: ')})"
                 for row in part.itertuples()]
        more = len(names) - listed
        shown = "; ".join(names[:listed]) + (f"; and {more} more (the settings table's note "
                                             "column)" if more > 0 else "")
        text = f"Did not learn: {shown}."
        if cause:
            values = sorted(set(part["value"]))
            span = f"{values[0]:.3g}" if len(values) == 1 else \
                f"{values[0]:.3g} to {values[-1]:.3g}"
            text += " Likely cause: " + cause.replace("{values}", span) + "."
        sentences.append(text)
    return " ".join(sentences)
