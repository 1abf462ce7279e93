#!/usr/bin/env python3
"""Where a running process's threads spend their time: running, waiting on a lock, on the disk.

Samples every thread's state in /proc every 20 ms until the process ends, then prints per
thread the share of samples it was running or runnable (R), sleeping (S) or in the disk (D),
and what the non-running samples waited in (the kernel's wchan). A thread that is R most of
the time while the others wait is the pipeline's critical path. Also from the kernel's
schedstat, per thread: seconds on a CPU and seconds runnable but waiting for one (a thread
that waits long for a CPU is slowed by the others' work, not its own).

    target/release/embudo import --workspace tienda FILE --format rees46 &
    python3 scripts/thread_states.py $!
"""

import collections
import os
import sys
import time


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    pid = int(sys.argv[1])
    states: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    waits: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    sched: dict[str, tuple[float, float]] = {}
    while os.path.exists(f"/proc/{pid}"):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except FileNotFoundError:
            break
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as stat:
                    text = stat.read()
                name = text[text.index("(") + 1 : text.rindex(")")]
                state = text[text.rindex(")") + 2]
                key = f"{tid} {name}"
                states[key][state] += 1
                with open(f"/proc/{pid}/task/{tid}/schedstat") as schedstat:
                    on_cpu, queued = schedstat.read().split()[:2]
                sched[key] = (int(on_cpu) / 1e9, int(queued) / 1e9)
                if state != "R":
                    with open(f"/proc/{pid}/task/{tid}/wchan") as wchan:
                        waits[key][wchan.read() or "-"] += 1
            except (FileNotFoundError, ProcessLookupError):
                pass
        time.sleep(0.02)
    for key, counts in sorted(states.items(), key=lambda item: -item[1]["R"]):
        total = sum(counts.values())
        if counts["R"] + counts["D"] < 20:
            continue
        shares = " ".join(f"{s} {100 * counts[s] / total:.0f}%" for s in "RSD")
        on_cpu, queued = sched.get(key, (0.0, 0.0))
        print(
            f"{key:28} {shares}  on CPU {on_cpu:.1f} s, waiting for a CPU {queued:.1f} s"
            f"  waits: {waits[key].most_common(3)}"
        )


if __name__ == "__main__":
    main()
