#!/usr/bin/env python3
"""How separable are the ESPectre captures, model aside? For each session (chip + capture date),
a plain motion statistic per window (64 frames, hop 16): the mean over the window of
1 - corr(amplitude profile at frame t, at frame t - 10). Prints, per session, the baseline
capture's range and the share of its movement capture's windows that fall at or below the
baseline's 95th percentile (movement a threshold on this statistic cannot tell from the quiet room).
Then, per capture, the frame-to-frame decorrelation 1 - corr(profile t, profile t - 1): its
median, 99th percentile, maximum and the share of frames above 0.2 (the glitch threshold of
feature set 3's decorrelation features, docs/features.md).
`--windows FILE` prints the statistic of every window of one capture instead.
Standard library only. Usage: scripts/espectre-motion-overlap.py [DATA_DIR | --windows FILE]"""
import ast
import math
import pathlib
import struct
import sys
import zipfile

LAG, WINDOW, HOP = 10, 64, 16


def frames(path):
    """csi_data as rows of int8 (an .npy array inside the .npz zip)."""
    raw = zipfile.ZipFile(path).read("csi_data.npy")
    header_len = struct.unpack("<H", raw[8:10])[0]
    header = ast.literal_eval(raw[10 : 10 + header_len].decode())
    rows, cols = header["shape"]
    values = struct.unpack(f"{rows * cols}b", raw[10 + header_len : 10 + header_len + rows * cols])
    return [values[r * cols : (r + 1) * cols] for r in range(rows)]


def amplitudes(row):
    # ESP-IDF pairs are [imag, real]; the magnitude does not care which is which.
    return [math.hypot(row[2 * k], row[2 * k + 1]) for k in range(len(row) // 2)]


def corr(x, y):
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sx = math.sqrt(sum((a - mx) ** 2 for a in x))
    sy = math.sqrt(sum((b - my) ** 2 for b in y))
    if sx == 0 or sy == 0:
        return 1.0
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / (sx * sy)


def statistic(path):
    amps = [amplitudes(r) for r in frames(path)]
    change = [1 - corr(amps[i], amps[i - LAG]) for i in range(LAG, len(amps))]
    return [
        sum(change[s : s + WINDOW]) / WINDOW for s in range(0, len(change) - WINDOW + 1, HOP)
    ]


def main():
    data = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/espectre")
    baselines = sorted((data / "baseline").glob("*.npz"))
    if not baselines:
        sys.exit(f"no baseline captures under {data}")
    print("session               baseline min-p95-max   movement median   movement <= baseline p95")
    for b in baselines:
        _, chip, _, date, time = b.stem.split("_")
        # The session's movement capture: the first one of that chip after the baseline.
        later = sorted(
            m
            for m in (data / "movement").glob(f"movement_{chip}_64sc_*.npz")
            if m.stem.split("_", 3)[3] > f"{date}_{time}"
        )
        if not later:
            continue
        sb, sm = statistic(b), sorted(statistic(later[0]))
        p95 = sorted(sb)[int(0.95 * (len(sb) - 1))]
        below = sum(1 for x in sm if x <= p95) / len(sm)
        print(
            f"{chip:6s} {date}_{time}   {min(sb):.3f}-{p95:.3f}-{max(sb):.3f}"
            f"        {sm[len(sm) // 2]:.3f}            {below:.0%}"
        )


def glitches(data):
    print()
    print("capture                                   lag-1 decorrelation: median    p99    max   > 0.2")
    for kind in ("baseline", "movement"):
        for path in sorted((data / kind).glob("*.npz")):
            amps = [amplitudes(r) for r in frames(path)]
            d = sorted(1 - corr(amps[i], amps[i - 1]) for i in range(1, len(amps)))
            q = lambda p: d[int(p * (len(d) - 1))]
            share = sum(1 for x in d if x > 0.2) / len(d)
            print(f"{path.stem:40s}  {q(0.5):20.4f} {q(0.99):6.3f} {d[-1]:6.3f} {share:7.2%}")


def windows(path):
    """The statistic of every window of one capture, in order (window k starts at frame 16k)."""
    for k, x in enumerate(statistic(pathlib.Path(path))):
        print(f"{k:3d} {x:.4f}")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--windows":
        windows(sys.argv[2])
    else:
        main()
        glitches(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/espectre"))
