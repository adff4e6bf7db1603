from __future__ import annotations

from pathlib import Path

from fleet.charts.cache import ChartCache, archive_name, default_cache_dir


def test_default_cache_dir_prefers_fleet_chart_cache(tmp_path: Path) -> None:
    env = {"FLEET_CHART_CACHE": str(tmp_path / "c"), "XDG_CACHE_HOME": "/elsewhere"}
    assert default_cache_dir(env) == tmp_path / "c"


def test_default_cache_dir_under_xdg_cache_home() -> None:
    assert default_cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/fleet/charts")


def test_archive_is_found_only_when_the_file_exists(tmp_path: Path) -> None:
    cache = ChartCache(tmp_path)
    assert cache.archive("loki", "6.30.1") is None
    (tmp_path / archive_name("loki", "6.30.1")).write_bytes(b"x")
    assert cache.archive("loki", "6.30.1") == tmp_path / "loki-6.30.1.tgz"
    (tmp_path / archive_name("alloy", "1.4.0")).mkdir()
    assert cache.archive("alloy", "1.4.0") is None
