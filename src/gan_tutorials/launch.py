"""Beyond the tutorial: one run over several processes on this machine (JAX).

    python -m gan_tutorials.launch --processes 2 -- train --kind cgan --devices all ...

Starts N processes of `python -m gan_tutorials.train ARGS`, each with Keras's
three variables set (KERAS_DISTRIBUTION_JOB_ADDRESSES = 127.0.0.1 and a free
port, _NUM_PROCESSES, _PROCESS_ID) and KERAS_BACKEND=jax unless it is set, as
a cluster scheduler would start them on several hosts (docs/backends.md).
Each line a process prints comes out prefixed with its number. Ctrl-C (or
SIGTERM) is passed on to every process; when one fails, the others are
stopped and the launcher exits with the first failure's code.

An inherited XLA_FLAGS is dropped: its forced host device count would
multiply every process's devices (`--xla-flags` keeps it).
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from gan_tutorials.parallel import ENV

ACTIONS = ("train",)  # what runs over several processes (the others read a run folder)
GRACE = 10.0  # seconds the others get to stop after a failure, before they are killed


def free_port():
    """A TCP port nobody listens on now, for the coordinator."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env(index, count, address, keep_xla_flags=False, base=None):
    """The environment of process `index`: Keras's three variables, on JAX by default."""
    env = dict(os.environ if base is None else base)
    env.update(zip(ENV, (address, str(count), str(index))))
    env.setdefault("KERAS_BACKEND", "jax")
    if not keep_xla_flags:
        env.pop("XLA_FLAGS", None)
    return env


def relay(index, stream, out):
    """Copy a process's output line by line, each prefixed with its number."""
    for line in iter(stream.readline, ""):
        out.write(f"[{index}] {line}")
        out.flush()


def launch(count, command, keep_xla_flags=False, port=None):
    """Run `command` (an action and its arguments) in `count` processes; the exit code."""
    address = f"127.0.0.1:{port or free_port()}"
    children, relays = [], []
    for index in range(count):
        child = subprocess.Popen(
            [sys.executable, "-m", f"gan_tutorials.{command[0]}", *command[1:]],
            env=child_env(index, count, address, keep_xla_flags),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        children.append(child)
        relays.append(threading.Thread(target=relay, args=(index, child.stdout, sys.stdout),
                                       daemon=True))
        relays[-1].start()

    def forward(signum, frame):  # Ctrl-C reaches every process, as each one's own would
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)
    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        code = wait_all(children)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for thread in relays:
            thread.join(timeout=5)
    return code


def wait_all(children):
    """Wait for every process; at the first failure stop the rest. The first failure's code."""
    while True:
        codes = [child.poll() for child in children]
        failed = [(i, c) for i, c in enumerate(codes) if c not in (None, 0)]
        if failed:
            index, code = failed[0]
            print(f"launch: process {index} exited with code {code}; stopping the others",
                  file=sys.stderr, flush=True)
            stop(children)
            return code if code > 0 else 128 - code  # killed by signal N: 128 + N, as a shell
        if all(c == 0 for c in codes):
            return 0
        time.sleep(0.2)


def stop(children):
    """SIGTERM every process still running, SIGKILL what is left after GRACE seconds."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + GRACE
    for child in children:
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(argv=None):
    """CLI entry point."""
    parser = argparse.ArgumentParser(prog="python -m gan_tutorials.launch",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=2, help="how many (default 2)")
    parser.add_argument("--port", type=int, default=None,
                        help="the coordinator's port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--xla-flags", action="store_true",
                        help="keep an inherited XLA_FLAGS (dropped by default)")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="-- then an action of the package and its arguments: -- train ...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --, e.g. -- train --kind cgan --devices all")
    if command[0] not in ACTIONS:
        parser.error(f"{command[0]!r}: the action that runs over several processes is train; "
                     "the others read a finished run folder in one process")
    if args.processes < 1:
        parser.error(f"--processes {args.processes}: must be >= 1")
    sys.exit(launch(args.processes, command, args.xla_flags, args.port))


if __name__ == "__main__":
    main()
