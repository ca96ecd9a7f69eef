"""The network page in headless Chromium: the maps the page decodes equal the Python model's
outputs after each replayed epoch (within the uint8 quantization), the scrubber and the play
button move the drawing through the epochs, the page fits a phone, the console stays clean and
nothing is loaded."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from _browser import chromium, need_browser, requested_urls

from gdlab.estimators.persist import load_model
from gdlab.playground.network import GRID, UNIT_GRID, network_data, train_network

pytestmark = pytest.mark.browser

ARGS = ["--network", "circles", "--hidden", "5,3", "--epochs", "150", "--seed", "2"]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A page written through the real command line."""
    need_browser()
    path = tmp_path_factory.mktemp("network") / "circles.html"
    proc = subprocess.run([sys.executable, "-m", "gdlab.cli", "playground", *ARGS, "--out",
                           str(path)], capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return path


@pytest.fixture(scope="module")
def replay() -> Any:
    """The same fit in this process (seeded: the same weights epoch for epoch)."""
    return train_network(network_data("circles", seed=2), hidden=(5, 3), epochs=150, seed=2)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from chromium(tmp_path_factory.mktemp("chrome"))


def _open(driver: Any, path: Path) -> None:
    driver.get("about:blank")
    driver.get(path.as_uri())
    n = driver.execute_script("return window.gdlab.network.ready")
    assert n == 101


def _snapshot(driver: Any, i: int) -> dict[str, Any]:
    return driver.execute_script(  # type: ignore[no-any-return]
        "return window.gdlab.network.snapshot(arguments[0])", i)


def _canvas(driver: Any, cid: str) -> str:
    return driver.execute_script(  # type: ignore[no-any-return]
        "return document.getElementById(arguments[0]).toDataURL()", cid)


def _until(driver: Any, condition: str, seconds: float = 10.0) -> None:
    """Wait until the JavaScript expression ``condition`` holds (the timers of a busy
    machine run late)."""
    ok = driver.execute_script(
        "const end = Date.now() + arguments[0];"
        "return new Promise(r => { const t = () => (" + condition + ") ? r(true)"
        " : Date.now() > end ? r(false) : setTimeout(t, 20); t(); });", seconds * 1000)
    assert ok, condition


def test_the_page_s_maps_are_the_python_model_s_after_each_epoch(driver: Any, page: Path,
                                                                 replay: Any) -> None:
    _open(driver, page)
    epochs = driver.execute_script("return window.gdlab.network.epochs")
    assert len(epochs) == 101 and epochs[0] == 0 and epochs[-1] == 150
    for i in (0, 1, 37, 100):
        snap = _snapshot(driver, i)
        e = epochs[i]
        assert snap["epoch"] == e
        proba = np.array(snap["proba"]).reshape(GRID, GRID)
        np.testing.assert_allclose(proba, replay.proba_map(e), atol=0.5 / 255 + 1e-9)
        units = np.concatenate(replay.unit_maps(e))
        page_units = np.array([m for layer in snap["units"] for m in layer])
        assert page_units.shape == (8, UNIT_GRID * UNIT_GRID)
        for u in range(8):
            want = units[u].ravel()
            tol = 0.5 * np.ptp(want) / 255 + 1e-6 * np.abs(want).max()
            np.testing.assert_allclose(page_units[u], want, atol=tol)
        assert snap["trainLoss"] == pytest.approx(replay.train_loss[e], rel=1e-6)
        assert snap["testLoss"] == pytest.approx(replay.test_loss[e], rel=1e-6)
    # the last map is what the model file beside the page predicts
    model = load_model(page.with_suffix(".npz"))
    xs, ys = replay.axes(GRID)
    xx, yy = np.meshgrid(xs, ys)
    P = model.estimator.predict_proba(model.transform(pd.DataFrame({"x1": xx.ravel(),
                                                                    "x2": yy.ravel()})))
    np.testing.assert_allclose(_snapshot(driver, 100)["proba"], P[:, 1], atol=0.5 / 255 + 1e-9)
    # and the links of the drawing are its weights (4 significant digits)
    weights = driver.execute_script("return window.gdlab.network.spec.weights[100]")
    np.testing.assert_allclose(weights, np.concatenate([W.ravel() for W in
                                                        model.estimator.coefs_]), rtol=5e-4)
    assert driver.get_log("browser") == []


def test_the_scrubber_and_play_move_through_the_epochs(driver: Any, page: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open(driver, page)
    # the page opens on the last epoch
    assert driver.execute_script("return window.gdlab.network.current()") == 100
    out = driver.find_element(By.ID, "epoch-out")
    assert out.text == "epoch 150 / 150"
    end = {c: _canvas(driver, c) for c in ("boundary", "loss", "unit-0-0", "unit-1-2",
                                            "graph")}
    slider = driver.find_element(By.ID, "epoch")
    slider.send_keys(Keys.HOME)
    assert driver.execute_script("return window.gdlab.network.current()") == 0
    assert out.text == "epoch 0 / 150"
    start = {c: _canvas(driver, c) for c in end}
    assert all(start[c] != end[c] for c in end), "every drawing changes with the epoch"
    text = driver.find_element(By.ID, "loss-text").text
    assert text.startswith("after epoch 0: training loss 0.") and "test loss 0." in text
    slider.send_keys(Keys.ARROW_RIGHT * 10)
    assert driver.execute_script("return window.gdlab.network.current()") == 10
    assert out.text == "epoch 15 / 150" and _canvas(driver, "boundary") != start["boundary"]
    # Play runs forward from there, Pause stops it
    play = driver.find_element(By.ID, "play")
    play.click()
    assert play.text == "Pause"
    _until(driver, "window.gdlab.network.current() >= 12")
    play.click()
    moved = driver.execute_script("return window.gdlab.network.current()")
    assert 12 <= moved < 100 and play.text == "Play"
    assert not driver.execute_script("return window.gdlab.network.playing()")
    driver.execute_script("return new Promise(r => setTimeout(r, 300))")
    assert driver.execute_script("return window.gdlab.network.current()") == moved
    # played to the end it stops on its own
    driver.execute_script("window.gdlab.network.show(97)")
    play.click()
    _until(driver, "!window.gdlab.network.playing()")
    assert driver.execute_script("return window.gdlab.network.current()") == 100
    assert play.text == "Play"
    assert _canvas(driver, "boundary") == end["boundary"]
    # one small map per hidden unit, laid out per layer, and the files named
    heads = [h.text for h in driver.find_elements(By.CSS_SELECTOR, ".layer h3")]
    assert heads == ["layer 1: 5 tanh units", "layer 2: 3 tanh units"]
    assert len(driver.find_elements(By.CSS_SELECTOR, ".layer canvas")) == 8
    files = driver.find_element(By.ID, "files").text
    assert "circles.npz" in files and "gdlab predict circles.npz" in files
    assert "gdlab dataset circles --samples 400 --noise 0.1 --seed 2" in files
    assert driver.get_log("browser") == []


def test_the_page_makes_no_network_request(driver: Any, page: Path) -> None:
    from selenium.webdriver.common.by import By

    driver.get_log("performance")
    _open(driver, page)
    driver.find_element(By.ID, "play").click()
    driver.execute_script("return new Promise(r => setTimeout(r, 300))")
    urls = requested_urls(driver)
    assert urls and all(u.startswith(("file:", "data:", "about:", "blob:")) for u in urls), urls
    assert not [u for u in urls if u.startswith("file:") and not u.endswith(page.name)]
    assert driver.get_log("browser") == []


def test_the_page_fits_a_phone_and_a_desktop(driver: Any, page: Path) -> None:
    try:
        for width in (390, 1280):
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": 844, "deviceScaleFactor": 2, "mobile": width < 500})
            _open(driver, page)
            # a layout change redraws on the next frame (a ResizeObserver)
            driver.execute_script("return new Promise(r => setTimeout(r, 300))")
            m = driver.execute_script("""
                const doc = document.documentElement, b = document.getElementById('boundary');
                const r = b.getBoundingClientRect();
                return {viewport: doc.clientWidth, page: doc.scrollWidth, width: r.width,
                        right: r.right, backing: b.width, inner: b.clientWidth,
                        font: parseFloat(getComputedStyle(document.body).fontSize)};""")
            assert m["page"] <= m["viewport"], (width, m)  # nothing scrolls sideways
            assert m["right"] <= m["viewport"] and m["width"] >= min(300, width - 40), m
            # drawn at the screen's resolution (2 pixels per CSS pixel here)
            assert m["backing"] == 2 * m["inner"], m
            assert m["font"] >= 16
        assert driver.get_log("browser") == []
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
