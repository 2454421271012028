"""The visual-difference sensor: how different a screenshot looks from every known-good render.

A screenshot is reduced to a grid of mean grey levels (64 x 45 cells of 20 x 20 pixels for the 1280 x 900
viewport, Pillow's box filter): small enough to keep a dozen per site, coarse enough that a changed date
or counter moves a cell by a few grey levels while a replaced banner, a black "hacked" page or a new
picture moves many cells a lot. Cells that already differ between the known-good renders (a rotating
banner, a carousel) are *volatile* and never counted, like the volatile text of a page profile. The
sensor's number is the share of stable cells that differ from the *nearest* known-good render.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

GRID = (64, 45)
CELL_DELTA = 24          # grey levels (of 255) a cell must move to count as different
MAX_BASELINES = 8
MIN_STABLE = 0.25        # below this share of stable cells the sensor abstains (the page is all motion)
ALARM = 0.7              # "looks 70%+ different from every known-good render": defaced on its own
SUSPECT = 0.5            # adds to other evidence
MAX_PIXELS = 4096 * 4096


class VisualError(ValueError):
    """The screenshot is not an image we can read."""


def fingerprint(png: bytes) -> bytes:
    """The screenshot as GRID cells of mean grey (one byte per cell)."""
    try:
        with Image.open(io.BytesIO(png)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise VisualError(f"screenshot too large ({image.width}x{image.height})")
            return image.convert("L").resize(GRID, Image.Resampling.BOX).tobytes()
    except (UnidentifiedImageError, OSError) as exc:
        raise VisualError(f"not a readable screenshot: {exc}") from None


def _differs(a: bytes, b: bytes, cells: list[int]) -> int:
    return sum(1 for i in cells if abs(a[i] - b[i]) > CELL_DELTA)


@dataclass
class Baseline:
    """Known-good fingerprints of one page (newest last) and the screenshots they came from."""

    prints: list[bytes]
    shots: list[str]

    @classmethod
    def empty(cls) -> Baseline:
        return cls([], [])

    @property
    def learned(self) -> bool:
        return bool(self.prints)

    def stable_cells(self) -> list[int]:
        """Cells on which every known-good render agrees."""
        size = GRID[0] * GRID[1]
        if len(self.prints) < 2:
            return list(range(size))
        return [i for i in range(size) if max(p[i] for p in self.prints) - min(p[i] for p in self.prints)
                <= CELL_DELTA]

    def difference(self, current: bytes) -> tuple[float | None, int]:
        """(share of stable cells differing from the nearest known-good, its index); None: abstain."""
        if not self.prints:
            return None, -1
        cells = self.stable_cells()
        if len(cells) < MIN_STABLE * GRID[0] * GRID[1]:
            return None, -1
        counts = [_differs(current, known, cells) for known in self.prints]
        nearest = min(range(len(counts)), key=counts.__getitem__)
        return round(counts[nearest] / len(cells), 4), nearest

    def add(self, current: bytes, shot: str) -> None:
        """Accept a render as known-good (the oldest drops out past MAX_BASELINES)."""
        self.prints.append(current)
        self.shots.append(shot)
        del self.prints[:-MAX_BASELINES], self.shots[:-MAX_BASELINES]

    def to_dict(self) -> dict[str, list[str]]:
        return {"prints": [base64.b64encode(p).decode("ascii") for p in self.prints], "shots": list(self.shots)}

    @classmethod
    def from_dict(cls, data: object) -> Baseline:
        """Read a saved baseline; anything malformed is dropped (it is relearned), never trusted."""
        if not isinstance(data, dict):
            return cls.empty()
        size = GRID[0] * GRID[1]
        prints, shots = [], []
        for raw, shot in zip(data.get("prints") or [], data.get("shots") or [], strict=False):
            try:
                decoded = base64.b64decode(str(raw), validate=True)
            except ValueError:
                continue
            if len(decoded) == size and isinstance(shot, str):
                prints.append(decoded)
                shots.append(shot)
        return cls(prints[-MAX_BASELINES:], shots[-MAX_BASELINES:])


def weight(difference: float | None) -> float:
    """The sensor's weight for the detector's noisy-or."""
    if difference is None or difference < SUSPECT:
        return 0.0
    return 0.75 if difference >= ALARM else 0.35


def reason(difference: float, known: int) -> str:
    return (f"screenshot looks {difference * 100:.0f}% different from every known-good render "
            f"({known} known-good, block-wise over {GRID[0]}x{GRID[1]} cells)")
