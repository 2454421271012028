"""Generate a deterministic web-root-like tree: many small files (lognormal sizes) and a few large ones.

Usage: fim_tree.py ROOT FILES [SEED] [--small]   (20,000 files give about 850 MB; with --small, source-code
sized files only, about 5 KB each: a 100,000-file tree for memory measurements in about 500 MB)
"""

import os
import random
import sys

small = "--small" in sys.argv
argv = [a for a in sys.argv if a != "--small"]
root, count = argv[1], int(argv[2])
rng = random.Random(int(argv[3]) if len(argv) > 3 else 11)
exts = [".php", ".html", ".js", ".css", ".png", ".jpg", ".txt", ".json", ".svg", ".woff2"]
for i in range(count):
    folder = os.path.join(root, f"d{rng.randrange(40)}", f"s{rng.randrange(25)}")
    os.makedirs(folder, exist_ok=True)
    if small:
        size = int(min(rng.lognormvariate(8.0, 1.0), 65_536))
    else:
        size = int(min(rng.lognormvariate(9.0, 1.3), 4_000_000)) if i % 500 else rng.randrange(8_000_000, 16_000_000)
    with open(os.path.join(folder, f"f{i}{rng.choice(exts)}"), "wb") as handle:
        handle.write(rng.randbytes(size))
