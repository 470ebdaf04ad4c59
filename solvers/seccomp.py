"""The seccomp filter of the sandbox, as the classic BPF program bubblewrap loads (``--seccomp FD``).

Namespaces and sockets are the sandbox's walls; a program inside must not build new ones or reach
for kernel surfaces no Python, SymPy or Lean run needs. Inside the sandbox, then:

* ``unshare`` and ``setns`` fail (EPERM), ``clone`` with any namespace flag fails (EPERM), and
  ``clone3`` reports ENOSYS (its flags sit in memory a filter cannot read; libc falls back to
  ``clone``, which is checked);
* ``socket``/``socketpair`` for any family but ``AF_UNIX`` fail with EAFNOSUPPORT (no AF_INET,
  AF_NETLINK, AF_VSOCK, AF_PACKET…);
* mounting, module loading, kexec, keyrings, ``bpf``, ``perf_event_open``, ``userfaultfd``,
  ``io_uring``, ``ptrace`` and the like fail (EPERM, or ENOSYS where callers fall back);
* a system call of another ABI (i386 via ``int 0x80``, x32) kills the process: its numbers mean
  other calls, so the filter cannot judge them.

The program is built for the machine's own architecture (x86_64, aarch64); elsewhere
``filter_program`` returns None and the sandbox runs without a filter (its namespaces, and as a
non-root user bwrap's ``--disable-userns``, still apply).
"""

from __future__ import annotations

import errno
import platform
import struct

__all__ = ["filter_program", "ARCHES", "NAMESPACE_FLAGS"]

# BPF opcodes (linux/bpf_common.h) and seccomp return values (linux/seccomp.h)
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_KILL_PROCESS = 0x80000000
_ERRNO = 0x00050000

# offsets in struct seccomp_data {int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];}
_NR, _ARCH, _ARG0_LOW = 0, 4, 16  # args[0]'s low word on a little-endian machine

AF_UNIX = 1
NAMESPACE_FLAGS = 0x7E020000
"""CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET (CLONE_NEWTIME shares the
exit-signal byte in ``clone``'s flags; it is reachable only through ``unshare`` and ``clone3``)."""

_DENIED = ("unshare", "setns", "bpf", "userfaultfd", "perf_event_open", "keyctl", "add_key", "request_key", "mount",
           "umount2", "pivot_root", "chroot", "ptrace", "kexec_load", "kexec_file_load", "init_module", "finit_module",
           "delete_module", "syslog", "acct", "swapon", "swapoff", "reboot", "open_tree", "move_mount", "fsopen",
           "fsconfig", "fsmount", "fspick", "mount_setattr")
_ABSENT = ("clone3", "io_uring_setup", "io_uring_enter", "io_uring_register")
"""Refused with ENOSYS, the answer that makes libc and libuv fall back to an older call."""

ARCHES: dict[str, tuple[int, bool, dict[str, int]]] = {
    # machine: (AUDIT_ARCH_*, has the x32 ABI, syscall numbers)
    "x86_64": (0xC000003E, True, {
        "clone": 56, "socket": 41, "socketpair": 53, "unshare": 272, "setns": 308, "clone3": 435, "bpf": 321,
        "userfaultfd": 323, "perf_event_open": 298, "keyctl": 250, "add_key": 248, "request_key": 249,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "mount": 165, "umount2": 166,
        "pivot_root": 155, "chroot": 161, "ptrace": 101, "kexec_load": 246, "kexec_file_load": 320,
        "init_module": 175, "finit_module": 313, "delete_module": 176, "syslog": 103, "acct": 163, "swapon": 167,
        "swapoff": 168, "reboot": 169, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442}),
    "aarch64": (0xC00000B7, False, {
        "clone": 220, "socket": 198, "socketpair": 199, "unshare": 97, "setns": 268, "clone3": 435, "bpf": 280,
        "userfaultfd": 282, "perf_event_open": 241, "keyctl": 219, "add_key": 217, "request_key": 218,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "mount": 40, "umount2": 39,
        "pivot_root": 41, "chroot": 51, "ptrace": 117, "kexec_load": 104, "kexec_file_load": 294,
        "init_module": 105, "finit_module": 273, "delete_module": 106, "syslog": 116, "acct": 89, "swapon": 224,
        "swapoff": 225, "reboot": 142, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431,
        "fsmount": 432, "fspick": 433, "mount_setattr": 442}),
}
_X32_BIT = 0x40000000


def _op(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)  # struct sock_filter


def filter_program(machine: str | None = None) -> bytes | None:
    """The filter as bytes of ``struct sock_filter`` (what ``bwrap --seccomp`` reads), or None for an
    architecture without a table."""
    arch = ARCHES.get(machine or platform.machine())
    if arch is None:
        return None
    audit_arch, x32, nr = arch
    ops = [_op(_LD_W_ABS, _ARCH), _op(_JEQ_K, audit_arch, jt=1), _op(_RET_K, _KILL_PROCESS), _op(_LD_W_ABS, _NR)]
    if x32:
        ops += [_op(_JGE_K, _X32_BIT, jf=1), _op(_RET_K, _KILL_PROCESS)]
    for name in _DENIED:
        ops += [_op(_JEQ_K, nr[name], jf=1), _op(_RET_K, _ERRNO | errno.EPERM)]
    for name in _ABSENT:
        ops += [_op(_JEQ_K, nr[name], jf=1), _op(_RET_K, _ERRNO | errno.ENOSYS)]
    # clone: refused when a namespace flag is set, else allowed (no later rule concerns it)
    ops += [_op(_JEQ_K, nr["clone"], jf=4), _op(_LD_W_ABS, _ARG0_LOW), _op(_JSET_K, NAMESPACE_FLAGS, jf=1),
            _op(_RET_K, _ERRNO | errno.EPERM), _op(_RET_K, _ALLOW)]
    for name in ("socket", "socketpair"):  # the family is the first argument
        ops += [_op(_JEQ_K, nr[name], jf=4), _op(_LD_W_ABS, _ARG0_LOW), _op(_JEQ_K, AF_UNIX, jt=1),
                _op(_RET_K, _ERRNO | errno.EAFNOSUPPORT), _op(_RET_K, _ALLOW)]
    ops.append(_op(_RET_K, _ALLOW))
    return b"".join(ops)
