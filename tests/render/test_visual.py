"""The visual-difference sensor on synthetic screenshots (no browser): volatile regions are ignored, a
replaced page is measured, a malformed saved baseline is dropped rather than trusted."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageDraw

from govwatch.collector.render import visual


def shot(background: int, banner: int | None = None) -> bytes:
    image = Image.new("L", (1280, 900), background)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 1280, 80), fill=40)
    if banner is not None:
        draw.rectangle((0, 100, 1280, 300), fill=banner)   # a rotating banner, 22% of the screen
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def test_rotating_banner_is_volatile_and_a_replaced_page_is_not():
    baseline = visual.Baseline.empty()
    for index, banner in enumerate((30, 140, 250)):
        baseline.add(visual.fingerprint(shot(235, banner)), f"s{index}")
    assert baseline.difference(visual.fingerprint(shot(235, 90)))[0] == 0.0
    difference, nearest = baseline.difference(visual.fingerprint(shot(5, 90)))
    assert difference > visual.ALARM and nearest >= 0
    assert visual.weight(difference) >= 0.5
    assert "different from every known-good render" in visual.reason(difference, 3)


def test_no_baseline_abstains():
    assert visual.Baseline.empty().difference(visual.fingerprint(shot(200))) == (None, -1)
    assert visual.weight(None) == 0.0


def test_malformed_baseline_is_dropped_and_bad_images_refused():
    good = visual.Baseline.empty()
    good.add(visual.fingerprint(shot(200)), "ok")
    saved = good.to_dict()
    saved["prints"].append("not base64!!")
    saved["shots"].append("x")
    assert len(visual.Baseline.from_dict(saved).prints) == 1
    assert visual.Baseline.from_dict("junk").prints == []
    with pytest.raises(visual.VisualError):
        visual.fingerprint(b"\x89PNG not really")
