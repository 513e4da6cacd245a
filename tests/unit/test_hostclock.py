"""The host's TSC frequency for a TCG guest on microvm: parsing, rounding, caching."""

from kmodlab.vm import hostclock


def test_frequency_is_rounded_to_whole_mhz_so_measurements_agree():
    """Do two slightly different measurements give the same kHz (and so the same snapshot)?"""
    assert hostclock.parse_khz("2445430\n") == hostclock.parse_khz("2445398") == 2_445_000


def test_output_that_is_not_a_tsc_frequency_is_unknown():
    """Is garbage, or a counter far too slow to be a TSC, reported as unknown?"""
    assert hostclock.parse_khz("") is None
    assert hostclock.parse_khz("not a number") is None
    assert hostclock.parse_khz("24000") is None  # a 24 MHz arch counter, not a TSC


def test_measured_once_per_host_boot(tmp_path, monkeypatch):
    """Is the measurement cached until the host reboots, then taken again?"""
    calls = []
    monkeypatch.setattr(hostclock, "measure", lambda: calls.append(1) or 2_445_000)
    boot = tmp_path / "boot_id"
    boot.write_text("boot-1\n")
    monkeypatch.setattr(hostclock, "BOOT_ID", boot)
    assert hostclock.tsc_khz(tmp_path) == 2_445_000
    assert hostclock.tsc_khz(tmp_path) == 2_445_000
    assert len(calls) == 1
    boot.write_text("boot-2\n")
    assert hostclock.tsc_khz(tmp_path) == 2_445_000
    assert len(calls) == 2


def test_this_host_measures_a_plausible_tsc(tmp_path, monkeypatch):
    """Does the real probe build and measure a TSC between 0.1 and 10 GHz on an x86-64 host?"""
    import platform

    import pytest

    if platform.machine() != "x86_64":
        pytest.skip("the TSC probe is x86-64 only")
    monkeypatch.setenv("KMODLAB_HOME", str(tmp_path))
    khz = hostclock.measure()
    assert khz is not None and 100_000 <= khz <= 10_000_000
