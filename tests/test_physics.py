"""Running-time physics against closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulator.physics import TrainDynamics, speed_profile
from simulator.rolling_stock import load_consist, load_locomotive


def constant_force(a: float = 0.5, b: float = 0.5, vmax: float = 100.0) -> TrainDynamics:
    """A train with constant tractive force (a m/s²), no resistance and no rotating mass."""
    return TrainDynamics(mass_kg=1e6, rotating_mass_factor=1.0, max_speed_ms=vmax,
                         power_w=1e15, max_effort_n=a * 1e6, resistance_a_n=0.0,
                         resistance_b_n_per_ms=0.0, resistance_c_n_per_ms2=0.0, braking_mps2=b)


def test_constant_force_acceleration_distance() -> None:
    dyn = constant_force(a=0.5)
    length = 10_000.0
    limit = np.full(100, 20.0)
    p = speed_profile(length, limit, [(0.0, dyn)], dx=100.0)
    # v² = 2·a·x until the limit; the limit is reached after v²/2a = 400 m
    for x in (100.0, 200.0, 300.0):
        assert p.speed_at(x) == pytest.approx(math.sqrt(2 * 0.5 * x), rel=1e-3)
    reached = p.x_m[np.argmax(p.v_ms >= 20.0 - 1e-6)]
    assert reached == pytest.approx(400.0, abs=1.0)


def test_braking_distance_before_a_stop() -> None:
    dyn = constant_force(a=1.0, b=0.4)
    length = 20_000.0
    p = speed_profile(length, np.full(200, 25.0), [(0.0, dyn)], dx=100.0)
    # braking from 25 m/s at 0.4 m/s² takes v²/2b = 781.25 m
    start = length - 25.0**2 / (2 * 0.4)
    assert p.speed_at(start - 100) == pytest.approx(25.0)
    for x in (length - 700, length - 400, length - 100):
        assert p.speed_at(x) == pytest.approx(math.sqrt(2 * 0.4 * (length - x)), rel=2e-3)
    assert p.v_ms[-1] == 0.0


def test_limit_drop_is_respected_before_the_point_not_after() -> None:
    dyn = constant_force(a=1.0, b=0.5)
    limit = np.full(200, 30.0)
    limit[100:] = 10.0  # drop at 10 km
    p = speed_profile(20_000.0, limit, [(0.0, dyn)], dx=100.0)
    after = p.x_m >= 10_000.0
    assert np.all(p.v_ms[after] <= 10.0 + 1e-9)
    assert p.speed_at(10_000.0) == pytest.approx(10.0)
    # braking from 30 to 10 m/s at 0.5 m/s² starts (30² − 10²)/(2·0.5) = 800 m before
    assert p.speed_at(10_000.0 - 800.0 - 50) == pytest.approx(30.0)
    assert p.speed_at(10_000.0 - 400.0) == pytest.approx(math.sqrt(10**2 + 2 * 0.5 * 400), rel=1e-3)


def test_cruise_time_matches_closed_form_and_supplement() -> None:
    a, b, v, length = 0.5, 0.5, 20.0, 50_000.0
    dyn = constant_force(a=a, b=b)
    p = speed_profile(length, np.full(500, v), [(0.0, dyn)], dx=100.0)
    expected = length / v + v / (2 * a) + v / (2 * b)
    assert p.running_time_s == pytest.approx(expected, rel=1e-3)
    p6 = speed_profile(length, np.full(500, v), [(0.0, dyn)], dx=100.0, supplement=0.06)
    assert p6.running_time_s == pytest.approx(1.06 * p.running_time_s)


def test_never_exceeds_limit_or_train_maximum() -> None:
    dyn = constant_force(a=1.0, vmax=15.0)
    rng = np.random.default_rng(3)
    limit = rng.choice([8.0, 12.0, 25.0], 300)
    p = speed_profile(30_000.0, limit, [(0.0, dyn)], stops_m=[12_345.0], dx=100.0)
    assert p.v_ms.max() <= 15.0 + 1e-9
    assert np.all(p.v_ms <= p.limit_ms + 1e-9)
    assert p.speed_at(12_345.0) == 0.0


def test_up_grade_slows_a_power_limited_train() -> None:
    consist = load_consist("armored-train")
    dyn = TrainDynamics.from_stock(consist, load_locomotive("kp-red-flag-1"), power_factor=0.6)
    limit = np.full(300, 80 / 3.6)
    grade = np.zeros(300)
    grade[100:200] = 0.011  # the P'yŏngŭi Line's ruling grade, 11 ‰
    flat = speed_profile(30_000.0, limit, [(0.0, dyn)], dx=100.0)
    hilly = speed_profile(30_000.0, limit, [(0.0, dyn)], dx=100.0, grade_at=grade)
    assert hilly.running_time_s > flat.running_time_s
    # on the grade the speed settles at the balancing speed for that grade
    v_bal = dyn.balancing_speed(grade=0.011)
    assert hilly.speed_at(19_000.0) == pytest.approx(v_bal, rel=0.03)
    assert dyn.acceleration(v_bal, 0.011) == pytest.approx(0.0, abs=2e-3)


def test_davis_resistance_and_tractive_effort() -> None:
    consist = load_consist("armored-train")
    loco = load_locomotive("cn-df11z")
    dyn = TrainDynamics.from_stock(consist, loco)
    coach_t = consist.mass_t
    loco_t = 2 * loco.mass_t.value
    # 43 N/t at 100 km/h for coaches (DESIGN.md), the loco figure for the locomotives
    expected = coach_t * 43.0 + loco_t * (20.0 + 0.0028 * 100**2)
    assert float(dyn.resistance(100 / 3.6)) == pytest.approx(expected, rel=1e-6)
    assert float(dyn.tractive_effort(1.0)) == pytest.approx(2 * 245e3)
    assert float(dyn.tractive_effort(40.0)) == pytest.approx(2 * 3040e3 / 40.0)
    assert dyn.mass_kg == pytest.approx((coach_t + loco_t) * 1000)


def test_stop_loss_grows_with_speed() -> None:
    dyn = constant_force(a=0.5, b=0.5)
    # constant a = b: braking loses v/2b, restarting v/2a
    assert dyn.stop_loss_s(20.0) == pytest.approx(20.0 / (2 * 0.5) + 20.0 / (2 * 0.5), rel=1e-2)
    assert dyn.stop_loss_s(10.0) < dyn.stop_loss_s(20.0)
    assert dyn.stop_loss_s(0.0) == 0.0
