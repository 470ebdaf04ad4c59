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
* a uid of its own, no capabilities and ``no_new_privs`` (set-uid binaries gain nothing);
* a seccomp filter (``solvers.seccomp``): no new namespaces (``unshare``, ``setns``, ``clone``
  with namespace flags), no socket family but ``AF_UNIX``, no mount/bpf/keyring/io_uring calls;
* a read-only view of ``/usr`` and of the paths its caller names (an interpreter, a package,
  a toolchain) — nothing of the project, its ``.nesyflow`` state, ``/root`` or ``/etc``;
* one writable place, a private size-limited tmpfs at ``/tmp`` (also its working directory);
* a new session, and rlimits set by ``prlimit`` inside the sandbox before the program starts:
  CPU seconds, address space, processes, file size, open files, no core files; the wall clock
  kills the whole sandbox, and so does writing more than ``Sandbox.max_output`` bytes to stdout
  or stderr (the parent reads them against that budget: pipes are not covered by RLIMIT_FSIZE).

**One uid per sandbox.** RLIMIT_NPROC counts the processes of a uid, so sandboxes sharing one
(65534, as before) shared the limit: one program with 30 sleeping children made every other
sandbox on the machine fail. As root, bwrap sets the namespaces up itself and ``setpriv`` drops to
a uid leased for this run from a private range (``UID_RANGE``; a ``flock`` on one file per uid
under a root-only directory, so no two concurrent sandboxes, in any process, share one). As
another user, bwrap maps 65534 in a fresh user namespace (``--disable-userns`` keeps it the only
one); since Linux 5.14 RLIMIT_NPROC is counted per user namespace, so each sandbox has its own
count there too. Where bwrap is missing or cannot build a sandbox, running such a program is
refused with ``SandboxUnavailable`` — never a weaker fall-back.
"""

from __future__ import annotations

import fcntl
import os
import random
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from parsers.errors import BackendUnavailable

from .process import ProcOutcome, capture, note_spawn
from .seccomp import filter_program

__all__ = ["SandboxUnavailable", "Sandbox", "run_sandboxed", "sandbox_status", "require_sandbox", "python_sandbox",
           "bwrap_argv", "popen_sandboxed", "sandbox_uids", "SANDBOX_ENV", "NOBODY", "UID_RANGE"]

NOBODY = 65534
UID_RANGE = (2_000_000_000, 4096)
"""Root mode: (first uid, how many) the sandboxes lease from — in the block systemd leaves unused
(1879048192–2147483647), so no account or container range owns them. ``NESYFLOW_SANDBOX_UIDS``
(``FIRST:COUNT``) overrides it."""
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
    """Processes the sandbox may have at once (RLIMIT_NPROC of its own uid)."""
    fsize_mb: int = 1
    """Largest file the program may write (RLIMIT_FSIZE)."""
    nofile: int = 64
    """Open files (RLIMIT_NOFILE)."""
    hidden: tuple[str, ...] = field(default=())
    """Paths inside the sandbox covered by an empty read-only tmpfs (e.g. a bound tree's site-packages)."""
    max_output: int = 4 * 1024 * 1024
    """Bytes the program may write to stdout and to stderr, each; one more kills the sandbox."""


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


def bwrap_argv(argv: list[str], box: Sandbox, *, cpu_s: int, memory_mb: int, uid: int = NOBODY,
               seccomp_fd: int | None = None) -> list[str]:
    """The full command line (pure, for tests and for ``nesyflow doctor``). ``uid``: root mode's
    leased uid (as another user the sandbox is always 65534 in its own user namespace);
    ``seccomp_fd``: a descriptor bwrap reads the filter from."""
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
    if seccomp_fd is not None:
        args += ["--seccomp", str(seccomp_fd)]
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
        args += ["/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs", "--"]
    return args + list(argv)


# ---- one uid per sandbox (root mode) ----------------------------------------------------------

def sandbox_uids() -> range:
    """The uids a sandboxed program may run as here (root mode: the leased range; else 65534)."""
    if not _root_mode():
        return range(NOBODY, NOBODY + 1)
    first, count = UID_RANGE
    spec = os.environ.get("NESYFLOW_SANDBOX_UIDS", "")
    if spec:
        try:
            first, count = (int(x) for x in spec.split(":"))
        except ValueError:
            raise SandboxUnavailable(f"NESYFLOW_SANDBOX_UIDS={spec!r} is not FIRST:COUNT") from None
        if not (1000 <= first and 1 <= count and first + count <= 2**32 - 1) or first <= 65535 and first + count > 65534:
            raise SandboxUnavailable(f"NESYFLOW_SANDBOX_UIDS={spec!r}: uids must lie in 1000..4294967294, "
                                     "without 65534 (nobody) and 65535")
    return range(first, first + count)


def _lease_dir() -> str:
    """A directory only root can write, shared by every nesyflow process on the machine."""
    parent = "/run" if os.path.isdir("/run") and os.access("/run", os.W_OK) else "/tmp"
    path = os.path.join(parent, "nesyflow-sandbox-uids")
    try:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        info = os.lstat(path)
    except OSError as exc:
        raise SandboxUnavailable(f"cannot make {path} to lease sandbox uids: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise SandboxUnavailable(f"{path} is not a directory only root can write: the sandbox cannot lease uids")
    return path


@contextmanager
def _leased_uid() -> Iterator[int]:
    """Root mode: a uid no other running sandbox has, held (``flock``) until the sandbox is gone.
    Chosen at random in the range, so a just-released uid is rarely reused at once. As another user
    the sandbox's own user namespace is its separation: 65534 there."""
    if not _root_mode():
        yield NOBODY
        return
    uids, where = sandbox_uids(), _lease_dir()
    start = random.randrange(len(uids))
    for i in range(len(uids)):
        uid = uids[(start + i) % len(uids)]
        try:
            fd = os.open(os.path.join(where, str(uid)), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise SandboxUnavailable(f"cannot lease a sandbox uid in {where}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield uid
        finally:
            os.close(fd)  # releases the lock
        return
    raise SandboxUnavailable(f"all {len(uids)} sandbox uids are in use (NESYFLOW_SANDBOX_UIDS sets the range)")


@contextmanager
def _seccomp_fd() -> Iterator[int | None]:
    """A pipe holding the filter for bwrap's ``--seccomp`` (read once, by bwrap, before the program starts)."""
    program = _filter()
    if program is None:
        yield None
        return
    r, w = os.pipe()
    try:
        os.write(w, program)  # a few hundred bytes: far below a pipe's capacity
        os.close(w)
        w = -1
        yield r
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


@lru_cache(maxsize=1)
def _filter() -> bytes | None:
    return filter_program()


@lru_cache(maxsize=1)
def sandbox_status() -> str | None:
    """None when a sandbox can be built here, else why not (checked once per process)."""
    if _bwrap() is None:
        return f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}"
    for tool in ("/usr/bin/prlimit",) + (("/usr/bin/setpriv",) if _root_mode() else ()):
        if not os.access(tool, os.X_OK):
            return f"{tool} is missing (Debian package util-linux)"
    try:
        with _leased_uid() as uid:
            out = _start(["/usr/bin/id", "-u"], "", Sandbox(), uid=uid, wall_s=20, cpu_s=5, memory_mb=256)
    except (OSError, subprocess.SubprocessError, SandboxUnavailable) as exc:
        return f"bubblewrap could not start: {exc}"
    if out.returncode != 0 or out.stdout.strip() != str(uid):
        why = (out.stderr.strip().splitlines() or [f"exit {out.returncode}"])[-1]
        return f"bubblewrap cannot create a sandbox on this machine ({why}); user namespaces or seccomp may be unavailable"
    return None


def require_sandbox() -> None:
    why = sandbox_status()
    if why:
        raise SandboxUnavailable(f"refusing to run generated code without a sandbox: {why}")


def run_sandboxed(argv: list[str], stdin: str, box: Sandbox, *, wall_s: float, cpu_s: int, memory_mb: int) -> ProcOutcome:
    """Run ``argv`` (paths as seen inside) in a fresh sandbox; the wall clock, or more than
    ``box.max_output`` bytes on stdout or stderr, kills all of it.
    Raises ``SandboxUnavailable`` (never runs the program unconfined)."""
    require_sandbox()
    note_spawn()
    with _leased_uid() as uid:
        return _start(argv, stdin, box, uid=uid, wall_s=wall_s, cpu_s=cpu_s, memory_mb=memory_mb)


def popen_sandboxed(argv: list[str], box: Sandbox, *, cpu_s: int, memory_mb: int) -> tuple[subprocess.Popen, ExitStack]:
    """A long-lived sandboxed process (a warm worker) with pipes on stdin and stdout (stderr
    joined to stdout). It gets a leased uid and the seccomp filter like any sandbox; the returned
    stack holds the uid lease: close it once the process is gone."""
    require_sandbox()
    note_spawn()
    stack = ExitStack()
    uid = stack.enter_context(_leased_uid())
    try:
        with _seccomp_fd() as fd:
            cmd = bwrap_argv(argv, box, cpu_s=max(1, int(cpu_s)), memory_mb=memory_mb, uid=uid, seccomp_fd=fd)
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True, bufsize=0, env=dict(SANDBOX_ENV),
                                    pass_fds=() if fd is None else (fd,))
    except BaseException:
        stack.close()
        raise
    return proc, stack


def _start(argv: list[str], stdin: str, box: Sandbox, *, uid: int, wall_s: float, cpu_s: int, memory_mb: int) -> ProcOutcome:
    t0 = time.perf_counter()
    with _seccomp_fd() as fd:
        cmd = bwrap_argv(argv, box, cpu_s=max(1, int(cpu_s)), memory_mb=memory_mb, uid=uid, seccomp_fd=fd)
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True, env=dict(SANDBOX_ENV), pass_fds=() if fd is None else (fd,))
    got = capture(proc, stdin, wall_s, box.max_output)
    code = proc.returncode
    if 128 < code < 128 + 65:  # bwrap reports a child killed by signal N as exit 128+N
        code = -(code - 128)
    return got.outcome(code, time.perf_counter() - t0)


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
