"""The playground in headless Chromium: one truth with the library, interactions, no network.

Every trajectory the page computes (``window.gdlab.descend``) must equal
``gdlab.functions.descent.minimize``'s for the same settings, point for point, for every
optimizer and schedule; the basin map must equal ``basins``; clicks, drags and sliders must
change the drawn race; the console must stay clean and the page must load nothing.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _browser import chromium, need_browser, requested_urls

from gdlab.core.optim import get_optimizer
from gdlab.functions.descent import basins, minimize
from gdlab.functions.surfaces import SURFACES

pytestmark = pytest.mark.browser

EXPR = "x^2 + 3*y^2 + sin(x*y) + 0.5*x"  # a typed expression (not a named surface)
EXPR_DOMAIN = [(-2.0, 2.0), (-2.0, 2.0)]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Pages written through the real command line."""
    need_browser()
    out = tmp_path_factory.mktemp("playground")
    specs = {
        "peaks": ["peaks"],
        "expr": [EXPR, "--domain", "-2,2,-2,2"],
        "expr_free": ["x^2 + 3*y^2 - x*y"],
        "quartic": ["quartic_1d"],
    }
    paths = {}
    for key, args in specs.items():
        path = out / f"{key}.html"
        proc = subprocess.run([sys.executable, "-m", "gdlab.cli", "playground", *args, "--out",
                               str(path)], capture_output=True, text=True, check=False,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert f"wrote {path}" in proc.stdout
        paths[key] = path
    return paths


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from chromium(tmp_path_factory.mktemp("chrome"))


def _open(driver: Any, path: Path, fragment: str = "") -> None:
    driver.get("about:blank")
    driver.get(path.as_uri() + fragment)
    driver.execute_script("return document.readyState")
    driver.get_log("browser")  # start each page with an empty console record


def _js_descend(driver: Any, **opts: Any) -> dict[str, Any]:
    return driver.execute_script(  # type: ignore[no-any-return]
        "const r = window.gdlab.descend(arguments[0]);"
        "return {points: r.points, values: r.values, status: r.status};", opts)


def _arr(rows: list[Any]) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def _assert_same(page: dict[str, Any], res: Any) -> None:
    assert page["status"] == res.status
    P = _arr(page["points"])
    V = np.array([np.nan if v is None else v for v in page["values"]], dtype=float)
    assert P.shape == res.points.shape
    # 1e-6 relative; atol for coordinates that cross zero (the gradients differ in the last bits)
    np.testing.assert_allclose(P, res.points, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(V, res.values, rtol=1e-6, atol=1e-12)


# (name, page options, gdlab optimizer): every optimizer, Momentum and Nesterov in both forms,
# and the options that move eps or add buffers
OPTIMIZERS = [
    ("gd", {}, "gd"),
    ("sgd", {"momentum": 0.8, "dampening": 0.1}, get_optimizer("sgd", momentum=0.8,
                                                                 dampening=0.1)),
    ("momentum", {}, "momentum"),
    ("momentum_torch", {"form": "torch", "beta": 0.7}, get_optimizer("momentum", form="torch",
                                                                       beta=0.7)),
    ("nesterov", {}, "nesterov"),
    ("nesterov_torch", {"form": "torch"}, get_optimizer("nesterov", form="torch")),
    ("adagrad", {}, "adagrad"),
    ("adagrad_eps_inside", {"eps_inside_sqrt": True, "initial_accumulator_value": 0.1},
     get_optimizer("adagrad", eps_inside_sqrt=True, initial_accumulator_value=0.1)),
    ("rmsprop", {}, "rmsprop"),
    ("rmsprop_centered", {"alpha": 0.9, "centered": True, "momentum": 0.5},
     get_optimizer("rmsprop", alpha=0.9, centered=True, momentum=0.5)),
    ("adam", {}, "adam"),
    ("adam_amsgrad", {"beta1": 0.8, "beta2": 0.99, "amsgrad": True, "weight_decay": 0.01},
     get_optimizer("adam", beta1=0.8, beta2=0.99, amsgrad=True, weight_decay=0.01)),
    ("adamw", {}, "adamw"),
    ("adamw_decay", {"weight_decay": 0.1}, get_optimizer("adamw", weight_decay=0.1)),
]


def _page_name(name: str) -> str:
    return name.split("_")[0]


@pytest.mark.parametrize(("name", "opts", "opt"), OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_every_optimizer_equals_minimize_on_peaks(driver: Any, pages: dict[str, Path], name: str,
                                                  opts: dict[str, Any], opt: Any) -> None:
    _open(driver, pages["peaks"])
    for start, lr, steps in (((0.5, 1.0), 0.02, 150), ((-1.9, 2.2), 0.05, 300)):
        page = _js_descend(driver, optimizer=_page_name(name), lr=lr, start=list(start),
                           steps=steps, tol=0, **opts)
        res = minimize("peaks", start, optimizer=opt, lr=lr, steps=steps, tol=0)
        _assert_same(page, res)
    assert driver.get_log("browser") == []


@pytest.mark.parametrize(("name", "opts", "opt"), OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_every_optimizer_equals_minimize_on_a_typed_expression(
        driver: Any, pages: dict[str, Path], name: str, opts: dict[str, Any], opt: Any) -> None:
    _open(driver, pages["expr"])
    page = _js_descend(driver, optimizer=_page_name(name), lr=0.05, start=[1.5, -1.2],
                       steps=250, tol=0, **opts)
    res = minimize(EXPR, (1.5, -1.2), optimizer=opt, lr=0.05, steps=250, tol=0,
                   domain=EXPR_DOMAIN)
    _assert_same(page, res)
    # without --domain the descent is unbounded, as minimize's default for an expression
    _open(driver, pages["expr_free"])
    page = _js_descend(driver, optimizer=_page_name(name), lr=0.1, start=[2.5, 1.0], steps=150,
                       tol=0, **opts)
    _assert_same(page, minimize("x^2 + 3*y^2 - x*y", (2.5, 1.0), optimizer=opt, lr=0.1,
                                steps=150, tol=0))


SCHEDULES = ["constant", "step", "multistep", "exponential", "invscaling", "polynomial", "cosine",
             "cosine_restarts", "warmup", "onecycle", "dynamic"]


def test_every_schedule_and_the_grad_scaled_rate_equal_minimize(driver: Any,
                                                                pages: dict[str, Path]) -> None:
    _open(driver, pages["peaks"])
    names = driver.execute_script("return gdlabOptim.SCHEDULES")
    assert names == SCHEDULES
    for schedule in SCHEDULES:
        for optimizer in ("momentum", "adam"):
            page = _js_descend(driver, optimizer=optimizer, lr=0.03, start=[0.5, 1.0], steps=240,
                               tol=0, schedule=schedule)
            res = minimize("peaks", (0.5, 1.0), optimizer=optimizer, lr=0.03, steps=240, tol=0,
                           schedule=schedule)
            _assert_same(page, res)
    page = _js_descend(driver, optimizer="gd", lr=0.05, start=[0.5, 1.0], steps=200, tol=0,
                       lr_mode="grad_scaled", schedule="cosine")
    _assert_same(page, minimize("peaks", (0.5, 1.0), lr=0.05, steps=200, tol=0,
                                lr_mode="grad_scaled", schedule="cosine"))


def test_stop_reasons_equal_minimize(driver: Any, pages: dict[str, Path]) -> None:
    _open(driver, pages["peaks"])
    cases = [  # (start, optimizer, lr, steps, tol, expected status)
        ((0.5, 1.0), "gd", 0.02, 2000, 1e-6, "converged"),
        ((-2.5, 2.5), "adam", 0.5, 400, 0.0, "left_domain"),
        ((0.5, 1.0), "gd", 0.02, 50, 0.0, "step_limit"),
    ]
    for start, opt, lr, steps, tol, status in cases:
        page = _js_descend(driver, optimizer=opt, lr=lr, start=list(start), steps=steps, tol=tol)
        res = minimize("peaks", start, optimizer=opt, lr=lr, steps=steps, tol=tol)
        assert res.status == status
        _assert_same(page, res)
    _open(driver, pages["expr_free"])
    page = _js_descend(driver, optimizer="gd", lr=1.0, start=[1.0, 1.0], steps=500, tol=0)
    res = minimize("x^2 + 3*y^2 - x*y", (1.0, 1.0), lr=1.0, steps=500, tol=0)
    assert res.status == "diverged" and page["status"] == "diverged"
    assert len(page["points"]) == len(res.points)


def test_one_variable_page_equals_minimize(driver: Any, pages: dict[str, Path]) -> None:
    _open(driver, pages["quartic"])
    for name, opts, opt in OPTIMIZERS:
        page = _js_descend(driver, optimizer=_page_name(name), lr=0.02, start=[-2.0], steps=120,
                           tol=0, **opts)
        _assert_same(page, minimize("quartic_1d", -2.0, optimizer=opt, lr=0.02, steps=120,
                                    tol=0))
    race = driver.execute_script("return window.gdlab.race()")
    assert {r["racer"] for r in race} == {"gd", "momentum", "adam"}
    # from x = 2 plain GD stops in the shallow minimum at 1.1309 (surfaces.py)
    gd = next(r for r in race if r["racer"] == "gd")
    assert gd["points"][-1][0] == pytest.approx(1.1309011226, abs=1e-3)


def _nudged_at(f: str, k: int, direction: float) -> Any:
    """f's value_and_grad, read one ulp away in x (towards ``direction``) from call k on."""
    from gdlab.functions.descent import as_objective

    obj = as_objective(f)
    calls = [0]

    def fg(P: np.ndarray) -> Any:
        calls[0] += 1
        return obj.value_and_grad(np.nextafter(P, direction) if calls[0] > k else P)

    return fg


@pytest.mark.parametrize(("f", "start", "name", "lr", "steps", "k"), [
    ("peaks", (0.5, 1.0), "rmsprop", 0.02, 300, 150),
    ("quartic_1d", (2.0,), "rmsprop_centered", 0.02, 200, 90),
    ("ackley", (20.0, 25.0), "gd", 0.5, 200, 70),
])
def test_where_page_and_library_part_the_library_parts_from_itself(
        driver: Any, pages: dict[str, Path], tmp_path: Path, f: str, start: tuple[float, ...],
        name: str, lr: float, steps: int, k: int) -> None:
    """Chaotic runs: RMSprop sitting at a minimum (nu decays until lr / sqrt(nu) exceeds
    2 / lambda and the minimum turns unstable), centered RMSprop whose nu - mu^2 cancels, GD
    with a step too long for Ackley's ripples. The last bit of rounding grows exponentially.
    The page and the library agree to a few ulp until it starts; after it, one ulp moved in
    the library alone moves its own path as much as the page's differs."""
    opts, opt = next((o, spec) for n, o, spec in OPTIMIZERS if n == name)
    if f == "ackley":
        from gdlab.playground import write_playground

        _open(driver, write_playground("ackley", tmp_path / "ackley.html"))
    else:
        _open(driver, pages["peaks" if f == "peaks" else "quartic"])
    page = _js_descend(driver, optimizer=_page_name(name), lr=lr, start=list(start), steps=steps,
                       tol=0, **opts)
    res = minimize(f, start, optimizer=opt, lr=lr, steps=steps, tol=0)
    P = _arr(page["points"])
    rel = np.max(np.abs(P - res.points) / (np.abs(res.points) + 1e-300), axis=1)
    assert rel[:k].max() < 1e-14  # the same rules, to the rounding of exp and pow
    assert rel[-1] > 1e-6  # parted
    domain = "unbounded" if f != "peaks" else None
    parted = []
    for direction in (np.inf, -np.inf):
        for start_k in (k, k + 10):
            nudged = minimize(_nudged_at(f, start_k, direction), start, optimizer=opt, lr=lr,
                              steps=steps, tol=0, domain=domain)
            self_rel = np.max(np.abs(nudged.points - res.points) /
                              (np.abs(res.points) + 1e-300), axis=1)
            assert self_rel[:start_k].max() == 0.0
            parted.append(self_rel.max())
    assert max(parted) > 0.1 * rel.max()


@pytest.mark.parametrize("surface", SURFACES)
def test_every_surface_page_opens_and_races_as_minimize(driver: Any, tmp_path: Path,
                                                       surface: str) -> None:
    from gdlab.playground import write_playground

    _open(driver, write_playground(surface, tmp_path / f"{surface}.html"))
    defaults = driver.execute_script("return window.gdlab.spec.defaults")
    race = _race(driver)
    assert len(race) == (3 if surface.endswith("_1d") else 4)
    for r in race:
        assert r["start"] == defaults["start"]
        _assert_same(r, minimize(surface, r["start"], optimizer=r["racer"], lr=defaults["lr"],
                                 steps=defaults["steps"]))
    assert driver.get_log("browser") == []


def test_basin_map_equals_basins(driver: Any, pages: dict[str, Path]) -> None:
    _open(driver, pages["peaks"])
    for opt, lr in (("gd", 0.05), ("adam", 0.05)):
        page = driver.execute_script(
            "return window.gdlab.basins({optimizer: arguments[0], lr: arguments[1], grid: 13,"
            " steps: 400})", opt, lr)
        ref = basins("peaks", grid=13, optimizer=opt, lr=lr, steps=400)
        np.testing.assert_allclose(_arr(page["starts"]), ref.starts, rtol=0, atol=1e-15)
        assert page["labels"] == ref.labels.tolist()
        assert len(set(page["labels"])) >= 3  # several outcomes, not one colour


def _canvas(driver: Any, element_id: str = "plot") -> str:
    return driver.execute_script(  # type: ignore[no-any-return]
        "return document.getElementById(arguments[0]).toDataURL()", element_id)


def _race(driver: Any) -> list[dict[str, Any]]:
    return driver.execute_script("return window.gdlab.race()")  # type: ignore[no-any-return]


def _check_race_is_the_library(race: list[dict[str, Any]], lr: float, beta: float = 0.9,
                               steps: int = 200) -> None:
    for r in race:
        opt = {"gd": "gd", "momentum": get_optimizer("momentum", beta=beta),
               "rmsprop": "rmsprop", "adam": "adam"}[r["racer"]]
        res = minimize("peaks", r["start"], optimizer=opt, lr=lr, steps=steps)
        _assert_same(r, res)


def test_clicks_drags_and_sliders_change_the_drawn_race(driver: Any,
                                                       pages: dict[str, Path]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open(driver, pages["peaks"])
    race0 = _race(driver)
    assert [r["racer"] for r in race0] == ["gd", "momentum", "rmsprop", "adam"]
    assert all(r["start"] == [0.5, 1.0] for r in race0)
    _check_race_is_the_library(race0, lr=0.02)
    pixels0 = _canvas(driver)
    loss0 = _canvas(driver, "loss")

    plot = driver.find_element(By.ID, "plot")
    # a click 30 % right of the centre and 25 % below it moves the start there
    w, h = plot.size["width"], plot.size["height"]
    ActionChains(driver).move_to_element_with_offset(plot, int(0.3 * w), int(0.25 * h)).click() \
        .perform()
    driver.execute_script("return new Promise(r => setTimeout(r, 3000))")
    race1 = _race(driver)
    start = race1[0]["start"]
    assert start != [0.5, 1.0] and start[0] > 0.5 and start[1] < 0.0
    _check_race_is_the_library(race1, lr=0.02)
    pixels1 = _canvas(driver)
    assert pixels1 != pixels0 and _canvas(driver, "loss") != loss0

    # a drag ends with the start where the pointer was released
    ActionChains(driver).move_to_element_with_offset(plot, -int(0.2 * w), -int(0.2 * h)) \
        .click_and_hold().move_by_offset(int(0.05 * w), 0).move_by_offset(int(0.05 * w), 0) \
        .release().perform()
    driver.execute_script("return new Promise(r => setTimeout(r, 3000))")
    race2 = _race(driver)
    assert race2[0]["start"][0] > start[0] - 100 and race2[0]["start"] != start
    assert race2[0]["start"][0] < 0.5 and race2[0]["start"][1] > 0.5
    _check_race_is_the_library(race2, lr=0.02)
    pixels2 = _canvas(driver)
    assert pixels2 != pixels1

    # the learning-rate slider: three arrow presses, three steps of 0.01 in log10(lr)
    slider = driver.find_element(By.ID, "lr")
    slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    lr = driver.execute_script("return window.gdlab.state.lr")
    assert lr == pytest.approx(0.02 * 10 ** 0.03, rel=0.02)
    assert driver.find_element(By.ID, "lr-out").text == str(lr)
    _check_race_is_the_library(_race(driver), lr=lr)
    pixels3 = _canvas(driver)
    assert pixels3 != pixels2

    # the momentum slider changes the momentum racer only
    before = {r["racer"]: r["points"] for r in _race(driver)}
    driver.find_element(By.ID, "beta").send_keys(Keys.ARROW_LEFT * 20)
    beta = driver.execute_script("return window.gdlab.state.beta")
    assert beta == pytest.approx(0.7)
    after = {r["racer"]: r["points"] for r in _race(driver)}
    assert after["momentum"] != before["momentum"] and after["gd"] == before["gd"]
    _check_race_is_the_library(_race(driver), lr=lr, beta=beta)
    assert _canvas(driver) != pixels3

    # adding a racer and choosing a schedule re-run the race
    driver.find_element(By.ID, "racer-adamw").click()
    assert "adamw" in [r["racer"] for r in _race(driver)]
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "schedule")).select_by_value("cosine")
    r = next(r for r in _race(driver) if r["racer"] == "adamw")
    res = minimize("peaks", r["start"], optimizer="adamw", lr=lr, steps=200, schedule="cosine")
    _assert_same(r, res)

    # the fragment keeps it all
    fragment = driver.execute_script("return location.hash")
    assert "fn=peaks" in fragment and "schedule=cosine" in fragment
    assert f"lr={lr}" in fragment and "opt=gd,momentum,rmsprop,adam,adamw" in fragment
    assert driver.get_log("browser") == []


def test_step_mode_shows_each_term_with_its_numbers(driver: Any, pages: dict[str, Path]) -> None:
    from selenium.webdriver.common.by import By

    _open(driver, pages["peaks"], "#start=0.5,1&opt=momentum,rmsprop,adam&lr=0.02")
    assert driver.find_element(By.ID, "steppanel").is_displayed() is False
    step = driver.find_element(By.ID, "step")
    step.click()
    step.click()
    text = driver.find_element(By.ID, "terms").text
    assert "Step 2" in driver.find_element(By.ID, "step-title").text
    # the numbers shown are those of the second update, from the library's optimizers
    opt = get_optimizer("adam")
    x = np.array([0.5, 1.0])
    from gdlab.functions.surfaces import get_surface

    fn = get_surface("peaks").function
    state = opt.init(x)
    for _ in range(2):
        g = fn.grad(x)
        u, state = opt.update(g, state, x, 0.02)
        x = x + u
    assert "m = β1·m + (1−β1)·g = " in text and "v = β2·v + (1−β2)·g² = " in text
    m = state["mu"]
    assert f"({float(f'{m[0]:.4g}')}, {float(f'{m[1]:.4g}')})" in text.replace("e-", "e-")
    assert "E = α·E + (1−α)·g² = " in text  # RMSprop's second moment
    assert "v = β·v − lr·g = " in text  # the lesson's velocity
    assert driver.find_element(By.ID, "loss").is_displayed()
    assert driver.get_log("browser") == []


def test_fragment_restores_starts_and_settings(driver: Any, pages: dict[str, Path]) -> None:
    fragment = ("#fn=peaks&start=-1,-1;1.5,2&opt=nesterov,adagrad&lr=0.03&beta=0.5&beta1=0.9"
                "&beta2=0.999&alpha=0.99&steps=120&schedule=dynamic&basin=gd")
    _open(driver, pages["peaks"], fragment)
    race = _race(driver)
    assert [(r["racer"], r["start"]) for r in race] == [
        ("nesterov", [-1, -1]), ("adagrad", [-1, -1]), ("nesterov", [1.5, 2]),
        ("adagrad", [1.5, 2])]
    for r in race:
        opt = get_optimizer("nesterov", beta=0.5) if r["racer"] == "nesterov" else "adagrad"
        _assert_same(r, minimize("peaks", r["start"], optimizer=opt, lr=0.03, steps=120,
                                 schedule="dynamic"))
    from selenium.webdriver.common.by import By

    # the basin map: 41 x 41 starts, at least 1000 steps, the shares of basins()
    legend = driver.find_element(By.ID, "basin-legend").text
    assert legend.startswith("GD, 1681 starts, 1000 steps:")
    ref = basins("peaks", grid=41, optimizer="gd", lr=0.03, steps=1000, schedule="dynamic")
    for row in ref.rows():
        name = row["outcome"].replace("escaped", "escaped (left the box)")
        if name.startswith("minimum"):
            name = name.split(" (")[0]
        assert f"{name}" in legend
        assert f"{100 * row['share']:.1f}%" in legend
    assert "minimum 1 (0.228, -1.63), f = -6.551" in legend
    assert driver.find_element(By.ID, "mismatch").is_displayed() is False
    # another link opened on the same page (only the fragment changes) is taken as well
    driver.execute_script("location.hash = '#fn=peaks&start=1,-2&opt=adam&lr=0.1&beta2=0.99'")
    driver.execute_script("return new Promise(r => setTimeout(r, 200))")
    race = _race(driver)
    assert [(r["racer"], r["start"]) for r in race] == [("adam", [1, -2])]
    _assert_same(race[0], minimize("peaks", (1, -2), optimizer=get_optimizer("adam", beta2=0.99),
                                   lr=0.1, steps=120, schedule="dynamic"))
    assert driver.find_element(By.ID, "beta2-out").text == "0.99"
    assert driver.find_element(By.ID, "basin-legend").text == ""
    _open(driver, pages["peaks"], "#fn=rosenbrock&start=0,0")
    assert "made for rosenbrock" in driver.find_element(By.ID, "mismatch").text
    assert driver.get_log("browser") == []


def test_rate_map_on_a_quadratic(driver: Any, pages: dict[str, Path]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    _open(driver, pages["expr_free"])
    assert driver.find_element(By.ID, "rate").is_displayed()
    eig = driver.execute_script("return window.gdlab.spec.quadratic.eigenvalues")
    H = np.array([[2.0, -1.0], [-1.0, 6.0]])
    np.testing.assert_allclose(eig, np.linalg.eigvalsh(H), rtol=1e-12)
    for a, b in ((0.1, 0.5), (0.3, 0.9), (0.5, 0.0), (0.7, 0.3)):
        rate = driver.execute_script("return window.gdlab.momentumRate(arguments[0], arguments[1])",
                                     a, b)
        want = max(np.max(np.abs(np.linalg.eigvals(np.array([[b, lam], [-a * b, 1 - a * lam]]))))
                   for lam in eig)
        assert rate == pytest.approx(want, rel=1e-9)
    # the rate predicts the lesson's momentum on this quadratic: |x_k| shrinks like rate^k
    a, b = 0.2, 0.4
    rate = driver.execute_script("return window.gdlab.momentumRate(arguments[0], arguments[1])",
                                 a, b)
    res = minimize("x^2 + 3*y^2 - x*y", (2.5, 1.0), optimizer=get_optimizer("momentum", beta=b),
                   lr=a, steps=400, tol=0)
    norms = np.linalg.norm(res.points, axis=1)
    assert (norms[300] / norms[200]) ** (1 / 100) == pytest.approx(rate, rel=0.02)
    before = _canvas(driver, "ratemap")
    rm = driver.find_element(By.ID, "ratemap")
    # a click in the upper half picks a large beta, left of the centre a small lr
    ActionChains(driver).move_to_element_with_offset(rm, -int(rm.size["width"] * 0.2),
                                                     -int(rm.size["height"] * 0.3)).click() \
        .perform()
    beta, lr = driver.execute_script("return [window.gdlab.state.beta, window.gdlab.state.lr]")
    assert 0.7 < beta < 0.85 and 0.1 < lr < 0.5
    assert driver.find_element(By.ID, "beta-out").text == str(beta)
    assert f"lr {lr:g}" in driver.find_element(By.ID, "rate-text").text
    assert _canvas(driver, "ratemap") != before
    _open(driver, pages["peaks"])
    assert driver.find_element(By.ID, "rate").is_displayed() is False


def test_the_page_makes_no_network_request(driver: Any, pages: dict[str, Path]) -> None:
    from selenium.webdriver.common.by import By

    for path in pages.values():
        driver.get_log("performance")
        _open(driver, path)
        driver.find_element(By.ID, "step").click()
        driver.find_element(By.ID, "basin").click()
        urls = requested_urls(driver)
        assert urls and all(u.startswith(("file:", "data:", "about:")) for u in urls), urls
        assert driver.get_log("browser") == []


def _legend_shares(text: str) -> list[str]:
    return sorted(line.rsplit(": ", 1)[1] for line in text.splitlines()[1:])


def test_basin_map_follows_the_sliders_once_they_rest(driver: Any,
                                                     pages: dict[str, Path]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    _open(driver, pages["peaks"], "#start=0.5,1&opt=gd&lr=0.05&steps=200&basin=gd")
    legend = driver.find_element(By.ID, "basin-legend")
    ref = basins("peaks", grid=41, optimizer="gd", lr=0.05, steps=1000)
    assert _legend_shares(legend.text) == sorted(f"{100 * r['share']:.1f}%" for r in ref.rows())
    before = _canvas(driver)
    driver.find_element(By.ID, "lr").send_keys(Keys.ARROW_LEFT * 10)  # lr 0.05 -> 0.0398
    lr = driver.execute_script("return window.gdlab.state.lr")
    assert lr == pytest.approx(0.0398)
    driver.execute_script("return new Promise(r => setTimeout(r, 2500))")
    assert "(updating)" not in legend.text
    ref = basins("peaks", grid=41, optimizer="gd", lr=lr, steps=1000)
    assert _legend_shares(legend.text) == sorted(f"{100 * r['share']:.1f}%" for r in ref.rows())
    assert _canvas(driver) != before
    assert driver.get_log("browser") == []


def test_a_click_on_the_curve_moves_a_one_variable_start(driver: Any,
                                                        pages: dict[str, Path]) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    _open(driver, pages["quartic"])
    before = _canvas(driver)
    plot = driver.find_element(By.ID, "plot")
    # 30 % of the width left of the centre: x near -1.8 on [-2.5, 2.5] (the axis margin aside)
    ActionChains(driver).move_to_element_with_offset(plot, -int(0.3 * plot.size["width"]), 0) \
        .click().perform()
    driver.execute_script("return new Promise(r => setTimeout(r, 3000))")
    race = _race(driver)
    x0 = race[0]["start"][0]
    assert -2.0 < x0 < -1.5 and all(r["start"] == [x0] for r in race)
    for r in race:
        opt = {"gd": "gd", "momentum": "momentum", "adam": "adam"}[r["racer"]]
        _assert_same(r, minimize("quartic_1d", x0, optimizer=opt, lr=0.02, steps=200))
    # from the left every racer ends in the deep minimum at -1.3008
    assert all(abs(r["points"][-1][0] + 1.3008) < 0.05 for r in race)
    assert _canvas(driver) != before
    assert driver.get_log("browser") == []


def test_the_page_fits_a_phone_and_a_desktop(driver: Any, pages: dict[str, Path]) -> None:
    try:
        for width in (390, 1280):
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
                "width": width, "height": 844, "deviceScaleFactor": 1, "mobile": width < 500})
            for key in ("peaks", "quartic"):
                _open(driver, pages[key])
                m = driver.execute_script("""
                    const doc = document.documentElement, plot = document.getElementById('plot');
                    const r = plot.getBoundingClientRect();
                    return {viewport: doc.clientWidth, page: doc.scrollWidth, plot: r.width,
                            right: r.right, backing: plot.width,
                            font: parseFloat(getComputedStyle(document.body).fontSize)};""")
                assert m["page"] <= m["viewport"], (width, key, m)  # nothing scrolls sideways
                assert m["right"] <= m["viewport"] and m["plot"] >= min(300, width - 40), m
                assert m["backing"] >= m["plot"] - 1  # drawn at the screen's resolution
                assert m["font"] >= 16
                race = _race(driver)
                assert race and all(len(r["points"]) > 1 for r in race)
        assert driver.get_log("browser") == []
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
