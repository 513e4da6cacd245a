"""`--show-command`: the sandbox and QEMU command lines, printed and never run (no VM)."""

import shlex
import subprocess
from pathlib import Path

import pytest

from kmodlab import cli, dryrun
from kmodlab.build import builder
from kmodlab.paths import KernelLayout

HELLO = Path(__file__).resolve().parents[2] / "src" / "kmodlab" / "examples" / "hello"


@pytest.fixture
def kernel(tmp_path, monkeypatch) -> KernelLayout:
    """A kernel cache with a vmlinux and headers, and a process that may start nothing."""
    monkeypatch.setenv("KMODLAB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("KMODLAB_ACCEL", raising=False)
    monkeypatch.delenv("KMODLAB_MACHINE", raising=False)
    k = KernelLayout("6.1.0-test-amd64", tmp_path / "kernels" / "6.1.0-test-amd64")
    k.headers.mkdir(parents=True)
    (k.headers / "Makefile").write_text("# kbuild\n")
    k.vmlinux.write_bytes(b"\x7fELF vmlinux")
    initrd = tmp_path / "initramfs.cpio"
    initrd.write_bytes(b"070701")

    def nothing_runs(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError(f"a dry run started {args[0] if args else kwargs}")

    from kmodlab.vm import hostclock, session, snapshot

    monkeypatch.setattr(session, "build_initramfs", lambda kernel: initrd)
    monkeypatch.setattr(hostclock, "tsc_khz", lambda: 2_000_000)
    monkeypatch.setattr(snapshot, "qemu_version", lambda qemu="": "QEMU emulator version 7.2.0")
    monkeypatch.setattr(subprocess, "Popen", nothing_runs)
    monkeypatch.setattr(subprocess, "run", nothing_runs)
    return k


def test_build_shows_make_inside_the_sandbox(kernel):
    """Does `build --show-command` give bwrap (no network, caps dropped) around make -C
    the headers, as one shell-quoted line that splits back into the argv?"""
    ((title, argv),) = dryrun.show("build", HELLO, kernel=kernel)
    assert title == "build" and Path(argv[0]).name == "bwrap"
    assert "--unshare-net" in argv or "--unshare-all" in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    make = argv.index("make")
    assert argv[make + 1 : make + 3] == ["-C", str(kernel.headers.resolve())]
    text = dryrun.render([(title, argv)])
    assert text.splitlines()[0] == "# build"
    assert shlex.split(text.splitlines()[1]) == argv


def test_a_build_runs_exactly_the_command_shown(kernel, monkeypatch, tmp_path):
    """Is what build_submission runs the very argv build_argv (the dry run's) gives?"""
    ran = []

    def fake_run(argv, **kwargs):  # type: ignore[no-untyped-def]
        ran.append(list(argv))
        raise RuntimeError("stop here")

    monkeypatch.setattr(builder, "_use_sandbox", lambda allow: True)
    monkeypatch.setattr(builder, "hand_over", lambda d: None)
    monkeypatch.setattr(builder, "run_capped", fake_run)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="stop here"):
        builder.build_submission(HELLO, headers=kernel.headers, out_dir=out, memory=object())
    (argv,) = ran
    build_dir = Path(argv[argv.index("--chdir") + 1])
    assert argv == builder.build_argv(kernel.headers.resolve(), build_dir)


def test_run_and_grade_add_the_qemu_command_lines(kernel):
    """Do `run` and `grade` also show QEMU (the snapshot save, then the restore), and does
    `grade` show its two builds, the plain one stopping after modpost?"""
    run = dryrun.show("run", HELLO, kernel=kernel)
    assert [t for t, _ in run][0] == "build"
    qemu = [argv for _, argv in run if argv[0].startswith("qemu-system")]
    assert len(qemu) == 2  # no snapshot yet: boot and save once, then restore
    assert str(kernel.vmlinux) in qemu[0] and "-incoming" not in qemu[0]
    assert "-incoming" in qemu[1]
    assert qemu[0][qemu[0].index("-accel") + 1] == "tcg"  # not probed: nothing booted
    cold = dryrun.show("run", HELLO, kernel=kernel, use_snapshot=False)
    assert [t for t, _ in cold][1] == "boot the guest cold"
    grade = dryrun.show("grade", HELLO, kernel=kernel)
    plain, inst = grade[0][1], grade[1][1]
    assert "KBUILD_MODPOST_NOFINAL=1" in plain and "KBUILD_MODPOST_NOFINAL=1" not in inst
    assert sum(argv[0].startswith("qemu-system") for _, argv in grade) == 2


def test_bad_submission_is_refused_before_anything_is_shown(kernel, tmp_path):
    """Is a missing submission folder the same one-line error as the real command's?"""
    from kmodlab.errors import InputError

    with pytest.raises(InputError):
        dryrun.show("build", tmp_path / "missing", kernel=kernel)


@pytest.mark.parametrize("command", ["build", "run", "grade"])
def test_show_command_is_offered_and_documented(command, capsys):
    """Do build, run and grade take --show-command, say so in --help and in the README?"""
    args = cli.parse([command, "somewhere", "--show-command"])
    assert args.show_command is True
    with pytest.raises(SystemExit):
        cli.parse([command, "--help"])
    assert "--show-command" in capsys.readouterr().out
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"kmodlab {command} " in readme and "--show-command" in readme
