"""The sandbox for programs a model or a dataset supplies: bubblewrap (Debian package ``bubblewrap``).

Program-of-Thought Python, the SymPy worker and Lean files run here, never beside our own state.
rlimits, ``-I`` and an empty environment alone were escaped (DESIGN.md §6): a program wrote
outside its directory, read the parent's API key from ``/proc/<ppid>/environ``, left a
fork + setsid child running after the batch, forked 400 times as root, and rewrote cached
results. Here a program gets:

* its own PID, mount, network, IPC, UTS and cgroup namespaces: it sees no other process (the
  namespace's PID 1 is bwrap, started with nothing but ``SANDBOX_ENV`` in its environment), has
  no network, and every process it starts dies with the sandbox (``--die-with-parent``; killing
  PID 1 of a PID namespace kills the namespace);
* uid/gid 65534 with no capabilities and ``no_new_privs`` (set-uid binaries gain nothing);
* a read-only view of ``/usr`` and of the paths its caller names (an interpreter, a package,
  a toolchain) — nothing of the project, its ``.nesyflow`` state, ``/root`` or ``/etc``;
* one writable place, a private size-limited tmpfs at ``/tmp`` (also its working directory);
* a new session, and rlimits set by ``prlimit`` inside the sandbox before the program starts:
  CPU seconds, address space, processes (effective because the uid is not root), file size,
  open files, no core files; the wall clock kills the whole sandbox.

As root, bwrap sets the namespaces up itself and ``setpriv`` drops to 65534 inside (a user
namespace would map 65534 to root outside, where RLIMIT_NPROC does not apply); as another
user, bwrap maps 65534 in a user namespace. Where bwrap is missing or cannot build a sandbox,
running such a program is refused with ``SandboxUnavailable`` — never a weaker fall-back.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from parsers.errors import BackendUnavailable

from .process import ProcOutcome, communicate, note_spawn

__all__ = ["SandboxUnavailable", "Sandbox", "run_sandboxed", "sandbox_status", "require_sandbox", "python_sandbox",
           "bwrap_argv", "SANDBOX_ENV", "NOBODY"]

NOBODY = 65534
SANDBOX_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "TMPDIR": "/tmp"}
"""The whole environment of bwrap and of the program (no secrets: /proc/1/environ shows it)."""
INSTALL_HINT = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install bubblewrap)"


class SandboxUnavailable(BackendUnavailable):
    """bubblewrap is missing or cannot create namespaces here: generated code is not run."""


@dataclass(frozen=True)
class Sandbox:
    """What one sandboxed program sees and may use."""

    ro_binds: tuple[tuple[str, str], ...] = ()
    """(host path, path inside) pairs, mounted read-only."""
    env: tuple[tuple[str, str], ...] = ()
    """Extra environment variables (added to ``SANDBOX_ENV``; never a secret)."""
    tmp_mb: int = 64
    """Size of the private tmpfs at /tmp, the only writable place."""
    nproc: int = 32
    """Processes uid 65534 may have at once (RLIMIT_NPROC)."""
    fsize_mb: int = 1
    """Largest file the program may write (RLIMIT_FSIZE)."""
    nofile: int = 64
    """Open files (RLIMIT_NOFILE)."""
    hidden: tuple[str, ...] = field(default=())
    """Paths inside the sandbox covered by an empty read-only tmpfs (e.g. a bound tree's site-packages)."""


@lru_cache(maxsize=1)
def _bwrap() -> str | None:
    found = os.environ.get("NESYFLOW_BWRAP") or shutil.which("bwrap") or next(
        (p for p in ("/usr/bin/bwrap", "/usr/local/bin/bwrap") if os.access(p, os.X_OK)), None)
    return found


def _root_mode() -> bool:
    return os.geteuid() == 0


def _system_binds() -> list[str]:
    """/usr read-only, and /bin, /lib, /lib64, /sbin as the host has them (symlinks into /usr on merged systems)."""
    args = ["--ro-bind", "/usr", "/usr"]
    for top in ("bin", "lib", "lib64", "lib32", "sbin"):
        host = Path("/") / top
        if host.is_symlink():
            args += ["--symlink", os.readlink(host), f"/{top}"]
        elif host.is_dir():
            args += ["--ro-bind", str(host), f"/{top}"]
    return args


def _parents(paths: list[str]) -> list[str]:
    """Directories above the bind targets that bwrap must create (outside /usr), shallowest first."""
    out: dict[str, None] = {}
    for path in paths:
        parts = Path(path).parts[1:-1]
        for i in range(1, len(parts) + 1):
            d = "/" + "/".join(parts[:i])
            if d != "/usr" and not d.startswith("/usr/"):
                out.setdefault(d)
    return sorted(out, key=lambda d: d.count("/"))


def _limits(cpu_s: int, memory_mb: int, box: Sandbox) -> list[str]:
    mem = memory_mb * 1024 * 1024
    return ["/usr/bin/prlimit", f"--cpu={cpu_s}:{cpu_s + 1}", f"--as={mem}", f"--nproc={box.nproc}",
            f"--fsize={box.fsize_mb * 1024 * 1024}", f"--nofile={box.nofile}", "--core=0", "--"]


def bwrap_argv(argv: list[str], box: Sandbox, *, cpu_s: int, memory_mb: int) -> list[str]:
    """The full command line (pure, for tests and for ``nesyflow doctor``)."""
    bwrap = _bwrap()
    if bwrap is None:
        raise SandboxUnavailable(f"running generated code needs bubblewrap, which is not installed: {INSTALL_HINT}")
    args = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in {**SANDBOX_ENV, **dict(box.env)}.items():
        args += ["--setenv", key, value]
    if _root_mode():
        args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns"]
    args += _system_binds()
    # the private /tmp first: a tree bound below it (a checkout or venv under /tmp) is mounted on top
    # of the tmpfs instead of being hidden by it
    args += ["--perms", "1777", "--size", str(box.tmp_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    for d in _parents([inside for _, inside in box.ro_binds]):
        args += ["--perms", "0755", "--dir", d]  # else bwrap copies the host's modes (/root is 0700)
    for host, inside in box.ro_binds:
        args += ["--ro-bind", host, inside]
    for inside in box.hidden:
        args += ["--tmpfs", inside, "--remount-ro", inside]
    args += ["--proc", "/proc", "--dev", "/dev", "--chdir", "/tmp", "--"]
    args += _limits(cpu_s, memory_mb, box)
    if _root_mode():
        args += ["/usr/bin/setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs", "--"]
    return args + list(argv)


@lru_cache(maxsize=1)
def sandbox_status() -> str | None:
    """None when a sandbox can be built here, else why not (checked once per process)."""
    if _bwrap() is None:
        return f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}"
    for tool in ("/usr/bin/prlimit",) + (("/usr/bin/setpriv",) if _root_mode() else ()):
        if not os.access(tool, os.X_OK):
            return f"{tool} is missing (Debian package util-linux)"
    try:
        out = subprocess.run(bwrap_argv(["/usr/bin/id", "-u"], Sandbox(), cpu_s=5, memory_mb=256), env=dict(SANDBOX_ENV),
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"bubblewrap could not start: {exc}"
    if out.returncode != 0 or out.stdout.strip() != str(NOBODY):
        why = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
        return f"bubblewrap cannot create a sandbox on this machine ({why}); user namespaces may be disabled"
    return None


def require_sandbox() -> None:
    why = sandbox_status()
    if why:
        raise SandboxUnavailable(f"refusing to run generated code without a sandbox: {why}")


def run_sandboxed(argv: list[str], stdin: str, box: Sandbox, *, wall_s: float, cpu_s: int, memory_mb: int) -> ProcOutcome:
    """Run ``argv`` (paths as seen inside) in a fresh sandbox; the wall clock kills all of it.
    Raises ``SandboxUnavailable`` (never runs the program unconfined)."""
    require_sandbox()
    cmd = bwrap_argv(argv, box, cpu_s=max(1, int(cpu_s)), memory_mb=memory_mb)
    note_spawn()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, text=True, encoding="utf-8", errors="replace", env=dict(SANDBOX_ENV))
    out, err, timed_out = communicate(proc, stdin, wall_s)
    code = proc.returncode
    if 128 < code < 128 + 65:  # bwrap reports a child killed by signal N as exit 128+N
        code = -(code - 128)
    return ProcOutcome(out, err, code, time.perf_counter() - t0, timed_out)


SITE = "/sandbox/site"
"""Where ``python_sandbox`` mounts the packages a program may import (its own sys.path entry)."""


def python_sandbox(packages: tuple[str, ...] = (), files: tuple[tuple[str, str], ...] = (), **options) -> tuple[Sandbox, str]:
    """A sandbox holding this interpreter and its standard library (no site-packages), plus the
    named importable ``packages`` (each mounted read-only under ``SITE``) and ``files`` (host path,
    name under ``SITE``). Returns the sandbox and the interpreter's path inside it."""
    import importlib.util
    import sys
    import sysconfig

    exe = os.path.realpath(sys.executable)
    stdlib = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["stdlib"]
    binds = [(exe, exe), (stdlib, stdlib)]
    if sysconfig.get_config_var("Py_ENABLE_SHARED"):
        libdir = sysconfig.get_config_var("LIBDIR") or ""
        name = sysconfig.get_config_var("INSTSONAME") or sysconfig.get_config_var("LDLIBRARY") or ""
        lib = os.path.join(libdir, name)
        if os.path.isfile(lib):
            binds.append((os.path.realpath(lib), lib))
    for pkg in packages:
        spec = importlib.util.find_spec(pkg)
        if spec is None:
            raise SandboxUnavailable(f"package {pkg!r} is not installed, so it cannot be mounted in the sandbox")
        if spec.submodule_search_locations:
            binds.append((list(spec.submodule_search_locations)[0], f"{SITE}/{pkg}"))
        elif spec.origin:
            binds.append((spec.origin, f"{SITE}/{os.path.basename(spec.origin)}"))
    binds += [(host, f"{SITE}/{name}") for host, name in files]
    hidden = tuple(p for p in (os.path.join(stdlib, "site-packages"),) if os.path.isdir(p))
    box = Sandbox(ro_binds=tuple(binds), hidden=hidden, env=(("PYTHONDONTWRITEBYTECODE", "1"),), **options)
    return box, exe
