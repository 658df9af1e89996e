"""Figure types, each a function that computes the numbers it shows as a DataFrame and one that
draws that DataFrame; `cnnsweep.plots` registers them by name."""

from __future__ import annotations

from dataclasses import dataclass

from cnnsweep.compare_options import CompareOptions
from cnnsweep.figures.style import PAGES, Page, Palette


@dataclass(frozen=True)
class FigureContext:
    """What every figure of one report shares, so that they agree with each other."""

    options: CompareOptions
    palette: Palette  # one colour and marker per setting, for every figure
    panel: str | None  # the key whose values split curves into panels
    panel_order: tuple[object, ...] = (None,)  # its values, in the one order every figure uses
    spread: str = "seeds"  # what the runs of a setting differ by: "seeds" or "runs"
    pooled: str = ""  # "pooled over conv.filter_num (2 values)", when keys were left out
    page: Page = PAGES["page"]  # the paper width every figure is drawn for, and its fonts

    @property
    def metric(self) -> str:
        return self.options.metric
