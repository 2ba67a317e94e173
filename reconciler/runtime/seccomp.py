"""A seccomp filter for agents: no new user namespaces. Pure: the BPF program as bytes.

Why: inside its sandbox an agent has no capability left, but Linux lets any
process create a user namespace and be "root" with every capability in it
(``unshare -Ur``). Those capabilities reach no host resource, yet they open
a large kernel surface (mounting filesystems, raw network, netfilter) to an
LLM with a shell, which the rest of the sandbox was built to close. So
``unshare`` and ``clone`` with ``CLONE_NEWUSER`` fail with EPERM, and
``clone3``, whose flags seccomp cannot read, fails with ENOSYS (libc then
falls back to ``clone``, as under Docker's default profile). Calls of
another ABI (i386's ``int 0x80``, x32's numbers) could bypass the numbers
below, so a process making them is killed, or refused for x32.

bubblewrap loads it (``--seccomp FD``) right before it runs ``setpriv``; it
holds for the agent and everything it starts. Only x86_64 and aarch64 have
a program here; elsewhere ``userns_filter`` returns None and the sandbox
runs without it (the runtime logs that once).
"""

from __future__ import annotations

import struct

_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K

_ALLOW = 0x7FFF0000
_ERRNO = 0x00050000
_KILL_PROCESS = 0x80000000
_EPERM, _ENOSYS = 1, 38
_X32_BIT = 0x40000000
CLONE_NEWUSER = 0x10000000

_OFFSET_NR, _OFFSET_ARCH, _OFFSET_ARG0 = 0, 4, 16  # struct seccomp_data (little-endian arg0, low half)

ARCHES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (0xC000003E, {"clone": 56, "unshare": 272, "clone3": 435}),
    "aarch64": (0xC00000B7, {"clone": 220, "unshare": 97, "clone3": 435}),
}
"""machine (``platform.machine()``) → its AUDIT_ARCH and the syscall numbers that matter here."""


def _insn(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("<HBBI", code, jt, jf, k)


def userns_filter(machine: str) -> bytes | None:
    """The program for ``machine``, or None where there is none."""
    if machine not in ARCHES:
        return None
    arch, nr = ARCHES[machine]
    return b"".join(
        [
            _insn(_LD_W_ABS, _OFFSET_ARCH),
            _insn(_JEQ, arch, jt=1),
            _insn(_RET, _KILL_PROCESS),  # another ABI: its numbers mean other calls
            _insn(_LD_W_ABS, _OFFSET_NR),
            _insn(_JGE, _X32_BIT, jf=1),
            _insn(_RET, _ERRNO | _ENOSYS),  # x32 numbers
            _insn(_JEQ, nr["clone3"], jf=1),
            _insn(_RET, _ERRNO | _ENOSYS),
            _insn(_JEQ, nr["unshare"], jt=1),
            _insn(_JEQ, nr["clone"], jf=3),
            _insn(_LD_W_ABS, _OFFSET_ARG0),
            _insn(_JSET, CLONE_NEWUSER, jf=1),
            _insn(_RET, _ERRNO | _EPERM),
            _insn(_RET, _ALLOW),
        ]
    )
