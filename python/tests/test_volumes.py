"""Host volumes: Sandbox/Session(volumes=[(host, guest, read_only)])."""
import os

import pytest

import eryx


def test_read_only_by_default_and_writable_when_asked(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "in" / "data.csv").write_text("a,b\n1,2\n")
    sb = eryx.Sandbox(volumes=[(tmp_path / "in", "/mnt/in"),
                               (str(tmp_path / "out"), "/mnt/out", False)])
    r = sb.execute("import csv\n"
                   "rows = list(csv.reader(open('/mnt/in/data.csv')))\n"
                   "try:\n"
                   "    open('/mnt/in/data.csv', 'a')\n"
                   "    ro = False\n"
                   "except OSError:\n"
                   "    ro = True\n"
                   "open('/mnt/out/report.txt', 'w').write(str(rows))\n"
                   "result = ro")
    assert r.result is True
    assert (tmp_path / "out" / "report.txt").read_text() == "[['a', 'b'], ['1', '2']]"
    assert sorted(os.listdir(tmp_path / "in")) == ["data.csv"]


def test_a_link_to_etc_inside_a_volume_is_not_followed(tmp_path):
    (tmp_path / "v").mkdir()
    os.symlink("/etc", tmp_path / "v" / "etc")
    os.symlink("../outside.txt", tmp_path / "v" / "up")
    (tmp_path / "outside.txt").write_text("secret")
    s = eryx.Session(volumes=[(tmp_path / "v", "/mnt/v", True)])
    r = s.execute("out = []\n"
                  "for p in ('/mnt/v/etc/passwd', '/mnt/v/up', '/mnt/v/../outside.txt'):\n"
                  "    try:\n"
                  "        open(p).read(); out.append('read')\n"
                  "    except OSError:\n"
                  "        out.append('refused')\n"
                  "result = out")
    assert r.result == ["refused"] * 3


def test_single_file_and_refusals(tmp_path):
    (tmp_path / "settings.json").write_text('{"debug": true}')
    (tmp_path / "other.txt").write_text("not mounted")
    sb = eryx.Sandbox(volumes=[(tmp_path / "settings.json", "/etc/app/settings.json")])
    r = sb.execute("import json, os\n"
                   "result = [json.load(open('/etc/app/settings.json')), os.listdir('/etc/app')]")
    assert r.result == [{"debug": True}, ["settings.json"]]
    for guest in ("/python", "/data", "/packages/0", "relative", "/a/../b"):
        with pytest.raises(eryx.InvalidArgumentError):
            eryx.Sandbox(volumes=[(tmp_path, guest)])
    with pytest.raises(eryx.InvalidArgumentError, match="mount its directory"):
        eryx.Sandbox(volumes=[(tmp_path / "settings.json", "/etc/app/s.json", False)])
    with pytest.raises(TypeError):
        eryx.Sandbox(volumes=(tmp_path, "/mnt"))


def test_pool_shares_read_only_volumes_only(tmp_path):
    (tmp_path / "ref.txt").write_text("reference")
    with eryx.SandboxPool(max_size=1, volumes=[(tmp_path, "/mnt/ref")]) as pool:
        with pool.acquire() as sb:
            assert sb.execute("result = open('/mnt/ref/ref.txt').read()").result == "reference"
    with pytest.raises(eryx.InvalidArgumentError, match="read-only volumes only"):
        eryx.SandboxPool(volumes=[(tmp_path, "/mnt/ref", False)])
