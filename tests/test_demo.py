"""`gdlab demo`: the tour runs through the real command line, writes every figure, and its
page shows them all in headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "tour"
    proc = subprocess.run([sys.executable, "-m", "gdlab.cli", "demo", "--out", str(out),
                           "--grid", "31"], capture_output=True, text=True, check=False,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "open " in proc.stdout and "index.html" in proc.stdout
    assert "theta_new = [0.5448615, 0.21403]" in proc.stdout
    return out


@pytest.mark.slow
def test_demo_writes_figures_summary_and_page(demo_dir: Path) -> None:
    summary = json.loads((demo_dir / "summary.json").read_text())
    assert len(summary["models"]) == 6
    assert {r["model"] for r in summary["models"]} == {
        "LinearRegression", "LogisticRegression", "SoftmaxRegression"}
    scores = {(r["dataset"], r["optimizer"]): r["score"] for r in summary["models"]}
    assert scores[("digits", "adam")] > 0.93 and scores[("breast_cancer", "adam")] > 0.93
    assert scores[("diabetes", "gd")] > 0.3
    for name in summary["figures"]:
        data = (demo_dir / name).read_bytes()
        assert data[:4] in (b"\x89PNG", b"GIF8"), name
    page = (demo_dir / "index.html").read_text()
    assert all(f'src="{name}"' in page for name in summary["figures"])


@pytest.mark.slow
@pytest.mark.browser
def test_demo_page_shows_every_figure_in_headless_chromium(demo_dir: Path) -> None:
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("CI must have chromium and chromedriver (scripts/test.sh installs them)")
        pytest.skip("chromium / chromedriver not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={demo_dir}/.chrome"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get((demo_dir / "index.html").as_uri())
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete,"
            " i.naturalWidth, i.naturalHeight]);")
        assert "gdlab demo" in driver.title
    finally:
        driver.quit()
    summary = json.loads((demo_dir / "summary.json").read_text())
    assert [img[0] for img in images] == summary["figures"]
    for src, complete, width, height in images:
        assert complete and width > 200 and height > 150, (src, width, height)
