"""`gdlab demo`: the tour runs through the real command line, writes every figure and its
playgrounds, and its page teaches from them; headless Chromium shows every figure at desktop
and phone widths."""

from __future__ import annotations

import json
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from _browser import chromium


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo") / "tour"
    proc = subprocess.run([sys.executable, "-m", "gdlab.cli", "demo", "--out", str(out),
                           "--grid", "31"], capture_output=True, text=True, check=False,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "open " in proc.stdout and "index.html" in proc.stdout
    assert "theta_new = [0.5448615, 0.21403]" in proc.stdout
    assert ("playgrounds: playground_peaks.html, playground_quartic_1d.html, "
            "playground_quadratic_bowl.html, playground_network.html") in proc.stdout
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
    # the network separates the spirals; logistic regression is near chance
    net = summary["network"]
    assert net["network_accuracy"] > 0.95 and net["linear_accuracy"] < 0.65
    for name in summary["figures"]:
        data = (demo_dir / name).read_bytes()
        assert data[:4] in (b"\x89PNG", b"GIF8"), name
    page = (demo_dir / "index.html").read_text()
    assert all(f'src="{name}"' in page for name in summary["figures"])
    assert '<section id="network">' in page and "gdlab explain --model mlp" in page
    assert "http://" not in page and "https://" not in page


@pytest.mark.slow
def test_demo_page_teaches_inputs_scores_and_markers(demo_dir: Path) -> None:
    summary = json.loads((demo_dir / "summary.json").read_text())
    page = (demo_dir / "index.html").read_text()
    # the worked step: its inputs, not only its outputs
    assert summary["worked_step"]["lr"] == 0.01
    for text in ("<h3>Inputs</h3>", "[6.7, 1]<br>[4.6, 1]<br>[3.5, 1]<br>[5.5, 1]",
                 "[9.1, 5.9, 4.6, 6.7]", "[-0.34, 0.049]", "<td>lr</td>", "<h3>Outputs</h3>",
                 "[0.544861, 0.21403]"):
        assert text in page, text
    # every score beside scikit-learn's exact solver of the same objective on the same split
    for r in summary["models"]:
        assert r["sklearn_model"] in ("Ridge (closed form)", "LogisticRegression (lbfgs)")
        assert abs(r["score"] - r["sklearn_score"]) < 0.03, r
        assert f"<b>{r['score']:.4f}</b></td><td class=\"r\">{r['sklearn_score']:.4f}" in page
    by = {r["dataset"]: r for r in summary["models"]}
    assert by["diabetes"]["n_train"] == 331 and by["diabetes"]["n_test"] == 111
    # each section says what it claims; markers are explained under the figures
    assert page.count('<p class="claim">') >= 6
    for marker in ("large circle: the start", "square: where the descent stopped",
                   "white star: a minimum", "red triangle: a maximum",
                   "yellow cross: a saddle point", "small dots: evenly spaced steps"):
        assert marker in page
    # one panel per optimizer, so paths that overlap on the shared map are each visible
    assert [f for f in summary["figures"] if f.startswith("peaks_") and f[6:-4] in
            ("gd", "momentum", "adam")] == ["peaks_gd.png", "peaks_momentum.png",
                                            "peaks_adam.png"]
    # the playgrounds are written next to index.html and linked
    files = [g["file"] for g in summary["playgrounds"]]
    assert files == ["playground_peaks.html", "playground_quartic_1d.html",
                     "playground_quadratic_bowl.html", "playground_network.html"]
    for name in files:
        assert f'href="{name}"' in page
        text = (demo_dir / name).read_text()
        assert "window.gdlab = {" in text and "https://" not in text
    # the network playground: linked from the playgrounds and the network section, its
    # model file beside it
    assert page.count('href="playground_network.html"') == 2
    assert summary["playgrounds"][-1]["model"] == "playground_network.npz"
    from gdlab.estimators.persist import load_model

    model = load_model(demo_dir / "playground_network.npz")
    assert model.target == "label" and [W.shape[1] for W in model.estimator.coefs_] == [8, 8, 1]


@pytest.mark.slow
@pytest.mark.browser
def test_demo_page_shows_every_figure_in_headless_chromium(demo_dir: Path) -> None:
    browser = contextmanager(chromium)(demo_dir / ".chrome", window=None, logs=("browser",))
    layout = {}
    with browser as driver:
        for width in (1280, 390):  # desktop, and a phone's CSS width
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 500})
            driver.get((demo_dir / "index.html").as_uri())
            driver.execute_script("return Promise.all(Array.from(document.images).map(i =>"
                                  " i.decode().catch(() => null)))")
            images = driver.execute_script(
                "return Array.from(document.images).map(i => [i.getAttribute('src'), i.complete,"
                " i.naturalWidth, i.naturalHeight, i.getBoundingClientRect().width]);")
            layout[width] = driver.execute_script("""
                const doc = document.documentElement, out = {};
                out.viewport = doc.clientWidth; out.page = doc.scrollWidth;
                out.font = parseFloat(getComputedStyle(document.querySelector('.claim')).fontSize);
                // the gdlab and scikit-learn scores of the first model row, on screen
                const cells = document.querySelectorAll('#models tbody tr:first-child td');
                out.scores = [cells[2].getBoundingClientRect().right,
                              cells[3].getBoundingClientRect().right];
                return out;""")
            assert "gdlab demo" in driver.title
            assert driver.get_log("browser") == []
            summary = json.loads((demo_dir / "summary.json").read_text())
            assert [img[0] for img in images] == summary["figures"]
            for src, complete, w, h, shown in images:
                assert complete and w > 200 and h > 150, (src, w, h)
                assert 0 < shown <= width, (src, shown)
        # a playground link opens the page
        driver.get((demo_dir / "index.html").as_uri())
        driver.find_element("css selector", 'a[href="playground_peaks.html"]').click()
        assert driver.title == "gdlab playground: peaks"
        assert driver.execute_script("return window.gdlab.race().length") == 4
        driver.get((demo_dir / "index.html").as_uri())
        driver.find_element("css selector", '#network a[href="playground_network.html"]').click()
        assert driver.title == "gdlab playground: a network on spirals"
        assert driver.execute_script("return window.gdlab.network.ready") == 101
        assert driver.get_log("browser") == []
    for width, m in layout.items():
        # readable: no sideways scrolling of the page, body text of at least 16 px, and the
        # two scores of a model side by side inside the screen
        assert width - 20 <= m["viewport"] <= width and m["page"] <= m["viewport"], (width, m)
        assert m["font"] >= 16, m
        assert max(m["scores"]) <= width, (width, m)
